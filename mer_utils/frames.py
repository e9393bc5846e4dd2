"""Frame I/O: index a clip folder numerically, read frames as RGB, face crop, resize,
and the motion-intensity curve used for Fig. 3 and apex re-estimation.

This is the I/O layer under :mod:`mer_utils.datasets`; it knows paths, not samples.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h


class FrameError(RuntimeError):
    """A frame file or folder that cannot be used; the message names it and the fix."""


def index_frames(folder: Path, pattern: str) -> dict[int, Path]:
    """Map frame number -> path for files in ``folder`` whose name fully matches ``pattern``.

    ``pattern`` has one group capturing the frame number; numbers are parsed as integers,
    so ``reg_img100`` sorts after ``reg_img46`` and SAMM's mixed zero-padding is harmless.
    Returns a dict sorted by frame number.
    """
    if not folder.is_dir():
        raise FrameError(f"{folder}: clip folder not found; check the dataset root and layout")
    rx = re.compile(pattern)
    found: dict[int, Path] = {}
    for p in folder.iterdir():
        m = rx.fullmatch(p.name)
        if m:
            n = int(m.group(1))
            if n in found:
                raise FrameError(f"{folder}: frame {n} appears twice ({found[n].name}, {p.name})")
            found[n] = p
    return dict(sorted(found.items()))


JPEG_EOI = b"\xff\xd9"  # end-of-image marker; never occurs inside entropy-coded data
JPEG_SOI = b"\xff\xd8\xff"  # how every JPEG file starts, whatever its name


def frame_problem(path: Path, data: bytes | None = None) -> str | None:
    """Why a frame file cannot be trusted (empty, or a JPEG, by its first bytes, without its
    end-of-image marker, i.e. truncated: libjpeg would fill the rest with grey and only warn),
    or None. A file of another format (a PNG named .jpg) is left to the decoder. Reads only the
    file's first 3 and last 64 bytes unless ``data`` (its bytes) is given."""
    if data is None:
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                head = f.read(len(JPEG_SOI))
                f.seek(max(0, size - 64))
                tail = f.read()
        except OSError as e:
            return f"cannot be read ({e.strerror})"
    else:
        size, head, tail = len(data), data[: len(JPEG_SOI)], data[-64:]
    if size == 0:
        return "empty file (0 bytes)"
    if head == JPEG_SOI and JPEG_EOI not in tail:
        return "truncated JPEG (no end-of-image marker)"
    return None


def read_frame(path: Path) -> np.ndarray:
    """One frame as RGB uint8 [H, W, 3] (greyscale files are repeated to 3 channels).
    Raises FrameError naming the file for an empty, truncated or undecodable file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FrameError(
            f"{path}: cannot be read ({e.strerror}); re-copy it from the dataset"
        ) from None
    problem = frame_problem(path, data)
    img = None if problem else cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:  # BGR; grey files come back 3-channel
        raise FrameError(
            f"{path}: {problem or 'unreadable or not an image'}; re-copy the file from the dataset"
        )
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_clip(paths: Sequence[Path], size: int | None = None, box: Box | None = None) -> np.ndarray:
    """Read frames in the given order (no sorting here), crop to ``box``, resize to ``size``.

    Returns:
        uint8 [T, H, W, 3] RGB; H = W = ``size`` when given.
    """
    out: np.ndarray | None = None
    for i, p in enumerate(paths):
        f = crop_resize(read_frame(p), size, box)
        if out is None:
            out = np.empty((len(paths), *f.shape), dtype=np.uint8)
        elif f.shape != out.shape[1:]:
            raise FrameError(f"{p}: frame size {f.shape} differs from the clip's {out.shape[1:]}")
        out[i] = f
    if out is None:
        raise FrameError("read_clip: no frame paths given")
    return out


def crop_resize(frame: np.ndarray, size: int | None, box: Box | None = None) -> np.ndarray:
    """Crop [H, W, C] to ``box`` (x, y, w, h) and resize to ``size`` x ``size`` (area filter)."""
    if box is not None:
        x, y, w, h = box
        frame = frame[y : y + h, x : x + w]
    if size is not None and frame.shape[:2] != (size, size):
        frame = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    return frame


@lru_cache(maxsize=1)
def _haar() -> cv2.CascadeClassifier:
    xml = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    clf = cv2.CascadeClassifier(str(xml))
    if clf.empty():
        raise FrameError(
            f"{xml}: Haar cascade missing; install opencv-contrib-python-headless>=4.14,<5"
        )
    return clf


def detect_face(frame: np.ndarray, margin: float = 0.1) -> Box | None:
    """Largest frontal face in an RGB uint8 frame, grown by ``margin`` per side; None if none."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    faces = _haar().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda b: b[2] * b[3])
    dx, dy = int(w * margin), int(h * margin)
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(frame.shape[1], x + w + dx), min(frame.shape[0], y + h + dy)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def motion_intensity(frames: np.ndarray, detrend: bool = True) -> np.ndarray:
    """Per-frame motion intensity of a clip (mean absolute grey-level difference).

    With ``detrend`` (default) each frame is compared with the straight-line interpolation
    between the first and the last frame, so slow linear changes (illumination drift, a slow
    head drift) cancel and the curve is 0 at both ends; otherwise with the first frame.

    Args:
        frames: uint8 or float [T, H, W, 3] or [T, H, W].

    Returns:
        float32 [T].
    """
    f = frames.astype(np.float32)
    if f.ndim == 4:
        f = f.mean(axis=-1)
    if not detrend or len(f) < 2:
        return np.abs(f - f[:1]).mean(axis=(1, 2)).astype(np.float32)
    lam = np.linspace(0.0, 1.0, len(f), dtype=np.float32)[:, None, None]
    base = (1 - lam) * f[:1] + lam * f[-1:]
    return np.abs(f - base).mean(axis=(1, 2)).astype(np.float32)


def estimate_apex(frames: np.ndarray) -> int:
    """Index (1..T-1) of the apex of a clip [T, H, W, 3] or [T, H, W]: the frame most different
    from the onset frame (neutral by definition of an onset), after matching each frame's
    brightness to the onset's (illumination drift cancels). The last frame can be the apex
    (a clip cut at its peak); the onset frame cannot. Returns 0 only for a 1-frame clip."""
    f = frames.astype(np.float32)
    if f.ndim == 4:
        f = f.mean(axis=-1)
    means = f.mean(axis=(1, 2), keepdims=True)
    f = f * (means[:1] / np.maximum(means, 1e-6))
    d = np.abs(f - f[:1]).mean(axis=(1, 2))
    return int(np.argmax(d))
