"""Progress bars and log lines look right where they are read: plain lines in recorded output
(papermill, logs), widgets only where a person watches a live front end."""

import io
import logging
import sys

import pytest

from mer_utils import console


def test_text_bars_write_whole_lines_without_escapes(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv("MER_PROGRESS", "text")
    for _ in console.progress_bar(range(3), desc="outer", mininterval=0):
        for _ in console.progress_bar(range(4), desc="inner", leave=False, mininterval=0):
            pass
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert all(line.strip() for line in lines)  # no blank lines from clears
    assert lines[-1].startswith("outer: 100%") and "3/3" in lines[-1]
    assert sum(line.startswith("inner") for line in lines) >= 3 * 4


def test_mode_follows_where_it_runs(monkeypatch):
    monkeypatch.delenv("MER_PROGRESS", raising=False)
    monkeypatch.setattr(console, "_in_kernel", lambda: True)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("VSCODE_PID", raising=False)
    assert console.mode() == "text"  # papermill / nbclient: nobody watches, the file records
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/03_training_sweep.ipynb")
    assert console.mode() == "widget"  # JupyterLab's session names the notebook
    monkeypatch.setenv("MER_PROGRESS", "bars")
    with pytest.raises(ValueError, match="MER_PROGRESS='bars'"):
        console.mode()


def test_notebook_logging_goes_to_stdout(monkeypatch, capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        console.notebook_logging(logging.INFO)
        console.notebook_logging(logging.INFO)  # a rerun of the cell does not double lines
        logging.getLogger("mer_utils.x").info("hello")
        out = capsys.readouterr()
        assert out.out.count("INFO mer_utils.x: hello") == 1 and "hello" not in out.err
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
