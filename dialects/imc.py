"""The `imc` dialect: crossbar and scratchpad operations for in-memory computing.

Defined in Python with `torch_mlir.dialects.ext` (IRDL underneath). Ops print in
generic form. Every verifier reports through the op's location and names the op
and the broken rule.

Memory spaces: a memref without a memory space (or with `0`) lives in DRAM; a
memref in memory space `1` (`SPAD_SPACE`) lives in the on-chip scratchpad.

Load the dialect into a context with `load(context)` (or `imc.ir.context.make_context()`).
"""


import math
import operator
import sys
import weakref
from collections.abc import Sequence
from types import UnionType
from typing import Any, Union, get_args, get_origin

from torch_mlir import ir
from torch_mlir.dialects import ext
from torch_mlir.dialects.ext import Dialect, Operand, Pure, Result

__all__ = [
    "Imc",
    "XbarType",
    "ContractOp",
    "Im2colOp",
    "ProgramOp",
    "MvmOp",
    "AccumulateOp",
    "QuantizeOp",
    "SpadAllocOp",
    "SpadFreeOp",
    "DmaOp",
    "TransferOutOp",
    "TransferInOp",
    "JoinOp",
    "TiledContractOp",
    "YieldOp",
    "transfer_groups",
    "TRANSFER_OPS",
    "staging_elements",
    "joined_shape",
    "SPAD_SPACE",
    "CONTRACT_KINDS",
    "BIT_RANGES",
    "XBAR_DIM_RANGE",
    "load",
    "is_spad",
    "element_bytes",
    "stored_element_bytes",
    "stored_bytes",
    "shaped_bytes",
    "build",
    "grouped_kn",
]

SPAD_SPACE = 1
"""Memory space of scratchpad memrefs (`memref<...xf32, 1>`)."""

CONTRACT_KINDS = (
    "matmul",
    "linear",
    "batch_matmul",
    "conv1d",
    "conv2d",
    "generic",
)
"""Source contraction kinds an `imc.contract` may record (for reports)."""

_CELL_BITS = (1, 8)
_WEIGHT_BITS = (1, 32)
_INPUT_BITS = (1, 32)
_DAC_BITS = (1, 16)
_ADC_BITS = (0, 16)  # 0 = digital in-memory computing, no ADC
_MAX_SHIFT = 63

BIT_RANGES = {
    "cell_bits": _CELL_BITS,
    "weight_bits": _WEIGHT_BITS,
    "input_bits": _INPUT_BITS,
    "dac_bits": _DAC_BITS,
    "adc_bits": _ADC_BITS,
}
"""Inclusive ranges of the bit-width attributes of `imc.program` and `imc.mvm` (for pass options)."""
XBAR_DIM_RANGE = (1, 65536)
"""Crossbar rows and columns a pass option may ask for (the hardware description's range)."""


class Imc(Dialect, name="imc"):
    """In-memory-computing crossbars and their scratchpad."""


# ---------------------------------------------------------------------------
# Helpers shared by the verifiers.
# ---------------------------------------------------------------------------


def _fail(op, message: str) -> bool:
    """Emits `'<op name>' op <message>` at the op's location; returns False."""
    op.location.emit_error(f"'{op.operation.name}' op {message}")
    return False


def _kinds(constraint) -> tuple:
    """The MLIR type/attribute classes a field annotation admits (empty: any)."""
    if constraint is Any:
        return ()
    args = get_args(constraint)
    if args and get_origin(constraint) in (Union, UnionType):
        return tuple(k for a in args for k in _kinds(a))
    return (constraint,)


def _is_a(value, kinds: tuple) -> bool:
    if not kinds or isinstance(value, kinds):  # the bindings downcast types and attributes
        return True
    for kind in kinds:
        try:
            kind(value)
            return True
        except (ValueError, TypeError):
            continue
    return False


def _kind_name(kinds: tuple) -> str:
    names = {
        "RankedTensorType": "ranked tensor",
        "MemRefType": "memref",
        "IntegerAttr": "integer attribute",
        "StringAttr": "string attribute",
        "XbarType": "!imc.xbar",
    }
    return " or ".join(names.get(k.__name__, k.__name__) for k in kinds)


def _is_shaped(t) -> bool:
    # The bindings downcast every builtin type, and all shaped types are builtin.
    return isinstance(t, ir.ShapedType)


_FIELDS: dict[type, tuple] = {}
"""Per op class: its declared fields with their admitted kinds (computed once)."""


def _fields_of(cls) -> tuple:
    plan = _FIELDS.get(cls)
    if plan is None:
        operands, attrs, results, _ = ext.partition_fields(cls._fields)
        variadic = len(operands) == 1 and operands[0].variadicity == ext.Variadicity.variadic
        plan = _FIELDS[cls] = (
            [(a.name, _kinds(a.constraint)) for a in attrs],
            [(d.name, _kinds(d.constraint)) for d in operands],
            [(d.name, _kinds(d.constraint)) for d in results],
            variadic,
        )
    return plan


def _check_fields(op) -> bool:
    """Checks the declared fields with messages that name the op and the field.

    IRDL checks them too, but after the Python verifier runs and without naming
    the op; this gives the user the clear message first.
    """
    attrs, operands, results, variadic = _fields_of(type(op))
    dynamic_sizes = getattr(type(op), "DYNAMIC_SIZES", False)
    operation = op.operation
    present = operation.attributes
    for name, kinds in attrs:
        if name not in present:
            return _fail(op, f"requires attribute '{name}'")
        if not kinds:  # any attribute: the op's verifier checks its kind
            continue
        value = _attribute(op, name)
        if value is None or not _is_a(value, kinds):
            return _fail(op, f"attribute '{name}' must be of kind {_kind_name(kinds)}")
    op_operands, op_results = operation.operands, operation.results
    if not variadic and len(op_operands) != len(operands):
        return _fail(op, f"expects {len(operands)} operands, got {len(op_operands)}")
    if len(op_results) != len(results):
        return _fail(op, f"expects {len(results)} results, got {len(op_results)}")
    values = [(operands[0], v) for v in op_operands] if variadic else list(zip(operands, op_operands))
    for (name, kinds), v in values:
        t = v.type
        if not _is_a(t, kinds):
            return _fail(op, f"operand '{name}' must be of kind {_kind_name(kinds)}, got {t}")
        if _is_shaped(t) and not t.has_static_shape and not dynamic_sizes:
            return _fail(op, f"operand '{name}' must have a static shape, got {t}")
    for (name, kinds), r in zip(results, op_results):
        t = r.type
        if not _is_a(t, kinds):
            return _fail(op, f"result '{name}' must be of kind {_kind_name(kinds)}, got {t}")
        if _is_shaped(t) and not t.has_static_shape and not dynamic_sizes:
            return _fail(op, f"result '{name}' must have a static shape, got {t}")
    return True


_VERIFIED: "weakref.WeakKeyDictionary[ir.Context, set]" = weakref.WeakKeyDictionary()
"""Per context: the `_signature`s and `_op_key`s of ops that verified (see
`_verifier`; the two never compare equal: a signature's second entry is a
tuple, an op key's an int)."""


def _signature(op) -> tuple | None:
    """What a local verifier reads: the op class, its declared attributes and
    its operand and result types, each by its uniqued storage (hash), so the
    key holds no reference to the context. None when a declared attribute is
    missing (the verifier reports it)."""
    o = op.operation
    cls = type(op)
    names = _ATTR_NAMES.get(cls)
    if names is None:
        names = _ATTR_NAMES[cls] = tuple(name for name, _ in _fields_of(cls)[0])
    try:  # map over builtins: no Python frame per value (this runs per op per pass)
        declared = tuple(map(hash, map(o.attributes.__getitem__, names)))
    except (KeyError, TypeError, ValueError):  # missing, or one the bindings cannot wrap (`array<si32: ...>`)
        return None
    return (
        cls,
        declared,
        tuple(map(hash, map(_TYPE, o.operands))),
        tuple(map(hash, o.results.types)),
    )


_ATTR_NAMES: dict[type, tuple] = {}
_TYPE = operator.attrgetter("type")

def _op_key(op) -> tuple:
    """This op as it is now, cheaply: its class, the bindings' hash of the operation
    (which changes with its attributes, operands and result types; see
    `_op_hash_tracks_content`) and its operand types (which change in place,
    `Value.set_type`, without changing the op's hash)."""
    o = op.operation
    return (type(op), hash(o), *map(hash, map(_TYPE, o.operands)))  # one flat tuple: one per op is kept


_HASH_TRACKS_CONTENT: bool | None = None


def _op_hash_tracks_content() -> bool:
    """True when `hash(ir.Operation)` changes as an op's attributes, operands
    and result types change (the bindings hash an op's contents, not only its
    address), so that `_op_key` may stand for an op as it is. Checked once, on
    an op built for the purpose; when it does not hold, `_verifier` goes
    without the per-op cache."""
    global _HASH_TRACKS_CONTENT
    if _HASH_TRACKS_CONTENT is None:
        with ir.Context() as context, ir.Location.unknown():
            context.allow_unregistered_dialects = True
            i64 = ir.IntegerType.get_signless(64)
            a, b = (ir.Operation.create("imc_check.value", results=[i64]) for _ in range(2))
            op = ir.Operation.create("imc_check.op", results=[i64], operands=[a.result], attributes={"x": ir.IntegerAttr.get(i64, 0)})
            hashes = [hash(op)]
            op.attributes["x"] = ir.IntegerAttr.get(i64, 1)
            hashes.append(hash(op))
            op.operands[0] = b.result
            hashes.append(hash(op))
            op.result.set_type(ir.IntegerType.get_signless(32))
            hashes.append(hash(op))
            _HASH_TRACKS_CONTENT = len(set(hashes)) == len(hashes)
            for o in (op, a, b):
                o.erase()
    return _HASH_TRACKS_CONTENT


def _verifier(fn=None, *, local: bool = True):
    """Wraps an op verifier: declared fields first, then the op's own rules.

    A `local` verifier is a pure function of the op's declared attributes and
    operand and result types, all uniqued, so an op whose signature already verified
    in this context is valid: the IR verifies after every pass and most imc
    ops (thousands of identical MVMs and programs) keep their signature, so
    each is checked once. Failures are never cached: they report again.
    Verifiers that read anything else (the module's hardware) pass
    `local=False` and run every time.

    Before the signature, an op that itself verified and has not changed
    since (`_op_key`: cheaper than reading its attributes) is valid too:
    after most passes most ops are as the previous verification left them.
    """
    if fn is None:
        return lambda f: _verifier(f, local=local)

    def verify_invariants(self) -> bool:
        if not local:
            return _check_fields(self) and fn(self)
        context = self.operation.context
        seen = _VERIFIED.get(context)
        if seen is None:
            seen = _VERIFIED[context] = set()
        op_key = _op_key(self) if _op_hash_tracks_content() else None
        if op_key is not None and op_key in seen:
            return True
        key = _signature(self)
        if key is None or key not in seen:
            if not _check_fields(self) or not fn(self):
                return False
            if key is None:  # nothing to remember it by
                return True
            seen.add(key)
        if op_key is not None:
            seen.add(op_key)
        return True

    verify_invariants.__doc__ = fn.__doc__
    return verify_invariants


def _attribute(op, name: str):
    """The attribute `name` of `op`, or None when the bindings cannot wrap it.

    Reading an attribute downcasts it, and some downcasts raise (a dense array
    of an element type the bindings do not know, `array<si32: ...>`).
    """
    try:
        return op.operation.attributes[name]
    except (KeyError, TypeError, ValueError):
        return None


def _int(attr) -> int:
    return ir.IntegerAttr(attr).value


def _is_flag(attr) -> bool:
    """True for a boolean (`true`/`false`, an i1 integer attribute)."""
    try:
        return ir.IntegerType(ir.IntegerAttr(attr).type).width == 1
    except ValueError:  # an `index` (or other non-integer) typed attribute
        return False


def _i64_array(op, name: str) -> list[int] | None:
    """The values of the `array<i64: ...>` attribute `name`, or None if it is not one."""
    try:
        return list(ir.DenseI64ArrayAttr(_attribute(op, name)))
    except (ValueError, TypeError):
        return None


def _check_range(op, name: str, value: int, bounds: tuple[int, int]) -> bool:
    lo, hi = bounds
    if lo <= value <= hi:
        return True
    return _fail(op, f"{name} = {value} is out of range [{lo}, {hi}]")


def grouped_kn(shape, transposed: bool) -> tuple[int, tuple[int, int]]:
    """(groups, (K, N) of one group) of a contraction or tile weight of rank
    2 (one group) or 3 (groups first), `transposed` when it is N x K."""
    groups, matrix = (1, shape) if len(shape) == 2 else (shape[0], shape[1:])
    k, n = (matrix[1], matrix[0]) if transposed else (matrix[0], matrix[1])
    return groups, (k, n)


def _xbar_geometry(op, xbar_type) -> tuple[int, int] | None:
    """(rows, cols) of an `!imc.xbar`, or None after reporting a bad geometry."""
    t = XbarType(xbar_type)
    rows, cols = _int(t.rows), _int(t.cols)
    if rows <= 0 or cols <= 0:
        _fail(op, f"crossbar geometry {rows}x{cols} must be positive")
        return None
    return rows, cols


# ---------------------------------------------------------------------------
# The scratchpad's rules, one message each. The verifiers, `imc-check-buffers`
# (for every execution, statically) and the interpreter (for the one that
# runs) report a broken rule in the same words; `buffer` names the bytes at
# fault as each knows them ("buffer [0, 64)", "scratchpad buffer %0 [0, 64)",
# "staging area [0, 64)").
# ---------------------------------------------------------------------------


def spad_capacity_error(buffer: str, capacity: int) -> str:
    return f"{buffer} exceeds the scratchpad capacity of {capacity} bytes"


def spad_alignment_error(buffer: str, offset: int, alignment: int) -> str:
    return f"{buffer} starts at offset {offset}, not a multiple of the {alignment}-byte scratchpad alignment"


def spad_overlap_error(buffer: str, live: str) -> str:
    return f"{buffer} overlaps the live buffer {live}"


def spad_unwritten_read_error(span: str, buffer: str) -> str:
    return f"reads bytes {span} of {buffer} that no imc.dma or op writes before it"


def spad_use_after_free_error(buffer: str) -> str:
    return f"uses {buffer} after its imc.spad_free"


def spad_double_free_error(buffer: str) -> str:
    return f"frees {buffer} that is already freed"


def is_spad(shaped_type) -> bool:
    """True if a memref type lives in the scratchpad memory space."""
    space = ir.MemRefType(shaped_type).memory_space
    if space is None:
        return False
    try:
        return ir.IntegerAttr(space).value == SPAD_SPACE
    except ValueError:
        return False


def element_bytes(element_type) -> int:
    """Storage bytes of one element (i1 and sub-byte types round up to 1)."""
    width = getattr(element_type, "width", None)
    if width is None:
        raise ValueError(f"element type {element_type} has no bit width")
    return max(1, (width + 7) // 8)


def stored_element_bytes(element_type, hardware=None) -> int:
    """Bytes one element occupies where the chip stores it (scratchpad, and
    DRAM buffers of stored tensors): floating-point data at the hardware's
    `activation_bits` (`Hardware.activation_bytes`), other types at their own
    width (`element_bytes`). Without a hardware description, `element_bytes`.

    The IR keeps floating-point element types in every precision mode (the
    interpreter computes on them); the chip's storage width is what sizes
    buffers and counts their bytes.
    """
    if hardware is not None and isinstance(element_type, ir.FloatType):
        return hardware.activation_bytes
    return element_bytes(element_type)


def stored_bytes(shaped_type, hardware=None) -> int:
    """Bytes of a statically shaped tensor or memref as the chip stores it
    (`stored_element_bytes`)."""
    t = ir.ShapedType(shaped_type)
    return math.prod(t.shape) * stored_element_bytes(t.element_type, hardware)


def shaped_bytes(shaped_type) -> int:
    """Bytes of a statically shaped tensor or memref."""
    t = ir.ShapedType(shaped_type)
    return math.prod(t.shape) * element_bytes(t.element_type)


def _enclosing_module(op):
    parent = op.operation.parent
    while parent is not None and parent.name != "builtin.module":
        parent = parent.parent
    return parent


def _hardware_of(op):
    """The hardware description attached to the enclosing module: None if
    there is none, False after reporting a malformed one on the module.

    The attribute is validated once per context (`Hardware.from_attr` caches
    it), so every op verifier may ask.
    """
    module = _enclosing_module(op)
    if module is None or "imc.hardware" not in module.attributes:
        return None
    from imc.ir.hardware import Hardware, HardwareError  # lazy: the dialect does not need it

    try:
        return Hardware.from_attr(module.attributes["imc.hardware"])
    except HardwareError as exc:
        module.location.emit_error(f"'{module.name}' op {exc}")
        return False


def _single_variadic_operand(cls, field: str):
    """Lets an op with one variadic operand group print without segment sizes.

    `ext` always asks for `operandSegmentSizes` once an operand is variadic; with
    a single group the operand list is the group, so the attribute is redundant.
    """
    cls._ODS_OPERAND_SEGMENTS = None
    setattr(cls, field, property(lambda self: list(self.operation.operands)))
    generated = cls.__init__

    def __init__(self, *args, loc=None, ip=None, **kwargs):
        bound = generated.__signature__.bind(self, *args, loc=loc, ip=ip, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        operands, attrs, results, _ = ext.partition_fields(cls._fields)
        ir.OpView.__init__(
            self,
            cls.OPERATION_NAME,
            cls._ODS_REGIONS,
            None,
            cls._ODS_RESULT_SEGMENTS,
            attributes={d.name: d.process_attr(a[d.name]) for d in attrs},
            results=[d.process_type(a[d.name]) for d in results],
            operands=list(a[field]),
            successors=None,
            regions=None,
            loc=loc,
            ip=ip,
        )

    __init__.__signature__ = generated.__signature__
    cls.__init__ = __init__
    return cls


# ---------------------------------------------------------------------------
# Memory effects
# ---------------------------------------------------------------------------


def memory_effects(*effects: tuple, describe: str):
    """A trait declaring an op's memory effects (`MemoryEffectsOpInterface`),
    so upstream passes (CSE, canonicalization, hoisting) know what an op
    touches: each effect is (`"Read"`, `"Write"`, `"Allocate"` or `"Free"`,
    `"operand"`, `"result"` or None, index), None for state no SSA value
    names (a crossbar's cells, the staging bytes of a transfer). An effect on
    an operand applies only when that operand is a memref (a tensor operand
    is a value: reading it is no memory effect). `describe` is the trait's
    line in docs/dialect.md."""

    class Effects(ir.MemoryEffectsOpInterface):
        @staticmethod
        def get_effects(op, instances):
            operation = op.operation
            for effect, where, index in effects:
                target = None
                if where == "operand":
                    if not isinstance(operation.operands[index].type, ir.MemRefType):
                        continue
                    target = operation.op_operands[index]
                elif where == "result":
                    target = operation.results[index]
                instances.append(getattr(ir.MemoryEffect, effect), target)

    class MemoryEffects:
        __doc__ = describe

        @staticmethod
        def attach(op_name):
            Effects.attach(op_name)

    return MemoryEffects


# ---------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------


class XbarType(Imc.Type, name="xbar"):
    """A handle to a programmed crossbar of `rows` x `cols` cells.

    Example: `!imc.xbar<128 : i64, 128 : i64>`
    """

    rows: ir.IntegerAttr
    cols: ir.IntegerAttr

    @classmethod
    def of(cls, rows: int, cols: int, *, context=None) -> "XbarType":
        i64 = ir.IntegerType.get_signless(64, context=context)
        return cls.get(ir.IntegerAttr.get(i64, rows), ir.IntegerAttr.get(i64, cols), context=context)

    @property
    def geometry(self) -> tuple[int, int]:
        return _int(self.rows), _int(self.cols)


# ---------------------------------------------------------------------------
# Crossbar ops
# ---------------------------------------------------------------------------


class ContractOp(Imc.Operation, name="contract", traits=[Pure]):
    """A weight-stationary contraction, before tiling to crossbars.

    `result[..., n] = sum_k input[..., k] * W[k, n]` where `W = weight` of shape
    K x N, or `W = transpose(weight)` when `transpose_weight = true` (weight
    N x K, as `nn.Linear` stores it). One op per mapped linalg contraction;
    `kind` records the source (matmul, linear, batch_matmul, conv1d, conv2d,
    generic). `imc-tile` turns it into programs, MVMs and accumulations.

    A weight of rank 3 is a grouped contraction (grouped and depthwise
    convolutions): G groups of K_g x N_g (N_g x K_g when transposed); group
    g reads inputs [g*K_g, (g+1)*K_g) and writes results [g*N_g, (g+1)*N_g),
    so the input's last dimension is G*K_g and the result's G*N_g.

    Example:
        %y = "imc.contract"(%x, %w) {kind = "linear", transpose_weight = true}
            : (tensor<8x512xf32>, tensor<1024x512xf32>) -> tensor<8x1024xf32>
        %z = "imc.contract"(%cols, %dw) {kind = "conv2d", transpose_weight = true}
            : (tensor<64x288xf32>, tensor<32x1x9xf32>) -> tensor<64x32xf32>
    """

    input: Operand[ir.RankedTensorType]
    weight: Operand[ir.RankedTensorType]
    kind: ir.StringAttr
    transpose_weight: ir.IntegerAttr
    result: Result[ir.RankedTensorType]

    @_verifier
    def verify_invariants(self) -> bool:
        x = ir.RankedTensorType(self.input.type)
        w = ir.RankedTensorType(self.weight.type)
        y = ir.RankedTensorType(self.result.type)
        kind = ir.StringAttr(self.kind).value
        if kind not in CONTRACT_KINDS:
            return _fail(self, f"kind '{kind}' is not one of {', '.join(CONTRACT_KINDS)}")
        if x.rank < 1:
            return _fail(self, "input must have rank >= 1")
        if w.rank not in (2, 3):
            return _fail(self, f"weight must have rank 2 (or 3: groups), got rank {w.rank}")
        if not _is_flag(self.transpose_weight):
            return _fail(self, "transpose_weight must be a boolean (true or false)")
        groups, (k, n) = grouped_kn(w.shape, _int(self.transpose_weight))
        k, n = groups * k, groups * n
        if x.shape[-1] != k:
            return _fail(self, f"input reduction size {x.shape[-1]} does not match weight reduction size {k}")
        expected = list(x.shape[:-1]) + [n]
        if list(y.shape) != expected:
            return _fail(self, f"result shape {list(y.shape)} does not match expected {expected}")
        if y.element_type != x.element_type:
            return _fail(self, "result element type must match the input element type")
        return True


class Im2colOp(Imc.Operation, name="im2col", traits=[Pure]):
    """Unfolds convolution patches into rows (im2col), for a weight-stationary conv.

    `input` is N x C x spatial... (already padded), with one or two spatial
    dimensions (`kernel` has as many entries). The result has one row per
    output position, N*prod(out) rows, and C*prod(kernel) columns ordered
    (c, k0, k1), so that it multiplies the weight F x C x K0 x K1 flattened to
    F x (C*K0*K1). `out[d] = (in[d] - dilation[d]*(kernel[d]-1) - 1) // stride[d] + 1`.

    Example:
        %cols = "imc.im2col"(%x) {dilations = array<i64: 1, 1>, kernel = array<i64: 3, 3>,
                                 strides = array<i64: 1, 1>}
            : (tensor<1x16x10x10xf32>) -> tensor<64x144xf32>
    """

    input: Operand[ir.RankedTensorType]
    kernel: Any
    strides: Any
    dilations: Any
    result: Result[ir.RankedTensorType]

    @_verifier
    def verify_invariants(self) -> bool:
        x = ir.RankedTensorType(self.input.type)
        y = ir.RankedTensorType(self.result.type)
        values = {}
        for name in ("kernel", "strides", "dilations"):
            v = _i64_array(self, name)
            if v is None:
                return _fail(self, f"{name} must be an array<i64: ...>")
            values[name] = v
        spatial = len(values["kernel"])
        if spatial not in (1, 2):
            return _fail(self, f"kernel must have 1 or 2 entries, got {spatial}")
        if x.rank != 2 + spatial:
            return _fail(self, f"input must have rank {2 + spatial} (N x C x spatial), got rank {x.rank}")
        for name in ("strides", "dilations"):
            if len(values[name]) != spatial:
                return _fail(self, f"{name} must have {spatial} entries like kernel")
        for name, v in values.items():
            if any(e <= 0 for e in v):
                return _fail(self, f"{name} {v} must be positive")
        out = []
        for d, (k, s, dl) in enumerate(zip(values["kernel"], values["strides"], values["dilations"])):
            extent = x.shape[2 + d] - dl * (k - 1) - 1
            if extent < 0:
                return _fail(self, f"kernel extent {dl * (k - 1) + 1} exceeds input size {x.shape[2 + d]}")
            out.append(extent // s + 1)
        expected = [x.shape[0] * math.prod(out), x.shape[1] * math.prod(values["kernel"])]
        if list(y.shape) != expected:
            return _fail(self, f"result shape {list(y.shape)} does not match expected {expected}")
        if y.element_type != x.element_type:
            return _fail(self, "result element type must match the input element type")
        return True


class ProgramOp(
    Imc.Operation,
    name="program",
    traits=[
        memory_effects(
            ("Read", "operand", 0), ("Write", None, 0), describe="reads its weight tile (a memref), writes crossbar cells"
        )
    ],
):
    """Programs one bit slice of a weight tile into a crossbar.

    The tile (a tensor or memref slice of the weight, rows x cols, or cols x rows
    when `transpose = true`) must fit the crossbar geometry. A tile of rank 3,
    G x rows x cols (G x cols x rows when transposed), is G groups of a grouped
    contraction laid out block-diagonally: G*rows x G*cols cells of which
    only the G diagonal blocks hold weights (the other cells hold zero), so
    one MVM computes every group from its own rows and columns. Weights are
    quantized to `weight_bits`; each cell holds `cell_bits`, so a weight spans
    ceil(weight_bits / cell_bits) slices and this op stores slice `slice`
    (bits [slice*cell_bits, (slice+1)*cell_bits)). `array` is the physical
    crossbar it occupies (-1 before `imc-place-crossbars`) and `offset` the
    [row, col] of the tile's first cell in it (tiles packed along a
    crossbar's diagonal share it; [0, 0] otherwise); the tile must fit the
    crossbar from there. It has a side effect on that array, so it is not
    Pure.

    Example:
        %xb = "imc.program"(%tile) {array = 3 : i64, cell_bits = 2 : i64,
                offset = array<i64: 0, 64>, slice = 0 : i64, transpose = false,
                weight_bits = 8 : i64}
            : (tensor<128x64xf32>) -> !imc.xbar<128 : i64, 128 : i64>
        %dw = "imc.program"(%filters) {array = 4 : i64, cell_bits = 2 : i64,
                offset = array<i64: 0, 0>, slice = 0 : i64, transpose = true,
                weight_bits = 8 : i64}
            : (tensor<14x1x9xf32>) -> !imc.xbar<128 : i64, 128 : i64>
    """

    weight: Operand[ir.RankedTensorType | ir.MemRefType]
    cell_bits: ir.IntegerAttr
    weight_bits: ir.IntegerAttr
    slice: ir.IntegerAttr
    transpose: ir.IntegerAttr
    array: ir.IntegerAttr
    offset: Any
    xbar: Result[XbarType]

    @_verifier
    def verify_invariants(self) -> bool:
        geometry = _xbar_geometry(self, self.xbar.type)
        if geometry is None:
            return False
        t = ir.ShapedType(self.weight.type)
        if t.rank not in (2, 3):
            return _fail(self, f"weight tile must have rank 2 (or 3: diagonal blocks), got rank {t.rank}")
        if not _is_flag(self.transpose):
            return _fail(self, "transpose must be a boolean (true or false)")
        groups, (rows, cols) = grouped_kn(t.shape, _int(self.transpose))
        rows, cols = groups * rows, groups * cols
        if rows > geometry[0] or cols > geometry[1]:
            return _fail(
                self,
                f"weight tile {rows}x{cols} does not fit the {geometry[0]}x{geometry[1]} crossbar",
            )
        offset = _i64_array(self, "offset")
        if offset is None or len(offset) != 2:
            return _fail(self, "offset must be an array<i64: row, col>")
        if min(offset) < 0 or offset[0] + rows > geometry[0] or offset[1] + cols > geometry[1]:
            return _fail(
                self,
                f"weight tile {rows}x{cols} at offset {offset} does not fit the "
                f"{geometry[0]}x{geometry[1]} crossbar",
            )
        cell_bits, weight_bits = _int(self.cell_bits), _int(self.weight_bits)
        if not _check_range(self, "cell_bits", cell_bits, _CELL_BITS):
            return False
        if not _check_range(self, "weight_bits", weight_bits, _WEIGHT_BITS):
            return False
        slices = -(-weight_bits // cell_bits)
        if not _check_range(self, "slice", _int(self.slice), (0, slices - 1)):
            return False
        if _int(self.array) < -1:
            return _fail(self, f"array = {_int(self.array)} must be a crossbar index or -1 (unplaced)")
        return True


class MvmOp(Imc.Operation, name="mvm", traits=[Pure]):
    """Matrix-vector multiply on a programmed crossbar.

    `input` is batch x r (r <= crossbar rows) and `result` batch x c
    (c <= crossbar cols): `result = input @ tile`. Inputs of `input_bits` go
    through `dac_bits` DACs (bit-serial over ceil(input_bits / dac_bits)
    cycles); each column's partial sum goes through an `adc_bits` ADC
    (0 = digital, no ADC). The ADC spans +-`adc_full_scale`, in units of a
    column sum of input digits times cell levels: a calibrated range (set by
    `imc.sim.calibration`), or 0.0, uncalibrated: the hardware's `adc_range`
    times the largest possible column sum.

    Example:
        %p = "imc.mvm"(%xb, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64,
                input_bits = 8 : i64}
            : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
        %q = "imc.mvm"(%xb, %x) {adc_bits = 8 : i64, adc_full_scale = 412.0 : f32, dac_bits = 1 : i64,
                input_bits = 8 : i64}
            : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
    """

    xbar: Operand[XbarType]
    input: Operand[ir.RankedTensorType]
    dac_bits: ir.IntegerAttr
    adc_bits: ir.IntegerAttr
    input_bits: ir.IntegerAttr
    result: Result[ir.RankedTensorType]
    adc_full_scale: ir.FloatAttr = ext.attribute(default_factory=lambda: ir.FloatAttr.get_f32(0.0))

    @_verifier
    def verify_invariants(self) -> bool:
        geometry = _xbar_geometry(self, self.xbar.type)
        if geometry is None:
            return False
        x = ir.RankedTensorType(self.input.type)
        y = ir.RankedTensorType(self.result.type)
        if x.rank != 2:
            return _fail(self, f"input must have rank 2 (batch x rows), got rank {x.rank}")
        if y.rank != 2:
            return _fail(self, f"result must have rank 2 (batch x cols), got rank {y.rank}")
        if x.shape[1] > geometry[0]:
            return _fail(self, f"input has {x.shape[1]} rows but the crossbar has {geometry[0]}")
        if y.shape[1] > geometry[1]:
            return _fail(self, f"result has {y.shape[1]} columns but the crossbar has {geometry[1]}")
        if x.shape[0] != y.shape[0]:
            return _fail(self, f"result batch {y.shape[0]} does not match input batch {x.shape[0]}")
        full_scale = ir.FloatAttr(self.adc_full_scale).value
        if not math.isfinite(full_scale) or full_scale < 0:
            return _fail(self, f"adc_full_scale must be 0 (uncalibrated) or a positive finite number, got {full_scale}")
        if full_scale > 0 and _int(self.adc_bits) == 0:
            return _fail(self, "adc_full_scale is set but adc_bits = 0 (no ADC)")
        return (
            _check_range(self, "dac_bits", _int(self.dac_bits), _DAC_BITS)
            and _check_range(self, "adc_bits", _int(self.adc_bits), _ADC_BITS)
            and _check_range(self, "input_bits", _int(self.input_bits), _INPUT_BITS)
        )


class AccumulateOp(Imc.Operation, name="accumulate", traits=[Pure]):
    """Accumulates partial sums: `result = sum_i partials[i] * 2**shifts[i]`.

    Row tiles of one column tile add with shift 0; bit slices shift-and-add
    with shift `slice * cell_bits`. All partials and the result share a type.

    Example:
        %s = "imc.accumulate"(%p0, %p1) {shifts = array<i64: 0, 2>}
            : (tensor<1x64xf32>, tensor<1x64xf32>) -> tensor<1x64xf32>
    """

    partials: Sequence[Operand[ir.RankedTensorType]]
    shifts: Any
    result: Result[ir.RankedTensorType]

    @_verifier
    def verify_invariants(self) -> bool:
        partials = list(self.operation.operands)
        if not partials:
            return _fail(self, "needs at least one partial sum")
        for i, p in enumerate(partials):
            if p.type != self.result.type:
                return _fail(self, f"partial #{i} has type {p.type} but the result has {self.result.type}")
        shifts = _i64_array(self, "shifts")
        if shifts is None:
            return _fail(self, "shifts must be an array<i64: ...>")
        if len(shifts) != len(partials):
            return _fail(self, f"has {len(partials)} partial sums but {len(shifts)} shifts")
        for s in shifts:
            if not _check_range(self, "shift", s, (0, _MAX_SHIFT)):
                return False
        return True


_single_variadic_operand(AccumulateOp, "partials")


class QuantizeOp(Imc.Operation, name="quantize", traits=[Pure]):
    """Rounds a tensor to the `bits`-bit format the chip stores it in.

    Placed where a tensor stored between layers leaves its producer
    (`imc-quantize-activations`). Over the range [`low`, `high`]: when
    `low >= 0`, `2**bits - 1` steps of `high / (2**bits - 1)` from 0
    (unsigned); else `2**(bits-1) - 1` steps of `max(-low, high) /
    (2**(bits-1) - 1)` each side of 0 (signed); values beyond clip. `low =
    high = 0.0` is uncalibrated: each execution takes its input's own range.
    The interpreter rounds in `quantized` and `noisy` precision and passes
    values through in `ideal`; in every mode it counts one digital op per
    element (the output stage's requantization).

    Example:
        %q = "imc.quantize"(%y) {bits = 8 : i64, high = 0.0 : f32, low = 0.0 : f32}
            : (tensor<1x64xf32>) -> tensor<1x64xf32>
        %r = "imc.quantize"(%y) {bits = 8 : i64, high = 6.5 : f32, low = 0.0 : f32}
            : (tensor<1x64xf32>) -> tensor<1x64xf32>
    """

    input: Operand[ir.RankedTensorType]
    bits: ir.IntegerAttr
    result: Result[ir.RankedTensorType]
    low: ir.FloatAttr = ext.attribute(default_factory=lambda: ir.FloatAttr.get_f32(0.0))
    high: ir.FloatAttr = ext.attribute(default_factory=lambda: ir.FloatAttr.get_f32(0.0))

    @_verifier
    def verify_invariants(self) -> bool:
        if self.input.type != self.result.type:
            return _fail(self, f"result type {self.result.type} differs from the input's {self.input.type}")
        if not isinstance(ir.RankedTensorType(self.input.type).element_type, ir.FloatType):
            return _fail(self, f"input must be a tensor of floats, got {self.input.type}")
        if not _check_range(self, "bits", _int(self.bits), _INPUT_BITS):
            return False
        low, high = ir.FloatAttr(self.low).value, ir.FloatAttr(self.high).value
        if not (math.isfinite(low) and math.isfinite(high)):
            return _fail(self, f"range [{low}, {high}] must be finite")
        if (low, high) != (0.0, 0.0) and not (low <= 0.0 < high):
            return _fail(self, f"range [{low}, {high}] must contain 0 with high > 0 (or be [0, 0]: uncalibrated)")
        return True


# ---------------------------------------------------------------------------
# Scratchpad ops
# ---------------------------------------------------------------------------


class SpadAllocOp(
    Imc.Operation, name="spad_alloc", traits=[memory_effects(("Allocate", "result", 0), describe="allocates its result")]
):
    """Allocates a scratchpad buffer of `size` bytes at byte `offset`.

    The result is a statically shaped memref in memory space 1 whose bytes fit
    in `size`. When the module carries a hardware description
    (`imc.hardware`), the buffer must lie within the scratchpad capacity and
    the offset must respect its alignment.

    Example:
        %buf = "imc.spad_alloc"() {offset = 0 : i64, size = 4096 : i64} : () -> memref<32x32xf32, 1>
    """

    offset: ir.IntegerAttr
    size: ir.IntegerAttr
    buffer: Result[ir.MemRefType]

    @_verifier(local=False)  # reads the module's hardware
    def verify_invariants(self) -> bool:
        offset, size = _int(self.offset), _int(self.size)
        if size <= 0:
            return _fail(self, f"size = {size} must be positive")
        if offset < 0:
            return _fail(self, f"offset = {offset} must be non-negative")
        t = ir.MemRefType(self.buffer.type)
        if not is_spad(t):
            return _fail(self, f"result must be a scratchpad memref (memory space {SPAD_SPACE})")
        if getattr(t.element_type, "width", None) is None:
            return _fail(self, f"element type {t.element_type} has no fixed size in bytes")
        hw = _hardware_of(self)
        if hw is False:
            return False
        need = stored_bytes(t, hw or None)
        if need > size:
            return _fail(self, f"result needs {need} bytes but only {size} are allocated")
        if hw is not None:
            if offset + size > hw.spad_bytes:
                return _fail(self, spad_capacity_error(f"buffer [{offset}, {offset + size})", hw.spad_bytes))
            if offset % hw.spad_alignment:
                return _fail(self, spad_alignment_error(f"buffer [{offset}, {offset + size})", offset, hw.spad_alignment))
        return True


class SpadFreeOp(
    Imc.Operation, name="spad_free", traits=[memory_effects(("Free", "operand", 0), describe="frees its operand")]
):
    """Frees a scratchpad buffer; its bytes may be reused afterwards.

    Example:
        "imc.spad_free"(%buf) : (memref<32x32xf32, 1>) -> ()
    """

    buffer: Operand[ir.MemRefType]

    @_verifier
    def verify_invariants(self) -> bool:
        if not is_spad(self.buffer.type):
            return _fail(self, f"operand must be a scratchpad memref (memory space {SPAD_SPACE})")
        return True


class DmaOp(
    Imc.Operation,
    name="dma",
    traits=[memory_effects(("Read", "operand", 0), ("Write", "operand", 1), describe="reads its source, writes its target")],
):
    """Copies a strided window between DRAM and the scratchpad.

    Exactly one of `source` and `target` is a scratchpad memref. The window on
    the DRAM memref starts at `offsets`, has `sizes` elements per dimension and
    steps by `strides`; the scratchpad side has shape `sizes`. DRAM to
    scratchpad is a load, scratchpad to DRAM a store.

    Example:
        "imc.dma"(%dram, %buf) {offsets = array<i64: 0, 32>, sizes = array<i64: 32, 32>,
                                strides = array<i64: 1, 1>}
            : (memref<64x64xf32>, memref<32x32xf32, 1>) -> ()
    """

    source: Operand[ir.MemRefType]
    target: Operand[ir.MemRefType]
    offsets: Any
    sizes: Any
    strides: Any

    @_verifier
    def verify_invariants(self) -> bool:
        src, dst = ir.MemRefType(self.source.type), ir.MemRefType(self.target.type)
        if is_spad(src) == is_spad(dst):
            where = "the scratchpad" if is_spad(src) else "DRAM"
            return _fail(self, f"needs exactly one scratchpad side, but both are in {where}")
        dram, spad = (dst, src) if is_spad(src) else (src, dst)
        if src.element_type != dst.element_type:
            return _fail(self, f"element types differ: {src.element_type} vs {dst.element_type}")
        window = {}
        for name in ("offsets", "sizes", "strides"):
            values = _i64_array(self, name)
            if values is None:
                return _fail(self, f"{name} must be an array<i64: ...>")
            if len(values) != dram.rank:
                return _fail(self, f"{name} has {len(values)} entries but the DRAM memref has rank {dram.rank}")
            window[name] = values
        for d, (o, s, st) in enumerate(zip(window["offsets"], window["sizes"], window["strides"])):
            if s <= 0:
                return _fail(self, f"size {s} in dimension {d} must be positive")
            if st <= 0:
                return _fail(self, f"stride {st} in dimension {d} must be positive")
            if o < 0:
                return _fail(self, f"offset {o} in dimension {d} must be non-negative")
            last = o + (s - 1) * st
            if dram.shape[d] >= 0 and last >= dram.shape[d]:
                return _fail(
                    self,
                    f"window reaches index {last} in dimension {d} of a DRAM dimension of size {dram.shape[d]}",
                )
        if list(spad.shape) != window["sizes"]:
            return _fail(self, f"scratchpad buffer shape {list(spad.shape)} does not match sizes {window['sizes']}")
        return True


class JoinOp(Imc.Operation, name="join", traits=[Pure]):
    """Joins the two parts of a stored tensor along `dim`: `head`, then `tail`.

    `imc-place-buffers` keeps a tensor that does not fit the scratchpad partly
    on chip and partly in DRAM; its reader reads each part where it is (the
    on-chip part in place, the DRAM part loaded by `imc.transfer_in` or
    through a row slab). The join names the whole tensor the reader reads:
    it moves no bytes (each part was counted where it was written, read or
    loaded). Both parts have the result's rank, element type and sizes,
    except along `dim`, where the result's size is the sum of theirs (a
    tensor in more than two parts is a chain of joins). Sizes may be
    dynamic (the rows of a tiled stage's last, shorter row window): they
    must then be dynamic in the parts and the result alike.

    Example:
        %t = "imc.join"(%on_chip, %loaded) {dim = 0 : i64}
            : (tensor<192xf32>, tensor<64xf32>) -> tensor<256xf32>
    """

    head: Operand[ir.RankedTensorType]
    tail: Operand[ir.RankedTensorType]
    dim: ir.IntegerAttr
    result: Result[ir.RankedTensorType]

    DYNAMIC_SIZES = True  # (`_check_fields`: operands and result may have dynamic sizes)

    @_verifier
    def verify_invariants(self) -> bool:
        head, tail = ir.RankedTensorType(self.head.type), ir.RankedTensorType(self.tail.type)
        result = ir.RankedTensorType(self.result.type)
        if not head.rank == tail.rank == result.rank:
            return _fail(self, f"parts and result must have one rank, got {head}, {tail} and {result}")
        if not head.element_type == tail.element_type == result.element_type:
            return _fail(self, f"parts and result must have one element type, got {head}, {tail} and {result}")
        dim = _int(self.dim)
        if not _check_range(self, "dim", dim, (0, head.rank - 1)):
            return False
        expected = joined_shape(head.shape, tail.shape, dim)
        if any(a != b for d, (a, b) in enumerate(zip(head.shape, tail.shape)) if d != dim) or list(result.shape) != expected:
            return _fail(self, f"result {result} is not {head} and {tail} joined along dimension {dim}")
        return True


class TiledContractOp(Imc.Operation, name="tiled_contract"):
    """One tiled contraction `x @ W`: the crossbar ops that compute it tile by tile.

    The body holds the programs of the weight tiles (one per tile and bit
    slice, with the slices of the weight they read), the MVMs of `x`'s column
    slices (or of row blocks of them, for copies of a tile) on those
    crossbars, one `imc.accumulate` per column tile of the result and the
    `tensor.concat` (along dimension 1) that joins the column tiles when
    there are several; optionally the `imc.im2col` that makes `x` and the
    slices of `x` the MVMs read. It ends with `imc.yield` of the result: the
    concat's, or the one accumulate's. The body reads values defined above
    it (the input and the weights); nothing outside reads a value defined
    inside.

    `imc-group-contractions` forms the op at the end of a pipeline. The
    interpreter executes it as its body's ops or, on a fast path, in one
    step (in `ideal` precision one matmul by the weights the crossbars hold;
    `docs/interpreter.md`, "Fast paths") with the same values, counters and
    errors; the analyses and the timeline see the body's ops.

    Example:
        %y = "imc.tiled_contract"() ({
          %xb = "imc.program"(%w) {array = -1 : i64, cell_bits = 8 : i64, offset = array<i64: 0, 0>,
              slice = 0 : i64, transpose = false, weight_bits = 8 : i64}
              : (tensor<64x64xf32>) -> !imc.xbar<64 : i64, 64 : i64>
          %p = "imc.mvm"(%xb, %x) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 1 : i64, input_bits = 8 : i64}
              : (!imc.xbar<64 : i64, 64 : i64>, tensor<1x64xf32>) -> tensor<1x64xf32>
          %s = "imc.accumulate"(%p) {shifts = array<i64: 0>} : (tensor<1x64xf32>) -> tensor<1x64xf32>
          "imc.yield"(%s) : (tensor<1x64xf32>) -> ()
        }) : () -> tensor<1x64xf32>
    """

    result: Result[ir.RankedTensorType]
    body: ext.Region

    @_verifier(local=False)
    def verify_invariants(self) -> bool:
        blocks = list(self.operation.regions[0].blocks)
        if len(blocks) != 1:
            return _fail(self, f"body must have one block, got {len(blocks)}")
        if len(blocks[0].arguments):
            return _fail(self, "body block must have no arguments")
        return True

    def verify_region_invariants(self) -> bool:
        op = self.operation
        # (the body ends with a terminator, and every terminator but `imc.yield`
        # is verified to have another parent before this runs)
        yielded = list(op.regions[0].blocks[0].operations[-1].operation.operands)
        if len(yielded) != 1 or yielded[0].type != op.results[0].type:
            return _fail(self, f"body must yield one value of the result type {op.results[0].type}")
        owner = yielded[0].owner
        tiles = [yielded[0]]
        if not isinstance(owner, ir.Block) and owner.name == "tensor.concat":
            tiles = list(owner.operands)
        for v in tiles:
            producer = v.owner
            if isinstance(producer, ir.Block) or producer.name != "imc.accumulate" or producer.parent != op:
                return _fail(self, "must yield an 'imc.accumulate' of its body, or a 'tensor.concat' of them")
        return True


class YieldOp(Imc.Operation, name="yield", traits=[Pure, ir.IsTerminatorTrait]):
    """Ends the body of an `imc.tiled_contract`: its operand is the op's result.

    Example:
        %y = "imc.tiled_contract"() ({
          %s = "imc.accumulate"(%p) {shifts = array<i64: 0>} : (tensor<1x64xf32>) -> tensor<1x64xf32>
          "imc.yield"(%s) : (tensor<1x64xf32>) -> ()
        }) : () -> tensor<1x64xf32>
    """

    values: Sequence[Operand[ir.RankedTensorType]]

    @_verifier(local=False)
    def verify_invariants(self) -> bool:
        parent = self.operation.parent
        if parent is None or parent.name != "imc.tiled_contract":
            return _fail(self, "must end the body of an 'imc.tiled_contract'")
        return True


_single_variadic_operand(YieldOp, "values")


def transfer_groups(count: int, tile: int, buffers: int) -> list[tuple[int, int, int]]:
    """The DMAs of a transfer of `count` elements in tiles of `tile` through
    `buffers` staging buffers, as (trips, elements per DMA, DMAs per trip)
    groups in order: whole trips that fill every buffer, then (when
    `count` is not a multiple of `tile * buffers`) one trip of the remaining
    whole tiles and one of the last, short tile."""
    per_trip = tile * buffers
    q, rest = divmod(count, per_trip)
    groups = [(q, tile, buffers)] if q else []
    if rest // tile:
        groups.append((1, tile, rest // tile))
    if rest % tile:
        groups.append((1, rest % tile, 1))
    return groups


def staging_elements(count: int, tile: int, buffers: int) -> int:
    """The elements a transfer's staging buffers span: buffer k starts at
    element k * tile; the widest trip reaches the end of its last tile."""
    return max((width - 1) * tile + size for _, size, width in transfer_groups(count, tile, buffers))


def joined_shape(head: Sequence[int], tail: Sequence[int], dim: int) -> list[int]:
    """`head`'s shape with `tail`'s size added along `dim` (dynamic if either is)."""
    dynamic = ir.ShapedType.get_dynamic_size()
    shape = list(head)
    shape[dim] = dynamic if dynamic in (head[dim], tail[dim]) else head[dim] + tail[dim]
    return shape


def _verify_transfer(op, tensor, dram) -> bool:
    """The rules `imc.transfer_in` and `imc.transfer_out` share."""
    t, m = ir.RankedTensorType(tensor.type), ir.MemRefType(dram.type)
    if t.rank != 1 or m.rank != 1:
        return _fail(op, f"moves between a 1-D tensor and a 1-D DRAM memref, got {t} and {m}")
    if is_spad(m):
        return _fail(op, f"memref {m} must be in DRAM, not in the scratchpad (memory space {SPAD_SPACE})")
    if t.element_type != m.element_type:
        return _fail(op, f"element types differ: {t.element_type} vs {m.element_type}")
    offset, tile, buffers, staging = (_int(op.offset), _int(op.tile), _int(op.buffers), _int(op.staging))
    if offset < 0 or offset + t.shape[0] > m.shape[0]:
        return _fail(op, f"DRAM window [{offset}, {offset + t.shape[0]}) is outside the memref's {m.shape[0]} elements")
    if tile < 1:
        return _fail(op, f"tile = {tile} must be positive")
    if not _check_range(op, "buffers", buffers, (1, 2)):
        return False
    if staging < 0:
        return _fail(op, f"staging = {staging} must be non-negative")
    hw = _hardware_of(op)
    if hw is None or hw is False:
        return hw is None
    elem = stored_element_bytes(t.element_type, hw)
    end = staging + staging_elements(t.shape[0], tile, buffers) * elem
    if end > hw.spad_bytes:
        return _fail(op, spad_capacity_error(f"staging area [{staging}, {end})", hw.spad_bytes))
    if staging % hw.spad_alignment:
        return _fail(op, spad_alignment_error(f"staging area [{staging}, {end})", staging, hw.spad_alignment))
    return True


class TransferOutOp(
    Imc.Operation,
    name="transfer_out",
    traits=[
        memory_effects(("Write", "operand", 1), ("Write", None, 0), describe="writes its DRAM window and its staging bytes")
    ],
):
    """Stores a tensor to DRAM through scratchpad staging buffers.

    Moves the 1-D `source` to `target[offset : offset + n]` (`target`: a 1-D
    DRAM memref, the tensor's n elements) in DMAs of `tile` elements: the
    datapath writes a tile into a staging buffer, a DMA copies the buffer to
    DRAM. There are `buffers` staging buffers (1, or 2 for double
    buffering: a trip fills both before its DMAs, so one buffer's DMA
    overlaps the use of the other); buffer k is `tile` elements at
    scratchpad byte `staging + k * tile * element bytes` (elements as the
    chip stores them). They are allocated for the op's duration: no live
    scratchpad buffer may overlap them. The trips are `transfer_groups`;
    `imc-lower-transfers` writes them out as DMA loops.

    Example:
        "imc.transfer_out"(%t, %dram) {buffers = 2 : i64, offset = 0 : i64,
                staging = 8192 : i64, tile = 1024 : i64}
            : (tensor<5000xf32>, memref<5000xf32>) -> ()
    """

    source: Operand[ir.RankedTensorType]
    target: Operand[ir.MemRefType]
    offset: ir.IntegerAttr
    staging: ir.IntegerAttr
    tile: ir.IntegerAttr
    buffers: ir.IntegerAttr

    @_verifier(local=False)  # reads the module's hardware
    def verify_invariants(self) -> bool:
        return _verify_transfer(self, self.source, self.target)


class TransferInOp(
    Imc.Operation,
    name="transfer_in",
    traits=[
        memory_effects(("Read", "operand", 0), ("Write", None, 0), describe="reads its DRAM window, writes its staging bytes")
    ],
):
    """Loads a tensor from DRAM through scratchpad staging buffers.

    The result (1-D, n elements) is `source[offset : offset + n]` (`source`:
    a 1-D DRAM memref), moved as `imc.transfer_out` moves a tensor, the
    other way: a DMA copies a tile of `tile` elements from DRAM into a
    staging buffer, the datapath reads it from there. `buffers`, `staging`
    and the trips are as for `imc.transfer_out`.

    Example:
        %t = "imc.transfer_in"(%dram) {buffers = 1 : i64, offset = 1000 : i64,
                staging = 0 : i64, tile = 1024 : i64}
            : (memref<5000xf32>) -> tensor<4000xf32>
    """

    source: Operand[ir.MemRefType]
    offset: ir.IntegerAttr
    staging: ir.IntegerAttr
    tile: ir.IntegerAttr
    buffers: ir.IntegerAttr
    result: Result[ir.RankedTensorType]

    @_verifier(local=False)  # reads the module's hardware
    def verify_invariants(self) -> bool:
        return _verify_transfer(self, self.result, self.source)


TRANSFER_OPS = frozenset({TransferOutOp.OPERATION_NAME, TransferInOp.OPERATION_NAME})
"""The names of the ops that move a tensor between the datapath and DRAM."""


# ---------------------------------------------------------------------------
# Building many ops
# ---------------------------------------------------------------------------


def build(op_class, operands: list, attributes: dict, results: list, *, loc=None) -> ir.Operation:
    """An `op_class` op at the current insertion point: what its generated
    constructor builds, without binding that constructor's Python signature
    (a tenth of the time, for passes that build thousands of ops).

    `attributes` must hold every declared attribute, defaults included (none
    is filled in); `operands` is the flat operand list (no segment sizes:
    imc ops have at most one variadic group). The verifier checks the op.
    """
    return ir.Operation.create(op_class.OPERATION_NAME, results=results, operands=operands, attributes=attributes, loc=loc)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load(context: ir.Context | None = None) -> None:
    """Loads the imc dialect into `context` (default: the current one); idempotent."""
    # The bindings look up `<prefix>.imc` for every imc op they wrap; without
    # a module there the failed import is repeated (and slow) each time.
    sys.modules.setdefault("torch_mlir.dialects.imc", sys.modules[__name__])
    context = context or ir.Context.current
    with context:
        if context.is_dialect_loaded(Imc.DIALECT_NAMESPACE):
            return
        with ir.Location.unknown():
            Imc.load()


OPS = tuple(Imc.operations)
TYPES = tuple(Imc.types)
