"""Incremental decoding of semantic codes with a preallocated key/value cache.

Rows of a batch may have different phone lengths and different (or no) prompt codes. Each row is laid
out as ``[padding | phones | prompt codes]``, right-aligned, so that all rows append their next code
in the same cache column; padding keys are masked and every row keeps its own position numbering.
The cache is allocated once for ``prefix + budget`` columns and written by index. Finished rows keep
riding along (their outputs are ignored): decoding is bound by reading the weights, which costs the
same for one row or several.

:class:`T2SDecoder` is the fast path; :func:`reference_generate` recomputes the whole prefix every
step and is the straightforward definition the fast path is tested against.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gpt_sovits.models.t2s.layers import LayerParams, encoder_layer
from gpt_sovits.models.t2s.model import Text2SemanticModel, prefix_mask
from gpt_sovits.models.t2s.sampling import Sampler, StepContext
from gpt_sovits.models.t2s.step import (
    BagTable,
    LayerTables,
    bag_projection,
    linear_projection,
    make_bag_table,
    make_layer_tables,
    prepare_layers,
    step_layers,
)


@dataclass(frozen=True)
class StreamChunk:
    """Codes of one row: a chunk of ``chunk_size`` codes, or the final remainder (``final=True``)."""

    row: int
    tokens: torch.Tensor  # [N] int64 (may be empty when final)
    final: bool


@dataclass(frozen=True)
class _StepEvent:
    tokens: list[int]  # sampled code per row
    accepted: list[bool]  # row keeps this code
    finished: list[int]  # rows that finished at this step


def bf16_supported() -> bool:
    """True when this CPU has native bf16 arithmetic (AVX512-BF16 or AMX), so bf16 decoding pays off."""
    caps = getattr(torch.cpu, "get_capabilities", None)
    if caps is None:
        return False
    found = caps()
    return bool(found.get("avx512_bf16") or found.get("amx_bf16"))


def join_stream(chunks: Iterable[StreamChunk], rows: int) -> list[torch.Tensor]:
    """The codes of each of ``rows`` rows (``[N_i]`` int64) from a :meth:`T2SDecoder.stream`."""
    out: list[list[torch.Tensor]] = [[] for _ in range(rows)]
    for chunk in chunks:
        out[chunk.row].append(chunk.tokens)
    return [torch.cat(r) if r else torch.zeros(0, dtype=torch.long) for r in out]


class T2SDecoder:
    """Fast incremental decoder over a float32 :class:`Text2SemanticModel`.

    The prefix runs on the model's own float32 weights. On the CPU the per-token step reads bag
    tables (see :mod:`gpt_sovits.models.t2s.step`): copies of the projection weights stored in
    ``weight_dtype``. float32 reproduces the reference numbers (within ~1e-5); ``torch.bfloat16`` or
    ``torch.float16`` halve the bytes read per token (official checkpoints store fp16, so fp16 tables
    lose nothing from the file; activations are rounded at each projection input). Attention, layer
    norms, the cache and the logits stay float32. ``splits``: column blocks per projection, i.e. bags
    decoded in parallel (None = ``torch.get_num_threads()`` when the decoder is built). On other
    devices the step uses ``F.linear`` on the model weights and ``weight_dtype`` is ignored.
    The tables cost one more copy of the projection weights (about 310 MB in float32, 155 MB in
    bf16/fp16 for the full model); the model must not change while a decoder built from it is used.
    """

    def __init__(
        self,
        model: Text2SemanticModel,
        weight_dtype: torch.dtype = torch.float32,
        splits: int | None = None,
    ) -> None:
        self.model = model
        self.config = model.config
        self.weight_dtype = weight_dtype
        self.layers: list[LayerParams] = [layer.params() for layer in model.h.layers]
        self.predict_w = model.ar_predict_layer.weight.detach()  # [V, E]
        self.audio_emb = model.ar_audio_embedding.weight.detach()  # [V, E]
        self.dtype = self.predict_w.dtype  # activations and cache
        self.tables: list[LayerTables] | None = None
        self.predict_table: BagTable | None = None
        if self.predict_w.device.type == "cpu":
            if self.dtype != torch.float32:
                # Half-precision activations are slow and lossy on CPUs; halve the weights instead.
                raise ValueError("on the CPU keep the model float32 and pass weight_dtype to T2SDecoder")
            splits = splits or torch.get_num_threads()
            self.tables = [make_layer_tables(p, weight_dtype, splits) for p in self.layers]
            self.predict_table = make_bag_table(self.predict_w, None, weight_dtype, splits)

    # ------------------------------------------------------------------ public
    @torch.inference_mode()
    def generate(
        self,
        phones: Sequence[torch.Tensor],
        bert: Sequence[torch.Tensor],
        prompts: Sequence[torch.Tensor | None] | None = None,
        sampler: Sampler | None = None,
        generator: torch.Generator | None = None,
    ) -> list[torch.Tensor]:
        """Decode every row; returns the new codes of each row (``[N_i]`` int64, EOS not included).

        phones[i]: ``[Tx_i]`` ids; bert[i]: ``[1024, Tx_i]``; prompts[i]: ``[Ty_i]`` codes or None
        (reference-free). ``sampler`` defaults to :meth:`Sampler.official`.
        """
        # One chunk per row: the chunk size is never reached, so only the final chunks come out.
        return join_stream(
            self.stream(phones, bert, prompts, sampler, generator, chunk_size=1 << 62), len(phones)
        )

    @torch.inference_mode()
    def stream(
        self,
        phones: Sequence[torch.Tensor],
        bert: Sequence[torch.Tensor],
        prompts: Sequence[torch.Tensor | None] | None = None,
        sampler: Sampler | None = None,
        generator: torch.Generator | None = None,
        chunk_size: int = 24,
    ) -> Iterator[StreamChunk]:
        """Like :meth:`generate`, but yield each row's codes in chunks of ``chunk_size`` as they are
        decoded, then one ``final`` chunk per row with the remainder (possibly empty)."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        pending: list[list[int]] = [[] for _ in phones]
        for event in self._run(phones, bert, prompts, sampler, generator):
            for row, (token, keep) in enumerate(zip(event.tokens, event.accepted)):
                if keep:
                    pending[row].append(token)
                    if len(pending[row]) == chunk_size:
                        yield StreamChunk(row, torch.tensor(pending[row], dtype=torch.long), False)
                        pending[row] = []
            for row in event.finished:
                yield StreamChunk(row, torch.tensor(pending[row], dtype=torch.long), True)

    @torch.inference_mode()
    def forced_logits(
        self, phones: torch.Tensor, bert: torch.Tensor, prompt: torch.Tensor | None, codes: torch.Tensor
    ) -> torch.Tensor:
        """Teacher-forced logits of one row through the cached step path, ``[N + 1, V]`` float32.

        Row ``i`` is the prediction for ``codes[i]`` (the last row follows all of ``codes``).
        """
        xy, is_text, valid, prompt_lens = self._prefix([phones], [bert], [prompt])
        state = _DecodeState.allocate(self, 1, xy.shape[1] + codes.numel(), valid, prompt_lens)
        out = [state.prefill(xy, prefix_mask(is_text, valid))]
        for i, code in enumerate(codes.long().view(-1, 1)):
            out.append(state.step(code, i))
        return torch.cat(out)

    # ---------------------------------------------------------------- internals
    def _prefix(
        self,
        phones: Sequence[torch.Tensor],
        bert: Sequence[torch.Tensor],
        prompts: Sequence[torch.Tensor | None],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
        """Right-aligned prefix embeddings ``[B, S, E]``, is_text and valid ``[B, S]``, prompt lengths."""
        model, device = self.model, self.predict_w.device
        text_pos, audio_pos = model.ar_text_position, model.ar_audio_position
        rows = []
        for ph, be, pr in zip(phones, bert, prompts):
            # The embeddings of Text2SemanticModel.embed_text / embed_audio, without their dropout.
            feats = be.to(device=device, dtype=model.bert_proj.weight.dtype).t()  # [Tx, 1024]
            x = model.ar_text_embedding.weight[ph.long()] + model.bert_proj(feats)  # [Tx, E]
            x = x + text_pos.scaled_table(x.shape[0], device, x.dtype)
            y = x[:0]
            if pr is not None and pr.numel():
                y = model.ar_audio_embedding.weight[pr.long()]  # [Ty, E]
                y = y + audio_pos.scaled_table(y.shape[0], device, y.dtype)
            rows.append((x, y))
        seq = max(x.shape[0] + y.shape[0] for x, y in rows)
        bsz, dim = len(rows), self.config.hidden_dim
        device = self.predict_w.device
        xy = torch.zeros(bsz, seq, dim, dtype=self.dtype, device=device)
        is_text = torch.zeros(bsz, seq, dtype=torch.bool, device=device)
        valid = torch.zeros(bsz, seq, dtype=torch.bool, device=device)
        for b, (x, y) in enumerate(rows):
            start = seq - x.shape[0] - y.shape[0]
            xy[b, start:] = torch.cat([x, y]).to(self.dtype)
            is_text[b, start : start + x.shape[0]] = True
            valid[b, start:] = True
        return xy, is_text, valid, [y.shape[0] for _, y in rows]

    def _run(
        self,
        phones: Sequence[torch.Tensor],
        bert: Sequence[torch.Tensor],
        prompts: Sequence[torch.Tensor | None] | None,
        sampler: Sampler | None,
        generator: torch.Generator | None,
    ) -> Iterator[_StepEvent]:
        cfg = self.config
        sampler = sampler or Sampler.official(eos=cfg.eos)
        prompts = list(prompts) if prompts is not None else [None] * len(phones)
        if not (len(phones) == len(bert) == len(prompts)) or not phones:
            raise ValueError("phones, bert and prompts need one entry per row (at least one row)")
        xy, is_text, valid, prompt_lens = self._prefix(phones, bert, prompts)
        bsz, seq, _ = xy.shape
        budget = sampler.budget.max_new_tokens
        state = _DecodeState.allocate(self, bsz, seq + budget, valid, prompt_lens)
        logits = state.prefill(xy, prefix_mask(is_text, valid))  # [B, V] float32
        seen = torch.zeros(bsz, cfg.vocab_size, dtype=torch.bool, device=xy.device)
        for b, pr in enumerate(prompts):
            if pr is not None and pr.numel():
                seen[b, pr.long().to(seen.device)] = True
        active = [True] * bsz
        for step in range(budget):
            choice = sampler(logits, StepContext(step, seen), generator)
            stop = (choice.tokens == cfg.eos) | (choice.best == cfg.eos)  # [B]
            stops, tokens = stop.tolist(), choice.tokens.tolist()
            accepted = [a and not s for a, s in zip(active, stops)]
            last = step == budget - 1
            finished = [b for b in range(bsz) if active[b] and (stops[b] or last)]
            for b in finished:
                active[b] = False
            yield _StepEvent(tokens, accepted, finished)
            if not any(active):
                return
            seen.scatter_(1, choice.tokens.unsqueeze(1), True)
            logits = state.step(choice.tokens, step)


class _DecodeState:
    """Preallocated cache and buffers of one decoding run."""

    def __init__(
        self,
        dec: T2SDecoder,
        cache: torch.Tensor,
        key_bias: torch.Tensor | None,
        audio_pos: torch.Tensor,
        prompt_lens: torch.Tensor,
    ) -> None:
        self.dec = dec
        self.cache = cache  # [L, 2, B, H, Tmax, D]
        self.kv = list(cache.unbind(0))  # per-layer views, made once
        bsz = cache.shape[2]
        self.layers = prepare_layers(dec.layers, dec.tables, bsz)
        if dec.predict_table is None:
            self.predict = linear_projection(dec.predict_w, None)
        else:
            self.predict = bag_projection(dec.predict_table, bsz)
        self.key_bias = key_bias  # [B, 1, 1, Tmax] additive (0 / -inf), None when no row is padded
        self.audio_pos = audio_pos  # [Tpos, E] alpha * sine table of the audio positions
        self.prompt_lens = prompt_lens  # [B] int64
        self.seq = 0  # prefix length S

    @classmethod
    def allocate(
        cls, dec: T2SDecoder, bsz: int, max_len: int, valid: torch.Tensor, prompt_lens: list[int]
    ) -> _DecodeState:
        cfg, device = dec.config, dec.predict_w.device
        cache = torch.empty(
            cfg.num_layers, 2, bsz, cfg.num_heads, max_len, cfg.head_dim, dtype=dec.dtype, device=device
        )
        key_bias = None
        if not bool(valid.all()):
            key_bias = torch.zeros(bsz, 1, 1, max_len, dtype=dec.dtype, device=device)
            key_bias[:, 0, 0, : valid.shape[1]].masked_fill_(~valid, float("-inf"))
        audio_pos = dec.model.ar_audio_position.scaled_table(max_len, device, dec.dtype)
        lens = torch.tensor(prompt_lens, dtype=torch.long, device=device)
        return cls(dec, cache, key_bias, audio_pos, lens)

    def prefill(self, xy: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Run the whole prefix ``[B, S, E]``, filling cache columns ``0..S-1``; logits ``[B, V]``."""
        seq = xy.shape[1]
        x = xy
        for i, params in enumerate(self.dec.layers):
            x = encoder_layer(
                x, params, mask, kv_out=(self.cache[i, 0, :, :, :seq], self.cache[i, 1, :, :, :seq])
            )
        self.seq = seq
        return F.linear(x[:, -1], self.dec.predict_w).float()

    def step(self, tokens: torch.Tensor, step: int) -> torch.Tensor:
        """Feed the codes ``[B]`` chosen at ``step``; returns the next logits ``[B, V]`` (float32)."""
        dec = self.dec
        x = dec.audio_emb[tokens] + self.audio_pos[self.prompt_lens + step]  # [B, E]
        x = step_layers(x, self.layers, self.kv, self.seq + step, self.key_bias)
        return self.predict(x).float()


def reference_generate(
    model: Text2SemanticModel,
    phones: torch.Tensor,
    bert: torch.Tensor,
    prompt: torch.Tensor | None,
    sampler: Sampler,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Slow reference decoding of one row: the whole prefix is recomputed for every new code.

    phones ``[Tx]``, bert ``[1024, Tx]``, prompt ``[Ty]`` or None; returns the new codes ``[N]``.
    """
    eos = model.config.eos
    codes = prompt.long() if prompt is not None else torch.zeros(0, dtype=torch.long)
    seen = torch.zeros(1, model.config.vocab_size, dtype=torch.bool)
    seen[0, codes] = True
    new: list[int] = []
    with torch.inference_mode():
        for step in range(sampler.budget.max_new_tokens):
            logits = model.prefix_logits(phones[None], bert[None], codes[None])[:, -1].float()  # [1, V]
            choice = sampler(logits, StepContext(step, seen), generator)
            token = int(choice.tokens[0])
            if token == eos or int(choice.best[0]) == eos:
                break
            new.append(token)
            seen[0, token] = True
            codes = torch.cat([codes, choice.tokens])
    return torch.tensor(new, dtype=torch.long)
