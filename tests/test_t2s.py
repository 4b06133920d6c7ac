"""Text-to-semantic GPT: checkpoint parity, manifest, batched/streamed decoding, sampling rules, training."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gpt_sovits.models.t2s import (
    ForbidEOS,
    RepetitionPenalty,
    Sampler,
    T2SConfig,
    T2SConfigError,
    T2SDecoder,
    Temperature,
    Text2SemanticModel,
    TokenBudget,
    TopK,
    TopP,
    reference_generate,
)
from gpt_sovits.models.t2s.sampling import StepContext, draw
from gpt_sovits.models.t2s.step import bag_projection, make_bag_table

EOS = 1024


# ----------------------------------------------------------------------------- helpers
def load_tiny(compat_dir) -> Text2SemanticModel:
    """The fixture GPT through the one loading path, weights converted to float32."""
    from gpt_sovits.models.loading import load_gpt

    return load_gpt(compat_dir / "fixtures" / "gpt_tiny_v2.ckpt").module.eval()


def test_loader_rejects_mismatched_weights(compat_dir, tmp_path):
    from gpt_sovits.models.checkpoint import CheckpointError
    from gpt_sovits.models.loading import load_gpt

    ckpt = torch.load(compat_dir / "fixtures" / "gpt_tiny_v2.ckpt", map_location="cpu", weights_only=True)
    weight = dict(ckpt["weight"])
    del weight["model.ar_predict_layer.weight"]
    torch.save({**ckpt, "weight": weight}, tmp_path / "cut.ckpt")
    with pytest.raises(CheckpointError, match="missing"):
        load_gpt(tmp_path / "cut.ckpt")
    bigger = {**ckpt["config"], "model": {**ckpt["config"]["model"], "n_layer": 3}}
    torch.save({**ckpt, "config": bigger}, tmp_path / "bigger.ckpt")
    with pytest.raises(CheckpointError, match="missing"):
        load_gpt(tmp_path / "bigger.ckpt")


@pytest.fixture(scope="module")
def tiny(compat_dir) -> Text2SemanticModel:
    return load_tiny(compat_dir)


@pytest.fixture(scope="module")
def io(compat_dir) -> dict[str, torch.Tensor]:
    data = np.load(compat_dir / "fixtures" / "parity_io.npz")
    return {
        k: torch.from_numpy(data[k])
        for k in ("gpt_x", "gpt_bert", "gpt_prompt", "gpt_teacher_logits", "gpt_greedy_y")
    }


def greedy_fixture_sampler() -> Sampler:
    """The fixture's settings: top-k 1, penalty 1.35, EOS forbidden 11 steps, stop after 60 (+1) codes."""
    return Sampler.official(top_k=1, top_p=1.0, temperature=1.0, repetition_penalty=1.35, max_new_tokens=61)


def small_model(seed: int = 0, layers: int = 2) -> Text2SemanticModel:
    """A random tiny model whose logits are spread enough that sampling rules matter."""
    torch.manual_seed(seed)
    cfg = T2SConfig(embedding_dim=32, hidden_dim=32, num_heads=4, num_layers=layers, phoneme_vocab_size=64)
    return Text2SemanticModel(cfg).eval()


def rows(seed: int, lengths: list[int], prompt_lengths: list[int]) -> tuple[list, list, list]:
    gen = torch.Generator().manual_seed(seed)
    phones = [torch.randint(0, 64, (n,), generator=gen) for n in lengths]
    bert = [torch.randn(1024, n, generator=gen) for n in lengths]
    prompts = [torch.randint(0, 1024, (n,), generator=gen) if n else None for n in prompt_lengths]
    return phones, bert, prompts


@dataclass(frozen=True)
class EOSAt:
    """Test rule: make EOS the best code of row b from step stops[b] on."""

    stops: tuple[int, ...]
    margin: float = 50.0

    def apply(self, logits: torch.Tensor, ctx: StepContext) -> None:
        for b, step in enumerate(self.stops):
            if ctx.step >= step:
                logits[b, EOS] = logits[b].max() + self.margin


# ------------------------------------------------------------------- parity with the fixture
def test_config_from_official(compat_dir, tiny):
    cfg = tiny.config
    assert (cfg.hidden_dim, cfg.num_heads, cfg.num_layers, cfg.ffn_dim) == (64, 4, 2, 256)
    assert (cfg.vocab_size, cfg.eos, cfg.phoneme_vocab_size) == (1025, 1024, 732)
    assert T2SConfig.v1().phoneme_vocab_size == 512 and T2SConfig.v2().num_layers == 24
    with pytest.raises(T2SConfigError):
        T2SConfig.from_official({"train": {}})
    with pytest.raises(T2SConfigError):
        T2SConfig(embedding_dim=64, hidden_dim=64, num_heads=5)


def test_teacher_logits_match_fixture(tiny, io):
    with torch.no_grad():
        logits = tiny.teacher_logits(io["gpt_x"], io["gpt_bert"], io["gpt_prompt"])
    assert logits.shape == io["gpt_teacher_logits"].shape
    assert (logits - io["gpt_teacher_logits"]).abs().max().item() < 1e-4


def test_greedy_matches_fixture_fast_and_reference(tiny, io):
    x, bert, prompt = io["gpt_x"][0], io["gpt_bert"][0], io["gpt_prompt"][0]
    expected = io["gpt_greedy_y"][0, prompt.numel() :]
    fast = T2SDecoder(tiny).generate([x], [bert], [prompt], greedy_fixture_sampler())[0]
    slow = reference_generate(tiny, x, bert, prompt, greedy_fixture_sampler())
    assert torch.equal(fast, expected)
    assert torch.equal(slow, expected)


def test_cached_step_logits_match_full_recompute(tiny, io):
    x, bert, prompt = io["gpt_x"][0], io["gpt_bert"][0], io["gpt_prompt"][0]
    codes = io["gpt_greedy_y"][0, prompt.numel() :]
    cached = T2SDecoder(tiny).forced_logits(x, bert, prompt, codes)  # [N+1, V]
    with torch.no_grad():
        full = tiny.prefix_logits(x[None], bert[None], torch.cat([prompt, codes])[None])[0, prompt.numel() :]
    assert cached.shape == full.shape == (codes.numel() + 1, 1025)
    assert (cached - full).abs().max().item() < 1e-4


# ------------------------------------------------------------------------- manifest
@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_meta_state_dict_equals_manifest(compat_dir, kind):
    manifest = json.loads((compat_dir / "state_dict_manifests.json").read_text())[f"gpt_{kind}"]
    with torch.device("meta"):
        model = Text2SemanticModel(getattr(T2SConfig, kind)())
    got = {
        f"model.{k}": (list(v.shape), str(v.dtype).removeprefix("torch."))
        for k, v in model.state_dict().items()
    }
    assert got == {k: (v["shape"], v["dtype"]) for k, v in manifest.items()}


# --------------------------------------------------------------------- batched decoding
def test_batched_greedy_equals_per_row():
    model = small_model()
    phones, bert, prompts = rows(1, [7, 12, 4], [5, 0, 9])  # row 1 is reference-free
    sampler = Sampler.official(top_k=1, repetition_penalty=1.35, max_new_tokens=25)
    dec = T2SDecoder(model)
    batch = dec.generate(phones, bert, prompts, sampler)
    for b in range(3):
        single = dec.generate([phones[b]], [bert[b]], [prompts[b]], sampler)[0]
        slow = reference_generate(model, phones[b], bert[b], prompts[b], sampler)
        assert torch.equal(batch[b], single)
        assert torch.equal(batch[b], slow)
        assert batch[b].numel() == 25


def test_per_row_stop_in_batch():
    model = small_model(3)
    phones, bert, prompts = rows(2, [6, 9, 5], [3, 8, 0])
    stops = (13, 4, 20)

    def sampler(stop_steps):
        return Sampler(
            [ForbidEOS(EOS, 2), RepetitionPenalty(1.35), EOSAt(stop_steps)], [TopK(1)], TokenBudget(30)
        )

    dec = T2SDecoder(model)
    batch = dec.generate(phones, bert, prompts, sampler(stops))
    assert [t.numel() for t in batch] == list(stops)
    for b in range(3):
        assert torch.equal(
            batch[b], reference_generate(model, phones[b], bert[b], prompts[b], sampler((stops[b],)))
        )


def test_argmax_eos_stops_even_when_another_code_is_sampled():
    model = small_model(4)
    phones, bert, prompts = rows(5, [8], [6])
    # EOS is the best code by a hair at step 3, but with a huge temperature almost anything is drawn.
    sampler = Sampler([EOSAt((3,), margin=1e-3)], [Temperature(1e4), TopK(0)], TokenBudget(30))
    gen = torch.Generator().manual_seed(0)
    out = T2SDecoder(model).generate(phones, bert, prompts, sampler, generator=gen)[0]
    assert out.numel() == 3


def test_min_length_rule_forbids_early_eos():
    model = small_model(6)
    phones, bert, prompts = rows(7, [5], [4])
    # EOS is made the best code from step 0 on; the official rule (after it) holds it back 11 steps.
    official_order = Sampler([EOSAt((0,)), ForbidEOS(EOS, 11)], [TopK(1)], TokenBudget(40))
    assert T2SDecoder(model).generate(phones, bert, prompts, official_order)[0].numel() == 11
    # Rules apply in list order: boosting EOS after the ban overrides it.
    reversed_order = Sampler([ForbidEOS(EOS, 11), EOSAt((0,))], [TopK(1)], TokenBudget(40))
    assert T2SDecoder(model).generate(phones, bert, prompts, reversed_order)[0].numel() == 0


def test_stream_chunks_concatenate_to_generate():
    model = small_model(8)
    phones, bert, prompts = rows(9, [6, 10], [7, 0])
    sampler = Sampler(
        [ForbidEOS(EOS, 2), RepetitionPenalty(1.35), EOSAt((17, 40))], [TopK(1)], TokenBudget(40)
    )
    dec = T2SDecoder(model)
    whole = dec.generate(phones, bert, prompts, sampler)
    chunks = list(dec.stream(phones, bert, prompts, sampler, chunk_size=5))
    for b in range(2):
        mine = [c for c in chunks if c.row == b]
        assert [c.final for c in mine] == [False] * (len(mine) - 1) + [True]
        assert all(c.tokens.numel() == 5 for c in mine[:-1]) and mine[-1].tokens.numel() < 5
        assert torch.equal(torch.cat([c.tokens for c in mine]), whole[b])
    assert [whole[0].numel(), whole[1].numel()] == [17, 40]
    # A row's final chunk comes when it stops, before the other row's later chunks.
    order = [(c.row, c.final) for c in chunks]
    assert order.index((0, True)) < len(order) - 1


def test_seeded_sampling_is_reproducible_and_matches_reference():
    model = small_model(10)
    phones, bert, prompts = rows(11, [9], [6])
    sampler = Sampler.official(
        top_k=15, top_p=0.9, temperature=1.0, repetition_penalty=1.35, max_new_tokens=30
    )
    dec = T2SDecoder(model)
    runs = [dec.generate(phones, bert, prompts, sampler, torch.Generator().manual_seed(s)) for s in (1, 1, 2)]
    assert torch.equal(runs[0][0], runs[1][0])
    assert not torch.equal(runs[0][0], runs[2][0])
    slow = reference_generate(
        model, phones[0], bert[0], prompts[0], sampler, torch.Generator().manual_seed(1)
    )
    assert torch.equal(runs[0][0], slow)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_weight_decoder_close_to_float32(dtype):
    model = small_model(12)
    phones, bert, prompts = rows(13, [8], [5])
    codes = torch.randint(0, 1024, (10,), generator=torch.Generator().manual_seed(0))
    ref = T2SDecoder(model).forced_logits(phones[0], bert[0], prompts[0], codes)
    low = T2SDecoder(model, weight_dtype=dtype).forced_logits(phones[0], bert[0], prompts[0], codes)
    assert low.dtype == torch.float32
    err = (low[1:] - ref[1:]).abs().max().item()  # row 0 comes from the float32 prefix
    assert (low[0] - ref[0]).abs().max().item() < 1e-5
    assert 0 < err < (0.05 if dtype == torch.bfloat16 else 0.01) * ref.abs().max().item()
    phones, bert, prompts = rows(14, [8, 5], [5, 0])
    sampler = Sampler([ForbidEOS(EOS, 100)], [TopK(1)], TokenBudget(12))
    batch = T2SDecoder(model, weight_dtype=dtype).generate(phones, bert, prompts, sampler)
    assert [t.numel() for t in batch] == [12, 12]


@pytest.mark.parametrize("splits", [1, 2, 4, "linear"])
def test_step_kernels_agree(tiny, io, splits):
    x, bert, prompt = io["gpt_x"][0], io["gpt_bert"][0], io["gpt_prompt"][0]
    codes = io["gpt_greedy_y"][0, prompt.numel() :]
    with torch.no_grad():
        full = tiny.prefix_logits(x[None], bert[None], torch.cat([prompt, codes])[None])[0, prompt.numel() :]
    if splits == "linear":  # the F.linear step used on devices other than the CPU
        dec = T2SDecoder(tiny)
        dec.tables = dec.predict_table = None
    else:
        dec = T2SDecoder(tiny, splits=splits)
    cached = dec.forced_logits(x, bert, prompt, codes)
    assert (cached - full).abs().max().item() < 1e-4


@pytest.mark.parametrize(
    "rows_, parts, bias, relu",
    [(1, 1, True, False), (1, 2, True, True), (3, 4, False, False), (2, 3, True, False)],
)
def test_bag_projection_equals_linear(rows_, parts, bias, relu):
    gen = torch.Generator().manual_seed(parts)
    weight = torch.randn(24, 10, generator=gen)
    b = torch.randn(24, generator=gen) if bias else None
    x = torch.randn(rows_, 10, generator=gen)
    table = make_bag_table(weight, b, torch.float32, parts)
    assert table.parts == parts  # 24 columns split evenly
    got = bag_projection(table, rows_, relu=relu)(x)
    want = F.linear(x, weight, b)
    want = want.relu() if relu else want
    assert got.shape == (rows_, 24)
    assert (got - want).abs().max().item() < 1e-5
    assert make_bag_table(torch.randn(25, 10), None, torch.float32, 2).parts == 1  # 25 does not split


# --------------------------------------------------------------------- sampling rules
def ctx(step: int = 0, seen=None, vocab: int = 4) -> StepContext:
    return StepContext(
        step, torch.zeros(1, vocab, dtype=torch.bool) if seen is None else torch.tensor([seen])
    )


def test_repetition_penalty_by_hand():
    logits = torch.tensor([[2.0, -2.0, 1.0, 0.5]])
    RepetitionPenalty(2.0).apply(logits, ctx(seen=[True, True, False, False]))
    assert logits.tolist() == [[1.0, -4.0, 1.0, 0.5]]


def test_forbid_eos_by_hand():
    logits = torch.zeros(1, 4)
    ForbidEOS(3, steps=11).apply(logits, ctx(step=10))
    assert logits[0, 3].item() == -math.inf
    logits = torch.zeros(1, 4)
    ForbidEOS(3, steps=11).apply(logits, ctx(step=11))
    assert logits[0, 3].item() == 0.0


def probs_after(rules: list, logits: list[float]) -> list[float]:
    """Final candidate distribution over the vocabulary after the candidate rules."""
    sampler = Sampler([], rules)
    full = torch.tensor([logits])
    cand = sampler.candidates(full)
    for rule in sampler.candidate_rules:
        rule.apply(cand)
    out = torch.zeros_like(full)
    out.scatter_(1, cand.indices, torch.softmax(cand.values, dim=-1))
    return [round(v, 6) for v in out[0].tolist()]


P = [0.5, 0.3, 0.15, 0.05]
LOGP = [math.log(p) for p in P]


def test_top_k_by_hand():
    assert probs_after([TopK(2)], LOGP) == [0.625, 0.375, 0.0, 0.0]
    assert probs_after([TopK(0)], LOGP) == P


def test_top_p_by_hand():
    # Cumulative 0.5, 0.8, 0.95, 1.0: a code goes once the sum including it exceeds p; the best stays.
    assert probs_after([TopP(0.85)], LOGP) == [0.625, 0.375, 0.0, 0.0]
    assert probs_after([TopP(0.7)], LOGP) == [1.0, 0.0, 0.0, 0.0]
    assert probs_after([TopP(0.1)], LOGP) == [1.0, 0.0, 0.0, 0.0]
    # Top-p normalises over the whole vocabulary even when top-k cut the candidates first.
    assert probs_after([TopK(2), TopP(0.85)], LOGP) == [0.625, 0.375, 0.0, 0.0]


def test_temperature_by_hand():
    sq = [math.sqrt(p) for p in P]
    assert probs_after([Temperature(2.0)], LOGP) == [round(s / sum(sq), 6) for s in sq]
    # Official order: top-p sees the untempered probabilities.
    assert probs_after([TopP(0.7), Temperature(2.0)], LOGP) == [1.0, 0.0, 0.0, 0.0]


def test_draw_is_inverse_cdf_of_one_uniform():
    values = torch.tensor([[math.log(0.625), math.log(0.375)], [0.0, -math.inf]])
    indices = torch.tensor([[7, 3], [2, 9]])
    for seed in range(20):
        u = torch.rand(2, 1, generator=torch.Generator().manual_seed(seed))
        got = draw(values, indices, torch.Generator().manual_seed(seed))
        assert got.tolist() == [7 if u[0, 0] < 0.625 else 3, 2]


def test_token_budget():
    assert TokenBudget.from_early_stop_num(60).max_new_tokens == 61
    assert TokenBudget.from_early_stop_num(-1).max_new_tokens == 1500
    model = small_model(14)
    phones, bert, prompts = rows(15, [5], [3])
    sampler = Sampler([ForbidEOS(EOS, 100)], [TopK(1)], TokenBudget(17))
    assert T2SDecoder(model).generate(phones, bert, prompts, sampler)[0].numel() == 17


def test_sampler_best_is_argmax_after_logits_rules():
    sampler = Sampler([RepetitionPenalty(10.0)], [TopK(3)])
    logits = torch.tensor([[5.0, 4.0, 0.0, -1.0]])
    out = sampler(logits, ctx(seen=[True, False, False, False]), torch.Generator().manual_seed(0))
    assert out.best.tolist() == [1]  # 5 / 10 = 0.5 < 4


# ------------------------------------------------------------------------- training
def test_training_loss_equals_hand_cross_entropy():
    model = small_model(16)
    phones, bert, prompts = rows(17, [7], [9])
    codes = prompts[0]
    out = model(phones[0][None], torch.tensor([7]), codes[None], torch.tensor([9]), bert[0][None])
    with torch.no_grad():
        logits = model.prefix_logits(phones[0][None], bert[0][None], codes[None])[0]  # [10, V]
    targets = torch.cat([codes, torch.tensor([EOS])])
    logp = torch.log_softmax(logits.double(), dim=-1)
    hand = -sum(logp[i, t].item() for i, t in enumerate(targets.tolist()))
    assert math.isfinite(out.loss.item())
    assert out.loss.item() == pytest.approx(hand, rel=1e-5)
    top3 = logits.topk(3, dim=-1).indices
    hits = [targets[i].item() in top3[i].tolist() for i in range(9)]  # the EOS target is ignored
    assert out.accuracy.item() == pytest.approx(sum(hits) / 9)


def test_training_padding_is_masked():
    model = small_model(18)
    phones, bert, prompts = rows(19, [5, 8], [6, 4])
    tx, ty = 8, 6
    ph = torch.zeros(2, tx, dtype=torch.long)
    be = torch.zeros(2, 1024, tx)
    co = torch.full((2, ty), 3, dtype=torch.long)
    for b in range(2):
        ph[b, : phones[b].numel()] = phones[b]
        be[b, :, : phones[b].numel()] = bert[b]
        co[b, : prompts[b].numel()] = prompts[b]
    out = model(ph, torch.tensor([5, 8]), co, torch.tensor([6, 4]), be)
    assert out.targets[1].tolist() == prompts[1].tolist() + [EOS] * 3
    with torch.no_grad():
        for b in range(2):
            alone = model.prefix_logits(phones[b][None], bert[b][None], prompts[b][None])[0]
            n = prompts[b].numel() + 1
            assert (out.logits[b, :n] - alone).abs().max().item() < 1e-4


def test_training_loss_decreases():
    torch.manual_seed(20)
    model = small_model(20).train()
    phones, bert, prompts = rows(21, [6, 6], [10, 10])
    ph, be, co = torch.stack(phones), torch.stack(bert), torch.stack(prompts)
    lens_x, lens_y = torch.tensor([6, 6]), torch.tensor([10, 10])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        out = model(ph, lens_x, co, lens_y, be)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0]
