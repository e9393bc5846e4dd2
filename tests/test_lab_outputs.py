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
    assert row.difference == "(Baseline + Dual-DI Aug) − Baseline"
    other = tests[(tests.a == "dual_di") & (tests.b == "flip_rotate")].iloc[0]
    assert other.difference == "(Baseline + Dual-DI Aug) − (Baseline + Flip/Rotate)"
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


# ------------------------------------------------------------------------------ figures (item 10)

INTERNAL = re.compile(r"\b(baseline|flip_rotate|dual_di\w*|sign_robust|learnet)\b")  # keys


def _texts(fig):
    """Every title and legend text of a figure (the run-folder footer is neither)."""
    out = [fig._suptitle.get_text()] if fig._suptitle else []
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
    out += [ax.get_title() for ax in fig.axes]
    out += [t.get_text() for leg in legends if leg for t in [*leg.get_texts(), leg.get_title()]]
    return [t for t in out if t]


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_confusion_panels_follow_table1_with_a_colour_bar(isolated_root):
    from mer_utils import plots
    from mer_utils.configurations import display

    handle = open_run(_run(isolated_root))
    cms = handle.confusions()
    assert list(cms) == [f"LEARNet · {display(c)}" for c in CONFS]  # not alphabetical
    fig = plots.confusion_grid(cms, CLASSES)
    assert any("share of the true class" in ax.get_ylabel() for ax in fig.axes)


def test_every_figure_names_configurations_and_the_run_as_table1_does(isolated_root, monkeypatch):
    from mer_utils import plots

    folder = _run(isolated_root, confs=(*CONFS, "dual_di_phase_eval"))
    info = json.loads((folder / "run.json").read_text())
    info["name"] = "kfold · paper validation · from scratch"
    (folder / "run.json").write_text(json.dumps(info))
    seen = []
    monkeypatch.setattr(plots, "save", lambda fig, stem: seen.append(fig) or [stem])
    open_run("4567").figures()
    assert len(seen) == 3  # confusions, learning curves, apex noise
    for fig in seen:
        texts = _texts(fig)
        assert any("from scratch" in t for t in texts), texts  # the run's name
        assert not [t for t in texts if INTERNAL.search(t) or "4567cdef" in t], texts


def _long(runs=("kfold", "subject_kfold", "loso")):
    """protocol_comparison rows: kfold has both models, subject_kfold LEARNet only, loso no
    pooled value at all; per-fold std larger than the mean somewhere."""
    rows = []
    for r in runs:
        for m in ("LEARNet", "ResNet-34") if r == "kfold" else ("LEARNet",):
            for c, v in (("Baseline", 8.0), ("Baseline + Dual-DI Aug", 95.0)):
                pooled = np.nan if r == "loso" else v
                rows.append(dict(run=f"{r}-x", protocol=r, validation="inner", model=m,
                                 configuration=c, folds="5 of 5", uar_pooled=pooled,
                                 uar_mean=v, uar_std=12.0))  # fmt: skip
    return pd.DataFrame(rows)


def test_protocol_bars_explain_themselves_and_stay_within_0_to_100(isolated_root):
    from mer_utils import plots

    fig = plots.protocol_bars(_long(), "uar")
    fig.canvas.draw()
    (legend,) = fig.legends  # one legend for the figure, runs with a bar only
    assert [t.get_text() for t in legend.get_texts()] == [
        "kfold / inner validation",
        "subject_kfold / inner validation",
    ]
    assert "bar" in fig._suptitle.get_text() and "dot" in fig._suptitle.get_text()
    for ax in fig.axes:
        for coll in ax.collections:  # the whiskers
            ys = np.concatenate([seg[:, 1] for seg in coll.get_segments()])
            assert ys.min() >= 0 and ys.max() <= 100
        labels = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
        assert not any(_overlap(a, b) for i, a in enumerate(labels) for b in labels[i + 1 :])
    one = plots.protocol_bars(_long()[lambda d: d.model == "LEARNet"], "uar")
    box = one.axes[0].get_position()
    assert abs((box.x0 + box.x1) / 2 - 0.5) < 0.08  # a single panel sits in the middle


def test_fig3_legend_covers_no_curve():
    from mer_utils import plots

    rng = np.random.default_rng(0)
    curves = pd.DataFrame(
        dict(label=[c for c in CLASSES for _ in range(3)], curve=list(rng.uniform(0, 1, (15, 101))))
    )
    fig = plots.fig3(curves, CLASSES)
    fig.canvas.draw()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    assert legends
    for leg in legends:
        box = leg.get_window_extent()
        assert not any(_overlap(box, ax.get_window_extent()) for ax in fig.axes)
