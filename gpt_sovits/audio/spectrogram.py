"""Linear and mel spectrograms exactly as GPT-SoVITS computes them for SoVITS.

Linear: reflect-pad by (n_fft - hop) / 2 on each side, STFT with a periodic Hann window and
center=False, magnitude sqrt(re^2 + im^2 + 1e-8). Mel: a Slaney-scale, Slaney-normalised triangular
filterbank (the defaults of ``librosa.filters.mel``, implemented here in numpy) applied to that
magnitude, then log(clamp(x, min=1e-5)).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from gpt_sovits.errors import AudioError

_MAG_EPS = 1e-8
_LOG_CLIP = 1e-5

# Slaney mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above (27 mels per x6.4).
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15
_LOGSTEP = np.log(6.4) / 27.0


@dataclass(frozen=True)
class SpectrogramConfig:
    """STFT parameters of the linear spectrogram (defaults: SoVITS v2, 32 kHz)."""

    sampling_rate: int = 32000
    n_fft: int = 2048
    hop_length: int = 640
    win_length: int = 2048

    @property
    def n_freqs(self) -> int:
        """Number of frequency bins, n_fft // 2 + 1."""
        return self.n_fft // 2 + 1

    @property
    def pad(self) -> int:
        """Reflect padding on each side, (n_fft - hop) // 2."""
        return int((self.n_fft - self.hop_length) / 2)


@dataclass(frozen=True)
class MelConfig:
    """Log-mel parameters as SoVITS training uses them (defaults: v2 config)."""

    sampling_rate: int = 32000
    n_fft: int = 2048  # the hparams' filter_length
    hop_length: int = 640
    win_length: int = 2048
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None  # None: sampling_rate / 2

    @property
    def spectrogram(self) -> SpectrogramConfig:
        """The linear-spectrogram part of this configuration."""
        return SpectrogramConfig(self.sampling_rate, self.n_fft, self.hop_length, self.win_length)


def hz_to_mel(freq: np.ndarray | float) -> np.ndarray:
    """Frequency in Hz to the Slaney mel scale (linear below 1 kHz, log above)."""
    f = np.asarray(freq, dtype=np.float64)
    linear = f / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Slaney mel value to frequency in Hz (inverse of :func:`hz_to_mel`)."""
    m = np.asarray(mel, dtype=np.float64)
    linear = m * _F_SP
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log, linear)


def mel_filterbank(
    sampling_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular mel filters with Slaney area normalisation; float32 [n_mels, n_fft // 2 + 1].

    Filter ``i`` rises linearly from edge ``f[i]`` to its centre ``f[i+1]`` and falls to ``f[i+2]``,
    where ``f`` are ``n_mels + 2`` frequencies equally spaced on the mel scale between ``fmin`` and
    ``fmax``; it is scaled by ``2 / (f[i+2] - f[i])`` so every triangle has unit area in Hz.
    """
    if fmax is None:
        fmax = sampling_rate / 2.0
    if not 0.0 <= fmin < fmax <= sampling_rate / 2.0:
        raise ValueError(f"need 0 <= fmin < fmax <= sampling_rate/2, got fmin={fmin}, fmax={fmax}")
    bin_hz = np.linspace(0.0, sampling_rate / 2.0, n_fft // 2 + 1)  # [n_freqs]
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))  # [n_mels + 2]
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # [n_mels, 1] each
    rising = (bin_hz[None, :] - lower) / (centre - lower)  # [n_mels, n_freqs]
    falling = (upper - bin_hz[None, :]) / (upper - centre)  # [n_mels, n_freqs]
    tri = np.clip(np.minimum(rising, falling), 0.0, None)
    area_norm = 2.0 / (upper - lower)  # [n_mels, 1]
    return (tri * area_norm).astype(np.float32)


@functools.lru_cache(maxsize=32)
def _hann_window(win_length: int, device: str, dtype: torch.dtype) -> torch.Tensor:
    # Periodic Hann built in float32 then cast, as the reference does. Shared: never modify in place.
    return torch.hann_window(win_length).to(device=torch.device(device), dtype=dtype)  # [win_length]


@functools.lru_cache(maxsize=32)
def _mel_basis(
    sampling_rate: int,
    n_fft: int,
    n_mels: int,
    fmin: float,
    fmax: float | None,
    device: str,
    dtype: torch.dtype,
) -> torch.Tensor:
    basis = torch.from_numpy(mel_filterbank(sampling_rate, n_fft, n_mels, fmin, fmax))
    return basis.to(device=torch.device(device), dtype=dtype)  # [n_mels, n_freqs]


def clear_caches() -> None:
    """Drop the cached Hann windows and mel filterbanks (e.g. to free GPU memory)."""
    _hann_window.cache_clear()
    _mel_basis.cache_clear()


def linear_spectrogram(wav: torch.Tensor, config: SpectrogramConfig | None = None) -> torch.Tensor:
    """Magnitude STFT of ``wav`` [B, T] (or [T]) -> [B, n_fft // 2 + 1, frames] (or without B).

    frames = (T + 2 * pad - n_fft) // hop + 1 with pad = (n_fft - hop) / 2; for the 32 kHz defaults
    that is T // 640 when T is a multiple of 640. Input must be floating point.
    """
    cfg = config or SpectrogramConfig()
    if not torch.is_floating_point(wav):
        raise TypeError(f"wav must be a floating-point tensor, got {wav.dtype}")
    squeeze = wav.dim() == 1
    if squeeze:
        wav = wav.unsqueeze(0)  # [1, T]
    if wav.dim() != 2:
        raise ValueError(f"wav must be [B, T] or [T], got shape {tuple(wav.shape)}")
    pad = cfg.pad
    if wav.shape[-1] <= pad or wav.shape[-1] + 2 * pad < cfg.n_fft:
        raise AudioError(
            f"Audio of {wav.shape[-1]} samples is too short for a spectrogram (needs more than {pad} "
            f"samples at n_fft={cfg.n_fft}, hop={cfg.hop_length}). Use a longer clip."
        )
    padded = torch.nn.functional.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(
        1
    )  # [B, T + 2*pad]
    window = _hann_window(cfg.win_length, str(wav.device), wav.dtype)  # [win_length]
    stft = torch.stft(
        padded,
        cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=window,
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )  # [B, n_freqs, frames] complex
    spec = torch.sqrt(torch.view_as_real(stft).pow(2).sum(-1) + _MAG_EPS)  # [B, n_freqs, frames]
    return spec.squeeze(0) if squeeze else spec


def spec_to_mel(spec: torch.Tensor, config: MelConfig | None = None) -> torch.Tensor:
    """Log-mel from a linear magnitude spectrogram: [B, n_freqs, frames] -> [B, n_mels, frames].

    Applies the Slaney filterbank, then log(clamp(x, min=1e-5)). Also accepts [n_freqs, frames].
    """
    cfg = config or MelConfig()
    n_freqs = cfg.n_fft // 2 + 1
    if spec.shape[-2] != n_freqs:
        raise ValueError(
            f"spec must have {n_freqs} frequency bins for n_fft={cfg.n_fft}, got {tuple(spec.shape)}"
        )
    basis = _mel_basis(
        cfg.sampling_rate, cfg.n_fft, cfg.n_mels, float(cfg.fmin), cfg.fmax, str(spec.device), spec.dtype
    )  # [n_mels, n_freqs]
    mel = torch.matmul(basis, spec)  # [B, n_mels, frames]
    return torch.log(torch.clamp(mel, min=_LOG_CLIP))


def mel_spectrogram(wav: torch.Tensor, config: MelConfig | None = None) -> torch.Tensor:
    """Log-mel spectrogram of ``wav`` [B, T] (or [T]) -> [B, n_mels, frames] (or [n_mels, frames])."""
    cfg = config or MelConfig()
    spec = linear_spectrogram(wav, cfg.spectrogram)  # [B, n_freqs, frames]
    return spec_to_mel(spec, cfg)  # [B, n_mels, frames]
