"""One notebook kernel per clone (issue 24 item 7): ``make kernel`` installs it into the clone's
own prefix, never per user, tidies the per-user one an older make left, and a notebook opened
from one clone with another clone's kernel says so."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mer_utils import kernel

ROOT = Path(__file__).resolve().parents[1]


def _user_spec(data_dir: Path, python: str) -> Path:
    spec = data_dir / "kernels" / "mer_utils"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps(dict(argv=[python, "-m", "ipykernel_launcher"],
                                                      display_name="Python (mer_utils)")))  # fmt: skip
    return spec


def test_two_clones_get_two_kernels_each_running_its_own_python(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user"))
    a = kernel.install(tmp_path / "clone_a" / ".venv")
    b = kernel.install(tmp_path / "clone_b" / ".venv")
    assert a == tmp_path / "clone_a/.venv/share/jupyter/kernels/mer_utils"
    assert b != a and kernel.spec_python(a) == sys.executable == kernel.spec_python(b)
    assert kernel.user_spec() is None  # nothing per user: the last clone to run make owns none


def test_make_kernel_installs_into_the_venv_not_per_user():
    recipe = subprocess.run(["make", "-n", "kernel"], cwd=ROOT, capture_output=True, text=True)
    assert "-m mer_utils.kernel" in recipe.stdout and "--user" not in recipe.stdout


def test_a_per_user_kernel_is_removed_if_ours_and_named_if_another_clones(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user"))
    ours = _user_spec(tmp_path / "user", sys.executable)
    assert "removed" in kernel.tidy_user_spec() and not ours.exists()
    other = _user_spec(tmp_path / "user", "/elsewhere/clone/.venv/bin/python")
    note = kernel.tidy_user_spec()
    assert other.exists() and "/elsewhere/clone/.venv/bin/python" in note
    assert "jupyter kernelspec remove -y mer_utils" in note


def test_a_notebook_of_another_clone_is_warned_about(tmp_path, caplog):
    clone = tmp_path / "other_clone"
    (clone / "mer_utils").mkdir(parents=True)
    (clone / "mer_utils" / "__init__.py").write_text("")
    (clone / "pyproject.toml").write_text("")
    (clone / "notebooks").mkdir()
    msg = kernel.check_clone(clone / "notebooks")
    assert str(clone) in msg and "make kernel" in msg and sys.executable in msg
    assert msg in caplog.text
    assert kernel.check_clone(ROOT / "notebooks") == ""  # this clone's notebook: silent
    assert kernel.check_clone(tmp_path) == ""  # a copy outside any clone (browser_lab): silent


@pytest.mark.parametrize("nb", sorted(p.name for p in (ROOT / "notebooks").glob("0*.py")))
def test_every_notebook_checks_its_kernel(nb):
    assert "kernel.check_clone()" in (ROOT / "notebooks" / nb).read_text()
