"""``python -m tools.lists check|edit|merge|split|delete|restore LIST ...``: inspect and edit dataset lists.

Rows are numbered from 1 in file order, as ``check`` prints them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError
from tools.lists.check import FLAGS, CheckConfig, check_list
from tools.lists.edit import delete_rows, merge_rows, restore_rows, split_row, trash_entries
from tools.lists.listfile import DatasetList


def _rows(numbers: list[int]) -> list[int]:
    if any(n < 1 for n in numbers):
        raise GPTSoVITSError(f"Row numbers start at 1 (as `check` prints them), got {numbers}.")
    return [n - 1 for n in numbers]


def cmd_check(dl: DatasetList, args: argparse.Namespace) -> int:
    """Print the per-row report; exit status 2 with --strict when any row is flagged."""
    cfg = CheckConfig(min_s=args.min_s, max_s=args.max_s, vad=not args.no_vad)
    report = check_list(dl, cfg, manifest=args.manifest or "auto")
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False, indent=1) + "\n")
    else:
        out = []
        for r in report.rows:
            dur = f"{r.duration_s:6.2f}s" if r.duration_s is not None else "     - "
            out.append(f"{r.index + 1:5d} {dur} {','.join(r.flags) or 'ok'}  {r.wav_path}")
        for line, problem in report.problems:
            out.append(f"line {line}: {problem}")
        for name, idx in report.duplicates.items():
            out.append(f"duplicate name {name}: rows {', '.join(str(i + 1) for i in idx)}")
        counts = {f: sum(f in r.flags for r in report.rows) for f in FLAGS}
        out.append(
            f"{len(report.rows)} rows, {report.total_duration_s / 60:.1f} min, {len(report.flagged)} flagged"
            + "".join(f"; {f}: {n}" for f, n in counts.items() if n)
        )
        sys.stdout.write("\n".join(out) + "\n")
    return 2 if args.strict and (report.flagged or report.problems) else 0


def cmd_edit(dl: DatasetList, args: argparse.Namespace) -> int:
    """Change text, language or speaker of one row."""
    (i,) = _rows([args.row])
    row = dl.edit(i, text=args.text, lang=args.lang, speaker=args.speaker)
    dl.save()
    sys.stdout.write(row.line + "\n")
    return 0


def cmd_merge(dl: DatasetList, args: argparse.Namespace) -> int:
    """Merge adjacent rows into one clip."""
    row = merge_rows(dl, _rows(args.rows), gap_s=args.gap, joiner=args.joiner)
    sys.stdout.write(row.line + "\n")
    return 0


def cmd_split(dl: DatasetList, args: argparse.Namespace) -> int:
    """Split one row's clip at a time point."""
    (i,) = _rows([args.row])
    first, second = split_row(dl, i, args.at, (args.text1, args.text2))
    sys.stdout.write(first.line + "\n" + second.line + "\n")
    return 0


def cmd_delete(dl: DatasetList, args: argparse.Namespace) -> int:
    """Move rows' clips to trash/."""
    for e in delete_rows(dl, _rows(args.rows)):
        sys.stdout.write(f"trashed {e.id}: {e.line}\n")
    return 0


def cmd_restore(dl: DatasetList, args: argparse.Namespace) -> int:
    """List or restore trashed clips."""
    if args.show:
        for e in trash_entries(dl):
            sys.stdout.write(f"{e.id} ({e.reason}, row {e.row_index + 1}): {e.line}\n")
        return 0
    if not args.ids and not args.all:
        raise GPTSoVITSError("Name the trash ids to restore (see --show) or pass --all.")
    for row in restore_rows(dl, None if args.all else args.ids):
        sys.stdout.write(f"restored: {row.line}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the CLI."""
    p = argparse.ArgumentParser(prog="python -m tools.lists", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("list", type=Path, help="the .list file")
        sp.add_argument("--audio-dir", type=Path, default=None, help="find every clip by name in this folder")
        sp.set_defaults(func=func)
        return sp

    sp = add("check", cmd_check, "report durations and problems of every row")
    sp.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="ASR manifest for low_asr_confidence (default: LIST's .asr.jsonl sibling if present)",
    )
    sp.add_argument("--min-s", type=float, default=3.0)
    sp.add_argument("--max-s", type=float, default=10.0)
    sp.add_argument("--no-vad", action="store_true", help="skip the silero-vad no-speech check")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.add_argument("--strict", action="store_true", help="exit with status 2 if any row is flagged")
    sp = add("edit", cmd_edit, "change text, language or speaker of a row")
    sp.add_argument("row", type=int)
    sp.add_argument("--text")
    sp.add_argument("--lang")
    sp.add_argument("--speaker")
    sp = add("merge", cmd_merge, "merge adjacent rows (audio concatenated into a new file)")
    sp.add_argument("rows", type=int, nargs="+")
    sp.add_argument("--gap", type=float, default=0.0, help="seconds of silence between clips")
    sp.add_argument("--joiner", default=None, help="text between joined texts (default: auto)")
    sp = add("split", cmd_split, "split a row's clip at a time point into two new clips")
    sp.add_argument("row", type=int)
    sp.add_argument("--at", type=float, required=True, help="cut point in seconds")
    sp.add_argument("--text1", required=True)
    sp.add_argument("--text2", required=True)
    sp = add("delete", cmd_delete, "remove rows; their clips move to trash/ next to the list")
    sp.add_argument("rows", type=int, nargs="+")
    sp = add("restore", cmd_restore, "put trashed clips and rows back")
    sp.add_argument("ids", nargs="*")
    sp.add_argument("--all", action="store_true")
    sp.add_argument("--show", action="store_true", help="show this list's trash (ids to restore)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 done, 1 error, 2 flagged rows with check --strict)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        dl = DatasetList.read(args.list, audio_dir=args.audio_dir)
        return args.func(dl, args)
    except (GPTSoVITSError, IndexError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
