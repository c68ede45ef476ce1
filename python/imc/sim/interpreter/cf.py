"""``cf`` dialect: only ``cf.assert`` (multi-block control flow is unsupported)."""

from __future__ import annotations

import numpy as np

from torch_mlir import ir

from .core import impl


@impl("cf.assert")
def assert_(interp, op, args):
    if not np.all(args[0]):
        msg = ir.StringAttr(op.ir.attributes["msg"]).value if "msg" in op.ir.attributes else ""
        raise op.error(f"assertion failed: {msg}")
    return ()
