"""``tensor`` dialect: tensors are immutable NumPy arrays (results may be views).

No implementation mutates an operand: ops that "update" a tensor
(``insert_slice``, ``insert``, ``pad``) build a new array.  The one exception
is a fast path (`in_place_loop_inserts`): an ``insert_slice`` into a loop-
carried tensor that nothing else reads writes, after the loop's first
iteration, into the array it returned in the previous iteration.
"""

from __future__ import annotations

import math

import numpy as np

from torch_mlir import ir

from .core import DYNAMIC, check_index, element_dtype, impl, register_block_rewriter

__all__ = ["concat_dim", "insert_slice_index", "mixed_values", "pad_region", "static_shape"]


def mixed_values(static, dynamic_iter):
    """Merge a ``static_*`` array attribute with dynamic operand values."""
    return [int(next(dynamic_iter)) if s == DYNAMIC else s for s in static]


def static_shape(t, dynamic_sizes):
    """Shape of shaped type ``t`` with ``?`` filled from ``dynamic_sizes`` in order."""
    it = iter(dynamic_sizes)
    return tuple(int(next(it)) if s == DYNAMIC else s for s in t.shape)


def _segments(op):
    if "operandSegmentSizes" in op.ir.attributes:
        return list(ir.DenseI32ArrayAttr(op.ir.attributes["operandSegmentSizes"]))
    return None


@impl("tensor.empty")
def empty(interp, op, args):
    dt = op.static
    if dt is None:
        dt = op.static = element_dtype(op.result_types[0])
    return (np.empty(static_shape(op.result_types[0], args), dtype=dt),)


def _slice_static(op):
    st = op.static
    if st is None:
        a = op.ir.attributes
        st = op.static = (
            list(ir.DenseI64ArrayAttr(a["static_offsets"])),
            list(ir.DenseI64ArrayAttr(a["static_sizes"])),
            list(ir.DenseI64ArrayAttr(a["static_strides"])),
            _segments(op),
            [None, None, None],  # `extract_slice`'s cache: (source shape, index, result shape)
            tuple(op.result_types[0].shape),  # the result type's shape (DYNAMIC where dynamic)
        )
    return st


def _slices(op, dyn):
    offs, sizes, strides = _slice_static(op)[:3]
    it = iter(dyn)
    o = mixed_values(offs, it)
    s = mixed_values(sizes, it)
    st = mixed_values(strides, it)
    return o, s, st


def _index(o, s, st, shape, op):
    idx = []
    for k, (off, size, stride) in enumerate(zip(o, s, st)):
        if size < 0 or off < 0 or (size > 0 and off + (size - 1) * stride >= shape[k]):
            raise op.error(f"slice out of bounds on dim {k}: offset {off}, size {size}, stride {stride}, "
                           f"dim size {shape[k]}")
        idx.append(slice(off, off + size * stride, stride) if size > 0 else slice(0, 0))
    return tuple(idx)


@impl("tensor.extract_slice")
def extract_slice(interp, op, args):
    src = args[0]
    cache = _slice_static(op)[4]
    if len(args) == 1 and cache[0] == src.shape:  # static slice of a source shaped as last time
        r = src[cache[1]]
        return (r if cache[2] is None else r.reshape(cache[2]),)
    o, s, st = _slices(op, args[1:])
    idx = _index(o, s, st, src.shape, op)
    r = src[idx]
    rshape = _slice_static(op)[5]
    reduced = None
    if len(rshape) != r.ndim:
        reduced = _reduced_shape(s, rshape)
        r = r.reshape(reduced)
    if len(args) == 1 and isinstance(src, np.ndarray):
        cache[:] = (src.shape, idx, reduced)
    return (r,)


def _reduced_shape(sizes, rshape):
    if DYNAMIC not in rshape:
        return tuple(rshape)
    # Rank-reducing with dynamic dims: drop unit sizes until ranks match.
    out = list(sizes)
    while len(out) > len(rshape):
        out.remove(1)
    return tuple(out)


def insert_slice_index(op, args) -> tuple:
    """The index of the destination elements a `tensor.insert_slice` writes."""
    o, s, st = _slices(op, args[2:])
    return _index(o, s, st, args[1].shape, op)


@impl("tensor.insert_slice")
def insert_slice(interp, op, args):
    src, dest = args[0], args[1]
    idx = insert_slice_index(op, args)
    r = np.array(dest, copy=True)
    r[idx] = np.reshape(src, [len(range(*sl.indices(dest.shape[k]))) for k, sl in enumerate(idx)])
    return (r,)


class _InPlaceInsert:
    """An ``insert_slice`` in an ``scf.for`` body whose destination is an
    iter_arg read by nothing else and whose result is only yielded back into
    that iter_arg: from the second iteration on, the destination is the array
    this op made in the previous iteration, which nobody else can see, so it
    is updated in place instead of copied."""

    __slots__ = ("iv_slot", "lower", "last")

    def __init__(self, iv_slot, lower):
        self.iv_slot = iv_slot
        self.lower = lower
        self.last = None

    def __call__(self, interp, op, args):
        src, dest = args[0], args[1]
        o, s, st = _slices(op, args[2:])
        idx = _index(o, s, st, dest.shape, op)
        if dest is self.last and interp.env[self.iv_slot] != self.lower and dest.flags.writeable:
            r = dest
        else:
            r = np.array(dest, copy=True)
        r[idx] = np.reshape(src, [len(range(*sl.indices(dest.shape[k]))) for k, sl in enumerate(idx)])
        self.last = r
        return (r,)


def in_place_loop_inserts(interp, steps, yield_slots, arg_slots):
    """Block rewriter: marks loop-carried ``insert_slice``s (see `_InPlaceInsert`)."""
    if not arg_slots or not any(op.name == "tensor.insert_slice" for _, op, _, _ in steps):
        return steps
    first = steps[0][1].ir.operation.parent
    if first is None or first.name != "scf.for" or len(arg_slots) != len(yield_slots) + 1:
        return steps
    lb_owner = first.operands[0].owner
    lb_op = getattr(lb_owner, "operation", lb_owner)
    if isinstance(lb_owner, ir.Block) or lb_op.name != "arith.constant":
        return steps
    lower = ir.IntegerAttr(lb_op.attributes["value"]).value
    reads: dict[int, int] = {}

    def count(op, ins):
        for s in ins:
            reads[s] = reads.get(s, 0) + 1
        for region in op.regions:
            for block in region.blocks:
                for s in block.yield_slots:
                    reads[s] = reads.get(s, 0) + 1
                for _, sub, sub_ins, _ in block.steps:
                    count(sub, sub_ins)

    for _, op, ins, _ in steps:
        count(op, ins)
    for s in yield_slots:
        reads[s] = reads.get(s, 0) + 1
    out = []
    for step in steps:
        fn, op, ins, outs = step
        if op.name == "tensor.insert_slice" and len(ins) >= 2 and len(outs) == 1:
            dest, res = ins[1], outs[0]
            k = yield_slots.index(res) if res in yield_slots else -1
            if (
                k >= 0
                and arg_slots[k + 1] == dest
                and reads.get(dest) == 1
                and reads.get(res) == 1
                and dest not in ins[2:]
                and ins[0] != dest
            ):
                step = (_InPlaceInsert(arg_slots[0], lower), op, ins, outs)
        out.append(step)
    return out


register_block_rewriter(in_place_loop_inserts)


def concat_dim(op) -> int:
    dim = op.static
    if dim is None:
        dim = op.static = ir.IntegerAttr(op.ir.attributes["dim"]).value
    return dim


@impl("tensor.concat")
def concat(interp, op, args):
    dim = concat_dim(op)
    joined = _adjacent_views(args, dim)
    if joined is not None:
        return (joined,)
    return (np.concatenate(args, axis=dim),)


def _adjacent_views(parts, dim):
    """The view that `parts` tile in order along `dim`, if they are adjacent
    views of one read-only array (e.g. the column tiles of a fused crossbar
    contraction), else None.  Read-only bases cannot change, so sharing them
    is as good as the copy `np.concatenate` makes."""
    first = parts[0] if parts else None
    if not isinstance(first, np.ndarray) or len(parts) < 2:
        return None
    base = first.base
    if base is None or not isinstance(base, np.ndarray) or base.flags.writeable:
        return None
    strides, shape = first.strides, list(first.shape)
    ptr = first.__array_interface__["data"][0]
    step = strides[dim]
    for p in parts[1:]:
        if (
            not isinstance(p, np.ndarray)
            or p.base is not base
            or p.dtype != first.dtype
            or p.strides != strides
            or p.shape[:dim] != first.shape[:dim]
            or p.shape[dim + 1 :] != first.shape[dim + 1 :]
            or p.__array_interface__["data"][0] != ptr + shape[dim] * step
        ):
            return None
        shape[dim] += p.shape[dim]
    joined = np.lib.stride_tricks.as_strided(first, shape=tuple(shape), strides=strides, writeable=False)
    # Stay inside the base's memory (as_strided does not check).
    lo, hi = np.byte_bounds(base) if hasattr(np, "byte_bounds") else np.lib.array_utils.byte_bounds(base)
    jlo, jhi = np.byte_bounds(joined) if hasattr(np, "byte_bounds") else np.lib.array_utils.byte_bounds(joined)
    return joined if lo <= jlo and jhi <= hi else None


@impl("tensor.expand_shape")
def expand_shape(interp, op, args):
    src = args[0]
    shape = op.static
    if shape is None:  # the static result shape, or the static_output_shape list when dynamic
        shape = tuple(op.result_types[0].shape)
        if DYNAMIC in shape:
            shape = list(ir.DenseI64ArrayAttr(op.ir.attributes["static_output_shape"]))
        op.static = shape
    if type(shape) is list:
        shape = mixed_values(shape, iter(args[1:]))
    return (src.reshape(shape) if type(src) is np.ndarray else np.reshape(src, shape),)


@impl("tensor.collapse_shape")
def collapse_shape(interp, op, args):
    src = args[0]
    st = op.static
    if st is None:  # [reassociation groups, (source shape, result shape) of the last call]
        grps = [[int(ir.IntegerAttr(i).value) for i in grp] for grp in op.ir.attributes["reassociation"]]
        st = op.static = [grps, None, None]
    sshape = np.shape(src)
    if st[1] != sshape:
        st[2] = tuple(math.prod(sshape[i] for i in grp) for grp in st[0])
        st[1] = sshape
    return (src.reshape(st[2]) if type(src) is np.ndarray else np.reshape(src, st[2]),)


@impl("tensor.reshape")
def reshape(interp, op, args):
    return (np.reshape(args[0], [int(v) for v in np.asarray(args[1]).ravel()]),)


@impl("tensor.cast")
def cast(interp, op, args):
    x = args[0]
    t = op.result_types[0]
    if isinstance(t, ir.RankedTensorType):
        for k, (s, d) in enumerate(zip(t.shape, x.shape)):
            if s != DYNAMIC and s != d:
                raise op.error(f"cast to {t} of a tensor of shape {x.shape}")
    return (x,)


@impl("tensor.dim")
def dim(interp, op, args):
    x, i = args
    i = int(i)
    if not 0 <= i < np.ndim(x):
        raise op.error(f"dimension {i} out of range for rank {np.ndim(x)}")
    return (int(np.shape(x)[i]),)


@impl("tensor.rank")
def rank(interp, op, args):
    return (int(np.ndim(args[0])),)


@impl("tensor.splat")
def splat(interp, op, args):
    v = args[0]
    t = op.result_types[0]
    return (np.full(static_shape(t, args[1:]), v, dtype=element_dtype(t)),)


@impl("tensor.extract")
def extract(interp, op, args):
    x = args[0]
    if any(np.ndim(i) for i in args[1:]):
        # Inside a linalg.generic body evaluated over whole arrays the indices
        # are arrays: a vectorized gather (embedding lookups).
        idx = tuple(np.asarray(i, dtype=np.int64) for i in args[1:])
        for k, i in enumerate(idx):
            if i.size and (i.min() < 0 or i.max() >= x.shape[k]):
                bad = int(i.min()) if i.min() < 0 else int(i.max())
                raise op.error(f"index {bad} out of bounds for dim {k} of size {x.shape[k]}")
        return (x[idx],)
    idx = tuple(int(i) for i in args[1:])
    check_index(op, idx, x.shape)
    return (x[idx],)


@impl("tensor.insert")
def insert(interp, op, args):
    v, dest = args[0], args[1]
    idx = tuple(int(i) for i in args[2:])
    check_index(op, idx, dest.shape)
    r = np.array(dest, copy=True)
    r[idx] = v
    return (r,)


@impl("tensor.from_elements")
def from_elements(interp, op, args):
    t = op.result_types[0]
    return (np.array(args, dtype=element_dtype(t)).reshape(tuple(t.shape)),)


@impl("tensor.generate")
def generate(interp, op, args):
    t = op.result_types[0]
    shape = static_shape(t, args)
    idx = list(np.indices(shape, sparse=True))
    (y,) = interp.run_block(op.regions[0].block, idx)
    return (np.broadcast_to(y, shape).astype(element_dtype(t), copy=False),)


@impl("tensor.pad")
def pad(interp, op, args):
    st = op.static
    if st is None:
        a = op.ir.attributes
        seg = list(ir.DenseI32ArrayAttr(a["operandSegmentSizes"]))
        block = op.regions[0].block
        if any(s in block.arg_slots for step in block.steps for s in step[2]) or any(
                s in block.arg_slots for s in block.yield_slots):
            raise op.error("padding values that depend on the index are not supported")
        st = op.static = (list(ir.DenseI64ArrayAttr(a["static_low"])), list(ir.DenseI64ArrayAttr(a["static_high"])),
                          seg)
    src = args[0]
    low, high = _padding(op, args)
    if any(v < 0 for v in low + high):
        raise op.error("negative padding is not supported")
    (value,) = interp.run_block(op.regions[0].block, [0] * src.ndim)
    shape = tuple(d + lo + hi for d, lo, hi in zip(src.shape, low, high))
    out = np.full(shape, value, dtype=src.dtype)
    out[tuple(slice(lo, lo + d) for lo, d in zip(low, src.shape))] = src
    return (out,)


def _padding(op, args) -> tuple[list[int], list[int]]:
    low_s, high_s, _ = op.static
    it = iter(args[1:])
    return mixed_values(low_s, it), mixed_values(high_s, it)


def pad_region(op, args) -> tuple:
    """The index of a (run) `tensor.pad`'s result elements that hold its source."""
    low, _ = _padding(op, args)
    return tuple(slice(lo, lo + d) for lo, d in zip(low, args[0].shape))


@impl("tensor.bitcast")
def bitcast(interp, op, args):
    return (np.asarray(args[0]).view(element_dtype(op.result_types[0])),)
