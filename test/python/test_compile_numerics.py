"""Numerics of compiled models: `imc.compile` output against PyTorch and against
an independent NumPy model of the documented precision conventions.

* ``ideal``: zoo models match PyTorch eager within 1e-4 relative error.
* Counters: over three calls weights are programmed once (program events ==
  ``imc.program`` ops in the IR) and MVM counts match the IR and triple.
* ``quantized``: a single linear layer matches :func:`reference_quantized_linear`,
  written from the conventions in the module docstring of
  ``imc.sim.interpreter.imc`` (not from its functions).
* ``noisy``: seeded and reproducible, and noisier than ``quantized``.
* Digital IMC (``metis``, adc_bits = 0) performs no ADC conversions.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch_mlir import ir

import imc
from imc.frontend import models
from imc.ir.hardware import Hardware


# -- helpers -------------------------------------------------------------------


def rel_err(y, ref) -> float:
    """max |y - ref| / max |ref| (in float64)."""
    y = np.asarray(y, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert y.shape == ref.shape, f"shape {y.shape} != reference shape {ref.shape}"
    return float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))


def ir_ops(compiled, name: str) -> list:
    """All operations called `name` in the compiled module (any nesting)."""
    found = []

    def visit(op):
        if op.name == name:
            found.append(op)
        return ir.WalkResult.ADVANCE

    with compiled.context:
        compiled.module.operation.walk(visit)
    return found


def ir_mvm_count(compiled) -> int:
    """MVM cycles one call performs, from the IR: sum over `imc.mvm` of batch x ceil(input_bits/dac_bits)."""
    total = 0
    with compiled.context:
        for op in ir_ops(compiled, "imc.mvm"):
            batch = ir.ShapedType(op.operands[1].type).shape[0]
            ib = ir.IntegerAttr(op.attributes["input_bits"]).value
            dac = ir.IntegerAttr(op.attributes["dac_bits"]).value
            total += batch * -(-ib // dac)
    return total


def eager(model, inputs) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(*inputs).numpy()


LAYER_AT_A_TIME = "builtin.module(imc-default)"  # no loops: every op runs once per call


class ZooRun:
    """One zoo model compiled (ideal, default chip; the default pipeline
    unless `pipeline`) and called three times on one input."""

    def __init__(self, name: str, pipeline: str | None = None):
        self.name = name
        self.model = models.create(name)
        self.inputs = models.example_inputs(name)
        self.reference = eager(self.model, self.inputs)
        kw = {"pipeline": pipeline} if pipeline else {}
        self.compiled = imc.compile(self.model, self.inputs, precision="ideal", **kw)
        self.outputs = []
        self.totals = []  # report totals after each call
        for _ in range(3):
            self.outputs.append(self.compiled(*self.inputs).numpy())
            self.totals.append(self.compiled.report.totals)


@pytest.fixture(scope="module")
def zoo():
    """Lazily compiled-and-run zoo models, shared by the tests of this module."""
    cache: dict[str, ZooRun] = {}

    def get(name: str, pipeline: str | None = None) -> ZooRun:
        if (name, pipeline) not in cache:
            cache[(name, pipeline)] = ZooRun(name, pipeline)
        return cache[(name, pipeline)]

    return get


IDEAL_MODELS = [
    "mlp",
    "lenet5",
    "resnet18",
    "bert_encoder",
    "gpt2_block",
]


# -- ideal ---------------------------------------------------------------------


@pytest.mark.parametrize("name", IDEAL_MODELS)
def test_ideal_matches_pytorch(zoo, name):
    run = zoo(name)
    if name == "resnet18":
        assert run.inputs[0].shape == (1, 3, 224, 224)
    err = rel_err(run.outputs[0], run.reference)
    assert err < 1e-4, f"{name}: ideal output differs from PyTorch by {err:.3g} (relative)"
    # The chip keeps its crossbars between calls: later calls give the same result.
    for k in (1, 2):
        np.testing.assert_array_equal(run.outputs[k], run.outputs[0], err_msg=f"{name}: call {k + 1} differs from call 1")


# -- counters ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mlp", "lenet5", "resnet18", "bert_encoder", "gpt2_block"])
def test_weights_programmed_once_and_mvms_triple(zoo, name):
    # On the layer-at-a-time program each imc op runs once per call, so the
    # IR's ops are what one call counts.
    run = zoo(name, LAYER_AT_A_TIME)
    report = run.compiled.report
    assert report.calls == 3
    n_program = len(ir_ops(run.compiled, "imc.program"))
    assert n_program > 0, f"{name}: no imc.program in the compiled IR"
    first, last = run.totals[0], run.totals[2]
    assert first.xbar_program_events == n_program
    assert last.xbar_program_events == n_program, "weights were reprogrammed on later calls"
    assert last.xbar_cells_programmed == first.xbar_cells_programmed
    n_mvm = ir_mvm_count(run.compiled)
    assert first.mvm_count == n_mvm
    assert last.mvm_count == 3 * n_mvm
    assert last.dac_conversions == 3 * first.dac_conversions > 0
    assert last.adc_conversions == 3 * first.adc_conversions > 0
    assert last.digital_ops == 3 * first.digital_ops
    assert report.to_dict()["calls"] == 3


# -- quantized: independent NumPy model ----------------------------------------


def reference_quantized_linear(x: np.ndarray, w: np.ndarray, hw: Hardware) -> np.ndarray:
    """y ~ x @ w (x: B x K, w: K x N) as the documented quantized crossbar computes it, in float64.

    Row tiles of hw.xbar_rows, column tiles of hw.xbar_cols. Per tile: each
    column of the weight tile is scaled by max|col| / (2**(wb-1)-1), rounded,
    and its magnitude split into ceil(wb/cb) cb-bit digits carrying the sign.
    Per MVM call: each input row (of the row tile) is scaled by
    max|row| / (2**(ib-1)-1), rounded, and its magnitude split into
    ceil(ib/dac) dac-bit digits carrying the sign. Each (cycle, slice) column
    sum goes through a signed ADC with full scale
    adc_range * rows_in_tile * (2**dac-1) * (2**cb-1) and 2**(adc-1)-1 levels
    (round to nearest, clip; none when adc_bits = 0), then is weighted by
    2**(cycle*dac + slice*cb). Row tiles add; column tiles concatenate.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    wb, cb, ib, dac, adc = hw.weight_bits, hw.cell_bits, hw.input_bits, hw.dac_bits, hw.adc_bits
    w_max = 2 ** (wb - 1) - 1 if wb > 1 else 1
    x_max = 2 ** (ib - 1) - 1 if ib > 1 else 1
    slices, cycles = math.ceil(wb / cb), math.ceil(ib / dac)
    k, n = w.shape
    y = np.zeros((x.shape[0], n))
    for r0 in range(0, k, hw.xbar_rows):
        xt = x[:, r0 : r0 + hw.xbar_rows]
        x_scale = np.abs(xt).max(axis=1, keepdims=True) / x_max
        x_scale[x_scale == 0] = 1.0
        qx = np.clip(np.round(xt / x_scale), -x_max, x_max)
        # digit c of |qx| with qx's sign: floor(|qx| / 2**(c*dac)) mod 2**dac
        x_digits = [np.sign(qx) * (np.floor(np.abs(qx) / 2.0 ** (c * dac)) % 2**dac) for c in range(cycles)]
        rows = xt.shape[1]
        full_scale = hw.adc_range * rows * (2**dac - 1) * (2**cb - 1)
        levels = 2 ** (adc - 1) - 1 if adc > 0 else 0
        for c0 in range(0, n, hw.xbar_cols):
            wt = w[r0 : r0 + hw.xbar_rows, c0 : c0 + hw.xbar_cols]
            w_scale = np.abs(wt).max(axis=0) / w_max
            w_scale[w_scale == 0] = 1.0
            qw = np.clip(np.round(wt / w_scale), -w_max, w_max)
            acc = np.zeros((x.shape[0], wt.shape[1]))
            for s in range(slices):
                g = np.sign(qw) * (np.floor(np.abs(qw) / 2.0 ** (s * cb)) % 2**cb)
                for c, d in enumerate(x_digits):
                    partial = d @ g
                    if adc > 0:
                        step = full_scale / levels
                        partial = np.clip(np.round(partial / step), -levels, levels) * step
                    acc += partial * 2.0 ** (c * dac + s * cb)
            y[:, c0 : c0 + hw.xbar_cols] += acc * x_scale * w_scale
    return y


QUANT_CHIPS = {
    "default-128": dict(xbar_rows=128, xbar_cols=128),
    "dac8": dict(xbar_rows=128, xbar_cols=128, dac_bits=8, input_bits=8),
    "odd-digits": dict(xbar_rows=64, xbar_cols=48, cell_bits=3, dac_bits=3, adc_bits=6, adc_range=0.25),
    "no-adc": dict(xbar_rows=100, xbar_cols=128, adc_bits=0),
}


@pytest.fixture(scope="module")
def linear_layer():
    torch.manual_seed(0)
    layer = nn.Linear(300, 200, bias=False).eval()
    x = torch.randn(4, 300)
    return layer, x


@pytest.mark.parametrize("chip", list(QUANT_CHIPS))
def test_quantized_linear_matches_numpy_model(linear_layer, chip):
    layer, x = linear_layer
    hw = Hardware.preset("default").replace(**QUANT_CHIPS[chip])
    # The NumPy model is the uncalibrated ADC's.
    compiled = imc.compile(layer, (x,), hardware=hw, precision="quantized", calibrate=False)
    y = compiled(x).numpy()
    w = layer.weight.detach().numpy().T  # K x N
    ref = reference_quantized_linear(x.numpy(), w, hw)
    assert rel_err(y, ref) < 1e-5, f"{chip}: compiled quantized output differs from the NumPy model"
    # The model is not trivially exact: quantization moves the result away from float.
    float_err = rel_err(ref, eager(layer, (x,)))
    assert float_err > 1e-4
    # Counting: one MVM per (input row, cycle, slice, row tile, column tile);
    # one ADC conversion per column of every MVM unless the chip is digital.
    totals = compiled.report.totals
    cycles = math.ceil(hw.input_bits / hw.dac_bits)
    slices = math.ceil(hw.weight_bits / hw.cell_bits)
    row_tiles = math.ceil(300 / hw.xbar_rows)
    mvms_per_column_tile = x.shape[0] * cycles * slices * row_tiles
    assert totals.mvm_count == mvms_per_column_tile * math.ceil(200 / hw.xbar_cols)
    assert totals.adc_conversions == (0 if hw.adc_bits == 0 else mvms_per_column_tile * 200)


def test_numpy_model_is_float_matmul_when_precision_is_high():
    """Sanity check of the reference itself: with wide words and no ADC it converges to x @ w."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((3, 70)), rng.standard_normal((70, 20))
    hw = Hardware.preset("default").replace(
        xbar_rows=32, xbar_cols=16, weight_bits=24, cell_bits=8, input_bits=24, dac_bits=8, adc_bits=0
    )
    assert rel_err(reference_quantized_linear(x, w, hw), x @ w) < 1e-6


# -- noisy ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp_batch():
    model = models.create("mlp")
    inputs = models.example_inputs("mlp", batch=8)
    return model, inputs, eager(model, inputs)


def test_noisy_is_seeded(mlp_batch):
    model, inputs, _ = mlp_batch
    a = imc.compile(model, inputs, precision="noisy", seed=7)
    b = imc.compile(model, inputs, precision="noisy", seed=7)
    c = imc.compile(model, inputs, precision="noisy", seed=8)
    ya, yb, yc = a(*inputs).numpy(), b(*inputs).numpy(), c(*inputs).numpy()
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, yc)
    # Second calls draw new read noise from the same seeded stream.
    np.testing.assert_array_equal(a(*inputs).numpy(), b(*inputs).numpy())


def test_noise_exceeds_quantization_error(mlp_batch):
    model, inputs, ref = mlp_batch
    quantized = imc.compile(model, inputs, precision="quantized")
    q_err = np.mean(np.abs(quantized(*inputs).numpy() - ref))
    n_err = np.mean(
        [np.mean(np.abs(imc.compile(model, inputs, precision="noisy", seed=s)(*inputs).numpy() - ref)) for s in range(3)]
    )
    assert q_err > 0
    assert n_err > q_err, f"noisy error {n_err:.4g} is not larger than quantized error {q_err:.4g}"


# -- digital IMC ---------------------------------------------------------------


@pytest.mark.parametrize("precision", ["ideal", "quantized"])
def test_digital_imc_has_no_adc(precision):
    hw = Hardware.preset("metis")
    assert hw.adc_bits == 0
    model = models.create("lenet5")
    inputs = models.example_inputs("lenet5")
    compiled = imc.compile(model, inputs, hardware=hw, precision=precision)
    y = compiled(*inputs).numpy()
    totals = compiled.report.totals
    assert totals.mvm_count > 0
    assert totals.adc_conversions == 0
    assert compiled.report.to_dict()["totals"]["energy_by_event_pj"].get("adc", 0.0) == 0.0
    tol = 1e-4 if precision == "ideal" else 0.05  # 8-bit weights and inputs, exact accumulation
    assert rel_err(y, eager(model, inputs)) < tol


def test_adc_energy_follows_the_adc_resolution():
    """A chip derived with fewer or more ADC bits pays `Hardware.adc_energy_pj`
    per conversion (the same conversions, another price)."""
    model = models.create("lenet5")
    inputs = models.example_inputs("lenet5")
    per_conversion = {}
    for bits in (4, 8, 10):
        hw = Hardware.preset("default").replace(adc_bits=bits)
        compiled = imc.compile(model, inputs, hardware=hw, precision="quantized")
        compiled(*inputs)
        totals = compiled.report.to_dict()["totals"]
        per_conversion[bits] = totals["energy_by_event_pj"]["adc"] / totals["adc_conversions"]
        assert per_conversion[bits] == pytest.approx(hw.adc_energy_pj)
    assert per_conversion[4] < per_conversion[8] == Hardware.preset("default").energy.adc < per_conversion[10]
