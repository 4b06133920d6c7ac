"""WaveNet stack, coupling flow and posterior encoder of the VITS backbone (upstream parameter names)."""

from __future__ import annotations

import torch
from torch import nn

from gpt_sovits.models.sovits.layers import WNConv1d, gated_tanh


class WN(nn.Module):
    """Non-causal WaveNet: dilated gated convolutions with residual and skip paths, optional global condition."""

    def __init__(
        self,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
        p_dropout: float = 0.0,
    ):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("WN kernel_size must be odd")
        self.hidden_channels = hidden_channels
        self.n_layers = n_layers
        self.drop = nn.Dropout(p_dropout)
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        if gin_channels:
            # one 1x1 conv produces the condition of every layer at once: [B, 2 * H * n_layers, 1]
            self.cond_layer = WNConv1d(gin_channels, 2 * hidden_channels * n_layers, 1)
        for i in range(n_layers):
            dilation = dilation_rate**i
            padding = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(
                WNConv1d(
                    hidden_channels, 2 * hidden_channels, kernel_size, dilation=dilation, padding=padding
                )
            )
            # the last layer only feeds the skip sum, so it needs no residual half
            out = 2 * hidden_channels if i < n_layers - 1 else hidden_channels
            self.res_skip_layers.append(WNConv1d(hidden_channels, out, 1))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [B, H, T], ``x_mask`` [B, 1, T], ``g`` [B, gin, 1] -> skip sum [B, H, T] (masked)."""
        hc = self.hidden_channels
        cond = self.cond_layer(g) if g is not None else None  # [B, 2H * n_layers, 1]
        output = None
        for i, (in_layer, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            x_in = in_layer(x)
            if cond is not None:
                x_in = x_in + cond[:, 2 * hc * i : 2 * hc * (i + 1)]
            acts = self.drop(gated_tanh(x_in, hc))
            rs = res_skip(acts)
            if i < self.n_layers - 1:
                x = (x + rs[:, :hc]) * x_mask
                skip = rs[:, hc:]
            else:
                skip = rs
            output = skip if output is None else output + skip
        return output * x_mask


class ResidualCouplingLayer(nn.Module):
    """Mean-only affine coupling: the second half of the channels is shifted by a WN of the first half."""

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
    ):
        super().__init__()
        if channels % 2:
            raise ValueError("coupling channels must be even")
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=gin_channels)
        self.post = nn.Conv1d(hidden_channels, self.half_channels, 1)
        # start as the identity map, as upstream does
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g=None, reverse: bool = False) -> torch.Tensor:
        """[B, C, T] -> [B, C, T]; ``reverse`` undoes the forward map. The log-determinant is 0 (mean-only)."""
        x0, x1 = x[:, : self.half_channels], x[:, self.half_channels :]
        h = self.enc(self.pre(x0) * x_mask, x_mask, g=g)
        m = self.post(h) * x_mask
        x1 = (x1 - m) * x_mask if reverse else m + x1 * x_mask
        return torch.cat([x0, x1], 1)


class Flip(nn.Module):
    """Reverse the channel order (between coupling layers); parameter-free, kept so flow indices match upstream."""

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return torch.flip(x, [1])


class ResidualCouplingBlock(nn.Module):
    """The prior flow: ``n_flows`` x (coupling layer, flip), at indices 0, 2, 4, ... of ``flows``."""

    def __init__(
        self, channels, hidden_channels, kernel_size, dilation_rate, n_layers, n_flows=4, gin_channels=0
    ):
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(
                ResidualCouplingLayer(
                    channels, hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=gin_channels
                )
            )
            self.flows.append(Flip())

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g=None, reverse: bool = False) -> torch.Tensor:
        """Posterior latent -> prior space (``reverse=False``) or back (``reverse=True``). [B, C, T]."""
        flows = reversed(self.flows) if reverse else self.flows
        for flow in flows:
            x = flow(x, x_mask, g=g, reverse=reverse)
        return x


class PosteriorEncoder(nn.Module):
    """Linear spectrogram -> posterior latent ``z ~ N(m, exp(logs))`` (training only; ``enc_q``)."""

    def __init__(
        self, in_channels, out_channels, hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=0
    ):
        super().__init__()
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=gin_channels)
        self.proj = nn.Conv1d(hidden_channels, out_channels * 2, 1)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None, generator=None):
        """``x`` [B, F, T], ``x_mask`` [B, 1, T] -> ``z, m, logs`` each [B, C, T].

        The condition is detached: upstream lets only the decoder/flow train the timbre encoder.
        """
        if g is not None:
            g = g.detach()
        h = self.enc(self.pre(x) * x_mask, x_mask, g=g)
        stats = self.proj(h) * x_mask
        m, logs = stats[:, : self.out_channels], stats[:, self.out_channels :]
        noise = torch.randn(m.shape, generator=generator, dtype=m.dtype, device=m.device)
        z = (m + noise * torch.exp(logs)) * x_mask
        return z, m, logs
