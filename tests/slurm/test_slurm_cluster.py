"""The sweep on a real SLURM cluster (``make test-slurm``; ``.ci/slurm_up.sh`` starts one):
a normal array run gives the records of ``executor=local``; what clusters do to jobs (scancel
of a pending or a running task, SIGTERM to a task or to the sweep, preemption) never hangs the
sweep (every wait here has a deadline), never loses or duplicates a fold, and a rerun finishes
exactly the missing folds."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("cluster")]

# Tiny and quick, as the shared 2-core CI machine needs: LEARNet, 2 configurations x 2 folds.
BASE = ["--config", "smoke", "--set", "models=[learnet]", "--set", "threads=1"]
# Folds long enough (25 epochs, a few seconds each) to signal a task in the middle of one.
SLOW = ["--set", "smoke=false", "--set", "synthetic_scale=0.06", "--set", "synthetic_size=[68,56]",
        "--set", "folds=2", "--set", "max_folds=2", "--set", "epochs=25", "--set", "patience=25"]  # fmt: skip
DEADLINE_S = 420  # no sweep here may take longer: a hang fails the test


def _slurm(**params) -> list[str]:
    opts = ", ".join(f"{k}: {v}" for k, v in {"timeout_min": 10, "cpus_per_task": 1, **params}.items())  # fmt: skip
    return ["--set", "executor=slurm", "--set", f"slurm={{{opts}}}"]


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _stop_leftover_sweeps():
    """A failed test leaves no sweep running (SIGTERM: it cancels its tasks)."""
    yield
    for proc in _STARTED:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=120)
    _STARTED.clear()


def _sweep(root: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "MER_ROOT": str(root), "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "mer_utils.sweep", *BASE, *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    _STARTED.append(proc)
    return proc


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=DEADLINE_S)
    return proc.returncode, out, err


def _records(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted((root / "results").rglob("seed*-fold*.json"))}


def _claims(root: Path) -> list[Path]:
    return sorted((root / "results").rglob("seed*-fold*.json.claim"))


def _counts(out: str) -> tuple[int, int, int]:
    m = re.search(r"(\d+) of 4 folds done here, (\d+) by other sweeps, (\d+) already done", out)
    assert m, out[-2000:]
    return tuple(int(g) for g in m.groups())


def _array(root: Path) -> str:
    """The array job id of the latest sweep under ``root`` (submitit's log folders)."""
    ids = {int(p.name.split("_")[0]) for p in (root / "results").rglob("slurm/*_*") if p.is_dir()}
    return str(max(ids))


def _queue(job: str, reason: str | None = None) -> dict[str, str]:
    """Task id -> state of the tasks of array ``job`` still in the queue (pending for
    ``reason`` only, if given)."""
    r = subprocess.run(["squeue", "-h", "-r", "-j", job, "-o", "%i %T %r"], capture_output=True, text=True)  # fmt: skip
    rows = [line.split(maxsplit=2) for line in r.stdout.splitlines()] if r.returncode == 0 else []
    return {t: s for t, s, why in rows if reason is None or (s == "PENDING" and why == reason)}


def _wait_for(pred, proc: subprocess.Popen, timeout: float = 300.0):
    deadline = time.time() + timeout
    while not (got := pred()):
        assert time.time() < deadline, "timed out"
        if proc.poll() is not None:
            raise AssertionError(f"sweep exited early: {proc.stderr.read()[-3000:]}")
        time.sleep(0.2)
    return got


def _sacct(job: str, *extra: str) -> str:
    cmd = ["sacct", "-n", "-P", "-X", *extra, "-j", job, "-o", "JobID,State"]
    return subprocess.run(cmd, capture_output=True, text=True).stdout


def _task_of(claim: Path) -> str | None:
    """The SLURM task (``<array>_<index>``) whose process holds ``claim`` (single node: its
    environment in /proc), or None if the claim or the process is gone."""
    try:
        env = dict(kv.split(b"=", 1) for kv in Path(f"/proc/{json.loads(claim.read_text())['pid']}/environ").read_bytes().split(b"\0") if b"=" in kv)  # fmt: skip
    except (OSError, ValueError, KeyError):
        return None
    array, index = env.get(b"SLURM_ARRAY_JOB_ID"), env.get(b"SLURM_ARRAY_TASK_ID")
    return f"{array.decode()}_{index.decode()}" if array and index else None


def _running_task(root: Path, proc: subprocess.Popen) -> str:
    """A task of the sweep in the middle of a fold: it holds a fold's claim right now."""

    def holder() -> str | None:
        claims = _claims(root) if (root / "results").is_dir() else []
        return next((t for c in claims if (t := _task_of(c)) and c.exists()), None)

    return _wait_for(holder, proc)


def _log(root: Path, task: str) -> str:
    """The stderr log of a task (every attempt: submitit appends)."""
    return "".join(p.read_text() for p in (root / "results").rglob(f"slurm/{task}/*_log.err"))


def _one_line(err: str) -> str:
    """The sweep's message: one ``sweep:`` line, no traceback."""
    assert "Traceback" not in err, err[-3000:]
    (line,) = [ln for ln in err.splitlines() if ln.startswith("sweep:")]
    return line


def _settled(root: Path) -> None:
    """After a sweep exits: none of its tasks left in the queue, no claim left on disk."""
    assert _queue(_array(root)) == {}
    assert _claims(root) == []


def test_a_normal_array_run_gives_the_records_of_local(tmp_path):
    outcome = {}
    for name, args in (("local", ["--set", "executor=local"]), ("slurm", _slurm())):
        rc, out, err = _finish(_sweep(tmp_path / name, *args))
        assert rc == 0, err[-3000:]
        assert _counts(out) == (4, 0, 0)
        recs = [json.loads(b) for b in _records(tmp_path / name).values()]
        outcome[name] = sorted((r["params"]["configuration"], r["params"]["fold"], r["y_pred"], json.dumps(r["history"])) for r in recs)  # fmt: skip
    assert len(outcome["slurm"]) == 4 and outcome["slurm"] == outcome["local"]
    job = _array(tmp_path / "slurm")
    assert _queue(job) == {}  # the sweep returns once its tasks have ended
    expected = [f"{job}_{i}|COMPLETED" for i in range(4)]  # one job array of 4 tasks
    deadline = time.time() + 60  # slurmdbd records the ends a moment later
    while (rows := sorted(_sacct(job).split())) != expected and time.time() < deadline:
        time.sleep(1)
    assert rows == expected


def test_scancel_of_a_pending_then_of_a_running_task_then_a_rerun_loses_and_duplicates_nothing(
    tmp_path,
):
    # a pending task cancelled: sacct never records it; the sweep notices from the queue
    proc = _sweep(tmp_path, *SLOW, *_slurm(array_parallelism=1))
    _running_task(tmp_path, proc)
    pending = sorted(t for t, s in _queue(_array(tmp_path)).items() if s == "PENDING")
    subprocess.run(["scancel", pending[-1]], check=True)
    rc, _, err = _finish(proc)
    line = _one_line(err)
    assert rc == 1 and f"task {pending[-1]} (" in line and "cancelled while pending" in line
    assert re.search(r"not finished: .*; rerun the same command to resume: \d of 4 folds done", line)  # fmt: skip
    _settled(tmp_path)

    # a running task cancelled: its claim released, the sweep stops and says which folds
    proc = _sweep(tmp_path, *SLOW, *_slurm())
    task = _running_task(tmp_path, proc)
    subprocess.run(["scancel", task], check=True)
    rc, _, err = _finish(proc)
    line = _one_line(err)
    assert rc == 1 and f"task {task} (" in line and "ended CANCELLED" in line
    assert re.search(rf"slurm task {task} \(pid \d+\): SIGTERM: released 1 claim", _log(tmp_path, task))  # fmt: skip
    _settled(tmp_path)

    before = _records(tmp_path)
    rc, out, err = _finish(_sweep(tmp_path, *SLOW, *_slurm()))
    assert rc == 0, err[-3000:]
    after = _records(tmp_path)
    assert len(after) == 4 and all(after[p] == b for p, b in before.items())  # kept as they were
    assert _counts(out) == (4 - len(before), 0, len(before))  # only the missing folds trained
    _settled(tmp_path)


def test_sigterm_to_a_task_or_to_the_sweep_then_a_rerun_finishes_only_the_missing_folds(tmp_path):
    # SIGTERM to one task (what SLURM sends at a time limit): it releases its claim and ends
    proc = _sweep(tmp_path, *SLOW, *_slurm())
    task = _running_task(tmp_path, proc)
    subprocess.run(["scancel", "--signal=TERM", task])  # exits 229 even when delivered
    rc, _, err = _finish(proc)
    line = _one_line(err)
    assert rc == 1 and f"task {task} (" in line, line
    assert re.search(rf"slurm task {task} \(pid \d+\): SIGTERM: released 1 claim", _log(tmp_path, task))  # fmt: skip
    _settled(tmp_path)

    # SIGTERM to the sweep itself: it cancels its tasks, prints the resume line, exits 143
    proc = _sweep(tmp_path, *SLOW, *_slurm())
    _running_task(tmp_path, proc)
    proc.send_signal(signal.SIGTERM)
    rc, _, err = _finish(proc)
    assert rc == 143 and "Traceback" not in err, err[-3000:]
    assert re.search(r"terminated \(SIGTERM\); rerun the same command to resume: \d of 4", err)
    _settled(tmp_path)

    before = _records(tmp_path)
    rc, out, err = _finish(_sweep(tmp_path, *SLOW, *_slurm()))
    assert rc == 0, err[-3000:]
    assert len(_records(tmp_path)) == 4 and _counts(out) == (4 - len(before), 0, len(before))
    _settled(tmp_path)


def test_preempted_tasks_are_requeued_and_the_sweep_finishes_by_itself(tmp_path):
    parts = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True).stdout
    if "urgent" not in parts.split():
        pytest.skip("needs the `urgent` partition of .ci/slurm_up.sh (it preempts `debug`)")
    cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True).stdout.split()[0]  # fmt: skip
    proc = _sweep(tmp_path, *SLOW, *_slurm(partition="debug"))
    task = _running_task(tmp_path, proc)
    job = _array(tmp_path)
    urgent = ["sbatch", "--parsable", "-p", "urgent", "-c", cpus, "-t", "1", "--wrap", "sleep 3"]
    subprocess.run(urgent, check=True, capture_output=True)
    requeued = _wait_for(lambda: task in _queue(job, reason="BeginTime") and _queue(job, reason="BeginTime"), proc)  # fmt: skip
    for t in requeued:  # skip Slurm's 2-minute delay before a requeued job may start again
        subprocess.run(["scontrol", "update", f"JobId={t}", "StartTime=now"], capture_output=True)
    rc, out, err = _finish(proc)
    assert rc == 0, err[-3000:]
    assert _counts(out) == (4, 0, 0) and len(_records(tmp_path)) == 4  # each fold once
    assert f"{task}|PREEMPTED" in _sacct(job, "-D").split()  # -D: every attempt
    assert re.search(rf"slurm task {task} \(pid \d+\): SIGTERM: released 1 claim", _log(tmp_path, task))  # fmt: skip
    _settled(tmp_path)


def test_a_job_array_sbatch_refuses_is_one_line(tmp_path):
    rc, _, err = _finish(_sweep(tmp_path, *_slurm(partition="no_such_partition")))
    line = _one_line(err)
    assert rc == 1 and "sbatch refused the job array: " in line and "partition" in line, line
    assert "rerun the same command to resume: 0 of 4 folds done" in line
