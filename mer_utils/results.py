"""One run's fold records -> tidy table -> Table I (CSV/Markdown/LaTeX), the paper side by side,
the paper's claims re-derived from a table, paired tests across folds and seeds; and the
protocol comparison across runs. Never averages records of different runs.

``python -m mer_utils.results --list [--dataset NAME]`` lists the runs of a dataset.
"""

from __future__ import annotations

import argparse
import logging
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from mer_utils import statistics
from mer_utils.config import Config
from mer_utils.configurations import (
    APEX_SHIFTS,
    CONFIGURATIONS,
    display,
    get_configuration,
    phase_kind,
    predict_from_scores,
    row_order,
    shift_cut,
    table_rows,
)
from mer_utils.dataset_specs import SPECS, spec_of
from mer_utils.metrics import confusion, scores, summarize
from mer_utils.model_specs import DISPLAY, PAPER_MODELS, REGISTRY
from mer_utils.paths import output_root
from mer_utils.records import RECORD_SCHEMA, FoldRecord
from mer_utils.runs import RunInfo, read_record, read_run_json, run_folders

log = logging.getLogger(__name__)

METRICS = ("accuracy", "uf1", "uar")
# The paper's comparisons (configuration keys): each augmentation vs Baseline, Dual-DI vs
# Flip/Rotate, both vs Dual-DI; its headline claims are the first four, in its order.
HEADLINE_PAIRS = (
    ("dual_di", "baseline"),
    ("dual_di", "flip_rotate"),
    ("dual_di_flip_rotate", "baseline"),
    ("flip_rotate", "baseline"),
)
PAPER_PAIRS = (*HEADLINE_PAIRS, ("dual_di_flip_rotate", "dual_di"))


def paper_dataset(dataset: str) -> str:
    """Our dataset name -> the paper's column name (synthetic copies map to their layout)."""
    return spec_of(dataset).title


def load_records(run_folder: Path, derive: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per valid fold record of ONE run (``<run folder>/runs/**.json``), with its scores'
    inputs. Invalid or foreign records are named in the log and left out (never averaged in).
    ``derive``: evaluation-only configurations (see :mod:`mer_utils.configurations`) whose rows
    are computed from the stored logits of the records of the configuration they score."""
    info = read_run_json(run_folder)
    if info is None:
        raise FileNotFoundError(f"{run_folder}: no run.json; run notebook 03 (or mer_utils.sweep)")
    rows = []
    for p in sorted((run_folder / "runs").rglob("*.json")):
        r = read_record(p)
        if r is None or r.run_id != info.run_id:
            log.warning(
                "%s: not a valid record of run %s (schema %s); left out",
                p,
                info.run_id,
                RECORD_SCHEMA,
            )
            continue
        rows.append(_record_row(r))
    cols = ["model", "configuration", "seed", "fold", "y_true", "y_pred", "history"]
    df = pd.DataFrame(rows, columns=None if rows else cols)
    return pd.concat([df, *(derived(df, c) for c in derive)], ignore_index=True)


def derived(records: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows of the evaluation-only configuration (or table row) ``name``: the records of the
    configuration it scores, with predictions from their stored logits (mean softmax over its
    DI kinds, e.g. the test clip's phase DIs cut at the spotted apex)."""
    spec = get_configuration(name)
    if not spec.trained_as or not len(records):
        return records.iloc[:0]
    src = records[records.configuration == spec.trained_as]
    preds = [predict_from_scores(s, spec.eval_kinds) for s in src.scores]
    return src.assign(configuration=name, y_pred=preds, history=[[]] * len(src))


def _record_row(r: FoldRecord) -> dict:
    p = r.params
    return dict(
        **{k: p[k] for k in ("model", "configuration", "seed", "fold", "validation", "protocol")},
        pretrained=p["pretrained_model"],
        input_px=p["input_px"],
        **{k: getattr(r, k) for k in ("y_true", "y_pred", "scores", "rel_apex", "best_epoch")},
        n_train=len(r.split["train"]),  # for the corrected resampled t (statistics.py)
        n_test=len(r.y_true),
        wall_s=r.wall_s,
        history=r.history,
        device=r.provenance["device"],
        git_sha=r.provenance["git_sha"][:10],
        run_id=r.run_id,
    )


def histories(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (fold record, epoch): model, configuration, seed, fold + the epoch's history."""
    return pd.DataFrame(
        [
            dict(model=r.model, configuration=r.configuration, seed=r.seed, fold=r.fold, **h)
            for r in records.itertuples()
            for h in r.history
        ]
    )


Cells = dict[tuple[str, str], "str | set[tuple[int, int]]"]


def requested_cells(cfg: Config, info: RunInfo) -> Cells:
    """Every Table I cell -> "not requested", "not run on this device", or the set of
    (seed, fold) units ``cfg`` asks of the run ``info`` (run.json) on its device."""
    cuda = info.device_type == "cuda"
    models, confs = cfg.grid_on(cuda)
    n_splits = info.n_splits
    units = {(s, f) for s in cfg.seeds for f in range(cfg.folds_run(n_splits))}
    out: Cells = {}
    requested = table_rows(cfg.configurations, cfg.test_apex)
    extra = tuple(c for c in requested if c not in CONFIGURATIONS)
    for m in PAPER_MODELS + tuple(m for m in cfg.models if m not in PAPER_MODELS):
        for c in CONFIGURATIONS + extra:
            base = c.partition("@")[0]
            if m not in cfg.models or base not in cfg.configurations:
                out[m, c] = "not requested"
            elif m not in models or base not in confs:
                out[m, c] = "not run on this device"
            else:
                out[m, c] = units
    return out


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
    return pd.DataFrame(rows)


def _cell(records: pd.DataFrame, model: str, conf: str, units: set) -> pd.DataFrame:
    if not len(records):
        return records
    sel = records[(records.model == model) & (records.configuration == conf)]
    keep = [(s, f) in units for s, f in zip(sel.seed, sel.fold, strict=True)]
    return sel[keep]


def lead_metric(table: pd.DataFrame, protocol: str) -> tuple[str, str]:
    """("mean" | "pooled", why). LOSO, or any test fold lacking a class, leads with pooled
    UF1/UAR over all out-of-fold predictions (the MEGC convention): a fold without a class has
    undefined recall for it, so per-fold means are biased; they stay in the CSV, flagged."""
    missing = int(table.get("folds_missing_a_class", pd.Series(dtype=float)).fillna(0).sum())
    if protocol == "loso" or missing:
        why = "LOSO" if protocol == "loso" else f"{missing} test folds lack a class"
        return "pooled", f"pooled over all out-of-fold predictions (MEGC convention): {why}"
    return "mean", "per-fold mean ± std"


def paper_table() -> pd.DataFrame:
    """The paper's Table I (shared/paper_table1.csv, shipped as package data), in %."""
    return pd.read_csv(files("mer_utils") / "paper_table1.csv")


def side_by_side(ours: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Our per-fold means next to the paper's numbers for the same dataset, and the differences
    (the paper's rows only: additions have no paper number)."""
    ours = ours[ours.row == "paper"] if "row" in ours else ours
    paper = paper_table()
    paper = paper[paper.dataset == paper_dataset(dataset)].drop(columns="dataset")
    m = ours.merge(paper, on=["model", "configuration"], how="left", suffixes=("", "_paper"))
    out = m[["model", "configuration", "status"]].copy()
    for k in METRICS:
        out[f"{k}_ours"] = m.get(f"{k}_mean")
        out[f"{k}_paper"] = m[k]
        out[f"{k}_diff"] = out[f"{k}_ours"] - out[f"{k}_paper"]
    return out


def suspect_cells(table: pd.DataFrame, gap: float = 30.0) -> pd.DataFrame:
    """Rows whose UF1 or UAR is more than ``gap`` points below their accuracy: on a 5-class task
    with these class balances that points to a typo in the table, not to a model."""
    low = (table.accuracy - table[["uf1", "uar"]].min(axis=1)) > gap
    return table[low]


def claims(table: pd.DataFrame, metric_suffix: str = "") -> pd.DataFrame:
    """The paper's headline comparisons re-derived from a table with columns model,
    configuration and accuracy/uf1/uar (+ ``metric_suffix``): average gains over models
    (percentage points) and the best model (by accuracy of the best configuration)."""
    pairs = [(display(a), display(b)) for a, b in HEADLINE_PAIRS]
    cols = [f"{k}{metric_suffix}" for k in METRICS]
    wide = table.pivot_table(index="model", columns="configuration", values=cols)
    rows = []
    for a, b in pairs:
        row = {"claim": f"{a} vs {b}"}
        for k, c in zip(METRICS, cols, strict=True):
            if (c, a) in wide and (c, b) in wide:
                diff = (wide[(c, a)] - wide[(c, b)]).dropna()
                row[f"mean gain {k} (pp)"] = diff.mean() if len(diff) else np.nan
                row["models"] = len(diff)
        rows.append(row)
    acc = cols[0]
    if acc in table and table[acc].notna().any():
        best = table.loc[table[acc].idxmax()]
        rows.append(
            {
                "claim": f"best: {best.model} ({best.configuration})",
                f"mean gain {METRICS[0]} (pp)": best[acc],
            }
        )
    return pd.DataFrame(rows)


def comparison_pairs(rows: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(a, b) configuration pairs compared per model among the table rows ``rows``: the
    paper's, then each addition against what it changes (an evaluation-only one against the
    configuration it rescores, a trained one against Baseline), and a phase-aware row cut at
    the spotted apex or the midpoint against the same row cut at the annotated apex."""
    additions = []
    for key in rows:
        spec = get_configuration(key)
        if spec.paper:
            continue
        additions.append((key, spec.trained_as or "baseline"))
        name, _, source = key.partition("@")
        if source and source != "annotated" and f"{name}@annotated" in rows:
            additions.append((key, f"{name}@annotated"))
    return PAPER_PAIRS + tuple(additions)


def paired_tests(records: pd.DataFrame, n_classes: int, metric: str = "uar") -> pd.DataFrame:
    """:func:`mer_utils.statistics.paired_tests` of one metric over :func:`comparison_pairs`
    of the rows present, with display model names: naive and corrected (Nadeau-Bengio) paired
    t, Wilcoxon and, for accuracy, exact McNemar; Holm within each (metric, test) family."""
    pairs = comparison_pairs(tuple(records.configuration.unique()))
    out = statistics.paired_tests(records, n_classes, pairs, metrics=(metric,))
    return out.assign(model=out.model.map(DISPLAY))


def pooled_confusion(records: pd.DataFrame, n_classes: int) -> np.ndarray:
    """int64 [C, C] confusion matrix over all out-of-fold predictions of ``records``."""
    return confusion(
        np.concatenate(records.y_true.map(np.array).tolist()),
        np.concatenate(records.y_pred.map(np.array).tolist()),
        n_classes,
    )


def run_header(info: RunInfo, lead_note: str) -> str:
    """One line naming the run and its key parameters (the first line of every table file)."""
    i, d = info.identity, info.dataset
    return (
        f"Run {info.folder} ({info.name}); dataset {d.name if d else i['dataset']}: "
        f"{d.clips if d else '?'} clips, fingerprint {info.fingerprint[:8]}; "
        f"patience {i['patience']}, batch {i['batch_size']}, DI variant {i['variant']}; "
        f"cells: {lead_note}"
    )


def run_columns(info: RunInfo, lead: str) -> dict:
    """Columns that tie each CSV row to its run."""
    i = info.identity
    return dict(
        run_id=info.run_id,
        run=info.folder,
        protocol=info.protocol,
        validation=info.validation,
        epochs=i["epochs"],
        lr=i["lr"],
        device_type=info.device_type,
        lead=lead,
    )


def write_table1(
    table: pd.DataFrame, folder: Path, header: str, lead: str = "mean", name: str = "table1"
) -> dict[str, Path]:
    """Write ``table`` as CSV, Markdown and LaTeX, each headed by the run's ``header``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {ext: folder / f"{name}.{ext}" for ext in ("csv", "md", "tex")}
    table.to_csv(paths["csv"], index=False)
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


# ---------------------------------------------------------------- across runs


def run_for_config(cfg: Config) -> Path:
    """The run folder a config's sweep writes to (loads the dataset for its fingerprint)."""
    from mer_utils.datasets import open_dataset
    from mer_utils.runs import device_type, make_run

    cfg = cfg.effective()
    ds = open_dataset(cfg)
    return make_run(cfg, ds.fingerprint(), ds.classes, device_type(cfg.device)).folder


def list_runs(dataset_dir: str) -> pd.DataFrame:
    """The runs of a dataset, oldest first: folder, name, models, configurations, folds done /
    expected, last update."""
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
                models=",".join(sorted({u[0] for u in want})),
                configurations=",".join(sorted({u[1] for u in want})),
                folds_done=len(have & want),
                folds_expected=len(want),
                updated=info.updated[:19],
            )
        )
    return pd.DataFrame(rows)


PROTOCOL_FIELDS = ("protocol", "validation", "folds")  # what a protocol comparison varies


def comparison_runs(
    dataset_dir: str, keys: tuple[str, ...] = (), like: dict | None = None
) -> list[Path]:
    """The runs to compare: those named by id/folder, else the latest run of each (protocol,
    validation) pair of the dataset that holds at least one record and, given ``like`` (a run
    identity), agrees with it on everything but :data:`PROTOCOL_FIELDS` (so a pretrained or
    other-size run is never compared as if it were another protocol of the same models)."""
    from mer_utils.runs import find_run

    if keys:
        return [find_run(dataset_dir, k) for k in keys]

    def rest(i: dict) -> dict:
        return {k: v for k, v in i.items() if k not in PROTOCOL_FIELDS}

    latest: dict[tuple[str, str], Path] = {}
    for folder in run_folders(dataset_dir):  # oldest first: later ones win
        i = read_run_json(folder).identity
        if like is not None and rest(i) != rest(like):
            continue
        if any((folder / "runs").rglob("*.json")):
            latest[i["protocol"], i["validation"]] = folder
    return list(latest.values())


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


# ---------------------------------------------------------------- the paper's sample counts

PAPER_TEXT_COUNTS = {s.title: s.paper_clips for s in SPECS.values()}  # as the paper's text says


def implied_counts(paper: pd.DataFrame, candidates: range = range(20, 400)) -> pd.DataFrame:
    """For each dataset of the paper's Table I: the smallest test-set size n for which more than
    half of its accuracies are k/n to the table's two decimals (a multiple of n fits at least
    as many, so the smallest is the count), and how many accuracies it explains."""
    rows = []
    for ds, g in paper.groupby("dataset", sort=False):
        acc = g.accuracy.to_numpy()
        fits = {n: _fits(acc, n) for n in candidates}
        n = min((k for k, v in fits.items() if v > len(acc) / 2), default=None)
        rows.append(
            dict(
                dataset=ds,
                accuracies=len(acc),
                implied_n=n,
                explained=fits.get(n, 0),
                text_says=PAPER_TEXT_COUNTS.get(ds),
            )
        )
    return pd.DataFrame(rows)


def _fits(acc: np.ndarray, n: int) -> int:
    """How many accuracies (%, two decimals) equal some k/n after rounding."""
    return int(np.sum(np.abs(np.round(acc * n / 100) * 100 / n - acc) <= 0.005 + 1e-9))


def apex_noise_curve(
    records: pd.DataFrame, n_classes: int, trained: tuple[str, ...] = ("dual_di",)
) -> pd.DataFrame:
    """How much phase-aware evaluation depends on where the test clip is cut (evaluation only,
    no training): per model and trained configuration, accuracy / UF1 / UAR (%, pooled over
    every fold and seed) of the mean softmax over DI-Onset + DI-Offset of the test clips cut at
    the annotated apex moved by each shift of :data:`~mer_utils.configurations.APEX_SHIFTS`
    (% of the clip; 0 = the annotation), at the spotted apex and at the midpoint (``shift_pct``
    NaN), and on the full DI alone (``cut`` "full DI (the paper's)")."""
    cuts = [("annotated", 0.0), *((shift_cut(p), float(p)) for p in APEX_SHIFTS)]
    cuts += [("spotted", np.nan), ("midpoint", np.nan)]
    rows = []
    for (m, c), g in records[records.configuration.isin(trained)].groupby(
        ["model", "configuration"]
    ):
        y = np.concatenate(g.y_true.map(np.array).tolist())
        for cut, shift in [*cuts, ("full DI (the paper's)", np.nan)]:
            kinds = ("full",) if cut.startswith("full") else tuple(phase_kind(p, cut) for p in ("onset", "offset"))  # fmt: skip
            pred = np.concatenate([predict_from_scores(s, kinds) for s in g.scores])
            rows.append(
                dict(model=DISPLAY[m], configuration=display(c), cut=cut, shift_pct=shift)
                | {k: 100 * v for k, v in scores(y, pred, n_classes).items()}
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description="List the runs under results/ (one table per dataset)."
    )
    ap.add_argument("--list", action="store_true", help="list the runs (the default action)")
    ap.add_argument("--dataset", help="one dataset folder, e.g. synthetic_casme2; default: all")
    args = ap.parse_args(argv)
    base = output_root() / "results"
    names = [args.dataset] if args.dataset else sorted(p.name for p in base.glob("*") if p.is_dir())
    tables = {name: list_runs(name) for name in names}
    for name, runs in tables.items():
        if len(runs):
            print(f"results/{name}/\n{runs.to_string(index=False)}\n")
    if not any(len(t) for t in tables.values()):
        print(f"no runs under {base}; run notebook 03 or python -m mer_utils.sweep first")


if __name__ == "__main__":
    main()
