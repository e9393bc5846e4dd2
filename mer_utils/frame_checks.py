"""Decode every frame of a clip once, at load, so that a bad frame drops its clip there instead of
stopping a sweep later: an unreadable file, a frame whose size differs from the clip's first
one, and frames identical to the one before (a frozen clip or phase has no dynamic image).

The loader (:mod:`mer_utils.datasets`) asks :class:`FrameChecks` for each clip it keeps; the
result of a clip is cached under a key of its frames' paths, byte sizes and first and last
bytes (the dataset fingerprint's probes), so a reload decodes only changed clips.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer_utils.claims import write_atomic
from mer_utils.frames import FrameError, read_frame

log = logging.getLogger(__name__)
CHECK_VERSION = 1  # bump when what a check finds changes: cached results are then redone
PROBE = 4096  # bytes from each end of a frame that enter a clip's cache key


@dataclass(frozen=True)
class ClipCheck:
    """What decoding a clip's frames found: the first problem (one line naming the file and
    the fix) or None, and per frame whether it equals the frame before (``same[0]`` False)."""

    problem: str | None
    same: tuple[bool, ...] = ()

    def frozen(self, lo: int, hi: int) -> bool:
        """True when frames ``lo..hi`` (indices into the clip, ``hi > lo``) are all identical."""
        return hi > lo and all(self.same[lo + 1 : hi + 1])


def check_clip(paths: Sequence[Path]) -> ClipCheck:
    """Decode ``paths`` in order (as the DI store will, :func:`mer_utils.frames.read_frame`):
    the first unreadable file or the first frame whose size differs from the first frame's
    ends the check with its problem; else ``same`` flags for every frame."""
    first: np.ndarray | None = None
    prev: np.ndarray | None = None
    same: list[bool] = []
    for p in paths:
        try:
            f = read_frame(p)
        except FrameError as e:
            return ClipCheck(str(e))
        if first is not None and f.shape != first.shape:
            return ClipCheck(
                f"{p}: frame size {_wh(f)} differs from the clip's first frame "
                f"{paths[0].name} ({_wh(first)}); re-copy the clip from the dataset"
            )
        same.append(prev is not None and np.array_equal(f, prev))
        first = f if first is None else first
        prev = f
    return ClipCheck(None, tuple(same))


def _wh(frame: np.ndarray) -> str:
    return f"{frame.shape[1]}x{frame.shape[0]}"


def clip_key(paths: Sequence[Path]) -> str:
    """sha256 (20 hex) of each frame's absolute path, byte size and first and last
    :data:`PROBE` bytes: any re-copied or edited frame changes it."""
    h = hashlib.sha256(f"v{CHECK_VERSION}".encode())
    for p in paths:
        size = p.stat().st_size
        h.update(f"{p.resolve()}:{size}:".encode())
        h.update(frame_probe(p, size))
    return h.hexdigest()[:20]


def frame_probe(path: Path, size: int) -> bytes:
    """The first and last :data:`PROBE` bytes of the ``size``-byte file ``path`` (each byte
    once; the whole file when shorter than 2 x PROBE): what keys a frame's content without
    reading all of it (also :meth:`mer_utils.datasets.Dataset.fingerprint`)."""
    with open(path, "rb") as fh:
        head = fh.read(PROBE)
        if size <= PROBE:
            return head
        fh.seek(max(PROBE, size - PROBE))
        return head + fh.read(PROBE)


class FrameChecks:
    """:func:`check_clip` with an optional JSON cache file (``None``: always decode)."""

    def __init__(self, cache: Path | None = None) -> None:
        self.cache = cache
        self.done: dict[str, dict] = {}
        self.decoded = 0  # clips decoded by this object (not found in the cache)
        if cache is not None and cache.is_file():
            try:
                self.done = json.loads(cache.read_text())
            except (OSError, ValueError) as e:
                log.warning("%s: unreadable frame-check cache (%s); clips are re-checked", cache, e)

    def check(self, paths: Sequence[Path]) -> ClipCheck:
        """The check of a clip's frames (cached when the frames are unchanged)."""
        key = clip_key(paths)
        hit = self.done.get(key)
        if hit is None or len(hit["same"]) not in (0, len(paths)):
            c = check_clip(paths)
            self.decoded += 1
            self.done[key] = hit = dict(problem=c.problem, same=[int(s) for s in c.same])
        return ClipCheck(hit["problem"], tuple(bool(s) for s in hit["same"]))

    def save(self) -> None:
        """Write the cache (atomically) when something new was decoded."""
        if self.cache is not None and self.decoded:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.cache, lambda tmp: tmp.write_text(json.dumps(self.done)))
