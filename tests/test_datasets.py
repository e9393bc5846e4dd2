"""Loaders on hand-made fixtures for every quirk of shared/datasets.md, and on synthetic trees."""

import shutil
import zlib
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest

from mer_utils.dataset_specs import CASME2, SAMM
from mer_utils.datasets import DatasetError, load_casme2, load_dataset, load_samm


def _frame(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(zlib.crc32(f"{path.parent.name}/{path.name}".encode()))
    cv2.imwrite(str(path), rng.integers(0, 255, (12, 10, 3), dtype=np.uint8))


def _casme(root: Path, rows, subject_as_text=True, frames=True):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = CASME2.sheet.worksheet
    ws.append(list(CASME2.sheet.header))
    for sub, clip, on, ap, off, emo in rows:
        ws.append(
            [f"{sub:02d}" if subject_as_text else sub, clip, None, on, ap, off, None, "4+9", emo, 1]
        )
        if frames:
            cropped = CASME2.frame_layout("cropped")
            for n in range(on, off + 1):
                _frame(cropped.frame_path(root, f"sub{sub:02d}", clip, n))
    wb.save(root / CASME2.sheet.files[0])
    return root


ROWS = [
    (1, "EP02_01f", 46, 59, 101, "happiness"),
    (2, "EP03_02", 10, "/", 30, "disgust"),
    (2, "EP04_01", 5, 5, 20, "Surprise "),
    (3, "EP01_01", 1, 9, 20, "sadness"),
]


@pytest.mark.parametrize("as_text", [True, False])
def test_casme2_text_or_numeric_subject_and_numeric_frame_order(tmp_path, as_text):
    ds = load_casme2(_casme(tmp_path, ROWS, subject_as_text=as_text))
    s = next(s for s in ds.samples if s.clip == "EP02_01f")
    assert s.subject == "sub01" and (s.onset, s.apex, s.offset) == (46, 59, 101)
    names = [p.name for p in s.frames]
    assert names[0] == "reg_img46.jpg" and names[-1] == "reg_img101.jpg" and len(names) == 56
    assert names.index("reg_img100.jpg") == names.index("reg_img99.jpg") + 1  # numeric, not string
    assert ds.counts().to_dict() == dict(happiness=1, disgust=1, surprise=1, repression=0, others=0)


def test_casme2_quirks_are_reported_with_policy(tmp_path):
    ds = load_casme2(_casme(tmp_path, ROWS))
    rep = ds.report.groupby("clip")[["problem", "policy"]].agg(" | ".join)
    assert "re-estimated" in rep.loc["EP03_02", "policy"]
    assert next(s for s in ds.samples if s.clip == "EP03_02").apex_source == "estimated"
    assert "apex == onset" in rep.loc["EP04_01", "problem"]
    assert rep.loc["EP01_01", "policy"] == "excluded (counted)"  # sadness: outside the 5 classes
    dropped = load_casme2(tmp_path, apex_policy="drop")
    assert "EP03_02" not in {s.clip for s in dropped.samples}
    assert "dropped" in dropped.report.set_index("clip").loc["EP03_02", "policy"]


def test_casme2_out_of_range_and_negative_apex(tmp_path):
    ds = load_casme2(
        _casme(tmp_path, [(1, "A", 10, -1, 30, "others"), (1, "B", 10, 31, 30, "others")])
    )
    assert all(s.apex_source == "estimated" and 10 <= s.apex <= 30 for s in ds.samples)
    assert ds.report["problem"].str.contains("outside").sum() == 1


def test_missing_spreadsheet_names_the_folder(tmp_path):
    (tmp_path / "Cropped").mkdir()
    (tmp_path / "SAMM").mkdir()
    with pytest.raises(DatasetError, match="no CASME-II annotation workbook"):
        load_casme2(tmp_path)
    with pytest.raises(DatasetError, match="no SAMM annotation workbook"):
        load_samm(tmp_path)


def test_unknown_label_names_the_row(tmp_path):
    with pytest.raises(DatasetError, match=r"row 2: unknown emotion 'hapiness'"):
        load_casme2(_casme(tmp_path, [(1, "A", 10, 12, 30, "hapiness")]))


def test_missing_clip_folder_is_dropped_with_a_row_or_raises(tmp_path):
    _casme(tmp_path, [(1, "A", 10, 12, 30, "others"), (1, "B", 10, 12, 30, "others")])
    shutil.rmtree(tmp_path / "Cropped/sub01/A")
    with pytest.raises(DatasetError, match=r"Cropped/sub01/A: clip folder not found.*row 2"):
        load_casme2(tmp_path, on_mismatch="raise")
    ds = load_casme2(tmp_path)
    assert [s.clip for s in ds.samples] == ["B"] and "dropped" in ds.report["policy"].iloc[0]


def test_frame_gap_is_cut_to_the_run_holding_the_apex(tmp_path):
    _casme(tmp_path, [(1, "A", 10, 20, 30, "others")])
    (tmp_path / "Cropped/sub01/A/reg_img15.jpg").unlink()
    with pytest.raises(DatasetError, match=r"1 of 21 frames of \[10, 30\] missing \(15\)"):
        load_casme2(tmp_path, on_mismatch="raise")
    (s,) = load_casme2(tmp_path).samples
    assert (s.onset, s.apex, s.offset) == (16, 20, 30) and len(s.frames) == 15
    with pytest.raises(DatasetError, match="no clip loaded"):  # drop: the only clip goes
        load_casme2(tmp_path, on_mismatch="drop")


def test_unreadable_image_is_named(tmp_path):
    from mer_utils.frames import FrameError, read_frame

    bad = tmp_path / "reg_img1.jpg"
    bad.write_bytes(b"not a jpeg\xff\xd9")
    with pytest.raises(FrameError, match="reg_img1.jpg: unreadable"):
        read_frame(bad)
    bad.write_bytes(b"")
    with pytest.raises(FrameError, match=r"reg_img1.jpg: empty file \(0 bytes\)"):
        read_frame(bad)


def test_truncated_jpeg_is_a_frame_error_not_a_grey_frame(tmp_path):
    from mer_utils.frames import FrameError, read_frame

    good = tmp_path / "reg_img1.jpg"
    cv2.imwrite(str(good), np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    assert read_frame(good).shape == (64, 64, 3)
    cut = tmp_path / "reg_img2.jpg"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FrameError, match="reg_img2.jpg: truncated JPEG.*re-copy"):
        read_frame(cut)


def _samm(root: Path, rows, other="Other"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = SAMM.sheet.worksheet
    for i in range(SAMM.sheet.header_row - 1):
        ws.append([f"preamble line {i}" if i % 3 else None])
    ws.append(list(SAMM.sheet.header))
    for sub, clip, on, ap, off, emo, pad in rows:
        ws.append(
            [sub, clip, 1, on, ap, off, off - on + 1, "Micro", "(R6 or R12)+R15", emo, 1, None]
        )
        for n in range(on - 2, off + 3):
            _frame(SAMM.frame_layout().frame_path(root, sub, clip, n, pad))
    wb.save(root / SAMM.sheet.files[0])
    return root


def test_samm_preamble_padding_other_and_apex_quirks(tmp_path):
    rows = [
        ("006", "006_1_2", 95, 99, 105, "Other", 4),
        ("006", "006_1_3", 9990, 9995, 10010, "Anger", 5),
        ("028", "028_4_1", 1100, 1143, 1134, "Happiness", 4),
        ("032", "032_3_2", 50, 51, 80, "Fear", 5),
    ]
    ds = load_samm(_samm(tmp_path, rows))
    by = {s.clip: s for s in ds.samples}
    assert by["006_1_2"].label == "others" and by["006_1_2"].subject == "006"
    assert [p.name for p in by["006_1_2"].frames][:2] == ["006_0095.jpg", "006_0096.jpg"]
    f = [p.name for p in by["006_1_3"].frames]
    assert f[0] == "006_09990.jpg" and f[10] == "006_10000.jpg" and len(f) == 21
    assert by["028_4_1"].apex_source == "estimated"  # apex 1143 > offset 1134
    assert "032_3_2" not in by  # fear: excluded, counted
    assert set(ds.report["clip"]) == {"028_4_1", "032_3_2"}


def test_synthetic_casme2_tree_reads_back(tiny_casme2):
    ds = load_dataset("synthetic_casme2", tiny_casme2)
    assert ds.name == "synthetic_casme2" and len(ds.samples) > 0
    problems = " ".join(ds.report["problem"])
    for planted in ("'/'", "-1", "apex == onset", "apex == offset", "not in the 5-class task"):
        assert planted in problems, planted


def test_synthetic_samm_tree_reads_back(tiny_samm):
    ds = load_dataset("synthetic_samm", tiny_samm)
    problems = " ".join(ds.report["problem"])
    assert problems.count("outside") == 2 and "onset phase has 2 frames" in problems
    assert {s.label for s in ds.samples} == {"anger", "contempt", "happiness", "surprise", "others"}


def test_readme_add_a_dataset_example_works_as_written(tmp_path, registries):
    """The README's worked example, run verbatim: the spec registers, a synthetic copy is
    written in its layout, the one loader reads it back, and Config accepts its names."""
    import re

    from mer_utils import dataset_specs
    from mer_utils.config import Config
    from mer_utils.synthetic import make_synthetic

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("**A dataset**") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    exec(code, {})
    assert "mydata" in dataset_specs.SPECS and "synthetic_mydata" in dataset_specs.dataset_names()
    assert Config(dataset="synthetic_mydata").layout == "mydata"
    root = make_synthetic(tmp_path / "mydata", "mydata", seed=0, scale=0.5, workers=1)
    assert (root / "mydata_codes.xlsx").is_file() and (root / "Frames" / "s01").is_dir()
    ds = load_dataset("synthetic_mydata", root)
    assert ds.classes == ("negative", "positive", "surprise", "others")
    assert ds.counts().to_dict() == {"negative": 10, "positive": 8, "surprise": 6, "others": 5}
    assert (
        ds.samples[0].frames[0].name.startswith("img_") and len(ds.samples[0].frames[0].stem) == 9
    )
    problems = " ".join(ds.report.problem)
    assert "'/'" in problems and "not in the 4-class task" in problems  # the quirk, the fear clip
