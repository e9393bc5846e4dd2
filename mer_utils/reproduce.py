"""``make reproduce``: run the four numbered notebooks with papermill, per dataset.

With no dataset: the synthetic default in both official layouts (``configs/synthetic_casme2``
and ``configs/synthetic_samm``); on a CUDA machine the full six-backbone grid. With
``--dataset casme2 --data-root /path``: the user's licensed copy. Executed notebooks go to
``results/<dataset>/executed/``; figures to ``figures/<dataset>/``; tables to ``results/<dataset>/``.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import papermill as pm
import torch
import yaml

from mer_utils.config import load_config
from mer_utils.models import REGISTRY
from mer_utils.paths import configs_dir, notebooks_dir, results_dir

NOTEBOOKS = ("01_data_exploration", "02_dynamic_images", "03_training_sweep", "04_results_tables")
DEFAULT = ("synthetic_casme2", "synthetic_samm")


def parameters(dataset: str, data_root: str | None, smoke: bool) -> dict:
    """The papermill parameters: ``configs/<dataset>.yaml`` (+ data_root, smoke, GPU grid)."""
    path = configs_dir() / f"{dataset}.yaml"
    params = yaml.safe_load(path.read_text()) or {}
    if data_root:
        params["data_root"] = str(Path(data_root).expanduser().resolve())
    if smoke:
        params["smoke"] = True
    if torch.cuda.is_available() and dataset in DEFAULT and not smoke:
        params["models"] = list(REGISTRY)  # the full Table I grid on a GPU
    load_config(path, **params)  # validate before running anything
    return params


def declared_parameters(notebook: str) -> set[str]:
    """Names in a notebook's ``parameters`` cell (each notebook receives only those)."""
    return set(pm.inspect_notebook(str(notebooks_dir() / f"{notebook}.ipynb")))


def run_dataset(dataset: str, data_root: str | None = None, smoke: bool = False) -> float:
    """Execute notebooks 01-04 for one dataset; returns the wall time in seconds."""
    params = parameters(dataset, data_root, smoke)
    run = f"{dataset}-smoke" if smoke else dataset
    out = results_dir(run, "executed")
    declared = {nb: declared_parameters(nb) for nb in NOTEBOOKS}
    t0 = time.perf_counter()
    for nb in NOTEBOOKS:
        t = time.perf_counter()
        pm.execute_notebook(
            notebooks_dir() / f"{nb}.ipynb",
            out / f"{nb}.ipynb",
            parameters={k: v for k, v in params.items() if k in declared[nb]},
            cwd=str(notebooks_dir()),
            progress_bar=False,
            log_output=True,
            kernel_name="python3",
        )
        print(f"[{dataset}] {nb}: {time.perf_counter() - t:.0f} s", flush=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", help="a configs/<name>.yaml; default: both synthetic layouts")
    ap.add_argument("--data-root", help="folder of your licensed CASME-II / SAMM copy")
    ap.add_argument("--smoke", action="store_true", help="tiny everything (a few minutes)")
    args = ap.parse_args(argv)
    # stream the notebooks' output (progress bars included, one update per 5 s) to this terminal
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("papermill").setLevel(logging.INFO)
    os.environ.setdefault("TQDM_MININTERVAL", "5")
    if args.dataset in ("casme2", "samm") and not args.data_root:
        ap.error(f"--dataset {args.dataset} needs DATA_ROOT=/path/to/your/{args.dataset} copy")
    total = 0.0
    for ds in [args.dataset] if args.dataset else DEFAULT:
        total += run_dataset(ds, args.data_root, args.smoke)
    print(
        f"done in {total / 60:.1f} min. Figures: figures/<dataset>/, tables: results/<dataset>/table1.md"
    )


if __name__ == "__main__":
    main()
