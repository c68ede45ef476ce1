"""The compile-time benchmark's ConvNeXt-T and EfficientNetV2-S
(`benchmarks/vision_models.py`): torchvision's sizes, and imc compiles their
blocks (LayerNorm, GELU, SiLU, squeeze-excitation, depthwise convs, stochastic
depth in eval) to the same outputs as PyTorch."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import vision_models as vm  # noqa: E402  (the models live with the benchmarks)

import imc  # noqa: E402


def test_published_parameter_counts():
    assert sum(p.numel() for p in vm.convnext_tiny().parameters()) == 28_589_128
    assert sum(p.numel() for p in vm.efficientnet_v2_s().parameters()) == 21_458_488


def test_factories_are_deterministic_eval_models():
    a, b = vm.convnext_tiny(width=0.25, depth=0.2), vm.convnext_tiny(width=0.25, depth=0.2)
    assert not a.training
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("factory", [vm.convnext_tiny, vm.efficientnet_v2_s], ids=["convnext_t", "efficientnet_v2_s"])
def test_small_variants_compile_and_match_pytorch(factory):
    model, x = factory(width=0.25, depth=0.2), vm.image(32)
    compiled = imc.compile(model, x)
    with torch.no_grad():
        ref = model(*x)
    out = compiled(*x)
    assert float((out - ref).abs().max() / ref.abs().max()) < 1e-4
