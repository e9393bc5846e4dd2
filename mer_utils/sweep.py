"""The grid dataset x model x configuration x seed x fold, resumable.

Each finished fold is written atomically as one JSON record under
``results/<dataset>/<protocol>/runs/<model>/<configuration>/seed<k>-fold<i>.json``. A rerun
skips records whose parameters match and redoes what is missing or changed, so an interrupted
sweep loses at most the fold in flight. Without Jupyter::

    python -m mer_utils.sweep --config configs/synthetic_casme2.yaml [--set epochs=5 ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import subprocess
import time
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from mer_utils.config import Config, load_config, open_dataset
from mer_utils.models import get_spec
from mer_utils.paths import repo_root, results_dir
from mer_utils.protocols import Split, inner_split, make_splits
from mer_utils.store import build_store
from mer_utils.train import DeviceStore, TrainParams, fit_fold

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def provenance(device: torch.device) -> dict:
    """git sha + dirty flag, package versions, device, host."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", "-C", str(repo_root()), *args], capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown (not a git checkout)"

    dev = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine()
    )
    return dict(
        git_sha=git("rev-parse", "HEAD"),
        git_dirty=bool(git("status", "--porcelain", "--untracked-files=no")),
        versions={
            p: version(p)
            for p in ("torch", "timm", "numpy", "scikit-learn", "opencv-python-headless")
        },
        device=f"{device.type}: {dev}",
        host=platform.node(),
        torch_threads=torch.get_num_threads(),
    )


def record_path(cfg: Config, model: str, configuration: str, seed: int, fold: int) -> Path:
    return (
        results_dir(cfg.run_name, cfg.protocol, "runs", model, configuration)
        / f"seed{seed}-fold{fold}.json"
    )


def run_params(
    cfg: Config, model: str, configuration: str, seed: int, split: Split, store_key: str
) -> dict:
    """Everything that determines a fold's result; a record is reused only if these match."""
    spec = get_spec(model)
    return dict(
        dataset=cfg.dataset,
        protocol=cfg.protocol,
        folds=cfg.folds,
        model=model,
        configuration=configuration,
        seed=seed,
        fold=split.fold,
        epochs=cfg.epochs,
        patience=cfg.patience,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        validation=cfg.validation,
        pretrained=cfg.pretrained and spec.pretrained,
        weights=cfg.weights.get(model),
        variant=cfg.variant,
        face_crop=cfg.face_crop,
        store_key=store_key,
        split_sha=hashlib.sha256(json.dumps(split.to_dict()).encode()).hexdigest()[:16],
    )


def write_atomic(path: Path, obj: dict) -> None:
    """Write JSON to a temp file in the same folder, then rename: never a half record."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a writer that was killed
        stale.unlink()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def _load_record(path: Path, params: dict) -> dict | None:
    if not path.is_file():
        return None
    rec = json.loads(path.read_text())
    return rec if rec.get("params") == params else None


def run_sweep(cfg: Config, progress: bool = True) -> list[dict]:
    """Run (or resume) the grid of ``cfg``; returns one record per (model, configuration, seed, fold)."""
    cfg = cfg.effective()
    ds = open_dataset(cfg)
    device = resolve_device(cfg.device)
    prov = provenance(device)
    labels, groups = ds.labels(), np.array([s.subject for s in ds.samples])
    splits = {s: make_splits(cfg.protocol, labels, groups, cfg.folds, s) for s in cfg.seeds}
    if cfg.max_folds:
        splits = {s: v[: cfg.max_folds] for s, v in splits.items()}
    grid = [
        (m, c, s, sp)
        for m in cfg.models
        for c in cfg.configurations
        for s in cfg.seeds
        for sp in splits[s]
    ]
    records, stores, done = [], {}, 0
    for model, conf, seed, split in tqdm(
        grid, desc=f"sweep {cfg.dataset}", unit="fold", disable=not progress
    ):
        size = get_spec(model).input_size
        if size not in stores:
            store = build_store(ds, size, cfg.variant, cfg.face_crop)
            stores[size] = (store.key, DeviceStore.from_store(store, device))
        key, data = stores[size]
        params = run_params(cfg, model, conf, seed, split, key)
        path = record_path(cfg, model, conf, seed, split.fold)
        rec = _load_record(path, params)
        if rec is None:
            rec = _run_one(cfg, data, groups, model, conf, seed, split, params, prov, progress)
            write_atomic(path, rec)
        else:
            done += 1
        records.append(rec)
    log.info("sweep %s: %d folds, %d reused from earlier runs", cfg.dataset, len(grid), done)
    return records


def _run_one(
    cfg: Config,
    data: DeviceStore,
    groups: np.ndarray,
    model: str,
    conf: str,
    seed: int,
    split: Split,
    params: dict,
    prov: dict,
    progress: bool,
) -> dict:
    if cfg.validation == "paper":  # the paper early-stops on the held-out fold itself
        fit, val = split.train, split.test
    else:  # leak-free: early-stop on subjects held out of the training clips
        fit, val = inner_split(split.train, data.labels, groups, seed)
    tp = TrainParams(
        cfg.epochs,
        cfg.patience,
        cfg.batch_size,
        cfg.eval_batch_size,
        cfg.lr,
        params["pretrained"],
        cfg.weights.get(model),
    )
    res = fit_fold(
        model,
        data,
        fit,
        val,
        split.test,
        conf,
        tp,
        seed=seed * 1000 + split.fold,
        progress=progress,
    )
    return dict(
        params=params,
        split=split.to_dict(),
        y_true=res.y_true,
        y_pred=res.y_pred,
        history=res.history,
        best_epoch=res.best_epoch,
        wall_s=res.wall_s,
        n_train_clips=len(fit),
        provenance=prov,
        finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
        config=asdict(cfg),
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Run or resume a training sweep (no Jupyter needed).")
    ap.add_argument("--config", required=True, help="configs/<name>.yaml or a name")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override (YAML value)"
    )
    args = ap.parse_args(argv)
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    records = run_sweep(load_config(args.config, **overrides))
    print(f"{len(records)} fold records")


if __name__ == "__main__":
    main()
