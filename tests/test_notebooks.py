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
    runs = {p.parent: json.loads(p.read_text()) for p in res.glob("kfold-paper-*/run.json")}
    (paper,) = [f for f, info in runs.items() if not info["identity"]["pretrained"]]
    data = f"data-{runs[paper]['identity']['dataset_fingerprint'][:8]}"  # 01-02: by the data
    assert (res / data / "validation_report.csv").is_file()
    for fig in ("fig3_intensity.png", "fig2_dynamic_images.png", "fig2_variants.png",
                "di_coefficients.png", "apex_positions.png", "di_projections.png",
                "spotting_errors.png"):  # fmt: skip
        assert (figs / data / fig).stat().st_size > 10_000, fig
        assert (figs / data / fig).with_suffix(".pdf").stat().st_size > 5_000, fig  # vector
    if dataset == "synthetic_samm":  # face: none (configs/synthetic_samm.yaml says why), but
        # notebook 01 draws what FaceMesh (face: auto on SAMM's whole-scene frames) does
        assert (figs / data / "fig_face_alignment.png").stat().st_size > 10_000
        store = next((isolated_root / "cache" / "store").glob("synthetic_samm-*/index.csv"))
        assert (pd.read_csv(store, dtype=str).face_method == "none").all()
    for fig in ("confusion_matrices.png", "curves_learnet.png"):
        assert (figs / paper.name / fig).stat().st_size > 10_000, fig
    table = pd.read_csv(paper / "table1.csv")
    # every model x row, measured or marked: the paper's 4, 4 phase-aware rows x 2 test apexes,
    # the sign-robust control; on the CASME-II layout the flow companion extends the same run
    # with STSTNet and OFF-ApexNet and the 4 flow configurations
    assert len(table) == (8 * 17 if dataset == "synthetic_casme2" else 6 * 13)
    assert set(table.run) == {paper.name}
    handoff = res / "executed" / f"{dataset}-03_training_sweep.run"
    assert handoff.read_text().strip() == paper.name  # 04 tabulated the run 03 wrote
    measured = table[table.status == "measured"]
    # LEARNet on CPU: the paper's 4 + the 4 phase-aware rows x 2 test apexes (the sign-robust
    # control on CUDA), + on the CASME-II layout the flow companion's 2 flow cells
    flows = 2 if dataset == "synthetic_casme2" else 0
    assert set(measured.key_model) == {"learnet"} and len(measured) == 12 + flows
    additions = set(measured[measured.row != "paper"].key_configuration)
    assert additions == {c for c in measured.key_configuration if "eval" in c or "flow" in c}
    by_distance = pd.read_csv(paper / "apex_distance.csv")
    assert by_distance.accuracy.dropna().between(0, 100).all() and by_distance.predictions.sum()
    assert {"spearman_rho", "p"} <= set(pd.read_csv(paper / "apex_correlation.csv").columns)
    assert (paper / "apex_noise.csv").is_file() and (figs / paper.name / "apex_noise.png").is_file()
    assert measured.accuracy_mean.between(0, 100).all()
    others = set(table[table.key_model != "learnet"].status)  # the flow companion's models are
    assert others <= {"not run on this device", "not requested"}  # asked for its rows only
    md = (paper / "table1.md").read_text()
    assert md.startswith(f"Run {paper.name}") and "±" in md
    assert "\\begin{tabular}" in (paper / "table1.tex").read_text()
    sbs = pd.read_csv(paper / "table1_vs_paper.csv")
    assert sbs.accuracy_paper.notna().all()  # the paper's number beside every cell
    executed = sorted(res.glob("*/executed/*.ipynb"))  # each under the run it made
    companion = dataset == "synthetic_casme2"  # the SAMM leak-free run needs CUDA
    # leak-free (its own run) and flow (the paper's run): 03-04 each; pretrained: CUDA only
    assert len(executed) == len(NOTEBOOKS) + 4 * companion
    assert len(list((paper / "executed").glob("*.ipynb"))) == len(NOTEBOOKS) + 2 * companion
    assert len(runs) == 1  # no pretrained companion run on CPU
    if companion:
        (inner,) = res.glob("subject_kfold-*/run.json")  # the later run compares the two
        comparison = pd.read_csv(inner.parent / "protocol_comparison.csv")
        assert set(comparison.protocol) == {"kfold", "subject_kfold"}
        assert set(comparison.run) == {paper.name, inner.parent.name}
        png = figs / inner.parent.name / "protocol_comparison.png"
        assert png.stat().st_size > 10_000
    for nb in executed:
        cells = json.loads(nb.read_text())["cells"]
        assert any(c.get("outputs") for c in cells if c["cell_type"] == "code"), nb


def _pairing_problems(folder) -> list[str]:
    """Each notebook's .py and .ipynb hold the same cells; the fix is named in the message."""
    import jupytext

    out = []
    for nb in NOTEBOOKS:
        ipynb = json.loads((folder / f"{nb}.ipynb").read_text())
        paired = jupytext.read(folder / f"{nb}.py")
        if [c.source for c in paired.cells] != ["".join(c["source"]) for c in ipynb["cells"]]:
            out.append(
                f"notebooks/{nb}.py and .ipynb differ: run `make notebooks` (the .py is the "
                f"source) or `jupytext --sync notebooks/{nb}.ipynb` (if you edited the .ipynb)"
            )
    return out


def _filter_installed(path) -> bool:
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], capture_output=True, text=True, cwd=path.parent).stdout

    return "nbstripout" in git("check-attr", "filter", path.name) and bool(
        git("config", "filter.nbstripout.clean").strip()
    )


def test_notebooks_are_paired_stripped_and_have_a_kernel():
    from mer_utils.paths import notebooks_dir

    assert not _pairing_problems(notebooks_dir()), _pairing_problems(notebooks_dir())
    for nb in NOTEBOOKS:
        path = notebooks_dir() / f"{nb}.ipynb"
        ipynb = json.loads(path.read_text())
        assert ipynb["metadata"]["kernelspec"]["name"] == "mer_utils", nb
        code = [c for c in ipynb["cells"] if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"].get("tags", [])
        outputs = any(c["outputs"] or c["execution_count"] for c in code)
        assert not outputs or _filter_installed(path), (
            f"{path} holds outputs and git would commit them: run `make hooks` (installs the "
            "nbstripout filter) or `make notebooks` (rewrites it from the .py)"
        )


def test_a_save_in_lab_keeps_the_py_and_leaves_git_clean(tmp_path):
    """JupyterLab saves through jupytext's contents manager (outputs, language_info, counts):
    the .py stays byte-identical and, with `make hooks`, git sees no change."""
    import asyncio
    import shutil
    import subprocess

    import nbformat
    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
    from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class

    from mer_utils.paths import notebooks_dir, repo_root

    shutil.copytree(notebooks_dir(), tmp_path / "notebooks", ignore=shutil.ignore_patterns(".*"))
    shutil.copy(repo_root() / ".gitignore", tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    venv = repo_root() / ".venv"
    subprocess.run(
        ["make", "-f", str(repo_root() / "Makefile"), "hooks", f"VENV={venv}", f"PY={venv}/bin/python"],
        cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    for nb in NOTEBOOKS:  # what is committed is already clean: the filter changes nothing
        staged = subprocess.run(
            [*git, "show", f"HEAD:notebooks/{nb}.ipynb"], cwd=tmp_path, capture_output=True
        ).stdout
        assert staged == (notebooks_dir() / f"{nb}.ipynb").read_bytes(), nb
    py = (tmp_path / "notebooks" / "02_dynamic_images.py").read_bytes()
    cm = build_async_jupytext_contents_manager_class(AsyncLargeFileManager)(
        root_dir=str(tmp_path / "notebooks")
    )

    async def save_with_outputs() -> None:
        nb = (await cm.get("02_dynamic_images.ipynb"))["content"]
        nb.metadata["language_info"] = {"name": "python", "version": "3.11.9"}
        for i, c in enumerate(x for x in nb.cells if x.cell_type == "code"):
            c.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 1000)]
            c.execution_count = i + 1
        await cm.save(
            {"type": "notebook", "format": "json", "content": nb}, "02_dynamic_images.ipynb"
        )

    asyncio.run(save_with_outputs())
    saved = json.loads((tmp_path / "notebooks" / "02_dynamic_images.ipynb").read_text())
    assert any(c.get("outputs") for c in saved["cells"])  # the working copy has them
    assert (tmp_path / "notebooks" / "02_dynamic_images.py").read_bytes() == py
    # the filter strips what Lab added: nothing to commit (git status may still list the file,
    # size changed, until `git add` refreshes it; that adds nothing)
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    staged = subprocess.run([*git, "diff", "--cached", "--stat"], cwd=tmp_path, capture_output=True)
    assert staged.stdout == b"", staged.stdout
    assert not _pairing_problems(tmp_path / "notebooks")


def test_every_notebook_takes_every_config_with_types_help_and_config_defaults():
    # papermill -f configs/<any>.yaml passes no unknown parameter to any notebook, and
    # --help-notebook shows each parameter's type and one line of help
    import dataclasses

    import papermill as pm
    import yaml

    from mer_utils.config import Config, from_params
    from mer_utils.parameters import parameter_cell
    from mer_utils.paths import configs_dir, notebooks_dir

    names = {f.name for f in dataclasses.fields(Config)}
    for nb in NOTEBOOKS:
        declared = pm.inspect_notebook(str(notebooks_dir() / f"{nb}.ipynb"))
        assert names <= set(declared), f"{nb}: {sorted(names - set(declared))}"
        values = {k: eval(v["default"]) for k, v in declared.items() if k in names}
        assert from_params(values) == Config(), nb  # literals only, equal to Config's defaults
        for k, v in declared.items():
            assert v["help"] and v["inferred_type_name"] != "None", (nb, k)
        source = json.loads((notebooks_dir() / f"{nb}.ipynb").read_text())["cells"]
        cell = next(c for c in source if "parameters" in c["metadata"].get("tags", []))
        assert "".join(cell["source"]).startswith(parameter_cell()), (
            f"{nb}: its parameters cell is not Config's: run make notebooks (it regenerates "
            "the cell from Config and pairs the .ipynb)"
        )
        for cfg in configs_dir().rglob("*.yaml"):
            unknown = set(yaml.safe_load(cfg.read_text())) - set(declared)
            assert not unknown, f"{nb} would warn about {sorted(unknown)} from {cfg.name}"
