"""Contracts every registry entry keeps, parametrized over the registries as they are.

Entries a plugin registers are held to the same contracts: ``MER_PLUGINS=my_plugin.py
pytest tests/test_contracts.py`` (comma-separated module names or .py paths) loads them before
the tests are collected.

- **augmentations** (``augment.AUGMENTATIONS``): shape, dtype and device kept; the same seed
  gives the same batch, a different seed a different one when it draws at all; and, for
  inputs whose channels are planes of one image (``di``: R, G, B), the channels keep their
  meaning: (1) changing input channel k changes output channel k and no other (nothing dropped,
  zeroed, permuted or mixed), (2) the same change in each channel moves the same way (one
  geometric transform for all channels). Per-channel photometric changes are allowed.
- **model specs** (``model_specs.REGISTRY``): normalisation and input size as the weights
  were trained with: timm's pretrained config of ``arch``; VGG-Face (converter
  ``vgg_face_dag``) the MatConvNet model's own (mean image in 0..255 units, no std); a network
  built here (LEARNet, from scratch) maps 0..255 onto [-1, 1].
- **dataset specs** (``dataset_specs.SPECS``): a synthetic copy written by the generator
  loads back with the planned clips, classes, subjects, phases and apexes.
- **backbones**: one backward pass reaches every trainable parameter (finite, non-zero).
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pytest
import torch

from mer_utils.augment import AUGMENTATION_INPUTS, AUGMENTATIONS
from mer_utils.dataset_specs import SPECS, normalise_label
from mer_utils.model_specs import REGISTRY as MODELS
from mer_utils.plugins import load_plugins
from mer_utils.representations import REPRESENTATIONS

load_plugins(p for p in os.environ.get("MER_PLUGINS", "").split(",") if p.strip())

SHAPE = (8, 3, 24, 32)  # B, C, H, W: non-square, so a transposed H/W shows


def _batch(dtype=torch.float32, seed: int = 0) -> torch.Tensor:
    """A smooth random batch 0..255 (each channel different)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(SHAPE[0], SHAPE[1], 6, 8, generator=g, dtype=torch.float64) * 255
    return torch.nn.functional.interpolate(x, SHAPE[2:], mode="bilinear").to(dtype)


def _run(fn, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, bool]:
    """``fn(x, gen seeded with seed)`` and whether it drew from the generator."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    state = gen.get_state()
    out = fn(x.clone(), gen)
    return out, not torch.equal(state, gen.get_state())


def contract_problems(fn) -> list[str]:
    """Shape/dtype/device and determinism problems of the batch augmentation ``fn``."""
    bad = []
    for dtype in (torch.float32, torch.float64):
        x = _batch(dtype)
        out, draws = _run(fn, x, 1)
        if (out.shape, out.dtype, out.device) != (x.shape, x.dtype, x.device):
            bad.append(f"{dtype}: gave {tuple(out.shape)} {out.dtype} on {out.device}")
            continue
        if not torch.isfinite(out).all():
            bad.append(f"{dtype}: non-finite values")
        if not torch.equal(out, _run(fn, x, 1)[0]):
            bad.append("the same seed gave a different batch (a draw outside the generator?)")
        if draws and torch.equal(out, _run(fn, x, 2)[0]):
            bad.append("it draws from the generator, yet another seed gave the same batch")
    return bad


def _bump(k: int) -> torch.Tensor:
    """A Gaussian blob (peak 60) in channel k, off centre so a flip or rotation moves it."""
    yy, xx = torch.meshgrid(torch.arange(SHAPE[2]), torch.arange(SHAPE[3]), indexing="ij")
    blob = 60 * torch.exp(-((yy - 8.0) ** 2 + (xx - 10.0) ** 2) / (2 * 2.5**2))
    out = torch.zeros(SHAPE)
    out[:, k] = blob
    return out


def channel_problems(fn) -> list[str]:
    """How ``fn`` breaks the channels' meaning of a same-per-channel input (module docstring):
    the change that a blob added to input channel k causes in the output, same seed."""
    x = _batch()
    base, _ = _run(fn, x, 3)
    changes = [_run(fn, x + _bump(k), 3)[0] - base for k in range(SHAPE[1])]
    bad = []
    for k, d in enumerate(changes):
        size = d.abs().flatten(2).amax(2)  # [B, C]: how much each output channel changed
        others = [c for c in range(SHAPE[1]) if c != k]
        if (size[:, k] < 1).any():
            bad.append(f"input channel {k} does not reach output channel {k} (dropped/zeroed?)")
        if (size[:, others] > 1e-3 * 60).any():
            bad.append(f"input channel {k} changes output channels {others} (permuted/mixed?)")
    flat = [d[:, k].flatten(1) for k, d in enumerate(changes)]
    cos = [torch.nn.functional.cosine_similarity(flat[0], f, dim=1).min().item() for f in flat]
    if min(cos) < 0.99:
        bad.append(f"channels are moved differently (cosine {min(cos):.3f} < 0.99)")
    return bad


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_augmentation_keeps_shape_dtype_device_and_is_seeded(name):
    assert contract_problems(AUGMENTATIONS[name]) == []


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_augmentation_keeps_the_channels_meaning(name):
    rep = REPRESENTATIONS[AUGMENTATION_INPUTS[name]]
    if not rep.same_per_channel:
        pytest.skip(f"{rep.name}: channels {rep.channels} are coupled; its own tests hold it")
    assert channel_problems(AUGMENTATIONS[name]) == []


def _flip_some(x, gen):
    """Mirrors each channel on its own coin: channels end up moved differently."""
    flips = torch.rand(x.shape[:2], generator=gen, device=x.device) < 0.5
    return torch.where(flips[..., None, None], x.flip(-1), x)


BROKEN = {
    "drops two channels": lambda x, gen: torch.cat([x[:, :1], torch.zeros_like(x[:, 1:])], 1),
    "swaps R and B": lambda x, gen: x[:, [2, 1, 0]],
    "makes it grey": lambda x, gen: x.mean(1, keepdim=True).expand_as(x).clone(),
    "flips channels apart": _flip_some,
}


@pytest.mark.parametrize("why", list(BROKEN))
def test_the_channel_contract_catches_a_broken_augmentation(why):
    assert channel_problems(BROKEN[why]) != []
    assert contract_problems(BROKEN[why]) == []  # the plain contract alone would pass it


def test_the_plain_contract_catches_unseeded_and_reshaping_augmentations():
    assert contract_problems(lambda x, gen: x + torch.rand(x.shape))  # global RNG
    assert contract_problems(lambda x, gen: x[..., ::2])  # changes the shape
    assert contract_problems(lambda x, gen: x.half())  # changes the dtype
    assert contract_problems(lambda x, gen: x.flip(-1) if torch.rand(1, generator=gen) < 2 else x)


def test_allowed_per_channel_photometric_changes_pass():
    def colour_noise(x, gen):
        return x * (1 + 0.1 * torch.rand(x.shape[0], x.shape[1], 1, 1, generator=gen))

    assert contract_problems(colour_noise) == [] and channel_problems(colour_noise) == []


# ----------------------------------------------------------------------------- model specs

VGGFACE = dict(  # vgg_face_dag's meta (Albanie's PyTorch port of the MatConvNet VGG-Face)
    mean=(129.186279296875, 104.76238250732422, 93.59396362304688), std=(1, 1, 1), size=224
)


@pytest.mark.parametrize("name", list(MODELS))
def test_model_spec_normalises_as_its_weights_were_trained(name):
    import timm

    spec = MODELS[name]
    if spec.converter == "vgg_face_dag":  # VGG-Face onto timm's vgg16, as MatConvNet normalised
        assert timm.is_model("vgg16") and spec.arch.split(".")[0] == "vgg16"
        assert spec.scale == 1.0 and spec.input_size == VGGFACE["size"]
        assert np.allclose(spec.mean, VGGFACE["mean"]) and np.allclose(spec.std, VGGFACE["std"])
    elif spec.builder != "timm":  # built here, from scratch: 0..255 onto [-1, 1]
        lo, hi = ((np.array([0, 255]) * spec.scale)[:, None] - spec.mean) / spec.std
        assert not spec.pretrained and np.allclose(lo, -1) and np.allclose(hi, 1)
    else:
        cfg = timm.get_pretrained_cfg(spec.arch)
        assert cfg is not None, f"{spec.arch}: timm has no such architecture/pretrained tag"
        assert np.allclose(spec.mean, cfg.mean) and np.allclose(spec.std, cfg.std), cfg
        assert np.isclose(spec.scale, 1 / 255) and spec.input_size == cfg.input_size[-1]


# ---------------------------------------------------------------------------- dataset specs


# planted broken rows the loader drops, each with a report row (CAS(ME)^3's v2 sheet)
DROPPED_QUIRKS = ("onset_after_offset", "onset_apex_zero", "offset_zero", "overlong")


@pytest.mark.parametrize("name", list(SPECS))
def test_dataset_spec_round_trips_generator_to_loader(name, tmp_path):
    from mer_utils.datasets import load_dataset
    from mer_utils.synthetic import make_synthetic, plan_clips

    spec = SPECS[name]
    plans = {(p.subject, p.clip): p for p in plan_clips(spec, seed=0, scale=0.05)}
    root = make_synthetic(tmp_path / name, name, seed=0, scale=0.05, size=(24, 20), workers=1)
    ds = load_dataset(f"synthetic_{name}", root)
    kept = {
        k: p
        for k, p in plans.items()
        if normalise_label(p.label) in spec.classes and p.quirk not in DROPPED_QUIRKS
    }
    assert ds.classes == spec.classes
    assert {(s.subject, s.clip) for s in ds.samples} == set(kept)
    assert ds.counts().to_dict() == dict(Counter(normalise_label(p.label) for p in kept.values()))
    reported = set(zip(ds.report["subject"], ds.report["clip"], strict=True))
    dropped = [p for p in plans.values() if p.quirk in DROPPED_QUIRKS]
    assert all((p.subject, p.clip) in reported for p in dropped)  # a broken row: a report row
    for s in ds.samples:
        p = kept[s.subject, s.clip]
        if p.quirk == "frame_gap":  # cut to the run of frames before the gap, reported
            gaps = ds.report[ds.report["problem"].str.contains("missing")]
            assert (s.onset, s.offset) == (p.onset, p.skip[0] - 1)
            assert (s.subject, s.clip) in set(zip(gaps["subject"], gaps["clip"], strict=True))
            continue
        assert (s.label, s.onset, s.offset) == (normalise_label(p.label), p.onset, p.offset)
        assert len(s.frames) == p.offset - p.onset + 1
        cell = p.apex_cell
        if isinstance(cell, int | np.integer) and p.onset <= cell <= p.offset:
            assert (s.apex, s.apex_source) == (cell, "annotated"), s.key
        else:  # a planted quirk: re-estimated from the frames, inside the clip
            assert s.apex_source == "estimated" and p.onset <= s.apex <= p.offset, s.key


# -------------------------------------------------------------------------------- backbones

SLOW = {"vggface", "vgg19", "vit_b16"}  # 86-143 M parameters


@pytest.fixture()
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in MODELS]
)
def test_backbone_back_propagates_to_every_parameter(name, one_thread):
    from mer_utils.models import create_model

    spec = MODELS[name]
    torch.manual_seed(0)
    model = create_model(name, 5, pretrained=False).train()
    side = 64 if spec.builder == "timm" and not spec.fixed_size else spec.input_size
    assert unreached_parameters(model, torch.randn(2, 3, side, side)) == []


def unreached_parameters(model: torch.nn.Module, x: torch.Tensor) -> list[str]:
    """The trainable parameters of ``model`` that no gradient reaches (or a non-finite one
    does): one backward pass, and a second after an SGD step for what the first could not
    reach (a zero-initialised last BN of a residual block, as timm's ResNets have, blocks its
    branch until it has moved)."""
    y = torch.arange(len(x)) % 2
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    reached: set[str] = set()
    for _ in range(2):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        grads = {n: p.grad for n, p in trainable.items() if p.grad is not None}
        if not all(g.isfinite().all() for g in grads.values()):
            return sorted(n for n, g in grads.items() if not g.isfinite().all())
        reached |= {n for n, g in grads.items() if g.abs().sum() > 0}
        if reached == set(trainable):
            break
        torch.optim.SGD(model.parameters(), lr=0.1).step()
    return sorted(set(trainable) - reached) if trainable else ["(no trainable parameter)"]


class _Detached(torch.nn.Module):
    """A backbone whose second layer never trains: its output is detached."""

    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(12, 8), torch.nn.Linear(12, 8)
        self.head = torch.nn.Linear(16, 5)

    def forward(self, x):
        x = x.flatten(1)
        return self.head(torch.cat([self.a(x), self.b(x).detach()], 1))


def test_the_backbone_contract_catches_a_parameter_no_gradient_reaches():
    assert unreached_parameters(_Detached(), torch.randn(2, 3, 2, 2)) == ["b.bias", "b.weight"]
