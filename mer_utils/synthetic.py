"""Synthetic micro-expression datasets written in the official CASME-II and SAMM layouts.

``make_synthetic(root, like="casme2"|"samm", seed=0, scale=1.0)`` writes frame folders and the
annotation spreadsheet exactly as the real distributions lay them out (``shared/datasets.md``),
so the real loaders read them unchanged. Statistics (subjects, class counts, clip lengths, apex
positions) follow the real datasets; a few degenerate apexes are planted on purpose.

Motion model: each class is a set of action-unit-like local displacement fields (brows, lids,
nose, lip corners, lips, chin) of a few pixels at the apex, scaled over time by a curve that
rises from onset to apex and decays to offset. Subjects differ in face geometry and texture;
nuisances are sub-pixel head jitter, sensor noise, illumination drift, blinks, and an "others"
class of random AUs. The class is in the motion only: the onset frame is a neutral face.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import openpyxl

from mer_utils.claims import dead_writers_leftovers, die_with_parent, exclusive, private_name
from mer_utils.console import progress_bar

log = logging.getLogger(__name__)
GENERATOR_VERSION = 2

# Calibrated once on the CASME-II-like baseline (LEARNet, full DIs, subject folds); see README.
AMPLITUDE = 0.012  # apex displacement, as a fraction of the face height
NOISE_SIGMA = 2.0  # sensor noise, grey levels
JITTER_PX = 0.25  # head jitter: stationary std in pixels (AR(1), correlation 0.9 per frame)
DRIFT = 0.02  # std of the illumination gain change over a clip
BLINK_PROB = 0.3

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
BLINK = [(0.33, 0.385, 0, 2.5), (0.67, 0.385, 0, 2.5)]
# Per class: alternatives of AU sets (one is drawn per clip). "others": random AUs.
CLASS_AUS: dict[str, list[list[str]]] = {
    "happiness": [["6", "12"], ["12"], ["6", "12", "26"]],
    "disgust": [["9", "4"], ["9", "10"], ["4", "9", "10"]],
    "surprise": [["1", "2"], ["1", "2", "5"], ["1", "2", "26"]],
    "repression": [["14", "17"], ["15", "17"], ["14"]],
    "anger": [["4", "7"], ["4", "7", "23"], ["4"]],
    "contempt": [["R12"], ["R14"], ["R12", "R14"]],
    "sadness": [["1", "4", "15"]],
    "fear": [["1", "2", "4"]],
}
OTHERS_POOL = ["1", "4", "7", "10", "14", "15", "17", "23"]


@dataclass(frozen=True)
class Layout:
    """What a synthetic copy of one dataset looks like."""

    like: str
    subjects: tuple[str, ...]
    counts: dict[str, int]  # spreadsheet label -> clips
    length: tuple[int, int, int]  # min, max, median clip length (frames)
    size: tuple[int, int]  # frame height, width
    colour: bool
    face: tuple[float, float, float, float]  # face box in frame units: x, y, w, h


LAYOUTS = {
    "casme2": Layout(
        "casme2",
        tuple(f"{i:02d}" for i in range(1, 27)),
        {
            "others": 99,
            "disgust": 63,
            "happiness": 32,
            "surprise": 25,
            "repression": 27,
            "sadness": 7,
            "fear": 2,
        },
        (24, 141, 61),
        (340, 280),
        True,
        (0.04, 0.03, 0.92, 0.94),
    ),
    "samm": Layout(
        "samm",
        tuple(f"{i:03d}" for i in range(6, 38) if i not in (8, 27, 29)),
        {
            "Anger": 57,
            "Other": 26,
            "Happiness": 26,
            "Surprise": 15,
            "Contempt": 12,
            "Disgust": 9,
            "Fear": 8,
            "Sadness": 6,
        },
        (30, 101, 78),
        (650, 960),
        False,
        (0.30, 0.06, 0.40, 0.88),
    ),
}


@dataclass(frozen=True)
class ClipPlan:
    """Everything needed to render and annotate one clip."""

    index: int
    subject: str
    clip: str
    label: str
    aus: tuple[str, ...]
    au_gain: tuple[float, ...]
    amplitude: float
    onset: int
    apex: int  # the true apex, used for rendering
    offset: int
    apex_cell: object  # what the spreadsheet says (may be a planted quirk)
    first: int  # first frame number written to the folder
    last: int
    pad: int  # zero-padding width of SAMM frame numbers
    blink: tuple[int, int] | None  # blink start, length (frames from onset), or None
    seed: int


def _lengths(rng: np.random.Generator, n: int, lo: int, hi: int, median: int) -> np.ndarray:
    """Clip lengths with the given range (both ends present when n >= 2) and median."""
    x = np.clip(np.round(median * np.exp(rng.normal(0, 0.3, n))), lo, hi).astype(int)
    if n >= 2:
        x[rng.choice(n, 2, replace=False)] = (lo, hi)
    return x


def _draw_aus(rng: np.random.Generator, label: str) -> list[str]:
    if label.lower() in ("other", "others"):
        return list(rng.choice(OTHERS_POOL, size=rng.integers(1, 3), replace=False))
    options = CLASS_AUS[label.lower()]
    return list(options[rng.integers(len(options))])


def _clip_names(rng: np.random.Generator, layout: Layout, subject: str, k: int) -> list[str]:
    names: set[str] = set()
    while len(names) < k:
        if layout.like == "casme2":
            names.add(
                f"EP{rng.integers(1, 20):02d}_{rng.integers(1, 8):02d}{'f' if rng.random() < 0.4 else ''}"
            )
        else:
            names.add(f"{subject}_{rng.integers(1, 8)}_{rng.integers(1, 6)}")
    return sorted(names)


def plan_clips(layout: Layout, seed: int, scale: float) -> list[ClipPlan]:
    """Deterministic plan of every clip (labels, subjects, frames, planted quirks)."""
    rng = np.random.default_rng(seed)
    labels = [lab for lab, n in layout.counts.items() for _ in range(max(1, round(n * scale)))]
    rng.shuffle(labels)
    n_sub = min(len(layout.subjects), max(4, round(len(layout.subjects) * scale)), len(labels))
    subjects = list(layout.subjects[:n_sub])
    owner = np.concatenate([np.arange(n_sub), rng.integers(0, n_sub, len(labels) - n_sub)])
    lengths = _lengths(rng, len(labels), *layout.length)
    names = {
        s: iter(_clip_names(rng, layout, s, int((owner == i).sum())))
        for i, s in enumerate(subjects)
    }
    plans = []
    for i, (lab, who, T) in enumerate(zip(labels, owner, lengths, strict=True)):
        plans.append(
            _plan_one(rng, layout, i, subjects[who], next(names[subjects[who]]), lab, int(T), seed)
        )
    return _plant_quirks(plans, layout.like)


def _plan_one(
    rng, layout: Layout, i: int, subject: str, clip: str, label: str, T: int, seed: int
) -> ClipPlan:
    onset = int(rng.integers(1, 300) if layout.like == "casme2" else rng.integers(100, 9000))
    apex = onset + int(round(rng.uniform(0.30, 0.45) * (T - 1)))
    offset = onset + T - 1
    extra = (3, 3) if layout.like == "samm" else ((2, 2) if rng.random() < 0.2 else (0, 0))
    aus = _draw_aus(rng, label)
    blink = None
    if rng.random() < BLINK_PROB:
        bl = int(rng.integers(20, 50))
        blink = (int(rng.integers(-bl // 2, T - bl // 2)), bl)
    return ClipPlan(
        i,
        subject,
        clip,
        label,
        tuple(aus),
        tuple(float(g) for g in rng.uniform(0.6, 1.2, len(aus))),
        float(np.exp(rng.normal(0, 0.35))),
        onset,
        apex,
        offset,
        apex,
        onset - extra[0],
        offset + extra[1],
        int(rng.choice([4, 5])),
        blink,
        int(np.random.SeedSequence([seed, i]).generate_state(1)[0]),
    )


def _plant_quirks(plans: list[ClipPlan], like: str) -> list[ClipPlan]:
    """Corrupt a few apex cells on purpose, as in the real spreadsheets (datasets.md)."""
    five = {
        "casme2": ("others", "disgust", "happiness", "surprise", "repression"),
        "samm": ("Anger", "Other", "Happiness", "Surprise", "Contempt"),
    }[like]
    idx = [p.index for p in plans if p.label in five]
    if like == "casme2":
        quirks = [
            lambda p: replace(p, apex_cell="/"),
            lambda p: replace(p, apex_cell=-1),
            lambda p: replace(p, apex_cell=p.onset),
            lambda p: replace(p, apex_cell=p.offset),
        ]
    else:
        quirks = [
            lambda p: replace(p, apex_cell=p.offset + 9),
            lambda p: replace(p, apex_cell=p.onset - 2966),
            lambda p: replace(p, apex=p.onset + 1, apex_cell=p.onset + 1),
        ]
    for q, i in zip(quirks, idx, strict=False):
        plans[i] = q(plans[i])
    return plans


# ---------------------------------------------------------------- rendering


def _smooth_noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    n = rng.standard_normal((h, w)).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigma)
    return n / (n.std() + 1e-6)


def render_face(layout: Layout, subject_seed: int) -> tuple[np.ndarray, tuple[float, ...]]:
    """A neutral face for one subject: float32 [H, W, 3] in 0..255, and its face box (px)."""
    rng = np.random.default_rng(subject_seed)
    H, W = layout.size
    fx, fy, fw, fh = (
        layout.face[0] * W,
        layout.face[1] * H,
        layout.face[2] * W,
        layout.face[3] * H,
    )
    tone = rng.uniform(150, 215) * np.array([1.0, rng.uniform(0.78, 0.9), rng.uniform(0.62, 0.8)])
    img = np.empty((H, W, 3), np.float32)
    img[:] = rng.uniform(40, 110) + 15 * _smooth_noise(rng, H, W, W / 8)[..., None]
    face = np.zeros((H, W), np.uint8)
    g = rng.uniform(-0.02, 0.02, 8)  # subject geometry
    cv2.ellipse(
        face,
        (int(fx + fw / 2), int(fy + fh * 0.52)),
        (int(fw * (0.42 + g[0])), int(fh * (0.47 + g[1]))),
        0,
        0,
        360,
        1,
        -1,
    )
    texture = 1 + 0.06 * _smooth_noise(rng, H, W, 2.0) + 0.05 * _smooth_noise(rng, H, W, 12.0)
    img = np.where(face[..., None] > 0, tone * texture[..., None], img)

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
        cv2.ellipse(
            img, P(ex, 0.385), S(0.075, 0.03), 0, 180, 360, dark, max(1, int(fh * 0.006))
        )  # lid
        cv2.ellipse(
            img, P(0.5 + side * 0.05, 0.62), S(0.022, 0.012), 0, 0, 360, dark, -1
        )  # nostril
        cv2.line(
            img,
            P(0.5 + side * 0.09, 0.62),
            P(0.5 + side * 0.16, 0.76),
            tuple(v * 1.6 for v in dark),
            max(1, int(fh * 0.004)),
        )
    lip = tuple(float(v) for v in tone * np.array([0.75, 0.45, 0.45]))
    cv2.ellipse(img, P(0.5, 0.755 + g[5]), S(0.14 + g[6], 0.035), 0, 0, 360, lip, -1)
    cv2.line(img, P(0.37, 0.755 + g[5]), P(0.63, 0.755 + g[5]), dark, max(1, int(fh * 0.005)))
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), max(0.6, fh / 400))
    return img, (fx, fy, fw, fh)


def _field(
    blobs: Sequence[tuple[float, float, float, float]], gains: Sequence[float], box, shape
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


def _frame_path(root: Path, layout: Layout, p: ClipPlan, n: int) -> Path:
    if layout.like == "casme2":
        return root / "Cropped" / f"sub{p.subject}" / p.clip / f"reg_img{n}.jpg"
    return root / "SAMM" / p.subject / p.clip / f"{p.subject}_{n:0{p.pad}d}.jpg"


def _motion_fields(layout: Layout, p: ClipPlan, box) -> tuple[np.ndarray, np.ndarray]:
    blobs, gains = [], []
    for au, g in zip(p.aus, p.au_gain, strict=True):
        blobs += AUS[au]
        gains += [g * p.amplitude] * len(AUS[au])
    return _field(blobs, gains, box, layout.size), _field(BLINK, [1.0, 1.0], box, layout.size)


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


def render_clip(root: Path, layout: Layout, p: ClipPlan, subject_seed: int) -> int:
    """Render and write every frame of one clip (first..last); returns frames written."""
    rng = np.random.default_rng(p.seed)
    cv2.setRNGSeed(p.seed % 2**31)  # sensor noise via OpenCV's (seeded, per-process) RNG
    face, box = render_face(layout, subject_seed)
    expr, blink = _motion_fields(layout, p, box)
    H, W = layout.size
    grid = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    T = p.offset - p.onset + 1
    curve = intensity_curve(T, p.apex - p.onset)
    walk = _jitter(rng, p.last - p.first + 1)
    drift = rng.normal(0, DRIFT)
    noise = np.empty_like(face)
    folder = _frame_path(root, layout, p, p.first).parent
    folder.mkdir(parents=True, exist_ok=True)
    for j, n in enumerate(range(p.first, p.last + 1)):
        k = n - p.onset
        s = float(curve[k]) if 0 <= k < T else 0.0
        b = 0.0
        if p.blink and p.blink[0] <= k < p.blink[0] + p.blink[1]:
            b = float(np.sin(np.pi * (k - p.blink[0]) / p.blink[1]) ** 2)
        img = _frame(face, grid, [(s, expr), (b, blink)], walk[j], 1 + drift * k / T)
        cv2.randn(noise, 0.0, NOISE_SIGMA)
        img = (img + noise).clip(0, 255).astype(np.uint8)
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR if layout.colour else cv2.COLOR_RGB2GRAY)
        cv2.imwrite(str(_frame_path(root, layout, p, n)), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return len(walk)


def write_casme2_sheet(path: Path, plans: Sequence[ClipPlan]) -> None:
    """``Sheet1``, header row 1 with two blank columns, numeric Subject cells."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(
        [
            "Subject",
            "Filename",
            None,
            "OnsetFrame",
            "ApexFrame",
            "OffsetFrame",
            None,
            "Action Units",
            "Estimated Emotion",
            "Objective Classes",
        ]
    )
    for p in sorted(plans, key=lambda p: (p.subject, p.clip)):
        ws.append(
            [
                int(p.subject),
                p.clip,
                None,
                p.onset,
                p.apex_cell,
                p.offset,
                None,
                "+".join(p.aus),
                p.label,
                1 + p.index % 7,
            ]
        )
    wb.save(path)


def write_samm_sheet(path: Path, plans: Sequence[ClipPlan]) -> None:
    """``MICRO_ONLY``: 13 preamble rows, header in Excel row 14, text Subject cells."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "MICRO_ONLY"
    preamble = [
        "SAMM micro-movement FACS codes (synthetic copy written by mer_utils.synthetic)",
        None,
        "Frames are 200 fps greyscale.",
        None,
        "Columns:",
        "Subject: participant id",
        "Filename: clip folder",
        "Onset/Apex/Offset Frame: frame numbers",
        None,
        "Estimated Emotion: from the participant's self-report",
        None,
        None,
        None,
    ]
    for line in preamble:
        ws.append([line])
    ws.append(
        [
            "Subject",
            "Filename",
            "Inducement Code",
            "Onset Frame",
            "Apex Frame",
            "Offset Frame",
            "Duration",
            "Micro",
            "Action Units",
            "Estimated Emotion",
            "Objective Classes",
            "Notes",
        ]
    )
    for p in sorted(plans, key=lambda p: (p.subject, p.clip)):
        ws.append(
            [
                p.subject,
                p.clip,
                int(p.clip.split("_")[1]),
                p.onset,
                p.apex_cell,
                p.offset,
                p.offset - p.onset + 1,
                "Micro - 1/2",
                "+".join(p.aus),
                p.label,
                1 + p.index % 7,
                None,
            ]
        )
    wb.save(path)


@dataclass(frozen=True)
class _Params:
    like: str
    seed: int
    scale: float
    size: tuple[int, int]
    version: int = GENERATOR_VERSION


def make_synthetic(
    root: str | Path,
    like: str = "casme2",
    seed: int = 0,
    scale: float = 1.0,
    size: tuple[int, int] | None = None,
    workers: int | None = None,
) -> Path:
    """Write a synthetic dataset in the official layout of ``like`` under ``root``.

    Args:
        root: dataset root to create (for casme2: ``Cropped/`` + ``CASME2-coding-20190701.xlsx``;
            for samm: ``SAMM/`` + ``SAMM_Micro_FACS_Codes_v2.xlsx``).
        like: ``"casme2"`` or ``"samm"``.
        seed: everything is a deterministic function of it.
        scale: fraction of the real clip counts (at least one clip per class).
        size: frame (height, width); default the real datasets' (340x280 crops, 960x650 SAMM).
        workers: processes (default: all cores).

    A rerun with the same parameters finds ``SYNTHETIC.json`` and returns at once.
    """
    if like not in LAYOUTS:
        raise ValueError(f"make_synthetic: like must be one of {sorted(LAYOUTS)}, got {like!r}")
    layout = LAYOUTS[like]
    if size is not None:
        layout = Layout(**{**asdict(layout), "size": tuple(size)})
    root = Path(root)
    params = json.loads(json.dumps(asdict(_Params(like, seed, float(scale), tuple(layout.size)))))
    with exclusive(root.with_name(root.name + ".claim"), f"synthetic data {root.name}"):
        if _complete(root, params):
            log.info("synthetic %s already at %s", like, root)
            return root
        for leftover in dead_writers_leftovers(root):  # generations that were killed
            shutil.rmtree(leftover, ignore_errors=True)
        tmp = private_name(root)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _generate(tmp, layout, like, seed, scale, workers)
        (tmp / "SYNTHETIC.json").write_text(json.dumps(params, indent=1))
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)  # published whole: a killed generation never leaves a half dataset
    return root


def _complete(root: Path, params: dict) -> bool:
    marker = root / "SYNTHETIC.json"
    try:
        return json.loads(marker.read_text()) == params
    except (OSError, ValueError):
        return False


def _generate(root: Path, layout: Layout, like: str, seed: int, scale: float, workers) -> None:
    """Render every clip (worker processes that die with this one) and write the sheet."""
    plans = plan_clips(layout, seed, scale)
    subject_seeds = {
        s: int(np.random.SeedSequence([seed, 10_000, int(s)]).generate_state(1)[0])
        for s in layout.subjects
    }
    with ProcessPoolExecutor(workers, initializer=die_with_parent) as pool:
        jobs = [pool.submit(render_clip, root, layout, p, subject_seeds[p.subject]) for p in plans]
        for j in progress_bar(jobs, desc=f"synthetic {like}", unit="clip"):
            j.result()
    if like == "casme2":
        write_casme2_sheet(root / "CASME2-coding-20190701.xlsx", plans)
    else:
        write_samm_sheet(root / "SAMM_Micro_FACS_Codes_v2.xlsx", plans)
