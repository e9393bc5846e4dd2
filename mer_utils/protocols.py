"""Cross-validation protocols over clips. All DIs of one clip follow the clip into its fold.

- ``kfold``: the paper's protocol, stratified 5-fold over clips, seeded (a subject can appear in
  training and test folds: the published numbers are not subject-independent);
- ``subject_kfold``: stratified and grouped by subject (no subject in two folds);
- ``loso``: leave one subject out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold


@dataclass(frozen=True)
class Split:
    """Clip indices of one fold: ``train`` and ``test`` (int64 arrays, sorted)."""

    fold: int
    train: np.ndarray
    test: np.ndarray

    def to_dict(self) -> dict:
        return dict(fold=self.fold, train=self.train.tolist(), test=self.test.tolist())


def make_splits(
    protocol: str, labels: np.ndarray, groups: np.ndarray, folds: int, seed: int
) -> list[Split]:
    """Splits for ``protocol`` in {kfold, subject_kfold, loso}; labels/groups are [N] per clip."""
    X = np.zeros(len(labels))
    if protocol == "kfold":
        it = StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, labels)
    elif protocol == "subject_kfold":
        it = StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(X, labels, groups)
    elif protocol == "loso":
        it = LeaveOneGroupOut().split(X, labels, groups)
    else:
        raise ValueError(f"unknown protocol {protocol!r}")
    return [Split(i, np.sort(tr), np.sort(te)) for i, (tr, te) in enumerate(it)]


def inner_split(
    train: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Leak-free validation: ~1/5 of the training clips, grouped by subject -> (fit, val).
    Tiny data (fewer than 5 subjects, or than 5 clips in every class) use fewer splits."""
    y, g = labels[train], groups[train]
    n = min(5, len(np.unique(g)), int(np.bincount(y).max()))
    if n < 2:
        raise ValueError(
            f"inner validation needs >= 2 training subjects and a class with >= 2 clips; "
            f"got {len(np.unique(g))} subjects: use validation=paper or more data"
        )
    sgkf = StratifiedGroupKFold(n, shuffle=True, random_state=seed)
    fit, val = next(sgkf.split(np.zeros(len(train)), y, g))
    return np.sort(train[fit]), np.sort(train[val])
