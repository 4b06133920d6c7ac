"""The Synthesize tab: its handlers called directly with tiny models and real piper speech as the reference
(reference window + ASR, whole and streamed synthesis, seeds, segment regeneration, the dictionary editor,
readable errors) and the tab served with its elem_ids. The stream hub itself: tests/test_ui_streaming.py."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from tiny_models import make_tiny_home, write_speech
from ui_helpers import elem_ids, int16_wav, read_in_thread, served_config

gr = pytest.importorskip("gradio")

from gpt_sovits.audio.wav import wav_header  # noqa: E402
from gpt_sovits.inference import Cancelled, SynthesisOptions  # noqa: E402
from gpt_sovits.inference.options import AudioChunk  # noqa: E402
from gpt_sovits.inference.reference import load_reference, speech_span  # noqa: E402
from gpt_sovits.settings import load_settings  # noqa: E402
from gpt_sovits.ui import pronounce, synth_logic, synthesize_tab  # noqa: E402
from gpt_sovits.ui.common import bind_handler  # noqa: E402
from gpt_sovits.ui.context import AppContext  # noqa: E402
from gpt_sovits.ui.i18n import I18n  # noqa: E402
from gpt_sovits.ui.streaming import TAIL_PAD_BYTES, StreamHub, add_stream_route, pcm16  # noqa: E402
from gpt_sovits.ui.synthesize_tab import (  # noqa: E402
    choose_voice,
    refresh_voices,
    regenerate,
    run_synthesis,
    upload_reference,
)
from tools.asr import normalize_words  # noqa: E402

REF_TEXT = "The quick brown fox jumps over the lazy dog near the quiet river bank."
TEXT = "Hello there, my friend. This is a test of the engine!"
RATE = 32000
T = I18n("en_US")
PAD = bytes(TAIL_PAD_BYTES)  # the silence a closed stream ends with (Chromium loses its last packet)


@pytest.fixture(scope="module")
def home(tmp_path_factory, speak):
    root = tmp_path_factory.mktemp("synth_home")
    tiny = make_tiny_home(root)
    ref = write_speech(speak, root / "ref.wav", REF_TEXT)
    return tiny, ref


def make_ctx(root, pretrained) -> AppContext:
    env = {"GPT_SOVITS_HOME": str(root), "GPT_SOVITS_PRETRAINED": str(pretrained)}
    return AppContext.create(load_settings(env), "cpu")


@pytest.fixture(scope="module")
def ctx(home, tmp_path_factory):
    tiny, _ = home
    return make_ctx(tmp_path_factory.mktemp("synth_app"), tiny.pretrained)


@pytest.fixture(scope="module")
def window(ctx, home):
    """The handler's output for the piper reference: (preview, text, lang, note, window path)."""
    return upload_reference(ctx, T, str(home[1]))


def start(ctx, window_path, text=TEXT, seed=7, stream=False, voice="", ref_text=REF_TEXT, **kw):
    """The run handler's generator, called with the tab's defaults."""
    values = dict(
        voice=voice, ref_window=window_path, ref_text=ref_text, ref_lang="en", text=text, lang_mode="en",
        phoneme_mode=False, split="cut5", speed=1.0, seed=seed, top_k=15, top_p=1.0, temperature=1.0,
        stream=stream,
    )  # fmt: skip
    values.update(kw)
    return run_synthesis(ctx, T, **values)


def run(ctx, window_path, **kw):
    """Every item the run handler yields."""
    return list(start(ctx, window_path, **kw))


@pytest.fixture(scope="module")
def first(ctx, window):
    """One whole synthesis with seed 7: its last yield."""
    return run(ctx, window[4])[-1]


def test_reference_is_transcribed_and_used(window, home):
    preview, text, lang, note, path = window
    assert preview == path and path.endswith(".wav") and lang == "en"
    spoken = set(normalize_words(REF_TEXT))
    heard = set(normalize_words(text))
    assert len(spoken & heard) >= len(spoken) // 2, text
    # A short reference is kept whole: the preview holds the same audio as the upload.
    original, rate = sf.read(home[1], dtype="float32")
    used, used_rate = sf.read(path, dtype="float32")
    assert used_rate == rate and len(used) == len(original)
    assert np.abs(used - original).max() <= 1.5 / 32768
    assert "0.00-" in note


def test_run_writes_a_wav_and_same_seed_repeats(ctx, window, first):
    _, audio_path, download, info, rows, kept = first
    assert audio_path == download == str(kept.path) and kept.path.is_file()
    assert kept.path.is_relative_to(ctx.settings.logs_dir)
    data, rate = sf.read(audio_path, dtype="float32")
    assert rate == RATE == kept.sample_rate and len(data) == len(kept.audio)
    assert np.abs(data - kept.audio).max() <= 1.0 / 32767
    # Segments in order; the audio is their spans plus the pauses between them.
    assert len(rows) == len(kept.segments) >= 2
    pause = int(round(0.3 * RATE))
    assert kept.segments[0].start == 0 and kept.segments[-1].end == len(kept.audio)
    for a, b in zip(kept.segments, kept.segments[1:], strict=False):
        assert b.start == a.end + pause
    assert [r[0] for r in rows] == [s.index for s in kept.segments]
    assert rows[-1][3] == pytest.approx(len(data) / RATE, abs=1e-3)
    assert 1.0 < len(data) / RATE < 60.0
    assert "**Seed used:** 7" in info and kept.options.seed == 7
    again = run(ctx, window[4])[-1][5]
    assert again.path != kept.path and np.array_equal(again.audio, kept.audio)
    other = run(ctx, window[4], seed=8)[-1][5]
    assert len(other.audio) != len(kept.audio) or not np.array_equal(other.audio, kept.audio)


def test_random_seed_is_reported(ctx, window):
    _, _, _, info, _, kept = run(ctx, window[4], text="Just one line.", seed=-1)[-1]
    assert kept.options.seed >= 0 and f"**Seed used:** {kept.options.seed}" in info


def test_regenerate_changes_only_that_segment(ctx, first):
    kept = first[5]
    k = 1
    seg = kept.segments[k]
    path, download, info, rows, new = regenerate(ctx, T, kept, k)
    assert path == download == str(new.path) and new.path != kept.path
    assert kept.path.is_file() and new.path.is_file()  # the earlier file is kept
    new_seg = new.segments[k]
    shift = (new_seg.end - new_seg.start) - (seg.end - seg.start)
    assert new_seg.start == seg.start and new_seg.seed is not None
    assert np.array_equal(new.audio[: seg.start], kept.audio[: seg.start])
    assert np.array_equal(new.audio[new_seg.end :], kept.audio[seg.end :])
    span_old, span_new = kept.audio[seg.start : seg.end], new.audio[new_seg.start : new_seg.end]
    assert len(span_old) != len(span_new) or not np.array_equal(span_old, span_new)
    for old, moved in zip(kept.segments[k + 1 :], new.segments[k + 1 :], strict=True):
        assert (moved.start, moved.end) == (old.start + shift, old.end + shift)
    assert len(new.audio) == len(kept.audio) + shift
    assert sf.info(path).frames == len(new.audio)
    assert "Segment 1 regenerated" in info and "regenerated" in rows[k][5]
    assert "- segment 0 " not in info  # warnings name the segment as the table does
    with pytest.raises(gr.Error, match="no segment 9"):
        regenerate(ctx, T, kept, 9)
    with pytest.raises(gr.Error, match="Synthesize something first"):
        regenerate(ctx, T, None, 0)


def stream_id_of(player_html: str) -> str:
    """The stream id in ``#synth-stream-player``'s HTML (and a check that it is the browser's own player)."""
    tag = re.search(r"<audio [^>]*>", player_html).group(0)
    assert 'id="synth-stream-audio"' in tag and " controls " in tag and " autoplay " in tag
    return re.search(r'src="/stream/([A-Za-z0-9_-]+)\.wav"', tag).group(1)


SKIP, PIECES = gr.update(), (np.full(800, 0.25, np.float32), np.full(400, -0.5, np.float32))


@pytest.fixture
def hub(ctx, monkeypatch):
    """A fresh stream hub on ``ctx`` with its route registered (as ``create_server`` does)."""
    fresh = StreamHub(read_timeout_s=30)
    monkeypatch.setattr(ctx, "streams", fresh)
    from fastapi import FastAPI

    add_stream_route(FastAPI(), fresh)
    return fresh


def test_streaming_plays_the_result_live(ctx, window, first, hub):
    gen = start(ctx, window[4], stream=True)
    player = next(gen)
    assert player[1:] == (SKIP,) * 5  # the earlier result stays until the new one is saved
    sid = stream_id_of(player[0])
    # The player shows up while the synthesis still runs: a reader started now waits for more audio.
    assert sid in hub and hub.kept_bytes > 0
    live, got = read_in_thread(hub, sid)
    live.join(0.3)
    assert live.is_alive() and "plays here" in synthesize_tab.show_player(ctx, T, True)["value"]
    rest = list(gen)
    live.join(10)
    assert not live.is_alive()  # the stream was closed when the synthesis ended
    _, audio_path, download, info, rows, kept = rest[-1]
    assert rest[-1][0] == SKIP and audio_path == download == str(kept.path)
    assert "First audio after" in info and len(rows) == len(kept.segments)
    # What the browser played is exactly the saved file (same 16-bit samples) and the closing silence.
    streamed, rate = int16_wav(b"".join(got))
    saved, saved_rate = int16_wav(str(kept.path))
    assert rate == saved_rate == RATE and len(streamed) == len(saved) + len(PAD) // 2
    assert np.array_equal(streamed[: len(saved)], saved) and not streamed[len(saved) :].any()
    assert len(saved) == len(kept.audio) == len(first[5].audio)  # as long as a whole run
    assert b"".join(hub.wav_bytes(sid)) == b"".join(got)  # a late request (a replay) gets it all again


def test_cancel_closes_the_stream(ctx, window, first, hub):
    gen = start(ctx, window[4], stream=True)
    sid = stream_id_of(next(gen)[0])
    synthesize_tab.cancel_synthesis(ctx, T, None)
    assert list(gen) == [(SKIP,) * 6]  # no new result; the earlier one stays on the page
    heard, _ = int16_wav(b"".join(hub.wav_bytes(sid)))  # ends: the stream is closed, not left open
    assert 0 < len(heard) < len(first[5].audio)


def test_without_stream_route_the_whole_result_plays(ctx, window, first):
    assert ctx.streams.route is None  # a page launched by gradio itself (--share): no stream route
    with pytest.warns(UserWarning, match="--share"):  # gr.Warning outside a page
        items = run(ctx, window[4], stream=True)
    assert len(items) == 1 and np.array_equal(items[0][5].audio, first[5].audio)
    assert "--share" in synthesize_tab.show_player(ctx, T, True)["value"]
    assert synthesize_tab.show_player(ctx, T, False) == gr.update(visible=False)


def fake_engine(error: BaseException | None) -> SimpleNamespace:
    """An engine whose ``stream`` yields ``PIECES``, then raises ``error`` (or ends when None)."""

    def stream(options, cancel=None):
        yield from (AudioChunk(piece, 16000, 0) for piece in PIECES)
        if error is not None:
            raise error

    return SimpleNamespace(stream=stream)


def test_stream_logic_closes_or_drops_the_stream(tmp_path):
    hub = StreamHub(read_timeout_s=5)
    header = wav_header(16000, None)
    everything = header + b"".join(pcm16(p) for p in PIECES) + PAD
    # A failure drops the stream: readers stop, later requests find nothing.
    gen = synth_logic.stream(fake_engine(RuntimeError("model broke")), tmp_path, None, hub)
    sid = next(gen)
    reader, got = read_in_thread(hub, sid)
    with pytest.raises(RuntimeError, match="model broke"):
        list(gen)
    reader.join(5)
    assert not reader.is_alive() and sid not in hub
    # A cancel, or the page closing the handler, closes it: what was made stays playable, then it ends.
    gen = synth_logic.stream(fake_engine(Cancelled("stop")), tmp_path, None, hub)
    sid = next(gen)
    with pytest.raises(Cancelled):
        list(gen)
    assert b"".join(hub.wav_bytes(sid)) == everything
    gen = synth_logic.stream(fake_engine(None), tmp_path, None, hub)
    sid = next(gen)
    gen.close()
    assert b"".join(hub.wav_bytes(sid)) == header + pcm16(PIECES[0]) + PAD


def test_long_reference_preview_is_the_engines_window(ctx, speak, tmp_path):
    parts = []
    for sentence in [
        "One two three four five.",
        "Six seven eight nine ten.",
        "The end of this recording.",
    ] * 2:
        audio, rate = speak(sentence)
        parts += [audio, np.zeros(int(0.6 * rate), np.float32)]
    long = tmp_path / "long.wav"
    sf.write(long, np.concatenate(parts), rate, subtype="PCM_16")
    preview, text, _, note, path = upload_reference(ctx, T, str(long))
    clip = load_reference(long, rate)
    used, used_rate = sf.read(path, dtype="float32")
    assert clip.trimmed and used_rate == rate and 3.0 <= len(used) / rate <= 10.0
    assert len(used) == len(clip.wav_model)
    assert np.abs(used - clip.wav_model).max() <= 1.5 / 32768
    # The engine, given the long file itself, picks exactly this window.
    result = ctx.engine.synthesize(
        SynthesisOptions(text="Hi there.", text_lang="en", ref_audio=(long,), seed=1)
    )
    ref = result.references[0]
    assert ref.trimmed and (ref.start_s, ref.end_s) == (clip.start_s, clip.end_s)
    assert f"{clip.start_s:.2f}-{clip.end_s:.2f}" in note and "10 s" in note
    assert text  # recognised words of the window


def test_dead_air_around_a_recording_is_cut_in_the_preview(ctx, speak, tmp_path):
    """Record, wait, speak, wait, Stop: the window keeps 0.3 s of the silence at each edge."""
    audio, rate = speak("Press the button, wait a moment, then speak clearly.")
    hiss = np.random.default_rng(0).normal(0, 1e-4, int(4.0 * rate)).astype(np.float32)  # a quiet room
    recording = np.concatenate([hiss[: int(1.5 * rate)], audio, hiss[int(1.5 * rate) :]])
    path = tmp_path / "recording.wav"
    sf.write(path, recording, rate, subtype="PCM_16")
    _, text, _, note, used_path = upload_reference(ctx, T, str(path))
    used, used_rate = sf.read(used_path, dtype="float32")
    a, b = np.flatnonzero(np.abs(audio) > 0.01)[[0, -1]]  # where piper's speech is audible
    speech_s = (b - a) / rate
    assert used_rate == rate and speech_s + 0.45 < len(used) / rate < speech_s + 0.95
    assert T("synth.ref_edges") in note and T("synth.ref_trimmed") not in note
    start_s = float(re.search(r"Using ([0-9.]+)-", note).group(1))
    assert 1.5 + a / rate - 0.45 < start_s < 1.5 + a / rate - 0.15
    assert "button" in text.lower()
    # A clip without long edge pauses is used whole (the piper reference of the other tests).
    plain, rate = speak("A clean clip.")
    assert speech_span(plain, rate) == (0, len(plain))
    assert speech_span(np.zeros(rate, np.float32), rate) == (0, rate)


def test_bad_reference_audio_is_refused_readably(ctx, tmp_path):
    handler = bind_handler(ctx, T, upload_reference)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + np.random.default_rng(0).bytes(5000))
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(5 * 16000, np.float32), 16000)
    short = tmp_path / "short.wav"
    sf.write(short, np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32), 16000)
    for path, message in [(corrupt, "corrupt.wav"), (silent, "silent"), (short, "0.50 s")]:
        with pytest.raises(gr.Error, match=message):
            handler(str(path))
    assert handler(None) == (None, gr.update(), gr.update(), "", None)


def test_readable_errors(ctx, window, home, tmp_path):
    handler = bind_handler(ctx, T, run_synthesis)
    base = dict(
        ref_text="", ref_lang="en", lang_mode="en", phoneme_mode=False, split="cut5", speed=1.0, seed=1,
        top_k=15, top_p=1.0, temperature=1.0, stream=False,
    )  # fmt: skip
    with pytest.raises(gr.Error, match="library voice, or upload"):
        list(handler(voice="", ref_window=None, text="Hello.", **base))
    with pytest.raises(gr.Error, match="text is empty"):
        list(handler(voice="", ref_window=window[4], text="   ", **base))
    with pytest.raises(gr.Error, match="[Pp]honeme mode"):
        list(handler(voice="", ref_window=window[4], text="{n i3}", **{**base, "phoneme_mode": True}))
    empty = make_ctx(tmp_path / "empty", tmp_path / "empty" / "pretrained")
    missing = bind_handler(empty, T, run_synthesis)
    with pytest.raises(gr.Error, match="pretrained"):
        list(missing(voice="", ref_window=str(home[1]), text="Hello.", **base))


def test_cancel_stops_the_sessions_request(ctx):
    token = synth_logic.cancel_registry(ctx.shared).start(None)
    other = synth_logic.cancel_registry(ctx.shared).start("another-session")
    synthesize_tab.cancel_synthesis(ctx, T, None)
    assert token.cancelled and not other.cancelled


def test_phoneme_mode_preview():
    assert pronounce.phoneme_text("n i3 h ao3 ,\n\nHH AH0 L OW1") == "{n i3 h ao3 ,}.{HH AH0 L OW1}"


def test_voice_choice_and_dictionary_editor(home, tmp_path):
    tiny, ref = home
    app = make_ctx(tmp_path / "app", tiny.pretrained)
    app.voices.create(
        "Tiny", gpt=tiny.gpt, sovits=tiny.sovits, references=[ref], ref_text=REF_TEXT, language="en",
        defaults={"top_k": 5, "speed": 1.2}, consent="Synthetic piper test voice.",
    )  # fmt: skip
    assert refresh_voices(app, T, "Tiny")["choices"][1] == ("Tiny", "Tiny")
    filled = choose_voice(app, T, "Tiny")
    assert filled[4:9] == (REF_TEXT, "en", "en", "cut5", 1.2) and filled[9] == 5 and filled[-1] == "voice"
    text = "I like tomato soup."
    preview = bind_handler(app, T, pronounce.preview)
    save = bind_handler(app, T, pronounce.save_dictionary)

    def row(rows, word):
        return next(r for r in rows if r[1].lower() == word)

    rows = preview(text, "en", "cut0", False, "Tiny")
    assert row(rows, "tomato")[4] == "g2p"
    # Global dictionary: a new file, line 1; the preview shows the rule and synthesis reads it.
    message, rows = save("tomato", "T AH0 M AA1 T OW2", "global", "", text, "en", "cut0", False)
    assert app.settings.user_dictionary.read_text("utf-8").splitlines() == ['{"tomato": "T AH0 M AA1 T OW2"}']
    assert row(rows, "tomato")[3:] == ["T AH0 M AA1 T OW2", "dict:global_dictionary.jsonl:1"]
    assert "line 1" in message
    result = app.engine.synthesize(SynthesisOptions(text=text, voice="Tiny", seed=1))
    assert " M AA1 T OW2 " in " " + " ".join(result.segments[0].phones) + " "
    # The voice's dictionary: created and recorded in voice.json, then appended to.
    assert app.voices.get("Tiny").dictionary_path is None
    _, rows = save("soup", "S OW1 P", "voice", "Tiny", text, "en", "cut0", False)
    voice = app.voices.get("Tiny")
    assert voice.dictionary_path is not None and voice.dictionary_path.name == "dictionary.jsonl"
    assert json.loads((voice.folder / "voice.json").read_text("utf-8"))["dictionary"] == "dictionary.jsonl"
    assert row(rows, "soup")[3:] == ["S OW1 P", "dict:dictionary.jsonl:1"]
    _, rows = save("like", "L AY1 K S", "voice", "Tiny", text, "en", "cut0", False)
    assert row(rows, "like")[4] == "dict:dictionary.jsonl:2"
    assert app.voices.verify("Tiny") == []
    result = app.engine.synthesize(SynthesisOptions(text=text, voice="Tiny", seed=1))
    assert " S OW1 P " in " " + " ".join(result.segments[0].phones) + " "
    # Bad entries are refused with the reason and nothing is written.
    before = app.settings.user_dictionary.read_bytes()
    with pytest.raises(gr.Error, match="XX1"):
        save("tomato", "T AH0 M XX1 T OW2", "global", "", text, "en", "cut0", False)
    with pytest.raises(gr.Error, match="yinn2"):
        save("银行", "yinn2 hang2", "global", "", text, "en", "cut0", False)
    with pytest.raises(gr.Error, match="Choose a library voice"):
        save("tomato", "T AH0 M EY1 T OW2", "voice", "", text, "en", "cut0", False)
    assert app.settings.user_dictionary.read_bytes() == before
    # Phoneme mode: each line is a group of raw phones (one segment per line with cut5).
    rows = preview("n i3 h ao3\nHH AH0 L OW1", "auto", "cut5", True, "")
    assert [(r[0], r[3], r[4]) for r in rows] == [(0, "n i3 h ao3", "inline"), (1, "HH AH0 L OW1", "inline")]


def test_voice_synthesis_without_upload(home, tmp_path):
    tiny, ref = home
    app = make_ctx(tmp_path / "app", tiny.pretrained)
    app.voices.create(
        "Plain", gpt=tiny.gpt, sovits=tiny.sovits, references=[ref], ref_text=REF_TEXT, language="en",
        consent="Synthetic piper test voice.",
    )  # fmt: skip
    options = synth_logic.build_options(
        app.voices, "Plain", None, REF_TEXT, "en", "Hi.", "en", False, "cut5", 1.0, 3, 15, 1.0, 1.0
    )
    assert options.voice == "Plain" and options.ref_audio == ()
    edited = synth_logic.build_options(
        app.voices, "Plain", None, "Edited text.", "en", "Hi.", "en", False, "cut5", 1.0, 3, 15, 1.0, 1.0
    )
    assert edited.ref_text == "Edited text." and edited.ref_audio == (app.voices.get("Plain").prompt.path,)
    kept = run(app, None, voice="Plain", text="A voice from the library.", seed=3)[-1][5]
    assert kept.sample_rate == RATE and sf.info(kept.path).frames == len(kept.audio) > 0
    assert kept.options.voice == "Plain" and len(kept.segments) == 1


def test_tab_serves_its_components(ctx):
    with gr.Blocks() as app:
        with gr.Tab("x") as tab:
            synthesize_tab.build(ctx, T, tab)
    ids = elem_ids(served_config(app))
    wanted = """voice ref-upload ref-preview ref-text ref-lang text lang-mode phoneme-mode split speed seed
        top-k top-p temperature stream stream-player run cancel audio download info segments regen-index regen
        preview-button preview-table dict-surface dict-phones dict-target dict-save""".split()
    assert {f"synth-{w}" for w in wanted} <= ids
