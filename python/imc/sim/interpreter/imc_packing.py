"""The integer forms the converting modes (`quantized`, `noisy`) compute with.

Shared by `imc.sim.interpreter.imc` (one MVM stack at a time) and
`imc.sim.interpreter.imc_run_batches` (several at once), so that both
compute the same float32 values by the same operations.
"""

from __future__ import annotations

import numpy as np

__all__ = ["packed_pair", "quantized_rows"]


def quantized_rows(x: np.ndarray, ib: int) -> tuple:
    """(scale, q, qmax): each row of `x` (its last axis) quantized to a signed
    `ib`-bit integer `q` (integer-valued float32, |q| <= qmax) of its own
    `scale` (its largest |x| over qmax, 1 for a zero row; a trailing axis
    of 1)."""
    qmax = 2 ** (ib - 1) - 1 if ib > 1 else 1
    amax = np.max(np.abs(x), axis=-1, keepdims=True)
    scale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
    return scale, np.clip(np.rint(x / scale), -qmax, qmax), qmax


def packed_pair(low: np.ndarray, high: np.ndarray, base: np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """`low + base * high` in one new array, or in `out` (exact: small
    integers; `imc.sim.interpreter.imc._slice_pairs`)."""
    pair = np.multiply(high, base, out=out)
    pair += low
    return pair
