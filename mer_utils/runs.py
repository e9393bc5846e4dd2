"""Run identity: which fold records belong together, and where they live.

A **run** is the set of parameters its folds share: every result-shaping field of the config
(protocol, folds, validation, epochs, patience, batch size, lr, pretrained, weights, DI variant,
face method (resolved) and crop, apex policy, synthetic size, smoke) plus the dataset's content fingerprint, its
classes and the device type. Models, configurations, seeds and ``max_folds`` are not part of it:
they choose *which* units of the run to compute, so adding a seed or a configuration extends the
run in place. The run id is 8 hex digits of a hash of those parameters; its records live in
``results/<dataset>/<protocol>-<validation>-<id>/``::

    run.json                                   parameters, dataset, requests, provenance
    runs/<model>/<configuration>/seed<k>-fold<i>.json   one record per fold (schema below)
    table1.{csv,md,tex}, paired_tests.csv ...   notebook 04's outputs for this run

Two runs with different parameters never share a folder; a rerun with the same parameters
resumes in place. List the runs of a dataset with ``python -m mer_utils.results --list``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mer_utils.claims import exclusive, write_atomic
from mer_utils.config import TEST_APEX, Config, run_fields
from mer_utils.configurations import REGISTRY, table_rows
from mer_utils.paths import output_root
from mer_utils.records import FoldRecord, RecordError, UnreadableRecord

log = logging.getLogger(__name__)


def device_type(device: str) -> str:
    """``cpu`` or ``cuda`` for a config's ``device`` (``auto`` asks torch)."""
    if device == "auto":
        import torch  # only here: listing and tables never need it

        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if device.startswith("cuda") else "cpu"


@dataclass(frozen=True)
class Run:
    """One run: where its records live and the parameters that define it."""

    dataset_dir: str  # results/<dataset_dir>/ (``synthetic_casme2``, ``casme2-smoke``, ...)
    run_id: str
    identity: dict[str, Any]
    models: tuple[str, ...] = ()  # asked by the config that made it (its name only, not its id)

    @property
    def folder_name(self) -> str:
        return f"{self.identity['protocol']}-{self.identity['validation']}-{self.run_id}"

    @property
    def folder(self) -> Path:
        return output_root() / "results" / self.dataset_dir / self.folder_name

    @property
    def name(self) -> str:
        return run_name(self.identity, self.models)

    def record_path(self, model: str, configuration: str, seed: int, fold: int) -> Path:
        return self.folder / "runs" / model / configuration / f"seed{seed}-fold{fold}.json"


def identity(cfg: Config, fingerprint: str, classes: tuple[str, ...], dev: str) -> dict:
    """The parameters every fold of the run shares (JSON-ready, keys sorted)."""
    ident = {k: getattr(cfg, k) for k in run_fields() if k not in FACE_FIELDS}
    ident.update(
        synthetic_size=list(cfg.synthetic_size),
        weights=dict(sorted(cfg.weights.items())),
        dropout=dict(sorted(cfg.dropout.items())),
        input_size=dict(sorted(cfg.input_size.items())),
        dataset_fingerprint=fingerprint,
        classes=list(classes),
        device_type=dev,
    )
    if not cfg.is_synthetic:  # the size knobs do not apply to a real copy
        ident.pop("synthetic_scale"), ident.pop("synthetic_size")
    ident.update(_face_identity(cfg))
    if cfg.flow_algorithm == "farneback":  # the default: runs made before the field keep their id
        ident.pop("flow_algorithm")
    if not cfg.task:  # the dataset's own classes: runs made before the field keep their id
        ident.pop("task")
    return dict(sorted(ident.items()))


FACE_FIELDS = ("face", "face_size", "face_margin", "face_on_miss")


def _face_identity(cfg: Config) -> dict[str, Any]:
    """The face part of a run's identity: the *resolved* method (``auto`` -> the frame layout's)
    with its crop fields; for ``none`` exactly ``face_crop: false``, the key runs had before
    ``face`` replaced it, so their ids and records stay valid (the DIs are the same: uncropped
    frames). Replaces the raw face fields in the identity."""
    method = cfg.face_method
    if method == "none":
        return dict(face_crop=False)
    return dict(
        face=method, face_size=cfg.face_size, face_margin=cfg.face_margin,
        face_on_miss=cfg.face_on_miss,
    )  # fmt: skip


def run_name(ident: dict, models: tuple[str, ...] = ()) -> str:
    """A human name: protocol, validation, epochs, lr, weights, device. Given the ``models``
    asked, the weights part says how *they* start (LEARNet trains from scratch even with
    ``pretrained: true``): "from scratch", "pretrained" or "pretrained except LEARNet"."""
    weights = "pretrained" if ident["pretrained"] else "from scratch"
    if models:
        weights = _weights_text(ident, models)
    smoke = " · smoke" if ident.get("smoke") else ""
    return (
        f"{ident['protocol']} · {ident['validation']} validation · max epochs {ident['epochs']} · "
        f"lr {ident['lr']:g} · {weights} · {ident['device_type']}{smoke}"
    )


def _weights_text(ident: dict, models: tuple[str, ...]) -> str:
    """How ``models`` start under this identity: "from scratch" (none fine-tunes),
    "pretrained" (all do) or "pretrained except <the models trained from scratch>"."""
    from mer_utils.model_specs import DISPLAY, plan_model

    weights = ident.get("weights") or {}
    scratch = [
        m for m in models if not plan_model(m, ident["pretrained"], weights.get(m)).pretrained
    ]
    if len(scratch) == len(models):
        return "from scratch"
    return "pretrained" + (f" except {', '.join(DISPLAY[m] for m in scratch)}" if scratch else "")


def make_run(cfg: Config, fingerprint: str, classes: tuple[str, ...], dev: str) -> Run:
    """The run of ``cfg`` (an *effective* config) on a dataset with this fingerprint."""
    ident = identity(cfg, fingerprint, classes, dev)
    rid = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]
    return Run(cfg.run_name, rid, ident, tuple(cfg.models))


@dataclass(frozen=True)
class Request:
    """One distinct request made of a run on its device: the units it computes, the Table I
    rows it asked to see and the cells it asked for that this device does not run.

    ``run.json`` files written before ``asked``, ``skipped`` and ``test_apex`` existed still
    load: ``asked`` None stands for the trained configurations plus every evaluation-only one
    that rescores them (they train nothing), ``skipped`` for none, ``test_apex`` for Config's
    default."""

    models: tuple[str, ...]  # run on this device
    configurations: tuple[str, ...]  # trained configurations (evaluation-only ones need none)
    seeds: tuple[int, ...]
    folds_run: int
    n_splits: int
    asked: tuple[str, ...] | None = None  # configurations as asked, evaluation-only included
    skipped: tuple[tuple[str, str], ...] = ()  # (model, configuration) asked, not run here
    test_apex: tuple[str, ...] = TEST_APEX  # where phase-aware rows cut the test clips

    def units(self) -> set[tuple[str, str, int, int]]:
        """Every (model, configuration, seed, fold) this request asked for."""
        return {
            (m, c, s, f)
            for m in self.models
            for c in self.configurations
            for s in self.seeds
            for f in range(self.folds_run)
        }

    def asked_configurations(self) -> tuple[str, ...]:
        """The configurations asked, in the order asked (see the class docstring for old
        files)."""
        if self.asked is not None:
            return self.asked
        rescoring = (n for n, s in REGISTRY.items() if s.trained_as in self.configurations)
        return (*self.configurations, *rescoring)

    def asked_models(self) -> tuple[str, ...]:
        """The models asked: those run on this device, then those only skipped here."""
        return tuple(dict.fromkeys((*self.models, *(m for m, _ in self.skipped))))

    def rows(self) -> tuple[str, ...]:
        """The Table I rows asked (phase-aware ones once per ``test_apex`` source)."""
        return table_rows(self.asked_configurations(), self.test_apex)

    def cell(self, model: str, row: str) -> str | set[tuple[int, int]]:
        """Table I cell (``model``, ``row``) as this request sees it: the (seed, fold) units it
        asked of this device, "not run on this device" or "not requested"."""
        if model not in self.asked_models() or row not in self.rows():
            return "not requested"
        if (model, row.partition("@")[0]) in self.skipped:
            return "not run on this device"
        return {(s, f) for s in self.seeds for f in range(self.folds_run)}

    @classmethod
    def from_dict(cls, r: dict[str, Any]) -> Request:
        """A request as ``run.json`` stores it (lists), old files included."""
        lists = {
            k: tuple(r[k]) for k in ("models", "configurations", "seeds", "test_apex") if k in r
        }
        if r.get("asked") is not None:
            lists["asked"] = tuple(r["asked"])
        return cls(**{**r, **lists, "skipped": tuple(tuple(c) for c in r.get("skipped", ()))})


@dataclass(frozen=True)
class DatasetInfo:
    """What a run's sweep loaded: the copy's name, root, sheet, clip count and classes."""

    name: str
    root: str
    spreadsheet: str
    clips: int
    classes: tuple[str, ...]
    counts: dict[str, int]
    fingerprint: str
    sources: tuple[str, ...] = ()  # a composite: each clip's source dataset, by clip index


@dataclass(frozen=True)
class RunInfo:
    """A run's ``run.json``, typed: identity, dataset, requests and provenance."""

    run_id: str
    name: str
    folder: str  # the run's folder name, e.g. kfold-paper-1a2b3c4d
    identity: dict[str, Any]  # :func:`identity`: run-identity Config fields + data + device
    created: str
    updated: str
    requests: tuple[Request, ...]
    dataset: DatasetInfo | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return self.identity["protocol"]

    @property
    def validation(self) -> str:
        return self.identity["validation"]

    @property
    def device_type(self) -> str:
        return self.identity["device_type"]

    @property
    def fingerprint(self) -> str:
        return self.identity["dataset_fingerprint"]

    @property
    def dataset_name(self) -> str:
        """The run's Config ``dataset`` (``synthetic_casme2``, ``casme2``, ...)."""
        return self.identity["dataset"]

    @property
    def classes(self) -> tuple[str, ...]:
        """The run's class names, in label order."""
        return tuple(self.identity["classes"])

    @property
    def n_splits(self) -> int:
        """Splits of the run's protocol (folds per seed)."""
        return self.requests[0].n_splits

    def rows(self) -> tuple[str, ...]:
        """The Table I rows some request asked for, in the order first asked."""
        return tuple(dict.fromkeys(r for q in self.requests for r in q.rows()))

    def expected_units(self) -> set[tuple[str, str, int, int]]:
        """Every (model, configuration, seed, fold) some request asked this device for."""
        return set().union(*(r.units() for r in self.requests))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> RunInfo:
        """Parse ``run.json`` (ValueError/KeyError/TypeError if it is not one)."""
        obj = json.loads(text)
        reqs = tuple(Request.from_dict(r) for r in obj.pop("requests"))
        data = obj.pop("dataset", None)
        if data is not None:
            data = DatasetInfo(**{**data, "classes": tuple(data["classes"]),
                                  "sources": tuple(data.get("sources", ()))})  # fmt: skip
        return cls(**obj, requests=reqs, dataset=data)


def update_run_json(
    run: Run, request: Request, dataset: DatasetInfo, provenance: dict[str, Any]
) -> RunInfo:
    """Create or extend ``run.json``: identity, dataset, provenance and the list of distinct
    requests (models, configurations, seeds, folds) made of this run. Returns it."""
    path = run.folder / "run.json"
    with exclusive(
        run.folder / ".run.json.claim", "run.json"
    ):  # concurrent sweeps: no lost request
        # microseconds: "latest run" must be well defined for sweeps started within one second
        now = datetime.now().isoformat(timespec="microseconds")
        old = read_run_json(run.folder)
        requests = old.requests if old else ()
        requests = requests + (() if request in requests else (request,))
        asked = tuple(dict.fromkeys(m for q in requests for m in q.asked_models()))
        info = RunInfo(
            run_id=run.run_id,
            name=run_name(run.identity, asked or run.models),
            folder=run.folder_name,
            identity=run.identity,
            created=old.created if old else now,
            updated=now,
            requests=requests,
            dataset=dataset,
            provenance=provenance,
        )
        write_atomic(path, lambda tmp: tmp.write_text(info.to_json()))
        return info


def read_run_json(folder: Path) -> RunInfo | None:
    """A run folder's ``run.json``, or None when absent or unreadable (named in the log)."""
    path = folder / "run.json"
    if not path.is_file():
        return None
    try:
        return RunInfo.from_json(path.read_text())
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        log.warning(
            "%s: unreadable run.json (%s), ignored (rerun the sweep to rewrite it)", path, e
        )
        return None


def read_record(path: Path, params: dict | None = None) -> FoldRecord | None:
    """A fold record fit for reuse, or None. Unparsable files are moved aside (named in the
    log) so the fold is redone; a record of another schema, other parameters (when given) or
    without predictions for its whole test fold is never reused (:func:`record_problem` says
    why)."""
    return _load(path, params)[0]


def record_problem(path: Path, params: dict | None = None) -> str | None:
    """Why the record at ``path`` is not reused (schema, parameters, completeness), or None
    when it is reused or there is none."""
    return _load(path, params)[1]


def _load(path: Path, params: dict | None) -> tuple[FoldRecord | None, str | None]:
    if not path.is_file():
        return None, None
    try:
        rec = FoldRecord.from_json(path.read_bytes())
    except UnreadableRecord as e:
        aside = path.with_name(f"{path.name}.invalid-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(path, aside)
        log.warning("%s: invalid record (%s), moved to %s; the fold is redone", path, e, aside.name)
        return None, f"invalid record ({e}), moved to {aside.name}"
    except RecordError as e:
        return None, f"not reusable ({e})"
    if params is not None and rec.params != params:
        return None, f"made with other parameters ({_differences(rec.params, params)})"
    if not rec.complete():
        n = len(rec.split.get("test", ()))
        return None, f"incomplete ({len(rec.y_pred)} predictions for {n} test clips)"
    return rec, None


def _differences(old: dict, new: dict, most: int = 3) -> str:
    """``key: <in the record> -> <now>`` for the first ``most`` keys that differ."""
    keys = [k for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]
    shown = [f"{k}: {str(old.get(k))[:40]} -> {str(new.get(k))[:40]}" for k in keys[:most]]
    return ", ".join(shown) + (f" and {len(keys) - most} more" if len(keys) > most else "")


def run_folders(dataset_dir: str) -> list[Path]:
    """Folders of the runs of a dataset (those with a ``run.json``), oldest first."""
    base = output_root() / "results" / dataset_dir
    found = [p.parent for p in base.glob("*/run.json")]
    return sorted(found, key=lambda p: getattr(read_run_json(p), "updated", ""))


def find_run(dataset_dir: str, key: str) -> Path:
    """The run folder whose id or folder name is ``key`` (a unique prefix is enough)."""
    hits = [
        p
        for p in run_folders(dataset_dir)
        if p.name == key or p.name.split("-")[-1].startswith(key)
    ]
    if len(hits) != 1:
        known = ", ".join(p.name for p in run_folders(dataset_dir)) or "none"
        what = "no run" if not hits else "several runs"
        raise FileNotFoundError(f"{what} '{key}' under results/{dataset_dir}/ (runs: {known})")
    return hits[0]
