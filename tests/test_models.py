"""Registry, weight loading (local files, VGG-Face converter, offline error) and LEARNet."""

import time

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from mer_utils import model_specs, models
from mer_utils.learnet import LEARNet
from mer_utils.models import (
    REGISTRY,
    Normalizer,
    WeightsError,
    convert_vggface,
    create_model,
    get_spec,
)


@pytest.fixture(autouse=True)
def _fresh_weight_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: nothing to find offline
    models._backbone_state.cache_clear()


def test_display_names_match_table1():
    assert [s.display for s in REGISTRY.values() if s.paper] == [
        "VGGFace",
        "VGG-19",
        "ResNet-34",
        "EfficientNet-B0",
        "ViT-B16",
        "LEARNet",
    ]


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_entry_builds_and_runs_a_forward_pass(name):
    spec = get_spec(name)
    model = create_model(name, num_classes=5, pretrained=False).eval()
    x = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    with torch.no_grad():
        out = model(Normalizer(spec)(x))
    assert out.shape == (2, 5) and torch.isfinite(out).all()


def test_normalizer_uses_each_models_convention():
    x = torch.full((1, 3, 224, 224), 255, dtype=torch.uint8)
    vf = Normalizer(get_spec("vggface"))(x)
    assert torch.allclose(vf[0, :, 0, 0], 255 - torch.tensor(model_specs.VGGFACE_MEAN))
    rn = Normalizer(get_spec("resnet34"))(x)
    assert torch.allclose(
        rn[0, :, 0, 0],
        (1 - torch.tensor(model_specs.IMAGENET[0])) / torch.tensor(model_specs.IMAGENET[1]),
    )
    assert Normalizer(get_spec("learnet"))(x).shape[-1] == 112  # resized to its input size


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_local_file_round_trip_with_a_different_head(tmp_path, fmt):
    src = timm.create_model("resnet34", pretrained=False, num_classes=1000)
    path = tmp_path / f"resnet34.{fmt}"
    if fmt == "pth":
        torch.save(src.state_dict(), path)
    else:
        save_file(src.state_dict(), str(path))
    m = create_model("resnet34", num_classes=5, weights=path)
    got, want = m.state_dict(), src.state_dict()
    backbone = [k for k in want if not k.startswith("fc.")]
    assert all(torch.equal(got[k], want[k]) for k in backbone)
    assert m.fc.weight.shape == (5, 512)
    m2 = create_model("resnet34", num_classes=5, weights=path)  # read once, then copied
    assert (
        models._backbone_state.cache_info().hits == 1
        and m2.fc.weight.data_ptr() != m.fc.weight.data_ptr()
    )


def _fake_vgg_face_dag() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    shapes = {}
    chans = [
        (3, 64),
        (64, 64),
        (64, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 256),
        (256, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
    ]
    names = [
        f"conv{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for i in range(1, n + 1)
    ]
    for n, (cin, cout) in zip(names, chans, strict=True):
        shapes[f"{n}.weight"], shapes[f"{n}.bias"] = (cout, cin, 3, 3), (cout,)
    shapes.update(
        {
            "fc6.weight": (4096, 25088),
            "fc6.bias": (4096,),
            "fc7.weight": (4096, 4096),
            "fc7.bias": (4096,),
            "fc8.weight": (2622, 4096),
            "fc8.bias": (2622,),
        }
    )
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}


def test_vggface_converter_builds_the_network_the_dag_file_describes(tmp_path):
    """Distinct random tensors in every slot of a vgg_face_dag.pth; the converted model must
    compute what VGG-16 with those tensors computes, written out here from the layer names
    alone (conv blocks of 2, 2, 3, 3, 3 3x3 convs, each block max-pooled, then fc6, fc7): a
    tensor in the wrong slot, a wrong reshape of fc6 or a dropped layer changes the output."""
    dag = _fake_vgg_face_dag()
    dag = {k: v / (v[0].numel() ** 0.5 if v.dim() > 1 else 10) for k, v in dag.items()}
    path = tmp_path / "vgg_face_dag.pth"
    torch.save(dag, path)
    m = create_model("vggface", num_classes=5, weights=path).eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    ref = x
    for block, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)):
        for i in range(1, n + 1):
            w, b = dag[f"conv{block}_{i}.weight"], dag[f"conv{block}_{i}.bias"]
            ref = F.relu(F.conv2d(ref, w, b, padding=1))
        ref = F.max_pool2d(ref, 2)
    ref = F.relu(F.linear(ref.flatten(1), dag["fc6.weight"], dag["fc6.bias"]))
    ref = F.relu(F.linear(ref, dag["fc7.weight"], dag["fc7.bias"]))
    with torch.no_grad():
        got = m.forward_head(m.forward_features(x), pre_logits=True).flatten(1)
    assert ref.abs().max() > 0 and torch.allclose(got, ref, rtol=1e-4, atol=1e-4 * ref.abs().max())
    assert m.state_dict()["head.fc.weight"].shape == (5, 4096)
    assert "fc8.weight" not in convert_vggface(dag)  # the 2622 identities are not kept


def test_vggface_without_file_says_which_file():
    with pytest.raises(WeightsError, match="vgg_face_dag.pth"):
        create_model("vggface", num_classes=5, pretrained=True)


def test_offline_hub_error_is_fast_and_names_the_hub_id():
    t0 = time.perf_counter()
    with pytest.raises(WeightsError, match=r"resnet34.tv_in1k.*HF_HUB_OFFLINE.*weights=PATH"):
        create_model("resnet34", num_classes=5, pretrained=True)
    assert time.perf_counter() - t0 < 10


def test_learnet_shapes_and_parameter_count():
    net = LEARNet(5).eval()
    n = sum(p.numel() for p in net.parameters())
    assert abs(n - 1.87e6) < 0.02e6, n
    x = torch.randn(2, 3, 112, 112)
    s = net.stem(x)
    assert s.shape == (2, 16, 56, 56)
    y1, (a, b) = net.b1(s)
    assert a.shape[-1] == 28 and b.shape[-1] == 14 and y1.shape == (2, 64, 7, 7)
    assert net.conv(torch.zeros(1, 256, 7, 7)).shape == (1, 256, 4, 4)
    assert net(x).shape == (2, 5)


def test_offline_lite0_weights_are_real_imagenet_weights(monkeypatch, tmp_path):
    """scikit-image's coffee() photo is top-1 'espresso' (ImageNet 967) with the packaged
    EfficientNet-Lite0 weights and their ImageNet head, offline."""
    import torch.nn.functional as F
    from skimage.data import coffee

    monkeypatch.setenv("MER_ROOT", str(tmp_path))  # the converted file goes to this cache
    model = create_model("efficientnet_lite0", num_classes=1000, pretrained=True).eval()
    x = torch.from_numpy(coffee()).permute(2, 0, 1)[None]
    x = F.interpolate(x.float(), size=(224, 224), mode="bilinear", antialias=True)
    with torch.no_grad():
        p = model(Normalizer(get_spec("efficientnet_lite0"))(x)).softmax(1)
    assert p.argmax().item() == 967 and p.max().item() > 0.5
    assert (tmp_path / "cache" / "weights" / "efficientnet_lite0-timm.safetensors").is_file()


def test_lite0_with_five_classes_reinitialises_only_the_head(monkeypatch, tmp_path):
    monkeypatch.setenv("MER_ROOT", str(tmp_path))
    torch.manual_seed(0)
    tuned = create_model("efficientnet_lite0", num_classes=5, pretrained=True).state_dict()
    imagenet = create_model("efficientnet_lite0", num_classes=1000, pretrained=True).state_dict()
    scratch = create_model("efficientnet_lite0", num_classes=5, pretrained=False).state_dict()
    body = [k for k in tuned if not k.startswith("classifier.")]
    assert all(torch.equal(tuned[k], imagenet[k]) for k in body)
    assert not torch.equal(tuned["conv_stem.weight"], scratch["conv_stem.weight"])
    assert tuned["classifier.weight"].shape == (5, 1280)


def test_vgg_classifiers_keep_the_originals_dropout_unless_configured():
    from torch import nn

    def rates(model):
        return sorted(m.p for m in model.modules() if isinstance(m, nn.Dropout))

    assert rates(create_model("vgg19", 5, pretrained=False)) == [0.5, 0.5]  # after fc6 and fc7
    assert rates(create_model("vggface", 5, pretrained=False)) == [0.5, 0.5]
    assert rates(create_model("vgg19", 5, pretrained=False, drop_rate=0.2)) == [0.2, 0.2]
    assert all(r == 0 for r in rates(create_model("resnet34", 5, pretrained=False)))


def test_a_backbone_added_as_one_registry_entry_builds_validates_and_normalises(registries):
    """README, "A backbone": one ModelSpec of a timm architecture and nothing else."""
    from mer_utils.config import Config

    model_specs.register_model(
        model_specs.ModelSpec(
            "resnet18", "ResNet-18", "resnet18.tv_in1k", 224, *model_specs.IMAGENET, paper=False
        )
    )
    assert Config(models=("resnet18",)).models == ("resnet18",)
    m = create_model("resnet18", num_classes=5, pretrained=False).eval()
    x = Normalizer(get_spec("resnet18"))(torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8))
    assert x.shape == (2, 3, 224, 224) and m(x).shape == (2, 5)
