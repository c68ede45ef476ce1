"""Import-time benchmark: stock Torch-MLIR vs ``imc.frontend.importer.import_torch``.

Imports ResNet-18 (batch 1, 3x224x224, eval mode) to linalg-on-tensors with

* ``torch_mlir.fx.export_and_import(model, x, output_type="linalg-on-tensors")``
  (stock; weights go through ``tensor.tolist()``), and
* ``imc.frontend.importer.import_torch(model, (x,))`` (buffer-protocol weights),

once each in the same process, and prints the wall-clock times side by side,
their ratio and imc's per-phase breakdown.  Both paths are first warmed up on
a tiny model so one-time costs (lazy imports, dispatcher/decomposition table
set-up) are not charged to whichever runs first.

Usage: ``python benchmarks/import_time.py [--model resnet18] [--no-warm-up]``
"""

from __future__ import annotations

import argparse
import time

from torch_mlir import fx

from imc.frontend import models
from imc.frontend.importer import ImportTimings, import_torch


def _warm_up() -> None:
    tiny = models.create("lenet5")
    x = models.example_inputs("lenet5")
    fx.export_and_import(tiny, *x, output_type="linalg-on-tensors")
    import_torch(tiny, x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", choices=sorted(models.ZOO))
    parser.add_argument("--no-warm-up", action="store_true")
    args = parser.parse_args()

    model = models.create(args.model)
    inputs = models.example_inputs(args.model)
    shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {args.model}  inputs: {shapes}  parameters: {n_params:,}")

    if not args.no_warm_up:
        _warm_up()

    t0 = time.perf_counter()
    stock_module = fx.export_and_import(model, *inputs, output_type="linalg-on-tensors")
    stock = time.perf_counter() - t0
    del stock_module

    timings = ImportTimings()
    t0 = time.perf_counter()
    import_torch(model, inputs, timings=timings)
    imc = time.perf_counter() - t0

    print(f"{'':24}{'stock':>10}{'imc':>10}")
    print(f"{'total [s]':24}{stock:10.3f}{imc:10.3f}")
    print(f"speed-up (stock / imc): {stock / imc:.2f}x")
    print("imc breakdown [s]:")
    print(f"  torch.export            {timings.export:8.3f}  (strict={timings.strict})")
    print(f"  run_decompositions      {timings.decompose:8.3f}")
    print(f"  FX import (+weights)    {timings.fx_import:8.3f}")
    print(f"  lowering to linalg      {timings.lowering:8.3f}")


if __name__ == "__main__":
    main()
