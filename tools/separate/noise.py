"""Fallback when no separation model is installed: spectral-gating noise reduction.

This is NOT vocal separation: music stays in the output. It only lowers steady or slowly changing
background noise (hiss, hum, room tone) with the ``noisereduce`` package, which helps when the
recordings are clean speech with some noise and no accompaniment.
"""

from __future__ import annotations

import logging

import numpy as np

from gpt_sovits.errors import require_module

logger = logging.getLogger(__name__)

FALLBACK_MESSAGE = (
    "No UVR5 MDX-Net separation model is installed, so only spectral-gating noise reduction "
    "(noisereduce) was applied: background noise is lowered, but music or other voices are NOT removed. "
    "For vocal separation put e.g. UVR-MDX-NET-Voc_FT.onnx in the models folder."
)


def reduce_noise(
    audio: np.ndarray,
    sample_rate: int,
    *,
    stationary: bool = False,
    prop_decrease: float = 1.0,
) -> np.ndarray:
    """Spectral-gating noise reduction of [channels, samples] (or [samples]) float32 audio.

    Args:
        audio: the noisy signal.
        sample_rate: its rate in Hz.
        stationary: estimate one noise profile for the whole file (steady hiss/hum) instead of a
            noise floor that follows the signal over a few seconds.
        prop_decrease: how much of the estimated noise to remove, 0..1.

    Returns:
        The cleaned signal, same shape, float32.
    """
    nr = require_module("noisereduce", "Noise reduction", "webui", "noisereduce")
    if not 0.0 <= prop_decrease <= 1.0:
        raise ValueError(f"prop_decrease must be in 0..1, got {prop_decrease!r}")
    x = np.asarray(audio, dtype=np.float32)
    # Short FFT windows (about 23 ms at 44.1 kHz) suit speech better than noisereduce's music default.
    n_fft = 1024 if sample_rate >= 32000 else 512
    out = nr.reduce_noise(
        y=x,
        sr=int(sample_rate),
        stationary=stationary,
        prop_decrease=float(prop_decrease),
        n_fft=n_fft,
    )
    out = np.asarray(out, dtype=np.float32)
    if out.shape != x.shape:  # noisereduce pads internally; keep the caller's length
        fixed = np.zeros_like(x)
        m = min(out.shape[-1], x.shape[-1])
        fixed[..., :m] = out[..., :m]
        out = fixed
    return out
