"""``python -m tools.asr INPUT --out OUT.list [--engine faster-whisper|funasr] [--model PATH_OR_NAME]
[--language en] [--speaker NAME]``: label clips with speech recognition."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError
from tools.asr.engines import make_engine
from tools.asr.transcribe import transcribe_clips

logger = logging.getLogger("tools.asr")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the CLI."""
    p = argparse.ArgumentParser(
        prog="python -m tools.asr",
        description="Transcribe a folder of clips (or a slicer manifest / .list) into a GPT-SoVITS .list "
        "file and a JSONL manifest. Re-running skips clips already in the manifest.",
    )
    p.add_argument("input", type=Path, help="folder of clips, slicer manifest (.jsonl) or .list file")
    p.add_argument("--out", type=Path, required=True, help="the .list file to write")
    p.add_argument("--engine", choices=("faster-whisper", "funasr"), default="faster-whisper")
    p.add_argument(
        "--model",
        help="faster-whisper: a CTranslate2 Whisper folder or a model name (default: the bundled tiny.en); "
        "funasr: the folder holding its three model folders (default: <pretrained>/funasr)",
    )
    p.add_argument("--language", default=None, help="language code (en, zh, ja...; default: detect)")
    p.add_argument("--speaker", default=None, help="speaker name for every row (default: input folder name)")
    p.add_argument("--manifest", type=Path, default=None, help="manifest path (default: OUT.asr.jsonl)")
    p.add_argument("--relative", action="store_true", help="write clip paths relative to the list's folder")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for faster-whisper (0: default)")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--compute-type", default="auto", help="faster-whisper precision: auto, int8, float16...")
    p.add_argument("--download", action="store_true", help="allow downloading a named Whisper model")
    p.add_argument("-v", "--verbose", action="store_true", help="log every clip")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 done, 1 error)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        if args.engine == "funasr":
            from gpt_sovits.settings import load_settings

            model = args.model or str(load_settings().pretrained_dir / "funasr")
            engine = make_engine("funasr", model, language=args.language, device=args.device)
        else:
            engine = make_engine(
                "faster-whisper",
                args.model,
                language=args.language,
                device=args.device,
                cpu_threads=args.threads,
                beam_size=args.beam_size,
                compute_type=args.compute_type,
                download=args.download,
            )

        def progress(done: int, total: int, clip: Path) -> None:
            logger.info("[%d/%d] %s", done, total, clip.name)

        result = transcribe_clips(
            args.input,
            args.out,
            engine=engine,
            speaker=args.speaker,
            manifest=args.manifest,
            relative_paths=args.relative,
            progress=progress,
        )
    except GPTSoVITSError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(
        f"{len(result.transcribed)} transcribed, {len(result.skipped)} already done, "
        f"{len(result.failed)} failed, {len(result.empty)} without speech\n"
        f"list: {result.list_path}\nmanifest: {result.manifest_path}\n"
    )
    for clip, why in result.failed:
        sys.stdout.write(f"failed: {clip}: {why}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
