# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (mer_utils)
#     language: python
#     name: mer_utils
# ---

# %% [markdown]
# # 03 · Training sweep
#
# Runs the grid models × configurations × seeds × folds with `mer_utils.sweep`. The parameters
# that shape results (protocol, validation, epochs, lr, weights, the dataset's content, ...)
# make up a **run** with a short id; its fold records live in
# `results/<dataset>/<protocol>-<validation>-<id>/` (with `run.json`), each written atomically.
# Rerunning with the same parameters (here or with `python -m mer_utils.sweep --config ...`)
# resumes that run; changing one starts a new run beside it, so runs never mix.
# `python -m mer_utils.results --list` lists them. Configurations: `baseline` (full DIs),
# `flip_rotate` (+ random flip and ±10° rotation), `dual_di` (+ DI-Onset and DI-Offset of the
# training clips as extra samples), `dual_di_flip_rotate` (both). Evaluation is always on full DIs.

# %% tags=["parameters"]
# fmt: off
smoke: bool = False  # true: a quick look in minutes (tiny data, 2 folds, 2 epochs; numbers mean nothing)
base: str = ""  # a configs/ file this config extends (its values, then these)
dataset: str = "synthetic_casme2"  # a spec in mer_utils.dataset_specs, or synthetic_<spec>
data_root: str = ""  # real data: the dataset root; synthetic: empty means cache/datasets/<name>
spreadsheet: str = ""  # annotation .xlsx; empty: found in data_root by its official name
data_roots: dict[str, str] = {}  # a composite's sources in separate roots: {smic: PATH, casme2: PATH, samm: PATH}
megc_ground_truth: str = ""  # megc2019: the official combined_3class_gt.csv; selects the clips exactly
frames: str = "cropped"  # frame layout of the spec (CASME-II: cropped | raw); SAMM has one
task: str = ""  # a class task of the dataset ('' its own; MMEW: 3class; CAS(ME)^3: 4class, 3class)
on_mismatch: str = "cut"  # folders that disagree with the sheet: cut | drop | raise
protocol: str = "kfold"  # kfold (paper) | subject_kfold | loso | lodo (composites: leave one dataset out)
folds: int = 5  # k of k-fold (at least 2; loso: one fold per subject, lodo: per source)
max_folds: int = 0  # >0: run only the first k folds (a stated fraction of the grid)
models: list[str] = ["learnet"]  # registry names (see mer_utils.model_specs)
configurations: list[str] = ["baseline", "flip_rotate", "dual_di", "dual_di_flip_rotate"]  # names in mer_utils.configurations
plugins: list[str] = []  # modules or .py files with your register_* calls, imported first in every process
seeds: list[int] = [0]  # one seed drives splits, init, data order, augmentation
epochs: int = 50  # maximum epochs (early stopping may end sooner)
patience: int = 10  # early-stopping patience in epochs
batch_size: int = 25  # as in the paper
eval_batch_size: int = 200  # evaluation batch (no effect on results)
lr: float = 0.0001  # Adam learning rate (cosine annealing over `epochs`)
validation: str = "paper"  # oracle: the epoch best on the test fold (leaky) | paper: early stopping on the test fold | inner: on a subject-grouped inner split (leak-free)
device: str = "auto"  # auto | cpu | cuda | cuda:N (its type, cpu or cuda, is part of the run)
pretrained: bool = True  # fine-tune from pretrained weights (all but LEARNet, as the paper)
weights: dict[str, str] = {}  # model -> local weights file
dropout: dict[str, float] = {}  # model -> classifier dropout override
input_size: dict[str, int] = {}  # model -> input side in px override
variant: str = "paper"  # ARP weights: paper | bilen
di_order: str = "native"  # native: DI at frame size, then resized (paper) | resize_first
flow_algorithm: str = "farneback"  # optical flow of the flow_* configurations: farneback | dis | tvl1 (opencv-contrib)
face: str = "auto"  # auto (the frame layout's: none if pre-cropped, else facemesh) | none | haar | facemesh | mtcnn
face_size: int = 224  # side of the aligned face crop the DIs are made on, px
face_margin: float = 0.15  # space around the canonical face box, per side, as a fraction of it
face_on_miss: str = "full_frame"  # a clip whose face is not aligned: full_frame | previous_box (its previous clip's crop)
apex_policy: str = "estimate"  # estimate | drop
test_apex: list[str] = ["spotted", "annotated"]  # phase-aware test cut: spotted, annotated, midpoint
synthetic_scale: float = 1.0  # fraction of the real clip count (synthetic data only)
synthetic_size: list[int] = []  # [H, W] of synthetic frames; empty: the real size
cpu_grid: dict[str, list[str]] = {}  # without CUDA run only these
executor: str = "local"  # local | processes (workers on this machine) | slurm (submitit)
workers: int = 1  # processes: worker processes (folds in flight at once)
threads: int = 0  # torch threads per fold; 0: cores / workers. Equal threads, equal bits
slurm: dict[str, object] = {}  # partition, gpus_per_node, ...
compare_runs: list[str] = []  # notebook 04: run ids to compare; empty: latest each
run: str = ""  # notebook 04: the run id or folder to tabulate; empty: the latest run of these parameters
# fmt: on
run_file: str = ""  # make reproduce: a file that receives the run's folder name, for notebook 04

# %%
import logging
from pathlib import Path

from mer_utils import console, kernel, run_records
from mer_utils.config import from_namespace
from mer_utils.sweep import resolve_device, run_sweep

console.notebook_logging(logging.INFO)
kernel.check_clone()  # warns when this notebook's clone is not the kernel's
cfg = from_namespace(globals())
print(f"device: {resolve_device(cfg.device)}; effective config:\n{cfg.effective()}")

# %%
result = run_sweep(cfg)
print(f"run {result.run.folder_name}: {result.run.name}")
if result.skipped:
    print(f"not run on this device (cpu_grid): {result.skipped}")
if run_file:  # make reproduce hands exactly this run to notebook 04
    Path(run_file).write_text(f"{result.run.folder_name}\n")

# %%
summary, total = run_records.training_summary(run_records.records_frame(result.records))
display(summary)
print(total)
