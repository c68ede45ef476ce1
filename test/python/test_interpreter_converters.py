"""The one-pass converters of a `quantized` MVM stack (`imc.sim.interpreter.converters`)
give bit for bit the values of the NumPy sequence they replace: `_partials`,
`_add_drawn_noise`, `_adc_inplace` and `_shift_added` (which still run for
percentile calibration and row blocks), with the input's cycles packed in
pairs or the stack's tiles (`_slice_pairs`), and record the peaks
calibration's "max" policy records from the partial sums."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imc.sim.interpreter.converters import digits
from imc.sim.interpreter.imc import (
    _adc_inplace,
    _adc_step,
    _add_drawn_noise,
    _fused_outputs,
    _InputCycles,
    _partials,
    _read_noise_cycles,
    _shift_added,
    _slice_pairs,
)


@st.composite
def stacks(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch, rows, cols, tiles = draw(st.integers(0, 9)), draw(st.integers(1, 40)), draw(st.integers(1, 17)), draw(st.integers(1, 4))
    ib, db, cb = draw(st.integers(1, 9)), draw(st.sampled_from([1, 2, 4])), draw(st.integers(1, 4))
    exact = draw(st.booleans())  # integer conductances (else programming noise: no packing)
    adc_bits = draw(st.sampled_from([0, 3, 6, 8]))
    x = (rng.standard_normal((batch, rows)) * draw(st.sampled_from([1e-3, 1.0, 50.0]))).astype(np.float32)
    if batch and draw(st.booleans()):
        x[0] = 0.0  # a row of zeros: scale 1, no digits
    levels = rng.integers(0, 2**cb, (tiles, rows, cols))
    g = [(t if exact else t + rng.normal(0, 0.1, t.shape)).astype(np.float32) for t in levels]
    bound = rows * (2**db - 1) * (2**cb - 1)
    steps = np.array([_adc_step(adc_bits, bound * f) for f in rng.uniform(0.01, 1.0, tiles)], dtype=np.float32) if adc_bits else None
    scale = rng.uniform(0.01, 2.0, (tiles, 1, cols)).astype(np.float32) if draw(st.booleans()) else None
    read_noise = draw(st.sampled_from([0.0, 0.01, 0.2]))
    inp = _InputCycles(x, ib, db)
    noise = None
    if read_noise:
        std = read_noise * (2**cb - 1) * inp.norm
        active = _read_noise_cycles(std)
        if active.size:
            noise = (std, active, rng.standard_normal((tiles, active.size, batch, cols), dtype=np.float32))
    return inp, db, g, bound if exact else None, adc_bits, steps, scale, noise


def _numpy(inp, g, bound, adc_bits, steps, db, scale, noise=None):
    partial = _partials(inp, g, bound)
    if noise is not None:
        std, active, z = noise
        _add_drawn_noise(partial, std, active, z.copy())
    peaks = [max(float(p.max()), -float(p.min())) if p.size else 0.0 for p in partial]
    if adc_bits:
        _adc_inplace(partial, adc_bits, 0.0, step=steps.reshape(-1, 1, 1, 1))
    return _shift_added(partial, db, inp.xscale, scale), peaks


@settings(max_examples=150, deadline=None)
@given(stacks())
def test_a_stack_converts_as_the_numpy_sequence(case):
    inp, db, g, bound, adc_bits, steps, scale, noise = case
    expected, _ = _numpy(inp, g, bound, adc_bits, steps, db, scale, noise)
    got = _fused_outputs(inp, g, bound, steps, adc_bits, db, scale, noise=noise)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))  # (also the sign of zero)
    # Calibrating: the partial sums pass unconverted and each tile's peak is recorded.
    unconverted, expected_peaks = _numpy(inp, g, bound, 0, None, db, scale, noise)
    peaks = np.zeros(len(g), dtype=np.float32)
    got = _fused_outputs(inp, g, bound, None, 0, db, scale, peaks=peaks, noise=noise)
    np.testing.assert_array_equal(got.view(np.uint32), unconverted.view(np.uint32))
    assert peaks.tolist() == expected_peaks
    # The tiles packed in pairs instead of the cycles: the same bits and peaks.
    pairs = _slice_pairs(g, bound) if noise is None else None
    if pairs is not None:
        got = _fused_outputs(inp, g, bound, steps, adc_bits, db, scale, pairs=pairs)
        np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
        peaks = np.zeros(len(g), dtype=np.float32)
        got = _fused_outputs(inp, g, bound, None, 0, db, scale, peaks=peaks, pairs=pairs)
        np.testing.assert_array_equal(got.view(np.uint32), unconverted.view(np.uint32))
        assert peaks.tolist() == expected_peaks


@settings(max_examples=60, deadline=None)
@given(stacks())
def test_one_tile_converts_as_its_place_in_a_stack(case):
    """An op (one tile, `imc.mvm` run on its own) gets the values the stack gives that tile."""
    inp, db, g, bound, adc_bits, steps, scale, noise = case
    stacked = _fused_outputs(inp, g, bound, steps, adc_bits, db, scale, noise=noise)
    for k, tile in enumerate(g):
        own = None if noise is None else (noise[0], noise[1], noise[2][k])
        alone = _fused_outputs(inp, tile, bound, None if steps is None else steps[k], adc_bits, db, None if scale is None else scale[k, 0], noise=own)
        np.testing.assert_array_equal(alone.view(np.uint32), stacked[k].view(np.uint32))


@pytest.mark.parametrize("ib", [1, 2, 7, 8, 9, 16])
@pytest.mark.parametrize("db", [1, 2, 3, 8])
def test_digits_are_those_of_the_numpy_formula(ib, db):
    """`converters.digits` against the NumPy formula `_InputCycles` used:
    int8 arithmetic when |q| < 128 (a zero digit is +0), else float32
    (a zero digit of a negative input is -0), bit for bit."""
    rng = np.random.default_rng(ib * 10 + db)
    qmax = 2 ** (ib - 1) - 1 if ib > 1 else 1
    q = np.clip(np.rint(rng.standard_normal((6, 33)).astype(np.float32) * qmax), -qmax, qmax).astype(np.float32)
    cycles, small = -(-ib // db), qmax < 128
    itype = np.int8 if small else np.int64
    shifts = (np.arange(cycles) * db).astype(itype)
    d = (np.abs(q).astype(itype)[None] >> shifts[:, None, None]) & itype(min(2**db - 1, 127) if small else 2**db - 1)
    if small:
        expected = (d * np.sign(q).astype(np.int8)[None]).astype(np.float32)
    else:
        expected = d.astype(np.float32) * np.sign(q).astype(np.float32)[None]
    np.testing.assert_array_equal(digits(q, cycles, db, small).view(np.uint32), expected.view(np.uint32))
    # Packed in pairs as `_InputCycles.packed` packed them: d_2k+1 * base + d_2k, an odd C's last alone.
    base, half = 1 << 12, cycles // 2
    packed = np.empty((-(-cycles // 2),) + q.shape, dtype=np.float32)
    np.multiply(expected[1 : 2 * half : 2], np.float32(base), out=packed[:half])
    packed[:half] += expected[0 : 2 * half : 2]
    if cycles % 2:
        packed[half] = expected[-1]
    np.testing.assert_array_equal(digits(q, cycles, db, small, base).view(np.uint32), packed.view(np.uint32))
