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
