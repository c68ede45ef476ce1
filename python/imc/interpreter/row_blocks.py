"""The `ideal` products of a fused contraction whose MVMs are split by input
rows over copies of its crossbars.

`imc-place-crossbars{duplicate=true}` (the `imc-pipelined` pipeline) copies
a layer onto spare crossbars and splits each MVM's input rows between the
copies: an accumulate operand is then `tensor.concat dim(0)` of MVMs that
read consecutive row blocks of one column slice of the input, each on its own
copy of the tile. `fuse_contractions` (`imc.interpreter.imc`) fuses these
too, and in `ideal` the fused step computes exactly what the ops compute
(not the single `x @ W_eff` of an unsplit contraction, which rounds
otherwise):

* per accumulate operand, one batched matmul: the row blocks are a batch
  dimension, each block the same C-contiguous (block rows x tile rows)
  matrix the op multiplies, times the same conductance (the copies hold
  equal conductances, checked when the group is validated); NumPy calls one
  BLAS gemm per block, as each op does;
* the accumulate as the op sums: +0 plus the partials in operand order (an
  all-zero slice is skipped: adding +0 to a sum that started at +0 changes
  no bit), or the partial itself when it is the only, unshifted, operand.

`quantized` and `noisy` run these groups as ops.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RowBlockedWeights"]


class _Term:
    """One accumulate operand: the product of input columns [r0, r0 + rows)
    and conductance `g`, computed per row block, shifted by `shift`."""

    __slots__ = ("r0", "rows", "g", "shift", "blocks", "block_rows")

    def __init__(self, r0: int, rows: int, g: np.ndarray, shift: int, blocks: list):
        self.r0, self.rows, self.g, self.shift, self.blocks = r0, rows, g, shift, blocks
        sizes = {b1 - b0 for b0, b1 in blocks}
        # Equal blocks: one batched matmul; else one matmul per block.
        self.block_rows = sizes.pop() if len(sizes) == 1 else None

    def product(self, cols: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(cols[:, self.r0 : self.r0 + self.rows])
        m, n = x.shape[0], self.g.shape[1]
        if self.block_rows is not None:
            return np.matmul(x.reshape(m // self.block_rows, self.block_rows, self.rows), self.g).reshape(m, n)
        y = np.empty((m, n), dtype=np.float32)
        for b0, b1 in self.blocks:
            y[b0:b1] = x[b0:b1] @ self.g
        return y


class RowBlockedWeights:
    """Per accumulate, its non-zero operands (`_Term`s) and whether its
    result is its one unshifted operand. `shape[0]` is the number of input
    columns the MVMs read, `batch` the input rows the blocks cover."""

    def __init__(self, accs: list, k: int, batch: int):
        self.accs = accs  # [(terms, single)]
        self.shape = (k,)
        self.batch = batch

    @classmethod
    def of(cls, accs, env, k: int, batch: int) -> "RowBlockedWeights | None":
        """From the accumulates of a validated run (`env` holds their
        crossbars; each MVM entry is (op, program slot, r0, shift, (operand,
        b0, b1))), or None unless every operand's blocks tile the `batch`
        input rows in order and its copies hold equal conductances."""
        out = []
        for _, _, mvms in accs:
            operands: dict[int, list] = {}
            for entry in mvms:
                block = entry[4]
                if block is None:
                    return None
                operands.setdefault(block[0], []).append(entry)
            terms = []
            for entries in operands.values():
                _, slot, r0, shift, _ = entries[0]
                first = env[slot]
                blocks, reach = [], 0
                for _, prog_slot, r, s, (_, b0, b1) in entries:
                    xb = env[prog_slot]
                    if r != r0 or s != shift or b0 != reach or b1 <= b0 or xb.rows != first.rows:
                        return None
                    blocks.append((b0, b1))
                    reach = b1
                    if (xb.conductance is None) != (first.conductance is None):
                        return None
                    if xb.conductance is not None and not _same_values(xb.conductance, first.conductance):
                        return None
                if reach != batch or r0 + first.rows > k:
                    return None
                g = first.conductance
                if g is None:  # a higher ideal slice: zeros
                    continue
                if g.dtype != np.float32 or g.shape != (first.rows, first.cols):
                    return None
                terms.append(_Term(r0, first.rows, g, shift, blocks))
            single = len(operands) == 1 and len(terms) == 1 and terms[0].shift == 0
            if not terms:
                return None
            out.append((terms, single))
        return cls(out, k, batch)

    def takes(self, cols: np.ndarray) -> bool:
        """Whether `cols` has the shape the validated run had."""
        return cols.ndim == 2 and cols.shape == (self.batch, self.shape[0]) and cols.dtype == np.float32

    def products(self, cols: np.ndarray) -> list:
        """The accumulates' results on the group's input `cols` (batch x K)."""
        outs = []
        for terms, single in self.accs:
            if single:
                outs.append(terms[0].product(cols))
                continue
            out = np.zeros((cols.shape[0], terms[0].g.shape[1]), dtype=np.float32)
            for term in terms:
                p = term.product(cols)
                if term.shift:
                    out += p * np.float32(2.0**term.shift)
                else:
                    out += p
            outs.append(out)
        return outs


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal conductances in the same layout (the op multiplies each as it is)."""
    return a is b or (
        a.shape == b.shape and a.dtype == b.dtype and a.strides == b.strides and np.array_equal(a, b)
    )
