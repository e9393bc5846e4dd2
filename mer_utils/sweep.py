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
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import torch

from mer_utils import preflight
from mer_utils.claims import DiskFull, release_all, try_claim, write_atomic
from mer_utils.config import Config, ConfigError, load_config, parameters_help, parse_overrides
from mer_utils.configurations import representation_of, trained
from mer_utils.console import progress_bar
from mer_utils.dataset_specs import composite_of
from mer_utils.datasets import Dataset, DatasetError, open_dataset
from mer_utils.di_analysis import rel_apex_positions
from mer_utils.executors import UnitsFailed, execute, threads_per_unit
from mer_utils.flow import FlowParams
from mer_utils.flow_store import build_flow_store, with_flows
from mer_utils.model_specs import WeightsFile
from mer_utils.paths import output_root, repo_root
from mer_utils.plan import SweepPlan, Unit
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
    record_problem,
    update_run_json,
)
from mer_utils.signals import Terminated, exit_code, terminate_as_interrupt
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
            p: _version(p)
            for p in ("torch", "timm", "numpy", "scikit-learn", "opencv-contrib-python-headless")
        },
        device=f"{device.type}: {dev}",
        host=platform.node(),
        torch_threads=torch.get_num_threads(),
    )


def run_params(unit: Unit, split: Split, store_key: str) -> dict:
    """Everything that determines a fold's result; a record is reused only if these match."""
    plan = unit.model
    return dict(
        run_id=unit.run.run_id,
        **unit.run.identity,
        model=plan.name,
        configuration=unit.configuration,
        seed=unit.seed,
        fold=split.fold,
        pretrained_model=plan.pretrained,
        weights_file=plan.weights.path if isinstance(plan.weights, WeightsFile) else None,
        weights_source=plan.weights.describe(),
        input_px=plan.input_px,
        store_key=store_key,
        split_sha=hashlib.sha256(json.dumps(split.to_dict()).encode()).hexdigest()[:16],
    )


def _version(dist: str) -> str:
    """Installed version of ``dist``, or "not installed" (a GPU image may ship another OpenCV
    wheel, e.g. opencv-python: provenance must not stop the sweep)."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


@dataclass
class SweepResult:
    run: Run
    records: list[FoldRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # trained / reused / by another sweep


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a sweep; the message says how far it got and how to resume,
    ``code`` is the exit status (130 or 143)."""

    def __init__(self, message: str, code: int = 130):
        super().__init__(message)
        self.code = code


class SweepFailed(RuntimeError):
    """Workers or jobs ended without finishing their folds, or the disk filled; what was
    submitted has been stopped. One message: what failed, the folds not done, how to resume."""


@dataclass
class _Context:
    """What a process needs to train units of one run, built once per process and run: the
    dataset, its subject groups, the provenance, the splits by seed and the DI stores by size."""

    cfg: Config
    ds: Dataset
    device: torch.device
    prov: dict
    splits: dict[int, list[Split]] = field(default_factory=dict)
    stores: dict[int, tuple[dict[str, str], DeviceStore]] = field(default_factory=dict)

    @cached_property
    def groups(self) -> np.ndarray:
        """Subject of each clip (str [N]), made once."""
        return np.array([s.subject for s in self.ds.samples])

    @cached_property
    def sources(self) -> np.ndarray:
        """Source dataset of each clip (str [N]; a single dataset's own name), made once."""
        return np.array([s.dataset for s in self.ds.samples])

    def splits_of(self, seed: int) -> list[Split]:
        """Seed ``seed``'s folds (made once per seed)."""
        if seed not in self.splits:
            cfg, labels = self.cfg, self.ds.labels()
            self.splits[seed] = make_splits(
                cfg.protocol, labels, self.groups, cfg.folds, seed, self.sources
            )
        return self.splits[seed]

    def split(self, seed: int, fold: int) -> Split:
        return self.splits_of(seed)[fold]

    def store(self, size: int) -> tuple[dict[str, str], DeviceStore]:
        """({representation: its store's key}, device store) at ``size`` px, built or loaded
        once; the flow store's kinds merged in when a flow configuration runs."""
        if size not in self.stores:
            cfg = self.cfg
            face = cfg.face_params()
            st = build_store(self.ds, size, cfg.variant, face, order=cfg.di_order)
            keys = {"di": st.key}
            confs = cfg.grid_on(cuda=self.device.type == "cuda")[1]
            if any(representation_of(c) == "flow" for c in confs):
                params = FlowParams(algorithm=cfg.flow_algorithm, size=size)  # type: ignore[arg-type]
                crop = face is not None  # whole-scene frames: flows on the onset's Haar face box
                flows = build_flow_store(self.ds, params, face_crop=crop)
                st, keys["flow"] = with_flows(st, flows), flows.key
            self.stores[size] = (keys, DeviceStore.from_store(st, self.device))
        return self.stores[size]


# per process, by (output root, run id): a worker serves many units of one run
_CONTEXTS: dict[tuple[str, str], _Context] = {}


def _open(cfg: Config) -> _Context:
    """Load the dataset of the effective config ``cfg`` into a new context."""
    device = resolve_device(cfg.device)
    return _Context(cfg, open_dataset(cfg), device, provenance(device))


def _context_for(unit: Unit) -> _Context:
    """This process's context for the unit's run: the one its sweep planned with, or (in a
    worker) the dataset loaded once; DatasetError if the data changed since the plan."""
    key = (str(output_root()), unit.run.run_id)
    if key not in _CONTEXTS:
        ctx = _open(unit.config)
        planned = unit.run.identity["dataset_fingerprint"]
        if (now := ctx.ds.fingerprint()) != planned:
            raise DatasetError(
                f"{ctx.ds.root}: the data changed since the sweep planned run {unit.run.run_id} "
                f"(fingerprint {now}, planned {planned}); rerun the sweep"
            )
        _CONTEXTS[key] = ctx
    return _CONTEXTS[key]


def plan_sweep(cfg: Config) -> SweepPlan:
    """Check (preflight), open the dataset, name the run, resolve every unit once (model plans
    included) and record the request in run.json."""
    cfg = cfg.effective()
    device = resolve_device(cfg.device)
    preflight.check([cfg], device.type == "cuda")  # data root, sheet, weights: before any work
    ctx = _open(cfg)  # each sweep call reloads the data
    run = make_run(cfg, ctx.ds.fingerprint(), ctx.ds.classes, device.type)
    _CONTEXTS[(str(output_root()), run.run_id)] = ctx
    n_splits = len(ctx.splits_of(cfg.seeds[0]))
    folds_run = cfg.folds_run(n_splits)
    models, confs = cfg.grid_on(cuda=device.type == "cuda")
    skipped = tuple(
        (m, c) for m in cfg.models for c in cfg.configurations if m not in models or c not in confs
    )
    plans = {m: cfg.model_plan(m) for m in models}
    units = tuple(  # evaluation-only configurations reuse the folds of the one they score
        Unit(cfg, run, plans[m], c, s, f, str(device))
        for m in models
        for c in trained(confs)
        for s in cfg.seeds
        for f in range(folds_run)
    )
    request = Request(
        tuple(models),
        trained(confs),
        tuple(cfg.seeds),
        folds_run,
        n_splits,
        asked=cfg.configurations,
        skipped=skipped,
        test_apex=cfg.test_apex,
    )  # what was asked too: the tables read it from run.json (mer_utils.run_handle)
    info = update_run_json(run, request, _dataset_info(ctx.ds, run), ctx.prov)
    return SweepPlan(cfg, run, info, units, skipped)


def _dataset_info(ds: Dataset, run: Run) -> DatasetInfo:
    return DatasetInfo(
        name=ds.name,
        root=str(ds.root),
        spreadsheet=str(ds.spreadsheet),
        clips=len(ds.samples),
        classes=tuple(ds.classes),
        counts=ds.counts().to_dict(),
        fingerprint=run.identity["dataset_fingerprint"],
        sources=tuple(s.dataset for s in ds.samples) if composite_of(ds.name) else (),
    )


def run_unit(unit: Unit, threads: int = 0, progress: bool = False) -> str:
    """Train ``unit`` unless its record is already there or another process holds its claim.
    Every unit seeds itself from (seed, fold) alone, so any executor gives the same record.
    Returns "reused", "busy" or "trained". Executors call it in any process (it is pickled
    by reference)."""
    load_plugins(unit.config.plugins)  # first: a worker knows no entry its plugins add
    if threads:
        torch.set_num_threads(threads)
    ctx = _context_for(unit)
    split = ctx.split(unit.seed, unit.fold)
    keys, data = ctx.store(unit.model.input_px)
    rp = run_params(unit, split, keys[representation_of(unit.configuration)])
    path = unit.record_path
    if read_record(path, rp) is not None:
        return "reused"
    claim = try_claim(path.with_name(path.name + ".claim"))
    if claim is None:
        return "busy"
    with claim:
        if read_record(path, rp) is not None:  # finished by another just before we claimed
            return "reused"
        if (why := record_problem(path, rp)) is not None:
            log.warning("%s: %s; the fold is redone", path, why)
        rec = _run_one(ctx, data, unit, split, rp, progress)
        write_atomic(path, lambda tmp: tmp.write_text(rec.to_json()))
    return "trained"


def run_sweep(cfg: Config, progress: bool = True) -> SweepResult:
    """Run (or resume) the grid of ``cfg`` with its executor (local, processes or slurm);
    units claimed by another sweep are waited for. One record per (model, configuration,
    seed, fold). Ctrl-C or SIGTERM raises SweepInterrupted, a failed worker or job or a full
    disk SweepFailed, each saying how to resume."""
    with terminate_as_interrupt():  # SIGTERM (time limit, preemption, kill) = Ctrl-C
        try:
            plan = plan_sweep(cfg)
        except KeyboardInterrupt as e:
            release_all()
            what = "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted"
            raise SweepInterrupted(f"{what} while preparing the run; rerun the same command", exit_code(e)) from None  # fmt: skip
        return _execute(plan, progress)


def _execute(plan: SweepPlan, progress: bool) -> SweepResult:
    log.info("run %s (%s) in %s", plan.run.run_id, plan.run.name, plan.run.folder)
    if plan.skipped:
        log.info("not run on this device (cpu_grid): %s", plan.skipped)
    try:
        counts = execute(plan.config, list(plan.units), run_unit, plan.run.folder / "slurm", progress)  # fmt: skip
        counts.update(_wait_for_others(plan, counts.pop("busy", 0)))
    except KeyboardInterrupt as e:
        release_all()  # any claim the interrupt caught half made
        what = "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted"
        raise SweepInterrupted(f"{what}; {_resume(plan, name=False)}", exit_code(e)) from None
    except (UnitsFailed, DiskFull, DatasetError) as e:
        raise SweepFailed(f"{e}; {_resume(plan)}") from None
    records = [read_record(u.record_path) for u in plan.units]
    if any(r is None for r in records):
        raise SweepFailed(f"run {plan.run.folder_name}: {_resume(plan)}")
    res = SweepResult(plan.run, records, list(plan.skipped), counts)
    log.info(summary(res))
    return res


def _resume(plan: SweepPlan, name: bool = True, most: int = 8) -> str:
    """``not finished: <folds>; rerun the same command to resume: k of n folds done``."""
    missing = [u for u in plan.units if read_record(u.record_path) is None]
    done = f"rerun the same command to resume: {len(plan.units) - len(missing)} of {len(plan.units)} folds done"  # fmt: skip
    if not name or not missing:
        return done
    more = f" and {len(missing) - most} more" if len(missing) > most else ""
    return f"not finished: {', '.join(u.label for u in missing[:most])}{more}; {done}"


def summary(res: SweepResult) -> str:
    """``run <folder>: k of n folds done here, m by other sweeps, r already done``."""
    c = res.counts
    return (
        f"run {res.run.folder_name}: {c['trained']} of {len(res.records)} folds done here, "
        f"{c['by another sweep']} by other sweeps, {c['reused']} already done; in {res.run.folder}"
    )


def _wait_for_others(plan: SweepPlan, busy: int, poll: float = 2.0) -> Counter:
    """Wait for the ``busy`` units another sweep holds; take over any whose owner died.
    Returns the counts: "trained" (taken over here) and "by another sweep" (the rest, whether
    they finished before or during the wait)."""
    taken = 0
    left = [u for u in plan.units if busy and read_record(u.record_path) is None]
    with progress_bar(
        total=len(left), desc="folds held by another sweep", unit="fold", disable=not left
    ) as bar:
        while left:
            time.sleep(poll)
            for u in list(left):
                status = run_unit(u, threads_per_unit(plan.config))
                if status != "busy":
                    left.remove(u)
                    taken += status == "trained"
                    bar.update()
    return +Counter({"trained": taken, "by another sweep": busy - taken})


def _run_one(
    ctx: _Context, data: DeviceStore, unit: Unit, split: Split, params: dict, progress: bool
) -> FoldRecord:
    """Train and test one unit -> its fold record (``params``: its run params)."""
    cfg, seed = unit.config, unit.seed
    if cfg.validation in ("paper", "oracle"):  # the paper early-stops on the held-out fold
        fit, val = split.train, split.test
    else:  # leak-free: early-stop on subjects held out of the training clips
        fit, val = inner_split(split.train, data.labels, ctx.groups, seed)
    tp = TrainParams.from_config(cfg)
    res = fit_fold(unit.model, data, fit, val, split.test, unit.configuration, tp, seed=seed * 1000 + split.fold, progress=progress)  # fmt: skip
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
    except (ConfigError, PreflightError, DatasetError) as e:
        print(f"sweep: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except SweepInterrupted as e:
        print(e, file=sys.stderr)
        raise SystemExit(e.code) from None
    except (SweepFailed, DiskFull) as e:  # DiskFull: before any fold (data, DI store, run.json)
        print(f"sweep: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    print(summary(res))


if __name__ == "__main__":
    # run as the importable module, not as __main__: executors pickle run_unit by reference, and
    # a worker must find mer_utils.sweep.run_unit (and log as mer_utils.sweep), not __mp_main__'s
    from mer_utils import sweep

    sweep.main()
