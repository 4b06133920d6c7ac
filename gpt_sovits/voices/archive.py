"""Voice archives: export a voice folder to a .zip and read one back safely.

An archive holds ``voice.json``, every file it references and the feature cache (derived data that stays
valid for the same files), all at the top level. Reading accepts that layout or the same files inside one
top-level folder (a zipped voice folder). Reading refuses, before extracting anything: absolute paths,
drive letters, ``..`` components, links and special files, duplicate entries, more than
:data:`MAX_ENTRIES` entries and a declared uncompressed total above :data:`MAX_TOTAL_BYTES`. Only files
named by voice.json (plus the cache) are extracted, each into the staging folder by its validated plain
name, and each must match the SHA-256 that voice.json records.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from pathlib import Path
from typing import Any

from gpt_sovits.voices.atomic import copy_stream, move_no_clobber
from gpt_sovits.voices.model import (
    FEATURE_FILES,
    VOICE_FILE,
    UnsafeArchive,
    Voice,
    VoiceError,
    VoiceExists,
    parse_record,
)

log = logging.getLogger(__name__)

MAX_TOTAL_BYTES = 4 << 30  # 4 GiB: far above a real voice (two models and a few recordings)
MAX_ENTRIES = 1000
MAX_VOICE_JSON_BYTES = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")


def write_zip(voice: Voice, zip_path: Path) -> Path:
    """Write ``voice``'s folder to the new file ``zip_path``; an existing file is never overwritten."""
    zip_path = Path(zip_path).expanduser()
    if zip_path.exists():
        raise VoiceExists(f"{zip_path} already exists; choose another file name or delete that file first.")
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    names = [VOICE_FILE, *voice.sha256, *(f for f in FEATURE_FILES if (voice.folder / f).is_file())]
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-export-", suffix=".zip", dir=zip_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for name in names:
                zf.write(voice.folder / name, arcname=name)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        move_no_clobber(tmp, zip_path)
    except FileExistsError:
        raise VoiceExists(f"{zip_path} appeared while exporting; nothing was overwritten.") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return zip_path


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an entry is unsafe, or None."""
    raw = info.filename
    if any(unicodedata.category(ch) == "Cc" for ch in raw):
        return "has control characters in its name"
    name = raw.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        return "is an absolute path"
    parts = name.rstrip("/").split("/")
    if any(p == ".." for p in parts):
        return "climbs out of the folder with '..'"
    if any(p in ("", ".") for p in parts):
        return "has an empty or '.' path component"
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        return "is a symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "is a special file (device, pipe or socket)"
    return None


def _checked_entries(zf: zipfile.ZipFile, source: Path) -> dict[str, zipfile.ZipInfo]:
    """The archive's files by normalised name, after refusing anything unsafe or oversized."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise UnsafeArchive(
            f"{source} has {len(infos)} entries (limit {MAX_ENTRIES}); it is not a voice archive."
        )
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_BYTES:
        raise UnsafeArchive(
            f"{source} declares {total} bytes when unpacked, more than the {MAX_TOTAL_BYTES} allowed "
            "(possibly a zip bomb); it was not imported."
        )
    files: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        problem = _entry_problem(info)
        if problem:
            raise UnsafeArchive(f"Refused {source}: entry {info.filename!r} {problem}. Nothing was imported.")
        if info.is_dir():
            continue
        name = info.filename.replace("\\", "/")
        if name in files:
            raise UnsafeArchive(f"Refused {source}: entry {name!r} appears twice. Nothing was imported.")
        files[name] = info
    return files


def _voice_prefix(files: dict[str, zipfile.ZipInfo], source: Path) -> str:
    """ "" for a flat archive, "folder/" when everything sits in one top-level folder with a voice.json."""
    if VOICE_FILE in files:
        return ""
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in n for n in files):
        prefix = f"{tops.pop()}/"
        if f"{prefix}{VOICE_FILE}" in files:
            return prefix
    raise UnsafeArchive(f"{source} has no {VOICE_FILE} at its top level; it is not a voice archive.")


def _read_record(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: Path) -> Any:
    if info.file_size > MAX_VOICE_JSON_BYTES:
        raise UnsafeArchive(f"{source}: {VOICE_FILE} is implausibly large ({info.file_size} bytes).")
    try:
        return json.loads(zf.read(info).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsafeArchive(f"{source}: {VOICE_FILE} is not valid JSON ({exc}).") from None


def _extract_one(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, budget: int) -> tuple[int, str]:
    with zf.open(info) as src, open(dest, "xb") as dst:
        # The declared size bounds the read: a lying entry cannot inflate past what was checked above.
        return copy_stream(src, dst, limit=min(info.file_size, budget))


def extract_voice(zip_path: Path, stage: Path) -> dict[str, Any]:
    """Check ``zip_path``, extract the voice into the empty folder ``stage`` and return its voice.json record.

    Raises :class:`UnsafeArchive` for anything unsafe, incomplete or not matching its recorded hashes.
    """
    source = Path(zip_path)
    if not source.is_file():
        raise UnsafeArchive(f"{source}: no such file. Check the path of the voice archive (.zip).")
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsafeArchive(f"{source} is not a readable zip archive ({exc}).") from None
    with zf:
        files = _checked_entries(zf, source)
        prefix = _voice_prefix(files, source)
        record = _read_record(zf, files[prefix + VOICE_FILE], source)
        try:
            parse_record(stage, record)  # validates every file name voice.json mentions
        except VoiceError as exc:
            raise UnsafeArchive(f"{source}: its {VOICE_FILE} is invalid: {exc}") from None
        wanted = [(n, record["sha256"][n]) for n in record["sha256"]]
        wanted += [(n, None) for n in FEATURE_FILES if prefix + n in files]
        extra = sorted(set(files) - {prefix + n for n, _ in wanted} - {prefix + VOICE_FILE})
        if extra:
            log.warning(
                "Ignoring %d file(s) in %s that voice.json does not reference: %s", len(extra), source, extra
            )
        budget = MAX_TOTAL_BYTES
        stage_root = stage.resolve()
        for name, expected in wanted:
            info = files.get(prefix + name)
            if info is None:
                raise UnsafeArchive(
                    f"{source} lacks {name!r}, which its voice.json lists. Export the voice again."
                )
            dest = stage / name
            if dest.resolve().parent != stage_root:  # belt and braces: names were validated as plain names
                raise UnsafeArchive(f"Refused {source}: {name!r} would be written outside the voice folder.")
            try:
                size, digest = _extract_one(zf, info, dest, budget)
            except (zipfile.BadZipFile, ValueError, EOFError, zlib.error) as exc:
                raise UnsafeArchive(
                    f"{source}: {name!r} is damaged ({exc}). Export the voice again."
                ) from None
            except OSError as exc:
                raise UnsafeArchive(f"{source}: cannot unpack {name!r} ({exc}).") from None
            budget -= size
            if expected is not None and digest != expected:
                raise UnsafeArchive(
                    f"{source}: {name!r} does not match the SHA-256 recorded in its voice.json; the archive "
                    "was altered or damaged. Nothing was imported; ask for a fresh export."
                )
    return record
