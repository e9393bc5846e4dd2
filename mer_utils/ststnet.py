"""STSTNet (Liong, Gan, See, Khor and Huang, FG 2019, "Shallow Triple Stream Three-dimensional
CNN (STSTNet) for Micro-expression Recognition"), in PyTorch.

Input [B, 3, 28, 28]: the onset -> apex optical flow's (u, v, optical strain) maps
(:mod:`mer_utils.flow`). Three shallow streams see the whole 3-channel input (each 3 x 3 kernel
spans the three maps, the paper's "three-dimensional"), with 3, 5 and 8 filters:
conv 3 x 3 (padding 2: 30 x 30) -> ReLU -> batch norm -> max pool 3 x 3, stride 3, padding 1
(10 x 10) -> dropout 0.5. The 16 maps are concatenated, average-pooled 2 x 2 (5 x 5 x 16 = 400)
and a dense layer gives the class scores.

Parameters: convolutions 84 + 140 + 224 = 448, batch norm 2 x 16 = 32, dense 401 per class:
**1,683 with the paper's 3 classes, 2,485 with 5** (``tests/test_flow.py`` counts them).
The layer list is the paper's (and the authors' released Matlab model, as ported by the MEGC
community); the count is computed from it. Where the average pool is adaptive (to 5 x 5) it is
exactly the paper's 2 x 2 pool at 28 px and lets the model run at other sizes.
"""

from __future__ import annotations

import torch
from torch import nn

STREAM_FILTERS = (3, 5, 8)


def _stream(in_channels: int, filters: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, filters, kernel_size=3, padding=2),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(filters),
        nn.MaxPool2d(kernel_size=3, stride=3, padding=1),
        nn.Dropout(dropout),
    )


class STSTNet(nn.Module):
    """Shallow triple-stream CNN on flow maps.

    Args:
        num_classes: size of the output.
        in_channels: input maps (3: u, v, strain).
        dropout: after each stream's pooling (the paper's 0.5).

    Forward: float [B, in_channels, 28, 28] -> logits float [B, num_classes].
    """

    def __init__(self, num_classes: int, in_channels: int = 3, dropout: float = 0.5):
        super().__init__()
        self.streams = nn.ModuleList(_stream(in_channels, f, dropout) for f in STREAM_FILTERS)
        self.pool = nn.AdaptiveAvgPool2d(5)  # 10 x 10 -> 5 x 5: the paper's 2 x 2 pool at 28 px
        self.fc = nn.Linear(sum(STREAM_FILTERS) * 5 * 5, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.cat([s(x) for s in self.streams], dim=1)
        return self.fc(self.pool(h).flatten(1))
