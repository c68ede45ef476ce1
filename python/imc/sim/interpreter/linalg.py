"""``linalg`` dialect: named ops and ``linalg.generic`` over whole arrays.

``linalg.generic`` is never evaluated element by element.  Each operand is
viewed in the *iteration space* (one axis per loop dimension, in loop order;
broadcast dimensions have size 1) through its indexing map, and the body is
run **once** with these arrays as block arguments, so arith/math ops in the
body dispatch to the ordinary scalar/array implementations.  Reductions are
recognised from the yielded expression:

* ``yield combine(x, %out)`` with ``combine`` one of addf/addi/mulf/muli/
  maximumf/minimumf/maxnumf/minnumf/maxsi/minsi/andi/ori/xori and ``x``
  independent of the accumulators: ``x`` is evaluated over the full iteration
  space and reduced with the matching NumPy ufunc; when ``x = mulf(%a, %b)``
  of two inputs the contraction is done with a single ``np.einsum``;
* a value and its index over one reduction dimension (``max`` with indices:
  ``yield combine(%x, %out0), select(cmp(%x, %out0), index_cast(linalg.index
  k), %out1)``): the running values are computed one slab of the parallel
  dimensions per reduction step, the index is the last position where the
  comparison with the running value before it holds (vectorized).  Equal to
  the sequential loop; body ops are not reported to hooks;
* anything else: the body is run once per point of the *reduction*
  sub-space, each time over whole arrays of the parallel dimensions.

Indexing maps may contain dimensions and constants (projected permutations,
broadcasts, ``0`` for unit dims).  Ops on memrefs write into their output
buffers and return nothing.

Body temporaries are recycled (:class:`_BodyProgram`): an op with an out
kernel (see :mod:`.arith`) writes its result into a temporary of the same
shape and dtype that an earlier out-kernel op of this execution produced and
that is dead (its last use was this op or an earlier one), instead of
allocating; values read by ops without out kernels, yielded values, block
arguments and values defined outside the body are never overwritten.  The
results are bit for bit those of evaluating each op on its own.  Hooks see
every body op, but the arrays they are passed for body temporaries may be
overwritten by later body ops of the same execution.
"""

from __future__ import annotations

import itertools

import numpy as np

from torch_mlir import ir

from .arith import out_kernel
from .core import impl

# ------------------------------------------------------------------ helpers


def _decode_map(amap, op) -> list[tuple[str, int]]:
    """Results of an affine map as ``('d', k)`` / ``('c', value)`` pairs."""
    out = []
    for r in amap.results:
        if isinstance(r, ir.AffineDimExpr):
            out.append(("d", r.position))
        elif isinstance(r, ir.AffineConstantExpr):
            out.append(("c", r.value))
        else:
            raise op.error(f"unsupported indexing map result '{r}' in map {amap}")
    return out


def _iter_transform(results, n):
    """Static recipe turning an operand array into its iteration-space view."""
    const_idx = None
    if any(kind == "c" for kind, _ in results):
        const_idx = tuple(v if kind == "c" else slice(None) for kind, v in results)
    dims = [v for kind, v in results if kind == "d"]
    if len(set(dims)) != len(dims):
        return None  # repeated dimension (diagonal access): not supported
    order = sorted(dims)
    perm = tuple(dims.index(d) for d in order)
    if perm == tuple(range(len(perm))):
        perm = None
    present = set(dims)
    expand = tuple(slice(None) if k in present else None for k in range(n))
    if len(present) == n:
        expand = None
    return const_idx, perm, expand


def _to_iter(a, t):
    if not isinstance(a, np.ndarray):
        return a
    const_idx, perm, expand = t
    if const_idx is not None:
        a = a[const_idx]
    if perm is not None:
        a = a.transpose(perm)
    if expand is not None:
        a = a[expand]
    return a


def _out_transform(results, n):
    """Permutation taking an iteration-space array to the output's axis order."""
    dims = [v for kind, v in results if kind == "d"]
    rest = [k for k in range(n) if k not in dims]
    perm = tuple(dims + rest)
    return None if perm == tuple(range(n)) else perm


def _from_iter(y, perm, keep_shape, out_shape, dtype):
    """Broadcast ``y`` to ``keep_shape``, reorder to the output layout, reshape."""
    if not isinstance(y, np.ndarray) or y.shape != keep_shape:
        y = np.broadcast_to(y, keep_shape)
    if perm is not None:
        y = y.transpose(perm)
    if y.shape != out_shape:
        y = y.reshape(out_shape)
    if y.dtype != dtype:
        y = y.astype(dtype)
    return y


_COMBINERS = {
    "arith.addf": np.add,
    "arith.addi": np.add,
    "arith.mulf": np.multiply,
    "arith.muli": np.multiply,
    "arith.maximumf": np.maximum,
    "arith.minimumf": np.minimum,
    "arith.maxnumf": np.fmax,
    "arith.minnumf": np.fmin,
    "arith.maxsi": np.maximum,
    "arith.minsi": np.minimum,
    "arith.andi": np.bitwise_and,
    "arith.ori": np.bitwise_or,
    "arith.xori": np.bitwise_xor,
}


def _emit(op, outs, values):
    """Return ``values`` as results (tensors) or write them into ``outs`` (memrefs)."""
    if op.result_types:
        return values
    for o, v in zip(outs, values):
        o[...] = v
    return ()


def _attr_ints(op, name, default):
    a = op.ir.attributes[name] if name in op.ir.attributes else None
    if a is None:
        return list(default)
    return [int(v) for v in np.asarray(a).ravel()] if isinstance(a, ir.DenseElementsAttr) else [int(v) for v in a]


def _dtype_of_output(op, outs, k=0):
    o = outs[k]
    return o.dtype if isinstance(o, np.ndarray) else np.asarray(o).dtype


# ------------------------------------------------------------ linalg.generic


class _BodyProgram:
    """Steps of a ``linalg.generic`` body run over whole arrays, recycling dead temporaries.

    ``live_out`` are the slots read after the steps (yielded or reduced
    values): they are never overwritten.  :meth:`create` returns None when the
    body has steps this analysis cannot see through (regions, fused steps).
    """

    __slots__ = ("steps", "arg_slots", "kernels", "producer", "cands", "frees")

    @classmethod
    def create(cls, steps, arg_slots, live_out) -> "_BodyProgram | None":
        kernels = []
        for _, cop, _, outs in steps:
            if cop.regions or getattr(cop.static, "reads", None):
                return None
            kernels.append(out_kernel(cop) if len(outs) == 1 else None)
        producer = {}
        for k, (_, _, _, outs) in enumerate(steps):
            if kernels[k] is not None:
                producer[outs[0]] = k
        # Temporaries that may be recycled: produced by an out kernel, read by
        # out kernels only, not read after the steps.
        last = {s: k for s, k in producer.items()}
        reusable = set(producer) - set(live_out)
        for k, (_, _, ins, _) in enumerate(steps):
            for s in ins:
                if s in producer:
                    last[s] = k
                    if kernels[k] is None:
                        reusable.discard(s)
        prog = cls()
        prog.steps = steps
        prog.arg_slots = arg_slots
        prog.kernels = kernels
        prog.producer = producer
        prog.cands = [tuple(dict.fromkeys(s for s in ins if s in reusable and last[s] == k))
                      for k, (_, _, ins, _) in enumerate(steps)]
        prog.frees = [tuple(s for s in reusable if last[s] == k) for k in range(len(steps))]
        if not any(prog.frees):
            return None  # nothing to recycle: the ordinary block execution is as good
        return prog

    def run(self, interp, vals) -> None:
        """Bind ``vals`` to the block arguments and execute the steps in the current frame."""
        env = interp.env
        for s, v in zip(self.arg_slots, vals):
            env[s] = v
        on_op = interp._on_op
        owned = [False] * len(self.steps)
        producer = self.producer
        pool = []
        for k, (fn, op, ins, outs) in enumerate(self.steps):
            args = [env[i] for i in ins]
            kern = self.kernels[k]
            try:
                shape = _kernel_shape(kern, args) if kern is not None else None
                if shape:
                    out = None
                    for s in self.cands[k]:
                        if owned[producer[s]]:
                            v = env[s]
                            if v.shape == shape and v.dtype == kern.out_dtype:
                                out = v
                                break
                    if out is None and pool:
                        for j, v in enumerate(pool):
                            if v.shape == shape and v.dtype == kern.out_dtype:
                                out = pool.pop(j)
                                break
                    if out is None:
                        out = np.empty(shape, kern.out_dtype)
                    res = (kern.fn(args, out),)
                    owned[k] = True
                else:
                    res = fn(interp, op, args)
            except Exception as e:
                raise op.failure(e)
            for i, r in zip(outs, res):
                env[i] = r
            for s in self.frees[k]:
                if owned[producer[s]]:
                    v = env[s]
                    if v is not res[0]:
                        pool.append(v)
            if on_op is not None and (op.hooked if op.hooked is not None else interp.hooks_want(op)):
                on_op(op, args, res)


def _kernel_shape(kern, args):
    """Broadcast shape of ``args`` if they fit ``kern``'s dtypes and are not all scalars, else None."""
    shape = None
    for a, dt in zip(args, kern.in_dtypes):
        if type(a) is np.ndarray:
            if a.dtype != dt:
                return None
            sh = a.shape
            if shape is None or shape == sh:
                shape = sh
            else:
                shape = np.broadcast_shapes(shape, sh)
        elif isinstance(a, np.generic):
            if a.dtype != dt:
                return None
        else:
            return None
    return shape


class _GenericPlan:
    __slots__ = (
        "n", "red", "n_in", "n_out", "in_t", "out_perm", "dim_src", "kind", "steps", "x_slots",
        "combiners", "einsum", "uses_index", "keep_red", "program", "argred", "index_dead",
    )


def _find_dim_sources(maps, n, op):
    src = [None] * n
    for i, res in enumerate(maps):
        for p, (kind, v) in enumerate(res):
            if kind == "d" and src[v] is None:
                src[v] = (i, p)
    if any(s is None for s in src):
        raise op.error("cannot infer loop bounds: a dimension appears in no indexing map")
    return src


def _plan_generic(op, n_in, n_out, maps, iterator_types, body, uses_index):
    n = len(iterator_types)
    plan = _GenericPlan()
    plan.n = n
    plan.red = tuple(k for k, t in enumerate(iterator_types) if t == "reduction")
    plan.n_in, plan.n_out = n_in, n_out
    plan.in_t = []
    for res in maps:
        t = _iter_transform(res, n)
        if t is None:
            raise op.error("indexing maps with a repeated dimension are not supported")
        plan.in_t.append(t)
    plan.out_perm = [_out_transform(res, n) for res in maps[n_in:]]
    plan.dim_src = _find_dim_sources(maps, n, op)
    plan.uses_index = uses_index
    plan.steps = body.steps
    plan.x_slots = None
    plan.combiners = None
    plan.einsum = None
    plan.program = None
    plan.argred = None
    plan.index_dead = False
    if not plan.red:
        plan.kind = "parallel"
        plan.program = _BodyProgram.create(body.steps, body.arg_slots, body.yield_slots)
        return plan
    # Reduction: look for `yield combine(x, %out_i)` for every output.
    arg_slots = body.arg_slots
    out_slots = arg_slots[n_in:]
    producer = {}
    users: dict[int, int] = {}
    for idx, (fn, cop, ins, outs) in enumerate(body.steps):
        for s in outs:
            producer[s] = idx
        for s in ins:
            users[s] = users.get(s, 0) + 1
    skip = set()
    x_slots, combiners = [], []
    ok = True
    for i in range(n_out):
        y = body.yield_slots[i]
        idx = producer.get(y)
        if idx is None or body.yield_slots.count(y) != 1 or users.get(y, 0) != 0:
            ok = False
            break
        fn, cop, ins, outs = body.steps[idx]
        comb = _COMBINERS.get(cop.name)
        o = out_slots[i]
        if comb is None or len(ins) != 2 or o not in ins or users.get(o, 0) != 1 or ins[0] == ins[1]:
            ok = False
            break
        x = ins[1] if ins[0] == o else ins[0]
        if x in out_slots:
            ok = False
            break
        skip.add(idx)
        x_slots.append(x)
        combiners.append(comb)
    if ok:
        plan.kind = "reduce"
        plan.steps = [s for k, s in enumerate(body.steps) if k not in skip]
        plan.x_slots = x_slots
        plan.combiners = combiners
        # Contraction of two inputs: einsum.
        if (
            n_out == 1
            and combiners[0] is np.add
            and len(plan.steps) == 1
            and plan.steps[0][1].name in ("arith.mulf", "arith.muli")
            and plan.steps[0][3][0] == x_slots[0]
            and all(s in arg_slots[:n_in] for s in plan.steps[0][2])
            and not uses_index
            and n <= 52
        ):
            letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            a_slot, b_slot = plan.steps[0][2]
            ia, ib = arg_slots.index(a_slot), arg_slots.index(b_slot)
            if all(k == "d" for k, _ in maps[ia]) and all(k == "d" for k, _ in maps[ib]) and \
                    all(k == "d" for k, _ in maps[n_in]):
                sa = "".join(letters[v] for _, v in maps[ia])
                sb = "".join(letters[v] for _, v in maps[ib])
                so = "".join(letters[v] for _, v in maps[n_in])
                plan.einsum = (ia, ib, f"{sa},{sb}->{so}")
        if plan.einsum is None:
            plan.program = _BodyProgram.create(plan.steps, arg_slots[:n_in], x_slots)
        return plan
    plan.kind = "sequential"
    plan.steps = body.steps
    plan.argred = _plan_arg_reduction(body, n_in, n_out, plan.red)
    if plan.argred is not None:
        plan.kind = "argreduce"
        # A tensor index result that nothing uses (softmax's max keeps only
        # the values) is not computed.
        index_result = 1 - plan.argred[0]
        results = op.ir.results
        plan.index_dead = len(results) == n_out and not any(True for _ in results[index_result].uses)
    return plan


def _plan_arg_reduction(body, n_in, n_out, red):
    """Recognise a (value, index) reduction over one dimension; see the module docstring.

    Returns ``(value_out, x_input, combiner, combiner_x_first, cmp_fn, cmp_op, cmp_x_first)`` or None.
    """
    if n_out != 2 or len(red) != 1 or len(body.steps) not in (4, 5):
        return None
    prod = {}
    for fn, cop, ins, outs in body.steps:
        if len(outs) != 1 or cop.regions:
            return None
        prod[outs[0]] = (fn, cop, ins)
    in_slots, out_slots = body.arg_slots[:n_in], body.arg_slots[n_in:]
    for vi in (0, 1):
        ii = 1 - vi
        pv, pi = prod.get(body.yield_slots[vi]), prod.get(body.yield_slots[ii])
        if pv is None or pi is None or pi[1].name != "arith.select" or len(pv[2]) != 2:
            continue
        comb = _COMBINERS.get(pv[1].name)
        a, b = pv[2]
        if comb is None or {a, b} & set(out_slots) != {out_slots[vi]} or a == b:
            continue
        x = a if b == out_slots[vi] else b
        if x not in in_slots:
            continue
        c, t, f = pi[2]
        pc = prod.get(c)
        if f != out_slots[ii] or pc is None or pc[1].name not in ("arith.cmpf", "arith.cmpi") or \
                sorted(pc[2]) != sorted([x, out_slots[vi]]):
            continue
        used = [body.yield_slots[vi], body.yield_slots[ii], c, t]
        pt = prod.get(t)
        if pt is not None and pt[1].name in ("arith.index_cast", "arith.index_castui"):
            used.append(pt[2][0])
            pt = prod.get(pt[2][0])
        if pt is None or pt[1].name != "linalg.index" or len(set(used)) != len(body.steps):
            continue
        if ir.IntegerAttr(pt[1].ir.attributes["dim"]).value != red[0]:
            continue
        return (vi, in_slots.index(x), comb, a == x, pc[0], pc[1], pc[2][0] == x)
    return None


def _run_arg_reduction(interp, plan, ins, outs, bounds):
    """Values and indices of an ``argreduce`` plan, in iteration space (reduced dim kept, size 1)."""
    vi, xi, comb, comb_x_first, cmp_fn, cmp_op, x_first = plan.argred
    ii = 1 - vi
    k = plan.red[0]
    n_in = plan.n_in
    keep = tuple(1 if d == k else b for d, b in enumerate(bounds))
    x = _to_iter(ins[xi], plan.in_t[xi])
    if np.shape(x) != bounds:
        x = np.broadcast_to(x, bounds)
    v0 = np.broadcast_to(_to_iter(outs[vi], plan.in_t[n_in + vi]), keep)
    i0 = np.broadcast_to(_to_iter(outs[ii], plan.in_t[n_in + ii]), keep)
    r = bounds[k]
    if r == 0:
        return [v0, i0] if vi == 0 else [i0, v0]
    if plan.index_dead:
        # Only the values are used: one reduction; the index result keeps its init.
        red = comb.reduce(x, axis=k, keepdims=True, dtype=x.dtype)
        val = comb(red, v0) if comb_x_first else comb(v0, red)
        return [val, i0] if vi == 0 else [i0, val]
    # Running values, one whole slab of the other dimensions per step (in the
    # body's operand order, so signed zeros and NaNs come out as in the loop).
    xm = np.ascontiguousarray(np.moveaxis(x, k, 0))
    run = np.empty((r + 1,) + xm.shape[1:], np.result_type(x, v0))
    run[0] = np.moveaxis(v0, k, 0)[0]
    for i in range(r):
        if comb_x_first:
            comb(xm[i], run[i], out=run[i + 1])
        else:
            comb(run[i], xm[i], out=run[i + 1])
    prev, val = run[:r], np.moveaxis(run[r:], 0, k)
    (hit,) = cmp_fn(interp, cmp_op, [xm, prev] if x_first else [prev, xm])
    hit = np.broadcast_to(hit, xm.shape)
    last = np.moveaxis((r - 1) - np.argmax(hit[::-1], axis=0, keepdims=True), 0, k)
    idx = np.where(np.moveaxis(hit.any(axis=0, keepdims=True), 0, k), last.astype(i0.dtype), i0)
    return [val, idx] if vi == 0 else [idx, val]


def _index_arrays(bounds):
    n = len(bounds)
    out = []
    for k, b in enumerate(bounds):
        shape = [1] * n
        shape[k] = b
        out.append(np.arange(b, dtype=np.int64).reshape(shape))
    return out


@impl("linalg.generic")
def generic(interp, op, args):
    plan = op.static
    if plan is None:
        g = op.ir
        maps = [_decode_map(ir.AffineMapAttr(a).value, op) for a in g.attributes["indexing_maps"]]
        its = [str(a).split("<")[-1].rstrip(">") for a in g.attributes["iterator_types"]]
        seg = list(ir.DenseI32ArrayAttr(g.attributes["operandSegmentSizes"]))
        body = op.regions[0].block
        uses_index = any(s[1].name == "linalg.index" for s in body.steps)
        plan = op.static = _plan_generic(op, seg[0], seg[1], maps, its, body, uses_index)
    n_in, n_out, n = plan.n_in, plan.n_out, plan.n
    ins, outs = args[:n_in], args[n_in:]
    # Loop bounds from operand shapes.
    bounds = tuple(np.shape(args[i])[p] for i, p in plan.dim_src)
    out_dtypes = [_dtype_of_output(op, outs, k) for k in range(n_out)]
    out_shapes = [np.shape(o) for o in outs]
    saved_index = interp.linalg_index
    if plan.uses_index:
        interp.linalg_index = _index_arrays(bounds)
    try:
        if plan.kind == "parallel":
            vals = [_to_iter(a, t) for a, t in zip(args, plan.in_t)]
            if plan.program is not None:
                plan.program.run(interp, vals)
                ys = [interp.env[s] for s in op.regions[0].block.yield_slots]
            else:
                ys = interp.run_block(op.regions[0].block, vals)
            res = [
                _from_iter(y, plan.out_perm[k], bounds, out_shapes[k], out_dtypes[k]) for k, y in enumerate(ys)
            ]
            return _emit(op, outs, res)
        keep = tuple(1 if k in plan.red else b for k, b in enumerate(bounds))
        if plan.kind == "reduce":
            if plan.einsum is not None:
                ia, ib, spec = plan.einsum
                r = np.einsum(spec, ins[ia], ins[ib], optimize=True)
                r = np.add(outs[0], r).astype(out_dtypes[0], copy=False)
                return _emit(op, outs, [r])
            vals = [_to_iter(a, t) for a, t in zip(ins, plan.in_t)]
            env = interp.env
            if plan.program is not None:
                plan.program.run(interp, vals)
            else:
                for s, v in zip(op.regions[0].block.arg_slots, vals):
                    env[s] = v
                interp.exec_steps(plan.steps)
            res = []
            for k in range(n_out):
                x = env[plan.x_slots[k]]
                comb = plan.combiners[k]
                if not isinstance(x, np.ndarray) or x.shape != bounds:
                    x = np.broadcast_to(x, bounds)
                red = comb.reduce(x, axis=plan.red, keepdims=True, dtype=x.dtype)
                init = _to_iter(outs[k], plan.in_t[n_in + k])
                r = comb(init, red)
                res.append(_from_iter(r, plan.out_perm[k], keep, out_shapes[k], out_dtypes[k]))
            return _emit(op, outs, res)
        if plan.kind == "argreduce":
            res = _run_arg_reduction(interp, plan, ins, outs, bounds)
            res = [_from_iter(a, plan.out_perm[k], keep, out_shapes[k], out_dtypes[k]) for k, a in enumerate(res)]
            return _emit(op, outs, res)
        # Sequential over the reduction sub-space, vectorized over parallel dims.
        vals = [_to_iter(a, t) for a, t in zip(ins, plan.in_t)]
        accs = [_to_iter(o, t) for o, t in zip(outs, plan.in_t[n_in:])]
        block = op.regions[0].block
        red_ranges = [range(bounds[k]) for k in plan.red]
        idx_arrays = interp.linalg_index
        for point in itertools.product(*red_ranges):
            sl = [slice(None)] * n
            for k, r in zip(plan.red, point):
                sl[k] = slice(r, r + 1)
            cur = []
            for v in vals:
                if isinstance(v, np.ndarray) and v.ndim == n:
                    cur.append(v[tuple(s if v.shape[k] != 1 else slice(None) for k, s in enumerate(sl))])
                else:
                    cur.append(v)
            if plan.uses_index:
                lst = list(idx_arrays)
                for k, r in zip(plan.red, point):
                    lst[k] = r
                interp.linalg_index = lst
            accs = interp.run_block(block, cur + accs)
        res = [_from_iter(a, plan.out_perm[k], keep, out_shapes[k], out_dtypes[k]) for k, a in enumerate(accs)]
        return _emit(op, outs, res)
    finally:
        interp.linalg_index = saved_index


@impl("linalg.index")
def index(interp, op, args):
    dim = op.static
    if dim is None:
        dim = op.static = ir.IntegerAttr(op.ir.attributes["dim"]).value
    idx = interp.linalg_index
    if idx is None:
        raise op.error("linalg.index outside of a linalg op body")
    return (idx[dim],)


# ---------------------------------------------------------------- named ops


@impl("linalg.fill")
def fill(interp, op, args):
    v, out = args
    if op.result_types:
        return (np.full(out.shape, v, dtype=out.dtype),)
    out[...] = v
    return ()


@impl("linalg.copy")
def copy(interp, op, args):
    x, out = args
    return _emit(op, [out], [np.asarray(x).astype(out.dtype, copy=False)])


@impl("linalg.transpose")
def transpose(interp, op, args):
    perm = op.static
    if perm is None:
        perm = op.static = tuple(ir.DenseI64ArrayAttr(op.ir.attributes["permutation"]))
    x, out = args
    return _emit(op, [out], [np.transpose(x, perm).astype(out.dtype, copy=False)])


@impl("linalg.broadcast")
def broadcast(interp, op, args):
    dims = op.static
    if dims is None:
        dims = op.static = tuple(ir.DenseI64ArrayAttr(op.ir.attributes["dimensions"]))
    x, out = args
    x = np.asarray(x)
    x = np.expand_dims(x, dims) if dims else x
    r = np.broadcast_to(x, out.shape).astype(out.dtype, copy=False)
    return _emit(op, [out], [r])


def _blas_ready(x):
    """Copy ``x`` unless its trailing 2-D slices are BLAS-compatible (row- or column-major).

    NumPy's matmul silently falls back to a slow non-BLAS loop for other strides.
    """
    if x.ndim < 2:
        return x
    it = x.itemsize
    s0, s1 = x.strides[-2], x.strides[-1]
    m, n = x.shape[-2], x.shape[-1]
    if (s1 == it and s0 >= n * it) or (s0 == it and s1 >= m * it):
        return x
    return np.ascontiguousarray(x)


def _matmul_like(op, args, fn):
    a, b, c = args
    dt = c.dtype
    a = _blas_ready(a.astype(dt, copy=False))
    b = _blas_ready(b.astype(dt, copy=False))
    r = fn(a, b)
    r += c
    return _emit(op, [c], [r])


def _matmul_plan(spec):
    """For an einsum ``spec`` that is a (batch) matmul up to operand transposes,
    ``(perm_a, perm_b)``: the axes orders that make the operands batch x M x K
    and batch x K x N for ``np.matmul``; else None."""
    ins, c = spec.split("->")
    a, b = ins.split(",")
    k = [x for x in a if x in b and x not in c]
    batch = [x for x in c if x in a and x in b]
    m = [x for x in a if x in c and x not in b]
    n = [x for x in b if x in c and x not in a]
    if len(k) != 1 or len(m) != 1 or len(n) != 1 or len(set(a + b + c)) != len(batch) + 3:
        return None
    if c != "".join(batch) + m[0] + n[0] or len(a) != len(batch) + 2 or len(b) != len(batch) + 2:
        return None
    want_a, want_b = "".join(batch) + m[0] + k[0], "".join(batch) + k[0] + n[0]
    return tuple(a.index(x) for x in want_a), tuple(b.index(x) for x in want_b)


def _maps_matmul(op, args):
    """matmul/batch_matmul carrying explicit ``indexing_maps``: ``np.matmul`` on
    transposed views when the maps are a (batch) matmul up to transposes (the
    default maps are), else einsum."""
    static = op.static
    if static is None:
        letters = "abcdefghijklmnopqrstuvwxyz"
        maps = [_decode_map(ir.AffineMapAttr(a).value, op) for a in op.ir.attributes["indexing_maps"]]
        if any(k != "d" for m in maps for k, _ in m):
            raise op.error("constant indexing map results are not supported for contractions")
        parts = ["".join(letters[v] for _, v in m) for m in maps]
        spec = f"{parts[0]},{parts[1]}->{parts[2]}"
        static = op.static = (spec, _matmul_plan(spec))
    spec, plan = static
    a, b, c = args
    dt = c.dtype
    a, b = a.astype(dt, copy=False), b.astype(dt, copy=False)
    if plan is not None:
        r = np.matmul(_blas_ready(a.transpose(plan[0])), _blas_ready(b.transpose(plan[1])))
        r += c
        return _emit(op, [c], [r])
    r = np.einsum(spec, a, b, optimize=True)
    return _emit(op, [c], [np.add(c, r).astype(dt, copy=False)])


def _contraction(name, fn):
    @impl(name)
    def _f(interp, op, args, fn=fn):
        if "indexing_maps" in op.ir.attributes:
            return _maps_matmul(op, args)
        return _matmul_like(op, args, fn)

    _f.__name__ = name.replace(".", "_")


_contraction("linalg.matmul", np.matmul)
_contraction("linalg.batch_matmul", np.matmul)
_contraction("linalg.matmul_transpose_a", lambda a, b: np.matmul(a.T, b))
_contraction("linalg.matmul_transpose_b", lambda a, b: np.matmul(a, b.T))
_contraction("linalg.batch_matmul_transpose_a", lambda a, b: np.matmul(a.transpose(0, 2, 1), b))
_contraction("linalg.batch_matmul_transpose_b", lambda a, b: np.matmul(a, b.transpose(0, 2, 1)))
_contraction("linalg.matvec", lambda a, b: np.matmul(a, b))
_contraction("linalg.vecmat", lambda a, b: np.matmul(a, b))
_contraction("linalg.batch_matvec", lambda a, b: np.einsum("bij,bj->bi", a, b))
_contraction("linalg.dot", lambda a, b: np.asarray(np.dot(a, b)))
_contraction("linalg.batch_reduce_matmul", lambda a, b: np.matmul(a, b).sum(axis=0))


# ------------------------------------------------------------ convolutions


def _out_size(size, k, s, d):
    return (size - d * (k - 1) - 1) // s + 1


def _out_hw(h, wd, kh, kw, strides, dilations, out):
    """The output's spatial size: `out` (the init operand's, which is what
    linalg iterates over) when given, else the largest that fits the input.

    An input may be larger than the windows need: Torch-MLIR pads
    `ceil_mode` pooling generously (29 -> 31 for a 3x3/2 window) and the
    output shape, not the input's, decides the window count.
    """
    if out is None:
        return _out_size(h, kh, strides[0], dilations[0]), _out_size(wd, kw, strides[1], dilations[1])
    oh, ow = (int(d) for d in out)
    for o, size, k, s, d, axis in ((oh, h, kh, strides[0], dilations[0], "H"), (ow, wd, kw, strides[1], dilations[1], "W")):
        if o > 0 and (o - 1) * s + d * (k - 1) + 1 > size:
            raise ValueError(
                f"output {axis} size {o} needs an input of at least {(o - 1) * s + d * (k - 1) + 1} "
                f"(window {k}, stride {s}, dilation {d}), got {size}"
            )
    return oh, ow


def conv2d_nchw_fchw(x, w, strides=(1, 1), dilations=(1, 1), out=None):
    """2-D convolution (cross-correlation), NCHW input, FCHW filter, no padding.

    im2col: one strided copy per kernel position into a (N, C*KH*KW, OH*OW)
    matrix, then a single matmul with the (F, C*KH*KW) filter matrix.
    `out` is the output's (OH, OW) when the op fixes it (see `_out_hw`).
    """
    n, c, h, wd = x.shape
    f, c2, kh, kw = w.shape
    if c2 != c:
        raise ValueError(f"input has {c} channels, filter expects {c2}")
    sh, sw = strides
    dh, dw = dilations
    oh, ow = _out_hw(h, wd, kh, kw, strides, dilations, out)
    if kh == 1 and kw == 1:
        cols = x[:, :, : sh * (oh - 1) + 1 : sh, : sw * (ow - 1) + 1 : sw].reshape(n, c, oh * ow)
    else:
        cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                cols[:, :, i, j] = x[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                                     j * dw : j * dw + sw * (ow - 1) + 1 : sw]
        cols = cols.reshape(n, c * kh * kw, oh * ow)
    r = np.matmul(w.reshape(f, c * kh * kw), cols)
    return r.reshape(n, f, oh, ow)


def _window_accumulate(x, kh, kw, strides, dilations, per_pos, out=None):
    """Calls ``per_pos(i, j, window_slice)`` for every kernel position (vectorized).
    ``out`` is the output's (OH, OW) (see `_out_hw`)."""
    n, c, h, wd = x.shape
    sh, sw = strides
    dh, dw = dilations
    oh, ow = _out_hw(h, wd, kh, kw, strides, dilations, out)
    for i in range(kh):
        for j in range(kw):
            per_pos(i, j, x[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh, j * dw : j * dw + sw * (ow - 1) + 1 : sw])
    return oh, ow


def _conv_attrs(op):
    st = op.static
    if st is None:
        st = op.static = (tuple(_attr_ints(op, "strides", (1, 1))), tuple(_attr_ints(op, "dilations", (1, 1))))
    return st


@impl("linalg.conv_2d_nchw_fchw")
def conv_2d_nchw_fchw(interp, op, args):
    x, w, init = args
    strides, dil = _conv_attrs(op)
    dt = init.dtype
    r = conv2d_nchw_fchw(x.astype(dt, copy=False), w.astype(dt, copy=False), strides, dil, init.shape[2:])
    r += init
    return _emit(op, [init], [r])


def _conv_nhwc(op, args, w_to_fchw):
    """A channels-last conv through the NCHW kernel; `w_to_fchw` permutes the filter."""
    x, w, init = args
    strides, dil = _conv_attrs(op)
    dt = init.dtype
    r = conv2d_nchw_fchw(x.astype(dt, copy=False).transpose(0, 3, 1, 2),
                         w.astype(dt, copy=False).transpose(*w_to_fchw), strides, dil, init.shape[1:3])
    return _emit(op, [init], [r.transpose(0, 2, 3, 1) + init])


@impl("linalg.conv_2d_nhwc_hwcf")
def conv_2d_nhwc_hwcf(interp, op, args):
    return _conv_nhwc(op, args, (3, 2, 0, 1))


@impl("linalg.conv_2d_nhwc_fhwc")
def conv_2d_nhwc_fhwc(interp, op, args):
    return _conv_nhwc(op, args, (0, 3, 1, 2))


@impl("linalg.conv_2d_ngchw_gfchw")
def conv_2d_ngchw_gfchw(interp, op, args):
    x, w, init = args  # x: N,G,C,H,W  w: G,F,C,KH,KW  out: N,G,F,OH,OW
    strides, dil = _conv_attrs(op)
    dt = init.dtype
    r = np.stack([conv2d_nchw_fchw(x[:, g].astype(dt, copy=False), w[g].astype(dt, copy=False), strides, dil,
                                   init.shape[3:])
                  for g in range(x.shape[1])], axis=1)
    return _emit(op, [init], [r + init])


@impl("linalg.conv_2d_ngchw_fgchw")
def conv_2d_ngchw_fgchw(interp, op, args):
    x, w, init = args  # x: N,G,C,H,W  w: F,G,C,KH,KW  out: N,G,F,OH,OW
    strides, dil = _conv_attrs(op)
    dt = init.dtype
    r = np.stack([conv2d_nchw_fchw(x[:, g].astype(dt, copy=False), w[:, g].astype(dt, copy=False), strides, dil,
                                   init.shape[3:])
                  for g in range(x.shape[1])], axis=1)
    return _emit(op, [init], [r + init])


def _depthwise_nchw(x, w, init, strides, dil):
    acc = np.array(init, dtype=init.dtype, copy=True)
    kh, kw = w.shape[1], w.shape[2]

    def per_pos(i, j, win):
        acc.__iadd__(win * w[:, i, j][None, :, None, None])

    _window_accumulate(x, kh, kw, strides, dil, per_pos, acc.shape[2:])
    return acc


@impl("linalg.depthwise_conv_2d_nchw_chw")
def depthwise_conv_2d_nchw_chw(interp, op, args):
    x, w, init = args
    strides, dil = _conv_attrs(op)
    dt = init.dtype
    r = _depthwise_nchw(x.astype(dt, copy=False), w.astype(dt, copy=False), init, strides, dil)
    return _emit(op, [init], [r])


@impl("linalg.depthwise_conv_2d_nhwc_hwc")
def depthwise_conv_2d_nhwc_hwc(interp, op, args):
    x, w, init = args
    strides, dil = _conv_attrs(op)
    dt = init.dtype
    r = _depthwise_nchw(x.astype(dt, copy=False).transpose(0, 3, 1, 2), w.astype(dt, copy=False).transpose(2, 0, 1),
                        init.transpose(0, 3, 1, 2), strides, dil)
    return _emit(op, [init], [r.transpose(0, 2, 3, 1)])


def _pool(op, args, ufunc, nhwc):
    x, window, init = args
    strides, dil = _conv_attrs(op)
    kh, kw = np.shape(window)
    if nhwc:
        x = x.transpose(0, 3, 1, 2)
        init = init.transpose(0, 3, 1, 2)
    acc = np.array(init, dtype=init.dtype, copy=True)
    x = x.astype(acc.dtype, copy=False)

    def per_pos(i, j, win):
        ufunc(acc, win, out=acc)

    _window_accumulate(x, kh, kw, strides, dil, per_pos, acc.shape[2:])
    if nhwc:
        acc = acc.transpose(0, 2, 3, 1)
    return _emit(op, [args[2]], [acc])


for _name, _uf, _nhwc in (
    ("linalg.pooling_nchw_max", np.maximum, False),
    ("linalg.pooling_nchw_sum", np.add, False),
    ("linalg.pooling_nhwc_max", np.maximum, True),
    ("linalg.pooling_nhwc_min", np.minimum, True),
    ("linalg.pooling_nhwc_sum", np.add, True),
):
    impl(_name)(lambda interp, op, args, _uf=_uf, _nhwc=_nhwc: _pool(op, args, _uf, _nhwc))


# ---------------------------------------------------- elementwise named ops


def _elementwise(name, fn, arity):
    @impl(name)
    def _f(interp, op, args, fn=fn, arity=arity):
        ins, outs = args[:arity], args[arity:]
        r = np.broadcast_to(fn(*ins), outs[0].shape).astype(outs[0].dtype, copy=False)
        return _emit(op, outs, [r])

    _f.__name__ = name.replace(".", "_")


for _name, _fn in {
    "linalg.add": np.add, "linalg.sub": np.subtract, "linalg.mul": np.multiply, "linalg.div": np.true_divide,
    "linalg.max": np.maximum, "linalg.min": np.minimum, "linalg.powf": np.power,
}.items():
    _elementwise(_name, _fn, 2)

for _name, _fn in {
    "linalg.exp": np.exp, "linalg.log": np.log, "linalg.abs": np.abs, "linalg.ceil": np.ceil,
    "linalg.floor": np.floor, "linalg.negf": np.negative, "linalg.sqrt": np.sqrt,
    "linalg.rsqrt": lambda x: np.reciprocal(np.sqrt(x)), "linalg.tanh": np.tanh, "linalg.square": np.square,
    "linalg.reciprocal": np.reciprocal,
}.items():
    _elementwise(_name, _fn, 1)


@impl("linalg.erf")
def erf_(interp, op, args):
    from .math import erf

    x, out = args
    return _emit(op, [out], [erf(x).astype(out.dtype, copy=False)])


@impl("linalg.select")
def select_(interp, op, args):
    c, a, b, out = args
    return _emit(op, [out], [np.where(c, a, b).astype(out.dtype, copy=False)])


@impl("linalg.map")
def map_(interp, op, args):
    n_out = len(op.result_types) or 1
    ins, outs = args[:-n_out], args[-n_out:]
    ys = interp.run_block(op.regions[0].block, ins)
    return _emit(op, outs, [np.broadcast_to(y, outs[0].shape).astype(outs[0].dtype, copy=False) for y in ys])


@impl("linalg.reduce")
def reduce_(interp, op, args):
    st = op.static
    if st is None:
        dims = tuple(ir.DenseI64ArrayAttr(op.ir.attributes["dimensions"]))
        body = op.regions[0].block
        n = len(args) // 2
        combs = []
        for k in range(n):
            steps = [s for s in body.steps if s[3] and s[3][0] == body.yield_slots[k]]
            ok = (len(body.steps) == n and steps and steps[0][1].name in _COMBINERS
                  and sorted(steps[0][2]) == sorted([body.arg_slots[k], body.arg_slots[n + k]]))
            if not ok:
                raise op.error("only single-op combiner bodies are supported")
            combs.append(_COMBINERS[steps[0][1].name])
        st = op.static = (dims, combs)
    dims, combs = st
    n = len(args) // 2
    res = []
    for k in range(n):
        x, init = np.asarray(args[k]), args[n + k]
        r = combs[k](init, combs[k].reduce(x, axis=dims, dtype=x.dtype)).astype(init.dtype, copy=False)
        res.append(r)
    return _emit(op, args[n:], res)
