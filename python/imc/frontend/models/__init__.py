"""Model zoo: deterministic PyTorch model definitions (no downloads).

Every factory takes keyword arguments only, including ``seed`` (parameter
initialisation is deterministic and leaves the global RNG untouched), and
returns the model in **eval** mode (the zoo is for inference compilation).
Each model has a matching example-input function; :data:`ZOO` maps the model
name to both::

    factory, inputs_fn = ZOO["resnet18"]
    model, args = factory(), inputs_fn()

Models are small by default (fast tests) except ``resnet18`` and
``mobilenet_v2``, which are full-size torchvision-equivalent networks
(``mobilenet_v2``'s example input is 64x64 to keep it quick).

``resnet50`` (full-size, torchvision's ``Bottleneck`` layout, 25,557,032
parameters; inputs as ``resnet18_inputs``) is exported but not in
:data:`ZOO`: every ZOO model is imported and compiled by the frontend and
backend tests, and ResNet-50 is for the benchmarks (``benchmarks/latency.py``,
``benchmarks/silicon.py``).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch
from torch import nn

from .bert import BertEncoderModel, bert_encoder, bert_encoder_inputs
from .gpt2 import GPT2Block, gpt2_block, gpt2_block_inputs
from .lenet import LeNet5, lenet5, lenet5_inputs
from .mlp import MLP, mlp, mlp_inputs
from .mobilenet import MobileNetV2, mobilenet_v2, mobilenet_v2_inputs
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet18_inputs, resnet50


class ZooEntry(NamedTuple):
    """A zoo model: its factory and its example-input function."""

    factory: Callable[..., nn.Module]
    example_inputs: Callable[..., tuple[torch.Tensor, ...]]


ZOO: dict[str, ZooEntry] = {
    "mlp": ZooEntry(mlp, mlp_inputs),
    "lenet5": ZooEntry(lenet5, lenet5_inputs),
    "resnet18": ZooEntry(resnet18, resnet18_inputs),
    "mobilenet_v2": ZooEntry(mobilenet_v2, mobilenet_v2_inputs),
    "bert_encoder": ZooEntry(bert_encoder, bert_encoder_inputs),
    "gpt2_block": ZooEntry(gpt2_block, gpt2_block_inputs),
}


def _entry(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        raise KeyError(
            f"imc.frontend.models: unknown model '{name}'; known models: {', '.join(ZOO)}"
        ) from None


def create(name: str, **kwargs: Any) -> nn.Module:
    """Builds zoo model ``name``; ``kwargs`` go to its factory (e.g. ``seed``)."""
    return _entry(name).factory(**kwargs)


def example_inputs(name: str, **kwargs: Any) -> tuple[torch.Tensor, ...]:
    """Example positional inputs for zoo model ``name`` (``kwargs``: batch, seed...)."""
    return _entry(name).example_inputs(**kwargs)


__all__ = [
    "ZOO",
    "ZooEntry",
    "create",
    "example_inputs",
    "mlp",
    "lenet5",
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "bert_encoder",
    "gpt2_block",
    "MLP",
    "LeNet5",
    "ResNet",
    "BasicBlock",
    "Bottleneck",
    "MobileNetV2",
    "BertEncoderModel",
    "GPT2Block",
]
