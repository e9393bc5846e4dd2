"""Shared fixtures: tiny synthetic trees in both official layouts, built once per session."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # an offline pretrained=True would retry for ~47 s


@pytest.fixture(scope="session")
def tiny_casme2(tmp_path_factory):
    from mer_utils.synthetic import make_synthetic

    return make_synthetic(
        tmp_path_factory.mktemp("casme2"), "casme2", seed=0, scale=0.06, size=(68, 56)
    )


@pytest.fixture(scope="session")
def tiny_samm(tmp_path_factory):
    from mer_utils.synthetic import make_synthetic

    return make_synthetic(tmp_path_factory.mktemp("samm"), "samm", seed=0, scale=0.1, size=(65, 96))


@pytest.fixture()
def isolated_root(tmp_path, monkeypatch):
    """Point mer_utils.paths (cache/, results/, figures/) at a temporary folder."""
    monkeypatch.setenv("MER_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture()
def registries():
    """Every registry restored after the test, and the plugins it loaded forgotten."""
    from mer_utils.plugins import isolated_registries, registries

    with isolated_registries():
        yield registries()
