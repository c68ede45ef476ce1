"""Folds per-channel affine epilogues into the convolutions they follow.

An inference BatchNorm after a convolution is, once exported and decomposed,
a chain of elementwise ops on the convolution's output with per-channel
constants: ``(conv - mean) * (1 / sqrt(var + eps)) * gamma + beta``. A
deployment flow folds it into the convolution's weights and bias (PyTorch's
``torch.nn.utils.fusion.fuse_conv_bn_eval``, vendor quantize-then-compile
flows), so the chip runs no BatchNorm at all. Left in, each BatchNorm is four
elementwise ops per output element on the digital units, with their
scratchpad traffic.

`fold_into_convolutions` does this on the frozen FX graph the frontend
imports (parameters already tensors in the nodes' arguments): for every
``aten.convolution`` with a constant weight whose output feeds, each through
its only use, a chain of ``add`` / ``sub`` / ``mul`` / ``div`` with a
per-output-channel constant (a tensor broadcast over the spatial dimensions,
or a scalar), the chain becomes ``y = conv(x) * s + t`` and is folded: the
weight scaled by ``s`` per output channel, the bias ``b * s + t`` the
convolution's own (torch-mlir initializes the convolution's result with
the bias broadcast over the rows, which a row-tiled stage builds per tile:
`imc.ir.utils.constant_init`). The constants may be computed from frozen
tensors (BatchNorm's ``rsqrt`` of the running variance): such a subgraph is
evaluated if it only reshapes, converts and does arithmetic. Values change
by float rounding only (the folded weights are computed in float64 and
stored at the weight's dtype).
"""

from __future__ import annotations

import torch

__all__ = ["fold_into_convolutions"]

aten = torch.ops.aten
prims = torch.ops.prims

# Ops a per-channel constant may be computed with from frozen tensors.
_CONSTANT_OPS = {
    aten.add.Tensor,
    aten.sub.Tensor,
    aten.mul.Tensor,
    aten.div.Tensor,
    aten.sqrt.default,
    aten.rsqrt.default,
    aten.reciprocal.default,
    aten.neg.default,
    aten.unsqueeze.default,
    aten.squeeze.dim,
    aten.view.default,
    aten.reshape.default,
    aten._to_copy.default,
    prims.convert_element_type.default,
}
_AFFINE = {aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor}


def _constant(value, memo: dict):
    """The value of `value` (a literal, or a node computed from literals by
    `_CONSTANT_OPS`) as a tensor or number, else None."""
    if not isinstance(value, torch.fx.Node):
        return value if isinstance(value, (torch.Tensor, int, float)) else None
    if value in memo:
        return memo[value]
    result = None
    if value.op == "call_function" and value.target in _CONSTANT_OPS:
        args = [_constant(a, memo) if isinstance(a, torch.fx.Node) else a for a in value.args]
        if all(a is not None for a in args) and not any(isinstance(a, torch.fx.Node) for a in value.kwargs.values()):
            with torch.no_grad():
                result = value.target(*args, **value.kwargs)
    memo[value] = result
    return result


def _per_channel(value, channels: int, rank: int) -> torch.Tensor | None:
    """`value` as a float64 vector of `channels` if it is a scalar or a tensor
    that broadcasts against an N x channels x spatial output as one value per
    channel (shape [channels, 1, ...], [1, channels, 1, ...] or [1]), else None."""
    if isinstance(value, (int, float)):
        return torch.full((channels,), float(value), dtype=torch.float64)
    if not isinstance(value, torch.Tensor) or value.is_complex():
        return None
    shape = list(value.shape)
    if len(shape) > rank:
        return None
    shape = [1] * (rank - len(shape)) + shape  # broadcast from the right
    if any(d != 1 for i, d in enumerate(shape) if i != 1) or shape[1] not in (1, channels):
        return None
    return value.reshape(-1).to(torch.float64).expand(channels).clone()


def _fold_chain(conv: torch.fx.Node, memo: dict):
    """(scale, shift, last node) of the affine chain after `conv`, or None."""
    weight = conv.args[1]
    channels = weight.shape[0]
    rank = len(conv.meta["val"].shape) if "val" in conv.meta else weight.dim()
    scale = torch.ones(channels, dtype=torch.float64)
    shift = torch.zeros(channels, dtype=torch.float64)
    node, last = conv, None
    while len(node.users) == 1:
        user = next(iter(node.users))
        if user.op != "call_function" or user.target not in _AFFINE or user.kwargs or len(user.args) != 2:
            break
        a, b = user.args
        if (a is node) == (b is node):
            break
        other = _per_channel(_constant(b if a is node else a, memo), channels, rank)
        if other is None:
            break
        if user.target is aten.mul.Tensor:
            scale, shift = scale * other, shift * other
        elif user.target is aten.div.Tensor:
            if a is not node or bool((other == 0).any()):
                break
            scale, shift = scale / other, shift / other
        elif user.target is aten.add.Tensor:
            shift = shift + other
        elif a is node:  # sub: y - c
            shift = shift - other
        else:  # sub: c - y
            scale, shift = -scale, other - shift
        node = last = user
    if last is None:
        return None
    return scale, shift, last


def fold_into_convolutions(graph: torch.fx.Graph) -> int:
    """Folds the affine chains after convolutions of `graph` (module
    docstring); returns how many convolutions absorbed one."""
    memo: dict = {}
    folded = 0
    for conv in list(graph.nodes):
        if conv.op != "call_function" or conv.target is not aten.convolution.default or len(conv.args) != 9:
            continue
        weight, bias, transposed = conv.args[1], conv.args[2], conv.args[6]
        if transposed or not isinstance(weight, torch.Tensor) or not weight.is_floating_point():
            continue
        if bias is not None and not isinstance(bias, torch.Tensor):
            continue
        found = _fold_chain(conv, memo)
        if found is None:
            continue
        scale, shift, last = found
        if "val" in last.meta and "val" in conv.meta and last.meta["val"].dtype != conv.meta["val"].dtype:
            continue  # (the chain promotes the dtype: its users expect the promoted one)
        view = [-1] + [1] * (weight.dim() - 1)
        new_weight = (weight.to(torch.float64) * scale.reshape(view)).to(weight.dtype)
        old_bias = bias.to(torch.float64) if bias is not None else torch.zeros_like(scale)
        new_bias = (old_bias * scale + shift).to(weight.dtype)
        args = list(conv.args)
        args[1], args[2] = new_weight, new_bias
        conv.args = tuple(args)
        last.replace_all_uses_with(conv)
        folded += 1
    if folded:
        graph.eliminate_dead_code()
    return folded

