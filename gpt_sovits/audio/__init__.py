"""Audio I/O, level normalisation and spectrograms.

Importing this package does no work beyond importing numpy/torch/soundfile/PyAV.
"""

from gpt_sovits.audio.io import AudioInfo, audio_info, load_audio, load_audio_channels, save_audio
from gpt_sovits.audio.normalize import loudness_normalize, normalize_max_alpha, peak_normalize
from gpt_sovits.audio.spectrogram import (
    MelConfig,
    SpectrogramConfig,
    clear_caches,
    hz_to_mel,
    linear_spectrogram,
    mel_filterbank,
    mel_spectrogram,
    mel_to_hz,
    spec_to_mel,
)

__all__ = [
    "AudioInfo",
    "MelConfig",
    "SpectrogramConfig",
    "audio_info",
    "clear_caches",
    "hz_to_mel",
    "linear_spectrogram",
    "load_audio",
    "load_audio_channels",
    "loudness_normalize",
    "mel_filterbank",
    "mel_spectrogram",
    "mel_to_hz",
    "normalize_max_alpha",
    "peak_normalize",
    "save_audio",
    "spec_to_mel",
]
