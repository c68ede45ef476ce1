"""Elementwise evaluation in the reference interpreter: `linalg.generic` bodies
that recycle dead temporaries (out kernels), the bitwise `arith.select`, and
the threaded `math.erf`, all compared bit for bit with a plain NumPy
evaluation that allocates every intermediate."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special
from torch_mlir import ir

from imc.sim.interpreter import Interpreter
from imc.sim.interpreter.arith import select_into
import imc.sim.interpreter.math as imc_math
from imc.sim.interpreter.math import erf, erf_float32, parallel_unary


def _parse(text):
    ctx = ir.Context()
    ctx.allow_unregistered_dialects = True
    with ctx, ir.Location.unknown():
        return ir.Module.parse(text)


def _bits(x):
    x = np.ascontiguousarray(x)
    return x.view(np.uint8) if x.dtype != np.bool_ else x


def _assert_same_bits(got, want):
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_array_equal(_bits(got), _bits(want))


class _Recorder:
    """Hooks recording op names and the ids of their array results."""

    def __init__(self):
        self.names = []
        self.result_ids = []

    def on_op(self, op, args, results):
        self.names.append(op.name)
        self.result_ids.append([id(r) for r in results if isinstance(r, np.ndarray)])


# ------------------------------------------------------------ fixed bodies

_GELU = """
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @main(%x: tensor<64x600xf32>, %bias: tensor<600xf32>) -> (tensor<64x600xf32>, tensor<64x600xf32>) {
  %e = tensor.empty() : tensor<64x600xf32>
  %r:2 = linalg.generic {indexing_maps = [#id, #row, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %bias : tensor<64x600xf32>, tensor<600xf32>) outs(%e, %e : tensor<64x600xf32>, tensor<64x600xf32>) {
  ^bb0(%a: f32, %b: f32, %o0: f32, %o1: f32):
    %half = arith.constant 0.5 : f32
    %rs2 = arith.constant 0.707106769 : f32
    %one = arith.constant 1.0 : f32
    %bb = arith.mulf %b, %b : f32
    %y = arith.addf %a, %bb : f32
    %h = arith.mulf %y, %half : f32
    %s = arith.mulf %y, %rs2 : f32
    %f = math.erf %s : f32
    %g = arith.addf %f, %one : f32
    %out = arith.mulf %h, %g : f32
    %sq = arith.mulf %out, %out : f32
    %z = arith.subf %sq, %y : f32
    linalg.yield %z, %out : f32, f32
  } -> (tensor<64x600xf32>, tensor<64x600xf32>)
  return %r#0, %r#1 : tensor<64x600xf32>, tensor<64x600xf32>
}
"""


def _gelu_ref(x, bias):
    f32 = np.float32
    bb = bias * bias
    y = x + bb[None, :]
    h = y * f32(0.5)
    s = y * f32(0.707106769)
    g = erf_float32(s) + f32(1.0)  # the float32 erf (its accuracy: test_erf_accuracy)
    out = h * g
    return out * out - y, out


def test_gelu_body_recycles_temporaries_and_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 600)).astype(np.float32)
    bias = rng.standard_normal(600).astype(np.float32)
    x0, b0 = x.copy(), bias.copy()
    rec = _Recorder()
    interp = Interpreter(_parse(_GELU), hooks=rec)
    z, out = interp.run("main", [x, bias])
    zr, outr = _gelu_ref(x, bias)
    _assert_same_bits(z, zr)
    _assert_same_bits(out, outr)
    # Inputs are never written.
    _assert_same_bits(x, x0)
    _assert_same_bits(bias, b0)
    # Every body op is reported to hooks, once per execution.
    body = ["arith.mulf", "arith.addf", "arith.mulf", "arith.mulf", "math.erf", "arith.addf", "arith.mulf",
            "arith.mulf", "arith.subf"]
    assert rec.names == ["tensor.empty"] + body + ["linalg.generic"]
    # Temporaries were recycled: fewer distinct full-size buffers than body ops.
    ids = [i for ids in rec.result_ids[1:-1] for i in ids]
    assert len(set(ids)) < len(ids)
    # A second run (same compiled plan) gives the same bits.
    z2, out2 = interp.run("main", [x, bias])
    _assert_same_bits(z2, zr)
    _assert_same_bits(out2, outr)


_ALIASING = """
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%x: tensor<3x5xf32>, %w: tensor<3x5xf32>) -> (tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xi32>) {
  %e = tensor.empty() : tensor<3x5xf32>
  %ei = tensor.empty() : tensor<3x5xi32>
  %r:3 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %w : tensor<3x5xf32>, tensor<3x5xf32>) outs(%e, %e, %ei : tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xi32>) {
  ^bb0(%a: f32, %b: f32, %o0: f32, %o1: f32, %o2: i32):
    %t = arith.mulf %a, %a : f32
    %tt = arith.mulf %t, %t : f32
    %bits = arith.bitcast %tt : f32 to i32
    %u = arith.addf %tt, %b : f32
    %v = arith.negf %u : f32
    %n = arith.negf %a : f32
    %k = arith.subf %v, %n : f32
    linalg.yield %k, %u, %bits : f32, f32, i32
  } -> (tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xi32>)
  return %r#0, %r#1, %r#2 : tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xi32>
}
"""


def test_aliasing_block_args_values_used_twice_yielded_and_viewed():
    # %t is used twice by one op; %tt is read by a bitcast (a view) and must
    # survive; %u is yielded and also read later; the block argument %a dies
    # at %n but is an input, never overwritten.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    x0, w0 = x.copy(), w.copy()
    k, u, bits = Interpreter(_parse(_ALIASING)).run("main", [x, w])
    t = x * x
    tt = t * t
    ur = tt + w
    _assert_same_bits(u, ur)
    _assert_same_bits(k, -ur - (-x))
    _assert_same_bits(bits, tt.view(np.int32))
    _assert_same_bits(x, x0)
    _assert_same_bits(w, w0)


_INTS = """
#id = affine_map<(d0) -> (d0)>
func.func @main(%a: tensor<7xi32>, %b: tensor<7xi32>, %p: tensor<7xi1>) -> (tensor<7xi32>, tensor<7xi1>, tensor<7xi8>) {
  %e = tensor.empty() : tensor<7xi32>
  %eb = tensor.empty() : tensor<7xi1>
  %e8 = tensor.empty() : tensor<7xi8>
  %r:3 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #id, #id], iterator_types = ["parallel"]}
      ins(%a, %b, %p : tensor<7xi32>, tensor<7xi32>, tensor<7xi1>) outs(%e, %eb, %e8 : tensor<7xi32>, tensor<7xi1>, tensor<7xi8>) {
  ^bb0(%x: i32, %y: i32, %q: i1, %o0: i32, %o1: i1, %o2: i8):
    %big = arith.constant 2147483647 : i32
    %true = arith.constant true
    %s = arith.addi %x, %big : i32
    %m = arith.muli %s, %y : i32
    %d = arith.subi %m, %x : i32
    %mx = arith.maxsi %d, %y : i32
    %lt = arith.cmpi slt, %mx, %x : i32
    %nq = arith.xori %q, %true : i1
    %sum = arith.addi %lt, %nq : i1
    %both = arith.andi %sum, %q : i1
    %sel = arith.select %both, %mx, %s : i32
    %t8 = arith.trunci %sel : i32 to i8
    %sel8 = arith.select %lt, %t8, %t8 : i8
    linalg.yield %sel, %sum, %sel8 : i32, i1, i8
  } -> (tensor<7xi32>, tensor<7xi1>, tensor<7xi8>)
  return %r#0, %r#1, %r#2 : tensor<7xi32>, tensor<7xi1>, tensor<7xi8>
}
"""


def test_integer_and_i1_bodies_wrap_like_numpy():
    a = np.array([0, 1, -1, 5, -7, 2**31 - 1, -(2**31)], np.int32)
    b = np.array([3, -2, 9, 0, 1, 2, -1], np.int32)
    p = np.array([1, 0, 1, 1, 0, 1, 0], np.bool_)
    sel, s1, sel8 = Interpreter(_parse(_INTS)).run("main", [a, b, p])
    with np.errstate(over="ignore"):
        s = a + np.int32(2**31 - 1)
        m = s * b
        d = m - a
    mx = np.maximum(d, b)
    lt = mx < a
    summ = np.logical_xor(lt, ~p)
    both = summ & p
    ref = np.where(both, mx, s)
    _assert_same_bits(sel, ref)
    _assert_same_bits(s1, summ)
    _assert_same_bits(sel8, ref.astype(np.int8))


_SOFTMAX_SUM = """
#id = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> (d0)>
func.func @main(%x: tensor<8x300xf32>, %m: tensor<8xf32>, %init: tensor<8xf32>) -> tensor<8xf32> {
  %r = linalg.generic {indexing_maps = [#id, #red, #red], iterator_types = ["parallel", "reduction"]}
      ins(%x, %m : tensor<8x300xf32>, tensor<8xf32>) outs(%init : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %d = arith.subf %a, %b : f32
    %e = math.exp %d : f32
    %ee = arith.mulf %e, %e : f32
    %s = arith.addf %ee, %acc : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}
"""


def test_reduction_body_temporaries():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 300)).astype(np.float32)
    m = x.max(axis=1)
    init = rng.standard_normal(8).astype(np.float32)
    (r,) = Interpreter(_parse(_SOFTMAX_SUM)).run("main", [x, m, init])
    e = np.exp(x - m[:, None])
    ee = e * e
    ref = init + np.add.reduce(ee, axis=1, dtype=np.float32)
    _assert_same_bits(r, ref)


# --------------------------------------------------------- random bodies

_F32_OPS = ["arith.addf", "arith.subf", "arith.mulf", "arith.maximumf", "arith.minimumf", "arith.divf"]
_UNARY = {"arith.negf": np.negative, "math.exp": np.exp, "math.erf": erf_float32, "math.absf": np.abs,
          "math.rsqrt": lambda v: np.reciprocal(np.sqrt(v))}
_BINARY = {"arith.addf": np.add, "arith.subf": np.subtract, "arith.mulf": np.multiply, "arith.maximumf": np.maximum,
           "arith.minimumf": np.minimum, "arith.divf": np.true_divide}
_CMP = {"ogt": np.greater, "ole": np.less_equal, "ugt": lambda a, b: ~(a <= b), "ult": lambda a, b: ~(a >= b),
        "oeq": np.equal}


def _random_body(rng, n_ops):
    """MLIR text of a 2-D parallel generic with a random elementwise body, and a NumPy evaluator."""
    # Block args: %a0 full (R, C), %a1 row-broadcast (C,), %a2 column-broadcast (R,), %a3 full.
    ops = []  # (text, fn(values) -> value)
    names = ["%a0", "%a1", "%a2", "%a3", "%c0", "%c1"]
    consts = {"%c0": np.float32(0.0), "%c1": np.float32(-1.5)}
    kinds = []
    for k in range(n_ops):
        r = rng.random()
        pick = lambda: names[int(rng.integers(len(names)))]  # noqa: E731
        name = f"%v{k}"
        if r < 0.45:
            op = _F32_OPS[int(rng.integers(len(_F32_OPS)))]
            x, y = pick(), pick()
            if rng.random() < 0.15:
                y = x  # the same value twice
            ops.append((f"{name} = {op} {x}, {y} : f32", ("bin", op, x, y)))
        elif r < 0.7:
            op = list(_UNARY)[int(rng.integers(len(_UNARY)))]
            x = pick()
            ops.append((f"{name} = {op} {x} : f32", ("un", op, x)))
        else:
            pred = list(_CMP)[int(rng.integers(len(_CMP)))]
            x, y, a, b = pick(), pick(), pick(), pick()
            ops.append((f"{name}c = arith.cmpf {pred}, {x}, {y} : f32", ("cmp", pred, x, y)))
            ops.append((f"{name} = arith.select {name}c, {a}, {b} : f32", ("sel", f"{name}c", a, b)))
        names.append(name)
        kinds.append(name)
    yields = [names[-1], kinds[int(rng.integers(len(kinds)))]]
    return ops, consts, yields


def _eval_body(ops, consts, yields, args):
    env = dict(consts)
    env.update({"%a0": args[0], "%a1": args[1][None, :], "%a2": args[2][:, None], "%a3": args[3]})
    with np.errstate(all="ignore"):
        for text, spec in ops:
            name = text.split(" = ")[0]
            if spec[0] == "bin":
                env[name] = _BINARY[spec[1]](env[spec[2]], env[spec[3]])
            elif spec[0] == "un":
                env[name] = np.asarray(_UNARY[spec[1]](env[spec[2]])).astype(np.float32)
            elif spec[0] == "cmp":
                env[name] = _CMP[spec[1]](env[spec[2]], env[spec[3]])
            else:
                env[name] = np.where(env[spec[1]], env[spec[2]], env[spec[3]])
    shape = args[0].shape
    return [np.broadcast_to(env[y], shape).astype(np.float32) for y in yields]


def _module_text(ops, yields, shape):
    rr, cc = shape
    t = f"tensor<{rr}x{cc}xf32>"
    body = "\n    ".join(text for text, _ in ops)
    return f"""
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
#col = affine_map<(d0, d1) -> (d0)>
func.func @main(%x: {t}, %r: tensor<{cc}xf32>, %c: tensor<{rr}xf32>, %w: {t}) -> ({t}, {t}) {{
  %e = tensor.empty() : {t}
  %res:2 = linalg.generic {{indexing_maps = [#id, #row, #col, #id, #id, #id], iterator_types = ["parallel", "parallel"]}}
      ins(%x, %r, %c, %w : {t}, tensor<{cc}xf32>, tensor<{rr}xf32>, {t}) outs(%e, %e : {t}, {t}) {{
  ^bb0(%a0: f32, %a1: f32, %a2: f32, %a3: f32, %o0: f32, %o1: f32):
    %c0 = arith.constant 0.0 : f32
    %c1 = arith.constant -1.5 : f32
    {body}
    linalg.yield {yields[0]}, {yields[1]} : f32, f32
  }} -> ({t}, {t})
  return %res#0, %res#1 : {t}, {t}
}}
"""


@pytest.mark.parametrize("seed", range(40))
def test_random_bodies_match_numpy_bit_for_bit(seed):
    rng = np.random.default_rng(100 + seed)
    shape = (5, 7) if seed % 4 else (48, 700)  # every 4th: large enough for the threaded erf
    ops, consts, yields = _random_body(rng, int(rng.integers(3, 14)))
    args = [
        rng.standard_normal(shape).astype(np.float32),
        rng.standard_normal(shape[1]).astype(np.float32),
        rng.standard_normal(shape[0]).astype(np.float32),
        rng.standard_normal(shape).astype(np.float32),
    ]
    # Special values: NaN, infinities and signed zeros.
    args[0].flat[:4] = [np.nan, np.inf, -0.0, 0.0]
    args[3].flat[:3] = [-np.inf, -0.0, np.nan]
    saved = [a.copy() for a in args]
    with np.errstate(all="ignore"):
        got = Interpreter(_parse(_module_text(ops, yields, shape))).run("main", args)
    want = _eval_body(ops, consts, yields, saved)
    for g, w in zip(got, want):
        _assert_same_bits(g, w)
    for a, s in zip(args, saved):
        _assert_same_bits(a, s)


# ------------------------------------------------------ select and erf


@pytest.mark.parametrize("shape", [(6, 9), (64, 70)])  # below and above the bitwise threshold
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int64, np.bool_, np.float16])
def test_select_into_is_np_where_bit_for_bit(dtype, shape):
    rng = np.random.default_rng(3)
    if dtype == np.bool_:
        a, b = rng.random(shape) < 0.5, rng.random(shape) < 0.5
    else:
        a = (rng.standard_normal(shape) * 50).astype(dtype)
        b = (rng.standard_normal(shape) * 50).astype(dtype)
        if np.dtype(dtype).kind == "f":
            a.flat[:3] = [np.nan, -0.0, np.inf]
            b.flat[:3] = [-0.0, np.nan, -np.inf]
    c = rng.random(shape) < 0.5
    ref = np.where(c, a, b)
    _assert_same_bits(select_into(c, a, b, np.empty(shape, dtype)), ref)
    # Into one of its operands, with the other one a broadcast row or a scalar.
    for out_is_a in (True, False):
        aa, bb = a.copy(), b.copy()
        out = aa if out_is_a else bb
        _assert_same_bits(select_into(c, aa, bb, out), ref)
    row = b[:1]
    _assert_same_bits(select_into(c, a.copy(), row, np.empty(shape, dtype)), np.where(c, a, row))
    aa = a.copy()
    _assert_same_bits(select_into(c, row, aa, aa), np.where(c, row, a))
    s = b.flat[5]
    _assert_same_bits(select_into(c, a, s, np.empty(shape, dtype)), np.where(c, a, s))
    # The same array on both sides.
    aa = a.copy()
    _assert_same_bits(select_into(c, aa, aa, aa), a)


def test_erf_threaded_matches_one_call():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((600, 513)) * 3).astype(np.float32)  # above the threading threshold, odd size
    assert x.size > imc_math._ERF_BLOCK
    want = erf_float32(x)  # one call, one thread
    _assert_same_bits(erf(x), want)
    y = x.copy()
    assert erf(y, out=y) is y
    _assert_same_bits(y, want)
    # Non-contiguous input; float64 is SciPy's.
    _assert_same_bits(erf(x[:, ::2]), erf_float32(np.ascontiguousarray(x[:, ::2])))
    xd = x.astype(np.float64)
    _assert_same_bits(erf(xd), scipy.special.erf(xd))
    # Scalars keep their type and get the array's value; float16 is evaluated
    # in float64 and rounded.
    assert isinstance(erf(np.float32(0.5)), np.float32)
    assert erf(np.float32(0.5)) == erf_float32(np.array([0.5], np.float32))[0]
    h = x[:4, :4].astype(np.float16)
    _assert_same_bits(erf(h), scipy.special.erf(h.astype(np.float64)).astype(np.float16))


def test_parallel_unary_covers_every_element():
    for n in (1 << 15, (1 << 15) + 1, 100003):
        x = np.arange(n, dtype=np.float64)
        out = np.full(n, np.nan)
        parallel_unary(np.negative, x, out)
        _assert_same_bits(out, -x)


# ------------------------------------------------- (value, index) reductions

_ARGRED = """
#x = affine_map<(d0, d1, d2) -> ({xmap})>
#o = affine_map<(d0, d1, d2) -> ({omap})>
func.func @main(%x: tensor<{xshape}x{t}>, %v0: tensor<{oshape}x{t}>, %i0: tensor<{oshape}xi64>) -> (tensor<{oshape}x{t}>, tensor<{oshape}xi64>) {{
  %r:2 = linalg.generic {{indexing_maps = [#x, #o, #o], iterator_types = [{its}]}}
      ins(%x : tensor<{xshape}x{t}>) outs(%v0, %i0 : tensor<{oshape}x{t}>, tensor<{oshape}xi64>) {{
  ^bb0(%in: {t}, %out: {t}, %out_i: i64):
    %k = linalg.index {k} : index
    %ki = arith.index_cast %k : index to i64
    %m = {comb} {m_args} : {t}
    %c = {cmp} {c_args} : {t}
    %s = arith.select %c, %ki, %out_i : i64
    linalg.yield %m, %s : {t}, i64
  }} -> (tensor<{oshape}x{t}>, tensor<{oshape}xi64>)
  return %r#0, %r#1 : tensor<{oshape}x{t}>, tensor<{oshape}xi64>
}}
"""


@pytest.mark.parametrize(
    "comb,cmp,t,swap,cswap",
    [
        ("arith.maximumf", "arith.cmpf ogt,", "f32", False, False),
        ("arith.maximumf", "arith.cmpf oge,", "f32", True, False),
        ("arith.maximumf", "arith.cmpf olt,", "f32", False, True),
        ("arith.minimumf", "arith.cmpf olt,", "f32", False, False),
        ("arith.maxnumf", "arith.cmpf ugt,", "f32", True, False),
        ("arith.maxsi", "arith.cmpi sgt,", "i32", False, False),
    ],
)
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("dead_index", [False, True])
def test_value_index_reduction_matches_sequential_loop(comb, cmp, t, swap, cswap, k, dead_index, monkeypatch):
    """Both results match the loop; with the index result unused (softmax's
    max), the values still do, computed without the indices."""
    import imc.sim.interpreter.linalg as linalg

    dims = ["d0", "d1", "d2"]
    shape = [3, 50, 6]
    oshape = [s for d, s in enumerate(shape) if d != k]
    text = _ARGRED.format(
        xmap=", ".join(dims), omap=", ".join(d for i, d in enumerate(dims) if i != k),
        xshape="x".join(map(str, shape)), oshape="x".join(map(str, oshape)), t=t,
        its=", ".join('"reduction"' if i == k else '"parallel"' for i in range(3)), k=k, comb=comb, cmp=cmp,
        m_args="%out, %in" if swap else "%in, %out", c_args="%out, %in" if cswap else "%in, %out",
    )
    if dead_index:
        lines = text.splitlines()
        lines[3] = lines[3].split(") -> (")[0] + f") -> tensor<{'x'.join(map(str, oshape))}x{t}> {{"
        ret = next(i for i, line in enumerate(lines) if line.startswith("  return"))
        lines[ret] = f"  return %r#0 : tensor<{'x'.join(map(str, oshape))}x{t}>"
        text = "\n".join(lines)
    rng = np.random.default_rng(5)
    if t == "f32":
        x = rng.integers(-4, 4, shape).astype(np.float32)  # many ties
        x[0, :3] = np.nan
        x[1, 5] = np.inf
        v0 = np.full(oshape, -np.inf, np.float32)
        v0[2, 0] = np.nan
    else:
        x = rng.integers(-4, 4, shape).astype(np.int32)
        v0 = np.full(oshape, -(2**31), np.int32)
    i0 = rng.integers(-3, 3, oshape).astype(np.int64)
    module = _parse(text)
    fast = Interpreter(module)
    got = fast.run("main", [x, v0, i0])
    plan = [op for _, op, _, _ in fast._get_compiled("main").body.steps if op.name == "linalg.generic"][0].static
    assert plan.kind == "argreduce"
    assert plan.index_dead == dead_index
    monkeypatch.setattr(linalg, "_plan_arg_reduction", lambda *a: None)
    slow = Interpreter(module)
    want = slow.run("main", [x, v0, i0])
    assert [op for _, op, _, _ in slow._get_compiled("main").body.steps if op.name == "linalg.generic"][
        0].static.kind == "sequential"
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


# -- cmpf ugt + select -> maximum (arith.fuse_max_selects) -------------------------


def _relu_like_module(dtype="f32"):
    return f"""
#map = affine_map<(d0) -> (d0)>
func.func @main(%x: tensor<64x{dtype}>, %k: tensor<64x{dtype}>) -> (tensor<64x{dtype}>, tensor<64x{dtype}>) {{
  %zero = arith.constant 0.0 : {dtype}
  %e = tensor.empty() : tensor<64x{dtype}>
  %relu = linalg.generic {{indexing_maps = [#map, #map], iterator_types = ["parallel"]}}
      ins(%x : tensor<64x{dtype}>) outs(%e : tensor<64x{dtype}>) {{
  ^bb0(%in: {dtype}, %out: {dtype}):
    %c = arith.cmpf ugt, %in, %zero : {dtype}
    %r = arith.select %c, %in, %zero : {dtype}
    linalg.yield %r : {dtype}
  }} -> tensor<64x{dtype}>
  %clamp = linalg.generic {{indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]}}
      ins(%x, %k : tensor<64x{dtype}>, tensor<64x{dtype}>) outs(%e : tensor<64x{dtype}>) {{
  ^bb0(%in: {dtype}, %kk: {dtype}, %out: {dtype}):
    %c = arith.cmpf ugt, %in, %kk : {dtype}
    %r = arith.select %c, %in, %kk : {dtype}
    linalg.yield %r : {dtype}
  }} -> tensor<64x{dtype}>
  return %relu, %clamp : tensor<64x{dtype}>, tensor<64x{dtype}>
}}
"""


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_max_select_is_bit_exact(dtype):
    """ReLU's cmpf ugt + select runs as one maximum: the same bits, including
    NaN (in x and in the bound), infinities and the sign of zero on ties."""
    from imc.sim.interpreter import Interpreter

    npdt = np.float32 if dtype == "f32" else np.float64
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0], npdt)
    x = np.tile(specials, 8)
    k = np.repeat(specials, 8)  # every pair of specials
    ctx = ir.Context()
    with ctx, ir.Location.unknown():
        m = ir.Module.parse(_relu_like_module(dtype))
        fast = Interpreter(m).run("main", [x, k])
        slow = Interpreter(m, fast_paths=False).run("main", [x, k])
        steps = Interpreter(m)
        steps.run("main", [x, k])
        body = steps._compiled["main"].body.steps
    ref_relu = np.where(~(x <= 0.0), x, npdt(0.0))  # ugt: not (x <= 0), NaN included
    ref_clamp = np.where(~(x <= k), x, k)
    for got, want in ((fast[0], ref_relu), (fast[1], ref_clamp), (slow[0], ref_relu), (slow[1], ref_clamp)):
        assert got.dtype == npdt
        assert np.array_equal(got.view(np.int64 if dtype == "f64" else np.int32), want.view(np.int64 if dtype == "f64" else np.int32))
    names = [s[1].name for st in body if st[1].regions for s in st[1].regions[0].block.steps]
    assert "interp.max_select" in names and "arith.cmpf" not in names
