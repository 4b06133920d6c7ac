"""Progress of a training run: JSON lines on stdout, ``progress.jsonl``, TensorBoard and ``train.log``.

A training child process writes one JSON object per line on stdout and nothing else (the job runner and
the web UI parse it; logs go to stderr and ``train.log``). The same lines are appended to
``run_dir/progress.jsonl`` so a finished or crashed run can be inspected later, and the losses and the
learning rate go to TensorBoard under ``run_dir/tb``. Events::

    {"event": "start", "kind", "epochs", "steps", "run_dir"}
    {"event": "progress", "kind", "epoch", "epochs", "step", "steps", "losses", "lr", "eta_s", "elapsed_s"}
    {"event": "checkpoint", "kind", "epoch", "step", "path"}
    {"event": "done", "kind", "checkpoints", "steps"}
    {"event": "cancelled", "kind", "epoch", "step"}
    {"event": "error", "kind", "message"}

In a DDP launch only rank 0 reports: a :class:`RunLog` made with ``main=False`` does nothing at all.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from gpt_sovits.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

# The package logger gets the run's FileHandler, so every module's messages land in train.log.
_PACKAGE_LOGGER = "gpt_sovits"


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become null (NaN is not valid JSON), paths become strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # 0-d tensors / numpy scalars
        return _clean(value.item())
    return value


class RunLog:
    """Reports one training run (see the module docstring). Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        run_dir: Path,
        kind: str,
        *,
        main: bool = True,
        stream: TextIO | None = None,
        tensorboard: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.kind = kind
        self.main = main
        self._stream = stream if stream is not None else sys.stdout
        self._want_tb = tensorboard
        self._writer = None
        self._handler: logging.FileHandler | None = None
        self._old_level: int | None = None
        self._epochs = 0
        self._steps = 0
        self._t_start = time.monotonic()
        self._rate_anchor: tuple[float, int] | None = None  # (time, step) of the first progress report
        self._closed = False
        if not main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._progress_file = (self.run_dir / "progress.jsonl").open("a", encoding="utf-8")
        self._attach_file_handler()

    # ----------------------------------------------------------------- plumbing
    def _attach_file_handler(self) -> None:
        handler = logging.FileHandler(self.run_dir / "train.log", encoding="utf-8")
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        pkg = logging.getLogger(_PACKAGE_LOGGER)
        # INFO must reach the handler even when nobody configured logging; restored in close().
        if pkg.getEffectiveLevel() > logging.INFO:
            self._old_level = pkg.level
            pkg.setLevel(logging.INFO)
        pkg.addHandler(handler)
        self._handler = handler

    def _tb(self):
        """The TensorBoard writer, created on first use (importing tensorboard is slow)."""
        if self._writer is None and self._want_tb:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a dependency, but a broken install must not stop training
                log.warning("TensorBoard is not available; losses are only written to progress.jsonl.")
                self._want_tb = False
                return None
            self._writer = SummaryWriter(log_dir=str(self.run_dir / "tb"))
        return self._writer

    def _emit(self, event: str, **fields: Any) -> None:
        if not self.main or self._closed:
            return
        line = json.dumps(_clean({"event": event, "kind": self.kind, **fields}), ensure_ascii=False)
        self._stream.write(line + "\n")
        self._stream.flush()
        self._progress_file.write(line + "\n")
        self._progress_file.flush()

    # ----------------------------------------------------------------- events
    def start(self, *, epochs: int, steps: int, config: dict) -> None:
        """Write ``config.json`` (the resolved options) and report the planned epochs and steps."""
        if not self.main:
            return
        self._epochs, self._steps = epochs, steps
        self._t_start = time.monotonic()
        self._rate_anchor = None
        text = json.dumps(_clean(config), ensure_ascii=False, indent=2) + "\n"
        atomic_write_bytes(self.run_dir / "config.json", text.encode("utf-8"))
        log.info("%s training: %d epochs, %d steps, run folder %s", self.kind, epochs, steps, self.run_dir)
        self._emit("start", epochs=epochs, steps=steps, run_dir=str(self.run_dir))

    def progress(self, *, epoch: int, step: int, losses: dict[str, float], lr: float) -> None:
        """Report the losses after ``step`` (global, 1-based); the ETA comes from this run's step rate."""
        if not self.main:
            return
        now = time.monotonic()
        if self._rate_anchor is None:
            # The first reported step includes start-up costs (and, on resume, earlier steps): measure
            # the rate from here on.
            self._rate_anchor = (now, step)
            eta = float("nan")
        else:
            t0, s0 = self._rate_anchor
            rate = (step - s0) / max(now - t0, 1e-9)
            eta = (self._steps - step) / rate if rate > 0 else float("nan")
        losses = {k: float(v) for k, v in losses.items()}
        writer = self._tb()
        if writer is not None:
            for name, value in losses.items():
                writer.add_scalar(f"{self.kind}/{name}", value, step)
            writer.add_scalar(f"{self.kind}/lr", float(lr), step)
        self._emit(
            "progress",
            epoch=epoch,
            epochs=self._epochs,
            step=step,
            steps=self._steps,
            losses=losses,
            lr=float(lr),
            eta_s=max(eta, 0.0) if math.isfinite(eta) else eta,
            elapsed_s=now - self._t_start,
        )

    def checkpoint(self, *, epoch: int, step: int, path: Path) -> None:
        """Report a saved official-format file."""
        if not self.main:
            return
        log.info("saved %s (epoch %d, step %d)", path, epoch, step)
        self._emit("checkpoint", epoch=epoch, step=step, path=str(path))

    def done(self, *, checkpoints: list[Path], steps: int) -> None:
        """Report the end of a completed run."""
        if not self.main:
            return
        log.info("%s training finished after %d steps", self.kind, steps)
        self._emit("done", checkpoints=[str(p) for p in checkpoints], steps=steps)

    def cancelled(self, *, epoch: int, step: int) -> None:
        """Report a run stopped on request (its state was saved; a new run resumes it)."""
        if not self.main:
            return
        log.info("%s training cancelled at epoch %d, step %d; state saved", self.kind, epoch, step)
        self._emit("cancelled", epoch=epoch, step=step)

    def error(self, message: str) -> None:
        """Report a failure the user has to act on."""
        if not self.main:
            return
        log.error("%s training failed: %s", self.kind, message)
        self._emit("error", message=message)

    # ----------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Flush and close the files and remove the ``train.log`` handler (safe to call twice)."""
        if not self.main or self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None
        self._progress_file.close()
        pkg = logging.getLogger(_PACKAGE_LOGGER)
        if self._handler is not None:
            pkg.removeHandler(self._handler)
            self._handler.close()
            self._handler = None
        if self._old_level is not None:
            pkg.setLevel(self._old_level)
            self._old_level = None

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
