"""Repository-relative locations: figures/, results/, cache/, configs/.

The repository root is the parent of the ``mer_utils`` package, or ``$MER_ROOT`` if set
(useful when the package is installed elsewhere or outputs should go to a scratch disk).
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The project root: ``$MER_ROOT`` if set, else the folder above ``mer_utils``."""
    env = os.environ.get("MER_ROOT")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[1]


def cache_dir(*parts: str) -> Path:
    """``cache/<parts...>`` (ignored by git), created on demand."""
    return _mkdir(repo_root() / "cache" / Path(*parts) if parts else repo_root() / "cache")


def figures_dir(dataset: str) -> Path:
    """``figures/<dataset>/``, created on demand."""
    return _mkdir(repo_root() / "figures" / dataset)


def results_dir(dataset: str, *parts: str) -> Path:
    """``results/<dataset>/<parts...>``, created on demand."""
    return _mkdir(repo_root() / "results" / dataset / Path(*parts) if parts else repo_root() / "results" / dataset)


def configs_dir() -> Path:
    """``configs/`` with the papermill parameter files."""
    return repo_root() / "configs"


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p
