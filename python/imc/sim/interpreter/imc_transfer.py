"""`imc.transfer_in` and `imc.transfer_out`: a tensor moved between the
datapath and DRAM through scratchpad staging buffers (`docs/dialect.md`);
`imc.join`: the parts of a stored tensor as one tensor.

An untraced run moves the whole tensor as one NumPy copy and counts every
DMA of the op's trips (`TransferView.groups`) in one step per group: each
DMA moves its tile's bytes between DRAM and the scratchpad (the scratchpad
side as the chip stores it, the DRAM side at the host dtype when the DRAM
buffer holds a model input or output). A double-buffered trip's DRAM bytes
are also `overlapped_dram_bytes`. The staging buffers must fit the
scratchpad and overlap no live buffer, as an `imc.spad_alloc` of them would.

A traced run (`imc.sim.timeline`) executes the trips tile by tile, as
`imc-lower-transfers` writes them: per trip, the tiles move into their
staging buffers (a free copy), then each DMA is a step on the DRAM channel
and the scratchpad port (a load the other way round). So the timeline
places the DMAs of a transfer as it does those of the lowered loops.

A load returns a read-only view of its DRAM window, not a copy, when no op
after it can write the DRAM buffer (`_views_safely`).
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from imc.dialects.imc import spad_capacity_error, spad_overlap_error, stored_element_bytes
from imc.dialects.imc_ops import TransferView
from imc.ir.utils import MEMREF_VIEW_OPS, buffer_root

from .core import impl
from .tensor import concat_dim
from .imc import _exec, _spad, holds_stored_tensor


class _TransferFacts:
    """What executing and counting a transfer op reads, decoded once."""

    __slots__ = ("loads", "offset", "count", "tile", "groups", "span", "elem", "host_dram", "as_view")

    def __init__(self, op, hardware):
        op = op.operation
        view = TransferView(op)
        self.loads = view.loads
        self.offset, self.count, self.tile = view.offset, view.count, view.tile
        self.groups = view.groups
        self.elem = stored_element_bytes(view.tensor_type.element_type, hardware)
        self.span = view.staging_span(self.elem)
        self.host_dram = not holds_stored_tensor(view.dram)
        self.as_view = view.loads and _views_safely(op, view.dram)


def _facts(op, ex) -> _TransferFacts:
    st = op.static
    if st is None:
        st = op.static = _TransferFacts(op.ir, ex.chip.hardware)
    return st


@impl("imc.transfer_out")
def transfer_out(interp, op, args):
    ex = _exec(interp)
    st = _facts(op, ex)
    source, dram = args
    _check_staging(op, _spad(ex, interp), st.span)
    window = dram[st.offset : st.offset + st.count]
    if ex.report.tracer is not None:
        _traced(ex, op, st, source, window)
    else:
        window[...] = source
        _count(ex, op, st, source.dtype.itemsize)
    return []


@impl("imc.transfer_in")
def transfer_in(interp, op, args):
    ex = _exec(interp)
    st = _facts(op, ex)
    (dram,) = args
    _check_staging(op, _spad(ex, interp), st.span)
    window = dram[st.offset : st.offset + st.count]
    if ex.report.tracer is not None:
        out = np.empty_like(window)
        _traced(ex, op, st, out, window)
        return [out]
    _count(ex, op, st, dram.dtype.itemsize)
    if st.as_view:
        view = window.view()
        view.flags.writeable = False
        return [view]
    return [window.copy()]


@impl("imc.join")
def join(interp, op, args):
    return [np.concatenate(args, axis=concat_dim(op))]


def _check_staging(op, spad, span) -> None:
    """Raises as an `imc.spad_alloc` of the staging buffers would: beyond
    the scratchpad, or over a live buffer."""
    start, end = span
    if end > spad.capacity:
        raise op.error(spad_capacity_error(f"staging area [{start}, {end})", spad.capacity))
    live = spad.live_overlap(start, end)
    if live is not None:
        raise op.error(spad_overlap_error(f"staging area [{start}, {end})", f"[{live[0]}, {live[1]})"))


def _count(ex, op, st: _TransferFacts, itemsize: int) -> None:
    """Counts every DMA of the op, one report entry per group."""
    row = ex.layer_of(op)
    add = ex.report.add
    for trips, size, width in st.groups:
        _count_dmas(add, row, st, size, trips * width, itemsize, overlapped=width > 1)


def _count_dmas(add, row, st: _TransferFacts, size: int, dmas: int, itemsize: int, *, overlapped: bool) -> None:
    """Counts `dmas` DMAs of `size` elements each."""
    n = size * st.elem * dmas
    dram = size * itemsize * dmas if st.host_dram else n
    if st.loads:
        add(row, dram_read_bytes=dram, spad_write_bytes=n)
    else:
        add(row, dram_write_bytes=dram, spad_read_bytes=n)
    if overlapped:
        add(row, overlapped_dram_bytes=dram)


def _traced(ex, op, st: _TransferFacts, tensor: np.ndarray, window: np.ndarray) -> None:
    """The op's trips tile by tile, each DMA a step of the timeline (see the
    module doc). `tensor` is the datapath side (the source of a store, the
    result of a load, filled here), `window` the DRAM side."""
    tracer = ex.report.tracer
    spad = ex.chip.spad
    row = ex.layer_of(op)
    layer = row.name
    add = ex.report.add
    itemsize = tensor.dtype.itemsize
    start = 0
    for trips, size, width in st.groups:
        buffers = [_staging_buffer(spad, st.span[0] + k * st.tile * st.elem, size, tensor.dtype) for k in range(width)]
        for _ in range(trips):
            tiles = [slice(start + k * size, start + (k + 1) * size) for k in range(width)]
            if st.loads:
                for buf, t in zip(buffers, tiles):
                    tracer.begin()
                    buf[...] = window[t]
                    _count_dmas(add, row, st, size, 1, itemsize, overlapped=width > 1)
                    tracer.place(layer, [window[t]], [buf])
                for buf, t in zip(buffers, tiles):
                    tensor[t] = buf
                    tracer.move(layer, buf, tensor[t])
            else:
                for buf, t in zip(buffers, tiles):
                    buf[...] = tensor[t]
                    tracer.move(layer, tensor[t], buf)
                for buf, t in zip(buffers, tiles):
                    tracer.begin()
                    window[t] = buf
                    _count_dmas(add, row, st, size, 1, itemsize, overlapped=width > 1)
                    tracer.place(layer, [buf], [window[t]])
            start += size * width
    spad.valid[spad.host_slice(st.span[0], st.span[1] - st.span[0])] = False  # (freed: nothing to read)


def _staging_buffer(spad, offset: int, size: int, dtype) -> np.ndarray:
    """The scratchpad view of `size` elements at byte `offset` (as
    `imc.spad_alloc` makes it)."""
    host = spad.host_slice(offset, 0).start
    return spad.memory[host : host + size * dtype.itemsize].view(dtype)


def _views_safely(op, dram) -> bool:
    """Whether a load's result may be a read-only view of its DRAM window:
    the DRAM buffer is a `memref.alloc` of the program (fresh each call)
    and every op that may write it (through any view) comes before `op` in
    its block (an op nested in an earlier loop or branch counts as that op).
    Ops that only read it (loads, DMAs out of it, its dealloc) may be
    anywhere."""
    base = buffer_root(dram)
    if isinstance(base.owner, ir.Block) or base.owner.operation.name != "memref.alloc":
        return False
    values = [base]
    while values:
        value = values.pop()
        for use in value.uses:
            user = use.owner.operation if hasattr(use.owner, "operation") else use.owner
            name = user.name
            if name in MEMREF_VIEW_OPS:
                values.extend(user.results)
            elif name in ("imc.transfer_in", "memref.dealloc") or (name == "imc.dma" and use.operand_number == 0):
                continue
            elif not _before(user, op):
                return False
    return True


def _before(a, b) -> bool:
    """Whether op `a`, or the op of `b`'s block that holds it, is before `b`."""
    block = b.block
    while a is not None and a.block != block:
        a = a.parent
        a = a.operation if a is not None and hasattr(a, "operation") else a
    return a is not None and a != b and a.is_before_in_block(b)
