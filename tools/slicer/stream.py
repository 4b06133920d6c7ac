"""Block-wise decoding and analysis, so that hour-long files never sit in memory whole.

:func:`iter_blocks` yields float32 mono blocks at the requested rate. It follows the same steps as
:func:`gpt_sovits.audio.load_audio` (libsndfile or FFmpeg decoding, channel mean, soxr HQ
resampling), but with soxr's streaming resampler, whose output does not depend on the block size,
so the concatenated blocks equal ``load_audio`` for the same file. :class:`StreamingRMS` computes the
slicer's RMS curve incrementally with the same result as the whole-array :func:`rms_frames`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from gpt_sovits.audio import audio_info
from gpt_sovits.errors import AudioError

logger = logging.getLogger(__name__)

# Formats read with FFmpeg first, like gpt_sovits.audio does (libsndfile mishandles their priming).
_FFMPEG_FIRST = frozenset(
    {".mp3", ".m4a", ".m4b", ".mp4", ".aac", ".webm", ".mka", ".mkv", ".wma", ".amr", ".ac3", ".mov"}
)
_RMS_FRAMES_PER_STEP = 128  # bounds the [frames, window] float64 scratch array (1.3 MB at 32 kHz)


def expected_samples(path: Path, sample_rate: int) -> int:
    """Approximate length of ``path`` at ``sample_rate`` from its header (raises AudioError if unreadable)."""
    info = audio_info(path)
    if info.sample_rate <= 0:
        raise AudioError(f"Audio file '{path}' states no sample rate. Convert it to WAV/FLAC.")
    return int(round(info.frames * sample_rate / info.sample_rate))


class _Resampler:
    """Channel mean plus streaming soxr resampling to one rate."""

    def __init__(self, path: Path, source_rate: int, target_rate: int) -> None:
        self.path = path
        self.stream = (
            soxr.ResampleStream(source_rate, target_rate, 1, dtype="float32", quality="HQ")
            if source_rate != target_rate
            else None
        )

    def push(self, frames: np.ndarray, last: bool = False) -> np.ndarray:
        """``frames``: [channels, n] float32 -> resampled mono [m]."""
        mono = frames.mean(axis=0, dtype=np.float32) if frames.shape[0] > 1 else frames[0]  # [n]
        if not np.isfinite(mono).all():
            raise AudioError(
                f"Audio file '{self.path}' contains NaN or infinite sample values. "
                "Re-export it as PCM WAV/FLAC."
            )
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        if self.stream is None:
            return mono
        return self.stream.resample_chunk(mono, last=last)


def _iter_soundfile(path: Path, sample_rate: int, block_seconds: float) -> Iterator[np.ndarray]:
    with sf.SoundFile(str(path)) as f:
        resampler = _Resampler(path, int(f.samplerate), sample_rate)
        n = max(1024, int(block_seconds * f.samplerate))
        while True:
            data = f.read(n, dtype="float32", always_2d=True)  # [n, channels]
            if data.shape[0] == 0:
                break
            out = resampler.push(np.ascontiguousarray(data.T))
            if out.size:
                yield out
        tail = resampler.push(np.zeros((1, 0), dtype=np.float32), last=True)
        if tail.size:
            yield tail


def _iter_pyav(path: Path, sample_rate: int, block_seconds: float) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise AudioError(f"'{path}' has no audio stream. Give a file that contains audio.")
        stream = container.streams.audio[0]
        converter = av.AudioResampler(format="fltp")  # planar float at the stream's own rate
        resampler: _Resampler | None = None
        pending: list[np.ndarray] = []
        pending_n = 0
        limit = 0
        for frame in container.decode(stream):
            for out in converter.resample(frame):
                if resampler is None:
                    resampler = _Resampler(path, int(out.sample_rate), sample_rate)
                    limit = max(1024, int(block_seconds * out.sample_rate))
                pending.append(out.to_ndarray())  # [channels, n]
                pending_n += pending[-1].shape[1]
                if pending_n >= limit:
                    block = resampler.push(np.concatenate(pending, axis=1))
                    pending, pending_n = [], 0
                    if block.size:
                        yield block
        for out in converter.resample(None):
            pending.append(out.to_ndarray())
        if resampler is None:
            raise AudioError(f"No audio could be decoded from '{path}'. Convert it to WAV/FLAC.")
        block = resampler.push(
            np.concatenate(pending, axis=1) if pending else np.zeros((1, 0), np.float32), last=True
        )
        if block.size:
            yield block


def iter_blocks(path: Path, sample_rate: int, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Decode ``path`` as float32 mono blocks ([n]) at ``sample_rate``, about ``block_seconds`` each.

    Raises:
        AudioError: the file cannot be decoded (also when decoding fails part-way).
    """
    reader = _iter_pyav if path.suffix.lower() in _FFMPEG_FIRST else _iter_soundfile
    if reader is _iter_soundfile:
        try:
            sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError, ValueError, TypeError):
            reader = _iter_pyav  # libsndfile cannot open it: FFmpeg may
    try:
        yield from reader(path, sample_rate, block_seconds)
    except AudioError:
        raise
    except (sf.LibsndfileError, av.FFmpegError, RuntimeError, ValueError, OSError) as exc:
        raise AudioError(
            f"Decoding '{path}' failed part-way ({exc}). The file may be corrupt: open it in an audio "
            "player to check it, or convert it to WAV/FLAC."
        ) from exc


def rms_window(options_hop: int, min_interval_samples: int) -> int:
    """RMS window length in samples: four hops, or less if the minimum pause is shorter (as upstream)."""
    return max(1, min(min_interval_samples, 4 * options_hop))


def rms_frames(audio: np.ndarray, hop: int, win: int) -> np.ndarray:
    """Whole-array RMS curve: frame ``j`` is centred on sample ``j * hop``, zero-padded at the edges.

    Returns [len(audio) // hop + 1] float64. The straightforward reference for :class:`StreamingRMS`.
    """
    n_frames = audio.shape[0] // hop + 1
    half = win // 2
    padded = np.concatenate([np.zeros(half, np.float32), audio, np.zeros(win, np.float32)])
    out = np.empty(n_frames, dtype=np.float64)
    for j0 in range(0, n_frames, _RMS_FRAMES_PER_STEP):
        j1 = min(n_frames, j0 + _RMS_FRAMES_PER_STEP)
        out[j0:j1] = _window_rms(padded, j0 * hop, j1 - j0, hop, win)
    return out


def _window_rms(buf: np.ndarray, first: int, count: int, hop: int, win: int) -> np.ndarray:
    """RMS of ``count`` windows of ``buf`` starting at ``first``, ``first + hop``, ... -> [count]."""
    span = buf[first : first + (count - 1) * hop + win]
    view = np.lib.stride_tricks.sliding_window_view(span, win)[::hop]  # [count, win]
    return np.sqrt(np.mean(np.square(view, dtype=np.float64), axis=-1))


class StreamingRMS:
    """Incremental :func:`rms_frames`: feed blocks, then :meth:`finish` returns the whole curve."""

    def __init__(self, hop: int, win: int) -> None:
        self.hop, self.win, self.half = hop, win, win // 2
        self._buf = np.zeros(self.half, dtype=np.float32)  # leading zero padding
        self._buf_start = -self.half  # source index of _buf[0]
        self._received = 0
        self._next = 0  # next frame to compute
        self._frames: list[np.ndarray] = []

    def _emit(self, final: bool) -> None:
        buf_end = self._buf_start + self._buf.shape[0]
        last = self._received // self.hop if final else (buf_end + self.half - self.win) // self.hop
        for j0 in range(self._next, last + 1, _RMS_FRAMES_PER_STEP):
            j1 = min(last + 1, j0 + _RMS_FRAMES_PER_STEP)
            first = j0 * self.hop - self.half - self._buf_start
            self._frames.append(_window_rms(self._buf, first, j1 - j0, self.hop, self.win))
        self._next = max(self._next, last + 1)
        # Keep only what the next frame still needs.
        keep_from = self._next * self.hop - self.half
        drop = max(0, keep_from - self._buf_start)
        if drop:
            self._buf = self._buf[drop:].copy()
            self._buf_start += drop

    def push(self, block: np.ndarray) -> None:
        """Add the next ``block`` ([n] float32) of the signal."""
        self._received += block.shape[0]
        self._buf = np.concatenate([self._buf, block.astype(np.float32, copy=False)])
        self._emit(final=False)

    def finish(self) -> np.ndarray:
        """The RMS curve of everything pushed: [received // hop + 1] float64."""
        self._buf = np.concatenate([self._buf, np.zeros(self.win, np.float32)])  # trailing zero padding
        self._emit(final=True)
        return np.concatenate(self._frames) if self._frames else np.zeros(0, np.float64)
