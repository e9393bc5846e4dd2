"""Fold records -> tidy table -> Table I (CSV/Markdown/LaTeX), the paper side by side, the
paper's claims re-derived from a table, and paired tests across folds and seeds."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from mer_utils.config import CONFIG_DISPLAY, CONFIGURATIONS
from mer_utils.metrics import confusion, scores, summarize
from mer_utils.models import DISPLAY, REGISTRY
from mer_utils.paths import results_dir

METRICS = ("accuracy", "uf1", "uar")
PAPER_DATASET = {"casme2": "CASME-II", "samm": "SAMM"}


def paper_dataset(dataset: str) -> str:
    """Our dataset name -> the paper's column name (synthetic copies map to their layout)."""
    return PAPER_DATASET[dataset.removeprefix("synthetic_")]


def load_records(dataset: str, protocol: str) -> pd.DataFrame:
    """One row per fold record under ``results/<dataset>/<protocol>/runs`` with its scores (0..1)."""
    rows = []
    for p in sorted(results_dir(dataset, protocol, "runs").rglob("*.json")):
        r = json.loads(p.read_text())
        rows.append(
            dict(
                **{
                    k: r["params"][k]
                    for k in ("model", "configuration", "seed", "fold", "pretrained", "validation")
                },
                y_true=r["y_true"],
                y_pred=r["y_pred"],
                best_epoch=r["best_epoch"],
                wall_s=r["wall_s"],
                history=r["history"],
                device=r["provenance"]["device"],
                git_sha=r["provenance"]["git_sha"][:10],
            )
        )
    if not rows:
        raise FileNotFoundError(
            f"no fold records under results/{dataset}/{protocol}/runs; run notebook 03 first"
        )
    return pd.DataFrame(rows)


def histories(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (fold record, epoch): model, configuration, seed, fold + the epoch's history."""
    return pd.DataFrame(
        [
            dict(model=r.model, configuration=r.configuration, seed=r.seed, fold=r.fold, **h)
            for r in records.itertuples()
            for h in r.history
        ]
    )


def with_scores(records: pd.DataFrame, n_classes: int) -> pd.DataFrame:
    """Add per-fold accuracy/uf1/uar columns (0..1)."""
    s = [
        scores(np.array(t), np.array(p), n_classes)
        for t, p in zip(records.y_true, records.y_pred, strict=True)
    ]
    return pd.concat([records.reset_index(drop=True), pd.DataFrame(s)], axis=1)


def table1(
    records: pd.DataFrame, n_classes: int, models=tuple(REGISTRY), configurations=CONFIGURATIONS
) -> pd.DataFrame:
    """Every model x configuration cell: per-fold mean/std and pooled metrics in %, or marked
    "not run on this machine" (never filled with anything but measurements)."""
    rows = []
    for m in models:
        for c in configurations:
            sel = (
                records[(records.model == m) & (records.configuration == c)]
                if len(records)
                else records
            )
            row = dict(
                model=DISPLAY[m], configuration=CONFIG_DISPLAY[c], key_model=m, key_configuration=c
            )
            if len(sel) == 0:
                rows.append({**row, "status": "not run on this machine"})
                continue
            summ = summarize(sel, n_classes)
            rows.append(
                {
                    **row,
                    "status": "measured",
                    "folds": len(sel),
                    "seeds": sel.seed.nunique(),
                    "pretrained": bool(sel.pretrained.iloc[0]),
                    **{k: 100 * v for k, v in summ.items()},
                }
            )
    return pd.DataFrame(rows)


def paper_table() -> pd.DataFrame:
    """The paper's Table I (shared/paper_table1.csv, shipped as package data), in %."""
    return pd.read_csv(files("mer_utils") / "paper_table1.csv")


def side_by_side(ours: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Our per-fold means next to the paper's numbers for the same dataset, and the differences."""
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
    pairs = [
        ("Baseline + Dual-DI Aug", "Baseline"),
        ("Baseline + Dual-DI Aug", "Baseline + Flip/Rotate"),
        ("Baseline + Dual-DI Aug + Flip/Rotate", "Baseline"),
        ("Baseline + Flip/Rotate", "Baseline"),
    ]
    cols = [f"{k}{metric_suffix}" for k in METRICS]
    wide = table.pivot_table(index="model", columns="configuration", values=cols)
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


def paired_tests(records: pd.DataFrame, n_classes: int, metric: str = "uar") -> pd.DataFrame:
    """Each configuration vs Baseline, per model, paired over (seed, fold): paired t-test and
    Wilcoxon signed-rank p-values, Holm-corrected over all comparisons (t-test)."""
    df = with_scores(records, n_classes)
    rows = []
    for m in df.model.unique():
        base = df[(df.model == m) & (df.configuration == "baseline")].set_index(["seed", "fold"])[
            metric
        ]
        for c in [c for c in CONFIGURATIONS if c != "baseline"]:
            other = df[(df.model == m) & (df.configuration == c)].set_index(["seed", "fold"])[
                metric
            ]
            a, b = base.align(other, join="inner")
            if len(a) < 2:
                continue
            d = (b - a).to_numpy()
            t_p = stats.ttest_rel(b, a).pvalue if d.std() > 0 else 1.0
            w_p = stats.wilcoxon(d).pvalue if np.any(d != 0) else 1.0
            rows.append(
                dict(
                    model=DISPLAY[m],
                    configuration=CONFIG_DISPLAY[c],
                    metric=metric,
                    pairs=len(d),
                    mean_diff_pp=100 * d.mean(),
                    t_p=t_p,
                    wilcoxon_p=w_p,
                )
            )
    out = pd.DataFrame(rows)
    if len(out):
        out["t_p_holm"] = _holm(out.t_p.to_numpy())
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values."""
    order = np.argsort(p)
    adj = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(adj)
    out[order] = np.minimum(adj, 1.0)
    return out


def pooled_confusion(records: pd.DataFrame, n_classes: int) -> np.ndarray:
    """int64 [C, C] confusion matrix over all out-of-fold predictions of ``records``."""
    return confusion(
        np.concatenate(records.y_true.map(np.array).tolist()),
        np.concatenate(records.y_pred.map(np.array).tolist()),
        n_classes,
    )


def write_table1(table: pd.DataFrame, folder: Path, name: str = "table1") -> dict[str, Path]:
    """Write ``table`` as CSV, Markdown and LaTeX; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {ext: folder / f"{name}.{ext}" for ext in ("csv", "md", "tex")}
    table.to_csv(paths["csv"], index=False)
    shown = _display(table)
    paths["md"].write_text(shown.to_markdown(index=False))
    paths["tex"].write_text(shown.to_latex(index=False, escape=True))
    return paths


def _display(table: pd.DataFrame) -> pd.DataFrame:
    """Model | Configuration | Acc | UF1 | UAR as 'mean ± std' strings (the paper's layout)."""
    out = table[["model", "configuration"]].copy()
    for k, label in zip(METRICS, ("Acc (%)", "UF1 (%)", "UAR (%)"), strict=True):
        if f"{k}_mean" in table:
            out[label] = [
                f"{m:.2f} ± {s:.2f}" if st == "measured" else st
                for m, s, st in zip(
                    table[f"{k}_mean"], table[f"{k}_std"], table["status"], strict=True
                )
            ]
        else:
            out[label] = table["status"]
    return out
