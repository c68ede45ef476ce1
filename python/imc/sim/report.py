"""Execution reports: counters per layer and in total, with energy and latency.

Counters come from executing the IR (the interpreter calls `Report.add`);
energy and latency come from the hardware description's cost table.
"""

import json
from dataclasses import dataclass, field

from imc.ir.cost_events import event_rates, resource_ns

__all__ = ["Counters", "Report", "COUNTERS", "EVENTS", "price", "resource_times"]

COUNTERS = (
    "dram_read_bytes",
    "dram_write_bytes",
    "spad_read_bytes",
    "spad_write_bytes",
    "xbar_cells_programmed",
    "xbar_program_events",
    "mvm_count",
    "dac_conversions",
    "adc_conversions",
    "digital_ops",
    "energy_pj",
    "latency_ns",
)


@dataclass
class Counters:
    """Event counts of one layer (or of the whole program)."""

    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    spad_read_bytes: int = 0
    spad_write_bytes: int = 0
    xbar_cells_programmed: int = 0
    xbar_program_events: int = 0
    mvm_count: int = 0
    dac_conversions: int = 0
    adc_conversions: int = 0
    digital_ops: int = 0
    energy_pj: float = 0.0
    latency_ns: float = 0.0
    energy_by_event: dict = field(default_factory=dict)
    latency_bound_ns: float = 0.0  # no schedule of these events on this chip is faster
    bounding_resource: str = ""  # the resource whose work sets the bound
    resource_ns: dict = field(default_factory=dict)  # resource -> its lower-bound time

    def to_dict(self) -> dict:
        d = {name: getattr(self, name) for name in COUNTERS}
        d["energy_by_event_pj"] = dict(self.energy_by_event)
        d["latency_bound_ns"] = self.latency_bound_ns
        d["bounding_resource"] = self.bounding_resource
        d["resource_ns"] = dict(self.resource_ns)
        return d


EVENTS = (
    "dram_read_bytes",
    "dram_write_bytes",
    "spad_read_bytes",
    "spad_write_bytes",
    "cells",
    "program_rows",
    "program_events",
    "mvm",
    "dac",
    "adc",
    "digital_ops",
    "overlapped_dram_bytes",  # DRAM bytes of double-buffered transfer trips (a subset of the above)
)


class LayerRow:
    """One source layer: raw event counts; counters are priced when read."""

    __slots__ = (
        "name", "location", "events", "_busy", "_pending", "floor_bytes", "bound_bytes", "layer_bound_bytes", "remark", "_hardware",
    )

    def __init__(self, name: str, location: str, hardware):
        self.name = name
        self.location = location
        self.events = dict.fromkeys(EVENTS, 0)
        self._busy: dict[int, int] = {}  # crossbar -> MVM steps in this layer
        self._pending: dict[int, list] = {}  # id(steps) -> [steps, times added]: `add_busy`, not yet summed
        # Filled by `imc.sim.analysis.ProgramBounds.annotate` (None until then):
        self.floor_bytes = None  # the physical floor: what every schedule moves
        self.bound_bytes = None  # the I/O lower bound over all schedules without recomputation
        self.layer_bound_bytes = None  # the bound of schedules that run layers one at a time
        self.remark = None  # why the measured bytes exceed the floor
        self._hardware = hardware

    @property
    def busy(self) -> dict[int, int]:
        """Crossbar -> MVM steps in this layer (what `add_busy` added, summed)."""
        if self._pending:
            busy = self._busy
            for steps, times in self._pending.values():
                for array, n in steps.items():
                    busy[array] = busy.get(array, 0) + n * times
            self._pending.clear()
        return self._busy

    def add_busy(self, steps: dict[int, int]) -> None:
        """Adds `steps` (crossbar -> MVM steps; not changed afterwards) to
        `busy`: summed when read, so a loop adding the same steps on every
        trip costs one count per trip."""
        entry = self._pending.get(id(steps))
        if entry is None:
            self._pending[id(steps)] = [steps, 1]
        else:
            entry[1] += 1

    @property
    def counters(self) -> Counters:
        return price(self.events, self._hardware, [self.busy])

    def reset(self) -> None:
        """Zero counts (`Report.reset`)."""
        for kind in self.events:
            self.events[kind] = 0
        self._busy.clear()
        self._pending.clear()


def price(events: dict, hardware, busy: list[dict] = ()) -> Counters:
    """Counters with energy and latency from the hardware cost table.

    Energy: count x pJ per event. Latency: the crossbars of one layer compute
    in parallel, so a layer's MVM time is its busiest crossbar's steps x
    `latency.mvm` (`busy`: per layer, crossbar -> steps; summed over layers,
    which run one after another); programming is row-parallel, so it costs
    `latency.cell_program` per programmed row; every other event is
    serialized, except that the DRAM bytes of double-buffered transfer trips
    (`overlapped_dram_bytes`: `imc.transfer_in`/`transfer_out` with two
    staging buffers) overlap the rest of the work: min(their time, the rest's time) is
    subtracted.
    """
    e, l = hardware.energy, hardware.latency
    c = Counters(
        dram_read_bytes=events["dram_read_bytes"],
        dram_write_bytes=events["dram_write_bytes"],
        spad_read_bytes=events["spad_read_bytes"],
        spad_write_bytes=events["spad_write_bytes"],
        xbar_cells_programmed=events["cells"],
        xbar_program_events=events["program_events"],
        mvm_count=events["mvm"],
        dac_conversions=events["dac"],
        adc_conversions=events["adc"],
        digital_ops=events["digital_ops"],
    )
    priced = {
        "dram_read": (events["dram_read_bytes"], e.dram_read_byte, l.dram_read_byte),
        "dram_write": (events["dram_write_bytes"], e.dram_write_byte, l.dram_write_byte),
        "spad_read": (events["spad_read_bytes"], e.spad_read_byte, l.spad_read_byte),
        "spad_write": (events["spad_write_bytes"], e.spad_write_byte, l.spad_write_byte),
        "cell_program": (events["cells"], e.cell_program, 0.0),
        "mvm": (events["mvm"], e.mvm, l.mvm),
        "dac": (events["dac"], e.dac, 0.0),
        "adc": (events["adc"], hardware.adc_energy_pj, 0.0),
        "digital_op": (events["digital_ops"], e.digital_op, l.digital_op),
    }
    for kind, (count, pj, _) in priced.items():
        if count:
            c.energy_by_event[kind] = count * pj
    c.energy_pj = sum(c.energy_by_event.values())
    mvm_steps = sum(max(b.values()) for b in busy if b) if any(busy) else events["mvm"]
    serial = (
        sum(count * ns for kind, (count, _, ns) in priced.items() if kind != "mvm")
        + mvm_steps * l.mvm
        + events["program_rows"] * l.cell_program
    )
    # Overlapped DMAs are split evenly between reads and writes' rates (equal
    # in every preset); they hide behind the layer's work that does not use
    # DRAM (other DMAs share the channel).
    overlapped = events.get("overlapped_dram_bytes", 0) * max(l.dram_read_byte, l.dram_write_byte)
    dram = events["dram_read_bytes"] * l.dram_read_byte + events["dram_write_bytes"] * l.dram_write_byte
    overlapped = min(overlapped, dram)
    c.latency_ns = serial - min(overlapped, serial - dram)
    c.resource_ns = resource_times(events, hardware, busy)
    c.bounding_resource, c.latency_bound_ns = max(c.resource_ns.items(), key=lambda kv: kv[1], default=("", 0.0))
    return c


def resource_times(events: dict, hardware, busy: list[dict] = ()) -> dict[str, float]:
    """Lower bounds on the time each of the chip's resources needs for `events`
    (docs/interpreter.md, "Latency bound"): no schedule, however it overlaps
    layers and calls, finishes these events sooner than the largest of them.

    * crossbars: each array performs its MVM steps one after another, so the
      busiest array's steps x `latency.mvm` (steps on unplaced tiles, array
      -1, are spread over all arrays); without per-array counts, all steps
      spread over all arrays;
    * programming: programmed rows x `latency.cell_program`, all arrays in
      parallel;
    * dram and scratchpad: bytes at their bandwidth (one channel each);
    * digital: ops x `latency.digital_op` over `cores x digital_lanes` units.
    """
    l = hardware.latency
    arrays = max(1, hardware.total_crossbars)
    shared = resource_ns(events, event_rates(hardware), dict.fromkeys(("dram", "scratchpad", "digital"), 0.0))
    per_array: dict[int, int] = {}
    for b in busy:
        for array, steps in b.items():
            per_array[array] = per_array.get(array, 0) + steps
    unplaced = per_array.pop(-1, 0)
    if per_array or unplaced:
        steps = max(max(per_array.values(), default=0), (sum(per_array.values()) + unplaced) / arrays)
    else:
        steps = events["mvm"] / arrays
    return {
        "crossbars": steps * l.mvm,
        "programming": events["program_rows"] * l.cell_program / arrays,
        **shared,
    }


class Report:
    """What one or more executions moved and cost, per source layer and in total.

    Layers are keyed by their source label (`imc.ir.utils.layer_name` of the
    op location: the PyTorch module path or file:line), in first-seen order.
    """

    def __init__(self, hardware, precision: str = "ideal"):
        self.hardware = hardware
        self.precision = precision
        self.layers: dict[str, LayerRow] = {}
        self.calls = 0
        self.extra: dict = {}
        self.tracer = None  # an `imc.sim.timeline.Tracer` that also takes every event, when tracing

    # -- recording ------------------------------------------------------------
    def row(self, name: str, location: str) -> LayerRow:
        row = self.layers.get(name)
        if row is None:
            row = self.layers[name] = LayerRow(name, location, self.hardware)
        return row

    def add(self, row: LayerRow, **events) -> None:
        """Adds raw event counts to a layer (see `EVENTS`); priced when read."""
        counts = row.events
        for kind, n in events.items():
            counts[kind] += n
        if self.tracer is not None:
            self.tracer.add(events)

    def reset(self) -> None:
        """Zero counts and no calls, the layers kept (in their order)."""
        for row in self.layers.values():
            row.reset()
        self.calls = 0

    # -- reading --------------------------------------------------------------
    @property
    def totals(self) -> Counters:
        events = dict.fromkeys(EVENTS, 0)
        for row in self.layers.values():
            for kind, n in row.events.items():
                events[kind] += n
        return price(events, self.hardware, [row.busy for row in self.layers.values()])

    def to_dict(self) -> dict:
        layers = []
        for row in self.layers.values():
            d = {"name": row.name, "location": row.location, **row.counters.to_dict()}
            d["floor_bytes"] = row.floor_bytes
            d["bound_bytes"] = row.bound_bytes
            d["layer_at_a_time_bound_bytes"] = row.layer_bound_bytes
            d["remark"] = row.remark
            layers.append(d)
        return {
            "hardware": self.hardware.name,
            "precision": self.precision,
            "calls": self.calls,
            "totals": self.totals.to_dict(),
            "area_mm2": self.hardware.area_mm2,
            "layers": layers,
            **self.extra,
        }

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), indent=kw.pop("indent", 2), **kw)

    def __str__(self) -> str:
        head = (
            f"{'layer':<28} {'DRAM rd':>10} {'DRAM wr':>10} {'SPAD rd':>11} {'SPAD wr':>11} "
            f"{'cells prog':>11} {'MVMs':>9} {'ADC conv':>11} {'digital':>11} {'energy uJ':>10} {'lat us':>9}"
        )
        lines = [
            f"imc report: hardware={self.hardware.name} precision={self.precision} calls={self.calls} "
            f"area={self.hardware.area_mm2:.2f} mm2",
            head,
            "-" * len(head),
        ]

        def fmt(name, c):
            return (
                f"{name[:28]:<28} {c.dram_read_bytes:>10,} {c.dram_write_bytes:>10,} {c.spad_read_bytes:>11,} "
                f"{c.spad_write_bytes:>11,} {c.xbar_cells_programmed:>11,} {c.mvm_count:>9,} {c.adc_conversions:>11,} "
                f"{c.digital_ops:>11,} {c.energy_pj / 1e6:>10.3f} {c.latency_ns / 1e3:>9.2f}"
            )

        for row in self.layers.values():
            lines.append(fmt(row.name, row.counters))
        lines.append("-" * len(head))
        total = self.totals
        lines.append(fmt("total", total))
        lines.append(
            f"latency {total.latency_ns / 1e3:,.2f} us serialized over {self.calls} call(s); no schedule on this chip "
            f"is faster than {total.latency_bound_ns / 1e3:,.2f} us ({total.bounding_resource}-bound)"
        )
        if "floor_bytes" in self.extra:
            moved = total.dram_read_bytes + total.dram_write_bytes
            ratio = lambda b: f"{moved / b:.2f}x" if b else "-"  # noqa: E731
            floor, bound, layer = (self.extra[k] for k in ("floor_bytes", "bound_bytes", "layer_at_a_time_bound_bytes"))
            lines.append(
                f"DRAM {moved:,} B over {self.calls} call(s): {ratio(floor)} the physical floor ({floor:,} B), "
                f"{ratio(bound)} the bound over all schedules ({bound:,} B), "
                f"{ratio(layer)} the layer-at-a-time bound ({layer:,} B)"
            )
        return "\n".join(lines)
