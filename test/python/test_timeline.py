"""The timeline of an executed program (`imc.sim.timeline`): a traced run counts
what an untraced run counts, steps wait for their data and their resources,
and no timeline is ever shorter than the latency bound of its own events.
Hand-computed timelines of small programs are in test/Tools/run/timeline.mlir."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import imc
from imc.frontend import models
from imc.ir.hardware import Hardware
from imc.sim.runtime import Runner
from imc.sim.timeline import measure
from test_line_buffer import Stem  # conv, BN, ReLU, max pool
from test_tile_rows import ConvBlock  # conv-BN-ReLU, conv-BN, residual add, ReLU

ROOT = Path(__file__).resolve().parents[2]
RUN_TESTS = ROOT / "test" / "Tools" / "run"
TIMELINE_CHIP = ROOT / "test" / "Inputs" / "timeline.toml"
LAYER_AT_A_TIME = "builtin.module(imc-default)"
TILED = "builtin.module(imc-tiled)"


def _arrays(inputs):
    return [x.numpy() for x in inputs]


def _check_bound(timeline) -> None:
    """The makespan is never below the resource bound, the longest
    dependency chain, the head-body-tail bound or any resource class's work; the interval of a stream (an estimate from
    its last calls, whose overlap with the calls before it is not counted) not by more than 1 %."""
    assert timeline.warm_makespan_ns >= timeline.bound_ns * (1 - 1e-9), timeline.summary()
    assert timeline.warm_makespan_ns >= timeline.chain_ns * (1 - 1e-9), timeline.summary()
    joined = timeline.head_body_tail
    assert joined is not None and joined.head_ns >= 0 and joined.tail_ns >= 0, timeline.summary()
    assert timeline.warm_makespan_ns >= joined.bound_ns * (1 - 1e-9), timeline.summary()
    assert timeline.latency_bound_ns == max(timeline.bound_ns, timeline.chain_ns, joined.bound_ns)
    assert timeline.interval_ns >= timeline.bound_ns * 0.99, timeline.summary()
    assert timeline.bound_ns == max(timeline.resource_ns.values()) == timeline.resource_ns[timeline.bounding_resource]
    for cls, ns in timeline.busy_ns.items():
        if cls != "crossbars":  # (summed over all arrays, which run in parallel)
            assert ns <= timeline.warm_makespan_ns * (1 + 1e-9), (cls, ns, timeline.summary())


@pytest.mark.parametrize("pipeline", [LAYER_AT_A_TIME, TILED])
def test_a_traced_run_counts_and_computes_what_an_untraced_run_does(pipeline):
    torch.manual_seed(0)
    model = torch.nn.Sequential(Stem(cin=3, cout=8), ConvBlock(8)).eval()
    x = torch.randn(1, 3, 32, 32)
    compiled = imc.compile(model, (x,), hardware="default", pipeline=pipeline)
    plain = Runner(compiled.module, compiled.hardware)
    traced = Runner(compiled.module, compiled.hardware, trace=True)
    for _ in range(2):  # a cold and a warm call
        want = plain(x.numpy())
        got = traced(x.numpy())
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    for name, row in plain.report.layers.items():
        assert traced.report.layers[name].events == row.events, name
        assert traced.report.layers[name].busy == row.busy, name
    # Every event of the calls went to a step of the timeline.
    total = {}
    for row in traced.report.layers.values():
        for kind, n in row.events.items():
            total[kind] = total.get(kind, 0) + n
    assert traced.tracer.unattributed == {}
    assert {k: n for k, n in traced.tracer.totals.items() if n} == {k: n for k, n in total.items() if n}


def test_rows_flow_between_the_layers_of_a_fused_loop():
    """In the tiled stem (conv and pool in one loop over row tiles), the pool
    of the first tile runs before the conv of the last tile: the layers
    overlap, so the call is shorter than running them one after the other."""
    torch.manual_seed(0)
    model = Stem(cin=3, cout=8).eval()
    x = torch.randn(1, 3, 64, 64)
    hw = Hardware.preset("default").replace(spad_bytes=16384)  # (with 256 KiB the stem is one tile)
    compiled = imc.compile(model, (x,), hardware=hw, pipeline=TILED)
    assert any("tiled over output rows: 4 tiles" in str(r) for r in compiled.remarks)
    timeline = compiled.timeline((x,))
    spans = {s.name: s for s in timeline.layers}
    conv, pool = spans["conv"], spans["pool"]
    assert len(pool.intervals) > 1  # it works in bursts, one per row tile
    pool_work = [a for a, b in pool.intervals if b > a]
    assert pool_work and pool_work[0] < conv.end_ns
    _check_bound(timeline)
    assert compiled.report.extra["timeline"]["warm_makespan_ns"] == timeline.warm_makespan_ns


def test_the_next_residual_block_starts_on_the_first_rows_of_the_one_before():
    """With the residual add in the row loop (`imc-tile-rows{epilogues=true}`,
    the default) a block's output leaves its loop row by row: the second
    block's first conv starts before the first block's last conv ends, and
    the call is shorter than with the add after the loop (epilogues=false),
    where the second block waits for the whole first one."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), ConvBlock(8), ConvBlock(8)).eval()
    x = torch.randn(1, 3, 32, 32)
    hw = Hardware.preset("default").replace(spad_bytes=8192)
    rest = "imc-map-to-crossbars, imc-quantize-activations, imc-place-buffers, imc-check-buffers"
    timelines = {}
    for epilogues in ("true", "false"):
        # (one row per tile: the first trip's tile of a lagging loop is trimmed to no rows)
        compiled = imc.compile(model, (x,), hardware=hw, pipeline=f"builtin.module(imc-tile-rows{{rows=1 epilogues={epilogues}}}, {rest})")
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
        timelines[epilogues] = timeline = compiled.timeline((x,))
        _check_bound(timeline)
    spans = {s.name: s for s in timelines["true"].layers}
    assert spans["2.conv1"].start_ns < spans["1.conv2"].end_ns
    apart = {s.name: s for s in timelines["false"].layers}
    assert apart["2.conv1"].start_ns >= apart["1.conv2"].end_ns
    assert timelines["true"].warm_makespan_ns < timelines["false"].warm_makespan_ns


@pytest.mark.parametrize("pipeline", [LAYER_AT_A_TIME, TILED])
def test_the_timeline_is_the_same_in_every_precision(pipeline):
    """`CompiledModel.timeline` traces in `ideal`: every step of a `quantized`
    or `noisy` trace (read noise, programming noise) is placed where the
    `ideal` trace places it, including the MVMs of all-zero bit slices,
    whose products `ideal` does not compute from the crossbar."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(Stem(cin=3, cout=8), ConvBlock(8)).eval()
    x = torch.randn(1, 3, 16, 16)
    hw = Hardware.preset("default").replace(spad_bytes=8192)
    compiled = imc.compile(model, (x,), hardware=hw, pipeline=pipeline)
    steps = {}
    for precision in ("ideal", "quantized", "noisy"):
        runner = Runner(compiled.module, hw, precision=precision, seed=0, trace=True)
        with compiled.context:
            timeline = measure(runner, _arrays((x,)))
        steps[precision] = (timeline.cold_makespan_ns, timeline.warm_makespan_ns, timeline.interval_ns, timeline.steps)
    assert steps["quantized"] == steps["ideal"]
    assert steps["noisy"] == steps["ideal"]


def test_the_pipelined_pipeline_overlaps_layers_that_fit():
    """`imc-pipelined` tiles conv stages whose tensors fit the scratchpad
    (which `imc-tiled` leaves whole: one layer after the other) and copies
    the bottleneck layer: its warm call is shorter than the whole layers'
    without copies, never below its bound, and it computes the same."""
    torch.manual_seed(2)
    model = torch.nn.Sequential(Stem(cin=3, cout=8), ConvBlock(8), ConvBlock(8)).eval()
    x = torch.randn(1, 3, 32, 32)
    hw = Hardware.preset("default")  # 256 KiB: every tensor fits
    tiled = imc.compile(model, (x,), hardware=hw, pipeline="builtin.module(imc-tile-rows, imc-default)")
    piped = imc.compile(model, (x,), hardware=hw, pipeline="builtin.module(imc-pipelined)")
    assert "scf.for" not in tiled.mlir and "scf.for" in piped.mlir
    assert any("copies on spare crossbars" in str(r) for r in piped.remarks)
    with torch.no_grad():
        ref = model(x)
    assert torch.allclose(piped(x), ref, rtol=1e-4, atol=1e-4)
    fast, slow = piped.timeline((x,)), tiled.timeline((x,))
    _check_bound(fast)
    assert fast.warm_makespan_ns < slow.warm_makespan_ns


def test_a_stream_of_calls_overlaps_calls():
    """Calls in a stream overlap: one ends every bottleneck time (here conv1's
    busiest crossbar), sooner than one call's latency."""
    model = models.create("lenet5")
    inputs = models.example_inputs("lenet5")
    compiled = imc.compile(model, inputs, hardware="default", pipeline=LAYER_AT_A_TIME)
    timeline = compiled.timeline(inputs)
    assert timeline.interval_ns < timeline.warm_makespan_ns
    assert timeline.bounding_resource == "crossbars"
    assert timeline.interval_ns == pytest.approx(timeline.bound_ns, rel=0.01)
    _check_bound(timeline)


@pytest.mark.parametrize("pipeline", [LAYER_AT_A_TIME, TILED])
def test_an_untraced_cold_call_leaves_the_warm_timeline_unchanged(pipeline):
    """`measure(cold=False)`: the cold call only programs the chip; the warm
    call and the stream are placed as after a traced cold call, and the
    outputs are the cold call's `ideal` results either way: untraced, the
    fused contractions' fast paths compute them, so they are the model's own
    `ideal` outputs to the bit (traced, each op runs: the same to rounding)."""
    model = models.create("lenet5")
    inputs = models.example_inputs("lenet5")
    compiled = imc.compile(model, inputs, hardware="default", pipeline=pipeline)
    traced, untraced = compiled.timeline(inputs), compiled.timeline(inputs, cold=False)
    assert traced.cold_makespan_ns > 0 and untraced.cold_makespan_ns is None
    assert untraced.to_dict() | {"cold_makespan_ns": 0} == traced.to_dict() | {"cold_makespan_ns": 0}
    assert untraced.steps == traced.steps
    np.testing.assert_array_equal(untraced.outputs[0], compiled(*inputs).numpy())
    np.testing.assert_allclose(untraced.outputs[0], traced.outputs[0], rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        np.testing.assert_allclose(traced.outputs[0], model(*inputs).numpy(), rtol=1e-4, atol=1e-5)
    assert "a cold call" in traced.summary() and "a cold call" not in untraced.summary()


def test_a_timeline_without_its_chain_is_the_same_timeline():
    """`chain=False` (what a sweep point measures) leaves out only the
    longest dependency chain."""
    model = models.create("lenet5")
    inputs = models.example_inputs("lenet5")
    compiled = imc.compile(model, inputs, hardware="default")
    full, lean = compiled.timeline(inputs, cold=False), compiled.timeline(inputs, cold=False, chain=False)
    assert full.chain_ns > 0 and lean.chain_ns is None
    assert full.head_body_tail is not None and lean.head_body_tail is None  # (its heads are the chain's)
    unfollowed = {"chain_ns": 0, "head_body_tail": 0, "latency_bound_ns": 0}
    assert lean.to_dict() | unfollowed == full.to_dict() | unfollowed
    assert lean.steps == full.steps
    assert "dependency chain" in full.summary() and "dependency chain" not in lean.summary()


@pytest.mark.parametrize("preset", ["default", "isaac", "metis", "puma"])
@pytest.mark.parametrize("name", ["mlp", "lenet5"])
def test_zoo_timelines_are_never_below_their_bound(name, preset):
    model = models.create(name)
    inputs = models.example_inputs(name)
    for pipeline in (LAYER_AT_A_TIME, TILED):
        compiled = imc.compile(model, inputs, hardware=preset, pipeline=pipeline)
        _check_bound(compiled.timeline(inputs))


@settings(max_examples=6, deadline=None)
@given(
    channels=st.sampled_from([4, 8]),
    size=st.sampled_from([8, 16, 24]),
    blocks=st.integers(0, 2),
    spad=st.sampled_from([2048, 8192, 65536]),
    lanes=st.sampled_from([1, 64]),
    pipeline=st.sampled_from([LAYER_AT_A_TIME, TILED]),
)
def test_random_conv_chains_are_never_below_their_bound(channels, size, blocks, spad, lanes, pipeline):
    torch.manual_seed(channels + size + blocks)
    model = torch.nn.Sequential(Stem(cin=3, cout=channels), *[ConvBlock(channels) for _ in range(blocks)]).eval()
    x = torch.randn(1, 3, size, size)
    hw = Hardware.preset("default").replace(spad_bytes=spad, digital_lanes=lanes)
    compiled = imc.compile(model, (x,), hardware=hw, pipeline=pipeline)
    _check_bound(compiled.timeline((x,)))


def test_imc_run_writes_a_chrome_trace(tmp_path):
    trace = tmp_path / "trace.json"
    out = subprocess.run(
        [sys.executable, "-m", "imc.tools.imc_run", str(RUN_TESTS / "timeline.mlir"), "--entry", "pipeline",
         "--hardware", str(TIMELINE_CHIP), "--trace", str(trace)],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "timeline: a warm call takes 5.032 us" in out
    events = json.loads(trace.read_text())["traceEvents"]
    tracks = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M"}
    mvms = sorted(
        (round(e["ts"], 3), round(e["dur"], 3), e["name"])
        for e in events
        if e["ph"] == "X" and tracks[e["tid"]].startswith("xbar")
    )
    # Row t through layer a at [t, t+1] us, through layer b at [t+1, t+2] us.
    assert mvms == sorted((float(t + (n == "layer_b")), 1.0, n) for t in range(4) for n in ("layer_a", "layer_b"))


def test_measure_needs_a_fresh_tracing_runner():
    model = models.create("mlp")
    inputs = _arrays(models.example_inputs("mlp"))
    compiled = imc.compile(model, models.example_inputs("mlp"), hardware="default")
    with pytest.raises(ValueError, match="trace=True"):
        measure(Runner(compiled.module, compiled.hardware), inputs)
    with pytest.raises(ValueError, match="stream"):
        measure(Runner(compiled.module, compiled.hardware, trace=True), inputs, stream=1)


def _entries(path):
    """(hardware file or None, entry) of each function the lit test runs with imc-run."""
    text = path.read_text()
    hw = TIMELINE_CHIP if "timeline.toml" in text else None
    return [(hw, name) for name in sorted(set(re.findall(r"^func\.func @(\w+)\(", text, re.M)))]


def _run_test_functions(path):
    """(module, hardware, entry, seeded inputs) of each function of an
    imc-run lit test, parsed in a context of its own (a generator: consume
    it inside the loop that uses them)."""
    from torch_mlir import ir

    from imc.ir.context import make_context
    from imc.ir.utils import find_function

    with make_context(), ir.Location.unknown():
        module = ir.Module.parse(path.read_text())
        for hw_path, entry in _entries(path):
            hw = Hardware.from_toml(hw_path.read_text()) if hw_path else Hardware.from_module(module.operation, default="default")
            func = find_function(module, entry)
            types = list(ir.FunctionType(ir.TypeAttr(func.attributes["function_type"]).value).inputs)
            rng = np.random.default_rng(0)
            yield module, hw, entry, [rng.standard_normal(list(ir.ShapedType(t).shape)).astype(np.float32) for t in types]


@pytest.mark.parametrize("path", sorted(RUN_TESTS.glob("*.mlir")), ids=lambda p: p.name)
def test_the_run_tests_programs_are_never_below_their_bound(path):
    """Every function of the imc-run lit tests that runs (the error cases
    raise and are skipped) has a timeline at or above its bound."""
    from imc.sim.interpreter import InterpreterError

    ran = 0
    for module, hw, entry, inputs in _run_test_functions(path):
        try:
            timeline = measure(Runner(module, hw, entry=entry, trace=True), inputs)
        except (InterpreterError, ValueError):
            continue
        _check_bound(timeline)
        ran += 1
    assert ran or path.name == "errors.mlir"


def _stream_replayed_and_executed(make_runner, inputs) -> None:
    """A stream of calls replayed from the warm call's recorded steps
    (`measure`'s default) is placed exactly as the same calls executed."""
    replayed = measure(make_runner(), inputs, stream=4)
    executed = measure(make_runner(), inputs, stream=4, replay=False)
    assert replayed.interval_ns == executed.interval_ns
    assert replayed.to_dict() == executed.to_dict()


@pytest.mark.parametrize("path", sorted(RUN_TESTS.glob("*.mlir")), ids=lambda p: p.name)
def test_a_replayed_stream_is_the_executed_stream_on_the_run_tests(path):
    """The run tests' DMA loops, line buffers and reused scratchpad buffers:
    buffers that live across calls keep their times, each call's own values
    are new arrays in the next call."""
    from imc.sim.interpreter import InterpreterError

    for module, hw, entry, inputs in _run_test_functions(path):
        try:
            _stream_replayed_and_executed(lambda: Runner(module, hw, entry=entry, trace=True), inputs)
        except (InterpreterError, ValueError):
            continue


@pytest.mark.parametrize("precision", ["ideal", "quantized"])
@pytest.mark.parametrize("pipeline", [LAYER_AT_A_TIME, TILED, "builtin.module(imc-pipelined)"])
def test_a_replayed_stream_is_the_executed_stream(pipeline, precision):
    """Whole layers, tiled stages and the pipelined schedule's copied
    crossbars (MVMs that share an activation) on a conv/pool/residual model;
    in `quantized` too (whose MVM input cache must not keep a call's values
    alive)."""
    torch.manual_seed(2)
    model = torch.nn.Sequential(Stem(cin=3, cout=8), ConvBlock(8), ConvBlock(8)).eval()
    x = torch.randn(1, 3, 32, 32)
    compiled = imc.compile(model, (x,), hardware=Hardware.preset("default").replace(spad_bytes=16384), pipeline=pipeline)
    with compiled.context:
        _stream_replayed_and_executed(lambda: Runner(compiled.module, compiled.hardware, precision=precision, trace=True), _arrays((x,)))


@pytest.mark.parametrize("pipeline", [LAYER_AT_A_TIME, TILED, "builtin.module(imc-pipelined)"])
def test_a_warm_call_without_products_is_the_same_timeline(pipeline):
    """`measure` traces its warm call without computing crossbar products
    (its values are not read): every step, time and bound is the one of a
    warm call that computes them, and the outputs are the cold call's."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(Stem(cin=3, cout=8), ConvBlock(8), ConvBlock(8)).eval()
    x = torch.randn(1, 3, 32, 32)
    compiled = imc.compile(model, (x,), hardware=Hardware.preset("default").replace(spad_bytes=16384), pipeline=pipeline)

    def timeline(products):
        runner = Runner(compiled.module, compiled.hardware, trace=True)
        with compiled.context:
            return measure(runner, _arrays((x,)), products=products), runner

    (computed, _), (skipped, runner) = timeline(True), timeline(False)
    assert skipped.to_dict() == computed.to_dict()
    assert skipped.steps == computed.steps
    np.testing.assert_array_equal(skipped.outputs[0], computed.outputs[0])
    assert runner.chip.computes_products  # (back on after the warm call)
    with torch.no_grad():
        np.testing.assert_allclose(skipped.outputs[0], model(x).numpy(), rtol=1e-4, atol=1e-5)


def test_a_tensor_reshaped_by_a_copy_keeps_its_producers_time():
    """A reshape of a strided array copies it (NumPy): the copy's elements
    are ready when the source's are. MobileNetV2 without BatchNorm folding
    stores each block's output through such a copy (the projection's
    BatchNorm on a transposed result, collapsed for its buffer); the next
    block's expansion conv used to start at time 0 of the call, as if its
    input were a constant."""
    model = models.create("mobilenet_v2").eval()
    inputs = models.example_inputs("mobilenet_v2", size=64)
    compiled = imc.compile(model, inputs, fold_batchnorm=False)
    spans = {layer.name: layer for layer in compiled.timeline(inputs, cold=False).layers}
    projection, expansion = spans["features.2.conv.2"], spans["features.3.conv.0.0"]
    assert expansion.start_ns >= projection.end_ns, (projection, expansion)


def _layer_at_a_time(place: str) -> str:
    return (
        f"builtin.module(imc-map-contractions, imc-tile, imc-place-crossbars{place}, cse, "
        "imc-quantize-activations, imc-place-buffers, imc-check-buffers)"
    )


def test_the_rotating_pool_widens_until_it_is_not_the_bottleneck():
    """LeNet-5 on 8 crossbars of 32 x 32 cells: with objective=energy one crossbar rotates
    through every tile that is not resident and performs their MVMs one
    after another; the default objective widens the pool (here to 4
    crossbars, whose busiest comes within 3 % of conv1's). The widened chip's
    busiest crossbar and warm call are shorter, a few more cells are
    reprogrammed per call, and it computes the same."""
    model = models.create("lenet5")
    inputs = models.example_inputs("lenet5")
    hw = Hardware.preset("default").override("chip.cores=1", "crossbar.rows=32", "crossbar.cols=32", source="test")
    energy = imc.compile(model, inputs, hardware=hw, pipeline=_layer_at_a_time("{objective=energy}"))
    balanced = imc.compile(model, inputs, hardware=hw, pipeline=_layer_at_a_time(""))
    remarks = [str(r) for r in balanced.remarks if "imc-place-crossbars" in str(r)]
    assert any("widened from 1 to the pool whose busiest crossbar comes closest" in r for r in remarks), remarks
    assert all("widened" not in str(r) for r in energy.remarks)
    with torch.no_grad():
        ref = model(*inputs)
    assert torch.allclose(balanced(*inputs), ref, rtol=1e-4, atol=1e-4)

    def busiest_and_cells(compiled):
        runner = Runner(compiled.module, compiled.hardware, trace=True)
        with compiled.context:
            with runner.untraced():
                runner(*_arrays(inputs))
            before = runner.report.totals.xbar_cells_programmed
            runner.tracer.idle()
            runner(*_arrays(inputs))
        return max(runner.tracer.mvm_steps.values()), runner.report.totals.xbar_cells_programmed - before

    (steps_e, cells_e), (steps_b, cells_b) = busiest_and_cells(energy), busiest_and_cells(balanced)
    assert steps_b < steps_e
    assert cells_b >= cells_e
    fast, slow = balanced.timeline(inputs), energy.timeline(inputs)
    _check_bound(fast)
    assert fast.warm_makespan_ns < slow.warm_makespan_ns


def test_spilled_planes_of_a_fused_block_go_to_dram_band_by_band(monkeypatch):
    """At 8 KiB, some planes of the first residual block's output (its fused
    loop writes conv2's rows a row late, so the output is not stored row
    tile by row tile) go to DRAM. Stored after the loop one band of 4 rows
    at a time, each band's DMA waits only for its rows, so the next block
    starts before the loop has ended; as one transfer of whole planes it
    waits for the loop's last trip. The same bytes move, the same values
    come out, the warm call is shorter."""
    import imc.passes.imc_place_buffers as place_buffers

    torch.manual_seed(0)
    model = torch.nn.Sequential(Stem(cin=3, cout=16), ConvBlock(16), ConvBlock(16)).eval()
    x = torch.randn(1, 3, 64, 64)
    hw = Hardware.preset("default").override("memory.scratchpad_bytes=8192", source="test")
    pipeline = "builtin.module(imc-pipelined)"
    banded = imc.compile(model, (x,), hardware=hw, pipeline=pipeline)
    assert sum("rows at a time after its loop" in str(r) for r in banded.remarks) == 1
    monkeypatch.setattr(place_buffers, "_row_bands", lambda *args: None)
    whole = imc.compile(model, (x,), hardware=hw, pipeline=pipeline)
    assert not any("rows at a time after its loop" in str(r) for r in whole.remarks)
    with torch.no_grad():
        ref = model(x)
    for compiled in (banded, whole):
        assert torch.allclose(compiled(x), ref, rtol=1e-4, atol=1e-4)
    assert banded.report.totals.dram_write_bytes == whole.report.totals.dram_write_bytes
    assert banded.report.totals.dram_read_bytes == whole.report.totals.dram_read_bytes
    fast, slow = banded.timeline((x,)), whole.timeline((x,))
    _check_bound(fast)
    assert fast.warm_makespan_ns < slow.warm_makespan_ns


@pytest.mark.parametrize("chip", ["default", "time-multiplexed"])
@pytest.mark.parametrize("cold", [True, False], ids=["traced-cold", "untraced-cold"])
def test_trips_placed_from_a_template_are_the_trips_run_op_by_op(chip, cold, monkeypatch):
    """A traced call's later trips of a row-tiled contraction are placed from
    the steps of its first (`imc.sim.trip_templates`): the same timeline,
    step for step, with the chain and its head-body-tail bound, the same
    replayed stream and the same counters as every trip run op by op. On the
    default chip the layers' copies join row blocks (copy steps); with 16
    crossbars the warm call programs tiles again (programming steps). A
    traced cold call computes its products: placed from templates too, its
    outputs are an untraced call's with the trips in order to the bit (the
    fused contractions' fast paths) and a distributed call's with each trip's
    rows multiplied on their own (`exact_trips`), and the ops' and a
    distributed call's (`loop_distribution`) within rounding."""
    hw = Hardware.preset("default")
    if chip == "time-multiplexed":
        hw = hw.override("chip.cores=1", "chip.crossbars_per_core=16", source="test")
    model = models.create("lenet5")
    inputs = models.example_inputs("lenet5")
    compiled = imc.compile(model, inputs, hardware=hw, pipeline=TILED)
    (with_t, steps, totals, n_placed, out), (without_t, op_steps, op_totals, n_after, op_out) = _traced_both_ways(
        compiled, inputs, monkeypatch, cold
    )
    assert n_placed > 0 and n_after == n_placed
    assert with_t == without_t and steps == op_steps and totals == op_totals
    with compiled.context:
        in_order = Runner(compiled.module, compiled.hardware)
        in_order.interpreter.distribute_loops = False
        untraced = in_order(*_arrays(inputs))[0]
        distributed = Runner(compiled.module, compiled.hardware)(*_arrays(inputs))[0]
        exact = Runner(compiled.module, compiled.hardware)
        exact.interpreter.exact_trips = True
        exactly_distributed = exact(*_arrays(inputs))[0]
    np.testing.assert_array_equal(out, untraced)
    np.testing.assert_array_equal(out, exactly_distributed)
    np.testing.assert_allclose(out, distributed, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, op_out, rtol=1e-5, atol=1e-6)
    assert with_t["head_body_tail"] is not None


def test_a_template_is_placed_only_on_an_input_located_as_the_recorded_one(monkeypatch):
    """A trip template's accesses to its input are offsets in the memory that
    holds the input (`imc.sim.trip_templates`). In a small BERT at a 16 KiB
    scratchpad the second layer's value projection reads its rows from the
    scratchpad's bytes on its first trip and from an array of their own on
    a later one, of the same shape, strides and dtype: the template of the
    first must not place the later trip (its offsets counted in bytes, not
    elements, fell outside the array: a wrong timeline, or a crash in NumPy
    on BERT-base). Placed from templates where they apply, the timeline is
    the trips run op by op, step for step."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        hidden_size=192, num_hidden_layers=2, num_attention_heads=3, intermediate_size=768, vocab_size=1000, max_position_embeddings=64
    )
    model = transformers.BertModel(config).eval()
    inputs = (torch.randint(0, 1000, (1, 32), generator=torch.Generator().manual_seed(0)),)
    hw = Hardware.preset("default").override("memory.scratchpad_bytes=16384", source="test")
    compiled = imc.compile(model, inputs, hardware=hw, pipeline=TILED)
    (with_t, steps, totals, n_placed, _), (without_t, op_steps, op_totals, _, _) = _traced_both_ways(
        compiled, inputs, monkeypatch, cold=False
    )
    assert n_placed > 0, "no trip placed from a template"
    assert (with_t, steps, totals) == (without_t, op_steps, op_totals)


def _traced_both_ways(compiled, inputs, monkeypatch, cold: bool) -> list:
    """A traced call with trips placed from templates where they apply, then
    one with every trip run as ops: per call (timeline, its steps, the
    counters' totals, trips placed from templates so far, the output)."""
    import imc.sim.timeline as timeline
    import imc.sim.trip_templates as templates

    placed = []
    real_place = templates._place

    def counted(*args):
        placed.append(1)
        return real_place(*args)

    monkeypatch.setattr(templates, "_place", counted)
    results = []
    for with_templates in (True, False):
        if not with_templates:
            monkeypatch.setattr(timeline, "traced_trip", lambda *args: None)
        runner = Runner(compiled.module, compiled.hardware, trace=True)
        with compiled.context:
            t = measure(runner, _arrays(inputs), cold=cold)
        results.append((t.to_dict(), t.steps, runner.report.to_dict()["totals"], len(placed), t.outputs[0]))
    return results
