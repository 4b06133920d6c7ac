"""Low-level decoding backends: libsndfile (soundfile) first where it applies, FFmpeg (PyAV) otherwise.

Everything here returns raw decoded audio at the file's own rate as ``[channels, samples]`` float32
and raises :class:`_BackendError` for anything that backend cannot read; the public layer in
:mod:`gpt_sovits.audio.io` turns those into :class:`~gpt_sovits.errors.AudioError`.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf

logger = logging.getLogger(__name__)

# Extensions libsndfile either cannot read or reads less reliably than FFmpeg (priming, tags).
PYAV_FIRST_EXTENSIONS = frozenset(
    {".mp3", ".m4a", ".m4b", ".mp4", ".aac", ".webm", ".mka", ".mkv", ".wma", ".amr", ".ac3", ".mov"}
)

_SNDFILE_ERRORS: tuple[type[BaseException], ...] = (sf.LibsndfileError, RuntimeError, ValueError, TypeError)
_PYAV_ERRORS: tuple[type[BaseException], ...] = (
    av.FFmpegError,
    ValueError,
    IndexError,
    RuntimeError,
    OSError,
)


class _BackendError(Exception):
    """One backend could not read the file (the message says why)."""


@dataclass(frozen=True)
class RawInfo:
    """Header facts of an audio file as one backend reports them."""

    sample_rate: int
    channels: int
    frames: int
    format: str
    codec: str


def backend_order(path: Path) -> tuple[str, ...]:
    """Names of the backends to try for ``path``, most suitable first."""
    if path.suffix.lower() in PYAV_FIRST_EXTENSIONS:
        return ("pyav", "soundfile")
    return ("soundfile", "pyav")


def wav_truncation(path: Path) -> tuple[int, int] | None:
    """For a RIFF/WAVE file whose data chunk is cut short, return (declared_bytes, present_bytes).

    Returns None for non-WAV files, intact files and streaming WAVs whose header leaves the
    data size open (0 or 0xFFFFFFFF).
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            offset = 12
            while offset + 8 <= size:
                fh.seek(offset)
                chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
                if chunk_id == b"data":
                    if chunk_size in (0, 0xFFFFFFFF):
                        return None
                    present = size - (offset + 8)
                    return (chunk_size, present) if present < chunk_size else None
                offset += 8 + chunk_size + (chunk_size & 1)
    except OSError:
        return None
    return None


def read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    """Decode with libsndfile. Returns ([channels, samples] float32, sample_rate)."""
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # [samples, channels]
    except _SNDFILE_ERRORS as exc:
        raise _BackendError(f"soundfile: {exc}") from exc
    return np.ascontiguousarray(data.T), int(sr)  # [channels, samples]


def read_pyav(path: Path) -> tuple[np.ndarray, int]:
    """Decode the first audio stream with FFmpeg. Returns ([channels, samples] float32, sample_rate)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise _BackendError("pyav: the file has no audio stream")
            stream = container.streams.audio[0]
            # Planar float at the stream's own rate and layout; downmix and resampling happen later.
            resampler = av.AudioResampler(format="fltp")
            chunks: list[np.ndarray] = []
            sample_rate = 0
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    sample_rate = out.sample_rate
                    chunks.append(out.to_ndarray())  # [channels, n]
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
            if not sample_rate:
                sample_rate = int(stream.sample_rate or stream.codec_context.sample_rate or 0)
            channels = max(stream.channels or 1, 1)
    except _PYAV_ERRORS as exc:
        raise _BackendError(f"pyav: {exc}") from exc
    if not chunks:
        if sample_rate <= 0:  # FFmpeg guessed a format from the name but found no valid header
            raise _BackendError("pyav: no audio frames could be decoded")
        return np.zeros((channels, 0), dtype=np.float32), int(sample_rate)
    audio = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)  # [channels, samples]
    return np.ascontiguousarray(audio), int(sample_rate)


def info_soundfile(path: Path) -> RawInfo:
    """Header facts from libsndfile (no decoding)."""
    try:
        info = sf.info(str(path))
    except _SNDFILE_ERRORS as exc:
        raise _BackendError(f"soundfile: {exc}") from exc
    return RawInfo(
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        format=str(info.format).lower(),
        codec=str(info.subtype).lower(),
    )


def _container_format_name(container_names: str, path: Path) -> str:
    """Pick a short format name: the file's extension if FFmpeg lists it, else FFmpeg's first name."""
    names = [n.strip() for n in container_names.split(",") if n.strip()]
    ext = path.suffix.lower().lstrip(".")
    if ext in names:
        return ext
    return names[0] if names else ext


def info_pyav(path: Path) -> RawInfo:
    """Header facts from FFmpeg; decodes only when the container does not state a duration."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise _BackendError("pyav: the file has no audio stream")
            stream = container.streams.audio[0]
            sr = int(stream.sample_rate or stream.codec_context.sample_rate or 0)
            channels = int(stream.channels or 1)
            fmt = _container_format_name(container.format.name, path)
            codec = stream.codec_context.name
            duration_s: float | None = None
            if stream.duration is not None and stream.time_base is not None:
                duration_s = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration_s = container.duration / av.time_base
    except _PYAV_ERRORS as exc:
        raise _BackendError(f"pyav: {exc}") from exc
    if duration_s is None or sr <= 0:
        logger.debug("%s states no duration; decoding it to count samples", path)
        audio, sr = read_pyav(path)
        frames = audio.shape[1]
    else:
        frames = round(duration_s * sr)
    return RawInfo(sample_rate=sr, channels=channels, frames=int(frames), format=fmt, codec=codec)


BACKENDS = {"soundfile": read_soundfile, "pyav": read_pyav}
INFO_BACKENDS = {"soundfile": info_soundfile, "pyav": info_pyav}
