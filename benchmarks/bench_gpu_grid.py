"""Table I grid throughput: per backbone, our training step at batch 25 vs a large batch (the
compute bound) vs the naive DataLoader path; then the wall time of a stated fraction of the grid.

Plain python (the GPU image has no papermill). On CUDA it measures all six backbones; on CPU,
LEARNet only (the others take minutes per epoch there). Results are written as JSON with
provenance to ``--out`` (default ``results/bench/``).

    python benchmarks/bench_gpu_grid.py [--models ...] [--grid-folds 1] [--epochs 50]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import PngDIs, naive_images_per_s  # noqa: E402

from mer_utils.config import Config, load_config  # noqa: E402
from mer_utils.datasets import load_dataset, open_dataset  # noqa: E402
from mer_utils.models import REGISTRY, Normalizer, create_model, get_spec  # noqa: E402
from mer_utils.store import build_store  # noqa: E402
from mer_utils.sweep import provenance, resolve_device, run_sweep  # noqa: E402
from mer_utils.synthetic import make_synthetic  # noqa: E402
from mer_utils.train import DeviceStore, TrainParams, _train_epoch  # noqa: E402


def step_images_per_s(
    name: str, data: DeviceStore, items, labels, batch: int, device, seconds: float
) -> float:
    """Images/s of our training step at ``batch`` (flip/rotate on), timed for ~``seconds``."""
    spec = get_spec(name)
    model = create_model(name, data.num_classes, pretrained=False).to(device)
    if spec.channels_last:
        model = model.to(memory_format=torch.channels_last)
    norm, p = Normalizer(spec).to(device), TrainParams(batch_size=batch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gens = (torch.Generator().manual_seed(0), torch.Generator(device=device).manual_seed(1))
    samples = (items, labels, np.zeros(len(items), bool))  # no 255 - DI
    _train_epoch(model, norm, data, samples, opt, gens, p, ("flip_rotate",)).item()  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _train_epoch(model, norm, data, samples, opt, gens, p, ("flip_rotate",)).item()
        n += len(items)
    return n / (time.perf_counter() - t0)


def throughput(ds, models: list[str], device, seconds: float, big: int, tmp: Path) -> list[dict]:
    rows = []
    for name in models:
        data = DeviceStore.from_store(build_store(ds, get_spec(name).input_size), device)
        items, labels, _ = data.items(np.arange(len(data.labels)), ("full", "onset", "offset"))
        b25 = step_images_per_s(name, data, items, labels, 25, device, seconds)
        bound = step_images_per_s(name, data, items, labels, big, device, seconds)
        pngs = []
        for i, it in enumerate(items):
            pngs.append(tmp / f"{name}_{i}.png")
            from PIL import Image

            Image.fromarray(data.images[it].permute(1, 2, 0).cpu().numpy()).save(pngs[-1])
        loader = torch.utils.data.DataLoader(
            PngDIs(pngs, labels, get_spec(name)),
            batch_size=25,
            shuffle=True,
            num_workers=min(8, os.cpu_count() or 1),
        )
        naive = naive_images_per_s(
            create_model(name, data.num_classes, pretrained=False).to(device), loader, 1, device
        )
        rows.append(
            dict(model=name, batch25=b25, large_batch=bound, large_batch_size=big, naive=naive)
        )
        print(
            f"  {name:16s} batch 25 {b25:8.1f} img/s | batch {big} (bound) {bound:8.1f} | naive {naive:8.1f} "
            f"| 25/bound {b25 / bound:4.2f} | ours/naive {b25 / naive:5.2f}x",
            flush=True,
        )
    return rows


def grid_time(cfg: Config, folds_run: int) -> dict:
    """Wall time of the grid restricted to ``folds_run`` of ``cfg.folds`` folds, and its scaling.
    The dataset is generated before the clock starts; DI-store building is timed (a grid cost)."""
    open_dataset(cfg)
    t0 = time.perf_counter()
    records = run_sweep(dataclasses.replace(cfg, max_folds=folds_run)).records
    wall = time.perf_counter() - t0
    fraction = folds_run / cfg.folds
    return dict(
        models=list(cfg.models),
        folds_run=folds_run,
        folds=cfg.folds,
        records=len(records),
        wall_s=wall,
        fraction=fraction,
        scaled_full_grid_s=wall / fraction,
        mean_epochs=float(np.mean([len(r.history) for r in records])),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models", default="", help="comma-separated (default: all six on CUDA, learnet on CPU)"
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seconds", type=float, default=10.0, help="timing window per measurement")
    ap.add_argument(
        "--grid-folds", type=int, default=1, help="folds of 5 to run for the grid timing (0: skip)"
    )
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--out", default="", help="folder for the JSON result (default results/bench)")
    args = ap.parse_args()
    device = resolve_device(args.device)
    models = (
        args.models.split(",")
        if args.models
        else (list(REGISTRY) if device.type == "cuda" else ["learnet"])
    )
    big = 200 if device.type == "cuda" else 100
    out = dict(provenance=provenance(device), device=str(device), models=models)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(os.environ.setdefault("MER_ROOT", tmp))
        ds = load_dataset(
            "synthetic_casme2", make_synthetic(root / "cache" / "bench_casme2", "casme2", scale=0.2)
        )
        print(f"device {device}; {len(ds.samples)} clips (dual-DI + flip/rotate training set)")
        out["throughput"] = throughput(ds, models, device, args.seconds, big, Path(tmp))
        if args.grid_folds:
            cfg = load_config("gpu_full", models=models, epochs=args.epochs, device=str(device))
            out["grid"] = grid_time(cfg, args.grid_folds)
            g = out["grid"]
            print(
                f"grid (configs/gpu_full.yaml, real-size CASME-II-like data, {len(models)} model(s)): "
                f"{g['folds_run']}/{g['folds']} folds in {g['wall_s']:.0f} s -> full 5 folds ~ {g['scaled_full_grid_s']:.0f} s "
                f"(mean {g['mean_epochs']:.1f} epochs with early stopping)"
            )
    dest = Path(args.out) if args.out else Path(__file__).resolve().parents[1] / "results" / "bench"
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"gpu_grid_{device.type}_{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"written {path}")


if __name__ == "__main__":
    main()
