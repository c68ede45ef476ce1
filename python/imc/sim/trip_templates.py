"""A traced `imc.tiled_contract` trip placed from the steps of an earlier one.

Under a tracer (`imc.sim.timeline`) an `imc.tiled_contract` runs its body op
by op, so that each MVM, accumulate and im2col is a step of its own. A row
tile loop runs the same body on every trip, with the same tiles held on the
same crossbars, on an input of the same shape one row tile further: the
same steps, reading and writing other arrays. In an `ideal` traced call, a
`TripTemplate` recorded from the group's first traced trip places the later
trips' steps directly, without executing the ops again (the warm call of a
64-row ResNet-18, nearly all of whose 47,000 steps are such trips' MVMs,
took 1.39-1.59 s instead of 2.49-2.73 s, four of each alternating). A call
that computes no crossbar products (`imc.sim.runtime.Runner.without_products`:
the warm call of `imc.sim.timeline.measure`, whose values nothing reads)
gives zeros as the placed trips' outputs; one that computes them (a traced
cold call) gives the group's fast-path values, and writes them over the
recorded trip's own, so that its outputs are an untraced call's to the bit
(ResNet-18 224x224 on the default chip: `CompiledModel.timeline` with its
traced cold call 4.31-4.62 s instead of 5.14-5.23 s, the same timeline):

* each recorded access is re-located: the group's input one row tile
  further (the same offsets from the input's first element, in this trip's
  input), its outputs in this trip's output arrays, the arrays the trip
  makes and drops (products, partial sums, im2col columns) in stand-ins of
  their own (`_Fresh`, dropped with the trip, as the arrays would be),
  crossbar tiles as recorded (a trip with a step that reads any other
  array is not recorded);
* the counters are the group's own (`ContractionGroup._events`, what its
  fast path adds per execution: the same as the ops', tested), and each
  MVM that keeps its crossbar busy adds its steps to the tracer's
  per-crossbar count, as `Tracer.activation` does.

Copy steps (a `tensor.concat` of the row blocks that copies of a layer's
crossbars computed) are placed as `Tracer.end` places them.

A trip is placed from the template only when it is the recorded trip again:
a validated group (`ContractionGroup.ready`) whose every tile the chip holds
(no programming step), on an input of the recorded shape and strides held
in memory of the recorded element size (`_key`), in
`ideal` (with products: one the fast path takes); otherwise the ops run (a
trip on another input shape is recorded again). A group's first trip in a traced call that runs
it before any untraced call validates the group as its first untraced run
would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imc.sim.access_times import _MOVE, _PLACE, _CrossbarToken, _Fresh, _Located, _located_at, _root

__all__ = ["traced_trip", "TripTemplate"]

_X, _OUT, _FRESH = range(3)  # how a template access is located in a trip


@dataclass(slots=True)
class TripTemplate:
    """The recorded steps of a group's traced trip (see the module docstring)."""

    key: tuple | None  # (the group's validated programs, `_key` of the input)
    # [(_PLACE, layer, reads, writes, busy, ride, activation)] (a `Tracer.recording`
    # entry's fields) or [(_MOVE, layer, dest, sources, assemble, busy, reads)],
    # the accesses as `_template` classifies them
    entries: list | None = None
    x_start: int = 0  # the recorded input's first element in its root
    outs: list | None = None  # per group output: (shape, dtype)
    fresh_sizes: list | None = None  # per array the trip makes and drops: its root's size
    events: list | None = None  # `ContractionGroup._events` of the trip
    mvm_steps: dict | None = None  # crossbar -> MVM steps of the activations


_UNRECORDABLE = TripTemplate(None)
"""A group whose trips run as ops (a copy step, an access that cannot be re-located)."""


def _key(x: np.ndarray) -> tuple:
    """What a trip's input must share with the recorded one for the recorded
    offsets to locate its elements: shape, strides, dtype and the element
    size of the memory holding it (the recorded offsets count the elements
    of that memory: a trip whose rows sit in the scratchpad's bytes and one
    whose rows are an array of their own differ)."""
    return (x.shape, x.strides, x.dtype, _root(x).itemsize)


def traced_trip(interp, group, body, ex) -> list | None:
    """The yielded values of one traced trip of `group` (its body `body`),
    placed from its template or run as ops and recorded; None when the ops
    must run without a template (the caller runs them)."""
    tracer = interp.tracer
    chip = ex.chip
    if chip.precision != "ideal":
        return None
    template = getattr(group, "trip_template", None)
    if template is _UNRECORDABLE:
        return None
    env = interp.env
    args = [env[group.in_slot]] + [env[s] for s in group.root_slots]
    if group.programs is None or group.chip is not chip:  # not validated (a traced cold call ran it)
        return _record(interp, group, body, ex, args, None)
    if not group.ready(chip, args) or not group.holds_tiles(chip):
        return None  # (a trip that programs a tile runs as ops)
    x = args[0]
    key = (id(group.programs), _key(x))
    if template is not None and template.key == key:
        x_loc = _Located(x)
        if x_loc.where is None:
            return None
        outs = None
        if chip.computes_products:  # (the values of the group's fast path, as an untraced call's)
            outs = _products(group, chip, x, template)
            if outs is None:
                return None
        ex.last_written = None  # (as the programs of held tiles leave it)
        outs = _place(tracer, template, x_loc, x.itemsize, outs)
        with tracer.placed_events():
            group._add_events(ex, template.events)
        for s, v in zip(group.out_slots, outs):
            env[s] = v
        if group.tail:
            interp.exec_steps(group.tail)
        return [env[s] for s in body.yield_slots]
    # (a first trip, or another input's: recorded, the template from now on)
    return _record(interp, group, body, ex, args, key)


def _record(interp, group, body, ex, args, key) -> list:
    """Runs the trip's ops (the sub-steps, then the tail) and records the
    sub-steps' steps as the group's template (`key`: the trip's, see
    `traced_trip`); without a key, validates the group from the ops just run
    instead, as its first untraced run would (`ContractionGroup.slow`), so
    that its next trips are recorded and placed."""
    tracer = interp.tracer
    recording, own = tracer.recording, tracer.recording is None
    if own:
        tracer.recording = []
    mark = len(tracer.recording)
    try:
        interp.exec_steps(group.sub_steps)
        entries = tracer.recording[mark:]
    finally:
        if own:
            tracer.recording = recording
    env = interp.env
    if key is None:
        group.trip_template = None if group._validated(ex, env, args) else _UNRECORDABLE
    else:
        outs = [env[s] for s in group.out_slots]
        group.trip_template = _template(group, ex, args[0], env[group.x_slot], outs, entries, key)
    if ex.chip.computes_products and group.trip_template is not _UNRECORDABLE:
        # The fast path's values over the ops' (in their arrays, which keep
        # their access times): what the trips placed from the template and
        # an untraced call give.
        fast = _fast_values(group, ex.chip, args[0])
        outs = [env[s] for s in group.out_slots]
        if fast is not None and all(isinstance(o, np.ndarray) and o.flags.writeable and o.shape == f.shape for o, f in zip(outs, fast)):
            for o, f in zip(outs, fast):
                o[...] = f
    if group.tail:
        interp.exec_steps(group.tail)
    return [env[s] for s in body.yield_slots]


def _template(group, ex, x, cols, outs, entries, key) -> TripTemplate:
    """The template of the trip just run (`_UNRECORDABLE`: none)."""
    none = _UNRECORDABLE
    x_loc = _Located(x)
    if x_loc.where is None or not all(isinstance(o, np.ndarray) and _root(o) is o for o in outs):
        return none
    x_root, out_roots = x_loc.root, {id(o): i for i, o in enumerate(outs)}
    fresh: dict[int, int] = {}  # id of a recorded array's weak reference -> stand-in index
    fresh_sizes: list[int] = []
    written: set = set()

    def access(a, write: bool):
        if isinstance(a, _CrossbarToken):
            return a
        root = a.ref()
        if root is x_root:
            if write or a.where is None:
                return None
            return (_X, a.where, a.shape, a.contiguous)
        if root is not None and id(root) in out_roots:
            return (_OUT, out_roots[id(root)], a.where, a.whole, a.shape, a.contiguous)
        key = id(a.ref)
        if write and key not in written:
            written.add(key)
            fresh[key] = len(fresh_sizes)
            fresh_sizes.append(a.size)
        if key in fresh:
            return (_FRESH, fresh[key], a.where, a.whole, a.shape, a.contiguous)
        return None  # (an array from outside the trip but its input: not known to be the same every trip)

    recorded = []
    for entry in entries:
        if entry[0] is _MOVE:  # a copy step: (_MOVE, dest, sources, assemble, its placed step or None)
            _, dest, sources, assemble, placed = entry
            sources = [access(a, False) for a in sources]
            dest = access(dest, True)
            if dest is None or None in sources or (placed is not None and (placed[5] or placed[6] or placed[7])):
                return none
            layer, busy, reads = ("", {}, 0) if placed is None else (placed[1], placed[4], len(placed[2]))
            recorded.append((_MOVE, layer, dest, sources, assemble, busy, reads))
            continue
        _, layer, reads, writes, busy, ride, activation, last = entry
        if last:
            return none
        r = [access(a, False) for a in reads]
        w = [access(a, True) for a in writes]
        ride = None if ride is None else (ride[0], ride[1], access(ride[2], False))
        activation = None if activation is None else (activation[0], activation[1], access(activation[2], False), activation[3])
        if None in r or None in w or (ride and ride[2] is None) or (activation and activation[2] is None):
            return none
        recorded.append((_PLACE, layer, r, w, busy, ride, activation))
    # The MVM steps `Tracer.activation` counts per crossbar (a ride that
    # falls back to an activation of its own counts its steps when placed).
    steps: dict[int, int] = {}
    for entry in recorded:
        activation = entry[6] if entry[0] is _PLACE else None
        if activation is not None:
            steps[activation[0]] = steps.get(activation[0], 0) + activation[3]
    shapes = (x.shape, cols.shape) if group.im2col_op is not None else x.shape
    events = group.events.get(shapes)
    if events is None:
        events = group.events[shapes] = group._events(ex, x, cols)
    return TripTemplate(
        key, recorded, x_loc.where[0], [(o.shape, o.dtype) for o in outs], fresh_sizes, events, steps
    )


def _fast_values(group, chip, x: np.ndarray) -> list | None:
    """The group's `ideal` fast-path outputs on a trip's input `x` (None when
    the fast path does not take `x` on `chip`)."""
    if group.chip is not chip or not group.ready(chip, [x] + list(group.roots)):
        return None
    return group._ideal_products(x)[0]


def _products(group, chip, x: np.ndarray, template: TripTemplate) -> list | None:
    """`_fast_values` as a placed trip's outputs: each a writeable array of
    its own, as an op's result is (a read-only one would be taken for a
    constant: its writes would not be placed), of the template's shapes and
    dtypes; else None."""
    outs = _fast_values(group, chip, x)
    if outs is None:
        return None
    outs = [o if _root(o) is o and o.flags.writeable else o.copy() for o in outs]
    return outs if [(o.shape, o.dtype) for o in outs] == template.outs else None


def _place(tracer, template: TripTemplate, x_loc: _Located, itemsize: int, outs: list | None = None) -> list:
    """Places the template's steps for a trip on the input `x_loc` (located;
    its elements of `itemsize` bytes); returns the trip's outputs: `outs`,
    the products' values (`_products`), or else zeros (no products, as the
    accumulates of zero products give)."""
    x_root, shift = x_loc.root, x_loc.where[0] - template.x_start
    if outs is None:
        outs = [np.zeros(shape, dtype) for shape, dtype in template.outs]
    stand_ins = [_Fresh(size) for size in template.fresh_sizes]

    def located(a):
        if isinstance(a, _CrossbarToken):
            return a
        kind = a[0]
        if kind == _X:
            (start, shape, strides), _, contiguous = a[1], a[2], a[3]
            start += shift
            n = math.prod(shape)  # (`_Located.whole`: all of the root)
            whole = start == 0 and ((x_root.size == 1 and n > 0) or (n * itemsize == x_root.nbytes and all(strides)))
            return _located_at(x_root, (start, shape, strides), whole, a[2], contiguous)
        if kind == _OUT:
            return _located_at(outs[a[1]], a[2], a[3], a[4], a[5])
        return _located_at(stand_ins[a[1]], a[2], a[3], a[4], a[5])

    for entry in template.entries:
        if entry[0] is _PLACE:
            tracer.place_recorded(entry + (False,), located)
        else:  # a copy step, as `Tracer.end` makes it
            _, layer, dest, sources, assemble, busy, reads = entry
            tracer.move_recorded(layer, busy, reads, located(dest), [located(a) for a in sources], assemble)
    mvm_steps = tracer.mvm_steps
    for array, n in template.mvm_steps.items():
        mvm_steps[array] = mvm_steps.get(array, 0) + n
    return outs
