"""A small BERT-style encoder (HuggingFace ``BertModel`` layout, no pooler).

Submodule names follow ``transformers.BertModel`` (``embeddings.word_embeddings``,
``encoder.layer.0.attention.self.query``...).  Like HuggingFace, the embeddings
register ``position_ids`` and ``token_type_ids`` as *non-persistent* buffers,
which is what breaks the stock Torch-MLIR frozen import.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._util import seeded


class BertEmbeddings(nn.Module):
    """Word + position + token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, vocab_size: int, hidden: int, max_positions: int, type_vocab_size: int = 2) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden)
        self.position_embeddings = nn.Embedding(max_positions, hidden)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(0.1)
        self.register_buffer(
            "position_ids", torch.arange(max_positions).expand((1, -1)), persistent=False
        )
        self.register_buffer(
            "token_type_ids", torch.zeros((1, max_positions), dtype=torch.long), persistent=False
        )

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        seq = input_ids.shape[1]
        position_ids = self.position_ids[:, :seq]
        token_type_ids = self.token_type_ids[:, :seq]
        x = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(position_ids)
            + self.token_type_embeddings(token_type_ids)
        )
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention from explicit matmuls."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"BertSelfAttention: hidden={hidden} not divisible by heads={heads}")
        self.num_attention_heads = heads
        self.attention_head_size = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(0.1)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        return x.view(b, s, self.num_attention_heads, self.attention_head_size).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self._split_heads(self.query(x))
        k = self._split_heads(self.key(x))
        v = self._split_heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        probs = self.dropout(torch.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        b, s = ctx.shape[:2]
        return ctx.view(b, s, -1)


class BertSelfOutput(nn.Module):
    """Dense projection, dropout, residual add and LayerNorm."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.self = BertSelfAttention(hidden, heads)
        self.output = BertSelfOutput(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x), x)


class BertIntermediate(nn.Module):
    def __init__(self, hidden: int, intermediate: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, intermediate)
        self.intermediate_act_fn = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, hidden: int, intermediate: int) -> None:
        super().__init__()
        self.dense = nn.Linear(intermediate, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertLayer(nn.Module):
    """One transformer encoder layer (post-LayerNorm, as in BERT)."""

    def __init__(self, hidden: int, heads: int, intermediate: int) -> None:
        super().__init__()
        self.attention = BertAttention(hidden, heads)
        self.intermediate = BertIntermediate(hidden, intermediate)
        self.output = BertOutput(hidden, intermediate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attention(x)
        return self.output(self.intermediate(a), a)


class BertEncoderModel(nn.Module):
    """Embeddings followed by ``layers`` :class:`BertLayer` s; returns hidden states."""

    def __init__(
        self, *, layers: int, hidden: int, heads: int, intermediate: int, vocab_size: int, max_positions: int
    ) -> None:
        super().__init__()
        self.embeddings = BertEmbeddings(vocab_size, hidden, max_positions)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(
            BertLayer(hidden, heads, intermediate) for _ in range(layers)
        )

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(input_ids)
        for layer in self.encoder.layer:
            x = layer(x)
        return x


def bert_encoder(
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    intermediate: int | None = None,
    vocab_size: int = 1000,
    max_positions: int = 64,
    seed: int = 0,
) -> BertEncoderModel:
    """Returns a BERT-style encoder in eval mode, initialised from ``seed``.

    ``intermediate`` defaults to ``4 * hidden``.  Input: ``input_ids`` of shape
    ``(batch, seq)`` int64 with ``seq <= max_positions``.
    """
    with seeded(seed):
        model = BertEncoderModel(
            layers=layers,
            hidden=hidden,
            heads=heads,
            intermediate=intermediate or 4 * hidden,
            vocab_size=vocab_size,
            max_positions=max_positions,
        )
        for m in model.modules():  # BERT's initializer_range = 0.02
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
    return model.eval()


def bert_encoder_inputs(
    *, batch: int = 1, seq: int = 16, vocab_size: int = 1000, seed: int = 0
) -> tuple[torch.Tensor]:
    """Example ``input_ids`` of shape ``(batch, seq)`` int64 in ``[0, vocab_size)``."""
    with seeded(seed):
        return (torch.randint(0, vocab_size, (batch, seq), dtype=torch.long),)
