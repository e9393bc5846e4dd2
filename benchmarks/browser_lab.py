"""Opt-in browser check (not in CI: needs Chromium): JupyterLab runs a notebook in smoke mode
in headless Chromium, driven by Playwright, as a user would (open, Run All, Save).

    pip install playwright            # the Python driver only; no browser download
    apt-get install chromium          # or pass --chromium /path/to/chrome
    .venv/bin/python benchmarks/browser_lab.py [--notebook 02_dynamic_images] [--out figures/browser]

Prints what a user would see: time to run all cells, whether every code cell ran and the kernel
went idle, red (stderr) output blocks, error outputs, progress bars drawn as widgets, and whether
the save left the .py unchanged; writes a full-page screenshot. Lab runs in a sandbox: its own
workspace and settings (no tab a previous Lab session left open is restored; any extra tab is
closed) and this clone's "Python (mer_utils)" kernel installed into a temporary prefix
(``mer_utils.kernel``), whatever kernel of that name the user has. On a timeout it says what it
waited for, how far the notebook got, and where the screenshot and Lab's log are.
Outputs of the run go to a temporary MER_ROOT, never to the repository's figures/results.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(work: Path, notebook: str) -> Path:
    """A copy of the notebooks folder whose ``notebook`` runs in smoke mode (its parameters cell
    edited as a user would, then the paired .ipynb rebuilt), so Lab runs it in seconds."""
    shutil.copytree(ROOT / "notebooks", work / "notebooks", ignore=shutil.ignore_patterns(".*"))
    py = work / "notebooks" / f"{notebook}.py"
    text = py.read_text()
    assert "smoke: bool = False" in text, f"{py}: no smoke parameter"
    py.write_text(text.replace("smoke: bool = False", "smoke: bool = True"))
    subprocess.run(
        [sys.executable, "-m", "jupytext", "--to", "ipynb", "--update", "-q", str(py)],
        check=True, capture_output=True,
    )  # fmt: skip
    return py.with_suffix(".ipynb")


def sandbox_env(work: Path) -> dict[str, str]:
    """Environment of a Lab that sees nothing of the user's Jupyter state: this clone's kernel
    (installed under ``work``), fresh settings (every cell attached to the page, so the last
    one can be checked) and a fresh workspace (no leftover tabs)."""
    from mer_utils import kernel

    kernel.install(work / "jupyter-prefix")
    settings = work / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    return {
        **os.environ,
        "MER_ROOT": str(work / "outputs"),
        "JUPYTER_PATH": str(work / "jupyter-prefix" / "share" / "jupyter"),
        "JUPYTERLAB_SETTINGS_DIR": str(work / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "lab-workspaces"),
    }


def start_lab(work: Path, port: int, token: str, log_path: Path) -> subprocess.Popen:
    """JupyterLab on ``port`` in the sandbox of :func:`sandbox_env`; its log in ``log_path``."""
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
           f"--LabApp.workspaces_dir={work / 'lab-workspaces'}",
           "--ServerApp.ip=127.0.0.1"] + (["--allow-root"] if os.geteuid() == 0 else [])  # fmt: skip
    log = log_path.open("w")
    lab = subprocess.Popen(cmd, env=sandbox_env(work), stdout=log, stderr=subprocess.STDOUT)
    for _ in range(120):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return lab
        except OSError:
            time.sleep(0.5)
    lab.kill()
    raise SystemExit(f"JupyterLab did not listen on port {port} within 60 s; see {log_path}")


# How far the notebook in the current tab got, read from the page: code cells, those with an
# execution count, those running or queued ([*]), the kernel status in the status bar, tabs.
STATE_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const prompts = panel ? [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')] : [];
  const text = prompts.map(p => p.textContent.trim());
  const bar = [...document.querySelectorAll('.jp-StatusBar-Widget')].map(w => w.textContent);
  const status = bar.join(' ').match(
    /\\| (Idle|Busy|Starting|Restarting|Autorestarting|Unknown|Connecting|Dead|Terminating)/);
  return {code_cells: text.length, ran: text.filter(t => /\\[\\d+\\]/.test(t)).length,
          running: text.filter(t => t.includes('*')).length,
          last_ran: text.length > 0 && /\\[\\d+\\]/.test(text[text.length - 1]),
          kernel: status ? status[1] : 'Unknown',
          tabs: document.querySelectorAll('#jp-main-dock-panel .lm-TabBar-tab').length};
}"""


def finished(state: dict) -> bool:
    """True when every code cell ran (the last one included), none is queued or running and the
    kernel is idle: only then are outputs counted and the notebook saved."""
    return (
        state["code_cells"] > 0
        and state["last_ran"]
        and state["ran"] == state["code_cells"]
        and state["running"] == 0
        and state["kernel"].lower() == "idle"
    )


def timeout_hint(state: dict, waited_s: float, shot: Path, log: Path) -> str:
    """One line for a run that did not finish within ``waited_s``: how far it got and where to
    look, with the likely fix."""
    why = (
        "the kernel never started (is 'Python (mer_utils)' installed? see the Lab log)"
        if not state.get("kernel") or state["kernel"].lower() in ("unknown", "starting")
        else f"{state['ran']} of {state['code_cells']} code cells ran, {state['running']} "
        f"running or queued, kernel {state['kernel']}"
    )
    return (
        f"browser_lab: timed out after {waited_s:.0f} s waiting for every cell and an idle "
        f"kernel: {why}; {state.get('tabs', '?')} tab(s) open; screenshot {shot}, Lab log {log}; "
        "a slow machine needs a longer --timeout"
    )


def close_other_tabs(page) -> int:
    """Close every main-area tab but the current notebook's (a restored session's leftovers);
    returns how many tabs were open before."""
    tabs = page.locator("#jp-main-dock-panel .lm-TabBar-tab")
    before = tabs.count()
    if before > 1:
        page.click(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
        page.keyboard.press("Control+Shift+C")  # command palette
        page.keyboard.type("Close All Other Tabs")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelectorAll("
                               "'#jp-main-dock-panel .lm-TabBar-tab').length === 1")  # fmt: skip
    return before


def run_in_browser(url: str, chromium: str, shot: Path, log: Path, timeout_s: int) -> dict:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        tabs_at_start = close_other_tabs(page)
        dialog = page.locator(".jp-Dialog")
        started = page.locator(".jp-StatusBar-Widget", has_text="Python (mer_utils) | Idle")
        for _ in range(120):  # the kernel named in the metadata starts by itself...
            if started.count() or dialog.count():
                break
            time.sleep(0.5)
        kernel_dialog = dialog.count() > 0  # ...unless Lab does not know it
        if kernel_dialog:
            page.click(".jp-Dialog .jp-mod-accept")
        t0 = time.perf_counter()
        try:
            started.first.wait_for(timeout=60_000)
            page.click(".jp-Notebook")
            page.keyboard.press("Control+Shift+C")  # command palette: Run All Cells
            page.keyboard.type("Run All Cells")
            page.keyboard.press("Enter")
            page.wait_for_function(f"() => ({STATE_JS})().running > 0 || "
                                   f"({STATE_JS})().ran > 0", timeout=60_000)  # fmt: skip
            page.wait_for_function(
                f"() => {{ const s = ({STATE_JS})(); return s.code_cells > 0 && s.last_ran && "
                "s.ran === s.code_cells && s.running === 0 && s.kernel.toLowerCase() === 'idle'; }",
                timeout=timeout_s * 1000,
                polling=500,
            )
        except PlaywrightTimeout:
            state = page.evaluate(STATE_JS)
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
            raise SystemExit(timeout_hint(state, time.perf_counter() - t0, shot, log)) from None
        seconds = time.perf_counter() - t0
        state = page.evaluate(STATE_JS)
        found = dict(
            kernel_dialog=kernel_dialog,
            run_all_s=round(seconds, 1),
            tabs_at_start=tabs_at_start,
            code_cells=state["code_cells"],
            cells_ran=state["ran"],
            finished=finished(state),
            stderr_blocks=page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count(),
            error_outputs=page.locator(".jp-OutputArea-output[data-mime-type*='error']").count(),
            widget_bars=page.locator(
                ".jp-OutputArea-output :is(.widget-hprogress, .widget-vprogress)"
            ).count(),
            text_bars=page.locator(".jp-OutputArea-output", has_text="%|").count(),
            images=page.locator(".jp-OutputArea-output img").count(),
        )
        page.keyboard.press("Control+s")
        time.sleep(2)
        news = page.get_by_role("button", name="No")  # Lab's "notify about news?" toast
        if news.count():
            news.first.click()
        page.locator(".jp-OutputArea-output img").first.scroll_into_view_if_needed()
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebook", default="02_dynamic_images")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--out", default=str(ROOT / "figures" / "browser"))
    ap.add_argument("--timeout", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        nb = prepare(work, args.notebook)
        py_before = nb.with_suffix(".py").read_bytes()
        port, token = free_port(), secrets.token_hex(16)
        shot = Path(args.out) / f"{args.notebook}_lab.png"
        log = shot.with_suffix(".log")  # Lab's and the kernel's log, kept beside the screenshot
        shot.parent.mkdir(parents=True, exist_ok=True)
        lab = start_lab(work, port, token, log)
        try:
            url = f"http://127.0.0.1:{port}/lab/tree/notebooks/{nb.name}?reset&token={token}"
            found = run_in_browser(url, args.chromium, shot, log, args.timeout)
        finally:
            lab.terminate()
            lab.wait(10)
        found["kernel_log_interrupts"] = [
            line.strip() for line in log.read_text().splitlines() if "KeyboardInterrupt" in line
        ]  # "KeyboardInterrupt caught in kernel": Lab stopped a kernel that was still busy
        saved = json.loads(nb.read_text())
        found["saved_with_outputs"] = any(c.get("outputs") for c in saved["cells"])
        found["py_unchanged_by_save"] = nb.with_suffix(".py").read_bytes() == py_before
        found["kernel"] = saved["metadata"]["kernelspec"]["display_name"]
    print(json.dumps(found, indent=1))
    print(f"screenshot: {shot}")


if __name__ == "__main__":
    main()
