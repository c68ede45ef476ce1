"""A small multi-layer perceptron for 28x28 single-channel images."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ._util import seeded


class MLP(nn.Module):
    """``Flatten -> (Linear -> ReLU)* -> Linear``.

    Args:
      in_features: number of input features after flattening.
      hidden: widths of the hidden layers.
      num_classes: width of the output layer.
    """

    def __init__(
        self, in_features: int = 784, hidden: Sequence[int] = (128, 64), num_classes: int = 10
    ) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(x)
        return self.layers(x)


def mlp(
    *, in_features: int = 784, hidden: Sequence[int] = (128, 64), num_classes: int = 10, seed: int = 0
) -> MLP:
    """Returns an :class:`MLP` in eval mode, initialised from ``seed``."""
    with seeded(seed):
        return MLP(in_features, hidden, num_classes).eval()


def mlp_inputs(*, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor]:
    """Example input ``(batch, 1, 28, 28)`` float32."""
    with seeded(seed):
        return (torch.randn(batch, 1, 28, 28),)
