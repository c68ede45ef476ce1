"""PyTorch import frontend: ``nn.Module`` -> linalg-on-tensors MLIR.

The path is the stock Torch-MLIR one (``torch.export`` -> decompositions ->
``FxImporter`` -> ``torchdynamo-export-to-torch-backend-pipeline`` ->
``torch-backend-to-linalg-on-tensors-backend-pipeline``), with three changes:

* **Fast weights.**  The stock importer materialises every parameter with
  ``tensor.tolist()`` (about 11 of 15 s for ResNet-18).  :class:`FastLiteralHooks`
  instead builds a :class:`~torch_mlir.ir.DenseElementsAttr` straight from the
  tensor's buffer (one copy).  After lowering, weights are ``arith.constant``
  ops whose ``value`` is a ``DenseElementsAttr``; ``np.asarray(attr)`` reads it
  back without a copy (buffer protocol), see :func:`constant_to_numpy`.
* **Non-persistent buffers.**  ``torch.export`` keeps buffers registered with
  ``persistent=False`` in ``ExportedProgram.constants`` rather than its
  ``state_dict``; the stock frozen import only looks in the latter and fails
  with "Could not find state mapping for buffer".  :func:`import_torch` lifts
  state itself and looks in both (and finally in ``model.named_buffers()``).
* **Locations.**  Every op is located at the *user* source line that created
  it (frames inside ``torch`` are skipped, so a convolution points at
  ``self.conv1(x)`` in the model file, not at ``torch/nn/modules/conv.py``),
  wrapped in a ``NameLoc`` holding the qualified ``nn.Module`` path
  (e.g. ``"layer1.0.conv1"``) when the op lives inside a submodule.
  :func:`imc.ir.utils.layer_name` turns such a location into a short label.
"""

from __future__ import annotations

import inspect
import os
import re
import time
import types
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.export
from torch import nn
from torch.fx.experimental.symbolic_shapes import is_concrete_int

from torch_mlir import ir
from torch_mlir.compiler_utils import (
    OutputType,
    lower_mlir_module,
    run_pipeline_with_repro_report,
)
from torch_mlir.dialects import torch as torch_d
from torch_mlir.extras.fx_decomp_util import get_decomposition_table
from torch_mlir.extras.fx_importer import (
    TORCH_DTYPE_TO_MLIR_TYPE_ASM,
    ContextCache,
    FxImporter,
    FxImporterHooks,
    GraphNodeImporter,
    InputInfo,
)

from imc.frontend.affine_folding import fold_into_convolutions
from imc.ir.diagnostics import Diagnostic
from imc.ir.utils import layer_name  # noqa: F401  (re-exported: it used to live here)

__all__ = [
    "FastLiteralHooks",
    "ImportTimings",
    "check_graph",
    "constant_to_numpy",
    "import_torch",
    "layer_name",
]

# Directories whose frames are "library" frames, not user model code.
_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (torch, np)
)
_FRAME_RE = re.compile(r'File "([^"]+)", line ([0-9]+)')

# Pipeline run by torch_mlir.fx._module_lowering before the backend lowering.
_TORCH_BACKEND_PIPELINE = (
    "builtin.module(func.func(torch-match-quantized-custom-ops), "
    "torchdynamo-export-to-torch-backend-pipeline{ extra-library=})"
)


# --------------------------------------------------------------------------- #
# Weights
# --------------------------------------------------------------------------- #


def _tensor_to_elements_attr(
    tensor: torch.Tensor, context: ir.Context
) -> ir.DenseElementsAttr:
    """Builds a ``DenseElementsAttr`` holding ``tensor``'s values.

    The tensor's storage is handed to MLIR through the buffer protocol (one
    copy, no per-element Python work).  The element type follows Torch-MLIR's
    convention for ``torch.vtensor.literal`` (``si64``, ``ui8``, ``f32``...).
    ``bfloat16`` is passed as raw 16-bit words with an explicit ``bf16`` type.

    Raises:
      TypeError: if ``tensor.dtype`` has no MLIR element type here.
    """
    asm = TORCH_DTYPE_TO_MLIR_TYPE_ASM.get(tensor.dtype)
    if asm is None or asm.startswith("!") or asm.startswith("complex"):
        raise TypeError(
            f"imc.frontend.importer: cannot import a constant tensor of dtype {tensor.dtype} "
            f"(shape {tuple(tensor.shape)})"
        )
    t = tensor.detach().to("cpu").contiguous()
    if t.dtype == torch.bfloat16:
        array = t.view(torch.int16).numpy()
    else:
        array = t.numpy()
    element_type = ir.Type.parse(asm, context)
    return ir.DenseElementsAttr.get(
        array, type=element_type, shape=list(t.shape), context=context
    )


class FastLiteralHooks(FxImporterHooks):
    """``FxImporterHooks`` that import tensor literals without ``tolist()``.

    ``resolve_literal`` is called by ``GraphNodeImporter._import_literal`` for
    every constant (parameters, buffers and lifted constants of a frozen
    program, and Python scalars).  For real ``torch.Tensor`` literals it emits
    ``torch.vtensor.literal`` with a ``DenseElementsAttr`` built from the
    tensor's buffer; for everything else it returns ``None`` so the stock
    converter handles it.  The attribute is built once per tensor object.

    Attributes:
      converted_bytes: total size of all tensors converted by this hook.
    """

    def __init__(self) -> None:
        # id(tensor) -> (tensor, attr); the tensor is kept alive so ids are stable.
        self._attrs: dict[int, tuple[torch.Tensor, ir.DenseElementsAttr]] = {}
        self.converted_bytes = 0

    def resolve_literal(
        self, gni: GraphNodeImporter, literal: Any, info: Optional[InputInfo]
    ) -> Optional[ir.Value]:
        """Returns a ``!torch.vtensor`` literal value for tensors, else ``None``."""
        if not isinstance(literal, torch.Tensor) or isinstance(
            literal, torch._subclasses.FakeTensor
        ):
            return None
        if literal.dtype not in _FAST_DTYPES:
            return None  # Let the stock converter decide (and error) on it.
        cached = self._attrs.get(id(literal))
        if cached is None:
            attr = _tensor_to_elements_attr(literal, gni._c)
            self._attrs[id(literal)] = (literal, attr)
            self.converted_bytes += literal.numel() * literal.element_size()
        else:
            attr = cached[1]
        vtensor_type = gni._cc.tensor_to_vtensor_type(literal)
        return ir.Operation.create(
            "torch.vtensor.literal",
            results=[vtensor_type],
            attributes={"value": attr},
        ).result


_FAST_DTYPES = frozenset(
    {
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
    }
)


def constant_to_numpy(attr: ir.Attribute) -> np.ndarray:
    """Returns the value of a dense constant attribute as a NumPy array.

    Meant for the ``value`` of ``arith.constant`` ops produced by
    :func:`import_torch`.  Reads through the buffer protocol (a zero-copy,
    read-only view for non-splat attributes; splats are expanded to the full
    shape).  ``i1`` tensors come back as ``bool``.

    Raises:
      TypeError: if ``attr`` is not a ``DenseElementsAttr`` or NumPy cannot
        represent its element type (e.g. ``bf16`` without ``ml_dtypes``).
    """
    if not isinstance(attr, ir.DenseElementsAttr):
        raise TypeError(
            f"imc.frontend.importer.constant_to_numpy: expected a DenseElementsAttr, got "
            f"{type(attr).__name__} of type {attr.type}"
        )
    try:
        array = np.asarray(attr)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"imc.frontend.importer.constant_to_numpy: NumPy cannot read elements of type "
            f"{attr.type}: {e}"
        ) from e
    if array.dtype == object:  # e.g. bf16 splats
        raise TypeError(
            f"imc.frontend.importer.constant_to_numpy: NumPy cannot represent elements of "
            f"type {attr.type}"
        )
    return array.reshape(ir.ShapedType(attr.type).shape)


# --------------------------------------------------------------------------- #
# Locations
# --------------------------------------------------------------------------- #


def _is_user_frame(filename: str) -> bool:
    path = os.path.abspath(filename)
    return (
        not path.startswith(_LIBRARY_DIRS)
        and not filename.startswith("<")
        and path != _THIS_FILE  # `_CallableModule.forward` is not the user's line
    )


_THIS_FILE = os.path.abspath(__file__)


def _module_path(node: torch.fx.Node) -> str:
    """Qualified path of the innermost ``nn.Module`` that produced ``node``."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    path = next(reversed(stack.values()))[0]
    # Non-strict export spells paths like "L__self__.layer1.0"; normalise.
    return re.sub(r"^(L__self__|L\['self'\]|L\['fn'\])\.?", "", str(path))


class _LocatingContextCache(ContextCache):
    """``ContextCache`` whose node locations point at user model code.

    The location of a node is ``NameLoc(module_path, CallSiteLoc(...))`` where
    the call site's callee is the innermost frame outside ``torch``/``numpy``
    and its callers are the enclosing user frames (outermost last).  Nodes
    without a stack trace get ``None`` (the importer then reuses the previous
    location, as it does for the stock cache).
    """

    def get_node_location(self, node: torch.fx.Node) -> Optional[ir.Location]:
        stack_trace = node.meta.get("stack_trace")
        if not stack_trace:
            return None
        frames = [
            ir.Location.file(f, int(line), col=0, context=self._c)
            for f, line in _FRAME_RE.findall(stack_trace)
            if _is_user_frame(f)
        ]
        module_path = _module_path(node)
        if not frames:
            loc = super().get_node_location(node)
            if module_path and loc is not None:
                loc = ir.Location.name(module_path, childLoc=loc, context=self._c)
            return loc
        loc = frames[-1]
        if len(frames) > 1:
            loc = ir.Location.callsite(frames[-1], frames[-2::-1], context=self._c)
        if module_path:
            loc = ir.Location.name(module_path, childLoc=loc, context=self._c)
        return loc


class _ImcFxImporter(FxImporter):
    """``FxImporter`` using :class:`_LocatingContextCache` for locations."""

    def __init__(self, *, context: ir.Context, hooks: FxImporterHooks) -> None:
        super().__init__(context=context, hooks=hooks)
        self._cc = _LocatingContextCache(
            self._c, py_attr_tracker=self._py_attr_tracker
        )


# --------------------------------------------------------------------------- #
# What imc cannot compile
# --------------------------------------------------------------------------- #


def _node_source(node: torch.fx.Node) -> tuple[str, int]:
    """(file, line) of the innermost user frame that created ``node``, or ("", 0)."""
    frames = [
        (f, int(line))
        for f, line in _FRAME_RE.findall(node.meta.get("stack_trace") or "")
        if _is_user_frame(f)
    ]
    return frames[-1] if frames else ("", 0)


def _node_label(node: torch.fx.Node) -> str:
    if node.op == "placeholder":
        return f"input '{node.target}'"
    if node.op == "get_attr":
        return f"constant '{node.target}'"
    target = node.target
    name = getattr(target, "name", None)
    text = name() if callable(name) else getattr(target, "__name__", str(target))
    return text.replace("::", ".")


def _diagnostic(node: torch.fx.Node, message: str) -> Diagnostic:
    """An error at the node's source line, about `'op' message` (rendered
    `file:line:0: error: 'op' message`, as the pass diagnostics are)."""
    file, line = _node_source(node)
    module = _module_path(node)
    inside = f" (in {module})" if module else ""
    label = _node_label(node)
    if node.op not in ("placeholder", "get_attr"):
        label = f"'{label}' op"
    return Diagnostic("error", f"{label}{inside} {message}", f"{file}:{line}:0" if file else None)


def _tensor_values(value: Any):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensor_values(v)


def _is_symbolic(x: Any) -> bool:
    """A size or scalar that is a symbol (a dynamic shape), not a number."""
    if isinstance(x, torch.SymInt):
        return not is_concrete_int(x)
    return isinstance(x, (torch.SymFloat, torch.SymBool))


def check_graph(graph: torch.fx.Graph, *, what: str) -> None:
    """Rejects what imc cannot compile before it reaches the importer.

    Every node's example value (``node.meta["val"]``) is checked: shapes must
    be static (a symbolic size is a dynamic shape), dtypes real (no complex),
    and no dimension may be 0 (empty tensors).

    Raises:
      CompileError: naming each offending op, its PyTorch source line and
        what to do; ``what`` (e.g. the model's class) starts the message.
    """
    from imc.transforms.pipeline import CompileError

    problems: list[tuple[str, str]] = []  # (summary, diagnostic)
    for node in graph.nodes:
        if node.op == "output":
            continue
        value = node.meta.get("val", node.meta.get("example_value"))
        if _is_symbolic(value):
            problems.append(("dynamic shapes", _diagnostic(
                node, "is a symbolic size: imc compiles for static shapes; compile with example "
                "inputs of the exact shape and without dynamic=True (a new shape recompiles)")))
            continue
        for t in _tensor_values(value):
            shape = tuple(t.shape)
            if any(_is_symbolic(d) for d in shape):
                problems.append(("dynamic shapes", _diagnostic(
                    node, f"has a dynamic shape {list(shape)}: imc compiles for static shapes; compile "
                    "with example inputs of the exact shape and without dynamic=True (a new shape recompiles)")))
            elif t.dtype.is_complex:
                problems.append(("complex numbers", _diagnostic(
                    node, f"produces a {t.dtype} tensor: imc has no complex arithmetic; compute on "
                    "the real and imaginary parts (torch.view_as_real) instead")))
            elif 0 in shape:
                problems.append(("empty tensors", _diagnostic(
                    node, f"produces an empty tensor of shape {list(shape)}: every dimension "
                    "must be at least 1 (e.g. a batch of at least one)")))
            else:
                continue
            break
    if problems:
        kinds = list(dict.fromkeys(k for k, _ in problems))
        diagnostics = []
        for kind in kinds:  # the first few of each kind, then a count
            lines = [d for k, d in problems if k == kind]
            diagnostics += lines[:_MAX_PER_KIND]
            if len(lines) > _MAX_PER_KIND:
                diagnostics.append(Diagnostic("note", f"{len(lines) - _MAX_PER_KIND} more ops with {kind}"))
        raise CompileError(f"imc cannot compile {what}: it uses {', '.join(kinds)}", diagnostics=diagnostics)


_MAX_PER_KIND = 4


def _import_failure(what: str, stage: str, exc: Exception):
    """A CompileError for an exception raised inside torch-mlir's importer or lowering."""
    from imc.transforms.pipeline import CompileError

    lines = [l.strip() for l in str(exc).splitlines() if l.strip()]
    diagnostics = [l for l in lines if ": error:" in l or l.startswith("error:")] or lines[:3]
    return CompileError(
        f"imc cannot compile {what}: {stage} failed ({type(exc).__name__}); the model uses an op "
        "or type that Torch-MLIR cannot lower",
        diagnostics=diagnostics,
    )


# --------------------------------------------------------------------------- #
# Import
# --------------------------------------------------------------------------- #


@dataclass
class ImportTimings:
    """Wall-clock seconds spent in each phase of :func:`import_torch`."""

    export: float = 0.0
    decompose: float = 0.0
    fx_import: float = 0.0
    lowering: float = 0.0
    strict: Optional[bool] = None  # The export mode that succeeded.

    @property
    def total(self) -> float:
        return self.export + self.decompose + self.fx_import + self.lowering


class _CallableModule(nn.Module):
    """Wraps a plain callable so ``torch.export`` can trace it.

    ``torch.export`` records only the frames of functions named ``forward``
    in a node's stack trace; a Python function is therefore called through a
    copy of it whose code is named ``forward`` (same file, lines, globals
    and closure), so that op locations and diagnostics point at the user's
    line rather than at this wrapper.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn
        self._call = fn
        if isinstance(fn, types.FunctionType):
            self._call = types.FunctionType(
                fn.__code__.replace(co_name="forward"), fn.__globals__, "forward", fn.__defaults__, fn.__closure__
            )
            self._call.__kwdefaults__ = fn.__kwdefaults__

    def forward(self, *args: Any) -> Any:
        return self._call(*args)


def _export(
    model: nn.Module, args: tuple, strict: Optional[bool], timings: ImportTimings, what: str = ""
) -> torch.export.ExportedProgram:
    """Runs ``torch.export.export``; with ``strict=None`` non-strict, then strict."""
    modes = [False, True] if strict is None else [bool(strict)]
    errors = []
    for mode in modes:
        try:
            prog = torch.export.export(model, args, strict=mode)
        except Exception as e:  # noqa: BLE001 - re-raised below with context
            errors.append((mode, e))
            continue
        timings.strict = mode
        if errors:
            warnings.warn(
                f"imc.frontend.importer: non-strict torch.export of {what or type(model).__name__} "
                f"failed ({errors[0][1]!r}); used strict (TorchDynamo) export"
            )
        return prog
    from imc.transforms.pipeline import CompileError

    mode, err = errors[-1]
    lines = [l.rstrip() for l in str(err).splitlines() if l.strip()]
    raise CompileError(
        f"imc.frontend.importer: torch.export.export(strict={mode}) of "
        f"{what or type(model).__name__} failed ({type(err).__name__}); imc needs a model that "
        "torch.export can trace (no data-dependent Python control flow)",
        diagnostics=[f"error: {l}" for l in lines[:8]],
    ) from err


def _lift_state(
    prog: torch.export.ExportedProgram, extra_buffers: Mapping[str, torch.Tensor]
) -> dict[str, Any]:
    """Maps each lifted placeholder name of ``prog`` to its frozen value.

    Parameters and persistent buffers come from ``prog.state_dict``;
    non-persistent buffers and lifted tensor constants from ``prog.constants``;
    as a last resort buffers are looked up in ``extra_buffers`` (the model's
    ``named_buffers()``).

    Raises:
      KeyError: naming the placeholder and state entry that has no value.
    """
    sig = prog.graph_signature
    state = prog.state_dict
    constants = getattr(prog, "constants", {}) or {}
    replacements: dict[str, Any] = {}
    tables = (
        ("parameter", sig.inputs_to_parameters, (state,)),
        ("buffer", sig.inputs_to_buffers, (state, constants, extra_buffers)),
        ("tensor constant", sig.inputs_to_lifted_tensor_constants, (constants, state)),
    )
    for kind, mapping, sources in tables:
        for input_name, state_name in mapping.items():
            for source in sources:
                if state_name in source:
                    replacements[input_name] = source[state_name]
                    break
            else:
                raise KeyError(
                    f"imc.frontend.importer: no value for {kind} '{state_name}' "
                    f"(graph input '{input_name}')"
                )
    return replacements


def _freeze_state(graph: torch.fx.Graph, replacements: Mapping[str, Any]) -> None:
    """Replaces the lifted placeholders of ``graph`` by their frozen values.

    Like ``FxImporter.import_frozen_program``, uses of a placeholder become the
    tensor itself (imported as a literal by the importer).  Uses *inside list
    arguments* (e.g. the index list of ``aten.index.Tensor``) cannot hold a raw
    tensor in the importer, so each such occurrence gets its own ``get_attr``
    node on the owning ``GraphModule`` (one node per occurrence: the importer
    binds a ``get_attr`` node on each use).
    """
    owner = graph.owning_module
    counter = 0

    def fresh_get_attr(user: torch.fx.Node, value: torch.Tensor) -> torch.fx.Node:
        nonlocal counter
        name = f"_imc_frozen_{counter}"
        counter += 1
        owner.register_buffer(name, value.detach(), persistent=False)
        with graph.inserting_before(user):
            return graph.get_attr(name)

    for node in list(graph.nodes):
        if node.op != "placeholder" or node.name not in replacements:
            continue
        value = replacements[node.name]
        for user in list(node.users):
            def in_lists(arg: Any) -> Any:
                if isinstance(arg, (list, tuple)):
                    return type(arg)(
                        fresh_get_attr(user, value) if a is node else in_lists(a)
                        for a in arg
                    )
                return arg

            user.args = tuple(in_lists(a) for a in user.args)
            user.kwargs = {k: in_lists(v) for k, v in user.kwargs.items()}
        node.replace_all_uses_with(value)
        graph.erase_node(node)


def _describe(model: Any) -> str:
    """`Net` for a module, `my_fn` (or `<lambda>`) for a function."""
    if isinstance(model, nn.Module):
        return type(model).__name__
    return getattr(model, "__qualname__", None) or type(model).__name__


def _check_inputs(model: nn.Module, args: tuple, what: str) -> None:
    """Rejects example inputs imc cannot compile for (empty or complex tensors)
    before ``torch.export`` fails on them from inside torch."""
    from imc.transforms.pipeline import CompileError

    fn = model.fn if isinstance(model, _CallableModule) else type(model).forward
    try:
        file = inspect.getsourcefile(fn)
        where = f"{file}:{inspect.getsourcelines(fn)[1]}:0: " if file and _is_user_frame(file) else ""
    except (TypeError, OSError):
        where = ""
    diagnostics = []
    for i, t in enumerate(_tensor_values(list(args))):
        shape = list(t.shape)
        if t.dtype.is_complex:
            diagnostics.append(
                f"{where}error: input #{i} of {what} is a {t.dtype} tensor: imc has no complex "
                "arithmetic; pass the real and imaginary parts (torch.view_as_real) instead"
            )
        elif 0 in shape:
            diagnostics.append(
                f"{where}error: input #{i} of {what} is an empty tensor of shape {shape}: every "
                "dimension must be at least 1 (e.g. a batch of at least one)"
            )
    if diagnostics:
        raise CompileError(f"imc cannot compile {what} for these example inputs", diagnostics=diagnostics)


def _import_and_lower(
    importer: "_ImcFxImporter", graph: torch.fx.Graph, what: str, marks: Optional[list] = None
) -> ir.Module:
    """FX graph -> linalg-on-tensors module; failures inside torch-mlir become
    a CompileError (never a bare TypeError or TorchMlirCompilerError).
    ``marks`` receives the time at which the import (before lowering) ended."""
    try:
        importer.import_stateless_graph(graph, func_name="main")
    except Exception as exc:  # noqa: BLE001 - anything the importer raises
        raise _import_failure(what, "the Torch-MLIR importer", exc) from exc
    module = importer.module
    if marks is not None:
        marks.append(time.perf_counter())
    # The lowering's diagnostics would go to stderr: keep them for the error.
    captured: list[Diagnostic] = []
    handler = module.context.attach_diagnostic_handler(lambda d: captured.append(_lowering_diagnostic(d)) or True)
    try:
        run_pipeline_with_repro_report(
            module,
            _TORCH_BACKEND_PIPELINE,
            "Lowering TorchFX IR -> Torch Backend IR",
        )
        lower_mlir_module(False, OutputType.LINALG_ON_TENSORS, module)
    except Exception as exc:  # noqa: BLE001 - TorchMlirCompilerError, MLIRError...
        error = _import_failure(what, "the lowering to linalg", exc)
        errors = [c for c in captured if c.severity == "error"]
        if errors:
            error.diagnostics = errors
        raise error from exc
    finally:
        handler.detach()
    return module


_TORCH_OPERATOR_RE = re.compile(r"failed to legalize operation 'torch\.operator'.*name = \"torch\.([\w.]+)\"")


def _lowering_diagnostic(diag) -> Diagnostic:
    """A diagnostic of Torch-MLIR's lowering; an op it cannot lower is named
    as the ATen op, with what to do."""
    d = Diagnostic.from_mlir(diag)
    message = d.message
    m = _TORCH_OPERATOR_RE.search(message)
    if m:
        message = (
            f"'{m.group(1)}' op is not supported by Torch-MLIR's lowering to linalg: imc cannot compile it; "
            "rewrite this part of the model with supported ops, or run it outside the compiled model"
        )
    return Diagnostic(d.severity, message, d.location)  # (without its notes: Torch-MLIR's internals)


def import_torch(
    model: nn.Module | Callable[..., Any],
    example_inputs: Sequence[Any],
    *,
    strict: Optional[bool] = None,
    timings: Optional[ImportTimings] = None,
    context: Optional[ir.Context] = None,
    fold_batchnorm: bool = True,
) -> ir.Module:
    """Imports a PyTorch model as a linalg-on-tensors MLIR module.

    Args:
      model: an ``nn.Module`` or a plain callable (wrapped in an ``nn.Module``).
        Its train/eval mode is used as is.
      example_inputs: positional example inputs; their shapes and dtypes become
        the static signature of ``@main``.
      timings: if given, filled with per-phase wall-clock times.
      context: MLIR context to create the module in; a new one with the
        ``torch`` dialect registered is made if ``None``.  Downstream code may
        register its own dialects in it.
      strict: ``torch.export`` mode.  ``None`` (default) tries non-strict
        export first -- it traces the real Python code, so it is faster, needs
        no TorchDynamo graph breaks handling and gives exact stack traces --
        and falls back to strict (TorchDynamo) export, with a warning, if
        non-strict tracing fails.  ``True``/``False`` force one mode.
      fold_batchnorm: fold the per-channel affine ops after a convolution
        (an inference BatchNorm) into its weights and bias
        (:mod:`imc.frontend.affine_folding`), as a deployment flow does.

    Returns:
      A verified module with a public ``func.func @main`` made of linalg,
      tensor, arith, math (and possibly tm_tensor/scf) ops and no ``torch``
      dialect ops.  Parameters and buffers are frozen into ``arith.constant``
      ops holding ``DenseElementsAttr`` values (readable by
      :func:`constant_to_numpy`).  Op locations follow :func:`layer_name`'s
      conventions.

    Raises:
      CompileError: (``imc.transforms.pipeline``) if an example input or a node of the
        exported graph is empty, complex or dynamic (:func:`check_graph`), if
        export fails (names the model and export mode), or if Torch-MLIR's
        importer or lowering fails; never an exception from inside torch-mlir.
      KeyError: if a lifted parameter/buffer has no value.
    """
    if timings is None:
        timings = ImportTimings()
    if not isinstance(model, nn.Module):
        if not callable(model):
            raise TypeError(
                f"imc.frontend.importer.import_torch: expected an nn.Module or callable, "
                f"got {type(model).__name__}"
            )
        model = _CallableModule(model)
    args = tuple(example_inputs)

    what = _describe(model.fn if isinstance(model, _CallableModule) else model)
    _check_inputs(model, args, what)
    t0 = time.perf_counter()
    prog = _export(model, args, strict, timings, what)
    t1 = time.perf_counter()
    decompositions = get_decomposition_table()
    if decompositions:
        prog = prog.run_decompositions(decompositions)
    t2 = time.perf_counter()
    check_graph(prog.graph, what=what)

    if context is None:
        context = ir.Context()
    torch_d.register_dialect(context)
    importer = _ImcFxImporter(context=context, hooks=FastLiteralHooks())
    graph = prog.graph
    _freeze_state(graph, _lift_state(prog, dict(model.named_buffers())))
    if fold_batchnorm:
        fold_into_convolutions(graph)
    owning = getattr(graph, "owning_module", None)
    if owning is not None and any(
        isinstance(c, torch.fx.GraphModule) for c in owning.children()
    ):
        # Higher-order ops (cond, while_loop...) reference child graphs.
        importer._import_all_child_modules(owning, "main")
    marks: list[float] = []
    module = _import_and_lower(importer, graph, what, marks)
    t3 = marks[0]
    t4 = time.perf_counter()

    timings.export, timings.decompose = t1 - t0, t2 - t1
    timings.fx_import, timings.lowering = t3 - t2, t4 - t3
    return module


def import_graph(
    gm: torch.fx.GraphModule,
    *,
    weight_args: Sequence[bool] = (),
    context: Optional[ir.Context] = None,
) -> ir.Module:
    """Imports an ATen-level FX graph (as `aot_autograd` hands it) to linalg.

    The graph's placeholders become `@main`'s arguments in order; those with
    a true entry in `weight_args` are parameters and are marked
    `{imc.weight}` so that the mapping passes treat them as weights.
    Locations come from the nodes' stack traces. Raises `CompileError` as
    `import_torch` does (the graph is checked by `check_graph` first).
    """
    what = "the graph handed to the imc backend"
    check_graph(gm.graph, what=what)
    if context is None:
        context = ir.Context()
    torch_d.register_dialect(context)
    importer = _ImcFxImporter(context=context, hooks=FastLiteralHooks())
    module = _import_and_lower(importer, gm.graph, what)
    if any(weight_args):
        with context:
            from imc.ir.utils import WEIGHT_ARG_ATTR, find_function

            main = find_function(module, "main")
            n_args = len(main.regions[0].blocks[0].arguments)
            marked = ir.DictAttr.get({WEIGHT_ARG_ATTR: ir.UnitAttr.get()})
            main.attributes["arg_attrs"] = ir.ArrayAttr.get(
                [marked if i < len(weight_args) and weight_args[i] else ir.DictAttr.get({}) for i in range(n_args)]
            )
    return module
