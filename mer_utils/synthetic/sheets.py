"""Writing a synthetic copy's annotation workbook in the dataset's official layout.

The worksheet name, the preamble length, the header row and the columns come from the spec's
:class:`~mer_utils.dataset_specs.SheetLayout`, so the real loader reads the file unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import openpyxl

from mer_utils.dataset_specs import DatasetSpec
from mer_utils.synthetic.plan import ClipPlan, subject_ids

# Columns the loaders do not read but the official files have: how we fill them.
EXTRA_CELLS: dict[str, Callable[[ClipPlan], object]] = {
    "Objective Classes": lambda p: 1 + p.index % 7,
    "Inducement Code": lambda p: int(p.clip.split("_")[1]),
    "Duration": lambda p: p.offset - p.onset + 1,
    "Micro": lambda p: "Micro - 1/2",
}


def _row(spec: DatasetSpec, p: ClipPlan) -> list[object]:
    """One clip's row, in the header's column order (None under blank headers)."""
    sheet = spec.sheet
    read = {
        sheet.subject: subject_ids(spec)[p.subject] if sheet.numeric_subject else p.subject,
        sheet.clip: p.folder_clip,
        sheet.onset: p.onset if p.onset_cell is None else p.onset_cell,
        sheet.apex: p.apex_cell,
        sheet.offset: p.offset if p.offset_cell is None else p.offset_cell,
        sheet.action_units: "+".join(p.aus),
        sheet.emotion: p.label,
    }
    fill = {h: EXTRA_CELLS[h] for h in sheet.header if h in EXTRA_CELLS}
    row = [read[h] if h in read else fill[h](p) if h in fill else None for h in sheet.header]
    return [None if v is None else str(v) for v in row] if sheet.text_cells else row


def _preamble(spec: DatasetSpec) -> list[str | None]:
    """Free-text rows above the header, as many as the official file has."""
    kind = "colour" if spec.colour else "greyscale"
    lines = [
        f"{spec.title} codes (synthetic copy written by mer_utils.synthetic)",
        None,
        f"Frames are {spec.fps} fps {kind}.",
    ]
    n = spec.sheet.header_row - 1
    return (lines + [None] * n)[:n]


def write_sheet(path: Path, spec: DatasetSpec, plans: Sequence[ClipPlan]) -> None:
    """The coding worksheet: preamble, header at ``sheet.header_row``, one row per clip sorted
    by (subject, clip); Subject a number or text as the official file stores it."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = spec.sheet.worksheet
    for line in _preamble(spec):
        ws.append([line])
    ws.append(list(spec.sheet.header))
    for p in sorted(plans, key=lambda p: (p.subject, p.clip)):
        ws.append(_row(spec, p))
    for name in spec.sheet.other_sheets:  # e.g. CAS(ME)^3's junk Sheet1 and empty Sheet3
        wb.create_sheet(name).append(
            ["Subject", "not the coding sheet"] if name == "Sheet1" else []
        )
    wb.save(path)
