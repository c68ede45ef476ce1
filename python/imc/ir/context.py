"""MLIR contexts with everything imc needs loaded."""

from torch_mlir import ir

from imc.dialects import imc as imc_dialect


def make_context(*, allow_unregistered: bool = False) -> ir.Context:
    """A new `ir.Context` with the upstream dialects, `torch` and `imc` loaded."""
    context = ir.Context()
    context.allow_unregistered_dialects = allow_unregistered
    try:
        from torch_mlir.dialects import torch as torch_dialect

        torch_dialect.register_dialect(context)
    except ImportError:  # pragma: no cover - torch_mlir always ships it
        pass
    imc_dialect.load(context)
    return context
