"""One fold of training: Adam, cosine annealing, cross-entropy, early stopping on validation loss.

The whole uint8 DI store sits on the training device (:class:`DeviceStore`); batches are
gathered, augmented and normalised there, so the loop never touches JPEGs or the host. The CNNs
run channels_last everywhere; on CUDA under bf16 autocast, on CPU in float32 (bf16 autocast is
~10x slower on the 2-core CPU measured here).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mer_utils.augment import flip_rotate
from mer_utils.console import progress_bar
from mer_utils.models import Normalizer, create_model, get_spec
from mer_utils.store import DIStore

log = logging.getLogger(__name__)


@dataclass
class DeviceStore:
    """All DIs of a store in one uint8 tensor [M, 3, S, S] on ``device``, with item indices.

    ``full_item[i]`` / ``onset_item[i]`` / ``offset_item[i]`` is the row of clip i's DI of that
    kind in ``images`` (-1 where the clip has no such phase DI).
    """

    images: torch.Tensor
    full_item: np.ndarray
    onset_item: np.ndarray
    offset_item: np.ndarray
    labels: np.ndarray
    num_classes: int

    @classmethod
    def from_store(cls, store: DIStore, device: str | torch.device) -> DeviceStore:
        n_full, n_on = len(store.full), len(store.onset)
        images = torch.from_numpy(np.concatenate([store.full, store.onset, store.offset])).to(
            device
        )
        on, off = store.index.onset_row.to_numpy(), store.index.offset_row.to_numpy()
        return cls(
            images,
            np.arange(n_full),
            np.where(on >= 0, on + n_full, -1),
            np.where(off >= 0, off + n_full + n_on, -1),
            store.labels,
            len(store.classes),
        )

    def items(self, clips: np.ndarray, dual_di: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Training items of ``clips``: full DIs (+ DI-Onset and DI-Offset when ``dual_di``),
        each an independent sample with its clip's label. Returns (items, labels) int64."""
        parts = [(self.full_item[clips], self.labels[clips])]
        if dual_di:
            for kind in (self.onset_item, self.offset_item):
                have = clips[kind[clips] >= 0]
                parts.append((kind[have], self.labels[have]))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@dataclass
class FoldResult:
    """Out-of-fold predictions and the training history of one fold."""

    y_true: list[int]
    y_pred: list[int]
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    wall_s: float = 0.0


@dataclass(frozen=True)
class TrainParams:
    epochs: int = 50
    patience: int = 10
    batch_size: int = 25
    eval_batch_size: int = 200
    lr: float = 1e-4
    pretrained: bool = True
    weights: str | None = None
    drop_rate: float | None = None  # None: the model's own (VGG 0.5, others 0)
    input_px: int | None = None  # None: the model's own input size (spec)


def _setup(model_name: str, num_classes: int, p: TrainParams, device: torch.device, seed: int):
    torch.manual_seed(seed)  # head / LEARNet init and dropout
    spec = get_spec(model_name)
    model = create_model(
        model_name,
        num_classes,
        pretrained=p.pretrained and spec.pretrained,
        weights=p.weights,
        drop_rate=p.drop_rate,
    )
    model = model.to(device)
    if model_name != "vit_b16":  # channels_last: +26% for LEARNet on a 2-core CPU, more on CUDA
        model = model.to(memory_format=torch.channels_last)
    return model, Normalizer(spec, p.input_px).to(device)


def _forward(model: nn.Module, norm: Normalizer, x: torch.Tensor) -> torch.Tensor:
    x = norm(x).contiguous(memory_format=torch.channels_last)
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=x.is_cuda):
        return model(x).float()


@torch.no_grad()
def predict_logits(
    model: nn.Module, norm: Normalizer, data: DeviceStore, items: np.ndarray, batch: int
) -> torch.Tensor:
    """float32 [len(items), classes] logits in eval mode."""
    model.eval()
    idx = torch.as_tensor(items, device=data.images.device)
    return torch.cat(
        [_forward(model, norm, data.images[idx[i : i + batch]]) for i in range(0, len(idx), batch)]
    )


def _train_epoch(
    model, norm, data: DeviceStore, items, labels, opt, gens, p: TrainParams, augment: bool
) -> torch.Tensor:
    model.train()
    dev = data.images.device
    items_t, labels_t = torch.as_tensor(items, device=dev), torch.as_tensor(labels, device=dev)
    perm = torch.randperm(len(items), generator=gens[0]).to(dev)
    total = torch.zeros((), device=dev)
    for i in range(0, len(perm), p.batch_size):
        b = perm[i : i + p.batch_size]
        x = data.images[items_t[b]].float()
        if augment:
            x = flip_rotate(x, gens[1])
        loss = F.cross_entropy(_forward(model, norm, x), labels_t[b])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach() * len(b)
    return total / len(perm)  # stays on the device: no host sync inside the epoch


def fit_fold(
    model_name: str,
    data: DeviceStore,
    train_clips: np.ndarray,
    val_clips: np.ndarray,
    test_clips: np.ndarray,
    configuration: str,
    params: TrainParams,
    seed: int,
    progress: bool = True,
) -> FoldResult:
    """Train one model on one fold and predict the test clips' full DIs.

    Args:
        model_name: registry name; data: the device store; *_clips: int64 clip indices.
        configuration: baseline | flip_rotate | dual_di | dual_di_flip_rotate.
        val_clips: early-stopping set (the paper: the test fold; leak-free: an inner split).
    """
    t0 = time.perf_counter()
    dev = data.images.device
    model, norm = _setup(model_name, data.num_classes, params, dev, seed)
    items, labels = data.items(train_clips, dual_di=configuration.startswith("dual_di"))
    gens = (torch.Generator().manual_seed(seed), torch.Generator(device=dev).manual_seed(seed + 1))
    opt = torch.optim.Adam(model.parameters(), lr=params.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=params.epochs)
    val_y = torch.as_tensor(data.labels[val_clips], device=dev)
    best, best_state, bad, best_epoch, history = float("inf"), None, 0, 0, []
    for epoch in progress_bar(
        range(params.epochs),
        desc=f"{model_name}/{configuration}",
        leave=False,
        disable=not progress,
    ):
        tr = _train_epoch(
            model,
            norm,
            data,
            items,
            labels,
            opt,
            gens,
            params,
            configuration.endswith("flip_rotate"),
        )
        logits = predict_logits(
            model, norm, data, data.full_item[val_clips], params.eval_batch_size
        )
        val_loss = F.cross_entropy(logits, val_y).item()
        val_acc = (logits.argmax(1) == val_y).float().mean().item()
        history.append(
            dict(
                epoch=epoch + 1,
                train_loss=tr.item(),
                val_loss=val_loss,
                val_acc=val_acc,
                lr=sched.get_last_lr()[0],
            )
        )
        sched.step()
        if val_loss < best - 1e-6:
            best, bad, best_epoch = val_loss, 0, epoch + 1
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= params.patience:
                break
    if best_state is None:
        raise RuntimeError(
            f"{model_name}/{configuration}: validation loss never finite (training diverged); "
            f"lower lr (now {params.lr}) or check the DI store"
        )
    model.load_state_dict(best_state)
    pred = predict_logits(
        model, norm, data, data.full_item[test_clips], params.eval_batch_size
    ).argmax(1)
    return FoldResult(
        data.labels[test_clips].tolist(),
        pred.cpu().tolist(),
        history,
        best_epoch,
        time.perf_counter() - t0,
    )
