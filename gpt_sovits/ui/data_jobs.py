"""The Data tab's dataset folder and the command lines of its jobs (separation, slicing, ASR), without Gradio.

A dataset ``NAME`` lives in ``logs/webui/datasets/NAME/``::

    raw/              uploaded recordings (never overwritten: a second upload of ``a.wav`` becomes ``a_2.wav``)
    vocals/           tools.separate output: ``<stem>_vocals.wav`` + ``<stem>_instrumental.wav`` with a UVR5
                      model, ``<stem>_denoised.wav`` + ``<stem>_noise.wav`` from the noise-reduction fallback
    clips/            tools.slicer output and its ``manifest.jsonl``
    asr_input.jsonl   the clips handed to ASR (those of the slicer manifest that still exist)
    NAME.list         tools.asr output (``NAME.asr.jsonl`` beside it), what the proofreading table edits
    trash/            clips removed from the list (tools.lists)

Each step works only on what is new, so it can be run again after more recordings are uploaded: separation
on recordings without a voice track, slicing on recordings (their voice track when separated) not yet in the
slicer manifest, ASR on clips not yet in its manifest (tools.asr skips those itself).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

from gpt_sovits.fileio import atomic_write_bytes
from gpt_sovits.jobs import Job, JobStatus
from gpt_sovits.ui.i18n import I18n
from tools.slicer.core import AUDIO_EXTENSIONS, read_manifest

RAW, VOCALS, CLIPS = "raw", "vocals", "clips"
ASR_INPUT = "asr_input.jsonl"
# Output labels of tools.separate that are the voice (vocals, the fallback's denoised file, a dry signal).
VOICE_LABELS = ("vocals", "denoised", "no_reverb")
# Job names start with these (then the dataset name): how the tab finds its jobs in the job list.
JOB_KINDS = {"separate": "data-separate", "slice": "data-slice", "asr": "data-asr"}
SLICE_MODES = ("vad", "rms")
ASR_LANGUAGES = ("auto", "en", "zh", "ja", "ko", "yue")


def job_kind(name: str) -> str | None:
    """``"separate"``/``"slice"``/``"asr"`` for a Data tab job name, None for other jobs."""
    first = name.split(" ", 1)[0]
    return next((kind for kind, prefix in JOB_KINDS.items() if first == prefix), None)


def job_name(kind: str, dataset: str) -> str:
    """The job name of step ``kind`` on ``dataset`` (see :func:`job_kind`)."""
    return f"{JOB_KINDS[kind]} {dataset}"


def audio_files(folder: Path) -> list[Path]:
    """Audio files directly in ``folder`` (none when it does not exist), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
    )


def _unique(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem_2``, ``stem_3``... until the name is free."""
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, n = folder / name, 2
    while candidate.exists():
        candidate, n = folder / f"{stem}_{n}{suffix}", n + 1
    return candidate


def add_recordings(dataset: Path, files: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Copy uploaded files into ``raw/`` under unused names; returns (copies, names refused as non-audio)."""
    raw = dataset / RAW
    raw.mkdir(parents=True, exist_ok=True)
    added, refused = [], []
    for item in files:
        src = Path(str(item))
        # Gradio stores uploads as <temp>/<hash>/<original name>: the name is the user's.
        if not src.is_file() or src.suffix.lower() not in AUDIO_EXTENSIONS:
            refused.append(src.name)
            continue
        while True:
            dst = _unique(raw, src.name)
            try:
                with src.open("rb") as fin, dst.open("xb") as fout:  # "x": never replaces a file
                    shutil.copyfileobj(fin, fout, 1 << 20)
                break
            except FileExistsError:  # taken between the check and the open: try the next name
                continue
        added.append(dst)
    return added, refused


def voice_track(dataset: Path, recording: Path) -> Path | None:
    """The separated voice track of ``recording`` in ``vocals/`` (None if it was not separated)."""
    bases = (recording.stem, f"{recording.stem}_{recording.suffix.lstrip('.')}")  # see tools.separate
    for base in bases:
        for label in VOICE_LABELS:
            for ext in (".wav", ".flac"):
                candidate = dataset / VOCALS / f"{base}_{label}{ext}"
                if candidate.is_file():
                    return candidate
    return None


def separation_inputs(dataset: Path) -> list[Path]:
    """Recordings in ``raw/`` that have no voice track yet."""
    return [r for r in audio_files(dataset / RAW) if voice_track(dataset, r) is None]


def slice_inputs(dataset: Path) -> list[Path]:
    """What slicing takes: each recording's voice track (or the recording itself when it was not separated),
    leaving out sources already in the slicer manifest (their clips exist; the slicer would refuse them)."""
    done = {str(e.get("source")) for e in read_manifest(dataset / CLIPS)}
    sources = [voice_track(dataset, r) or r for r in audio_files(dataset / RAW)]
    return [s for s in sources if str(s.resolve()) not in done]


def write_asr_input(dataset: Path) -> tuple[Path, int]:
    """Write ``asr_input.jsonl``: the slicer manifest's clips that still exist (clips deleted or merged in the
    proofreading table sit in ``trash/`` and must not come back as rows). Returns (path, number of clips)."""
    clips = dataset / CLIPS
    paths = [clips / e["clip"] for e in read_manifest(clips) if isinstance(e.get("clip"), str)]
    lines = [json.dumps({"path": str(p.resolve())}, ensure_ascii=False) for p in paths if p.is_file()]
    target = dataset / ASR_INPUT
    atomic_write_bytes(target, "".join(line + "\n" for line in lines).encode("utf-8"))
    return target, len(lines)


def list_path(dataset: Path) -> Path:
    """The ``.list`` ASR writes for the dataset (named after it, as the Train tab shows it)."""
    return dataset / f"{dataset.name}.list"


def separate_args(dataset: Path, inputs: list[Path]) -> list[str]:
    """Arguments of ``python -m tools.separate`` for ``inputs`` into ``vocals/``."""
    return [*(str(p) for p in inputs), "--out-dir", str(dataset / VOCALS), "--progress", "json"]


def slice_args(dataset: Path, inputs: list[Path], mode: str, settings: dict[str, float]) -> list[str]:
    """Arguments of ``python -m tools.slicer`` for ``inputs`` into ``clips/``; ``settings`` maps the CLI's
    option names (``threshold``, ``min-length``, ...) to values."""
    if mode not in SLICE_MODES:
        raise ValueError(f"Slicing mode must be one of {', '.join(SLICE_MODES)}, got {mode!r}.")
    args = [*(str(p) for p in inputs), "--out", str(dataset / CLIPS), "--mode", mode, "--progress", "json"]
    for option, value in settings.items():
        if value is None:
            raise ValueError(f"The slicing setting '{option}' is empty: type a number or reset it.")
        number = float(value)
        args += [
            f"--{option}",
            str(int(number)) if number.is_integer() and option != "threshold" else str(number),
        ]
    return args


def asr_args(dataset: Path, source: Path, language: str, model: str | None = None) -> list[str]:
    """Arguments of ``python -m tools.asr`` labelling ``source`` into the dataset's list, speaker = dataset."""
    if language not in ASR_LANGUAGES:
        raise ValueError(f"ASR language must be one of {', '.join(ASR_LANGUAGES)}, got {language!r}.")
    args = [str(source), "--out", str(list_path(dataset)), "--speaker", dataset.name, "--progress", "json"]
    if language != "auto":
        args += ["--language", language]
    if model and model.strip():
        args += ["--model", model.strip()]
    return args


def summary(dataset: Path) -> dict[str, int]:
    """Counts for the dataset line of the tab: recordings, voice tracks, clips and list rows."""
    from tools.lists import DatasetList, ListFormatError

    rows = 0
    lst = list_path(dataset)
    if lst.is_file():
        try:
            rows = len(DatasetList.read(lst))
        except ListFormatError:
            rows = 0
    raw = audio_files(dataset / RAW)
    return {
        "recordings": len(raw),
        "separated": sum(voice_track(dataset, r) is not None for r in raw),
        "clips": len(audio_files(dataset / CLIPS)),
        "rows": rows,
    }


def finished_message(t: I18n, job: Job, status: JobStatus) -> str:
    """What the message line says when a data job has ended."""
    if status.status != "done":
        return t("data.job_ended", job=status.name, message=status.message)
    events = job.events_since(0)
    final = next((e for e in reversed(events) if e.get("event") == "done"), {})
    kind = job_kind(status.name)
    if kind == "separate":
        note = final.get("message") or ""
        return t("data.separated") + (f" {t('data.separate_fallback', note=note)}" if note else "")
    if kind == "slice":
        return t("data.sliced", clips=str(final.get("clips", "?")))
    return t("data.transcribed", n=str(final.get("transcribed", "?")), list=str(final.get("list", "")))
