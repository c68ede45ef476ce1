"""Typed views of the `imc` ops: every attribute decoded in one place.

`ProgramView(op).offset` is the [row, col] of an `imc.program`'s tile as a
tuple of ints, `MvmView(op).adc_bits` an int, and so on: passes, analyses and
the interpreter read an op's attributes through its view instead of by name.
A view wraps an `ir.Operation` (or an op view); each property decodes its
attribute on first use and keeps it, so make one view per op per walk (or
keep it beside the op, as the interpreter does in `CompiledOp.static`) and
change an attribute only through the view's setters, which keep it current.

Views are plain Python objects: cheap to make, valid while the op is. They
read ops that verified (`imc.dialects.imc`): they do not check what the
verifier checks.
"""

import math
from typing import NamedTuple

from torch_mlir import ir

from imc.ir.utils import defining_op, i64_array, i64_attr

from .imc import (
    AccumulateOp,
    ContractOp,
    DmaOp,
    Im2colOp,
    MvmOp,
    ProgramOp,
    QuantizeOp,
    SpadAllocOp,
    TiledContractOp,
    TransferInOp,
    TransferOutOp,
    XbarType,
    grouped_kn,
    is_spad,
    staging_elements,
    transfer_groups,
)

__all__ = [
    "TypedView",
    "ProgramView",
    "MvmView",
    "AccumulateView",
    "QuantizeView",
    "Im2colView",
    "ContractView",
    "SpadAllocView",
    "DmaView",
    "TransferView",
    "VIEWS",
    "view_of",
]


class cached_property:
    """`functools.cached_property` without its lock: the first read of the
    property on an instance computes it and stores it in the instance's
    `__dict__`, where later reads find it (a non-data descriptor). Python
    3.11's version takes a lock on every first read, which costs more than
    decoding an attribute; views are not shared between threads."""

    def __init__(self, fn):
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.fn(instance)
        return value


def _int(attr) -> int:
    return ir.IntegerAttr(attr).value


def _float(attr) -> float:
    return ir.FloatAttr(attr).value


def _ints(attr) -> tuple[int, ...]:
    return tuple(ir.DenseI64ArrayAttr(attr))


def _program_of(xbar: ir.Value) -> "ProgramView | None":
    """The `imc.program` that produces a crossbar value, else None."""
    owner = xbar.owner
    if not isinstance(owner, (ir.Operation, ir.OpView)):
        return None  # (a block argument)
    owner = owner.operation
    return ProgramView(owner) if owner.name == ProgramOp.OPERATION_NAME else None


def _placed_tile(xbar: ir.Value, view: "ProgramView | None" = None):
    """(array, first row, first col, rows, cols) of the tile of a crossbar
    value programmed by an `imc.program` (`view`, if known) on a placed
    crossbar, else None."""
    view = view or _program_of(xbar)
    if view is None or "array" not in view.op.attributes or view.array < 0:
        return None
    (r0, c0), (rows, cols) = view.offset, view.tile_shape
    return view.array, r0, c0, rows, cols


def _disjoint(a, b) -> bool:
    """Two tiles of one crossbar in disjoint rows and disjoint columns."""
    _, ar, ac, arows, acols = a
    _, br, bc, brows, bcols = b
    rows_apart = ar + arows <= br or br + brows <= ar
    cols_apart = ac + acols <= bc or bc + bcols <= ac
    return rows_apart and cols_apart


class TypedView:
    """The typed view of one imc op; subclasses name their op (`OP`)."""

    OP: type = None  # the dialect's op class

    def __init__(self, op):
        self.op = op.operation

    def _attribute(self, name: str) -> ir.Attribute:
        return self.op.attributes[name]

    @property
    def attributes(self) -> dict[str, ir.Attribute]:
        """The op's attributes as they are (uniqued): what a copy of the op keeps."""
        attributes = self.op.attributes
        return {name: attributes[name] for name in attributes}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.op.name} at {self.op.location})"


class ProgramView(TypedView):
    """`imc.program`: one bit slice of a weight tile written into a crossbar."""

    OP = ProgramOp

    @property
    def weight(self) -> ir.Value:
        """The weight tile (rows x cols, or cols x rows when `transpose`)."""
        return self.op.operands[0]

    @cached_property
    def cell_bits(self) -> int:
        return _int(self._attribute("cell_bits"))

    @cached_property
    def weight_bits(self) -> int:
        return _int(self._attribute("weight_bits"))

    @cached_property
    def slice(self) -> int:
        """The bit slice this op stores: bits [slice * cell_bits, (slice + 1) * cell_bits)."""
        return _int(self._attribute("slice"))

    @cached_property
    def transpose(self) -> bool:
        return bool(_int(self._attribute("transpose")))

    @cached_property
    def array(self) -> int:
        """The physical crossbar (-1: not placed yet)."""
        return _int(self._attribute("array"))

    @cached_property
    def offset(self) -> tuple[int, int]:
        """[row, col] of the tile's first cell in its crossbar."""
        return _ints(self._attribute("offset"))

    @cached_property
    def weight_shape(self) -> tuple[int, ...]:
        """The shape of the weight operand (before `transpose`): rows x cols,
        or groups x rows x cols for diagonal blocks."""
        return tuple(ir.ShapedType(self.weight.type).shape)

    @cached_property
    def groups(self) -> int:
        """Diagonal blocks of the tile (1: a plain tile)."""
        return grouped_kn(self.weight_shape, self.transpose)[0]

    @cached_property
    def block_shape(self) -> tuple[int, int]:
        """(rows, cols) of one diagonal block (of the whole tile if `groups` is 1)."""
        return grouped_kn(self.weight_shape, self.transpose)[1]

    @cached_property
    def tile_shape(self) -> tuple[int, int]:
        """(rows, cols) the tile occupies on the crossbar."""
        (rows, cols), g = self.block_shape, self.groups
        return g * rows, g * cols

    @property
    def cells(self) -> int:
        """Cells that hold weights (the diagonal blocks' only)."""
        return math.prod(self.weight_shape)

    @property
    def bits_per_cell(self) -> int:
        """Bits of each weight this slice holds (the last slice may hold fewer than `cell_bits`)."""
        return max(0, min(self.cell_bits, self.weight_bits - self.slice * self.cell_bits))

    TILE_ATTRIBUTES = ("slice", "transpose", "cell_bits", "weight_bits")
    """The attributes that select which tile of its weight operand the op programs."""

    @property
    def tile_attributes(self) -> tuple[tuple[str, ir.Attribute], ...]:
        """(name, attribute) of `TILE_ATTRIBUTES`: uniqued, equal exactly when they print alike."""
        attributes = self.op.attributes
        return tuple((k, attributes[k]) for k in self.TILE_ATTRIBUTES)

    def place(self, array: int, offset) -> None:
        """Sets the crossbar `array` and the tile's `offset` [row, col] in it."""
        self.set_array(array)
        self.op.attributes["offset"] = i64_array(offset)
        self.__dict__["offset"] = tuple(int(v) for v in offset)

    def set_array(self, array: int) -> None:
        """Sets the crossbar `array` (the tile keeps its offset)."""
        self.op.attributes["array"] = i64_attr(array)
        self.__dict__["array"] = int(array)

    def place_like(self, other: "ProgramView") -> None:
        """Puts the tile where `other`'s is (the same attributes, uniqued)."""
        self.op.attributes["array"] = other._attribute("array")
        self.op.attributes["offset"] = other._attribute("offset")
        self.__dict__.pop("array", None)
        self.__dict__.pop("offset", None)


class MvmView(TypedView):
    """`imc.mvm`: a matrix-vector multiply on a programmed crossbar."""

    OP = MvmOp

    @property
    def xbar(self) -> ir.Value:
        return self.op.operands[0]

    @property
    def input(self) -> ir.Value:
        return self.op.operands[1]

    @cached_property
    def dac_bits(self) -> int:
        return _int(self._attribute("dac_bits"))

    @cached_property
    def adc_bits(self) -> int:
        """ADC resolution (0: digital, no ADC)."""
        return _int(self._attribute("adc_bits"))

    @cached_property
    def input_bits(self) -> int:
        return _int(self._attribute("input_bits"))

    @cached_property
    def adc_full_scale(self) -> float:
        """The calibrated ADC range (0.0: uncalibrated)."""
        return _float(self._attribute("adc_full_scale"))

    @property
    def cycles(self) -> int:
        """Bit-serial input cycles: ceil(input_bits / dac_bits)."""
        return -(-self.input_bits // self.dac_bits)

    @cached_property
    def shares_activation(self) -> bool:
        """Whether this MVM is computed in the array activation of an earlier
        `imc.mvm` of its block (docs/interpreter.md, "Shared activations"):
        both read the same input value, their tiles sit on one placed
        crossbar in disjoint rows and columns (`imc-place-crossbars` packs
        small tiles along the diagonal, e.g. the bit slices of a short row
        tile). The array drives both tiles' rows with the input at once and
        converts all their columns in one read, so this MVM takes no time
        of its own on the crossbar (its DAC and ADC conversions still count)
        when its tile is in place by then, which the timeline checks."""
        program = _program_of(self.xbar)
        if program is None:
            return False
        rows, cols = XbarType(self.xbar.type).geometry
        tile_rows, tile_cols = program.tile_shape
        if tile_rows >= rows or tile_cols >= cols:
            return False  # (a tile on all rows or all columns shares them with any other: most tiles, decided at once)
        mine = _placed_tile(self.xbar, program)
        if mine is None:
            return False
        block = self.op.block
        for use in self.input.uses:
            other = use.owner
            other = getattr(other, "operation", other)
            if use.operand_number != 1 or other.name != MvmOp.OPERATION_NAME or other == self.op:
                continue
            if other.block != block or not other.is_before_in_block(self.op):
                continue
            theirs = _placed_tile(other.operands[0])
            if theirs is None or theirs[0] != mine[0] or not _disjoint(mine, theirs):
                continue
            return True
        return False

    def set_adc_full_scale(self, full_scale: float) -> None:
        self.op.attributes["adc_full_scale"] = ir.FloatAttr.get_f32(full_scale)
        self.__dict__.pop("adc_full_scale", None)  # read back: the attribute holds an f32


class AccumulateView(TypedView):
    """`imc.accumulate`: shift-and-add of partial sums."""

    OP = AccumulateOp

    @cached_property
    def shifts(self) -> tuple[int, ...]:
        """The shift of each partial sum, in operand order."""
        return _ints(self._attribute("shifts"))


class QuantizeView(TypedView):
    """`imc.quantize`: a tensor rounded to the chip's storage format."""

    OP = QuantizeOp

    @cached_property
    def bits(self) -> int:
        return _int(self._attribute("bits"))

    @cached_property
    def low(self) -> float:
        return _float(self._attribute("low"))

    @cached_property
    def high(self) -> float:
        return _float(self._attribute("high"))

    def set_range(self, low: float, high: float) -> None:
        """Sets the calibrated range [low, high] (stored as f32)."""
        self.op.attributes["low"] = ir.FloatAttr.get_f32(low)
        self.op.attributes["high"] = ir.FloatAttr.get_f32(high)
        self.__dict__.pop("low", None)
        self.__dict__.pop("high", None)


class Im2colView(TypedView):
    """`imc.im2col`: convolution patches unfolded into rows."""

    OP = Im2colOp

    @cached_property
    def kernel(self) -> tuple[int, ...]:
        return _ints(self._attribute("kernel"))

    @cached_property
    def strides(self) -> tuple[int, ...]:
        return _ints(self._attribute("strides"))

    @cached_property
    def dilations(self) -> tuple[int, ...]:
        return _ints(self._attribute("dilations"))


class ContractView(TypedView):
    """`imc.contract`: a weight-stationary contraction before tiling."""

    OP = ContractOp

    @cached_property
    def kind(self) -> str:
        return ir.StringAttr(self._attribute("kind")).value

    @cached_property
    def transpose_weight(self) -> bool:
        return bool(_int(self._attribute("transpose_weight")))


class SpadAllocView(TypedView):
    """`imc.spad_alloc`: a scratchpad buffer of `size` bytes at byte `offset`."""

    OP = SpadAllocOp

    @cached_property
    def offset(self) -> int:
        return _int(self._attribute("offset"))

    @cached_property
    def size(self) -> int:
        return _int(self._attribute("size"))

    @cached_property
    def buffer_type(self) -> ir.MemRefType:
        return ir.MemRefType(self.op.results[0].type)


class DmaView(TypedView):
    """`imc.dma`: a strided window copied between DRAM and the scratchpad."""

    OP = DmaOp

    @property
    def source(self) -> ir.Value:
        return self.op.operands[0]

    @property
    def target(self) -> ir.Value:
        return self.op.operands[1]

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        return _ints(self._attribute("offsets"))

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        return _ints(self._attribute("sizes"))

    @cached_property
    def strides(self) -> tuple[int, ...]:
        return _ints(self._attribute("strides"))

    @property
    def window(self) -> tuple[slice, ...]:
        """The slices of the DRAM side that the DMA moves."""
        return tuple(slice(o, o + (n - 1) * s + 1, s) for o, n, s in zip(self.offsets, self.sizes, self.strides))

    @cached_property
    def dram(self) -> ir.Value:
        """The operand in DRAM (the other one is in the scratchpad)."""
        return self.target if is_spad(self.source.type) else self.source


class TransferView(TypedView):
    """`imc.transfer_in` / `imc.transfer_out`: a tensor moved between the
    datapath and a DRAM window through scratchpad staging buffers."""

    OP = TransferOutOp  # (and TransferInOp: the same attributes)

    @property
    def loads(self) -> bool:
        """True for `imc.transfer_in` (DRAM to the datapath)."""
        return self.op.name == TransferInOp.OPERATION_NAME

    @property
    def dram(self) -> ir.Value:
        return self.op.operands[0 if self.loads else 1]

    @property
    def tensor_type(self) -> ir.RankedTensorType:
        """The type of the tensor moved (the result of a load, the source of a store)."""
        return ir.RankedTensorType((self.op.results[0] if self.loads else self.op.operands[0]).type)

    @cached_property
    def count(self) -> int:
        """Elements moved."""
        return self.tensor_type.shape[0]

    @cached_property
    def offset(self) -> int:
        """The first DRAM element."""
        return _int(self._attribute("offset"))

    @cached_property
    def staging(self) -> int:
        """The scratchpad byte of the first staging buffer."""
        return _int(self._attribute("staging"))

    @cached_property
    def tile(self) -> int:
        """Elements per DMA (and per staging buffer)."""
        return _int(self._attribute("tile"))

    @cached_property
    def buffers(self) -> int:
        return _int(self._attribute("buffers"))

    @cached_property
    def groups(self) -> tuple[tuple[int, int, int], ...]:
        """(trips, elements per DMA, DMAs per trip), in order (`transfer_groups`)."""
        return tuple(transfer_groups(self.count, self.tile, self.buffers))

    def staging_span(self, element_bytes: int) -> tuple[int, int]:
        """The scratchpad bytes [start, end) its staging buffers occupy."""
        return self.staging, self.staging + staging_elements(self.count, self.tile, self.buffers) * element_bytes


# ---------------------------------------------------------------------------
# One tiled contraction: its accumulates, their MVMs and programs.
# ---------------------------------------------------------------------------


class MvmTerm(NamedTuple):
    """One partial sum of an accumulate: an MVM of an input's columns
    [`col_offset`, `col_offset` + the tile's rows) (and, for a copy of a
    tile, of its rows [b0, b1): `block` = (operand, b0, b1), the accumulate
    operand whose `tensor.concat` joins the copies' results) on the crossbar
    `program` programmed, shifted left by `shift` bits. `slices` are the
    `tensor.extract_slice`s between the input and the MVM (row block, then
    columns)."""

    mvm: ir.Operation
    program: ir.Operation
    col_offset: int
    shift: int
    slices: tuple
    block: tuple | None


class AccumulateTerms(NamedTuple):
    """An `imc.accumulate` as one column tile of `x @ W`: its MVM terms in
    operand order, the input `x` they all read, and the `tensor.concat`s
    that join copies' row blocks."""

    accumulate: ir.Operation
    x: ir.Value
    terms: tuple
    joins: tuple


def _producer(value, name: str, producer):
    """The op named `name` that defines `value`, if `producer` names it."""
    op = producer(value)
    return op if op is not None and op.name == name else None


def _static_slice_2d(op):
    """(row offset, col offset, rows, cols) of a static unit-stride 2-D
    `tensor.extract_slice` of a 2-D tensor, else None."""
    if len(op.operands) != 1:
        return None
    attributes = op.attributes
    offsets = list(ir.DenseI64ArrayAttr(attributes["static_offsets"]))
    sizes = list(ir.DenseI64ArrayAttr(attributes["static_sizes"]))
    strides = list(ir.DenseI64ArrayAttr(attributes["static_strides"]))
    if len(offsets) != 2 or strides != [1, 1] or any(v < 0 for v in offsets + sizes):
        return None
    source = ir.ShapedType(op.operands[0].type).shape
    if len(source) != 2 or any(d < 0 for d in source):
        return None
    return offsets[0], offsets[1], sizes[0], sizes[1], source


def _joins_row_blocks(concat, blocks) -> bool:
    """Whether `tensor.concat` `concat` joins, along dim 0, MVM results of
    the row blocks `blocks` ((operand, b0, b1) in operand order) that tile
    its rows in order."""
    if ir.IntegerAttr(concat.attributes["dim"]).value != 0:
        return False
    shape = ir.ShapedType(concat.results[0].type).shape
    reach = 0
    for _, b0, b1 in blocks:
        if b0 != reach or b1 <= b0:
            return False
        reach = b1
    return len(shape) == 2 and blocks != [] and reach == shape[0]


def accumulate_terms(acc, producer=defining_op, memo: dict | None = None) -> AccumulateTerms | None:
    """`acc` decoded as one column tile of a tiled contraction (what
    `imc-tile` and `imc-place-crossbars` emit), else None: each operand is
    an `imc.mvm` of an `imc.program`, or a `tensor.concat` of MVMs of copies
    of one tile, each on a row block of the input; every MVM reads the same
    input `x`, directly or through a slice of its columns (all its rows).
    `producer(value)` gives the op that defines a value, or None for a value
    not to look through (one defined outside the block being read). `memo` keeps the decoded slices (one dict per walk: the
    MVMs of many accumulates read the same slices of `x`)."""
    if memo is None:
        memo = {}

    def static_slice(op):
        found = memo.get(op, memo)
        if found is memo:
            found = memo[op] = _static_slice_2d(op)
        return found

    acc = acc.operation
    shifts = AccumulateView(acc).shifts
    operands = list(acc.operands)
    if len(shifts) != len(operands) or len(acc.results) != 1:
        return None
    x, terms, joins = None, [], []
    for operand, (value, shift) in enumerate(zip(operands, shifts)):
        concat = _producer(value, "tensor.concat", producer)
        if concat is not None:
            joins.append(concat)
        blocks = []
        for part in list(concat.operands) if concat is not None else [value]:
            mvm = _producer(part, "imc.mvm", producer)
            program = _producer(mvm.operands[0], "imc.program", producer) if mvm is not None else None
            if program is None:
                return None
            xs, slices, block = mvm.operands[1], (), None
            if concat is not None:
                rows = _producer(xs, "tensor.extract_slice", producer)
                sl = static_slice(rows) if rows is not None else None
                if sl is None or sl[1] != 0 or sl[3] != sl[4][1]:
                    return None
                xs, slices, block = rows.operands[0], (rows,), (operand, sl[0], sl[0] + sl[2])
                blocks.append(block)
            cols = _producer(xs, "tensor.extract_slice", producer)
            col_offset = 0
            if cols is not None:
                sl = static_slice(cols)
                if sl is not None and sl[0] == 0 and sl[2] == sl[4][0]:
                    xs, col_offset, slices = cols.operands[0], sl[1], slices + (cols,)
            if x is None:
                x = xs
            elif xs != x:
                return None
            terms.append(MvmTerm(mvm, program, col_offset, shift, slices, block))
        if concat is not None and not _joins_row_blocks(concat, blocks):
            return None
    if not terms or len({t.mvm for t in terms}) != len(terms):
        return None
    return AccumulateTerms(acc, x, tuple(terms), tuple(joins))


class TiledContractView(TypedView):
    """`imc.tiled_contract`: one tiled contraction's ops in a region."""

    OP = TiledContractOp

    @cached_property
    def body(self) -> ir.Block:
        return self.op.regions[0].blocks[0]

    @cached_property
    def yielded(self) -> ir.Value:
        """The value its `imc.yield` yields: the op's result."""
        return self.body.operations[-1].operation.operands[0]  # (the terminator, without a view of every op)

    @cached_property
    def joined(self) -> ir.Operation | None:
        """The `tensor.concat` of the column tiles the op yields, if any."""
        op = defining_op(self.yielded)
        return op if op is not None and op.name == "tensor.concat" else None

    def accumulates(self, producer=None) -> tuple[AccumulateTerms, ...] | None:
        """The column tiles' accumulates decoded (`accumulate_terms`), in
        column order; None if one does not decode or they read different
        inputs. `producer(value)`: the op of the body that defines a value,
        else None (by default any op of the body; a caller that knows the
        body's ops of the kinds a decode reads, mvm, program, accumulate,
        extract_slice and concat, may name only those)."""
        if producer is None:
            mine = {op.operation for op in self.body.operations}

            def producer(value):
                op = defining_op(value)
                return op if op in mine else None

        joined = self.joined
        tiles = joined.operands if joined is not None else [self.yielded]
        found = []
        for value in tiles:
            decoded = accumulate_terms(value.owner, producer)
            if decoded is None or (found and decoded.x != found[0].x):
                return None
            found.append(decoded)
        return tuple(found)


VIEWS: dict[str, type[TypedView]] = {
    cls.OP.OPERATION_NAME: cls
    for cls in (
        ProgramView,
        MvmView,
        AccumulateView,
        QuantizeView,
        Im2colView,
        ContractView,
        SpadAllocView,
        DmaView,
        TiledContractView,
    )
}
VIEWS[TransferOutOp.OPERATION_NAME] = VIEWS[TransferInOp.OPERATION_NAME] = TransferView
"""Op name -> its view class."""


def view_of(op) -> TypedView:
    """The typed view of an imc op (KeyError for an op without one)."""
    op = op.operation
    return VIEWS[op.name](op)
