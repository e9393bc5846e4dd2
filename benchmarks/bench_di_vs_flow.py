"""What the DI-vs-flow companion (configs/synthetic_casme2_flow.yaml) adds to ``make reproduce``
on a CPU, measured per epoch in one run, relative to the LEARNet DI cells the paper grid already
trains.

On the synthetic CASME-II copy at full scale: the stores the companion needs beyond the paper
run's (the DI store at STSTNet's 28 px, the flow stores at 112 and 28 px; wall and CPU seconds),
then, on fold 0 of the paper protocol, ``--epochs`` epochs of each CPU cell (LEARNet and STSTNet x
Baseline, Dual-DI, Flow Baseline, Flow + phase-aware flow augmentation): training samples and
CPU seconds per epoch (process CPU time: less sensitive than wall time to other users of a shared
machine), each as a multiple of LEARNet Baseline's. The companion's training cost is then
``sum(new cells' epoch cost x epochs run x 5 folds)``; with the flow cells stopping after as
many epochs as the DI cells, that is the paper grid's LEARNet CASME-II sweep time times
``sum(new) / sum(LEARNet's four DI configurations)`` (printed).

    MER_ROOT=/tmp/x python benchmarks/bench_di_vs_flow.py [--epochs 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mer_utils.config import load_config
from mer_utils.datasets import open_dataset
from mer_utils.flow import FlowParams
from mer_utils.flow_store import build_flow_store, with_flows
from mer_utils.model_specs import plan_model
from mer_utils.protocols import make_splits
from mer_utils.store import build_store
from mer_utils.train import DeviceStore, TrainParams, fit_fold

CELLS = [(m, c) for m in ("learnet", "ststnet")
         for c in ("baseline", "dual_di", "flow_baseline", "flow_dual")]  # fmt: skip
PAPER_DI = ("baseline", "flip_rotate", "dual_di", "dual_di_flip_rotate")


def _timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def _stores(ds, cfg) -> dict[int, DeviceStore]:
    out = {}
    for size in (112, 28):
        di, w, c = _timed(lambda s=size: build_store(ds, s, cfg.variant, cfg.face_params()))
        print(
            f"  DI store {size:3d} px: {w:6.1f} s wall, {c:6.1f} s CPU (cached after a first build)"
        )
        fl, w, c = _timed(lambda s=size: build_flow_store(ds, FlowParams(size=s)))
        print(f"  flow store {size:3d} px: {w:6.1f} s wall, {c:6.1f} s CPU")
        out[size] = DeviceStore.from_store(with_flows(di, fl), "cpu")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config("synthetic_casme2_flow").effective()
    ds = open_dataset(cfg)
    print(f"{ds.name}: {len(ds.samples)} clips; torch threads {args.threads}")
    stores = _stores(ds, cfg)
    split = make_splits(cfg.protocol, ds.labels(), np.array([s.subject for s in ds.samples]),
                        cfg.folds, 0)[0]  # fmt: skip
    p = TrainParams(epochs=args.epochs, patience=args.epochs + 1)
    cost = {}
    extra = ["learnet/flip_rotate", "learnet/dual_di_flip_rotate"]
    for m, c in [*CELLS, *(tuple(e.split("/")) for e in extra)]:
        data = stores[28 if m == "ststnet" else 112]
        spec_kinds = {"baseline": 1, "flip_rotate": 1, "dual_di": 3, "dual_di_flip_rotate": 3,
                      "flow_baseline": 1, "flow_dual": 2}[c]  # fmt: skip
        _, wall, cpu = _timed(
            lambda m=m, c=c, d=data: fit_fold(
                plan_model(m), d, split.train, split.test, split.test, c, p, 0, False
            )
        )
        cost[m, c] = cpu / args.epochs
        print(f"  {m:8s} {c:14s}: ~{spec_kinds} sample(s)/clip, {cpu / args.epochs:6.2f} s CPU and "
              f"{wall / args.epochs:6.2f} s wall per epoch")  # fmt: skip
    ref = cost["learnet", "baseline"]
    new = [k for k in CELLS if not (k[0] == "learnet" and k[1] in PAPER_DI)]
    paper = sum(cost["learnet", c] for c in PAPER_DI)
    for k in CELLS:
        print(f"  {k[0]}/{k[1]}: {cost[k] / ref:5.2f}x LEARNet Baseline's epoch")
    print(f"new cells {[f'{m}/{c}' for m, c in new]}: {sum(cost[k] for k in new) / paper:.2f}x "
          "the CPU time of LEARNet's four DI configurations in the paper grid, per epoch")  # fmt: skip


if __name__ == "__main__":
    main()
