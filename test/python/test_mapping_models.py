"""End-to-end mapping of real models: PyTorch import, then `imc-map-to-crossbars`.

For each zoo model the imported linalg IR is classified independently of the
passes (a weight is an `arith.constant` seen through transposes, reshapes and
slices), then the named pipeline runs and the result is checked:

* no weight contraction is left in linalg (no conv, no matmul with a weight;
  only activation x activation matmuls may stay, as attention's QK^T and AV);
* `imc-map-contractions` makes one `imc.contract` per weight contraction (per
  group / channel for grouped / depthwise convolutions);
* after the whole pipeline no `imc.contract` is left, every `imc.program` is
  placed on a crossbar of the chip and programs a view of a weight constant,
  and every weight of the imported IR is programmed;
* the remarks name every linalg op kind left for the digital unit, and every
  activation matmul that stays gets its own remark.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
import torch
from torch_mlir import ir

from imc.dialects.imc import XbarType
from imc.dialects.imc_ops import ProgramView
from imc.frontend import models
from imc.frontend.importer import import_torch
from imc.ir.context import make_context
from imc.ir.hardware import Hardware
from imc.transforms.pipeline import Remark, run_pipeline

PIPELINE = "builtin.module(imc-map-to-crossbars)"
VIEW_OPS = {"linalg.transpose", "tensor.expand_shape", "tensor.collapse_shape", "tensor.extract_slice"}
CONVS = {
    "linalg.conv_1d_ncw_fcw",
    "linalg.conv_2d_nchw_fchw",
    "linalg.conv_2d_ngchw_gfchw",
    "linalg.depthwise_conv_2d_nchw_chw",
}


def _op(value):
    owner = value.owner
    if isinstance(owner, ir.Block):
        return None
    return owner.operation if hasattr(owner, "operation") else owner


def _walk(root) -> list:
    ops = []

    def visit(op):
        ops.append(op)
        return ir.WalkResult.ADVANCE

    root.operation.walk(visit)
    return ops


def weight_root(value):
    """The `arith.constant` that `value` views (through transposes, reshapes, slices), or None."""
    op = _op(value)
    while op is not None and op.name in VIEW_OPS:
        op = _op(op.operands[0])
    return op if op is not None and op.name == "arith.constant" else None


def _is_matmul_generic(op) -> bool:
    if op.name != "linalg.generic" or len(op.operands) != 3:
        return False
    iterators = [str(t) for t in ir.ArrayAttr(op.attributes["iterator_types"])]
    if iterators != ["#linalg.iterator_type<parallel>"] * 2 + ["#linalg.iterator_type<reduction>"]:
        return False
    body = [o.name for o in op.regions[0].blocks[0].operations]
    return body == ["arith.mulf", "arith.addf", "linalg.yield"]


def weight_contractions(module) -> tuple[int, set]:
    """(imc.contract ops the mapping must make, weight constants they use).

    One per weight matmul / conv (a grouped or depthwise conv too: one
    grouped contract) and one per batch of a weight batch_matmul.
    """
    expected, roots = 0, set()
    for op in _walk(module):
        name = op.name
        if name in CONVS or name in ("linalg.matmul", "linalg.batch_matmul") or _is_matmul_generic(op):
            root = weight_root(op.operands[1])
            if root is None:
                continue
            roots.add(root)
            shape = ir.RankedTensorType(op.operands[1].type).shape
            if name == "linalg.batch_matmul":
                expected += shape[0]
            else:
                expected += 1
    return expected, roots


def check_disjoint_tiles(programs, arrays) -> None:
    """Tiles sharing a crossbar use disjoint rows and disjoint columns inside it."""
    by_array: dict[int, list] = {}
    for prog, array in zip(programs, arrays):
        rows, cols = ProgramView(prog).tile_shape
        r0, c0 = list(ir.DenseI64ArrayAttr(prog.attributes["offset"]))
        by_array.setdefault(array, []).append((r0, rows, c0, cols, XbarType(prog.results[0].type).geometry))
    for array, tiles in by_array.items():
        for dim in (0, 2):
            spans = sorted((t[dim], t[dim] + t[dim + 1]) for t in tiles)
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), f"tiles overlap on crossbar {array}: {tiles}"
        xbar_rows, xbar_cols = tiles[0][4]
        assert max(t[0] + t[1] for t in tiles) <= xbar_rows and max(t[2] + t[3] for t in tiles) <= xbar_cols


@dataclass
class Mapped:
    module: ir.Module
    remarks: list[Remark]
    expected_contracts: int
    contracts_after_mapping: int
    weights: set


def map_model(model, inputs, *, context=None) -> Mapped:
    """Imports `model` and runs `imc-map-to-crossbars` on it."""
    context = context or make_context()
    with torch.no_grad():
        module = import_torch(model, inputs, context=context)
    with context, ir.Location.unknown():
        expected, weights = weight_contractions(module)
        assert expected > 0, "the imported model has no weight contraction"
        # The contracts themselves, before imc-tile consumes them.
        probe = module.operation.clone()
        run_pipeline(probe, "builtin.module(imc-map-contractions)")
        contracts = sum(op.name == "imc.contract" for op in _walk(probe))
        probe.erase()
        remarks = run_pipeline(module, PIPELINE)
    return Mapped(module, remarks, expected, contracts, weights)


def check_mapped(m: Mapped, *, hardware: Hardware | None = None) -> None:
    hw = hardware or Hardware.preset("default")
    ops = _walk(m.module)
    names = Counter(op.name for op in ops)

    assert m.contracts_after_mapping == m.expected_contracts
    assert names["imc.contract"] == 0
    assert not CONVS & set(names), f"convolutions left in linalg: {CONVS & set(names)}"
    for op in ops:
        if op.name in ("linalg.matmul", "linalg.batch_matmul") or _is_matmul_generic(op):
            assert weight_root(op.operands[0]) is None and weight_root(op.operands[1]) is None, (
                f"{op.name} with a weight operand left at {op.location}"
            )
    assert names["linalg.matmul"] == 0, "a plain linalg.matmul was left (only batch_matmuls of activations may stay)"

    programs = [op for op in ops if op.name == "imc.program"]
    assert programs
    arrays = [ir.IntegerAttr(p.attributes["array"]).value for p in programs]
    assert min(arrays) >= 0 and max(arrays) < hw.total_crossbars
    placed = [r for r in m.remarks if r.pass_name == "imc-place-crossbars"]
    assert len(placed) == 1 and f"{len(programs)} crossbar tiles" in placed[0].message
    if " placed on " in placed[0].message:  # everything resident: check the packing
        assert sorted(set(arrays)) == list(range(len(set(arrays))))
        check_disjoint_tiles(programs, arrays)
    roots = [weight_root(p.operands[0]) for p in programs]
    assert all(r is not None for r in roots), "an imc.program programs something that is not a weight view"
    assert len(set(roots)) == len(m.weights), "not every weight of the imported model is programmed"
    assert names["imc.mvm"] == len(programs)

    # Remarks: the summary names every linalg op kind left at function level,
    # and every remaining activation matmul has its own remark.
    summary = [r for r in m.remarks if r.pass_name == "imc-map-contractions" and "left for the digital unit" in r.message]
    assert len(summary) == 1
    left = {op.name for op in ops if op.name.startswith("linalg.") and op.parent.name == "func.func"}
    for name in left:
        assert f"{name} x" in summary[0].message, f"{name} stays digital but the summary does not say so"
    stays = [r for r in m.remarks if "stays on the digital unit" in r.message]
    assert len(stays) == names["linalg.batch_matmul"]
    assert all("'linalg.batch_matmul' stays on the digital unit" in r.message for r in stays)


def _zoo(name: str, **kwargs) -> Mapped:
    model = models.create(name, **kwargs).eval()
    return map_model(model, models.example_inputs(name))


def test_mlp():
    m = _zoo("mlp")
    check_mapped(m)


def test_lenet5():
    m = _zoo("lenet5")
    check_mapped(m)
    assert sum(op.name == "imc.im2col" for op in _walk(m.module)) == 2


def test_bert_encoder_keeps_attention_digital():
    m = _zoo("bert_encoder")
    check_mapped(m)
    names = Counter(op.name for op in _walk(m.module))
    # QK^T and AV of each of the two layers stay on the digital unit.
    assert names["linalg.batch_matmul"] == 4


def test_mobilenet_v2_depthwise():
    m = _zoo("mobilenet_v2", width_mult=0.5)  # full width: same structure, ~36 s instead of ~20 s
    check_mapped(m)
    # One contract per convolution: a depthwise one is grouped (a group per
    # channel), its tiles diagonal blocks of as many channels as fit.
    assert m.expected_contracts == len(m.weights)
    blocks = [ProgramView(op) for op in _walk(m.module) if op.name == "imc.program" and ProgramView(op).groups > 1]
    assert blocks and all(p.block_shape == (9, 1) and p.tile_shape[0] <= 128 for p in blocks)
    assert max(p.groups for p in blocks) == 128 // 9


def test_resnet18():
    m = _zoo("resnet18")
    check_mapped(m)
    names = Counter(op.name for op in _walk(m.module))
    assert names["imc.im2col"] == 20


def test_bert_base_if_transformers_installed():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig()
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, 128), dtype=torch.long)

    def encoder(input_ids):
        return model(input_ids=input_ids).last_hidden_state

    m = map_model(encoder, (ids,))
    check_mapped(m)
    # 12 layers x (Q, K, V, attention output, intermediate, output) linears.
    assert m.expected_contracts >= 12 * 6
