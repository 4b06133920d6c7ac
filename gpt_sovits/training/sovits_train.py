"""``train-sovits``: fine-tune the SoVITS generator of an experiment (upstream ``s2_train.py``'s recipe).

Recipe (upstream ``s2_train.py`` with ``configs/s2.json``):

- start from the pretrained generator ``s2G`` (with its posterior encoder ``enc_q``) and discriminator ``s2D``
  (or from random weights with ``from_scratch``; the content tokenizer ``ssl_proj`` + ``quantizer`` always
  comes from the base file, because the prepared codes were made by it);
- ``ssl_proj`` and the quantizer are frozen: no gradients, not in any optimizer;
- AdamW(betas (0.8, 0.99), eps 1e-9) for G and D at ``lr``; the text side of the prior encoder
  (``enc_p.text_embedding``, ``enc_p.encoder_text``, ``enc_p.mrte``) at ``lr * 0.4``; the learning rate
  decays by 0.999875 per epoch (and once before the first, as upstream's scheduler does); no grad clipping;
- per step: D on (real slice, detached generated slice) with the least-squares GAN loss; then G with
  mel L1 x45 (log-mel of the target slice vs of the generated audio) + KL x1 + LSGAN + feature matching x2,
  plus, when the model has the phone aligner, its MAS losses (NLL + duration) on detached inputs;
- checkpoints are official ``.pth`` files (fp16, no ``enc_q``; this project's ``aligner.*`` kept) that
  upstream GPT-SoVITS loads unchanged.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from gpt_sovits.audio.spectrogram import MelConfig, SpectrogramConfig
from gpt_sovits.models.sovits import SoVITSConfig, SoVITSSynthesizer
from gpt_sovits.models.sovits.synthesizer import SoVITSTrainOutput, slice_segments
from gpt_sovits.training.experiment import Experiment
from gpt_sovits.training.loop import (
    StateClock,
    StopFlag,
    TrainContext,
    TrainingError,
    adamw,
    add_run_arguments,
    any_rank,
    auto_batch_size,
    frozen,
    load_state,
    options_from_args,
    rng_state,
    save_state,
    seed_everything,
    set_rng_state,
    unwrap,
    wrap_ddp,
)
from gpt_sovits.training.losses import (
    KL_WEIGHT,
    discriminator_loss,
    feature_loss,
    generator_loss,
    kl_loss,
    mel_config,
    mel_loss,
)
from gpt_sovits.training.runlog import RunLog
from gpt_sovits.training.sovits_data import (
    BucketBatches,
    SoVITSBatch,
    SoVITSDataset,
    StartingModels,
    build_models,
    collate,
    official_config,
)

logger = logging.getLogger(__name__)

BETAS = (0.8, 0.99)
EPS = 1e-9
LR_DECAY = 0.999875  # per epoch
TEXT_MODULES = ("text_embedding", "encoder_text", "mrte")  # enc_p submodules trained at the lower rate
MAX_BAD_STEPS = 10  # consecutive non-finite losses before the run gives up
STATE_FORMAT = "gpt-sovits-studio/sovits-train-state"


@dataclass(frozen=True)
class SoVITSTrainOptions:
    """What ``train-sovits`` was asked to do (written to ``config.json`` with the resolved values)."""

    exp: str
    init_g: str | None = None  # generator .pth with enc_q; None = the experiment's base SoVITS
    init_d: str | None = None  # discriminator .pth; None = the s2D file next to the generator
    from_scratch: bool = False  # random G and D (the content tokenizer still comes from init_g)
    epochs: int = 8
    batch_size: int | None = None  # None = from free memory
    lr: float = 1e-4
    text_lr_ratio: float = 0.4
    save_every: int = 4  # epochs; the last epoch is always saved
    seed: int = 1234
    device: str = "auto"
    precision: str = "auto"
    restart: bool = False
    max_steps: int | None = None  # stop (with a checkpoint and saved state) after this many steps in all
    aligner: bool = True  # train the phone aligner beside the model (QA, inference guard)
    min_epoch_items: int = 100  # a smaller dataset is repeated within an epoch (as upstream does)


@dataclass
class SoVITSTrainResult:
    """What a run produced: official checkpoints, global steps done, per-step losses of this call."""

    checkpoints: list[Path]
    steps: int
    losses: list[dict[str, float]] = field(default_factory=list)
    cancelled: bool = False


# --------------------------------------------------------------------------- CLI glue
def add_sovits_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``train-sovits`` options to a parser (the CLI stays a thin wrapper)."""
    d = SoVITSTrainOptions(exp="x")
    parser.add_argument("--exp", required=True, help="experiment name (a prepared folder under logs/)")
    parser.add_argument("--init-g", default=None, help="generator .pth with enc_q (default: the base s2G)")
    parser.add_argument("--init-d", default=None, help="discriminator .pth (default: the s2D beside s2G)")
    parser.add_argument("--from-scratch", action="store_true", help="random G and D (keeps the quantizer)")
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--text-lr-ratio", type=float, default=d.text_lr_ratio)
    parser.add_argument("--no-aligner", dest="aligner", action="store_false", help="skip the phone aligner")
    add_run_arguments(parser, d)


def sovits_options_from_args(args: argparse.Namespace) -> SoVITSTrainOptions:
    """The options parsed by :func:`add_sovits_arguments` (fields it does not define keep their defaults)."""
    return options_from_args(SoVITSTrainOptions, args)


# --------------------------------------------------------------------------- models
class _GeneratorStep(nn.Module):
    """The generator's training forward plus the aligner's losses, as one module (one DDP forward)."""

    def __init__(self, synth: SoVITSSynthesizer) -> None:
        super().__init__()
        self.synth = synth

    def forward(self, batch: SoVITSBatch) -> tuple[SoVITSTrainOutput, torch.Tensor]:
        s = self.synth
        out = s(batch.ssl, batch.spec, batch.spec_lengths, batch.text, batch.text_lengths, batch.sv)
        aux = torch.zeros((), device=batch.spec.device)
        # MAS needs a frame per phone; a clip with more phones (a bad label) is left out of this loss
        fits = batch.text_lengths <= batch.spec_lengths  # [B]
        if hasattr(s, "aligner") and bool(fits.any()):
            keep = fits.nonzero()[:, 0]
            text, text_lengths = batch.text[keep], batch.text_lengths[keep]
            # detached inputs: the aligner learns from the model, never the other way round
            with torch.no_grad():
                states = s.phone_states(text, text_lengths)  # [B', H, P]
            content = out.quantized.detach()[keep].float()  # [B', 768, T]
            with torch.autocast(batch.spec.device.type, enabled=False):
                res = s.aligner(states.float(), text_lengths, content, batch.spec_lengths[keep])
            aux = res.nll.float() + res.duration_loss.float()
        return out, aux


def param_groups(model: SoVITSSynthesizer, lr: float, text_lr_ratio: float) -> list[dict]:
    """AdamW groups: everything trainable at ``lr`` except the text side of ``enc_p`` (``lr * ratio``)."""
    text = [p for name in TEXT_MODULES for p in getattr(model.enc_p, name).parameters() if p.requires_grad]
    text_ids = {id(p) for p in text}
    base = [p for p in model.parameters() if p.requires_grad and id(p) not in text_ids]
    return [
        {"params": base, "lr": lr, "name": "base"},
        {"params": text, "lr": lr * text_lr_ratio, "name": "text"},
    ]


# --------------------------------------------------------------------------- one run
@dataclass
class _Run:
    """Everything that changes while training, and what :func:`_state` saves for a resume."""

    models: StartingModels
    g: nn.Module  # _GeneratorStep, DDP-wrapped in a multi-process launch
    d: nn.Module
    optim_g: torch.optim.Optimizer
    optim_d: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_d: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    mel: MelConfig
    batch_size: int
    steps_per_epoch: int
    total_steps: int
    epoch: int = 0  # completed epochs
    step: int = 0  # global steps done
    checkpoints: list[str] = field(default_factory=list)
    bad_steps: int = 0  # consecutive steps skipped for a non-finite loss

    @property
    def synth(self) -> SoVITSSynthesizer:
        return self.models.generator


def _state(run: _Run, ctx: TrainContext) -> dict:
    return {
        "format": STATE_FORMAT,
        "generator": run.synth.state_dict(),
        "discriminator": unwrap(run.d).state_dict(),
        "optim_g": run.optim_g.state_dict(),
        "optim_d": run.optim_d.state_dict(),
        "sched_g": run.sched_g.state_dict(),
        "sched_d": run.sched_d.state_dict(),
        "scaler": run.scaler.state_dict(),
        "epoch": run.epoch,
        "step": run.step,
        "batch_size": run.batch_size,
        "steps_per_epoch": run.steps_per_epoch,
        "world_size": ctx.dist.world_size,
        "checkpoints": list(run.checkpoints),
        "rng": rng_state(),
    }


def _restore(run: _Run, state: dict) -> None:
    try:
        run.synth.load_state_dict(state["generator"])
        unwrap(run.d).load_state_dict(state["discriminator"])
        run.optim_g.load_state_dict(state["optim_g"])
        run.optim_d.load_state_dict(state["optim_d"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise TrainingError(
            f"The saved SoVITS training state does not fit this run ({str(exc).splitlines()[0][:200]}); "
            "start over with --restart."
        ) from None
    run.sched_g.load_state_dict(state["sched_g"])
    run.sched_d.load_state_dict(state["sched_d"])
    run.scaler.load_state_dict(state["scaler"])
    run.epoch, run.step = int(state["epoch"]), int(state["step"])
    run.checkpoints = [str(p) for p in state.get("checkpoints", [])]
    set_rng_state(state["rng"])


def _resume_state(path: Path, options: SoVITSTrainOptions, ctx: TrainContext) -> dict | None:
    if options.restart:
        return None
    state = load_state(path)
    if state is None:
        return None
    if state.get("format") != STATE_FORMAT:
        raise TrainingError(f"{path} is not a SoVITS training state; start over with --restart.")
    if int(state["world_size"]) != ctx.dist.world_size:
        raise TrainingError(
            f"{path} was saved by a run with {state['world_size']} processes; resume it with as many, "
            "or start over with --restart."
        )
    logger.info("resuming SoVITS training from %s (step %d)", path, int(state["step"]))
    return state


def _schedulers(optim_g, optim_d):
    # upstream steps its ExponentialLR once before the first epoch: epoch e (1-based) trains at lr * 0.999875^e
    def decay(e: int) -> float:
        return LR_DECAY ** (e + 1)

    return (
        torch.optim.lr_scheduler.LambdaLR(optim_g, decay),
        torch.optim.lr_scheduler.LambdaLR(optim_d, decay),
    )


def _build_run(
    models: StartingModels,
    options: SoVITSTrainOptions,
    ctx: TrainContext,
    sampler_for: Callable[[int], BucketBatches],
    batch_size: int,
    state: dict | None,
) -> tuple[_Run, BucketBatches]:
    synth, disc = models.generator.to(ctx.device), models.discriminator.to(ctx.device)
    c = models.config
    optim_g = adamw(
        param_groups(synth, options.lr, options.text_lr_ratio), lr=options.lr, betas=BETAS, eps=EPS
    )
    optim_d = adamw(disc.parameters(), lr=options.lr, betas=BETAS, eps=EPS)
    sched_g, sched_d = _schedulers(optim_g, optim_d)
    sampler = sampler_for(batch_size)
    total = options.epochs * len(sampler)
    if options.max_steps is not None:
        total = min(total, options.max_steps)
    run = _Run(
        models,
        _GeneratorStep(synth),
        disc,
        optim_g,
        optim_d,
        sched_g,
        sched_d,
        ctx.grad_scaler(),
        mel_config(
            models.raw_config,
            sampling_rate=c.sampling_rate,
            n_fft=c.filter_length,
            hop=c.hop_length,
            win=c.win_length,
        ),
        batch_size,
        len(sampler),
        total,
    )
    if state is not None:
        if int(state["steps_per_epoch"]) != len(sampler):
            raise TrainingError(
                "The dataset changed since the saved SoVITS state was written; start over with --restart."
            )
        _restore(run, state)
    # wrapped after restoring, so DDP broadcasts the restored weights from rank 0
    run.g = wrap_ddp(run.g, ctx, find_unused_parameters=True)
    run.d = wrap_ddp(run.d, ctx)
    return run, sampler


# --------------------------------------------------------------------------- one step
def _finite(loss: torch.Tensor, ctx: TrainContext) -> bool:
    """Whether every rank got a finite loss (all ranks must skip together, or DDP would hang)."""
    return not any_rank(not bool(torch.isfinite(loss.detach()).item()), ctx)


def _backward_step(
    loss: torch.Tensor, optim: torch.optim.Optimizer, scaler: torch.amp.GradScaler, ctx: TrainContext
) -> bool:
    optim.zero_grad(set_to_none=True)
    if not _finite(loss, ctx):
        return False
    scaler.scale(loss).backward()
    scaler.step(optim)  # no clipping: upstream only measures the gradient norm
    return True


def _generator_losses(
    run: _Run, batch: SoVITSBatch, out: SoVITSTrainOutput, real: torch.Tensor, ctx: TrainContext
) -> dict[str, torch.Tensor]:
    seg = run.models.config.segment_size
    with ctx.autocast(), frozen(run.d, enabled=not ctx.dist.enabled):
        _, d_fake, fmap_real, fmap_fake = run.d(real, out.wav)
    with torch.autocast(ctx.device.type, enabled=False):  # mel and losses in float32
        mel = mel_loss(out.wav, slice_segments(batch.spec, out.ids_slice, seg), run.mel)
        kl = kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.z_mask) * KL_WEIGHT
        fm = feature_loss(fmap_real, fmap_fake)
        gan, _ = generator_loss(d_fake)
    return {"gan": gan, "fm": fm, "mel": mel, "kl": kl, "commit": out.commit_loss.float()}


def _train_step(run: _Run, batch: SoVITSBatch, ctx: TrainContext) -> dict[str, float]:
    """One discriminator update, then one generator update (upstream's order). Returns float losses."""
    hop = run.models.config.hop_length
    seg = run.models.config.segment_size
    with ctx.autocast():
        out, aux = run.g(batch)
        real = slice_segments(batch.wav, out.ids_slice * hop, seg * hop)  # [B, 1, seg * hop]
        d_real, d_fake, _, _ = run.d(real, out.wav.detach())
    loss_d, _, _ = discriminator_loss(d_real, d_fake)
    stepped_d = _backward_step(loss_d, run.optim_d, run.scaler, ctx)
    parts = _generator_losses(run, batch, out, real, ctx)
    loss_g = sum(parts.values()) + aux.float()
    stepped_g = _backward_step(loss_g, run.optim_g, run.scaler, ctx)
    if stepped_d or stepped_g:
        run.scaler.update()
    if stepped_d and stepped_g:
        run.bad_steps = 0
    else:
        run.bad_steps += 1
        logger.warning("step %d: non-finite loss (D %s, G %s), update skipped", run.step + 1, loss_d, loss_g)
        if run.bad_steps >= MAX_BAD_STEPS:
            raise TrainingError(
                f"{MAX_BAD_STEPS} steps in a row had non-finite losses; lower --lr, use --precision fp32 "
                "or check the dataset."
            )
    values = {"g_total": loss_g, "d_total": loss_d, **{k: v for k, v in parts.items() if k != "commit"}}
    if hasattr(run.synth, "aligner"):
        values["aligner"] = aux
    return {k: float(v.detach()) for k, v in values.items()}


def _mean_across(parts: dict[str, float], ctx: TrainContext) -> dict[str, float]:
    """Losses averaged over the ranks (what rank 0 reports); unchanged in a single process."""
    if not ctx.dist.enabled:
        return parts
    import torch.distributed as tdist

    t = torch.tensor(list(parts.values()), dtype=torch.float64, device=ctx.device)
    tdist.all_reduce(t)
    return dict(zip(parts, (t / ctx.dist.world_size).tolist(), strict=True))


# --------------------------------------------------------------------------- files
def _save_checkpoint(run: _Run, exp: str, run_dir: Path, epoch: int, ctx: TrainContext, log: RunLog) -> None:
    from gpt_sovits import __version__
    from gpt_sovits.models.saving import save_sovits_file

    if not ctx.is_main:
        return
    path = run_dir / "checkpoints" / f"{exp}_e{epoch}_s{run.step}.pth"
    save_sovits_file(
        path,
        run.synth.state_dict(),
        official_config(run.models.raw_config, run.models.config),
        version=run.models.config.version,
        info=f"{epoch}epoch_{run.step}iteration",
        app_version=__version__,
        note=f"SoVITS fine-tuned on {exp} from {run.models.init_g.name}",
        overwrite=True,
    )
    if str(path) not in run.checkpoints:
        run.checkpoints.append(str(path))
    log.checkpoint(epoch=epoch, step=run.step, path=path)


def _write_state(run: _Run, run_dir: Path, ctx: TrainContext) -> None:
    if ctx.is_main:
        save_state(run_dir / "state.pt", _state(run, ctx))


# --------------------------------------------------------------------------- entry
def train_sovits(
    experiment: Experiment,
    options: SoVITSTrainOptions,
    ctx: TrainContext,
    log: RunLog,
    stop: StopFlag | None = None,
    *,
    discriminator_factory: Callable[[SoVITSConfig], nn.Module] | None = None,
) -> SoVITSTrainResult:
    """Fine-tune the SoVITS generator of ``experiment`` (resuming ``run_dir/state.pt`` unless ``restart``).

    ``stop``: a :class:`StopFlag` the caller already installed; by default one is installed here, so
    SIGTERM/SIGINT finish the current step, save the state and return with ``cancelled=True``.
    ``discriminator_factory`` (tests, experiments): build the discriminator from the SoVITS config instead
    of upstream's multi-period one; no pretrained discriminator is loaded then.
    """
    if stop is None:
        with StopFlag() as own:
            return _train(experiment, options, ctx, log, own, discriminator_factory)
    return _train(experiment, options, ctx, log, stop, discriminator_factory)


def _prepare(experiment: Experiment, options: SoVITSTrainOptions, ctx: TrainContext, factory):
    seed_everything(options.seed)  # before building: new aligner / from-scratch weights are seeded
    models = build_models(
        Path(options.init_g or experiment.read_manifest().base_sovits),
        init_d=Path(options.init_d) if options.init_d else None,
        from_scratch=options.from_scratch,
        aligner=options.aligner,
        discriminator_factory=factory,
    )
    config = models.config
    spectrogram = SpectrogramConfig(
        config.sampling_rate, config.filter_length, config.hop_length, config.win_length
    )
    dataset = SoVITSDataset(experiment, spectrogram, uses_sv=config.spec.uses_sv)
    if len(dataset) == 0:
        raise TrainingError(
            f"Experiment {experiment.name!r} has no prepared clip; run prepare first (see items.jsonl)."
        )
    run_dir = experiment.run_dir("sovits")
    state = _resume_state(run_dir / "state.pt", options, ctx)
    if state is not None:
        batch_size = int(state["batch_size"])  # the batches of a resumed epoch must be the same ones
    else:
        mean_seconds = sum(r.seconds for r in dataset.records) / len(dataset)
        batch_size = options.batch_size or auto_batch_size("sovits", ctx, len(dataset), mean_seconds)

    def sampler_for(size: int) -> BucketBatches:
        return BucketBatches(
            dataset.lengths,
            size,
            seed=options.seed,
            rank=ctx.dist.rank,
            world_size=ctx.dist.world_size,
            min_epoch_items=options.min_epoch_items,
        )

    run, sampler = _build_run(models, options, ctx, sampler_for, batch_size, state)
    return run, sampler, dataset, run_dir


def _train(experiment, options, ctx: TrainContext, log: RunLog, stop, factory) -> SoVITSTrainResult:
    run, sampler, dataset, run_dir = _prepare(experiment, options, ctx, factory)
    config = run.models.config
    log.start(
        epochs=options.epochs,
        steps=run.total_steps,
        config={
            **asdict(options),
            "batch_size": run.batch_size,
            "resolved_init_g": str(run.models.init_g),
            "resolved_init_d": str(run.models.init_d) if run.models.init_d else None,
            "version": config.version,
            "clips": len(dataset),
            "repeats": sampler.repeats,
            "steps_per_epoch": run.steps_per_epoch,
            "device": str(ctx.device),
            "precision": ctx.precision,
            "world_size": ctx.dist.world_size,
            "resumed_at_step": run.step,
            "aligner": hasattr(run.synth, "aligner"),
            "optimizer": "AdamW(betas=(0.8, 0.99), eps=1e-9), text side at lr*text_lr_ratio, x0.999875/epoch",
        },
    )
    losses: list[dict[str, float]] = []
    state_clock = StateClock()
    t0 = time.monotonic()
    while run.epoch < options.epochs and run.step < run.total_steps:
        batches = sampler.epoch(run.epoch + 1)
        for index in batches[run.step - run.epoch * run.steps_per_epoch :]:
            if run.step >= run.total_steps:
                break
            batch = collate(
                [dataset[i] for i in index], min_frames=config.segment_size, hop=config.hop_length
            )
            parts = _mean_across(_train_step(run, batch.to(ctx.device), ctx), ctx)
            run.step += 1
            losses.append(parts)
            log.progress(
                epoch=run.epoch + 1, step=run.step, losses=parts, lr=run.optim_g.param_groups[0]["lr"]
            )
            if any_rank(stop.requested, ctx):
                _write_state(run, run_dir, ctx)
                log.cancelled(epoch=run.epoch + 1, step=run.step)
                return SoVITSTrainResult([Path(p) for p in run.checkpoints], run.step, losses, cancelled=True)
        _end_of_pass(run, options, experiment.name, run_dir, ctx, log, state_clock)
    if losses:
        logger.info(
            "SoVITS training: %d steps, %.3f s per step", len(losses), (time.monotonic() - t0) / len(losses)
        )
    log.done(checkpoints=[Path(p) for p in run.checkpoints], steps=run.step)
    return SoVITSTrainResult([Path(p) for p in run.checkpoints], run.step, losses)


def _end_of_pass(
    run: _Run, options, exp: str, run_dir: Path, ctx: TrainContext, log: RunLog, state_clock: StateClock
) -> None:
    """After an epoch (or the step limit): decay the learning rate, save a checkpoint when due, save state."""
    finished_epoch = run.step == (run.epoch + 1) * run.steps_per_epoch
    last = run.step >= run.total_steps
    number = run.epoch + 1
    if finished_epoch:
        run.epoch += 1
        run.sched_g.step()
        run.sched_d.step()
    if finished_epoch or last:
        if last or number % max(options.save_every, 1) == 0 or number == options.epochs:
            _save_checkpoint(run, exp, run_dir, number, ctx, log)
    if state_clock.due(force=last):
        _write_state(run, run_dir, ctx)


__all__ = [
    "SoVITSTrainOptions",
    "SoVITSTrainResult",
    "add_sovits_arguments",
    "param_groups",
    "sovits_options_from_args",
    "train_sovits",
]
