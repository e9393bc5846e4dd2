"""Batched augmentations as tensor ops on whatever device the batch lives on.

:data:`AUGMENTATIONS` names each one; a configuration (:mod:`mer_utils.configurations`) lists
the names it applies, in order, to every training batch. Each takes the un-normalised float
batch [B, C, H, W] (0..255) and the training run's augmentation generator (on the batch's
device, so draws are seeded and reproducible) and returns a batch of the same shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def flip_rotate(x: torch.Tensor, gen: torch.Generator, max_deg: float = 10.0) -> torch.Tensor:
    """Random horizontal flip (p=0.5) and rotation in [-max_deg, max_deg] per sample.

    Args:
        x: float [B, C, H, W] (un-normalised 0..255 DIs); gen: a generator on ``x.device``.

    Returns:
        float [B, C, H, W]; borders are filled by replicating the edge (DI background).
    """
    B = x.shape[0]
    flip = torch.rand(B, generator=gen, device=x.device) < 0.5
    angle = (torch.rand(B, generator=gen, device=x.device) * 2 - 1) * math.radians(max_deg)
    cos, sin = torch.cos(angle), torch.sin(angle)
    sx = torch.where(flip, -1.0, 1.0).to(x.dtype)
    theta = torch.zeros(B, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1] = cos * sx, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin * sx, cos
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


Augmentation = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
AUGMENTATIONS: dict[str, Augmentation] = {"flip_rotate": flip_rotate}


def apply(names: tuple[str, ...], x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``x`` through the augmentations ``names``, in order (none: ``x`` itself)."""
    for name in names:
        x = AUGMENTATIONS[name](x, gen)
    return x
