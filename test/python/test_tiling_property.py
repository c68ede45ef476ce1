"""Property test of `imc-tile`: the tiles of a random contraction cover its weight exactly.

For random reduction/output sizes, batch shapes, crossbar geometries and bit
precisions, one `imc.contract` on a weight constant is tiled by `imc-tile`, and
the result is checked from the IR alone:

* the weight is never copied: the only tensor constant is the original weight,
  and every `imc.program` programs that constant or a unit-stride
  `tensor.extract_slice` of it;
* every program fits the crossbar geometry (rows x cols, transposed tiles
  swapped) and carries the requested precision and transposition;
* for every bit slice s in [0, ceil(weight_bits / cell_bits)), every weight
  element lies in exactly one program's window (counted with NumPy);
* every MVM feeds its program the input columns of the tile's reduction rows;
* every `imc.accumulate` shift equals slice * cell_bits of the program behind
  the partial sum, and each accumulate sums one column tile over all row
  tiles and slices.
"""

import math

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch_mlir import ir

from imc.ir.context import make_context
from imc.transforms.pipeline import run_pipeline

MAX_PROGRAMS = 600  # keeps one example well under a second


def _op(value):
    """The operation defining `value` (None for a block argument)."""
    owner = value.owner
    if isinstance(owner, ir.Block):
        return None
    return owner.operation if hasattr(owner, "operation") else owner


def _ops(module, name: str) -> list:
    found = []

    def visit(op):
        if op.name == name:
            found.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


def _window(value, source_op, full_shape):
    """(offsets, sizes) of `value` inside the result of `source_op`.

    `value` must be that result itself or a unit-stride `tensor.extract_slice`
    of it; anything else fails the test.
    """
    op = _op(value)
    assert op is not None, f"{value} is a block argument, not a view of {source_op.name}"
    if op == source_op:
        return [0] * len(full_shape), list(full_shape)
    assert op.name == "tensor.extract_slice", f"expected a tensor.extract_slice, got {op.name}"
    assert _op(op.operands[0]) == source_op, "slice of something other than the expected value"
    offsets = list(ir.DenseI64ArrayAttr(op.attributes["static_offsets"]))
    sizes = list(ir.DenseI64ArrayAttr(op.attributes["static_sizes"]))
    strides = list(ir.DenseI64ArrayAttr(op.attributes["static_strides"]))
    assert strides == [1] * len(full_shape), f"non-unit strides {strides}"
    assert len(op.operands) == 1, "dynamic offsets/sizes/strides"
    return offsets, sizes


def _input_window(value, x2, shape):
    """(offsets, sizes) of an MVM input inside the 2-D input `x2`."""
    if value == x2:
        return [0, 0], list(shape)
    op = _op(value)
    assert op is not None and op.name == "tensor.extract_slice", "MVM input is neither the input nor a slice of it"
    assert op.operands[0] == x2, "MVM input slices something other than the (collapsed) input"
    strides = list(ir.DenseI64ArrayAttr(op.attributes["static_strides"]))
    assert strides == [1, 1], f"non-unit strides {strides}"
    return list(ir.DenseI64ArrayAttr(op.attributes["static_offsets"])), list(ir.DenseI64ArrayAttr(op.attributes["static_sizes"]))


def _contract_module(lead, k, n, transpose):
    x_shape = "x".join(str(d) for d in [*lead, k])
    y_shape = "x".join(str(d) for d in [*lead, n])
    w_shape = f"{n}x{k}" if transpose else f"{k}x{n}"
    flag = "true" if transpose else "false"
    kind = "linear" if transpose else "matmul"
    return f"""
func.func @f(%x: tensor<{x_shape}xf32>) -> tensor<{y_shape}xf32> {{
  %w = arith.constant dense<1.0> : tensor<{w_shape}xf32>
  %y = "imc.contract"(%x, %w) {{kind = "{kind}", transpose_weight = {flag}}}
      : (tensor<{x_shape}xf32>, tensor<{w_shape}xf32>) -> tensor<{y_shape}xf32>
  return %y : tensor<{y_shape}xf32>
}}
"""


@st.composite
def problems(draw):
    p = {
        "k": draw(st.integers(1, 300)),
        "n": draw(st.integers(1, 300)),
        "lead": draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)),
        "rows": draw(st.integers(1, 130)),
        "cols": draw(st.integers(1, 130)),
        "weight_bits": draw(st.integers(1, 8)),
        "cell_bits": draw(st.integers(1, 4)),
        "transpose": draw(st.booleans()),
    }
    programs = (
        math.ceil(p["k"] / p["rows"]) * math.ceil(p["n"] / p["cols"]) * math.ceil(p["weight_bits"] / p["cell_bits"])
    )
    assume(programs <= MAX_PROGRAMS)
    return p


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(problems())
def test_tiles_cover_weight_exactly_once_per_slice(p):
    k, n, rows, cols = p["k"], p["n"], p["rows"], p["cols"]
    wb, cb, transpose = p["weight_bits"], p["cell_bits"], p["transpose"]
    slices = -(-wb // cb)
    with make_context(), ir.Location.unknown():
        module = ir.Module.parse(_contract_module(p["lead"], k, n, transpose))
        pipeline = f"builtin.module(imc-tile{{rows={rows} cols={cols} weight-bits={wb} cell-bits={cb}}})"
        run_pipeline(module, pipeline)

        assert not _ops(module, "imc.contract"), "imc.contract left after imc-tile"
        constants = [c for c in _ops(module, "arith.constant") if isinstance(c.results[0].type, ir.ShapedType)]
        assert len(constants) == 1, f"expected only the original weight constant, found {len(constants)} tensor constants"
        weight = constants[0]
        w_shape = list(ir.RankedTensorType(weight.results[0].type).shape)
        assert w_shape == ([n, k] if transpose else [k, n])

        x_arg = module.body.operations[0].regions[0].blocks[0].arguments[0]
        coverage = np.zeros((slices, *w_shape), dtype=np.int64)
        slice_of_program = {}
        programs = _ops(module, "imc.program")
        assert len(programs) == math.ceil(k / rows) * math.ceil(n / cols) * slices
        for prog in programs:
            a = prog.attributes
            s = ir.IntegerAttr(a["slice"]).value
            assert ir.IntegerAttr(a["cell_bits"]).value == cb
            assert ir.IntegerAttr(a["weight_bits"]).value == wb
            assert bool(ir.IntegerAttr(a["transpose"]).value) == transpose
            assert ir.IntegerAttr(a["array"]).value == -1
            assert 0 <= s < slices
            assert str(prog.results[0].type) == f"!imc.xbar<{rows} : i64, {cols} : i64>"
            offsets, sizes = _window(prog.operands[0], weight, w_shape)
            tile_rows, tile_cols = (sizes[1], sizes[0]) if transpose else sizes
            assert 0 < tile_rows <= rows and 0 < tile_cols <= cols, f"tile {sizes} does not fit {rows}x{cols}"
            assert list(ir.RankedTensorType(prog.operands[0].type).shape) == sizes
            coverage[s, offsets[0] : offsets[0] + sizes[0], offsets[1] : offsets[1] + sizes[1]] += 1
            slice_of_program[prog.results[0]] = s
        bad = np.argwhere(coverage != 1)
        assert bad.size == 0, f"slice/element {bad[0].tolist()} covered {coverage[tuple(bad[0])]} times"

        # Each MVM multiplies its tile by the input columns of the tile's reduction rows.
        x2 = x_arg
        collapses = _ops(module, "tensor.collapse_shape")
        if len(p["lead"]) > 1:
            assert len(collapses) == 1 and collapses[0].operands[0] == x_arg
            x2 = collapses[0].results[0]
        m = math.prod(p["lead"])
        mvm_info = {}
        for mvm in _ops(module, "imc.mvm"):
            prog = _op(mvm.operands[0])
            assert prog.name == "imc.program"
            w_off, w_size = _window(prog.operands[0], weight, w_shape)
            r0, rn = (w_off[1], w_size[1]) if transpose else (w_off[0], w_size[0])
            c0, cn = (w_off[0], w_size[0]) if transpose else (w_off[1], w_size[1])
            x_off, x_size = _input_window(mvm.operands[1], x2, [m, k])
            assert (x_off, x_size) == ([0, r0], [m, rn]), f"MVM reads input window {x_off} {x_size} for tile rows {r0}+{rn}"
            assert list(ir.RankedTensorType(mvm.results[0].type).shape) == [m, cn]
            mvm_info[mvm.results[0]] = (prog.results[0], c0)

        # Accumulates: shift = slice * cell_bits, one column tile over every row tile and slice.
        accumulates = _ops(module, "imc.accumulate")
        assert len(accumulates) == math.ceil(n / cols)
        for acc in accumulates:
            shifts = list(ir.DenseI64ArrayAttr(acc.attributes["shifts"]))
            partials = list(acc.operands)
            assert len(partials) == math.ceil(k / rows) * slices
            assert shifts == [slice_of_program[mvm_info[v][0]] * cb for v in partials]
            assert len({mvm_info[v][1] for v in partials}) == 1, "one accumulate mixes column tiles"
