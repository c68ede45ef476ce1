"""LeNet-5 (LeCun et al., 1998) with ReLU activations and max pooling."""

from __future__ import annotations

import torch
from torch import nn

from ._util import seeded


class LeNet5(nn.Module):
    """Two 5x5 conv/pool stages then three fully connected layers (28x28 input)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(torch.relu(self.conv1(x)))
        x = self.pool2(torch.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


def lenet5(*, num_classes: int = 10, seed: int = 0) -> LeNet5:
    """Returns a :class:`LeNet5` in eval mode, initialised from ``seed``."""
    with seeded(seed):
        return LeNet5(num_classes).eval()


def lenet5_inputs(*, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor]:
    """Example input ``(batch, 1, 28, 28)`` float32."""
    with seeded(seed):
        return (torch.randn(batch, 1, 28, 28),)
