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
# # 01 · Data exploration and motion-intensity curves (Fig. 3)
#
# Loads the dataset through the same loader that reads the licensed CASME-II / SAMM copies
# (the default is our synthetic copy in the official layout), shows class counts, subjects,
# clip and phase lengths, the **validation report** (every quirk found and the policy applied),
# and Fig. 3: motion intensity over normalised time, aligned at the apex, per class.

# %% tags=["parameters"]
dataset = "synthetic_casme2"
data_root = ""
spreadsheet = ""
frames = "cropped"
on_mismatch = "cut"
face_crop = False
synthetic_scale = 1.0
synthetic_size = []
apex_policy = "estimate"
smoke = False

# %%
import logging

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mer_utils import plots
from mer_utils.config import from_namespace, open_dataset
from mer_utils.paths import figures_dir, results_dir
from mer_utils.store import face_crop_report

logging.basicConfig(level=logging.WARNING)
cfg = from_namespace(globals()).effective()
ds = open_dataset(cfg)
fig_dir, res_dir = figures_dir(cfg.run_name), results_dir(cfg.run_name)
print(f"{cfg.dataset}: {len(ds.samples)} clips in the 5-class task, read from {ds.spreadsheet}")

# %% [markdown]
# ## Class counts and subjects

# %%
clips = pd.DataFrame(
    [
        dict(
            subject=s.subject,
            clip=s.clip,
            label=s.label,
            onset=s.onset,
            apex=s.apex,
            offset=s.offset,
            apex_source=s.apex_source,
        )
        for s in ds.samples
    ]
)
clips["length"] = clips.offset - clips.onset + 1
clips["onset_phase"] = clips.apex - clips.onset + 1
clips["offset_phase"] = clips.offset - clips.apex + 1
display(ds.counts().to_frame().T)
print(
    f"{clips.subject.nunique()} subjects; clips per subject: "
    f"min {clips.groupby('subject').size().min()}, max {clips.groupby('subject').size().max()}"
)
display(pd.crosstab(clips.subject, clips.label).T)

# %% [markdown]
# ## Clip and phase lengths (frames at 200 fps)

# %%
display(clips[["length", "onset_phase", "offset_phase"]].describe().round(1))
ax = clips[["length", "onset_phase", "offset_phase"]].plot.hist(
    bins=30, alpha=0.6, figsize=(7, 3.5)
)
ax.set_xlabel("frames")
ax.figure.savefig(fig_dir / "fig_lengths.png", dpi=120, bbox_inches="tight")

# %% [markdown]
# ## Validation report
# One row per finding. Policies (see `mer_utils.datasets`): labels outside the 5 classes are
# excluded and counted; missing or out-of-range apexes are re-estimated as the frame most
# unlike the (neutral) onset frame; 1-frame phases yield no phase DI; 2-frame phases give a
# frame difference. Clip folders that disagree with the sheet (frames missing at the end or
# inside the range, or lying outside it) follow `on_mismatch`: `cut` keeps the run of existing
# frames that holds the apex when each phase keeps >= 2 frames, else the clip is dropped; an
# empty or truncated JPEG drops its clip. With `face_crop`, clips whose onset frame has no
# Haar face use the full frame. Every cut and drop is listed below.

# %%
report = ds.report
if cfg.face_crop:
    report = pd.concat([report, face_crop_report(ds)], ignore_index=True)
report.to_csv(res_dir / "validation_report.csv", index=False)
display(report.groupby("policy").size().rename("clips").to_frame())
cut_or_dropped = report[report.policy.str.contains("cut to|dropped|full frame")]
print(
    f"{len(cut_or_dropped)} clip(s) cut, dropped or uncropped (policy on_mismatch={cfg.on_mismatch!r}):"
)
display(cut_or_dropped)
display(report)

# %% [markdown]
# ## Fig. 3 · Motion intensity aligned at the apex
# Mean absolute grey-level difference of each frame from the straight line between the onset and
# offset frames (so illumination drift cancels), scaled to peak 1, on a time axis with onset at
# -1, apex at 0 and offset at +1; mean ± std per class.

# %%
curves = pd.DataFrame(
    [
        dict(label=s.label, curve=plots.aligned_intensity(s))
        for s in tqdm(ds.samples, desc="motion intensity", unit="clip")
    ]
)
fig = plots.fig3(curves, ds.classes)
fig.savefig(fig_dir / "fig3_intensity.png", dpi=150, bbox_inches="tight")
peak = np.linspace(-1, 1, 101)[np.stack(curves.curve).mean(0).argmax()]
print(f"mean curve peaks at normalised time {peak:+.2f} (0 = annotated apex)")
