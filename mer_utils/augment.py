"""Batched augmentations as tensor ops on whatever device the batch lives on.

:data:`AUGMENTATIONS` names each one; a configuration (:mod:`mer_utils.configurations`) lists
the names it applies, in order, to every training batch. Each takes the un-normalised float
batch [B, C, H, W] (0..255) and the training run's augmentation generator (on the batch's
device, so draws are seeded and reproducible) and returns a batch of the same shape, dtype and
device. Register one with the :func:`register_augmentation` decorator (the built-in ones do);
``tests/test_contracts.py`` holds every registered one to that contract and, for a dynamic
image, to doing the same to each colour channel.

torch is imported inside the functions, so the config (which validates names against this
registry) stays light.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from mer_utils.registry import register
from mer_utils.representations import REPRESENTATIONS

if TYPE_CHECKING:
    import torch

Augmentation = Callable[["torch.Tensor", "torch.Generator"], "torch.Tensor"]
A = TypeVar("A", bound=Augmentation)
AUGMENTATIONS: dict[str, Augmentation] = {}  # name -> batch function
AUGMENTATION_INPUTS: dict[str, str] = {}  # name -> the representation it applies to


def register_augmentation(
    name: str, *, representation: str = "di", replace: bool = False
) -> Callable[[A], A]:
    """Decorator: register a batch function ``(x float [B, C, H, W], gen) -> x`` as ``name``,
    for inputs of ``representation`` (a name in :data:`mer_utils.representations.
    REPRESENTATIONS`). RegistryError for a name taken by another function (unless
    ``replace``), an unknown representation or a function that cannot take ``(x, gen)``.

    Example::

        @register_augmentation("jitter")
        def jitter(x, gen):
            return x + torch.rand(x.shape, generator=gen, device=x.device)
    """

    def add(fn: A) -> A:
        problems = []
        if representation not in REPRESENTATIONS:
            problems.append(
                f"representation {representation!r} unknown; use one of {sorted(REPRESENTATIONS)}"
            )
        if not _takes_two(fn):
            problems.append(f"{fn!r} must be callable as fn(x, gen)")
        register(AUGMENTATIONS, "augmentation", name, fn, replace=replace, problems=problems)
        AUGMENTATION_INPUTS[name] = representation
        return fn

    return add


def _takes_two(fn: object) -> bool:
    """True when ``fn`` can be called with two positional arguments."""
    try:
        inspect.signature(fn).bind(None, None)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return callable(fn)


@register_augmentation("flip_rotate")
def flip_rotate(x: torch.Tensor, gen: torch.Generator, max_deg: float = 10.0) -> torch.Tensor:
    """Random horizontal flip (p=0.5) and rotation in [-max_deg, max_deg] per sample.

    Args:
        x: float [B, C, H, W] (un-normalised 0..255 DIs); gen: a generator on ``x.device``.

    Returns:
        float [B, C, H, W]; borders are filled by replicating the edge (DI background).
    """
    import torch
    import torch.nn.functional as F

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


@register_augmentation("flip_rotate_flow", representation="flow")
def flip_rotate_flow(x: torch.Tensor, gen: torch.Generator, max_deg: float = 10.0) -> torch.Tensor:
    """Flip/Rotate for flow codes (float [B, 3, S, S], u, v, strain 0..255): the flow of the
    mirrored and rotated frames, drawn exactly as :func:`flip_rotate` draws (u negated where
    flipped, (u, v) turned with the rotation; :mod:`mer_utils.flow_augment`)."""
    from mer_utils.flow_augment import flip_rotate_flow as transform

    return transform(x, gen, max_deg)


def apply(names: tuple[str, ...], x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``x`` through the augmentations ``names``, in order (none: ``x`` itself)."""
    for name in names:
        x = AUGMENTATIONS[name](x, gen)
    return x
