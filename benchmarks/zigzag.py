"""ZigZag's AIMC example layer, compiled: a fixture shared by the benchmarks and the tests.

3x3 conv, 64 -> 64 channels, 56x56, stride 1, padding 1, no bias, 8-bit
weights and activations, 128x128 crossbars, 32 KiB buffer.
"""

import torch


def zigzag_example_bound() -> int:
    """Compulsory DRAM bytes of ZigZag's AIMC example layer, from a compiled conv.

    Weights once plus input and output once (36,864 + 200,704 + 200,704 =
    438,272 bytes), computed by `imc.analysis.lower_bounds` on the layer
    compiled by `imc.compile`.
    """
    from imc.analysis import lower_bounds
    from imc.compiler import compile as imc_compile
    from imc.hardware import Hardware

    hw = Hardware.preset("default").replace(
        name="zigzag-aimc", spad_bytes=32 * 1024, weight_bits=8, input_bits=8, xbar_rows=128, xbar_cols=128
    )
    conv = torch.nn.Conv2d(64, 64, 3, stride=1, padding=1, bias=False).eval()
    compiled = imc_compile(conv, (torch.zeros(1, 64, 56, 56),), hardware=hw)
    with compiled.context:
        bounds = lower_bounds(compiled.module, hw, activation_bits=8)
    return bounds.compulsory_bytes
