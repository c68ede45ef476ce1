"""Compile time: stock Torch-MLIR import vs imc's whole compile, side by side.

    python benchmarks/compile_time.py [--skip-bert]

Prints, measured in one run: the stock
`torch_mlir.fx.export_and_import(..., output_type="linalg-on-tensors")` time
and imc's whole compile (PyTorch -> imported, mapped, tiled, placed IR) for
ResNet-18, their ratio (target <= 0.5), and imc's time for BERT-base
(`transformers.BertModel(BertConfig())`, sequence 128) when transformers is
installed.
"""

import argparse
import time
import warnings

import torch

warnings.filterwarnings("ignore")


def _time(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip-bert", action="store_true")
    args = p.parse_args(argv)

    import imc
    from imc import models
    from torch_mlir import fx

    # Warm up both paths on a small model so one-time start-up costs do not
    # land on whichever runs first.
    small = models.create("lenet5")
    fx.export_and_import(small, *models.example_inputs("lenet5"), output_type="linalg-on-tensors")
    imc.compile(small, models.example_inputs("lenet5"))

    resnet = models.create("resnet18")
    x = models.example_inputs("resnet18")
    stock, _ = _time(lambda: fx.export_and_import(resnet, *x, output_type="linalg-on-tensors"))
    ours, compiled = _time(lambda: imc.compile(resnet, x))
    print(f"{'model':<12} {'stock import (s)':>17} {'imc compile (s)':>16} {'ratio':>7}")
    print(f"{'resnet18':<12} {stock:>17.2f} {ours:>16.2f} {ours / stock:>7.2f}   (target <= 0.50)")
    print("  imc stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in compiled.timings.items()))

    if not args.skip_bert:
        try:
            from transformers import BertConfig, BertModel
        except ImportError:
            print("bert-base: skipped (transformers is not installed)")
            return 0
        bert = BertModel(BertConfig()).eval()
        ids = torch.randint(0, 30522, (1, 128), generator=torch.Generator().manual_seed(0))
        ours_bert, compiled = _time(lambda: imc.compile(bert, (ids,)))
        print(f"{'bert-base':<12} {'-':>17} {ours_bert:>16.2f}")
        print("  imc stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in compiled.timings.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
