"""Where a sweep's fold units run (config field ``executor``; the names are a contract):

- ``local``: one after another in this process (per-epoch progress bars);
- ``processes``: ``workers`` worker processes on this machine (spawned; on CUDA they share the
  GPU, each with its own copy of the DI store), so several folds are in flight at once; their
  log lines reach this process's log, prefixed with the worker's name;
- ``slurm``: job arrays through submitit (``slurm: {partition, gpus_per_node, cpus_per_task,
  mem_gb, timeout_min, array_parallelism, units_per_job}``); ``slurm: {cluster: local}``
  runs the same path with submitit's local executor, without SLURM (CI tests it so).

Every executor calls the ``run_one`` it is given (the sweep's :func:`mer_utils.sweep.run_unit`,
passed in, so this module never imports the sweep back) on each :class:`~mer_utils.plan.Unit`;
it claims its unit atomically, so
any number of workers, sweeps and jobs can share one run; each unit seeds itself from (seed,
fold) alone, so for equal ``threads`` the records are bit-identical whichever executor ran them.

**When workers or jobs fail.** SIGTERM or SIGINT in a worker or a SLURM task releases its
claims and ends it at once (:func:`mer_utils.signals.exit_on_terminate`). The SLURM wait loop
watches the queue itself (:mod:`mer_utils.slurm_queue`) as well as submitit's result files: a
task that leaves the queue without a result (``scancel``, a time limit, a node failure, a
cancel while pending, which ``sacct`` never records), that fails, or that still runs
:data:`LIMIT_GRACE_S` past its time limit, stops the sweep: every task it submitted is
cancelled and :class:`UnitsFailed` names each failure, its state and its log. A task that
SLURM requeues (preemption) stays in the queue and is waited for. A worker process that dies
stops the pool the same way. The sweep turns UnitsFailed into one message with the folds not
done and the resume line.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import shutil
import signal
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mer_utils import slurm_queue, worker_logs
from mer_utils.claims import die_with_parent
from mer_utils.config import Config
from mer_utils.console import progress_bar
from mer_utils.plan import Unit
from mer_utils.signals import exit_on_terminate, watch_submitit_bypass

log = logging.getLogger(__name__)
watch_submitit_bypass()  # a SLURM task SIGTERMed while submitit loads it still exits at once


class RunOne(Protocol):
    """Runs one unit in any process (picklable by reference: a module-level function);
    returns "trained", "reused" or "busy"."""

    def __call__(self, unit: Unit, threads: int = 0, progress: bool = False) -> str: ...


POLL_S = 1.0  # how often result files are looked for
QUEUE_POLL_S = 5.0  # how often squeue is asked
GONE_GRACE_S = 20.0  # a task out of the queue this long without a result has ended without one
LIMIT_GRACE_S = 300.0  # a task still running this long past its time limit is given up on
STOP_WAIT_S = 90.0  # how long cancelled tasks are waited for (their claims released)
QUEUE_SILENT_S = 600.0  # SLURM not answering this long stops the sweep


class UnitsFailed(RuntimeError):
    """Worker processes or SLURM tasks ended without finishing their units; everything this
    sweep submitted has been stopped. The message names each failure and where its log is."""


def threads_per_unit(cfg: Config) -> int:
    """torch threads per unit: ``threads`` if set, else the cores shared among the workers
    (processes) or the job's CPUs (slurm); 0 = torch's default (local)."""
    if cfg.threads:
        return cfg.threads
    if cfg.executor == "processes":
        return max(1, (os.cpu_count() or 1) // cfg.workers)
    if cfg.executor == "slurm":
        return int(cfg.slurm.get("cpus_per_task", 0))
    return 0


def execute(
    cfg: Config, units: list[Unit], run_one: RunOne, log_dir: Path, progress: bool
) -> Counter:
    """Run ``run_one`` on each of ``units`` with ``cfg.executor``; returns how many were
    trained / reused / busy. Raises UnitsFailed when a worker or a job ended without finishing
    its units."""
    run = {"local": _local, "processes": _processes, "slurm": _slurm}[cfg.executor]
    return run(cfg, units, run_one, log_dir, progress)


def _local(
    cfg: Config, units: list[Unit], run_one: RunOne, log_dir: Path, progress: bool
) -> Counter:
    counts: Counter = Counter()
    for u in progress_bar(units, desc=f"sweep {cfg.dataset}", unit="fold", disable=not progress):
        counts[run_one(u, threads_per_unit(cfg), progress)] += 1
    return counts


# --- processes -------------------------------------------------------------------------------


def _worker_init(logs: str, level: int) -> None:
    """A worker's start: die with the parent, log through the parent, and on SIGTERM/SIGINT
    release its claims and exit."""
    die_with_parent()
    worker_logs.send_to(logs, level)
    exit_on_terminate("worker")


def _processes(
    cfg: Config, units: list[Unit], run_one: RunOne, log_dir: Path, progress: bool
) -> Counter:
    ctx = multiprocessing.get_context("spawn")  # no forked torch/CUDA state in the workers
    level = logging.getLogger().getEffectiveLevel()
    with worker_logs.serve() as logs:
        pool = ProcessPoolExecutor(
            cfg.workers, mp_context=ctx, initializer=_worker_init, initargs=(logs, level)
        )
        return _run_pool(pool, cfg, units, run_one, progress)


def _run_pool(
    pool: ProcessPoolExecutor, cfg: Config, units: list[Unit], run_one: RunOne, progress: bool
) -> Counter:
    counts: Counter = Counter()
    workers: dict = {}
    try:
        futures = [pool.submit(run_one, u, threads_per_unit(cfg)) for u in units]
        workers = dict(getattr(pool, "_processes", None) or {})  # pid -> process, for messages
        desc = f"sweep {cfg.dataset} ({cfg.workers} workers)"
        for f in progress_bar(
            as_completed(futures), total=len(units), desc=desc, unit="fold", disable=not progress
        ):
            counts[f.result()] += 1
    except BaseException as e:
        _stop_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)  # every worker has exited: codes known
        if isinstance(e, BrokenProcessPool):
            raise UnitsFailed(_dead_workers(workers)) from None
        raise
    pool.shutdown(wait=True)
    return counts


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """SIGTERM every live worker: each releases its claims and exits at once."""
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            if p.is_alive():
                p.terminate()


def _dead_workers(workers: dict) -> str:
    """Which worker processes died, and how."""
    dead = []
    for pid, p in workers.items():
        p.join(timeout=10)  # reaped by the pool's own thread, maybe not yet
        code = p.exitcode
        if code is not None and code != 0:
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            dead.append(f"worker process {pid} died ({how})")
    return "; ".join(dead or ["a worker process died"]) + "; the other workers were stopped"


# --- slurm -----------------------------------------------------------------------------------


def _slurm_task(run_one: RunOne, units: list[Unit], threads: int) -> list[str]:
    """One SLURM array task: log to the job's log files, release claims on SIGTERM (scancel,
    preemption, time limit), then run the units."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    env = os.environ
    array = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    task = "_".join(array) if all(array) else env.get("SLURM_JOB_ID", f"pid {os.getpid()}")
    exit_on_terminate(f"slurm task {task}")
    return [run_one(u, threads) for u in units]


def _slurm(
    cfg: Config, units: list[Unit], run_one: RunOne, log_dir: Path, progress: bool
) -> Counter:
    import submitit

    s = cfg.slurm
    if s.get("cluster") is None and shutil.which("srun") is None:
        raise UnitsFailed("executor=slurm: no SLURM here (no srun on PATH); run the sweep on the cluster's login node, or set slurm: {cluster: local} to try the path locally")  # fmt: skip
    ex = submitit.AutoExecutor(folder=log_dir / "%j", cluster=s.get("cluster"))
    given = {k: s[k] for k in ("gpus_per_node", "cpus_per_task", "mem_gb") if k in s}
    limit_min = int(s.get("timeout_min", 240))
    ex.update_parameters(
        name=f"mer-{cfg.dataset}",
        timeout_min=limit_min,
        slurm_partition=s.get("partition"),
        slurm_array_parallelism=int(s.get("array_parallelism", 64)),
        **given,
    )
    k = int(s.get("units_per_job", 1))
    chunks = [units[i : i + k] for i in range(0, len(units), k)]
    threads = threads_per_unit(cfg)
    try:
        jobs = ex.map_array(_slurm_task, [run_one] * len(chunks), chunks, [threads] * len(chunks))
    except (submitit.core.utils.UncompletedJobError, submitit.core.utils.FailedSubmissionError, OSError) as e:  # fmt: skip
        said = [ln for ln in str(e).splitlines() if ln.strip()] or [type(e).__name__]
        raise UnitsFailed(
            f"sbatch refused the job array: {said[-1].strip()} (slurm: {s})"
        ) from None
    tasks = [_Task(j, c) for j, c in zip(jobs, chunks, strict=True)]
    desc = f"sweep {cfg.dataset} ({ex.cluster}, {len(jobs)} jobs)"
    return _Watch(tasks, queued=ex.cluster == "slurm").collect(desc, progress)


@dataclass
class _Task:
    """One submitted job (a SLURM array task) and the units it runs."""

    job: Any  # a submitit Job
    units: list[Unit]
    gone_since: float | None = None  # when it was first missing from the queue

    @property
    def id(self) -> str:
        return str(self.job.job_id)

    def describe(self, reason: str) -> str:
        units = ", ".join(u.label for u in self.units)
        err = Path(self.job.paths.stderr)
        return f"task {self.id} ({units}): {reason}" + (
            f"; its log: {err}" if err.is_file() else ""
        )


class _Watch:
    """Waits for submitted tasks: their result files and, on SLURM (``queued``), the queue."""

    def __init__(self, tasks: list[_Task], queued: bool):
        self.tasks, self.left, self.queued = list(tasks), list(tasks), queued
        self.counts: Counter = Counter()
        self.failed: list[tuple[_Task, str]] = []
        self._asked = self._reported = 0.0  # when squeue was last asked / the queue reported
        self._answered = time.time()  # when squeue last answered

    def collect(self, desc: str, progress: bool) -> Counter:
        """Wait until every task has finished (returns the units' statuses) or one has failed
        (stops the others, raises UnitsFailed). Ctrl-C or SIGTERM stops them too."""
        total = sum(len(t.units) for t in self.left)
        with progress_bar(total=total, desc=desc, unit="fold", disable=not progress) as bar:
            try:
                while self.left and not self.failed:
                    self._poll(bar)
                    if self.left and not self.failed:
                        time.sleep(POLL_S)
            except KeyboardInterrupt:
                self._stop("interrupted")
                raise
        if self.failed:
            reasons = [task.describe(why) for task, why in self._explained()]
            others = len(self.left)
            self._stop("a task failed")
            cancelled = f" (its {others} other unfinished task(s) were cancelled)" if others else ""
            raise UnitsFailed("; ".join(reasons) + cancelled)
        self._cancel_requeued()
        return self.counts

    def _cancel_requeued(self) -> None:
        """Once every result is in: let the tasks exit (at most STOP_WAIT_S), and cancel any
        that SLURM requeued after it had finished (preempted while exiting; it would only find
        its records done)."""
        deadline = time.time() + STOP_WAIT_S
        with contextlib.suppress(slurm_queue.QueueError):
            while self.queued and time.time() < deadline:
                states = slurm_queue.queue(t.id for t in self.tasks)
                again = sorted(tid for tid, state in states.items() if state.waiting)
                if again:
                    log.info(
                        "cancelling %s: requeued after finishing (preempted)", ", ".join(again)
                    )
                    slurm_queue.cancel(again)
                if not states:
                    return
                time.sleep(1.0)

    def _poll(self, bar: Any) -> None:
        now = time.time()
        states = self._states(now)
        for task in list(self.left):
            verdict, value = self._check(task, states, now)
            if verdict == "ok":
                self.counts.update(value)
                bar.update(len(task.units))
            elif verdict == "failed":
                self.failed.append((task, value))
            if verdict != "wait":
                self.left.remove(task)

    def _check(self, task: _Task, states: dict | None, now: float) -> tuple[str, Any]:
        """("ok", statuses), ("failed", why) or ("wait", None) for one task."""
        ended = not self.queued and task.job.done()  # before the result file: no race
        if task.job.paths.result_pickle.exists():
            try:
                return "ok", task.job.result()
            except Exception as e:  # the job's own exception, pickled by submitit
                return "failed", _job_error(e)
        if not self.queued:
            return ("failed", "its process ended without a result") if ended else ("wait", None)
        if states is None:  # the queue was not asked this round, or did not answer
            return "wait", None
        state = states.get(task.id)
        if state is None:
            task.gone_since = task.gone_since or now
            if now - task.gone_since > GONE_GRACE_S:
                return "failed", "left the queue without a result"
            return "wait", None
        task.gone_since = None
        late = (state.elapsed_s or 0) - (state.limit_s or float("inf"))
        if state.running and late > LIMIT_GRACE_S:
            return "failed", f"still {state.state} {late:.0f} s past its time limit"
        return "wait", None

    def _states(self, now: float) -> dict | None:
        """The queue's tasks, asked at most every QUEUE_POLL_S; None when not asked or when
        SLURM did not answer (after QUEUE_SILENT_S of silence every task counts as failed)."""
        if not self.queued or now - self._asked < QUEUE_POLL_S:
            return None
        self._asked = now
        try:
            states = slurm_queue.queue(t.id for t in self.left)
        except slurm_queue.QueueError as e:
            silent = now - self._answered
            log.warning("SLURM did not answer (%s); %.0f s without an answer so far", e, silent)
            if silent > QUEUE_SILENT_S:
                self.failed = [(t, f"SLURM has not answered for {silent:.0f} s") for t in self.left]
            return None
        self._answered = now
        if now - self._reported > 300:
            self._reported = now
            log.info("slurm: %s", _summary(states.values()) or "no task in the queue")
        return states

    def _explained(self) -> list[tuple[_Task, str]]:
        """The failures, each task that left the queue with how sacct says it ended."""
        gone = [t for t, why in self.failed if why == "left the queue without a result"]
        rows = slurm_queue.accounting(t.id for t in gone) if gone and self.queued else {}
        return [(t, _ended(rows.get(t.id)) if t in gone else why) for t, why in self.failed]

    def _stop(self, why: str) -> None:
        """Cancel every unfinished task and wait (at most STOP_WAIT_S) until they have ended,
        so their claims are released before the sweep exits."""
        if not self.left:
            return
        ids = [t.id for t in self.left]
        log.warning("%s: cancelling %d unfinished task(s) of this sweep", why, len(ids))
        try:
            if self.queued:
                slurm_queue.cancel(ids)
            for t in [] if self.queued else self.left:
                _cancel_local(t.job)
        except (slurm_queue.QueueError, OSError) as e:
            log.warning("could not cancel tasks %s: %s", ", ".join(ids), e)
            return
        deadline = time.time() + STOP_WAIT_S
        while (alive := self._alive()) and time.time() < deadline:
            time.sleep(1.0)
        if alive:
            log.warning(
                "tasks %s still running %.0f s after scancel", ", ".join(alive), STOP_WAIT_S
            )

    def _alive(self) -> list[str]:
        if not self.queued:
            return [t.id for t in self.left if not t.job.done()]
        with contextlib.suppress(slurm_queue.QueueError):
            return sorted(slurm_queue.queue(t.id for t in self.left).keys() & {t.id for t in self.left})  # fmt: skip
        return []


def _cancel_local(job: Any) -> None:
    """Stop a job of submitit's local executor with SIGTERM, which its controller forwards
    to the task (``job.cancel`` sends SIGINT, which the controller dies of with a traceback)."""
    process = getattr(job, "_process", None)
    if process is None:
        job.cancel(check=False)
    elif process.poll() is None:
        process.send_signal(signal.SIGTERM)


def _summary(states: Any) -> str:
    """``2 RUNNING, 3 PENDING (Resources)``: the queue's tasks by state and pending reason."""
    by = Counter(f"{s.state} ({s.reason})" if s.waiting else s.state for s in states)
    return ", ".join(f"{n} {what}" for what, n in sorted(by.items()))


_ENDED = {
    "TIMEOUT": "ended TIMEOUT (it reached its time limit: raise slurm.timeout_min)",
    "CANCELLED": "ended CANCELLED (scancel, by you or an admin)",
    "PREEMPTED": "ended PREEMPTED (and was not requeued)",
    "OUT_OF_MEMORY": "ended OUT_OF_MEMORY (raise slurm.mem_gb)",
    "NODE_FAIL": "ended NODE_FAIL (its node failed)",
}


def _ended(row: slurm_queue.TaskState | None) -> str:
    """How a task that left the queue without a result ended, from its sacct row."""
    if row is None:
        return "left the queue without a result and without an accounting row (cancelled while pending, or accounting is off)"  # fmt: skip
    return _ENDED.get(row.state, f"ended {row.state} (exit code {row.reason}) without a result")


def _job_error(e: Exception) -> str:
    """The last line of a job's traceback (``FailedJobError``), without module paths."""
    text = str(e)
    if "with trace:" in text:
        text = text.split("-" * 22)[1] if text.count("-" * 22) >= 2 else text
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else type(e).__name__
    return "failed: " + re.sub(r"^(?:\w+\.)+(\w+): ", r"\1: ", last)
