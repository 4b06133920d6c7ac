"""``python -m gpt_sovits.training prepare|train-gpt|train-sovits|qa|register|run``.

``run`` does the whole fine-tune in one job (prepare, SoVITS, GPT, QA, add the voice); see
:mod:`gpt_sovits.training.pipeline`.

Every command prints machine-readable progress on stdout, one JSON object per line (the protocol the job
manager reads: start / progress / checkpoint / done / cancelled / error); human-readable logs go to stderr.
Exit codes: 0 done, 1 error, 2 bad arguments, 130 cancelled (state saved: run the same command to resume).

Several GPUs: ``torchrun --nproc_per_node N -m gpt_sovits.training train-sovits --exp NAME``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.jobs.status import write_event
from gpt_sovits.settings import Settings, distributed_env, load_settings

log = logging.getLogger("gpt_sovits.training")

EXIT_CANCELLED = 130


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    if args.logs_dir is not None:
        from dataclasses import replace

        settings = replace(settings, logs_dir=Path(args.logs_dir))
    return settings


# ----------------------------------------------------------------------------- prepare
def _add_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="format a labelled .list into training features")
    p.add_argument("--list", dest="list_path", type=Path, required=True, help="wav|speaker|lang|text file")
    p.add_argument("--exp", required=True, help="experiment name (a folder under logs/)")
    p.add_argument("--base", default="v2", choices=("v2", "v2Pro", "v2ProPlus"), help="base model version")
    p.add_argument("--gpt", type=Path, help="base GPT .ckpt (default: the pretrained one)")
    p.add_argument("--sovits", type=Path, help="base SoVITS G .pth (default: the pretrained one)")
    p.add_argument("--device", default="auto")
    p.set_defaults(run=_run_prepare)


def _run_prepare(args: argparse.Namespace, settings: Settings) -> int:
    from gpt_sovits.training.prepare import PrepareOptions, prepare

    options = PrepareOptions(args.list_path, args.exp, args.base, args.gpt, args.sovits, args.device)

    def progress(done: int, total: int, clip: str) -> None:
        write_event("progress", kind="prepare", step=done, steps=total, clip=clip)

    result = prepare(settings, options, progress)
    for failure in result.failed:
        log.warning("not used: %s (%s)", failure["audio"], failure["reason"])
    write_event(
        "done",
        kind="prepare",
        experiment=str(result.experiment.root),
        prepared=result.prepared,
        reused=result.reused,
        failed=len(result.failed),
        seconds=round(result.seconds, 1),
    )
    return 0


# ----------------------------------------------------------------------------- training
def _add_train(sub, name: str, kind: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text)
    if kind == "gpt":
        from gpt_sovits.training.gpt_train import add_gpt_arguments

        add_gpt_arguments(p)
    else:
        from gpt_sovits.training.sovits_train import add_sovits_arguments

        add_sovits_arguments(p)
    p.add_argument(
        "--voice", help="when both models are trained, add the voice to the library under this name"
    )
    p.add_argument("--consent", help="with --voice: whose voice this is and that they agreed to its use")
    p.set_defaults(run=_run_train, kind=kind)


def _run_train(args: argparse.Namespace, settings: Settings) -> int:
    from gpt_sovits.training.experiment import Experiment
    from gpt_sovits.training.loop import init_distributed, make_context, shutdown_distributed
    from gpt_sovits.training.runlog import RunLog

    ctx = make_context(args.device, args.precision, distributed_env())
    if args.kind == "gpt":
        from gpt_sovits.training.gpt_train import gpt_options_from_args as options_from_args
        from gpt_sovits.training.gpt_train import train_gpt as train
    else:
        from gpt_sovits.training.sovits_train import sovits_options_from_args as options_from_args
        from gpt_sovits.training.sovits_train import train_sovits as train
    options = options_from_args(args)
    if args.voice and not (args.consent or "").strip():
        raise GPTSoVITSError(
            "--voice needs --consent: say whose voice this is and that they agreed to its use."
        )
    exp = Experiment(settings.logs_dir, options.exp)
    exp.read_manifest()  # a clear error before anything starts when prepare was not run
    init_distributed(ctx)
    run_log = RunLog(exp.run_dir(args.kind), args.kind, main=ctx.dist.is_main)
    try:
        result = train(exp, options, ctx, run_log)
    except GPTSoVITSError as exc:
        log.error("%s", exc)
        run_log.error(str(exc))
        return 1
    finally:
        run_log.close()
        shutdown_distributed(ctx)
    if getattr(result, "cancelled", False):
        return EXIT_CANCELLED
    if args.voice and ctx.dist.is_main:
        _register_when_ready(settings, exp, args.voice, args.consent)
    return 0


def _register_when_ready(settings: Settings, exp, name: str, consent: str) -> None:
    """Add the voice once both models have checkpoints (the second training to finish does it)."""
    from gpt_sovits.training.register import register_voice
    from gpt_sovits.voices import VoiceExists

    missing = [k for k in ("gpt", "sovits") if not exp.checkpoints(k)]
    if missing:
        log.info("the voice joins the library when %s training has finished too", missing[0].upper())
        return
    try:
        voice = register_voice(settings, exp, name, consent=consent)
    except VoiceExists:
        log.warning(
            "a voice named %r exists already; nothing was changed (run `register` with another --name)", name
        )
        return
    write_event("voice", name=voice.name, folder=str(voice.folder))


# ----------------------------------------------------------------------------- QA and registration
def _add_qa(sub) -> None:
    p = sub.add_parser("qa", help="score every clip's transcript against its audio with the trained aligner")
    p.add_argument("--exp", required=True)
    p.add_argument(
        "--sovits", type=Path, help="a SoVITS file with an aligner (default: the latest of the exp)"
    )
    p.set_defaults(run=_run_qa)


def _run_qa(args: argparse.Namespace, settings: Settings) -> int:
    from gpt_sovits.training.experiment import Experiment
    from gpt_sovits.training.qa import run_qa

    report = run_qa(Experiment(settings.logs_dir, args.exp), args.sovits)
    for clip in report.clips:
        if clip.flagged:
            log.warning("check the label of %s: %s", clip.audio, "; ".join(clip.reasons))
    write_event(
        "done",
        kind="qa",
        clips=len(report.clips),
        flagged=[c.audio for c in report.clips if c.flagged],
        path=str(report.path),
    )
    return 0


def _add_register(sub) -> None:
    p = sub.add_parser("register", help="add the trained voice to the voice library")
    p.add_argument("--exp", required=True)
    p.add_argument("--name", required=True, help="voice name in the library")
    p.add_argument("--consent", required=True, help="whose voice this is and that they agreed to its use")
    p.add_argument("--gpt", type=Path, help="GPT checkpoint (default: the experiment's latest)")
    p.add_argument("--sovits", type=Path, help="SoVITS checkpoint (default: the experiment's latest)")
    p.set_defaults(run=_run_register)


def _run_register(args: argparse.Namespace, settings: Settings) -> int:
    from gpt_sovits.training.experiment import Experiment
    from gpt_sovits.training.register import register_voice

    voice = register_voice(
        settings,
        Experiment(settings.logs_dir, args.exp),
        args.name,
        consent=args.consent,
        gpt=args.gpt,
        sovits=args.sovits,
    )
    write_event("done", kind="register", voice=voice.name, folder=str(voice.folder))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gpt_sovits.training", description=__doc__.split("\n")[0])
    parser.add_argument("--logs-dir", help="experiments folder (default: logs/ of the app home)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_prepare(sub)
    _add_train(sub, "train-gpt", "gpt", "fine-tune the GPT (text to semantic tokens)")
    _add_train(sub, "train-sovits", "sovits", "fine-tune SoVITS (tokens to audio) and its phone aligner")
    _add_qa(sub)
    _add_register(sub)
    from gpt_sovits.training.pipeline import add_run_parser

    add_run_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    settings = _settings(args)
    try:
        return args.run(args, settings)
    except GPTSoVITSError as exc:
        log.error("%s", exc)
        write_event("error", message=str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
