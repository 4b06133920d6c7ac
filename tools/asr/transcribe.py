"""Label a folder of clips (or a slicer manifest) with an ASR engine: a ``.list`` file plus a JSONL manifest.

Inputs:

* a folder: its audio files (by extension, not hidden), sorted by name, not recursive;
* a slicer manifest (``.jsonl``): one object per clip with ``path`` (or ``file``/``wav_path``/``output``),
  relative paths resolving against the manifest's folder, and optionally ``speaker``;
* a ``.list`` file: its rows' clips are labelled again (resolved as :class:`tools.lists.DatasetList` does).

Each clip is loaded at 16 kHz, transcribed, and appended to the manifest at once (default
``<out stem>.asr.jsonl`` beside the list), so an interrupted run loses at most one clip. A re-run skips
clips whose path and size are already in the manifest. The ``.list`` is then written atomically: rows
already in an existing output list are kept as they are (hand edits survive a re-run) and clips not yet in
it are appended. Clips that cannot be decoded (or are silent) are skipped and reported; clips where
nothing was recognised go to the manifest but not to the list. Inputs are never written.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gpt_sovits.audio import load_audio
from gpt_sovits.errors import GPTSoVITSError
from tools.asr.engines import SAMPLE_RATE, AsrEngine, FasterWhisperEngine
from tools.asr.manifest import append_entry, read_manifest
from tools.lists.listfile import DatasetList, ListRow, clean_field

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff", ".webm"}
)
_PATH_KEYS = ("path", "clip", "file", "wav_path", "output")  # "clip": tools.slicer manifests


class AsrInputError(GPTSoVITSError):
    """The ASR input or output paths cannot be used."""


@dataclass
class AsrResult:
    """What a :func:`transcribe_clips` run did."""

    list_path: Path
    manifest_path: Path
    transcribed: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # already in the manifest
    failed: list[tuple[Path, str]] = field(default_factory=list)  # unreadable/silent clips, with why
    empty: list[Path] = field(default_factory=list)  # nothing recognised: not put in the list
    audio_s: float = 0.0  # seconds of audio transcribed in this run
    asr_s: float = 0.0  # seconds spent in the engine in this run


def _manifest_clips(path: Path) -> list[tuple[Path, str | None]]:
    clips = []
    for n, entry in enumerate(read_manifest(path), 1):
        key = next((k for k in _PATH_KEYS if isinstance(entry.get(k), str)), None)
        if key is None:
            logger.warning("Entry %d of %s names no clip (expected a 'path' field); skipped.", n, path)
            continue
        clip = Path(entry[key]).expanduser()
        clips.append((clip if clip.is_absolute() else path.parent / clip, entry.get("speaker")))
    return clips


def find_clips(source: str | os.PathLike) -> list[tuple[Path, str | None]]:
    """The clips of an input folder, slicer manifest or list, as (absolute path, speaker or None)."""
    src = Path(source).expanduser()
    if src.is_dir():
        files = sorted(
            p
            for p in src.iterdir()
            if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
        )
        return [(p.resolve(), None) for p in files]
    if src.is_file() and src.suffix.lower() in (".jsonl", ".json"):
        return [(p.resolve(), spk) for p, spk in _manifest_clips(src)]
    if src.is_file() and src.suffix.lower() == ".list":
        dl = DatasetList.read(src)
        return [(dl.resolve(r).resolve(), r.speaker) for r in dl.rows]
    raise AsrInputError(
        f"ASR input '{src}' is neither a folder of clips, a slicer manifest (.jsonl) nor a .list file."
    )


def _check_outputs(source: Path, clips: list[Path], out_list: Path, manifest: Path) -> None:
    inputs = {p.resolve() for p in clips}
    if source.is_file():
        inputs.add(source.resolve())
    for out in (out_list, manifest):
        if out.resolve() in inputs:
            raise AsrInputError(f"Output '{out}' is one of the inputs; choose another output path.")
        if out.suffix.lower() in AUDIO_EXTENSIONS:
            raise AsrInputError(f"Output '{out}' has an audio extension; use a .list / .jsonl name.")
    if out_list.resolve() == manifest.resolve():
        raise AsrInputError("The list and the manifest need different file names.")


def _entry(path: Path, speaker: str, list_path: str, tr, duration_s: float, engine: AsrEngine) -> dict:
    return {
        "path": str(path),
        "list_path": list_path,
        "bytes": path.stat().st_size,
        "speaker": speaker,
        "text": tr.text,
        "language": tr.language,
        "confidence": tr.confidence,
        "no_speech_prob": tr.no_speech_prob,
        "duration_s": duration_s,
        "segments": [s.__dict__ for s in tr.segments],
        "engine": engine.name,
        "model": engine.model_name,
        "time": time.time(),
    }


def _list_path_text(clip: Path, out_list: Path, relative: bool) -> str:
    if relative:
        try:
            return os.path.relpath(clip, out_list.resolve().parent)
        except ValueError:  # another drive on Windows
            return str(clip)
    return str(clip)


def _write_list(out_list: Path, clips: list[Path], done: dict[str, dict]) -> None:
    """Keep the rows of an existing output list, append rows for newly labelled clips, save atomically."""
    dl = DatasetList.read(out_list) if out_list.is_file() else DatasetList(path=out_list)
    present = {str(dl.resolve(r).resolve()) for r in dl.rows}
    for clip in clips:
        entry = done.get(str(clip))
        if entry is None or str(clip) in present or not entry["text"]:
            continue
        lang = str(entry["language"] or "").upper()
        row = ListRow(
            entry["list_path"], clean_field(entry["speaker"]), lang, clean_field(entry["text"]), eol=""
        )
        dl.insert(len(dl), row)
        present.add(str(clip))
    dl.save(out_list)


def _label_one(
    clip: Path, speaker: str, out: Path, relative: bool, engine: AsrEngine, result: AsrResult
) -> dict | None:
    """Transcribe one clip into a manifest entry, recording the outcome in ``result``; None if unreadable."""
    try:
        audio = load_audio(clip, SAMPLE_RATE)  # [samples] at 16 kHz
    except GPTSoVITSError as exc:
        logger.warning("Skipping clip %s: %s", clip, exc)
        result.failed.append((clip, str(exc)))
        return None
    t0 = time.perf_counter()
    tr = engine.transcribe(audio)
    result.asr_s += time.perf_counter() - t0
    duration = len(audio) / SAMPLE_RATE
    result.audio_s += duration
    result.transcribed.append(clip)
    if not tr.text:
        logger.warning("Nothing recognised in %s; it is left out of the list.", clip)
        result.empty.append(clip)
    return _entry(clip, speaker, _list_path_text(clip, out, relative), tr, duration, engine)


def transcribe_clips(
    source: str | os.PathLike,
    out_list: str | os.PathLike,
    *,
    engine: AsrEngine | None = None,
    speaker: str | None = None,
    manifest: str | os.PathLike | None = None,
    relative_paths: bool = False,
    progress: Callable[[int, int, Path], None] | None = None,
) -> AsrResult:
    """Transcribe every clip of ``source`` into ``out_list`` (``wav|speaker|LANG|text``) and a manifest.

    Args:
        source: a folder of clips, a slicer manifest (.jsonl) or a .list file (see the module docstring).
        out_list: the .list file to write.
        engine: the recogniser (default: :class:`FasterWhisperEngine` with the bundled tiny.en model).
        speaker: speaker name for every row (default: the manifest's ``speaker``, else the input folder's name).
        manifest: the JSONL manifest (default: ``<out_list without suffix>.asr.jsonl``).
        relative_paths: write clip paths relative to the list's folder instead of absolute.
        progress: called as ``progress(done, total, clip)`` after each clip (skipped ones included).
    """
    src = Path(source).expanduser()
    out = Path(out_list).expanduser()
    man = Path(manifest).expanduser() if manifest is not None else out.with_suffix(".asr.jsonl")
    clips = find_clips(src)
    _check_outputs(src, [c for c, _ in clips], out, man)
    engine = engine or FasterWhisperEngine()
    default_speaker = speaker or (src.resolve().name if src.is_dir() else src.resolve().parent.name)
    done = {e["path"]: e for e in read_manifest(man) if "path" in e}
    result = AsrResult(list_path=out, manifest_path=man)
    for k, (clip, clip_speaker) in enumerate(clips, 1):
        old = done.get(str(clip))
        if old is not None and clip.is_file() and old.get("bytes") == clip.stat().st_size:
            result.skipped.append(clip)
        else:
            entry = _label_one(
                clip, speaker or clip_speaker or default_speaker, out, relative_paths, engine, result
            )
            if entry is not None:
                append_entry(man, entry)
                done[str(clip)] = entry
        if progress is not None:
            progress(k, len(clips), clip)
    _write_list(out, [c for c, _ in clips], done)
    logger.info(
        "ASR: %d transcribed, %d already done, %d failed -> %s",
        len(result.transcribed),
        len(result.skipped),
        len(result.failed),
        out,
    )
    return result
