"""Audio encoders for HTTP responses: whole files and chunk-by-chunk streams.

Every format has one :class:`StreamEncoder` (``feed(samples) -> bytes``, ``finish() -> bytes``) so that a
streamed response and a whole one go through the same code; :func:`encode` is feed-everything-then-finish,
except where a seekable whole file is better (WAV and FLAC carry their exact length in the header).

Formats (``FORMATS``):

* ``wav`` — 16-bit PCM. Streamed, the header announces the largest possible length (sizes 0xFFFFFFFF)
  because the real one is not known yet; players and decoders read until the connection ends. api_v2 does
  the same trick with a zero length.
* ``raw`` / ``pcm`` — headerless 16-bit little-endian mono at the model's rate.
* ``mp3`` (LAME), ``aac`` (ADTS), ``opus`` (Ogg Opus, resampled to 48 kHz since Opus has no 32 kHz mode),
  ``flac`` — through PyAV's bundled FFmpeg.
* ``ogg`` — whole: Ogg Vorbis through libsndfile, as api_v2 sends it. Streamed: Ogg *Opus* (FFmpeg's
  Vorbis encoder cannot do mono), one continuous stream; api_v2 instead sends a complete Ogg file per
  chunk, which most decoders stop reading after the first.
"""

from __future__ import annotations

import io
from typing import Protocol

import numpy as np

from gpt_sovits.audio.wav import wav_header

MEDIA_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "raw": "audio/raw",
    "pcm": "audio/pcm",
    "mp3": "audio/mpeg",
    "aac": "audio/aac",
    "opus": "audio/ogg",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
}
FORMATS = tuple(MEDIA_TYPES)

# (container, codec, bitrate) for the PyAV-encoded formats.
_PYAV_FORMATS: dict[str, tuple[str, str, int | None]] = {
    "mp3": ("mp3", "libmp3lame", 128_000),
    "aac": ("adts", "aac", 128_000),
    "opus": ("ogg", "libopus", 64_000),
    "flac": ("flac", "flac", None),
}
_BLOCK = 65_536  # libsndfile writes in blocks: very large single writes overflow its stack on some systems


class StreamEncoder(Protocol):
    """Turns float32 mono pieces into the bytes of one audio file, as they come."""

    def feed(self, audio: np.ndarray) -> bytes: ...

    def finish(self) -> bytes: ...


def to_pcm16(audio: np.ndarray) -> bytes:
    """float32 in [-1, 1] -> 16-bit little-endian PCM bytes (values outside the range are clipped)."""
    scaled = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767.0
    return np.round(scaled).astype("<i2").tobytes()


class _WavStream:
    def __init__(self, sample_rate: int) -> None:
        self._header: bytes | None = wav_header(sample_rate, None)

    def feed(self, audio: np.ndarray) -> bytes:
        head, self._header = self._header or b"", None
        return head + to_pcm16(audio)

    def finish(self) -> bytes:
        head, self._header = self._header or b"", None  # an empty stream is still a (header-only) file
        return head


class _RawStream:
    def feed(self, audio: np.ndarray) -> bytes:
        return to_pcm16(audio)

    def finish(self) -> bytes:
        return b""


class _Sink:
    """A write-only, non-seekable file for PyAV: muxed bytes are collected and handed out as they come."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class _PyAVStream:
    def __init__(self, fmt: str, sample_rate: int) -> None:
        import av

        container, codec, bitrate = _PYAV_FORMATS[fmt]
        self._rate = sample_rate
        self._sink = _Sink()
        options = {"page_duration": "200000"} if container == "ogg" else {}  # Ogg pages every 0.2 s
        self._out = av.open(self._sink, mode="w", format=container, options=options)
        # Opus has no 32 kHz mode: PyAV resamples the frames to the encoder's 48 kHz on its own.
        rate = 48_000 if codec == "libopus" else sample_rate
        self._stream = self._out.add_stream(codec, rate=rate)
        self._stream.layout = "mono"
        if bitrate:
            self._stream.bit_rate = bitrate
        self._av = av
        self._pts = 0

    def feed(self, audio: np.ndarray) -> bytes:
        if len(audio) == 0:
            return b""
        # 16-bit input: every format then starts from the same samples as wav/pcm (lossless FLAC equals them)
        samples = np.frombuffer(to_pcm16(audio), dtype="<i2").astype(np.int16)  # [T]
        frame = self._av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = self._rate
        frame.pts = self._pts
        self._pts += len(samples)
        for packet in self._stream.encode(frame):
            self._out.mux(packet)
        return self._sink.drain()

    def finish(self) -> bytes:
        for packet in self._stream.encode(None):
            self._out.mux(packet)
        self._out.close()
        return self._sink.drain()


def _soundfile_bytes(audio: np.ndarray, sample_rate: int, fmt: str, subtype: str) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    samples = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    if subtype == "PCM_16":  # our own rounding, so that every 16-bit format carries the same samples
        samples = np.frombuffer(to_pcm16(samples), dtype="<i2")
    with sf.SoundFile(buffer, mode="w", samplerate=sample_rate, channels=1, format=fmt, subtype=subtype) as f:
        for start in range(0, len(samples), _BLOCK):
            f.write(samples[start : start + _BLOCK])
    return buffer.getvalue()


def check_format(fmt: str) -> str:
    """``fmt`` lower-cased, or ValueError naming the supported formats."""
    name = str(fmt).lower()
    if name not in MEDIA_TYPES:
        raise ValueError(f"Unsupported audio format {fmt!r}; use one of {', '.join(FORMATS)}.")
    return name


def stream_encoder(fmt: str, sample_rate: int) -> StreamEncoder:
    """An encoder that turns pieces of float32 mono audio into the bytes of one ``fmt`` stream."""
    name = check_format(fmt)
    if name == "wav":
        return _WavStream(sample_rate)
    if name in ("raw", "pcm"):
        return _RawStream()
    return _PyAVStream("opus" if name == "ogg" else name, sample_rate)


def encode(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """The whole ``audio`` (float32 mono) as one ``fmt`` file."""
    name = check_format(fmt)
    if name == "wav":
        pcm = to_pcm16(audio)
        return wav_header(sample_rate, len(pcm)) + pcm
    if name == "flac":  # libsndfile seeks back to record the exact length in STREAMINFO
        return _soundfile_bytes(audio, sample_rate, "FLAC", "PCM_16")
    if name == "ogg":
        return _soundfile_bytes(audio, sample_rate, "OGG", "VORBIS")
    encoder = stream_encoder(name, sample_rate)
    return encoder.feed(audio) + encoder.finish()


def media_type(fmt: str) -> str:
    """The Content-Type of ``fmt``."""
    return MEDIA_TYPES[check_format(fmt)]
