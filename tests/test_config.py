"""Parameters work from every door (Python, YAML, papermill -p, --set) and bad ones are all
reported at once, naming the parameter and what it accepts."""

import subprocess
import sys
from pathlib import Path

import pytest

from mer_utils.config import Config, ConfigError, from_namespace, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_text_values_from_papermill_and_set_are_parsed_like_yaml():
    c = from_namespace(
        dict(
            models="learnet",
            configurations="[baseline, dual_di]",
            synthetic_size="[40, 32]",
            lr="1e-4",
            seeds="0",
            pretrained="false",
            epochs="3",
            cpu_grid="{models: [learnet]}",
        )
    )
    assert c.models == ("learnet",) and c.configurations == ("baseline", "dual_di")
    assert c.synthetic_size == (40, 32) and c.lr == 1e-4 and isinstance(c.lr, float)
    assert c.seeds == (0,) and c.pretrained is False and c.epochs == 3
    assert c.cpu_grid == {"models": ["learnet"]}
    assert Config(models=["learnet"]) == Config(models="learnet") == Config(models=("learnet",))


def test_every_problem_is_reported_at_once_with_the_accepted_values():
    with pytest.raises(ConfigError) as e:
        Config(models="lernet", folds=1, lr="fast", device="gpu", variant="x", epochs=2.5)
    msg = str(e.value)
    for part in (
        "models=['lernet']",
        "learnet",
        "folds=1: must be >= 2",
        "lr='fast'",
        "device='gpu'",
    ):
        assert part in msg
    assert "variant='x'" in msg and "epochs=2.5" in msg


@pytest.mark.parametrize(
    "field, value",
    [("protocol", "kfolds"), ("validation", "test"), ("apex_policy", "guess"), ("dataset", "4dme")],
)
def test_enumerated_fields_are_checked_at_construction(field, value):
    with pytest.raises(ConfigError, match=f"{field}="):
        Config(**{field: value})


def test_cpu_grid_keeps_only_requested_cells_without_cuda():
    grid = {"models": ["learnet"], "configurations": ["baseline", "dual_di"]}
    c = load_config("synthetic_casme2_leakfree", cpu_grid=grid)
    assert c.grid_on(cuda=False) == (("learnet",), ("baseline", "dual_di"))
    assert c.grid_on(cuda=True) == (c.models, c.configurations)


def test_reproduce_checks_every_run_before_any_work():
    out = subprocess.run(
        [sys.executable, "-m", "mer_utils.reproduce", "--set", "models=lernet", "--set", "folds=1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "models=['lernet']" in out.stderr and "folds=1" in out.stderr
    assert "01_data_exploration" not in out.stdout  # nothing ran


def test_papermill_p_with_single_names_and_yaml_text(tmp_path):
    env_root = tmp_path / "root"
    cmd = [
        sys.executable,
        "-m",
        "papermill",
        str(ROOT / "notebooks" / "03_training_sweep.ipynb"),
        str(tmp_path / "out.ipynb"),
        "-p", "models", "learnet",
        "-p", "configurations", "baseline",
        "-p", "synthetic_size", "[40, 32]",
        "-p", "epochs", "1",
        "-p", "smoke", "True",
        "--cwd", str(ROOT / "notebooks"),
    ]  # fmt: skip
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**_env(), "MER_ROOT": str(env_root)}
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(list(env_root.rglob("seed0-fold*.json"))) == 2  # learnet x baseline x 2 folds


def _env():
    import os

    return {**os.environ, "HF_HUB_OFFLINE": "1"}


def test_input_size_is_a_checked_per_model_override():
    c = from_namespace(dict(input_size="{efficientnet_lite0: 112}"))
    assert c.input_size == {"efficientnet_lite0": 112}
    for bad in ({"vit_b16": 112}, {"learnet": 32}, {"efficientnet_lite0": 100}, {"resnet": 112}):
        with pytest.raises(ConfigError, match="input_size="):
            Config(input_size=bad)


def test_reproduce_runs_the_pretrained_companion_only_when_something_fine_tunes():
    from mer_utils.reproduce import plan

    steps = [name for name, _, _ in plan("synthetic_casme2", None, True, {})]
    # the pretrained companion: CUDA only; the flow companion has a CPU grid
    assert steps == ["synthetic_casme2", "synthetic_casme2_leakfree", "synthetic_casme2_flow"]
    steps = [name for name, _, _ in plan("synthetic_casme2", None, True, {"cpu_grid": {}})]
    assert steps == [
        "synthetic_casme2",
        "synthetic_casme2_leakfree",
        "synthetic_casme2_pretrained",
        "synthetic_casme2_flow",
    ]
    scratch = {"models": ["learnet"], "pretrained": False, "cpu_grid": {}}
    steps = [name for name, _, _ in plan("synthetic_casme2", None, True, scratch)]
    assert "synthetic_casme2_pretrained" not in steps


def test_the_flow_companion_extends_the_paper_run_and_checks_its_algorithm(monkeypatch):
    from mer_utils import flow, preflight
    from mer_utils.runs import identity

    paper, comp = load_config("synthetic_casme2"), load_config("synthetic_casme2_flow")
    assert identity(paper, "f", ("a",), "cpu") == identity(comp, "f", ("a",), "cpu")
    assert comp.grid_on(cuda=False) == (  # STSTNet on CUDA: 50 epochs do not fit the CPU budget
        ("learnet",),
        ("baseline", "dual_di", "flow_baseline", "flow_dual"),
    )
    monkeypatch.setattr(flow.cv2, "optflow", None, raising=False)  # an OpenCV without contrib
    assert (
        preflight.check_flow(load_config("synthetic_casme2_flow", flow_algorithm="dis"), False)
        == []
    )
    (problem,) = preflight.check_flow(
        load_config("synthetic_casme2_flow", flow_algorithm="tvl1"), False
    )
    assert "opencv-contrib-python-headless" in problem
    assert preflight.check_flow(load_config("synthetic_casme2", flow_algorithm="tvl1"), False) == []


def test_gpu_full_on_a_machine_without_cuda_stops_at_the_preflight(tmp_path):
    import os
    import subprocess
    import sys

    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: gpu_full would run")
    env = {**os.environ, "MER_ROOT": str(tmp_path)}
    cmd = [sys.executable, "-m", "mer_utils.sweep", "--config", "gpu_full"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "device=cuda but this machine has no CUDA GPU" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "cache").exists()  # before any work


def test_every_field_is_read_by_its_annotation():
    import dataclasses

    from mer_utils import config

    kinds = {f.name: config._kind(str(f.type)) for f in dataclasses.fields(Config)}
    assert kinds["seeds"] == "ints" and kinds["models"] == "names" and kinds["weights"] == "mapping"
    assert kinds["lr"] == "float" and kinds["folds"] == "int" and kinds["smoke"] == "bool"
    assert Config(seeds="[1, 2]", folds="3", smoke="true").seeds == (1, 2)
    with pytest.raises(TypeError, match="no reader"):
        config._kind("list[str]")  # a field typed so would need a reader first


def test_every_field_says_whether_it_is_part_of_the_run_and_has_one_line_of_help():
    import dataclasses

    from mer_utils.config import field_help, run_fields
    from mer_utils.runs import identity

    for f in dataclasses.fields(Config):
        assert isinstance(f.metadata.get("run"), bool), f"Config.{f.name}: say run=True/False"
        text = f.metadata.get("help", "")
        assert text and "=" not in text and "\n" not in text, f"Config.{f.name}: one line of help"
    from mer_utils.runs import FACE_FIELDS

    ident = identity(Config(), "f" * 20, ("a",), "cpu")
    # face: none is the key runs had before `face` existed (test_face_none_keeps_...), and the
    # default flow algorithm and the dataset's own class task are left out: runs made before
    # these fields keep their id
    assert set(run_fields()) - set(FACE_FIELDS) - {"flow_algorithm", "task"} <= set(ident)
    assert (
        "flow_algorithm" not in ident
        and "task" not in ident
        and "seeds" not in ident
        and "models" not in ident
    )
    assert set(ident) - set(run_fields()) == {"dataset_fingerprint", "classes", "device_type", "face_crop"}  # fmt: skip
    ident = identity(Config(dataset="synthetic_samm", flow_algorithm="dis"), "f" * 20, ("a",), "cpu")  # fmt: skip
    assert set(run_fields()) - {"task"} <= set(ident) and ident["flow_algorithm"] == "dis"
    assert "smoke" in field_help() and list(field_help())[0] == "smoke"  # a quick look, first


def test_sweep_help_lists_every_parameter_with_its_help(capsys):
    from mer_utils.config import field_help
    from mer_utils.sweep import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name, text in field_help().items():
        assert f"{name}:" in out and " ".join(text.split()) in out, name


def test_configs_say_only_what_differs_from_their_base(tmp_path):
    from mer_utils.config import read_params
    from mer_utils.model_specs import PAPER_MODELS
    from mer_utils.paths import configs_dir

    cfg = load_config("synthetic_casme2_leakfree")  # -> base/leakfree -> base/paper
    assert cfg.protocol == "subject_kfold" and cfg.validation == "inner" and not cfg.pretrained
    assert cfg.models == PAPER_MODELS and "sign_robust" not in cfg.configurations
    assert cfg.epochs == 50 and cfg.cpu_grid == {  # base/leakfree's own, over base/paper's
        "models": ["learnet"],
        "configurations": ["baseline", "dual_di", "dual_di_phase_eval"],
    }
    lists = [p for p in configs_dir().rglob("*.yaml") if "vit_b16" in p.read_text()]
    assert lists == [], f"the six-model list is spelled out in {lists}: use models: paper"
    (tmp_path / "a.yaml").write_text(f"base: {tmp_path / 'b.yaml'}\nepochs: 3\n")
    (tmp_path / "b.yaml").write_text(f"base: {tmp_path / 'a.yaml'}\nlr: 0.1\n")
    with pytest.raises(ConfigError, match="chain loops"):
        read_params(tmp_path / "a.yaml")


def test_named_groups_expand_in_models_configurations_and_cpu_grid():
    from mer_utils.configurations import CONFIGURATIONS, REGISTRY

    c = Config(
        models="paper", configurations="paper+additions", cpu_grid={"configurations": ["paper"]}
    )
    flow = tuple(n for n, s in REGISTRY.items() if s.representation == "flow")
    assert len(flow) == 4 and not set(flow) & set(c.configurations)  # the DI grid is unchanged
    assert len(c.models) == 6 and c.configurations + flow == tuple(REGISTRY)
    assert Config(configurations="paper+additions+flow").configurations == tuple(REGISTRY)
    assert Config(configurations="flow").configurations == flow
    assert c.cpu_grid == {"configurations": list(CONFIGURATIONS)}
    with pytest.raises(ConfigError, match="configurations"):
        Config(configurations="paper+nonsense")


def test_papermill_f_with_a_base_gives_the_same_config_as_load_config():
    """papermill -f configs/<x>.yaml injects only the file's keys (base: included) over the
    notebook's defaults: the notebook must resolve the base exactly as load_config does."""
    import dataclasses

    import yaml

    from mer_utils.paths import configs_dir

    defaults = {f.name: getattr(Config(), f.name) for f in dataclasses.fields(Config)}
    for path in sorted(configs_dir().rglob("*.yaml")):
        injected = yaml.safe_load(path.read_text()) or {}
        via_notebook = from_namespace({**defaults, **injected})
        assert via_notebook == load_config(path), path.name


def test_face_replaces_face_crop_and_defaults_by_the_frame_layout(tmp_path):
    from mer_utils.config import from_namespace, from_params

    assert Config(dataset="casme2").face_method == "none"  # Cropped/: already faces
    assert Config(dataset="casme2", frames="raw").face_method == "facemesh"  # whole scenes
    assert Config(dataset="samm").face_method == "facemesh"
    assert Config(dataset="synthetic_samm").face_method == "facemesh"  # the layout's frames
    assert Config(dataset="synthetic_casme2").face_method == "none"
    # the shipped synthetic SAMM configs keep whole frames: FaceMesh misses a third of the drawn
    # faces at 480x325 (configs/synthetic_samm.yaml says how it was measured)
    assert load_config("synthetic_samm").face_method == "none"
    assert load_config("samm").face_method == "facemesh"
    assert Config(dataset="samm", face="none").face_params() is None
    p = Config(dataset="casme2", face="mtcnn", face_size=160, face_margin=0.2).face_params()
    assert (p.method, p.size, p.margin, p.on_miss) == ("mtcnn", 160, 0.2, "full_frame")
    old = tmp_path / "old.yaml"
    old.write_text("dataset: samm\nface_crop: true\n")
    for call in (
        lambda: load_config(old),
        lambda: from_params(dict(face_crop=False)),
        lambda: from_namespace(dict(face_crop=True, dataset="samm")),  # papermill -f old.yaml
    ):
        with pytest.raises(ConfigError, match="face_crop was replaced by face: use face: none") as e:  # fmt: skip
            call()
        assert "\n" not in str(e.value) and "face: haar" in str(e.value)
    with pytest.raises(ConfigError, match="face_on_miss='drop'"):
        Config(face_on_miss="drop")
    with pytest.raises(ConfigError, match="face='dlib'"):
        Config(face="dlib")
    with pytest.raises(ConfigError, match="face_size=8"):
        Config(face_size=8)


def test_face_none_keeps_the_run_id_of_face_crop_false_and_a_face_method_makes_a_new_run():
    from mer_utils.runs import make_run

    def rid(**kw):
        return make_run(Config(**kw), "f" * 20, ("a",), "cpu").run_id

    # computed on main at 0bf4d04, before `face` replaced `face_crop: false`: the same runs
    # (uncropped frames) keep their ids and records. Adding any run field changes these.
    assert rid() == "ce988680" and rid(dataset="casme2") == "0c9c9fc5"
    assert rid(face="none", face_size=112) == rid()  # crop fields do nothing without a face
    samm = rid(dataset="samm")
    assert samm == rid(dataset="samm", face="facemesh")  # auto is resolved before hashing
    others = {rid(dataset="samm", **kw) for kw in (dict(face="none"), dict(face="haar"),
              dict(face_size=112), dict(face_margin=0.3), dict(face_on_miss="previous_box"))}  # fmt: skip
    assert len(others) == 5 and samm not in others


def test_preflight_names_a_missing_face_package_with_every_other_problem(tmp_path, monkeypatch):
    import threading

    from mer_utils import faces as F
    from mer_utils import preflight

    def missing():
        raise ImportError("No module named 'mediapipe'")

    info = F.METHODS["facemesh"]
    monkeypatch.setitem(F.METHODS, "facemesh", F.MethodInfo("facemesh", missing, info.package, info.licence, info.landmarks, info.install))  # fmt: skip
    monkeypatch.setattr(F, "_local", threading.local())  # no detector built before
    cfg = Config(dataset="samm", data_root=str(tmp_path / "nowhere"), models=["learnet"])
    with pytest.raises(preflight.PreflightError) as e:
        preflight.check([cfg], cuda=False)
    lines = str(e.value).splitlines()
    assert lines[0].startswith("2 problem(s)") and "nowhere" in lines[1]
    assert "face=auto (samm: facemesh)" in lines[2] and "requirements-faces.txt" in lines[2]
    assert preflight.check_faces(Config(dataset="samm", face="none")) == []
    assert preflight.check_faces(Config(dataset="samm", face="haar")) == []


def test_reproduce_runs_the_composites_protocol_ladder_after_it():
    from mer_utils.reproduce import plan

    for ds in ("synthetic_megc2019", "megc2019"):
        root = None if ds.startswith("synthetic") else "/nonexistent"
        steps = plan(ds, root, True, {})
        assert [s[0] for s in steps] == [ds, f"{ds}_ladder_oracle", f"{ds}_ladder_paper"]
        rungs = [load_config(name, **params).validation for name, _, params in steps]
        assert rungs == ["inner", "oracle", "paper"]
        same = [{k: v for k, v in p.items() if k != "validation"} for _, _, p in steps]
        assert same[0] == same[1] == same[2]  # nothing but the rung differs


def test_a_class_task_is_checked_against_the_dataset_and_keeps_old_run_ids():
    from mer_utils.runs import identity

    assert Config(dataset="synthetic_casme3", task="4class").task == "4class"
    for ds, task in (("synthetic_casme2", "3class"), ("synthetic_mmew", "4class"),
                     ("synthetic_megc2019", "3class")):  # fmt: skip
        with pytest.raises(ConfigError, match=f"task='{task}'"):
            Config(dataset=ds, task=task)
    plain = identity(Config(dataset="synthetic_mmew"), "f", ("a",), "cpu")
    assert "task" not in plain  # the dataset's own classes: ids made before the field hold
    assert identity(Config(dataset="synthetic_mmew", task="3class"), "f", ("a",), "cpu")["task"]
