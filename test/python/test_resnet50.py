"""ResNet-50 (`imc.frontend.models.resnet50`, outside the ZOO): torchvision's size and
layout, and its Bottleneck block compiles to PyTorch's outputs."""

import torch
from torch import nn

import imc
from imc.frontend import models
from imc.frontend.models.resnet import Bottleneck, conv1x1


def test_parameter_count_is_torchvisions():
    # torchvision.models.resnet50(): 25,557,032 parameters.
    assert sum(p.numel() for p in models.resnet50().parameters()) == 25_557_032


def test_layout_is_torchvisions():
    model = models.resnet50()
    assert not model.training
    assert [len(stage) for stage in (model.layer1, model.layer2, model.layer3, model.layer4)] == [3, 4, 6, 3]
    block = model.layer2[0]  # v1.5: the stride sits in the 3x3 convolution
    assert (block.conv1.stride, block.conv2.stride, block.downsample[0].stride) == ((1, 1), (2, 2), (2, 2))
    assert model.layer4[2].conv3.weight.shape == (2048, 512, 1, 1)
    assert model.fc.weight.shape == (1000, 2048)
    names = set(model.state_dict())
    assert {"layer1.0.downsample.1.running_var", "layer4.2.bn3.weight"} <= names
    assert "layer1.1.downsample.0.weight" not in names


def test_factory_is_deterministic():
    a, b = models.resnet50(seed=3), models.resnet50(seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_bottleneck_compiles_to_pytorchs_outputs():
    torch.manual_seed(0)
    block = Bottleneck(32, 16, stride=2, downsample=nn.Sequential(conv1x1(32, 64, 2), nn.BatchNorm2d(64))).eval()
    x = (torch.randn(1, 32, 16, 16),)
    with torch.no_grad():
        ref = block(*x)
    out = imc.compile(block, x)(*x)
    assert out.shape == ref.shape == (1, 64, 8, 8)
    assert float((out - ref).abs().max() / ref.abs().max()) < 1e-4
