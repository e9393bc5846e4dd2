"""One frozen spec per dataset: every fact about its files, sheet, classes and statistics.

The loaders (:mod:`mer_utils.datasets`), the synthetic writer (:mod:`mer_utils.synthetic`), the
results code and the test fixtures all read these specs, so a fact (a folder name, a column, a
class, the paper's clip count) lives here only. Adding a dataset is one :class:`DatasetSpec`
given to :func:`register_dataset` (README, "Extending"; the built-in ones use it too).
Source: ``shared/datasets.md``.
Imports nothing heavy (no pandas, no torch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mer_utils.registry import register

SYNTHETIC_PREFIX = "synthetic_"
ApexPolicy = Literal["estimate", "drop"]  # a missing or out-of-range apex (see datasets.py)
OnMismatch = Literal[
    "cut", "drop", "raise"
]  # a folder that disagrees with the sheet  # ``synthetic_<name>``: our generated copy in <name>'s layout


@dataclass(frozen=True)
class FrameLayout:
    """Where one frame lives: ``<root>/<top>/<subject>/<clip>/<file>``.

    ``file`` is a ``str.format`` template over ``subject``, ``n`` (frame number) and ``pad``
    (zero-padding width, for layouts whose padding varies); ``pattern`` is the regex that reads
    the frame number back from a file name (group 1); ``face`` is the face method its frames
    need by default (config ``face: auto``): ``none`` for frames already cropped to the face,
    a method of :data:`mer_utils.faces.METHODS` for whole-scene frames."""

    top: str
    file: str
    pattern: str
    face: str = "none"

    def clip_dir(self, root: Path, subject: str, clip: str) -> Path:
        return Path(root) / self.top / subject / clip

    def frame_path(self, root: Path, subject: str, clip: str, n: int, pad: int = 0) -> Path:
        return self.clip_dir(root, subject, clip) / self.file.format(subject=subject, n=n, pad=pad)

    def example(self, subject: str) -> str:
        """A frame's name as a user reads it: ``reg_img<N>.jpg``, ``006_<N>.jpg``."""
        n = re.sub(r"\{n(:[^{}]*(\{pad\})?[^{}]*)?\}", "<N>", self.file)
        return n.replace("{subject}", subject)


@dataclass(frozen=True)
class SheetLayout:
    """The annotation workbook: file names, worksheet, header and the columns read."""

    files: tuple[str, ...]  # known names, preferred first
    glob: str  # other workbooks that may be it (checked for ``worksheet``)
    worksheet: str  # the coding worksheet; a lone renamed worksheet is read too
    header: tuple[str | None, ...]  # the header row as in the official file (None: blank column)
    header_row: int  # Excel row (1-based) of the header in the official file
    subject: str  # column -> subject id via ``subject_id.format(int(cell))``
    subject_id: str  # e.g. "sub{0:02d}" (CASME-II folders) or "{0:03d}" (SAMM)
    numeric_subject: bool  # the official file stores Subject as a number (else as text)
    clip: str
    onset: str
    apex: str
    offset: str
    emotion: str
    action_units: str

    @property
    def required(self) -> list[str]:
        """Columns a load cannot do without."""
        return [self.subject, self.clip, self.onset, self.apex, self.offset, self.emotion]


@dataclass(frozen=True)
class Statistics:
    """What the real dataset looks like, for the synthetic generator to mimic."""

    subjects: tuple[int, ...]  # subject numbers
    counts: dict[str, int]  # label as spelled in the sheet -> clips
    length: tuple[int, int, int]  # min, max, median clip length (frames)
    onset_frames: tuple[int, int]  # onset frame numbers are drawn from [lo, hi)
    margin: tuple[int, float]  # frames written beyond each end of a clip, and how often
    face: tuple[float, float, float, float]  # face box in frame units: x, y, w, h
    clip_name: str  # template over subject, a, b, f
    clip_ranges: tuple[tuple[int, int], tuple[int, int], float]  # a in [lo, hi), b, P(f='f')
    quirks: tuple[str, ...]  # planted sheet quirks (see ``mer_utils.synthetic.QUIRKS``)
    # relative apex position (apex - onset) / (offset - onset) on the real sheet: the
    # p10, q25, median, q75 and p90 quantiles (shared/datasets.md)
    rel_apex: tuple[float, float, float, float, float]


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the code knows about one dataset."""

    name: str  # config value and results folder: ``casme2``
    title: str  # as the paper writes it: ``CASME-II``
    classes: tuple[str, ...]  # the 5-class task, in the order tables and confusions use
    excluded: tuple[str, ...]  # other valid labels: counted and left out of the task
    frames: dict[str, FrameLayout]  # ``frames`` config value -> layout; the first is default
    sheet: SheetLayout
    fps: int
    colour: bool  # False: greyscale frames, repeated to 3 channels
    size: tuple[int, int]  # native frame height, width (px) of the default frame layout
    paper_clips: int  # 5-class clips as the paper's text states
    stats: Statistics

    @property
    def labels(self) -> frozenset[str]:
        """Every valid (normalised) label: the task's classes and the excluded ones."""
        return frozenset(self.classes) | frozenset(self.excluded)

    def frame_layout(self, frames: str = "") -> FrameLayout:
        """The layout named ``frames`` (default: the first); DatasetError if unknown."""
        if not frames:
            return next(iter(self.frames.values()))
        if frames not in self.frames:
            raise DatasetError(
                f"{self.title} has no frame layout {frames!r}; use one of {list(self.frames)}"
            )
        return self.frames[frames]


class DatasetError(ValueError):
    """Bad dataset input (an unknown name or layout, a bad file or row); the message names the
    file/row and what to do."""


CASME2 = DatasetSpec(
    name="casme2",
    title="CASME-II",
    classes=("happiness", "disgust", "surprise", "repression", "others"),
    excluded=("sadness", "fear"),
    frames={
        "cropped": FrameLayout("Cropped", "reg_img{n}.jpg", r"reg_img(\d+)\.jpg"),
        "raw": FrameLayout("CASME2_RAW_selected", "img{n}.jpg", r"img(\d+)\.jpg", "facemesh"),
    },
    sheet=SheetLayout(
        files=(
            "CASME2-coding-20190701.xlsx",
            "CASME2-coding-updated.xlsx",
            "CASME2-coding-20140508.xlsx",
        ),
        glob="CASME2-coding-*.xlsx",
        worksheet="Sheet1",
        header=(
            "Subject",
            "Filename",
            None,
            "OnsetFrame",
            "ApexFrame",
            "OffsetFrame",
            None,
            "Action Units",
            "Estimated Emotion",
            "Objective Classes",
        ),  # fmt: skip
        header_row=1,
        subject="Subject",
        subject_id="sub{0:02d}",
        numeric_subject=True,
        clip="Filename",
        onset="OnsetFrame",
        apex="ApexFrame",
        offset="OffsetFrame",
        emotion="Estimated Emotion",
        action_units="Action Units",
    ),
    fps=200,
    colour=True,
    size=(340, 280),
    paper_clips=247,
    stats=Statistics(
        subjects=tuple(range(1, 27)),
        counts=dict(
            others=99, disgust=63, happiness=32, surprise=25, repression=27, sadness=7, fear=2
        ),
        length=(24, 141, 61),
        onset_frames=(1, 300),
        margin=(2, 0.2),
        face=(0.04, 0.03, 0.92, 0.94),
        clip_name="EP{a:02d}_{b:02d}{f}",
        clip_ranges=((1, 20), (1, 8), 0.4),
        quirks=("apex_slash", "apex_minus_one", "apex_at_onset", "apex_at_offset"),
        rel_apex=(0.30, 0.41, 0.51, 0.60, 0.71),  # 254 usable rows of the 2019 sheet
    ),
)

SAMM = DatasetSpec(
    name="samm",
    title="SAMM",
    classes=("anger", "contempt", "happiness", "surprise", "others"),
    excluded=("disgust", "fear", "sadness"),
    frames={"raw": FrameLayout("SAMM", "{subject}_{n:0{pad}d}.jpg", r".*_(\d+)\.jpg", "facemesh")},
    sheet=SheetLayout(
        files=("SAMM_Micro_FACS_Codes_v2.xlsx",),
        glob="*.xlsx",
        worksheet="MICRO_ONLY",
        header=(
            "Subject",
            "Filename",
            "Inducement Code",
            "Onset Frame",
            "Apex Frame",
            "Offset Frame",
            "Duration",
            "Micro",
            "Action Units",
            "Estimated Emotion",
            "Objective Classes",
            "Notes",
        ),  # fmt: skip
        header_row=14,
        subject="Subject",
        subject_id="{0:03d}",
        numeric_subject=False,
        clip="Filename",
        onset="Onset Frame",
        apex="Apex Frame",
        offset="Offset Frame",
        emotion="Estimated Emotion",
        action_units="Action Units",
    ),
    fps=200,
    colour=False,
    size=(650, 960),
    paper_clips=159,
    stats=Statistics(
        subjects=tuple(i for i in range(6, 38) if i not in (8, 27, 29)),
        counts=dict(
            Anger=57, Other=26, Happiness=26, Surprise=15, Contempt=12, Disgust=9, Fear=8, Sadness=6
        ),
        length=(30, 101, 78),
        onset_frames=(100, 9000),
        margin=(3, 1.0),
        face=(0.30, 0.06, 0.40, 0.88),
        clip_name="{subject}_{a}_{b}",
        clip_ranges=((1, 8), (1, 6), 0.0),
        quirks=("apex_after_offset", "apex_before_onset", "two_frame_onset_phase"),
        rel_apex=(0.28, 0.34, 0.44, 0.56, 0.67),  # 157 usable rows of the v2 sheet
    ),
)

SPECS: dict[str, DatasetSpec] = {}
# Sheet quirks the synthetic generator can plant (mer_utils.synthetic.plan.QUIRKS, same keys).
QUIRK_NAMES = ("apex_slash", "apex_minus_one", "apex_at_onset", "apex_at_offset",
               "apex_after_offset", "apex_before_onset", "two_frame_onset_phase")  # fmt: skip


def register_dataset(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Add ``spec`` under ``spec.name`` (``dataset: <name>`` and ``synthetic_<name>`` then
    work); RegistryError, nothing changed, for a name taken by a different spec (unless
    ``replace``) or a bad entry (see :func:`dataset_problems`)."""
    problems = dataset_problems(spec)
    return register(SPECS, "dataset", spec.name, spec, replace=replace, problems=problems)


def dataset_problems(spec: DatasetSpec) -> list[str]:
    """One line per rule ``spec`` breaks: its name, classes, frame layouts, subject id,
    sizes and the statistics the generator needs."""
    bad = []
    if spec.name.startswith(SYNTHETIC_PREFIX) or spec.name != spec.name.lower():
        bad.append(f"name: lower case, not starting with {SYNTHETIC_PREFIX!r}")
    if not spec.title:
        bad.append("title must not be empty")
    if len(spec.classes) < 2 or len(set(spec.classes)) != len(spec.classes):
        bad.append(f"classes={spec.classes!r}: at least two, without repeats")
    spelled = [c for c in (*spec.classes, *spec.excluded) if normalise_label(c) != c]
    if spelled or set(spec.classes) & set(spec.excluded):
        bad.append("classes/excluded: lower case, stripped ('others', not 'Other'), disjoint")
    bad += _layout_problems(spec)
    if spec.fps <= 0 or len(spec.size) != 2 or min(spec.size) <= 0:
        bad.append(f"fps={spec.fps}, size={spec.size}: fps > 0, size (height, width) > 0")
    return bad + _stats_problems(spec)


def _layout_problems(spec: DatasetSpec) -> list[str]:
    """Frame layouts (a template and a regex with the frame number as group 1) and the
    sheet's subject id template."""
    bad = [] if spec.frames else ["frames: at least one FrameLayout"]
    for key, lay in spec.frames.items():
        try:
            ok = re.compile(lay.pattern).groups >= 1
            name = lay.file.format(subject="s", n=7, pad=3)
            ok = ok and re.fullmatch(lay.pattern, name) is not None
        except (re.error, KeyError, IndexError, ValueError):
            ok = False
        if not ok:
            bad.append(f"frames[{key!r}]: pattern must read the frame number back from file")
    try:
        spec.sheet.subject_id.format(1)
    except (IndexError, KeyError, ValueError):
        bad.append(f"sheet.subject_id={spec.sheet.subject_id!r}: a template of one number")
    return bad


def _stats_problems(spec: DatasetSpec) -> list[str]:
    """What the synthetic generator needs from :class:`Statistics`."""
    st, bad = spec.stats, []
    missing = [c for c in spec.classes if st.counts.get(c, 0) <= 0 and not any(
        normalise_label(k) == c and n > 0 for k, n in st.counts.items())]  # fmt: skip
    if not st.subjects or missing:
        bad.append(f"stats: subjects, and a clip count for every class (missing {missing})")
    if set(map(normalise_label, st.counts)) - spec.labels:
        bad.append("stats.counts: labels that are neither classes nor excluded")
    lo, hi, median = st.length
    if not 3 <= lo <= median <= hi:
        bad.append(f"stats.length={st.length}: min <= median <= max, min >= 3 frames")
    if list(st.rel_apex) != sorted(st.rel_apex) or not 0 < min(st.rel_apex) <= max(st.rel_apex) < 1:
        bad.append(f"stats.rel_apex={st.rel_apex}: five increasing quantiles in (0, 1)")
    if set(st.quirks) - set(QUIRK_NAMES):
        bad.append(f"stats.quirks: {sorted(set(st.quirks) - set(QUIRK_NAMES))}; use {QUIRK_NAMES}")
    return bad


def normalise_label(raw: object) -> str:
    """'Other', 'Others ', 'others' -> 'others'; everything else stripped and lowercased."""
    s = str(raw).strip().lower()
    return "others" if s in ("other", "others") else s


def dataset_names() -> tuple[str, ...]:
    """Every valid ``dataset`` value: each spec's name and its ``synthetic_`` copy."""
    return (*SPECS, *(SYNTHETIC_PREFIX + n for n in SPECS))


def is_synthetic(dataset: str) -> bool:
    """True for our generated copies (``synthetic_<name>``)."""
    return dataset.startswith(SYNTHETIC_PREFIX)


def spec_of(dataset: str) -> DatasetSpec:
    """The spec of ``dataset`` (a ``synthetic_`` copy has its original's); DatasetError
    listing the valid names otherwise."""
    base = dataset.removeprefix(SYNTHETIC_PREFIX)
    if base not in SPECS:
        raise DatasetError(f"unknown dataset {dataset!r}; use one of {list(dataset_names())}")
    return SPECS[base]


for _spec in (CASME2, SAMM):
    register_dataset(_spec)
del _spec
