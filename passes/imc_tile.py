"""`imc-tile`: tile `imc.contract` to the crossbar geometry."""

import math
from dataclasses import dataclass, field

from torch_mlir import ir
from torch_mlir.dialects import tensor
from torch_mlir.rewrite import RewritePatternSet, walk_and_apply_patterns

from imc.dialects.imc import BIT_RANGES, XBAR_DIM_RANGE, AccumulateOp, ContractOp, MvmOp, ProgramOp, XbarType, build, grouped_kn
from imc.ir.utils import bool_attr, collapse, expand, extract_slice, i64_array, i64_attr, tensor_type
from imc.transforms.pass_base import ImcPass


def tile_ranges(extent: int, tile: int) -> list[tuple[int, int]]:
    """[(start, size)] covering [0, extent) with tiles of at most `tile`."""
    return [(start, min(tile, extent - start)) for start in range(0, extent, tile)]


@dataclass(frozen=True)
class ImcTile(ImcPass):
    """Tiles every `imc.contract` to the crossbar geometry.

    For a contraction `x @ W` with W of K x N: row tiles of at most `rows`
    reduction rows produce partial sums that `imc.accumulate` adds; column
    tiles of at most `cols` outputs are concatenated (`tensor.concat`). A
    grouped contraction (G groups of K_g x N_g) puts as many groups as fit
    (min(rows / K_g, cols / N_g)) on one crossbar as diagonal blocks of one
    tile, read by one MVM; a group larger than the crossbar is tiled alone. A
    weight of `weight-bits` spans ceil(weight-bits / cell-bits) bit slices,
    each programmed into its own crossbar (`imc.program`, slice s) and
    shift-and-added with shift s*cell-bits. Inputs wider than the DAC are fed
    bit-serially (`imc.mvm` records input-bits and dac-bits). Inputs of rank
    other than 2 are collapsed to 2-D and the result expanded back.

    Weight data is never copied: each tile is a `tensor.extract_slice` of the
    original weight (transposed weights are programmed with `transpose = true`).
    Options default to the module's hardware description. Programs are
    unplaced (`array = -1`) until `imc-place-crossbars`.

    Docs: docs/dialect.md (`imc.program`, `imc.mvm`, `imc.accumulate`); docs/interpreter.md ("Counting model").
    """

    name = "imc-tile"
    summary = "Tile imc.contract to crossbar rows/cols, bit slices and bit-serial inputs"

    rows: int | None = field(default=None, metadata={"help": "crossbar rows", "range": XBAR_DIM_RANGE})
    cols: int | None = field(default=None, metadata={"help": "crossbar columns", "range": XBAR_DIM_RANGE})
    cell_bits: int | None = field(default=None, metadata={"help": "bits per cell", "range": BIT_RANGES["cell_bits"]})
    weight_bits: int | None = field(
        default=None, metadata={"help": "weight precision", "range": BIT_RANGES["weight_bits"]}
    )
    input_bits: int | None = field(
        default=None, metadata={"help": "activation precision", "range": BIT_RANGES["input_bits"]}
    )
    dac_bits: int | None = field(default=None, metadata={"help": "DAC resolution", "range": BIT_RANGES["dac_bits"]})
    adc_bits: int | None = field(
        default=None, metadata={"help": "ADC resolution (0 = digital)", "range": BIT_RANGES["adc_bits"]}
    )

    def run(self, module, state) -> None:
        hw = state.hardware
        p = {  # the resolved options: local to this run, never state on the pass
            "rows": hw.xbar_rows if self.rows is None else self.rows,
            "cols": hw.xbar_cols if self.cols is None else self.cols,
            "cell_bits": hw.cell_bits if self.cell_bits is None else self.cell_bits,
            "weight_bits": hw.weight_bits if self.weight_bits is None else self.weight_bits,
            "input_bits": hw.input_bits if self.input_bits is None else self.input_bits,
            "dac_bits": hw.dac_bits if self.dac_bits is None else self.dac_bits,
            "adc_bits": hw.adc_bits if self.adc_bits is None else self.adc_bits,
        }
        for key in ("rows", "cols", "cell_bits", "weight_bits", "input_bits", "dac_bits"):
            if p[key] <= 0:
                state.error(module, f"option {key.replace('_', '-')} = {p[key]} must be positive")
                return
        with module.context:
            attrs = _TileAttrs(p)
        patterns = RewritePatternSet()
        patterns.add(ContractOp, lambda op, rewriter: self.tile_contract(op, rewriter, p, attrs))
        walk_and_apply_patterns(module, patterns.freeze())

    def tile_contract(self, op, rewriter, p: dict, attrs: "_TileAttrs"):
        """imc.contract(x, W) -> programs + MVMs + accumulate per column tile, concat
        (`p`: the options resolved against the hardware; `attrs`: the run's
        shared attributes)."""
        x, w = op.input, op.weight
        transposed = bool(ir.IntegerAttr(op.transpose_weight).value)
        xt = ir.RankedTensorType(x.type)
        ws = list(ir.RankedTensorType(w.type).shape)
        k = xt.shape[-1]
        lead = list(xt.shape[:-1])
        m = math.prod(lead)
        et = xt.element_type
        loc = op.location
        with ir.InsertionPoint(op), loc:
            if not lead:
                x2 = expand(x, [1, k], [[0, 1]], loc=loc)
            elif len(lead) > 1:
                x2 = collapse(x, [list(range(len(lead))), [len(lead)]], loc=loc)
            else:
                x2 = x
            if len(ws) == 2:
                y = _tile_matrix(x2, w, transposed, p, attrs, loc)
            else:
                y = _tile_groups(x2, w, transposed, p, attrs, loc)
            n = ir.RankedTensorType(y.type).shape[1]
            if not lead:
                y = collapse(y, [[0, 1]], loc=loc)
            elif len(lead) != 1:
                y = expand(y, lead + [n], [list(range(len(lead))), [len(lead)]], loc=loc)
        rewriter.replace_op(op, [y])


def _concat(parts: list, m: int, et, loc) -> ir.Value:
    """`parts` (m x n_i) side by side."""
    if len(parts) == 1:
        return parts[0]
    n = sum(ir.RankedTensorType(v.type).shape[1] for v in parts)
    return tensor.concat(tensor_type([m, n], et), 1, parts, loc=loc)


def _tile_matrix(x2, w, transposed: bool, p: dict, attrs: "_TileAttrs", loc) -> ir.Value:
    """`x2 @ W` (m x K times K x N, W = transpose(w) if `transposed`) tiled:
    row tiles of at most `rows` accumulate, column tiles of at most `cols`
    are concatenated."""
    _, (k, n) = grouped_kn(ir.RankedTensorType(w.type).shape, transposed)
    xt = ir.RankedTensorType(x2.type)
    m, et = xt.shape[0], xt.element_type
    row_tiles = tile_ranges(k, p["rows"])
    inputs = [extract_slice(x2, [0, r0], [m, rn], loc=loc) for r0, rn in row_tiles]
    col_tiles = []
    for c0, cn in tile_ranges(n, p["cols"]):
        out_t = tensor_type([m, cn], et)
        partials = []
        for (r0, rn), xin in zip(row_tiles, inputs):
            if transposed:
                tile = extract_slice(w, [c0, r0], [cn, rn], loc=loc)
            else:
                tile = extract_slice(w, [r0, c0], [rn, cn], loc=loc)
            partials += _program_and_multiply(tile, xin, out_t, transposed, attrs, loc)
        col_tiles.append(build(AccumulateOp, partials, {"shifts": attrs.shifts(len(row_tiles))}, [out_t], loc=loc).result)
    return _concat(col_tiles, m, et, loc)


def _tile_groups(x2, w, transposed: bool, p: dict, attrs: "_TileAttrs", loc) -> ir.Value:
    """A grouped contraction (`w` G x K_g x N_g, or G x N_g x K_g if
    `transposed`): as many groups as fit one crossbar in one tile of
    diagonal blocks (a rank-3 `imc.program`), its MVM reading the groups'
    input columns; a group larger than the crossbar is tiled on its own."""
    ws = list(ir.RankedTensorType(w.type).shape)
    block = ws[1:]
    groups, (kg, ng) = grouped_kn(ws, transposed)
    xt = ir.RankedTensorType(x2.type)
    m, et = xt.shape[0], xt.element_type
    parts = []
    if kg <= p["rows"] and ng <= p["cols"]:
        per_tile = min(groups, p["rows"] // kg, p["cols"] // ng)
        for g0, gn in tile_ranges(groups, per_tile):
            xin = extract_slice(x2, [0, g0 * kg], [m, gn * kg], loc=loc)
            tile = extract_slice(w, [g0, 0, 0], [gn, *block], loc=loc)
            out_t = tensor_type([m, gn * ng], et)
            partials = _program_and_multiply(tile, xin, out_t, transposed, attrs, loc)
            parts.append(build(AccumulateOp, partials, {"shifts": attrs.shifts(1)}, [out_t], loc=loc).result)
    else:
        for g in range(groups):
            wg = collapse(extract_slice(w, [g, 0, 0], [1, *block], loc=loc), [[0, 1], [2]], loc=loc)
            xg = extract_slice(x2, [0, g * kg], [m, kg], loc=loc)
            parts.append(_tile_matrix(xg, wg, transposed, p, attrs, loc))
    return _concat(parts, m, et, loc)


def _program_and_multiply(tile, xin, out_t, transposed: bool, attrs: "_TileAttrs", loc) -> list:
    """Per bit slice of `tile`: an `imc.program` of it and an `imc.mvm` of
    `xin` on it (result type `out_t`), at the current insertion point, in
    slice order; returns the MVM results."""
    partials = []
    for s in range(attrs.slices):
        xb = build(ProgramOp, [tile], attrs.program[(s, transposed)], [attrs.xbar_type], loc=loc).result
        partials.append(build(MvmOp, [xb, xin], attrs.mvm, [out_t], loc=loc).result)
    return partials


class _TileAttrs:
    """The attributes one run of `imc-tile` gives its programs, MVMs and
    accumulates, each built once (`p`: the resolved options)."""

    def __init__(self, p: dict):
        self.slices = -(-p["weight_bits"] // p["cell_bits"])
        self.cell_bits = p["cell_bits"]
        self.xbar_type = XbarType.of(p["rows"], p["cols"])
        common = {
            "cell_bits": i64_attr(p["cell_bits"]),
            "weight_bits": i64_attr(p["weight_bits"]),
            "array": i64_attr(-1),
            "offset": i64_array([0, 0]),
        }
        self.program = {
            (s, t): {**common, "slice": i64_attr(s), "transpose": bool_attr(t)} for s in range(self.slices) for t in (False, True)
        }
        self.mvm = {
            "dac_bits": i64_attr(p["dac_bits"]),
            "adc_bits": i64_attr(p["adc_bits"]),
            "input_bits": i64_attr(p["input_bits"]),
            "adc_full_scale": ir.FloatAttr.get_f32(0.0),
        }
        self._shifts: dict[int, ir.Attribute] = {}

    def shifts(self, row_tiles: int) -> ir.Attribute:
        """The accumulate's shifts over `row_tiles` row tiles of all slices:
        slice s shifts by s * cell_bits."""
        found = self._shifts.get(row_tiles)
        if found is None:
            found = self._shifts[row_tiles] = i64_array([s * self.cell_bits for _ in range(row_tiles) for s in range(self.slices)])
        return found
