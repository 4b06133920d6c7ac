"""``python -m gpt_sovits``: one command line with subcommands (synth, voices, models, batch, serve).

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args, settings) -> int``;
this module only dispatches. Errors this package raises on purpose are printed as one readable line
(exit status 2); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from gpt_sovits.errors import GPTSoVITSError

# name -> (module, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("gpt_sovits.cli.synth_cmd", "synthesize speech from text"),
    "voices": ("gpt_sovits.cli.voices_cmd", "manage the voice library (user_voices/)"),
    "models": ("gpt_sovits.cli.models_cmd", "list, download, import and inspect model files"),
    "batch": ("gpt_sovits.cli.batch_cmd", "run many synthesis jobs from a JSON Lines file"),
    "serve": ("gpt_sovits.cli.serve_cmd", "start the HTTP API"),
}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (imports each subcommand module, which does no work at import)."""
    parser = argparse.ArgumentParser(prog="python -m gpt_sovits", description="GPT-SoVITS Studio")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(module)
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the subcommand and return its exit status."""
    from gpt_sovits.settings import load_settings

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args._module.run(args, load_settings()) or 0)
    except GPTSoVITSError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
