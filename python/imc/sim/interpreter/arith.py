"""``arith`` dialect: elementwise on NumPy arrays or scalars, in the IR's types.

Every implementation works both on scalars (function bodies, ``scf`` loops) and
on whole arrays (``linalg.generic`` bodies evaluated over the iteration space).
Results keep the operand dtype: float32 stays float32, integer widths wrap.

Ops whose array result can be written into an existing buffer also register an
*out kernel* (:func:`register_out_kernel`, :func:`out_kernel`): ``linalg.generic``
uses them to write body results into dead temporaries instead of allocating.
"""

from __future__ import annotations

import numpy as np

from typing import Callable

from torch_mlir import ir

from .core import CompiledOp, InterpreterError, element_dtype, impl, register_block_rewriter, slot_uses

__all__ = ["decode_constant", "result_dtype", "OutKernel", "register_out_kernel", "out_kernel"]


def decode_constant(interp, op):
    """Decode the ``value`` attribute of an ``arith.constant`` once.

    Scalars become NumPy scalars of the result type (``index`` -> Python int);
    ``DenseElementsAttr`` becomes an array via ``np.asarray``;
    ``dense_resource`` blobs are read from the module's resource section.
    """
    attr = op.attributes["value"]
    rtype = op.results[0].type
    if isinstance(attr, ir.FloatAttr):
        return element_dtype(rtype).type(attr.value)
    if isinstance(attr, ir.IntegerAttr):
        if isinstance(rtype, ir.IndexType):
            return int(attr.value)
        dt = element_dtype(rtype)
        v = attr.value
        if dt == np.bool_:
            return np.bool_(v & 1)
        return np.array(v).astype(dt)[()] if v < 0 and dt.kind == "u" else dt.type(v)
    if isinstance(attr, ir.BoolAttr):
        return np.bool_(attr.value)
    if isinstance(attr, ir.DenseElementsAttr):
        dt = element_dtype(rtype)
        arr = np.asarray(attr)
        shape = tuple(rtype.shape)
        if arr.shape != shape:
            arr = np.broadcast_to(arr.reshape(()), shape) if arr.size == 1 else arr.reshape(shape)
        arr = np.array(arr, dtype=dt, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        arr.flags.writeable = False
        return arr
    if str(attr).startswith("dense_resource"):
        arr = interp.resource_array(attr, rtype)
        return arr
    raise InterpreterError(f"error: cannot decode constant attribute {str(attr)[:80]}")


def result_dtype(op) -> np.dtype:
    """Cached NumPy dtype of the (element type of the) first result of ``op``."""
    st = op.static
    if st is None:
        st = op.static = element_dtype(op.result_types[0])
    return st


def _binary_impl(name, fn):
    @impl(name)
    def _f(interp, op, args, fn=fn):
        return (fn(args[0], args[1]),)

    _f.__name__ = name.replace(".", "_")
    return _f


def _unary(name, fn):
    @impl(name)
    def _f(interp, op, args, fn=fn):
        return (fn(args[0]),)

    _f.__name__ = name.replace(".", "_")
    if isinstance(fn, np.ufunc):
        register_out_kernel(name, _ufunc_out_kernel(fn))
    return _f


# ----------------------------------------------------------- out kernels


class OutKernel:
    """How to compute an op's array result into a given buffer.

    ``fn(args, out)`` writes into ``out`` exactly (bit for bit) what the op's
    ordinary implementation returns for ``args`` and returns ``out``.  Callers
    must only pass an ``out`` of dtype ``out_dtype`` whose shape is the
    broadcast shape of ``args``, with every argument an ``np.ndarray`` or
    ``np.generic`` of the matching dtype in ``in_dtypes``; ``out`` may be one
    of the arguments (same shape) but must share memory with no other live
    value.
    """

    __slots__ = ("fn", "in_dtypes", "out_dtype")

    def __init__(self, fn: Callable, in_dtypes: tuple, out_dtype: np.dtype):
        self.fn = fn
        self.in_dtypes = tuple(np.dtype(d) for d in in_dtypes)
        self.out_dtype = np.dtype(out_dtype)

    def __repr__(self) -> str:
        return f"OutKernel({getattr(self.fn, '__name__', self.fn)}, {self.in_dtypes} -> {self.out_dtype})"


# op name -> factory(op) -> OutKernel | None (None: not for these types).
_OUT_KERNELS: dict[str, Callable] = {}


def register_out_kernel(name: str, factory: Callable) -> None:
    """Register ``factory(op, in_dtypes, out_dtype) -> OutKernel | None`` for op ``name``.

    ``op`` is the :class:`CompiledOp`, the dtypes those of its operand and
    result types (scalar types only); None means no kernel for these types.
    """
    _OUT_KERNELS[name] = factory


def out_kernel(op) -> OutKernel | None:
    """The :class:`OutKernel` of compiled op ``op`` for its IR types, or None.

    None when the op has no out kernel, its operand or result types are not
    NumPy scalar types (index, vectors, ...), or the kernel does not apply to
    those types (e.g. ``arith.addi`` on ``i1``).
    """
    factory = _OUT_KERNELS.get(op.name)
    if factory is None or len(op.result_types) != 1:
        return None
    try:
        types = [v.type for v in op.ir.operands] + list(op.result_types)
        if any(isinstance(t, (ir.ShapedType, ir.IndexType)) for t in types):
            return None
        dts = [element_dtype(t) for t in types]
    except Exception:  # types NumPy cannot represent
        return None
    return factory(op, dts[:-1], dts[-1])


def _ufunc_out_kernel(ufunc, *, allow_bool=True):
    """Factory for ops implemented as ``ufunc(*args)`` on operands of one dtype."""

    def factory(op, in_dts, out_dt, ufunc=ufunc):
        if not allow_bool and out_dt == np.bool_:
            return None
        if any(d != out_dt for d in in_dts):
            return None
        if ufunc.nout != 1 or ufunc.nin != len(in_dts):
            return None
        return OutKernel(lambda args, out: ufunc(*args, out=out), in_dts, out_dt)

    return factory


def _binary(name, fn, ufunc=None):
    """Register ``fn(a, b)`` as ``name``; ``ufunc`` (same function) also as its out kernel."""
    _binary_impl(name, fn)
    if ufunc is not None:
        register_out_kernel(name, _ufunc_out_kernel(ufunc))


# ---------------------------------------------------------------- floats
_binary("arith.addf", np.add, np.add)
_binary("arith.subf", np.subtract, np.subtract)
_binary("arith.mulf", np.multiply, np.multiply)
_binary("arith.divf", np.true_divide, np.true_divide)
_binary("arith.remf", np.fmod, np.fmod)
_binary("arith.maximumf", np.maximum, np.maximum)
_binary("arith.minimumf", np.minimum, np.minimum)
_binary("arith.maxnumf", np.fmax, np.fmax)
_binary("arith.minnumf", np.fmin, np.fmin)
_unary("arith.negf", np.negative)


# -------------------------------------------------------------- integers
def _is_bool(x):
    return isinstance(x, (bool, np.bool_)) or (isinstance(x, np.ndarray) and x.dtype == np.bool_)


@impl("arith.addi")
def addi(interp, op, args):
    a, b = args
    if _is_bool(a):
        return (np.logical_xor(a, b),)
    return (a + b,)


@impl("arith.subi")
def subi(interp, op, args):
    a, b = args
    if _is_bool(a):
        return (np.logical_xor(a, b),)
    return (a - b,)


@impl("arith.muli")
def muli(interp, op, args):
    a, b = args
    if _is_bool(a):
        return (np.logical_and(a, b),)
    return (a * b,)


def _unsigned(x, op):
    """View ``x`` as the unsigned integer type of its width (Python ints: 64 bits)."""
    if not isinstance(x, (np.ndarray, np.generic)):
        x = np.int64(x)
    xd = x.dtype
    if xd.kind == "u" or xd == np.bool_:
        return x
    u = np.dtype(f"u{xd.itemsize}")
    return x.view(u) if isinstance(x, np.ndarray) else np.array(x).view(u)[()]


def _signed_like(r, like):
    if isinstance(like, int):
        return int(r)
    ld = like.dtype
    return r.view(ld) if isinstance(r, np.ndarray) else np.array(r).view(ld)[()]


def _trunc_div(a, b):
    q = a // b
    fix = (q < 0) & (q * b != a)
    if isinstance(q, np.ndarray):
        return q + fix.astype(q.dtype)
    return q + 1 if fix else q


for _n, _uf in (("arith.addi", np.add), ("arith.subi", np.subtract), ("arith.muli", np.multiply)):
    register_out_kernel(_n, _ufunc_out_kernel(_uf, allow_bool=False))  # i1 uses logical ops


@impl("arith.divsi")
def divsi(interp, op, args):
    a, b = args
    if np.any(np.asarray(b) == 0):
        raise op.error("integer division by zero")
    return (_trunc_div(a, b),)


@impl("arith.remsi")
def remsi(interp, op, args):
    a, b = args
    if np.any(np.asarray(b) == 0):
        raise op.error("integer remainder by zero")
    return (a - _trunc_div(a, b) * b,)


@impl("arith.floordivsi")
def floordivsi(interp, op, args):
    a, b = args
    if np.any(np.asarray(b) == 0):
        raise op.error("integer division by zero")
    return (a // b,)


@impl("arith.ceildivsi")
def ceildivsi(interp, op, args):
    a, b = args
    if np.any(np.asarray(b) == 0):
        raise op.error("integer division by zero")
    return (-((-a) // b),)


@impl("arith.divui")
def divui(interp, op, args):
    a, b = args
    if np.any(np.asarray(b) == 0):
        raise op.error("integer division by zero")
    return (_signed_like(_unsigned(a, op) // _unsigned(b, op), a),)


@impl("arith.remui")
def remui(interp, op, args):
    a, b = args
    if np.any(np.asarray(b) == 0):
        raise op.error("integer remainder by zero")
    return (_signed_like(_unsigned(a, op) % _unsigned(b, op), a),)


_binary("arith.andi", lambda a, b: a & b, np.bitwise_and)
_binary("arith.ori", lambda a, b: a | b, np.bitwise_or)
_binary("arith.xori", lambda a, b: a ^ b, np.bitwise_xor)
_binary("arith.maxsi", np.maximum, np.maximum)
_binary("arith.minsi", np.minimum, np.minimum)
_binary("arith.shli", lambda a, b: a << b)
_binary("arith.shrsi", lambda a, b: a >> b)


@impl("arith.shrui")
def shrui(interp, op, args):
    a, b = args
    return (_signed_like(_unsigned(a, op) >> _unsigned(b, op), a),)


@impl("arith.maxui")
def maxui(interp, op, args):
    a, b = args
    return (_signed_like(np.maximum(_unsigned(a, op), _unsigned(b, op)), a),)


@impl("arith.minui")
def minui(interp, op, args):
    a, b = args
    return (_signed_like(np.minimum(_unsigned(a, op), _unsigned(b, op)), a),)


# ----------------------------------------------------------- comparisons
def _not(r):
    """Logical not, in place for arrays (the operand is a fresh comparison result)."""
    return np.logical_not(r, out=r) if isinstance(r, np.ndarray) else ~r


# arith::CmpFPredicate values.
_CMPF = {
    0: lambda a, b: np.zeros(np.broadcast(a, b).shape, np.bool_)[()],  # false
    1: lambda a, b: a == b,  # oeq
    2: lambda a, b: a > b,  # ogt
    3: lambda a, b: a >= b,  # oge
    4: lambda a, b: a < b,  # olt
    5: lambda a, b: a <= b,  # ole
    6: lambda a, b: (a < b) | (a > b),  # one
    7: lambda a, b: ~(np.isnan(a) | np.isnan(b)),  # ord
    8: lambda a, b: ~((a < b) | (a > b)),  # ueq
    9: lambda a, b: _not(np.less_equal(a, b)),  # ugt
    10: lambda a, b: _not(np.less(a, b)),  # uge
    11: lambda a, b: _not(np.greater_equal(a, b)),  # ult
    12: lambda a, b: _not(np.greater(a, b)),  # ule
    13: lambda a, b: a != b,  # une
    14: lambda a, b: np.isnan(a) | np.isnan(b),  # uno
    15: lambda a, b: np.ones(np.broadcast(a, b).shape, np.bool_)[()],  # true
}


@impl("arith.cmpf")
def cmpf(interp, op, args):
    fn = op.static
    if fn is None:
        fn = op.static = _CMPF[ir.IntegerAttr(op.ir.attributes["predicate"]).value]
    return (fn(*args),)


# Out kernels of cmpf: (ufunc, negate) per predicate, e.g. ugt = not (a <= b).
_CMPF_OUT = {
    1: (np.equal, False), 2: (np.greater, False), 3: (np.greater_equal, False), 4: (np.less, False),
    5: (np.less_equal, False), 9: (np.less_equal, True), 10: (np.less, True), 11: (np.greater_equal, True),
    12: (np.greater, True), 13: (np.not_equal, False),
}


def _cmpf_out_kernel(op, in_dts, out_dt):
    p = ir.IntegerAttr(op.ir.attributes["predicate"]).value
    if p not in _CMPF_OUT or in_dts[0] != in_dts[1] or out_dt != np.bool_:
        return None
    ufunc, negate = _CMPF_OUT[p]
    if negate:
        def fn(args, out):
            ufunc(args[0], args[1], out=out)
            return np.logical_not(out, out=out)
    else:
        def fn(args, out):
            return ufunc(args[0], args[1], out=out)
    return OutKernel(fn, in_dts, out_dt)


register_out_kernel("arith.cmpf", _cmpf_out_kernel)

# arith::CmpIPredicate values.
_CMPI_SIGNED = {0: np.equal, 1: np.not_equal, 2: np.less, 3: np.less_equal, 4: np.greater, 5: np.greater_equal}
_CMPI_UNSIGNED = {6: np.less, 7: np.less_equal, 8: np.greater, 9: np.greater_equal}


@impl("arith.cmpi")
def cmpi(interp, op, args):
    st = op.static
    if st is None:
        p = ir.IntegerAttr(op.ir.attributes["predicate"]).value
        st = op.static = (p in _CMPI_UNSIGNED, _CMPI_SIGNED.get(p) or _CMPI_UNSIGNED[p])
    unsigned, fn = st
    a, b = args
    if unsigned:
        a, b = _unsigned(a, op), _unsigned(b, op)
    return (fn(a, b),)


_UINT_OF_SIZE = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
# Below this size np.where is cheaper than the five passes of the bitwise select.
_SELECT_BITWISE_MIN_SIZE = 4096


def _bits(x, u):
    return x.view(u) if isinstance(x, np.ndarray) else np.asarray(x).view(u)


def select_into(c, a, b, out):
    """``out[...] = np.where(c, a, b)``, bit for bit, by masking the bit patterns.

    Branch-free (np.where and masked copies are several times slower on
    unpredictable masks).  ``a``, ``b`` and ``out`` share one dtype, ``c`` is
    bool, all broadcast to ``out.shape``; ``out`` may be ``a`` or ``b``.
    """
    if a is b:
        if out is not a:
            np.copyto(out, a)
        return out
    if out.size < _SELECT_BITWISE_MIN_SIZE:
        np.copyto(out, np.where(c, a, b))
        return out
    u = _UINT_OF_SIZE[out.dtype.itemsize]
    m = np.asarray(c).astype(u)
    np.negative(m, out=m)  # 1 -> all ones
    r = out.view(u)
    if out is b:  # write a^b into b's buffer: select from ~c so that a is the base
        np.invert(m, out=m)
        a, b = b, a
    bv = _bits(b, u)
    np.bitwise_xor(_bits(a, u), bv, out=r)
    np.bitwise_and(r, m, out=r)
    np.bitwise_xor(r, bv, out=r)
    return out


@impl("arith.select")
def select(interp, op, args):
    c, a, b = args
    if isinstance(c, np.ndarray) and c.ndim > 0:
        da, db = np.asarray(a).dtype, np.asarray(b).dtype
        if c.size >= _SELECT_BITWISE_MIN_SIZE and da == db and da.itemsize in _UINT_OF_SIZE and \
                isinstance(a, (np.ndarray, np.generic)) and isinstance(b, (np.ndarray, np.generic)):
            out = np.empty(np.broadcast_shapes(c.shape, np.shape(a), np.shape(b)), da)
            return (select_into(c, a, b, out),)
        return (np.where(c, a, b),)
    return (a if c else b,)


def _select_out(args, out):
    c, a, b = args
    if not isinstance(c, np.ndarray):
        np.copyto(out, a if c else b)
        return out
    return select_into(c, a, b, out)


def _select_out_kernel(op, in_dts, out_dt):
    if in_dts[0] != np.bool_ or in_dts[1] != out_dt or in_dts[2] != out_dt or out_dt.itemsize not in _UINT_OF_SIZE:
        return None
    return OutKernel(_select_out, in_dts, out_dt)


register_out_kernel("arith.select", _select_out_kernel)


def _cmpi_out_kernel(op, in_dts, out_dt):
    p = ir.IntegerAttr(op.ir.attributes["predicate"]).value
    if p not in _CMPI_SIGNED or in_dts[0] != in_dts[1] or out_dt != np.bool_:
        return None
    return OutKernel(lambda args, out, ufunc=_CMPI_SIGNED[p]: ufunc(args[0], args[1], out=out), in_dts, out_dt)


register_out_kernel("arith.cmpi", _cmpi_out_kernel)


# ----------------------------------------------------------------- casts
def _cast(interp, op, args):
    dt = result_dtype(op)
    x = args[0]
    if isinstance(x, np.ndarray):
        return (x.astype(dt),)
    if dt == np.int64 and isinstance(op.result_types[0], ir.IndexType):
        return (int(x),)
    return (dt.type(x),)


for _n in ("arith.extf", "arith.truncf", "arith.sitofp", "arith.fptosi", "arith.extsi", "arith.trunci",
           "arith.index_cast"):
    impl(_n)(_cast)


def _cast_unsigned_src(interp, op, args):
    x = args[0]
    if _is_bool(x):
        return _cast(interp, op, args)
    if isinstance(x, int):
        return _cast(interp, op, args)
    return _cast(interp, op, [_unsigned(x, op)])


for _n in ("arith.extui", "arith.uitofp", "arith.index_castui"):
    impl(_n)(_cast_unsigned_src)


@impl("arith.fptoui")
def fptoui(interp, op, args):
    dt = result_dtype(op)
    x = args[0]
    u = np.dtype(f"u{dt.itemsize}") if dt.kind == "i" else dt
    r = np.asarray(x).astype(u).view(dt) if dt != np.bool_ else np.asarray(x).astype(dt)
    return (r if isinstance(x, np.ndarray) else r[()],)


@impl("arith.bitcast")
def bitcast(interp, op, args):
    dt = result_dtype(op)
    x = args[0]
    r = np.asarray(x).view(dt)
    return (r if isinstance(x, np.ndarray) else r[()],)


# ------------------------------------------------ fast path: max through select
#
# `%c = arith.cmpf ugt, %x, %k; %r = arith.select %c, %x, %k` (ReLU and other
# lower clamps, the compare used only by the select) is `np.maximum(%x, %k)`
# bit for bit on floats where %k is not NaN: a NaN %x propagates (ugt is true
# for NaN, so the select gives %x) and on ties NumPy's maximum returns its
# second operand (%k, as the select does, including the sign of zero). Where
# %k is NaN the select gives %x, which is patched in. One pass, no mask.

MAX_SELECT = "interp.max_select"
_UGT = 9


def _max_keep(x, k, out=None):
    nan_k = np.isnan(k)
    if not nan_k.any():
        return np.maximum(x, k, out=out)
    r = np.where(nan_k, x, np.maximum(x, k))  # (before writing `out`, which may be x)
    if out is None:
        return r if isinstance(r, np.ndarray) and r.ndim else r[()]
    out[...] = r
    return out


def _max_select(interp, op, args):
    x, k = args
    return (_max_keep(x, k),)


def fuse_max_selects(interp, steps, yield_slots, arg_slots=()):
    """Block rewriter: cmpf ugt + select of the same operands -> one maximum."""
    producer = {outs[0]: i for i, (_, op, _, outs) in enumerate(steps) if op.name == "arith.cmpf" and len(outs) == 1}
    if not producer:
        return steps
    uses = slot_uses(steps, yield_slots)
    drop, replace = set(), {}
    for j, (_, op, ins, outs) in enumerate(steps):
        if op.name != "arith.select" or len(ins) != 3:
            continue
        i = producer.get(ins[0])
        if i is None or i > j or uses.get(ins[0]) != [j]:
            continue
        cmp = steps[i]
        if cmp[2] != ins[1:] or ir.IntegerAttr(cmp[1].ir.attributes["predicate"]).value != _UGT:
            continue
        if element_dtype(op.result_types[0]).kind != "f":
            continue
        fused = CompiledOp(MAX_SELECT, op.ir, [])
        drop.add(i)
        replace[j] = (_max_select, fused, list(ins[1:]), list(outs))
    if not replace:
        return steps
    return [replace.get(j, st) for j, st in enumerate(steps) if j not in drop]


def _max_select_kernel(op, in_dts, out_dt):
    x_dt, k_dt = in_dts[1], in_dts[2]  # (the select's operands: condition, x, k)
    if x_dt != out_dt or k_dt != out_dt or out_dt.kind != "f":
        return None
    return OutKernel(lambda args, out: _max_keep(args[0], args[1], out=out), (x_dt, k_dt), out_dt)


register_out_kernel(MAX_SELECT, _max_select_kernel)

register_block_rewriter(fuse_max_selects)
