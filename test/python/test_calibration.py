"""ADC calibration (`imc.sim.calibration`): ranges from partial-sum statistics."""

import numpy as np
import pytest
import torch
from torch_mlir import ir

import imc
from imc.frontend import models
from imc.ir.hardware import Hardware
from imc.ir.utils import walk_ops

DEFAULT = Hardware.preset("default")


def _lenet():
    model = models.create("lenet5").eval()
    x = models.example_inputs("lenet5")
    with torch.no_grad():
        ref = model(*x).numpy()
    return model, x, ref


def _rel_l2(y, ref) -> float:
    return float(np.linalg.norm(y - ref) / np.linalg.norm(ref))


def _full_scales(compiled) -> list[tuple[float, float]]:
    """(adc_full_scale, uncalibrated full scale) of every MVM with an ADC."""
    out = []
    with compiled.context:
        for o in walk_ops(compiled.module.operation, {"imc.mvm"}):
            if ir.IntegerAttr(o.attributes["adc_bits"]).value == 0:
                continue
            rows = ir.RankedTensorType(o.operands[1].type).shape[1]
            dac = ir.IntegerAttr(o.attributes["dac_bits"]).value
            hw = compiled.hardware
            uncalibrated = hw.adc_range * rows * (2**dac - 1) * (2**hw.cell_bits - 1)
            out.append((ir.FloatAttr(o.attributes["adc_full_scale"]).value, uncalibrated))
    return out


@pytest.mark.parametrize("policy", ["max", "p99.9"])
def test_calibration_reduces_quantized_error(policy):
    model, x, ref = _lenet()
    plain = imc.compile(model, x, precision="quantized", calibrate=False)
    calibrated = imc.compile(model, x, precision="quantized", calibrate=policy)
    e_plain = _rel_l2(plain(*x).numpy(), ref)
    e_cal = _rel_l2(calibrated(*x).numpy(), ref)
    assert e_cal < e_plain, (e_cal, e_plain)
    summary = calibrated.report.extra["adc_calibration"]
    assert summary["policy"] == policy and summary["mvm_ops"] > 0
    assert all(0 < f <= 1 for f in summary["layers"].values())
    assert "adc_calibration" not in plain.report.extra


def test_calibrated_ranges_are_recorded_and_never_exceed_the_uncalibrated_one():
    model, x, _ = _lenet()
    compiled = imc.compile(model, x, precision="quantized")  # calibrated by default
    scales = _full_scales(compiled)
    assert scales and all(0 < fs <= un for fs, un in scales)
    assert "adc_full_scale = " in compiled.mlir
    plain = imc.compile(model, x, precision="quantized", calibrate=False)
    assert all(fs == 0.0 for fs, _ in _full_scales(plain))


@pytest.mark.parametrize("policy", ["max", "p99.9"])
def test_fused_contractions_calibrate_as_the_ops_do(policy, monkeypatch):
    """Calibration records each MVM's partial sums from the fused
    contractions' stacks (`_run_converted`) as from the ops one by one: the
    same ranges, to the bit."""
    from imc.sim.runtime import Runner

    model, x, _ = _lenet()
    scales = []
    for fast in (True, False):
        real = Runner.__init__

        def init(self, *args, _fast=fast, **kwargs):
            real(self, *args, **kwargs)
            self.interpreter.fast_paths = _fast

        monkeypatch.setattr(Runner, "__init__", init)
        compiled = imc.compile(model, x, precision="quantized", calibrate=policy, pipeline="builtin.module(imc-tiled)")
        monkeypatch.undo()
        scales.append(_full_scales(compiled))
    assert scales[0] and scales[0] == scales[1]
    assert any(fs > 0 for fs, _ in scales[0])


def test_uncalibrated_equals_an_explicit_full_range():
    # adc_full_scale = 0.0 means the hardware's full range: writing that range
    # explicitly gives bit-identical outputs.
    model, x, _ = _lenet()
    plain = imc.compile(model, x, precision="quantized", calibrate=False)
    explicit = imc.compile(model, x, precision="quantized", calibrate=False)
    hw = explicit.hardware
    with explicit.context:
        for o in walk_ops(explicit.module.operation, {"imc.mvm"}):
            rows = ir.RankedTensorType(o.operands[1].type).shape[1]
            dac = ir.IntegerAttr(o.attributes["dac_bits"]).value
            full = hw.adc_range * rows * (2**dac - 1) * (2**hw.cell_bits - 1)
            o.attributes["adc_full_scale"] = ir.FloatAttr.get_f32(full)
    assert np.array_equal(plain(*x).numpy(), explicit(*x).numpy())


def test_a_narrow_range_clips():
    # A range far below the partial sums clips them: the error grows.
    model, x, ref = _lenet()
    calibrated = imc.compile(model, x, precision="quantized")
    narrow = imc.compile(model, x, precision="quantized")
    with narrow.context:
        for o in walk_ops(narrow.module.operation, {"imc.mvm"}):
            fs = ir.FloatAttr(o.attributes["adc_full_scale"]).value
            if fs > 0:
                o.attributes["adc_full_scale"] = ir.FloatAttr.get_f32(fs / 16)
    assert _rel_l2(narrow(*x).numpy(), ref) > 2 * _rel_l2(calibrated(*x).numpy(), ref)


def test_ideal_is_not_calibrated():
    model, x, _ = _lenet()
    compiled = imc.compile(model, x, precision="ideal", calibrate="max")
    assert all(fs == 0.0 for fs, _ in _full_scales(compiled))
    assert "adc_calibration" not in compiled.report.extra


@pytest.mark.parametrize("policy", ["min", "p0", "p101", "pxx", 3])
def test_bad_policy_is_an_error_before_compiling(policy):
    model, x, _ = _lenet()
    with pytest.raises(ValueError, match="calibrate="):
        imc.compile(model, x, precision="quantized", calibrate=policy)


def test_backend_calibrates_on_the_first_call():
    from imc.driver.backend import last_report

    model, x, ref = _lenet()
    torch._dynamo.reset()
    fast = torch.compile(model, backend="imc", options={"precision": "quantized"})
    y = fast(*x).detach().numpy()
    assert last_report().extra["adc_calibration"]["mvm_ops"] > 0
    plain = imc.compile(model, x, precision="quantized", calibrate=False)
    assert _rel_l2(y, ref) < _rel_l2(plain(*x).numpy(), ref)


def test_calibrating_after_a_run_is_an_error():
    model, x, _ = _lenet()
    compiled = imc.compile(model, x, precision="quantized", calibrate=False)
    compiled(*x)
    with pytest.raises(RuntimeError, match="before the first call"):
        compiled.calibrate(x)


def test_a_released_runner_frees_its_crossbars_without_the_collector():
    """`Runner.release` (what the calibration does with its own runner) lets
    reference counting free the programmed conductances at once: a sweep
    point pauses the cyclic collector, so they would otherwise stay beside
    the model's own until the point ends."""
    import gc
    import weakref

    from imc.sim.runtime import Runner

    model, x, _ = _lenet()
    compiled = imc.compile(model, x, precision="quantized", calibrate=False)
    arrays = [t.numpy() for t in x]
    enabled = gc.isenabled()
    gc.disable()
    try:
        with compiled.context:
            runner = Runner(compiled.module, compiled.hardware, precision="quantized")
            runner(*arrays)
            runner(*arrays)  # (a call on the fast path: its groups hold the conductances too)
            refs = [weakref.ref(t._conductance[0]) for tiles in runner.chip.arrays.values() for t in tiles.values()]
            assert refs
            runner.release()
            assert all(ref() is None for ref in refs)
    finally:
        if enabled:
            gc.enable()


def _layer_counts(compiled) -> dict:
    return {name: (dict(row.events), dict(row.busy)) for name, row in compiled.report.layers.items()}


@pytest.mark.parametrize("pipeline", ["imc-tiled", "imc-pipelined", "imc-default"])
@pytest.mark.parametrize("policy", ["max", "p99.9"])
def test_calibrating_on_the_models_runner_equals_a_runner_of_its_own(pipeline, policy):
    """A quantized model's calibration runs its call on the model's own
    runner, which then forgets it (`Runner.calibrated`): its fast paths,
    worked out in that call, take the calibrated ranges. The IR, the outputs
    and every counter of the next calls are those of a calibration on a
    runner of its own."""
    from imc.sim.calibration import calibrate
    from imc.sim.interpreter.imc import ContractionGroup

    model, x, _ = _lenet()
    arrays = [t.numpy() for t in x]
    shared = imc.compile(model, x, precision="quantized", calibrate=False, pipeline=f"builtin.module({pipeline})")
    apart = imc.compile(model, x, precision="quantized", calibrate=False, pipeline=f"builtin.module({pipeline})")
    summary = shared.calibrate(x, policy)
    with apart.context:
        assert calibrate(apart.module, apart.hardware, arrays, policy=policy, seed=apart.seed) == summary
    assert shared.report.calls == 0 and not shared.chip.arrays
    groups = [op.static for op in shared._runner.interpreter.compiled_ops() if isinstance(op.static, ContractionGroup)]
    assert any(g.converted for g in groups)  # (worked out in the calibration's call, kept)
    assert shared.mlir == apart.mlir
    for _ in range(2):
        assert torch.equal(shared(*x), apart(*x))
        assert _layer_counts(shared) == _layer_counts(apart)
    assert shared.report.calls == 2


def test_a_runner_that_has_run_does_not_calibrate():
    from imc.sim.calibration import calibrate

    model, x, _ = _lenet()
    compiled = imc.compile(model, x, precision="quantized", calibrate=False)
    compiled(*x)
    with compiled.context, pytest.raises(ValueError, match="has not run"):
        calibrate(compiled.module, compiled.hardware, [t.numpy() for t in x], runner=compiled._runner)
