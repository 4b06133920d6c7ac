"""Pieces every tab uses: readable errors, job progress rendering, saving audio for download."""

from __future__ import annotations

import functools
import html
import inspect
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.fileio import size_text
from gpt_sovits.jobs import JobStatus
from gpt_sovits.ui.i18n import I18n

logger = logging.getLogger(__name__)

# Errors whose message is written for the user: shown as they are. Anything else is a bug: logged with its
# traceback and shown as one line that says where the details are.
USER_ERRORS = (GPTSoVITSError, FileNotFoundError, PermissionError, ValueError)


def user_error(t: I18n, exc: BaseException) -> gr.Error:
    """The ``gr.Error`` (a readable message box in the page, never a traceback) for ``exc``."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, USER_ERRORS):
        return gr.Error(str(exc) or type(exc).__name__)
    logger.exception("Unexpected error in a WebUI action")
    return gr.Error(t("error.unexpected", message=f"{type(exc).__name__}: {exc}"))


def readable(t: I18n) -> Callable[[Callable], Callable]:
    """Decorate a Gradio handler (plain function or generator) so every error reaches the page as a readable
    message: ``@readable(t)``. The wrapper keeps the signature, so ``gr.Request``/``gr.Progress`` still work."""

    def decorate(fn: Callable) -> Callable:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any):
                try:
                    yield from fn(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - turned into a message in the page
                    raise user_error(t, exc) from None

            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - turned into a message in the page
                raise user_error(t, exc) from None

        return wrapper

    return decorate


def bind_handler(ctx: Any, t: I18n, fn: Callable) -> Callable:
    """A Gradio handler of the page's values from ``fn(ctx, t, *values)``: ``ctx`` and ``t`` filled in,
    errors readable (:func:`readable`), generators kept generators, and the name and signature gradio reads
    (the API name; ``gr.Request``/``gr.Progress`` parameters) those of ``fn`` without its first two."""
    if inspect.isgeneratorfunction(fn):

        def bound(*args: Any, **kwargs: Any):
            yield from fn(ctx, t, *args, **kwargs)
    else:

        def bound(*args: Any, **kwargs: Any):
            return fn(ctx, t, *args, **kwargs)

    functools.update_wrapper(bound, fn)
    sig = inspect.signature(fn)
    bound.__signature__ = sig.replace(parameters=list(sig.parameters.values())[2:])
    return readable(t)(bound)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else (f"{seconds // 60}:{seconds % 60:02d}")
    )


def progress_html(t: I18n, status: JobStatus | None, elem_class: str = "job-progress") -> str:
    """An HTML progress bar with the job's state, step and ETA (``<progress>`` so tests can read it)."""
    if status is None:
        return f'<div class="{elem_class}" data-status="none">{html.escape(t("job.none"))}</div>'
    value = status.progress if status.progress is not None else (1.0 if status.status == "done" else 0.0)
    state = t(JOB_STATE_KEYS[status.status]) if status.status in JOB_STATE_KEYS else status.status
    parts = [f"<b>{html.escape(status.name)}</b>: {html.escape(state)}"]
    if status.steps and status.kind == "download":  # a download counts bytes
        parts.append(t("job.bytes", done=size_text(status.step or 0), total=size_text(status.steps)))
    elif status.steps:
        parts.append(t("job.step", step=str(status.step or 0), steps=str(status.steps)))
    if status.epochs:
        parts.append(t("job.epoch", epoch=str(status.epoch or 0), epochs=str(status.epochs)))
    if status.status == "running":
        parts.append(t("job.eta", eta=_duration(status.eta_s)))
    if status.losses:
        parts.append(", ".join(f"{k} {v:.3g}" for k, v in sorted(status.losses.items())))
    text = " · ".join(parts)
    message = f'<div class="job-message">{html.escape(status.message)}</div>' if status.message else ""
    return (
        f'<div class="{elem_class}" data-status="{status.status}" data-job="{html.escape(status.id)}">'
        f'<progress max="1" value="{value:.4f}" style="width:100%"></progress>'
        f"<div>{text}</div>{message}</div>"
    )


# Literal keys (the i18n coverage test finds keys only as string literals).
JOB_STATE_KEYS = {
    "queued": "job.state.queued",
    "running": "job.state.running",
    "done": "job.state.done",
    "failed": "job.state.failed",
    "cancelled": "job.state.cancelled",
    "interrupted": "job.state.interrupted",
}


def log_tail(status: JobStatus | None, lines: int = 30) -> str:
    """The last lines of a job's log, for a read-only textbox."""
    if status is None:
        return ""
    return "\n".join(status.log_tail[-lines:])


def save_audio(folder: Path, stem: str, audio: np.ndarray, sample_rate: int) -> Path:
    """Write ``audio`` (float, mono) as a 16-bit wav under ``folder`` with a unique, timestamped name, so a
    download never overwrites an earlier result."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    path = folder / f"{base}.wav"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{base}-{n}.wav"
    sf.write(path, np.asarray(audio, dtype=np.float32), sample_rate, subtype="PCM_16")
    return path
