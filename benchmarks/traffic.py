"""Benchmark: DRAM traffic per call next to the physical floor and both bounds.

For ResNet-18 (batch 1, 3x224x224), MobileNetV2 (3x224x224) and BERT-base
(sequence 128), on the default chip with a 256 KiB and a 64 KiB scratchpad,
compiles with `imc.compile` (`imc-default` and `imc-tiled`), runs two calls
on the interpreter (the counts come from executing the IR) and prints, per
call, the DRAM bytes of the cold call (the first: weights programmed) and of
the warm call (the second: weights already in the crossbars) next to

  * the physical floor (model inputs and outputs once, every distinct weight
    tile once, constants once; warm: inputs and outputs),
  * the bound over all schedules without recomputation (the floor plus
    weights and constants no on-chip memory can keep between calls),
  * the layer-at-a-time bound (schedules that store whole tensors between
    stages, as imc-default does),

and the ratios of measured to each (docs/analysis.md, section 4). With
`--layers N` the N layers with the largest excess over their floor are shown
with the reason (`remark`).

Then ZigZag's AIMC example layer (3x3 conv, 64 -> 64 channels, 56x56,
stride 1, padding 1, 8-bit activations and weights, 128x128 crossbars,
32 KiB buffer): ZigZag reports 2,320,640 DRAM bytes and 49 crossbar
rewrites; weights programmed once plus input and output moved once is
438,272 bytes. The layer's working set (200,704 B in, 200,704 B out) is 12x
the buffer, so it is compiled with `imc-tiled` (imc-tile-rows, then
imc-default's passes, the layer copied onto spare crossbars): the conv runs
over tiles of output rows, its input rows
stream through a scratchpad slab that keeps the 2-row halo, and the placement
is proved by `imc-check-buffers`. It is also shown untiled.

    python benchmarks/traffic.py [--only resnet18|mobilenet_v2|bert|zigzag] [--layers N] [--spad KIB ...]
"""

import argparse
import time
import warnings

import torch
from common import bert_base  # benchmarks/common.py
from zigzag import ZigZagLayer, zigzag_hardware  # benchmarks/zigzag.py

warnings.filterwarnings("ignore")

ZIGZAG_DRAM_BYTES = 2_320_640
ZIGZAG_REWRITES = 49
TILED = "builtin.module(imc-tiled)"
LAYER_AT_A_TIME = "builtin.module(imc-default)"


def _zoo(name):
    from imc.frontend import models

    return name, models.create(name).eval(), models.example_inputs(name, size=224)  # 3x224x224


class Traffic:
    """Measured DRAM bytes of a cold and a warm call with the floor and bounds."""

    def __init__(self, compiled, inputs):
        from imc.sim.analysis import IO_LAYER

        def moved():
            t = compiled.report.totals
            return t.dram_read_bytes + t.dram_write_bytes

        compiled(*inputs)
        self.cold = moved()
        compiled(*inputs)
        self.warm = moved() - self.cold
        b = compiled.lower_bounds()  # annotates the report for its two calls
        self.floor = (b.floor_for_calls(1), b.floor_for_calls(2) - b.floor_for_calls(1))
        self.bound = (b.schedule_bound_for_calls(1), b.schedule_bound_for_calls(2) - b.schedule_bound_for_calls(1))
        self.layer_bound = (b.bytes_for_calls(1), b.bytes_for_calls(2) - b.bytes_for_calls(1))
        self.rows = [r for r in compiled.report.layers.values() if r.name != IO_LAYER]


def measure(model, inputs, hardware, pipeline=None):
    import imc

    t0 = time.perf_counter()
    kwargs = {"pipeline": pipeline} if pipeline else {}
    compiled = imc.compile(model, inputs, hardware=hardware, **kwargs)
    t_compile = time.perf_counter() - t0
    return Traffic(compiled, inputs), compiled, t_compile


def _ratio(a, b) -> str:
    return f"{a / b:8.2f}x" if b else "       -"


def _print_traffic(t: Traffic, show_layers: int) -> None:
    print(f"  {'':<6} {'measured':>13} {'floor':>13} {'bound':>13} {'layer bound':>13} {'/floor':>9} {'/bound':>9} {'/layer':>9}")
    for k, call in enumerate(("cold", "warm")):
        m = (t.cold, t.warm)[k]
        print(
            f"  {call:<6} {m:>13,} {t.floor[k]:>13,} {t.bound[k]:>13,} {t.layer_bound[k]:>13,} "
            f"{_ratio(m, t.floor[k])} {_ratio(m, t.bound[k])} {_ratio(m, t.layer_bound[k])}"
        )
    if show_layers:

        def excess(r):
            c = r.counters
            return c.dram_read_bytes + c.dram_write_bytes - (r.floor_bytes or 0)

        for r in sorted((r for r in t.rows if r.remark), key=excess, reverse=True)[:show_layers]:
            print(f"    {r.name[:28]:<28} {r.remark} (two calls)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["resnet18", "mobilenet_v2", "bert", "zigzag"])
    parser.add_argument("--layers", type=int, default=3, help="layers with the largest excess over their floor to show")
    parser.add_argument("--spad", type=int, nargs="+", default=[256, 64], help="scratchpad sizes in KiB")
    args = parser.parse_args(argv)
    from imc.ir.hardware import Hardware
    from imc.transforms.pipeline import PipelineError

    default = Hardware.preset("default")
    results = []
    models = []
    for name in ("resnet18", "mobilenet_v2"):
        if args.only in (None, name):
            models.append(_zoo(name))
    if args.only in (None, "bert"):
        models.append(bert_base())
    for name, model, inputs in models:
        pipelines = [LAYER_AT_A_TIME, TILED]  # (BERT: imc-tiled runs each feed-forward block in one row loop)
        for spad in args.spad:
            hw = default.replace(spad_bytes=spad * 1024)
            for pipeline in pipelines:
                label = f"{name} @ {spad} KiB, {'imc-tiled' if pipeline == TILED else 'imc-default'}"
                print(f"\n{label}", flush=True)
                try:
                    t, _, t_compile = measure(model, inputs, hw, pipeline)
                except PipelineError as exc:  # e.g. a tiled stage whose row slabs do not fit
                    print(f"  does not compile: {exc.diagnostics[0] if exc.diagnostics else exc}")
                    continue
                _print_traffic(t, args.layers)
                print(f"  (compile {t_compile:.1f} s)")
                results.append((label, t))
    if results:
        print(f"\n{'program':<40} {'warm call':>12} {'warm floor':>11} {'/floor':>9} {'cold call':>12} {'cold floor':>12} {'/floor':>9} {'/layer bnd':>10}")
        for label, t in results:
            print(
                f"{label:<40} {t.warm:>12,} {t.floor[1]:>11,} {_ratio(t.warm, t.floor[1])} {t.cold:>12,} "
                f"{t.floor[0]:>12,} {_ratio(t.cold, t.floor[0])} {_ratio(t.warm, t.layer_bound[1]):>10}"
            )
    if args.only in (None, "zigzag"):
        import imc

        hw = zigzag_hardware()
        torch.manual_seed(0)
        layer = ZigZagLayer().eval()
        x = torch.randint(-128, 128, (1, 64, 56, 56), dtype=torch.int8)
        print("\nZigZag AIMC example layer, 32 KiB buffer, 8-bit activations")
        untiled = imc.compile(layer, (x,), hardware=hw, pipeline=LAYER_AT_A_TIME)
        untiled(x)
        compiled = imc.compile(layer, (x,), hardware=hw, pipeline=TILED)
        compiled(x)
        bounds = compiled.lower_bounds()
        t = compiled.report.totals
        moved = t.dram_read_bytes + t.dram_write_bytes
        u = untiled.report.totals
        programs = t.xbar_program_events
        print(
            f"  imc, tiled ({TILED}): {moved:,} B of DRAM traffic ({t.dram_read_bytes:,} read, "
            f"{t.dram_write_bytes:,} written); {programs} crossbar programming events for "
            f"{t.xbar_cells_programmed:,} cells ({t.xbar_cells_programmed // (64 * 9 * 64 * 4)}x the weights' cells: "
            f"each weight slice and each copy of it on a spare crossbar programmed once)"
        )
        for r in compiled.remarks:
            if "imc-tile-rows" in str(r) or "streamed in rows" in str(r) or "imc-check-buffers" in str(r):
                print("   ", str(r).split("remark: ", 1)[-1])
        print(f"  imc, untiled (imc-default): {u.dram_read_bytes + u.dram_write_bytes:,} B")
        separate = imc.compile(layer, (x,), hardware=hw.replace(bit_slices="separate"), pipeline=TILED)
        separate(x)
        s = separate.report.totals
        for label, c in (("adjacent (shared DACs, shift-add in the periphery)", t), ("separate (one array per slice)", s)):
            print(
                f"  bit slices {label}: {c.dac_conversions:,} DAC conversions, {c.adc_conversions:,} ADC conversions, "
                f"{c.spad_read_bytes + c.spad_write_bytes:,} scratchpad bytes"
            )
        print(f"  compulsory (weights once + input + output): {bounds.compulsory_bytes:,} B; ratio {moved / bounds.compulsory_bytes:.4f}")
        print(f"  ZigZag: {ZIGZAG_DRAM_BYTES:,} B and {ZIGZAG_REWRITES} crossbar rewrites ({ZIGZAG_DRAM_BYTES / bounds.compulsory_bytes:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
