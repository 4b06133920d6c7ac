"""``python -m tools.asr INPUT --out OUT.list [--engine faster-whisper|funasr] [--model PATH_OR_NAME]
[--language en] [--speaker NAME] [--progress json]``: label clips with speech recognition.

With ``--progress json`` the job protocol of :mod:`gpt_sovits.jobs` is printed on stdout, one JSON object
per line: ``start`` (kind "asr"), ``progress`` (step = clips done, steps = clips), then ``done``
(transcribed, skipped, failed, empty, list) or ``error`` (message, exit status 1). The human summary
still follows on stdout; a reader of the protocol takes it as log lines.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.jobs.status import write_event
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
    p.add_argument(
        "--progress", choices=("text", "json"), default="text", help="json: job protocol lines on stdout"
    )
    return p


# One job protocol event (see gpt_sovits.jobs) on stdout, flushed at once.
_emit = functools.partial(write_event, kind="asr")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 done, 1 error)."""
    args = build_parser().parse_args(argv)
    as_json = args.progress == "json"
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if as_json:
        _emit("start", input=str(args.input), out=str(args.out))
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
            if as_json:
                _emit("progress", step=done, steps=total, clip=clip.name)

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
        if as_json:
            _emit("error", message=str(exc))
        return 1
    sys.stdout.write(
        f"{len(result.transcribed)} transcribed, {len(result.skipped)} already done, "
        f"{len(result.failed)} failed, {len(result.empty)} without speech\n"
        f"list: {result.list_path}\nmanifest: {result.manifest_path}\n"
    )
    for clip, why in result.failed:
        sys.stdout.write(f"failed: {clip}: {why}\n")
    if as_json:
        _emit(
            "done",
            transcribed=len(result.transcribed),
            skipped=len(result.skipped),
            failed=len(result.failed),
            empty=len(result.empty),
            list=str(result.list_path),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
