"""Every numbered notebook runs through papermill in smoke mode and writes its outputs."""

import json

import pandas as pd
import pytest

from mer_utils.reproduce import NOTEBOOKS, run_dataset

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("dataset", ["synthetic_casme2", "synthetic_samm"])
def test_all_notebooks_run_in_smoke_mode(dataset, isolated_root):
    run_dataset(dataset, smoke=True)
    name = f"{dataset}-smoke"
    figs, res = isolated_root / "figures" / name, isolated_root / "results" / name
    for fig in ("fig3_intensity.png", "fig2_dynamic_images.png", "fig2_variants.png"):
        assert (figs / fig).stat().st_size > 10_000, fig
    runs = {p.parent: json.loads(p.read_text()) for p in res.glob("kfold-paper-*/run.json")}
    (paper,) = [f for f, info in runs.items() if not info["identity"]["pretrained"]]
    for fig in ("confusion_matrices.png", "curves_learnet.png"):
        assert (figs / paper.name / fig).stat().st_size > 10_000, fig
    table = pd.read_csv(paper / "table1.csv")
    assert len(table) == 24  # every model x configuration cell, measured or marked
    assert set(table.run) == {paper.name}
    measured = table[table.status == "measured"]
    assert set(measured.key_model) == {"learnet"} and len(measured) == 4
    assert measured.accuracy_mean.between(0, 100).all()
    assert (table[table.key_model != "learnet"].status == "not run on this device").all()
    md = (paper / "table1.md").read_text()
    assert md.startswith(f"Run {paper.name}") and "±" in md
    assert "\\begin{tabular}" in (paper / "table1.tex").read_text()
    sbs = pd.read_csv(paper / "table1_vs_paper.csv")
    assert sbs.accuracy_paper.notna().all()  # the paper's number beside every cell
    executed = sorted(p.name for p in (res / "executed").glob("*.ipynb"))
    companion = dataset == "synthetic_casme2"  # the SAMM leak-free run needs CUDA
    assert len(executed) == len(NOTEBOOKS) + 4 * companion  # leak-free and pretrained: 03-04
    if companion:
        (tuned,) = [f for f, info in runs.items() if info["identity"]["pretrained"]]
        lite = pd.read_csv(tuned / "table1.csv").query("status == 'measured'")
        assert set(lite.key_model) == {"efficientnet_lite0"}
        assert set(lite.key_configuration) == {"baseline", "dual_di"}
        assert (lite.row == "addition (not in the paper)").all() and lite.pretrained.all()
        comparison = pd.read_csv(res / "protocol_comparison.csv")
        assert set(comparison.protocol) == {"kfold", "subject_kfold"}
        assert (figs / "protocol_comparison.png").stat().st_size > 10_000
    for nb in executed:
        cells = json.loads((res / "executed" / nb).read_text())["cells"]
        assert any(c.get("outputs") for c in cells if c["cell_type"] == "code"), nb


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


def test_sweep_and_tables_notebooks_take_the_whole_config_with_its_defaults():
    # 03 and 04 receive the same parameters (one config); their literals equal Config's defaults
    import dataclasses

    import papermill as pm

    from mer_utils.config import Config, from_params
    from mer_utils.paths import notebooks_dir
    from mer_utils.reproduce import declared_parameters

    names = {f.name for f in dataclasses.fields(Config)}
    for nb in ("03_training_sweep", "04_results_tables"):
        declared = pm.inspect_notebook(str(notebooks_dir() / f"{nb}.ipynb"))
        assert set(declared) == names, nb
        values = {k: eval(v["default"]) for k, v in declared.items()}  # literals only
        assert from_params(values) == Config(), nb
    for nb in NOTEBOOKS:
        assert {"dataset", "smoke"} <= declared_parameters(nb)
