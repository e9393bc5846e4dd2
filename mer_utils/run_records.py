"""The fold records of ONE run as a tidy table: one row per valid record, plus the rows of the
evaluation-only configurations rescored from their stored logits; per-epoch histories, pooled
confusion matrices, the apex-noise curve and the training summary notebook 03 shows.

Never averages records of two runs: a record whose run id is not the folder's is left out and
named in the log. Reads ``run.json`` and the records only; never the dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mer_utils.configurations import (
    APEX_SHIFTS,
    display,
    get_configuration,
    phase_kind,
    predict_from_scores,
    shift_cut,
)
from mer_utils.metrics import confusion, scores
from mer_utils.model_specs import DISPLAY
from mer_utils.records import RECORD_SCHEMA, FoldRecord
from mer_utils.runs import read_record, read_run_json

log = logging.getLogger(__name__)

COLUMNS = ("model", "configuration", "seed", "fold", "validation", "protocol", "pretrained",
           "input_px", "y_true", "y_pred", "scores", "rel_apex", "best_epoch", "test", "n_train",
           "n_test", "wall_s", "history", "device", "git_sha", "run_id")  # fmt: skip


def load_records(run_folder: Path, derive: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per valid fold record of ONE run (``<run folder>/runs/**.json``), with its scores'
    inputs (:func:`records_frame`). Invalid or foreign records are named in the log and left out
    (never averaged in). ``derive``: evaluation-only configurations or table rows (see
    :mod:`mer_utils.configurations`) whose rows are computed from the stored logits of the
    records of the configuration they score."""
    info = read_run_json(run_folder)
    if info is None:
        raise FileNotFoundError(f"{run_folder}: no run.json; run notebook 03 (or mer_utils.sweep)")
    records = []
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
        records.append(r)
    df = records_frame(records)
    return pd.concat([df, *(derived(df, c) for c in derive)], ignore_index=True)


def records_frame(records: Sequence[FoldRecord]) -> pd.DataFrame:
    """One row per fold record: model, configuration, seed, fold, validation, protocol,
    pretrained, input_px, y_true / y_pred / rel_apex (lists per test clip), scores (DI kind ->
    logits), best_epoch, n_train / n_test (for the corrected resampled t), wall_s, history,
    device, git_sha, run_id."""
    return pd.DataFrame([_record_row(r) for r in records], columns=list(COLUMNS))


def _record_row(r: FoldRecord) -> dict:
    p = r.params
    return dict(
        **{k: p[k] for k in ("model", "configuration", "seed", "fold", "validation", "protocol")},
        pretrained=p["pretrained_model"],
        input_px=p["input_px"],
        **{k: getattr(r, k) for k in ("y_true", "y_pred", "scores", "rel_apex", "best_epoch")},
        test=list(r.split["test"]),  # clip indices (a composite's sources: run.json)
        n_train=len(r.split["train"]),  # for the corrected resampled t (statistics.py)
        n_test=len(r.y_true),
        wall_s=r.wall_s,
        history=r.history,
        device=r.provenance["device"],
        git_sha=r.provenance["git_sha"][:10],
        run_id=r.run_id,
    )


def derived(records: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows of the evaluation-only configuration (or table row) ``name``: the records of the
    configuration it scores, with predictions from their stored logits (mean softmax over its
    DI kinds, e.g. the test clip's phase DIs cut at the spotted apex)."""
    spec = get_configuration(name)
    if not spec.trained_as or not len(records):
        return records.iloc[:0]
    src = records[records.configuration == spec.trained_as]
    preds = [predict_from_scores(s, spec.eval_kinds, spec.eval_fallback) for s in src.scores]
    return src.assign(configuration=name, y_pred=preds, history=[[]] * len(src))


def histories(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (fold record, epoch): model, configuration, seed, fold + the epoch's history."""
    return pd.DataFrame(
        [
            dict(model=r.model, configuration=r.configuration, seed=r.seed, fold=r.fold, **h)
            for r in records.itertuples()
            for h in r.history
        ]
    )


def pooled_confusion(records: pd.DataFrame, n_classes: int) -> np.ndarray:
    """int64 [C, C] confusion matrix over all out-of-fold predictions of ``records``."""
    return confusion(
        np.concatenate(records.y_true.map(np.array).tolist()),
        np.concatenate(records.y_pred.map(np.array).tolist()),
        n_classes,
    )


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
    cuts += [("spotted", np.nan), ("midpoint", np.nan), ("full DI (the paper's)", np.nan)]
    rows = []
    for (m, c), g in records[records.configuration.isin(trained)].groupby(
        ["model", "configuration"]
    ):
        y = np.concatenate(g.y_true.map(np.array).tolist())
        for cut, shift in cuts:
            kinds = ("full",) if cut.startswith("full") else tuple(phase_kind(p, cut) for p in ("onset", "offset"))  # fmt: skip
            pred = np.concatenate([predict_from_scores(s, kinds) for s in g.scores])
            rows.append(
                dict(model=DISPLAY[m], configuration=display(c), cut=cut, shift_pct=shift)
                | {k: 100 * v for k, v in scores(y, pred, n_classes).items()}
            )
    return pd.DataFrame(rows)


def training_summary(records: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(per model x configuration: mean best epoch, epochs run and wall seconds per fold; one
    line with the total training time) of the trained rows of ``records``."""
    folds = records.assign(
        epochs_run=records.history.map(len), wall_s=[round(w, 1) for w in records.wall_s]
    )
    table = (
        folds.groupby(["model", "configuration"])[["best_epoch", "epochs_run", "wall_s"]]
        .mean()
        .round(1)
    )
    return table, f"total training time {folds.wall_s.sum() / 60:.1f} min over {len(folds)} folds"
