"""The imc op verifiers' caches (`imc.dialects.imc._verifier`): an op that
verified is not checked again while it stays as it was, and any change that
the verifier reads (an attribute, an operand, a result type, an operand's
type changed in place) makes it checked again."""

import pytest
from torch_mlir import ir

import imc.dialects.imc as dialect
from imc.ir.context import make_context

SOURCE = """
func.func @f(%w: tensor<64x128xf32>, %x: tensor<1x128xf32>, %y: tensor<1x200xf32>) -> tensor<1x64xf32> {
  %xb = "imc.program"(%w) {array = 3 : i64, cell_bits = 2 : i64, offset = array<i64: 0, 64>, slice = 1 : i64,
                           transpose = true, weight_bits = 8 : i64} : (tensor<64x128xf32>) -> !imc.xbar<128 : i64, 128 : i64>
  %e = tensor.empty() : tensor<1x128xf32>
  %p = "imc.mvm"(%xb, %e) {adc_bits = 8 : i64, adc_full_scale = 0.0 : f32, dac_bits = 2 : i64, input_bits = 7 : i64}
      : (!imc.xbar<128 : i64, 128 : i64>, tensor<1x128xf32>) -> tensor<1x64xf32>
  return %p : tensor<1x64xf32>
}
"""


@pytest.fixture(params=["per-op and signature", "signature only"])
def module(request, monkeypatch):
    """(the module, the messages of the errors its verifications reported),
    with both caches, then as when the bindings' op hash does not track contents."""
    if request.param == "signature only":
        monkeypatch.setattr(dialect, "_HASH_TRACKS_CONTENT", False)
    with make_context(), ir.Location.unknown():
        yield ir.Module.parse(SOURCE), []


def _ops(m):
    body = m.body.operations[0].regions[0].blocks[0]
    program, empty, mvm = (op.operation for op in list(body.operations)[:3])
    return body, program, empty, mvm


def _verifies(m, errors: list) -> bool:
    """Verifies `m`; appends the messages of its errors to `errors`."""
    try:
        m.operation.verify()
        return True
    except ir.MLIRError as exc:
        errors.extend(d.message for d in exc.error_diagnostics)
        return False


def test_the_bindings_hash_an_operation_by_its_contents():
    # Without it the per-op cache is off (still correct, slower): this test
    # says so when the bindings change.
    assert dialect._op_hash_tracks_content()


def test_a_verified_op_is_checked_again_after_an_attribute_changes(module):
    m, errors = module
    assert _verifies(m, errors) and _verifies(m, errors)
    _, program, _, _ = _ops(m)
    i64 = ir.IntegerType.get_signless(64)
    program.attributes["offset"] = ir.DenseI64ArrayAttr.get([100, 0])
    assert not _verifies(m, errors)
    assert any("does not fit" in e for e in errors)
    program.attributes["offset"] = ir.DenseI64ArrayAttr.get([0, 64])
    assert _verifies(m, errors)
    program.attributes["slice"] = ir.IntegerAttr.get(i64, 7)
    assert not _verifies(m, errors)


def test_a_verified_op_is_checked_again_after_an_operand_changes(module):
    m, errors = module
    assert _verifies(m, errors)
    body, _, _, mvm = _ops(m)
    mvm.operands[1] = body.arguments[2]  # 200 rows on a 128-row crossbar
    assert not _verifies(m, errors)
    assert any("200 rows" in e for e in errors)


def test_a_verified_op_is_checked_again_after_its_operand_type_changes_in_place(module):
    m, errors = module
    assert _verifies(m, errors)
    _, _, empty, _ = _ops(m)
    empty.results[0].set_type(ir.RankedTensorType.get([1, 200], ir.F32Type.get()))
    assert not _verifies(m, errors)
    assert any("200 rows" in e for e in errors)


def test_a_failing_op_reports_every_time(module):
    m, errors = module
    _, program, _, _ = _ops(m)
    program.attributes["offset"] = ir.DenseI64ArrayAttr.get([100, 0])
    assert not _verifies(m, errors)
    assert not _verifies(m, errors)
    assert sum("does not fit" in e for e in errors) == 2


def test_a_pipeline_without_verify_each_verifies_its_result(module):
    """`run_pipeline(..., verify_each=False)` (what a sweep's points use)
    verifies once, after the pipeline: invalid IR is still a `PipelineError`
    naming the op's problem, and valid IR passes. (Here no pass changes the
    IR, after which MLIR's verification after each pass would not run.)"""
    from imc.transforms.pipeline import PipelineError, run_pipeline

    m, _ = module
    assert run_pipeline(m, "builtin.module(cse)", verify_each=False) == []
    _, program, _, _ = _ops(m)
    program.attributes["offset"] = ir.DenseI64ArrayAttr.get([100, 0])
    with pytest.raises(PipelineError) as err:
        run_pipeline(m, "builtin.module(cse)", verify_each=False)
    assert any("does not fit" in d.message for d in err.value.diagnostics)
