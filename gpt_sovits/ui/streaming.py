"""Streaming playback without FFmpeg: synthesized audio goes to the browser as one progressive WAV over HTTP.

The Synthesize tab opens a stream in the :class:`StreamHub` of the app (``ctx.streams``), puts an ``<audio>``
element whose ``src`` is ``/stream/<id>.wav`` into the page and pushes the engine's pieces into the hub as
they are made. The route (:func:`add_stream_route`) answers with a 16-bit PCM WAV whose header announces
the largest possible length (the real one is not known yet; the browser plays until the response ends) and
then the samples as they arrive. The browser's own decoder plays it: no encoder, no FFmpeg process.

Streams are kept by a random, unguessable id (the id is the only access check, as with the result files
Gradio serves). A stream keeps all of its audio while someone reads it and for ``ttl_s`` after that (and
after its last push), so a request that comes late (or a replay) still gets everything from the start;
the hub's memory is capped (oldest streams are dropped first).
"""

from __future__ import annotations

import io
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from gpt_sovits.audio.wav import wav_header

log = logging.getLogger(__name__)

ROUTE = "/stream"  # GET {ROUTE}/{id}.wav
TTL_S = 600.0  # a stream stays readable this long after its last push or reader (replays, late requests)
MAX_BYTES = 256 * 2**20  # all streams together: about 70 min of 32 kHz 16-bit audio
MAX_STREAMS = 64
READ_TIMEOUT_S = 120.0  # a reader gives up when a stream gets nothing new for this long
# Chromium plays a WAV whose response ends without a known length one 4096-byte packet short (measured with
# Chromium 150: the last packet is lost, full or partial). A closed stream therefore ends with this much
# silence, so every pushed sample is heard (at most 64 ms of silence at 32 kHz plays after them).
TAIL_PAD_BYTES = 4096


def pcm16(audio: np.ndarray) -> bytes:
    """float32 mono -> 16-bit little-endian PCM, quantised by libsndfile exactly as the saved result wav
    (``common.save_audio``) is, so the streamed samples and the downloaded file are the same."""
    import soundfile as sf

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if not len(audio):
        return b""
    buf = io.BytesIO()
    sf.write(buf, audio, 8000, format="RAW", subtype="PCM_16", endian="LITTLE")  # the rate is not stored
    return buf.getvalue()


@dataclass(eq=False)
class _Stream:
    sample_rate: int
    created: float
    touched: float  # last open, push, or reader start or end: the TTL counts from here
    readers: int = 0  # responses reading it now: Chromium reads only seconds ahead of what it plays
    chunks: list[bytes] = field(default_factory=list)  # PCM16 little-endian, in order
    size: int = 0
    closed_at: float | None = None
    dropped: bool = False  # failed or evicted: readers stop, the audio is gone


class StreamHub:
    """The live streams of one WebUI process; every method is thread-safe.

    ``ttl_s``: how long a stream nobody pushes to or reads is kept; ``max_bytes`` / ``max_streams``:
    caps over all streams, enforced by dropping the oldest; ``read_timeout_s``: a reader waiting for new
    audio longer than this ends its response; ``tail_pad_bytes``: silence after the last sample of a closed
    stream (see ``TAIL_PAD_BYTES``).
    """

    def __init__(
        self,
        ttl_s: float = TTL_S,
        max_bytes: int = MAX_BYTES,
        max_streams: int = MAX_STREAMS,
        read_timeout_s: float = READ_TIMEOUT_S,
        tail_pad_bytes: int = TAIL_PAD_BYTES,
    ) -> None:
        self.ttl_s, self.max_bytes, self.max_streams = ttl_s, max_bytes, max_streams
        self.read_timeout_s, self.tail_pad_bytes = read_timeout_s, tail_pad_bytes - tail_pad_bytes % 2
        self.route: str | None = None  # set by add_stream_route: None means the page cannot stream
        self._cond = threading.Condition()  # one lock for the table; readers wait on it for new audio
        self._streams: dict[str, _Stream] = {}  # insertion order = age
        self._bytes = 0

    # ------------------------------------------------------------------ producer side
    def open(self, sample_rate: int) -> str:
        """A new, empty stream of mono audio at ``sample_rate``; returns its id."""
        stream_id = secrets.token_urlsafe(18)
        now = time.monotonic()
        with self._cond:
            self._streams[stream_id] = _Stream(int(sample_rate), now, now)
            self._prune(now)
        return stream_id

    def push(self, stream_id: str, audio: np.ndarray) -> bool:
        """Append float32 mono samples (in [-1, 1]; outside is clipped) to an open stream. False when the
        stream is unknown, closed or was dropped (the caller's audio is then simply not streamed)."""
        data = pcm16(audio)
        now = time.monotonic()
        with self._cond:
            stream = self._streams.get(stream_id)
            if stream is None or stream.closed_at is not None:
                return False
            if data:
                stream.chunks.append(data)
                stream.size += len(data)
                self._bytes += len(data)
            stream.touched = now
            self._prune(now)
            self._cond.notify_all()
            return not stream.dropped

    def close(self, stream_id: str) -> None:
        """The stream is complete: readers get the rest and their response ends. Unknown ids are ignored."""
        with self._cond:
            stream = self._streams.get(stream_id)
            if stream is not None and stream.closed_at is None:
                stream.closed_at = time.monotonic()
                self._cond.notify_all()

    def fail(self, stream_id: str) -> None:
        """The synthesis failed: drop the stream now (readers stop, later requests get 404)."""
        with self._cond:
            self._drop(stream_id)
            self._cond.notify_all()

    # ------------------------------------------------------------------ reader side
    def url(self, stream_id: str) -> str:
        """The path the browser fetches the stream from (needs :func:`add_stream_route`)."""
        if self.route is None:
            raise RuntimeError("No stream route is registered on this server.")
        return f"{self.route}/{stream_id}.wav"

    def __contains__(self, stream_id: object) -> bool:
        with self._cond:
            self._prune(time.monotonic())
            return stream_id in self._streams

    def wav_bytes(self, stream_id: str) -> Iterator[bytes]:
        """The stream as one WAV file, from its start: the header, then PCM16 as it arrives, until the
        stream is closed (then ``tail_pad_bytes`` of silence end it), dropped, or nothing new came for
        ``read_timeout_s``. Raises :class:`KeyError` at once for an unknown id, so a route can answer 404
        before it starts a response."""
        with self._cond:
            self._prune(time.monotonic())
            stream = self._streams.get(stream_id)
        if stream is None:
            raise KeyError(stream_id)
        return self._read(stream)

    def _read(self, stream: _Stream) -> Iterator[bytes]:
        with self._cond:
            stream.readers += 1
            stream.touched = time.monotonic()
        try:
            yield from self._read_chunks(stream)
        finally:  # also when the response is abandoned (the client went away) and this generator closed
            with self._cond:
                stream.readers -= 1
                stream.touched = time.monotonic()

    def _read_chunks(self, stream: _Stream) -> Iterator[bytes]:
        # Largest sizes in the header: Chromium (and ffmpeg, soundfile, wave) then read until the end.
        yield wav_header(stream.sample_rate, None)
        sent = 0
        while True:
            with self._cond:
                deadline = time.monotonic() + self.read_timeout_s
                while not stream.dropped and sent == len(stream.chunks) and stream.closed_at is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        log.warning("Audio stream got nothing new for %.0f s; ending it", self.read_timeout_s)
                        return
                    self._cond.wait(left)
                if stream.dropped:
                    return
                parts, sent = stream.chunks[sent:], len(stream.chunks)
                finished = stream.closed_at is not None
            if parts:
                yield b"".join(parts)
            elif finished:
                if self.tail_pad_bytes:
                    yield bytes(self.tail_pad_bytes)
                return

    # ------------------------------------------------------------------ bookkeeping (lock held)
    def _drop(self, stream_id: str) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            self._bytes -= stream.size
            stream.dropped, stream.chunks, stream.size = True, [], 0

    def _prune(self, now: float) -> None:
        """Drop expired streams, then the oldest ones while over the caps (closed ones before open ones)."""
        for stream_id, s in list(self._streams.items()):
            if not s.readers and now - max(s.touched, s.closed_at or 0.0) > self.ttl_s:
                self._drop(stream_id)
        while self._streams and (self._bytes > self.max_bytes or len(self._streams) > self.max_streams):
            closed = [k for k, s in self._streams.items() if s.closed_at is not None]
            victim = closed[0] if closed else next(iter(self._streams))
            log.warning("Too much streamed audio kept: dropping the oldest stream")
            self._drop(victim)
        self._cond.notify_all()

    @property
    def kept_bytes(self) -> int:
        """PCM bytes held by all streams together."""
        with self._cond:
            return self._bytes


def add_stream_route(app, hub: StreamHub, route: str = ROUTE) -> None:
    """Serve ``GET {route}/{id}.wav`` from ``hub`` on a FastAPI ``app`` (404 for an unknown or expired id).
    Register it before mounting Gradio apps at ``/`` so the mount does not shadow it."""
    from fastapi import HTTPException
    from fastapi.responses import StreamingResponse

    def stream_wav(stream_id: str) -> StreamingResponse:
        try:
            body = hub.wav_bytes(stream_id)
        except KeyError:
            raise HTTPException(404, "No such audio stream (it may have expired).") from None
        # no-store: a replay must come back here, not from a cached, cut-short copy
        headers = {"Cache-Control": "no-store"}
        return StreamingResponse(body, media_type="audio/wav", headers=headers)

    app.add_api_route(f"{route}/{{stream_id}}.wav", stream_wav, methods=["GET"], include_in_schema=False)
    hub.route = route
