"""The `quantized` and `noisy` crossbar paths of the interpreter against a
straightforward reference.

`reference_mvm` is the `imc.mvm` implementation as it was before the
precision modes were vectorized (one op, the input requantized per MVM, one
3-D matmul, out-of-place ADC): a copy kept here on purpose, so that the fast
path is checked against the old computation, not against itself.

* ``quantized``: bit-identical outputs and identical report counters on
  convolutions and linears of several shapes, chips (cell/DAC/ADC bits, row
  tiles that are not full, ADC saturation through a small `adc_range`, no ADC)
  and signed or ReLU inputs, over two calls.
* ``noisy``: runs are reproducible by seed; the error against ``quantized``
  has the mean and standard deviation the noise model predicts (read noise
  only, without ADC, so that the error is exactly the Gaussian term).
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

import imc
from imc.ir.cost_events import mvm_events, shares_periphery
from imc.ir.hardware import Hardware
from imc.sim.interpreter.imc import _exec, _static, check_spad_read
from imc.sim.runtime import Runner


def _reference_adc(partial, bits, full_scale):
    levels = 2 ** (bits - 1) - 1
    step = np.float32(full_scale / levels) if full_scale > 0 else np.float32(1.0)
    return np.clip(np.rint(partial / step), -levels, levels).astype(np.float32) * step


def reference_mvm(interp, op, args):
    """`imc.mvm` as implemented before the vectorized precision modes (quantized only)."""
    ex = _exec(interp)
    st = _static(op)
    xb, x = args
    chip = ex.chip
    if chip.spad is not None:
        check_spad_read(interp, op, x)
    if xb.array >= 0:
        held = chip.arrays.get(xb.array, {}).get(xb.offset)
        if held is None or held.generation != xb.generation:
            raise op.error(f"crossbar {xb.array} was reprogrammed with other weights before this MVM")
    batch, rows = x.shape
    if rows != xb.rows:
        raise op.error(f"input has {rows} rows but the crossbar tile has {xb.rows}")
    cycles = -(-st.input_bits // st.dac_bits)
    hw = chip.hardware
    assert chip.precision == "quantized"
    qmax = 2 ** (st.input_bits - 1) - 1 if st.input_bits > 1 else 1
    amax = np.max(np.abs(x), axis=1, keepdims=True)
    xscale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
    q = np.clip(np.rint(x / xscale), -qmax, qmax)
    mag = np.abs(q).astype(np.int64)
    sign = np.sign(q).astype(np.float32)
    shifts = np.arange(cycles, dtype=np.int64) * st.dac_bits
    digits = ((mag[None] >> shifts[:, None, None]) & (2 ** st.dac_bits - 1)).astype(np.float32) * sign[None]
    partial = digits @ xb.conductance
    cell_max = 2**xb.cb - 1
    if st.adc_bits > 0:
        full = st.adc_full_scale or hw.adc_range * rows * (2 ** st.dac_bits - 1) * cell_max
        partial = _reference_adc(partial, st.adc_bits, full)
    weights = (2.0**shifts).astype(np.float32)
    y = partial[0] * weights[0]  # the cycles added in order, each shifted by its place value
    for c in range(1, cycles):
        y = y + partial[c] * weights[c]
    y = y * xscale
    if xb.scale is not None:
        y = y * xb.scale
    if y.dtype != np.float32:
        y = y.astype(np.float32)
    n_mvm, events = mvm_events(st, batch, rows, xb.cols, x.nbytes, y.nbytes, shares_periphery=shares_periphery(ex.chip.hardware, xb.s))
    row = ex.layer_of(op)
    if not st.shares_activation:  # (docs/interpreter.md, "Shared activations")
        row.busy[xb.array] = row.busy.get(xb.array, 0) + n_mvm
    ex.report.add(row, **events)
    return [y]


# -- models and chips ----------------------------------------------------------


class ConvNet(nn.Module):
    """Two convolutions (the second's input is a ReLU: non-negative rows) and a linear."""

    def __init__(self, cin, mid, cout, k):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, mid, k, padding=1)
        self.conv2 = nn.Conv2d(mid, cout, 3, stride=2)
        self.fc = nn.Linear(cout, 10)

    def forward(self, x):
        y = self.conv2(torch.relu(self.conv1(x)))
        return self.fc(y.mean(dim=(2, 3)))


CASES = {
    # name: (model factory, input shape, hardware overrides)
    "conv-default": (lambda: ConvNet(3, 16, 24, 3), (1, 3, 12, 12), {}),
    "conv-partial-tiles": (lambda: ConvNet(5, 20, 70, 5), (2, 5, 9, 9), dict(xbar_rows=64, xbar_cols=48)),
    "linear-dac2-cells3": (lambda: nn.Linear(300, 130), (5, 300), dict(cell_bits=3, dac_bits=2, adc_bits=6)),
    "linear-saturating": (lambda: nn.Linear(200, 50), (3, 200), dict(adc_range=0.05, adc_bits=5)),
    "linear-dac8-cells8": (lambda: nn.Linear(160, 40), (4, 160), dict(dac_bits=8, cell_bits=8, xbar_rows=32)),
    "linear-dac3-odd": (lambda: nn.Linear(90, 33), (2, 90), dict(dac_bits=3, input_bits=7, cell_bits=3, weight_bits=7)),
    "linear-no-adc": (lambda: nn.Linear(140, 20), (3, 140), dict(adc_bits=0, cell_bits=4)),
    "linear-1bit-inputs": (lambda: nn.Linear(64, 16), (2, 64), dict(input_bits=1, dac_bits=1)),
}


def _compiled(name):
    factory, shape, overrides = CASES[name]
    torch.manual_seed(hash(name) % 1000)
    model = factory().eval()
    x = torch.randn(*shape)
    hw = Hardware.preset("default").replace(**overrides)
    return imc.compile(model, (x,), hardware=hw), x.numpy()


_BOUND_KEYS = {"floor_bytes", "bound_bytes", "layer_at_a_time_bound_bytes", "remark"}


def _counters(report):
    d = report.to_dict()
    return d["totals"], [(row["name"], {k: v for k, v in row.items() if k not in _BOUND_KEYS}) for row in d["layers"]]


@pytest.mark.parametrize("fast_paths", [True, False], ids=["fast-paths", "op-by-op"])
@pytest.mark.parametrize("name", list(CASES))
def test_quantized_is_bit_identical_to_the_reference(name, fast_paths):
    compiled, x = _compiled(name)
    new = Runner(compiled.module, compiled.hardware, precision="quantized")
    old = Runner(compiled.module, compiled.hardware, precision="quantized")
    new.interpreter.fast_paths = old.interpreter.fast_paths = fast_paths
    old.interpreter.register("imc.mvm", reference_mvm)
    with compiled.context:
        for call in range(2):
            y_new, y_old = new(x)[0], old(x)[0]
            assert y_new.dtype == y_old.dtype == np.float32
            # bit for bit (also the sign of zero)
            np.testing.assert_array_equal(y_new.view(np.uint32), y_old.view(np.uint32), err_msg=f"{name}: call {call}")
    assert _counters(new.report) == _counters(old.report)
    assert new.report.totals.adc_conversions == (0 if compiled.hardware.adc_bits == 0 else old.report.totals.adc_conversions)


# -- noisy: reproducible, and the statistics of the noise model ----------------


def _linear_runner(hw, precision, seed, k=100, n=50, batch=16):
    torch.manual_seed(3)
    layer = nn.Linear(k, n, bias=False).eval()
    x = torch.randn(batch, k)
    compiled = imc.compile(layer, (x,), hardware=hw)
    return compiled, Runner(compiled.module, hw, precision=precision, seed=seed), x.numpy(), layer.weight.detach().numpy().T


def test_noisy_is_reproducible_by_seed():
    hw = Hardware.preset("default")
    compiled, a, x, _ = _linear_runner(hw, "noisy", 5)
    b = Runner(compiled.module, hw, precision="noisy", seed=5)
    c = Runner(compiled.module, hw, precision="noisy", seed=6)
    with compiled.context:
        first = [r(x)[0] for r in (a, b, c)]
        second = [r(x)[0] for r in (a, b)]
    np.testing.assert_array_equal(first[0], first[1])
    np.testing.assert_array_equal(second[0], second[1])
    assert not np.array_equal(first[0], first[2])
    assert not np.array_equal(first[0], second[0])  # read noise is redrawn every call


def _predicted_read_noise_std(x, w, hw):
    """Std of noisy - quantized per output (one row and one column tile, no
    ADC, no programming noise): sum over slices s and cycles c of
    2**(c db + s cb) * read_noise * (2**cb - 1) * ||d_c,b|| * xs_b * scale_j,
    as independent Gaussians (docs/interpreter.md, "noisy")."""
    qx = 2 ** (hw.input_bits - 1) - 1
    xs = np.abs(x).max(axis=1, keepdims=True) / qx
    u = np.clip(np.rint(x / xs), -qx, qx).astype(np.int64)
    cycles = math.ceil(hw.input_bits / hw.dac_bits)
    slices = math.ceil(hw.weight_bits / hw.cell_bits)
    var = np.zeros((x.shape[0], 1))
    for c in range(cycles):
        d = (np.abs(u) >> (c * hw.dac_bits)) & (2**hw.dac_bits - 1)
        norm2 = (d.astype(np.float64) ** 2).sum(axis=1, keepdims=True)
        for s in range(slices):
            var += 4.0 ** (c * hw.dac_bits + s * hw.cell_bits) * norm2
    scale = np.abs(w).max(axis=0) / (2 ** (hw.weight_bits - 1) - 1)
    return hw.read_noise * (2**hw.cell_bits - 1) * np.sqrt(var) * xs * scale[None, :]


@pytest.mark.parametrize("dac_bits", [1, 2])
def test_read_noise_has_the_model_statistics(dac_bits):
    hw = Hardware.preset("default").replace(adc_bits=0, program_noise=0.0, read_noise=0.05, dac_bits=dac_bits)
    compiled, noisy, x, w = _linear_runner(hw, "noisy", 11)
    quantized = Runner(compiled.module, hw, precision="quantized")
    sigma = _predicted_read_noise_std(x.astype(np.float64), w.astype(np.float64), hw)
    with compiled.context:
        exact = quantized(x)[0].astype(np.float64)
        z = np.concatenate([((noisy(x)[0] - exact) / sigma).ravel() for _ in range(8)])
    assert z.size == 8 * 16 * 50
    # N(0, 1): 6400 samples, mean within ~4 standard errors, std within 4 %
    assert abs(z.mean()) < 4 / math.sqrt(z.size), z.mean()
    assert abs(z.std() - 1) < 0.04, z.std()


def test_programming_noise_has_the_model_statistics():
    hw = Hardware.preset("default").replace(program_noise=0.03, read_noise=0.0)
    compiled, noisy, x, _ = _linear_runner(hw, "noisy", 2, k=128, n=128)
    exact = Runner(compiled.module, hw, precision="quantized")
    with compiled.context:
        noisy(x), exact(x)
    diffs = [
        (noisy.chip.arrays[a][o].conductance[0] - exact.chip.arrays[a][o].conductance[0]).ravel()
        for a in exact.chip.arrays
        for o in exact.chip.arrays[a]
    ]
    z = np.concatenate(diffs) / (hw.program_noise * (2**hw.cell_bits - 1))
    # every programmed cell (of the tiles and of their copies on spare crossbars)
    assert z.size == exact.report.totals.xbar_cells_programmed >= 128 * 128 * math.ceil(hw.weight_bits / hw.cell_bits)
    assert abs(z.mean()) < 4 / math.sqrt(z.size)
    assert abs(z.std() - 1) < 0.02


# -- the fused fast path against the op-by-op run --------------------------------

MODES = {
    "quantized": ("quantized", {}),
    "noisy": ("noisy", dict(program_noise=0.02, read_noise=0.03)),
    "noisy-read-only": ("noisy", dict(program_noise=0.0, read_noise=0.03)),
    # read noise drawn ahead by the worker thread (`_ReadNoiseDraws`) from the first normal on
    "noisy-threaded-draws": ("noisy", dict(program_noise=0.02, read_noise=0.03)),
}


def _fast_path_hits(monkeypatch):
    """Counts the fused steps that ran `ContractionGroup.fast_converted` to the end."""
    from imc.sim.interpreter.imc import ContractionGroup

    hits = []
    real = ContractionGroup.fast_converted

    def counting(self, ex, x):
        out = real(self, ex, x)
        hits.append(out is not None)
        return out

    monkeypatch.setattr(ContractionGroup, "fast_converted", counting)
    return hits


# (name, multiplexed): with 4 crossbars, the first three need more tiles than
# crossbars, so every call reprograms.
FUSED_CASES = [
    *[(name, False) for name in ("conv-default", "conv-partial-tiles", "linear-dac2-cells3", "linear-dac3-odd", "linear-no-adc")],
    *[(name, True) for name in ("conv-default", "conv-partial-tiles", "linear-dac2-cells3")],
]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name,multiplexed", FUSED_CASES, ids=[f"{n}-{'multiplexed' if m else 'resident'}" for n, m in FUSED_CASES])
def test_fused_converting_path_matches_op_by_op(name, mode, multiplexed, monkeypatch):
    """Warm calls of fused contractions in `quantized` / `noisy` (all tiles,
    slices and cycles of a row tile as one stack, read noise drawn per stack)
    give the op-by-op run's outputs bit for bit, the same read-noise draws for
    the same seed (also when a worker thread draws them ahead), and the same
    counters. With time-multiplexed crossbars and
    programming noise every call reprograms (fresh noise): the ops run."""
    precision, noise = MODES[mode]
    if mode == "noisy-threaded-draws":
        from imc.sim.interpreter import imc as interp_imc

        monkeypatch.setattr(interp_imc, "_THREADED_DRAWS", 1)
    factory, shape, overrides = CASES[name]
    torch.manual_seed(hash(name) % 1000)
    model, x = factory().eval(), torch.randn(*shape)
    hw = Hardware.preset("default").replace(**overrides)
    if multiplexed:
        hw = hw.replace(cores=1, crossbars_per_core=4)
    # (no crossbar copies: under read noise their row blocks run as ops;
    # quantized copies: test_interpreter_fast_paths.py)
    compiled = imc.compile(model, (x,), hardware=hw, pipeline="builtin.module(imc-tile-rows, imc-default)")
    hw = compiled.hardware.replace(**noise)
    hits = _fast_path_hits(monkeypatch)
    runs = []
    for fast in (True, False):
        runner = Runner(compiled.module, hw, precision=precision, seed=4)
        runner.interpreter.fast_paths = fast
        ys, programs = [], []
        with compiled.context:
            for _ in range(3):
                ys.append(runner(x.numpy())[0])
                programs.append(runner.report.totals.xbar_program_events)
        runs.append((ys, _counters(runner.report), programs))
    (fast_ys, fast_counters, _), (slow_ys, slow_counters, programs) = runs
    for call, (a, b) in enumerate(zip(fast_ys, slow_ys)):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32), err_msg=f"call {call}")
    assert fast_counters == slow_counters
    warm_calls_program = programs[2] > programs[0]
    assert warm_calls_program == multiplexed
    if warm_calls_program and noise.get("program_noise", 0) > 0:
        assert not any(hits)
    else:
        assert hits and all(hits)  # every warm call of every group took the fused path


# -- consecutive runs of one shape as one batch --------------------------------


@pytest.mark.parametrize("calibrate", [False, "max"], ids=["uncalibrated", "calibrated"])
def test_run_batches_give_the_values_of_the_runs_one_by_one(calibrate, monkeypatch):
    """A linear whose 300 input rows make four full 64-row tiles and a
    partial one, each row tile one run of its column tiles' bit slices:
    the four full ones run as one `RunBatch` (one stacked matmul, one
    kernel call), with the outputs, ADC ranges and counters of the same
    program with every run alone, and of the ops one by one."""
    from imc.sim.interpreter import imc as interp_imc
    from imc.sim.interpreter.imc_run_batches import RunBatch

    torch.manual_seed(3)
    model, x = nn.Linear(300, 40).eval(), torch.randn(2, 300)
    hw = Hardware.preset("default").replace(xbar_rows=64)
    batched = []
    real_outputs = RunBatch.outputs

    def outputs(self, *args, **kwargs):
        batched.append(len(self.runs))
        return real_outputs(self, *args, **kwargs)

    monkeypatch.setattr(RunBatch, "outputs", outputs)
    real_batches = interp_imc._run_batches
    results = []
    for batches, fast in ((True, True), (False, True), (False, False)):
        monkeypatch.setattr(interp_imc, "_run_batches", real_batches if batches else (lambda runs: {}))
        real_init = Runner.__init__

        def init(self, *args, _fast=fast, **kwargs):
            real_init(self, *args, **kwargs)
            self.interpreter.fast_paths = _fast

        monkeypatch.setattr(Runner, "__init__", init)
        compiled = imc.compile(model, (x,), hardware=hw, precision="quantized", calibrate=calibrate,
                               pipeline="builtin.module(imc-default)")
        ys = [compiled(x).numpy() for _ in range(2)]
        monkeypatch.setattr(Runner, "__init__", real_init)
        results.append((ys, _counters(compiled.report), compiled.mlir.count("adc_full_scale = 0.0"), len(batched)))
    (ys, counters, uncalibrated, n_batched), *others = results
    assert n_batched >= 2 and set(batched) == {4}  # (the batched compile: its two calls, and its calibration's)
    for other_ys, other_counters, other_uncalibrated, n in others:
        assert n == n_batched  # no batch outside the first compile
        for a, b in zip(ys, other_ys):
            np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
        assert counters == other_counters and uncalibrated == other_uncalibrated
