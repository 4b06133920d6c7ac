"""Timbre (reference) encoder: spectrogram frames -> one global style vector ``ge`` (``ref_enc``).

MelStyleEncoder layout: two frame-wise linear layers with Mish, two gated 1-D convolutions, one
self-attention layer, a projection, then an average over valid frames. Attribute names mirror upstream
(``spectral.0.fc``, ``temporal.0.conv1.conv``, ``slf_attn.w_qs`` ...) so official weights load as-is.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class _Linear(nn.Module):
    """``nn.Linear`` stored under ``.fc`` (upstream's LinearNorm without spectral norm)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class _ConvNorm(nn.Module):
    """``nn.Conv1d`` with 'same' padding stored under ``.conv``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Conv1dGLU(nn.Module):
    """Residual gated linear unit over time: ``x + a * sigmoid(b)`` with ``[a, b] = conv(x)``."""

    def __init__(self, channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.channels = channels
        self.conv1 = _ConvNorm(channels, 2 * channels, kernel_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T]
        h = self.conv1(x)
        return x + self.dropout(h[:, : self.channels] * torch.sigmoid(h[:, self.channels :]))


class StyleAttention(nn.Module):
    """Residual multi-head self-attention on ``[B, T, C]`` (FastSpeech-style; temperature sqrt(d_model))."""

    def __init__(self, n_head: int, d_model: int, dropout: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.d_k = d_model // n_head
        self.temperature = math.sqrt(d_model)  # upstream divides by sqrt(d_model), not sqrt(d_k)
        self.w_qs = nn.Linear(d_model, d_model)
        self.w_ks = nn.Linear(d_model, d_model)
        self.w_vs = nn.Linear(d_model, d_model)
        self.fc = nn.Linear(d_model, d_model)
        self.attn_dropout = nn.Dropout(dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_padding: torch.Tensor | None) -> torch.Tensor:
        """``x`` [B, T, C]; ``key_padding`` [B, T] True on padded frames."""
        b, t, _ = x.shape
        h, d = self.n_head, self.d_k
        q = self.w_qs(x).view(b, t, h, d).transpose(1, 2)  # [B, H, T, D]
        k = self.w_ks(x).view(b, t, h, d).transpose(1, 2)
        v = self.w_vs(x).view(b, t, h, d).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(2, 3)) / self.temperature  # [B, H, T, T]
        if key_padding is not None:
            scores = scores.masked_fill(key_padding[:, None, None, :], float("-inf"))
        p = self.attn_dropout(F.softmax(scores, dim=-1))
        out = torch.matmul(p, v).transpose(1, 2).reshape(b, t, h * d)  # [B, T, C]
        return self.dropout(self.fc(out)) + x


class MelStyleEncoder(nn.Module):
    """Spectrogram ``[B, F, T]`` + mask ``[B, 1, T]`` -> style vector ``[B, out_dim, 1]``."""

    def __init__(
        self,
        n_mel_channels: int,
        style_vector_dim: int,
        style_hidden: int = 128,
        style_kernel_size: int = 5,
        style_head: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.spectral = nn.Sequential(
            _Linear(n_mel_channels, style_hidden),
            nn.Mish(),
            nn.Dropout(dropout),
            _Linear(style_hidden, style_hidden),
            nn.Mish(),
            nn.Dropout(dropout),
        )
        self.temporal = nn.Sequential(
            Conv1dGLU(style_hidden, style_kernel_size, dropout),
            Conv1dGLU(style_hidden, style_kernel_size, dropout),
        )
        self.slf_attn = StyleAttention(style_head, style_hidden, dropout)
        self.fc = _Linear(style_hidden, style_vector_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        padding = (mask.squeeze(1) == 0) if mask is not None else None  # [B, T], True = padded
        h = self.spectral(x.transpose(1, 2))  # [B, T, hidden]
        h = self.temporal(h.transpose(1, 2)).transpose(1, 2)
        if padding is not None:
            h = h.masked_fill(padding.unsqueeze(-1), 0)
        h = self.fc(self.slf_attn(h, padding))  # [B, T, out]
        if padding is None:
            return h.mean(dim=1).unsqueeze(-1)
        # average over valid frames; divide before summing, in float32, like upstream
        valid = (~padding).sum(dim=1).view(-1, 1, 1)
        h = h.masked_fill(padding.unsqueeze(-1), 0)
        pooled = (h.float() / valid).sum(dim=1).to(h.dtype)  # [B, out]
        return pooled.unsqueeze(-1)
