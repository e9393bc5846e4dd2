"""benchmarks/browser_lab.py (issue 24 item 8): it counts and saves only when every code cell,
the last one included, has run and the kernel is idle; a timeout says how far the notebook got
and where to look. The end-to-end check needs Playwright and Chromium (skipped without them:
CI has no browser)."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "browser_lab.py"
spec = importlib.util.spec_from_file_location("browser_lab", SCRIPT)
browser_lab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(browser_lab)

DONE = dict(code_cells=12, ran=12, running=0, last_ran=True, kernel="Idle", tabs=1)


@pytest.mark.parametrize(
    "change",
    [
        dict(ran=9, last_ran=False),  # a text three cells before the end is already there
        dict(running=1),  # the last cell still shows [*]
        dict(kernel="Busy"),  # every prompt numbered, the kernel not yet idle
        dict(code_cells=0, ran=0, last_ran=False),  # the page has not shown the notebook
    ],
)
def test_a_notebook_is_finished_only_when_every_cell_ran_and_the_kernel_is_idle(change):
    assert browser_lab.finished(DONE)
    assert not browser_lab.finished({**DONE, **change})


def test_a_timeout_says_how_far_it_got_and_where_to_look(tmp_path):
    shot, log = tmp_path / "02_lab.png", tmp_path / "02_lab.log"
    state = {**DONE, "ran": 7, "running": 1, "kernel": "Busy", "tabs": 3}
    hint = browser_lab.timeout_hint(state, 300.4, shot, log)
    assert "timed out after 300 s" in hint and "7 of 12 code cells ran" in hint
    assert "kernel Busy" in hint and "3 tab(s) open" in hint
    assert str(shot) in hint and str(log) in hint and "--timeout" in hint
    never = browser_lab.timeout_hint({**state, "kernel": "Unknown"}, 60, shot, log)
    assert "the kernel never started" in never


def _browser() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_browser() is None, reason="needs playwright and chromium (not in CI)")
def test_notebook_02_runs_to_its_last_cell_in_lab(tmp_path):
    user = tmp_path / "home-jupyter"  # a user's Jupyter state that would break a plain Lab:
    stale = user / "data" / "kernels" / "mer_utils"  # another clone's kernel, gone
    stale.mkdir(parents=True)
    (stale / "kernel.json").write_text(json.dumps(dict(argv=["/gone/clone/.venv/bin/python", "-m",
        "ipykernel_launcher", "-f", "{connection_file}"], display_name="Python (mer_utils)",
        language="python")))  # fmt: skip
    env = {**os.environ, "JUPYTER_DATA_DIR": str(user / "data")}
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "shots"), "--timeout", "600"],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:] + out.stdout[-2000:]
    found = json.loads(out.stdout[: out.stdout.rindex("}") + 1])
    assert found["finished"] and found["cells_ran"] == found["code_cells"] > 0
    assert found["error_outputs"] == 0 and found["stderr_blocks"] == 0
    assert found["kernel_log_interrupts"] == []  # Lab never stopped a busy kernel
    assert found["saved_with_outputs"] and found["py_unchanged_by_save"]
    assert found["widget_bars"] >= 1 and found["tabs_at_start"] == 1  # Lab draws tqdm as widgets
