"""`imc.compile` and a compiled model's call pause Python's cyclic garbage
collector (`imc.sim.runtime.gc_paused`) and leave it as they found it."""

import gc

import pytest

import imc
from imc.driver import compiler
from imc.frontend import models


def test_the_collector_is_paused_while_compiling():
    seen = []
    real = compiler.import_torch

    def importer(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    assert gc.isenabled()
    compiler.import_torch = importer
    try:
        imc.compile(models.create("lenet5"), models.example_inputs("lenet5"))
    finally:
        compiler.import_torch = real
    assert seen == [False]
    assert gc.isenabled()


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was_even_on_failure(enabled):
    def failing(context):
        raise RuntimeError("import failed")

    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(RuntimeError, match="import failed"):
            compiler._build(failing, hardware="default", precision="ideal", seed=0, pipeline=compiler.DEFAULT_PIPELINE)
        assert gc.isenabled() == enabled
    finally:
        gc.enable()


def test_the_collector_is_paused_while_running():
    compiled = imc.compile(models.create("lenet5"), models.example_inputs("lenet5"))
    seen = []
    real = compiled._runner.interpreter.run

    def run(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    compiled._runner.interpreter.run = run
    compiled(*models.example_inputs("lenet5"))
    assert seen == [False]
    assert gc.isenabled()


def test_a_compiled_model_and_its_runners_go_without_the_collector():
    """A runner is in no reference cycle (its interpreter's hooks, the rows of
    its layers and its tracer's access times hold it weakly), so dropping the
    last reference frees its compiled program at once (a sweep point paid
    0.6 s of the collector's time for it)."""
    import weakref

    from imc.sim.access_times import _Times
    from imc.sim.runtime import Runner
    from imc.sim.timeline import measure

    def access_times():
        return sum(1 for o in gc.get_objects() if type(o) is _Times)

    inputs = models.example_inputs("lenet5")
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    before = access_times()
    try:
        compiled = imc.compile(models.create("lenet5"), inputs, precision="quantized")
        compiled(*inputs)
        arrays = [x.numpy() for x in inputs]
        with compiled.context:
            traced = Runner(compiled.module, compiled.hardware, trace=True)
            measure(traced, arrays, cold=True)
        refs = [
            weakref.ref(o)
            for o in (compiled, compiled._runner, compiled._runner.interpreter, compiled._runner.report,
                      traced, traced.interpreter, traced.tracer, traced.tracer.memory)
        ]
        del compiled, traced
        alive = [type(r()).__name__ for r in refs if r() is not None]
        assert alive == []
        assert access_times() == before  # (the tracer's access times too)
    finally:
        if enabled:
            gc.enable()
