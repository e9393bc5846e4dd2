"""The notebooks' Jupyter kernel, one per clone: ``make kernel`` installs "Python (mer_utils)"
into the clone's own ``.venv`` (``--sys-prefix``), never per user, so two clones never share
one (a per-user kernel belongs to whichever clone ran ``make`` last, and every other clone's
notebooks would run in that clone's environment). :func:`check_clone` is the notebooks' guard:
it warns when the notebook's clone is not the one whose ``mer_utils`` the kernel imports::

    python -m mer_utils.kernel            # install into this interpreter's prefix; report
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

log = logging.getLogger(__name__)

KERNEL = "mer_utils"  # the name every notebook's metadata asks for
DISPLAY_NAME = "Python (mer_utils)"


def install(prefix: str | Path | None = None) -> Path:
    """Install the kernel into ``prefix``/share/jupyter/kernels/mer_utils (default: this
    interpreter's prefix, the clone's ``.venv``), running this interpreter; returns the folder."""
    from ipykernel.kernelspec import install as ipykernel_install

    dest = ipykernel_install(
        kernel_name=KERNEL, display_name=DISPLAY_NAME, prefix=str(prefix or sys.prefix)
    )
    return Path(dest)


def spec_python(spec_dir: Path) -> str:
    """The interpreter a kernel spec folder runs (``argv[0]`` of its kernel.json)."""
    return json.loads((spec_dir / "kernel.json").read_text())["argv"][0]


def user_spec() -> Path | None:
    """The per-user "mer_utils" kernel an older ``make kernel`` (``--user``) left, or None."""
    from jupyter_core.paths import jupyter_data_dir

    path = Path(jupyter_data_dir()) / "kernels" / KERNEL
    return path if (path / "kernel.json").is_file() else None


def tidy_user_spec(python: str = sys.executable) -> str:
    """Remove the per-user kernel when it runs ``python`` (it was this clone's, now in
    ``.venv``); leave one that runs another interpreter and say what it shadows. Returns one
    line for the log ("" when there is none)."""
    path = user_spec()
    if path is None:
        return ""
    other = spec_python(path)
    if Path(other).absolute() == Path(python).absolute():  # not resolved: venvs link one python
        shutil.rmtree(path)
        return f"removed the per-user kernel {path} (this clone's; it now lives in its .venv)"
    return (
        f"a per-user kernel {path} runs {other}, another environment: Jupyter started from this "
        f"clone's .venv uses this clone's kernel, a Jupyter outside it (system-wide, VS Code) "
        f"would use that one; `jupyter kernelspec remove -y {KERNEL}` removes it"
    )


def clone_root(folder: Path) -> Path | None:
    """The clone holding ``folder`` (a folder with pyproject.toml and mer_utils/), or None."""
    for p in (folder, *folder.parents):
        if (p / "pyproject.toml").is_file() and (p / "mer_utils" / "__init__.py").is_file():
            return p
    return None


def check_clone(notebook_dir: str | Path | None = None) -> str:
    """One warning line (also logged) when the notebook's clone (``notebook_dir``, default the
    kernel's working folder: the notebook's) is not the clone whose ``mer_utils`` this kernel
    imports; "" when they agree or the notebook lies in no clone."""
    import mer_utils

    here = clone_root(Path(notebook_dir or Path.cwd()).resolve())
    imported = Path(mer_utils.__file__).resolve().parent
    if here is None or imported == (here / "mer_utils").resolve():
        return ""
    msg = (
        f"this notebook belongs to {here}, but the kernel ({sys.executable}) imports mer_utils "
        f"from {imported.parent}: run `make kernel` in {here} and choose "
        f"'{DISPLAY_NAME}' (Kernel > Change Kernel), or open the notebook from {imported.parent}"
    )
    log.warning(msg)
    return msg


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="install the notebooks' kernel into this prefix")
    ap.add_argument("--prefix", default=sys.prefix, help="default: this interpreter's prefix")
    args = ap.parse_args(argv)
    dest = install(args.prefix)
    print(f"kernel '{DISPLAY_NAME}' -> {spec_python(dest)} ({dest})")
    if note := tidy_user_spec():
        print(note)


if __name__ == "__main__":
    main()
