"""Print the exact environment the README's numbers come from, as a pip lock file.

The closure of the project's dependencies (``pyproject.toml``, with the ``dev``, ``offline`` and
``faces`` extras ``make`` installs) as installed in this virtual environment, plus the packages
of ``requirements-faces.txt`` that apply here (installed with --no-deps: their own metadata is
not followed), one ``name==version`` per line, sorted; packages installed by hand but not needed
(a browser driver, say) are left out. ``make install-locked`` installs it with --no-deps.
``make lock`` writes it to ``requirements.lock``; ``make install-locked`` installs from it.
"""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

EXTRAS = ("dev", "offline", "faces")
NO_DEPS = Path(__file__).resolve().parents[1] / "requirements-faces.txt"


def _requirements(name: str, extras: set[str]) -> list[Requirement]:
    """The requirements of installed ``name`` that apply here with ``extras``."""
    out = []
    for text in distribution(name).requires or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
            out.append(req)
    return out


def closure(root: str, extras: set[str]) -> dict[str, str]:
    """Canonical name -> installed version of every distribution ``root`` needs."""
    seen: dict[str, str] = {}
    todo = [(root, extras)]
    while todo:
        name, ex = todo.pop()
        for req in _requirements(name, ex):
            key = canonicalize_name(req.name)
            try:
                version = distribution(req.name).version
            except PackageNotFoundError:
                sys.exit(f"lock: {req.name} (needed by {name}) is not installed; run make first")
            if key not in seen:
                seen[key] = version
                todo.append((req.name, set(req.extras)))
            elif req.extras:
                todo.append((req.name, set(req.extras)))
    return seen


def no_deps() -> dict[str, str]:
    """Canonical name -> installed version of each requirements-faces.txt line that applies."""
    out = {}
    for line in NO_DEPS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate():
            try:
                out[canonicalize_name(req.name)] = distribution(req.name).version
            except PackageNotFoundError:
                sys.exit(f"lock: {req.name} ({NO_DEPS.name}) is not installed; run make first")
    return out


def main() -> None:
    pins = closure("mer_utils", set(EXTRAS)) | no_deps()
    print("# Exact environment of the README's numbers: make lock (from .venv), do not edit.")
    print(f"# Python {platform.python_version()} on {platform.system()} {platform.machine()}.")
    print(
        "# Install: make install-locked  (pip install --no-deps -r requirements.lock, then -e . --no-deps)"
    )
    for name in sorted(pins):
        print(f"{name}=={pins[name]}")


if __name__ == "__main__":
    main()
