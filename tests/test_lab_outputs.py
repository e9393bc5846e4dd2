"""What a reader of notebook 04 meets (issue 24, items 9-10): Table I leads with what was
measured, the CSVs carry rounded numbers, the paired tests say which way the difference is taken
and whether it survives Holm, run names say how the models really start, and every figure
names configurations and runs as Table I does."""

import json
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest
from test_run_handle import _record

from mer_utils.config import load_config
from mer_utils.run_handle import open_run
from mer_utils.runs import make_run

matplotlib.use("Agg")
CLASSES = ["disgust", "happiness", "others", "repression", "surprise"]
CONFS = ("baseline", "flip_rotate", "dual_di", "dual_di_flip_rotate")


def _run(root, run_id="4567cdef", folds=4, confs=CONFS, protocol="kfold", validation="paper"):
    """A run folder written by hand: learnet x ``confs`` x ``folds`` folds of 10 clips."""
    folder = root / "results" / "synthetic_casme2" / f"{protocol}-{validation}-{run_id}"
    identity = dict(dataset="synthetic_casme2", protocol=protocol, validation=validation,
                    folds=folds, epochs=1, lr=0.0001, patience=2, batch_size=25, variant="paper",
                    pretrained=False, smoke=True, device_type="cpu", classes=CLASSES,
                    dataset_fingerprint="f" * 20)  # fmt: skip
    request = dict(models=["learnet"], configurations=list(confs), seeds=[0], folds_run=folds,
                   n_splits=folds, asked=list(confs))  # fmt: skip
    dataset = dict(name="synthetic_casme2", root="/gone", spreadsheet="/gone/sheet.xlsx",
                   clips=40, classes=CLASSES, counts={c: 8 for c in CLASSES},
                   fingerprint="f" * 20)  # fmt: skip
    info = dict(run_id=run_id, name="kfold · paper validation", folder=folder.name,
                identity=identity, created=f"2024-01-0{len(run_id) % 9 + 1}T00:00:00.000000",
                updated="2024-01-01T00:00:00.000000", requests=[request], dataset=dataset,
                provenance={})  # fmt: skip
    rng = np.random.default_rng(int(run_id, 16) % 1000)
    for conf in confs:
        for fold in range(folds):
            path = folder / "runs" / "learnet" / conf / f"seed0-fold{fold}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            rec = _record(run_id, conf, fold, rng)
            rec["y_true"] = np.random.default_rng(fold).integers(0, 5, 10).tolist()  # one split
            rec["params"].update(protocol=protocol, validation=validation)
            path.write_text(json.dumps(rec))
    (folder / "run.json").write_text(json.dumps(info))
    return folder


def test_table1_lists_measured_rows_before_the_cells_not_run(isolated_root):
    _run(isolated_root)
    status = list(open_run("4567").table1().status)
    assert status[:4] == ["measured"] * 4  # not 20 "not requested" rows first
    assert max(i for i, s in enumerate(status) if s == "measured") < status.index("not requested")
    assert open_run("4567").table1().key_configuration[:4].tolist() == list(CONFS)  # paper order


def test_csv_files_hold_rounded_numbers(isolated_root):
    _run(isolated_root)
    paths = open_run("4567").write_tables()
    for name, path in paths.items():
        if name.endswith(".csv"):
            long = re.findall(r"\d\.\d{5,}", path.read_text())
            assert not long, f"{name}: unrounded numbers {long[:3]}"


def test_side_by_side_holds_only_measured_cells_and_fits_a_screen(isolated_root):
    _run(isolated_root, confs=("baseline", "dual_di"))
    handle = open_run("4567")
    sbs = handle.side_by_side()
    assert len(sbs) == 2 and sbs.accuracy_ours.notna().all() and sbs.accuracy_paper.notna().all()
    from mer_utils.paper import side_by_side_display

    shown = side_by_side_display(sbs)
    assert shown.shape == (2, 9) and ("Acc", "ours − paper") in shown.columns
    assert shown[("Acc", "ours − paper")].iloc[0] == pytest.approx(
        round(sbs.accuracy_ours.iloc[0] - sbs.accuracy_paper.iloc[0], 2)
    )


def test_paired_tests_say_which_way_and_whether_significant_after_holm(isolated_root):
    _run(isolated_root)
    tests = pd.read_csv(open_run("4567").write_tables()["paired_tests.csv"])
    row = tests[(tests.a == "dual_di") & (tests.b == "baseline")].iloc[0]
    assert row.difference == "Baseline + Dual-DI Aug − Baseline"
    assert row.direction in {"a > b", "a < b", "equal"}
    sig = tests.significant_after_holm
    assert sig.notna().all() and set(sig) <= {"none", "no test"} | set(
        s for s in sig if re.fullmatch(r"(t|corrected t|Wilcoxon|McNemar)(, .+)*", s)
    )
    flagged = tests[tests.nb_significant.fillna(False).astype(bool)]
    assert all("corrected t" in s for s in flagged.significant_after_holm)
    assert list(tests.columns[:4]) == ["model", "comparison", "metric", "difference"]


@pytest.mark.parametrize(
    ("models", "words"),
    [
        (["learnet"], "from scratch"),
        (["learnet", "resnet34"], "pretrained except LEARNet"),
        (["resnet34"], "· pretrained ·"),
    ],
)
def test_a_run_is_named_by_how_its_models_start(models, words):
    # pretrained: true is the notebooks' default; a run changed only in smoke keeps it, and
    # LEARNet still trains from scratch
    cfg = load_config("smoke", pretrained=True, models=models).effective()
    name = make_run(cfg, "f" * 20, tuple(CLASSES), "cpu").name
    assert words in name, name
    if models == ["learnet"]:
        assert "pretrained" not in name
