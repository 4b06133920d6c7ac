"""Pronunciation replacement dictionaries (JSON Lines).

Two entry forms are accepted, one JSON object per line:

* GLM-TTS ``G2P_replace_dict.jsonl`` form: ``{"surface": "replacement"}``. The replacement is either
  plain text (spoken instead of the surface), pinyin syllables (``"hang2 zhang3"``), GLM-TTS phoneme
  tokens (``"<|ZH|><|ANG3|>"``, one initial/final pair per character, optionally mixed with the
  surface's own characters as in ``"乡音无改鬓毛<|C|><|UEI1|>"``) or ARPAbet (``"JH IH1 F"``).
* Context form: ``{"word": "行", "context": "银行", "phoneme": "hang2"}``: the word is read that way only
  inside an occurrence of the context.

Matching is longest-first; several dictionaries stack (global, per voice, per request) and a later
dictionary wins over an earlier one for the same surface. A malformed line is reported with its file
and line number and skipped.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gpt_sovits.errors import TextError
from gpt_sovits.text.inline import check_phones, check_pinyin, is_han, looks_like_pinyin
from gpt_sovits.text.units import Locked, Plain, Unit

log = logging.getLogger(__name__)

_GLM_TOKEN = re.compile(r"<\|([A-Za-zü]+[1-5]?)\|>")
# GLM-TTS writes finals in their full form (UEI, IOU, UEN); pinyin spelling contracts them after an initial.
_FULL_FINALS = {"uei": "ui", "iou": "iu", "uen": "un"}


@dataclass(frozen=True)
class Entry:
    """One usable dictionary entry.

    ``match`` is the text searched for (the surface, or the context for context entries); ``start`` and
    ``end`` delimit the part of ``match`` that is replaced or forced.
    """

    match: str
    start: int
    end: int
    source: str
    text: str | None = None  # plain-text replacement
    pinyin: tuple[str | None, ...] | None = None  # per character of match[start:end]; None = default G2P
    phones: tuple[str, ...] | None = None  # ARPAbet


@dataclass(frozen=True)
class DictionaryIssue:
    """A line that was skipped, with the reason."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _glm_slots(surface: str, repl: str, where: str) -> tuple[str | None, ...]:
    """Per-character pinyin from a GLM-TTS replacement such as ``"乡音无改鬓毛<|C|><|UEI1|>"``.

    Literal characters must repeat the surface's own characters (slot ``None``: default G2P); each
    initial+final token pair (or a lone final) forces the pinyin of one character.
    """
    slots: list[str | None] = []
    initial = ""
    pos = 0
    for m in _GLM_TOKEN.finditer(repl + "<|END|>"):
        for ch in repl[pos : m.start()]:
            if initial:
                raise TextError(f"{where}: initial {initial!r} is not followed by a final")
            if len(slots) >= len(surface) or surface[len(slots)] != ch:
                raise TextError(f"{where}: the replacement's text does not follow the surface {surface!r}")
            slots.append(None)
        pos = m.end()
        tok = m.group(1).lower()
        if m.end() > len(repl):  # the END sentinel
            break
        if tok[-1].isdigit():
            final, tone = tok[:-1], tok[-1]
            if initial:
                final = _FULL_FINALS.get(final, final)
            slots.append(initial + final + tone)
            initial = ""
        elif initial:
            raise TextError(f"{where}: two initials in a row ({initial!r}, {tok!r})")
        else:
            initial = tok
    if initial:
        raise TextError(f"{where}: initial {initial!r} is not followed by a final")
    if len(slots) != len(surface):
        raise TextError(
            f"{where}: the replacement covers {len(slots)} character(s) of {surface!r}, which has {len(surface)}"
        )
    forced = [s for s in slots if s is not None]
    check_pinyin("".join(c for c, s in zip(surface, slots) if s is not None), forced, where)
    return tuple(slots)


def _replacement_entry(surface: str, repl: str, source: str, version: str, where: str) -> Entry:
    """Interpret the replacement of a ``{"surface": "replacement"}`` line."""
    if _GLM_TOKEN.search(repl):
        return Entry(surface, 0, len(surface), source, pinyin=_glm_slots(surface, repl, where))
    if looks_like_pinyin(repl) and any(is_han(c) for c in surface):
        return Entry(surface, 0, len(surface), source, pinyin=check_pinyin(surface, repl.split(), where))
    pieces = repl.split()
    if (
        pieces
        and all(p.isupper() and p[:2].isalpha() for p in pieces)
        and any(p[-1].isdigit() for p in pieces)
    ):
        return Entry(surface, 0, len(surface), source, phones=check_phones(pieces, version, where))
    return Entry(surface, 0, len(surface), source, text=repl)


def _context_entry(obj: dict, source: str, version: str, where: str) -> Entry:
    word, context, phoneme = obj.get("word"), obj.get("context"), obj.get("phoneme")
    if not all(isinstance(v, str) and v for v in (word, context, phoneme)):
        raise TextError(f"{where}: a context entry needs non-empty strings 'word', 'context' and 'phoneme'")
    start = context.find(word)
    if start < 0:
        raise TextError(f"{where}: the word {word!r} does not occur in its context {context!r}")
    end = start + len(word)
    if looks_like_pinyin(phoneme):
        return Entry(context, start, end, source, pinyin=check_pinyin(word, phoneme.split(), where))
    return Entry(context, start, end, source, phones=check_phones(phoneme.split(), version, where))


def parse_line(line: str, path: str, lineno: int, version: str = "v2") -> list[Entry]:
    """Parse one JSONL line into entries; raises :class:`TextError` naming the file and line."""
    where = f"{path}:{lineno}"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TextError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict) or not obj:
        raise TextError(f'{where}: expected a JSON object such as {{"银行": "yin2 hang2"}}')
    source = f"dict:{Path(path).name}:{lineno}"
    if "context" in obj or "word" in obj:
        return [_context_entry(obj, source, version, where)]
    entries = []
    for surface, repl in obj.items():
        if not isinstance(surface, str) or not surface or not isinstance(repl, str):
            raise TextError(f"{where}: surface and replacement must be non-empty strings")
        entries.append(_replacement_entry(surface, repl, source, version, where))
    return entries


class Dictionary:
    """The entries of one JSONL file (or of in-memory lines), later lines overriding earlier ones."""

    def __init__(self, entries: Iterable[Entry], name: str = "", issues: Sequence[DictionaryIssue] = ()):
        self.entries: dict[str, Entry] = {}
        for e in entries:
            self.entries[e.match] = e
        self.name = name
        self.issues = tuple(issues)

    @classmethod
    def from_lines(cls, lines: Iterable[str], path: str = "<request>", version: str = "v2") -> Dictionary:
        entries: list[Entry] = []
        issues: list[DictionaryIssue] = []
        for lineno, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                entries.extend(parse_line(line, path, lineno, version))
            except TextError as exc:
                msg = str(exc).removeprefix(f"{path}:{lineno}: ")
                issues.append(DictionaryIssue(path, lineno, msg))
                log.warning("skipped dictionary line %s:%d: %s", path, lineno, msg)
        return cls(entries, path, issues)

    @classmethod
    def load(cls, path: str | Path, version: str = "v2") -> Dictionary:
        """Read a JSONL dictionary file. A missing or unreadable file raises :class:`TextError`."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise TextError(f"Cannot read pronunciation dictionary {p}: {exc}") from None
        return cls.from_lines(text.splitlines(), str(p), version)


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class DictionaryStack:
    """Several dictionaries applied together; for the same matched text a later dictionary wins."""

    def __init__(self, dictionaries: Sequence[Dictionary] = ()):
        self.dictionaries = tuple(dictionaries)
        merged: dict[str, Entry] = {}
        for d in self.dictionaries:
            merged.update(d.entries)
        self._entries = merged
        # Latin-script entries also match other capitalisations ("tomato" matches "Tomato" at the start of a
        # sentence); an entry written with that exact capitalisation still wins.
        self._folded = {k.lower(): e for k, e in merged.items() if k.isascii()}
        self._max_len = max((len(k) for k in merged), default=0)

    @property
    def issues(self) -> tuple[DictionaryIssue, ...]:
        return tuple(i for d in self.dictionaries for i in d.issues)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def _find(self, text: str, pos: int) -> Entry | None:
        """Longest entry matching ``text`` at ``pos`` (Latin surfaces must stand as whole words)."""
        for length in range(min(self._max_len, len(text) - pos), 0, -1):
            piece = text[pos : pos + length]
            e = self._entries.get(piece)
            if e is None and piece.isascii():
                e = self._folded.get(piece.lower())
            if e is None:
                continue
            end = pos + length
            if _is_word_char(text[pos]) and pos > 0 and _is_word_char(text[pos - 1]):
                continue
            if _is_word_char(text[end - 1]) and end < len(text) and _is_word_char(text[end]):
                continue
            return e
        return None

    def apply(self, units: Sequence[Unit]) -> list[Unit]:
        """Replace matches inside :class:`Plain` units; locked units pass through unchanged."""
        if not self._entries:
            return list(units)
        out: list[Unit] = []
        for u in units:
            if isinstance(u, Plain):
                out.extend(self._apply_plain(u))
            else:
                out.append(u)
        return out

    def _apply_plain(self, unit: Plain) -> list[Unit]:
        text, out, pos, run_start = unit.text, [], 0, 0
        while pos < len(text):
            e = self._find(text, pos)
            if e is None:
                pos += 1
                continue
            if pos + e.start > run_start:
                out.append(Plain(text[run_start : pos + e.start], unit.source))
            out.extend(_entry_units(e, text[pos + e.start : pos + e.end]))
            if e.end < len(e.match):
                out.append(Plain(text[pos + e.end : pos + len(e.match)], unit.source))
            pos += len(e.match)
            run_start = pos
        if run_start < len(text):
            out.append(Plain(text[run_start:], unit.source))
        return out


def _entry_units(e: Entry, surface: str) -> list[Unit]:
    """Units for the replaced part of a match."""
    if e.text is not None:
        return [Plain(e.text, e.source)]
    if e.phones is not None:
        return [Locked(surface, "en", e.source, phones=e.phones)]
    assert e.pinyin is not None
    out: list[Unit] = []
    for ch, syl in zip(surface, e.pinyin):
        if syl is None:
            out.append(Plain(ch, e.source))
        else:
            out.append(Locked(ch, "zh", e.source, pinyin=(syl,)))
    return out
