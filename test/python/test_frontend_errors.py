"""What imc cannot compile is a `CompileError` at compile time, naming the op,
the user's source line and what to do -- never an exception from inside torch
or torch-mlir, never a failure at run time, and nothing printed to stderr.
And what `imc.compile` compiles, `torch.compile(backend="imc")` compiles too.
"""

import inspect

import pytest
import torch
from torch import nn

import imc
from imc.frontend.importer import _ImcFxImporter, import_torch
from imc.ir.hardware import Hardware
from imc.transforms.pipeline import CompileError, PipelineError


def _line_of(fn) -> int:
    return inspect.getsourcelines(fn)[1]


def _no_error_on_stderr(capfd) -> None:
    err = capfd.readouterr().err
    assert "error:" not in err, err


# --------------------------------------------------------------------------- #
# imc.compile: empty, complex, dynamic, unsupported ops
# --------------------------------------------------------------------------- #


def test_batch_zero_is_rejected_before_export(capfd):
    with pytest.raises(CompileError) as info:
        imc.compile(nn.Linear(8, 4), (torch.randn(0, 8),))
    e = info.value
    assert "input #0 of Linear is an empty tensor of shape [0, 8]" in str(e)
    assert "at least one" in str(e)
    _no_error_on_stderr(capfd)


def test_empty_spatial_dim_is_rejected_not_left_to_torch():
    # torch.export itself fails on this conv with a RuntimeError from deep
    # inside fake-tensor propagation; imc says what is wrong first.
    with pytest.raises(CompileError, match=r"empty tensor of shape \[1, 3, 0, 8\]"):
        imc.compile(nn.Conv2d(3, 4, 3), (torch.randn(1, 3, 0, 8),))


def test_empty_intermediate_names_op_and_line():
    def empty_slice(x):
        return x[:, :0] + 1

    with pytest.raises(CompileError) as info:
        imc.compile(empty_slice, (torch.randn(2, 4),))
    text = "\n".join(map(str, info.value.diagnostics))
    assert "produces an empty tensor of shape [2, 0]" in text
    assert f"test_frontend_errors.py:{_line_of(empty_slice) + 1}:0: error: 'aten." in text


def test_complex_input_is_rejected():
    with pytest.raises(CompileError, match="complex64 tensor: imc has no complex arithmetic"):
        imc.compile(lambda x: x * x, (torch.randn(4, dtype=torch.complex64),))


def test_complex_intermediate_names_op_and_line(capfd):
    def spectrum(x):
        return torch.fft.rfft(x).abs()

    with pytest.raises(CompileError) as info:
        imc.compile(spectrum, (torch.randn(2, 8),))
    text = "\n".join(map(str, info.value.diagnostics))
    assert f"test_frontend_errors.py:{_line_of(spectrum) + 1}:0: error: 'aten.fft_rfft' op produces a torch.complex64" in text
    assert "view_as_real" in text
    _no_error_on_stderr(capfd)


def test_op_the_interpreter_cannot_execute_fails_at_compile_time():
    # tm_tensor.sort (torch.sort, torch.topk) has no interpreter implementation.
    def sorted_rows(x):
        return torch.sort(x, dim=-1).values

    with pytest.raises(CompileError) as info:
        imc.compile(sorted_rows, (torch.randn(3, 5),))
    (diag,) = map(str, info.value.diagnostics)
    assert diag.startswith(f"{__file__}:{_line_of(sorted_rows) + 1}:0: error: 'tm_tensor.sort' op cannot be executed")


def test_op_torch_mlir_cannot_lower_names_the_aten_op(capfd):
    def histogram(x):
        return torch.histc(x, bins=4)

    with pytest.raises(CompileError) as info:
        imc.compile(histogram, (torch.randn(3, 4),))
    (diag,) = map(str, info.value.diagnostics)
    assert diag.startswith(
        f"{__file__}:{_line_of(histogram) + 1}:0: error: 'aten.histc' op is not supported by Torch-MLIR's lowering"
    )
    # The lowering's own diagnostic is in the exception, not on stderr.
    assert "failed to legalize" not in capfd.readouterr().err


def test_export_failure_is_a_compile_error_naming_the_function():
    def data_dependent(x):
        if x.sum() > 0:
            return x * 2
        return x

    with pytest.raises(CompileError, match="torch.export.export.*of .*data_dependent failed"):
        import_torch(data_dependent, (torch.ones(3),), strict=False)


def test_importer_exception_is_wrapped(monkeypatch):
    def boom(self, *args, **kwargs):
        raise TypeError("unsupported literal")

    monkeypatch.setattr(_ImcFxImporter, "import_stateless_graph", boom)
    with pytest.raises(CompileError, match="the Torch-MLIR importer failed \\(TypeError\\)") as info:
        import_torch(nn.Linear(4, 4), (torch.randn(1, 4),))
    assert isinstance(info.value.__cause__, TypeError)


# --------------------------------------------------------------------------- #
# PipelineError carries its diagnostics; nothing goes to stderr
# --------------------------------------------------------------------------- #


def test_one_byte_scratchpad_error_is_in_the_exception(capfd):
    hw = Hardware.resolve("default").replace(spad_bytes=1)
    with pytest.raises(PipelineError) as info:
        imc.compile(nn.Linear(8, 4), (torch.randn(2, 8),), hardware=hw)
    e = info.value
    assert any("leave no room in the 1 B scratchpad" in str(d) for d in e.diagnostics), e.diagnostics
    assert "leave no room" in str(e)
    assert "leave no room" not in capfd.readouterr().err


# --------------------------------------------------------------------------- #
# torch.compile(backend="imc")
# --------------------------------------------------------------------------- #


def _backend(fn):
    torch._dynamo.reset()
    return torch.compile(fn, backend="imc")


_INDEX = torch.tensor([[0, 3, 1, 3, 4, 0], [2, 2, 0, 1, 4, 4]])


@pytest.mark.parametrize(
    "name, fn, args",
    [
        ("scatter", lambda x, s: x.scatter(1, _INDEX[:, :3], s[:, :3]), (torch.randn(2, 5), torch.randn(2, 6))),
        ("scatter_add", lambda x, s: x.scatter_add(1, _INDEX, s), (torch.randn(2, 5), torch.randn(2, 6))),
        (
            "index_put",
            lambda x, v: torch.index_put(x, (torch.tensor([0, 2]),), v),
            (torch.randn(4, 3), torch.randn(2, 3)),
        ),
        (
            "index_put_accumulate",
            lambda x, v: torch.index_put(x, (torch.tensor([0, 2, 0]),), v, accumulate=True),
            (torch.randn(4, 3), torch.randn(3, 3)),
        ),
        ("group_norm", nn.GroupNorm(2, 4).eval(), (torch.randn(2, 4, 5, 5),)),
    ],
)
def test_backend_compiles_what_imc_compile_does(name, fn, args):
    with torch.no_grad():
        ref = fn(*args)
        out = _backend(fn)(*args)
        direct = imc.compile(fn, args)(*args)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(direct, ref, rtol=1e-5, atol=1e-5)


def _inner(exc_info) -> BaseException:
    e = exc_info.value
    return getattr(e, "inner_exception", None) or e.__cause__ or e


def test_backend_rejects_dynamic_shapes(capfd):
    torch._dynamo.reset()
    compiled = torch.compile(nn.Linear(8, 4), backend="imc", dynamic=True)
    with pytest.raises(Exception) as info:
        compiled(torch.randn(3, 8))
    inner = _inner(info)
    assert isinstance(inner, CompileError), repr(inner)
    assert "dynamic shapes" in str(inner) and "dynamic=True" in str(inner)
    _no_error_on_stderr(capfd)


def test_backend_rejects_complex_arithmetic():
    def square(x):
        return x * x

    with pytest.raises(Exception) as info:
        _backend(square)(torch.randn(4, dtype=torch.complex64))
    inner = _inner(info)
    assert isinstance(inner, CompileError), repr(inner)
    assert "complex" in str(inner)
