"""validation: oracle (the epoch best on the test fold, labelled leaky), and the ladder that
puts oracle, paper and inner side by side with the inflation in points."""

import numpy as np
import pandas as pd
import pytest

from mer_utils.comparison import validation_ladder
from mer_utils.config import Config
from mer_utils.datasets import load_dataset
from mer_utils.model_specs import plan_model
from mer_utils.store import build_store
from mer_utils.table1 import LEAKY, leak_label
from mer_utils.train import DeviceStore, TrainParams, fit_fold


def test_oracle_trains_every_epoch_and_keeps_the_one_best_on_the_test_fold(
    tiny_casme2, isolated_root
):
    data = DeviceStore.from_store(build_store(load_dataset("casme2", tiny_casme2), 112), "cpu")
    n = len(data.labels)
    train, test = np.arange(0, n, 2), np.arange(1, n, 2)
    p = TrainParams(epochs=5, patience=5, batch_size=5, select="accuracy")
    plan = plan_model("learnet")
    res = fit_fold(plan, data, train, test, test, "baseline", p, seed=3, progress=False)
    h = pd.DataFrame(res.history)
    assert len(h) == 5  # no early stop
    best = h[h.val_acc == h.val_acc.max()].sort_values(["val_loss", "epoch"]).iloc[0]
    assert res.best_epoch == best.epoch  # highest test accuracy, ties to the lower loss
    acc = float(np.mean(np.array(res.y_pred) == np.array(res.y_true)))
    assert acc == pytest.approx(h.val_acc.max())  # the restored weights are that epoch's


def test_oracle_is_a_validation_choice_and_every_table_says_leaky():
    tp = TrainParams.from_config(Config(validation="oracle", epochs=30, patience=5))
    assert (tp.select, tp.patience) == ("accuracy", 30)  # every epoch; the best on the test
    assert TrainParams.from_config(Config(validation="inner", patience=5)).select == "loss"
    assert leak_label("oracle") == LEAKY and leak_label("inner") == leak_label("paper") == ""


def test_ladder_gives_each_rung_and_the_inflation_over_inner():
    rows = [
        ("loso", v, "LEARNet", c, uar)
        for c, rungs in (("Baseline", (60, 50, 40)), ("Dual-DI", (55, None, 45)))
        for v, uar in zip(("oracle", "paper", "inner"), rungs, strict=True)
        if uar is not None
    ] + [("kfold", "paper", "LEARNet", "Baseline", 70)]  # one rung only: not on the ladder
    long = pd.DataFrame(rows, columns=["protocol", "validation", "model", "configuration", "uar_pooled"])  # fmt: skip
    ladder = validation_ladder(long).set_index("configuration")
    assert list(ladder.protocol) == ["loso", "loso"]
    assert ladder.loc["Baseline", "oracle - inner"] == 20 and ladder.loc["Baseline", "paper - inner"] == 10  # fmt: skip
    assert ladder.loc["Dual-DI", "oracle - inner"] == 10 and np.isnan(
        ladder.loc["Dual-DI", "paper"]
    )
