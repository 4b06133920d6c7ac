"""Per-row analysis of a dataset list: durations and quality flags.

Length bounds follow GPT-SoVITS's practice: 3-10 s is the window its inference accepts for a reference
clip (it refuses anything outside) and what slicing aims for, so rows outside it are flagged
``too_short``/``too_long`` (usable for training, but worth a look: long rows cost memory, short rows
carry little prosody). Its training data loaders silently drop clips of 0.6 s or less and of 54 s or
more (SoVITS' loader; ``max_sec: 54`` of the GPT stage), flagged ``unusable_length``.
"""

from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gpt_sovits.audio import audio_info, load_audio
from gpt_sovits.errors import GPTSoVITSError
from tools.lists.listfile import DatasetList, ListRow

logger = logging.getLogger(__name__)

FLAGS: dict[str, str] = {
    "missing": "the audio file does not exist",
    "unreadable": "the audio file cannot be decoded",
    "too_short": "shorter than the 3 s GPT-SoVITS expects of a clip",
    "too_long": "longer than 10 s",
    "unusable_length": "0.6 s or shorter, or 54 s or longer: GPT-SoVITS training drops it",
    "clipping": "samples at full scale (distorted recording)",
    "silence": "very low level throughout",
    "no_speech": "the voice activity detector finds no speech",
    "low_asr_confidence": "the recogniser was unsure of the text (check it by ear)",
    "empty_text": "the text is empty",
    "unknown_language": "GPT-SoVITS does not know the language code and skips the row",
    "duplicate_name": "another row has the same file name; GPT-SoVITS keys clips by name and mixes them up",
}


@dataclass(frozen=True)
class CheckConfig:
    """Thresholds of :func:`check_list`."""

    min_s: float = 3.0
    max_s: float = 10.0
    train_min_s: float = 0.6
    train_max_s: float = 54.0
    clip_level: float = 0.999  # |sample| at or above this counts as full scale
    clip_min_samples: int = 3  # samples in flat full-scale runs needed to call it clipping
    silence_dbfs: float = -45.0  # overall RMS below this is "silence" (speech is around -30..-15 dBFS)
    min_confidence: float = math.exp(-1.0)  # Whisper's own give-up point: avg log-prob -1
    vad: bool = True
    vad_threshold: float = 0.5


@dataclass
class RowReport:
    """What :func:`check_list` found for one row."""

    index: int
    line_no: int | None
    wav_path: str
    path: str
    flags: list[str] = field(default_factory=list)
    duration_s: float | None = None
    peak: float | None = None
    rms_dbfs: float | None = None
    clipped_samples: int | None = None
    speech_s: float | None = None
    confidence: float | None = None
    error: str = ""


@dataclass
class CheckReport:
    """Per-row reports, duplicate basenames and malformed lines of one list."""

    rows: list[RowReport]
    duplicates: dict[str, list[int]]
    problems: list[tuple[int | None, str]]

    @property
    def flagged(self) -> list[RowReport]:
        """Rows with at least one flag."""
        return [r for r in self.rows if r.flags]

    @property
    def total_duration_s(self) -> float:
        """Sum of the durations of the readable rows."""
        return float(sum(r.duration_s or 0.0 for r in self.rows))

    def to_dict(self) -> dict:
        """Plain data for JSON output."""
        return {
            "rows": [asdict(r) for r in self.rows],
            "duplicates": self.duplicates,
            "problems": [{"line": n, "problem": p} for n, p in self.problems],
            "total_duration_s": self.total_duration_s,
        }


def _manifest_lookup(manifest: str | os.PathLike | None) -> Callable[[Path], dict | None]:
    if manifest is None:
        return lambda path: None
    from tools.asr.manifest import read_manifest

    entries = read_manifest(Path(manifest))
    by_path = {str(Path(e["path"]).resolve()): e for e in entries if "path" in e}
    by_name: dict[str, list[dict]] = defaultdict(list)
    for e in entries:
        if "path" in e:
            by_name[Path(e["path"]).name].append(e)

    def lookup(path: Path) -> dict | None:
        hit = by_path.get(str(path.resolve()))
        if hit is None and len(by_name.get(path.name, [])) == 1:  # dataset moved: match a unique name
            hit = by_name[path.name][0]
        return hit

    return lookup


def _load_vad():
    try:
        import silero_vad
    except ImportError as exc:
        raise GPTSoVITSError(
            "The no-speech check needs silero-vad: python -m pip install silero-vad (or pass vad=False)."
        ) from exc
    # The ONNX build runs on onnxruntime (a core package here) and avoids the deprecated TorchScript loader.
    return silero_vad, silero_vad.load_silero_vad(onnx=True)


def _speech_seconds(audio16k: np.ndarray, vad, threshold: float) -> float:
    import torch

    silero_vad, model = vad
    stamps = silero_vad.get_speech_timestamps(
        torch.from_numpy(audio16k), model, threshold=threshold, sampling_rate=16000, return_seconds=True
    )
    return float(sum(s["end"] - s["start"] for s in stamps))


def clipped_samples(audio: np.ndarray, level: float = 0.999) -> int:
    """Samples in flat runs (two or more equal neighbours) at or above ``level`` of full scale.

    A clipped recording is cut off flat at full scale; a peak-normalised one merely touches it at
    isolated peaks (once per clip, so concatenated clips touch it several times), which must not count.
    """
    hot = np.abs(audio) >= level  # [samples]
    flat = hot[:-1] & hot[1:] & (audio[:-1] == audio[1:])  # [samples - 1]
    in_run = np.zeros(len(audio), dtype=bool)
    in_run[:-1] |= flat
    in_run[1:] |= flat
    return int(np.count_nonzero(in_run))


def _analyse_audio(rep: RowReport, path: Path, cfg: CheckConfig, vad) -> None:
    """Fill the signal measurements and flags of ``rep`` from the file at ``path``."""
    import soxr

    info = audio_info(path)
    audio = load_audio(path, info.sample_rate, allow_silent=True)  # [samples], native rate
    rep.duration_s = len(audio) / info.sample_rate
    rep.peak = float(np.max(np.abs(audio)))
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    rep.rms_dbfs = 20.0 * math.log10(rms) if rms > 0 else -math.inf
    rep.clipped_samples = clipped_samples(audio, cfg.clip_level)
    if rep.duration_s < cfg.min_s:
        rep.flags.append("too_short")
    if rep.duration_s > cfg.max_s:
        rep.flags.append("too_long")
    if not cfg.train_min_s < rep.duration_s < cfg.train_max_s:
        rep.flags.append("unusable_length")
    if rep.clipped_samples >= cfg.clip_min_samples:
        rep.flags.append("clipping")
    if rep.rms_dbfs < cfg.silence_dbfs:
        rep.flags.append("silence")
    if vad is not None:
        a16 = audio if info.sample_rate == 16000 else soxr.resample(audio, info.sample_rate, 16000)
        speech = _speech_seconds(np.ascontiguousarray(a16, dtype=np.float32), vad, cfg.vad_threshold)
        rep.speech_s = min(speech, rep.duration_s)  # silero rounds its stamps to milliseconds
        if rep.speech_s == 0.0:
            rep.flags.append("no_speech")


def _check_row(
    i: int, row: ListRow, dl: DatasetList, cfg: CheckConfig, vad, lookup: Callable[[Path], dict | None]
) -> RowReport:
    path = dl.resolve(row)
    rep = RowReport(index=i, line_no=row.line_no, wav_path=row.wav_path, path=str(path))
    if not row.text.strip():
        rep.flags.append("empty_text")
    if row.language is None:
        rep.flags.append("unknown_language")
    entry = lookup(path)
    if entry is not None and entry.get("confidence") is not None:
        rep.confidence = float(entry["confidence"])
        if rep.confidence < cfg.min_confidence:
            rep.flags.append("low_asr_confidence")
    if not path.is_file():
        rep.flags.append("missing")
        return rep
    try:
        _analyse_audio(rep, path, cfg, vad)
    except GPTSoVITSError as exc:
        rep.flags.append("unreadable")
        rep.error = str(exc)
    return rep


def check_list(
    dl: DatasetList,
    config: CheckConfig | None = None,
    *,
    manifest: str | os.PathLike | None = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> CheckReport:
    """Analyse every row of ``dl``: duration and the flags in :data:`FLAGS`.

    Args:
        dl: the list.
        config: thresholds (defaults: :class:`CheckConfig`); ``config.vad=False`` skips silero-vad.
        manifest: an ASR JSONL manifest (``tools.asr``) whose ``confidence`` values give
            ``low_asr_confidence``; rows are matched by resolved path, else by a unique file name.
            "auto" (default) uses ``<list stem>.asr.jsonl`` beside the list when it exists (the name
            ``tools.asr`` writes); None skips the confidence check.
        progress: called as ``progress(done, total)`` after each row.
    """
    cfg = config or CheckConfig()
    if manifest == "auto":
        sibling = dl.path.with_suffix(".asr.jsonl") if dl.path is not None else None
        manifest = sibling if sibling is not None and sibling.is_file() else None
    lookup = _manifest_lookup(manifest)
    vad = _load_vad() if cfg.vad else None
    rows = dl.rows
    names: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        names[row.basename].append(i)
    duplicates = {name: idx for name, idx in names.items() if len(idx) > 1}
    reports = []
    for i, row in enumerate(rows):
        rep = _check_row(i, row, dl, cfg, vad, lookup)
        if row.basename in duplicates:
            rep.flags.append("duplicate_name")
        reports.append(rep)
        if progress is not None:
            progress(i + 1, len(rows))
    return CheckReport(rows=reports, duplicates=duplicates, problems=dl.problems)
