"""The grid dataset x model x configuration x seed x fold, resumable.

Each finished fold is written atomically as one JSON record under its run's folder
(:mod:`mer_utils.runs`): ``results/<dataset>/<protocol>-<validation>-<id>/runs/<model>/
<configuration>/seed<k>-fold<i>.json``. A rerun with the same parameters resumes in place and
skips records that match; a change of a run parameter starts a new run beside the old one, so
an interrupted sweep loses at most the fold in flight and runs never mix. Without Jupyter::

    python -m mer_utils.sweep --config configs/synthetic_casme2.yaml [--set epochs=5 ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import version

import numpy as np
import torch
from tqdm.auto import tqdm

from mer_utils import preflight
from mer_utils.config import Config, load_config, open_dataset, parse_overrides
from mer_utils.datasets import Dataset
from mer_utils.model_specs import get_spec
from mer_utils.paths import repo_root
from mer_utils.protocols import Split, inner_split, make_splits
from mer_utils.runs import (
    RECORD_SCHEMA,
    Run,
    make_run,
    read_record,
    update_run_json,
    write_json_atomic,
)
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


def run_params(
    run: Run, model: str, configuration: str, seed: int, split: Split, store_key: str
) -> dict:
    """Everything that determines a fold's result; a record is reused only if these match."""
    ident = run.identity
    return dict(
        run_id=run.run_id,
        **ident,
        model=model,
        configuration=configuration,
        seed=seed,
        fold=split.fold,
        pretrained_model=bool(ident["pretrained"] and get_spec(model).pretrained),
        weights_file=ident["weights"].get(model),
        store_key=store_key,
        split_sha=hashlib.sha256(json.dumps(split.to_dict()).encode()).hexdigest()[:16],
    )


@dataclass
class SweepPlan:
    """What one sweep call will do: the run, its units on this device, and what it skips."""

    cfg: Config
    ds: Dataset
    device: torch.device
    run: Run
    units: list[tuple[str, str, int, Split]]  # (model, configuration, seed, split)
    skipped: list[tuple[str, str]]  # requested (model, configuration) cells not run on this device


@dataclass
class SweepResult:
    run: Run
    records: list[dict]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def plan_sweep(cfg: Config) -> SweepPlan:
    """Open the dataset, name the run, lay out its units, and record the request in run.json."""
    cfg = cfg.effective()
    device = resolve_device(cfg.device)
    preflight.check([cfg], device.type == "cuda")  # data root, sheet, weights: before any work
    ds = open_dataset(cfg)
    run = make_run(cfg, ds.fingerprint(), ds.classes, device.type)
    labels, groups = ds.labels(), np.array([s.subject for s in ds.samples])
    splits = {s: make_splits(cfg.protocol, labels, groups, cfg.folds, s) for s in cfg.seeds}
    if cfg.max_folds:
        splits = {s: v[: cfg.max_folds] for s, v in splits.items()}
    models, confs = cfg.grid_on(cuda=device.type == "cuda")
    skipped = [
        (m, c) for m in cfg.models for c in cfg.configurations if m not in models or c not in confs
    ]
    units = [(m, c, s, sp) for m in models for c in confs for s in cfg.seeds for sp in splits[s]]
    request = dict(
        models=list(models),
        configurations=list(confs),
        seeds=list(cfg.seeds),
        folds_run=len(splits[cfg.seeds[0]]),
        n_splits=len(make_splits(cfg.protocol, labels, groups, cfg.folds, cfg.seeds[0])),
    )
    dataset = dict(
        name=ds.name,
        root=str(ds.root),
        spreadsheet=str(ds.spreadsheet),
        clips=len(ds.samples),
        classes=list(ds.classes),
        counts=ds.counts().to_dict(),
        fingerprint=ds.fingerprint(),
    )
    update_run_json(run, request, dataset, provenance(device))
    return SweepPlan(cfg, ds, device, run, units, skipped)


def run_sweep(cfg: Config, progress: bool = True) -> SweepResult:
    """Run (or resume) the grid of ``cfg``; one record per (model, configuration, seed, fold)."""
    plan = plan_sweep(cfg)
    log.info("run %s (%s) in %s", plan.run.run_id, plan.run.name, plan.run.folder)
    if plan.skipped:
        log.info("not run on %s (cpu_grid): %s", plan.device.type, plan.skipped)
    groups = np.array([s.subject for s in plan.ds.samples])
    prov = provenance(plan.device)
    records, stores, reused = [], {}, 0
    for model, conf, seed, split in tqdm(
        plan.units, desc=f"sweep {plan.cfg.dataset}", unit="fold", disable=not progress
    ):
        size = get_spec(model).input_size
        if size not in stores:
            store = build_store(plan.ds, size, plan.cfg.variant, plan.cfg.face_crop)
            stores[size] = (store.key, DeviceStore.from_store(store, plan.device))
        key, data = stores[size]
        params = run_params(plan.run, model, conf, seed, split, key)
        path = plan.run.record_path(model, conf, seed, split.fold)
        rec = read_record(path, params)
        if rec is None:
            rec = _run_one(plan.cfg, data, groups, model, conf, seed, split, params, prov, progress)
            write_json_atomic(path, rec)
        else:
            reused += 1
        records.append(rec)
    log.info(
        "run %s: %d folds, %d reused from earlier calls", plan.run.run_id, len(records), reused
    )
    return SweepResult(plan.run, records, plan.skipped)


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
        params["pretrained_model"],
        params["weights_file"],
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
        schema=RECORD_SCHEMA,
        run_id=params["run_id"],
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
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    res = run_sweep(load_config(args.config, **parse_overrides(args.set)))
    print(f"run {res.run.folder_name}: {len(res.records)} fold records in {res.run.folder}")


if __name__ == "__main__":
    main()
