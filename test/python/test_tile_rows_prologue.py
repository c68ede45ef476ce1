"""`imc-tile-rows{prologues=true}` on a BERT encoder: the LayerNorm after each
attention runs in the feed-forward loop, row tile by row tile
(`imc.transforms.row_prologue`), the program still computes what PyTorch
does, and the feed-forward block starts on the attention loop's first rows
instead of waiting for its last trip."""

import re

import numpy as np
import pytest
import torch

import imc
from imc.frontend import models
from imc.ir.hardware import Hardware

TILED = (
    "builtin.module(imc-tile-rows{{{options}}}, imc-map-contractions, imc-tile, "
    "imc-place-crossbars{{duplicate=true objective=latency}}, cse, imc-quantize-activations, "
    "imc-place-buffers{{overlap-calls=true}}, imc-check-buffers, imc-group-contractions)"
)
LAYERS = 2


@pytest.fixture(scope="module")
def encoder():
    """The zoo encoder (2 layers, 16 tokens of 64 features, 4 heads) and its inputs."""
    return models.create("bert_encoder", layers=LAYERS), models.example_inputs("bert_encoder")


def _compile(encoder, options: str):
    """`encoder` under imc-tiled's passes, with imc-tile-rows' `options`, on
    the default chip with a 4 KiB scratchpad: the attention and the
    feed-forward block of each layer run in row loops (2 rows per trip)."""
    model, inputs = encoder
    hw = Hardware.preset("default").replace(spad_bytes=4096)
    return imc.compile(model, inputs, hardware=hw, pipeline=TILED.format(options=options), precision="ideal")


@pytest.fixture(scope="module")
def fused(encoder):
    return _compile(encoder, "")


@pytest.fixture(scope="module")
def apart(encoder):
    return _compile(encoder, "prologues=false")


@pytest.fixture(scope="module")
def whole_keys(encoder):
    return _compile(encoder, "key-value-rows=false")


@pytest.fixture(scope="module")
def warm_timeline(encoder):
    """The timeline of a warm call of a compiled encoder, traced once per program."""
    _, inputs = encoder
    traced = {}

    def timeline(compiled):
        if id(compiled) not in traced:
            traced[id(compiled)] = compiled.timeline(inputs, cold=False, chain=False)
        return traced[id(compiled)]

    return timeline


def _loop_bodies(mlir: str) -> list[str]:
    bodies = []
    for body in re.split(r"\n    (?:%\S+ = )?scf\.for ", mlir)[1:]:
        bodies.append(body[: body.find("\n    }")])
    return bodies


def _mvm_span(timeline, layer: str) -> tuple[float, float]:
    """When `layer`'s first crossbar step starts and its last one ends (ns)."""
    steps = [(start, end) for name, resource, start, end in timeline.steps if name == layer and resource.startswith("xbar")]
    return min(s for s, _ in steps), max(e for _, e in steps)


def test_layernorm_runs_in_the_feed_forward_loop_and_matches_pytorch(encoder, fused):
    model, inputs = encoder
    remarks = [str(r) for r in fused.remarks if "the row-local" in str(r) and "before it runs" in str(r)]
    assert len(remarks) == LAYERS
    for i, r in enumerate(remarks):
        assert f"the row-local 'encoder.layer.{i}.attention.output.LayerNorm' before it" in r and "8 tiles of 2 rows" in r
    # Each feed-forward loop normalises its rows (the LayerNorm's rsqrt)
    # before the GELU; no LayerNorm after an attention is left outside a loop.
    ffn = [b for b in _loop_bodies(fused.mlir) if "math.erf" in b]
    assert len(ffn) == LAYERS and all(b.index("math.rsqrt") < b.index("math.erf") for b in ffn)
    assert fused.mlir.count("math.rsqrt") == 1 + 2 * LAYERS  # (embeddings, and each layer's output LayerNorm)
    with torch.no_grad():
        want = model(*inputs).numpy()
    got = np.asarray(fused(*inputs))
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_without_prologues_the_layernorm_stays_a_stage(apart):
    assert not [r for r in apart.remarks if "before it runs" in str(r)]
    assert not any("math.rsqrt" in b and "math.erf" in b for b in _loop_bodies(apart.mlir))


def test_feed_forward_trips_start_before_the_attention_loop_ends(fused, apart, warm_timeline):
    # Layer 0: with the LayerNorm in the feed-forward loop, the loop's first
    # MVMs run while the attention loop still runs its last trips; as a stage
    # of its own the LayerNorm waits for the attention loop's last trip, and
    # the feed-forward loop for the LayerNorm.
    spans = {}
    for name, compiled in (("fused", fused), ("apart", apart)):
        t = warm_timeline(compiled)
        spans[name] = (
            _mvm_span(t, "encoder.layer.0.attention.output.dense")[1],
            _mvm_span(t, "encoder.layer.0.intermediate.dense")[0],
            t.warm_makespan_ns,
        )
    attention_end, ffn_start, warm = spans["fused"]
    assert ffn_start < attention_end
    attention_end, ffn_start, warm_apart = spans["apart"]
    assert ffn_start > attention_end
    assert warm < warm_apart


def test_the_next_layers_keys_and_values_follow_the_feed_forward_loop(encoder, fused, whole_keys, warm_timeline):
    # Layer 0's output LayerNorm reads the feed-forward loop's rows, so it
    # runs over rows in a loop of its own, and so do layer 1's key and value
    # projections, which read its rows (key-value-rows): their first MVMs run
    # while layer 0's feed-forward loop still runs. Layer 0's own key and
    # value projections read the embeddings' LayerNorm, which runs whole:
    # they run whole too. Run whole, layer 1's projections wait for the
    # feed-forward loop's last trip.
    model, inputs = encoder
    feeders = [str(r) for r in fused.remarks if "like the query rows of the attention it feeds" in str(r)]
    assert len(feeders) == 3
    assert "'encoder.layer.1.attention.self.query'; the row-local 'encoder.layer.0.output.LayerNorm'" in feeders[0]
    assert all("'encoder.layer.1.attention.self.query'; a key or value projection" in r for r in feeders[1:])
    assert not [r for r in whole_keys.remarks if "like the query rows" in str(r)]
    starts = {}
    for name, compiled in (("rows", fused), ("whole", whole_keys)):
        t = warm_timeline(compiled)
        starts[name] = (
            _mvm_span(t, "encoder.layer.1.attention.self.key")[0],
            _mvm_span(t, "encoder.layer.1.attention.self.value")[0],
            _mvm_span(t, "encoder.layer.0.output.dense")[1],
        )
    key, value, ffn_end = starts["rows"]
    assert key < ffn_end and value < ffn_end
    key, value, ffn_end = starts["whole"]
    assert key > ffn_end and value > ffn_end
    with torch.no_grad():
        want = model(*inputs).numpy()
    assert np.abs(np.asarray(fused(*inputs)) - want).max() <= 1e-4 * np.abs(want).max()
