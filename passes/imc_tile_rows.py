"""`imc-tile-rows`: tile convolution stages over their output rows."""

from dataclasses import dataclass, field

from torch_mlir import ir, passmanager
from torch_mlir.dialects import tensor

from imc.dialects.imc import element_bytes
from imc.ir_utils import dense_i64s, find_entry, find_nested
from imc.pipeline import ImcPass, PassFailure
from imc.placement import is_elementwise, stage_program, tensor_bytes

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


def _single_user(value):
    uses = list(value.uses)
    return uses[0].owner.operation if len(uses) == 1 else None


@dataclass
class _Stage:
    conv: ir.Operation
    ops: list  # the stage's ops: the root's producers among them move into the loop
    root: ir.Operation
    input: ir.Value  # what the stage reads from outside (the first producer's input)
    rows: int = 0


@dataclass
class ImcTileRows(ImcPass):
    """Tiles each convolution stage whose working set exceeds the scratchpad
    over its output rows (an `scf.for` computing `rows` output rows per
    iteration).

    Input: linalg-on-tensors (before `imc-map-to-crossbars`). A *stage* is
    an `imc.placement` stage with one 2-D NCHW convolution: the conv, its pad
    and elementwise prologue, and its elementwise consumers of the same
    N x C x H x W shape, each the single user of the previous one (bias,
    batch norm, ReLU, a residual add: other operands are sliced per tile);
    the last consumer is the root. The working set is the stage input's
    bytes plus the root's; when it exceeds the scratchpad, the root is tiled
    over output rows with `transform.structured.fuse` and its producers in
    the stage are fused into the loop (`tensor.cast` fences on the stage's
    inputs keep other stages out; canonicalize removes them), so each trip
    reads the input rows its output rows need: `(rows - 1) * stride +
    (kernel - 1) * dilation + 1` rows, the tile plus the (K-1)-row halo
    (padding rows at the borders are produced inside the loop). `rows` is the
    largest divisor of the output height whose slab plus output rows fit a
    quarter of the scratchpad (the rest holds the tensors live across the
    stage; `imc-place-buffers` reserves the slabs at that stage), at least 1,
    or the option `rows` when set.

    Output: the same computation; affine index arithmetic is lowered to
    `arith`, and each loop carries its conv's location (the stage keeps the
    conv's layer name). Each tiled stage gets a remark: tiles, slab bytes and
    rows, the halo. The loop reads the halo rows of every trip from the stage
    input again; `imc-place-buffers` streams the rows from DRAM through a
    slab that keeps them on chip.
    """

    name = "imc-tile-rows"
    summary = "Tile convolution stages that do not fit the scratchpad over output rows (with the halo)"

    rows: int = field(default=0, metadata={"help": "output rows per tile (0: the most whose slab and output fit a quarter of the scratchpad)"})
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
            halo = _slab_rows(stage.conv, rows) - rows * dense_i64s(stage.conv, "strides", 1, 2)[0]
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
            if op.name != "tensor.pad" and not is_elementwise(op):
                break
            value = op.operands[0]
        chain = [conv]  # conv, then its elementwise consumers in the stage
        shape = _shape(conv.results[0])
        if len(shape) != 4:
            return None
        while True:
            user = _single_user(chain[-1].results[0])
            if user is None or user not in inside or not is_elementwise(user) or _shape(user.results[0]) != shape:
                break
            chain.append(user)
        return _Stage(conv, list(ops), chain[-1], value)

    def _choose_rows(self, stage: _Stage, capacity: int) -> tuple[int, int, int]:
        """(rows, slab bytes, output tile bytes) for this stage."""
        conv = stage.conv
        n, _, oh, ow = _shape(stage.root.results[0])
        in_shape = _shape(conv.operands[0])  # padded input
        per_in_row = n * in_shape[1] * in_shape[3] * element_bytes(ir.RankedTensorType(stage.input.type).element_type)
        per_out_row = tensor_bytes(stage.root.results[0].type) // oh

        def cost(r):
            return _slab_rows(conv, r) * per_in_row, r * per_out_row

        if self.rows:
            r = min(self.rows, oh)
            return (r, *cost(r))
        whole_in = tensor_bytes(stage.input.type)
        if whole_in + tensor_bytes(stage.root.results[0].type) <= capacity:
            return (oh, whole_in, tensor_bytes(stage.root.results[0].type))
        best = 1
        budget = capacity // 4  # the rest: tensors that live across the stage
        for r in range(1, oh + 1):
            if oh % r == 0 and sum(cost(r)) <= budget:
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
        def untag(op):
            if ROOT_ATTR in op.attributes:
                del op.attributes[ROOT_ATTR]
            return ir.WalkResult.ADVANCE

        module.walk(untag)
        _name_loops(module)


def _name_loops(module) -> None:
    """Gives each tiling loop its convolution's location, so that the stage
    is reported (and kept apart from its neighbours) under the conv's layer,
    as untiled, and not under its root's (often a ReLU module shared by
    several layers)."""
    for func in module.regions[0].blocks[0].operations:
        for region in func.operation.regions:
            for block in region.blocks:
                for op in block.operations:
                    op = op.operation
                    if op.name != "scf.for":
                        continue
                    conv = find_nested(op, lambda o: o.name in CONVS)
                    if conv is not None:
                        op.location = conv.location


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


def _slab_rows(conv, rows: int) -> int:
    """Input rows (of the padded input) that `rows` output rows read."""
    kh = _shape(conv.operands[1])[-2]
    stride, dilation = dense_i64s(conv, "strides", 1, 2)[0], dense_i64s(conv, "dilations", 1, 2)[0]
    return (rows - 1) * stride + (kh - 1) * dilation + 1
