"""Which model files exist (official pretrained set, trained voices, user-added files), without loading them.

:func:`scan_models` lists the files with their size; with ``identify=True`` each ``.ckpt``/``.pth`` is
read (weights only, on the CPU, never built into a model) to tell its kind and version. Results of that
reading are remembered per (path, mtime, size), so repeated scans only read new or changed files.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gpt_sovits.models.checkpoint import read_checkpoint
from gpt_sovits.models.identify import identify as identify_checkpoint
from gpt_sovits.registry.layout import PRETRAINED_V2, PretrainedItem
from gpt_sovits.settings import Settings

logger = logging.getLogger(__name__)

Source = Literal["pretrained", "voice", "user"]
MODEL_SUFFIXES = (".ckpt", ".pth")
USER_FOLDER = "user"  # pretrained/user/: model files the user added by hand or through the importer
UNKNOWN = "unknown"

# Kinds of the official pretrained items, as gpt_sovits.models.identify names them (folders: the encoder).
_PRETRAINED_KINDS = {
    "gpt_v2": "gpt",
    "sovits_v2_g": "sovits",
    "sovits_v2_d": "sovits_discriminator",
    "hubert": "hubert",
    "bert": "bert",
    "sv": "speaker_eres2netv2",
}
# Without reading a file, its suffix is the upstream convention: GPT weights .ckpt, SoVITS weights .pth.
_SUFFIX_KINDS = {".ckpt": "gpt", ".pth": "sovits"}

_cache_lock = threading.Lock()
_identity_cache: dict[tuple[Path, int, int], tuple[str, str | None]] = {}


@dataclass(frozen=True)
class ModelFile:
    """One model file or folder: ``kind`` ("gpt", "sovits", "hubert", ..., or "unknown" for an unreadable
    file), where it is, where it comes from, whether it exists, its size in bytes (0 when missing; the
    sum of the files for a folder) and the version (only known after identification)."""

    kind: str
    path: Path
    source: Source
    present: bool
    size: int
    version: str | None = None


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def identify_file(path: Path) -> tuple[str, str | None]:
    """(kind, version) of a ``.ckpt``/``.pth`` file, or ``("unknown", None)`` if it cannot be read.

    Remembered per (path, mtime, size): a changed file is read again.
    """
    try:
        st = path.stat()
    except OSError:
        return UNKNOWN, None
    key = (path.resolve(), st.st_mtime_ns, st.st_size)
    with _cache_lock:
        hit = _identity_cache.get(key)
    if hit is not None:
        return hit
    try:
        identity = identify_checkpoint(read_checkpoint(path))
        result: tuple[str, str | None] = (identity.kind, identity.version)
    except Exception as exc:  # any failure to read means "not a model we can use", never a crash
        logger.warning("cannot identify %s: %s", path, exc)
        result = (UNKNOWN, None)
    with _cache_lock:
        _identity_cache[key] = result
    return result


def _pretrained_entry(root: Path, item: PretrainedItem, identify_files: bool) -> ModelFile:
    path = root / item.path
    kind = _PRETRAINED_KINDS.get(item.key, item.key)
    if item.is_dir:
        present = path.is_dir() and any(path.iterdir())
        return ModelFile(kind, path, "pretrained", present, _folder_size(path) if present else 0)
    present = path.is_file() and path.stat().st_size > 0
    if not present:
        return ModelFile(kind, path, "pretrained", False, 0)
    version = None
    if identify_files:
        kind, version = identify_file(path)
    return ModelFile(kind, path, "pretrained", True, path.stat().st_size, version)


def _model_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in MODEL_SUFFIXES and p.is_file())


def _file_entries(paths: list[Path], source: Source, identify_files: bool) -> list[ModelFile]:
    out = []
    for path in paths:
        try:
            size = path.stat().st_size
        except OSError:  # removed while scanning
            continue
        kind, version = _SUFFIX_KINDS.get(path.suffix.lower(), UNKNOWN), None
        if identify_files:
            kind, version = identify_file(path)
        out.append(ModelFile(kind, path, source, True, size, version))
    return out


def scan_models(settings: Settings, identify: bool = False) -> list[ModelFile]:
    """Every model file this installation knows about, in a stable order.

    1. The official pretrained items (:data:`~gpt_sovits.registry.layout.PRETRAINED_V2`) under
       ``settings.pretrained_dir``, present or missing.
    2. ``*.ckpt``/``*.pth`` files inside the voice folders of ``settings.voices_dir`` (source "voice").
    3. ``*.ckpt``/``*.pth`` files under ``settings.pretrained_dir / "user"`` (source "user").

    Without ``identify`` the kind of a voice or user file is guessed from its suffix (``.ckpt`` GPT,
    ``.pth`` SoVITS) and ``version`` is None. With ``identify=True`` each file is read to tell its kind
    and version; unreadable files get kind ``"unknown"`` (and a logged warning) instead of an error.
    """
    root = Path(settings.pretrained_dir)
    found = [_pretrained_entry(root, item, identify) for item in PRETRAINED_V2]
    voices = Path(settings.voices_dir)
    if voices.is_dir():
        # Hidden folders (.trash/ of deleted voices, in-progress writes) hold no usable voice.
        for voice in sorted(p for p in voices.iterdir() if p.is_dir() and not p.name.startswith(".")):
            found += _file_entries(_model_files(voice), "voice", identify)
    found += _file_entries(_model_files(root / USER_FOLDER), "user", identify)
    return found
