"""`imc-tile-rows` on self-attention: the zoo's BERT encoder run over tiles
of query rows computes what PyTorch does, passes `imc-check-buffers`, keeps
its keys and values whole on chip, and moves fewer DRAM bytes than the
attention run op by op."""

import re

import numpy as np
import torch

import imc
from imc.frontend import models
from imc.ir.hardware import Hardware

TILED = (
    "builtin.module(imc-tile-rows{{attention={attention}}}, imc-map-contractions, imc-tile, "
    "imc-place-crossbars{{duplicate=true objective=latency}}, cse, imc-quantize-activations, imc-place-buffers, "
    "imc-check-buffers)"
)


def _compile(spad: int, attention: bool = True):
    """The zoo encoder (2 layers, 16 tokens of 64 features, 4 heads: its keys
    and values take 1 KiB each at 8 bits) on the default chip with a
    `spad`-byte scratchpad."""
    model, inputs = models.create("bert_encoder"), models.example_inputs("bert_encoder")
    hw = Hardware.preset("default").replace(spad_bytes=spad)
    pipeline = TILED.format(attention=str(attention).lower())
    return imc.compile(model, inputs, hardware=hw, pipeline=pipeline, precision="ideal"), model, inputs


def _remarks(compiled, text):
    return [str(r) for r in compiled.remarks if text in str(r)]


def _loop_bodies(mlir: str) -> list[str]:
    bodies = []
    for body in re.split(r"\n    (?:%\S+ = )?scf\.for ", mlir)[1:]:
        bodies.append(body[: body.find("\n    }")])
    return bodies


def _warm_dram(compiled, inputs) -> int:
    """DRAM bytes of the second call (weights already programmed)."""
    def moved():
        return compiled.report.totals.dram_read_bytes + compiled.report.totals.dram_write_bytes

    compiled(*inputs)
    cold = moved()
    compiled(*inputs)
    return moved() - cold


def test_attention_runs_over_query_rows_and_matches_pytorch():
    # 4 KiB: 4,096 - 256 (staging) - 2,048 (keys and values) = 1,792 B for a
    # trip, at most a quarter of the scratchpad (1,024 B); a query row is
    # 64 B in, 64 B out and 256 B of queries, context, scores and
    # probabilities: 2 rows per trip, 8 trips per layer.
    compiled, model, inputs = _compile(4096)
    fused = _remarks(compiled, "attention over query rows")
    assert len(fused) == 2 and all("8 tiles of 2 rows" in r for r in fused)
    # Each layer's attention loop runs both batch matmuls and the projections on crossbars.
    loops = [b for b in _loop_bodies(compiled.mlir) if b.count("linalg.batch_matmul") == 2]
    assert len(loops) == 2 and all('"imc.mvm"' in b for b in loops)
    assert _remarks(compiled, "placement verified")
    with torch.no_grad():
        want = model(*inputs).numpy()
    got = np.asarray(compiled(*inputs))
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_attention_over_query_rows_moves_fewer_dram_bytes():
    # At 4 KiB the layer's stored tensors spill when the attention runs op by
    # op (its queries, transposed queries and context are stored between
    # stages); run over query rows only the keys and values are stored.
    fused, _, inputs = _compile(4096)
    apart, _, _ = _compile(4096, attention=False)
    assert not _remarks(apart, "attention over query rows")
    assert _warm_dram(fused, inputs) < _warm_dram(apart, inputs)


def test_attention_stays_apart_when_its_keys_and_values_do_not_fit():
    # 2 KiB: the keys and values (2,048 B) alone fill the scratchpad.
    compiled, model, inputs = _compile(2048)
    left = _remarks(compiled, "attention not run over query rows")
    assert len(left) == 2 and all("its keys and values (2,048 B)" in r for r in left)
    assert not any(b.count("linalg.batch_matmul") for b in _loop_bodies(compiled.mlir))
    with torch.no_grad():
        want = model(*inputs).numpy()
    assert np.abs(np.asarray(compiled(*inputs)) - want).max() <= 1e-4 * np.abs(want).max()
