"""Synthetic micro-expression datasets written in the official layout of any dataset spec.

``make_synthetic(root, like="casme2"|"samm", seed=0, scale=1.0)`` writes frame folders and the
annotation workbook exactly as the real distribution lays them out (``shared/datasets.md``, as
recorded in :mod:`mer_utils.dataset_specs`), so the real loader reads them unchanged. Statistics
(subjects, class counts, clip lengths, apex positions) follow the real datasets; a few degenerate
apexes are planted on purpose. One module per job: :mod:`.plan` (which clips),
:mod:`.render` (the frames), :mod:`.sheets` (the workbook); this one publishes the copy whole.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from mer_utils.claims import die_with_parent, exclusive, publish_folder
from mer_utils.console import progress_bar
from mer_utils.dataset_specs import SPECS, DatasetSpec, Statistics
from mer_utils.synthetic.plan import ClipPlan, plan_clips, subject_ids
from mer_utils.synthetic.render import intensity_curve, render_clip
from mer_utils.synthetic.sheets import write_sheet

__all__ = ["ClipPlan", "intensity_curve", "make_synthetic", "plan_clips"]

log = logging.getLogger(__name__)
GENERATOR_VERSION = 5  # 3: real apex timing; 4: apex_before_onset a frame number; 5: amplitude 0.032, blinks at their own size


@dataclass(frozen=True)
class _Params:
    like: str
    seed: int
    scale: float
    size: tuple[int, int]
    version: int = GENERATOR_VERSION


def make_synthetic(
    root: str | Path,
    like: str = "casme2",
    seed: int = 0,
    scale: float = 1.0,
    size: tuple[int, int] | None = None,
    workers: int | None = None,
    stats: Statistics | None = None,
) -> Path:
    """Write a synthetic dataset in the official layout of ``like`` under ``root``.

    Args:
        root: dataset root to create (its frame folder + its annotation workbook, named as the
            spec's first known file name).
        like: a name in :data:`mer_utils.dataset_specs.SPECS` (``"casme2"``, ``"samm"``).
        seed: everything is a deterministic function of it.
        scale: fraction of the real clip counts (at least one clip per class).
        size: frame (height, width); default the real datasets' (340x280 crops, 960x650 SAMM).
        workers: processes (default: all cores).
        stats: other statistics than the spec's (a composite's share of the dataset).

    A rerun with the same parameters finds ``SYNTHETIC.json`` and returns at once.
    """
    if like not in SPECS:
        raise ValueError(f"make_synthetic: like must be one of {sorted(SPECS)}, got {like!r}")
    spec = SPECS[like] if stats is None else replace(SPECS[like], stats=stats)
    size = tuple(size) if size is not None else spec.size
    root = Path(root)
    params = json.loads(json.dumps(asdict(_Params(like, seed, float(scale), size))))
    if stats is not None:
        params["stats"] = json.loads(json.dumps(asdict(stats)))
    with exclusive(root.with_name(root.name + ".claim"), f"synthetic data {root.name}"):
        if _complete(root, params):
            log.info("synthetic %s already at %s", like, root)
            return root

        def build(tmp: Path) -> None:
            _generate(tmp, spec, size, seed, scale, workers)
            (tmp / "SYNTHETIC.json").write_text(json.dumps(params, indent=1))

        publish_folder(root, build)  # a killed generation never leaves a half dataset
    return root


def _complete(root: Path, params: dict) -> bool:
    marker = root / "SYNTHETIC.json"
    try:
        return json.loads(marker.read_text()) == params
    except (OSError, ValueError):
        return False


def _generate(
    root: Path, spec: DatasetSpec, size: tuple[int, int], seed: int, scale: float, workers
) -> None:
    """Render every clip (worker processes that die with this one) and write the workbook."""
    plans = plan_clips(spec, seed, scale)
    subject_seeds = {
        s: int(np.random.SeedSequence([seed, 10_000, n]).generate_state(1)[0])
        for s, n in subject_ids(spec).items()
    }
    with ProcessPoolExecutor(workers, initializer=die_with_parent) as pool:
        jobs = [
            pool.submit(render_clip, root, spec, size, p, subject_seeds[p.subject]) for p in plans
        ]
        for j in progress_bar(jobs, desc=f"synthetic {spec.name}", unit="clip"):
            j.result()
    if spec.sheet is not None:  # SMIC-HS: labels are the folder names, no workbook
        write_sheet(root / spec.sheet.files[0], spec, plans)
