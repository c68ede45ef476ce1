"""`imc-tile-rows`: tile convolution stages over their output rows."""

from dataclasses import dataclass, field

from torch_mlir import ir, passmanager
from torch_mlir.dialects import tensor

from imc.dialects.imc import element_bytes
from imc.ir_utils import find_entry
from imc.pipeline import ImcPass, PassFailure
from imc.placement import stage_program

CONVS = ("linalg.conv_2d_nchw_fchw", "linalg.conv_2d_ngchw_gfchw", "linalg.depthwise_conv_2d_nchw_chw")
ROOT_ATTR = "imc.tile_root"

# One section per stage k: tile its root over output rows (dimension 2 of an
# N x C x H x W result) and fuse producers greedily. Fusion stops at the
# `tensor.cast` barriers put on the stage's inputs (removed afterwards by
# canonicalize), so no op of another stage is pulled into the loop.
_SEQUENCE = """
module attributes {{transform.with_named_sequence}} {{
  transform.named_sequence @__transform_main(%root: !transform.any_op {{transform.readonly}}) {{
{body}    transform.yield
  }}
}}
"""
_TILE = """    %op{k} = transform.structured.match attributes{{{root} = {k} : i64}} in %root : (!transform.any_op) -> !transform.any_op
    %tiled{k}, %loop{k} = transform.structured.fuse %op{k} tile_sizes [0, 0, {rows}, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
"""


def _shape(value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


def _nbytes(value) -> int:
    t = ir.RankedTensorType(value.type)
    n = 1
    for d in t.shape:
        n *= d
    return n * element_bytes(t.element_type)


def _is_elementwise(op) -> bool:
    """A `linalg.generic` with only parallel loops and identity-or-broadcast maps."""
    if op.name != "linalg.generic":
        return False
    its = [str(a) for a in op.attributes["iterator_types"]]
    return all("parallel" in a for a in its) and len(op.results) == 1


def _single_user(value):
    uses = list(value.uses)
    return uses[0].owner.operation if len(uses) == 1 else None


@dataclass
class _Stage:
    conv: ir.Operation
    ops: list  # the stage's ops: producers of the root among them move into the loop
    root: ir.Operation
    input: ir.Value  # what the stage reads from outside (the first producer's input)
    rows: int = 0


@dataclass
class ImcTileRows(ImcPass):
    """Tiles each convolution stage whose working set exceeds the scratchpad
    over its output rows (an `scf.for` computing `rows` output rows per
    iteration).

    Input: linalg-on-tensors (before `imc-map-to-crossbars`). A *stage* is a
    2-D NCHW convolution, its producers that feed only it (`tensor.pad`,
    elementwise `linalg.generic`s; nearest first, up to the first other op),
    and its chain of elementwise consumers of the same N x C x H x W shape,
    each the single user of the previous one (bias, batch norm, ReLU, a
    residual add: other operands are sliced per tile). The last consumer is
    the root. The working set is the stage input's bytes plus the root's;
    when it exceeds the scratchpad, the root is tiled over output rows with
    `transform.structured.tile_using_for` and the producers fused into the
    loop (`fuse_into_containing_op`), so each iteration reads the input rows
    its output rows need: `(rows - 1) * stride + (kernel - 1) * dilation + 1`
    rows, that is the tile plus the (K-1)-row halo (padding rows at the
    borders are produced inside the loop). `rows` is the largest divisor of
    the output height whose slab plus output rows fit the scratchpad, or the
    option `rows` when set.

    Output: the same computation; affine index arithmetic is lowered to
    `arith`. Each tiled stage gets a remark: rows per tile, slab bytes and the
    halo rows read again per tile. The loop reads the halo rows of every tile
    from the stage input again: keeping them on chip across iterations is
    the job of buffer placement, which does not handle tiled stages yet
    (`imc-place-buffers` rejects them).
    """

    name = "imc-tile-rows"
    summary = "Tile convolution stages that do not fit the scratchpad over output rows (with the halo)"

    rows: int = field(default=0, metadata={"help": "output rows per tile (0: the most that fit the scratchpad)"})
    entry: str = field(default="", metadata={"help": "function to tile (default: @main, else the only function)"})

    def run(self, module, state) -> None:
        try:
            func = find_entry(module, self.entry)
        except ValueError as e:
            state.error(module, f"{e} to tile")
            raise PassFailure() from None
        if self.rows < 0:
            state.error(module, f"option rows = {self.rows} must be >= 0")
            raise PassFailure()
        capacity = state.hardware.spad_bytes
        stages = []
        for st in stage_program(func).stages:
            convs = [op for op in st.ops if op.name in CONVS]
            if len(convs) == 1:
                stage = self._stage(convs[0], st.ops)
                if stage is not None:
                    stages.append(stage)
        tiled = []
        for stage in stages:
            rows, slab, out = self._choose_rows(stage, capacity)
            oh = _shape(stage.root.results[0])[2]
            if rows >= oh:
                continue
            stage.rows = rows
            tiled.append(stage)
            halo = _slab_rows(stage.conv, rows) - rows * _strides(stage.conv)[0]
            fits = "" if slab + out <= capacity else f"; does not fit even so ({slab + out:,} B > {capacity:,} B)"
            state.remark(
                stage.conv.location,
                f"tiled over output rows: {oh // rows} tiles of {rows} rows; input slab {slab:,} B "
                f"({_slab_rows(stage.conv, rows)} rows, halo {max(halo, 0)}), output tile {out:,} B{fits}",
            )
        if tiled:
            self._tile(module, tiled)

    # -- stage discovery --------------------------------------------------------
    def _stage(self, conv, ops) -> _Stage | None:
        """The tiling of `conv`'s stage (`ops`, from `imc.placement`), or None."""
        inside = set(ops)
        value = conv.operands[0]  # walk back to the input the conv's rows come from
        while not isinstance(value.owner, ir.Block) and value.owner.operation in inside:
            op = value.owner.operation
            if op.name != "tensor.pad" and not _is_elementwise(op):
                break
            value = op.operands[0]
        chain = [conv]  # conv, then its elementwise consumers in the stage
        shape = _shape(conv.results[0])
        if len(shape) != 4:
            return None
        while True:
            user = _single_user(chain[-1].results[0])
            if user is None or user not in inside or not _is_elementwise(user) or _shape(user.results[0]) != shape:
                break
            chain.append(user)
        return _Stage(conv, list(ops), chain[-1], value)

    def _choose_rows(self, stage: _Stage, capacity: int) -> tuple[int, int, int]:
        """(rows, slab bytes, output tile bytes) for this stage."""
        conv = stage.conv
        n, _, oh, ow = _shape(stage.root.results[0])
        in_shape = _shape(conv.operands[0])  # padded input
        per_in_row = n * in_shape[1] * in_shape[3] * element_bytes(ir.RankedTensorType(stage.input.type).element_type)
        per_out_row = _nbytes(stage.root.results[0]) // oh

        def cost(r):
            return _slab_rows(conv, r) * per_in_row, r * per_out_row

        if self.rows:
            r = min(self.rows, oh)
            return (r, *cost(r))
        whole_in = _nbytes(stage.input)
        if whole_in + _nbytes(stage.root.results[0]) <= capacity:
            return (oh, whole_in, _nbytes(stage.root.results[0]))
        best = 1
        for r in range(1, oh + 1):
            if oh % r == 0 and sum(cost(r)) <= capacity:
                best = r
        return (best, *cost(best))

    # -- rewriting ----------------------------------------------------------------
    def _tile(self, module, stages: list[_Stage]) -> None:
        """Tags each stage's root, fences its inputs, applies one transform script."""
        i64 = ir.IntegerType.get_signless(64)
        body = []
        for k, stage in enumerate(stages):
            stage.root.attributes[ROOT_ATTR] = ir.IntegerAttr.get(i64, k)
            body.append(_TILE.format(k=k, root=ROOT_ATTR, rows=stage.rows))
            _fence_inputs(stage.ops)
        script = ir.Module.parse(_SEQUENCE.format(body="".join(body)))
        module.attributes["transform.with_named_sequence"] = ir.UnitAttr.get()
        with ir.InsertionPoint(module.regions[0].blocks[0]):
            clone = script.body.operations[0].clone()
        try:
            passmanager.PassManager.parse("builtin.module(transform-interpreter,canonicalize,cse,lower-affine,canonicalize,cse)").run(
                module
            )
        finally:
            clone.operation.erase()
            del module.attributes["transform.with_named_sequence"]
        for op in _walk(module):
            if ROOT_ATTR in op.attributes:
                del op.attributes[ROOT_ATTR]


def _fence_inputs(ops) -> None:
    """Routes every operand of `ops` produced outside them (other than by a
    constant or `tensor.empty`) through a same-type `tensor.cast`."""
    inside = set(ops)  # (hashes change when operands do: decide everything first)
    fences = []
    for op in ops:
        for i, v in enumerate(list(op.operands)):
            owner = v.owner
            if isinstance(owner, ir.Block) or not isinstance(v.type, ir.RankedTensorType):
                continue
            owner = owner.operation
            if owner not in inside and owner.name not in ("arith.constant", "tensor.empty"):
                fences.append((op, i, v))
    for op, i, v in fences:
        with ir.InsertionPoint(op), op.location:
            cast = tensor.CastOp(v.type, v)
        op.operands[i] = cast.result


def _strides(conv) -> list[int]:
    if "strides" not in conv.attributes:
        return [1, 1]
    return [int(v) for v in ir.DenseIntElementsAttr(conv.attributes["strides"])]


def _dilations(conv) -> list[int]:
    if "dilations" not in conv.attributes:
        return [1, 1]
    return [int(v) for v in ir.DenseIntElementsAttr(conv.attributes["dilations"])]


def _slab_rows(conv, rows: int) -> int:
    """Input rows (of the padded input) that `rows` output rows read."""
    kh = _shape(conv.operands[1])[-2]
    return (rows - 1) * _strides(conv)[0] + (kh - 1) * _dilations(conv)[0] + 1


def _top_level(func):
    return [op.operation for op in func.regions[0].blocks[0].operations]


def _walk(module):
    out = []

    def visit(op):
        out.append(op)
        return ir.WalkResult.ADVANCE

    module.walk(visit)
    return out
