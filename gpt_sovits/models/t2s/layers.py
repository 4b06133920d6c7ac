"""Building blocks of the text-to-semantic GPT.

Parameter names follow the official checkpoints (``word_embeddings``, ``alpha``,
``self_attn.in_proj_weight``, ``linear1``, ``norm1`` ...) so that a ``.ckpt`` loads by plain key copy.
The transformer layer math lives in :func:`encoder_layer`, a function over a :class:`LayerParams`
bundle, so that the training/teacher path and the incremental decoder (which may run on a bf16 copy
of the weights) share one definition.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


def sine_table(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Sinusoidal position table ``[length, dim]`` (float32): even columns sin, odd columns cos."""
    position = torch.arange(0, length, dtype=torch.float32, device=device).unsqueeze(1)  # [T, 1]
    inv_freq = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=device) * -(math.log(10000.0) / dim)
    )  # [dim/2]
    table = torch.zeros(length, dim, dtype=torch.float32, device=device)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq)
    return table


class TokenEmbedding(nn.Module):
    """Token lookup with optional dropout (``<name>.word_embeddings.weight`` in checkpoints)."""

    def __init__(self, num_tokens: int, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(num_tokens, dim)
        self.dropout = nn.Dropout(dropout)

    @property
    def weight(self) -> torch.Tensor:
        """The embedding matrix ``[num_tokens, dim]``."""
        return self.word_embeddings.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` ids -> ``[B, T, dim]``."""
        return self.dropout(self.word_embeddings(ids))


class SinePositions(nn.Module):
    """Adds ``alpha * sine_table`` (learned scalar ``alpha``) to a sequence of embeddings."""

    def __init__(self, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.ones(1))
        self.dropout = nn.Dropout(dropout)
        self._table: torch.Tensor | None = None  # cache, grown on demand, never saved

    def table(self, length: int, device: torch.device) -> torch.Tensor:
        """The first ``length`` rows of the (cached) float32 position table, ``[length, dim]``."""
        cached = self._table
        if cached is None or cached.shape[0] < length or cached.device != device:
            # Grow in large steps so that decoding never rebuilds it token by token.
            self._table = cached = sine_table(max(4096, 1 << (length - 1).bit_length()), self.dim, device)
        return cached[:length]

    def scaled_table(self, length: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """``alpha * table[:length]`` in ``dtype``: what is added to the embeddings, ``[length, dim]``."""
        return (self.alpha.detach().float() * self.table(length, device)).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, dim]`` -> ``[B, T, dim]`` with positions 0..T-1 added."""
        pe = self.table(x.shape[1], x.device).to(x.dtype)  # [T, dim]
        return self.dropout(x + self.alpha * pe)


class SelfAttention(nn.Module):
    """Holds the attention weights under the ``nn.MultiheadAttention`` names used by the checkpoints."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)  # nn.MultiheadAttention's initialisation
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)


class LayerParams(NamedTuple):
    """The tensors of one transformer layer (possibly a cast copy), in the order the math uses them."""

    qkv_w: torch.Tensor  # [3E, E]
    qkv_b: torch.Tensor  # [3E]
    out_w: torch.Tensor  # [E, E]
    out_b: torch.Tensor  # [E]
    norm1_w: torch.Tensor
    norm1_b: torch.Tensor
    ff1_w: torch.Tensor  # [F, E]
    ff1_b: torch.Tensor
    ff2_w: torch.Tensor  # [E, F]
    ff2_b: torch.Tensor
    norm2_w: torch.Tensor
    norm2_b: torch.Tensor
    num_heads: int
    eps: float


def encoder_layer(
    x: torch.Tensor,
    p: LayerParams,
    mask: torch.Tensor | None,
    dropout: float = 0.0,
    kv_out: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """One post-norm transformer layer over a whole sequence.

    x: ``[B, S, E]``; mask: bool ``[B, 1, S, S]`` (True = may attend) or None; ``dropout`` > 0 only
    while training. ``kv_out``: optional ``[B, H, S, D]`` views that receive this layer's keys/values
    (the decoder's cache).
    """
    bsz, seq, dim = x.shape
    heads = p.num_heads
    qkv = F.linear(x, p.qkv_w, p.qkv_b).view(bsz, seq, 3, heads, dim // heads)  # [B, S, 3, H, D]
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, S, D]
    if kv_out is not None:
        kv_out[0].copy_(k)
        kv_out[1].copy_(v)
    attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)  # [B, H, S, D]
    attn = attn.transpose(1, 2).reshape(bsz, seq, dim)
    x = F.layer_norm(
        x + F.dropout(F.linear(attn, p.out_w, p.out_b), dropout, dropout > 0),
        (dim,),
        p.norm1_w,
        p.norm1_b,
        p.eps,
    )
    hidden = F.dropout(F.relu(F.linear(x, p.ff1_w, p.ff1_b)), dropout, dropout > 0)  # [B, S, F]
    x = F.layer_norm(
        x + F.dropout(F.linear(hidden, p.ff2_w, p.ff2_b), dropout, dropout > 0),
        (dim,),
        p.norm2_w,
        p.norm2_b,
        p.eps,
    )
    return x


class EncoderLayer(nn.Module):
    """Post-norm transformer layer with ReLU feed-forward (official names: self_attn, linear1/2, norm1/2)."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.self_attn = SelfAttention(dim, num_heads)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.dropout_p = dropout

    def params(self, dtype: torch.dtype | None = None) -> LayerParams:
        """This layer's tensors as a :class:`LayerParams` (cast copies when ``dtype`` is given)."""
        tensors = (
            self.self_attn.in_proj_weight,
            self.self_attn.in_proj_bias,
            self.self_attn.out_proj.weight,
            self.self_attn.out_proj.bias,
            self.norm1.weight,
            self.norm1.bias,
            self.linear1.weight,
            self.linear1.bias,
            self.linear2.weight,
            self.linear2.bias,
            self.norm2.weight,
            self.norm2.bias,
        )
        if dtype is not None:
            tensors = tuple(t.detach().to(dtype).contiguous() for t in tensors)
        return LayerParams(*tensors, num_heads=self.self_attn.num_heads, eps=self.norm1.eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``[B, S, E]`` -> ``[B, S, E]`` (dropout only in training mode)."""
        return encoder_layer(x, self.params(), mask, self.dropout_p if self.training else 0.0)


class TransformerStack(nn.Module):
    """The layer list (``h.layers.N.*`` in checkpoints)."""

    def __init__(self, layers: list[EncoderLayer]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Run every layer: ``[B, S, E]`` -> ``[B, S, E]``."""
        for layer in self.layers:
            x = layer(x, mask)
        return x
