"""The proofreading table of the Data tab, without Gradio: rows and their flags, the filter, and the edits.

Every edit goes through :mod:`tools.lists`, so the ``.list`` stays byte-for-byte what it was apart from the
edited row (lossless round trip), and no clip is ever lost: a deleted row's clip moves to ``trash/`` next to
the list, merged and split originals too, and :func:`undo_delete` puts the most recent deletion back.

Flags of a row (the ``flags`` column, also what the filter offers):

* computed whenever the table is built, from the row and the clip's header (cheap): ``missing``,
  ``unreadable``, ``too_short``, ``too_long``, ``unusable_length``, ``empty_text``, ``unknown_language``,
  ``duplicate_name`` (thresholds of :class:`tools.lists.CheckConfig`);
* found by the Check button (:func:`run_check`, which decodes every clip): ``clipping``, ``silence``,
  ``no_speech``, ``low_asr_confidence``; kept in a cache file per list, keyed by the clip's path (edits make
  new clip files, so a cached result never describes other audio);
* alignment QA of a training experiment prepared from this list (``logs/<exp>/qa.jsonl`` of every experiment
  whose ``manifest.json`` names this list as ``source_list``): ``qa:<kind>`` for each reason of a flagged clip.

Rows are numbered from 1 in file order, as ``python -m tools.lists`` numbers them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpt_sovits.audio import audio_info
from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.fileio import atomic_write_bytes
from tools.lists import (
    FLAGS,
    CheckConfig,
    DatasetList,
    ListRow,
    check_list,
    clean_field,
    delete_rows,
    merge_rows,
    restore_rows,
    split_row,
    trash_entries,
)

logger = logging.getLogger(__name__)

COLUMNS = ("row", "flags", "duration_s", "text", "language", "speaker", "clip")
# The flags the Check button adds (the others are recomputed from the row every time the table is built).
CHECKED_FLAGS = ("unreadable", "clipping", "silence", "no_speech", "low_asr_confidence")
# QA reasons are sentences (gpt_sovits.training.qa) with a short kind each in "kinds"; files written before
# kinds existed are read by the reasons' wording.
QA_KINDS = (
    ("more phones than frames", "qa:text_too_long"),
    ("fits the transcript poorly", "qa:poor_fit"),
    ("unusual phone durations", "qa:durations"),
)
QA_OTHER = "qa:flagged"
# Filter values besides the flag names themselves.
FILTER_ALL, FILTER_FLAGGED, FILTER_QA = "all", "flagged", "qa"
# Seconds between trash entries that still count as one deletion (delete_rows writes a batch at once).
_BATCH_S = 2.0


@dataclass(frozen=True)
class TableRow:
    """One row of the proofreading table."""

    number: int  # 1-based position among the list's rows
    flags: tuple[str, ...]
    duration_s: float | None
    text: str
    lang: str
    speaker: str
    clip: str  # the clip's file name
    path: Path  # the clip, resolved as tools.lists resolves it
    qa_reasons: tuple[str, ...] = ()

    def cells(self) -> list:
        """The row as the table shows it (the order of :data:`COLUMNS`)."""
        duration = round(self.duration_s, 2) if self.duration_s is not None else None
        return [self.number, ", ".join(self.flags), duration, self.text, self.lang, self.speaker, self.clip]


def open_list(path_text: str | Path | None) -> DatasetList:
    """Read the ``.list`` named by ``path_text``; a missing or wrong file raises a message that says what to do."""
    text = str(path_text or "").strip().strip("'\"")
    if not text:
        raise ValueError("Choose a .list file first (or run ASR to make one), then open it.")
    path = Path(text).expanduser()
    if path.suffix.lower() != ".list":
        raise ValueError(f"'{path}' is not a .list file: pick one from the list or type the path of one.")
    if not path.is_file():
        raise FileNotFoundError(
            f"There is no list at '{path}'. Run ASR on the dataset first, or type the path of an existing .list."
        )
    return DatasetList.read(path)


def qa_kind(reason: str, kind: object = None) -> str:
    """The short ``qa:<kind>`` flag of one QA reason: its recorded ``kind``, else found by the wording."""
    known = {flag.removeprefix("qa:") for _, flag in QA_KINDS}
    if isinstance(kind, str) and kind in known:
        return f"qa:{kind}"
    low = reason.lower()
    return next((flag for words, flag in QA_KINDS if words in low), QA_OTHER)


def _resolved(path_text: str, base: Path) -> Path:
    """``path_text`` as an absolute path (relative ones are relative to ``base``, the jobs' folder)."""
    path = Path(path_text).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def qa_flags(logs_dir: Path, list_path: Path, base: Path) -> dict[str, tuple[tuple[str, str], ...]]:
    """``(qa:<kind>, reason)`` pairs of every QA-flagged clip of experiments prepared from ``list_path``, by
    resolved audio path.

    Reads ``logs_dir/<exp>/manifest.json`` (``source_list``) and ``qa.jsonl`` directly; relative paths in them
    are taken relative to ``base`` (the folder the training jobs run in). Unreadable files are skipped.
    """
    target = list_path.resolve()
    found: dict[str, list[tuple[str, str]]] = {}
    for manifest in sorted(Path(logs_dir).glob("*/manifest.json")):
        try:
            source = json.loads(manifest.read_text(encoding="utf-8")).get("source_list")
        except (OSError, ValueError, AttributeError):
            continue
        qa_file = manifest.parent / "qa.jsonl"
        if not isinstance(source, str) or not qa_file.is_file() or _resolved(source, base) != target:
            continue
        for line in qa_file.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("flagged") and isinstance(entry.get("audio"), str):
                reasons = [str(r) for r in entry.get("reasons") or []] or ["flagged by alignment QA"]
                kinds = entry.get("kinds")
                kinds = (
                    kinds if isinstance(kinds, list) and len(kinds) == len(reasons) else [None] * len(reasons)
                )
                pairs = [(qa_kind(r, k), r) for r, k in zip(reasons, kinds)]
                found.setdefault(str(_resolved(entry["audio"], base)), []).extend(pairs)
    return {k: tuple(dict.fromkeys(v)) for k, v in found.items()}


def check_cache_path(cache_dir: Path, list_path: Path) -> Path:
    """Where the Check results of ``list_path`` are kept (one file per list, named by its resolved path)."""
    digest = hashlib.sha1(str(list_path.resolve()).encode("utf-8")).hexdigest()[:16]
    return Path(cache_dir) / f"{digest}.json"


def load_checked(cache_dir: Path, list_path: Path) -> dict[str, list[str]]:
    """The cached Check flags of ``list_path``'s clips, by resolved clip path (empty before the first check)."""
    path = check_cache_path(cache_dir, list_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    rows = data.get("rows") if isinstance(data, dict) else None
    return {str(k): list(v) for k, v in rows.items()} if isinstance(rows, dict) else {}


def clip_duration(path: Path) -> float | None:
    """The clip's length from its header (None when it is missing or unreadable)."""
    try:
        return audio_info(path).duration_s if path.is_file() else None
    except GPTSoVITSError:
        return None


def _live_flags(row: ListRow, path: Path, cfg: CheckConfig) -> tuple[list[str], float | None]:
    """Flags that need no decoding, and the clip's duration from its header."""
    flags = []
    duration = None
    if not path.is_file():
        flags.append("missing")
    else:
        try:
            duration = audio_info(path).duration_s
        except GPTSoVITSError:
            flags.append("unreadable")
    if duration is not None:
        if duration < cfg.min_s:
            flags.append("too_short")
        if duration > cfg.max_s:
            flags.append("too_long")
        if not cfg.train_min_s < duration < cfg.train_max_s:
            flags.append("unusable_length")
    if not row.text.strip():
        flags.append("empty_text")
    if row.language is None:
        flags.append("unknown_language")
    return flags, duration


def table_rows(
    dl: DatasetList,
    checked: dict[str, list[str]] | None = None,
    qa: dict[str, tuple[tuple[str, str], ...]] | None = None,
) -> list[TableRow]:
    """Every row of ``dl`` with its flags (see the module docstring) and duration."""
    cfg = CheckConfig()
    names = Counter(row.basename for row in dl.rows)
    out = []
    for number, row in enumerate(dl.rows, 1):
        path = dl.resolve(row)
        key = str(path.resolve())
        flags, duration = _live_flags(row, path, cfg)
        flags += [f for f in (checked or {}).get(key, []) if f in CHECKED_FLAGS]
        if names[row.basename] > 1:
            flags.append("duplicate_name")
        pairs = (qa or {}).get(key, ())
        reasons = tuple(reason for _, reason in pairs)
        ordered = [f for f in FLAGS if f in flags]  # the order tools.lists documents them in
        ordered += list(dict.fromkeys(kind for kind, _ in pairs))
        out.append(
            TableRow(
                number, tuple(ordered), duration, row.text, row.lang, row.speaker, path.name, path, reasons
            )
        )
    return out


def filter_rows(rows: list[TableRow], value: str | None) -> list[TableRow]:
    """The rows the filter ``value`` keeps: all, flagged, any QA flag, or one flag name."""
    if not value or value == FILTER_ALL:
        return list(rows)
    if value == FILTER_FLAGGED:
        return [r for r in rows if r.flags]
    if value == FILTER_QA:
        return [r for r in rows if any(f.startswith("qa:") for f in r.flags)]
    return [r for r in rows if value in r.flags]


def filter_values() -> list[str]:
    """Every filter value, in the order the dropdown shows them."""
    return [FILTER_ALL, FILTER_FLAGGED, *FLAGS, FILTER_QA, *(kind for _, kind in QA_KINDS), QA_OTHER]


def _index(dl: DatasetList, number: float | int | None) -> int:
    """0-based index of the 1-based row ``number``, with a readable error when there is no such row."""
    if number is None or int(number) != number or not 1 <= int(number) <= len(dl):
        raise ValueError(f"Select a row first (a row number from 1 to {len(dl)} is needed, got {number}).")
    return int(number) - 1


def edit_row(list_path: str | Path, number: int, text: str, lang: str, speaker: str) -> ListRow:
    """Apply the editor's text, language and speaker to row ``number``; unchanged fields are not rewritten."""
    dl = open_list(list_path)
    i = _index(dl, number)
    row = dl[i]
    changes = {}
    # Compared cleaned on both sides: a field the user did not touch keeps its exact bytes (spaces and all).
    if text is not None and clean_field(text) != clean_field(row.text):
        changes["text"] = clean_field(text)
    if lang and lang.strip() != row.lang:
        changes["lang"] = lang.strip()
    if speaker is not None and clean_field(speaker) != clean_field(row.speaker):
        changes["speaker"] = clean_field(speaker)
    if not changes:
        return row
    new = dl.edit(i, **changes)
    dl.save()
    return new


def merge_with_next(list_path: str | Path, number: int) -> ListRow:
    """Merge row ``number`` with the row after it (audio concatenated into a new clip; originals to trash)."""
    dl = open_list(list_path)
    i = _index(dl, number)
    if i + 1 >= len(dl):
        raise ValueError(f"Row {i + 1} is the last row: there is no next row to merge it with.")
    return merge_rows(dl, [i, i + 1])


def split_text(text: str, fraction: float) -> tuple[str, str]:
    """The two texts of a split clip.

    A line break in ``text`` marks where the text is cut. Without one, the text is cut at the word boundary
    (whitespace) nearest to ``fraction`` of its length, the share of the clip before the cut point; text
    without spaces (Chinese, Japanese) is cut between the characters nearest to it.
    """
    if "\n" in text:
        first, second = text.split("\n", 1)
        return clean_field(first), clean_field(second)
    words = clean_field(text)
    cuts = [m.start() for m in re.finditer(r" ", words)] or list(range(1, len(words)))
    if not cuts:
        raise ValueError(
            "The text is too short to split: put a line break in the text where the clip is cut, "
            "with the first part's text before it and the second part's after it."
        )
    target = min(max(fraction, 0.0), 1.0) * len(words)
    cut = min(cuts, key=lambda c: abs(c - target))
    return words[:cut].strip(), words[cut:].strip()


def split_at(list_path: str | Path, number: int, at_s: float | None, text: str) -> tuple[ListRow, ListRow]:
    """Split row ``number``'s clip at ``at_s`` seconds into two rows (texts from :func:`split_text`)."""
    dl = open_list(list_path)
    i = _index(dl, number)
    if at_s is None:
        raise ValueError("Type the time (in seconds from the clip's start) where the clip is to be cut.")
    duration = audio_info(dl.resolve(i)).duration_s
    if not 0 < at_s < duration:
        raise ValueError(
            f"The cut point must lie inside the clip: between 0 and {duration:.2f} s, got {at_s}."
        )
    texts = split_text(text if text is not None else dl[i].text, at_s / duration)
    return split_row(dl, i, float(at_s), texts)


def delete_row(list_path: str | Path, number: int) -> str:
    """Remove row ``number``; its clip moves to the list's ``trash/`` (undo puts it back). Returns the row."""
    dl = open_list(list_path)
    (entry,) = delete_rows(dl, [_index(dl, number)])
    return entry.line


def undo_delete(list_path: str | Path) -> list[ListRow]:
    """Put the most recently deleted row(s) of this list back (file and row, at their old positions)."""
    dl = open_list(list_path)
    deleted = [e for e in trash_entries(dl) if e.reason == "deleted"]
    if not deleted:
        raise ValueError("Nothing to undo: no deleted row of this list is in its trash.")
    latest = max(e.time for e in deleted)
    return restore_rows(dl, [e.id for e in deleted if latest - e.time <= _BATCH_S])


def run_check(
    list_path: str | Path, cache_dir: Path, progress: Callable[[int, int], None] | None = None
) -> dict[str, list[str]]:
    """Run :func:`tools.lists.check_list` (decodes every clip, silero-vad for no_speech) and cache its flags."""
    dl = open_list(list_path)
    report = check_list(dl, progress=progress)
    flags = {str(Path(r.path).resolve()): [f for f in r.flags if f in CHECKED_FLAGS] for r in report.rows}
    data = {"list": str(Path(dl.path).resolve()), "rows": flags}
    cache = check_cache_path(cache_dir, Path(dl.path))
    atomic_write_bytes(cache, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
    return flags


def playable(path: Path, roots: list[Path], preview_dir: Path) -> str | None:
    """A path the page may serve for the clip at ``path``: itself when it lies under one of ``roots`` (the
    app's allowed folders), else a copy in ``preview_dir``; None when the clip is missing."""
    if not path.is_file():
        return None
    full = path.resolve()
    if any(full.is_relative_to(Path(r).resolve()) for r in roots):
        return str(full)
    stat = full.stat()
    key = hashlib.sha1(f"{full}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    copy = Path(preview_dir) / f"{key}{full.suffix}"
    if not copy.is_file():  # named by path, size and time: an existing copy holds the same audio
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(full, copy)
    return str(copy)
