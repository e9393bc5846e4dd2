"""benchmarks/gpu_check.py, the prepared script for a lent GPU: its comparison flags what it
must, its wheel list matches the lock, and (slow) the exact script runs end to end on CPU at
its tiny size, writing every file the device run would."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(gpu_check.reference_path(tiny=True).read_text())["records"]


def _failed(findings) -> set[tuple[str, str]]:
    return {(f.unit, f.check) for f in findings if not f.ok}


def test_reference_agrees_with_itself_and_with_small_numeric_noise(reference):
    assert not _failed(gpu_check.compare(reference, reference))
    noisy = copy.deepcopy(reference)
    for u in noisy["units"].values():  # what bf16 rounding does: per-mille loss changes
        u["train_loss"] = [x * 1.01 for x in u["train_loss"]]
        u["val_loss"] = [x * 0.99 for x in u["val_loss"]]
        u["logits_full"] = [[x + 0.01 for x in row] for row in u["logits_full"]]
    noisy["di_means"] = {k: [x + 0.4 for x in v] for k, v in noisy["di_means"].items()}
    assert not _failed(gpu_check.compare(reference, noisy))


def test_compare_flags_planted_mismatches(reference):
    got = copy.deepcopy(reference)
    keys = sorted(got["units"])
    a, b, c, d = got["units"][keys[0]], got["units"][keys[1]], keys[2], got["units"][keys[3]]
    a["train_loss"][0] *= 1.08  # a first epoch that went elsewhere (within later losses' 10 %)
    b["y_pred"] = [(p + 1) % 5 for p in b["y_pred"]]  # every prediction moved
    del got["units"][c]  # a unit that never ran
    d["logits_full"][0] = [x + 1.0 for x in d["logits_full"][0]]  # one clip scored elsewhere
    px = sorted(got["di_means"])[0]
    got["di_means"][px] = [x + 3 for x in got["di_means"][px]]  # other inputs
    failed = _failed(gpu_check.compare(reference, got))
    assert (keys[0], "epoch-1 train loss rel diff") in failed
    assert (keys[1], "prediction agreement") in failed
    assert (c, "unit present") in failed
    assert (f"DIs {px} px", "max |mean DI diff|") in failed
    assert (keys[3], "max |logit diff| (full DI)") in failed
    assert len(failed) == 5, failed


def test_projection_splits_fixed_and_per_epoch_time():
    out = dict(data_prep_s=10.0, sweeps=[dict(epochs=1, wall_s=30.0), dict(epochs=5, wall_s=70.0)])
    p = gpu_check.project(out, folds=5)
    assert p["per_epoch_s_per_fold"] == pytest.approx(10.0)
    assert p["fixed_s_per_fold"] == pytest.approx(20.0)
    assert p["full_grid_s"] == pytest.approx(10 + 5 * (20 + 50 * 10))


def test_best_workers_takes_the_highest_geometric_mean():
    def row(*pairs):
        return dict(settings=[dict(workers=n, batch=25, img_s=v) for n, v in pairs])

    rows = [row((1, 100), (2, 180), (4, 170)), row((1, 50), (2, 60), (4, 90))]
    assert gpu_check.best_workers(rows) == 4  # sqrt(170*90) > sqrt(180*60)


def test_wheel_list_is_pinned_to_the_lock():
    lock = dict(
        line.strip().lower().split("==")
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for line in (ROOT / "benchmarks" / "gpu_check_wheels.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            module, req = line.split()
            name, pin = req.lower().split("==")
            assert lock.get(name) == pin, f"{req}: requirements.lock has {lock.get(name)}"


@pytest.mark.slow
def test_tiny_dry_run_writes_every_output(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "MER_ROOT": str(tmp_path / "root"), "MER_PROGRESS": "off"}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--tiny", "--out", str(out)]
    run = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=1800
    )  # a busy shared CPU: 2 min idle, 15 min seen
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    files = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(files) == {"correctness.json", "sync_check.json", "throughput.json", "slice.json"}
    for name, payload in files.items():
        prov = payload["provenance"]
        assert prov["torch"] and prov["time_utc"] and "--tiny" in prov["command"], name
    corr = files["correctness.json"]
    assert corr["mismatches"] == 0 and len(corr["findings"]) > 8
    rows = files["throughput.json"]["rows"]
    assert [r["model"] for r in rows] == ["resnet34"]
    for r in rows:
        assert r["batch25_1"] > 0 and r["bound"] > 0 and r["naive"] > 0
        assert [s["workers"] for s in r["settings"]] == [1, 1, 2]
        assert r["settings"][2]["distinct_pids"] == 2  # two processes trained at once
    sl = files["slice.json"]
    assert [s["epochs"] for s in sl["sweeps"]] == [1, 2] and sl["projection"]["full_grid_s"] > 0
    summary = (out / "summary.txt").read_text()
    assert "correctness mismatches: 0" in summary and "projected full grid" in summary


def test_deadline_skips_the_parts_with_a_line(tmp_path):
    rc = gpu_check.main(["--tiny", "--deadline-s", "1", "--out", str(tmp_path)])
    summary = (tmp_path / "summary.txt").read_text()
    assert rc == 0 and "deadline (1 s) reached: skipped part correctness and after" in summary
    assert not list(tmp_path.glob("*.json"))  # nothing measured, nothing claimed


def test_provenance_survives_another_opencv_wheel(monkeypatch):
    """The GPU image may ship opencv-python: the sweep's provenance must not stop on it."""
    from importlib.metadata import PackageNotFoundError

    import torch

    from mer_utils import sweep

    real = sweep.version

    def version(dist: str) -> str:
        if dist == "opencv-contrib-python-headless":
            raise PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr(sweep, "version", version)
    prov = sweep.provenance(torch.device("cpu"))
    assert prov["versions"]["opencv-contrib-python-headless"] == "not installed"
