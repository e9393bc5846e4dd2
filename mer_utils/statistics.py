"""Tests that fit cross-validation: which test, which pairs, which correction.

- **Naive paired t** over (seed, fold) pairs of per-fold scores (kept for comparison: it treats
  the folds as independent, but their training sets overlap, so it overstates confidence).
- **Nadeau-Bengio corrected resampled t** over the same pairs: the variance of the mean
  difference is inflated by ``n_test / n_train`` for the overlap of the training sets
  (Nadeau & Bengio 2003; Bouckaert & Frank 2004 for repeated k-fold). At 5 folds and one seed
  it scales t by sqrt((1/5) / (1/5 + 1/4)) = 0.667; at 3 seeds x 5 folds by 0.459.
- **Wilcoxon signed-rank** over the same pairs (no normality; with 5 pairs it cannot reach
  p < 0.0625).
- **Exact McNemar** on per-clip correctness pooled over all paired (seed, test clip)
  predictions, for accuracy: the test for two scorings of the same fold models
  (``same_models``); for two trained configurations it is conditional on these trained models
  (ignores training variance). A clip seen under several seeds counts once per seed, and those
  pairs are not independent: with more than one seed its p-value is optimistic.
- **Holm** within each family = one metric x one test (over every model and comparison of that
  metric), never across metrics or tests.
- Fewer than 3 (seed, fold) pairs: no test (NaN) and a note.

Torch-free: numpy, scipy and pandas only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mer_utils.configurations import display, get_configuration
from mer_utils.metrics import scores

log = logging.getLogger(__name__)

MIN_PAIRS = 3  # fewer (seed, fold) pairs: no test
TOL = 1e-12  # differences of scores below this are equal (float noise of k/n fractions)
NO_TEST = "fewer than 3 (seed, fold) pairs: no test"
NO_SIZES = "records lack n_train/n_test columns: no corrected t"
# test name -> (its p-value column, its significance column); Holm: one (metric, test) family
TESTS = {
    "t": ("t_p", "t_significant"),
    "corrected t": ("nb_p", "nb_significant"),
    "Wilcoxon": ("wilcoxon_p", "wilcoxon_significant"),
    "McNemar": ("mcnemar_p", "mcnemar_significant"),
}


def _resampled_t(diffs: np.ndarray, extra: float) -> tuple[float, float]:
    """t = mean / sqrt((1/J + extra) var(ddof=1)), df = J - 1, two-sided p. Equal differences
    (spread <= TOL): t = 0, p = 1 when their mean is 0, else t = +-inf, p = 0 (scipy's limit)."""
    d = np.asarray(diffs, dtype=np.float64)
    j, mean = len(d), float(d.mean())
    if np.ptp(d) <= TOL:
        return (0.0, 1.0) if abs(mean) <= TOL else (float(np.sign(mean) * np.inf), 0.0)
    t = mean / np.sqrt((1 / j + extra) * d.var(ddof=1))
    return float(t), float(2 * stats.t.sf(abs(t), j - 1))


def paired_t(diffs: Sequence[float]) -> tuple[float, float]:
    """(t, two-sided p) of the naive paired t-test over J paired differences (float [J]):
    t = mean / sqrt(var(ddof=1) / J), df = J - 1 (equals scipy.stats.ttest_rel)."""
    return _resampled_t(np.asarray(diffs), 0.0)


def corrected_resampled_t(
    diffs: Sequence[float], n_train: float, n_test: float
) -> tuple[float, float]:
    """(t, two-sided p) of the Nadeau & Bengio (2003) corrected resampled t-test over
    J = len(diffs) paired (seed, fold) score differences (float [J]):

        t = mean(d) / sqrt((1/J + n_test/n_train) * var(d, ddof=1)),   df = J - 1.

    ``n_test / n_train`` accounts for the overlap of the training sets of the J fits (for
    repeated k-fold CV, Bouckaert & Frank 2004: n_test/n_train = 1/(k-1)). It equals the naive
    paired t scaled by sqrt((1/J) / (1/J + n_test/n_train)). Equal differences: see
    :func:`paired_t`."""
    if n_train <= 0 or n_test <= 0:
        raise ValueError(f"n_train={n_train}, n_test={n_test}: both must be positive")
    return _resampled_t(np.asarray(diffs), n_test / n_train)


def mcnemar_exact(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> tuple[int, int, float]:
    """Exact McNemar test on paired per-clip correctness (bool [N] each, same clips in the same
    order): (a right and b wrong, b right and a wrong, two-sided p of the binomial test of the
    discordant pairs at 1/2; p = 1 with no discordant pair)."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"correctness arrays of shapes {a.shape} and {b.shape}: need equal [N]")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 0, 0, 1.0
    return only_a, only_b, float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def holm(p: Sequence[float]) -> np.ndarray:
    """float64 [K]: Holm-Bonferroni adjusted p-values of one family; NaN entries stay NaN and do
    not count in the family size."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    adj = np.maximum.accumulate((len(order) - np.arange(len(order))) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def same_models(a: str, b: str) -> bool:
    """True when configurations ``a`` and ``b`` are scorings of the same fold models (e.g. an
    evaluation-only configuration and the configuration it rescores)."""
    return a != b and get_configuration(a).trains == get_configuration(b).trains


def _with_scores(records: pd.DataFrame, n_classes: int, metrics: Sequence[str]) -> pd.DataFrame:
    """``records`` + one column per metric (per fold, 0..1)."""
    s = [
        scores(np.asarray(t), np.asarray(p), n_classes)
        for t, p in zip(records.y_true, records.y_pred, strict=True)
    ]
    per = pd.DataFrame(s, columns=["accuracy", "uf1", "uar"])[list(metrics)]
    return pd.concat([records.reset_index(drop=True), per], axis=1)


def _paired_folds(df: pd.DataFrame, model: str, a: str, b: str) -> pd.DataFrame:
    """The fold rows of ``a`` and ``b`` (suffixes _a, _b) of one model joined on (seed, fold)."""
    sel = {c: df[(df.model == model) & (df.configuration == c)] for c in (a, b)}
    for c, g in sel.items():
        if g.duplicated(["seed", "fold"]).any():
            raise ValueError(f"{model} / {c}: two records of one (seed, fold); one run only")
    return (
        sel[a]
        .merge(sel[b], on=["seed", "fold"], suffixes=("_a", "_b"))
        .sort_values(["seed", "fold"])
    )


def _correctness(pairs: pd.DataFrame, label: str) -> tuple[np.ndarray, np.ndarray]:
    """bool [N] each: per-clip correctness of a and b pooled over the paired folds (clips matched
    by seed, fold and position in the test fold; their labels must agree)."""
    ca, cb = [], []
    for r in pairs.itertuples():
        ta, tb = np.asarray(r.y_true_a), np.asarray(r.y_true_b)
        if not np.array_equal(ta, tb):
            raise ValueError(
                f"{label}, seed {r.seed} fold {r.fold}: test labels differ between the two "
                "records; they are not of the same split (rerun both in one run)"
            )
        ca.append(np.asarray(r.y_pred_a) == ta)
        cb.append(np.asarray(r.y_pred_b) == tb)
    return np.concatenate(ca), np.concatenate(cb)


def _direction(mean_diff: float) -> str:
    return "equal" if abs(mean_diff) <= TOL else ("a > b" if mean_diff > 0 else "a < b")


def _compare(pairs: pd.DataFrame, metric: str, label: str) -> dict:
    """One row of :func:`paired_tests` for one metric (``pairs`` from :func:`_paired_folds`)."""
    d = (pairs[f"{metric}_a"] - pairs[f"{metric}_b"]).to_numpy()
    row = dict(
        metric=metric, pairs=len(d), mean_diff_pp=100 * float(d.mean()) if len(d) else np.nan
    )
    row["direction"] = _direction(row["mean_diff_pp"] / 100)
    if len(d) < MIN_PAIRS:
        return {**row, "note": NO_TEST}
    row["t_p"] = paired_t(d)[1]
    dr = np.round(d, 12)  # float noise must not break ties or zeros (exact vs normal method)
    row["wilcoxon_p"] = float(stats.wilcoxon(dr).pvalue) if np.any(dr != 0) else 1.0
    if {"n_train_a", "n_test_a"} <= set(pairs.columns):
        ratio = float(np.mean(pairs.n_test_a / pairs.n_train_a))
        row["test_train_ratio"] = ratio
        row["nb_t"], row["nb_p"] = corrected_resampled_t(d, 1.0, ratio)
    else:
        row["note"] = NO_SIZES
    if metric == "accuracy":
        keys = ("mcnemar_a_only", "mcnemar_b_only", "mcnemar_p")
        row.update(zip(keys, mcnemar_exact(*_correctness(pairs, label)), strict=True))
        row["mcnemar_predictions"] = int(pairs.y_true_a.map(len).sum())
    return row


COLUMNS = [
    "model", "a", "b", "comparison", "same_models", "metric", "pairs", "mean_diff_pp",
    "direction", "t_p", "test_train_ratio", "nb_t", "nb_p", "wilcoxon_p", "mcnemar_a_only",
    "mcnemar_b_only", "mcnemar_predictions", "mcnemar_p", "note",
]  # fmt: skip


def paired_tests(
    records: pd.DataFrame,
    n_classes: int,
    pairs: Sequence[tuple[str, str]],
    metrics: Sequence[str] = ("accuracy", "uar"),
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Per model present and per configuration pair (a, b) of ``pairs`` with records of both:
    one row per metric comparing a with b over their (seed, fold) pairs.

    ``records``: one row per fold record (model, configuration, seed, fold, y_true, y_pred
    lists; n_train, n_test for the corrected t), as :func:`mer_utils.run_records.load_records`.
    Columns: :data:`COLUMNS` (mean_diff_pp = a - b in points; t_p naive paired t; nb_t, nb_p
    corrected resampled t; McNemar columns for accuracy only), then per test ``<p>_holm``
    (Holm within one metric x one test) and ``<test>_significant`` (Holm-adjusted p < alpha),
    and ``holm_family``. Fewer than 3 pairs: test columns NaN and ``note`` says so."""
    df = _with_scores(records, n_classes, metrics) if len(records) else records
    rows = []
    for model in sorted(df.model.unique()) if len(df) else []:
        present = set(df.configuration[df.model == model])
        for a, b in pairs:
            if a not in present or b not in present:
                continue
            folds = _paired_folds(df, model, a, b)
            head = dict(model=model, a=a, b=b, same_models=same_models(a, b))
            head["comparison"] = f"{display(a)} vs {display(b)}"
            label = f"{model}: {a} vs {b}"
            rows += [{**head, **_compare(folds, m, label)} for m in metrics]
    out = pd.DataFrame(rows, columns=COLUMNS)
    if len(out) and out.note.eq(NO_SIZES).any():
        log.warning("records lack n_train/n_test (see run_records.load_records): no corrected t")
    return _with_holm(out, alpha)


def _with_holm(out: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Add ``<p>_holm`` and ``<test>_significant`` per (metric, test) family and
    ``holm_family`` (which families, how many comparisons each)."""
    out = out.assign(**{f"{p}_holm": np.nan for p, _ in TESTS.values()}, holm_family="")
    for metric, g in out.groupby("metric", sort=False):
        sizes = []
        for name, (col, _) in TESTS.items():
            adj = holm(g[col].to_numpy(dtype=np.float64))
            out.loc[g.index, f"{col}_holm"] = adj
            if k := int(np.sum(~np.isnan(adj))):
                sizes.append(f"{name} {k}")
        text = f"{metric} · one Holm family per test · {', '.join(sizes)} comparisons"
        out.loc[g.index, "holm_family"] = text if sizes else f"{metric} · no test"
    for col, sig in TESTS.values():
        adj = out[f"{col}_holm"].to_numpy(dtype=np.float64)
        out[sig] = pd.array([None if np.isnan(x) else bool(x < alpha) for x in adj], "boolean")
    return out


# ---------------------------------------------------------------- apex distance from midpoint


def _bin_labels(edges: Sequence[float]) -> list[str]:
    """'[lo, hi)' per bin; the last one closed."""
    n = len(edges) - 1
    return [f"[{lo:.2f}, {hi:.2f}{']' if i == n - 1 else ')'}" for i, (lo, hi) in
            enumerate(zip(edges[:-1], edges[1:], strict=True))]  # fmt: skip


def _clips(records: pd.DataFrame, configurations: Sequence[str], edges: np.ndarray) -> pd.DataFrame:
    """One row per (seed, fold, test clip) of the chosen configurations: model, configuration,
    seed, d = |rel_apex - 0.5| (float), bin (ordered categorical), correct (bool)."""
    sel = records[records.configuration.isin(configurations)]
    cols = ["model", "configuration", "seed", "fold", "y_true", "y_pred", "rel_apex"]
    clips = sel[cols].explode(["y_true", "y_pred", "rel_apex"], ignore_index=True)
    # rounded: mirror positions (0.3, 0.7) must tie, and a d of 0.1 must not fall below 0.1
    d = np.round(np.abs(clips.rel_apex.to_numpy(dtype=np.float64) - 0.5), 9)
    if not np.all((d >= edges[0]) & (d <= edges[-1])):
        bad = clips[~((d >= edges[0]) & (d <= edges[-1]))].iloc[0]
        raise ValueError(
            f"{bad.model} / {bad.configuration}, seed {bad.seed} fold {bad.fold}: rel_apex "
            f"{bad.rel_apex} gives |rel_apex - 0.5| outside the bin edges {tuple(edges)}"
        )
    idx = np.minimum(np.searchsorted(edges, d, side="right") - 1, len(edges) - 2)
    labels = _bin_labels(edges)
    return clips.assign(
        d=d,
        bin=pd.Categorical(np.array(labels)[idx], labels, ordered=True),
        correct=(clips.y_true.to_numpy() == clips.y_pred.to_numpy()),
    )


def apex_distance(
    records: pd.DataFrame,
    configurations: Sequence[str],
    edges: Sequence[float] = (0, 0.1, 0.2, 0.3, 0.5),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracy by the distance of the test clips' apex from the clip midpoint,
    d = |rel_apex - 0.5| (the full DI's expression coefficient changes sign at the midpoint).

    Returns (table, correlations), model x configuration in the order of ``configurations``:
    ``table``: model, configuration, bin ('[lo, hi)', the last closed), predictions (test-clip
    predictions in the bin: a clip counts once per seed), accuracy (%; NaN on an empty bin);
    ``correlations``: model, configuration, seeds, n (predictions), spearman_rho between d and
    per-clip correctness (scipy.stats.spearmanr), p (two-sided), note (why NaN). Pooled over
    seeds, the same clip appears once per seed, so with several seeds p is optimistic."""
    edges = np.asarray(edges, dtype=np.float64)
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bin edges {tuple(edges)}: need at least two, strictly increasing")
    clips = _clips(records, configurations, edges)
    rank = {c: i for i, c in enumerate(configurations)}
    groups = sorted(clips.groupby(["model", "configuration"]), key=lambda kv: (kv[0][0], rank[kv[0][1]]))  # fmt: skip
    table, corr = [], []
    for (m, c), g in groups:
        per = g.groupby("bin", observed=False).correct.agg(["size", "mean"])
        for b, (size, mean) in per.iterrows():
            table.append(dict(model=m, configuration=c, bin=b, predictions=int(size),
                              accuracy=100 * mean if size else np.nan))  # fmt: skip
        corr.append(dict(model=m, configuration=c, seeds=g.seed.nunique(), **_spearman(g)))
    cols = ["model", "configuration", "bin", "predictions", "accuracy"]
    return pd.DataFrame(table, columns=cols), pd.DataFrame(
        corr, columns=["model", "configuration", "seeds", "n", "spearman_rho", "p", "note"]
    )


def _spearman(clips: pd.DataFrame) -> dict:
    """n, spearman_rho, p, note of d vs correctness over ``clips`` (NaN with a note when a
    variable is constant or n < 3)."""
    n, note = len(clips), ""
    if n < MIN_PAIRS:
        note = f"{n} predictions: no test"
    elif clips.correct.nunique() < 2:
        note = "all right or all wrong: no correlation"
    elif np.ptp(clips.d.to_numpy()) == 0:
        note = "every apex at the same distance: no correlation"
    if note:
        return dict(n=n, spearman_rho=np.nan, p=np.nan, note=note)
    r = stats.spearmanr(clips.d.to_numpy(), clips.correct.to_numpy(dtype=np.float64))
    return dict(n=n, spearman_rho=float(r.statistic), p=float(r.pvalue), note="")
