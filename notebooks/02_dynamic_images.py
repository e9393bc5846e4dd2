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
# # 02 · Dynamic images (Fig. 2)
#
# A dynamic image (DI) is one weighted sum of a clip's frames, weights `2t - T - 1` (approximate
# rank pooling). The paper adds two phase DIs per clip as training-only augmentation:
# **DI-Onset** (onset→apex, same weights) and **DI-Offset** (apex→offset, reversed weights
# `T + 1 - 2t`). This notebook shows them for one clip per class, compares the paper's weights
# with Bilen et al.'s harmonic form, and checks that the reversed DI-Offset is exactly the
# negative of the forward DI of the same frames.

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
image_size = 224
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

from mer_utils import plots
from mer_utils.config import from_namespace, open_dataset
from mer_utils.dynamic_image import arp_weights, dynamic_image, to_uint8
from mer_utils.frames import read_clip
from mer_utils.paths import figures_dir

cfg = from_namespace(globals()).effective()
ds = open_dataset(cfg)
fig_dir = figures_dir(cfg.run_name)
rng = np.random.default_rng(seed)
chosen = [
    ds.samples[rng.choice([i for i, s in enumerate(ds.samples) if s.label == c])]
    for c in ds.classes
    if any(s.label == c for s in ds.samples)
]

# %% [markdown]
# ## Fig. 2 · frames and the three DIs, one clip per class

# %%
fig = plots.fig2(
    chosen,
    size=image_size,
    face_crop=cfg.face_crop,
    title=f"Fig. 2 · {cfg.dataset}: one clip per class",
)
fig.savefig(fig_dir / "fig2_dynamic_images.png", dpi=120, bbox_inches="tight")

# %% [markdown]
# ## Weights: the paper's `2t - T - 1` vs Bilen et al.'s harmonic ARP
# Both sum to zero; only the paper's are antisymmetric (reversing time negates them).

# %%
T = 20
fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
for v in ("paper", "bilen"):
    ax[0].plot(
        range(1, T + 1),
        arp_weights(T, v),
        marker="o",
        ms=3,
        label=f"{v} (sum {arp_weights(T, v).sum():.1e})",
    )
ax[0].set_title(f"ARP weights, T={T}")
ax[0].legend(fontsize=8)
frames = read_clip(chosen[0].frames, size=image_size)
for a, v in zip(ax[1:], ("paper", "bilen"), strict=True):
    a.imshow(to_uint8(dynamic_image(frames, v)))
    a.set_title(f"full DI, {v} weights")
    a.axis("off")
fig.savefig(fig_dir / "fig2_variants.png", dpi=120, bbox_inches="tight")

# %% [markdown]
# ## DI-Offset is the negated forward DI of the same frames
# With antisymmetric weights, `T + 1 - 2t = -(2t - T - 1)`, so the reversed DI of apex→offset is
# exactly `-DI`, and after the global min-max to 0..255 it is `255 - DI` (up to rounding ties).

# %%
with_offset = next(s for s in chosen if s.offset > s.apex)
fig, nums = plots.fig_reverse_identity(with_offset, size=image_size)
fig.savefig(fig_dir / "fig2_offset_identity.png", dpi=120, bbox_inches="tight")
print(
    f"max |DI_reversed + DI_forward| = {nums['max_abs_sum']:.3g}; "
    f"uint8(reversed) == 255 - uint8(forward) on {100 * nums['equal_255_minus']:.2f}% of pixels"
)
assert nums["max_abs_sum"] == 0.0 and nums["equal_255_minus"] > 0.99
