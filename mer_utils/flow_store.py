"""The flow store: every clip's onset->apex and apex->offset optical flow as uint8 codes, cached.

A sibling of the DI store (:mod:`mer_utils.store`) with the same guarantees, kept apart so that
each rebuilds only for its own reasons: changing the flow algorithm never recomputes a DI (and
never changes the DI store's key, which DI fold records check), and a DI-only run never computes
a flow. Layout (``cache/flow_store/<dataset>-<size>-<algorithm>-<key>/``): ``images.npy`` uint8
[M, 3, S, S] (u, v, strain codes of :func:`mer_utils.flow.encode_flow`), ``index.csv`` (one row
per clip in the dataset's order: subject, clip, label_idx, onset/apex/offset, the row of each
kind of :data:`~mer_utils.configurations.FLOW_KINDS` in ``images`` (``<kind>_row``, -1 for a
1-frame phase) and why (``<kind>_note``)) and ``meta.json`` (the sha256 of both files, the key,
the flow parameters). A store whose checksums do not match is rebuilt, never used; it is built
under a claim in a private folder and published by rename, with a thread per core (OpenCV's
flow calls release the GIL: ``benchmarks/bench_flow.py``).

The key hashes the dataset's content fingerprint, the classes, the face crop, the spotter's
version (a missing apex is spotted by the loader) and :meth:`mer_utils.flow.FlowParams.key`
(algorithm and only its parameters, size, encoding, ``FLOW_VERSION``, OpenCV's version).
Training reads a flow store merged into the DI store's rows (:func:`with_flows`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mer_utils.claims import exclusive, publish_folder
from mer_utils.configurations import FLOW_KINDS
from mer_utils.console import progress_bar
from mer_utils.datasets import Dataset, Sample
from mer_utils.flow import FlowParams, encode_flow, require_algorithm, sample_flows
from mer_utils.frames import detect_face, read_frame
from mer_utils.paths import cache_dir
from mer_utils.spotting import SPOTTER_VERSION
from mer_utils.store import DIStore, _sha256, checked_meta

log = logging.getLogger(__name__)
FLOW_STORE_VERSION = 1


@dataclass
class FlowStore:
    """Every flow of a dataset: uint8 ``images`` [M, 3, S, S] (u, v, strain codes),
    ``rows[kind]`` int64 [N] (row of clip i's flow of that kind, -1 where it has none), the
    per-clip index, the parameters and the cache key."""

    images: np.ndarray
    rows: dict[str, np.ndarray]
    index: pd.DataFrame
    params: FlowParams
    key: str

    def kind(self, name: str) -> np.ndarray:
        """uint8 [n, 3, S, S]: the flows of kind ``name`` of the clips that have one."""
        r = self.rows[name]
        return self.images[r[r >= 0]]

    def __len__(self) -> int:
        return len(self.index)


def flow_store_key(ds: Dataset, params: FlowParams, face_crop: bool) -> str:
    """sha256 over the dataset's content fingerprint and every flow parameter (module doc)."""
    key = dict(
        v=FLOW_STORE_VERSION,
        flow=params.key(),
        face_crop=face_crop,
        classes=ds.classes,
        spotter=SPOTTER_VERSION,
    )
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode())
    h.update(ds.fingerprint().encode())
    return h.hexdigest()[:20]


def _clip(s: Sample, params: FlowParams, face_crop: bool) -> tuple[list, list[str]]:
    """([onset codes, offset codes] uint8 [3, S, S] or None, [notes]) of one clip, with the
    DI store's face box (Haar box of the onset frame) when ``face_crop``."""
    box = detect_face(read_frame(s.frames[0])) if face_crop else None
    c = sample_flows(s, params, box)
    codes = [None if m is None else encode_flow(m, params) for m in (c.onset, c.offset)]
    return codes, [c.onset_note, c.offset_note]


def _compute(ds: Dataset, params: FlowParams, face_crop: bool, workers: int) -> FlowStore:
    with ThreadPoolExecutor(workers) as pool:  # cv2's flow calls release the GIL
        jobs = pool.map(lambda s: _clip(s, params, face_crop), ds.samples)
        clips = list(
            progress_bar(jobs, total=len(ds.samples), desc=f"flow store {ds.name}", unit="clip")
        )
    images: list[np.ndarray] = []
    index = []
    for i, (s, (codes, notes)) in enumerate(zip(ds.samples, clips, strict=True)):
        row = dict(clip_idx=i, subject=s.subject, clip=s.clip, label=s.label,
                   label_idx=ds.classes.index(s.label), onset=s.onset, apex=s.apex,
                   offset=s.offset)  # fmt: skip
        for kind, code, note in zip(FLOW_KINDS, codes, notes, strict=True):
            row[f"{kind}_row"] = -1 if code is None else len(images)
            row[f"{kind}_note"] = note
            if code is not None:
                images.append(code)
        index.append(row)
    side = params.size
    stack = np.stack(images) if images else np.zeros((0, 3, side, side), np.uint8)
    table = pd.DataFrame(index)
    return FlowStore(stack, _rows(table), table, params, key="")


def _rows(index: pd.DataFrame) -> dict[str, np.ndarray]:
    return {k: index[f"{k}_row"].to_numpy(np.int64) for k in FLOW_KINDS}


def _save(store: FlowStore, folder: Path) -> None:
    """Arrays, index and meta.json (sha256 of each file) published whole (call under claim)."""

    def build(tmp: Path) -> None:
        np.save(tmp / "images.npy", store.images)
        store.index.to_csv(tmp / "index.csv", index=False)
        sums = {f.name: _sha256(f) for f in sorted(tmp.iterdir())}
        meta = dict(key=store.key, version=FLOW_STORE_VERSION, flow=store.params.key(),
                    sha256=sums)  # fmt: skip
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))

    publish_folder(folder, build)


def _load(folder: Path, params: FlowParams) -> FlowStore | None:
    """The store in ``folder`` if every file is there and matches its checksum, else None
    (:func:`mer_utils.store.checked_meta`: a damaged store is rebuilt, never used)."""
    if (meta := checked_meta(folder, "flow store")) is None:
        return None
    index = pd.read_csv(
        folder / "index.csv", dtype={"subject": str, "clip": str}, keep_default_na=False
    )
    return FlowStore(np.load(folder / "images.npy"), _rows(index), index, params, meta["key"])


def build_flow_store(
    ds: Dataset,
    params: FlowParams,
    face_crop: bool = False,
    cache: bool = True,
    workers: int | None = None,
) -> FlowStore:
    """Build (or load from ``cache/flow_store/``) the flow store of ``ds`` with ``params``
    (algorithm, size S, encoding), a thread per core unless ``workers`` says otherwise."""
    require_algorithm(params.algorithm)  # before any work: TV-L1 needs opencv-contrib
    key = flow_store_key(ds, params, face_crop)
    folder = cache_dir("flow_store") / f"{ds.name}-{params.size}-{params.algorithm}-{key}"

    def build() -> FlowStore:
        store = _compute(ds, params, face_crop, workers or os.cpu_count() or 1)
        store.key = key
        return store

    if not cache:
        return build()
    with exclusive(folder.with_name(folder.name + ".claim"), f"flow store {folder.name}"):
        t0 = time.perf_counter()
        store = _load(folder, params) if folder.exists() else None
        if store is not None:
            log.info("flow store %s loaded in %.2fs", folder.name, time.perf_counter() - t0)
            return store
        store = build()
        _save(store, folder)
        return store


def with_flows(di: DIStore, flows: FlowStore) -> DIStore:
    """The DI store with the flow kinds added: ``images`` = DIs then flows (one uint8 array
    [M + M', 3, S, S], so training gathers either by row), ``rows`` gains each of
    :data:`~mer_utils.configurations.FLOW_KINDS` (shifted past the DIs, -1 kept). Both stores
    must hold the same clips in the same order at the same size."""
    same = (
        len(di.index) == len(flows.index)
        and (di.index["subject"].to_numpy() == flows.index["subject"].to_numpy()).all()
        and (di.index["clip"].to_numpy() == flows.index["clip"].to_numpy()).all()
    )
    if not same or di.images.shape[1:] != flows.images.shape[1:]:
        raise ValueError(
            f"DI store {di.key} and flow store {flows.key} differ in clips or size "
            f"({di.images.shape[1:]} vs {flows.images.shape[1:]}); build both from one dataset"
        )
    offset = len(di.images)
    rows = dict(di.rows)
    for kind, r in flows.rows.items():
        rows[kind] = np.where(r >= 0, r + offset, -1)
    images = np.concatenate([di.images, flows.images])
    return replace(di, images=images, rows=rows)
