"""Which run: by path, id or folder name (across datasets too), or by a config's identity
(notebook 04 without a ``run``: the dataset fingerprint cannot be known without loading the
data, so every other identity field is compared)."""

from __future__ import annotations

import json
from pathlib import Path

from mer_utils.config import Config
from mer_utils.dataset_specs import spec_of
from mer_utils.paths import output_root
from mer_utils.runs import device_type, find_run, identity, read_run_json, run_folders


def locate_run(key: str | Path, dataset_dir: str | None) -> Path:
    """The run folder at the path ``key``, or whose id (a unique prefix) or folder name is
    ``key`` under results/<dataset_dir>/ (every dataset when None). FileNotFoundError names the
    runs found when none or several match."""
    path = Path(key)
    if (path / "run.json").is_file():
        return path
    if dataset_dir is not None:
        return find_run(dataset_dir, str(key))
    base, key = output_root() / "results", str(key)
    datasets = sorted(p.name for p in base.glob("*") if p.is_dir())
    hits = [
        f
        for d in datasets
        for f in run_folders(d)
        if f.name == key or f.name.split("-")[-1].startswith(key)
    ]
    if len(hits) != 1:
        what = "no run" if not hits else f"{len(hits)} runs ({', '.join(h.name for h in hits)})"
        raise FileNotFoundError(
            f"{what} '{key}' under {base}; list them: python -m mer_utils.results --list"
        )
    return hits[0]


def matching_runs(cfg: Config) -> list[Path]:
    """Run folders of results/<cfg.run_name>/, oldest first, whose identity equals the one
    ``cfg`` (effective) gives on everything but the dataset fingerprint (knowing it needs the
    data): same run-identity fields, classes and device type."""
    cfg = cfg.effective()
    dev = device_type(cfg.device)
    want = json.loads(json.dumps(identity(cfg, "", spec_of(cfg.dataset).classes, dev)))
    want.pop("dataset_fingerprint")
    hits = []
    for folder in run_folders(cfg.run_name):
        info = read_run_json(folder)
        have = dict(info.identity) if info else {}
        have.pop("dataset_fingerprint", None)
        if have == want:
            hits.append(folder)
    return hits
