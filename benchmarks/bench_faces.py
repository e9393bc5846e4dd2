"""Face detection + landmarks at SAMM size (960x650), and their share of a store build.

In one run, on this CPU:

1. frames/s of each installed face method (detection + landmarks) on a real face at SAMM size
   (scikit-image's astronaut, its face scaled to SAMM's ~400 px and made grey, in a 960x650
   frame) and on a synthetic SAMM frame;
2. on a synthetic SAMM-layout copy at real size (``make_synthetic(..., "samm", scale)``):
   today's store work per clip (decode every JPEG with ``frames.read_clip`` + the three DIs
   with ``phase_dynamic_images``, face: none) against each face step: ``align_clip``
   (landmarks on the first 3 frames, once per clip), landmarks on every frame (the per-frame
   alternative; timed on the first clips, scaled by frame count), ``read_aligned_clip`` with
   and without the per-frame registration (it replaces ``read_clip``), the DIs on the crops;
3. how many clips each method aligned, and each landmark method's error on the astronaut photo
   (``faces.ASTRONAUT_POINTS``) and on rotated and scaled copies of it.

4. with ``--store S``: the whole DI store build at side S (``store.build_store``) of the same
   copy with face: none and with each method, and what each method did with every clip.

    python benchmarks/bench_faces.py [--scale 0.05] [--methods facemesh,mtcnn,haar]
        [--store 112 [--only-store] [--workers 2]] [--size 325,480]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from mer_utils import faces as F
from mer_utils.datasets import load_dataset
from mer_utils.dynamic_image import phase_dynamic_images
from mer_utils.frames import read_clip, read_frame
from mer_utils.synthetic import make_synthetic


def samm_size_real_face() -> np.ndarray:
    """uint8 [650, 960, 3]: the astronaut's face at SAMM's scale, grey, centred."""
    from skimage.data import astronaut

    face = cv2.resize(astronaut()[30:200, 120:290], (650, 650), interpolation=cv2.INTER_CUBIC)
    frame = np.full((650, 960), 128, np.uint8)
    frame[:, 155:805] = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    return np.repeat(frame[..., None], 3, 2)


def accuracy(method: str) -> str:
    """Landmark error on the astronaut photo (its hand-checked points) and on 18 rotated
    (-30..45 deg) and scaled (0.5, 1, 1.5 x) copies, as a fraction of the eye distance."""
    from skimage.data import astronaut

    img, ref = astronaut(), F.ASTRONAUT_POINTS
    eyes = float(np.linalg.norm(ref[1] - ref[0]))
    run = F.detector(method)
    errors, found = [], 0
    for angle in (-30, -15, 0, 15, 30, 45):
        for scale in (0.5, 1.0, 1.5):
            m = cv2.getRotationMatrix2D((256, 256), angle, scale)
            m[:, 2] += (7, -5)
            faces = run(cv2.warpAffine(img, m, (512, 512), borderMode=cv2.BORDER_REFLECT))
            faces = [f for f in faces if f.points is not None]
            found += bool(faces)
            if faces:
                r = ref @ m[:, :2].T + m[:, 2]
                errors.append(min(np.linalg.norm(f.points - r, axis=1).mean() for f in faces) / (eyes * scale))  # fmt: skip
    (face,) = [f for f in run(img) if f.points is not None]
    err = np.linalg.norm(face.points - ref, axis=1) / eyes
    return (
        f"astronaut: mean {err.mean():.3f}, worst point {err.max():.3f} of the eye distance; "
        f"rotated/scaled copies: {found}/18 found, median {np.median(errors):.3f}, worst {max(errors):.3f}"
    )


def per_frame(method: str, frame: np.ndarray, repeats: int) -> tuple[float, int]:
    """Seconds per call of the method's detector on ``frame`` (best of ``repeats``), faces."""
    run = F.detector(method)
    found = run(frame)  # warm-up (model load)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(frame)
        best = min(best, time.perf_counter() - t0)
    return best, len(found)


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def dis(s, frames: np.ndarray):
    return phase_dynamic_images(frames, s.onset, s.apex, s.offset, threads=1)


def store_work(samples) -> float:
    """Seconds for what the store does per clip today (face: none): decode every frame at its
    native size + the three DIs."""
    return sum(timed(lambda s=s: dis(s, read_clip(s.frames)))[0] for s in samples)


def clip_costs(method: str, samples, every_clips: int) -> dict[str, float]:
    """Seconds summed over clips for each face step, and the clips aligned. Landmarks on every
    frame are timed on the first ``every_clips`` clips and scaled by the frame count."""
    p = F.FaceParams(method=method)
    p_plain = F.FaceParams(method=method, stabilize=False)
    run = F.detector(method)
    out = dict(align=0.0, read=0.0, read_plain=0.0, dis=0.0, aligned=0.0)
    for s in samples:
        t, a = timed(lambda s=s: F.align_clip(s.frames, p))
        out["align"] += t
        out["aligned"] += a.aligned
        t, clip = timed(lambda s=s, a=a: F.read_aligned_clip(s.frames, a, p))
        out["read"] += t
        out["dis"] += timed(lambda s=s, c=clip: dis(s, c.frames))[0]
        out["read_plain"] += timed(lambda s=s, a=a: F.read_aligned_clip(s.frames, a, p_plain))[0]
    few = samples[:every_clips]
    t = sum(timed(lambda s=s: [run(read_frame(f)) for f in s.frames])[0] for s in few)
    out["every"] = t * sum(len(s.frames) for s in samples) / sum(len(s.frames) for s in few)
    return out


def report(method: str, c: dict[str, float], base: float, n: int) -> None:
    new = c["align"] + c["read"] + c["dis"]
    rows = [
        (
            "align_clip: landmarks on 3 first frames",
            c["align"],
            f"; {int(c['aligned'])}/{n} clips aligned",
        ),  # fmt: skip
        ("landmarks on every frame (per-frame crops)", c["every"], ""),
        ("read_aligned_clip, per-frame registration", c["read"], ""),
        ("read_aligned_clip, one transform only", c["read_plain"], ""),
        ("three DIs on the aligned crops", c["dis"], ""),
        ("store work with faces (align + read + DIs)", new, ""),
    ]
    for name, t, extra in rows:
        print(f"  {name:44s}: {t:7.2f} s = {t / base:6.1%} of today's store work{extra}")
    print(f"  share of the new store work spent on landmarks: {c['align'] / new:.1%}")


def store_builds(ds, methods: list[str], size: int, workers: int) -> None:
    """The real DI store build (``store.build_store``, no cache) of the same copy with face:
    none and with each method (its alignments computed, not cached): seconds, the ratio, and
    every clip aligned or reported."""
    from mer_utils.store import build_store, store_face_report

    base, _ = timed(lambda: build_store(ds, size, cache=False, workers=workers))
    print(f"store build, face none: {base:.1f} s ({len(ds.samples)} clips, {size} px, {workers} threads)")  # fmt: skip
    for m in methods:
        p = F.FaceParams(m)
        t, st = timed(lambda p=p: build_store(ds, size, face=p, cache=False, workers=workers))
        status = st.index.face_status.value_counts().to_dict()
        rows = store_face_report(st)
        print(f"store build, face {m}: {t:.1f} s = {t / base:.2f}x face none; clips {status}; {len(rows)} face report row(s)")  # fmt: skip
        for r in rows.itertuples():
            print(f"    {r.subject}/{r.clip}: {r.problem} -> {r.policy}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--methods", default="facemesh,mtcnn,haar")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--every-clips", type=int, default=2, help="clips timed with landmarks on every frame"
    )
    ap.add_argument(
        "--store", type=int, default=0, help=">0: also time whole store builds at this side"
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only-store", action="store_true", help="with --store: only the builds")
    ap.add_argument("--size", default="", help="H,W of the synthetic frames (default: SAMM's)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    methods = [m for m in args.methods.split(",") if F.available_methods().get(m) is None]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MER_ROOT"] = tmp
        size = tuple(int(v) for v in args.size.split(",")) if args.size else None
        root = make_synthetic(Path(tmp) / "samm", "samm", scale=args.scale, size=size)
        ds = load_dataset("samm", root)
        samples = ds.samples
        frames = sum(len(s.frames) for s in samples)
        synthetic = read_frame(samples[0].frames[0])
        real = samm_size_real_face()
        h, w = synthetic.shape[:2]
        print(f"{len(samples)} SAMM-layout clips, {frames} frames of {w}x{h}, {os.cpu_count()} cores")  # fmt: skip
        if args.store:
            store_builds(ds, methods, args.store, args.workers)
            if args.only_store:
                return
        base = store_work(samples)
        print(
            f"today's store work (decode + 3 DIs at 960x650): {base:.2f} s ({frames / base:.1f} frames/s)"
        )
        for m in methods:
            t_real, n_real = per_frame(m, real, args.repeats)
            t_syn, n_syn = per_frame(m, synthetic, args.repeats)
            print(f"{m}: {1 / t_real:6.1f} frames/s on a real face ({n_real} found), {1 / t_syn:6.1f} on a synthetic one ({n_syn} found)")  # fmt: skip
            if F.METHODS[m].landmarks:
                print(f"  landmarks, {accuracy(m)}")
            report(m, clip_costs(m, samples, args.every_clips), base, len(samples))


if __name__ == "__main__":
    main()
