"""Optical flow (mer_utils.flow), its flow-aware Flip/Rotate and the flow models.

Frames are a seeded smooth random texture warped by known affine maps, so every expected flow
and strain is analytic. Tolerances: a translation's median flow within 0.1 px + 5 % of it (all
three algorithms land within 0.08 px here; DIS overshoots a 0.4-px shift most); strain within
15 % of the analytic value.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from mer_utils import flow as fl
from mer_utils.flow import (
    FlowParams,
    clip_flows,
    decode_flow,
    encode_flow,
    flip_flow,
    flow_maps,
    flow_to_rgb,
    optical_flow,
    optical_strain,
)
from mer_utils.flow_augment import flip_rotate_flow, transform_flow
from mer_utils.offapexnet import OffApexNet
from mer_utils.ststnet import STSTNet

H, W = 120, 100  # native frame size (portrait, like CASME-II's 340 x 280 crops)


def texture(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    """uint8 [h, w]: Gaussian-blurred (sigma 2 px) uniform noise stretched to 0..255."""
    rng = np.random.default_rng(seed)
    n = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.0)
    return np.rint((n - n.min()) / (n.max() - n.min()) * 255).astype(np.uint8)


def warp(img: np.ndarray, m: list[list[float]]) -> np.ndarray:
    """``out(x) = img(M^-1 x)``: content moves by the affine map ``m`` (2 x 3, pixels)."""
    h, w = img.shape[:2]
    return cv2.warpAffine(
        img, np.float32(m), (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )


def shifted(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    return warp(img, [[1, 0, dx], [0, 1, dy]])


def inner(a: np.ndarray, m: int) -> np.ndarray:
    """The [..., H, W] array without an ``m``-pixel border (where warps replicate edges)."""
    return a[..., m:-m, m:-m]


ALGS = ["farneback", "dis", "tvl1"]
SHIFTS = [(1.5, -0.7), (-3.0, 2.0)]  # sub-pixel and integer


def close(est: float, true: float) -> bool:
    return abs(est - true) <= 0.1 + 0.05 * abs(true)


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("dx,dy", SHIFTS)
def test_translation_recovered_native_and_resized(alg, dx, dy):
    a = texture()
    b = shifted(a, dx, dy)
    p = FlowParams(algorithm=alg)
    f = inner(optical_flow(a, b, p).transpose(2, 0, 1), 12)
    u, v = float(np.median(f[0])), float(np.median(f[1]))
    assert np.sign(u) == np.sign(dx) and np.sign(v) == np.sign(dy), (u, v)
    assert close(u, dx) and close(v, dy), (alg, u, v)
    # through clip_flows: area-resized to 28 x 28 and u, v scaled by 28 / W, 28 / H
    m = clip_flows(np.stack([a, b]), 0, 1, 1, p).onset
    assert m.shape == (3, 28, 28) and m.dtype == np.float32
    us, vs = float(np.median(inner(m[0], 4))), float(np.median(inner(m[1], 4)))
    assert close(us * W / 28, dx) and close(vs * H / 28, dy), (alg, us, vs)
    assert float(np.median(inner(m[2], 4))) < 0.01  # a translation has no strain


def test_strain_of_analytic_fields():
    y, x = np.mgrid[0:60, 0:50].astype(np.float32)
    zero = np.zeros_like(x)

    def strain(u, v):
        return optical_strain(np.stack([u, v], -1))

    np.testing.assert_allclose(strain(zero + 2.5, zero - 1.0), 0.0, atol=1e-7)  # translation
    np.testing.assert_allclose(strain(0.02 * x, zero), 0.02, rtol=1e-5)  # stretch along x
    np.testing.assert_allclose(strain(0.02 * x, 0.02 * y), 0.02 * math.sqrt(2), rtol=1e-5)
    np.testing.assert_allclose(strain(0.03 * y, zero), 0.03 / math.sqrt(2), rtol=1e-5)  # shear
    # a rigid rotation has no strain to first order: u = -w y, v = w x
    np.testing.assert_allclose(strain(-0.01 * y, 0.01 * x), 0.0, atol=1e-7)


@pytest.mark.parametrize("alg", ALGS)
def test_strain_of_estimated_stretch(alg):
    a = texture()
    b = warp(a, [[1.02, 0, -0.01 * W], [0, 1, 0]])  # 2 % horizontal stretch about the centre
    s = float(np.median(inner(optical_strain(optical_flow(a, b, FlowParams(algorithm=alg))), 15)))
    assert s == pytest.approx(0.02, rel=0.15), s


def test_flow_maps_scale_u_and_v_by_each_axis():
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0], flow[..., 1] = 5.0, -2.0
    m = flow_maps(flow, 20)
    np.testing.assert_allclose(m[0], 5.0 * 20 / W, rtol=1e-6)
    np.testing.assert_allclose(m[1], -2.0 * 20 / H, rtol=1e-6)
    np.testing.assert_allclose(m[2], 0.0, atol=1e-7)
    np.testing.assert_allclose(flow_maps(flow, 20, "median")[:2], 0.0, atol=1e-6)


def test_encoding_round_trip_resolution_and_symmetry():
    p = FlowParams(size=28)
    step = p.motion_step()
    rng = np.random.default_rng(1)
    lim = 127 * step  # +-max_motion of the side, in px of the 28 x 28 grid
    maps = np.stack(
        [
            rng.uniform(-lim, lim, (28, 28)),
            rng.uniform(-lim, lim, (28, 28)),
            rng.uniform(0, p.max_strain, (28, 28)),
        ]
    ).astype(np.float32)
    back = decode_flow(encode_flow(maps, p), p)
    assert np.abs(back[:2] - maps[:2]).max() <= step / 2 + 1e-6
    assert np.abs(back[2] - maps[2]).max() <= p.strain_step / 2 + 1e-7
    codes = np.zeros((3, 28, 28), np.uint8)
    codes[:2] = rng.integers(1, 256, (2, 28, 28))
    codes[2] = rng.integers(0, 256, (28, 28))
    np.testing.assert_array_equal(encode_flow(decode_flow(codes, p), p), codes)  # exact inverse
    k = np.full((3, 28, 28), 0.37, np.float32)
    plus, minus = encode_flow(k, p).astype(int), encode_flow(-k, p).astype(int)
    np.testing.assert_array_equal(plus[:2] - 128, 128 - minus[:2])  # +k and -k about 128
    assert encode_flow(np.zeros((3, 4, 4), np.float32), p)[:2].tolist() == [[[128] * 4] * 4] * 2
    huge = encode_flow(np.full((3, 28, 28), 1e3, np.float32), p)
    assert (huge == 255).all() and (encode_flow(-np.abs(k) * 1e3, p)[:2] == 1).all()  # clipped
    # one code is max_motion / 127 of the side, at any size
    assert p.motion_step(224) / 224 == pytest.approx(step / 28) == pytest.approx(0.05 / 127)


def test_flow_normalisation_maps_codes_to_unit_range():
    codes = np.array([1, 128, 255], np.float64)
    for c in (0, 1):
        np.testing.assert_allclose((codes / 255 - fl.FLOW_MEAN[c]) / fl.FLOW_STD[c], [-1, 0, 1])
    assert (255 / 255 - fl.FLOW_MEAN[2]) / fl.FLOW_STD[2] == 1.0


def test_flip_negates_u_and_equals_the_flow_of_mirrored_frames():
    a = texture()
    b = warp(a, [[1.01, 0.02, 0.8], [-0.015, 1.0, -0.5]])  # flow varies over the image
    p = FlowParams(algorithm="dis", size=28)
    m = clip_flows(np.stack([a, b]), 0, 1, 1, p).onset
    mirrored = clip_flows(np.stack([a[:, ::-1], b[:, ::-1]]), 0, 1, 1, p).onset
    flipped = flip_flow(m)
    assert np.abs(inner(flipped - mirrored, 3)[:2]).mean() < 0.02  # px of the 28 grid
    assert np.median(inner(flipped[0], 3)) == pytest.approx(-np.median(inner(m[0], 3)[:, ::-1]))
    codes = encode_flow(m, p)
    np.testing.assert_array_equal(flip_flow(codes), encode_flow(flip_flow(m), p))
    np.testing.assert_array_equal(flip_flow(flip_flow(codes)), codes)


def test_offset_flow_reversed_points_like_the_onset_flow():
    a = texture()
    d = (1.2, -0.8)
    frames = np.stack([a, shifted(a, *[c / 2 for c in d]), shifted(a, *d), shifted(a, 0.1, 0)])
    med = lambda m: np.median(inner(m[:2], 3), axis=(1, 2)) * np.array([W, H]) / 28  # noqa: E731
    rev = clip_flows(frames, 0, 2, 3, FlowParams(algorithm="dis"))
    fwd = clip_flows(frames, 0, 2, 3, FlowParams(algorithm="dis", offset_direction="forward"))
    np.testing.assert_allclose(med(rev.onset), d, atol=0.15)
    np.testing.assert_allclose(med(rev.offset), np.subtract(d, (0.1, 0)), atol=0.15)
    np.testing.assert_allclose(med(fwd.offset), -np.subtract(d, (0.1, 0)), atol=0.15)
    np.testing.assert_array_equal(rev.onset, fwd.onset)


def test_one_frame_phases_have_no_flow_and_say_why():
    frames = np.stack([texture(seed=s) for s in range(3)])
    c = clip_flows(frames, 0, 0, 2, FlowParams())
    assert c.onset is None and "apex == onset" in c.onset_note and c.offset is not None
    c = clip_flows(frames, 0, 2, 2, FlowParams())
    assert c.offset is None and "apex == offset" in c.offset_note and c.onset_note == ""
    with pytest.raises(ValueError, match="onset"):
        clip_flows(frames, 1, 0, 2, FlowParams())


@pytest.mark.parametrize("alg", ["farneback", "dis"])
def test_flows_are_deterministic(alg):
    frames = np.stack([texture(), shifted(texture(), 0.7, 0.3), texture(seed=3)])
    p = FlowParams(algorithm=alg)
    x, y = clip_flows(frames, 0, 1, 2, p), clip_flows(frames, 0, 1, 2, p)
    np.testing.assert_array_equal(x.onset, y.onset)
    np.testing.assert_array_equal(x.offset, y.offset)


def test_cache_key_follows_algorithm_and_only_its_parameters():
    dis, far = FlowParams(algorithm="dis"), FlowParams(algorithm="farneback")
    assert dis.key() != far.key()
    assert "farneback" not in dis.key() and dis.key()["dis"] == {"preset": "medium"}
    # another algorithm's parameters do not change this one's key; its own do
    other = FlowParams(algorithm="dis", farneback=fl.FarnebackParams(winsize=21))
    assert other.key() == dis.key()
    assert FlowParams(algorithm="dis", dis=fl.DisParams("fast")).key() != dis.key()
    assert dis.key()["opencv"] == cv2.__version__ and dis.key()["flow_version"] >= 1
    assert FlowParams(size=112).key() != dis.key()
    with pytest.raises(ValueError, match="algorithm"):
        FlowParams(algorithm="lucas-kanade")


def test_tvl1_without_contrib_names_the_package(monkeypatch):
    monkeypatch.delattr(cv2, "optflow", raising=False)
    a = texture()
    with pytest.raises(ImportError, match="pip install 'opencv-contrib-python-headless"):
        clip_flows(np.stack([a, a]), 0, 1, 1, FlowParams(algorithm="tvl1"))


def test_colour_wheel_directions():
    u = np.array([[1.0, 0.0, -1.0, 0.0, 0.0]])
    v = np.array([[0.0, 1.0, 0.0, -1.0, 0.0]])
    rgb = flow_to_rgb(u, v, max_magnitude=1.0).astype(int)
    hue = cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2HSV)[0, :, 0].astype(int) * 2
    assert hue[:4].tolist() == [0, 90, 180, 270]  # right, down, left, up
    assert rgb[0, 4].tolist() == [0, 0, 0]  # no motion is black


# --- flow-aware Flip/Rotate (torch) -------------------------------------------------------


def _codes_of(frames: np.ndarray, p: FlowParams) -> torch.Tensor:
    return torch.from_numpy(encode_flow(clip_flows(frames, 0, 1, 1, p).onset, p)).float()


def _torch_warp(img: np.ndarray, flip: bool, angle: float) -> np.ndarray:
    """``augment.flip_rotate``'s resampling of one grey frame (for the expected flow)."""
    x = torch.from_numpy(img).float()[None, None].expand(1, 3, *img.shape).contiguous()
    y = transform_flow(x, torch.tensor([flip]), torch.tensor([angle]))  # channel 2: plain
    return y[0, 2].round().clamp(0, 255).to(torch.uint8).numpy()


@pytest.mark.parametrize("flip,deg", [(True, 0.0), (False, 8.0), (True, -9.0)])
def test_flow_flip_rotate_equals_the_flow_of_transformed_frames(flip, deg):
    a = texture(100, 100)
    b = shifted(a, 1.5, -1.0)  # uniform flow: the expected transform has no resampling error
    p = FlowParams(algorithm="dis", size=28)
    angle = math.radians(deg)
    got = transform_flow(
        _codes_of(np.stack([a, b]), p)[None], torch.tensor([flip]), torch.tensor([angle])
    )
    want = _codes_of(np.stack([_torch_warp(a, flip, angle), _torch_warp(b, flip, angle)]), p)
    g = decode_flow(got[0].numpy().round().astype(np.uint8), p)
    w = decode_flow(want.numpy().astype(np.uint8), p)
    np.testing.assert_allclose(
        np.median(inner(g[:2], 6), axis=(1, 2)), np.median(inner(w[:2], 6), axis=(1, 2)), atol=0.02
    )


def test_flow_flip_rotate_draws_like_flip_rotate():
    from mer_utils.augment import flip_rotate

    x = torch.rand(6, 3, 28, 28) * 254 + 1
    ours = flip_rotate_flow(x, torch.Generator().manual_seed(3))
    theirs = flip_rotate(x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(ours[:, 2], theirs[:, 2], rtol=0, atol=0)  # strain: same resampling
    assert ours.shape == x.shape and ours[:, :2].min() >= 1 and ours[:, :2].max() <= 255


# --- the models ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model,classes,count",
    [
        (STSTNet, 3, 1683),
        (STSTNet, 5, 2485),
        (OffApexNet, 3, 2_664_475),
        (OffApexNet, 5, 2_666_525),
    ],
)
def test_model_parameter_counts_output_and_gradients(model, classes, count):
    torch.manual_seed(0)
    net = model(classes)
    assert sum(p.numel() for p in net.parameters()) == count
    out = net(torch.randn(4, 3, 28, 28))
    assert out.shape == (4, classes)
    out.logsumexp(1).sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


def test_ststnet_adaptive_pool_is_the_papers_2x2_pool_at_28px():
    net = STSTNet(5).eval()
    x = torch.randn(2, 3, 28, 28)
    h = torch.cat([s(x) for s in net.streams], dim=1)
    assert h.shape == (2, 16, 10, 10)
    torch.testing.assert_close(net(x), net.fc(torch.nn.functional.avg_pool2d(h, 2).flatten(1)))


def test_sample_flows_decodes_only_key_frames_and_equals_clip_flows(tiny_casme2, monkeypatch):
    from mer_utils import frames as fr
    from mer_utils.datasets import load_dataset
    from mer_utils.flow import sample_flows

    s = next(x for x in load_dataset("casme2", tiny_casme2).samples if x.onset < x.apex < x.offset)
    p = FlowParams(algorithm="farneback", size=16)
    whole = fr.read_clip(s.frames)
    want = clip_flows(whole, 0, s.apex - s.onset, len(whole) - 1, p)
    read = []
    real = fr.read_frame
    monkeypatch.setattr(fr, "read_frame", lambda path: read.append(path) or real(path))
    got = sample_flows(s, p)
    assert read == [s.frames[0], s.frames[s.apex - s.onset], s.frames[-1]]
    np.testing.assert_array_equal(got.onset, want.onset)
    np.testing.assert_array_equal(got.offset, want.offset)


def test_fig_flows_draws_dis_and_flows_of_the_same_clips(tiny_casme2):
    import matplotlib

    matplotlib.use("Agg")
    from mer_utils.datasets import load_dataset
    from mer_utils.plots import fig_flows

    samples = load_dataset("casme2", tiny_casme2).samples[:2]
    fig = fig_flows(samples, FlowParams(algorithm="farneback"), size=48)
    titles = [ax.get_title() for ax in fig.axes[:7]]
    assert titles[3] == "flow onset→apex" and titles[5] == "flow offset→apex"
    assert "Farneback" in fig._suptitle.get_text() and len(fig.axes) == 2 * 7
    assert len(fig.axes[3].child_axes) == 1  # the colour-wheel legend
