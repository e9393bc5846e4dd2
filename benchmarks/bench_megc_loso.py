"""How long a LOSO run of the synthetic MEGC 2019 composite (442 clips, 68 subjects) takes on
this CPU, estimated from a few of its folds.

The composite and its DI store are made first (not timed). Then each chosen LOSO fold trains
as the sweep trains it (the config's epochs, patience and validation; LEARNet by default) in
this process with ``--threads`` torch threads, and its CPU seconds (``time.process_time``,
robust to other users of a shared machine, unlike wall time), wall seconds and epochs are
printed, with the extrapolation to all 68 folds per configuration.

    python benchmarks/bench_megc_loso.py [--folds 0 30 50] [--size 170 140]
        [--configurations baseline dual_di] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mer_utils.config import load_config
from mer_utils.datasets import open_dataset
from mer_utils.model_specs import plan_model
from mer_utils.protocols import inner_split, make_splits
from mer_utils.store import build_store
from mer_utils.train import DeviceStore, TrainParams, fit_fold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 30, 50])
    ap.add_argument("--size", type=int, nargs=2, default=[170, 140], help="synthetic H W")
    ap.add_argument("--configurations", nargs="+", default=["baseline"])
    ap.add_argument("--model", default="learnet")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config("synthetic_megc2019", synthetic_size=args.size)
    ds = open_dataset(cfg)
    data = DeviceStore.from_store(build_store(ds, 112), "cpu")
    groups = np.array([s.subject for s in ds.samples])
    splits = make_splits("loso", ds.labels(), groups, cfg.folds, 0)
    print(f"{len(ds.samples)} clips, {len(splits)} LOSO folds, frames {args.size}, "
          f"{args.threads} thread(s)")  # fmt: skip
    for conf in args.configurations:
        cpu = []
        for f in args.folds:
            sp = splits[f]
            fit, val = inner_split(sp.train, data.labels, groups, 0)
            p = TrainParams(epochs=cfg.epochs, patience=cfg.patience, batch_size=cfg.batch_size)
            c0, w0 = time.process_time(), time.perf_counter()
            res = fit_fold(plan_model(args.model), data, fit, val,
                           sp.test, conf, p, seed=f, progress=False)  # fmt: skip
            cpu.append(time.process_time() - c0)
            subject = ds.samples[sp.test[0]].subject
            print(f"{conf} fold {f} ({ds.samples[sp.test[0]].dataset} {subject}, "
                  f"{len(fit)} fit clips): {len(res.history)} epochs, {cpu[-1]:.1f} CPU-s, "
                  f"{time.perf_counter() - w0:.1f} wall-s")  # fmt: skip
        total = np.mean(cpu) * len(splits)
        print(f"{conf}: mean {np.mean(cpu):.1f} CPU-s per fold -> {total / 60:.1f} CPU-min "
              f"for all {len(splits)} folds")  # fmt: skip


if __name__ == "__main__":
    main()
