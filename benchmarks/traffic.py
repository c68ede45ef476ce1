"""Benchmark: DRAM traffic of placed programs next to the I/O lower bound.

For ResNet-18 (batch 1, 3x224x224) and BERT-base (sequence 128), each on the
default chip and on the same chip with a 4x smaller scratchpad, compiles with
`imc.compile` (default pipeline: map to crossbars, place buffers, check; for
ResNet-18 also `imc-tiled`, where every convolution stage that does not fit
is tiled over output rows and its inputs stream through halo slabs),
runs one call on the interpreter (the counts come from executing the IR) and
prints per layer and in total the DRAM bytes moved, the lower bound
(`imc.analysis.lower_bounds`, one cold call) and their ratio. Target: total
<= 1.10x the bound on both models at both sizes.

Then ZigZag's AIMC example layer (3x3 conv, 64 -> 64 channels, 56x56,
stride 1, padding 1, 8-bit activations and weights, 128x128 crossbars,
32 KiB buffer): ZigZag reports 2,320,640 DRAM bytes and 49 crossbar
rewrites; weights programmed once plus input and output moved once is
438,272 bytes. Target: <= 1.10x that, each weight programmed once. The
layer's working set (200,704 B in, 200,704 B out) is 12x the buffer, so it
is compiled with `imc-tiled` (imc-tile-rows, then the default pipeline): the conv runs
over tiles of output rows, its input rows stream through a scratchpad slab
that keeps the 2-row halo (one DMA per row, each row loaded once), and the
placement is proved by `imc-check-buffers`; output tiles are inserted into
the returned tensor, written at the call boundary. It is also shown untiled
(the default pipeline, where the stage's datapath holds whole tensors).

    python benchmarks/traffic.py [--only resnet18|bert|zigzag] [--layers N]
"""

import argparse
import time
import warnings

import torch
from common import bert_base  # benchmarks/common.py

warnings.filterwarnings("ignore")

ZIGZAG_DRAM_BYTES = 2_320_640
ZIGZAG_REWRITES = 49
TILED = "builtin.module(imc-tiled)"


def _resnet():
    from imc import models

    return "resnet18", models.create("resnet18").eval(), models.example_inputs("resnet18")


class ZigZagLayer(torch.nn.Module):
    """ZigZag's AIMC example: int8 activations in and out, a 3x3 conv between."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False)

    def forward(self, x):
        y = self.conv(x.float() * (1.0 / 16))
        return torch.clamp(torch.round(y * 16), -128, 127).to(torch.int8)


def measure(model, inputs, hardware, show_layers: int, pipeline=None):
    import imc
    from imc.analysis import IO_LAYER

    t0 = time.perf_counter()
    kwargs = {"pipeline": pipeline} if pipeline else {}
    compiled = imc.compile(model, inputs, hardware=hardware, **kwargs)
    t_compile = time.perf_counter() - t0
    compiled(*inputs)
    bounds = compiled.lower_bounds()
    report = compiled.report
    rows = []
    for row in report.layers.values():
        c = row.counters
        moved = c.dram_read_bytes + c.dram_write_bytes
        rows.append((row.name, moved, row.lower_bound_bytes))
    total = report.totals
    moved = total.dram_read_bytes + total.dram_write_bytes
    bound = report.extra["lower_bound_bytes"]
    if show_layers:
        print(f"  {'layer':<34} {'DRAM bytes':>14} {'bound':>14} {'ratio':>7}")
        worst = sorted(rows, key=lambda r: -(r[1] - (r[2] or 0)))[:show_layers]
        for name, m, b in sorted(worst, key=lambda r: [x[0] for x in rows].index(r[0])):
            ratio = f"{m / b:7.3f}" if b else "      -"
            print(f"  {name[:34]:<34} {m:>14,} {(b if b is not None else 0):>14,} {ratio}")
        print(f"  ({show_layers} layers with the largest excess over their bound shown; '{IO_LAYER}' is the call's I/O)")
    return moved, bound, t_compile, compiled, bounds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["resnet18", "bert", "zigzag"])
    parser.add_argument("--layers", type=int, default=8, help="per-layer rows to show (largest excess first)")
    args = parser.parse_args(argv)
    from imc.hardware import Hardware

    default = Hardware.preset("default")
    results = []
    models = []
    if args.only in (None, "resnet18"):
        models.append(_resnet())
    if args.only in (None, "bert"):
        models.append(bert_base())
    for name, model, inputs in models:
        for spad in (default.spad_bytes, default.spad_bytes // 4):
            hw = default.replace(spad_bytes=spad)
            print(f"\n{name}, scratchpad {spad:,} B")
            moved, bound, t_compile, _, _ = measure(model, inputs, hw, args.layers)
            print(f"  total: {moved:,} B moved, bound {bound:,} B, ratio {moved / bound:.4f} (compile {t_compile:.1f} s)")
            results.append((f"{name} @ {spad // 1024} KiB", moved, bound))
            if name == "resnet18":  # BERT has no convolution stages: imc-tiled is imc-default
                print(f"\n{name}, scratchpad {spad:,} B, {TILED}")
                moved, bound, t_compile, compiled, _ = measure(model, inputs, hw, args.layers, pipeline=TILED)
                for r in compiled.remarks:
                    if "stored tensors over" in str(r):
                        print("   ", str(r).split("remark: ", 1)[-1])
                print(f"  total: {moved:,} B moved, bound {bound:,} B, ratio {moved / bound:.4f} (compile {t_compile:.1f} s)")
                results.append((f"{name} @ {spad // 1024} KiB (tiled)", moved, bound))
    if args.only in (None, "zigzag"):
        hw = default.replace(spad_bytes=32 * 1024)
        torch.manual_seed(0)
        layer = ZigZagLayer().eval()
        x = torch.randint(-128, 128, (1, 64, 56, 56), dtype=torch.int8)
        print("\nZigZag AIMC example layer, 32 KiB buffer, 8-bit activations")
        untiled, _, _, _, _ = measure(layer, (x,), hw, 0)
        moved, bound, _, compiled, bounds = measure(layer, (x,), hw, 0, pipeline=TILED)
        t = compiled.report.totals
        programs = t.xbar_program_events
        print(
            f"  imc, tiled ({TILED}): {moved:,} B of DRAM traffic ({t.dram_read_bytes:,} read, "
            f"{t.dram_write_bytes:,} written); {programs} crossbar programming events for "
            f"{t.xbar_cells_programmed:,} cells ({t.xbar_cells_programmed // (64 * 9 * 64 * 4)}x the weights' cells: "
            f"each weight slice programmed once)"
        )
        for r in compiled.remarks:
            if "imc-tile-rows" in str(r) or "streamed in rows" in str(r) or "imc-check-buffers" in str(r):
                print("   ", str(r).split("remark: ", 1)[-1])
        print(f"  imc, untiled (default pipeline): {untiled:,} B")
        print(f"  compulsory (weights once + input + output): {bounds.compulsory_bytes:,} B; ratio {moved / bounds.compulsory_bytes:.4f}")
        print(f"  ZigZag: {ZIGZAG_DRAM_BYTES:,} B and {ZIGZAG_REWRITES} crossbar rewrites ({ZIGZAG_DRAM_BYTES / bounds.compulsory_bytes:.2f}x)")
        results.append(("zigzag layer @ 32 KiB (tiled)", moved, bounds.compulsory_bytes))
    print(f"\n{'program':<30} {'DRAM bytes':>14} {'bound':>14} {'ratio':>7}  (target <= 1.10)")
    for label, moved, bound in results:
        print(f"{label:<30} {moved:>14,} {bound:>14,} {moved / bound:7.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
