"""Repository-relative locations: configs/ and notebooks/ (code), figures/, results/, cache/
(outputs).

Outputs go under ``$MER_ROOT`` when it is set (a scratch disk, or a test's temporary folder),
otherwise under the repository root, the folder above the ``mer_utils`` package.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The project checkout: the folder above ``mer_utils``."""
    return Path(__file__).resolve().parents[1]


def output_root() -> Path:
    """Where cache/, results/ and figures/ live: ``$MER_ROOT`` if set, else the repository."""
    env = os.environ.get("MER_ROOT")
    return Path(env).resolve() if env else repo_root()


def cache_dir(*parts: str) -> Path:
    """``cache/<parts...>`` (ignored by git), created on demand."""
    return _mkdir(output_root().joinpath("cache", *parts))


def figures_dir(dataset: str) -> Path:
    """``figures/<dataset>/``, created on demand."""
    return _mkdir(output_root() / "figures" / dataset)


def results_dir(dataset: str, *parts: str) -> Path:
    """``results/<dataset>/<parts...>``, created on demand."""
    return _mkdir(output_root().joinpath("results", dataset, *parts))


def data_dirs(dataset: str, fingerprint: str) -> tuple[Path, Path]:
    """(results, figures) folders of one dataset *content*, created on demand:
    ``results/<dataset>/data-<fp>/`` and ``figures/<dataset>/data-<fp>/`` with ``fp`` the first
    8 hex digits of its fingerprint (:meth:`mer_utils.datasets.Dataset.fingerprint`), so two
    sheets or copies read under one dataset name never overwrite each other's report."""
    name = data_name(fingerprint)
    return results_dir(dataset, name), _mkdir(figures_dir(dataset) / name)


def data_name(fingerprint: str) -> str:
    """The folder name of one dataset content: ``data-<first 8 hex digits>``."""
    return f"data-{fingerprint[:8]}"


def configs_dir() -> Path:
    """``configs/`` with the papermill parameter files."""
    return repo_root() / "configs"


def notebooks_dir() -> Path:
    """``notebooks/`` with the numbered notebooks."""
    return repo_root() / "notebooks"


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p
