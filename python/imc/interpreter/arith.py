"""``arith`` dialect: elementwise on NumPy arrays or scalars, in the IR's types.

Every implementation works both on scalars (function bodies, ``scf`` loops) and
on whole arrays (``linalg.generic`` bodies evaluated over the iteration space).
Results keep the operand dtype: float32 stays float32, integer widths wrap.
"""

from __future__ import annotations

import numpy as np

from torch_mlir import ir

from .core import InterpreterError, element_dtype, impl

__all__ = ["decode_constant", "result_dtype"]


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


def _binary(name, fn):
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
    return _f


# ---------------------------------------------------------------- floats
_binary("arith.addf", np.add)
_binary("arith.subf", np.subtract)
_binary("arith.mulf", np.multiply)
_binary("arith.divf", np.true_divide)
_binary("arith.remf", np.fmod)
_binary("arith.maximumf", np.maximum)
_binary("arith.minimumf", np.minimum)
_binary("arith.maxnumf", np.fmax)
_binary("arith.minnumf", np.fmin)
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


_binary("arith.andi", lambda a, b: a & b)
_binary("arith.ori", lambda a, b: a | b)
_binary("arith.xori", lambda a, b: a ^ b)
_binary("arith.maxsi", np.maximum)
_binary("arith.minsi", np.minimum)
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
    9: lambda a, b: ~(a <= b),  # ugt
    10: lambda a, b: ~(a < b),  # uge
    11: lambda a, b: ~(a >= b),  # ult
    12: lambda a, b: ~(a > b),  # ule
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


@impl("arith.select")
def select(interp, op, args):
    c, a, b = args
    if isinstance(c, np.ndarray) and c.ndim > 0:
        return (np.where(c, a, b),)
    return (a if c else b,)


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
