"""Kaldi-compatible log-mel filterbank in torch, as the speaker-verification network reads it.

Matches Kaldi's ``compute-fbank-feats`` (and ``torchaudio.compliance.kaldi.fbank``) for the options
GPT-SoVITS uses: 25 ms Povey windows every 10 ms with ``snip_edges`` (only whole frames), per-frame DC
removal, pre-emphasis 0.97, zero-padding to a power of two, power spectrum, triangular mel filters
between 20 Hz and Nyquist on Kaldi's mel scale ``1127 ln(1 + f / 700)``, natural log floored at the
float32 epsilon, no energy term, no dither. The waveform is used at its own scale (float audio in
[-1, 1], not int16 counts), as upstream passes it.
"""

from __future__ import annotations

import functools
import math

import torch

_EPS = torch.finfo(torch.float32).eps


def _mel(freq: torch.Tensor | float) -> torch.Tensor | float:
    if isinstance(freq, torch.Tensor):
        return 1127.0 * torch.log1p(freq / 700.0)
    return 1127.0 * math.log1p(freq / 700.0)


@functools.lru_cache(maxsize=8)
def _mel_banks(
    num_bins: int, n_fft: int, sample_rate: float, low_freq: float, high_freq: float
) -> torch.Tensor:
    """Triangular filters on the mel scale, ``[num_bins, n_fft // 2 + 1]`` (float64, CPU).

    Kaldi builds them over the first n_fft/2 bins; the Nyquist bin gets weight 0.
    """
    nyquist = 0.5 * sample_rate
    high = high_freq if high_freq > 0 else nyquist + high_freq
    if not 0.0 <= low_freq < high <= nyquist:
        raise ValueError(f"bad mel range low={low_freq} high={high} for sample rate {sample_rate}")
    mel_low, mel_high = _mel(low_freq), _mel(high)
    step = (mel_high - mel_low) / (num_bins + 1)
    edges = mel_low + step * torch.arange(num_bins + 2, dtype=torch.float64)  # [num_bins + 2]
    left, center, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # [num_bins, 1] each
    bin_mel = _mel(torch.arange(n_fft // 2, dtype=torch.float64) * (sample_rate / n_fft))[None, :]
    rising = (bin_mel - left) / (center - left)
    falling = (right - bin_mel) / (right - center)
    banks = torch.clamp(torch.minimum(rising, falling), min=0.0)  # [num_bins, n_fft/2]
    return torch.nn.functional.pad(banks, (0, 1))  # [num_bins, n_fft/2 + 1]


@functools.lru_cache(maxsize=8)
def _povey_window(size: int) -> torch.Tensor:
    """Kaldi's Povey window: a symmetric Hann window raised to 0.85 (float64, CPU)."""
    n = torch.arange(size, dtype=torch.float64)
    return (0.5 - 0.5 * torch.cos(2.0 * math.pi * n / (size - 1))).pow(0.85)


def fbank_frames(
    num_samples: int, sample_rate: int = 16000, frame_length_ms: float = 25.0, frame_shift_ms: float = 10.0
) -> int:
    """Number of frames :func:`kaldi_fbank` gives for ``num_samples`` samples (snip_edges)."""
    size = int(sample_rate * frame_length_ms / 1000)
    shift = int(sample_rate * frame_shift_ms / 1000)
    return 0 if num_samples < size else 1 + (num_samples - size) // shift


def kaldi_fbank(
    wav: torch.Tensor,
    num_mel_bins: int = 80,
    sample_rate: int = 16000,
    frame_length_ms: float = 25.0,
    frame_shift_ms: float = 10.0,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
    preemphasis: float = 0.97,
    subtract_mean: bool = False,
) -> torch.Tensor:
    """Log-mel filterbank of ``wav`` ``[..., T]`` -> ``[..., frames, num_mel_bins]`` (float32).

    ``high_freq <= 0`` counts down from Nyquist, as in Kaldi. ``subtract_mean`` removes each bin's mean
    over time (Kaldi's CMS); GPT-SoVITS's speaker path does not use it. Computed in float32 on the
    input's device whatever the input dtype.
    """
    size = int(sample_rate * frame_length_ms / 1000)
    shift = int(sample_rate * frame_shift_ms / 1000)
    n_fft = 1 << (size - 1).bit_length()  # next power of two
    x = wav.to(torch.float32)
    if x.shape[-1] < size:
        return x.new_zeros(*x.shape[:-1], 0, num_mel_bins)
    frames = x.unfold(-1, size, shift)  # [..., F, size]
    frames = frames - frames.mean(dim=-1, keepdim=True)
    # Pre-emphasis with the frame's first sample standing in for its predecessor (Kaldi's choice).
    previous = torch.cat((frames[..., :1], frames[..., :-1]), dim=-1)
    frames = frames - preemphasis * previous
    frames = frames * _povey_window(size).to(device=x.device, dtype=torch.float32)
    spec = torch.fft.rfft(frames, n=n_fft, dim=-1)  # zero-padded to n_fft: [..., F, n_fft/2 + 1]
    power = spec.real.square() + spec.imag.square()
    banks = _mel_banks(num_mel_bins, n_fft, float(sample_rate), float(low_freq), float(high_freq))
    mel = power @ banks.to(device=x.device, dtype=torch.float32).T  # [..., F, num_mel_bins]
    out = torch.log(torch.clamp(mel, min=_EPS))
    if subtract_mean:
        out = out - out.mean(dim=-2, keepdim=True)
    return out
