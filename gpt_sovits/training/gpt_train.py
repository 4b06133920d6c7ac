"""Fine-tune the text-to-semantic GPT on a prepared experiment, writing official ``.ckpt`` files.

Loss: the official one, cross entropy summed over every target position of the batch (codes, then EOS;
see :meth:`Text2SemanticModel.forward`). With ``dpo`` the reference-free DPO term of upstream's optional
``if_dpo`` mode (beta 0.2, rejected targets = the codes with a random span repeated or deleted) is added.

Optimizer: upstream trains with ScaledAdam (lr 0.01 nominal, betas 0.9/0.95) and a warmup/cosine schedule
that is in fact locked to a constant 0.002. ScaledAdam scales each update by the parameter's RMS, so 0.002
means "change a weight by about 0.2 % of its size per step" and it clips gradients at twice their recent
median norm. We use plain AdamW (betas 0.9/0.95, no weight decay, so nothing pulls the pretrained weights
towards zero) with a peak lr of 1e-4 -- about 0.2 % of the typical 0.02-0.05 weight RMS of the pretrained
GPT -- a short linear warmup (fresh Adam moments are noisy) and a cosine decay to 10 % of the peak over the
run, so the last epochs settle instead of hopping. Gradients are clipped at twice the median of the last
100 gradient norms, the same rule as ScaledAdam's, which needs no absolute threshold for a summed loss.
Upstream also accumulates four batches per optimizer step; we step every batch.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.models.loading import load_gpt
from gpt_sovits.models.saving import save_gpt_file
from gpt_sovits.models.t2s.model import ACCURACY_TOP_K, topk_accuracy
from gpt_sovits.training import gpt_data
from gpt_sovits.training.experiment import Experiment
from gpt_sovits.training.loop import (
    StateClock,
    StopFlag,
    TrainContext,
    adamw,
    add_run_arguments,
    any_rank,
    auto_batch_size,
    barrier,
    load_state,
    options_from_args,
    rng_state,
    save_state,
    seed_everything,
    set_rng_state,
    unwrap,
    warmup_cosine,
    wrap_ddp,
)
from gpt_sovits.training.runlog import RunLog

logger = logging.getLogger(__name__)

STATE_FORMAT = "gpt-sovits-studio/gpt-train-state"
DPO_BETA = 0.2
LR_FLOOR = 0.1  # cosine decays to this fraction of the peak lr
CLIP_HISTORY = 100
CLIP_FACTOR = 2.0


class GPTTrainingError(GPTSoVITSError):
    """GPT fine-tuning cannot start (no usable clips, incompatible resume state, ...)."""


@dataclass(frozen=True)
class GPTTrainOptions:
    """What ``train-gpt`` was asked to do (written to ``config.json`` as given, plus resolved values)."""

    exp: str
    init: str | None = None  # GPT .ckpt to start from; None = the experiment's base GPT
    epochs: int = 15
    batch_size: int | None = None  # None = from free memory
    lr: float = 1e-4
    warmup_steps: int = 50
    save_every: int = 5  # epochs; the last epoch is always saved
    dpo: bool = False
    seed: int = 1234
    device: str = "auto"
    precision: str = "auto"
    restart: bool = False
    max_steps: int | None = None  # stop (and save) after this many steps in all
    min_epoch_items: int = 100  # a smaller dataset is repeated within an epoch (as upstream does)


@dataclass
class GPTTrainResult:
    """What a run produced: official checkpoints, global steps done, per-step losses of this call."""

    checkpoints: list[Path]
    steps: int
    losses: list[float] = field(default_factory=list)
    cancelled: bool = False


def add_gpt_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``train-gpt`` options to a parser (the CLI stays a thin wrapper)."""
    d = GPTTrainOptions(exp="x")
    parser.add_argument("--exp", required=True, help="experiment name (a prepared folder under logs/)")
    parser.add_argument("--init", default=None, help="GPT .ckpt to start from (default: the base GPT)")
    parser.add_argument("--lr", type=float, default=d.lr, help="peak AdamW learning rate")
    parser.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    parser.add_argument("--dpo", action="store_true", help="add the DPO loss against corrupted codes")
    add_run_arguments(parser, d)


def gpt_options_from_args(args: argparse.Namespace) -> GPTTrainOptions:
    """The options parsed by :func:`add_gpt_arguments`."""
    return options_from_args(GPTTrainOptions, args)


# --------------------------------------------------------------------------- losses
def sequence_logp(logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Summed log-probability of each row's codes and its EOS: ``[B]`` from logits ``[B, T+1, V]``.

    Upstream also sums over padding positions (which target EOS); we count only a row's own ``len + 1``
    targets, so the DPO margin does not depend on what else is in the batch.
    """
    logp = logits.float().log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # [B, T+1]
    keep = torch.arange(targets.shape[1], device=targets.device).unsqueeze(0) <= lengths.unsqueeze(1)
    return (logp * keep).sum(-1)


def dpo_term(chosen_logp: torch.Tensor, rejected_logp: torch.Tensor, beta: float = DPO_BETA) -> torch.Tensor:
    """Reference-free DPO loss: mean of ``-log sigmoid(beta * (log p(chosen) - log p(rejected)))``."""
    return -F.logsigmoid(beta * (chosen_logp - rejected_logp)).mean()


def compute_loss(
    model: torch.nn.Module, batch: gpt_data.GPTBatch, ctx: TrainContext, dpo_gen: torch.Generator | None
) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss of one batch (fp32 scalar) and its parts for the log."""
    if dpo_gen is None:
        with ctx.autocast():
            out = model(batch.phones, batch.phone_lens, batch.codes, batch.code_lens, batch.bert)
        loss = out.loss.float()
        return loss, {"loss": loss.item(), "ce": loss.item(), "acc": out.accuracy.item()}
    # Chosen and rejected rows go through ONE forward (one DDP reduction per step). Logits of the chosen
    # rows up to their own padded length equal those of a chosen-only batch (causal audio attention).
    n, t_c = batch.codes.shape
    rej, rej_lens, _ = gpt_data.make_rejected(batch.codes, batch.code_lens, dpo_gen)
    width = max(t_c, rej.shape[1])
    codes = torch.cat([F.pad(batch.codes, (0, width - t_c)), F.pad(rej, (0, width - rej.shape[1]))])
    with ctx.autocast():
        out = model(
            batch.phones.repeat(2, 1),
            batch.phone_lens.repeat(2),
            codes,
            torch.cat([batch.code_lens, rej_lens]),
            batch.bert.repeat(2, 1, 1),
        )
    logits, targets = out.logits[:n, : t_c + 1].float(), out.targets[:n, : t_c + 1]
    ce = F.cross_entropy(logits.transpose(1, 2), targets, reduction="sum")
    chosen = sequence_logp(out.logits[:n], out.targets[:n], batch.code_lens)
    rejected = sequence_logp(out.logits[n:], out.targets[n:], rej_lens)
    dpo = dpo_term(chosen, rejected)
    acc = topk_accuracy(logits.detach(), targets, ACCURACY_TOP_K, unwrap(model).config.eos)
    loss = ce + dpo
    return loss, {"loss": loss.item(), "ce": ce.item(), "dpo": dpo.item(), "acc": acc.item()}


def _clip(params: list[torch.nn.Parameter], history: list[float]) -> float:
    """Clip at twice the median recent gradient norm (ScaledAdam's rule); returns the norm before clipping."""
    limit = CLIP_FACTOR * statistics.median(history) if len(history) >= 10 else math.inf
    norm = float(torch.nn.utils.clip_grad_norm_(params, limit))
    if math.isfinite(norm):
        history.append(norm)
        del history[:-CLIP_HISTORY]
    return norm


# --------------------------------------------------------------------------- the run
@dataclass
class _Run:
    """Everything one run mutates (and ``state.pt`` stores)."""

    model: torch.nn.Module  # DDP-wrapped in a DDP launch
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    batch_size: int
    steps_per_epoch: int
    total_steps: int
    n_samples: int
    epoch: int = 0  # 0-based epoch in progress
    step: int = 0  # optimizer steps done in all
    clip_history: list[float] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)

    def state(self) -> dict:
        return {
            "format": STATE_FORMAT,
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "batch_size": self.batch_size,
            "n_samples": self.n_samples,
            "clip_history": list(self.clip_history),
            "checkpoints": list(self.checkpoints),
            "rng": rng_state(),
        }

    def restore(self, state: dict) -> None:
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.clip_history = [float(x) for x in state["clip_history"]]
        self.checkpoints = [str(p) for p in state["checkpoints"]]
        set_rng_state(state["rng"])


def _resume_state(run_dir: Path, options: GPTTrainOptions, n_samples: int) -> dict | None:
    """The saved state to continue from, ``None`` for a fresh start; a clear error when it cannot fit."""
    if options.restart:
        return None
    state = load_state(run_dir / "state.pt")
    if state is None:
        return None
    if state.get("format") != STATE_FORMAT:
        raise GPTTrainingError(f"{run_dir / 'state.pt'} is not a GPT training state; use --restart.")
    if int(state["n_samples"]) != n_samples:
        raise GPTTrainingError(
            f"The prepared data changed since the saved run ({state['n_samples']} clips then, {n_samples} "
            "now); use --restart to train from the beginning on the new data."
        )
    return state


def _build(
    experiment: Experiment, options: GPTTrainOptions, ctx: TrainContext, samples: list, state: dict | None
):
    """Model, optimizer, schedule and batch plan; restored from ``state`` when given."""
    init = options.init or experiment.read_manifest().base_gpt
    if not init or not Path(init).is_file():
        raise GPTTrainingError(f"The GPT to start from ({init!r}) does not exist; pass --init FILE.ckpt.")
    loaded = load_gpt(init)
    if "model" not in loaded.raw_config:
        raise GPTTrainingError(f"{init} carries no model config; start from an official or studio GPT file.")
    model = loaded.module.to(ctx.device).train()
    if state is not None:
        batch_size = int(state["batch_size"])  # the same batches as before, whatever memory says now
        if options.batch_size and options.batch_size != batch_size:
            logger.warning("resuming with the saved batch size %d (use --restart to change it)", batch_size)
    elif options.batch_size:
        batch_size = options.batch_size
    else:
        mean_sec = sum(s.seconds for s in samples) / len(samples)
        batch_size = auto_batch_size("gpt", ctx, len(samples), mean_sec)
        if options.dpo:  # chosen and rejected rows share one forward: twice the rows per batch
            batch_size = max(1, batch_size // 2)
    repeat = gpt_data.repeat_factor(len(samples), options.min_epoch_items)
    per_epoch = gpt_data.batches_per_epoch(len(samples), batch_size, repeat, ctx.dist.world_size)
    total = options.epochs * per_epoch
    if options.max_steps is not None:
        total = min(total, options.max_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = adamw(params, lr=options.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    warm = min(options.warmup_steps, max(total // 10, 1))

    def factor(i: int) -> float:
        return warmup_cosine(i, warmup=warm, total=total, floor=LR_FLOOR)

    run = _Run(
        model=wrap_ddp(model, ctx),
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, factor),
        scaler=ctx.grad_scaler(),
        batch_size=batch_size,
        steps_per_epoch=per_epoch,
        total_steps=total,
        n_samples=len(samples),
    )
    if state is not None:
        run.restore(state)
    return run, loaded, repeat


def _mean_across(parts: dict[str, float], ctx: TrainContext) -> dict[str, float]:
    """Loss parts averaged over the DDP ranks (for the log only)."""
    if not ctx.dist.enabled:
        return parts
    import torch.distributed as tdist

    t = torch.tensor(list(parts.values()), dtype=torch.float64, device=ctx.device)
    tdist.all_reduce(t)
    return dict(zip(parts, (t / ctx.dist.world_size).tolist(), strict=True))


def _train_step(run: _Run, batch: gpt_data.GPTBatch, ctx: TrainContext, dpo_gen) -> dict[str, float]:
    loss, parts = compute_loss(run.model, batch, ctx, dpo_gen)
    if not torch.isfinite(loss):
        raise GPTTrainingError(
            f"The GPT loss became {loss.item()} at step {run.step + 1}; lower --lr or use --precision fp32."
        )
    run.scaler.scale(loss).backward()
    run.scaler.unscale_(run.optimizer)
    parts["grad_norm"] = _clip([p for g in run.optimizer.param_groups for p in g["params"]], run.clip_history)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.optimizer.zero_grad(set_to_none=True)
    run.scheduler.step()
    run.step += 1
    return parts


def _save_checkpoint(run: _Run, loaded, exp: str, run_dir: Path, epoch: int, ctx, log: RunLog) -> None:
    """Official ``.ckpt`` of the current weights as ``{exp}-e{epoch}.ckpt`` (rank 0 only)."""
    if not ctx.is_main:
        return
    path = run_dir / "checkpoints" / f"{exp}-e{epoch}.ckpt"
    plain = unwrap(run.model)
    save_gpt_file(
        path,
        plain.state_dict(),
        loaded.raw_config,
        version=loaded.version,
        info=f"GPT-e{epoch}",
        overwrite=True,
    )
    if str(path) not in run.checkpoints:
        run.checkpoints.append(str(path))
    log.checkpoint(epoch=epoch, step=run.step, path=path)


def _write_state(run: _Run, run_dir: Path, ctx: TrainContext) -> None:
    if ctx.is_main:
        save_state(run_dir / "state.pt", run.state())
    barrier(ctx)


def train_gpt(
    experiment: Experiment,
    options: GPTTrainOptions,
    ctx: TrainContext,
    log: RunLog,
    stop: StopFlag | None = None,
) -> GPTTrainResult:
    """Fine-tune the GPT of ``experiment`` (resuming ``run_dir/state.pt`` unless ``options.restart``).

    ``stop``: a :class:`StopFlag` the caller already installed; by default one is installed here, so
    SIGTERM/SIGINT finish the current step, save the state and return with ``cancelled=True``.
    """
    if stop is None:
        with StopFlag() as own:
            return _train(experiment, options, ctx, log, own)
    return _train(experiment, options, ctx, log, stop)


def _run_config(options: GPTTrainOptions, ctx: TrainContext, run: _Run, loaded, n: int, repeat: int) -> dict:
    """``config.json``: the options as given plus what was resolved from them."""
    return {
        **asdict(options),
        "batch_size": run.batch_size,
        "resolved_init": str(loaded.path),
        "samples": n,
        "repeat": repeat,
        "steps_per_epoch": run.steps_per_epoch,
        "device": str(ctx.device),
        "precision": ctx.precision,
        "world_size": ctx.dist.world_size,
        "resumed_at_step": run.step,
        "optimizer": "AdamW(betas=(0.9, 0.95), weight_decay=0), linear warmup + cosine to 10% of lr",
    }


def _train(
    experiment: Experiment, options: GPTTrainOptions, ctx: TrainContext, log: RunLog, stop: StopFlag
) -> GPTTrainResult:
    run_dir = experiment.run_dir("gpt")
    samples = gpt_data.load_gpt_samples(experiment)
    if not samples:
        raise GPTTrainingError(
            f"Experiment {experiment.name!r} has no clip the GPT can train on; check items.jsonl / prepare."
        )
    seed_everything(options.seed)
    state = _resume_state(run_dir, options, len(samples))
    if options.restart and ctx.is_main:  # a restart that stops early must not leave the old state to resume
        (run_dir / "state.pt").unlink(missing_ok=True)
    run, loaded, repeat = _build(experiment, options, ctx, samples, state)
    lengths = [s.codes.numel() for s in samples]
    config = _run_config(options, ctx, run, loaded, len(samples), repeat)
    log.start(epochs=options.epochs, steps=run.total_steps, config=config)
    losses: list[float] = []
    state_clock = StateClock()
    t0 = time.monotonic()
    while run.epoch < options.epochs and run.step < run.total_steps:
        plan = gpt_data.plan_epoch(
            lengths,
            run.batch_size,
            seed=options.seed,
            epoch=run.epoch,
            repeat=repeat,
            world_size=ctx.dist.world_size,
        )
        mine = gpt_data.rank_batches(plan, ctx.dist.rank, ctx.dist.world_size)
        if len(mine) != run.steps_per_epoch:  # would loop forever; a bug, not a user error
            raise RuntimeError(f"epoch plan has {len(mine)} batches, expected {run.steps_per_epoch}")
        for index in mine[run.step - run.epoch * run.steps_per_epoch :]:
            if run.step >= run.total_steps:
                break
            batch = gpt_data.collate([samples[i] for i in index]).to(ctx.device)
            gen = None
            if options.dpo:  # corruption drawn from (seed, step, rank): identical after a resume
                gen = torch.Generator().manual_seed(
                    (options.seed * 1_000_003 + run.step) * 64 + ctx.dist.rank
                )
            parts = _mean_across(_train_step(run, batch, ctx, gen), ctx)
            losses.append(parts["loss"])
            log.progress(epoch=run.epoch + 1, step=run.step, losses=parts, lr=run.scheduler.get_last_lr()[0])
            if any_rank(stop.requested, ctx):
                _write_state(run, run_dir, ctx)
                log.cancelled(epoch=run.epoch + 1, step=run.step)
                return GPTTrainResult([Path(p) for p in run.checkpoints], run.step, losses, cancelled=True)
        finished_epoch = run.step == (run.epoch + 1) * run.steps_per_epoch
        last = run.step >= run.total_steps
        if finished_epoch or last:
            number = run.epoch + 1
            if last or number % max(options.save_every, 1) == 0 or number == options.epochs:
                _save_checkpoint(run, loaded, experiment.name, run_dir, number, ctx, log)
        if finished_epoch:
            run.epoch += 1
        if state_clock.due(force=last):
            _write_state(run, run_dir, ctx)
    done = len(losses)
    if done:
        logger.info("GPT training: %d steps, %.3f s per step", done, (time.monotonic() - t0) / done)
    log.done(checkpoints=[Path(p) for p in run.checkpoints], steps=run.step)
    return GPTTrainResult([Path(p) for p in run.checkpoints], run.step, losses)
