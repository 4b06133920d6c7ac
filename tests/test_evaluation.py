"""Checkpoint evaluation: real ASR on real speech, real speaker embeddings, tiny models end to end."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from tiny_models import make_tiny_home, save_tiny_gpt, save_tiny_sovits, write_speech

from gpt_sovits.device import choose_device
from gpt_sovits.evaluation import (
    NEAR_TIE,
    EvaluationError,
    choose_best,
    default_sentences,
    error_rate,
    evaluate_checkpoints,
    experiment_pairs,
    pair_checkpoints,
    speaker_similarity,
)
from gpt_sovits.evaluation.__main__ import main as eval_main
from gpt_sovits.evaluation.metrics import default_asr, transcribe
from gpt_sovits.inference import Engine
from gpt_sovits.registry.registry import ModelRegistry
from gpt_sovits.settings import Settings
from tools.asr.wer import word_error_rate

SENTENCE = "Please close the window before you leave the house."
OTHER = "The little boat drifted slowly across the quiet lake."
REF_TEXT = "The quick brown fox jumps over the lazy dog near the quiet river bank."


@pytest.fixture(scope="module")
def whisper():
    engine, note = default_asr("en")
    assert note is None
    return engine


@pytest.fixture(scope="module")
def home(tmp_path_factory, speak):
    root = tmp_path_factory.mktemp("evalhome")
    tiny = make_tiny_home(root)
    ref = write_speech(speak, root / "ref.wav", REF_TEXT)
    return tiny, ref


def settings_for(root) -> Settings:
    return Settings(
        home=root, pretrained_dir=root / "pretrained", voices_dir=root / "v", logs_dir=root / "logs"
    )


def test_wer_of_real_speech(speak, whisper):
    audio, rate = speak(SENTENCE)
    heard = transcribe(whisper, audio, rate)
    right, wrong = error_rate(SENTENCE, heard, "wer"), error_rate(OTHER, heard, "wer")
    assert right <= 0.25, heard  # tiny.en hears piper nearly perfectly ("Place close ..." at worst)
    assert wrong >= 0.8, heard
    # The WER of tools.asr (the corpus formula) agrees on one sentence.
    assert right == pytest.approx(word_error_rate([SENTENCE], [heard]))


def test_cer_by_characters():
    assert error_rate("请把窗户关好。", "请把窗户关好", "cer") == 0.0  # punctuation ignored
    assert error_rate("请把窗户关好", "请把窗关好", "cer") == pytest.approx(1 / 6)
    assert error_rate("ＡＢ好", "ab好", "cer") == 0.0  # full-width folded
    with pytest.raises(ValueError):
        error_rate("。", "x", "cer")


def test_speaker_similarity_orders_same_voice_above_other_signals(speak):
    a, rate = speak(SENTENCE)
    b, _ = speak(OTHER)
    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal(rate * 3)).astype(np.float32)
    t = np.arange(rate * 3) / rate
    hum = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    same = speaker_similarity(a, rate, b, rate)
    assert same > 0.75
    for other in (noise, hum):
        assert speaker_similarity(a, rate, other, rate) < same - 0.2
    assert speaker_similarity(a, rate, a, rate) == pytest.approx(1.0, abs=1e-5)


def test_chinese_without_funasr_skips_cer_with_a_note(tmp_path):
    engine, note = default_asr("zh", funasr_dir=tmp_path)  # no FunASR models here
    assert engine is None and "CER" in note and "FunASR" in note


def test_best_rule_on_numbers():
    # A clear winner on error rate wins whatever its similarity.
    assert choose_best([0.30, 0.10, 0.25], [0.9, 0.5, 0.95])[0] == 1
    # Near-ties (within NEAR_TIE of the lowest) go to the highest similarity among them only.
    best, reason = choose_best([0.30, 0.10, 0.10 + NEAR_TIE, 0.5], [0.99, 0.6, 0.7, 0.99])
    assert best == 2 and "near-ties" in reason
    assert choose_best([0.10, 0.10], [0.8, 0.8])[0] == 0  # full tie: the earlier pair
    assert choose_best([None, None], [0.5, 0.7])[0] == 1  # no ASR: similarity alone
    with pytest.raises(EvaluationError):
        choose_best([], [])


def test_pairing():
    g = [f"g{i}" for i in range(3)]
    s = [f"s{i}" for i in range(2)]
    assert pair_checkpoints(g, s) == [(a, b) for a in g for b in s]  # 6 pairs: all of them
    g5 = [f"g{i}" for i in range(5)]
    pairs = pair_checkpoints(g5, s)  # 10 combinations: each against the other's last
    assert pairs == [("g4", "s0"), ("g4", "s1"), ("g0", "s1"), ("g1", "s1"), ("g2", "s1"), ("g3", "s1")]
    assert pair_checkpoints([], s) == []


def test_evaluate_checkpoints_end_to_end(home, tmp_path, whisper):
    tiny, ref = home
    other_gpt = save_tiny_gpt(tmp_path / "models" / "other-e2.ckpt", seed=5)
    other_sovits = save_tiny_sovits(tmp_path / "models" / "other_e2_s8.pth", seed=5)
    pairs = [(tiny.gpt, tiny.sovits), (other_gpt, tiny.sovits), (tiny.gpt, other_sovits)]
    sentences = [SENTENCE, "Good morning."]
    engine = Engine(ModelRegistry(choose_device("cpu")), settings_for(tiny.root))
    calls = []
    report = evaluate_checkpoints(
        engine,
        pairs,
        (ref, REF_TEXT, "en"),
        sentences,
        "en",
        asr=whisper,
        out_dir=tmp_path / "eval",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(k, 6) for k in range(1, 7)]
    assert report.metric == "wer" and len(report.pairs) == 3
    data = json.loads((tmp_path / "eval" / "report.json").read_text(encoding="utf-8"))
    assert (tmp_path / "eval" / "report.txt").read_text(encoding="utf-8") == report.format_table()
    means, sims = [], []
    for pair, stored in zip(pairs, data["pairs"]):
        assert (stored["gpt"], stored["sovits"]) == (str(pair[0]), str(pair[1]))
        errors = []
        for sentence, row in zip(sentences, stored["sentences"]):
            audio, rate = sf.read(row["audio"], dtype="float32")
            assert rate == 32000 and len(audio) / rate == pytest.approx(row["duration_s"], abs=1e-3)
            # Each error is the WER of the stored transcript, by the independent tools.asr formula.
            assert row["error"] == pytest.approx(word_error_rate([sentence], [row["transcript"]]))
            assert -1.0 <= row["similarity"] <= 1.0
            errors.append(row["error"])
        assert stored["mean_error"] == pytest.approx(np.mean(errors))
        means.append(stored["mean_error"])
        sims.append(stored["mean_similarity"])
    # The suggested best obeys the documented rule, recomputed here from the stored numbers.
    near = [k for k in range(3) if means[k] <= min(means) + NEAR_TIE + 1e-9]
    expected = max(near, key=lambda k: (sims[k], -k))
    assert data["best"] == expected == report.best
    assert report.format_table().splitlines()[1 + expected].startswith("*")
    # Different weights, same seed: the audio differs between pairs.
    first = [sf.read(p.sentences[0].audio)[0] for p in report.pairs]
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[0], first[2])


def _experiment(root, tiny, speak, name="joe"):
    """An experiment folder as training leaves it: manifest, items (features), checkpoints."""
    import soxr

    from gpt_sovits.training.experiment import Experiment, ItemFeatures, ItemRecord, Manifest, item_id

    exp = Experiment(root / "logs", name)
    exp.write_manifest(Manifest(name, "v2", str(tiny.gpt), str(tiny.sovits), str(root / "gone" / "x.list")))
    long_text = "A much longer sentence that nobody would ever say in one go, " * 3  # > 10 s: not a reference
    for text in ("Short one.", REF_TEXT, long_text):
        audio, rate = speak(text)
        wav = torch.from_numpy(soxr.resample(audio, rate, 32000).astype(np.float32))  # [S] at 32 kHz
        source = f"clips/{len(text)}.wav"  # relative to a list that no longer exists
        rid = item_id(source, "en", text)
        record = ItemRecord(rid, source, "joe", "en", text, (1, 2), len(wav) / 32000, 1, 1, f"items/{rid}.pt")
        features = ItemFeatures(
            phones=torch.zeros(2, dtype=torch.long),
            bert=torch.zeros(1024, 2),
            ssl=torch.zeros(768, 1),
            wav=wav,
            codes=torch.zeros(1, dtype=torch.long),
        )
        exp.append_item(record, features)
    for kind in ("gpt", "sovits"):
        (exp.run_dir(kind) / "checkpoints").mkdir(parents=True)
    for epoch in (1, 2):
        save_tiny_gpt(exp.run_dir("gpt") / "checkpoints" / f"{name}-e{epoch}.ckpt", seed=epoch)
    shutil.copy(tiny.sovits, exp.run_dir("sovits") / "checkpoints" / f"{name}_e2_s10.pth")
    return exp


def test_cli_on_an_experiment(home, tmp_path, speak, whisper, monkeypatch, capsys):
    tiny, _ = home
    exp = _experiment(tmp_path, tiny, speak)
    pairs, notes = experiment_pairs(exp.root)
    gpt_dir, sovits_dir = exp.run_dir("gpt") / "checkpoints", exp.run_dir("sovits") / "checkpoints"
    sovits = sovits_dir / "joe_e2_s10.pth"
    assert pairs == [(gpt_dir / "joe-e1.ckpt", sovits), (gpt_dir / "joe-e2.ckpt", sovits)] and notes == []
    sentences = tmp_path / "held_out.txt"
    sentences.write_text("# held out\n\nGood morning.\n", encoding="utf-8")
    monkeypatch.setenv("GPT_SOVITS_HOME", str(tiny.root))  # the tiny pretrained/ (HuBERT for the reference)
    args = ["--exp", "joe", "--logs-dir", str(tmp_path / "logs"), "--sentences", str(sentences)]
    assert eval_main([*args, "--progress", "json", "--device", "cpu"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events] == ["start", "progress", "progress", "done"]
    assert events[0]["steps"] == 2 and events[2]["step"] == 2
    report = json.loads((exp.eval_dir / "report.json").read_text(encoding="utf-8"))
    # The reference is the 3-10 s clip with the longest text, taken from its stored 32 kHz audio.
    assert report["reference"]["text"] == REF_TEXT
    assert report["reference"]["audio"] == str(exp.eval_dir / "reference.wav")
    best = report["pairs"][report["best"]]
    assert events[-1]["checkpoints"] == [best["gpt"], best["sovits"]]
    assert [len(p["sentences"]) for p in report["pairs"]] == [1, 1] and report["metric"] == "wer"


def test_cli_errors(tmp_path, capsys):
    (tmp_path / "logs" / "empty").mkdir(parents=True)
    code = eval_main(["--exp", "empty", "--logs-dir", str(tmp_path / "logs"), "--progress", "json"])
    out = capsys.readouterr()
    assert code == 1 and json.loads(out.out)["event"] == "error" and "no saved checkpoints" in out.err
    assert eval_main(["--exp", "nothing", "--logs-dir", str(tmp_path / "logs")]) == 1
    with pytest.raises(EvaluationError, match="No checkpoint pairs"):
        evaluate_checkpoints(None, [], (tmp_path / "r.wav", "x", "en"), out_dir=tmp_path)
    assert len(default_sentences("zh")) == len(default_sentences("en")) == 5
