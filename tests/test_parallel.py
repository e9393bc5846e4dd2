"""Executors, claims and shared caches: every fold exactly once, whatever runs it and whatever
dies on the way; identical records from every executor."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mer_utils.claims import HOST, is_stale, try_claim
from mer_utils.config import load_config
from mer_utils.sweep import run_sweep

pytestmark = pytest.mark.slow
SMOKE = ["--config", "smoke", "--set", "models=[learnet]", "--set", "threads=1"]


def _outcome(records):
    return sorted((r.configuration, r.fold, r.y_pred, json.dumps(r.history)) for r in records)


def test_every_executor_gives_bit_identical_records(tmp_path, monkeypatch):
    got = {}
    for name, extra in (
        ("local", {}),
        ("processes", {"workers": 2}),
        ("slurm", {"slurm": {"cluster": "local", "timeout_min": 10}}),
    ):
        monkeypatch.setenv("MER_ROOT", str(tmp_path / name))  # separate roots: no reuse
        cfg = load_config("smoke", models=["learnet"], epochs=2, threads=1, executor=name, **extra)
        res = run_sweep(cfg, progress=False)
        assert res.counts["trained"] == len(res.records) == 4, name
        got[name] = _outcome(res.records)
    assert got["local"] == got["processes"] == got["slurm"]


def _sweep(root: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "MER_ROOT": str(root), "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "mer_utils.sweep", *SMOKE, *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _records(root: Path) -> list[Path]:
    return sorted((root / "results").rglob("seed*-fold*.json"))


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith((".claim", ".tmp"))]


def test_two_sweeps_started_together_on_a_fresh_root_do_every_fold_once(tmp_path):
    extra = ("--set", "configurations=[baseline,flip_rotate,dual_di]", "--set", "epochs=3")
    procs = [_sweep(tmp_path, *extra) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    trained = [int(re.search(r"trained (\d+)", out).group(1)) for out, _ in outs]
    assert sum(trained) == len(_records(tmp_path)) == 6  # 3 configurations x 2 folds, once each
    assert not _leftovers(tmp_path)
    (data,) = (tmp_path / "cache" / "datasets").iterdir()
    assert (data / "SYNTHETIC.json").is_file()  # one complete dataset, published whole


def _wait_for(pred, timeout=300.0, proc=None):
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, "timed out"
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)


def test_kill_9_of_a_worker_mid_fold_then_rerun_loses_and_duplicates_nothing(tmp_path):
    extra = ("--set", "executor=processes", "--set", "workers=2", "--set", "epochs=40")
    extra += ("--set", "patience=40", "--set", "configurations=[baseline,dual_di]")
    proc = _sweep(tmp_path, *extra)
    claims = lambda: list((tmp_path / "results").rglob("*.json.claim"))  # noqa: E731
    _wait_for(lambda: (tmp_path / "results").is_dir() and claims(), proc=proc)
    victim = claims()[0]
    pid = json.loads(victim.read_text())["pid"]
    assert pid != proc.pid  # a worker, not the sweep itself
    os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=300)
    assert proc.returncode != 0  # the sweep noticed its broken worker
    before = {p: p.read_bytes() for p in _records(tmp_path)}
    again = _sweep(tmp_path, *extra)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    assert len(_records(tmp_path)) == 4 and not _leftovers(tmp_path)
    assert all(p.read_bytes() == b for p, b in before.items())  # finished folds kept as they were
    assert f"trained {4 - len(before)}" in out


def test_ctrl_c_prints_one_line_saying_how_to_resume(tmp_path):
    proc = _sweep(tmp_path, "--set", "epochs=40", "--set", "patience=40")
    _wait_for(lambda: bool(list(tmp_path.rglob("*.json.claim"))), proc=proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert re.search(r"interrupted; rerun the same command to resume: \d of 4 folds done", err)


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def test_kill_9_during_data_generation_leaves_no_orphans_and_no_half_dataset(tmp_path, monkeypatch):
    from mer_utils.datasets import open_dataset

    scale = ("--set", "synthetic_scale=0.3", "--set", "smoke=false", "--set", "epochs=1")
    proc = _sweep(tmp_path, *scale)
    _wait_for(lambda: len(_children(proc.pid)) >= 2, timeout=120, proc=proc)  # the render pool
    _wait_for(lambda: any((tmp_path / "cache" / "datasets").glob(".*.tmp/Cropped")), proc=proc)
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _wait_for(lambda: not any(Path(f"/proc/{w}").exists() for w in workers), timeout=30)
    datasets = tmp_path / "cache" / "datasets"
    published = [p for p in datasets.iterdir() if not p.name.startswith(".")]
    assert [p.suffix for p in published] == [".claim"]  # a stale claim, no half dataset
    monkeypatch.setenv("MER_ROOT", str(tmp_path))
    ds = open_dataset(load_config("smoke", synthetic_scale=0.3, smoke=False))
    assert len(ds.samples) > 50 and (ds.root / "SYNTHETIC.json").is_file()
    assert not [p for p in datasets.iterdir() if p.name.startswith(".")]  # leftovers cleaned


def test_claims_respect_live_owners_and_take_over_dead_ones(tmp_path):
    path = tmp_path / "unit.json.claim"
    held = try_claim(path)
    assert held is not None and try_claim(path) is None and not is_stale(path)
    held.release()
    path.write_text(json.dumps(dict(host=HOST, pid=999_999_999, started=0)))  # a dead owner
    assert is_stale(path)
    taken = try_claim(path)
    assert taken is not None and json.loads(path.read_text())["pid"] == os.getpid()
    taken.release()
    path.write_text(json.dumps(dict(host="another-node", pid=1, started=0)))
    assert not is_stale(path, stale_s=60)  # another host: only the heartbeat's age tells
    old = time.time() - 120
    os.utime(path, (old, old))
    assert is_stale(path, stale_s=60)
