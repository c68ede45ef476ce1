"""`imc.sim.accuracy`: per-layer error of quantized/noisy against ideal."""

import numpy as np
import pytest
import torch

import imc
from imc.frontend import models
from imc.sim.accuracy import OUTPUTS


def _lenet():
    return models.create("lenet5").eval(), models.example_inputs("lenet5")


def test_output_row_is_the_output_error():
    model, x = _lenet()
    quantized = imc.compile(model, x, precision="quantized")
    errors = quantized.layer_errors(x)
    y = quantized(*x).numpy().astype(np.float64)
    ideal = imc.compile(model, x)(*x).numpy().astype(np.float64)
    assert errors[OUTPUTS] == pytest.approx(np.linalg.norm(y - ideal) / np.linalg.norm(ideal), rel=1e-6)
    assert quantized.report.extra["layer_rel_l2_error"] == errors


def test_every_stored_layer_has_an_error_and_calibration_lowers_them():
    model, x = _lenet()
    plain = imc.compile(model, x, precision="quantized", calibrate=False).layer_errors(x)
    calibrated = imc.compile(model, x, precision="quantized").layer_errors(x)
    assert {"conv1", "conv2", "fc1", "fc2", OUTPUTS} <= set(calibrated)
    assert all(0 < e < 1 for e in calibrated.values())
    assert sum(calibrated.values()) < sum(plain.values())


def test_ideal_has_no_layer_errors():
    model, x = _lenet()
    with pytest.raises(ValueError, match="ideal"):
        imc.compile(model, x).layer_errors(x)


def test_noisy_layer_errors_are_seeded():
    model, x = _lenet()
    a = imc.compile(model, x, precision="noisy", seed=3).layer_errors(x)
    b = imc.compile(model, x, precision="noisy", seed=3).layer_errors(x)
    assert a == b
    assert a[OUTPUTS] > imc.compile(model, x, precision="quantized").layer_errors(x)[OUTPUTS]
