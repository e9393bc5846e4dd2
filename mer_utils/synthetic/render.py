"""Rendering a planned clip: a subject's neutral face, AU displacement fields, frames on disk.

Motion model: each class is a set of action-unit-like local displacement fields (brows, lids,
nose, lip corners, lips, chin) of a few pixels at the apex, scaled over time by a curve that
rises from onset to apex and decays to offset. Subjects differ in face geometry and texture;
nuisances are sub-pixel head jitter, sensor noise, illumination drift and blinks. The class is
in the motion only: the onset frame is a neutral face.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from mer_utils.dataset_specs import DatasetSpec, normalise_label
from mer_utils.synthetic.plan import ClipPlan

# Calibrated once, on the baseline only (LEARNet, full DIs, subject-grouped 5-fold CV, leak-free
# inner validation, CASME-II-like copy; never by which augmentation wins): with the real apex
# timing (generator v3) the leak-free baseline UAR was 28.6 % at 0.012, 31.0 % at 0.020 and
# 35.9 % at 0.028 (blinks scaled with it), 37.8 % at 0.024 and 39.5 % at 0.032 with the blink
# at its own size; 0.032 (about 10 px of a 340 px face) brings it to the target's lower end
# (datasets.md: 40-75 %). It saturates because the full DI of a clip whose apex sits near its
# middle holds almost no expression, whatever the amplitude (notebook 02). See the README.
AMPLITUDE = 0.032  # apex displacement, as a fraction of the face height
# A blink's lid displacement at full closure, as a fraction of the face height: a physical
# size (the eye opening, ~10 px of a 340 px face), independent of the expression's AMPLITUDE.
BLINK_AMPLITUDE = 0.03
NOISE_SIGMA = 2.0  # sensor noise, grey levels
JITTER_PX = 0.25  # head jitter: stationary std in pixels (AR(1), correlation 0.9 per frame)
DRIFT = 0.02  # std of the illumination gain change over a clip
JPEG = [cv2.IMWRITE_JPEG_QUALITY, 95]  # .bmp (SMIC-HS) and .png take no options

Box = tuple[float, float, float, float]  # face box in pixels: x, y, w, h

# Action units: (x, y, dx, dy) blobs in face-box units; displacement in units of AMPLITUDE.
AUS: dict[str, list[tuple[float, float, float, float]]] = {
    "1": [(0.40, 0.30, 0, -1), (0.60, 0.30, 0, -1)],
    "2": [(0.25, 0.29, 0, -1), (0.75, 0.29, 0, -1)],
    "4": [(0.38, 0.31, 0.5, 0.8), (0.62, 0.31, -0.5, 0.8)],
    "5": [(0.33, 0.38, 0, -0.7), (0.67, 0.38, 0, -0.7)],
    "6": [(0.30, 0.58, 0, -0.8), (0.70, 0.58, 0, -0.8)],
    "7": [(0.33, 0.43, 0, -0.6), (0.67, 0.43, 0, -0.6)],
    "9": [(0.50, 0.50, 0, -0.8), (0.44, 0.56, 0, -0.6), (0.56, 0.56, 0, -0.6)],
    "10": [(0.50, 0.70, 0, -0.8)],
    "12": [(0.36, 0.75, -0.7, -0.7), (0.64, 0.75, 0.7, -0.7)],
    "14": [(0.36, 0.75, 0.6, 0), (0.64, 0.75, -0.6, 0)],
    "15": [(0.36, 0.76, 0, 0.8), (0.64, 0.76, 0, 0.8)],
    "17": [(0.50, 0.88, 0, -0.8)],
    "23": [(0.50, 0.72, 0, 0.5), (0.50, 0.78, 0, -0.5)],
    "26": [(0.50, 0.80, 0, 1.0), (0.50, 0.90, 0, 0.8)],
    "R12": [(0.64, 0.75, 0.7, -0.7)],
    "R14": [(0.64, 0.75, -0.6, 0)],
}
BLINK = [(0.33, 0.385, 0, 1.0), (0.67, 0.385, 0, 1.0)]  # displacement in BLINK_AMPLITUDE


def _smooth_noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    n = rng.standard_normal((h, w)).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigma)
    return n / (n.std() + 1e-6)


def _skin(rng: np.random.Generator, size: tuple[int, int], box: Box):
    """Background, face oval and skin: (float32 [H, W, 3] image, skin tone [3], geometry [8])."""
    H, W = size
    fx, fy, fw, fh = box
    tone = rng.uniform(150, 215) * np.array([1.0, rng.uniform(0.78, 0.9), rng.uniform(0.62, 0.8)])
    img = np.empty((H, W, 3), np.float32)
    img[:] = rng.uniform(40, 110) + 15 * _smooth_noise(rng, H, W, W / 8)[..., None]
    face = np.zeros((H, W), np.uint8)
    g = rng.uniform(-0.02, 0.02, 8)  # subject geometry
    centre = (int(fx + fw / 2), int(fy + fh * 0.52))
    axes = (int(fw * (0.42 + g[0])), int(fh * (0.47 + g[1])))
    cv2.ellipse(face, centre, axes, 0, 0, 360, 1, -1)
    texture = 1 + 0.06 * _smooth_noise(rng, H, W, 2.0) + 0.05 * _smooth_noise(rng, H, W, 12.0)
    return np.where(face[..., None] > 0, tone * texture[..., None], img), tone, g


def _features(img: np.ndarray, box: Box, tone: np.ndarray, g: np.ndarray) -> None:
    """Draw brows, eyes, lids, nostrils, nasolabial lines and lips onto ``img`` in place."""
    fx, fy, fw, fh = box

    def P(x: float, y: float) -> tuple[int, int]:
        return int(fx + x * fw), int(fy + y * fh)

    def S(a: float, b: float) -> tuple[int, int]:
        return max(1, int(a * fw)), max(1, int(b * fh))

    dark = tuple(float(v) for v in tone * 0.35)
    for side in (-1, 1):
        ex, bx = 0.5 + side * (0.17 + g[2]), 0.5 + side * (0.18 + g[3])
        cv2.ellipse(img, P(bx, 0.30 + g[4]), S(0.09, 0.015), side * 8, 0, 360, dark, -1)  # brow
        cv2.ellipse(img, P(ex, 0.40), S(0.07, 0.028), 0, 0, 360, (235, 235, 230), -1)  # eye white
        cv2.circle(img, P(ex, 0.40), max(1, int(0.025 * fw)), (50, 35, 30), -1)  # iris
        lid_w = max(1, int(fh * 0.006))
        cv2.ellipse(img, P(ex, 0.385), S(0.075, 0.03), 0, 180, 360, dark, lid_w)  # lid
        cv2.ellipse(img, P(0.5 + side * 0.05, 0.62), S(0.022, 0.012), 0, 0, 360, dark, -1)
        fold = tuple(v * 1.6 for v in dark)  # nasolabial fold
        cv2.line(img, P(0.5 + side * 0.09, 0.62), P(0.5 + side * 0.16, 0.76), fold, max(1, int(fh * 0.004)))  # fmt: skip
    lip = tuple(float(v) for v in tone * np.array([0.75, 0.45, 0.45]))
    cv2.ellipse(img, P(0.5, 0.755 + g[5]), S(0.14 + g[6], 0.035), 0, 0, 360, lip, -1)
    cv2.line(img, P(0.37, 0.755 + g[5]), P(0.63, 0.755 + g[5]), dark, max(1, int(fh * 0.005)))


def render_face(
    spec: DatasetSpec, size: tuple[int, int], subject_seed: int
) -> tuple[np.ndarray, Box]:
    """A neutral face for one subject at ``size`` (H, W): float32 [H, W, 3] in 0..255, and its
    face box (px), placed where the dataset's faces sit (``spec.stats.face``)."""
    rng = np.random.default_rng(subject_seed)
    H, W = size
    x, y, w, h = spec.stats.face
    box = (x * W, y * H, w * W, h * H)
    img, tone, g = _skin(rng, size, box)
    _features(img, box, tone, g)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), max(0.6, box[3] / 400))
    return img, box


def _field(
    blobs: Sequence[tuple[float, float, float, float]], gains: Sequence[float], box: Box, shape
) -> np.ndarray:
    """Sum of Gaussian displacement blobs: float32 [H, W, 2] in pixels per unit amplitude."""
    H, W = shape
    fx, fy, fw, fh = box
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = np.zeros((H, W, 2), np.float32)
    sigma = 0.06 * fh
    for (x, y, dx, dy), g in zip(blobs, gains, strict=True):
        cx, cy = fx + x * fw, fy + y * fh
        k = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)) * (g * AMPLITUDE * fh)
        out[..., 0] += k * dx
        out[..., 1] += k * dy
    return out


def intensity_curve(T: int, apex_index: int) -> np.ndarray:
    """float32 [T]: 0 at onset, 1 at the apex, back to ~0 at offset (sin^2 rise, cos^2 decay)."""
    t = np.arange(T, dtype=np.float32)
    rise = np.sin(0.5 * np.pi * t / max(apex_index, 1)) ** 2
    decay = np.cos(0.5 * np.pi * (t - apex_index) / max(T - 1 - apex_index, 1)) ** 2
    return np.where(t <= apex_index, rise, decay).astype(np.float32)


def _motion_fields(p: ClipPlan, box: Box, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    blobs, gains = [], []
    for au, g in zip(p.aus, p.au_gain, strict=True):
        blobs += AUS[au]
        gains += [g * p.amplitude] * len(AUS[au])
    expression = _field(blobs, gains, box, size)
    return expression, _field(BLINK, [BLINK_AMPLITUDE / AMPLITUDE] * 2, box, size)


def _jitter(rng: np.random.Generator, n: int, phi: float = 0.9) -> list[list[float]]:
    """Sub-pixel head jitter: a stationary AR(1) offset (x, y) per frame, std JITTER_PX."""
    eps = rng.normal(0, JITTER_PX * np.sqrt(1 - phi**2), (n, 2))
    out = np.empty((n, 2))
    out[0] = rng.normal(0, JITTER_PX, 2)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + eps[i]
    return out.tolist()


def _frame(
    face: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray],
    fields: list[tuple[float, np.ndarray]],
    shift: list[float],
    gain: float,
) -> np.ndarray:
    """One warped frame: uint8 [H, W, 3] before sensor noise (added by the caller in place)."""
    mx, my = grid[0] - np.float32(shift[0]), grid[1] - np.float32(shift[1])
    for w, f in fields:
        if w:
            cv2.scaleAdd(f[..., 0], -w, mx, dst=mx)
            cv2.scaleAdd(f[..., 1], -w, my, dst=my)
    img = cv2.remap(face, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return cv2.multiply(img, gain)


def _weights(p: ClipPlan, curve: np.ndarray, n: int, drift: float) -> tuple[float, float, float]:
    """(expression strength, blink strength, illumination gain) at frame number ``n``;
    ``curve`` is the clip's float32 [T] intensity curve."""
    T = len(curve)
    k = n - p.onset
    s = float(curve[k]) if 0 <= k < T else 0.0
    b = 0.0
    if p.blink and p.blink[0] <= k < p.blink[0] + p.blink[1]:
        b = float(np.sin(np.pi * (k - p.blink[0]) / p.blink[1]) ** 2)
    return s, b, 1 + drift * k / T


def render_clip(
    root: Path, spec: DatasetSpec, size: tuple[int, int], p: ClipPlan, subject_seed: int
) -> int:
    """Render and write every frame of one clip (first..last) in the spec's default frame
    layout, JPEG quality 95, colour or grey as the dataset is; returns frames written."""
    rng = np.random.default_rng(p.seed)
    cv2.setRNGSeed(p.seed % 2**31)  # sensor noise via OpenCV's (seeded, per-process) RNG
    face, box = render_face(spec, size, subject_seed)
    expr, blink = _motion_fields(p, box, size)
    grid = np.meshgrid(np.arange(size[1], dtype=np.float32), np.arange(size[0], dtype=np.float32))
    walk = _jitter(rng, p.last - p.first + 1)
    drift = rng.normal(0, DRIFT)
    noise = np.empty_like(face)
    layout = spec.frame_layout()
    label_dir = spec.label_dir_names(normalise_label(p.label))[0]
    layout.clip_dir(root, p.subject, p.folder_clip, label_dir).mkdir(parents=True, exist_ok=True)
    to_disk = cv2.COLOR_RGB2BGR if spec.colour else cv2.COLOR_RGB2GRAY
    curve = intensity_curve(p.offset - p.onset + 1, p.apex - p.onset)
    for j, n in enumerate(range(p.first, p.last + 1)):
        s, b, gain = _weights(p, curve, n, drift)
        img = _frame(face, grid, [(s, expr), (b, blink)], walk[j], gain)
        cv2.randn(noise, 0.0, NOISE_SIGMA)
        img = cv2.cvtColor((img + noise).clip(0, 255).astype(np.uint8), to_disk)
        if n in p.skip:  # a planted gap: rendered (same noise stream) but not written
            continue
        path = layout.frame_path(root, p.subject, p.folder_clip, n, p.pad, label_dir)
        cv2.imwrite(str(path), img, JPEG if path.suffix == ".jpg" else [])
    return len(walk)
