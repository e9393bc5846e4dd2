"""Opt-in browser check (not in CI: needs Chromium): JupyterLab runs a notebook in smoke mode
in headless Chromium, driven by Playwright, as a user would (open, Run All, Save).

    pip install playwright            # the Python driver only; no browser download
    apt-get install chromium          # or pass --chromium /path/to/chrome
    make kernel                       # the notebooks ask for the "Python (mer_utils)" kernel
    .venv/bin/python benchmarks/browser_lab.py [--notebook 02_dynamic_images] [--out figures/browser]

Prints what a user would see: time to run all cells, red (stderr) output blocks, error
outputs, and whether the save left the .py unchanged; writes a full-page screenshot.
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


def start_lab(work: Path, port: int, token: str) -> subprocess.Popen:
    env = {**os.environ, "MER_ROOT": str(work / "outputs")}
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
           "--ServerApp.ip=127.0.0.1"] + (["--allow-root"] if os.geteuid() == 0 else [])  # fmt: skip
    lab = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(120):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return lab
        except OSError:
            time.sleep(0.5)
    lab.kill()
    raise SystemExit(f"JupyterLab did not listen on port {port} within 60 s")


def run_in_browser(url: str, chromium: str, shot: Path, done_text: str, timeout_s: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        dialog = page.locator(".jp-Dialog")
        started = page.locator(".jp-StatusBar-Widget", has_text="Python (mer_utils) | Idle")
        for _ in range(120):  # the kernel named in the metadata starts by itself...
            if started.count() or dialog.count():
                break
            time.sleep(0.5)
        kernel_dialog = dialog.count() > 0  # ...unless Lab does not know it
        if kernel_dialog:
            page.click(".jp-Dialog .jp-mod-accept")
        started.first.wait_for(timeout=60_000)
        t0 = time.perf_counter()
        page.click(".jp-Notebook")
        page.keyboard.press("Control+Shift+C")  # command palette: Run All Cells
        page.keyboard.type("Run All Cells")
        page.keyboard.press("Enter")
        done = page.locator(".jp-OutputArea-output", has_text=done_text)
        done.first.wait_for(timeout=timeout_s * 1000)
        seconds = time.perf_counter() - t0
        found = dict(
            kernel_dialog=kernel_dialog,
            run_all_s=round(seconds, 1),
            stderr_blocks=page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count(),
            error_outputs=page.locator(".jp-OutputArea-output[data-mime-type*='error']").count(),
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
    ap.add_argument("--done-text", default="% of pixels", help="text of the last output")
    ap.add_argument("--timeout", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        nb = prepare(work, args.notebook)
        py_before = nb.with_suffix(".py").read_bytes()
        port, token = free_port(), secrets.token_hex(16)
        lab = start_lab(work, port, token)
        try:
            url = f"http://127.0.0.1:{port}/lab/tree/notebooks/{nb.name}?token={token}"
            shot = Path(args.out) / f"{args.notebook}_lab.png"
            found = run_in_browser(url, args.chromium, shot, args.done_text, args.timeout)
        finally:
            lab.terminate()
            lab.wait(10)
        saved = json.loads(nb.read_text())
        found["saved_with_outputs"] = any(c.get("outputs") for c in saved["cells"])
        found["py_unchanged_by_save"] = nb.with_suffix(".py").read_bytes() == py_before
        found["kernel"] = saved["metadata"]["kernelspec"]["display_name"]
    print(json.dumps(found, indent=1))
    print(f"screenshot: {shot}")


if __name__ == "__main__":
    main()
