"""Training throughput: our device-resident path vs a naive DataLoader path, same model and data.

Ours: the uint8 DI store on the device, batches gathered, flipped/rotated (batched tensor ops) and
normalised there. Naive (what most MER code does): DIs saved as PNG, a torchvision-style Dataset
opening each with PIL, per-sample RandomHorizontalFlip + RandomRotation(10) + Resize + ToTensor +
Normalize, a DataLoader with shuffling. Both train the same model with Adam at batch size 25 on
the dual-DI + flip/rotate training set of a synthetic CASME-II-like dataset, in one run.

    python benchmarks/bench_training.py [--models learnet] [--epochs 2] [--device auto]
    python benchmarks/bench_training.py --models efficientnet_lite0 --pretrained   # fine-tuning
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from mer_utils.datasets import load_dataset
from mer_utils.models import Normalizer, create_model, get_spec
from mer_utils.store import build_store
from mer_utils.sweep import resolve_device
from mer_utils.synthetic import make_synthetic
from mer_utils.train import DeviceStore, TrainParams, _train_epoch


class PngDIs(Dataset):
    """The naive path: one PNG per training item, decoded and transformed per sample."""

    def __init__(self, paths: list[Path], labels: np.ndarray, spec):
        self.paths, self.labels = paths, labels
        self.tf = transforms.Compose(
            [
                transforms.RandomHorizontalFlip(),
                transforms.RandomRotation(10),
                transforms.Resize((spec.input_size, spec.input_size)),
                transforms.ToTensor(),
                transforms.Normalize(
                    [m * spec.scale * 255 for m in spec.mean],
                    [s * spec.scale * 255 for s in spec.std],
                ),
            ]
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return self.tf(Image.open(self.paths[i]).convert("RGB")), int(self.labels[i])


def naive_images_per_s(model, loader: DataLoader, epochs: int, device) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def ours_images_per_s(
    name: str, data: DeviceStore, items, labels, epochs: int, device, pretrained: bool = False
) -> float:
    spec = get_spec(name)
    model, norm = (
        create_model(name, data.num_classes, pretrained=pretrained).to(device),
        Normalizer(spec).to(device),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gens = (torch.Generator().manual_seed(0), torch.Generator(device=device).manual_seed(1))
    p = TrainParams(batch_size=25)
    samples = (items, labels, np.zeros(len(items), bool))  # no 255 - DI
    _train_epoch(model, norm, data, samples, opt, gens, p, ("flip_rotate",))  # warm-up
    t0 = time.perf_counter()
    for _ in range(epochs):
        _train_epoch(model, norm, data, samples, opt, gens, p, ("flip_rotate",)).item()
    return epochs * len(items) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="learnet", help="comma-separated registry names")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--scale", type=float, default=0.3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument(
        "--pretrained",
        action="store_true",
        help="fine-tune from pretrained weights (efficientnet_lite0: the offline ImageNet ones)",
    )
    args = ap.parse_args()
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MER_ROOT"] = tmp
        ds = load_dataset(
            "casme2", make_synthetic(Path(tmp) / "d", "casme2", scale=args.scale, size=(170, 140))
        )
        print(
            f"device {device}; {len(ds.samples)} clips; dual-DI + flip/rotate; batch 25; {args.epochs} epochs"
        )
        for name in args.models.split(","):
            spec = get_spec(name)
            store = build_store(ds, spec.input_size)
            data = DeviceStore.from_store(store, device)
            items, labels, _ = data.items(np.arange(len(store)), ("full", "onset", "offset"))
            pngs = []
            for i, it in enumerate(items):
                pngs.append(Path(tmp) / f"{name}_{i}.png")
                Image.fromarray(data.images[it].permute(1, 2, 0).cpu().numpy()).save(pngs[-1])
            loader = DataLoader(
                PngDIs(pngs, labels, spec), batch_size=25, shuffle=True, num_workers=args.workers
            )
            torch.manual_seed(0)
            naive = naive_images_per_s(
                create_model(name, data.num_classes, pretrained=args.pretrained).to(device),
                loader,
                args.epochs,
                device,
            )
            ours = ours_images_per_s(
                name, data, items, labels, args.epochs, device, args.pretrained
            )
            print(
                f"  {name:16s} ours {ours:8.1f} img/s | naive DataLoader {naive:8.1f} img/s | ratio {ours / naive:5.2f}x"
            )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
