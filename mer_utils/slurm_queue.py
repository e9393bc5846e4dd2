"""What SLURM says about our jobs: ``squeue`` (tasks still in the queue), ``sacct`` (how the
ones that left it ended, when accounting is on) and ``scancel``.

Submitit alone cannot see every way a task ends: a task cancelled while pending has no ``sacct``
row (and without accounting no task has one), so its state stays unknown and a wait on it never
ends. The sweep's wait loop (:mod:`mer_utils.executors`) therefore asks the queue itself: a task
that is neither in ``squeue`` nor has a result has ended without one. Task ids are SLURM's
``<array job>_<index>`` strings (or a plain job id), as submitit's ``job.job_id``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

# States of a task that will still run (or is running): keep waiting.
WAITING = ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING",
           "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "SPECIAL_EXIT")  # fmt: skip
RUNNING = ("RUNNING", "COMPLETING")


class QueueError(RuntimeError):
    """SLURM did not answer (controller down, command missing): the state is unknown."""


@dataclass(frozen=True)
class TaskState:
    """One task as ``squeue`` or ``sacct`` reports it."""

    task_id: str  # "17_3" (array task) or "17"
    state: str  # PENDING, RUNNING, COMPLETED, CANCELLED, TIMEOUT, PREEMPTED, FAILED, ...
    reason: str  # squeue: why it is pending ("Resources", "BeginTime"); sacct: the exit code
    elapsed_s: float | None  # time it has run (this attempt), None if unknown
    limit_s: float | None  # its time limit, None if unlimited or unknown

    @property
    def waiting(self) -> bool:
        return self.state in WAITING

    @property
    def running(self) -> bool:
        return self.state in RUNNING


def parse_duration(text: str) -> float | None:
    """SLURM's ``[days-]hours:minutes:seconds`` / ``minutes:seconds`` -> seconds; None for
    ``UNLIMITED``, ``INVALID``, ``N/A`` or an empty field."""
    m = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)(?:\.\d+)?", text.strip())
    if not m:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def _run(cmd: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise QueueError(f"{cmd[0]}: {e}") from None


def _jobs(task_ids: Iterable[str]) -> str:
    """The distinct job ids (array ids) of ``task_ids``, comma separated, as squeue/sacct take."""
    return ",".join(sorted({t.split("_")[0] for t in task_ids}))


def queue(task_ids: Iterable[str]) -> dict[str, TaskState]:
    """The tasks of ``task_ids``' jobs that are still in the queue (pending, running,
    completing, requeued), one per array task. Raises QueueError when SLURM does not answer."""
    ids = list(task_ids)
    if not ids:
        return {}
    r = _run(["squeue", "-h", "-r", "-j", _jobs(ids), "-o", "%i|%T|%r|%M|%l"])
    if r.returncode != 0:
        if "Invalid job id" in r.stderr:  # every job of ours has left the queue and aged out
            return {}
        raise QueueError(f"squeue: {r.stderr.strip() or f'exit {r.returncode}'}")
    out = {}
    for line in r.stdout.splitlines():
        tid, state, reason, elapsed, limit = (line.split("|") + [""] * 5)[:5]
        out[tid] = TaskState(tid, state, reason, parse_duration(elapsed), parse_duration(limit))
    return out


def accounting(task_ids: Iterable[str]) -> dict[str, TaskState]:
    """How the tasks of ``task_ids``' jobs ended (or stand), from ``sacct``; empty when
    accounting is off or SLURM does not answer. A task cancelled while pending has no row."""
    ids = list(task_ids)
    if not ids:
        return {}
    fields = "JobID,State,ExitCode,Elapsed,Timelimit"
    r = _run(["sacct", "-n", "-P", "-X", "-j", _jobs(ids), "-o", fields])
    if r.returncode != 0:
        return {}
    out = {}
    for line in r.stdout.splitlines():
        tid, state, code, elapsed, limit = (line.split("|") + [""] * 5)[:5]
        state = state.split(" ")[0]  # "CANCELLED by 0" -> CANCELLED
        out[tid] = TaskState(tid, state, code, parse_duration(elapsed), parse_duration(limit))
    return out


def cancel(task_ids: Iterable[str]) -> None:
    """``scancel`` each task of ``task_ids`` that is still queued or running (one call)."""
    ids = sorted(set(task_ids))
    if ids:
        r = _run(["scancel", *ids])
        if r.returncode != 0 and "Invalid job id" not in r.stderr:
            raise QueueError(f"scancel: {r.stderr.strip() or f'exit {r.returncode}'}")
