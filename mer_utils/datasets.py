"""The dataset loader: annotation spreadsheet + frame folders -> ``Sample`` records.

One loader reads every dataset of :mod:`mer_utils.dataset_specs` (CASME-II, SAMM) as its
official distribution is laid out (``shared/datasets.md``), and our synthetic copies, which use
the same layouts. Every quirk found is one row of the validation report
(subject, clip, Excel row, problem, policy applied). Policies:

- label outside the 5-class task (e.g. sadness, fear): excluded, counted;
- missing / non-numeric / out-of-range apex (``'/'``, ``-1``, apex > offset): re-estimated by
  the label-free spotter (:func:`mer_utils.spotting.spot_apex`: the peak of block-wise change
  against the neutral onset/offset frames, never the first or the last frame;
  ``apex_policy="estimate"``, default), or the clip is dropped (``apex_policy="drop"``);
- apex == onset or apex == offset: kept; that phase has no phase DI (1 frame), reported;
- 2-frame phase: kept; that phase DI is a plain frame difference, reported;
- a clip folder that disagrees with the sheet (``on_mismatch``; the paper is silent):
  frames missing at the end or the start of [onset, offset], a run missing inside it, or a
  folder whose frames lie mostly or wholly outside it. ``"cut"`` (default) keeps the longest
  run of consecutive existing frames inside the range that holds the apex (annotated, or
  re-estimated there when the annotated one is gone) if each phase keeps >= 2 frames, else
  drops the clip; ``"drop"`` drops every such clip; ``"raise"`` stops. Each cut or drop is a
  report row saying exactly what was cut, and the load ends with one warning counting them;
- a bad frame inside the kept range (:mod:`mer_utils.frame_checks`, every frame decoded once,
  cached): an empty, truncated (a JPEG without its end-of-image marker) or undecodable file, a
  frame whose size differs from the clip's first frame, a clip whose frames are all identical
  or a phase (onset..apex, apex..offset) frozen on one image (no dynamic image exists): the
  clip is dropped with a row naming the file and the sheet row, and counted in the load's
  warning (``"raise"``: an error);
- data errors (onset/offset unparsable, clip folder missing): a report row and the clip
  dropped, or with ``on_mismatch="raise"`` a :class:`DatasetError`; all errors of a load are
  collected and reported together, each naming the file/row and the fix;
- an unknown emotion label is always an error (a typo would otherwise vanish silently).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import openpyxl
import pandas as pd

from mer_utils.dataset_specs import (
    ApexPolicy,
    DatasetError,
    DatasetSpec,
    FrameLayout,
    OnMismatch,
    SheetLayout,
    composite_of,
    normalise_label,
    spec_of,
)
from mer_utils.frame_checks import ClipCheck, FrameChecks, frame_probe
from mer_utils.frames import FrameError, index_frames
from mer_utils.spotting import read_for_spotting, spot_apex

if TYPE_CHECKING:
    from mer_utils.config import Config

log = logging.getLogger(__name__)

REPORT_COLUMNS = ["subject", "clip", "row", "problem", "policy"]
NO_SHEET_ROW = "no sheet row"  # the ``row`` of a report row that no sheet row caused


@dataclass(frozen=True)
class Sample:
    """One annotated clip. ``frames`` are the paths of frames onset..offset in numeric order."""

    dataset: str
    subject: str
    clip: str
    onset: int
    apex: int
    offset: int
    label: str
    action_units: str
    frames: tuple[Path, ...]
    apex_source: Literal["annotated", "estimated", "midpoint"] = "annotated"
    row: int = 0  # the sheet row (Excel, 1-based) it was read from; 0: none

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.clip}"


@dataclass
class Dataset:
    """Loaded dataset: samples, the 5 classes (in order), the spreadsheet used, the report."""

    name: str
    root: Path
    spreadsheet: Path
    classes: tuple[str, ...]
    samples: list[Sample]
    report: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REPORT_COLUMNS))

    def counts(self) -> pd.Series:
        """Clips per class, in class order."""
        c = Counter(s.label for s in self.samples)
        return pd.Series({k: c.get(k, 0) for k in self.classes}, name="clips")

    def labels(self) -> np.ndarray:
        """int64 [N] class indices into ``classes``."""
        return np.array([self.classes.index(s.label) for s in self.samples], dtype=np.int64)

    def fingerprint(self) -> str:
        """Content-based id (20 hex) of what was loaded: classes, each clip's annotations and,
        per frame, its relative path, byte size and first and last 4 KiB
        (:func:`mer_utils.frame_checks.frame_probe`: a re-exported JPEG with other pixels but
        the same size differs there, without reading whole files). Not the spreadsheet's bytes (openpyxl
        stamps a time into every file), nor times, so an identical regeneration keeps the id;
        any change to a row, a label or the frame set changes it."""
        h = hashlib.sha256(json.dumps(self.classes).encode())
        for s in self.samples:
            h.update(f"{s.key}|{s.onset}|{s.apex}|{s.offset}|{s.label}|{s.apex_source}\n".encode())
            for f in s.frames:
                size = f.stat().st_size
                h.update(f"{f.relative_to(self.root)}:{size}:".encode())
                h.update(frame_probe(f, size))
        return h.hexdigest()[:20]


@dataclass(frozen=True)
class _Row:
    row: int  # Excel row number, 1-based, for messages
    subject: str
    clip: str
    onset: object
    apex: object
    offset: object
    emotion: object
    aus: object
    error: str = ""  # a cell no load can read (a text Subject): the line naming it and the fix
    folder: Path | None = None  # the clip's frame folder when the row source knows it


SUBJECT_CELL = re.compile(r"\s*[A-Za-z._ -]*?(\d+)(?:\.0+)?\s*")  # '01', 1, 1.0, 'spNO.1', 's1'


def normalise_subject(raw: object, subject_id: str, sheet: Path, row: int) -> str:
    """Text '01', number 1 (or 1.0), or a prefixed id 'spNO.1' -> ``subject_id.format(1)``
    (e.g. 'sub01', '001', 'spNO.1')."""
    m = SUBJECT_CELL.fullmatch(str(raw))
    if m is None:
        raise DatasetError(f"{sheet} row {row}: Subject {raw!r} is not a number; fix the cell")
    return subject_id.format(int(m.group(1)))


def parse_frame_number(raw: object) -> int | None:
    """A frame-number cell -> int, or None for blanks, '/', text and negatives such as -1."""
    try:
        v = float(str(raw).strip())
    except ValueError:
        return None
    return int(v) if np.isfinite(v) and v >= 0 and v == int(v) else None


# ---------------------------------------------------------------- spreadsheets


def workbook_sheets(path: Path) -> list[str]:
    """Worksheet names of an .xlsx file; DatasetError naming the file if it is none."""
    if not path.is_file():
        raise DatasetError(f"{path}: spreadsheet not found; set spreadsheet: PATH to the .xlsx")
    head = path.read_bytes()[:8]
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise DatasetError(f"{path}: an old .xls workbook; open it and save it as .xlsx")
    if not head.startswith(b"PK"):
        raise DatasetError(
            f"{path}: not an .xlsx workbook (starts with {head[:4]!r}); is this the annotation "
            "spreadsheet? Re-copy it from the dataset"
        )
    try:
        return openpyxl.load_workbook(path, read_only=True).sheetnames
    except Exception as e:  # a damaged zip or xml: one line that names the file
        raise DatasetError(
            f"{path}: cannot be opened as .xlsx ({type(e).__name__}: {e}); re-copy it"
        ) from None


def _worksheet(path: Path, sheet: SheetLayout, lone_ok: bool) -> str | None:
    """``sheet.worksheet`` if ``path`` has it; with ``lone_ok`` also the only worksheet of a
    file whose sheet was renamed (logged). None if neither."""
    names = workbook_sheets(path)
    if sheet.worksheet in names:
        return sheet.worksheet
    if lone_ok and len(names) == 1:
        log.info("%s: worksheet %r read (no %r)", path, names[0], sheet.worksheet)
        return names[0]
    return None


def find_sheet(root: Path, spec: DatasetSpec, spreadsheet: Path | None) -> tuple[Path, str]:
    """(workbook, worksheet) of a copy: ``spreadsheet``, else the first of the spec's known file
    names, else any ``sheet.glob`` workbook holding the coding worksheet. DatasetError naming
    the file and the fix otherwise."""
    sheet = spec.sheet
    named = [spreadsheet] if spreadsheet else [root / f for f in sheet.files]
    for path in named:
        if spreadsheet or path.is_file():
            if ws := _worksheet(path, sheet, lone_ok=True):
                _say_which(path, [p for p in named if p != path and p.is_file()])
                return path, ws
            raise DatasetError(
                f"{path}: no worksheet {sheet.worksheet!r} (found {workbook_sheets(path)}); "
                f"rename the coding sheet back to {sheet.worksheet}"
            )
    for path in sorted(root.glob(sheet.glob)):
        if ws := _worksheet(path, sheet, lone_ok=False):
            return path, ws
    old = sorted(root.glob(sheet.glob.removesuffix("x")))  # CASME2-coding-*.xls
    if old:
        raise DatasetError(
            f"{old[0]}: an old .xls workbook; open it and save it as .xlsx (or: libreoffice "
            f"--headless --convert-to xlsx '{old[0].name}'), then rerun"
        )
    raise DatasetError(
        f"{root}: no {spec.title} annotation workbook (an .xlsx with a {sheet.worksheet} "
        f"sheet) found; put {sheet.files[0]} in the dataset root or set spreadsheet: PATH "
        "(--set spreadsheet=PATH)"
    )


def _say_which(read: Path, others: list[Path]) -> None:
    """One warning when a root holds several versions of the sheet: which one is read."""
    if others:
        log.warning(
            "%s: read %s; %s also here, not read (set spreadsheet: PATH to read another)",
            *(read.parent, read.name, ", ".join(p.name for p in others)),
        )


def check_root(root: Path, top: str, sheet_hint: str) -> None:
    """DatasetError unless ``root`` exists and holds the frame folder ``top``."""
    if not root.is_dir():
        raise DatasetError(
            f"{root}: data root does not exist; set DATA_ROOT (data_root) to the folder holding "
            f"{top}/ and {sheet_hint}"
        )
    if not (root / top).is_dir():
        seen = sorted(p.name for p in root.iterdir())[:8]
        raise DatasetError(
            f"{root}: no {top}/ folder (found {seen}); DATA_ROOT must be the folder holding "
            f"{top}/ and {sheet_hint}"
        )


def _header(raw: pd.DataFrame, sheet: SheetLayout, path: Path) -> int:
    """0-based index of the header row: the first of 40 rows whose first cell is the Subject
    column (the official files have it at Excel row ``sheet.header_row``)."""
    for i in range(min(len(raw), 40)):
        if str(raw.iat[i, 0]).strip() == sheet.subject:
            return i
    raise DatasetError(
        f"{path}: no header row starting with {sheet.subject!r} in the first 40 rows "
        f"(the official file has it in row {sheet.header_row})"
    )


def sheet_rows(path: Path, worksheet: str, sheet: SheetLayout) -> Iterator[_Row]:
    """The data rows of an annotation worksheet, each with its Excel row number."""
    raw = pd.read_excel(path, sheet_name=worksheet, header=None, dtype=object)
    h = _header(raw, sheet, path)
    df = raw.iloc[h + 1 :].copy()
    df.columns = ["" if pd.isna(c) else str(c).strip() for c in raw.iloc[h]]
    _check_columns(list(df.columns), sheet, path, h + 1)
    for i, r in df.iterrows():
        if pd.isna(r[sheet.subject]) and pd.isna(r[sheet.clip]):
            continue  # trailing blank rows
        row, error = int(i) + 1, ""
        try:
            subject = normalise_subject(r[sheet.subject], sheet.subject_id, path, row)
        except DatasetError as e:  # collected with the load's other errors
            subject, error = str(r[sheet.subject]).strip(), str(e)
        yield _Row(
            row=row, subject=subject, clip=str(r[sheet.clip]).strip(), onset=r[sheet.onset],
            apex=r[sheet.apex], offset=r[sheet.offset], emotion=r[sheet.emotion],
            aus=r.get(sheet.action_units, ""), error=error,
        )  # fmt: skip


def _check_columns(found: list[str], sheet: SheetLayout, path: Path, header_row: int) -> None:
    """DatasetError naming every required column missing from the header (Excel row
    ``header_row``), the renamed one it most looks like, and the columns found (blank cells
    shown as such, not as ``nan``)."""
    missing = [c for c in sheet.required if c not in found]
    if not missing:
        return
    import difflib

    fixes = []
    for c in missing:
        near = difflib.get_close_matches(c, [f for f in found if f], n=1, cutoff=0.6)
        fixes.append(f"{c!r} (rename {near[0]!r} to it)" if near else repr(c))
    shown = ", ".join(repr(f) if f else "(blank)" for f in found)
    raise DatasetError(
        f"{path} row {header_row}: column(s) {', '.join(fixes)} missing; the header holds "
        f"{shown}; fix the header cell(s), or is this not the official annotation sheet?"
    )


# ---------------------------------------------------------------- rows -> samples


@dataclass
class _Loader:
    name: str  # the dataset name loaded (``synthetic_casme2`` reads casme2's layout)
    spec: DatasetSpec
    at: Located
    apex_policy: ApexPolicy
    on_mismatch: OnMismatch
    checks: FrameChecks = field(default_factory=FrameChecks)
    report: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cut: int = 0
    dropped: int = 0
    bad_frames: int = 0  # clips dropped for a bad frame (also counted in ``dropped``)
    droppable: int = 0  # errors (on_mismatch='raise') that 'cut' or 'drop' would report instead
    listed: set[Path] = field(default_factory=set)  # the clip folder of every row
    task: str = ""  # a class task of the spec (``3class``), for the exclusion notes

    @property
    def sheet(self) -> Path:
        return self.at.sheet

    def note(self, r: _Row, problem: str, policy: str) -> None:
        self.report.append(
            dict(subject=r.subject, clip=r.clip, row=r.row, problem=problem, policy=policy)
        )
        log.info(
            "%s %s/%s (row %d): %s -> %s", self.name, r.subject, r.clip, r.row, problem, policy
        )

    def drop(self, r: _Row, problem: str, why: str = "", bad_frame: bool = False) -> None:
        """Drop the clip with a report row, or collect an error under ``on_mismatch='raise'``.
        ``bad_frame``: the clip goes for a bad frame (counted apart, whatever the policy)."""
        if self.on_mismatch == "raise":
            self.errors.append(f"{problem} [{self.sheet.name} row {r.row}]")
            self.droppable += 1
            return None
        self.dropped += 1
        self.bad_frames += bad_frame
        policy = (
            "dropped (bad frame)"
            if bad_frame
            else f"dropped{why} (on_mismatch={self.on_mismatch!r})"
        )
        self.note(r, problem, policy)
        return None

    def sample(self, r: _Row) -> Sample | None:
        self.listed.add(r.folder or self.at.frames.clip_dir(self.at.root, r.subject, r.clip))
        if r.error or (bad := label_error(self.spec, self.sheet, r)):
            self.errors.append(r.error or bad)
            return None
        label = normalise_label(r.emotion)
        if label not in self.spec.classes:
            task = f"{self.task or f'{len(self.spec.classes)}-class'} task"
            self.note(r, f"label {label!r} not in the {task}", "excluded (counted)")
            return None
        onset, offset = parse_frame_number(r.onset), parse_frame_number(r.offset)
        if onset is None or offset is None or offset - onset < 1:
            return self.drop(r, f"{self.sheet}: bad onset/offset {r.onset!r}/{r.offset!r}")
        if self.spec.max_length and offset - onset + 1 > self.spec.max_length:
            n = offset - onset + 1
            return self.drop(
                r,
                f"{self.sheet}: onset {onset} .. offset {offset} spans {n} frames, more "
                f"than a micro-expression can ({self.spec.max_length}); a broken row",
            )
        kept = self.frames(r, onset, offset)
        if kept is None:
            return None
        frames, lo, hi = kept
        check = self.check_frames(r, frames)
        if check is None:
            return None
        apex, source = self.apex(r, lo, hi, frames)
        if apex is None or self.frozen_phase(r, check, lo, apex, hi, frames):
            return None
        if (lo, hi) != (onset, offset) and min(apex - lo, hi - apex) < 1:
            return self.drop(r, f"cut range [{lo}, {hi}] leaves a 1-frame phase at apex {apex}")
        self.cut += (lo, hi) != (onset, offset)
        self.phase_notes(r, lo, apex, hi)
        aus = "" if pd.isna(r.aus) else str(r.aus).strip()
        return Sample(self.name, r.subject, r.clip, lo, apex, hi, label, aus, frames, source, r.row)

    def check_frames(self, r: _Row, frames: tuple[Path, ...]) -> ClipCheck | None:
        """Every frame decoded (cached): None, the clip dropped, for an unreadable or resized
        frame or a clip of identical frames."""
        check = self.checks.check(frames)
        if check.problem:
            return self.drop(r, check.problem, bad_frame=True)
        if check.frozen(0, len(frames) - 1):
            return self.drop(
                r,
                f"{frames[0].parent}: all {len(frames)} frames {frames[0].name}..{frames[-1].name} "
                "are identical (a frozen clip has no dynamic image); re-copy the clip",
                bad_frame=True,
            )
        return check

    def frozen_phase(
        self, r: _Row, check: ClipCheck, lo: int, apex: int, hi: int, frames: tuple[Path, ...]
    ) -> bool:
        """True, the clip dropped, when its onset or offset phase is one repeated image."""
        for name, a, b in (("onset", 0, apex - lo), ("offset", apex - lo, hi - lo)):
            if check.frozen(a, b):
                self.drop(
                    r,
                    f"{frames[a].parent}: {name} phase frames {frames[a].name}..{frames[b].name} "
                    f"are identical (apex {apex}: no DI-{name.title()} exists); re-copy the clip",
                    bad_frame=True,
                )
                return True
        return False

    def frames(self, r: _Row, onset: int, offset: int) -> tuple[tuple[Path, ...], int, int] | None:
        """Paths of the frames kept and the kept range [lo, hi] (``on_mismatch``)."""
        folder = r.folder or self.at.frames.clip_dir(self.at.root, r.subject, r.clip)
        try:
            found = index_frames(folder, self.at.frames.pattern)
        except FrameError as e:
            return self.drop(r, str(e))
        if not found:
            return self.drop(r, no_frame_named(folder, self.at.frames, r.subject))
        inside = [n for n in range(onset, offset + 1) if n in found]
        lo, hi = onset, offset
        if len(inside) < offset - onset + 1:
            problem = f"{folder}: {describe_mismatch(sorted(found), onset, offset, inside)}"
            if self.on_mismatch != "cut" or len(inside) < 3:
                why = ": nothing of the range exists" if not inside else ": < 3 frames exist"
                return self.drop(r, problem, why if self.on_mismatch == "cut" else "")
            lo, hi = _run_with_apex(inside, parse_frame_number(r.apex))
            if hi - lo < 2:
                return self.drop(r, problem, f": longest run [{lo}, {hi}] has < 3 frames")
            kept = f"cut to [{lo}, {hi}] ({hi - lo + 1} of {offset - onset + 1} frames)"
            self.note(r, f"{problem}; {kept}", "cut to the existing frames around the apex")
        return tuple(found[n] for n in range(lo, hi + 1)), lo, hi

    def apex(self, r: _Row, onset: int, offset: int, frames: tuple[Path, ...]):
        apex = parse_frame_number(r.apex)
        if apex is not None and onset <= apex <= offset:
            return apex, "annotated"
        problem = (
            f"no apex annotation ({self.spec.title} has none)"
            if self.spec.sheet is None
            else f"apex {r.apex!r} missing or not a frame number"
            if apex is None
            else f"apex {apex} outside [onset {onset}, offset {offset}]"
        )
        if self.apex_policy == "drop":
            self.dropped += 1
            self.note(r, problem, "dropped (apex_policy='drop')")
            return None, None
        if self.apex_policy == "midpoint":
            mid = (onset + offset) // 2
            self.note(r, f"{problem}: midpoint {mid}", "apex = the clip's middle frame (midpoint)")
            return mid, "midpoint"
        est = onset + spot_apex(read_for_spotting(frames))
        self.note(
            r,
            f"{problem}: estimated frame {est}",
            "apex re-estimated (label-free spotter)",
        )
        return est, "estimated"

    def phase_notes(self, r: _Row, onset: int, apex: int, offset: int) -> None:
        for name, n in (("onset", apex - onset + 1), ("offset", offset - apex + 1)):
            if n == 1:
                self.note(
                    r,
                    f"{name} phase has 1 frame (apex == {name})",
                    f"no DI-{name.title()} for this clip",
                )
            elif n == 2:
                self.note(
                    r, f"{name} phase has 2 frames", f"DI-{name.title()} is a frame difference"
                )


def label_error(spec: DatasetSpec, sheet: Path, r: _Row) -> str:
    """The line for an emotion cell that is no label of ``spec`` ("" if it is one)."""
    if normalise_label(r.emotion) in spec.labels:
        return ""
    return (
        f"{sheet} row {r.row}: unknown emotion {r.emotion!r} for {r.subject}/{r.clip}; "
        f"expected one of {sorted(spec.labels)}: fix the cell"
    )


def no_frame_named(folder: Path, layout: FrameLayout, subject: str) -> str:
    """The line for a clip folder where no file is named as the layout's frames are."""
    files = sorted(p.name for p in folder.iterdir())
    seen = (
        f"it holds {len(files)} file(s): {', '.join(files[:3])}{' ...' if len(files) > 3 else ''}"
    )
    return (
        f"{folder}: no frame named like {layout.example(subject)} "
        f"({seen if files else 'it is empty'}); frames must be JPEGs named "
        f"{layout.example(subject)} (lower-case .jpg): rename or convert them"
    )


def describe_mismatch(found: list[int], onset: int, offset: int, inside: list[int]) -> str:
    """One phrase saying how a folder's frames (``found``, sorted) disagree with [onset, offset]."""
    where = f"folder holds frames {found[0]}..{found[-1]}" if found else "folder holds no frame"
    if not inside:
        return f"{where}, none inside [{onset}, {offset}]"
    missing = offset - onset + 1 - len(inside)
    gaps = [
        f"{a}..{b}" if a != b else f"{a}"
        for a, b in _runs(sorted(set(range(onset, offset + 1)) - set(inside)))
    ]
    shown = ", ".join(gaps[:4]) + (" ..." if len(gaps) > 4 else "")
    return f"{missing} of {offset - onset + 1} frames of [{onset}, {offset}] missing ({shown}); {where}"


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Sorted ints -> maximal runs of consecutive values as (first, last)."""
    out: list[tuple[int, int]] = []
    for n in numbers:
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def _run_with_apex(inside: list[int], apex: int | None) -> tuple[int, int]:
    """The run of consecutive frames holding ``apex``, else the longest (earliest on ties)."""
    runs = _runs(inside)
    hit = [r for r in runs if apex is not None and r[0] <= apex <= r[1]]
    return hit[0] if hit else max(runs, key=lambda r: (r[1] - r[0], -r[0]))


def _load(loader: _Loader, rows: Iterator[_Row]) -> Dataset:
    samples = [s for r in rows if (s := loader.sample(r)) is not None]
    dup = [k for k, n in Counter(s.key for s in samples).items() if n > 1]
    if dup:
        loader.errors.append(
            f"{loader.sheet}: clips listed twice: {dup}; remove the duplicate rows"
        )
    if loader.errors:
        n, hard = loader.droppable, len(loader.errors) - loader.droppable
        hint = (
            f"\n(on_mismatch='cut' or 'drop' loads the rest and reports each of the {n} clip(s) "
            "whose folder or frames disagree"
            + (f"; the other {hard} need the sheet fixed)" if hard else ")")
            if n
            else ""
        )
        raise DatasetError(
            f"{len(loader.errors)} data error(s) loading {loader.name} from {loader.sheet}:\n  "
            + "\n  ".join(loader.errors)
            + hint
        )
    if not samples:
        raise DatasetError(
            f"{loader.sheet}: no clip loaded ({len(loader.report)} rows excluded or dropped); "
            "check the data root and the validation report"
        )
    loader.checks.save()
    unlisted, n_unlisted = unlisted_folders(loader.at, loader.listed)
    loader.report += unlisted
    if loader.cut or loader.dropped or unlisted:
        log.warning(
            "%s: %d clip(s) cut and %d dropped where folders disagree with %s, %d dropped for a "
            "bad frame (unreadable, resized or frozen), %d folder(s) named by no row; each is "
            "a row of the validation report",
            *(loader.name, loader.cut, loader.dropped - loader.bad_frames, loader.sheet.name),
            *(loader.bad_frames, n_unlisted),
        )
    report = pd.DataFrame(loader.report, columns=REPORT_COLUMNS)
    ds = Dataset(loader.name, loader.at.root, loader.sheet, loader.spec.classes, samples, report)
    log.info(
        "%s: %d clips from %s; 5-class counts %s",
        *(loader.name, len(samples), loader.sheet.name, ds.counts().to_dict()),
    )
    return ds


@dataclass(frozen=True)
class Located:
    """Where a copy's pieces are: its root, the annotation workbook and worksheet, and the
    frame layout read."""

    root: Path
    sheet: Path
    worksheet: str
    frames: FrameLayout


def locate(
    dataset: str, root: str | Path, spreadsheet: str | Path | None = None, frames: str = ""
) -> Located:
    """Check a copy's root and workbook (cheap: no frame is read) -> :class:`Located`.
    DatasetError naming the file and the fix. The loaders and the preflight both use it.
    ``frames`` names one of the spec's frame layouts (a dataset with one ignores it)."""
    spec = spec_of(dataset)
    root = Path(root).expanduser()
    # "cropped" is Config's default: the spec's default layout where it has no such name
    layout = spec.frame_layout(frames if frames in spec.frames or frames != "cropped" else "")
    if len(spec.frames) == 1:
        layout = spec.frame_layout()
    if spec.sheet is None:  # labels from folder names (SMIC-HS): the tree is the annotation
        check_root(root, layout.top, "nothing else (labels come from folder names)")
        return Located(root, root / layout.top, "", layout)
    check_root(root, layout.top, spec.sheet.glob)
    sheet, worksheet = find_sheet(
        root, spec, Path(spreadsheet).expanduser() if spreadsheet else None
    )
    return Located(root, sheet, worksheet, layout)


def load_dataset(
    dataset: str,
    root: str | Path,
    spreadsheet: str | Path | None = None,
    frames: str = "",
    apex_policy: ApexPolicy = "estimate",
    on_mismatch: OnMismatch = "cut",
    check_cache: Path | None = None,
    classes: tuple[str, ...] | None = None,
    task: str = "",
) -> Dataset:
    """Load ``dataset`` (a name in :data:`mer_utils.dataset_specs.SPECS`, or its ``synthetic_``
    copy, read the same way) from ``root``: its frame folder + its annotation workbook.
    ``frames``: a frame layout of the spec (CASME-II: ``cropped`` | ``raw``); ``check_cache``:
    a JSON file caching the frame checks (:mod:`mer_utils.frame_checks`; None: decode all).
    ``classes``: the task's labels instead of the spec's (a composite's share: SAMM's disgust,
    fear and sadness are MEGC negatives); the spec's other labels are then excluded (counted).
    ``task``: one of the spec's class tasks (MMEW ``3class``, CAS(ME)^3 ``4class``/``3class``):
    the labels it keeps are loaded and mapped to its classes (the dataset's ``classes``)."""
    spec = spec_of(dataset)
    task_classes, mapping = spec.task(task)  # DatasetError naming the tasks if unknown
    if task:
        classes = tuple(mapping)
    if classes is not None:
        rest = tuple(sorted(spec.labels - set(classes)))
        spec = replace(spec, classes=tuple(classes), excluded=rest)
    at = locate(dataset, root, spreadsheet, frames)
    checks = FrameChecks(check_cache)
    loader = _Loader(dataset, spec, at, apex_policy, on_mismatch, checks, task=task)
    ds = _load(loader, spec_rows(spec, at))
    return relabel(ds, task_classes, mapping) if task else ds


def relabel(ds: Dataset, classes: tuple[str, ...], mapping: dict[str, str]) -> Dataset:
    """``ds`` with each sample's label mapped to a class of ``classes`` (a class task)."""
    samples = [replace(s, label=mapping[s.label]) for s in ds.samples]
    return replace(ds, classes=classes, samples=samples)


def spec_rows(spec: DatasetSpec, at: Located) -> Iterator[_Row]:
    """The rows of a copy, each knowing its frame folder: the workbook's (placed in the tree,
    :func:`place_row`), or one per clip folder for a layout without a workbook."""
    if spec.sheet is None:
        yield from folder_rows(spec, at)
        return
    for r in sheet_rows(at.sheet, at.worksheet, spec.sheet):
        yield place_row(r, spec, at)


def place_row(r: _Row, spec: DatasetSpec, at: Located) -> _Row:
    """A workbook row with its frame folder: a long video's folder, the clip id then
    ``<video>_<onset>`` (CAS(ME)^3: several clips per video); or, in a tree sorted by emotion,
    the first existing of the label's folder names (MMEW's others sit in ``repression/`` or
    ``others/``; if none exists the first is named in the report row)."""
    lay = at.frames
    if spec.video_clips:
        folder = lay.clip_dir(at.root, r.subject, r.clip)
        return replace(r, clip=f"{r.clip}_{str(r.onset).strip()}", folder=folder)
    if "{label}" not in lay.dirs:
        return r
    names = spec.label_dir_names(normalise_label(r.emotion))
    options = [lay.clip_dir(at.root, r.subject, r.clip, name) for name in names]
    return replace(r, folder=next((f for f in options if f.is_dir()), options[0]))


def _dirs_regex(dirs: str) -> re.Pattern:
    """``{subject}/micro/{label}/{clip}`` -> a regex with one named group per field."""
    out = re.escape(dirs)
    for name in ("subject", "label", "clip"):
        out = out.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^/]+)")
    return re.compile(out)


def folder_rows(spec: DatasetSpec, at: Located) -> Iterator[_Row]:
    """One row per clip folder of a tree without a workbook (SMIC-HS): subject and label from
    the folder names (``s1/micro/negative/s1_ne_01``; ``non_micro/`` does not match), onset and
    offset the folder's first and last frame numbers, no apex. Row numbers are 0."""
    lay = at.frames
    base = at.root / lay.top
    rx = _dirs_regex(lay.dirs)
    for folder in sorted(base.glob(lay.dirs.format(subject="*", label="*", clip="*"))):
        m = rx.fullmatch(folder.relative_to(base).as_posix())
        if m is None or not folder.is_dir():
            continue
        subject = normalise_subject(m["subject"], spec.subject_id, folder, 0)
        try:
            numbers = list(index_frames(folder, lay.pattern))
        except FrameError:
            numbers = []
        first, last = (numbers[0], numbers[-1]) if numbers else (None, None)
        yield _Row(
            row=0, subject=subject, clip=m["clip"], onset=first, apex=None, offset=last,
            emotion=m["label"], aus="", folder=folder,
        )  # fmt: skip


def sheet_problems(
    dataset: str,
    root: str | Path,
    spreadsheet: str | Path | None = None,
    frames: str = "",
    on_mismatch: OnMismatch = "cut",
) -> list[str]:
    """Every problem that would stop a load, one line each (file, row, fix), reading the sheet
    and listing clip folders but no frame: the root and workbook (:func:`locate`), missing or
    renamed columns, a Subject that is no number, an unknown emotion, a clip listed twice and,
    with ``on_mismatch="raise"``, each folder that disagrees with its row. A layout without a
    workbook (SMIC-HS) is read as its folder rows (:func:`spec_rows`). The preflight's."""
    spec = spec_of(dataset)
    try:
        at = locate(dataset, root, spreadsheet, frames)
        rows = list(spec_rows(spec, at))  # a layout without a workbook: its folder rows
    except DatasetError as e:
        return [str(e)]
    out, first = [], {}
    for r in rows:
        if r.error or (bad := label_error(spec, at.sheet, r)):
            out.append(r.error or bad)
            continue
        if (key := f"{r.subject}/{r.clip}") in first:
            out.append(
                f"{at.sheet} row {r.row}: {key} is listed again (first in row {first[key]}); "
                "remove the duplicate row"
            )
        first.setdefault(key, r.row)
        if on_mismatch == "raise" and normalise_label(r.emotion) in spec.classes:
            out += _folder_problem(at, r)
    return out


def _folder_problem(at: Located, r: _Row) -> list[str]:
    """[the line] when the row's onset/offset or its folder would stop an on_mismatch='raise'
    load (frames listed, not read), else []."""
    onset, offset = parse_frame_number(r.onset), parse_frame_number(r.offset)
    where = f"[{at.sheet.name} row {r.row}]; fix it or set on_mismatch=cut (or drop)"
    if onset is None or offset is None or offset - onset < 1:
        return [f"{at.sheet}: bad onset/offset {r.onset!r}/{r.offset!r} {where}"]
    folder = r.folder or at.frames.clip_dir(at.root, r.subject, r.clip)
    try:
        found = index_frames(folder, at.frames.pattern)
    except FrameError as e:
        return [f"{e} {where}"]
    inside = [n for n in range(onset, offset + 1) if n in found]
    if len(inside) == offset - onset + 1:
        return []
    return [f"{folder}: {describe_mismatch(sorted(found), onset, offset, inside)} {where}"]


def unlisted_folders(at: Located, listed: set[Path], limit: int = 50) -> tuple[list[dict], int]:
    """(report rows, count) for clip folders of the layout's tree (``dirs``: ``<subject>/<clip>``,
    MMEW ``<label>/<clip>``, SMIC-HS ``<subject>/micro/<label>/<clip>``) that no sheet row names
    (``listed``: the rows' folders): never loaded. Rows have ``row`` = :data:`NO_SHEET_ROW`;
    the first ``limit`` folders one row each, the rest counted in one more row."""
    lay = at.frames
    top, rx = at.root / lay.top, _dirs_regex(lay.dirs)
    found = sorted(top.glob(lay.dirs.format(subject="*", label="*", clip="*")))
    folders = [
        (m.groupdict().get("subject", ""), m["clip"], f)
        for f in found
        if f.is_dir() and f not in listed and (m := rx.fullmatch(f.relative_to(top).as_posix()))
    ]
    policy = "not loaded (no sheet row)"
    out = [
        dict(subject=s, clip=c, row=NO_SHEET_ROW, policy=policy,
             problem=f"{f}: clip folder named by no row of {at.sheet.name}")
        for s, c, f in folders[:limit]
    ]  # fmt: skip
    if len(folders) > limit:
        more = f"{len(folders) - limit} more clip folders named by no row of {at.sheet.name}"
        out.append(dict(subject="", clip="", row=NO_SHEET_ROW, problem=more, policy=policy))
    return out, len(folders)


def load_casme2(root: str | Path, **kwargs) -> Dataset:
    """CASME-II from ``root`` (``Cropped/`` or ``CASME2_RAW_selected/`` + the xlsx); the
    keywords of :func:`load_dataset`."""
    return load_dataset("casme2", root, **kwargs)


def load_samm(root: str | Path, **kwargs) -> Dataset:
    """SAMM from ``root`` (``SAMM/<subject>/<clip>/`` + the MICRO_ONLY workbook)."""
    return load_dataset("samm", root, **kwargs)


def open_dataset(cfg: Config) -> Dataset:
    """Load ``cfg.dataset`` from ``cfg.dataset_root()``, generating the synthetic default on
    first use (``cache/datasets/<dataset>-s<scale>-<size>``) -> :class:`Dataset`."""
    from mer_utils.paths import cache_dir
    from mer_utils.synthetic import make_synthetic

    if composite_of(cfg.dataset):
        return _open_composite(cfg)
    root = cfg.dataset_root()
    if cfg.is_synthetic and not cfg.data_root:
        size = tuple(cfg.synthetic_size) or None
        make_synthetic(root, cfg.layout, seed=0, scale=cfg.synthetic_scale, size=size)
    return load_dataset(
        cfg.dataset,
        root,
        spreadsheet=cfg.spreadsheet or None,
        frames=cfg.frames,
        apex_policy=cfg.apex_policy,
        on_mismatch=cfg.on_mismatch,
        check_cache=cache_dir("frame_checks") / f"{cfg.dataset}-{path_id(root)}.json",
        task=cfg.task,
    )


def path_id(root: Path) -> str:
    """8 hex digits naming a data root (the frame-check cache of each copy apart)."""
    return hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:8]


def _open_composite(cfg: Config) -> Dataset:
    """A composite (``megc2019``): its sources from ``data_root`` / ``data_roots``, or the
    synthetic copies generated on first use, selected by ``megc_ground_truth`` (the synthetic
    composite: the CSV written beside its sources)."""
    from mer_utils.composites import load_composite, make_synthetic_composite
    from mer_utils.paths import cache_dir

    root, gt = (cfg.dataset_root() if cfg.data_root or cfg.is_synthetic else None), None
    if cfg.is_synthetic and not cfg.data_root and not cfg.data_roots:
        size = tuple(cfg.synthetic_size) or None
        make_synthetic_composite(root, cfg.dataset, seed=0, scale=cfg.synthetic_scale, size=size)
    if cfg.is_synthetic and root and (root / composite_of(cfg.dataset).ground_truth).is_file():
        gt = root / composite_of(cfg.dataset).ground_truth
    return load_composite(
        cfg.dataset,
        root,
        roots=cfg.data_roots or None,
        ground_truth=cfg.megc_ground_truth or gt,
        apex_policy=cfg.apex_policy,
        on_mismatch=cfg.on_mismatch,
        check_dir=cache_dir("frame_checks"),
    )
