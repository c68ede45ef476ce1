"""The integers that index values take in one loop trip.

`evaluate(value, values)` folds the `arith` index arithmetic a tiled loop
computes its windows with (constants, the binary integer ops, `cmpi`,
`select`, `index_cast`) given the integers some block arguments take in one
trip (`values`, usually an `scf.for` induction variable's). It memoizes what
it computes in `values`, so a trip's dict (or a `collections.ChainMap` over
an enclosing trip's) is evaluated once per value. `slice_rows(op, values)`:
the rows a row slice or row insert touches in such a trip. Used by
`in_place` (which enumerates a loop's trips to prove writes do not clobber
later reads), `row_inserts` (which checks, trip by trip, the rows a loop
inserts) and `buffer_check` (which follows a loop's trips when their bounds
are known).
"""

from __future__ import annotations

from torch_mlir import ir

from imc.ir.utils import constant_int

__all__ = ["evaluate", "slice_rows"]

_DYN = ir.ShapedType.get_dynamic_size()

_BINARY = {
    "arith.addi": lambda a, b: a + b,
    "arith.subi": lambda a, b: a - b,
    "arith.muli": lambda a, b: a * b,
    "arith.maxsi": max,
    "arith.minsi": min,
    "arith.divsi": lambda a, b: int(a / b) if b else None,
    "arith.divui": lambda a, b: a // b if b else None,
    "arith.floordivsi": lambda a, b: a // b if b else None,
    "arith.ceildivsi": lambda a, b: -(-a // b) if b else None,
    "arith.remsi": lambda a, b: a - b * int(a / b) if b else None,
}
_U64 = (1 << 64) - 1
_PREDICATES = {  # arith.cmpi's predicates: eq, ne, slt, sle, sgt, sge, ult, ule, ugt, uge
    0: lambda a, b: a == b,
    1: lambda a, b: a != b,
    2: lambda a, b: a < b,
    3: lambda a, b: a <= b,
    4: lambda a, b: a > b,
    5: lambda a, b: a >= b,
    6: lambda a, b: a & _U64 < b & _U64,
    7: lambda a, b: a & _U64 <= b & _U64,
    8: lambda a, b: a & _U64 > b & _U64,
    9: lambda a, b: a & _U64 >= b & _U64,
}


def evaluate(value, values) -> int | None:
    """The integer `value` takes in the trip `values` describes (a mapping
    from values to integers, memoizing into it), or None when it depends on
    anything else."""
    if value in values:
        return values[value]
    owner = value.owner
    if isinstance(owner, ir.Block):
        return None
    op = owner.operation
    name = op.name
    result = None
    if name == "arith.constant":
        result = constant_int(value)
    elif name in _BINARY:
        a, b = (evaluate(v, values) for v in op.operands)
        result = None if a is None or b is None else _BINARY[name](a, b)
    elif name == "arith.cmpi":
        a, b = (evaluate(v, values) for v in op.operands)
        pred = ir.IntegerAttr(op.attributes["predicate"]).value
        result = None if a is None or b is None or pred not in _PREDICATES else int(_PREDICATES[pred](a, b))
    elif name == "arith.select":
        c = evaluate(op.operands[0], values)
        result = None if c is None else evaluate(op.operands[1 if c else 2], values)
    elif name == "arith.index_cast":
        result = evaluate(op.operands[0], values)
    values[value] = result
    return result


def slice_rows(op, values) -> tuple[int, int] | None:
    """Rows [lo, hi) of dimension 2 that a rank-4 `tensor.extract_slice` reads or
    `tensor.insert_slice` writes in the trip `values` describes, or None."""
    offsets, sizes = (list(ir.DenseI64ArrayAttr(op.attributes[k])) for k in ("static_offsets", "static_sizes"))
    if len(offsets) != 4:
        return None
    dynamic = list(op.operands)[1 if op.name == "tensor.extract_slice" else 2 :]
    k = 0
    got = []
    for static in (offsets, sizes):
        row = None
        for d, s in enumerate(static):
            if s == _DYN:
                v = evaluate(dynamic[k], values) if k < len(dynamic) else None
                k += 1
                if d == 2:
                    row = v
            elif d == 2:
                row = s
        if row is None:
            return None
        got.append(row)
    lo, n = got
    return lo, lo + n
