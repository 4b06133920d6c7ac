"""``python -m gpt_sovits voices ...``: manage the voice library (``settings.voices_dir``).

Actions: list, show, create, update, rename, duplicate, delete, trash, restore, export, import, verify.
Deleting moves a voice to the library's trash, so every action except restore-under-a-clash is undoable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.settings import Settings
from gpt_sovits.text.langseg import LANG_MODES
from gpt_sovits.voices import MODEL_VERSIONS, Voice, VoiceLibrary
from gpt_sovits.voices.model import iso


class UsageError(GPTSoVITSError):
    """A command-line value that cannot be used (reported as one line, exit status 2)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the voice library actions."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = sub.add_parser("list", help="all voices")
    p.add_argument("--json", action="store_true", help="print a JSON list")

    p = sub.add_parser("show", help="everything about one voice")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("create", help="make a voice from model files and reference recordings")
    p.add_argument("name", help="display name (any text)")
    p.add_argument("--gpt", required=True, type=Path, help="GPT model file (.ckpt)")
    p.add_argument("--sovits", required=True, type=Path, help="SoVITS model file (.pth)")
    p.add_argument(
        "--ref", required=True, action="append", type=Path, help="reference audio; repeat for more"
    )
    p.add_argument(
        "--ref-text", default=None, help="transcript of the first reference (omit: reference-free)"
    )
    p.add_argument("--language", default="auto", choices=LANG_MODES, help="text language mode (default auto)")
    p.add_argument(
        "--dict", dest="dictionary", type=Path, help="pronunciation dictionary (JSONL) for this voice"
    )
    p.add_argument("--consent", default=None, help="whose voice this is and that they agreed (required)")
    p.add_argument("--model-version", choices=MODEL_VERSIONS, help="skip reading it from the SoVITS file")
    p.add_argument(
        "--default", action="append", default=[], metavar="KEY=VALUE", help="default option, e.g. top_k=10"
    )

    p = sub.add_parser("update", help="change a voice's settings")
    p.add_argument("name")
    p.add_argument("--ref-text", default=None, help="new transcript of the first reference")
    p.add_argument("--language", choices=LANG_MODES, help="new text language mode")
    p.add_argument("--dict", dest="dictionary", type=Path, help="replace the dictionary with this JSONL file")
    p.add_argument("--add-entry", help='append a dictionary entry, e.g. \'{"银行": "yin2 hang2"}\'')
    p.add_argument("--default", action="append", default=[], metavar="KEY=VALUE", help="set a default option")
    p.add_argument("--unset", action="append", default=[], metavar="KEY", help="remove a default option")
    p.add_argument("--consent", default=None, help="replace the consent note")

    p = sub.add_parser("rename", help="give a voice a new name")
    p.add_argument("old")
    p.add_argument("new")

    p = sub.add_parser("duplicate", help="copy a voice under a new name")
    p.add_argument("name")
    p.add_argument("new")

    p = sub.add_parser("delete", help="move a voice to the trash (restorable)")
    p.add_argument("name")

    sub.add_parser("trash", help="deleted voices that can be restored")

    p = sub.add_parser("restore", help="bring a deleted voice back")
    p.add_argument("name_or_id", metavar="NAME_OR_ID")
    p.add_argument("--name", default=None, help="restore under this name")

    p = sub.add_parser("export", help="write a voice to a .zip")
    p.add_argument("name")
    p.add_argument("out", type=Path, metavar="OUT.zip")

    p = sub.add_parser("import", help="add a voice from a .zip made by export")
    p.add_argument("zip", type=Path)
    p.add_argument("--name", default=None, help="import under this name")

    p = sub.add_parser("verify", help="check a voice's files against their recorded hashes")
    p.add_argument("name")


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")


def parse_defaults(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; VALUE is read as JSON (10, 1.1, true, null, "text") and else kept as text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--default {pair!r}: write KEY=VALUE, for example --default top_k=10.")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _describe(voice: Voice) -> str:
    lines = [
        f"{voice.name}",
        f"  folder:     {voice.folder}",
        f"  model:      {voice.version}  GPT {voice.gpt_path.name}  SoVITS {voice.sovits_path.name}",
        f"  language:   {voice.language}",
    ]
    for i, ref in enumerate(voice.references):
        label = "prompt" if i == 0 else f"extra {i}"
        text = ref.text if ref.text else "(no text: reference-free)"
        lines.append(f"  reference:  [{label}] {ref.path.name} ({ref.lang}) {text}")
    if voice.defaults:
        lines.append("  defaults:   " + ", ".join(f"{k}={v!r}" for k, v in voice.defaults.items()))
    lines.append(f"  dictionary: {voice.dictionary_path.name if voice.dictionary_path else '-'}")
    lines.append(f"  consent:    {voice.consent}")
    lines.append(
        f"  created:    {iso(voice.created)}  updated: {iso(voice.updated)}  app {voice.app_version}"
    )
    return "\n".join(lines)


def _list(lib: VoiceLibrary, args: argparse.Namespace) -> int:
    voices = lib.list()
    if args.json:
        _write(json.dumps([v.to_dict() for v in voices], ensure_ascii=False, indent=2))
    elif not voices:
        _write(f"No voices in {lib.root} yet. Create one with: python -m gpt_sovits voices create NAME ...")
    else:
        for v in voices:
            _write(f"{v.name}\t{v.version}\t{v.language}\t{v.folder.name}")
    return 0


def _show(lib: VoiceLibrary, args: argparse.Namespace) -> int:
    voice = lib.get(args.name)
    _write(json.dumps(voice.to_dict(), ensure_ascii=False, indent=2) if args.json else _describe(voice))
    return 0


def _create(lib: VoiceLibrary, args: argparse.Namespace) -> int:
    if not args.consent or not args.consent.strip():
        raise UsageError(
            "--consent is required: say whose voice this is and that they agreed, e.g. "
            '--consent "My own voice" or --consent "Recorded by Ana, who agreed to its cloning".'
        )
    voice = lib.create(
        args.name,
        gpt=args.gpt,
        sovits=args.sovits,
        references=args.ref,
        ref_text=args.ref_text,
        language=args.language,
        defaults=parse_defaults(args.default),
        dictionary=args.dictionary,
        consent=args.consent,
        version=args.model_version,
    )
    _write(f"Created voice {voice.name!r} ({voice.version}) in {voice.folder}")
    return 0


def _update(lib: VoiceLibrary, args: argparse.Namespace) -> int:
    defaults = None
    if args.default or args.unset:
        defaults = dict(lib.get(args.name).defaults) | parse_defaults(args.default)
        for key in args.unset:
            defaults.pop(key, None)
    lines = None
    if args.dictionary is not None:
        try:
            lines = args.dictionary.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"Cannot read the dictionary {args.dictionary} ({exc}).") from None
    voice = lib.update(
        args.name,
        defaults=defaults,
        ref_text=args.ref_text,
        language=args.language,
        dictionary_lines=lines,
        add_dictionary_entry=args.add_entry,
        consent=args.consent,
    )
    _write(f"Updated voice {voice.name!r}")
    return 0


def _delete(lib: VoiceLibrary, args: argparse.Namespace) -> int:
    entry = lib.delete(args.name)
    _write(
        f"Moved {entry.name!r} to the trash as {entry.id}. Undo with: python -m gpt_sovits voices restore {entry.id}"
    )
    return 0


def _trash(lib: VoiceLibrary, args: argparse.Namespace) -> int:
    entries = lib.trash()
    if not entries:
        _write("The trash is empty.")
    for e in entries:
        _write(f"{e.id}\t{e.name}\tdeleted {iso(e.deleted)}")
    return 0


def _verify(lib: VoiceLibrary, args: argparse.Namespace) -> int:
    problems = lib.verify(args.name)
    for p in problems:
        _write(f"problem: {p}")
    if not problems:
        _write(f"{args.name}: all files present and unchanged.")
    return 1 if problems else 0


def _simple(lib: VoiceLibrary, args: argparse.Namespace) -> int:
    if args.action == "rename":
        voice = lib.rename(args.old, args.new)
        _write(f"Renamed to {voice.name!r} ({voice.folder.name})")
    elif args.action == "duplicate":
        voice = lib.duplicate(args.name, args.new)
        _write(f"Copied to {voice.name!r} ({voice.folder.name})")
    elif args.action == "restore":
        voice = lib.restore(args.name_or_id, new_name=args.name)
        _write(f"Restored {voice.name!r} ({voice.folder.name})")
    elif args.action == "export":
        _write(f"Exported to {lib.export(args.name, args.out)}")
    elif args.action == "import":
        voice = lib.import_zip(args.zip, name=args.name)
        _write(f"Imported {voice.name!r} into {voice.folder}")
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the chosen action on the library at ``settings.voices_dir``; returns the exit status."""
    lib = VoiceLibrary(settings.voices_dir)
    handlers = {
        "list": _list,
        "show": _show,
        "create": _create,
        "update": _update,
        "delete": _delete,
        "trash": _trash,
        "verify": _verify,
    }
    return handlers.get(args.action, _simple)(lib, args)
