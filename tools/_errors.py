"""The command-line tools' one error path.

Each tool is `main = tool_main("imc-x", run)` where `run(argv) -> int` does
the work. Whatever happens, the user sees one of:

- success: exit 0;
- a user mistake: `run` raises `UserError` (or returns 1 after printing MLIR
  diagnostics `file:line:col: error: ...`): `imc-x: error: FILE: message`, one
  line, exit 1;
- a bad command line (`ArgumentParser`, argparse's convention): one line, exit 2;
- a bug: `imc-x: internal error: Type: message`, the command to reproduce it and
  a request for a report, exit 70 (`EX_SOFTWARE`); the traceback only with
  `--debug` (or `IMC_DEBUG=1`);
- a crash in native code (a SIGSEGV inside upstream MLIR, which no Python
  handler can catch): run from the command line, the tool works in a forked
  child while the parent waits; the child names each phase (`phase(...)`) as
  it enters it, and if it dies the parent prints one line naming the file,
  the phase and the signal, exit 70. `faulthandler` writes the child's Python
  stack to a file the line points at. With `--debug` there is no child and
  `faulthandler` prints to stderr.
"""

import argparse
import contextlib
import faulthandler
import math
import os
import shlex
import signal
import sys
import tempfile

EXIT_USER = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70

MAX_GENERATED_BYTES = 1 << 30
"""The most bytes a tool generates for one random input (`--random-inputs`, `--input-shape`)."""

_phase_fd: int | None = None


class UserError(Exception):
    """A mistake in the command line or the inputs; the message is one line
    that starts with the file it is about."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (`imc-x: error: ...`, exit 2) and `--debug`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--debug", action="store_true", help="show Python tracebacks of internal errors (and run without a supervisor)"
        )

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_USAGE)


# ---------------------------------------------------------------------------
# argparse value types: range checks where options enter
# ---------------------------------------------------------------------------


def int_at_least(lo: int, hi: int | None = None):
    """An argparse type: an integer in [lo, hi]."""

    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
        if value < lo or (hi is not None and value > hi):
            allowed = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
            raise argparse.ArgumentTypeError(f"{value} is out of range (allowed {allowed})")
        return value

    return parse

SEED = int_at_least(0, 2**63 - 1)


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not value >= 0 or math.isnan(value):
        raise argparse.ArgumentTypeError(f"{text} must be a non-negative number")
    return value


def non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def read_text(path: str) -> str:
    """The UTF-8 text of `path` ('-': stdin); `UserError` naming the file otherwise."""
    name = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except IsADirectoryError:
        raise UserError(f"{name}: is a directory, expected a file") from None
    except OSError as exc:
        raise UserError(f"{name}: cannot read: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(f"{name}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def check_output_file(path: str, flag: str) -> None:
    """Fails early, before any work, if `path` cannot be written as a file."""
    if path == "-":
        return
    if os.path.isdir(path):
        raise UserError(f"{path}: {flag} names a directory, expected a file")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UserError(f"{path}: {flag}: directory '{os.path.dirname(path) or '.'}' does not exist")
    target = path if os.path.exists(path) else parent
    if not os.access(target, os.W_OK):
        raise UserError(f"{path}: {flag}: permission denied")


def check_output_dir(path: str, flag: str) -> None:
    """Fails early if `path` is neither a writable directory nor creatable as one."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise UserError(f"{path}: {flag} names an existing file, expected a directory")
        if not os.access(path, os.W_OK):
            raise UserError(f"{path}: {flag}: permission denied")
        return
    ancestor = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise UserError(f"{path}: {flag}: '{ancestor}' is a file, not a directory")
    if not os.access(ancestor, os.W_OK):
        raise UserError(f"{path}: {flag}: permission denied")


@contextlib.contextmanager
def open_output(path: str, flag: str, mode: str = "w"):
    """`open(path, mode)` for writing; any failure to open, write or close is a
    `UserError` naming the file (a full disk, `/proc/version`, ...)."""
    check_output_file(path, flag)
    try:
        with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
    except OSError as exc:
        raise UserError(f"{path}: {flag}: cannot write: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------------
# Phases (for crashes in native code)
# ---------------------------------------------------------------------------


_PHASE = [""]  # what the tool is doing now, for an out-of-memory message


def phase(text: str) -> None:
    """Records what the tool is doing now (`parsing x.mlir`), for a crash note."""
    _PHASE[0] = text
    if _phase_fd is not None:
        try:
            os.write(_phase_fd, text.encode("utf-8", "replace").replace(b"\n", b" ") + b"\n")
        except OSError:
            pass


# ---------------------------------------------------------------------------
# The wrapper
# ---------------------------------------------------------------------------


def tool_main(prog: str, run):
    """The console entry point `main(argv=None) -> int` of a tool whose work is `run(argv)`."""

    def main(argv: list[str] | None = None) -> int:
        from_command_line = argv is None
        argv = sys.argv[1:] if argv is None else list(argv)
        debug = "--debug" in argv or bool(os.environ.get("IMC_DEBUG"))
        if debug:
            for stream in (sys.stderr, sys.__stderr__):
                try:
                    faulthandler.enable(stream)
                    break
                except (AttributeError, OSError, ValueError):  # a stream without a file descriptor
                    continue
        elif from_command_line and hasattr(os, "fork"):
            return _supervised(prog, argv, lambda: _guarded(prog, run, argv, debug))
        if not debug or "IMC_DEBUG" in os.environ:
            return _guarded(prog, run, argv, debug)
        os.environ["IMC_DEBUG"] = "1"  # crashing passes report their traceback too (imc.transforms.pipeline)
        try:
            return _guarded(prog, run, argv, debug)
        finally:
            del os.environ["IMC_DEBUG"]

    main.__doc__ = f"The `{prog}` command: `{prog} --help`; exit 0, 1 (error), 2 (usage), 70 (internal error)."
    return main


def _guarded(prog: str, run, argv: list[str], debug: bool) -> int:
    try:
        return run(argv)
    except UserError as exc:
        sys.stderr.write(f"{prog}: error: {exc}\n")
        return EXIT_USER
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130
    except BrokenPipeError:  # `imc-opt x.mlir | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_USER
    except SystemExit:
        raise
    except MemoryError as exc:  # an input that asks for more memory than the machine gives (e.g. a huge shape)
        if debug:
            raise
        what = f" ({exc})" if str(exc) else ""
        sys.stderr.write(f"{prog}: error: {_PHASE[0] or 'running'}: out of memory{what}: the input needs more memory than is available\n")
        return EXIT_USER
    except BaseException as exc:  # noqa: BLE001 - the one place that catches bugs
        if debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        command = shlex.join([prog, *argv, "--debug"])
        sys.stderr.write(
            f"{prog}: internal error: {type(exc).__name__}: {first}\n"
            f"{prog}: note: reproduce with: {command}\n"
            f"{prog}: note: this is a bug in imc; please report it with that command and its input files\n"
        )
        return EXIT_INTERNAL


_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE}


def _supervised(prog: str, argv: list[str], work) -> int:
    """Runs `work` in a forked child and speaks for it if it dies from a signal."""
    global _phase_fd
    read_fd, write_fd = os.pipe()
    stack = tempfile.NamedTemporaryFile(prefix=f"{prog}-crash-", suffix=".txt", delete=False)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child does the work; the console script exits with its code
        os.close(read_fd)
        _phase_fd = write_fd
        faulthandler.enable(stack)
        return work()
    os.close(write_fd)
    stack.close()
    forward = lambda signum, frame: os.kill(pid, signum)  # noqa: E731
    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the child has it too and answers it
    last = b""
    with os.fdopen(read_fd, "rb") as pipe:
        for line in pipe:
            last = line
    try:
        _, status = os.waitpid(pid, 0)  # retried on EINTR (PEP 475)
    except ChildProcessError:
        status = 0
    for s, handler in previous.items():
        signal.signal(s, handler)
    sys.stdout.flush()
    if not os.WIFSIGNALED(status):
        os.unlink(stack.name)
        sys.stderr.flush()
        os._exit(os.waitstatus_to_exitcode(status))
    sig = signal.Signals(os.WTERMSIG(status))
    doing = last.decode("utf-8", "replace").strip() or "starting"
    if sig in _CRASH_SIGNALS:
        sys.stderr.write(
            f"{prog}: error: crashed ({sig.name}) in native code while {doing}: this input triggers a bug in "
            f"upstream MLIR or imc; please report it (Python stack: {stack.name}; rerun with --debug)\n"
        )
    else:
        os.unlink(stack.name)
        sys.stderr.write(f"{prog}: error: killed by {sig.name} while {doing}\n")
    sys.stderr.flush()
    os._exit(EXIT_INTERNAL)
