"""One fold of training: Adam, cosine annealing, cross-entropy, early stopping on validation loss.

The whole uint8 DI store sits on the training device (:class:`DeviceStore`); batches are
gathered, augmented and normalised there, so the loop never touches JPEGs or the host. The CNNs
run channels_last everywhere; on CUDA under bf16 autocast, on CPU in float32 (bf16 autocast is
~10x slower on the 2-core CPU measured here).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mer_utils.augment import apply as augment_batch
from mer_utils.config import Config
from mer_utils.configurations import DI_KINDS, KINDS, get_configuration, predict_from_scores
from mer_utils.console import progress_bar
from mer_utils.model_specs import ModelPlan
from mer_utils.models import Normalizer, build_model
from mer_utils.store import DIStore

log = logging.getLogger(__name__)


@dataclass
class DeviceStore:
    """All DIs of a store in one uint8 tensor [M, 3, S, S] on ``device``, with item indices.

    ``rows[kind][i]`` is the row of clip i's DI of that kind in ``images`` (-1 where the clip
    has none); kinds are :data:`~mer_utils.configurations.STORED_KINDS`, plus ``full_negated``
    (the full DI shown as 255 - DI), and the flow kinds (``flow_onset``, ``flow_offset``) of a
    store merged with its flow store (:func:`mer_utils.flow_store.with_flows`).
    """

    images: torch.Tensor
    rows: dict[str, np.ndarray]
    labels: np.ndarray
    num_classes: int

    @classmethod
    def from_store(cls, store: DIStore, device: str | torch.device) -> DeviceStore:
        images = torch.from_numpy(store.images).to(device)
        return cls(images, dict(store.rows), store.labels, len(store.classes))

    @property
    def full_item(self) -> np.ndarray:
        """int64 [N]: row of each clip's full DI."""
        return self.rows["full"]

    def kind_items(self, clips: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows of ``clips``' DIs of ``kind`` in ``images`` (-1: the clip has none), negate
        flags): ``full_negated`` is the full DI shown as 255 - DI."""
        items = self.rows["full" if kind == "full_negated" else kind][clips]
        return items, np.full(len(items), kind == "full_negated")

    def items(
        self, clips: np.ndarray, kinds: tuple[str, ...] = ("full",)
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Training samples of ``clips``: each clip's DI of every kind in ``kinds`` that it has,
        labelled with its clip's label. Returns (rows int64, labels int64, negate bool)."""
        parts = []
        for kind in kinds:
            rows, neg = self.kind_items(clips, kind)
            have = rows >= 0
            parts.append((rows[have], self.labels[clips][have], neg[have]))
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))

    def batch(self, rows: torch.Tensor, negate: torch.Tensor) -> torch.Tensor:
        """float32 [B, 3, S, S] images of ``rows``, those flagged by ``negate`` as 255 - DI."""
        x = self.images[rows].float()
        return torch.where(negate.view(-1, 1, 1, 1), 255.0 - x, x)


@dataclass
class FoldResult:
    """Out-of-fold predictions, the test clips' logits of every DI kind (``scores[kind]``: one
    list of class logits per test clip, None where the clip has no DI of that kind) and the
    training history of one fold."""

    y_true: list[int]
    y_pred: list[int]
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    wall_s: float = 0.0
    scores: dict[str, list] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainParams:
    """What :func:`fit_fold` needs besides the model. Defaults are :class:`~mer_utils.config.
    Config`'s; a sweep builds it with :meth:`from_config` (by name, never by position)."""

    epochs: int = Config.epochs
    patience: int = Config.patience
    batch_size: int = Config.batch_size
    eval_batch_size: int = Config.eval_batch_size
    lr: float = Config.lr
    # "loss": keep the epoch of lowest validation loss; "accuracy": of highest validation
    # accuracy, ties to the lower loss (validation: oracle, on the test fold: leaky)
    select: str = "loss"

    @classmethod
    def from_config(cls, cfg: Config) -> TrainParams:
        """The fields Config shares by name; ``validation: oracle`` keeps the epoch of best
        test accuracy and never stops early (every epoch is trained)."""
        kw = {f.name: getattr(cfg, f.name) for f in fields(cls) if f.name != "select"}
        if cfg.validation == "oracle":
            kw.update(select="accuracy", patience=cfg.epochs)
        return cls(**kw)


def _setup(
    plan: ModelPlan, num_classes: int, device: torch.device, seed: int, representation: str = "di"
):
    torch.manual_seed(seed)  # head / LEARNet init and dropout
    model = build_model(plan, num_classes).to(device)
    if plan.spec.channels_last:  # +26% for LEARNet on a 2-core CPU, more on CUDA
        model = model.to(memory_format=torch.channels_last)
    return model, Normalizer(plan.spec, plan.input_px, representation).to(device)


def _forward(model: nn.Module, norm: Normalizer, x: torch.Tensor) -> torch.Tensor:
    x = norm(x).contiguous(memory_format=torch.channels_last)
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=x.is_cuda):
        return model(x).float()


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    norm: Normalizer,
    data: DeviceStore,
    items: np.ndarray,
    batch: int,
    negate: np.ndarray | None = None,
) -> torch.Tensor:
    """float32 [len(items), classes] logits in eval mode (``negate``: show those as 255 - DI)."""
    model.eval()
    dev = data.images.device
    idx = torch.as_tensor(items, device=dev)
    neg = torch.as_tensor(np.zeros(len(items), bool) if negate is None else negate, device=dev)
    return torch.cat(
        [
            _forward(model, norm, data.batch(idx[i : i + batch], neg[i : i + batch]))
            for i in range(0, len(idx), batch)
        ]
    )


def score_kinds(
    model: nn.Module,
    norm: Normalizer,
    data: DeviceStore,
    clips: np.ndarray,
    batch: int,
    kinds: tuple[str, ...] = DI_KINDS,
) -> dict[str, list]:
    """Logits of every kind in ``kinds`` (a representation's: DI kinds, or flow kinds for a
    flow model) of ``clips``: {kind: [list of C floats | None per clip]}."""
    out = {}
    for kind in kinds:
        rows, neg = data.kind_items(clips, kind)
        have = np.flatnonzero(rows >= 0)
        logits = predict_logits(model, norm, data, rows[have], batch, neg[have]).cpu().tolist()
        col: list = [None] * len(clips)
        for i, row in zip(have, logits, strict=True):
            col[i] = row
        out[kind] = col
    return out


def _train_epoch(
    model,
    norm,
    data: DeviceStore,
    samples: tuple,
    opt,
    gens,
    p: TrainParams,
    augment: tuple[str, ...],
) -> torch.Tensor:
    """One epoch over ``samples`` (rows, labels, negate), each batch through ``augment``
    (names in :data:`mer_utils.augment.AUGMENTATIONS`); the mean loss, on the device."""
    model.train()
    dev = data.images.device
    rows, labels, negate = (torch.as_tensor(a, device=dev) for a in samples)
    perm = torch.randperm(len(rows), generator=gens[0]).to(dev)
    total = torch.zeros((), device=dev)
    for i in range(0, len(perm), p.batch_size):
        b = perm[i : i + p.batch_size]
        x = data.batch(rows[b], negate[b])
        x = augment_batch(augment, x, gens[1])
        loss = F.cross_entropy(_forward(model, norm, x), labels[b])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach() * len(b)
    return total / len(perm)  # stays on the device: no host sync inside the epoch


class EarlyStopping:
    """Stop after ``patience`` epochs without a lower validation loss; keep the best state."""

    def __init__(self, patience: int):
        self.patience, self.best, self.bad, self.best_epoch = patience, float("inf"), 0, 0
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, epoch: int, val_loss: float, model: nn.Module) -> bool:
        """Record epoch ``epoch`` (1-based); True when training should stop."""
        if val_loss < self.best - 1e-6:
            self.best, self.bad, self.best_epoch = val_loss, 0, epoch
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.bad += 1
        return self.bad >= self.patience

    def restore(self, model: nn.Module, what: str) -> None:
        """Load the best epoch's weights into ``model``; ``what`` names it in the error."""
        if self.state is None:
            raise RuntimeError(
                f"{what}: validation loss never finite (training diverged); lower lr or check "
                "the DI store"
            )
        model.load_state_dict(self.state)


def _validate(
    model, norm, data: DeviceStore, val_clips: np.ndarray, batch: int, kind: str = "full"
) -> dict:
    """Validation loss and accuracy on the ``kind`` inputs of ``val_clips`` that have one (the
    full DI; the onset->apex flow for a flow configuration)."""
    rows = data.rows[kind][val_clips]
    logits = predict_logits(model, norm, data, rows[rows >= 0], batch)
    y = torch.as_tensor(data.labels[val_clips][rows >= 0], device=logits.device)
    return dict(
        val_loss=F.cross_entropy(logits, y).item(),
        val_acc=(logits.argmax(1) == y).float().mean().item(),
    )


def _epochs(
    model,
    norm,
    data: DeviceStore,
    samples,
    val_clips,
    gens,
    params: TrainParams,
    spec,
    label: str,
    progress: bool,
) -> tuple[EarlyStopping, list[dict]]:
    """Adam + cosine annealing over ``params.epochs``, validating after each epoch and
    stopping early on the validation loss; returns the stopper (best weights kept) and the
    per-epoch history."""
    opt = torch.optim.Adam(model.parameters(), lr=params.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=params.epochs)
    stop, history = EarlyStopping(params.patience), []
    for epoch in progress_bar(range(params.epochs), desc=label, leave=False, disable=not progress):
        tr = _train_epoch(model, norm, data, samples, opt, gens, params, spec.augment)
        val_kind = KINDS[spec.representation][0]  # full DI | onset->apex flow
        val = _validate(model, norm, data, val_clips, params.eval_batch_size, val_kind)
        history.append(
            dict(epoch=epoch + 1, train_loss=tr.item(), **val, lr=sched.get_last_lr()[0])
        )
        sched.step()
        score = val["val_loss"] - (1000 * val["val_acc"] if params.select == "accuracy" else 0)
        if stop.update(epoch + 1, score, model):
            break
    return stop, history


def fit_fold(
    plan: ModelPlan,
    data: DeviceStore,
    train_clips: np.ndarray,
    val_clips: np.ndarray,
    test_clips: np.ndarray,
    configuration: str,
    params: TrainParams,
    seed: int,
    progress: bool = True,
) -> FoldResult:
    """Train the model of ``plan`` (how it starts: :meth:`mer_utils.config.Config.model_plan`)
    on one fold (``configuration``: a trained entry of :mod:`mer_utils.configurations`), score
    every kind of its representation (DI kinds, or flow kinds) of the test clips, predict them.
    *_clips: int64 clip indices; val_clips: the early-stopping set (the paper: the test fold;
    leak-free: an inner split)."""
    t0, spec = time.perf_counter(), get_configuration(configuration)
    dev = data.images.device
    model, norm = _setup(plan, data.num_classes, dev, seed, spec.representation)
    samples = data.items(train_clips, spec.train_kinds)
    gens = (torch.Generator().manual_seed(seed), torch.Generator(device=dev).manual_seed(seed + 1))
    label = f"{plan.name}/{configuration}"
    stop, history = _epochs(model, norm, data, samples, val_clips, gens, params, spec, label, progress)  # fmt: skip
    stop.restore(model, label)
    kinds = KINDS[spec.representation]  # a flow model is scored on flows only
    scores = score_kinds(model, norm, data, test_clips, params.eval_batch_size, kinds)
    return FoldResult(
        data.labels[test_clips].tolist(),
        predict_from_scores(scores, spec.eval_kinds, spec.eval_fallback),
        history,
        stop.best_epoch,
        time.perf_counter() - t0,
        scores,
    )
