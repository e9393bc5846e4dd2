"""The composite table of one run (MEGC 2019): per model x configuration, UF1 / UAR pooled over
all its out-of-fold (LOSO) predictions, overall and per source dataset
(:func:`mer_utils.metrics.megc_scores`, explicit class list). Reads the run's records and the
per-clip sources its ``run.json`` holds; never the dataset. The per-fold mean never leads: with
LOSO most test folds hold one subject and lack classes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mer_utils.configurations import display, get_configuration
from mer_utils.dataset_specs import SPECS
from mer_utils.metrics import megc_scores
from mer_utils.model_specs import DISPLAY, REGISTRY


def composite_table(
    records: pd.DataFrame, sources: Sequence[str], classes: Sequence[str]
) -> pd.DataFrame:
    """One row per (model, configuration, source) with measured records: source ``all`` then
    each source dataset; clips, folds, seeds, and uf1 / uar / accuracy pooled over every test
    prediction of every fold and seed, in %. ``sources``: the run's per-clip source names
    (``run.json`` dataset.sources), indexed by the records' ``test`` clip indices."""
    src = np.asarray(sources)
    rows = []
    for (m, c), g in records.groupby(["model", "configuration"], sort=False):
        idx = np.concatenate([np.asarray(t, dtype=np.int64) for t in g.test])
        t = np.concatenate([np.asarray(y) for y in g.y_true])
        p = np.concatenate([np.asarray(y) for y in g.y_pred])
        table = megc_scores(t, p, classes, src[idx])
        paper = REGISTRY[m].paper and get_configuration(c).paper
        for r in table.itertuples():
            rows.append(
                dict(
                    model=DISPLAY[m], configuration=display(c), key_model=m, key_configuration=c,
                    row="paper" if paper else "addition (not in the paper)", source=r.source,
                    clips=r.clips, folds=len(g), seeds=g.seed.nunique(),
                    uf1=100 * r.uf1, uar=100 * r.uar, accuracy=100 * r.accuracy,
                    classes_absent=r.classes_absent,
                )
            )  # fmt: skip
    return pd.DataFrame(rows)


def composite_markdown(table: pd.DataFrame, header: str) -> str:
    """``table`` as Markdown: one line per model x configuration, UF1 / UAR (%) for all sources
    pooled, then each source (titles as the specs write them)."""
    if not len(table):
        return f"{header}\n\n(no measured cell)\n"
    order = list(dict.fromkeys(table.source))
    title = {s: SPECS[s].title if s in SPECS else s for s in order}
    title["all"] = "all (pooled)"
    lines = [
        header,
        "",
        "| model | configuration | " + " | ".join(f"{title[s]} UF1 / UAR" for s in order) + " |",
        "| --- | --- | " + " | ".join("---" for _ in order) + " |",
    ]
    for (m, c), g in table.groupby(["model", "configuration"], sort=False):
        by = g.set_index("source")
        cells = [f"{by.uf1[s]:.1f} / {by.uar[s]:.1f}" for s in order]
        lines.append(f"| {m} | {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
