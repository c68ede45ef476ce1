"""Quantization error of one linear layer, imc `quantized` mode next to IBM aihwkit.

aihwkit reports a relative L2 error of about 0.023 for a 512 -> 1024 linear
layer on 128x128 tiles with 8-bit DAC and ADC (inference defaults, before
programming noise). This script builds the closest imc configuration and
prints imc's error ||y - y_ref|| / ||y_ref|| (y_ref = float matmul) next to it:

* ``aihwkit-like``: the default chip replaced with 128x128 crossbars,
  ``dac_bits = input_bits = 8`` (one input cycle, like aihwkit's 8-bit
  DAC/PWM of abs-max-scaled inputs), ``adc_bits = 8`` and
  ``cell_bits = weight_bits = 8`` in one slice (aihwkit keeps a weight as one
  analog conductance; 8 bits is the widest cell imc allows). The ADC keeps the
  default ``adc_range = 1.0``: full scale = the largest possible column sum.
* ``aihwkit-like, adc_range=12/128``: aihwkit's ADC clips at ``out_bound = 12``
  in units of (abs-max-scaled input) x (abs-max-scaled weight) (inputs by
  noise management ABS_MAX, weights by ``weight_scaling_omega = 1``), i.e. 12 of
  the 128 a 128-row tile could reach; its step is ``2 * 12 * out_res`` with
  ``out_res = 1 / (2**8 - 2)``, which equals imc's ``full_scale / (2**7 - 1)``
  with ``adc_range = 12 / 128`` -- if digits reached 255. They do not: a
  signed 8-bit value has magnitude <= 127, and imc's full scale is counted in
  (2**dac_bits - 1) x (2**cell_bits - 1) = 255 x 255 units, so
* ``12/128 x (127/255)^2`` is the range that matches aihwkit's clipping
  point and step exactly.
* ``default chip``: the `default` preset (1-bit DAC, 2-bit cells, 8-bit
  weights/inputs, 8-bit ADC, adc_range 1.0).
* ``digital (no ADC)``: the aihwkit-like chip with ``adc_bits = 0``: only the
  8-bit weight and input quantization remain.

Remaining differences to aihwkit: imc scales weights per tile column (aihwkit
per tile unless ``weight_scaling_columnwise``), imc rounds weights to
``weight_bits`` (aihwkit's conductances are continuous), has no bound management (aihwkit's iterative input
down-scaling when outputs clip) and no output noise term (aihwkit's
``out_noise = 0.06`` default is part of its non-ideal forward pass).

Usage: python benchmarks/aihwkit_compare.py [--batch N] [--seed S]
"""

import argparse

import numpy as np
import torch
from torch import nn

import imc
from imc.hardware import Hardware

AIHWKIT_REL_L2 = 0.023
# imc's ADC full scale counts 8-bit digits and cells as 255 levels, but a signed
# 8-bit input or weight never exceeds 127 in magnitude: this range puts imc's
# clipping point (and step) where aihwkit's out_bound = 12 puts it.
AIHWKIT_MATCHED_RANGE = 12 / 128 * (127 / 255) ** 2


def relative_l2(y: np.ndarray, ref: np.ndarray) -> float:
    """||y - ref||_2 / ||ref||_2 over all elements, in float64."""
    y = np.asarray(y, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.linalg.norm(y - ref) / np.linalg.norm(ref))


def chips() -> dict[str, Hardware]:
    """The compared hardware configurations, by label."""
    base = Hardware.preset("default")
    aihwkit_like = base.replace(
        name="aihwkit-like",
        xbar_rows=128,
        xbar_cols=128,
        dac_bits=8,
        input_bits=8,
        adc_bits=8,
        cell_bits=8,
        weight_bits=8,
    )
    return {
        "aihwkit-like (adc_range=1.0)": aihwkit_like,
        "aihwkit-like (adc_range=12/128)": aihwkit_like.replace(adc_range=12 / 128),
        "aihwkit-like (12/128 x (127/255)^2)": aihwkit_like.replace(adc_range=AIHWKIT_MATCHED_RANGE),
        "default chip": base,
        "aihwkit-like, digital (no ADC)": aihwkit_like.replace(adc_bits=0),
    }


def layer_error(hw: Hardware, *, in_features=512, out_features=1024, batch=256, seed=0) -> float:
    """Relative L2 error of imc's quantized linear layer on `hw` (Gaussian weights and inputs)."""
    gen = torch.Generator().manual_seed(seed)
    layer = nn.Linear(in_features, out_features, bias=False).eval()
    with torch.no_grad():
        layer.weight.copy_(torch.randn(out_features, in_features, generator=gen))
    x = torch.randn(batch, in_features, generator=gen)
    with torch.no_grad():
        ref = layer(x).numpy()
    compiled = imc.compile(layer, (x,), hardware=hw, precision="quantized", seed=seed)
    return relative_l2(compiled(x).numpy(), ref)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(f"512 -> 1024 linear layer, batch {args.batch}, Gaussian weights and inputs (seed {args.seed})")
    print(f"{'configuration':<38} {'DAC':>4} {'cell':>4} {'ADC':>4} {'range':>7} {'rel L2 error':>13}")
    for label, hw in chips().items():
        err = layer_error(hw, batch=args.batch, seed=args.seed)
        print(
            f"{label:<38} {hw.dac_bits:>4} {hw.cell_bits:>4} {hw.adc_bits:>4} {hw.adc_range:>7.4f} {err:>13.4f}"
        )
    print(f"{'aihwkit (reported)':<38} {8:>4} {'-':>4} {8:>4} {'12/128':>7} {AIHWKIT_REL_L2:>13.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
