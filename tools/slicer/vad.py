"""Streaming silero-vad: speech probabilities block by block, then speech segments.

silero-vad works on 16 kHz audio in frames of 512 samples, each seen with the last 64 samples of
the frame before it, and carries an LSTM state from frame to frame. Its "sequence" ONNX model runs
many frames per call; here the state and the context are carried across calls too, so a file of any
length is processed in bounded memory and gives the same probabilities as one call on the whole
array. The probabilities (31 per second) are turned into segments by silero's own
``get_speech_timestamps_from_probs``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import soxr

from gpt_sovits.errors import require_module

VAD_RATE = 16000
FRAME = 512  # samples per silero frame at 16 kHz
CONTEXT = 64  # samples of the previous frame prepended to each frame
_FRAMES_PER_CALL = 512  # about 16 s of audio per ONNX call


def _silero() -> Any:
    """Import silero_vad without letting it change torch's thread count for the whole process."""
    import torch

    threads = torch.get_num_threads()
    module = require_module("silero_vad", "Slicing in VAD mode", "webui", "silero-vad onnxruntime")
    # silero_vad.model calls torch.set_num_threads(1) when first imported; undo that side effect.
    torch.set_num_threads(threads)
    return module


@functools.lru_cache(maxsize=1)
def _session() -> Any:
    """The silero-vad sequence ONNX session (loaded once per process, on first use)."""
    require_module("onnxruntime", "Slicing in VAD mode", "webui", "onnxruntime")
    return _silero().load_silero_vad(sequence=True).session


class StreamingVAD:
    """Feed audio at ``sample_rate`` block by block; :meth:`finish` returns per-frame speech probabilities."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._resampler = (
            soxr.ResampleStream(sample_rate, VAD_RATE, 1, dtype="float32", quality="HQ")
            if sample_rate != VAD_RATE
            else None
        )
        self._session = _session()
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)  # 16 kHz samples not yet in a full frame
        self._probs: list[np.ndarray] = []
        self.samples_16k = 0

    def _run(self, frames: np.ndarray) -> None:
        """``frames``: [n, FRAME] -> appends n probabilities, carrying state and context."""
        contexts = np.empty((frames.shape[0], CONTEXT), dtype=np.float32)
        contexts[0] = self._context
        contexts[1:] = frames[:-1, -CONTEXT:]
        block = np.concatenate([contexts, frames], axis=1)  # [n, CONTEXT + FRAME]
        probs, self._h, self._c = self._session.run(
            ["speech_probs", "hn", "cn"], {"input": block, "h": self._h, "c": self._c}
        )
        self._context = frames[-1, -CONTEXT:].copy()
        self._probs.append(np.asarray(probs, dtype=np.float32).reshape(-1))

    def _consume(self, audio16: np.ndarray, final: bool) -> None:
        self.samples_16k += audio16.shape[0]
        buf = np.concatenate([self._pending, audio16])
        if final and buf.shape[0] % FRAME:
            buf = np.concatenate([buf, np.zeros(FRAME - buf.shape[0] % FRAME, np.float32)])
        n_full = buf.shape[0] // FRAME
        for f0 in range(0, n_full, _FRAMES_PER_CALL):
            f1 = min(n_full, f0 + _FRAMES_PER_CALL)
            self._run(buf[f0 * FRAME : f1 * FRAME].reshape(f1 - f0, FRAME))
        self._pending = buf[n_full * FRAME :].copy()

    def push(self, block: np.ndarray) -> None:
        """Add the next block ([n] float32 at ``sample_rate``)."""
        audio16 = self._resampler.resample_chunk(block) if self._resampler else block
        self._consume(np.asarray(audio16, dtype=np.float32), final=False)

    def finish(self) -> np.ndarray:
        """Per-frame speech probabilities of everything pushed: [ceil(samples_16k / 512)] float32."""
        tail = (
            self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            if self._resampler
            else np.zeros(0, np.float32)
        )
        self._consume(np.asarray(tail, dtype=np.float32), final=True)
        return np.concatenate(self._probs) if self._probs else np.zeros(0, np.float32)


def speech_segments(
    probs: np.ndarray,
    samples_16k: int,
    sample_rate: int,
    *,
    threshold: float,
    min_silence_ms: int,
    speech_pad_ms: int,
    min_speech_ms: int,
) -> list[tuple[int, int]]:
    """silero-vad speech segments as (start, end) sample indices at ``sample_rate``."""
    silero = _silero()
    stamps = silero.get_speech_timestamps_from_probs(
        probs.tolist(),
        sampling_rate=VAD_RATE,
        threshold=threshold,
        min_speech_duration_ms=min_speech_ms,
        min_silence_duration_ms=min_silence_ms,
        speech_pad_ms=speech_pad_ms,
        audio_length_samples=samples_16k,
    )
    scale = sample_rate / VAD_RATE
    return [(int(round(s["start"] * scale)), int(round(s["end"] * scale))) for s in stamps]
