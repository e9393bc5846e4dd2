"""Cross-validation protocols over clips. All DIs of one clip follow the clip into its fold.

- ``kfold``: the paper's protocol, stratified 5-fold over clips, seeded (a subject can appear in
  training and test folds: the published numbers are not subject-independent);
- ``subject_kfold``: stratified and grouped by subject (no subject in two folds);
- ``loso``: leave one subject out;
- ``lodo``: leave one dataset out (a composite such as MEGC 2019: train on two sources, test on
  the third), for cross-dataset tests; the leak-free inner validation still holds out subjects.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

log = logging.getLogger(__name__)
SKLEARN_FEW = "The least populated class in y has only"
# protocols that leave one group out (a subject, a source dataset): a fold per group, classes
# not stratified, so tables lead with scores pooled over all folds (the MEGC convention)
LEAVE_ONE_OUT = ("loso", "lodo")  # sklearn's warning, said once by us
_SAID: set[tuple[str, int]] = set()  # (what, n_splits) already logged by this process


@dataclass(frozen=True)
class Split:
    """Clip indices of one fold: ``train`` and ``test`` (int64 arrays, sorted)."""

    fold: int
    train: np.ndarray
    test: np.ndarray

    def to_dict(self) -> dict:
        return dict(fold=self.fold, train=self.train.tolist(), test=self.test.tolist())


def make_splits(
    protocol: str,
    labels: np.ndarray,
    groups: np.ndarray,
    folds: int,
    seed: int,
    sources: np.ndarray | None = None,
) -> list[Split]:
    """Splits for ``protocol`` in {kfold, subject_kfold, loso, lodo}; labels (int), groups
    (subject, str) and ``sources`` (a composite's source dataset of each clip, str; needed by
    ``lodo`` only) are [N] per clip. ``lodo``'s folds follow the sources' sorted names."""
    X = np.zeros(len(labels))
    if protocol == "kfold":
        it = StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, labels)
    elif protocol == "subject_kfold":
        it = StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(X, labels, groups)
    elif protocol == "loso":
        it = LeaveOneGroupOut().split(X, labels, groups)
    elif protocol == "lodo":
        if sources is None or len(np.unique(sources)) < 2:
            raise ValueError("lodo needs the source dataset of each clip, at least two sources")
        it = LeaveOneGroupOut().split(X, labels, sources)
    else:
        raise ValueError(f"unknown protocol {protocol!r}")
    n_splits = 0 if protocol in LEAVE_ONE_OUT else folds
    with _few_per_class(labels, n_splits, f"{protocol} test folds"):
        return [Split(i, np.sort(tr), np.sort(te)) for i, (tr, te) in enumerate(it)]


@contextmanager
def _few_per_class(labels: np.ndarray, n_splits: int, what: str) -> Iterator[None]:
    """Stratify ``labels`` (int [N]) into ``n_splits`` quietly: when a class has fewer members
    than splits (tiny or smoke data), one INFO line says which, once per process and fact,
    instead of sklearn's UserWarning per call (red blocks in a notebook)."""
    counts = np.bincount(labels)
    few = {int(c): int(k) for c, k in enumerate(counts) if 0 < k < n_splits}
    if few:
        first = ", ".join(f"label {c}: {k}" for c, k in few.items())
        _say_once(what, n_splits, first)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SKLEARN_FEW, category=UserWarning)
        yield


def _say_once(what: str, n_splits: int, first: str) -> None:
    """One INFO line per (what, n_splits) in a process (the first call's counts as example)."""
    if (what, n_splits) in _SAID:
        return
    _SAID.add((what, n_splits))
    log.info(
        "%s: a class has fewer clips than the %d splits (first seen: %s); some splits lack it "
        "(stratification does what it can)",
        what,
        n_splits,
        first,
    )


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
    with _few_per_class(y, n, "inner validation split"):
        fit, val = next(sgkf.split(np.zeros(len(train)), y, g))
    return np.sort(train[fit]), np.sort(train[val])
