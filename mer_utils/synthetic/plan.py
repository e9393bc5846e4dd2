"""Planning a synthetic copy: which clips, whose, which label and AUs, which frames, which quirks.

Everything is a deterministic function of (spec, seed, scale); nothing is rendered here. The
statistics mimicked (subjects, class counts, clip lengths, relative apex positions, onset
numbers, planted sheet quirks) come from the dataset's
:class:`~mer_utils.dataset_specs.Statistics`.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from mer_utils.dataset_specs import DatasetSpec, normalise_label

BLINK_PROB = 0.3
# Per class: alternatives of AU sets (one is drawn per clip). "others": random AUs.
CLASS_AUS: dict[str, list[list[str]]] = {
    "happiness": [["6", "12"], ["12"], ["6", "12", "26"]],
    "disgust": [["9", "4"], ["9", "10"], ["4", "9", "10"]],
    "surprise": [["1", "2"], ["1", "2", "5"], ["1", "2", "26"]],
    "repression": [["14", "17"], ["15", "17"], ["14"]],
    "anger": [["4", "7"], ["4", "7", "23"], ["4"]],
    "contempt": [["R12"], ["R14"], ["R12", "R14"]],
    "sadness": [["1", "4", "15"]],
    "fear": [["1", "2", "4"]],
}
OTHERS_POOL = ["1", "4", "7", "10", "14", "15", "17", "23"]


@dataclass(frozen=True)
class ClipPlan:
    """Everything needed to render and annotate one clip."""

    index: int
    subject: str  # the subject id as the folders spell it ("sub01", "006")
    clip: str
    label: str  # as the sheet spells it
    aus: tuple[str, ...]
    au_gain: tuple[float, ...]
    amplitude: float
    onset: int
    apex: int  # the true apex, used for rendering
    offset: int
    apex_cell: object  # what the spreadsheet says (may be a planted quirk)
    first: int  # first frame number written to the folder
    last: int
    pad: int  # zero-padding width of frame numbers (layouts whose padding varies)
    blink: tuple[int, int] | None  # blink start, length (frames from onset), or None
    seed: int
    onset_cell: object = None  # what the sheet says when it is not ``onset`` (a planted quirk)
    offset_cell: object = None
    skip: tuple[int, ...] = ()  # frame numbers not written (a gap inside the clip)
    video: str = ""  # the long video's folder holding this clip (layouts with ``videos``)
    quirk: str = ""  # the planted quirk's name, if any

    @property
    def folder_clip(self) -> str:
        """The clip folder's name (the long video for layouts with ``videos``)."""
        return self.video or self.clip


# Sheet quirks seen in the real spreadsheets (shared/datasets.md), planted on purpose.
QUIRKS: dict[str, Callable[[ClipPlan], ClipPlan]] = {
    "apex_slash": lambda p: replace(p, apex_cell="/"),
    "apex_minus_one": lambda p: replace(p, apex_cell=-1),
    "apex_at_onset": lambda p: replace(p, apex_cell=p.onset),
    "apex_at_offset": lambda p: replace(p, apex_cell=p.offset),
    "apex_after_offset": lambda p: replace(p, apex_cell=p.offset + 9),
    "apex_before_onset": lambda p: replace(p, apex_cell=max(1, p.onset - 2966)),  # a frame number
    "two_frame_onset_phase": lambda p: replace(p, apex=p.onset + 1, apex_cell=p.onset + 1),
    # CAS(ME)^3's broken rows (datasets_megc.md): spNO.216/d, spNO.216/e, spNO.40/e, spNO.214/c
    "onset_after_offset": lambda p: replace(p, onset_cell=p.offset + 979),
    "onset_apex_zero": lambda p: replace(p, onset_cell=0, apex_cell=0),
    "offset_zero": lambda p: replace(p, offset_cell=0),
    "overlong": lambda p: replace(p, offset_cell=p.onset + 3455),
    # SMIC-HS: a frame missing inside the clip folder (public loaders repeat the previous one)
    "frame_gap": lambda p: replace(p, skip=(p.offset - 2,)),
}


def subject_ids(spec: DatasetSpec) -> dict[str, int]:
    """Subject id as the folders spell it -> subject number, for every subject of ``spec``."""
    return {spec.subject_id.format(n): n for n in spec.stats.subjects}


def _lengths(rng: np.random.Generator, n: int, lo: int, hi: int, median: int) -> np.ndarray:
    """Clip lengths with the given range (both ends present when n >= 2) and median."""
    x = np.clip(np.round(median * np.exp(rng.normal(0, 0.3, n))), lo, hi).astype(int)
    if n >= 2:
        x[rng.choice(n, 2, replace=False)] = (lo, hi)
    return x


def _class_aus(label: str) -> list[list[str]]:
    """The AU sets of a class; a label without an entry in :data:`CLASS_AUS` (a new
    dataset's class) gets a fixed pair of AUs picked by its name, so it is still learnable."""
    if label.lower() in CLASS_AUS:
        return CLASS_AUS[label.lower()]
    k, n = zlib.crc32(label.lower().encode()), len(OTHERS_POOL)
    first = k % n
    second = (first + 1 + (k // n) % (n - 1)) % n  # never the first
    return [[OTHERS_POOL[first], OTHERS_POOL[second]]]


def _draw_aus(rng: np.random.Generator, label: str) -> list[str]:
    if normalise_label(label) == "others":
        return list(rng.choice(OTHERS_POOL, size=rng.integers(1, 3), replace=False))
    options = _class_aus(label)
    return list(options[rng.integers(len(options))])


def _clip_names(rng: np.random.Generator, spec: DatasetSpec, subject: str, k: int) -> list[str]:
    """``k`` distinct clip folder names in the spec's naming scheme."""
    (a_lo, a_hi), (b_lo, b_hi), p_f = spec.stats.clip_ranges
    names: set[str] = set()
    while len(names) < k:
        a, b = rng.integers(a_lo, a_hi), rng.integers(b_lo, b_hi)
        f = "f" if p_f > 0 and rng.random() < p_f else ""
        names.add(spec.stats.clip_name.format(subject=subject, a=a, b=b, f=f))
    return sorted(names)


def plan_clips(spec: DatasetSpec, seed: int, scale: float) -> list[ClipPlan]:
    """Deterministic plan of every clip (labels, subjects, frames, planted quirks)."""
    rng = np.random.default_rng(seed)
    stats = spec.stats
    labels = [lab for lab, n in stats.counts.items() for _ in range(max(1, round(n * scale)))]
    rng.shuffle(labels)
    subjects, owner = _owners(rng, spec, len(labels), scale)
    lengths = _lengths(rng, len(labels), *stats.length)
    rel_apex = draw_rel_apex(rng, stats.rel_apex, len(labels))
    names = _names(rng, spec, subjects, owner, labels)
    plans = [
        _plan_one(rng, spec, i, subjects[who], name, lab, int(T), r, seed)
        for i, (lab, who, T, r, name) in enumerate(
            zip(labels, owner, lengths, rel_apex, names, strict=True)
        )
    ]
    if stats.videos:
        plans = _in_videos(rng, spec, plans)
    if spec.sheet is None:  # no annotation: nothing says where the apex is (SMIC-HS)
        plans = [replace(p, apex_cell=None) for p in plans]
    return _plant_quirks(plans, spec)


def _owners(
    rng: np.random.Generator, spec: DatasetSpec, n: int, scale: float
) -> tuple[list[str], np.ndarray]:
    """(subjects used, int [n] index of each clip's subject): the real clips per subject
    (``stats.subject_clips``) when they add up to ``n``, else every subject used at least once
    and the rest at random."""
    all_ids, per = list(subject_ids(spec)), spec.stats.subject_clips
    if per and sum(per) == n:
        return all_ids, rng.permutation(np.repeat(np.arange(len(per)), per))
    n_sub = min(len(all_ids), max(4, round(len(all_ids) * scale)), n)
    owner = np.concatenate([np.arange(n_sub), rng.integers(0, n_sub, n - n_sub)])
    return all_ids[:n_sub], owner


def _names(rng, spec: DatasetSpec, subjects: list[str], owner: np.ndarray, labels) -> list[str]:
    """Each clip's folder name: numbered per (subject, label) when ``clip_name`` uses {tag}
    (SMIC-HS ``s1_ne_01``, MMEW ``S01-01-001``), a stimulus video when the layout has
    ``videos`` (CAS(ME)^3; made unique later), else drawn from ``clip_ranges``."""
    st = spec.stats
    if st.videos:
        return [str(v) for v in rng.choice(st.videos, len(labels))]
    if st.label_tags:
        seen: Counter = Counter()
        out = []
        for who, lab in zip(owner, labels, strict=True):
            seen[who, lab] += 1
            tag = st.label_tags[lab]
            out.append(st.clip_name.format(subject=subjects[who], tag=tag, n=seen[who, lab]))
        return out
    pools = {
        i: iter(_clip_names(rng, spec, s, int((owner == i).sum()))) for i, s in enumerate(subjects)
    }
    return [next(pools[who]) for who in owner]


def _in_videos(rng, spec: DatasetSpec, plans: list[ClipPlan]) -> list[ClipPlan]:
    """Clips sharing a long video laid one after another in it (never overlapping), each
    named ``<video>_<onset>`` as the loader names it."""
    out = list(plans)
    groups: dict[tuple[str, str], list[int]] = {}
    for p in plans:
        groups.setdefault((p.subject, p.clip), []).append(p.index)
    for (_, video), idx in sorted(groups.items()):
        start = int(rng.integers(*spec.stats.onset_frames))
        for i in idx:
            p, shift = out[i], start - out[i].first
            moved = [getattr(p, k) + shift for k in ("onset", "apex", "offset", "first", "last")]
            on, ap, off, first, last = moved
            out[i] = replace(p, onset=on, apex=ap, apex_cell=ap, offset=off, first=first,
                             last=last, video=video, clip=f"{video}_{on}")  # fmt: skip
            start = last + int(rng.integers(10, 80))
    return out


def _margin(rng: np.random.Generator, spec: DatasetSpec) -> int:
    """Frames written beyond each end of a clip (some copies hold a few extra)."""
    frames, how_often = spec.stats.margin
    if how_often >= 1:
        return frames
    return frames if rng.random() < how_often else 0


QUANTILE_LEVELS = (0.10, 0.25, 0.50, 0.75, 0.90)  # of Statistics.rel_apex


def apex_quantile_function(rel_apex: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(levels, positions) of the piecewise-linear quantile function of the relative apex
    position through the real p10, q25, median, q75 and p90 (``Statistics.rel_apex``); the
    tails carry on the slope of the neighbouring segment to levels 0 and 1, inside (0, 1)."""
    q = np.asarray(rel_apex, dtype=np.float64)
    lo = q[0] - 0.10 * (q[1] - q[0]) / 0.15
    hi = q[4] + 0.10 * (q[4] - q[3]) / 0.15
    levels = np.array([0.0, *QUANTILE_LEVELS, 1.0])
    return levels, np.clip(np.array([lo, *q, hi]), 0.02, 0.98)


def draw_rel_apex(rng: np.random.Generator, rel_apex: tuple[float, ...], n: int) -> np.ndarray:
    """float64 [n] relative apex positions drawn from the real distribution (stratified: one
    draw per 1/n of probability, in random order, so a copy's quantiles sit on the real ones)."""
    levels, positions = apex_quantile_function(rel_apex)
    u = (rng.permutation(n) + rng.random(n)) / n
    return np.interp(u, levels, positions)


def _plan_one(
    rng,
    spec: DatasetSpec,
    i: int,
    subject: str,
    clip: str,
    label: str,
    T: int,
    rel_apex: float,
    seed: int,
) -> ClipPlan:
    onset = int(rng.integers(*spec.stats.onset_frames))
    apex = onset + int(np.clip(round(rel_apex * (T - 1)), 1, T - 2))  # phases of >= 2 frames
    offset = onset + T - 1
    extra = _margin(rng, spec)
    aus = _draw_aus(rng, label)
    blink = None
    if rng.random() < BLINK_PROB:
        bl = int(rng.integers(20, 50))
        blink = (int(rng.integers(-bl // 2, T - bl // 2)), bl)
    gains = tuple(float(g) for g in rng.uniform(0.6, 1.2, len(aus)))
    amplitude = float(np.exp(rng.normal(0, 0.35)))
    return ClipPlan(
        *(i, subject, clip, label, tuple(aus), gains, amplitude, onset, apex, offset, apex),
        *(onset - extra, offset + extra, int(rng.choice([4, 5])), blink),
        int(np.random.SeedSequence([seed, i]).generate_state(1)[0]),
    )


def _plant_quirks(plans: list[ClipPlan], spec: DatasetSpec) -> list[ClipPlan]:
    """Corrupt a few apex cells on purpose, as in the real spreadsheets (datasets.md): the
    spec's quirks, one each, on the first clips of the 5-class task."""
    idx = [p.index for p in plans if normalise_label(p.label) in spec.classes]
    for name, i in zip(spec.stats.quirks, idx, strict=False):
        q = replace(QUIRKS[name](plans[i]), quirk=name)
        if q.video and q.onset_cell is not None:  # the loader names it by the onset cell
            q = replace(q, clip=f"{q.video}_{q.onset_cell}")
        plans[i] = q
    return plans
