"""NumPy reference interpreter for MLIR modules (upstream dialects).

Usage::

    from imc.sim.interpreter import Interpreter
    outs = Interpreter(module).run("main", [x])

Extra op implementations (e.g. the ``imc`` dialect) are added with
:func:`register` (global) or :meth:`Interpreter.register` (one instance);
see :mod:`imc.sim.interpreter.core` for the implementation contract.
"""

from .core import (
    DYNAMIC,
    CompiledBlock,
    CompiledOp,
    CompiledRegion,
    Interpreter,
    InterpreterError,
    InterpreterHooks,
    element_dtype,
    impl,
    register,
    registered_ops,
)
from . import arith, bufferization, cf, func, imc, imc_transfer, linalg, math, memref, scf, tensor, tm_tensor  # noqa: F401  (registration)

__all__ = [
    "DYNAMIC",
    "CompiledBlock",
    "CompiledOp",
    "CompiledRegion",
    "Interpreter",
    "InterpreterError",
    "InterpreterHooks",
    "element_dtype",
    "impl",
    "register",
    "registered_ops",
]
