"""CASME-II and SAMM loaders: annotation spreadsheet + frame folders -> ``Sample`` records.

Both read the official distributions as laid out in ``shared/datasets.md`` (and our synthetic
copies, which use the same layouts). Every quirk found is one row of the validation report
(subject, clip, Excel row, problem, policy applied). Policies:

- label outside the 5-class task (e.g. sadness, fear): excluded, counted;
- missing / non-numeric / out-of-range apex (``'/'``, ``-1``, apex > offset): re-estimated as the
  frame of peak motion intensity in [onset, offset] (``apex_policy="estimate"``, default) or the
  clip is dropped (``apex_policy="drop"``);
- apex == onset or apex == offset: kept; that phase has no phase DI (1 frame), reported;
- 2-frame phase: kept; that phase DI is a plain frame difference, reported;
- data errors (spreadsheet row unparsable, clip folder missing, frame gap): raise a
  :class:`DatasetError` naming the file/row and the fix (``on_error="raise"``, default) or drop
  the clip and report it (``on_error="skip"``);
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
import pandas as pd

from mer_utils.frames import FrameError, index_frames, motion_intensity, read_clip

log = logging.getLogger(__name__)

ApexPolicy = Literal["estimate", "drop"]
OnError = Literal["raise", "skip"]

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


def _find_casme2_sheet(root: Path, spreadsheet: Path | None) -> Path:
    if spreadsheet is not None:
        if not Path(spreadsheet).is_file():
            raise DatasetError(
                f"{spreadsheet}: spreadsheet not found; pass the path of CASME2-coding-*.xlsx"
            )
        return Path(spreadsheet)
    for name in CASME2_SHEETS:
        if (root / name).is_file():
            return root / name
    found = sorted(root.glob("CASME2-coding-*.xlsx"))
    if found:
        return found[0]
    raise DatasetError(
        f"{root}: no CASME2-coding-*.xlsx found; put the spreadsheet in the dataset root "
        "or pass spreadsheet=PATH"
    )


def _require(df: pd.DataFrame, cols: list[str], sheet: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DatasetError(
            f"{sheet}: columns {missing} missing (found {list(df.columns)}); "
            "is this the official annotation spreadsheet?"
        )


def _casme2_rows(sheet: Path) -> Iterator[_Row]:
    df = pd.read_excel(sheet, sheet_name="Sheet1", header=0, dtype=object)
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
    on_error: OnError
    report: list[dict] = field(default_factory=list)

    def note(self, r: _Row, problem: str, policy: str) -> None:
        self.report.append(
            dict(subject=r.subject, clip=r.clip, row=r.row, problem=problem, policy=policy)
        )
        log.info(
            "%s %s/%s (row %d): %s -> %s", self.name, r.subject, r.clip, r.row, problem, policy
        )

    def data_error(self, r: _Row, msg: str) -> None:
        if self.on_error == "raise":
            raise DatasetError(
                f"{msg} [{self.sheet.name} row {r.row}]; pass on_error='skip' to drop the clip"
            )
        self.note(r, msg, "dropped (on_error='skip')")

    def sample(self, r: _Row) -> Sample | None:
        label = normalise_label(r.emotion)
        if label not in ALL_LABELS[self.name]:
            raise DatasetError(
                f"{self.sheet} row {r.row}: unknown emotion {r.emotion!r} for {r.subject}/{r.clip}; "
                f"expected one of {sorted(ALL_LABELS[self.name])}"
            )
        if label not in CLASSES[self.name]:
            self.note(r, f"label {label!r} not in the 5-class task", "excluded (counted)")
            return None
        onset, offset = parse_frame_number(r.onset), parse_frame_number(r.offset)
        if onset is None or offset is None or offset - onset < 1:
            return self.data_error(r, f"{self.sheet}: bad onset/offset {r.onset!r}/{r.offset!r}")
        frames = self.frames(r, onset, offset)
        if frames is None:
            return None
        apex, source = self.apex(r, onset, offset, frames)
        if apex is None:
            return None
        self.phase_notes(r, onset, apex, offset)
        aus = "" if pd.isna(r.aus) else str(r.aus).strip()
        return Sample(self.name, r.subject, r.clip, onset, apex, offset, label, aus, frames, source)

    def frames(self, r: _Row, onset: int, offset: int) -> tuple[Path, ...] | None:
        folder = self.clip_dir(r)
        try:
            found = index_frames(folder, self.frame_pattern)
        except FrameError as e:
            return self.data_error(r, str(e))
        gap = [n for n in range(onset, offset + 1) if n not in found]
        if gap:
            shown = ", ".join(map(str, gap[:5])) + (" ..." if len(gap) > 5 else "")
            return self.data_error(
                r, f"{folder}: {len(gap)} frame(s) of [{onset}, {offset}] missing ({shown})"
            )
        return tuple(found[n] for n in range(onset, offset + 1))

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
            self.note(r, problem, "dropped (apex_policy='drop')")
            return None, None
        est = onset + int(np.argmax(motion_intensity(read_clip(frames, size=64))))
        self.note(r, problem, f"apex re-estimated as frame {est} (peak motion intensity)")
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


def _load(loader: _Loader, rows: Iterator[_Row], root: Path) -> Dataset:
    samples = [s for r in rows if (s := loader.sample(r)) is not None]
    seen = Counter(s.key for s in samples)
    dup = [k for k, n in seen.items() if n > 1]
    if dup:
        raise DatasetError(f"{loader.sheet}: clips listed twice: {dup}; remove the duplicate rows")
    ds = Dataset(
        loader.name,
        root,
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


def load_casme2(
    root: str | Path,
    spreadsheet: str | Path | None = None,
    frames: Literal["cropped", "raw"] = "cropped",
    apex_policy: ApexPolicy = "estimate",
    on_error: OnError = "raise",
) -> Dataset:
    """Load CASME-II from ``root`` (``Cropped/`` or ``CASME2_RAW_selected/`` + the xlsx)."""
    root = Path(root)
    sheet = _find_casme2_sheet(root, Path(spreadsheet) if spreadsheet else None)
    top, pattern = {
        "cropped": ("Cropped", r"reg_img(\d+)\.jpg"),
        "raw": ("CASME2_RAW_selected", r"img(\d+)\.jpg"),
    }[frames]
    loader = _Loader(
        "casme2", sheet, lambda r: root / top / r.subject / r.clip, pattern, apex_policy, on_error
    )
    return _load(loader, _casme2_rows(sheet), root)


def load_samm(
    root: str | Path,
    spreadsheet: str | Path | None = None,
    apex_policy: ApexPolicy = "estimate",
    on_error: OnError = "raise",
) -> Dataset:
    """Load SAMM from ``root`` (``SAMM/<subject>/<clip>/`` + ``SAMM_Micro_FACS_Codes_v2.xlsx``)."""
    root = Path(root)
    sheet = Path(spreadsheet) if spreadsheet else root / SAMM_SHEET
    if not sheet.is_file():
        raise DatasetError(
            f"{sheet}: SAMM spreadsheet not found; put it in the dataset root or pass spreadsheet=PATH"
        )
    loader = _Loader(
        "samm",
        sheet,
        lambda r: root / "SAMM" / r.subject / r.clip,
        r".*_(\d+)\.jpg",
        apex_policy,
        on_error,
    )
    return _load(loader, _samm_rows(sheet), root)


def load_dataset(name: str, root: str | Path, **kwargs) -> Dataset:
    """``name`` in {casme2, samm} (a ``synthetic_`` prefix reads our synthetic copy the same way)."""
    base = name.removeprefix("synthetic_")
    loaders = {"casme2": load_casme2, "samm": load_samm}
    if base not in loaders:
        raise DatasetError(
            f"unknown dataset {name!r}; use casme2, samm, synthetic_casme2 or synthetic_samm"
        )
    ds = loaders[base](root, **kwargs)
    ds.name = name
    return ds
