"""Run identity: runs with different parameters never share records, a rerun resumes in place,
Table I reads exactly one run, and records that cannot be trusted are never reused."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from mer_utils import comparison, table1
from mer_utils.config import load_config
from mer_utils.datasets import load_dataset
from mer_utils.records import RECORD_SCHEMA, FoldRecord, RecordError, UnreadableRecord
from mer_utils.run_handle import open_run
from mer_utils.run_records import load_records
from mer_utils.runs import read_record, read_run_json
from mer_utils.sweep import run_sweep


def _sweep(**overrides):
    cfg = load_config("smoke", **{"models": ["learnet"], "epochs": 1, **overrides})
    return cfg, run_sweep(cfg, progress=False)


def _table(folder):
    """Table I of a run from its folder alone (run.json says which cells were asked)."""
    return open_run(folder).table1()


def _bytes(folder):
    return {p.relative_to(folder): p.read_bytes() for p in (folder / "runs").rglob("*.json")}


def test_two_runs_with_different_parameters_keep_their_own_records(isolated_root):
    _, two = _sweep(configurations=["baseline", "dual_di"], epochs=2)
    _, one = _sweep(configurations=["baseline"])
    assert one.run.folder != two.run.folder
    for res, epochs in ((one, 1), (two, 2)):
        recs = load_records(res.run.folder)
        assert set(recs.run_id) == {res.run.run_id}
        assert all(len(h) <= epochs for h in recs.history)
        t = _table(res.run.folder).set_index(["key_model", "key_configuration"])
        assert t.status["learnet", "baseline"] == "measured"
    t1 = _table(one.run.folder).set_index(["key_model", "key_configuration"])
    assert t1.loc[("learnet", "dual_di"), "status"] == "not requested"  # not the 2-epoch run's
    listed = comparison.list_runs("synthetic_casme2-smoke")
    assert set(listed.run) == {one.run.folder_name, two.run.folder_name}
    assert (listed.folds_done == listed.folds_expected).all()


def test_leak_free_run_sits_beside_the_paper_run(isolated_root):
    _, paper = _sweep(configurations=["baseline"])
    before = _bytes(paper.run.folder)
    _, inner = _sweep(configurations=["baseline"], validation="inner", protocol="subject_kfold")
    assert inner.run.folder != paper.run.folder and _bytes(paper.run.folder) == before
    assert {r.params["validation"] for r in inner.records} == {"inner"}
    _, other = _sweep(configurations=["baseline"], lr=3e-4)  # later, same protocol, other lr
    like = read_run_json(paper.run.folder)
    compared = comparison.comparison_runs("synthetic_casme2-smoke", like=like)
    assert set(compared) == {paper.run.folder, inner.run.folder}
    assert other.run.folder in comparison.comparison_runs("synthetic_casme2-smoke")  # latest wins
    long = comparison.protocol_comparison(compared, 5)
    assert set(zip(long.protocol, long.validation, strict=True)) == {
        ("kfold", "paper"),
        ("subject_kfold", "inner"),
    }


def test_rerun_redoes_exactly_the_missing_changed_or_broken_folds(isolated_root):
    _, first = _sweep(configurations=["baseline"])
    folder = first.run.folder
    before = _bytes(folder)
    _, second = _sweep(configurations=["baseline", "dual_di"])
    assert second.run.folder == folder  # a new configuration extends the run in place
    after = _bytes(folder)
    assert {k: after[k] for k in before} == before and len(after) == 2 * len(before)
    broken, old = sorted((folder / "runs" / "learnet" / "dual_di").glob("*.json"))
    broken.write_text(broken.read_text()[:100])  # truncated by a full disk, say
    rec = json.loads(old.read_text())
    old.write_text(json.dumps({**rec, "schema": 1}))
    _sweep(configurations=["baseline", "dual_di"])
    final = _bytes(folder)
    changed = {k for k in final if final[k] != after.get(k)}
    assert changed == {broken.relative_to(folder), old.relative_to(folder)}
    assert len(list(broken.parent.glob("*.invalid-*"))) == 1  # moved aside, named


def test_table_files_name_their_run_and_one_fold_cells_have_no_std(isolated_root):
    _, res = _sweep(configurations=["baseline"], max_folds=1)
    paths = open_run(res.run.run_id).write_tables()  # an id is enough to find the run
    md = paths["table1.md"].read_text()
    assert md.startswith(f"Run {res.run.folder_name}") and "± 0.00" not in md
    assert paths["table1.tex"].read_text().startswith(f"% Run {res.run.folder_name}")
    csv = pd.read_csv(paths["table1.csv"])
    assert set(csv.run_id) == {res.run.run_id} and set(csv.lead) == {"mean"}
    cells = csv.set_index(["key_model", "key_configuration"]).status
    assert cells["learnet", "baseline"] == "measured"  # max_folds=1: 1 of 1 requested
    assert cells["resnet34", "baseline"] == "not requested"
    for name in ("table1_vs_paper.csv", "claims.csv"):
        assert set(pd.read_csv(paths[name]).run) == {res.run.folder_name}, name
    assert "run" in pd.read_csv(paths["paired_tests.csv"])  # no pair to test: no rows, same columns


def test_identical_regeneration_keeps_the_dataset_fingerprint(tmp_path):
    from mer_utils.synthetic import make_synthetic

    a, b = (make_synthetic(tmp_path / n, "samm", seed=0, scale=0.05, size=(40, 60)) for n in "ab")
    assert (a / "SAMM_Micro_FACS_Codes_v2.xlsx").read_bytes() != b"" and a != b
    fa, fb = (load_dataset("samm", r).fingerprint() for r in (a, b))
    assert fa == fb
    next(iter((b / "SAMM").rglob("*.jpg"))).write_bytes(b"\xff\xd8" * 10)  # a frame changed
    assert load_dataset("samm", b).fingerprint() != fa


def test_results_list_cli_names_each_run(isolated_root):
    _, one = _sweep(configurations=["baseline"])
    _sweep(configurations=["baseline"], lr=1e-3)
    out = subprocess.run(
        [sys.executable, "-m", "mer_utils.results", "--list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.count("kfold-paper-") == 2 and "lr 0.001" in out and "lr 0.0001" in out
    info = read_run_json(one.run.folder)  # the sheet read, its clip count, when it was made
    header, *rows = [line.split() for line in out.splitlines()[1:4]]
    assert {"sheet", "clips", "created"} <= set(header)
    sheet = info.dataset.spreadsheet.rsplit("/", 1)[-1]
    assert all(sheet in r and str(info.dataset.clips) in r for r in rows)
    assert info.created[:10] in out


def test_incomplete_and_device_cells_are_marked_never_filled(isolated_root):
    _, res = _sweep(
        models=["learnet", "resnet34"],
        configurations=["baseline", "dual_di"],
        cpu_grid={"models": ["learnet"]},
    )
    next((res.run.folder / "runs" / "learnet" / "dual_di").glob("*.json")).unlink()
    t = _table(res.run.folder).set_index(["key_model", "key_configuration"])
    assert t.status["learnet", "dual_di"] == "incomplete (1 of 2 folds)"
    assert t.status["resnet34", "baseline"] == "not run on this device"  # from run.json alone
    assert t.status["vgg19", "baseline"] == "not requested"
    assert pd.isna(t.accuracy_mean["resnet34", "baseline"])


@pytest.mark.parametrize("protocol", ["loso"])
def test_loso_leads_with_pooled_metrics(protocol):
    t = pd.DataFrame([dict(status="measured", folds_missing_a_class=0)])
    assert table1.lead_metric(t, protocol)[0] == "pooled"
    t = pd.DataFrame([dict(status="measured", folds_missing_a_class=2)])
    lead, why = table1.lead_metric(t, "kfold")
    assert lead == "pooled" and "2 test folds lack a class" in why
    assert table1.lead_metric(t.assign(folds_missing_a_class=0), "kfold")[0] == "mean"


def test_a_changed_parameter_redoes_exactly_the_folds_it_affects(isolated_root):
    _, base = _sweep(configurations=["baseline"], max_folds=1)
    _, more = _sweep(configurations=["baseline"])  # one more fold requested: only it is trained
    assert more.run.folder == base.run.folder
    assert dict(more.counts) == {"reused": 1, "trained": 1}
    _, lr = _sweep(configurations=["baseline"], lr=3e-4)  # a run parameter: a new run, all folds
    assert lr.run.folder != base.run.folder and dict(lr.counts) == {"trained": 2}
    _, again = _sweep(configurations=["baseline"])  # the first run is intact
    assert again.run.folder == base.run.folder and dict(again.counts) == {"reused": 2}


def test_fold_record_round_trips_and_refuses_other_layouts(isolated_root):
    _, res = _sweep(configurations=["baseline"], max_folds=1)
    (rec,) = res.records
    path = res.run.record_path(rec.model, rec.configuration, rec.seed, rec.fold)
    assert FoldRecord.from_json(path.read_text()) == rec == FoldRecord.from_json(rec.to_json())
    obj = json.loads(rec.to_json())
    for bad, why in (
        ({**obj, "schema": RECORD_SCHEMA - 1}, "schema"),
        ({k: v for k, v in obj.items() if k != "y_pred"}, r"fields \['y_pred'\] missing"),
        ({**obj, "y_prob": []}, r"unknown fields \['y_prob'\]"),
    ):
        with pytest.raises(RecordError, match=why):
            FoldRecord.from_json(json.dumps(bad))
    with pytest.raises(UnreadableRecord):
        FoldRecord.from_json(rec.to_json()[:50])
    path.write_text(json.dumps({**obj, "y_pred": obj["y_pred"][:-1]}))  # a fold cut short
    assert read_record(path) is None
