"""Frozen residual vector quantizer of SSL content features (keys ``vq.layers.N._codebook.*``).

SoVITS fine-tuning never updates the codebook (``freeze_quantizer`` is true in every official config), so
only nearest-code lookup and code-to-vector decoding are implemented; the EMA/k-means buffers are kept
(and saved) unchanged so files round-trip.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Codebook(nn.Module):
    """One Euclidean codebook: ``embed`` [bins, dim] plus the training-time buffers upstream stores."""

    def __init__(self, dim: int, codebook_size: int) -> None:
        super().__init__()
        self.register_buffer("inited", torch.ones(1))
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed", torch.zeros(codebook_size, dim))
        self.register_buffer("embed_avg", torch.zeros(codebook_size, dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest code of every row. ``x`` [N, D] -> [N] long."""
        embed = self.embed.to(x.dtype)
        # argmin ||x - e||^2 == argmax (2 x.e - ||e||^2); ||x||^2 is kept so ties resolve as upstream
        dist = x.pow(2).sum(1, keepdim=True) - 2 * x @ embed.t() + embed.pow(2).sum(1).unsqueeze(0)
        return (-dist).max(dim=-1).indices

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [...] -> vectors [..., D]."""
        return F.embedding(codes, self.embed)


class VectorQuantization(nn.Module):
    """Holds one codebook under ``_codebook`` (upstream nesting)."""

    def __init__(self, dim: int, codebook_size: int) -> None:
        super().__init__()
        self._codebook = Codebook(dim, codebook_size)


class ResidualVectorQuantization(nn.Module):
    """``layers``: the residual stages."""

    def __init__(self, dim: int, codebook_size: int, num_quantizers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(VectorQuantization(dim, codebook_size) for _ in range(num_quantizers))


class ResidualVectorQuantizer(nn.Module):
    """Residual VQ over ``[B, D, T]`` features; codes are ``[B, n_q, T]``."""

    def __init__(self, dimension: int = 768, n_q: int = 1, bins: int = 1024) -> None:
        super().__init__()
        self.vq = ResidualVectorQuantization(dimension, bins, n_q)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` [B, D, T] -> (codes [B, n_q, T], quantized [B, D, T])."""
        b, d, t = x.shape
        residual = x.transpose(1, 2).reshape(b * t, d)
        quantized = torch.zeros_like(residual)
        codes = []
        for layer in self.vq.layers:
            idx = layer._codebook.encode(residual)  # [B*T]
            q = layer._codebook.decode(idx).to(residual.dtype)
            residual = residual - q
            quantized = quantized + q
            codes.append(idx.view(b, t))
        return torch.stack(codes, 1), quantized.view(b, t, d).transpose(1, 2)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [B, n_q, T] (any n_q up to the number of stages) -> summed vectors [B, D, T]."""
        out = None
        for i in range(codes.shape[1]):
            q = self.vq.layers[i]._codebook.decode(codes[:, i])  # [B, T, D]
            out = q if out is None else out + q
        return out.transpose(1, 2)
