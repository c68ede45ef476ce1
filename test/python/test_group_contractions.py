"""`imc-group-contractions` on the zoo: every crossbar op of a compiled model
sits in an `imc.tiled_contract`, and each of those runs in one step.

The lit test (test/Transforms/imc-group-contractions.mlir) checks the shapes
the pass forms and the ones it leaves; here the whole pipelines run on real
models, so a schedule shape the pass does not group (and the interpreter
would then run op by op) shows up as an MVM outside any contraction.
"""

import pytest
from torch_mlir import ir

import imc
from imc.frontend import models
from imc.sim.interpreter.imc import ContractionGroup
from imc.sim.runtime import Runner


def _crossbar_ops(module) -> tuple[int, int, int]:
    """(contractions, crossbar ops inside one, crossbar ops outside any)."""
    counts = [0, 0, 0]

    def inside(op) -> bool:
        parent = op.parent
        while parent is not None:
            if parent.name == "imc.tiled_contract":
                return True
            parent = parent.parent
        return False

    def visit(op):
        if op.name == "imc.tiled_contract":
            counts[0] += 1
        elif op.name in ("imc.program", "imc.mvm", "imc.accumulate"):
            counts[1 if inside(op) else 2] += 1
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return tuple(counts)


def _contract_steps(runner) -> list:
    found = []

    def walk(block):
        for _, op, _, _ in block.steps:
            if op.name == "imc.tiled_contract":
                found.append(op)
            for region in op.regions:
                for b in region.blocks:
                    walk(b)

    walk(runner.interpreter._get_compiled(runner.entry).body)
    return found


@pytest.mark.parametrize("pipeline", ["imc-default", "imc-tiled", "imc-pipelined"])
@pytest.mark.parametrize("model", ["mlp", "lenet5", "bert_encoder", "gpt2_block"])
def test_every_crossbar_op_is_in_a_contraction_that_runs_in_one_step(model, pipeline):
    compiled = imc.compile(
        models.create(model), models.example_inputs(model), pipeline=f"builtin.module({pipeline})"
    )
    contractions, inside, outside = _crossbar_ops(compiled.module)
    assert contractions > 0 and inside > 0
    assert outside == 0, f"{outside} crossbar ops of {model} under {pipeline} are not in an imc.tiled_contract"
    runner = Runner(compiled.module, compiled.hardware)
    with compiled.context:
        runner.interpreter.prepare()
    steps = _contract_steps(runner)
    assert len(steps) == contractions
    assert all(isinstance(op.static, ContractionGroup) for op in steps)
