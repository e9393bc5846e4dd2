"""What the load's frame checks cost (every kept frame decoded once, :mod:`mer_utils.frame_checks`):
loading a synthetic CASME-II-like tree (real frame size 340x280) with the check cache cold,
with it warm, and with the checks replaced by a no-op, in one run.

    python benchmarks/bench_frame_checks.py [--scale 0.2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import mer_utils.datasets as datasets
from mer_utils.frame_checks import ClipCheck
from mer_utils.synthetic import make_synthetic


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MER_ROOT"] = tmp  # keep the benchmark's cache out of the repository
        root = make_synthetic(Path(tmp) / "casme2", "casme2", scale=args.scale)
        cache = Path(tmp) / "checks.json"
        load = lambda: datasets.load_dataset("casme2", root, check_cache=cache)  # noqa: E731
        cold = _timed(load)
        warm = min(_timed(load) for _ in range(3))
        real = datasets.FrameChecks.check
        datasets.FrameChecks.check = lambda self, paths: ClipCheck(None, (False,) * len(paths))
        none = min(_timed(load) for _ in range(3))
        datasets.FrameChecks.check = real
        ds = load()
    frames = sum(len(s.frames) for s in ds.samples)
    print(f"{len(ds.samples)} clips, {frames} frames of 340x280 JPEG")
    print(f"  load, check cache cold : {cold:.2f} s ({cold / none:.1f}x the load without checks)")
    print(f"  load, check cache warm : {warm:.2f} s ({warm / none:.2f}x the load without checks)")
    print(f"  load without checks    : {none:.2f} s")


if __name__ == "__main__":
    main()
