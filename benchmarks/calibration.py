"""Benchmark: accuracy of `quantized` and `noisy` with and without ADC calibration.

For each model and chip, compiles with `imc.compile` and runs the example
input once per precision and calibration policy, and prints the relative L2
error of the output against PyTorch (float32) and whether the top-1 class
agrees. Uncalibrated, every ADC spans the largest possible column sum;
calibrated (`imc.calibration`), each MVM's ADC spans the partial sums seen on
the example input ("max") or a percentile of them ("p99.9"). The calibration
input is the evaluated input here; `--holdout` calibrates on a second seeded
input instead (a stricter test of the same policy).

    python benchmarks/calibration.py [--models resnet18 ...] [--hardware default isaac metis]
                                     [--precisions quantized noisy] [--holdout]
"""

import argparse
import time
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")

POLICIES = (False, "max", "p99.9")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18"])
    parser.add_argument("--hardware", nargs="+", default=["default", "isaac", "metis"])
    parser.add_argument("--precisions", nargs="+", default=["quantized"], choices=["quantized", "noisy"])
    parser.add_argument("--holdout", action="store_true", help="calibrate on another seeded input")
    args = parser.parse_args(argv)
    import imc
    from imc import models

    print(f"{'model':<12} {'chip':<9} {'precision':<10} {'calibration':<12} {'rel L2':>8} {'top-1':>6} {'time s':>7}")
    for name in args.models:
        model = models.create(name).eval()
        inputs = models.example_inputs(name)
        torch.manual_seed(1)
        calib_inputs = tuple(torch.randn_like(x) for x in inputs) if args.holdout else inputs
        with torch.no_grad():
            ref = model(*inputs).numpy()
        for hw in args.hardware:
            for precision in args.precisions:
                for policy in POLICIES:
                    t0 = time.perf_counter()
                    compiled = imc.compile(model, inputs, hardware=hw, precision=precision, calibrate=False)
                    if policy:
                        compiled.calibrate(calib_inputs, policy)
                    out = compiled(*inputs).numpy()
                    err = np.linalg.norm(out - ref) / np.linalg.norm(ref)
                    top1 = "yes" if out.reshape(out.shape[0], -1).argmax(1)[0] == ref.reshape(ref.shape[0], -1).argmax(1)[0] else "no"
                    label = policy or "off"
                    print(
                        f"{name:<12} {hw:<9} {precision:<10} {label:<12} {err:>8.4f} {top1:>6} {time.perf_counter() - t0:>7.1f}",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
