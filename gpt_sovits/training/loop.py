"""Pieces shared by the GPT and SoVITS trainers: device/precision context, DDP, cancel, seeds, resume state.

Everything a trainer needs to know about where it runs is in one :class:`TrainContext`, made once at the
entry point (:func:`make_context`) and passed down; nothing below reads the environment.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import random
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gpt_sovits.device import choose_device
from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.fileio import atomic_write_bytes
from gpt_sovits.settings import DistributedEnv

log = logging.getLogger(__name__)

_PRECISIONS = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
_DTYPES = {name: dtype for dtype, name in _PRECISIONS.items()}


class TrainingError(GPTSoVITSError):
    """A training run cannot start or continue (bad precision, unreadable resume state, ...)."""


# --------------------------------------------------------------------------- context
@dataclass(frozen=True)
class TrainContext:
    """Where and how a training process computes: device, autocast precision and its DDP rank."""

    device: torch.device
    precision: str  # "fp32" | "bf16" | "fp16"
    dist: DistributedEnv = field(default_factory=DistributedEnv)

    @property
    def amp_dtype(self) -> torch.dtype:
        return _DTYPES[self.precision]

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes files and reports progress."""
        return self.dist.is_main

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision region for forward passes (a no-op in fp32); losses are taken in fp32 outside."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A loss scaler, active only for fp16 (bf16 has fp32's range and needs none)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")


def _cpu_autocast_works(dtype: torch.dtype) -> bool:
    """Whether this CPU/torch build runs a matmul under autocast in ``dtype`` (a tiny probe)."""
    try:
        a = torch.randn(4, 8)
        with torch.autocast("cpu", dtype=dtype):
            out = a @ a.T  # [4, 4]
        return out.dtype == dtype and bool(torch.isfinite(out.float()).all())
    except (RuntimeError, TypeError):
        return False


def _cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (without it, bf16 is emulated and slower than fp32)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and _cpu_autocast_works(torch.bfloat16)
    except (AttributeError, RuntimeError):
        return False


def make_context(
    device: str = "auto", precision: str = "auto", dist: DistributedEnv | None = None
) -> TrainContext:
    """Resolve the device and precision once.

    "auto" precision is bf16 (fp16 on GPUs older than compute capability 8.0) autocast on CUDA; on the CPU it
    is bf16 autocast when the CPU computes bf16 natively (AVX512-BF16 or AMX: measured 1.3-1.7x faster steps
    in bench/train.py; weights, optimizer state, losses, mel and MAS stay fp32), else fp32. "bf16" on the CPU
    is allowed when this CPU and torch build support it. In a DDP launch on CUDA each rank uses the GPU of
    its ``local_rank``.
    """
    dist = dist or DistributedEnv()
    if dist.enabled and device in ("auto", "cuda") and torch.cuda.is_available():
        device = f"cuda:{dist.local_rank}"
    if precision == "auto" and choose_device(device).device.type == "cpu" and _cpu_has_native_bf16():
        precision = "bf16"
    try:
        choice = choose_device(device, precision)
    except (RuntimeError, ValueError) as exc:
        raise TrainingError(str(exc)) from None
    name = _PRECISIONS[choice.dtype]
    if choice.device.type == "cpu" and name != "fp32":
        if name == "fp16":
            raise TrainingError(
                "fp16 training is only supported on CUDA; on the CPU use --precision fp32 or bf16."
            )
        if not _cpu_autocast_works(torch.bfloat16):
            raise TrainingError(
                "This CPU or torch build cannot run bf16 autocast; use --precision fp32 (the CPU default)."
            )
    return TrainContext(device=choice.device, precision=name, dist=dist)


# --------------------------------------------------------------------------- distributed
def init_distributed(ctx: TrainContext) -> None:
    """Start the process group (nccl on CUDA, gloo on the CPU); a no-op for a single process.

    torchrun's ``MASTER_ADDR``/``MASTER_PORT`` are read by torch.distributed itself (``env://``).
    """
    import torch.distributed as tdist

    if not ctx.dist.enabled or tdist.is_initialized():
        return
    backend = "nccl" if ctx.device.type == "cuda" else "gloo"
    if ctx.device.type == "cuda":
        torch.cuda.set_device(ctx.device)
    tdist.init_process_group(backend=backend, rank=ctx.dist.rank, world_size=ctx.dist.world_size)
    log.info("DDP rank %d/%d started (%s)", ctx.dist.rank, ctx.dist.world_size, backend)


def shutdown_distributed(ctx: TrainContext) -> None:
    """Tear the process group down (no-op when none is running)."""
    import torch.distributed as tdist

    if ctx.dist.enabled and tdist.is_initialized():
        tdist.destroy_process_group()


def wrap_ddp(module: nn.Module, ctx: TrainContext, *, find_unused_parameters: bool = False) -> nn.Module:
    """``DistributedDataParallel(module)`` in a DDP launch, else ``module`` itself."""
    if not ctx.dist.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused_parameters)


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (whose state-dict keys carry no ``module.`` prefix)."""
    return getattr(module, "module", module)


def any_rank(flag: bool, ctx: TrainContext) -> bool:
    """True when ``flag`` is true on any rank, so that every rank stops at the same step (no DDP hang)."""
    if not ctx.dist.enabled:
        return flag
    import torch.distributed as tdist

    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(ctx: TrainContext) -> None:
    """Wait for every rank (no-op for a single process)."""
    if ctx.dist.enabled:
        import torch.distributed as tdist

        tdist.barrier()


# --------------------------------------------------------------------------- cancel
class StopFlag:
    """Turn SIGTERM/SIGINT into a request to stop after the current step (handlers restored on exit).

    A second signal while a stop is pending raises ``KeyboardInterrupt`` so a stuck run can still be
    killed. Outside the main thread no handlers can be installed; :meth:`request` still works.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def request(self) -> None:
        """Ask the run to stop (what the signal handler does; also for tests and in-process callers)."""
        self.requested = True

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        log.warning("signal %d received: stopping after the current step", signum)
        self.requested = True

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


# --------------------------------------------------------------------------- seeds and RNG state
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % (2**32))
    except ImportError:
        pass


def rng_state() -> dict:
    """Every RNG state, stored as tensors and primitives only (loadable with ``weights_only=True``)."""
    version, internal, gauss = random.getstate()
    state: dict = {"python": [version, list(internal), gauss], "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    try:
        import numpy as np

        name, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = [
            name,
            torch.from_numpy(keys.astype("int64")),
            int(pos),
            int(has_gauss),
            float(cached),
        ]
    except ImportError:
        pass
    return state


def set_rng_state(d: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = d["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(d["torch"])
    if "cuda" in d and torch.cuda.is_available() and len(d["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(d["cuda"])
    if "numpy" in d:
        import numpy as np

        name, keys, pos, has_gauss, cached = d["numpy"]
        np.random.set_state((name, keys.numpy().astype("uint32"), pos, has_gauss, cached))


# --------------------------------------------------------------------------- resume state
def save_state(path: Path, state: dict) -> None:
    """Write a resume state atomically. Store only tensors, primitives and ``state_dict()`` outputs."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())


def load_state(path: Path) -> dict | None:
    """Read a resume state with the safe loader; ``None`` when there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable state means the same thing to the user
        raise TrainingError(
            f"The resume state {path} is unreadable ({type(exc).__name__}: {exc}); "
            "start over with --restart (or delete the file)."
        ) from None


# --------------------------------------------------------------------------- batch size
# Rough activation memory per second of audio in one batch item under bf16/fp16 autocast (doubled for fp32).
# GPT: the full v2 model (77.6 M parameters) kept ~70 MB per item-second of fp32 activations for backward
# on the CPU (measured, 4-8 s clips); 60 MB at half precision leaves margin for backward's temporaries.
# SoVITS: a loose estimate. The result is clamped and only a starting point (--batch-size overrides it).
_BYTES_PER_ITEM_SECOND = {"gpt": 60 * 2**20, "sovits": 400 * 2**20}
_FIXED_RESERVE = {"gpt": 3 * 2**30, "sovits": 4 * 2**30}  # weights, optimizer state, allocator slack
_MAX_BATCH = {"cuda": 32, "cpu": 8}  # large CPU batches only make steps slower, not training faster


def auto_batch_size(kind: str, ctx: TrainContext, n_items: int, mean_seconds: float) -> int:
    """A batch size that fits the free memory of the device (a heuristic; at least 1, at most ``n_items``)."""
    if ctx.device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(ctx.device)
    else:
        import psutil

        free = psutil.virtual_memory().available
    per_item = _BYTES_PER_ITEM_SECOND.get(kind, _BYTES_PER_ITEM_SECOND["sovits"]) * max(mean_seconds, 1.0)
    if ctx.precision == "fp32":
        per_item *= 2  # fp32 activations take twice the room of bf16/fp16 ones
    usable = max(free - _FIXED_RESERVE.get(kind, 2**30), 0) * 0.7
    size = int(usable // per_item)
    cap = _MAX_BATCH["cuda" if ctx.device.type == "cuda" else "cpu"]
    per_rank_items = max(math.ceil(n_items / max(ctx.dist.world_size, 1)), 1)
    return max(1, min(size, cap, per_rank_items))


# --------------------------------------------------------------------------- schedule
def warmup_cosine(step: int, *, warmup: int, total: int, floor: float = 0.0) -> float:
    """Learning-rate factor: linear 0->1 over ``warmup`` steps, then cosine 1->``floor`` until ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def adamw(params, *, lr: float, betas: tuple[float, float], eps: float, weight_decay: float = 0.0):
    """AdamW with the fused kernel (CPU and CUDA): one pass over each tensor instead of a handful of
    temporaries; on the CPU that saves ~0.15 s per step for every 50 M parameters."""
    return torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=True)


@contextlib.contextmanager
def frozen(module: nn.Module, enabled: bool = True):
    """Run a forward without building weight gradients for ``module`` (its inputs still get gradients).

    The generator's loss goes through the discriminator, but only the generator is updated by it: skipping
    the discriminator's weight gradients there saves a large part of its backward pass. Not for a DDP-wrapped
    module (its reducer expects a gradient for every parameter it was built with)."""
    if not enabled:
        yield
        return
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def add_run_arguments(parser, defaults) -> None:
    """The options both trainers share (``defaults``: an options dataclass instance for the defaults)."""
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=None, help="default: chosen from free memory")
    parser.add_argument(
        "--save-every", type=int, default=defaults.save_every, help="epochs between checkpoints"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", default=defaults.device, help="auto, cpu, cuda, cuda:N")
    parser.add_argument(
        "--precision",
        default=defaults.precision,
        choices=["auto", "fp32", "bf16", "fp16"],
        help="auto: bf16/fp16 autocast on CUDA, bf16 autocast on CPUs with native bf16, else fp32",
    )
    parser.add_argument("--restart", action="store_true", help="ignore the saved state and start over")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument(
        "--min-epoch-items",
        type=int,
        default=defaults.min_epoch_items,
        help="a smaller dataset is repeated to about this many clips per epoch, as upstream does (default 100); "
        "lower it for a shorter run",
    )


def options_from_args(cls, args):
    """An options dataclass from parsed arguments: every field that has an argument of its name."""
    import dataclasses

    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)})


STATE_EVERY_S = 300.0


class StateClock:
    """When to write ``state.pt`` at the end of an epoch: at most every ``interval`` seconds.

    Writing the full resume state (weights and optimizer moments: ~1 GB for the full GPT, ~1.5 GB for SoVITS
    with its discriminator) takes 3-4 s on this machine; after every short epoch of a one-minute dataset that
    added about 1.5 minutes to a run. A crash now loses at most ``interval`` of work; a cancel and the end of
    the run always write.
    """

    def __init__(self, interval: float = STATE_EVERY_S) -> None:
        import time

        self.interval = interval
        self._clock = time.monotonic
        self._last = self._clock()

    def due(self, force: bool = False) -> bool:
        now = self._clock()
        if force or now - self._last >= self.interval:
            self._last = now
            return True
        return False
