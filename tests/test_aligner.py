"""The SoVITS phone aligner: MAS durations, isolation from the official weights, file round trip, and what
a short training on real piper speech learns (durations that follow the speech, mislabelled clips scored low).
"""

from __future__ import annotations

import pytest
import torch
from aligner_data import WRONG_LABEL, batch, trained_corpus
from tiny_models import save_tiny_sovits, sovits_config

from gpt_sovits.models.checkpoint import read_checkpoint
from gpt_sovits.models.identify import identify
from gpt_sovits.models.loading import load_sovits
from gpt_sovits.models.saving import save_sovits_file
from gpt_sovits.models.sovits import SoVITSConfig, SoVITSSynthesizer
from gpt_sovits.models.sovits.aligner import (
    QA_DURATION_ERROR,
    QA_SCORE_RATIO,
    AlignerConfig,
    PhoneAligner,
    flag_mislabelled,
    gaussian_log_likelihood,
)


def tiny_model(with_aligner: bool = True, seed: int = 0) -> SoVITSSynthesizer:
    torch.manual_seed(seed)
    cfg = SoVITSConfig.from_hparams(sovits_config("v2"), version="v2")
    return SoVITSSynthesizer(cfg, with_posterior=False, with_aligner=with_aligner).eval()


@pytest.fixture(scope="module")
def trained(speak_exact, tmp_path_factory):
    return trained_corpus(speak_exact, tmp_path_factory)


def random_inputs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    p_len = torch.tensor([7, 12, 3])
    t_len = torch.tensor([30, 41, 3])
    states = torch.randn(3, 32, 12, generator=gen)  # [B, H, P]
    content = torch.randn(3, 768, 41, generator=gen)  # [B, D, T]
    return states, p_len, content, t_len


def test_gaussian_log_likelihood_matches_reference():
    gen = torch.Generator().manual_seed(1)
    mean = torch.randn(2, 5, 4, generator=gen)
    log_std = 0.3 * torch.randn(2, 5, 4, generator=gen)
    frames = torch.randn(2, 5, 6, generator=gen)
    ref = torch.distributions.Normal(mean[:, :, :, None], log_std.exp()[:, :, :, None])
    expected = ref.log_prob(frames[:, :, None, :]).sum(1)  # [B, P, T]
    torch.testing.assert_close(gaussian_log_likelihood(mean, log_std, frames), expected, atol=1e-4, rtol=1e-5)


def test_durations_sum_to_frames_and_path_is_monotonic():
    aligner = PhoneAligner(AlignerConfig(phone_channels=32)).eval()
    states, p_len, content, t_len = random_inputs()
    out = aligner(states, p_len, content, t_len)
    assert out.path.shape == (3, 12, 41) and out.durations.shape == (3, 12)
    assert torch.equal(out.durations.sum(1), t_len)
    for b in range(3):
        d = out.durations[b]
        assert bool((d[: p_len[b]] >= 1).all()) and int(d[p_len[b] :].abs().sum()) == 0
        # each frame has one phone, and the phone index never decreases along the frames
        phone_of_frame = out.path[b, :, : t_len[b]].argmax(0)
        assert torch.equal(out.path[b, :, : t_len[b]].sum(0), torch.ones(int(t_len[b])))
        assert bool((phone_of_frame.diff() >= 0).all()) and bool((phone_of_frame.diff() <= 1).all())
    assert torch.isfinite(out.nll) and torch.isfinite(out.duration_loss)
    a = aligner.analyse(states, p_len, content, t_len)
    assert torch.equal(a.durations, out.durations)
    assert bool((a.gap <= 1e-6).all()) and bool((a.score <= 0).all())
    assert torch.equal(a.predicted == 0, torch.arange(12)[None] >= p_len[:, None])


def test_gradients_reach_only_the_aligner():
    model = tiny_model()
    model.train()
    ids = torch.randint(1, 700, (2, 9))
    p_len = torch.tensor([9, 6])
    codes = torch.randint(0, 1024, (2, 1, 15))
    with torch.no_grad():  # detached inputs, as the SoVITS trainer gives them
        states = model.phone_states(ids, p_len)
        content = model.content_from_codes(codes)
    out = model.aligner(states, p_len, content, torch.tensor([30, 24]))
    (out.nll + out.duration_loss).backward()
    for name, p in model.named_parameters():
        if name.startswith("aligner."):
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        else:
            assert p.grad is None, name
    assert any(float(p.grad.abs().sum()) > 0 for p in model.aligner.prior.parameters())
    assert any(float(p.grad.abs().sum()) > 0 for p in model.aligner.duration.parameters())


def test_encode_phones_is_the_text_branch_of_forward():
    model = tiny_model(with_aligner=False)
    ids = torch.randint(1, 700, (1, 10))
    p_len = torch.tensor([10])
    states = model.phone_states(ids, p_len)
    captured = {}

    def keep_phone_input(module, args, out) -> None:
        captured["t"] = args[2]  # MRTE(y, y_mask, text, text_mask, ge)

    hook = model.enc_p.mrte.register_forward_hook(keep_phone_input)
    try:
        model.enc_p(torch.randn(1, 768, 20), torch.tensor([20]), ids, p_len, torch.randn(1, 512, 1))
    finally:
        hook.remove()
    torch.testing.assert_close(states, captured["t"])


def test_content_from_codes_is_what_decode_reads():
    model = tiny_model(with_aligner=False)
    codes = torch.randint(0, 1024, (1, 1, 8))
    content = model.content_from_codes(codes)
    assert content.shape == (1, 768, 16)
    embed = model.quantizer.vq.layers[0]._codebook.embed
    torch.testing.assert_close(content[0, :, 0::2], embed[codes[0, 0]].T)
    torch.testing.assert_close(content[0, :, 1::2], embed[codes[0, 0]].T)


def test_file_round_trip_keeps_aligner_and_official_loading_ignores_it(tmp_path):
    plain = save_tiny_sovits(tmp_path / "plain.pth")
    raw = read_checkpoint(plain)
    model = tiny_model()
    own = model.state_dict()
    weights = {k: raw.weight[k].float() if k in raw.weight else v for k, v in own.items()}
    path = save_sovits_file(
        tmp_path / "with_aligner.pth", weights, sovits_config("v2"), version="v2", info="x"
    )
    saved = read_checkpoint(path)
    aligner_keys = {k for k in saved.weight if k.startswith("aligner.")}
    assert aligner_keys == {k for k in own if k.startswith("aligner.")} and aligner_keys
    assert identify(saved).version == "v2" and identify(saved).kind == "sovits"

    loaded = load_sovits(path).module  # prepared for inference: the aligner survives
    assert loaded.has_aligner and not hasattr(loaded, "enc_q")
    for k in aligner_keys:
        torch.testing.assert_close(loaded.state_dict()[k], weights[k].half().float())
    assert not load_sovits(plain).module.has_aligner

    # upstream's loading: build the official model, copy the weights with strict=False
    official = tiny_model(with_aligner=False)
    result = official.load_state_dict({k: v.float() for k, v in saved.weight.items()}, strict=False)
    assert set(result.unexpected_keys) == aligner_keys and not result.missing_keys
    codes = torch.randint(0, 1024, (1, 1, 10))
    phones = torch.randint(1, 700, (1, 8))
    ref = torch.rand(1, 1025, 40)
    official.prepare_for_inference()
    ours = load_sovits(path).module
    torch.testing.assert_close(
        official.decode(codes, phones, ref, noise_scale=0), ours.decode(codes, phones, ref, noise_scale=0)
    )


def test_training_learns_durations_that_follow_the_speech(trained):
    model, clips = trained.corpus.model, trained.corpus.clips
    nll = [h[0] for h in trained.history]
    assert sum(nll[-20:]) / 20 < 0.5 * sum(nll[:20]) / 20  # the prior fits the frames far better
    a = model.aligner.analyse(*batch(model, clips, trained.labels))
    frames = torch.tensor([2 * len(c.codes) for c in clips])
    assert torch.equal(a.durations.sum(1), frames)  # MAS durations sum to every clip's frame count
    # the duration predictor, from the phones alone, recovers each clip's length (held-out clips too)
    predicted = a.predicted.sum(1)
    for group in (trained.train, trained.held):
        rel = ((predicted[group] - frames[group]).abs() / frames[group]).mean()
        assert float(rel) < 0.35, group
    assert torch.corrcoef(torch.stack([predicted, frames.float()]))[0, 1] > 0.9
    phones = torch.tensor([len(trained.labels[i]) for i in range(len(clips))])
    # more phones, more frames: the two sentences with most phones get the most frames
    longest = phones.argsort(descending=True)[:2]
    assert set(frames.argsort(descending=True)[:2].tolist()) == set(longest.tolist())


def test_qa_flags_the_clip_whose_label_is_another_sentence(trained):
    model, clips = trained.corpus.model, trained.corpus.clips
    idx = trained.train
    wrong, other = WRONG_LABEL
    labels = [trained.labels[other] if i == wrong else trained.labels[i] for i in idx]
    a = model.aligner.analyse(*batch(model, [clips[i] for i in idx], labels))
    flags = flag_mislabelled(a.score, a.duration_error)
    assert [i for i, f in zip(idx, flags.tolist()) if f] == [wrong], (a.score, a.duration_error)
    k = idx.index(wrong)
    assert int(a.score.argmin()) == k and int(a.duration_error.argmax()) == k
    # every correctly labelled clip fits its own transcript better than another sentence's
    others = [i for i in idx if i != wrong]
    swapped = [trained.labels[others[(j + 3) % len(others)]] for j in range(len(others))]
    ok = [j for j, i in enumerate(others) if len(swapped[j]) <= 2 * len(clips[i].codes)]
    true_a = model.aligner.analyse(*batch(model, [clips[others[j]] for j in ok]))
    swap_a = model.aligner.analyse(*batch(model, [clips[others[j]] for j in ok], [swapped[j] for j in ok]))
    assert len(ok) >= 15
    assert bool((swap_a.score < true_a.score).all())
    assert bool((swap_a.duration_error > true_a.duration_error).all())
    assert not bool(flag_mislabelled(true_a.score, true_a.duration_error).any())
    # each swapped label is flagged against the correctly labelled clips' median
    median = true_a.score.median()
    swapped_flags = (swap_a.score < QA_SCORE_RATIO * median) | (swap_a.duration_error > QA_DURATION_ERROR)
    assert bool(swapped_flags.all()), (swap_a.score / median, swap_a.duration_error)
