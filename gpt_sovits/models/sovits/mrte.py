"""Multi-reference timbre encoder (MRTE): content frames cross-attend the phone sequence, plus the timbre."""

from __future__ import annotations

import torch
from torch import nn

from gpt_sovits.models.sovits.attentions import MultiHeadAttention


class MRTE(nn.Module):
    """``c_post(cross_attn(c_pre(content), text_pre(text)) + c_pre(content) + ge)`` at ``hidden_size`` channels."""

    def __init__(
        self, content_channels: int = 192, hidden_size: int = 512, out_channels: int = 192, n_heads=4
    ):
        super().__init__()
        self.cross_attention = MultiHeadAttention(hidden_size, hidden_size, n_heads)
        self.c_pre = nn.Conv1d(content_channels, hidden_size, 1)
        self.text_pre = nn.Conv1d(content_channels, hidden_size, 1)
        self.c_post = nn.Conv1d(hidden_size, out_channels, 1)

    def forward(
        self,
        ssl_enc: torch.Tensor,
        ssl_mask: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        ge: torch.Tensor | None,
    ) -> torch.Tensor:
        """``ssl_enc`` [B, C, T], ``text`` [B, C, T_text], masks [B, 1, *], ``ge`` [B, hidden, 1] -> [B, out, T]."""
        attn_mask = text_mask.unsqueeze(2) * ssl_mask.unsqueeze(-1)  # [B, 1, T, T_text]
        content = self.c_pre(ssl_enc * ssl_mask)
        text_enc = self.text_pre(text * text_mask)
        x = self.cross_attention(content * ssl_mask, text_enc * text_mask, attn_mask) + content
        if ge is not None:
            x = x + ge
        return self.c_post(x * ssl_mask)
