"""The doors to the composite: preflight checks each source root before any work, make
reproduce refuses a composite root lacking a source, and a synthetic composite runs LOSO end to
end into its composite table (pooled UF1/UAR overall and per source)."""

import subprocess
import sys

import pandas as pd
import pytest
import realistic
import realistic_megc

from mer_utils.config import Config
from mer_utils.preflight import check_data


def test_preflight_names_each_missing_source_and_accepts_three_roots(tmp_path):
    realistic_megc.smic_tree(tmp_path / "one" / "SMIC")
    (problem,) = check_data(Config(dataset="megc2019", data_root=str(tmp_path / "one")))
    assert "casme2 (CASME2/" in problem and "samm (SAMM/" in problem and "smic (SMIC" not in problem
    roots = dict(
        smic=str(realistic_megc.smic_tree(tmp_path / "a")),
        casme2=str(realistic.casme2_tree(tmp_path / "b")),
        samm=str(realistic.samm_tree(tmp_path / "c")),
    )
    assert check_data(Config(dataset="megc2019", data_roots=roots)) == []
    (tmp_path / "b" / "CASME2-coding-20190701.xlsx").unlink()
    (problem,) = check_data(Config(dataset="megc2019", data_roots=roots))
    assert problem.startswith("casme2: ") and "CASME2-coding" in problem


def test_make_reproduce_megc2019_stops_before_any_work_on_a_bad_root(tmp_path):
    cmd = [sys.executable, "-m", "mer_utils.reproduce", "--dataset", "megc2019",
           "--data-root", str(tmp_path)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "no copy of smic (SMIC/" in out.stderr
    assert "01_data_exploration" not in out.stdout


def _smoke_composite(protocol: str):
    """A smoke sweep (LEARNet Baseline, leak-free) of the synthetic composite -> (its
    SweepResult, the run's handle)."""
    from mer_utils.run_handle import open_run_for
    from mer_utils.sweep import run_sweep

    cfg = Config(
        dataset="synthetic_megc2019", protocol=protocol, validation="inner", smoke=True,
        models=("learnet",), configurations=("baseline",), pretrained=False,
    )  # fmt: skip
    return run_sweep(cfg, progress=False), open_run_for(cfg)


@pytest.mark.slow
def test_synthetic_composite_runs_loso_into_a_per_source_table(isolated_root):
    result, handle = _smoke_composite("loso")
    subjects = {r.split["fold"] for r in result.records}
    assert len(subjects) == len(result.records) >= 12  # one fold per subject, every subject
    paths = handle.write_tables()
    table = pd.read_csv(paths["composite.csv"])
    assert table.source.iloc[0] == "all" and set(table.source) == {"all", "samm", "smic", "casme2"}
    assert table[table.source != "all"].clips.sum() == table[table.source == "all"].clips.sum()
    first = paths["table1.md"].read_text().splitlines()[0]
    assert "pooled" in first and "LOSO" in first


def test_lodo_is_refused_outside_a_composite():
    from mer_utils.config import ConfigError

    with pytest.raises(ConfigError, match="protocol='lodo'.*composite"):
        Config(dataset="synthetic_casme2", protocol="lodo")
    assert Config(dataset="synthetic_megc2019", protocol="lodo").protocol == "lodo"


@pytest.mark.slow
def test_synthetic_composite_runs_lodo_one_fold_per_source(isolated_root):
    from mer_utils.runs import read_run_json

    result, handle = _smoke_composite("lodo")
    sources = read_run_json(handle.folder).dataset.sources
    tested = [{sources[i] for i in r.split["test"]} for r in result.records]
    trained = [{sources[i] for i in r.split["train"]} for r in result.records]
    assert sorted(map(sorted, tested)) == [["casme2"], ["samm"], ["smic"]]
    assert all(len(tr) == 2 and not tr & te for tr, te in zip(trained, tested, strict=True))
    paths = handle.write_tables()
    table = pd.read_csv(paths["composite.csv"]).set_index("source")
    assert table.loc["all", "clips"] == table.drop("all").clips.sum() == len(sources)
    assert "LODO" in paths["table1.md"].read_text().splitlines()[0]
