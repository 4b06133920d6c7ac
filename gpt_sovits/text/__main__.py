"""``python -m gpt_sovits.text``: print the front end's segments for a text as JSON."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.text.dictionary import Dictionary
from gpt_sovits.text.frontend import FrontEnd, TextOptions
from gpt_sovits.text.langseg import LANG_MODES
from gpt_sovits.text.split import SPLIT_METHODS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gpt_sovits.text",
        description="Normalise text, split it, and convert it to GPT-SoVITS phones. Prints JSON.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="the text to convert")
    src.add_argument("--text-file", type=Path, help="read the text from this UTF-8 file")
    p.add_argument("--lang", default="auto", choices=LANG_MODES, help="language mode (default: auto)")
    p.add_argument(
        "--dict",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a JSONL replacement dictionary; repeat to stack (later wins)",
    )
    p.add_argument("--split", default="cut0", choices=SPLIT_METHODS, help="long-text splitting method")
    p.add_argument("--max-chars", type=int, default=None, help="upper bound on piece length in characters")
    p.add_argument(
        "--version", default="v2", choices=["v1", "v2", "v2Pro", "v2ProPlus"], help="model version"
    )
    p.add_argument("--preview", action="store_true", help="print the per-token preview table instead")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        if args.text_file is not None:
            try:
                text = args.text_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise GPTSoVITSError(f"Cannot read {args.text_file}: {exc}") from None
        else:
            text = args.text
        dicts = [Dictionary.load(p, args.version) for p in args.dict]
        options = TextOptions(args.lang, args.version, args.split, args.max_chars)
        result = FrontEnd().process(text, options, dicts)
    except GPTSoVITSError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if args.preview:
        out = [row.__dict__ for row in result.preview()]
    else:
        out = [seg.to_dict() for seg in result.segments]
    sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
