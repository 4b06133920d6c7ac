"""Offline import: copy the pretrained set from a folder or a GPT-SoVITS installation, or add one model file.

Everything is copied (never moved), each file through ``<name>.part`` and an atomic rename, and a different
file already in place is never overwritten. Model files are checked with the safe reader and identified
before anything is copied, so a damaged, wrong or malicious file never lands in ``pretrained/``.
"""

from __future__ import annotations

import filecmp
import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.models.checkpoint import CheckpointError, read_checkpoint
from gpt_sovits.models.identify import ModelIdentity, identify
from gpt_sovits.registry.layout import (
    ALL_PRETRAINED,
    PRETRAINED_V2,
    USER_MODELS_DIR,
    PretrainedItem,
    missing_pretrained,
    resolve_items,
)

log = logging.getLogger(__name__)

# Where upstream keeps the pretrained set, relative to an installation root.
UPSTREAM_PRETRAINED = Path("GPT_SoVITS") / "pretrained_models"
USER_MODEL_KINDS = ("gpt", "sovits")


class ImportSourceError(GPTSoVITSError):
    """The folder to import from does not exist or holds none of the pretrained files."""


@dataclass(frozen=True)
class CopiedFile:
    """One file: ``copied``, ``identical`` (already in place) or ``kept`` (a different file is in place)."""

    source: Path
    dest: Path
    status: str


@dataclass(frozen=True)
class ItemImport:
    """One pretrained item: ``imported``, ``present`` (all files already identical), ``kept`` (some file in
    place differs and was left alone), ``invalid`` (found but failed the check; nothing copied) or
    ``not_found`` (not in the source)."""

    item: PretrainedItem
    status: str
    files: tuple[CopiedFile, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ImportReport:
    """The outcome of :func:`import_pretrained`. ``still_missing``: the ``v2`` items absent afterwards."""

    source: Path
    dest_dir: Path
    items: tuple[ItemImport, ...]
    still_missing: tuple[PretrainedItem, ...] = field(default_factory=tuple)

    def with_status(self, status: str) -> tuple[ItemImport, ...]:
        return tuple(i for i in self.items if i.status == status)


@dataclass(frozen=True)
class ModelImport:
    """A user's model file brought in by :func:`import_model_file`: ``copied`` or ``identical``."""

    source: Path
    dest: Path
    identity: ModelIdentity
    status: str


def find_pretrained_source(path: str | os.PathLike) -> Path:
    """The folder holding the pretrained files: ``path`` itself, or the ``GPT_SoVITS/pretrained_models/``
    of an installation root, or the ``pretrained_models/`` of its ``GPT_SoVITS`` folder."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ImportSourceError(f"{path} does not exist. Give the folder that holds the pretrained files.")
    if not path.is_dir():
        raise ImportSourceError(f"{path} is a file; give a folder (or import a single model file).")
    for candidate in (path / UPSTREAM_PRETRAINED, path / "pretrained_models", path):
        if candidate.is_dir() and any((candidate / item.path).exists() for item in ALL_PRETRAINED):
            return candidate
    examples = ", ".join(i.path for i in PRETRAINED_V2[:2])
    raise ImportSourceError(
        f"{path} holds none of the pretrained files (such as {examples}). Point at a GPT-SoVITS installation "
        f"folder, its {UPSTREAM_PRETRAINED.as_posix()}/ folder, or a folder laid out like pretrained/."
    )


def _same_content(a: Path, b: Path) -> bool:
    return a.is_file() and b.is_file() and filecmp.cmp(a, b, shallow=False)


def _copy_file(source: Path, dest: Path) -> CopiedFile:
    """Copy through ``dest.part`` + rename; an existing ``dest`` is compared, never replaced."""
    if dest.exists():
        return CopiedFile(source, dest, "identical" if _same_content(source, dest) else "kept")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    shutil.copyfile(source, part)
    if dest.exists():  # appeared meanwhile: leave it
        part.unlink()
        return CopiedFile(source, dest, "identical" if _same_content(source, dest) else "kept")
    os.replace(part, dest)
    return CopiedFile(source, dest, "copied")


def check_item(source: Path, item: PretrainedItem) -> str | None:
    """Why ``source`` is not a usable copy of ``item`` (None when it is). Model files are read safely."""
    if item.is_dir:
        if not source.is_dir():
            return f"{source} is not a folder"
        for group in item.required:
            if not any((source / name).is_file() and (source / name).stat().st_size > 0 for name in group):
                return f"{source} lacks {' or '.join(group)}"
        config = source / "config.json"
        if config.is_file():
            try:
                if not isinstance(json.loads(config.read_text(encoding="utf-8")), dict):
                    return f"{config} is not a JSON object"
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                return f"{config} is not valid JSON ({exc})"
        return None
    try:
        identity = identify(read_checkpoint(source))
    except CheckpointError as exc:
        return str(exc)
    if item.kind and identity.kind != item.kind:
        return f"{source} is a {identity.describe()}, not a {item.kind} ({item.description})"
    if item.version and identity.version != item.version:
        return f"{source} is a {identity.describe()}, not version {item.version} ({item.description})"
    return None


def _folder_files(folder: Path) -> list[Path]:
    # Hidden files and unfinished copies/downloads are not part of a model folder.
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".part")
    )


def _import_item(root: Path, dest_dir: Path, item: PretrainedItem) -> ItemImport:
    source = root / item.path
    if not source.exists():
        return ItemImport(item, "not_found")
    problem = check_item(source, item)
    if problem:
        log.warning("not importing %s: %s", item.path, problem)
        return ItemImport(item, "invalid", note=problem)
    pairs = (
        [(p, dest_dir / item.path / p.relative_to(source)) for p in _folder_files(source)]
        if item.is_dir
        else [(source, dest_dir / item.path)]
    )
    files = tuple(_copy_file(src, dst) for src, dst in pairs)
    statuses = {f.status for f in files}
    if "kept" in statuses:
        kept = [str(f.dest) for f in files if f.status == "kept"]
        note = f"a different file is already in place and was left untouched: {', '.join(kept)}"
        return ItemImport(item, "kept", files, note)
    return ItemImport(item, "imported" if "copied" in statuses else "present", files)


def import_pretrained(
    source: str | os.PathLike,
    dest_dir: str | os.PathLike,
    items: Iterable[str | PretrainedItem] | None = None,
) -> ImportReport:
    """Copy pretrained items (keys or set names; default every known item) from ``source`` into ``dest_dir``.

    ``source`` is a folder laid out like ``pretrained/``, a GPT-SoVITS installation root or its
    ``GPT_SoVITS/pretrained_models/``. Each item found is checked first (model files identified, folders
    complete); items that fail are reported as ``invalid`` and not copied.
    """
    root = find_pretrained_source(source)
    dest = Path(dest_dir)
    if dest.exists() and root.resolve() == dest.resolve():
        raise ImportSourceError(f"{root} is already the pretrained folder; nothing to import.")
    chosen = resolve_items(items) if items else ALL_PRETRAINED
    results = tuple(_import_item(root, dest, item) for item in chosen)
    return ImportReport(root, dest, results, tuple(missing_pretrained(dest)))


def _free_name(folder: Path, name: str, source: Path) -> tuple[Path, bool]:
    """A destination in ``folder`` for ``name``: the name itself, an identical file there, or ``stem-N``."""
    candidate = folder / name
    n = 1
    while candidate.exists():
        if _same_content(source, candidate):
            return candidate, True
        n += 1
        candidate = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
    return candidate, False


def import_model_file(path: str | os.PathLike, pretrained_dir: str | os.PathLike) -> ModelImport:
    """Copy a user's own GPT ``.ckpt`` or SoVITS ``.pth`` into ``pretrained_dir/user/``.

    The file is read with the safe reader and identified first: a malicious, damaged or non-model file raises
    :class:`~gpt_sovits.models.checkpoint.CheckpointError`. An identical file already there is reused; a
    different one with the same name is kept and the copy gets a ``-2``, ``-3`` ... suffix.
    """
    source = Path(path).expanduser()
    identity = identify(read_checkpoint(source))
    if identity.kind not in USER_MODEL_KINDS:
        raise CheckpointError(
            f"{source} is a {identity.describe()} file, a pretrained component rather than a voice model. "
            "Import it with the whole pretrained folder (models import FOLDER)."
        )
    folder = Path(pretrained_dir) / USER_MODELS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    dest, identical = _free_name(folder, source.name, source)
    if identical:
        return ModelImport(source, dest, identity, "identical")
    copied = _copy_file(source, dest)
    return ModelImport(
        source, copied.dest, identity, "copied" if copied.status == "copied" else copied.status
    )
