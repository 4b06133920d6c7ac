"""What several subcommands share: building the engine, and synthesis options from arguments."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpt_sovits.inference.options import SPLIT_METHODS, SynthesisOptions
from gpt_sovits.settings import Settings

# Option name -> (type, help). Only given flags override the voice's defaults (argparse default None).
TUNABLES: dict[str, tuple[type, str]] = {
    "top_k": (int, "sample among the k most likely tokens (default 15)"),
    "top_p": (float, "nucleus sampling threshold (default 1.0)"),
    "temperature": (float, "sampling temperature (default 1.0)"),
    "repetition_penalty": (float, "penalty for repeating tokens (default 1.35)"),
    "speed": (float, "speaking rate, >1 faster (default 1.0)"),
    "seed": (int, "random seed; the same seed gives the same audio (default: random)"),
    "pause": (float, "seconds of silence between segments (default 0.3)"),
    "noise_scale": (float, "SoVITS noise scale (default 0.5)"),
    "batch_size": (int, "segments the GPT decodes together (default 8)"),
    "max_chars": (int, "longest segment for --split length"),
    "max_new_tokens": (int, "token budget per segment (default: from the phone count)"),
    "guard_retries": (
        int,
        "regenerations of a segment whose tokens skip or repeat words (default 2, 0: off)",
    ),
}


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """--device and --precision."""
    parser.add_argument(
        "--device", default=None, help="auto, cpu, cuda or cuda:N (default: settings, else auto)"
    )
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "fp16", "bf16"],
        help="default: fp16/bf16 on CUDA, fp32 on CPU",
    )


def add_option_arguments(parser: argparse.ArgumentParser) -> None:
    """Language, split and every sampling/rendering knob of :class:`SynthesisOptions`."""
    parser.add_argument(
        "--lang", dest="text_lang", default=None, help="language mode of the text (default auto)"
    )
    parser.add_argument(
        "--split", default=None, choices=SPLIT_METHODS, help="long-text split method (default cut5)"
    )
    parser.add_argument(
        "--dict",
        dest="dict_files",
        action="append",
        default=[],
        type=Path,
        help="per-request dictionary (JSONL), repeatable",
    )
    parser.add_argument(
        "--no-trim", action="store_true", help="refuse references over 10 s instead of trimming them"
    )
    for name, (typ, help_text) in TUNABLES.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, help=help_text)


def options_from_args(args: argparse.Namespace, text: str, **extra) -> SynthesisOptions:
    """SynthesisOptions from parsed arguments; flags that were not given keep the defaults."""
    values = {name: getattr(args, name) for name in TUNABLES if getattr(args, name, None) is not None}
    if getattr(args, "text_lang", None):
        values["text_lang"] = args.text_lang
    if getattr(args, "split", None):
        values["split"] = args.split
    if getattr(args, "no_trim", False):
        values["auto_trim"] = False
    lines: list[str] = []
    for f in getattr(args, "dict_files", []) or []:
        lines += Path(f).read_text(encoding="utf-8-sig").splitlines()
    if lines:
        values["dictionary"] = tuple(lines)
    values.update(extra)
    return SynthesisOptions(text=text, **values)


def build_engine(settings: Settings, device: str | None = None, precision: str = "auto"):
    """A registry on the chosen device, the voice library and the engine over them."""
    from gpt_sovits.inference.engine import Engine

    return Engine.from_settings(settings, device, precision)
