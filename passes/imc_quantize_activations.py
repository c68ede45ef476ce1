"""`imc-quantize-activations`: round every tensor stored between layers to
the chip's activation format where it leaves its producer."""

from dataclasses import dataclass, field

from torch_mlir import ir

from imc.dialects.imc import QuantizeOp
from imc.ir.utils import find_entry, i64_attr, insert_root, row_tile_insert, top_level
from imc.transforms.line_buffer import accumulator_inserts, trimmed_tile
from imc.transforms.pass_base import ImcPass, PassFailure
from imc.transforms.placement import stage_program


@dataclass(frozen=True)
class ImcQuantizeActivations(ImcPass):
    """Inserts `imc.quantize` on every stored tensor of the entry function.

    Input: a mapped program on tensors (after `imc-map-to-crossbars`, and
    `imc-tile-rows` when used), before `imc-place-buffers`. A *stored tensor*
    (`imc.placement`: a floating-point value produced in one stage and read
    by a later one) is stored by the chip at `bits` per element (default:
    the hardware's `activation_bits`); this pass makes that rounding an op:

    * `%q = imc.quantize %v {bits}` right after `%v`'s producer, and every
      later stage (and any view outside the stages) reads `%q`; the
      producer's stage and the function's results keep `%v` (model outputs
      leave at their host dtype);
    * a tiled producer that stores its output row tile by row tile (an
      `scf.for` yielding `tensor.insert_slice %tile into %acc`, or, behind a
      lagging line buffer, an `scf.if` whose branches insert the last
      trip's rows too) quantizes each `%tile` before its insert instead,
      with one op for all trips (two behind a lagging line buffer: the
      trip's rows and the last rows; `imc.sim.calibration` gives them one range).

    The range is uncalibrated (`low = high = 0.0`, each execution takes its
    input's range) until `imc.sim.calibration` sets it. A value that is already
    an `imc.quantize` result, and non-float tensors, are left alone.

    Docs: docs/interpreter.md ("quantized"); docs/dialect.md (`imc.quantize`).
    """

    name = "imc-quantize-activations"
    summary = "Round tensors stored between layers to the chip's activation_bits (imc.quantize)"

    entry: str = field(default="", metadata={"help": "function to rewrite (default: @main, else the only function)"})
    bits: int = field(default=0, metadata={"help": "bits per stored element (0: the hardware's activation_bits)", "range": (0, 32)})

    def run(self, module, state) -> None:
        try:
            func = find_entry(module, self.entry)
        except ValueError as e:
            state.error(module, f"{e} to quantize")
            raise PassFailure() from None
        bits = self.bits or state.hardware.activation_bits
        program = stage_program(func, state.hardware)
        block = func.regions[0].blocks[0]
        quantized = 0
        for t in program.tensors:
            value = t.value
            if not isinstance(ir.RankedTensorType(value.type).element_type, ir.FloatType):
                continue
            owner = value.owner
            if isinstance(owner, ir.Block) or owner.name == "imc.quantize":
                continue
            inserts = _row_tile_inserts(owner.operation, value)
            if inserts:
                for insert in inserts:
                    _quantize_tile(insert, bits)
            else:
                _quantize_after(owner.operation, value, t.producer, program.stage_of, block, bits)
            quantized += 1
        state.remark(module, f"{quantized} stored tensors rounded to {bits}-bit activations")


def _quantize_after(producer, value, stage: int, stage_of, block, bits: int) -> None:
    """`imc.quantize` after `producer`; later stages' reads of `value` use it."""
    with ir.InsertionPoint(producer), producer.location:
        q = QuantizeOp(value, i64_attr(bits), value.type).result
    q.owner.move_after(producer)
    for use in list(value.uses):
        user = top_level(use.owner.operation, block)
        if user.name == "func.return" or user == q.owner.operation:
            continue
        if stage_of.get(user) == stage:
            continue  # inside the producing stage: the datapath value
        use.owner.operation.operands[use.operand_number] = q


def _row_tile_inserts(loop, value) -> list:
    """The `tensor.insert_slice`s through which `loop` (an `scf.for`)
    assembles its result `value` in its iteration argument: the one it
    yields, or, when its consumer lags behind a line buffer, the trip's
    (trimmed) rows and the last trip's rows (`scf.if`). Empty otherwise."""
    if loop.name != "scf.for":
        return []
    if (insert := row_tile_insert(loop, value)) is not None:
        return [insert]
    index = list(loop.results).index(value)
    body = loop.regions[0].blocks[0]
    acc = body.arguments[index + 1]
    yielded = body.operations[-1].operands[index]
    owner = yielded.owner
    if isinstance(owner, ir.Block) or owner.operation.name != "scf.if":
        return []
    inserts = accumulator_inserts(loop, index)
    # Every branch of the `scf.if` must yield an insert chain over `acc`.
    for region in owner.operation.regions:
        y = region.blocks[0].operations[-1].operands[yielded.result_number]
        if insert_root(y) != acc:
            return []
    return inserts


def _quantize_tile(insert, bits: int) -> None:
    enters, index = trimmed_tile(insert)
    tile = enters.operands[index]
    with ir.InsertionPoint(enters), insert.location:
        enters.operands[index] = QuantizeOp(tile, i64_attr(bits), tile.type).result
