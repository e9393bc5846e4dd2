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
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import version

import numpy as np
import torch

from mer_utils import preflight
from mer_utils.claims import try_claim, write_atomic
from mer_utils.config import Config, ConfigError, load_config, parameters_help, parse_overrides
from mer_utils.configurations import trained
from mer_utils.console import progress_bar
from mer_utils.dataset_specs import composite_of
from mer_utils.datasets import Dataset, open_dataset
from mer_utils.di_analysis import rel_apex_positions
from mer_utils.executors import Unit, execute, threads_per_unit
from mer_utils.model_specs import get_spec, input_px
from mer_utils.paths import output_root, repo_root
from mer_utils.plugins import load_plugins
from mer_utils.preflight import PreflightError
from mer_utils.protocols import Split, inner_split, make_splits
from mer_utils.records import RECORD_SCHEMA, FoldRecord
from mer_utils.runs import (
    DatasetInfo,
    Request,
    Run,
    device_type,
    make_run,
    read_record,
    update_run_json,
)
from mer_utils.store import build_store
from mer_utils.train import DeviceStore, TrainParams, fit_fold

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu (:func:`mer_utils.runs.device_type`)."""
    return torch.device(device_type(name) if name == "auto" else name)


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
            for p in ("torch", "timm", "numpy", "scikit-learn", "opencv-contrib-python-headless")
        },
        device=f"{device.type}: {dev}",
        host=platform.node(),
        torch_threads=torch.get_num_threads(),
    )


def run_params(
    cfg: Config, run: Run, model: str, configuration: str, seed: int, split: Split, store_key: str
) -> dict:
    """Everything that determines a fold's result; a record is reused only if these match."""
    return dict(
        run_id=run.run_id,
        **run.identity,
        model=model,
        configuration=configuration,
        seed=seed,
        fold=split.fold,
        pretrained_model=cfg.fine_tunes(model),
        weights_file=cfg.weights.get(model),
        weights_source=weights_source(cfg, model),
        input_px=input_px(model, cfg.input_size),
        store_key=store_key,
        split_sha=hashlib.sha256(json.dumps(split.to_dict()).encode()).hexdigest()[:16],
    )


def weights_source(cfg: Config, model: str) -> str:
    """Where a fold's initial weights come from, as its record states it."""
    spec = get_spec(model)
    if not cfg.fine_tunes(model):
        return "from scratch"
    if cfg.weights.get(model):
        return f"file {cfg.weights[model]}"
    return f"package {spec.package}" if spec.package else f"timm hub {spec.arch}"


@dataclass
class SweepPlan:
    """What one sweep call will do: the run, its units on this device, and what it skips."""

    cfg: Config
    run: Run
    units: list[Unit]
    skipped: list[tuple[str, str]]  # requested (model, configuration) cells not run on this device


@dataclass
class SweepResult:
    run: Run
    records: list[FoldRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # trained / reused / by another sweep


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep; the message says how far it got and how to resume."""


@dataclass
class _Context:
    """What a process needs to train units of one run, built once per process."""

    cfg: Config
    ds: Dataset
    device: torch.device
    run: Run
    splits: dict[int, list[Split]]
    groups: np.ndarray
    prov: dict
    stores: dict[int, tuple[str, DeviceStore]] = field(default_factory=dict)

    def store(self, model: str) -> tuple[str, DeviceStore]:
        """(store key, device store) at the model's input size, built or loaded once."""
        size = input_px(model, self.cfg.input_size)
        if size not in self.stores:
            st = build_store(
                self.ds, size, self.cfg.variant, self.cfg.face_crop, order=self.cfg.di_order
            )
            self.stores[size] = (st.key, DeviceStore.from_store(st, self.device))
        return self.stores[size]


_CONTEXTS: dict[str, _Context] = {}  # per process: a worker serves many units of one run


def _context(params: dict, fresh: bool = False) -> _Context:
    """The process's context for a run (``fresh``: reload the data, as each sweep call does)."""
    key = json.dumps([str(output_root()), params], sort_keys=True, default=str)
    if fresh or key not in _CONTEXTS:
        cfg = Config(**params).effective()
        ds = open_dataset(cfg)
        device = resolve_device(cfg.device)
        labels, groups = ds.labels(), np.array([s.subject for s in ds.samples])
        splits = {s: make_splits(cfg.protocol, labels, groups, cfg.folds, s) for s in cfg.seeds}
        run = make_run(cfg, ds.fingerprint(), ds.classes, device.type)
        _CONTEXTS[key] = _Context(cfg, ds, device, run, splits, groups, provenance(device))
    return _CONTEXTS[key]


def plan_sweep(cfg: Config) -> SweepPlan:
    """Check (preflight), open the dataset, name the run, lay out its units, and record the
    request in run.json."""
    cfg = cfg.effective()
    device = resolve_device(cfg.device)
    preflight.check([cfg], device.type == "cuda")  # data root, sheet, weights: before any work
    ctx = _context(asdict(cfg), fresh=True)
    n_splits = len(ctx.splits[cfg.seeds[0]])
    folds_run = cfg.folds_run(n_splits)
    models, confs = cfg.grid_on(cuda=device.type == "cuda")
    skipped = [
        (m, c) for m in cfg.models for c in cfg.configurations if m not in models or c not in confs
    ]
    units = [  # evaluation-only configurations reuse the folds of the one they score
        (m, c, s, f)
        for m in models
        for c in trained(confs)
        for s in cfg.seeds
        for f in range(folds_run)
    ]
    request = Request(
        tuple(models),
        trained(confs),
        tuple(cfg.seeds),
        folds_run,
        n_splits,
        asked=cfg.configurations,
        skipped=tuple(skipped),
        test_apex=cfg.test_apex,
    )  # what was asked too: the tables read it from run.json (mer_utils.run_handle)
    ds = ctx.ds
    dataset = DatasetInfo(
        name=ds.name,
        root=str(ds.root),
        spreadsheet=str(ds.spreadsheet),
        clips=len(ds.samples),
        classes=tuple(ds.classes),
        counts=ds.counts().to_dict(),
        fingerprint=ctx.run.identity["dataset_fingerprint"],
        sources=tuple(s.dataset for s in ds.samples) if composite_of(cfg.dataset) else (),
    )
    update_run_json(ctx.run, request, dataset, ctx.prov)
    return SweepPlan(cfg, ctx.run, units, skipped)


def run_unit(params: dict, unit: Unit, threads: int = 0, progress: bool = False) -> str:
    """Train one unit of the run of ``params`` (a Config as a dict) unless its record is
    already there or another process holds its claim. Every unit seeds itself from (seed,
    fold) alone, so any executor gives the same record. Returns "reused", "busy" or "trained"."""
    load_plugins(params.get("plugins", ()))  # first: a worker knows no entry its plugins add
    if threads:
        torch.set_num_threads(threads)
    ctx = _context(params)
    model, conf, seed, fold = unit
    split = ctx.splits[seed][fold]
    key, data = ctx.store(model)
    rp = run_params(ctx.cfg, ctx.run, model, conf, seed, split, key)
    path = ctx.run.record_path(model, conf, seed, fold)
    if read_record(path, rp) is not None:
        return "reused"
    claim = try_claim(path.with_name(path.name + ".claim"))
    if claim is None:
        return "busy"
    with claim:
        if read_record(path, rp) is not None:  # finished by another just before we claimed
            return "reused"
        rec = _run_one(ctx, data, model, conf, seed, split, rp, progress)
        write_atomic(path, lambda tmp: tmp.write_text(rec.to_json()))
    return "trained"


def run_units(params: dict, units: list[Unit], threads: int = 0) -> list[str]:
    """:func:`run_unit` for each of ``units`` (one SLURM array task); returns the statuses."""
    return [run_unit(params, u, threads) for u in units]


def run_sweep(cfg: Config, progress: bool = True) -> SweepResult:
    """Run (or resume) the grid of ``cfg`` with its executor (local, processes or slurm);
    units claimed by another sweep are waited for. One record per (model, configuration,
    seed, fold); Ctrl-C raises SweepInterrupted saying how to resume."""
    plan = plan_sweep(cfg)
    log.info("run %s (%s) in %s", plan.run.run_id, plan.run.name, plan.run.folder)
    if plan.skipped:
        log.info("not run on this device (cpu_grid): %s", plan.skipped)
    params = asdict(plan.cfg)
    try:
        counts = execute(plan.cfg, params, plan.units, plan.run.folder / "slurm", progress)
        counts.update(_wait_for_others(params, plan, counts.pop("busy", 0)))
    except KeyboardInterrupt:
        done = sum(read_record(plan.run.record_path(*u)) is not None for u in plan.units)
        raise SweepInterrupted(
            f"interrupted; rerun the same command to resume: {done} of {len(plan.units)} folds done"
        ) from None
    records = [read_record(plan.run.record_path(*u)) for u in plan.units]
    missing = [u for u, r in zip(plan.units, records, strict=True) if r is None]
    if missing:
        raise RuntimeError(
            f"run {plan.run.folder_name}: no valid record for {missing}; rerun to redo them"
        )
    log.info("run %s: %d folds: %s", plan.run.run_id, len(records), dict(counts))
    return SweepResult(plan.run, records, plan.skipped, counts)


def _wait_for_others(params: dict, plan: SweepPlan, busy: int, poll: float = 2.0) -> Counter:
    """Wait for units another sweep holds; take over any whose owner died. Returns the
    counts: "by another sweep" (they finished it) and "trained" (taken over here)."""
    counts: Counter = Counter()
    left = [u for u in plan.units if busy and read_record(plan.run.record_path(*u)) is None]
    with progress_bar(
        total=len(left), desc="folds held by another sweep", unit="fold", disable=not left
    ) as bar:
        while left:
            time.sleep(poll)
            for u in list(left):
                status = run_unit(params, u, threads_per_unit(plan.cfg))
                if status != "busy":
                    left.remove(u)
                    counts["by another sweep" if status == "reused" else status] += 1
                    bar.update()
    return counts


def _run_one(
    ctx: _Context,
    data: DeviceStore,
    model: str,
    conf: str,
    seed: int,
    split: Split,
    params: dict,
    progress: bool,
) -> FoldRecord:
    """Train and test one unit -> its fold record (``params``: its run params)."""
    cfg = ctx.cfg
    if cfg.validation in ("paper", "oracle"):  # the paper early-stops on the held-out fold
        fit, val = split.train, split.test
    else:  # leak-free: early-stop on subjects held out of the training clips
        fit, val = inner_split(split.train, data.labels, ctx.groups, seed)
    tp = TrainParams.from_config(cfg, model, params)
    if cfg.validation == "oracle":  # every epoch, keep the one best on the test fold: leaky
        tp = replace(tp, select="accuracy", patience=tp.epochs)
    res = fit_fold(model, data, fit, val, split.test, conf, tp, seed=seed * 1000 + split.fold, progress=progress)  # fmt: skip
    cuda = data.images.device.type == "cuda"
    return FoldRecord(
        schema=RECORD_SCHEMA,
        run_id=params["run_id"],
        params=params,
        split=split.to_dict(),
        y_true=res.y_true,
        y_pred=res.y_pred,
        scores=res.scores,  # logits of every DI kind of each test clip
        rel_apex=rel_apex_positions([ctx.ds.samples[i] for i in split.test]).tolist(),
        history=res.history,
        best_epoch=res.best_epoch,
        wall_s=res.wall_s,
        n_train_clips=len(fit),
        provenance=ctx.prov,
        finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
        config=asdict(cfg),
        peak_device_mem_mb=torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description="Run or resume a training sweep (no Jupyter needed).",
        epilog=parameters_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--config", required=True, help="configs/<name>.yaml or a name")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override (YAML value)"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        res = run_sweep(load_config(args.config, **parse_overrides(args.set)))
    except (ConfigError, PreflightError) as e:
        print(f"sweep: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except SweepInterrupted as e:
        print(e, file=sys.stderr)
        raise SystemExit(130) from None
    counts = ", ".join(f"{k} {v}" for k, v in res.counts.items())
    print(
        f"run {res.run.folder_name}: {len(res.records)} fold records ({counts}) in {res.run.folder}"
    )


if __name__ == "__main__":
    main()
