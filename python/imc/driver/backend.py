"""`torch.compile(model, backend="imc")`: a TorchDynamo backend.

Registered in the `torch_dynamo_backends` entry-point group, so that after
installing imc-compiler

    torch.compile(model, backend="imc", options={"hardware": "default", "precision": "ideal"})

works without importing imc. Each FX graph goes through `aot_autograd` (ATen
graphs, parameters lifted to the first inputs), is imported with those inputs
marked as weights, mapped to crossbars and run on the reference interpreter;
outputs are torch tensors. Ops that are not mapped run on the digital unit
*in the interpreter* (and are counted), never on eager PyTorch. A compiled
graph keeps its chip, so its weights are programmed once across calls.
Shapes are static: a new input shape recompiles.
"""

import torch
from torch._dynamo.backends.common import aot_autograd
from torch._guards import TracingContext
from torch._subclasses.fake_tensor import unset_fake_temporarily

__all__ = ["imc_backend", "last_report", "compiled_graphs"]

_GRAPHS: list = []
_LAST: list = [None]

OPTIONS = ("hardware", "precision", "seed", "calibrate")


def last_report():
    """The report of the most recently run imc-compiled graph (or None)."""
    return _LAST[0]


def compiled_graphs() -> list:
    """Every `CompiledModel` this process made through the backend, in order."""
    return list(_GRAPHS)


def imc_backend(gm: torch.fx.GraphModule, example_inputs, options: dict | None = None, **_):
    """The dynamo backend: `options` may set hardware, precision and seed."""
    from imc.driver.compiler import compile_graph

    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"imc backend: unknown option(s) {unknown}; allowed: {list(OPTIONS)}")
    # imc compiles for static shapes: a new shape is a new compile, not a
    # symbolic graph.
    torch._dynamo.config.automatic_dynamic_shapes = False

    # Dynamo hands parameters in as graph inputs: remember which ones they are.
    dynamo_weights = [isinstance(x, torch.nn.Parameter) for x in example_inputs]

    def fw_compiler(graph: torch.fx.GraphModule, inputs):
        context = TracingContext.try_get()
        lifted = getattr(context, "params_flat", None) or []
        weights = [True] * len(lifted) + dynamo_weights
        # aot_autograd calls this under its FakeTensorMode; the graph's
        # constants (index tensors, group-norm's lifted tensors) are real
        # tensors that the importer reads, so compile outside that mode.
        with unset_fake_temporarily():
            compiled = compile_graph(graph, weight_args=weights, **options)
        _GRAPHS.append(compiled)

        def run(args):
            outputs = compiled.run_tensors(args)
            _LAST[0] = compiled.report
            return outputs

        run._boxed_call = True
        return run

    from torch_mlir.extras.fx_decomp_util import get_decomposition_table

    # The same decompositions as torch.export + torch-mlir (e.g. batch norm
    # in inference form is not a torch-mlir op).
    return aot_autograd(fw_compiler=fw_compiler, decompositions=get_decomposition_table())(gm, example_inputs)
