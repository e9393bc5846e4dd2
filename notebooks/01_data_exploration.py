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
# # 01 · Data exploration and motion-intensity curves (Fig. 3)
#
# Loads the dataset through the same loader that reads the licensed CASME-II / SAMM copies
# (the default is our synthetic copy in the official layout), shows class counts, subjects,
# clip and phase lengths, the **validation report** (every quirk found and the policy applied),
# and Fig. 3: motion intensity over normalised time, aligned at the apex, per class.

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

# %%
import logging

import pandas as pd

from mer_utils import console, exploration, kernel, plots
from mer_utils.config import from_namespace
from mer_utils.datasets import open_dataset
from mer_utils.paths import data_dirs
from mer_utils.spotting import spotting_errors

console.notebook_logging(logging.WARNING)
kernel.check_clone()  # warns when this notebook's clone is not the kernel's
cfg = from_namespace(globals()).effective()
ds = open_dataset(cfg)
res_dir, fig_dir = data_dirs(cfg.run_name, ds.fingerprint())  # named by the data's content
print(f"{cfg.dataset}: {len(ds.samples)} clips in the 5-class task, read from {ds.spreadsheet}")
print(f"outputs of this notebook: {res_dir}, {fig_dir}")

# %% [markdown]
# ## Class counts and subjects

# %%
clips = exploration.clip_table(ds)  # one row per clip: annotations and lengths
display(ds.counts().to_frame().T)
print(exploration.subjects_line(clips))
display(pd.crosstab(clips.subject, clips.label).T)

# %% [markdown]
# ## Clip and phase lengths (frames at 200 fps)

# %%
display(clips[exploration.LENGTHS].describe().round(1))
fig = exploration.fig_lengths(clips, f"{cfg.dataset}: clip and phase lengths")
plots.save(fig, fig_dir / "fig_lengths")

# %% [markdown]
# ## Validation report
# One row per finding. Policies (see `mer_utils.datasets`): labels outside the 5 classes are
# excluded and counted; missing or out-of-range apexes are re-estimated by the label-free
# spotter (below); 1-frame phases yield no phase DI; 2-frame phases give a
# frame difference. Clip folders that disagree with the sheet (frames missing at the end or
# inside the range, or lying outside it) follow `on_mismatch`: `cut` keeps the run of existing
# frames that holds the apex when each phase keeps >= 2 frames, else the clip is dropped; an
# empty or truncated JPEG drops its clip. With a face method (`face`; `auto` is the frame
# layout's: none for pre-cropped frames, FaceMesh for whole-scene SAMM frames) every clip the
# method cannot align (no face, a low score, landmarks that disagree over the first frames) is
# a row with `face_on_miss` applied, and so are clips with several faces or first frames
# without one. Every cut and drop is listed below.

# %%
face = cfg.face_params()  # None for face: none
report = exploration.validation_report(ds, face)
report.to_csv(res_dir / "validation_report.csv", index=False)
display(report.groupby("policy").size().rename("clips").to_frame())
face_rows = exploration.face_counts(report)
print(f"face: {cfg.face_method}: {face_rows.sum()} face report row(s), by the policy applied:")
display(face_rows.to_frame())
cut_or_dropped = exploration.cut_or_dropped(report)
print(
    f"{len(cut_or_dropped)} clip(s) cut, dropped or uncropped (policy on_mismatch={cfg.on_mismatch!r}):"
)
display(cut_or_dropped)
display(report)

# %% [markdown]
# ## Faces: landmarks, the aligned crop and the Haar crop
# For a few clips: the onset frame with the method's landmarks and box, the crop every frame of
# the clip gets (one similarity transform from the median landmarks of its first frames onto a
# canonical template, red crosses) and OpenCV's Haar crop for comparison (`mer_utils.faces`).

# %%
preview = exploration.face_preview(cfg)  # the run's face method, else the one auto would use
if preview is None:
    print(f"{cfg.dataset}: pre-cropped frames, used as they are (face: {cfg.face_method})")
else:
    if face is None:
        print(f"face: none: the store uses whole frames; below, what {preview.method} would do")
    few = exploration.one_clip_per_class(ds, 0)[:3]
    fig = plots.fig_face_alignment(few, preview)
    plots.save(fig, fig_dir / "fig_face_alignment")

# %% [markdown]
# ## Fig. 3 · Motion intensity aligned at the apex
# Mean absolute grey-level difference of each frame from the straight line between the onset and
# offset frames (so illumination drift cancels), scaled to peak 1, on a time axis with onset at
# -1, apex at 0 and offset at +1; one panel per class (mean ± std), the all-class mean in grey.

# %%
curves = exploration.intensity_curves(ds.samples)  # label, curve per clip
title = f"Fig. 3 · {cfg.dataset}: motion intensity aligned at the apex"
plots.save(plots.fig3(curves, ds.classes, title=title), fig_dir / "fig3_intensity")
print(
    f"mean curve peaks at normalised time {exploration.peak_time(curves):+.2f} (0 = annotated apex)"
)

# %% [markdown]
# ## Apex spotting without labels
# Cutting a *test* clip into DI-Onset and DI-Offset needs an apex, which the paper's inference
# never uses. `mer_utils.spotting` finds it from the frames alone (block-wise change against
# the neutral onset/offset frames, global brightness and head translation removed, brief
# changes such as blinks left out); the phase-aware rows `@spotted` of Table I cut there. Here
# it is measured against this copy's annotations (clips whose apex the loader re-estimated,
# or that sits on the onset or offset, are left out): the target is 80 % of clips within 10 %
# of the clip length.

# %%
errors = spotting_errors(ds.samples)
errors.to_csv(res_dir / "spotting_errors.csv", index=False)
fig = plots.fig_spotting_errors(errors, title=f"{cfg.dataset}: spotted vs annotated apex")
plots.save(fig, fig_dir / "spotting_errors")
print(
    f"{len(errors)} clips measured ({errors.attrs['left_out']} left out): median |error| "
    f"{errors.error.abs().median():.0f} frames, {100 * errors.within_10pct.mean():.1f} % within "
    "10 % of the clip (target 80 %)"
)
