"""Input checks shared by the library: references, member file names, dictionaries, audio."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpt_sovits.errors import AudioError
from gpt_sovits.voices.model import (
    DICTIONARY_FILE,
    RESERVED_FILES,
    VoiceError,
    check_language,
    dictionary_version,
)
from gpt_sovits.voices.names import safe_file_name

log = logging.getLogger(__name__)

# Upstream GPT-SoVITS asks for a 3-10 s prompt reference; outside that range quality suffers.
REF_SECONDS = (3.0, 10.0)
MAX_ISSUES_SHOWN = 10


def reference_triples(references: Any, ref_text: str | None, language: str) -> list[tuple[Path, str, str]]:
    """Normalise ``references`` (paths or (path, text, lang) triples) to triples.

    A plain path gets ``language``; the first one also gets ``ref_text`` (later plain paths only lend
    timbre and carry no transcript).
    """
    if isinstance(references, str | os.PathLike) or not isinstance(references, Sequence) or not references:
        raise VoiceError("Give at least one reference recording (a list of audio files).")
    if ref_text is not None and not isinstance(ref_text, str):
        raise VoiceError("The reference text must be text.")
    out = []
    for i, item in enumerate(references):
        if isinstance(item, tuple | list):
            if len(item) != 3 or not isinstance(item[1], str):
                raise VoiceError(f"Reference {i + 1} must be a path or a (path, text, language) triple.")
            path, text, lang = Path(item[0]), item[1], check_language(item[2], f"Reference {i + 1} language")
        elif isinstance(item, str | os.PathLike):
            path, text, lang = Path(item), (ref_text or "") if i == 0 else "", language
        else:
            raise VoiceError(f"Reference {i + 1} must be a path or a (path, text, language) triple.")
        out.append((path.expanduser(), text.strip(), lang))
    return out


def member_name(original: str, fallback: str, used: set[str]) -> str:
    """A safe, unused file name inside a voice folder for a file called ``original``; adds it to ``used``."""
    base = safe_file_name(original, fallback)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    candidate, n = base, 1
    reserved = {name.casefold() for name in (*RESERVED_FILES, DICTIONARY_FILE)}
    while candidate.casefold() in used or candidate.casefold() in reserved:
        n += 1
        candidate = f"{stem}-{n}.{suffix}" if dot else f"{stem}-{n}"
    used.add(candidate.casefold())
    return candidate


def audio_problem(path: Path) -> str | None:
    """Why ``path`` cannot serve as a reference recording, or None; logs a warning for odd lengths."""
    from gpt_sovits.audio import audio_info

    try:
        info = audio_info(path)
    except AudioError as exc:
        return f"{path.name}: {exc}"
    if info.duration_s <= 0:
        return f"{path.name}: the recording is empty"
    low, high = REF_SECONDS
    if not low <= info.duration_s <= high:
        log.warning(
            "Reference %s is %.1f s long; %g-%g s works best for the prompt reference.",
            path.name,
            info.duration_s,
            low,
            high,
        )
    return None


def _issues(lines: Sequence[str], label: str, version: str) -> tuple[list[str], bool]:
    """(issues, has_entries) of dictionary lines checked against a model version's phone set."""
    from gpt_sovits.text.dictionary import Dictionary

    parsed = Dictionary.from_lines(lines, label, dictionary_version(version))
    return [str(issue) for issue in parsed.issues], bool(parsed.entries)


def check_dictionary(source: Path | str | Sequence[str] | None, version: str) -> list[str] | None:
    """Lines of a pronunciation dictionary (a JSONL file path, or its lines) after validation.

    None when there is no dictionary or it has no entries. Any bad line refuses the whole dictionary, with
    every problem listed, so that a mistake shows up when the voice is saved rather than at synthesis.
    """
    if source is None:
        return None
    if isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise VoiceError(f"Cannot read the pronunciation dictionary {path} ({exc}).") from None
        label = str(path)
    else:
        lines, label = [str(line).rstrip("\r\n") for line in source], DICTIONARY_FILE
    issues, has_entries = _issues(lines, label, version)
    if issues:
        shown = "; ".join(issues[:MAX_ISSUES_SHOWN])
        more = f" (and {len(issues) - MAX_ISSUES_SHOWN} more)" if len(issues) > MAX_ISSUES_SHOWN else ""
        raise VoiceError(
            f"The pronunciation dictionary has {len(issues)} bad line(s): {shown}{more}. Fix or remove them; "
            'each line is a JSON object such as {"银行": "yin2 hang2"}.'
        )
    return lines if has_entries else None


def dictionary_problems(path: Path, version: str) -> list[str]:
    """Issues of a stored dictionary file, for :meth:`VoiceLibrary.verify`."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path.name}: unreadable ({exc})"]
    return [f"dictionary {issue}" for issue in _issues(lines, path.name, version)[0]]
