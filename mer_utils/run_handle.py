"""A run handle: one run's ``run.json`` and fold records, and every table and figure notebook 04
makes of them. It never loads the dataset: ``run.json`` says what the run's requests asked for
(cells, rows, device) and the records hold every prediction and logit::

    handle = open_run("1a2b3c4d")          # a run id (unique prefix), a folder name or a path
    handle.write_tables()                   # table1.{csv,md,tex}, table1_vs_paper.csv, claims.csv,
                                            # paired_tests.csv, apex_*.csv in the run's folder
    handle.figures()                        # figures/<dataset>/<run>/: confusions, curves, apex noise

:func:`open_run_for` is notebook 04's door: the run a config names (``run``), or the latest run
whose identity matches the config's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mer_utils import plots, run_records, statistics
from mer_utils.comparison import ProtocolComparison, comparison_runs, protocol_comparison
from mer_utils.composite_table import composite_markdown, composite_table
from mer_utils.config import Config
from mer_utils.configurations import display, get_configuration, row_order
from mer_utils.dataset_specs import spec_of
from mer_utils.model_specs import DISPLAY
from mer_utils.paper import (
    claims_both,
    implied_counts,
    paired_tests,
    paper_dataset,
    paper_table,
    side_by_side,
)
from mer_utils.paths import data_name, figures_dir
from mer_utils.run_lookup import locate_run, matching_runs
from mer_utils.runs import RunInfo, read_run_json
from mer_utils.table1 import (
    Cells,
    di_vs_flow,
    lead_metric,
    leak_label,
    requested_cells,
    rounded,
    run_header,
    table1,
    with_run_columns,
    write_table1,
)

APEX_NOISE_TRAINED = ("dual_di", "dual_di_flip_rotate")  # Dual-DI models rescored at every cut


@dataclass(frozen=True, eq=False)
class ApexAnalysis:
    """Accuracy by |apex - midpoint| (:func:`mer_utils.statistics.apex_distance`)."""

    by_distance: pd.DataFrame  # model, configuration, bin, predictions, accuracy (%)
    correlation: pd.DataFrame  # model, configuration, seeds, n, spearman_rho, p, note

    @property
    def empty(self) -> bool:
        return not len(self.by_distance)

    def accuracy_by_bin(self) -> pd.DataFrame:
        """Model x configuration rows, one accuracy (%) column per distance bin."""
        return self.by_distance.pivot_table(
            index=["model", "configuration"], columns="bin", values="accuracy"
        )


@dataclass(frozen=True, eq=False)
class RunHandle:
    """One run: where it lives, its ``run.json`` and its records (one row per fold record, plus
    the rows of the evaluation-only configurations its requests asked for, rescored from the
    stored logits: :func:`mer_utils.run_records.load_records`)."""

    folder: Path  # results/<dataset_dir>/<protocol>-<validation>-<id>/
    info: RunInfo
    records: pd.DataFrame
    cells: Cells  # Table I cells the requests asked for (mer_utils.table1.requested_cells)
    chosen: str = ""  # one line: how this run was found (open_run_for)

    @property
    def dataset_dir(self) -> str:
        """The dataset folder under results/ and figures/ (``synthetic_casme2-smoke``, ...)."""
        return self.folder.parent.name

    @property
    def data_folder(self) -> Path:
        """results/<dataset_dir>/data-<fp>/ (not created here): where notebook 01 writes the
        validation report of this run's data (same fingerprint, :func:`mer_utils.paths.data_dirs`)."""
        return self.folder.parent / data_name(self.info.fingerprint)

    @property
    def n_classes(self) -> int:
        return len(self.info.classes)

    def summary(self) -> str:
        """How the run was found, its name, how many fold records, on which devices and code."""
        r = self.records
        devices = ", ".join(sorted(set(r.device))) if "device" in r else "none"
        code = ", ".join(sorted(set(r.git_sha))) if "git_sha" in r else "none"
        lines = [f"run {self.info.folder}: {self.info.name}"]
        if d := self.info.dataset:
            lines.append(f"data: {d.clips} clips from {d.spreadsheet}")
        report = self.data_folder / "validation_report.csv"
        lines.append(
            f"validation report: {report if report.is_file() else 'none (run notebook 01)'}"
        )
        lines += [f"{len(r)} fold records; devices: {devices}", f"code: {code}"]
        return "\n".join([self.chosen, *lines] if self.chosen else lines)

    def table1(self) -> pd.DataFrame:
        """Table I of the run (:func:`mer_utils.table1.table1`) with the columns naming it."""
        table = table1(self.records, self.n_classes, self.cells)
        lead, _ = lead_metric(table, self.info.protocol)
        return with_run_columns(table, self.info, lead)

    def side_by_side(self) -> pd.DataFrame:
        """Our per-fold means beside the paper's numbers (:func:`mer_utils.paper.side_by_side`)."""
        ours = side_by_side(self.table1(), self.info.dataset_name)
        return ours.assign(run=self.info.folder)

    def di_vs_flow(self) -> pd.DataFrame:
        """DI vs optical flow per model and augmentation (:func:`mer_utils.table1.di_vs_flow`,
        in the metric Table I leads with); empty without a measured flow row."""
        table = self.table1()
        return di_vs_flow(table, lead_metric(table, self.info.protocol)[0])

    def claims(self) -> pd.DataFrame:
        """The paper's headline claims from its table and from ours, indexed by source."""
        return claims_both(self.table1(), self.info.dataset_name).assign(run=self.info.folder)

    def paired_tests(self, metrics: tuple[str, ...] = ("accuracy", "uar")) -> pd.DataFrame:
        """:func:`mer_utils.paper.paired_tests` of each metric, one frame."""
        tests = [paired_tests(self.records, self.n_classes, m) for m in metrics]
        return pd.concat(tests).assign(run=self.info.folder)

    def apex_analysis(self) -> ApexAnalysis:
        """Accuracy of Baseline, Dual-DI, its rescorings and the sign-robust control by the
        distance of the test clips' apex from their midpoint."""
        dual = (r for r in self.info.rows() if r.startswith("dual_di_"))
        wanted = ("baseline", "dual_di", *dual, "sign_robust")
        return ApexAnalysis(*statistics.apex_distance(self.records, wanted))

    def apex_noise(self) -> pd.DataFrame:
        """:func:`mer_utils.run_records.apex_noise_curve` of the Dual-DI models."""
        return run_records.apex_noise_curve(self.records, self.n_classes, APEX_NOISE_TRAINED)

    def confusions(self) -> dict[str, np.ndarray]:
        """ "<model> · <configuration>" -> int64 [C, C] confusion pooled over folds and seeds,
        in Table I's order (models, then the paper's configurations, then the additions)."""
        groups = self.records.groupby(["model", "configuration"]) if len(self.records) else []
        order = list(dict.fromkeys(k[0] for k in self.cells))  # the models in Table I's order
        ranked = sorted(groups, key=lambda kv: (_rank(order, kv[0][0]), row_order(kv[0][1])))
        return {
            f"{DISPLAY[m]} · {display(c)}": run_records.pooled_confusion(g, self.n_classes)
            for (m, c), g in ranked
        }

    def title(self, what: str = "") -> str:
        """A figure title naming the run by its name, not its id: "<what> · <dataset title>:
        <run name>" (the id is in the figure's footer, :meth:`sign`)."""
        head = f"{what} · " if what else ""
        return f"{head}{spec_of(self.info.dataset_name).title}: {self.info.name}"

    def sign(self, fig) -> None:
        """The run's folder (where the figure's files live) in small grey type above the
        figure's top right corner, clear of its title and legend."""
        fig.text(1.0, 1.0, f"run {self.info.folder}", ha="right", va="bottom", fontsize=7,
                 color="0.4")  # fmt: skip

    def implied_counts(self) -> pd.DataFrame:
        """The paper's test-set sizes implied by its Table I, beside this run's clip count."""
        counts = implied_counts(paper_table())
        d, mine = self.info.dataset, paper_dataset(self.info.dataset_name)
        here = f"{d.clips} clips ({d.name}, {d.spreadsheet.rsplit('/', 1)[-1]})" if d else "?"
        counts["this run's dataset"] = [here if name == mine else "" for name in counts.dataset]
        return counts

    def composite_table(self) -> pd.DataFrame:
        """A composite run's (``megc2019``) UF1 / UAR pooled over all LOSO predictions, overall
        and per source dataset (:func:`mer_utils.composite_table.composite_table`); empty for
        a run of one dataset."""
        d = self.info.dataset
        if d is None or not d.sources or not len(self.records):
            return pd.DataFrame()
        return composite_table(self.records, d.sources, d.classes).assign(run=self.info.folder)

    def write_tables(self, folder: Path | None = None) -> dict[str, Path]:
        """Every table of the run into ``folder`` (default: the run's folder): table1.{csv,md,
        tex} (first line: the run), table1_vs_paper.csv, claims.csv, paired_tests.csv and, when
        the run has the records they need, apex_distance.csv, apex_correlation.csv,
        apex_noise.csv and di_vs_flow.csv. Returns {file name: path}."""
        folder = Path(folder) if folder else self.folder
        table, run = self.table1(), self.info.folder
        lead, note = lead_metric(table, self.info.protocol)
        files = write_table1(table, folder, run_header(self.info, note), lead)
        paths = {f"table1.{ext}": p for ext, p in files.items()}
        csvs = {  # % to 2 decimals (the paper's), p-values and statistics to 4
            "table1_vs_paper.csv": rounded(side_by_side(table, self.info.dataset_name), 2),
            "paired_tests.csv": rounded(self.paired_tests(), 4).round({"mean_diff_pp": 2}),
        }
        apex, curve = self.apex_analysis(), self.apex_noise()
        if not apex.empty:
            csvs["apex_distance.csv"] = rounded(apex.by_distance, 2)
            csvs["apex_correlation.csv"] = rounded(apex.correlation, 4)
        if len(curve):
            csvs["apex_noise.csv"] = rounded(curve, 2)
        flows = di_vs_flow(table, lead)
        if len(flows):
            csvs["di_vs_flow.csv"] = rounded(flows.assign(run=run), 2)
        for name, frame in csvs.items():
            paths[name] = folder / name
            frame.assign(run=run).to_csv(paths[name], index=False)
        composite = self.composite_table()
        if len(composite):  # MEGC: pooled over every LOSO prediction, per source
            paths["composite.csv"] = folder / "composite.csv"
            rounded(composite, 2).assign(run=run).to_csv(paths["composite.csv"], index=False)
            paths["composite.md"] = folder / "composite.md"
            head = leak_label(self.info.validation) + (
                f"Run {run}: UF1 / UAR (%) pooled over all out-of-fold predictions (MEGC 2019)"
            )
            paths["composite.md"].write_text(composite_markdown(composite, head))
        paths["claims.csv"] = folder / "claims.csv"  # indexed by source
        claims = rounded(claims_both(table, self.info.dataset_name), 2)
        claims.assign(run=run).to_csv(paths["claims.csv"])
        return paths

    def figure_folder(self, folder: Path | None = None) -> Path:
        """``folder`` or figures/<dataset>/<run>/, created."""
        out = Path(folder) if folder else figures_dir(self.dataset_dir) / self.folder.name
        out.mkdir(parents=True, exist_ok=True)
        return out

    def fig_confusions(self, folder: Path | None = None) -> list[Path]:
        """confusion_matrices.{png,pdf}: one panel per model x configuration (none: [])."""
        cms = self.confusions()
        if not cms:
            return []
        fig = plots.confusion_grid(cms, self.info.classes, suptitle=self.title())
        self.sign(fig)
        return plots.save(fig, self.figure_folder(folder) / "confusion_matrices")

    def fig_learning_curves(self, folder: Path | None = None) -> list[Path]:
        """curves_<model>.{png,pdf}: mean training / validation loss per epoch."""
        paths, hist = [], run_records.histories(self.records) if len(self.records) else None
        for m, g in hist.groupby("model") if hist is not None and len(hist) else []:
            fig = plots.learning_curves(g, self.title(DISPLAY[m]))
            self.sign(fig)
            paths += plots.save(fig, self.figure_folder(folder) / f"curves_{m}")
        return paths

    def fig_apex_noise(self, folder: Path | None = None) -> list[Path]:
        """apex_noise.{png,pdf}: accuracy against where the test clip is cut (none: [])."""
        curve = self.apex_noise()
        if not len(curve):
            return []
        fig = plots.fig_apex_noise(curve, "accuracy", self.title("Phase-aware evaluation"))
        self.sign(fig)
        return plots.save(fig, self.figure_folder(folder) / "apex_noise")

    def figures(self, folder: Path | None = None) -> list[Path]:
        """Every figure of the run (confusions, learning curves, apex noise); their paths."""
        return [
            *self.fig_confusions(folder),
            *self.fig_learning_curves(folder),
            *self.fig_apex_noise(folder),
        ]

    def compare_protocols(
        self, keys: tuple[str, ...] = (), write: bool = True
    ) -> ProtocolComparison:
        """This dataset's runs side by side: ``keys`` (ids or folders), else the latest run of
        each protocol with this run's other settings. With two runs or more and ``write``:
        <run>/protocol_comparison.csv (a ``run`` column names the run of each row), with the
        validation rungs oracle / paper / inner among them <run>/validation_ladder.csv, and
        figures/<dataset>/<run>/protocol_comparison.png, beside this run's other outputs."""
        folders = comparison_runs(self.dataset_dir, tuple(keys), like=self.info)
        enough = len(folders) >= 2
        long = protocol_comparison(folders, self.n_classes) if enough else pd.DataFrame()
        out = ProtocolComparison(self.dataset_dir, self.info.dataset_name, tuple(folders), long)
        if enough and write:
            long.to_csv(self.folder / "protocol_comparison.csv", index=False)
            ladder = out.ladder("uar")
            if len(ladder):  # oracle / paper / inner and the inflation in points
                rounded(ladder, 2).to_csv(self.folder / "validation_ladder.csv", index=False)
            title = f"{spec_of(self.info.dataset_name).title}: protocols compared (UAR)"
            fig = plots.protocol_bars(long, "uar", title)
            plots.save(fig, self.figure_folder() / "protocol_comparison")
        return out


def _rank(order: list[str], model: str) -> int:
    """Position of ``model`` in ``order`` (models not in it last)."""
    return order.index(model) if model in order else len(order)


def open_run(key_or_folder: str | Path, dataset_dir: str | None = None) -> RunHandle:
    """The run at a path, or whose id (a unique prefix) or folder name is ``key_or_folder``
    under results/<dataset_dir>/ (every dataset when None). FileNotFoundError names the runs
    there when none or several match."""
    folder = locate_run(key_or_folder, dataset_dir)
    info = read_run_json(folder)
    if info is None:
        raise FileNotFoundError(f"{folder}: no readable run.json; rerun its sweep to rewrite it")
    cells = requested_cells(info)
    derive = tuple(r for r in info.rows() if get_configuration(r).trained_as)
    records = run_records.load_records(folder, derive=derive)
    run_cells = {k for k, v in cells.items() if isinstance(v, set)}
    keep = [  # rescored rows only where the table has a cell run on this device
        c not in derive or (m, c) in run_cells
        for m, c in zip(records.model, records.configuration, strict=True)
    ]
    kept = records[pd.Series(keep, index=records.index, dtype=bool)]  # [] would pick columns
    return RunHandle(folder, info, kept.reset_index(drop=True), cells)


def open_run_for(cfg: Config) -> RunHandle:
    """Notebook 04's run: ``cfg.run`` (an id, folder name or path) when set, else the latest run
    under results/<cfg.run_name>/ that :func:`matching_runs` finds; ``chosen`` says which."""
    cfg = cfg.effective()
    if cfg.run:
        handle = open_run(cfg.run, cfg.run_name)  # a path is taken as is
        return replace(handle, chosen=f"run {handle.folder.name}: named by run={cfg.run!r}")
    hits = matching_runs(cfg)
    if not hits:
        raise FileNotFoundError(
            f"no run under results/{cfg.run_name}/ has these parameters: run notebook 03 with "
            "them first, or name one with run=<id> (python -m mer_utils.results --list)"
        )
    chosen = (
        f"run {hits[-1].name}: the latest of {len(hits)} run(s) under results/{cfg.run_name}/ "
        "with these parameters (dataset content not compared: set run=<id> to choose)"
    )
    return replace(open_run(hits[-1]), chosen=chosen)
