"""Audio helpers on real speech (the piper voice)."""

from __future__ import annotations

import av
import numpy as np
import pyloudnorm
import torch
from scipy.signal import resample_poly

from gpt_sovits.audio import linear_spectrogram, load_audio, loudness_normalize, mel_spectrogram, save_audio

SENTENCE = "The quick brown fox jumps over the lazy dog. Reading books is a pleasure."


def test_speech_round_trip_and_features(speak, tmp_path):
    audio, sr = speak(SENTENCE)
    assert sr == 22050 and len(audio) > sr  # more than a second of speech
    src = save_audio(tmp_path / "speech.flac", audio, sr)
    wav32 = load_audio(src, 32000)
    assert abs(len(wav32) - len(audio) * 32000 / sr) <= 2

    spec = linear_spectrogram(torch.from_numpy(wav32)[None])  # [1, 1025, frames]
    mel = mel_spectrogram(torch.from_numpy(wav32)[None])  # [1, 128, frames]
    assert (
        spec.shape[1] == 1025 and mel.shape[1] == 128 and spec.shape[2] == mel.shape[2] == len(wav32) // 640
    )
    # Speech frames carry far more energy than the quietest frames (pauses) of the same recording.
    energy = mel.exp().sum(1)[0]
    assert energy.max() > 100 * energy.min()
    # Voiced speech energy sits mostly below 4 kHz (mel bins up to about 4 kHz on a 16 kHz band).
    low = spec[0, : 2048 * 4000 // 32000].pow(2).sum()
    assert low / spec[0].pow(2).sum() > 0.8


def test_speech_survives_lossy_formats(speak, tmp_path):
    audio, sr = speak(SENTENCE)
    ref = load_audio(save_audio(tmp_path / "ref.wav", audio, sr), 16000)
    for ext in ("mp3", "ogg"):
        path = tmp_path / f"speech.{ext}"
        codec, rate = ("libmp3lame", 22050) if ext == "mp3" else ("libopus", 48000)
        with av.open(str(path), "w") as out:
            stream = out.add_stream(codec, rate=rate)
            stream.layout = "mono"
            data = audio if rate == sr else resample_poly(audio, 320, 147).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(data[None], format="flt", layout="mono")
            frame.sample_rate = rate
            for pkt in stream.encode(frame):
                out.mux(pkt)
            for pkt in stream.encode(None):
                out.mux(pkt)
        got = load_audio(path, 16000)
        n = min(len(got), len(ref))
        # Align for encoder delay, then compare the waveforms.
        lags = range(-400, 401)
        best = max(lags, key=lambda k: float(np.dot(np.roll(got[:n], -k), ref[:n])))
        corr = np.corrcoef(np.roll(got[:n], -best)[1000 : n - 1000], ref[1000 : n - 1000])[0, 1]
        assert corr > 0.9, (ext, corr)


def test_loudness_of_real_speech(speak):
    audio, sr = speak(SENTENCE)
    out = loudness_normalize(audio * 0.1, sr, target_lufs=-20.0)
    assert abs(pyloudnorm.Meter(sr).integrated_loudness(out) + 20.0) < 0.5
