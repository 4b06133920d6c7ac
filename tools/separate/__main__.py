"""Command line: ``python -m tools.separate INPUT... -o OUT_DIR [--model NAME]``.

Separates vocals from accompaniment with a UVR5 MDX-Net ONNX model (or only reduces noise when no
model is installed). Exit status: 0 all files done, 1 some files skipped, 2 nothing could be done.

With ``--progress json`` the job protocol of :mod:`gpt_sovits.jobs` is printed on stdout, one JSON object
per line: ``start`` (kind "separate", mode "mdx"/"noise_reduction", model, and in the fallback mode a
``message`` saying that only noise was reduced), ``progress`` (step = percent of all files, ``message``),
then ``done`` (files, skipped, mode, message) or ``error`` (message; a file was skipped or nothing could
be done). The human lines still follow on stdout; a reader of the protocol takes them as log lines.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.jobs.status import PercentProgress, write_event
from gpt_sovits.settings import load_settings
from tools.separate.api import MODES, FolderResult, SeparationOptions, load_separator, separate_folder
from tools.separate.models import KNOWN_MODELS, MDXParams, list_models


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the tests)."""
    ap = argparse.ArgumentParser(
        prog="python -m tools.separate",
        description="Separate vocals and accompaniment with UVR5 MDX-Net ONNX models.",
    )
    ap.add_argument("inputs", nargs="*", type=Path, help="audio files and/or folders")
    ap.add_argument("-o", "--out-dir", type=Path, help="folder for the separated stems")
    ap.add_argument("--model", help="model file name, stem, path or UVR name (default: best installed)")
    ap.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="where models are looked up (default: <pretrained>/uvr5)",
    )
    ap.add_argument("--mode", choices=MODES, default="auto", help="auto: noise reduction if no model")
    ap.add_argument("--list-models", action="store_true", help="list installed and known models, then exit")
    mdx = ap.add_argument_group("MDX-Net processing")
    mdx.add_argument("--denoise", action="store_true", help="UVR denoise pass (twice the model time)")
    mdx.add_argument("--overlap", type=float, default=None, help="chunk overlap in (0, 1); default UVR's")
    mdx.add_argument("--batch-size", type=int, default=1, help="chunks per model call")
    mdx.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    mdx.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0: its default)")
    mdx.add_argument("--no-frequency-cut", action="store_true", help="other stem = full mix - primary")
    mdx.add_argument("--compensate", type=float, help="force the output gain (default: the model's)")
    custom = ap.add_argument_group("parameters for a model not in the table")
    custom.add_argument("--n-fft", type=int)
    custom.add_argument("--dim-f", type=int)
    custom.add_argument("--dim-t", type=int, help="STFT frames per chunk (256, not UVR's exponent 8)")
    custom.add_argument("--hop", type=int, default=1024)
    custom.add_argument("--primary-stem", default="Vocals", help="what the model outputs")
    out = ap.add_argument_group("output")
    out.add_argument("--format", choices=("wav", "flac"), default="wav")
    out.add_argument("--subtype", default="PCM_16", help="PCM_16, PCM_24, FLOAT (wav) ...")
    out.add_argument("--overwrite", action="store_true", help="replace existing outputs (never inputs)")
    out.add_argument("--recursive", action="store_true", help="also look in sub-folders")
    nr = ap.add_argument_group("noise-reduction fallback")
    nr.add_argument("--noise-stationary", action="store_true", help="one noise profile per file")
    nr.add_argument("--noise-strength", type=float, default=0.8, help="fraction of noise removed, 0..1")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument(
        "--progress", choices=("text", "json"), default="text", help="json: job protocol lines on stdout"
    )
    return ap


# One job protocol event (see gpt_sovits.jobs) on stdout, flushed at once.
_emit = functools.partial(write_event, kind="separate")


def _options(args: argparse.Namespace) -> SeparationOptions:
    custom = [args.n_fft, args.dim_f, args.dim_t]
    if any(v is not None for v in custom) and not all(v is not None for v in custom):
        raise SystemExit("error: --n-fft, --dim-f and --dim-t must be given together")
    params = None
    if args.n_fft is not None:
        params = MDXParams(
            n_fft=args.n_fft,
            dim_f=args.dim_f,
            dim_t=args.dim_t,
            compensate=args.compensate if args.compensate is not None else 1.0,
            primary_stem=args.primary_stem,
            hop=args.hop,
        ).validate()
    return SeparationOptions(
        mode=args.mode,
        denoise=args.denoise,
        overlap=args.overlap,
        batch_size=args.batch_size,
        device=args.device,
        threads=args.threads,
        match_frequency_cut=not args.no_frequency_cut,
        params=params,
        compensate=args.compensate,
        format=args.format,
        subtype=args.subtype,
        overwrite=args.overwrite,
        noise_stationary=args.noise_stationary,
        noise_strength=args.noise_strength,
    )


def _list_models(models_dir: Path) -> None:
    w = sys.stdout.write
    w(f"Installed in {models_dir}:\n")
    installed = list_models(models_dir)
    for m in installed:
        p = m.params
        what = (
            f"{p.primary_stem}, n_fft {p.n_fft}, dim_f {p.dim_f}, dim_t {p.dim_t}, compensate {p.compensate}"
            if p
            else "unknown model: give --n-fft --dim-f --dim-t"
        )
        w(f"  {m.path.name}  [{m.source}, {m.uvr_hash}]  {what}\n")
    if not installed:
        w("  (none: separation falls back to noise reduction)\n")
    w("Known by name (UVR hash -> parameters):\n")
    for k in KNOWN_MODELS:
        p = k.params
        w(f"  {k.file_stem}.onnx  {p.primary_stem}, n_fft {p.n_fft}, dim_f {p.dim_f}, dim_t {p.dim_t}\n")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    as_json = args.progress == "json"
    if args.models_dir is None:  # the pretrained folder follows GPT_SOVITS_PRETRAINED / GPT_SOVITS_HOME
        args.models_dir = load_settings().pretrained_dir / "uvr5"
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    if args.list_models:
        _list_models(args.models_dir)
        return 0
    if not args.inputs or args.out_dir is None:
        if as_json:
            _emit("error", message="give at least one input and --out-dir (or --list-models)")
        build_parser().error("give at least one input and --out-dir (or --list-models)")
    try:
        sep = load_separator(args.model, _options(args), args.models_dir)
        if sep.message:
            sys.stderr.write(f"NOTE: {sep.message}\n")
        if as_json:
            _emit("start", steps=100, mode=sep.mode, model=sep.model_name, message=sep.message)
        progress = PercentProgress("separate") if as_json else None
        result = separate_folder(args.inputs, args.out_dir, sep, progress=progress, recursive=args.recursive)
    except GPTSoVITSError as exc:
        sys.stderr.write(f"error: {exc}\n")
        if as_json:
            _emit("error", message=str(exc))
        return 2
    for r in result.results:
        stems = ", ".join(f"{label}: {path}" for label, path in r.stems.items())
        sys.stdout.write(f"{r.input} -> {stems} ({r.elapsed_s:.1f} s)\n")
    for path, why in result.skipped:
        sys.stdout.write(f"SKIPPED {path}: {why}\n")
    if not result.results and not result.skipped:
        sys.stderr.write("No audio files found in the inputs.\n")
        if as_json:
            _emit("error", message="No audio files found in the inputs.")
        return 2
    if as_json:
        _report_json(result)
    return 0 if result.ok else (1 if result.results else 2)


def _report_json(result: FolderResult) -> None:
    """The closing protocol event: ``done`` when every file was separated, else ``error`` naming the skips."""
    if result.ok:
        _emit("done", steps=100, files=len(result.results), mode=result.mode, message=result.message)
        return
    reasons = "; ".join(f"{Path(path).name}: {why}" for path, why in result.skipped)
    _emit("error", message=f"{len(result.skipped)} file(s) skipped ({reasons})", files=len(result.results))


if __name__ == "__main__":
    sys.exit(main())
