"""Run long jobs (training, preparation, evaluation) as child processes and follow their progress.

See :mod:`gpt_sovits.jobs` for the folder layout and the stdout protocol.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.jobs.status import (
    EVENTS_FILE,
    FINAL_STATES,
    LOG_FILE,
    RECORD_FILE,
    JobRecord,
    JobStatus,
    ProgressState,
    parse_event,
    read_events,
    read_log_tail,
)

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 200
Callback = Callable[["Job", dict[str, Any]], None]


class JobError(GPTSoVITSError):
    """A job cannot be started, found or controlled as asked."""


def python_module_command(module: str, *args: str) -> list[str]:
    """The argument list that runs ``python -m module args...`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def _process_created(pid: int) -> float | None:
    """Start time of process ``pid`` (None if it does not exist): tells it from a later reuse of the pid."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:40] or "job"


class Job:
    """One job: its process (when started by this manager), record, events and log.

    Every method is thread-safe. Subscribers (:meth:`subscribe`) are called from the job's reader thread
    with each protocol event, and finally with ``{"event": "exit", "status", "return_code"}``.
    """

    def __init__(self, folder: Path, record: JobRecord, events: list[dict] | None = None) -> None:
        self.folder = folder
        self._record = record
        self._lock = threading.Condition()
        self._events: list[dict[str, Any]] = []
        self._state = ProgressState()
        self._tail: deque[str] = deque(read_log_tail(folder, LOG_TAIL_LINES), maxlen=LOG_TAIL_LINES)
        self._subscribers: list[Callback] = []
        self._proc: subprocess.Popen | None = None
        self._cancel_requested = False
        self._done = threading.Event()
        for event in events or ():
            self._add_event(event)
        if record.status in FINAL_STATES:
            self._done.set()

    # ------------------------------------------------------------------ read side
    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def log_path(self) -> Path:
        return self.folder / LOG_FILE

    def snapshot(self) -> JobStatus:
        """The job as it is now."""
        with self._lock:
            r, s = self._record, self._state
            return JobStatus(
                id=r.id,
                name=r.name,
                status=r.status,
                argv=tuple(r.argv),
                folder=self.folder,
                created_at=r.created_at,
                started_at=r.started_at,
                ended_at=r.ended_at,
                return_code=r.return_code,
                pid=r.pid,
                kind=s.kind,
                progress=s.fraction(r.status),
                epoch=s.epoch,
                epochs=s.epochs,
                step=s.step,
                steps=s.steps,
                eta_s=s.eta_s,
                elapsed_s=s.elapsed_s,
                losses=dict(s.losses),
                checkpoints=tuple(s.checkpoints),
                message=r.message,
                log_tail=tuple(self._tail),
                events=len(self._events),
            )

    def events_since(self, index: int = 0, timeout: float | None = None) -> list[dict[str, Any]]:
        """Protocol events number ``index`` onwards. With ``timeout``, wait up to that long for at least
        one new event (returns early, possibly empty, when the job ends)."""
        if self._proc is None:  # a job of an earlier process: nothing tells us of new events, poll its files
            deadline = time.monotonic() + (timeout or 0.0)
            while True:
                self._refresh_foreign()
                with self._lock:
                    ready = len(self._events) > index or self._done.is_set()
                if ready or time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
        with self._lock:
            if timeout is not None and self._proc is not None:
                self._lock.wait_for(lambda: len(self._events) > index or self._done.is_set(), timeout)
            return [dict(e) for e in self._events[index:]]

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(job, event)`` for every later event; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Wait until the job has ended (or ``timeout`` seconds passed) and return its status."""
        if self._proc is None and not self._done.is_set():
            self._poll_foreign(timeout)
        else:
            self._done.wait(timeout)
        return self.snapshot()

    # ------------------------------------------------------------------ control
    def cancel(self, timeout: float = 30.0) -> JobStatus:
        """Ask the job to stop and wait for it.

        POSIX: SIGTERM (the trainers finish the current step, save their state and exit), then SIGKILL to
        the whole process group after ``timeout`` seconds. Windows: ``terminate()``.
        """
        with self._lock:
            if self._done.is_set():
                return self.snapshot()
            self._cancel_requested = True
            pid = self._record.pid
        if pid is None:  # not started yet
            self._finish(None, "cancelled", "Cancelled before it started.")
            return self.snapshot()
        self._signal(terminate=True)
        if self.wait(timeout).finished:
            return self.snapshot()
        logger.warning("Job %s did not stop within %.0f s after SIGTERM; killing it.", self.id, timeout)
        self._signal(terminate=False)
        return self.wait(10.0)

    def _signal(self, terminate: bool) -> None:
        pid = self._record.pid
        try:
            if self._proc is None and (pid is None or _process_created(pid) != self._record.pid_created):
                return  # a foreign job whose process is gone: the pid may belong to someone else now
            if os.name != "posix":
                if self._proc is None:
                    os.kill(pid, signal.SIGTERM)  # TerminateProcess on Windows
                elif terminate:
                    self._proc.terminate()
                else:
                    self._proc.kill()
                return
            if terminate:
                # Only the leader: torchrun forwards it to its workers itself.
                os.kill(pid, signal.SIGTERM)
            else:
                os.killpg(pid, signal.SIGKILL)  # the child leads its own group (start_new_session)
        except (ProcessLookupError, PermissionError):
            pass

    # ------------------------------------------------------------------ internals
    def _add_event(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        self._state.update(event)

    def _notify(self, event: dict[str, Any]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(self, event)
            except Exception:  # a broken UI callback must not stop the reader
                logger.exception("A job subscriber failed on %s", event.get("event"))

    def _log_line(self, log, line: str) -> None:
        with self._lock:
            self._tail.append(line)
            log.write(line + "\n")
            log.flush()

    def _read_stdout(self, stream, log, events_file) -> None:
        for raw in stream:
            line = raw.rstrip("\r\n")
            event = parse_event(line)
            if event is None:
                self._log_line(log, line)
                continue
            with self._lock:
                events_file.write(json.dumps(event, ensure_ascii=False) + "\n")
                events_file.flush()
                self._add_event(event)
                self._lock.notify_all()
            self._notify(event)

    def _read_stderr(self, stream, log) -> None:
        for raw in stream:
            self._log_line(log, raw.rstrip("\r\n"))

    def _start(self, env: Mapping[str, str] | None) -> None:
        """Start the process and the threads that read it and wait for it."""
        r = self._record
        log = (self.folder / LOG_FILE).open("a", encoding="utf-8")
        events_file = (self.folder / EVENTS_FILE).open("a", encoding="utf-8")
        try:
            self._proc = subprocess.Popen(
                r.argv,
                cwd=r.cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                start_new_session=os.name == "posix",  # its own group: a terminal's Ctrl-C does not hit it
            )
        except OSError as exc:
            log.close()
            events_file.close()
            self._finish(None, "failed", f"Could not start {r.argv[0]!r}: {exc}")
            raise JobError(f"Could not start the job {r.name!r} ({r.argv[0]}): {exc}") from exc
        with self._lock:
            r.pid = self._proc.pid
            r.pid_created = _process_created(self._proc.pid)
            r.started_at = time.time()
            r.status = "running"
            r.save(self.folder)
        readers = [
            threading.Thread(
                target=self._read_stdout, args=(self._proc.stdout, log, events_file), daemon=True
            ),
            threading.Thread(target=self._read_stderr, args=(self._proc.stderr, log), daemon=True),
        ]
        for t in readers:
            t.start()

        def monitor() -> None:
            for t in readers:
                t.join()
            code = self._proc.wait()
            log.close()
            events_file.close()
            self._finish(code, *self._outcome(code))

        threading.Thread(target=monitor, name=f"job-{r.id}", daemon=True).start()

    def _outcome(self, code: int) -> tuple[str, str]:
        """(status, message) of a process that exited with ``code``."""
        with self._lock:
            s, cancel = self._state, self._cancel_requested
            last = next((line.strip() for line in reversed(self._tail) if line.strip()), "")
        if cancel or s.cancelled:
            return "cancelled", "Cancelled; run it again to continue from the saved state."
        if code == 0:
            return "done", "Finished."
        why = s.error or last or "no output"
        if code < 0:
            return "failed", f"Killed by signal {-code}: {why}"
        return "failed", f"Exited with code {code}: {why}"

    def _finish(self, code: int | None, status: str, message: str) -> None:
        with self._lock:
            r = self._record
            r.return_code, r.status, r.message, r.ended_at = code, status, message, time.time()
            r.save(self.folder)
            self._done.set()
            self._lock.notify_all()
        self._notify({"event": "exit", "status": status, "return_code": code, "message": message})

    def _poll_foreign(self, timeout: float | None) -> None:
        """Wait for a job that another (earlier) process started: watch its pid."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.is_set():
            self._refresh_foreign()
            if self._done.is_set() or (deadline is not None and time.monotonic() >= deadline):
                return
            time.sleep(0.2)

    def _refresh_foreign(self) -> None:
        """Reload a foreign job's files; mark it interrupted (or cancelled) once its process is gone."""
        with self._lock:
            r = self._record
            if self._proc is not None or r.status in FINAL_STATES:
                return
            try:
                stored = JobRecord.load(self.folder)
            except (OSError, ValueError):
                stored = r
            self._record = r = stored
            self._events, self._state = [], ProgressState()
            for event in read_events(self.folder):
                self._add_event(event)
            self._tail = deque(read_log_tail(self.folder, LOG_TAIL_LINES), maxlen=LOG_TAIL_LINES)
            alive = r.pid is not None and _process_created(r.pid) == r.pid_created
            if r.status in FINAL_STATES:
                self._done.set()
                return
            if alive:
                return
            cancelled = self._cancel_requested or self._state.cancelled
        if cancelled:
            self._finish(None, "cancelled", "Cancelled; run it again to continue from the saved state.")
        else:
            self._finish(None, "interrupted", "Its process ended while no manager was watching; resume it.")


class JobManager:
    """Starts jobs under ``root/<id>/`` and lists them, including those of earlier processes."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike | None = None,
        env: Mapping[str, str] | None = None,
        resumes: str | None = None,
    ) -> Job:
        """Start ``argv`` (a list: no shell is involved) as job ``name`` and return it at once.

        ``env`` is the child's complete environment (None: inherit this process's); build it with the
        settings of the entry point. Raises :class:`JobError` when the program cannot be started.
        """
        argv = [str(a) for a in argv]
        if not argv:
            raise JobError("A job needs a command: the argument list is empty.")
        job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}-{secrets.token_hex(3)}"
        folder = self.root / job_id
        folder.mkdir(parents=True, exist_ok=False)
        record = JobRecord(job_id, name, argv, str(cwd) if cwd is not None else None, resumes=resumes)
        record.save(folder)
        job = Job(folder, record)
        with self._lock:
            self._jobs[job_id] = job
        job._start(env)
        logger.info("Started job %s: %s", job_id, " ".join(argv))
        return job

    def resume(self, job_id: str, *, env: Mapping[str, str] | None = None) -> Job:
        """Start an interrupted, cancelled or failed job again with the same command and folder; the
        trainers continue from their saved state."""
        old = self.get(job_id).snapshot()
        if not old.finished:
            raise JobError(f"Job {job_id} is still {old.status}; cancel it before starting it again.")
        record = JobRecord.load(old.folder)
        return self.start(record.name, record.argv, cwd=record.cwd, env=env, resumes=job_id)

    def get(self, job_id: str) -> Job:
        """The job with this id (also one started by an earlier process)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                return job
            folder = self.root / job_id
            if "/" in job_id or "\\" in job_id or not (folder / RECORD_FILE).is_file():
                raise JobError(f"There is no job {job_id!r} under {self.root}.")
            job = self._load(folder)
            if job is None:
                raise JobError(f"The record of job {job_id!r} ({folder / RECORD_FILE}) is unreadable.")
            self._jobs[job_id] = job
            return job

    def list(self) -> list[JobStatus]:
        """Every job under ``root``, newest first; jobs whose process vanished show as ``interrupted``."""
        if self.root.is_dir():
            for folder in self.root.iterdir():
                if (folder / RECORD_FILE).is_file() and folder.name not in self._jobs:
                    job = self._load(folder)
                    if job is not None:
                        with self._lock:
                            self._jobs.setdefault(folder.name, job)
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job._refresh_foreign()
        return sorted((j.snapshot() for j in jobs), key=lambda s: (s.created_at, s.id), reverse=True)

    @staticmethod
    def _load(folder: Path) -> Job | None:
        try:
            record = JobRecord.load(folder)
        except (OSError, ValueError, TypeError) as exc:
            logger.warning("Skipping job folder %s: unreadable %s (%s)", folder, RECORD_FILE, exc)
            return None
        job = Job(folder, record, read_events(folder))
        job._refresh_foreign()
        return job
