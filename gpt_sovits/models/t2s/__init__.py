"""Text-to-semantic GPT of GPT-SoVITS (prefix LM over phones and semantic codes), ckpt-compatible."""

from gpt_sovits.models.t2s.config import T2SConfig, T2SConfigError
from gpt_sovits.models.t2s.decode import StreamChunk, T2SDecoder, bf16_supported, reference_generate
from gpt_sovits.models.t2s.model import T2SLoss, Text2SemanticModel
from gpt_sovits.models.t2s.sampling import (
    ForbidEOS,
    RepetitionPenalty,
    SampleOutput,
    Sampler,
    StepContext,
    Temperature,
    TokenBudget,
    TopK,
    TopP,
)

__all__ = [
    "ForbidEOS",
    "RepetitionPenalty",
    "SampleOutput",
    "Sampler",
    "StepContext",
    "StreamChunk",
    "T2SConfig",
    "T2SConfigError",
    "T2SDecoder",
    "T2SLoss",
    "Temperature",
    "Text2SemanticModel",
    "TokenBudget",
    "TopK",
    "TopP",
    "bf16_supported",
    "reference_generate",
]
