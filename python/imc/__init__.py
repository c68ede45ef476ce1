"""imc: an MLIR compiler for in-memory-computing (crossbar) accelerators.

    compiled = imc.compile(model, example_inputs, hardware="default")
    y = compiled(x)            # runs on the reference interpreter
    print(compiled.report)     # what moved where, layer by layer
"""

from imc.ir.hardware import Hardware, HardwareError

__all__ = ["compile", "last_report", "Hardware", "HardwareError", "CompileError", "PipelineError"]


def last_report():
    """The report of the most recent call of a `torch.compile(..., backend="imc")` graph."""
    from imc.driver.backend import last_report as _last

    return _last()


def compile(model, example_inputs, **kwargs):
    """See `imc.driver.compiler.compile`."""
    from imc.driver.compiler import compile as _compile

    return _compile(model, example_inputs, **kwargs)


def __getattr__(name):
    # `imc.CompileError` / `imc.PipelineError` without importing the MLIR
    # bindings on `import imc`.
    if name in ("CompileError", "PipelineError"):
        from imc.transforms import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'imc' has no attribute {name!r}")
