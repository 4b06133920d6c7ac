"""Slicing files: analyse in one streaming pass, plan the cuts, write the clips in a second pass.

Memory stays bounded for any file length: audio is only ever held one block (``block_seconds``)
plus one clip (at most ``max_length_ms``) at a time. What is kept for the whole file is the RMS
curve (100 values per second at the default hop) and, in vad mode, silero's speech probabilities
(31 per second): about 1.5 MB per hour.

Output rules: clips are named ``{stem}_{start:010d}_{end:010d}.wav`` (start/end in samples at
``options.sample_rate``, as upstream) and described in ``manifest.jsonl``, one JSON object per clip
(clip path relative to the folder), appended as each clip is written. Nothing is ever overwritten:
if any clip name planned for a source already exists in the output folder, that source is refused
with :class:`OutputExistsError` and nothing of it is written (a re-run with the same input and
settings therefore changes nothing).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpt_sovits.audio import normalize_max_alpha, save_audio
from gpt_sovits.errors import AudioError, GPTSoVITSError
from tools.slicer.options import (
    DEFAULT_OPTIONS,
    Clip,
    OutputExistsError,
    SkippedInput,
    SliceOptions,
    SlicerError,
    SliceResult,
)
from tools.slicer.plan import Span, nonspeech_gaps, plan_spans, silence_gaps
from tools.slicer.stream import StreamingRMS, expected_samples, iter_blocks, rms_window

logger = logging.getLogger(__name__)

Progress = Callable[[float], None]
MANIFEST_NAME = "manifest.jsonl"
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".wma", ".webm"}
)
_ANALYSIS_SHARE = 0.6  # share of a file's progress spent in the analysis pass


@dataclass(frozen=True)
class Analysis:
    """What the analysis pass keeps of one file."""

    n_samples: int  # length at options.sample_rate
    rms: np.ndarray  # [n_samples // hop + 1] float64 RMS curve
    speech: list[tuple[int, int]] | None  # vad mode: speech segments (samples); None in rms mode


def _scaled(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    """A callback mapping [0, 1] onto [lo, hi] of ``progress``."""
    if progress is None:
        return None
    return lambda f: progress(lo + (hi - lo) * min(1.0, max(0.0, f)))


def analyze_file(
    path: str | os.PathLike,
    options: SliceOptions = DEFAULT_OPTIONS,
    progress: Progress | None = None,
    *,
    block_seconds: float = 30.0,
) -> Analysis:
    """Streaming analysis pass: the RMS curve and, in vad mode, the silero speech segments."""
    from tools.slicer.vad import StreamingVAD, speech_segments

    p = Path(path)
    expected = max(1, expected_samples(p, options.sample_rate))
    rms = StreamingRMS(options.hop, rms_window(options.hop, options.samples(options.min_interval_ms)))
    vad = StreamingVAD(options.sample_rate) if options.mode == "vad" else None
    done = 0
    for block in iter_blocks(p, options.sample_rate, block_seconds):
        rms.push(block)
        if vad is not None:
            vad.push(block)
        done += block.shape[0]
        if progress:
            progress(min(1.0, done / expected))
    if done == 0:
        raise AudioError(f"Audio file '{p}' contains no audio samples. Re-export the recording.")
    speech = None
    if vad is not None:
        o = options
        speech = speech_segments(
            vad.finish(),
            vad.samples_16k,
            o.sample_rate,
            threshold=o.vad_threshold,
            min_silence_ms=o.vad_min_silence_ms,
            speech_pad_ms=o.vad_speech_pad_ms,
            min_speech_ms=o.vad_min_speech_ms,
        )
    return Analysis(n_samples=done, rms=rms.finish(), speech=speech)


def plan_file(analysis: Analysis, options: SliceOptions = DEFAULT_OPTIONS) -> list[Span]:
    """Clip spans for an analysed file (no I/O)."""
    if analysis.speech is None:
        gaps = silence_gaps(analysis.rms, options.threshold_db)
    else:
        gaps = nonspeech_gaps(analysis.speech, analysis.n_samples, options.hop)
    return plan_spans(analysis.rms, gaps, analysis.n_samples, options)


def clip_name(stem: str, start: int, end: int) -> str:
    """File name of a clip: the source stem plus start and end sample, zero-padded (as upstream)."""
    return f"{stem}_{start:010d}_{end:010d}.wav"


def _check_outputs(source: Path, out_dir: Path, spans: list[Span]) -> list[Path]:
    """Planned clip paths; refuses if any exists or would be the source itself."""
    paths = [out_dir / clip_name(source.stem, s.start, s.end) for s in spans]
    existing = [p for p in paths if p.exists()]
    if existing:
        raise OutputExistsError(
            f"'{out_dir}' already holds {len(existing)} of the {len(paths)} clips planned for '{source}' "
            f"(e.g. '{existing[0].name}'), from an earlier run or another source with the same name. "
            "Nothing was overwritten: choose an empty output folder or remove those clips first."
        )
    src = source.resolve()
    if any(p.resolve() == src for p in paths):
        raise SlicerError(f"A clip of '{source}' would replace the source itself. Use another output folder.")
    return paths


def _write_clips(
    source: Path,
    spans: list[Span],
    paths: list[Path],
    options: SliceOptions,
    progress: Progress | None,
    block_seconds: float,
    n_samples: int,
    on_clip: Callable[[Clip], None],
) -> list[Clip]:
    """Second streaming pass: cut, normalise (upstream max/alpha mix) and save each span."""
    clips: list[Clip] = []
    k, offset = 0, 0
    pieces: list[np.ndarray] = []
    for block in iter_blocks(source, options.sample_rate, block_seconds):
        b_end = offset + block.shape[0]
        while k < len(spans) and spans[k].start < b_end:
            span = spans[k]
            lo, hi = max(span.start, offset), min(span.end, b_end)
            if hi > lo:
                pieces.append(block[lo - offset : hi - offset])
            if span.end > b_end:
                break  # the clip continues in the next block
            clips.append(_save(source, span, paths[k], np.concatenate(pieces), options))
            on_clip(clips[-1])
            pieces, k = [], k + 1
        offset = b_end
        if progress:
            progress(min(1.0, offset / max(1, n_samples)))
    if k < len(spans):  # the second decode came out shorter than the first: should not happen
        raise AudioError(f"'{source}' changed while it was being sliced. Slice it again.")
    return clips


def _save(source: Path, span: Span, path: Path, audio: np.ndarray, options: SliceOptions) -> Clip:
    source_peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    clip = normalize_max_alpha(audio, max=options.normalize_max, alpha=options.alpha)  # [samples]
    save_audio(path, clip, options.sample_rate, subtype="PCM_16")
    return Clip(
        source=source,
        path=path,
        start=span.start,
        end=span.end,
        sample_rate=options.sample_rate,
        peak=float(np.max(np.abs(clip))) if clip.size else 0.0,
        source_peak=source_peak,
        mode=options.mode,
        forced_start=span.forced_start,
        forced_end=span.forced_end,
        short=span.short,
    )


def _report_forced(source: Path, spans: list[Span], options: SliceOptions) -> None:
    for span in spans:
        if span.forced_end:
            logger.warning(
                "'%s': no pause within %.1f s of audio; cut at the quietest point, %.2f s (speech may be "
                "cut there). Lower threshold_db or raise max_length_ms to avoid this.",
                source,
                options.max_length_ms / 1000,
                span.end / options.sample_rate,
            )


def slice_file(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: SliceOptions = DEFAULT_OPTIONS,
    progress: Progress | None = None,
    *,
    block_seconds: float = 30.0,
) -> list[Clip]:
    """Cut one recording into clips in ``out_dir`` and append them to its ``manifest.jsonl``.

    Args:
        path: the recording (any format gpt_sovits.audio reads).
        out_dir: output folder (created if missing).
        options: slicing settings.
        progress: called with the fraction done (0..1) as the file is processed.
        block_seconds: decoding block length; bounds memory, does not change the result.

    Returns:
        The clips written, in time order (empty if the file holds no sound / no speech).

    Raises:
        AudioError: the file cannot be read.
        OutputExistsError: clips with the planned names already exist (nothing is written).
    """
    source, out = Path(path), Path(out_dir)
    analysis = analyze_file(
        source, options, _scaled(progress, 0.0, _ANALYSIS_SHARE), block_seconds=block_seconds
    )
    spans = plan_file(analysis, options)
    if not spans:
        logger.warning(
            "'%s' holds no %s; no clips written.", source, "speech" if options.mode == "vad" else "sound"
        )
        if progress:
            progress(1.0)
        return []
    out.mkdir(parents=True, exist_ok=True)
    paths = _check_outputs(source, out, spans)
    _report_forced(source, spans, options)
    write_progress = _scaled(progress, _ANALYSIS_SHARE, 1.0)
    # Each clip is listed as soon as it is written, so the manifest matches the folder even if a
    # later clip fails (disk full, ...).
    with open(out / MANIFEST_NAME, "a", encoding="utf-8") as fh:

        def record(clip: Clip) -> None:
            fh.write(json.dumps(clip.manifest_entry(out, options), ensure_ascii=False) + "\n")
            fh.flush()

        return _write_clips(
            source, spans, paths, options, write_progress, block_seconds, analysis.n_samples, record
        )


def slice_files(
    paths: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    options: SliceOptions = DEFAULT_OPTIONS,
    progress: Progress | None = None,
    *,
    block_seconds: float = 30.0,
) -> SliceResult:
    """Slice several recordings into one folder; an input that fails is skipped and reported.

    Progress is weighted by each file's duration. Files that cannot be read, whose clips already
    exist, or that hold no sound end up in ``result.skipped`` with the reason; the rest go on.
    """
    sources = [Path(p) for p in paths]
    weights = []
    for src in sources:
        try:
            weights.append(max(1.0, float(expected_samples(src, options.sample_rate))))
        except GPTSoVITSError:
            weights.append(1.0)  # unreadable: reported when its turn comes
    total, done = sum(weights) or 1.0, 0.0
    result = SliceResult()
    for src, weight in zip(sources, weights):
        file_progress = _scaled(progress, done / total, (done + weight) / total)
        try:
            clips = slice_file(src, out_dir, options, file_progress, block_seconds=block_seconds)
        except GPTSoVITSError as exc:
            logger.error("Skipped '%s': %s", src, exc)
            result.skipped.append(SkippedInput(src, str(exc)))
        else:
            if clips:
                result.clips.extend(clips)
            else:
                what = "speech" if options.mode == "vad" else "sound above the silence threshold"
                result.skipped.append(SkippedInput(src, f"no {what} found"))
        done += weight
        if progress:
            progress(done / total)
    return result


def list_audio_files(folder: str | os.PathLike) -> list[Path]:
    """Audio files directly inside ``folder`` (not its subfolders), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def slice_folder(
    folder: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: SliceOptions = DEFAULT_OPTIONS,
    progress: Progress | None = None,
    *,
    block_seconds: float = 30.0,
) -> SliceResult:
    """Slice every audio file directly inside ``folder`` (see :func:`slice_files`).

    Raises:
        SlicerError: ``folder`` is not a folder, or ``out_dir`` is that same folder (clips would mix
            with the recordings and be sliced again on the next run).
    """
    src = Path(folder)
    if not src.is_dir():
        raise SlicerError(f"'{src}' is not a folder. Give a folder of recordings, or the files themselves.")
    if Path(out_dir).resolve() == src.resolve():
        raise SlicerError(f"The output folder is the input folder '{src}'. Choose a separate output folder.")
    return slice_files(list_audio_files(src), out_dir, options, progress, block_seconds=block_seconds)


def read_manifest(out_dir: str | os.PathLike) -> list[dict]:
    """The entries of ``out_dir/manifest.jsonl`` (clip paths are relative to ``out_dir``)."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
