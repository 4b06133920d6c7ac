"""Crash-safe file writing, shared by every layer (standard library only).

Every write goes to a temporary file in the destination's own folder, is flushed to disk and then moved
into place with :func:`os.replace`, which is atomic on POSIX and Windows when source and destination are
on the same file system. A crash therefore leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
TEMP_PREFIX = ".tmp-"


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entry table so that a rename inside it survives a power cut (no-op on Windows)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems (network mounts) refuse fsync on folders; the rename still happened
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temp file in the same folder + fsync + ``os.replace``)."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_stream(src: BinaryIO, dst: BinaryIO, limit: int | None = None) -> tuple[int, str]:
    """Copy ``src`` to ``dst``; return (bytes copied, hex SHA-256). Stops with ValueError past ``limit``."""
    digest = hashlib.sha256()
    size = 0
    while chunk := src.read(CHUNK):
        size += len(chunk)
        if limit is not None and size > limit:
            raise ValueError(f"more than {limit} bytes")
        digest.update(chunk)
        dst.write(chunk)
    dst.flush()
    os.fsync(dst.fileno())
    return size, digest.hexdigest()


def move_no_clobber(src: Path, dst: Path) -> None:
    """Move the file ``src`` to ``dst`` only if ``dst`` does not exist (no race: hard link, then unlink)."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError:
        # File systems without hard links: exclusive create of the destination, then copy the bytes over.
        with open(src, "rb") as fin, open(dst, "xb") as fout:
            copy_stream(fin, fout)
    os.unlink(src)
    fsync_dir(dst.parent)


def size_text(n: int) -> str:
    """A byte count for people: ``512 B``, ``12.3 MB`` (binary multiples, as file managers show them)."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
