"""Every numbered notebook runs through papermill in smoke mode and writes its outputs."""

import json

import pandas as pd
import pytest

from mer_utils.reproduce import NOTEBOOKS, run_dataset

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("dataset", ["synthetic_casme2", "synthetic_samm"])
def test_all_notebooks_run_in_smoke_mode(dataset, isolated_root):
    run_dataset(dataset, smoke=True)
    run = f"{dataset}-smoke"
    figs, res = isolated_root / "figures" / run, isolated_root / "results" / run
    for name in (
        "fig3_intensity.png",
        "fig2_dynamic_images.png",
        "fig2_variants.png",
        "fig2_offset_identity.png",
        "confusion_matrices.png",
        "curves_learnet.png",
    ):
        assert (figs / name).stat().st_size > 10_000, name
    table = pd.read_csv(res / "table1.csv")
    assert len(table) == 24  # every model x configuration cell, measured or marked
    measured = table[table.status == "measured"]
    assert set(measured.key_model) == {"learnet"} and len(measured) == 4
    assert measured.accuracy_mean.between(0, 100).all()
    assert (table[table.status != "measured"].status == "not run on this machine").all()
    assert (
        "±" in (res / "table1.md").read_text()
        and "\\begin{tabular}" in (res / "table1.tex").read_text()
    )
    sbs = pd.read_csv(res / "table1_vs_paper.csv")
    assert sbs.accuracy_paper.notna().all()  # the paper's number beside every cell
    for nb in NOTEBOOKS:
        executed = json.loads((res / "executed" / f"{nb}.ipynb").read_text())
        assert any(c.get("outputs") for c in executed["cells"] if c["cell_type"] == "code"), nb


def test_notebooks_are_paired_stripped_and_have_a_kernel():
    import jupytext

    from mer_utils.paths import notebooks_dir

    for nb in NOTEBOOKS:
        ipynb = json.loads((notebooks_dir() / f"{nb}.ipynb").read_text())
        assert ipynb["metadata"]["kernelspec"]["name"] == "python3"
        code = [c for c in ipynb["cells"] if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code)
        assert "parameters" in code[0]["metadata"].get("tags", [])
        paired = jupytext.read(notebooks_dir() / f"{nb}.py")
        assert [c.source for c in paired.cells] == ["".join(c["source"]) for c in ipynb["cells"]], (
            nb
        )


def test_the_sweep_notebook_declares_every_config_field():
    # reproduce passes each notebook only its declared parameters: 03 must declare them all
    import dataclasses

    from mer_utils.config import Config
    from mer_utils.reproduce import declared_parameters

    assert {f.name for f in dataclasses.fields(Config)} <= declared_parameters("03_training_sweep")
    for nb in NOTEBOOKS:
        assert {"dataset", "smoke"} <= declared_parameters(nb)
