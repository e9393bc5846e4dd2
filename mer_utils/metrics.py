"""Accuracy, UF1 (macro F1) and UAR (macro recall), with the class list explicit.

A class absent from a fold's labels and predictions still counts (its F1 and recall are 0), so
fold scores are comparable. Summaries give per-fold mean +- std and pooled (all out-of-fold
predictions together) values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """int64 [n_classes, n_classes]: rows true class, columns predicted class."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """{"accuracy", "uf1", "uar"} in [0, 1] for integer labels in range(n_classes)."""
    cm = confusion(y_true, y_pred, n_classes).astype(np.float64)
    tp, support, predicted = np.diag(cm), cm.sum(1), cm.sum(0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return dict(
        accuracy=float(tp.sum() / max(cm.sum(), 1)), uf1=float(f1.mean()), uar=float(recall.mean())
    )


def summarize(folds: pd.DataFrame, n_classes: int) -> dict[str, float]:
    """Per-fold mean/std and pooled metrics from rows with ``y_true``/``y_pred`` lists.

    Returns keys ``{metric}_mean``, ``{metric}_std`` (over rows) and ``{metric}_pooled``.
    """
    out: dict[str, float] = {}
    per = pd.DataFrame(
        [
            scores(np.array(t), np.array(p), n_classes)
            for t, p in zip(folds.y_true, folds.y_pred, strict=True)
        ]
    )
    pooled = scores(
        np.concatenate(folds.y_true.map(np.array).tolist()),
        np.concatenate(folds.y_pred.map(np.array).tolist()),
        n_classes,
    )
    for m in ("accuracy", "uf1", "uar"):
        out[f"{m}_mean"], out[f"{m}_std"] = (
            float(per[m].mean()),
            float(per[m].std(ddof=1)) if len(per) > 1 else 0.0,
        )
        out[f"{m}_pooled"] = pooled[m]
    return out
