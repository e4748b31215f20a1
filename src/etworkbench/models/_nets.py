"""Small built-in networks: quick to lower, each showing something about partitioning."""

from __future__ import annotations

import torch
from torch import nn


class TeachingNet(nn.Module):
    """Mixes ops XNNPACK takes (conv, relu, linear) with ops it rejects.

    `mean` without keepdim is refused by XNNPACK's own check (it logs why), and `cumsum` has no
    XNNPACK implementation at all, so both fall back to the portable CPU kernels.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x))
        y = y.mean(dim=(2, 3))
        y = torch.cumsum(y, dim=1)
        return self.fc(y)


class TinyConvNet(nn.Module):
    """Conv-BN-ReLU-pool-linear: fully delegable by most backends; the default test model."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class TransformerBlock(nn.Module):
    """One pre-norm transformer encoder layer over a short sequence."""

    def __init__(self, dim: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(
            d_model=dim, nhead=heads, dim_feedforward=dim * 2, batch_first=True, norm_first=True
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class SmallLSTM(nn.Module):
    """A one-layer LSTM with a linear head: recurrent ops most delegates do not take."""

    def __init__(self, features: int = 16, hidden: int = 32, classes: int = 5) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class SmallGRU(nn.Module):
    """A one-layer GRU with a linear head."""

    def __init__(self, features: int = 16, hidden: int = 32, classes: int = 5) -> None:
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.head(out[:, -1])
