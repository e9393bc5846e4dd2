"""The DI store: every clip's full DI and its phase DIs at every apex cut, as uint8, cached.

Layout of one store (``cache/store/<dataset>-<size>-<key>/``): ``images.npy`` uint8
[M, 3, S, S] (every DI of every clip), ``index.csv`` (one row per clip: subject, clip, label,
label_idx, onset/apex/offset, apex_source, the apex of every cut (``cut:<source>``), the row of
each DI kind in ``images`` (``<kind>_row``, -1 where the clip has none) and why it has none
(``<kind>_note``), the clip's face alignment (``face_*`` columns:
:meth:`mer_utils.faces.ClipAlignment.record`, its transform included, plus ``face_registration``,
the frames the per-frame registration rejected) and ``meta.json``. DI kinds (:data:`STORED_KINDS`): ``full``,
then DI-Onset and DI-Offset cut at the annotated apex (``onset``, ``offset``: what training
uses), at the spotted apex (``onset@spotted``), at the midpoint and at shifted apexes
(``onset@shift+10``: the apex-noise curve). A phase of fewer than 2 frames has no DI.

With a face method (``face`` config field, :class:`mer_utils.faces.FaceParams`) every clip's
frames are read through its alignment (:func:`face_alignments`, one per clip, cached apart so
the stores of every input size share it) and the DIs are made on the aligned crops.

The cache key hashes the dataset's content fingerprint (annotations, every frame's path and
size), every parameter (size, variant, face parameters and ``FACES_VERSION``, order) and the
spotter's version, so any change rebuilds and a rerun loads in well under a second per 100
clips.
"""

from __future__ import annotations

import dataclasses
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
from mer_utils.configurations import APEX_SHIFTS, CUTS, STORED_KINDS, phase_kind, shift_cut
from mer_utils.console import progress_bar
from mer_utils.datasets import NO_SHEET_ROW, REPORT_COLUMNS, Dataset, Sample
from mer_utils.dynamic_image import DiOrder, Variant, dynamic_image, phase_pair, to_uint8
from mer_utils.faces import (
    FACES_VERSION,
    ClipAlignment,
    FaceParams,
    align_clips,
    face_report,
    read_aligned_clip,
    report_rows,
)
from mer_utils.frames import FrameError, read_clip
from mer_utils.paths import cache_dir
from mer_utils.spotting import SPOTTER_VERSION, spot_apex

log = logging.getLogger(__name__)
STORE_VERSION = 3  # 3: one images array, phase DIs at every apex cut (annotated, spotted, ...)


@dataclass
class DIStore:
    """Every DI of a dataset: uint8 ``images`` [M, 3, S, S], ``rows[kind]`` int64 [N] (row of
    clip i's DI of that kind in ``images``, -1 where it has none) and the per-clip index."""

    images: np.ndarray
    rows: dict[str, np.ndarray]
    index: pd.DataFrame
    classes: tuple[str, ...]
    key: str

    def kind(self, name: str) -> np.ndarray:
        """uint8 [n, 3, S, S]: the DIs of kind ``name`` of the clips that have one, in clip order."""
        r = self.rows[name]
        return self.images[r[r >= 0]]

    @property
    def full(self) -> np.ndarray:
        """uint8 [N, 3, S, S]: clip i's full DI is row i."""
        return self.kind("full")

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
    """One clip's DIs by kind (uint8 [3, S, S], None for a < 2-frame phase), why a kind is
    missing, the apex frame number of every cut, and the face columns of the index."""

    dis: dict[str, np.ndarray | None]
    notes: dict[str, str]
    cuts: dict[str, int]
    face: dict[str, object]


def apex_cuts(s: Sample, frames: np.ndarray) -> dict[str, int]:
    """Apex frame number of every cut of :data:`~mer_utils.configurations.CUTS` for clip ``s``
    (``frames`` uint8 [T, H, W, 3], onset..offset): as loaded, spotted from the frames (no
    labels), the midpoint, and the annotated apex shifted by a percentage of the clip (kept
    inside the clip with >= 2 frames per phase)."""
    T = s.offset - s.onset + 1
    cuts = dict(
        annotated=s.apex, spotted=s.onset + spot_apex(frames), midpoint=s.onset + (T - 1) // 2
    )
    for pct in APEX_SHIFTS:
        moved = s.apex + round(pct / 100 * (T - 1))
        cuts[shift_cut(pct)] = int(np.clip(moved, s.onset + 1, s.offset - 1))
    return cuts


def clip_dis(
    s: Sample,
    size: int,
    variant: Variant = "paper",
    face: FaceParams | None = None,
    order: DiOrder = "native",
    alignment: ClipAlignment | None = None,
) -> ClipDIs:
    """Every DI kind of one clip as uint8 [3, S, S] (``None`` for a < 2-frame phase).

    ``order="native"`` (the paper's: "dynamic images are resized to 224x224") computes each DI
    on the frames at their native size, scales it to uint8, then resizes it (area filter);
    ``"resize_first"`` resizes the frames to S x S first (cheaper; the order before 2026-11-24).
    With ``face`` the frames are the clip's aligned crops (:func:`mer_utils.faces.read_aligned_clip`
    by ``alignment``, :func:`face_alignments`' for this clip; ``face.size`` px for ``native``).
    """
    native = order == "native"
    if face is None:
        frames, columns = read_clip(s.frames, size=None if native else size), {"face_method": "none"}  # fmt: skip
    else:
        if alignment is None or alignment.transform is None:
            raise ValueError(f"{s.subject}/{s.clip}: clip_dis with a face method needs the clip's alignment")  # fmt: skip
        crop = read_aligned_clip(s.frames, alignment, face, size=None if native else size)
        frames = crop.frames
        columns = {**alignment.record(), "face_registration": " | ".join(p for p, _ in crop.issues)}

    def u8(di: np.ndarray | None) -> np.ndarray | None:
        if di is None or not di.max() > di.min():  # a frozen phase has no DI (noted below)
            return None
        img = to_uint8(di)
        if native:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(img.transpose(2, 0, 1))

    cuts = apex_cuts(s, frames)
    dis: dict[str, np.ndarray | None] = {"full": u8(dynamic_image(frames, variant, threads=1))}
    if dis["full"] is None:  # the loader drops frozen clips; a face crop can still freeze one
        raise FrameError(
            f"{s.frames[0].parent} ({s.key}, sheet row {s.row or '?'}): its frames do not change "
            f"{'inside its ' + face.method + ' face crop ' if face is not None else ''}: no "
            "dynamic image; re-copy the "
            "clip or remove its sheet row"
        )
    notes: dict[str, str] = {}
    for cut in CUTS:
        pair = phase_pair(frames, cuts[cut] - s.onset, variant, threads=1)
        for phase, (di, why) in zip(("onset", "offset"), pair, strict=True):
            kind = phase_kind(phase, cut)
            dis[kind] = u8(di)
            frozen = di is not None and dis[kind] is None
            notes[kind] = why or (
                f"{phase} phase frozen (identical frames): no DI" if frozen else ""
            )
    return ClipDIs(dis, notes, cuts, columns)


def face_key(params: FaceParams | None) -> dict[str, object]:
    """The face part of a cache key: ``face_crop: False`` for none (the key stores had before
    faces, so they stay valid: the same uncropped frames), else every FaceParams field and
    :data:`~mer_utils.faces.FACES_VERSION`."""
    if params is None:
        return dict(face_crop=False)
    return dict(face={**dataclasses.asdict(params), "version": FACES_VERSION})


def face_alignments(
    ds: Dataset, params: FaceParams, workers: int | None = None, cache: bool = True
) -> list[ClipAlignment]:
    """One :class:`~mer_utils.faces.ClipAlignment` per clip of ``ds`` (same order), computed
    once (:func:`mer_utils.faces.align_clips`) and cached in ``cache/faces/<dataset>-<key>/
    alignments.csv`` (checksummed like a store; a damaged one is recomputed). Fresh or
    loaded, each goes through its record (the CSV's text), so a store is bit-identical either way."""
    h = hashlib.sha256(json.dumps(face_key(params), sort_keys=True).encode())
    h.update(ds.fingerprint().encode())
    folder = cache_dir("faces") / f"{ds.name}-{params.method}-{h.hexdigest()[:20]}"
    compute = lambda: _align(ds, params, workers or os.cpu_count() or 1)  # noqa: E731
    if not cache:
        return [ClipAlignment.from_record(a.record()) for a in compute()]
    with exclusive(folder.with_name(folder.name + ".claim"), f"faces {folder.name}"):
        table = _load_table(folder, "alignments.csv") if folder.exists() else None
        if table is None or len(table) != len(ds.samples):
            table = pd.DataFrame([a.record() for a in compute()])
            _save_table(table, folder, "alignments.csv")
    return [ClipAlignment.from_record(r) for r in table.to_dict("records")]


def _align(ds: Dataset, params: FaceParams, workers: int) -> list[ClipAlignment]:
    """Align every clip of ``ds``; log one warning counting the clips not aligned."""
    clips = [s.frames for s in ds.samples]
    subjects = [s.subject for s in ds.samples]
    out = align_clips(clips, params, subjects, workers, desc=f"faces {ds.name} ({params.method})")
    missed = sum(not a.aligned for a in out)
    if missed:
        log.warning("%s: %d of %d clip(s) without an aligned %s face (on_miss: %s); each is a validation report row", ds.name, missed, len(out), params.method, params.on_miss)  # fmt: skip
    return out


def alignment_report(ds: Dataset, alignments: list[ClipAlignment]) -> pd.DataFrame:
    """Validation-report rows (subject, clip, row: the clip's sheet row, problem, policy) for
    every face issue of every clip: misses with the policy applied, several faces, frames
    without a face."""
    rows = [r for s, a in zip(ds.samples, alignments, strict=True) for r in report_rows(s.subject, s.clip, a.issues, row=s.row or NO_SHEET_ROW)]  # fmt: skip
    return face_report(rows)


def store_face_report(store: DIStore) -> pd.DataFrame:
    """Validation-report rows of a built store: each clip's alignment issues (with the policy
    applied) and the frames its per-frame registration rejected."""
    if "face_issues" not in store.index:
        return pd.DataFrame(columns=REPORT_COLUMNS)
    rows = []
    for r in store.index.to_dict("records"):
        a = ClipAlignment.from_record(r)
        reg = [(p, "face: the clip's transform used for those frames") for p in str(r.get("face_registration") or "").split(" | ") if p]  # fmt: skip
        rows += report_rows(str(r["subject"]), str(r["clip"]), a.issues, reg)
    return face_report(rows)


def store_key(
    ds: Dataset,
    size: int,
    variant: str,
    face: FaceParams | None = None,
    order: DiOrder = "native",
) -> str:
    """sha256 over the dataset's content fingerprint (annotations, every frame's path and size),
    all DI parameters (the face ones: :func:`face_key`) and the spotter's version."""
    params = dict(
        v=STORE_VERSION,
        size=size,
        variant=variant,
        **face_key(face),
        classes=ds.classes,
        spotter=SPOTTER_VERSION,
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
        **{f"cut:{k}": v for k, v in c.cuts.items()},
        **{f"{k}_row": r for k, r in rows.items()},
        **{f"{k}_note": c.notes[k] for k in STORED_KINDS if k != "full"},
        **c.face,
    )


def _compute(
    ds: Dataset,
    size: int,
    variant: Variant,
    face: FaceParams | None,
    workers: int,
    order: DiOrder,
    cache: bool = True,
) -> DIStore:
    aligns = face_alignments(ds, face, workers, cache) if face else [None] * len(ds.samples)
    if any(a is not None and a.transform is None for a in aligns):
        raise ValueError(f"{ds.name}: on_miss 'drop' cannot build a store (folds are split over every loaded clip); use full_frame or previous_box")  # fmt: skip
    with ThreadPoolExecutor(workers) as pool:  # cv2 and numpy release the GIL
        jobs = pool.map(lambda s, a: clip_dis(s, size, variant, face, order, a), ds.samples, aligns)
        clips = list(
            progress_bar(jobs, total=len(ds.samples), desc=f"DI store {ds.name}", unit="clip")
        )
    images: list[np.ndarray] = [c.dis["full"] for c in clips]  # clip i's full DI is row i
    index = []
    for i, (s, c) in enumerate(zip(ds.samples, clips, strict=True)):
        rows = {"full": i}
        for kind in STORED_KINDS[1:]:
            di = c.dis[kind]
            rows[kind] = -1 if di is None else len(images)
            if di is not None:
                images.append(di)
        index.append(_index_row(i, s, c, rows, ds.classes))
    table = pd.DataFrame(index)
    return DIStore(np.stack(images), _rows(table), table, ds.classes, key="")


def _rows(index: pd.DataFrame) -> dict[str, np.ndarray]:
    """kind -> int64 [N] rows in ``images``, from the index's ``<kind>_row`` columns."""
    return {k: index[f"{k}_row"].to_numpy(np.int64) for k in STORED_KINDS}


def _save(store: DIStore, folder: Path) -> None:
    """Write the arrays, the index and meta.json (sha256 of every file) into a private
    folder, then publish it by rename: readers see a whole store or none. Call under the
    store's claim."""

    def build(tmp: Path) -> None:
        np.save(tmp / "images.npy", store.images)
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


def checked_meta(folder: Path, what: str) -> dict | None:
    """``folder``'s meta.json if it and the images and index it checksums are intact, else
    None with the reason logged (``what``: "DI store", "flow store"): a damaged store is
    rebuilt, never used."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        sums = meta["sha256"]
        bad = [n for n in ("images.npy", "index.csv") if _sha256(folder / n) != sums.get(n)]
    except (OSError, ValueError, KeyError) as e:
        log.warning("%s %s incomplete (%s); rebuilding", what, folder.name, e)
        return None
    if bad:
        log.warning("%s %s: %s damaged (checksum mismatch); rebuilding", what, folder.name, bad)
        return None
    return meta


def _load(folder: Path) -> DIStore | None:
    """The store in ``folder`` if every file is there and matches its checksum, else None."""
    if (meta := checked_meta(folder, "DI store")) is None:
        return None
    index = _read_csv(folder / "index.csv")
    images = np.load(folder / "images.npy")
    return DIStore(images, _rows(index), index, tuple(meta["classes"]), meta["key"])


def _read_csv(path: Path) -> pd.DataFrame:
    """An index table: text stays text (an empty cell is ""), the face scores are floats."""
    table = pd.read_csv(path, dtype={"subject": str, "clip": str}, keep_default_na=False)
    for c in ("face_score", "face_spread"):
        if c in table:
            table[c] = pd.to_numeric(table[c].replace("", np.nan))
    return table


def _save_table(table: pd.DataFrame, folder: Path, name: str) -> None:
    """Publish ``folder`` holding ``name`` (the table as CSV) and meta.json (its sha256)."""

    def build(tmp: Path) -> None:
        table.to_csv(tmp / name, index=False)
        (tmp / "meta.json").write_text(json.dumps(dict(sha256={name: _sha256(tmp / name)})))

    publish_folder(folder, build)


def _load_table(folder: Path, name: str) -> pd.DataFrame | None:
    """The table ``folder/name`` if its checksum matches meta.json, else None (logged)."""
    try:
        ok = json.loads((folder / "meta.json").read_text())["sha256"][name] == _sha256(folder / name)  # fmt: skip
    except (OSError, ValueError, KeyError) as e:
        log.warning("%s incomplete (%s); recomputing", folder.name, e)
        return None
    if not ok:
        log.warning("%s: %s damaged (checksum mismatch); recomputing", folder.name, name)
        return None
    return _read_csv(folder / name)


def build_store(
    ds: Dataset,
    size: int,
    variant: Variant = "paper",
    face: FaceParams | None = None,
    cache: bool = True,
    workers: int | None = None,
    order: DiOrder = "native",
) -> DIStore:
    """Build (or load from ``cache/store/``) the DI store of a dataset at ``size`` x ``size``
    (``order``: see :func:`clip_dis`; ``face``: the face method and crop, None for the frames
    as they are)."""
    key = store_key(ds, size, variant, face, order)
    folder = cache_dir("store") / f"{ds.name}-{size}-{key}"
    threads = workers or os.cpu_count() or 1
    build = lambda: _build(ds, size, variant, face, threads, order, key, cache)  # noqa: E731
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


def _build(ds, size, variant, face, workers, order, key, cache=True) -> DIStore:
    store = _compute(ds, size, variant, face, workers, order, cache)
    store.key = key
    return store
