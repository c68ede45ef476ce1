"""A global pooling folded into the row loop of the stage it reads
(`imc-tile-rows{fold-pooling}`, `imc.transforms.row_reduction`): the loop
carries the pooled sum, each trip reduces its own rows into it,
and the stage's output is never assembled. Same values as PyTorch, the
placement proved, fewer DRAM bytes where that output did not fit."""

import numpy as np
import pytest
import torch

import imc
from imc.ir.hardware import Hardware
from test_loop_chain import REST, _warm_dram  # (test/python is on the path)


class _Head(torch.nn.Module):
    """MobileNetV2's last stages, small: a 1x1 conv to many channels with a
    batch norm and ReLU6 (a stage of its own, tiled over rows with its
    elementwise ops), a global pooling (`avg`: torch's adaptive average
    pooling; `mean`: the mean over rows and columns), a linear classifier."""

    def __init__(self, pool: str, c_in=3, c=64, classes=10):
        super().__init__()
        self.pool = pool
        self.expand = torch.nn.Conv2d(c_in, c, 1)
        self.bn = torch.nn.BatchNorm2d(c)
        self.fc = torch.nn.Linear(c, classes)

    def forward(self, x):
        x = torch.nn.functional.relu6(self.bn(self.expand(x)))
        if self.pool == "avg":
            x = torch.nn.functional.adaptive_avg_pool2d(x, (1, 1))
        else:
            x = x.mean(dim=(2, 3), keepdim=True)
        return self.fc(torch.flatten(x, 1))


def _model(pool):
    torch.manual_seed(0)
    model = _Head(pool)
    model.bn.running_mean.uniform_(-0.5, 0.5)
    model.bn.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _compile(model, x, fold: bool):
    # 64 x 16 x 16 f32 (64 KiB) out of the 1x1 conv, in a 16 KiB scratchpad
    hw = Hardware.preset("default").replace(spad_bytes=16 * 1024, activation_bits=32)
    pipeline = f"builtin.module(imc-tile-rows{{fit-rows=4 fold-pooling={str(fold).lower()}}}, {REST})"
    return imc.compile(model, (x,), hardware=hw, pipeline=pipeline)


@pytest.mark.parametrize("pool", ["avg", "mean"])
def test_global_pooling_folds_into_the_row_loop(pool):
    model = _model(pool)
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x).numpy()
    folded, apart = _compile(model, x, True), _compile(model, x, False)
    remarks = [str(r) for r in folded.remarks if "global pooling folded" in str(r)]
    assert len(remarks) == 1 and "the 1x64x16x16 input (65,536 B) is never assembled or stored" in remarks[0]
    assert not any("global pooling folded" in str(r) for r in apart.remarks)
    out, warm = _warm_dram(folded, x)
    out_apart, warm_apart = _warm_dram(apart, x)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out_apart, ref, rtol=1e-4, atol=1e-4)
    assert any("placement verified" in str(r) for r in folded.remarks)
    # apart, the 1x1 conv's output (64 KiB) goes to DRAM and back; folded, nothing of it does
    assert warm < warm_apart
    bounds = folded.lower_bounds()
    assert warm >= bounds.floor_for_calls(2) - bounds.floor_for_calls(1)
    with folded.context:
        assert "into tensor<1x64x16x16xf32>" not in str(folded.module)  # (never assembled)
    assert not any("1x64x16x16xf32" in str(r) for r in folded.remarks if "imc-place-buffers" in str(r))  # (nor stored)


class _ResidualHead(torch.nn.Module):
    """ResNet's end, small: a residual block (its second conv fused one row
    behind the first through a line buffer: a lagging loop, whose last trip
    makes the last row), a global average pooling, a linear classifier."""

    def __init__(self, c=8, classes=10):
        super().__init__()
        self.c1 = torch.nn.Conv2d(c, c, 3, padding=1)
        self.c2 = torch.nn.Conv2d(c, c, 3, padding=1)
        self.fc = torch.nn.Linear(c, classes)

    def forward(self, x):
        x = torch.relu(x + self.c2(torch.relu(self.c1(x))))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, (1, 1)), 1))


@pytest.mark.parametrize("rows", [1, 2])
def test_global_pooling_folds_into_a_lagging_loop(rows):
    """Each trip reduces the rows it makes (the first trip's without the row
    above the output); the last trip also reduces the last row, in its
    `scf.if`. Every row is counted once: the mean matches PyTorch's."""
    torch.manual_seed(0)
    model = _ResidualHead().eval()
    x = torch.randn(1, 8, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(x).numpy()
    hw = Hardware.preset("default").replace(spad_bytes=16 * 1024, activation_bits=32)
    compiled = imc.compile(model, (x,), hardware=hw, pipeline=f"builtin.module(imc-tile-rows{{rows={rows}}}, {REST})")
    assert any("global pooling folded into the row loop" in str(r) and "behind" not in str(r) for r in compiled.remarks)
    assert any("rows behind" in str(r) for r in compiled.remarks)  # (the loop lags)
    out, _ = _warm_dram(compiled, x)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    assert any("placement verified" in str(r) for r in compiled.remarks)
