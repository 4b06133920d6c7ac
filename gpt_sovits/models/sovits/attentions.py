"""Transformer encoder of the SoVITS text/content encoders (VITS style: 1x1-conv projections, relative positions).

Relative positions: every self-attention layer owns ``emb_rel_k`` / ``emb_rel_v`` of shape
``[1, 2 * window + 1, head_dim]`` shared by all heads. Query ``i`` attending key ``j`` adds
``q_i . emb_rel_k[j - i + window]`` to its score and ``p_ij * emb_rel_v[j - i + window]`` to its output when
``|j - i| <= window``; farther pairs get nothing. We build that band with index gathers instead of
upstream's pad-and-reshape trick; the arithmetic is the same.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from gpt_sovits.models.sovits.layers import ChannelLayerNorm

MASKED_SCORE = (
    -1e4
)  # what upstream writes into masked attention scores (not -inf: fully masked rows stay finite)


def _relative_band(length: int, window: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Index ``[L, L]`` of ``j - i + window`` (clamped) and the bool band ``|j - i| <= window``."""
    pos = torch.arange(length, device=device)
    rel = pos.unsqueeze(0) - pos.unsqueeze(1)  # [L, L]: j - i
    band = rel.abs() <= window
    return (rel + window).clamp(0, 2 * window), band


class MultiHeadAttention(nn.Module):
    """Multi-head attention on ``[B, C, T]`` tensors with optional relative-position window."""

    def __init__(
        self, channels: int, out_channels: int, n_heads: int, p_dropout: float = 0.0, window_size=None
    ):
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels ({channels}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        self.drop = nn.Dropout(p_dropout)
        if window_size is not None:
            std = self.k_channels**-0.5
            self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.k_channels) * std)
            self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.k_channels) * std)
        for conv in (self.conv_q, self.conv_k, self.conv_v):
            nn.init.xavier_uniform_(conv.weight)

    def forward(
        self, x: torch.Tensor, c: torch.Tensor, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x`` [B, C, T_q] attends ``c`` [B, C, T_k]; ``attn_mask`` [B, 1, T_q, T_k] (0 = blocked)."""
        b, _, t_q = x.shape
        t_k = c.shape[2]
        h, d = self.n_heads, self.k_channels
        q = self.conv_q(x).view(b, h, d, t_q).transpose(2, 3)  # [B, H, T_q, D]
        k = self.conv_k(c).view(b, h, d, t_k)  # [B, H, D, T_k]
        v = self.conv_v(c).view(b, h, d, t_k).transpose(2, 3)  # [B, H, T_k, D]
        q = q / math.sqrt(d)
        scores = torch.matmul(q, k)  # [B, H, T_q, T_k]
        if self.window_size is not None:
            if t_q != t_k:
                raise ValueError("relative attention needs self-attention (equal query and key lengths)")
            index, band = _relative_band(t_q, self.window_size, x.device)
            rel_logits = torch.matmul(q, self.emb_rel_k.transpose(1, 2))  # [B, H, T, 2W+1]
            gathered = torch.gather(rel_logits, 3, index.expand(b, h, t_q, t_q))
            scores = scores + gathered * band
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, MASKED_SCORE)
        p_attn = self.drop(F.softmax(scores, dim=-1))  # [B, H, T_q, T_k]
        out = torch.matmul(p_attn, v)  # [B, H, T_q, D]
        if self.window_size is not None:
            out = out + torch.matmul(self._to_relative(p_attn), self.emb_rel_v)
        out = out.transpose(2, 3).reshape(b, h * d, t_q)
        return self.conv_o(out)

    def _to_relative(self, p_attn: torch.Tensor) -> torch.Tensor:
        """``[B, H, L, L]`` weights over absolute keys -> ``[B, H, L, 2W+1]`` weights per relative offset."""
        b, h, length, _ = p_attn.shape
        w = self.window_size
        offsets = torch.arange(-w, w + 1, device=p_attn.device)
        keys = torch.arange(length, device=p_attn.device).unsqueeze(1) + offsets  # [L, 2W+1]: j = i + r
        valid = (keys >= 0) & (keys < length)
        picked = torch.gather(p_attn, 3, keys.clamp(0, length - 1).expand(b, h, length, 2 * w + 1))
        return picked * valid


class FFN(nn.Module):
    """Position-wise feed-forward as two convolutions with 'same' padding and ReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, filter_channels: int, kernel_size: int, p_dropout=0.0
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, out_channels, kernel_size)
        self.drop = nn.Dropout(p_dropout)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        return x if k == 1 else F.pad(x, ((k - 1) // 2, k // 2))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:  # [B, C, T], [B, 1, T]
        x = torch.relu(self.conv_1(self._pad(x * x_mask)))
        x = self.conv_2(self._pad(self.drop(x) * x_mask))
        return x * x_mask


class Encoder(nn.Module):
    """Stack of post-norm transformer layers (relative self-attention window 4, conv FFN)."""

    def __init__(
        self,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int = 1,
        p_dropout: float = 0.0,
        window_size: int = 4,
    ):
        super().__init__()
        self.n_layers = n_layers
        self.drop = nn.Dropout(p_dropout)
        self.attn_layers = nn.ModuleList()
        self.norm_layers_1 = nn.ModuleList()
        self.ffn_layers = nn.ModuleList()
        self.norm_layers_2 = nn.ModuleList()
        for _ in range(n_layers):
            self.attn_layers.append(
                MultiHeadAttention(hidden_channels, hidden_channels, n_heads, p_dropout, window_size)
            )
            self.norm_layers_1.append(ChannelLayerNorm(hidden_channels))
            self.ffn_layers.append(
                FFN(hidden_channels, hidden_channels, filter_channels, kernel_size, p_dropout)
            )
            self.norm_layers_2.append(ChannelLayerNorm(hidden_channels))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:  # [B, C, T], [B, 1, T]
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)  # [B, 1, T, T]
        x = x * x_mask
        for attn, norm1, ffn, norm2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2
        ):
            x = norm1(x + self.drop(attn(x, x, attn_mask)))
            x = norm2(x + self.drop(ffn(x, x_mask)))
        return x * x_mask
