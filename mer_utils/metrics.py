"""Accuracy, UF1 (macro F1) and UAR (macro recall), with the class list explicit.

A class absent from a fold's labels and predictions still counts (its F1 and recall are 0), so
fold scores are comparable. Summaries give per-fold mean +- std and pooled (all out-of-fold
predictions together) values.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def megc_scores(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    classes: Sequence[str],
    sources: Sequence[str] | None = None,
) -> pd.DataFrame:
    """UF1 and UAR as the MEGC 2019 guideline defines them, pooled over every prediction given
    (all LOSO test folds together, never a mean of per-fold scores), overall and on each
    source's subset of the same pooled predictions.

    Per class c of the explicit ``classes`` (never inferred from the labels present, which
    silently drops a class absent from a subset): F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c),
    recall_c = TP_c / n_c; UF1 and UAR are their means over ``classes``. A class with no clip and
    no prediction in a subset scores 0 and is counted in ``classes_absent``.

    Args:
        y_true, y_pred: int class indices into ``classes``, one per test clip.
        sources: the source dataset of each clip (a composite's part), or None.

    Returns:
        One row per subset (``all`` first, then each source in order of appearance): source,
        clips, uf1, uar, accuracy (in [0, 1]), classes_absent.
    """
    t, p, n = np.asarray(y_true), np.asarray(y_pred), len(classes)
    subsets = [("all", np.ones(len(t), bool))]
    if sources is not None:
        src = np.asarray(sources)
        subsets += [(s, src == s) for s in dict.fromkeys(src.tolist())]
    rows = []
    for name, m in subsets:
        present = set(t[m].tolist()) | set(p[m].tolist())
        rows.append(
            dict(
                source=name,
                clips=int(m.sum()),
                **scores(t[m], p[m], n),
                classes_absent=n - len(present),
            )  # fmt: skip
        )
    return pd.DataFrame(rows)
