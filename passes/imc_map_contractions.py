"""`imc-map-contractions`: map weight-stationary linalg contractions to `imc.contract`.

Named `imc-map-contractions` rather than `convert-linalg-to-imc` because it is
a partial conversion: only contractions with one weight operand move to the
crossbars; everything else stays as upstream ops for the digital unit. It runs
as one (`apply_partial_conversion`, `imc.contract` and `imc.im2col` legal,
nothing illegal). No type changes, so its patterns are plain rewrite
patterns, which the conversion driver applies: the bindings' typed
`add_conversion` patterns with a Python `TypeConverter` crash in the
torch-mlir 20261001 build.
"""

from dataclasses import dataclass, field

from torch_mlir import ir
from torch_mlir.dialects import tensor
from torch_mlir.rewrite import ConversionTarget, RewritePatternSet, apply_partial_conversion

from imc.dialects.imc import ContractOp, Im2colOp, build, grouped_kn
from imc.ir.utils import (
    WEIGHT_VIEW_OPS,
    add,
    bool_attr,
    collapse,
    dense_i64s,
    expand,
    extract_slice,
    i64_array,
    is_weight,
    is_zero_fill,
    tensor_type,
    transpose,
    walk_ops,
    weight_of,
)
from imc.transforms.pass_base import ImcPass


def _shape(value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


def _map_results(attr) -> list[str]:
    return [str(e) for e in ir.AffineMapAttr(attr).value.results]


class _Mapper:
    """Rewrites one kind of contraction each; shared helpers keep them short."""

    def __init__(self, opts: "ImcMapContractions", state):
        self.opts = opts
        self.state = state
        self.mapped = 0

    # -- helpers --------------------------------------------------------------
    def contract(self, x, w, *, transpose_weight: bool, kind: str, loc) -> ir.Value:
        """`x @ W` (W = transpose(w) if transpose_weight) for a 2-D input; a
        rank-3 `w` holds the groups of a grouped contraction."""
        groups, (_, n) = grouped_kn(_shape(w), transpose_weight)
        n *= groups
        xt = ir.RankedTensorType(x.type)
        result = tensor_type(list(xt.shape[:-1]) + [n], xt.element_type)
        attributes = {"kind": ir.StringAttr.get(kind), "transpose_weight": bool_attr(transpose_weight)}
        return build(ContractOp, [x, w], attributes, [result], loc=loc).result

    def finish(self, op, rewriter, value, init) -> None:
        """Adds the contraction's initial value (a bias) unless it is zero."""
        loc = op.location
        if not is_zero_fill(init):
            value = add(value, init, loc=loc)
        rewriter.replace_op(op, [value])
        self.mapped += 1

    def _stays(self, op, why: str) -> bool:
        self.state.remark(op, f"'{op.name}' stays on the digital unit: {why}")
        return True  # "did not match"

    # -- patterns -------------------------------------------------------------
    def matmul(self, op, rewriter):
        """linalg.matmul(x, W) -> imc.contract(x, W) (+ init)."""
        op = op.operation
        a, b, init = op.operands[0], op.operands[1], op.operands[2]
        transposed_map = False
        if "indexing_maps" in op.attributes:
            maps = [_map_results(m) for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
            if maps[0] != ["d0", "d2"] or maps[2] != ["d0", "d1"] or maps[1] not in (["d2", "d1"], ["d1", "d2"]):
                return self._stays(op, "unsupported indexing maps")
            transposed_map = maps[1] == ["d1", "d2"]
        w, transposed = weight_of(b)
        kind = "linear" if (transposed or transposed_map) else "matmul"
        with ir.InsertionPoint(op), op.location:
            if w is None:
                if not self.opts.map_activation_matmuls:
                    why = (
                        "the weight is the left operand (only right-hand weights map)"
                        if weight_of(a)[0] is not None
                        else "both operands are activations (set map-activation-matmuls=true to reprogram per call)"
                    )
                    return self._stays(op, why)
                w, transposed = b, False
            value = self.contract(a, w, transpose_weight=transposed != transposed_map, kind=kind, loc=op.location)
            self.finish(op, rewriter, value, init)

    def batch_matmul(self, op, rewriter):
        """linalg.batch_matmul(x, y) -> one imc.contract per batch (option)."""
        op = op.operation
        a, b, init = op.operands[0], op.operands[1], op.operands[2]
        if "indexing_maps" in op.attributes:
            maps = [_map_results(m) for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
            if maps != [["d0", "d1", "d3"], ["d0", "d3", "d2"], ["d0", "d1", "d2"]]:
                return self._stays(op, "unsupported indexing maps")
        if not self.opts.map_activation_matmuls and not is_weight(b):
            return self._stays(op, "both operands are activations (set map-activation-matmuls=true to reprogram per call)")
        batch, m, k = _shape(a)
        n = _shape(b)[2]
        with ir.InsertionPoint(op), op.location:
            loc = op.location
            parts = []
            for i in range(batch):
                xi = collapse(extract_slice(a, [i, 0, 0], [1, m, k], loc=loc), [[0, 1], [2]], loc=loc)
                wi = collapse(extract_slice(b, [i, 0, 0], [1, k, n], loc=loc), [[0, 1], [2]], loc=loc)
                yi = self.contract(xi, wi, transpose_weight=False, kind="batch_matmul", loc=loc)
                parts.append(expand(yi, [1, m, n], [[0, 1], [2]], loc=loc))
            value = parts[0] if batch == 1 else tensor.concat(tensor_type([batch, m, n], ir.RankedTensorType(a.type).element_type), 0, parts, loc=loc)
            self.finish(op, rewriter, value, init)

    def generic(self, op, rewriter):
        """A matmul-shaped linalg.generic (mulf + addf over one reduction) -> imc.contract."""
        op = op.operation
        if len(op.operands) != 3 or len(op.results) != 1:
            return True
        iterators = [str(ir.Attribute(t)) for t in ir.ArrayAttr(op.attributes["iterator_types"])]
        if iterators != ["#linalg.iterator_type<parallel>"] * 2 + ["#linalg.iterator_type<reduction>"]:
            return True
        block = op.regions[0].blocks[0]
        body = list(block.operations)
        if [o.name for o in body] != ["arith.mulf", "arith.addf", "linalg.yield"]:
            return True
        mul, add_, _ = body
        in0, in1, out = block.arguments
        # out + in0 * in1, in either operand order: nothing else is a matmul.
        if {_arg_no(v) for v in mul.operands} != {0, 1} or len(mul.operands) != 2:
            return True
        add_operands = list(add_.operands)
        if not (
            (_arg_no(add_operands[0]) == 2 and add_operands[1] == mul.results[0])
            or (_arg_no(add_operands[1]) == 2 and add_operands[0] == mul.results[0])
        ):
            return True
        maps = [_map_results(m) for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
        if maps[0] != ["d0", "d2"] or maps[2] != ["d0", "d1"] or maps[1] not in (["d2", "d1"], ["d1", "d2"]):
            return True
        w, transposed = weight_of(op.operands[1])
        if w is None:
            return self._stays(op, "the contraction has no weight operand")
        with ir.InsertionPoint(op), op.location:
            value = self.contract(
                op.operands[0], w, transpose_weight=transposed != (maps[1] == ["d1", "d2"]), kind="generic", loc=op.location
            )
            self.finish(op, rewriter, value, op.operands[2])

    def _conv(self, x, w_rows, kernel, strides, dilations, out_spatial, kind, loc):
        """im2col(x) @ w_rows^T -> N*prod(out) x F."""
        xt = ir.RankedTensorType(x.type)
        rows = xt.shape[0]
        for s in out_spatial:
            rows *= s
        cols_t = tensor_type([rows, xt.shape[1] * _prod(kernel)], xt.element_type)
        attributes = {"kernel": i64_array(kernel), "strides": i64_array(strides), "dilations": i64_array(dilations)}
        cols = build(Im2colOp, [x], attributes, [cols_t], loc=loc).result
        return self.contract(cols, w_rows, transpose_weight=True, kind=kind, loc=loc)

    def conv(self, op, rewriter):
        """linalg.conv_{1d_ncw_fcw,2d_nchw_fchw}(x, W) -> im2col + imc.contract + layout."""
        op = op.operation
        x, w, init = op.operands[0], op.operands[1], op.operands[2]
        if not is_weight(w):
            return self._stays(op, "the filter is not a weight")
        spatial = len(_shape(x)) - 2
        ws, out = _shape(w), _shape(init)
        kernel = ws[2:]
        strides = dense_i64s(op, "strides", 1, spatial)
        dilations = dense_i64s(op, "dilations", 1, spatial)
        kind = "conv2d" if spatial == 2 else "conv1d"
        with ir.InsertionPoint(op), op.location:
            loc = op.location
            w_rows = collapse(w, [[0], list(range(1, 2 + spatial))], loc=loc)
            y = self._conv(x, w_rows, kernel, strides, dilations, out[2:], kind, loc)
            y = expand(y, [out[0], *out[2:], out[1]], [list(range(spatial + 1)), [spatial + 1]], loc=loc)
            value = transpose(y, [0, spatial + 1, *range(1, spatial + 1)], loc=loc)
            self.finish(op, rewriter, value, init)

    def _grouped(self, op, rewriter, x, w_groups, kernel, out_spatial, layout) -> None:
        """im2col(x) and one grouped `imc.contract` of its column groups.

        `x` is N x (G*C_g) x spatial (channels group-major), `w_groups` the
        G x F_g x C_g*prod(kernel) filters; `layout(y, loc)` turns the
        N*prod(out) x (G*F_g) result into the op's result layout. im2col
        orders its columns (c, k...), so group g reads the columns
        [g*C_g*prod(kernel), (g+1)*C_g*prod(kernel)): one crossbar read
        computes every group whose block sits on that crossbar."""
        strides = dense_i64s(op, "strides", 1, len(kernel))
        dilations = dense_i64s(op, "dilations", 1, len(kernel))
        with ir.InsertionPoint(op), op.location:
            loc = op.location
            y = self._conv(x, w_groups, kernel, strides, dilations, out_spatial, "conv2d", loc)
            self.finish(op, rewriter, layout(y, loc), op.operands[2])

    def grouped_conv(self, op, rewriter):
        """linalg.conv_2d_ngchw_gfchw -> im2col + one grouped imc.contract."""
        op = op.operation
        x, w, init = op.operands[0], op.operands[1], op.operands[2]
        if not is_weight(w) and not _is_slice_of_weight(w):
            return self._stays(op, "the filter is not a weight")
        n, g, _, _, _ = _shape(x)
        _, fg, _, _, _ = _shape(w)
        kernel = _shape(w)[3:]
        out = _shape(init)
        with ir.InsertionPoint(op), op.location:
            loc = op.location
            xs = collapse(x, [[0], [1, 2], [3], [4]], loc=loc)
            ws = collapse(w, [[0], [1], [2, 3, 4]], loc=loc)

        def layout(y, loc):
            y = expand(y, [n, out[3], out[4], g, fg], [[0, 1, 2], [3, 4]], loc=loc)
            return transpose(y, [0, 3, 4, 1, 2], loc=loc)

        self._grouped(op, rewriter, xs, ws, kernel, out[3:], layout)

    def depthwise_conv(self, op, rewriter):
        """linalg.depthwise_conv_2d_nchw_chw -> im2col + one grouped imc.contract
        (a group per channel)."""
        op = op.operation
        x, w, init = op.operands[0], op.operands[1], op.operands[2]
        if not is_weight(w):
            return self._stays(op, "the filter is not a weight")
        n, c, _, _ = _shape(x)
        _, kh, kw = _shape(w)
        out = _shape(init)
        with ir.InsertionPoint(op), op.location:
            ws = expand(collapse(w, [[0], [1, 2]], loc=op.location), [c, 1, kh * kw], [[0], [1, 2]], loc=op.location)

        def layout(y, loc):
            y = expand(y, [n, out[2], out[3], c], [[0, 1, 2], [3]], loc=loc)
            return transpose(y, [0, 3, 1, 2], loc=loc)

        self._grouped(op, rewriter, x, ws, [kh, kw], out[2:], layout)


def _on_tensors(pattern):
    """`pattern`, guarded: an op on memrefs (bufferized or placed IR) is left
    alone, since contractions are mapped on tensors only."""

    def apply(op, rewriter):
        if not all(isinstance(v.type, ir.RankedTensorType) for v in op.operation.operands):
            return True  # did not match
        return pattern(op, rewriter)

    return apply


def _arg_no(value) -> int | None:
    """The block argument number of `value`, or None if an op defines it."""
    if isinstance(value.owner, ir.Block):
        return ir.BlockArgument(value).arg_number
    return None


def _prod(values) -> int:
    p = 1
    for v in values:
        p *= v
    return p


def _is_slice_of_weight(value) -> bool:
    owner = value.owner
    if isinstance(owner, ir.Block):
        return False
    op = owner.operation if hasattr(owner, "operation") else owner
    return op.name in WEIGHT_VIEW_OPS and is_weight(op.operands[0])


@dataclass(frozen=True)
class ImcMapContractions(ImcPass):
    """Maps weight-stationary linalg contractions onto `imc.contract`.

    Expects linalg-on-tensors (as imported from PyTorch). Rewrites
    `linalg.matmul` whose right operand is a weight (an `arith.constant`, a
    function argument marked `imc.weight`, or `linalg.transpose` of one, as
    `nn.Linear` imports), matmul-shaped `linalg.generic`, and convolutions
    (`conv_1d_ncw_fcw`, `conv_2d_nchw_fchw`, grouped `conv_2d_ngchw_gfchw`,
    depthwise `depthwise_conv_2d_nchw_chw`) through `imc.im2col` into one
    `imc.contract` per weight (grouped and depthwise convolutions: one
    grouped contract, its weight G x F_g x K_g, that `imc-tile` lays out as
    diagonal blocks). A
    non-zero initial value (a bias) is added by a `linalg.add`. Weights are
    never copied: the contract's weight operand is the constant itself or a
    reshape/slice of it. Contractions of two activations (attention's QK^T
    and AV) stay on the digital unit unless `map-activation-matmuls=true`,
    which maps them with the right operand reprogrammed on every call.
    Every contraction left unmapped gets a remark, and a summary remark lists
    the op kinds left for the digital unit.

    Docs: docs/dialect.md (`imc.contract`, `imc.im2col`); docs/interpreter.md ("Grouped and depthwise convolutions").
    """

    name = "imc-map-contractions"
    summary = "Map weight-stationary linalg contractions (matmul, linear, conv via im2col) to imc.contract"

    map_activation_matmuls: bool = field(
        default=False, metadata={"help": "also map activation x activation matmuls, reprogramming per call"}
    )

    def run(self, module, state) -> None:
        mapper = _Mapper(self, state)
        patterns = RewritePatternSet()
        patterns.add("linalg.matmul", _on_tensors(mapper.matmul))
        patterns.add("linalg.batch_matmul", _on_tensors(mapper.batch_matmul))
        patterns.add("linalg.generic", _on_tensors(mapper.generic))
        patterns.add("linalg.conv_1d_ncw_fcw", _on_tensors(mapper.conv))
        patterns.add("linalg.conv_2d_nchw_fchw", _on_tensors(mapper.conv))
        patterns.add("linalg.conv_2d_ngchw_gfchw", _on_tensors(mapper.grouped_conv))
        patterns.add("linalg.depthwise_conv_2d_nchw_chw", _on_tensors(mapper.depthwise_conv))
        apply_partial_conversion(module.operation, _mapped_target(), patterns.freeze())
        _erase_dead_weight_views(module)
        self._summarize(module, state, mapper.mapped)

    @staticmethod
    def _summarize(module, state, mapped: int) -> None:
        counts: dict[str, int] = {}

        for func in walk_ops(module, {"func.func"}):
            for block in func.regions[0].blocks:
                for op in block.operations:
                    name = op.operation.name
                    if name.split(".")[0] in ("linalg", "tensor", "arith", "math") and name != "arith.constant":
                        counts[name] = counts.get(name, 0) + 1
        left = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
        state.remark(module, f"mapped {mapped} contractions to crossbars; left for the digital unit: {left or 'nothing'}")


def _mapped_target() -> ConversionTarget:
    """`imc.contract` and `imc.im2col` are legal; every other op is left to
    the patterns and stays as it is where none maps it (a partial
    conversion: nothing is illegal)."""
    target = ConversionTarget()
    target.add_legal_op(ContractOp, Im2colOp)
    return target


def _erase_dead_weight_views(module) -> None:
    """Erases transposes/reshapes of weights that the mapping left unused."""
    for op in reversed(walk_ops(module, {"linalg.transpose", "linalg.fill", "tensor.collapse_shape", "tensor.expand_shape", "tensor.empty"})):
        if all(not list(r.uses) for r in op.results):
            op.erase()
