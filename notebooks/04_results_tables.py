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
# Takes the same parameters as notebook 03 and finds the **run** they define (see 03): Table I,
# claims, paired tests, confusion matrices and learning curves come from exactly that run's fold
# records, and every file names the run. Cells are `measured`, `incomplete (k of n folds)`,
# `not requested` (outside this config's grid) or `not run on this device` (requested, but
# `cpu_grid` leaves it out without CUDA); never filled with anything but measurements.
# The last sections put the paper's lenient protocol beside leak-free ones (from two or more
# runs), and infer the paper's own sample counts from its Table I.

# %% tags=["parameters"]
# fmt: off
smoke: bool = False  # true: a quick look in minutes (tiny data, 2 folds, 2 epochs; numbers mean nothing)
base: str = ""  # a configs/ file this config extends (its values, then these)
dataset: str = "synthetic_casme2"  # a spec in mer_utils.dataset_specs, or synthetic_<spec>
data_root: str = ""  # real data: the dataset root; synthetic: empty means cache/datasets/<name>
spreadsheet: str = ""  # annotation .xlsx; empty: found in data_root by its official name
frames: str = "cropped"  # frame layout of the spec (CASME-II: cropped | raw); SAMM has one
on_mismatch: str = "cut"  # folders that disagree with the sheet: cut | drop | raise
protocol: str = "kfold"  # kfold (paper) | subject_kfold | loso
folds: int = 5  # k of k-fold (at least 2; loso: one fold per subject)
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
validation: str = "paper"  # paper: the held-out fold | inner: a subject-grouped inner split
device: str = "auto"  # auto | cpu | cuda | cuda:N (its type, cpu or cuda, is part of the run)
pretrained: bool = True  # fine-tune from pretrained weights (all but LEARNet, as the paper)
weights: dict[str, str] = {}  # model -> local weights file
dropout: dict[str, float] = {}  # model -> classifier dropout override
input_size: dict[str, int] = {}  # model -> input side in px override
variant: str = "paper"  # ARP weights: paper | bilen
di_order: str = "native"  # native: DI at frame size, then resized (paper) | resize_first
face_crop: bool = False  # Haar crop (raw SAMM); off for pre-cropped / synthetic data
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
# fmt: on

# %%
import logging

import pandas as pd
from IPython.display import Markdown

from mer_utils import console, plots, results, statistics
from mer_utils.config import from_namespace
from mer_utils.configurations import display, get_configuration, table_rows
from mer_utils.dataset_specs import spec_of
from mer_utils.model_specs import DISPLAY
from mer_utils.paths import figures_dir, results_dir
from mer_utils.runs import read_run_json

console.notebook_logging(logging.WARNING)
cfg = from_namespace(globals()).effective()
classes = spec_of(cfg.dataset).classes
run_dir = results.run_for_config(cfg)
info = read_run_json(run_dir)
rows = table_rows(cfg.configurations, cfg.test_apex)  # phase-aware rows once per test apex
evaluation_only = tuple(c for c in rows if get_configuration(c).trained_as)
records = results.load_records(run_dir, derive=evaluation_only)  # + rows scored from logits
fig_dir, res_dir = figures_dir(cfg.run_name) / run_dir.name, run_dir
fig_dir.mkdir(exist_ok=True)
print(f"run {info.folder}: {info.name}")
print(f"{len(records)} fold records; devices: {', '.join(sorted(set(records.device)))}")
print(f"code: {', '.join(sorted(set(records.git_sha)))}")

# %% [markdown]
# ## Table I (ours, this run)
# With LOSO, or whenever a test fold lacks a class, cells lead with UF1/UAR pooled over all
# out-of-fold predictions (the MEGC convention) and show the per-fold mean ± std after it,
# flagged (†): a fold without a class has no recall for it, which biases per-fold means.

# %%
table = results.table1(records, len(classes), results.requested_cells(cfg, info))
lead, lead_note = results.lead_metric(table, cfg.protocol)
table = table.assign(**results.run_columns(info, lead))
paths = results.write_table1(table, res_dir, results.run_header(info, lead_note), lead)
print("written:", *paths.values())
display(Markdown(paths["md"].read_text()))

# %% [markdown]
# ## Side by side with the paper's Table I
# The paper's numbers are for the real dataset; on the synthetic default they are a reference
# for the *shape* of the results (which configuration helps), not for the values.

# %%
sbs = results.side_by_side(table, cfg.dataset).assign(run=info.folder)
sbs.to_csv(res_dir / "table1_vs_paper.csv", index=False)
display(sbs.round(2))

# %% [markdown]
# ## The paper's claims, recomputed from its own table and from ours
# Average gain in percentage points over the models of each table. The paper's text does not
# match all of its table (e.g. its text says +3.7 points accuracy for Dual-DI over Flip/Rotate on
# CASME-II; its table gives 1.70). Its table also lists UF1 = 2.97 for VGGFace + Flip/Rotate on
# CASME-II, next to 64.90 accuracy: almost certainly a typo, and it dominates every UF1 gain that
# involves Flip/Rotate on CASME-II; `suspect_cells` flags it.

# %%
paper = results.paper_table()
paper = paper[paper.dataset == results.paper_dataset(cfg.dataset)]
claims = pd.concat(
    {
        "paper's table": results.claims(paper),
        "ours": results.claims(table.query("status == 'measured' and row == 'paper'"), "_mean"),
    },
    names=["source"],
)
claims = claims.droplevel(1).assign(run=info.folder)
claims.to_csv(res_dir / "claims.csv")
display(claims.round(2))
display(results.suspect_cells(results.paper_table()))

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
# it); `*_significant` = Holm-adjusted p < 0.05. With **fewer than 3 (seed, fold) pairs there
# is no test** (the `note` column says so). `mean_diff_pp` is a − b in points (`direction`).

# %%
tests = pd.concat([results.paired_tests(records, len(classes), m) for m in ("accuracy", "uar")])
tests = tests.assign(run=info.folder)
tests.round(4).to_csv(res_dir / "paired_tests.csv", index=False)
display(tests.round(4))

# %% [markdown]
# ## Accuracy by the distance of the apex from the clip's midpoint
# The full DI carries the expression only through the timing asymmetry of its intensity
# profile (notebook 02): its coefficient changes sign where the apex crosses the middle of the
# clip, so it is weakest for clips whose apex sits near the midpoint. Test clips are binned by
# d = |relative apex − 0.5| (counts are (seed, clip) predictions); the Spearman rank
# correlation between d and per-clip correctness, with its p-value (pooled over seeds, so
# optimistic with several seeds), says whether accuracy grows with d.

# %%
wanted = ("baseline", "dual_di", *(r for r in rows if r.startswith("dual_di_")), "sign_robust")
by_distance, correlation = statistics.apex_distance(records, wanted)
if len(by_distance):
    by_distance.assign(run=info.folder).round(2).to_csv(res_dir / "apex_distance.csv", index=False)
    correlation.assign(run=info.folder).round(4).to_csv(
        res_dir / "apex_correlation.csv", index=False
    )
    display(
        by_distance.pivot_table(
            index=["model", "configuration"], columns="bin", values="accuracy"
        ).round(1)
    )
    display(correlation.round(4))
else:
    print("no Baseline / Dual-DI records in this run")

# %% [markdown]
# ## Phase-aware evaluation vs where the test clip is cut
# The paper's inference uses no apex: it scores the full DI. Phase-aware evaluation has to cut
# each test clip at an apex: the spotted one (label-free, `mer_utils.spotting`) is what a
# deployed model could use; the annotated one is an upper reference that uses test labels.
# Below, evaluation only (no training): the Dual-DI models scored on DI-Onset + DI-Offset cut
# at the annotated apex moved by ±10-30 % of the clip, beside the spotted apex, the midpoint
# and the full DI. Pooled over every fold and seed of this run.

# %%
curve = results.apex_noise_curve(records, len(classes), ("dual_di", "dual_di_flip_rotate"))
if len(curve):
    curve.assign(run=info.folder).to_csv(res_dir / "apex_noise.csv", index=False)
    display(curve.round(1))
    fig = plots.fig_apex_noise(curve, "accuracy", f"{cfg.dataset}, run {info.folder}")
    plots.save(fig, fig_dir / "apex_noise")
else:
    print("no Dual-DI records in this run")

# %% [markdown]
# ## Confusion matrices (pooled over folds and seeds) and learning curves

# %%
cms = {
    f"{DISPLAY[m]} · {display(c)}": results.pooled_confusion(g, len(classes))
    for (m, c), g in records.groupby(["model", "configuration"])
}
if cms:
    fig = plots.confusion_grid(cms, classes, suptitle=f"{cfg.dataset}, run {info.folder}")
    plots.save(fig, fig_dir / "confusion_matrices")

# %%
for m, g in results.histories(records).groupby("model") if len(records) else []:
    fig = plots.learning_curves(g, f"{DISPLAY[m]} · {cfg.dataset}, run {info.folder}")
    plots.save(fig, fig_dir / f"curves_{m}")

# %% [markdown]
# ## The paper's protocol beside leak-free ones
# The paper splits clips (not subjects) into 5 folds and early-stops on the test fold itself
# (`kfold`, `validation: paper`). Leak-free runs keep every subject in one fold
# (`subject_kfold`, `loso`) and early-stop on subjects held out of training (`validation:
# inner`). Runs compared: `compare_runs` if given, else the latest run of each protocol of
# this dataset with this run's other settings. Cells: pooled (folds mean ± std, folds done).

# %%
folders = results.comparison_runs(cfg.run_name, tuple(cfg.compare_runs), like=info.identity)
if len(folders) >= 2:
    long = results.protocol_comparison(folders, len(classes))
    long.to_csv(results_dir(cfg.run_name) / "protocol_comparison.csv", index=False)
    for metric in ("uar", "uf1", "accuracy"):
        print(metric.upper())
        display(results.comparison_wide(long, metric))
    fig = plots.protocol_bars(long, "uar", f"{cfg.dataset}: protocols compared (UAR)")
    plots.save(fig, figures_dir(cfg.run_name) / "protocol_comparison")
else:
    print(
        f"only {len(folders)} protocol(s) measured for {cfg.run_name}; run a leak-free config "
        f"(e.g. configs/{cfg.dataset}_leakfree.yaml) to compare"
    )

# %% [markdown]
# ## The paper's own sample counts, inferred from its Table I
# Every accuracy in a table of n test clips is k/n. The smallest n that makes more than half of
# the paper's accuracies k/n (to its two decimals) is the number of clips it really evaluated;
# its text says 247 (CASME-II) and 159 (SAMM). Beside it, what our loader read for this run.

# %%
counts = results.implied_counts(results.paper_table())
counts["this run's dataset"] = [
    f"{info.dataset.clips} clips ({info.dataset.name}, "
    f"{info.dataset.spreadsheet.rsplit('/', 1)[-1]})"
    if results.paper_dataset(cfg.dataset) == d
    else ""
    for d in counts.dataset
]
display(counts)
