"""Splits never leak clips (or subjects, where promised); metrics agree with scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, recall_score

from mer_utils.augment import flip_rotate
from mer_utils.metrics import scores, summarize
from mer_utils.protocols import inner_split, make_splits

rng = np.random.default_rng(0)
LABELS = rng.integers(0, 5, 120)
GROUPS = rng.integers(0, 12, 120)


@pytest.mark.parametrize("protocol", ["kfold", "subject_kfold", "loso"])
def test_every_clip_tested_exactly_once(protocol):
    splits = make_splits(protocol, LABELS, GROUPS, 5, seed=0)
    tested = np.concatenate([s.test for s in splits])
    assert sorted(tested) == list(range(120))
    for s in splits:
        assert not set(s.train) & set(s.test) and len(s.train) + len(s.test) == 120


@pytest.mark.parametrize("protocol", ["subject_kfold", "loso"])
def test_no_subject_in_two_folds(protocol):
    for s in make_splits(protocol, LABELS, GROUPS, 5, seed=0):
        assert not set(GROUPS[s.train]) & set(GROUPS[s.test])


def test_lodo_tests_each_source_dataset_once_on_a_model_that_never_saw_it():
    sources = np.array(["smic", "casme2", "samm"])[rng.integers(0, 3, 120)]
    splits = make_splits("lodo", LABELS, GROUPS, 5, seed=0, sources=sources)
    assert [set(sources[s.test]) for s in splits] == [{"casme2"}, {"samm"}, {"smic"}]
    assert sorted(np.concatenate([s.test for s in splits])) == list(range(120))
    for s in splits:
        assert not set(sources[s.train]) & set(sources[s.test])
    for bad in (None, np.full(120, "casme2")):  # no sources, or one: nothing to leave out
        with pytest.raises(ValueError, match="lodo needs"):
            make_splits("lodo", LABELS, GROUPS, 5, seed=0, sources=bad)


def test_kfold_is_stratified_and_seeded():
    a, b, c = (make_splits("kfold", LABELS, GROUPS, 5, seed=s) for s in (0, 0, 1))
    assert all(np.array_equal(x.test, y.test) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x.test, y.test) for x, y in zip(a, c, strict=True))
    for s in a:
        share = np.bincount(LABELS[s.test], minlength=5) / len(s.test)
        assert np.abs(share - np.bincount(LABELS, minlength=5) / 120).max() < 0.1


def test_inner_split_holds_out_whole_subjects():
    s = make_splits("subject_kfold", LABELS, GROUPS, 5, seed=0)[0]
    fit, val = inner_split(s.train, LABELS, GROUPS, seed=0)
    assert sorted(np.concatenate([fit, val])) == sorted(s.train)
    assert not set(GROUPS[fit]) & set(GROUPS[val]) and len(val) > 0


@pytest.mark.parametrize("seed", range(5))
def test_scores_match_sklearn_with_explicit_labels(seed):
    r = np.random.default_rng(seed)
    y, p = r.integers(0, 4, 40), r.integers(0, 5, 40)  # class 4 never true, sometimes predicted
    got = scores(y, p, 5)
    labels = list(range(5))
    assert got["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert got["uf1"] == pytest.approx(
        f1_score(y, p, labels=labels, average="macro", zero_division=0)
    )
    assert got["uar"] == pytest.approx(
        recall_score(y, p, labels=labels, average="macro", zero_division=0)
    )


def test_a_missing_class_still_counts():
    assert scores(np.array([0, 0, 1]), np.array([0, 0, 1]), 3)["uar"] == pytest.approx(2 / 3)


def test_summary_gives_fold_mean_std_and_pooled():
    import pandas as pd

    folds = pd.DataFrame(dict(y_true=[[0, 0, 1, 1], [0, 1]], y_pred=[[0, 0, 1, 0], [1, 1]]))
    s = summarize(folds, 2)
    assert s["accuracy_mean"] == pytest.approx((0.75 + 0.5) / 2)
    assert s["accuracy_pooled"] == pytest.approx(4 / 6)
    assert s["accuracy_std"] == pytest.approx(np.std([0.75, 0.5], ddof=1))


def test_flip_rotate_flips_rotates_and_is_seeded():
    x = torch.zeros(64, 1, 9, 9)
    x[:, :, 4, :4] = 1.0  # a bar on the left half
    a = flip_rotate(x, torch.Generator().manual_seed(0))
    b = flip_rotate(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    left, right = a[:, 0, :, :4].sum((1, 2)), a[:, 0, :, 5:].sum((1, 2))
    flipped = right > left
    assert 15 < flipped.sum() < 49  # about half flipped
    assert not torch.equal(a[~flipped], x[~flipped])  # and rotated a little
    assert torch.allclose(a.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.25)  # nothing lost


def _centroid(img: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W] -> [B, 2] (x, y) mass centroid relative to the image centre."""
    _, _, H, W = img.shape
    ys, xs = torch.meshgrid(
        torch.arange(H) - (H - 1) / 2, torch.arange(W) - (W - 1) / 2, indexing="ij"
    )
    m = img[:, 0].clamp_min(0)
    return torch.stack([(m * xs).sum((1, 2)), (m * ys).sum((1, 2))], 1) / m.sum((1, 2))[:, None]


def test_flip_rotate_is_a_horizontal_mirror_and_a_rotation_within_ten_degrees():
    """A blob at (20, 10) px from the centre must land at (+-20, 10) rotated by at most 10
    degrees about the centre, at the same distance: a vertical flip (53 degrees away), a
    larger angle, a shift or a scaling all fail."""
    H = W = 64
    ys, xs = torch.meshgrid(torch.arange(H) - 31.5, torch.arange(W) - 31.5, indexing="ij")
    blob = torch.exp(-((xs - 20) ** 2 + (ys - 10) ** 2) / (2 * 2.0**2))
    x = blob.expand(400, 1, H, W).contiguous()
    c = _centroid(flip_rotate(x, torch.Generator().manual_seed(3)))
    assert torch.allclose(c.norm(dim=1), torch.tensor(500.0).sqrt(), atol=0.3)  # rigid
    flipped = c[:, 0] < 0
    ref = torch.tensor([20.0, 10.0]).expand(400, 2).clone()
    ref[flipped, 0] = -20.0
    cross = ref[:, 0] * c[:, 1] - ref[:, 1] * c[:, 0]
    deg = torch.rad2deg(torch.atan2(cross, (ref * c).sum(1)))
    assert deg.abs().max() <= 10.3
    assert deg.min() < -8 and deg.max() > 8 and deg.abs().mean() > 3  # the whole range is used
    assert 0.4 < flipped.float().mean() < 0.6


def test_configurations_name_registered_augmentations_and_eval_only_ones_train_as_their_twin():
    from mer_utils.augment import AUGMENTATIONS, apply
    from mer_utils.configurations import REGISTRY

    for name, spec in REGISTRY.items():
        assert set(spec.augment) <= set(AUGMENTATIONS), name
        if spec.trained_as:  # evaluation-only: the trained twin's recipe, other test inputs
            base = REGISTRY[spec.trained_as]
            assert (spec.train_kinds, spec.augment) == (base.train_kinds, base.augment), name
    assert REGISTRY["flip_rotate"].augment == ("flip_rotate",) and not REGISTRY["baseline"].augment
    x = torch.rand(4, 3, 8, 8) * 255
    assert apply((), x, torch.Generator()) is x
    got = apply(("flip_rotate",), x, torch.Generator().manual_seed(5))
    assert torch.equal(got, flip_rotate(x, torch.Generator().manual_seed(5)))


def test_a_class_rarer_than_the_splits_is_said_once_not_warned_per_fold(caplog, monkeypatch):
    """Smoke data (a class with 1 clip): sklearn's UserWarning per split became 4 red blocks in
    the leak-free smoke notebook; now one INFO line per kind of split, and no warning."""
    import logging
    import warnings

    from mer_utils import protocols

    monkeypatch.setattr(protocols, "_SAID", set(), raising=False)
    labels = np.array([0] * 6 + [1] * 6 + [2])  # label 2: one clip
    groups = np.arange(13) % 4
    with warnings.catch_warnings(), caplog.at_level(logging.INFO, "mer_utils.protocols"):
        warnings.simplefilter("error")  # any warning fails the test
        for seed in range(3):
            splits = protocols.make_splits("subject_kfold", labels, groups, 2, seed)
            for s in splits:
                protocols.inner_split(s.train, labels, groups, seed)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said  # test folds once, inner split once
    assert "subject_kfold test folds" in said[0] and "label 2: 1" in said[0]
    assert "inner validation split" in said[1]
