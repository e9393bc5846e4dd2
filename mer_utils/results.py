"""``python -m mer_utils.results --list [--dataset NAME]``: the runs under results/, one table
per dataset (id, name, sheet read, clips, models, configurations, folds done / expected,
created, last update).

What reads a run lives beside it, one job per module: :mod:`mer_utils.run_records` (a run's
records as a table, rows rescored from logits), :mod:`mer_utils.table1` (Table I),
:mod:`mer_utils.paper` (the paper's table, claims and comparisons), :mod:`mer_utils.comparison`
(runs across a dataset) and :mod:`mer_utils.run_handle` (all of it for one run: ``open_run``).
"""

from __future__ import annotations

import argparse

from mer_utils.comparison import list_runs
from mer_utils.paths import output_root


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
