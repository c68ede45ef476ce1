"""`imc-check-buffers`: prove a scratchpad placement sound, statically."""

from dataclasses import dataclass

from imc.transforms.buffer_check import analyze_buffers
from imc.transforms.pass_base import ImcPass, PassFailure


@dataclass(frozen=True)
class ImcCheckBuffers(ImcPass):
    """Checks scratchpad buffers on memref IR; changes nothing.

    Proves, for every execution of every function, that (1) no two
    `imc.spad_alloc` buffers that may be live at once overlap, (2) every
    buffer fits the hardware scratchpad (`offset + size <= spad_bytes`,
    aligned offset) and (3) every scratchpad read is preceded on every path by
    an `imc.dma` or op writing those bytes, and no buffer is used after its
    `imc.spad_free`. `imc.transforms.buffer_check` documents the rules: a
    loop with known bounds is followed trip by trip (its row views resolved
    in each trip, so a halo kept in a slab and a tensor stored row tile by
    row tile are proved); other loops run 0..n times, `scf.if` writes count
    only when both branches write (unless the followed trip decides the
    condition), unknown views read everything and write nothing.

    Each violation is an error at its op naming the buffer and byte range;
    on success a remark gives the buffer count, the peak live bytes and the
    loop trips followed one by one.

    Docs: docs/analysis.md ("Buffer placement"); the rules in `imc.transforms.buffer_check`.
    """

    name = "imc-check-buffers"
    summary = "Verify scratchpad placement: no overlap, within capacity, every read loaded first"

    def run(self, module, state) -> None:
        result = analyze_buffers(module, state.hardware)
        for v in result.violations:
            state.error(v.op, v.message)
        if result.violations:
            raise PassFailure()
        followed = f" ({result.followed_trips:,} loop trips followed one by one)" if result.followed_trips else ""
        state.remark(
            module,
            f"{result.buffers} scratchpad buffers, peak {result.peak_bytes} bytes of {result.capacity}: "
            f"placement verified{followed}",
        )
