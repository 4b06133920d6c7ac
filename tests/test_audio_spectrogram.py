"""Tests for gpt_sovits.audio.spectrogram: reference parity, an independent numpy STFT, mel filters."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from gpt_sovits.audio import (
    MelConfig,
    SpectrogramConfig,
    hz_to_mel,
    linear_spectrogram,
    mel_filterbank,
    mel_spectrogram,
    mel_to_hz,
    spec_to_mel,
)
from gpt_sovits.audio.spectrogram import _hann_window
from gpt_sovits.errors import AudioError

COMPAT = Path(__file__).resolve().parents[1].parent / "shared" / "compat"
PARITY = COMPAT / "fixtures" / "parity_io.npz"


def _wav(batch: int = 2, samples: int = 32000, seed: int = 0) -> torch.Tensor:
    """Chirp + noise, [batch, samples] float32 at 32 kHz."""
    t = torch.arange(samples, dtype=torch.float64) / 32000
    gen = torch.Generator().manual_seed(seed)
    rows = [
        0.4 * torch.sin(2 * torch.pi * (150 * (b + 1) * t + 2000 * t**2))
        + 0.05 * torch.randn(samples, generator=gen)
        for b in range(batch)
    ]
    return torch.stack(rows).float()  # [batch, samples]


# ---------------------------------------------------------------- linear spectrogram


@pytest.mark.skipif(not COMPAT.is_dir(), reason=f"shared compat fixtures not found at {COMPAT}")
def test_linear_spectrogram_matches_reference_fixture() -> None:
    data = np.load(PARITY)
    wav = torch.from_numpy(data["ref_wav_32k"])  # [1, 64000]
    expected = torch.from_numpy(data["ref_spec"])  # [1, 1025, 100]
    spec = linear_spectrogram(wav)  # [1, 1025, 100]
    assert spec.shape == expected.shape == (1, 1025, 100)
    assert spec.dtype == torch.float32
    # Global bound 10x stricter than the 1e-4 contract; elementwise, atol 1e-5 (1e-7 of the peak of
    # ~105) only absorbs float32 FFT rounding in near-zero bins.
    rel = ((spec - expected).abs().max() / expected.abs().max()).item()
    assert rel <= 1e-5, f"max relative error {rel:.2e}"
    torch.testing.assert_close(spec, expected, rtol=1e-4, atol=1e-5)


def _numpy_spectrogram(wav: np.ndarray, n_fft: int = 2048, hop: int = 640) -> np.ndarray:
    """Independent float64 implementation from the definition; [T] -> [n_fft//2+1, frames]."""
    pad = (n_fft - hop) // 2
    x = np.pad(wav.astype(np.float64), (pad, pad), mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = 1 + (x.size - n_fft) // hop
    segs = np.stack([x[i * hop : i * hop + n_fft] * window for i in range(frames)], axis=1)  # [n_fft, frames]
    spec = np.fft.rfft(segs, axis=0)
    return np.sqrt(spec.real**2 + spec.imag**2 + 1e-8)


def test_linear_spectrogram_matches_numpy_definition() -> None:
    wav = _wav(batch=2, samples=32000)  # [2, 32000]
    spec = linear_spectrogram(wav)  # [2, 1025, 50]
    assert spec.shape == (2, 1025, 50)
    for b in range(2):
        ref = _numpy_spectrogram(wav[b].numpy())
        err = np.abs(spec[b].numpy() - ref).max() / ref.max()
        assert err < 1e-5


def test_linear_spectrogram_shapes_and_batching() -> None:
    cfg = SpectrogramConfig()
    assert (cfg.sampling_rate, cfg.n_fft, cfg.hop_length, cfg.win_length) == (32000, 2048, 640, 2048)
    assert cfg.pad == 704 and cfg.n_freqs == 1025
    wav = _wav(batch=3, samples=20000)  # [3, 20000]
    spec = linear_spectrogram(wav, cfg)  # [3, 1025, frames]
    assert spec.shape == (3, 1025, (20000 + 2 * 704 - 2048) // 640 + 1)
    single = linear_spectrogram(wav[1])  # [1025, frames]
    torch.testing.assert_close(single, spec[1], rtol=1e-6, atol=1e-6)
    assert (spec >= 1e-4 - 1e-9).all()  # the +1e-8 floor
    small = SpectrogramConfig(sampling_rate=16000, n_fft=512, hop_length=128, win_length=512)
    assert linear_spectrogram(wav, small).shape == (3, 257, (20000 + 2 * 192 - 512) // 128 + 1)
    with pytest.raises(AudioError, match="too short"):
        linear_spectrogram(torch.zeros(1, 500))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_fft = 1024  # type: ignore[misc]


def test_window_cache_per_device_and_dtype() -> None:
    w32 = _hann_window(2048, "cpu", torch.float32)
    assert w32 is _hann_window(2048, "cpu", torch.float32)
    w64 = _hann_window(2048, "cpu", torch.float64)
    assert w64.dtype == torch.float64 and w64 is not w32
    torch.testing.assert_close(w32, torch.hann_window(2048))
    wav = _wav(batch=1)
    s32 = linear_spectrogram(wav)
    s64 = linear_spectrogram(wav.double())
    assert s64.dtype == torch.float64
    torch.testing.assert_close(s64.float(), s32, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- mel scale and filterbank


def test_slaney_mel_scale() -> None:
    assert hz_to_mel(0.0) == 0.0
    assert hz_to_mel(200.0) == pytest.approx(3.0)  # linear part: 3 mels per 200 Hz
    assert hz_to_mel(1000.0) == pytest.approx(15.0)
    assert hz_to_mel(6400.0) == pytest.approx(15.0 + 27.0)  # 27 mels per factor 6.4 above 1 kHz
    freqs = np.array([0.0, 55.0, 999.0, 1000.0, 1001.0, 4000.0, 16000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs)), freqs, rtol=1e-12, atol=1e-9)


def test_mel_filterbank_is_slaney_triangles() -> None:
    sr, n_fft, n_mels = 32000, 2048, 128
    fb = mel_filterbank(sr, n_fft, n_mels)  # [128, 1025]
    assert fb.shape == (n_mels, n_fft // 2 + 1) and fb.dtype == np.float32
    bins = np.linspace(0, sr / 2, n_fft // 2 + 1)
    df = bins[1]
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(sr / 2), n_mels + 2))
    np.testing.assert_allclose(np.diff(hz_to_mel(edges)), hz_to_mel(sr / 2) / (n_mels + 1))  # mel-spaced
    for i in range(n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        height = 2.0 / (hi - lo)  # unit-area normalisation
        row = fb[i].astype(np.float64)
        # Zero outside the triangle's support.
        assert np.all(row[(bins <= lo) | (bins >= hi)] == 0)
        # Exact triangle values: rising (f - lo)/(mid - lo), falling (hi - f)/(hi - mid).
        tri = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0, None)
        np.testing.assert_allclose(row, height * tri, rtol=1e-5, atol=1e-9)
        # Peak on one of the two bins around the mel-spaced centre, never above the apex height.
        assert abs(bins[np.argmax(row)] - mid) < df
        assert row.max() <= height * (1 + 1e-6)
        # Linear on each flank: second differences vanish away from the apex.
        rising = row[(bins > lo) & (bins < mid)]
        if rising.size >= 3:
            np.testing.assert_allclose(np.diff(rising, 2), 0, atol=1e-7)
        # Area in Hz close to 1 once the triangle spans several bins.
        if hi - lo > 8 * df:
            assert row.sum() * df == pytest.approx(1.0, rel=0.03)


def test_mel_filterbank_spot_values_librosa_defaults() -> None:
    # Values of librosa.filters.mel(sr=32000, n_fft=2048, n_mels=128) (librosa 0.11, Slaney defaults).
    fb = mel_filterbank(32000, 2048, 128)
    np.testing.assert_allclose(
        fb[0, :4], [0.0, 0.0191117097, 0.0317236893, 0.0126119768], rtol=1e-6, atol=1e-9
    )
    for i, argmax, peak, total in [
        (0, 2, 0.031723689287900925, 0.06344737857580185),
        (10, 20, 0.032498665153980255, 0.06422235071659088),
        (64, 155, 0.013575978577136993, 0.06427314877510071),
        (127, 994, 0.0021640968043357134, 0.06399485468864441),
    ]:
        assert int(np.argmax(fb[i])) == argmax
        assert fb[i].max() == pytest.approx(peak, rel=1e-6)
        assert fb[i].sum() == pytest.approx(total, rel=1e-5)
    band = mel_filterbank(22050, 1024, 80, fmin=50.0, fmax=8000.0)
    assert band.shape == (80, 513)
    assert np.all(band[:, np.linspace(0, 11025, 513) >= 8000.0] == 0)


# ---------------------------------------------------------------- log-mel


def test_mel_config_defaults_are_v2() -> None:
    cfg = MelConfig()
    assert (cfg.sampling_rate, cfg.n_fft, cfg.hop_length, cfg.win_length) == (32000, 2048, 640, 2048)
    assert (cfg.n_mels, cfg.fmin, cfg.fmax) == (128, 0.0, None)
    assert cfg.spectrogram == SpectrogramConfig()


def test_mel_spectrogram_equals_spec_to_mel_of_linear() -> None:
    cfg = MelConfig()
    wav = _wav(batch=2, samples=25600)  # [2, 25600]
    mel = mel_spectrogram(wav, cfg)  # [2, 128, 40]
    assert mel.shape == (2, 128, 40)
    via_spec = spec_to_mel(linear_spectrogram(wav, cfg.spectrogram), cfg)
    torch.testing.assert_close(mel, via_spec, rtol=0, atol=0)
    # By definition: log(clamp(filterbank @ magnitude, 1e-5)).
    basis = torch.from_numpy(mel_filterbank(32000, 2048, 128))
    expected = torch.log(torch.clamp(basis @ linear_spectrogram(wav), min=1e-5))
    torch.testing.assert_close(mel, expected, rtol=1e-5, atol=1e-5)
    assert mel_spectrogram(wav[0], cfg).shape == (128, 40)


def test_mel_of_silence_hits_the_log_floor() -> None:
    mel = mel_spectrogram(torch.zeros(1, 6400))  # magnitude floor 1e-4 -> mel energy < 1e-5
    torch.testing.assert_close(mel, torch.full_like(mel, float(np.log(1e-5))))
    with pytest.raises(ValueError, match="1025"):
        spec_to_mel(torch.ones(1, 513, 10))


@pytest.mark.skipif(not COMPAT.is_dir(), reason=f"shared compat fixtures not found at {COMPAT}")
def test_mel_of_reference_spec() -> None:
    data = np.load(PARITY)
    mel = mel_spectrogram(torch.from_numpy(data["ref_wav_32k"]))  # [1, 128, 100]
    from_ref = spec_to_mel(torch.from_numpy(data["ref_spec"]))  # [1, 128, 100]
    assert mel.shape == from_ref.shape == (1, 128, 100)
    torch.testing.assert_close(mel, from_ref, rtol=1e-4, atol=1e-4)
