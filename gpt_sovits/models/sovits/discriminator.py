"""Discriminators for SoVITS fine-tuning: one scale discriminator plus period discriminators.

v1/v2 use periods (2, 3, 5, 7, 11); v2Pro/v2ProPlus add 17 and 23 (see ``VersionSpec.disc_periods``).
Keys follow upstream's ``MultiPeriodDiscriminator`` (``discriminators.N.convs.M.weight_g`` ...).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from gpt_sovits.models.sovits.config import SoVITSConfig
from gpt_sovits.models.sovits.generator import LRELU_SLOPE, get_padding
from gpt_sovits.models.sovits.layers import WNConv1d, WNConv2d

FeatureMaps = list[torch.Tensor]


def _conv(cls_wn, cls_plain, spectral: bool, *args, **kwargs) -> nn.Module:
    """Weight-normalised conv, or a spectral-normalised plain one when ``use_spectral_norm`` is set."""
    if spectral:
        return nn.utils.spectral_norm(cls_plain(*args, **kwargs))
    return cls_wn(*args, **kwargs)


def _conv_stack(convs: nn.ModuleList, post: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, FeatureMaps]:
    """Leaky-ReLU conv stack then the output conv; every activation is kept for feature matching."""
    fmap = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        fmap.append(x)
    x = post(x)
    fmap.append(x)
    return torch.flatten(x, 1, -1), fmap


class DiscriminatorP(nn.Module):
    """Looks at the waveform folded into ``[T / period, period]`` with 2-D convolutions along time."""

    def __init__(
        self,
        period: int,
        kernel_size: int = 5,
        stride: int = 3,
        use_spectral_norm: bool = False,
        width_div: int = 1,
    ):
        super().__init__()
        self.period = period
        pad = (get_padding(kernel_size, 1), 0)
        chans = (1, *(c // width_div for c in (32, 128, 512, 1024, 1024)))
        strides = (stride, stride, stride, stride, 1)
        self.convs = nn.ModuleList(
            _conv(WNConv2d, nn.Conv2d, use_spectral_norm, c_in, c_out, (kernel_size, 1), (s, 1), padding=pad)
            for c_in, c_out, s in zip(chans[:-1], chans[1:], strides)
        )
        self.conv_post = _conv(
            WNConv2d, nn.Conv2d, use_spectral_norm, chans[-1], 1, (3, 1), 1, padding=(1, 0)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, FeatureMaps]:
        """``x`` [B, 1, T] -> (scores [B, N], feature maps)."""
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            x = F.pad(x, (0, n_pad), "reflect")
            t += n_pad
        x = x.view(b, c, t // self.period, self.period)
        return _conv_stack(self.convs, self.conv_post, x)


class DiscriminatorS(nn.Module):
    """Scale discriminator: grouped strided 1-D convolutions over the raw waveform."""

    def __init__(self, use_spectral_norm: bool = False, width_div: int = 1):
        super().__init__()
        # (in, out, kernel, stride, groups, padding)
        full = (
            (1, 16, 15, 1, 1, 7),
            (16, 64, 41, 4, 4, 20),
            (64, 256, 41, 4, 16, 20),
            (256, 1024, 41, 4, 64, 20),
            (1024, 1024, 41, 4, 256, 20),
            (1024, 1024, 5, 1, 1, 2),
        )
        w = width_div
        layers = [
            (max(1, i // w) if i > 1 else 1, o // w, k, s, max(1, g // w), p) for i, o, k, s, g, p in full
        ]
        self.convs = nn.ModuleList(
            _conv(WNConv1d, nn.Conv1d, use_spectral_norm, i, o, k, s, groups=g, padding=p)
            for i, o, k, s, g, p in layers
        )
        self.conv_post = _conv(WNConv1d, nn.Conv1d, use_spectral_norm, 1024 // w, 1, 3, 1, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, FeatureMaps]:
        """``x`` [B, 1, T] -> (scores [B, N], feature maps)."""
        return _conv_stack(self.convs, self.conv_post, x)


class MultiPeriodDiscriminator(nn.Module):
    """``discriminators[0]`` is the scale discriminator, then one period discriminator per period.

    ``width_div`` divides every hidden channel count (1 = upstream's size, the only one official files have;
    tests use narrow discriminators so CPU training steps take a fraction of a second).
    """

    def __init__(self, periods=(2, 3, 5, 7, 11), use_spectral_norm: bool = False, width_div: int = 1):
        super().__init__()
        self.width_div = width_div
        self.discriminators = nn.ModuleList(
            [DiscriminatorS(use_spectral_norm, width_div)]
            + [DiscriminatorP(p, use_spectral_norm=use_spectral_norm, width_div=width_div) for p in periods]
        )

    @classmethod
    def for_config(cls, config: SoVITSConfig, width_div: int = 1) -> MultiPeriodDiscriminator:
        """The discriminator upstream pairs with a generator of ``config``'s version."""
        return cls(config.spec.disc_periods, config.use_spectral_norm, width_div)

    @staticmethod
    def width_div_of(weight: dict[str, torch.Tensor]) -> int:
        """The ``width_div`` of a discriminator state dict (1 for official files), from its last conv."""
        for key in ("discriminators.0.convs.5.weight_v", "discriminators.0.convs.5.weight"):
            if key in weight and weight[key].shape[0] > 0:
                return max(1, 1024 // int(weight[key].shape[0]))
        return 1

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor):
        """Real ``y`` and generated ``y_hat`` [B, 1, T] -> (real scores, fake scores, real fmaps, fake fmaps).

        Both go through each discriminator as one batch [2B, 1, T]: the same numbers as two calls (nothing
        here mixes batch items), but each weight-normalised kernel is computed once instead of twice and the
        convolutions run on twice the batch, which is what costs on a CPU.
        """
        b = y.shape[0]
        both = torch.cat([y, y_hat.to(y.dtype)], dim=0)  # [2B, 1, T]
        y_d_rs, y_d_gs, fmap_rs, fmap_gs = [], [], [], []
        for d in self.discriminators:
            score, fmap = d(both)
            y_d_rs.append(score[:b])
            y_d_gs.append(score[b:])
            fmap_rs.append([f[:b] for f in fmap])
            fmap_gs.append([f[b:] for f in fmap])
        return y_d_rs, y_d_gs, fmap_rs, fmap_gs
