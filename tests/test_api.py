"""HTTP API: real uvicorn servers on 127.0.0.1 over one engine with tiny models, real httpx clients."""

from __future__ import annotations

import concurrent.futures
import contextlib
import struct
import threading
import time

import httpx
import numpy as np
import pytest
import soundfile as sf

from gpt_sovits.api.app import create_app
from gpt_sovits.api.audio_formats import FORMATS, encode, stream_encoder, to_pcm16
from gpt_sovits.api.security import InsecureBindError, check_bind, is_loopback
from gpt_sovits.api.server import build_engine
from gpt_sovits.audio import audio_info, load_audio
from gpt_sovits.inference.options import SynthesisOptions
from gpt_sovits.settings import load_settings

uvicorn = pytest.importorskip("uvicorn")

REF_TEXT = "The quick brown fox jumps over the lazy dog near the quiet river bank."
TEXT = "Hello there. This is a small test of the speech server."
LONG_TEXT = " ".join(f"This is sentence number {i} of a long text that goes on." for i in range(200))
KEY = "test-key-0123456789"
RATE = 32_000
EXTENSIONS = {"opus": "ogg"}


@contextlib.contextmanager
def live_server(app):
    """Run ``app`` under uvicorn in a thread on a free port; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def env(tmp_path_factory, speak):
    from tiny_models import make_tiny_home, save_tiny_gpt, write_speech

    from gpt_sovits.voices import VoiceLibrary

    root = tmp_path_factory.mktemp("api_home")
    home = make_tiny_home(root)
    settings = load_settings({"GPT_SOVITS_HOME": str(root)})
    refs = root / "refs"
    ref = write_speech(speak, refs / "ref.wav", REF_TEXT)
    aux = write_speech(speak, refs / "aux.wav", "A second voice sample with some other words in it.")
    sf.write(refs / "silent.wav", np.zeros(4 * 16000, dtype=np.float32), 16000, subtype="PCM_16")
    (refs / "corrupt.wav").write_bytes(b"RIFF" + np.random.default_rng(0).bytes(5000))
    other_gpt = save_tiny_gpt(root / "other" / "gpt.ckpt", seed=1)
    VoiceLibrary(settings.voices_dir).create(
        "Alice",
        gpt=home.gpt,
        sovits=home.sovits,
        references=[ref],
        ref_text=REF_TEXT,
        language="en",
        consent="test",
    )
    engine = build_engine(settings, "cpu")
    return dict(
        root=root,
        home=home,
        settings=settings,
        ref=ref,
        aux=aux,
        refs=refs,
        other_gpt=other_gpt,
        engine=engine,
    )


@pytest.fixture(scope="module")
def base(env):
    with live_server(create_app(env["engine"], env["settings"])) as url:
        yield url
    # Requests cancelled by timeouts finish in worker threads; let them end before other modules run
    # (CPython 3.11's ast module is not safe against a concurrent compile in another thread).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
        t.name.startswith("api-") and t.is_alive() for t in threading.enumerate()
    ):
        time.sleep(0.1)


@pytest.fixture(scope="module")
def client(base):
    with httpx.Client(base_url=base, timeout=120) as c:
        yield c


def parse_wav(data: bytes) -> tuple[int, np.ndarray, int]:
    """(rate, int16 samples, declared data size) of a PCM16 mono WAV, also a streamed one."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos, rate = 12, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if cid == b"fmt ":
            fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[pos + 8 : pos + 24])
            assert (fmt, channels, bits) == (1, 1, 16)
        elif cid == b"data":
            body = data[pos + 8 :] if size == 0xFFFFFFFF else data[pos + 8 : pos + 8 + size]
            return rate, np.frombuffer(body, dtype="<i2"), size
        pos += 8 + size
    raise AssertionError("no data chunk")


def v2_params(env, **extra) -> dict:
    params = dict(
        text=TEXT, text_lang="en", ref_audio_path=str(env["ref"]), prompt_text=REF_TEXT, prompt_lang="en"
    )
    params.update(extra)
    return params


def reference_pcm(env, **fields) -> np.ndarray:
    """The same request straight through the engine, as 16-bit samples."""
    result = env["engine"].synthesize(SynthesisOptions(**fields))
    return np.frombuffer(to_pcm16(result.audio), dtype="<i2")


def wait_idle(client: httpx.Client, seconds: float) -> float:
    """Poll /health until no engine request runs; returns how long that took."""
    start = time.monotonic()
    while client.get("/health").json()["active_requests"]:
        assert time.monotonic() - start < seconds, "the engine work was not cancelled"
        time.sleep(0.1)
    return time.monotonic() - start


# --------------------------------------------------------------------------------------------- encoders
@pytest.mark.parametrize("fmt", FORMATS)
def test_encoders_decode_back(tmp_path, fmt):
    t = np.arange(int(RATE * 1.5)) / RATE
    audio = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    streamer = stream_encoder(fmt, RATE)
    streamed = (
        b"".join([streamer.feed(audio[i : i + 7000]) for i in range(0, len(audio), 7000)]) + streamer.finish()
    )
    pcm = to_pcm16(audio)
    for kind, data in (("whole", encode(audio, RATE, fmt)), ("stream", streamed)):
        if fmt in ("raw", "pcm"):
            assert data == pcm
            continue
        path = tmp_path / f"{kind}.{EXTENSIONS.get(fmt, fmt)}"
        path.write_bytes(data)
        rate = audio_info(path).sample_rate
        opus = fmt == "opus" or (fmt == "ogg" and kind == "stream")
        assert rate == (48_000 if opus else RATE)
        decoded = load_audio(path, rate)
        assert abs(len(decoded) / rate - 1.5) < 0.07, (fmt, kind, len(decoded) / rate)
        if fmt in ("wav", "flac"):  # lossless: the exact 16-bit samples
            assert np.array_equal(np.round(decoded * 32768).astype(np.int16), np.frombuffer(pcm, "<i2"))
        else:
            assert 0.8 < np.sqrt(np.mean(decoded**2)) / np.sqrt(np.mean(audio**2)) < 1.2


# --------------------------------------------------------------------------------------------- api_v2
def test_tts_get_and_post_match_the_engine(env, client):
    extra = dict(
        seed=7, top_k=5, speed_factor=1.2, fragment_interval=0.5, batch_size=2, text_split_method="cut5",
        aux_ref_audio_paths=[str(env["aux"])],
        # accepted and ignored, as documented
        batch_threshold=0.5, split_bucket=False, parallel_infer=False, sample_steps=8, super_sampling=True,
        overlap_length=3,
    )  # fmt: skip
    got = client.get("/tts", params=v2_params(env, **extra))
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "audio/wav" and got.headers["x-seed"] == "7"
    rate, samples, size = parse_wav(got.content)
    assert rate == RATE and size == 2 * len(samples)
    assert abs(len(samples) / rate - float(got.headers["x-audio-duration"])) < 1e-3
    expected = reference_pcm(
        env, text=TEXT, text_lang="en", ref_audio=(env["ref"], env["aux"]), ref_text=REF_TEXT, ref_lang="en",
        seed=7, top_k=5, speed=1.2, pause=0.5, batch_size=2,
    )  # fmt: skip
    assert np.array_equal(samples, expected)
    posted = client.post("/tts", json=v2_params(env, **extra))
    assert posted.status_code == 200 and posted.content == got.content


def test_streaming_matches_whole(env, client):
    whole = client.get("/tts", params=v2_params(env, seed=3))
    pieces = []
    with client.stream("GET", "/tts", params=v2_params(env, seed=3, streaming_mode="true")) as r:
        assert r.status_code == 200 and r.headers["transfer-encoding"] == "chunked"
        pieces = list(r.iter_bytes())
    rate, streamed, size = parse_wav(b"".join(pieces))
    assert size == 0xFFFFFFFF and rate == RATE
    _, expected, _ = parse_wav(whole.content)
    assert len(streamed) == len(expected)
    assert np.abs(streamed.astype(int) - expected).max() <= 3  # chunked vocoding: tiny edge differences


def test_set_weights_and_reference(env):
    app = create_app(env["engine"], env["settings"])  # own api_v2 state
    with live_server(app) as url, httpx.Client(base_url=url, timeout=120) as c:
        no_ref = c.get("/tts", params={"text": TEXT})
        assert no_ref.status_code == 400 and "ref_audio_path is required" in no_ref.json()["message"]
        assert c.get("/set_gpt_weights", params={"weights_path": str(env["other_gpt"])}).json() == {
            "message": "success"
        }
        r = c.get("/set_sovits_weights", params={"weights_path": str(env["home"].sovits)})
        assert r.status_code == 200
        r = c.get(
            "/set_refer_audio",
            params=dict(refer_audio_path=str(env["ref"]), prompt_text=REF_TEXT, prompt_lang="en"),
        )
        assert r.status_code == 200, r.text
        got = c.get("/tts", params={"text": TEXT, "seed": 11})
        assert got.status_code == 200, got.text
        _, samples, _ = parse_wav(got.content)
        fields = dict(
            text=TEXT, ref_audio=(env["ref"],), ref_text=REF_TEXT, ref_lang="en", seed=11, batch_size=1
        )
        assert np.array_equal(samples, reference_pcm(env, gpt_path=env["other_gpt"], **fields))
        assert not np.array_equal(samples, reference_pcm(env, **fields))  # the pretrained GPT differs
        for endpoint, key, path, words in [
            ("/set_gpt_weights", "weights_path", env["ref"], "not a GPT-SoVITS model file"),
            ("/set_gpt_weights", "weights_path", env["home"].sovits, "change gpt weight failed"),
            (
                "/set_sovits_weights",
                "weights_path",
                env["root"] / "missing.pth",
                "change sovits weight failed",
            ),
            ("/set_gpt_weights", "weights_path", "", "gpt weight path is required"),
            ("/set_refer_audio", "refer_audio_path", env["refs"] / "silent.wav", "silent"),
        ]:
            bad = c.get(endpoint, params={key: str(path)})
            assert bad.status_code == 400 and words in bad.text, (endpoint, bad.text)


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(text=""), "text is required"),
        (dict(text_lang="xx"), "text_lang: xx is not supported"),
        (dict(prompt_lang="klingon"), "prompt_lang: klingon is not supported"),
        (dict(ref_audio_path="/nonexistent/ref.wav"), "does not exist"),
        (dict(ref_audio_path="CORRUPT"), "corrupt.wav"),
        (dict(ref_audio_path="SILENT"), "silent"),
        (dict(media_type="xyz"), "media_type: xyz is not supported"),
        (dict(streaming_mode="7"), "streaming_mode must be 0, 1, 2, 3"),
        (dict(top_k="many"), "top_k"),
        (dict(speed_factor=9), "speed must be between"),
        (dict(text="x" * 20_001), "at most 20000"),
    ],
)
def test_bad_inputs_give_400(env, client, change, words):
    names = {"CORRUPT": "corrupt.wav", "SILENT": "silent.wav"}
    if change.get("ref_audio_path") in names:
        change = dict(change, ref_audio_path=str(env["refs"] / names[change["ref_audio_path"]]))
    r = (
        client.post("/tts", json=v2_params(env, **change))
        if "text" in change
        else client.get("/tts", params=v2_params(env, **change))
    )
    assert r.status_code == 400, r.text
    assert words in r.json()["message"]


# --------------------------------------------------------------------------------------------- OpenAI
def test_openai_speech_every_format(env, client, tmp_path):
    body = dict(model="tts-1", input=TEXT, voice="alice", seed=5)
    wav = client.post("/v1/audio/speech", json=dict(body, response_format="wav"))
    assert wav.status_code == 200, wav.text
    _, samples, _ = parse_wav(wav.content)
    assert np.array_equal(samples, reference_pcm(env, text=TEXT, voice="Alice", seed=5))
    duration = len(samples) / RATE
    for fmt in ("mp3", "opus", "aac", "flac", "pcm"):
        r = client.post("/v1/audio/speech", json=dict(body, response_format=fmt))
        assert r.status_code == 200, (fmt, r.text)
        if fmt == "pcm":
            assert r.content == samples.tobytes() and r.headers["x-sample-rate"] == str(RATE)
            continue
        path = tmp_path / f"speech.{EXTENSIONS.get(fmt, fmt)}"
        path.write_bytes(r.content)
        rate = audio_info(path).sample_rate
        assert rate == (48_000 if fmt == "opus" else RATE)
        decoded = load_audio(path, rate)
        assert abs(len(decoded) / rate - duration) < 0.1, fmt
        if fmt == "flac":
            assert np.array_equal(np.round(decoded * 32768).astype(np.int16), samples)
    streamed = client.post("/v1/audio/speech", json=dict(body, response_format="mp3", stream=True))
    assert streamed.status_code == 200 and streamed.headers["content-type"] == "audio/mpeg"
    (tmp_path / "streamed.mp3").write_bytes(streamed.content)
    assert abs(len(load_audio(tmp_path / "streamed.mp3", RATE)) / RATE - duration) < 0.1


def test_openai_listings_and_errors(client):
    voices = client.get("/v1/voices").json()["voices"]
    assert [v["name"] for v in voices] == ["Alice"] and voices[0]["language"] == "en"
    assert client.get("/v1/models").json()["data"][0]["id"] == "gpt-sovits"
    for body, param in [
        (dict(input=TEXT, voice="Bob"), "voice"),
        (dict(input=" ", voice="Alice"), "input"),
        (dict(input=TEXT, voice="Alice", response_format="ogg-vorbis"), "response_format"),
        (dict(input=TEXT, voice="Alice", speed=9), None),
        (dict(voice="Alice"), None),
    ]:
        r = client.post("/v1/audio/speech", json=body)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error" and err["message"] and err["param"] == param
    assert "Alice" in client.post("/v1/audio/speech", json=dict(input=TEXT, voice="Bob")).text


# --------------------------------------------------------------------------------------------- concurrency
def test_parallel_clients_get_their_own_audio(env, base):
    requests = [
        ("POST" if i % 2 else "GET", dict(v2_params(env, text=f"Request number {i} says hello to you.", seed=100 + i),
                                          streaming_mode="true" if i in (3, 6) else "false"))
        for i in range(8)
    ]  # fmt: skip

    def run(req):
        method, params = req
        with httpx.Client(base_url=base, timeout=120) as c:
            r = c.post("/tts", json=params) if method == "POST" else c.get("/tts", params=params)
            assert r.status_code == 200, r.text
            return r.content

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(run, requests))
    sequential = [run(req) for req in requests]
    assert parallel == sequential
    assert len({parse_wav(p)[1].tobytes() for p in parallel}) == 8


# --------------------------------------------------------------------------------------------- limits
def test_body_limit_gives_413(env):
    with live_server(create_app(env["engine"], env["settings"], max_body_bytes=4096)) as url:
        with httpx.Client(base_url=url, timeout=30) as c:
            big = c.post("/tts", json=v2_params(env, text="word " * 2000))
            assert big.status_code == 413 and "4096 bytes" in big.json()["message"]
            chunked = c.post(
                "/tts", content=iter([b"{" + b" " * 3000] * 3), headers={"content-type": "application/json"}
            )
            assert chunked.status_code == 413
            assert c.post("/tts", json=v2_params(env, text="")).status_code == 400  # small bodies pass


def test_timeout_cancels_with_504(env):
    with live_server(create_app(env["engine"], env["settings"], request_timeout_s=1.0)) as url:
        with httpx.Client(base_url=url, timeout=60) as c:
            start = time.monotonic()
            r = c.get("/tts", params=v2_params(env, text=LONG_TEXT, seed=1))
            assert r.status_code == 504 and "longer than" in r.json()["message"]
            assert time.monotonic() - start < 5
            wait_idle(c, 10)  # the whole text would take minutes: the engine was cancelled
            start = time.monotonic()
            with c.stream(
                "GET", "/tts", params=v2_params(env, text=LONG_TEXT, seed=1, streaming_mode=1)
            ) as s:
                data = b"".join(s.iter_bytes()) if s.status_code == 200 else b""
                assert s.status_code in (200, 504)  # 504 when even the first chunk missed the deadline
            assert time.monotonic() - start < 8
            if data:
                assert len(parse_wav(data)[1]) / RATE < 60  # the full text is about 1000 s of audio
            wait_idle(c, 10)


def test_client_disconnect_cancels(env):
    with live_server(create_app(env["engine"], env["settings"])) as url:
        with httpx.Client(base_url=url, timeout=60) as c:
            with c.stream("GET", "/tts", params=v2_params(env, text=LONG_TEXT, streaming_mode="true")) as s:
                assert s.status_code == 200
                next(s.iter_raw())
            wait_idle(c, 10)
            with pytest.raises(httpx.ReadTimeout), httpx.Client(base_url=url, timeout=1.0) as impatient:
                impatient.get("/tts", params=v2_params(env, text=LONG_TEXT))
            wait_idle(c, 10)


# --------------------------------------------------------------------------------------------- security
def test_api_key_and_path_policy(env, tmp_path):
    outside = tmp_path / "outside.wav"
    outside.write_bytes(env["ref"].read_bytes())
    with live_server(create_app(env["engine"], env["settings"], api_key=KEY)) as url:
        with httpx.Client(base_url=url, timeout=120) as c:
            health = c.get("/health")
            assert health.status_code == 200
            assert all("/" not in m["path"] for m in health.json()["loaded"])  # names only without a key
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"X-API-Key": KEY[:-1]},
                {"Authorization": KEY},
            ):
                for path in ("/v1/models", "/tts", "/set_gpt_weights", "/v1/voices"):
                    r = c.get(path, headers=headers)
                    assert r.status_code == 401 and "API key" in r.json()["message"], (path, headers)
            assert c.get("/v1/models", headers={"X-API-Key": KEY}).status_code == 200
            good = {"Authorization": f"Bearer {KEY}"}
            r = c.get("/tts", params=v2_params(env, seed=1), headers=good)
            assert r.status_code == 200 and parse_wav(r.content)[0] == RATE
            r = c.get("/tts", params=v2_params(env, ref_audio_path=str(outside)), headers=good)
            assert r.status_code == 403 and "outside the folders" in r.json()["message"]
            r = c.get("/set_gpt_weights", params={"weights_path": "/etc/passwd"}, headers=good)
            assert r.status_code == 403


def test_binding_rules(capsys):
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.5.0.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.20", "example.com", "", None))
    check_bind("0.0.0.0", "a-key")
    check_bind("127.0.0.1", None)
    with pytest.raises(InsecureBindError, match="without an API key"):
        check_bind("0.0.0.0", None)
    from gpt_sovits.cli import main

    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "--api-key" in capsys.readouterr().err
