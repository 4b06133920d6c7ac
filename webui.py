"""Launch the WebUI: ``python webui.py [--host 127.0.0.1] [--port 9874] [--share] [--language auto]``."""

from __future__ import annotations

import argparse
import logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="GPT-SoVITS Studio WebUI")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)"
    )
    parser.add_argument("--port", type=int, default=9874, help="port (default: 9874)")
    parser.add_argument("--share", action="store_true", help="create a public Gradio share link")
    parser.add_argument(
        "--language",
        default="auto",
        choices=["auto", "en_US", "zh_CN", "ja_JP"],
        help="UI language (default: auto: GPT_SOVITS_LANGUAGE if set, else the browser's language)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from gpt_sovits.settings import load_settings
    from gpt_sovits.ui.context import AppContext
    from gpt_sovits.ui.server import serve

    settings = load_settings()
    chosen = args.language if args.language != "auto" else settings.language
    ctx = AppContext.create(settings)
    print(f"GPT-SoVITS Studio: http://{args.host}:{args.port}/", flush=True)  # noqa: T201 - the URL to open
    serve(ctx, args.host, args.port, args.share, None if chosen == "auto" else chosen)


if __name__ == "__main__":
    main()
