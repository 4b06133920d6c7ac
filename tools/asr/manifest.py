"""The ASR manifest: one JSON object per transcribed clip (JSON Lines, UTF-8).

Fields of an entry: ``path`` (absolute path of the clip), ``list_path`` (as written in the ``.list``),
``bytes`` (file size when transcribed; a changed size means the clip is transcribed again), ``speaker``,
``text``, ``language`` (lower-case code), ``confidence`` (exp of the token-weighted mean log-probability,
0-1; None where the engine gives none), ``no_speech_prob`` (highest over the segments; None where not
given), ``duration_s``, ``segments`` (``start``, ``end``, ``text``, ``avg_logprob``, ``no_speech_prob``),
``engine``, ``model`` and ``time`` (Unix seconds).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def read_manifest(path: Path) -> list[dict]:
    """All entries of a manifest (none if the file does not exist); broken lines are skipped with a warning
    (an interrupted run can leave a half-written last line)."""
    if not path.is_file():
        return []
    entries = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("Skipping unreadable line %d of %s", n, path)
                continue
            if isinstance(entry, dict):
                entries.append(entry)
    return entries


def append_entry(path: Path, entry: dict) -> None:
    """Append one entry and flush it, so an interrupted run keeps what it finished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    needs_newline = False
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as f:
            f.seek(-1, 2)
            needs_newline = f.read(1) != b"\n"
    with open(path, "a", encoding="utf-8") as f:
        if needs_newline:  # a half-written line from an interrupted run must not swallow this entry
            f.write("\n")
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        f.flush()
