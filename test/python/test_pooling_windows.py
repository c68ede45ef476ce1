"""Pooling on the interpreter matches PyTorch for every window arithmetic:
sizes, kernels, strides, paddings, ceil_mode on and off, max and average.

Torch-MLIR pads `ceil_mode` pooling so that the input may hold more rows than
the output's windows need (29x29, 3x3/2: padded to 31, output 14); the
interpreter iterates over the output, as linalg does.
"""

import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import imc


def _check(pool: nn.Module, size: int, channels: int = 3) -> None:
    x = torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(size))
    compiled = imc.compile(pool, (x,), hardware="default")
    ref = pool(x)
    out = compiled(x)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [16, 29, 30, 31])
def test_max_pool_ceil_mode_29(size):
    """The case of the issue: 3x3/2 ceil_mode on 29x29 (and its neighbours)."""
    _check(nn.MaxPool2d(3, stride=2, ceil_mode=True), size)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [False, True])
def test_avg_pool_ceil_mode(ceil_mode, count_include_pad):
    _check(nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=ceil_mode, count_include_pad=count_include_pad), 29)


@st.composite
def _pools(draw):
    kernel = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, kernel // 2))
    ceil_mode = draw(st.booleans())
    size = draw(st.integers(kernel, 20))
    if draw(st.booleans()):
        return nn.MaxPool2d(kernel, stride=stride, padding=padding, ceil_mode=ceil_mode), size
    include = draw(st.booleans())
    return nn.AvgPool2d(kernel, stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=include), size


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pools())
def test_pooling_windows_property(case):
    pool, size = case
    _check(pool, size, channels=2)
