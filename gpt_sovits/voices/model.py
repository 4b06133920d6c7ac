"""What a voice is: the ``voice.json`` schema, the :class:`Voice` record and the library's errors.

``voice.json`` (format version 1) names every file of the voice relative to its folder; each such name is
a single safe path component, so nothing a voice.json says can point outside its folder::

    {
      "format": "gpt_sovits.voice",
      "format_version": 1,
      "name": "小明 – Zoë",
      "language": "auto",
      "version": "v2",
      "gpt": "xiaoming-e15.ckpt",
      "sovits": "xiaoming_e8_s200.pth",
      "references": [{"file": "ref.wav", "text": "今天天气很好。", "lang": "zh"}],
      "defaults": {"top_k": 10, "speed": 1.1},
      "dictionary": "dictionary.jsonl",
      "consent": "My own voice, recorded by me for this purpose.",
      "created": "2025-01-31T12:00:00Z",
      "updated": "2025-01-31T12:00:00Z",
      "app_version": "0.1.0",
      "sha256": {"xiaoming-e15.ckpt": "9f2c...", "xiaoming_e8_s200.pth": "...", "ref.wav": "...", ...}
    }
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.text.langseg import LANG_MODES
from gpt_sovits.voices.names import is_safe_component

FORMAT = "gpt_sovits.voice"
FORMAT_VERSION = 1
VOICE_FILE = "voice.json"
DICTIONARY_FILE = "dictionary.jsonl"
FEATURE_FILES = ("features.cache.safetensors", "features.cache.pt")
RESERVED_FILES = (VOICE_FILE, *FEATURE_FILES)
MODEL_VERSIONS = ("v1", "v2", "v2Pro", "v2ProPlus")

_HEX64 = re.compile(r"[0-9a-f]{64}")


class VoiceError(GPTSoVITSError):
    """A voice library operation cannot be done as asked (bad input, name clash, damaged voice ...)."""


class VoiceNotFound(VoiceError):
    """No voice has the requested name; ``names`` lists the voices that exist."""

    def __init__(self, message: str, names: list[str]) -> None:
        super().__init__(message)
        self.names = names


class VoiceExists(VoiceError):
    """A voice (or file) with that name already exists; nothing was overwritten."""


class VoiceCorrupt(VoiceError):
    """A voice folder's voice.json is unreadable or its files do not match their recorded hashes."""


class UnsafeArchive(VoiceError):
    """A voice archive (.zip) was refused: unsafe paths, links, too large, or files that fail verification."""


@dataclass(frozen=True)
class VoiceReference:
    """One reference recording: absolute ``path``, its transcript ``text`` ("" = reference-free) and ``lang``."""

    path: Path
    text: str
    lang: str


@dataclass(frozen=True)
class Voice:
    """A voice of the library as read from its ``voice.json``; all paths are absolute.

    ``references[0]`` is the prompt reference; further references only lend timbre.
    """

    folder: Path
    name: str
    language: str
    version: str
    gpt_path: Path
    sovits_path: Path
    references: tuple[VoiceReference, ...]
    defaults: Mapping[str, Any] = field(hash=False)
    dictionary_path: Path | None
    created: datetime
    updated: datetime
    app_version: str
    consent: str
    sha256: Mapping[str, str] = field(hash=False)
    format_version: int = FORMAT_VERSION

    @property
    def prompt(self) -> VoiceReference:
        """The prompt reference (the first one)."""
        return self.references[0]

    def files(self) -> dict[str, Path]:
        """Every file voice.json references, by its name inside the folder."""
        return {name: self.folder / name for name in self.sha256}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (absolute paths as strings) for ``--json`` output and the API."""
        return {
            "name": self.name,
            "folder": str(self.folder),
            "language": self.language,
            "version": self.version,
            "gpt": str(self.gpt_path),
            "sovits": str(self.sovits_path),
            "references": [{"file": str(r.path), "text": r.text, "lang": r.lang} for r in self.references],
            "defaults": dict(self.defaults),
            "dictionary": str(self.dictionary_path) if self.dictionary_path else None,
            "consent": self.consent,
            "created": iso(self.created),
            "updated": iso(self.updated),
            "app_version": self.app_version,
            "sha256": dict(self.sha256),
        }


@dataclass(frozen=True)
class TrashEntry:
    """A deleted voice waiting in ``.trash/``: ``id`` restores it, ``folder`` is where it now lies."""

    id: str
    name: str
    folder: Path
    deleted: datetime
    original_folder: str


def now_utc() -> datetime:
    """The current time in UTC, whole seconds (what voice.json stores)."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_member_name(name: Any, what: str) -> str:
    """Refuse a file name in voice.json that is not one plain, visible component of the voice folder."""
    if not isinstance(name, str) or not is_safe_component(name):
        raise VoiceCorrupt(f"{what} {name!r} is not a plain file name inside the voice folder.")
    if name.casefold() in (r.casefold() for r in RESERVED_FILES):
        raise VoiceCorrupt(f"{what} {name!r} is a reserved file name.")
    return name


def check_defaults(defaults: Any) -> dict[str, Any]:
    """Default synthesis options must be a JSON object of option name -> number, text, bool or null."""
    if defaults is None:
        return {}
    if not isinstance(defaults, Mapping):
        raise VoiceError(f'Default options must be a JSON object such as {{"top_k": 10}}, not {defaults!r}.')
    out: dict[str, Any] = {}
    for key, value in defaults.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise VoiceError(f"Default option name {key!r} is not a valid option name (like top_k or speed).")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise VoiceError(
                f"Default option {key} must be a number, text, true/false or null, not {value!r}."
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise VoiceError(f"Default option {key} must be a finite number, not {value}.")
        out[key] = value
    return out


def check_language(lang: Any, what: str) -> str:
    """A text language mode of :data:`gpt_sovits.text.LANG_MODES`."""
    if lang not in LANG_MODES:
        raise VoiceError(f"{what} {lang!r} is not a language mode; choose one of {', '.join(LANG_MODES)}.")
    return lang


def _parse_time(value: Any, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise VoiceCorrupt(f"{what} {value!r} is not an ISO 8601 time.") from None
    if moment.tzinfo is None:
        raise VoiceCorrupt(f"{what} {value!r} has no time zone (expected UTC, ending in Z).")
    return moment.astimezone(UTC)


def _str(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise VoiceCorrupt(f"'{key}' must be text, found {value!r}.")
    return value


def _references(folder: Path, record: Mapping[str, Any]) -> tuple[VoiceReference, ...]:
    refs = record.get("references")
    if not isinstance(refs, list) or not refs:
        raise VoiceCorrupt("'references' must be a non-empty list.")
    out = []
    for i, ref in enumerate(refs):
        if not isinstance(ref, Mapping) or not isinstance(ref.get("text", ""), str):
            raise VoiceCorrupt(f"reference {i + 1} must be an object with 'file', 'text' and 'lang'.")
        file = check_member_name(ref.get("file"), f"reference {i + 1}")
        try:
            lang = check_language(ref.get("lang", "auto"), f"reference {i + 1} language")
        except VoiceError as exc:
            raise VoiceCorrupt(str(exc)) from None
        out.append(VoiceReference(folder / file, ref.get("text", ""), lang))
    return tuple(out)


def parse_record(folder: Path, record: Any) -> Voice:
    """Validate a decoded voice.json and build the :class:`Voice`; raises :class:`VoiceCorrupt`."""
    if not isinstance(record, Mapping) or record.get("format") != FORMAT:
        raise VoiceCorrupt(f'not a voice description (expected "format": "{FORMAT}").')
    fmt = record.get("format_version")
    if not isinstance(fmt, int) or fmt < 1:
        raise VoiceCorrupt(f"'format_version' must be a positive integer, found {fmt!r}.")
    if fmt > FORMAT_VERSION:
        raise VoiceCorrupt(
            f"voice format {fmt} is newer than this application understands ({FORMAT_VERSION}); "
            "update the application to use this voice."
        )
    name = _str(record, "name")
    if not name.strip():
        raise VoiceCorrupt("'name' is empty.")
    version = record.get("version")
    if version not in MODEL_VERSIONS:
        raise VoiceCorrupt(f"'version' must be one of {', '.join(MODEL_VERSIONS)}, found {version!r}.")
    try:
        language = check_language(record.get("language"), "'language'")
        defaults = check_defaults(record.get("defaults"))
    except VoiceError as exc:
        raise VoiceCorrupt(str(exc)) from None
    gpt = check_member_name(record.get("gpt"), "GPT file")
    sovits = check_member_name(record.get("sovits"), "SoVITS file")
    references = _references(folder, record)
    dictionary = record.get("dictionary")
    if dictionary is not None:
        dictionary = check_member_name(dictionary, "dictionary file")
    hashes = record.get("sha256")
    if not isinstance(hashes, Mapping) or not all(
        isinstance(v, str) and _HEX64.fullmatch(v) for v in hashes.values()
    ):
        raise VoiceCorrupt("'sha256' must map file names to 64-digit lowercase hex digests.")
    referenced = {gpt, sovits, *(r.path.name for r in references)} | ({dictionary} if dictionary else set())
    if len({n.casefold() for n in referenced}) != len(referenced):
        # Two names differing only in case are one file on Windows and macOS.
        raise VoiceCorrupt(f"file names {sorted(referenced)} differ only in upper/lower case.")
    if set(hashes) != referenced:
        raise VoiceCorrupt(
            f"'sha256' must list exactly the voice's files {sorted(referenced)}, found {sorted(hashes)}."
        )
    return Voice(
        folder=folder,
        name=name,
        language=language,
        version=version,
        gpt_path=folder / gpt,
        sovits_path=folder / sovits,
        references=references,
        defaults=MappingProxyType(defaults),
        dictionary_path=folder / dictionary if dictionary else None,
        created=_parse_time(record.get("created"), "'created'"),
        updated=_parse_time(record.get("updated"), "'updated'"),
        app_version=_str(record, "app_version"),
        consent=_str(record, "consent"),
        sha256=MappingProxyType(dict(hashes)),
        format_version=fmt,
    )


def dictionary_version(model_version: str) -> str:
    """The phone set a voice's dictionary is checked against: v1 for v1 models, v2 for all later ones."""
    return "v1" if model_version == "v1" else "v2"
