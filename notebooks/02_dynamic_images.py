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
# # 02 · Dynamic images (Fig. 2)
#
# A dynamic image (DI) is one weighted sum of a clip's frames, weights `2t - T - 1` (approximate
# rank pooling). The paper adds two phase DIs per clip as training-only augmentation:
# **DI-Onset** (onset→apex, same weights) and **DI-Offset** (apex→offset, reversed weights
# `T + 1 - 2t`). This notebook shows them for one clip per class, compares the paper's weights
# with Bilen et al.'s harmonic form, and checks that the reversed DI-Offset is exactly the
# negative of the forward DI of the same frames.

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
image_size: int = 224  # side in px of the DIs shown in Fig. 2
seed: int = 0  # which example clip of each class is shown

# %%
import logging

import numpy as np

from mer_utils import console, di_analysis, exploration, kernel, plots
from mer_utils.config import from_namespace
from mer_utils.datasets import open_dataset
from mer_utils.flow import FlowParams
from mer_utils.paths import data_dirs

console.notebook_logging(logging.WARNING)
kernel.check_clone()  # warns when this notebook's clone is not the kernel's
cfg = from_namespace(globals()).effective()
ds = open_dataset(cfg)
res_dir, fig_dir = data_dirs(cfg.run_name, ds.fingerprint())  # named by the data's content
chosen = exploration.one_clip_per_class(ds, seed)

# %% [markdown]
# ## Fig. 2 · frames and the three DIs, one clip per class

# %%
fig = plots.fig2(
    chosen,
    size=image_size,
    face=cfg.face_params(),
    title=f"Fig. 2 · {cfg.dataset}: one clip per class",
)
plots.save(fig, fig_dir / "fig2_dynamic_images")

# %% [markdown]
# ## Optical flow beside the DIs of the same clips
# The field's input (`mer_utils.flow`, the config's `flow_algorithm`): the onset→apex flow and
# the apex→offset flow, reversed (offset→apex, so it points like the onset flow, as DI-Offset
# reads like DI-Onset), computed on the key frames at their native size as the flow store does.
# Colour wheel: hue = direction (right red, down yellow-green, left cyan, up violet), brightness
# = magnitude; then the magnitude in native pixels, one scale per clip. The `flow_*`
# configurations train on these (03), and notebook 04 puts them beside the DI rows.

# %%
fig = plots.fig_flows(
    chosen,
    FlowParams(algorithm=cfg.flow_algorithm),
    size=image_size,
    title=f"{cfg.dataset}: DIs and optical flow ({cfg.flow_algorithm}) of the same clips",
)
plots.save(fig, fig_dir / "flows_beside_dis")

# %% [markdown]
# ## Weights: the paper's `2t - T - 1` vs Bilen et al.'s harmonic ARP
# Both sum to zero; only the paper's are antisymmetric (reversing time negates them).

# %%
fig = exploration.fig_weights(
    chosen[0], image_size, f"{cfg.dataset}: the paper's weights vs Bilen et al.'s"
)
plots.save(fig, fig_dir / "fig2_variants")

# %% [markdown]
# ## DI-Offset is the negated forward DI of the same frames
# With antisymmetric weights, `T + 1 - 2t = -(2t - T - 1)`, so the reversed DI of apex→offset is
# exactly `-DI`, and after the global min-max to 0..255 it is `255 - DI` (up to rounding ties).

# %%
with_offset = next(s for s in chosen if s.offset > s.apex)
fig, nums = plots.fig_reverse_identity(
    with_offset, size=image_size, title=f"{cfg.dataset}: DI-Offset is the negated forward DI"
)
plots.save(fig, fig_dir / "fig2_offset_identity")
print(
    f"max |DI_reversed + DI_forward| = {nums['max_abs_sum']:.3g}; "
    f"uint8(reversed) == 255 - uint8(forward) on {100 * nums['equal_255_minus']:.2f}% of pixels"
)
assert nums["max_abs_sum"] == 0.0 and nums["equal_255_minus"] > 0.99

# %% [markdown]
# ## What the full DI really encodes (beyond the paper)
# Write a clip's frames as a static face plus an expression pattern `D` scaled by its intensity
# profile: `F_t = F_0 + p_t · D`. The ARP weights `w_t = 2t - T - 1` sum to zero, so
#
# `DI = Σ_t w_t F_t = (Σ_t w_t) F_0 + (Σ_t w_t p_t) D = (Σ_t w_t p_t) · D`:
#
# the face cancels and the expression survives only through the *timing asymmetry* of `p`.
# For a rise-and-fall profile the coefficient `Σ w_t p_t` is zero when the apex sits in the
# middle of the clip and flips sign across it (apex early: the negated pattern; apex late: the
# pattern). DI-Onset (onset→apex, same weights) sees only the rise and DI-Offset (apex→offset,
# reversed weights) only the decay, so both are always positive. The paper evaluates on the
# full DI alone; Dual-DI training adds consistently signed phase DIs. Below: the coefficients
# for the generator's profile (sin² rise, cos² decay) and for the profile measured on this
# dataset (mean motion intensity of notebook 01), the apex positions of the loaded clips (from
# the sheet alone), and the check on the data: per clip, the projection of each DI on its
# apex-minus-onset image.

# %%
curves = exploration.coefficient_curves(ds, cfg.dataset)  # profile name -> coefficients
fig = plots.fig_di_coefficients(curves, f"{cfg.dataset}: what each DI keeps of the expression")
plots.save(fig, fig_dir / "di_coefficients")
at = curves[next(iter(curves))].set_index("rel_apex")
display(at.loc[at.index[[4, 14, 24, 34, 44]]].round(0))  # apex at 10, 30, 50, 70, 90 %

# %%
rel = di_analysis.rel_apex_positions(ds.samples)
fig = plots.fig_apex_positions(rel)
fig.axes[0].set_title(f"{cfg.dataset}: {fig.axes[0].get_title()}", fontsize=11)
plots.save(fig, fig_dir / "apex_positions")
print(
    f"{len(rel)} clips: {100 * np.mean(rel < 0.45):.0f}% with the apex before 45% of the clip, "
    f"{100 * np.mean(rel > 0.55):.0f}% after 55%"
)

# %%
proj = di_analysis.clip_projections(ds.samples)
proj.to_csv(res_dir / "di_projections.csv", index=False)
fig = plots.fig_projections(proj, f"{cfg.dataset}: the expression's sign in each DI, per clip")
plots.save(fig, fig_dir / "di_projections")
print(exploration.projections_line(proj))
