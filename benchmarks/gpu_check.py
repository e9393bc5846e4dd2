"""One prepared check of the CUDA path on a lent GPU: correctness, throughput, a timed grid slice.

Plain python (the GPU image has no papermill or submitit). Everything goes under ``--out``,
each JSON with its provenance (git commit, torch / CUDA / cuDNN versions, device name, time,
command); ``summary.txt`` holds the same lines as stdout. Results are written as each
measurement ends, so a killed run keeps what it measured.

1. **correctness**: a small grid (LEARNet + ResNet-34, Baseline + Dual-DI, 2 folds, a few
   epochs, a small synthetic copy) through the real sweep (``mer_utils.sweep.run_sweep``),
   compared with the CPU records of the same grid carried in ``benchmarks/reference/``
   (:func:`compare`, tolerances in :class:`Tolerance`); on CUDA also the host syncs per
   training batch of the real step (``torch.cuda.set_sync_debug_mode``).
2. **throughput** per backbone: training images/s of the real step (``train._setup`` +
   ``train._train_epoch``, dual-DI items + flip/rotate) at batch 25 in 1 process and in N
   processes sharing the device (as ``executor=processes`` does: spawned workers, each with
   its own device copy of the DIs), at a large batch (the bound), and the naive PNG +
   DataLoader path; peak device memory per worker.
3. **slice**: one fold of every model x trained configuration of ``configs/gpu_full.yaml`` at
   real size through ``run_sweep`` (``executor=processes``, the best worker count of part 2),
   timed at 1 and at 3 epochs; the full grid's wall time is projected from the two.

A global deadline (``--deadline-s``) and per-part budgets skip what would not fit, saying so.

    python benchmarks/gpu_check.py --out OUT                 # on the GPU (~7 min on one H200)
    python benchmarks/gpu_check.py --out OUT --tiny          # the same path on CPU in seconds
    python benchmarks/gpu_check.py --reference [--tiny]      # CPU reference -> benchmarks/reference/
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench_training; mer_utils without installing

from mer_utils.config import Config, load_config  # noqa: E402
from mer_utils.datasets import Dataset, open_dataset  # noqa: E402
from mer_utils.metrics import scores as fold_scores  # noqa: E402
from mer_utils.model_specs import REGISTRY, get_spec, input_px, plan_model  # noqa: E402
from mer_utils.store import build_store  # noqa: E402
from mer_utils.sweep import run_sweep  # noqa: E402
from mer_utils.train import DeviceStore, TrainParams, _setup, _train_epoch  # noqa: E402

REFERENCE_DIR = HERE / "reference"
PAPER_GRID_EPOCHS = 50  # configs/base/paper.yaml: at most 50 epochs per unit


# ------------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
    """How big each part is. ``FULL`` is sized for one H200 (see ``budgets``), ``TINY`` for a
    2-core CPU in seconds; both run the same code."""

    corr_scale: float  # fraction of the CASME-II clip count for the correctness copy
    corr_frames: tuple[int, int]  # [H, W] of its frames
    corr_epochs: int
    corr_input: dict[str, int]  # input side overrides of the correctness grid
    tp_models: tuple[str, ...]
    tp_workers: tuple[int, ...]  # N of "batch 25 x N workers"
    tp_items: int  # training items per timed epoch (dual-DI items of the copy, tiled)
    tp_big: int  # the large batch (the bound)
    tp_window: float  # seconds each throughput measurement runs (after a warm-up epoch)
    tp_input: dict[str, int]
    naive_workers: int  # DataLoader workers of the naive path
    slice_scale: float
    slice_frames: tuple[int, ...]  # () = the real frame size
    slice_models: tuple[str, ...]
    slice_configs: tuple[str, ...]
    slice_epochs: tuple[int, int]  # (1, most E): the two timed sweeps
    slice_input: dict[str, int]
    deadline_s: float  # whole script
    budgets: dict[str, float] = field(default_factory=dict)  # part -> seconds


FULL = Sizes(
    corr_scale=0.25,  # 61 clips, 2 folds of ~30 test clips
    corr_frames=(170, 140),
    corr_epochs=3,
    corr_input={"resnet34": 64},  # the CPU reference's cost; the throughput part runs 224 px
    tp_models=(
        "resnet34",
        "learnet",
        "efficientnet_b0",
        "vit_b16",
        "vgg19",
        "vggface",
        "efficientnet_lite0",
    ),  # fmt: skip
    tp_workers=(2, 4, 8),
    tp_items=500,
    tp_big=250,
    tp_window=1.5,
    tp_input={},
    naive_workers=8,
    slice_scale=1.0,
    slice_frames=(),
    slice_models=("paper",),
    slice_configs=("paper+additions",),
    slice_epochs=(1, 3),
    slice_input={},
    deadline_s=450,
    budgets={"correctness": 75, "throughput": 190, "slice": 170},
)
TINY = Sizes(
    corr_scale=0.06,
    corr_frames=(68, 56),
    corr_epochs=1,
    corr_input={"resnet34": 32},
    tp_models=("resnet34",),  # LEARNet's fixed 112 px costs minutes on a busy 2-core CPU
    tp_workers=(2,),
    tp_items=50,
    tp_big=50,
    tp_window=0.2,
    tp_input={"resnet34": 32},
    naive_workers=0,
    slice_scale=0.06,
    slice_frames=(68, 56),
    slice_models=("resnet34",),
    slice_configs=("baseline", "dual_di"),
    slice_epochs=(1, 2),
    slice_input={"resnet34": 32},
    deadline_s=1500,  # a busy 2-core CPU (3 min idle, 15 seen): it checks the path, not time
    budgets={"correctness": 400, "throughput": 300, "slice": 700},
)


# ------------------------------------------------------------------------------- output


class Report:
    """The output folder: JSON files with provenance, and summary lines (also printed)."""

    def __init__(self, out: Path, prov: dict, t0: float, sizes: Sizes):
        self.out, self.prov, self.t0, self.sizes = out, prov, t0, sizes
        out.mkdir(parents=True, exist_ok=True)

    def say(self, line: str) -> None:
        line = f"[{time.perf_counter() - self.t0:6.1f} s] {line}"
        print(line, flush=True)
        with open(self.out / "summary.txt", "a") as f:
            f.write(line + "\n")

    def write(self, name: str, payload: dict) -> Path:
        """``out/name`` (JSON, with provenance), atomically: a kill never leaves half a file."""
        path = self.out / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(dict(provenance=self.prov, **payload), indent=1, default=str))
        os.replace(tmp, path)
        return path

    def left(self, part: str, started: float) -> float:
        """Seconds left for ``part`` (started at ``started``): its budget and the deadline."""
        now = time.perf_counter()
        return min(
            self.sizes.budgets[part] - (now - started), self.sizes.deadline_s - (now - self.t0)
        )


def provenance(device: torch.device, commit: str) -> dict:
    """Git commit (``commit`` when given: the GPU's copy of the tree has no .git), versions,
    device name, UTC time, the command line."""

    def git(*args: str) -> str:
        try:
            cmd = ["git", "-C", str(HERE.parent), *args]
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    cuda = device.type == "cuda"
    return dict(
        git_commit=commit or git("rev-parse", "HEAD") or "unknown (no .git; pass --commit)",
        git_dirty=bool(git("status", "--porcelain", "--untracked-files=no"))
        if not commit
        else None,
        torch=torch.__version__,
        cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version() if cuda else None,
        device=torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu",
        device_type=device.type,
        python=platform.python_version(),
        host=platform.node(),
        cpus=os.cpu_count(),
        time_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        command=" ".join([sys.executable, *sys.argv]),
    )


# ------------------------------------------------------------------------------- part 1


def correctness_config(sz: Sizes, device: str) -> Config:
    """The correctness grid. LEARNet's dropout is off: CUDA and CPU draw dropout masks from
    different generators, so with it on the two runs would differ by chance, not numerics."""
    return Config(
        dataset="synthetic_casme2",
        synthetic_scale=sz.corr_scale,
        synthetic_size=sz.corr_frames,
        models=("learnet", "resnet34"),
        configurations=("baseline", "dual_di"),
        folds=2,
        epochs=sz.corr_epochs,
        patience=sz.corr_epochs,
        pretrained=False,
        dropout={"learnet": 0.0},
        input_size=sz.corr_input,
        device=device,
        executor="local",
        seeds=(0,),
    )


def unit_key(model: str, configuration: str, fold: int) -> str:
    return f"{model}/{configuration}/fold{fold}"


def correctness_records(cfg: Config) -> dict:
    """Run the grid through the real sweep -> {"units": {key: summary}, "di_means": ...}."""
    res = run_sweep(cfg, progress=False)
    ds = open_dataset(cfg)
    units = {}
    for r in res.records:
        m = fold_scores(np.array(r.y_true), np.array(r.y_pred), len(ds.classes))
        units[unit_key(r.model, r.configuration, r.fold)] = dict(
            test=r.split["test"],
            y_true=r.y_true,
            y_pred=r.y_pred,
            **{k: round(v, 6) for k, v in m.items()},
            train_loss=[h["train_loss"] for h in r.history],
            val_loss=[h["val_loss"] for h in r.history],
            logits_full=r.scores["full"],
            wall_s=r.wall_s,
        )
    return dict(units=units, di_means=di_means(cfg, ds), run=res.run.folder_name)


def di_means(cfg: Config, ds: Dataset) -> dict[str, list[float]]:
    """Per input size, each clip's mean full-DI grey level: the inputs' fingerprint (the
    dataset key also hashes JPEG bytes, which another OpenCV build may encode differently)."""
    out = {}
    for m in cfg.models:
        px = input_px(m, cfg.input_size)
        st = build_store(ds, px, cfg.variant, cfg.face_params(), order=cfg.di_order)
        out[str(px)] = st.full.reshape(len(st), -1).mean(1).round(3).tolist()
    return out


@dataclass(frozen=True)
class Tolerance:
    """How far device records may lie from the CPU reference of the same grid.

    The two runs share data, splits, initial weights (drawn on the CPU), batch order (a CPU
    generator) and have no dropout (:func:`correctness_config`); they differ by numerics only:
    bf16 autocast and cuDNN's kernels on CUDA vs float32 on CPU (bf16 keeps 8 bits of
    mantissa: ~0.4 % per rounding). So inputs, splits and epochs must agree exactly, the first
    epoch's training loss (the shared initial weights dominate it) within 5 %, later losses
    (3 epochs of Adam at the paper's lr 1e-4 amplify the rounding) within 10 %, test logits
    within an absolute 0.1 + 10 % of their largest magnitude, and predictions loosely: after 3
    epochs the small models' logits are nearly tied (the CPU reference's LEARNet predicts the
    majority class for every clip), so argmax-based checks only catch gross failures. These
    limits are reasoned, not yet measured on a device: correctness.json keeps every measured
    difference, to tighten them after the first run.
    """

    di_mean_abs: float = 1.0  # grey levels: same DIs up to JPEG codec differences
    first_loss_rtol: float = 0.05
    loss_rtol: float = 0.10  # any epoch's training / validation loss
    logit_atol: float = 0.1  # + logit_rtol x max |reference logit| of the unit
    logit_rtol: float = 0.1
    acc_points: float = 25.0  # per-unit accuracy, percentage points (~30 test clips a fold)
    agreement: float = 0.6  # share of test clips predicted alike


@dataclass(frozen=True)
class Finding:
    unit: str
    check: str
    reference: object
    got: object
    limit: str
    ok: bool


def compare(ref: dict, got: dict, tol: Tolerance = Tolerance()) -> list[Finding]:
    """Device records ``got`` against the reference ``ref`` (both from
    :func:`correctness_records`) -> one finding per check; ``ok`` False marks a mismatch."""
    out = _compare_inputs(ref, got, tol)
    for key in sorted(set(ref["units"]) | set(got["units"])):
        a, b = ref["units"].get(key), got["units"].get(key)
        if a is None or b is None:
            out.append(Finding(key, "unit present", a is not None, b is not None, "both", False))
            continue
        out += _compare_unit(key, a, b, tol)
    return out


def _compare_inputs(ref: dict, got: dict, tol: Tolerance) -> list[Finding]:
    out = []
    for px in sorted(set(ref["di_means"]) | set(got["di_means"])):
        a, b = np.array(ref["di_means"].get(px, [])), np.array(got["di_means"].get(px, []))
        diff = float(np.abs(a - b).max()) if a.shape == b.shape and a.size else float("inf")
        limit = f"<= {tol.di_mean_abs} grey levels"
        out.append(Finding(f"DIs {px} px", "max |mean DI diff|", len(a), len(b), limit, diff <= tol.di_mean_abs))  # fmt: skip
    return out


def _compare_unit(key: str, a: dict, b: dict, tol: Tolerance) -> list[Finding]:
    rel = lambda x, y: abs(x - y) / max(abs(x), 1e-8)  # noqa: E731
    out = [
        Finding(key, "test clips", len(a["test"]), len(b["test"]), "equal", a["test"] == b["test"]),
        Finding(key, "labels", "", "", "equal", a["y_true"] == b["y_true"]),
        Finding(key, "epochs", len(a["train_loss"]), len(b["train_loss"]), "equal",
                len(a["train_loss"]) == len(b["train_loss"])),
    ]  # fmt: skip
    if not all(f.ok for f in out):
        return out
    r0 = rel(a["train_loss"][0], b["train_loss"][0])
    later = [rel(x, y) for k in ("train_loss", "val_loss") for x, y in zip(a[k], b[k], strict=True)]
    agree = float(np.mean(np.array(a["y_pred"]) == np.array(b["y_pred"])))
    dacc = 100 * abs(a["accuracy"] - b["accuracy"])
    la, lb = np.array(a["logits_full"], float), np.array(b["logits_full"], float)
    dlog = float(np.abs(la - lb).max()) if la.shape == lb.shape else float("inf")
    llim = tol.logit_atol + tol.logit_rtol * float(np.abs(la).max())
    return out + [
        Finding(key, "epoch-1 train loss rel diff", a["train_loss"][0], b["train_loss"][0],
                f"<= {tol.first_loss_rtol}", r0 <= tol.first_loss_rtol),
        Finding(key, "max loss rel diff (train, val)", "", round(max(later), 4),
                f"<= {tol.loss_rtol}", max(later) <= tol.loss_rtol),
        Finding(key, "accuracy diff (points)", a["accuracy"], b["accuracy"],
                f"<= {tol.acc_points}", dacc <= tol.acc_points),
        Finding(key, "prediction agreement", "", round(agree, 3), f">= {tol.agreement}",
                agree >= tol.agreement),
        Finding(key, "max |logit diff| (full DI)", round(float(np.abs(la).max()), 4),
                round(dlog, 4), f"<= {llim:.3f}", dlog <= llim),
    ]  # fmt: skip


def sync_checks(device: torch.device, sz: Sizes, ds: Dataset) -> dict:
    """CUDA only: host syncs per training batch of the real step, by torch's sync debug mode
    (a ``.item()`` / ``.cpu()`` / ``.numpy()`` in the step shows as >= 1 per batch)."""
    if device.type != "cuda":
        return dict(skipped="not CUDA: torch's sync debug mode only watches CUDA")
    out = {}
    for name in ("learnet", "resnet34"):
        px = input_px(name, sz.corr_input)
        data = DeviceStore.from_store(build_store(ds, px), device)
        samples = data.items(np.arange(len(data.labels)), ("full", "onset", "offset"))
        model, norm = _build(name, data.num_classes, px, device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        gens = (torch.Generator().manual_seed(0), torch.Generator(device=device).manual_seed(1))
        _train_epoch(model, norm, data, samples, opt, gens, TrainParams(), ("flip_rotate",))
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                _train_epoch(model, norm, data, samples, opt, gens, TrainParams(), ("flip_rotate",))
            finally:
                torch.cuda.set_sync_debug_mode("default")
        batches = -(-len(samples[0]) // 25)
        msgs = sorted({str(w.message).splitlines()[0][:160] for w in caught})
        out[name] = dict(batches=batches, syncs=len(caught), per_batch=len(caught) / batches,
                         messages=msgs)  # fmt: skip
    return out


def part_correctness(rep: Report, sz: Sizes, device: torch.device, tiny: bool) -> int:
    """Run the correctness grid, compare it with the reference; returns the mismatch count."""
    started = time.perf_counter()
    cfg = correctness_config(sz, device.type)
    got = correctness_records(cfg)
    ref_path = reference_path(tiny)
    if not ref_path.is_file():
        rep.say(f"correctness: no reference {ref_path}; make it on CPU with --reference")
        rep.write("correctness.json", dict(records=got, reference=None, findings=[]))
        return 1
    ref = json.loads(ref_path.read_text())
    findings = compare(ref["records"], got)
    bad = [f for f in findings if not f.ok]
    rep.write(
        "correctness.json",
        dict(records=got, reference=str(ref_path), reference_provenance=ref["provenance"],
             tolerance=dataclasses.asdict(Tolerance()),
             findings=[dataclasses.asdict(f) for f in findings], mismatches=len(bad)),
    )  # fmt: skip
    rep.say(f"correctness vs {ref_path.name}: {len(findings) - len(bad)}/{len(findings)} checks ok")
    for f in bad:
        rep.say(f"  MISMATCH {f.unit}: {f.check}: reference {f.reference}, got {f.got} ({f.limit})")
    if rep.left("correctness", started) > 10:
        syncs = sync_checks(device, sz, open_dataset(cfg))
    else:
        syncs = dict(skipped="the correctness part's time budget was spent")
    rep.write("sync_check.json", dict(syncs=syncs))
    rep.say(f"host syncs per training batch: {_sync_line(syncs)}")
    return len(bad)


def _build(name: str, num_classes: int, px: int, device: torch.device):
    """(model, normaliser) as a fold builds them (``train._setup``: seed 0, from scratch,
    channels_last where the spec says so) at ``px``."""
    return _setup(plan_model(name, pretrained=False, input_size=px), num_classes, device, 0)


def _sync_line(syncs: dict) -> str:
    if "skipped" in syncs:
        return syncs["skipped"]
    return ", ".join(f"{m} {v['per_batch']:.2f} ({v['syncs']} in {v['batches']})" for m, v in syncs.items())  # fmt: skip


def reference_path(tiny: bool) -> Path:
    return REFERENCE_DIR / ("gpu_check_cpu_tiny.json" if tiny else "gpu_check_cpu.json")


def make_reference(rep: Report, sz: Sizes, tiny: bool) -> Path:
    """The CPU records of the correctness grid -> ``benchmarks/reference/`` (carried in git)."""
    got = correctness_records(correctness_config(sz, "cpu"))
    REFERENCE_DIR.mkdir(exist_ok=True)
    path = reference_path(tiny)
    path.write_text(json.dumps(dict(provenance=rep.prov, records=got), indent=1))
    rep.say(f"reference written: {path} ({len(got['units'])} units)")
    return path


# ------------------------------------------------------------------------------- part 2

_BARRIERS: dict[int, object] = {}
_CACHE: dict[str, object] = {}


def _init_worker(barriers: dict) -> None:
    """A throughput worker: the barriers, and death with the script (a killed run leaves no
    process holding the device)."""
    from mer_utils.claims import die_with_parent

    die_with_parent()
    _BARRIERS.update(barriers)


def _worker_model(job: dict, data: DeviceStore, device: torch.device):
    """(model, normaliser, optimiser) of ``job`` in this worker, built once per model."""
    key = f"{job['model']}@{job['px']}"
    if _CACHE.get("model_key") != key:
        _CACHE.pop("model", None)
        torch.cuda.empty_cache() if device.type == "cuda" else None
        model, norm = _build(job["model"], data.num_classes, job["px"], device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        _CACHE.update(model_key=key, model=(model, norm, opt))
    if device.type == "cuda":  # this task's peak: DIs, model, Adam state, its batch
        torch.cuda.reset_peak_memory_stats(device)
    return _CACHE["model"]


def throughput_task(job: dict) -> dict:
    """In a worker: train ``job['model']`` with the real step at ``job['batch']`` for
    ``job['window']`` s after a warm-up epoch, starting with the other ``job['parties'] - 1``
    workers (a barrier). Returns images/s and this process's peak device memory."""
    device = torch.device(job["device"])
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // job["parties"]))
    if _CACHE.get("data_path") != job["data"]:
        z = np.load(job["data"])
        imgs = torch.from_numpy(z["images"]).to(device)
        _CACHE.update(data_path=job["data"], data=DeviceStore(imgs, {"full": np.arange(len(imgs))}, z["labels"], int(z["classes"])))  # fmt: skip
    data: DeviceStore = _CACHE["data"]
    n = job["items"]
    rows = np.resize(np.arange(len(data.labels)), n)
    samples = (rows, data.labels[rows], np.zeros(n, bool))
    gens = (torch.Generator().manual_seed(0), torch.Generator(device=device).manual_seed(1))
    p = TrainParams(batch_size=job["batch"])
    try:
        model, norm, opt = _worker_model(job, data, device)
        _train_epoch(model, norm, data, samples, opt, gens, p, ("flip_rotate",)).item()  # warm-up
    except BaseException:  # e.g. out of memory: release the others at the barrier at once
        if job["parties"] > 1:
            _BARRIERS[job["parties"]].abort()
        raise
    if job["parties"] > 1:
        _BARRIERS[job["parties"]].wait(timeout=300)
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < job["window"]:
        _train_epoch(model, norm, data, samples, opt, gens, p, ("flip_rotate",)).item()
        done += n
    secs = time.perf_counter() - t0
    mem = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return dict(img_s=done / secs, seconds=secs, peak_mem_mb=mem, pid=os.getpid())


def _training_items(ds: Dataset, px: int, tmp: Path) -> Path:
    """The copy's dual-DI training items at ``px`` as one .npz the workers load."""
    st = build_store(ds, px)
    data = DeviceStore.from_store(st, "cpu")
    rows, labels, _ = data.items(np.arange(len(st)), ("full", "onset", "offset"))
    path = tmp / f"items_{px}.npz"
    if not path.exists():
        np.savez(path, images=st.images[rows], labels=labels, classes=len(st.classes))
    return path


def _measure(pool, job: dict, parties: int) -> dict:
    """``parties`` workers train ``job`` at once -> their summed images/s and peak memory."""
    if parties > 1:
        _BARRIERS[parties].reset()  # usable again after a failed setting aborted it
    futures = [pool.submit(throughput_task, dict(job, parties=parties)) for _ in range(parties)]
    res = [f.result(timeout=900) for f in futures]
    mems = [r["peak_mem_mb"] for r in res if r["peak_mem_mb"] is not None]
    return dict(
        workers=parties,
        batch=job["batch"],
        img_s=sum(r["img_s"] for r in res),
        per_worker_img_s=[r["img_s"] for r in res],
        peak_mem_mb_per_worker=max(mems) if mems else None,
        distinct_pids=len({r["pid"] for r in res}),
    )


def naive_img_s(name: str, npz: Path, px: int, sz: Sizes, device: torch.device, tmp: Path) -> float:
    """The naive path (bench_training.PngDIs: PNG files, PIL, per-sample transforms, a
    DataLoader, float32, no channels_last) over ``tp_items`` items, one epoch."""
    from bench_training import PngDIs, naive_images_per_s
    from PIL import Image

    from mer_utils.models import create_model

    z = np.load(npz)
    folder = tmp / f"png_{px}"
    folder.mkdir(exist_ok=True)
    paths = []
    for i, im in enumerate(z["images"]):
        paths.append(folder / f"{i}.png")
        if not paths[-1].exists():
            Image.fromarray(im.transpose(1, 2, 0)).save(paths[-1])
    rows = np.resize(np.arange(len(paths)), sz.tp_items)
    spec = dataclasses.replace(get_spec(name), input_size=px)
    loader = torch.utils.data.DataLoader(
        PngDIs([paths[i] for i in rows], z["labels"][rows], spec),
        batch_size=25, shuffle=True, num_workers=sz.naive_workers,
    )  # fmt: skip
    model = create_model(name, int(z["classes"]), pretrained=False).to(device)
    return naive_images_per_s(model, loader, 1, device)


def part_throughput(rep: Report, sz: Sizes, device: torch.device, ds: Dataset, tmp: Path) -> dict:
    """Per backbone: batch 25 x 1 and x N workers, the large batch, the naive path."""
    started, rows = time.perf_counter(), []
    ctx = multiprocessing.get_context("spawn")  # as executors._processes: no forked CUDA state
    barriers = {n: ctx.Barrier(n) for n in sz.tp_workers}
    _BARRIERS.update(barriers)  # this process resets them (see _measure)
    most = max((1, *sz.tp_workers))
    with ProcessPoolExecutor(most, mp_context=ctx, initializer=_init_worker, initargs=(barriers,)) as pool:  # fmt: skip
        for name in [m for m in sz.tp_models if m in REGISTRY]:
            if rep.left("throughput", started) < 15 * sz.tp_window + 5:
                rep.say(f"throughput: time budget spent; skipped {name} and the models after it")
                break
            rows.append(_throughput_one(rep, sz, device, ds, tmp, pool, name))
            rep.write("throughput.json", dict(rows=rows, sizes=dataclasses.asdict(sz)))
    return dict(rows=rows, best_workers=best_workers(rows))


def _throughput_one(rep, sz: Sizes, device, ds: Dataset, tmp: Path, pool, name: str) -> dict:
    px = input_px(name, sz.tp_input)
    npz = _training_items(ds, px, tmp)
    job = dict(model=name, px=px, data=str(npz), device=str(device), items=sz.tp_items,
               window=sz.tp_window, batch=25)  # fmt: skip
    settings = [_measure(pool, job, 1), _measure(pool, dict(job, batch=sz.tp_big), 1)]
    settings += [_measure(pool, job, n) for n in sz.tp_workers]
    naive = naive_img_s(name, npz, px, sz, device, tmp)
    b25, bound = settings[0]["img_s"], settings[1]["img_s"]
    best = max(settings[2:] or settings[:1], key=lambda s: s["img_s"])
    row = dict(model=name, input_px=px, settings=settings, batch25_1=b25, bound=bound,
               bound_batch=sz.tp_big, naive=naive, best_n=best["workers"],
               best_n_img_s=best["img_s"], bound_over_best_n=bound / best["img_s"])  # fmt: skip
    nx = " | ".join(f"x{s['workers']} {s['img_s']:.0f}" for s in settings[2:])
    mem = "/".join(f"{s['peak_mem_mb_per_worker']:.0f}" for s in settings if s["peak_mem_mb_per_worker"])  # fmt: skip
    rep.say(
        f"{name:18s} {px} px img/s: batch 25 x1 {b25:.0f} | {nx} | batch {sz.tp_big} {bound:.0f} "
        f"| naive {naive:.0f} | bound / best-N {row['bound_over_best_n']:.2f} | peak MB/worker {mem or 'n/a'}"
    )
    return row


def best_workers(rows: list[dict]) -> int:
    """The worker count with the highest geometric-mean batch-25 throughput over the models."""
    counts = {s["workers"] for r in rows for s in r["settings"] if s["batch"] == 25}
    if not counts:
        return 1

    def gmean(n: int) -> float:
        vals = [s["img_s"] for r in rows for s in r["settings"] if s["workers"] == n and s["batch"] == 25]  # fmt: skip
        return float(np.exp(np.mean(np.log(vals)))) if len(vals) == len(rows) else 0.0

    return max(sorted(counts), key=gmean)


# ------------------------------------------------------------------------------- part 3


def slice_config(sz: Sizes, device: str, workers: int, epochs: int) -> Config:
    """One fold of configs/gpu_full.yaml (every model x configuration), ``epochs`` epochs
    without early stopping (patience = epochs), ``workers`` processes sharing the device."""
    return load_config(
        "gpu_full",
        device=device,
        models=sz.slice_models,
        configurations=sz.slice_configs,
        synthetic_scale=sz.slice_scale,
        synthetic_size=sz.slice_frames,
        input_size=sz.slice_input,
        max_folds=1,
        epochs=epochs,
        patience=epochs,
        executor="processes",
        workers=workers,
        cpu_grid={},
    )


def part_slice(rep: Report, sz: Sizes, device: torch.device, workers: int) -> None:
    """Time the slice at 1 and E epochs; project the full grid (5 folds, 50 epochs)."""
    started = time.perf_counter()
    base = slice_config(sz, device.type, workers, 1)
    t0 = time.perf_counter()
    ds = open_dataset(base)
    for m in base.models:  # the grid builds these once, not once per fold
        build_store(ds, input_px(m, base.input_size), base.variant, base.face_params(), order=base.di_order)  # fmt: skip
    prep = time.perf_counter() - t0
    rep.say(f"slice: {len(ds.samples)} clips, data + DI stores in {prep:.0f} s; {workers} workers")
    out = dict(workers=workers, data_prep_s=prep, clips=len(ds.samples), sweeps=[])
    for i, epochs in enumerate(_slice_epochs(rep, sz, started)):
        if i and rep.left("slice", started) < out["sweeps"][-1]["wall_s"] * epochs:  # its bound
            rep.say(f"slice: no time left for the {epochs}-epoch sweep; skipped")
            break
        t0 = time.perf_counter()
        res = run_sweep(slice_config(sz, device.type, workers, epochs), progress=False)
        wall = time.perf_counter() - t0
        mem = [r.peak_device_mem_mb for r in res.records if r.peak_device_mem_mb]
        out["sweeps"].append(dict(epochs=epochs, units=len(res.records), wall_s=wall,
                                  peak_mem_mb_max=max(mem) if mem else None, run=res.run.folder_name))  # fmt: skip
        rep.say(f"slice at {epochs} epoch(s): {len(res.records)} units in {wall:.1f} s")
        out["projection"] = project(out, base.folds)
        rep.write("slice.json", out)
    p = out.get("projection", {})
    if "full_grid_s" in p:
        rep.say(
            f"projected full grid ({base.folds} folds, {PAPER_GRID_EPOCHS} epochs each, no early "
            f"stop): {p['full_grid_s'] / 60:.1f} min (fixed {p['fixed_s_per_fold']:.0f} s + "
            f"{p['per_epoch_s_per_fold']:.1f} s per epoch, per fold)"
        )
    else:
        rep.say(f"slice: no projection (it needs the sweeps at {sz.slice_epochs} epochs)")


def _slice_epochs(rep: Report, sz: Sizes, started: float) -> list[int]:
    if rep.left("slice", started) < 30:
        rep.say("slice: time budget spent; skipped")
        return []
    return list(sz.slice_epochs)


def project(out: dict, folds: int) -> dict:
    """From sweeps at 1 and E epochs: fixed seconds per fold sweep (spawn, data, model builds,
    scoring) and seconds per epoch of every unit; the full grid = data prep + ``folds`` x
    (fixed + 50 x per epoch): an upper bound, since early stopping ends most units sooner."""
    s = out["sweeps"]
    if len(s) < 2:
        return dict(note="one sweep only: no per-epoch split", wall_1=s[0]["wall_s"])
    (e1, w1), (e2, w2) = (s[0]["epochs"], s[0]["wall_s"]), (s[-1]["epochs"], s[-1]["wall_s"])
    per_epoch = max((w2 - w1) / (e2 - e1), 0.0)
    fixed = max(w1 - e1 * per_epoch, 0.0)
    full = out["data_prep_s"] + folds * (fixed + PAPER_GRID_EPOCHS * per_epoch)
    return dict(fixed_s_per_fold=fixed, per_epoch_s_per_fold=per_epoch, folds=folds,
                epochs=PAPER_GRID_EPOCHS, full_grid_s=full)  # fmt: skip


# ------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out", default="", help="output folder (default results/bench/gpu_check-<time>)"
    )
    ap.add_argument("--tiny", action="store_true", help="tiny sizes: the CPU dry run")
    ap.add_argument("--reference", action="store_true", help="write the CPU reference, then stop")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--parts", default="correctness,throughput,slice")
    ap.add_argument(
        "--commit", default="", help="git commit of the tree (the GPU copy has no .git)"
    )
    ap.add_argument("--deadline-s", type=float, default=0, help="override the sizes' deadline")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    sz = TINY if args.tiny else FULL
    if args.deadline_s:
        sz = dataclasses.replace(sz, deadline_s=args.deadline_s)
    dev = "cpu" if args.reference else args.device
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if dev == "auto" else dev
    )
    out = Path(args.out or HERE.parent / "results" / "bench" / time.strftime("gpu_check-%Y%m%d-%H%M%S"))  # fmt: skip
    rep = Report(out, provenance(device, args.commit), t0, sz)
    rep.say(f"gpu_check on {rep.prov['device']} ({device}), torch {torch.__version__}, CUDA {torch.version.cuda}; out {out}")  # fmt: skip
    with _scratch_root() as tmp:
        if args.reference:
            make_reference(rep, sz, args.tiny)
            return 0
        return _run_parts(rep, sz, device, args.parts.split(","), args.tiny, tmp)


@contextlib.contextmanager
def _scratch_root():
    """A fresh MER_ROOT for data, DI stores and records: records of an earlier run are never
    reused (a reused CPU record would compare the reference with itself; a reused slice
    record would time nothing). Under $TMPDIR; removed at the end."""
    old = os.environ.get("MER_ROOT")
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as d:
        os.environ["MER_ROOT"] = d
        try:
            yield Path(d)
        finally:
            os.environ.pop("MER_ROOT") if old is None else os.environ.update(MER_ROOT=old)


def _run_parts(rep: Report, sz: Sizes, device, parts: list[str], tiny: bool, tmp: Path) -> int:
    workers, failed, mismatches = max((1, *sz.tp_workers)), [], 0
    for part in parts:
        if rep.sizes.deadline_s - (time.perf_counter() - rep.t0) < 20:
            rep.say(f"deadline ({sz.deadline_s:.0f} s) reached: skipped part {part} and after")
            break
        rep.say(f"--- part {part}")
        try:
            if part == "correctness":
                mismatches = part_correctness(rep, sz, device, tiny)
            elif part == "throughput":
                ds = open_dataset(correctness_config(sz, device.type))
                workers = part_throughput(rep, sz, device, ds, tmp)["best_workers"]
                rep.say(f"best worker count: {workers}")
            elif part == "slice":
                part_slice(rep, sz, device, workers)
            else:
                raise ValueError(f"unknown part {part!r}; use correctness, throughput, slice")
        except Exception as e:  # one part failing must not cost the others
            failed.append(part)
            rep.say(f"part {part} FAILED: {type(e).__name__}: {e}")
            import traceback

            (rep.out / f"{part}_error.txt").write_text(traceback.format_exc())
    rep.say(
        f"done in {time.perf_counter() - rep.t0:.0f} s; failed parts: {failed or 'none'}; "
        f"correctness mismatches: {mismatches}"
    )
    return 1 if failed else (3 if mismatches else 0)


if __name__ == "__main__":
    raise SystemExit(main())
