"""Table I assembly, the paper's claims re-derived from its table, paired tests."""

import numpy as np
import pandas as pd
import pytest

from mer_utils import results


def _records():
    rng = np.random.default_rng(0)
    rows = []
    for conf, acc in (("baseline", 0.5), ("dual_di", 0.7)):
        for fold in range(5):
            y = rng.integers(0, 5, 40)
            p = np.where(rng.random(40) < acc, y, (y + 1) % 5)
            rows.append(
                dict(
                    model="learnet",
                    configuration=conf,
                    seed=0,
                    fold=fold,
                    pretrained=False,
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


def test_table1_marks_unrun_cells_and_never_fills_them(tmp_path):
    t = results.table1(_records(), 5)
    assert len(t) == 24
    measured = t[t.status == "measured"]
    assert set(zip(measured.key_model, measured.key_configuration, strict=True)) == {
        ("learnet", "baseline"),
        ("learnet", "dual_di"),
    }
    assert t[t.status != "measured"].accuracy_mean.isna().all()
    assert measured.set_index("key_configuration").accuracy_mean["dual_di"] > 60
    paths = results.write_table1(t, tmp_path)
    assert "not run on this machine" in paths["md"].read_text()
    sbs = results.side_by_side(t, "synthetic_casme2")
    row = sbs[(sbs.model == "LEARNet") & (sbs.configuration == "Baseline")].iloc[0]
    assert row.accuracy_paper == pytest.approx(47.76) and row.accuracy_diff == pytest.approx(
        row.accuracy_ours - 47.76
    )


def test_paired_tests_and_holm():
    t = results.paired_tests(_records(), 5, "accuracy")
    assert list(t.configuration) == ["Baseline + Dual-DI Aug"] and t.pairs.iloc[0] == 5
    assert t.mean_diff_pp.iloc[0] > 0 and t.t_p.iloc[0] < 0.05
    np.testing.assert_allclose(results._holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
