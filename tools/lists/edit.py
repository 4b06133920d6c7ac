"""Audio-changing edits of a dataset list: merge, split, delete (to ``trash/``) and restore.

Rules shared by every operation:

* no existing audio file is ever overwritten: new clips get fresh names (``<stem>_merged.wav``,
  ``<stem>_part1.wav``, with ``_2``, ``_3``... appended when taken);
* clips that leave the list (deleted, or replaced by a merge or split) move into ``trash/`` next to the
  list file, recorded in ``trash/trash.jsonl`` so :func:`restore_rows` can put file and row back;
* the list is saved (atomically) after each operation, because the files have already moved.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpt_sovits.audio import audio_info, load_audio, save_audio
from gpt_sovits.errors import GPTSoVITSError
from tools.lists.listfile import DatasetList, ListFormatError, ListRow, atomic_write_bytes, check_field

logger = logging.getLogger(__name__)

TRASH_DIR = "trash"
TRASH_INDEX = "trash.jsonl"
_WRITABLE = {".wav", ".flac"}


class ListEditError(GPTSoVITSError):
    """An edit that cannot be done as asked (bad rows, cut point outside the clip, file in the way)."""


@dataclass(frozen=True)
class TrashEntry:
    """One clip in ``trash/``: enough to put the file and its row back."""

    id: str
    list_name: str  # file name of the list the row belonged to
    line: str  # the row as it was written
    row_index: int  # where it stood in that list
    original: str  # where the audio came from: relative to the list's folder when inside it
    file: str  # its name inside trash/
    reason: str  # "deleted", "merged" or "split"
    time: float


def _need_path(dl: DatasetList) -> Path:
    if dl.path is None:
        raise ListEditError("Save the list to a file first: audio edits keep their trash next to it.")
    return dl.path


def _unique_path(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem+suffix``, or with ``_2``, ``_3``... appended until the name is free."""
    candidate = folder / f"{stem}{suffix}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}_{n}{suffix}"
        n += 1
    return candidate


def _move_no_clobber(src: Path, dst: Path) -> None:
    """Move a file, refusing to replace an existing ``dst`` (atomic where hard links work)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # fails if dst exists, never replaces it
    except FileExistsError:
        raise ListEditError(f"'{dst}' already exists; move or rename it first.") from None
    except OSError:
        if dst.exists():
            raise ListEditError(f"'{dst}' already exists; move or rename it first.") from None
        shutil.move(str(src), str(dst))
        return
    src.unlink()


def _trash_dir(dl: DatasetList) -> Path:
    return _need_path(dl).resolve().parent / TRASH_DIR


def trash_entries(dl: DatasetList) -> list[TrashEntry]:
    """The clips of this list that are in ``trash/``, oldest first."""
    return [e for e in _read_trash(_trash_dir(dl)) if e.list_name == _need_path(dl).name]


def _read_trash(folder: Path) -> list[TrashEntry]:
    index = folder / TRASH_INDEX
    if not index.is_file():
        return []
    entries = []
    for n, line in enumerate(index.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                entries.append(TrashEntry(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                logger.warning("Ignoring unreadable line %d of %s: %s", n, index, exc)
    return entries


def _write_trash(folder: Path, entries: list[TrashEntry]) -> None:
    text = "".join(json.dumps(e.__dict__, ensure_ascii=False) + "\n" for e in entries)
    atomic_write_bytes(folder / TRASH_INDEX, text.encode("utf-8"))


def _to_trash(dl: DatasetList, rows: list[tuple[int, ListRow]], reason: str) -> list[TrashEntry]:
    """Move the audio of ``rows`` (index, row) into trash/ and record them; missing files are recorded too."""
    folder = _trash_dir(dl)
    entries = _read_trash(folder)
    added = []
    for index, row in rows:
        src = dl.resolve(row)
        name = ""
        if src.is_file():
            dst = _unique_path(folder, src.stem, src.suffix)
            _move_no_clobber(src, dst)
            name = dst.name
        else:
            logger.warning("Row %d: audio '%s' is missing; only the row goes to the trash.", index + 1, src)
        entry = TrashEntry(
            id=uuid.uuid4().hex[:8],
            list_name=_need_path(dl).name,
            line=row.line,
            row_index=index,
            original=_portable(src, dl.folder),
            file=name,
            reason=reason,
            time=time.time(),
        )
        added.append(entry)
        entries.append(entry)
        _write_trash(folder, entries)  # after each file, so a failure later leaves the index true
    return added


def _portable(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` when inside it (the dataset may move as a whole), else absolute."""
    full = path.resolve()
    return full.relative_to(folder).as_posix() if full.is_relative_to(folder) else str(full)


def _check_indices(dl: DatasetList, indices: Sequence[int]) -> list[int]:
    n = len(dl)
    out = []
    for i in indices:
        if not -n <= i < n:
            raise ListEditError(f"Row {i} does not exist: the list has {n} rows (rows count from 0).")
        out.append(i % n)
    if len(set(out)) != len(out):
        raise ListEditError(f"Rows {list(indices)} name the same row twice.")
    return out


def delete_rows(dl: DatasetList, indices: Sequence[int]) -> list[TrashEntry]:
    """Remove rows from the list and move their clips into ``trash/``; returns the trash entries."""
    idx = sorted(_check_indices(dl, indices))
    rows = [(i, dl[i]) for i in idx]
    added = _to_trash(dl, rows, "deleted")
    for i in reversed(idx):
        dl.pop(i)
    dl.save()
    return added


def restore_rows(dl: DatasetList, ids: Sequence[str] | None = None) -> list[ListRow]:
    """Put trashed clips (all of this list's, or those with the given ids) and their rows back.

    Each row returns to its old position (or the end if the list is shorter now); a file that exists at
    the original path again stops the restore with :class:`ListEditError` (nothing is overwritten).
    """
    folder = _trash_dir(dl)
    everything = _read_trash(folder)
    mine = [e for e in everything if e.list_name == _need_path(dl).name]
    chosen = mine if ids is None else [e for e in mine if e.id in set(ids)]
    if ids is not None and len(chosen) != len(set(ids)):
        missing = sorted(set(ids) - {e.id for e in chosen})
        raise ListEditError(
            f"No trashed clip of this list has id {', '.join(missing)} (see `restore --show`)."
        )
    restored = []
    for entry in sorted(chosen, key=lambda e: e.row_index):
        if entry.file:
            _move_no_clobber(folder / entry.file, dl.folder / entry.original)  # absolute stays absolute
        fields = entry.line.split("|")
        if len(fields) != 4:
            raise ListFormatError(f"Trash entry {entry.id} holds a malformed row {entry.line!r}.")
        pos = min(entry.row_index, len(dl))
        dl.insert(pos, ListRow(*fields, eol=""))
        everything.remove(entry)
        _write_trash(folder, everything)  # after each file so a failure leaves the index true
        restored.append(dl[pos])
    dl.save()
    return restored


def _auto_joiner(left: str, right: str) -> str:
    """No space between CJK text (as GPT-SoVITS joins), a space between words otherwise."""
    if not left or not right:
        return ""
    return "" if ord(left[-1]) >= 0x2E80 or ord(right[0]) >= 0x2E80 else " "


def _output_suffix(path: Path) -> str:
    return path.suffix.lower() if path.suffix.lower() in _WRITABLE else ".wav"


def _subtype(path: Path, out_suffix: str) -> str:
    """Keep the source's sample depth where the output format can hold it; otherwise 16-bit PCM."""
    codec = audio_info(path).codec.upper()
    wav = out_suffix == ".wav"
    if codec in ("FLOAT", "DOUBLE"):
        return "FLOAT" if wav else "PCM_24"
    if "32" in codec:
        return "PCM_32" if wav else "PCM_24"
    return "PCM_24" if "24" in codec else "PCM_16"


def merge_rows(
    dl: DatasetList, indices: Sequence[int], *, gap_s: float = 0.0, joiner: str | None = None
) -> ListRow:
    """Merge adjacent rows into one clip: audio concatenated (``gap_s`` of silence between clips) at the
    first clip's sample rate into a new file next to it, texts joined (``joiner``; default a space
    between words, nothing between CJK characters). Speaker and language come from the first row. The
    source clips move into ``trash/``. Returns the new row, which takes the first row's place.
    """
    idx = sorted(_check_indices(dl, indices))
    if len(idx) < 2:
        raise ListEditError("Merging needs at least two rows.")
    if idx != list(range(idx[0], idx[0] + len(idx))):
        raise ListEditError(f"Only adjacent rows can be merged; rows {idx} are not consecutive.")
    if gap_s < 0:
        raise ListEditError(f"The gap between merged clips must be >= 0 s, got {gap_s}.")
    rows = [dl[i] for i in idx]
    first_path = dl.resolve(rows[0])
    rate = audio_info(first_path).sample_rate
    pieces: list[np.ndarray] = []
    for k, row in enumerate(rows):
        if k:
            pieces.append(np.zeros(round(gap_s * rate), dtype=np.float32))
        pieces.append(load_audio(dl.resolve(row), rate, allow_silent=True))  # [samples]
    if len({r.speaker for r in rows}) > 1:
        logger.warning("Merging rows of different speakers; the merged row keeps '%s'.", rows[0].speaker)
    text = rows[0].text
    for row in rows[1:]:
        if joiner is None:
            left, right = text.rstrip(), row.text.lstrip()
            text = left + _auto_joiner(left, right) + right
        else:
            text = text + joiner + row.text
    check_field("text", text)
    suffix = _output_suffix(first_path)
    out = _unique_path(first_path.parent, f"{first_path.stem}_merged", suffix)
    save_audio(out, np.concatenate(pieces), rate, subtype=_subtype(first_path, suffix))
    merged = ListRow(dl.path_text_for(out, rows[0]), rows[0].speaker, rows[0].lang, text, eol=rows[0].eol)
    _to_trash(dl, list(zip(idx, rows)), "merged")
    for i in reversed(idx[1:]):
        dl.pop(i)
    dl.entries[dl._entry_index(idx[0])] = merged
    dl.save()
    return merged


def split_row(dl: DatasetList, index: int, at_s: float, texts: tuple[str, str]) -> tuple[ListRow, ListRow]:
    """Cut row ``index``'s clip at ``at_s`` seconds into two new files (``<stem>_part1``/``_part2``)
    with the given texts; the original clip moves into ``trash/``. Returns the two new rows.
    """
    (i,) = _check_indices(dl, [index])
    row = dl[i]
    for t in texts:
        check_field("text", t)
    src = dl.resolve(row)
    rate = audio_info(src).sample_rate
    audio = load_audio(src, rate, allow_silent=True)  # [samples]
    cut = round(at_s * rate)
    if not 0 < cut < len(audio):
        raise ListEditError(
            f"The cut point {at_s:.3f} s must lie inside the clip (0 - {len(audio) / rate:.3f} s)."
        )
    suffix = _output_suffix(src)
    subtype = _subtype(src, suffix)
    new_rows = []
    for part, (piece, text) in enumerate(((audio[:cut], texts[0]), (audio[cut:], texts[1])), 1):
        out = _unique_path(src.parent, f"{src.stem}_part{part}", suffix)
        save_audio(out, piece, rate, subtype=subtype)
        new_rows.append(ListRow(dl.path_text_for(out, row), row.speaker, row.lang, text, eol=row.eol))
    _to_trash(dl, [(i, row)], "split")
    dl.entries[dl._entry_index(i)] = new_rows[0]
    dl.insert(i + 1, new_rows[1])
    dl.save()
    return new_rows[0], new_rows[1]
