"""The stream hub behind the Synthesize tab's streaming playback: a progressive 16-bit WAV over HTTP, checked
sample by sample, with live, late, failed, stalled and expired readers, its memory caps, and the route through a
real uvicorn server on loopback."""

from __future__ import annotations

import io
import struct
import threading
import time
import wave

import numpy as np
import pytest
import soundfile as sf
from ui_helpers import free_port, int16_wav, read_in_thread

from gpt_sovits.audio.wav import wav_header
from gpt_sovits.ui.streaming import TAIL_PAD_BYTES, StreamHub, add_stream_route, pcm16

PAD = bytes(TAIL_PAD_BYTES)  # the silence a closed stream ends with (Chromium loses its last packet)


@pytest.mark.parametrize("pad", [0, TAIL_PAD_BYTES])
def test_hub_wav_parses_back_to_the_pushed_samples(tmp_path, pad):
    rng = np.random.default_rng(3)
    pieces = [rng.normal(0, 0.4, n).astype(np.float32) for n in (1, 700, 0, 5000)]
    pieces[1][:3] = [1.7, -2.0, 1.0]  # out of range: clipped
    hub = StreamHub(tail_pad_bytes=pad)
    sid = hub.open(24000)
    assert all(hub.push(sid, p) for p in pieces)
    hub.close(sid)
    assert not hub.push(sid, pieces[0])  # closed: nothing more goes in
    data = b"".join(hub.wav_bytes(sid))
    # Header: RIFF/WAVE, PCM mono 16-bit at the stream's rate, sizes announced as the largest (streaming).
    assert data[:4] + data[8:16] + data[36:40] == b"RIFFWAVEfmt data"
    fields = struct.unpack("<4xI8xIHHIIHH4xI", data[:44])  # RIFF size, fmt size, PCM, mono, ..., data size
    assert fields == (0xFFFFFFFF, 16, 1, 1, 24000, 48000, 2, 16, 0xFFFFFFFF)
    # The samples are those of the result file the page saves (libsndfile's 16-bit quantisation), then
    # ``pad`` bytes of silence.
    joined = np.concatenate(pieces)
    sf.write(tmp_path / "whole.wav", joined, 24000, subtype="PCM_16")
    expected, _ = sf.read(tmp_path / "whole.wav", dtype="int16")
    expected = np.concatenate([expected, np.zeros(pad // 2, np.int16)])
    streamed, rate = int16_wav(data)
    assert rate == 24000 and np.array_equal(streamed, expected)
    assert np.abs(streamed[: len(joined)] / 32768.0 - np.clip(joined, -1, 1)).max() <= 1.0 / 32767
    with wave.open(io.BytesIO(data)) as w:  # the stdlib reader accepts it too
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert np.array_equal(np.frombuffer(w.readframes(10**7), "<i2"), expected)


def test_hub_live_and_late_readers():
    hub = StreamHub(read_timeout_s=10)
    a, b = np.full(300, 0.1, np.float32), np.full(200, -0.2, np.float32)
    sid = hub.open(16000)
    reader = hub.wav_bytes(sid)
    assert len(header := next(reader)) == 44  # the header comes at once, before any audio
    got: list[bytes] = []
    live = threading.Thread(target=lambda: got.extend(reader), daemon=True)
    live.start()
    hub.push(sid, a)
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == [pcm16(a)] and live.is_alive()  # delivered as pushed; still waiting for more
    hub.push(sid, b)
    hub.close(sid)
    live.join(5)
    assert not live.is_alive() and b"".join(got) == pcm16(a) + pcm16(b) + PAD
    # Late readers (after the close) get everything from the start, as often as they ask.
    everything = header + pcm16(a) + pcm16(b) + PAD
    assert b"".join(hub.wav_bytes(sid)) == b"".join(hub.wav_bytes(sid)) == everything


def test_hub_ends_streams_that_fail_stall_or_expire():
    with pytest.raises(KeyError):
        StreamHub().wav_bytes("no-such-id")
    hub = StreamHub(ttl_s=0.3, read_timeout_s=0.2)
    one = np.full(100, 0.3, np.float32)
    # No new audio for read_timeout_s: the reader ends although the stream is open.
    stalled = hub.open(16000)
    hub.push(stalled, one)
    began = time.monotonic()
    assert b"".join(hub.wav_bytes(stalled))[44:] == pcm16(one)  # no closing silence: it was not closed
    assert 0.15 < time.monotonic() - began < 3
    # fail(): readers stop, the audio is gone, pushes are refused.
    failed = StreamHub(read_timeout_s=30)
    sid = failed.open(16000)
    failed.push(sid, one)
    reader, got = read_in_thread(failed, sid)
    time.sleep(0.1)
    failed.fail(sid)
    reader.join(5)
    assert not reader.is_alive() and sid not in failed and not failed.push(sid, one)
    assert failed.kept_bytes == 0
    # Closed streams stay readable for ttl_s, then they are gone (so are open ones nobody pushes to).
    closed = hub.open(16000)
    hub.push(closed, one)
    hub.close(closed)
    assert closed in hub
    time.sleep(0.4)
    assert closed not in hub and stalled not in hub and hub.kept_bytes == 0
    with pytest.raises(KeyError):
        hub.wav_bytes(closed)
    # ...but not while someone reads it (a player reads only seconds ahead of what it plays).
    listened = hub.open(16000)
    hub.push(listened, one)
    hub.close(listened)
    reader = hub.wav_bytes(listened)
    header = next(reader)
    time.sleep(0.4)
    assert listened in hub and header + b"".join(reader) == wav_header(16000, None) + pcm16(one) + PAD
    time.sleep(0.4)
    assert listened not in hub


def test_hub_memory_cap_drops_the_oldest_streams():
    hub = StreamHub(max_bytes=10_000, max_streams=3)
    old = hub.open(16000)
    hub.push(old, np.zeros(3000, np.float32))  # 6000 bytes
    hub.close(old)
    new = hub.open(16000)
    assert hub.push(new, np.zeros(2000, np.float32))  # 10000 bytes in all: at the cap, both kept
    old_reader = hub.wav_bytes(old)
    assert old in hub and new in hub and hub.kept_bytes == 10_000
    assert hub.push(new, np.zeros(1000, np.float32))  # over the cap: the oldest closed stream goes first
    assert old not in hub and new in hub and hub.kept_bytes == 6000
    assert b"".join(old_reader) == wav_header(16000, None)  # its reader ends, its audio is gone
    big = hub.open(16000)
    assert not hub.push(big, np.zeros(6000, np.float32))  # no closed one left: open ones, oldest first
    assert new not in hub and big not in hub and hub.kept_bytes == 0
    ids = [hub.open(16000) for _ in range(4)]
    assert [i in hub for i in ids] == [False, True, True, True]  # max_streams


def test_stream_route_over_http():
    import httpx
    import uvicorn
    from fastapi import FastAPI

    app, hub = FastAPI(), StreamHub(read_timeout_s=10)
    add_stream_route(app, hub)
    assert hub.url("abc") == "/stream/abc.wav"
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        a, b = np.full(1600, 0.2, np.float32), np.full(800, -0.1, np.float32)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get("/stream/no-such-id.wav").status_code == 404
            sid = hub.open(32000)
            hub.push(sid, a)
            with client.stream("GET", hub.url(sid)) as resp:
                assert resp.status_code == 200 and resp.headers["content-type"] == "audio/wav"
                assert "content-length" not in resp.headers
                chunks, got = resp.iter_raw(), b""
                while len(got) < 44 + len(pcm16(a)):  # arrives while the stream is still open
                    got += next(chunks)
                hub.push(sid, b)
                hub.close(sid)
                got += b"".join(chunks)  # and the response ends when it is closed
            assert got == wav_header(32000, None) + pcm16(a) + pcm16(b) + PAD
            assert client.get(hub.url(sid)).content == got  # a late request gets it all
            hub.fail(sid)
            assert client.get(hub.url(sid)).status_code == 404
    finally:
        server.should_exit = True
        thread.join(10)
