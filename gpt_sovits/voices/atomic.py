"""Crash-safe file operations used by the voice library (the generic ones live in :mod:`gpt_sovits.fileio`)."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gpt_sovits.fileio import (  # noqa: F401  (re-exported for the library's modules)
    CHUNK,
    TEMP_PREFIX,
    atomic_write_bytes,
    copy_stream,
    fsync_dir,
    move_no_clobber,
    sha256_file,
)

log = logging.getLogger(__name__)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Replace ``path`` with pretty-printed JSON atomically (non-ASCII kept readable)."""
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def copy_with_hash(src: Path, dst: Path) -> str:
    """Copy ``src`` to the new file ``dst`` (which must not exist), fsync it and return its SHA-256."""
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        _, digest = copy_stream(fin, fout)
    return digest


@contextlib.contextmanager
def staging_folder(root: Path, purpose: str) -> Iterator[Path]:
    """A fresh hidden folder inside ``root`` to build something in; removed again unless moved away.

    Building a whole voice here and renaming it into place at the end means a crash never leaves a
    half-written voice visible: hidden folders are skipped when listing the library.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{purpose}-", dir=root))
    try:
        yield folder
    finally:
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
