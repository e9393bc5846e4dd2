"""Dynamic-image throughput: ours vs a naive per-frame loop vs a plain memory copy.

CASME-II-sized clips (T=61 frames of 280x340x3 uint8, ~17 MB). Prints clips/s and GB/s (of
input frame bytes) for each, and the ratios measured in this one run. The memcpy bound is a
single-threaded ``np.copyto`` of the same bytes.

    python benchmarks/bench_dynamic_image.py [--clips 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_time  # noqa: E402

from mer_utils.dynamic_image import arp_weights, default_threads, dynamic_image  # noqa: E402


def naive_di(frames: np.ndarray) -> np.ndarray:
    """What popular DI snippets do: one float64 multiply-add per frame in a Python loop."""
    w = arp_weights(frames.shape[0])
    acc = np.zeros(frames.shape[1:], dtype=np.float64)
    for t in range(frames.shape[0]):
        acc += w[t] * frames[t].astype(np.float64)
    return acc


def convert_only(frames: np.ndarray, block: int = 4096) -> None:
    """The conversion floor of any float32 weighted sum: uint8->float32 of every pixel block."""
    flat = frames.reshape(frames.shape[0], -1)
    for start in range(0, flat.shape[1], block):
        flat[:, start : start + block].astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (61, 280, 340, 3), dtype=np.uint8) for _ in range(args.clips)]
    dst = np.empty_like(clips[0])
    nbytes = sum(c.nbytes for c in clips)

    runs = {
        "memcpy (bound)": lambda: [np.copyto(dst, c) for c in clips],
        "uint8->float32 only, 1 thread": lambda: [convert_only(c) for c in clips],
        "ours, 1 thread": lambda: [dynamic_image(c, threads=1) for c in clips],
        f"ours, {default_threads()} threads": lambda: [dynamic_image(c) for c in clips],
        "naive per-frame float64 loop": lambda: [naive_di(c) for c in clips],
    }
    secs = {k: best_time(f, args.repeats) for k, f in runs.items()}
    print(
        f"{args.clips} clips of 61x280x340x3 uint8 ({nbytes / 1e6:.0f} MB), best of {args.repeats}"
    )
    for name, s in secs.items():
        print(f"  {name:32s} {args.clips / s:8.1f} clips/s  {nbytes / s / 1e9:6.2f} GB/s")
    bound, conv, one, many, naive = (secs[k] for k in runs)
    print(f"ours (1 thread) / conversion-only    : {conv / one:.2f}x")
    print(f"ours (1 thread) / memcpy bandwidth   : {bound / one:.2f}x")
    print(f"ours ({default_threads()} threads) / memcpy bandwidth : {bound / many:.2f}x")
    print(f"ours ({default_threads()} threads) / naive speed-up   : {naive / many:.1f}x")


if __name__ == "__main__":
    main()
