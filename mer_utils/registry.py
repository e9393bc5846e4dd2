"""What every registry shares: one ``register`` that refuses a clash and a bad entry.

The registries themselves are plain dicts in the modules that own each kind of entry (read them
as before): :data:`mer_utils.model_specs.REGISTRY`, :data:`mer_utils.augment.AUGMENTATIONS`,
:data:`mer_utils.configurations.REGISTRY`, :data:`mer_utils.dataset_specs.SPECS` and
:data:`mer_utils.representations.REPRESENTATIONS`. Each is filled only through its module's
``register_*`` function, which the built-in entries use too, so a user's entry meets exactly
the rules the built-in ones do. No torch, no pandas: the config imports this.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # a folder name in results/, never '@' or '/'


class RegistryError(ValueError):
    """A refused registration; one line naming the entry, what is wrong and the fix."""


def name_problems(name: object) -> list[str]:
    """[] for a usable name (letters, digits, ``_ . -``; it becomes a folder under results/ and
    table row keys use ``@``), else one line saying why."""
    if isinstance(name, str) and NAME.fullmatch(name):
        return []
    return [f"name {name!r} must be letters, digits, '_', '.' or '-' (it names a results folder)"]


def same_entry(old: Any, new: Any) -> bool:
    """True when ``new`` is ``old`` registered again: an equal spec, or a function with the same
    module and qualified name (the module imported twice, a notebook cell re-run)."""
    if old == new:
        return True
    if not (callable(old) and callable(new)):
        return False
    key = [
        (getattr(f, "__module__", None), getattr(f, "__qualname__", "<lambda>")) for f in (old, new)
    ]
    return key[0] == key[1] and "<lambda>" not in key[0][1]


def register(
    table: dict[str, T],
    kind: str,
    name: str,
    entry: T,
    *,
    replace: bool = False,
    problems: Iterable[str] = (),
) -> T:
    """Put ``entry`` in ``table`` under ``name``; RegistryError (nothing changed) when
    ``problems`` (the caller's validation) is not empty, or ``name`` is taken by a different
    entry and ``replace`` is False. Registering the same entry again is a no-op (re-imports)."""
    bad = [*name_problems(name), *problems]
    if bad:
        raise RegistryError(f"{kind} {name!r}: " + "; ".join(bad))
    old = table.get(name)
    if old is not None and not replace and not same_entry(old, entry):
        raise RegistryError(
            f"{kind} {name!r} is already registered ({_describe(old)}); choose another name, "
            "or pass replace=True to replace it on purpose"
        )
    table[name] = entry
    return entry


def _describe(entry: Any) -> str:
    """Where an entry comes from, for the clash message."""
    module = getattr(entry, "__module__", None)
    if callable(entry) and module and not isinstance(entry, type):
        return f"{module}.{getattr(entry, '__qualname__', '?')}"
    return repr(entry)[:120]
