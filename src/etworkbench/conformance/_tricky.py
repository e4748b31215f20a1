"""Hand-written models that exercise what a shared export step can get wrong.

Each one is a pattern that made (or could make) the workbench's graph differ from the plain
API's: tensor attributes read as Python scalars, `.item()`, shape arithmetic, state written in
forward, grids built from feature-map sizes, lazily filled caches, BatchNorm, LSTM state tuples
and plain Python configuration attributes. Sizes are tiny so the whole suite runs in seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class TensorAttrScalars(nn.Module):
    """A tensor attribute (not a buffer) iterated as Python scalars, as detection heads do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.strides = torch.tensor([8.0, 16.0, 32.0])

    def forward(self, x):
        fills = [torch.full((1, 3, 1, 1), s) for s in self.strides]
        y = self.conv(x)
        for fill in fills:
            y = y + fill
        return y


class TensorAttrFillSum(nn.Module):
    """The model of the report that found the shared-export bug: fills from a tensor attribute,
    concatenated and summed (plain API: XNNPACK 3/6, Core ML 7/1, Vulkan 7/1 delegated/CPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.strides = torch.tensor([8.0, 16.0, 32.0])
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        y = self.conv(x)
        fills = [torch.full((1, 3, 1, 1), s) for s in self.strides]
        return y * torch.cat(fills, 0).sum(0, keepdim=True)


class TensorAttrFloats(nn.Module):
    """The same attribute converted with float(): a constant baked into the graph."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.strides = torch.tensor([8.0, 16.0, 32.0])

    def forward(self, x):
        y = self.conv(x)
        for s in self.strides:
            y = y * float(s) / 16.0
        return y


class ItemOnParameter(nn.Module):
    """`.item()` on a value derived from a parameter (data-dependent under export)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)

    def forward(self, x):
        scale = self.linear.weight.abs().max().item()
        return self.linear(x) * scale


class BufferItem(nn.Module):
    """`.item()` of a buffer: an unbacked symbol in the graph, so the shared export must not
    hand out copies of it (they would share one shape environment)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("k", torch.tensor([2.0, 3.0]))
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.conv(x) + torch.full((1, 3, 1, 1), self.k[1].item())


class ShapeArithmetic(nn.Module):
    """Sizes computed from input shapes: `shape[-1] // 2`, views with computed sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        half = x.shape[-1] // 2
        y = x.view(x.shape[0], -1, half)
        y = y[..., : half // 2 * 2]
        y = self.linear(y.reshape(x.shape[0], -1, 4))
        return y.flatten(1)


class AttributeInForward(nn.Module):
    """An attribute assigned in forward (`self.last = ...`), then used."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.last = None

    def forward(self, x):
        y = torch.relu(self.conv(x))
        self.last = y.mean()
        return y - self.last


class AnchorGrid(nn.Module):
    """Anchors from feature-map sizes: arange over H, W with meshgrid, like a detection head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.stride = 2

    def forward(self, x):
        f = self.conv(x)
        h, w = f.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        grid = torch.stack((xs, ys), dim=-1).float() * self.stride
        boxes = f[:, :2].permute(0, 2, 3, 1) + grid
        return boxes.reshape(x.shape[0], -1, 2)


class LazyCache(nn.Module):
    """A dict attribute filled on the first forward (a positional-encoding cache)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self._cache: dict[tuple, torch.Tensor] = {}

    def forward(self, x):
        key = tuple(x.shape[-2:])
        if key not in self._cache:
            self._cache[key] = torch.linspace(0, 1, x.shape[-2] * x.shape[-1]).view(key)
        return self.linear(x + self._cache[key])


class BatchNormCNN(nn.Module):
    """conv-bn-relu twice, pooling and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


class LSTMStateTuple(nn.Module):
    """An LSTM given its (h, c) state as a tuple argument: nested inputs and outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(6, 8, batch_first=True)

    def forward(self, x, state):
        out, (h, c) = self.lstm(x, state)
        return out, (h, c)


class LSTMStateFlat(nn.Module):
    """The same LSTM with its state passed as two flat tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(6, 8, batch_first=True)

    def forward(self, x, h, c):
        out, (h, c) = self.lstm(x, (h, c))
        return out, h, c


class PythonAttrConfig(nn.Module):
    """Configured by plain Python attributes (alpha, scale) read in forward."""

    def __init__(self, alpha: float = 0.2, scale: float = 3.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.alpha, self.scale = alpha, scale

    def forward(self, x):
        return nn.functional.leaky_relu(self.conv(x), self.alpha) * self.scale + self.alpha


class DataDependentBranch(nn.Module):
    """Python control flow on a tensor's value: torch.export refuses it (both sides must fail
    at export, float and quantized alike)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)

    def forward(self, x):
        y = self.linear(x)
        return y + 1 if y.sum() > 0 else y - 1


def _image(*shape: int) -> Callable[[], tuple]:
    return lambda: (torch.randn(*shape),)


# name -> (module class, inputs factory). Fresh objects on every call (see `tricky_cases`).
TRICKY: dict[str, tuple[type[nn.Module], Callable[[], tuple]]] = {
    "tensor_attr_scalars": (TensorAttrScalars, _image(1, 3, 8, 8)),
    "tensor_attr_fill_sum": (TensorAttrFillSum, _image(1, 3, 8, 8)),
    "tensor_attr_floats": (TensorAttrFloats, _image(1, 3, 8, 8)),
    "item_on_parameter": (ItemOnParameter, _image(2, 8)),
    "buffer_item": (BufferItem, _image(1, 3, 8, 8)),
    "shape_arithmetic": (ShapeArithmetic, _image(2, 3, 8)),
    "attribute_in_forward": (AttributeInForward, _image(1, 3, 8, 8)),
    "anchor_grid": (AnchorGrid, _image(1, 3, 8, 8)),
    "lazy_cache": (LazyCache, _image(2, 1, 8)),
    "batchnorm_cnn": (BatchNormCNN, _image(1, 3, 16, 16)),
    "lstm_state_tuple": (
        LSTMStateTuple,
        lambda: (torch.randn(1, 5, 6), (torch.zeros(1, 1, 8), torch.zeros(1, 1, 8))),
    ),
    "lstm_state_flat": (
        LSTMStateFlat,
        lambda: (torch.randn(1, 5, 6), torch.zeros(1, 1, 8), torch.zeros(1, 1, 8)),
    ),
    "python_attr_config": (PythonAttrConfig, _image(1, 3, 8, 8)),
    "data_dependent_branch": (DataDependentBranch, _image(2, 8)),
}


def build_tricky(name: str) -> tuple[nn.Module, tuple, dict]:
    cls, inputs = TRICKY[name]
    module = cls()
    if name == "batchnorm_cnn":  # non-trivial running statistics, so folding them matters
        module.train()
        with torch.no_grad():
            module(torch.randn(4, 3, 16, 16))
    return module.eval(), inputs(), {}
