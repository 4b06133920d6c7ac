"""The voice library: one folder per voice under a root folder (``settings.voices_dir``).

Every mutation holds a lock (a thread lock, plus an advisory file lock on POSIX so that the command line
and a running server do not interleave) and is crash-safe: single files are replaced atomically, and new
voices (create, import, duplicate) are built in a hidden staging folder and renamed into place at the end.
Deleted voices go to ``.trash/`` and can be restored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from gpt_sovits import __version__
from gpt_sovits.voices import archive, features
from gpt_sovits.voices.atomic import (
    TEMP_PREFIX,
    atomic_write_json,
    atomic_write_text,
    copy_with_hash,
    fsync_dir,
    sha256_file,
    staging_folder,
)
from gpt_sovits.voices.model import (
    DICTIONARY_FILE,
    FEATURE_FILES,
    MODEL_VERSIONS,
    VOICE_FILE,
    TrashEntry,
    Voice,
    VoiceCorrupt,
    VoiceError,
    VoiceExists,
    VoiceNotFound,
    check_defaults,
    check_language,
    iso,
    now_utc,
    parse_record,
)
from gpt_sovits.voices.names import MAX_NAME_CHARS, name_key, normalize_name, unique_folder_name
from gpt_sovits.voices.util import (
    audio_problem,
    check_dictionary,
    dictionary_problems,
    member_name,
    reference_triples,
)

log = logging.getLogger(__name__)

TRASH_DIR = ".trash"
LOCK_FILE = ".lock"
STALE_STAGING_S = 24 * 3600
_STAMP = "%Y%m%dT%H%M%S%fZ"

ModelInspector = Callable[[Path], tuple[str, str | None]]
"""``inspect(path) -> (kind, version)`` of a model file, e.g. ``("sovits", "v2Pro")``; ``("unknown", None)``
when the file cannot be read."""

ReferenceSpec = Path | str | tuple[Path | str, str, str]


def _identify_file(path: Path) -> tuple[str, str | None]:
    from gpt_sovits.registry.catalog import identify_file

    return identify_file(path)


class VoiceLibrary:
    """The voices under ``root``.

    ``inspect_model`` tells kind and version of a model file; ``create`` uses it to check the two model
    files and to read the version from the SoVITS file when none is given. By default it is
    :func:`gpt_sovits.registry.catalog.identify_file` (reads the weights on the CPU, builds nothing).
    """

    def __init__(self, root: Path | str, *, inspect_model: ModelInspector | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        self._inspect = inspect_model
        self._lock = threading.RLock()
        self._depth = 0
        self._lock_fh: Any = None

    # ----------------------------------------------------------------- locking and reading
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self.root.mkdir(parents=True, exist_ok=True)
                self._lock_fh = open(self.root / LOCK_FILE, "a+b")  # noqa: SIM115 - held across the block
                with contextlib.suppress(ImportError, OSError):
                    import fcntl  # POSIX only; on Windows the thread lock is all there is

                    fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._lock_fh.close()  # closing releases the flock
                    self._lock_fh = None

    def _inside_root(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root)

    def _read(self, folder: Path) -> tuple[dict[str, Any], Voice]:
        """voice.json of ``folder`` as (record, Voice); raises :class:`VoiceCorrupt`."""
        if not self._inside_root(folder):
            raise VoiceCorrupt(f"{folder} points outside the library {self.root}.")
        path = folder / VOICE_FILE
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise VoiceCorrupt(f"{folder} has no {VOICE_FILE}.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise VoiceCorrupt(f"{path} is unreadable ({exc}).") from None
        try:
            voice = parse_record(folder, record)
        except VoiceCorrupt as exc:
            raise VoiceCorrupt(f"{path}: {exc}") from None
        real = folder.resolve()
        for file in voice.files().values():
            if file.is_symlink() and not file.resolve().is_relative_to(real):
                raise VoiceCorrupt(f"{file} is a link to a file outside the voice folder; refusing it.")
        return record, voice

    def _folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if not p.name.startswith(".") and p.is_dir())

    def list(self) -> list[Voice]:
        """All readable voices, sorted by name; a broken folder is logged and skipped."""
        voices = []
        for folder in self._folders():
            try:
                voices.append(self._read(folder)[1])
            except VoiceCorrupt as exc:
                log.warning("Skipping voice folder %s: %s", folder.name, exc)
        return sorted(voices, key=lambda v: (name_key(v.name), v.folder.name))

    def _find(self, name: str) -> tuple[dict[str, Any], Voice]:
        key = name_key(name) if isinstance(name, str) else ""
        voices = self.list()
        match = [v for v in voices if name_key(v.name) == key] or [
            v for v in voices if name_key(v.folder.name) == key
        ]
        if not match:
            names = [v.name for v in voices]
            listing = ", ".join(repr(n) for n in names) if names else "none yet"
            raise VoiceNotFound(
                f"No voice named {name!r} in {self.root}. Voices: {listing}. "
                "Create one with 'python -m gpt_sovits voices create'.",
                names,
            )
        return self._read(match[0].folder)

    def get(self, name: str) -> Voice:
        """The voice with this display name (compared case-insensitively after NFC), or by folder name."""
        return self._find(name)[1]

    # ----------------------------------------------------------------- helpers for mutations
    def _check_name(self, name: Any) -> str:
        if not isinstance(name, str) or not normalize_name(name):
            raise VoiceError("A voice name cannot be empty; give it a name such as 'Alice (calm)'.")
        display = normalize_name(name)
        if len(display) > MAX_NAME_CHARS:
            raise VoiceError(f"A voice name can have at most {MAX_NAME_CHARS} characters.")
        if any(ch in display for ch in "\n\r\t\x00"):
            raise VoiceError("A voice name must be one line of text without tabs or control characters.")
        return display

    def _check_free(self, display: str, exclude: Path | None = None) -> None:
        key = name_key(display)
        for voice in self.list():
            if name_key(voice.name) == key and voice.folder != exclude:
                raise VoiceExists(
                    f"A voice named {voice.name!r} already exists (folder {voice.folder.name}). Choose another "
                    "name, or rename or delete the existing voice first."
                )

    def _taken_folders(self, exclude: Path | None = None) -> list[str]:
        if not self.root.is_dir():
            return []
        return [p.name for p in self.root.iterdir() if p != exclude]

    def _commit(self, stage: Path, display: str) -> Voice:
        """Rename a finished staging folder into place under a fresh folder name derived from ``display``."""
        target = self.root / unique_folder_name(display, self._taken_folders())
        os.rename(stage, target)
        fsync_dir(self.root)
        log.info("Voice %r saved in %s", display, target)
        return self._read(target)[1]

    def _clean_stale_staging(self) -> None:
        """Remove staging folders left behind by a crash (only old ones: another process may be busy)."""
        cutoff = time.time() - STALE_STAGING_S
        for p in self.root.glob(f"{TEMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                if p.is_dir() and p.stat().st_mtime < cutoff:
                    shutil.rmtree(p)

    def _model_version(self, gpt: Path, sovits: Path, version: str | None) -> str:
        if version is not None:
            if version not in MODEL_VERSIONS:
                raise VoiceError(
                    f"Model version {version!r} is unknown; use one of {', '.join(MODEL_VERSIONS)}."
                )
            return version
        inspect = self._inspect or _identify_file
        versions = {}
        for path, kind in ((gpt, "gpt"), (sovits, "sovits")):
            found, versions[kind] = inspect(path)
            if found == "unknown" or versions[kind] is None:
                raise VoiceError(
                    f"{path} could not be read as a GPT-SoVITS model file (see the warning above). Check that "
                    "it is the right file and not damaged."
                )
            if found != kind:
                want = "a GPT model (.ckpt)" if kind == "gpt" else "a SoVITS model (.pth)"
                raise VoiceError(f"{path} is a {found} file, not {want}. Check which file goes where.")
        if (versions["gpt"] == "v1") != (versions["sovits"] == "v1"):
            raise VoiceError(
                f"{gpt} is a {versions['gpt']} GPT but {sovits} is a {versions['sovits']} SoVITS model; "
                "they use different phone sets. Pick a matching pair (both v1, or both v2 or later)."
            )
        # The SoVITS file decides: v2Pro/v2ProPlus GPTs are plain v2 GPTs.
        return versions["sovits"]

    def _new_record(self, display: str, version: str, **fields: Any) -> dict[str, Any]:
        stamp = iso(now_utc())
        return {
            "format": "gpt_sovits.voice",
            "format_version": 1,
            "name": display,
            "version": version,
            **fields,
            "created": stamp,
            "updated": stamp,
            "app_version": __version__,
        }

    # ----------------------------------------------------------------- create / update
    def create(
        self,
        name: str,
        *,
        gpt: Path | str,
        sovits: Path | str,
        references: Sequence[ReferenceSpec],
        ref_text: str | None = None,
        language: str = "auto",
        defaults: Mapping[str, Any] | None = None,
        dictionary: Path | str | Sequence[str] | None = None,
        consent: str,
        version: str | None = None,
    ) -> Voice:
        """Copy model files, references and dictionary into a new voice folder; never overwrites.

        ``references``: paths (the first one is the prompt; it gets ``ref_text`` and ``language``, later
        plain paths get no text) or ``(path, text, lang)`` triples. ``dictionary``: a JSONL file (path) or
        its lines. ``consent``: whose voice this is and that they agreed to its use (required).
        """
        display = self._check_name(name)
        if not isinstance(consent, str) or not consent.strip():
            raise VoiceError(
                "Say whose voice this is and that they agreed to its cloning (consent text is required)."
            )
        check_language(language, "Language")
        defaults = check_defaults(defaults)
        refs = reference_triples(references, ref_text, language)
        gpt, sovits = Path(gpt).expanduser(), Path(sovits).expanduser()
        for path, what in ((gpt, "GPT model"), (sovits, "SoVITS model")):
            if not path.is_file():
                raise VoiceError(f"{what} file {path} does not exist. Check the path.")
        for path, _, _ in refs:
            if problem := audio_problem(path):
                raise VoiceError(f"Reference {problem}")
        version = self._model_version(gpt, sovits, version)
        dict_lines = check_dictionary(dictionary, version)
        with self._locked():
            self._check_free(display)
            self._clean_stale_staging()
            with staging_folder(self.root, "create") as stage:
                used: set[str] = set()
                hashes: dict[str, str] = {}

                def place(src: Path, fallback: str) -> str:
                    member = member_name(src.name, fallback, used)
                    hashes[member] = copy_with_hash(src, stage / member)
                    return member

                fields: dict[str, Any] = {"language": language}
                fields["gpt"] = place(gpt, "gpt.ckpt")
                fields["sovits"] = place(sovits, "sovits.pth")
                fields["references"] = [
                    {"file": place(path, f"ref{i + 1}.wav"), "text": text, "lang": lang}
                    for i, (path, text, lang) in enumerate(refs)
                ]
                fields["defaults"] = defaults
                fields["dictionary"] = None
                if dict_lines is not None:
                    atomic_write_text(stage / DICTIONARY_FILE, "\n".join(dict_lines) + "\n")
                    hashes[DICTIONARY_FILE] = sha256_file(stage / DICTIONARY_FILE)
                    fields["dictionary"] = DICTIONARY_FILE
                fields["consent"] = consent.strip()
                record = self._new_record(display, version, **fields)
                record["sha256"] = hashes
                parse_record(stage, record)  # never write a voice.json that would not load
                atomic_write_json(stage / VOICE_FILE, record)
                return self._commit(stage, display)

    def update(
        self,
        name: str,
        *,
        defaults: Mapping[str, Any] | None = None,
        ref_text: str | None = None,
        language: str | None = None,
        dictionary_lines: Sequence[str] | None = None,
        add_dictionary_entry: Mapping[str, Any] | str | None = None,
        consent: str | None = None,
    ) -> Voice:
        """Change settings of a voice. ``defaults`` replaces all default options; ``dictionary_lines``
        replaces the dictionary (no entries = no dictionary); ``add_dictionary_entry`` appends one entry
        (a JSON object such as ``{"银行": "yin2 hang2"}`` or its JSON text)."""
        with self._locked():
            record, voice = self._find(name)
            if defaults is not None:
                record["defaults"] = check_defaults(defaults)
            if ref_text is not None:
                record["references"][0]["text"] = ref_text.strip()
            if language is not None:
                record["language"] = check_language(language, "Language")
            if consent is not None:
                if not consent.strip():
                    raise VoiceError("The consent note cannot be made empty.")
                record["consent"] = consent.strip()
            lines = None if dictionary_lines is None else [str(line) for line in dictionary_lines]
            if add_dictionary_entry is not None:
                if lines is None:
                    lines = (
                        voice.dictionary_path.read_text(encoding="utf-8-sig").splitlines()
                        if voice.dictionary_path
                        else []
                    )
                entry = add_dictionary_entry
                lines.append(entry if isinstance(entry, str) else json.dumps(entry, ensure_ascii=False))
            stale_dictionary = None
            if lines is not None:
                checked = check_dictionary(lines, voice.version)
                if checked is None:
                    stale_dictionary = voice.dictionary_path
                    record["dictionary"] = None
                    record["sha256"].pop(DICTIONARY_FILE, None)
                else:
                    # Written before voice.json: a crash in between leaves a hash mismatch that verify reports.
                    atomic_write_text(voice.folder / DICTIONARY_FILE, "\n".join(checked) + "\n")
                    record["dictionary"] = DICTIONARY_FILE
                    record["sha256"][DICTIONARY_FILE] = sha256_file(voice.folder / DICTIONARY_FILE)
            record["updated"] = iso(now_utc())
            parse_record(voice.folder, record)
            atomic_write_json(voice.folder / VOICE_FILE, record)
            if stale_dictionary is not None:
                stale_dictionary.unlink(missing_ok=True)
            return self._read(voice.folder)[1]

    # ----------------------------------------------------------------- rename / duplicate
    def rename(self, old: str, new: str) -> Voice:
        """Give a voice a new display name (its folder follows when it can)."""
        with self._locked():
            record, voice = self._find(old)
            display = self._check_name(new)
            self._check_free(display, exclude=voice.folder)
            record["name"] = display
            record["updated"] = iso(now_utc())
            atomic_write_json(voice.folder / VOICE_FILE, record)
            target = self.root / unique_folder_name(display, self._taken_folders(exclude=voice.folder))
            if target.name == voice.folder.name:
                return self._read(voice.folder)[1]
            try:
                os.rename(voice.folder, target)
            except OSError as exc:  # e.g. a file inside is open on Windows; the new name is saved anyway
                log.warning("Voice renamed, but its folder %s keeps its old name (%s).", voice.folder, exc)
                return self._read(voice.folder)[1]
            fsync_dir(self.root)
            return self._read(target)[1]

    def duplicate(self, name: str, new_name: str) -> Voice:
        """Copy a voice (files verified against their hashes on the way) under a new name."""
        with self._locked():
            record, voice = self._find(name)
            display = self._check_name(new_name)
            self._check_free(display)
            with staging_folder(self.root, "duplicate") as stage:
                for member, expected in voice.sha256.items():
                    src = voice.folder / member
                    if not src.is_file() or copy_with_hash(src, stage / member) != expected:
                        raise VoiceCorrupt(
                            f"{src} is missing or changed since it was saved; run 'voices verify "
                            f"{voice.name}' and repair the voice before duplicating it."
                        )
                for cache in FEATURE_FILES:
                    if (voice.folder / cache).is_file():
                        copy_with_hash(voice.folder / cache, stage / cache)
                stamp = iso(now_utc())
                record.update(name=display, created=stamp, updated=stamp, app_version=__version__)
                atomic_write_json(stage / VOICE_FILE, record)
                return self._commit(stage, display)

    # ----------------------------------------------------------------- trash
    def delete(self, name: str) -> TrashEntry:
        """Move a voice to ``.trash/`` (restore it with :meth:`restore`)."""
        with self._locked():
            _, voice = self._find(name)
            trash = self.root / TRASH_DIR
            trash.mkdir(exist_ok=True)
            moment = datetime.now(UTC)
            trash_id = f"{moment.strftime(_STAMP)}_{voice.folder.name}"
            os.rename(voice.folder, trash / trash_id)
            fsync_dir(self.root)
            log.info("Voice %r moved to the trash as %s", voice.name, trash_id)
            return TrashEntry(trash_id, voice.name, trash / trash_id, moment, voice.folder.name)

    def trash(self) -> list[TrashEntry]:
        """Deleted voices, newest first."""
        folder = self.root / TRASH_DIR
        entries = []
        for p in folder.iterdir() if folder.is_dir() else ():
            stamp, sep, original = p.name.partition("_")
            try:
                moment = datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
            except ValueError:
                continue
            if not sep or not p.is_dir():
                continue
            try:
                display = self._read(p)[1].name
            except VoiceCorrupt:
                display = original
            entries.append(TrashEntry(p.name, display, p, moment, original))
        return sorted(entries, key=lambda e: e.deleted, reverse=True)

    def restore(self, name_or_trash_id: str, new_name: str | None = None) -> Voice:
        """Bring a deleted voice back (by trash id, or by name: the most recently deleted one)."""
        with self._locked():
            entries = self.trash()
            key = name_key(name_or_trash_id)
            match = [e for e in entries if e.id == name_or_trash_id] or [
                e for e in entries if name_key(e.name) == key
            ]
            if not match:
                ids = [e.id for e in entries]
                raise VoiceNotFound(
                    f"Nothing named {name_or_trash_id!r} in the trash. "
                    f"Deleted voices: {', '.join(ids) if ids else 'none'} ('voices trash' lists them).",
                    ids,
                )
            entry = match[0]
            record, voice = self._read(entry.folder)
            display = self._check_name(new_name) if new_name is not None else voice.name
            try:
                self._check_free(display)
            except VoiceExists:
                raise VoiceExists(
                    f"A voice named {display!r} already exists, so the deleted one cannot come back under that "
                    f"name. Restore it under another: voices restore {entry.id} --name NEW_NAME."
                ) from None
            if display != voice.name:
                record["name"] = display
                record["updated"] = iso(now_utc())
                atomic_write_json(entry.folder / VOICE_FILE, record)
            return self._commit(entry.folder, display)

    # ----------------------------------------------------------------- archives and checks
    def export(self, name: str, zip_path: Path | str) -> Path:
        """Write a verified voice to a new .zip (never overwrites); the feature cache goes along."""
        with self._locked():
            voice = self.get(name)
            problems = self.verify(voice.name)
            if problems:
                raise VoiceCorrupt(f"Voice {voice.name!r} is damaged, not exported: " + "; ".join(problems))
            return archive.write_zip(voice, Path(zip_path))

    def import_zip(self, zip_path: Path | str, name: str | None = None) -> Voice:
        """Add the voice in a .zip made by :meth:`export` (checked and hash-verified), optionally renamed."""
        with self._locked():
            self.root.mkdir(parents=True, exist_ok=True)
            self._clean_stale_staging()
            with staging_folder(self.root, "import") as stage:
                record = archive.extract_voice(Path(zip_path).expanduser(), stage)
                display = self._check_name(name if name is not None else record["name"])
                try:
                    self._check_free(display)
                except VoiceExists as exc:
                    raise VoiceExists(f"{exc} Import it under another name with --name NEW_NAME.") from None
                if display != record["name"]:
                    record["name"] = display
                    record["updated"] = iso(now_utc())
                atomic_write_json(stage / VOICE_FILE, record)
                return self._commit(stage, display)

    def verify(self, name: str) -> list[str]:
        """Problems with a voice (missing or changed files, unreadable audio, dictionary issues); [] = fine."""
        try:
            _, voice = self._find(name)
        except VoiceNotFound:
            folder = self.root / name
            if folder.is_dir() and not name.startswith(".") and self._inside_root(folder):
                try:
                    _, voice = self._read(folder)
                except VoiceCorrupt as exc:
                    return [str(exc)]
            else:
                raise
        problems = []
        for member, expected in voice.sha256.items():
            path = voice.folder / member
            if not path.is_file():
                problems.append(f"{member}: missing")
            elif sha256_file(path) != expected:
                problems.append(f"{member}: content changed since it was saved (SHA-256 mismatch)")
        for ref in voice.references:
            if ref.path.is_file() and (problem := audio_problem(ref.path)):
                problems.append(problem)
        if voice.dictionary_path is not None and voice.dictionary_path.is_file():
            problems += dictionary_problems(voice.dictionary_path, voice.version)
        return problems

    # ----------------------------------------------------------------- feature cache
    def save_features(self, name: str, key: str, tensors: dict[str, torch.Tensor]) -> None:
        """Cache reference features for a voice under ``key`` (see :mod:`gpt_sovits.voices.features`)."""
        with self._locked():
            features.save_features(self.get(name).folder, key, tensors)

    def load_features(self, name: str, key: str) -> dict[str, torch.Tensor] | None:
        """The cached features stored under exactly ``key``; None when absent, stale or damaged."""
        return features.load_features(self.get(name).folder, key)
