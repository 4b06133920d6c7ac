"""``python -m gpt_sovits.training run``: the whole fine-tune in one job.

Stages: prepare (from ``--list``) -> train-sovits -> train-gpt -> QA (unless ``--no-qa``), then, with
``--voice``, the voice joins the library. Every event of a stage is passed through on stdout with
``stage`` (1-based), ``stages`` and ``stage_name`` added, and a ``{"event": "stage", ...}`` line opens each
stage, so a UI can say "stage 2/4: sovits". The last line is ``{"event": "done", "kind": "run", ...}``.

Cancel (SIGTERM/SIGINT): one stop flag is installed for the whole run; prepare stops after the current clip,
the trainers after the current step with their state saved. Exit code 130; running the same command again
resumes: prepare reuses finished clips (and loads no model when every clip is done), the trainers continue
from ``state.pt``, and a stage that had finished ends at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.jobs.status import write_event
from gpt_sovits.settings import Settings, distributed_env

log = logging.getLogger(__name__)

EXIT_CANCELLED = 130
BASES = ("v2", "v2Pro", "v2ProPlus")


class StageCancelled(Exception):
    """Raised inside a stage when a stop was requested (caught by :func:`run_pipeline`).

    ``reported``: the stage wrote its own ``cancelled`` event already (the trainers do)."""

    def __init__(self, reported: bool = False) -> None:
        super().__init__("cancelled")
        self.reported = reported


class StagedStream:
    """A text stream for :class:`~gpt_sovits.training.runlog.RunLog` that adds the stage fields to every
    protocol line it writes to ``out`` (other text passes unchanged)."""

    def __init__(self, out: TextIO, fields: dict[str, Any]) -> None:
        self.out = out
        self.fields = fields
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self.out.write(self._tag(line) + "\n")
        return len(text)

    def _tag(self, line: str) -> str:
        try:
            data = json.loads(line)
        except ValueError:
            return line
        if not isinstance(data, dict) or "event" not in data:
            return line
        return json.dumps({**data, **self.fields}, ensure_ascii=False)

    def flush(self) -> None:
        self.out.flush()


class _Reported(Exception):
    """A stage failed and its error event was written already."""


@dataclass
class _Pipeline:
    """One ``run``: its arguments, settings and where it is."""

    args: argparse.Namespace
    settings: Settings
    names: tuple[str, ...]
    index: int = 0  # 1-based number of the current stage

    @property
    def fields(self) -> dict[str, Any]:
        return {"stage": self.index, "stages": len(self.names), "stage_name": self.names[self.index - 1]}

    def emit(self, event: str, **fields: Any) -> None:
        """One protocol line on stdout, tagged with the current stage."""
        write_event(event, **{**fields, **(self.fields if self.index else {})})

    def begin(self, name: str) -> None:
        """Open stage ``name``; the zeros clear the previous stage's counts from a progress bar."""
        self.index = self.names.index(name) + 1
        self.emit("stage", kind=name, step=0, steps=0, epoch=0, epochs=0)
        log.info("stage %d/%d: %s", self.index, len(self.names), name)


# ----------------------------------------------------------------------------- arguments
def add_run_parser(sub) -> None:
    """The ``run`` subcommand."""
    p = sub.add_parser("run", help="prepare, train SoVITS and GPT, check the labels, add the voice: one job")
    p.add_argument("--list", dest="list_path", type=Path, required=True, help="wav|speaker|lang|text file")
    p.add_argument("--exp", required=True, help="experiment name (a folder under logs/)")
    p.add_argument("--base", default="v2", choices=BASES, help="base model version")
    p.add_argument("--sovits-epochs", type=int, default=8)
    p.add_argument("--gpt-epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=None, help="both models; default/0: from free memory")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="auto: bf16/fp16 autocast on CUDA, bf16 on CPUs with native bf16, else fp32",
    )
    p.add_argument(
        "--min-epoch-items",
        type=int,
        default=100,
        help="a smaller dataset is repeated to about this many clips per epoch (lower it for a shorter run)",
    )
    p.add_argument("--save-every", type=int, default=None, help="epochs between checkpoints (default: 4/5)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument(
        "--qa", action=argparse.BooleanOptionalAction, default=True, help="alignment QA at the end"
    )
    p.add_argument("--voice", help="add the voice to the library under this name at the end")
    p.add_argument("--consent", help="with --voice: whose voice this is and that they agreed to its use")
    p.set_defaults(run=run_pipeline)


def _check(args: argparse.Namespace, settings: Settings) -> None:
    """Refuse at once what would fail after hours of training."""
    from gpt_sovits.training.experiment import check_name
    from gpt_sovits.voices import VoiceLibrary, VoiceNotFound

    check_name(args.exp)
    if distributed_env().enabled:
        raise GPTSoVITSError(
            "`run` is one process; for several GPUs run prepare, then train-sovits and train-gpt with torchrun."
        )
    for flag in ("sovits_epochs", "gpt_epochs", "min_epoch_items"):
        if getattr(args, flag) < 1:
            raise GPTSoVITSError(f"--{flag.replace('_', '-')} must be at least 1.")
    if args.voice:
        if not (args.consent or "").strip():
            raise GPTSoVITSError(
                "--voice needs --consent: say whose voice this is and that they agreed to its use."
            )
        try:
            found = VoiceLibrary(settings.voices_dir).get(args.voice)
        except VoiceNotFound:
            return
        raise GPTSoVITSError(
            f"A voice named {found.name!r} is already in the library; choose another --voice name "
            "(or rename the existing voice)."
        )


# ----------------------------------------------------------------------------- stages
def _all_prepared(settings: Settings, args: argparse.Namespace) -> int | None:
    """The number of rows when every row of the list is prepared already with this base, else None."""
    from gpt_sovits.training.experiment import Experiment, ExperimentError, item_id
    from gpt_sovits.training.prepare import base_files
    from tools.lists import DatasetList, ListFormatError

    exp = Experiment(settings.logs_dir, args.exp)
    try:
        manifest = exp.read_manifest()
        rows = DatasetList.read(args.list_path).rows
    except (ExperimentError, ListFormatError, OSError):
        return None
    if not rows or manifest.base_sovits != str(base_files(settings, args.base)[1]):
        return None
    done = {r.id for r in exp.items()}
    return len(rows) if all(item_id(r.wav_path, r.lang, r.text) in done for r in rows) else None


def _prepare(p: _Pipeline, stop) -> None:
    from gpt_sovits.training.prepare import PrepareOptions, prepare

    args = p.args
    p.begin("prepare")
    rows = _all_prepared(p.settings, args)
    if rows is not None:
        log.info("every clip of %s is prepared already", args.list_path)
        p.emit("done", kind="prepare", prepared=0, reused=rows, failed=0, skipped=True)
        return

    def progress(done: int, total: int, clip: str) -> None:
        p.emit("progress", kind="prepare", step=done, steps=total, clip=clip)
        if stop.requested:
            raise StageCancelled

    options = PrepareOptions(args.list_path, args.exp, args.base, device=args.device)
    result = prepare(p.settings, options, progress)
    for failure in result.failed:
        log.warning("not used: %s (%s)", failure["audio"], failure["reason"])
    p.emit(
        "done",
        kind="prepare",
        prepared=result.prepared,
        reused=result.reused,
        failed=len(result.failed),
        seconds=round(result.seconds, 1),
    )


def _train(p: _Pipeline, kind: str, ctx, stop) -> bool:
    """Train ``kind``; True when it finished, False when it was cancelled."""
    from gpt_sovits.training.experiment import Experiment
    from gpt_sovits.training.runlog import RunLog

    args = p.args
    p.begin(kind)
    common = dict(
        exp=args.exp,
        batch_size=args.batch_size or None,
        device=args.device,
        precision=args.precision,
        min_epoch_items=args.min_epoch_items,
    )
    if args.save_every:
        common["save_every"] = args.save_every
    if kind == "gpt":
        from gpt_sovits.training.gpt_train import GPTTrainOptions, train_gpt

        options, train = GPTTrainOptions(epochs=args.gpt_epochs, **common), train_gpt
    else:
        from gpt_sovits.training.sovits_train import SoVITSTrainOptions, train_sovits

        options, train = SoVITSTrainOptions(epochs=args.sovits_epochs, **common), train_sovits
    exp = Experiment(p.settings.logs_dir, args.exp)
    with RunLog(exp.run_dir(kind), kind, stream=StagedStream(sys.stdout, p.fields)) as run_log:
        try:
            result = train(exp, options, ctx, run_log, stop)
        except GPTSoVITSError as exc:
            run_log.error(str(exc))
            raise _Reported from exc
    return not result.cancelled


def _qa(p: _Pipeline) -> None:
    from gpt_sovits.training.experiment import Experiment
    from gpt_sovits.training.qa import run_qa

    p.begin("qa")
    try:
        report = run_qa(Experiment(p.settings.logs_dir, p.args.exp))
    except GPTSoVITSError as exc:  # QA only advises: the voice is usable without it
        log.warning("QA skipped: %s", exc)
        p.emit("done", kind="qa", skipped=str(exc))
        return
    flagged = [c.audio for c in report.clips if c.flagged]
    for clip in report.clips:
        if clip.flagged:
            log.warning("check the label of %s: %s", clip.audio, "; ".join(clip.reasons))
    p.emit("done", kind="qa", clips=len(report.clips), flagged=flagged, path=str(report.path))


def _register(p: _Pipeline) -> dict[str, str]:
    """Add the voice made of the final checkpoints; its name and folder."""
    from gpt_sovits.training.experiment import Experiment
    from gpt_sovits.training.register import latest_checkpoint, register_voice

    exp = Experiment(p.settings.logs_dir, p.args.exp)
    gpt, sovits = latest_checkpoint(exp, "gpt"), latest_checkpoint(exp, "sovits")
    voice = register_voice(p.settings, exp, p.args.voice, consent=p.args.consent, gpt=gpt, sovits=sovits)
    p.emit("voice", name=voice.name, folder=str(voice.folder))
    return {"voice": voice.name, "voice_folder": str(voice.folder)}


def run_pipeline(args: argparse.Namespace, settings: Settings) -> int:
    """Run every stage (see the module docstring); the exit code."""
    from gpt_sovits.training.experiment import Experiment
    from gpt_sovits.training.loop import StopFlag, make_context

    _check(args, settings)
    names = ("prepare", "sovits", "gpt", *(("qa",) if args.qa else ()))
    p = _Pipeline(args, settings, names)
    ctx = make_context(args.device, args.precision)  # a bad device or precision fails before any work
    with StopFlag() as stop:
        try:
            _prepare(p, stop)
            for kind in ("sovits", "gpt"):
                if stop.requested:
                    raise StageCancelled
                if not _train(p, kind, ctx, stop):
                    raise StageCancelled(reported=True)
            if args.qa:
                if stop.requested:
                    raise StageCancelled
                _qa(p)
            extra = _register(p) if args.voice else {}
        except StageCancelled as exc:
            log.info("stopped during stage %s; run the same command again to continue", p.names[p.index - 1])
            if not exc.reported:
                p.emit("cancelled", kind=p.names[p.index - 1])
            return EXIT_CANCELLED
        except _Reported:
            return 1
        except GPTSoVITSError as exc:
            log.error("%s", exc)
            p.emit("error", kind=p.names[p.index - 1] if p.index else "run", message=str(exc))
            return 1
    exp = Experiment(settings.logs_dir, args.exp)
    best = [str(exp.checkpoints(k)[-1]) for k in ("gpt", "sovits") if exp.checkpoints(k)]
    p.emit("done", kind="run", checkpoints=best, experiment=str(exp.root), **extra)
    return 0


__all__ = ["EXIT_CANCELLED", "StagedStream", "add_run_parser", "run_pipeline"]
