"""``python -m gpt_sovits.evaluation --exp NAME``: evaluate an experiment's saved checkpoints.

Writes the audio, ``report.json`` and ``report.txt`` to ``logs/NAME/eval/`` (or ``--out``) and prints the
table. With ``--progress json`` stdout carries only the job protocol (start / progress / done / error, one
JSON object per line) and the table goes to stderr, so that the job manager can follow it.
Exit codes: 0 done, 1 error, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    p = argparse.ArgumentParser(prog="python -m gpt_sovits.evaluation", description=__doc__.split("\n")[0])
    p.add_argument("--exp", required=True, help="experiment name (folder under the logs folder)")
    p.add_argument("--logs-dir", type=Path, default=None, help="logs folder (default: from the settings)")
    p.add_argument("--sentences", type=Path, default=None, help="file of held-out sentences, one a line")
    p.add_argument("--lang", default=None, help="language of the sentences (default: the experiment's)")
    p.add_argument("--ref", type=Path, default=None, help="reference wav (default: the best prepared clip)")
    p.add_argument("--ref-text", default=None, help="transcript of --ref")
    p.add_argument("--ref-lang", default=None, help="language of --ref (default: --lang)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: logs/NAME/eval)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (default: from the settings)")
    p.add_argument("--precision", default="auto", help="auto, fp32, fp16, bf16")
    p.add_argument("--asr-model", default=None, help="CTranslate2 Whisper folder (needed beyond en/zh)")
    p.add_argument("--funasr-dir", type=Path, default=None, help="FunASR models (default: pretrained/funasr)")
    p.add_argument("--no-asr", action="store_true", help="skip intelligibility; rank by similarity only")
    p.add_argument("--seed", type=int, default=1234, help="sampling seed shared by every pair")
    p.add_argument(
        "--progress", choices=("text", "json"), default="text", help="json: job protocol on stdout"
    )
    return p


def _emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _plan(args: argparse.Namespace, settings) -> dict:
    """Resolve the experiment, sentences, pairs, reference and ASR that ``args`` ask for."""
    from gpt_sovits.evaluation.experiment import choose_reference, experiment_language, experiment_pairs
    from gpt_sovits.evaluation.metrics import default_asr
    from gpt_sovits.evaluation.sentences import default_sentences, read_sentences

    exp_dir = (args.logs_dir or settings.logs_dir) / args.exp
    if not exp_dir.is_dir():
        raise GPTSoVITSError(f"There is no experiment folder {exp_dir}; check --exp and --logs-dir.")
    out = args.out or exp_dir / "eval"
    lang = args.lang or experiment_language(exp_dir) or "en"
    sentences = read_sentences(args.sentences) if args.sentences else default_sentences(lang)
    pairs, notes = experiment_pairs(exp_dir)
    if args.ref is not None:
        if not args.ref_text:
            raise GPTSoVITSError("--ref needs --ref-text (what is said in the reference clip).")
        reference = (args.ref, args.ref_text, args.ref_lang or lang)
    else:
        reference = choose_reference(exp_dir, out)
    if args.no_asr:
        asr, note = None, "Intelligibility skipped (--no-asr)."
    else:
        funasr_dir = args.funasr_dir or settings.pretrained_dir / "funasr"
        asr, note = default_asr(lang, whisper_model=args.asr_model, funasr_dir=funasr_dir)
    return dict(
        pairs=pairs,
        reference=reference,
        sentences=sentences,
        lang=lang,
        asr=asr,
        out_dir=out,
        seed=args.seed,
        notes=[*notes, *([note] if note else [])],
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate as ``args`` ask; returns the exit code."""
    from gpt_sovits.evaluation.evaluate import evaluate_checkpoints
    from gpt_sovits.inference.engine import Engine
    from gpt_sovits.settings import load_settings

    settings = load_settings()
    plan = _plan(args, settings)
    total, t0 = len(plan["pairs"]) * len(plan["sentences"]), time.monotonic()
    json_mode = args.progress == "json"
    if json_mode:
        _emit(
            {"event": "start", "kind": "eval", "epochs": 1, "steps": total, "run_dir": str(plan["out_dir"])}
        )

    def progress(done: int, total: int) -> None:
        elapsed = time.monotonic() - t0
        if json_mode:
            eta = elapsed / done * (total - done)
            event = {"event": "progress", "kind": "eval", "epoch": 1, "epochs": 1, "step": done}
            _emit({**event, "steps": total, "losses": {}, "eta_s": eta, "elapsed_s": elapsed})
        logging.getLogger(__name__).info("%d/%d sentences (%.0f s)", done, total, elapsed)

    report = evaluate_checkpoints(
        lambda: Engine.from_settings(settings, args.device, args.precision), progress=progress, **plan
    )
    if json_mode:
        sys.stderr.write(report.format_table())
        best = [str(report.best_pair.gpt), str(report.best_pair.sovits)]
        _emit(
            {
                "event": "done",
                "kind": "eval",
                "checkpoints": best,
                "steps": total,
                "report": str(report.report_path),
            }
        )
    else:
        sys.stdout.write(report.format_table())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, turn this package's errors into one readable line (exit 1)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return run(args)
    except GPTSoVITSError as exc:
        if args.progress == "json":
            _emit({"event": "error", "message": str(exc)})
        sys.stderr.write(f"error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
