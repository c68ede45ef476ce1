"""Running compiled modules on the reference interpreter, with counting.

`run_module` executes a module (at any stage: linalg, imc on tensors) and fills
a `Report`. Until buffers are placed in the scratchpad (a later pass), the
traffic model is: the entry function's inputs are read from DRAM and its
outputs written to DRAM once per call; weights are read from DRAM when a
crossbar is programmed with them (cell_bits per weight per bit slice);
constants used by the digital unit are read from DRAM (a splat constant is an
immediate: no bytes); every other operand and
result of a compute op is a scratchpad read or write.
"""

import contextlib
import gc
import weakref

import numpy as np
from torch_mlir import ir

from imc.dialects.imc import is_spad
from imc.ir.cost_events import digital_ops
from imc.ir.utils import (
    ALLOCATION_OPS,
    VIEW_OPS,
    layer_name,
    WEIGHT_ARG_ATTR,
    constant_fill,
    constant_source,
    find_function,
    is_splat_constant,
    linalg_input_count,
    read_only_as_buffer,
)
from imc.sim.interpreter import Interpreter
from imc.sim.interpreter.core import default_fast_paths
from imc.sim.interpreter.imc import (
    Chip,
    ImcExecution,
    attach,
    check_spad_read,
    holds_stored_tensor,
    mark_spad_written,
    reread_ranges,
    stored_nbytes,
)
from imc.sim.report import Report

__all__ = ["run_module", "Runner"]

# Ops that only rename, view or allocate data, yield or call: no traffic, no
# arithmetic of their own. `tensor.reshape`, `memref.cast` and
# `memref.reinterpret_cast` are counted like copies, as they always were.
_UNCOUNTED_OPS = (VIEW_OPS - {"tensor.reshape", "memref.cast", "memref.reinterpret_cast"}) | ALLOCATION_OPS | {
    "tensor.yield",
    "linalg.yield",
    "linalg.index",
    "func.return",
    "func.call",
    "arith.constant",
    "bufferization.to_buffer",
    "cf.assert",
}


class _Plan:
    """How one op is counted (computed once per op)."""

    __slots__ = (
        "row", "skip", "n_ins", "constant_ins", "splat_ins", "body_ops", "kind", "in_loop", "last_call",
        "static", "events", "generates",
    )

    def __init__(self, row, skip, n_ins=0, constant_ins=(), body_ops=1, kind="", splat_ins=(), in_loop=False):
        self.row = row
        self.skip = skip
        self.n_ins = n_ins
        self.constant_ins = constant_ins
        self.splat_ins = splat_ins
        self.body_ops = body_ops
        self.kind = kind
        self.in_loop = in_loop  # inside a tiled stage's loop
        self.last_call = -1  # the call in which its constants were last read
        self.static = False  # counts depend only on the op's (static) types: computed once
        self.events = None  # ((counter, n), ...) when `static`, after the first execution
        self.generates = False  # a fill or broadcast of a constant: its result is never stored (`_generated`)


class _Counter:
    """Interpreter hooks: counts digital ops and traffic of non-imc ops.

    It holds its runner through a weak proxy: the runner holds the
    interpreter, which holds these hooks, and a strong reference back would
    close a cycle that keeps the whole compiled program for the cyclic
    garbage collector (`Runner`)."""

    def __init__(self, runner: "Runner"):
        self.runner = weakref.proxy(runner)
        self.plans: dict[int, _Plan] = {}
        self.tracing = False  # every event goes through `Report.add` to the tracer

    def plan(self, op) -> _Plan:
        p = self.plans.get(id(op))
        if p is not None:
            return p
        name = op.name
        o = op.ir.operation
        if name in _TRANSFERS:
            # Loads and stores of stored tensors (imc-place-buffers): DRAM
            # traffic when the buffer is in DRAM, a checked access otherwise.
            buf = o.operands[0 if name == "bufferization.to_tensor" else 1]
            if _is_spad_type(buf.type):
                kind = name + ".spad"
            else:  # a stored tensor's DRAM part, else a model input/output or constant (host dtype)
                kind = name + (".dram" if holds_stored_tensor(buf) else ".host")
            p = _Plan(self.runner.row_for(op), False, kind=kind)
        elif name == "tensor.concat":
            # Joins parts that were written where the whole lives (the column
            # tiles of an MVM result, the row blocks of duplicated crossbars,
            # a line buffer's kept and new rows; an imc.join of a stored
            # tensor's parts is an imc op, not counted either):
            # their producers counted the bytes, none move again.
            p = _Plan(None, True)
        elif (
            name in _UNCOUNTED_OPS
            or name.startswith("imc.")
            or name.startswith("interp.")  # fused interpreter steps (e.g. inside linalg bodies)
            or name.startswith("scf.")
            or not _counted_nesting(o)
            or (not o.results and not name.startswith("linalg.") and name != "memref.copy")
        ):
            p = _Plan(None, True)
        elif _scalars_only(o):
            # Index and scalar arithmetic (a tiled stage's offsets): registers,
            # no traffic, no counted work; its layer's row exists as before.
            p = _Plan(self.runner.row_for(op), True)
        else:
            row = self.runner.row_for(op)
            n_ins = len(o.operands)
            if name.startswith("linalg.") and (ins := linalg_input_count(o)) is not None:
                n_ins = ins  # (its outs are written, not read: a transpose's or broadcast's init too)
            elif name == "memref.copy":
                n_ins = 1
            consts = [constant_source(o.operands[i]) for i in range(n_ins)]
            splat_ins = tuple(
                i for i, c in enumerate(consts) if (c is not None and is_splat_constant(c)) or _generated(o.operands[i])
            )
            constant_ins = tuple(i for i, c in enumerate(consts) if c is not None and i not in splat_ins)
            body_ops = 1
            if name == "linalg.generic":
                body_ops = max(1, sum(1 for b in o.regions[0].blocks for x in b.operations) - 1)
            in_loop = o.parent is not None and o.parent.name != "func.func"
            p = _Plan(row, False, n_ins, constant_ins, body_ops, name, splat_ins, in_loop)
            p.generates = _generated(o.results[0]) if len(o.results) == 1 else False
            p.static = not (in_loop and constant_ins) and all(
                _static_value_type(v.type) for v in list(o.operands) + list(o.results)
            )
        self.plans[id(op)] = p
        return p

    def wants(self, op) -> bool:
        """Ops counted through others (views, imc ops, nested ops) are not reported."""
        return not self.plan(op).skip

    def on_op(self, op, args, results):
        p = self.plans.get(id(op))
        if p is None:
            p = self.plan(op)
        if p.skip:
            return
        events = p.events
        if events is not None and not self.tracing:  # the same counts every time
            counts = p.row.events
            for name, n in events:
                counts[name] += n
            return
        kind = p.kind
        if kind in _TRANSFER_KINDS:
            self._transfer(op, p, args)
            return
        if kind == "tensor.insert_slice":  # in place: only the inserted bytes move
            n = args[0].nbytes if isinstance(args[0], np.ndarray) else 0
            self.runner.report.add(p.row, spad_read_bytes=n, spad_write_bytes=n)
            return
        ins = args[: p.n_ins]
        spad = self.runner.chip.spad
        if spad is not None:
            # Scratchpad checks for ops on memrefs: inputs must hold loaded or
            # written data; destinations become written.
            interp = self.runner.interpreter
            for a in ins:
                check_spad_read(interp, op, a)
            for a in args[p.n_ins :]:
                mark_spad_written(interp, a)
        if not results:  # destination-passing form on memrefs: the outs are written
            results = [a for a in args[p.n_ins :] if isinstance(a, np.ndarray)]
        # Scalars and splat constants are immediates of the op, not traffic;
        # scratchpad buffers are counted as the chip stores them.
        chip = self.runner.chip
        nbytes = [_moved_bytes(spad, chip, a) if isinstance(a, np.ndarray) and a.ndim else 0 for a in ins]
        for i in p.splat_ins:
            nbytes[i] = 0
        dram = sum(nbytes[i] for i in p.constant_ins)
        if p.in_loop and p.constant_ins:
            # A tiled stage reads its digital-unit constants (batch-norm
            # vectors, biases) once per call and keeps them for later trips.
            calls = self.runner.calls_run
            if p.last_call == calls:
                for i in p.constant_ins:
                    nbytes[i] = 0
                dram = 0
            p.last_call = calls
        spad_read = sum(nbytes) - dram
        out = results[0] if results else None
        events = {
            "digital_ops": int(digital_ops(p.kind, ins, getattr(out, "size", 0), p.body_ops)),
            "dram_read_bytes": dram,
            "spad_read_bytes": spad_read,
            "spad_write_bytes": 0
            if p.generates
            else sum(
                _moved_bytes(spad, chip, r) for r in results if isinstance(r, np.ndarray) and r.ndim
            ),  # (scalars, like index arithmetic, live in registers: as inputs above)
        }
        if p.static:
            p.events = tuple(events.items())
        self.runner.report.add(p.row, **events)


    def _transfer(self, op, p, args) -> None:
        kind = p.kind
        interp = self.runner.interpreter
        if kind == "bufferization.to_tensor.dram":
            self.runner.report.add(p.row, dram_read_bytes=stored_nbytes(self.runner.chip, args[0]))
        elif kind == "bufferization.to_tensor.host":
            self.runner.report.add(p.row, dram_read_bytes=args[0].nbytes)
        elif kind == "bufferization.to_tensor.spad":
            check_spad_read(interp, op, args[0])
        elif kind == "bufferization.materialize_in_destination.dram":
            self.runner.report.add(p.row, dram_write_bytes=stored_nbytes(self.runner.chip, args[0]))
        elif kind == "bufferization.materialize_in_destination.host":
            self.runner.report.add(p.row, dram_write_bytes=args[0].nbytes)
        else:
            mark_spad_written(interp, args[1])
        hook = self.runner.stored_tensor_hook
        if hook is not None and kind.startswith("bufferization.materialize_in_destination"):
            hook(p.row, args[0])


def _generated(value) -> bool:
    """`value` is a fill or broadcast of a constant (`constant_fill`: an
    initial value, zeros or a bias broadcast over rows). The digital unit
    generates its elements as it applies them, as it does a splat
    constant's: it is never written to the scratchpad, and the op reading it
    reads only the constant (counted where the fill or broadcast reads it)."""
    return constant_fill(value) is not None


def _moved_bytes(spad, chip, a) -> int:
    """Bytes an operand or result moves: a scratchpad buffer's as the chip
    stores it (`stored_nbytes`), any other value's at its host dtype."""
    if spad is not None and spad.owns(a):
        return stored_nbytes(chip, a)
    return getattr(a, "nbytes", 0)


def _static_value_type(t) -> bool:
    """A tensor of static shape, or a scalar: its bytes are known before running.
    (Memrefs are not: ops on them are checked against the scratchpad.)"""
    if isinstance(t, ir.RankedTensorType):
        return t.has_static_shape
    return not isinstance(t, (ir.ShapedType, ir.MemRefType, ir.UnrankedTensorType))


_SCALAR_TYPES = (ir.IndexType, ir.IntegerType, ir.FloatType)


def _scalars_only(o) -> bool:
    """Whether every operand and result of `o` is a scalar (index, integer,
    float): such an op counts no event (`_Counter.on_op` counts the bytes of
    arrays and the work of linalg ops only)."""
    return bool(o.results) and all(isinstance(v.type, _SCALAR_TYPES) for v in list(o.operands) + list(o.results))


def _counted_nesting(o) -> bool:
    """Whether an op at this nesting is counted on its own: at function
    level, or inside compute loops and branches (a stage tiled by
    `imc-tile-rows`). Ops in linalg bodies and `tensor.generate`/`tensor.pad`
    regions are counted through their parent op."""
    parent = o.parent
    while parent is not None and parent.name != "func.func":
        name = parent.name
        if name.startswith("linalg.") or name in ("tensor.generate", "tensor.pad"):
            return False
        parent = parent.parent
    return True


_TRANSFERS = {"bufferization.to_tensor", "bufferization.materialize_in_destination"}
_TRANSFER_KINDS = {f"{n}.{where}" for n in _TRANSFERS for where in ("spad", "dram", "host")}


def _is_spad_type(t) -> bool:
    try:
        return is_spad(t)
    except ValueError:  # not a memref
        return False


@contextlib.contextmanager
def gc_paused():
    """Pauses Python's cyclic garbage collector inside the block, as it was after.

    A compile allocates hundreds of thousands of long-lived Python objects
    (IR handles, the passes' tables, the interpreter's program) and little
    cyclic garbage; a call allocates arrays and no cycles. The collector's
    full collections rescan the whole heap without finding any (MobileNetV2
    64x64: 9 full collections, 3.8 s of a 25 s compile; a cold `quantized`
    call of ResNet-18: 0.5 s of 3.7 s; the peak memory grows by 2% without
    them). What cycles the block leaves are collected after it, as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _LayerRows:
    """The report row of each compiled op's layer. Ops of one layer share
    their location (an attribute, uniqued): it is printed and named once.
    The report is held weakly (it is read only for an op's first row): the
    tracer and the imc execution call `row_for`, and the report holds the
    tracer."""

    __slots__ = ("_report", "_rows", "_rows_at")

    def __init__(self, report: Report):
        self._report = weakref.ref(report)
        self._rows: dict[int, object] = {}
        self._rows_at: dict = {}  # location attribute -> its row

    def row_for(self, op):
        row = self._rows.get(id(op))
        if row is None:
            loc = op.ir.location.attr
            row = self._rows_at.get(loc)
            if row is None:
                text = op.location
                row = self._rows_at[loc] = self._report().row(layer_name(text), text)
            self._rows[id(op)] = row
        return row


class Runner:
    """Executes a module repeatedly on one chip; the report accumulates across calls.

    The chip keeps its crossbar contents between calls, so weights that stay
    resident are programmed once.

    A runner is in no reference cycle (the objects that call back into it,
    its interpreter's hooks and the rows of its layers, hold it or its
    report weakly): when the last reference to it goes, its compiled program
    goes at once, not at the cyclic garbage collector's next full pass
    (which a sweep point paid for: 0.6 s to find 800,000 objects of a
    ResNet-18 point's two runners unreachable).
    """

    def __init__(
        self, module, hardware, *, precision: str = "ideal", seed: int = 0, entry: str = "main", trace: bool = False
    ):
        self.module = module
        self.hardware = hardware
        self.entry = entry
        self.chip = Chip(hardware, precision, seed)
        self.report = Report(hardware, precision)
        self._layers = _LayerRows(self.report)
        self._reread_ranges = False  # `calibrated`: read the IR's ranges when the next call begins
        self.calls_run = 0  # calls run to the end (`report.calls`, but never reset): tells one call's ops from the next's
        # Called as hook(layer row, array) with every tensor stored between
        # layers (`imc.sim.accuracy` compares them across precisions).
        self.stored_tensor_hook = None
        # trace: every op runs as itself and is placed on the chip's timeline
        # (`self.tracer`, an `imc.sim.timeline.Tracer`): no fast paths but
        # the fused contractions, which run their ops when traced, for the
        # calls run `untraced()` (a cold call that only programs the chip,
        # `imc.sim.timeline.measure(cold=False)`).
        counter = _Counter(self)
        self.interpreter = Interpreter(module, hooks=counter, fast_paths=False if trace else None)
        if trace:
            self.interpreter.trace_safe_fast_paths = default_fast_paths()
        self.tracer = None
        if trace:
            from imc.sim.timeline import Tracer

            self.tracer = self.report.tracer = self.interpreter.tracer = Tracer(self.chip, self._layers.row_for)
            counter.tracing = True
        self._execution = ImcExecution(self.chip, self.report, self._layers.row_for)
        attach(self.interpreter, self._execution)
        self._io_row = self.report.row("<inputs/outputs>", "")
        func = find_function(module, entry)
        self._weight_args = _weight_arg_mask(func)
        # Tensor arguments and results move between DRAM and the chip at the
        # call boundary; memref ones are DRAM buffers the program moves itself.
        self._tensor_args, self._tensor_results = _tensor_io(func)

    @contextlib.contextmanager
    def untraced(self):
        """Calls inside the block are not placed on the timeline (faster; the
        chip's state still changes); the tracer is back for the calls after."""
        tracer = self.tracer
        self.tracer = self.report.tracer = self.interpreter.tracer = None
        try:
            yield
        finally:
            self.tracer = self.report.tracer = self.interpreter.tracer = tracer

    @contextlib.contextmanager
    def without_products(self):
        """Calls inside the block compute no crossbar products in `ideal`:
        each MVM run op by op (as a traced call runs them) gives zeros of its
        product's shape, an array of its own (`Chip.zero_product` when
        traced), and counts and is placed as before. For a traced call whose
        values are not read (`imc.sim.timeline.measure`'s warm call): an op's
        events and times depend on shapes, not values."""
        self.chip.computes_products = False
        try:
            yield
        finally:
            self.chip.computes_products = True

    def release(self) -> None:
        """Drops the program, the chip's crossbars and the caches of a runner
        that will not run again, while references to it remain (the
        calibration's own runner: its conductances go before the model's own
        run programs the chip)."""
        self.interpreter = None
        self.chip.arrays.clear()

    def calibrated(self) -> None:
        """Forgets the calls so far, which were a calibration's
        (`imc.sim.calibration.calibrate(..., runner=self)`): their counters
        and the chip's crossbars (the next call programs them again, as a
        first call does), and reads the ranges the calibration wrote into the
        IR (`imc.sim.interpreter.imc.reread_ranges`, when the next call
        begins: ranges set by hand after the calibration count too). The
        compiled program and what its first call worked out stay: the next
        call runs as a later call does."""
        self.chip.arrays.clear()
        self._execution.last_written = None
        self.report.reset()
        self._reread_ranges = True
        self.calls_run += 1  # (a call that failed ends here too: the next one is another)

    def replay(self, recording: list) -> None:
        """A call placed on the timeline from a recorded one's steps
        (`imc.sim.timeline.Tracer.replay`), without executing it."""
        with gc_paused():  # (as a call is)
            self.tracer.replay(recording)

    def row_for(self, op):
        """The report row of compiled op `op`'s layer (`_LayerRows.row_for`)."""
        return self._layers.row_for(op)

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        # Weights passed as arguments are read when crossbars are programmed.
        streamed = [
            np.asarray(x)
            for i, x in enumerate(inputs)
            if not self._weight_args.get(i, False) and self._tensor_args.get(i, True)
        ]
        if self._reread_ranges:
            reread_ranges(self.interpreter, self.hardware)
            self._reread_ranges = False
        tracer = self.tracer
        if tracer is not None:  # the inputs arrive before anything reads them
            tracer.begin()
        self.report.add(self._io_row, dram_read_bytes=sum(x.nbytes for x in streamed))
        if tracer is not None:
            tracer.place(self._io_row.name, [], streamed)
        with gc_paused():
            outputs = self.interpreter.run(self.entry, list(inputs))
        self.report.calls += 1
        self.calls_run += 1
        results = [o for i, o in enumerate(outputs) if self._tensor_results.get(i, True)]
        if tracer is not None:
            tracer.begin()
        self.report.add(self._io_row, dram_write_bytes=sum(o.nbytes for o in results))
        if tracer is not None:  # (the outputs are copies: they leave after the program's last step)
            tracer.place(self._io_row.name, results, [], last=True)
        return outputs


def _weight_arg_mask(func) -> dict[int, bool]:
    if func is None or "arg_attrs" not in func.attributes:
        return {}
    attrs = ir.ArrayAttr(func.attributes["arg_attrs"])
    return {i: WEIGHT_ARG_ATTR in ir.DictAttr(a) for i, a in enumerate(attrs)}


def _tensor_io(func) -> tuple[dict[int, bool], dict[int, bool]]:
    if func is None:
        return {}, {}
    ftype = ir.FunctionType(ir.TypeAttr(func.attributes["function_type"]).value)
    is_tensor = lambda t: isinstance(t, ir.RankedTensorType) or str(t).startswith("tensor<")  # noqa: E731
    args = func.regions[0].blocks[0].arguments
    # A tensor argument the program reads only as a DRAM buffer (the row
    # slabs of a tiled stage): its DMAs count its bytes, not the call.
    streamed = {i for i, a in enumerate(args) if read_only_as_buffer(a)}
    return (
        {i: is_tensor(t) and i not in streamed for i, t in enumerate(ftype.inputs)},
        {i: is_tensor(t) for i, t in enumerate(ftype.results)},
    )


def run_module(module, inputs, hardware, *, precision="ideal", seed=0, entry="main"):
    """Runs `entry` once; returns (outputs, report)."""
    runner = Runner(module, hardware, precision=precision, seed=seed, entry=entry)
    outputs = runner(*inputs)
    return outputs, runner.report
