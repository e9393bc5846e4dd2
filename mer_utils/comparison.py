"""Runs across one dataset: list them, pick the latest of each protocol, and put their cells
side by side (the paper's lenient protocol beside leak-free ones). Each run's cells come from
its own records only; nothing averages two runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mer_utils.configurations import display, row_order
from mer_utils.metrics import summarize
from mer_utils.model_specs import DISPLAY
from mer_utils.run_records import load_records
from mer_utils.runs import RunInfo, find_run, read_run_json, run_folders

PROTOCOL_FIELDS = ("protocol", "validation", "folds")  # what a protocol comparison varies


def list_runs(dataset_dir: str) -> pd.DataFrame:
    """The runs of a dataset, oldest first: folder, name, the sheet read and its clip count,
    models, configurations, folds done / expected, created and last update."""
    rows = []
    for folder in run_folders(dataset_dir):
        info = read_run_json(folder)
        want = info.expected_units()
        recs = load_records(folder)
        have = set(zip(recs.model, recs.configuration, recs.seed, recs.fold, strict=True))
        rows.append(
            dict(
                run=folder.name,
                name=info.name,
                sheet=Path(info.dataset.spreadsheet).name if info.dataset else "?",
                clips=info.dataset.clips if info.dataset else "?",
                models=",".join(sorted({u[0] for u in want})),
                configurations=",".join(sorted({u[1] for u in want})),
                folds_done=len(have & want),
                folds_expected=len(want),
                created=info.created[:19],
                updated=info.updated[:19],
            )
        )
    return pd.DataFrame(rows)


def comparison_runs(
    dataset_dir: str, keys: tuple[str, ...] = (), like: RunInfo | None = None
) -> list[Path]:
    """The runs to compare: those named by id/folder, else the latest run of each (protocol,
    validation) pair of the dataset that holds at least one record and, given ``like``,
    agrees with its identity on everything but :data:`PROTOCOL_FIELDS` (so a pretrained or
    other-size run is never compared as if it were another protocol of the same models)."""
    if keys:
        return [find_run(dataset_dir, k) for k in keys]
    latest: dict[tuple[str, str], Path] = {}
    for folder in run_folders(dataset_dir):  # oldest first: later ones win
        info = read_run_json(folder)
        if like is not None and not same_but_protocol(info, like):
            continue
        if any((folder / "runs").rglob("*.json")):
            latest[info.protocol, info.validation] = folder
    return list(latest.values())


def same_but_protocol(a: RunInfo, b: RunInfo) -> bool:
    """True when two runs' identities differ at most in :data:`PROTOCOL_FIELDS`."""
    keys = (set(a.identity) | set(b.identity)) - set(PROTOCOL_FIELDS)
    return all(a.identity.get(k) == b.identity.get(k) for k in keys)


def protocol_comparison(folders: list[Path], n_classes: int) -> pd.DataFrame:
    """Long table: one row per (run, model, configuration) with the run's protocol, validation,
    folds done and per-fold mean/std and pooled metrics (%)."""
    rows = []
    for folder in folders:
        info, recs = read_run_json(folder), load_records(folder)
        want = info.expected_units()
        cells = sorted(recs.groupby(["model", "configuration"]), key=lambda kv: row_order(kv[0][1]))
        for (m, c), g in cells:
            n = sum(1 for u in want if u[:2] == (m, c))
            rows.append(
                dict(
                    run=info.folder,
                    protocol=info.protocol,
                    validation=info.validation,
                    model=DISPLAY[m],
                    configuration=display(c),
                    folds=f"{len(g)} of {n}",
                    **{k: 100 * v for k, v in summarize(g, n_classes).items()},
                )
            )
    return pd.DataFrame(rows)


def comparison_wide(long: pd.DataFrame, metric: str = "uar") -> pd.DataFrame:
    """Model x configuration rows, one column per run ("protocol/validation [run]"), cells
    '<pooled> (folds <mean ± std>)' for ``metric``."""
    df = long.assign(
        column=long.protocol + "/" + long.validation + " [" + long.run.str[-8:] + "]",
        cell=[
            f"{p:.1f} (folds {m:.1f} ± {s:.1f}, {n})"
            for p, m, s, n in zip(
                long[f"{metric}_pooled"],
                long[f"{metric}_mean"],
                long[f"{metric}_std"],
                long.folds,
                strict=True,
            )
        ],
    )
    return df.pivot_table(
        index=["model", "configuration"], columns="column", values="cell", aggfunc="first"
    )


LADDER = ("oracle", "paper", "inner")  # most leaky first; inner is leak-free


def validation_ladder(long: pd.DataFrame, metric: str = "uar") -> pd.DataFrame:
    """The protocol ladder: for each protocol and model x configuration measured under more
    than one ``validation``, the pooled ``metric`` (%) of each rung (oracle: the epoch best on
    the test fold; paper: early stopping on it; inner: leak-free) and the inflation in points of
    each leaky rung over ``inner`` (``oracle - inner``, ``paper - inner``; NaN without an inner
    run). Empty when no cell has two rungs."""
    if not len(long):
        return pd.DataFrame()
    col = f"{metric}_pooled"
    wide = long.pivot_table(
        index=["protocol", "model", "configuration"], columns="validation", values=col,
        aggfunc="first",
    )  # fmt: skip
    rungs = [v for v in LADDER if v in wide.columns]
    wide = wide[rungs][wide[rungs].notna().sum(axis=1) >= 2]
    for leaky in ("oracle", "paper"):
        if leaky in wide and "inner" in wide:
            wide[f"{leaky} - inner"] = wide[leaky] - wide["inner"]
    return wide.reset_index().rename_axis(columns=None)


@dataclass(frozen=True, eq=False)
class ProtocolComparison:
    """The runs of one dataset compared (see :func:`comparison_runs`) and their long table."""

    dataset_dir: str  # results/<dataset_dir>/
    dataset: str  # the Config dataset, for titles
    folders: tuple[Path, ...]
    long: pd.DataFrame  # :func:`protocol_comparison`; empty with fewer than two runs

    @property
    def enough(self) -> bool:
        """True with two runs or more (else there is nothing to compare)."""
        return len(self.folders) >= 2

    def why_not(self) -> str:
        """One line: why there is no comparison, and the config that would make one."""
        return (
            f"only {len(self.folders)} protocol(s) measured for {self.dataset_dir}; run a "
            f"leak-free config (e.g. configs/{self.dataset}_leakfree.yaml) to compare"
        )

    def wide(self, metric: str = "uar") -> pd.DataFrame:
        """:func:`comparison_wide` of ``metric``."""
        return comparison_wide(self.long, metric)

    def ladder(self, metric: str = "uar") -> pd.DataFrame:
        """:func:`validation_ladder` of ``metric``: oracle / paper / inner and the inflation."""
        return validation_ladder(self.long, metric)
