"""What notebooks 01 and 02 show of a loaded dataset, one call per table or figure: the clip
table and its counts, clip and phase lengths, the validation report, the aligned intensity
curves (Fig. 3's input), one example clip per class, the paper's ARP weights beside Bilen et
al.'s, and the DI coefficient curves and projection summary."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mer_utils import di_analysis, plots
from mer_utils.config import Config
from mer_utils.console import progress_bar
from mer_utils.datasets import Dataset, Sample
from mer_utils.dynamic_image import arp_weights, dynamic_image, to_uint8
from mer_utils.faces import FaceParams
from mer_utils.frames import read_clip
from mer_utils.store import alignment_report, face_alignments
from mer_utils.synthetic import intensity_curve

LENGTHS = [
    "length",
    "onset_phase",
    "offset_phase",
]  # frames (onset and offset phases share the apex)


def clip_table(ds: Dataset) -> pd.DataFrame:
    """One row per loaded clip: subject, clip, label, onset, apex, offset, apex_source and the
    clip and phase lengths in frames (int)."""
    cols = ["subject", "clip", "label", "onset", "apex", "offset", "apex_source"]
    clips = pd.DataFrame([{k: getattr(s, k) for k in cols} for s in ds.samples], columns=cols)
    return clips.assign(
        length=clips.offset - clips.onset + 1,
        onset_phase=clips.apex - clips.onset + 1,
        offset_phase=clips.offset - clips.apex + 1,
    )


def subjects_line(clips: pd.DataFrame) -> str:
    """ "<n> subjects; clips per subject: min <a>, max <b>"."""
    per = clips.groupby("subject").size()
    return (
        f"{clips.subject.nunique()} subjects; clips per subject: min {per.min()}, max {per.max()}"
    )


def fig_lengths(clips: pd.DataFrame, title: str) -> plt.Figure:
    """Histograms of clip, onset-phase and offset-phase lengths (frames), overlaid."""
    ax = clips[LENGTHS].plot.hist(bins=30, alpha=0.6, figsize=(7, 3.5))
    ax.set_xlabel("frames")
    ax.set_ylabel("clips")
    ax.set_title(title)
    return ax.figure


def validation_report(ds: Dataset, face: FaceParams | None) -> pd.DataFrame:
    """The loader's report (one row per finding and the policy applied), plus, with a face
    method (``Config.face_params()``), one row per face issue of each clip's alignment (no face,
    several faces, low score, landmarks that disagree; the policy applied), from the alignments
    the DI store uses (:func:`mer_utils.store.face_alignments`: computed once, cached)."""
    if face is None:
        return ds.report
    rows = alignment_report(ds, face_alignments(ds, face))
    return pd.concat([ds.report, rows], ignore_index=True)


def face_preview(cfg: Config) -> FaceParams | None:
    """The face parameters notebook 01 draws (:func:`mer_utils.plots.fig_face_alignment`): the
    run's, or with ``face: none`` those ``face: auto`` would use on these frames (so a config
    that keeps whole frames still shows what the layout's method does); None when the frames
    are pre-cropped (``auto`` is none too)."""
    return cfg.face_params() or dataclasses.replace(cfg, face="auto").face_params()


def face_counts(report: pd.DataFrame) -> pd.Series:
    """Face rows of a validation report counted by the policy applied (empty without any)."""
    face = report[report.policy.str.startswith("face")]
    return face.policy.value_counts().rename("clips")


def cut_or_dropped(report: pd.DataFrame) -> pd.DataFrame:
    """Report rows of clips cut, dropped or left uncropped."""
    return report[report.policy.str.contains("cut to|dropped|full frame")]


def intensity_curves(samples: Sequence[Sample]) -> pd.DataFrame:
    """One row per clip: label, curve (float32 [101], :func:`mer_utils.plots.aligned_intensity`)."""
    return pd.DataFrame(
        [
            dict(label=s.label, curve=plots.aligned_intensity(s))
            for s in progress_bar(samples, desc="motion intensity", unit="clip")
        ]
    )


def peak_time(curves: pd.DataFrame) -> float:
    """Normalised time (-1 onset, 0 apex, +1 offset) where the mean curve peaks."""
    mean = np.stack(curves.curve).mean(0)
    return float(np.linspace(-1, 1, len(mean))[mean.argmax()])


def one_clip_per_class(ds: Dataset, seed: int) -> list[Sample]:
    """One clip of each class present, drawn with ``seed``, in class order."""
    rng = np.random.default_rng(seed)
    return [
        ds.samples[rng.choice([i for i, s in enumerate(ds.samples) if s.label == c])]
        for c in ds.classes
        if any(s.label == c for s in ds.samples)
    ]


def fig_weights(sample: Sample, size: int, title: str, T: int = 20) -> plt.Figure:
    """The paper's ARP weights ``2t - T - 1`` beside Bilen et al.'s (``T`` frames), and the full
    DI of ``sample`` (frames at ``size`` px) with each."""
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
    for v in ("paper", "bilen"):
        w = arp_weights(T, v)
        ax[0].plot(range(1, T + 1), w, marker="o", ms=3, label=f"{v} (sum {w.sum():.1e})")
    ax[0].set_title(f"ARP weights, T={T}")
    ax[0].set_xlabel("frame t")
    ax[0].set_ylabel("weight")
    ax[0].legend(fontsize=9)
    frames = read_clip(sample.frames, size=size)
    for a, v in zip(ax[1:], ("paper", "bilen"), strict=True):
        a.imshow(to_uint8(dynamic_image(frames, v)))
        a.set_title(f"full DI, {v} weights")
        a.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def coefficient_curves(ds: Dataset, dataset: str, T: int = 61) -> dict[str, pd.DataFrame]:
    """Profile name -> :func:`mer_utils.di_analysis.coefficient_curves` at 49 apex positions,
    for the generator's profile (sin² rise, cos² decay) and the mean aligned motion intensity
    measured on ``ds`` (notebook 01's curve)."""
    positions = np.linspace(0.02, 0.98, 49)
    measured = np.stack([plots.aligned_intensity(s) for s in ds.samples]).mean(0)
    return {
        f"generator's profile (sin² rise, cos² decay), T = {T}": di_analysis.coefficient_curves(
            intensity_curve, T, positions
        ),
        f"profile measured on {dataset} (notebook 01), T = {T}": di_analysis.coefficient_curves(
            di_analysis.aligned_profile(measured), T, positions
        ),
    }


def projections_line(proj: pd.DataFrame) -> str:
    """One line on :func:`mer_utils.di_analysis.clip_projections`: the full DI's projection
    against the apex position (slope, zero crossing) and how often each phase DI is positive."""
    ok = np.isfinite(proj.full)  # a clip with apex == onset has no apex - onset image
    slope = np.polyfit(proj.rel_apex[ok], proj.full[ok], 1)
    return (
        f"full DI projection vs apex position: slope {slope[0]:+.2f}, zero crossing at "
        f"{-slope[1] / slope[0]:.2f}; phase DIs positive for "
        f"{100 * np.nanmean(proj.onset > 0):.0f}% (onset) and "
        f"{100 * np.nanmean(proj.offset > 0):.0f}% (offset) of clips"
    )
