"""torch-mlir's `tm_tensor` ops that linalg lowering leaves (scan = cumsum/cumprod)."""

import numpy as np
from torch_mlir import ir

from .core import impl

_SCANS = {  # combining bodies of scan and scatter, as NumPy ufuncs
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


_SCATTER_COMBINES = _SCANS  # the same combining bodies


def _scatter_combine(op):
    """The body of a `tm_tensor.scatter` as a NumPy ufunc (None: overwrite).

    Supported bodies: `yield %update` (scatter, index_put) and
    `yield combine(%original, %update)` for add, mul, max, min (scatter_add,
    index_put with accumulate).
    """
    block = op.ir.regions[0].blocks[0]
    update, original = block.arguments[0], block.arguments[1]
    ops = [x.operation for x in block.operations]
    if len(ops) == 1 and ops[0].operands[0] == update:
        return None
    if len(ops) == 2 and ops[0].name in _SCATTER_COMBINES:
        operands = list(ops[0].operands)
        if (
            sorted(map(str, operands)) == sorted(map(str, [update, original]))
            and ops[1].operands[0] == ops[0].results[0]
        ):
            return _SCATTER_COMBINES[ops[0].name]
    raise op.error(
        f"scatter body {[x.name for x in ops]} is not a supported combine (overwrite, add, mul, max, min)"
    )


@impl("tm_tensor.scatter")
def scatter(interp, op, args):
    """`original[dest] = combine(original[dest], updates[n, j...])` for all updates at once.

    `updates` is `[N, slice...]` and `indices` `[N, depth]`; the slice's
    dimensions are the trailing dimensions of `original`, and index column
    `i` is added to the coordinate along `dimension_map[i]` (torch-mlir's
    `ScatterOp::generateScalarImplementation`). Overwrites with repeated
    destinations keep the last update; combines accumulate every update.
    """
    if op.static is None:
        dim_map = list(ir.DenseI64ArrayAttr(op.ir.attributes["dimension_map"]))
        op.static = (dim_map, _scatter_combine(op))
    dim_map, combine = op.static
    updates, indices, original = args
    updates = np.asarray(updates)
    indices = np.asarray(indices)
    out = np.array(original, copy=True)
    rank, slice_rank = out.ndim, updates.ndim - 1
    offset = rank - slice_rank
    coords: list = [None] * rank
    for k in range(slice_rank):  # the slice's own positions
        shape = [1] * updates.ndim
        shape[k + 1] = updates.shape[k + 1]
        coords[offset + k] = np.arange(updates.shape[k + 1]).reshape(shape)
    for i, d in enumerate(dim_map):  # plus the scattered index
        column = indices[:, i].astype(np.int64).reshape((-1,) + (1,) * slice_rank)
        coords[d] = column if coords[d] is None else coords[d] + column
    if any(c is None for c in coords):
        missing = [d for d, c in enumerate(coords) if c is None]
        raise op.error(f"dimensions {missing} of the original are neither indexed nor sliced")
    coords = [np.broadcast_to(c, updates.shape) for c in coords]
    for d, c in enumerate(coords):
        if c.size and (c.min() < 0 or c.max() >= out.shape[d]):
            bad = int(c.min()) if c.min() < 0 else int(c.max())
            raise op.error(f"scatter index {bad} out of bounds for dim {d} of size {out.shape[d]}")
    index = tuple(coords)
    if combine is None:
        out[index] = updates
    else:
        combine.at(out, index, updates.astype(out.dtype, copy=False))
    return [out]
