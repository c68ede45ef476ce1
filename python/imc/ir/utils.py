"""Small helpers for building and inspecting IR in imc passes (no torch import)."""

import os
import re

from torch_mlir import ir
from torch_mlir.dialects import arith, linalg, tensor

__all__ = [
    "i64",
    "i64_attr",
    "bool_attr",
    "i64_array",
    "is_splat_constant",
    "constant_source",
    "constant_fill",
    "constant_init",
    "rebuild_init",
    "RESHAPE_OPS",
    "PLACEMENT_ATTR",
    "TENSOR_VIEW_OPS",
    "MEMREF_VIEW_OPS",
    "buffer_root",
    "loop_bounds",
    "VIEW_OPS",
    "ALLOCATION_OPS",
    "TIMELINE_VIEW_OPS",
    "WEIGHT_VIEW_OPS",
    "tensor_type",
    "is_weight",
    "is_zero_fill",
    "extract_slice",
    "collapse",
    "expand",
    "add",
    "transpose",
    "squeezed",
    "walk_ops",
    "find_function",
    "find_nested",
    "operands_including_nested",
    "layer_name",
]


def i64(context=None):
    return ir.IntegerType.get_signless(64, context=context)


def i64_attr(value: int) -> ir.IntegerAttr:
    return ir.IntegerAttr.get(i64(), int(value))


def bool_attr(value: bool) -> ir.IntegerAttr:
    """`true`/`false` as an i1 IntegerAttr.

    Not `ir.BoolAttr`: a false BoolAttr is falsy, and `ext`-generated builders
    treat a falsy attribute as absent.
    """
    return ir.IntegerAttr.get(ir.IntegerType.get_signless(1), int(bool(value)))


def i64_array(values) -> ir.DenseI64ArrayAttr:
    return ir.DenseI64ArrayAttr.get([int(v) for v in values])


def index_constant(value: int) -> ir.Value:
    """An `arith.constant` of index type (at the current insertion point)."""
    return arith.ConstantOp(ir.IndexType.get(), value).result


def dense_i64s(op, name: str, default: int, n: int) -> list[int]:
    """The integers of `op`'s dense elements attribute `name` (e.g. a
    convolution's `strides`), or `n` times `default` when it is absent."""
    if name not in op.attributes:
        return [default] * n
    return [int(v) for v in ir.DenseIntElementsAttr(op.attributes[name])]


def tensor_type(shape, element_type) -> ir.RankedTensorType:
    return ir.RankedTensorType.get(list(shape), element_type)


def defining_op(value: ir.Value):
    """The operation that defines `value`, None for a block argument (whose
    owner is its block)."""
    owner = value.owner
    if isinstance(owner, ir.Block):
        return None
    return owner.operation if isinstance(owner, ir.OpView) else owner


_op_of = defining_op


WEIGHT_ARG_ATTR = "imc.weight"
"""Function argument attribute marking a parameter passed as an argument."""

# Attributes `imc-place-buffers` leaves for the runtime and the analyses.
PLACEMENT_ATTR = "imc.placement"
"""Module attribute: the stage capacity bound the placement planned against,
per layer (`{layer name: bytes}`) and in total (`total`)."""

# Views: one definition of the ops that only rename or window data. Sets
# that differ from these on purpose are derived from them beside their use.
TENSOR_VIEW_OPS = frozenset(
    {"tensor.extract_slice", "tensor.collapse_shape", "tensor.expand_shape", "tensor.cast", "tensor.reshape"}
)
"""Ops whose result aliases (a window of) their first operand: no bytes, no work."""
MEMREF_VIEW_OPS = frozenset(
    {
        "memref.subview",
        "memref.collapse_shape",
        "memref.expand_shape",
        "memref.transpose",
        "memref.cast",
        "memref.reinterpret_cast",
    }
)
"""Ops whose result memref views (a window of) the buffer of their first operand."""
VIEW_OPS = TENSOR_VIEW_OPS | MEMREF_VIEW_OPS
"""Tensor and memref views."""
ALLOCATION_OPS = frozenset(
    {"tensor.empty", "memref.alloc", "memref.alloca", "memref.dealloc", "imc.spad_alloc", "imc.spad_free"}
)
"""Ops that allocate or release storage (or make an uninitialized tensor): no data moves."""
TIMELINE_VIEW_OPS = (VIEW_OPS - {"tensor.reshape"}) | ALLOCATION_OPS | {"cf.assert"}
"""The timeline's `VIEW_OPS`: no work and no memory access. Not
`tensor.reshape`: it reads a shape operand, and the timeline places it as a
step like any op that reads its operands."""

RESHAPE_OPS = ("tensor.collapse_shape", "tensor.expand_shape")
WEIGHT_VIEW_OPS = ("tensor.extract_slice", *RESHAPE_OPS)
"""Static views through which a weight tile is traced back to its constant."""


def constant_source(value: ir.Value, views=RESHAPE_OPS):
    """The `arith.constant` op whose data `value` is, seen through the
    single-operand (static) ops named in `views`; None otherwise."""
    op = _op_of(value)
    while op is not None and op.name != "arith.constant":
        if op.name not in views or len(op.operands) != 1:
            return None
        op = _op_of(op.operands[0])
    return op


def is_weight(value: ir.Value) -> bool:
    """True for a weight: an `arith.constant`, a function argument marked
    `imc.weight`, or a reshape of one of these."""
    op = _op_of(value)
    if op is None:
        arg = ir.BlockArgument(value)
        parent = arg.owner.owner
        parent = getattr(parent, "operation", parent)
        if parent is None or parent.name != "func.func" or "arg_attrs" not in parent.attributes:
            return False
        attrs = ir.ArrayAttr(parent.attributes["arg_attrs"])
        return WEIGHT_ARG_ATTR in ir.DictAttr(attrs[arg.arg_number])
    if op.name in RESHAPE_OPS:
        return is_weight(op.operands[0])
    return constant_source(value) is not None


def weight_of(value: ir.Value):
    """(weight value, transposed?) when `value` is a weight or its 2-D
    transpose (`linalg.transpose` with permutation [1, 0], how torch imports
    a Linear), else (None, False)."""
    if is_weight(value):
        return value, False
    op = defining_op(value)
    if op is not None and op.name == "linalg.transpose" and list(ir.DenseI64ArrayAttr(op.attributes["permutation"])) == [1, 0]:
        if is_weight(op.operands[0]):
            return op.operands[0], True
    return None, False


def is_splat_constant(op) -> bool:
    """True for an `arith.constant` holding one repeated value (a splat): the
    digital unit generates it, nothing is read from memory."""
    if op.name != "arith.constant":
        return False
    try:
        return ir.DenseElementsAttr(op.attributes["value"]).is_splat
    except (ValueError, KeyError):
        return False


def is_zero_fill(value: ir.Value) -> bool:
    """True if `value` is `linalg.fill` of the constant 0, a splat constant
    0 (or `tensor.empty`), or a `tensor.extract_slice` of one (a tile of a
    zero-initialized result)."""
    op = _op_of(value)
    while op is not None and op.name == "tensor.extract_slice":
        op = _op_of(op.operands[0])
    if op is None:
        return False
    if op.name == "tensor.empty":
        return True
    if is_splat_constant(op):
        attr = ir.DenseElementsAttr(op.attributes["value"]).get_splat_value()
        return _zero(attr)
    if op.name != "linalg.fill":
        return False
    scalar = _op_of(op.operands[0])
    if scalar is None or scalar.name != "arith.constant":
        return False
    return _zero(scalar.attributes["value"])


def _zero(attr) -> bool:
    try:
        return ir.FloatAttr(attr).value == 0.0
    except ValueError:
        return ir.IntegerAttr(attr).value == 0


def constant_fill(value: ir.Value):
    """The `linalg.fill` or `linalg.broadcast` that computes the tensor
    `value` from an `arith.constant` (zeros, a bias broadcast over rows),
    else None."""
    op = _op_of(value)
    if op is None or op.name not in ("linalg.fill", "linalg.broadcast") or not isinstance(value.type, ir.RankedTensorType):
        return None
    source = _op_of(op.operands[0])
    return op if source is not None and source.name == "arith.constant" else None


def constant_init(value: ir.Value):
    """The op that computes `value` from constants alone, the same along every
    dimension but the channels (a convolution's initial value: zeros or a
    broadcast bias), else None: a splat `arith.constant`, a `linalg.fill` of
    a constant scalar, or a `linalg.broadcast` of a constant vector over
    dimensions [0, 2, 3] of an N x C x H x W tensor. `rebuild_init` builds
    it for another shape (a row tile)."""
    op = _op_of(value)
    if op is not None and op.name == "arith.constant":
        return op if is_splat_constant(op) else None
    op = constant_fill(value)
    if op is not None and op.name == "linalg.broadcast" and list(ir.DenseI64ArrayAttr(op.attributes["dimensions"])) != [0, 2, 3]:
        return None
    return op


def rebuild_init(op, shape) -> ir.Value:
    """`op` (a `constant_init`) computed for a tensor of `shape` (the same
    channels), at the current insertion point."""
    et = ir.RankedTensorType(op.results[0].type).element_type
    t = tensor_type(shape, et)
    if op.name == "arith.constant":
        splat = ir.DenseElementsAttr(op.attributes["value"]).get_splat_value()
        return arith.ConstantOp(t, ir.DenseElementsAttr.get_splat(t, splat)).result
    empty = tensor.EmptyOp(list(shape), et).result
    if op.name == "linalg.fill":
        return _value(linalg.fill(op.operands[0], outs=[empty]))
    return _value(linalg.broadcast(op.operands[0], outs=[empty], dimensions=[0, 2, 3]))


def extract_slice(source: ir.Value, offsets, sizes, *, loc=None) -> ir.Value:
    t = ir.RankedTensorType(source.type)
    if list(offsets) == [0] * t.rank and list(sizes) == list(t.shape):
        return source
    result = tensor_type(sizes, t.element_type)
    return tensor.extract_slice(result, source, [], [], [], list(offsets), list(sizes), [1] * t.rank, loc=loc)


def reassociation(groups) -> ir.ArrayAttr:
    """The reassociation attribute of a reshape: one array of dims per group."""
    return ir.ArrayAttr.get([ir.ArrayAttr.get([i64_attr(d) for d in g]) for g in groups])


_reassociation_attr = reassociation  # (collapse/expand name their parameter `reassociation`)


def collapse(source: ir.Value, reassociation: list[list[int]], *, loc=None) -> ir.Value:
    t = ir.RankedTensorType(source.type)
    shape = []
    for group in reassociation:
        n = 1
        for d in group:
            n *= t.shape[d]
        shape.append(n)
    if shape == list(t.shape):
        return source
    reassoc = _reassociation_attr(reassociation)
    return tensor.collapse_shape(tensor_type(shape, t.element_type), source, reassoc, loc=loc)


def expand(source: ir.Value, shape, reassociation: list[list[int]], *, loc=None) -> ir.Value:
    t = ir.RankedTensorType(source.type)
    if list(shape) == list(t.shape):
        return source
    reassoc = _reassociation_attr(reassociation)
    return tensor.expand_shape(tensor_type(shape, t.element_type), source, reassoc, [], list(shape), loc=loc)


def add(a: ir.Value, b: ir.Value, *, loc=None) -> ir.Value:
    """Elementwise `a + b` as a `linalg.add` (for the digital unit)."""
    t = ir.RankedTensorType(a.type)
    init = tensor.empty(list(t.shape), t.element_type, loc=loc)
    with loc or ir.Location.unknown():
        return _value(linalg.add(a, b, outs=[init]))


def transpose(source: ir.Value, permutation: list[int], *, loc=None) -> ir.Value:
    t = ir.RankedTensorType(source.type)
    shape = [t.shape[p] for p in permutation]
    init = tensor.empty(shape, t.element_type, loc=loc)
    with loc or ir.Location.unknown():
        return _value(linalg.transpose(source, outs=[init], permutation=permutation))


def _value(built) -> ir.Value:
    """The single result of what a dialect builder returned (op or value)."""
    if isinstance(built, ir.Value):
        return built
    if isinstance(built, ir.OpResultList):
        return built[0]
    return built.results[0]


def squeezed(op):
    """`op`, or the `linalg.generic` that replaces it when its one result keeps
    reduced dimensions as unit dimensions (output map results that are the
    constant 0): the new op computes the result without them (its init
    collapsed) and a `tensor.expand_shape` restores them. (Tile-and-fuse
    derives a producer's tile from its output map, which must be a projected
    permutation: a softmax's or a LayerNorm's row sums, `1 x M x 1`, are
    fused only once squeezed.)"""
    if op.name != "linalg.generic" or len(op.results) != 1:
        return op
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    out_map, shape = maps[-1], list(ir.RankedTensorType(op.results[0].type).shape)
    dropped = [i for i, e in enumerate(out_map.results) if _affine_constant(e) is not None]
    if not dropped or any(_affine_constant(out_map.results[i]) != 0 or shape[i] != 1 for i in dropped):
        return op
    kept = [i for i in range(len(shape)) if i not in dropped]
    if not kept:
        return op
    groups, pending = [], []  # each dropped dim joins the kept dim before it (or after, when it leads)
    for i in range(len(shape)):
        pending.append(i)
        if i in kept:
            groups.append(pending)
            pending = []
    groups[-1].extend(pending)
    new_map = ir.AffineMap.get(out_map.n_dims, out_map.n_symbols, [out_map.results[i] for i in kept])
    with ir.InsertionPoint(op), op.location:
        init = collapse(op.operands[-1], groups)
        new = linalg.GenericOp(
            [init.type], list(op.operands)[:-1], [init],
            ir.ArrayAttr.get([ir.AffineMapAttr.get(m) for m in maps[:-1] + [new_map]]),
            op.attributes["iterator_types"],
        )
        op.regions[0].blocks[0].append_to(new.regions[0])
        restored = expand(new.result, shape, groups)
    op.results[0].replace_all_uses_with(restored)
    op.erase()
    return new.operation


def _affine_constant(expr) -> int | None:
    """The value of a constant affine expression, else None."""
    try:
        return ir.AffineConstantExpr(expr).value
    except ValueError:
        return None


def walk_ops(root, names: set[str]) -> list:
    """All ops under `root` whose name is in `names`, in pre-order (one walk)."""
    found = []

    def visit(op):
        if op.name in names:
            found.append(op)
        return ir.WalkResult.ADVANCE

    root.walk(visit)
    return found


def find_function(module, name: str):
    """The `func.func @name` at the top of `module` (an ir.Module or its op), or None."""
    op = module.operation if hasattr(module, "operation") else module
    for f in op.regions[0].blocks[0].operations:
        if f.operation.name == "func.func" and ir.StringAttr(f.attributes["sym_name"]).value == name:
            return f.operation
    return None


def find_entry(module, name: str = ""):
    """The function a pass works on: `@name` when given, else `@main`, else
    the module's only function. Raises ValueError (the message names what is
    missing) when there is none or it is a declaration without a body."""
    func = _find_entry(module, name)
    if not len(func.regions[0].blocks):
        raise ValueError(f"@{ir.StringAttr(func.attributes['sym_name']).value} is a declaration with no body")
    return func


def _find_entry(module, name: str):
    if name:
        func = find_function(module, name)
        if func is None:
            raise ValueError(f"no function @{name}")
        return func
    func = find_function(module, "main")
    if func is not None:
        return func
    op = module.operation if hasattr(module, "operation") else module
    funcs = [f.operation for f in op.regions[0].blocks[0].operations if f.operation.name == "func.func"]
    if len(funcs) != 1:
        raise ValueError(f"{len(funcs)} functions and no @main: name one with entry=...")
    return funcs[0]


def is_tiled_stage(op) -> bool:
    """A loop or branch of a stage tiled by `imc-tile-rows`: an `scf.for` or
    `scf.if` with crossbar ops inside."""
    return (
        op.name in ("scf.for", "scf.if")
        and find_nested(op, lambda o: o.name.startswith("imc.")) is not None
    )


def read_only_as_buffer(value: ir.Value) -> bool:
    """Whether `value` (a function argument) is read only through
    `bufferization.to_buffer` (a model input a tiled stage streams in rows:
    its bytes move by that stage's DMAs, not at the call boundary)."""
    uses = list(value.uses)
    return bool(uses) and all(u.owner.operation.name == "bufferization.to_buffer" for u in uses)


# Linalg ops without operandSegmentSizes: number of leading `ins`.
_LINALG_INS = {"linalg.transpose": 1, "linalg.broadcast": 1, "linalg.copy": 1, "linalg.fill": 1}


def linalg_input_count(op) -> int | None:
    """How many of a linalg op's operands are `ins` (the rest are `outs`),
    or None when neither its segment sizes nor its name say."""
    if "operandSegmentSizes" in op.attributes:
        return list(ir.DenseI32ArrayAttr(op.attributes["operandSegmentSizes"]))[0]
    return _LINALG_INS.get(op.name)


def indexing_maps(op) -> list[str] | None:
    """The `indexing_maps` of a linalg op as text, or None (a named op without them)."""
    if "indexing_maps" not in op.attributes:
        return None
    return [str(ir.AffineMapAttr(m).value) for m in ir.ArrayAttr(op.attributes["indexing_maps"])]


def is_identity_map(text: str) -> bool:
    """`(d0, d1, ...) -> (d0, d1, ...)` (an affine map's text)."""
    dims, results = (part.strip() for part in text.split("->"))
    return dims.replace(" ", "") == results.replace(" ", "")


def top_level(op, block):
    """The ancestor of `op` (or `op` itself) that sits directly in `block`, or None."""
    while op is not None and op.parent is not None:
        if op.block == block:
            return op
        op = op.parent
    return None


def is_inside(op, ancestor) -> bool:
    """`op` is nested (at any depth) in `ancestor`'s regions."""
    parent = op.parent
    while parent is not None:
        if parent == ancestor:
            return True
        parent = parent.parent
    return False


def constant_int(value):
    """The value of an integer `arith.constant` (index too), else None."""
    owner = value.owner
    if isinstance(owner, ir.Block) or owner.operation.name != "arith.constant":
        return None
    try:
        return ir.IntegerAttr(owner.operation.attributes["value"]).value
    except ValueError:
        return None


def loop_bounds(loop) -> tuple:
    """An `scf.for`'s lower bound, upper bound and step, each its constant
    integer or None."""
    return tuple(constant_int(v) for v in list(loop.operands)[:3])


def buffer_root(value):
    """The memref a chain of memref views (`MEMREF_VIEW_OPS`) ends in: the
    buffer `value` is a window of (`value` itself when it is no view)."""
    while (op := defining_op(value)) is not None and op.name in MEMREF_VIEW_OPS:
        value = op.operands[0]
    return value


def insert_root(value):
    """The value a chain of `tensor.insert_slice` destinations ends in (`value` itself when it is no insert)."""
    while not isinstance(value.owner, ir.Block) and value.owner.operation.name == "tensor.insert_slice":
        value = value.owner.operation.operands[1]
    return value


def single_user(value):
    """The op that uses `value` when exactly one use does, else None."""
    uses = list(value.uses)
    return uses[0].owner.operation if len(uses) == 1 else None


def row_tile_insert(loop, value):
    """The `tensor.insert_slice %tile into %acc[...]` through which `loop`
    (an `scf.for`) assembles its result `value` in its iteration argument
    `%acc` (what the loop yields for it), or None."""
    if loop.name != "scf.for":
        return None
    index = list(loop.results).index(value)
    body = loop.regions[0].blocks[0]
    yielded = body.operations[-1].operands[index]
    if isinstance(yielded.owner, ir.Block):
        return None
    insert = yielded.owner.operation
    if insert.name != "tensor.insert_slice" or insert.operands[1] != body.arguments[index + 1]:
        return None
    return insert


def clone_into(ops, mapping: dict, ip) -> None:
    """Clones `ops` at `ip`, their operands (and their nested ops') through
    `mapping`, which gains their results."""
    for op in ops:
        clone = op.clone(ip=ip)

        def remap(nested):
            for k, v in enumerate(nested.operands):
                if v in mapping:
                    nested.operands[k] = mapping[v]
            return ir.WalkResult.ADVANCE

        clone.walk(remap)
        for old, new in zip(op.results, clone.results):
            mapping[old] = new


def ops_with_attribute(root, name: str) -> list:
    """The ops in `root` (any depth, `root` included) that carry attribute `name`."""
    found = []

    def visit(op):
        if name in op.attributes:
            found.append(op)
        return ir.WalkResult.ADVANCE

    (root.operation if hasattr(root, "operation") else root).walk(visit)
    return found


def operands_including_nested(op):
    """Operands of `op` and of the ops nested in its regions (the values it reads)."""
    yield from op.operands
    if not op.regions:
        return
    for region in op.regions:
        for block in region.blocks:
            for inner in block.operations:
                yield from operands_including_nested(inner.operation)


def find_nested(op, predicate):
    """The first op strictly inside `op`'s regions for which `predicate(op)`
    holds (pre-order, one walk that stops at the first match), or None."""
    found = []

    def visit(o):
        if predicate(o):
            found.append(o)
            return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    for region in op.regions:
        for block in region.blocks:
            for inner in block.operations:
                inner.operation.walk(visit)
                if found:
                    return found[0]
    return None


_LOC_PREFIX_RE = re.compile(r"^(?:loc\()?(?:(?:fused(?:<[^>]*>)?\[)|(?:callsite\())*")
_LOC_HEAD_RE = re.compile(r'^"((?:[^"\\]|\\.)*)"(:(\d+))?')


def layer_name(location: ir.Location | str) -> str:
    """Returns a short human-readable layer label for an op location.

    * ``NameLoc`` (as produced by :func:`import_torch`: the ``nn.Module`` path
      such as ``"layer1.0.conv1"``) -> that name.
    * File and call-site locations -> ``"<basename>:<line>"`` of the first
      (innermost) file location, e.g. ``"resnet.py:42"``.
    * Fused locations -> the label of their first component.
    * Unknown locations -> ``"<unknown>"``.

    ``location`` may be an :class:`ir.Location` or its printed form
    (``str(loc)``, e.g. ``loc("layer1.0"("m.py":3:0))``).
    """
    text = _LOC_PREFIX_RE.sub("", str(location), count=1)
    m = _LOC_HEAD_RE.match(text)
    if m is None:
        return "<unknown>"
    if m.group(3) is not None:  # "file":line:col
        return f"{os.path.basename(m.group(1))}:{m.group(3)}"
    return m.group(1)
