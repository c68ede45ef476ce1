"""Consecutive converting MVM stacks of one shape, computed together.

In `quantized` and `noisy`, `imc.sim.interpreter.imc._run_converted` executes
a fused contraction's MVMs as `_ConvertedRun`s: the tiles (column tiles and
bit slices) that read one row tile of the input, one stack computed by one
matmul per tile and one converter kernel call (`converters`). A layer with K
input rows has ceil(K / rows) row tiles: ResNet-18's 3x3 convolutions on
64-row crossbars make 36 runs per loop trip, about 10,800 per call, each
tens of microseconds of Python around little arithmetic.

A `RunBatch` is a sequence of consecutive runs that pack their tiles in pairs
(`imc.sim.interpreter.imc._slice_pairs`: the tiles outweigh the input) with
the same shape and converters. It quantizes its row tiles together, computes
every run's products in one stacked matmul (a BLAS gemm per pair of tiles,
as before) and converts them in one kernel call. The batch holds the runs'
packed pairs stacked (ceil(tiles / 2) x rows x cols per run, made on first
use) instead of each run holding its own: no more memory than before.

The values are bit for bit those of the runs one at a time: each input row
is quantized by the same float32 operations, and the products are integers
below 2**24 (packing in pairs requires it), exact in any summation order, so
the stacked matmul sums them alike; the kernel does the same operations on
each element. Read noise is drawn per run, so under read noise the runs run
one at a time.
"""

from __future__ import annotations

import numpy as np

from .converters import pair_shift_added, stacked_digits
from .imc_packing import packed_pair, quantized_rows

__all__ = ["RunBatch"]


class RunBatch:
    """Consecutive `_ConvertedRun`s of one shape (see the module docstring):
    `runs`, each `tiles` tiles of rows x cols on input columns [r0, r0 + rows)
    of its own, exact, with scales that stack (`scale_stack`), no row blocks,
    packed in pairs with `base` (`_pair_base` of their column sum bound)."""

    def __init__(self, runs: list, base: int):
        first = runs[0]
        self.runs = runs
        self.base = base
        self.tiles = len(first.g)
        self.rows, self.cols = first.rows, first.cols
        self.ib, self.db, self.adc = first.ib, first.db, first.adc
        self.cycles = -(-first.ib // first.db)
        r0s = [run.r0 for run in runs]
        # Row tiles side by side: a view of the input; else gathered.
        self.r0 = r0s[0] if r0s == list(range(r0s[0], r0s[0] + len(runs) * self.rows, self.rows)) else None
        self.r0s = r0s
        scales = [run.scale_stack for run in runs]
        self.scale = None if scales[0] is None else np.concatenate(scales).reshape(-1, self.cols)
        self._pairs = None

    @staticmethod
    def joins(run, other) -> bool:
        """Whether `other` (a run) can follow `run` in a batch."""
        return (
            other.rows == run.rows
            and other.cols == run.cols
            and len(other.g) == len(run.g)
            and (other.column_rows, other.ib, other.db, other.adc, other.cell_max)
            == (run.column_rows, run.ib, run.db, run.adc, run.cell_max)
            and (other.scale_stack is None) == (run.scale_stack is None)
        )

    def takes(self, batch: int) -> bool:
        """Whether the runs pack their tiles (not their input's cycles) on an
        input of `batch` rows (`_ConvertedRun.pairs_for`)."""
        return self.runs[0].tiles_outweigh(self.cycles, batch)

    def pairs(self) -> np.ndarray:
        """The runs' tiles packed in pairs: runs x ceil(tiles / 2) x rows x cols."""
        if self._pairs is None:
            b = np.float32(self.base)
            stack = np.empty((len(self.runs), (self.tiles + 1) // 2, self.rows, self.cols), dtype=np.float32)
            for r, run in enumerate(self.runs):
                g = run.g
                for k in range(0, self.tiles - 1, 2):
                    packed_pair(g[k], g[k + 1], b, out=stack[r, k // 2])
                if self.tiles % 2:
                    stack[r, -1] = g[-1]
            self._pairs = stack
        return self._pairs

    def inputs(self, x: np.ndarray) -> np.ndarray:
        """The runs' row tiles of `x` (batch x K): runs x batch x rows."""
        if self.r0 is not None:
            batch = x.shape[0]
            return x[:, self.r0 : self.r0 + len(self.runs) * self.rows].reshape(batch, len(self.runs), self.rows).transpose(1, 0, 2)
        return np.stack([x[:, r0 : r0 + self.rows] for r0 in self.r0s])

    def outputs(self, x: np.ndarray, work, peaks: np.ndarray | None = None) -> np.ndarray:
        """The runs' MVM outputs on `x` (batch x K), in execution order: (runs
        x tiles) x batch x cols. `peaks` (runs x tiles zeros) receives each
        MVM's largest |partial sum|, its products then passing no ADC (a
        calibration run), as `_fused_outputs` does."""
        xscale, q, qmax = quantized_rows(self.inputs(x), self.ib)
        d = stacked_digits(q, self.cycles, self.db, qmax < 128)  # runs x C x batch x rows
        runs, c, batch, rows = d.shape
        pairs = self.pairs()
        shape = (runs, pairs.shape[1], c * batch, self.cols)
        prod = work.get("batch", shape)
        np.matmul(d.reshape(runs, 1, c * batch, rows), pairs, out=prod)
        tiles = runs * self.tiles
        steps = None
        if self.adc > 0 and peaks is None:
            steps = np.concatenate([run.steps.reshape(-1) for run in self.runs])
        return pair_shift_added(
            prod.reshape(runs * pairs.shape[1], c, batch, self.cols), tiles, self.base, steps,
            self.adc if peaks is None else 0, self.db, xscale, self.scale,
            None if peaks is None else peaks.reshape(-1), stacks=runs,
        )
