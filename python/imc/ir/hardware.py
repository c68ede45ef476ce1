"""Hardware descriptions of in-memory-computing (crossbar) chips.

A chip is described by a TOML file (see ``docs/hardware.md``) and held in memory
as an immutable :class:`Hardware`.  Compiler passes read it to size their
tiling and mapping decisions, and the reference interpreter reads it to model
quantization, noise, energy and latency.  A description travels with the IR as
the ``imc.hardware`` attribute of the top-level module (:meth:`Hardware.attach`,
:meth:`Hardware.from_module`).

Every way of building a :class:`Hardware` (a TOML file, a dict, an MLIR
attribute, :meth:`Hardware.replace`) goes through the same validation and
reports a problem as a one-line :class:`HardwareError` naming the source, the
key, the bad value and what is allowed.

Presets live as TOML files next to this module in ``presets/``; their comments
cite the sources of every number.
"""

from __future__ import annotations

import difflib
import json
import functools
import math
import os
import tomllib
import weakref
from dataclasses import dataclass
from importlib import resources
from typing import Any, Iterable, Mapping

__all__ = [
    "ATTR_NAME",
    "COST_KEYS",
    "DERIVED_LATENCY_KEYS",
    "AREA_DEFAULTS",
    "AREA_KEYS",
    "AreaTable",
    "CostTable",
    "Hardware",
    "HardwareError",
]

#: Name of the module attribute holding the description.
ATTR_NAME = "imc.hardware"

#: Events priced by the energy (pJ) and latency (ns) tables, in order.
COST_KEYS = (
    "dram_read_byte",
    "dram_write_byte",
    "spad_read_byte",
    "spad_write_byte",
    "cell_program",
    "mvm",
    "dac",
    "adc",
    "digital_op",
)

#: Latency entries derived from a bandwidth (ns per byte = 1 / (GB/s)); they
#: may not be written in a TOML file.
DERIVED_LATENCY_KEYS = {
    "dram_read_byte": "dram_bandwidth_gbps",
    "dram_write_byte": "dram_bandwidth_gbps",
    "spad_read_byte": "spad_bandwidth_gbps",
    "spad_write_byte": "spad_bandwidth_gbps",
}

_ENERGY_SECTION = "energy_pj"
_LATENCY_SECTION = "latency_ns"
_AREA_SECTION = "area_um2"

#: Entries of the area table (``[area_um2]``), in order; see :class:`AreaTable`.
AREA_KEYS = ("cell", "adc", "adcs_per_crossbar", "dac", "sram_byte", "core")


class HardwareError(ValueError):
    """An invalid hardware description; the message is one line naming the
    source (file, attribute, override), the key, the value and what is allowed."""


# --------------------------------------------------------------------------
# Field specification: one table drives TOML reading, validation and docs.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    attr: str  # attribute name on Hardware (flat)
    key: str  # dotted TOML key
    kind: str  # "int", "float" or "str"
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo is exclusive
    pow2: bool = False
    required: bool = True
    default: Any = None
    choices: tuple[str, ...] = ()  # "str": the allowed values (empty: any)

    def allowed(self) -> str:
        if self.kind == "str" and self.choices:
            return " or ".join(f'"{c}"' for c in self.choices)
        if self.kind == "str":
            return "a string"
        if self.pow2:
            return f"a power of two in {self.lo}..{self.hi}"
        if self.kind == "int":
            return f"{self.lo}..{self.hi}"
        if self.lo_open and self.hi is not None:
            return f"({_fmt(self.lo)}, {_fmt(self.hi)}]"
        if self.lo_open:
            return f"> {_fmt(self.lo)}"
        return f">= {_fmt(self.lo)}"


def _adc_energy_shape(bits: int) -> float:
    """ZigZag's ADC energy per conversion for `bits` bits, up to Vdd**2 (fJ / V^2)."""
    return 100.0 * bits + 0.001 * 4.0**bits


def _fmt(x: float | None) -> str:
    return repr(x) if isinstance(x, float) and not x.is_integer() else str(int(x))


_SPECS: tuple[_Spec, ...] = (
    _Spec("name", "name", "str"),
    _Spec("description", "description", "str", required=False, default=""),
    _Spec("xbar_rows", "crossbar.rows", "int", 1, 65536),
    _Spec("xbar_cols", "crossbar.cols", "int", 1, 65536),
    _Spec("cell_bits", "crossbar.cell_bits", "int", 1, 8),
    _Spec("weight_bits", "crossbar.weight_bits", "int", 1, 32),
    _Spec("input_bits", "crossbar.input_bits", "int", 1, 32),
    _Spec("dac_bits", "crossbar.dac_bits", "int", 1, 16),
    _Spec("adc_bits", "crossbar.adc_bits", "int", 0, 16),
    _Spec("adc_range", "crossbar.adc_range", "float", 0.0, 1.0, lo_open=True),
    # Optional; 0 (the default) means `adc_bits` (resolved on construction).
    _Spec("adc_energy_bits", "crossbar.adc_energy_bits", "int", 0, 16, required=False, default=0),
    _Spec(
        "bit_slices", "crossbar.bit_slices", "str", required=False, default="adjacent", choices=("adjacent", "separate")
    ),
    _Spec("crossbars_per_core", "chip.crossbars_per_core", "int", 1, 65536),
    _Spec("cores", "chip.cores", "int", 1, 1 << 20),
    _Spec("clock_ghz", "chip.clock_ghz", "float", 0.0, lo_open=True),
    _Spec("digital_lanes", "chip.digital_lanes", "int", 1, 1 << 16, required=False, default=1),
    _Spec("spad_bytes", "memory.scratchpad_bytes", "int", 1, 1 << 48),
    _Spec("spad_alignment", "memory.scratchpad_alignment", "int", 1, 4096, pow2=True),
    # Optional; 0 (the default) means `input_bits` (resolved on construction).
    _Spec("activation_bits", "memory.activation_bits", "int", 0, 32, required=False, default=0),
    _Spec("dram_bandwidth_gbps", "memory.dram_bandwidth_gbps", "float", 0.0, lo_open=True),
    _Spec("spad_bandwidth_gbps", "memory.scratchpad_bandwidth_gbps", "float", 0.0, lo_open=True),
    _Spec("program_noise", "noise.program", "float", 0.0, required=False, default=0.0),
    _Spec("read_noise", "noise.read", "float", 0.0, required=False, default=0.0),
)
_SPEC_BY_ATTR = {s.attr: s for s in _SPECS}
_SPEC_BY_KEY = {s.key: s for s in _SPECS}
_COST_SPEC = _Spec("", "", "float", 0.0)
_SECTIONS = ("crossbar", "chip", "memory", "noise", _ENERGY_SECTION, _LATENCY_SECTION, _AREA_SECTION)
_TOP_KEYS = ("name", "description", "base")


def _all_toml_keys() -> list[str]:
    keys = [s.key for s in _SPECS] + ["base"]
    keys += [f"{_ENERGY_SECTION}.{k}" for k in COST_KEYS]
    keys += [f"{_LATENCY_SECTION}.{k}" for k in COST_KEYS if k not in DERIVED_LATENCY_KEYS]
    keys += [f"{_AREA_SECTION}.{k}" for k in AREA_KEYS]
    return keys


def _suggest(key: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or ``""``."""
    candidates = list(candidates)
    leaf = key.rpartition(".")[2]
    # Same leaf in another section ('memory.clock_ghz' -> 'chip.clock_ghz').
    same_leaf = [c for c in candidates if c.rpartition(".")[2] == leaf]
    match = same_leaf or difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if not match and "." in key:
        leaves = {c.rpartition(".")[2]: c for c in candidates}
        close = difflib.get_close_matches(leaf, list(leaves), n=1, cutoff=0.6)
        match = [leaves[close[0]]] if close else []
    return f" (did you mean '{match[0]}'?)" if match else ""


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _show(value: Any) -> str:
    """``value`` as written in TOML (``true``, ``"abc"``, ``1.5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _check(spec: _Spec, value: Any, label: str, where: str) -> Any:
    """Validate ``value`` for ``spec``; return it normalized (int -> float for
    float fields).  ``label`` is the key as the user wrote it, ``where`` the
    message prefix naming the source."""
    expected = {"int": "an integer", "float": "a number", "str": "a string"}[spec.kind]
    ok_type = (
        isinstance(value, str)
        if spec.kind == "str"
        else isinstance(value, int) and not isinstance(value, bool)
        if spec.kind == "int"
        else isinstance(value, (int, float)) and not isinstance(value, bool)
    )
    if not ok_type:
        raise HardwareError(
            f"{where}: {label} = {_show(value)} has the wrong type "
            f"(expected {expected}, got {_type_name(value)})"
        )
    if spec.kind == "str":
        if spec.attr == "name" and not value.strip():
            raise HardwareError(f"{where}: {label} = {_show(value)} must not be empty")
        if spec.choices and value not in spec.choices:
            raise HardwareError(f"{where}: {label} = {_show(value)} is not one of {spec.allowed()}")
        return value
    if spec.kind == "float":
        value = float(value)
        if not math.isfinite(value):
            raise HardwareError(
                f"{where}: {label} = {value!r} is not finite (allowed {spec.allowed()})"
            )
    lo, hi = spec.lo, spec.hi
    bad = (
        (lo is not None and (value <= lo if spec.lo_open else value < lo))
        or (hi is not None and value > hi)
        or (spec.pow2 and value & (value - 1) != 0)
    )
    if bad:
        raise HardwareError(
            f"{where}: {label} = {value!r} is out of range (allowed {spec.allowed()})"
        )
    return value


# --------------------------------------------------------------------------
# Cost tables
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CostTable:
    """Cost of each hardware event: energy in pJ or latency in ns (all >= 0).

    Events (see docs/hardware.md for the exact meaning of each):
    ``dram_read_byte``/``dram_write_byte``/``spad_read_byte``/``spad_write_byte``
    per byte moved; ``cell_program`` per cell (energy) or per crossbar row
    (latency; the cells of a row are written in parallel); ``mvm`` per crossbar
    activation with one input slice (excluding converters); ``dac``/``adc`` per
    conversion; ``digital_op`` per scalar digital operation.
    """

    dram_read_byte: float
    dram_write_byte: float
    spad_read_byte: float
    spad_write_byte: float
    cell_program: float
    mvm: float
    dac: float
    adc: float
    digital_op: float

    def __post_init__(self) -> None:
        for key in COST_KEYS:
            value = _check(_COST_SPEC, getattr(self, key), key, "cost table")
            object.__setattr__(self, key, value)

    def to_dict(self) -> dict[str, float]:
        """The nine costs as a plain dict, in :data:`COST_KEYS` order."""
        return {k: getattr(self, k) for k in COST_KEYS}

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], *, section: str = "costs", where: str = "cost table"
    ) -> "CostTable":
        """Build from a mapping holding exactly the nine :data:`COST_KEYS`.

        Errors name keys as ``section.key`` and start with ``where``."""
        return cls(**_cost_values(values, section, where, required=COST_KEYS))


def _cost_values(
    values: Mapping[str, Any], section: str, where: str, *, required: Iterable[str],
    allowed: Iterable[str] = COST_KEYS,
) -> dict[str, float]:
    allowed = list(allowed)
    if not isinstance(values, Mapping):
        raise HardwareError(
            f"{where}: {section} = {_show(values)} has the wrong type "
            f"(expected a table, got {_type_name(values)})"
        )
    unknown = [k for k in values if k not in allowed]
    if unknown:
        raise HardwareError(
            f"{where}: "
            + "; ".join(
                f"unknown key '{section}.{k}'"
                + _suggest(f"{section}.{k}", [f"{section}.{a}" for a in allowed])
                for k in unknown
            )
        )
    missing = [k for k in required if k not in values]
    if missing:
        raise HardwareError(f"{where}: {_missing_msg([f'{section}.{k}' for k in missing])}")
    return {k: _check(_COST_SPEC, v, f"{section}.{k}", where) for k, v in values.items()}


def _missing_msg(keys: list[str]) -> str:
    quoted = ", ".join(f"'{k}'" for k in keys)
    return f"missing required key{'s' if len(keys) > 1 else ''} {quoted}"


# --------------------------------------------------------------------------
# Area table
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class AreaTable:
    """Silicon area of the chip's components in um^2 (all >= 0).

    ``cell``: one crossbar cell (a crossbar is ``rows * cols`` cells);
    ``adc``: one **8-bit** ADC, scaled by ``2 ** (adc_bits - 8)`` (converter
    area doubles per bit); ``adcs_per_crossbar``: ADCs per crossbar (a
    fraction when several crossbars share one); ``dac``: one **1-bit** DAC,
    one per row, scaled by ``2 ** (dac_bits - 1)``; ``sram_byte``: one byte
    of scratchpad; ``core``: the digital unit of one core (shift-and-add,
    registers, control, its share of the interconnect).  A description
    without ``[area_um2]`` gets :data:`AREA_DEFAULTS` (ISAAC's 32 nm
    components, see ``docs/hardware.md``).
    """

    cell: float
    adc: float
    adcs_per_crossbar: float
    dac: float
    sram_byte: float
    core: float

    def __post_init__(self) -> None:
        for key in AREA_KEYS:
            value = _check(_COST_SPEC, getattr(self, key), f"{_AREA_SECTION}.{key}", "area table")
            object.__setattr__(self, key, value)

    def to_dict(self) -> dict[str, float]:
        """The six entries as a plain dict, in :data:`AREA_KEYS` order."""
        return {k: getattr(self, k) for k in AREA_KEYS}


#: The area of a description without ``[area_um2]``: ISAAC's components at
#: 32 nm (Shafiee et al., ISCA 2016, Table I, as transcribed in
#: hwcomponents-library ``library/isaac.py`` and PUMA-sim's
#: ``xbar_area_dict``); ``core`` closes ISAAC's stated chip area (see the
#: ``isaac`` preset).
AREA_DEFAULTS = AreaTable(
    cell=25.0 / 16384,  # 128x128 crossbar 25 um^2 (0.0002 mm^2 for 8)
    adc=1200.0,  # 8-bit 1.28 GS/s SAR ADC, 9600 um^2 for 8
    adcs_per_crossbar=1.0,
    dac=0.166015625,  # 1-bit DAC, 170 um^2 for 8 x 128
    sram_byte=83000.0 / 65536,  # 64 KB eDRAM 0.083 mm^2
    core=14125.0,
)


def _area_values(values: Mapping[str, Any], where: str, base: "AreaTable") -> dict[str, float]:
    """``base``'s entries with ``values`` (some of :data:`AREA_KEYS`) validated over them."""
    cost = _cost_values(values, _AREA_SECTION, where, required=(), allowed=AREA_KEYS)
    return {**base.to_dict(), **cost}


# --------------------------------------------------------------------------
# Hardware
# --------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Hardware:
    """An immutable, validated description of an IMC chip.

    Build one with :meth:`preset`, :meth:`from_file`, :meth:`from_toml`,
    :meth:`from_dict`, :meth:`from_attr`/:meth:`from_module` or
    :meth:`resolve`; derive variants with :meth:`replace`/:meth:`override`.
    Direct construction validates every field too and raises
    :class:`HardwareError`.

    ``latency.dram_*_byte`` and ``latency.spad_*_byte`` must equal
    ``1 / dram_bandwidth_gbps`` and ``1 / spad_bandwidth_gbps`` (ns per byte);
    every reader fills them in from the bandwidths.
    """

    name: str
    description: str
    # [crossbar]
    xbar_rows: int
    xbar_cols: int
    cell_bits: int
    weight_bits: int
    input_bits: int
    dac_bits: int
    adc_bits: int
    adc_range: float
    adc_energy_bits: int  # the resolution `energy.adc` is given at (see `adc_energy_pj`)
    bit_slices: str  # "adjacent": a weight's slices share row DACs, shift-and-add in the periphery
    # [chip]
    crossbars_per_core: int
    cores: int
    clock_ghz: float
    digital_lanes: int  # digital ops per cycle per core (for the latency bound)
    # [memory]
    spad_bytes: int
    spad_alignment: int
    activation_bits: int  # width of a tensor stored between layers (scratchpad and DRAM)
    dram_bandwidth_gbps: float
    spad_bandwidth_gbps: float
    # [noise]
    program_noise: float
    read_noise: float
    # [energy_pj], [latency_ns]
    energy: CostTable
    latency: CostTable
    # [area_um2] (optional)
    area: "AreaTable" = None  # None -> AREA_DEFAULTS

    def __post_init__(self) -> None:
        where = f"hardware {self.name!r}" if isinstance(self.name, str) else "hardware"
        if self.activation_bits == 0 and isinstance(self.input_bits, int):
            object.__setattr__(self, "activation_bits", self.input_bits)  # the default: as wide as the inputs
        if self.adc_energy_bits == 0 and isinstance(self.adc_bits, int):
            object.__setattr__(self, "adc_energy_bits", self.adc_bits)  # the default: given at the chip's ADC
        for spec in _SPECS:
            object.__setattr__(
                self, spec.attr, _check(spec, getattr(self, spec.attr), spec.attr, where)
            )
        if self.area is None:
            object.__setattr__(self, "area", AREA_DEFAULTS)
        if not isinstance(self.area, AreaTable):
            raise HardwareError(
                f"{where}: area = {self.area!r} has the wrong type (expected AreaTable)"
            )
        for attr in ("energy", "latency"):
            if not isinstance(getattr(self, attr), CostTable):
                raise HardwareError(
                    f"{where}: {attr} = {getattr(self, attr)!r} has the wrong type "
                    f"(expected CostTable)"
                )
        for key, bw_attr in DERIVED_LATENCY_KEYS.items():
            expected = 1.0 / getattr(self, bw_attr)
            got = getattr(self.latency, key)
            if not math.isclose(got, expected, rel_tol=1e-9):
                raise HardwareError(
                    f"{where}: latency_ns.{key} = {got!r} is inconsistent with "
                    f"{bw_attr} = {getattr(self, bw_attr)!r} (must be 1/bandwidth = "
                    f"{expected!r} ns per byte)"
                )

    # ---------------------------------------------------------------- derived

    @property
    def total_crossbars(self) -> int:
        """Crossbars on the chip: ``cores * crossbars_per_core``."""
        return self.cores * self.crossbars_per_core

    @property
    def weight_slices(self) -> int:
        """Cells (bit slices) per weight: ``ceil(weight_bits / cell_bits)``."""
        return -(-self.weight_bits // self.cell_bits)

    @property
    def input_cycles(self) -> int:
        """Crossbar activations per input vector: ``ceil(input_bits / dac_bits)``."""
        return -(-self.input_bits // self.dac_bits)

    @property
    def activation_bytes(self) -> int:
        """Bytes one stored activation occupies: ``ceil(activation_bits / 8)``
        (sub-byte activations are stored one per byte)."""
        return -(-self.activation_bits // 8)

    @property
    def is_analog(self) -> bool:
        """True when column sums go through an ADC (``adc_bits > 0``)."""
        return self.adc_bits > 0

    @property
    def adc_energy_pj(self) -> float:
        """Energy of one ADC conversion at ``adc_bits``: ``energy.adc``, given
        at ``adc_energy_bits``, scaled by ZigZag's ADC model, whose energy per
        conversion is ``(k5 * N + k6 * 4**N) * Vdd**2`` for N bits (k5 = 100 fF,
        k6 = 0.001 fF: linear in N at low resolution, 4x per bit at high;
        ``ImcArray.get_adc_cost``, zigzag/hardware/architecture/imc_array.py).
        Equal to ``energy.adc`` when the two resolutions are equal."""
        if self.adc_bits == self.adc_energy_bits or self.adc_bits == 0 or self.adc_energy_bits == 0:
            return self.energy.adc
        return self.energy.adc * _adc_energy_shape(self.adc_bits) / _adc_energy_shape(self.adc_energy_bits)

    @property
    def crossbar_cells(self) -> int:
        """Cells in one crossbar: ``xbar_rows * xbar_cols``."""
        return self.xbar_rows * self.xbar_cols

    @property
    def weight_capacity(self) -> int:
        """Weights the whole chip holds at once:
        ``total_crossbars * crossbar_cells // weight_slices``."""
        return self.total_crossbars * self.crossbar_cells // self.weight_slices

    @property
    def cycle_ns(self) -> float:
        """One digital clock cycle in ns: ``1 / clock_ghz``."""
        return 1.0 / self.clock_ghz

    @property
    def area_breakdown_um2(self) -> dict[str, float]:
        """Chip area by component in um^2 (see :class:`AreaTable`):
        ``crossbars`` (cells), ``adcs``, ``dacs``, ``scratchpad``, ``cores``."""
        a, n = self.area, self.total_crossbars
        adc = a.adcs_per_crossbar * a.adc * 2.0 ** (self.adc_bits - 8) if self.is_analog else 0.0
        return {
            "crossbars": n * self.crossbar_cells * a.cell,
            "adcs": n * adc,
            "dacs": n * self.xbar_rows * a.dac * 2.0 ** (self.dac_bits - 1),
            "scratchpad": self.spad_bytes * a.sram_byte,
            "cores": self.cores * a.core,
        }

    @property
    def area_mm2(self) -> float:
        """Chip area in mm^2: the sum of :attr:`area_breakdown_um2` / 10^6."""
        return sum(self.area_breakdown_um2.values()) / 1e6

    # ---------------------------------------------------------------- presets

    @staticmethod
    def presets() -> list[str]:
        """Names of the bundled presets, sorted."""
        folder = resources.files("imc.ir") / "presets"
        return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))

    @classmethod
    def preset(cls, name: str) -> "Hardware":
        """The bundled preset ``name``; :class:`HardwareError` lists the
        available ones if there is no such preset."""
        return _load_preset(name, ())

    # ---------------------------------------------------------------- readers

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Hardware":
        """Read and validate a TOML description from ``path``."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise HardwareError(f"hardware file '{os.fspath(path)}': {e.strerror}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise HardwareError(f"hardware file '{os.fspath(path)}': not UTF-8 text ({e})") from None
        return cls.from_toml(text, source=os.fspath(path))

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<string>") -> "Hardware":
        """Parse and validate TOML ``text``; ``source`` names it in errors."""
        return _from_toml(text, source, ())

    @classmethod
    def resolve(cls, spec: "str | os.PathLike | Hardware | None") -> "Hardware":
        """``None`` -> the ``default`` preset; a :class:`Hardware` -> itself; a
        preset name -> that preset; an existing path, or one ending in ``.toml``
        or containing a path separator -> that TOML file.  Anything else raises
        :class:`HardwareError` listing the presets."""
        if spec is None:
            return cls.preset("default")
        if isinstance(spec, Hardware):
            return spec
        if isinstance(spec, str) and spec in cls.presets():
            return cls.preset(spec)
        if isinstance(spec, (str, os.PathLike)):
            path = os.fspath(spec)
            if os.path.exists(path) or path.endswith(".toml") or os.sep in path:
                return cls.from_file(path)
            raise HardwareError(
                f"unknown hardware {path!r}: not a preset{_suggest(path, cls.presets())} "
                f"and not a .toml file; available presets: {', '.join(cls.presets())}"
            )
        raise HardwareError(
            f"hardware spec {spec!r} has the wrong type "
            f"(expected a preset name, a .toml path, a Hardware or None)"
        )

    # ---------------------------------------------------------------- dicts

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: attribute names as keys, the cost tables as nested
        dicts under ``energy_pj`` and ``latency_ns``.  Inverse of :meth:`from_dict`."""
        out: dict[str, Any] = {s.attr: getattr(self, s.attr) for s in _SPECS}
        out[_ENERGY_SECTION] = self.energy.to_dict()
        out[_LATENCY_SECTION] = self.latency.to_dict()
        out[_AREA_SECTION] = self.area.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "hardware dict") -> "Hardware":
        """Inverse of :meth:`to_dict`.  The derived latency entries may be
        omitted (they are filled in from the bandwidths); optional keys
        (``description``, noise, ``area_um2`` entries) default as in a TOML file."""
        return _build(dict(d), source, lambda attr: attr)

    def to_toml(self) -> str:
        """This description as TOML text in the file format (without the
        derived latency entries); ``from_toml(hw.to_toml()) == hw``."""
        top: list[str] = []
        sections: dict[str, list[str]] = {s: [] for s in _SECTIONS}
        for spec in _SPECS:
            section, _, leaf = spec.key.rpartition(".")
            line = f"{leaf} = {_show(getattr(self, spec.attr))}"
            (sections[section] if section else top).append(line)
        for section, table in ((_ENERGY_SECTION, self.energy), (_LATENCY_SECTION, self.latency)):
            for key in COST_KEYS:
                if section == _LATENCY_SECTION and key in DERIVED_LATENCY_KEYS:
                    continue
                sections[section].append(f"{key} = {_show(getattr(table, key))}")
        for key in AREA_KEYS:
            sections[_AREA_SECTION].append(f"{key} = {_show(getattr(self.area, key))}")
        parts = ["\n".join(top)]
        parts += [f"[{name}]\n" + "\n".join(lines) for name, lines in sections.items()]
        return "\n\n".join(parts) + "\n"

    # ---------------------------------------------------------------- overrides

    def replace(self, **overrides: Any) -> "Hardware":
        """A copy with the given attributes replaced, validated like a file.

        ``energy``/``latency`` take a :class:`CostTable` or a mapping of some
        cost keys to new values.  Changing a bandwidth re-derives the matching
        latency entries.  Unknown names raise :class:`HardwareError` with the
        closest match."""
        where = "hardware override"
        fields = [s.attr for s in _SPECS] + ["energy", "latency", "area"]
        unknown = [k for k in overrides if k not in fields]
        if unknown:
            raise HardwareError(
                f"{where}: "
                + "; ".join(f"unknown field '{k}'" + _suggest(k, fields) for k in unknown)
            )
        d = self.to_dict()
        for spec in _SPECS:
            if spec.attr in overrides:
                d[spec.attr] = _check(spec, overrides[spec.attr], spec.attr, where)
        for attr, section in (("energy", _ENERGY_SECTION), ("latency", _LATENCY_SECTION)):
            if attr not in overrides:
                continue
            new = overrides[attr]
            if isinstance(new, CostTable):
                new = new.to_dict()
            d[section] = {**d[section], **_cost_values(new, attr, where, required=())}
        if "area" in overrides:
            new = overrides["area"]
            new = new.to_dict() if isinstance(new, AreaTable) else new
            d[_AREA_SECTION] = _area_values(new, where, self.area)
        latency = d[_LATENCY_SECTION]
        explicit = overrides.get("latency")
        explicit = explicit.to_dict() if isinstance(explicit, CostTable) else explicit or {}
        for key, bw_attr in DERIVED_LATENCY_KEYS.items():
            if key not in explicit:
                latency[key] = 1.0 / d[bw_attr]
        return _build(d, where, lambda attr: attr)

    def override(self, *assignments: str, source: str = "hardware override") -> "Hardware":
        """Apply textual ``key=value`` assignments (e.g. from pass options).

        ``key`` is an attribute name (``adc_bits``), a dotted TOML key
        (``crossbar.adc_bits``) or a cost entry (``energy_pj.adc``,
        ``latency_ns.mvm``); ``value`` is a TOML value (``6``, ``0.5``,
        ``"name"``; a bare word is taken as a string)."""
        fields: dict[str, Any] = {}
        costs: dict[str, dict[str, Any]] = {"energy": {}, "latency": {}}
        known = [s.attr for s in _SPECS] + [s.key for s in _SPECS]
        known += [f"{sec}.{k}" for sec in (_ENERGY_SECTION, _LATENCY_SECTION) for k in COST_KEYS]
        known += [f"{_AREA_SECTION}.{k}" for k in AREA_KEYS]
        area: dict[str, Any] = {}
        for item in assignments:
            key, eq, text = item.partition("=")
            key = key.strip()
            if not eq or not key:
                raise HardwareError(f"{source}: {item!r} is not of the form key=value")
            try:
                value = tomllib.loads(f"v = {text.strip()}")["v"]
            except tomllib.TOMLDecodeError:
                value = text.strip()
            section, _, leaf = key.rpartition(".")
            if section in (_ENERGY_SECTION, "energy", _LATENCY_SECTION, "latency") and leaf:
                target = "energy" if section.startswith("energy") else "latency"
                if leaf not in COST_KEYS:
                    raise HardwareError(
                        f"{source}: unknown key '{key}'"
                        + _suggest(key, [f"{section}.{k}" for k in COST_KEYS])
                    )
                costs[target][leaf] = value
            elif section in (_AREA_SECTION, "area") and leaf:
                if leaf not in AREA_KEYS:
                    raise HardwareError(
                        f"{source}: unknown key '{key}'"
                        + _suggest(key, [f"{section}.{k}" for k in AREA_KEYS])
                    )
                area[leaf] = value
            elif key in _SPEC_BY_ATTR:
                fields[key] = value
            elif key in _SPEC_BY_KEY:
                fields[_SPEC_BY_KEY[key].attr] = value
            else:
                raise HardwareError(f"{source}: unknown key '{key}'" + _suggest(key, known))
        for target, values in costs.items():
            if values:
                fields[target] = values
        if area:
            fields["area"] = area
        try:
            return self.replace(**fields)
        except HardwareError as e:
            msg = str(e)
            prefix = "hardware override"
            raise HardwareError(source + msg[len(prefix):] if msg.startswith(prefix) else msg) from None

    # ---------------------------------------------------------------- MLIR

    def to_attr(self, *, context=None):
        """This description as an MLIR ``DictAttr`` (in ``context`` or the
        current context): attribute names as keys, ints as ``i64``, floats as
        ``f64``, strings as strings, the cost tables as nested dicts
        ``energy_pj`` and ``latency_ns``.  Inverse of :meth:`from_attr`."""
        from torch_mlir import ir

        i64 = ir.IntegerType.get_signless(64, context)

        def conv(value: Any):
            if isinstance(value, str):
                return ir.StringAttr.get(value, context)
            if isinstance(value, int):
                return ir.IntegerAttr.get(i64, value)
            return ir.FloatAttr.get_f64(value, context)

        entries = {s.attr: conv(getattr(self, s.attr)) for s in _SPECS}
        for section, table in ((_ENERGY_SECTION, self.energy), (_LATENCY_SECTION, self.latency)):
            entries[section] = ir.DictAttr.get(
                {k: conv(v) for k, v in table.to_dict().items()}, context
            )
        entries[_AREA_SECTION] = ir.DictAttr.get(
            {k: conv(v) for k, v in self.area.to_dict().items()}, context
        )
        return ir.DictAttr.get(entries, context)

    @classmethod
    def from_attr(cls, attr, *, source: str = f"attribute '{ATTR_NAME}'") -> "Hardware":
        """Inverse of :meth:`to_attr`; raises :class:`HardwareError` naming the
        offending entry if ``attr`` is not a valid description.

        Each attribute is parsed and validated once per MLIR context: later
        calls with the same (uniqued) attribute return the same description or
        raise the same error without reading the attribute again, so op
        verifiers and passes may look the hardware up as often as they like."""
        context = getattr(attr, "context", None)
        if context is None:  # not an MLIR attribute: nothing to cache by
            return _parse_attr(attr, source)
        cache = _VALIDATED.get(context)
        if cache is None:
            cache = _VALIDATED[context] = {}
        key = (hash(attr), source)
        found = cache.get(key)
        if found is None:
            try:
                found = _parse_attr(attr, source)
            except HardwareError as e:
                found = e
            cache[key] = found
        if isinstance(found, HardwareError):
            raise HardwareError(str(found))
        return found

    def attach(self, module) -> None:
        """Store this description as the ``imc.hardware`` attribute of
        ``module`` (an ``ir.Module``, ``ir.Operation`` or ``OpView``),
        replacing any previous one."""
        op = _operation(module)
        op.attributes[ATTR_NAME] = self.to_attr(context=op.context)

    @classmethod
    def from_module(cls, module_or_op, default: "str | os.PathLike | Hardware | None" = None) -> "Hardware":
        """The description attached to ``module_or_op`` or to the nearest
        enclosing operation carrying ``imc.hardware``; if there is none,
        ``Hardware.resolve(default)``."""
        op = _operation(module_or_op)
        while op is not None:
            if ATTR_NAME in op.attributes:
                try:
                    attr = op.attributes[ATTR_NAME]
                except (TypeError, ValueError):  # a value the bindings cannot wrap (`array<si32: ...>`)
                    raise HardwareError(f"attribute '{ATTR_NAME}': a value of a type imc cannot read") from None
                return cls.from_attr(attr)
            parent = op.parent
            op = parent.operation if parent is not None else None
        return cls.resolve(default)

    # ---------------------------------------------------------------- text

    def summary(self) -> str:
        """A few human-readable lines for reports."""
        conv = (
            f"analog, {self.adc_bits}-bit ADC (range {self.adc_range:g})"
            if self.is_analog
            else "digital (no ADC)"
        )
        lines = [
            f"hardware '{self.name}'" + (f": {self.description}" if self.description else ""),
            f"  crossbars: {self.cores} cores x {self.crossbars_per_core} = "
            f"{self.total_crossbars} of {self.xbar_rows}x{self.xbar_cols} "
            f"{self.cell_bits}-bit cells, {conv}",
            f"  weights: {self.weight_bits}-bit in {self.weight_slices} slice(s), "
            f"capacity {self.weight_capacity:,}; inputs: {self.input_bits}-bit via "
            f"{self.dac_bits}-bit DACs over {self.input_cycles} cycle(s)",
            f"  memory: scratchpad {_bytes(self.spad_bytes)} (align {self.spad_alignment} B, "
            f"{self.spad_bandwidth_gbps:g} GB/s), DRAM {self.dram_bandwidth_gbps:g} GB/s; "
            f"clock {self.clock_ghz:g} GHz",
            f"  noise: program {self.program_noise:g}, read {self.read_noise:g}; "
            f"mvm {self.energy.mvm:g} pJ / {self.latency.mvm:g} ns, "
            f"adc {self.adc_energy_pj:g} pJ, dram {self.energy.dram_read_byte:g} pJ/B",
            f"  area: {self.area_mm2:.2f} mm^2",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        kind = f"adc {self.adc_bits}b" if self.is_analog else "digital"
        return (
            f"<Hardware '{self.name}': {self.cores}x{self.crossbars_per_core} crossbars "
            f"{self.xbar_rows}x{self.xbar_cols}, cell {self.cell_bits}b, "
            f"weight {self.weight_bits}b, input {self.input_bits}b, dac {self.dac_bits}b, "
            f"{kind}, spad {_bytes(self.spad_bytes)}>"
        )

    def __str__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} B"


def _operation(obj):
    """The ``ir.Operation`` behind a Module, OpView or Operation."""
    return obj.operation


def _build(d: dict[str, Any], where: str, label) -> Hardware:
    """Build from a flat dict (attribute names, cost tables under
    ``energy_pj``/``latency_ns``); ``label(attr)`` gives the key name used in
    messages."""
    fields = [s.attr for s in _SPECS] + [_ENERGY_SECTION, _LATENCY_SECTION, _AREA_SECTION]
    unknown = [k for k in d if k not in fields]
    if unknown:
        raise HardwareError(
            f"{where}: " + "; ".join(f"unknown key '{k}'" + _suggest(k, fields) for k in unknown)
        )
    missing = [label(s.attr) for s in _SPECS if s.required and s.attr not in d]
    missing += [sec for sec in (_ENERGY_SECTION, _LATENCY_SECTION) if sec not in d]
    if missing:
        raise HardwareError(f"{where}: {_missing_msg(missing)}")
    kwargs = {}
    for spec in _SPECS:
        value = d.get(spec.attr, spec.default)
        kwargs[spec.attr] = _check(spec, value, label(spec.attr), where)
    kwargs["energy"] = CostTable(
        **_cost_values(d[_ENERGY_SECTION], _ENERGY_SECTION, where, required=COST_KEYS)
    )
    lat = _cost_values(
        d[_LATENCY_SECTION],
        _LATENCY_SECTION,
        where,
        required=[k for k in COST_KEYS if k not in DERIVED_LATENCY_KEYS],
    )
    for key, bw_attr in DERIVED_LATENCY_KEYS.items():
        expected = 1.0 / kwargs[bw_attr]
        if key in lat and not math.isclose(lat[key], expected, rel_tol=1e-9):
            raise HardwareError(
                f"{where}: {_LATENCY_SECTION}.{key} = {lat[key]!r} is inconsistent with "
                f"{label(bw_attr)} = {kwargs[bw_attr]!r} (must be 1/bandwidth = "
                f"{expected!r} ns per byte)"
            )
        lat[key] = expected
    kwargs["latency"] = CostTable(**lat)
    kwargs["area"] = AreaTable(**_area_values(d.get(_AREA_SECTION, {}), where, AREA_DEFAULTS))
    return Hardware(**kwargs)


_VALIDATED: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
"""Per MLIR context: (attribute hash, source) -> the :class:`Hardware` the
attribute describes or the :class:`HardwareError` it raised. Attributes are
uniqued and live as long as their context, so within a context the hash of
an attribute's storage names one attribute; the entry goes with the context."""


def _parse_attr(attr, source: str) -> Hardware:
    """:meth:`Hardware.from_attr` without the cache."""
    from torch_mlir import ir

    def entries(d, prefix: str) -> dict:
        # `NamedAttribute.attr` aborts the process (std::terminate) on a value
        # the bindings cannot wrap (`array<si32: ...>`); `DictAttr[name]`
        # raises a TypeError for it instead.
        out = {}
        for name in [n.name for n in d]:
            label = f"{prefix}{name}"
            try:
                value = d[name]
            except (TypeError, ValueError):
                raise HardwareError(f"{source}: {label} has a value of a type imc cannot read") from None
            out[name] = conv(value, label)
        return out

    def conv(a, label: str):
        if isinstance(a, ir.DictAttr):
            return entries(a, f"{label}.")
        if isinstance(a, ir.BoolAttr):
            return a.value
        if isinstance(a, ir.IntegerAttr):
            return a.value
        if isinstance(a, ir.FloatAttr):
            return a.value
        if isinstance(a, ir.StringAttr):
            return a.value
        raise HardwareError(
            f"{source}: {label} = {a} has the wrong type (expected an integer, "
            f"float, string or dictionary attribute)"
        )

    if not isinstance(attr, ir.DictAttr):
        raise HardwareError(f"{source}: {attr} is not a dictionary attribute")
    return _build(entries(attr, ""), source, lambda a: a)


def _from_toml(text: str, source: str, stack: tuple[str, ...]) -> Hardware:
    where = f"hardware file '{source}'"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise HardwareError(f"{where}: TOML syntax error: {e}") from None

    # Unknown keys and wrong section types, in file order.
    known = _all_toml_keys()
    unknown: list[str] = []
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise HardwareError(
                    f"{where}: {key} = {_show(value)} has the wrong type "
                    f"(expected a table, got {_type_name(value)})"
                )
            for sub, subvalue in value.items():
                dotted = f"{key}.{sub}"
                if key == _LATENCY_SECTION and sub in DERIVED_LATENCY_KEYS:
                    bw = _SPEC_BY_ATTR[DERIVED_LATENCY_KEYS[sub]].key
                    raise HardwareError(
                        f"{where}: {dotted} is derived from {bw} (1/bandwidth ns per "
                        f"byte); remove it and set {bw} instead"
                    )
                if dotted in known:
                    flat[dotted] = subvalue
                else:
                    unknown.append(dotted)
        elif key in _TOP_KEYS:
            flat[key] = value
        else:
            unknown.append(key)
    if unknown:
        raise HardwareError(
            f"{where}: "
            + "; ".join(
                f"unknown key '{k}'" + _suggest(k, known + ([] if "." in k else list(_SECTIONS)))
                for k in unknown
            )
        )

    # Inheritance from a preset: missing keys come from `base`.
    if "base" in flat:
        base_name = flat.pop("base")
        if not isinstance(base_name, str):
            raise HardwareError(
                f"{where}: base = {_show(base_name)} has the wrong type "
                f"(expected a preset name, got {_type_name(base_name)})"
            )
        base = _load_preset(base_name, stack, where=where)
        inherited = {s.key: getattr(base, s.attr) for s in _SPECS}
        for k in COST_KEYS:
            inherited[f"{_ENERGY_SECTION}.{k}"] = getattr(base.energy, k)
            if k not in DERIVED_LATENCY_KEYS:
                inherited[f"{_LATENCY_SECTION}.{k}"] = getattr(base.latency, k)
        for k in AREA_KEYS:
            inherited[f"{_AREA_SECTION}.{k}"] = getattr(base.area, k)
        if f"{_ENERGY_SECTION}.adc" in flat:  # a file's own ADC energy is at its own resolution
            inherited.pop("crossbar.adc_energy_bits")
        flat = {**inherited, **flat}

    d: dict[str, Any] = {}
    energy: dict[str, Any] = {}
    latency: dict[str, Any] = {}
    area: dict[str, Any] = {}
    for key, value in flat.items():
        section, _, leaf = key.partition(".")
        if section == _ENERGY_SECTION:
            energy[leaf] = value
        elif section == _LATENCY_SECTION:
            latency[leaf] = value
        elif section == _AREA_SECTION:
            area[leaf] = value
        else:
            d[_SPEC_BY_KEY[key].attr] = value
    missing = [s.key for s in _SPECS if s.required and s.attr not in d]
    missing += [f"{_ENERGY_SECTION}.{k}" for k in COST_KEYS if k not in energy]
    missing += [
        f"{_LATENCY_SECTION}.{k}"
        for k in COST_KEYS
        if k not in latency and k not in DERIVED_LATENCY_KEYS
    ]
    if missing:
        raise HardwareError(f"{where}: {_missing_msg(missing)}")
    d[_ENERGY_SECTION] = energy
    d[_LATENCY_SECTION] = latency
    d[_AREA_SECTION] = area
    return _build(d, where, lambda attr: _SPEC_BY_ATTR[attr].key)


def _load_preset(name: str, stack: tuple[str, ...], *, where: str | None = None) -> Hardware:
    names = Hardware.presets()
    if name not in names:
        prefix = f"{where}: " if where else ""
        raise HardwareError(
            f"{prefix}unknown hardware preset {name!r}{_suggest(name, names)}; "
            f"available: {', '.join(names)}"
        )
    if name in stack:
        raise HardwareError(
            f"hardware preset {name!r}: circular base chain {' -> '.join(stack + (name,))}"
        )
    return _load_preset_cached(name, stack)


@functools.lru_cache(maxsize=None)
def _load_preset_cached(name: str, stack: tuple[str, ...]) -> Hardware:
    resource = resources.files("imc.ir") / "presets" / f"{name}.toml"
    return _from_toml(resource.read_text(encoding="utf-8"), str(resource), stack + (name,))
