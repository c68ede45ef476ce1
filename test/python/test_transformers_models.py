"""transformers' BertModel and GPT2Model, built from configs (no download), compile and match eager."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

import imc  # noqa: E402


def _check(model, inputs):
    compiled = imc.compile(model, inputs)
    with torch.no_grad():
        ref = model(*inputs)
    ref = ref[0] if isinstance(ref, (tuple, list)) else ref.last_hidden_state
    out = compiled(*inputs)
    out = out[0] if isinstance(out, tuple) else out
    assert out.shape == ref.shape
    assert float((out - ref).abs().max() / ref.abs().max()) < 1e-4
    assert compiled.report.totals.xbar_program_events > 0
    # Attention's activation x activation products stay digital, with a remark.
    assert any("stays on the digital unit" in r.message for r in compiled.remarks)
    return compiled


def test_bert_model_from_config():
    config = transformers.BertConfig(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=256)
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, 32), generator=torch.Generator().manual_seed(0))
    _check(model, (ids,))


def test_gpt2_model_from_config():
    # use_cache=False: a KV cache object is not a tensor output.
    config = transformers.GPT2Config(n_layer=2, n_embd=128, n_head=2, n_positions=64, use_cache=False)
    model = transformers.GPT2Model(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, 32), generator=torch.Generator().manual_seed(0))
    _check(model, (ids,))
