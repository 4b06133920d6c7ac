"""Decode speed of the text-to-semantic GPT at full v2 size on CPU.

Workload: 50 phones, a 75-code prompt, 250 new codes with EOS suppressed (official sampling: top-k 15,
repetition penalty 1.35, seeded), random weights. Reports tokens/s of the decode loop (prefill timed
separately) for float32 and bf16, the ratio to the 39 tokens/s the original implementation reached on
the reference machine, the implied weight bandwidth (77.6 M weights read per token), and how far bf16
logits/codes drift from float32. ``--baseline`` also times a naive loop in the same process (growing
cache by concatenation, full-vocabulary sort), which is a fairer yardstick on a busy machine.

    python bench/gpt_decode.py [--threads 2] [--repeats 3] [--tokens 250] [--baseline]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from gpt_sovits.models.t2s import T2SConfig, T2SDecoder, Text2SemanticModel, bf16_supported
from gpt_sovits.models.t2s.model import prefix_mask
from gpt_sovits.models.t2s.sampling import (
    ForbidEOS,
    RepetitionPenalty,
    Sampler,
    Temperature,
    TokenBudget,
    TopK,
    TopP,
)

ORIGINAL_TOKENS_PER_S = 39.0
WEIGHTS_PER_TOKEN = 77.6e6


def build(seed: int = 0) -> tuple[Text2SemanticModel, tuple[list, list, list]]:
    """Full-size v2 model with random weights plus one 50-phone / 75-code input."""
    torch.manual_seed(seed)
    model = Text2SemanticModel(T2SConfig.v2()).eval()
    with torch.no_grad():
        for p in model.parameters():  # small random weights keep activations in a sane range
            if p.dim() > 1:
                p.normal_(0.0, 0.02)
    phones = torch.randint(0, model.config.phoneme_vocab_size, (50,))
    return model, ([phones], [torch.randn(1024, 50)], [torch.randint(0, 1024, (75,))])


def sampler_for(tokens: int, top_k: int = 15) -> Sampler:
    """Official sampling with EOS forbidden for the whole run, so exactly ``tokens`` codes come out."""
    return Sampler(
        [ForbidEOS(1024, tokens + 1), RepetitionPenalty(1.35)],
        [TopP(1.0), Temperature(1.0), TopK(top_k)],
        TokenBudget(tokens),
    )


def time_decoder(
    decoder: T2SDecoder, inputs: tuple, tokens: int, repeats: int
) -> tuple[float, float, torch.Tensor]:
    """Best prefill time, best decode-loop time (``tokens`` codes) and the codes of the last run."""
    prefill = min(_timed(lambda: decoder.generate(*inputs, sampler=sampler_for(1))) for _ in range(repeats))
    best, out = float("inf"), torch.empty(0)
    for _ in range(repeats):
        gen = torch.Generator().manual_seed(1234)
        start = time.perf_counter()
        out = decoder.generate(*inputs, sampler=sampler_for(tokens), generator=gen)[0]
        best = min(best, time.perf_counter() - start)
    assert out.numel() == tokens
    return prefill, best - prefill, out


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@torch.inference_mode()
def naive_decode(model: Text2SemanticModel, inputs: tuple, tokens: int) -> float:
    """Decode-loop seconds of a naive loop: cache grown by torch.cat, full-vocabulary sort each step."""
    (phones,), (bert,), (prompt,) = inputs
    x, y = model.embed_text(phones[None], bert[None]), model.embed_audio(prompt[None])
    tx, seq = x.shape[1], x.shape[1] + y.shape[1]
    is_text = (torch.arange(seq) < tx)[None]
    mask = prefix_mask(is_text, torch.ones_like(is_text))
    h, caches = torch.cat([x, y], 1), []
    for layer in model.h.layers:
        kv = [torch.empty(0), torch.empty(0)]
        caches.append(kv)
        h = _naive_layer(h, layer.params(), mask, kv)
    codes, pos_table = prompt.clone(), model.ar_audio_position.scaled_table(seq + tokens, x.device, x.dtype)
    logits = F.linear(h[:, -1], model.ar_predict_layer.weight)
    start = time.perf_counter()
    for step in range(tokens):
        logits = logits.clone()
        score = logits.gather(1, codes[None])
        logits.scatter_(1, codes[None], torch.where(score < 0, score * 1.35, score / 1.35))
        logits[:, 1024] = float("-inf")
        values, order = torch.sort(logits, descending=True)
        probs = torch.softmax(values[:, :15], -1)
        pick = torch.multinomial(probs, 1)
        token = order.gather(1, pick)[0]
        codes = torch.cat([codes, token])
        h = (model.ar_audio_embedding.weight[token] + pos_table[75 + step])[None]
        for layer, kv in zip(model.h.layers, caches):
            h = _naive_layer(h, layer.params(), None, kv)
        logits = F.linear(h[:, -1], model.ar_predict_layer.weight)
    return time.perf_counter() - start


def _naive_layer(x: torch.Tensor, p, mask, kv: list) -> torch.Tensor:
    bsz, seq, dim = x.shape
    q, k, v = F.linear(x, p.qkv_w, p.qkv_b).chunk(3, dim=-1)
    kv[0] = k if kv[0].numel() == 0 else torch.cat([kv[0], k], 1)
    kv[1] = v if kv[1].numel() == 0 else torch.cat([kv[1], v], 1)
    heads = lambda t: t.view(bsz, t.shape[1], p.num_heads, -1).transpose(1, 2)  # noqa: E731
    attn = F.scaled_dot_product_attention(heads(q), heads(kv[0]), heads(kv[1]), attn_mask=mask)
    x = F.layer_norm(
        x + F.linear(attn.transpose(1, 2).reshape(bsz, seq, dim), p.out_w, p.out_b),
        (dim,),
        p.norm1_w,
        p.norm1_b,
    )
    ff = F.linear(F.relu(F.linear(x, p.ff1_w, p.ff1_b)), p.ff2_w, p.ff2_b)
    return F.layer_norm(x + ff, (dim,), p.norm2_w, p.norm2_b)


def report(
    name: str, seconds: float, tokens: int, bytes_per_weight: int, prefill: float | None = None
) -> None:
    rate = tokens / seconds
    extra = f", prefill {prefill * 1e3:.0f} ms" if prefill is not None else ""
    print(
        f"{name:10s} {rate:6.1f} tokens/s ({seconds:.2f} s for {tokens}{extra})  "
        f"x{rate / ORIGINAL_TOKENS_PER_S:.2f} vs {ORIGINAL_TOKENS_PER_S:.0f} tok/s  "
        f"weights read {rate * WEIGHTS_PER_TOKEN * bytes_per_weight / 1e9:.1f} GB/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=250)
    parser.add_argument("--baseline", action="store_true", help="also time a naive decode loop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, inputs = build()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}  threads={args.threads}  "
        f"cpu={torch.backends.cpu.get_cpu_capability()}  native bf16={bf16_supported()}"
    )
    decoders = {"float32": T2SDecoder(model)}
    if bf16_supported():
        decoders["bfloat16"] = T2SDecoder(model, weight_dtype=torch.bfloat16)
    else:
        print("bf16: no native CPU support (avx512_bf16 / amx_bf16) detected; skipped")
    decoders["float16"] = T2SDecoder(model, weight_dtype=torch.float16)
    codes = {}
    for name, decoder in decoders.items():
        time_decoder(decoder, inputs, 10, 1)  # warm-up
        prefill, seconds, codes[name] = time_decoder(decoder, inputs, args.tokens, args.repeats)
        report(name, seconds, args.tokens, 4 if name == "float32" else 2, prefill)
    if args.baseline:
        naive_decode(model, inputs, 10)
        naive = min(naive_decode(model, inputs, args.tokens) for _ in range(args.repeats))
        report("naive f32", naive, args.tokens, 4)
    (phones,), (bert,), (prompt,) = inputs
    ref = decoders["float32"].forced_logits(phones, bert, prompt, codes["float32"])
    greedy = {
        n: d.generate(*inputs, sampler=sampler_for(args.tokens, top_k=1))[0] for n, d in decoders.items()
    }
    for name in [n for n in decoders if n != "float32"]:
        low = decoders[name].forced_logits(phones, bert, prompt, codes["float32"])
        diff = (low - ref).abs()
        same_top = (low.argmax(-1) == ref.argmax(-1)).float().mean().item()
        differ = (greedy[name] != greedy["float32"]).nonzero()
        first = int(differ[0, 0]) if differ.numel() else args.tokens
        print(
            f"{name} vs float32 along the float32 codes: logits max |diff| {diff.max():.3g}, "
            f"mean {diff.mean():.3g} (logits up to {ref.abs().max():.3g}); same argmax {same_top:.1%}; "
            f"greedy decoding identical for the first {first} of {args.tokens} codes"
        )


if __name__ == "__main__":
    main()
