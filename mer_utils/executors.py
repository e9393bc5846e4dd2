"""Where a sweep's fold units run (config field ``executor``; the names are a contract):

- ``local``: one after another in this process (per-epoch progress bars);
- ``processes``: ``workers`` worker processes on this machine (spawned; on CUDA they share the
  GPU, each with its own copy of the DI store), so several folds are in flight at once;
- ``slurm``: job arrays through submitit (``slurm: {partition, gpus_per_node, cpus_per_task,
  mem_gb, timeout_min, array_parallelism, units_per_job}``); ``slurm: {cluster: local}``
  runs the same path with submitit's local executor, without SLURM (CI tests it so).

Every executor calls :func:`mer_utils.sweep.run_unit`, which claims its unit atomically, so
any number of workers, sweeps and jobs can share one run; each unit seeds itself from (seed,
fold) alone, so for equal ``threads`` the records are bit-identical whichever executor ran them.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from mer_utils.claims import die_with_parent
from mer_utils.config import Config
from mer_utils.console import progress_bar

Unit = tuple[str, str, int, int]  # (model, configuration, seed, fold)


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


def execute(cfg: Config, params: dict, units: list[Unit], log_dir: Path, progress: bool) -> Counter:
    """Run ``units`` with ``cfg.executor``; returns how many were trained / reused / busy."""
    run = {"local": _local, "processes": _processes, "slurm": _slurm}[cfg.executor]
    return run(cfg, params, units, log_dir, progress)


def _local(cfg: Config, params: dict, units: list[Unit], log_dir: Path, progress: bool) -> Counter:
    from mer_utils.sweep import run_unit

    counts: Counter = Counter()
    for u in progress_bar(units, desc=f"sweep {cfg.dataset}", unit="fold", disable=not progress):
        counts[run_unit(params, u, threads_per_unit(cfg), progress)] += 1
    return counts


def _processes(
    cfg: Config, params: dict, units: list[Unit], log_dir: Path, progress: bool
) -> Counter:
    from mer_utils.sweep import run_unit

    counts: Counter = Counter()
    ctx = multiprocessing.get_context("spawn")  # no forked torch/CUDA state in the workers
    pool = ProcessPoolExecutor(cfg.workers, mp_context=ctx, initializer=die_with_parent)
    try:
        futures = [pool.submit(run_unit, params, u, threads_per_unit(cfg)) for u in units]
        desc = f"sweep {cfg.dataset} ({cfg.workers} workers)"
        for f in progress_bar(
            as_completed(futures), total=len(units), desc=desc, unit="fold", disable=not progress
        ):
            counts[f.result()] += 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return counts


def _slurm(cfg: Config, params: dict, units: list[Unit], log_dir: Path, progress: bool) -> Counter:
    import submitit

    from mer_utils.sweep import run_units

    s = cfg.slurm
    ex = submitit.AutoExecutor(folder=log_dir / "%j", cluster=s.get("cluster"))
    given = {k: s[k] for k in ("gpus_per_node", "cpus_per_task", "mem_gb") if k in s}
    ex.update_parameters(
        name=f"mer-{cfg.dataset}",
        timeout_min=int(s.get("timeout_min", 240)),
        slurm_partition=s.get("partition"),
        slurm_array_parallelism=int(s.get("array_parallelism", 64)),
        **given,
    )
    k = int(s.get("units_per_job", 1))
    chunks = [units[i : i + k] for i in range(0, len(units), k)]
    threads = threads_per_unit(cfg)
    jobs = ex.map_array(run_units, [params] * len(chunks), chunks, [threads] * len(chunks))
    return _collect(jobs, chunks, f"sweep {cfg.dataset} (slurm, {len(jobs)} jobs)", progress)


def _collect(jobs: list, chunks: list[list[Unit]], desc: str, progress: bool) -> Counter:
    """Wait for submitit jobs, counting units as their jobs finish; a failed job's error
    names its log folder."""
    counts: Counter = Counter()
    pending = dict(zip(jobs, chunks, strict=True))
    with progress_bar(
        total=sum(map(len, chunks)), desc=desc, unit="fold", disable=not progress
    ) as bar:
        while pending:
            for job in [j for j in pending if j.done()]:
                try:
                    counts.update(job.result())
                except Exception as e:
                    raise RuntimeError(
                        f"job {job.job_id} failed; its log: {job.paths.folder}: {e}"
                    ) from e
                bar.update(len(pending.pop(job)))
            time.sleep(0.5)
    return counts
