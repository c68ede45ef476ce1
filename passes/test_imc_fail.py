"""`test-imc-fail`: fails on every op carrying `imc.test_fail` (tests only)."""

from dataclasses import dataclass, field

from torch_mlir import ir

from imc.transforms.pass_base import ImcPass, PassFailure


@dataclass(frozen=True)
class TestImcFail(ImcPass):
    """Reports an error at each op with the unit attribute `imc.test_fail`.

    Exists only to test how pipelines report failing passes; changes nothing.
    """

    name = "test-imc-fail"
    summary = "Fail at ops marked `imc.test_fail` (testing only)"

    message: str = field(default="marked to fail", metadata={"help": "the error message"})

    def run(self, module, state) -> None:
        marked = []

        def visit(op):
            if "imc.test_fail" in op.attributes:
                marked.append(op)
            return ir.WalkResult.ADVANCE

        module.walk(visit)
        for op in marked:
            state.error(op, self.message)
        if marked:
            raise PassFailure()

