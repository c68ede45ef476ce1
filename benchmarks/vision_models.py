"""ConvNeXt-T and EfficientNetV2-S for the compile-time benchmark.

Written from the papers' definitions (Liu et al. 2022, "A ConvNet for the
2020s"; Tan & Le 2021, "EfficientNetV2: Smaller Models and Faster
Training"), with torchvision's module layout, parameter shapes and
initialisation (torchvision cannot be installed beside this torch). Random
weights, no downloads; every factory seeds its own initialisation and returns
the model in eval mode, where stochastic depth and dropout are the identity.

`width` and `depth` scale channels and blocks per stage down (for quick
tests); the defaults are the published sizes (ConvNeXt-T 28,589,128
parameters, EfficientNetV2-S 21,458,488).
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn


@contextlib.contextmanager
def _seeded(seed: int):
    """Seeds the CPU RNG for the body, restoring the caller's state after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class StochasticDepth(nn.Module):
    """Drops a residual branch per sample with probability `p` in training
    ("row" mode); the identity in eval."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep


# --------------------------------------------------------------------------- #
# ConvNeXt-T
# --------------------------------------------------------------------------- #


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    """dwconv 7x7 -> LayerNorm -> Linear 4x -> GELU -> Linear -> layer scale, residual."""

    def __init__(self, dim: int, layer_scale: float, drop: float) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True),
            _Permute(0, 2, 3, 1),
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            _Permute(0, 3, 1, 2),
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
        self.stochastic_depth = StochasticDepth(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.stochastic_depth(self.layer_scale * self.block(x))


class _Permute(nn.Module):
    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)


class ConvNeXt(nn.Module):
    """ConvNeXt: a 4x4/4 patchify stem, four stages of `CNBlock`s separated by
    LayerNorm + 2x2/2 conv downsampling, global average pool, LayerNorm, Linear."""

    def __init__(self, dims=(96, 192, 384, 768), depths=(3, 3, 9, 3), num_classes=1000, drop_path=0.1) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(3, dims[0], kernel_size=4, stride=4), LayerNorm2d(dims[0], eps=1e-6))
        ]
        total, block_id = sum(depths), 0
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            blocks = []
            for _ in range(depth):
                blocks.append(CNBlock(dim, 1e-6, drop_path * block_id / (total - 1.0)))
                block_id += 1
            layers.append(nn.Sequential(*blocks))
            if i + 1 < len(dims):
                layers.append(nn.Sequential(LayerNorm2d(dim, eps=1e-6), nn.Conv2d(dim, dims[i + 1], kernel_size=2, stride=2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(LayerNorm2d(dims[-1], eps=1e-6), nn.Flatten(1), nn.Linear(dims[-1], num_classes))
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


def convnext_tiny(*, width: float = 1.0, depth: float = 1.0, seed: int = 0) -> ConvNeXt:
    """ConvNeXt-T (dims 96-192-384-768, depths 3-3-9-3) in eval mode; `width`
    and `depth` scale it down."""
    dims = tuple(max(1, round(d * width)) for d in (96, 192, 384, 768))
    depths = tuple(max(1, math.ceil(n * depth)) for n in (3, 3, 9, 3))
    with _seeded(seed):
        return ConvNeXt(dims, depths).eval()


# --------------------------------------------------------------------------- #
# EfficientNetV2-S
# --------------------------------------------------------------------------- #


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm (eps 1e-3) -> SiLU (when `act`)."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=1e-3),
    ]
    if act:
        layers.append(nn.SiLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """x * sigmoid(fc2(silu(fc1(avgpool(x))))), the fcs as 1x1 convs."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.SiLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return s * x


class _Residual(nn.Module):
    """`layers`, with the input added back (through stochastic depth) when the
    shape is kept (EfficientNet's blocks)."""

    def __init__(self, layers: list[nn.Module], cin: int, cout: int, stride: int, drop: float) -> None:
        super().__init__()
        self.block = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and cin == cout
        self.stochastic_depth = StochasticDepth(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + self.stochastic_depth(y) if self.use_res_connect else y


class MBConv(_Residual):
    """Expand 1x1 -> depthwise kxk -> squeeze-excitation -> project 1x1 (EfficientNet's block)."""

    def __init__(self, cin: int, cout: int, expand: int, k: int, stride: int, drop: float) -> None:
        hidden = cin * expand
        layers: list[nn.Module] = []
        if hidden != cin:
            layers.append(_conv_bn(cin, hidden, 1))
        layers += [
            _conv_bn(hidden, hidden, k, stride, groups=hidden),
            SqueezeExcitation(hidden, max(1, cin // 4)),
            _conv_bn(hidden, cout, 1, act=False),
        ]
        super().__init__(layers, cin, cout, stride, drop)


class FusedMBConv(_Residual):
    """Expand kxk (fused expand + depthwise) -> project 1x1, no squeeze-excitation (EfficientNetV2)."""

    def __init__(self, cin: int, cout: int, expand: int, k: int, stride: int, drop: float) -> None:
        hidden = cin * expand
        if hidden != cin:
            layers = [_conv_bn(cin, hidden, k, stride), _conv_bn(hidden, cout, 1, act=False)]
        else:
            layers = [_conv_bn(cin, cout, k, stride)]
        super().__init__(layers, cin, cout, stride, drop)


_V2_S = (
    # block, expand, kernel, stride, in, out, layers
    (FusedMBConv, 1, 3, 1, 24, 24, 2),
    (FusedMBConv, 4, 3, 2, 24, 48, 4),
    (FusedMBConv, 4, 3, 2, 48, 64, 4),
    (MBConv, 4, 3, 2, 64, 128, 6),
    (MBConv, 6, 3, 1, 128, 160, 9),
    (MBConv, 6, 3, 2, 160, 256, 15),
)
"""EfficientNetV2-S's stages (the paper's Table 4)."""


class EfficientNetV2(nn.Module):
    """EfficientNetV2: a 3x3/2 stem, `stages` of FusedMBConv/MBConv blocks,
    a 1x1 conv to `last`, global average pool, dropout, Linear."""

    def __init__(self, stages=_V2_S, last: int = 1280, num_classes: int = 1000, drop_path: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, stages[0][4], 3, 2)]
        total, block_id = sum(s[-1] for s in stages), 0
        for block, expand, k, stride, cin, cout, n in stages:
            blocks = []
            for i in range(n):
                blocks.append(block(cin if i == 0 else cout, cout, expand, k, stride if i == 0 else 1, drop_path * block_id / total))
                block_id += 1
            layers.append(nn.Sequential(*blocks))
        layers.append(_conv_bn(stages[-1][5], last, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=0.2, inplace=True), nn.Linear(last, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def efficientnet_v2_s(*, width: float = 1.0, depth: float = 1.0, seed: int = 0) -> EfficientNetV2:
    """EfficientNetV2-S in eval mode; `width` and `depth` scale it down."""

    def ch(c: int) -> int:
        return max(8, int(round(c * width / 8)) * 8) if width != 1.0 else c

    stages = tuple(
        (block, expand, k, stride, ch(cin), ch(cout), max(1, math.ceil(n * depth)))
        for block, expand, k, stride, cin, cout, n in _V2_S
    )
    with _seeded(seed):
        return EfficientNetV2(stages, last=ch(1280)).eval()


def image(size: int = 64, *, seed: int = 0) -> tuple[torch.Tensor]:
    """A random (1, 3, size, size) input."""
    with _seeded(seed):
        return (torch.randn(1, 3, size, size),)
