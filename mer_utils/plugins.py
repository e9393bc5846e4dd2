"""Plugins: your own modules of ``register_*`` calls, imported in every process of a run.

A plugin is a Python module that registers entries by declaration: a backbone
(:func:`mer_utils.model_specs.register_model`), an augmentation
(:func:`mer_utils.augment.register_augmentation`), a configuration
(:func:`mer_utils.configurations.register_configuration`), a dataset
(:func:`mer_utils.dataset_specs.register_dataset`) or a representation
(:func:`mer_utils.representations.register_representation`). Name it in the config field
``plugins`` (``--set plugins=[my_plugin]``, a notebook parameter, a YAML list), as either

- a module name (``my_plugin``, ``mylab.backbones``), importable where the run starts: from the
  working directory, an installed package, or a folder on ``PYTHONPATH``; or
- a file path ending in ``.py`` (``plugins/my_plugin.py``), relative to the working directory;
  the config stores it as an absolute path.

:class:`~mer_utils.config.Config` imports them (:func:`load_plugins`) before it validates
anything else, so its names are accepted; a worker does the same before it builds its config
from the parent's, so the entries exist there too. Workers of ``executor=processes`` are
spawned with the parent's ``sys.path`` and working directory; SLURM jobs (submitit) start a new
Python in the submitting directory with the submitting shell's environment, so a module name
needs that directory or ``PYTHONPATH`` to hold it, and a file path a filesystem the nodes share
(as ``results/`` must be). Each plugin is imported once per process; edit one, then restart the
notebook kernel.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

_LOADED: dict[str, str] = {}  # plugin entry as given -> its module's name in sys.modules


class PluginError(ValueError):
    """A plugin that cannot be imported; one line naming it, why, and the fix."""


def is_file(entry: str) -> bool:
    """True for a plugin given as a file path (``*.py``), False for a module name."""
    return entry.endswith(".py")


def resolve(entries: Iterable[str]) -> tuple[str, ...]:
    """``entries`` with file paths made absolute (from the working directory), module names
    as given: what a worker elsewhere needs to find the same files."""
    return tuple(
        str(Path(e).expanduser().resolve()) if is_file(e) else e
        for e in (x.strip() for x in entries)
    )


def load_plugins(names: Iterable[str]) -> None:
    """Import each plugin of ``names`` (module names or ``.py`` paths) once in this process,
    in order. PluginError, with the registries as they were, when one cannot be imported or
    raises while importing (e.g. a RegistryError from one of its ``register_*`` calls)."""
    for entry in resolve(names):
        if not entry:
            raise PluginError("plugins: an empty name; give a module name or a .py file path")
        if entry in _LOADED and _LOADED[entry] in sys.modules:
            continue
        before = _snapshot()
        try:
            module = _import_file(entry) if is_file(entry) else _import_module(entry)
        except PluginError:
            _restore(before)
            raise
        except Exception as e:  # the plugin's own code failed: say where
            _restore(before)
            raise _failed(entry, e) from e
        _LOADED[entry] = module.__name__


def _import_module(name: str) -> ModuleType:
    """``import name``; the plugin itself missing is a PluginError saying how to make it
    importable."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            leaf = name.rpartition(".")[2]
            raise PluginError(
                f"plugin {name!r}: no such module in this process (working directory "
                f"{os.getcwd()}); run from the folder that holds {leaf}.py, add that folder to "
                f"PYTHONPATH (worker processes and SLURM jobs inherit it), or give its file: "
                f"plugins: [path/to/{leaf}.py]"
            ) from None
        raise


def _failed(entry: str, e: Exception) -> PluginError:
    """The one line for a plugin whose import raised ``e``: a missing dependency, or where in
    the plugin what went wrong."""
    if isinstance(e, ModuleNotFoundError):
        at = f" ({_where(e).strip()})" if _where(e) else ""
        return PluginError(
            f"plugin {entry!r} imports {e.name!r}{at}, which is not installed here; install it "
            "in every environment that runs workers"
        )
    return PluginError(f"plugin {entry!r} failed{_where(e)}: {type(e).__name__}: {e}")


def _import_file(path: str) -> ModuleType:
    """Import the file ``path`` as the module named by its stem (once: a module of that name
    already imported from the same file is reused)."""
    p = Path(path)
    if not p.is_file():
        raise PluginError(f"plugin {path}: no such file; give the path of your plugin's .py file")
    name = p.stem
    if not name.isidentifier():
        raise PluginError(f"plugin {path}: {name!r} is not a module name; rename the file")
    old = sys.modules.get(name)
    if old is not None:
        if getattr(old, "__file__", None) and Path(old.__file__).resolve() == p:
            return old
        raise PluginError(
            f"plugin {path}: a different module named {name!r} is already imported "
            f"({getattr(old, '__file__', 'built in')}); rename your file"
        )
    spec = importlib.util.spec_from_file_location(name, p)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _where(e: BaseException) -> str:
    """`` at file:line`` of the deepest frame of the plugin's own code (not mer_utils, not an
    installed library or the standard library, unless nothing else is left), or ``""``."""
    if isinstance(e, SyntaxError) and e.filename:
        return f" at {e.filename}:{e.lineno}"
    here = str(Path(__file__).parent) + os.sep
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "importlib" not in f.filename]
    outside = [f for f in frames if not f.filename.startswith(here)]
    own = [f for f in outside if not f.filename.startswith((sys.prefix, sys.base_prefix))]
    pick = own or outside
    return f" at {pick[-1].filename}:{pick[-1].lineno}" if pick else ""


def plugin_sources(names: Iterable[str]) -> dict[str, str]:
    """Plugin -> the first 16 hex digits of the SHA-256 of its loaded module's file (the code
    that made the run's entries, for a record's provenance beside the git sha)."""
    out = {}
    for entry in resolve(names):
        module = sys.modules.get(_LOADED.get(entry, entry))
        file = getattr(module, "__file__", None)
        if file is None:
            raise PluginError(f"plugin {entry!r} is not loaded; load_plugins first")
        out[entry] = hashlib.sha256(Path(file).read_bytes()).hexdigest()[:16]
    return out


def registries() -> dict[str, dict]:
    """Every registry dict by kind (what a plugin can add to)."""
    from mer_utils import augment, configurations, dataset_specs, model_specs, representations

    tables = {
        "models": model_specs.REGISTRY,
        "model display names": model_specs.DISPLAY,
        "augmentations": augment.AUGMENTATIONS,
        "augmentation inputs": augment.AUGMENTATION_INPUTS,
        "configurations": configurations.REGISTRY,
        "datasets": dataset_specs.SPECS,
        "representations": representations.REPRESENTATIONS,
    }
    models = sys.modules.get("mer_utils.models")  # builders need torch: only once it is loaded
    return tables | ({"model builders": models.BUILDERS} if models else {})


def _snapshot() -> tuple[dict[str, dict], set[str]]:
    return {k: dict(v) for k, v in registries().items()}, set(_LOADED)


def _restore(state: tuple[dict[str, dict], set[str]]) -> None:
    tables, loaded = state
    now = registries()
    for kind, saved in tables.items():  # builders only if they were loaded when saved
        now[kind].clear()
        now[kind].update(saved)
    for entry in set(_LOADED) - loaded:
        sys.modules.pop(_LOADED.pop(entry), None)


@contextmanager
def isolated_registries() -> Iterator[None]:
    """Every registry as it was on entry once the block ends, and the plugins loaded inside
    forgotten (a later :func:`load_plugins` imports them again): for tests and trials."""
    state = _snapshot()
    try:
        yield
    finally:
        _restore(state)
