"""`imc-lower-transfers`: write `imc.transfer_in`/`transfer_out` out as DMA loops."""

from dataclasses import dataclass

from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, memref, scf, tensor

from imc.dialects.imc import TRANSFER_OPS, DmaOp, SpadAllocOp, SpadFreeOp, stored_element_bytes
from imc.dialects.imc_ops import TransferView
from imc.ir.utils import i64_array, i64_attr, index_constant, walk_ops
from imc.transforms.pass_base import ImcPass


@dataclass(frozen=True)
class ImcLowerTransfers(ImcPass):
    """Lowers every transfer op to the DMAs a chip's DMA engine runs.

    `imc.transfer_out %t, %dram` becomes, per group of `transfer_groups`,
    `imc.spad_alloc` of its staging buffers, then (in an `scf.for` over the
    group's trips when it has more than one) per trip: the trip's tiles of
    `%t` written into the staging buffers
    (`bufferization.materialize_in_destination`), then one `imc.dma` per
    buffer into its window of `%dram`; then `imc.spad_free`. A
    `transfer_in` is the same the other way: the DMAs into the staging
    buffers, then their contents inserted into the result tensor (carried
    by the loop). Offsets, staging addresses and sizes are the op's.

    Run it for a chip's code generator, or to read the DMA program; imc's
    pipelines keep the ops, which the interpreter, the buffer checker and
    the analyses implement directly. Run by `imc-run`, the lowered program
    computes the same values and moves the same DRAM bytes (test/Tools/run/
    placed.mlir); its report differs where the ops say more than loops do:
    no DRAM bytes count as overlapped, and the loads' `tensor.insert_slice`s
    count as scratchpad traffic.

    Docs: docs/dialect.md (`imc.transfer_out`, `imc.transfer_in`); docs/analysis.md ("Buffer placement").
    """

    name = "imc-lower-transfers"
    summary = "Lower imc.transfer_in/transfer_out to staging buffers and DMA loops"

    def run(self, module, state) -> None:
        hardware = state.hardware
        for op in list(walk_ops(module, TRANSFER_OPS)):
            view = TransferView(op)
            elem = stored_element_bytes(view.tensor_type.element_type, hardware)
            with ir.InsertionPoint(op), op.location:
                if view.loads:
                    loaded = _lower(view, None, elem)
                    op.results[0].replace_all_uses_with(loaded)
                else:
                    _lower(view, op.operands[0], elem)
            op.erase()


def _lower(view: TransferView, piece, elem: int):
    """The DMA program of one transfer at the current insertion point: stores
    `piece` when given (returns None), else returns the loaded tensor."""
    dram, lo, tile, base = view.dram, view.offset, view.tile, view.staging
    et = view.tensor_type.element_type
    acc = None if piece is not None else tensor.EmptyOp([view.count], et).result
    start = 0
    for trips, size, width in view.groups:
        bufs = [
            SpadAllocOp(
                i64_attr(base + w * tile * elem),
                i64_attr(size * elem),
                ir.MemRefType.get([size], et, memory_space=i64_attr(1)),
            ).result
            for w in range(width)
        ]
        span = size * width
        if trips == 1:
            acc = _trip(piece, dram, lo, start, size, bufs, acc)
        else:  # the loop counter is the tensor offset of the trip's first tile
            lb, ub, step = index_constant(start), index_constant(start + trips * span), index_constant(span)
            consts = (index_constant(lo) if lo else None, index_constant(size) if width > 1 else None)
            loop = scf.ForOp(lb, ub, step, [] if acc is None else [acc])
            with ir.InsertionPoint(loop.body):
                inner = None if acc is None else loop.inner_iter_args[0]
                inner = _trip(piece, dram, lo, loop.induction_variable, size, bufs, inner, consts)
                scf.YieldOp([] if inner is None else [inner])
            acc = None if acc is None else loop.results[0]
        for b in bufs:
            SpadFreeOp(b)
        start += trips * span
    return acc


def _trip(piece, dram, lo, first, size, bufs, acc, consts=None):
    """One trip: `len(bufs)` tiles of `size` elements, the first at tensor
    offset `first` (an int, or an index value in a loop, with `consts` =
    the index constants (lo, size) it needs) and at `lo + first` in DRAM.
    All DMAs of a trip are issued before its tiles are used."""
    et = ir.MemRefType(dram.type).element_type
    dyn = ir.ShapedType.get_dynamic_size()
    static = isinstance(first, int)
    offsets, windows = [], []
    for w in range(len(bufs)):
        if static:
            off = first + w * size
            offsets.append(off)
            layout = ir.StridedLayoutAttr.get(lo + off, [1])
            windows.append(
                memref.SubViewOp(ir.MemRefType.get([size], et, layout=layout), dram, [], [], [], [lo + off], [size], [1]).result
            )
            continue
        lo_c, size_c = consts
        off = first if w == 0 else arith.AddIOp(first, size_c).result
        offsets.append(off)
        at = off if lo_c is None else arith.AddIOp(off, lo_c).result
        layout = ir.StridedLayoutAttr.get(dyn, [1])
        windows.append(
            memref.SubViewOp(ir.MemRefType.get([size], et, layout=layout), dram, [at], [], [], [dyn], [size], [1]).result
        )

    def tslice(src, off):
        t = ir.RankedTensorType.get([size], et)
        if static:
            if off == 0 and ir.RankedTensorType(src.type).shape == [size]:
                return src
            return tensor.ExtractSliceOp(t, src, [], [], [], [off], [size], [1]).result
        return tensor.ExtractSliceOp(t, src, [off], [], [], [dyn], [size], [1]).result

    dma_attrs = (i64_array([0]), i64_array([size]), i64_array([1]))
    if piece is not None:  # store: datapath -> staging -> DRAM
        for buf, off in zip(bufs, offsets):
            bufferization.MaterializeInDestinationOp(None, tslice(piece, off), buf, writable=True)
        for buf, win in zip(bufs, windows):
            DmaOp(buf, win, *dma_attrs)
        return None
    for buf, win in zip(bufs, windows):  # load: DRAM -> staging -> datapath
        DmaOp(win, buf, *dma_attrs)
    for buf, off in zip(bufs, offsets):
        t = bufferization.ToTensorOp(ir.RankedTensorType.get([size], et), buf).result
        if static:
            acc = tensor.InsertSliceOp(t, acc, [], [], [], [off], [size], [1]).result
        else:
            acc = tensor.InsertSliceOp(t, acc, [off], [], [], [dyn], [size], [1]).result
    return acc
