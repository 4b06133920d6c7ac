"""Sampling strategies for the semantic-code decoder, as small composable objects.

A :class:`Sampler` applies, in order:

1. logits rules on the full vocabulary, in place (:class:`ForbidEOS`, :class:`RepetitionPenalty`);
2. candidate rules on the sorted top candidates (:class:`TopK`, :class:`TopP`, :class:`Temperature`);
3. one draw per row from the remaining candidates (inverse CDF of one uniform number per row,
   taken from the ``torch.Generator`` passed in, so a seeded generator reproduces a run).

The official order is repetition penalty -> top-p (on untempered probabilities) -> temperature ->
top-k, which is what :meth:`Sampler.official` builds. Top-k and top-p each keep a prefix of the
sorted order, so only ``k`` candidates are ever sorted (``torch.topk``); top-p still normalises over
the whole vocabulary through a log-sum-exp. Without a :class:`TopK` rule the whole vocabulary is
sorted once per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import torch


@dataclass
class StepContext:
    """What logits rules may look at: the decoding step and which codes each row has seen."""

    step: int  # 0 for the first generated token
    seen: torch.Tensor  # bool [B, V]: code appeared in the prompt or was generated


class LogitsRule(Protocol):
    """Edits full-vocabulary logits ``[B, V]`` in place."""

    def apply(self, logits: torch.Tensor, ctx: StepContext) -> None:
        """Modify ``logits`` in place."""


@dataclass
class Candidates:
    """Sorted top candidates of each row plus what top-p needs to normalise over the full vocabulary."""

    values: torch.Tensor  # [B, K] current logits of the candidates, descending (-inf = removed)
    indices: torch.Tensor  # [B, K] vocabulary ids
    full: torch.Tensor  # [B, V] logits after the logits rules (before any candidate rule)
    scale: float = 1.0  # product of the 1/temperature factors applied so far

    def log_normalizer(self) -> torch.Tensor:
        """log-sum-exp of the current (scaled) logits over the whole vocabulary, ``[B, 1]``."""
        full = self.full if self.scale == 1.0 else self.full * self.scale
        return torch.logsumexp(full, dim=-1, keepdim=True)


class CandidateRule(Protocol):
    """Filters or rescales :class:`Candidates` in place."""

    def apply(self, cand: Candidates) -> None:
        """Modify ``cand`` in place."""


@dataclass(frozen=True)
class ForbidEOS:
    """Minimum length: EOS cannot be chosen during the first ``steps`` steps (official: 11)."""

    eos: int
    steps: int = 11

    def apply(self, logits: torch.Tensor, ctx: StepContext) -> None:
        """Set the EOS logit to -inf while ``ctx.step < steps``."""
        if ctx.step < self.steps:
            logits[:, self.eos] = float("-inf")


@dataclass(frozen=True)
class RepetitionPenalty:
    """Damp every code seen before (prompt included): positive logits / p, negative logits * p."""

    penalty: float = 1.35

    def apply(self, logits: torch.Tensor, ctx: StepContext) -> None:
        """Penalise the seen codes of each row in place (each code once, however often it occurred)."""
        if self.penalty == 1.0:
            return
        damped = torch.where(logits < 0, logits * self.penalty, logits / self.penalty)
        torch.where(ctx.seen, damped, logits, out=logits)


@dataclass(frozen=True)
class TopK:
    """Keep the ``k`` most likely codes (``k <= 0`` keeps all). Its place in the rule list is irrelevant."""

    k: int

    def apply(self, cand: Candidates) -> None:
        """Candidates are already limited to ``k`` when they are built; nothing more to do."""


@dataclass(frozen=True)
class TopP:
    """Nucleus filter: drop a candidate once the cumulative probability up to and including it exceeds
    ``p`` (the most likely code is always kept), probabilities normalised over the whole vocabulary."""

    p: float

    def apply(self, cand: Candidates) -> None:
        """Set removed candidates to -inf."""
        if self.p >= 1.0:
            return
        probs = torch.exp(cand.values - cand.log_normalizer())  # [B, K]
        remove = torch.cumsum(probs, dim=-1) > self.p
        remove[:, 0] = False
        cand.values.masked_fill_(remove, float("-inf"))


@dataclass(frozen=True)
class Temperature:
    """Divide logits by ``max(t, 1e-5)`` (higher = more random)."""

    t: float = 1.0

    def apply(self, cand: Candidates) -> None:
        """Scale the candidates (and remember the factor for later full-vocabulary normalisation)."""
        factor = 1.0 / max(self.t, 1e-5)
        if factor != 1.0:
            cand.values.mul_(factor)
            cand.scale *= factor


@dataclass(frozen=True)
class TokenBudget:
    """Stop a row once it has ``max_new_tokens`` codes. The official ``early_stop_num = n`` keeps
    ``n + 1`` codes, and its hard limit is 1500 steps."""

    max_new_tokens: int = 1500

    @classmethod
    def from_early_stop_num(cls, early_stop_num: int) -> TokenBudget:
        """The budget equivalent to the official ``early_stop_num`` (-1 = only the 1500 limit)."""
        return cls(1500 if early_stop_num < 0 else min(early_stop_num + 1, 1500))


class SampleOutput(NamedTuple):
    """One step's choice for each row."""

    tokens: torch.Tensor  # [B] sampled codes
    best: torch.Tensor  # [B] argmax of the logits after the logits rules (EOS here also stops)


class Sampler:
    """Composes logits rules, candidate rules and a budget into one step function."""

    def __init__(
        self,
        logits_rules: list[LogitsRule],
        candidate_rules: list[CandidateRule],
        budget: TokenBudget | None = None,
    ) -> None:
        self.logits_rules = list(logits_rules)
        self.candidate_rules = list(candidate_rules)
        self.budget = budget or TokenBudget()
        ks = [r.k for r in self.candidate_rules if isinstance(r, TopK) and r.k > 0]
        self.top_k = min(ks) if ks else 0

    @classmethod
    def official(
        cls,
        eos: int = 1024,
        top_k: int = 15,
        top_p: float = 1.0,
        temperature: float = 1.0,
        repetition_penalty: float = 1.35,
        min_new_tokens: int = 11,
        max_new_tokens: int = 1500,
    ) -> Sampler:
        """The official GPT-SoVITS sampling (defaults are the official inference defaults)."""
        return cls(
            [ForbidEOS(eos, min_new_tokens), RepetitionPenalty(repetition_penalty)],
            [TopP(top_p), Temperature(temperature), TopK(top_k)],
            TokenBudget(max_new_tokens),
        )

    @property
    def greedy(self) -> bool:
        """True when only the single best code can ever be chosen (top-k 1)."""
        return self.top_k == 1

    def candidates(self, logits: torch.Tensor) -> Candidates:
        """Sorted candidates of ``logits`` ``[B, V]`` (top-k only, or the whole vocabulary)."""
        vocab = logits.shape[-1]
        if 0 < self.top_k < vocab:
            values, indices = torch.topk(logits, self.top_k, dim=-1)  # sorted, descending
        else:
            values, indices = torch.sort(logits, dim=-1, descending=True)
        return Candidates(values, indices, logits)

    def __call__(
        self, logits: torch.Tensor, ctx: StepContext, generator: torch.Generator | None = None
    ) -> SampleOutput:
        """Choose one code per row from float logits ``[B, V]`` (modified in place)."""
        for rule in self.logits_rules:
            rule.apply(logits, ctx)
        cand = self.candidates(logits)
        best = cand.indices[:, 0]
        if self.greedy:
            return SampleOutput(best, best)
        for rule in self.candidate_rules:
            rule.apply(cand)
        return SampleOutput(draw(cand.values, cand.indices, generator), best)


def draw(values: torch.Tensor, indices: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Sample one of ``indices`` ``[B, K]`` per row with probabilities softmax(values); returns ``[B]``."""
    probs = torch.softmax(values, dim=-1)  # [B, K]
    cdf = torch.cumsum(probs, dim=-1)
    u = torch.rand(values.shape[0], 1, generator=generator, device=values.device, dtype=cdf.dtype)
    # First position whose cdf exceeds u * total; the total absorbs rounding of the cumulative sum.
    pick = (cdf <= u * cdf[:, -1:]).sum(dim=-1, keepdim=True).clamp_(max=values.shape[-1] - 1)
    return indices.gather(1, pick).squeeze(1)
