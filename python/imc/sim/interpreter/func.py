"""``func`` dialect: ``func.call`` (``func.return`` is a block terminator)."""

from __future__ import annotations

from torch_mlir import ir

from .core import impl


@impl("func.call")
def call(interp, op, args):
    callee = op.static
    if callee is None:
        callee = op.static = ir.FlatSymbolRefAttr(op.ir.attributes["callee"]).value
    return interp.call(callee, args)
