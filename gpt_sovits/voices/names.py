"""Voice names and the folder names derived from them.

A voice's display name is any Unicode text and lives in ``voice.json``; its folder name is a safe,
portable spelling of it (valid on Linux, macOS and Windows, never hidden, never escaping the library).
Names are compared after NFC normalisation and case folding, so "Zoë" (composed or not) and "ZOË" clash.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_NAME_CHARS = 200
MAX_FOLDER_BYTES = 80  # well under the 255-byte limit of common file systems, leaves room for suffixes

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
_BAD_CHARS = re.compile(r'[<>:"/\\|?*]')
_RUNS = re.compile(r"_{2,}")


def normalize_name(name: str) -> str:
    """NFC form with surrounding whitespace removed (what is stored in voice.json)."""
    return unicodedata.normalize("NFC", name).strip()


def name_key(name: str) -> str:
    """The form used to decide whether two names clash (NFC + case folding + NFC again)."""
    return unicodedata.normalize("NFC", normalize_name(name).casefold())


def _is_control(ch: str) -> bool:
    # Cc: C0/C1 controls (newline, tab, NUL...); Cf: invisible format chars (bidi overrides, zero width)
    # that make a folder name look like something it is not.
    return unicodedata.category(ch) in ("Cc", "Cf")


def folder_base(name: str, empty: str = "voice") -> str:
    """A safe folder name for ``name`` before uniquifying (may be shortened; ``empty`` if nothing is left)."""
    text = normalize_name(name)
    text = "".join("_" if _is_control(ch) else ch for ch in text)
    text = _BAD_CHARS.sub("_", text)
    text = _RUNS.sub("_", text)
    text = text.lstrip(". ").rstrip(". ")
    # Shorten by UTF-8 bytes, never splitting a character.
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_FOLDER_BYTES:
        text = encoded[:MAX_FOLDER_BYTES].decode("utf-8", errors="ignore").rstrip(". ")
    if not text:
        text = empty
    if text.split(".")[0].upper().rstrip() in _WINDOWS_RESERVED:
        text = f"_{text}"
    return text


def is_safe_component(name: str) -> bool:
    """Whether ``name`` is usable as-is as one file or folder name on every common OS, inside its parent.

    Refuses separators and Windows-invalid characters, control/format characters, ``.``/``..`` and hidden
    (leading dot) names, trailing dots or spaces, Windows device names and names over 255 UTF-8 bytes.
    """
    return (
        isinstance(name, str)
        and bool(name)
        and not name.startswith(".")
        and not name.endswith((".", " "))
        and name == name.strip()
        and not _BAD_CHARS.search(name)
        and not any(_is_control(ch) for ch in name)
        and name.split(".")[0].upper().rstrip() not in _WINDOWS_RESERVED
        and len(name.encode("utf-8")) <= 255
    )


def unique_folder_name(name: str, taken: Iterable[str]) -> str:
    """:func:`folder_base` of ``name``, with ``-2``, ``-3``... appended if another folder has that name.

    ``taken`` is compared case-insensitively because macOS and Windows file systems usually are.
    """
    used = {t.casefold() for t in taken}
    base = folder_base(name)
    candidate, n = base, 1
    while candidate.casefold() in used:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def safe_file_name(name: str, fallback: str) -> str:
    """A safe single-component file name keeping the original's stem and suffix where possible."""
    return folder_base(name, empty=fallback)
