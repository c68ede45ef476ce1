"""The package's layers, each a folder, and the direction of its imports.

Layers, lowest first: IR (`dialects/` = `imc.dialects`, the dialect; `imc.ir`:
attributes, IR helpers, the hardware description, op costs) <- transforms
(`passes/` = `imc.passes`, one pass per file; `imc.transforms`: their planners
and the pass manager) <- simulation (`imc.sim`: the interpreter
`imc.sim.interpreter`, above it the runtime, report, analyses) <- driver
(`imc.frontend`: the torch importer and the model zoo; `imc.driver`: compiler,
backend, sweeps; `tools/` = `imc.tools`). A module imports only modules of its own
layer or below; only the frontend and the driver (a sweep point
builds its model) import torch. Inside the simulation layer the interpreter
sits below the runtime that counts on it, and its dialects reach the imc ops'
chip and counters only through what the runtime registers
(`Interpreter.get_data`), never by importing `imc.sim.interpreter.imc`.
Lazy imports inside functions count too. Importing the passes and running
`imc-opt` on a placed program does not import torch (checked in a subprocess).
"""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import imc

ROOT = Path(__file__).resolve().parents[2]
# Where each part of the `imc` package lives in the repository (pyproject's package-dir).
SOURCES = {"imc": ROOT / "python/imc", "imc.dialects": ROOT / "dialects", "imc.passes": ROOT / "passes", "imc.tools": ROOT / "tools"}

IR, TRANSFORMS, INTERPRETER, SIMULATION, DRIVER = range(5)
# One folder per layer (two where the required top-level folders hold part of
# one): a module's layer is its folder's.
LAYERS = {
    "imc.dialects": IR,  # dialects/
    "imc.ir": IR,
    "imc.passes": TRANSFORMS,  # passes/
    "imc.transforms": TRANSFORMS,
    "imc.sim.interpreter": INTERPRETER,  # the bottom of the simulation layer
    "imc.sim": SIMULATION,
    "imc.frontend": DRIVER,
    "imc.driver": DRIVER,
    "imc.tools": DRIVER,  # tools/
    "imc": DRIVER,  # the package itself: `imc.compile`, re-exports
}
TORCH_ALLOWED = ("imc.frontend", "imc.driver.compiler", "imc.driver.backend", "imc.tools.imc_compile", "imc.driver.sweep.point")


def _layer(module: str) -> int:
    """The layer of the longest prefix of `module` in LAYERS."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in LAYERS:
            return LAYERS[name]
    raise KeyError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")


def _modules():
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if package == "imc" and parts and parts[0] in ("dialects", "passes", "tools"):
                continue
            yield ".".join([package, *parts]), path


def _imports(module: str, path: Path):
    """(imported module, line) for every import in the file, lazy ones too."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            if target == "imc" or (node.level and not node.module):
                for alias in node.names:  # `from imc import passes`
                    yield f"{target}.{alias.name}", node.lineno
            else:
                yield target, node.lineno


MODULES = list(_modules())


def test_every_module_has_a_layer():
    for module, _ in MODULES:
        _layer(module)


def test_folders_are_layers():
    """The package root holds only `__init__.py`: every module lives in its layer's folder."""
    loose = [p.name for p in SOURCES["imc"].glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules outside a layer folder: {loose} (move them into ir/, transforms/, sim/, frontend/ or driver/)"


@pytest.mark.parametrize("module,path", MODULES, ids=[m for m, _ in MODULES])
def test_imports_go_down(module, path):
    own = _layer(module)
    wrong = []
    for target, line in _imports(module, path):
        if target == "torch" or target.startswith("torch."):
            if not module.startswith(TORCH_ALLOWED):
                wrong.append(f"{path.name}:{line}: imports {target} (only the frontend and the driver import torch)")
        elif target.startswith("imc.") or target == "imc":
            try:
                layer = _layer(target)
            except KeyError:
                continue  # `from imc.x import name` where name is a symbol, resolved above
            if layer > own:
                wrong.append(f"{path.name}:{line}: {module} (layer {own}) imports {target} (layer {layer})")
    assert not wrong, "\n".join(wrong)


def test_interpreter_dialects_do_not_import_the_imc_execution():
    """Only the imc dialect's modules (`imc.sim.interpreter.imc*`, and the
    package, which registers every dialect) import `imc.sim.interpreter.imc`:
    the other dialects' fast paths reach its chip and counters through the
    registered execution."""
    wrong = []
    for module, path in MODULES:
        if not module.startswith("imc.sim.interpreter.") or module.startswith("imc.sim.interpreter.imc"):
            continue
        for target, line in _imports(module, path):
            if target == "imc.sim.interpreter.imc" or target.startswith("imc.sim.interpreter.imc."):
                wrong.append(f"{path.name}:{line}: {module} imports {target}")
    assert not wrong, "\n".join(wrong)


PLACED = """
module {
  func.func @main(%x: tensor<1x64xf32>) -> tensor<1x32xf32> {
    %w = arith.constant dense<0.5> : tensor<64x32xf32>
    %e = tensor.empty() : tensor<1x32xf32>
    %z = arith.constant 0.0 : f32
    %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x32xf32>) -> tensor<1x32xf32>
    %y = linalg.matmul ins(%x, %w : tensor<1x64xf32>, tensor<64x32xf32>) outs(%f : tensor<1x32xf32>) -> tensor<1x32xf32>
    return %y : tensor<1x32xf32>
  }
}
"""


def test_passes_and_imc_opt_do_not_import_torch(tmp_path):
    source = tmp_path / "matmul.mlir"
    source.write_text(PLACED)
    placed, out = tmp_path / "placed.mlir", tmp_path / "out.mlir"
    code = textwrap.dedent(
        f"""
        import sys
        import imc.passes
        for name in imc.passes.PASSES:
            imc.passes.get_pass_class(name)
        from imc.tools.imc_opt import main
        assert main([{str(source)!r}, "-p", "imc-map-to-crossbars", "-o", {str(placed)!r}]) == 0
        assert main([{str(placed)!r}, "-p", "imc-place-buffers", "-o", {str(out)!r}]) == 0
        print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]"
    assert "imc.spad_alloc" in out.read_text() or "imc.program" in out.read_text()


KNOWN_CYCLES = [
    # core decodes `arith.constant` through arith's decoder (a lazy import); to be removed.
    {"imc.sim.interpreter.arith", "imc.sim.interpreter.core"},
]


def test_no_import_cycles():
    """No two modules import each other, directly or through others, lazily or not
    (`imc.transforms.pipeline` <-> `imc.passes` was one: passes now import `imc.transforms.pass_base`)."""
    names = {m for m, _ in MODULES}
    graph = {}
    for module, path in MODULES:
        graph[module] = set()
        for target, _ in _imports(module, path):
            parts = target.split(".")
            for n in range(len(parts), 0, -1):
                candidate = ".".join(parts[:n])
                if candidate in names:
                    if candidate != module:
                        graph[module].add(candidate)
                    break
    # Strongly connected components (Tarjan).
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert [c for c in cycles if c not in KNOWN_CYCLES] == []
