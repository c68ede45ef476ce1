"""ResNet-18 and MobileNetV2 (224 x 224) on the default chip with a 64 KiB
scratchpad under `imc-tiled`: their first blocks' row loops run as one
pipeline (`imc-tile-rows{chain-loops}`, `imc.transforms.loop_chain`), so
none of the tensors between them is stored (`imc-place-buffers` places no
tensor of those shapes), and the program matches PyTorch with its placement
proved."""

import re

import numpy as np
import pytest
import torch

import imc
from imc.frontend import models
from imc.ir.hardware import Hardware

# The tensors between the loops of each model's pipeline (8-bit: 50 to 196 KiB each).
NEVER_STORED = {
    "resnet18": ["1x64x56x56", "1x128x28x28"],  # the stem's, layer1's and layer2's outputs
    "mobilenet_v2": ["1x16x112x112", "1x24x56x56"],  # the stem's, features.2's and .3's outputs
}


@pytest.mark.parametrize("name", sorted(NEVER_STORED))
def test_the_first_blocks_run_as_one_pipeline_at_64_kib(name):
    model, inputs = models.create(name).eval(), models.example_inputs(name, size=224)
    hw = Hardware.preset("default").replace(spad_bytes=64 * 1024)
    compiled = imc.compile(model, inputs, hardware=hw, pipeline="builtin.module(imc-tiled)")
    with torch.no_grad():
        ref = model(*inputs).numpy()
    out = np.asarray(compiled(*inputs))
    assert np.abs(out - ref).max() <= 1e-4 * np.abs(ref).max()
    remarks = [str(r) for r in compiled.remarks]
    assert any("placement verified" in r for r in remarks)
    placed = {m for r in remarks if "[imc-place-buffers]" in r for m in re.findall(r"(1x\d+x\d+x\d+)xf32 \(", r)}
    assert placed  # (the later blocks' tensors are placed)
    assert not placed & set(NEVER_STORED[name])
