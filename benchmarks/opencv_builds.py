"""Do two OpenCV builds give the same results? Evidence for swapping the OpenCV wheel.

Run ``dump`` once under each build (e.g. opencv-python-headless and
opencv-contrib-python-headless of one version, selected by PYTHONPATH or by the venv), then
``compare``: it prints, per array, the largest absolute difference.

    python benchmarks/opencv_builds.py dump plain.npz
    PYTHONPATH=/path/to/contrib python benchmarks/opencv_builds.py dump contrib.npz
    python benchmarks/opencv_builds.py compare plain.npz contrib.npz

What is dumped: Farneback, DIS and (where the build has it) TV-L1 flows of textured pairs
(translations, an affine warp) and of onset->apex / offset->apex pairs of synthetic CASME-II
clips (340 x 280 JPEG frames); the project's whole DI path on those clips (JPEG decode, resize,
DIs, uint8) and its flow maps; grey conversion, area resize and the Haar face box of a photo.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from mer_utils.datasets import load_dataset
from mer_utils.flow import ALGORITHMS, FlowParams, clip_flows, optical_flow
from mer_utils.frames import detect_face, read_clip
from mer_utils.store import clip_dis
from mer_utils.synthetic import make_synthetic


def _pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from skimage import data

    g = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)[60:400, 140:420]
    rng = np.random.default_rng(0)
    t = cv2.GaussianBlur(rng.random((340, 280)).astype(np.float32), (0, 0), 2.0)
    t = np.rint((t - t.min()) / (t.max() - t.min()) * 255).astype(np.uint8)
    out = {}
    for name, img in (("astronaut", g), ("texture", t)):
        for tag, m in (("shift", [[1, 0, 1.5], [0, 1, -0.7]]), ("affine", [[1.02, 0.01, -3], [-0.01, 1, 2]])):  # fmt: skip
            out[f"{name}_{tag}"] = (img, cv2.warpAffine(img, np.float32(m), img.shape[::-1]))
    return out


def dump(path: Path, root: Path | None) -> None:
    algs = [a for a in ALGORITHMS if a != "tvl1" or hasattr(cv2, "optflow")]
    arrays: dict[str, np.ndarray] = {}
    for name, (a, b) in _pairs().items():
        for alg in algs:
            arrays[f"flow/{alg}/{name}"] = optical_flow(a, b, FlowParams(algorithm=alg))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MER_ROOT", tmp)
        root = root or make_synthetic(Path(tmp) / "casme2", "casme2", scale=0.02)
        for s in load_dataset("casme2", root).samples[:3]:
            frames = read_clip(s.frames)
            a = s.apex - s.onset
            for alg in algs:
                c = clip_flows(frames, 0, a, len(frames) - 1, FlowParams(algorithm=alg))
                for kind in ("onset", "offset"):
                    if getattr(c, kind) is not None:
                        arrays[f"clipflow/{alg}/{s.clip}/{kind}"] = getattr(c, kind)
            d = clip_dis(s, 112)
            for kind in ("full", "onset", "offset"):
                if getattr(d, kind) is not None:
                    arrays[f"di/{s.clip}/{kind}"] = getattr(d, kind)
    from skimage import data

    photo = data.astronaut()
    arrays["grey"] = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    arrays["resize_area"] = cv2.resize(photo, (224, 224), interpolation=cv2.INTER_AREA)
    arrays["haar_box"] = np.array(detect_face(photo) or (-1, -1, -1, -1))
    np.savez_compressed(path, **arrays, _build=np.array(f"{cv2.__version__} {cv2.__file__}"))
    print(f"{path}: {len(arrays)} arrays from OpenCV {cv2.__version__} at {cv2.__file__}")


def compare(a: Path, b: Path) -> int:
    x, y = np.load(a), np.load(b)
    print(f"A: {x['_build']}\nB: {y['_build']}")
    worst = 0.0
    for k in sorted(set(x.files) & set(y.files) - {"_build"}):
        d = float(np.abs(x[k].astype(np.float64) - y[k].astype(np.float64)).max())
        worst = max(worst, d)
        print(f"  {k:44s} max |A - B| = {d:.3g}")
    for k in sorted(set(x.files) ^ set(y.files)):
        print(f"  {k:44s} only in {'A' if k in x.files else 'B'}")
    print(f"largest difference over all common arrays: {worst:.3g}")
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--root", type=Path, help="a synthetic CASME-II copy (default: generate one)")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args()
    sys.exit(dump(args.out, args.root) if args.cmd == "dump" else compare(args.a, args.b))


if __name__ == "__main__":
    main()
