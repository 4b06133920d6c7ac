"""Synthesis: :class:`Engine` turns :class:`SynthesisOptions` into a :class:`SynthesisResult`.

- :mod:`.options`: the request and result dataclasses.
- :mod:`.reference`: choosing the 3-10 s of a reference to use; :mod:`.refcache`: its features, cached.
- :mod:`.textprep`: front-end sentences to GPT rows (short-input and token-budget guards).
- :mod:`.sampling`: the official sampler plus per-row budgets; :mod:`.vocode`: codes to audio, streamed.
- :mod:`.engine`: the pipeline, thread-safe, with streaming and cancel.
"""

from gpt_sovits.inference.engine import Cancelled, CancelToken, Engine, Plan, SynthesisError
from gpt_sovits.inference.options import (
    AudioChunk,
    ReferenceReport,
    SegmentReport,
    SynthesisOptions,
    SynthesisResult,
    Timings,
)

__all__ = [
    "AudioChunk",
    "CancelToken",
    "Cancelled",
    "Engine",
    "Plan",
    "ReferenceReport",
    "SegmentReport",
    "SynthesisError",
    "SynthesisOptions",
    "SynthesisResult",
    "Timings",
]
