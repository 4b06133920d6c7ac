"""Tests for gpt_sovits.audio I/O and normalisation on real files written inside the tests."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
import torch

from gpt_sovits.audio import (
    audio_info,
    load_audio,
    loudness_normalize,
    normalize_max_alpha,
    peak_normalize,
    save_audio,
)
from gpt_sovits.errors import AudioError

SR = 44100


def _test_signal(sr: int = SR, seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """Log sine sweep 100 Hz -> 8 kHz with a syllable-like envelope plus light noise; float32 [samples]."""
    t = np.arange(int(sr * seconds)) / sr
    f0, f1 = 100.0, 8000.0
    k = np.log(f1 / f0) / seconds
    sweep = np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t)
    noise = np.random.default_rng(seed).normal(0.0, 0.02, t.size)
    return (0.5 * sweep * envelope + noise).astype(np.float32)


def _encode_pyav(path: Path, audio: np.ndarray, sr: int, codec: str, container: str) -> None:
    """Encode mono float32 ``audio`` with a PyAV encoder."""
    if codec not in av.codecs_available:
        pytest.skip(f"FFmpeg build has no {codec} encoder")
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=sr)
        stream.layout = "mono"
        if codec in ("libmp3lame", "aac"):
            stream.bit_rate = 128000
        for start in range(0, audio.size, 1024):
            frame = av.AudioFrame.from_ndarray(audio[None, start : start + 1024], format="flt", layout="mono")
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _aligned_correlation(decoded: np.ndarray, source: np.ndarray, max_lag: int = 4096) -> tuple[int, float]:
    """Best lag of ``decoded`` against ``source`` (decoder priming) and the Pearson r after aligning."""
    n = min(decoded.size, source.size) - max_lag
    best_lag, best = 0, -np.inf
    for lag in range(0, max_lag):
        score = float(np.dot(decoded[lag : lag + n : 4], source[:n:4]))
        if score > best:
            best_lag, best = lag, score
    seg = decoded[best_lag : best_lag + n]
    return best_lag, float(np.corrcoef(seg, source[:n])[0, 1])


def _resample_reference(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample the source independently (scipy polyphase) for comparison."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sr_in, sr_out)
    return resample_poly(audio, sr_out // g, sr_in // g).astype(np.float32)


def _assert_names(exc_info: pytest.ExceptionInfo, path: Path) -> None:
    assert str(path) in str(exc_info.value)


# ---------------------------------------------------------------- loading


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", "PCM_24")])
def test_load_lossless_same_rate(tmp_path: Path, fmt: str, subtype: str) -> None:
    src = _test_signal()
    path = tmp_path / f"clip.{fmt.lower()}"
    sf.write(path, src, SR, format=fmt, subtype=subtype)
    out = load_audio(path, SR)
    assert out.dtype == np.float32 and out.ndim == 1 and out.size == src.size
    np.testing.assert_allclose(out, src, atol=1.0 / 32767 + 1e-7)


@pytest.mark.parametrize("target", [32000, 16000])
def test_load_resamples(tmp_path: Path, target: int) -> None:
    t = np.arange(SR * 2) / SR
    tone = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, tone, SR)
    out = load_audio(path, target)
    assert out.dtype == np.float32
    assert out.size == round(tone.size * target / SR) == 2 * target
    spectrum = np.abs(np.fft.rfft(out))
    peak_hz = np.argmax(spectrum) * target / out.size
    assert abs(peak_hz - 1000.0) < 1.0
    assert abs(np.abs(out[1000:-1000]).max() - 0.5) < 0.01  # level kept


@pytest.mark.parametrize(
    "suffix,codec,container,rate",
    [("mp3", "libmp3lame", "mp3", 44100), ("m4a", "aac", "ipod", 44100), ("ogg", "libopus", "ogg", 48000)],
)
def test_load_lossy_formats(tmp_path: Path, suffix: str, codec: str, container: str, rate: int) -> None:
    src = _test_signal(sr=rate)
    path = tmp_path / f"clip.{suffix}"
    _encode_pyav(path, src, rate, codec, container)
    out = load_audio(path, 32000)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size / 32000 - src.size / rate) < 0.05  # priming/padding below 50 ms
    expected = _resample_reference(src, rate, 32000)
    lag, r = _aligned_correlation(out, expected)
    assert lag < 0.05 * 32000
    assert r > 0.98, f"{suffix}: correlation {r:.3f} after aligning by {lag} samples"
    info = audio_info(path)
    assert info.sample_rate == rate and info.channels == 1
    assert info.format == suffix
    assert abs(info.duration_s - src.size / rate) < 0.05


def test_stereo_downmix_averages_channels(tmp_path: Path) -> None:
    left = _test_signal(seed=1)
    right = 0.3 * _test_signal(seed=2)[::-1]
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")  # [samples, 2]
    out = load_audio(path, SR)
    np.testing.assert_allclose(out, (left + right) / 2, atol=1e-6)
    info = audio_info(path)
    assert (info.channels, info.frames, info.sample_rate, info.format) == (2, left.size, SR, "wav")
    assert info.duration_s == pytest.approx(left.size / SR)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match="not found") as exc:
        load_audio(path, 32000)
    _assert_names(exc, path)
    with pytest.raises(AudioError) as exc:
        audio_info(path)
    _assert_names(exc, path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match="empty") as exc:
        load_audio(path, 32000)
    _assert_names(exc, path)


def test_header_only_wav_has_no_samples(tmp_path: Path) -> None:
    path = tmp_path / "nosamples.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(AudioError, match="no audio samples") as exc:
        load_audio(path, 32000)
    _assert_names(exc, path)


@pytest.mark.parametrize("suffix", ["wav", "mp3", "flac"])
def test_corrupt_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"garbage.{suffix}"
    path.write_bytes(np.random.default_rng(3).bytes(40000))
    with pytest.raises(AudioError, match="Cannot decode") as exc:
        load_audio(path, 32000)
    _assert_names(exc, path)
    with pytest.raises(AudioError) as exc:
        audio_info(path)
    _assert_names(exc, path)


def test_truncated_wav(tmp_path: Path) -> None:
    src = _test_signal()
    full = tmp_path / "full.wav"
    sf.write(full, src, SR)
    path = tmp_path / "cut.wav"
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="truncated") as exc:
        load_audio(path, SR)
    _assert_names(exc, path)
    partial = load_audio(path, SR, allow_truncated=True)
    assert 0 < partial.size < src.size
    np.testing.assert_allclose(partial, src[: partial.size], atol=1.0 / 32767 + 1e-7)
    # Cut inside the header: not decodable at all.
    stub = tmp_path / "stub.wav"
    stub.write_bytes(data[:20])
    with pytest.raises(AudioError) as exc:
        load_audio(stub, SR)
    _assert_names(exc, stub)


def test_silent_file(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    quiet = (10 ** (-70 / 20) * np.sin(np.arange(SR) * 0.05)).astype(np.float32)  # peak -70 dBFS
    sf.write(path, quiet, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match="silent") as exc:
        load_audio(path, 32000)
    _assert_names(exc, path)
    out = load_audio(path, 32000, allow_silent=True)
    assert out.size == 32000
    zeros = tmp_path / "zeros.flac"
    sf.write(zeros, np.zeros(SR, dtype=np.float32), SR)
    with pytest.raises(AudioError, match="silent"):
        load_audio(zeros, 32000)


# ---------------------------------------------------------------- saving


def test_save_roundtrip_and_formats(tmp_path: Path) -> None:
    src = _test_signal()
    wav = save_audio(tmp_path / "a.wav", src, SR)
    assert sf.info(wav).subtype == "PCM_16"
    np.testing.assert_allclose(sf.read(wav, dtype="float32")[0], src, atol=1.0 / 32767 + 1e-7)
    flt = save_audio(tmp_path / "b.wav", torch.from_numpy(src), SR, subtype="FLOAT")
    np.testing.assert_array_equal(sf.read(flt, dtype="float32")[0], src)
    flac = save_audio(tmp_path / "c.flac", src, SR)
    assert sf.info(flac).format == "FLAC"
    forced = save_audio(tmp_path / "d.audio", src, SR, format="flac")
    assert sf.info(forced).format == "FLAC"
    stereo = np.stack([src, -src])  # [2, samples]
    st = save_audio(tmp_path / "st.wav", stereo, SR)
    assert sf.info(st).channels == 2
    np.testing.assert_allclose(load_audio(st, SR, allow_silent=True), 0.0, atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav", "c.flac", "d.audio", "st.wav"]


def test_save_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keep.wav"
    first = _test_signal(seed=4)
    save_audio(path, first, SR)
    before = path.read_bytes()
    with pytest.raises(AudioError, match="overwrite=True") as exc:
        save_audio(path, np.zeros(100, dtype=np.float32), SR)
    _assert_names(exc, path)
    assert path.read_bytes() == before
    save_audio(path, 0.5 * first, SR, overwrite=True)
    assert np.abs(sf.read(path)[0]).max() == pytest.approx(0.5 * np.abs(first).max(), abs=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]  # no temp files left behind


def test_save_rejects_bad_input(tmp_path: Path) -> None:
    src = _test_signal()
    with pytest.raises(AudioError, match=r"\.wav and \.flac"):
        save_audio(tmp_path / "x.mp3", src, SR)
    with pytest.raises(AudioError, match="channels, samples"):
        save_audio(tmp_path / "x.wav", np.stack([src, src], axis=1), SR)  # [samples, 2]
    with pytest.raises(AudioError, match="NaN"):
        save_audio(tmp_path / "y.wav", np.full(100, np.nan, dtype=np.float32), SR)
    with pytest.raises(AudioError, match="subtypes"):
        save_audio(tmp_path / "z.flac", src, SR, subtype="FLOAT")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- normalisation


def test_peak_normalize() -> None:
    src = _test_signal()
    out = peak_normalize(src, peak=0.95)
    assert np.abs(out).max() == pytest.approx(0.95, rel=1e-6)
    assert np.abs(src).max() != pytest.approx(0.95)  # input untouched
    silent = peak_normalize(np.zeros(100, dtype=np.float32))
    assert np.all(silent == 0) and np.isfinite(silent).all()


def test_loudness_normalize_reaches_target() -> None:
    src = 0.1 * _test_signal(seconds=3.0)
    meter = pyloudnorm.Meter(SR)
    for target in (-23.0, -16.0):
        out = loudness_normalize(src, SR, target_lufs=target)
        assert abs(meter.integrated_loudness(out.astype(np.float64)) - target) < 0.5
        assert np.abs(out).max() <= 0.99
    stereo = np.stack([src, 0.5 * src])  # [2, samples]
    out = loudness_normalize(stereo, SR, target_lufs=-20.0)
    assert out.shape == stereo.shape
    assert abs(meter.integrated_loudness(out.T.astype(np.float64)) - (-20.0)) < 0.5


def test_loudness_normalize_is_clip_safe(caplog: pytest.LogCaptureFixture) -> None:
    src = 0.02 * _test_signal(seconds=2.0)
    src[SR // 2] = 0.9  # one loud click: reaching -5 LUFS would clip it
    with caplog.at_level(logging.WARNING, logger="gpt_sovits.audio.normalize"):
        out = loudness_normalize(src, SR, target_lufs=-5.0)
    assert np.abs(out).max() == pytest.approx(0.99, rel=1e-5)
    assert "gain limited" in caplog.text
    silent = loudness_normalize(np.zeros(SR, dtype=np.float32), SR)
    assert np.all(silent == 0)
    with pytest.raises(AudioError, match="400 ms"):
        loudness_normalize(src[:1000], SR)


def test_normalize_max_alpha_matches_slicer_formula() -> None:
    src = 0.3 * _test_signal()
    peak = np.abs(src).max()
    out = normalize_max_alpha(src, max=0.9, alpha=0.25)
    np.testing.assert_allclose(out, src / peak * (0.9 * 0.25) + 0.75 * src, rtol=1e-6, atol=1e-7)
    assert out.dtype == np.float32
    assert np.abs(out).max() == pytest.approx(0.9 * 0.25 + 0.75 * peak, rel=1e-6)
    loud = 2.0 * _test_signal()  # peak > 1: scaled to peak 1 first, so the result peaks at 0.25*0.9+0.75
    assert np.abs(normalize_max_alpha(loud)).max() == pytest.approx(0.9 * 0.25 + 0.75, rel=1e-6)
    silent = normalize_max_alpha(np.zeros(100, dtype=np.float32))
    assert np.all(silent == 0) and np.isfinite(silent).all()
