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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from mer_utils.registry import register

SYNTHETIC_PREFIX = "synthetic_"
# a missing or out-of-range apex (see datasets.py): the label-free spotter, the folder's
# middle frame (what tvaranka/meb does for SMIC-HS), or drop the clip
ApexPolicy = Literal["estimate", "midpoint", "drop"]
OnMismatch = Literal[
    "cut", "drop", "raise"
]  # a folder that disagrees with the sheet  # ``synthetic_<name>``: our generated copy in <name>'s layout


@dataclass(frozen=True)
class FrameLayout:
    """Where one frame lives: ``<root>/<top>/<dirs>/<file>``, ``dirs`` by default
    ``{subject}/{clip}``.

    ``file`` is a ``str.format`` template over ``subject``, ``n`` (frame number) and ``pad``
    (zero-padding width, for layouts whose padding varies); ``pattern`` is the regex that reads
    the frame number back from a file name (group 1). ``dirs`` is a template over ``subject``,
    ``clip`` and ``label`` (the label's folder name, for trees that sort clips by emotion:
    SMIC-HS ``{subject}/micro/{label}/{clip}``, MMEW ``{label}/{clip}``); ``face`` is the face
    method its frames need by default (config ``face: auto``): ``none`` for frames already
    cropped to the face, a method of :data:`mer_utils.faces.METHODS` for whole-scene frames."""

    top: str
    file: str
    pattern: str
    face: str = "none"
    dirs: str = "{subject}/{clip}"

    def clip_dir(self, root: Path, subject: str, clip: str, label: str = "") -> Path:
        return Path(root) / self.top / self.dirs.format(subject=subject, clip=clip, label=label)

    def frame_path(
        self, root: Path, subject: str, clip: str, n: int, pad: int = 0, label: str = ""
    ) -> Path:
        folder = self.clip_dir(root, subject, clip, label)
        return folder / self.file.format(subject=subject, n=n, pad=pad)

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
    text_cells: bool = False  # the official file stores every cell, numbers too, as text
    other_sheets: tuple[str, ...] = ()  # further worksheets of the official file (not read)

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
    # optional: a clip-name part per label (``clip_name`` may use {tag} and {n}, the clip's
    # number within its subject and label: SMIC-HS ``s1_ne_01``, MMEW ``S01-01-001``)
    label_tags: dict[str, str] = field(default_factory=dict)
    # optional: clips per subject, in ``subjects`` order (the real distribution, when known)
    subject_clips: tuple[int, ...] = ()
    # optional: several clips share one long video folder named by one of these (CAS(ME)^3);
    # ``clip_name`` then formats {video}
    videos: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the code knows about one dataset."""

    name: str  # config value and results folder: ``casme2``
    title: str  # as the paper writes it: ``CASME-II``
    classes: tuple[str, ...]  # the 5-class task, in the order tables and confusions use
    excluded: tuple[str, ...]  # other valid labels: counted and left out of the task
    frames: dict[str, FrameLayout]  # ``frames`` config value -> layout; the first is default
    sheet: SheetLayout | None  # None: labels from folder names, no annotation (SMIC-HS)
    fps: int
    colour: bool  # False: greyscale frames, repeated to 3 channels
    size: tuple[int, int]  # native frame height, width (px) of the default frame layout
    paper_clips: int  # 5-class clips as the paper's text states
    stats: Statistics
    # label -> the folder names its clips may sit in (emotion-first trees; default: the label)
    label_dirs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # True: one folder holds a long video with several annotated clips (CAS(ME)^3), so a
    # sample's clip id is ``<folder>_<onset>``
    video_clips: bool = False
    max_length: int = 0  # > 0: a row whose onset..offset is longer is broken: dropped, reported
    subject_folder: str = ""  # subject id template of a layout without a sheet (SMIC-HS "s{0}")
    # other class tasks the field reports: name -> {label: task class}, the task's classes in
    # order of first appearance; labels not in the mapping are excluded (counted)
    tasks: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def subject_id(self) -> str:
        """Template of one number -> the subject's folder name (``sub{0:02d}``, ``s{0}``)."""
        return self.sheet.subject_id if self.sheet else self.subject_folder

    def label_dir_names(self, label: str) -> tuple[str, ...]:
        """Folder names a clip of ``label`` may sit in (the first is what copies write)."""
        return self.label_dirs.get(label, (label,))

    @property
    def labels(self) -> frozenset[str]:
        """Every valid (normalised) label: the task's classes and the excluded ones."""
        return frozenset(self.classes) | frozenset(self.excluded)

    def task(self, name: str = "") -> tuple[tuple[str, ...], dict[str, str]]:
        """(classes, {label: class}) of the task ``name`` ("": the spec's own ``classes``,
        each label its own class); DatasetError naming the tasks if unknown."""
        if not name:
            return self.classes, {c: c for c in self.classes}
        if name not in self.tasks:
            have = ["", *self.tasks] if self.tasks else [""]
            raise DatasetError(f"{self.title} has no class task {name!r}; use one of {have}")
        mapping = self.tasks[name]
        return tuple(dict.fromkeys(mapping.values())), dict(mapping)

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

_SMIC_FOLDERS = "{subject}/micro/{label}/{clip}"  # micro/ only: non_micro/ is skipped
SMIC = DatasetSpec(  # shared/datasets_megc.md, "SMIC-HS"
    name="smic",
    title="SMIC-HS",
    classes=("negative", "positive", "surprise"),
    excluded=(),
    frames={
        "cropped": FrameLayout(  # face crops: face none
            "SMIC_all_cropped/HS",
            "reg_image{n:06d}.bmp",
            r"reg_image(\d+)\.bmp",
            face="none",
            dirs=_SMIC_FOLDERS,
        ),  # fmt: skip
        "raw": FrameLayout(  # whole 640 x 480 scenes: FaceMesh
            "HS", "image{n:06d}.bmp", r"image(\d+)\.bmp", face="facemesh", dirs=_SMIC_FOLDERS
        ),
    },
    sheet=None,  # labels from folder names; each folder holds onset..offset; no apex
    fps=100,
    colour=True,
    size=(178, 146),  # one real crop is 146 x 178 (w x h); crops vary by subject
    paper_clips=0,  # not in the paper
    subject_folder="s{0}",  # not padded
    stats=Statistics(
        subjects=(1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20),
        counts=dict(negative=70, positive=51, surprise=43),
        length=(16, 58, 34),
        onset_frames=(10_000, 900_000),  # absolute camera frame counters
        margin=(0, 0.0),
        face=(0.04, 0.03, 0.92, 0.94),
        clip_name="{subject}_{tag}_{n:02d}",
        clip_ranges=((1, 2), (1, 2), 0.0),
        quirks=("frame_gap",),
        rel_apex=(0.34, 0.41, 0.49, 0.59, 0.70),  # a third-party SMIC-E sheet
        label_tags=dict(negative="ne", positive="po", surprise="sur"),
        subject_clips=(6, 6, 39, 19, 2, 4, 13, 4, 7, 9, 10, 10, 4, 7, 2, 22),
    ),
)


def three_class(negative: tuple[str, ...], positive: str) -> dict[str, str]:
    """The field's 3-class task of a dataset: its ``negative`` labels -> negative, its
    ``positive`` label -> positive, surprise -> surprise (the rest left out)."""
    return {**dict.fromkeys(negative, "negative"), positive: "positive", "surprise": "surprise"}


MMEW = DatasetSpec(  # shared/datasets_megc.md, "MMEW, micro part"
    name="mmew",
    title="MMEW",
    classes=("happiness", "surprise", "disgust", "fear", "sadness", "anger"),  # 6 classes: 234
    excluded=("others",),
    frames={  # colour face crops (231 x 231, inferred): face none
        "cropped": FrameLayout(
            "Micro_Expression", "{n}.jpg", r"(\d+)\.jpg", face="none", dirs="{label}/{clip}"
        )
    },
    sheet=SheetLayout(
        files=("MMEW_Micro_Exp.xlsx",),
        glob="MMEW*.xlsx",
        worksheet="Sheet1",  # not documented; a lone renamed worksheet is read too
        header=(
            "Subject",
            "Filename",
            "OnsetFrame",
            "ApexFrame",
            "OffsetFrame",
            "Action Units",
            "Estimated Emotion",
            "remarks",
        ),  # fmt: skip
        header_row=1,
        subject="Subject",
        subject_id="S{0:02d}",
        numeric_subject=True,
        clip="Filename",
        onset="OnsetFrame",
        apex="ApexFrame",
        offset="OffsetFrame",
        emotion="Estimated Emotion",
        action_units="Action Units",
    ),
    fps=90,  # commonly cited, not verified
    colour=True,
    size=(231, 231),  # inferred
    paper_clips=0,
    label_dirs={"others": ("repression", "others")},  # the "others" clips' folder
    # shared/datasets_megc.md: 6 classes without others (the default), or 3
    tasks={"3class": three_class(("anger", "disgust", "fear", "sadness"), "happiness")},
    stats=Statistics(
        subjects=tuple(range(1, 31)),
        counts=dict(surprise=89, disgust=72, happiness=36, fear=16, sadness=13, anger=8, others=66),
        length=(14, 77, 39),
        onset_frames=(1, 2),  # OnsetFrame is always 1
        margin=(0, 0.0),
        face=(0.04, 0.03, 0.92, 0.94),
        clip_name="{subject}-{tag}-{n:03d}",
        clip_ranges=((1, 2), (1, 2), 0.0),
        quirks=(),
        rel_apex=(0.30, 0.41, 0.51, 0.60, 0.71),  # not published for MMEW: CASME-II's
        # emotion codes: only happiness = 01 is seen (S01-01-001); the rest are our guess
        label_tags=dict(
            happiness="01",
            surprise="02",
            disgust="03",
            fear="04",
            sadness="05",
            anger="06",
            others="07",
        ),  # fmt: skip
    ),
)

CASME3 = DatasetSpec(  # shared/datasets_megc.md, "CAS(ME)^3 Part A"
    name="casme3",
    title="CAS(ME)^3",
    classes=("disgust", "surprise", "fear", "anger", "sad", "happy", "others"),  # 7 classes
    excluded=(),
    frames={  # whole long videos; Onset/Apex/Offset index these files
        # whole scenes (not cropped): FaceMesh; on depth it is untried (no colour face)
        "color": FrameLayout(
            "", "{n}.jpg", r"(\d+)\.jpg", face="facemesh", dirs="{subject}/{clip}/color"
        ),
        "depth": FrameLayout(
            "", "{n}.png", r"(\d+)\.png", face="facemesh", dirs="{subject}/{clip}/depth"
        ),
    },
    sheet=SheetLayout(
        files=("cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",),
        glob="*.xlsx",
        worksheet="label",  # beside a junk Sheet1 and an empty Sheet3: read by name
        header=(
            "Subject",
            "Filename",
            "Onset",
            "Apex",
            "Offset",
            "AU",
            "Objective class",
            "emotion",
        ),  # fmt: skip
        header_row=1,
        subject="Subject",
        subject_id="spNO.{0}",
        numeric_subject=False,
        clip="Filename",
        onset="Onset",
        apex="Apex",
        offset="Offset",
        emotion="emotion",
        action_units="AU",
        text_cells=True,  # every cell of the official v2 sheet is stored as text
        other_sheets=("Sheet1", "Sheet3"),  # a junk sheet and an empty one
    ),
    fps=30,
    colour=True,
    size=(480, 640),  # not in the facts file (RealSense colour, size unverified)
    paper_clips=0,
    video_clips=True,  # up to 17 micro-expressions per (subject, video)
    tasks={  # shared/datasets_megc.md: 7 classes (the default), 4 (457/55/187/161) or 3 (699)
        "4class": {**three_class(("disgust", "fear", "anger", "sad"), "happy"), "others": "others"},
        "3class": three_class(("disgust", "fear", "anger", "sad"), "happy"),
    },
    max_length=300,  # 10 s: a longer onset..offset is a broken row (spNO.214/c: 3456 frames)
    stats=Statistics(
        # 94 distinct, non-contiguous ids; the real list is not in the facts file
        subjects=(1, 40, 149, 214, 216, *range(2, 2 + 2 * 89, 2)),
        counts=dict(
            disgust=250, surprise=187, others=158, Others=3, fear=86, anger=64, sad=57, happy=55
        ),  # fmt: skip
        length=(5, 90, 22),  # the median is real; the range is ours
        onset_frames=(400, 2000),  # frame numbers in long videos
        margin=(0, 0.0),
        face=(0.30, 0.10, 0.40, 0.80),
        clip_name="{video}",
        clip_ranges=((1, 2), (1, 2), 0.0),
        quirks=(
            "apex_before_onset",
            "onset_after_offset",
            "onset_apex_zero",
            "offset_zero",
            "offset_zero",
            "overlong",
        ),  # fmt: skip
        rel_apex=(0.30, 0.41, 0.51, 0.60, 0.71),  # not published for CAS(ME)^3: CASME-II's
        videos=tuple("abcdefghiJklm"),  # 13 stimulus videos, one capital J
    ),
)

SPECS: dict[str, DatasetSpec] = {}
# Quirks the synthetic generator can plant (mer_utils.synthetic.plan.QUIRKS, same keys): sheet
# cells as in the real spreadsheets, and frame folders (a frame missing inside the clip).
QUIRK_NAMES = ("apex_slash", "apex_minus_one", "apex_at_onset", "apex_at_offset",
               "apex_after_offset", "apex_before_onset", "two_frame_onset_phase",
               "onset_after_offset", "onset_apex_zero", "offset_zero", "overlong",
               "frame_gap")  # fmt: skip


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
        spec.subject_id.format(1)
    except (IndexError, KeyError, ValueError):
        bad.append(f"subject_id={spec.subject_id!r}: a template of one number")
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


# ---------------------------------------------------------------- composites


@dataclass(frozen=True)
class CompositePart:
    """One source of a composite: which spec, how its labels map, what the official ground
    truth holds of it (``shared/datasets_megc.md``)."""

    source: str  # a name in SPECS
    gt_name: str  # the ``db`` cell of the official ground-truth CSV
    folders: tuple[str, ...]  # sub-folders of a composite root that may hold this copy
    label_map: dict[str, str]  # source label (normalised) -> composite class; others left out
    official: dict[str, int]  # clips per composite class in the official ground truth
    subjects: int  # subjects holding those clips
    # (subject, clip) of rows a copy may hold that the official ground truth leaves out
    # (CASME-II: the 2014 sheet's sub04/EP12_01f and sub05/EP09_05f; the 2019 sheet's three
    # sadness -> surprise relabels), keyed by subject + clip, never by row
    not_in_gt: tuple[tuple[str, str], ...] = ()
    # synthetic copy: clips per source label (as the sheet spells it) and subject numbers
    synthetic_counts: dict[str, int] = field(default_factory=dict)
    synthetic_subjects: tuple[int, ...] = ()


@dataclass(frozen=True)
class CompositeSpec:
    """A benchmark pooled from several datasets under one class list (MEGC 2019 CDE)."""

    name: str
    title: str
    classes: tuple[str, ...]
    parts: tuple[CompositePart, ...]
    ground_truth: str  # the official ground-truth CSV's file name

    def part(self, source: str) -> CompositePart:
        return next(p for p in self.parts if p.source == source)

    def as_spec(self) -> DatasetSpec:
        """A DatasetSpec view (name, title, classes) for code that only needs those."""
        first = SPECS[self.parts[0].source]
        stats = replace(first.stats, counts={c: 1 for c in self.classes}, quirks=())
        return replace(first, name=self.name, title=self.title, classes=self.classes,
                       excluded=(), paper_clips=0, stats=stats)  # fmt: skip


_NEG = "negative"
MEGC2019 = CompositeSpec(
    name="megc2019",
    title="MEGC 2019 (SMIC-HS + CASME-II + SAMM)",
    classes=("negative", "positive", "surprise"),  # label 0, 1, 2 of the ground truth
    ground_truth="combined_3class_gt.csv",
    parts=(
        CompositePart(
            "smic", "smic", ("SMIC", "smic", "SMIC-HS"),
            dict(negative=_NEG, positive="positive", surprise="surprise"),
            dict(negative=70, positive=51, surprise=43), 16,
            synthetic_counts=dict(negative=70, positive=51, surprise=43),
        ),
        CompositePart(
            "casme2", "casme2", ("CASME2", "casme2", "CASME-II", "CASME_II"),
            dict(disgust=_NEG, repression=_NEG, happiness="positive", surprise="surprise"),
            dict(negative=88, positive=32, surprise=25), 24,
            not_in_gt=(("sub04", "EP12_01f"), ("sub05", "EP09_05f"), ("sub24", "EP07_01"),
                       ("sub24", "EP07_04f"), ("sub24", "EP10_03")),
            synthetic_counts=dict(disgust=63, repression=25, happiness=32, surprise=25),
            synthetic_subjects=tuple(n for n in range(1, 27) if n not in (10, 18)),
        ),
        CompositePart(
            "samm", "samm", ("SAMM", "samm"),
            dict(anger=_NEG, contempt=_NEG, disgust=_NEG, fear=_NEG, sadness=_NEG,
                 happiness="positive", surprise="surprise"),
            dict(negative=92, positive=26, surprise=15), 28,
            synthetic_counts=dict(Anger=57, Contempt=12, Disgust=9, Fear=8, Sadness=6,
                                  Happiness=26, Surprise=15),
            synthetic_subjects=tuple(n for n in range(6, 38) if n not in (8, 25, 27, 29)),
        ),
    ),
)  # fmt: skip
COMPOSITES: dict[str, CompositeSpec] = {MEGC2019.name: MEGC2019}


def composite_of(dataset: str) -> CompositeSpec | None:
    """The composite ``dataset`` names (``megc2019`` or its ``synthetic_`` copy), else None."""
    return COMPOSITES.get(dataset.removeprefix(SYNTHETIC_PREFIX))


def dataset_names() -> tuple[str, ...]:
    """Every valid ``dataset`` value: each spec's and composite's name and ``synthetic_`` copy."""
    names = (*SPECS, *COMPOSITES)
    return (*names, *(SYNTHETIC_PREFIX + n for n in names))


def is_synthetic(dataset: str) -> bool:
    """True for our generated copies (``synthetic_<name>``)."""
    return dataset.startswith(SYNTHETIC_PREFIX)


def spec_of(dataset: str) -> DatasetSpec:
    """The spec of ``dataset`` (a ``synthetic_`` copy has its original's); DatasetError
    listing the valid names otherwise."""
    base = dataset.removeprefix(SYNTHETIC_PREFIX)
    if base in COMPOSITES:
        return COMPOSITES[base].as_spec()
    if base not in SPECS:
        raise DatasetError(f"unknown dataset {dataset!r}; use one of {list(dataset_names())}")
    return SPECS[base]


for _spec in (CASME2, SAMM, SMIC, MMEW, CASME3):
    register_dataset(_spec)
del _spec
