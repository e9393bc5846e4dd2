"""environment.yml (for conda users) must install what pyproject.toml declares."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _names(specs):
    return {re.split(r"[<>=!~\[; ]", s.strip(), maxsplit=1)[0].lower() for s in specs}


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [d for group in project["optional-dependencies"].values() for d in group]
    declared = dict.fromkeys(project["dependencies"] + extras)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = [s for s in pip if not s.startswith("-e")]
    assert _names(listed) == _names(declared), (
        "environment.yml and pyproject.toml list different packages: "
        f"only in yml {_names(listed) - _names(declared)}, "
        f"only in pyproject {_names(declared) - _names(listed)}"
    )
    # the same version constraints, not only the same names
    assert sorted(s.replace(" ", "") for s in listed) == sorted(
        s.replace(" ", "") for s in declared
    )
    assert "-e ." in pip, "environment.yml must install the package itself"


def test_opencv_is_contrib_4x_alone():
    # opencv 5.x ships no Haar cascades / CascadeClassifier, which mer_utils.frames needs, and its
    # flows differ from 4.14's; contrib brings TV-L1 (cv2.optflow). The plain wheels also install
    # cv2/, so declaring (or locking) both would let one overwrite the other.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    opencv = [d for d in project["dependencies"] if d.startswith("opencv")]
    assert [re.sub(r"\s", "", d) for d in opencv] == ["opencv-contrib-python-headless>=4.14,<5"]
    lock = (ROOT / "requirements.lock").read_text().splitlines()
    assert [x for x in lock if x.startswith("opencv")] == [
        "opencv-contrib-python-headless==4.14.0.94"
    ]


def test_packaged_paper_table_is_the_shared_one():
    shared = ROOT.parent / "shared" / "paper_table1.csv"
    if not shared.is_file():
        import pytest

        pytest.skip("../shared is not beside this checkout")
    assert (ROOT / "mer_utils" / "paper_table1.csv").read_bytes() == shared.read_bytes()


def test_lock_pins_every_declared_dependency_within_its_range():
    """requirements.lock (make lock) pins one exact version of every package pyproject.toml
    declares, inside pyproject's range: a dependency added without `make lock` fails here."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [d for group in project["optional-dependencies"].values() for d in group]
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line.strip() and not line.startswith("#"))
    assert all(canonicalize_name(k) == k for k in pins) and len(pins) == len(set(pins))
    for spec in project["dependencies"] + extras:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is declared but not in requirements.lock: run make lock"
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name])
    assert "playwright" not in pins  # installed by hand here, not a dependency


def test_face_detectors_are_installed_without_deps_and_locked():
    """requirements-faces.txt (face detectors whose metadata pins old torch/numpy) is installed
    --no-deps by make, and each of its packages is pinned in requirements.lock at its version;
    install-locked installs the lock --no-deps (else pip would follow those pins)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = (ROOT / "requirements.lock").read_text().splitlines()
    python = re.search(r"# Python (\d+\.\d+)", "\n".join(lines)).group(1)
    pins = dict(line.split("==") for line in lines if line.strip() and not line.startswith("#"))
    faces = (ROOT / "requirements-faces.txt").read_text().splitlines()
    for line in (x for x in faces if x.strip() and not x.startswith("#")):
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"python_version": python}):
            (version,) = [s.version for s in req.specifier if s.operator == "=="]
            assert pins.get(canonicalize_name(req.name)) == version, (req.name, "run make lock")
    make = (ROOT / "Makefile").read_text()
    assert "pip install -q --no-deps -r requirements-faces.txt" in make
    assert "pip install -q --no-deps -r requirements.lock" in make


def test_make_reproduce_passes_a_data_root_with_spaces_as_one_argument(tmp_path):
    """make reproduce DATA_ROOT="<a path with spaces>" reaches the preflight with the whole
    path (a missing root is named in one line), not argparse's "unrecognized arguments".

    The recipe runs for real with PY a wrapper that runs only ``-m mer_utils.reproduce`` (any
    other call, such as a pip install, is refused) and STAMP a fresh file, so the environment
    is never touched."""
    import os
    import shutil
    import subprocess
    import sys

    import pytest

    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    py = tmp_path / "py"
    py.write_text(
        '#!/bin/bash\n[ "$1 $2" = "-m mer_utils.reproduce" ] || { echo "refused: $*" >&2; exit 97; }\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    py.chmod(0o755)
    stamp = tmp_path / "installed"
    stamp.touch()  # newer than pyproject.toml: the install rule has nothing to do
    root = tmp_path / "my data" / "CASME 2"
    env = {**os.environ, "MER_ROOT": str(tmp_path / "out"), "PYTHONPATH": str(ROOT)}
    cmd = ["make", "--no-print-directory", "-C", str(ROOT), "reproduce", f"PY={py}",
           f"STAMP={stamp}", "PYTHON=false", "DATASET=casme2", f"DATA_ROOT={root}"]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert "refused" not in out.stderr, out.stderr[-2000:]
    assert "unrecognized arguments" not in out.stderr, out.stderr[-2000:]
    assert f"{root}: data root does not exist" in out.stderr, out.stderr[-2000:]
    assert out.returncode != 0 and not (tmp_path / "out").exists()
