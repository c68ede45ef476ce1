"""How a row loop assembles its output: the rows each trip inserts.

A row loop that `imc-tile-rows` builds over the `H` rows of its output `Y`,
`R` rows per trip (trip `i` at row `R i`), assembles `Y` in its first
iteration argument: trip `i` inserts rows `[R i - lag, R i - lag + R)` of
`Y`, `lag` rows behind its own (`0 <= lag <= R`: a consumer fused through a
line buffer, one or more rows behind its producer). With `lag > 0` the
first trip's rows above the output are trimmed off (a `tensor.extract_slice`
of the tile's last rows, inserted at row 0) and the last trip also inserts
the last `lag` rows, in an `scf.if` that yields the accumulator either way.
`row_inserts` finds those ops and checks, trip by trip
(`imc.ir.trip_values.slice_rows`), that every row of `Y` is inserted exactly
once, in order: what `imc.transforms.loop_chain` (which feeds the rows to
the next loop instead) and `imc.transforms.row_reduction` (which reduces
them instead) rely on.

With `scaled`, the loop may also run over `s H` rows of its input in steps
of `R = s m` (a stride-2 block's loop over the rows it reads, `s = 2`):
trip `i` inserts rows `[i / s - lag, i / s - lag + m)` of `Y`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir

from imc.ir.trip_values import slice_rows
from imc.ir.utils import loop_bounds

__all__ = ["RowInserts", "row_inserts"]


@dataclass
class RowInserts:
    """The ops through which a row loop inserts its rows (module doc)."""

    insert: ir.Operation  # the insert of each trip's rows into the loop's accumulator
    trim: ir.Operation | None  # the trimmed rows it inserts (with lag)
    drain_if: ir.Operation | None  # the last trip's scf.if (with lag)
    drain_insert: ir.Operation | None  # its insert of the last `lag` rows
    lag: int  # rows each trip makes behind its own rows
    rows: int  # rows of Y per trip (the loop's step / scale)
    scale: int = 1  # the loop's rows per row of Y


def row_inserts(loop, scaled: bool = False) -> RowInserts | None:
    """How `loop` (an `scf.for` over `[0, H)` in steps of `R`, its first
    result `Y` of `H` rows; with `scaled`, over `[0, s H)` in steps of `s R`)
    inserts the rows of `Y` (module doc), checked trip by trip; None when it
    is not such a loop."""
    if loop.name != "scf.for" or not loop.results:
        return None
    lower, upper, step = loop_bounds(loop)
    if lower != 0 or None in (upper, step) or step <= 0 or upper % step:
        return None
    y_t = ir.RankedTensorType(loop.results[0].type)
    if y_t.rank != 4 or not y_t.has_static_shape or upper % y_t.shape[2]:
        return None
    height, scale = y_t.shape[2], upper // y_t.shape[2]
    if (scale != 1 and not scaled) or step % scale:
        return None
    rows = step // scale
    body = loop.regions[0].blocks[0]
    acc = body.arguments[1]
    last = body.operations[-1].operands[0]
    drain_if = drain_insert = None
    if not isinstance(last.owner, ir.Block) and last.owner.operation.name == "scf.if":
        drain_if = last.owner.operation
        then_yield = drain_if.regions[0].blocks[0].operations[-1]
        drain_insert = then_yield.operands[0].owner.operation
        if drain_insert.name != "tensor.insert_slice" or len(drain_if.results) != 1:
            return None
        last = drain_if.regions[1].blocks[0].operations[-1].operands[0]
    if isinstance(last.owner, ir.Block) or last.owner.operation.name != "tensor.insert_slice":
        return None
    insert = last.owner.operation
    if insert.operands[1] != acc:
        return None
    if drain_insert is not None and drain_insert.operands[1] != insert.results[0]:
        return None
    src = insert.operands[0]
    trim = None
    lag = 0
    if not ir.RankedTensorType(src.type).has_static_shape:
        trim = src.owner.operation
        if trim.name != "tensor.extract_slice" or drain_if is None:
            return None
        lag = ir.RankedTensorType(drain_insert.operands[0].type).shape[2]
        if not 0 < lag <= rows:
            return None
    elif ir.RankedTensorType(src.type).shape[2] != rows or drain_if is not None:
        return None
    tile = trim.operands[0] if trim is not None else src
    if ir.RankedTensorType(tile.type).shape != [y_t.shape[0], y_t.shape[1], rows, y_t.shape[3]]:
        return None
    found = RowInserts(insert, trim, drain_if, drain_insert, lag, rows, scale)
    return found if _inserts_rows_behind(found, body.arguments[0], height) else None


def _inserts_rows_behind(found: RowInserts, iv, height: int) -> bool:
    """Whether the trip of rows `[r, r + R)` of `Y` (at `s r`) inserts rows
    `[r - lag, r - lag + R)` of `Y` clipped to `[0, H)` (the rows of its tile
    that the trim keeps: its last ones), and the last trip's `scf.if` the
    last `lag` rows, checked trip by trip (`slice_rows`)."""
    r, lag, s = found.rows, found.lag, found.scale
    for start in range(0, height, r):
        values = {iv: s * start}
        first = max(start - lag, 0)
        if slice_rows(found.insert, values) != (first, start - lag + r):
            return False
        if found.trim is not None and slice_rows(found.trim, values) != (r - (start - lag + r - first), r):
            return False
    return found.drain_insert is None or slice_rows(found.drain_insert, {iv: s * (height - r)}) == (height - lag, height)
