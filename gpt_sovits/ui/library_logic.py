"""What the Voices and Models tabs show, computed without Gradio: table rows, Markdown and file names.

Everything here reads the voice library, the model catalog and the registry; nothing loads a model. The tabs
turn the rows into tables and call these functions from their handlers, so tests can call them directly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from gpt_sovits.fileio import size_text
from gpt_sovits.registry.catalog import identify_file, scan_models
from gpt_sovits.registry.layout import PRETRAINED_V2, PRETRAINED_V2PRO, item_present
from gpt_sovits.settings import Settings
from gpt_sovits.voices import Voice, VoiceLibrary

Translate = Callable[..., str]  # an I18n: t("key", name=value) -> str

REF_TEXT_CHARS = 48
# Characters that would change the meaning of Markdown when they appear in a user's voice name or text.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")
# The separator of a loaded entry's dropdown value: "kind" never contains it, paths may contain anything.
CHOICE_SEP = "::"


def md_escape(text: str) -> str:
    """``text`` safe to place inside Markdown (user-chosen names and transcripts)."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def md_code(text: str) -> str:
    """``text`` as a Markdown code span (no escapes apply inside one, so a backtick is the only danger)."""
    return "`" + text.replace("`", "'").replace("\n", " ") + "`"


def shorten(text: str, limit: int = REF_TEXT_CHARS) -> str:
    """One line of at most ``limit`` characters, with an ellipsis when cut."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def local_time(moment: datetime | float) -> str:
    """A time (aware datetime or ``time.time()`` seconds) in the local zone, to the minute or second."""
    if isinstance(moment, datetime):
        return moment.astimezone().strftime("%Y-%m-%d %H:%M")
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


# ---------------------------------------------------------------------------------------------- voices
def voice_rows(t: Translate, voices: list[Voice]) -> list[list[str]]:
    """One row per voice: name, model version, language, reference text (short), created, updated,
    dictionary yes/no. The name comes first: selecting a row selects the voice by its first cell."""
    return [
        [
            v.name,
            v.version,
            v.language,
            shorten(v.prompt.text),
            local_time(v.created),
            local_time(v.updated),
            t("voices.yes") if v.dictionary_path else t("voices.no"),
        ]
        for v in voices
    ]


def _file_line(path: Path) -> str:
    size = size_text(path.stat().st_size) if path.is_file() else "?"
    return f"{md_code(path.name)} ({size})"


def voice_info(t: Translate, library: VoiceLibrary, voice: Voice) -> str:
    """Markdown about one voice: its models, files, settings and the result of :meth:`VoiceLibrary.verify`
    (which re-hashes every file, so a damaged or edited voice shows here)."""
    lines = [
        f"### {md_escape(voice.name)}",
        f"- {t('voices.info.version')}: {voice.version} · {t('voices.info.language')}: {voice.language}",
        f"- GPT: {_file_line(voice.gpt_path)}",
        f"- SoVITS: {_file_line(voice.sovits_path)}",
    ]
    for i, ref in enumerate(voice.references):
        text = md_escape(shorten(ref.text, 120)) if ref.text else t("voices.info.no_text")
        lines.append(
            f"- {t('voices.info.reference', n=str(i + 1))}: {_file_line(ref.path)} [{ref.lang}] {text}"
        )
    if voice.dictionary_path is not None:
        lines.append(f"- {t('voices.info.dictionary')}: {_file_line(voice.dictionary_path)}")
    if voice.defaults:
        options = ", ".join(f"{k}={v}" for k, v in voice.defaults.items())
        lines.append(f"- {t('voices.info.defaults')}: {md_code(options)}")
    lines.append(f"- {t('voices.info.consent')}: {md_escape(voice.consent)}")
    lines.append(f"- {t('voices.info.folder')}: {md_code(str(voice.folder))}")
    problems = library.verify(voice.name)
    if problems:
        lines.append(f"\n**{t('voices.info.problems')}**")
        lines += [f"- {md_escape(p)}" for p in problems]
    else:
        lines.append(f"\n{t('voices.info.verified', count=str(len(voice.sha256)))}")
    return "\n".join(lines)


def export_path(folder: Path, voice: Voice) -> Path:
    """A new, unique ``<voice folder>-<time>.zip`` in ``folder``: an export never replaces an earlier one."""
    base = f"{voice.folder.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = folder / f"{base}.zip", 1
    while path.exists():
        n += 1
        path = folder / f"{base}-{n}.zip"
    return path


# ---------------------------------------------------------------------------------------------- models
def installed_rows(t: Translate, settings: Settings, library: VoiceLibrary) -> list[list[str]]:
    """The model files of this installation: source, kind, version, path, size (or "missing").

    Nothing large is read: pretrained versions come from the official layout, voice files take the version
    their voice.json records, and only files under ``pretrained/user/`` are identified (remembered per file).
    """
    root = Path(settings.pretrained_dir)
    versions = {root / item.path: item.version for item in PRETRAINED_V2}
    by_folder = {v.folder.resolve(): v for v in library.list()}
    voices_dir = Path(settings.voices_dir)
    sources = {"pretrained": t("models.source.pretrained"), "voice": t("models.source.voice")}
    sources["user"] = t("models.source.user")
    rows = []
    found = scan_models(settings)
    # The v2Pro set is not part of the scan (synthesis does not need it); show those items that are present.
    extra = [item for item in PRETRAINED_V2PRO if item_present(root, item)]
    for entry in found:
        kind, version = entry.kind, entry.version
        if entry.source == "pretrained":
            version = versions.get(entry.path)
        elif entry.source == "voice":
            inside = entry.path.relative_to(voices_dir).parts  # scan_models builds it from voices_dir
            if any(part.startswith(".") for part in inside):
                continue  # deleted voices (.trash/) and unfinished copies are not installed models
            voice = by_folder.get(entry.path.parent.resolve())
            if voice is not None:
                kind = "gpt" if entry.path == voice.gpt_path else "sovits"
                version = voice.version
        else:
            kind, version = identify_file(entry.path)
        size = size_text(entry.size) if entry.present else t("models.missing_short")
        rows.append([sources[entry.source], kind, version or "", str(entry.path), size])
    for item in extra:
        path = root / item.path
        size = size_text(path.stat().st_size)
        rows.append([sources["pretrained"], item.kind or "", item.version or "", str(path), size])
    return rows


def loaded_rows(registry) -> list[list[object]]:
    """The registry's loaded models, least recently used first: kind, path, device, dtype, MB, uses, loaded at."""
    return [
        [e.kind, str(e.path), e.device, e.dtype, round(e.nbytes / 2**20, 1), e.uses, local_time(e.loaded_at)]
        for e in registry.loaded()
    ]


def loaded_choices(registry) -> list[tuple[str, str]]:
    """(label, value) pairs for the unload dropdown; the value is ``kind::path`` (see :func:`split_choice`)."""
    return [(f"{e.kind}: {e.path.name}", f"{e.kind}{CHOICE_SEP}{e.path}") for e in registry.loaded()]


def split_choice(value: str) -> tuple[str, str]:
    """(kind, path) of an unload dropdown value."""
    kind, sep, path = (value or "").partition(CHOICE_SEP)
    if not sep or not kind or not path:
        raise ValueError("Choose a loaded model in the list first (refresh the page if the list is empty).")
    return kind, path


def memory_markdown(t: Translate, registry) -> str:
    """Which device the models run on, how much of the model budget they use, and the device's own memory
    (the GPU's free/total on CUDA, this process's resident memory on the CPU)."""
    import psutil
    import torch

    choice = registry.device
    used, budget = registry.memory_used(), registry.budget_bytes
    lines = [
        t("models.memory.device", device=str(choice.device), dtype=str(choice.dtype).removeprefix("torch.")),
        t(
            "models.memory.models",
            count=str(len(registry.loaded())),
            used=size_text(used),
            budget=size_text(budget),
            percent=f"{100 * used / budget:.0f}" if budget else "0",
        ),
    ]
    if choice.is_cuda and torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info(choice.device)
        lines.append(
            t(
                "models.memory.gpu",
                name=torch.cuda.get_device_name(choice.device),
                used=size_text(total - free),
                total=size_text(total),
                torch_mb=size_text(torch.cuda.memory_allocated(choice.device)),
            )
        )
    rss = psutil.Process().memory_info().rss
    vm = psutil.virtual_memory()
    lines.append(
        t(
            "models.memory.ram",
            rss=size_text(rss),
            available=size_text(vm.available),
            total=size_text(vm.total),
        )
    )
    return "\n\n".join(lines)
