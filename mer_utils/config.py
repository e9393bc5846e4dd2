"""One frozen dataclass whose fields are exactly the papermill parameters.

Load from ``configs/<name>.yaml`` (:func:`load_config`), from a notebook's parameter cell
(:func:`from_namespace`), or build directly. Every door gives the same result: values given as
text (``papermill -p models learnet``, ``--set lr=1e-4``, ``-p synthetic_size "[40, 32]"``) are
parsed as YAML and coerced to the field's type; a single name is a one-element list. Every
field is validated at construction and all problems are reported together.
``smoke=True`` shrinks everything for tests.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml

from mer_utils.configurations import APEX_SOURCES, CONFIGURATIONS
from mer_utils.configurations import REGISTRY as CONFIG_REGISTRY
from mer_utils.dataset_specs import (
    SPECS,
    ApexPolicy,
    OnMismatch,
    composite_of,
    dataset_names,
    is_synthetic,
    spec_of,
)
from mer_utils.dynamic_image import DiOrder, Variant
from mer_utils.model_specs import REGISTRY, ModelPlan, plan_model
from mer_utils.paths import cache_dir, configs_dir
from mer_utils.plugins import PluginError, load_plugins, resolve
from mer_utils.representations import FLOW_ALGORITHMS

PROTOCOLS = ("kfold", "subject_kfold", "loso", "lodo")
CHOICES: dict[str, tuple[str, ...]] = {
    "protocol": PROTOCOLS,
    "validation": ("oracle", "paper", "inner"),
    "variant": get_args(Variant),
    "di_order": get_args(DiOrder),
    "apex_policy": get_args(ApexPolicy),
    "on_mismatch": get_args(OnMismatch),
    "executor": ("local", "processes", "slurm"),
    "face_on_miss": ("full_frame", "previous_box"),  # faces.MISS_POLICIES less drop (see below)
    "flow_algorithm": FLOW_ALGORITHMS,
}
# ``face``: ``auto``, ``none`` or a method of :data:`mer_utils.faces.METHODS` (plugins may add).
# ``face_on_miss: drop`` is not offered: folds are split over the loaded clips before the DI
# store aligns faces, so a clip dropped there would leave its fold.
FACE_CHOICES = ("auto", "none", "haar", "facemesh", "mtcnn")
REPLACED = {
    "face_crop": "face_crop was replaced by face: use face: none (face_crop: false), face: haar "
    "(a Haar box, as face_crop: true) or face: facemesh (landmarks and one alignment per clip)"
}


TEST_APEX = ("spotted", "annotated")  # default: label-free first, the annotation as reference


def param(
    default: Any = dataclasses.MISSING,
    *,
    run: bool,
    help: str,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A :class:`Config` field: its default (or ``factory``), one line of ``help`` (shown in the
    notebooks' parameters cell, ``papermill --help-notebook`` and ``--help``; no ``=``) and
    ``run``: whether it is part of the run's identity (changing it starts a new run; otherwise
    it only chooses which units of the run to compute, how, or what the tables show)."""
    meta = {"run": run, "help": help}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def run_fields() -> tuple[str, ...]:
    """The Config fields that make up a run's identity (marked ``run=True``)."""
    return tuple(f.name for f in dataclasses.fields(Config) if f.metadata["run"])


def field_help() -> dict[str, str]:
    """Field name -> its one line of help."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(Config)}


def parameters_help() -> str:
    """Every parameter with its default and help, run-identity ones marked, for ``--help``."""
    lines = ["parameters (--set KEY=VALUE; * = part of the run's identity):"]
    for f in dataclasses.fields(Config):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        mark = "*" if f.metadata["run"] else " "
        lines.append(f" {mark} {f.name}: {f.metadata['help']} (default {default!r})")
    return "\n".join(lines)


GROUP_KINDS = ("models", "configurations")


def groups(kind: str) -> dict[str, tuple[str, ...]]:
    """Named groups a config may use in ``models`` / ``configurations`` (and ``cpu_grid``):
    ``paper`` (the paper's six backbones / four configurations), ``additions`` (our DI
    configurations), ``phase_aware`` (evaluation-only rescorings), ``flow`` (the four on optical
    flow), ``all``; join with ``+``
    (``paper+additions``). Read from the registries when asked, so plugins count."""
    if kind == "models":
        return {"paper": tuple(m for m, s in REGISTRY.items() if s.paper), "all": tuple(REGISTRY)}
    specs = CONFIG_REGISTRY.items()
    return {
        "paper": tuple(c for c, s in specs if s.paper),
        "additions": tuple(c for c, s in specs if not s.paper and s.representation == "di"),
        "phase_aware": tuple(c for c, s in specs if s.trained_as),
        "flow": tuple(c for c, s in specs if s.representation == "flow"),
        "all": tuple(CONFIG_REGISTRY),
    }


def expand_groups(kind: str, names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``names`` with every group (``paper``, ``paper+additions``, ...) replaced by its
    members, in order; other names kept as they are (validated later)."""
    named = groups(kind)
    out: list[str] = []
    for name in names:
        parts = name.split("+") if all(p in named for p in name.split("+")) else [name]
        for part in parts:
            out += named.get(part, (part,))
    return tuple(out)


class ConfigError(ValueError):
    """Bad parameters; one line per problem, each naming the parameter and what is accepted."""


@dataclass(frozen=True)
class Config:
    """Every parameter of a run. Field names = papermill parameter names."""

    smoke: bool = param(
        False,
        run=True,
        help="true: a quick look in minutes (tiny data, 2 folds, 2 epochs; numbers mean nothing)",
    )
    base: str = param(
        "", run=False, help="a configs/ file this config extends (its values, then these)"
    )
    dataset: str = param(
        "synthetic_casme2", run=True, help="a spec in mer_utils.dataset_specs, or synthetic_<spec>"
    )
    data_root: str = param(
        "",
        run=False,
        help="real data: the dataset root; synthetic: empty means cache/datasets/<name>",
    )
    spreadsheet: str = param(
        "", run=False, help="annotation .xlsx; empty: found in data_root by its official name"
    )
    data_roots: dict[str, str] = param(
        factory=dict,
        run=False,
        help="a composite's sources in separate roots: {smic: PATH, casme2: PATH, samm: PATH}",
    )
    megc_ground_truth: str = param(
        "",
        run=False,
        help="megc2019: the official combined_3class_gt.csv; selects the clips exactly",
    )
    frames: str = param(
        "cropped", run=True, help="frame layout of the spec (CASME-II: cropped | raw); SAMM has one"
    )
    task: str = param(
        "",
        run=True,
        help="a class task of the dataset ('' its own; MMEW: 3class; CAS(ME)^3: 4class, 3class)",
    )
    on_mismatch: str = param(
        "cut", run=True, help="folders that disagree with the sheet: cut | drop | raise"
    )
    protocol: str = param(
        "kfold",
        run=True,
        help="kfold (paper) | subject_kfold | loso | lodo (composites: leave one dataset out)",
    )
    folds: int = param(
        5, run=True, help="k of k-fold (at least 2; loso: one fold per subject, lodo: per source)"
    )
    max_folds: int = param(
        0, run=False, help=">0: run only the first k folds (a stated fraction of the grid)"
    )
    models: tuple[str, ...] = param(
        ("learnet",), run=False, help="registry names (see mer_utils.model_specs)"
    )
    configurations: tuple[str, ...] = param(
        CONFIGURATIONS, run=False, help="names in mer_utils.configurations"
    )
    # Not part of the run's identity: plugins are code, which the identity never covers (the
    # repo's own code is provenance: its git sha); the names they add are part of each record's
    # unit, so a plugin backbone extends a run in place beside the paper's.
    plugins: tuple[str, ...] = param(
        (),
        run=False,
        help="modules or .py files with your register_* calls, imported first in every process",
    )
    seeds: tuple[int, ...] = param(
        (0,), run=False, help="one seed drives splits, init, data order, augmentation"
    )
    epochs: int = param(50, run=True, help="maximum epochs (early stopping may end sooner)")
    patience: int = param(10, run=True, help="early-stopping patience in epochs")
    batch_size: int = param(25, run=True, help="as in the paper")
    eval_batch_size: int = param(200, run=False, help="evaluation batch (no effect on results)")
    lr: float = param(1e-4, run=True, help="Adam learning rate (cosine annealing over `epochs`)")
    validation: str = param(
        "paper",
        run=True,
        help="oracle: the epoch best on the test fold (leaky) | paper: early stopping on the "
        "test fold | inner: on a subject-grouped inner split (leak-free)",
    )
    device: str = param(
        "auto",
        run=False,
        help="auto | cpu | cuda | cuda:N (its type, cpu or cuda, is part of the run)",
    )
    pretrained: bool = param(
        True, run=True, help="fine-tune from pretrained weights (all but LEARNet, as the paper)"
    )
    weights: dict[str, str] = param(factory=dict, run=True, help="model -> local weights file")
    dropout: dict[str, float] = param(
        factory=dict, run=True, help="model -> classifier dropout override"
    )
    input_size: dict[str, int] = param(
        factory=dict, run=True, help="model -> input side in px override"
    )
    variant: str = param("paper", run=True, help="ARP weights: paper | bilen")
    di_order: str = param(
        "native", run=True, help="native: DI at frame size, then resized (paper) | resize_first"
    )
    flow_algorithm: str = param(
        "farneback",
        run=True,
        help="optical flow of the flow_* configurations: farneback | dis | tvl1 (opencv-contrib)",
    )
    face: str = param(
        "auto",
        run=True,
        help="auto (the frame layout's: none if pre-cropped, else facemesh) | none | haar | facemesh | mtcnn",
    )
    face_size: int = param(
        224, run=True, help="side of the aligned face crop the DIs are made on, px"
    )
    face_margin: float = param(
        0.15, run=True, help="space around the canonical face box, per side, as a fraction of it"
    )
    face_on_miss: str = param(
        "full_frame",
        run=True,
        help="a clip whose face is not aligned: full_frame | previous_box (its previous clip's crop)",
    )
    apex_policy: str = param("estimate", run=True, help="estimate | drop")
    test_apex: tuple[str, ...] = param(
        TEST_APEX, run=False, help="phase-aware test cut: spotted, annotated, midpoint"
    )
    synthetic_scale: float = param(
        1.0, run=True, help="fraction of the real clip count (synthetic data only)"
    )
    synthetic_size: tuple[int, ...] = param(
        (), run=True, help="[H, W] of synthetic frames; empty: the real size"
    )
    cpu_grid: dict[str, list[str]] = param(
        factory=dict, run=False, help="without CUDA run only these"
    )
    executor: str = param(
        "local", run=False, help="local | processes (workers on this machine) | slurm (submitit)"
    )
    workers: int = param(1, run=False, help="processes: worker processes (folds in flight at once)")
    threads: int = param(
        0, run=False, help="torch threads per fold; 0: cores / workers. Equal threads, equal bits"
    )
    slurm: dict[str, Any] = param(factory=dict, run=False, help="partition, gpus_per_node, ...")
    compare_runs: tuple[str, ...] = param(
        (), run=False, help="notebook 04: run ids to compare; empty: latest each"
    )
    run: str = param(
        "",
        run=False,
        help="notebook 04: the run id or folder to tabulate; empty: the latest run of these parameters",
    )

    def __post_init__(self) -> None:
        problems, failed = [], set()
        for f in dataclasses.fields(self):
            try:
                object.__setattr__(self, f.name, _coerce(f.name, f.type, getattr(self, f.name)))
            except ConfigError as e:  # validate the rest against the default, report all
                problems.append(str(e))
                failed.add(f.name)
                default = (
                    f.default_factory()
                    if f.default_factory is not dataclasses.MISSING
                    else f.default
                )
                object.__setattr__(self, f.name, default)
        if "plugins" not in failed:  # before the rest: their names are valid names
            object.__setattr__(self, "plugins", resolve(self.plugins))
            try:
                load_plugins(self.plugins)
            except PluginError as e:
                raise ConfigError("; ".join([*problems, f"plugins: {e}"])) from e
        object.__setattr__(self, "models", expand_groups("models", self.models))
        object.__setattr__(
            self, "configurations", expand_groups("configurations", self.configurations)
        )
        grid = {k: list(expand_groups(k, v)) if k in GROUP_KINDS and isinstance(v, list) else v
                for k, v in self.cpu_grid.items()}  # fmt: skip
        object.__setattr__(self, "cpu_grid", grid)
        problems += [p for p in _validate(self) if p.split("=")[0].split(":")[0] not in failed]
        if problems:
            raise ConfigError("; ".join(problems))

    def effective(self) -> Config:
        """The config actually run: ``smoke`` shrinks data, folds and epochs."""
        if not self.smoke:
            return self
        return dataclasses.replace(
            self,
            folds=2,
            max_folds=min(self.max_folds, 2),
            epochs=min(self.epochs, 2),
            patience=2,
            seeds=self.seeds[:1],
            synthetic_scale=min(self.synthetic_scale, 0.06),
            synthetic_size=(68, 56),
        )

    @property
    def run_name(self) -> str:
        """Dataset folder under results/ and figures/: smoke runs never mix with real ones."""
        return f"{self.dataset}-smoke" if self.smoke else self.dataset

    @property
    def is_synthetic(self) -> bool:
        """True for our generated copies (``synthetic_<layout>``)."""
        return is_synthetic(self.dataset)

    @property
    def layout(self) -> str:
        """The official layout read: ``casme2`` or ``samm`` (synthetic copies included)."""
        return spec_of(self.dataset).name

    @property
    def face_method(self) -> str:
        """The face method run: ``face``, or with ``auto`` the frame layout's default
        (:attr:`mer_utils.dataset_specs.FrameLayout.face`: ``none`` for pre-cropped frames)."""
        if self.face != "auto":
            return self.face
        spec = spec_of(self.dataset)  # a one-layout spec reads its one layout (as the loader)
        return spec.frame_layout(self.frames if len(spec.frames) > 1 else "").face

    def face_params(self):  # -> mer_utils.faces.FaceParams | None (imported only when needed)
        """How the DI store crops faces: None for ``none``, else :class:`~mer_utils.faces.FaceParams`."""
        if self.face_method == "none":
            return None
        from mer_utils.faces import FaceParams

        return FaceParams(
            self.face_method, self.face_size, self.face_margin, on_miss=self.face_on_miss
        )

    def grid_on(self, cuda: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(models, configurations) run on this device: all requested with CUDA, else the
        requested ones that ``cpu_grid`` keeps (``cpu_grid`` empty = keep everything)."""
        if cuda or not self.cpu_grid:
            return self.models, self.configurations
        keep_m = self.cpu_grid.get("models", self.models)
        keep_c = self.cpu_grid.get("configurations", self.configurations)
        return (
            tuple(m for m in self.models if m in keep_m),
            tuple(c for c in self.configurations if c in keep_c),
        )

    def folds_run(self, n_splits: int) -> int:
        """Folds of each seed this config computes: all ``n_splits``, or ``max_folds`` of them."""
        return min(self.max_folds, n_splits) if self.max_folds else n_splits

    def model_plan(self, model: str) -> ModelPlan:
        """How ``model`` starts in this config, resolved once: weights source (a ``weights``
        file, its offline package, timm's hub, or scratch: ``pretrained`` off, or LEARNet,
        trained from scratch as in the paper), input side and classifier dropout."""
        return plan_model(
            model,
            pretrained=self.pretrained,
            weights=self.weights.get(model),
            drop_rate=self.dropout.get(model),
            input_size=self.input_size.get(model),
        )

    def fine_tunes(self, model: str) -> bool:
        """True when ``model`` starts from pretrained weights in this config."""
        return self.model_plan(model).pretrained

    def dataset_root(self) -> Path:
        """Where the data is read from (the synthetic default lives under cache/)."""
        if self.data_root:
            return Path(self.data_root).expanduser()
        if not self.is_synthetic:
            raise ConfigError(
                f"dataset={self.dataset}: set data_root to your licensed copy's folder "
                f"(make reproduce DATASET={self.dataset} DATA_ROOT=/path)"
            )
        size = "x".join(map(str, self.synthetic_size)) or "real"
        return cache_dir("datasets") / f"{self.dataset}-s{self.synthetic_scale:g}-{size}"


# ---------------------------------------------------------------- coercion and validation

_KIND_OF_TYPE = {"tuple[str, ...]": "names", "tuple[int, ...]": "ints"}


def _kind(annotation: str) -> str:
    """How a field's value is read, from its annotation in :class:`Config` (so a new field
    needs no entry here): names, ints, mapping, bool, float, int or str."""
    kind = (
        "mapping" if annotation.startswith("dict[") else _KIND_OF_TYPE.get(annotation, annotation)
    )
    if kind not in _CONVERT:
        raise TypeError(f"Config field type {annotation!r} has no reader; use {sorted(_CONVERT)}")
    return kind


def _coerce(name: str, annotation: str, value: Any) -> Any:
    """``value`` (possibly text from papermill/--set) -> the field's type (``annotation``),
    or ConfigError."""
    kind = _kind(str(annotation))
    if isinstance(value, str) and kind != "str":
        try:
            value = yaml.safe_load(value) if value.strip() else ([] if kind != "bool" else value)
        except yaml.YAMLError:
            raise ConfigError(f"{name}={value!r}: not valid YAML") from None
    try:
        return _CONVERT[kind](value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r}: expected {_EXPECTED[kind]}") from None


def _to_int(v: Any) -> int:
    if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
        raise ValueError(v)
    return int(v)


def _to_bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(v)
    return v


def _to_seq(v: Any, item) -> tuple:
    if v is None:
        return ()
    if isinstance(v, str | int | float):
        v = [v]
    if isinstance(v, dict):
        raise TypeError(v)
    return tuple(item(x) for x in v)


def _to_name(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(v)
    return v.strip()


def _to_mapping(v: Any) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise TypeError(v)
    return {
        str(k): (list(_to_seq(x, _to_name)) if isinstance(x, list) else x) for k, x in v.items()
    }


_CONVERT = {
    "names": lambda v: _to_seq(v, _to_name),
    "ints": lambda v: _to_seq(v, _to_int),
    "mapping": _to_mapping,
    "bool": _to_bool,
    "float": float,
    "int": _to_int,
    "str": lambda v: "" if v is None else str(v),
}
_EXPECTED = {
    "names": "a name or a list of names, e.g. learnet or [learnet, resnet34]",
    "ints": "an integer or a list of integers, e.g. 0 or [0, 1, 2]",
    "mapping": "a mapping, e.g. {resnet34: /models/resnet34.safetensors}",
    "bool": "true or false",
    "float": "a number, e.g. 1e-4",
    "int": "an integer",
    "str": "text",
}


def _validate(c: Config) -> list[str]:
    """Every rule on the coerced fields; returns one line per problem."""
    frames = tuple(dict.fromkeys(name for s in SPECS.values() for name in s.frames))
    choices = {"dataset": dataset_names(), "frames": frames, **CHOICES}  # plugins' specs too
    bad = [
        f"{k}={getattr(c, k)!r}: use one of {v}"
        for k, v in choices.items()
        if getattr(c, k) not in v
    ]
    for name, allowed in (
        ("models", tuple(REGISTRY)),
        ("configurations", tuple(CONFIG_REGISTRY)),
        ("test_apex", APEX_SOURCES),
    ):
        vals = getattr(c, name)
        unknown = [v for v in vals if v not in allowed]
        if unknown or not vals or len(set(vals)) != len(vals):
            bad.append(f"{name}={list(vals)}: a non-empty list without repeats of {allowed}")
    if c.face not in FACE_CHOICES and c.face not in _face_methods():
        bad.append(f"face={c.face!r}: use one of {(*FACE_CHOICES, *_face_methods())}")
    if c.task and c.dataset in dataset_names():  # a composite's task is its own label map
        have = () if composite_of(c.dataset) else tuple(spec_of(c.dataset).tasks)
        if c.task not in have:
            bad.append(f"task={c.task!r}: {c.dataset} has the class tasks {['', *have]}")
    if c.protocol == "lodo" and composite_of(c.dataset) is None:
        bad.append(
            f"protocol='lodo' (leave one dataset out) needs a composite dataset, not "
            f"{c.dataset!r}: use dataset=megc2019 or synthetic_megc2019"
        )
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", c.device):
        bad.append(f"device={c.device!r}: use auto, cpu, cuda or cuda:N")
    return bad + _validate_ranges(c) + _validate_mappings(c) + _validate_cpu_grid(c.cpu_grid)


def _face_methods() -> tuple[str, ...]:
    """Face methods registered in :mod:`mer_utils.faces` (imported only for a name that is not
    built in: a plugin's)."""
    from mer_utils.faces import METHODS

    return tuple(m for m in METHODS if m not in FACE_CHOICES)


def _validate_ranges(c: Config) -> list[str]:
    """Numbers and sizes in their ranges."""
    checks = [
        ("folds", c.folds >= 2, ">= 2"),
        ("max_folds", 0 <= c.max_folds, ">= 0 (0 = all folds)"),
        ("epochs", c.epochs >= 1, ">= 1"),
        ("patience", c.patience >= 1, ">= 1"),
        ("batch_size", c.batch_size >= 1, ">= 1"),
        ("eval_batch_size", c.eval_batch_size >= 1, ">= 1"),
        ("workers", c.workers >= 1, ">= 1"),
        ("threads", c.threads >= 0, ">= 0 (0 = cores / workers)"),
        ("lr", c.lr > 0, "> 0"),
        ("seeds", len(set(c.seeds)) == len(c.seeds) >= 1, "at least one seed, none repeated"),
        ("synthetic_scale", 0 < c.synthetic_scale <= 1, "in (0, 1]"),
        ("face_size", c.face_size >= 16, ">= 16"),
        ("face_margin", 0 <= c.face_margin <= 1, "in [0, 1]"),
        (
            "synthetic_size",
            len(c.synthetic_size) in (0, 2) and min(c.synthetic_size, default=1) > 0,
            "[] or [H, W]",
        ),
    ]
    return [f"{k}={getattr(c, k)!r}: must be {rule}" for k, ok, rule in checks if not ok]


SLURM_KEYS = ("cluster", "partition", "gpus_per_node", "cpus_per_task", "mem_gb", "timeout_min",
              "array_parallelism", "units_per_job")  # fmt: skip


def _validate_mappings(c: Config) -> list[str]:
    """The per-model mappings (weights, dropout, input_size) and the slurm keys."""
    bad = []
    if set(c.weights) - set(REGISTRY):
        bad.append(
            f"weights: unknown models {sorted(set(c.weights) - set(REGISTRY))}; use {tuple(REGISTRY)}"
        )
    if set(c.dropout) - set(REGISTRY) or not all(
        isinstance(v, int | float) and 0 <= v < 1 for v in c.dropout.values()
    ):
        bad.append(f"dropout={c.dropout!r}: a mapping of model names to rates in [0, 1)")
    fixed = [m for m, spec in REGISTRY.items() if spec.fixed_size]
    if set(c.input_size) - (set(REGISTRY) - set(fixed)) or not all(
        isinstance(v, int) and 32 <= v <= 1024 and v % 16 == 0 for v in c.input_size.values()
    ):
        bad.append(
            f"input_size={c.input_size!r}: a mapping of model names (not {', '.join(fixed)}) to "
            "sides in px, multiples of 16 in [32, 1024]"
        )
    if set(c.slurm) - set(SLURM_KEYS):
        bad.append(
            f"slurm: unknown keys {sorted(set(c.slurm) - set(SLURM_KEYS))}; use {SLURM_KEYS}"
        )
    return bad


def _validate_cpu_grid(grid: dict) -> list[str]:
    allowed = {"models": tuple(REGISTRY), "configurations": tuple(CONFIG_REGISTRY)}
    bad = [
        f"cpu_grid: unknown key {k!r}; use models and/or configurations"
        for k in set(grid) - set(allowed)
    ]
    for k, vals in grid.items():
        if k in allowed and (not isinstance(vals, list) or set(vals) - set(allowed[k])):
            bad.append(f"cpu_grid.{k}={vals!r}: a list of {allowed[k]}")
    return bad


def from_params(params: dict[str, Any]) -> Config:
    """A Config from a dict (a notebook's parameters or a YAML file); a ``base`` names the
    configs/ file whose values these extend (see :func:`read_params`)."""
    names = {f.name for f in dataclasses.fields(Config)}
    _refuse_replaced(params)
    unknown = set(params) - names
    if unknown:
        raise ConfigError(f"unknown parameters {sorted(unknown)}; valid: {sorted(names)}")
    if params.get("base"):
        params = {**read_params(params["base"]), **params}
    return Config(**params)


def from_namespace(namespace: dict[str, Any]) -> Config:
    """A Config from the Config-named variables of a namespace (a notebook's ``globals()``:
    its parameters cell plus whatever papermill injected). With a ``base`` (``papermill -f
    configs/<file with base:>``), the base's values apply wherever the namespace still holds
    the built-in default: a file extending a base cannot reset a field to the built-in default
    in a notebook run (the shipped configs never need to; a test keeps it so)."""
    names = {f.name for f in dataclasses.fields(Config)}
    _refuse_replaced(namespace)  # papermill -f an old config injects it beside the cell
    given = {k: v for k, v in namespace.items() if k in names}
    if not given.get("base"):
        return from_params(given)
    default = Config()
    changed = {
        k: v
        for k, v in given.items()
        if _coerce(k, _field(k).type, v) != getattr(default, k) or k == "base"
    }
    return from_params(changed)


def _refuse_replaced(params: dict[str, Any]) -> None:
    """ConfigError, one line per parameter an old config still names (:data:`REPLACED`)."""
    old = [REPLACED[k] for k in params if k in REPLACED]
    if old:
        raise ConfigError("; ".join(old))


def _field(name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(Config) if f.name == name)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` (``--set``) -> {key: value text}; Config parses the values."""
    out = {}
    for s in pairs:
        if "=" not in s:
            raise ConfigError(f"--set {s!r}: use KEY=VALUE, e.g. --set models=[learnet]")
        k, v = s.split("=", 1)
        out[k.strip()] = v
    return out


def config_path(name_or_path: str | Path) -> Path:
    """``configs/<name>.yaml`` for a name (``synthetic_casme2``, ``base/paper``), else the path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = configs_dir() / f"{p}.yaml"
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such config; see configs/ for the provided ones")
    return p


def read_params(name_or_path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The parameters of a config file, its ``base:`` chain resolved (each file says only what
    differs from its base; the base's values first, then the file's)."""
    p = config_path(name_or_path)
    if p in _seen:
        raise ConfigError(f"{p}: base: chain loops ({' -> '.join(map(str, (*_seen, p)))})")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config is a mapping of parameters, e.g. epochs: 50")
    if data.get("base"):
        data = {**read_params(data["base"], (*_seen, p)), **data}
    return data


def load_config(name_or_path: str | Path, **overrides: Any) -> Config:
    """``configs/<name>.yaml`` (or a path) with its ``base:`` chain, then keyword overrides."""
    return from_params({**read_params(name_or_path), **overrides})
