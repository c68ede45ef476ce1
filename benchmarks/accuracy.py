"""Benchmark: accuracy of `quantized` and `noisy` with and without ADC calibration.

For each model (ResNet-18 at 224x224 and the zoo's BERT encoder by default)
and preset, compiles with `imc.compile` and runs the example input once per
precision and calibration policy, and prints the relative L2 error of the
output against PyTorch (float32) and the fraction of positions whose top-1
class (argmax over the last dimension) agrees. Uncalibrated, every ADC spans
the largest possible column sum; calibrated (`imc.sim.calibration`), each MVM's
ADC spans the partial sums seen on
the example input ("max") or a percentile of them ("p99.9"). The calibration
input is the evaluated input here; `--holdout` calibrates on a second seeded
input instead (a stricter test of the same policy).

    python benchmarks/accuracy.py [--models resnet18 bert_encoder] [--hardware PRESET ...]
                                  [--precisions quantized noisy] [--policies off max p99.9] [--holdout]
"""

import argparse
import time
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")



def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "bert_encoder"])
    parser.add_argument("--hardware", nargs="+", default=None, help="presets (default: all)")
    parser.add_argument("--precisions", nargs="+", default=["quantized", "noisy"], choices=["quantized", "noisy"])
    parser.add_argument("--policies", nargs="+", default=["off", "max"], help="calibration policies: off, max, pNN.N")
    parser.add_argument("--holdout", action="store_true", help="calibrate on another seeded input")
    args = parser.parse_args(argv)
    import imc
    from imc.frontend import models
    from imc.ir.hardware import Hardware

    presets = args.hardware or sorted(Hardware.presets())

    print(f"{'model':<12} {'chip':<9} {'precision':<10} {'calibration':<12} {'rel L2':>8} {'top-1':>6} {'time s':>7}")
    for name in args.models:
        model = models.create(name).eval()
        inputs = models.example_inputs(name)
        torch.manual_seed(1)
        calib_inputs = tuple(torch.randn_like(x) for x in inputs) if args.holdout else inputs
        with torch.no_grad():
            ref = model(*inputs).numpy()
        for hw in presets:
            for precision in args.precisions:
                for policy in args.policies:
                    t0 = time.perf_counter()
                    compiled = imc.compile(model, inputs, hardware=hw, precision=precision, calibrate=False)
                    if policy != "off":
                        compiled.calibrate(calib_inputs, policy)
                    out = compiled(*inputs).numpy()
                    err = np.linalg.norm(out - ref) / np.linalg.norm(ref)
                    top1 = float(np.mean(out.argmax(-1) == ref.argmax(-1)))
                    print(
                        f"{name:<12} {hw:<9} {precision:<10} {policy:<12} {err:>8.4f} {top1:>6.2f} {time.perf_counter() - t0:>7.1f}",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
