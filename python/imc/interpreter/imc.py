"""Execution of the `imc` dialect: crossbars, precision modes and event counting.

A :class:`Chip` holds the state of the physical crossbars (what each array is
programmed with) and the precision mode; an :class:`ImcExecution` binds a chip
and a :class:`~imc.report.Report` to an :class:`~imc.interpreter.Interpreter`.

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

import math

import numpy as np
from torch_mlir import ir

from .core import InterpreterError, impl

PRECISIONS = ("ideal", "quantized", "noisy")


def _int_attr(op, name: str) -> int:
    return ir.IntegerAttr(op.attributes[name]).value


class _Array:
    """What one physical crossbar holds."""

    __slots__ = ("source", "meta", "conductance", "generation", "offset")

    def __init__(self, source, meta, conductance, generation, offset=(0, 0)):
        self.source = source
        self.meta = meta
        self.conductance = conductance
        self.generation = generation
        self.offset = offset

    def overlaps(self, offset, shape) -> bool:
        (r0, c0), (r1, c1) = self.offset, offset
        (h0, w0), (h1, w1) = self.source.shape, shape
        return r0 < r1 + h1 and r1 < r0 + h0 and c0 < c1 + w1 and c1 < c0 + w0


class Chip:
    """Crossbar state and precision mode, kept across calls of a compiled model."""

    def __init__(self, hardware, precision: str = "ideal", seed: int = 0):
        if precision not in PRECISIONS:
            raise ValueError(f"precision '{precision}' is not one of {', '.join(PRECISIONS)}")
        self.hardware = hardware
        self.precision = precision
        self.rng = np.random.default_rng(seed)
        self.arrays: dict[int, dict[tuple[int, int], _Array]] = {}  # array -> tiles by offset
        self.generation = 0
        self._zeros: dict[tuple, np.ndarray] = {}
        self._contiguous = None
        self.spad = None  # Scratchpad, created by the first imc.spad_alloc

    def contiguous(self, x: np.ndarray) -> np.ndarray:
        """`x` in C order (NumPy's matmul is much slower on strided views);
        the last conversion is reused, as all column tiles share one input."""
        if x.flags.c_contiguous:
            return x
        last = self._contiguous
        if last is not None and last[0] is x:
            return last[1]
        c = np.ascontiguousarray(x)
        self._contiguous = (x, c)
        return c

    def zeros(self, shape) -> np.ndarray:
        """A shared read-only zero array: the product of an all-zero slice."""
        z = self._zeros.get(shape)
        if z is None:
            z = self._zeros[shape] = np.zeros(shape, dtype=np.float32)
            z.flags.writeable = False
        return z

    # -- programming ------------------------------------------------------------
    def conductance(self, tile: np.ndarray, s: int, cb: int, wb: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(G_s, per-column scale or None) for slice `s` of a rows x cols tile."""
        if self.precision == "ideal":
            return (np.ascontiguousarray(tile, dtype=np.float32) if s == 0 else None), None
        qmax = 2 ** (wb - 1) - 1 if wb > 1 else 1
        amax = np.max(np.abs(tile), axis=0)
        scale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
        q = np.clip(np.rint(tile / scale), -qmax, qmax)
        digit = (np.abs(q).astype(np.int64) >> (s * cb)) & (2**cb - 1)
        g = (np.sign(q) * digit).astype(np.float32)
        if self.precision == "noisy" and self.hardware.program_noise > 0:
            g = g + self.rng.normal(0.0, self.hardware.program_noise * (2**cb - 1), g.shape).astype(np.float32)
        return g, scale


class ImcExecution:
    """Binds a chip and a report to an interpreter run: implements the imc ops."""

    def __init__(self, chip: Chip, report, layer_of):
        self.chip = chip
        self.report = report
        self.layer_of = layer_of  # CompiledOp -> LayerRow


def _exec(interp) -> ImcExecution:
    ex = getattr(interp, "imc", None)
    if ex is None:
        raise InterpreterError("error: imc ops need an imc execution context (use imc.runtime.run_module)")
    return ex


def _static(op):
    if op.static is None:
        o = op.ir
        if op.name == "imc.program":
            shape = ir.ShapedType(o.operands[0].type).shape
            offset = list(ir.DenseI64ArrayAttr(o.attributes["imc.offset"])) if "imc.offset" in o.attributes else [0, 0]
            op.static = {
                "offset": tuple(offset),
                "cb": _int_attr(o, "cell_bits"),
                "wb": _int_attr(o, "weight_bits"),
                "slice": _int_attr(o, "slice"),
                "transpose": bool(_int_attr(o, "transpose")),
                "array": _int_attr(o, "array"),
                "cells": shape[0] * shape[1],
            }
        elif op.name == "imc.mvm":
            op.static = {
                "dac": _int_attr(o, "dac_bits"),
                "adc": _int_attr(o, "adc_bits"),
                "ib": _int_attr(o, "input_bits"),
            }
        elif op.name == "imc.accumulate":
            op.static = {"shifts": np.array(list(ir.DenseI64ArrayAttr(o.attributes["shifts"])), dtype=np.int64)}
        elif op.name == "imc.im2col":
            op.static = {
                name: list(ir.DenseI64ArrayAttr(o.attributes[name])) for name in ("kernel", "strides", "dilations")
            }
    return op.static


class _Xbar:
    """The runtime value of an `!imc.xbar`: a handle on a programmed array."""

    __slots__ = ("array", "generation", "conductance", "scale", "cb", "s", "rows", "cols", "source", "wb", "offset")

    def __init__(self, array, generation, conductance, scale, cb, s, source, wb, offset=(0, 0)):
        self.offset = offset
        self.array = array
        self.generation = generation
        self.conductance = conductance
        self.scale = scale
        self.cb = cb
        self.s = s
        self.rows, self.cols = source.shape
        self.source = source
        self.wb = wb


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
    if st["transpose"]:
        tile = tile.T
    chip = ex.chip
    meta = (st["cb"], st["wb"], st["slice"])
    array_id, offset = st["array"], st["offset"]
    tiles = chip.arrays.setdefault(array_id, {}) if array_id >= 0 else None
    held = tiles.get(offset) if tiles is not None else None
    if held is not None and held.meta == meta and _same_tile(held, tile):
        return [_Xbar(array_id, held.generation, held.conductance[0], held.conductance[1], st["cb"], st["slice"], held.source, st["wb"], offset)]
    g, scale = chip.conductance(tile, st["slice"], st["cb"], st["wb"])
    chip.generation += 1
    if tiles is not None:
        for key in [k for k, t in tiles.items() if t.overlaps(offset, tile.shape)]:
            del tiles[key]
        tiles[offset] = _Array(tile, meta, (g, scale), chip.generation, offset)
    rows = tile.shape[0]
    weight_bytes = -(-st["cells"] * st["cb"] // 8)
    ex.report.add(
        ex.layer_of(op),
        cells=st["cells"],
        program_rows=rows,
        program_events=1,
        dram_read_bytes=weight_bytes,
    )
    return [_Xbar(array_id, chip.generation, g, scale, st["cb"], st["slice"], tile, st["wb"], offset)]


def _adc(partial: np.ndarray, bits: int, full_scale: float) -> np.ndarray:
    levels = 2 ** (bits - 1) - 1
    step = np.float32(full_scale / levels) if full_scale > 0 else np.float32(1.0)
    return np.clip(np.rint(partial / step), -levels, levels).astype(np.float32) * step


@impl("imc.mvm")
def mvm(interp, op, args):
    ex = _exec(interp)
    st = _static(op)
    xb, x = args
    chip = ex.chip
    if xb.array >= 0:
        held = chip.arrays.get(xb.array, {}).get(xb.offset)
        if held is None or held.generation != xb.generation:
            raise op.error(f"crossbar {xb.array} was reprogrammed with other weights before this MVM")
    batch, rows = x.shape
    if rows != xb.rows:
        raise op.error(f"input has {rows} rows but the crossbar tile has {xb.rows}")
    cycles = -(-st["ib"] // st["dac"])
    hw = chip.hardware
    if chip.precision == "ideal":
        # Slice 0 holds the tile, higher slices zeros (see the module docstring).
        if xb.conductance is None:
            y = chip.zeros((batch, xb.cols))
        else:
            y = chip.contiguous(x) @ xb.conductance
    else:
        qmax = 2 ** (st["ib"] - 1) - 1 if st["ib"] > 1 else 1
        amax = np.max(np.abs(x), axis=1, keepdims=True)
        xscale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
        q = np.clip(np.rint(x / xscale), -qmax, qmax)
        mag = np.abs(q).astype(np.int64)
        sign = np.sign(q).astype(np.float32)
        shifts = np.arange(cycles, dtype=np.int64) * st["dac"]
        digits = ((mag[None] >> shifts[:, None, None]) & (2 ** st["dac"] - 1)).astype(np.float32) * sign[None]
        partial = digits @ xb.conductance  # cycles x batch x cols, integer-valued (digits is contiguous)
        cell_max = 2**xb.cb - 1
        if chip.precision == "noisy" and hw.read_noise > 0:
            norm = np.linalg.norm(digits, axis=2, keepdims=True)
            partial = partial + chip.rng.normal(0.0, 1.0, partial.shape).astype(np.float32) * (
                hw.read_noise * cell_max * norm
            )
        if st["adc"] > 0:
            full = hw.adc_range * rows * (2 ** st["dac"] - 1) * cell_max
            partial = _adc(partial, st["adc"], full)
        weights = (2.0 ** shifts).astype(np.float32)
        y = np.tensordot(weights, partial, axes=(0, 0)) * xscale
        if xb.scale is not None:
            y = y * xb.scale
    if y.dtype != np.float32:
        y = y.astype(np.float32)
    n_mvm = batch * cycles
    row = ex.layer_of(op)
    row.busy[xb.array] = row.busy.get(xb.array, 0) + n_mvm
    ex.report.add(
        row,
        mvm=n_mvm,
        dac=n_mvm * rows,
        adc=n_mvm * xb.cols if st["adc"] > 0 else 0,
        spad_read_bytes=x.nbytes,
        spad_write_bytes=y.nbytes,
    )
    return [y]


@impl("imc.accumulate")
def accumulate(interp, op, args):
    ex = _exec(interp)
    shifts = _static(op)["shifts"]
    zeros = ex.chip._zeros.get(args[0].shape)
    live = [(p, s) for p, s in zip(args, shifts) if p is not zeros]
    if len(live) == 1 and live[0][1] == 0:
        out = live[0][0]
    else:
        out = np.zeros(args[0].shape, dtype=np.float32)
        for p, s in live:
            if s:
                out += p * np.float32(2.0**s)
            else:
                out += p
    ex.report.add(
        ex.layer_of(op),
        digital_ops=out.size * len(args),
        spad_read_bytes=sum(a.nbytes for a in args),
        spad_write_bytes=out.nbytes,
    )
    return [out]


def im2col_array(x: np.ndarray, kernel, strides, dilations) -> np.ndarray:
    """N x C x spatial -> (N*prod(out)) x (C*prod(kernel)), columns ordered (c, k...)."""
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
    cols = im2col_array(args[0], st["kernel"], st["strides"], st["dilations"])
    ex = getattr(interp, "imc", None)
    if ex is not None:
        ex.report.add(ex.layer_of(op), spad_read_bytes=args[0].nbytes, spad_write_bytes=cols.nbytes)
    return [cols]


@impl("imc.contract")
def contract(interp, op, args):
    """The pre-tiling contraction, executed as an exact float matmul (digital)."""
    x, w = args
    transposed = bool(_int_attr(op.ir, "transpose_weight"))
    y = (x @ (w.T if transposed else w)).astype(np.float32)
    ex = getattr(interp, "imc", None)
    if ex is not None:
        k = w.shape[1] if transposed else w.shape[0]
        ex.report.add(ex.layer_of(op), digital_ops=2 * y.size * k, spad_read_bytes=x.nbytes + w.nbytes, spad_write_bytes=y.nbytes)
    return [y]


class Scratchpad:
    """The chip's scratchpad: one byte array that `imc.spad_alloc` carves views from.

    It checks what the verifier cannot: live buffers never overlap, freed
    buffers are not used, and no byte is read before a DMA or an op wrote it
    (validity is tracked per element, on the element's first byte).
    """

    def __init__(self, size: int):
        self.memory = np.zeros(size, dtype=np.uint8)
        self.valid = np.zeros(size, dtype=bool)
        self.live: dict[int, tuple[int, int]] = {}  # base address -> (offset, size)
        self.freed: set[int] = set()

    @property
    def base(self) -> int:
        return self.memory.ctypes.data

    def owns(self, a) -> bool:
        if not isinstance(a, np.ndarray) or a.size == 0:
            return False
        start = a.__array_interface__["data"][0] - self.base
        return 0 <= start < self.memory.size

    def offset_of(self, a: np.ndarray) -> int:
        return a.__array_interface__["data"][0] - self.base

    def valid_view(self, a: np.ndarray) -> np.ndarray:
        """A bool array shaped like `a`: is each element's first byte valid?"""
        return np.lib.stride_tricks.as_strided(self.valid[self.offset_of(a) :], shape=a.shape, strides=a.strides)

    def buffer_of(self, a: np.ndarray) -> tuple[int, int] | None:
        start = self.offset_of(a)
        for offset, size in self.live.values():
            if offset <= start < offset + size:
                return offset, size
        return None


def _spad(ex) -> Scratchpad:
    chip = ex.chip
    if chip.spad is None:
        chip.spad = Scratchpad(chip.hardware.spad_bytes)
    return chip.spad


def check_spad_read(interp, op, a) -> None:
    """Raises if `a` (a scratchpad view) holds bytes never loaded or written."""
    ex = getattr(interp, "imc", None)
    if ex is None or ex.chip.spad is None or not ex.chip.spad.owns(a):
        return
    spad = ex.chip.spad
    if spad.buffer_of(a) is None:
        raise op.error(f"uses a scratchpad buffer at offset {spad.offset_of(a)} that is not allocated (freed?)")
    if not spad.valid_view(a).all():
        raise op.error(
            f"reads scratchpad bytes at offset {spad.offset_of(a)} that were never loaded by a DMA or written"
        )


def mark_spad_written(interp, a) -> None:
    ex = getattr(interp, "imc", None)
    if ex is not None and ex.chip.spad is not None and ex.chip.spad.owns(a):
        ex.chip.spad.valid_view(a)[...] = True


@impl("imc.spad_alloc")
def spad_alloc(interp, op, args):
    ex = _exec(interp)
    spad = _spad(ex)
    o = op.ir
    offset, size = _int_attr(o, "offset"), _int_attr(o, "size")
    if offset < 0 or offset + size > spad.memory.size:
        raise op.error(f"buffer [{offset}, {offset + size}) is beyond the scratchpad capacity of {spad.memory.size} bytes")
    for other_offset, other_size in spad.live.values():
        if offset < other_offset + other_size and other_offset < offset + size:
            raise op.error(
                f"buffer [{offset}, {offset + size}) overlaps the live buffer [{other_offset}, {other_offset + other_size})"
            )
    t = ir.MemRefType(op.result_types[0])
    from .core import element_dtype

    dtype = element_dtype(t.element_type)
    nbytes = int(np.prod(t.shape)) * dtype.itemsize
    view = spad.memory[offset : offset + nbytes].view(dtype).reshape(tuple(t.shape))
    spad.live[spad.base + offset] = (offset, size)
    spad.valid[offset : offset + size] = False
    return [view]


@impl("imc.spad_free")
def spad_free(interp, op, args):
    ex = _exec(interp)
    spad = _spad(ex)
    key = args[0].__array_interface__["data"][0]
    if key not in spad.live:
        raise op.error(f"frees a scratchpad buffer at offset {key - spad.base} that is not allocated (double free?)")
    offset, size = spad.live.pop(key)
    spad.valid[offset : offset + size] = False
    return []


@impl("imc.dma")
def dma(interp, op, args):
    ex = _exec(interp)
    spad = _spad(ex)
    src, dst = args
    if op.static is None:
        o = op.ir
        op.static = {name: list(ir.DenseI64ArrayAttr(o.attributes[name])) for name in ("offsets", "sizes", "strides")}
    st = op.static
    window = tuple(slice(o, o + (n - 1) * s + 1, s) for o, n, s in zip(st["offsets"], st["sizes"], st["strides"]))
    load = spad.owns(dst)
    if load:
        for a in (dst,):
            if spad.buffer_of(a) is None:
                raise op.error(f"writes a scratchpad buffer at offset {spad.offset_of(a)} that is not allocated (freed?)")
        dst[...] = src[window]
        mark_spad_written(interp, dst)
        nbytes = dst.nbytes
        ex.report.add(ex.layer_of(op), dram_read_bytes=nbytes, spad_write_bytes=nbytes)
    else:
        check_spad_read(interp, op, src)
        dst[window] = src
        nbytes = src.nbytes
        ex.report.add(ex.layer_of(op), dram_write_bytes=nbytes, spad_read_bytes=nbytes)
    return []
