"""Per-channel affine ops after a convolution (an inference BatchNorm) are
folded into its weights and bias by the frontend (`imc.frontend.affine_folding`):
the same outputs up to float rounding, no digital ops left for them, and
nothing folded that is not a per-channel affine map of the convolution's
own output."""

import numpy as np
import pytest
import torch
from torch import nn

import imc


def _compile(model, x, fold: bool):
    return imc.compile(model, (x,), pipeline="builtin.module(imc-default)", fold_batchnorm=fold)


def _layers(compiled) -> set:
    return {row.name for row in compiled.report.layers.values()}


class ConvBN(nn.Module):
    def __init__(self, bias: bool):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, padding=1, bias=bias)
        self.bn = nn.BatchNorm2d(6)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


def _trained_statistics(bn: nn.BatchNorm2d) -> None:
    """Running statistics and affine parameters far from the identity."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=g))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
        bn.weight.copy_(torch.randn(bn.num_features, generator=g))
        bn.bias.copy_(torch.randn(bn.num_features, generator=g))


@pytest.mark.parametrize("bias", [False, True])
def test_batchnorm_folds_into_the_convolution(bias):
    torch.manual_seed(0)
    model = ConvBN(bias).eval()
    _trained_statistics(model.bn)
    x = torch.randn(1, 4, 8, 8)
    expected = model(x).detach().numpy()
    folded, kept = _compile(model, x, True), _compile(model, x, False)
    y_folded, y_kept = folded(x).numpy(), kept(x).numpy()
    np.testing.assert_allclose(y_folded, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y_kept, expected, rtol=1e-5, atol=1e-5)
    assert "bn" in _layers(kept) and "bn" not in _layers(folded)
    # BatchNorm's four ops per element are gone; the bias add stays.
    assert folded.report.totals.digital_ops < kept.report.totals.digital_ops


class AffineChain(nn.Module):
    """(c - conv(x)) / s * g + t with per-channel constants: foldable."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 1)
        self.register_buffer("s", torch.rand(5, 1, 1) + 0.5)
        self.register_buffer("g", torch.randn(5, 1, 1))
        self.register_buffer("t", torch.randn(1, 5, 1, 1))

    def forward(self, x):
        return (2.0 - self.conv(x)) / self.s * self.g + self.t


class TwoUsers(nn.Module):
    """The convolution's output is read twice: nothing to fold."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 1)
        self.register_buffer("s", torch.rand(5, 1, 1) + 0.5)

    def forward(self, x):
        y = self.conv(x)
        return y * self.s + y


class PerElement(nn.Module):
    """A constant per element, not per channel: not an affine map to fold."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 1)
        self.register_buffer("m", torch.randn(5, 4, 4))

    def forward(self, x):
        return self.conv(x) * self.m


@pytest.mark.parametrize(
    "model_class,folds",
    [(AffineChain, True), (TwoUsers, False), (PerElement, False)],
    ids=["affine-chain", "two-users", "per-element"],
)
def test_only_per_channel_affine_maps_of_a_convolution_fold(model_class, folds):
    torch.manual_seed(0)
    model = model_class().eval()
    x = torch.randn(1, 3, 4, 4)
    expected = model(x).detach().numpy()
    folded, kept = _compile(model, x, True), _compile(model, x, False)
    np.testing.assert_allclose(folded(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(kept(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    fewer = folded.report.totals.digital_ops < kept.report.totals.digital_ops
    assert fewer == folds


def test_a_bias_costs_one_add_per_output_and_its_vector_once():
    """A convolution's bias is its initial value, a broadcast of the bias
    vector that the digital unit generates (imc.sim.runtime: nothing stored):
    against the same convolution without a bias, a call does one add per
    output element more (reading the MVM result, writing the sum) and reads
    the bias vector once from DRAM, nothing else."""
    torch.manual_seed(0)
    with_bias = nn.Conv2d(4, 8, 3, padding=1).eval()
    without = nn.Conv2d(4, 8, 3, padding=1, bias=False).eval()
    without.weight.data.copy_(with_bias.weight.data)
    x = torch.randn(1, 4, 8, 8)
    totals = {}
    for name, model in (("bias", with_bias), ("none", without)):
        compiled = imc.compile(model, (x,), pipeline="builtin.module(imc-default)")
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
        assert "linalg.broadcast" in compiled.mlir or name == "none"
        totals[name] = compiled.report.totals
    out = 8 * 8 * 8  # output elements
    out_bytes = out * 4  # the sum and the MVM result inside the layer, at the host's f32
    diff = lambda k: getattr(totals["bias"], k) - getattr(totals["none"], k)  # noqa: E731
    assert diff("digital_ops") == out
    assert diff("spad_read_bytes") == out_bytes
    assert diff("spad_write_bytes") == out_bytes
    assert diff("dram_read_bytes") == 8 * 4  # the bias vector, f32
    assert diff("mvm_count") == 0
