"""A GPT-2-style decoder block (pre-LayerNorm, causal self-attention, GELU MLP).

Names follow HuggingFace ``GPT2Block`` (``ln_1``, ``attn.c_attn``, ``attn.c_proj``,
``ln_2``, ``mlp.c_fc``, ``mlp.c_proj``), using ``nn.Linear`` instead of GPT-2's
transposed ``Conv1D``.  The causal mask is a non-persistent boolean buffer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._util import seeded


class GPT2Attention(nn.Module):
    """Causal multi-head self-attention with a fused QKV projection."""

    def __init__(self, hidden: int, heads: int, max_positions: int) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"GPT2Attention: hidden={hidden} not divisible by heads={heads}")
        self.num_heads = heads
        self.head_dim = hidden // heads
        self.c_attn = nn.Linear(hidden, 3 * hidden)
        self.c_proj = nn.Linear(hidden, hidden)
        self.register_buffer(
            "bias",
            torch.tril(torch.ones(max_positions, max_positions, dtype=torch.bool)).view(
                1, 1, max_positions, max_positions
            ),
            persistent=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        q, k, v = self.c_attn(x).split(h, dim=2)
        q = q.view(b, s, self.num_heads, self.head_dim).transpose(1, 2)
        k = k.view(b, s, self.num_heads, self.head_dim).transpose(1, 2)
        v = v.view(b, s, self.num_heads, self.head_dim).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        causal = self.bias[:, :, :s, :s]
        scores = torch.where(causal, scores, torch.finfo(scores.dtype).min)
        probs = torch.softmax(scores, dim=-1)
        out = torch.matmul(probs, v).transpose(1, 2).contiguous().view(b, s, h)
        return self.c_proj(out)


class GPT2MLP(nn.Module):
    def __init__(self, hidden: int, inner: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(hidden, inner)
        self.act = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(inner, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.act(self.c_fc(x)))


class GPT2Block(nn.Module):
    """``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``."""

    def __init__(self, hidden: int, heads: int, max_positions: int, inner: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden, eps=1e-5)
        self.attn = GPT2Attention(hidden, heads, max_positions)
        self.ln_2 = nn.LayerNorm(hidden, eps=1e-5)
        self.mlp = GPT2MLP(hidden, inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


def gpt2_block(
    *, hidden: int = 64, heads: int = 4, max_positions: int = 64, inner: int | None = None, seed: int = 0
) -> GPT2Block:
    """Returns a GPT-2 decoder block in eval mode, initialised from ``seed``.

    ``inner`` defaults to ``4 * hidden``.  Input: hidden states of shape
    ``(batch, seq, hidden)`` float32 with ``seq <= max_positions``.
    """
    with seeded(seed):
        block = GPT2Block(hidden, heads, max_positions, inner or 4 * hidden)
        for m in block.modules():  # GPT-2's initializer_range = 0.02
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
    return block.eval()


def gpt2_block_inputs(*, batch: int = 1, seq: int = 16, hidden: int = 64, seed: int = 0) -> tuple[torch.Tensor]:
    """Example hidden states ``(batch, seq, hidden)`` float32."""
    with seeded(seed):
        return (torch.randn(batch, seq, hidden),)
