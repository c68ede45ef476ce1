"""Tests for imc.ir.hardware: presets, the TOML format, validation messages,
overrides and the MLIR attribute round trip."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
from pathlib import Path

import pytest
from torch_mlir import ir

from imc.ir.hardware import (
    AREA_DEFAULTS,
    ATTR_NAME,
    COST_KEYS,
    DERIVED_LATENCY_KEYS,
    CostTable,
    Hardware,
    HardwareError,
)

INPUTS = Path(__file__).resolve().parents[1] / "Hardware" / "Inputs"
PRESET_DIR = Path(__file__).resolve().parents[2] / "python" / "imc" / "ir" / "presets"
PRESETS = sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


@pytest.fixture
def ctx():
    with ir.Context() as context:
        yield context


# ----------------------------------------------------------------- presets


def test_required_presets_exist():
    assert {"default", "isaac", "puma", "mythic", "metis"} <= set(Hardware.presets())
    assert Hardware.presets() == PRESETS


@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads_and_is_consistent(name):
    hw = Hardware.preset(name)
    assert hw.name == name
    raw = tomllib.loads((PRESET_DIR / f"{name}.toml").read_text())
    # Values come from the file, not from anywhere else.
    assert hw.xbar_rows == raw["crossbar"]["rows"]
    assert hw.cores == raw["chip"]["cores"]
    assert hw.energy.adc == raw["energy_pj"]["adc"]
    assert hw.latency.mvm == raw["latency_ns"]["mvm"]
    # Derived properties.
    assert hw.total_crossbars == raw["chip"]["cores"] * raw["chip"]["crossbars_per_core"]
    assert hw.weight_slices == math.ceil(hw.weight_bits / hw.cell_bits)
    assert hw.input_cycles == math.ceil(hw.input_bits / hw.dac_bits)
    assert hw.is_analog == (raw["crossbar"]["adc_bits"] > 0)
    assert hw.crossbar_cells == hw.xbar_rows * hw.xbar_cols
    # Derived latencies follow the bandwidths.
    for key, bw_attr in DERIVED_LATENCY_KEYS.items():
        assert getattr(hw.latency, key) == pytest.approx(1.0 / getattr(hw, bw_attr))
    assert name in hw.summary() and name in repr(hw)


def test_default_preset_matches_its_specification():
    hw = Hardware.preset("default")
    assert (hw.xbar_rows, hw.xbar_cols, hw.cell_bits, hw.weight_bits) == (128, 128, 2, 8)
    assert (hw.input_bits, hw.dac_bits, hw.adc_bits) == (8, 1, 8)
    assert (hw.cores, hw.crossbars_per_core, hw.spad_bytes) == (512, 8, 256 * 1024)
    assert hw.weight_slices == 4 and hw.input_cycles == 8 and hw.is_analog


@pytest.mark.parametrize(
    "weight_bits, cell_bits, input_bits, dac_bits", [(7, 2, 5, 2), (8, 3, 8, 3), (1, 8, 16, 16), (32, 1, 3, 1)]
)
def test_derived_properties_round_up(weight_bits, cell_bits, input_bits, dac_bits):
    hw = Hardware.preset("default").replace(
        weight_bits=weight_bits, cell_bits=cell_bits, input_bits=input_bits, dac_bits=dac_bits
    )
    assert hw.weight_slices == math.ceil(weight_bits / cell_bits)
    assert hw.input_cycles == math.ceil(input_bits / dac_bits)
    assert hw.weight_capacity == hw.total_crossbars * hw.crossbar_cells // hw.weight_slices


def test_metis_is_digital():
    hw = Hardware.preset("metis")
    assert not hw.is_analog and hw.adc_bits == 0
    assert "digital" in hw.summary()


@pytest.mark.parametrize("name", PRESETS)
def test_preset_files_cite_sources(name):
    # Every value line in a preset carries a comment (a source, D or A).
    for line in (PRESET_DIR / f"{name}.toml").read_text().splitlines():
        code = line.split("#", 1)[0].strip()
        if "=" in code and not code.startswith(("name", "description")):
            assert "#" in line, f"{name}.toml: no source comment on {line!r}"


def test_unknown_preset_lists_available():
    with pytest.raises(HardwareError) as e:
        Hardware.preset("isac")
    msg = str(e.value)
    assert "'isac'" in msg and "did you mean 'isaac'" in msg
    for name in PRESETS:
        assert name in msg


# ----------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", PRESETS)
def test_attr_round_trip(ctx, name):
    hw = Hardware.preset(name)
    attr = hw.to_attr()
    assert isinstance(attr, ir.DictAttr)
    assert isinstance(attr["xbar_rows"], ir.IntegerAttr)
    assert ir.IntegerType(attr["xbar_rows"].type).width == 64
    assert isinstance(attr["clock_ghz"], ir.FloatAttr)
    assert isinstance(attr["name"], ir.StringAttr)
    assert isinstance(attr["energy_pj"], ir.DictAttr)
    assert isinstance(attr["latency_ns"], ir.DictAttr)
    assert sorted(n.name for n in attr["energy_pj"]) == sorted(COST_KEYS)
    assert Hardware.from_attr(attr) == hw


@pytest.mark.parametrize("name", PRESETS)
def test_module_text_round_trip(ctx, name):
    hw = Hardware.preset(name)
    module = ir.Module.parse("module {}")
    hw.attach(module)
    assert ATTR_NAME in module.operation.attributes
    reparsed = ir.Module.parse(str(module))
    assert Hardware.from_module(reparsed) == hw


@pytest.mark.parametrize("name", PRESETS)
def test_dict_and_toml_round_trip(name):
    hw = Hardware.preset(name)
    d = json.loads(json.dumps(hw.to_dict()))
    assert Hardware.from_dict(d) == hw
    assert Hardware.from_toml(hw.to_toml()) == hw


def test_from_dict_fills_derived_latency_and_defaults():
    hw = Hardware.preset("default")
    d = hw.to_dict()
    for key in DERIVED_LATENCY_KEYS:
        del d["latency_ns"][key]
    del d["description"], d["program_noise"]
    back = Hardware.from_dict(d)
    assert back.latency == hw.latency
    assert back.description == "" and back.program_noise == 0.0


def test_from_module_reads_enclosing_module_and_falls_back(ctx):
    module = ir.Module.parse("module { func.func @f() { return } }")
    func = module.body.operations[0]
    assert Hardware.from_module(func) == Hardware.preset("default")  # nothing attached
    assert Hardware.from_module(module, default="isaac") == Hardware.preset("isaac")
    hw = Hardware.preset("puma")
    hw.attach(module)
    assert Hardware.from_module(func) == hw
    assert Hardware.from_module(func.operation, default="isaac") == hw
    # attach replaces a previous description
    Hardware.preset("metis").attach(module)
    assert Hardware.from_module(module).name == "metis"


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("module attributes {imc.hardware = 5} {}", r"is not a dictionary attribute"),
        (
            'module attributes {imc.hardware = {name = "x"}} {}',
            r"missing required keys 'xbar_rows', 'xbar_cols'.*'energy_pj', 'latency_ns'",
        ),
    ],
)
def test_from_module_rejects_bad_attribute(ctx, text, pattern):
    with pytest.raises(HardwareError, match=r"^attribute 'imc.hardware': .*" + pattern):
        Hardware.from_module(ir.Module.parse(text))


def test_from_attr_validates_each_attribute_once(ctx, monkeypatch):
    """Op verifiers and passes look the hardware up per op: the attribute is
    parsed and validated once per context, an error too."""
    import imc.ir.hardware as hardware_module

    parsed = []
    real = hardware_module._parse_attr
    monkeypatch.setattr(hardware_module, "_parse_attr", lambda attr, source: parsed.append(1) or real(attr, source))
    module = ir.Module.parse("module {}")
    Hardware.preset("isaac").attach(module)
    assert [Hardware.from_module(module).name for _ in range(3)] == ["isaac"] * 3
    assert len(parsed) == 1
    bad = ir.Module.parse("module attributes {imc.hardware = 5} {}")
    for _ in range(2):
        with pytest.raises(HardwareError, match="is not a dictionary attribute"):
            Hardware.from_module(bad)
    assert len(parsed) == 2
    Hardware.preset("metis").attach(module)  # a new attribute is validated anew
    assert Hardware.from_module(module).name == "metis" and len(parsed) == 3


@pytest.mark.parametrize(
    "old, new, pattern",
    [
        ("xbar_rows = 128 : i64", "xbar_rows = 0 : i64", r"xbar_rows = 0 is out of range \(allowed 1\.\.65536\)"),
        ("xbar_rows = 128 : i64", 'xbar_rows = "a"', r'xbar_rows = "a" has the wrong type \(expected an integer, got string\)'),
        ("xbar_rows = 128 : i64", "xbar_rows = [1]", r"xbar_rows = \[1\] has the wrong type"),
        ("xbar_rows = 128 : i64", "xbar_rowz = 128 : i64", r"unknown key 'xbar_rowz' \(did you mean 'xbar_rows'\?\)"),
        ("mvm = 3.000000e+01 : f64", "mvm = -1.0 : f64", r"energy_pj.mvm = -1.0 is out of range \(allowed >= 0\)"),
    ],
)
def test_from_attr_validates(ctx, old, new, pattern):
    module = ir.Module.parse("module {}")
    Hardware.preset("default").attach(module)
    text = str(module)
    assert old in text
    with pytest.raises(HardwareError, match=r"^attribute 'imc.hardware': " + pattern):
        Hardware.from_module(ir.Module.parse(text.replace(old, new, 1)))


# ----------------------------------------------------------------- validation


def _default_text() -> str:
    return (PRESET_DIR / "default.toml").read_text()


def _edit(old: str, new: str) -> str:
    text = _default_text()
    assert re.search(old, text, re.M), old
    return re.sub(old, new, text, count=1, flags=re.M)


# (name, TOML text, regex the message must match after "hardware file 'NAME.toml': ")
BAD_TEXTS = [
    ("rows_zero", _edit(r"^rows = 128", "rows = 0"), r"crossbar\.rows = 0 is out of range \(allowed 1\.\.65536\)$"),
    ("rows_big", _edit(r"^rows = 128", "rows = 65537"), r"crossbar\.rows = 65537 is out of range \(allowed 1\.\.65536\)$"),
    ("cell_bits", _edit(r"^cell_bits = 2", "cell_bits = 9"), r"crossbar\.cell_bits = 9 is out of range \(allowed 1\.\.8\)$"),
    ("adc_neg", _edit(r"^adc_bits = 8", "adc_bits = -1"), r"crossbar\.adc_bits = -1 is out of range \(allowed 0\.\.16\)$"),
    ("dac_zero", _edit(r"^dac_bits = 1", "dac_bits = 0"), r"crossbar\.dac_bits = 0 is out of range \(allowed 1\.\.16\)$"),
    ("adc_range0", _edit(r"^adc_range = 1.0", "adc_range = 0.0"), r"crossbar\.adc_range = 0\.0 is out of range \(allowed \(0, 1\]\)$"),
    ("adc_range2", _edit(r"^adc_range = 1.0", "adc_range = 1.5"), r"crossbar\.adc_range = 1\.5 is out of range \(allowed \(0, 1\]\)$"),
    ("align", _edit(r"^scratchpad_alignment = 64", "scratchpad_alignment = 48"), r"memory\.scratchpad_alignment = 48 is out of range \(allowed a power of two in 1\.\.4096\)$"),
    ("align_big", _edit(r"^scratchpad_alignment = 64", "scratchpad_alignment = 8192"), r"memory\.scratchpad_alignment = 8192 is out of range"),
    ("spad_zero", _edit(r"^scratchpad_bytes = 262144", "scratchpad_bytes = 0"), r"memory\.scratchpad_bytes = 0 is out of range \(allowed 1\.\."),
    ("bw_zero", _edit(r"^dram_bandwidth_gbps = 25.6", "dram_bandwidth_gbps = 0"), r"memory\.dram_bandwidth_gbps = 0\.0 is out of range \(allowed > 0\)$"),
    ("clock_inf", _edit(r"^clock_ghz = 1.0", "clock_ghz = inf"), r"chip\.clock_ghz = inf is not finite \(allowed > 0\)$"),
    ("noise_neg", _edit(r"^program = 0.02", "program = -0.1"), r"noise\.program = -0\.1 is out of range \(allowed >= 0\)$"),
    ("noise_nan", _edit(r"^read = 0.01", "read = nan"), r"noise\.read = nan is not finite"),
    ("cost_neg", _edit(r"^mvm = 30.0", "mvm = -1"), r"energy_pj\.mvm = -1\.0 is out of range \(allowed >= 0\)$"),
    ("type_str", _edit(r"^rows = 128", 'rows = "128"'), r'crossbar\.rows = "128" has the wrong type \(expected an integer, got string\)$'),
    ("type_float", _edit(r"^cores = 512", "cores = 512.0"), r"chip\.cores = 512\.0 has the wrong type \(expected an integer, got float\)$"),
    ("type_bool", _edit(r"^cores = 512", "cores = true"), r"chip\.cores = true has the wrong type \(expected an integer, got boolean\)$"),
    ("type_num", _edit(r"^clock_ghz = 1.0", 'clock_ghz = "fast"'), r'chip\.clock_ghz = "fast" has the wrong type \(expected a number, got string\)$'),
    ("type_name", _edit(r'^name = "default"', "name = 3"), r"name = 3 has the wrong type \(expected a string, got integer\)$"),
    ("empty_name", _edit(r'^name = "default"', 'name = ""'), r'name = "" must not be empty$'),
    ("section_type", 'name = "x"\ncrossbar = 5\n', r"crossbar = 5 has the wrong type \(expected a table, got integer\)$"),
    ("unknown", _edit(r"^rows = 128", "rowz = 128"), r"unknown key 'crossbar\.rowz' \(did you mean 'crossbar\.rows'\?\)$"),
    ("wrong_section", _edit(r"^\[noise\]", "[noise]\nclock_ghz = 2.0"), r"unknown key 'noise\.clock_ghz' \(did you mean 'chip\.clock_ghz'\?\)$"),
    ("no_section", 'name = "x"\nrows = 5\n', r"unknown key 'rows' \(did you mean 'crossbar\.rows'\?\)$"),
    ("bad_section", _edit(r"^\[noise\]", "[noize]"), r"unknown key 'noize' \(did you mean 'noise'\?\)$"),
    ("unknown_cost", _edit(r"^mvm = 30.0", "mvmm = 30.0"), r"unknown key 'energy_pj\.mvmm' \(did you mean 'energy_pj\.mvm'\?\)$"),
    ("missing", _edit(r"^rows = 128.*\n", ""), r"missing required key 'crossbar\.rows'$"),
    ("missing2", _edit(r"^cores = 512.*\n", "").replace("mvm = 30.0", ""), r"missing required keys 'chip\.cores', 'energy_pj\.mvm'$"),
    ("derived", _edit(r"^\[latency_ns\]", "[latency_ns]\nspad_read_byte = 1.0"), r"latency_ns\.spad_read_byte is derived from memory\.scratchpad_bandwidth_gbps"),
    ("syntax", _edit(r"^rows = 128", "rows = = 128"), r"TOML syntax error: .*line \d+"),
    ("bad_base", 'base = "isac"\n', r"unknown hardware preset 'isac' \(did you mean 'isaac'\?\); available: default"),
    ("base_type", "base = 1\n", r"base = 1 has the wrong type"),
    ("area_neg", _edit(r"^adc = 1200.0", "adc = -5.0"), r"area_um2\.adc = -5\.0 is out of range \(allowed >= 0\)$"),
    ("area_type", _edit(r"^core = 14125.0", 'core = "big"'), r'area_um2\.core = "big" has the wrong type \(expected a number, got string\)$'),
    ("area_unknown", _edit(r"^sram_byte = ", "sram_bytes = "), r"unknown key 'area_um2\.sram_bytes' \(did you mean 'area_um2\.sram_byte'\?\)$"),
]


@pytest.mark.parametrize("name, text, pattern", BAD_TEXTS, ids=[b[0] for b in BAD_TEXTS])
def test_bad_text_is_rejected(name, text, pattern):
    with pytest.raises(HardwareError) as e:
        Hardware.from_toml(text, source=f"{name}.toml")
    msg = str(e.value)
    assert "\n" not in msg
    assert re.match(rf"hardware file '{name}\.toml': " + pattern, msg), msg


def test_default_text_edits_are_otherwise_valid():
    # Guard for the table above: the unedited text loads.
    assert Hardware.from_toml(_default_text()) == Hardware.preset("default")


BAD_FILES = {
    "bad_range.toml": r"crossbar\.rows = 0 is out of range \(allowed 1\.\.65536\)$",
    "unknown_key.toml": r"unknown key 'crossbar\.rowz' \(did you mean 'crossbar\.rows'\?\)$",
    "bad_type.toml": r'crossbar\.adc_bits = "8" has the wrong type \(expected an integer, got string\)$',
    "syntax_error.toml": r"TOML syntax error: .*\(at line 6",
    "missing_key.toml": r"missing required key 'chip\.cores'$",
    "derived_latency.toml": r"latency_ns\.dram_read_byte is derived from memory\.dram_bandwidth_gbps",
}


def test_every_bad_input_file_is_tested():
    assert {p.name for p in INPUTS.glob("*.toml") if not p.name.startswith("good_")} == set(BAD_FILES)


@pytest.mark.parametrize("filename", sorted(BAD_FILES))
def test_bad_file_is_rejected(filename):
    path = INPUTS / filename
    with pytest.raises(HardwareError) as e:
        Hardware.from_file(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert re.match(re.escape(f"hardware file '{path}': ") + BAD_FILES[filename], msg), msg
    with pytest.raises(HardwareError):  # the same through resolve()
        Hardware.resolve(str(path))


def test_missing_file():
    with pytest.raises(HardwareError, match=r"^hardware file '.*nonexistent\.toml': No such file"):
        Hardware.from_file(INPUTS / "nonexistent.toml")


def test_base_inherits_and_overrides():
    hw = Hardware.from_file(INPUTS / "good_small.toml")
    default = Hardware.preset("default")
    assert (hw.xbar_rows, hw.xbar_cols, hw.adc_bits) == (64, 64, 6)
    assert hw.name == "good_small"
    assert hw == default.replace(
        name="good_small", description=hw.description, xbar_rows=64, xbar_cols=64, adc_bits=6
    )


def test_adc_energy_scales_with_the_resolution_from_where_it_is_given(tmp_path):
    """`energy.adc` is one conversion at `adc_energy_bits` (default: the
    file's `adc_bits`); other resolutions scale it by ZigZag's ADC model
    (100 N + 0.001 4^N), which `replace`, `override` and `base` keep."""
    hw = Hardware.preset("default")
    assert hw.adc_bits == hw.adc_energy_bits == 8 and hw.adc_energy_pj == hw.energy.adc
    shape = lambda n: 100 * n + 0.001 * 4**n  # noqa: E731
    for bits in (4, 6, 10):
        for derived in (hw.replace(adc_bits=bits), hw.override(f"crossbar.adc_bits={bits}")):
            assert derived.adc_energy_bits == 8
            assert derived.adc_energy_pj == pytest.approx(hw.energy.adc * shape(bits) / shape(8))
    assert hw.replace(adc_bits=4).adc_energy_pj < hw.energy.adc < hw.replace(adc_bits=10).adc_energy_pj
    assert Hardware.from_dict(hw.replace(adc_bits=6).to_dict()).adc_energy_pj == hw.replace(adc_bits=6).adc_energy_pj
    inherits = Hardware.from_file(INPUTS / "good_small.toml")  # base = "default", adc_bits = 6
    assert inherits.adc_energy_bits == 8 and inherits.adc_energy_pj < inherits.energy.adc
    own = tmp_path / "own_adc.toml"
    own.write_text((INPUTS / "good_small.toml").read_text() + "\n[energy_pj]\nadc = 1.0\n")
    own_hw = Hardware.from_file(own)
    assert (own_hw.adc_bits, own_hw.adc_energy_bits, own_hw.adc_energy_pj) == (6, 6, 1.0)
    assert Hardware.preset("metis").adc_energy_pj == 0.0


def test_direct_construction_validates():
    hw = Hardware.preset("default")
    with pytest.raises(HardwareError, match=r"xbar_rows = 0 is out of range"):
        dataclasses.replace(hw, xbar_rows=0)
    with pytest.raises(HardwareError, match=r"latency_ns\.dram_read_byte = .* is inconsistent"):
        dataclasses.replace(hw, dram_bandwidth_gbps=1.0)
    with pytest.raises(HardwareError, match=r"mvm = -1.0 is out of range"):
        dataclasses.replace(hw.energy, mvm=-1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.xbar_rows = 3  # type: ignore[misc]


def test_cost_table_from_mapping():
    values = {k: float(i) for i, k in enumerate(COST_KEYS)}
    assert CostTable.from_mapping(values).to_dict() == values
    with pytest.raises(HardwareError, match=r"missing required key 'costs\.adc'"):
        CostTable.from_mapping({k: v for k, v in values.items() if k != "adc"})


# ----------------------------------------------------------------- replace / override / resolve


def test_replace_overrides_and_validates():
    hw = Hardware.preset("default")
    small = hw.replace(xbar_rows=64, adc_bits=6, energy={"adc": 2.5})
    assert (small.xbar_rows, small.adc_bits, small.energy.adc) == (64, 6, 2.5)
    assert small.energy.mvm == hw.energy.mvm and hw.xbar_rows == 128  # original untouched
    assert hw.replace(energy=hw.energy) == hw
    faster = hw.replace(dram_bandwidth_gbps=2 * hw.dram_bandwidth_gbps)
    assert faster.latency.dram_read_byte == pytest.approx(hw.latency.dram_read_byte / 2)
    assert hw.replace(clock_ghz=2).clock_ghz == 2.0 and isinstance(hw.replace(clock_ghz=2).clock_ghz, float)


@pytest.mark.parametrize(
    "overrides, pattern",
    [
        ({"xbar_rows": 0}, r"xbar_rows = 0 is out of range \(allowed 1\.\.65536\)$"),
        ({"adc_bits": "6"}, r'adc_bits = "6" has the wrong type \(expected an integer, got string\)$'),
        ({"xbar_row": 64}, r"unknown field 'xbar_row' \(did you mean 'xbar_rows'\?\)$"),
        ({"energy_pj": {}}, r"unknown field 'energy_pj' \(did you mean 'energy'\?\)$"),
        ({"energy": {"adcc": 1.0}}, r"unknown key 'energy\.adcc' \(did you mean 'energy\.adc'\?\)$"),
        ({"energy": {"adc": -1.0}}, r"energy\.adc = -1\.0 is out of range"),
        ({"latency": {"dram_read_byte": 5.0}}, r"latency_ns\.dram_read_byte = 5\.0 is inconsistent"),
    ],
)
def test_replace_rejects(overrides, pattern):
    with pytest.raises(HardwareError, match=r"^hardware override: " + pattern):
        Hardware.preset("default").replace(**overrides)


def test_override_strings():
    hw = Hardware.preset("default")
    new = hw.override("adc_bits=6", "crossbar.rows = 64", "energy_pj.adc=2", "name=tuned")
    assert new == hw.replace(adc_bits=6, xbar_rows=64, energy={"adc": 2.0}, name="tuned")
    with pytest.raises(HardwareError, match=r"^opt: adc_bits = \"x\" has the wrong type"):
        hw.override("adc_bits=x", source="opt")
    with pytest.raises(HardwareError, match=r"unknown key 'crossbar\.rowz' \(did you mean 'crossbar\.rows'\?\)"):
        hw.override("crossbar.rowz=3")
    with pytest.raises(HardwareError, match=r"'noequals' is not of the form key=value"):
        hw.override("noequals")


def test_resolve():
    assert Hardware.resolve(None) == Hardware.preset("default")
    assert Hardware.resolve("isaac") == Hardware.preset("isaac")
    hw = Hardware.preset("puma")
    assert Hardware.resolve(hw) is hw
    path = INPUTS / "good_small.toml"
    assert Hardware.resolve(str(path)) == Hardware.from_file(path)
    assert Hardware.resolve(path).name == "good_small"
    with pytest.raises(HardwareError, match=r"unknown hardware 'isac': not a preset \(did you mean 'isaac'\?\)"):
        Hardware.resolve("isac")
    with pytest.raises(HardwareError, match=r"wrong type"):
        Hardware.resolve(3)  # type: ignore[arg-type]


def test_summary_mentions_key_figures():
    hw = Hardware.preset("isaac")
    text = hw.summary()
    assert 2 <= len(text.splitlines()) <= 8
    for figure in (str(hw.total_crossbars), f"{hw.xbar_rows}x{hw.xbar_cols}", f"{hw.adc_bits}-bit ADC"):
        assert figure in text


# ----------------------------------------------------------------- area


def test_area_section_is_optional_with_documented_defaults():
    text = re.sub(r"(?ms)^\[area_um2\].*", "", _default_text())
    assert "[area_um2]" not in text
    hw = Hardware.from_toml(text)
    assert hw.area == AREA_DEFAULTS
    partial = Hardware.from_toml(text + "\n[area_um2]\nadc = 600.0\n")
    assert partial.area.adc == 600.0 and partial.area.core == AREA_DEFAULTS.core


def test_isaac_area_matches_the_paper():
    # ISAAC: 85.4 mm^2 chip minus 22.88 mm^2 of HyperTransport links (hardware-facts.md).
    assert Hardware.preset("isaac").area_mm2 == pytest.approx(85.4 - 22.88, rel=1e-3)
    assert Hardware.preset("puma").area_mm2 == pytest.approx(90.6, rel=1e-3)


def test_area_follows_the_geometry():
    hw = Hardware.preset("default")
    a = hw.area
    parts = hw.area_breakdown_um2
    assert parts["crossbars"] == pytest.approx(hw.total_crossbars * 128 * 128 * a.cell)
    assert parts["adcs"] == pytest.approx(hw.total_crossbars * a.adcs_per_crossbar * a.adc)
    assert parts["scratchpad"] == pytest.approx(hw.spad_bytes * a.sram_byte)
    assert hw.area_mm2 == pytest.approx(sum(parts.values()) / 1e6)
    # Converters double per bit; a digital chip has no ADC; cells scale with rows x cols.
    assert hw.replace(adc_bits=6).area_breakdown_um2["adcs"] == pytest.approx(parts["adcs"] / 4)
    assert hw.replace(adc_bits=0).area_breakdown_um2["adcs"] == 0
    assert hw.replace(xbar_rows=256).area_breakdown_um2["crossbars"] == pytest.approx(2 * parts["crossbars"])
    assert hw.replace(spad_bytes=2 * hw.spad_bytes).area_mm2 > hw.area_mm2


def test_area_replace_override_and_round_trips(ctx):
    hw = Hardware.preset("default")
    assert hw.replace(area={"core": 1.0}).area.core == 1.0
    assert hw.override("area_um2.adc=600").area.adc == 600.0
    with pytest.raises(HardwareError, match=r"unknown key 'area_um2\.adcs'"):
        hw.override("area_um2.adcs=3")
    with pytest.raises(HardwareError, match=r"area_um2\.dac = -1\.0 is out of range"):
        hw.replace(area={"dac": -1.0})
    small = hw.replace(area={"sram_byte": 0.5})
    assert Hardware.from_attr(small.to_attr()) == small
    assert Hardware.from_toml(small.to_toml()) == small
    assert Hardware.from_dict(json.loads(json.dumps(small.to_dict()))) == small
    # An attribute written before the area model (no area_um2 entry) still loads.
    d = small.to_dict()
    del d["area_um2"]
    assert Hardware.from_dict(d).area == AREA_DEFAULTS
