"""Flip/Rotate for flow inputs: the batch augmentation of :mod:`mer_utils.augment`, made
correct for (u, v, strain) codes of :mod:`mer_utils.flow`.

Mirroring or rotating the *frames* does not just move a flow image's pixels: the vectors turn
with the image. With ``augment.flip_rotate``'s sampling ``out(p) = in(A p)``
(``A = R(angle) diag(sx, 1)``, normalised coordinates, y down) the flow of the transformed frames
is ``f'(p) = A^-1 f(A p) = diag(sx, 1) R(-angle) f(A p)``: the maps are resampled as the DIs are,
then (u, v) (codes minus 128) is rotated by ``-angle`` and u negated when flipped. A flip alone is
:func:`mer_utils.flow.flip_flow`: mirror and u -> 256 - u. The strain map, a rotation- and
mirror-invariant magnitude, is only resampled. Draws come from the generator exactly as
``flip_rotate``'s do (same flips and angles for the same generator state). Registered as the
augmentation ``flip_rotate_flow`` (:mod:`mer_utils.augment`, representation ``flow``), which the
flow configurations' Flip/Rotate name.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mer_utils.flow import ZERO


def transform_flow(x: torch.Tensor, flip: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """The flow codes of frames mirrored (where ``flip``) and rotated by ``angle``.

    Args:
        x: float [B, 3, S, S] flow codes 0..255 (u, v about 128; strain).
        flip: bool [B]; angle: float [B] radians, as ``augment.flip_rotate`` draws them.

    Returns:
        float [B, 3, S, S]; u, v clamped to the codes' range 1..255.
    """
    cos, sin = torch.cos(angle).to(x.dtype), torch.sin(angle).to(x.dtype)
    sx = torch.where(flip, -1.0, 1.0).to(x.dtype)
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1] = cos * sx, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin * sx, cos
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    u, v = y[:, 0] - ZERO, y[:, 1] - ZERO
    c, s, sx = cos[:, None, None], sin[:, None, None], sx[:, None, None]
    u2, v2 = sx * (c * u + s * v), c * v - s * u
    uv = torch.stack([u2, v2], dim=1).add_(ZERO).clamp_(1, 255)
    return torch.cat([uv, y[:, 2:]], dim=1)


def flip_rotate_flow(x: torch.Tensor, gen: torch.Generator, max_deg: float = 10.0) -> torch.Tensor:
    """Random horizontal flip (p = 0.5) and rotation in [-max_deg, max_deg] of flow codes.

    Args:
        x: float [B, 3, S, S] flow codes (un-normalised 0..255); gen: a generator on
            ``x.device``.

    Returns:
        float [B, 3, S, S]: the codes of the flow of the transformed frames.
    """
    B = x.shape[0]
    flip = torch.rand(B, generator=gen, device=x.device) < 0.5
    angle = (torch.rand(B, generator=gen, device=x.device) * 2 - 1) * math.radians(max_deg)
    return transform_flow(x, flip, angle)
