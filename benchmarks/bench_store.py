"""DI-store build throughput vs the JPEG-decode bound, and cached-load time.

Generates a synthetic CASME-II-like tree (real frame size 340x280), then in one run measures:
decoding every frame of every clip (the bound: cv2.imread only), building the store
(decode + resize + three DIs + uint8) with and without the frame-integrity check (empty or
truncated JPEGs are a FrameError), loading the dataset with and without the loader's per-frame
check, and loading the cached store.

    python benchmarks/bench_store.py [--scale 0.2] [--size 112]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

import mer_utils.frames as frames
from mer_utils.datasets import load_dataset
from mer_utils.store import build_store
from mer_utils.synthetic import make_synthetic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--size", type=int, default=112)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MER_ROOT"] = tmp  # keep the benchmark's cache out of the repository
        ds = load_dataset(
            "casme2", make_synthetic(Path(tmp) / "casme2", "casme2", scale=args.scale)
        )
        paths = [str(f) for s in ds.samples for f in s.frames]
        n = len(ds.samples)
        workers = os.cpu_count() or 1
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(cv2.imread, paths))
        decode = time.perf_counter() - t0
        build, unchecked = _checked_vs_unchecked(lambda: build_store(ds, args.size, cache=False))
        first, native, diff = _orders(ds, args.size)
        root = ds.root
        t_load, t_load_unchecked = _checked_vs_unchecked(lambda: load_dataset("casme2", root))
        build_store(ds, args.size)
        t0 = time.perf_counter()
        build_store(ds, args.size)
        load = time.perf_counter() - t0
    print(
        f"{n} clips, {len(paths)} frames of 340x280 JPEG, store at {args.size}x{args.size}, {workers} threads"
    )
    print(f"  JPEG decode only (bound) : {n / decode:7.1f} clips/s")
    print(
        f"  build store              : {n / build:7.1f} clips/s  ({decode / build:.2f}x of the bound)"
    )
    print(
        f"  ... without frame check  : {n / unchecked:7.1f} clips/s  (check costs {100 * (build / unchecked - 1):+.1f}%)"
    )
    print(
        f"  load dataset (checked)   : {t_load:.3f} s vs {t_load_unchecked:.3f} s unchecked ({100 * (t_load / t_load_unchecked - 1):+.1f}%)"
    )
    print(
        f"  DI order: native (paper) {n / native:.1f} clips/s vs resize-first {n / first:.1f} "
        f"clips/s ({first / native:.2f}x); mean |difference| {diff:.2f} grey levels of 255"
    )
    print(f"  cached load              : {load:.3f} s ({100 * load / n:.3f} s per 100 clips)")


def _orders(ds, size: int) -> tuple[float, float, float]:
    """Build seconds (best of 2) resize-first and native, and the mean absolute difference of
    their uint8 DIs (all kinds, all pixels)."""
    t = {}
    stores = {}
    for order in ("resize_first", "native") * 2:
        t0 = time.perf_counter()
        stores[order] = build_store(ds, size, cache=False, order=order)
        t[order] = min(t.get(order, float("inf")), time.perf_counter() - t0)
    a, b = stores["resize_first"], stores["native"]
    diff = np.mean(
        [
            np.abs(getattr(a, k).astype(np.int16) - getattr(b, k)).mean()
            for k in ("full", "onset", "offset")
        ]
    )
    return t["resize_first"], t["native"], float(diff)


def _checked_vs_unchecked(fn, repeats: int = 3) -> tuple[float, float]:
    """Best-of-``repeats`` seconds of ``fn`` with the frame-integrity check and without it
    (patched out), interleaved so that both see the same page cache and CPU state."""
    real = frames.frame_problem
    best = {True: float("inf"), False: float("inf")}
    for _ in range(repeats):
        for checked in (True, False):
            frames.frame_problem = real if checked else (lambda path, data=None: None)
            t0 = time.perf_counter()
            fn()
            best[checked] = min(best[checked], time.perf_counter() - t0)
    frames.frame_problem = real
    return best[True], best[False]


if __name__ == "__main__":
    main()
