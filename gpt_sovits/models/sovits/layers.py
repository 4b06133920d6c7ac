"""Small building blocks shared by the SoVITS modules: weight-normalised convolutions, channel LayerNorm, masks.

Official files store weight-normalised convolutions as ``weight_g`` (magnitude, one per output slice along
dim 0) and ``weight_v`` (direction). The classes here keep exactly those two parameters so files load by
plain key copy, compute ``weight = g * v / ||v||`` on every call while training, and can be *folded* into a
plain ``weight`` for inference (:func:`fold_weight_norm`), which saves the per-call normalisation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _norm_except_dim0(v: torch.Tensor) -> torch.Tensor:
    """L2 norm of every slice ``v[i]``, shaped to broadcast against ``v`` ([C, 1, 1(, 1)])."""
    return torch.linalg.vector_norm(v.flatten(1), dim=1).view(-1, *([1] * (v.dim() - 1)))


class _WeightNorm:
    """Mixin turning a conv's ``weight`` parameter into ``weight_g`` / ``weight_v`` (upstream key layout)."""

    def _split_weight(self) -> None:
        v = self.weight.detach()
        del self._parameters["weight"]
        # bias was registered before; registering g then v keeps upstream's key order (bias, weight_g, weight_v)
        self.weight_g = nn.Parameter(_norm_except_dim0(v))
        self.weight_v = nn.Parameter(v.clone())

    @property
    def is_folded(self) -> bool:
        """True once :meth:`fold` replaced ``weight_g``/``weight_v`` by a plain ``weight``."""
        return "weight_v" not in self._parameters

    def effective_weight(self) -> torch.Tensor:
        """The convolution kernel actually applied."""
        if self.is_folded:
            return self._parameters["weight"]
        v = self.weight_v
        return v * (self.weight_g / _norm_except_dim0(v))

    def fold(self) -> None:
        """Replace ``weight_g``/``weight_v`` by the kernel they describe (inference only; not reversible)."""
        if self.is_folded:
            return
        w = self.effective_weight().detach().clone()
        del self._parameters["weight_g"]
        del self._parameters["weight_v"]
        self._parameters["weight"] = nn.Parameter(w, requires_grad=False)


class WNConv1d(_WeightNorm, nn.Conv1d):
    """``nn.Conv1d`` with upstream-style weight normalisation (keys ``weight_g``, ``weight_v``, ``bias``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._split_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C_in, T] -> [B, C_out, T']
        return self._conv_forward(x, self.effective_weight(), self.bias)


class WNConv2d(_WeightNorm, nn.Conv2d):
    """``nn.Conv2d`` with upstream-style weight normalisation (used by the period discriminators)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._split_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C_in, H, W] -> [B, C_out, H', W']
        return self._conv_forward(x, self.effective_weight(), self.bias)


class WNConvTranspose1d(_WeightNorm, nn.ConvTranspose1d):
    """``nn.ConvTranspose1d`` with weight normalisation; ``weight_g`` is per *input* channel ([C_in, 1, 1])."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._split_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C_in, T] -> [B, C_out, T * stride]
        return F.conv_transpose1d(
            x,
            self.effective_weight(),
            self.bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )


def conv_weight(conv: nn.Module) -> torch.Tensor:
    """The kernel a (possibly weight-normalised) convolution applies."""
    return conv.effective_weight() if isinstance(conv, _WeightNorm) else conv.weight


def conv1d_nhwc(conv: nn.Conv1d | nn.ConvTranspose1d, x: torch.Tensor) -> torch.Tensor:
    """Apply a 1-D (transposed) convolution to ``x`` laid out as ``[B, C, 1, T]`` in channels-last memory.

    oneDNN runs these layouts without reordering activations and with faster kernels than plain
    ``[B, C, T]`` (about 1.4x for the HiFi-GAN shapes on AVX-512 CPUs); the result is the same convolution.
    """
    w = conv_weight(conv).unsqueeze(2)  # [C_out, C_in, 1, k] (transposed: [C_in, C_out, 1, k])
    stride, padding, dilation = (1, conv.stride[0]), (0, conv.padding[0]), (1, conv.dilation[0])
    if isinstance(conv, nn.ConvTranspose1d):
        out_pad = (0, conv.output_padding[0])
        return F.conv_transpose2d(x, w, conv.bias, stride, padding, out_pad, conv.groups, dilation)
    return F.conv2d(x, w, conv.bias, stride, padding, dilation, conv.groups)


def fold_weight_norm(module: nn.Module) -> nn.Module:
    """Fold every weight-normalised conv inside ``module`` into a plain kernel, in place; returns ``module``.

    Load weights first: a folded model no longer has ``weight_g``/``weight_v`` keys.
    """
    for sub in module.modules():
        if isinstance(sub, _WeightNorm):
            sub.fold()
    return module


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of ``[B, C, T]`` tensors (upstream parameter names ``gamma``/``beta``)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T]
        y = F.layer_norm(x.transpose(1, -1), (self.channels,), self.gamma, self.beta, self.eps)
        return y.transpose(1, -1)


def sequence_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """``[B]`` lengths -> ``[B, T]`` bool mask, True on valid positions."""
    if max_length is None:
        max_length = int(lengths.max())
    steps = torch.arange(max_length, dtype=lengths.dtype, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def length_mask(lengths: torch.Tensor, max_length: int, dtype: torch.dtype) -> torch.Tensor:
    """``[B]`` lengths -> ``[B, 1, T]`` float mask (1 valid, 0 padding) in ``dtype``."""
    return sequence_mask(lengths, max_length).unsqueeze(1).to(dtype)


def gated_tanh(x: torch.Tensor, channels: int) -> torch.Tensor:
    """WaveNet gate: ``tanh(first half) * sigmoid(second half)`` along channels. [B, 2C, T] -> [B, C, T]."""
    return torch.tanh(x[:, :channels]) * torch.sigmoid(x[:, channels:])
