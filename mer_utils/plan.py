"""A sweep resolved once into typed, picklable units of work.

``plan_sweep`` (:mod:`mer_utils.sweep`) checks a config, opens its dataset, names the run and
lays out one :class:`Unit` per (model, configuration, seed, fold) this device computes. A unit
carries everything a worker needs and nothing it must look up in the parent: the effective
:class:`~mer_utils.config.Config`, the :class:`~mer_utils.runs.Run` (where records live, its
identity), the fully resolved :class:`~mer_utils.model_specs.ModelPlan` (weights source, input
size, dropout), the trained configuration, the seed, the fold and the device. Executors
(:mod:`mer_utils.executors`) receive units and the function that runs one, so they never
import the sweep back. Plain data: no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mer_utils.config import Config
from mer_utils.model_specs import ModelPlan
from mer_utils.runs import Run, RunInfo

UnitKey = tuple[str, str, int, int]  # (model, configuration, seed, fold)


@dataclass(frozen=True)
class Unit:
    """One fold of one model under one trained configuration and seed, fully resolved."""

    config: Config  # the effective config of the run (``smoke`` already applied)
    run: Run
    model: ModelPlan
    configuration: str  # a trained configuration (evaluation-only ones rescore its records)
    seed: int
    fold: int
    device: str  # torch device string: "cpu", "cuda", "cuda:1"

    @property
    def key(self) -> UnitKey:
        return (self.model.name, self.configuration, self.seed, self.fold)

    @property
    def record_path(self) -> Path:
        """Where this unit's fold record lives (:meth:`mer_utils.runs.Run.record_path`)."""
        return self.run.record_path(*self.key)

    @property
    def label(self) -> str:
        """``model/configuration seed<k> fold<i>``, how messages name a unit."""
        return f"{self.model.name}/{self.configuration} seed{self.seed} fold{self.fold}"


@dataclass(frozen=True)
class SweepPlan:
    """What one sweep call does: the run (as ``run.json`` now says), its units on this device,
    and the requested (model, configuration) cells this device skips (``cpu_grid``)."""

    config: Config
    run: Run
    info: RunInfo
    units: tuple[Unit, ...]
    skipped: tuple[tuple[str, str], ...]
