"""Registries by declaration, and plugin modules that reach every worker."""

from __future__ import annotations

import dataclasses
import os
import textwrap
from pathlib import Path

import pytest

import mer_utils.models  # noqa: F401  (loaded first: the registries fixture saves its builders too)
from mer_utils.augment import register_augmentation
from mer_utils.config import Config, ConfigError, load_config
from mer_utils.configurations import (
    REGISTRY as CONFIGURATIONS,
)
from mer_utils.configurations import (
    ConfigurationSpec,
    configuration_problems,
    register_configuration,
)
from mer_utils.dataset_specs import SPECS, dataset_problems, register_dataset
from mer_utils.model_specs import (
    DISPLAY,
    IMAGENET,
    ModelSpec,
    model_problems,
    register_model,
)
from mer_utils.model_specs import REGISTRY as MODELS
from mer_utils.plugins import PluginError, load_plugins, plugin_sources
from mer_utils.registry import RegistryError
from mer_utils.representations import RepresentationSpec, register_representation

RESNET18 = ModelSpec("resnet18", "ResNet-18", "resnet18.tv_in1k", 224, *IMAGENET, paper=False)


def test_the_built_in_entries_meet_the_rules_users_entries_meet():
    assert all(model_problems(s) == [] for s in MODELS.values())
    assert all(configuration_problems(s) == [] for s in CONFIGURATIONS.values())
    assert all(dataset_problems(s) == [] for s in SPECS.values())
    assert DISPLAY == {k: s.display for k, s in MODELS.items()}
    from mer_utils.dataset_specs import QUIRK_NAMES
    from mer_utils.synthetic.plan import QUIRKS

    assert tuple(QUIRKS) == QUIRK_NAMES  # what register_dataset accepts is what can be planted


@pytest.mark.parametrize(
    "register, table, entry",
    [
        (register_model, MODELS, dataclasses.replace(MODELS["resnet34"], display="other")),
        (register_configuration, CONFIGURATIONS, ConfigurationSpec("baseline", "other")),
        (register_dataset, SPECS, dataclasses.replace(SPECS["samm"], fps=100)),
        (register_representation, None, RepresentationSpec("di", "other", ("x",))),
    ],
)
def test_a_taken_name_is_refused_unless_replace(register, table, entry, registries):
    table = table if table is not None else registries["representations"]
    old = table[entry.name]
    with pytest.raises(RegistryError, match=f"'{entry.name}' is already registered.*replace=True"):
        register(entry)
    assert table[entry.name] is old  # nothing changed
    register(old)  # the same entry again (a module imported twice): fine
    assert register(entry, replace=True) is entry and table[entry.name] is entry


def test_an_augmentation_redefined_elsewhere_is_refused_but_a_rerun_cell_is_not(registries):
    def flip_rotate(x, gen):  # same name as the built-in, another function
        return x

    with pytest.raises(RegistryError, match="augmentation 'flip_rotate' is already registered"):
        register_augmentation("flip_rotate")(flip_rotate)
    for _ in range(2):  # a notebook cell run twice defines the same function again

        @register_augmentation("mine")
        def mine(x, gen):
            return x

    assert registries["augmentations"]["mine"] is mine


BAD = [
    (lambda: register_model(dataclasses.replace(RESNET18, paper=True)), "paper=True is for"),
    (lambda: register_model(dataclasses.replace(RESNET18, arch="")), "arch is empty"),
    (lambda: register_model(dataclasses.replace(RESNET18, input_size=100)), "multiple of 16"),
    (lambda: register_model(dataclasses.replace(RESNET18, std=(1, 0, 1))), "stds > 0"),
    (lambda: register_model(dataclasses.replace(RESNET18, name="a/b")), "name 'a/b' must be"),
    (
        lambda: register_configuration(ConfigurationSpec("j", "J", augment=("nope",), paper=False)),
        "augment: ['nope'] not registered",
    ),
    (
        lambda: register_configuration(ConfigurationSpec("j", "J", trained_as="nope", paper=False)),
        "trained_as='nope': not a registered configuration",
    ),
    (
        lambda: register_configuration(
            ConfigurationSpec("j", "J", eval_kinds=("onset",), trained_as="dual_di", paper=False)
        ),
        "train_kinds and augment must be its own",
    ),
    (lambda: register_configuration(ConfigurationSpec("j", "J")), "paper=True is for"),
    (
        lambda: register_configuration(ConfigurationSpec("j", "J", ("apex",), paper=False)),
        "train_kinds=('apex',)",
    ),
    (lambda: register_configuration(ConfigurationSpec("a@b", "J", paper=False)), "name 'a@b'"),
    (
        lambda: register_dataset(dataclasses.replace(SPECS["casme2"], name="x", classes=())),
        "classes",
    ),
    (
        lambda: register_dataset(dataclasses.replace(SPECS["casme2"], name="synthetic_x")),
        "not starting with 'synthetic_'",
    ),
    (
        lambda: register_dataset(
            dataclasses.replace(SPECS["casme2"], name="x", classes=("Other", "a"))
        ),
        "lower case",
    ),
    (
        lambda: register_augmentation("j", representation="flow")(lambda x, gen: x),
        "representation 'flow' unknown",
    ),
    (lambda: register_augmentation("j")(lambda x: x), "must be callable as fn(x, gen)"),
]


@pytest.mark.parametrize("call, why", BAD, ids=[w for _, w in BAD])
def test_a_bad_entry_is_refused_with_one_line_naming_it(call, why, registries):
    before = {k: dict(v) for k, v in registries.items()}
    with pytest.raises(RegistryError) as e:
        call()
    assert why in str(e.value) and "\n" not in str(e.value)
    assert {k: dict(v) for k, v in registries.items()} == before


# ------------------------------------------------------------------------------------ plugins

PLUGIN = '''
import os
import torch
from mer_utils.augment import register_augmentation
from mer_utils.configurations import ConfigurationSpec, register_configuration
from mer_utils.model_specs import IMAGENET, ModelSpec, register_model

with open({log!r}, "a") as f:
    f.write(f"import {{os.getpid()}}\\n")

register_model(
    ModelSpec("resnet18_plugin", "ResNet-18 (plugin)", "resnet18.tv_in1k", 224, *IMAGENET,
              pretrained=False, paper=False)
)


@register_augmentation("plugin_brightness")
def brightness(x, gen):
    """Per sample, every channel times one factor in [0.9, 1.1]."""
    with open({log!r}, "a") as f:
        f.write(f"augment {{os.getpid()}}\\n")
    f = 0.9 + 0.2 * torch.rand(x.shape[0], 1, 1, 1, generator=gen, device=x.device)
    return x * f


register_configuration(
    ConfigurationSpec("plugin_brightness", "Baseline + Brightness", augment=("plugin_brightness",),
                      paper=False)
)
'''


def _write_plugin(folder: Path, name: str) -> tuple[Path, Path]:
    """A plugin module ``name`` in ``folder`` (a ResNet-18, an augmentation, a configuration
    using it) that logs each import and each augmented batch with its pid."""
    log = folder / f"{name}.log"
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(PLUGIN.format(log=str(log))))
    return path, log


def _events(log: Path, kind: str) -> list[int]:
    lines = log.read_text().split("\n") if log.is_file() else []
    return [int(ln.split()[1]) for ln in lines if ln.startswith(kind)]


def test_a_plugin_file_is_imported_once_before_the_config_validates(
    tmp_path, registries, monkeypatch
):
    path, log = _write_plugin(tmp_path, "mer_plugin_file")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="models=.*resnet18_plugin"):
        Config(models=["resnet18_plugin"])  # without the plugin: unknown
    cfg = Config(models=["resnet18_plugin"], configurations=["plugin_brightness"],
                 plugins=["mer_plugin_file.py"])  # fmt: skip
    assert cfg.plugins == (str(path),)  # absolute: a worker elsewhere finds the same file
    cfg.effective(), load_plugins(cfg.plugins), Config(plugins=[str(path)])
    assert _events(log, "import") == [os.getpid()]  # once per process
    assert DISPLAY["resnet18_plugin"] == "ResNet-18 (plugin)"
    assert plugin_sources(cfg.plugins) == {str(path): _sha16(path)}


def _sha16(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def test_a_plugin_module_name_is_imported_from_sys_path(tmp_path, registries, monkeypatch):
    _write_plugin(tmp_path, "mer_plugin_mod")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = Config(models=["resnet18_plugin"], plugins="mer_plugin_mod")
    assert cfg.plugins == ("mer_plugin_mod",) and "resnet18_plugin" in MODELS


def test_registries_are_restored_and_plugins_forgotten_after_isolation(tmp_path, monkeypatch):
    from mer_utils.plugins import isolated_registries

    path, log = _write_plugin(tmp_path, "mer_plugin_iso")
    for _ in range(2):
        with isolated_registries():
            load_plugins([str(path)])
            assert "plugin_brightness" in CONFIGURATIONS
        assert "plugin_brightness" not in CONFIGURATIONS and "resnet18_plugin" not in DISPLAY
    assert len(_events(log, "import")) == 2  # forgotten, so imported (and registered) again


@pytest.mark.parametrize(
    "plugins, says",
    [
        (["no_such_plugin_mod"], "plugins: plugin 'no_such_plugin_mod': no such module"),
        (["no/such/file.py"], "no such file; give the path of your plugin's .py file"),
        ([""], "an empty name"),
    ],
)
def test_a_plugin_that_cannot_be_imported_is_one_line_with_the_fix(plugins, says):
    with pytest.raises(ConfigError) as e:
        Config(plugins=plugins)
    assert says in str(e.value) and "\n" not in str(e.value)
    if "module" in says:
        assert "PYTHONPATH" in str(e.value) and "plugins: [path/to/no_such_plugin_mod.py]" in str(
            e.value
        )


def test_a_plugin_that_fails_names_its_line_and_changes_nothing(tmp_path, registries):
    needs = tmp_path / "mer_plugin_needs.py"
    needs.write_text("import mer_surely_not_installed_pkg\n")
    with pytest.raises(
        PluginError,
        match=r"imports 'mer_surely_not_installed_pkg' \(at .*:1\), which is not installed",
    ):
        load_plugins([str(needs)])
    clash = tmp_path / "mer_plugin_clash.py"
    clash.write_text(
        "from mer_utils.model_specs import IMAGENET, ModelSpec, register_model\n"
        "register_model(ModelSpec('mine', 'Mine', 'resnet18', 224, *IMAGENET, paper=False))\n"
        "register_model(ModelSpec('resnet34', 'Mine', 'resnet18', 224, *IMAGENET, paper=False))\n"
    )
    with pytest.raises(PluginError) as e:
        load_plugins([str(clash)])
    assert f"at {clash}:3: RegistryError: model 'resnet34' is already registered" in str(e.value)
    assert "mine" not in MODELS and "mine" not in DISPLAY  # its first entry rolled back too


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["processes", "slurm"])
def test_a_plugin_backbone_and_augmentation_train_in_every_worker(
    executor, tmp_path, isolated_root, registries, monkeypatch
):
    """The plugin is named in ``plugins``, never imported by hand: the workers (spawned
    processes; submitit's local jobs, the SLURM path without SLURM) import it themselves.
    processes: a module name on the parent's sys.path; slurm: a file path."""
    from mer_utils.sweep import run_sweep

    path, log = _write_plugin(tmp_path, f"mer_plugin_e2e_{executor}")
    if executor == "processes":
        monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers get the parent's sys.path
        plugin, extra = path.stem, {"workers": 2}
    else:
        plugin, extra = str(path), {"slurm": {"cluster": "local", "timeout_min": 10}}
    cfg = load_config("smoke", models=["resnet18_plugin"], configurations=["plugin_brightness"],
                      plugins=[plugin], executor=executor, epochs=1, threads=1,
                      input_size={"resnet18_plugin": 64}, **extra)  # fmt: skip
    res = run_sweep(cfg, progress=False)
    assert res.counts["trained"] == len(res.records) == 2  # 2 folds of the smoke grid
    assert {r.params["model"] for r in res.records} == {"resnet18_plugin"}
    assert {r.params["configuration"] for r in res.records} == {"plugin_brightness"}
    workers = set(_events(log, "augment"))
    assert workers and os.getpid() not in workers  # trained, augmented, in the workers
    assert workers <= set(_events(log, "import"))


def test_a_builder_name_is_not_taken_over_silently(registries):
    from mer_utils.models import BUILDERS, register_builder
    from mer_utils.registry import RegistryError

    assert "model builders" in registries  # restored after the test (models loaded by then)

    def other(spec, num_classes, drop_rate):
        raise AssertionError("never built")

    with pytest.raises(RegistryError, match="builder 'learnet' is already registered"):
        register_builder("learnet")(other)
    assert BUILDERS["learnet"] is not other
    register_builder("learnet", replace=True)(other)  # on purpose: allowed, and undone after
    assert BUILDERS["learnet"] is other
