"""Flow-store build vs DI-store build on CASME-II-sized clips, in one run.

Generates a synthetic CASME-II copy (340 x 280 colour JPEG frames) and measures, with a thread
pool over clips using every core (as ``mer_utils.store`` builds the DI store):

* the DI store's work per clip (``store.clip_dis``: decode every frame, the three DIs, uint8,
  resize): clips/s;
* the flow store's work per clip for each algorithm (``flow.sample_flows``: decode the onset,
  apex and offset frames, onset->apex and offset->apex flows, strain, resize, uint8 codes):
  clips/s and flow pairs/s, and its time relative to the DI store's (target: <= 2x);
* what the uint8 codes keep (share of clipped codes, 99th percentiles) and how the onset flow
  correlates with the offset flow, reversed (offset -> apex, the default) and forward, and
  with TV-L1's (the field's standard) on the TV-L1 clips;
* flow alone on decoded grey pairs, 1 thread vs every core (OpenCV's own threads set to 1), with
  the cores the process really got (CPU time / wall time); and whether the cv2 flow calls
  release the GIL: a pure-Python thread's speed while flows run in another (0 if they held it).

TV-L1 is slow, so it runs on the first ``--tvl1-clips`` clips only (its clips/s is measured on
them). Absolute numbers depend on the machine and its load; the ratios are the result.

    python benchmarks/bench_flow.py [--scale 0.1] [--di-size 112] [--flow-size 28] [--tvl1-clips 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from mer_utils.datasets import Sample, load_dataset
from mer_utils.flow import ALGORITHMS, FlowParams, encode_flow, grey, optical_flow, sample_flows
from mer_utils.frames import read_frame
from mer_utils.store import clip_dis
from mer_utils.synthetic import make_synthetic


def _timed(fn: Callable[[Sample], object], samples: Sequence[Sample], workers: int) -> float:
    """Seconds to run ``fn`` on every sample with a pool of ``workers`` threads."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fn, samples))
    return time.perf_counter() - t0


def _flow_store_clip(p: FlowParams) -> Callable[[Sample], int]:
    def run(s: Sample) -> int:
        c = sample_flows(s, p)
        return len([encode_flow(m, p) for m in (c.onset, c.offset) if m is not None])

    return run


def _pairs_per_s(
    pairs: list[tuple[np.ndarray, np.ndarray]], p: FlowParams, workers: int
) -> tuple[float, float]:
    """Flow pairs per second with ``workers`` threads, and the process's CPU time / wall time
    (how many cores it really had: a busy machine gives fewer than ``workers``)."""
    t0, c0 = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda ab: optical_flow(*ab, p), pairs))
    wall = time.perf_counter() - t0
    return len(pairs) / wall, (time.process_time() - c0) / wall


def _gil_share(pair: tuple[np.ndarray, np.ndarray], p: FlowParams, seconds: float = 1.5) -> float:
    """Speed of a pure-Python counter thread while flows run in the main thread, as a share of
    its speed alone: about 0 if the flow call held the GIL, about 0.5 on one free core."""
    count, stop = [0], threading.Event()

    def spin() -> None:
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(seconds)
    alone, count[0] = count[0] / seconds, 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        optical_flow(*pair, p)
    during = count[0] / (time.perf_counter() - t0)
    stop.set()
    t.join()
    return during / alone


def _flow_stores(samples, di_per_clip: float, args, workers: int) -> dict[str, list]:
    """Print each algorithm's flow-store rate; return one decoded grey pair per algorithm."""
    pairs = {}
    for alg in ALGORITHMS:
        p = FlowParams(algorithm=alg, size=args.flow_size)
        sub = samples[: args.tvl1_clips] if alg == "tvl1" else samples
        fn = _flow_store_clip(p)
        fn(sub[0])  # warm up (first-call allocations)
        n_pairs = sum(int(s.apex > s.onset) + int(s.offset > s.apex) for s in sub)
        t = _timed(fn, sub, workers)
        ratio = (t / len(sub)) / di_per_clip
        print(
            f"  flow store {alg:9s} (decode 3 frames + 2 flows at {args.flow_size}): "
            f"{len(sub) / t:6.1f} clips/s, {n_pairs / t:6.1f} pairs/s"
            f"{f' ({len(sub)} clips)' if alg == 'tvl1' else ''}: {ratio:5.2f}x the DI store's "
            f"time per clip ({'meets' if ratio <= 2 else 'misses'} the 2x target)"
        )
        s = sub[0]
        a, b = (grey(read_frame(s.frames[i])) for i in (0, s.apex - s.onset))
        pairs[alg] = [(a, b)] * (max(2, workers) * (1 if alg == "tvl1" else 8))
    return pairs


def _code_stats(samples: Sequence[Sample], size: int) -> None:
    """What the uint8 codes keep of these clips' flows, and how the two phase flows agree."""
    for alg in ("farneback", "dis"):
        p, fwd = FlowParams(alg, size), FlowParams(alg, size, offset_direction="forward")
        uv, st, clip_uv, clip_st, agree = [], [], 0, 0, {"reversed": [], "forward": []}
        for s in samples:
            c, f = sample_flows(s, p), sample_flows(s, fwd)
            for m in (x for x in (c.onset, c.offset) if x is not None):
                e = encode_flow(m, p)
                uv.append(np.abs(m[:2]).ravel() / size)
                st.append(m[2].ravel())
                clip_uv += int(np.isin(e[:2], (1, 255)).sum())
                clip_st += int((e[2] == 255).sum())
            if c.onset is not None and c.offset is not None:
                for k, off in (("reversed", c.offset), ("forward", f.offset)):
                    agree[k].append(np.corrcoef(c.onset[:2].ravel(), off[:2].ravel())[0, 1])
        uv, st = np.concatenate(uv), np.concatenate(st)
        print(
            f"  {alg:9s}: |u|, |v| p99 {100 * np.percentile(uv, 99):.2f} % of the side (max "
            f"{100 * uv.max():.2f} %, codes clipped {100 * clip_uv / uv.size:.2f} %); strain p99 "
            f"{np.percentile(st, 99):.3f} (codes clipped {100 * clip_st / st.size:.2f} %); "
            f"corr(onset flow, offset flow) median: reversed {np.median(agree['reversed']):+.2f}, "
            f"forward {np.median(agree['forward']):+.2f}"
        )


def _agreement_with_tvl1(samples: Sequence[Sample], size: int) -> None:
    """Median correlation of each core algorithm's onset flow (u, v maps) with TV-L1's, the
    field's standard, on ``samples``."""
    onsets = [s for s in samples if s.apex > s.onset]
    ref = [sample_flows(s, FlowParams("tvl1", size)).onset[:2].ravel() for s in onsets]
    for alg in ("farneback", "dis"):
        r = [
            np.corrcoef(t, sample_flows(s, FlowParams(alg, size)).onset[:2].ravel())[0, 1]
            for s, t in zip(onsets, ref, strict=True)
        ]
        print(
            f"  {alg:9s}: corr(onset flow, TV-L1's) median {np.median(r):+.2f}, "
            f"min {np.min(r):+.2f} over {len(r)} clips"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--di-size", type=int, default=112)
    ap.add_argument("--flow-size", type=int, default=28)
    ap.add_argument("--tvl1-clips", type=int, default=4)
    args = ap.parse_args()
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MER_ROOT"] = tmp
        root = make_synthetic(Path(tmp) / "casme2", "casme2", scale=args.scale)
        samples = load_dataset("casme2", root).samples
        n_frames = sum(len(s.frames) for s in samples)
        print(
            f"{len(samples)} clips, {n_frames} frames of 340x280 JPEG "
            f"({n_frames / len(samples):.0f}/clip), {workers} threads, "
            f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads of its own)"
        )
        _timed(lambda s: clip_dis(s, args.di_size), samples[:2], workers)  # warm up
        di = _timed(lambda s: clip_dis(s, args.di_size), samples, workers)
        print(
            f"  DI store   (decode every frame + 3 DIs at {args.di_size}): "
            f"{len(samples) / di:6.1f} clips/s"
        )
        pairs = _flow_stores(samples, di / len(samples), args, workers)
        d = FlowParams()
        print(
            f"uint8 codes at {args.flow_size} px (max_motion {d.max_motion} of the side, "
            f"max_strain {d.max_strain}) and the two phase flows:"
        )
        _code_stats(samples, args.flow_size)
        print(f"agreement with TV-L1 on the first {args.tvl1_clips} clips:")
        _agreement_with_tvl1(samples[: args.tvl1_clips], args.flow_size)
    cv2.setNumThreads(1)
    print("flow alone on decoded 340x280 grey pairs, OpenCV's own threads = 1:")
    for alg, pp in pairs.items():
        p = FlowParams(algorithm=alg)
        (one, _), (many, cores) = _pairs_per_s(pp, p, 1), _pairs_per_s(pp, p, workers)
        share = _gil_share(pp[0], p)
        print(
            f"  {alg:9s}: 1 thread {one:6.2f} pairs/s, {workers} threads {many:6.2f} pairs/s "
            f"({many / one:.2f}x, {cores:.2f} cores used); a Python thread keeps "
            f"{100 * share:.0f}% of its speed during the flow calls "
            f"(GIL {'released' if share > 0.2 else 'HELD: use processes'})"
        )


if __name__ == "__main__":
    main()
