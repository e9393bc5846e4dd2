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
# # 04 · Table I of one run, the paper side by side, claims, paired tests, protocols compared
#
# Reads one **run** (see 03) through its handle, `mer_utils.run_handle.open_run`: the run named by
# `run` (its id, folder or path; `make reproduce` passes the run notebook 03 just wrote), or,
# with `run` empty, the latest run whose parameters equal these. It never loads the dataset:
# `run.json` says what the run's requests asked for and the fold records hold every prediction.
# Table I, claims, paired tests, confusion matrices and learning curves come from exactly that
# run's records, and every file names the run. Cells are `measured`, `incomplete (k of n
# folds)`, `not requested` or `not run on this device` (requested, but `cpu_grid` leaves it out
# without CUDA); never filled with anything but measurements. The last sections put the paper's
# lenient protocol beside leak-free ones (from two or more runs), and infer the paper's own
# sample counts from its Table I.

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

from IPython.display import Markdown

from mer_utils import console, kernel, paper
from mer_utils.config import from_namespace
from mer_utils.run_handle import open_run_for

console.notebook_logging(logging.WARNING)
kernel.check_clone()  # warns when this notebook's clone is not the kernel's
cfg = from_namespace(globals())
handle = open_run_for(cfg)  # run.json + records; never the dataset
print(handle.summary())

# %% [markdown]
# ## Table I (ours, this run)
# With LOSO, or whenever a test fold lacks a class, cells lead with UF1/UAR pooled over all
# out-of-fold predictions (the MEGC convention) and show the per-fold mean ± std after it,
# flagged (†): a fold without a class has no recall for it, which biases per-fold means.
# Every table of this run is written here, into the run's folder.

# %%
paths = handle.write_tables()
print("written:", *paths.values())
display(Markdown(paths["table1.md"].read_text()))

# %% [markdown]
# ## DI vs optical flow (when the run has flow rows)
# Each of the paper's four configurations beside its twin on onset→apex optical flow
# (`configurations: [..., flow]`; Flip/Rotate of a flow negates u, the phase-aware flow
# augmentation adds the apex→offset flow of each training clip), same clips, folds and
# protocol; flow − DI in points. Written as `di_vs_flow.csv` in the run's folder.

# %%
flows = handle.di_vs_flow()
display(flows.round(2) if len(flows) else Markdown("*This run has no flow rows.*"))

# %% [markdown]
# ## A composite benchmark: UF1 / UAR pooled over every LOSO prediction, per source
# For a composite run (`dataset: megc2019`, `synthetic_megc2019`): the MEGC 2019 metrics,
# computed once over all out-of-fold predictions together (never a mean of per-fold scores)
# with the explicit class list (negative, positive, surprise), overall and on each source
# dataset's share of the same predictions (`<run>/composite.{csv,md}`).

# %%
composite = handle.composite_table()
if len(composite):
    display(
        composite.pivot_table(
            index=["model", "configuration"], columns="source", values=["uf1", "uar"], sort=False
        ).round(1)
    )
else:
    print("not a composite run: dataset megc2019 or synthetic_megc2019 has one")

# %% [markdown]
# ## Side by side with the paper's Table I
# The paper's numbers are for the real dataset; on the synthetic default they are a reference
# for the *shape* of the results (which configuration helps), not for the values. Only the
# paper's cells this run measured are shown (per-fold means, %); `table1_vs_paper.csv` holds
# the same.

# %%
sbs = handle.side_by_side()
if len(sbs):
    display(paper.side_by_side_display(sbs))
else:
    print("this run measured none of the paper's cells (its rows are all additions)")

# %% [markdown]
# ## The paper's claims, recomputed from its own table and from ours
# Average gain in percentage points over the models of each table. The paper's text does not
# match all of its table (e.g. its text says +3.7 points accuracy for Dual-DI over Flip/Rotate on
# CASME-II; its table gives 1.70). Its table also lists UF1 = 2.97 for VGGFace + Flip/Rotate on
# CASME-II, next to 64.90 accuracy: almost certainly a typo, and it dominates every UF1 gain that
# involves Flip/Rotate on CASME-II; `suspect_cells` flags it.

# %%
display(handle.claims().round(2))
display(paper.suspect_cells(paper.paper_table()))

# %% [markdown]
# ## Paired tests: which tests, which pairs, which correction
# Each comparison (per model: the paper's claims, each augmentation vs Baseline, Dual-DI vs
# Flip/Rotate, Dual-DI + Flip/Rotate vs Dual-DI; each addition against what it changes; a row
# cut at the spotted apex against the same row cut at the annotation) pairs the per-fold scores
# of a and b on the same (seed, fold). For accuracy and UAR: the naive paired t, the
# **Nadeau–Bengio corrected resampled t** (any two 5-fold training sets share 3/4 of their
# clips, so the naive t overstates confidence; the correction scales t by 0.667 at 5 folds × 1
# seed, by 0.459 at 5 folds × 3 seeds) and the Wilcoxon signed-rank test (it cannot go below
# p = 0.0625 with 5 pairs). When a and b are two scorings of the **same fold models**
# (`same_models`), the right test is per clip: the **exact McNemar test** on the clips only one
# of them gets right, pooled over every (seed, test clip); for separately trained
# configurations McNemar ignores training variance. **Holm** corrects each family separately,
# one family = one metric × one test over every comparison of this run (`holm_family` names
# it); `*_significant` = Holm-adjusted p < 0.05, and `significant_after_holm` lists the tests
# that stay below it. With **fewer than 3 (seed, fold) pairs there is no test** (the `note`
# column says so). `mean_diff_pp` is the `difference` column, a − b, in points.

# %%
display(handle.paired_tests().round(4))

# %% [markdown]
# ## Accuracy by the distance of the apex from the clip's midpoint
# The full DI carries the expression only through the timing asymmetry of its intensity
# profile (notebook 02): its coefficient changes sign where the apex crosses the middle of the
# clip, so it is weakest for clips whose apex sits near the midpoint. Test clips are binned by
# d = |relative apex − 0.5| (counts are (seed, clip) predictions); the Spearman rank
# correlation between d and per-clip correctness, with its p-value (pooled over seeds, so
# optimistic with several seeds), says whether accuracy grows with d.

# %%
apex = handle.apex_analysis()
if apex.empty:
    print("no Baseline / Dual-DI records in this run")
else:
    display(apex.accuracy_by_bin().round(1))
    display(apex.correlation.round(4))

# %% [markdown]
# ## Phase-aware evaluation vs where the test clip is cut
# The paper's inference uses no apex: it scores the full DI. Phase-aware evaluation has to cut
# each test clip at an apex: the spotted one (label-free, `mer_utils.spotting`) is what a
# deployed model could use; the annotated one is an upper reference that uses test labels.
# Below, evaluation only (no training): the Dual-DI models scored on DI-Onset + DI-Offset cut
# at the annotated apex moved by ±10-30 % of the clip, beside the spotted apex, the midpoint
# and the full DI. Pooled over every fold and seed of this run.

# %%
curve = handle.apex_noise()
if len(curve):
    display(curve.round(1))
    figures = handle.fig_apex_noise()  # figures/<dataset>/<run>/apex_noise.png
else:
    print("no Dual-DI records in this run")

# %% [markdown]
# ## Confusion matrices (pooled over folds and seeds) and learning curves

# %%
figures = handle.fig_confusions()  # figures/<dataset>/<run>/confusion_matrices.png

# %%
figures = handle.fig_learning_curves()  # figures/<dataset>/<run>/curves_<model>.png

# %% [markdown]
# ## The paper's protocol beside leak-free ones
# The paper splits clips (not subjects) into 5 folds and early-stops on the test fold itself
# (`kfold`, `validation: paper`). Leak-free runs keep every subject in one fold
# (`subject_kfold`, `loso`) and early-stop on subjects held out of training (`validation:
# inner`). Runs compared: `compare_runs` if given, else the latest run of each protocol of
# this dataset with this run's other settings. Cells: pooled (folds mean ± std, folds done).

# %%
protocols = handle.compare_protocols(cfg.compare_runs)  # writes the CSV and figure when >= 2 runs
if protocols.enough:
    for metric in ("uar", "uf1", "accuracy"):
        print(metric.upper())
        display(protocols.wide(metric))
else:
    print(protocols.why_not())

# %% [markdown]
# ## The protocol ladder: oracle, paper, inner
# The same protocol and folds under three validations: `oracle` picks, for each fold, the epoch
# with the best *test* accuracy (what most published LOSO numbers do: leaky, and every table of
# such a run says so), `paper` early-stops on the test fold's loss, `inner` on subjects held out
# of training (leak-free). Pooled UAR (%) of each rung and how many points each leaky rung
# inflates over `inner` (`<run>/validation_ladder.csv`). Run the three with
# `--set validation=oracle|paper|inner` (same run otherwise).

# %%
ladder = protocols.ladder("uar") if protocols.enough else None
if ladder is not None and len(ladder):
    display(ladder.round(1))
else:
    print("no cell measured under two validations of one protocol yet")

# %% [markdown]
# ## The paper's own sample counts, inferred from its Table I
# Every accuracy in a table of n test clips is k/n. The smallest n that makes more than half of
# the paper's accuracies k/n (to its two decimals) is the number of clips it really evaluated;
# its text says 247 (CASME-II) and 159 (SAMM). Beside it, what our loader read for this run.

# %%
display(handle.implied_counts())
