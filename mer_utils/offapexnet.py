"""OFF-ApexNet (Gan, Liong, Yau, Huang and Tan, Signal Processing: Image Communication 74,
2019, "OFF-ApexNet on micro-expression recognition system"), in PyTorch.

Input [B, 3, 28, 28] (the :mod:`mer_utils.flow` maps); OFF-ApexNet reads only the horizontal
and vertical flow, channels 0 (u) and 1 (v), and ignores the strain map. Each of the two streams
sees one channel: conv 5 x 5 / 6 ('same') -> ReLU -> max pool 2 (14 x 14) -> conv 5 x 5 / 16 ->
ReLU -> max pool 2 (7 x 7 x 16 = 784). The two 784-vectors are concatenated (1,568) -> dense
1,024 -> ReLU -> dropout 0.5 -> dense 1,024 -> ReLU -> dropout 0.5 -> dense classes.

Parameters: streams 2 x (156 + 2,416) = 5,144, dense 1,606,656 + 1,049,600 + 1,025 per class:
**2,664,475 with 3 classes** (the "2.66M" other re-implementations report for OFF-ApexNet),
2,666,525 with 5 (``tests/test_flow.py`` counts them).
"""

from __future__ import annotations

import torch
from torch import nn


def _stream() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(7),  # identity at 28 px (7 x 7 already); other sizes still run
    )


class OffApexNet(nn.Module):
    """Two-stream CNN on the horizontal and vertical flow.

    Args:
        num_classes: size of the output.
        dropout: after each hidden dense layer (0.5).

    Forward: float [B, C >= 2, 28, 28] (channels 0, 1 = u, v) -> logits float [B, num_classes].
    """

    def __init__(self, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.u, self.v = _stream(), _stream()
        self.head = nn.Sequential(
            nn.Linear(2 * 16 * 7 * 7, 1024),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(1024, 1024),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.cat([self.u(x[:, 0:1]).flatten(1), self.v(x[:, 1:2]).flatten(1)], dim=1)
        return self.head(h)
