"""Table I assembly, the paper's claims re-derived from its table, paired tests."""

import numpy as np
import pandas as pd
import pytest

from mer_utils import results


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
    paper = results.paper_table()
    c = results.claims(paper[paper.dataset == "CASME-II"]).set_index("claim")
    assert c.loc[
        "Baseline + Dual-DI Aug vs Baseline + Flip/Rotate", "mean gain accuracy (pp)"
    ] == pytest.approx(1.70, abs=0.005)
    assert c.loc["Baseline + Dual-DI Aug vs Baseline", "mean gain accuracy (pp)"] == pytest.approx(
        4.49, abs=0.005
    )
    assert "best: VGGFace (Baseline + Dual-DI Aug)" in c.index


def test_suspect_cells_flags_the_uf1_typo_only():
    s = results.suspect_cells(results.paper_table())
    assert list(zip(s.model, s.configuration, s.dataset, strict=True)) == [
        ("VGGFace", "Baseline + Flip/Rotate", "CASME-II")
    ]


def _cells(measured):
    units = {(0, f) for f in range(5)}
    return {
        (m, c): units if m == "learnet" and c in measured else "not requested"
        for m in results.PAPER_MODELS
        for c in results.CONFIGURATIONS
    }


def test_table1_marks_unrun_cells_and_never_fills_them(tmp_path):
    t = results.table1(_records(), 5, _cells(("baseline", "dual_di")))
    assert len(t) == 24
    measured = t[t.status == "measured"]
    assert set(zip(measured.key_model, measured.key_configuration, strict=True)) == {
        ("learnet", "baseline"),
        ("learnet", "dual_di"),
    }
    assert t[t.status != "measured"].accuracy_mean.isna().all()
    assert measured.set_index("key_configuration").accuracy_mean["dual_di"] > 60
    paths = results.write_table1(t, tmp_path, "Run test-run")
    assert "not requested" in paths["md"].read_text()
    sbs = results.side_by_side(t, "synthetic_casme2")
    row = sbs[(sbs.model == "LEARNet") & (sbs.configuration == "Baseline")].iloc[0]
    assert row.accuracy_paper == pytest.approx(47.76) and row.accuracy_diff == pytest.approx(
        row.accuracy_ours - 47.76
    )


def test_requested_cell_without_records_is_incomplete_not_measured():
    t = results.table1(_records(), 5, _cells(("baseline", "flip_rotate")))
    t = t[t.key_model == "learnet"].set_index("key_configuration")
    assert t.status["flip_rotate"] == "incomplete (0 of 5 folds)"
    assert pd.isna(t.accuracy_mean["flip_rotate"])


def test_paper_sample_counts_inferred_from_its_own_table():
    c = results.implied_counts(results.paper_table()).set_index("dataset")
    # each inferred n explains what no smaller n does; the paper's text says 247 and 159
    assert c.loc["CASME-II", "implied_n"] != c.loc["CASME-II", "text_says"]
    acc = results.paper_table().set_index("dataset").accuracy
    for ds in ("CASME-II", "SAMM"):
        n = c.loc[ds, "implied_n"]
        assert results._fits(acc[ds].to_numpy(), n) == c.loc[ds, "explained"] > 12
        assert all(results._fits(acc[ds].to_numpy(), k) <= 12 for k in range(20, n))
    assert tuple(c.implied_n) == (245, 135) and tuple(c.explained) == (24, 20)


def test_paired_tests_and_holm():
    t = results.paired_tests(_records(), 5, "accuracy")
    assert list(t.comparison) == ["Baseline + Dual-DI Aug vs Baseline"] and t.pairs.iloc[0] == 5
    assert t.mean_diff_pp.iloc[0] > 0 and t.t_p.iloc[0] < 0.05
    assert {"t_p_holm", "wilcoxon_p_holm"} <= set(t.columns)


def test_paired_tests_cover_the_papers_other_claims():
    recs = _records()
    more = recs[recs.configuration == "baseline"].copy()
    extra = pd.concat(
        [more.assign(configuration=c) for c in ("flip_rotate", "dual_di_flip_rotate")]
    )
    t = results.paired_tests(pd.concat([recs, extra]), 5, "accuracy")
    assert {
        "Baseline + Dual-DI Aug vs Baseline + Flip/Rotate",
        "Baseline + Dual-DI Aug + Flip/Rotate vs Baseline + Dual-DI Aug",
    } <= set(t.comparison)
    assert (t.wilcoxon_p_holm >= t.wilcoxon_p).all() and len(t) == 5


def test_additions_get_their_own_marked_rows_only_when_requested():
    from mer_utils.config import Config
    from mer_utils.runs import Request, RunInfo

    request = Request(("learnet",), ("baseline",), (0,), 5, 5)
    info = RunInfo("id", "name", "folder", dict(device_type="cpu"), "", "", (request,))
    plain = results.requested_cells(Config(models=["learnet"]), info)
    assert len(plain) == 24 and ("efficientnet_lite0", "baseline") not in plain
    cfg = Config(models=["learnet", "efficientnet_lite0"])
    t = results.table1(_records(), 5, results.requested_cells(cfg, info))
    lite = t[t.key_model == "efficientnet_lite0"]
    assert len(t) == 28 and len(lite) == 4
    assert set(lite.row) == {"addition (not in the paper)"} and set(
        t[t.key_model == "learnet"].row
    ) == {"paper"}


def test_every_addition_is_compared_with_what_it_changes():
    from mer_utils.configurations import REGISTRY, table_rows

    rows = table_rows(tuple(REGISTRY), ("spotted", "annotated"))
    pairs = results.comparison_pairs(rows)[len(results.PAPER_PAIRS) :]
    additions = [r for r in rows if not REGISTRY[r.partition("@")[0]].paper]
    assert {a for a, _ in pairs} == set(additions)
    for a, b in pairs:  # against the models it rescores, or the same row cut at the annotation
        spec = REGISTRY[a.partition("@")[0]]
        assert b in (spec.trained_as or "baseline", a.replace("@spotted", "@annotated")), (a, b)
    assert ("dual_di_flip_rotate_phase_eval@spotted", "dual_di_flip_rotate") in pairs
    assert ("dual_di_phase_eval@spotted", "dual_di_phase_eval@annotated") in pairs
    assert ("dual_di_phase_eval@annotated", "dual_di") in pairs
    assert set(results.HEADLINE_PAIRS) < set(results.PAPER_PAIRS)
