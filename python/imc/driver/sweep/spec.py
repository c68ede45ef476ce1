"""The sweep file: what to vary, on which models, and how to search.

A sweep file is TOML (``docs/sweep.md``)::

    [sweep]
    hardware = "default"            # base: a preset name or a .toml file
    pipeline = ["imc-tiled"]        # one or more named pipelines (default: imc-tiled)
    precision = ["quantized"]       # ideal, quantized, noisy (accuracy is against ideal)
    calibration = ["max"]           # ADC calibration policies: "max", "p99.9", ..., "off"
    reference = "ideal"             # or "float": compare with PyTorch instead (one interpreter run less)
    timeline = true                 # latency and throughput on the chip's timeline (a traced run per point)
    strategy = "grid"               # grid | random | optuna
    points = 8                      # random/optuna: points per model
    seed = 0

    [[model]]
    name = "mlp"                    # a zoo model ...
    batch = 8
    [[model]]
    file = "tiny.py:TinyNet"        # ... or file.py:Class, relative to the sweep file
    input_shapes = [[8, 16]]

    [vary]
    crossbar.rows = [64, 128, 256]
    memory.scratchpad_bytes = { from = 65536, to = 262144, times = 2 }

:func:`load_spec` validates everything up front and raises one-line
:class:`SweepError` messages naming the file and the key; nothing here
imports torch.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from imc.ir.hardware import Hardware, HardwareError

__all__ = ["ModelSpec", "SweepSpec", "SweepError", "load_spec", "parse_spec", "PRECISIONS", "STRATEGIES"]

PRECISIONS = ("ideal", "quantized", "noisy")
STRATEGIES = ("grid", "random", "optuna")
_SWEEP_KEYS = (
    "hardware", "pipeline", "precision", "calibration", "strategy", "points", "seed", "sampler", "name", "reference", "timeline",
)
REFERENCES = ("ideal", "float")
_MODEL_KEYS = ("name", "file", "label", "batch", "input_shapes", "args", "inputs")


def _is_calibration_policy(policy: str) -> bool:
    """'max' or 'pNN.N' with 0 < NN.N <= 100 (as `imc.sim.calibration.check_policy`)."""
    m = re.fullmatch(r"p(\d+(?:\.\d*)?)", policy)
    return policy == "max" or (m is not None and 0 < float(m.group(1)) <= 100)


class SweepError(ValueError):
    """An invalid sweep file; the message is one line naming the file and key."""


@dataclass(frozen=True)
class ModelSpec:
    """One model of a sweep: a zoo name or ``file.py:Class`` (absolute path).

    ``batch`` is the size of the fixed seeded batch the accuracy is measured
    on (zoo models); ``input_shapes`` give a file model's inputs, batch
    included; ``args`` go to the zoo factory, ``inputs`` to its example-input
    function (e.g. ``size = 64`` for resnet18)."""

    label: str
    name: str | None = None
    file: str | None = None
    batch: int = 1
    input_shapes: tuple[tuple[int, ...], ...] = ()
    args: tuple[tuple[str, Any], ...] = ()
    inputs: tuple[tuple[str, Any], ...] = ()

    def identity(self) -> dict:
        """What makes two model specs produce the same program (for point keys):
        the file's content, not its path."""
        d = {"name": self.name, "batch": self.batch, "input_shapes": [list(s) for s in self.input_shapes],
             "args": dict(self.args), "inputs": dict(self.inputs)}
        if self.file:
            path, _, cls = self.file.rpartition(":")
            with open(path, "rb") as f:
                d["file"] = {"class": cls, "sha256": hashlib.sha256(f.read()).hexdigest()}
        return d


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: models x hardware parameters x pipelines x precisions."""

    source: str
    name: str
    hardware: Hardware
    models: tuple[ModelSpec, ...]
    params: tuple[tuple[str, tuple[Any, ...]], ...]  # (dotted hardware key, values)
    pipelines: tuple[str, ...] = ("imc-tiled",)
    precisions: tuple[str, ...] = ("quantized",)
    calibrations: tuple[str, ...] = ("max",)  # ADC calibration policies ("off": none)
    strategy: str = "grid"
    points: int | None = None
    seed: int = 0
    sampler: str = "nsga2"
    reference: str = "ideal"
    timeline: bool = True  # measure each point's timeline (imc.sim.timeline) beside the serialized latency
    extra: dict = field(default_factory=dict)

    @property
    def dimensions(self) -> list[tuple[str, tuple[Any, ...]]]:
        """Every varied dimension of one model's space, hardware keys first,
        then ``pipeline``, ``precision`` and ``calibration``."""
        return [
            *self.params,
            ("pipeline", self.pipelines),
            ("precision", self.precisions),
            ("calibration", self.calibrations),
        ]

    @property
    def space_size(self) -> int:
        """Points per model in the full grid."""
        n = 1
        for _, values in self.dimensions:
            n *= len(values)
        return n

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of one model's dimensions, in file order."""
        names = [n for n, _ in self.dimensions]
        return [dict(zip(names, combo)) for combo in itertools.product(*(v for _, v in self.dimensions))]

    def combination(self, index: int) -> dict[str, Any]:
        """The ``index``-th grid combination (mixed radix, last dimension fastest)."""
        out = {}
        for name, values in reversed(self.dimensions):
            index, i = divmod(index, len(values))
            out[name] = values[i]
        return {n: out[n] for n, _ in self.dimensions}

    def hardware_for(self, combo: dict[str, Any]) -> Hardware:
        """The base hardware with ``combo``'s hardware keys applied (validated;
        raises :class:`imc.ir.hardware.HardwareError`)."""
        assignments = [f"{k}={_toml_value(combo[k])}" for k, _ in self.params]
        return self.hardware.override(*assignments, source="sweep point") if assignments else self.hardware


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    return repr(v)


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Reads and validates a sweep file; :class:`SweepError` on any problem."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except OSError as e:
        raise SweepError(f"sweep file '{path}': {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise SweepError(f"sweep file '{path}': not UTF-8 text ({e})") from None
    return parse_spec(text, source=path, base_dir=os.path.dirname(os.path.abspath(path)))


def parse_spec(text: str, *, source: str = "<string>", base_dir: str = ".") -> SweepSpec:
    """Validates sweep TOML ``text``; relative paths are relative to ``base_dir``."""
    where = f"sweep file '{source}'"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SweepError(f"{where}: TOML syntax error: {e}") from None
    _unknown(where, "", data, ("sweep", "model", "vary"))
    sweep = data.get("sweep", {})
    _table(where, "sweep", sweep)
    _unknown(where, "sweep.", sweep, _SWEEP_KEYS)

    hw_spec = sweep.get("hardware", "default")
    if not isinstance(hw_spec, str):
        raise SweepError(f"{where}: sweep.hardware = {hw_spec!r} must be a preset name or a .toml path")
    if hw_spec not in Hardware.presets() and not os.path.isabs(hw_spec):
        candidate = os.path.join(base_dir, hw_spec)
        if os.path.exists(candidate):
            hw_spec = candidate
    try:
        hardware = Hardware.resolve(hw_spec)
    except HardwareError as e:
        raise SweepError(f"{where}: sweep.hardware: {e}") from None

    pipelines = _str_list(where, "sweep.pipeline", sweep.get("pipeline", ["imc-tiled"]))
    precisions = _str_list(where, "sweep.precision", sweep.get("precision", ["quantized"]))
    for p in precisions:
        if p not in PRECISIONS:
            raise SweepError(f"{where}: sweep.precision = {p!r} is not one of {', '.join(PRECISIONS)}")
    calibrations = _str_list(where, "sweep.calibration", sweep.get("calibration", ["max"]))
    for c in calibrations:
        if c != "off" and not _is_calibration_policy(c):
            raise SweepError(
                f"{where}: sweep.calibration = {c!r} is not 'off', 'max' or 'pNN.N' (a percentile, e.g. 'p99.9')"
            )
    strategy = sweep.get("strategy", "grid")
    if strategy not in STRATEGIES:
        raise SweepError(f"{where}: sweep.strategy = {strategy!r} is not one of {', '.join(STRATEGIES)}")
    points = sweep.get("points")
    if strategy != "grid" and points is None:
        raise SweepError(f"{where}: sweep.points is required with strategy = {strategy!r} (points per model)")
    if points is not None and (not isinstance(points, int) or isinstance(points, bool) or points < 1):
        raise SweepError(f"{where}: sweep.points = {points!r} must be a positive integer")
    seed = sweep.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SweepError(f"{where}: sweep.seed = {seed!r} must be an integer")
    sampler = sweep.get("sampler", "nsga2")
    if sampler not in ("nsga2", "tpe"):
        raise SweepError(f"{where}: sweep.sampler = {sampler!r} is not one of nsga2, tpe")

    reference = sweep.get("reference", "ideal")
    if reference not in REFERENCES:
        raise SweepError(f"{where}: sweep.reference = {reference!r} is not one of {', '.join(REFERENCES)}")
    timeline = sweep.get("timeline", True)
    if not isinstance(timeline, bool):
        raise SweepError(f"{where}: sweep.timeline = {timeline!r} must be true or false")

    models = data.get("model")
    if not models:
        raise SweepError(f"{where}: no models: add at least one [[model]] with name = \"<zoo model>\" or file = \"file.py:Class\"")
    if not isinstance(models, list):
        raise SweepError(f"{where}: model must be an array of tables ([[model]])")
    model_specs = tuple(_model(where, i, m, base_dir) for i, m in enumerate(models))
    labels = [m.label for m in model_specs]
    if len(set(labels)) != len(labels):
        raise SweepError(f"{where}: two models have the same label {labels}; give them distinct label = \"...\"")

    vary = data.get("vary", {})
    _table(where, "vary", vary)
    params = tuple(_params(where, hardware, _flatten(vary)))

    spec = SweepSpec(
        source=source,
        name=str(sweep.get("name", os.path.splitext(os.path.basename(source))[0])),
        hardware=hardware,
        models=model_specs,
        params=params,
        pipelines=tuple(pipelines),
        precisions=tuple(precisions),
        calibrations=tuple(calibrations),
        strategy=strategy,
        points=points,
        seed=seed,
        sampler=sampler,
        reference=reference,
        timeline=timeline,
    )
    if strategy == "optuna" and spec.space_size < 2:
        raise SweepError(f"{where}: strategy = 'optuna' needs at least two points to choose from; vary something")
    return spec


def _unknown(where: str, prefix: str, table: dict, known) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else f" (known: {', '.join(known)})"
            raise SweepError(f"{where}: unknown key '{prefix}{key}'{hint}")


def _table(where: str, key: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise SweepError(f"{where}: {key} must be a table ([{key}])")


def _str_list(where: str, key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SweepError(f"{where}: {key} = {value!r} must be a string or a non-empty list of strings")
    return value


def _model(where: str, i: int, m: Any, base_dir: str) -> ModelSpec:
    at = f"model[{i}]"
    if not isinstance(m, dict):
        raise SweepError(f"{where}: {at} must be a table")
    _unknown(where, f"{at}.", m, _MODEL_KEYS)
    name, file = m.get("name"), m.get("file")
    if (name is None) == (file is None):
        raise SweepError(f"{where}: {at} needs exactly one of name = \"<zoo model>\" or file = \"file.py:Class\"")
    batch = m.get("batch", 1)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise SweepError(f"{where}: {at}.batch = {batch!r} must be a positive integer")
    for key in ("args", "inputs"):
        if not isinstance(m.get(key, {}), dict):
            raise SweepError(f"{where}: {at}.{key} must be a table of keyword arguments")
    if name is not None:
        from imc.frontend.models import ZOO  # noqa: PLC0415 (torch is imported only when a sweep names a zoo model)

        if name not in ZOO:
            close = difflib.get_close_matches(str(name), list(ZOO), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise SweepError(f"{where}: {at}.name = {name!r} is not a zoo model{hint}; known: {', '.join(sorted(ZOO))}")
        if "input_shapes" in m:
            raise SweepError(f"{where}: {at}.input_shapes is for file models; zoo models take batch and inputs")
        return ModelSpec(label=str(m.get("label", name)), name=name, batch=batch,
                         args=tuple(sorted(m.get("args", {}).items())), inputs=tuple(sorted(m.get("inputs", {}).items())))
    path, _, cls = str(file).rpartition(":")
    if not path or not cls:
        raise SweepError(f"{where}: {at}.file = {file!r} must be path/to/file.py:ClassName")
    full = path if os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))
    if not os.path.exists(full):
        raise SweepError(f"{where}: {at}.file: '{full}' does not exist")
    shapes = m.get("input_shapes")
    ok = isinstance(shapes, list) and shapes and all(
        isinstance(s, list) and s and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in s) for s in shapes
    )
    if not ok:
        raise SweepError(f"{where}: {at}.input_shapes = {shapes!r} must be a list of shapes, e.g. [[8, 16]] (batch first)")
    return ModelSpec(label=str(m.get("label", cls)), file=f"{full}:{cls}", batch=shapes[0][0],
                     input_shapes=tuple(tuple(s) for s in shapes))


def _flatten(vary: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """``{crossbar: {rows: [...]}}`` -> ``[("crossbar.rows", [...])]``; a table
    with ``from``/``to`` is a range, not a section."""
    out = []
    for key, value in vary.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and not ({"from", "to"} & set(value)):
            out += _flatten(value, dotted + ".")
        else:
            out.append((dotted, value))
    return out


def _params(where: str, hardware: Hardware, items: list[tuple[str, Any]]):
    for key, value in items:
        at = f"vary.{key}"
        if isinstance(value, dict):
            values = _range(where, at, value)
        elif isinstance(value, list) and value:
            values = value
        else:
            raise SweepError(f"{where}: {at} = {value!r} must be a non-empty list or a range {{ from, to, step | times }}")
        if len(set(map(repr, values))) != len(values):
            raise SweepError(f"{where}: {at} lists a value twice: {values!r}")
        # Every value must be valid for the key on the base hardware.
        for v in values:
            try:
                hardware.override(f"{key}={_toml_value(v)}", source=f"{where}: {at}")
            except HardwareError as e:
                # Name the key as the sweep file wrote it, not the attribute.
                raise SweepError(re.sub(r": [a-z_]+ = ", f": {key} = ", str(e), count=1)) from None
        yield key, tuple(values)


def _range(where: str, at: str, r: dict) -> list:
    unknown = set(r) - {"from", "to", "step", "times"}
    if unknown:
        raise SweepError(f"{where}: {at} has unknown range key(s) {sorted(unknown)}; use from, to and step or times")
    lo, hi = r.get("from"), r.get("to")
    step, times = r.get("step"), r.get("times")
    nums = [x for x in (lo, hi, step, times) if x is not None]
    if lo is None or hi is None or (step is None) == (times is None) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in nums
    ):
        raise SweepError(f"{where}: {at} = {r!r} must be {{ from = A, to = B, step = S }} or {{ from = A, to = B, times = F }}")
    if (step is not None and step <= 0) or (times is not None and times <= 1) or hi < lo or (times and lo <= 0):
        raise SweepError(f"{where}: {at} = {r!r} is empty or endless (need from <= to, step > 0 or times > 1 with from > 0)")
    values, v = [], lo
    while v <= hi * (1 + 1e-12) and len(values) <= 10000:
        values.append(v)
        v = v + step if step is not None else v * times
    if len(values) > 10000:
        raise SweepError(f"{where}: {at} = {r!r} has more than 10000 values")
    return values
