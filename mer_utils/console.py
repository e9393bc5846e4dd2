"""How long loops and library messages look in each place they run.

Progress bars (:func:`progress_bar`): widget bars in a live JupyterLab / Notebook / VS Code front
end (ipywidgets), plain text lines everywhere output is recorded rather than watched (papermill's
executed notebooks, redirected logs, CI): one line per update interval, on stdout, with no
carriage returns or cursor escapes; the usual redrawing bar in a terminal. ``MER_PROGRESS``
(widget | text | tty | off) forces a mode. Library logging in notebooks goes to stdout
(:func:`notebook_logging`), so Lab does not paint INFO lines as errors.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm import tqdm as tty_tqdm

MODES = ("widget", "text", "tty", "off")
_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def mode() -> str:
    """The progress mode here: ``$MER_PROGRESS`` if set, else widget in a kernel with a live
    front end and ipywidgets, text in any other kernel (papermill) or non-terminal, else tty."""
    forced = os.environ.get("MER_PROGRESS", "")
    if forced:
        if forced not in MODES:
            raise ValueError(f"MER_PROGRESS={forced!r}: use one of {MODES}")
        return forced
    if _in_kernel():
        return "widget" if _live_front_end() and _has_ipywidgets() else "text"
    return "tty" if sys.stderr.isatty() else "text"


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return type(shell).__name__ == "ZMQInteractiveShell"


def _live_front_end() -> bool:
    """A person is watching: jupyter_server names the kernel's session (JPY_SESSION_NAME) and
    VS Code sets VSCODE_PID; papermill / nbclient set neither."""
    return bool(os.environ.get("JPY_SESSION_NAME") or os.environ.get("VSCODE_PID"))


def _has_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class _Lines:
    """A file for tqdm that turns its redraws into whole lines: no ``\\r``, no escapes."""

    def __init__(self, out: TextIO):
        self.out = out
        self.encoding = getattr(out, "encoding", "utf-8")  # tqdm draws unicode blocks if utf

    def write(self, s: str) -> None:
        s = _ESCAPES.sub("", s).replace("\r", "")
        if s.strip():
            self.out.write(s.rstrip("\n") + "\n")

    def flush(self) -> None:
        self.out.flush()


def progress_bar(iterable: Iterable | None = None, **kw: Any) -> tty_tqdm:
    """A tqdm bar in this place's mode (see the module docstring); takes tqdm's arguments.
    Text mode writes at most one line per ``mininterval`` (default 10 s, ``TQDM_MININTERVAL``)."""
    m = mode()
    if m == "off":
        kw["disable"] = True
    if m == "widget":
        from tqdm.notebook import tqdm as widget_tqdm

        return widget_tqdm(iterable, **kw)
    if m == "text":
        kw.update(file=_Lines(sys.stdout), position=0, dynamic_ncols=False, ncols=100)
        kw.setdefault("mininterval", float(os.environ.get("TQDM_MININTERVAL", 10)))
    return tty_tqdm(iterable, **kw)


def notebook_logging(level: int = logging.INFO) -> None:
    """Library log lines in a notebook: on stdout (plain output, not a red stderr block),
    ``LEVEL name: message``; replaces handlers a previous run of the cell installed."""
    root = logging.getLogger()
    root.handlers[:] = [logging.StreamHandler(sys.stdout)]
    root.handlers[0].setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.setLevel(level)
