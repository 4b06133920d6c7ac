"""What a synthesis request asks for and what it gives back: frozen dataclasses, never dicts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

SPLIT_METHODS = ("cut0", "cut1", "cut2", "cut3", "cut4", "cut5", "length")


@dataclass(frozen=True)
class SynthesisOptions:
    """One synthesis request.

    The voice comes either from the library (``voice``: its models, references and defaults) or from
    files (``gpt_path``, ``sovits_path``, ``ref_audio``). A voice's default options apply to the fields left
    at their defaults here (the CLI and API leave every option the user did not give at its default);
    ``gpt_path``/``sovits_path``/``ref_audio`` given with a voice replace the voice's own.
    ``ref_text`` None or empty selects reference-free mode (the GPT gets no prompt codes). ``ref_audio``:
    the first file gives the prompt; all of them are averaged for the timbre. Sampling defaults are the
    official GPT-SoVITS api_v2 defaults.
    """

    text: str
    text_lang: str = "auto"
    voice: str | None = None
    gpt_path: Path | None = None
    sovits_path: Path | None = None
    ref_audio: tuple[Path, ...] = ()
    ref_text: str | None = None
    ref_lang: str = "auto"
    auto_trim: bool = True  # references longer than 10 s: pick the best 3-10 s window at silences
    split: str = "cut5"
    max_chars: int | None = None
    top_k: int = 15
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35
    speed: float = 1.0
    seed: int = -1  # -1: a fresh random seed (reported in the result)
    pause: float = 0.3  # seconds of silence between segments (api_v2's fragment_interval)
    noise_scale: float = 0.5
    batch_size: int = 8  # segments decoded together by the GPT
    dictionary: tuple[str, ...] = ()  # per-request replacement dictionary, JSON Lines
    stream_chunk_tokens: int = 24  # streaming: semantic tokens (~0.96 s) per chunk inside a segment
    max_new_tokens: int | None = None  # None: derived from each segment's phone count
    # SoVITS files with a phone aligner: regenerate a segment (new seed) whose codes skip or repeat words, at
    # most this many times per segment (0: off). Whole-utterance synthesis only; streaming checks and warns.
    guard_retries: int = 2

    def with_overrides(self, **changes) -> SynthesisOptions:
        """A copy with ``changes`` applied (unknown names raise TypeError)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class ReferenceReport:
    """Which reference audio was used, and which part of it."""

    path: Path
    start_s: float
    end_s: float
    duration_s: float  # of the whole file
    trimmed: bool
    text: str | None


@dataclass(frozen=True)
class SegmentReport:
    """One synthesized segment (a piece of the split text)."""

    index: int
    text: str
    langs: tuple[str, ...]
    phones: tuple[str, ...]
    tokens: int  # semantic tokens generated
    token_budget: int
    start_s: float  # position in the output audio
    end_s: float
    stopped_by_budget: bool = False
    padded: bool = False  # a very short input was padded so it is not swallowed
    # phone-aligner guard (SoVITS files with an aligner; None/empty otherwise)
    guard_ok: bool | None = None  # the kept attempt passed the guard
    guard_attempts: int = 0  # regenerations made (each with a new seed)
    guard_reasons: tuple[str, ...] = ()  # why attempts were rejected, "attempt N: reason"


@dataclass(frozen=True)
class Timings:
    """Wall-clock seconds per stage of one request."""

    text: float = 0.0
    reference: float = 0.0
    gpt: float = 0.0
    sovits: float = 0.0
    total: float = 0.0
    first_chunk: float | None = None  # streaming only: latency of the first audio chunk


@dataclass(frozen=True)
class SynthesisResult:
    """The audio (float32 mono in [-1, 1]) and how it was made."""

    audio: np.ndarray = field(repr=False)
    sample_rate: int
    segments: tuple[SegmentReport, ...]
    references: tuple[ReferenceReport, ...]
    seed: int
    timings: Timings
    warnings: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def real_time_factor(self) -> float:
        return self.timings.total / max(self.duration, 1e-9)


@dataclass(frozen=True)
class AudioChunk:
    """A piece of streamed audio. ``final`` marks the last chunk of the request; ``result`` is set on it."""

    audio: np.ndarray = field(repr=False)
    sample_rate: int
    segment: int
    final: bool = False
    result: SynthesisResult | None = None
