"""ASR labelling on real piper speech: word error rate, manifest, re-runs, bad clips, engines' errors."""

from __future__ import annotations

import json
import logging
import random
from functools import cache

import numpy as np
import pytest
import soundfile as sf

from gpt_sovits.errors import MissingExtraError
from tools.asr import (
    FUNASR_MODELS,
    AsrInputError,
    AsrModelError,
    FasterWhisperEngine,
    Transcript,
    make_engine,
    normalize_words,
    read_manifest,
    transcribe_clips,
    word_error_rate,
)
from tools.asr.__main__ import main as asr_main
from tools.asr.wer import edit_distance
from tools.lists import DatasetList, check_list

SENTENCES = [  # varied, no digits (their spelling would be ambiguous)
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "She sells seashells by the seashore every summer morning.",
    "Reading books before bed helps me fall asleep quickly.",
    "The weather forecast says it will rain heavily tomorrow afternoon.",
    "Our team finished the project a week ahead of schedule.",
    "Learning a new language takes patience and daily practice.",
    "The museum was closed, so we walked along the river instead.",
]


class CountingEngine:
    """Wraps an engine and counts transcribe calls (to prove re-runs skip finished clips)."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0
        self.name = inner.name

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    def transcribe(self, audio):
        self.calls += 1
        return self.inner.transcribe(audio)


@pytest.fixture(scope="module")
def whisper():
    return FasterWhisperEngine(cpu_threads=2, language="en")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, speak, whisper):
    """A folder 'joe' of real clips plus an unreadable and a silent one, labelled once."""
    root = tmp_path_factory.mktemp("asr")
    folder = root / "joe"
    folder.mkdir()
    for i, text in enumerate(SENTENCES):
        audio, sr = speak(text)
        sf.write(folder / f"clip{i:02d}.wav", audio, sr, subtype="PCM_16")
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    sf.write(folder / "quiet.flac", np.zeros(16000, dtype=np.float32), 16000)
    (folder / "notes.txt").write_text("not audio")
    engine = CountingEngine(whisper)
    seen = []
    result = transcribe_clips(
        folder, root / "joe.list", engine=engine, progress=lambda d, t, c: seen.append(d)
    )
    return root, folder, engine, result, seen


def test_word_error_rate_on_real_speech(labelled):
    root, folder, _, result, _ = labelled
    dl = DatasetList.read(root / "joe.list")
    by_name = {dl.resolve(r).name: r.text for r in dl.rows}
    assert sorted(by_name) == [f"clip{i:02d}.wav" for i in range(len(SENTENCES))]
    hyps = [by_name[f"clip{i:02d}.wav"] for i in range(len(SENTENCES))]
    wer = word_error_rate(SENTENCES, hyps)
    logging.getLogger(__name__).info(
        "WER %.3f over %d words", wer, sum(len(normalize_words(s)) for s in SENTENCES)
    )
    assert wer <= 0.15, list(zip(SENTENCES, hyps))


def test_list_and_manifest_contents(labelled):
    root, folder, engine, result, seen = labelled
    assert engine.calls == len(SENTENCES) == len(result.transcribed)
    assert sorted(p.name for p, _ in result.failed) == ["broken.wav", "quiet.flac"]
    assert seen == list(range(1, len(SENTENCES) + 3))  # progress for every clip, failed ones included
    raw = (root / "joe.list").read_text(encoding="utf-8").splitlines()
    fields = [line.split("|") for line in raw]
    assert all(len(f) == 4 and f[1] == "joe" and f[2] == "EN" for f in fields)  # upstream's upper-case code
    assert all(f[0] == str(folder / f"clip{i:02d}.wav") for i, f in enumerate(fields))
    entries = read_manifest(result.manifest_path)
    assert result.manifest_path == root / "joe.asr.jsonl" and len(entries) == len(SENTENCES)
    for e in entries:
        assert {
            "path",
            "text",
            "language",
            "confidence",
            "no_speech_prob",
            "segments",
            "engine",
            "model",
        } <= set(e)
        assert e["engine"] == "faster-whisper" and "tiny.en" in e["model"] and e["language"] == "en"
        assert 0.3 < e["confidence"] <= 1.0 and 0.0 <= e["no_speech_prob"] < 0.5
        assert e["segments"] and all(
            0 <= s["start"] < s["end"] <= e["duration_s"] + 0.5 for s in e["segments"]
        )
        if len(e["segments"]) == 1:  # one segment: the confidence is exactly exp(avg_logprob)
            assert e["confidence"] == pytest.approx(np.exp(e["segments"][0]["avg_logprob"]))


def test_check_uses_the_asr_manifest(labelled):
    root, _, _, _, _ = labelled
    report = check_list(DatasetList.read(root / "joe.list"))  # finds joe.asr.jsonl by itself
    assert len(report.rows) == len(SENTENCES)
    for r in report.rows:
        assert r.confidence is not None and 0.3 < r.confidence <= 1.0
        assert not {"no_speech", "silence", "clipping", "low_asr_confidence", "missing"} & set(r.flags)


def test_rerun_skips_done_clips_and_keeps_edits(labelled, speak):
    root, folder, engine, _, _ = labelled
    out = root / "joe.list"
    dl = DatasetList.read(out)
    dl.edit(0, text="Hand corrected text.")
    dl.save()
    edited = out.read_bytes()
    before = engine.calls
    again = transcribe_clips(folder, out, engine=engine)
    assert engine.calls == before and len(again.skipped) == len(SENTENCES) and not again.transcribed
    assert out.read_bytes() == edited  # the hand edit survives, nothing is re-written differently
    audio, sr = speak("A new clip arrives later.")
    sf.write(folder / "clip99.wav", audio, sr)
    third = transcribe_clips(folder, out, engine=engine)
    assert engine.calls == before + 1 and [p.name for p in third.transcribed] == ["clip99.wav"]
    new = out.read_bytes()
    assert new.startswith(edited) and new[len(edited) :].decode().startswith(str(folder / "clip99.wav") + "|")
    assert len(read_manifest(third.manifest_path)) == len(SENTENCES) + 1


class FixedEngine:
    """Returns canned transcripts; for testing the plumbing without a model."""

    name = "fixed"
    model_name = "none"

    def __init__(self, texts) -> None:
        self.texts = iter(texts)

    def transcribe(self, audio):
        return Transcript(text=next(self.texts), language="zh", confidence=None)


def test_slicer_manifest_input_and_output_rules(tmp_path):
    clips = tmp_path / "sliced"
    clips.mkdir()
    for name in ("a.wav", "b.wav"):
        sf.write(clips / name, 0.3 * np.sin(np.linspace(0, 2000, 16000)).astype(np.float32), 16000)
    slicer = tmp_path / "slices.jsonl"
    slicer.write_text(
        json.dumps({"path": "sliced/a.wav", "speaker": "amy"})
        + "\n"
        + json.dumps({"path": "sliced/b.wav"})
        + "\n"
    )
    res = transcribe_clips(
        slicer, tmp_path / "out" / "x.list", engine=FixedEngine(["你好 | 世界", ""]), relative_paths=True
    )
    assert (tmp_path / "out" / "x.list").read_text(encoding="utf-8") == "../sliced/a.wav|amy|ZH|你好 世界\n"
    assert [p.name for p in res.empty] == ["b.wav"]  # nothing recognised: manifest only
    assert [e["text"] for e in read_manifest(tmp_path / "out" / "x.asr.jsonl")] == ["你好 | 世界", ""]
    with pytest.raises(AsrInputError, match="one of the inputs"):
        transcribe_clips(slicer, tmp_path / "x.list", engine=FixedEngine([]), manifest=slicer)
    listed = tmp_path / "out" / "x.list"
    with pytest.raises(AsrInputError, match="one of the inputs"):
        transcribe_clips(listed, listed, engine=FixedEngine([]))
    with pytest.raises(AsrInputError, match="neither"):
        transcribe_clips(tmp_path / "nothing", tmp_path / "y.list", engine=FixedEngine([]))


def test_engine_errors_say_what_to_do(tmp_path, whisper):
    with pytest.raises(AsrModelError, match="modelscope download") as err:
        make_engine("funasr", tmp_path / "funasr")
    assert all(repo in str(err.value) for _, repo in FUNASR_MODELS.values())
    with pytest.raises(AsrModelError, match="Chinese only"):
        make_engine("funasr", tmp_path / "funasr", language="en")
    for folder, _ in FUNASR_MODELS.values():
        (tmp_path / "funasr" / folder).mkdir(parents=True)
        (tmp_path / "funasr" / folder / "model.pt").write_bytes(b"")
        (tmp_path / "funasr" / folder / "config.yaml").write_text("")
    try:
        import funasr  # noqa: F401

        pytest.skip("funasr is installed: the missing-package message cannot be checked")
    except ImportError:
        pass
    with pytest.raises(MissingExtraError, match=r"funasr.*pip install"):
        make_engine("funasr", tmp_path / "funasr")
    with pytest.raises(AsrModelError, match="not a CTranslate2"):
        FasterWhisperEngine(tmp_path).load()
    with pytest.raises(AsrModelError, match="--download"):
        FasterWhisperEngine("no-such-model-name").load()
    with pytest.raises(AsrModelError, match="English-only"):
        FasterWhisperEngine(language="ja").load()


def test_cli_labels_a_folder(tmp_path, speak, capsys):
    folder = tmp_path / "amy"
    folder.mkdir()
    audio, sr = speak("Good morning everyone.")
    sf.write(folder / "one.wav", audio, sr)
    out = tmp_path / "lists" / "amy.list"
    assert (
        asr_main([str(folder), "--out", str(out), "--language", "en", "--threads", "2", "--speaker", "A"])
        == 0
    )
    assert "1 transcribed" in capsys.readouterr().out
    (row,) = DatasetList.read(out).rows
    assert (
        row.speaker == "A"
        and row.lang == "EN"
        and word_error_rate(["Good morning everyone."], [row.text]) == 0
    )
    assert asr_main([str(folder), "--out", str(out), "--engine", "funasr", "--model", str(tmp_path)]) == 1
    assert "FunASR models are missing" in capsys.readouterr().err


@cache
def _reference_distance(ref: tuple, hyp: tuple) -> int:
    """Plain recursive Levenshtein distance: the definition, as an independent reference."""
    if not ref or not hyp:
        return len(ref) + len(hyp)
    return min(
        _reference_distance(ref[1:], hyp) + 1,
        _reference_distance(ref, hyp[1:]) + 1,
        _reference_distance(ref[1:], hyp[1:]) + (ref[0] != hyp[0]),
    )


def test_wer_helpers():
    assert normalize_words("Hello, World! It's 42 -- don't") == [
        "hello",
        "world",
        "its",
        "forty",
        "two",
        "dont",
    ]
    rng = random.Random(0)
    for _ in range(200):
        ref = tuple(rng.choices("abc", k=rng.randint(0, 6)))
        hyp = tuple(rng.choices("abc", k=rng.randint(0, 6)))
        assert edit_distance(ref, hyp) == _reference_distance(ref, hyp)
    assert word_error_rate(["the cat sat"], ["the cat sat"]) == 0
    assert word_error_rate(["the cat sat", "on a mat"], ["a cat sat", "on a mat today"]) == pytest.approx(
        2 / 6
    )
    assert normalize_words("Twenty-one") == ["twenty", "one"]
    assert normalize_words("1,250.5 and 7000013") == (
        "one thousand two hundred fifty point five and seven million thirteen".split()
    )
