"""DI-store build throughput vs the JPEG-decode bound, and cached-load time.

Generates a synthetic CASME-II-like tree (real frame size 340x280), then in one run measures:
decoding every frame of every clip (the bound: cv2.imread only), building the store
(decode + resize + three DIs + uint8), and loading the cached store.

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
        t0 = time.perf_counter()
        build_store(ds, args.size)
        build = time.perf_counter() - t0
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
    print(f"  cached load              : {load:.3f} s ({100 * load / n:.3f} s per 100 clips)")


if __name__ == "__main__":
    main()
