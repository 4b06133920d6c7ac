"""``python -m gpt_sovits synth``: text to a wav file with a library voice or model files."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from gpt_sovits.cli.common import add_engine_arguments, add_option_arguments, build_engine, options_from_args
from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.settings import Settings

log = logging.getLogger(__name__)


class UsageError(GPTSoVITSError):
    """Arguments that do not make a request."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("voice (a library voice, or model files and a reference)")
    src.add_argument("--voice", help="name of a voice in the library (see: voices list)")
    src.add_argument("--gpt", type=Path, help="GPT weights (.ckpt)")
    src.add_argument("--sovits", type=Path, help="SoVITS weights (.pth)")
    src.add_argument(
        "--ref", type=Path, action="append", default=[], help="reference audio; repeat to average timbre"
    )
    src.add_argument("--ref-text", default=None, help="what the first reference says (omit: reference-free)")
    src.add_argument("--ref-lang", default="auto", help="language mode of the reference text (default auto)")
    txt = parser.add_mutually_exclusive_group(required=True)
    txt.add_argument("--text", help="the text to speak")
    txt.add_argument("--text-file", type=Path, help="read the text from a UTF-8 file")
    parser.add_argument("--out", type=Path, required=True, help="output .wav or .flac (never overwritten)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument(
        "--stream", action="store_true", help="decode in streaming mode (reports first-chunk latency)"
    )
    parser.add_argument(
        "--report", type=Path, help="also write the result report (segments, timings) as JSON"
    )
    add_option_arguments(parser)
    add_engine_arguments(parser)


def read_text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return args.text
    try:
        return args.text_file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read the text file {args.text_file}: {exc}") from None


def report_dict(result) -> dict:
    """A JSON-ready summary of a SynthesisResult."""
    return {
        "duration_s": round(result.duration, 3),
        "sample_rate": result.sample_rate,
        "seed": result.seed,
        "real_time_factor": round(result.real_time_factor, 3),
        "timings": {k: (None if v is None else round(v, 4)) for k, v in vars(result.timings).items()},
        "references": [
            {
                "path": str(r.path),
                "start_s": r.start_s,
                "end_s": r.end_s,
                "trimmed": r.trimmed,
                "text": r.text,
            }
            for r in result.references
        ],
        "segments": [
            {
                "index": s.index,
                "text": s.text,
                "phones": " ".join(s.phones),
                "tokens": s.tokens,
                "token_budget": s.token_budget,
                "start_s": round(s.start_s, 3),
                "end_s": round(s.end_s, 3),
                "stopped_by_budget": s.stopped_by_budget,
            }
            for s in result.segments
        ],
        "warnings": list(result.warnings),
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gpt_sovits.audio import save_audio

    if not args.voice and not args.ref:
        raise UsageError("Give --voice NAME, or --ref WAV (with --gpt/--sovits, or the pretrained models).")
    if args.out.exists() and not args.overwrite:
        raise UsageError(f"{args.out} exists; choose another --out or pass --overwrite.")
    extra = {"voice": args.voice, "gpt_path": args.gpt, "sovits_path": args.sovits}
    if args.ref:
        extra.update(ref_audio=tuple(args.ref), ref_text=args.ref_text, ref_lang=args.ref_lang)
    options = options_from_args(args, read_text(args), **extra)
    engine = build_engine(settings, args.device, args.precision)
    if args.stream:
        result = None
        for chunk in engine.stream(options):
            result = chunk.result or result
    else:
        result = engine.synthesize(options)
    save_audio(args.out, result.audio, result.sample_rate, overwrite=args.overwrite)
    summary = report_dict(result)
    if args.report:
        args.report.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    for w in result.warnings:
        log.warning("%s", w)
    sys.stdout.write(
        f"{args.out}: {result.duration:.2f} s at {result.sample_rate} Hz, {len(result.segments)} segment(s), "
        f"seed {result.seed}, RTF {result.real_time_factor:.2f}\n"
    )
    return 0
