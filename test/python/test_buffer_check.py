"""Tests of `imc.transforms.buffer_check` (the `imc-check-buffers` analysis).

The static verdict is compared with the interpreter, which checks the same
rules dynamically (overlap, capacity, never-loaded reads, use after free,
double free) on a byte-accurate scratchpad.
"""

import pathlib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch_mlir import ir

from imc.ir.context import make_context
from imc.ir.hardware import Hardware
from imc.sim.interpreter import InterpreterError
from imc.sim.runtime import Runner
from imc.transforms.buffer_check import VIOLATION_KINDS, analyze_buffers, check_buffers
from imc.transforms.pipeline import PipelineError, run_pipeline

REPO = pathlib.Path(__file__).resolve().parents[2]
SPAD = 512
# float32 activations: the hand-written cases count 4-byte elements.
HW = Hardware.preset("default").replace(spad_bytes=SPAD, activation_bits=32)


@pytest.fixture(scope="module")
def context():
    return make_context()


def _line(location) -> int:
    return int(re.search(r'":(\d+):\d+', str(location)).group(1))


def _func_of(op) -> str:
    while op.name != "func.func":
        op = op.parent
    return ir.StringAttr(op.attributes["sym_name"]).value


def _run(module, entry="main"):
    """The interpreter's error (None if the run succeeds)."""
    try:
        Runner(module, HW, entry=entry)()
    except InterpreterError as exc:
        return exc
    return None


def _dma(src, src_t, dst, dst_t):
    return (
        f'  "imc.dma"({src}, {dst}) {{offsets = array<i64: 0>, sizes = array<i64: 8>, '
        f"strides = array<i64: 1>}} : ({src_t}, {dst_t}) -> ()"
    )


def _module(body: list[str]) -> str:
    lines = [
        "func.func @main() {",
        "  %a = arith.constant dense<1.0> : memref<8xf32>",
        "  %out = memref.alloc() : memref<8xf32>",
        *body,
        "  return",
        "}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Hand-written programs
# ---------------------------------------------------------------------------


def test_scratchpad_examples_agree_with_interpreter(context):
    """Each function of test/Tools/run/scratchpad.mlir: same verdict, same op as the interpreter."""
    text = (REPO / "test/Tools/run/scratchpad.mlir").read_text()
    with context:
        module = ir.Module.parse(text)
        by_func = {}
        for v in check_buffers(module.operation, HW):
            by_func.setdefault(_func_of(v.op), []).append(v)
        names = [ir.StringAttr(f.attributes["sym_name"]).value for f in module.body.operations]
        assert len(names) == 7
        for name in names:
            error = _run(module, name)
            found = by_func.get(name, [])
            assert bool(found) == (error is not None), (name, found, error)
            if error is not None:
                assert _line(found[0].op.location) == _line(error.loc), (name, found[0], error)
                # One message per rule (imc.dialects.imc.spad_*_error): the
                # checker's adds the buffer's SSA name and what it knows of
                # other paths and the live buffer's allocation.
                said = re.match(r"error: '[\w.]+' op (.*) at loc", str(error)).group(1)
                assert re.sub(r" %\d+", "", found[0].message).startswith(said), (name, found[0].message, said)
    kinds = {v.kind for vs in by_func.values() for v in vs}
    assert kinds == {"uninitialized-read", "overlap", "use-after-free", "double-free"}


def test_violation_fields_name_buffer_and_bytes(context):
    body = [
        '  %x = "imc.spad_alloc"() {offset = 64 : i64, size = 64 : i64} : () -> memref<16xf32, 1>',
        "  %h = memref.subview %x[8] [8] [1] : memref<16xf32, 1> to memref<8xf32, strided<[1], offset: 8>, 1>",
        _dma("%a", "memref<8xf32>", "%h", "memref<8xf32, strided<[1], offset: 8>, 1>"),
        "  %l = memref.subview %x[0] [8] [2] : memref<16xf32, 1> to memref<8xf32, strided<[2]>, 1>",
        _dma("%l", "memref<8xf32, strided<[2]>, 1>", "%out", "memref<8xf32>"),
    ]
    with context:
        module = ir.Module.parse(_module(body))
        (v,) = check_buffers(module.operation, HW)
        # Elements 0, 2, 4, 6 are unwritten (8..15 were loaded): first range is element 0.
        assert v.kind == "uninitialized-read"
        assert v.buffer == "%0"
        assert v.byte_range == (64, 68)
        assert v.op.name == "imc.dma"
        assert "[64, 68) and 3 more range(s), 16 bytes in all of scratchpad buffer %0 [64, 128)" in v.message
        # At 8-bit activations an f32 element is one scratchpad byte.
        (v8,) = check_buffers(module.operation, HW.replace(activation_bits=8))
        assert v8.byte_range == (64, 65)
        assert "[64, 65) and 3 more range(s), 4 bytes in all of scratchpad buffer %0 [64, 128)" in v8.message
        assert v.kind in VIOLATION_KINDS
        assert _run(module) is not None  # the interpreter agrees


def test_loops_count_writes_only_with_a_static_trip_count(context):
    def program(upper: str) -> str:
        return "\n".join(
            [
                "func.func @main(%n: index) {",
                "  %a = arith.constant dense<1.0> : memref<8xf32>",
                "  %out = memref.alloc() : memref<8xf32>",
                "  %c0 = arith.constant 0 : index",
                "  %c1 = arith.constant 1 : index",
                "  %c2 = arith.constant 2 : index",
                '  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 32 : i64} : () -> memref<8xf32, 1>',
                f"  scf.for %i = %c0 to {upper} step %c1 {{",
                _dma("%a", "memref<8xf32>", "%x", "memref<8xf32, 1>"),
                "  }",
                _dma("%x", "memref<8xf32, 1>", "%out", "memref<8xf32>"),
                "  return",
                "}",
            ]
        )

    with context:
        assert check_buffers(ir.Module.parse(program("%c2")).operation, HW) == []
        (v,) = check_buffers(ir.Module.parse(program("%n")).operation, HW)
        assert v.kind == "uninitialized-read" and _line(v.op.location) == 11
        # Constant trip count 0: the body never writes.
        (v,) = check_buffers(ir.Module.parse(program("%c0")).operation, HW)
        assert v.kind == "uninitialized-read"


def test_pass_changes_nothing_and_remarks(context):
    body = [
        '  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 32 : i64} : () -> memref<8xf32, 1>',
        '  %y = "imc.spad_alloc"() {offset = 64 : i64, size = 64 : i64} : () -> memref<8xf32, 1>',
        _dma("%a", "memref<8xf32>", "%x", "memref<8xf32, 1>"),
        "  linalg.copy ins(%x : memref<8xf32, 1>) outs(%y : memref<8xf32, 1>)",
        '  "imc.spad_free"(%x) : (memref<8xf32, 1>) -> ()',
        '  %z = "imc.spad_alloc"() {offset = 0 : i64, size = 32 : i64} : () -> memref<8xf32, 1>',
        "  linalg.copy ins(%y : memref<8xf32, 1>) outs(%z : memref<8xf32, 1>)",
        _dma("%z", "memref<8xf32, 1>", "%out", "memref<8xf32>"),
    ]
    with context:
        module = ir.Module.parse(_module(body))
        assert _run(module) is None
        before = [str(op) for op in module.body.operations]
        remarks = run_pipeline(module, "imc-check-buffers", hardware=HW)
        # run_pipeline attaches the hardware to the module; the pass changes nothing.
        assert [str(op) for op in module.body.operations] == before
        assert [r.message for r in remarks] == ["3 scratchpad buffers, peak 96 bytes of 512: placement verified"]
        result = analyze_buffers(module.operation, HW)
        assert (result.buffers, result.peak_bytes, result.capacity, result.ok) == (3, 96, 512, True)

        bad = ir.Module.parse(_module(body[:1] + [body[1].replace("64 : i64", "16 : i64", 1)]))
        with pytest.raises(PipelineError) as info:
            run_pipeline(bad, "imc-check-buffers", hardware=HW.replace(spad_alignment=16))
        assert "scratchpad buffer %1 [16, 80) overlaps the live buffer %0 [0, 32)" in str(info.value)


# ---------------------------------------------------------------------------
# Random programs: static verdict == dynamic verdict
# ---------------------------------------------------------------------------


_WINDOWS = {  # (buffer elements, window) -> (subview text or None, view type)
    (8, "all"): (None, "memref<8xf32, 1>"),
    (16, "lo"): ("[0] [8] [1]", "memref<8xf32, strided<[1]>, 1>"),
    (16, "hi"): ("[8] [8] [1]", "memref<8xf32, strided<[1], offset: 8>, 1>"),
    (16, "even"): ("[0] [8] [2]", "memref<8xf32, strided<[2]>, 1>"),
}


@st.composite
def programs(draw):
    """(module text, whether a freed buffer is touched): alloc/free/dma/linalg.copy on a 512-byte scratchpad."""
    body, handles, touches_freed = [], [], False
    views = 0

    def window(h):
        nonlocal views, touches_freed
        name, elements, freed = h
        touches_freed |= freed
        options = [w for (n, w) in _WINDOWS if n == elements]
        sub, t = _WINDOWS[(elements, draw(st.sampled_from(options)))]
        if sub is None:
            return name, t
        views += 1
        v = f"%v{views}"
        body.append(f"  {v} = memref.subview {name}{sub} : memref<{elements}xf32, 1> to {t}")
        return v, t

    for _ in range(draw(st.integers(1, 10))):
        step = draw(st.sampled_from(["alloc", "alloc", "free", "load", "load", "store", "copy"]))
        if step == "alloc" or not handles:
            elements = draw(st.sampled_from([8, 16]))
            offset = 64 * draw(st.integers(0, SPAD // 64))
            size = 4 * elements + draw(st.sampled_from([0, 64]))
            name = f"%b{len(handles)}"
            body.append(
                f'  {name} = "imc.spad_alloc"() {{offset = {offset} : i64, size = {size} : i64}} '
                f": () -> memref<{elements}xf32, 1>"
            )
            handles.append([name, elements, False])
            continue
        h = draw(st.sampled_from(handles))
        if step == "free":
            touches_freed |= h[2]
            body.append(f'  "imc.spad_free"({h[0]}) : (memref<{h[1]}xf32, 1>) -> ()')
            h[2] = True
        elif step == "load":
            v, t = window(h)
            body.append(_dma("%a", "memref<8xf32>", v, t))
        elif step == "store":
            v, t = window(h)
            body.append(_dma(v, t, "%out", "memref<8xf32>"))
        else:
            src, st_ = window(h)
            dst, dt = window(draw(st.sampled_from(handles)))
            body.append(f"  linalg.copy ins({src} : {st_}) outs({dst} : {dt})")
    return _module(body), touches_freed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_static_verdict_matches_interpreter(context, program):
    text, touches_freed = program
    with context:
        module = ir.Module.parse(text)
        violations = check_buffers(module.operation, HW)
        error = _run(module)
    if error is not None:
        # Sound: the checker flags the failing op or an earlier one.
        assert violations, f"interpreter failed but the checker passed:\n{error}\n{text}"
        assert _line(violations[0].op.location) <= _line(error.loc), (str(violations[0]), str(error), text)
    if not touches_freed:
        # Without freed buffers in play the interpreter is exact too: same verdict, same op.
        assert bool(violations) == (error is not None), ([str(v) for v in violations], text)
        if error is not None:
            assert _line(violations[0].op.location) == _line(error.loc), (str(violations[0]), str(error), text)


def test_conservative_cases_are_reported():
    """Views the checker cannot resolve, out-of-bounds casts and unsupported regions are errors, not silence."""
    text = "\n".join(
        [
            "func.func @main(%c: i1, %a: memref<16xf32>) {",
            "",
            '  %x = "imc.spad_alloc"() {offset = 0 : i64, size = 64 : i64} : () -> memref<16xf32, 1>',
            '  "imc.dma"(%a, %x) {offsets = array<i64: 0>, sizes = array<i64: 16>, strides = array<i64: 1>}'
            " : (memref<16xf32>, memref<16xf32, 1>) -> ()",
            "  %d = memref.cast %x : memref<16xf32, 1> to memref<?xf32, strided<[?], offset: ?>, 1>",
            # A cast to a static layout beyond the buffer: elements 12..19 of 16.
            "  %o = memref.cast %d : memref<?xf32, strided<[?], offset: ?>, 1> to memref<8xf32, strided<[1], offset: 12>, 1>",
            # An unranked view keeps its source's elements: reading it is checked (and fine).
            "  %u = memref.cast %x : memref<16xf32, 1> to memref<*xf32, 1>",
            '  "test.use"(%u) : (memref<*xf32, 1>) -> ()',
            "  scf.while : () -> () {",
            '    "imc.spad_free"(%x) : (memref<16xf32, 1>) -> ()',
            "    scf.condition(%c)",
            "  } do {",
            "    scf.yield",
            "  }",
            "  return",
            "}",
        ]
    )
    with make_context(allow_unregistered=True):
        module = ir.Module.parse(text)
        kinds = [(v.kind, _line(v.op.location)) for v in check_buffers(module.operation, HW)]
    assert kinds == [("out-of-bounds", 6), ("unsupported", 9)]
