"""``math`` dialect: elementwise transcendental functions, dtype-preserving.

``math.erf`` on float32 is a rational approximation evaluated in float32
(Eigen's and XLA's, clamped to [-4, 4]): within 8 ulp (5e-7 absolute) of the
exact value for normal float32 inputs, about 3x faster than SciPy's loop,
which computes in double.  float64 and other dtypes use ``scipy.special.erf``
(within an ulp).  Large arrays are split over a small thread pool, since
NumPy's and SciPy's loops release the GIL and erf is the most expensive
elementwise function of GELU models.  Ops implemented by a NumPy ufunc (and
``rsqrt``, ``erf``) register out kernels (see :mod:`.arith`) so that
``linalg.generic`` bodies can write them into dead temporaries.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import scipy.special

from .arith import OutKernel, register_out_kernel
from .core import impl

__all__ = ["erf"]

# Arrays with at least this many elements are split over the thread pool.
_PARALLEL_MIN_SIZE = 1 << 15
_N_THREADS = max(1, min(4, os.cpu_count() or 1))
_pool = None
_pool_lock = threading.Lock()


def _thread_pool():
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                from concurrent.futures import ThreadPoolExecutor

                _pool = ThreadPoolExecutor(max_workers=_N_THREADS, thread_name_prefix="imc-interp")
    return _pool


def parallel_unary(ufunc, x: np.ndarray, out: np.ndarray, min_size: int = _PARALLEL_MIN_SIZE) -> np.ndarray:
    """``ufunc(x, out=out)``, split into contiguous pieces over a thread pool.

    ``x`` and ``out`` must have the same shape; the result is the same, element
    for element, as one call (the ufunc is applied elementwise).  Arrays of
    fewer than ``min_size`` elements, non-contiguous arrays, and machines
    with one core use a single call.
    """
    n = x.size
    if (
        _N_THREADS < 2
        or n < min_size
        or not x.flags.c_contiguous
        or not out.flags.c_contiguous
        or x.shape != out.shape
    ):
        return ufunc(x, out=out)
    xf, of = x.reshape(-1), out.reshape(-1)
    k = _N_THREADS
    step = -(-n // k)
    pool = _thread_pool()
    futures = [pool.submit(ufunc, xf[i : i + step], out=of[i : i + step]) for i in range(step, n, step)]
    ufunc(xf[:step], out=of[:step])
    for f in futures:
        f.result()
    return out


# erf(x) ~ x * P(x^2) / Q(x^2) on [-4, 4] (outside it erf is +-1 in float32):
# Eigen's generic_fast_erf_float, highest power first.
_ERF_P = np.array([
    -2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
    -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02,
], np.float32)
_ERF_Q = np.array([
    -1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
    -1.42647390514189e-02,
], np.float32)
# Elements per step: the temporaries of one step stay in the L2 cache.  (Smaller
# steps lose more to the per-call overhead of NumPy than they gain in cache.)
_ERF_BLOCK = 1 << 18


def _horner(coeffs, x2, out):
    np.multiply(x2, coeffs[0], out=out)
    out += coeffs[1]
    for a in coeffs[2:]:
        out *= x2
        out += a
    return out


def erf_float32(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The float32 rational erf of a float32 array (``out`` may be ``x``)."""
    if out is None:
        out = np.empty(x.shape, np.float32)
    if not (x.flags.c_contiguous and out.flags.c_contiguous and x.shape == out.shape):
        out[...] = erf_float32(np.ascontiguousarray(np.broadcast_to(x, out.shape)))
        return out
    xf, of = x.reshape(-1), out.reshape(-1)
    n = xf.size
    tmp = np.empty((3, min(n, _ERF_BLOCK)), np.float32)
    for s in range(0, n, _ERF_BLOCK):
        e = min(n, s + _ERF_BLOCK)
        c, c2, q = tmp[0, : e - s], tmp[1, : e - s], tmp[2, : e - s]
        np.clip(xf[s:e], -4.0, 4.0, out=c)  # NaN stays NaN
        np.multiply(c, c, out=c2)
        p = _horner(_ERF_P, c2, of[s:e])  # x[s:e] is read already: out may alias it
        p *= c
        p /= _horner(_ERF_Q, c2, q)
    return out


def _dtype_of(x):
    return x.dtype if isinstance(x, (np.ndarray, np.generic)) else np.dtype(np.float64)


def erf(x, out: np.ndarray | None = None):
    """Vectorized error function; returns x's dtype (float32 stays float32).

    float32 uses :func:`erf_float32`, float64 SciPy's loop; other dtypes
    are evaluated in float64 and cast back.  With ``out`` (an array of x's dtype
    and broadcast shape, possibly ``x`` itself) the result is written there.
    """
    dt = _dtype_of(x)
    if not isinstance(x, np.ndarray):  # a scalar: the array function on a 0-d array
        r = erf(np.asarray(x, dtype=dt))
        if out is not None:
            out[...] = r
            return out
        return r[()]
    if dt not in (np.float32, np.float64):
        r = scipy.special.erf(x.astype(np.float64)).astype(dt)
        if out is not None:
            out[...] = r
            return out
        return r
    if out is None:
        out = np.empty(x.shape, dtype=dt)
    elif out.shape != x.shape:
        x = np.broadcast_to(x, out.shape)
    if dt == np.float32:
        return parallel_unary(erf_float32, x, out, min_size=_ERF_BLOCK)
    return parallel_unary(scipy.special.erf, x, out)


def _erfc(x):
    dt = _dtype_of(x)
    if dt in (np.float32, np.float64):
        return scipy.special.erfc(x)
    r = scipy.special.erfc(np.asarray(x, dtype=np.float64)).astype(dt)
    return r if isinstance(x, np.ndarray) else r[()]


def _rsqrt(x):
    s = np.sqrt(x)
    return np.reciprocal(s)


def _round_away(x):
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


def _same_dtype_kernel(fn):
    """Out-kernel factory for ``fn(*args, out=out)`` on operands of the result's float dtype."""

    def factory(op, in_dts, out_dt, fn=fn):
        if any(d != out_dt for d in in_dts) or out_dt.kind != "f":
            return None
        return OutKernel(lambda args, out: fn(*args, out=out), in_dts, out_dt)

    return factory


def _rsqrt_out(x, out):
    np.sqrt(x, out=out)
    return np.reciprocal(out, out=out)


_OUT_FNS = {"math.rsqrt": _rsqrt_out, "math.erf": lambda x, out: erf(x, out=out)}


def _unary(name, fn):
    @impl(name)
    def _f(interp, op, args, fn=fn):
        return (fn(args[0]),)

    _f.__name__ = name.replace(".", "_")
    out_fn = fn if isinstance(fn, np.ufunc) else _OUT_FNS.get(name)
    if out_fn is not None:
        register_out_kernel(name, _same_dtype_kernel(out_fn))


def _binary(name, fn):
    @impl(name)
    def _f(interp, op, args, fn=fn):
        return (fn(args[0], args[1]),)

    _f.__name__ = name.replace(".", "_")
    if isinstance(fn, np.ufunc) and name != "math.ipowi":
        register_out_kernel(name, _same_dtype_kernel(fn))


for _name, _fn in {
    "math.exp": np.exp,
    "math.exp2": np.exp2,
    "math.expm1": np.expm1,
    "math.log": np.log,
    "math.log2": np.log2,
    "math.log10": np.log10,
    "math.log1p": np.log1p,
    "math.tanh": np.tanh,
    "math.sinh": np.sinh,
    "math.cosh": np.cosh,
    "math.sin": np.sin,
    "math.cos": np.cos,
    "math.tan": np.tan,
    "math.asin": np.arcsin,
    "math.acos": np.arccos,
    "math.atan": np.arctan,
    "math.asinh": np.arcsinh,
    "math.acosh": np.arccosh,
    "math.atanh": np.arctanh,
    "math.sqrt": np.sqrt,
    "math.cbrt": np.cbrt,
    "math.rsqrt": _rsqrt,
    "math.erf": erf,
    "math.erfc": _erfc,
    "math.absf": np.abs,
    "math.absi": np.abs,
    "math.ceil": np.ceil,
    "math.floor": np.floor,
    "math.trunc": np.trunc,
    "math.round": _round_away,
    "math.roundeven": np.rint,
    "math.isnan": np.isnan,
    "math.isinf": np.isinf,
    "math.isfinite": np.isfinite,
}.items():
    _unary(_name, _fn)

for _name, _fn in {
    "math.powf": np.power,
    "math.atan2": np.arctan2,
    "math.copysign": np.copysign,
    "math.ipowi": np.power,
}.items():
    _binary(_name, _fn)


@impl("math.fpowi")
def fpowi(interp, op, args):
    x, n = args
    r = np.power(x, np.asarray(n).astype(_dtype_of(x)))
    return (r,)


@impl("math.fma")
def fma(interp, op, args):
    a, b, c = args
    return (a * b + c,)
