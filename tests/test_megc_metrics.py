"""MEGC 2019 metrics: UF1/UAR pooled over all LOSO predictions with the explicit class list,
overall and per source, and the composite table built from a run's records."""

import numpy as np
import pandas as pd
import pytest

from mer_utils.composite_table import composite_markdown, composite_table
from mer_utils.metrics import megc_scores, scores

CLASSES = ("negative", "positive", "surprise")


def test_always_negative_on_the_real_composition_gives_the_facts_file_numbers():
    y = np.repeat([0, 1, 2], [250, 109, 83])
    all_ = megc_scores(y, np.zeros_like(y), CLASSES).iloc[0]
    assert all_.accuracy == pytest.approx(0.566, abs=5e-4)  # datasets_megc.md
    assert all_.uar == pytest.approx(1 / 3)
    assert all_.uf1 == pytest.approx(500 / (500 + 192) / 3)


def test_a_class_absent_from_a_subset_still_counts_and_sources_are_subsets_of_the_pool():
    y_true = np.array([0, 0, 1, 1, 2, 0, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 1, 1, 0, 2])
    src = ["smic"] * 4 + ["casme2"] + ["samm"] * 4
    t = megc_scores(y_true, y_pred, CLASSES, src).set_index("source")
    assert list(t.index) == ["all", "smic", "casme2", "samm"]
    # smic: perfect on negative and positive, no surprise clip: UAR over 3 classes, not 2
    assert t.loc["smic", "uar"] == pytest.approx(2 / 3) and t.loc["smic", "classes_absent"] == 1
    for s in ("all", "samm"):
        m = np.ones(9, bool) if s == "all" else np.array(src) == s
        assert t.loc[s, "uf1"] == scores(y_true[m], y_pred[m], 3)["uf1"]
    assert t.loc["all", "clips"] == 9 and t.loc["samm", "clips"] == 4


def test_composite_table_pools_folds_never_averages_them():
    # fold 0: one clip, right; fold 1: three clips, one right. Pooled accuracy 2/4, mean 2/3.
    records = pd.DataFrame(
        dict(
            model=["learnet"] * 2, configuration=["baseline"] * 2, seed=[0, 0], fold=[0, 1],
            test=[[0], [1, 2, 3]], y_true=[[0], [1, 2, 0]], y_pred=[[0], [1, 0, 1]],
        )
    )  # fmt: skip
    table = composite_table(records, ["smic", "samm", "samm", "casme2"], CLASSES)
    by = table.set_index("source")
    assert by.loc["all", "accuracy"] == pytest.approx(50.0) and by.loc["all", "folds"] == 2
    assert by.loc["samm", "clips"] == 2 and by.loc["samm", "accuracy"] == pytest.approx(50.0)
    md = composite_markdown(table, "Run x")
    assert md.startswith("Run x") and "all (pooled) UF1 / UAR" in md and "SMIC-HS UF1 / UAR" in md
