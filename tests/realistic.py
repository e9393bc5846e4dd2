"""Trees laid out like real CASME-II / SAMM copies (tiny frames), from spreadsheets written in
each real version's exact format, with every folder-vs-sheet mismatch seen in real copies
planted. Independent of mer_utils.synthetic on purpose: the loader must not be tested against
its own generator only."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openpyxl

CASME2_COLUMNS = {
    # 2019 release: text subjects, two blank columns, Objective Classes
    "20190701": ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                 "Action Units", "Estimated Emotion", "Objective Classes"],
    # 2014 release: numeric subjects, no Objective Classes
    "20140508": ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                 "Action Units", "Estimated Emotion"],
}  # fmt: skip
SAMM_COLUMNS = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
                "Offset Frame", "Duration", "Micro", "Action Units", "Estimated Emotion",
                "Objective Classes", "Notes"]  # fmt: skip
CASME2_CLASSES = ("happiness", "disgust", "surprise", "repression", "others")

# name -> (onset, apex, offset, frames present in the folder, what the loader must do)
MISMATCHES = {
    "EP90_end": (10, 20, 40, range(10, 36), "cut to [10, 35]"),
    "EP91_apexgone": (10, 38, 40, range(10, 31), "cut to [10, 30]"),
    "EP92_gap": (10, 25, 40, [n for n in range(10, 41) if not 15 <= n <= 17], "cut to [18, 40]"),
    "EP93_mostly": (100, 110, 140, range(130, 201), "cut to [130, 140]"),
    "EP94_outside": (100, 110, 140, range(300, 351), "dropped"),
    "EP95_nofolder": (10, 20, 40, None, "dropped"),
    "EP96_truncated": (10, 20, 40, range(10, 41), "dropped"),  # one JPEG cut short
    "EP97_tooshort": (10, 20, 40, range(10, 12), "dropped"),
}

# name -> (onset, apex, offset, what is planted, what the report must say); planted with
# ``casme2_tree(bad_frames=True)``, all frames present
BAD_FRAMES = {
    "EP80_frozen": (10, 20, 40, "frozen", "all 31 frames reg_img10.jpg..reg_img40.jpg are identical"),
    "EP81_frozenonset": (10, 20, 40, "frozen onset", "onset phase frames reg_img10.jpg..reg_img20.jpg are identical"),
    "EP82_resized": (10, 20, 40, "resized", "reg_img25.jpg: frame size 18x24 differs"),
    "EP83_garbage": (10, 20, 40, "garbage", "reg_img30.jpg: unreadable or not an image"),
}  # fmt: skip
PNG_AS_JPG = "EP84_png"  # every frame a PNG named .jpg: OpenCV reads it, so it loads


def _plant(folder: Path, kind: str) -> None:
    """Spoil a clip's frames as ``kind`` of :data:`BAD_FRAMES` says."""
    if kind == "frozen":
        for f in folder.glob("*.jpg"):
            f.write_bytes((folder / "reg_img10.jpg").read_bytes())
    elif kind == "frozen onset":
        for n in range(11, 21):
            (folder / f"reg_img{n}.jpg").write_bytes((folder / "reg_img10.jpg").read_bytes())
    elif kind == "resized":
        frame = cv2.imread(str(folder / "reg_img25.jpg"))
        cv2.imwrite(str(folder / "reg_img25.jpg"), frame[:, :18])
    elif kind == "garbage":  # starts like a JPEG and ends with its marker: only decoding tells
        (folder / "reg_img30.jpg").write_bytes(b"\xff\xd8\xff" + bytes(200) + b"\xff\xd9")


def _write_frames(folder: Path, numbers, name, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    base = rng.integers(40, 200, (24, 20, 3)).astype(np.float32)
    for i, n in enumerate(numbers):
        frame = base + 25 * np.sin(i / 4) + rng.normal(0, 8, base.shape)
        cv2.imwrite(str(folder / name(n)), np.clip(frame, 0, 255).astype(np.uint8))


def casme2_tree(
    root: Path, version: str = "20190701", seed: int = 0, bad_frames: bool = False
) -> Path:
    """``root/Cropped/subNN/<clip>/reg_img<N>.jpg`` + ``CASME2-coding-<version>.xlsx``: 4
    subjects x 5 classes of clean clips, then the planted mismatches (subject 05) and one
    sadness row (excluded); with ``bad_frames`` also the :data:`BAD_FRAMES` clips and a clip
    of PNGs named .jpg (subject 06). Returns ``root``."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, label in enumerate(CASME2_CLASSES * 4):
        sub, onset = 1 + k % 4, 40 + 7 * k
        rows.append((sub, f"EP{k:02d}_0{k % 3}f", onset, onset + 9, onset + 24, label,
                     range(onset, onset + 25)))  # fmt: skip
    for i, (clip, (on, ap, off, present, _)) in enumerate(MISMATCHES.items()):
        rows.append((5, clip, on, ap, off, CASME2_CLASSES[i % 5], present))
    rows.append((5, "EP99_sad", 10, 20, 40, "sadness", range(10, 41)))
    if bad_frames:
        for i, (clip, (on, ap, off, *_)) in enumerate(BAD_FRAMES.items()):
            rows.append((6, clip, on, ap, off, CASME2_CLASSES[i % 5], range(on, off + 1)))
        rows.append((6, PNG_AS_JPG, 10, 20, 40, "others", range(10, 41)))
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(CASME2_COLUMNS[version])
    for sub, clip, on, ap, off, label, present in rows:
        subject = f"{sub:02d}" if version == "20190701" else sub
        extra = [1] if version == "20190701" else []
        ws.append([subject, clip, None, on, ap, off, None, "4+9", label, *extra])
        if present is not None:
            folder = root / "Cropped" / f"sub{sub:02d}" / clip
            _write_frames(folder, present, lambda n: f"reg_img{n}.jpg", rng)
    truncated = root / "Cropped" / "sub05" / "EP96_truncated" / "reg_img25.jpg"
    truncated.write_bytes(truncated.read_bytes()[:-40])
    if bad_frames:
        for clip, (*_, kind, _) in BAD_FRAMES.items():
            _plant(root / "Cropped" / "sub06" / clip, kind)
        for f in (root / "Cropped" / "sub06" / PNG_AS_JPG).glob("*.jpg"):
            ok, png = cv2.imencode(".png", cv2.imread(str(f)))
            f.write_bytes(png.tobytes())
    wb.save(root / f"CASME2-coding-{version}.xlsx")
    return root


def samm_tree(
    root: Path, preamble: bool = True, name: str = "SAMM_Micro_FACS_Codes_v2.xlsx"
) -> Path:
    """``root/SAMM/<subject>/<clip>/<subject>_<frame>.jpg`` (mixed zero-padding) + the MICRO_ONLY
    workbook, with or without its 13-row preamble; one clip truncated at the end."""
    rng = np.random.default_rng(1)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "MICRO_ONLY"
    if preamble:
        for i in range(13):
            ws.append([f"SAMM micro-movement codes, line {i}" if i % 4 else None])
    ws.append(SAMM_COLUMNS)
    labels = ("Anger", "Contempt", "Happiness", "Surprise", "Other")
    for k in range(12):
        sub = ("006", "007", "009")[k % 3]
        on = 1000 + 50 * k
        present = range(on, on + 25 if k != 11 else on + 15)  # k == 11: offset past the end
        ws.append(
            [
                sub,
                f"{sub}_1_{k}",
                1,
                on,
                on + 8,
                on + 24,
                25,
                "Micro",
                "R12",
                labels[k % 5],
                1,
                None,
            ]
        )
        width = 4 if k % 2 else 5
        _write_frames(
            root / "SAMM" / sub / f"{sub}_1_{k}",
            present,
            lambda n, s=sub, w=width: f"{s}_{n:0{w}d}.jpg",
            rng,
        )
    wb.save(root / name)
    return root
