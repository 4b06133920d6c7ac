"""Long jobs (preparation, training, evaluation) run as child processes that the WebUI and CLI follow.

:class:`JobManager` starts a command given as an argument list (never through a shell) and gives it a
folder ``root/<id>/``:

* ``job.json``: the command, status, times, process id and return code (rewritten atomically);
* ``output.log``: stderr and every stdout line that is not a protocol event, as they come;
* ``events.jsonl``: the protocol events, one per line.

Protocol: a child reports progress by printing JSON objects, one per stdout line, each with an ``"event"``
key: ``start`` (kind, epochs, steps, run_dir), ``progress`` (kind, epoch, epochs, step, steps, losses,
lr, eta_s, elapsed_s), ``checkpoint`` (kind, epoch, step, path), ``done`` (kind, checkpoints, steps),
``cancelled`` and ``error`` (message). Children should flush stdout after every line.

Cancel sends SIGTERM (terminate on Windows); the trainers finish the current step, save their state and
exit; SIGKILL follows after a timeout. Jobs of earlier processes are listed from their folders; one whose
process vanished before it finished shows as ``interrupted`` and can be started again with
:meth:`JobManager.resume`.
"""

from gpt_sovits.jobs.manager import Job, JobError, JobManager, python_module_command
from gpt_sovits.jobs.status import FINAL_STATES, JOB_STATES, JobStatus, parse_event

__all__ = [
    "FINAL_STATES",
    "JOB_STATES",
    "Job",
    "JobError",
    "JobManager",
    "JobStatus",
    "parse_event",
    "python_module_command",
]
