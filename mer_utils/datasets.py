"""CASME-II and SAMM loaders: annotation spreadsheet + frame folders -> ``Sample`` records.

Both read the official distributions as laid out in ``shared/datasets.md`` (and our synthetic
copies, which use the same layouts). Every quirk found is one row of the validation report
(subject, clip, Excel row, problem, policy applied). Policies:

- label outside the 5-class task (e.g. sadness, fear): excluded, counted;
- missing / non-numeric / out-of-range apex (``'/'``, ``-1``, apex > offset): re-estimated as the
  frame most unlike the (neutral) onset frame in [onset, offset], brightness-matched
  (:func:`mer_utils.frames.estimate_apex`: it can be the last frame, never the onset;
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
- an empty or truncated frame file (no JPEG end-of-image marker) inside the kept range: the
  clip is dropped with a row naming the file (``"raise"``: an error);
- data errors (onset/offset unparsable, clip folder missing): a report row and the clip
  dropped, or with ``on_mismatch="raise"`` a :class:`DatasetError`; all errors of a load are
  collected and reported together, each naming the file/row and the fix;
- an unknown emotion label is always an error (a typo would otherwise vanish silently).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import openpyxl
import pandas as pd

from mer_utils.frames import FrameError, estimate_apex, frame_problem, index_frames, read_clip

log = logging.getLogger(__name__)

ApexPolicy = Literal["estimate", "drop"]
OnMismatch = Literal["cut", "drop", "raise"]

CLASSES: dict[str, tuple[str, ...]] = {
    "casme2": ("happiness", "disgust", "surprise", "repression", "others"),
    "samm": ("anger", "contempt", "happiness", "surprise", "others"),
}
ALL_LABELS: dict[str, frozenset[str]] = {
    "casme2": frozenset(CLASSES["casme2"]) | {"sadness", "fear"},
    "samm": frozenset(CLASSES["samm"]) | {"disgust", "fear", "sadness"},
}
CASME2_SHEETS = (
    "CASME2-coding-20190701.xlsx",
    "CASME2-coding-updated.xlsx",
    "CASME2-coding-20140508.xlsx",
)
SAMM_SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"
REPORT_COLUMNS = ["subject", "clip", "row", "problem", "policy"]


class DatasetError(ValueError):
    """Bad dataset input; the message names the file/row and what to do."""


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
    apex_source: Literal["annotated", "estimated"] = "annotated"

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
        """Content-based id (20 hex) of what was loaded: classes, each clip's annotations and
        the relative path and byte size of each of its frames. Not the spreadsheet's bytes
        (openpyxl stamps a time into every file), so an identical regeneration keeps the id;
        any change to a row, a label or the frame set changes it."""
        h = hashlib.sha256(json.dumps(self.classes).encode())
        for s in self.samples:
            h.update(f"{s.key}|{s.onset}|{s.apex}|{s.offset}|{s.label}|{s.apex_source}\n".encode())
            for f in s.frames:
                h.update(f"{f.relative_to(self.root)}:{f.stat().st_size}\n".encode())
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


def normalise_label(raw: object) -> str:
    """'Other', 'Others ', 'others' -> 'others'; everything else stripped and lowercased."""
    s = str(raw).strip().lower()
    return "others" if s in ("other", "others") else s


def normalise_subject(raw: object, width: int, sheet: Path, row: int) -> str:
    """Text '01' or number 1 (or 1.0) -> '01' (``width`` digits)."""
    try:
        return str(int(float(str(raw).strip()))).zfill(width)
    except ValueError:
        raise DatasetError(
            f"{sheet} row {row}: Subject {raw!r} is not a number; fix the cell"
        ) from None


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


def _casme2_sheet_name(path: Path) -> str:
    """``Sheet1``, or the only worksheet of a file whose sheet was renamed."""
    names = workbook_sheets(path)
    if "Sheet1" in names:
        return "Sheet1"
    if len(names) == 1:
        log.info("%s: worksheet %r read (no 'Sheet1')", path, names[0])
        return names[0]
    raise DatasetError(
        f"{path}: no worksheet 'Sheet1' (found {names}); rename the coding sheet back to Sheet1"
    )


def _find_casme2_sheet(root: Path, spreadsheet: Path | None) -> Path:
    if spreadsheet is not None:
        workbook_sheets(spreadsheet)
        return spreadsheet
    for name in CASME2_SHEETS:
        if (root / name).is_file():
            return root / name
    found = sorted(root.glob("CASME2-coding-*.xlsx"))
    if found:
        return found[0]
    raise DatasetError(
        f"{root}: no CASME2-coding-*.xlsx found; put the spreadsheet in the dataset root "
        "or set spreadsheet: PATH (--set spreadsheet=PATH)"
    )


def _find_samm_sheet(root: Path, spreadsheet: Path | None) -> Path:
    """The SAMM workbook: ``spreadsheet``, else ``SAMM_Micro_FACS_Codes_v2.xlsx``, else any
    .xlsx in the root with a ``MICRO_ONLY`` worksheet, whatever it is called."""
    candidates = [spreadsheet] if spreadsheet else [root / SAMM_SHEET, *sorted(root.glob("*.xlsx"))]
    for path in dict.fromkeys(candidates):
        if spreadsheet is None and not path.is_file():
            continue
        names = workbook_sheets(path)
        if "MICRO_ONLY" in names:
            return path
        if spreadsheet is not None:
            raise DatasetError(
                f"{path}: no worksheet 'MICRO_ONLY' (found {names}); is this the SAMM sheet?"
            )
    raise DatasetError(
        f"{root}: no SAMM annotation workbook (an .xlsx with a MICRO_ONLY sheet) found; put "
        f"{SAMM_SHEET} in the dataset root or set spreadsheet: PATH (--set spreadsheet=PATH)"
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


def _require(df: pd.DataFrame, cols: list[str], sheet: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DatasetError(
            f"{sheet}: columns {missing} missing (found {list(df.columns)}); "
            "is this the official annotation spreadsheet?"
        )


def _casme2_rows(sheet: Path) -> Iterator[_Row]:
    df = pd.read_excel(sheet, sheet_name=_casme2_sheet_name(sheet), header=0, dtype=object)
    _require(
        df,
        ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion"],
        sheet,
    )
    for i, r in df.iterrows():
        row = int(i) + 2
        yield _Row(
            row,
            "sub" + normalise_subject(r["Subject"], 2, sheet, row),
            str(r["Filename"]).strip(),
            r["OnsetFrame"],
            r["ApexFrame"],
            r["OffsetFrame"],
            r["Estimated Emotion"],
            r.get("Action Units", ""),
        )


def _samm_rows(sheet: Path) -> Iterator[_Row]:
    raw = pd.read_excel(sheet, sheet_name="MICRO_ONLY", header=None, dtype=object)
    hits = [i for i in range(min(len(raw), 40)) if str(raw.iat[i, 0]).strip() == "Subject"]
    if not hits:
        raise DatasetError(f"{sheet}: no header row starting with 'Subject' in the first 40 rows")
    h = hits[0]
    df = raw.iloc[h + 1 :].copy()
    df.columns = [str(c).strip() for c in raw.iloc[h]]
    _require(
        df,
        ["Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Estimated Emotion"],
        sheet,
    )
    for i, r in df.iterrows():
        if pd.isna(r["Subject"]) and pd.isna(r["Filename"]):
            continue  # trailing blank rows
        row = int(i) + 1
        yield _Row(
            row,
            normalise_subject(r["Subject"], 3, sheet, row),
            str(r["Filename"]).strip(),
            r["Onset Frame"],
            r["Apex Frame"],
            r["Offset Frame"],
            r["Estimated Emotion"],
            r.get("Action Units", ""),
        )


# ---------------------------------------------------------------- rows -> samples


@dataclass
class _Loader:
    name: str
    sheet: Path
    clip_dir: Callable[[_Row], Path]
    frame_pattern: str
    apex_policy: ApexPolicy
    on_mismatch: OnMismatch
    report: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cut: int = 0
    dropped: int = 0

    def note(self, r: _Row, problem: str, policy: str) -> None:
        self.report.append(
            dict(subject=r.subject, clip=r.clip, row=r.row, problem=problem, policy=policy)
        )
        log.info(
            "%s %s/%s (row %d): %s -> %s", self.name, r.subject, r.clip, r.row, problem, policy
        )

    def drop(self, r: _Row, problem: str, why: str = "") -> None:
        """Drop the clip with a report row, or collect an error under ``on_mismatch='raise'``."""
        if self.on_mismatch == "raise":
            self.errors.append(f"{problem} [{self.sheet.name} row {r.row}]")
            return None
        self.dropped += 1
        self.note(r, problem, f"dropped{why} (on_mismatch={self.on_mismatch!r})")
        return None

    def sample(self, r: _Row) -> Sample | None:
        label = normalise_label(r.emotion)
        if label not in ALL_LABELS[self.name]:
            self.errors.append(
                f"{self.sheet} row {r.row}: unknown emotion {r.emotion!r} for {r.subject}/{r.clip}; "
                f"expected one of {sorted(ALL_LABELS[self.name])}: fix the cell"
            )
            return None
        if label not in CLASSES[self.name]:
            self.note(r, f"label {label!r} not in the 5-class task", "excluded (counted)")
            return None
        onset, offset = parse_frame_number(r.onset), parse_frame_number(r.offset)
        if onset is None or offset is None or offset - onset < 1:
            return self.drop(r, f"{self.sheet}: bad onset/offset {r.onset!r}/{r.offset!r}")
        kept = self.frames(r, onset, offset)
        if kept is None:
            return None
        frames, lo, hi = kept
        apex, source = self.apex(r, lo, hi, frames)
        if apex is None:
            return None
        if (lo, hi) != (onset, offset) and min(apex - lo, hi - apex) < 1:
            return self.drop(r, f"cut range [{lo}, {hi}] leaves a 1-frame phase at apex {apex}")
        self.cut += (lo, hi) != (onset, offset)
        self.phase_notes(r, lo, apex, hi)
        aus = "" if pd.isna(r.aus) else str(r.aus).strip()
        return Sample(self.name, r.subject, r.clip, lo, apex, hi, label, aus, frames, source)

    def frames(self, r: _Row, onset: int, offset: int) -> tuple[tuple[Path, ...], int, int] | None:
        """Paths of the frames kept and the kept range [lo, hi] (``on_mismatch``)."""
        folder = self.clip_dir(r)
        try:
            found = index_frames(folder, self.frame_pattern)
        except FrameError as e:
            return self.drop(r, str(e))
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
        paths = tuple(found[n] for n in range(lo, hi + 1))
        bad = next(((p, why) for p in paths if (why := frame_problem(p))), None)
        if bad:
            return self.drop(r, f"{bad[0]}: {bad[1]}; re-copy it from the dataset")
        return paths, lo, hi

    def apex(self, r: _Row, onset: int, offset: int, frames: tuple[Path, ...]):
        apex = parse_frame_number(r.apex)
        if apex is not None and onset <= apex <= offset:
            return apex, "annotated"
        problem = (
            f"apex {r.apex!r} missing or not a frame number"
            if apex is None
            else f"apex {apex} outside [onset {onset}, offset {offset}]"
        )
        if self.apex_policy == "drop":
            self.dropped += 1
            self.note(r, problem, "dropped (apex_policy='drop')")
            return None, None
        est = onset + estimate_apex(read_clip(frames, size=64))
        self.note(
            r,
            f"{problem}: estimated frame {est}",
            "apex re-estimated (frame most unlike the onset)",
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


def _load(loader: _Loader, rows: Iterator[_Row], at: Located) -> Dataset:
    samples = [s for r in rows if (s := loader.sample(r)) is not None]
    seen = Counter(s.key for s in samples)
    dup = [k for k, n in seen.items() if n > 1]
    if dup:
        loader.errors.append(
            f"{loader.sheet}: clips listed twice: {dup}; remove the duplicate rows"
        )
    if loader.errors:
        raise DatasetError(
            f"{len(loader.errors)} data error(s) loading {loader.name} from {loader.sheet}:\n  "
            + "\n  ".join(loader.errors)
            + "\n(on_mismatch='cut' or 'drop' loads the rest and reports each clip)"
        )
    if not samples:
        raise DatasetError(
            f"{loader.sheet}: no clip loaded ({len(loader.report)} rows excluded or dropped); "
            "check the data root and the validation report"
        )
    if loader.cut or loader.dropped:
        log.warning(
            "%s: %d clip(s) cut and %d dropped where folders disagree with %s; each is a row "
            "of the validation report",
            loader.name,
            loader.cut,
            loader.dropped,
            loader.sheet.name,
        )
    ds = Dataset(
        loader.name,
        at.frames_dir.parent,
        loader.sheet,
        CLASSES[loader.name],
        samples,
        pd.DataFrame(loader.report, columns=REPORT_COLUMNS),
    )
    log.info(
        "%s: %d clips from %s; 5-class counts %s",
        loader.name,
        len(samples),
        loader.sheet.name,
        ds.counts().to_dict(),
    )
    return ds


CASME2_FRAMES = {
    "cropped": ("Cropped", r"reg_img(\d+)\.jpg"),
    "raw": ("CASME2_RAW_selected", r"img(\d+)\.jpg"),
}


@dataclass(frozen=True)
class Located:
    """Where a copy's pieces are: the annotation workbook, the frame folder, the file pattern."""

    sheet: Path
    frames_dir: Path
    pattern: str


def locate(
    layout: str, root: str | Path, spreadsheet: str | Path | None = None, frames: str = "cropped"
) -> Located:
    """Check a copy's root and workbook (cheap: no frame is read) -> :class:`Located`.
    DatasetError naming the file and the fix. The loaders and the preflight both use it."""
    root = Path(root).expanduser()
    sheet = Path(spreadsheet).expanduser() if spreadsheet else None
    if layout == "casme2":
        top, pattern = CASME2_FRAMES[frames]
        check_root(root, top, "CASME2-coding-*.xlsx")
        found = _find_casme2_sheet(root, sheet)
        _casme2_sheet_name(found)  # the worksheet is there
    else:
        top, pattern = "SAMM", r".*_(\d+)\.jpg"
        check_root(root, top, SAMM_SHEET)
        found = _find_samm_sheet(root, sheet)
    return Located(found, root / top, pattern)


def load_casme2(
    root: str | Path,
    spreadsheet: str | Path | None = None,
    frames: Literal["cropped", "raw"] = "cropped",
    apex_policy: ApexPolicy = "estimate",
    on_mismatch: OnMismatch = "cut",
) -> Dataset:
    """Load CASME-II from ``root`` (``Cropped/`` or ``CASME2_RAW_selected/`` + the xlsx)."""
    at = locate("casme2", root, spreadsheet, frames)
    return _load(_loader("casme2", at, apex_policy, on_mismatch), _casme2_rows(at.sheet), at)


def load_samm(
    root: str | Path,
    spreadsheet: str | Path | None = None,
    apex_policy: ApexPolicy = "estimate",
    on_mismatch: OnMismatch = "cut",
) -> Dataset:
    """Load SAMM from ``root`` (``SAMM/<subject>/<clip>/`` + the MICRO_ONLY workbook)."""
    at = locate("samm", root, spreadsheet)
    return _load(_loader("samm", at, apex_policy, on_mismatch), _samm_rows(at.sheet), at)


def _loader(name: str, at: Located, apex_policy: ApexPolicy, on_mismatch: OnMismatch) -> _Loader:
    clip_dir = lambda r: at.frames_dir / r.subject / r.clip  # noqa: E731
    return _Loader(name, at.sheet, clip_dir, at.pattern, apex_policy, on_mismatch)


def load_dataset(name: str, root: str | Path, **kwargs) -> Dataset:
    """``name`` in {casme2, samm} (a ``synthetic_`` prefix reads our synthetic copy the same way);
    ``kwargs`` go to the loader (spreadsheet, apex_policy, on_mismatch; CASME-II: frames)."""
    base = name.removeprefix("synthetic_")
    if base == "samm":
        kwargs.pop("frames", None)  # SAMM has one frame layout
    loaders = {"casme2": load_casme2, "samm": load_samm}
    if base not in loaders:
        raise DatasetError(
            f"unknown dataset {name!r}; use casme2, samm, synthetic_casme2 or synthetic_samm"
        )
    ds = loaders[base](root, **kwargs)
    ds.name = name
    return ds
