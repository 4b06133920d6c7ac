"""The Synthesize tab's work, without gradio: building the request (the reference window is
:mod:`gpt_sovits.ui.reference_window`), synthesis (whole or streamed) into a kept result, and regenerating
one segment of that result.

A result is kept as :class:`KeptResult` (the float audio and the sample span of every segment) in the
page's ``gr.State``; regenerating segment k re-synthesizes only its text with a new seed, replaces samples
``[start, end)`` of the kept audio and shifts the segments after it. Every result is written to a new wav
under ``logs/webui/synth/``; an earlier file is never overwritten.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from gpt_sovits.inference import CancelToken, SynthesisOptions, SynthesisResult
from gpt_sovits.inference.engine import Cancelled, SynthesisError
from gpt_sovits.ui.common import save_audio
from gpt_sovits.ui.pronounce import request_text
from gpt_sovits.ui.streaming import StreamHub

log = logging.getLogger(__name__)

SYNTH_FOLDER = "synth"  # under logs/webui: results


# ---------------------------------------------------------------------------------------------- request
def build_options(
    voices,
    voice: str | None,
    ref_audio: str | Path | None,
    ref_text: str | None,
    ref_lang: str,
    text: str,
    lang_mode: str,
    phoneme_mode: bool,
    split: str,
    speed: float,
    seed: int | float | None,
    top_k: int | float,
    top_p: float,
    temperature: float,
) -> SynthesisOptions:
    """The engine request for the tab's fields (in the order of the tab's inputs).

    With a library voice and no uploaded reference, the voice's references are used; if the reference
    text or language were edited, the voice's reference files are passed with the edited text (the engine
    takes a request's own references over the voice's). Without a voice, the uploaded reference window is
    used; an empty reference text means reference-free synthesis.
    """
    if not (text or "").strip():
        raise SynthesisError("The text is empty: type the words to speak.")
    if not voice and not ref_audio:
        raise SynthesisError("Choose a library voice or upload (or record) a reference audio first.")
    fields: dict = dict(
        text=request_text(text, phoneme_mode),
        text_lang=lang_mode,
        split=split,
        speed=float(speed),
        seed=-1 if seed is None or int(seed) < 0 else int(seed),
        top_k=int(top_k),
        top_p=float(top_p),
        temperature=float(temperature),
    )
    text_given = (ref_text or "").strip() or None
    if voice:
        fields["voice"] = voice
        v = voices.get(voice)
        if ref_audio:
            fields.update(ref_audio=(Path(ref_audio),), ref_text=text_given, ref_lang=ref_lang)
        elif (text_given or "") != v.prompt.text.strip() or ref_lang != v.prompt.lang:
            fields.update(
                ref_audio=tuple(r.path for r in v.references), ref_text=text_given, ref_lang=ref_lang
            )
    else:
        fields.update(ref_audio=(Path(ref_audio),), ref_text=text_given, ref_lang=ref_lang)
    return SynthesisOptions(**fields)


# ---------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SegmentSpan:
    """One segment of a kept result: its samples ``[start, end)`` and what the engine reported."""

    index: int
    text: str
    start: int
    end: int
    tokens: int
    stopped_by_budget: bool = False
    padded: bool = False
    guard_ok: bool | None = None
    guard_attempts: int = 0
    seed: int | None = None  # set when this segment was regenerated alone


@dataclass(frozen=True, eq=False)  # holds arrays: compared and hashed by identity
class KeptResult:
    """A result the page keeps (in ``gr.State``) for playback, download and segment regeneration."""

    audio: np.ndarray  # [T] float32
    sample_rate: int
    segments: tuple[SegmentSpan, ...]
    options: SynthesisOptions  # the request, with the seed that was used
    path: Path  # the wav of exactly this audio

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def _spans(result: SynthesisResult) -> tuple[SegmentSpan, ...]:
    rate = result.sample_rate
    return tuple(
        SegmentSpan(
            s.index,
            s.text,
            int(round(s.start_s * rate)),
            int(round(s.end_s * rate)),
            s.tokens,
            s.stopped_by_budget,
            s.padded,
            s.guard_ok,
            s.guard_attempts,
        )
        for s in result.segments
    )


def keep(work_dir: Path, result: SynthesisResult, options: SynthesisOptions) -> KeptResult:
    """Save ``result`` as a new wav and keep it with its segment spans and the seed used."""
    path = save_audio(work_dir, "synth", result.audio, result.sample_rate)
    return KeptResult(
        result.audio, result.sample_rate, _spans(result), replace(options, seed=result.seed), path
    )


def synthesize(engine, work_dir: Path, options: SynthesisOptions, cancel: CancelToken | None = None):
    """Synthesize the whole request: ``(KeptResult, SynthesisResult)``."""
    result = engine.synthesize(options, cancel)
    return keep(work_dir, result, options), result


@dataclass(frozen=True, eq=False)  # holds arrays: compared and hashed by identity
class Finished:
    """The last item of :func:`stream`: the kept result and the engine's report."""

    kept: KeptResult
    result: SynthesisResult


def stream(
    engine, work_dir: Path, options: SynthesisOptions, hub: StreamHub, cancel: CancelToken | None = None
) -> Iterator[str | Finished]:
    """Synthesize into a live stream of ``hub``: yield its id once its first audio is in (the page then points
    its player there), push every piece as the engine makes it, close it and yield a :class:`Finished` that
    keeps exactly the streamed samples. A cancel (or closing this generator) closes the stream: the browser
    plays what was made and stops; any other error drops it."""
    stream_id: str | None = None
    try:
        for chunk in engine.stream(options, cancel):
            if chunk.final:
                if stream_id is not None:
                    hub.close(stream_id)  # before saving: the browser's response ends at once
                yield Finished(keep(work_dir, chunk.result, options), chunk.result)
                return
            if not len(chunk.audio):
                continue
            if stream_id is None:
                stream_id = hub.open(chunk.sample_rate)
                hub.push(stream_id, chunk.audio)  # first, so the player's request finds audio at once
                yield stream_id
            else:
                hub.push(stream_id, chunk.audio)
    except Exception as exc:
        if stream_id is not None and not isinstance(exc, Cancelled):
            hub.fail(stream_id)
        raise
    finally:
        if stream_id is not None:
            hub.close(stream_id)  # idempotent; also on GeneratorExit (the page cancelled the event)


def regenerate_segment(
    engine,
    work_dir: Path,
    kept: KeptResult,
    index: int,
    cancel: CancelToken | None = None,
    seed: int | None = None,
) -> tuple[KeptResult, SynthesisResult]:
    """Re-synthesize segment ``index`` alone with a new seed and splice it into the kept audio.

    Samples ``[start, end)`` of the segment are replaced; samples before it stay as they are and those
    after it move by the change in length (their segment spans shift with them). The result is saved as a
    new wav; the kept result passed in is not changed.
    """
    positions = {s.index: i for i, s in enumerate(kept.segments)}
    if index not in positions:
        last = max(positions) if positions else 0
        raise ValueError(f"There is no segment {index}: choose a segment number from 0 to {last}.")
    i = positions[index]
    seg = kept.segments[i]
    seed = secrets.randbelow(2**31) if seed is None else seed
    # One segment's text, unsplit: the engine makes it one row, so its audio has no pauses around it.
    options = replace(kept.options, text=seg.text, split="cut0", seed=seed)
    result = engine.synthesize(options, cancel)
    if result.sample_rate != kept.sample_rate:
        raise SynthesisError("The models changed since this result was made; synthesize it again.")
    piece = result.audio
    audio = np.concatenate([kept.audio[: seg.start], piece, kept.audio[seg.end :]])
    shift = len(piece) - (seg.end - seg.start)
    tokens = sum(s.tokens for s in result.segments)
    guard = [s.guard_ok for s in result.segments if s.guard_ok is not None]
    new_seg = replace(
        seg,
        end=seg.start + len(piece),
        tokens=tokens,
        stopped_by_budget=any(s.stopped_by_budget for s in result.segments),
        padded=any(s.padded for s in result.segments),
        guard_ok=all(guard) if guard else None,
        guard_attempts=sum(s.guard_attempts for s in result.segments),
        seed=seed,
    )
    segments = (
        *kept.segments[:i],
        new_seg,
        *(replace(s, start=s.start + shift, end=s.end + shift) for s in kept.segments[i + 1 :]),
    )
    path = save_audio(work_dir, "synth", audio, kept.sample_rate)
    log.info("Segment %d regenerated with seed %d: %s", index, seed, path)
    return KeptResult(audio, kept.sample_rate, segments, kept.options, path), result


# ---------------------------------------------------------------------------------------------- display
def segment_rows(t, kept: KeptResult) -> list[list]:
    """``#synth-segments`` rows: index, text, start s, end s, tokens, flags (``t``: the page's I18n)."""
    rows = []
    for s in kept.segments:
        flags = []
        if s.stopped_by_budget:
            flags.append(t("synth.flag.budget"))
        if s.padded:
            flags.append(t("synth.flag.padded"))
        if s.guard_ok is False:
            flags.append(t("synth.flag.guard_failed"))
        elif s.guard_ok and s.guard_attempts:
            flags.append(t("synth.flag.guard_retried", n=str(s.guard_attempts)))
        elif s.guard_ok:
            flags.append(t("synth.flag.guard_ok"))
        if s.seed is not None:
            flags.append(t("synth.flag.regenerated", seed=str(s.seed)))
        rate = kept.sample_rate
        start, end = round(s.start / rate, 3), round(s.end / rate, 3)
        rows.append([s.index, s.text, start, end, s.tokens, ", ".join(flags)])
    return rows


def info_markdown(t, kept: KeptResult, result: SynthesisResult, regenerated: int | None = None) -> str:
    """``#synth-info``: the seed used, length, timings, the file and the engine's warnings."""
    tm = result.timings
    if regenerated is not None:
        lines = [t("synth.info.regenerated", index=str(regenerated), seed=str(result.seed))]
    else:
        lines = [t("synth.info.seed", seed=str(result.seed))]
    lines.append(t("synth.info.length", duration=f"{kept.duration:.2f}", segments=str(len(kept.segments))))
    lines.append(
        t(
            "synth.info.timings",
            total=f"{tm.total:.2f}",
            text=f"{tm.text:.2f}",
            reference=f"{tm.reference:.2f}",
            gpt=f"{tm.gpt:.2f}",
            sovits=f"{tm.sovits:.2f}",
        )
    )
    if tm.first_chunk is not None:
        lines.append(t("synth.info.first_chunk", seconds=f"{tm.first_chunk:.2f}"))
    lines.append(t("synth.info.file", file=kept.path.name))
    text = "  \n".join(lines)
    warnings = list(result.warnings)
    if regenerated is not None:  # the engine numbered the lone segment 0; name it as the page does
        warnings = [re.sub(r"^segment 0\b", f"segment {regenerated}", w) for w in warnings]
    if warnings:
        text += f"\n\n**{t('synth.info.warnings')}**\n" + "\n".join(f"- {w}" for w in warnings)
    return text


# ---------------------------------------------------------------------------------------------- cancel
class CancelRegistry:
    """The cancel tokens of running requests per browser session, so ``#synth-cancel`` stops that page's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str | None, set[CancelToken]] = {}

    def start(self, session: str | None) -> CancelToken:
        token = CancelToken()
        with self._lock:
            self._tokens.setdefault(session, set()).add(token)
        return token

    def finish(self, session: str | None, token: CancelToken) -> None:
        with self._lock:
            self._tokens.get(session, set()).discard(token)

    def cancel(self, session: str | None) -> int:
        """Cancel every running request of ``session``; how many there were."""
        with self._lock:
            tokens = list(self._tokens.get(session, ()))
        for token in tokens:
            token.cancel()
        return len(tokens)


def cancel_registry(shared: dict) -> CancelRegistry:
    """The process-wide :class:`CancelRegistry` kept in ``ctx.shared``."""
    return shared.setdefault("synth:cancel", CancelRegistry())
