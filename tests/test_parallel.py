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
from mer_utils.records import RECORD_SCHEMA
from mer_utils.sweep import run_sweep

pytestmark = pytest.mark.slow
SMOKE = ["--config", "smoke", "--set", "models=[learnet]", "--set", "threads=1"]
# The smoke data and folds, with folds long enough (25 epochs, seconds each) that a signal sent
# when a fold's claim appears lands in the middle of that fold, even on a busy machine (smoke
# caps epochs at 2: a whole sweep could end before the signal arrives).
LONG = ("--set", "smoke=false", "--set", "synthetic_scale=0.06", "--set", "synthetic_size=[68,56]",
        "--set", "folds=2", "--set", "max_folds=2", "--set", "epochs=25", "--set", "patience=25")  # fmt: skip


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
    return subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_from_a_terminal,
    )


def _as_from_a_terminal() -> None:
    """The sweep gets Ctrl-C as a terminal gives it: a shell's background job (`make test &`,
    `nohup`) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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
    counts = [_counts(out, 6) for out, _ in outs]
    assert sum(c[0] for c in counts) == len(_records(tmp_path)) == 6  # 3 x 2 folds, once each
    assert all(sum(c) == 6 for c in counts)  # every fold: done here, by the other, or before
    assert not _leftovers(tmp_path)
    (data,) = (tmp_path / "cache" / "datasets").iterdir()
    assert (data / "SYNTHETIC.json").is_file()  # one complete dataset, published whole


def _counts(out: str, n: int) -> tuple[int, int, int]:
    """(done here, by other sweeps, already done) from a sweep's summary line."""
    pattern = rf"(\d+) of {n} folds done here, (\d+) by other sweeps, (\d+) already done"
    return tuple(int(g) for g in re.search(pattern, out).groups())


def _wait_for(pred, timeout=300.0, proc=None):
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, "timed out"
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)


def test_kill_9_of_a_worker_mid_fold_then_rerun_loses_and_duplicates_nothing(tmp_path):
    extra = ("--set", "executor=processes", "--set", "workers=2", *LONG)
    extra += ("--set", "configurations=[baseline,dual_di]")
    proc = _sweep(tmp_path, *extra)
    claims = lambda: list((tmp_path / "results").rglob("seed*-fold*.json.claim"))  # noqa: E731
    _wait_for(lambda: (tmp_path / "results").is_dir() and claims(), proc=proc)
    victim = claims()[0]
    pid = json.loads(victim.read_text())["pid"]
    assert pid != proc.pid  # a worker, not the sweep itself
    os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1  # the sweep noticed its broken worker, and says so in one line
    assert "Traceback" not in err and f"worker process {pid} died (killed by SIGKILL)" in err, err[
        -3000:
    ]
    assert re.search(r"not finished: .*; rerun the same command to resume: \d of 4 folds done", err)
    before = {p: p.read_bytes() for p in _records(tmp_path)}
    again = _sweep(tmp_path, *extra)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    assert len(_records(tmp_path)) == 4 and not _leftovers(tmp_path)
    assert all(p.read_bytes() == b for p, b in before.items())  # finished folds kept as they were
    assert _counts(out, 4) == (4 - len(before), 0, len(before))


def test_ctrl_c_prints_one_line_saying_how_to_resume(tmp_path):
    proc = _sweep(tmp_path, *LONG)
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


def _valid_records(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in _records(root) if json.loads(p.read_bytes())["schema"] == RECORD_SCHEMA}  # fmt: skip


def test_sigterm_is_ctrl_c_for_every_executor_then_a_rerun_finishes_only_what_is_missing(tmp_path):
    """SIGTERM (time limit, preemption, kill) to the sweep: claims released, one resume line,
    exit 143, with local, processes and slurm (submitit local) alike. Then a rerun with a
    record of an old schema planted: its worker's WARNING naming the file reaches the
    parent's log, and only the missing folds are trained."""
    claims = lambda: list((tmp_path / "results").rglob("seed*-fold*.json.claim"))  # noqa: E731
    for executor in (
        ("--set", "executor=local"),
        ("--set", "executor=processes", "--set", "workers=2"),
        ("--set", "executor=slurm", "--set", "slurm={cluster: local, timeout_min: 10}"),
    ):
        proc = _sweep(tmp_path, *LONG, *executor)
        _wait_for(lambda: (tmp_path / "results").is_dir() and claims(), proc=proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 143, (executor, err[-3000:])
        assert "Traceback" not in err, err[-3000:]
        assert re.search(r"terminated \(SIGTERM\); rerun the same command to resume: \d of 4 folds done", err)  # fmt: skip
        assert not _leftovers(tmp_path), executor  # every claim released, by parent or worker
    (run,) = (tmp_path / "results").glob("*/*/run.json")
    old = run.parent / "runs" / "learnet" / "baseline" / "seed0-fold1.json"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text(json.dumps({"schema": RECORD_SCHEMA - 1}))
    before = _valid_records(tmp_path)
    again = _sweep(tmp_path, *LONG, "--set", "executor=processes", "--set", "workers=2")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    assert re.search(rf"WARNING mer_utils.sweep: \[SpawnProcess-\d+\] {re.escape(str(old))}: not reusable \(schema {RECORD_SCHEMA - 1}, expected {RECORD_SCHEMA}\); the fold is redone", err)  # fmt: skip
    assert len(_valid_records(tmp_path)) == 4 and not _leftovers(tmp_path)
    assert all(p.read_bytes() == b for p, b in before.items())  # done folds kept as they were
    assert _counts(out, 4) == (4 - len(before), 0, len(before))


def test_a_full_disk_stops_the_sweep_with_one_line_and_a_rerun_resumes(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(results)]
    r = subprocess.run(mount, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"a real full disk needs a small tmpfs (root): {r.stderr.strip()}")
    try:
        proc = _sweep(tmp_path)
        _, err = proc.communicate(timeout=300)
        problems = [ln for ln in err.splitlines() if not ln.startswith(("INFO", "WARNING"))]
    finally:
        subprocess.run(["umount", str(results)], check=True)
    assert proc.returncode == 1 and "Traceback" not in err, err[-3000:]
    (line,) = [ln for ln in problems if ln.startswith("sweep:")]
    assert re.match(r"sweep: disk full writing \S+/results/\S+: it needs more than .* MB free there\)", line)  # fmt: skip
    assert "rerun the same command to resume: 0 of 4 folds done" in line
    again = _sweep(tmp_path)  # the disk has space again (the tmpfs is gone)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0 and _counts(out, 4) == (4, 0, 0), err[-3000:]
