"""``make reproduce``: run the four numbered notebooks with papermill, per dataset.

With no dataset: the synthetic default in both official layouts (``configs/synthetic_casme2``
and ``configs/synthetic_samm``), each followed by its companions (``configs/<dataset>_leakfree``,
``_pretrained`` and ``_flow.yaml`` where present, notebooks 03-04; the MEGC 2019 composite's
are its protocol-ladder rungs ``_ladder_oracle`` and ``_ladder_paper``); without CUDA each
config's ``cpu_grid`` says what runs. With ``--dataset casme2 --data-root /path``: the user's
licensed copy.
``--set key=value`` overrides any parameter, exactly as in ``mer_utils.sweep``. Each run's
tables and executed notebooks go to ``results/<dataset>/<run>/``, its figures to
``figures/<dataset>/<run>/``; what notebooks 01-02 make of the data (validation report,
figures) to ``results|figures/<dataset>/data-<fingerprint>/``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import papermill as pm
import torch

from mer_utils import preflight
from mer_utils.config import Config, ConfigError, load_config, parse_overrides, read_params
from mer_utils.dataset_specs import SPECS, SYNTHETIC_PREFIX
from mer_utils.paths import configs_dir, notebooks_dir, results_dir
from mer_utils.preflight import PreflightError

NOTEBOOKS = ("01_data_exploration", "02_dynamic_images", "03_training_sweep", "04_results_tables")
SWEEP, TABLES = NOTEBOOKS[2:]  # 03 computes a run and names it; 04 tabulates the run it names
# the paper's two datasets' synthetic copies (the other specs, SMIC-HS, MMEW, CAS(ME)^3 and the
# MEGC 2019 composite, run on request: make reproduce DATASET=synthetic_<name>)
DEFAULT = tuple(SYNTHETIC_PREFIX + name for name in ("casme2", "samm"))
# configs/<dataset>_<kind>.yaml, run (notebooks 03-04) after the paper's config when present:
# the leak-free protocol, fine-tuning from real offline ImageNet weights (an addition), then DI
# vs optical flow (the paper's run extended by the flow configurations and STSTNet), then the
# protocol ladder's leaky rungs (the same run under validation oracle, then paper: the last
# one's notebook 04 writes <run>/validation_ladder.csv with the three rungs)
COMPANIONS = ("{}_leakfree", "{}_pretrained", "{}_flow", "{}_ladder_oracle", "{}_ladder_paper")


def parameters(config: str, data_root: str | None, smoke: bool, overrides: dict) -> dict:
    """The papermill parameters: ``configs/<config>.yaml`` + data_root, smoke and ``--set``
    overrides, validated as a whole before anything runs (raises ConfigError)."""
    path = configs_dir() / f"{config}.yaml"
    params = {**read_params(path), **overrides}
    params.pop("base", None)  # resolved: each notebook gets every value, nothing to look up
    if data_root:
        params["data_root"] = str(Path(data_root).expanduser().resolve())
    if smoke:
        params["smoke"] = True
    load_config(path, **params)
    return params


def declared_parameters(notebook: str) -> set[str]:
    """Names in a notebook's ``parameters`` cell (each notebook receives only those)."""
    return set(pm.inspect_notebook(str(notebooks_dir() / f"{notebook}.ipynb")))


def plan(dataset: str | None, data_root: str | None, smoke: bool, overrides: dict) -> list:
    """[(config name, notebooks, params)] for every run, all validated before any work: per
    dataset its paper-protocol config (01-04), then each companion (03-04) of
    :data:`COMPANIONS` whose ``configs/<dataset>_<kind>.yaml`` exists and has something to run
    on this device."""
    cuda = torch.cuda.is_available()
    steps = []
    for ds in [dataset] if dataset else DEFAULT:
        steps.append((ds, NOTEBOOKS, parameters(ds, data_root, smoke, overrides)))
        for comp in (c.format(ds) for c in COMPANIONS):
            if not (configs_dir() / f"{comp}.yaml").is_file():
                continue
            params = parameters(comp, data_root, smoke, overrides)
            why = _nothing_to_run(comp, load_config(comp, **params), cuda)
            if why:
                print(f"[{comp}] skipped: {why}", flush=True)
            else:
                steps.append((comp, NOTEBOOKS[2:], params))
    return steps


def _nothing_to_run(name: str, cfg: Config, cuda: bool) -> str:
    """Why a companion has nothing to add on this device ("" if it has): an empty grid, or a
    ``_pretrained`` one whose models (after ``--set``) fine-tune from no weights."""
    models, confs = cfg.grid_on(cuda)
    if not (models and confs):
        return "nothing to run without CUDA (cpu_grid)"
    tuned = [m for m in models if cfg.fine_tunes(m)]
    if name.endswith("_pretrained") and not tuned:
        return f"no model of {list(models)} fine-tunes from pretrained weights (pretrained={cfg.pretrained})"
    return ""


class NotebookFailed(RuntimeError):
    """A notebook stopped; the message is its error's last line and the executed copy."""


def run_notebooks(config: str, notebooks: tuple[str, ...], params: dict) -> float:
    """Execute ``notebooks`` with ``params``. Notebook 03 writes the folder name of the run it
    computed to ``results/<dataset>/executed/<config>-03_training_sweep.run`` and notebook 04
    gets it as ``run`` (unless ``params`` name one), so 04 tabulates exactly that run without
    loading the data. Executed copies (``<config>-<notebook>.ipynb``) go to the run's
    ``executed/`` folder once 03 has named it (the earlier ones are moved there), so two runs
    never overwrite each other's; a copy that stopped stays in results/<dataset>/executed/.
    Returns the wall time in seconds."""
    cfg = load_config(configs_dir() / f"{config}.yaml", **params)
    out = scratch = results_dir(cfg.run_name, "executed")
    handoff = scratch / f"{config}-{SWEEP}.run"
    handoff.unlink(missing_ok=True)  # only a name written by this call's notebook 03 counts
    t0, done = time.perf_counter(), []
    for nb in notebooks:
        t = time.perf_counter()
        given = {k: v for k, v in params.items() if k in declared_parameters(nb)}
        if nb == SWEEP:
            given["run_file"] = str(handoff)
        elif nb == TABLES and not given.get("run") and handoff.is_file():
            given["run"] = handoff.read_text().strip()
        done.append(_execute(nb, out / f"{config}-{nb}.ipynb", given, config))
        if nb == SWEEP and handoff.is_file():
            out = results_dir(cfg.run_name, handoff.read_text().strip(), "executed")
            done = [Path(shutil.move(p, out / p.name)) for p in done]
        print(f"[{config}] {nb}: {time.perf_counter() - t:.0f} s", flush=True)
    return time.perf_counter() - t0


def _execute(nb: str, dest: Path, given: dict, config: str) -> Path:
    """Run notebook ``nb`` into ``dest`` with parameters ``given``; NotebookFailed (its error's
    last line and where the full traceback is) if a cell raised."""
    try:
        pm.execute_notebook(
            notebooks_dir() / f"{nb}.ipynb",
            dest,
            parameters=given,
            cwd=str(notebooks_dir()),
            progress_bar=False,
            log_output=True,
            kernel_name="python3",
        )
    except pm.PapermillExecutionError as e:  # one line, not papermill's traceback
        raise NotebookFailed(
            f"[{config}] {nb} stopped: {e.ename}: {e.evalue}\n(its traceback: {dest})"
        ) from None
    return dest


def run_dataset(
    dataset: str, data_root: str | None = None, smoke: bool = False, overrides: dict | None = None
) -> float:
    """Every run of one dataset (paper protocol, then its leak-free companion); seconds."""
    steps = plan(dataset, data_root, smoke, overrides or {})
    return sum(run_notebooks(*step) for step in steps)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", help="a configs/<name>.yaml; default: both synthetic layouts")
    ap.add_argument("--data-root", help="folder of your licensed CASME-II / SAMM copy")
    ap.add_argument("--smoke", action="store_true", help="tiny everything (a few minutes)")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override (YAML value)"
    )
    args = ap.parse_args(argv)
    # stream the notebooks' output (progress bars included, one update per 5 s) to this terminal
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("papermill").setLevel(logging.INFO)
    os.environ.setdefault("TQDM_MININTERVAL", "5")
    if args.dataset in SPECS and not args.data_root:
        ap.error(f"--dataset {args.dataset} needs DATA_ROOT=/path/to/your/{args.dataset} copy")
    try:  # every run's parameters, data and weights checked before any of them starts
        steps = plan(args.dataset, args.data_root, args.smoke, parse_overrides(args.set))
        configs = [load_config(configs_dir() / f"{c}.yaml", **p) for c, _, p in steps]
        preflight.check(configs, torch.cuda.is_available())
    except (ConfigError, PreflightError) as e:
        print(f"make reproduce: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        total = sum(run_notebooks(*step) for step in steps)
    except NotebookFailed as e:
        print(f"make reproduce: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    print(
        f"done in {total / 60:.1f} min. Runs: python -m mer_utils.results --list; "
        "tables: results/<dataset>/<run>/table1.md"
    )


if __name__ == "__main__":
    main()
