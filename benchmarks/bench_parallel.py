"""Folds per hour of a fixed small grid for several worker counts, as ratios measured in one run.

One synthetic CASME-II-like copy and its DI store are made first (not timed); then the same
grid (models x 4 configurations x ``--folds-run`` folds, ``--epochs`` epochs, no early
stopping so every setting does the same work) runs once per setting into a fresh results
folder: ``local`` (in-process), then ``processes`` with 1, 2, 4 ... workers, each worker with
cores / workers torch threads. Prints folds/hour and the ratio to 1 worker, and on CUDA the
peak GPU memory per worker (from the fold records). Results go to results/bench/ with provenance.

    python benchmarks/bench_parallel.py [--workers 1 2 4] [--models learnet] [--scale 0.2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from mer_utils.config import load_config
from mer_utils.datasets import open_dataset
from mer_utils.paths import repo_root
from mer_utils.sweep import provenance, resolve_device, run_sweep


def _setting(base, executor: str, workers: int) -> tuple[float, list[dict]]:
    """Seconds for the grid with this executor, from an empty results folder."""
    shutil.rmtree(Path(os.environ["MER_ROOT"]) / "results", ignore_errors=True)
    cfg = load_config(base, executor=executor, workers=workers)
    t0 = time.perf_counter()
    res = run_sweep(cfg, progress=False)
    return time.perf_counter() - t0, res.records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--models", default="[learnet]")
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--folds-run", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MER_ROOT"] = tmp
        cfg_path = Path(tmp) / "bench.yaml"
        cfg_path.write_text(
            f"dataset: synthetic_casme2\nmodels: {args.models}\nsynthetic_scale: {args.scale}\n"
            f"epochs: {args.epochs}\npatience: {args.epochs}\nmax_folds: {args.folds_run}\n"
            "pretrained: false\n"
        )
        open_dataset(load_config(cfg_path))  # data generation is not timed
        _setting(cfg_path, "local", 1)  # warm-up: builds the DI stores (not timed)
        rows = _measure(cfg_path, args.workers)
    dev = resolve_device("auto")
    base = next(r for r in rows if r["executor"] == "processes" and r["workers"] == 1)
    print(f"grid: {rows[0]['folds']} folds of {args.models}, {args.epochs} epochs each, on {dev}")
    for r in rows:
        r["ratio_to_1_worker"] = r["folds_per_hour"] / base["folds_per_hour"]
        mem = f", peak GPU memory per worker {r['gpu_mem_mb']:.0f} MB" if r["gpu_mem_mb"] else ""
        print(
            f"  {r['executor']:>9} x {r['workers']}: {r['folds_per_hour']:7.0f} folds/h "
            f"({r['seconds']:.1f} s) = {r['ratio_to_1_worker']:.2f}x 1 worker{mem}"
        )
    out = repo_root() / "results" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"parallel-{dev.type}-{stamp}.json").write_text(
        json.dumps(dict(args=vars(args), rows=rows, provenance=provenance(dev)), indent=1)
    )


def _measure(cfg_path: Path, workers: list[int]) -> list[dict]:
    rows = []
    for executor, n in [("local", 1), *(("processes", w) for w in workers)]:
        seconds, records = _setting(cfg_path, executor, n)
        mem = [r.peak_device_mem_mb or 0 for r in records]
        rows.append(
            dict(
                executor=executor,
                workers=n,
                folds=len(records),
                seconds=seconds,
                folds_per_hour=3600 * len(records) / seconds,
                gpu_mem_mb=max(mem) if torch.cuda.is_available() else 0,
            )
        )
    return rows


if __name__ == "__main__":
    main()
