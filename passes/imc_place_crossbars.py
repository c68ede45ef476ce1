"""`imc-place-crossbars`: assign weight tiles to the chip's physical crossbars."""

from dataclasses import dataclass, field

from torch_mlir import ir

from imc.dialects.imc import ProgramOp
from imc.ir_utils import i64_attr, walk_ops
from imc.pipeline import ImcPass


def tile_cells(program) -> int:
    return ir.ShapedType(program.operands[0].type).shape[0] * ir.ShapedType(program.operands[0].type).shape[1]


@dataclass
class ImcPlaceCrossbars(ImcPass):
    """Sets `array` on every `imc.program`: the physical crossbar it occupies.

    Expects tiled IR (`imc-tile`). When all tiles fit (one crossbar per tile
    and bit slice), every tile gets its own crossbar, so each weight is
    programmed once for the whole program and, since the interpreter keeps
    crossbar contents across calls, once across calls.

    When they do not fit, crossbars are time-multiplexed: `pool` crossbars
    (default 1) rotate through the tiles that are not resident, in program
    order, and the other crossbars keep the tiles with the most cells
    resident. Each non-resident tile is then reprogrammed once per call;
    choosing the largest tiles as residents minimizes the cells reprogrammed
    (every tile needs exactly one crossbar, so the greedy choice is optimal).
    A remark says how many tiles and cells are reprogrammed per call.
    """

    name = "imc-place-crossbars"
    summary = "Place crossbar tiles on physical arrays; time-multiplex when they do not fit"

    crossbars: int | None = field(default=None, metadata={"help": "number of crossbars (default: cores x crossbars per core)"})
    pool: int = field(default=1, metadata={"help": "crossbars that rotate through non-resident tiles when the model does not fit"})

    def run(self, module, state) -> None:
        total = self.crossbars or state.hardware.total_crossbars
        programs = walk_ops(module, {ProgramOp.OPERATION_NAME})
        if not programs:
            return
        if total <= 0 or self.pool <= 0:
            state.error(module, f"crossbars = {total} and pool = {self.pool} must be positive")
            return
        if len(programs) <= total:
            for i, op in enumerate(programs):
                op.attributes["array"] = i64_attr(i)
            state.remark(
                module,
                f"{len(programs)} crossbar tiles placed on {len(programs)} of {total} crossbars; "
                "each weight tile is programmed once",
            )
            return
        pool = min(self.pool, total)
        resident_slots = total - pool
        order = sorted(range(len(programs)), key=lambda i: -tile_cells(programs[i]))
        resident = set(order[:resident_slots])
        rotating = 0
        reprogrammed_cells = 0
        next_slot = 0
        for i, op in enumerate(programs):
            if i in resident:
                op.attributes["array"] = i64_attr(next_slot)
                next_slot += 1
            else:
                op.attributes["array"] = i64_attr(resident_slots + rotating % pool)
                rotating += 1
                reprogrammed_cells += tile_cells(op)
        state.remark(
            module,
            f"{len(programs)} crossbar tiles do not fit {total} crossbars: {resident_slots} stay resident, "
            f"{rotating} are time-multiplexed over {pool} crossbar(s), reprogramming {reprogrammed_cells} cells per call",
        )
