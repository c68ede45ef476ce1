"""Compile time: stock Torch-MLIR import vs imc's whole compile, side by side.

    python benchmarks/compile_time.py [--models resnet18,convnext_t] [--repeat N] [--skip-bert] [--verify-cost]

Prints, measured in one run, for ResNet-18 (224x224), MobileNetV2,
ConvNeXt-T and EfficientNetV2-S (64x64 inputs; the last two from
`vision_models.py`, random weights): the stock
`torch_mlir.fx.export_and_import(..., output_type="linalg-on-tensors")` time,
imc's whole `imc.compile` (PyTorch -> imported, mapped, tiled, placed and
verified IR, ready to run), their ratio and the target (<= 0.5), then imc's
stages; and imc's time for BERT-base (`transformers.BertModel(BertConfig())`,
sequence 128) when transformers is installed. With `--repeat N` each figure
is the fastest of N runs (stock and imc alternate, so load hits both alike).
`--verify-cost` also times imc's pass pipeline verified after every pass
(the default) against verified once at the end.
"""

import argparse
import time
import warnings

import torch

warnings.filterwarnings("ignore")

TARGET = 0.5
"""imc's compile time over the stock import's, at most (issue 17)."""


def _time(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def architectures() -> dict:
    """name -> (label, model factory, inputs factory), in the table's order."""
    import vision_models as vm

    from imc.frontend import models

    return {
        "resnet18": ("ResNet-18 224x224", lambda: models.create("resnet18"), lambda: models.example_inputs("resnet18")),
        "mobilenet_v2": ("MobileNetV2 64x64", lambda: models.create("mobilenet_v2"), lambda: models.example_inputs("mobilenet_v2", size=64)),
        "convnext_t": ("ConvNeXt-T 64x64", vm.convnext_tiny, lambda: vm.image(64)),
        "efficientnet_v2_s": ("EfficientNetV2-S 64x64", vm.efficientnet_v2_s, lambda: vm.image(64)),
    }


def measure(model, inputs, repeat: int):
    """(stock s, imc s, the last CompiledModel): fastest of `repeat` runs each."""
    import imc
    from torch_mlir import fx

    stock = ours = float("inf")
    compiled = None
    for _ in range(repeat):
        t, module = _time(lambda: fx.export_and_import(model, *inputs, output_type="linalg-on-tensors"))
        del module
        stock = min(stock, t)
        compiled = None  # free the previous one before compiling again
        t, compiled = _time(lambda: imc.compile(model, inputs))
        ours = min(ours, t)
    return stock, ours, compiled


def verification_cost(model, inputs) -> tuple[float, float]:
    """(s, s): imc's pass pipeline on the imported model, verified after every
    pass (imc.compile's default) and verified once at the end, side by side."""
    from imc.driver.compiler import DEFAULT_PIPELINE
    from imc.frontend.importer import import_torch
    from imc.ir.context import make_context
    from imc.ir.hardware import Hardware
    from imc.transforms.pipeline import run_pipeline

    times = []
    for verify_each in (True, False):
        context = make_context()
        with context:
            module = import_torch(model, inputs, context=context)
            t, _ = _time(lambda: run_pipeline(module, DEFAULT_PIPELINE, hardware=Hardware.resolve("default"), verify_each=verify_each))
        times.append(t)
        del module, context
    return times[0], times[1]


def _stages(compiled, total: float) -> str:
    stages = dict(compiled.timings)
    stages["prepare"] = max(0.0, total - sum(stages.values()))  # CompiledModel's interpreter check
    return ", ".join(f"{k} {v:.2f} s" for k, v in stages.items())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=None, help="comma-separated subset of: resnet18, mobilenet_v2, convnext_t, efficientnet_v2_s")
    p.add_argument("--repeat", type=int, default=1, help="runs per figure; the fastest counts (default 1)")
    p.add_argument("--skip-bert", action="store_true")
    p.add_argument("--verify-cost", action="store_true", help="also time the pass pipeline verified after every pass vs once")
    args = p.parse_args(argv)

    import imc
    from imc.frontend import models
    from torch_mlir import fx

    archs = architectures()
    names = args.models.split(",") if args.models else list(archs)
    unknown = [n for n in names if n not in archs]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(archs)}")

    # Warm up both paths on a small model so one-time start-up costs do not
    # land on whichever runs first.
    small = models.create("lenet5")
    fx.export_and_import(small, *models.example_inputs("lenet5"), output_type="linalg-on-tensors")
    imc.compile(small, models.example_inputs("lenet5"))

    print(f"{'model':<24} {'stock import (s)':>17} {'imc compile (s)':>16} {'ratio':>7} {'target':>8}")
    stages = []
    for name in names:
        label, make_model, make_inputs = archs[name]
        stock, ours, compiled = measure(make_model(), make_inputs(), args.repeat)
        ratio = ours / stock
        verdict = "ok" if ratio <= TARGET else "MISSED"
        print(f"{label:<24} {stock:>17.2f} {ours:>16.2f} {ratio:>7.2f} {'<= ' + format(TARGET, '.2f'):>8}  {verdict}", flush=True)
        stages.append(f"  {label}: {_stages(compiled, ours)}")
        del compiled
    print("imc stages:")
    print("\n".join(stages))
    if args.verify_cost:
        print(f"{'passes, verified:':<24} {'after each (s)':>17} {'once (s)':>16} {'ratio':>7}")
        for name in names:
            label, make_model, make_inputs = archs[name]
            each, once = verification_cost(make_model(), make_inputs())
            print(f"{label:<24} {each:>17.2f} {once:>16.2f} {each / once:>7.2f}", flush=True)

    if not args.skip_bert:
        try:
            from transformers import BertConfig, BertModel
        except ImportError:
            print("bert-base: skipped (transformers is not installed)")
            return 0
        bert = BertModel(BertConfig()).eval()
        ids = torch.randint(0, 30522, (1, 128), generator=torch.Generator().manual_seed(0))
        ours_bert, compiled = _time(lambda: imc.compile(bert, (ids,)))
        print(f"{'bert-base':<24} {'-':>17} {ours_bert:>16.2f}")
        print(f"  bert-base: {_stages(compiled, ours_bert)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
