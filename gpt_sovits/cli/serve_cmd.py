"""``python -m gpt_sovits serve``: run the HTTP API (api_v2 compatible and OpenAI compatible routes).

It listens on 127.0.0.1:9880 by default. Any other address needs an API key (``--api-key`` or
``--api-key-file``); clients then send ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, and file
paths in requests are limited to the studio home, pretrained models and voice library.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gpt_sovits.cli.common import add_engine_arguments
from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.settings import Settings
from gpt_sovits.text.langseg import LANG_MODES


class ServeUsageError(GPTSoVITSError):
    """Arguments that cannot start the server."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``serve``."""
    from gpt_sovits.api.server import DEFAULT_HOST, DEFAULT_PORT

    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--api-key", default=None, help="require this key (needed for a non-loopback --host)")
    keys.add_argument(
        "--api-key-file", type=Path, default=None, help="read the key from the first line of a file"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="cancel requests running longer than this (s, default 300)",
    )
    parser.add_argument(
        "--max-body-mb", type=float, default=1.0, help="largest request body in MiB (default 1)"
    )
    start = parser.add_argument_group("api_v2 start-up state (what /set_* would set)")
    start.add_argument("--gpt", type=Path, default=None, help="GPT weights for /tts (default: pretrained)")
    start.add_argument(
        "--sovits", type=Path, default=None, help="SoVITS weights for /tts (default: pretrained)"
    )
    start.add_argument("--ref", type=Path, default=None, help="reference audio used when /tts names none")
    start.add_argument("--ref-text", default=None, help="what --ref says (omit: reference-free)")
    start.add_argument(
        "--ref-lang", default="auto", choices=LANG_MODES, help="language mode of --ref-text (default auto)"
    )
    add_engine_arguments(parser)


def read_api_key(args: argparse.Namespace) -> str | None:
    """The key from --api-key or --api-key-file (None when neither is given)."""
    if args.api_key_file is not None:
        try:
            lines = args.api_key_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ServeUsageError(f"Cannot read the API key file {args.api_key_file}: {exc}") from None
        key = lines[0].strip() if lines else ""
        if not key:
            raise ServeUsageError(
                f"The API key file {args.api_key_file} is empty; put the key on its first line."
            )
        return key
    if args.api_key is not None and not args.api_key.strip():
        raise ServeUsageError("--api-key is empty; give a key (a long random string).")
    return args.api_key.strip() if args.api_key else None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Start the server; returns when it stops."""
    from gpt_sovits.api.context import V2Defaults
    from gpt_sovits.api.server import ServeConfig, serve

    if args.ref_text and args.ref is None:
        raise ServeUsageError("--ref-text needs --ref (the recording it transcribes).")
    config = ServeConfig(
        host=args.host,
        port=args.port,
        api_key=read_api_key(args),
        device=args.device,
        precision=args.precision,
        max_body_bytes=int(args.max_body_mb * (1 << 20)),
        request_timeout_s=args.timeout,
        v2_defaults=V2Defaults(args.gpt, args.sovits, args.ref, args.ref_text, args.ref_lang),
    )
    serve(settings, config)
    return 0
