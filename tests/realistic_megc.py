"""Trees laid out like real SMIC-HS, MMEW and CAS(ME)^3 Part A copies (tiny frames), written
from the real names and quirks of ``shared/datasets_megc.md`` and independent of
``mer_utils.dataset_specs`` and ``mer_utils.synthetic`` on purpose: the loaders must read what
the facts file describes, not only what our own generator writes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openpyxl


def _frames(folder: Path, numbers, name, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    base = rng.integers(40, 200, (18, 15, 3)).astype(np.float32)
    for i, n in enumerate(numbers):
        frame = (
            base + 30 * np.sin(np.pi * i / max(len(numbers) - 1, 1)) + rng.normal(0, 4, base.shape)
        )
        cv2.imwrite(str(folder / name(n)), np.clip(frame, 0, 255).astype(np.uint8))


# SMIC-HS: (subject folder, label folder, clip folder, first frame, frames, frames missing)
SMIC_CLIPS = [
    ("s1", "negative", "s1_ne_01", 36237, 20, ()),
    ("s1", "positive", "s1_po_01", 40100, 18, ()),
    ("s3", "surprise", "s3_sur_01", 1200, 25, (1210,)),  # a frame missing inside the clip
    ("s3", "negative", "s3_ne_02", 5000, 16, ()),
    ("s20", "positive", "s20_po_01", 12345678, 22, ()),  # s20: 8-digit frame counters
]


def smic_tree(root: Path) -> Path:
    """``root/SMIC_all_cropped/HS/s<N>/micro/<label>/<clip>/reg_image<N:06d>.bmp`` (colour BMP,
    absolute counters), plus a ``non_micro/`` clip that is not a micro-expression."""
    rng = np.random.default_rng(3)
    hs = root / "SMIC_all_cropped" / "HS"
    for sub, label, clip, first, n, missing in SMIC_CLIPS:
        numbers = [k for k in range(first, first + n) if k not in missing]
        _frames(hs / sub / "micro" / label / clip, numbers, lambda k: f"reg_image{k:06d}.bmp", rng)
    _frames(hs / "s1" / "non_micro" / "negative" / "s1_ne_05", range(100, 120),
            lambda k: f"reg_image{k:06d}.bmp", rng)  # fmt: skip
    return root


MMEW_HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
               "Estimated Emotion", "remarks"]  # fmt: skip
# (subject, filename, apex, offset, emotion as the sheet spells it)
MMEW_ROWS = [
    (1, "S01-01-001", 15, 31, "happiness"),
    (1, "S01-02-001", 10, 20, "surprise"),
    (2, "S02-03-001", 12, 25, "disgust"),
    (2, "S02-07-001", 8, 18, "others"),
    (3, "S03-04-001", 9, 16, "fear"),
]


def mmew_tree(root: Path, others_folder: str = "repression") -> Path:
    """``root/Micro_Expression/<emotion>/S01-01-001/<n>.jpg`` (emotion first, frames from 1)
    + ``MMEW_Micro_Exp.xlsx``; the others clips sit in ``others_folder``."""
    rng = np.random.default_rng(4)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(MMEW_HEADER)
    for sub, name, apex, off, emo in MMEW_ROWS:
        ws.append([sub, name, 1, apex, off, "6+12", emo, None])
        folder = others_folder if emo == "others" else emo
        _frames(root / "Micro_Expression" / folder / name, range(1, off + 1),
                lambda k: f"{k}.jpg", rng)  # fmt: skip
    wb.save(root / "MMEW_Micro_Exp.xlsx")
    return root


CASME3_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class",
                 "emotion"]  # fmt: skip
# (subject, video, onset, apex, offset, emotion): several per video; the broken rows of the
# official v2 sheet, each keyed by subject + video, never by row index
CASME3_ROWS = [
    ("spNO.1", "b", 166, 175, 179, "disgust"),
    ("spNO.1", "b", 300, 306, 318, "surprise"),  # a second ME in the same video
    ("spNO.1", "J", 40, 44, 52, "Others"),  # capital J video, capital Others
    ("spNO.2", "a", 90, 90, 104, "happy"),  # onset == apex
    ("spNO.149", "d", 500, 480, 520, "fear"),  # apex < onset
    ("spNO.216", "d", 3647, 2668, 3660, "anger"),  # onset 3647 > apex 2668
    ("spNO.216", "e", 0, 0, 1400, "sad"),  # onset = apex = 0
    ("spNO.40", "e", 210, 215, 0, "disgust"),  # offset 0 (two rows)
    ("spNO.40", "e", 260, 266, 0, "surprise"),
    ("spNO.214", "c", 5, 12, 3460, "others"),  # a 3456-frame clip
]
CASME3_BROKEN = {("spNO.149", "d"), ("spNO.216", "d"), ("spNO.216", "e"), ("spNO.40", "e"),
                 ("spNO.214", "c")}  # fmt: skip


def casme3_tree(root: Path) -> Path:
    """``root/<Subject>/<video>/color/<n>.jpg`` (whole videos, unpadded) and the official
    workbook: sheet ``label`` beside a junk ``Sheet1`` and an empty ``Sheet3``, every cell text."""
    rng = np.random.default_rng(5)
    wb = openpyxl.Workbook()
    junk = wb.active
    junk.title = "Sheet1"
    junk.append(["Subject", "counts"])
    ws = wb.create_sheet("label")
    wb.create_sheet("Sheet3")
    ws.append(CASME3_HEADER)
    spans: dict[tuple[str, str], set[int]] = {}
    for sub, video, on, ap, off, emo in CASME3_ROWS:
        ws.append([str(v) for v in (sub, video, on, ap, off, "4", "III", emo)])
        if 0 < off - on < 200:  # the frames of every row that names a real range
            spans.setdefault((sub, video), set()).update(range(on, off + 1))
    for (sub, video), numbers in spans.items():
        _frames(root / sub / video / "color", sorted(numbers), lambda k: f"{k}.jpg", rng)
    wb.save(root / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx")
    return root
