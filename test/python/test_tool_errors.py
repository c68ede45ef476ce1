"""The tools' one error path (tools/_errors.py, issue 18): every mistake is one
line naming the file (exit 1), a bad command line exits 2, a bug says
"internal error" with a repro command (exit 70), and a crash inside native
MLIR code is reported by the supervisor instead of a silent death.

Most cases call each tool's `main(argv)` in-process; the supervisor only runs
for the console scripts, so its tests start them as subprocesses.
"""

import io
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from imc.tools import imc_compile, imc_opt, imc_run
from imc.tools._errors import EXIT_INTERNAL

ADD = """\
func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = arith.addf %a, %a : tensor<4xf32>
  return %0 : tensor<4xf32>
}
"""

# Upstream MLIR dies with SIGSEGV parsing this (torch-mlir-opt too).
SEGFAULT = """\
func.func @main(%a: tensor<4xf32>, %init: tensor<2x4x3xf32>) -> tensor<2x4x3xf32> {
  %0 = linalg.broadcast ins(%a : tensor<4xf32>) outs(%init : tensor<2x4x3xf32>) dimensions = [0 2, 3]
  return %0 : tensor<2x4x3xf32>
}
"""

# Upstream canonicalize dies with SIGSEGV on this pad (torch-mlir-opt too).
SEGFAULT_IN_PASS = """\
func.func @main(%a: tensor<4xf32>) -> tensor<?xf32> {
  %cst = arith.constant 0.0 : f32
  %0 = tensor.pad %a low[-9223372036854775808] high[0] {
  ^bb0(%i: index):
    tensor.yield %cst : f32
  } : tensor<4xf32> to tensor<?xf32>
  return %0 : tensor<?xf32>
}
"""

MODEL = """\
import torch


class Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x)


class Raises(torch.nn.Module):
    def __init__(self):
        raise RuntimeError("cannot build")
"""


def _file(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


def _error(capsys) -> str:
    """The one stderr line of a failed run (no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.strip() and not l.startswith("[")]
    assert len(lines) == 1, err
    return lines[0]


def _usage(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    return _error(capsys)


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("main", [imc_opt.main, imc_run.main], ids=["imc-opt", "imc-run"])
def test_non_utf8_file(main, tmp_path, capsys):
    path = _file(tmp_path, "latin1.mlir", b"func.func @main() {\n  return // \xe9t\xe9\n}\n")
    assert main([path]) == 1
    assert _error(capsys).endswith(f"error: {path}:2: not UTF-8 text (byte 0xe9 at offset 32)")


def test_non_utf8_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe")))
    assert imc_opt.main(["-"]) == 1
    assert _error(capsys) == "imc-opt: error: <stdin>:1: not UTF-8 text (byte 0xff at offset 0)"


@pytest.mark.parametrize("main", [imc_opt.main, imc_run.main], ids=["imc-opt", "imc-run"])
def test_directory_as_input(main, tmp_path, capsys):
    assert main([str(tmp_path)]) == 1
    assert _error(capsys).endswith(f"error: {tmp_path}: is a directory, expected a file")


def test_empty_npy(tmp_path, capsys):
    mlir, npy = _file(tmp_path, "add.mlir", ADD), _file(tmp_path, "empty.npy", b"")
    assert imc_run.main([mlir, "--input", npy]) == 1
    assert _error(capsys) == f"imc-run: error: {npy}: not a .npy file (it is empty)"


def test_npz_as_input(tmp_path, capsys):
    mlir = _file(tmp_path, "add.mlir", ADD)
    npz = str(tmp_path / "x.npz")
    np.savez(npz, np.ones(4, np.float32))
    assert imc_run.main([mlir, "--input", npz]) == 1
    assert _error(capsys) == f"imc-run: error: {npz}: is an .npz archive; --input takes one .npy file per argument"


def test_text_as_npy(tmp_path, capsys):
    mlir = _file(tmp_path, "add.mlir", ADD)
    assert imc_run.main([mlir, "--input", mlir]) == 1
    assert _error(capsys).startswith(f"imc-run: error: {mlir}: cannot load as a .npy array (")


RANDOM_INPUT_ERRORS = {
    "tensor<*xf32>": "--random-inputs needs a ranked type; pass --input FILE.npy",
    "tensor<?x4xf32>": "--random-inputs needs a static shape; pass --input FILE.npy",
    "tensor<100000x100000xf32>": "a random input would take 37.3 GiB (more than 1 GiB); pass --input FILE.npy",
    "tensor<4xi4>": "the interpreter has no values of this element type",
}


@pytest.mark.parametrize("arg_type", list(RANDOM_INPUT_ERRORS))
def test_random_inputs_that_cannot_be_made(arg_type, tmp_path, capsys):
    mlir = _file(tmp_path, "f.mlir", f"func.func @main(%a: {arg_type}) {{\n  return\n}}\n")
    assert imc_run.main([mlir, "--random-inputs"]) == 1
    assert _error(capsys) == f"imc-run: error: {mlir}: @main argument #0 ({arg_type}): {RANDOM_INPUT_ERRORS[arg_type]}"


def test_random_scalar_input_runs(tmp_path, capsys):
    mlir = _file(tmp_path, "s.mlir", "func.func @main(%a: f32) -> f32 {\n  %0 = arith.addf %a, %a : f32\n  return %0 : f32\n}\n")
    assert imc_run.main([mlir, "--random-inputs"]) == 0
    assert "result #0: float32[]" in capsys.readouterr().out


def test_declaration_main(tmp_path, capsys):
    mlir = _file(tmp_path, "decl.mlir", "func.func private @main(%a: tensor<4xf32>) -> tensor<4xf32>\n")
    assert imc_run.main([mlir, "--random-inputs"]) == 1
    assert _error(capsys) == f"imc-run: error: {mlir}: @main is a declaration without a body; there is nothing to run"


def test_private_main_with_a_body_runs(tmp_path, capsys):
    mlir = _file(tmp_path, "private.mlir", ADD.replace("func.func @main", "func.func private @main"))
    assert imc_run.main([mlir, "--random-inputs"]) == 0
    assert "result #0: float32[4]" in capsys.readouterr().out


def test_interpreter_error_without_location_names_the_file(tmp_path, capsys):
    mlir = _file(tmp_path, "add.mlir", ADD)
    npy = str(tmp_path / "scalar.npy")
    np.save(npy, np.float32(1.0))
    assert imc_run.main([mlir, "--input", npy]) == 1
    assert _error(capsys) == f"imc-run: {mlir}:1:1: error: input #0 of 'main' has shape (), expected tensor<4xf32>"


# ---------------------------------------------------------------------------
# Outputs: checked before any work
# ---------------------------------------------------------------------------


def test_opt_output_is_a_directory(tmp_path, capsys):
    mlir = _file(tmp_path, "add.mlir", ADD)
    assert imc_opt.main([mlir, "-o", str(tmp_path)]) == 1
    assert _error(capsys) == f"imc-opt: error: {tmp_path}: -o names a directory, expected a file"


def test_opt_output_in_a_missing_directory(tmp_path, capsys):
    mlir, out = _file(tmp_path, "add.mlir", ADD), str(tmp_path / "nope" / "out.mlir")
    assert imc_opt.main([mlir, "-o", out]) == 1
    assert _error(capsys) == f"imc-opt: error: {out}: -o: directory '{tmp_path / 'nope'}' does not exist"


# Tests run as root here, and root may write any ordinary file or directory:
# /proc/version is a file even root cannot open for writing (Linux only).
@pytest.mark.skipif(not os.path.exists("/proc/version"), reason="needs /proc/version, a file even root may not write")
def test_opt_output_unwritable(tmp_path, capsys):
    mlir = _file(tmp_path, "add.mlir", ADD)
    assert imc_opt.main([mlir, "-o", "/proc/version"]) == 1
    assert _error(capsys).startswith("imc-opt: error: /proc/version: -o")


@pytest.mark.parametrize("flag", ["--json", "--output"])
def test_run_output_is_a_directory(flag, tmp_path, capsys):
    mlir = _file(tmp_path, "add.mlir", ADD)
    assert imc_run.main([mlir, "--random-inputs", flag, str(tmp_path)]) == 1
    assert _error(capsys) == f"imc-run: error: {tmp_path}: {flag} names a directory, expected a file"
    assert "imc report" not in capsys.readouterr().out  # nothing ran


def test_run_output_is_written_to_exactly_that_path(tmp_path, capsys):
    mlir, out = _file(tmp_path, "add.mlir", ADD), tmp_path / "results"
    assert imc_run.main([mlir, "--random-inputs", "--output", str(out)]) == 0
    assert out.is_file() and not (tmp_path / "results.npz").exists()
    with np.load(out) as results:
        assert results["arr_0"].shape == (4,)


def test_bad_pass_option_is_one_error_for_all_chunks(tmp_path, capsys):
    mlir = _file(tmp_path, "split.mlir", ADD + "// -----\n" + ADD)
    assert imc_opt.main([mlir, "--split-input-file", "-p", "builtin.module(imc-tile{rows=99999999999999999999})"]) == 1
    assert _error(capsys) == (
        "imc-opt: error: option 'rows' of pass 'imc-tile' = 99999999999999999999 is out of range [1, 65536]"
    )


def test_every_integer_pass_option_declares_its_range():
    import typing

    from imc import passes as registry

    for name in registry.pass_names():
        cls = registry.get_pass_class(name)
        hints = typing.get_type_hints(cls)
        for f in cls.options():
            if int in (hints[f.name], *typing.get_args(hints[f.name])):
                assert "range" in f.metadata, f"{name}{{{f.name}}}"


def test_pass_option_range_is_checked_on_construction():
    from imc.passes.imc_tile import ImcTile
    from imc.transforms.pipeline import PipelineError

    assert ImcTile(rows=128).rows == 128
    with pytest.raises(PipelineError, match=r"option 'cell-bits' of pass 'imc-tile' = 9 is out of range \[1, 8\]"):
        ImcTile(cell_bits=9)


# ---------------------------------------------------------------------------
# Command lines: usage errors exit 2
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "main,argv,message",
    [
        (imc_run.main, ["--seed", "-1"], "argument --seed: -1 is out of range (allowed [0, 9223372036854775807])"),
        (imc_run.main, ["--repeat", "0"], "argument --repeat: 0 is out of range (allowed >= 1)"),
        (imc_run.main, ["--repeat", "-3"], "argument --repeat: -3 is out of range (allowed >= 1)"),
        (imc_run.main, ["--hardware", ""], "argument --hardware: must not be empty"),
        (imc_opt.main, ["--hardware", ""], "argument --hardware: must not be empty"),
        (imc_opt.main, ["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (imc_compile.main, ["--hardware", ""], "argument --hardware: must not be empty"),
        (imc_compile.main, ["--seed", "-1"], "argument --seed: -1 is out of range (allowed [0, 9223372036854775807])"),
        (imc_compile.main, ["--calls", "0"], "argument --calls: 0 is out of range (allowed >= 1)"),
        (
            imc_compile.main,
            ["--input-shape", "0,8"],
            "argument --input-shape: '0,8': every dimension must be positive (empty tensors cannot be checked)",
        ),
        (imc_compile.main, ["--input-shape", "4,x"], "argument --input-shape: '4,x': use D0,D1,... (integers)"),
        (imc_compile.main, ["--tolerance", "nan"], "argument --tolerance: nan must be a non-negative number"),
    ],
)
def test_usage_errors(main, argv, message, tmp_path, capsys):
    prog = {imc_run.main: "imc-run", imc_opt.main: "imc-opt", imc_compile.main: "imc-compile"}[main]
    first = _file(tmp_path, "add.mlir", ADD) if main is not imc_compile.main else "mlp"
    assert _usage(main, [first, *argv, "--random-inputs"] if main is imc_run.main else [first, *argv], capsys) == (
        f"{prog}: error: {message}"
    )


def test_compile_without_a_model_is_a_usage_error(capsys):
    assert _usage(imc_compile.main, [], capsys) == "imc-compile: error: give a model (a zoo name or path/to/file.py:ClassName)"


# ---------------------------------------------------------------------------
# imc-compile: the model file and its inputs (all fail before compiling)
# ---------------------------------------------------------------------------


def test_compile_wrong_input_shape(tmp_path, capsys):
    model = _file(tmp_path, "model.py", MODEL)
    assert imc_compile.main([f"{model}:Linear", "--input-shape", "2,7", "--out-dir", str(tmp_path / "out")]) == 1
    assert _error(capsys) == (
        f"imc-compile: error: {model}:10: the model on inputs of shape [2, 7] raised RuntimeError: "
        "mat1 and mat2 shapes cannot be multiplied (2x7 and 8x4)"
    )


def test_compile_wrong_input_shape_of_a_zoo_model(tmp_path, capsys):
    assert imc_compile.main(["mlp", "--input-shape", "3,3", "--out-dir", str(tmp_path)]) == 1
    assert _error(capsys).startswith("imc-compile: error: mlp: the model on inputs of shape [3, 3] raised RuntimeError: ")


def test_compile_directory_as_model_file(tmp_path, capsys):
    assert imc_compile.main([f"{tmp_path}:Linear", "--input-shape", "2,8", "--out-dir", str(tmp_path / "o")]) == 1
    assert _error(capsys) == f"imc-compile: error: {tmp_path}: is a directory; give path/to/file.py:ClassName"


def test_compile_model_constructor_raises(tmp_path, capsys):
    model = _file(tmp_path, "model.py", MODEL)
    assert imc_compile.main([f"{model}:Raises", "--input-shape", "2,8", "--out-dir", str(tmp_path / "o")]) == 1
    assert _error(capsys) == f"imc-compile: error: {model}:15: Raises() raised RuntimeError: cannot build"


def test_compile_model_file_not_python(tmp_path, capsys):
    model = _file(tmp_path, "model.txt", b"\xff\xfe = (\n")
    assert imc_compile.main([f"{model}:M", "--input-shape", "2,8", "--out-dir", str(tmp_path / "o")]) == 1
    assert _error(capsys).startswith(f"imc-compile: error: {model}:1: not a Python file: ")


def test_compile_out_dir_is_a_file(tmp_path, capsys):
    model = _file(tmp_path, "model.py", MODEL)
    assert imc_compile.main([f"{model}:Linear", "--input-shape", "2,8", "--out-dir", model]) == 1
    assert _error(capsys) == f"imc-compile: error: {model}: --out-dir names an existing file, expected a directory"


def test_compile_json_is_a_directory(tmp_path, capsys):
    assert imc_compile.main(["mlp", "--out-dir", str(tmp_path), "--json", str(tmp_path)]) == 1
    assert _error(capsys) == f"imc-compile: error: {tmp_path}: --json names a directory, expected a file"


def test_compile_unknown_hardware_before_any_work(tmp_path, capsys):
    assert imc_compile.main(["mlp", "--out-dir", str(tmp_path), "--hardware", "no-such-chip"]) == 1
    err = capsys.readouterr().err
    assert "[1/6]" not in err and "imc-compile: error: unknown hardware 'no-such-chip'" in err


# ---------------------------------------------------------------------------
# Internal errors and --debug
# ---------------------------------------------------------------------------


def test_internal_error_asks_for_a_report(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(imc_opt, "_process_chunk", broken)
    mlir = _file(tmp_path, "add.mlir", ADD)
    assert imc_opt.main([mlir]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines() == [
        "imc-opt: internal error: ZeroDivisionError: a bug",
        f"imc-opt: note: reproduce with: imc-opt {mlir} --debug",
        "imc-opt: note: this is a bug in imc; please report it with that command and its input files",
    ]
    with pytest.raises(ZeroDivisionError, match="a bug"):
        imc_opt.main([mlir, "--debug"])


# ---------------------------------------------------------------------------
# The console scripts: the supervisor
# ---------------------------------------------------------------------------


def _script(name: str) -> str:
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else shutil.which(name)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the supervisor needs fork")
def test_native_crash_is_reported(tmp_path):
    mlir = _file(tmp_path, "crash.mlir", SEGFAULT)
    proc = subprocess.run([_script("imc-opt"), mlir], capture_output=True, text=True, timeout=300)
    assert proc.returncode == EXIT_INTERNAL, proc.stderr
    assert "Traceback" not in proc.stderr and "Fatal Python error" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"imc-opt: error: crashed (SIGSEGV) in native code while parsing {mlir}: ")
    stack = line.split("Python stack: ")[1].split(";")[0]
    assert "_process_chunk" in open(stack).read()  # faulthandler's dump of the child
    os.unlink(stack)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the supervisor needs fork")
def test_native_crash_in_a_pass_names_the_pipeline(tmp_path):
    # The pad's size overflows: what canonicalize then does depends on memory
    # it did not initialize, and once in a while it prints a garbage shape
    # instead of crashing. The first of a few runs that crashes is checked.
    mlir = _file(tmp_path, "pad.mlir", SEGFAULT_IN_PASS)
    for _ in range(5):
        proc = subprocess.run([_script("imc-opt"), mlir, "-p", "canonicalize"], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            break
    assert proc.returncode == EXIT_INTERNAL, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(
        f"imc-opt: error: crashed (SIGSEGV) in native code while running pass pipeline 'canonicalize' on {mlir}: "
    )
    os.unlink(line.split("Python stack: ")[1].split(";")[0])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the supervisor needs fork")
def test_native_crash_with_debug_is_faulthandler(tmp_path):
    mlir = _file(tmp_path, "crash.mlir", SEGFAULT)
    proc = subprocess.run([_script("imc-opt"), mlir, "--debug"], capture_output=True, text=True, timeout=300)
    assert proc.returncode < 0  # no supervisor: the process dies of the signal
    assert "Fatal Python error: Segmentation fault" in proc.stderr


def test_supervised_tool_passes_output_and_exit_codes_through(tmp_path):
    mlir = _file(tmp_path, "add.mlir", ADD)
    ok = subprocess.run([_script("imc-opt"), mlir], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and "arith.addf" in ok.stdout and ok.stderr == ""
    bad = subprocess.run(
        [_script("imc-run"), mlir, "--input", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 1
    assert bad.stderr == f"imc-run: error: {tmp_path}: --input names a directory, expected a .npy file\n"
    usage = subprocess.run([_script("imc-run"), mlir, "--seed", "-1"], capture_output=True, text=True, timeout=300)
    assert usage.returncode == 2
    assert usage.stderr == "imc-run: error: argument --seed: -1 is out of range (allowed [0, 9223372036854775807])\n"


def test_out_of_memory_is_one_line_naming_the_phase(capsys):
    """Found by the fuzz suite: a parse that asks for more memory than the
    machine gives (std::bad_alloc from upstream MLIR) was an internal error."""
    from imc.tools._errors import phase, tool_main

    def run(argv):
        phase("parsing big.mlir")
        raise MemoryError("std::bad_alloc")

    assert tool_main("imc-x", run)(["big.mlir"]) == 1
    err = capsys.readouterr().err
    assert err == "imc-x: error: parsing big.mlir: out of memory (std::bad_alloc): the input needs more memory than is available\n"
