"""SLURM cluster tests: skipped by plain ``make test``; ``make test-slurm`` runs them against a
running cluster (``.ci/slurm_up.sh`` starts a single-node one as root, with accounting)."""

import os
import subprocess

import pytest

HOW = "SLURM cluster tests: `make test-slurm` runs them (.ci/slurm_up.sh starts a cluster)"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("MER_TEST_SLURM") == "1":
        return
    here = "a cluster answers here" if _cluster_problem() is None else "no cluster here"
    for item in items:
        if item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.skip(reason=f"{HOW}; {here}"))


def _cluster_problem() -> str | None:
    """Why no cluster can take our jobs, or None when one can (a node up, accounting on)."""
    try:
        nodes = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)  # fmt: skip
        acct = subprocess.run(["sacct", "-n", "-X", "-S", "now"], capture_output=True, text=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"SLURM commands not usable ({e})"
    if nodes.returncode != 0 or not {"idle", "mixed", "allocated"} & set(nodes.stdout.split()):
        return f"no node up (sinfo: {(nodes.stderr or nodes.stdout).strip() or 'no nodes'})"
    if acct.returncode != 0:
        return f"accounting is off (sacct: {acct.stderr.strip()})"
    return None


@pytest.fixture(scope="session")
def cluster():
    """Fails (not skips) when make test-slurm finds no cluster: CI must notice."""
    problem = _cluster_problem()
    if problem is not None:
        pytest.fail(f"no SLURM cluster to test with: {problem}; start one with .ci/slurm_up.sh")
