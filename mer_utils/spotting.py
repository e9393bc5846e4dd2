"""Label-free apex spotting: the frame of a clip where the expression peaks, from frames alone.

Version 1 is the loader's former re-estimation (:func:`mer_utils.frames.estimate_apex`: the
frame most unlike the onset frame after brightness matching), kept inside the clip so that
both phases have >= 2 frames.
"""

from __future__ import annotations

import numpy as np

from mer_utils.frames import estimate_apex

SPOTTER_VERSION = 1  # bump when spot_apex's answers change: DI stores key on it


def spot_apex(frames: np.ndarray) -> int:
    """Apex index 1..T-2 of a clip uint8 [T, H, W, 3] or [T, H, W] (onset..offset); for
    T < 3 the middle index ``(T - 1) // 2``."""
    T = len(frames)
    if T < 3:
        return (T - 1) // 2
    return int(np.clip(estimate_apex(frames), 1, T - 2))
