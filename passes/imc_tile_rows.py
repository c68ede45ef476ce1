"""`imc-tile-rows`: tile convolution and matmul stages over their output rows."""

from dataclasses import dataclass, field

from torch_mlir import ir, passmanager
from torch_mlir.dialects import bufferization, tensor

from imc.dialects.imc import stored_element_bytes
from imc.ir.utils import (
    RESHAPE_OPS,
    constant_init,
    defining_op,
    dense_i64s,
    find_entry,
    find_nested,
    layer_name,
    ops_with_attribute,
    single_user,
    weight_of,
)
from imc.transforms.loop_chain import chain_loops, plan_chain, plan_edge
from imc.transforms.line_buffer import WindowFusion, fuse_row_local, fuse_window, plan_window_fusion, row_local_chain
from imc.transforms.pass_base import ImcPass, PassFailure
from imc.transforms.placement import is_elementwise, live_bytes, stage_program, tensor_bytes
from imc.transforms.row_attention import AttentionRows, attention_rows
from imc.transforms.row_epilogue import fuse_epilogue, row_local_epilogue, row_operands, skip_branch
from imc.transforms.row_prologue import RowPrologue, row_prologue, squeeze
from imc.transforms.row_reduction import fold_reduction, plan_reduction

CONVS = ("linalg.conv_2d_nchw_fchw", "linalg.conv_2d_ngchw_gfchw", "linalg.depthwise_conv_2d_nchw_chw")
MATMUL = "linalg.matmul"
ROOT_ATTR = "imc.tile_root"
WINDOW_ATTR = "imc.fuse_window"
CHAIN_ATTR = "imc.fuse_rows"
FENCE_ATTR = "imc.fence"

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
    %tiled{k}, %loop{k} = transform.structured.fuse %op{k} tile_sizes [{sizes}]{cleanup}
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
"""


def _dims(t) -> str:
    """A shaped type's shape as `1x4x16x16`."""
    return "x".join(map(str, t.shape))


def _shape(value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


@dataclass
class _Stage:
    anchor: ir.Operation  # the stage's convolution or matmul (the loop's location)
    ops: list  # the stage's ops: the root's producers among them move into the loop
    root: ir.Operation
    input: ir.Value  # what the stage reads from outside (the first producer's input)
    rows: int = 0
    row_dim: int = 2  # the root's dimension tiled (2: NCHW conv; 1 or 0: matmul)
    window: WindowFusion | None = None  # the pooling or conv fused after the root (`line-buffers`)
    live: int = 0  # bytes of the stored tensors live at the stage (before tiling)
    chain: ir.Operation | None = None  # a 1x1 conv after the window consumer, run in the loop too
    fence: list = field(default_factory=list)  # ops whose outside operands are fenced
    hidden: ir.Value | None = None  # a matmul chain's first result, read by its second matmul
    chained: ir.Operation | None = None  # a matmul chain's second matmul
    attention: AttentionRows | None = None  # the attention a query-row stage runs (keys and values whole)
    prologue: RowPrologue | None = None  # a chain's row-local prologue (a LayerNorm), run on each trip's input rows
    feeds: "_Stage | None" = None  # the attention whose keys or values (or their input) this stage computes

    @property
    def matmul(self) -> bool:
        return self.anchor.name == MATMUL

    @property
    def row_local(self) -> bool:
        """A row-local stage tiled alone (a LayerNorm: no convolution or matmul)."""
        return self.anchor.name not in CONVS and not self.matmul

    @property
    def out(self) -> ir.Value:
        """The tensor the stage produces (the fused consumer's result)."""
        return (self.window.consumer if self.window is not None else self.root).results[0]

    def conv_rows(self, rows: int) -> int:
        """Conv (root) rows of a tile of `rows` output rows."""
        return self.window.conv_rows(rows) if self.window is not None else rows

    def slab_rows(self, rows: int) -> int:
        """Input rows (of the conv's padded input) that `rows` output rows read."""
        return _slab_rows(self.anchor, self.conv_rows(rows))

    def input_stride(self) -> int:
        """Input rows between the first rows of consecutive tiles' rows, per output row."""
        return dense_i64s(self.anchor, "strides", 1, 2)[0] * self.conv_rows(1)

    def tile_sizes(self) -> str:
        sizes = [0] * len(_shape(self.root.results[0]))
        sizes[self.row_dim] = self.rows
        return ", ".join(map(str, sizes))


@dataclass(frozen=True)
class ImcTileRows(ImcPass):
    """Tiles each convolution stage whose working set exceeds the scratchpad
    over its output rows (an `scf.for` computing `rows` output rows per
    iteration).

    Input: linalg-on-tensors (before `imc-map-to-crossbars`). A *stage* is
    an `imc.transforms.placement` stage with one 2-D NCHW convolution: the conv, its pad
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
    (padding rows at the borders are produced inside the loop), at the
    input's whole width (a strided conv that leaves the last columns unread
    still reads whole rows: a row window, `imc.transforms.row_slabs`). `rows` is the
    largest divisor of the output height whose slab plus output rows fit
    what the stored tensors live across the stage (`imc.transforms.placement`, before
    tiling) and a staging buffer of 1/16 of the scratchpad leave, and at
    least a quarter of the scratchpad (`imc-place-buffers` reserves the slabs
    at that stage); at least 1, or the option `rows` when set. Without
    `rows`, a stage whose slab and output rows even so take more than 15/16
    of the scratchpad (what `imc-place-buffers`' default staging buffer
    leaves) is left untiled, with a remark: its slabs and the staging buffer
    could not both fit.

    With `fit-rows=N` (`imc-tiled`: 4) and without `rows`, a stage whose
    input and output fit the scratchpad together is tiled too, in tiles of
    at most `N` rows (for a conv stage the most that divide its rows, and no
    more than the rule above gives a fused stage), so that on the chip's
    timeline a layer starts on the first rows of the one before instead of
    waiting for its whole output; the same holds for the matmul stages,
    chains and attentions below. A stage that does not fit keeps the rows
    the capacity gives it, as without the option: the DRAM bytes are those
    of the capacity's choice. Nor is a stage tiled for overlap when the
    crossbar tiles of its convolutions or matmuls need more crossbars than
    the chip has: its loop would program them again on every trip.

    With the option `matmuls`, a *matmul stage* is a stage without a conv
    and with exactly one 2-D `linalg.matmul` whose B is a weight (or its
    transpose: a torch Linear):
    the matmul, its elementwise consumers in the stage (bias, GELU, ReLU, a
    residual add), each the single user of the previous one, through one
    `tensor.expand_shape` [M, N] -> [1, M, N]; the last is the root. Its
    input is the value the matmul's A comes from through reshapes (the
    [1, M, K] activation a torch Linear collapses) and elementwise prologue
    ops. When the input's bytes plus the root's exceed the scratchpad, the
    root is tiled over its rows (dimension 1 of [1, M, N], 0 of [M, N])
    with `transform.structured.fuse {apply_cleanup}`, which fuses through
    the reshapes (they are inside the fence): each trip reads rows
    `[lo, lo + rows)` of the input (no halo) and computes the matmul, bias
    and consumers on them. `rows` is the largest divisor of M whose input
    plus output rows fit a quarter of the scratchpad, at least 1, or the
    option `rows`. It is an option, off in `imc-tiled`, because the tiled
    stages still move more bytes than untiled ones: every stage that reads
    a model input streams it (a residual reads it again), and the row
    slabs take scratchpad (`imc-place-buffers` keeps an on-chip prefix of
    row tiles of the [1, M, K] tensors between them).

    With `matmul-chains` (the default), two consecutive matmul stages where
    the second's input is the first's result and nothing else reads it (a
    transformer's feed-forward block: Linear, GELU, Linear, residual) are
    one stage: the first's input, the second's root, tiled over rows as
    above with the first's result rows (the hidden rows) counted in each
    trip's bytes. Each trip computes its hidden rows and the second matmul
    reads them at once, so the hidden tensor is never stored whole. Such a
    chain is tiled when its input, hidden and output tensors together
    exceed the scratchpad, and not built when the two weights need more
    crossbar tiles than the chip has (the loop would reprogram them on every
    trip); single matmul stages are tiled only with `matmuls`.

    With `prologues` (the default, with `matmul-chains`), when only the
    chain reads its input and a row-local stage computes it
    (`imc.transforms.row_prologue`: BERT's LayerNorm after the attention,
    per-row sums over the features and elementwise ops), the stage runs in
    the chain's loop too: each trip reads its rows of the stage's input (the
    attention loop's result) and normalises them, and the first matmul and
    the residual add read those rows; the normalised tensor is never stored,
    and a trip waits only for its own input rows. The trip's normalised rows
    count in its bytes like the hidden rows (and in the whole tensors that
    decide whether the chain is tiled).

    With `attention` (the default), a self-attention (`imc.transforms.row_attention`:
    a stage with a scores and a context batch matmul between a query
    projection and an output projection) runs in one loop over query rows,
    from the query projection to the output projection's consumers (the
    residual add): each trip projects its rows, computes their scores,
    softmax and context and projects them out, so the queries, scores and
    context are never stored whole. The keys and values are computed
    before the loop (their transposes right after their projections, so
    they are stored transposed only) and read whole by every trip:
    `imc-place-buffers` keeps them whole on chip. The rows are the most
    that divide the tokens and whose input, output, queries, context,
    scores and probabilities fit what the scratchpad leaves beside the
    keys and values, a staging buffer of 1/16 of it and the tensors live
    across the attention, and at most a quarter of it (or the option
    `rows`); the attention is left as it is when all its tensors fit the
    scratchpad, or, with a remark, when not even one row fits.

    With `key-value-rows` (the default, with `attention`), when the
    attention's input comes row by row from a loop, its key and value
    projections and the row-local stage before them (the previous layer's
    output LayerNorm, `imc.transforms.row_prologue`, which the projections
    and the attention's loop read) run over the attention's query-row tiles
    too, each in a loop of its own: the stage's loop normalises the rows
    the loop before it has written, and the projections' loops project them,
    so that on the chip's timeline they follow the layer before row by row
    instead of waiting for its last trip (the attention still waits for
    their last rows). Their tensors are stored as before. When the input
    exists whole (a model input, a stage run whole), they run whole: their
    rows can then be split between copies on spare crossbars, which a loop's
    few rows per trip cannot.

    With `line-buffers` (the default), an NCHW pooling or convolution
    (`imc.transforms.line_buffer.WINDOW_OPS`: e.g. ResNet's max pooling, a MobileNet
    stride-2 depthwise conv) that alone reads a tiled conv stage's root
    (through one constant `tensor.pad`) moves into the stage's loop when it
    can without recomputation (`imc.transforms.line_buffer`): the loop computes `R * s`
    rows per trip (`s` the consumer's row stride) and applies the consumer
    to them and the `p` rows before them (`p` its top padding), which it
    carries from trip to trip in a line buffer (an iteration argument); it
    yields the consumer's result, so the stage's output is never stored
    whole. A stride-1 consumer with "same" padding (a 3x3 conv with padding
    1) runs `p` rows behind, its last rows on the last trip (the first
    trip's `p` rows above the output are trimmed off). The consumer's own
    elementwise consumers stay after the loop (in its stage), except a
    residual block's: with `epilogues` (the default) its batch norm, the
    add of the skip branch and the ReLU run on each row tile before it is
    inserted (`imc.transforms.row_epilogue`), the skip branch's rows taken from the
    rows the trip's convolution reads (the block's own input) or from one
    row window of it per trip; the block's output then leaves the loop row
    by row, and the next block can start on its first rows. A downsample
    branch (a 1x1 convolution, of the first convolution's stride, of the
    block's input, and its elementwise ops) then runs in the loop as well
    instead of as a stage of its own: each trip computes its rows from the
    input rows the first convolution reads and keeps the `lag` rows the
    next trip adds in a line buffer (`imc.transforms.row_epilogue`), so the branch's
    output is never stored either. `R` is
    chosen as above for the consumer's rows, and the stage is tiled even
    when its whole tensors fit. A consumer moved into a loop is not tiled
    on its own, and a lagging pair gives way when its consumer has a
    lag-free pair of its own, except when that pair's reader is a 1x1
    stride-1 convolution (a MobileNet projection after its depthwise conv):
    then the chain runs in one loop, lagging or not
    (`imc.transforms.line_buffer.fuse_row_local`): each trip also applies the
    consumer's elementwise ops and that convolution to the consumer's rows,
    and yields the convolution's rows. Longer chains are not built.

    With `chain-loops` (default on), a run of fused loops, each reading the
    output of the one before only in its row windows (padded, as tiling a
    "same" convolution builds them: a ResNet block after a block of its
    shape or of stride 2; or plain slices of the rows its trip stands for:
    a MobileNet block after the stem's loop), runs as one software pipeline
    while those outputs are larger than the scratchpad
    (`imc.transforms.loop_chain`): each loop's trips a few trips behind the
    loop before, fed by a line buffer of its output's last rows, which is
    never stored whole, several trips of a loop per trip of the pipeline
    where the loops' trip counts differ. A run that cannot be built loses
    its last loops until it can. The first loop's input rows pass from
    phase to phase (none is loaded twice); an output that fits stays apart
    (stored whole it need not leave the chip, and chained it would add line
    buffers and copies of the loops' bodies).

    With `fold-pooling` (default on), a row loop whose output only a global
    pooling reads (a sum over its rows and columns into N x C x 1 x 1, as
    torch's adaptive average pooling imports, or a maximum) carries the
    pooled value instead (`imc.transforms.row_reduction`): each trip reduces
    the rows it makes into it (a lagging loop's last trip also its last
    rows), so the output is never assembled or stored (MobileNetV2's last
    1x1 convolution, ResNet's last block).

    Output: the same computation; affine index arithmetic is lowered to
    `arith`, and each loop carries its conv's (matmul's) location (the stage
    keeps that layer's name). Each tiled stage gets a remark: tiles, slab bytes and
    rows, the halo. The loop reads the halo rows of every trip from the stage
    input again; `imc-place-buffers` streams the rows from DRAM through a
    slab that keeps them on chip.

    Docs: docs/analysis.md ("Buffer placement": `imc-tile-rows`, line buffers, two fused loops in a row).
    """

    name = "imc-tile-rows"
    summary = (
        "Tile convolution stages that do not fit the scratchpad over output rows (with the halo; a pooling or conv "
        "reading one, and a 1x1 conv after it, run in its loop through a line buffer; with fit-rows also those that fit, "
        "so that layers overlap), two linears in a row in one loop "
        "(matmul-chains) with the LayerNorm before them on each trip's rows (prologues), a self-attention over query "
        "rows (attention) with its key and value projections and the LayerNorm before them over the same rows when "
        "their input comes row by row (key-value-rows), a global pooling reduced trip by trip in the loop of the stage "
        "it reads (fold-pooling), and single matmul stages with matmuls=true"
    )

    rows: int = field(
        default=0,
        metadata={
            "help": "output rows per tile, at most (the most that divide a stage's rows into equal tiles; every conv stage is then tiled, also one whose tensors fit: layers overlap row by row; 0: only stages that do not fit, with the most rows whose slab and output fit beside the tensors live across the stage)",
            "range": (0, 1 << 31),
        },
    )
    fit_rows: int = field(
        default=0,
        metadata={
            "help": "without rows: output rows per tile, at most, of a stage whose tensors fit the scratchpad and whose weight tiles fit the crossbars (tiled so that layers overlap row by row; stages that do not fit take the most rows that fit; 0: a stage that fits is not tiled)",
            "range": (0, 1 << 31),
        },
    )
    matmuls: bool = field(
        default=False,
        metadata={"help": "also tile matmul stages over rows (more DRAM traffic than untiled: a model input read by two stages is streamed twice)"},
    )
    matmul_chains: bool = field(
        default=True,
        metadata={"help": "run a matmul stage that reads only the result of the matmul stage before it in that stage's loop (a transformer's feed-forward block: its hidden activations are never stored whole)"},
    )
    attention: bool = field(
        default=True,
        metadata={"help": "run a self-attention with its query and output projections in one loop over query rows (keys and values computed before it and read whole by every trip: the queries, scores and context are never stored whole)"},
    )
    key_value_rows: bool = field(
        default=True,
        metadata={"help": "with attention: when a tiled self-attention's input comes row by row from a loop, also tile its key and value projections over its query-row tiles, and the row-local stage before them (a LayerNorm), each in a loop of its own, so that they follow that loop row by row (the attention still waits for all keys and values)"},
    )
    prologues: bool = field(
        default=True,
        metadata={"help": "with matmul-chains: also run the row-local stage that computes a chain's input (a LayerNorm: per-row sums over the features and elementwise ops) on each trip's rows, when only the chain reads its result (never stored whole; a trip waits only for its own input rows)"},
    )
    line_buffers: bool = field(
        default=True,
        metadata={"help": "move a pooling or conv that reads a tiled conv stage into its loop, through a line buffer of the rows two tiles share (the stage output is never stored)"},
    )
    epilogues: bool = field(
        default=True,
        metadata={"help": "with line-buffers: also move a residual block's epilogue after a fused loop (batch norm, the add of the skip branch, ReLU) into it, row tile by row tile, and a 1x1 downsample branch with it"},
    )
    chain_loops: bool = field(
        default=True,
        metadata={"help": "while row loops' outputs are larger than the scratchpad and the next loop reads each only in padded row windows (a ResNet block after a block of its shape or of stride 2) or in plain slices of its trips' rows (a MobileNet block after the stem), run the loops as one software pipeline, each a few trips behind the one before, through line buffers of the outputs' last rows (imc.transforms.loop_chain: those outputs are never stored whole)"},
    )
    fold_pooling: bool = field(
        default=True,
        metadata={"help": "when the only reader of a row loop's output is a global pooling (a sum or max over all its rows and columns), reduce each trip's rows into a value the loop carries (imc.transforms.row_reduction: the output is never assembled or stored)"},
    )
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
        program = stage_program(func, state.hardware)
        live = live_bytes(program)
        for st in program.stages:
            convs = [op for op in st.ops if op.name in CONVS]
            if len(convs) == 1:
                stage = self._stage(convs[0], st.ops)
                if stage is not None:
                    stage.live = live[st.index]
                    stages.append(stage)
            elif not convs and (self.matmuls or self.matmul_chains):
                stage = _matmul_stage(st.ops)
                if stage is not None:
                    stages.append(stage)
        feeders = []
        if self.attention:
            stages = _attention_stages(stages, program)
            if self.key_value_rows:
                stages, feeders = _attention_feeders(stages, program)
        if self.matmul_chains:
            stages = _chain_matmul_stages(stages, keep_single=self.matmuls, hardware=state.hardware)
            if self.prologues:
                _with_prologues(stages, program)
        # A conv moved into its producer's loop is not tiled on its own (the
        # first of a chain of such convs keeps its window; the next is tiled).
        # A lagging fusion (A -> B) gives way when B's own reader C fuses
        # without lag (B -> C), which keeps C's row stores; unless C is a 1x1
        # convolution: then C and the elementwise ops before it run in A's
        # loop too (a chain A -> B -> C, lagging or not).
        by_anchor = {s.anchor: s for s in stages}
        for stage in stages:
            w = stage.window
            nxt = by_anchor.get(w.consumer) if w is not None else None
            if nxt is None or nxt.window is None or nxt.window.lag:
                continue
            if _pointwise(nxt.window):
                stage.chain = nxt.window.consumer
            elif w.lag:
                stage.window = None
        consumed = set()
        for stage in stages:
            if stage.window is not None and stage.anchor not in consumed:
                consumed.add(stage.window.consumer)
                if stage.chain is not None:
                    consumed.add(stage.chain)
        stages = [s for s in stages if s.anchor not in consumed]
        branches = {}  # a fused stage's anchor -> the downsample conv its loop computes
        if self.line_buffers and self.epilogues:
            stages, branches = _without_absorbed_skips(stages)
        tiled = []
        for stage in stages:
            if stage.matmul:
                if self._plan_matmul(stage, capacity, state):
                    tiled.append(stage)
                continue
            rows, slab, out = self._choose_rows(stage, capacity, state.hardware)
            oh = _shape(stage.out)[2]
            if rows >= oh and stage.window is None:
                continue
            room = capacity - capacity // 16  # beside imc-place-buffers' default staging buffer
            if not self.rows and slab + out > room:
                state.remark(
                    stage.anchor.location,
                    f"not tiled: {rows} output rows need a {slab:,} B input slab and a {out:,} B output tile, more than "
                    f"the {room:,} B the scratchpad has beside a staging buffer; left to imc-place-buffers as a "
                    "whole stage",
                )
                continue
            stage.rows = stage.conv_rows(rows)
            tiled.append(stage)
            halo = stage.slab_rows(rows) - rows * stage.input_stride()
            fits = "" if slab + out <= capacity else f"; does not fit even so ({slab + out:,} B > {capacity:,} B)"
            pooled = ""
            if stage.window is not None:
                w = stage.window
                line = w.carried * tensor_bytes(stage.root.results[0].type, state.hardware) // _shape(stage.root.results[0])[2]
                lag = (
                    f", {w.lag} rows behind (its last {w.lag} rows on the last trip; on the first it computes "
                    f"{w.lag} rows above its output, dropped)"
                    if w.lag
                    else ""
                )
                chained = (
                    "; then the 1x1 convolution that reads it (and the elementwise ops between) on each trip's "
                    "rows, its input never stored either"
                    if stage.chain is not None
                    else ""
                )
                branch = branches.get(stage.anchor)
                if branch is not None:
                    chained += (
                        f"; the residual add's downsample branch (layer '{layer_name(branch.location)}', a 1x1 "
                        "convolution of the block's input) computed on each trip from the input rows the first "
                        f"convolution reads, its last {w.lag} rows kept for the next trip (each row computed once, "
                        "its output never stored)"
                    )
                pooled = (
                    f"; '{w.consumer.name}' fused: {stage.rows} rows per tile, read with the "
                    f"{w.carried} rows before them kept in a {line:,} B line buffer{lag} (each row of the stage "
                    f"computed once, its output never stored){chained}"
                )
            state.remark(
                stage.anchor.location,
                f"tiled over output rows: {oh // rows} tiles of {rows} rows; input slab {slab:,} B "
                f"({stage.slab_rows(rows)} rows, halo {max(halo, 0)}), output tile {out:,} B{fits}{pooled}",
            )
        # A feeder runs over rows only when its input comes row by row, from
        # a loop: else its rows all exist at once, and run whole it can be
        # copied onto spare crossbars (its rows split between the copies).
        # With `matmuls` a projection not run over the attention's rows is
        # tiled as any single matmul stage.
        streamed = {s.out for s in tiled}
        for feeder in feeders:  # (a LayerNorm first, then the projections that read it)
            if feeder.feeds in tiled and feeder.input in streamed and self._plan_feeder(feeder, state):
                tiled.append(feeder)
                streamed.add(feeder.out)
            elif self.matmuls and feeder.matmul and self._plan_matmul(feeder, capacity, state):
                tiled.append(feeder)
        if tiled:
            self._tile(module, tiled, state)

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
            user = single_user(chain[-1].results[0])
            if user is None or user not in inside or not is_elementwise(user) or _shape(user.results[0]) != shape:
                break
            chain.append(user)
        stage = _Stage(conv, list(ops), chain[-1], value)
        if self.line_buffers:
            stage.window = plan_window_fusion(chain[-1].results[0])
        return stage

    def _most_rows(self, stage: _Stage, fits: bool, hw) -> int:
        """The most rows per tile for a matmul or attention stage whose
        tensors `fits` the scratchpad or not: the option `rows`, else `fit-rows` for a stage
        that fits (`_fit_rows`); 0 leaves the choice to the capacity."""
        return self.rows or (self._fit_rows(stage, hw) if fits else 0)

    def _fit_rows(self, stage: _Stage, hw) -> int:
        """`fit-rows`, or 0 when the crossbar tiles of the stage's
        contractions need more crossbars than `hw` has: a loop over its rows
        would program them again on every trip, reading their weights from
        DRAM each time, for a stage that runs whole without it."""
        if not self.fit_rows:
            return 0
        tiles = sum(_crossbar_tiles(op, hw) for op in _contractions(stage))
        return self.fit_rows if tiles <= hw.total_crossbars else 0

    def _choose_rows(self, stage: _Stage, capacity: int, hw) -> tuple[int, int, int]:
        """(rows, slab bytes, output tile bytes) for this stage."""
        n, _, oh, ow = _shape(stage.out)
        in_shape = _shape(stage.anchor.operands[0])  # padded input
        per_in_row = n * in_shape[1] * in_shape[3] * stored_element_bytes(ir.RankedTensorType(stage.input.type).element_type, hw)
        per_out_row = tensor_bytes(stage.out.type, hw) // oh

        def cost(r):
            return stage.slab_rows(r) * per_in_row, r * per_out_row

        def most(limit):  # the most rows up to `limit` that divide the output into equal tiles
            return max(d for d in range(1, min(limit, oh) + 1) if oh % d == 0)

        if self.rows:
            r = most(self.rows)
            return (r, *cost(r))
        whole_in, whole_out = tensor_bytes(stage.input.type, hw), tensor_bytes(stage.out.type, hw)
        fits = whole_in + whole_out <= capacity
        fit_rows = self._fit_rows(stage, hw) if fits else 0
        if fits and stage.window is None:
            r = most(fit_rows) if fit_rows else oh
            return (oh, whole_in, whole_out) if r == oh else (r, *cost(r))
        best = 1
        # What the tensors live across the stage and a staging buffer leave,
        # and at least a quarter of the scratchpad.
        budget = max(capacity // 4, capacity - capacity // 16 - stage.live)
        for r in range(1, oh + 1):
            if oh % r == 0 and sum(cost(r)) <= budget:
                best = r
        if fit_rows:
            best = most(min(best, fit_rows))
        return (best, *cost(best))

    def _plan_matmul(self, stage: _Stage, capacity: int, state) -> bool:
        """Chooses the rows of a matmul stage and remarks on it; False when
        the stage fits (input and root together) and is left alone. A chain
        (`_chain_matmul_stages`) also holds its hidden rows on each trip."""
        if stage.attention is not None:
            return self._plan_attention(stage, capacity, state)
        m = _shape(stage.root.results[0])[stage.row_dim]
        hw = state.hardware
        whole_in, whole_out = tensor_bytes(stage.input.type, hw), tensor_bytes(stage.root.results[0].type, hw)
        hidden = tensor_bytes(stage.hidden.type, hw) if stage.hidden is not None else 0
        prologue = tensor_bytes(stage.prologue.output.type, hw) if stage.prologue is not None else 0
        fits = whole_in + prologue + hidden + whole_out <= capacity
        most = self._most_rows(stage, fits, hw)
        if fits and not most:
            return False
        per_in, per_prologue, per_hidden, per_out = whole_in // m, prologue // m, hidden // m, whole_out // m
        per_row = per_in + per_prologue + per_hidden + per_out
        if most:
            rows = min(most, m)
        else:
            budget = capacity // 4  # the rest: tensors that live across the stage
            rows = max([r for r in range(1, m + 1) if m % r == 0 and r * per_row <= budget], default=1)
        if rows >= m:
            return False
        stage.rows = rows
        slab, out = rows * per_in, rows * per_out
        need = rows * per_row
        fits = "" if need <= capacity else f"; does not fit even so ({need:,} B > {capacity:,} B)"
        chained = (
            f"; the next linear ('{layer_name(stage.chained.location)}') runs on each trip's {rows * per_hidden:,} B of "
            "hidden rows, which are never stored whole"
            if stage.hidden is not None
            else ""
        )
        if stage.prologue is not None:
            chained += (
                f"; the row-local '{stage.prologue.layer}' before it runs on each trip's input rows first, its "
                f"{rows * per_prologue:,} B of rows (read by the linear and the rest of the trip) never stored whole"
            )
        state.remark(
            stage.anchor.location,
            f"tiled over output rows: {-(-m // rows)} tiles of {rows} rows; input slab {slab:,} B "
            f"({rows} rows, no halo), output tile {out:,} B{fits}{chained}",
        )
        return True

    def _plan_attention(self, stage: _Stage, capacity: int, state) -> bool:
        """Chooses the query rows of an attention stage (`imc.transforms.row_attention`)
        and remarks on it; False (the stage is left as it is) when all its
        tensors fit the scratchpad, or when its keys and values, which every
        trip reads whole and `imc-place-buffers` then keeps whole on chip,
        and the trip's rows do not fit beside the staging buffer and the
        tensors live across the attention."""
        m = _shape(stage.root.results[0])[stage.row_dim]
        hw, a = state.hardware, stage.attention
        whole = tensor_bytes(a.keys.type, hw) + tensor_bytes(a.values.type, hw)
        whole_in, whole_out = tensor_bytes(stage.input.type, hw), tensor_bytes(stage.root.results[0].type, hw)
        # Per query row: its queries and context, its scores and probabilities.
        hidden = 2 * tensor_bytes(a.scores.type, hw) + 2 * whole_in
        fits = whole_in + whole + hidden + whole_out <= capacity
        most = self._most_rows(stage, fits, hw)
        if fits and not most:
            return False
        per_in, per_hidden, per_out = whole_in // m, hidden // m, whole_out // m
        per_row = per_in + per_hidden + per_out
        room = capacity - capacity // 16 - whole - a.across
        if most:
            rows = min(most, m)
        else:
            rows = max([r for r in range(1, m + 1) if m % r == 0 and r * per_row <= min(room, capacity // 4)], default=0)
        if rows == 0 or rows * per_row > room:
            state.remark(
                stage.anchor.location,
                f"attention not run over query rows: its keys and values ({whole:,} B), which every trip reads whole, "
                f"and {max(rows, 1)} query row(s) ({max(rows, 1) * per_row:,} B) do not fit the {capacity:,} B "
                f"scratchpad beside a staging buffer{f' and {a.across:,} B of tensors live across it' if a.across else ''}",
            )
            return False
        stage.rows = rows
        state.remark(
            stage.anchor.location,
            f"attention over query rows: {-(-m // rows)} tiles of {rows} rows, from the query projection to the output "
            f"projection ('{layer_name(a.output.location)}'); its keys and values ({whole:,} B) stay on chip, read "
            f"whole by every trip; each trip's {rows * per_hidden:,} B of queries, scores and context are never stored "
            "whole",
        )
        return True

    def _plan_feeder(self, stage: _Stage, state) -> bool:
        """Tiles a stage that feeds a tiled attention (`_attention_feeders`)
        over the attention's query rows and remarks on it; False when it is
        a projection whose crossbar tiles need more crossbars than the chip
        has (its loop would program them again on every trip)."""
        hw = state.hardware
        if stage.matmul and _crossbar_tiles(stage.anchor, hw) > hw.total_crossbars:
            return False
        m = _shape(stage.root.results[0])[stage.row_dim]
        stage.rows = rows = stage.feeds.rows
        what = f"the row-local '{stage.prologue.layer}' before its projections" if stage.row_local else "a key or value projection"
        state.remark(
            stage.anchor.location,
            f"tiled over output rows: {-(-m // rows)} tiles of {rows} rows, in a loop of its own, like the query rows "
            f"of the attention it feeds ('{layer_name(stage.feeds.anchor.location)}'; {what}): each trip runs as soon "
            "as its input rows exist (the attention still waits for all its keys and values)",
        )
        return True

    # -- rewriting ----------------------------------------------------------------
    def _tile(self, module, stages: list[_Stage], state) -> None:
        """Tags each stage's root, fences its inputs, applies one transform script."""
        i64 = ir.IntegerType.get_signless(64)
        body = []
        for k, stage in enumerate(stages):
            stage.root.attributes[ROOT_ATTR] = ir.IntegerAttr.get(i64, k)
            if stage.window is not None:
                stage.window.consumer.attributes[WINDOW_ATTR] = ir.IntegerAttr.get(i64, k)
            if stage.chain is not None:
                stage.chain.attributes[CHAIN_ATTR] = ir.IntegerAttr.get(i64, k)
            cleanup = stage.anchor.name not in CONVS  # (matmul and row-local stages fuse through reshapes)
            body.append(_TILE.format(k=k, root=ROOT_ATTR, sizes=stage.tile_sizes(), cleanup=" {apply_cleanup}" if cleanup else ""))
            ops = stage.ops + stage.fence
            if stage.prologue is not None:
                prologue, views = squeeze(stage.prologue)
                ops += prologue + views
            _fence_inputs(ops, opaque=cleanup)
        script = ir.Module.parse(_SEQUENCE.format(body="".join(body)))
        module.attributes["transform.with_named_sequence"] = ir.UnitAttr.get()
        with ir.InsertionPoint(module.regions[0].blocks[0]):
            clone = script.body.operations[0].clone()
        try:
            passmanager.PassManager.parse("builtin.module(transform-interpreter)").run(module)
        finally:
            clone.operation.erase()
            del module.attributes["transform.with_named_sequence"]
            _drop_opaque_fences(module)
        passmanager.PassManager.parse("builtin.module(canonicalize,cse,lower-affine,canonicalize,cse)").run(module)
        for op in ops_with_attribute(module, ROOT_ATTR):
            del op.attributes[ROOT_ATTR]
        _name_loops(module)
        _whole_width_windows(module)
        _fuse_windows(module, self.epilogues)
        rewritten = self.chain_loops and _chain_loops(module, state.hardware)
        rewritten = (self.fold_pooling and _fold_pooling(module, state)) or rewritten
        if rewritten:  # (one clean-up for both)
            passmanager.PassManager.parse("builtin.module(canonicalize,cse)").run(module)


_DYN = ir.ShapedType.get_dynamic_size()


def _whole_width_windows(module) -> None:
    """A tiled conv without padding whose stride leaves the input's last
    columns unread (a 1x1 stride-2 conv on 24 columns reads 23) reads its
    trip's rows at the input's whole width: the tiling slices the columns it
    reads, which is not a row window (`imc.transforms.row_slabs`), so the
    stage would read its input whole on every trip. The conv computes the
    same columns from the wider rows."""

    def visit(op):
        if op.name != "linalg.conv_2d_nchw_fchw" or op.parent.name != "scf.for":
            return ir.WalkResult.ADVANCE
        window = op.operands[0].owner
        if isinstance(window, ir.Block) or window.operation.name != "tensor.extract_slice":
            return ir.WalkResult.ADVANCE
        window = window.operation
        source_t, window_t = ir.RankedTensorType(window.operands[0].type), ir.RankedTensorType(window.results[0].type)
        offsets, sizes, strides = (list(ir.DenseI64ArrayAttr(window.attributes[k])) for k in ("static_offsets", "static_sizes", "static_strides"))
        if source_t.rank != 4 or not source_t.has_static_shape or len(list(window.results[0].uses)) != 1:
            return ir.WalkResult.ADVANCE
        full = list(source_t.shape)
        if offsets[3] != 0 or strides != [1, 1, 1, 1] or sizes[3] >= full[3] or sizes[:2] != full[:2]:
            return ir.WalkResult.ADVANCE
        shape = [*window_t.shape[:3], full[3]]
        dynamic = list(window.operands)[1:]
        n_offsets = sum(1 for o in offsets if o == _DYN)
        with ir.InsertionPoint(window), window.location:
            wide = tensor.ExtractSliceOp(
                ir.RankedTensorType.get(shape, window_t.element_type), window.operands[0], dynamic[:n_offsets],
                dynamic[n_offsets:], [], offsets, [*sizes[:3], full[3]], strides,
            ).result
        op.operands[0] = wide
        window.erase()
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)


def _name_loops(module) -> None:
    """Gives each tiling loop its convolution's (else its matmul's)
    location, so that the stage is reported (and kept apart from its
    neighbours) under the conv's or linear's layer, as untiled, and not under
    its root's (often a ReLU or GELU module shared by several layers)."""
    for block in _function_blocks(module):
        for op in _loops(block):
            conv = find_nested(op, lambda o: o.name in CONVS)
            if conv is None:
                conv = find_nested(op, lambda o: o.name == MATMUL)
            if conv is not None:
                op.location = conv.location


def _function_blocks(module):
    """The blocks of the module's functions (where tiling loops sit)."""
    for func in module.regions[0].blocks[0].operations:
        for region in func.operation.regions:
            yield from region.blocks


def _loops(block) -> list:
    """The `scf.for` ops of `block`."""
    return [op.operation for op in block.operations if op.operation.name == "scf.for"]


def _fuse_windows(module, epilogues: bool) -> None:
    """Moves each consumer tagged `imc.fuse_window` into the loop that now
    produces its input (`imc.transforms.line_buffer.fuse_window`)."""
    consumers = ops_with_attribute(module, WINDOW_ATTR)
    for consumer in consumers:
        del consumer.attributes[WINDOW_ATTR]
        source = consumer.operands[0]
        pad = source.owner.operation if source.owner.operation.name == "tensor.pad" else None
        produced = pad.operands[0] if pad is not None else source
        loop = produced.owner.operation
        fusion = plan_window_fusion(produced)
        if loop.name != "scf.for" or fusion is None or len(loop.results) != 1:
            continue
        new = fuse_window(loop, fusion)
        # A tagged 1x1 conv after the consumer: it and the ops before it
        # (the consumer's batch norm and ReLU) run on each trip's rows.
        chain = row_local_chain(new.results[0])
        if chain and CHAIN_ATTR in chain[-1].attributes:
            fuse_row_local(new, chain)
        # Then the elementwise ops after it (batch norm, a residual add, ReLU).
        if epilogues and (epilogue := row_local_epilogue(new.results[0])):
            fuse_epilogue(new, epilogue, fusion.lag)
    for op in ops_with_attribute(module, CHAIN_ATTR):
        del op.attributes[CHAIN_ATTR]
    if consumers:  # erase the replaced loops, pads and consumers
        passmanager.PassManager.parse("builtin.module(canonicalize)").run(module)


def _chain_loops(module, hardware) -> bool:
    """Chains each longest run of loops that `imc.transforms.loop_chain`
    takes (each loop the next one's reader, no loop already chained) whose
    outputs but the last are larger than the scratchpad: stored whole, some
    of each would go to DRAM and back, where chained none leaves the chip.
    A run with a phase shorter than two ticks (`plan_chain`) loses its last
    loops until it has none. Returns whether it chained any (the module then
    needs a clean-up: canonicalize, cse)."""
    chained = False
    for block in _function_blocks(module):
        loops = _loops(block)
        i = 0
        while i + 1 < len(loops):
            edges = []
            while i + len(edges) + 1 < len(loops):
                l1 = loops[i + len(edges)]
                edge = plan_edge(l1, loops[i + len(edges) + 1])
                if edge is None or tensor_bytes(l1.results[0].type, hardware) <= hardware.spad_bytes:
                    break
                edges.append(edge)
            plan = None
            while edges and (plan := plan_chain(edges)) is None:
                edges.pop()
            if plan is None:
                i += 1
                continue
            chain_loops(plan)
            chained = True
            i += len(edges) + 1
    return chained


def _fold_pooling(module, state) -> bool:
    """Folds each global pooling of a row loop's output into the loop
    (`imc.transforms.row_reduction`), with a remark at the pooling. Returns
    whether it folded any (the module then needs a clean-up)."""
    plans = [plan for block in _function_blocks(module) for loop in _loops(block) if (plan := plan_reduction(loop)) is not None]
    for plan in plans:
        rows_t, pooled_t = (ir.RankedTensorType(op.results[0].type) for op in (plan.loop, plan.reduction))
        state.remark(
            plan.reduction.location,
            f"global pooling folded into the row loop of '{layer_name(plan.loop.location)}': each trip reduces its rows "
            f"into the {_dims(pooled_t)} result the loop carries ({tensor_bytes(pooled_t, state.hardware):,} B); the "
            f"{_dims(rows_t)} input ({tensor_bytes(rows_t, state.hardware):,} B) is never assembled or stored",
        )
        fold_reduction(plan)
    return bool(plans)


def _without_absorbed_skips(stages: list[_Stage]) -> tuple[list[_Stage], dict]:
    """`stages` without the downsample branches that a lagging fused loop
    computes row by row in its epilogue (`imc.transforms.row_epilogue.skip_branch`: a
    1x1 convolution of the block's input, added to the loop's rows): left
    untiled here, the branch moves into that loop (`_fuse_windows`) and its
    output is never stored whole. Also returns, per fused stage's anchor,
    the branch's convolution."""
    by_anchor = {s.anchor: s for s in stages}
    absorbed, branches = set(), {}
    for stage in stages:
        w = stage.window
        if w is None or not w.lag or stage.chain is not None:
            continue
        rows = w.consumer.results[0]
        epilogue = row_local_epilogue(rows)
        skips = row_operands(epilogue, rows)
        branch = skip_branch(skips[0]) if len(skips) == 1 else None
        other = by_anchor.get(branch[0]) if branch else None
        if other is None or other is stage or branch[0].operands[0] != stage.input:
            continue  # (the branch's rows come from the window of the loop's input)
        strides = dense_i64s(stage.anchor, "strides", 1, 2)
        if strides != dense_i64s(branch[0], "strides", 1, 2) or strides[0] != strides[1]:
            continue
        if other.root in [op.operation for op in branch + epilogue]:
            absorbed.add(other.anchor)
            branches[stage.anchor] = other.anchor
    return [s for s in stages if s.anchor not in absorbed], branches


def _fence_inputs(ops, opaque: bool = False) -> None:
    """Routes every operand of `ops` produced outside them (other than by a
    constant, `tensor.empty` or a `constant_init`: a bias broadcast is tiled
    with its convolution, each trip building its own rows) through a
    same-type `tensor.cast`, or, when `opaque` (fusion with `apply_cleanup`, whose patterns fold casts into
    slices), a `bufferization.materialize_in_destination` into a
    `tensor.empty` marked `imc.fence`, which nothing folds or tiles
    (`_drop_opaque_fences` removes it after the transform)."""
    inside = set(ops)  # (hashes change when operands do: decide everything first)
    fences = []
    for op in ops:
        for i, v in enumerate(list(op.operands)):
            owner = v.owner
            if isinstance(owner, ir.Block) or not isinstance(v.type, ir.RankedTensorType):
                continue
            owner = owner.operation
            if owner not in inside and owner.name not in ("arith.constant", "tensor.empty") and constant_init(v) is None:
                fences.append((op, i, v))
    for op, i, v in fences:
        with ir.InsertionPoint(op), op.location:
            if not opaque:
                fence = tensor.CastOp(v.type, v)
            else:
                t = ir.RankedTensorType(v.type)
                empty = tensor.EmptyOp(list(t.shape), t.element_type)
                fence = bufferization.MaterializeInDestinationOp(v.type, v, empty.result)
                fence.operation.attributes[FENCE_ATTR] = ir.UnitAttr.get()
        op.operands[i] = fence.results[0]


def _drop_opaque_fences(module) -> None:
    """Replaces each `imc.fence` op by its source (and erases its unused
    destination)."""
    for op in ops_with_attribute(module, FENCE_ATTR):
        dest = op.operands[1].owner
        op.results[0].replace_all_uses_with(op.operands[0])
        op.erase()
        if not isinstance(dest, ir.Block) and not list(dest.results[0].uses):
            dest.erase()


def _pointwise(window: WindowFusion) -> bool:
    """A 1x1 stride-1 convolution without padding: row r of its result reads row r only."""
    return (
        window.consumer.name == "linalg.conv_2d_nchw_fchw"
        and window.kernel == 1
        and window.stride == 1
        and window.pad is None
        and window.top == 0
    )


def _slab_rows(conv, rows: int) -> int:
    """Input rows (of the padded input) that `rows` output rows read."""
    kh = _shape(conv.operands[1])[-2]
    stride, dilation = dense_i64s(conv, "strides", 1, 2)[0], dense_i64s(conv, "dilations", 1, 2)[0]
    return (rows - 1) * stride + (kh - 1) * dilation + 1


# -- matmul stages ------------------------------------------------------------------


def _rows_lead(matmul) -> bool:
    """Rows of A are rows of the result (A maps (m, k), C maps (m, n))."""
    if "indexing_maps" not in matmul.attributes:
        return True
    maps = [[str(e) for e in ir.AffineMapAttr(m).value.results] for m in ir.ArrayAttr(matmul.attributes["indexing_maps"])]
    return maps[0] == ["d0", "d2"] and maps[2] == ["d0", "d1"]


def _adds_unit_dim(op) -> bool:
    """A `tensor.expand_shape` [M, N] -> [1, M, N] (rows stay rows)."""
    if op.name != "tensor.expand_shape":
        return False
    src, dst = _shape(op.operands[0]), _shape(op.results[0])
    return len(src) == 2 and dst == [1, *src]


def _matmul_stage(ops) -> _Stage | None:
    """The tiling of a matmul stage (`ops`, from `imc.placement`: no conv),
    or None. The stage has exactly one `linalg.matmul`, 2-D [M, K] x [K, N]
    with a weight (or its transpose) as B. Its root is the last op of the
    chain matmul -> elementwise ops of the stage of the same shape, each the
    single user of the previous one, where one `tensor.expand_shape` [M, N]
    -> [1, M, N] may sit between two of them; rows are dimension 0 of a 2-D
    root, 1 of a 3-D one. The input is found walking back from A through
    reshapes and the stage's elementwise ops (first operands)."""
    matmuls = [op for op in ops if op.name == MATMUL]
    if len(matmuls) != 1 or len(matmuls[0].operands) != 3:
        return None
    mm = matmuls[0]
    if not _rows_lead(mm) or weight_of(mm.operands[1])[0] is None:
        return None
    if len(_shape(mm.results[0])) != 2 or not ir.RankedTensorType(mm.results[0].type).has_static_shape:
        return None
    inside = set(ops)
    views = []  # reshapes between the stage's ops: inside the fence
    value = mm.operands[0]
    while (op := defining_op(value)) is not None:
        if op.name in RESHAPE_OPS:
            views.append(op)
        elif op not in inside or not is_elementwise(op):
            break
        value = op.operands[0]
    root, current = mm, mm.results[0]
    while (user := single_user(current)) is not None:
        if _adds_unit_dim(user) and single_user(user.results[0]) in inside:
            views.append(user)
        elif user not in inside or not is_elementwise(user) or _shape(user.results[0]) != _shape(current):
            break
        else:
            root = user
        current = user.results[0]
    rank = len(_shape(root.results[0]))
    if not ir.RankedTensorType(value.type).has_static_shape:
        return None
    return _Stage(mm, list(ops), root, value, row_dim=rank - 2, fence=[v for v in views if v not in inside])


def _chain_matmul_stages(stages: list[_Stage], keep_single: bool, hardware) -> list[_Stage]:
    """Joins each matmul stage B whose input is the result of the matmul
    stage A just before it, and nothing else reads, into one stage: A's ops
    and B's, A's input, B's root; tiled over rows, A's rows feed B's on each
    trip. Not when the two weights need more crossbar tiles than
    `hardware` has crossbars: the loop would reprogram them on every trip.
    Stages that join no other are kept when `keep_single`."""
    out: list[_Stage] = []
    for stage in stages:
        prev = out[-1] if out else None
        if (
            prev is not None
            and stage.matmul
            and prev.matmul
            and prev.hidden is None
            and stage.input == prev.root.results[0]
            and _only_read_by(prev.root.results[0], set(stage.ops) | set(stage.fence))
            and _crossbar_tiles(prev.anchor, hardware) + _crossbar_tiles(stage.anchor, hardware) <= hardware.total_crossbars
        ):
            out[-1] = _Stage(
                prev.anchor, prev.ops + stage.ops, stage.root, prev.input, row_dim=stage.row_dim,
                fence=prev.fence + stage.fence, hidden=stage.input, chained=stage.anchor,
            )
            continue
        out.append(stage)
    return [s for s in out if keep_single or s.hidden is not None or s.attention is not None or not s.matmul]


def _with_prologues(stages: list[_Stage], program) -> None:
    """Gives each matmul chain whose input only the chain reads the
    row-local stage of `program` that computes it
    (`imc.transforms.row_prologue`: a LayerNorm), if any: the chain's input
    becomes that stage's input, and its loop runs the stage on each trip's
    rows (`_tile`)."""
    for stage in stages:
        if stage.hidden is None or not _only_read_by(stage.input, set(stage.ops) | set(stage.fence)):
            continue
        stage.prologue = row_prologue(stage.input, program)
        if stage.prologue is not None:
            stage.input = stage.prologue.input


def _crossbar_tiles(op, hw) -> int:
    """Crossbar tiles of a matmul's weight [K, N] on `hw`, as `imc-tile`
    cuts it: row tiles x column tiles x bit slices; of a convolution's, its
    im2col matrix (K = input channels x kernel rows x columns, N = output
    channels; a grouped or depthwise one as its whole block-diagonal matrix,
    at least what `imc-tile` cuts)."""
    shape = _shape(op.operands[1])
    if op.name == MATMUL:
        k, n = shape
    elif op.name == "linalg.depthwise_conv_2d_nchw_chw":  # [C, KH, KW]
        k, n = shape[0] * shape[1] * shape[2], shape[0]
    elif op.name == "linalg.conv_2d_ngchw_gfchw":  # [G, F, C, KH, KW]
        k, n = shape[0] * shape[2] * shape[3] * shape[4], shape[0] * shape[1]
    else:  # [F, C, KH, KW]
        k, n = shape[1] * shape[2] * shape[3], shape[0]
    return -(-k // hw.xbar_rows) * -(-n // hw.xbar_cols) * hw.weight_slices


def _contractions(stage: _Stage) -> list:
    """The convolutions and matmuls a loop over the stage's rows runs: its
    anchor, a fused window consumer that is a convolution, a chained 1x1
    convolution or matmul, an attention's output projection."""
    ops = [stage.anchor, stage.chain, stage.chained]
    if stage.window is not None and stage.window.consumer.name in CONVS:
        ops.append(stage.window.consumer)
    if stage.attention is not None:
        ops.append(stage.attention.output)
    return [op for op in ops if op is not None]


def _only_read_by(value, readers: set) -> bool:
    """Every use of `value` is by an op of `readers` (or a reshape they read through)."""
    for use in value.uses:
        owner = use.owner
        if owner in readers:
            continue
        if owner.name in RESHAPE_OPS and all(u.owner in readers for u in owner.results[0].uses):
            continue
        return False
    return True


# -- attention stages ---------------------------------------------------------------


def _attention_feeders(stages: list[_Stage], program) -> tuple[list[_Stage], list[_Stage]]:
    """(`stages` without the feeders, the feeders): for each attention
    stage, the single matmul stages that read the attention's input (its key
    and value projections) and the row-local stage of `program` that
    computes that input, if any (`imc.transforms.row_prologue.row_prologue`:
    a LayerNorm, which the projections and the attention read row by row),
    each with `feeds` set to the attention."""
    feeders = []
    for attention in [s for s in stages if s.attention is not None]:
        found = row_prologue(attention.input, program)
        if found is not None:
            root = defining_op(attention.input)
            rank = len(_shape(attention.input))
            feeders.append(_Stage(root, [], root, found.input, row_dim=rank - 2, prologue=found, feeds=attention))
        for stage in stages:
            if stage.matmul and stage.attention is None and stage.hidden is None and stage.input == attention.input:
                stage.feeds = attention
                feeders.append(stage)
    taken = {id(s) for s in feeders}
    return [s for s in stages if id(s) not in taken], feeders


def _attention_stages(stages: list[_Stage], program) -> list[_Stage]:
    """Joins each matmul stage whose input is a self-attention's context (an
    output projection) with the attention and the query projection before
    it into one stage tiled over query rows (`imc.transforms.row_attention`), at the
    output projection's place; the other stages are returned unchanged."""
    by_anchor = {s.anchor: s for s in stages if s.matmul}
    joined = {}  # the query's and the output projection's anchors -> the joined stage
    for stage in stages:
        if not stage.matmul or stage.hidden is not None:
            continue
        found = attention_rows(stage, program, by_anchor)
        if found is None:
            continue
        fused = _Stage(found.anchor, found.ops, found.root, found.input, row_dim=stage.row_dim, fence=found.views)
        fused.attention = found
        joined[found.anchor] = joined[stage.anchor] = fused
    out = []
    for stage in stages:
        fused = joined.get(stage.anchor)
        if fused is None:
            out.append(stage)
        elif stage.anchor != fused.anchor:
            out.append(fused)
    return out
