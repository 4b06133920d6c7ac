"""The GPT sampler of a request: the official rules plus a per-row token budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gpt_sovits.inference.options import SynthesisOptions
from gpt_sovits.models.t2s.sampling import (
    ForbidEOS,
    RepetitionPenalty,
    Sampler,
    StepContext,
    Temperature,
    TokenBudget,
    TopK,
    TopP,
)

MIN_NEW_TOKENS = 11  # the official minimum length (~0.44 s): also keeps very short inputs from vanishing


@dataclass(frozen=True)
class RowBudget:
    """Forces EOS on each row once it has generated its budget of tokens (rows of one batch differ)."""

    eos: int
    budgets: torch.Tensor  # [B] int64

    def apply(self, logits: torch.Tensor, ctx: StepContext) -> None:
        over = self.budgets <= ctx.step  # [B]
        if bool(over.any()):
            logits[over] = float("-inf")
            logits[over, self.eos] = 0.0


def make_sampler(o: SynthesisOptions, budgets: Sequence[int], eos: int, device: torch.device) -> Sampler:
    """Official sampling (top-k, top-p, temperature, repetition penalty, minimum length) with budgets."""
    caps = torch.tensor(list(budgets), dtype=torch.long, device=device)
    return Sampler(
        [ForbidEOS(eos, MIN_NEW_TOKENS), RepetitionPenalty(o.repetition_penalty), RowBudget(eos, caps)],
        [TopP(o.top_p), Temperature(o.temperature), TopK(o.top_k)],
        TokenBudget(max(budgets) + 1),
    )
