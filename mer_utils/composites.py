"""Composite benchmarks: several datasets pooled under one class list (MEGC 2019 CDE).

``load_composite("megc2019", root)`` reads each source with its own loader (SMIC-HS, CASME-II,
SAMM: every quirk of each a report row, as ever), maps its labels to negative / positive /
surprise exactly as MEGC 2019 does (:data:`mer_utils.dataset_specs.MEGC2019`), and checks the
result against the official ground truth: with ``ground_truth`` (the official
``combined_3class_gt.csv``) the clips are selected exactly as it lists them; without it, the rows
the official file is known to leave out are left out. Either way every difference from the
official per-source, per-class counts (a clip missing, an extra clip, another sheet version) is
a report row, never silent. ``make_synthetic_composite`` writes the three synthetic copies with
the composite's real composition (442 clips, 68 subjects) and their ground-truth CSV.

Report rows of a composite name the source in the subject column (``smic:s3``).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from mer_utils.dataset_specs import (
    SPECS,
    SYNTHETIC_PREFIX,
    ApexPolicy,
    CompositePart,
    CompositeSpec,
    DatasetError,
    DatasetSpec,
    OnMismatch,
    composite_of,
    is_synthetic,
    normalise_label,
)
from mer_utils.datasets import (
    REPORT_COLUMNS,
    Dataset,
    Sample,
    load_dataset,
    path_id,
    sheet_problems,
)

log = logging.getLogger(__name__)


def int_key(text: object) -> str:
    """Names compared on integers: every run of digits without its padding (``s01_ne_01`` and
    ``s1_ne_01`` -> ``s1_ne_1``; SAMM subject ``6`` and ``006`` -> ``6``)."""
    return re.sub(r"\d+", lambda m: str(int(m.group())), str(text).strip())


@dataclass(frozen=True)
class GroundTruthRow:
    """One row of the official ground truth: ``db, subject, clip, label`` (no header)."""

    line: int
    db: str
    subject: str
    clip: str
    label: int

    @property
    def key(self) -> tuple[str, str, str]:
        return self.db, int_key(self.subject), int_key(self.clip)


def read_ground_truth(path: str | Path, spec: CompositeSpec) -> list[GroundTruthRow]:
    """The rows of a ground-truth CSV (``casme2,sub01,EP02_01f,1``); DatasetError naming the
    file and line for a row that is not ``db, subject, clip, label`` with a known db and a label
    index of ``spec.classes``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(f"{path}: ground-truth CSV not found; set megc_ground_truth: PATH")
    dbs, rows = {p.gt_name for p in spec.parts}, []
    with open(path, newline="") as fh:
        for i, cells in enumerate(csv.reader(fh), start=1):
            if not cells or not "".join(cells).strip():
                continue
            try:
                db, sub, clip, lab = (c.strip() for c in cells[:4])
                label = int(float(lab))
            except ValueError:
                raise DatasetError(
                    f"{path} line {i}: {cells!r} is not 'db, subject, clip, label'; "
                    "is this the MEGC ground-truth CSV?"
                ) from None
            if db.lower() not in dbs or not 0 <= label < len(spec.classes):
                raise DatasetError(
                    f"{path} line {i}: db {db!r} / label {lab!r}: use a db of {sorted(dbs)} "
                    f"and a label in 0..{len(spec.classes) - 1}"
                )
            rows.append(GroundTruthRow(i, db.lower(), sub, clip, label))
    return rows


def part_roots(
    spec: CompositeSpec, root: str | Path | None, roots: dict[str, str] | None = None
) -> dict[str, Path]:
    """Each source's root: ``roots[source]`` when given, else the sub-folder of ``root`` named
    as the part's ``folders`` (``SMIC/``, ``CASME2/``, ``SAMM/``). DatasetError listing every
    source that has none."""
    roots = roots or {}
    out, missing = {}, []
    for part in spec.parts:
        if part.source in roots:
            out[part.source] = Path(roots[part.source]).expanduser()
            continue
        found = [Path(root) / f for f in part.folders if root and (Path(root) / f).is_dir()]
        if found:
            out[part.source] = found[0]
        else:
            missing.append(f"{part.source} ({' or '.join(f + '/' for f in part.folders)})")
    if missing:
        raise DatasetError(
            f"{root or '(no data_root)'}: no copy of {', '.join(missing)}; put them in one root "
            f"or set data_roots: {{{', '.join(p.source + ': PATH' for p in spec.parts)}}}"
        )
    return out


def check_composite(
    dataset: str,
    root: str | Path | None,
    roots: dict[str, str] | None = None,
    ground_truth: str | Path | None = None,
) -> list[str]:
    """Every problem with a composite's roots, workbooks and ground truth, cheaply (no frame
    read): one line each (the preflight's check)."""
    spec = composite_of(dataset)
    try:
        found = part_roots(spec, root, roots)
    except DatasetError as e:
        return [str(e)]
    bad = []
    for source, path in found.items():  # root, workbook and every sheet row (no frame read)
        bad += [f"{source}: {line}" for line in sheet_problems(source, path)]
    if ground_truth:
        try:
            read_ground_truth(ground_truth, spec)
        except DatasetError as e:
            bad.append(str(e))
    return bad


def load_composite(
    dataset: str,
    root: str | Path | None,
    roots: dict[str, str] | None = None,
    ground_truth: str | Path | None = None,
    apex_policy: ApexPolicy = "estimate",
    on_mismatch: OnMismatch = "cut",
    check_dir: Path | None = None,
) -> Dataset:
    """Load a composite (``megc2019`` or ``synthetic_megc2019``): every source from its root
    (:func:`part_roots`), labels mapped to the composite's classes, clips selected by
    ``ground_truth`` (or the known exclusions), and the loaded counts checked against the
    official ones; every difference a report row. ``check_dir``: the folder of each source's
    frame-check cache (:mod:`mer_utils.frame_checks`; None: every frame decoded each load)."""
    spec = composite_of(dataset)
    if spec is None:
        raise DatasetError(f"{dataset!r} is not a composite")
    found = part_roots(spec, root, roots)
    gt = read_ground_truth(ground_truth, spec) if ground_truth else None
    prefix = SYNTHETIC_PREFIX if is_synthetic(dataset) else ""
    samples, report = [], []
    for part in spec.parts:
        name, where = prefix + part.source, found[part.source]
        cache = check_dir / f"{name}-{path_id(where)}.json" if check_dir else None
        ds = load_dataset(
            name, where, apex_policy=apex_policy, on_mismatch=on_mismatch,
            check_cache=cache, classes=tuple(part.label_map),
        )  # fmt: skip
        report += [{**r, "subject": f"{part.source}:{r['subject']}"} for r in _rows(ds.report)]
        mapped = [
            replace(s, dataset=part.source, label=part.label_map[s.label]) for s in ds.samples
        ]
        kept, rows = _select(part, mapped, gt, spec)
        samples += kept
        report += rows
    report += count_rows(spec, samples, gt)
    where = Path(os.path.commonpath([str(p) for p in found.values()]))
    sheet = Path(ground_truth).expanduser() if ground_truth else where
    out = Dataset(dataset, where, sheet, spec.classes, samples, pd.DataFrame(report, columns=REPORT_COLUMNS))  # fmt: skip
    differ = sum(r["policy"].startswith("official") for r in report)
    if differ:
        log.warning("%s: %d difference(s) from the official counts; each is a report row", dataset, differ)  # fmt: skip
    log.info("%s: %d clips; counts %s", dataset, len(samples), out.counts().to_dict())
    return out


def _rows(report: pd.DataFrame) -> list[dict]:
    return report.to_dict("records")


def _row(source: str, subject: str, clip: str, problem: str, policy: str) -> dict:
    return dict(subject=f"{source}:{subject}", clip=clip, row=0, problem=problem, policy=policy)


def _select(
    part: CompositePart, samples: list[Sample], gt: list[GroundTruthRow] | None, spec
) -> tuple[list[Sample], list[dict]]:
    """The part's clips the ground truth lists (its label wins where the mapped one differs),
    or, without one, all but ``part.not_in_gt``; a report row for each clip left out, each
    ground-truth row the copy lacks and each label that differs."""
    if gt is None:
        out = set(part.not_in_gt)
        rows = [
            _row(part.source, s.subject, s.clip, "not in the official MEGC 2019 ground truth",
                 "left out (known exclusion)")
            for s in samples if (s.subject, s.clip) in out
        ]  # fmt: skip
        return [s for s in samples if (s.subject, s.clip) not in out], rows
    want = {r.key: r for r in gt if r.db == part.gt_name}
    kept, rows, seen = [], [], set()
    for s in samples:
        r = want.get((part.gt_name, int_key(s.subject), int_key(s.clip)))
        if r is None:
            rows.append(_row(part.source, s.subject, s.clip, "not in the ground truth", "left out"))  # fmt: skip
            continue
        seen.add(r.key)
        label = spec.classes[r.label]
        if label != s.label:
            rows.append(_row(part.source, s.subject, s.clip,
                             f"ground truth says {label}, the copy's label maps to {s.label}",
                             "the ground truth's label used"))  # fmt: skip
        kept.append(replace(s, label=label))
    for key, r in want.items():
        if key not in seen:
            rows.append(_row(part.source, r.subject, r.clip,
                             f"in the ground truth (line {r.line}) but not loaded from the copy",
                             "missing (see this clip's other report rows)"))  # fmt: skip
    return kept, rows


def count_rows(
    spec: CompositeSpec, samples: list[Sample], gt: list[GroundTruthRow] | None
) -> list[dict]:
    """One report row per (source, class) whose loaded clip count differs from the official
    table (or, with a ground truth, from what it lists), and per source whose subject count
    differs."""
    rows = []
    for part in spec.parts:
        mine = [s for s in samples if s.dataset == part.source]
        want = dict(part.official)
        if gt is not None:
            listed = [r for r in gt if r.db == part.gt_name]
            want = {c: sum(spec.classes[r.label] == c for r in listed) for c in spec.classes}
        what = "the ground truth lists" if gt is not None else "the official table has"
        for c in spec.classes:
            n = sum(s.label == c for s in mine)
            if n != want.get(c, 0):
                rows.append(_row(part.source, "*", "*", f"{n} {c} clips loaded, {what} {want.get(c, 0)}",
                                 "official count differs: kept as loaded"))  # fmt: skip
        subjects = len({s.subject for s in mine})
        if gt is None and subjects != part.subjects:
            rows.append(_row(part.source, "*", "*", f"{subjects} subjects loaded, the official table has {part.subjects}",
                             "official count differs: kept as loaded"))  # fmt: skip
    return rows


# ---------------------------------------------------------------- synthetic composite


def make_synthetic_composite(
    root: str | Path,
    dataset: str = "synthetic_megc2019",
    seed: int = 0,
    scale: float = 1.0,
    size: tuple[int, int] | None = None,
    workers: int | None = None,
) -> Path:
    """The synthetic copies of a composite's sources, each in its official layout under
    ``root/<part folder>/``, with the composite's real composition at ``scale`` 1 (MEGC 2019:
    442 clips, 68 subjects, 250 / 109 / 83), and ``root/<ground truth>`` listing them in the
    official CSV's naming (SMIC ``s01`` / ``s01_ne_01``, SAMM subject ``6``). ``size`` applies
    to every source (default: each dataset's real frame size)."""
    from mer_utils.synthetic import make_synthetic

    spec = composite_of(dataset)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for part in spec.parts:
        make_synthetic(root / part.folders[0], part.source, seed=seed, scale=scale, size=size,
                       workers=workers, stats=synthetic_part(part).stats)  # fmt: skip
    _write_ground_truth(root, spec, seed, scale)
    return root


def synthetic_part(part: CompositePart) -> DatasetSpec:
    """The source's spec with the statistics of its share of the composite (its classes'
    real counts and subjects) for its synthetic copy."""
    base = SPECS[part.source]
    stats = replace(
        base.stats,
        counts=part.synthetic_counts or base.stats.counts,
        subjects=part.synthetic_subjects or base.stats.subjects,
    )
    return replace(base, stats=stats)


def _write_ground_truth(root: Path, spec: CompositeSpec, seed: int, scale: float) -> None:
    """``root/<ground_truth>``: every planned clip of the sources in the composite's classes,
    named as the official CSV names them (from the generator's plan, not read back by the
    loader under test)."""
    from mer_utils.synthetic import plan_clips

    lines = []
    for part in spec.parts:
        for p in plan_clips(synthetic_part(part), seed, scale):
            label = part.label_map.get(normalise_label(p.label))
            if label is not None:
                sub, clip = official_names(part.gt_name, p.subject, p.clip)
                lines.append(f"{part.gt_name},{sub},{clip},{spec.classes.index(label)}")
    (root / spec.ground_truth).write_text("\n".join(lines) + "\n")


def official_names(db: str, subject: str, clip: str) -> tuple[str, str]:
    """(subject, clip) as the official ground truth spells them: SMIC pads the subject to two
    digits (``s01``, ``s01_ne_01``), SAMM writes its subject as a plain number (``6``)."""
    if db == "smic":
        n = int(re.sub(r"\D", "", subject))
        return f"s{n:02d}", re.sub(r"^s\d+", f"s{n:02d}", clip)
    if db == "samm":
        return str(int(subject)), clip
    return subject, clip
