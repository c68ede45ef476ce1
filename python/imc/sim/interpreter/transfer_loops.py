"""Fast path of ``scf.for``: a loop that moves a row per trip runs as one move.

`imc-place-buffers` moves rows into and within a slab one trip at a time: a
loop whose body computes index offsets, takes a `memref.subview` of each side
at them and moves one view into the other (`imc.dma`, `memref.copy`; a stem's
input rows loaded from DRAM, a halo's rows shifted to the top of its slab).
Trip by trip that is a few Python steps per row. When the offsets are affine
in the induction variable (`arith.addi`, `subi`, `muli` by a value fixed
during the loop, `index_cast`), every trip's view is the first trip's shifted
by the same bytes, so the trips' views are the planes of one strided array,
and a registered *block move* (`register_block_move`) moves them at once,
with the checks and counters of every trip.

When the block move equals the trips in order: each side's subview moves
along one dimension by at least its size per trip (the trips' rows are
disjoint), and when both sides view the same buffer, each trip reads a row
that no earlier trip writes (it reads ahead of the writes, or in place).
Otherwise, under a tracer (which places each move), and off the fast paths,
the trips run in order.
"""

from __future__ import annotations

import operator
from typing import Callable

import numpy as np

from .core import DYNAMIC
from .tensor import _slice_static

__all__ = ["TransferPlan", "register_block_move", "transfer_plan", "run_block_move"]

_AFFINE = frozenset({"arith.addi", "arith.subi", "arith.muli", "arith.index_cast", "arith.index_castui"})

# op name -> fn(interp, op, src, dst, trips): moves `trips` planes of `src`
# into those of `dst` (leading dimension) with the checks and counters of
# `trips` executions of the op on src[t], dst[t] in order (but the hooks'
# `on_op`, which `run_block_move` calls per trip).
_BLOCK_MOVES: dict[str, Callable] = {}


def register_block_move(name: str, move: Callable) -> None:
    """Registers the block move of ops named `name` (see `_BLOCK_MOVES`)."""
    _BLOCK_MOVES[name] = move


class TransferPlan:
    """How a loop of row moves runs as one (`transfer_plan`)."""

    __slots__ = ("affine", "subviews", "move", "sides")

    def __init__(self, affine, subviews, move, sides):
        self.affine = affine  # the index steps, in order
        self.subviews = subviews  # the subview steps, in order
        self.move = move  # the moving step (the body's last)
        self.sides = sides  # per operand of the move: the subview step that makes it


def transfer_plan(block) -> TransferPlan | None:
    """The plan of a loop body that computes affine offsets, takes subviews
    at them and moves one into the other, else None."""
    steps = block.steps
    if len(block.arg_slots) != 1 or block.yield_slots or len(steps) < 3:
        return None
    move = steps[-1]
    if move[1].name not in _BLOCK_MOVES or len(move[2]) != 2:
        return None
    affine, subviews, made_by = [], [], {}
    for step in steps[:-1]:
        name = step[1].name
        if name in _AFFINE:
            affine.append(step)
        elif name == "memref.subview" and len(step[3]) == 1:
            subviews.append(step)
            made_by[step[3][0]] = step
        else:
            return None
    sides = [made_by.get(s) for s in move[2]]
    if None in sides or any(side[2][0] in made_by for side in sides):
        return None  # (a side must be a subview of a buffer from outside the loop)
    return TransferPlan(affine, subviews, move, sides)


def _affine(plan, iv_slot, ivs, env) -> dict | None:
    """slot -> (a, b): its value in trip t is a * t + b; None if an index
    step is not affine in t (a product of two values that change)."""
    lines = {iv_slot: (ivs[1] - ivs[0], ivs[0])}

    def line(s):
        found = lines.get(s)
        return found if found is not None else (0, operator.index(env[s]))

    for _, op, ins, outs in plan.affine:
        name = op.name
        (a, b) = line(ins[0])
        if name == "arith.addi":
            (c, d) = line(ins[1])
            lines[outs[0]] = (a + c, b + d)
        elif name == "arith.subi":
            (c, d) = line(ins[1])
            lines[outs[0]] = (a - c, b - d)
        elif name == "arith.muli":
            (c, d) = line(ins[1])
            if a and c:
                return None
            lines[outs[0]] = (a * d + c * b, b * d)
        else:  # index_cast
            lines[outs[0]] = (a, b)
    return lines


def _moving_dim(step, lines) -> tuple[int, int] | None:
    """(dimension, index step per trip) of a subview whose one dynamic
    offset changes by at least its static size per trip, at stride 1 (its
    trips' views are disjoint), and whose sizes and strides do not change;
    else None."""
    offsets, sizes, strides = _slice_static(step[1])[:3]
    dynamic = iter(step[2][1:])  # (offsets, then sizes and strides)
    found = None
    for dim, static in enumerate(offsets):
        if static != DYNAMIC:
            continue
        a = lines.get(next(dynamic), (0, 0))[0]
        if a:
            if found is not None:
                return None
            found = (dim, a)
    if found is None or any(lines.get(s, (0, 0))[0] for s in dynamic):
        return None
    dim, a = found
    if sizes[dim] == DYNAMIC or abs(a) < sizes[dim] or strides[dim] != 1:
        return None
    return found


def run_block_move(interp, plan: TransferPlan, block, ivs: list) -> bool:
    """Runs the trips `ivs` as one block move; False, having moved nothing,
    if the trips' views do not allow it (see the module doc)."""
    n = len(ivs)
    if n < 2 or interp._on_op is not None and any(
        (op.hooked if op.hooked is not None else interp.hooks_want(op)) for _, op, _, _ in plan.affine + plan.subviews
    ):
        return False
    env = interp.env
    try:
        lines = _affine(plan, block.arg_slots[0], ivs, env)
    except TypeError:  # (an offset from outside that is not an integer: the trips say what is wrong)
        return False
    if lines is None:
        return False
    moving = [_moving_dim(side, lines) for side in plan.sides]
    if None in moving:
        return False

    def views(t):
        for s, (a, b) in lines.items():
            env[s] = a * t + b
        for fn, op, ins, outs in plan.subviews:
            (env[outs[0]],) = fn(interp, op, [env[s] for s in ins])
        return [env[s] for s in plan.move[2]]

    try:
        first, second, last = views(0), views(1), views(n - 1)
    except Exception:  # (a view out of bounds: the trips in order raise at the first one, as it is)
        return False
    blocks = []
    for v0, v1, vl in zip(first, second, last):
        delta = _address(v1) - _address(v0)
        if v0.shape != vl.shape or v0.strides != vl.strides or _address(vl) != _address(v0) + (n - 1) * delta:
            return False
        blocks.append(np.lib.stride_tricks.as_strided(v0, shape=(n, *v0.shape), strides=(delta, *v0.strides)))
    src, dst = blocks
    if np.may_share_memory(src, dst):
        # Only if trip t reads the row trip t + j >= t writes (ahead of the writes, or in place).
        (s0, d0), step = first, src.strides[0]
        ahead = _address(s0) - _address(d0)
        if not step or s0.shape != d0.shape or s0.strides != d0.strides or step != dst.strides[0]:
            return False
        if ahead % step or ahead // step < 0:
            return False
    op = plan.move[1]
    _BLOCK_MOVES[op.name](interp, op, src, dst, n)
    if interp._on_op is not None and (op.hooked if op.hooked is not None else interp.hooks_want(op)):
        for t in range(n):
            interp._on_op(op, [src[t], dst[t]], ())
    return True


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]
