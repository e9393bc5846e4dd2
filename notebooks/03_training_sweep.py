# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
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
dataset = "synthetic_casme2"
data_root = ""
spreadsheet = ""
frames = "cropped"
on_mismatch = "cut"
protocol = "kfold"
folds = 5
max_folds = 0
models = ["learnet"]
configurations = ["baseline", "flip_rotate", "dual_di", "dual_di_flip_rotate"]
seeds = [0]
epochs = 50
patience = 10
batch_size = 25
lr = 0.0001
validation = "paper"
device = "auto"
pretrained = True
eval_batch_size = 200
weights = {}
dropout = {}
input_size = {}
variant = "paper"
di_order = "native"
face_crop = False
apex_policy = "estimate"
synthetic_scale = 1.0
synthetic_size = []
cpu_grid = {}
executor = "local"
workers = 1
threads = 0
slurm = {}
compare_runs = []
smoke = False

# %%
import logging

import pandas as pd

from mer_utils.config import from_namespace
from mer_utils.sweep import resolve_device, run_sweep

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
cfg = from_namespace(globals())
print(f"device: {resolve_device(cfg.device)}; effective config:\n{cfg.effective()}")

# %%
result = run_sweep(cfg)
records = result.records
print(f"run {result.run.folder_name}: {result.run.name}")
if result.skipped:
    print(f"not run on this device (cpu_grid): {result.skipped}")

# %%
summary = pd.DataFrame(
    [
        dict(
            model=r["params"]["model"],
            configuration=r["params"]["configuration"],
            seed=r["params"]["seed"],
            fold=r["params"]["fold"],
            best_epoch=r["best_epoch"],
            epochs_run=len(r["history"]),
            wall_s=round(r["wall_s"], 1),
        )
        for r in records
    ]
)
display(
    summary.groupby(["model", "configuration"])[["best_epoch", "epochs_run", "wall_s"]]
    .mean()
    .round(1)
)
print(f"total training time {summary.wall_s.sum() / 60:.1f} min over {len(summary)} folds")
