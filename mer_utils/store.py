"""The DI store: every clip's full, DI-Onset and DI-Offset images as uint8, cached on disk.

Layout of one store (``cache/store/<dataset>-<key>/``): ``full.npy`` uint8 [N, 3, S, S] (row i
is clip i), ``onset.npy`` / ``offset.npy`` uint8 [N_kind, 3, S, S], ``index.csv`` (one row per
clip: subject, clip, label, label_idx, onset/apex/offset, apex_source, onset_row, offset_row,
phase notes, face box) and ``meta.json``. ``onset_row`` is -1 where the clip has no DI-Onset
(a 1-frame phase); the reason is in ``onset_note``.

The cache key hashes the spreadsheet bytes, the frame list (path and size of every frame) and
every parameter (size, variant, face crop, annotations), so any change rebuilds and a rerun
loads in well under a second per 100 clips.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mer_utils.claims import exclusive, publish_folder
from mer_utils.console import progress_bar
from mer_utils.datasets import REPORT_COLUMNS, Dataset, Sample
from mer_utils.dynamic_image import DiOrder, Variant, phase_dynamic_images, to_uint8
from mer_utils.frames import detect_face, read_clip, read_frame
from mer_utils.paths import cache_dir

log = logging.getLogger(__name__)
STORE_VERSION = 2  # 2: sha256 of every file in meta.json
KINDS = ("full", "onset", "offset")


@dataclass
class DIStore:
    """uint8 DIs [N_kind, 3, S, S] per kind and the per-clip index table."""

    full: np.ndarray
    onset: np.ndarray
    offset: np.ndarray
    index: pd.DataFrame
    classes: tuple[str, ...]
    key: str

    @property
    def labels(self) -> np.ndarray:
        """int64 [N] class index of each clip."""
        return self.index["label_idx"].to_numpy(np.int64)

    @property
    def subjects(self) -> np.ndarray:
        """object [N] subject id of each clip."""
        return self.index["subject"].to_numpy()

    def __len__(self) -> int:
        return len(self.index)


@dataclass(frozen=True)
class ClipDIs:
    full: np.ndarray
    onset: np.ndarray | None
    offset: np.ndarray | None
    onset_note: str
    offset_note: str
    box: str


def clip_dis(
    s: Sample,
    size: int,
    variant: Variant = "paper",
    face_crop: bool = False,
    order: DiOrder = "native",
) -> ClipDIs:
    """The three uint8 DIs [3, S, S] of one clip (``None`` for a <2-frame phase).

    ``order="native"`` (the paper's: "dynamic images are resized to 224x224") computes each DI
    on the frames at their native size, scales it to uint8, then resizes it (area filter);
    ``"resize_first"`` resizes the frames to S x S first (cheaper; the order before 2026-11-24).
    With ``face_crop`` the Haar face box of the onset frame is applied to every frame; where no
    face is found the full frame is used and the note says so (counted in the index table).
    """
    box, box_note = None, "none (pre-cropped)"
    if face_crop:
        box = detect_face(read_frame(s.frames[0]))
        box_note = (
            "no face found on onset frame: full frame used"
            if box is None
            else ",".join(map(str, box))
        )
    native = order == "native"
    frames = read_clip(s.frames, size=None if native else size, box=box)
    p = phase_dynamic_images(frames, s.onset, s.apex, s.offset, variant, threads=1)

    def u8(di: np.ndarray | None) -> np.ndarray | None:
        if di is None:
            return None
        img = to_uint8(di)
        if native:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(img.transpose(2, 0, 1))

    return ClipDIs(
        u8(p.full), u8(p.onset), u8(p.offset), p.onset_reason or "", p.offset_reason or "", box_note
    )


def face_crop_report(ds: Dataset) -> pd.DataFrame:
    """Validation-report rows (subject, clip, row, problem, policy) for clips whose onset frame
    has no Haar face: the store then uses the full frame for that clip."""
    rows = [
        dict(
            subject=s.subject,
            clip=s.clip,
            row=-1,
            problem=f"no face found on onset frame {s.frames[0].name}",
            policy="face crop: full frame used",
        )
        for s in progress_bar(ds.samples, desc="face boxes", unit="clip")
        if detect_face(read_frame(s.frames[0])) is None
    ]
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def store_key(
    ds: Dataset, size: int, variant: str, face_crop: bool, order: DiOrder = "native"
) -> str:
    """sha256 over the dataset's content fingerprint (annotations, every frame's path and size)
    and all DI parameters."""
    params = dict(
        v=STORE_VERSION, size=size, variant=variant, face_crop=face_crop, classes=ds.classes
    )
    if order != "native":
        params["order"] = order
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    h.update(ds.fingerprint().encode())
    return h.hexdigest()[:20]


def _index_row(i: int, s: Sample, c: ClipDIs, rows: dict[str, int], classes) -> dict:
    return dict(
        clip_idx=i,
        subject=s.subject,
        clip=s.clip,
        label=s.label,
        label_idx=classes.index(s.label),
        onset=s.onset,
        apex=s.apex,
        offset=s.offset,
        apex_source=s.apex_source,
        n_frames=len(s.frames),
        onset_row=rows["onset"],
        offset_row=rows["offset"],
        onset_note=c.onset_note,
        offset_note=c.offset_note,
        face_box=c.box,
    )


def _compute(
    ds: Dataset, size: int, variant: Variant, face_crop: bool, workers: int, order: DiOrder
) -> DIStore:
    with ThreadPoolExecutor(workers) as pool:  # cv2 and numpy release the GIL
        jobs = pool.map(lambda s: clip_dis(s, size, variant, face_crop, order), ds.samples)
        clips = list(
            progress_bar(jobs, total=len(ds.samples), desc=f"DI store {ds.name}", unit="clip")
        )
    arrays: dict[str, list[np.ndarray]] = {k: [] for k in KINDS}
    index = []
    for i, (s, c) in enumerate(zip(ds.samples, clips, strict=True)):
        rows = {}
        for kind in KINDS:
            di = getattr(c, kind)
            rows[kind] = -1 if di is None else len(arrays[kind])
            if di is not None:
                arrays[kind].append(di)
        index.append(_index_row(i, s, c, rows, ds.classes))
    stacked = {
        k: np.stack(v) if v else np.zeros((0, 3, size, size), np.uint8) for k, v in arrays.items()
    }
    return DIStore(**stacked, index=pd.DataFrame(index), classes=ds.classes, key="")


def _save(store: DIStore, folder: Path) -> None:
    """Write the arrays, the index and meta.json (sha256 of every file) into a private
    folder, then publish it by rename: readers see a whole store or none. Call under the
    store's claim."""

    def build(tmp: Path) -> None:
        for k in KINDS:
            np.save(tmp / f"{k}.npy", getattr(store, k))
        store.index.to_csv(tmp / "index.csv", index=False)
        sums = {f.name: _sha256(f) for f in sorted(tmp.iterdir())}
        meta = dict(classes=store.classes, key=store.key, version=STORE_VERSION, sha256=sums)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))

    publish_folder(folder, build)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _load(folder: Path) -> DIStore | None:
    """The store in ``folder`` if every file is there and matches its checksum, else None
    (the reason logged): a damaged store is rebuilt, never used."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        sums = meta["sha256"]
        bad = [
            n
            for n in [*(f"{k}.npy" for k in KINDS), "index.csv"]
            if _sha256(folder / n) != sums.get(n)
        ]
    except (OSError, ValueError, KeyError) as e:
        log.warning("DI store %s incomplete (%s); rebuilding", folder.name, e)
        return None
    if bad:
        log.warning("DI store %s: %s damaged (checksum mismatch); rebuilding", folder.name, bad)
        return None
    arrays = {k: np.load(folder / f"{k}.npy") for k in KINDS}
    index = pd.read_csv(
        folder / "index.csv", dtype={"subject": str, "clip": str}, keep_default_na=False
    )
    return DIStore(**arrays, index=index, classes=tuple(meta["classes"]), key=meta["key"])


def build_store(
    ds: Dataset,
    size: int,
    variant: Variant = "paper",
    face_crop: bool = False,
    cache: bool = True,
    workers: int | None = None,
    order: DiOrder = "native",
) -> DIStore:
    """Build (or load from ``cache/store/``) the DI store of a dataset at ``size`` x ``size``
    (``order``: see :func:`clip_dis`)."""
    key = store_key(ds, size, variant, face_crop, order)
    folder = cache_dir("store") / f"{ds.name}-{size}-{key}"
    build = lambda: _build(ds, size, variant, face_crop, workers or os.cpu_count() or 1, order, key)  # noqa: E731
    if not cache:
        return build()
    with exclusive(folder.with_name(folder.name + ".claim"), f"DI store {folder.name}"):
        t0 = time.perf_counter()
        store = _load(folder) if folder.exists() else None
        if store is not None:
            log.info("DI store %s loaded in %.2fs", folder.name, time.perf_counter() - t0)
            return store
        store = build()
        _save(store, folder)
        return store


def _build(ds, size, variant, face_crop, workers, order, key) -> DIStore:
    store = _compute(ds, size, variant, face_crop, workers, order)
    store.key = key
    return store
