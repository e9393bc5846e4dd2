"""The paper's Table I and what we check against it: our cells side by side with its numbers,
cells that must be typos, its headline claims re-derived from a table (its own or ours), the
comparisons it makes (and ours, tested per model with :mod:`mer_utils.statistics`), and the
test-set sizes its accuracies imply."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd

from mer_utils import statistics
from mer_utils.configurations import display, get_configuration
from mer_utils.dataset_specs import SPECS, spec_of
from mer_utils.model_specs import DISPLAY
from mer_utils.table1 import METRICS

# The paper's comparisons (configuration keys): each augmentation vs Baseline, Dual-DI vs
# Flip/Rotate, both vs Dual-DI; its headline claims are the first four, in its order.
HEADLINE_PAIRS = (
    ("dual_di", "baseline"),
    ("dual_di", "flip_rotate"),
    ("dual_di_flip_rotate", "baseline"),
    ("flip_rotate", "baseline"),
)
PAPER_PAIRS = (*HEADLINE_PAIRS, ("dual_di_flip_rotate", "dual_di"))
PAPER_TEXT_COUNTS = {s.title: s.paper_clips for s in SPECS.values()}  # as the paper's text says


def paper_dataset(dataset: str) -> str:
    """Our dataset name -> the paper's column name (synthetic copies map to their layout)."""
    return spec_of(dataset).title


def paper_table() -> pd.DataFrame:
    """The paper's Table I (shared/paper_table1.csv, shipped as package data), in %."""
    return pd.read_csv(files("mer_utils") / "paper_table1.csv")


def side_by_side(ours: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Our per-fold means next to the paper's numbers for the same dataset, and the differences
    (the paper's rows only: additions have no paper number)."""
    ours = ours[ours.row == "paper"] if "row" in ours else ours
    paper = paper_table()
    paper = paper[paper.dataset == paper_dataset(dataset)].drop(columns="dataset")
    m = ours.merge(paper, on=["model", "configuration"], how="left", suffixes=("", "_paper"))
    out = m[["model", "configuration", "status"]].copy()
    for k in METRICS:
        out[f"{k}_ours"] = m.get(f"{k}_mean")
        out[f"{k}_paper"] = m[k]
        out[f"{k}_diff"] = out[f"{k}_ours"] - out[f"{k}_paper"]
    return out


def suspect_cells(table: pd.DataFrame, gap: float = 30.0) -> pd.DataFrame:
    """Rows whose UF1 or UAR is more than ``gap`` points below their accuracy: on a 5-class task
    with these class balances that points to a typo in the table, not to a model."""
    low = (table.accuracy - table[["uf1", "uar"]].min(axis=1)) > gap
    return table[low]


def claims(table: pd.DataFrame, metric_suffix: str = "") -> pd.DataFrame:
    """The paper's headline comparisons re-derived from a table with columns model,
    configuration and accuracy/uf1/uar (+ ``metric_suffix``): average gains over models
    (percentage points) and the best model (by accuracy of the best configuration)."""
    pairs = [(display(a), display(b)) for a, b in HEADLINE_PAIRS]
    cols = [f"{k}{metric_suffix}" for k in METRICS]
    wide = (  # no measured cell: no claim (pivot_table refuses an empty table)
        table.pivot_table(index="model", columns="configuration", values=cols)
        if len(table)
        else pd.DataFrame()
    )
    rows = []
    for a, b in pairs:
        row = {"claim": f"{a} vs {b}"}
        for k, c in zip(METRICS, cols, strict=True):
            if (c, a) in wide and (c, b) in wide:
                diff = (wide[(c, a)] - wide[(c, b)]).dropna()
                row[f"mean gain {k} (pp)"] = diff.mean() if len(diff) else np.nan
                row["models"] = len(diff)
        rows.append(row)
    acc = cols[0]
    if acc in table and table[acc].notna().any():
        best = table.loc[table[acc].idxmax()]
        rows.append(
            {
                "claim": f"best: {best.model} ({best.configuration})",
                f"mean gain {METRICS[0]} (pp)": best[acc],
            }
        )
    return pd.DataFrame(rows)


def claims_both(ours: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """:func:`claims` from the paper's table for ``dataset`` and from ``ours`` (Table I of a
    run: its measured cells of the paper's rows), indexed by source ("paper's table", "ours")."""
    paper = paper_table()
    both = {
        "paper's table": claims(paper[paper.dataset == paper_dataset(dataset)]),
        "ours": claims(ours.query("status == 'measured' and row == 'paper'"), "_mean"),
    }
    return pd.concat(both, names=["source"]).droplevel(1)


def comparison_pairs(rows: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(a, b) configuration pairs compared per model among the table rows ``rows``: the
    paper's, then each addition against what it changes (an evaluation-only one against the
    configuration it rescores, a trained one against Baseline), and a phase-aware row cut at
    the spotted apex or the midpoint against the same row cut at the annotated apex."""
    additions = []
    for key in rows:
        spec = get_configuration(key)
        if spec.paper:
            continue
        additions.append((key, spec.trained_as or "baseline"))
        name, _, source = key.partition("@")
        if source and source != "annotated" and f"{name}@annotated" in rows:
            additions.append((key, f"{name}@annotated"))
    return PAPER_PAIRS + tuple(additions)


def paired_tests(records: pd.DataFrame, n_classes: int, metric: str = "uar") -> pd.DataFrame:
    """:func:`mer_utils.statistics.paired_tests` of one metric over :func:`comparison_pairs`
    of the rows present, with display model names: naive and corrected (Nadeau-Bengio) paired
    t, Wilcoxon and, for accuracy, exact McNemar; Holm within each (metric, test) family."""
    pairs = comparison_pairs(tuple(records.configuration.unique()))
    out = statistics.paired_tests(records, n_classes, pairs, metrics=(metric,))
    return out.assign(model=out.model.map(DISPLAY))


def implied_counts(paper: pd.DataFrame, candidates: range = range(20, 400)) -> pd.DataFrame:
    """For each dataset of the paper's Table I: the smallest test-set size n for which more than
    half of its accuracies are k/n to the table's two decimals (a multiple of n fits at least
    as many, so the smallest is the count), and how many accuracies it explains."""
    rows = []
    for ds, g in paper.groupby("dataset", sort=False):
        acc = g.accuracy.to_numpy()
        fits = {n: _fits(acc, n) for n in candidates}
        n = min((k for k, v in fits.items() if v > len(acc) / 2), default=None)
        rows.append(
            dict(
                dataset=ds,
                accuracies=len(acc),
                implied_n=n,
                explained=fits.get(n, 0),
                text_says=PAPER_TEXT_COUNTS.get(ds),
            )
        )
    return pd.DataFrame(rows)


def _fits(acc: np.ndarray, n: int) -> int:
    """How many accuracies (%, two decimals) equal some k/n after rounding."""
    return int(np.sum(np.abs(np.round(acc * n / 100) * 100 / n - acc) <= 0.005 + 1e-9))
