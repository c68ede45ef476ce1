"""One design point: compile, run, measure accuracy; the unit of work of a sweep.

:func:`evaluate` is what a Ray task runs.  It takes and returns plain dicts
(no torch or MLIR objects cross process boundaries) and never raises: a
point that fails (a pass error, hardware that cannot hold the model) comes
back with ``status = "failed"`` and a one-line ``error``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from imc.driver.sweep.spec import ModelSpec, SweepSpec

__all__ = ["Point", "COLUMNS", "evaluate", "evaluate_in_worker", "imc_version", "build_model", "call_latency_ns"]

#: Columns of the results file, in order.
COLUMNS = (
    "key", "status", "error", "model", "pipeline", "precision", "calibration", "params",
    "energy_pj", "latency_ns", "latency_bound_ns", "timeline_ns", "throughput_per_s", "dram_read_bytes", "dram_write_bytes", "dram_bytes",
    "spad_read_bytes", "spad_write_bytes", "mvm_count", "adc_conversions", "xbar_cells_programmed",
    "crossbars_used", "total_crossbars", "area_mm2",
    "rel_l2_error", "top1_agreement", "float_rel_l2_error", "batch",
    "compile_s", "run_s", "point_s", "worker", "imc_version", "finished_at",
)


def call_latency_ns(row) -> float | None:
    """A results row's latency per call: the timeline's (`timeline_ns`) when
    the point measured it, else the serialized sum (`latency_ns`); None for
    a failed point."""
    for col in ("timeline_ns", "latency_ns"):
        if row.get(col) not in (None, ""):
            return float(row[col])
    return None


def imc_version() -> str:
    """The installed imc version (part of every point's key)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imc-compiler")
    except PackageNotFoundError:  # running from a source tree
        return "0+source"


@dataclass(frozen=True)
class Point:
    """A model on a hardware with a pipeline and a precision.

    ``params`` are the varied hardware keys and their values (for tables and
    legends); ``hardware`` is the full description as a dict; ``key`` hashes
    (model, hardware, pipeline, precision, seed, imc version)."""

    model: ModelSpec
    params: tuple[tuple[str, Any], ...]
    hardware: dict
    pipeline: str
    precision: str
    seed: int
    key: str
    reference: str = "ideal"
    calibration: str = "max"  # the ADC calibration policy, "off" for none
    timeline: bool = True  # also measure the timeline (warm-call latency, stream throughput)

    @classmethod
    def make(cls, spec: SweepSpec, model: ModelSpec, combo: dict[str, Any]) -> "Point":
        """The point of ``model`` at grid combination ``combo``; the hardware
        is validated (raises :class:`imc.ir.hardware.HardwareError`); a combo
        without ``calibration`` gets "max", the default of ``imc.compile``."""
        hw = spec.hardware_for(combo)
        combo = {"calibration": "max", **combo}
        params = tuple((k, combo[k]) for k, _ in spec.params)
        identity = {
            "model": model.identity(),
            "hardware": hw.to_dict(),
            "pipeline": combo["pipeline"],
            "precision": combo["precision"],
            "calibration": combo["calibration"],
            "seed": spec.seed,
            "imc": imc_version(),
        }
        if spec.reference != "ideal":  # keys of ideal-reference points stay as they were
            identity["reference"] = spec.reference
        if not spec.timeline:  # (a point measured without its timeline is another result)
            identity["timeline"] = False
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        return cls(
            model, params, hw.to_dict(), combo["pipeline"], combo["precision"], spec.seed, key, spec.reference,
            combo["calibration"], spec.timeline,
        )

    def row(self, **values) -> dict[str, Any]:
        """A results row for this point (missing columns empty)."""
        row = dict.fromkeys(COLUMNS, "")
        row.update(
            key=self.key, model=self.model.label, pipeline=self.pipeline, precision=self.precision,
            calibration=self.calibration,
            params=json.dumps(dict(self.params)), batch=self.model.batch, imc_version=imc_version(),
        )
        row.update(values)
        return row


def build_model(model: ModelSpec, seed: int):
    """``(module, inputs)``: the model with seeded weights and the fixed
    seeded batch its accuracy is measured on."""
    import importlib.util

    import torch

    if model.name is not None:
        from imc.frontend import models

        net = models.create(model.name, **{"seed": seed, **dict(model.args)})
        inputs = models.example_inputs(model.name, **{"batch": model.batch, "seed": seed, **dict(model.inputs)})
        return net, tuple(inputs)
    path, _, cls_name = model.file.rpartition(":")
    spec = importlib.util.spec_from_file_location(f"_imc_sweep_{hashlib.sha1(path.encode()).hexdigest()[:8]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ValueError(f"'{path}' has no '{cls_name}'")
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        net = cls().eval()
    finally:
        torch.random.set_rng_state(state)
    gen = torch.Generator().manual_seed(seed)
    return net, tuple(torch.randn(*s, generator=gen) for s in model.input_shapes)


def _one_line(exc: BaseException) -> str:
    text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip() and not line.startswith("reproduce with"))
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:500]


def evaluate(point: Point, *, worker: bool = False) -> dict[str, Any]:
    """Compiles and runs ``point`` once on its batch; returns its results row.

    Totals are those of ``imc.compile(...)`` and one call on the batch (the
    same as a direct compile); the accuracy compares the output under the
    point's precision with the ``ideal`` output of the same program on the
    same batch: relative L2 error and top-1 agreement (argmax over the last
    dimension).  ``float_rel_l2_error`` compares ``ideal`` with PyTorch.
    With ``reference = "float"`` the comparison is with PyTorch's output
    instead, which saves the second interpreter run (``ideal`` matches
    PyTorch to ~1e-7, so the error is the same to that precision), and
    ``float_rel_l2_error`` is left empty.

    The pass pipeline verifies the IR once, after its last pass
    (``verify_each=False``, mlir-opt's ``-verify-each=0``), not after every
    pass: the same IR and results, without re-running the verifiers of every
    op eight times (0.5-0.8 s of a ResNet-18 point on 64-row crossbars).

    The point runs with Python's cyclic garbage collector paused
    (`imc.sim.runtime.gc_paused`): its full collections would rescan the
    compiled model's objects several times during the point. Its compiled
    model and runners are in no reference cycle, so they go when the point
    returns; the few cycles it leaves (a handful of closures) are collected
    once at the end (counted in ``point_s``). With ``worker`` (a process
    that only evaluates points: a sweep's Ray worker, `evaluate_in_worker`)
    what survives that collection, the process's own objects (libraries,
    the import cache of `_importer`: bytes), goes to the permanent
    generation (`gc.freeze`), so the next point's collection traverses only
    what that point left (2,500 objects, 15 ms, after a ResNet-18 point).
    Elsewhere the caller's objects would be frozen too, and the cycles they
    later form never collected."""
    import gc

    from imc.sim.runtime import gc_paused

    t0 = time.perf_counter()
    with gc_paused():
        row = _evaluate(point, t0)
    gc.collect()
    if worker:
        gc.freeze()
    row["point_s"] = time.perf_counter() - t0
    return row


def evaluate_in_worker(point: Point) -> dict[str, Any]:
    """`evaluate` in a process that only evaluates points (what a sweep's
    Ray task runs)."""
    return evaluate(point, worker=True)


def _evaluate(point: Point, t0: float) -> dict[str, Any]:
    """`evaluate` with the collector as it is (its row's ``point_s`` until now)."""
    where = {"worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        import numpy as np
        import torch

        from imc.driver.compiler import compile_imported
        from imc.ir.hardware import Hardware
        from imc.sim.runtime import Runner

        torch.set_num_threads(1)
        net, inputs = build_model(point.model, point.seed)
        hw = Hardware.from_dict(point.hardware)
        pipeline = point.pipeline if point.pipeline.startswith("builtin.module(") else f"builtin.module({point.pipeline})"
        calibrate = False if point.calibration == "off" else point.calibration
        compiled = compile_imported(
            _importer(point, net, inputs), inputs,
            hardware=hw, precision=point.precision, seed=point.seed, pipeline=pipeline, calibrate=calibrate,
            verify_each=False,  # (verified once, after the pipeline: the passes are those the tests verify after each)
        )
        t1 = time.perf_counter()
        out = compiled(*inputs)
        out = out[0] if isinstance(out, tuple) else out
        y = out.detach().numpy().astype(np.float64)
        with torch.no_grad():
            ref = net(*inputs)
        ref = (ref[0] if isinstance(ref, tuple) else ref).detach().numpy().astype(np.float64)
        timed, traced = {}, None
        if point.timeline:  # (traced in `ideal`: the same timeline in every precision)
            t = compiled.timeline(inputs, cold=False, chain=False)  # (a point records no cold makespan, no chain)
            timed = {"timeline_ns": t.warm_makespan_ns, "throughput_per_s": t.throughput_per_s}
            traced = t.outputs[0]
        if point.precision == "ideal":
            ideal = y
        elif point.reference == "float":
            ideal = ref
        elif traced is not None:  # (the timeline's cold call is an `ideal` run on the same batch)
            ideal = traced.astype(np.float64)
        else:
            arrays = [x.detach().numpy() for x in inputs]
            with compiled.context:
                ideal = Runner(compiled.module, hw, precision="ideal", seed=point.seed)(*arrays)[0].astype(np.float64)
        t2 = time.perf_counter()
        float_error = "" if point.reference == "float" and point.precision != "ideal" else _rel_l2(ideal, ref)
        totals = compiled.report.totals
        return point.row(
            status="ok",
            energy_pj=totals.energy_pj,
            latency_ns=totals.latency_ns,
            latency_bound_ns=totals.latency_bound_ns,
            **timed,
            dram_read_bytes=totals.dram_read_bytes,
            dram_write_bytes=totals.dram_write_bytes,
            dram_bytes=totals.dram_read_bytes + totals.dram_write_bytes,
            spad_read_bytes=totals.spad_read_bytes,
            spad_write_bytes=totals.spad_write_bytes,
            mvm_count=totals.mvm_count,
            adc_conversions=totals.adc_conversions,
            xbar_cells_programmed=totals.xbar_cells_programmed,
            crossbars_used=len(compiled.chip.arrays),
            total_crossbars=hw.total_crossbars,
            area_mm2=hw.area_mm2,
            rel_l2_error=_rel_l2(y, ideal),
            top1_agreement=_top1(y, ideal),
            float_rel_l2_error=float_error,
            compile_s=t1 - t0,
            run_s=t2 - t1,
            point_s=time.perf_counter() - t0,
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
            **where,
        )
    except Exception as exc:  # noqa: BLE001 (a failing point is a result, not a crash)
        return point.row(status="failed", error=_one_line(exc), point_s=time.perf_counter() - t0,
                         finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"), **where)


#: The imported modules of this process (a Ray worker evaluates many points):
#: model identity and seed -> the bytecode of `imc.frontend.importer.import_torch`'s
#: module, at most `_IMPORTS_KEPT` (the most recently used).
_IMPORTS: dict[str, bytes] = {}
_IMPORTS_KEPT = 4


def _importer(point: Point, net, inputs):
    """`imc.driver.compiler.compile_imported`'s importer for `point`'s model: the
    import of its first point in this process (every point of a model
    imports the same module: the hardware only enters the passes), parsed
    from its bytecode (a few hundredths of a second for ResNet-18, whose
    import takes seconds)."""
    import io

    from torch_mlir import ir

    from imc.frontend.importer import import_torch

    key = json.dumps({"model": point.model.identity(), "seed": point.seed}, sort_keys=True)

    def importer(context):
        data = _IMPORTS.pop(key, None)
        if data is None:
            module = import_torch(net, tuple(inputs), context=context)
            buf = io.BytesIO()
            module.operation.write_bytecode(buf)
            data = buf.getvalue()
        else:
            module = ir.Module.parse(data, context)
        _IMPORTS[key] = data  # (the most recent last)
        while len(_IMPORTS) > _IMPORTS_KEPT:
            _IMPORTS.pop(next(iter(_IMPORTS)))
        return module

    return importer


def _rel_l2(y, ref) -> float:
    import numpy as np

    den = float(np.linalg.norm(ref))
    return float(np.linalg.norm(y - ref)) / den if den else float(np.linalg.norm(y - ref))


def _top1(y, ref) -> float:
    import numpy as np

    if y.ndim == 0 or y.shape[-1] < 2:
        return float("nan")
    a = y.reshape(-1, y.shape[-1]).argmax(-1)
    b = ref.reshape(-1, ref.shape[-1]).argmax(-1)
    return float(np.mean(a == b))
