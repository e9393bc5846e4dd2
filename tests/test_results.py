"""Table I assembly (cells from run.json alone), the paper's claims re-derived from its table,
paired tests."""

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from mer_utils import paper, table1
from mer_utils.configurations import CONFIGURATIONS
from mer_utils.model_specs import PAPER_MODELS
from mer_utils.runs import Request, RunInfo


def _records():
    rng = np.random.default_rng(0)
    rows = []
    folds = [rng.integers(0, 5, 40) for _ in range(5)]  # one split: the same labels per config
    for conf, acc in (("baseline", 0.5), ("dual_di", 0.7)):
        for fold, y in enumerate(folds):
            p = np.where(rng.random(40) < acc, y, (y + 1) % 5)
            rows.append(
                dict(
                    model="learnet",
                    configuration=conf,
                    seed=0,
                    fold=fold,
                    pretrained=False,
                    input_px=112,
                    y_true=y.tolist(),
                    y_pred=p.tolist(),
                    history=[],
                )
            )
    return pd.DataFrame(rows)


def test_paper_claims_recomputed_from_its_own_table():
    theirs = paper.paper_table()
    c = paper.claims(theirs[theirs.dataset == "CASME-II"]).set_index("claim")
    assert c.loc[
        "Baseline + Dual-DI Aug vs Baseline + Flip/Rotate", "mean gain accuracy (pp)"
    ] == pytest.approx(1.70, abs=0.005)
    assert c.loc["Baseline + Dual-DI Aug vs Baseline", "mean gain accuracy (pp)"] == pytest.approx(
        4.49, abs=0.005
    )
    assert "best: VGGFace (Baseline + Dual-DI Aug)" in c.index


def test_suspect_cells_flags_the_uf1_typo_only():
    s = paper.suspect_cells(paper.paper_table())
    assert list(zip(s.model, s.configuration, s.dataset, strict=True)) == [
        ("VGGFace", "Baseline + Flip/Rotate", "CASME-II")
    ]


def _cells(measured):
    units = {(0, f) for f in range(5)}
    return {
        (m, c): units if m == "learnet" and c in measured else "not requested"
        for m in PAPER_MODELS
        for c in CONFIGURATIONS
    }


def test_table1_marks_unrun_cells_and_never_fills_them(tmp_path):
    t = table1.table1(_records(), 5, _cells(("baseline", "dual_di")))
    assert len(t) == 24
    measured = t[t.status == "measured"]
    assert set(zip(measured.key_model, measured.key_configuration, strict=True)) == {
        ("learnet", "baseline"),
        ("learnet", "dual_di"),
    }
    assert t[t.status != "measured"].accuracy_mean.isna().all()
    assert measured.set_index("key_configuration").accuracy_mean["dual_di"] > 60
    paths = table1.write_table1(t, tmp_path, "Run test-run")
    assert "not requested" in paths["md"].read_text()
    sbs = paper.side_by_side(t, "synthetic_casme2")
    row = sbs[(sbs.model == "LEARNet") & (sbs.configuration == "Baseline")].iloc[0]
    assert row.accuracy_paper == pytest.approx(47.76) and row.accuracy_diff == pytest.approx(
        row.accuracy_ours - 47.76
    )


def test_requested_cell_without_records_is_incomplete_not_measured():
    t = table1.table1(_records(), 5, _cells(("baseline", "flip_rotate")))
    t = t[t.key_model == "learnet"].set_index("key_configuration")
    assert t.status["flip_rotate"] == "incomplete (0 of 5 folds)"
    assert pd.isna(t.accuracy_mean["flip_rotate"])


def test_paper_sample_counts_inferred_from_its_own_table():
    c = paper.implied_counts(paper.paper_table()).set_index("dataset")
    # each inferred n explains what no smaller n does; the paper's text says 247 and 159
    assert c.loc["CASME-II", "implied_n"] != c.loc["CASME-II", "text_says"]
    acc = paper.paper_table().set_index("dataset").accuracy
    for ds in ("CASME-II", "SAMM"):
        n = c.loc[ds, "implied_n"]
        assert paper._fits(acc[ds].to_numpy(), n) == c.loc[ds, "explained"] > 12
        assert all(paper._fits(acc[ds].to_numpy(), k) <= 12 for k in range(20, n))
    assert tuple(c.implied_n) == (245, 135) and tuple(c.explained) == (24, 20)


def test_paired_tests_and_holm():
    t = paper.paired_tests(_records(), 5, "accuracy")
    assert list(t.comparison) == ["Baseline + Dual-DI Aug vs Baseline"] and t.pairs.iloc[0] == 5
    assert t.mean_diff_pp.iloc[0] > 0 and t.t_p.iloc[0] < 0.05
    assert {"t_p_holm", "wilcoxon_p_holm"} <= set(t.columns)


def test_paired_tests_cover_the_papers_other_claims():
    recs = _records()
    more = recs[recs.configuration == "baseline"].copy()
    extra = pd.concat(
        [more.assign(configuration=c) for c in ("flip_rotate", "dual_di_flip_rotate")]
    )
    t = paper.paired_tests(pd.concat([recs, extra]), 5, "accuracy")
    assert {
        "Baseline + Dual-DI Aug vs Baseline + Flip/Rotate",
        "Baseline + Dual-DI Aug + Flip/Rotate vs Baseline + Dual-DI Aug",
    } <= set(t.comparison)
    assert (t.wilcoxon_p_holm >= t.wilcoxon_p).all() and len(t) == 5


def _info(*requests, device="cpu"):
    return RunInfo("id", "name", "folder", dict(device_type=device), "", "", requests)


def test_additions_get_their_own_marked_rows_only_when_requested():
    plain = table1.requested_cells(_info(Request(("learnet",), ("baseline",), (0,), 5, 5)))
    assert len(plain) == 24 and ("efficientnet_lite0", "baseline") not in plain
    both = Request(("learnet", "efficientnet_lite0"), ("baseline",), (0,), 5, 5)
    t = table1.table1(_records(), 5, table1.requested_cells(_info(both)))
    lite = t[t.key_model == "efficientnet_lite0"]
    assert len(t) == 28 and len(lite) == 4
    assert set(lite.row) == {"addition (not in the paper)"} and set(
        t[t.key_model == "learnet"].row
    ) == {"paper"}


def test_cells_come_from_what_each_request_asked_ran_and_skipped():
    cpu = Request(
        ("learnet",), ("baseline", "dual_di"), (0,), 2, 5,
        asked=("baseline", "dual_di", "dual_di_phase_eval"),
        skipped=(("resnet34", "baseline"), ("resnet34", "dual_di"),
                 ("resnet34", "dual_di_phase_eval")),
        test_apex=("spotted",),
    )  # fmt: skip
    cells = table1.requested_cells(_info(cpu))
    assert cells["learnet", "dual_di_phase_eval@spotted"] == {(0, 0), (0, 1)}
    assert cells["resnet34", "dual_di_phase_eval@spotted"] == "not run on this device"
    assert cells["learnet", "flip_rotate"] == cells["vgg19", "baseline"] == "not requested"
    assert ("learnet", "dual_di_phase_eval@annotated") not in cells  # test_apex: spotted only
    more = Request(("learnet", "resnet34"), ("baseline",), (0, 1), 2, 5, asked=("baseline",))
    union = table1.requested_cells(_info(cpu, more))  # a second request: the union of both
    assert union["resnet34", "baseline"] == {(s, f) for s in (0, 1) for f in (0, 1)}
    assert union["resnet34", "dual_di"] == "not run on this device"


def test_a_request_of_an_old_run_json_asks_the_rows_its_logits_give():
    old = Request.from_dict(
        dict(models=["learnet"], configurations=["baseline", "dual_di"], seeds=[0], folds_run=5,
             n_splits=5)
    )  # fmt: skip
    assert old.skipped == () and old.test_apex == ("spotted", "annotated")
    assert set(old.rows()) == {"baseline", "dual_di"} | {
        f"{n}@{s}" for n in ("dual_di_phase_eval", "dual_di_all_eval") for s in old.test_apex
    }
    new = Request.from_dict({**json.loads(json.dumps(asdict(old))), "asked": ["baseline"]})
    assert (
        new.rows() == ("baseline",)
        and Request.from_dict(json.loads(json.dumps(asdict(new)))) == new
    )


def test_every_addition_is_compared_with_what_it_changes():
    from mer_utils.configurations import REGISTRY, table_rows

    rows = table_rows(tuple(REGISTRY), ("spotted", "annotated"))
    pairs = paper.comparison_pairs(rows)[len(paper.PAPER_PAIRS) :]
    additions = [r for r in rows if not REGISTRY[r.partition("@")[0]].paper]
    assert {a for a, _ in pairs} == set(additions)
    for a, b in pairs:  # against the models it rescores, or the same row cut at the annotation
        spec = REGISTRY[a.partition("@")[0]]
        assert b in (spec.trained_as or "baseline", a.replace("@spotted", "@annotated")), (a, b)
    assert ("dual_di_flip_rotate_phase_eval@spotted", "dual_di_flip_rotate") in pairs
    assert ("dual_di_phase_eval@spotted", "dual_di_phase_eval@annotated") in pairs
    assert ("dual_di_phase_eval@annotated", "dual_di") in pairs
    assert set(paper.HEADLINE_PAIRS) < set(paper.PAPER_PAIRS)


def test_the_run_header_names_a_class_task_and_its_classes():
    from mer_utils.runs import DatasetInfo

    ident = dict(
        validation="inner",
        patience=10,
        batch_size=25,
        variant="paper",
        dataset_fingerprint="f" * 20,
    )
    data = DatasetInfo("synthetic_mmew", "/r", "/r/x.xlsx", 9, ("negative", "positive", "surprise"), {}, "f" * 20)  # fmt: skip
    plain = RunInfo("id", "n", "loso-inner-1", ident, "", "", (), data)
    assert "task" not in table1.run_header(plain, "x")
    three = RunInfo("id", "n", "loso-inner-2", {**ident, "task": "3class"}, "", "", (), data)
    line = table1.run_header(three, "x")
    assert "synthetic_mmew (3class task: negative, positive, surprise): 9 clips" in line
