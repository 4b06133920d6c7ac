"""Evaluate checkpoint pairs on held-out sentences and suggest the best one.

Each (GPT, SoVITS) pair speaks every sentence with the same reference and seed; every result is saved,
transcribed (error rate against the sentence) and compared with the reference voice (speaker
similarity). The suggested best pair follows :data:`BEST_RULE`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gpt_sovits.audio import load_audio, save_audio
from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.evaluation import metrics
from gpt_sovits.evaluation.sentences import default_sentences
from gpt_sovits.fileio import atomic_write_bytes
from gpt_sovits.inference.engine import Engine
from gpt_sovits.inference.options import SynthesisOptions

logger = logging.getLogger(__name__)

NEAR_TIE = 0.02  # error-rate difference below which two pairs count as equally intelligible
BEST_RULE = (
    "lowest mean error rate; pairs within 0.02 of the lowest are near-ties, broken by the highest mean "
    "speaker similarity (then by the earlier pair in the list). Without ASR: highest mean similarity."
)
AUTO = "auto"


class EvaluationError(GPTSoVITSError):
    """An evaluation that cannot run as asked (no checkpoints, no reference, no sentences)."""


@dataclass(frozen=True)
class Reference:
    """The clip whose voice the checkpoints imitate, with its transcript and language."""

    audio: Path
    text: str
    lang: str


@dataclass(frozen=True)
class SentenceScore:
    """One sentence spoken by one pair."""

    sentence: str
    audio: Path  # the synthesized wav under out_dir
    duration_s: float
    transcript: str | None  # None when intelligibility was skipped
    error: float | None  # WER or CER of the transcript against the sentence (can exceed 1)
    similarity: float  # cosine similarity of speaker embeddings with the reference


@dataclass(frozen=True)
class PairScore:
    """One (GPT, SoVITS) checkpoint pair over all sentences."""

    label: str
    gpt: Path
    sovits: Path
    sentences: tuple[SentenceScore, ...]
    mean_error: float | None  # arithmetic mean of the per-sentence error rates
    mean_similarity: float
    seconds: float  # wall time of synthesis and scoring


@dataclass(frozen=True)
class EvalReport:
    """The scores of every pair and the suggested best (``best`` indexes ``pairs``)."""

    lang: str
    metric: str | None  # "wer", "cer", or None when intelligibility was skipped
    asr_model: str | None
    reference: Reference
    pairs: tuple[PairScore, ...]
    best: int
    best_reason: str
    rule: str
    notes: tuple[str, ...]
    out_dir: Path

    @property
    def best_pair(self) -> PairScore:
        return self.pairs[self.best]

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.json"

    @property
    def table_path(self) -> Path:
        return self.out_dir / "report.txt"

    def to_dict(self) -> dict:
        """JSON-ready form (paths as strings)."""
        return json.loads(json.dumps(asdict(self), default=str))

    def format_table(self) -> str:
        """A fixed-width table of the pairs, the best marked with ``*``."""
        err = (self.metric or "err").upper()
        rows = [f"  {'pair':<44} {err:>6} {'sim':>6}  gpt / sovits"]
        for k, p in enumerate(self.pairs):
            mark = "*" if k == self.best else " "
            e = f"{p.mean_error:6.3f}" if p.mean_error is not None else f"{'-':>6}"
            rows.append(
                f"{mark} {p.label[:44]:<44} {e} {p.mean_similarity:6.3f}  {p.gpt.name} / {p.sovits.name}"
            )
        lines = [*rows, "", f"Best: {self.best_pair.label} ({self.best_reason})", f"Rule: {self.rule}"]
        return "\n".join(lines + [f"Note: {n}" for n in self.notes]) + "\n"


def choose_best(mean_errors: Sequence[float | None], similarities: Sequence[float]) -> tuple[int, str]:
    """Index of the best pair by :data:`BEST_RULE` and a sentence saying why."""
    if not similarities:
        raise EvaluationError("There is nothing to choose from: no pair was evaluated.")
    indices = range(len(similarities))
    if len(mean_errors) != len(similarities) or any(e is None for e in mean_errors):
        best = max(indices, key=lambda k: (similarities[k], -k))
        return best, f"highest speaker similarity {similarities[best]:.3f} (no error rates)"
    lowest = min(mean_errors)
    candidates = [k for k in indices if mean_errors[k] <= lowest + NEAR_TIE + 1e-9]
    best = max(candidates, key=lambda k: (similarities[k], -k))
    if len(candidates) == 1:
        return best, f"lowest error rate {mean_errors[best]:.3f}"
    return best, (
        f"error rate {mean_errors[best]:.3f} within {NEAR_TIE} of the lowest {lowest:.3f} "
        f"({len(candidates)} near-ties); highest similarity {similarities[best]:.3f} among them"
    )


def _label(index: int, gpt: Path, sovits: Path) -> str:
    name = f"{index:02d}_{gpt.stem}__{sovits.stem}"
    return re.sub(r"[^\w.=-]+", "_", name)[:120]


def _resolve_asr(asr, lang: str, pretrained_dir: Path) -> tuple[object | None, list[str]]:
    if isinstance(asr, str) and asr == AUTO:
        engine, note = metrics.default_asr(lang, funasr_dir=pretrained_dir / "funasr")
        return engine, [note] if note else []
    if asr is None:
        return None, ["Intelligibility skipped: no ASR engine was given."]
    return asr, []


def _score_pair(
    engine: Engine,
    index: int,
    pair: tuple[Path, Path],
    ctx: _Context,
    progress: Callable[[int, int], None] | None,
) -> PairScore:
    gpt, sovits = Path(pair[0]), Path(pair[1])
    label = _label(index, gpt, sovits)
    folder = ctx.out_dir / label
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    scores = []
    for k, sentence in enumerate(ctx.sentences):
        options = SynthesisOptions(
            text=sentence,
            text_lang=ctx.lang,
            gpt_path=gpt,
            sovits_path=sovits,
            ref_audio=(ctx.reference.audio,),
            ref_text=ctx.reference.text,
            ref_lang=ctx.reference.lang,
            seed=ctx.seed,
        )
        result = engine.synthesize(options)
        path = save_audio(folder / f"{k:02d}.wav", result.audio, result.sample_rate, overwrite=True)
        transcript = error = None
        if ctx.asr is not None:
            transcript = metrics.transcribe(ctx.asr, result.audio, result.sample_rate)
            error = metrics.error_rate(sentence, transcript, ctx.metric)
        embedding = metrics.speaker_embedding(result.audio, result.sample_rate)
        similarity = metrics.cosine(embedding, ctx.ref_embedding)
        scores.append(SentenceScore(sentence, path, result.duration, transcript, error, similarity))
        ctx.done += 1
        if progress is not None:
            progress(ctx.done, ctx.total)
    errors = [s.error for s in scores]
    return PairScore(
        label,
        gpt,
        sovits,
        tuple(scores),
        float(np.mean(errors)) if ctx.asr is not None else None,
        float(np.mean([s.similarity for s in scores])),
        time.perf_counter() - t0,
    )


@dataclass
class _Context:
    """What every pair shares during one evaluation."""

    reference: Reference
    sentences: tuple[str, ...]
    lang: str
    metric: str
    asr: object | None
    ref_embedding: np.ndarray
    out_dir: Path
    seed: int
    total: int
    done: int = 0


def evaluate_checkpoints(
    engine: Engine | Callable[[], Engine],
    pairs: Sequence[tuple[str | Path, str | Path]],
    reference: Reference | tuple[str | Path, str, str],
    sentences: Sequence[str] | None = None,
    lang: str = "en",
    *,
    asr=AUTO,
    out_dir: str | Path,
    seed: int = 1234,
    progress: Callable[[int, int], None] | None = None,
    notes: Sequence[str] = (),
) -> EvalReport:
    """Synthesize ``sentences`` with every (GPT, SoVITS) pair, score them and suggest the best pair.

    Args:
        engine: an :class:`Engine`, or a function that builds one (called once).
        pairs: (GPT ``.ckpt``, SoVITS ``.pth``) paths.
        reference: the voice to imitate: (wav path, its transcript, its language) or a :class:`Reference`.
        sentences: held-out sentences (default: :func:`default_sentences` of ``lang``).
        lang: language of the sentences ("en", "zh", ...): picks the metric (WER or CER) and default ASR.
        asr: a :mod:`tools.asr` engine, ``"auto"`` (the offline default for ``lang``, see
            :func:`metrics.default_asr`; FunASR models are looked for in ``<pretrained>/funasr``) or None to
            skip intelligibility.
        out_dir: folder for the audio (``<pair label>/<nn>.wav``), ``report.json`` and ``report.txt``.
        seed: sampling seed, the same for every pair so that differences come from the weights.
        progress: called as ``progress(done, total)`` after each sentence.
        notes: lines to add to the report (e.g. why intelligibility was skipped).
    """
    if not pairs:
        raise EvaluationError("No checkpoint pairs to evaluate: train at least one epoch first.")
    ref = reference if isinstance(reference, Reference) else Reference(Path(reference[0]), *reference[1:])
    sentences = tuple(s for s in (sentences or default_sentences(lang)) if s.strip())
    if not sentences:
        raise EvaluationError("No sentences to evaluate with: give at least one non-empty sentence.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    eng = engine if isinstance(engine, Engine) else engine()
    asr_engine, asr_notes = _resolve_asr(asr, lang, eng.settings.pretrained_dir)
    ref_audio = load_audio(ref.audio, metrics.SPEAKER_RATE)
    ctx = _Context(
        reference=ref,
        sentences=sentences,
        lang=lang,
        metric=metrics.metric_for(lang),
        asr=asr_engine,
        ref_embedding=metrics.speaker_embedding(ref_audio, metrics.SPEAKER_RATE),
        out_dir=out,
        seed=seed,
        total=len(pairs) * len(sentences),
    )
    scored = []
    for k, pair in enumerate(pairs):
        scored.append(_score_pair(eng, k, (Path(pair[0]), Path(pair[1])), ctx, progress))
        logger.info(
            "Evaluated %s: error %s, similarity %.3f",
            scored[-1].label,
            scored[-1].mean_error,
            scored[-1].mean_similarity,
        )
    best, reason = choose_best([p.mean_error for p in scored], [p.mean_similarity for p in scored])
    report = EvalReport(
        lang=lang,
        metric=ctx.metric if asr_engine is not None else None,
        asr_model=getattr(asr_engine, "model_name", None) if asr_engine is not None else None,
        reference=ref,
        pairs=tuple(scored),
        best=best,
        best_reason=reason,
        rule=BEST_RULE,
        notes=(*notes, *asr_notes),
        out_dir=out,
    )
    write_report(report)
    return report


def write_report(report: EvalReport) -> None:
    """``report.json`` (everything) and ``report.txt`` (the table), written atomically."""
    data = json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"
    atomic_write_bytes(report.report_path, data.encode("utf-8"))
    atomic_write_bytes(report.table_path, report.format_table().encode("utf-8"))
