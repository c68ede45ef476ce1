"""torch.compile(model, backend="imc") in a fresh process that does not import imc first."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from imc.frontend import models

SCRIPT = textwrap.dedent(
    """
    import json, re, sys
    import torch
    assert "imc" not in sys.modules
    from imc.frontend.models import ZOO, create, example_inputs   # definitions only
    results = {}
    for name in sys.argv[1:]:
        torch._dynamo.reset()
        model = create(name)
        inputs = example_inputs(name)
        compiled = torch.compile(model, backend="imc", options={"hardware": "default", "precision": "ideal"})
        with torch.no_grad():
            ref = model(*inputs)
            outs = [compiled(*inputs) for _ in range(3)]
        err = max(float((o - ref).abs().max() / ref.abs().max().clamp_min(1e-12)) for o in outs)
        import imc.driver.backend
        graphs = imc.driver.backend.compiled_graphs()
        # Distinct programs (a loop's last-trip copy of an op programs the
        # same weights on the same crossbar as the op itself).
        programs = sum(len(set(re.findall(r'"imc.program"\\(([^)]*)\\) (\\{[^}]*\\})', g.mlir))) for g in graphs)
        events = sum(g.report.totals.xbar_program_events for g in graphs)
        calls = [g.report.calls for g in graphs]
        imc.driver.backend._GRAPHS.clear()
        results[name] = {"err": err, "programs": programs, "events": events, "calls": calls}
    print(json.dumps(results))
    """
)


def _run(names):
    # The zoo module is imported by the script; `imc` itself must come through
    # the entry point. models lives in imc.frontend.models, so check the backend lookup
    # happens before any other imc module is loaded.
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.replace('assert "imc" not in sys.modules\n    from imc.frontend.models', 'assert "imc" not in sys.modules\n    import torch._dynamo\n    assert torch._dynamo.list_backends().count("imc") == 1\n    from imc.frontend.models'), *names],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("group", [["mlp", "lenet5", "bert_encoder", "gpt2_block"], ["resnet18", "mobilenet_v2"]])
def test_torch_compile_backend_on_zoo(group):
    results = _run(group)
    for name in group:
        r = results[name]
        assert r["err"] < 1e-4, (name, r)
        assert r["programs"] > 0, (name, "no weight was mapped to a crossbar", r)
        # Three calls, each weight tile programmed once (on the first).
        assert all(c == 3 for c in r["calls"]), (name, r)
        assert r["events"] == r["programs"], (name, r)


def test_zoo_is_covered():
    names = {"mlp", "lenet5", "bert_encoder", "gpt2_block", "resnet18", "mobilenet_v2"}
    assert names == set(models.ZOO), "update the backend smoke test groups"


class _Broken(torch.nn.Module):
    """Two linears with a graph break between them."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(16, 32)
        self.b = torch.nn.Linear(32, 8)

    def forward(self, x):
        y = torch.relu(self.a(x))
        torch._dynamo.graph_break()
        return self.b(y)


def test_graph_breaks_and_new_shapes_recompile():
    import imc.driver.backend

    torch._dynamo.reset()
    imc.driver.backend._GRAPHS.clear()
    model = _Broken().eval()
    compiled = torch.compile(model, backend="imc")
    x = torch.randn(4, 16)
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), rtol=1e-4, atol=1e-6)
        graphs = imc.driver.backend.compiled_graphs()
        assert len(graphs) == 2  # one per side of the break, both on crossbars
        assert all(g.report.totals.xbar_program_events > 0 for g in graphs)
        y = torch.randn(7, 16)  # a new shape: a new static compile
        assert torch.allclose(compiled(y), model(y), rtol=1e-4, atol=1e-6)
        assert len(imc.driver.backend.compiled_graphs()) == 4
    assert imc.last_report() is imc.driver.backend.compiled_graphs()[-1].report


def test_unknown_backend_option_is_an_error():
    torch._dynamo.reset()
    compiled = torch.compile(torch.nn.Linear(4, 4), backend="imc", options={"hardwre": "default"})
    with pytest.raises(Exception, match="unknown option"):
        compiled(torch.randn(2, 4))
