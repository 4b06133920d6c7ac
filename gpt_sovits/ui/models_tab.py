"""Models tab: which model files are installed and which are loaded (on which device, how much memory);
download or import the pretrained set as a job with progress; import one model file; unload.

Downloads and folder imports run ``python -m gpt_sovits models download|import ... --progress json`` as jobs
(byte progress in the events); a 1 s timer follows the newest one while it runs and refreshes the tables when
it ends. Opening the tab re-reads everything and re-attaches to the newest models job (after a page reload).
"""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr
import pandas as pd

from gpt_sovits.jobs import JobError, JobStatus
from gpt_sovits.registry.importer import import_model_file
from gpt_sovits.registry.layout import how_to_get, missing_pretrained
from gpt_sovits.ui.common import bind_handler, log_tail, progress_html
from gpt_sovits.ui.context import AppContext
from gpt_sovits.ui.i18n import I18n
from gpt_sovits.ui.library_logic import (
    installed_rows,
    loaded_choices,
    loaded_rows,
    memory_markdown,
    split_choice,
)

# Job names (JobStatus.name) of this tab's jobs: the newest of these is the one the tab follows.
DOWNLOAD_JOB = "models-download"
IMPORT_JOB = "models-import"
MODEL_JOBS = (DOWNLOAD_JOB, IMPORT_JOB)
DOWNLOAD_SETS = ("v2", "v2pro", "all")  # set names the CLI accepts (see registry.layout.PRETRAINED_SETS)
INSTALLED_KEYS = (
    "models.col.source",
    "models.col.kind",
    "models.col.version",
    "models.col.path",
    "models.col.size",
)
LOADED_KEYS = (
    "models.col.kind",
    "models.col.path",
    "models.col.device",
    "models.col.dtype",
    "models.col.mb",
    "models.col.uses",
    "models.col.loaded_at",
)


def status_markdown(t: I18n, pretrained_dir: Path) -> str:
    """Markdown listing the missing pretrained files (or saying all are present)."""
    missing = missing_pretrained(pretrained_dir)
    if not missing:
        return t("models.all_present", folder=str(pretrained_dir))
    lines = [t("models.missing", folder=str(pretrained_dir)), ""]
    lines += [f"- `{m.path}`: {m.description} ({m.needed_for})" for m in missing]
    return "\n".join([*lines, "", how_to_get(pretrained_dir)])


def model_tables(ctx: AppContext, t: I18n) -> tuple:
    """(status Markdown, installed table, loaded table, memory Markdown, unload dropdown update), as now."""
    installed = pd.DataFrame(
        installed_rows(t, ctx.settings, ctx.voices), columns=[t(k) for k in INSTALLED_KEYS]
    )
    loaded = pd.DataFrame(loaded_rows(ctx.registry), columns=[t(k) for k in LOADED_KEYS])
    choices = loaded_choices(ctx.registry)
    return (
        status_markdown(t, ctx.settings.pretrained_dir),
        installed,
        loaded,
        memory_markdown(t, ctx.registry),
        gr.update(choices=choices, value=choices[0][1] if choices else None),
    )


def unload_one(ctx: AppContext, t: I18n, which: str | None) -> tuple:
    """Drop one loaded model from the registry (it loads again on its next use); returns the tables."""
    kind, path = split_choice(which or "")
    ctx.registry.unload(kind, path)
    return model_tables(ctx, t)


def unload_all(ctx: AppContext, t: I18n) -> tuple:
    """Drop every loaded model (synthesis loads what it needs again); returns the tables."""
    count = ctx.registry.unload()
    gr.Info(t("models.done.unloaded", count=str(count)))
    return model_tables(ctx, t)


def newest_job(ctx: AppContext) -> JobStatus | None:
    """The newest download or import job of this tab (also one an earlier WebUI process started)."""
    return next((s for s in ctx.jobs.list() if s.name in MODEL_JOBS), None)


def _check_idle(ctx: AppContext, t: I18n) -> None:
    # Two jobs writing into pretrained/ at once would race on the same .part files.
    running = newest_job(ctx)
    if running is not None and not running.finished:
        raise ValueError(t("models.err.busy", job=running.id))


def start_download(ctx: AppContext, t: I18n, which: str | None, endpoint: str | None) -> str:
    """Start ``models download <set> --progress json`` as a job; returns its id. ``endpoint`` (the page's
    field) is passed as ``--endpoint`` only when it differs from the setting (HF_ENDPOINT), which the child
    reads from its environment anyway."""
    which = which if which in DOWNLOAD_SETS else DOWNLOAD_SETS[0]
    _check_idle(ctx, t)
    args = ["models", "download", which, "--progress", "json"]
    url = (endpoint or "").strip().rstrip("/")
    if url and url != ctx.settings.hf_endpoint.rstrip("/"):
        if not url.startswith(("http://", "https://")):
            raise ValueError(t("models.err.endpoint", url=url))
        args += ["--endpoint", url]
    return ctx.start_module(DOWNLOAD_JOB, "gpt_sovits", *args).id


def start_import(ctx: AppContext, t: I18n, folder: str | None) -> str:
    """Start ``models import <folder> --progress json`` (a pretrained folder or a GPT-SoVITS installation)
    as a job; returns its id."""
    path = Path((folder or "").strip()).expanduser()
    if not (folder or "").strip() or not path.is_dir():
        raise ValueError(t("models.err.import_path", path=str(folder or "").strip()))
    _check_idle(ctx, t)
    return ctx.start_module(IMPORT_JOB, "gpt_sovits", "models", "import", str(path), "--progress", "json").id


def import_file(ctx: AppContext, t: I18n, file: str | None) -> tuple:
    """Copy one uploaded GPT (.ckpt) or SoVITS (.pth) file into ``pretrained/user/`` after reading it safely
    (a damaged, wrong or malicious file is refused with the reason); returns (message, *tables)."""
    if not file:
        raise ValueError(t("models.err.no_file"))
    done = import_model_file(file, ctx.settings.pretrained_dir)
    message = t(
        "models.done.file_imported",
        what=done.identity.describe(),
        dest=str(done.dest),
        status=t("models.file.identical") if done.status == "identical" else t("models.file.copied"),
    )
    return (message, *model_tables(ctx, t))


def cancel_job(ctx: AppContext, t: I18n, job_id: str | None) -> str:
    """Stop the followed job (a download keeps its .part files and resumes next time)."""
    if not job_id:
        raise ValueError(t("models.err.no_job"))
    return progress_html(t, ctx.jobs.get(job_id).cancel())


def follow(ctx: AppContext, t: I18n, job_id: str | None, last_status: str | None) -> tuple:
    """One timer tick: (progress HTML, log tail, status seen, timer update, *tables). The tables are re-read
    once, when the job has just finished (files appeared); otherwise they are left as they are."""
    try:
        status = ctx.jobs.get(job_id).snapshot() if job_id else None
    except JobError:  # its folder was removed: stop following instead of failing every second
        status = None
    state = status.status if status else None
    just_finished = status is not None and status.finished and last_status != state
    tables = model_tables(ctx, t) if just_finished else (gr.skip(),) * 5
    running = status is not None and not status.finished
    return (progress_html(t, status), log_tail(status), state, gr.Timer(active=running), *tables)


def attach(ctx: AppContext, t: I18n) -> tuple:
    """On opening the tab: the newest models job (id, progress, log, status, timer) and fresh tables."""
    status = newest_job(ctx)
    running = status is not None and not status.finished
    return (
        status.id if status else None,
        progress_html(t, status),
        log_tail(status),
        status.status if status else None,
        gr.Timer(active=running),
        *model_tables(ctx, t),
    )


def started(ctx: AppContext, t: I18n, job_id: str) -> tuple:
    """After a start button: follow the new job (id, progress, log, status seen, active timer). No status is
    recorded as seen, so the first tick that finds the job finished refreshes the tables, however fast it was."""
    status = ctx.jobs.get(job_id).snapshot()
    return job_id, progress_html(t, status), log_tail(status), None, gr.Timer(active=True)


def build(ctx: AppContext, t: I18n, tab: gr.Tab) -> None:
    """Add the tab's components to the current Blocks context."""
    gr.Markdown(f"### {t('models.status')}")
    status_md = gr.Markdown(status_markdown(t, ctx.settings.pretrained_dir), elem_id="models-status")
    installed = gr.Dataframe(
        headers=[t(k) for k in INSTALLED_KEYS],
        label=t("models.installed"),
        interactive=False,
        wrap=True,
        elem_id="models-installed",
    )
    loaded = gr.Dataframe(
        headers=[t(k) for k in LOADED_KEYS],
        label=t("models.loaded"),
        interactive=False,
        elem_id="models-loaded",
    )
    memory = gr.Markdown(elem_id="models-memory")
    with gr.Row():
        refresh = gr.Button(t("models.refresh"), elem_id="models-refresh")
        which = gr.Dropdown([], value=None, label=t("models.unload_which"), elem_id="models-unload-which")
        unload = gr.Button(t("models.unload"), elem_id="models-unload")
        unload_every = gr.Button(t("models.unload_all"), variant="stop", elem_id="models-unload-all")
    gr.Markdown(f"### {t('models.get')}")
    with gr.Row():
        download_set = gr.Dropdown(
            list(DOWNLOAD_SETS), value="v2", label=t("models.download_which"), elem_id="models-download-which"
        )
        endpoint = gr.Textbox(
            ctx.settings.hf_endpoint,
            label=t("models.endpoint"),
            info=t("models.endpoint_info"),
            elem_id="models-endpoint",
        )
        download = gr.Button(t("models.download"), variant="primary", elem_id="models-download")
    with gr.Row():
        import_path = gr.Textbox(
            label=t("models.import_path"), info=t("models.import_path_info"), elem_id="models-import-path"
        )
        import_button = gr.Button(t("models.import"), elem_id="models-import")
    with gr.Row():
        upload = gr.File(
            label=t("models.import_file"),
            file_types=[".ckpt", ".pth"],
            type="filepath",
            elem_id="models-import-file",
        )
        upload_button = gr.Button(t("models.import_file_button"), elem_id="models-import-file-button")
    file_message = gr.Markdown(elem_id="models-import-file-result")
    progress = gr.HTML(progress_html(t, None), elem_id="models-progress")
    cancel = gr.Button(t("models.cancel"), elem_id="models-cancel")
    log = gr.Textbox(label=t("models.log"), lines=8, max_lines=8, interactive=False, elem_id="models-log")
    job_id, seen = gr.State(None), gr.State(None)
    timer = gr.Timer(1.0, active=False)

    bind = functools.partial(bind_handler, ctx, t)  # handlers are fn(ctx, t, *values)

    tables = [status_md, installed, loaded, memory, which]
    follow_out = [job_id, progress, log, seen, timer]
    tab.select(bind(attach), None, [*follow_out, *tables])
    refresh.click(bind(model_tables), None, tables)
    unload.click(bind(unload_one), [which], tables)
    unload_every.click(bind(unload_all), None, tables)
    download.click(bind(start_download), [download_set, endpoint], [job_id]).success(
        bind(started), [job_id], follow_out
    )
    import_button.click(bind(start_import), [import_path], [job_id]).success(
        bind(started), [job_id], follow_out
    )
    upload_button.click(bind(import_file), [upload], [file_message, *tables])
    cancel.click(bind(cancel_job), [job_id], [progress])
    timer.tick(bind(follow), [job_id, seen], [progress, log, seen, timer, *tables])
