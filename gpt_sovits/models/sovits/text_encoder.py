"""Prior encoder ``enc_p``: quantized content + phones + timbre -> prior mean / log-std of the latent."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from gpt_sovits.models.sovits.attentions import Encoder
from gpt_sovits.models.sovits.layers import length_mask
from gpt_sovits.models.sovits.mrte import MRTE


class TextEncoder(nn.Module):
    """``ssl_proj`` -> ``encoder_ssl``; phones -> ``encoder_text``; MRTE mixes them with the timbre; ``encoder2``.

    The content path has ``n_layers // 2`` layers before and after MRTE, the phone path ``n_layers``.
    """

    def __init__(
        self,
        out_channels: int,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        p_dropout: float,
        n_symbols: int,
        ssl_dim: int = 768,
        mrte_channels: int = 512,
    ):
        super().__init__()
        self.out_channels = out_channels
        self.ssl_proj = nn.Conv1d(ssl_dim, hidden_channels, 1)
        half = n_layers // 2
        self.encoder_ssl = Encoder(hidden_channels, filter_channels, n_heads, half, kernel_size, p_dropout)
        self.encoder_text = Encoder(
            hidden_channels, filter_channels, n_heads, n_layers, kernel_size, p_dropout
        )
        self.text_embedding = nn.Embedding(n_symbols, hidden_channels)
        self.mrte = MRTE(hidden_channels, mrte_channels, hidden_channels)
        self.encoder2 = Encoder(hidden_channels, filter_channels, n_heads, half, kernel_size, p_dropout)
        self.proj = nn.Conv1d(hidden_channels, out_channels * 2, 1)

    def _phone_states(
        self, text: torch.Tensor, text_lengths: torch.Tensor, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        text_mask = length_mask(text_lengths, text.size(1), dtype)  # [B, 1, T_text]
        t = self.text_embedding(text).transpose(1, 2)  # [B, H, T_text]
        t = self.encoder_text(t * text_mask, text_mask)
        return t, text_mask

    def encode_phones(self, text: torch.Tensor, text_lengths: torch.Tensor) -> torch.Tensor:
        """The text branch alone: phone ids [B, T_text] -> phone states [B, H, T_text] (what MRTE reads;
        the phone aligner's input). Padding positions are not zeroed; mask them with ``text_lengths``."""
        return self._phone_states(text, text_lengths, self.text_embedding.weight.dtype)[0]

    def forward(
        self,
        y: torch.Tensor,
        y_lengths: torch.Tensor,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        ge: torch.Tensor | None,
        speed: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode.

        ``y`` [B, ssl_dim, T] quantized content at the latent frame rate, ``text`` [B, T_text] phone ids,
        ``ge`` [B, mrte_channels, 1]. Returns ``x`` [B, H, T'], ``m``, ``logs`` [B, C, T'] and the mask
        [B, 1, T'], where ``T' = int(T / speed) + 1`` when ``speed != 1`` (linear time stretch) else ``T``.
        """
        y_mask = length_mask(y_lengths, y.size(2), y.dtype)  # [B, 1, T]
        y = self.ssl_proj(y * y_mask) * y_mask
        y = self.encoder_ssl(y * y_mask, y_mask)
        t, text_mask = self._phone_states(text, text_lengths, y.dtype)
        y = self.mrte(y, y_mask, t, text_mask, ge)
        y = self.encoder2(y * y_mask, y_mask)
        if speed != 1:
            # stretch time before the projection; frames count as upstream: int(T / speed) + 1
            y = F.interpolate(y, size=int(y.shape[-1] / speed) + 1, mode="linear")
            y_mask = F.interpolate(y_mask, size=y.shape[-1], mode="nearest")
        stats = self.proj(y) * y_mask
        m, logs = stats[:, : self.out_channels], stats[:, self.out_channels :]
        return y, m, logs, y_mask
