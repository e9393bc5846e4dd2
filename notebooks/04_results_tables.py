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
# # 04 · Table I, the paper side by side, claims, paired tests
#
# Collects the fold records of notebook 03 into Table I (models × configurations, Accuracy / UF1 /
# UAR as per-fold mean ± std, plus pooled over all out-of-fold predictions). Cells not run on
# this machine are marked, never filled. The paper's own Table I is shown beside ours, and the
# paper's headline claims are recomputed from both tables.

# %% tags=["parameters"]
dataset = "synthetic_casme2"
protocol = "kfold"
smoke = False

# %%
import pandas as pd

from mer_utils import plots, results
from mer_utils.config import CONFIG_DISPLAY, from_namespace
from mer_utils.datasets import CLASSES
from mer_utils.models import DISPLAY
from mer_utils.paths import figures_dir, results_dir

cfg = from_namespace(globals()).effective()
classes = CLASSES[cfg.dataset.removeprefix("synthetic_")]
records = results.load_records(cfg.run_name, cfg.protocol)
fig_dir, res_dir = figures_dir(cfg.run_name), results_dir(cfg.run_name)
print(
    f"{len(records)} fold records: {records.groupby(['model', 'configuration']).size().to_dict()}"
)
print("devices:", records.device.unique(), "| code:", records.git_sha.unique())

# %% [markdown]
# ## Table I (ours)

# %%
table = results.table1(records, len(classes))
paths = results.write_table1(table, res_dir)
print("written:", *paths.values())
display(pd.read_csv(paths["csv"]).drop(columns=["key_model", "key_configuration"]).round(2))

# %% [markdown]
# ## Side by side with the paper's Table I
# The paper's numbers are for the real dataset; on the synthetic default they are a reference
# for the *shape* of the results (which configuration helps), not for the values.

# %%
sbs = results.side_by_side(table, cfg.dataset)
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
        "ours": results.claims(table[table.status == "measured"], "_mean"),
    },
    names=["source"],
)
claims = claims.droplevel(1)
claims.to_csv(res_dir / "claims.csv")
display(claims.round(2))
display(results.suspect_cells(results.paper_table()))

# %% [markdown]
# ## Paired tests: each configuration vs Baseline over (seed, fold) pairs
# Paired t-test and Wilcoxon signed-rank; Holm correction over all comparisons. With 5 folds and
# one seed, the Wilcoxon test cannot reach p < 0.0625: add seeds for power.

# %%
tests = pd.concat([results.paired_tests(records, len(classes), m) for m in ("accuracy", "uar")])
tests.to_csv(res_dir / "paired_tests.csv", index=False)
display(tests.round(4))

# %% [markdown]
# ## Confusion matrices (pooled over folds and seeds) and learning curves

# %%
cms = {
    f"{DISPLAY[m]} · {CONFIG_DISPLAY[c]}": results.pooled_confusion(g, len(classes))
    for (m, c), g in records.groupby(["model", "configuration"])
}
plots.confusion_grid(cms, classes).savefig(
    fig_dir / "confusion_matrices.png", dpi=120, bbox_inches="tight"
)

# %%
for m, g in results.histories(records).groupby("model"):
    plots.learning_curves(g).savefig(fig_dir / f"curves_{m}.png", dpi=120, bbox_inches="tight")
