"""I/O lower bounds per layer for a compiled (mapped) imc program.

`lower_bounds(module, hardware)` walks the entry function of a module after
`imc-map-to-crossbars` (tensor-level IR: `imc.program` / `imc.mvm` /
`imc.accumulate` / `imc.im2col` / `imc.contract` plus upstream linalg, tensor
and arith ops on tensors) once and returns a `ProgramBounds`: for every source
layer (keyed like `imc.sim.report.Report`, `imc.ir.utils.layer_name` of the op
location) the DRAM bytes that any schedule of this program must move, split
into a compulsory term, a scratchpad-capacity term and a matrix-multiplication
term. docs/analysis.md states every formula, its source and the assumptions
that make it a lower bound:

* A1 weights go from DRAM straight into the crossbars (as in the runtime's
  counting model); crossbar contents persist until a program op overwrites
  an overlapping region of the same array (placement and program order fixed).
* A2 ops execute one at a time in program order on whole tensors (no fusion
  across ops, no recomputation); model inputs and outputs move at their
  element size, computed tensors as the chip stores them
  (`stored_element_bytes`: floats at `hardware.activation_bits`), or every
  value at `activation_bits` when given.
* A3 the scratchpad holds at most `hardware.spad_bytes`; crossbar-programming
  data and digital-unit constants are not counted in the live set (which only
  weakens the capacity term).

Beside it, every `LayerBound` and the `ProgramBounds` give the physical
floor (model inputs and outputs once, every distinct weight tile once,
constants once; a warm call only the inputs and outputs) and the bound over
all schedules without recomputation (the floor plus the weights and
constants that no on-chip memory can keep between calls): these hold for
fused, depth-first schedules too, where the stage-model bound above holds
only for schedules that run one layer at a time.

`ProgramBounds.annotate(report)` fills each `LayerRow`'s `floor_bytes`,
`bound_bytes`, `layer_bound_bytes` and `remark`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from torch_mlir import ir

from imc.dialects.imc import element_bytes, stored_element_bytes
from imc.dialects.imc_ops import ProgramView, TiledContractView
from imc.ir.utils import (
    layer_name,
    PLACEMENT_ATTR,
    TENSOR_VIEW_OPS,
    WEIGHT_ARG_ATTR,
    find_function,
    find_nested,
    is_splat_constant,
    is_tiled_stage,
    read_only_as_buffer,
)

__all__ = ["LayerBound", "ProgramBounds", "lower_bounds", "IO_LAYER"]

IO_LAYER = "<inputs/outputs>"
"""Layer name the runtime gives to the entry function's inputs and outputs."""

# Ops that produce no data (placeholders) or only carry control.
_NO_DATA = {"tensor.empty", "bufferization.alloc_tensor", "func.return", "cf.assert"}
# Contractions whose operands all move through the scratchpad when they stay digital.
_MATMULS = {
    "linalg.matmul",
    "linalg.batch_matmul",
    "linalg.matmul_transpose_b",
    "linalg.batch_matmul_transpose_b",
    "imc.contract",
}
_DYNAMIC = ir.ShapedType.get_dynamic_size()

# Value kinds.
_INPUT, _ACT, _WEIGHT, _EMPTY = "input", "activation", "weight", "empty"


@dataclass
class LayerBound:
    """The I/O lower bound of one source layer, in bytes (one call, cold chip).

    `compulsory_bytes` = `input_bytes` + `output_bytes` + `weight_bytes`
    (crossbar programming on a cold chip) + `constant_bytes` (digital-unit
    constants). `capacity_bytes` is the peak extra traffic forced by live
    activations beyond the scratchpad at a point inside this layer;
    `matmul_bytes` the Smith et al. bound of the layer's digital matmuls.
    `bytes` = compulsory + max(capacity, matmul - (input + output + constant)),
    the combination that stays a lower bound (docs/analysis.md).
    `repeat_bytes` is the bound of every later call on a warm chip (resident
    weights are not reprogrammed; constants see `ProgramBounds`).
    """

    name: str
    input_bytes: int = 0
    output_bytes: int = 0
    weight_bytes: int = 0
    reprogram_bytes: int = 0
    constant_bytes: int = 0
    capacity_bytes: int = 0
    matmul_bytes: int = 0
    streamed_bytes: int = 0  # of input_bytes: loaded by this layer's own DMAs (row slabs), counted in its row
    unique_weight_bytes: int = 0  # every distinct weight tile once (the physical floor's weights)
    forced_repeat_bytes: int = 0  # per warm call: weights and constants no on-chip memory can keep
    program_ops: int = 0  # imc.program ops of this layer (each may round its bytes up)
    reasons: list[str] = field(default_factory=list)

    @property
    def floor_bytes(self) -> int:
        """The physical floor of one cold call: model inputs and outputs once,
        every distinct weight tile once, digital-unit constants once."""
        return self.input_bytes + self.output_bytes + self.unique_weight_bytes + self.constant_bytes

    @property
    def floor_repeat_bytes(self) -> int:
        """The physical floor of a warm call: model inputs and outputs."""
        return self.input_bytes + self.output_bytes

    def floor_for_calls(self, calls: int) -> int:
        return 0 if calls <= 0 else self.floor_bytes + (calls - 1) * self.floor_repeat_bytes

    def schedule_bound_for_calls(self, calls: int) -> int:
        """The bound over all schedules without recomputation (section 4 of
        docs/analysis.md): the floor plus, on every warm call, the weights and
        constants that fit neither in the crossbars nor in the scratchpad."""
        return 0 if calls <= 0 else self.floor_for_calls(calls) + (calls - 1) * self.forced_repeat_bytes

    @property
    def compulsory_bytes(self) -> int:
        return self.input_bytes + self.output_bytes + self.weight_bytes + self.constant_bytes

    @property
    def bytes(self) -> int:
        overlap = self.input_bytes + self.output_bytes + self.constant_bytes
        return self.compulsory_bytes + max(self.capacity_bytes, self.matmul_bytes - overlap, 0)

    @property
    def repeat_bytes(self) -> int:
        io = self.input_bytes + self.output_bytes
        return io + self.reprogram_bytes + max(self.capacity_bytes, self.matmul_bytes - io, 0)

    def bytes_for_calls(self, calls: int) -> int:
        """The bound for `calls` consecutive calls starting on a cold chip."""
        return 0 if calls <= 0 else self.bytes + (calls - 1) * self.repeat_bytes


@dataclass
class ProgramBounds:
    """Per-layer bounds and the whole program's bound (bytes, one cold call).

    `total_bytes` = sum of crossbar weights + max(inputs + outputs + constants
    + the program's peak capacity term, sum of matmul terms): terms are added
    only where they count disjoint transfers. `repeat_bytes` is the bound of
    every later call on a warm chip.
    """

    layers: dict[str, LayerBound]
    spad_bytes: int
    capacity_bytes: int = 0
    capacity_layer: str | None = None
    constant_reread_bytes: int = 0

    def _sums(self):
        ls = self.layers.values()
        return (
            sum(l.weight_bytes for l in ls),
            sum(l.reprogram_bytes for l in ls),
            sum(l.input_bytes + l.output_bytes for l in ls),
            sum(l.constant_bytes for l in ls),
            sum(l.matmul_bytes for l in ls),
        )

    @property
    def compulsory_bytes(self) -> int:
        return sum(l.compulsory_bytes for l in self.layers.values())

    @property
    def total_bytes(self) -> int:
        w, _, io, c, mm = self._sums()
        return w + max(io + c + self.capacity_bytes, mm)

    @property
    def repeat_bytes(self) -> int:
        _, rw, io, _, mm = self._sums()
        return rw + max(io + self.constant_reread_bytes + self.capacity_bytes, mm)

    def bytes_for_calls(self, calls: int) -> int:
        """The bound for `calls` consecutive calls starting on a cold chip."""
        return 0 if calls <= 0 else self.total_bytes + (calls - 1) * self.repeat_bytes

    @property
    def floor_bytes(self) -> int:
        """The physical floor of one cold call (every schedule moves at least this)."""
        return sum(l.floor_bytes for l in self.layers.values())

    @property
    def floor_repeat_bytes(self) -> int:
        """The physical floor of a warm call: the model's inputs and outputs."""
        return sum(l.floor_repeat_bytes for l in self.layers.values())

    @property
    def forced_repeat_bytes(self) -> int:
        """Weights and constants re-read on every warm call by any schedule."""
        return sum(l.forced_repeat_bytes for l in self.layers.values())

    def floor_for_calls(self, calls: int) -> int:
        return 0 if calls <= 0 else self.floor_bytes + (calls - 1) * self.floor_repeat_bytes

    def schedule_bound_for_calls(self, calls: int) -> int:
        """The I/O lower bound over all schedules without recomputation."""
        return 0 if calls <= 0 else self.floor_for_calls(calls) + (calls - 1) * self.forced_repeat_bytes

    def annotate(self, report, *, io_row: str | None = None) -> None:
        """Sets `floor_bytes`, `bound_bytes` (all schedules), `layer_bound_bytes`
        (layer at a time) and `remark` on every row of `report` that has a bound.

        Bounds cover `report.calls` calls (at least one) from a cold chip.
        With `io_row` (e.g. `IO_LAYER`, the runtime's row for inputs and
        outputs), input and output bytes move from the layers to that row, so
        each row's bound compares with that row's counters; inputs a layer
        loads by its own DMAs (`streamed_bytes`, the row slabs of a tiled
        stage) stay in the layer, where the runtime counts them. Sets the
        program's figures in `report.extra` (`floor_bytes`, `bound_bytes`,
        `layer_at_a_time_bound_bytes`).
        """
        calls = max(1, report.calls)
        bounds = {name: lb.bytes_for_calls(calls) for name, lb in self.layers.items()}
        floors = {name: lb.floor_for_calls(calls) for name, lb in self.layers.items()}
        schedule = {name: lb.schedule_bound_for_calls(calls) for name, lb in self.layers.items()}
        if io_row is not None:
            io = 0
            for name, lb in self.layers.items():
                lb_io = (lb.input_bytes - lb.streamed_bytes + lb.output_bytes) * calls
                io += lb_io
                # Same formula without the I/O: still a bound for the row.
                rest = lb.streamed_bytes + lb.weight_bytes + lb.constant_bytes
                rest += max(lb.capacity_bytes, lb.matmul_bytes - lb.constant_bytes, 0)
                again = lb.streamed_bytes + lb.reprogram_bytes + max(lb.capacity_bytes, lb.matmul_bytes, 0)
                bounds[name] = rest + (calls - 1) * again
                floors[name] -= lb_io
                schedule[name] -= lb_io
            for table in (bounds, floors, schedule):
                table[io_row] = table.get(io_row, 0) + io
        for row in report.layers.values():
            if row.name in bounds:
                row.layer_bound_bytes = int(bounds[row.name])
                row.floor_bytes = int(floors[row.name])
                row.bound_bytes = int(schedule[row.name])
                row.remark = self._excess_remark(row, self.layers.get(row.name), calls)
        report.extra["floor_bytes"] = int(self.floor_for_calls(calls))
        report.extra["bound_bytes"] = int(self.schedule_bound_for_calls(calls))
        report.extra["layer_at_a_time_bound_bytes"] = int(self.bytes_for_calls(calls))

    @staticmethod
    def _excess_remark(row, lb, calls: int) -> str:
        """Why a row moved more than its floor, from the terms that force it."""
        c = row.counters
        excess = c.dram_read_bytes + c.dram_write_bytes - row.floor_bytes
        if excess <= 0:
            return "at the floor"
        causes = []  # (bytes, why)
        if lb is not None:
            weights = lb.weight_bytes - lb.unique_weight_bytes + (calls - 1) * lb.reprogram_bytes
            causes.append((weights, "of weights re-programmed (time-multiplexed crossbars)"))
            causes.append((calls * lb.capacity_bytes, "spilled at layer boundaries (layer-at-a-time capacity term)"))
            causes.append(((calls - 1) * lb.constant_bytes, "of digital-unit constants re-read each call"))
        causes = [(n, why) for n, why in causes if n > 0]
        rest = excess - sum(n for n, _ in causes)
        if lb is not None and rest > 0 and lb.program_ops:
            # The runtime counts each programmed slice in whole bytes.
            rounding = min(rest, calls * lb.program_ops)
            causes.append((rounding, "of sub-byte weight slices rounded up to whole bytes"))
            rest -= rounding
        if rest > 0:
            causes.append((rest, "of activations moved through DRAM by this schedule (stored between stages, not kept on chip)"))
        return f"{excess:,} B over the floor: " + "; ".join(f"{n:,} B {why}" for n, why in causes)

    def __str__(self) -> str:
        head = f"{'layer':<28} {'compulsory':>12} {'capacity':>12} {'matmul':>12} {'bound':>12}"
        lines = [f"imc I/O lower bounds (bytes, one cold call; scratchpad {self.spad_bytes:,} B)", head, "-" * len(head)]
        for lb in self.layers.values():
            lines.append(
                f"{lb.name[:28]:<28} {lb.compulsory_bytes:>12,} {lb.capacity_bytes:>12,} {lb.matmul_bytes:>12,} {lb.bytes:>12,}"
            )
        lines.append("-" * len(head))
        lines.append(f"{'total':<28} {self.compulsory_bytes:>12,} {self.capacity_bytes:>12,} {'':>12} {self.total_bytes:>12,}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Regions: which part of a value an operand reads
# --------------------------------------------------------------------------- #


class _Value:
    """A root tensor value (not a view): kind, size, where defined and used."""

    __slots__ = ("kind", "bits", "elem_bits", "shape", "pos", "layer", "uses", "output", "key")

    def __init__(self, kind, bits, elem_bits, shape, pos, layer, key):
        self.kind = kind
        self.bits = bits
        self.elem_bits = elem_bits
        self.shape = shape
        self.pos = pos
        self.layer = layer
        self.uses: list[tuple[int, object]] = []  # (position, region)
        self.output = False
        self.key = key


# A region is None (the whole root) or (group, offsets, sizes, bits): a box in
# the index space of `group` (a view of the root, all of whose boxes combine).


def _union_bits(regions, root: _Value) -> int:
    """Bits covered by the union of `regions` of `root` (max over groups)."""
    profile = _Profile(root, regions)
    state = profile.empty()
    profile.add(state, regions)
    return profile.bits(state)


class _Profile:
    """Unions of boxes per group on coordinate-compressed grids.

    A state is [whole?, {group: mask (gridded) or largest box bits}]. Groups
    are views of one root; bits are the max over groups (each group's union
    is a set of the root's bytes, so the max is a valid lower bound on the
    union over groups).
    """

    def __init__(self, root: _Value, regions):
        self.root = root
        boxes: dict = {}
        for r in regions:
            if r is not None:
                boxes.setdefault(r[0], []).append(r)
        self.grids = {g: _grid(bs) for g, bs in boxes.items()}
        self.elem_bits = {g: bs[0][3] for g, bs in boxes.items()}

    def empty(self) -> list:
        return [False, {g: (np.zeros_like(gr[0]) if gr is not None else 0) for g, gr in self.grids.items()}]

    @staticmethod
    def copy(state) -> list:
        return [state[0], {g: (m.copy() if isinstance(m, np.ndarray) else m) for g, m in state[1].items()}]

    def add(self, state, regions) -> None:
        for r in regions:
            if r is None:
                state[0] = True
                continue
            g, offsets, sizes, e = r
            grid = self.grids[g]
            if grid is None:
                state[1][g] = max(state[1][g], math.prod(sizes) * e)
            else:
                state[1][g][_box_index(grid[2], offsets, sizes)] = True

    def bits(self, state) -> int:
        if state[0]:
            return self.root.bits
        best = 0
        for g, m in state[1].items():
            best = max(best, self._volume(g, m) if isinstance(m, np.ndarray) else m)
        return best

    def _volume(self, g, mask) -> int:
        return int(self.grids[g][1][mask].sum()) * self.elem_bits[g]

    def intersection(self, a, b) -> int:
        """Bits in both states (0 for groups without a grid: unknown overlap)."""
        if a[0]:
            return self.bits(b)
        if b[0]:
            return self.bits(a)
        best = 0
        for g, m in a[1].items():
            if isinstance(m, np.ndarray):
                best = max(best, self._volume(g, m & b[1][g]))
        return best


def _grid(boxes):
    """Coordinate-compressed grid over the boxes: (mask, cell volumes, cuts), or
    None when it would be too large (then only the largest box counts)."""
    rank = len(boxes[0][1])
    cuts = []
    for d in range(rank):
        cuts.append(np.unique(np.array([[b[1][d], b[1][d] + b[2][d]] for b in boxes], dtype=np.int64)))
    shape = tuple(len(c) - 1 for c in cuts)
    if math.prod(shape) > 1 << 20:
        return None
    volume = np.ones(shape, dtype=np.int64)
    for d, c in enumerate(cuts):
        volume = volume * np.diff(c).reshape([-1 if i == d else 1 for i in range(rank)])
    return np.zeros(shape, dtype=bool), volume, cuts


def _box_index(cuts, offsets, sizes):
    return tuple(
        slice(int(np.searchsorted(c, o)), int(np.searchsorted(c, o + s))) for c, o, s in zip(cuts, offsets, sizes)
    )


def _live_profile(root: _Value):
    """Distinct use positions q_j; N_j = bits of the union of the regions used
    at positions >= q_j; I_j = bits used both at <= q_j and at > q_j."""
    by_pos: dict[int, list] = {}
    for p, r in root.uses:
        by_pos.setdefault(p, []).append(r)
    positions = sorted(by_pos)
    m = len(positions)
    profile = _Profile(root, [r for _, r in root.uses])
    suffix_states = [None] * (m + 1)
    state = profile.empty()
    suffix_states[m] = profile.copy(state)
    for j in range(m - 1, -1, -1):
        profile.add(state, by_pos[positions[j]])
        suffix_states[j] = profile.copy(state)
    suffix = [profile.bits(s) for s in suffix_states]
    intersect = [0] * m
    if root.kind == _INPUT:
        prefix = profile.empty()
        for j in range(m - 1):
            profile.add(prefix, by_pos[positions[j]])
            intersect[j] = profile.intersection(prefix, suffix_states[j + 1])
    return positions, suffix, intersect


# --------------------------------------------------------------------------- #
# The walk
# --------------------------------------------------------------------------- #


def _entry_func(module, entry: str):
    func = find_function(module, entry)
    if func is None:
        raise ValueError(f"lower_bounds: the module has no function @{entry}")
    return func


def _tensor(t):
    try:
        return ir.RankedTensorType(t)
    except ValueError:
        return None


def _i64s(attr):
    return list(ir.DenseI64ArrayAttr(attr))


def _fmt(n_bytes: float) -> str:
    n = float(n_bytes)
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n):,} B"


def lower_bounds(
    module, hardware, *, entry: str = "main", activation_bits: int | None = None, granularity: str = "stage"
) -> ProgramBounds:
    """I/O lower bounds of `entry` in a mapped module, per source layer.

    `hardware` gives the scratchpad size (`spad_bytes`). Activations (model
    inputs, outputs and every computed tensor) count `activation_bits` per
    element when given; else, as the runtime counts them, model inputs and
    outputs at their IR element size and computed tensors at
    `hardware.activation_bits` (floats; `stored_element_bytes`); weights programmed into crossbars count the program's
    `weight_bits` per element; digital-unit constants their IR element size.
    `granularity` chooses the capacity term: "stage" (default) is the
    execution model of placed programs (`imc.transforms.placement`: layers run one at a
    time and read and write stored tensors whole, values inside a layer
    stream); "op" assumes every op reads and writes whole tensors (A2). On a
    program already placed by `imc-place-buffers` the stage term is the one
    the pass recorded in the module attribute `imc.placement`.
    Walks the entry function's top-level ops once (`_Walk`), then adds the
    terms: compulsory traffic, capacity, digital matmuls. Raises `ValueError`
    naming the op and its location for what the analysis cannot bound
    (`func.call`, imc ops nested in regions, dynamic shapes).
    """
    if granularity not in ("stage", "op"):
        raise ValueError(f"lower_bounds: granularity '{granularity}' is not 'stage' or 'op'")
    func = _entry_func(module, entry)
    walk = _Walk(func, hardware, activation_bits)
    walk.run()
    layers: dict[str, LayerBound] = {}

    def layer(name: str) -> LayerBound:
        lb = layers.get(name)
        if lb is None:
            lb = layers[name] = LayerBound(name)
        return lb

    constant_bits = _compulsory(walk, layer)
    _forced_repeats(layers, hardware, constant_bits)
    program = ProgramBounds(layers, int(hardware.spad_bytes))
    if granularity == "stage":
        _stage_capacity(module, func, hardware, layer, program)
    else:
        _op_capacity(walk, hardware, layer, program)
    program.constant_reread_bytes = max(0, constant_bits // 8 - int(hardware.spad_bytes))
    _matmul_terms(walk, 8 * int(hardware.spad_bytes), layer)
    # Layers in program order (first op of each); the I/O row, if used, last.
    order = {}
    for pos, lname in walk.compute_layers:
        order.setdefault(lname, pos)
    for lname in sorted(layers, key=lambda k: order.get(k, walk.n)):
        layers[lname] = layers.pop(lname)
    return program


class _Walk:
    """One walk over the entry function's top-level ops (tiled stages
    flattened): the root values (model inputs, weights, constants, every
    computed tensor) with their uses, and what the terms need."""

    def __init__(self, func, hardware, activation_bits: int | None):
        self.func = func
        self.hardware = hardware
        self.activation_bits = activation_bits
        self.alias: dict = {}  # value -> (root, region); weights: root kind _WEIGHT
        self.roots: list[_Value] = []
        self.streamed: set = set()  # inputs read only through DRAM buffers (row slabs): loaded by their readers' DMAs
        self.programs: list[_ProgramInfo] = []
        self.splats: set = set()  # roots of splat constants
        self.constant_regions: dict = {}  # root -> (first layer, regions)
        self.matmuls: list[tuple] = []
        self.compute_layers: list[tuple[int, str]] = []  # boundaries that belong to a layer
        self.outputs: list[tuple] = []
        self.n = 0

    def elem_bits(self, t, host: bool = True) -> int:
        """Bits of one element: model inputs and outputs (`host`) at their
        IR width, computed tensors as the chip stores them."""
        if self.activation_bits is not None:
            return int(self.activation_bits)
        try:
            return 8 * (element_bytes(t.element_type) if host else stored_element_bytes(t.element_type, self.hardware))
        except ValueError:
            raise ValueError(f"lower_bounds: element type {t.element_type} has no bit width") from None

    def make_root(self, kind, t, pos, lname, key) -> _Value:
        if not t.has_static_shape:
            raise ValueError(f"lower_bounds: dynamic shape {t} at {lname} is not supported")
        e = self.elem_bits(t, host=kind != _ACT)
        return _Value(kind, math.prod(t.shape) * e, e, list(t.shape), pos, lname, key)

    def run(self) -> None:
        func = self.func
        block = func.regions[0].blocks[0]
        weight_mask = {}
        if "arg_attrs" in func.attributes:
            for i, a in enumerate(ir.ArrayAttr(func.attributes["arg_attrs"])):
                weight_mask[i] = WEIGHT_ARG_ATTR in ir.DictAttr(a)
        for i, arg in enumerate(block.arguments):
            t = _tensor(arg.type)
            if t is None:
                continue
            kind = _WEIGHT if weight_mask.get(i, False) else _INPUT
            root = self.make_root(kind, t, -1, IO_LAYER, ("arg", i))
            self.alias[arg] = (root, None)
            self.roots.append(root)
            if read_only_as_buffer(arg):
                self.streamed.add(root)
        loc_names: dict[str, str] = {}
        ops = _flatten_tiled_stages(block)
        self.n = len(ops)
        for pos, view in enumerate(ops):
            op = view.operation
            name = op.name
            loc = str(op.location)
            lname = loc_names.get(loc)
            if lname is None:
                lname = loc_names[loc] = layer_name(loc)
            if name in _PLACEMENT_OPS:
                continue  # moves stored tensors; their bound is the capacity term
            if name == "func.call" or (
                op.regions
                and not (name.startswith("linalg.") or name.startswith("tensor.") or is_tiled_stage(op))
                and name != "imc.tiled_contract"
            ):
                _check_nested(op, loc)
            if name in TENSOR_VIEW_OPS:
                self._view(op)
            elif name == "imc.tiled_contract":  # its body's ops came before it: its result is the yielded tensor
                yielded = TiledContractView(op).yielded
                if yielded in self.alias:
                    self.alias[op.results[0]] = self.alias[yielded]
            elif name == "func.return":
                self._return(op)
            elif name in _NO_DATA:
                self._no_data(op, pos, lname)
            elif name == "arith.constant":
                self._constant(op, pos, lname)
            else:
                self._compute(op, pos, lname)

    def _view(self, op) -> None:
        src = self.alias.get(op.operands[0])
        if src is None:
            return
        root, region = src
        t = _tensor(op.results[0].type)
        if op.name == "tensor.extract_slice" and t is not None:
            region = _slice_region(op, root, region, t, root.elem_bits)
        self.alias[op.results[0]] = (root, region)

    def _return(self, op) -> None:
        for v in op.operands:
            src = self.alias.get(v)
            if src is None:
                continue
            root, region = src
            t = _tensor(v.type)
            bits = math.prod(t.shape) * self.elem_bits(t)
            root.output = True
            self.outputs.append((root, bits))

    def _no_data(self, op, pos, lname) -> None:
        for r in op.results:
            t = _tensor(r.type)
            if t is not None:
                self.alias[r] = (_Value(_EMPTY, 0, 0, list(t.shape), pos, lname, None), None)

    def _constant(self, op, pos, lname) -> None:
        t = _tensor(op.results[0].type)
        if t is None:
            return
        e = 8 * element_bytes(t.element_type) if hasattr(t.element_type, "width") else 8
        root = _Value(_WEIGHT, math.prod(t.shape) * e, e, list(t.shape), pos, lname, ("const", pos))
        self.alias[op.results[0]] = (root, None)
        if is_splat_constant(op):
            self.splats.add(root)  # an immediate for the digital unit: no bytes

    def _compute(self, op, pos, lname) -> None:
        name, alias = op.name, self.alias
        self.compute_layers.append((pos, lname))
        if name == "imc.program":
            info = _program_info(op, pos, lname, alias)
            last = self.programs[-1] if self.programs else None
            if (
                last is not None
                and last.pos == pos - 1
                and last.identity == info.identity
                and info.identity[0] != "activation"
                and 0 <= last.array != info.array >= 0
                and last.block == info.block
            ):
                info = dataclasses.replace(info, copy=True)
            self.programs.append(info)
        operands = list(op.operands)
        for v in operands:
            src = alias.get(v)
            if src is None:
                continue
            root, region = src
            if root.kind in (_INPUT, _ACT):
                root.uses.append((pos, region))
            elif root.kind == _WEIGHT and name != "imc.program" and root not in self.splats:
                first, regions = self.constant_regions.setdefault(root, (lname, []))
                regions.append(region)
        if name in _MATMULS:
            kinds = [alias[v][0].kind if v in alias else None for v in operands[:2]]
            # linalg matmuls with a weight operand are not activation x activation.
            if name == "imc.contract" or all(k in (_INPUT, _ACT) for k in kinds):
                self.matmuls.append((pos, lname, op))
        for r in op.results:
            t = _tensor(r.type)
            if t is not None and not t.has_static_shape and op.parent.name != "func.func":
                continue  # a tile of a tiled stage's datapath value: bounded through the whole stage
            if t is not None:
                root = self.make_root(_ACT, t, pos, lname, ("op", pos))
                alias[r] = (root, None)
                self.roots.append(root)
            # !imc.xbar handles and scalars carry no activation bytes.


def _compulsory(walk: _Walk, layer) -> int:
    """1. Compulsory traffic: model inputs (at their first user), outputs (at
    their producer), weights, digital-unit constants. Returns the constants'
    bits."""
    for root in walk.roots:
        if root.kind == _INPUT and root.uses:
            bits = _union_bits([r for _, r in root.uses], root)
            first = min(p for p, _ in root.uses)
            lname = next(l for p, l in walk.compute_layers if p == first)
            lb = layer(lname)
            lb.input_bytes += bits // 8
            lb.reasons.append(f"model input read once: {bits // 8:,} B")
            if root in walk.streamed:
                lb.streamed_bytes += bits // 8
    for root, bits in walk.outputs:
        lb = layer(root.layer if root.kind == _ACT else IO_LAYER)
        lb.output_bytes += bits // 8
        lb.reasons.append(f"model output written once: {bits // 8:,} B")
    _weights(walk.programs, layer)
    for root, (lname, regions) in walk.constant_regions.items():
        bits = _union_bits(regions, root)
        lb = layer(lname)
        lb.constant_bytes += bits // 8
        lb.reasons.append(f"digital-unit constant read once: {bits // 8:,} B")
    return sum(_union_bits(rs, root) for root, (_, rs) in walk.constant_regions.items())


def _op_capacity(walk: _Walk, hardware, layer, program: ProgramBounds) -> None:
    """2. Capacity at op granularity (A2): live activation bits between ops
    beyond the scratchpad, at each layer's peak."""
    cap_bits, live_bits = _capacity(walk.roots, walk.n, 8 * int(hardware.spad_bytes))
    peaks: dict[str, tuple[int, int]] = {}
    for pos, lname in walk.compute_layers:
        c = int(cap_bits[pos])
        if c > peaks.get(lname, (0, 0))[0]:
            peaks[lname] = (c, int(live_bits[pos]))
    for lname, (c, live) in peaks.items():
        lb = layer(lname)
        lb.capacity_bytes = c // 8
        lb.reasons.append(
            f"scratchpad overflow: {_fmt(live // 8)} live beyond {_fmt(hardware.spad_bytes)} at this layer "
            f"(>= {c // 8:,} B spilled and reloaded)"
        )
    if peaks:
        best = max(peaks.items(), key=lambda kv: kv[1][0])
        program.capacity_bytes, program.capacity_layer = best[1][0] // 8, best[0]


def _matmul_terms(walk: _Walk, spad_bits: int, layer) -> None:
    """3. Matmul (Smith et al. 2019) for digital contractions."""
    for pos, lname, op in walk.matmuls:
        mm = _matmul_bytes(op, spad_bits, walk.elem_bits)
        if mm:
            bits, flops = mm
            lb = layer(lname)
            lb.matmul_bytes += bits // 8
            lb.reasons.append(
                f"digital matmul of {flops:,} MACs exceeds the scratchpad: >= {bits // 8:,} B (Smith et al. 2019)"
            )


_PLACEMENT_OPS = {
    "bufferization.materialize_in_destination",
    "bufferization.to_tensor",
    "memref.alloc",
    "memref.dealloc",
    "imc.spad_alloc",
    "imc.spad_free",
    "imc.transfer_in",
    "imc.transfer_out",
    "imc.join",
    "imc.dma",
    "memref.subview",
}


def stage_capacity(program, spad_bytes: int) -> tuple[dict[str, int], int]:
    """Per-layer shares and total of the stage capacity bound
    (`imc.transforms.placement.capacity_bound`)."""
    from imc.transforms.placement import capacity_bound

    bound = capacity_bound(program, spad_bytes)
    return bound.layer_shares(program), bound.bytes


def _stage_capacity(module, func, hardware, layer, program: ProgramBounds) -> None:
    from imc.transforms.placement import stage_program

    mod = module.operation if hasattr(module, "operation") else module
    if PLACEMENT_ATTR in mod.attributes:
        d = ir.DictAttr(mod.attributes[PLACEMENT_ATTR])
        shares = {}
        for i in range(len(d)):
            na = d[i]
            shares[na.name] = ir.IntegerAttr(na.attr).value
        total = shares.pop("total", sum(shares.values()))
    else:
        shares, total = stage_capacity(stage_program(func, hardware), int(hardware.spad_bytes))
    for lname, nbytes in shares.items():
        lb = layer(lname)
        lb.capacity_bytes += nbytes
        lb.reasons.append(f"scratchpad capacity forces >= {nbytes:,} B of spills at this layer (stage bound)")
    program.capacity_bytes = total
    if shares:
        program.capacity_layer = max(shares, key=shares.get)


def _flatten_tiled_stages(block, inside: bool = False) -> list:
    """`block`'s ops, with the bodies of tiled-stage loops (and of the loops
    and branches inside them) and of `imc.tiled_contract`s inlined before
    the loop, branch or contraction op itself.
    Each nested op is walked once, as if the loop ran once: inputs, outputs
    and weights are counted by the data they touch, not by trips.
    Terminators inside are dropped."""
    out = []
    for view in block.operations:
        op = view.operation
        if op.name in ("scf.for", "scf.if") and (inside or is_tiled_stage(op)):
            for region in op.regions:
                for inner in region.blocks:
                    out.extend(v for v in _flatten_tiled_stages(inner, True) if v.operation.name != "scf.yield")
        elif op.name == "imc.tiled_contract":
            out.extend(v for v in op.regions[0].blocks[0].operations if v.operation.name != "imc.yield")
        out.append(view)
    return out


def _check_nested(op, loc: str) -> None:
    if op.name == "func.call":
        raise ValueError(f"lower_bounds: 'func.call' at {loc} is not supported (inline callees first)")
    found = find_nested(op, lambda o: o.name.startswith("imc.") or o.name == "func.call")
    if found is not None:
        raise ValueError(f"lower_bounds: '{found.name}' nested in '{op.name}' at {loc} is not supported")


def _slice_region(op, root: _Value, region, t, e_bits: int):
    """The region an extract_slice reads: a box of its source, or an opaque group."""
    offsets = _i64s(op.attributes["static_offsets"])
    sizes = _i64s(op.attributes["static_sizes"])
    strides = _i64s(op.attributes["static_strides"])
    if (_DYNAMIC in offsets or _DYNAMIC in sizes) and op.parent.name != "func.func":
        # A tile in a tiled stage: over its trips the loop reads its source
        # as the untiled stage did (whole, for the rows of a convolution).
        return region
    if _DYNAMIC in offsets or _DYNAMIC in sizes or any(s != 1 for s in strides) or region is not None:
        # Its own group: only its own bytes are known to be read.
        return (("opaque", id(op)), [0] * len(t.shape), list(t.shape), e_bits)
    # Boxes of one source compare in its coordinates: the source named by its
    # data (the root, the region of it and the shape it is viewed at), so that
    # copies of a loop body (imc.transforms.loop_chain) slicing their own
    # reshape of one weight name the same tiles.
    source = (root.key, _frozen(region), tuple(ir.RankedTensorType(op.operands[0].type).shape))
    return (("src", source), offsets, sizes, e_bits)


def _frozen(region):
    return region if region is None else tuple(_frozen(r) if isinstance(r, (list, tuple)) else r for r in region)


def _program_info(op, pos: int, lname: str, alias: dict) -> "_ProgramInfo":
    program = ProgramView(op)
    shape = program.tile_shape
    src = alias.get(program.weight)
    if src is not None and src[0].kind == _WEIGHT:
        root, region = src
        window = None if region is None else (region[0], tuple(region[1]), tuple(region[2]))
        identity = (root.key, window, program.transpose, program.slice, program.cell_bits, program.weight_bits)
        bits = program.cells * program.bits_per_cell
    else:  # a tile of activations: already on chip, no DRAM bytes
        identity = ("activation", pos)
        bits = 0
    return _ProgramInfo(lname, program.array, program.offset, shape, identity, bits, pos, op.block)


@dataclass(frozen=True)
class _ProgramInfo:
    """What the weight terms read of one `imc.program` (`_weights`)."""

    layer: str
    array: int  # the crossbar (-1: unplaced)
    offset: tuple[int, int]  # of the tile in its crossbar
    shape: tuple[int, int]  # (rows, cols) on the crossbar
    identity: tuple  # equal for ops that program the same tile of the same weights
    bits: int  # weight bits the op programs
    pos: int = -1  # in the walk
    block: object = None  # the block it is in
    copy: bool = False  # the same tile as the program right before it, on another crossbar (a copy)


def _overlap(o0, s0, o1, s1) -> bool:
    return o0[0] < o1[0] + s1[0] and o1[0] < o0[0] + s0[0] and o0[1] < o1[1] + s1[1] and o1[1] < o0[1] + s0[1]


def _weights(programs, layer) -> None:
    """Crossbar weights: cold-call and warm-call programming bits per layer."""
    by_array: dict[int, list[tuple[int, _ProgramInfo]]] = {}  # array -> (position in `programs`, program)
    for i, p in enumerate(programs):
        by_array.setdefault(p.array, []).append((i, p))
    cold: dict[str, int] = {}
    warm: dict[str, int] = {}
    shared: dict[str, int] = {}
    unique: dict = {}  # identity -> (first layer, bits): each distinct tile once
    for p in programs:
        unique.setdefault(p.identity, (p.layer, p.bits))
    unique_bits: dict[str, int] = {}
    for lname, bits in unique.values():
        unique_bits[lname] = unique_bits.get(lname, 0) + bits
    for p in programs:
        layer(p.layer).program_ops += 1
    for lname, bits in unique_bits.items():
        layer(lname).unique_weight_bytes += bits // 8
    # Which programs write their crossbar in a cold call and in the steady
    # state (by position in `programs`).
    writes = {"cold": set(), "warm": set()}
    for array, ps in by_array.items():
        if array < 0:  # unplaced: programmed each time it executes
            for i, _ in ps:
                writes["cold"].add(i)
                writes["warm"].add(i)
            continue
        held: list[tuple] = []  # (offset, shape, identity)
        for call in ("cold", "warm"):  # a cold call, then the steady state
            for i, p in ps:
                if not any(h == (p.offset, p.shape, p.identity) for h in held):
                    writes[call].add(i)
                held = [h for h in held if not _overlap(h[0], h[1], p.offset, p.shape)]
                held.append((p.offset, p.shape, p.identity))
    # A copy written right after the program before it (the same tile on
    # another crossbar) shares that program's DRAM transfer (the interpreter's
    # `copy_of`).
    for call, bits_of in (("cold", cold), ("warm", warm)):
        written = writes[call]
        for i in sorted(written):
            p = programs[i]
            if p.copy and i - 1 in written:
                continue
            bits_of[p.layer] = bits_of.get(p.layer, 0) + p.bits
            if call == "warm" and p.array >= 0:
                shared[p.layer] = shared.get(p.layer, 0) + 1
    for lname, bits in cold.items():
        lb = layer(lname)
        lb.weight_bytes += bits // 8
        lb.reasons.append(f"weights programmed once: {bits // 8:,} B")
    for lname, bits in warm.items():
        lb = layer(lname)
        lb.reprogram_bytes += bits // 8
        if bits:
            lb.reasons.append(
                f"time-multiplexed crossbars: weights re-read every call: {bits // 8:,} B "
                f"({shared.get(lname, 0)} program(s) share a crossbar)"
            )


def _forced_repeats(layers: dict[str, LayerBound], hardware, constant_bits: int) -> None:
    """Weights and constants that any schedule re-reads on every warm call.

    Between calls the chip keeps at most its crossbars' weights
    (`hardware.weight_capacity` elements at `weight_bits`) plus a full
    scratchpad; whatever exceeds both comes from DRAM again on every call
    (activations also need scratchpad room, so this is a weak bound). The
    excess is charged to the layers that re-program or re-read in program
    order, up to what each re-reads under the fixed placement.
    """
    weight_bits = sum(lb.unique_weight_bytes for lb in layers.values()) * 8
    room = int(hardware.weight_capacity) * int(hardware.weight_bits) + 8 * int(hardware.spad_bytes)
    excess = max(0, weight_bits + constant_bits - room) // 8
    for lb in layers.values():
        if excess <= 0:
            return
        share = min(excess, lb.reprogram_bytes + lb.constant_bytes)
        if share:
            lb.forced_repeat_bytes += share
            lb.reasons.append(f"weights and constants beyond on-chip memory: re-read every call: {share:,} B")
            excess -= share


def _capacity(roots, n: int, spad_bits: int):
    """(extra bits, live bits) at the boundary after each op position.

    Live bits of a computed value at boundary b: the union of its regions used
    at positions > b (def <= b); of a model input: the bits read at <= b and
    used again at > b. Excess E = max(0, L - S); off-chip bits of model inputs
    and outputs cost one extra transfer, of other computed values two.
    """
    cheap = np.zeros(n + 1, dtype=np.int64)  # difference arrays
    dear = np.zeros(n + 1, dtype=np.int64)
    for root in roots:
        if root.kind not in (_INPUT, _ACT) or not root.uses:
            continue
        positions, suffix, intersect = _live_profile(root)
        target = cheap if (root.kind == _INPUT or root.output) else dear
        if root.kind == _ACT:
            spans = [(root.pos, positions[0], suffix[0])]
            spans += [(positions[j], positions[j + 1], suffix[j + 1]) for j in range(len(positions) - 1)]
        else:
            spans = [(positions[j], positions[j + 1], intersect[j]) for j in range(len(positions) - 1)]
        for start, end, bits in spans:
            if bits and end > start:
                target[start] += bits
                target[end] -= bits
    l1 = np.cumsum(cheap)[:n]
    l2 = np.cumsum(dear)[:n]
    live = l1 + l2
    excess = np.maximum(live - spad_bits, 0)
    extra = np.minimum(excess, l1) + 2 * np.maximum(excess - l1, 0)
    return extra, live


def _matmul_bytes(op, spad_bits: int, elem_bits):
    """(bits, MACs) of Smith et al.'s bound for a digital contraction, or None.

    Q >= 2 F / sqrt(M) - 2 M words read (F multiply-adds, M words of fast
    memory), minus M more words that may already sit in the scratchpad when
    the op starts. Only when the op's working set exceeds the scratchpad and
    both operands are activations (for linalg matmuls).
    """
    ts = [_tensor(v.type) for v in list(op.operands)[:2]] + [_tensor(op.results[0].type)]
    if any(t is None for t in ts):
        return None
    a, b, c = ts
    k = a.shape[-1]
    macs = math.prod(c.shape) * k
    e = elem_bits(a, host=False)
    working = sum(math.prod(t.shape) * elem_bits(t, host=False) for t in ts)
    if working <= spad_bits:
        return None
    m_words = spad_bits // e
    if m_words <= 0:
        return None
    q = 2 * macs / math.sqrt(m_words) - 3 * m_words
    if q <= 0:
        return None
    return int(q) * e, macs
