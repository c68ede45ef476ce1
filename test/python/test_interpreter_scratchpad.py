"""A chip with a huge scratchpad (2^48 bytes, the largest a hardware file may
declare) runs: the interpreter allocates only the bytes the program's
`imc.spad_alloc`s reach, and counts exactly as with a smaller scratchpad
that leads to the same placement."""

import json

import torch
from torch import nn

import imc
from imc.ir.hardware import Hardware


class _Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(64, 16)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def _run(spad_bytes: int):
    torch.manual_seed(0)
    model = _Mlp().eval()
    x = torch.randn(4, 32)
    hw = Hardware.resolve("default").replace(spad_bytes=spad_bytes)
    compiled = imc.compile(model, (x,), hardware=hw)
    out = compiled(x)
    torch.testing.assert_close(out, model(x), rtol=1e-4, atol=1e-4)
    return compiled


def _counters(compiled) -> dict:
    report = json.loads(compiled.report.to_json())
    report.pop("hardware", None)
    report.pop("area_mm2", None)  # the chip's area grows with its scratchpad: not a counter
    return report


def test_huge_scratchpad_allocates_only_what_the_program_uses():
    huge = _run(2**48)
    spad = huge.chip.spad
    assert spad is not None and spad.capacity == 2**48
    assert 0 < spad.memory.size < 1 << 20  # the program's buffers, not 256 TiB
    # The same placement at a 1 GiB scratchpad: every counter is the same.
    assert _counters(huge) == _counters(_run(2**30))
