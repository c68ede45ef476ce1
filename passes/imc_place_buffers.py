"""`imc-place-buffers`: give every tensor passed between layers a home in the
scratchpad or DRAM."""

import math
from dataclasses import dataclass, field

from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, memref, scf, tensor

from imc.dialects.imc import (
    DmaOp,
    JoinOp,
    SpadAllocOp,
    SpadFreeOp,
    TransferInOp,
    TransferOutOp,
    build,
    joined_shape,
    stored_element_bytes,
)
from imc.ir.utils import (
    PLACEMENT_ATTR,
    TENSOR_VIEW_OPS,
    collapse,
    constant_int,
    expand,
    extract_slice,
    find_entry,
    find_nested,
    i64_array,
    i64_attr,
    index_constant,
    is_tiled_stage,
    loop_bounds,
    reassociation,
    row_tile_insert,
    top_level,
)
from imc.transforms.in_place import fits_frame, in_place_pairs
from imc.transforms.pass_base import ImcPass, PassFailure
from imc.transforms.placement import Unplaceable, capacity_bound, plan_homes, stage_program
from imc.transforms.row_slabs import (
    expand_buffer,
    find_row_slabs,
    frame_view,
    load_frame_rows,
    load_rows,
    plane_shape,
    row_view,
    store_frame_rows,
    stream_rows,
    view_along,
    view_frame_rows,
    view_rows,
)


@dataclass(frozen=True)
class ImcPlaceBuffers(ImcPass):
    """Places the tensors passed between layers in the scratchpad and DRAM.

    Input: the entry function of a mapped program on tensors (after
    `imc-map-to-crossbars`), without `memref` buffers of its own. Output: the
    same computation where every *stored tensor* (a value produced in one
    stage and read by a later one; `imc.placement` defines stages: a layer's
    consecutive ops, with elementwise neighbours fused) has a home:

    * its first bytes (row-major) in a scratchpad buffer `imc.spad_alloc` at a
      fixed offset, live from its producer stage to its last consumer stage
      and released by `imc.spad_free` after it;
    * the rest in a DRAM buffer (`memref.alloc`, memory space 0), released by
      `memref.dealloc`.

    The producer writes each part with `bufferization.materialize_in_destination`
    (a DRAM part is streamed out once); every consumer stage reads the parts
    with `bufferization.to_tensor` (a DRAM part is streamed in once per
    consumer stage) and joins them (`imc.join`), before
    its first op. Values inside a stage, model inputs/outputs, weights and
    constants are not touched.

    What stays on chip, and until which read, solves the capacity bound's
    linear program with bytes that leave the chip never coming back
    (`imc.transforms.placement.plan_homes`): a tensor may be split into scratchpad chunks
    freed after different reads and a DRAM part read by every later stage
    (`memref.subview`s of it). Offsets come from best fit over the chunks'
    lives, aligned to the hardware's `spad_alignment`. One remark per stage
    gives the DRAM bytes planned, the bound's share and why they differ; a
    summary remark gives the totals. The module attribute `imc.placement`
    records the capacity bound per layer for `imc.sim.analysis.lower_bounds`.

    Sizes are bytes as the chip stores elements (`stored_element_bytes`:
    floating-point data at the hardware's `activation_bits`, although the IR
    keeps f32 element types); a module without an `imc.hardware` attribute
    gets the one the pass used (the default preset), so its buffer sizes
    verify against it.

    Stages tiled by `imc-tile-rows` (top-level loops with crossbar ops) read
    their inputs in row windows, one window per trip (`imc.transforms.row_slabs`):

    * a model input streams from DRAM through a scratchpad *slab* that keeps
      the halo: each row is loaded once, by one `imc.dma`;
    * a stored tensor read only that way by the stage has an on-chip part
      of whole *planes* (the H x W rows of one channel): each trip reads
      its rows of the on-chip planes in place (views of the chunks) and
      streams the DRAM planes' rows through a slab; the parts are joined
      along the channels (`imc.join`). Otherwise it
      is joined whole before the loop, as for any stage;
    * a stored tensor the stage's loop assembles row tile by row tile
      (`tensor.insert_slice` into its iteration argument) is stored by each
      trip: its on-chip planes into views of the chunks, its DRAM planes
      through the staging buffer (or an output slab when one plane's rows do
      not fit it), and not after the loop; the loop then stops assembling
      it (the insert is erased, the iteration argument passes through).
      Not when the loop's accumulator begins as another loop's result (the
      last trips of chained loops, `imc.transforms.loop_chain`: the rows the
      earlier loop inserted would not be stored): it is stored whole after
      the loop.

    A rank-3 [1, M, K] tensor of matmul stages (`imc-tile-rows{matmuls=true}`)
    whose row tiles all start at their loop's induction variable, counted
    from 0 by the tile's height R, has an on-chip part of whole *row tiles*
    instead (granule: lcm of the R of its producer's and readers' loops
    times a row; else it is one plane, as above): rows [0, p) in the chunks,
    the rest in DRAM, p a multiple of every R, so each trip's rows are all
    in one chunk or all in DRAM. An `scf.if` chain on the trip's first row
    picks the part: a row view of the chunk (stored into, or read in
    place), or DRAM through the staging buffer (one `imc.dma` per tile of
    `tile-bytes`, within the trip); no slab is reserved for such a tensor.

    With `in-place` (the default), a stored tensor Y may be *written over*
    the tensor X it replaces (`imc.transforms.in_place`: Y made in X's last reader,
    same type, every read of X there element by element or in row windows
    no later than the rows of Y already made, as in a residual block whose
    convolutions run through a line buffer): the plan treats the chain X,
    Y, ... as one tensor (`plan_homes(in_place=...)`), X keeps all its bytes
    on chip or, when the chain has no tensor of another shape before it,
    some of its planes (Y then keeps at most those planes on chip, and
    writes its others to DRAM), and Y's producer writes into X's chunks (no new
    `imc.spad_alloc`; X's chunks are freed by Y). The plan is
    kept only when it moves no more DRAM bytes than the plan without (with
    tensors partly on chip: fewer); a remark names each pair and the bytes
    it shares.

    A stored tensor that a tiled stage's loop reads other than in row
    windows (an attention's keys and values, `imc-tile-rows{attention}`) is
    read whole by every trip, so it must be whole on chip then: the plan
    keeps it so (`plan_homes(pinned=...)`: those bytes never leave the
    chip before that read, and their chunks are placed first), and it is an
    error naming the loop when the scratchpad cannot (a transfer from DRAM
    before the loop would be counted once for reads that happen on every
    trip).

    A stage's slabs lie side by side in bytes the plan reserves at that
    stage, each loop's from the first of them (the loops of a stage, such as
    the phases of chained loops, run one after the other, and a slab holds
    rows of its own loop's trips only) (`plan_homes(reserve=...)`: the
    bytes of the loop whose slabs take the most, taken off the capacity there, below the
    staging buffers): first every slab at full size (all channels), then, in
    a second plan kept when no slab grows, a stored tensor's slabs for the
    planes the first plan leaves in DRAM. A stage whose full-size slabs and
    the staging buffers do not fit is an error.

    Docs: docs/analysis.md ("Buffer placement").
    """

    name = "imc-place-buffers"
    summary = "Home inter-layer tensors in the scratchpad or DRAM (best fit over lifetimes)"

    entry: str = field(default="", metadata={"help": "function to place (default: @main, else the only function)"})
    tile_bytes: int = field(
        default=0,
        metadata={"help": "bytes per DMA tile through the staging buffer (0: scratchpad / 16)", "range": (0, 1 << 48)},
    )
    double_buffer: bool = field(
        default=False,
        metadata={"help": "two staging buffers: the DMA of the next tile overlaps the use of this one"},
    )
    overlap_calls: bool = field(
        default=False,
        metadata={
            "help": "give every stored tensor's chunks and every tiled stage's slabs bytes of their own when that moves no "
            "more DRAM bytes, so that the next call's first stages can run while this call's last ones still read theirs; "
            "else place none in bytes freed within the last stages (as many as move no more DRAM bytes), so that a "
            "stage's first writes need not wait for the last reads of the tensors that died just before it"
        },
    )
    in_place: bool = field(
        default=True,
        metadata={"help": "write a stored tensor over the one it replaces where every element is read before it is overwritten (imc.transforms.in_place)"},
    )

    def run(self, module, state) -> None:
        func = self._entry(module, state)
        found = _existing_buffers(func)
        if found is not None:
            state.error(found, f"'{found.name}': imc-place-buffers expects tensor IR without buffers (already placed?)")
            raise PassFailure()
        hw = state.hardware
        _record_hardware(module, hw)
        program = stage_program(func, hw)
        # All uses first: rewriting invalidates the bindings' op identities.
        users = [_uses_by_stage(program, t.value) for t in program.tensors]
        rows = _find_row_access(program, func, hw, users, self.in_place)
        whole = _whole_reads_in_loops(program, users, rows.slabs)
        tile, staging = self._staging_buffers(module, hw, state)
        layout = _plan_layout(program, hw, rows, tile, staging, state, whole, self.overlap_calls)
        shares = layout.bound.layer_shares(program)
        module.attributes[PLACEMENT_ATTR] = ir.DictAttr.get(
            {**{k: i64_attr(v) for k, v in shares.items()}, "total": i64_attr(layout.bound.bytes)}
        )
        placement = _Placement(hw, hw.spad_bytes - staging, tile, self.double_buffer, layout.slab_at)
        _, frames = _frames(program, layout.plan.in_place)  # (the plan may keep fewer pairs)
        planned, reasons = placement.place_tensors(program, layout.plan, users, rows, frames, state)
        _remark_stages(program, planned, reasons, shares, state)
        for store in rows.stores.values():
            _drop_stored_accumulator(store)
        placement.stream_slabs(func, rows.streamed, state)
        self._remark_summary(module, program, layout, staging, state)

    def _entry(self, module, state):
        try:
            return find_entry(module, self.entry)
        except ValueError as e:
            state.error(module, f"{e} to place buffers in")
            raise PassFailure() from None

    def _staging_buffers(self, module, hw, state) -> tuple[int, int]:
        """(bytes per DMA tile, bytes of the staging buffers) at the top of
        the scratchpad; an error when they leave no room."""
        align = hw.spad_alignment
        tile = self.tile_bytes or max(align, hw.spad_bytes // 16 // align * align)
        tile = -(-tile // align) * align
        staging = tile * (2 if self.double_buffer else 1)
        if staging >= hw.spad_bytes:
            state.error(
                module,
                f"staging buffers of {staging:,} B (tile-bytes={tile}, double-buffer={str(self.double_buffer).lower()}) "
                f"leave no room in the {hw.spad_bytes:,} B scratchpad",
            )
            raise PassFailure()
        return tile, staging

    def _remark_summary(self, module, program, layout, staging: int, state) -> None:
        """The spill traffic against the bound, the tensors written in place, the totals."""
        plan, bound, most = layout.plan, layout.bound, layout.most
        spills = plan.dram_traffic(program)
        gap = ""
        if spills > bound.bytes:
            slabs_note = f" and row slabs up to {most:,} B" if most else ""
            gap = (
                f" ({spills - bound.bytes:,} B more: the staging buffers take {staging:,} B{slabs_note}, "
                "bytes that leave the chip do not come back, fragmentation)"
            )
        for i, j in plan.in_place:
            x, y = program.tensors[i], program.tensors[j]
            state.remark(
                program.stages[y.producer].location,
                f"{y.describe()} written over {x.describe()} (its last reader; no row of it is read after the same "
                f"row is written): {min(y.size, sum(c.end - c.start for c in plan.homes[j].chunks)):,} B of it in the same "
                f"scratchpad bytes" + ("" if x.value.type == y.value.type else " (its row r in the bytes of row r of the other)"),
            )
        hw = state.hardware
        state.remark(
            module,
            f"{len(program.tensors)} stored tensors over {len(program.stages)} stages"
            f"{f' ({len(plan.in_place)} written over the tensor they replace)' if plan.in_place else ''}; "
            f"scratchpad peak {plan.peak_bytes:,} of {hw.spad_bytes - staging:,} B "
            f"(+ {staging:,} B staging{', double-buffered' if self.double_buffer else ''}"
            f"{f'; row slabs up to {most:,} B in {len(layout.reserve)} tiled stage(s)' if most else ''}); "
            f"spill traffic {spills:,} B, capacity bound {bound.bytes:,} B{gap}",
        )
        if self.overlap_calls:
            state.remark(
                module,
                "overlap-calls: every stored tensor and row slab at bytes of its own, so that a call's first stages "
                "can run while the call before still reads its last ones"
                if plan.disjoint
                else "overlap-calls: stored tensors and row slabs share bytes (at bytes of their own they would not fit "
                "or would move more DRAM bytes), so a call's first stages wait for the call before to free them"
                + (
                    f"; none takes bytes freed within {plan.linger} stage(s) before it (more would move more DRAM bytes), "
                    "so a stage's first writes need not wait for the last reads of the tensors that died just before it"
                    if plan.linger
                    else ""
                ),
            )


@dataclass
class _RowAccess:
    """How tiled stages read and write stored tensors and model inputs in row
    windows (`_find_row_access`)."""

    slabs: list  # every `RowSlab` of the tiled stages
    streamed: list  # the slabs of model inputs: streamed from DRAM
    rowwise: dict  # (tensor index, stage) -> the row reads of a tensor read only that way
    stores: dict  # tensor index -> its `_RowStore` (stored row tile by row tile)
    prefix_rows: dict  # tensor index -> the row granule of a [1, M, K] tensor with an on-chip prefix
    slab_reads: dict  # the `rowwise` reads that go through slabs (not of a prefix tensor)
    pairs: list  # (X, Y): stored tensor Y written over X (`imc.transforms.in_place`)

    def of_tensor(self, i: int) -> dict:
        """Consumer stage -> the row reads of tensor `i` by it."""
        return {k: group for (ti, k), group in self.rowwise.items() if ti == i}


def _find_row_access(program, func, hw, users, in_place: bool) -> _RowAccess:
    """Row windows read by tiled stages: model inputs stream through slabs;
    stored tensors read only in row windows by a stage are read in place
    (on-chip planes) and through a slab (DRAM planes); constant computations
    (broadcast biases) stay datapath values. Sets each such tensor's
    `granule`: whole planes, or whole row tiles of a matmul stage."""
    loops = _tiled_stages(func)
    slabs = [s for loop in loops for s in find_row_slabs(loop, hw)]
    streamed = [s for s in slabs if isinstance(s.source.owner, ir.Block) and s.source.owner.owner.operation == func]
    rowwise = _row_reads(program, users, slabs)
    # Stored tensors a tiled stage produces row tile by row tile: each
    # trip stores its rows to the tensor's home.
    stores = {i: st for i, t in enumerate(program.tensors) if (st := _row_store(t.value, loops, t.elem)) is not None}
    # A [1, M, K] tensor of matmul stages whose every row tile starts at a
    # multiple of its height keeps an on-chip prefix of whole row tiles.
    prefix_rows = {}
    for i in {i for i, _ in rowwise} | set(stores):
        reads = [g for (ti, _), g in rowwise.items() if ti == i]
        if (r := _prefix_granule_rows(program.tensors[i].value, stores.get(i), reads)) > 0:
            prefix_rows[i] = r
    for i in {i for i, _ in rowwise} | set(stores):
        t = program.tensors[i]
        _, _, h, w = _plane_shape(t.value)
        # The on-chip part is whole planes (rows of every channel), or a
        # prefix of whole row tiles of a matmul stage's rows.
        t.granule = prefix_rows.get(i, h) * w * t.elem
    slab_reads = {key: group for key, group in rowwise.items() if key[0] not in prefix_rows}
    # A stored tensor written over the one it replaces (`imc.transforms.in_place`).
    pairs = []
    if in_place:
        pairs = [(i, j) for i, j in in_place_pairs(program, slabs) if i not in prefix_rows and j not in prefix_rows]
        pairs, _ = _frames(program, pairs)
    return _RowAccess(slabs, streamed, rowwise, stores, prefix_rows, slab_reads, pairs)


def _frames(program, pairs) -> tuple[list, dict]:
    """The in-place `pairs` kept, and tensor index -> its frame for each
    tensor of a chain X -> Y -> ... whose shape is not the chain's first
    tensor's (a stride-2 block's output written over its input,
    `in_place.rows_alike`): (C, H, W) of the first, whose row r holds its
    row r (seen through `row_slabs.frame_view`). Each pair alone fits; a
    tensor that does not fit its chain's first (`in_place.fits_frame`)
    drops its pair, and its chain starts again at it."""
    kept, frames = [], {}
    for i, j in sorted(pairs, key=lambda p: program.tensors[p[1]].producer):
        x, y = program.tensors[i].value, program.tensors[j].value
        if i not in frames and x.type == y.type:
            kept.append((i, j))
            continue
        head = frames.get(i) or tuple(_plane_shape(x)[1:])
        if fits_frame(head, tuple(_plane_shape(y)[1:])):
            frames[j] = head
            kept.append((i, j))
    return kept, frames


@dataclass
class _Layout:
    """The plan of the homes and where the row slabs lie (`_plan_layout`)."""

    bound: object  # `imc.transforms.placement.CapacityBound`
    plan: object  # `imc.transforms.placement.HomePlan`
    reserve: dict  # stage -> bytes reserved for its slabs
    most: int  # the largest reservation
    slab_at: dict  # slab's key op (its read, or a row store's insert) -> its scratchpad offset


def _plan_layout(program, hw, rows: _RowAccess, tile: int, staging: int, state, whole: dict, disjoint: bool) -> _Layout:
    """The slabs of a tiled stage (input rows; output rows on their way to
    DRAM) lie side by side in bytes the plan reserves for that stage (at the
    top, below the staging buffers). First with every slab at full size
    (safe whatever the split) but none for the tensors written over that the
    plan keeps whole on chip; then, with the slabs a stored tensor needs for
    its DRAM planes only, kept when no slab grows. An error when a stage's
    slabs and the staging buffers do not fit, or when a tensor a tiled stage
    reads whole on every trip (`whole`) cannot stay whole on chip."""
    align = hw.spad_alignment
    pairs = rows.pairs
    try:
        layout = _plan_layout_pinned(program, hw, rows, tile, staging, state, frozenset(whole), pairs, align, disjoint)
    except Unplaceable:
        _whole_reads_error(program, whole, None, state)
        raise PassFailure() from None
    _whole_reads_error(program, whole, layout.plan, state)
    return layout


def _plan_layout_pinned(program, hw, rows, tile, staging, state, pinned, pairs, align, disjoint) -> _Layout:
    slab_stores = [st for i, st in rows.stores.items() if i not in rows.prefix_rows and st.nbytes // st.channels > tile]
    # A tensor written over (X of a pair) stays whole on chip when its pair
    # is kept: its row reads need no slab then. Tried first, with fewer such
    # tensors while the plan leaves some of them partly in DRAM.
    overwritten = {i for i, _ in pairs}
    plan = None
    while overwritten:
        kept_reads = {k: g for k, g in rows.slab_reads.items() if k[0] not in overwritten}
        by_stage = _slab_needs(program, rows.streamed, kept_reads, slab_stores, None)
        reserve = _reserve(by_stage, align)
        if staging + max(reserve.values(), default=0) >= hw.spad_bytes:
            break
        plan = plan_homes(
            program, hw.spad_bytes - staging, align, reserve=reserve, in_place=pairs, pinned=pinned, disjoint=disjoint
        )
        whole = {i for i in overwritten if plan.homes[i].dram_start >= program.tensors[i].size}
        if overwritten <= whole:
            break
        overwritten &= whole
        plan = None
    if plan is None:
        by_stage = _slab_needs(program, rows.streamed, rows.slab_reads, slab_stores, None)
        reserve = _reserve(by_stage, align)
    most = max(reserve.values(), default=0)
    if staging + most >= hw.spad_bytes:
        k = max(reserve, key=reserve.get)
        state.error(
            by_stage[k][0][0],
            f"the row slabs of this tiled stage ({most:,} B) and the staging buffers ({staging:,} B) "
            f"do not fit the {hw.spad_bytes:,} B scratchpad",
        )
        raise PassFailure()
    bound = capacity_bound(program, hw.spad_bytes, pairs)
    if plan is None:
        plan = plan_homes(
            program, hw.spad_bytes - staging, align, reserve=reserve, in_place=pairs, pinned=pinned, disjoint=disjoint
        )
    if rows.slab_reads or slab_stores:
        needs = _slab_needs(program, rows.streamed, rows.slab_reads, slab_stores, plan)
        tighter = plan_homes(
            program, hw.spad_bytes - staging, align, reserve=_reserve(needs, align), in_place=pairs, pinned=pinned,
            disjoint=disjoint,
        )
        again = _reserve(_slab_needs(program, rows.streamed, rows.slab_reads, slab_stores, tighter), align)
        if all(again.get(k, 0) <= b for k, b in _reserve(needs, align).items()) and set(again) <= set(needs):
            plan, by_stage = tighter, needs
            reserve = _reserve(needs, align)
            most = max(reserve.values(), default=0)
    slab_at = {}
    for k, group in by_stage.items():
        at: dict = {}  # loop -> its next slab's offset (each loop's slabs from the stage's first byte)
        for loop, key, nbytes in group:
            slab_at[key] = at.get(loop, plan.reserved[k])
            at[loop] = slab_at[key] + -(-nbytes // align) * align
    return _Layout(bound, plan, reserve, most, slab_at)


def _remark_stages(program, planned: dict, reasons: dict, shares: dict, state) -> None:
    """One remark per stage with spills: its planned DRAM bytes, the bound's share, why."""
    for st in program.stages:
        p, b = planned.pop(st.layer, 0), shares.pop(st.layer, 0)
        if p or b:
            state.remark(
                st.location,
                f"layer '{st.layer}': {p:,} B of DRAM traffic for stored tensors (spills), bound {b:,} B"
                + (": " + "; ".join(reasons.pop(st.layer, [])) if st.layer in reasons else ""),
            )


def _join(parts: list, dim: int) -> ir.Value:
    """`parts` (tensors at the insertion point) joined in order along `dim`
    (`imc.join`, a chain of them for more than two)."""
    joined = parts[0]
    for part in parts[1:]:
        head, tail = ir.RankedTensorType(joined.type), ir.RankedTensorType(part.type)
        result = ir.RankedTensorType.get(joined_shape(head.shape, tail.shape, dim), head.element_type)
        joined = build(JoinOp, [joined, part], {"dim": i64_attr(dim)}, [result]).results[0]
    return joined


class _Placement:
    """One run's rewriting: the IR that homes each stored tensor, with what
    the run decided: the hardware, the staging buffers (`tile` bytes each,
    from byte `staging_base`, two when `double_buffer`) and where each row
    slab lies (`slab_at`, by its key op)."""

    def __init__(self, hardware, staging_base: int, tile: int, double_buffer: bool, slab_at: dict):
        self.hardware = hardware
        self.staging_base = staging_base
        self.tile = tile
        self.double_buffer = double_buffer
        self.slab_at = slab_at

    def place_tensors(self, program, plan, users, rows: _RowAccess, frames: dict, state) -> tuple[dict, dict]:
        """Rewrites every stored tensor to live in its home (`frames`: of the
        tensors written over one of another shape, `_frames`); returns the
        DRAM bytes planned per layer and the reasons, for the stage remarks."""
        planned: dict[str, int] = {}
        reasons: dict[str, list[str]] = {}
        over = {j: i for i, j in plan.in_place}  # Y -> the X it is written over
        buffers = {}  # X -> its chunks' buffers by first byte (Y's)
        for i, (t, home, uses) in enumerate(zip(program.tensors, plan.homes, users)):
            try:
                buffers[i] = self._place(
                    program, t, home, uses, rows.of_tensor(i), rows.stores.get(i), state, rows.prefix_rows.get(i, 0),
                    reuse=buffers.get(over.get(i)), frame=frames.get(i),
                )
            except _Unsupported as e:
                state.error(e.op, str(e))
                raise PassFailure() from None
            traffic = home.dram_traffic(t)
            if not traffic:
                continue
            producer = program.stages[t.producer].layer
            planned[producer] = planned.get(producer, 0) + (t.size - home.dram_start)
            for c, r in zip(t.consumers, home.resident):
                lname = program.stages[c].layer
                planned[lname] = planned.get(lname, 0) + (t.size - r)
            why = (
                f"{t.describe()} read by {len(t.consumers)} stage(s): {t.size - home.dram_start:,} B written to DRAM, "
                f"{sum(t.size - r for r in home.resident):,} B read back"
            )
            reasons.setdefault(producer, []).append(why)
        return planned, reasons

    def stream_slabs(self, func, slabs, state) -> None:
        """Model inputs read in row windows by tiled stages: loaded row by row
        into slabs that keep the halo (`imc.transforms.row_slabs`)."""
        buffers: dict = {}  # model input -> its read-only DRAM buffer
        block = func.regions[0].blocks[0]
        for slab in slabs:
            offset = self.slab_at[slab.read]
            arg = slab.source
            dram = buffers.get(arg)
            if dram is None:
                t = ir.RankedTensorType(arg.type)
                with ir.InsertionPoint(block.operations[0]), slab.loop.location:
                    mt = ir.MemRefType.get(list(t.shape), t.element_type)
                    dram = buffers[arg] = bufferization.ToBufferOp(mt, arg, read_only=True).result
            stream_rows(slab, dram, offset, loc=slab.loop.location)
            state.remark(
                slab.loop.location,
                f"model input streamed in rows through a {slab.nbytes:,} B slab ({slab.rows} rows) at offset "
                f"{offset:,}: each row loaded once, the halo kept on chip",
            )

    # -- rewriting one tensor -------------------------------------------------------
    def _place(self, program, t, home, users, rows, store, state, prefix_rows=0, reuse=None, frame=None):
        """Rewrites `t` to live in `home`; `rows` maps a consumer stage that
        reads `t` only in row windows to those reads; `store` (a `_RowStore`)
        when its tiled producer stores it row tile by row tile. `prefix_rows`
        > 0: `t` is a [1, M, K] tensor whose home is a prefix of rows (a
        multiple of `prefix_rows`) on chip, the rest in DRAM. `reuse`: the
        buffers of the chunks it takes over from the tensor it is written
        over (by first byte); a chunk `handed_over` is not freed. `frame`:
        (C, H, W) of the chain's first tensor when `t` is written over one of
        another shape (whole on chip, its rows in the first's rows:
        `row_slabs.frame_view`). Returns its chunks' buffers by first byte."""
        value = t.value
        rtype = ir.RankedTensorType(value.type)
        if rtype.rank == 0:
            return  # a scalar stays in the datapath
        producer = value.owner
        producer = producer.operation if hasattr(producer, "operation") else producer
        loc = program.stages[t.producer].location  # traffic is reported at the stage's layer
        elem = t.elem
        n = t.size // elem
        et = rtype.element_type
        chunk_bufs = []  # (chunk, buffer)
        dram = None
        if store is not None and prefix_rows:
            chunk_bufs, dram = self._store_prefix_rows(t, home, store, loc, state)
        elif store is not None:
            chunk_bufs, dram = self._store_rows(t, home, store, loc, state, reuse, frame)
        elif frame is not None:  # whole on chip, its rows in the rows of the chain's first tensor
            with ir.InsertionPoint.after(producer), loc:
                chunk_bufs = [(c, reuse[c.start]) for c in home.chunks]
                for first, view in _frame_views(chunk_bufs, frame, rtype.shape, elem):
                    store_frame_rows(value, view, first, 0, loc=loc)
        else:
            with ir.InsertionPoint.after(producer), loc:
                flat = collapse(value, [list(range(rtype.rank))], loc=loc) if rtype.rank != 1 else value
                for c in home.chunks:
                    k = (c.end - c.start) // elem
                    buf = reuse[c.start] if reuse else _chunk_buffer(c, et, elem)
                    piece = extract_slice(flat, [c.start // elem], [k], loc=loc)
                    bufferization.MaterializeInDestinationOp(None, piece, buf, writable=True)
                    chunk_bufs.append((c, buf))
                if home.dram_start < t.size:
                    k = n - home.dram_start // elem
                    dram = memref.AllocOp(ir.MemRefType.get([k], et), [], []).result
                    bands = _row_bands(value, producer, home.dram_start // elem, self.tile // elem)
                    if bands:
                        self._store_bands(value, dram, bands, loc)
                        state.remark(
                            loc,
                            f"{t.describe()}: planes [{bands[0]}, {rtype.shape[1]}) stored to DRAM {bands[1]} rows at a "
                            f"time after its loop (each band's DMA reads only rows the loop has written)",
                        )
                    else:
                        piece = extract_slice(flat, [home.dram_start // elem], [k], loc=loc)
                        self._stream(piece, dram, 0, k, elem)
        chunk_bufs.sort(key=lambda cb: cb[0].start)
        # Read j: the chunks still held, then the rest from DRAM; before the
        # consumer stage's first op.
        for j, s in enumerate(t.consumers):
            first = program.stages[s].ops[0]
            sloc = program.stages[s].location
            if s in rows:
                if prefix_rows:
                    self._read_prefix_rows(t, home, j, chunk_bufs, dram, rows[s], first, sloc, state)
                else:
                    self._read_rows(t, home, j, chunk_bufs, dram, rows[s], first, sloc, state, frame)
                continue
            with ir.InsertionPoint(first), sloc:
                held = [(c, buf) for c, buf in chunk_bufs if c.until >= j]
                if frame is not None:  # whole on chip (`plan_homes`), in the rows of the chain's first tensor
                    views = _frame_views(held, frame, rtype.shape, elem)
                    whole = _join([load_frame_rows(view, 0, rtype.shape[2]) for _, view in views], 1)
                else:
                    loaded = [
                        bufferization.ToTensorOp(ir.RankedTensorType.get([(c.end - c.start) // elem], et), buf).result
                        for c, buf in held
                    ]
                    resident = home.resident[j] // elem
                    if resident < n:
                        lo = resident - home.dram_start // elem
                        loaded.append(self._stream(None, dram, lo, n - resident, elem))
                    joined = _join(loaded, 0)
                    whole = expand(joined, list(rtype.shape), [list(range(rtype.rank))], loc=sloc) if rtype.rank != 1 else joined
                clones: dict = {}
                for op, index, chain in users.get(s, []):
                    op.operands[index] = _replay(chain, whole, clones, first)
        # Release each part after its last read.
        for c, buf in chunk_bufs:
            if c.handed_over:
                continue
            last = program.stages[t.consumers[c.until]].ops[-1]
            with ir.InsertionPoint.after(last), last.location:
                SpadFreeOp(buf)
        if dram is not None:
            last = program.stages[t.last].ops[-1]
            with ir.InsertionPoint.after(last), last.location:
                memref.DeallocOp(dram)
        return {c.start: buf for c, buf in chunk_bufs}


    def _store_rows(self, t, home, store, loc, state, reuse=None, frame=None):
        """`t`'s tiled producer stores each trip's row tile to `home`: its
        on-chip planes into views of the chunks, its DRAM planes through the
        staging buffer, as many planes' rows per `imc.dma` as it holds (or,
        when one plane's rows do not fit it, through an output slab reserved
        at the stage, one DMA per trip). With a `frame` (`_place`), whole on
        chip: into the rows of the chunks' `frame_view`s. Returns (chunk
        buffers, DRAM buffer or None), allocated before the loop."""
        rtype = ir.RankedTensorType(t.value.type)
        _, c, h, w = _plane_shape(t.value)
        et, elem = rtype.element_type, t.elem
        plane = h * w
        on_chip = min(c, home.dram_start // elem // plane)  # planes [0, on_chip) are in chunks
        rows = store.rows
        chunk_bufs, views = [], []
        with ir.InsertionPoint(store.loop), loc:
            for ch in home.chunks:
                if reuse:  # written over the tensor it replaces (already written)
                    buf = reuse[ch.start]
                else:
                    buf = _chunk_buffer(ch, et, elem)
                if frame is None:
                    views.append((ch.start // elem // plane, _as_planes(buf, h, w)))
                chunk_bufs.append((ch, buf))
            if frame is not None:
                views = _frame_views(chunk_bufs, frame, rtype.shape, elem)
            dram = out = None
            if on_chip < c:
                k = c - on_chip
                dram = memref.AllocOp(ir.MemRefType.get([k * plane], et), [], []).result
                dview = _as_planes(dram, h, w)
                base, tile_bytes = self.staging_base, self.tile
                reserved = store.insert in self.slab_at
                offset = self.slab_at[store.insert] if reserved else base
                per = k if reserved else max(1, min(k, tile_bytes // (rows * w * elem)))
                out_t = ir.MemRefType.get([1, per, rows, w], et, memory_space=i64_attr(1))
                if reserved:  # an output slab, for the whole loop
                    out = SpadAllocOp(i64_attr(offset), i64_attr(per * rows * w * elem), out_t).result
        with ir.InsertionPoint.after(store.insert), loc:
            lo = store.insert.operands[2]
            tile = store.insert.operands[0]
            if rtype.rank == 3:  # [1, rows, K]: one plane's rows
                tile = expand(tile, [1, 1, rows, w], [[0, 1], [2], [3]], loc=loc)
            staged = dram is not None and out is None
            if staged:  # the staging buffer, within the trip
                out = SpadAllocOp(i64_attr(offset), i64_attr(per * rows * w * elem), out_t).result
            for first, view in views:
                if frame is not None:
                    store_frame_rows(tile, view, first, lo, loc=loc)
                    continue
                k = ir.MemRefType(view.type).shape[1]
                piece = extract_slice(tile, [0, first, 0, 0], [1, k, rows, w], loc=loc)
                bufferization.MaterializeInDestinationOp(None, piece, row_view(view, lo, rows), writable=True)
            if out is not None:
                _rows_to_dram(tile, on_chip, out, dview, lo, loc)
                if staged:
                    SpadFreeOp(out)
        if out is not None and not staged:
            with ir.InsertionPoint.after(store.loop), loc:
                SpadFreeOp(out)
        state.remark(
            loc,
            f"{t.describe()} stored row tile by row tile ({rows} rows per trip): {on_chip} of {c} planes into the "
            f"scratchpad"
            + (
                f", {c - on_chip} to DRAM through the buffer at offset {offset:,}, {per} planes per DMA"
                if out is not None
                else ""
            ),
        )
        return chunk_bufs, dram

    def _store_bands(self, value, dram, bands, loc) -> None:
        """Stores the DRAM planes of `value` ([1, C, H, W], planes [first, C)
        into `dram`), which a tiled loop computed, after the loop one band
        of rows at a time (`bands`: (first plane, rows per band)), each
        through the staging buffer in as many planes per `imc.dma` as it
        holds: a band's DMA reads only the rows it moves, so it can start as
        soon as the loop's trips have written them (docs/interpreter.md,
        "Timeline"), where one transfer of whole planes waits for the loop's
        last trip."""
        first, band = bands
        et = ir.RankedTensorType(value.type).element_type
        elem = stored_element_bytes(et, self.hardware)
        _, c, h, w = _plane_shape(value)
        dview = _as_planes(dram, h, w)
        per = max(1, min(c - first, self.tile // (band * w * elem)))
        for r0 in range(0, h, band):
            rows = min(band, h - r0)
            out_t = ir.MemRefType.get([1, per, rows, w], et, memory_space=i64_attr(1))
            out = SpadAllocOp(i64_attr(self.staging_base), i64_attr(per * rows * w * elem), out_t).result
            tile = extract_slice(value, [0, 0, r0, 0], [1, c, rows, w], loc=loc)
            _rows_to_dram(tile, first, out, dview, index_constant(r0), loc)
            SpadFreeOp(out)

    def _read_rows(self, t, home, j, chunk_bufs, dram, reads, first, loc, state, frame=None) -> None:
        """Read j of `t` by a tiled stage, in row windows (`reads`): the planes
        (rows of one channel) still on chip are read in place from their
        chunks (with a `frame`, `_place`: from their `frame_view`s), the
        others are loaded into a slab that keeps the halo
        (`imc.transforms.row_slabs`); the parts are joined along the channels. The new
        ops are at the stage's location `loc` (its traffic is the stage's)."""
        rtype = ir.RankedTensorType(t.value.type)
        n, c, h, w = _plane_shape(t.value)
        et, elem = rtype.element_type, t.elem
        plane = h * w  # elements
        planes = n * c
        on_chip = min(planes, home.resident[j] // elem // plane)
        in_dram = home.dram_start // elem // plane
        with ir.InsertionPoint(first), loc:
            held = [(ch, buf) for ch, buf in chunk_bufs if ch.until >= j]
            if frame is None:
                views = [_as_planes(buf, h, w) for _, buf in held]
            else:
                views = [view for _, view in _frame_views(held, frame, rtype.shape, elem)]
            dview = None
            if on_chip < planes:
                # The DRAM buffer holds planes [in_dram, planes); this read takes [on_chip, planes).
                dview = _planes(_as_planes(dram, h, w), on_chip - in_dram, planes - on_chip)
        for slab in reads:
            if frame is None:
                pieces = [view_rows(slab, v, loc=loc) for v in views]
            else:
                pieces = [view_frame_rows(slab, v, loc=loc) for v in views]
            how = f"{on_chip} of {planes} planes (rows of one channel) read in place from the scratchpad"
            if dview is not None:
                offset = self.slab_at[slab.read]
                pieces.append(load_rows(slab, dview, offset, loc=loc))
                how += f", {planes - on_chip} streamed from DRAM through a slab ({slab.rows} rows) at offset {offset:,}"
            state.remark(loc, f"{t.describe()} read in row windows: {how}")
            with ir.InsertionPoint(slab.read), loc:
                joined = _join(pieces, 1)
                if n != 1:
                    rows_t = ir.RankedTensorType(joined.type)
                    flat = tensor.CollapseShapeOp(
                        ir.RankedTensorType.get(list(rows_t.shape)[1:], et), joined, reassociation([[0, 1], [2], [3]])
                    ).result
                    joined = tensor.ExpandShapeOp(
                        slab.read.results[0].type, flat, reassociation([[0, 1], [2], [3]]), [], [n, c, *list(rows_t.shape)[2:]]
                    ).result
            slab.read.results[0].replace_all_uses_with(joined)
            slab.read.erase()

    def _store_prefix_rows(self, t, home, store, loc, state):
        """`t` ([1, M, K], its home a prefix of whole row tiles on chip)
        stored by its tiled producer: each trip's rows go into a row view of
        the chunk that holds them (an `scf.if` chain on the trip's first
        row) and, when at or past the DRAM part's first row, to DRAM through
        the staging buffer (`_move_rows`). Returns (chunk buffers, DRAM
        buffer or None), allocated before the loop."""
        rtype = ir.RankedTensorType(t.value.type)
        _, m, k = rtype.shape
        et, elem = rtype.element_type, t.elem
        row, rows = k * t.elem, store.rows
        first_dram = home.dram_start // row
        chunk_bufs, dram = [], None
        with ir.InsertionPoint(store.loop), loc:
            for ch in home.chunks:
                buf = _chunk_buffer(ch, et, elem)
                chunk_bufs.append((ch, buf))
            chunk_bufs.sort(key=lambda cb: cb[0].start)
            views = _row_chunks(chunk_bufs, row, k)
            if first_dram < m:
                dram = memref.AllocOp(ir.MemRefType.get([(m - first_dram) * k], et), [], []).result
        with ir.InsertionPoint.after(store.insert), loc:
            lo, tile = store.insert.operands[2], store.insert.operands[0]

            def into(first, view):
                def emit():
                    at = arith.SubIOp(lo, index_constant(first)).result if first else lo
                    bufferization.MaterializeInDestinationOp(None, tile, view_along(view, 1, at, rows), writable=True)
                    return []

                return emit

            _rows_switch(lo, [(end, into(first, view)) for first, end, view in views], None, [])
            if dram is not None:
                _when_past(lo, first_dram, lambda: self._move_rows(tile, dram, lo, first_dram, rows, k))
        top = max((end for _, end, _ in views), default=0)
        to_dram = f", rows [{first_dram}, {m}) to DRAM through the staging buffer, {self._dmas(rows * row)} DMA(s) per trip"
        state.remark(
            loc,
            f"{t.describe()} stored row tile by row tile ({rows} rows per trip): rows [0, {top}) of {m} into the "
            f"scratchpad ({len(views)} chunk(s))" + (to_dram if dram else ""),
        )
        return chunk_bufs, dram

    def _read_prefix_rows(self, t, home, j, chunk_bufs, dram, reads, first, loc, state) -> None:
        """Read j of `t` ([1, M, K], its home a prefix of whole row tiles on
        chip) by a tiled stage in row windows (`reads`): each trip's rows
        come from the chunk that holds them, in place (a row view), or from
        DRAM through the staging buffer (`_move_rows`), chosen by an `scf.if`
        chain on the trip's first row. The new ops are at the stage's
        location `loc` (its traffic is the stage's)."""
        rtype = ir.RankedTensorType(t.value.type)
        _, m, k = rtype.shape
        row = k * t.elem
        on_chip, first_dram = home.resident[j] // row, home.dram_start // row
        with ir.InsertionPoint(first), loc:
            views = _row_chunks([cb for cb in chunk_bufs if cb[0].until >= j], row, k)
        for slab in reads:
            read, rows = slab.read, slab.rows
            rows_t = read.results[0].type
            with ir.InsertionPoint(read), loc:
                lo = read.operands[1]

                def in_place(start, view, lo=lo, rows=rows, rows_t=rows_t):
                    def emit():
                        at = arith.SubIOp(lo, index_constant(start)).result if start else lo
                        return [bufferization.ToTensorOp(rows_t, view_along(view, 1, at, rows), restrict=True).result]

                    return emit

                def loaded(lo=lo, rows=rows):
                    return [self._move_rows(None, dram, lo, first_dram, rows, k)]

                cases = [(end, in_place(start, view)) for start, end, view in views]
                got = _rows_switch(lo, cases, loaded if on_chip < m else None, [rows_t])
            read.results[0].replace_all_uses_with(got[0])
            read.erase()
            state.remark(
                loc,
                f"{t.describe()} read in row windows ({rows} rows per trip): rows [0, {on_chip}) of {m} in place from "
                f"the scratchpad ({len(views)} chunk(s))"
                + (
                    f", rows [{on_chip}, {m}) from DRAM through the staging buffer, {self._dmas(rows * row)} DMA(s) per trip"
                    if on_chip < m
                    else ""
                ),
            )

    def _dmas(self, nbytes: int) -> int:
        """DMAs `_move_rows` issues for `nbytes`."""
        tile = self.tile
        return -(-nbytes // tile)

    def _move_rows(self, rows, dram, lo, first_row, count: int, k: int):
        """Moves `count` rows of `k` elements at row `lo` (an index value)
        between a [1, count, k] datapath tensor and the 1-D DRAM buffer
        `dram` (rows from `first_row` on) through the staging buffer, one
        `imc.dma` per `tile-bytes` (allocated and freed around each): stores
        `rows` when given (returns None), else loads and returns the tensor."""
        base, tile = self.staging_base, self.tile
        et = ir.MemRefType(dram.type).element_type
        elem = stored_element_bytes(et, self.hardware)
        n = count * k
        per = max(1, tile // elem)
        dyn = ir.ShapedType.get_dynamic_size()
        start = arith.SubIOp(lo, index_constant(first_row)).result if first_row else lo
        at = arith.MulIOp(start, index_constant(k)).result
        flat = collapse(rows, [[0, 1, 2]]) if rows is not None else None
        acc = tensor.EmptyOp([n], et).result if rows is None else None
        for s in range(0, n, per):
            size = min(per, n - s)
            spad_t = ir.MemRefType.get([size], et, memory_space=i64_attr(1))
            buf = SpadAllocOp(i64_attr(base), i64_attr(size * elem), spad_t).result
            off = arith.AddIOp(at, index_constant(s)).result if s else at
            window_t = ir.MemRefType.get([size], et, layout=ir.StridedLayoutAttr.get(dyn, [1]))
            window = memref.SubViewOp(window_t, dram, [off], [], [], [dyn], [size], [1]).result
            attrs = (i64_array([0]), i64_array([size]), i64_array([1]))
            if rows is not None:
                bufferization.MaterializeInDestinationOp(None, extract_slice(flat, [s], [size]), buf, writable=True)
                DmaOp(buf, window, *attrs)
            else:
                DmaOp(window, buf, *attrs)
                part = bufferization.ToTensorOp(ir.RankedTensorType.get([size], et), buf).result
                acc = tensor.InsertSliceOp(part, acc, [], [], [], [s], [size], [1]).result
            SpadFreeOp(buf)
        return None if rows is not None else expand(acc, [1, count, k], [[0, 1, 2]])

    def _stream(self, piece, dram, lo: int, count: int, elem: int):
        """Moves `count` elements between a datapath tensor and `dram[lo:]`
        through the staging buffer(s) (`imc.transfer_out` / `transfer_in`,
        one DMA per tile): stores `piece` when given (returns None), else
        loads and returns the tensor."""
        et = ir.MemRefType(dram.type).element_type
        attrs = {
            "offset": i64_attr(lo),
            "staging": i64_attr(self.staging_base),
            "tile": i64_attr(max(1, self.tile // elem)),
            "buffers": i64_attr(2 if self.double_buffer else 1),
        }
        if piece is not None:
            build(TransferOutOp, [piece, dram], attrs, [])
            return None
        return build(TransferInOp, [dram], attrs, [ir.RankedTensorType.get([count], et)]).results[0]


class _Unsupported(Exception):
    def __init__(self, op, message):
        super().__init__(message)
        self.op = op


def _uses_by_stage(program, value) -> dict[int, list]:
    """Uses of `value` (directly or through view ops) by top-level ops of
    other stages: stage -> [(user op, operand index, view chain)]."""
    out: dict[int, list] = {}
    block = program.stages[0].ops[0].block
    stack = [(value, ())]
    while stack:
        v, chain = stack.pop()
        for use in list(v.uses):
            user = use.owner
            user = user.operation if hasattr(user, "operation") else user
            if user.name in TENSOR_VIEW_OPS and user.block == block:
                stack.append((user.results[0], chain + (user,)))
                continue
            top = top_level(user, block)
            s = program.stage_of.get(top) if top is not None else None
            if s is None or top.name == "func.return":
                continue
            out.setdefault(s, []).append((user, use.operand_number, chain))
    return out


def _replay(chain, base, clones: dict, before):
    """`base` viewed through the view ops of `chain` (cloned before `before`)."""
    v = base
    for i, view in enumerate(chain):
        key = tuple(chain[: i + 1])
        if key in clones:
            v = clones[key]
            continue
        if len(view.operands) != 1:
            raise _Unsupported(view, f"'{view.name}' with dynamic operands on a stored tensor is not supported")
        clone = view.clone(ip=ir.InsertionPoint(before))
        clone.operands[0] = v
        v = clones[key] = clone.results[0]
    return v


def _planes(buf, first: int, count: int) -> ir.Value:
    """Planes (dimension 1) `[first, first + count)` of the 4-D buffer `buf`
    (`buf` itself when that is all of it)."""
    if first == 0 and count == ir.MemRefType(buf.type).shape[1]:
        return buf
    return view_along(buf, 1, first, count)


def _record_hardware(module, hw) -> None:
    """Attaches `hw` as the module's `imc.hardware` when it has none: buffer
    sizes depend on its `activation_bits`, and the verifier checks them
    against it."""
    from imc.ir.hardware import ATTR_NAME

    op = module.operation if hasattr(module, "operation") else module
    if ATTR_NAME not in op.attributes:
        op.attributes[ATTR_NAME] = hw.to_attr()


def _chunk_buffer(chunk, et, elem: int) -> ir.Value:
    """The 1-D scratchpad buffer of `chunk` (a `placement.Chunk`: its bytes
    at its offset), allocated at the insertion point."""
    n = (chunk.end - chunk.start) // elem
    return SpadAllocOp(i64_attr(chunk.offset), i64_attr(n * elem), ir.MemRefType.get([n], et, memory_space=i64_attr(1))).result


def _plane_shape(value) -> list[int]:
    """The tensor `value`'s shape as planes (`row_slabs.plane_shape`)."""
    return plane_shape(ir.RankedTensorType(value.type).shape)


def _frame_views(chunk_bufs, frame, shape, elem: int) -> list[tuple[int, ir.Value]]:
    """(first plane, view) per (chunk, 1-D buffer) of a chain's first
    tensor, of planes `frame` (C0, H, W0), that holds planes of a tensor of
    `shape` [1, C, H', w] written over it: the chunk's `row_slabs.frame_view`
    (its channels from first plane * k, k = W0 / w) limited to the first
    C / k planes of the frame; `elem` bytes per element."""
    _, h, fw = frame
    c, w = shape[1], shape[3]
    k = fw // w
    used = c // k  # the frame's planes [0, used) hold the tensor's rows
    views = []
    for ch, buf in chunk_bufs:
        first = ch.start // elem // (h * fw)
        if first >= used:
            continue
        view = frame_view(buf, h, w, k)
        planes = ir.MemRefType(view.type).shape[1]
        views.append((first, view if first + planes <= used else view_along(view, 1, 0, used - first)))
    return views


def _as_planes(buf, h: int, w: int) -> ir.Value:
    """The contiguous 1-D buffer `buf` viewed as its [1, planes, h, w] (in
    its memory space)."""
    n = ir.MemRefType(buf.type).shape[0]
    return expand_buffer(buf, [1, n // (h * w), h, w], [[0, 1, 2, 3]])


def _rows_to_dram(tile, first: int, out, dview, lo, loc) -> None:
    """Planes [first, C) of `tile` ([1, C, R, W]: rows [lo, lo + R) of a
    tensor; `lo` an index value) into those rows of the DRAM planes `dview`
    (its plane 0 the tensor's plane `first`) through the scratchpad buffer
    `out` ([1, P, R, W]): P planes per `imc.dma`."""
    _, c, rows, w = ir.RankedTensorType(tile.type).shape
    per = ir.MemRefType(out.type).shape[1]
    for a in range(first, c, per):
        k = min(per, c - a)
        piece = extract_slice(tile, [0, a, 0, 0], [1, k, rows, w], loc=loc)
        buf = out if k == per else view_along(out, 1, 0, k)
        bufferization.MaterializeInDestinationOp(None, piece, buf, writable=True)
        dst = row_view(_planes(dview, a - first, k), lo, rows)
        DmaOp(buf, dst, i64_array([0, 0, 0, 0]), i64_array([1, k, rows, w]), i64_array([1, 1, 1, 1]))


def _row_bands(value, producer, first_element: int, staged_elements: int):
    """(first DRAM plane, rows per band) when `value` is a [1, C, H, W]
    result of a loop over its H rows (upper bound H, a constant step: the
    rows of a trip) whose DRAM part starts at a plane boundary
    (`first_element`) and one plane's band fits the staging buffer
    (`staged_elements`), else None: see `_store_bands`."""
    if producer.name != "scf.for":
        return None
    t = ir.RankedTensorType(value.type)
    if t.rank != 4 or not t.has_static_shape or t.shape[0] != 1:
        return None
    _, c, h, w = t.shape
    if first_element % (h * w):
        return None
    lb, ub, step = loop_bounds(producer)
    if lb != 0 or ub != h or step is None or not 0 < step < h or step * w > staged_elements:
        return None
    return first_element // (h * w), step


@dataclass
class _RowStore:
    """A stored tensor a tiled stage assembles row tile by row tile: its
    loop and the `tensor.insert_slice` of each trip's `rows` rows."""

    loop: ir.Operation
    insert: ir.Operation
    rows: int
    channels: int
    nbytes: int  # the rows of every channel


def _row_store(value, loops, elem: int):
    """The `_RowStore` of `value` (`elem` bytes per stored element) when one of `loops` (tiled stages) yields it as
    `tensor.insert_slice %tile into %acc[0, 0, %lo, 0] [1, C, R, W]` (the
    loop's iteration argument, whole other dimensions), or a rank-3 [1, M, K]
    `value` as `... %acc[0, %lo, 0] [1, R, K]` (one plane, C = 1), else None."""
    owner = value.owner
    if isinstance(owner, ir.Block):
        return None
    loop = owner.operation
    if loop not in loops:
        return None
    t = ir.RankedTensorType(value.type)
    if t.rank not in (3, 4) or not t.has_static_shape or t.shape[0] != 1:
        return None
    insert = row_tile_insert(loop, value)
    if insert is None or _carried_from_loop(loop, value):
        return None
    offsets, sizes, strides = (list(ir.DenseI64ArrayAttr(insert.attributes[k])) for k in ("static_offsets", "static_sizes", "static_strides"))
    if t.rank == 3:  # one plane: the same checks on [1, 1, R, K]
        offsets, sizes, strides = [0, *offsets], [1, *sizes], [1, *strides]
    _, c, _, w = _plane_shape(value)
    dyn = ir.ShapedType.get_dynamic_size()
    if offsets != [0, 0, dyn, 0] or strides != [1, 1, 1, 1] or len(insert.operands) != 3:
        return None
    if sizes[0] != 1 or sizes[1] != c or sizes[3] != w or sizes[2] == dyn:
        return None
    return _RowStore(loop, insert, sizes[2], c, c * sizes[2] * w * elem)


def _carried_from_loop(loop, value) -> bool:
    """Whether `loop` assembles `value` in an accumulator that an earlier
    loop began (its initial value is that loop's result: the last trips of a
    chained loop, `imc.transforms.loop_chain`): the earlier loop's rows would
    not be stored here, so the tensor is stored whole after `loop`."""
    init = loop.operands[3 + list(loop.results).index(value)]
    return not isinstance(init.owner, ir.Block) and init.owner.operation.name == "scf.for"


def _drop_stored_accumulator(store: _RowStore) -> None:
    """Stops `store`'s loop from assembling the whole tensor once every reader
    reads it from its home (the loop's result has no uses left): the trip's
    `tensor.insert_slice` is erased and the iteration argument passes through.
    Its other uses, slices at the insert's own rows (the root's destination),
    read the loop's initial value instead: the trips' row tiles are disjoint,
    so no earlier trip wrote those rows."""
    loop, insert = store.loop, store.insert
    body = loop.regions[0].blocks[0]
    terminator = body.operations[-1]
    index = next((i for i, v in enumerate(terminator.operands) if v == insert.results[0]), None)
    if index is None or any(True for _ in loop.results[index].uses):
        return
    if len(list(insert.results[0].uses)) != 1:
        return
    arg = body.arguments[index + 1]

    def same_rows(op) -> bool:
        return (
            op.name == "tensor.extract_slice"
            and list(op.operands)[1:] == list(insert.operands)[2:]
            and all(op.attributes[k] == insert.attributes[k] for k in ("static_offsets", "static_sizes", "static_strides"))
        )

    others = [u.owner.operation for u in arg.uses if u.owner.operation != insert]
    if not all(same_rows(op) for op in others):
        return
    init = loop.operands[3 + index]
    for op in others:
        op.operands[0] = init
    terminator.operands[index] = arg
    insert.erase()


def _prefix_granule_rows(value, store, reads) -> int:
    """Rows per granule of the on-chip row prefix of a rank-3 [1, M, K]
    stored tensor: the lcm of the row tiles of the loop that stores it
    (`store`, a `_RowStore` or None) and of the loops that read it in row
    windows (`reads`, groups of `RowSlab`s), when every trip's tile starts
    at its loop's induction variable counted from 0 by the tile's height
    (so no tile straddles a multiple of the lcm) and the lcm divides M;
    else 0 (the tensor is one plane)."""
    t = ir.RankedTensorType(value.type)
    if t.rank != 3:
        return 0
    tiles = [(store.loop, store.insert.operands[2], store.rows)] if store is not None else []
    tiles += [(s.loop, s.read.operands[1], s.rows) for group in reads for s in group]
    if not tiles or any(_trip_step(loop, lo) != rows for loop, lo, rows in tiles):
        return 0
    r = math.lcm(*(rows for _, _, rows in tiles))
    return r if t.shape[1] % r == 0 else 0


def _trip_step(loop, lo) -> int:
    """The step of `loop` when `lo` is its induction variable and it counts
    from a constant 0 by a constant step, else 0."""
    if lo != loop.regions[0].blocks[0].arguments[0] or constant_int(loop.operands[0]) != 0:
        return 0
    return constant_int(loop.operands[2]) or 0


def _row_chunks(chunk_bufs, row: int, k: int) -> list:
    """(first row, end row, [1, rows, k] view) of each chunk buffer (1-D,
    sorted by start, whole rows of `row` bytes), built at the insertion
    point."""
    out = []
    for ch, buf in chunk_bufs:
        first, end = ch.start // row, ch.end // row
        out.append((first, end, expand_buffer(buf, [1, end - first, k], [[0, 1, 2]])))
    return out


def _rows_switch(lo, cases, otherwise, types) -> list:
    """The values of the part holding row `lo`: `cases` are (end row, emit)
    in ascending order, the first whose end exceeds `lo` is taken, else
    `otherwise` (None: nothing, or with `types`, the last case holds every
    row left). An `emit` builds its ops at the insertion point and returns
    the values it yields (of `types`). Built as a chain of `scf.if`s."""
    if not cases:
        return otherwise() if otherwise else []
    (end, emit), rest = cases[0], cases[1:]
    if not rest and otherwise is None and types:
        return emit()
    cond = arith.CmpIOp(arith.CmpIPredicate.ult, lo, index_constant(end)).result
    has_else = bool(rest) or otherwise is not None
    op = scf.IfOp(cond, types, has_else=has_else)
    with ir.InsertionPoint(op.then_block):
        scf.YieldOp(emit())
    if has_else:
        with ir.InsertionPoint(op.else_block):
            scf.YieldOp(_rows_switch(lo, rest, otherwise, types))
    return list(op.results)


def _when_past(lo, first: int, emit) -> None:
    """`emit()` (ops without results) when row `lo` >= `first`: in an `scf.if`
    unless `first` is 0."""
    if not first:
        emit()
        return
    cond = arith.CmpIOp(arith.CmpIPredicate.uge, lo, index_constant(first)).result
    op = scf.IfOp(cond, [], has_else=False)
    with ir.InsertionPoint(op.then_block):
        emit()
        scf.YieldOp([])


def _slab_needs(program, streamed, rowwise, slab_stores, plan) -> dict:
    """Stage -> [(loop, key op, bytes)] of the slabs it needs: a streamed
    model input's and an output slab's in full; a stored tensor's for the
    planes `plan` leaves in DRAM at that read (all of them without a plan)."""
    out: dict[int, list] = {}
    for slab in streamed:
        out.setdefault(program.stage_of[slab.loop], []).append((slab.loop, slab.read, slab.nbytes))
    for (i, k), group in rowwise.items():
        t = program.tensors[i]
        planes = t.size // t.granule
        off = planes if plan is None else planes - plan.homes[i].resident[t.consumers.index(k)] // t.granule
        for slab in group:
            if off:
                out.setdefault(k, []).append((slab.loop, slab.read, slab.nbytes * off // planes))
    for st in slab_stores:
        k = program.stage_of[st.loop]
        out.setdefault(k, []).append((st.loop, st.insert, st.nbytes))
    return out


def _reserve(by_stage, align) -> dict[int, int]:
    """Stage -> the aligned bytes of its slabs (`_slab_needs`): of the loop
    whose slabs take the most (the loops of a stage run one after the other,
    and a slab holds rows of its loop's trips only, so they share bytes)."""
    out = {}
    for k, group in by_stage.items():
        per_loop: dict = {}
        for loop, _, b in group:
            per_loop[loop] = per_loop.get(loop, 0) + -(-b // align) * align
        if per_loop:
            out[k] = max(per_loop.values())
    return out


def _row_reads(program, users, slabs) -> dict:
    """(tensor index, stage) -> the row reads (`RowSlab`s) of a stored rank-4
    (or rank-3 [1, M, K]: one plane) tensor by a tiled stage that reads it
    only that way, directly."""
    index = {t.value: i for i, t in enumerate(program.tensors)}
    groups: dict = {}
    for slab in slabs:
        i = index.get(slab.source)
        if i is not None and ir.RankedTensorType(slab.source.type).rank in (3, 4):
            groups.setdefault((i, program.stage_of[slab.loop]), []).append(slab)
    out = {}
    for (i, k), group in groups.items():
        uses = users[i].get(k, [])
        if len(uses) == len(group) and all(not chain and any(user == g.read for g in group) for user, _, chain in uses):
            out[(i, k)] = group
    return out


def _whole_reads_error(program, whole: dict, plan, state) -> None:
    """An error (PassFailure) on the first tiled stage of `whole` whose
    tensor `plan` does not keep whole on chip (the first, without a plan:
    none could)."""
    index = {t.value: i for i, t in enumerate(program.tensors)}
    for (value, k), loop in whole.items():
        t = program.tensors[index[value]]
        resident = None if plan is None else plan.homes[index[value]].resident[t.consumers.index(k)]
        if resident is not None and resident >= t.size:
            continue
        kept = "" if resident is None else f" (the plan keeps {resident:,} B)"
        state.error(
            loop,
            f"this tiled stage reads {t.describe()} whole on every trip, but the scratchpad cannot hold it whole "
            f"beside the other tensors live at this stage and the staging buffers{kept}; run the stage untiled "
            "(a self-attention: imc-tile-rows{attention=false})",
        )
        raise PassFailure()


def _whole_reads_in_loops(program, users, slabs) -> dict:
    """(tensor value, consumer stage) -> the tiled loop that reads the stored
    tensor on its trips other than in row windows (`slabs`: an attention's
    keys and values): every trip reads all of it, so it must stay whole on
    chip."""
    windows = {slab.read for slab in slabs}
    out = {}
    for i, t in enumerate(program.tensors):
        for k, uses in users[i].items():
            for user, _, _ in uses:
                if user in windows:
                    continue
                loop = user.parent
                while loop is not None and not is_tiled_stage(loop):
                    loop = loop.parent
                if loop is not None and program.stage_of.get(loop) == k:
                    out[(t.value, k)] = loop
                    break
    return out


def _tiled_stages(func) -> list:
    """Top-level loops of stages tiled by imc-tile-rows."""
    return [op.operation for op in func.regions[0].blocks[0].operations if is_tiled_stage(op.operation)]


def _existing_buffers(func):
    return find_nested(func, lambda o: o.name in ("imc.spad_alloc", "memref.alloc", "imc.dma"))
