"""Trees laid out like real copies (tests/realistic.py): every sheet row ends loaded,
cut-and-loaded, or dropped with a report row; bad roots and sheets get one clear line."""

import shutil

import numpy as np
import openpyxl
import pytest
import realistic

from mer_utils.datasets import DatasetError, load_casme2, load_samm
from mer_utils.frames import estimate_apex


@pytest.mark.parametrize("version", ["20190701", "20140508"])
def test_every_row_is_loaded_cut_or_dropped_with_a_report_row(tmp_path, version):
    ds = load_casme2(realistic.casme2_tree(tmp_path, version))
    rows = openpyxl.load_workbook(tmp_path / f"CASME2-coding-{version}.xlsx").active.max_row - 1
    loaded = {s.clip: s for s in ds.samples}
    rep = (
        (ds.report.problem + " -> " + ds.report.policy)
        .groupby(ds.report["clip"])
        .apply(lambda x: " | ".join(x))
    )
    dropped = {c for c, p in rep.items() if "dropped" in p or "excluded" in p}
    assert len(loaded) + len(dropped) == rows and not set(loaded) & dropped
    for clip, (_, _, _, _, expect) in realistic.MISMATCHES.items():
        assert expect in rep[clip], (clip, rep[clip])
        if expect.startswith("cut to"):
            lo, hi = map(int, expect.removeprefix("cut to [").rstrip("]").split(", "))
            s = loaded[clip]
            assert (s.onset, s.offset) == (lo, hi) and lo <= s.apex <= hi
            assert len(s.frames) == hi - lo + 1 and min(s.apex - lo, hi - s.apex) >= 1
    assert "reg_img25.jpg: truncated JPEG" in " ".join(ds.report.problem)
    assert len(loaded) == 20 + 4  # the clean clips and the four cut ones


def test_raise_reports_every_data_error_of_the_load_at_once(tmp_path):
    realistic.casme2_tree(tmp_path)
    with pytest.raises(DatasetError) as e:
        load_casme2(tmp_path, on_mismatch="raise")
    msg = str(e.value)
    assert msg.startswith("8 data error(s)")
    assert all(clip in msg for clip in realistic.MISMATCHES)


def test_drop_policy_drops_every_mismatch_and_keeps_the_rest(tmp_path):
    ds = load_casme2(realistic.casme2_tree(tmp_path), on_mismatch="drop")
    assert len(ds.samples) == 20 and not {s.clip for s in ds.samples} & set(realistic.MISMATCHES)


@pytest.mark.parametrize("preamble", [True, False])
def test_samm_sheet_with_or_without_preamble_under_any_name(tmp_path, preamble):
    root = realistic.samm_tree(tmp_path, preamble=preamble, name="my codes (copy).xlsx")
    ds = load_samm(root)
    assert ds.spreadsheet.name == "my codes (copy).xlsx" and len(ds.samples) == 12
    assert "cut to [1550, 1564]" in ds.report.set_index("clip").problem["009_1_11"]


def test_bad_roots_and_spreadsheets_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(DatasetError, match="data root does not exist; set DATA_ROOT"):
        load_casme2(tmp_path / "nope")
    realistic.casme2_tree(tmp_path)
    sheet = tmp_path / "CASME2-coding-20190701.xlsx"
    shutil.move(tmp_path / "Cropped", tmp_path / "frames")
    with pytest.raises(DatasetError, match=r"no Cropped/ folder \(found .*frames"):
        load_casme2(tmp_path)
    shutil.move(tmp_path / "frames", tmp_path / "Cropped")
    wb = openpyxl.load_workbook(sheet)
    wb.active.title = "coding"
    wb.create_sheet("notes")
    wb.save(sheet)
    with pytest.raises(
        DatasetError, match=r"no worksheet 'Sheet1' \(found \['coding', 'notes'\]\)"
    ):
        load_casme2(tmp_path)
    del wb["notes"]
    wb.save(sheet)
    assert len(load_casme2(tmp_path).samples) == 24  # the only sheet, renamed: read, logged
    sheet.write_bytes(b"Subject,Filename\n01,EP02_01f\n")
    with pytest.raises(DatasetError, match=r"CASME2-coding-20190701.xlsx: not an .xlsx workbook"):
        load_casme2(tmp_path)
    sheet.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    with pytest.raises(DatasetError, match="an old .xls workbook; open it and save it as .xlsx"):
        load_casme2(tmp_path)


def _clip(peak: int, t: int = 30) -> np.ndarray:
    """[T, 32, 32, 3]: a bright square whose intensity peaks at frame ``peak`` (neutral at the
    onset frame), sensor noise, and an illumination gain drifting by 10 % over the clip."""
    rng = np.random.default_rng(peak)
    frames = np.full((t, 32, 32, 3), 100.0) + rng.normal(0, 2, (t, 32, 32, 3))
    for i in range(1, t):
        frames[i, 8:24, 8:24] += 60 * np.exp(-(((i - peak) / 4) ** 2))
    frames *= np.linspace(1.0, 1.1, t)[:, None, None, None]
    return np.clip(frames, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("peak", [3, 11, 17, 29])
def test_apex_estimate_finds_a_planted_peak_end_frames_included(peak):
    assert abs(estimate_apex(_clip(peak)) - peak) <= 1


def test_readme_real_data_command_runs_to_the_end_on_a_real_layout(tmp_path):
    """make reproduce DATASET=casme2 DATA_ROOT=... (here its python -m form) with a small grid
    runs notebooks 01-04 and the leak-free companion on a tree with every mismatch kind."""
    import json
    import os
    import subprocess
    import sys

    import pandas as pd

    data = realistic.casme2_tree(tmp_path / "CASME2", bad_frames=True)
    env = {**os.environ, "MER_ROOT": str(tmp_path / "out"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "mer_utils.reproduce", "--dataset", "casme2", "--data-root",
           str(data), "--smoke", "--set", "models=[learnet]", "--set", "pretrained=false"]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    res = tmp_path / "out" / "results" / "casme2-smoke"
    runs = {p.parent: json.loads(p.read_text()) for p in res.glob("*/run.json")}
    assert len(runs) == 2 and all((f / "table1.md").is_file() for f in runs)  # paper, leak-free
    (fp,) = {info["identity"]["dataset_fingerprint"] for info in runs.values()}
    report = pd.read_csv(res / f"data-{fp[:8]}" / "validation_report.csv")  # named by the data
    planted = {**realistic.MISMATCHES, **realistic.BAD_FRAMES}  # frozen, resized, garbage too
    for clip, (*_, expect) in planted.items():
        row = report[report["clip"] == clip]
        assert len(row) and expect in " ".join(row.problem + row.policy), clip
    for folder, info in runs.items():  # each run keeps its executed notebooks
        nbs = {p.name.split("-", 1)[1] for p in (folder / "executed").glob("*.ipynb")}
        first = "01_data_exploration.ipynb" if info["identity"]["validation"] == "paper" else ""
        assert {"03_training_sweep.ipynb", "04_results_tables.ipynb"} <= nbs and (
            not first or first in nbs
        ), (folder.name, nbs)
    (later,) = [f for f, i in runs.items() if i["identity"]["validation"] == "inner"]
    compared = pd.read_csv(later / "protocol_comparison.csv")  # under the run that made it
    assert set(compared.run) == {f.name for f in runs}
    assert "4 clip(s) cut and 3 dropped" in out.stdout + out.stderr
    assert "5 dropped for a bad frame" in out.stdout + out.stderr


def test_missing_weights_stop_the_run_before_any_data_work_listing_each(tmp_path):
    import os
    import subprocess
    import sys

    data = realistic.casme2_tree(tmp_path / "CASME2")
    out_root = tmp_path / "out"
    env = {
        **os.environ,
        "MER_ROOT": str(out_root),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
    }
    cmd = [sys.executable, "-m", "mer_utils.reproduce", "--dataset", "casme2", "--data-root",
           str(data), "--set", "cpu_grid={}", "--set", "weights={resnet34: /nowhere/r.pth}"]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    err = out.stderr
    # 5 weights + the hint of the paper config + the flow companion's (its own models)
    assert "7 problem(s) found before any work" in err and "vgg_face_dag.pth" in err
    assert "--set models=[learnet,ststnet,offapexnet]" in err
    assert "resnet34: weights file /nowhere/r.pth not found" in err
    for hub in ("vgg19.tv_in1k", "efficientnet_b0.ra_in1k", "vit_base_patch16_224"):
        assert hub in err
    assert "--set models=[learnet]" in err and "--set models=[learnet,ststnet,offapexnet]" in err
    assert not out_root.exists()  # no data work, no store, no results


def test_bad_frames_drop_their_clip_with_a_row_naming_file_and_sheet_row(tmp_path, caplog):
    """A frozen clip or phase, a resized frame and an undecodable one each drop their clip at
    load (a report row naming the file and the sheet row, one warning counting them), before
    the DI store could stop a sweep; a PNG named .jpg is read as OpenCV reads it."""
    import logging

    from mer_utils.store import build_store

    root = realistic.casme2_tree(tmp_path / "CASME2", bad_frames=True)
    cache = tmp_path / "checks.json"
    with caplog.at_level(logging.WARNING):
        ds = load_casme2(root, check_cache=cache)
    rep = ds.report.set_index("clip")
    sheet = openpyxl.load_workbook(root / "CASME2-coding-20190701.xlsx").active
    sheet_row = {sheet.cell(r, 2).value: r for r in range(2, sheet.max_row + 1)}
    for clip, (*_, expect) in realistic.BAD_FRAMES.items():
        assert expect in rep.problem[clip] and rep.policy[clip] == "dropped (bad frame)", clip
        assert rep.row[clip] == sheet_row[clip]
    assert realistic.PNG_AS_JPG in {s.clip for s in ds.samples}
    assert "truncated" not in " ".join(rep.problem.get(realistic.PNG_AS_JPG, []))
    warning = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "5 dropped for a bad frame" in warning[0]  # 4 + truncated
    assert all(s.row == sheet_row[s.clip] for s in ds.samples)
    assert len(build_store(ds, 16, cache=False, workers=1)) == len(ds.samples) == 25
    again = load_casme2(root, check_cache=cache)  # the cache holds every clip's check
    assert again.report.equals(ds.report) and [s.key for s in again.samples] == [
        s.key for s in ds.samples
    ]


def _edit_sheet(root, edit):
    path = root / "CASME2-coding-20190701.xlsx"
    wb = openpyxl.load_workbook(path)
    edit(wb.active)
    wb.save(path)


def test_preflight_lists_every_sheet_problem_in_one_line_each_before_any_work(tmp_path):
    """A text subject, an unknown emotion spelling and a duplicate row, with on_mismatch=raise:
    make reproduce's and the sweep's preflight name each (file, row, fix) at once and stop
    with no traceback and no data work; the cut/drop hint comes only where it applies."""
    import os
    import subprocess
    import sys

    root = realistic.casme2_tree(tmp_path / "CASME2")

    def spoil(ws):
        ws["A2"], ws["I3"] = "sub one", "Happyness"  # prefixed ids ('sub01', 'spNO.1') are read
        ws.append([c.value for c in ws[4]])  # row 4 listed again as the last row

    _edit_sheet(root, spoil)
    last = openpyxl.load_workbook(root / "CASME2-coding-20190701.xlsx").active.max_row
    env = {**os.environ, "MER_ROOT": str(tmp_path / "out"), "HF_HUB_OFFLINE": "1"}
    args = ["--set", "on_mismatch=raise", "--set", "models=[learnet]"]
    reproduce = ["-m", "mer_utils.reproduce", "--dataset", "casme2", "--data-root", str(root)]
    sweep = ["-m", "mer_utils.sweep", "--config", "casme2", "--set", f"data_root={root}"]
    for cmd in (reproduce, sweep):
        out = subprocess.run([sys.executable, *cmd, *args], env=env, capture_output=True,
                             text=True, timeout=300)  # fmt: skip
        err = out.stderr
        assert out.returncode == 2 and "Traceback" not in err, err[-3000:]
        assert "row 2: Subject 'sub one' is not a number" in err
        assert "row 3: unknown emotion 'Happyness'" in err
        assert f"row {last}: sub03/EP02_02f is listed again (first in row 4)" in err
        for clip in set(realistic.MISMATCHES) - {"EP96_truncated"}:  # frames are not read
            assert any(clip in line and "on_mismatch=cut" in line for line in err.splitlines())
        assert "loads the rest" not in err
        assert not (tmp_path / "out" / "results").exists()


def test_load_hint_names_cut_or_drop_only_for_folder_errors(tmp_path):
    root = realistic.casme2_tree(tmp_path)
    _edit_sheet(root, lambda ws: ws.__setitem__("I3", "Happyness"))
    with pytest.raises(DatasetError) as e:
        load_casme2(root, on_mismatch="raise")
    assert (
        "each of the 8 clip(s) whose folder or frames disagree; the other 1 need the sheet"
        in str(e.value)
    )
    with pytest.raises(DatasetError) as e:
        load_casme2(root)  # only the emotion: cut or drop would not help
    assert "unknown emotion 'Happyness'" in str(e.value) and "on_mismatch" not in str(e.value)


def test_renamed_column_is_named_with_its_fix_and_blank_cells_are_not_nan(tmp_path):
    root = realistic.casme2_tree(tmp_path)
    _edit_sheet(root, lambda ws: ws.__setitem__("D1", "Onset Frame"))
    with pytest.raises(DatasetError) as e:
        load_casme2(root)
    msg = str(e.value)
    assert "row 1: column(s) 'OnsetFrame' (rename 'Onset Frame' to it) missing" in msg
    assert "(blank)" in msg and "nan" not in msg


def test_frame_names_other_than_the_layout_say_the_expected_pattern(tmp_path):
    root = realistic.casme2_tree(tmp_path)
    clip = root / "Cropped" / "sub01" / "EP00_00f"
    for f in clip.iterdir():
        f.rename(f.with_suffix(".JPG"))
    ds = load_casme2(root)
    problem = ds.report.set_index("clip").problem["EP00_00f"]
    assert "no frame named like reg_img<N>.jpg (it holds 25 file(s): reg_img40.JPG" in problem


def test_xls_sheet_two_sheet_versions_and_folders_without_a_row(tmp_path, caplog):
    import logging

    root = realistic.casme2_tree(tmp_path)
    (root / "Cropped" / "sub09" / "EP50_01").mkdir(parents=True)  # named by no sheet row
    shutil.copy(root / "CASME2-coding-20190701.xlsx", root / "CASME2-coding-20140508.xlsx")
    with caplog.at_level(logging.WARNING):
        ds = load_casme2(root)
    assert any(
        "read CASME2-coding-20190701.xlsx; CASME2-coding-20140508.xlsx also here, not read"
        in r.message
        for r in caplog.records
    )
    row = ds.report[ds.report["clip"] == "EP50_01"]
    assert list(row.row) == ["no sheet row"] and "named by no row" in row.problem.iloc[0]
    for f in root.glob("*.xlsx"):
        f.rename(f.with_suffix(".xls"))
    with pytest.raises(DatasetError, match=r"CASME2-coding-20140508.xls: an old .xls workbook"):
        load_casme2(root)


def test_face_rows_carry_their_sheet_row(tmp_path, monkeypatch):
    from mer_utils.faces import FaceParams
    from mer_utils.store import alignment_report, face_alignments

    monkeypatch.setenv("MER_ROOT", str(tmp_path / "out"))
    ds = load_casme2(realistic.casme2_tree(tmp_path))  # noise frames: no face anywhere
    rows = alignment_report(ds, face_alignments(ds, FaceParams(method="haar"), workers=1))
    missed = rows.drop_duplicates(["subject", "clip"])
    assert len(missed) == len(ds.samples) and -1 not in set(rows.row)
    assert list(missed.row) == [s.row for s in ds.samples] and min(missed.row) >= 2


def test_unwritable_outputs_and_repeated_seeds_are_one_line_each(tmp_path, monkeypatch):
    from mer_utils.config import ConfigError, load_config
    from mer_utils.preflight import check_output

    (tmp_path / "file").write_text("")
    monkeypatch.setenv("MER_ROOT", str(tmp_path / "file" / "out"))  # under a file: unwritable
    (problem,) = check_output()
    assert "outputs cannot be written here" in problem and "set MER_ROOT=" in problem
    with pytest.raises(ConfigError, match=r"seeds=\(0, 0\): must be at least one seed, none"):
        load_config("synthetic_casme2", seeds=[0, 0])
