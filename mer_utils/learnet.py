"""LEARNet (Verma et al., IEEE TIP 2019): a PyTorch port of the authors' Keras model.

Input [B, 3, 112, 112]. Every conv: stride 2, 'same' padding, ReLU, no pooling.
Stem 3x3/16 (56^2). Four branches, each 1x1/16 -> 3x3/32 -> 5x5/64 (28^2 -> 14^2 -> 7^2).
Branch 2 adds branch 1's 1x1 and 3x3 outputs into its own (each add followed by batch norm);
branch 4 does the same with branch 3. Concat (7x7x256) -> BN -> 3x3/256 stride-2 conv (4x4x256)
-> flatten 4096 -> dense 256 + ReLU -> dropout 0.5 -> dense classes. ~1.87M parameters (5 classes).
"""

from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=2, padding=k // 2), nn.ReLU(inplace=True))


class _Branch(nn.Module):
    """1x1/16 -> 3x3/32 -> 5x5/64; optionally accretes a partner branch's first two outputs."""

    def __init__(self, accrete: bool):
        super().__init__()
        self.c1, self.c3, self.c5 = _conv(16, 16, 1), _conv(16, 32, 3), _conv(32, 64, 5)
        self.bn1 = nn.BatchNorm2d(16) if accrete else None
        self.bn3 = nn.BatchNorm2d(32) if accrete else None

    def forward(self, x: torch.Tensor, partner: tuple[torch.Tensor, torch.Tensor] | None = None):
        a = self.c1(x)
        if partner is not None:
            a = self.bn1(a + partner[0])
        b = self.c3(a)
        if partner is not None:
            b = self.bn3(b + partner[1])
        return self.c5(b), (a, b)


class LEARNet(nn.Module):
    """LEARNet for [B, 3, 112, 112] float input; returns logits [B, num_classes]."""

    def __init__(self, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.stem = _conv(3, 16, 3)
        self.b1, self.b2 = _Branch(False), _Branch(True)
        self.b3, self.b4 = _Branch(False), _Branch(True)
        self.bn = nn.BatchNorm2d(256)
        self.conv = _conv(256, 256, 3)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(4 * 4 * 256, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        y1, p1 = self.b1(s)
        y2, _ = self.b2(s, p1)
        y3, p3 = self.b3(s)
        y4, _ = self.b4(s, p3)
        return self.head(self.conv(self.bn(torch.cat([y1, y2, y3, y4], dim=1))))
