"""Tests fit for cross-validation: corrected resampled t, exact McNemar, Holm per family, the
fewer-than-3-pairs rule, and accuracy by the apex's distance from the clip midpoint."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mer_utils import paper, statistics
from mer_utils.configurations import REGISTRY, table_rows


def _row(conf, fold, y_true, y_pred, seed=0, model="learnet", n_train=40, rel_apex=None):
    return dict(
        model=model, configuration=conf, seed=seed, fold=fold, y_true=list(y_true),
        y_pred=list(y_pred), n_train=n_train, n_test=len(y_true),
        rel_apex=list(rel_apex) if rel_apex is not None else [0.5] * len(y_true),
    )  # fmt: skip


A_RIGHT = (5, 7, 9, 4, 6)  # dual_di: clips right of 10 per fold; baseline: the first 3 only
Y = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]


def _right(k, y=Y):
    """Predictions right on the first k clips of a fold, wrong (next class) on the rest."""
    return [t if i < k else (t + 1) % 3 for i, t in enumerate(y)]


def _records(folds=range(5), model="learnet", confs=("dual_di", "baseline"), right=A_RIGHT):
    rows = [_row(confs[0], f, Y, _right(right[f]), model=model) for f in folds]
    return pd.DataFrame(rows + [_row(confs[1], f, Y, _right(3), model=model) for f in range(5)])


def test_corrected_t_against_a_hand_computation():
    # mean 0.032, var(ddof=1) = 0.00148 / 4 = 0.00037, 1/J + n_test/n_train = 0.2 + 0.25
    t, p = statistics.corrected_resampled_t([0.02, 0.04, 0.06, 0.01, 0.03], 40, 10)
    assert t == pytest.approx(0.032 / np.sqrt(0.45 * 0.00037)) and t == pytest.approx(2.47995)
    assert p == pytest.approx(2 * stats.t.sf(2.479949626534811, 4)) and 0.068 < p < 0.0683


def test_corrected_t_is_the_naive_t_scaled():
    rng = np.random.default_rng(1)
    a, b = rng.random(15), rng.random(15) - 0.1  # 3 seeds x 5 folds
    naive = stats.ttest_rel(a, b)
    assert statistics.paired_t(a - b) == pytest.approx((naive.statistic, naive.pvalue))
    t, p = statistics.corrected_resampled_t(a - b, 4, 1)
    factor = np.sqrt((1 / 15) / (1 / 15 + 1 / 4))
    assert factor == pytest.approx(0.4588, abs=1e-4)
    assert t == pytest.approx(naive.statistic * factor)
    assert p == pytest.approx(2 * stats.t.sf(abs(t), 14)) and p > naive.pvalue
    five = statistics.corrected_resampled_t(a[:5] - b[:5], 4, 1)[0]
    assert five / statistics.paired_t(a[:5] - b[:5])[0] == pytest.approx(2 / 3)


def test_equal_differences_and_bad_sizes():
    assert statistics.corrected_resampled_t([0.0, 0.0, 0.0], 4, 1) == (0.0, 1.0)
    assert statistics.corrected_resampled_t([0.1, 0.1 + 1e-17, 0.1], 4, 1) == (np.inf, 0.0)
    assert statistics.paired_t([-0.2, -0.2, -0.2]) == (-np.inf, 0.0)
    with pytest.raises(ValueError, match="positive"):
        statistics.corrected_resampled_t([0.1, 0.2, 0.3], 0, 1)


def test_mcnemar_on_known_discordant_counts():
    #        both right, a only, b only, both wrong
    a = [True] * 5 + [True] * 9 + [False] * 1 + [False] * 3
    b = [True] * 5 + [False] * 9 + [True] * 1 + [False] * 3
    # two-sided binomial of 1 in 10 at 1/2: 2 * (C(10,0) + C(10,1)) / 2**10
    assert statistics.mcnemar_exact(a, b) == (9, 1, pytest.approx(22 / 1024))
    assert statistics.mcnemar_exact(b, a) == (1, 9, pytest.approx(22 / 1024))
    assert statistics.mcnemar_exact(a, a) == (0, 0, 1.0)
    with pytest.raises(ValueError, match="shapes"):
        statistics.mcnemar_exact(a, b[:-1])


def test_holm_by_hand_and_nan_outside_the_family():
    np.testing.assert_allclose(statistics.holm([0.01, 0.011, 0.5]), [0.03, 0.03, 0.5])
    # 4 non-NaN p: 0.01*4, 0.02*3, 0.04*2, 0.5*1
    np.testing.assert_allclose(
        statistics.holm([0.04, np.nan, 0.01, 0.02, 0.5]), [0.08, np.nan, 0.04, 0.06, 0.5]
    )
    assert statistics.holm([]).shape == (0,)


def test_paired_tests_values():
    t = statistics.paired_tests(_records(), 3, [("dual_di", "baseline")]).set_index("metric")
    acc = t.loc["accuracy"]
    diffs = (np.array(A_RIGHT) - 3) / 10  # 0.2 0.4 0.6 0.1 0.3: the hand case x 10
    assert acc.pairs == 5 and acc.mean_diff_pp == pytest.approx(32.0)
    assert acc.direction == "a > b" and not acc.same_models
    assert acc.t_p == pytest.approx(stats.ttest_rel(np.array(A_RIGHT) / 10, [0.3] * 5).pvalue)
    assert acc.test_train_ratio == 0.25
    assert acc.nb_t == pytest.approx(2.479949626534811) and acc.nb_p == pytest.approx(
        0.0682148, abs=1e-7
    )
    assert acc.wilcoxon_p == pytest.approx(stats.wilcoxon(diffs).pvalue) == 0.0625
    # baseline's right clips are a subset of dual_di's: 16 discordant, all for a
    assert (acc.mcnemar_a_only, acc.mcnemar_b_only, acc.mcnemar_predictions) == (16, 0, 50)
    assert acc.mcnemar_p == pytest.approx(2 * 0.5**16)
    assert np.isnan(t.loc["uar"].mcnemar_p)  # McNemar is for accuracy only
    assert t.loc["uar"].nb_p > acc.t_p  # the correction costs significance


def test_direction_follows_the_order_of_the_pair():
    t = statistics.paired_tests(_records(), 3, [("baseline", "dual_di")], ("accuracy",)).iloc[0]
    assert t.mean_diff_pp == pytest.approx(-32.0) and t.direction == "a < b"
    assert (t.mcnemar_a_only, t.mcnemar_b_only) == (0, 16)
    same = _records(confs=("sign_robust", "baseline"), right=(3,) * 5)  # same predictions
    e = statistics.paired_tests(same, 3, [("sign_robust", "baseline")], ("accuracy",)).iloc[0]
    assert e.direction == "equal" and e.t_p == 1.0 and e.wilcoxon_p == 1.0 and e.mcnemar_p == 1


def test_fewer_than_three_pairs_means_no_test():
    for folds, tested in ((range(2), False), (range(3), True)):
        t = statistics.paired_tests(_records(folds), 3, [("dual_di", "baseline")])
        assert (t.pairs == len(folds)).all() and t.mean_diff_pp.notna().all()
        cols = ["t_p", "nb_p", "wilcoxon_p", "t_p_holm", "nb_p_holm"]
        assert t[cols].notna().all().all() == tested
        assert (t.note == statistics.NO_TEST).all() != tested
        assert t.nb_significant.isna().all() != tested
    assert t.mcnemar_p.notna().sum() == 1  # accuracy row only


def test_holm_corrects_each_metric_and_test_separately():
    recs = pd.concat([_records(), _records(model="resnet18", right=(4, 5, 3, 6, 4))])
    t = statistics.paired_tests(recs, 3, [("dual_di", "baseline")])
    assert len(t) == 4
    for metric, g in t.groupby("metric"):
        np.testing.assert_allclose(g.t_p_holm, statistics.holm(g.t_p))
        np.testing.assert_allclose(g.nb_p_holm, statistics.holm(g.nb_p))
        assert (g.t_significant == (g.t_p_holm < 0.05)).all()
        assert set(g.holm_family) == {
            f"{metric} · one Holm family per test · t 2, corrected t 2, Wilcoxon 2"
            + (", McNemar 2" if metric == "accuracy" else "")
            + " comparisons"
        }
    assert not np.allclose(t.t_p_holm, statistics.holm(t.t_p))  # not one family of 4


def test_same_models_and_the_label_check():
    recs = _records(confs=("dual_di_phase_eval", "dual_di"))
    pairs = [("dual_di_phase_eval", "dual_di"), ("dual_di", "dual_di_phase_eval")]
    t = statistics.paired_tests(recs, 3, pairs, ("accuracy",))
    assert t.same_models.all() and not statistics.same_models("dual_di", "baseline")
    assert statistics.same_models("dual_di_phase_eval", "dual_di_all_eval")
    rows = table_rows(tuple(REGISTRY), ("spotted", "annotated"))
    same = {a for a, b in paper.comparison_pairs(rows) if statistics.same_models(a, b)}
    assert same == {f"{n}@{s}" for s in ("spotted", "annotated") for n in (
        "dual_di_phase_eval", "dual_di_all_eval",
        "dual_di_flip_rotate_phase_eval", "dual_di_flip_rotate_all_eval")}  # fmt: skip
    recs.at[0, "y_true"] = [2] + Y[1:]
    with pytest.raises(ValueError, match="seed 0 fold 0: test labels differ"):
        statistics.paired_tests(recs, 3, pairs[:1], ("accuracy",))


def test_records_without_sizes_get_no_corrected_t_and_say_so():
    t = statistics.paired_tests(_records().drop(columns=["n_train", "n_test"]), 3, [("dual_di", "baseline")])  # fmt: skip
    assert t.nb_p.isna().all() and t.t_p.notna().all() and (t.note == statistics.NO_SIZES).all()


def test_paper_paired_tests_calls_the_new_one():
    t = paper.paired_tests(_records(), 3, "accuracy")
    assert list(t.model) == ["LEARNet"] and t.nb_p.iloc[0] == pytest.approx(0.0682148, abs=1e-7)


# ---------------------------------------------------------------- apex distance

REL = np.linspace(0, 1, 20)  # d = |2k - 19| / 38: per bin 4, 4, 4 and 8 clips (d = 0.5 closed)


def _apex_records(correct_of_d, confs=("dual_di",)):
    rows = []
    for conf in confs:
        for seed in (0, 1):
            for fold in range(3):
                y = [k % 3 for k in range(20)]
                right = [correct_of_d(k, abs(r - 0.5)) for k, r in enumerate(REL)]
                p = [t if ok else (t + 1) % 3 for t, ok in zip(y, right, strict=True)]
                rows.append(_row(conf, fold, y, p, seed=seed, rel_apex=REL))
    return pd.DataFrame(rows)


def test_apex_distance_when_correctness_falls_with_distance():
    recs = _apex_records(lambda k, d: d < 0.25)
    table, corr = statistics.apex_distance(recs, ("dual_di",))
    assert list(table.bin) == ["[0.00, 0.10)", "[0.10, 0.20)", "[0.20, 0.30)", "[0.30, 0.50]"]
    assert list(table.predictions) == [24, 24, 24, 48]  # 2 seeds x 3 folds x 4, 4, 4, 8 clips
    assert list(table.accuracy) == [100.0, 100.0, 50.0, 0.0]
    c = corr.iloc[0]
    assert (c.n, c.seeds) == (120, 2) and c.spearman_rho < -0.8 and c.p < 1e-20


def test_apex_distance_when_correctness_does_not_depend_on_it():
    recs = _apex_records(lambda k, d: k < 10, confs=("baseline", "dual_di", "flip_rotate"))
    table, corr = statistics.apex_distance(recs, ("dual_di", "baseline"))
    assert list(corr.configuration) == ["dual_di", "baseline"]  # the order asked for
    assert (table.accuracy == 50.0).all()  # each d is one early and one late clip
    assert np.allclose(corr.spearman_rho, 0.0, atol=1e-12) and (corr.p > 0.99).all()


def test_apex_distance_constant_correctness_and_bad_positions():
    _, corr = statistics.apex_distance(_apex_records(lambda k, d: True), ("dual_di",))
    assert np.isnan(corr.p.iloc[0]) and "all right" in corr.note.iloc[0]
    bad = _apex_records(lambda k, d: True)
    bad.at[3, "rel_apex"] = [1.2] + list(REL[1:])
    with pytest.raises(ValueError, match="seed 1 fold 0: rel_apex 1.2"):
        statistics.apex_distance(bad, ("dual_di",))
    with pytest.raises(ValueError, match="strictly increasing"):
        statistics.apex_distance(bad, ("dual_di",), edges=(0, 0.3, 0.2))


def test_apex_distance_bins_are_left_closed_and_mirror_positions_tie():
    rel = [0.5, 0.4, 0.6, 0.7, 0.3, 0.0, 1.0]  # d = 0, 0.1, 0.1, 0.2, 0.2, 0.5, 0.5
    recs = pd.DataFrame([_row("dual_di", 0, [0] * 7, [0, 1, 1, 0, 0, 1, 1], rel_apex=rel)])
    table, _ = statistics.apex_distance(recs, ("dual_di",))
    assert list(table.predictions) == [1, 2, 2, 2]  # 0.6 - 0.5 = 0.0999...98 unrounded
    assert list(table.accuracy) == [100.0, 0.0, 100.0, 0.0]


def test_pairs_without_a_common_fold_are_listed_untested():
    recs = _records()
    recs.loc[recs.configuration == "baseline", "seed"] = 1  # another seed: no common (seed, fold)
    t = statistics.paired_tests(recs, 3, [("dual_di", "baseline")], ("accuracy",)).iloc[0]
    assert t.pairs == 0 and np.isnan(t.mean_diff_pp) and t.note == statistics.NO_TEST
