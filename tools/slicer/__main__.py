"""Command line: ``python -m tools.slicer INPUT... --out DIR [options]``.

INPUT may be audio files or folders (their audio files, not subfolders). Exit status: 0 when every
input was sliced, 1 when some input was skipped (unreadable, clips already present, no sound),
2 for bad arguments.

With ``--progress json`` the job protocol of :mod:`gpt_sovits.jobs` is printed on stdout, one JSON
object per line: ``start`` (kind "slice", steps 100, files), ``progress`` (step = percent done),
then ``done`` (clips, seconds) or ``error`` (message; some input skipped or bad arguments). The
human summary still follows on stdout; a reader of the protocol takes it as log lines.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path
from typing import NoReturn

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.jobs.status import PercentProgress, write_event
from tools.slicer.core import MANIFEST_NAME, list_audio_files, slice_files
from tools.slicer.options import DEFAULT_OPTIONS, SliceOptions, SlicerError, SliceResult

_DEFAULTS = DEFAULT_OPTIONS


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (defaults shown are those of :class:`SliceOptions`)."""
    p = argparse.ArgumentParser(
        prog="python -m tools.slicer",
        description="Cut long recordings into training clips at pauses (GPT-SoVITS slicer).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="audio files or folders")
    p.add_argument("--out", required=True, type=Path, help="output folder for clips and manifest.jsonl")
    p.add_argument("--mode", choices=("rms", "vad"), default=_DEFAULTS.mode, help="how pauses are found")
    p.add_argument(
        "--threshold", type=float, default=_DEFAULTS.threshold_db, help="silence level, dBFS (rms)"
    )
    p.add_argument("--min-length", type=int, default=_DEFAULTS.min_length_ms, help="shortest clip, ms")
    p.add_argument("--max-length", type=int, default=_DEFAULTS.max_length_ms, help="longest clip, ms")
    p.add_argument("--min-interval", type=int, default=_DEFAULTS.min_interval_ms, help="shortest pause, ms")
    p.add_argument("--hop-size", type=int, default=_DEFAULTS.hop_size_ms, help="analysis step, ms")
    p.add_argument("--max-sil-kept", type=int, default=_DEFAULTS.max_sil_kept_ms, help="silence kept, ms")
    p.add_argument("--max", type=float, default=_DEFAULTS.normalize_max, help="normalisation peak")
    p.add_argument("--alpha", type=float, default=_DEFAULTS.alpha, help="share of the normalised signal")
    p.add_argument("--sample-rate", type=int, default=_DEFAULTS.sample_rate, help="clip sample rate, Hz")
    p.add_argument("--vad-threshold", type=float, default=_DEFAULTS.vad_threshold, help="speech prob. (vad)")
    p.add_argument("--block-seconds", type=float, default=30.0, help="decoding block length (memory)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--progress", choices=("text", "json"), default="text", help="json: job protocol lines on stdout"
    )
    return p


# One job protocol event (see gpt_sovits.jobs) on stdout, flushed at once.
_emit = functools.partial(write_event, kind="slice")


def _fail(parser: argparse.ArgumentParser, message: str, as_json: bool) -> NoReturn:
    """Stop on a user error: exit status 2 with the usage message (and an ``error`` event in json mode)."""
    if as_json:
        _emit("error", message=message)
    parser.error(message)


def _options(args: argparse.Namespace) -> SliceOptions:
    return SliceOptions(
        mode=args.mode,
        threshold_db=args.threshold,
        min_length_ms=args.min_length,
        max_length_ms=args.max_length,
        min_interval_ms=args.min_interval,
        hop_size_ms=args.hop_size,
        max_sil_kept_ms=args.max_sil_kept,
        normalize_max=args.max,
        alpha=args.alpha,
        sample_rate=args.sample_rate,
        vad_threshold=args.vad_threshold,
    )


def _expand(inputs: list[Path], out: Path) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            if item.resolve() == out.resolve():
                raise SlicerError(f"The output folder is the input folder '{item}'. Choose another --out.")
            files.extend(list_audio_files(item))
        else:
            files.append(item)  # a missing or unreadable file is reported by slice_files
    return files


def _summary(result: SliceResult, out: Path) -> str:
    lines = [
        f"{len(result.clips)} clips, {result.total_duration_s:.1f} s of audio, written to {out} "
        f"(listed in {MANIFEST_NAME})."
    ]
    by_source: dict[Path, list] = {}
    for clip in result.clips:
        by_source.setdefault(clip.source, []).append(clip)
    for source, clips in by_source.items():
        lines.append(f"  {source}: {len(clips)} clips, {sum(c.duration_s for c in clips):.1f} s")
    if result.forced_cuts:
        lines.append(f"  {result.forced_cuts} forced cut(s) where no pause was found (see the warnings).")
    short = sum(c.short for c in result.clips)
    if short:
        lines.append(f"  {short} clip(s) shorter than the minimum length (nothing else was possible).")
    for skipped in result.skipped:
        lines.append(f"  SKIPPED {skipped.path}: {skipped.reason}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    as_json = args.progress == "json"
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        options = _options(args)
        files = _expand(args.inputs, args.out)
    except GPTSoVITSError as exc:
        _fail(parser, str(exc), as_json)
    if not files:
        _fail(parser, "no audio files found in the given inputs", as_json)

    json_progress = PercentProgress("slice") if as_json else None
    shown = [-1]

    def progress(fraction: float) -> None:
        if json_progress is not None:
            json_progress(fraction)
            return
        step = int(fraction * 10)
        if step > shown[0]:
            shown[0] = step
            sys.stderr.write(f"\rslicing: {step * 10:3d}%")
            sys.stderr.flush()

    if as_json:
        _emit("start", steps=100, files=len(files), out=str(args.out))
    quiet = args.quiet and not as_json
    result = slice_files(
        files, args.out, options, None if quiet else progress, block_seconds=args.block_seconds
    )
    if not quiet and not as_json:
        sys.stderr.write("\n")
    sys.stdout.write(_summary(result, args.out))
    sys.stdout.flush()
    if as_json:
        if result.skipped:
            reasons = "; ".join(f"{s.path.name}: {s.reason}" for s in result.skipped)
            _emit(
                "error",
                message=f"{len(result.skipped)} input(s) skipped ({reasons})",
                clips=len(result.clips),
            )
        else:
            _emit("done", steps=100, clips=len(result.clips), seconds=round(result.total_duration_s, 3))
    return 1 if result.skipped else 0


if __name__ == "__main__":
    sys.exit(main())
