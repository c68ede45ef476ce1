"""What an op costs on the chip: the events it adds to the report, in one place.

Every counted event of an executed program comes from these functions: the
imc ops' implementations (`imc.sim.interpreter.imc`) and the runtime's counter
of the other ops (`imc.sim.runtime`) add them to the report; the timeline
(`imc.sim.timeline`) places each step from the events its op added, timed by
`event_rates`; the report's latency bound (`imc.sim.report.resource_times`)
divides their totals by the same rates; and `imc-place-crossbars` estimates
a layer's and a rotating crossbar's MVM time from `mvm_events` and
`mvm_steps` of its MVMs' static shapes. The traffic
lower bound (`imc.sim.analysis`) does not count events: it bounds every schedule
from the IR (docs/analysis.md).

Events are the report's `EVENTS` (`imc.sim.report`): counts of cells, programmed
rows and programming events, MVM steps, DAC and ADC conversions, digital ops,
and bytes read and written on DRAM and the scratchpad. docs/interpreter.md
("Counting model") gives the rules in prose.
"""

from __future__ import annotations

__all__ = [
    "event_rates",
    "resource_ns",
    "shares_periphery",
    "program_events",
    "mvm_steps",
    "mvm_events",
    "accumulate_events",
    "accumulate_events_for",
    "digital_ops",
    "ELEMENTWISE",
]


def event_rates(hardware) -> dict[str, tuple[str, float, int]]:
    """event -> (the shared resource that serves it, ns per event, units of
    that resource working in parallel): the DRAM channel and the scratchpad
    port move one byte at a time at their per-byte latency, the digital ops
    spread over `cores x digital_lanes` units. (`resource_times` and the
    timeline's steps take their times from here.)"""
    l = hardware.latency
    return {
        "dram_read_bytes": ("dram", l.dram_read_byte, 1),
        "dram_write_bytes": ("dram", l.dram_write_byte, 1),
        "spad_read_bytes": ("scratchpad", l.spad_read_byte, 1),
        "spad_write_bytes": ("scratchpad", l.spad_write_byte, 1),
        "digital_ops": ("digital", l.digital_op, hardware.cores * hardware.digital_lanes),
    }


def resource_ns(events: dict, rates: dict, into: dict | None = None) -> dict[str, float]:
    """The time `events` take on the shared resources that serve them
    (`rates`: `event_rates`), resource -> ns, added into `into` (a new dict
    when None) and returned. Events no shared resource serves (MVM steps,
    conversions, programming: the crossbars') are left out."""
    busy = {} if into is None else into
    for kind, n in events.items():
        rate = rates.get(kind)
        if rate is not None and n:
            resource, ns, units = rate
            busy[resource] = busy.get(resource, 0.0) + n * ns / units
    return busy


def shares_periphery(hardware, slice_index: int) -> bool:
    """Whether an MVM on bit slice `slice_index` > 0 rides on slice 0's DACs,
    input read and result write (`crossbar.bit_slices = "adjacent"`)."""
    return slice_index > 0 and hardware.bit_slices == "adjacent"


def program_events(view, rows: int, *, broadcast: bool = False) -> dict:
    """Report events of one `imc.program` (`view`: its `ProgramView`) that
    writes a tile of `rows` rows. `broadcast`: the tile's DRAM transfer is
    the one that just wrote the same tile into another crossbar (a copy of
    a duplicated layer): no DRAM bytes of its own."""
    return {
        "cells": view.cells,
        "program_rows": rows,
        "program_events": 1,
        "dram_read_bytes": 0 if broadcast else -(-view.cells * view.cell_bits // 8),
    }


def mvm_steps(view, batch: int) -> int:
    """MVM steps of one `imc.mvm` (`view`: its `MvmView`) of `batch` input
    rows: one per input row and input cycle, each `latency.mvm` long."""
    return batch * view.cycles


def mvm_events(
    view, batch: int, rows: int, cols: int, x_nbytes: int, y_nbytes: int, *, shares_periphery: bool = False
) -> tuple[int, dict]:
    """(MVM steps, report events) of one `imc.mvm` of a batch x rows input on a
    rows x cols tile (`view`: its `MvmView`).

    `shares_periphery`: a higher bit slice of a weight tile whose slices sit
    in adjacent columns of one array (ISAAC-style, `crossbar.bit_slices =
    "adjacent"`): the row DACs and the input read are slice 0's, and its
    column results are shifted and added into slice 0's in the periphery, so
    it adds no DAC conversions and no scratchpad bytes (its ADCs still
    convert)."""
    n_mvm = mvm_steps(view, batch)
    return n_mvm, {
        "mvm": n_mvm,
        "dac": 0 if shares_periphery else n_mvm * rows,
        "adc": n_mvm * cols if view.adc_bits > 0 else 0,
        "spad_read_bytes": 0 if shares_periphery else x_nbytes,
        "spad_write_bytes": 0 if shares_periphery else y_nbytes,
    }


def accumulate_events(n_args: int, out_size: int, in_nbytes: int, out_nbytes: int) -> dict:
    """Report events of one `imc.accumulate` of `n_args` partial sums of
    `in_nbytes` in all, all of which come from the scratchpad."""
    return {"digital_ops": out_size * n_args, "spad_read_bytes": in_nbytes, "spad_write_bytes": out_nbytes}


def accumulate_events_for(hardware, shifts, out_size: int, part_nbytes: int) -> dict:
    """Report events of one `imc.accumulate` with `shifts` on `hardware`.

    With `crossbar.bit_slices = "adjacent"` the shifted partials (bit slices
    > 0) were already added into their slice 0's result in the periphery:
    only the unshifted ones (one per row tile) are read and summed, and an
    accumulate of a single row tile costs nothing (its result is slice 0's)."""
    n = len(shifts)
    if hardware.bit_slices == "adjacent":
        n = sum(1 for s in shifts if s == 0)
        if n <= 1:
            return {}
    return accumulate_events(n, out_size, n * part_nbytes, part_nbytes)


ELEMENTWISE = frozenset({"linalg.add", "linalg.sub", "linalg.mul", "linalg.div", "linalg.max", "linalg.min", "linalg.exp"})
"""Named linalg ops that cost one digital op per output element."""


def digital_ops(kind: str, ins: list, out_size: int, body_ops: int = 1) -> int:
    """Digital-unit ops of one upstream op (`kind`, its name) with inputs
    `ins` (arrays, or scalars: size 0) and `out_size` output elements: a
    contraction's multiply-adds (2 per MAC), a pooling's window elements, a
    `linalg.generic`'s body ops per element of its largest operand, one per
    element of a named elementwise op; copies and layout changes (fill,
    transpose, broadcast, pad, concat, ...) none."""
    if kind in ("linalg.matmul", "linalg.batch_matmul", "linalg.matvec"):
        return 2 * out_size * ins[0].shape[-1]
    if kind.startswith("linalg.conv") or kind.startswith("linalg.depthwise"):
        w = ins[1]
        return 2 * out_size * (w.size // max(1, w.shape[0]))
    if kind.startswith("linalg.pooling"):
        return out_size * ins[1].size
    if kind == "linalg.generic":
        return max([out_size] + [getattr(a, "size", 0) for a in ins]) * body_ops
    if kind in ELEMENTWISE:
        return out_size
    return 0
