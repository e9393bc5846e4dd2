"""Frame checks at load: decoded once, cached by the frames' bytes, redone when one changes."""

import cv2
import numpy as np

from mer_utils.frame_checks import FrameChecks, check_clip


def _clip(folder, n=6, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        paths.append(folder / f"reg_img{i}.jpg")
        cv2.imwrite(str(paths[-1]), rng.integers(0, 255, (24, 20, 3), np.uint8))
    return paths


def test_cache_decodes_each_clip_once_and_again_after_an_edit(tmp_path):
    paths, cache = _clip(tmp_path / "A"), tmp_path / "checks.json"
    first = FrameChecks(cache)
    assert first.check(paths).problem is None and first.decoded == 1
    first.save()
    second = FrameChecks(cache)
    assert second.check(paths) == first.check(paths) and second.decoded == 0
    paths[3].write_bytes(paths[3].read_bytes()[:-40])  # truncated after the first check
    third = FrameChecks(cache)
    assert "reg_img3.jpg: truncated JPEG" in third.check(paths).problem and third.decoded == 1


def test_frozen_stretches_are_found_exactly(tmp_path):
    paths = _clip(tmp_path / "B", n=8)
    for i in (3, 4, 5):
        paths[i].write_bytes(paths[2].read_bytes())
    c = check_clip(paths)
    assert c.same == (False, False, False, True, True, True, False, False)
    assert c.frozen(2, 5) and not c.frozen(1, 5) and not c.frozen(2, 6) and not c.frozen(0, 7)
