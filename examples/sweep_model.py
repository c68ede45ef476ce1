"""A small model defined outside the zoo, for examples/sweep.toml."""

import torch
from torch import nn


class TinyConvNet(nn.Module):
    """conv 3x3 (8) -> ReLU -> max-pool -> conv 3x3 (16) -> ReLU -> global average -> linear (10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.relu(self.conv2(x)).mean(dim=(2, 3))
        return self.fc(x)
