"""One frozen dataclass whose fields are exactly the papermill parameters.

Load from ``configs/<name>.yaml`` (:func:`load_config`), from a notebook's parameter cell
(:func:`from_params`), or build directly. ``smoke=True`` shrinks everything for tests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mer_utils.paths import cache_dir, configs_dir

CONFIGURATIONS = ("baseline", "flip_rotate", "dual_di", "dual_di_flip_rotate")
CONFIG_DISPLAY = {
    "baseline": "Baseline",
    "flip_rotate": "Baseline + Flip/Rotate",
    "dual_di": "Baseline + Dual-DI Aug",
    "dual_di_flip_rotate": "Baseline + Dual-DI Aug + Flip/Rotate",
}
PROTOCOLS = ("kfold", "subject_kfold", "loso")


@dataclass(frozen=True)
class Config:
    """Every parameter of a run. Field names = papermill parameter names."""

    dataset: str = "synthetic_casme2"  # casme2 | samm | synthetic_casme2 | synthetic_samm
    data_root: str = ""  # real data: the dataset root; synthetic: "" = cache/datasets/<name>
    protocol: str = "kfold"  # kfold (paper) | subject_kfold | loso
    folds: int = 5
    max_folds: int = 0  # >0: run only the first k folds (a stated fraction of the grid)
    models: tuple[str, ...] = ("learnet",)
    configurations: tuple[str, ...] = CONFIGURATIONS
    seeds: tuple[int, ...] = (0,)
    epochs: int = 50
    patience: int = 10
    batch_size: int = 25
    eval_batch_size: int = 200
    lr: float = 1e-4
    validation: str = "paper"  # paper: the held-out fold | inner: a subject-grouped inner split
    device: str = "auto"  # auto | cpu | cuda
    pretrained: bool = True  # fine-tune from pretrained weights (all but LEARNet, as the paper)
    weights: dict[str, str] = field(default_factory=dict)  # model -> local weights file
    variant: str = "paper"  # ARP weights: paper | bilen
    face_crop: bool = False  # Haar crop (raw SAMM); off for pre-cropped / synthetic data
    apex_policy: str = "estimate"  # estimate | drop
    synthetic_scale: float = 1.0
    synthetic_size: tuple[int, int] = ()  # () = the real frame size
    smoke: bool = False

    def __post_init__(self) -> None:
        bad = [c for c in self.configurations if c not in CONFIGURATIONS]
        if bad:
            raise ValueError(f"unknown configurations {bad}; use {CONFIGURATIONS}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; use {PROTOCOLS}")
        if self.validation not in ("paper", "inner"):
            raise ValueError(f"validation must be 'paper' or 'inner', got {self.validation!r}")

    def effective(self) -> Config:
        """The config actually run: ``smoke`` shrinks data, folds and epochs."""
        if not self.smoke:
            return self
        return dataclasses.replace(
            self,
            folds=2,
            max_folds=0,
            epochs=min(self.epochs, 2),
            patience=2,
            seeds=self.seeds[:1],
            synthetic_scale=min(self.synthetic_scale, 0.06),
            synthetic_size=(68, 56),
        )

    @property
    def run_name(self) -> str:
        """Folder name under results/ and figures/: smoke runs never mix with real ones."""
        return f"{self.dataset}-smoke" if self.smoke else self.dataset

    def dataset_root(self) -> Path:
        """Where the data is read from (the synthetic default lives under cache/)."""
        if self.data_root:
            return Path(self.data_root).expanduser()
        if not self.dataset.startswith("synthetic_"):
            raise ValueError(f"{self.dataset}: set data_root to your licensed copy's folder")
        size = "x".join(map(str, self.synthetic_size)) or "real"
        return cache_dir("datasets") / f"{self.dataset}-s{self.synthetic_scale:g}-{size}"


def from_params(params: dict[str, Any]) -> Config:
    """A Config from a dict (a notebook's parameters or a YAML file); lists become tuples."""
    names = {f.name for f in dataclasses.fields(Config)}
    unknown = set(params) - names
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}; valid: {sorted(names)}")
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    return Config(**clean)


def from_namespace(namespace: dict[str, Any]) -> Config:
    """A Config from the Config-named variables of a namespace (a notebook's ``globals()``:
    its parameters cell plus whatever papermill injected)."""
    names = {f.name for f in dataclasses.fields(Config)}
    return from_params({k: v for k, v in namespace.items() if k in names})


def load_config(name_or_path: str | Path, **overrides: Any) -> Config:
    """``configs/<name>.yaml`` (or a path), with keyword overrides."""
    p = Path(name_or_path)
    if not p.suffix:
        p = configs_dir() / f"{p}.yaml"
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such config; see configs/ for the provided ones")
    return from_params({**(yaml.safe_load(p.read_text()) or {}), **overrides})


def open_dataset(cfg: Config):
    """Load ``cfg.dataset`` (generating the synthetic default on first use) -> ``Dataset``."""
    from mer_utils.datasets import load_dataset
    from mer_utils.synthetic import make_synthetic

    root = cfg.dataset_root()
    if cfg.dataset.startswith("synthetic_") and not cfg.data_root:
        like = cfg.dataset.removeprefix("synthetic_")
        make_synthetic(
            root, like, seed=0, scale=cfg.synthetic_scale, size=tuple(cfg.synthetic_size) or None
        )
    return load_dataset(cfg.dataset, root, apex_policy=cfg.apex_policy)
