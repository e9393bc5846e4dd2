"""ARCHITECTURE.md is a claim: every name it puts in backticks exists, every module of the
package is listed, and the rules it marks (tested) hold."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys

import pytest

import mer_utils
from mer_utils.paths import repo_root

DOC = (repo_root() / "ARCHITECTURE.md").read_text()
NAMES = sorted(set(re.findall(r"`(mer_utils(?:\.\w+)+)`", DOC)))


def _resolve(dotted: str) -> object:
    """Import ``a.b.c`` as a module, or as attribute ``c`` of module ``a.b``."""
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError:
        module, _, attr = dotted.rpartition(".")
        return getattr(importlib.import_module(module), attr)


@pytest.mark.parametrize("dotted", NAMES)
def test_every_name_in_the_architecture_exists(dotted):
    _resolve(dotted)


def test_every_module_is_listed():
    modules = {
        m.name
        for m in pkgutil.walk_packages(mer_utils.__path__, "mer_utils.")
        if not m.name.rsplit(".", 1)[-1].startswith("_")
    }
    assert modules - set(NAMES) == set()


def _imports_after(module: str) -> set[str]:
    """Top-level packages and mer_utils modules in sys.modules after importing ``module``
    in a fresh interpreter."""
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_executors_do_not_import_the_sweep():
    assert "mer_utils.sweep" not in _imports_after("mer_utils.executors")


@pytest.mark.parametrize(
    "module",
    ["config", "configurations", "model_specs", "representations", "plan", "runs", "records",
     "statistics", "table1"],
)  # fmt: skip
def test_plain_data_modules_import_neither_torch_nor_opencv(module):
    assert not {"torch", "cv2"} & _imports_after(f"mer_utils.{module}")


def test_tables_import_no_torch():
    assert "torch" not in _imports_after("mer_utils.run_handle")
