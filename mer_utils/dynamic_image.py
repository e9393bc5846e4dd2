"""Dynamic images by approximate rank pooling (ARP), and the paper's phase DIs.

A dynamic image (DI) is one weighted sum of a clip's frames over time::

    DI = sum_t alpha_t * frame_t,   t = 1..T

Paper weights: ``alpha_t = 2t - T - 1`` (sum to zero, antisymmetric). DI-Offset uses the
reversed weights ``T + 1 - 2t``, which for the paper variant is exactly the negation of the
forward weights. Bilen et al.'s reference ARP uses the harmonic form
``alpha_t = 2(T - t + 1) - (T + 1)(H_T - H_{t-1})``.

Inputs may be numpy arrays or torch tensors, uint8 or float; the result is float32 of the
same library (and, for torch, the same device).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np

Variant = Literal["paper", "bilen"]
DiOrder = Literal["native", "resize_first"]  # DI at frame size then resized (paper), or not
VARIANTS: tuple[str, ...] = ("paper", "bilen")
Array = TypeVar("Array")

#: Pixels per block in the numpy path: a [T, block] float32 slab stays in cache.
_BLOCK = 4096


def arp_weights(T: int, variant: Variant = "paper", reverse: bool = False) -> np.ndarray:
    """ARP weights for a clip of ``T`` frames.

    Args:
        T: number of frames (>= 1; T == 1 gives the single weight 0).
        variant: ``"paper"`` (2t-T-1) or ``"bilen"`` (harmonic form).
        reverse: weights for the time-reversed clip (``alpha[::-1]``); for ``"paper"``
            this is ``T + 1 - 2t``, i.e. the negated forward weights.

    Returns:
        float64 array of shape [T].
    """
    if int(T) != T or T < 1:
        raise ValueError(f"arp_weights: T must be a positive integer, got {T!r}")
    t = np.arange(1, T + 1, dtype=np.float64)
    if variant == "paper":
        w = 2.0 * t - T - 1.0
    elif variant == "bilen":
        harmonic = np.concatenate([[0.0], np.cumsum(1.0 / t)])  # H_0..H_T
        w = 2.0 * (T - t + 1.0) - (T + 1.0) * (harmonic[T] - harmonic[t.astype(int) - 1])
    else:
        raise ValueError(f"arp_weights: unknown variant {variant!r}; use one of {VARIANTS}")
    return w[::-1].copy() if reverse else w


def _is_torch(x: object) -> bool:
    return type(x).__module__.startswith("torch")


def _weighted_sum_numpy(frames: np.ndarray, w: np.ndarray, threads: int) -> np.ndarray:
    """sum_t w[t] * frames[t] in float32, block-wise over pixels so each slab stays in cache.

    The uint8->float32 conversion is compute-bound on one core, so pixel ranges are split
    across ``threads`` workers (numpy releases the GIL in astype and matmul).
    """
    T = frames.shape[0]
    flat = np.ascontiguousarray(frames).reshape(T, -1)
    w32 = w.astype(np.float32)
    out = np.empty(flat.shape[1], dtype=np.float32)

    def run(lo: int, hi: int) -> None:
        for start in range(lo, hi, _BLOCK):  # loop over pixel blocks, never over frames
            stop = min(start + _BLOCK, hi)
            np.matmul(w32, flat[:, start:stop].astype(np.float32), out=out[start:stop])

    n_blocks = -(-flat.shape[1] // _BLOCK)
    threads = max(1, min(threads, n_blocks))
    if threads == 1:
        run(0, flat.shape[1])
    else:
        edges = [
            min(flat.shape[1], -(-n_blocks * i // threads) * _BLOCK) for i in range(threads + 1)
        ]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, edges[:-1], edges[1:]))
    return out.reshape(frames.shape[1:])


def default_threads() -> int:
    """Worker threads for the numpy DI path: the machine's cores, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def dynamic_image(
    frames: Array, variant: Variant = "paper", reverse: bool = False, threads: int | None = None
) -> Array:
    """Dynamic image of a clip.

    Args:
        frames: [T, H, W, C] (any trailing shape), uint8 or float, numpy or torch; T >= 2.
        variant: weight variant, see :func:`arp_weights`.
        reverse: use the reversed weights (the paper's DI-Offset weights).
        threads: numpy path only: worker threads (default :func:`default_threads`; pass 1
            when clips are already processed in parallel).

    Returns:
        float32 [H, W, C] of the input's library (torch: same device).
    """
    T = int(frames.shape[0])
    if T < 2:
        raise ValueError(
            f"dynamic_image needs at least 2 frames, got {T}: a 1-frame clip has weight 0 "
            "and would give an all-zero image"
        )
    w = arp_weights(T, variant, reverse)
    if _is_torch(frames):
        import torch

        wt = torch.as_tensor(w, dtype=torch.float32, device=frames.device)
        return torch.tensordot(wt, frames.to(torch.float32), dims=1)
    return _weighted_sum_numpy(np.asarray(frames), w, threads or default_threads())


@dataclass(frozen=True)
class PhaseDIs:
    """The three DIs of one clip. A phase DI is ``None`` when its phase is too short,
    and the matching ``*_reason`` says why (it is ``None`` when the DI is present)."""

    full: np.ndarray
    onset: np.ndarray | None
    offset: np.ndarray | None
    onset_reason: str | None = None
    offset_reason: str | None = None


def phase_dynamic_images(
    frames: Array,
    onset: int,
    apex: int,
    offset: int,
    variant: Variant = "paper",
    threads: int | None = None,
) -> PhaseDIs:
    """Full DI (onset->offset), DI-Onset (onset->apex) and DI-Offset (apex->offset, reversed).

    Args:
        frames: [T, H, W, C] frames onset..offset inclusive (T == offset - onset + 1).
        onset, apex, offset: frame numbers as in the annotation; onset <= apex <= offset.
        variant: weight variant for all three DIs.
        threads: passed to :func:`dynamic_image`.

    The apex frame belongs to both phases. A phase with fewer than 2 frames gets no DI
    (``None`` plus a reason), never an all-zero image.
    """
    T = int(frames.shape[0])
    if T != offset - onset + 1:
        raise ValueError(
            f"phase_dynamic_images: got {T} frames but onset={onset}, offset={offset} "
            f"imply {offset - onset + 1}"
        )
    if not onset <= apex <= offset:
        raise ValueError(
            f"phase_dynamic_images: apex {apex} outside [onset {onset}, offset {offset}]; "
            "re-estimate the apex first (mer_utils.datasets applies that policy)"
        )
    full = dynamic_image(frames, variant, threads=threads)
    (on, on_why), (off, off_why) = phase_pair(frames, apex - onset, variant, threads)
    return PhaseDIs(full, on, off, on_why, off_why)


def phase_pair(
    frames: Array, apex_index: int, variant: Variant = "paper", threads: int | None = None
) -> tuple[tuple[Array | None, str | None], tuple[Array | None, str | None]]:
    """((DI-Onset, reason), (DI-Offset, reason)) of a clip [T, H, W, C] cut at frame index
    ``apex_index`` (0-based; the apex frame is in both phases); a phase of fewer than 2 frames
    gets ``(None, why)``."""
    a = apex_index
    return (
        _phase(frames[: a + 1], variant, False, threads, "onset", "apex == onset"),
        _phase(frames[a:], variant, True, threads, "offset", "apex == offset"),
    )


def _phase(
    frames: Array, variant: Variant, reverse: bool, threads: int | None, name: str, why: str
):
    if frames.shape[0] < 2:
        return None, f"{name} phase has {frames.shape[0]} frame ({why}): no DI-{name.title()}"
    return dynamic_image(frames, variant, reverse, threads), None


def to_uint8(di: Array) -> Array:
    """Map a DI to an image by one global min-max over all channels to 0..255.

    Args:
        di: float [H, W, C] (numpy or torch).

    Returns:
        uint8 array of the same shape and library.

    Raises:
        ValueError: the DI is constant (no motion at all), which has no min-max image.
    """
    lo, hi = float(di.min()), float(di.max())
    if not hi > lo:
        raise ValueError(
            f"to_uint8: constant dynamic image (all values {lo:g}): the frames do not change; "
            "check that the clip's frames are not duplicates"
        )
    scaled = (di - lo) * (255.0 / (hi - lo))
    if _is_torch(di):
        import torch

        return torch.round(scaled).clamp_(0, 255).to(torch.uint8)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
