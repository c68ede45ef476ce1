"""Execution of the `imc` dialect: crossbars, precision modes and event counting.

A :class:`Chip` holds the state of the physical crossbars (what each array is
programmed with) and the precision mode; an :class:`ImcExecution` binds a chip
and a :class:`~imc.sim.report.Report` to an :class:`~imc.sim.interpreter.Interpreter`.

Conventions (docs/interpreter.md has the full text):

* `imc.program` of bit slice `s` stores conductances `G_s` such that
  `sum_s 2**(s*cell_bits) * G_s` reconstructs the (quantized) weight tile;
  `imc.accumulate` applies those shifts. In `ideal` mode slice 0 holds the
  float tile exactly and the higher slices hold zeros (so the shift-and-add is
  exact and zero partial sums cost no arithmetic; the counters are those of the
  real slicing); in `quantized` mode `W ~ scale_col * q` with `q` a signed
  `weight_bits` integer per output column, and `G_s` is the signed `s`-th
  `cell_bits` digit of `|q|`, times `scale_col`.
* `imc.mvm` feeds the input bit-serially: inputs are quantized symmetrically to
  `input_bits` per call, split into ceil(input_bits/dac_bits) signed digits
  of `dac_bits`; each cycle's column sums go through an `adc_bits` ADC (signed,
  full scale = adc_range x the largest possible column sum of that cycle)
  and the cycles are shift-added. `adc_bits = 0` (digital IMC) is exact.
* `noisy` adds Gaussian programming noise (std = program_noise x the largest
  cell level, drawn once per programming) and read noise on each cycle's column
  sums (std = read_noise x the largest cell level x the input digit vector's
  norm), from a seeded generator.
* A crossbar keeps its contents across calls: programming an array with the
  tile it already holds costs nothing, so weights are programmed once.
"""

import dataclasses
import math
import queue
import threading
import weakref

import numpy as np
from torch_mlir import ir

from imc.dialects.imc import (
    TRANSFER_OPS,
    spad_capacity_error,
    spad_double_free_error,
    spad_overlap_error,
    spad_unwritten_read_error,
    spad_use_after_free_error,
    stored_element_bytes,
)
from imc.dialects.imc_ops import DmaView, SpadAllocView, TiledContractView, TransferView, view_of
from imc.ir.cost_events import accumulate_events_for, mvm_events, program_events, shares_periphery
from imc.ir.utils import WEIGHT_VIEW_OPS, buffer_root, defining_op

from .core import InterpreterError, impl
from .imc_packing import packed_pair, quantized_rows
from .row_blocks import RowBlockedWeights, StackedTiles, same_values

PRECISIONS = ("ideal", "quantized", "noisy")


class _Array:
    """What one physical crossbar holds (one tile at `offset`).

    The chip's tile maps are copy-on-write (see `Chip.place`), and any in-place
    change of a held tile's `source`, `meta`, `conductance` or `offset` bumps the
    class-wide `revision`: together they let a fused contraction recognise a
    chip state it has already replayed (`ContractionGroup.program`).
    `generation` may change freely (it never decides what a program does).
    """

    __slots__ = ("_source", "_meta", "_conductance", "generation", "_offset")
    revision = 0  # bumped by every in-place change of a tile's data fields

    def __init__(self, source, meta, conductance, generation, offset=(0, 0)):
        self._source = source
        self._meta = meta
        self._conductance = conductance
        self.generation = generation
        self._offset = offset

    def _changed(self, slot, value):
        _Array.revision += 1
        setattr(self, slot, value)

    source = property(lambda self: self._source, lambda self, v: self._changed("_source", v))
    meta = property(lambda self: self._meta, lambda self, v: self._changed("_meta", v))
    conductance = property(lambda self: self._conductance, lambda self, v: self._changed("_conductance", v))
    offset = property(lambda self: self._offset, lambda self, v: self._changed("_offset", v))

    def overlaps(self, offset, shape) -> bool:
        (r0, c0), (r1, c1) = self._offset, offset
        (h0, w0), (h1, w1) = footprint(self._source), shape
        return r0 < r1 + h1 and r1 < r0 + h0 and c0 < c1 + w1 and c1 < c0 + w0


def footprint(tile: np.ndarray) -> tuple[int, int]:
    """(rows, cols) a programmed tile occupies: rows x cols, or G x rows x
    cols diagonal blocks (`imc.program` of a rank-3 tile)."""
    if tile.ndim == 3:
        g, rows, cols = tile.shape
        return g * rows, g * cols
    return tile.shape


def block_diagonal(blocks: np.ndarray) -> np.ndarray:
    """G x rows x cols blocks -> the G*rows x G*cols matrix with them on its
    diagonal (zeros elsewhere)."""
    g, rows, cols = blocks.shape
    out = np.zeros((g, rows, g, cols), dtype=np.float32)
    index = np.arange(g)
    out[index, :, index, :] = blocks
    return out.reshape(g * rows, g * cols)


class Chip:
    """Crossbar state and precision mode, kept across calls of a compiled model."""

    def __init__(self, hardware, precision: str = "ideal", seed: int = 0):
        if precision not in PRECISIONS:
            raise ValueError(f"precision '{precision}' is not one of {', '.join(PRECISIONS)}")
        self.hardware = hardware
        self.precision = precision
        self.rng = np.random.default_rng(seed)
        # array -> tiles by offset. Copy-on-write: a tile map is never changed
        # in place (use `place`), so an unchanged map is the same object.
        self.arrays: dict[int, dict[tuple[int, int], _Array]] = {}
        self.generation = 0
        self._zeros: dict[tuple, np.ndarray] = {}
        self._contiguous = None
        self._last_quantized = None  # (key, read-only tile, Chip._quantized(tile))
        self.spad = None  # Scratchpad, created by the first imc.spad_alloc
        self.calibration = None  # an `imc.sim.calibration` recorder while calibrating
        # False: `ideal` MVMs run op by op (a traced call's) return zeros of
        # the product's shape instead of computing it (`Runner.without_products`).
        self.computes_products = True

    @property
    def draws_program_noise(self) -> bool:
        """Whether programming a crossbar draws noise (`noisy` with
        `program_noise`): the conductances are then not the integer levels."""
        return self.precision == "noisy" and self.hardware.program_noise > 0

    def contiguous(self, x: np.ndarray) -> np.ndarray:
        """`x` in C order (NumPy's matmul is much slower on strided views);
        the last conversion is reused, as all column tiles share one input."""
        if x.flags.c_contiguous:
            return x
        last = self._contiguous
        if last is not None and last[0]() is x:
            return last[1]
        c = np.ascontiguousarray(x)
        self._contiguous = (weakref.ref(x), c)  # (not kept alive: `imc.sim.timeline.Tracer.replay` tells a call's own arrays by that)
        return c

    def zeros(self, shape) -> np.ndarray:
        """A shared read-only zero array (one element, broadcast): the product
        of an all-zero slice."""
        z = self._zeros.get(shape)
        if z is None:
            z = self._zeros[shape] = self.zero_product(shape)
        return z

    @staticmethod
    def zero_product(shape) -> np.ndarray:
        """A read-only zero array of its own (its one element broadcast):
        the product of an all-zero slice while the timeline is traced, where
        each product must be an array of its own (its readers wait for its
        MVM), without allocating its elements. `accumulate` skips both kinds
        (`_one_zero`)."""
        z = np.ndarray(shape, np.float32, np.zeros(1, dtype=np.float32), 0, (0,) * len(shape))
        z.flags.writeable = False  # (as `np.broadcast_to`'s, five times faster)
        return z

    # -- programming ------------------------------------------------------------
    def _quantized(self, tile: np.ndarray, wb: int) -> tuple:
        """(per-column scale, |q| as uint8 (int64 beyond 8 bits), sign(q) as
        int8) of a tile (rows x cols, or G x rows x cols blocks: a scale per
        block column, G*cols in block order) quantized to `wb` bits; the
        last read-only tile's are kept for its other slices."""
        # Read-only tiles are views of constants that live as long as the
        # module: the same window means the same data (as in `_same_tile`).
        key = None
        if not tile.flags.writeable:
            key = (tile.__array_interface__["data"][0], tile.shape, tile.strides, tile.dtype, wb)
            last = self._last_quantized
            if last is not None and last[0] == key:
                return last[2]
        qmax = 2 ** (wb - 1) - 1 if wb > 1 else 1
        amax = np.max(np.abs(tile), axis=-2, keepdims=True)
        scale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
        q = np.clip(np.rint(tile / scale), -qmax, qmax)
        out = (scale.reshape(-1), np.abs(q).astype(np.uint8 if qmax < 256 else np.int64), np.sign(q).astype(np.int8))
        # (the tile is kept so that its memory is not reused while the key is)
        self._last_quantized = (key, tile, out) if key is not None else None
        return out

    def place(self, array: int, held: _Array) -> None:
        """Puts `held` on crossbar `array` (>= 0), dropping the tiles it overlaps.

        The array's tile map is replaced, not updated (copy-on-write)."""
        offset, shape = held._offset, footprint(held._source)
        old = self.arrays.get(array)
        if not old or (len(old) == 1 and offset in old and footprint(old[offset]._source) == shape):
            new = {}  # (empty, or the one tile it replaces)
        else:
            new = {k: t for k, t in old.items() if not t.overlaps(offset, shape)}
        new[offset] = held
        self.arrays[array] = new

    def conductance(self, tile: np.ndarray, s: int, cb: int, wb: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(G_s, per-column scale or None) for slice `s` of a rows x cols tile,
        or of G x rows x cols diagonal blocks (G_s then G*rows x G*cols, zero
        off the blocks: no weight, no programming noise there)."""
        blocks = tile.ndim == 3
        if self.precision == "ideal":
            if s:
                return None, None
            g = np.ascontiguousarray(tile, dtype=np.float32)
            return (block_diagonal(g) if blocks else g), None
        scale, mag, sign = self._quantized(tile, wb)
        digit = (mag >> (s * cb)) & (2**cb - 1)
        # (small integers in float32, in one pass; a zero cell may be +0 or
        # -0 as before, which no output sees: a zero partial sum is +0, `_partials`)
        g = np.multiply(sign, digit, dtype=np.float32)
        if self.draws_program_noise:
            # Drawn over the weights' cells in row-major order of the rows x
            # (G*cols) matrix the blocks' columns make side by side.
            rows, cols = g.shape[-2], g.shape[-1] * (g.shape[0] if blocks else 1)
            noise = self.rng.normal(0.0, self.hardware.program_noise * (2**cb - 1), (rows, cols)).astype(np.float32)
            g = g + (noise.reshape(rows, g.shape[0], -1).transpose(1, 0, 2) if blocks else noise)
        return (block_diagonal(g) if blocks else g), scale


class ImcExecution:
    """Binds a chip and a report to an interpreter run: implements the imc ops.

    Registered with an interpreter by `attach`; other dialects' fast paths
    that execute imc ops in bulk (`imc.sim.interpreter.scf`'s transfer loops)
    reach it through `Interpreter.get_data(EXECUTION)` and count through its
    methods, without importing this module."""

    def __init__(self, chip: Chip, report, layer_of):
        self.chip = chip
        self.report = report
        self.layer_of = layer_of  # CompiledOp -> LayerRow
        self.inputs = _InputCache()  # quantized MVM inputs (quantized / noisy)
        self.last_written = None  # the last `imc.program` executed, if it wrote its crossbar (`copy_of`)
        self.work = _Workspace()  # scratch buffers of the fused converting MVMs

    def count_dma(self, op, staged: np.ndarray, *, load: bool) -> None:
        """Counts DMA `op` moving `staged` (its scratchpad side): scratchpad
        bytes as the chip stores them (`stored_nbytes`), DRAM bytes the same
        unless the DRAM side is a model input or output (host dtype: the DMA
        converts)."""
        st = _dma_static(op)
        n = stored_nbytes(self.chip, staged)
        dram = staged.nbytes if st.host_dram else n
        row = self.layer_of(op)
        if load:
            self.report.add(row, dram_read_bytes=dram, spad_write_bytes=n)
        else:
            self.report.add(row, dram_write_bytes=dram, spad_read_bytes=n)


EXECUTION = "imc"
"""The key under which an interpreter holds its `ImcExecution` (`Interpreter.set_data`)."""


def attach(interp, execution: ImcExecution) -> None:
    """Makes the imc ops `interp` executes act on `execution`'s chip and count into its report."""
    interp.set_data(EXECUTION, execution)


def reread_ranges(interp, hardware) -> None:
    """After `imc.sim.calibration` wrote the ADC full scales and the stored
    tensors' ranges into the IR of a program `interp` has run: its compiled
    `imc.mvm` and `imc.quantize` ops decode their attributes again, and the
    fast paths' ADC steps are those of the new full scales."""
    groups = []
    for op in interp.compiled_ops():
        if op.name in ("imc.mvm", "imc.quantize"):
            op.static = None
        elif op.name == "imc.tiled_contract" and isinstance(op.static, ContractionGroup):
            groups.append(op.static)
    for group in groups:
        for run in group.converted or ():
            run.set_steps(hardware)


class _Workspace:
    """Named float32 scratch buffers reused across calls (a fresh large array
    costs a page fault per 4 KiB on first touch, more than the arithmetic on
    it).  `get(name, shape)` returns a C-contiguous view of the named buffer,
    grown when too small: valid until the next `get` of that name."""

    def __init__(self):
        self.buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape) -> np.ndarray:
        n = math.prod(shape)
        buf = self.buffers.get(name)
        if buf is None or buf.size < n:
            buf = self.buffers[name] = np.empty(n, dtype=np.float32)
        return buf[:n].reshape(shape)


def _exec(interp) -> ImcExecution:
    ex = interp.get_data(EXECUTION)
    if ex is None:
        raise InterpreterError("error: imc ops need an imc execution context (use imc.sim.runtime.run_module)")
    return ex


def _static(op):
    """The typed view of an imc op (`imc.dialects.imc_ops`), kept with the compiled op."""
    st = op.static
    if st is None:
        st = op.static = view_of(op.ir)
    return st


class _Xbar:
    """The runtime value of an `!imc.xbar`: a handle on a programmed array."""

    __slots__ = ("array", "generation", "conductance", "scale", "cb", "s", "rows", "cols", "column_rows", "source", "wb", "offset")

    def __init__(self, array, generation, conductance, scale, cb, s, source, wb, offset=(0, 0)):
        self.offset = offset
        self.array = array
        self.generation = generation
        self.conductance = conductance
        self.scale = scale
        self.cb = cb
        self.s = s
        self.rows, self.cols = footprint(source)
        # Rows that hold a column's weights: a diagonal block's, or all.
        self.column_rows = source.shape[-2] if source.ndim == 3 else self.rows
        self.source = source
        self.wb = wb


def _same_view(a, b) -> bool:
    """Read-only views of the same memory with the same shape and strides:
    the same data (weights live as long as the module), e.g. a weight
    reshaped again by an op that runs once per call."""
    return (
        isinstance(a, np.ndarray)
        and isinstance(b, np.ndarray)
        and not a.flags.writeable
        and not b.flags.writeable
        and a.shape == b.shape
        and a.strides == b.strides
        and a.dtype == b.dtype
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


def _same_tile(held, tile) -> bool:
    """True if an array already holds exactly `tile` (identity for constants)."""
    src = held.source
    if src is tile:
        return True
    if src.shape != tile.shape:
        return False
    if not src.flags.writeable and not tile.flags.writeable:
        # Weights are read-only constants that live as long as the module:
        # the same memory window means the same data.
        if (
            src.__array_interface__["data"][0] == tile.__array_interface__["data"][0]
            and src.strides == tile.strides
        ):
            return True
    return np.array_equal(src, tile)


@impl("imc.program")
def program(interp, op, args):
    ex = _exec(interp)
    st = _static(op)
    tile = args[0]
    if st.transpose:
        tile = tile.swapaxes(-1, -2)
    chip = ex.chip
    meta = (st.cell_bits, st.weight_bits, st.slice)
    array_id, offset = st.array, st.offset
    held = _held_tile(chip.arrays, array_id, offset, meta, tile)
    if held is not None:
        ex.last_written = None
        return [_Xbar(array_id, held.generation, held.conductance[0], held.conductance[1], st.cell_bits, st.slice, held.source, st.weight_bits, offset)]
    g, scale = chip.conductance(tile, st.slice, st.cell_bits, st.weight_bits)
    chip.generation += 1
    if array_id >= 0:
        chip.place(array_id, _Array(tile, meta, (g, scale), chip.generation, offset))
    rows = footprint(tile)[0]
    copy = copy_of(op)
    ex.report.add(ex.layer_of(op), **program_events(st, rows, broadcast=copy is not None and ex.last_written is copy))
    ex.last_written = op
    tracer = ex.report.tracer
    if tracer is not None:
        tracer.programmed(array_id, rows)
    return [_Xbar(array_id, chip.generation, g, scale, st.cell_bits, st.slice, tile, st.weight_bits, offset)]


def _held_tile(arrays: dict, array: int, offset, meta, tile):
    """The `_Array` crossbar `array` holds at `offset` when it holds `tile`
    with `meta` (an `imc.program` of it then writes nothing), else None."""
    tiles = arrays.get(array) if array >= 0 else None
    held = tiles.get(offset) if tiles else None
    if held is not None and held._meta == meta and (held._source is tile or _same_tile(held, tile)):
        return held
    return None


def copy_of(op):
    """The `imc.program` step right before `op` (a compiled `imc.program`)
    when it programs the same tile (the same weight value, slice, transpose
    and bits) onto another placed crossbar, else None: the copies of a layer
    that `imc-place-crossbars{duplicate=true}` puts on spare crossbars, each
    right before the next. When both write, one DRAM transfer of the tile
    writes both crossbars (docs/interpreter.md, "Counting model"). Decided
    once per op (kept on its view)."""
    st = _static(op)
    found = getattr(st, "_copy_of", _UNDECIDED)
    if found is _UNDECIDED:
        found, prev = None, op.prev
        if prev is not None and prev.name == "imc.program" and st.array >= 0:
            other = _static(prev)
            if (
                other.array >= 0
                and other.array != st.array
                and (other.slice, other.transpose, other.cell_bits, other.weight_bits)
                == (st.slice, st.transpose, st.cell_bits, st.weight_bits)
                and prev.ir.operands[0] == op.ir.operands[0]
            ):
                found = prev
        st._copy_of = found
    return found


_UNDECIDED = object()


def _adc_step(bits: int, full_scale: float) -> np.float32:
    """The step of a signed `bits`-bit ADC of full scale `full_scale` (1 if it is 0)."""
    return np.float32(full_scale / (2 ** (bits - 1) - 1)) if full_scale > 0 else np.float32(1.0)


def _adc_inplace(partial: np.ndarray, bits: int, full_scale: float, step=None) -> None:
    """`partial` through a signed `bits`-bit ADC of full scale `full_scale`, in place:
    `clip(rint(p / step), -L, L) * step` with `L = 2**(bits-1) - 1`, `step = full_scale / L`.

    `step` (optional) replaces the step: an array broadcast against `partial`
    gives each stacked tile its own (`_adc_step` of its full scale); the
    values are those of one call per tile."""
    levels = 2 ** (bits - 1) - 1
    if step is None:
        step = _adc_step(bits, full_scale)
    np.divide(partial, step, out=partial)
    np.rint(partial, out=partial)
    np.clip(partial, -levels, levels, out=partial)
    np.multiply(partial, step, out=partial)


class _InputCycles:
    """One MVM input quantized to `ib` bits and split into `C` signed `db`-bit
    digits (docs/interpreter.md, "quantized"), shared by every MVM that reads
    the same input: the bit slices and column tiles of a row tile.

    `digits` is C x batch x rows float32; `packed(base)` holds pairs of cycles
    in one float32, `d_2k + base * d_2k+1` (ceil(C/2) x batch x rows), for the
    exact packed matmul of `_partials`."""

    __slots__ = ("x", "copy", "ib", "db", "cycles", "xscale", "q", "small", "_digits", "_packed", "_norm", "nbytes")

    def __init__(self, x: np.ndarray, ib: int, db: int):
        # (by weak reference: identity is compared, and a call's values are not
        # kept alive, which `imc.sim.timeline.Tracer.replay` tells them by)
        self.x = weakref.ref(x)
        self.copy = np.array(x, dtype=x.dtype)  # its contents when quantized
        self.ib, self.db = ib, db
        self.cycles = -(-ib // db)
        self.xscale, self.q, qmax = quantized_rows(x, ib)
        self.small = qmax < 128
        self._digits = None
        self._packed = {}
        self._norm = None
        self.nbytes = self.copy.nbytes + self.q.nbytes

    @property
    def digits(self) -> np.ndarray:
        """C x batch x rows float32 (computed on first use: the packed
        products need only `packed`)."""
        if self._digits is None:
            from .converters import digits

            self._digits = digits(self.q, self.cycles, self.db, self.small)
            self.nbytes += self._digits.nbytes
        return self._digits

    @property
    def shape(self) -> tuple:
        """(C, batch, rows): the shape of `digits`."""
        return (self.cycles,) + self.q.shape

    def holds(self, x: np.ndarray, ib: int, db: int) -> bool:
        """True if `x` is the quantized input, unchanged since."""
        return x is self.x() and ib == self.ib and db == self.db and np.array_equal(x, self.copy)

    def packed(self, base: int) -> np.ndarray:
        p = self._packed.get(base)
        if p is None:
            from .converters import digits

            p = self._packed[base] = digits(self.q, self.cycles, self.db, self.small, base)
            self.nbytes += p.nbytes
        return p

    @property
    def norm(self) -> np.ndarray:
        """||d_c,b||_2 per cycle and input row: C x batch x 1."""
        if self._norm is None:
            self._norm = np.linalg.norm(self.digits, axis=2, keepdims=True)
        return self._norm


class _InputCache:
    """The quantized inputs of recent MVMs (oldest first), up to `limit` bytes.

    An entry is reused only for the same input object with the same contents
    (compared with a copy: a scratchpad view may be rewritten in between)."""

    def __init__(self, limit: int = 256 << 20):
        self.limit = limit
        self.entries: list[_InputCycles] = []

    def get(self, x: np.ndarray, ib: int, db: int) -> _InputCycles:
        for e in self.entries:
            if e.x() is x:
                if e.holds(x, ib, db):
                    return e
                self.entries.remove(e)
                break
        e = _InputCycles(x, ib, db)
        self.entries.append(e)
        total = sum(k.nbytes for k in self.entries)
        while len(self.entries) > 1 and total > self.limit:
            total -= self.entries.pop(0).nbytes
        return e


_F32_EXACT = 2**24  # integers up to here are exact in float32


def _partials(inp: _InputCycles, g: np.ndarray, bound: int | None, out: np.ndarray | None = None, work=None) -> np.ndarray:
    """`d_c @ G` for every cycle c: C x batch x cols float32, by one matmul.

    `g` may be a list of nm tiles of one shape (rows x cols): the result is
    then nm x C x batch x cols, each tile's block the values of a call on
    that tile alone (one matmul per tile into the stack: the tiles are the
    crossbars' own arrays, not copied). `out` (optional) receives the
    result; `work` (optional, a `_Workspace`) lends the packed products'
    buffer.

    `bound`: when G holds integers, a bound on |d_c @ G| (rows x largest
    digit x largest cell level), else None.  With integers, two cycles share
    one float32, `d_2k + B d_2k+1` with B a power of two > 2 * bound, when
    `bound * (B + 1) < 2**24`: every partial sum of the matmul is then an
    integer below 2**24, exact in any summation order, and the two products
    are separated exactly afterwards (`hi = rint(P / B)`, `lo = P - B hi`).
    The same values as one matmul per cycle, with half the multiply-adds.
    A zero partial sum is +0, however the packing or the matmul signed it
    (so a stack whose tiles are packed in pairs instead, `_slice_pairs`,
    gives the same bits)."""
    c, batch, _ = inp.shape
    lead, cols = _stack_shape(g)
    if out is None:
        out = np.empty(lead + (c, batch, cols), dtype=np.float32)
    base = _packing_base(inp, bound)
    if base:
        both = _packed_products(inp, g, base, work)
        half = c // 2
        hi, lo = out[..., 1 : 2 * half : 2, :, :], out[..., 0 : 2 * half : 2, :, :]
        np.multiply(both[..., :half, :, :], np.float32(1.0 / base), out=hi)  # exact: a power of two
        np.rint(hi, out=hi)  # |lo| <= bound < B / 2
        np.multiply(hi, np.float32(base), out=lo)
        np.subtract(both[..., :half, :, :], lo, out=lo)
        if c % 2:
            out[..., -1, :, :] = both[..., -1, :, :]
    else:
        _cycle_products(inp, g, out)
    np.add(out, np.float32(0.0), out=out)  # (-0 + 0 is +0)
    return out


def _stack_shape(g) -> tuple:
    """((nm,) for a list of nm tiles, else (); the tiles' columns)."""
    if isinstance(g, list):
        return (len(g),), g[0].shape[1]
    return (), g.shape[1]


def _packing_base(inp: _InputCycles, bound: int | None) -> int:
    """The power of two B that packs two cycles into one float32 exactly
    (see `_partials`), or 0 if they cannot share one."""
    if inp.shape[0] < 2:
        return 0
    return _pair_base(bound)


def _pair_base(bound: int | None) -> int:
    """The power of two B > 2 * bound with `bound * (B + 1) < 2**24`: two
    integer products of magnitude <= bound packed as `p + B q` are exact in
    float32 and separate exactly; 0 if there is none (or no bound)."""
    if bound is None:
        return 0
    base = 1 << (2 * bound + 1).bit_length()  # a power of two > 2 * bound
    return base if bound * (base + 1) < _F32_EXACT else 0


def _slice_pairs(g: list, bound: int | None):
    """A stack's integer tiles `g` packed in pairs for `_fused_outputs`:
    (B, [g_0 + B g_1, g_2 + B g_3, ...], the last tile alone when their
    number is odd), B = `_pair_base(bound)`; None for fewer than two tiles
    or no such B. Every product with an input cycle then holds two tiles'
    partial sums exactly, as a packed input holds two cycles', so the
    matmul reads half the conductances for the same multiply-adds: where
    the tiles outweigh the input (a row tile's few input rows against a
    layer's conductances, read again on every loop trip), that halves the
    memory traffic that bounds it."""
    base = _pair_base(bound)
    if len(g) < 2 or not base:
        return None
    b = np.float32(base)
    pairs = [packed_pair(g[k], g[k + 1], b) for k in range(0, len(g) - 1, 2)]
    if len(g) % 2:
        pairs.append(g[-1])
    return base, pairs


def _cycle_products(inp: _InputCycles, g, out: np.ndarray) -> np.ndarray:
    """`d_c @ G` for every cycle c into `out` ((nm x) C x batch x cols)."""
    c, batch, rows = inp.shape
    _matmul(inp.digits.reshape(c * batch, rows), g, out.reshape(out.shape[:-3] + (c * batch, out.shape[-1])))
    return out


def _packed_products(inp: _InputCycles, g, base: int, work=None) -> np.ndarray:
    """`packed(base) @ G`: (nm x) ceil(C/2) x batch x cols, plane k the
    products of cycles 2k and 2k+1 packed as `d_2k + base d_2k+1`."""
    packed = inp.packed(base)
    pc, batch, rows = packed.shape
    lead, cols = _stack_shape(g)
    shape = lead + (pc * batch, cols)
    prod = work.get("packed", shape) if work is not None else np.empty(shape, dtype=np.float32)
    _matmul(packed.reshape(pc * batch, rows), g, prod)
    return prod.reshape(lead + (pc, batch, cols))


def _fused_outputs(inp: _InputCycles, g, bound: int | None, steps, adc_bits: int, db: int, scale, work=None, peaks=None, noise=None, pairs=None) -> np.ndarray:
    """The outputs of MVMs on the conductances `g` (a tile, or a list of nm
    tiles: then nm x batch x cols): the products as in `_partials`, then read
    noise, converters, shift-and-add and scales in one pass
    (`converters.shift_added`, the same values as `_partials`,
    `_add_drawn_noise`, `_adc_inplace` and `_shift_added`). `steps`: the
    tiles' ADC steps (nm, or one), None without ADC (or while calibrating:
    `peaks`, nm zeros, then receives each tile's largest |partial sum|);
    `noise`: (std, active cycles, standard normals) as `_add_drawn_noise`
    takes them, or None. `pairs`: the tiles packed in pairs (`_slice_pairs`
    of `g` and `bound`), to pack them instead of the input's cycles (not
    with `noise`): the same values."""
    from .converters import pair_shift_added, shift_added

    c, batch, _ = inp.shape
    lead, cols = _stack_shape(g)
    if pairs is not None and noise is None:
        base, tiles = pairs
        shape = (len(tiles), c, batch, cols)
        prod = _cycle_products(inp, tiles, work.get("pairs", shape) if work is not None else np.empty(shape, dtype=np.float32))
        return pair_shift_added(prod, len(g), base, steps, adc_bits, db, inp.xscale, scale, peaks)
    base = _packing_base(inp, bound)
    if base:
        prod = _packed_products(inp, g, base, work)
    else:
        shape = lead + (c, batch, cols)
        prod = _cycle_products(inp, g, work.get("partial", shape) if work is not None else np.empty(shape, dtype=np.float32))
    stacked = prod if lead else prod[None]
    y = shift_added(stacked, c, base, steps, adc_bits, db, inp.xscale, scale, peaks, noise, integral=bound is not None and bound < _F32_EXACT)
    return y if lead else y[0]


def _matmul(a: np.ndarray, g, out: np.ndarray) -> None:
    """out = a @ g, or out[k] = a @ g[k] for a list of tiles `g`."""
    if isinstance(g, list):
        for k, gk in enumerate(g):
            np.matmul(a, gk, out=out[k])
    else:
        np.matmul(a, g, out=out)


def _read_noise_cycles(std: np.ndarray) -> np.ndarray:
    """The cycles whose read-noise std (C x batch x 1) is not zero everywhere:
    the ones that get draws (a cycle without a non-zero digit gets none)."""
    return np.flatnonzero(std.reshape(std.shape[0], -1).any(axis=1))


def _add_drawn_noise(partial: np.ndarray, std: np.ndarray, active: np.ndarray, z: np.ndarray) -> None:
    """partial[..., c, b, :] += z[..., i, b, :] * std[c, b] for the i-th cycle c
    of `active`; `z` (standard normals, ... x len(active) x batch x cols) is
    scaled in place."""
    if active.size == partial.shape[-3]:
        z *= std
        partial += z
    else:
        if active[-1] - active[0] + 1 == active.size:  # a range of cycles: a view, no gather
            active = slice(active[0], active[-1] + 1)
        z *= std[active]
        partial[..., active, :, :] += z


def _draw_read_noise(rng, std: np.ndarray, cols: int) -> tuple | None:
    """The read noise of one MVM whose partial sums have `cols` columns:
    (std, active cycles, z), z the float32 standard normals drawn in one call
    in (cycle, row, column) order for the cycles of `_read_noise_cycles`, as
    `_add_drawn_noise` and `converters.shift_added` take them; None if no
    cycle draws."""
    active = _read_noise_cycles(std)
    if not active.size:
        return None
    return std, active, rng.standard_normal((active.size, std.shape[1], cols), dtype=np.float32)


_THREADED_DRAWS = 1 << 20  # normals per fused call from which a worker thread draws ahead


class _ReadNoiseDraws:
    """The standard normals of a sequence of draws of `shapes` (float32), one
    after the other from `rng`: the values of drawing each in turn.

    From `_THREADED_DRAWS` normals on, a worker thread draws them ahead into
    two alternating buffers (NumPy's generators release the GIL while they
    fill an array), so that one draw overlaps the arithmetic on the previous
    one; `rng` must not be used by anyone else until `close`. `next()` returns
    the next draw, valid until the following `next()`."""

    def __init__(self, rng, shapes: list, work: _Workspace):
        self.rng, self.shapes = rng, shapes
        n = max(math.prod(s) for s in shapes)
        self.buffers = [work.get("noise0", (n,)), work.get("noise1", (n,))]
        self.taken = 0
        self.thread = None
        if sum(math.prod(s) for s in shapes) >= _THREADED_DRAWS:
            # `released` gets a token each time the caller is done with a draw
            # (at its next `next()`): draw k may then reuse draw k - 2's buffer.
            self.released, self.drawn = queue.SimpleQueue(), queue.SimpleQueue()
            self.cancelled = False
            self.thread = threading.Thread(target=self._draw_ahead, daemon=True)
            self.thread.start()

    def _draw(self, k: int) -> np.ndarray:
        shape = self.shapes[k]
        z = self.buffers[k % 2][: math.prod(shape)].reshape(shape)
        return self.rng.standard_normal(out=z, dtype=np.float32)

    def _draw_ahead(self):
        try:
            for k in range(len(self.shapes)):
                if k >= 2:
                    self.released.get()
                if self.cancelled:
                    return
                self.drawn.put(self._draw(k))
        except BaseException as e:  # raised by the caller's next()
            self.drawn.put(e)

    def next(self) -> np.ndarray:
        k = self.taken
        self.taken += 1
        if self.thread is None:
            return self._draw(k)
        if k >= 1:
            self.released.put(None)  # done with draw k - 1
        z = self.drawn.get()
        if isinstance(z, BaseException):
            raise z
        return z

    def close(self) -> None:
        """Stops the worker (draws not yet taken are abandoned)."""
        if self.thread is not None:
            self.cancelled = True
            self.released.put(None)
            self.thread.join()
            self.thread = None


def _mvm_converted(ex, op, st, xb, x) -> np.ndarray:
    """A `quantized` / `noisy` MVM (docs/interpreter.md): bit-serial inputs,
    an ADC per cycle, shift-and-add.  The cycles are a batch dimension of one
    matmul, and the input's digits are shared with the other MVMs of it.
    While `chip.calibration` records (`imc.sim.calibration`), the partial sums
    are recorded and pass the ADC unconverted."""
    chip = ex.chip
    hw = chip.hardware
    inp = ex.inputs.get(x, st.input_bits, st.dac_bits)
    cell_max = 2**xb.cb - 1
    noisy = chip.precision == "noisy"
    column_max = xb.column_rows * (2 ** st.dac_bits - 1) * cell_max  # the largest possible column sum
    exact = not chip.draws_program_noise  # G holds integers
    bound = column_max if exact else None
    calibration = chip.calibration
    noise = None
    if noisy and hw.read_noise > 0:
        noise = _draw_read_noise(chip.rng, hw.read_noise * cell_max * inp.norm, xb.conductance.shape[1])
    if calibration is None or calibration.takes_peaks:
        if calibration is not None:  # the partial sums pass unconverted; their peak is recorded
            peaks = np.zeros(1, dtype=np.float32)
            y = _fused_outputs(inp, xb.conductance, bound, None, 0, st.dac_bits, xb.scale, peaks=peaks, noise=noise)
            calibration.record_peak(op, float(peaks[0]), hw.adc_range * column_max)
            return y
        step = _adc_step(st.adc_bits, st.adc_full_scale or hw.adc_range * column_max) if st.adc_bits > 0 else None
        return _fused_outputs(inp, xb.conductance, bound, step, st.adc_bits, st.dac_bits, xb.scale, noise=noise)
    partial = _partials(inp, xb.conductance, bound)
    if noise is not None:
        _add_drawn_noise(partial, *noise)
    if chip.calibration is not None:
        chip.calibration.record(op, partial, hw.adc_range * column_max)
    elif st.adc_bits > 0:
        _adc_inplace(partial, st.adc_bits, st.adc_full_scale or hw.adc_range * column_max)
    return _shift_added(partial, st.dac_bits, inp.xscale, xb.scale)


def _shift_added(partial: np.ndarray, db: int, xscale: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """One MVM's output from its converted C x batch x cols partial sums:
    `(sum_c 2**(c·db) · partial_c) · xs_b · scale_j`, the cycles added in
    order c = 0, 1, ... after scaling each in place by its power of two
    (exact). Elementwise float32 arithmetic only, so a stack of tiles
    (nm x C x batch x cols, `scale` nm x 1 x cols) gives each tile the
    values of a call on that tile alone. `partial` is scaled in place."""
    c = partial.shape[-3]
    if c > 1:
        partial[..., 1:, :, :] *= (2.0 ** (np.arange(1, c) * db)).astype(np.float32)[:, None, None]
    y = partial[..., 0, :, :].copy()
    for k in range(1, c):
        y += partial[..., k, :, :]
    y *= xscale
    if scale is not None:
        y *= scale
    return y


@impl("imc.mvm")
def mvm(interp, op, args):
    check_mvm(interp, op, args)
    return mvm_unchecked(interp, op, args)


def check_mvm(interp, op, args) -> list:
    """Raises what `imc.mvm` raises on `args` (an input the scratchpad does
    not hold, a tile reprogrammed since, a row mismatch); computes nothing."""
    chip = _exec(interp).chip
    xb, x = args
    if chip.spad is not None:
        check_spad_read(interp, op, x)
    if xb.array >= 0:
        held = chip.arrays.get(xb.array, {}).get(xb.offset)
        if held is None or held.generation != xb.generation:
            raise op.error(f"crossbar {xb.array} was reprogrammed with other weights before this MVM")
    if x.shape[1] != xb.rows:
        raise op.error(f"input has {x.shape[1]} rows but the crossbar tile has {xb.rows}")
    return []


def mvm_unchecked(interp, op, args) -> list:
    """`imc.mvm` after `check_mvm`: its product, counters and timeline."""
    ex = _exec(interp)
    st = _static(op)
    xb, x = args
    chip = ex.chip
    batch, rows = x.shape
    tracer = ex.report.tracer
    if chip.precision == "ideal":
        # Slice 0 holds the tile, higher slices zeros (see the module docstring).
        if xb.conductance is None or not chip.computes_products:
            # Traced, the product is an array of its own: the crossbar still
            # computes it, and its readers wait for it (a shared constant
            # would be ready from the first such MVM on).
            y = chip.zeros((batch, xb.cols)) if tracer is None else chip.zero_product((batch, xb.cols))
        else:
            y = chip.contiguous(x) @ xb.conductance
    else:
        y = _mvm_converted(ex, op, st, xb, x)
    if y.dtype != np.float32:
        y = y.astype(np.float32)
    shared = shares_periphery(chip.hardware, xb.s)
    n_mvm, events = mvm_events(st, batch, rows, xb.cols, x.nbytes, y.nbytes, shares_periphery=shared)
    row = ex.layer_of(op)
    rides = st.shares_activation
    if not rides:
        row.busy[xb.array] = row.busy.get(xb.array, 0) + n_mvm
    ex.report.add(row, **events)
    if tracer is not None:
        tracer.activation(xb.array, n_mvm, x, rides=rides)
    return [y]


def _one_zero(p: np.ndarray) -> bool:
    """Whether `p` has elements, all of them one element (zero strides)
    holding 0 (`Chip.zeros`, `Chip.zero_product`)."""
    return p.ndim > 0 and p.size > 0 and not any(p.strides) and not p.flat[0]


@impl("imc.accumulate")
def accumulate(interp, op, args):
    ex = _exec(interp)
    shifts = _static(op).shifts
    live = [(p, s) for p, s in zip(args, shifts) if not _one_zero(p)]
    if len(live) == 1 and live[0][1] == 0:
        out = live[0][0]
    else:
        out = np.zeros(args[0].shape, dtype=np.float32)
        for p, s in live:
            if s:
                out += p * np.float32(2.0**s)
            else:
                out += p
    ex.report.add(ex.layer_of(op), **accumulate_events_for(ex.chip.hardware, shifts, out.size, out.nbytes))
    return [out]


@impl("imc.quantize")
def quantize(interp, op, args):
    ex = _exec(interp)
    (x,) = args
    st = _static(op)
    ex.report.add(ex.layer_of(op), digital_ops=x.size)
    chip = ex.chip
    if chip.calibration is not None:  # calibrating: record the range, pass the values through
        chip.calibration.record_range(op, x)
        return [x]
    if chip.precision == "ideal" or x.size == 0:
        return [x]
    return [quantize_array(x, st.bits, st.low, st.high)]


def quantize_array(x: np.ndarray, bits: int, low: float, high: float) -> np.ndarray:
    """`x` rounded to `bits` bits over [low, high] (`imc.quantize`; [0, 0]:
    the range of `x` itself)."""
    if low == 0.0 and high == 0.0:
        low, high = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
        if high <= 0.0 and low < 0.0:
            high = -low
    if high <= 0.0:
        return np.zeros_like(x)
    if low >= 0.0:  # unsigned
        levels, lo = (1 << bits) - 1, 0
    else:
        levels = (1 << (bits - 1)) - 1
        high = max(-low, high)
        lo = -levels
    if levels == 0:  # a 1-bit signed format holds only 0
        return np.zeros_like(x)
    step = np.float32(high / levels)
    q = np.clip(np.rint(x / step), lo, levels)
    return (q * step).astype(x.dtype, copy=False)


class _GatherIndexCache:
    """Flat gather indices of an im2col, per (input shape, kernel, strides,
    dilations, column order): the columns of any input of that shape are one
    `np.take` of its elements (a copy: the same values as the strided
    windows, several times faster for small-channel tiles and the small row
    tiles of a pipelined program). Least recently used indices are dropped
    beyond `limit` bytes."""

    def __init__(self, limit: int = 256 << 20):
        self.limit = limit
        self.nbytes = 0
        self.indices: dict[tuple, np.ndarray] = {}

    def get(self, key: tuple, build) -> np.ndarray:
        """The index of `key`, built by `build()` on first use."""
        index = self.indices.pop(key, None)
        if index is None:
            index = build()
            self.nbytes += index.nbytes
            while self.indices and self.nbytes > self.limit:
                self.nbytes -= self.indices.pop(next(iter(self.indices))).nbytes
        self.indices[key] = index  # (re)inserted last: most recently used
        return index


_IM2COL_INDICES = _GatherIndexCache()


def _gathered_im2col(strided_im2col, x: np.ndarray, kernel, strides, dilations) -> np.ndarray:
    """`strided_im2col(x, kernel, strides, dilations)` as one gather of `x`'s
    elements, with the flat index `strided_im2col` gives for the positions of
    an input of `x`'s shape (cached)."""
    key = (strided_im2col, x.shape, tuple(kernel), tuple(strides), tuple(dilations))
    positions = lambda: strided_im2col(np.arange(x.size, dtype=np.intp).reshape(x.shape), kernel, strides, dilations)
    index = _IM2COL_INDICES.get(key, positions)
    return np.take(np.ascontiguousarray(x).reshape(-1), index)


def im2col_array(x: np.ndarray, kernel, strides, dilations) -> np.ndarray:
    """N x C x spatial -> (N*prod(out)) x (C*prod(kernel)), columns ordered (c, k...)."""
    return _gathered_im2col(_strided_im2col, x, kernel, strides, dilations)


def _strided_im2col(x: np.ndarray, kernel, strides, dilations) -> np.ndarray:
    """`im2col_array` as a copy of strided windows of `x`."""
    n, c = x.shape[:2]
    spatial = len(kernel)
    windows = np.lib.stride_tricks.sliding_window_view(
        x, [d * (k - 1) + 1 for k, d in zip(kernel, dilations)], axis=tuple(range(2, 2 + spatial))
    )
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)
    index += tuple(slice(None, None, d) for d in dilations)
    windows = windows[index]  # N, C, out..., k...
    out_dims = windows.shape[2 : 2 + spatial]
    perm = [0] + list(range(2, 2 + spatial)) + [1] + list(range(2 + spatial, 2 + 2 * spatial))
    cols = windows.transpose(perm).reshape(n * math.prod(out_dims), c * math.prod(kernel))
    return np.ascontiguousarray(cols)


@impl("imc.im2col")
def im2col(interp, op, args):
    st = _static(op)
    ex = interp.get_data(EXECUTION)
    if ex is not None and ex.chip.spad is not None:
        check_spad_read(interp, op, args[0])
    cols = im2col_array(args[0], st.kernel, st.strides, st.dilations)
    if ex is not None:
        ex.report.add(ex.layer_of(op), spad_read_bytes=args[0].nbytes, spad_write_bytes=cols.nbytes)
    return [cols]


@impl("imc.contract")
def contract(interp, op, args):
    """The pre-tiling contraction, executed as an exact float matmul (digital)."""
    x, w = args
    transposed = _static(op).transpose_weight
    w = w.swapaxes(-1, -2) if transposed else w  # (G x) K x N
    k = w.shape[-2]
    if w.ndim == 3:  # grouped: group g reads inputs [g*k, (g+1)*k)
        groups, _, n = w.shape
        xs = x.reshape(*x.shape[:-1], groups, k)
        y = np.einsum("...gk,gkn->...gn", xs, w).reshape(*x.shape[:-1], groups * n).astype(np.float32)
    else:
        y = (x @ w).astype(np.float32)
    ex = interp.get_data(EXECUTION)
    if ex is not None:
        ex.report.add(ex.layer_of(op), digital_ops=2 * y.size * k, spad_read_bytes=x.nbytes + w.nbytes, spad_write_bytes=y.nbytes)
    return [y]


class Scratchpad:
    """The chip's scratchpad: one byte array that `imc.spad_alloc` carves views from.

    It checks what the verifier cannot: live buffers never overlap, freed
    buffers are not used, and no byte is read before a DMA or an op wrote it
    (validity is tracked per element, on the element's first byte).

    Offsets and sizes are the program's: bytes as the chip stores elements
    (`stored_element_bytes`: floats at the hardware's `activation_bits`). The
    interpreter keeps host values (a float32 in every precision mode), so the
    backing array has `scale` host bytes per scratchpad byte
    (`scale = itemsize / stored bytes`, the largest over the program's
    buffers): a buffer at `offset` is the host array at `offset * scale`.
    """

    def __init__(self, capacity: int, used: int | None = None, scale: int = 1):
        # Only the bytes the program can touch are allocated (`used`: the
        # highest byte of any `imc.spad_alloc`), so a chip with a huge
        # scratchpad costs no more host memory than its program needs;
        # capacity checks use `capacity`.
        self.capacity = capacity
        self.scale = scale
        self.size = capacity if used is None else min(capacity, used)
        self.memory = np.zeros(self.size * scale, dtype=np.uint8)
        self.valid = np.zeros(self.size * scale, dtype=bool)
        self.live: dict[int, tuple[int, int]] = {}  # base address -> (offset, size)
        self.freed: dict[int, tuple[int, int]] = {}  # base address -> (offset, size) of a freed buffer

        self._base = self.memory.ctypes.data  # the array is never reallocated

    @property
    def base(self) -> int:
        return self._base

    def owns(self, a) -> bool:
        if not isinstance(a, np.ndarray) or a.size == 0:
            return False
        if a.base is not self.memory and not np.may_share_memory(a, self.memory):
            return False  # (a cheap bounds test first: most arrays are elsewhere)
        start = a.__array_interface__["data"][0] - self._base
        return 0 <= start < self.memory.size

    def offset_of(self, a: np.ndarray) -> int:
        """The scratchpad byte where `a` starts (in the program's bytes)."""
        return (a.__array_interface__["data"][0] - self.base) // self.scale

    def host_slice(self, offset: int, size: int) -> slice:
        """The backing bytes of scratchpad bytes [offset, offset + size)."""
        return slice(offset * self.scale, (offset + size) * self.scale)

    def valid_view(self, a: np.ndarray) -> np.ndarray:
        """A bool array shaped like `a`: is each element's first byte valid?"""
        start = a.__array_interface__["data"][0] - self.base
        return np.lib.stride_tricks.as_strided(self.valid[start:], shape=a.shape, strides=a.strides)

    def not_live_error(self, a: np.ndarray) -> str:
        """The message for a use of `a`, which views no live buffer."""
        start = self.offset_of(a)
        for offset, size in self.freed.values():
            if offset <= start < offset + size:
                return spad_use_after_free_error(f"scratchpad buffer [{offset}, {offset + size})")
        return f"uses scratchpad bytes at offset {start} that no imc.spad_alloc allocated"

    def label(self, a: np.ndarray) -> str:
        """What the scratchpad rules' messages call the buffer `a` views."""
        held = self.buffer_of(a)
        return "the scratchpad" if held is None else f"scratchpad buffer [{held[0]}, {held[0] + held[1]})"

    def live_overlap(self, start: int, end: int) -> tuple[int, int] | None:
        """The bytes [offset, end) of a live buffer that overlaps [start, end), if any."""
        for offset, size in self.live.values():
            if start < offset + size and offset < end:
                return offset, offset + size
        return None

    def buffer_of(self, a: np.ndarray) -> tuple[int, int] | None:
        start = self.offset_of(a)
        for offset, size in self.live.values():
            if offset <= start < offset + size:
                return offset, size
        return None


def _spad(ex, interp) -> Scratchpad:
    chip = ex.chip
    if chip.spad is None:
        used, scale = _spad_extent(interp.module, chip.hardware)
        chip.spad = Scratchpad(chip.hardware.spad_bytes, used, scale)
    return chip.spad


def _spad_extent(module, hardware) -> tuple[int, int]:
    """(the end of the highest buffer any `imc.spad_alloc` of `module` makes,
    the host bytes per scratchpad byte its buffers need)."""
    from imc.ir.utils import walk_ops

    from .core import element_dtype

    root = module.operation if hasattr(module, "operation") else module
    end, scale = 0, 1
    for o in walk_ops(root, {"imc.spad_alloc", *TRANSFER_OPS}):
        if o.name == "imc.spad_alloc":
            alloc = SpadAllocView(o)
            et = alloc.buffer_type.element_type
            stored = stored_element_bytes(et, hardware)
            top = alloc.offset + max(alloc.size, math.prod(alloc.buffer_type.shape) * stored)
        else:  # its staging buffers
            transfer = TransferView(o)
            et = transfer.tensor_type.element_type
            stored = stored_element_bytes(et, hardware)
            top = transfer.staging_span(stored)[1]
        scale = max(scale, -(-element_dtype(et).itemsize // stored))
        end = max(end, top)
    return end, scale


def stored_nbytes(chip, a: np.ndarray) -> int:
    """Bytes `a` occupies where the chip stores it (scratchpad, or the DRAM
    buffer of a stored tensor): floats at `activation_bits`."""
    if a.dtype.kind == "f":
        return a.size * chip.hardware.activation_bytes
    return a.nbytes


def check_spad_read(interp, op, a) -> None:
    """Raises if `a` (a scratchpad view) holds bytes never loaded or written."""
    ex = interp.get_data(EXECUTION)
    if ex is None or ex.chip.spad is None or not ex.chip.spad.owns(a):
        return
    spad = ex.chip.spad
    if spad.buffer_of(a) is None:
        raise op.error(spad.not_live_error(a))
    valid = spad.valid_view(a)
    if not valid.all():
        raise op.error(spad_unwritten_read_error(_unwritten_span(spad, a, valid), spad.label(a)))


def _unwritten_span(spad, a: np.ndarray, valid: np.ndarray) -> str:
    """The first run of scratchpad bytes of `a` never written, and how many
    more runs and bytes in all (as `imc-check-buffers` says it)."""
    elem = max(1, a.itemsize // spad.scale)  # scratchpad bytes per element
    index = np.nonzero(~valid)
    origin = a.__array_interface__["data"][0] - spad.base
    starts = np.sort(origin + sum(i * s for i, s in zip(index, a.strides))) // spad.scale
    breaks = np.flatnonzero(np.diff(starts) != elem) + 1
    runs = np.split(starts, breaks)
    first = f"[{runs[0][0]}, {runs[0][-1] + elem})"
    if len(runs) == 1:
        return first
    return f"{first} and {len(runs) - 1} more range(s), {starts.size * elem} bytes in all"


def mark_spad_written(interp, a) -> None:
    ex = interp.get_data(EXECUTION)
    if ex is not None and ex.chip.spad is not None and ex.chip.spad.owns(a):
        ex.chip.spad.valid_view(a)[...] = True


@impl("imc.spad_alloc")
def spad_alloc(interp, op, args):
    ex = _exec(interp)
    spad = _spad(ex, interp)
    if op.static is None:  # decoded once: (offset, size, dtype, shape, host bytes)
        from .core import element_dtype

        alloc = SpadAllocView(op.ir)
        t = ir.MemRefType(op.result_types[0])
        dtype = element_dtype(t.element_type)
        op.static = (alloc.offset, alloc.size, dtype, tuple(t.shape), math.prod(t.shape) * dtype.itemsize)
    offset, size, dtype, shape, nbytes = op.static
    if offset < 0 or offset + size > spad.capacity:
        raise op.error(spad_capacity_error(f"scratchpad buffer [{offset}, {offset + size})", spad.capacity))
    host = spad.host_slice(offset, size)
    if offset + size > spad.size or host.start + nbytes > spad.memory.size:  # not seen by `_spad_extent`
        raise op.error(f"buffer [{offset}, {offset + size}) was not found in the program before it ran")
    live = spad.live_overlap(offset, offset + size)
    if live is not None:
        raise op.error(spad_overlap_error(f"scratchpad buffer [{offset}, {offset + size})", f"[{live[0]}, {live[1]})"))
    view = spad.memory[host.start : host.start + nbytes].view(dtype).reshape(shape)
    spad.live[spad.base + host.start] = (offset, size)
    spad.valid[host] = False
    return [view]


@impl("imc.spad_free")
def spad_free(interp, op, args):
    ex = _exec(interp)
    spad = _spad(ex, interp)
    key = args[0].__array_interface__["data"][0]
    if key not in spad.live:
        if key in spad.freed:
            offset, size = spad.freed[key]
            raise op.error(spad_double_free_error(f"scratchpad buffer [{offset}, {offset + size})"))
        raise op.error(f"frees scratchpad bytes at offset {(key - spad.base) // spad.scale} that no imc.spad_alloc allocated")
    offset, size = spad.live.pop(key)
    spad.freed[key] = (offset, size)
    spad.valid[spad.host_slice(offset, size)] = False
    return []


@impl("imc.dma")
def dma(interp, op, args):
    src, dst = args
    _dma_rows(interp, op, src[None], dst[None], 1)
    return []


def _dma_rows(interp, op, src, dst, trips):
    """`imc.dma` of `trips` views at once (the planes of `src` and `dst`;
    one for the op itself, many for `transfer_loops`): the checks and
    counters of the DMAs one by one."""
    ex = _exec(interp)
    spad = _spad(ex, interp)
    window = (slice(None), *dma_window(op))
    first, last = dst[0], dst[trips - 1]
    if spad.owns(first):
        held = spad.buffer_of(first)
        if held is None or spad.buffer_of(last) != held:  # (the trips between are in the buffer of both)
            outside = 0 if held is None else next(t for t in range(trips) if spad.buffer_of(dst[t]) != held)
            raise op.error(spad.not_live_error(dst[outside]))
        dst[...] = src[window]
        spad.valid_view(dst)[...] = True  # (mark_spad_written, known to be a scratchpad view)
        for t in range(trips):
            ex.count_dma(op, dst[t], load=True)
    else:
        for t in range(trips):
            check_spad_read(interp, op, src[t])
        dst[window] = src
        for t in range(trips):
            ex.count_dma(op, src[t], load=False)


def dma_window(op) -> tuple:
    """The slices of an `imc.dma`'s DRAM side that it moves."""
    return _dma_static(op).window


class _DmaFacts:
    """What executing and counting an `imc.dma` reads, decoded once: its
    DRAM window and whether its DRAM side holds a model input or output or
    a constant at the host dtype rather than a stored tensor (`host_dram`)."""

    __slots__ = ("window", "host_dram")

    def __init__(self, op):
        dma = DmaView(op)
        self.window = dma.window
        self.host_dram = not holds_stored_tensor(dma.dram)


def _dma_static(op) -> _DmaFacts:
    st = op.static
    if st is None:
        st = op.static = _DmaFacts(op.ir)
    return st


def holds_stored_tensor(value) -> bool:
    """Whether a DRAM memref views a buffer the program allocated for a
    stored tensor (`memref.alloc`, not returned: stored at the hardware's
    `activation_bits`), rather than a model input or output, or a constant
    (at their host dtype)."""
    value = buffer_root(value)
    o = defining_op(value)
    if o is None or o.name != "memref.alloc":  # (a memref argument, or no program buffer)
        return False
    return not any(u.owner.operation.name == "func.return" for u in value.uses)


# ---------------------------------------------------------------------------
# Fast path: a tiled contraction executed as one matmul in `ideal` precision.
#
# The tiling passes lower `x @ W` to, per (row tile, column tile, bit slice),
# `imc.program` of a weight tile + `imc.mvm` of a column slice of `x`, and one
# `imc.accumulate` per column tile; `imc-group-contractions` puts those ops
# (with the `imc.im2col` that produced `x`, the `tensor.extract_slice`s
# feeding them and the concat of the column tiles) in one
# `imc.tiled_contract`, which runs as one step (`tiled_contract`: the body
# decoded once into a `ContractionGroup`, the concat run after it).
# The group's first run (`_first_run`) executes the programs,
# slices and im2col as ops and each MVM's checks in its place, validates the
# fast path from the programmed tiles and computes the products as the fast
# path does (else, e.g. for a shape it does not cover, the MVMs and
# accumulates then run as ops); later runs take the
# fast path when the weights the tiles come from are the same read-only arrays
# (so each tile is the same data as in the validated run):
#   * the group's `imc.program`s are replayed in order on the chip state (a
#     tile already held costs nothing, any other one is (re)programmed, with
#     the same counters and generation bumps as the op). A replay's outcome
#     depends only on the tile maps of the group's crossbars on entry (maps
#     are copy-on-write, `Chip.place`; tiles changed in place bump
#     `_Array.revision`), and a group places the same `_Array` object for a
#     program on every replay: so in steady state each group meets the entry
#     maps of a recorded replay and applies its end maps, generation bumps
#     (each placed tile gets the generation the op would give it) and
#     counters in one step (`ContractionGroup.program`);
#   * the MVM validity checks cannot fail: whether a later program of the group
#     overwrites a tile before its MVM depends only on the static placement
#     (a program after an overlapping one always reprograms), and the
#     validated run showed it does not;
#   * the products are one matmul `x @ W_eff` (`W_eff` assembled once from the
#     crossbar conductances and the accumulate shifts: in `ideal` slice 0
#     holds the float tile and higher slices zeros), plus the
#     counters the MVMs/accumulates/im2col would add (precomputed per shape).
# `quantized` and `noisy` take a fast path too (`fast_converted`): validated
# like `ideal`'s, it lists the conductances of each run of
# MVMs that read one row tile (`_ConvertedRun`) and executes the MVMs of a run
# as one stack (`_run_converted`), the values and read-noise draws of the ops;
# while calibrating, it records each op's partial sums as the op would.
# Under `noisy` with programming noise the first run executes the ops in
# order (programs and MVMs draw from one generator, interleaved) and later
# runs need every tile held as validated (a reprogramming draws fresh
# noise: the ops do it).
# ---------------------------------------------------------------------------

_MAX_REPLAYS = 4  # recorded replays kept per group (e.g. models sharing a chip)

# A contraction whose MVMs split the input rows over copies of its crossbars
# (`row_blocks`), of at most this many input rows (a loop trip of
# `imc-pipelined`), computes its products as its ops do (`StackedTiles`):
# bit for bit the ops'. With more rows the copies' products are those of
# the unsplit contraction: one matmul by the combined weight matrix, as for
# every unsplit contraction, also of a few rows (faster than stacking with
# NumPy's OpenBLAS here: ResNet-18's layer4 trips, 7 x 4608 by 4608 x 512,
# 0.50 ms against 0.82 ms stacked; docs/interpreter.md).
STACKED_BATCH_ROWS = 32

# `ideal` weights whose products are the ops' own arithmetic, bit for bit.
_OPS_ARITHMETIC = (RowBlockedWeights, StackedTiles)


@dataclasses.dataclass(slots=True)
class _Replay:
    """One recorded `ContractionGroup.program` run: entry tile maps of the
    group's arrays, their end maps, the placed tiles still held with their
    generation minus the entry generation, the generation bumps and the
    per-row counters; `last_written` the group's last program if it wrote
    (`ImcExecution.last_written`)."""

    entry: tuple
    revision: int
    end: dict
    written: list
    bumps: int
    counters: list
    last_written: object = None


@dataclasses.dataclass(slots=True)
class _ConvertedRun:
    """Consecutive `imc.mvm`s of a fused contraction (in execution order) that
    read the same row tile `x[:, r0 : r0 + rows]` with tiles of the same shape
    and the same converters: in `quantized` / `noisy` they execute as one
    stack (`_run_converted`), the tiles a batch dimension.

    `g` lists their conductances (nm tiles of rows x cols, as programmed), `steps`
    their ADC steps (nm x 1 x 1 x 1, `_adc_step` of each op's full scale;
    None without ADC), `scales` their per-column weight scales, `ops` the
    MVM ops."""

    r0: int
    rows: int
    cols: int
    column_rows: int  # rows that hold a column's weights (`_Xbar.column_rows`)
    ib: int
    db: int
    adc: int
    cell_max: int
    g: list  # of rows x cols float32 arrays
    steps: np.ndarray | list | None  # (a list with `blocks`, below)
    scales: list
    exact: bool  # G holds integers (no programming noise): packed matmul
    ops: list = None  # the MVM ops (what `chip.calibration` records)
    # per MVM: None, or the row blocks [(op, b0, b1)] of an
    # operand whose MVMs read them on copies of its tile (`steps` is then,
    # per MVM, its blocks' [(b0, b1, ADC step)]); None if no MVM has blocks
    blocks: list = None
    # the tiles' `scales` stacked (nm x 1 x cols; None: none has a scale),
    # False if they do not stack (then one `_shift_added` per tile)
    scale_stack: object = False
    # `_slice_pairs` of `g` (None: none), made on first use (`pairs_for`)
    pairs: object = _UNDECIDED
    # (the `steps` list it was made from, `row_steps` of it)
    _row_steps: tuple = (None, None)
    # (batch, `blocks_in_order` of it)
    _in_order: tuple = (None, None)

    @property
    def column_max(self) -> int:
        """The largest possible column sum of one cycle (rows x digit x cell)."""
        return self.column_rows * (2**self.db - 1) * self.cell_max

    def key(self) -> tuple:
        return (self.r0, self.rows, self.cols, self.column_rows, self.ib, self.db, self.adc, self.cell_max, self.exact)

    def set_steps(self, hw) -> None:
        """`steps` from the MVMs' ADC full scales as their ops hold them now
        (0: uncalibrated, the ADC spans `hw.adc_range` times the largest
        column sum); with `blocks`, per MVM its row blocks' (b0, b1, step),
        each block converted with its own op's. No ADC: `steps` stays None."""
        if self.adc <= 0:
            return
        uncalibrated = hw.adc_range * self.column_max

        def step(op):
            return _adc_step(self.adc, _static(op).adc_full_scale or uncalibrated)

        if self.blocks is None:
            self.steps = np.array([step(op) for op in self.ops], dtype=np.float32).reshape(-1, 1, 1, 1)
            return
        batch = next(b[-1][2] for b in self.blocks if b)
        self.steps = [
            [(b0, b1, step(block_op)) for block_op, b0, b1 in blocks or [(op, 0, batch)]]
            for op, blocks in zip(self.ops, self.blocks)
        ]

    def blocks_in_order(self, batch: int) -> bool:
        """Whether every MVM's row blocks (`blocks`) cover rows [0, batch) in order."""
        if self._in_order[0] != batch:
            self._in_order = (batch, all(b is None or _rows_in_order(b, batch) for b in self.blocks))
        return self._in_order[1]

    def row_steps(self, batch: int) -> np.ndarray | None:
        """With `blocks`, `steps` as one array: each MVM's ADC step on each
        input row (nm x 1 x batch x 1), converting every block at once as
        its op does (the same step per element); None if some MVM's blocks
        do not cover the rows in order."""
        made_from, found = self._row_steps
        if made_from is self.steps and (found is None or found.shape[2] == batch):
            return found
        found = None
        if self.blocks_in_order(batch):  # (`steps` holds each MVM's blocks, or the whole rows)
            found = np.empty((len(self.steps), 1, batch, 1), dtype=np.float32)
            for k, spans in enumerate(self.steps):
                for b0, b1, step in spans:
                    found[k, 0, b0:b1, 0] = step
        self._row_steps = (self.steps, found)
        return found

    def record_peaks(self, calibration, hw, peaks: list) -> None:
        """Records each MVM's largest |partial sum| (`peaks`, in `ops` order)
        with `calibration`."""
        uncalibrated = hw.adc_range * self.column_max
        for op, peak in zip(self.ops, peaks):
            calibration.record_peak(op, peak, uncalibrated)

    def tiles_outweigh(self, cycles: int, batch: int) -> bool:
        """Whether the tiles' conductances outweigh an input of `batch` rows
        in `cycles` cycles (C x batch < tiles x cols): packing the tiles in
        pairs then reads less than packing the cycles."""
        return cycles * batch < len(self.g) * self.cols

    def pairs_for(self, inp: "_InputCycles"):
        """The tiles packed in pairs (`_slice_pairs`) when they pay on the
        input `inp`: exact tiles whose conductances outweigh the input's
        cycles (C x batch < tiles x cols; else packing the cycles moves
        less); else None."""
        c, batch, _ = inp.shape
        if not self.exact or len(self.g) < 2 or not self.tiles_outweigh(c, batch):
            return None
        if self.pairs is _UNDECIDED:
            self.pairs = _slice_pairs(self.g, self.column_max)
        return self.pairs


def _converted_runs(mvms: list, chip) -> list[_ConvertedRun]:
    """Groups `mvms` — (r0, xbar, static attributes, op, row blocks) in
    execution order, the row blocks None or [(op, b0, b1)] —
    into `_ConvertedRun`s of consecutive MVMs."""
    hw = chip.hardware
    exact = not chip.draws_program_noise
    runs, pending = [], []

    def close():
        if pending:
            run = pending[0][0]
            run.g = [p[1] for p in pending]
            run.scales = [p[2] for p in pending]
            if all(scale is None for scale in run.scales):
                run.scale_stack = None
            elif all(scale is not None and scale.shape == (run.cols,) for scale in run.scales):
                run.scale_stack = np.stack(run.scales)[:, None, :]
            run.ops = [p[3] for p in pending]
            blocks = [p[4] for p in pending]
            run.blocks = blocks if any(b is not None for b in blocks) else None
            run.set_steps(hw)
            runs.append(run)
            pending.clear()

    for r0, xb, st, op, blocks in mvms:
        run = _ConvertedRun(r0, xb.rows, xb.cols, xb.column_rows, st.input_bits, st.dac_bits, st.adc_bits, 2**xb.cb - 1, None, None, None, exact)
        if pending and pending[0][0].key() != run.key():
            close()
        pending.append((run, xb.conductance, xb.scale, op, blocks))
    close()
    return runs


def _run_batches(runs: list[_ConvertedRun]) -> dict:
    """{index of its first run: `imc_run_batches.RunBatch`} for each sequence of
    two or more consecutive runs that one batch computes."""
    from .imc_run_batches import RunBatch

    def batchable(run):
        return run.exact and run.blocks is None and run.scale_stack is not False and len(run.g) >= 2 and _pair_base(run.column_max)

    batches, i = {}, 0
    while i < len(runs):
        j = i + 1
        if batchable(runs[i]):
            while j < len(runs) and batchable(runs[j]) and RunBatch.joins(runs[i], runs[j]):
                j += 1
        if j - i >= 2:
            batches[i] = RunBatch(runs[i:j], _pair_base(runs[i].column_max))
        i = j
    return batches


def _run_converted(runs: list[_ConvertedRun], x: np.ndarray, chip, work: _Workspace, batches: dict | None = None) -> list[np.ndarray]:
    """The outputs of the MVMs of `runs` (in execution order) on input `x`
    (batch x K float32), in `chip`'s precision (`quantized` or `noisy`):
    the values `_mvm_converted` gives one op at a time, with read noise drawn
    in the same order from `chip.rng` (one draw per run, `_ReadNoiseDraws`);
    while `chip.calibration` records, each op's partial sums are recorded and
    pass the ADC unconverted, as the op does. `batches` (`_run_batches` of
    `runs`) computes sequences of runs together where no read noise is drawn
    and the runs pack their tiles in pairs: the same values."""
    hw = chip.hardware
    calibration = chip.calibration
    if batches and not (chip.precision == "noisy" and hw.read_noise > 0) and (calibration is None or calibration.takes_peaks):
        return _run_batched(runs, x, chip, work, batches)
    inputs: dict[tuple, _InputCycles] = {}
    for run in runs:
        key = (run.r0, run.rows, run.ib, run.db)
        if key not in inputs:
            inputs[key] = _InputCycles(x[:, run.r0 : run.r0 + run.rows], run.ib, run.db)
    inps = [inputs[(run.r0, run.rows, run.ib, run.db)] for run in runs]
    noise = draws = None
    if chip.precision == "noisy" and hw.read_noise > 0:
        noise, shapes = _read_noise_plan(runs, inps, hw.read_noise)
        draws = _ReadNoiseDraws(chip.rng, shapes, work) if shapes else None
    try:
        ys = []
        for i, (run, inp) in enumerate(zip(runs, inps)):
            bound = run.column_max if run.exact else None
            if run.blocks is None and run.scale_stack is not False and (calibration is None or calibration.takes_peaks):
                drawn = None if noise is None or noise[i] is None else (*noise[i], draws.next())
                pairs = run.pairs_for(inp) if drawn is None else None
                if calibration is None:
                    ys.extend(_fused_outputs(inp, run.g, bound, run.steps, run.adc, run.db, run.scale_stack, work, noise=drawn, pairs=pairs))
                else:  # the partial sums pass unconverted; their peaks are recorded
                    peaks = np.zeros(len(run.g), dtype=np.float32)
                    ys.extend(_fused_outputs(inp, run.g, bound, None, 0, run.db, run.scale_stack, work, peaks, drawn, pairs))
                    run.record_peaks(calibration, hw, peaks.tolist())
                continue
            c, batch, _ = inp.shape
            partial = work.get("partial", (len(run.scales), c, batch, run.cols))
            _partials(inp, run.g, bound, out=partial, work=work)
            if noise is not None and noise[i] is not None:
                if run.blocks is None:
                    _add_drawn_noise(partial, *noise[i], draws.next())
                else:  # each block as its op draws it
                    for k, b0, b1, std, active in noise[i]:
                        _add_drawn_noise(partial[k][:, b0:b1], std, active, draws.next())
            if calibration is not None:
                uncalibrated = hw.adc_range * run.column_max
                for k, op in enumerate(run.ops):
                    blocks = run.blocks[k] if run.blocks else None
                    if blocks is None:
                        calibration.record(op, partial[k], uncalibrated)
                        continue
                    for op_b, b0, b1 in blocks:
                        calibration.record(op_b, partial[k][:, b0:b1], uncalibrated)
            elif run.blocks is not None and run.steps is not None:
                row_steps = run.row_steps(batch)
                if row_steps is not None:  # (every block at once: each element divided by its block's step)
                    _adc_inplace(partial, run.adc, 0.0, step=row_steps)
                else:
                    for k, spans in enumerate(run.steps):  # (a scalar step per block: the fastest broadcast)
                        for b0, b1, step in spans:
                            _adc_inplace(partial[k][:, b0:b1], run.adc, 0.0, step=step)
            elif run.steps is not None:
                _adc_inplace(partial, run.adc, 0.0, step=run.steps)
            in_order = run.blocks is None or run.blocks_in_order(batch)
            if in_order and run.scale_stack is not False:  # every tile at once (its blocks joined)
                ys.extend(_shift_added(partial, run.db, inp.xscale, run.scale_stack))
                continue
            for k, scale in enumerate(run.scales):
                blocks = run.blocks[k] if run.blocks else None
                if blocks is None or in_order:  # (elementwise: the joined blocks' values)
                    ys.append(_shift_added(partial[k], run.db, inp.xscale, scale))
                else:  # each block as its op converts it, joined as the concat joins them
                    parts = [_shift_added(partial[k][:, b0:b1], run.db, inp.xscale[b0:b1], scale) for *_, b0, b1 in blocks]
                    ys.append(np.concatenate(parts))
        return ys
    finally:
        if draws is not None:
            draws.close()


def _rows_in_order(blocks, batch: int) -> bool:
    """Whether the row blocks `blocks` ((op, b0, b1)) are rows [0, batch) in order."""
    at = 0
    for _, b0, b1 in blocks:
        if b0 != at:
            return False
        at = b1
    return at == batch


def _run_batched(runs: list[_ConvertedRun], x: np.ndarray, chip, work: _Workspace, batches: dict) -> list[np.ndarray]:
    """`_run_converted` without read noise (nor a percentile calibration),
    the sequences of runs in `batches` each as one batch."""
    calibration = chip.calibration
    ys, i, alone = [], 0, 0  # (runs[alone:i] wait to run one at a time)
    while i < len(runs):
        batch = batches.get(i)
        if batch is None or not batch.takes(x.shape[0]):
            i += 1
            continue
        if alone < i:
            ys.extend(_run_converted(runs[alone:i], x, chip, work))
        if calibration is None:
            ys.extend(batch.outputs(x, work))
        else:
            peaks = np.zeros((len(batch.runs), batch.tiles), dtype=np.float32)
            ys.extend(batch.outputs(x, work, peaks))
            for run, run_peaks in zip(batch.runs, peaks.tolist()):
                run.record_peaks(calibration, chip.hardware, run_peaks)
        i += len(batch.runs)
        alone = i
    if alone < len(runs):
        ys.extend(_run_converted(runs[alone:], x, chip, work))
    return ys


def _read_noise_plan(runs: list, inps: list, read_noise: float) -> tuple[list, list]:
    """Per run of `_run_converted`, the read noise its ops draw — (std,
    active cycles) for all its MVMs at once, or per row block of each MVM
    [(MVM index, b0, b1, std, active cycles)] (`_ConvertedRun.blocks`), None
    when nothing is drawn — and the shapes of the draws, in the ops' order."""
    noise, shapes = [], []
    for run, inp in zip(runs, inps):
        std = read_noise * run.cell_max * inp.norm
        batch = inp.shape[1]
        if run.blocks is None:
            active = _read_noise_cycles(std)
            noise.append((std, active) if active.size else None)
            if active.size:
                shapes.append((len(run.scales), active.size, batch, run.cols))
            continue
        draws = []
        for k, blocks in enumerate(run.blocks):
            for b0, b1 in [(b[1], b[2]) for b in blocks] if blocks else [(0, batch)]:
                block_std = std[:, b0:b1]
                active = _read_noise_cycles(block_std)
                if active.size:
                    draws.append((k, b0, b1, block_std, active))
                    shapes.append((active.size, b1 - b0, run.cols))
        noise.append(draws or None)
    return noise, shapes


def _accumulated(ys: list, terms: list) -> np.ndarray:
    """`imc.accumulate` of the MVM outputs `ys[k] * 2**shift` for (k, shift)
    in `terms` (the op's operand order), as the op computes it."""
    if len(terms) == 1 and terms[0][1] == 0:
        return ys[terms[0][0]]
    out = np.zeros(ys[terms[0][0]].shape, dtype=np.float32)
    for k, shift in terms:
        if shift:
            out += ys[k] * np.float32(2.0**shift)
        else:
            out += ys[k]
    return out


def _converts_alike(entry, xb, st) -> bool:
    """Whether an MVM on `xb` (attributes `st`), a row block on a copy of
    the tile of `entry` (r0, xbar, attributes, ...), scales and converts its
    products as that entry's first block does (its ADC full scale may differ)."""
    first, fst = entry[1], entry[2]
    return (
        xb.column_rows == first.column_rows
        and xb.cb == first.cb
        and (st.input_bits, st.dac_bits, st.adc_bits) == (fst.input_bits, fst.dac_bits, fst.adc_bits)
        and same_values(xb.scale, first.scale)
    )


class ContractionGroup:
    """The ops of one tiled contraction and its fast-path state (see above).

    `sub_steps` are the replaced steps in their original order; `reads` every
    slot they read; `out_slots` the accumulate results.
    """

    def __init__(self, sub_steps, in_slot, x_slot, im2col_op, accs, prog_slots, root_slots):
        self.sub_steps = sub_steps
        self.in_slot = in_slot  # input of the fused step: x, or the im2col input
        self.x_slot = x_slot
        self.im2col_op = im2col_op
        # accs: [(acc_op, out_slot, [(mvm_op, prog_slot, row_offset, shift, block), ...])];
        # block: None, or (operand, b0, b1) for an MVM of input rows [b0, b1)
        # whose results an operand's `tensor.concat` joins (`row_blocks`)
        self.accs = accs
        self.row_blocked = any(entry[4] is not None for _, _, mvms in accs for entry in mvms)
        self.out_slots = [a[1] for a in accs]
        self.prog_slots = prog_slots
        self.root_slots = root_slots
        self.tail = []  # the steps of its `imc.tiled_contract` after it (the concat of its column tiles)
        # A first run (`_first_run`): the steps but the MVMs' products and
        # the accumulates (the MVMs only checked), then those.
        # (An interpreter with its own `imc.mvm` runs the ops: no prelude.)
        self.prelude, self.deferred = [], []
        for step in sub_steps:
            fn, op, ins, outs = step
            if op.name == "imc.mvm" and fn is not mvm:
                self.prelude = None
                break
            if op.name == "imc.mvm":
                self.prelude.append((check_mvm, op, ins, []))
                self.deferred.append((mvm_unchecked, op, ins, outs))
            elif op.name in ("imc.accumulate", "tensor.concat"):  # (a concat joins MVM row blocks)
                self.deferred.append(step)
            else:
                self.prelude.append(step)
        self._invalidate()

    def _invalidate(self):
        self.chip = None
        # [(array, offset, meta, tile, conductance, row, events)] in program order
        self.programs = None
        self.tiles = None  # program slot -> (array, rows, cols)
        self.roots = None
        self.weff = None
        self.col_splits = None
        self.converted = None  # quantized / noisy: [_ConvertedRun] in execution order
        self.batches = None  # of `converted`: `_run_batches` (made on first use)
        self.acc_terms = None  # per accumulate: [(MVM index in execution order, shift)]
        self.x_cols = self.x_rows = None
        self.events: dict = {}
        self.contraction_events: dict = {}  # `_contraction_events` by (input rows, itemsize)
        self.group_arrays = ()  # the crossbars the programs write, in first-use order
        self.replays: list[_Replay] = []  # most recent first
        self._placed = []  # program index -> the _Array it places (reused)

    # -- slow path + validation -------------------------------------------------
    def slow(self, interp, ex, args):
        """A call off the fast path: `_first_run`; or, under programming noise
        (a program draws it, an MVM reads it: the draws interleave) or with an
        interpreter's own `imc.mvm`, the ops in order, then the fast path
        validated from what they did."""
        if ex is not None and self.prelude is not None and not ex.chip.draws_program_noise:
            return self._first_run(interp, ex, args)
        interp.exec_steps(self.sub_steps)
        env = interp.env
        if ex is not None and self._validated(ex, env, args) and ex.chip.precision == "ideal":
            # Same values as the fast path gives on later calls (one matmul
            # sums in another order than the tiles): calls stay bit-identical.
            out, _ = self._ideal_products(args[0])
            if out is not None:
                return out
        return [env[s] for s in self.out_slots]

    def _first_run(self, interp, ex, args):
        """A run that validates the fast path on its way: the prelude (the
        programs, the slices and the im2col as ops, each MVM's checks in its
        place), then the products the fast path computes and the counters of
        the MVMs and accumulates; the deferred ops themselves if the fast path
        cannot take this group. The same values, counters and errors as the
        ops in order: an MVM reads its own program's conductances, and a
        reprogramming raises at the MVM it precedes."""
        interp.exec_steps(self.prelude)
        env = interp.env
        if self._validated(ex, env, args):
            if ex.chip.precision == "ideal":
                out, cols = self._ideal_products(args[0])
            else:
                cols = env[self.x_slot]
                out = self._converted_products(ex, cols) if self._takes_converted(cols) else None
            if out is not None:
                self._add_events(ex, self._events(ex, args[0], cols, im2col=False))
                return out
        interp.exec_steps(self.deferred)
        return [env[s] for s in self.out_slots]

    def _validated(self, ex, env, args) -> bool:
        """Validates the fast path of `ex`'s precision from the ops just run;
        False if it does not cover this group."""
        try:
            if ex.chip.precision == "ideal":
                self._validate(ex, env, args)
                return self.weff is not None
            self._validate_converted(ex, env, args)
            return self.converted is not None
        except Exception:  # a shape the fast path does not cover: the ops run
            self._invalidate()
            return False

    def _ideal_products(self, x):
        """(the validated `ideal` products on the group's input `x`, else
        None; the matmul's left operand)."""
        cols, _ = self._columns(x)
        return (self._products(cols) if self._takes(cols) else None), cols

    def _takes(self, cols) -> bool:
        """Whether the validated `ideal` products take the left operand `cols`."""
        if isinstance(self.weff, _OPS_ARITHMETIC):
            return self.weff.takes(cols)
        return cols.shape[1] == self.weff.shape[0]

    def _revalidated_input(self, ex, env, args):
        """After a slow run: forgets the fast path, records the group's
        programs, and returns its input if a fast path can take it (a 2-D
        float32 array), else None."""
        self._invalidate()
        if not self._collect_programs(ex, env, args):
            return None
        x = env[self.x_slot]
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype != np.float32:
            return None
        return x

    def _validate(self, ex, env, args):
        """After a slow run in `ideal`: builds `W_eff` (see above)."""
        x = self._revalidated_input(ex, env, args)
        if x is None:
            return
        k = x.shape[1]
        accs = self.accs
        if self.row_blocked:
            if self.im2col_op is not None and self._im2col_kernel(args, k) is None:
                return
            blocked = RowBlockedWeights.of(accs, env, k, x.shape[0])
            if blocked is None:
                return
            if x.shape[0] <= STACKED_BATCH_ROWS:
                self.weff = StackedTiles.of(blocked.accs, k, x.shape[0]) or blocked
                self.chip = ex.chip
                return
            # Many rows: the copies hold equal tiles (checked), so the
            # products are those of the unsplit contraction of each
            # operand's first block.
            accs = [(acc, slot, [e for e in mvms if e[4][1] == 0]) for acc, slot, mvms in accs]
        if any(env[slot].source.ndim == 3 for slot in self.prog_slots):
            kernel = self._im2col_kernel(args, k)
            if self.im2col_op is not None and kernel is None:
                return
            self.weff = _GroupedWeights.of(accs, env, k, kernel)
            if self.weff is not None:
                self.col_splits = self.weff.splits if len(self.weff.splits) > 1 else None
                self.chip = ex.chip
            return
        blocks, splits, start = [], [], 0
        for _, _, mvms in accs:
            cols = env[mvms[0][1]].cols
            w = np.zeros((k, cols), dtype=np.float32)
            for _, prog_slot, r0, shift, _ in mvms:
                xb = env[prog_slot]
                if xb.conductance is None:  # higher ideal slices hold zeros
                    continue
                g = xb.conductance
                if g.shape != (xb.rows, cols):
                    return
                w[r0 : r0 + xb.rows] += g * np.float32(2.0**shift) if shift else g
            blocks.append(w)
            splits.append((start, start + cols))
            start += cols
        weff = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
        if self.im2col_op is not None:
            kernel = self._im2col_kernel(args, k)
            if kernel is None:
                return
            c = args[0].shape[1]
            # Rows (c, k...) -> (k..., c), the order of the channels-last im2col.
            nsp = len(kernel)
            w4 = weff.reshape(c, *kernel, weff.shape[1])
            weff = w4.transpose(list(range(1, 1 + nsp)) + [0, 1 + nsp]).reshape(k, weff.shape[1])
        # Stored column-major (BLAS then reads it as a transposed row-major
        # matrix): measurably faster for these shapes with NumPy's OpenBLAS.
        self.weff = np.asfortranarray(weff)
        self.col_splits = splits if len(splits) > 1 else None
        self.chip = ex.chip

    def _im2col_kernel(self, args, k: int):
        """The im2col's kernel if its columns are the `k` the MVMs read
        (None: no im2col, or other columns)."""
        if self.im2col_op is None:
            return None
        kernel = _static(self.im2col_op).kernel
        return kernel if args[0].shape[1] * math.prod(kernel) == k else None

    def _validate_converted(self, ex, env, args):
        """After a slow run in `quantized` / `noisy`: the `_ConvertedRun`s of
        the group's MVMs, from the crossbars they read and their inputs. The
        row blocks of an operand (its MVMs on copies of one tile, which
        `RowBlockedWeights.of` checks tile the input rows with equal
        conductances: not under programming noise) are one entry of all
        rows, each block with its own op's ADC step and, under read noise,
        its own draw (taken in the ops' order: checked)."""
        x = self._revalidated_input(ex, env, args)
        if x is None:
            return
        chip = ex.chip
        if self.row_blocked and RowBlockedWeights.of(self.accs, env, x.shape[1], x.shape[0]) is None:
            return
        where = {}  # MVM op -> ((accumulate index, operand index), program slot, r0, shift, block)
        for a, (_, _, mvms) in enumerate(self.accs):
            for i, (mvm_op, prog_slot, r0, shift, block) in enumerate(mvms):
                where[id(mvm_op)] = ((a, i if block is None else block[0]), prog_slot, r0, shift, block)
        order, mvms, shifts = {}, [], {}
        executed = []  # per MVM op, in order: (its entry, its block's first row)
        for _, op, ins, _ in self.sub_steps:
            if op.name != "imc.mvm":
                continue
            key, prog_slot, r0, shift, block = where[id(op)]
            xb, xin = env[prog_slot], env[ins[1]]
            g = xb.conductance
            if not isinstance(g, np.ndarray) or g.shape != (xb.rows, xb.cols) or xb.scale is None:
                return
            rows = x.shape[0] if block is None else block[2] - block[1]
            if xin.shape != (rows, xb.rows) or r0 + xb.rows > x.shape[1]:
                return
            st = _static(op)
            if key not in order:
                order[key], shifts[key] = len(mvms), shift
                mvms.append((r0, xb, st, op, None if block is None else []))
            elif block is None or not _converts_alike(mvms[order[key]], xb, st):
                return
            if block is not None:
                mvms[order[key]][4].append((op, block[1], block[2]))
            executed.append((order[key], 0 if block is None else block[1]))
        for *_, blocks in mvms:
            if blocks is not None:
                blocks.sort(key=lambda b: b[1])  # (joined in row order, as the concat joins them)
        if self.row_blocked and chip.precision == "noisy" and executed != sorted(executed):
            return  # the ops draw read noise in another order than `_run_converted` would
        self.acc_terms = [
            [(order[key], shifts[key]) for key in sorted({(a, i if e[4] is None else e[4][0]) for i, e in enumerate(acc[2])})]
            for a, acc in enumerate(self.accs)
        ]  # (per accumulate, its operands in order; a KeyError: a shape not covered, the ops run)
        self.converted = _converted_runs(mvms, chip)
        self.batches = None
        self.x_cols, self.x_rows = x.shape[1], x.shape[0]
        self.chip = chip

    def _collect_programs(self, ex, env, args) -> bool:
        """Records the group's `imc.program`s as the slow run executed them
        (for `program`); False if the weights are not read-only roots."""
        roots = args[1:]
        if not all(isinstance(r, np.ndarray) and not r.flags.writeable for r in roots):
            return False
        programs, tiles, program_ops = [], {}, []
        copies = []  # per program: whether it is a copy of the program before it in the group (`copy_of`)
        for _, op, ins, outs in self.sub_steps:
            if op.name != "imc.program":
                continue
            copy = copy_of(op)
            if copy is not None and (not program_ops or program_ops[-1] is not copy):
                return False  # a copy of a program outside the group: the slow path counts it
            xb = env[outs[0]]
            st = _static(op)
            tile = env[ins[0]]
            if not isinstance(tile, np.ndarray) or tile.flags.writeable:
                return False
            if st.transpose:
                tile = tile.swapaxes(-1, -2)
            if footprint(tile) != (xb.rows, xb.cols):
                return False
            if xb.source is not tile and isinstance(xb.source, np.ndarray) and not xb.source.flags.writeable:
                tile = xb.source  # the same data (the program matched it); identity makes replays cheap
            meta = (st.cell_bits, st.weight_bits, st.slice)
            programs.append(
                (xb.array, xb.offset, meta, tile, (xb.conductance, xb.scale), ex.layer_of(op), program_events(st, xb.rows))
            )
            copies.append((copy is not None, program_events(st, xb.rows, broadcast=True)))
            program_ops.append(op)
            tiles[outs[0]] = (xb.array, xb.rows, xb.cols)
        self.programs = programs
        self.program_ops = program_ops
        self.copies = copies
        self.tiles = tiles
        self.group_arrays = tuple(dict.fromkeys(p[0] for p in programs if p[0] >= 0))
        self._placed = [None] * len(programs)
        totals: dict = {}  # every program writes (a copy then shares its transfer)
        for (*_, row, events), (copy, broadcast) in zip(programs, copies):
            events = broadcast if copy else events
            acc = totals.setdefault(id(row), (row, dict.fromkeys(events, 0)))[1]
            for name, n in events.items():
                acc[name] += n
        self.program_totals = totals
        self.roots = list(roots)
        return True

    # -- fast path ----------------------------------------------------------------
    def ready(self, chip, args) -> bool:
        """Whether this call can take the fast path (validated on `chip`, the
        same read-only weights, an input the slow path would accept)."""
        if self.chip is not chip or (self.weff if chip.precision == "ideal" else self.converted) is None:
            return False
        for a, b in zip(args[1:], self.roots):
            if a is not b and not _same_view(a, b):
                return False
            if a.flags.writeable:
                return False
        x = args[0]
        if not isinstance(x, np.ndarray) or x.dtype != np.float32:
            return False
        if chip.spad is not None and chip.spad.owns(x):
            spad = chip.spad
            if spad.buffer_of(x) is None or not spad.valid_view(x).all():
                return False  # the slow path raises the precise error
        return True

    def program(self, ex):
        """Executes the group's `imc.program`s (state and counters) in order.

        A replay is a function of the tile maps of the group's arrays on entry:
        when they are those of a recorded replay (the same map objects or maps
        holding the same `_Array`s, and no tile changed in place since), the
        recorded end maps, generation bumps and counters are applied at once."""
        chip = ex.chip
        arrays = chip.arrays
        entry = tuple(map(arrays.get, self.group_arrays))
        revision = _Array.revision
        for replay in self.replays:
            if replay.revision == revision and replay.entry == entry:
                g0 = chip.generation
                arrays.update(replay.end)
                for held, rank in replay.written:
                    held.generation = g0 + rank
                chip.generation = g0 + replay.bumps
                add = ex.report.add
                for row, events in replay.counters:
                    add(row, **events)
                ex.last_written = replay.last_written
                return
        g0 = chip.generation
        placed = self._placed
        done = []
        for k, (array, offset, meta, tile, conductance, _, _) in enumerate(self.programs):
            if array >= 0:
                if _held_tile(arrays, array, offset, meta, tile) is not None:
                    continue
                chip.generation += 1
                # The group's own (reused) object for program k: a replay places
                # the same objects, so later groups see the same entry maps.
                obj = placed[k]
                if obj is None or obj._source is not tile or obj._conductance is not conductance or obj._meta != meta:
                    # (first use, or someone changed the tile in place: a fresh one)
                    obj = placed[k] = _Array(tile, meta, conductance, chip.generation, offset)
                else:
                    obj.generation = chip.generation
                    obj._offset = offset
                chip.place(array, obj)
            else:
                chip.generation += 1
            done.append(k)
        # Counters of the programs that wrote, summed per layer row (a copy
        # whose original just wrote shares its transfer: `copy_of`).
        if len(done) == len(self.programs):
            per_row = self.program_totals
        else:
            per_row = {}
            programs, copies = self.programs, self.copies
            wrote = set(done)
            for k in done:
                _, _, _, _, _, row, events = programs[k]
                if copies[k][0] and k - 1 in wrote:
                    events = copies[k][1]
                acc = per_row.get(id(row))
                if acc is None:
                    per_row[id(row)] = (row, dict(events))
                else:
                    ev = acc[1]
                    for name, n in events.items():
                        ev[name] += n
        counters = list(per_row.values())
        add = ex.report.add
        for row, events in counters:
            add(row, **events)
        last = len(self.programs) - 1
        ex.last_written = self.program_ops[last] if last >= 0 and done and done[-1] == last else None
        self._record(chip, entry, revision, g0, counters, ex.last_written)

    def _record(self, chip, entry, revision, g0, counters, last_written=None):
        """Remembers the replay just made from the entry maps `entry`, unless
        its outcome could depend on data (a held tile that is not read-only)."""
        for tiles in entry:
            if tiles:
                for held in tiles.values():
                    src = held._source
                    if not isinstance(src, np.ndarray) or src.flags.writeable:
                        return
        end = {a: chip.arrays[a] for a in self.group_arrays}
        mine = {id(obj) for obj in self._placed if obj is not None}
        written = [
            (held, held.generation - g0)
            for tiles in end.values()
            for held in tiles.values()
            if id(held) in mine and held.generation > g0
        ]
        replay = _Replay(entry, revision, end, written, chip.generation - g0, counters, last_written)
        self.replays = [replay] + self.replays[: _MAX_REPLAYS - 1]

    def _columns(self, x):
        """The matmul's left operand (x, or the im2col of x) and a cache key."""
        if self.im2col_op is not None:
            st = _static(self.im2col_op)
            if isinstance(self.weff, _OPS_ARITHMETIC):  # the op's (c, k...) columns: the ops' products exactly
                cols = im2col_array(x, st.kernel, st.strides, st.dilations)
            else:
                cols = _im2col_channels_last(x, st.kernel, st.strides, st.dilations)
            return cols, (x.shape, cols.shape)
        # BLAS takes row- or column-major operands as they are; only other
        # strides need a copy.
        return (x if x.flags.c_contiguous or x.flags.f_contiguous else np.ascontiguousarray(x)), x.shape

    def _products(self, cols, trips=None) -> list:
        """The products of `cols`; `trips`: the row offsets of the trips
        stacked in `cols` (and its height), each multiplied on its own, as
        its own call would (BLAS may sum a row of a taller matmul in
        another order)."""
        if isinstance(self.weff, _OPS_ARITHMETIC):
            return self.weff.products(cols)
        grouped = isinstance(self.weff, _GroupedWeights)
        if trips is not None and not (grouped and self.weff.depthwise is not None):
            w = self.weff.w if grouped else self.weff
            y = np.empty((cols.shape[0], w.shape[0] * w.shape[2] if grouped else w.shape[1]), dtype=np.float32)
            for r0, r1 in zip(trips, trips[1:]):
                if grouped:
                    y[r0:r1] = self.weff.products(cols[r0:r1])
                else:
                    np.matmul(cols[r0:r1], self.weff, out=y[r0:r1])
        else:
            y = self.weff.products(cols) if grouped else cols @ self.weff
        y.flags.writeable = False  # its column views may be joined by tensor.concat
        if self.col_splits is None:
            return [y]
        return [y[:, a:b] for a, b in self.col_splits]

    def fast(self, ex, x):
        cols, key = self._columns(x)
        if not self._takes(cols):
            return None
        self.program(ex)
        out = self._products(cols)
        self._count(ex, key, x, cols)
        return out

    def fast_trips(self, ex, xs, counted: int = 0, exact: bool = False) -> list | None:
        """`fast` (`fast_converted` in `quantized`) on the inputs `xs` of
        several trips of a loop (run distributed: `loop_distribution`): their
        products in one call on the stacked rows, the programs and counters
        of each trip but the first `counted` ones (already run as the op) in
        trip order; None if the fast path does not take them all. The ops'
        own products (rows split over crossbar copies: `row_blocks`) take
        trips of the validated height only, each trip's row blocks
        multiplied as its ops multiply them. `exact` (`ideal`): each trip's
        rows multiplied on their own, as the trips in order multiply them
        (one matmul over all rows reads the weights once, but BLAS may sum
        a row of it in another order)."""
        if ex.chip.precision == "ideal":
            if self.im2col_op is not None and not isinstance(self.weff, _OPS_ARITHMETIC):  # (gathered into the stack)
                st = _static(self.im2col_op)
                stack, rows = _stacked_im2col(xs, st.kernel, st.strides, st.dilations)
                splits = np.cumsum(rows[:-1])
                cols = [(c, (x.shape, c.shape)) for x, c in zip(xs, np.split(stack, splits))]
            else:
                cols = [self._columns(x) for x in xs]
                stack = None
            if not all(self._takes(c) for c, _ in cols):
                return None
            trips = np.cumsum([0] + [len(c) for c, _ in cols]).tolist() if exact else None
            whole = self._products(np.concatenate([c for c, _ in cols]) if stack is None else stack, trips)
        else:  # (each row's input digits and converters are its own: `quantized_rows`, static ADC ranges)
            if self.row_blocked:  # (its runs' row blocks tile a trip's rows, not the stack's)
                return None
            cols = [self._converted_columns(x) for x in xs]
            if not all(self._takes_converted(c) for c, _ in cols):
                return None
            whole = self._converted_products(ex, np.concatenate([c for c, _ in cols]))
        outs, row = [], 0
        for t, (x, (c, key)) in enumerate(zip(xs, cols)):
            if t >= counted:
                self.program(ex)
                self._count(ex, key, x, c)
            outs.append([y[row : row + len(c)] for y in whole])
            row += len(c)
        return outs

    def fast_converted(self, ex, x):
        """The fast path in `quantized` / `noisy`: the programs replayed as in
        `fast`, the MVMs by `_run_converted` (the values and read-noise draws
        of the op-by-op run), the accumulates as the op sums; None if this
        call needs the slow path."""
        chip = ex.chip
        if chip.draws_program_noise and not self._holds_conductances(chip):
            return None  # a (re)programming draws fresh programming noise: the ops do it
        cols, key = self._converted_columns(x)
        if not self._takes_converted(cols):
            return None
        self.program(ex)
        out = self._converted_products(ex, cols)
        self._count(ex, key, x, cols)
        return out

    def _converted_columns(self, x):
        """The converting MVMs' input (x, or its im2col in the op's (c, k...)
        order) and a cache key."""
        if self.im2col_op is None:
            return x, x.shape
        st = _static(self.im2col_op)
        cols = im2col_array(x, st.kernel, st.strides, st.dilations)
        return cols, (x.shape, cols.shape)

    def _takes_converted(self, cols) -> bool:
        """Whether the validated `quantized` / `noisy` runs take the input
        `cols` (row blocks: the rows they tile)."""
        return cols.ndim == 2 and cols.shape[1] == self.x_cols and (not self.row_blocked or cols.shape[0] == self.x_rows)

    def _converted_products(self, ex, cols) -> list:
        """The accumulates' results on the group's input `cols` (batch x K),
        the MVMs executed as `_run_converted` stacks."""
        if self.batches is None:
            self.batches = _run_batches(self.converted)
        ys = _run_converted(self.converted, cols, ex.chip, ex.work, self.batches)
        return [_accumulated(ys, terms) for terms in self.acc_terms]

    def _holds_conductances(self, chip) -> bool:
        """True if every program of the group finds its tile held with the
        conductances of the validated run (so replaying them writes nothing)."""
        arrays = chip.arrays
        for array, offset, meta, tile, conductance, _, _ in self.programs:
            held = _held_tile(arrays, array, offset, meta, tile)
            if held is None or held._conductance[0] is not conductance[0]:
                return False
        return True

    def holds_tiles(self, chip) -> bool:
        """True if the chip holds the tile of every program of the group
        (each `imc.program` then writes nothing and is no step of a
        timeline), as the op decides it."""
        arrays = chip.arrays
        return all(_held_tile(arrays, array, offset, meta, tile) is not None for array, offset, meta, tile, *_ in self.programs)

    def _count(self, ex, key, x, cols):
        """Adds the counters of the replaced MVMs, accumulates and im2col."""
        events = self.events.get(key)
        if events is None:
            events = self.events[key] = self._events(ex, x, cols)
        self._add_events(ex, events)

    @staticmethod
    def _add_events(ex, events):
        add = ex.report.add
        for row, ev, busy in events:
            add(row, **ev)
            row.add_busy(busy)

    def _events(self, ex, x, cols, im2col: bool = True):
        """[(row, events, busy)]: what the replaced ops add per execution
        (without the im2col's if not `im2col`). The MVMs' and accumulates'
        part is worked out once per input height (`_contraction_events`)."""
        key = (cols.shape[0], cols.dtype.itemsize)
        events = self.contraction_events.get(key)
        if events is None:
            events = self.contraction_events[key] = self._contraction_events(ex, cols)
        if self.im2col_op is None or not im2col:
            return events
        row = ex.layer_of(self.im2col_op)
        moved = {"spad_read_bytes": x.nbytes, "spad_write_bytes": cols.nbytes}
        joined = [(r, ({k: ev.get(k, 0) + moved.get(k, 0) for k in ev | moved} if r is row else ev), busy) for r, ev, busy in events]
        if all(r is not row for r, _, _ in events):
            joined.append((row, moved, {}))
        return joined

    def _contraction_events(self, ex, cols):
        """`_events` of the MVMs and accumulates, for an input `cols`."""
        per_row: dict[int, tuple] = {}

        def bucket(op):
            row = ex.layer_of(op)
            entry = per_row.get(id(row))
            if entry is None:
                entry = per_row[id(row)] = (row, {}, {})
            return entry

        def add(op, events):
            ev = bucket(op)[1]
            for kname, n in events.items():
                ev[kname] = ev.get(kname, 0) + n

        batch = cols.shape[0]
        itemsize = cols.dtype.itemsize
        chip = ex.chip
        for acc_op, _, mvms in self.accs:
            out_cols = None
            for mvm_op, prog_slot, _, shift, block in mvms:
                array, rows, ncols = self.tiles[prog_slot]
                out_cols = ncols
                # A shifted partial is a bit slice > 0 (imc-tile: shift = slice x cell_bits).
                shared = shift != 0 and shares_periphery(chip.hardware, 1)
                m = batch if block is None else block[2] - block[1]  # (a row block's MVM reads its rows)
                n_mvm, ev = mvm_events(
                    _static(mvm_op), m, rows, ncols, m * rows * itemsize, m * ncols * 4, shares_periphery=shared
                )
                add(mvm_op, ev)
                if not _static(mvm_op).shares_activation:
                    busy = bucket(mvm_op)[2]
                    busy[array] = busy.get(array, 0) + n_mvm
            shifts = _static(acc_op).shifts
            add(acc_op, accumulate_events_for(chip.hardware, shifts, batch * out_cols, batch * out_cols * 4))
        return list(per_row.values())


class _GroupedWeights:
    """The `ideal` weights of a grouped contraction tiled as diagonal blocks
    (`imc-tile`): `w` is G x R x F, group g's R rows read the group's input
    columns [g*R, (g+1)*R) (in the im2col's (c, k...) order when `kernel` is
    set: R = C_g * prod(kernel)) and write outputs [g*F, (g+1)*F).
    `products` computes them without the zeros off the blocks."""

    def __init__(self, w: np.ndarray, kernel, splits: list):
        self.w = w
        self.kernel = kernel
        self.splits = splits  # per accumulate: its output columns
        groups, rows, cols = w.shape
        self.shape = (groups * rows, groups * cols)  # (input columns, outputs), as a dense W_eff's
        self.depthwise = None
        if kernel is not None:
            k = math.prod(kernel)
            # Depthwise (one channel and one output per group): the K kernel
            # positions' weights per channel, K x G, for K multiply-adds.
            self.depthwise = np.ascontiguousarray(w[:, :, 0].T) if rows == k and cols == 1 else None

    @classmethod
    def of(cls, accs, env, k: int, kernel) -> "_GroupedWeights | None":
        """From the accumulates of a validated run (`env` holds their
        crossbars), or None unless each accumulate reads one tile of
        diagonal blocks of one shape and together they cover the `k` input
        columns in order."""
        blocks, splits, start, r0_next = [], [], 0, 0
        block_shape = None
        for _, _, mvms in accs:
            r0 = mvms[0][2]
            first = env[mvms[0][1]]
            if first.source.ndim != 3 or r0 != r0_next:
                return None
            groups, rows, cols = first.source.shape
            if block_shape is None:
                block_shape = (rows, cols)
            if (rows, cols) != block_shape or (kernel is not None and rows % math.prod(kernel)):
                return None
            w = np.zeros((groups, rows, cols), dtype=np.float32)
            index = np.arange(groups)
            for _, prog_slot, r, shift, _ in mvms:
                xb = env[prog_slot]
                if r != r0 or xb.source.shape != first.source.shape:
                    return None
                if xb.conductance is None:  # higher ideal slices hold zeros
                    continue
                diagonal = xb.conductance.reshape(groups, rows, groups, cols)[index, :, index, :]
                w += diagonal * np.float32(2.0**shift) if shift else diagonal
            blocks.append(w)
            splits.append((start, start + groups * cols))
            start += groups * cols
            r0_next = r0 + groups * rows
        if r0_next != k:
            return None
        return cls(np.concatenate(blocks), kernel, splits)

    def products(self, cols: np.ndarray) -> np.ndarray:
        """`cols` (batch x G*R; with a kernel, the channels-last im2col, (k..., c)
        order) times the blocks: batch x G*F."""
        groups, rows, outs = self.w.shape
        m = cols.shape[0]
        if self.kernel is None:
            xg = cols.reshape(m, groups, rows).transpose(1, 0, 2)
        else:
            k = math.prod(self.kernel)
            xr = cols.reshape(m, k, groups, rows // k)
            if self.depthwise is not None:
                y = xr[:, 0, :, 0] * self.depthwise[0]
                for i in range(1, k):
                    y += xr[:, i, :, 0] * self.depthwise[i]
                return y
            xg = xr.transpose(2, 0, 3, 1).reshape(groups, m, rows)  # rows in (c, k...) order
        return np.matmul(xg, self.w).transpose(1, 0, 2).reshape(m, groups * outs)


def _im2col_channels_last(x: np.ndarray, kernel, strides, dilations) -> np.ndarray:
    """N x C x spatial -> (N*prod(out)) x (prod(kernel)*C), columns ordered (k..., c).

    Built from a channels-last copy, so the gather moves C contiguous values at
    a time (several times faster than the (c, k...) order of `im2col_array`,
    and than a gather by index, `_gathered_im2col`).
    """
    windows = _channels_last_windows(x, kernel, strides, dilations)
    return windows.reshape(math.prod(windows.shape[: 1 + len(kernel)]), -1)


def _stacked_im2col(xs: list, kernel, strides, dilations) -> tuple[np.ndarray, list]:
    """The `_im2col_channels_last` of each of `xs`, stacked (rows of the
    first, then of the second...) and gathered straight into one array (no
    copy of each then of the stack); also each one's row count."""
    windows = [_channels_last_windows(x, kernel, strides, dilations) for x in xs]
    rows = [math.prod(w.shape[: 1 + len(kernel)]) for w in windows]
    out = np.empty((sum(rows), math.prod(windows[0].shape[1 + len(kernel) :])), xs[0].dtype)
    start = 0
    for w, r in zip(windows, rows):
        out[start : start + r].reshape(w.shape)[...] = w
        start += r
    return out, rows


def _channels_last_windows(x: np.ndarray, kernel, strides, dilations) -> np.ndarray:
    """The im2col windows of `x` as a strided view: N, out..., k..., C."""
    spatial = len(kernel)
    perm = [0] + list(range(2, 2 + spatial)) + [1]
    xl = np.ascontiguousarray(x.transpose(perm))  # N, spatial..., C
    windows = np.lib.stride_tricks.sliding_window_view(
        xl, [d * (k - 1) + 1 for k, d in zip(kernel, dilations)], axis=tuple(range(1, 1 + spatial))
    )  # N, out_full..., C, window...
    index = (slice(None),) + tuple(slice(None, None, s) for s in strides) + (slice(None),)
    index += tuple(slice(None, None, d) for d in dilations)
    windows = windows[index]
    order = [0] + list(range(1, 1 + spatial)) + list(range(2 + spatial, 2 + 2 * spatial)) + [1 + spatial]
    return windows.transpose(order)


def _run_fused_contraction(interp, group: "ContractionGroup", args):
    ex = interp.get_data(EXECUTION)
    if ex is not None and group.ready(ex.chip, args):
        if ex.chip.precision == "ideal":
            out = group.fast(ex, args[0])
        else:
            out = group.fast_converted(ex, args[0])
        if out is not None:
            return out
    return group.slow(interp, ex, args)


@impl("imc.tiled_contract")
def tiled_contract(interp, op, args):
    """Its body in one step: the `ContractionGroup` decoded from it once (kept
    as `op.static`; False: the body runs as ops, as it does under a tracer,
    which places each op), then its `tail`."""
    group = op.static
    if group is None:
        group = op.static = _plan_tiled_contract(interp, op)
    body = op.regions[0].block
    if group is False:
        return interp.run_block(body, [])
    if interp.tracer is not None:  # (each op a step of its own: placed from an earlier trip's, or run)
        ex = interp.get_data(EXECUTION)
        yielded = interp.tracer.contraction_trip(interp, group, body, ex) if ex is not None else None
        return interp.run_block(body, []) if yielded is None else yielded
    env = interp.env
    outs = _run_fused_contraction(interp, group, [env[group.in_slot]] + [env[s] for s in group.root_slots])
    for s, v in zip(group.out_slots, outs):
        env[s] = v
    if group.tail:
        interp.exec_steps(group.tail)
    return [env[s] for s in body.yield_slots]


def _programs_commute(interp, steps) -> bool:
    """Commute check (`loop_distribution`): the `imc.program`s of a loop
    body (`steps`: its crossbar ops, those of its tiled contractions
    included) put one tile, always the same (a read-only constant: the same
    memory window), on each crossbar they program. Then none undoes another,
    so in any order they leave the same tiles and write each one as often
    (once if not held already)."""
    env = interp.env
    placed: dict[int, list] = {}  # crossbar -> the `_Array`s the programs put on it
    programs = [sub for step in steps if step[1].name == "imc.tiled_contract" for sub in step[1].regions[0].block.steps]
    programs += steps
    for _, sub, ins, _ in programs:
        if sub.name != "imc.program":
            continue
        st, tile = _static(sub), env[ins[0]]
        if not isinstance(tile, np.ndarray) or tile.flags.writeable:
            return False
        tile = tile.swapaxes(-1, -2) if st.transpose else tile
        meta = (st.cell_bits, st.weight_bits, st.slice)
        held = placed.setdefault(st.array, [])
        same = [h for h in held if h.offset == st.offset and h.meta == meta and _same_view(h.source, tile)]
        if same:
            continue
        if any(h.overlaps(st.offset, footprint(tile)) for h in held):
            return False  # (another tile on the same place: one drops the other)
        held.append(_Array(tile, meta, None, 0, st.offset))
    return True


def _run_in_any_order(interp, op) -> bool:
    """Trip batcher check (`loop_distribution`) of the crossbar ops: an
    `ideal` or `quantized` run that draws no noise (in op order) and does
    not calibrate (which records each call's sums), where, given
    `_programs_commute`, their values do not depend on the order of other
    crossbar ops."""
    ex = interp.get_data(EXECUTION)
    return ex is not None and ex.chip.precision in ("ideal", "quantized") and ex.chip.calibration is None


def _contract_in_any_order(interp, op) -> bool:
    """`_run_in_any_order`, for a tiled contraction with a fast path."""
    return isinstance(op.static, ContractionGroup) and _run_in_any_order(interp, op)


def _contract_trips(interp, op, load, trips: int) -> list | None:
    """Trip batcher (`loop_distribution`): the `imc.tiled_contract` of
    `trips` trips (`load(t)` puts trip t's values in the frame) as one
    `ContractionGroup.fast_trips`. A group without a validated fast path
    runs its first trip as the op (which validates it), and its products
    are then computed with the others' (so that a first call gives the
    values of later ones); if a trip cannot take the fast path, the trips
    run as the op."""
    group, ex, env = op.static, interp.get_data(EXECUTION), interp.env
    yields = op.regions[0].block.yield_slots

    def inputs(t):
        load(t)
        return [env[group.in_slot]] + [env[s] for s in group.root_slots]

    first = None
    xs = []
    for t in range(trips):
        args = inputs(t)
        if t == 0 and not group.ready(ex.chip, args):
            first = tiled_contract(interp, op, [])
        if not group.ready(ex.chip, args):
            break
        xs.append(args[0])
    outs = group.fast_trips(ex, xs, counted=int(first is not None), exact=interp.exact_trips) if len(xs) == trips else None
    if outs is None:
        if first is None:
            return None
        rest = []
        for t in range(1, trips):
            load(t)
            rest.append(tiled_contract(interp, op, []))
        return [first] + rest
    results = []
    for out in outs:
        for s, v in zip(group.out_slots, out):
            env[s] = v
        if group.tail:
            interp.exec_steps(group.tail)
        results.append([env[s] for s in yields])
    return results


_DECODED_OPS = frozenset({"imc.mvm", "imc.program", "imc.accumulate", "tensor.extract_slice", "tensor.concat"})
"""The ops a fused contraction's decode reads (`TiledContractView.accumulates`)."""


def _plan_tiled_contract(interp, op) -> "ContractionGroup | bool":
    """The fast path's `ContractionGroup` for an `imc.tiled_contract` (off
    the fast paths, or for a body its typed view does not decode: False).
    The decode reads the IR; each value it names is found through the
    compiled step of its op (the steps of the kinds it reads, by op), not
    through a map of every step's operands (which the bindings would build
    value by value)."""
    if not (interp.fast_paths or interp.trace_safe_fast_paths):
        return False
    steps = op.regions[0].block.steps
    decoding = {step[1].ir.operation: step for step in steps if step[1].name in _DECODED_OPS}

    def producer(value):
        o = defining_op(value)
        return o if o in decoding else None

    view = TiledContractView(op.ir)
    decoded = view.accumulates(producer)
    if not decoded:
        return False
    producer_of = {s: k for k, step in enumerate(steps) for s in step[3]}  # slot -> the step that writes it
    joined = decoding.get(view.joined) if view.joined is not None else None
    sub_steps = [step for step in steps if step is not joined]
    tail = [joined] if joined is not None else []
    first = decoded[0].terms[0]  # (every MVM reads x, through its slices)
    x_slot = decoding[first.slices[-1]][2][0] if first.slices else decoding[first.mvm][2][1]
    in_slot, im2col_op = x_slot, None
    k = producer_of.get(x_slot)
    if k is not None and steps[k][1].name == "imc.im2col":
        in_slot, im2col_op = steps[k][2][0], steps[k][1]
    accs, programs, roots = [], [], []
    for acc in decoded:
        mvms = []
        for t in acc.terms:
            _, _, weight, crossbar = decoding[t.program]
            mvms.append((decoding[t.mvm][1], crossbar[0], t.col_offset, t.shift, t.block))
            programs.append(crossbar[0])
            s = weight[0]
            while (k := producer_of.get(s)) is not None and steps[k][1].name in WEIGHT_VIEW_OPS and len(steps[k][2]) == 1:
                s = steps[k][2][0]
            roots.append(s)
        _, acc_op, _, result = decoding[acc.accumulate]
        accs.append((acc_op, result[0], mvms))
    group = ContractionGroup(
        sub_steps, in_slot, x_slot, im2col_op, accs, list(dict.fromkeys(programs)), list(dict.fromkeys(roots))
    )
    group.tail = tail
    return group


def plan_tiled_contracts(interp, steps, yield_slots, arg_slots=()):
    """Block rewriter: decodes each `imc.tiled_contract` step's group when
    its block is compiled (`_plan_tiled_contract`), so a compiled program
    shows its fast-path groups before it first runs. Steps stay as they are."""
    for _, op, _, _ in steps:
        if op.name == "imc.tiled_contract" and op.static is None:
            op.static = _plan_tiled_contract(interp, op)
    return steps


def _allocation(buffer, frees: bool) -> list:
    """What allocating or freeing the scratchpad buffer `buffer` writes
    (`loop_distribution.Allocation`)."""
    if not isinstance(buffer, ir.OpResult) or buffer.owner.name != "imc.spad_alloc":
        return [ANY]
    alloc = SpadAllocView(buffer.owner)
    return [buffer, Allocation(alloc.offset, alloc.offset + alloc.size, buffer, frees)]


from .core import register_block_rewriter  # noqa: E402
from .loop_distribution import (  # noqa: E402
    ANY,
    Allocation,
    register_commute_check,
    register_memory_effects,
    register_pure_op,
    register_trip_batcher,
)
from .transfer_loops import register_block_move  # noqa: E402

register_block_rewriter(plan_tiled_contracts)
register_trip_batcher("imc.tiled_contract", _contract_in_any_order, _contract_trips)
for _name in ("imc.program", "imc.mvm", "imc.accumulate"):
    register_trip_batcher(_name, _run_in_any_order)
register_commute_check(_programs_commute)
register_block_move("imc.dma", _dma_rows)
register_memory_effects("imc.dma", lambda op: ([buffer_root(op.operands[0])], [buffer_root(op.operands[1])]))
register_memory_effects("imc.spad_alloc", lambda op: ([], _allocation(op.results[0], frees=False)))
register_memory_effects("imc.spad_free", lambda op: ([], _allocation(buffer_root(op.operands[0]), frees=True)))
register_pure_op("imc.im2col")
register_pure_op("imc.join")
register_pure_op("imc.quantize")

