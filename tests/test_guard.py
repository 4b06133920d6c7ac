"""The alignment guard and length prior: synthetic deletions and repetitions of real clips' codes, and the
engine's bounded regeneration with an aligner-bearing SoVITS file."""

from __future__ import annotations

import pytest
import torch
from aligner_data import trained_corpus
from tiny_models import make_tiny_home, sovits_config, write_speech

from gpt_sovits.device import choose_device
from gpt_sovits.inference import Engine, SynthesisOptions
from gpt_sovits.inference.guard import GuardOutcome, check_codes, length_budget, predicted_frames
from gpt_sovits.inference.textprep import LENGTH_MARGIN, prior_budget, token_budget
from gpt_sovits.models.saving import save_sovits_file
from gpt_sovits.registry.registry import ModelRegistry
from gpt_sovits.settings import Settings

DELETE = 10  # tokens (0.4 s, a word or two) cut from the middle of a clip
REPEAT = 20  # tokens (0.8 s) said twice in the middle of a clip
REF_TEXT = "The quick brown fox jumps over the lazy dog near the quiet river bank."


@pytest.fixture(scope="module")
def trained(speak_exact, tmp_path_factory):
    return trained_corpus(speak_exact, tmp_path_factory)


def deleted(codes: torch.Tensor) -> torch.Tensor:
    mid = len(codes) // 2
    return torch.cat([codes[: mid - DELETE // 2], codes[mid + DELETE // 2 :]])


def repeated(codes: torch.Tensor) -> torch.Tensor:
    mid = len(codes) // 2
    half = REPEAT // 2
    return torch.cat([codes[: mid + half], codes[mid - half : mid + half], codes[mid + half :]])


def test_prior_budget_is_the_smaller_bound():
    assert prior_budget(30, 100.0) == 2 * 100 // 2 + LENGTH_MARGIN
    assert prior_budget(30, 1e6) == token_budget(30)
    assert prior_budget(30, 0.0) == LENGTH_MARGIN


def test_guard_passes_true_codes_and_catches_deletions_and_repetitions(trained):
    model, clips = trained.corpus.model, trained.corpus.clips
    rows = [i for i in trained.train if len(clips[i].codes) >= 40]  # clips the aligner was trained on
    verdicts = {
        name: [check_codes(model, clips[i].phones, edit(clips[i].codes)) for i in rows]
        for name, edit in (("true", lambda c: c), ("deletion", deleted), ("repetition", repeated))
    }
    assert len(rows) >= 15
    assert all(v.ok for v in verdicts["true"]), [v.reasons for v in verdicts["true"]]
    caught_del = [not v.ok for v in verdicts["deletion"]]
    caught_rep = [not v.ok for v in verdicts["repetition"]]
    # measured: 19-20 of 21 deletions and 20-21 of 21 repetitions caught
    assert sum(caught_del) >= 0.8 * len(rows), caught_del
    assert sum(caught_rep) >= 0.8 * len(rows), caught_rep
    assert any("skipped" in r for v in verdicts["deletion"] for r in v.reasons)
    assert any("repetition" in r for v in verdicts["repetition"] for r in v.reasons)
    # the badness used to keep the best attempt ranks the true codes first
    for t, d, r in zip(verdicts["true"], verdicts["deletion"], verdicts["repetition"]):
        assert t.badness == 0 and (d.ok or d.badness > 0) and (r.ok or r.badness > 0)


def test_length_prior_leaves_room_for_real_speech(trained):
    model, clips = trained.corpus.model, trained.corpus.clips
    for i in trained.train + trained.held:
        c = clips[i]
        budget = length_budget(model, c.phones)
        assert len(c.codes) < budget <= token_budget(len(c.phones)), (c.text, len(c.codes), budget)
        assert budget == prior_budget(len(c.phones), predicted_frames(model, c.phones))


# ---------------------------------------------------------------------------------------------- engine
@pytest.fixture(scope="module")
def engine_home(trained, tmp_path_factory, speak):
    root = tmp_path_factory.mktemp("guard_home")
    make_tiny_home(root)
    ref = write_speech(speak, root / "ref.wav", REF_TEXT)
    weights = trained.corpus.model.state_dict()
    sovits = save_sovits_file(root / "aligned.pth", weights, sovits_config("v2"), version="v2", info="test")
    settings = Settings(
        home=root, pretrained_dir=root / "pretrained", voices_dir=root / "v", logs_dir=root / "logs"
    )
    return Engine(ModelRegistry(choose_device("cpu")), settings), sovits, ref


def engine_options(home, text: str, **kw) -> SynthesisOptions:
    _, sovits, ref = home
    base = dict(text=text, text_lang="en", ref_audio=(ref,), ref_text=REF_TEXT, ref_lang="en", seed=3)
    base["sovits_path"] = sovits
    base.update(kw)
    return SynthesisOptions(**base)


def scripted(engine, monkeypatch, attempts: list[torch.Tensor]):
    """Make the GPT return ``attempts`` in order (one per generation call), recording the call sizes."""
    calls = []

    def fake(gpt, phones, bert, prompts, sampler, gen, cancel):
        calls.append(len(phones))
        return [attempts[min(len(calls) - 1, len(attempts) - 1)].clone() for _ in phones]

    monkeypatch.setattr(engine, "_generate", fake)
    return calls


def test_engine_regenerates_a_segment_that_skips_words(trained, engine_home, monkeypatch):
    engine = engine_home[0]
    clip = trained.corpus.clips[trained.train[2]]
    calls = scripted(engine, monkeypatch, [deleted(clip.codes), clip.codes])
    result = engine.synthesize(engine_options(engine_home, clip.text))
    (seg,) = result.segments
    assert len(seg.phones) == len(clip.phones)  # the engine's row is the clip's transcript
    assert calls == [1, 1]  # the batch, then one regeneration of that row
    assert seg.guard_ok is True and seg.guard_attempts == 1 and seg.tokens == len(clip.codes)
    assert seg.guard_reasons and "skipped" in seg.guard_reasons[0]
    assert any("regenerated 1 time" in w for w in result.warnings)
    assert len(result.audio) == len(clip.codes) * 1280  # the kept attempt is the one decoded


def test_engine_keeps_the_least_bad_attempt_within_the_retry_bound(trained, engine_home, monkeypatch):
    engine = engine_home[0]
    clip = trained.corpus.clips[trained.train[2]]
    calls = scripted(engine, monkeypatch, [repeated(clip.codes), deleted(clip.codes), deleted(clip.codes)])
    result = engine.synthesize(engine_options(engine_home, clip.text, guard_retries=2))
    (seg,) = result.segments
    first = check_codes(trained.corpus.model, clip.phones, repeated(clip.codes))
    second = check_codes(trained.corpus.model, clip.phones, deleted(clip.codes))
    assert not first.ok and not second.ok
    assert calls == [1, 1, 1] and seg.guard_attempts == 2 and seg.guard_ok is False
    kept = repeated(clip.codes) if first.badness <= second.badness else deleted(clip.codes)
    assert seg.tokens == len(kept)
    assert any("still looks wrong" in w for w in result.warnings)


def test_engine_guard_off_and_no_aligner_behave_as_before(trained, engine_home, monkeypatch):
    engine = engine_home[0]
    clip = trained.corpus.clips[trained.train[2]]
    calls = scripted(engine, monkeypatch, [deleted(clip.codes), clip.codes])
    (seg,) = engine.synthesize(engine_options(engine_home, clip.text, guard_retries=0)).segments
    assert calls == [1] and seg.guard_ok is None and seg.guard_attempts == 0
    assert seg.tokens == len(deleted(clip.codes))
    # a file without an aligner: no guard, and the phone-count budget
    plain = engine.settings.pretrained_dir / "gsv-v2final-pretrained/s2G2333k.pth"
    calls.clear()
    (seg,) = engine.synthesize(engine_options(engine_home, clip.text, sovits_path=plain)).segments
    assert calls == [1] and seg.guard_ok is None
    assert seg.token_budget == token_budget(len(seg.phones))


def test_engine_applies_the_length_prior_and_reports_real_runs(trained, engine_home):
    engine = engine_home[0]
    clip = trained.corpus.clips[trained.train[2]]
    result = engine.synthesize(engine_options(engine_home, clip.text, guard_retries=1))
    (seg,) = result.segments
    expected = length_budget(trained.corpus.model, clip.phones)
    assert seg.token_budget == expected < token_budget(len(seg.phones))
    assert seg.tokens <= expected
    # the random tiny GPT produces codes unrelated to the text: the guard judges them and stays in bounds
    assert seg.guard_ok is not None and seg.guard_attempts <= 1
    assert seg.guard_ok or len(seg.guard_reasons) >= 1
    streamed = list(engine.stream(engine_options(engine_home, clip.text, guard_retries=1)))
    (sseg,) = streamed[-1].result.segments
    assert sseg.guard_attempts == 0 and sseg.guard_ok is not None  # streaming checks, never regenerates


def test_guard_outcome_warnings_name_the_segment():
    assert "segment 3" in GuardOutcome(True, 1, ("attempt 0: x",)).warning(3)
    assert "streaming" in GuardOutcome(False, 0, ("attempt 0: x",)).warning(1, streaming=True)
