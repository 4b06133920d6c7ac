"""What a job looks like from outside: its stored record (``job.json``) and the frozen :class:`JobStatus`.

The progress protocol (one JSON object per stdout line, with an ``"event"`` key) is described in
:mod:`gpt_sovits.jobs`; :class:`ProgressState` folds those events into the numbers a UI shows.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpt_sovits.fileio import atomic_write_bytes

# queued: created, process not started yet; running; done: exit code 0; failed: non-zero exit or could
# not start; cancelled: stopped on request; interrupted: the process vanished while no manager watched it
# (e.g. the WebUI was closed): rerun it with JobManager.resume, the trainers continue from state.pt.
JOB_STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINAL_STATES = frozenset({"done", "failed", "cancelled", "interrupted"})
PROTOCOL_EVENTS = frozenset({"start", "progress", "checkpoint", "done", "cancelled", "error"})
RECORD_FILE = "job.json"
LOG_FILE = "output.log"
EVENTS_FILE = "events.jsonl"


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of one job, safe to hand to another thread or to render."""

    id: str
    name: str
    status: str  # one of JOB_STATES
    argv: tuple[str, ...]
    folder: Path
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    return_code: int | None = None
    pid: int | None = None
    kind: str | None = None  # "gpt" / "sovits" for trainers: the ``kind`` of the last protocol event
    progress: float | None = None  # 0-1 from the last progress event (step/steps); 1.0 when done
    epoch: int | None = None
    epochs: int | None = None
    step: int | None = None
    steps: int | None = None
    eta_s: float | None = None
    elapsed_s: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    checkpoints: tuple[str, ...] = ()
    message: str = ""  # the error message of a failed job, or a short human line about its state
    log_tail: tuple[str, ...] = ()
    events: int = 0  # protocol events received so far (see Job.events_since)

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def resumable(self) -> bool:
        """An interrupted or cancelled job can be started again with the same command to continue."""
        return self.status in ("interrupted", "cancelled")


def write_event(event: str, **fields: Any) -> None:
    """A child's side of the protocol: one event as a JSON line on stdout, flushed at once so the job's reader
    sees it while the work goes on (:func:`parse_event` reads it back)."""
    sys.stdout.write(json.dumps({"event": event, **fields}, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class PercentProgress:
    """A ``progress(fraction[, message])`` callback for work measured in fractions: it writes a ``progress``
    event (step = percent done, steps = 100, the message if given) only when the percent grows, which is
    enough for a bar and few enough lines for a long file."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.shown = -1

    def __call__(self, fraction: float, message: str | None = None) -> None:
        step = int(min(max(fraction, 0.0), 1.0) * 100)
        if step > self.shown:
            self.shown = step
            extra = {} if message is None else {"message": message}
            write_event("progress", kind=self.kind, step=step, steps=100, **extra)


def parse_event(line: str) -> dict[str, Any] | None:
    """The protocol event a stdout line carries, or None for any other line (which goes to the log)."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("event"), str):
        return data
    return None


def _number(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (int/float), or None when it is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return kind(value)


@dataclass
class ProgressState:
    """The numbers folded from the protocol events of one job (mutable; owned by the job's lock)."""

    kind: str | None = None
    epoch: int | None = None
    epochs: int | None = None
    step: int | None = None
    steps: int | None = None
    eta_s: float | None = None
    elapsed_s: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    checkpoints: list[str] = field(default_factory=list)
    error: str | None = None
    finished: bool = False  # a "done" event was seen
    cancelled: bool = False  # a "cancelled" event was seen

    def update(self, event: dict[str, Any]) -> None:
        """Fold one protocol event in (unknown events and fields are ignored)."""
        name = event.get("event")
        if isinstance(event.get("kind"), str):
            self.kind = event["kind"]
        for key in ("epoch", "epochs", "step", "steps"):
            if (value := _number(event.get(key), int)) is not None:
                setattr(self, key, value)
        for key in ("eta_s", "elapsed_s"):
            if (value := _number(event.get(key), float)) is not None:
                setattr(self, key, value)
        if name == "progress" and isinstance(event.get("losses"), dict):
            self.losses = {
                str(k): float(v) for k, v in event["losses"].items() if _number(v, float) is not None
            }
        elif name == "checkpoint" and isinstance(event.get("path"), str):
            self.checkpoints.append(event["path"])
        elif name == "done":
            self.finished = True
            self.eta_s = 0.0
        elif name == "cancelled":
            self.cancelled = True
        elif name == "error":
            self.error = str(event.get("message") or "the job reported an error")

    def fraction(self, status: str) -> float | None:
        """Progress in [0, 1]: step/steps of the last event, 1.0 once the job is done."""
        if status == "done":
            return 1.0
        if self.steps and self.step is not None:
            return min(max(self.step / self.steps, 0.0), 1.0)
        if self.epochs and self.epoch is not None:
            return min(max(self.epoch / self.epochs, 0.0), 1.0)
        return None


@dataclass
class JobRecord:
    """The stored part of a job (``job.json``); the events and log live in their own files."""

    id: str
    name: str
    argv: list[str]
    cwd: str | None
    created_at: float = field(default_factory=time.time)
    status: str = "queued"
    started_at: float | None = None
    ended_at: float | None = None
    return_code: int | None = None
    pid: int | None = None
    pid_created: float | None = None  # process start time: tells our process from a reused pid
    message: str = ""
    resumes: str | None = None  # id of the job this one continues

    def save(self, folder: Path) -> None:
        data = json.dumps(self.__dict__, ensure_ascii=False, indent=2) + "\n"
        atomic_write_bytes(folder / RECORD_FILE, data.encode("utf-8"))

    @classmethod
    def load(cls, folder: Path) -> JobRecord:
        """Read ``folder/job.json``; raises ValueError/OSError when it is missing or unreadable."""
        data = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def read_events(folder: Path) -> list[dict[str, Any]]:
    """The protocol events stored in ``folder/events.jsonl`` (a torn last line is skipped)."""
    path = folder / EVENTS_FILE
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if (event := parse_event(line)) is not None:
            events.append(event)
    return events


def read_log_tail(folder: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of ``folder/output.log`` (reads at most the last 64 KiB)."""
    path = folder / LOG_FILE
    if not path.is_file():
        return []
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 65536))
        text = fh.read().decode("utf-8", errors="replace")
    return text.splitlines()[-lines:]
