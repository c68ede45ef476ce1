"""``scf`` dialect: structured control flow over scalar conditions and bounds.

Loops run in Python over the *program's* iteration count (one body execution
per ``scf.for`` iteration); the bodies themselves operate on whole arrays.
"""

from __future__ import annotations

import numpy as np

from .core import impl
from .loop_distribution import MIN_TRIPS, distribution_plan, run_distributed
from .transfer_loops import TransferPlan, run_block_move, transfer_plan


@impl("scf.for")
def for_(interp, op, args):
    """The trips in order; on the fast paths, a loop of row moves as one
    move (`transfer_loops`), or distributed when the body allows it
    (`loop_distribution`)."""
    lb, ub, step = int(args[0]), int(args[1]), int(args[2])
    if step <= 0:
        raise op.error(f"non-positive step {step}")
    carried = list(args[3:])
    block = op.regions[0].block
    trips = range(lb, ub, step)
    plan = op.static
    if plan is None:
        plan = op.static = (interp.fast_paths and (transfer_plan(block) or distribution_plan(interp, block))) or False
    if plan and len(trips) >= MIN_TRIPS and interp.tracer is None:
        if isinstance(plan, TransferPlan):
            if run_block_move(interp, plan, block, list(trips)):
                return carried
        elif interp.distribute_loops:
            out = run_distributed(interp, plan, block, list(trips), carried)
            if out is not None:
                return out
    for iv in trips:
        carried = interp.run_block(block, [iv, *carried])
    return carried


@impl("scf.if")
def if_(interp, op, args):
    cond = args[0]
    if isinstance(cond, np.ndarray) and cond.ndim > 0:
        raise op.error("condition must be a scalar")
    if cond:
        return interp.run_block(op.regions[0].block, [])
    if len(op.regions) > 1 and op.regions[1].blocks:
        return interp.run_block(op.regions[1].block, [])
    return []


@impl("scf.execute_region")
def execute_region(interp, op, args):
    return interp.run_block(op.regions[0].block, [])


@impl("scf.while")
def while_(interp, op, args):
    before, after = op.regions[0].block, op.regions[1].block
    values = list(args)
    while True:
        res = interp.run_block(before, values)
        cond, fwd = res[0], res[1:]
        if not cond:
            return fwd
        values = interp.run_block(after, fwd)


@impl("scf.index_switch")
def index_switch(interp, op, args):
    st = op.static
    if st is None:
        from torch_mlir import ir

        st = op.static = list(ir.DenseI64ArrayAttr(op.ir.attributes["cases"]))
    idx = int(args[0])
    for k, case in enumerate(st):
        if case == idx:
            return interp.run_block(op.regions[k + 1].block, [])
    return interp.run_block(op.regions[0].block, [])
