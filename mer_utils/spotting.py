"""Label-free apex spotting: the frame of a clip (onset..offset) where the expression peaks.

The spotter reads only frames. It assumes what holds for real micro-expression clips:

- the onset and offset frames are near neutral, and the expression's change builds up from the
  onset and dies out by the offset, staying above half its peak energy for a sizeable part of
  the clip (at least :data:`MIN_WIDTH` of onset..offset);
- head motion is a global translation and illumination change a global brightness gain and
  offset (both may drift or jitter over the clip);
- a blink is a change confined to a region (the eyes) and brief next to the expression; it
  may catch the onset or the offset frame half-closed in that region.

It knows nothing of where the face, its parts or its action units are. Steps, on the clip read
grey, shrunk to :data:`WORK_SIZE` px on the long side (fixed, so the answer does not depend on
the stored frame size) and blurred by :data:`BLUR_SIGMA` px:

1. brightness matched to the onset frame (ratio of frame means); head translation against the
   onset fitted robustly and undone when it reaches :data:`REGISTER_MIN_PX` (a border as wide
   as the largest shift is then dropped);
2. each frame minus the neutral baseline (the onset and offset frames, interpolated in time),
   with the global part of that difference removed by a robust (Tukey) fit on the baseline's
   brightness, an offset and its x/y gradients (the sub-pixel rest of the head motion);
3. per block of a :data:`GRID` x :data:`GRID` grid, the residual energy over time in units of
   the block's frame-to-frame noise (noise floor subtracted), against whichever neutral
   reference (interpolated, onset frames alone, offset frames alone) leaves the block
   quietest over the clip, so an end frame caught mid-blink does not spread into a ramp;
4. temporal smoothing (:data:`SMOOTH`); blocks whose change stays above half its peak for less
   than :data:`MIN_WIDTH` of the clip (a blink) are left out (all are kept if none remains);
5. the apex is the peak of the mean over the kept blocks, inside 1..T-2.

:func:`spotting_errors` measures it against annotated apexes (notebook 01);
``benchmarks/spotter_accuracy.py`` prints its accuracy and speed on the synthetic copies.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d
from threadpoolctl import ThreadpoolController  # installed with scikit-learn (a dependency)

from mer_utils.console import progress_bar
from mer_utils.frames import read_frame

if TYPE_CHECKING:  # datasets will call the spotter to re-estimate apexes: no import cycle
    from mer_utils.datasets import Sample

log = logging.getLogger(__name__)

SPOTTER_VERSION = 2  # bump when spot_apex's answers change (DI stores key on it); 1: estimate_apex
WORK_SIZE = 96  # long side of the working frames, px
BLUR_SIGMA = 1.0  # Gaussian blur of the working frames, px (makes the gradient model hold)
GRID = 8  # blocks per side
END_FRAMES = 3  # frames averaged at each end for the neutral baseline (fewer in short clips)
SMOOTH = 0.02  # temporal Gaussian sigma, fraction of the clip length (T - 1)
MIN_WIDTH = 0.3  # shortest kept change above half its peak, fraction of T - 1
TUKEY_C = 3.0  # Tukey biweight cut-off, in robust standard deviations of the residual
FIT_ITERATIONS = 4
FIT_STRIDE = 3  # the global fit reads every 3rd pixel (the residual is taken everywhere)
REGISTER_MIN_PX = 0.25  # frames are warped only when some frame moved this far (working px)
REGISTER_ITERATIONS = 4


def working_frames(frames: np.ndarray) -> np.ndarray:
    """A clip at the spotter's working size: float32 [T, h, w] grey, long side :data:`WORK_SIZE`.

    Args:
        frames: uint8 or float (0..255) [T, H, W, 3] RGB or [T, H, W] grey, any size; a
            grey clip already at the working size passes through unresized.
    """
    if frames.ndim not in (3, 4) or len(frames) == 0:
        raise ValueError(f"working_frames: expected [T, H, W(, 3)] with T >= 1, got {frames.shape}")
    return np.stack([_shrink(f) for f in frames])


def _shrink(frame: np.ndarray) -> np.ndarray:
    """One frame [H, W(, 3)] -> float32 grey [h, w] with long side :data:`WORK_SIZE`."""
    if frame.dtype not in (np.uint8, np.float32):
        frame = frame.astype(np.float32)
    f = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    f = f.astype(np.float32)  # grey first: a third of the data to convert and resize
    while max(f.shape) >= 2 * WORK_SIZE:  # halving by pyrDown is 2x cheaper than INTER_AREA
        f = cv2.pyrDown(f)
    H, W = f.shape
    if max(H, W) == WORK_SIZE:
        return f
    k = WORK_SIZE / max(H, W)
    size = (max(1, round(W * k)), max(1, round(H * k)))
    return cv2.resize(f, size, interpolation=cv2.INTER_AREA)


def read_for_spotting(paths: Sequence[Path]) -> np.ndarray:
    """Read a clip's frames (onset..offset, in order) straight to the working size, one frame
    in memory at a time: float32 [T, h, w] (see :func:`working_frames`)."""
    if not paths:
        raise ValueError("read_for_spotting: no frame paths given")
    return np.stack([_shrink(read_frame(Path(p))) for p in paths])


def spot_apex(frames: np.ndarray) -> int:
    """Index of the apex of one clip, from its frames alone.

    Args:
        frames: the clip onset..offset: uint8 [T, H, W, 3] RGB or [T, H, W] grey at any size,
            or the float32 output of :func:`working_frames` / :func:`read_for_spotting`.

    Returns:
        An index in 1..T-2 for T >= 3 (the onset and offset frames are neutral by definition);
        T - 1 for a 1- or 2-frame clip (0 for one frame: there is nothing else to choose).
    """
    T = len(frames)
    if T == 0:
        raise ValueError("spot_apex: empty clip")
    if T < 3:
        return T - 1
    with _blas().limit(limits=1, user_api="blas"):
        return int(1 + np.argmax(apex_curve(frames)[1:-1]))


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    """The BLAS thread pools. The spotter's products are small ([T, h*w] x [h*w, 16]): one
    thread is fastest, and several spin-waiting threads on a busy machine were 30x slower
    (measured on 2 shared cores); parallelism belongs to the caller, one clip per worker."""
    return ThreadpoolController()


def apex_curve(frames: np.ndarray) -> np.ndarray:
    """float64 [T]: the spotter's evidence per frame, whose peak is the apex: the mean over
    the kept blocks (all blocks if none is kept) of the change energy in units of each block's
    noise. ``frames`` as in :func:`spot_apex`, T >= 3."""
    f = working_frames(frames)
    f = np.stack([cv2.GaussianBlur(x, (0, 0), BLUR_SIGMA) for x in f])
    f = _register(f * (f[0].mean() / np.maximum(f.mean(axis=(1, 2), keepdims=True), 1e-3)))
    residual, ends = _local_changes(f)
    snr = _block_snr(residual, ends, _end_count(len(f)))
    snr = gaussian_filter1d(snr, SMOOTH * (len(f) - 1), axis=0, mode="nearest")
    keep = _half_max_width(snr) >= MIN_WIDTH * (len(f) - 1)
    return snr[:, keep].mean(axis=1) if keep.any() else snr.mean(axis=1)


def _end_count(T: int) -> int:
    return max(1, min(END_FRAMES, T // 4))


def _local_changes(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Changes against the neutral baseline with global ones removed.

    Args:
        f: float32 [T, h, w] working frames.

    Returns:
        (float32 [T, h, w] each frame minus the onset-offset interpolation, float32 [h, w] the
        offset minus the onset frame), both with the fitted global change taken out.
    """
    k = _end_count(len(f))
    first, last = f[:k].mean(axis=0), f[-k:].mean(axis=0)
    lam = np.linspace(0.0, 1.0, len(f), dtype=np.float32)[:, None, None]
    design = _global_design(0.5 * (first + last))
    diffs = np.concatenate([f - ((1 - lam) * first + lam * last), (last - first)[None]])
    out = _robust_fit(diffs.reshape(len(diffs), -1), design)[0].reshape(diffs.shape)
    return out[:-1], out[-1]


def _register(f: np.ndarray) -> np.ndarray:
    """Undo head translation: float32 [T, h', w'] frames shifted onto the onset frame(s).

    Each frame's shift against the onset is fitted robustly at half resolution (Lucas-Kanade
    with the Tukey fit of :func:`_robust_fit`, iterated). Frames are warped only if some frame
    moved :data:`REGISTER_MIN_PX` or more (a steady clip is left untouched by interpolation;
    the gradient terms of :func:`_local_changes` take up what is left), and then lose a border
    as wide as the largest shift (content that entered or left the frame)."""
    half = np.stack([cv2.pyrDown(x) for x in f])
    ref = half[: _end_count(len(f))].mean(axis=0)
    design = _global_design(ref)
    shifts = _robust_fit((half - ref).reshape(len(f), -1), design)[1][:, 2:4]
    if 2 * np.abs(shifts).max() < REGISTER_MIN_PX:
        return f
    for _ in range(REGISTER_ITERATIONS):
        moved = np.stack([_translate(x, dx, dy) for x, (dx, dy) in zip(half, shifts, strict=True)])
        step = _robust_fit((moved - ref).reshape(len(f), -1), design)[1][:, 2:4]
        shifts += step
        if np.abs(step).max() < 0.01:
            break
    moved = np.stack([_translate(x, 2 * dx, 2 * dy) for x, (dx, dy) in zip(f, shifts, strict=True)])
    m = min(int(np.ceil(2 * np.abs(shifts).max())), min(f.shape[1:]) // 4)
    return moved[:, m : f.shape[1] - m, m : f.shape[2] - m]


def _translate(frame: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``frame`` [h, w] with its content moved by (dx, dy) px (cubic, edges replicated)."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(
        frame, m, frame.shape[::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )


def _global_design(ref: np.ndarray) -> np.ndarray:
    """float32 [h*w, 4]: what a global change does to ``ref`` [h, w] to first order: an offset,
    a brightness gain, and an x and a y translation (the image gradients)."""
    gy, gx = np.gradient(ref)
    cols = (np.ones_like(ref), ref - ref.mean(), gx, gy)
    return np.stack([c.ravel() for c in cols], axis=1)


def _robust_fit(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tukey-biweight fit of each row of ``y`` [n, N] on the columns of ``x`` [N, p]
    (iteratively reweighted least squares), so local changes (the expression, a blink) do not
    bend the fitted global change. The coefficients are fitted on every
    :data:`FIT_STRIDE`-th pixel (thousands of pixels for a few coefficients), the residual is
    taken everywhere. Returns (residual float32 [n, N], coefficients float32 [n, p])."""
    ys, xs = y[:, ::FIT_STRIDE], x[::FIT_STRIDE]
    p = x.shape[1]
    outer = (xs[:, :, None] * xs[:, None, :]).reshape(len(xs), p * p)  # [N', p*p]
    ridge = 1e-6 * np.eye(p, dtype=np.float32)
    w = np.ones_like(ys)
    for _ in range(FIT_ITERATIONS):
        gram = (w @ outer).reshape(len(ys), p, p) + ridge
        beta = np.linalg.solve(gram, ((w * ys) @ xs)[..., None])[..., 0]
        r = ys - beta @ xs.T
        scale = 1.4826 * _row_median(np.abs(r)) + 1e-6
        u = r / np.float32(TUKEY_C * scale)
        w = np.maximum(1 - u * u, 0) ** 2
    return (y - beta @ x.T).astype(np.float32), beta


def _row_median(a: np.ndarray) -> np.ndarray:
    """[n, 1]: the (upper) median of each row of ``a`` [n, N]; one partition, 10x faster than
    ``np.median(axis=1)``."""
    k = a.shape[1] // 2
    return np.partition(a, k, axis=1)[:, k : k + 1]


def _blocks(x: np.ndarray) -> np.ndarray:
    """Mean of [T, h, w] over a :data:`GRID` x :data:`GRID` grid: [T, GRID*GRID] (the last
    h % GRID rows and w % GRID columns are left out)."""
    T, h, w = x.shape
    bh, bw = max(1, h // GRID), max(1, w // GRID)
    gh, gw = h // bh, w // bw
    rows = x[:, : gh * bh, : gw * bw].reshape(T, gh, bh, gw * bw).sum(axis=2)  # 5x faster than
    return rows.reshape(T, gh, gw, bw).sum(axis=3).reshape(T, -1) / (bh * bw)  # one .mean()


def _block_snr(residual: np.ndarray, ends: np.ndarray, k: int) -> np.ndarray:
    """float64 [T, blocks]: each block's change energy in units of its noise, floor removed,
    against the quietest (lowest median over time) of three neutral references: the
    interpolated baseline, the onset frames alone, the offset frames alone.

    ``residual`` [T, h, w] is against the interpolated baseline; ``ends`` [h, w] is offset
    minus onset; ``k`` frames were averaged at each end."""
    lam = np.linspace(0.0, 1.0, len(residual))[:, None, None]
    noise = np.median(_blocks(np.diff(residual, axis=0) ** 2 / 2), axis=0) + 1e-6
    changes = (residual, residual + lam * ends, residual - (1 - lam) * ends)
    # noise energy expected in each, per unit noise variance: 1 + the baseline's (weights^2 / k)
    w = lam[:, :, 0]
    floors = (1 + (w**2 + (1 - w) ** 2) / k, np.full_like(w, 1 + 1 / k), np.full_like(w, 1 + 1 / k))
    snr = np.stack(
        [_blocks(c * c) / noise - f for c, f in zip(changes, floors, strict=True)]
    )  # [3, T, blocks]
    best = np.argmin(np.median(snr, axis=1), axis=0)  # [blocks] the quietest reference
    return np.take_along_axis(snr, best[None, None], axis=0)[0]


def _half_max_width(curves: np.ndarray) -> np.ndarray:
    """int [blocks]: frames in the run around each column's peak that stays >= half the peak."""
    out = np.empty(curves.shape[1], dtype=int)
    for j, c in enumerate(curves.T):
        i = int(np.argmax(c))
        below = c < c[i] / 2
        left = np.flatnonzero(below[:i])
        right = np.flatnonzero(below[i:])
        lo = left[-1] + 1 if len(left) else 0
        hi = i + right[0] if len(right) else len(c)
        out[j] = hi - lo
    return out


def spotting_errors(samples: Sequence[Sample]) -> pd.DataFrame:
    """The spotter against each annotated apex, one row per clip.

    Only clips whose ``apex_source`` is ``"annotated"`` and whose apex lies strictly inside
    (onset, offset) are measured: a re-estimated apex is no ground truth, and an apex on the
    onset or offset frame is a sheet quirk the spotter never answers (it answers 1..T-2).
    The count left out is logged and kept in ``df.attrs["left_out"]``.

    Returns:
        columns subject, clip, label, T, apex (annotated index, 0 = onset), spotted (index),
        error (|spotted - apex|, frames), rel_error (error / (T - 1)), within_10pct (bool).
    """
    measured = [s for s in samples if has_true_apex(s)]
    rows = []
    for s in progress_bar(measured, desc="spotting apexes", unit="clip"):
        T, apex = len(s.frames), s.apex - s.onset
        spotted = spot_apex(read_for_spotting(s.frames))
        err = abs(spotted - apex)
        rel = err / (T - 1)
        rows.append((s.subject, s.clip, s.label, T, apex, spotted, err, rel, rel <= 0.1))
    cols = ["subject", "clip", "label", "T", "apex", "spotted", "error", "rel_error"]
    df = pd.DataFrame(rows, columns=[*cols, "within_10pct"])
    df.attrs["left_out"] = len(samples) - len(measured)
    if df.attrs["left_out"]:
        log.info(
            "spotting_errors: %d clip(s) left out (apex re-estimated, or on the onset/offset)",
            df.attrs["left_out"],
        )
    return df


def has_true_apex(s: Sample) -> bool:
    """Whether ``s`` has an apex to measure the spotter against (see :func:`spotting_errors`)."""
    return s.apex_source == "annotated" and s.onset < s.apex < s.offset and len(s.frames) >= 3
