"""Accuracy per layer: how far `quantized` or `noisy` drifts from `ideal`.

`layer_errors` runs a placed program twice on the same inputs, in `ideal`
and in the given precision, records every tensor stored between layers (the
values `imc-place-buffers` materializes into the scratchpad or DRAM: each
layer's outputs) and the program's outputs, and returns per layer the
relative L2 error ||y - y_ideal|| / ||y_ideal|| over everything the layer
stored in one call. The error of a layer includes what its inputs carried
from earlier layers: it is the error a user sees at that point of the model.
"""

from __future__ import annotations

import numpy as np

__all__ = ["layer_errors", "OUTPUTS"]

OUTPUTS = "<outputs>"
"""The row name of the program's outputs in `layer_errors`."""


def _stored(module, hardware, inputs, precision: str, seed: int, entry: str):
    from imc.sim.runtime import Runner

    runner = Runner(module, hardware, precision=precision, seed=seed, entry=entry)
    values: list[tuple[str, np.ndarray]] = []
    runner.stored_tensor_hook = lambda row, a: values.append((row.name, np.array(a, dtype=np.float64)))
    outputs = runner(*inputs)
    values += [(OUTPUTS, np.asarray(o, dtype=np.float64)) for o in outputs]
    return values


def layer_errors(module, hardware, inputs, *, precision: str, seed: int = 0, entry: str = "main") -> dict[str, float]:
    """Relative L2 error of each layer's stored tensors under `precision`
    against `ideal`, in program order (`inputs`: NumPy arrays, one call)."""
    ideal = _stored(module, hardware, inputs, "ideal", seed, entry)
    other = _stored(module, hardware, inputs, precision, seed, entry)
    if [n for n, _ in ideal] != [n for n, _ in other]:
        raise RuntimeError("layer_errors: the two runs stored different tensors (a data-dependent program?)")
    sums: dict[str, list[float]] = {}
    for (name, ref), (_, y) in zip(ideal, other):
        acc = sums.setdefault(name, [0.0, 0.0])
        acc[0] += float(np.sum((y - ref) ** 2))
        acc[1] += float(np.sum(ref**2))
    return {name: (np.sqrt(d / r) if r > 0 else (0.0 if d == 0 else float("inf"))) for name, (d, r) in sums.items()}
