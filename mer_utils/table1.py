"""Table I of one run: which cells its requests asked for (from ``run.json``), every model x
configuration cell measured, incomplete or marked (never filled), which metric leads, and the
CSV / Markdown / LaTeX files headed by the run that made them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from mer_utils.configurations import CONFIGURATIONS, FLOW_TWINS, display, get_configuration
from mer_utils.metrics import summarize
from mer_utils.model_specs import DISPLAY, PAPER_MODELS, REGISTRY
from mer_utils.protocols import LEAVE_ONE_OUT
from mer_utils.runs import RunInfo

METRICS = ("accuracy", "uf1", "uar")
NOT_RUN = "not run on this device"
NOT_REQUESTED = "not requested"

Cells = dict[tuple[str, str], "str | set[tuple[int, int]]"]


def requested_cells(info: RunInfo) -> Cells:
    """Every Table I cell (model, row) -> the set of (seed, fold) units the run's requests
    (``run.json``) asked of its device (their union), else :data:`NOT_RUN` when a request asked
    for it and ``cpu_grid`` left it out, else :data:`NOT_REQUESTED`. Models: the paper's six,
    then the others asked; rows: the paper's four configurations, then the additions asked."""
    asked = dict.fromkeys(m for q in info.requests for m in q.asked_models())
    models = PAPER_MODELS + tuple(m for m in asked if m not in PAPER_MODELS)
    rows = CONFIGURATIONS + tuple(r for r in info.rows() if r not in CONFIGURATIONS)
    return {(m, r): _union(q.cell(m, r) for q in info.requests) for m in models for r in rows}


def _union(views: Iterable[str | set[tuple[int, int]]]) -> str | set[tuple[int, int]]:
    """One cell over several requests: the units any of them asked, else the strongest mark."""
    views = list(views)
    units = set().union(*(v for v in views if isinstance(v, set)))
    if units:
        return units
    return NOT_RUN if NOT_RUN in views else NOT_REQUESTED


def table1(records: pd.DataFrame, n_classes: int, cells: Cells) -> pd.DataFrame:
    """Every model x configuration cell: ``measured`` (per-fold mean/std and pooled metrics in
    %), ``incomplete (k of n folds)``, ``not requested`` or ``not run on this device``; never
    filled with anything but this run's measurements."""
    rows = []
    for (m, c), want in cells.items():
        row = dict(
            model=DISPLAY[m],
            configuration=display(c),
            key_model=m,
            key_configuration=c,
            row="paper"
            if REGISTRY[m].paper and get_configuration(c).paper
            else "addition (not in the paper)",
        )
        if isinstance(want, str):
            rows.append({**row, "status": want})
            continue
        sel = _cell(records, m, c, want)
        k, n = len(sel), len(want)
        status = "measured" if k == n else f"incomplete ({k} of {n} folds)"
        if k == 0:
            rows.append({**row, "status": status, "folds": 0})
            continue
        px = int(sel.input_px.iloc[0])
        if px != REGISTRY[m].input_size:  # stated where it differs from the paper's input
            row["model"] = f"{DISPLAY[m]} at {px} px"
        rows.append(
            {
                **row,
                "status": status,
                "folds": k,
                "seeds": sel.seed.nunique(),
                "pretrained": bool(sel.pretrained.iloc[0]),
                "input_px": px,
                "folds_missing_a_class": int(sum(len(set(t)) < n_classes for t in sel.y_true)),
                **{key: 100 * v for key, v in summarize(sel, n_classes).items()},
            }
        )
    return _measured_first(pd.DataFrame(rows))


STATUS_RANK = {"measured": 0, NOT_RUN: 2, NOT_REQUESTED: 3}  # anything else (incomplete): 1


def _measured_first(table: pd.DataFrame) -> pd.DataFrame:
    """Rows measured first, then incomplete, not run on this device, not requested; the
    paper's model and configuration order kept within each (a stable sort)."""
    if not len(table):
        return table
    rank = table.status.map(lambda s: STATUS_RANK.get(s, 1))
    return table.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)


def rounded(
    frame: pd.DataFrame, decimals: int = 2, keep: tuple[str, ...] = ("lr",)
) -> pd.DataFrame:
    """``frame`` with every float column but ``keep`` rounded to ``decimals`` (CSV files show
    47.76, never 47.760000000000005)."""
    floats = [c for c in frame.columns if frame[c].dtype.kind == "f" and c not in keep]
    return frame.round(dict.fromkeys(floats, decimals))


def _cell(records: pd.DataFrame, model: str, conf: str, units: set) -> pd.DataFrame:
    if not len(records):
        return records
    sel = records[(records.model == model) & (records.configuration == conf)]
    keep = [(s, f) in units for s, f in zip(sel.seed, sel.fold, strict=True)]
    return sel[keep]


def lead_metric(table: pd.DataFrame, protocol: str) -> tuple[str, str]:
    """("mean" | "pooled", why). LOSO or LODO, or any test fold lacking a class, leads with pooled
    UF1/UAR over all out-of-fold predictions (the MEGC convention): a fold without a class has
    undefined recall for it, so per-fold means are biased; they stay in the CSV, flagged."""
    missing = int(table.get("folds_missing_a_class", pd.Series(dtype=float)).fillna(0).sum())
    if protocol in LEAVE_ONE_OUT or missing:
        why = (
            protocol.upper() if protocol in LEAVE_ONE_OUT else f"{missing} test folds lack a class"
        )
        return "pooled", f"pooled over all out-of-fold predictions (MEGC convention): {why}"
    return "mean", "per-fold mean ± std"


def run_header(info: RunInfo, lead_note: str) -> str:
    """One line naming the run and its key parameters (the first line of every table file)."""
    i, d = info.identity, info.dataset
    task = f" ({i['task']} task: {', '.join(d.classes) if d else '?'})" if i.get("task") else ""
    return (
        leak_label(info.validation)
        + f"Run {info.folder} ({info.name}); dataset {d.name if d else info.dataset_name}{task}: "
        f"{d.clips if d else '?'} clips, fingerprint {info.fingerprint[:8]}; "
        f"patience {i['patience']}, batch {i['batch_size']}, DI variant {i['variant']}; "
        f"cells: {lead_note}"
    )


LEAKY = "LEAKY (validation: oracle, each fold's epoch chosen by its test score): "


def leak_label(validation: str) -> str:
    """The prefix every table of an ``oracle`` run carries (what most published LOSO numbers
    do: the epoch with the best test score), else ""."""
    return LEAKY if validation == "oracle" else ""


def with_run_columns(table: pd.DataFrame, info: RunInfo, lead: str) -> pd.DataFrame:
    """``table`` with the columns that tie each CSV row to its run: run_id, run, protocol,
    validation, epochs, lr, device_type and lead (the metric its cells lead with)."""
    i = info.identity
    return table.assign(
        run_id=info.run_id,
        run=info.folder,
        protocol=info.protocol,
        validation=info.validation,
        leaky=info.validation == "oracle",
        epochs=i["epochs"],
        lr=i["lr"],
        device_type=info.device_type,
        lead=lead,
    )


def write_table1(
    table: pd.DataFrame, folder: Path, header: str, lead: str = "mean", name: str = "table1"
) -> dict[str, Path]:
    """Write ``table`` as CSV, Markdown and LaTeX, each headed by the run's ``header``;
    returns {"csv" | "md" | "tex": path}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {ext: folder / f"{name}.{ext}" for ext in ("csv", "md", "tex")}
    rounded(table).to_csv(paths["csv"], index=False)
    shown = _display(table, lead)
    paths["md"].write_text(f"{header}\n\n{shown.to_markdown(index=False)}\n")
    paths["tex"].write_text(f"% {header}\n{shown.to_latex(index=False, escape=True)}")
    return paths


def _display(table: pd.DataFrame, lead: str = "mean") -> pd.DataFrame:
    """Model | Configuration | Acc | UF1 | UAR in the paper's layout: 'mean ± std' (one fold:
    the value alone), or the pooled value first when ``lead`` is "pooled"."""
    out = table[["model", "configuration"]].copy()
    for k, label in zip(METRICS, ("Acc (%)", "UF1 (%)", "UAR (%)"), strict=True):
        out[label] = [_cell_text(r, k, lead) for r in table.to_dict("records")]
    return out


def _cell_text(r: dict, k: str, lead: str) -> str:
    if pd.isna(r.get(f"{k}_mean", np.nan)):
        return r["status"]
    folds = (
        f"{r[f'{k}_mean']:.2f}" if r["folds"] < 2 else f"{r[f'{k}_mean']:.2f} ± {r[f'{k}_std']:.2f}"
    )
    text = f"{r[f'{k}_pooled']:.2f} (folds {folds}†)" if lead == "pooled" else folds
    return text if r["status"] == "measured" else f"{text} [{r['status']}]"


def di_vs_flow(table: pd.DataFrame, lead: str = "mean") -> pd.DataFrame:
    """DI vs optical flow, per model and augmentation, from a run's Table I (:func:`table1`):
    one row per (model, one of the paper's four configurations) whose DI cell or flow twin
    (:data:`~mer_utils.configurations.FLOW_TWINS`) is measured, with Acc / UF1 / UAR in % of
    both (``lead``: per-fold ``mean`` or ``pooled``; NaN where that cell is not measured),
    flow - DI in points, and the folds of each. Empty when the run has no measured flow row."""
    ok = table[table.status.eq("measured")].set_index(["key_model", "key_configuration"])
    if not any(c in set(ok.index.get_level_values(1)) for c, _ in FLOW_TWINS.values()):
        return pd.DataFrame()
    rows = []
    for m in dict.fromkeys(table.key_model):
        for di, (flow, what) in FLOW_TWINS.items():
            cells = {k: ok.loc[(m, c)] if (m, c) in ok.index else None for k, c in
                     (("di", di), ("flow", flow))}  # fmt: skip
            if cells["flow"] is None and cells["di"] is None:
                continue
            row = dict(model=DISPLAY[m], augmentation=what, key_model=m, key_configuration=di)
            for metric in METRICS:
                v = {k: np.nan if c is None else c[f"{metric}_{lead}"] for k, c in cells.items()}
                row |= {f"di_{metric}": v["di"], f"flow_{metric}": v["flow"]}
                row[f"flow_minus_di_{metric}"] = v["flow"] - v["di"]
            row |= {f"{k}_folds": 0 if c is None else int(c["folds"]) for k, c in cells.items()}
            rows.append(row)
    return pd.DataFrame(rows)
