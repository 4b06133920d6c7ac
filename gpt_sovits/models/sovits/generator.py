"""HiFi-GAN decoder ``dec``: latent frames [B, C, T] -> waveform [B, 1, T * prod(upsample_rates)]."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from gpt_sovits.models.sovits.layers import WNConv1d, WNConvTranspose1d, conv1d_nhwc

LRELU_SLOPE = 0.1


def _conv(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run a 1-D conv on ``[B, C, T]`` or on the channels-last ``[B, C, 1, T]`` layout (see :func:`conv1d_nhwc`)."""
    return conv(x) if x.dim() == 3 else conv1d_nhwc(conv, x)


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    """'Same' padding of an odd kernel with dilation."""
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """Three (dilated conv, conv) residual pairs with leaky ReLUs (HiFi-GAN V1 block)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation=(1, 3, 5)) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, 1, dilation=d, padding=get_padding(kernel_size, d))
            for d in dilation
        )
        self.convs2 = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, 1, dilation=1, padding=get_padding(kernel_size))
            for _ in dilation
        )

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:  # [B, C, T] or [B, C, 1, T]
        """``inplace``: overwrite temporaries (only when autograd records nothing)."""
        for c1, c2 in zip(self.convs1, self.convs2):
            h = _conv(c1, F.leaky_relu(x, LRELU_SLOPE))
            h = _conv(c2, F.leaky_relu(h, LRELU_SLOPE, inplace=inplace))
            x = h.add_(x) if inplace else x + h
        return x


class ResBlock2(nn.Module):
    """Residual dilated convolutions, one per dilation (HiFi-GAN V3 block)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation=(1, 3)) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, 1, dilation=d, padding=get_padding(kernel_size, d))
            for d in dilation
        )

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:  # [B, C, T] or [B, C, 1, T]
        """``inplace``: overwrite temporaries (only when autograd records nothing)."""
        for c in self.convs:
            h = _conv(c, F.leaky_relu(x, LRELU_SLOPE))
            x = h.add_(x) if inplace else x + h
        return x


def _block_radius(resblock: str, kernel_size: int, dilations) -> int:
    """How many samples on each side one resblock looks at."""
    half = (kernel_size - 1) // 2
    if str(resblock) == "1":  # each dilated conv is followed by an undilated one
        return sum(half * d + half for d in dilations)
    return sum(half * d for d in dilations)


class HiFiGANGenerator(nn.Module):
    """Upsampling transposed convolutions, each followed by the average of several resblocks (MRF).

    Inference switches (set by ``SoVITSSynthesizer.prepare_for_inference``; all leave the result unchanged):

    * ``channels_last``: run on ``[B, C, 1, T]`` channels-last tensors (faster oneDNN kernels on CPU);
    * ``reuse_buffers``: update temporaries in place when autograd records nothing;
    * ``tile_frames``: after the first upsampling stage, decode in time tiles of this many latent frames,
      each with a halo that covers the rest of the network's receptive field, so that the big late-stage
      activations stay in cache and small enough to be recycled by the allocator instead of page-faulting.
    """

    def __init__(
        self,
        initial_channel: int,
        resblock: str,
        resblock_kernel_sizes,
        resblock_dilation_sizes,
        upsample_rates,
        upsample_initial_channel: int,
        upsample_kernel_sizes,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.num_upsamples = len(upsample_rates)
        self.upsample_rates = tuple(upsample_rates)
        self.conv_pre = nn.Conv1d(initial_channel, upsample_initial_channel, 7, 1, padding=3)
        block = ResBlock1 if str(resblock) == "1" else ResBlock2
        self.ups = nn.ModuleList()
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes)):
            c_in, c_out = upsample_initial_channel // 2**i, upsample_initial_channel // 2 ** (i + 1)
            self.ups.append(WNConvTranspose1d(c_in, c_out, k, u, padding=(k - u) // 2))
        self.resblocks = nn.ModuleList()
        for i in range(self.num_upsamples):
            ch = upsample_initial_channel // 2 ** (i + 1)
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(ch, k, d))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=False)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)
        self.channels_last = False
        self.reuse_buffers = False
        self.tile_frames: int | None = None
        self.tile_halo = self._tail_radius(
            resblock, resblock_kernel_sizes, resblock_dilation_sizes, upsample_rates, upsample_kernel_sizes
        )

    @staticmethod
    def _tail_radius(resblock, kernel_sizes, dilation_sizes, rates, up_kernels) -> int:
        """Receptive radius of every layer after the first upsampling stage, in that stage's output samples.

        A conservative bound: a transposed conv with kernel ``k`` and stride ``u`` reads at most
        ``ceil(k / u)`` inputs on either side; ``conv_post`` has kernel 7.
        """
        block = max(_block_radius(resblock, k, d) for k, d in zip(kernel_sizes, dilation_sizes))
        radius, rate = 0.0, 1
        for u, k in zip(rates[1:], up_kernels[1:]):
            radius += math.ceil(k / u) / rate
            rate *= u
            radius += block / rate
        return math.ceil(radius + 3 / rate) + 1

    def _stage(self, x: torch.Tensor, i: int, inplace: bool) -> torch.Tensor:
        """Upsampling stage ``i``: leaky ReLU, transposed conv, mean of the stage's resblocks."""
        n = self.num_kernels
        x = _conv(self.ups[i], F.leaky_relu(x, LRELU_SLOPE, inplace=inplace))
        blocks = self.resblocks[i * n : (i + 1) * n]
        acc = blocks[0](x, inplace)
        for block in blocks[1:]:
            acc = acc.add_(block(x, inplace)) if inplace else acc + block(x)
        return acc.div_(n) if inplace else acc / n

    def _output(self, x: torch.Tensor) -> torch.Tensor:
        # the last activation uses torch's default slope (0.01), as upstream does
        return torch.tanh(_conv(self.conv_post, F.leaky_relu(x)))

    def _tiled_tail(self, x: torch.Tensor, inplace: bool) -> torch.Tensor:
        """Stages 1.. and the output conv over overlapping time tiles of ``x`` (stage 0 output)."""
        length = x.shape[-1]
        tile = max(1, self.tile_frames * self.upsample_rates[0])
        halo = self.tile_halo
        factor = math.prod(self.upsample_rates[1:])
        out = None
        for start in range(0, length, tile):
            end = min(start + tile, length)
            lo, hi = max(0, start - halo), min(length, end + halo)
            # clone: the stages modify their input in place and neighbouring tiles share the halo
            y = x[..., lo:hi].clone(
                memory_format=torch.contiguous_format if x.dim() == 3 else torch.channels_last
            )
            for i in range(1, self.num_upsamples):
                y = self._stage(y, i, inplace)
            y = self._output(y)
            if out is None:
                out = y.new_empty((*y.shape[:-1], length * factor))
            out[..., start * factor : end * factor] = y[..., (start - lo) * factor : (end - lo) * factor]
        return out

    def forward(self, x: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [B, C, T], ``g`` [B, gin, 1] -> waveform [B, 1, T * prod(upsample_rates)] in [-1, 1]."""
        if self.channels_last:
            x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)  # [B, C, 1, T]
            g = g.unsqueeze(2) if g is not None else None
        x = _conv(self.conv_pre, x)
        if g is not None:
            x = x + _conv(self.cond, g)
        inplace = self.reuse_buffers and not torch.is_grad_enabled()
        if self.tile_frames and inplace and self.num_upsamples > 1:
            x = self._tiled_tail(self._stage(x, 0, inplace), inplace)
        else:
            for i in range(self.num_upsamples):
                x = self._stage(x, i, inplace)
            x = self._output(x)
        return x.squeeze(2) if x.dim() == 4 else x
