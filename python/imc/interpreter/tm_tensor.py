"""torch-mlir's `tm_tensor` ops that linalg lowering leaves (scan = cumsum/cumprod)."""

import numpy as np
from torch_mlir import ir

from .core import impl

_SCANS = {
    "arith.addi": np.add,
    "arith.addf": np.add,
    "arith.muli": np.multiply,
    "arith.mulf": np.multiply,
    "arith.maxsi": np.maximum,
    "arith.maximumf": np.maximum,
    "arith.minsi": np.minimum,
    "arith.minimumf": np.minimum,
}


@impl("tm_tensor.scan")
def scan(interp, op, args):
    """Cumulative `combine` along `dimension`, seeded with the accumulator.

    Results: the scan (inclusive or exclusive) and the final accumulator.
    """
    if op.static is None:
        o = op.ir
        body = [x.operation.name for x in o.regions[0].blocks[0].operations]
        if len(body) != 2 or body[0] not in _SCANS:
            raise op.error(f"scan body {body} is not a supported combine (add, mul, max, min)")
        op.static = (
            ir.IntegerAttr(o.attributes["dimension"]).value,
            ir.BoolAttr(o.attributes["inclusive"]).value,
            _SCANS[body[0]],
        )
    dim, inclusive, ufunc = op.static
    x, _, init = args
    acc = np.expand_dims(np.asarray(init, dtype=x.dtype), dim)
    inclusive_scan = ufunc.accumulate(np.concatenate([acc, x], axis=dim), axis=dim)
    n = x.shape[dim]
    take = slice(1, n + 1) if inclusive else slice(0, n)
    out = np.take(inclusive_scan, range(n + 1)[take], axis=dim).astype(x.dtype)
    final = np.take(inclusive_scan, n, axis=dim).astype(x.dtype)
    return [out, final]
