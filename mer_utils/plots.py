"""Figures: Fig. 2 (frames and the three DIs), Fig. 3 (motion intensity aligned at the apex),
the DI-Offset sign identity, confusion matrices and learning curves. Each returns a Figure."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mer_utils import faces
from mer_utils.datasets import Sample
from mer_utils.dynamic_image import dynamic_image, phase_dynamic_images, to_uint8
from mer_utils.frames import crop_resize, detect_face, motion_intensity, read_clip, read_frame


def save(fig: plt.Figure, stem: Path, dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` (raster, ``dpi``) and ``<stem>.pdf`` (vector, for
    papers); returns both paths. The figure stays open so the notebook displays it."""
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=dpi, bbox_inches="tight")
    return paths


def clip_at_aspect(s: Sample, height: int, face: faces.FaceParams | None = None) -> np.ndarray:
    """uint8 [T, height, W, 3]: a clip's frames (with ``face``, its aligned crops, as the DI
    store reads them) resized to ``height`` keeping their true aspect ratio."""
    if face is None:
        frames = read_clip(s.frames)
    else:
        a = faces.align_clip(s.frames, face)
        frames = faces.read_aligned_clip(s.frames, a, face).frames
    h, w = frames.shape[1:3]
    width = max(1, round(w * height / h))
    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])


def fig2(
    samples: Sequence[Sample],
    size: int = 224,
    variant: str = "paper",
    face: faces.FaceParams | None = None,
    title: str = "",
) -> plt.Figure:
    """Rows = clips; columns = onset, apex, offset frames, full DI, DI-Onset, DI-Offset, each
    ``size`` px high at the frames' true aspect ratio (SAMM's 960x650 is not squashed; with a
    ``face`` method, the square aligned crops)."""
    cols = ["onset frame", "apex frame", "offset frame", "DI (full)", "DI-Onset", "DI-Offset"]
    clips = [clip_at_aspect(s, size, face) for s in samples]  # each read once
    aspect = clips[0].shape[2] / clips[0].shape[1]
    fig, axes = plt.subplots(
        len(samples), 6, figsize=(2.2 * 6 * aspect, 2.4 * len(samples)), squeeze=False
    )
    for row, s, frames in zip(axes, samples, clips, strict=True):
        p = phase_dynamic_images(frames, s.onset, s.apex, s.offset, variant)
        a = s.apex - s.onset
        panels = [
            frames[0],
            frames[a],
            frames[-1],
            to_uint8(p.full),
            None if p.onset is None else to_uint8(p.onset),
            None if p.offset is None else to_uint8(p.offset),
        ]
        for ax, img in zip(row, panels, strict=True):
            _panel(ax, img)
        row[0].text(
            -0.08,
            0.5,
            f"{s.label}\n{s.subject}/{s.clip}",
            rotation=90,
            fontsize=12,
            ha="right",
            va="center",
            transform=row[0].transAxes,
        )
    for ax, col in zip(axes[0], cols, strict=True):
        ax.set_title(col, fontsize=12)
    if title:
        fig.suptitle(title, fontsize=14)
    fig.tight_layout()
    return fig


def _panel(ax: plt.Axes, img: np.ndarray | None) -> None:
    """One image panel without axes; ``None`` says there is no phase DI."""
    ax.axis("off")
    if img is None:
        ax.text(
            0.5,
            0.5,
            "no phase DI\n(1-frame phase)",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    else:
        ax.imshow(img)


def fig_reverse_identity(
    s: Sample, size: int = 224, title: str = ""
) -> tuple[plt.Figure, dict[str, float]]:
    """DI-Offset (reversed weights) vs the forward DI of the same apex->offset frames.

    Returns the figure and the numbers: max |reversed + forward| (float) and the share of
    pixels where uint8(reversed) == 255 - uint8(forward).
    """
    frames = read_clip(s.frames, size=size)[s.apex - s.onset :]
    fwd, rev = dynamic_image(frames), dynamic_image(frames, reverse=True)
    u_fwd, u_rev = to_uint8(fwd), to_uint8(rev)
    nums = dict(
        max_abs_sum=float(np.abs(rev + fwd).max()),
        equal_255_minus=float((u_rev.astype(int) == 255 - u_fwd.astype(int)).mean()),
    )
    fig, ax = plt.subplots(1, 3, figsize=(9, 3.2))
    for a, img, t in zip(
        ax,
        (u_fwd, u_rev, 255 - u_fwd),
        ("forward DI (apex->offset)", "DI-Offset (reversed)", "255 - forward"),
        strict=True,
    ):
        a.imshow(img)
        a.set_title(t, fontsize=11)
        a.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig, nums


def aligned_intensity(s: Sample, size: int = 64, grid: int = 101) -> np.ndarray:
    """Detrended motion intensity of one clip on a normalised time axis [-1, 1] with the apex
    at 0 (onset -1, offset +1), scaled to peak 1: float32 [grid]."""
    m = motion_intensity(read_clip(s.frames, size=size))
    m = m / m.max() if m.max() > 0 else m
    a, T = s.apex - s.onset, len(m)
    t = np.arange(T, dtype=np.float64)
    x = np.where(t <= a, (t - a) / max(a, 1), (t - a) / max(T - 1 - a, 1))
    return np.interp(np.linspace(-1, 1, grid), x, m).astype(np.float32)


def fig3(
    curves: pd.DataFrame, classes: Sequence[str], grid: int = 101, title: str = ""
) -> plt.Figure:
    """One panel per class (shared axes): mean of the aligned intensity curves with a ± std
    band, and the all-class mean in grey for reference (``curves``: label, curve)."""
    x = np.linspace(-1, 1, grid)
    present = [c for c in classes if (curves.label == c).any()]
    everyone = np.stack(curves.curve.to_list()).mean(0)
    fig, axes = plt.subplots(
        1, len(present), figsize=(2.9 * len(present), 3.3), sharey=True, squeeze=False
    )
    for ax, c, color in zip(axes[0], present, plt.cm.tab10.colors, strict=False):
        sel = np.stack(curves[curves.label == c].curve.to_list())
        mu, sd = sel.mean(0), sel.std(0)
        ax.plot(x, everyone, color="0.6", lw=1, label="all classes")
        ax.plot(x, mu, color=color, lw=2, label=c)
        ax.fill_between(x, mu - sd, mu + sd, color=color, alpha=0.25, lw=0)
        ax.axvline(0, color="k", lw=0.8, ls="--")
        ax.set_xticks([-1, 0, 1], ["onset", "apex", "offset"])
        ax.set_xlabel("normalised time")
        ax.set_title(f"{c} (n={len(sel)})", fontsize=11)
    axes[0, 0].set_ylabel("motion intensity (peak = 1)")
    fig.suptitle(title or "Motion intensity aligned at the apex: mean ± std per class")
    fig.tight_layout()
    grey = axes[0, 0].get_lines()[0]  # the all-class mean, the same in every panel
    coloured = [ax.get_lines()[1] for ax in axes[0]]
    _legend_below(fig, [grey, *coloured], ["all classes", *present])
    return fig


def confusion_grid(
    cms: dict[str, np.ndarray], classes: Sequence[str], ncols: int = 4, suptitle: str = ""
) -> plt.Figure:
    """Confusion matrices, one panel per title in ``cms`` (in its order): numbers are counts,
    colour is the share of the true class (each row sums to 1), read on the colour bar."""
    n = len(cms)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, min(n, ncols), figsize=(3.3 * min(n, ncols) + 1, 3.5 * nrows), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    image = None
    for ax, (title, cm) in zip(axes.flat, cms.items(), strict=False):
        ax.axis("on")
        norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        image = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(
                j,
                i,
                str(v),
                ha="center",
                va="center",
                fontsize=9,
                color="white" if norm[i, j] > 0.5 else "black",
            )
        ax.set_xticks(range(len(classes)), classes, rotation=60, fontsize=9)
        ax.set_yticks(range(len(classes)), classes, fontsize=9)
        ax.set_xlabel("predicted class", fontsize=9)
        ax.set_ylabel("true class", fontsize=9)
        model, _, conf = title.partition(" · ")  # model, then the configuration wrapped
        ax.set_title("\n".join([model, *textwrap.wrap(conf, 34)]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    if image is not None:
        bar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, pad=0.02)
        bar.set_label("share of the true class (row); numbers: clip counts", fontsize=9)
    return fig


def learning_curves(histories: pd.DataFrame, title: str = "") -> plt.Figure:
    """Mean train / validation loss per epoch and configuration over folds (``histories``:
    configuration key, epoch, train_loss, val_loss), in the paper's configuration order,
    labelled with Table I's names, integer epoch ticks."""
    from matplotlib.ticker import MaxNLocator

    from mer_utils.configurations import display, row_order

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    confs = sorted(histories.configuration.unique(), key=row_order)
    for conf in confs:
        g = histories[histories.configuration == conf]
        m = g.groupby("epoch")[["train_loss", "val_loss"]].mean()
        ax[0].plot(m.index, m.train_loss, ".-", label=display(conf))  # a dot: 1 epoch shows
        ax[1].plot(m.index, m.val_loss, ".-", label=display(conf))
    epochs = sorted(histories.epoch.unique())
    for a, t in zip(ax, ("training loss", "validation loss"), strict=True):
        a.set_xlabel("epoch")
        if len(epochs) <= 10:  # every epoch a tick (MaxNLocator gives 0.945... for one epoch)
            a.set_xticks(epochs)
        else:
            a.xaxis.set_major_locator(MaxNLocator(integer=True))
        a.set_title(t)
    ax[0].set_ylabel("cross-entropy (mean over folds)")
    handles, labels = ax[0].get_legend_handles_labels()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _legend_below(fig, handles, labels, "configuration")
    return fig


def _legend_below(fig: plt.Figure, handles: list, labels: list[str], title: str = "") -> None:
    """One legend for the whole figure, centred under its panels (it covers no curve)."""
    if not handles:
        return
    ncol = 2 if max(len(t) for t in labels) > 30 else min(len(labels), 4)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol,
               fontsize=8, title=title or None, title_fontsize=8, frameon=False)  # fmt: skip


PROTOCOL_NOTE = (
    "bar: {m} pooled over all out-of-fold predictions; dot and whisker: per-fold mean ± std "
    "(whiskers cut at 0 and 100 %)"
)


def protocol_bars(long: pd.DataFrame, metric: str = "uar", title: str = "") -> plt.Figure:
    """Grouped bars: per model panel, configurations on x, one bar per run (protocol /
    validation), height = pooled ``metric`` (%), dot and whisker = per-fold mean ± std, cut at
    0 and 100 % (``long``: :func:`mer_utils.comparison.protocol_comparison`). One legend under
    the panels names only the runs drawn; a note under it says what bar and dot are."""
    models = list(dict.fromkeys(long.model))
    long = long.assign(label=long.protocol + " / " + long.validation + " validation")
    runs = [r for r in dict.fromkeys(long.label) if long[long.label == r][f"{metric}_pooled"].notna().any()]  # fmt: skip
    n_confs = max(long.groupby("model").configuration.nunique())
    width = max(5.5, 1.4 * n_confs)
    fig, axes = plt.subplots(1, len(models), figsize=(width * len(models), 4.4), squeeze=False)
    drawn: dict[str, object] = {}
    for ax, m in zip(axes[0], models, strict=True):
        g = long[long.model == m]
        confs = list(dict.fromkeys(g.configuration))
        width = 0.8 / len(runs)
        for i, r in enumerate(runs):
            h = g[g.label == r].set_index("configuration").reindex(confs)
            if h[f"{metric}_pooled"].isna().all():
                continue
            x = np.arange(len(confs)) + (i - (len(runs) - 1) / 2) * width
            drawn[r] = ax.bar(x, h[f"{metric}_pooled"], width, color=f"C{i}", label=r)
            mean, std = h[f"{metric}_mean"].to_numpy(), h[f"{metric}_std"].fillna(0).to_numpy()
            low, high = np.minimum(std, mean), np.minimum(std, 100 - mean)  # within 0-100 %
            ax.errorbar(x, mean, yerr=[low, high], fmt="k.", capsize=3, lw=1)
        labels = [
            textwrap.fill(c.replace("Baseline + ", "+ "), 16, break_on_hyphens=False) for c in confs
        ]
        ax.set_xticks(range(len(confs)), labels, fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_xlabel("configuration")
        ax.set_ylabel(f"{metric.upper()} (%)")
        ax.set_title(m)
    head = title or f"{metric.upper()} by protocol"
    fig.suptitle(f"{head}\n{textwrap.fill(PROTOCOL_NOTE.format(m=metric.upper()), 90)}")
    fig._suptitle.set_fontsize(10)
    fig.tight_layout()
    _legend_below(fig, list(drawn.values()), list(drawn), "run (protocol / validation)")
    return fig


def fig_apex_noise(curve: pd.DataFrame, metric: str = "accuracy", title: str = "") -> plt.Figure:
    """Phase-aware evaluation vs where the test clip is cut (``curve``:
    :func:`mer_utils.run_records.apex_noise_curve`): one panel per model, ``metric`` (%) against
    the shift of the cut from the annotated apex (% of the clip), one line per trained
    configuration; dashed levels for the spotted apex, the midpoint and the full DI."""
    models = list(dict.fromkeys(curve.model))
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4), squeeze=False)
    refs = {"spotted": ("--", "spotted apex"), "midpoint": (":", "clip midpoint")}
    refs["full DI (the paper's)"] = ("-.", "full DI (the paper's evaluation)")
    for ax, m in zip(axes[0], models, strict=True):
        for i, (conf, g) in enumerate(curve[curve.model == m].groupby("configuration", sort=False)):
            color = f"C{i}"
            line = g.dropna(subset=["shift_pct"]).sort_values("shift_pct")
            ax.plot(line.shift_pct, line[metric], "o-", color=color, label=f"{conf}: shifted cut")
            for cut, (style, name) in refs.items():
                level = g.loc[g.cut == cut, metric]
                if len(level):
                    ax.axhline(level.iloc[0], ls=style, color=color, lw=1, label=f"{conf}: {name}")
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel("cut = annotated apex + shift (% of the clip)")
        ax.set_ylabel(f"{metric.upper() if metric != 'accuracy' else 'accuracy'} (%)")
        ax.set_title(m)
    fig.suptitle(title or "Phase-aware evaluation vs where the test clip is cut")
    fig.tight_layout()
    _legend_below(fig, *axes[0, 0].get_legend_handles_labels())
    return fig


KIND_COLORS = {"full": "tab:blue", "onset": "tab:green", "offset": "tab:red"}


def fig_di_coefficients(curves: dict[str, pd.DataFrame], title: str = "") -> plt.Figure:
    """Coefficient of the expression pattern in the full DI, DI-Onset and DI-Offset against the
    relative apex position, one panel per intensity profile (``curves``: name -> the frame of
    :func:`mer_utils.di_analysis.coefficient_curves`)."""
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6), squeeze=False)
    for ax, (name, c) in zip(axes[0], curves.items(), strict=True):
        for k, color in KIND_COLORS.items():
            label = "full DI" if k == "full" else f"DI-{k.title()}"
            ax.plot(c.rel_apex, c[k], color=color, lw=2, label=label)
        ax.axhline(0, color="k", lw=0.8)
        ax.axvline(0.5, color="0.5", lw=0.8, ls="--")
        ax.set_xlabel("relative apex position (0 = onset, 1 = offset)")
        ax.set_ylabel("coefficient of the pattern D")
        ax.set_title(name, fontsize=11)
    axes[0, 0].legend(fontsize=9)
    fig.suptitle(title or "What each DI keeps of the expression")
    fig.tight_layout()
    return fig


def fig_apex_positions(positions: np.ndarray, title: str = "") -> plt.Figure:
    """Histogram of the clips' relative apex positions, with median and quartiles."""
    q1, med, q3 = np.quantile(positions, [0.25, 0.5, 0.75])
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    ax.hist(positions, bins=np.linspace(0, 1, 21), color="0.6", edgecolor="white")
    for v, ls in ((q1, ":"), (med, "-"), (q3, ":")):
        ax.axvline(v, color="tab:blue", ls=ls, lw=1.5)
    ax.set_xlabel("relative apex position (0 = onset, 1 = offset)")
    ax.set_ylabel("clips")
    ax.set_title(
        title or f"Apex position: median {med:.2f}, quartiles {q1:.2f}-{q3:.2f}", fontsize=11
    )
    fig.tight_layout()
    return fig


def fig_projections(proj: pd.DataFrame, title: str = "") -> plt.Figure:
    """Per clip, the measured coefficient (projection on apex - onset) of each DI against the
    relative apex position (``proj``: :func:`mer_utils.di_analysis.clip_projections`)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
    for ax, (k, color) in zip(axes, KIND_COLORS.items(), strict=True):
        ax.scatter(proj.rel_apex, proj[k], s=10, color=color, alpha=0.6)
        ax.axhline(0, color="k", lw=0.8)
        ax.axvline(0.5, color="0.5", lw=0.8, ls="--")
        share = np.nanmean(proj[k] > 0)
        label = "full DI" if k == "full" else f"DI-{k.title()}"
        ax.set_title(f"{label}: positive for {100 * share:.0f}% of clips", fontsize=11)
        ax.set_xlabel("relative apex position")
    axes[0].set_ylabel("projection on apex - onset")
    fig.suptitle(title or "Measured: the expression's sign in each DI, per clip")
    fig.tight_layout()
    return fig


# --- optical flow beside the DIs (issue 27) -----------------------------------------------

FLOW_COLS = (
    "apex frame",
    "DI-Onset",
    "DI-Offset",
    "flow onset→apex",
    "|flow| onset→apex",
    "flow {off}",
    "|flow| {off}",
)


def _flow_row(s: Sample, height: int, params, face_crop: bool) -> tuple[list, float]:
    """One clip's panels for :func:`fig_flows` and the magnitude (native px) shown at full
    brightness: the apex frame and the phase DIs at ``height`` px (true aspect), and each flow,
    computed at native size as the flow store does, as a colour wheel and a magnitude map."""
    from mer_utils.flow import flow_to_rgb, grey, optical_flow

    box = detect_face(read_frame(s.frames[0])) if face_crop else None
    native = read_clip(s.frames, box=box)
    h, w = native.shape[1:3]
    width = max(1, round(w * height / h))
    small = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in native])
    p = phase_dynamic_images(small, s.onset, s.apex, s.offset)
    a, last = s.apex - s.onset, len(native) - 1
    pairs = [(0, a), (last, a) if params.offset_direction == "reversed" else (a, last)]
    flows = [
        optical_flow(grey(native[i]), grey(native[j]), params) if i != j else None for i, j in pairs
    ]
    mags = [np.hypot(f[..., 0], f[..., 1]) for f in flows if f is not None]
    top = max([float(np.percentile(m, 99)) for m in mags] + [1e-3])
    panels = [small[a], *(None if d is None else to_uint8(d) for d in (p.onset, p.offset))]
    for f in flows:
        if f is None:
            panels += [None, None]
            continue
        if params.global_motion == "median":
            f = f - np.median(f.reshape(-1, 2), axis=0).astype(np.float32)
        f = cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA)  # values stay native px
        panels += [
            flow_to_rgb(f[..., 0], f[..., 1], top),
            np.hypot(f[..., 0], f[..., 1]),
        ]
    return panels, top


def _colour_wheel(ax: plt.Axes, n: int = 64) -> None:
    """A small legend of the flow colours (direction -> hue; y points down, as in images)."""
    from mer_utils.flow import flow_to_rgb

    y, x = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    rgb = flow_to_rgb(x, y, max_magnitude=1.0)
    rgb[np.hypot(x, y) > 1] = 255
    inset = ax.inset_axes((0.68, 0.68, 0.32, 0.32))
    inset.imshow(rgb)
    inset.axis("off")


def fig_flows(
    samples: Sequence[Sample],
    params=None,
    size: int = 224,
    face_crop: bool = False,
    title: str = "",
) -> plt.Figure:
    """Rows = clips; columns = the apex frame, DI-Onset, DI-Offset, then each flow as a colour
    wheel (hue = direction, brightness = magnitude) and its magnitude in native pixels (one
    scale per clip: both flows' 99th percentile). ``params`` is a
    :class:`mer_utils.flow.FlowParams` (default Farneback, offset flow reversed, as the store)."""
    from mer_utils.flow import DISPLAY, FlowParams

    params = params or FlowParams()
    off = "offset→apex" if params.offset_direction == "reversed" else "apex→offset"
    rows = [_flow_row(s, size, params, face_crop) for s in samples]
    aspect = rows[0][0][0].shape[1] / rows[0][0][0].shape[0]
    fig, axes = plt.subplots(
        len(samples), 7, figsize=(2.2 * 7 * aspect, 2.4 * len(samples)), squeeze=False
    )
    for row, s, (panels, top) in zip(axes, samples, rows, strict=True):
        for k, (ax, img) in enumerate(zip(row, panels, strict=True)):
            if k in (4, 6) and img is not None:
                ax.imshow(img, cmap="magma", vmin=0, vmax=top)
                ax.text(
                    0.02, 0.02, f"0-{top:.1f} px", color="w", fontsize=8, transform=ax.transAxes
                )
                ax.axis("off")
            elif img is None and k >= 3:
                ax.axis("off")
                ax.text(0.5, 0.5, "no flow\n(1-frame phase)", ha="center", va="center",
                        transform=ax.transAxes)  # fmt: skip
            else:
                _panel(ax, img)
        row[0].text(-0.08, 0.5, f"{s.label}\n{s.subject}/{s.clip}", rotation=90, fontsize=12,
                    ha="right", va="center", transform=row[0].transAxes)  # fmt: skip
    for ax, col in zip(axes[0], FLOW_COLS, strict=True):
        ax.set_title(col.format(off=off), fontsize=11)
    _colour_wheel(axes[0][3])
    fig.suptitle(
        title or f"DIs and {DISPLAY[params.algorithm]} optical flow of the same clips", fontsize=14
    )
    fig.tight_layout()
    return fig


def fig_face_alignment(
    samples: Sequence[Sample], params: faces.FaceParams | None = None, haar_margin: float = 0.1
) -> plt.Figure:
    """Per clip (one row each): the onset frame with the face method's landmarks and box, the
    aligned crop (:func:`mer_utils.faces.align_clip`, template points in red) and the Haar crop
    the store used before (:func:`mer_utils.frames.detect_face`, full frame when it finds none).
    ``params`` is a :class:`mer_utils.faces.FaceParams` (default: its defaults)."""
    p = params if params is not None else faces.FaceParams()
    fig, axes = plt.subplots(len(samples), 3, figsize=(11, 3.3 * len(samples)), squeeze=False)
    for row, s in zip(axes, samples, strict=True):
        onset = read_frame(s.frames[0])
        a = faces.align_clip(s.frames, p)
        _face_frame(row[0], onset, a, f"{s.subject}/{s.clip}: {p.method}, {a.status}")
        _panel(row[1], faces.warp_frame(onset, a, p) if a.transform is not None else None)
        if a.aligned and a.landmarks is not None:
            t = faces.template_points(p)
            row[1].scatter(t[:, 0], t[:, 1], s=14, c="red", marker="+")
        why = "" if a.aligned else "\n" + textwrap.shorten(a.issues[-1][0], 70)
        row[1].set_title(f"{a.status}, {p.size} px, score {a.score:.2f}{why}", fontsize=9)
        box = detect_face(onset, margin=haar_margin)
        row[2].imshow(crop_resize(onset, p.size, box))
        row[2].axis("off")
        row[2].set_title("Haar crop" if box else "Haar: no face (full frame)", fontsize=9)
    fig.tight_layout()
    return fig


def _face_frame(ax: plt.Axes, frame: np.ndarray, a: faces.ClipAlignment, title: str) -> None:
    """The frame with an alignment's dense landmarks (grey), 5 points (red) and box (yellow)."""
    ax.imshow(frame)
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    if a.dense is not None:
        ax.scatter(a.dense[:, 0], a.dense[:, 1], s=0.3, c="0.85")
    if a.landmarks is not None:
        ax.scatter(a.landmarks[:, 0], a.landmarks[:, 1], s=10, c="red")
    if a.box is not None:
        x, y, w, h = a.box
        ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, ec="yellow", lw=1))


def fig_spotting_errors(errors: pd.DataFrame, target: float = 0.10, title: str = "") -> plt.Figure:
    """The apex spotter against the annotations (``errors``:
    :func:`mer_utils.spotting.spotting_errors`). Left: histogram of |error| as a fraction of
    the clip length (T - 1), the ``target`` marked, the share within it in the title. Right:
    signed error (spotted - annotated, same unit) against the annotated relative apex."""
    rel = errors.rel_error.to_numpy()
    signed = (errors.spotted - errors.apex) / (errors["T"] - 1)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.6))
    top = max(0.5, float(rel.max(initial=0)))
    ax.hist(rel, bins=np.arange(0, top + 0.025, 0.025), color="0.6", edgecolor="white")
    ax.axvline(target, color="tab:red", lw=1.5, ls="--", label=f"target {100 * target:.0f}%")
    ax.set_xlabel("|spotted - annotated apex| / (T - 1)")
    ax.set_ylabel("clips")
    ax.legend(frameon=False)
    med = errors.error.median()
    ax.set_title(
        f"{100 * np.mean(rel <= target):.0f}% of {len(rel)} clips within {100 * target:.0f}%"
        f" (median error {med:g} frame{'' if med == 1 else 's'})",
        fontsize=11,
    )
    bx.scatter(errors.apex / (errors["T"] - 1), signed, s=10, color="tab:blue", alpha=0.6)
    for y in (-target, 0, target):
        bx.axhline(y, color="tab:red" if y else "k", lw=0.8, ls="--" if y else "-")
    bx.set_xlabel("annotated relative apex position (0 = onset, 1 = offset)")
    bx.set_ylabel("(spotted - annotated) / (T - 1)")
    bx.set_title("Error against the apex position", fontsize=11)
    fig.suptitle(title or "Label-free apex spotter vs the annotated apexes")
    fig.tight_layout()
    return fig
