"""The run handle reads one run from its folder alone: notebook 04's route works with the dataset
and its cache gone, an old run.json (written by hand below) still opens, and make reproduce
hands notebook 03's run to notebook 04."""

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from mer_utils import datasets, store
from mer_utils.config import load_config
from mer_utils.configurations import DI_KINDS
from mer_utils.records import RECORD_SCHEMA
from mer_utils.run_handle import open_run, open_run_for
from mer_utils.sweep import run_sweep

TABLES = {"table1.csv", "table1.md", "table1.tex", "table1_vs_paper.csv", "claims.csv",
          "paired_tests.csv", "apex_distance.csv", "apex_correlation.csv", "apex_noise.csv"}  # fmt: skip


def _no_data(monkeypatch):
    """Any attempt to read the dataset or build a DI store fails the test."""

    def boom(*args, **kwargs):
        raise AssertionError("the run handle loaded the dataset")

    for mod, name in ((datasets, "open_dataset"), (datasets, "load_dataset"), (store, "build_store")):  # fmt: skip
        monkeypatch.setattr(mod, name, boom)


def test_notebook_04_route_needs_neither_the_dataset_nor_its_cache(isolated_root, monkeypatch):
    cfg = load_config(
        "smoke",
        models=["learnet", "resnet34"],
        configurations=["baseline", "dual_di", "dual_di_phase_eval"],
        cpu_grid={"models": ["learnet"]},
        epochs=1,
    )
    res = run_sweep(cfg, progress=False)
    shutil.rmtree(isolated_root / "cache")  # generated data, DI stores: all gone
    _no_data(monkeypatch)
    handle = open_run_for(cfg)  # no run named: the latest with these parameters
    assert handle.folder == res.run.folder and "the latest of 1 run(s)" in handle.chosen
    paths = handle.write_tables()
    assert set(paths) == TABLES and all(p.parent == res.run.folder for p in paths.values())
    table = pd.read_csv(paths["table1.csv"]).set_index(["key_model", "key_configuration"])
    assert table.status["learnet", "dual_di_phase_eval@spotted"] == "measured"
    assert table.status["resnet34", "dual_di_phase_eval@annotated"] == "not run on this device"
    assert table.status["learnet", "flip_rotate"] == "not requested"
    assert {p.name for p in handle.figures()} >= {"confusion_matrices.png", "curves_learnet.png", "apex_noise.png"}  # fmt: skip
    assert not (isolated_root / "cache" / "datasets").exists()
    named = open_run_for(dataclasses.replace(cfg, run=res.run.run_id[:4]))
    assert named.folder == res.run.folder and "named by run=" in named.chosen
    with pytest.raises(FileNotFoundError, match="no run under results/synthetic_casme2-smoke/"):
        open_run_for(load_config("smoke", lr=3e-4))  # another identity: no run matches


def _record(run_id, conf, fold, rng):
    """A fold record of 10 test clips, written by hand: logits of every stored DI kind."""
    y = rng.integers(0, 5, 10).tolist()
    scores = {k: rng.normal(size=(10, 5)).tolist() for k in DI_KINDS}
    params = dict(model="learnet", configuration=conf, seed=0, fold=fold, validation="paper",
                  protocol="kfold", pretrained_model=False, input_px=112)  # fmt: skip
    return dict(
        schema=RECORD_SCHEMA, run_id=run_id, params=params,
        split=dict(fold=fold, train=list(range(10, 50)), test=list(range(10))),
        y_true=y, y_pred=np.argmax(scores["full"], 1).tolist(), scores=scores,
        rel_apex=rng.uniform(0, 1, 10).tolist(),
        history=[dict(epoch=1, train_loss=1.5, val_loss=1.6)], best_epoch=1, wall_s=1.0,
        n_train_clips=40, provenance=dict(device="cpu: x86_64", git_sha="0" * 40),
        finished="2024-01-01T00:00:00", config={},
    )  # fmt: skip


def _old_run(root, run_id="0123abcd", dataset_dir="synthetic_casme2"):
    """A run folder as the sweep wrote it before requests said what was asked (run.json by
    hand, in that format: five keys per request), with learnet x (baseline, dual_di) x 2 folds."""
    folder = root / "results" / dataset_dir / f"kfold-paper-{run_id}"
    classes = ["disgust", "happiness", "others", "repression", "surprise"]
    identity = dict(dataset="synthetic_casme2", protocol="kfold", validation="paper", folds=2,
                    epochs=1, lr=0.0001, patience=2, batch_size=25, variant="paper",
                    pretrained=False, smoke=True, device_type="cpu", classes=classes,
                    dataset_fingerprint="f" * 20)  # fmt: skip
    request = dict(models=["learnet"], configurations=["baseline", "dual_di"], seeds=[0],
                   folds_run=2, n_splits=2)  # fmt: skip
    dataset = dict(name="synthetic_casme2", root="/gone", spreadsheet="/gone/sheet.xlsx",
                   clips=20, classes=classes, counts={c: 4 for c in classes},
                   fingerprint="f" * 20)  # fmt: skip
    info = dict(run_id=run_id, name="kfold · paper validation", folder=folder.name,
                identity=identity, created="2024-01-01T00:00:00.000000",
                updated="2024-01-01T00:00:00.000000", requests=[request], dataset=dataset,
                provenance={})  # fmt: skip
    rng = np.random.default_rng(0)
    for conf in request["configurations"]:
        for fold in range(2):
            path = folder / "runs" / "learnet" / conf / f"seed0-fold{fold}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(_record(run_id, conf, fold, rng)))
    (folder / "run.json").write_text(json.dumps(info))
    return folder


def test_an_old_run_json_written_by_hand_still_opens(isolated_root, monkeypatch):
    folder = _old_run(isolated_root)
    _no_data(monkeypatch)
    handle = open_run("0123")  # an id prefix, searched across datasets
    assert handle.folder == folder and handle.info.requests[0].skipped == ()
    table = handle.table1().set_index(["key_model", "key_configuration"])
    # an old request: its trained configurations and the rows their stored logits give
    for row in ("baseline", "dual_di", "dual_di_phase_eval@spotted", "dual_di_all_eval@annotated"):
        assert table.status["learnet", row] == "measured", row
    assert table.status["learnet", "flip_rotate"] == "not requested"
    assert "not run on this device" not in set(table.status)
    paths = handle.write_tables(isolated_root / "elsewhere")
    assert set(paths) == TABLES and (isolated_root / "elsewhere" / "claims.csv").is_file()
    assert handle.implied_counts()["this run's dataset"].iloc[0] == "20 clips (synthetic_casme2, sheet.xlsx)"  # fmt: skip


def test_a_run_with_no_valid_record_opens_and_writes_its_tables(isolated_root, monkeypatch):
    folder = _old_run(isolated_root)
    for path in (folder / "runs").rglob("*.json"):  # every record of an older schema
        path.write_text(json.dumps(json.loads(path.read_text()) | {"schema": RECORD_SCHEMA - 1}))
    _no_data(monkeypatch)
    handle = open_run(folder)
    assert handle.records.empty and "configuration" in handle.records  # columns kept
    assert handle.paired_tests().empty
    table = handle.table1().set_index(["key_model", "key_configuration"])
    assert table.status["learnet", "baseline"].startswith("incomplete (0 of 2 folds")
    assert set(handle.write_tables(isolated_root / "t")) <= TABLES


def test_a_run_key_that_names_none_or_several_runs_says_which_exist(isolated_root):
    _old_run(isolated_root, "0123abcd")
    _old_run(isolated_root, "0199abcd")
    with pytest.raises(FileNotFoundError, match="2 runs"):
        open_run("01")
    with pytest.raises(
        FileNotFoundError,
        match=r"no run .77.*runs: kfold-paper-01(23|99)abcd, kfold-paper-01(99|23)abcd",
    ):
        open_run("77", "synthetic_casme2")
    assert open_run("kfold-paper-0199abcd", "synthetic_casme2").info.run_id == "0199abcd"


def test_reproduce_hands_the_run_notebook_03_wrote_to_notebook_04(isolated_root, monkeypatch):
    from mer_utils import reproduce

    given = {}

    def execute(path, out, parameters, **kwargs):
        given[path.stem] = parameters
        if "run_file" in parameters:  # what notebook 03 does after its sweep
            with open(parameters["run_file"], "w") as f:
                f.write("kfold-paper-0123abcd\n")

    monkeypatch.setattr(reproduce.pm, "execute_notebook", execute)
    params = reproduce.parameters("synthetic_casme2", None, True, {})
    reproduce.run_notebooks("synthetic_casme2", reproduce.NOTEBOOKS[2:], params)
    assert given["04_results_tables"]["run"] == "kfold-paper-0123abcd"
    assert "run_file" not in given["04_results_tables"]
    reproduce.run_notebooks("synthetic_casme2", reproduce.NOTEBOOKS[3:], params)  # no 03 here
    assert "run" not in given["04_results_tables"]  # never a name left by an earlier call
