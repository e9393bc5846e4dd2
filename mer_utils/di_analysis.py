"""What the full DI really encodes (notebook 02).

The ARP weights ``w_t = 2t - T - 1`` sum to zero, so for frames ``F_t = F_0 + p_t * D`` (a
static face plus an expression pattern ``D`` scaled by its intensity profile ``p_t``) the full
DI is exactly ``(sum_t w_t p_t) * D``: the face cancels and the expression survives only
through the timing asymmetry of ``p``. For a rise-and-fall profile that coefficient is zero
with the apex in the middle of the clip and flips sign across it, while DI-Onset (onset->apex,
same weights) and DI-Offset (apex->offset, reversed weights) are always positive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from mer_utils.console import progress_bar
from mer_utils.datasets import Sample
from mer_utils.dynamic_image import arp_weights, dynamic_image
from mer_utils.frames import read_clip

KINDS = ("full", "onset", "offset")


def coefficients(profile: np.ndarray, apex: int, variant: str = "paper") -> dict[str, float]:
    """Coefficient of ``D`` in each DI of frames ``F_0 + p_t D`` (``profile`` float [T],
    ``apex`` its 0-based apex index); NaN for a phase DI of fewer than 2 frames."""
    p = np.asarray(profile, dtype=np.float64)
    T = len(p)
    return dict(
        full=float(arp_weights(T, variant) @ p),
        onset=float(arp_weights(apex + 1, variant) @ p[: apex + 1]) if apex >= 1 else np.nan,
        offset=(
            float(arp_weights(T - apex, variant, reverse=True) @ p[apex:])
            if T - apex >= 2
            else np.nan
        ),
    )


def coefficient_curves(
    profile: Callable[[int, int], np.ndarray], T: int, positions: Sequence[float]
) -> pd.DataFrame:
    """One row per relative apex position (0 = onset, 1 = offset): the coefficients of the
    full, onset and offset DI for ``profile(T, apex_index)``."""
    rows = []
    for r in positions:
        a = int(round(r * (T - 1)))
        rows.append(dict(rel_apex=a / (T - 1), **coefficients(profile(T, a), a)))
    return pd.DataFrame(rows)


def aligned_profile(curve: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """A profile function from a curve aligned at the apex on [-1, 1] (notebook 01's motion
    intensity: -1 onset, 0 apex, +1 offset), resampled for any length and apex index."""
    grid = np.linspace(-1, 1, len(curve))

    def profile(T: int, apex: int) -> np.ndarray:
        t = np.arange(T, dtype=np.float64)
        x = np.where(t <= apex, (t - apex) / max(apex, 1), (t - apex) / max(T - 1 - apex, 1))
        return np.interp(x, grid, curve)

    return profile


def clip_projections(samples: Sequence[Sample], size: int = 64) -> pd.DataFrame:
    """Per clip: relative apex position and the signed projection of its full, onset and
    offset DI on its apex-minus-onset difference image D, ``<DI, D> / <D, D>`` (the measured
    coefficient of D; NaN for a 1-frame phase). Frames read at ``size`` px, float32."""
    rows = []
    for s in progress_bar(samples, desc="DI projections", unit="clip"):
        f = read_clip(s.frames, size=size).astype(np.float32)
        a = s.apex - s.onset
        d = (f[a] - f[0]).ravel()
        dd = float(d @ d)
        dis = dict(
            full=dynamic_image(f, threads=1),
            onset=dynamic_image(f[: a + 1], threads=1) if a >= 1 else None,
            offset=dynamic_image(f[a:], reverse=True, threads=1) if len(f) - a >= 2 else None,
        )
        proj = {
            k: np.nan if v is None or dd == 0 else float(v.ravel() @ d) / dd for k, v in dis.items()
        }
        rows.append(
            dict(
                clip=f"{s.subject}/{s.clip}", label=s.label, rel_apex=a / max(len(f) - 1, 1), **proj
            )
        )
    return pd.DataFrame(rows)


def rel_apex_positions(samples: Sequence[Sample]) -> np.ndarray:
    """float64 [N]: each clip's apex position in its clip (0 = onset, 1 = offset), from the
    annotations alone (works on a real copy's sheet without reading a frame)."""
    return np.array([(s.apex - s.onset) / max(s.offset - s.onset, 1) for s in samples])
