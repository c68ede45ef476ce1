"""The `ideal` products of a fused contraction whose MVMs are split by input
rows over copies of its crossbars.

`imc-place-crossbars{duplicate=true}` (the `imc-pipelined` pipeline) copies
a layer onto spare crossbars and splits each MVM's input rows between the
copies: an accumulate operand is then `tensor.concat dim(0)` of MVMs that
read consecutive row blocks of one column slice of the input, each on its own
copy of the tile. An `imc.tiled_contract` of these runs in one step too
(`imc.sim.interpreter.imc.tiled_contract`), and in `ideal` the step computes exactly what the ops compute
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

`quantized` and `noisy` run these groups as ops. A loop's trips run
distributed (`loop_distribution`) stack their inputs (each of the validated
height): each trip's row blocks are multiplied as its ops multiply them.

`StackedTiles` computes the same products faster when every accumulate of
the group reads the same row tiles (offsets, heights, shifts and row blocks,
in the same operand order): per tile height one batched matmul over (row
tile, accumulate, row block), each gemm still one block of one tile's input
columns (the same C-contiguous matrix the op multiplies) times one
conductance, then the sums in operand order over all accumulates at once.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RowBlockedWeights", "StackedTiles", "Term", "same_values"]


class Term:
    """One accumulate operand: the product of input columns [r0, r0 + rows)
    and conductance `g`, computed per row block, shifted by `shift`."""

    __slots__ = ("r0", "rows", "g", "shift", "blocks", "block_rows")

    def __init__(self, r0: int, rows: int, g: np.ndarray, shift: int, blocks: list):
        self.r0, self.rows, self.g, self.shift, self.blocks = r0, rows, g, shift, blocks
        sizes = {b1 - b0 for b0, b1 in blocks}
        # Equal blocks: one batched matmul; else one matmul per block.
        self.block_rows = sizes.pop() if len(sizes) == 1 else None

    def product(self, cols: np.ndarray, batch: int) -> np.ndarray:
        """On `cols` of one or more runs' `batch` input rows, stacked."""
        x = np.ascontiguousarray(cols[:, self.r0 : self.r0 + self.rows])
        m, n = x.shape[0], self.g.shape[1]
        if self.block_rows is not None:
            return np.matmul(x.reshape(m // self.block_rows, self.block_rows, self.rows), self.g).reshape(m, n)
        y = np.empty((m, n), dtype=np.float32)
        for t in range(0, m, batch):
            for b0, b1 in self.blocks:
                y[t + b0 : t + b1] = x[t + b0 : t + b1] @ self.g
        return y


class RowBlockedWeights:
    """Per accumulate, its non-zero operands (`Term`s) and whether its
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
                    if xb.conductance is not None and not same_values(xb.conductance, first.conductance):
                        return None
                if reach != batch or r0 + first.rows > k:
                    return None
                g = first.conductance
                if g is None:  # a higher ideal slice: zeros
                    continue
                if g.dtype != np.float32 or g.shape != (first.rows, first.cols):
                    return None
                terms.append(Term(r0, first.rows, g, shift, blocks))
            single = len(operands) == 1 and len(terms) == 1 and terms[0].shift == 0
            if not terms:
                return None
            out.append((terms, single))
        return cls(out, k, batch)

    def takes(self, cols: np.ndarray) -> bool:
        """Whether `cols` has the shape the validated run had."""
        return cols.ndim == 2 and cols.shape == (self.batch, self.shape[0]) and cols.dtype == np.float32

    def products(self, cols: np.ndarray) -> list:
        """The accumulates' results on the group's input `cols` (batch x K,
        or several such inputs stacked: the trips of a loop)."""
        outs = []
        for terms, single in self.accs:
            if single:
                outs.append(terms[0].product(cols, self.batch))
                continue
            out = np.zeros((cols.shape[0], terms[0].g.shape[1]), dtype=np.float32)
            for term in terms:
                p = term.product(cols, self.batch)
                if term.shift:
                    out += p * np.float32(2.0**term.shift)
                else:
                    out += p
            outs.append(out)
        return outs


def same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal conductances in the same layout (the op multiplies each as it is)."""
    return a is b or (
        a.shape == b.shape and a.dtype == b.dtype and a.strides == b.strides and np.array_equal(a, b)
    )


class StackedTiles:
    """The `ideal` products of accumulates that read the same row tiles (see
    the module docstring), one `_TileStack` per output width (a layer's
    last column tile may be narrower), each with the accumulates it
    computes."""

    def __init__(self, parts: list, accs: list, k: int, batch: int):
        self.parts = parts  # [(accumulate indices, _TileStack)]
        self.accs = accs  # the [(terms, single)] they were stacked from
        self.n_accs = len(accs)
        self.shape = (k,)
        self.batch = batch

    @classmethod
    def of(cls, accs: list, k: int, batch: int) -> "StackedTiles | None":
        """From `RowBlockedWeights.accs` ([(terms, single)]), or None unless
        every accumulate has the same layout of terms (input columns,
        shifts, row blocks), the same `single` and equal row blocks."""
        first, single = accs[0]
        layout = [(t.r0, t.rows, t.shift, tuple(t.blocks)) for t in first]
        block_rows = first[0].block_rows
        if block_rows is None or any(t.block_rows != block_rows for t in first):
            return None
        by_width: dict[int, list[int]] = {}
        for a, (terms, one) in enumerate(accs):
            if one != single or [(t.r0, t.rows, t.shift, tuple(t.blocks)) for t in terms] != layout:
                return None
            widths = {t.g.shape[1] for t in terms}
            if len(widths) != 1:
                return None
            by_width.setdefault(widths.pop(), []).append(a)
        parts = [(members, _TileStack([accs[a][0] for a in members], single, block_rows)) for members in by_width.values()]
        return cls(parts, accs, k, batch)

    def takes(self, cols: np.ndarray) -> bool:
        """Whether `cols` has the shape the validated run had."""
        return cols.ndim == 2 and cols.shape == (self.batch, self.shape[0]) and cols.dtype == np.float32

    def products(self, cols: np.ndarray) -> list:
        """The accumulates' results on the group's input `cols` (batch x K,
        or several such inputs stacked)."""
        if len(self.parts) == 1:
            return self.parts[0][1].products(cols)
        outs = [None] * self.n_accs
        for members, stack in self.parts:
            for a, out in zip(members, stack.products(cols)):
                outs[a] = out
        return outs


class _TileStack:
    """Accumulates of one output width whose terms have one layout: per
    tile height (rows, the tiles' input column offsets, their conductances
    T x accumulates x 1 x rows x cols), `order` each operand's (stack,
    position) in operand order and `shifts` their shifts; `single`: each
    accumulate's result is its one unshifted operand's product itself."""

    def __init__(self, terms_per_acc: list, single: bool, block_rows: int):
        first = terms_per_acc[0]
        by_height: dict[int, list[int]] = {}
        for i, t in enumerate(first):
            by_height.setdefault(t.rows, []).append(i)
        self.stacks, self.order = [], [None] * len(first)
        for rows, members in by_height.items():
            g = np.stack([np.stack([terms[i].g for terms in terms_per_acc]) for i in members])
            self.stacks.append((rows, [first[i].r0 for i in members], g[:, :, None]))
            for position, i in enumerate(members):
                self.order[i] = (len(self.stacks) - 1, position)
        self.shifts = [t.shift for t in first]
        self.single = single
        self.block_rows = block_rows

    def _partials(self, cols: np.ndarray) -> list:
        """Per stack, its tiles' products: T x accumulates x batch x cols."""
        m = cols.shape[0]
        blocks = m // self.block_rows
        out = []
        for rows, offsets, g in self.stacks:
            x = np.stack([cols[:, r0 : r0 + rows] for r0 in offsets])  # T x batch x rows, each C-contiguous
            y = np.matmul(x.reshape(len(offsets), 1, blocks, self.block_rows, rows), g)
            out.append(y.reshape(len(offsets), g.shape[1], m, g.shape[-1]))
        return out

    def products(self, cols: np.ndarray) -> list:
        """The accumulates' results on `cols` (batch x K), as the ops sum:
        +0 plus the operands in order (or the single operand itself)."""
        partials = self._partials(cols)
        if self.single:
            stack, position = self.order[0]
            return list(partials[stack][position])
        first = partials[self.order[0][0]]
        out = np.zeros(first.shape[1:], dtype=np.float32)
        for (stack, position), shift in zip(self.order, self.shifts):
            p = partials[stack][position]
            if shift:
                out += p * np.float32(2.0**shift)
            else:
                out += p
        return list(out)
