"""Frame I/O: numeric indexing, BGR->RGB once, the Haar face box, motion intensity."""

import cv2
import numpy as np
import pytest
from skimage import data

from mer_utils.frames import (
    FrameError,
    crop_resize,
    detect_face,
    index_frames,
    motion_intensity,
    read_clip,
)


def test_index_is_numeric_and_reading_is_rgb(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 200  # red in RGB
    for n in (100, 46, 9):
        cv2.imwrite(str(tmp_path / f"reg_img{n}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    idx = index_frames(tmp_path, r"reg_img(\d+)\.png")
    assert list(idx) == [9, 46, 100]
    clip = read_clip(list(idx.values()))
    assert clip.shape == (3, 4, 4, 3) and (clip[..., 0] == 200).all() and (clip[..., 2] == 0).all()


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FrameError, match="clip folder not found"):
        index_frames(tmp_path / "nope", r"(\d+)")


def test_haar_finds_the_astronauts_face():
    img = data.astronaut()  # RGB 512x512, face around x~180..260, y~60..160
    box = detect_face(img)
    assert box is not None
    x, y, w, h = box
    assert x < 220 < x + w and y < 110 < y + h and 60 < w < 250
    assert crop_resize(img, 112, box).shape == (112, 112, 3)
    assert detect_face(np.full((200, 200, 3), 128, np.uint8)) is None


def test_motion_intensity_peaks_where_frames_differ_and_ignores_linear_drift():
    T = 21
    base = np.full((T, 16, 16), 100, np.float32)
    frames = base + np.linspace(0, 20, T)[:, None, None]  # linear illumination drift
    frames[12, 4:8, 4:8] += 50  # a local movement at frame 12
    m = motion_intensity(frames.astype(np.uint8))
    assert int(m.argmax()) == 12 and m[0] == m[-1] == 0
    assert motion_intensity(frames.astype(np.uint8), detrend=False).argmax() == T - 1  # drift wins
