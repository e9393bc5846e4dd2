"""Optical flow of a clip's key frames: the field's input, beside the paper's dynamic images.

Per clip two flows, each float32 [3, S, S] holding (u, v, optical strain):

* ``onset``: onset frame -> apex frame, what STSTNet, OFF-ApexNet, RCN and HTNet are fed;
* ``offset``: the apex->offset phase. By default *reversed* (offset frame -> apex frame), the
  flow twin of the paper's DI-Offset, whose reversed weights make it read neutral -> expression
  like DI-Onset: the offset flow then points the same way as the onset flow and can serve as an
  extra training sample of the same class (the phase-aware augmentation).
  ``offset_direction="forward"`` gives apex -> offset (the dual-phase input of FMANet and
  SKD-TSTSAN), close to the *negated* onset flow.

Choices (each measured by ``tests/test_flow.py`` or ``benchmarks/bench_flow.py``):

* **Where the flow is computed.** On grey frames (``cv2.COLOR_RGB2GRAY``) at their native size
  (the face crop, as the DIs are); each map is then area-resized to S x S and u, v are multiplied
  by S / W and S / H, so they are in pixels of the S x S grid. Computing the flow on 28 x 28
  frames instead would have to see a 1-px movement of a 340-px face as 0.08 px.
* **Sign** (OpenCV's): ``prev(y, x) ~ next(y + v, x + u)``; content moving right gives u > 0,
  moving down v > 0.
* **Optical strain**: the magnitude of the infinitesimal strain tensor e = (J + J^T) / 2 of the
  flow's Jacobian J, ``sqrt(e_xx^2 + e_yy^2 + e_xy^2 + e_yx^2) = sqrt(u_x^2 + v_y^2 +
  (u_y + v_x)^2 / 2)`` (Shreve et al.; Liong et al.'s Bi-WOOF, STSTNet, OFF-ApexNet), with central
  differences (``np.gradient``) at native size, where it is dimensionless, then area-resized.
* **Face-region normalisation**: motion is measured relative to the face crop, so the uint8
  encoding stores u, v as a fraction of the crop's side: one scale for a 340 x 280 CASME-II crop
  and a 960 x 650 SAMM frame, and the same codes at any S. Optionally (``global_motion="median"``)
  the median flow of the crop, a rigid head translation, is subtracted first. The field's usual
  per-image min-max scaling is not used: it discards the magnitude, and 0 no longer maps to one
  value.
* **uint8 encoding** (:func:`encode_flow`, exact inverse :func:`decode_flow`): u and v map to
  ``128 + round(127 * (u / S) / max_motion)`` clipped to 1..255, so +k and -k px are symmetric
  about 128 and a flip is ``256 - code``; one code is ``max_motion / 127`` of the face side
  (default 0.05 / 127 = 0.039 %: 0.13 px of a 340-px face, 0.011 px at S = 28). Strain maps to
  ``round(255 * strain / max_strain)`` clipped to 0..255 (one code = max_strain / 255).

Measured on a synthetic CASME-II copy (``python benchmarks/bench_flow.py``, 24 clips, 28 px):
|u|, |v| reach 1 % of the face side at the 99th percentile (2.8 % at most), so no u / v code is
clipped; strain's 99th percentile is 0.19-0.24 and 0.3-0.8 % of strain codes clip at 0.25.
Farneback, the default, agrees best with TV-L1 (median correlation of the onset maps 0.84 on 4
clips, DIS 0.77) and its reversed offset flow correlates +0.95 with the onset flow (DIS +0.56;
forward: -0.95). Farneback and DIS build a flow store in 0.6x and 0.4x the DI store's time per
clip; TV-L1 takes about 30-40x, so it is opt-in.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Literal

import cv2
import numpy as np

from mer_utils.datasets import Sample
from mer_utils.frames import Box, read_clip
from mer_utils.representations import FLOW_ALGORITHMS, FLOW_ZERO, REPRESENTATIONS

log = logging.getLogger(__name__)

Algorithm = Literal["farneback", "dis", "tvl1"]
ALGORITHMS: tuple[str, ...] = FLOW_ALGORITHMS
DISPLAY = {"farneback": "Farneback", "dis": "DIS", "tvl1": "TV-L1"}  # names in tables, figures
FLOW_VERSION = 1  # bump when the maps change for the same parameters (part of the cache key)
ZERO = FLOW_ZERO  # code of zero motion in the u and v channels
CONTRIB_PACKAGE = "opencv-contrib-python-headless>=4.14,<5"
#: Normalisation of flow codes for every model (after multiplying by 1/255, as ModelSpec's
#: ``scale``): u, v -> -1..1 at -+max_motion (0 = no motion), strain -> 0..1 at max_strain.
#: (the ``flow`` representation's, :mod:`mer_utils.representations`; training applies them)
FLOW_MEAN = REPRESENTATIONS["flow"].mean
FLOW_STD = REPRESENTATIONS["flow"].std


@dataclass(frozen=True)
class FarnebackParams:
    """``cv2.calcOpticalFlowFarneback``'s parameters (OpenCV's sample values)."""

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2


@dataclass(frozen=True)
class DisParams:
    """``cv2.DISOpticalFlow`` preset (Kroeger et al.'s dense inverse search)."""

    preset: Literal["ultrafast", "fast", "medium"] = "medium"


@dataclass(frozen=True)
class TVL1Params:
    """``cv2.optflow.DualTVL1OpticalFlow`` parameters (OpenCV's defaults, the field's usual)."""

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5


@dataclass(frozen=True)
class FlowParams:
    """Everything that determines a clip's flow maps and their uint8 codes.

    Attributes:
        algorithm: ``farneback`` (default) | ``dis`` (OpenCV core) | ``tvl1`` (contrib,
            ``cv2.optflow``; opt-in: about 35x the DI store's build time, see
            ``benchmarks/bench_flow.py``).
        size: side S of the square maps (STSTNet and OFF-ApexNet: 28).
        max_motion: |u|, |v| as a fraction of the face side that maps to code 1 / 255.
        max_strain: strain that maps to code 255.
        offset_direction: ``reversed`` (offset -> apex, the DI-Offset twin) or ``forward``
            (apex -> offset).
        global_motion: ``keep``, or ``median`` to subtract the crop's median flow.
    """

    algorithm: Algorithm = "farneback"
    size: int = 28
    max_motion: float = 0.05
    max_strain: float = 0.25
    offset_direction: Literal["reversed", "forward"] = "reversed"
    global_motion: Literal["keep", "median"] = "keep"
    farneback: FarnebackParams = field(default_factory=FarnebackParams)
    dis: DisParams = field(default_factory=DisParams)
    tvl1: TVL1Params = field(default_factory=TVL1Params)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"flow algorithm {self.algorithm!r}: use one of {ALGORITHMS}")
        if self.size < 2 or not (self.max_motion > 0 and self.max_strain > 0):
            raise ValueError(
                f"FlowParams: size must be >= 2 and max_motion, max_strain > 0, got "
                f"size={self.size}, max_motion={self.max_motion}, max_strain={self.max_strain}"
            )
        if self.offset_direction not in ("reversed", "forward"):
            raise ValueError(f"offset_direction {self.offset_direction!r}: reversed | forward")
        if self.global_motion not in ("keep", "median"):
            raise ValueError(f"global_motion {self.global_motion!r}: keep | median")

    def key(self) -> dict:
        """What a flow store's cache key must hash: the chosen algorithm's parameters only, the
        maps' and encoding's parameters, :data:`FLOW_VERSION` and OpenCV's version (flows of
        the same pair differ by up to 0.09 px between OpenCV 4.14 and 5.0)."""
        d = asdict(self)
        for name in ("farneback", "dis", "tvl1"):
            if name != self.algorithm:
                del d[name]
        return dict(d, flow_version=FLOW_VERSION, opencv=cv2.__version__)

    def motion_step(self, size: int | None = None) -> float:
        """Pixels of the S x S grid per u / v code (S = ``size`` or :attr:`size`)."""
        return self.max_motion * (size or self.size) / (ZERO - 1)

    @property
    def strain_step(self) -> float:
        """Strain per code."""
        return self.max_strain / 255.0


def require_algorithm(algorithm: str) -> None:
    """Raise one clear ImportError when ``algorithm`` needs OpenCV's contrib modules and this
    OpenCV lacks them (call it before any work, e.g. in a preflight)."""
    if algorithm == "tvl1" and not hasattr(
        getattr(cv2, "optflow", None), "DualTVL1OpticalFlow_create"
    ):
        raise ImportError(
            f"TV-L1 optical flow needs OpenCV's contrib modules (cv2.optflow), missing from "
            f"OpenCV {cv2.__version__} at {cv2.__file__}: pip uninstall -y opencv-python-headless "
            f"&& pip install '{CONTRIB_PACKAGE}', or use flow algorithm farneback or dis"
        )


def optical_flow(prev: np.ndarray, nxt: np.ndarray, params: FlowParams) -> np.ndarray:
    """Dense flow from ``prev`` to ``nxt``.

    Args:
        prev, nxt: uint8 [H, W] grey frames of one size.
        params: the algorithm and its parameters.

    Returns:
        float32 [H, W, 2] (u, v) in pixels: ``prev(y, x) ~ nxt(y + v, x + u)``.
    """
    if prev.shape != nxt.shape or prev.ndim != 2 or prev.dtype != np.uint8:
        raise ValueError(
            f"optical_flow: needs two uint8 [H, W] frames of one size, got {prev.dtype} "
            f"{prev.shape} and {nxt.dtype} {nxt.shape}"
        )
    prev, nxt = np.ascontiguousarray(prev), np.ascontiguousarray(nxt)  # DIS needs contiguous
    if params.algorithm == "farneback":
        f = params.farneback
        return cv2.calcOpticalFlowFarneback(
            prev, nxt, None, f.pyr_scale, f.levels, f.winsize, f.iterations, f.poly_n,
            f.poly_sigma, 0,
        )  # fmt: skip
    if params.algorithm == "dis":
        preset = getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{params.dis.preset.upper()}")
        return cv2.DISOpticalFlow_create(preset).calc(prev, nxt, None)
    require_algorithm("tvl1")
    t = params.tvl1
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(
        t.tau, t.lambda_, t.theta, t.nscales, t.warps, t.epsilon, t.inner_iterations,
        t.outer_iterations, t.scale_step, t.gamma, t.median_filtering,
    )  # fmt: skip
    return tvl1.calc(prev, nxt, None)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Magnitude of the infinitesimal strain tensor of a flow field.

    Args:
        flow: float [H, W, 2] (u, v) in pixels.

    Returns:
        float32 [H, W], dimensionless: ``sqrt(u_x^2 + v_y^2 + (u_y + v_x)^2 / 2)`` with central
        differences (one-sided at the border). 0 for any translation; ``|s|`` for a uniform
        stretch ``u = s x``; ``sqrt(2) |s|`` for an isotropic one.
    """
    u, v = flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32)
    u_y, u_x = np.gradient(u)
    v_y, v_x = np.gradient(v)
    return np.sqrt(u_x**2 + v_y**2 + 0.5 * (u_y + v_x) ** 2).astype(np.float32)


def flow_maps(flow: np.ndarray, size: int, global_motion: str = "keep") -> np.ndarray:
    """The (u, v, strain) maps of a native flow at S x S.

    Args:
        flow: float32 [H, W, 2] native flow in pixels.
        size: S.
        global_motion: ``median`` subtracts the median u and v first (strain is unchanged).

    Returns:
        float32 [3, S, S]: u, v in pixels of the S x S grid (times S / W, S / H), strain.
    """
    h, w = flow.shape[:2]
    if global_motion == "median":
        flow = flow - np.median(flow.reshape(-1, 2), axis=0).astype(np.float32)
    strain = optical_strain(flow)
    out = np.empty((3, size, size), np.float32)
    for c, (img, k) in enumerate(((flow[..., 0], size / w), (flow[..., 1], size / h))):
        out[c] = (
            cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=cv2.INTER_AREA) * k
        )
    out[2] = cv2.resize(strain, (size, size), interpolation=cv2.INTER_AREA)
    return out


def grey(frame: np.ndarray) -> np.ndarray:
    """uint8 [H, W] luma of an RGB uint8 [H, W, 3] frame (a [H, W] frame is returned as is)."""
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


@dataclass(frozen=True)
class ClipFlows:
    """The two flows of one clip as float32 [3, S, S] (u, v, strain); a flow is ``None`` when
    its phase has a single frame, and the matching note says why ("" when present)."""

    onset: np.ndarray | None
    offset: np.ndarray | None
    onset_note: str = ""
    offset_note: str = ""


def clip_flows(
    frames: np.ndarray, onset_idx: int, apex_idx: int, offset_idx: int, params: FlowParams
) -> ClipFlows:
    """Onset -> apex and (reversed or forward) apex -> offset flow maps of one clip.

    Args:
        frames: uint8 [T, H, W, 3] RGB (or [T, H, W] grey) at native size (face-cropped).
        onset_idx, apex_idx, offset_idx: indices into ``frames``, onset <= apex <= offset.
        params: algorithm, size and encoding parameters.

    Returns:
        :class:`ClipFlows` with float32 [3, S, S] maps (see :func:`flow_maps`).
    """
    if not 0 <= onset_idx <= apex_idx <= offset_idx < len(frames):
        raise ValueError(
            f"clip_flows: need 0 <= onset {onset_idx} <= apex {apex_idx} <= offset "
            f"{offset_idx} < {len(frames)} frames"
        )
    require_algorithm(params.algorithm)
    g = {i: grey(frames[i]) for i in {onset_idx, apex_idx, offset_idx}}

    def maps(a: int, b: int) -> np.ndarray:
        return flow_maps(optical_flow(g[a], g[b], params), params.size, params.global_motion)

    on = maps(onset_idx, apex_idx) if apex_idx > onset_idx else None
    off = None
    if offset_idx > apex_idx:
        reverse = params.offset_direction == "reversed"
        off = maps(offset_idx, apex_idx) if reverse else maps(apex_idx, offset_idx)
    return ClipFlows(
        on,
        off,
        "" if on is not None else "onset phase has 1 frame (apex == onset): no onset flow",
        "" if off is not None else "offset phase has 1 frame (apex == offset): no offset flow",
    )


def sample_flows(s: Sample, params: FlowParams, box: Box | None = None) -> ClipFlows:
    """:func:`clip_flows` of an annotated clip, decoding only its onset, apex and offset frames
    (what a flow store needs per clip: 3 JPEGs, not the whole clip).

    Args:
        s: the clip (``s.frames`` are onset..offset).
        params: flow parameters.
        box: face box (x, y, w, h) applied to every frame, as the DI store does; None = whole.
    """
    a, last = s.apex - s.onset, len(s.frames) - 1
    keys = sorted({0, a, last})
    frames = read_clip([s.frames[i] for i in keys], box=box)
    return clip_flows(frames, keys.index(0), keys.index(a), keys.index(last), params)


def encode_flow(maps: np.ndarray, params: FlowParams) -> np.ndarray:
    """uint8 codes of flow maps (module docstring: the encoding and its resolution).

    Args:
        maps: float [..., 3, S, S] (u, v in px of the S x S grid, strain).
        params: ``max_motion`` and ``max_strain``.

    Returns:
        uint8 [..., 3, S, S]: u, v in 1..255 (128 = no motion), strain in 0..255.
    """
    step = params.motion_step(maps.shape[-1])
    out = np.empty(maps.shape, np.uint8)
    out[..., :2, :, :] = np.clip(np.rint(maps[..., :2, :, :] / step) + ZERO, 1, 255)
    out[..., 2, :, :] = np.clip(np.rint(maps[..., 2, :, :] / params.strain_step), 0, 255)
    return out


def decode_flow(codes: np.ndarray, params: FlowParams) -> np.ndarray:
    """The exact inverse of :func:`encode_flow` on its codes: uint8 [..., 3, S, S] -> float32
    maps; ``encode_flow(decode_flow(c)) == c`` for every valid code, and decoding an encoded map
    is within half a code of it where it was not clipped."""
    step = params.motion_step(codes.shape[-1])
    out = codes.astype(np.float32)
    out[..., :2, :, :] = (out[..., :2, :, :] - ZERO) * step
    out[..., 2, :, :] *= params.strain_step
    return out


def flip_flow(x: np.ndarray) -> np.ndarray:
    """Horizontal mirror of flow maps: the flow of the mirrored frames.

    Mirroring the frames mirrors the maps and negates u; v and strain only move. Works on float
    maps (u -> -u) and on uint8 codes (u -> 256 - code, exact: codes are symmetric about 128).

    Args:
        x: float or uint8 [..., 3, S, S].

    Returns:
        a new array of the same shape and dtype.
    """
    out = np.ascontiguousarray(x[..., ::-1])
    if out.dtype == np.uint8:
        out[..., 0, :, :] = 2 * ZERO - out[..., 0, :, :].astype(np.int16)
    else:
        out[..., 0, :, :] = -out[..., 0, :, :]
    return out


def flow_to_rgb(u: np.ndarray, v: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """The usual colour-wheel image of a flow: hue = direction, value = magnitude.

    Args:
        u, v: float [H, W] flow components (any unit).
        max_magnitude: magnitude shown at full brightness (default: the image's 99th
            percentile; larger ones saturate).

    Returns:
        uint8 [H, W, 3] RGB. Right is red, down is yellow-green, left cyan, up violet
        (hue = angle of (u, v) with y pointing down, as in the image).
    """
    mag = np.hypot(u, v).astype(np.float32)
    top = float(max_magnitude or np.percentile(mag, 99) or 1.0)
    ang = (np.degrees(np.arctan2(v, u)) % 360.0).astype(np.float32)
    hsv = np.stack([ang / 2.0, np.full_like(mag, 255.0), np.clip(mag / top, 0, 1) * 255.0], -1)
    return cv2.cvtColor(np.rint(hsv).astype(np.uint8), cv2.COLOR_HSV2RGB)
