"""The fold record: what one trained (model, configuration, seed, fold) unit leaves on disk.

One typed dataclass, written by the sweep and read by the results code, the notebooks and the
tests; :data:`RECORD_SCHEMA` is its layout version. A record of another version is never
reused or averaged in (the fold is redone). Imports nothing heavy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

RECORD_SCHEMA = 4  # 4: logits of phase DIs cut at every apex (spotted, midpoint, shifted)


class RecordError(ValueError):
    """A file that is not a fold record of this schema; the message says what is off."""


class UnreadableRecord(RecordError):
    """Not a JSON object at all (a damaged file), as opposed to a record of another layout."""


@dataclass(frozen=True)
class FoldRecord:
    """One fold's result. Lists are per test clip, in ``split['test']`` order."""

    schema: int
    run_id: str
    params: dict[str, Any]  # everything that determines the result (see sweep.run_params)
    split: dict[str, Any]  # fold, train and test clip indices
    y_true: list[int]
    y_pred: list[int]
    scores: dict[
        str, list[list[float] | None]
    ]  # DI kind -> logits [n_test][classes] or None (configurations.DI_KINDS)
    rel_apex: list[float]  # (apex - onset) / (offset - onset) of each test clip
    history: list[dict[str, float]]  # one dict per epoch (losses, validation metrics)
    best_epoch: int
    wall_s: float
    n_train_clips: int
    provenance: dict[str, Any]  # git sha, versions, device, host
    finished: str  # ISO time
    config: dict[str, Any]  # the effective Config, as a dict
    peak_device_mem_mb: float | None = None  # CUDA only

    @property
    def model(self) -> str:
        return self.params["model"]

    @property
    def configuration(self) -> str:
        return self.params["configuration"]

    @property
    def seed(self) -> int:
        return self.params["seed"]

    @property
    def fold(self) -> int:
        return self.params["fold"]

    def complete(self) -> bool:
        """True when it holds a prediction and a label for every clip of its test fold."""
        n = len(self.split.get("test", ()))
        return n > 0 and len(self.y_pred) == len(self.y_true) == n

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> FoldRecord:
        """Parse a record: UnreadableRecord if it is not a JSON object, RecordError if it is
        not of :data:`RECORD_SCHEMA` or lacks (or adds) a field."""
        try:
            obj = json.loads(text)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
            raise UnreadableRecord(f"not JSON ({e})") from None
        if not isinstance(obj, dict):
            raise UnreadableRecord("not a JSON object")
        if obj.get("schema") != RECORD_SCHEMA:
            raise RecordError(f"schema {obj.get('schema')!r}, expected {RECORD_SCHEMA}")
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.name != "peak_device_mem_mb"}
        if missing := sorted(required - obj.keys()):
            raise RecordError(f"fields {missing} missing")
        if extra := sorted(obj.keys() - names):
            raise RecordError(f"unknown fields {extra}")
        return cls(**obj)
