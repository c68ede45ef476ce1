"""`imc.compile`: PyTorch model -> placed crossbar program, callable on tensors."""

import inspect
import time

import numpy as np
import torch

from imc.frontend.importer import import_torch
from imc.ir.context import make_context
from imc.ir.diagnostics import Diagnostic
from imc.ir.hardware import Hardware
from imc.sim.runtime import Runner, gc_paused
from imc.transforms.pipeline import CompileError, Remark, run_pipeline

__all__ = ["compile", "compile_graph", "CompiledModel", "DEFAULT_PIPELINE"]

DEFAULT_PIPELINE = "builtin.module(imc-tiled)"
"""What `compile`, `compile_graph` (`torch.compile(backend="imc")`) and
`imc-compile` run: convolution stages tiled over output rows (those that fit
the scratchpad in tiles of at most 4 rows, so that layers overlap), a pooling or
conv fused into its producer's loop through a line buffer, residual outputs
written over their inputs, layers copied onto spare crossbars where that
shortens them.
`builtin.module(imc-default)` is the layer-at-a-time pipeline (whole
tensors between layers, no copies), kept to compare."""


class CompiledModel:
    """A model compiled for a chip: call it on torch tensors.

    `.report` accumulates counters over calls (`str()` is a table,
    `.to_json()` the JSON report), `.mlir` is the final IR text, `.remarks`
    what the passes said, `.timings` the compile stages in seconds.
    """

    def __init__(self, module, context, hardware, remarks, timings, *, precision, seed, calibrate=None):
        self.module = module
        self.context = context
        self.hardware = hardware
        self.remarks: list[Remark] = remarks
        self.timings = timings
        self._runner = Runner(module, hardware, precision=precision, seed=seed)
        with context:
            _check_executable(self._runner)
        self._mlir = None
        self._bounds = None
        self.seed = seed
        # The ADC calibration still to do on the first inputs (None: done or off).
        self._calibration_policy = _calibration_policy(calibrate, precision)

    def calibrate(self, inputs, policy: str | None = None) -> dict:
        """Sets every MVM's ADC range from its partial sums on `inputs`
        (`imc.sim.calibration`; `policy` defaults to the one given to `compile`, else
        "max"). Recorded in the IR (`adc_full_scale`) and in
        `report.extra["adc_calibration"]`; call before the first run."""
        from imc.sim.calibration import calibrate

        if self.report.calls:
            raise RuntimeError("CompiledModel.calibrate: the model has already run; calibrate before the first call")
        policy = policy or self._calibration_policy or "max"
        arrays = [x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x) for x in inputs]
        # (a quantized model's runner runs the calibration's call itself; a
        # noisy one's draws noise, so a runner of the calibration's own does)
        runner = self._runner if self.report.precision == "quantized" else None
        with self.context:
            summary = calibrate(self.module, self.hardware, arrays, policy=policy, seed=self.seed, runner=runner)
        self._calibration_policy = None
        self._mlir = None
        self.report.extra["adc_calibration"] = summary
        return summary

    def layer_errors(self, inputs) -> dict[str, float]:
        """Per layer, the relative L2 error of what it stores under this
        model's precision against `ideal` on `inputs` (`imc.sim.accuracy`; two
        extra runs, the report is not touched except for
        `report.extra["layer_rel_l2_error"]`)."""
        from imc.sim.accuracy import layer_errors

        precision = self.report.precision
        if precision == "ideal":
            raise ValueError("CompiledModel.layer_errors: the model runs in 'ideal' precision (no error to measure)")
        if self._calibration_policy is not None:
            self.calibrate(inputs)
        arrays = [x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x) for x in inputs]
        with self.context:
            errors = layer_errors(self.module, self.hardware, arrays, precision=precision, seed=self.seed)
        self.report.extra["layer_rel_l2_error"] = errors
        return errors

    @property
    def report(self):
        return self._runner.report

    @property
    def chip(self):
        return self._runner.chip

    def lower_bounds(self):
        """The I/O lower bounds of this program (`imc.sim.analysis`), attached to
        `.report` (each layer's physical floor, bound over all schedules and
        layer-at-a-time bound, over `report.calls` calls)."""
        from imc.sim.analysis import IO_LAYER, lower_bounds

        if self._bounds is None:
            with self.context, gc_paused():  # (it walks the IR, as a compile does)
                self._bounds = lower_bounds(self.module, self.hardware)
        self._bounds.annotate(self.report, io_row=IO_LAYER)
        return self._bounds

    def timeline(self, inputs, *, stream: int = 3, cold: bool = True, chain: bool = True):
        """The program on the chip's timeline (`imc.sim.timeline`): a cold and a
        warm call on an idle chip and a stream of warm calls, run on a fresh
        chip with every op executed as itself (slower than a call; `.report`
        is not touched except for `report.extra["timeline"]`).

        The calls run in `ideal` precision whatever the model's: the
        timeline is the same in every precision mode (the same ops, events
        and data dependencies; only the values differ), and `ideal` computes
        them fastest. `cold=False` leaves the cold call untraced and
        `chain=False` the longest dependency chain unfollowed
        (`imc.sim.timeline.measure`); `timeline.outputs` are the cold call's results."""
        from imc.sim.timeline import measure

        arrays = [x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x) for x in inputs]
        runner = Runner(self.module, self.hardware, precision="ideal", seed=self.seed, trace=True)
        with self.context, gc_paused():  # (its calls pause it anyway; the head-body-tail bound's backward pass too)
            timeline = measure(runner, arrays, stream=stream, cold=cold, chain=chain)
        self.report.extra["timeline"] = timeline.to_dict()
        return timeline

    @property
    def mlir(self) -> str:
        if self._mlir is None:
            with self.context:
                self._mlir = self.module.operation.get_asm(enable_debug_info=True)
        return self._mlir

    def run_tensors(self, inputs) -> list:
        """Runs on a list of torch tensors; returns a list of torch tensors.
        A pending ADC calibration (`torch.compile` has no example inputs at
        compile time) runs first, on these inputs."""
        if self._calibration_policy is not None:
            self.calibrate(inputs)
        arrays = [x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x) for x in inputs]
        with self.context:
            outputs = self._runner(*arrays)
        return [torch.from_numpy(o) for o in outputs]

    def __call__(self, *inputs):
        tensors = self.run_tensors(inputs)
        return tensors[0] if len(tensors) == 1 else tuple(tensors)

    def __repr__(self) -> str:
        return f"CompiledModel(hardware={self.hardware.name!r}, precision={self.report.precision!r})"


def compile(
    model,
    example_inputs,
    *,
    hardware: str | Hardware | None = "default",
    precision: str = "ideal",
    seed: int = 0,
    pipeline: str = DEFAULT_PIPELINE,
    progress=None,
    calibrate: bool | str | None = None,
    fold_batchnorm: bool = True,
    verify_each: bool = True,
) -> CompiledModel:
    """Imports `model` with `example_inputs`, maps it to crossbars, places it.

    `hardware` is a preset name, a TOML path or a `Hardware`; `precision` one
    of ideal, quantized, noisy; `pipeline` a pass pipeline (default
    `DEFAULT_PIPELINE`). `calibrate`: the ADC calibration on the
    example inputs (`imc.sim.calibration`): a policy ("max", "p99.9", ...),
    False for none; by default "max" for quantized and noisy, none for ideal.
    `progress(stage)` is called as stages start. `fold_batchnorm`: fold
    each convolution's following per-channel affine ops (an inference
    BatchNorm) into its weights and bias (`imc.frontend.affine_folding`), as a
    deployment flow does; False keeps them as digital ops. `verify_each`:
    verify the IR after every pass (the default); False verifies it once,
    after the whole pipeline (mlir-opt's `-verify-each=0`: what a sweep's
    points do, `imc.driver.sweep.point`).
    Raises `imc.transforms.pipeline.CompileError` (a `PipelineError`) when the model uses
    what imc cannot compile (dynamic or empty shapes, complex dtypes, ops the
    interpreter cannot execute; the diagnostics name the op and its source
    line), and `PipelineError` (diagnostics and a repro command) when a pass
    fails. Nothing is printed.
    """
    if not isinstance(example_inputs, (tuple, list)):
        example_inputs = (example_inputs,)
    return compile_imported(
        lambda context: import_torch(model, tuple(example_inputs), context=context, fold_batchnorm=fold_batchnorm),
        example_inputs,
        hardware=hardware,
        precision=precision,
        seed=seed,
        pipeline=pipeline,
        progress=progress,
        calibrate=calibrate,
        verify_each=verify_each,
    )


def compile_imported(importer, example_inputs, **options) -> CompiledModel:
    """`compile` from `importer(context)`, which returns the model's
    linalg-on-tensors module in `context` (what `imc.frontend.importer.import_torch`
    returns; e.g. a module parsed from the bytecode of an earlier import:
    a sweep imports each model once per worker); `example_inputs` are the
    model's (for the calibration), `options` `compile`'s keyword arguments
    (the same defaults)."""
    options = {**_compile_defaults(), **options}
    _calibration_policy(options["calibrate"], options["precision"])  # a bad policy fails before any work
    compiled = _build(importer, **options)
    if compiled._calibration_policy is not None:
        progress = options["progress"]
        if progress:
            progress("calibrate")
        t0 = time.perf_counter()
        compiled.calibrate(example_inputs)
        compiled.timings["calibrate"] = time.perf_counter() - t0
    return compiled


def compile_graph(
    gm,
    *,
    weight_args=(),
    hardware: str | Hardware | None = "default",
    precision: str = "ideal",
    seed: int = 0,
    pipeline: str = DEFAULT_PIPELINE,
    calibrate: bool | str | None = None,
) -> CompiledModel:
    """Like `compile`, for an ATen-level FX graph (what `aot_autograd` hands a
    backend); placeholders with a true `weight_args` entry are parameters.
    The ADC calibration, if any, runs on the first call's inputs."""
    from imc.frontend.importer import import_graph

    return _build(
        lambda context: import_graph(gm, weight_args=weight_args, context=context),
        hardware=hardware,
        precision=precision,
        seed=seed,
        pipeline=pipeline,
        calibrate=calibrate,
    )


_IMPORT_OPTIONS = ("fold_batchnorm",)
"""`compile`'s keyword arguments that its importer takes (not `compile_imported`)."""


def _compile_defaults() -> dict:
    """`compile`'s keyword arguments but the importer's, with their defaults."""
    parameters = inspect.signature(compile).parameters.items()
    return {name: p.default for name, p in parameters if p.kind is p.KEYWORD_ONLY and name not in _IMPORT_OPTIONS}


def _calibration_policy(calibrate, precision: str) -> str | None:
    """The calibration policy to apply (None: none), checked."""
    from imc.sim.calibration import check_policy

    if calibrate is None:
        calibrate = precision != "ideal"
    if calibrate is False or precision == "ideal":
        return None
    policy = "max" if calibrate is True else calibrate
    try:
        check_policy(policy)
    except ValueError as exc:
        raise ValueError(f"imc.compile: calibrate={calibrate!r}: {exc}") from None
    return policy


def _build(importer, *, hardware, precision, seed, pipeline, progress=None, calibrate=None, verify_each=True) -> CompiledModel:
    """Imports (`importer(context)`), runs `pipeline` and prepares the
    interpreter, with the garbage collector paused (`gc_paused`)."""
    with gc_paused():
        hw = Hardware.resolve(hardware)
        context = make_context()
        timings = {}
        with context:
            t0 = time.perf_counter()
            if progress:
                progress("import")
            module = importer(context)
            t1 = time.perf_counter()
            timings["import"] = t1 - t0
            if progress:
                progress("map")
            remarks = run_pipeline(module, pipeline, hardware=hw, verify_each=verify_each)
            timings["map"] = time.perf_counter() - t1
        return CompiledModel(module, context, hw, remarks, timings, precision=precision, seed=seed, calibrate=calibrate)


def _check_executable(runner: Runner) -> None:
    """Compiles the program on the interpreter now, so that an op it cannot
    execute is a `CompileError` at compile time, not a failure at run time."""
    from imc.sim.interpreter import InterpreterError

    try:
        runner.interpreter.prepare()
    except InterpreterError as exc:
        diagnostic = exc.diagnostic
        if exc.op_name:
            diagnostic = Diagnostic(
                "error",
                f"'{exc.op_name}' op cannot be executed by imc's interpreter; rewrite this part of "
                "the model with supported ops, or run it outside the compiled model",
                diagnostic.location,
            )
        raise CompileError(f"imc cannot compile this model: {diagnostic.message}", diagnostics=[diagnostic]) from None
