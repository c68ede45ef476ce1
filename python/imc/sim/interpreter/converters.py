"""The elementwise work of a converting MVM stack in Numba: one pass each.

`imc.sim.interpreter.imc` computes a stack of MVMs that read one input
(`_ConvertedRun`, or one op) as one matmul of the input's digit cycles by
the tiles' conductances (`_partials`). Around that matmul the work is
elementwise: split the quantized input into digits (or packed pairs of
them) before; after, separate the two cycles a packed product holds, add
the read noise, convert each cycle through the ADC, add the cycles shifted
by their place value, scale by the input's and the weights' scales. In
NumPy each step is a pass over memory, about ten over the C x batch x cols
partial sums of every tile, which for ResNet-18 on 64-row crossbars are a
billion elements per call. `digits` and `shift_added` do them in one pass
each (`pair_shift_added` where the stack's tiles, not the input's cycles,
were packed in pairs), compiled by Numba (imported on first use: runs in `ideal` never load
it; compiled once per machine, cached next to this file).

The values are bit for bit those of the NumPy sequence they replace
(`imc.sim.interpreter.imc._partials`, `_add_drawn_noise`, `_adc_inplace`,
`_shift_added`), which still computes the runs these do not take
(calibration with a percentile, row blocks): the same float32 operations on
each element in the same order (the products by powers of two are exact, so
a fused multiply-add would round them alike), checked against that sequence
in `test_interpreter_converters.py`.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["digits", "stacked_digits", "shift_added", "pair_shift_added"]


@numba.njit(cache=True, nogil=True)
def _digits(q, cycles, db, small, base, out):
    """q: inputs x batch x rows; out: inputs x planes x batch x rows."""
    mask = np.int32((1 << db) - 1)
    inputs, batch, rows = q.shape
    planes = out.shape[1]
    for i in range(inputs):
        for k in range(planes):
            c = 2 * k if base else k
            pair = base and c + 1 < cycles  # (the last plane of an odd C holds one cycle)
            for b in range(batch):
                for r in range(rows):
                    v = q[i, b, r]
                    sign = np.int32(v > 0) - np.int32(v < 0)
                    m = np.int32(abs(v))  # (|q| < 2**31: inputs of at most 32 bits)
                    d = (m >> np.int32(c * db)) & mask
                    digit = np.float32(d * sign) if small else np.float32(d) * np.float32(sign)
                    if pair:
                        d = (m >> np.int32((c + 1) * db)) & mask
                        high = np.float32(d * sign) if small else np.float32(d) * np.float32(sign)
                        digit = high * base + digit
                    out[i, k, b, r] = digit


def digits(q: np.ndarray, cycles: int, db: int, small: bool, base: int = 0) -> np.ndarray:
    """The signed `db`-bit digits of the quantized input `q` (batch x rows,
    integer-valued float32): C x batch x rows float32, digit c of |q| times
    sign(q). As `imc.sim.interpreter.imc._InputCycles` computed them in NumPy:
    with `small` (|q| < 128) in int8, so a zero digit is +0, else in float32,
    where a zero digit of a negative input is -0. With `base` > 0, packed
    in pairs instead (ceil(C/2) x batch x rows): plane k is
    `d_2k+1 * base + d_2k` (exact), the last one `d_C-1` alone when C is odd."""
    return stacked_digits(q[None], cycles, db, small, base)[0]


def stacked_digits(q: np.ndarray, cycles: int, db: int, small: bool, base: int = 0) -> np.ndarray:
    """`digits` of several quantized inputs of one shape at once: `q` is
    inputs x batch x rows, the result inputs x C (or ceil(C/2)) x batch x rows."""
    planes = -(-cycles // 2) if base else cycles
    out = np.empty((q.shape[0], planes) + q.shape[1:], dtype=np.float32)
    _digits(np.ascontiguousarray(q, dtype=np.float32), cycles, db, small, np.float32(base), out)
    return out


@numba.njit(cache=True, nogil=True)
def _cycle_sums(prod, t, c, cycles, packed, base, z, std, drawn, sums):
    """Cycle `c`'s partial sums of tile `t` before conversion, into `sums`
    (batch x cols): its half of a packed product (hi = rint(P / base),
    lo = P - base hi), a zero as +0 (whatever the packing or the matmul
    gave it), plus its read noise if it has draws (`drawn` >= 0)."""
    _, _, batch, cols = prod.shape
    plane = c // 2 if packed else c
    whole = not packed or (cycles % 2 == 1 and c == cycles - 1)  # a plane of one cycle
    high = c % 2 == 1
    inv = np.float32(1.0) / base
    for b in range(batch):
        for j in range(cols):
            p = prod[t, plane, b, j]
            if not whole:
                hi = np.rint(p * inv)
                p = hi if high else p - hi * base
            p += np.float32(0.0)  # (-0 + 0 is +0)
            if drawn >= 0:
                p += z[t, drawn, b, j] * std[c, b]
            sums[b, j] = p


@numba.njit(cache=True, nogil=True)
def _peak(sums, integral):
    """max |sums| (`integral`: integers below 2**24, whose largest magnitude
    an integer maximum finds, which vectorizes where a float maximum does
    not)."""
    batch, cols = sums.shape
    int_peak = np.int32(0)
    float_peak = np.float32(0.0)
    for b in range(batch):
        for j in range(cols):
            if integral:
                int_peak = max(int_peak, abs(np.int32(sums[b, j])))
            else:
                float_peak = max(float_peak, abs(sums[b, j]))
    return np.float32(int_peak) if integral else float_peak


@numba.njit(cache=True, nogil=True)
def _add_converted(sums, t, first, step, adc, levels, weight, out):
    """Adds one cycle's partial sums `sums`, converted and shifted, to
    `out[t]` (the `first` cycle sets it)."""
    batch, cols = sums.shape
    for b in range(batch):
        for j in range(cols):
            p = sums[b, j]
            if adc:
                p = np.rint(p / step)
                p = min(max(p, -levels), levels) * step
            if first:
                out[t, b, j] = p
            else:
                out[t, b, j] += p * weight


@numba.njit(cache=True, nogil=True)
def _shift_added(prod, cycles, packed, base, z, std, drawn, steps, adc, levels, weights, xscale, scale, out, peaks, record, integral):
    tiles, _, batch, cols = prod.shape
    sums = np.empty((batch, cols), dtype=np.float32)
    for t in range(tiles):
        step = steps[t] if adc else np.float32(1.0)
        for c in range(cycles):
            _cycle_sums(prod, t, c, cycles, packed, base, z, std, drawn[c], sums)
            if record:
                peaks[t] = max(peaks[t], _peak(sums, integral))
            _add_converted(sums, t, c == 0, step, adc, levels, weights[c], out)
        for b in range(batch):
            xs = xscale[b]
            for j in range(cols):
                out[t, b, j] = (out[t, b, j] * xs) * scale[t, j]


@numba.njit(cache=True, nogil=True)
def _pair_shift_added(prod, tiles, per, base, steps, adc, levels, weights, xscale, scale, out, peaks, record):
    """Stacks of `per` tiles each (`tiles` in all), stack s's pairs the
    ceil(per/2) planes of `prod` from s * ceil(per/2) on, its input's
    scales `xscale[s]`."""
    pairs, cycles, batch, cols = prod.shape
    lo = np.empty((batch, cols), dtype=np.float32)
    hi = np.empty((batch, cols), dtype=np.float32)
    inv = np.float32(1.0) / base
    per_pairs = (per + 1) // 2
    for k in range(pairs):
        first = 2 * (k % per_pairs)  # (the pair's first tile within its stack)
        t = (k // per_pairs) * per + first
        two = first + 1 < per
        for c in range(cycles):
            for b in range(batch):
                for j in range(cols):
                    p = prod[k, c, b, j]
                    if two:
                        h = np.rint(p * inv)
                        lo[b, j] = (p - h * base) + np.float32(0.0)
                        hi[b, j] = h + np.float32(0.0)
                    else:
                        lo[b, j] = p + np.float32(0.0)
            if record:
                peaks[t] = max(peaks[t], _peak(lo, True))
            _add_converted(lo, t, c == 0, steps[t], adc, levels, weights[c], out)
            if two:
                if record:
                    peaks[t + 1] = max(peaks[t + 1], _peak(hi, True))
                _add_converted(hi, t + 1, c == 0, steps[t + 1], adc, levels, weights[c], out)
    for t in range(tiles):
        for b in range(batch):
            xs = xscale[t // per, b]
            for j in range(cols):
                out[t, b, j] = (out[t, b, j] * xs) * scale[t, j]


def _converters(tiles: int, cols: int, cycles: int, adc_bits: int, db: int, steps, scale) -> tuple:
    """The kernels' arguments for the stack's converters: (whether there is
    an ADC, its largest level, each cycle's place value, each tile's ADC
    step (ones without ADC), each tile's column scales (ones if None))."""
    adc = adc_bits > 0
    levels = np.float32(2 ** (adc_bits - 1) - 1 if adc else 0)
    weights = (2.0 ** (np.arange(cycles) * db)).astype(np.float32)
    steps = np.ascontiguousarray(steps, dtype=np.float32).reshape(-1) if adc else np.ones(tiles, dtype=np.float32)
    scale = np.ones((tiles, cols), dtype=np.float32) if scale is None else np.ascontiguousarray(scale, dtype=np.float32).reshape(-1, cols)
    return adc, levels, weights, steps, scale


def pair_shift_added(
    prod: np.ndarray,
    tiles: int,
    base: int,
    steps: np.ndarray | None,
    adc_bits: int,
    db: int,
    xscale: np.ndarray,
    scale: np.ndarray | None,
    peaks: np.ndarray | None = None,
    stacks: int = 1,
) -> np.ndarray:
    """`shift_added` of a stack of `tiles` MVMs whose tiles were packed in
    pairs instead of the input's cycles: `prod` (ceil(tiles/2) x C x batch
    x cols float32), pair k the products of every cycle with `g_2k + base
    g_2k+1` (the last alone when `tiles` is odd), integers below 2**24
    (`imc.sim.interpreter.imc._slice_pairs`). Each tile's partial sums are
    separated exactly as `shift_added` separates two cycles, a zero as +0,
    and converted, shifted, added and scaled as there (no read noise: the
    runs that draw it pack cycles): the same values.

    With `stacks` > 1, `prod` holds that many such stacks of `tiles /
    stacks` tiles one after the other (each its ceil(tiles / stacks / 2)
    pairs; `imc.sim.interpreter.imc_run_batches`), each on an input of its own:
    `xscale` is then stacks x batch; `steps`, `scale` and `peaks` run over
    all tiles in order."""
    pairs, cycles, batch, cols = prod.shape
    out = np.empty((tiles, batch, cols), dtype=np.float32)
    if out.size == 0:
        return out
    adc, levels, weights, steps, scale = _converters(tiles, cols, cycles, adc_bits, db, steps, scale)
    _pair_shift_added(
        np.ascontiguousarray(prod), tiles, tiles // stacks, np.float32(base), steps, adc, levels, weights,
        np.ascontiguousarray(xscale, dtype=np.float32).reshape(stacks, batch), scale, out,
        peaks if peaks is not None else np.zeros(0, dtype=np.float32), peaks is not None,
    )
    return out


def shift_added(
    prod: np.ndarray,
    cycles: int,
    base: int,
    steps: np.ndarray | None,
    adc_bits: int,
    db: int,
    xscale: np.ndarray,
    scale: np.ndarray | None,
    peaks: np.ndarray | None = None,
    noise: tuple | None = None,
    integral: bool = False,
) -> np.ndarray:
    """The outputs (tiles x batch x cols float32) of a stack of MVMs from
    their products `prod` (tiles x planes x batch x cols float32): with
    `base` > 0, each plane k the packed product of cycles 2k and 2k+1
    (`d_2k + base d_2k+1`, the last plane cycle C-1 alone when C is odd),
    else plane c is cycle c. Each cycle's partial sum goes through the
    tile's signed `adc_bits`-bit ADC of step `steps[t]` (none if
    `adc_bits` is 0), is shifted by 2**(c·db) and added in cycle order;
    the sum is scaled by the row's `xscale` (batch x 1) and the tile's
    column `scale` (tiles x 1 x cols, or None). `peaks` (optional, tiles
    float32, zeros to start with) receives each tile's largest |partial sum|
    before conversion, what `imc.sim.calibration` records (`integral`: the
    partial sums are integers below 2**24: products of integer digits and
    conductances without noise, as `_partials`' packing requires). `noise`
    (optional) is read noise added before conversion: (std, active cycles,
    z) as `imc.sim.interpreter.imc._add_drawn_noise` takes them (std C x
    batch x 1; z tiles x len(active) x batch x cols, the draws of the
    active cycles)."""
    tiles, _, batch, cols = prod.shape
    out = np.empty((tiles, batch, cols), dtype=np.float32)
    if out.size == 0:
        return out
    adc, levels, weights, steps, scale = _converters(tiles, cols, cycles, adc_bits, db, steps, scale)
    drawn = np.full(cycles, -1, dtype=np.int64)
    if noise is None:
        std, z = np.zeros((cycles, batch), dtype=np.float32), np.zeros((tiles, 0, batch, cols), dtype=np.float32)
    else:
        std, active, z = noise
        drawn[active] = np.arange(len(active))
        std = np.ascontiguousarray(std, dtype=np.float32).reshape(cycles, batch)
        z = np.ascontiguousarray(z, dtype=np.float32).reshape(tiles, len(active), batch, cols)
    _shift_added(
        np.ascontiguousarray(prod), cycles, base > 0, np.float32(base or 1), z, std, drawn, steps, adc, levels, weights,
        np.ascontiguousarray(xscale, dtype=np.float32).reshape(-1), scale, out,
        peaks if peaks is not None else np.zeros(0, dtype=np.float32), peaks is not None, integral and noise is None,
    )
    return out
