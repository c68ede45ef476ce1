"""Core of the NumPy reference interpreter: registry, compiled IR form, execution.

The interpreter executes a `torch_mlir.ir` module function by function.  Each
function is *compiled* once (on first call) into a flat list of steps
``(impl, op, operand_slots, result_slots)``; SSA values live in a per-call
frame (a Python list indexed by slot number), so running a function again
never re-walks the IR.  Operations with regions (``linalg.generic``,
``scf.for``, ...) own :class:`CompiledRegion` objects that execute in the same
frame as their parent.

Op implementations are plain functions registered by op name::

    @impl("linalg.matmul")
    def matmul(interp, op, args):
        ...
        return [result]

``op`` is a :class:`CompiledOp` (``op.ir`` is the MLIR op view, ``op.static``
a per-op cache that the implementation may fill on first use, e.g. with
decoded attributes).  ``args`` is the list of operand values (NumPy arrays or
NumPy/Python scalars); the function returns the list of result values (an
empty list for ops without results).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Protocol, Sequence

import numpy as np

from torch_mlir import ir

from imc.ir.diagnostics import Diagnostic

__all__ = [
    "InterpreterError",
    "Interpreter",
    "InterpreterHooks",
    "CompiledOp",
    "CompiledBlock",
    "CompiledRegion",
    "impl",
    "register",
    "registered_ops",
    "element_dtype",
    "check_index",
    "DYNAMIC",
    "register_block_rewriter",
    "slot_uses",
    "FAST_PATHS_ENV",
    "default_fast_paths",
]

# Environment variable: "0" disables the fast paths (block rewriters) for
# interpreters created without an explicit ``fast_paths`` keyword.
FAST_PATHS_ENV = "IMC_INTERPRETER_FAST_PATHS"


def default_fast_paths() -> bool:
    """Whether interpreters take their fast paths unless told (true unless
    the environment variable `FAST_PATHS_ENV` is "0")."""
    import os

    return os.environ.get(FAST_PATHS_ENV, "1") != "0"

ImplFn = Callable[["Interpreter", "CompiledOp", list], Sequence[Any]]

DYNAMIC = ir.ShapedType.get_dynamic_size()

# Ops that end a block; their operands are the block's yielded values.
TERMINATORS = frozenset(
    {
        "func.return",
        "scf.yield",
        "scf.condition",
        "linalg.yield",
        "tensor.yield",
        "bufferization.yield",
        "tm_tensor.yield",
        "memref.alloca_scope.return",
        "imc.yield",
    }
)

_REGISTRY: dict[str, ImplFn] = {}

# Ops whose result is a view of their one tensor operand, fixed by static
# attributes: of a constant, a constant (see `Interpreter._fold_constant_views`).
_FOLDABLE_VIEWS = frozenset({"tensor.extract_slice", "tensor.collapse_shape", "tensor.expand_shape"})

# fn(interp, steps, yield_slots, arg_slots) -> steps: rewrites a compiled block's steps
# (e.g. fuses groups of ops into one step); see `register_block_rewriter`.
_BLOCK_REWRITERS: list[Callable] = []


def register_block_rewriter(fn: Callable) -> None:
    """Register ``fn(interp, steps, yield_slots, arg_slots) -> steps``, run on every compiled block.

    Rewriters implement fast paths: they may replace steps by equivalent fused
    steps, which must give the same values, side effects (chip state, report
    counters) and errors as the steps they replace.  They run only when the
    interpreter's ``fast_paths`` is true.  Fused steps that read slots other
    than their ``ins`` expose them as ``op.static.reads`` (used by the use
    analysis of enclosing blocks).
    """
    if fn not in _BLOCK_REWRITERS:
        _BLOCK_REWRITERS.append(fn)


def _reads_within(op) -> frozenset:
    """The slots `op` reads besides its operands: its fused steps' `reads`
    and what its regions read (computed once per op: a compiled op's regions
    are final when it is made, and so is a fused step's `static`)."""
    reads = op.nested_reads
    if reads is None:
        found = set(getattr(op.static, "reads", None) or ())
        for region in op.regions:
            for block in region.blocks:
                found.update(block.yield_slots)
                for _, sub, ins, _ in block.steps:
                    found.update(ins)
                    found.update(_reads_within(sub))
        reads = op.nested_reads = frozenset(found)
    return reads


def slot_uses(steps, yield_slots) -> dict[int, list[int]]:
    """slot -> indices of the steps of a block that read it (reads in nested
    regions and a fused step's ``op.static.reads`` count as their step; -1:
    the block terminator). For block rewriters."""
    uses: dict[int, list[int]] = {}
    for i, (_, op, ins, _) in enumerate(steps):
        for s in _reads_within(op).union(ins):
            uses.setdefault(s, []).append(i)
    for s in yield_slots:
        uses.setdefault(s, []).append(-1)
    return uses


class InterpreterError(Exception):
    """An op that cannot be executed, or an invalid runtime condition.

    The message names the op and its source location, e.g.
    ``error: interpreter cannot execute 'foo.bar' at loc("model.py":12:4)``;
    `diagnostic` is the same as an `imc.ir.diagnostics.Diagnostic` (which the
    tools render as `model.py:12:4: error: interpreter cannot execute ...`).
    """

    def __init__(self, message: str, *, op_name: str | None = None, loc: str | None = None):
        super().__init__(message)
        self.op_name = op_name
        self.loc = loc
        text = message.removeprefix("error: ")
        if loc is not None:
            text = text.removesuffix(f" at {loc}")
        self.diagnostic = Diagnostic("error", text, loc)


class InterpreterHooks(Protocol):
    """Observer protocol: ``on_op`` is called after every executed step.

    Hooks may also define ``wants(op) -> bool``: asked once per op (its
    answer must depend only on the op, not on values); ``on_op`` is then
    called only for the ops it wants.
    """

    def on_op(self, op: "CompiledOp", args: list, results: Sequence[Any]) -> None: ...


def impl(name: str) -> Callable[[ImplFn], ImplFn]:
    """Decorator registering ``fn`` as the global implementation of op ``name``."""

    def deco(fn: ImplFn) -> ImplFn:
        _REGISTRY[name] = fn
        return fn

    return deco


def register(name: str, fn: ImplFn, *, override: bool = True) -> None:
    """Register ``fn(interp, op, args) -> results`` for op ``name`` globally.

    Raises ValueError if ``name`` is already registered and ``override`` is
    False.  Functions compiled before the call keep their old binding.
    """
    if not override and name in _REGISTRY:
        raise ValueError(f"an implementation of '{name}' is already registered")
    _REGISTRY[name] = fn


def registered_ops() -> list[str]:
    """Names of all globally registered ops, sorted."""
    return sorted(_REGISTRY)


_DTYPES = {
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "f16": np.dtype(np.float16),
    "i1": np.dtype(np.bool_),
    "i8": np.dtype(np.int8),
    "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "si8": np.dtype(np.int8),
    "si16": np.dtype(np.int16),
    "si32": np.dtype(np.int32),
    "si64": np.dtype(np.int64),
    "ui8": np.dtype(np.uint8),
    "ui16": np.dtype(np.uint16),
    "ui32": np.dtype(np.uint32),
    "ui64": np.dtype(np.uint64),
    "index": np.dtype(np.int64),
}


def check_index(op: "CompiledOp", idx: tuple, shape) -> None:
    """Raises the op's error if a scalar index is out of bounds of `shape`."""
    for k, i in enumerate(idx):
        if not 0 <= i < shape[k]:
            raise op.error(f"index {i} out of bounds for dim {k} of size {shape[k]}")


def element_dtype(t: ir.Type) -> np.dtype:
    """NumPy dtype of a scalar type or of the element type of a shaped type.

    Raises InterpreterError for element types NumPy cannot represent (bf16,
    complex, ...).
    """
    if isinstance(t, ir.ShapedType):
        t = t.element_type
    key = str(t)
    try:
        return _DTYPES[key]
    except KeyError:
        raise InterpreterError(f"error: interpreter does not support element type '{key}'") from None


def _location(op) -> str:
    return str(op.location)


class CompiledOp:
    """One executable op: its name, MLIR view, compiled regions and a cache.

    Attributes:
      name: op name, e.g. ``"linalg.matmul"``.
      ir: the ``ir.OpView`` of the op (attributes, types, location).
      regions: the op's regions, compiled (``list[CompiledRegion]``).
      static: free slot for the implementation to cache decoded attributes;
        ``None`` until the implementation sets it.
      result_types: the MLIR result types.
      prev: the step before it in its block (``CompiledOp``), or ``None``.
    """

    __slots__ = ("name", "ir", "regions", "static", "_result_types", "_loc", "hooked", "nested_reads", "prev")

    def __init__(self, name: str, op, regions: list["CompiledRegion"]):
        self.name = name
        self.ir = op
        self.regions = regions
        self.static = None
        self._result_types = None
        self._loc = None
        self.hooked = None  # whether hooks want its executions (asked once)
        self.nested_reads = None  # `_reads_within`, once asked
        self.prev = None

    @property
    def result_types(self) -> list:
        """The MLIR result types, read on first use (most ops of a large
        program are fused or replayed and never ask)."""
        if self._result_types is None:
            self._result_types = [r.type for r in self.ir.results]
        return self._result_types

    @property
    def location(self) -> str:
        """``str(op.location)``, computed once."""
        if self._loc is None:
            self._loc = _location(self.ir)
        return self._loc

    def error(self, message: str) -> InterpreterError:
        """An InterpreterError for this op, worded as MLIR's diagnostics (the
        verifiers' and `imc-check-buffers`'): ``error: '<name>' op <message> at <loc>``."""
        return InterpreterError(
            f"error: '{self.name}' op {message} at {self.location}", op_name=self.name, loc=self.location
        )

    def failure(self, exc: Exception) -> InterpreterError:
        """What executing this op raised, as an InterpreterError: interpreter
        errors as they are, others (NumPy's) wrapped with the op's location."""
        if isinstance(exc, InterpreterError):
            return exc
        err = self.error(f"{type(exc).__name__}: {exc}")
        err.__cause__ = exc
        return err

    def __repr__(self) -> str:
        return f"CompiledOp({self.name})"


class CompiledBlock:
    """A single block: argument slots, steps, and the terminator's operand slots."""

    __slots__ = ("arg_slots", "steps", "yield_slots", "terminator")

    def __init__(self, arg_slots, steps, yield_slots, terminator):
        self.arg_slots: list[int] = arg_slots
        self.steps: list[tuple] = steps
        self.yield_slots: list[int] = yield_slots
        self.terminator = terminator  # ir op or None


class CompiledRegion:
    """A compiled region; only single-block regions are supported."""

    __slots__ = ("blocks",)

    def __init__(self, blocks: list[CompiledBlock]):
        self.blocks = blocks

    @property
    def block(self) -> CompiledBlock:
        return self.blocks[0]


class _CompiledFunction:
    __slots__ = ("name", "op", "nslots", "template", "body", "input_types", "result_types")

    def __init__(self, name, op, nslots, template, body, input_types, result_types):
        self.name = name
        self.op = op
        self.nslots = nslots
        self.template = template
        self.body = body
        self.input_types = input_types
        self.result_types = result_types


_RESOURCE_NAME = re.compile(r'dense_resource<("(?:[^"\\]|\\.)*"|[^>]+)>')
_RESOURCE_ENTRY = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[^\s:]+)\s*:\s*"0x([0-9A-Fa-f]*)"', re.M)


class Interpreter:
    """Executes functions of an MLIR module with NumPy.

    ``Interpreter(module, *, hooks=None, impls=None)``: ``module`` is an
    ``ir.Module`` (or its operation); ``hooks`` an object with
    ``on_op(op, args, results)`` called after each executed step; ``impls`` a
    mapping of op names to implementations that take precedence over the
    global registry for this interpreter only.

    Arithmetic follows the IR's types: f32 stays float32 (never promoted to
    float64), integers keep their width, ``index`` is int64 (or a Python int).
    Constants are decoded once per function and are not reported to hooks.

    ``fast_paths`` (default: true unless the environment variable
    ``IMC_INTERPRETER_FAST_PATHS`` is ``"0"``) enables the registered block
    rewriters (e.g. batched crossbar contractions in ``ideal`` precision).
    Fused steps are reported to hooks as one op (the ops they replace are
    reported only when the fused step falls back to executing them).  It is
    read when a function is compiled (its first call).

    ``trace_safe_fast_paths`` (off unless set) turns on, with ``fast_paths``
    off, the fast paths that leave a traced call's steps as they are:
    ``imc.tiled_contract``'s fused contractions, which run their ops one by
    one while a tracer is attached (so a tracing runner's untraced calls
    take them: `imc.sim.runtime.Runner`).
    """

    def __init__(
        self,
        module,
        *,
        hooks: InterpreterHooks | None = None,
        impls: dict[str, ImplFn] | None = None,
        fast_paths: bool | None = None,
    ):
        if fast_paths is None:
            fast_paths = default_fast_paths()
        self.fast_paths = bool(fast_paths)
        self.trace_safe_fast_paths = False
        # On the fast paths: loops whose bodies allow it run their trips op by op (`loop_distribution`).
        self.distribute_loops = True
        # ... with each trip's rows of a batched contraction multiplied on their own, as in the trips in
        # order: the same outputs bit for bit in `ideal` too (slower: each trip reads the weights again).
        self.exact_trips = False
        # An `imc.sim.timeline.Tracer` (with `fast_paths` off): every op's execution is placed on a timeline.
        self.tracer = None
        self.module = module
        mod_op = module.operation if hasattr(module, "operation") else module
        self._module_op = mod_op
        self.hooks = hooks
        self._on_op = getattr(hooks, "on_op", None) if hooks is not None else None
        self._wants = getattr(hooks, "wants", None) if hooks is not None else None
        self._impls: dict[str, ImplFn] = dict(impls or {})
        self._functions: dict[str, Any] = {}
        body = mod_op.regions[0].blocks[0]
        for op in body.operations:
            if op.operation.name == "func.func":
                self._functions[ir.StringAttr(op.attributes["sym_name"]).value] = op
        self._compiled: dict[str, _CompiledFunction] = {}
        self._resources: dict[str, np.ndarray] | None = None
        self._env: list | None = None
        # Per-iteration-space state for linalg.index (set by linalg impls).
        self.linalg_index: list | None = None
        # Per-run state of dialect implementations, registered by whoever
        # runs the interpreter (`set_data`).
        self._data: dict[str, Any] = {}
        self._folded_ops: list = []  # the ops `_fold_constant_views` executed at compile time

    # ----------------------------------------------------------------- API
    def register(self, name: str, fn: ImplFn) -> None:
        """Register an implementation of ``name`` for this interpreter only.

        Functions that were already compiled keep their old binding.
        """
        self._impls[name] = fn

    def set_data(self, key: str, value) -> None:
        """Registers per-run state for a dialect's implementations, under
        `key` (by convention the dialect's name): e.g. the chip and report the
        `imc` ops act on (`imc.sim.interpreter.imc.attach`, called by
        `imc.sim.runtime.Runner`)."""
        self._data[key] = value

    def get_data(self, key: str, default=None):
        """The state registered under `key` (`set_data`), else `default`."""
        return self._data.get(key, default)

    def prepare(self) -> None:
        """Compiles every function with a body now instead of on first call.

        Raises InterpreterError naming the first op that cannot be executed
        (so a compiler can reject a program before it is run).
        """
        for name, fop in self._functions.items():
            if len(fop.regions[0].blocks):
                self._get_compiled(name)

    def run(self, entry: str = "main", inputs: Iterable[np.ndarray] = ()) -> list[np.ndarray]:
        """Execute function ``entry`` on ``inputs``; return its results as arrays.

        Raises InterpreterError when the function does not exist, the inputs
        do not match its signature (count, dtype, static shape), or an op
        cannot be executed.
        """
        cf = self._get_compiled(entry)
        inputs = list(inputs)
        if len(inputs) != len(cf.input_types):
            raise InterpreterError(
                f"error: function '{entry}' takes {len(cf.input_types)} inputs, got {len(inputs)} "
                f"at {_location(cf.op)}",
                loc=_location(cf.op),
            )
        args = []
        for i, (x, t) in enumerate(zip(inputs, cf.input_types)):
            args.append(self._check_input(entry, i, x, t, cf.op))
        results = self._call_compiled(cf, args)
        return [np.array(r, order="C") for r in results]

    def compiled_ops(self):
        """Every compiled op of the functions compiled so far (those of
        nested regions too), each once: for state kept with them (`op.static`)."""
        stack = [cf.body for cf in self._compiled.values()]  # (blocks)
        while stack:
            for _, op, _, _ in stack.pop().steps:
                yield op
                for region in op.regions:
                    stack.extend(region.blocks)

    def call(self, name: str, args: list) -> list:
        """Call function ``name`` with already-converted values (used by func.call)."""
        return self._call_compiled(self._get_compiled(name), list(args))

    def run_block(self, block: CompiledBlock, args: Sequence[Any]) -> list:
        """Execute ``block`` in the current frame with ``args`` bound to its arguments.

        Returns the values of the block terminator's operands.
        """
        env = self._env
        for s, a in zip(block.arg_slots, args):
            env[s] = a
        self._exec_steps(block.steps, env)
        return [env[s] for s in block.yield_slots]

    def exec_steps(self, steps: list[tuple]) -> None:
        """Execute a list of compiled steps in the current frame."""
        self._exec_steps(steps, self._env)

    @property
    def env(self) -> list:
        """The current frame (slot-indexed list of values)."""
        return self._env

    # ------------------------------------------------------------ internals
    def _check_input(self, entry, i, x, t, fop):
        if isinstance(t, ir.ShapedType):
            dt = element_dtype(t)
            arr = np.asarray(x)
            if arr.dtype != dt:
                raise InterpreterError(
                    f"error: input #{i} of '{entry}' has dtype {arr.dtype}, expected {dt} at {_location(fop)}",
                    loc=_location(fop),
                )
            if isinstance(t, (ir.RankedTensorType, ir.MemRefType)):
                shape = t.shape
                if len(shape) != arr.ndim or any(
                    s != DYNAMIC and s != d for s, d in zip(shape, arr.shape)
                ):
                    raise InterpreterError(
                        f"error: input #{i} of '{entry}' has shape {arr.shape}, expected {t} at {_location(fop)}",
                        loc=_location(fop),
                    )
            if isinstance(t, ir.MemRefType) and not arr.flags.writeable:
                arr = arr.copy()
            return arr
        dt = element_dtype(t)
        return dt.type(x)

    def _call_compiled(self, cf: _CompiledFunction, args: list) -> list:
        env = cf.template.copy()
        saved = self._env
        self._env = env
        try:
            return self.run_block(cf.body, args)
        finally:
            self._env = saved

    def _exec_steps(self, steps, env):
        if self.tracer is not None:
            self._exec_steps_traced(steps, env)
            return
        on_op = self._on_op
        for fn, op, ins, outs in steps:
            args = [env[i] for i in ins]
            try:
                res = fn(self, op, args)
            except Exception as e:
                raise op.failure(e)
            for i, r in zip(outs, res):
                env[i] = r
            if on_op is not None:
                hooked = op.hooked
                if hooked is None:
                    hooked = self.hooks_want(op)
                if hooked:
                    on_op(op, args, res)

    def _exec_steps_traced(self, steps, env):
        """`_exec_steps` that tells `self.tracer` when each op (other than
        control flow, whose bodies are traced) begins and ends. (A copy of
        the loop above rather than checks in it: untraced runs pay nothing.)"""
        on_op, tracer = self._on_op, self.tracer
        control = tracer.control_ops
        for fn, op, ins, outs in steps:
            args = [env[i] for i in ins]
            traced = op.name not in control
            if traced:
                tracer.begin()
            try:
                res = fn(self, op, args)
            except Exception as e:
                tracer.abort()
                raise op.failure(e)
            for i, r in zip(outs, res):
                env[i] = r
            if on_op is not None:
                hooked = op.hooked
                if hooked is None:
                    hooked = self.hooks_want(op)
                if hooked:
                    on_op(op, args, res)
            if traced:
                tracer.end(op, args, res)

    def hooks_want(self, op: CompiledOp) -> bool:
        """Whether the hooks want `op`'s executions (cached on the op)."""
        wants = self._wants
        op.hooked = hooked = True if wants is None else bool(wants(op))
        return hooked

    def _lookup_impl(self, name: str) -> ImplFn | None:
        fn = self._impls.get(name)
        if fn is None:
            fn = _REGISTRY.get(name)
        return fn

    def _get_compiled(self, name: str) -> _CompiledFunction:
        cf = self._compiled.get(name)
        if cf is None:
            fop = self._functions.get(name)
            if fop is None:
                raise InterpreterError(
                    f"error: no function '{name}' in module (has: {', '.join(sorted(self._functions)) or 'none'})"
                )
            cf = self._compile_function(name, fop)
            self._compiled[name] = cf
        return cf

    def _compile_function(self, name: str, fop) -> _CompiledFunction:
        if len(fop.regions[0].blocks) == 0:
            raise InterpreterError(f"error: function '{name}' is a declaration at {_location(fop)}", loc=_location(fop))
        slots: dict = {}
        template: list = []
        ftype = ir.TypeAttr(fop.attributes["function_type"]).value
        ftype = ir.FunctionType(ftype)
        body = self._compile_region(fop.regions[0], slots, template)
        cf = _CompiledFunction(
            name, fop, len(template), template, body.block, list(ftype.inputs), list(ftype.results)
        )
        return cf

    def _slot(self, v, slots, template) -> int:
        s = slots.get(v)
        if s is None:
            s = len(template)
            slots[v] = s
            template.append(None)
        return s

    def _operand_slot(self, v, slots, op) -> int:
        s = slots.get(v)
        if s is None:
            raise InterpreterError(
                f"error: operand of '{op.operation.name}' is not defined in this function at {_location(op)}",
                loc=_location(op),
            )
        return s

    def _compile_region(self, region, slots, template) -> CompiledRegion:
        blocks = list(region.blocks)
        if not blocks:
            return CompiledRegion([])
        if len(blocks) != 1:
            parent = region.owner
            raise InterpreterError(
                f"error: interpreter supports only single-block regions, '{parent.name}' has "
                f"{len(blocks)} blocks at {_location(parent)}",
                loc=_location(parent),
            )
        return CompiledRegion([self._compile_block(blocks[0], slots, template)])

    def _compile_block(self, block, slots, template) -> CompiledBlock:
        arg_slots = [self._slot(a, slots, template) for a in block.arguments]
        steps = []
        yield_slots: list[int] = []
        terminator = None
        ops = list(block.operations)
        for k, op in enumerate(ops):
            name = op.operation.name
            if name in TERMINATORS and k == len(ops) - 1:
                yield_slots = [self._operand_slot(v, slots, op) for v in op.operands]
                terminator = op
                continue
            if name == "arith.constant":
                from .arith import decode_constant

                try:
                    value = decode_constant(self, op)
                except InterpreterError:
                    raise
                except Exception as e:
                    raise InterpreterError(
                        f"error: cannot decode constant ({type(e).__name__}: {e}) at {_location(op)}", loc=_location(op)
                    ) from e
                template[self._slot(op.results[0], slots, template)] = value
                continue
            fn = self._lookup_impl(name)
            if fn is None:
                raise InterpreterError(
                    f"error: interpreter cannot execute '{name}' at {_location(op)}", op_name=name, loc=_location(op)
                )
            # (iterating an empty region list through the bindings costs more than its length)
            regions = [self._compile_region(r, slots, template) for r in op.regions] if len(op.regions) else []
            ins = [self._operand_slot(v, slots, op) for v in op.operands]
            outs = [self._slot(r, slots, template) for r in op.results]
            compiled = CompiledOp(name, op, regions)
            compiled.prev = steps[-1][1] if steps else None
            steps.append((fn, compiled, ins, outs))
        if self.fast_paths:
            steps = self._fold_constant_views(steps, template)
            for rewrite in _BLOCK_REWRITERS:
                steps = rewrite(self, steps, yield_slots, arg_slots)
        return CompiledBlock(arg_slots, steps, yield_slots, terminator)

    def _fold_constant_views(self, steps: list, template: list) -> list:
        """Fast path: executes now, once, the static views of constants (a
        weight's reshape and its crossbar tiles' slices, also in loop bodies,
        where they would run on every trip) and keeps their results as
        constants of the frame. Only ops the hooks do not count are folded
        (and none runs traced: fast paths are off then); an op that raises
        stays a step, to raise where it runs."""
        kept = []
        for step in steps:
            fn, op, ins, outs = step
            if (
                op.name in _FOLDABLE_VIEWS
                and len(ins) == 1
                and len(outs) == 1
                and isinstance(template[ins[0]], np.ndarray)
                and not template[ins[0]].flags.writeable
                and (self._on_op is None or not self.hooks_want(op))
            ):
                try:
                    (value,) = fn(self, op, [template[ins[0]]])
                except Exception:
                    value = None
                if isinstance(value, np.ndarray) and not value.flags.writeable:
                    template[outs[0]] = value
                    # (kept alive: hooks key their state by `id(op)`, which a
                    # dropped op would hand on to an op compiled later)
                    self._folded_ops.append(op)
                    continue
            kept.append(step)
        return kept

    # ----------------------------------------------------------- resources
    def resource(self, name: str) -> np.ndarray | None:
        """Raw bytes of the ``dense_resource`` blob ``name`` (uint8 array), or None."""
        if self._resources is None:
            self._resources = self._parse_resources()
        return self._resources.get(name)

    def _parse_resources(self) -> dict[str, np.ndarray]:
        # The bindings expose no accessor for resource blobs, so read them from
        # the printed module's `{-# dialect_resources: ... #-}` section.
        text = self._module_op.get_asm(enable_debug_info=False)
        start = text.rfind("{-#")
        out: dict[str, np.ndarray] = {}
        if start < 0:
            return out
        for m in _RESOURCE_ENTRY.finditer(text, start):
            key = m.group(1)
            if key.startswith('"'):
                key = key[1:-1]
            hexdata = m.group(2)
            raw = bytes.fromhex(hexdata[8:])  # first 4 bytes: alignment
            out[key] = np.frombuffer(raw, dtype=np.uint8)
        return out

    def resource_array(self, attr, shaped_type) -> np.ndarray:
        """Decode a ``dense_resource<...>`` elements attribute to an array."""
        m = _RESOURCE_NAME.search(str(attr))
        if m is None:
            raise InterpreterError(f"error: cannot decode elements attribute {str(attr)[:80]}")
        key = m.group(1)
        if key.startswith('"'):
            key = key[1:-1]
        raw = self.resource(key)
        if raw is None:
            raise InterpreterError(f"error: dense_resource blob '{key}' not found in module (was it elided?)")
        dt = element_dtype(shaped_type)
        shape = tuple(shaped_type.shape)
        data = raw.view(dt)
        n = int(np.prod(shape, dtype=np.int64))
        if data.size == n:
            return data.reshape(shape)
        if data.size == 1:
            return np.full(shape, data[0], dtype=dt)
        raise InterpreterError(
            f"error: dense_resource blob '{key}' has {data.size} elements, type {shaped_type} needs {n}"
        )
