"""Level normalisation: peak, loudness (ITU-R BS.1770 via pyloudnorm) and the GPT-SoVITS slicer mix.

All functions take float audio of shape [samples] or [channels, samples], never modify their
input, and return float32 arrays of the same shape. Silent input is returned unchanged (no
division by zero).
"""

from __future__ import annotations

import logging

import numpy as np
import pyloudnorm

from gpt_sovits.errors import AudioError

logger = logging.getLogger(__name__)

_EPS = 1e-9  # peaks below this count as digital silence
_MIN_LOUDNESS_S = 0.4  # BS.1770 gating block length


def _as_float32(audio: np.ndarray) -> np.ndarray:
    arr = np.array(audio, dtype=np.float32, copy=True)
    if arr.ndim not in (1, 2):
        raise ValueError(f"audio must be [samples] or [channels, samples], got shape {arr.shape}")
    return arr


def _peak(audio: np.ndarray) -> float:
    return float(np.max(np.abs(audio))) if audio.size else 0.0


def peak_normalize(audio: np.ndarray, peak: float = 0.95) -> np.ndarray:
    """Scale ``audio`` so its largest absolute sample equals ``peak`` (silence is returned as is)."""
    if not 0.0 < peak:
        raise ValueError(f"peak must be positive, got {peak}")
    out = _as_float32(audio)
    current = _peak(out)
    if current < _EPS:
        logger.debug("peak_normalize: silent input left unchanged")
        return out
    out *= np.float32(peak / current)
    return out


def loudness_normalize(
    audio: np.ndarray,
    sr: int,
    target_lufs: float = -23.0,
    *,
    max_peak: float = 0.99,
) -> np.ndarray:
    """Apply one gain so the integrated loudness (ITU-R BS.1770-4, K-weighted, gated) is ``target_lufs``.

    Clip-safe: if that gain would push the sample peak above ``max_peak``, the gain is reduced so
    the peak lands on ``max_peak`` and a warning says which loudness was reached instead.

    Args:
        audio: [samples] or [channels, samples] float audio.
        sr: sample rate in Hz.
        target_lufs: desired integrated loudness in LUFS (EBU R128 broadcast: -23).
        max_peak: ceiling for the absolute sample peak after the gain.

    Raises:
        AudioError: the audio is shorter than one 400 ms measurement block.
    """
    out = _as_float32(audio)
    n = out.shape[-1]
    if n < int(round(_MIN_LOUDNESS_S * sr)):
        raise AudioError(
            f"Cannot measure loudness of {n / sr * 1000:.0f} ms of audio: BS.1770 needs at least "
            f"{_MIN_LOUDNESS_S * 1000:.0f} ms. Use peak_normalize for very short clips."
        )
    peak = _peak(out)
    if peak < _EPS:
        logger.warning("loudness_normalize: silent input left unchanged")
        return out
    meter = pyloudnorm.Meter(sr)  # BS.1770-4 K-weighting, 400 ms blocks
    frames = out if out.ndim == 1 else out.T  # pyloudnorm wants [samples] or [samples, channels]
    loudness = float(meter.integrated_loudness(frames.astype(np.float64)))
    if not np.isfinite(loudness):
        logger.warning("loudness_normalize: audio is below the -70 LUFS gate; left unchanged")
        return out
    gain_db = target_lufs - loudness
    gain = 10.0 ** (gain_db / 20.0)
    if peak * gain > max_peak:
        limited = max_peak / peak
        reached = loudness + 20.0 * np.log10(limited)
        logger.warning(
            "loudness_normalize: reaching %.1f LUFS would need a peak of %.3f; gain limited to keep the "
            "peak at %.2f, loudness is %.1f LUFS instead",
            target_lufs,
            peak * gain,
            max_peak,
            reached,
        )
        gain = limited
    out *= np.float32(gain)
    return out


def normalize_max_alpha(audio: np.ndarray, max: float = 0.9, alpha: float = 0.25) -> np.ndarray:
    """The GPT-SoVITS slicer's level mix: ``audio / peak * (max * alpha) + (1 - alpha) * audio``.

    A fraction ``alpha`` of the output is the peak-normalised signal (peak ``max``) and the rest is
    the original, so quiet clips are lifted without fully flattening level differences. As in the
    slicer, a clip whose peak exceeds 1 is first scaled down to peak 1 (here the mix then uses that
    new peak). Silent input is returned unchanged.

    Args:
        audio: [samples] or [channels, samples] float audio.
        max: peak of the normalised component (the slicer's ``_max``, default 0.9).
        alpha: share of the normalised component, in [0, 1] (default 0.25).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    out = _as_float32(audio)
    peak = _peak(out)
    if peak < _EPS:
        logger.debug("normalize_max_alpha: silent input left unchanged")
        return out
    if peak > 1.0:
        out /= np.float32(peak)
        peak = 1.0
    return (out * np.float32(max * alpha / peak) + np.float32(1.0 - alpha) * out).astype(np.float32)
