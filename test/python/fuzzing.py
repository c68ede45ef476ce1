"""Mutation fuzzing of imc's tools: every input ends in clean success or a clean diagnostic.

A *case* is a tool (`imc-opt`, `imc-run`, `imc-compile` or the hardware loader),
a command line and the files it reads. Cases are generated (in fuzz_cases.py)
from seeds:

- IR: the `.mlir` files under `test/` and `examples/`, split at `// -----`,
  mutated at token level (numbers to boundary values, types swapped, tensor
  shapes changed, attributes dropped, duplicated or replaced, op names and
  SSA values swapped, lines deleted/duplicated/swapped, truncation, bytes that
  are not UTF-8), then parsed, run through one imc pass (sometimes with odd
  options), the `imc-default`/`imc-tiled` pipelines, or `imc-run`;
- hardware: the presets and the `.toml` files under `test/`, with values,
  keys, sections and bytes mutated, read by `Hardware.from_file` and given to
  `imc-opt --hardware` / `imc-run --hardware`;
- command lines: random flags and values for the three tools (`imc-compile`
  mostly with arguments that fail before any compile).

Case `i` of seed `s` depends only on `(s, i)` and the seed files, so a case is
replayed with `python test/python/fuzzing.py --seed s --case i`.

Each case runs in-process (the tool's `main(argv)`, stdout and stderr
captured at the Python and file-descriptor level, stdin empty or given) in a
forked worker that runs many cases; a worker killed by a signal (a crash in
upstream MLIR) or stuck (past the time limit in CPU time) is replaced, and the case
recorded. A worker killed by a signal in an imc tool's case is replayed once
through the tool's command line (a subprocess, where the tool's supervisor
watches a forked child): when the tool reports the crash as its one line
(`crashed (SIGSEGV) in native code while ...`, exit 70) and no traceback,
the case counts as a reported crash, not a failure (also when the command
line ends cleanly: undefined behaviour in upstream code need not crash the
same way twice). A case passes when it exits with status 0, 1 or 2, no exception
escapes `main`, and the output holds no `Traceback` and no `internal error`
(nor a `pass '...' crashed` message). Failures are grouped by class (the
exception type and where it was raised, the signal, ...); the first case of
each class is minimized (arguments, then lines of each file) while it keeps
its class, and printed as a reproducer: the files and the command.

    python test/python/fuzzing.py [--cases N] [--seed S] [--jobs J] [--timeout SEC] [--case I] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import wait
from pathlib import Path

from fuzz_cases import REPO, Case, Corpus, _attr_spans, make_case

_PROJECT = tuple(str(REPO / d) + os.sep for d in ("tools", "python", "dialects", "passes"))


# ---------------------------------------------------------------------------
# Outcomes
# ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """How a case ended: `ok`, or a failure `status` and its class (`signature`)."""

    status: str  # ok | reported-crash | traceback | internal-error | bad-exit | crash | hang
    rc: int | None
    output: str
    signature: str = ""  # the failure class, "" when ok
    seconds: float = 0.0  # wall clock
    cpu: float = 0.0  # CPU time of the worker

    @property
    def failed(self) -> bool:
        return self.status not in ("ok", "reported-crash")


# ---------------------------------------------------------------------------
# Running one case (in a worker)
# ---------------------------------------------------------------------------


def _hardware_loader(argv: list[str]) -> int:
    """`Hardware.from_file`, then a round trip through TOML that must agree."""
    from imc.ir.hardware import Hardware, HardwareError

    try:
        hw = Hardware.from_file(argv[0])
    except HardwareError as exc:
        sys.stderr.write(f"hardware: error: {exc}\n")
        return 1
    again = Hardware.from_toml(hw.to_toml(), source="round trip")  # a valid chip must round-trip
    if again.to_dict() != hw.to_dict():
        raise AssertionError("Hardware.to_toml does not round-trip")
    hw.summary()
    return 0


def _selftest(argv: list[str]) -> int:
    """A tool that misbehaves on request: the harness's own tests."""
    what = argv[0] if argv else "ok"
    if what == "file":  # fails when its file holds a line 'BOOM'
        data = Path(argv[1]).read_bytes()
        if b"BOOM" in data.split(b"\n"):
            raise KeyError("BOOM")
        return 0
    if what == "raise":
        raise ZeroDivisionError("selftest")
    if what == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if what == "hang":  # a loop
        while True:
            pass
    if what == "exit":
        sys.exit(int(argv[1]))
    if what == "internal":
        sys.stderr.write("selftest: internal error: please report\n")
        return 1
    if what == "print-traceback":
        sys.stderr.write('Traceback (most recent call last):\n  File "x.py", line 1, in f\nValueError: v\n')
        return 1
    if what == "diagnostic":
        sys.stderr.write("selftest: error: a clean diagnostic\n")
        return 1
    if what == "memory":
        import numpy as np

        np.ones(2**47, np.uint8)
    return 0


def _tool_main(tool: str):
    if tool == "imc-opt":
        from imc.tools.imc_opt import main
    elif tool == "imc-run":
        from imc.tools.imc_run import main
    elif tool == "imc-compile":
        from imc.tools.imc_compile import main
    elif tool == "hardware-loader":
        main = _hardware_loader
    else:
        main = _selftest
    return main


def _site(frames) -> tuple[str, str]:
    """(where an exception escaped, where it was raised), as project `file:function`s.

    It escaped from the innermost project frame in another file than the one
    that raised it (`pipeline.py:hardware_for` for a `HardwareError` raised
    in `hardware.py`), or from the raising frame when no other file is on the
    stack.
    """
    frames = list(frames)
    ours = [f for f in frames if f.filename.startswith(_PROJECT)]
    ours = ours or [f for f in frames if f.filename == __file__ and f.name != "run_case"] or frames
    if not ours:
        return "?", "?"

    def rel(f) -> str:
        try:
            path = str(Path(f.filename).relative_to(REPO))
        except ValueError:
            path = os.path.basename(f.filename)
        return f"{path}:{f.name}"

    inner = ours[-1]
    outer = next((f for f in reversed(ours) if f.filename != inner.filename), None)
    return rel(outer or inner), rel(inner)


def _normalize(line: str) -> str:
    line = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", line)
    return re.sub(r"\d+", "N", line).strip()[:160]


_PASS_CRASH = re.compile(r"pass '([^']+)' crashed: (\w[\w.]*)")
_PRINTED_TB = re.compile(r"Traceback \(most recent call last\):")


def classify(case: Case, rc: int | None, output: str, exc: BaseException | None) -> Outcome:
    """The oracle: clean success or a clean diagnostic, else a failure class."""
    if exc is not None:
        escaped, raised = _site(traceback.extract_tb(exc.__traceback__))
        output += f"{type(exc).__name__} raised in {raised}\n"
        return Outcome("traceback", rc, output, f"{type(exc).__name__} escapes {escaped}")
    if _PRINTED_TB.search(output):
        last = [l for l in output.splitlines() if re.match(r"^[\w.]+(Error|Exception|Warning)?\b.*:", l)]
        files = re.findall(r'File "([^"]+)", line \d+, in (\S+)', output)
        where = f"{os.path.basename(files[-1][0])}:{files[-1][1]}" if files else "?"
        kind = last[-1].split(":")[0] if last else "?"
        return Outcome("traceback", rc, output, f"{kind} traceback printed ({where})")
    m = _PASS_CRASH.search(output)
    if m:
        return Outcome("internal-error", rc, output, f"pass '{m.group(1)}' crashed: {m.group(2)}")
    for line in output.splitlines():
        if re.search(r"\binternal error:", line, re.IGNORECASE):  # not `--help`'s "internal errors"
            return Outcome("internal-error", rc, output, f"internal error: {_normalize(line)}")
    if rc not in (0, 1, 2):
        return Outcome("bad-exit", rc, output, f"exit status {rc} from {case.tool}")
    return Outcome("ok", rc, output)


_TOOL_MODULES = {"imc-opt": "imc_opt", "imc-run": "imc_run", "imc-compile": "imc_compile"}
_CRASH_NOTE = re.compile(r"^imc-[a-z]+: error: crashed \(SIG[A-Z]+\) in native code .+ please report it", re.M)


def _crash_reported(case: Case) -> bool:
    """Whether the tool, run from the command line on `case`, reports the
    native crash that killed the in-process worker as the supervisor's one
    line (`imc-x: error: crashed (SIGSEGV) in native code while ...`, exit
    70) and no traceback: the clean diagnostic for a crash inside upstream
    MLIR, which no Python handler can catch in-process; or ends cleanly
    there (the crash was undefined behaviour that took another turn)."""
    module = _TOOL_MODULES.get(case.tool)
    if module is None:
        return False
    with tempfile.TemporaryDirectory() as root:
        _write_files(case, Path(root))
        code = f"import sys; from imc.tools.{module} import main; sys.argv[0] = {case.tool!r}; sys.exit(main())"
        try:
            proc = subprocess.run(
                [sys.executable, "-c", code, *case.argv], cwd=root, input=case.stdin, capture_output=True, timeout=120
            )
        except subprocess.TimeoutExpired:
            return False
    output = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    if proc.returncode == 70 and _CRASH_NOTE.search(output):
        return "Traceback" not in output
    # Undefined behaviour in upstream native code (e.g. the linalg.generic
    # parser casting `iterator_types = [1, 2]` to iterator attributes) need
    # not crash the same way twice: the command line may report it as a
    # clean diagnostic instead (`out of memory (std::bad_alloc)`). What the
    # user sees is then clean by the same oracle as every case.
    return classify(case, proc.returncode, output, None).status == "ok"


def _write_files(case: Case, root: Path) -> None:
    for d in case.dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    for name, data in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def run_case(case: Case, sandbox: Path) -> Outcome:
    """Runs `case` in this process, in `sandbox` (emptied first; temporary files go there too)."""
    shutil.rmtree(sandbox, ignore_errors=True)
    (sandbox / ".tmp").mkdir(parents=True)
    tempfile.tempdir = str(sandbox / ".tmp")
    _write_files(case, sandbox)
    cwd = os.getcwd()
    os.chdir(sandbox)
    capture = tempfile.TemporaryFile()
    saved = (sys.stdin, sys.stdout, sys.stderr, os.dup(1), os.dup(2))
    out_bytes = io.BytesIO()
    stream = io.TextIOWrapper(out_bytes, encoding="utf-8", write_through=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(capture.fileno(), 1)
    os.dup2(capture.fileno(), 2)
    sys.stdin = io.TextIOWrapper(io.BytesIO(case.stdin), encoding="utf-8")
    sys.stdout = sys.stderr = stream
    rc, exc = None, None
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        rc = _tool_main(case.tool)(list(case.argv))
        rc = 0 if rc is None else rc
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            rc = e.code or 0
        else:
            stream.write(f"{e.code}\n")
            rc = 1
    except BaseException as e:  # noqa: BLE001 - any escape is what we look for
        exc = e
    finally:
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
        sys.stdin, sys.stdout, sys.stderr = saved[:3]
        os.dup2(saved[3], 1)
        os.dup2(saved[4], 2)
        os.close(saved[3])
        os.close(saved[4])
        os.chdir(cwd)
    capture.seek(0)
    output = out_bytes.getvalue().decode("utf-8", "replace") + capture.read().decode("utf-8", "replace")
    capture.close()
    outcome = classify(case, rc, output, exc)
    outcome.seconds, outcome.cpu = seconds, cpu
    if exc is not None:
        outcome.output += "".join(traceback.format_exception(exc))
    outcome.output = outcome.output[-6000:]
    return outcome


def _worker_main(conn, log_path: str, sandbox: str, memory_bytes: int) -> None:
    import resource

    try:
        vm = int(re.search(r"VmSize:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) * 1024
        limit = vm + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError, AttributeError):
        pass
    log = open(log_path, "w")
    faulthandler.enable(file=log, all_threads=False)
    while True:
        try:
            case = conn.recv()
        except (EOFError, OSError):
            return
        if case is None:
            return
        log.seek(0)
        log.truncate()
        conn.send(run_case(case, Path(sandbox)))


# ---------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------


_WALL_FACTOR = 6


class _Worker:
    def __init__(self, root: Path, n: int, memory_bytes: int):
        ctx = get_context("fork")
        self.log = root / f"worker-{n}.log"
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_worker_main, args=(child, str(self.log), str(root / f"sandbox-{n}"), memory_bytes), daemon=True
        )
        self.proc.start()
        child.close()
        self.case: Case | None = None
        self.started = 0.0

    def send(self, case: Case) -> None:
        self.case = case
        self.started = time.monotonic()
        self.cpu_started = self.cpu()
        self.conn.send(case)

    def cpu(self) -> float:
        """CPU seconds the worker has used (all its threads), from /proc."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def stuck(self, timeout: float) -> bool:
        """More than `timeout` s of CPU time on this case (a loop), or `_WALL_FACTOR` times that of wall clock
        (a deadlock): CPU time, so that a loaded machine does not turn slow cases into hangs."""
        return self.cpu() - self.cpu_started > timeout or time.monotonic() - self.started > _WALL_FACTOR * timeout

    def python_stack(self) -> str:
        """The innermost Python frame faulthandler wrote when the worker died."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "?"
        frames = re.findall(r'File "([^"]+)", line \d+ in (\S+)', text)
        ours = [f for f in frames if f[0].startswith(_PROJECT)] or frames
        if not ours:
            return "?"
        path, name = ours[0]
        try:
            path = str(Path(path).relative_to(REPO))
        except ValueError:
            path = os.path.basename(path)
        return f"{path}:{name}"

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class Pool:
    """Forked workers, each running many cases in-process; dead or stuck ones are replaced."""

    def __init__(self, jobs: int = 1, timeout: float = 10.0, memory_mb: int = 4096):
        self.jobs = max(1, jobs)
        self.timeout = timeout
        self.memory = memory_mb * 2**20
        self.root = Path(tempfile.mkdtemp(prefix="imc-fuzz-"))
        self._count = 0
        self.workers = [self._spawn() for _ in range(self.jobs)]

    def _spawn(self) -> _Worker:
        self._count += 1
        return _Worker(self.root, self._count, self.memory)

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _dead(self, w: _Worker, status: str) -> tuple[Outcome, _Worker]:
        """The outcome of the case that killed or stuck `w`, and the worker that replaces it."""
        if status == "hang" and w.proc.is_alive():
            try:
                os.kill(w.proc.pid, signal.SIGABRT)  # faulthandler writes the Python stack
            except ProcessLookupError:
                pass
            w.proc.join(2)
        if w.proc.is_alive():
            w.proc.kill()
        w.proc.join()
        where = w.python_stack()
        if status == "hang":
            out = Outcome("hang", None, "", f"no answer after {self.timeout:g} s of CPU time (in {where})")
        else:
            code = w.proc.exitcode or 0
            name = signal.Signals(-code).name if code < 0 else f"exit {code}"
            out = Outcome("crash", None, "", f"worker died: {name} (in {where})")
            if _crash_reported(w.case):
                out.status = "reported-crash"
        log = w.log.read_text(errors="replace") if w.log.exists() else ""
        stack = [l for l in log.split("\n\nExtension modules")[0].splitlines() if "fuzzing.py" not in l and "multiprocessing" not in l]
        out.output = "\n".join([out.signature, *stack[:12]])
        out.seconds = time.monotonic() - w.started
        w.conn.close()
        new = self._spawn()
        self.workers[self.workers.index(w)] = new
        return out, new

    def map(self, cases):
        """Yields (case, outcome) for every case, in completion order."""
        cases = iter(cases)
        idle = list(self.workers)
        busy: list[_Worker] = []
        while True:
            while idle:
                case = next(cases, None)
                if case is None:
                    break
                w = idle.pop()
                w.send(case)
                busy.append(w)
            if not busy:
                return
            ready = wait([w.conn for w in busy], timeout=min(1.0, self.timeout / 4))
            for w in list(busy):
                case = w.case
                if w.conn in ready:
                    try:
                        out = w.conn.recv()
                        fresh = w
                    except (EOFError, OSError):
                        out, fresh = self._dead(w, "crash")
                elif w.stuck(self.timeout):
                    out, fresh = self._dead(w, "hang")
                else:
                    continue
                busy.remove(w)
                fresh.case = None
                idle.append(fresh)
                yield case, out

    def run(self, case: Case) -> Outcome:
        for _, out in self.map([case]):
            return out
        raise RuntimeError("no outcome")


# ---------------------------------------------------------------------------
# Minimizing
# ---------------------------------------------------------------------------


class _Budget:
    def __init__(self, runs: int, seconds: float):
        self.runs, self.deadline = runs, time.monotonic() + seconds

    def take(self) -> bool:
        self.runs -= 1
        return self.runs >= 0 and time.monotonic() < self.deadline


def _ddmin(items: list, keeps, budget: _Budget) -> list:
    """The smallest sublist (by chunk removal) for which `keeps` holds."""
    n = 2
    while len(items) >= 2:
        size = -(-len(items) // n)
        for i in range(0, len(items), size):
            candidate = items[:i] + items[i + size :]
            if not budget.take():
                return items
            if keeps(candidate):
                items, n = candidate, max(n - 1, 2)
                break
        else:
            if n >= len(items):
                break
            n = min(2 * n, len(items))
    return items


def _without_entry(text: bytes, key_start: int, end: int) -> bytes:
    """`text` without the attribute entry `key = value` at [key_start, end) and its comma."""
    after = text[end:]
    stripped = after.lstrip(b" ")
    if stripped.startswith(b","):
        return text[:key_start] + stripped[1:].lstrip(b" ")
    before = text[:key_start].rstrip(b" \n")
    if before.endswith(b","):
        return before[:-1] + after
    return text[:key_start] + after


def _shrink_text(data: bytes, keeps, budget: _Budget) -> bytes:
    """Fewer lines (delta debugging), then fewer attribute entries, one at a time from the last."""
    data = b"\n".join(_ddmin(data.split(b"\n"), lambda ls: keeps(b"\n".join(ls)), budget))
    i = len(_attr_spans(data)) - 1
    while i >= 0:
        spans = _attr_spans(data)
        if i < len(spans):
            candidate = _without_entry(data, spans[i][0], spans[i][2])
            if not budget.take():
                break
            if keeps(candidate):
                data = candidate
        i -= 1
    return data


def minimize(case: Case, signature: str, pool: Pool, *, runs: int = 300, seconds: float = 20.0) -> Case:
    """A smaller case in the same failure class: fewer arguments, files, lines and attribute entries."""
    budget = _Budget(runs, seconds)

    def keeps(candidate: Case) -> bool:
        return pool.run(candidate).signature == signature

    case = dataclasses.replace(case, files=dict(case.files), argv=list(case.argv))
    argv = _ddmin(case.argv, lambda a: keeps(dataclasses.replace(case, argv=a)), budget)
    case = dataclasses.replace(case, argv=argv)
    for name in sorted(case.files, key=lambda n: n not in " ".join(case.argv)):
        if name not in " ".join(case.argv):
            candidate = dataclasses.replace(case, files={k: v for k, v in case.files.items() if k != name})
            if budget.take() and keeps(candidate):
                case = candidate
                continue

        def with_file(data: bytes, name=name) -> Case:
            return dataclasses.replace(case, files={**case.files, name: data})

        case = with_file(_shrink_text(case.files[name], lambda d: keeps(with_file(d)), budget))
    if case.stdin:
        stdin = _shrink_text(case.stdin, lambda d: keeps(dataclasses.replace(case, stdin=d)), budget)
        case = dataclasses.replace(case, stdin=stdin)
    dirs = _ddmin(case.dirs + [None], lambda ds: keeps(dataclasses.replace(case, dirs=[d for d in ds if d])), budget)
    return dataclasses.replace(case, dirs=[d for d in dirs if d])


# ---------------------------------------------------------------------------
# A campaign
# ---------------------------------------------------------------------------


@dataclass
class FailureClass:
    signature: str
    status: str
    cases: list[int] = field(default_factory=list)
    phases: Counter = field(default_factory=Counter)
    first: Case | None = None
    outcome: Outcome | None = None
    reproducer: Case | None = None
    repro_outcome: Outcome | None = None
    repro_dir: Path | None = None


@dataclass
class Report:
    seed: int
    cases: int = 0
    seconds: float = 0.0
    jobs: int = 1
    statuses: Counter = field(default_factory=Counter)
    classes: dict[str, FailureClass] = field(default_factory=dict)
    slowest: tuple[float, int] = (0.0, -1)
    cpu_by_phase: Counter = field(default_factory=Counter)  # CPU seconds in the workers per tool and phase

    @property
    def passed(self) -> int:
        return self.statuses["ok"]

    @property
    def failed(self) -> int:
        return self.cases - self.passed - self.statuses["reported-crash"]

    def counts(self) -> str:
        s = self.statuses
        return (
            f"{self.cases} cases in {self.seconds:.1f} s ({self.jobs} worker(s), seed {self.seed}): "
            f"{self.passed} passed, {s['traceback']} tracebacks, {s['internal-error']} internal errors, "
            f"{s['bad-exit']} bad exit statuses, {s['crash']} crashes, {s['hang']} hangs; "
            f"{s['reported-crash']} native crashes reported by the tool's supervisor (or clean from its command line)"
        )

    def __str__(self) -> str:
        lines = [f"imc fuzz: {self.counts()}"]
        cpu = sum(self.cpu_by_phase.values())
        top = ", ".join(f"{p} {s:.1f}" for p, s in self.cpu_by_phase.most_common(5))
        lines.append(f"worker CPU time {cpu:.1f} s (most: {top}); slowest case #{self.slowest[1]} ({self.slowest[0]:.2f} s)")
        if self.classes:
            lines.append(f"{len(self.classes)} failure class(es), most frequent first:")
        for n, fc in enumerate(sorted(self.classes.values(), key=lambda c: -len(c.cases)), 1):
            phases = ", ".join(f"{p} x{k}" for p, k in fc.phases.most_common(6))
            lines.append("")
            lines.append(f"[{n}] {fc.status}: {fc.signature}")
            lines.append(f"    {len(fc.cases)} case(s), e.g. #{', #'.join(map(str, fc.cases[:5]))}; {phases}")
            lines.append(f"    replay: python test/python/fuzzing.py --seed {self.seed} --case {fc.cases[0]}")
            lines.append(f"    first case came from: {fc.first.origin[:300]}")
            repro = fc.reproducer or fc.first
            if fc.repro_dir:
                lines.append(f"    files in: {fc.repro_dir}")
            lines.append(f"    reproducer{' (minimized)' if fc.reproducer else ''}: {repro.command()}")
            for name in sorted(repro.files):
                data = repro.files[name]
                if name in " ".join(repro.argv) and len(data) < 4000:
                    lines.append(f"    --- {name} ---")
                    lines.extend("    " + l for l in _show_bytes(data).splitlines())
            for d in repro.dirs:
                lines.append(f"    (directory {d}/)")
            if repro.stdin:
                lines.append("    --- stdin.txt ---")
                lines.extend("    " + l for l in _show_bytes(repro.stdin).splitlines())
            out = (fc.repro_outcome or fc.outcome).output.strip().splitlines()
            lines.append("    --- output (last lines) ---")
            lines.extend("    " + l[:200] for l in out[-8:])
        return "\n".join(lines)


def _show_bytes(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "(not UTF-8; Python bytes:) " + repr(data)


def _save(case: Case, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    _write_files(case, root)
    if case.stdin:
        (root / "stdin.txt").write_bytes(case.stdin)
    (root / "command.sh").write_text(f"# {case.origin}\ncd \"$(dirname \"$0\")\" && {case.command()}\n")
    return root


def fuzz(
    cases: int,
    *,
    seed: int = 0,
    jobs: int = 1,
    timeout: float = 10.0,
    minimize_seconds: float = 30.0,
    out_dir: str | os.PathLike | None = None,
    corpus: Corpus | None = None,
    progress=None,
) -> Report:
    """Runs cases 0..cases-1 of campaign `seed`; minimizes the first case of each failure class."""
    corpus = corpus or Corpus.load()
    _warm_up()
    report = Report(seed, jobs=jobs)
    t0 = time.monotonic()
    with Pool(jobs, timeout) as pool:
        for case, out in pool.map(make_case(seed, i, corpus) for i in range(cases)):
            report.cases += 1
            report.statuses[out.status] += 1
            report.slowest = max(report.slowest, (out.seconds, case.index))
            report.cpu_by_phase[f"{case.tool} {case.phase}"] += out.cpu
            if out.failed:
                fc = report.classes.setdefault(out.signature, FailureClass(out.signature, out.status))
                fc.cases.append(case.index)
                fc.phases[f"{case.tool} {case.phase}"] += 1
                if fc.first is None or case.index < fc.first.index:
                    fc.first, fc.outcome = case, out
            report.seconds = time.monotonic() - t0
            if progress and report.cases % 500 == 0:
                progress(f"imc fuzz: {report.counts()}")
        report.seconds = time.monotonic() - t0
        deadline = time.monotonic() + minimize_seconds
        for fc in sorted(report.classes.values(), key=lambda c: c.first.index):
            fc.cases.sort()
            left = deadline - time.monotonic()
            if fc.status != "hang" and left > 1:
                fc.reproducer = minimize(fc.first, fc.signature, pool, seconds=min(left, 15.0))
                fc.repro_outcome = pool.run(fc.reproducer)
    if out_dir is not None:
        for n, fc in enumerate(sorted(report.classes.values(), key=lambda c: -len(c.cases)), 1):
            fc.repro_dir = _save(fc.reproducer or fc.first, Path(out_dir) / f"class-{n}")
    return report


def _warm_up() -> None:
    """Imports what the tools import, once, before the workers fork."""
    import numpy  # noqa: F401

    import imc.ir.hardware  # noqa: F401
    import imc.sim.runtime  # noqa: F401
    import imc.tools.imc_compile  # noqa: F401
    import imc.tools.imc_opt  # noqa: F401
    import imc.tools.imc_run  # noqa: F401
    from imc import passes

    for name in passes.pass_names():
        passes.get_pass_class(name)


def settings_from_env(environ=os.environ) -> dict:
    """The campaign's settings from IMC_FUZZ_* variables (the CI defaults otherwise)."""
    return {
        "cases": int(environ.get("IMC_FUZZ_CASES", "2000")),
        "seed": int(environ.get("IMC_FUZZ_SEED", "0")),
        "jobs": int(environ.get("IMC_FUZZ_JOBS", "1")),
        "timeout": float(environ.get("IMC_FUZZ_TIMEOUT", "10")),
        "minimize_seconds": float(environ.get("IMC_FUZZ_MINIMIZE_SECONDS", "30")),
        "out_dir": environ.get("IMC_FUZZ_OUT") or None,
    }


def _print_inputs(case: Case) -> None:
    """Prints the files the case's command names, and its stdin."""
    for name, data in sorted(case.files.items()):
        if name in " ".join(case.argv):
            print(f"--- {name} ---\n{_show_bytes(data)}")
    if case.stdin:
        print(f"--- stdin.txt ---\n{_show_bytes(case.stdin)}")


def main(argv: list[str] | None = None) -> int:
    env = settings_from_env()
    p = argparse.ArgumentParser(prog="fuzzing.py", description="Fuzz imc's tools (see the module docstring).")
    p.add_argument("--cases", type=int, default=env["cases"])
    p.add_argument("--seed", type=int, default=env["seed"])
    p.add_argument("--jobs", type=int, default=env["jobs"])
    p.add_argument("--timeout", type=float, default=env["timeout"], help="CPU seconds per case")
    p.add_argument("--minimize-seconds", type=float, default=env["minimize_seconds"])
    p.add_argument("--out", default=env["out_dir"], help="write each class's reproducer files here")
    p.add_argument("--case", type=int, action="append", help="run only these cases and show them in full")
    args = p.parse_args(argv)
    if args.case:
        corpus = Corpus.load()
        _warm_up()
        with Pool(1, args.timeout) as pool:
            for i in args.case:
                case = make_case(args.seed, i, corpus)
                out = pool.run(case)
                print(f"case #{i}: {case.tool} [{case.phase}] from {case.origin}")
                print(f"command: {case.command()}")
                _print_inputs(case)
                print(f"--- outcome: {out.status} {out.signature} (exit {out.rc}) ---\n{out.output}")
                if out.failed and out.status != "hang":
                    small = minimize(case, out.signature, pool, seconds=args.minimize_seconds)
                    print(f"--- minimized: {small.command()}")
                    _print_inputs(small)
        return 0
    report = fuzz(args.cases, seed=args.seed, jobs=args.jobs, timeout=args.timeout,
                  minimize_seconds=args.minimize_seconds, out_dir=args.out,
                  progress=lambda s: print(s, file=sys.stderr, flush=True))
    print(report)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
