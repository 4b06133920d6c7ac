"""Reading and writing GPT-SoVITS ``.list`` files losslessly.

A ``.list`` file is UTF-8 text with one clip per line: ``wav_path|speaker|lang|text``. GPT-SoVITS splits
each line on ``|`` and needs exactly four fields, so a ``|`` (or a line break) inside a field cannot be
represented: such lines are skipped by its data preparation. Here:

* a line that does not split into exactly four fields (a blank line, a text containing ``|``) is kept as
  a *raw line*: it is written back unchanged and :attr:`DatasetList.problems` reports it;
* setting a field to a value containing ``|``, ``\\r`` or ``\\n`` raises :class:`ListFormatError`
  (:func:`clean_field` turns arbitrary text into a valid field);
* everything read is written back byte for byte: the UTF-8 BOM if there was one, each line's own
  terminator (``\\n``, ``\\r\\n`` or a lone ``\\r``, like the universal-newline reading GPT-SoVITS uses),
  a missing final newline, surrounding spaces and the language code's case (``ZH``, ``zh``, ``En``).

Paths: an absolute path is used as written; a relative one resolves against the list file's folder (not
the current directory, so a dataset folder can be moved as a whole). Backslashes count as separators, so
lists written on Windows work elsewhere; when the resolved file does not exist but a file with the same
basename lies next to the list, that one is used (a dataset copied from another machine). With
``audio_dir`` set, every row resolves to ``audio_dir/<basename>``, like GPT-SoVITS's ``inp_wav_dir``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from gpt_sovits import fileio
from gpt_sovits.errors import GPTSoVITSError

logger = logging.getLogger(__name__)

BOM = "\ufeff"
# Language codes GPT-SoVITS's text preparation accepts, as written in lists -> internal code.
LANGUAGE_CODES: dict[str, str] = {
    "ZH": "zh",
    "zh": "zh",
    "JP": "ja",
    "jp": "ja",
    "JA": "ja",
    "ja": "ja",
    "EN": "en",
    "en": "en",
    "En": "en",
    "KO": "ko",
    "Ko": "ko",
    "ko": "ko",
    "yue": "yue",
    "YUE": "yue",
    "Yue": "yue",
}
_LINE_RE = re.compile(r"([^\r\n]*)(\r\n|\n|\r|$)")
_FORBIDDEN = ("|", "\r", "\n")
_WINDOWS_ABS = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
_PATH_STRIP = " '\"\u202a"  # what GPT-SoVITS strips from paths (quotes, spaces, a pasted LTR mark)


class ListFormatError(GPTSoVITSError):
    """A ``.list`` file or a field value that the ``wav|speaker|lang|text`` format cannot hold."""


@dataclass(frozen=True)
class ListRow:
    """One ``wav_path|speaker|lang|text`` line, each field exactly as written in the file.

    ``eol`` is the line's terminator as read ("" for a last line without one); ``line_no`` is the
    1-based line number in the file it was read from (None for a row created since).
    """

    wav_path: str
    speaker: str
    lang: str
    text: str
    eol: str = "\n"
    line_no: int | None = None

    @property
    def line(self) -> str:
        """The line without its terminator."""
        return "|".join((self.wav_path, self.speaker, self.lang, self.text))

    @property
    def language(self) -> str | None:
        """Normalised language code ("zh", "ja", "en", "ko", "yue"), None if GPT-SoVITS does not know it."""
        return LANGUAGE_CODES.get(self.lang)

    @property
    def basename(self) -> str:
        """The file name GPT-SoVITS keys the clip by (after the last ``/`` or ``\\``)."""
        return split_path_text(clean_path_text(self.wav_path))[1]


@dataclass(frozen=True)
class RawLine:
    """A line that is not a four-field row (blank or malformed); written back unchanged."""

    content: str
    eol: str
    line_no: int | None = None


def clean_field(value: str) -> str:
    """Make ``value`` storable in a field: ``|`` and line breaks become spaces, ends are stripped."""
    for ch in _FORBIDDEN:
        value = value.replace(ch, " ")
    return re.sub(r" {2,}", " ", value).strip()


def check_field(name: str, value: str) -> str:
    """Return ``value`` if it can be stored in a field, else raise :class:`ListFormatError`."""
    if not isinstance(value, str):
        raise ListFormatError(f"The {name} of a list row must be text, got {type(value).__name__}.")
    bad = [repr(ch) for ch in _FORBIDDEN if ch in value]
    if bad:
        raise ListFormatError(
            f"The {name} {value!r} contains {', '.join(bad)}, which the .list format cannot hold "
            "(fields are separated by '|', one row per line). Replace it, e.g. with a comma "
            "(tools.lists.clean_field does this)."
        )
    return value


def clean_path_text(path_text: str) -> str:
    """Strip what GPT-SoVITS strips from a path field: spaces, quotes and a trailing separator."""
    return path_text.strip(_PATH_STRIP).rstrip("/\\")


def split_path_text(path_text: str) -> tuple[str, str]:
    """Split a path as written (either separator) into (folder part including separator, basename)."""
    cut = max(path_text.rfind("/"), path_text.rfind("\\"))
    return path_text[: cut + 1], path_text[cut + 1 :]


def parse_lines(text: str) -> list[ListRow | RawLine]:
    """Split decoded list text (without BOM) into rows and raw lines, keeping every terminator."""
    entries: list[ListRow | RawLine] = []
    pos, line_no = 0, 0
    while pos < len(text):
        m = _LINE_RE.match(text, pos)
        assert m is not None  # the pattern matches the empty string
        content, eol = m.group(1), m.group(2)
        pos = m.end()
        line_no += 1
        fields = content.split("|")
        if len(fields) == 4:
            entries.append(ListRow(*fields, eol=eol, line_no=line_no))
        else:
            entries.append(RawLine(content, eol, line_no))
    return entries


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fileio.atomic_write_bytes(path, data)


class DatasetList:
    """A ``.list`` file in memory: rows in order plus the raw lines between them.

    Row indices (``rows[i]``) count only four-field rows. Editing methods validate fields; nothing is
    written until :meth:`save` (the audio operations in :mod:`tools.lists.edit` save themselves).
    """

    def __init__(
        self,
        entries: list[ListRow | RawLine] | None = None,
        *,
        path: Path | None = None,
        bom: bool = False,
        audio_dir: Path | None = None,
    ) -> None:
        self.entries: list[ListRow | RawLine] = list(entries or [])
        self.path = Path(path) if path is not None else None
        self.bom = bom
        self.audio_dir = Path(audio_dir) if audio_dir is not None else None

    # ----- reading and writing -----
    @classmethod
    def read(cls, path: str | os.PathLike, *, audio_dir: str | os.PathLike | None = None) -> DatasetList:
        """Read a ``.list`` file. Raises :class:`ListFormatError` if it is missing or not UTF-8."""
        p = Path(path)
        if not p.is_file():
            raise ListFormatError(f"List file not found: '{p}'. Check the path (a .list file is expected).")
        try:
            return cls.from_bytes(p.read_bytes(), path=p, audio_dir=audio_dir)
        except ListFormatError as exc:
            raise ListFormatError(f"'{p}': {exc}") from None

    @classmethod
    def from_bytes(
        cls, data: bytes, *, path: Path | None = None, audio_dir: str | os.PathLike | None = None
    ) -> DatasetList:
        """Parse the bytes of a ``.list`` file (UTF-8, optional BOM)."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ListFormatError(
                f"not UTF-8 text (byte {exc.start}). GPT-SoVITS lists are UTF-8: re-save it as UTF-8."
            ) from None
        bom = text.startswith(BOM)
        if bom:
            text = text[1:]
        return cls(parse_lines(text), path=path, bom=bom, audio_dir=Path(audio_dir) if audio_dir else None)

    def to_bytes(self) -> bytes:
        """The file's bytes; identical to what was read while nothing was changed."""
        eol = self.default_eol
        parts = [BOM] if self.bom else []
        last = len(self.entries) - 1
        for i, entry in enumerate(self.entries):
            parts.append(entry.line if isinstance(entry, ListRow) else entry.content)
            # A line that was last (no terminator) and is no longer last needs one now.
            parts.append(entry.eol if entry.eol or i == last else eol)
        return "".join(parts).encode("utf-8")

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the list atomically to ``path`` (default: where it was read from)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ListFormatError("This list has no file yet: pass the path to save it to.")
        atomic_write_bytes(target, self.to_bytes())
        if self.path is None:
            self.path = target
        return target

    # ----- views -----
    @property
    def rows(self) -> list[ListRow]:
        """The four-field rows in file order."""
        return [e for e in self.entries if isinstance(e, ListRow)]

    def __len__(self) -> int:
        return sum(isinstance(e, ListRow) for e in self.entries)

    def __iter__(self) -> Iterator[ListRow]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> ListRow:
        return self.rows[index]

    @property
    def problems(self) -> list[tuple[int | None, str]]:
        """(line number, description) for each non-blank line that is not a four-field row."""
        out = []
        for e in self.entries:
            if isinstance(e, RawLine) and e.content.strip():
                n = len(e.content.split("|"))
                why = "a '|' inside a field" if n > 4 else "missing fields"
                out.append((e.line_no, f"{n} fields instead of 4 ({why}); GPT-SoVITS skips this line"))
        return out

    @property
    def default_eol(self) -> str:
        """The terminator new lines get: the first one the file used, else ``\\n``."""
        return next((e.eol for e in self.entries if e.eol), "\n")

    @property
    def folder(self) -> Path:
        """The folder relative paths resolve against (the list's folder, or the current one if unsaved)."""
        return self.path.resolve().parent if self.path is not None else Path.cwd()

    def resolve(self, row: ListRow | int) -> Path:
        """The audio file of a row (see the module docstring for the rules)."""
        if isinstance(row, int):
            row = self.rows[row]
        text = clean_path_text(row.wav_path)
        name = split_path_text(text)[1]
        if self.audio_dir is not None:
            return self.audio_dir / name
        if _WINDOWS_ABS.match(text) and os.sep == "/":
            candidate = Path(text.replace("\\", "/"))  # cannot exist here; falls back below
        else:
            candidate = Path(text.replace("\\", "/") if os.sep == "/" else text)
            if not candidate.is_absolute():
                candidate = self.folder / candidate
        if not candidate.exists() and name and (self.folder / name).exists():
            return self.folder / name
        return candidate

    def path_text_for(self, new_file: Path, like: ListRow) -> str:
        """How to write ``new_file`` in the wav field, in the same style as ``like`` (abs/rel, separators)."""
        old = clean_path_text(like.wav_path)
        folder_text, _ = split_path_text(old)
        if self.resolve(like).parent.resolve() == new_file.parent.resolve():
            return folder_text + new_file.name
        return str(new_file)

    # ----- editing -----
    def _entry_index(self, row_index: int) -> int:
        n = len(self)
        if not -n <= row_index < n:
            raise IndexError(f"Row {row_index} does not exist: the list has {n} rows.")
        row_index %= n
        seen = -1
        for i, e in enumerate(self.entries):
            if isinstance(e, ListRow):
                seen += 1
                if seen == row_index:
                    return i
        raise AssertionError("unreachable")

    def edit(
        self,
        index: int,
        *,
        text: str | None = None,
        lang: str | None = None,
        speaker: str | None = None,
        wav_path: str | None = None,
    ) -> ListRow:
        """Change fields of row ``index``; the language code must be one GPT-SoVITS knows."""
        changes: dict[str, str] = {}
        if text is not None:
            changes["text"] = check_field("text", text)
        if speaker is not None:
            changes["speaker"] = check_field("speaker", speaker)
        if wav_path is not None:
            changes["wav_path"] = check_field("wav path", wav_path)
        if lang is not None:
            changes["lang"] = check_language(lang)
        i = self._entry_index(index)
        row = replace(self.entries[i], **changes)
        self.entries[i] = row
        return row

    def insert(self, index: int, row: ListRow) -> None:
        """Insert ``row`` so that it becomes row ``index`` (``len(self)`` appends)."""
        for name in ("wav_path", "speaker", "lang", "text"):
            check_field(name, getattr(row, name))
        at_end = index >= len(self)
        if not row.eol:
            # A row added after a last line without terminator stays unterminated (the file keeps
            # "no final newline"); anywhere else it gets the file's usual terminator.
            ends_open = at_end and bool(self.entries) and not self.entries[-1].eol
            row = replace(row, eol="" if ends_open else self.default_eol)
        if at_end:
            self.entries.append(row)
        else:
            self.entries.insert(self._entry_index(max(index, -len(self))), row)

    def append(self, wav_path: str, speaker: str, lang: str, text: str) -> ListRow:
        """Add a row at the end; fields are validated."""
        row = ListRow(wav_path, speaker, check_language(lang), text, eol="")
        self.insert(len(self), row)
        return row

    def pop(self, index: int) -> ListRow:
        """Remove row ``index`` from the list (its audio is not touched) and return it."""
        return self.entries.pop(self._entry_index(index))  # type: ignore[return-value]


def check_language(lang: str) -> str:
    """Return ``lang`` if GPT-SoVITS's text preparation accepts it (any case it knows), else raise."""
    check_field("language", lang)
    if lang not in LANGUAGE_CODES:
        known = ", ".join(sorted(set(LANGUAGE_CODES)))
        raise ListFormatError(f"Unknown language code {lang!r}: GPT-SoVITS accepts {known}.")
    return lang
