"""The synthesis engine end to end: tiny official-format models, real piper speech as the reference."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
import soundfile as sf
import torch
from tiny_models import make_tiny_home, write_speech

from gpt_sovits.device import choose_device
from gpt_sovits.errors import AudioError, GPTSoVITSError, TextError
from gpt_sovits.inference import Cancelled, CancelToken, Engine, SynthesisError, SynthesisOptions
from gpt_sovits.inference.textprep import token_budget
from gpt_sovits.models.checkpoint import CheckpointError
from gpt_sovits.registry.registry import ModelRegistry
from gpt_sovits.settings import Settings

REF_TEXT = "The quick brown fox jumps over the lazy dog near the quiet river bank."
TEXT = "Hello there, my friend. This is a test of the engine!"
RATE = 32000
SAMPLES_PER_TOKEN = 1280  # 25 Hz codes, 32 kHz audio


@pytest.fixture(scope="module")
def home(tmp_path_factory, speak):
    root = tmp_path_factory.mktemp("home")
    tiny = make_tiny_home(root)
    ref = write_speech(speak, root / "ref.wav", REF_TEXT)
    return tiny, ref


def settings_for(root, **kw) -> Settings:
    return Settings(
        home=root,
        pretrained_dir=root / "pretrained",
        voices_dir=root / "user_voices",
        logs_dir=root / "logs",
        **kw,
    )


@pytest.fixture(scope="module")
def engine(home):
    tiny, _ = home
    return Engine(ModelRegistry(choose_device("cpu")), settings_for(tiny.root))


def opts(home, **kw) -> SynthesisOptions:
    _, ref = home
    base = dict(text=TEXT, text_lang="en", ref_audio=(ref,), ref_text=REF_TEXT, ref_lang="en", seed=7)
    base.update(kw)
    return SynthesisOptions(**base)


def expected_samples(result, speed=1.0, pause=0.3) -> int:
    per = [
        2 * s.tokens * 640 if speed == 1.0 else (int(2 * s.tokens / speed) + 1) * 640 for s in result.segments
    ]
    return sum(per) + int(round(pause * RATE)) * (len(per) - 1)


def test_synthesis_length_rate_and_report(engine, home):
    r = engine.synthesize(opts(home))
    assert r.sample_rate == RATE and r.audio.dtype == np.float32
    assert len(r.segments) >= 2
    assert len(r.audio) == expected_samples(r)
    assert np.abs(r.audio).max() <= 1.0 and np.sqrt(np.mean(r.audio**2)) > 1e-3
    for s in r.segments:
        assert 11 <= s.tokens <= s.token_budget == token_budget(len(s.phones))
        assert s.stopped_by_budget == (s.tokens == s.token_budget)
        assert s.end_s - s.start_s == pytest.approx(2 * s.tokens * 640 / RATE)
    # The reference text never reaches the output: segment phones are the target text's only.
    ref_words = {"QUICK", "FOX", "LAZY", "RIVER"}
    assert not any(w in " ".join(s.text.upper() for s in r.segments) for w in ref_words)
    assert r.references[0].text == REF_TEXT and not r.references[0].trimmed
    assert r.timings.total >= r.timings.gpt > 0 and r.timings.sovits > 0


def test_same_seed_same_audio_other_seed_differs(engine, home):
    a = engine.synthesize(opts(home, seed=11)).audio
    b = engine.synthesize(opts(home, seed=11)).audio
    c = engine.synthesize(opts(home, seed=12)).audio
    assert np.array_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a, c)


def test_stream_joins_to_the_whole_audio(engine, home):
    o = opts(home, seed=5, stream_chunk_tokens=8)
    whole = engine.synthesize(o)
    chunks = list(engine.stream(o))
    assert chunks[-1].final and chunks[-1].result is not None
    audio_chunks = [c for c in chunks if len(c.audio)]
    # More chunks than segments + pauses: audio also arrives inside segments.
    assert len(audio_chunks) > 2 * len(whole.segments)
    joined = np.concatenate([c.audio for c in chunks])
    assert len(joined) == len(whole.audio)
    err = np.sqrt(np.mean((joined - whole.audio) ** 2) / np.mean(whole.audio**2))
    assert err < 0.02, err
    assert np.array_equal(joined, chunks[-1].result.audio)
    assert chunks[-1].result.timings.first_chunk is not None


def test_speed_changes_length(engine, home):
    r = engine.synthesize(opts(home, speed=1.5, seed=3))
    assert len(r.audio) == expected_samples(r, speed=1.5)


def test_token_budget_stops_runaway_rows(engine, home):
    r = engine.synthesize(opts(home, max_new_tokens=20))
    assert all(s.tokens <= 20 for s in r.segments)
    assert any(s.stopped_by_budget for s in r.segments)
    assert any("token budget" in w for w in r.warnings)


def test_short_input_is_not_silent(engine, home):
    r = engine.synthesize(opts(home, text="Hi"))
    assert len(r.segments) == 1 and r.segments[0].tokens >= 11
    assert r.segments[0].phones[0] in {".", ","} and r.segments[0].phones[-1] == "."
    assert np.sqrt(np.mean(r.audio**2)) > 1e-3


def test_short_sentences_are_merged(engine, home):
    r = engine.synthesize(opts(home, text="Yes. No. Maybe we should go home now."))
    assert len(r.segments) == 1 or all(len([p for p in s.phones if p.isalpha()]) >= 6 for s in r.segments)


def test_request_dictionary_changes_phones(engine, home):
    plain = engine.synthesize(opts(home, text="I like tomato soup.", seed=1))
    custom = engine.synthesize(
        opts(home, text="I like tomato soup.", seed=1, dictionary=('{"tomato": "T AH0 M AA1 T OW2"}',))
    )
    assert "AA1" not in plain.segments[0].phones
    assert " M AA1 T OW2 " in " " + " ".join(custom.segments[0].phones) + " "


def test_reference_free_mode_needs_no_hubert(home, tmp_path):
    tiny, ref = home
    shutil.copytree(
        tiny.pretrained, tmp_path / "pretrained", ignore=shutil.ignore_patterns("chinese-hubert-base")
    )
    eng = Engine(ModelRegistry(choose_device("cpu")), settings_for(tmp_path))
    r = eng.synthesize(SynthesisOptions(text=TEXT, text_lang="en", ref_audio=(ref,), seed=1))
    assert len(r.audio) == expected_samples(r) and r.references[0].text is None
    with pytest.raises(GPTSoVITSError, match="chinese-hubert-base"):
        eng.synthesize(opts(home))


def test_long_reference_is_trimmed_at_silences(engine, home, speak, tmp_path):
    parts = []
    for sentence in [
        "One two three four five.",
        "Six seven eight nine ten.",
        "The end of this long recording.",
    ] * 2:
        audio, rate = speak(sentence)
        parts += [audio, np.zeros(int(0.6 * rate), np.float32)]
    long = np.concatenate(parts)
    path = tmp_path / "long.wav"
    sf.write(path, long, rate)
    assert len(long) / rate > 12
    r = engine.synthesize(opts(home, ref_audio=(path,), ref_text="whatever it says"))
    ref = r.references[0]
    assert ref.trimmed and 3.0 <= ref.end_s - ref.start_s <= 10.0
    # Both cuts fall in silence of the original.
    for t in (ref.start_s, ref.end_s):
        i = int(t * rate)
        window = long[max(0, i - 160) : i + 160]
        assert np.abs(window).max() < 0.02, t
    assert any("trimmed" in w for w in r.warnings) and ref.text is None
    with pytest.raises(AudioError, match="3 to 10 seconds"):
        engine.synthesize(opts(home, ref_audio=(path,), auto_trim=False))


def test_several_references_are_averaged(engine, home, speak, tmp_path):
    other = write_speech(speak, tmp_path / "other.wav", "A second voice sample, spoken a little differently.")
    one = engine.synthesize(opts(home, seed=2))
    two = engine.synthesize(opts(home, seed=2, ref_audio=(home[1], other)))
    assert len(two.references) == 2
    assert len(one.audio) == len(two.audio) and not np.allclose(one.audio, two.audio)


def test_chinese_text_uses_bert(engine, home):
    r = engine.synthesize(opts(home, text="我在银行工作，今天天气很不错。", text_lang="zh"))
    assert r.segments[0].langs == ("zh",)
    row_bert = engine.bert_features
    seg = (
        __import__("gpt_sovits.text.frontend", fromlist=["FrontEnd"])
        .FrontEnd()
        .process("我在银行工作")
        .segments[0]
    )
    assert row_bert(seg).abs().sum() > 0


def test_cancel(engine, home):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        engine.synthesize(opts(home), token)
    token = CancelToken()
    got = []
    with pytest.raises(Cancelled):
        for chunk in engine.stream(opts(home, stream_chunk_tokens=8), token):
            got.append(chunk)
            if len(got) == 2:
                token.cancel()
    assert len(got) == 2


def test_concurrent_requests_do_not_mix(engine, home):
    texts = [
        "First request here.",
        "The second one is longer than the first.",
        "Third!",
        "Number four, at last.",
    ]
    expected = [engine.synthesize(opts(home, text=t, seed=i)).audio for i, t in enumerate(texts)]
    got: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        got[i] = engine.synthesize(opts(home, text=texts[i], seed=i)).audio

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, e in enumerate(expected):
        assert np.array_equal(got[i], e), i


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"text": ""}, SynthesisError, "empty"),
        ({"text": "word " * 5000}, SynthesisError, "at most"),
        ({"text_lang": "klingon"}, TextError, "Unknown language mode"),
        ({"split": "cut9"}, SynthesisError, "split method"),
        ({"speed": 0.0}, SynthesisError, "speed"),
        ({"top_k": 0}, SynthesisError, "top_k"),
        ({"text": "?!..."}, TextError, "nothing to speak"),
        ({"text": "☃★♞"}, TextError, "nothing to speak"),
    ],
)
def test_bad_requests(engine, home, change, error, message):
    with pytest.raises(error, match=message):
        engine.synthesize(opts(home, **change))


def test_bad_reference_audio(engine, home, tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + np.random.default_rng(0).bytes(5000))
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(5 * 16000, np.float32), 16000)
    tiny = tmp_path / "short.wav"
    sf.write(tiny, np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32), 16000)
    for path, message in [(corrupt, "corrupt.wav"), (silent, "silent"), (tiny, "0.50 s")]:
        with pytest.raises(AudioError, match=message):
            engine.synthesize(opts(home, ref_audio=(path,)))
    with pytest.raises(SynthesisError, match="does not exist"):
        engine.synthesize(opts(home, ref_audio=(tmp_path / "nope.wav",)))
    # Any sample rate works: an 8 kHz telephone-quality reference is resampled.
    low = tmp_path / "low.wav"
    audio, rate = sf.read(home[1])
    import soxr

    sf.write(low, soxr.resample(audio, rate, 8000), 8000)
    assert engine.synthesize(opts(home, ref_audio=(low,))).sample_rate == RATE


def test_missing_and_malicious_models(home, tmp_path):
    tiny, ref = home
    empty = Engine(ModelRegistry(choose_device("cpu")), settings_for(tmp_path))
    with pytest.raises(SynthesisError, match="models download"):
        empty.synthesize(SynthesisOptions(text="Hello.", ref_audio=(ref,)))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.ckpt"
    torch.save({"weight": {}, "config": Evil()}, evil)
    eng = Engine(ModelRegistry(choose_device("cpu")), settings_for(tiny.root))
    with pytest.raises(CheckpointError):
        eng.synthesize(opts(home, gpt_path=evil))
    with pytest.raises(CheckpointError):
        eng.synthesize(opts(home, gpt_path=tmp_path / "missing.ckpt"))
    with pytest.raises(CheckpointError, match="GPT"):
        eng.synthesize(opts(home, gpt_path=tiny.sovits))


def test_global_voice_and_request_dictionaries_and_inline_phones(home, tmp_path):
    from gpt_sovits.voices import VoiceLibrary

    tiny, ref = home
    glob = tmp_path / "global.jsonl"
    glob.write_text('{"tomato": "T AH0 M AA1 T OW2"}\n{"soup": "S UW1 P S"}\n')
    voices = VoiceLibrary(tmp_path / "user_voices")
    dict_file = tmp_path / "voice.jsonl"
    dict_file.write_text('{"soup": "S OW1 P"}\n')
    voices.create(
        "Dict",
        gpt=tiny.gpt,
        sovits=tiny.sovits,
        references=[ref],
        ref_text=REF_TEXT,
        language="en",
        dictionary=dict_file,
        consent="test",
    )
    settings = settings_for(tiny.root, dictionaries=(glob,))
    eng = Engine(ModelRegistry(choose_device("cpu")), settings, voices)
    text = "I like tomato soup."

    def phones(**kw):
        return eng.synthesize(SynthesisOptions(text=text, text_lang="en", seed=1, **kw)).segments[0].phones

    def has(seq, part):
        s, p = " ".join(seq), " ".join(part)
        return f" {p} " in f" {s} "

    by_files = phones(ref_audio=(ref,), ref_text=REF_TEXT)
    assert has(by_files, ("M", "AA1", "T", "OW2", "S", "UW1", "P", "S"))
    by_voice = phones(voice="Dict")  # the voice's dictionary wins over the global one
    assert has(by_voice, ("M", "AA1", "T", "OW2", "S", "OW1", "P"))
    by_request = phones(voice="Dict", dictionary=('{"soup": "Z UW1 P"}',))  # the request wins over both
    assert has(by_request, ("T", "OW2", "Z", "UW1", "P"))
    inline = (
        eng.synthesize(
            SynthesisOptions(text="{HH AH0 L OW1} world.", text_lang="en", ref_audio=(ref,), seed=1)
        )
        .segments[0]
        .phones
    )
    assert inline[:4] == ("HH", "AH0", "L", "OW1")


def test_greedy_batched_decoding_matches_one_row_at_a_time(engine, home):
    text = "The first sentence is here. A second one follows it. And the third closes the text."
    batched = engine.synthesize(opts(home, text=text, top_k=1, batch_size=8, noise_scale=0.0))
    single = engine.synthesize(opts(home, text=text, top_k=1, batch_size=1, noise_scale=0.0))
    assert [s.tokens for s in batched.segments] == [s.tokens for s in single.segments]
    np.testing.assert_allclose(batched.audio, single.audio, atol=1e-4)


def test_voice_reuse_skips_feature_extraction(home, tmp_path):
    from gpt_sovits.voices import VoiceLibrary

    tiny, ref = home
    root = tmp_path / "h"
    shutil.copytree(tiny.pretrained, root / "pretrained")
    voices = VoiceLibrary(root / "user_voices")
    voices.create(
        "Cached",
        gpt=tiny.gpt,
        sovits=tiny.sovits,
        references=[ref],
        ref_text=REF_TEXT,
        language="en",
        consent="test",
    )
    first = Engine(ModelRegistry(choose_device("cpu")), settings_for(root), voices)
    a = first.synthesize(SynthesisOptions(text="Reuse me.", voice="Cached", seed=3))
    # A new process (fresh registry and engine) without HuBERT: the cached prompt codes are enough.
    shutil.rmtree(root / "pretrained" / "chinese-hubert-base")
    second = Engine(ModelRegistry(choose_device("cpu")), settings_for(root), voices)
    b = second.synthesize(SynthesisOptions(text="Reuse me.", voice="Cached", seed=3))
    assert np.array_equal(a.audio, b.audio)
    assert not any(e.kind == "hubert" for e in second.registry.loaded())


def test_v2pro_voice_uses_the_speaker_encoder(home, tmp_path):
    from tiny_models import save_tiny_sovits

    from gpt_sovits.features import SV_NAME
    from gpt_sovits.models.speaker import ERes2NetV2, ERes2NetV2Config

    tiny, ref = home
    root = tmp_path / "pro"
    shutil.copytree(tiny.pretrained, root / "pretrained")
    pro = save_tiny_sovits(root / "pro.pth", version="v2Pro")
    eng = Engine(ModelRegistry(choose_device("cpu")), settings_for(root))
    with pytest.raises(GPTSoVITSError, match="pretrained_eres2netv2w24s4ep4"):
        eng.synthesize(opts(home, sovits_path=pro))
    torch.manual_seed(0)
    sv = root / "pretrained" / SV_NAME
    sv.parent.mkdir(parents=True)
    torch.save(ERes2NetV2(ERes2NetV2Config()).state_dict(), sv)  # the official file is a plain state dict
    r = eng.synthesize(opts(home, sovits_path=pro, seed=2))
    assert len(r.audio) == expected_samples(r)
    assert any(e.kind == "speaker" for e in eng.registry.loaded())
