"""Data tab: recordings -> vocal separation -> slicing -> ASR labels, then the proofreading table.

The three long steps run as jobs (``tools.separate``, ``tools.slicer``, ``tools.asr`` with ``--progress json``);
one progress bar follows the newest of them and, when it ends, the table reloads (after ASR the new list
opens). Table edits are short and run in the handlers (see :mod:`gpt_sovits.ui.proofread`).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.jobs import JobError
from gpt_sovits.ui import data_jobs as dj
from gpt_sovits.ui import proofread as pr
from gpt_sovits.ui.common import log_tail, progress_html, readable
from gpt_sovits.ui.context import (
    DATASETS_FOLDER,
    PROJECT_ROOT,
    UPLOADS_FOLDER,
    AppContext,
    check_folder_name,
)
from gpt_sovits.ui.i18n import I18n
from tools.slicer.options import DEFAULT_OPTIONS

# Literal keys (the i18n coverage test reads keys from the source).
FILTER_KEYS = {
    "all": "data.filter.all",
    "flagged": "data.filter.flagged",
    "missing": "data.flag.missing",
    "unreadable": "data.flag.unreadable",
    "too_short": "data.flag.too_short",
    "too_long": "data.flag.too_long",
    "unusable_length": "data.flag.unusable_length",
    "clipping": "data.flag.clipping",
    "silence": "data.flag.silence",
    "no_speech": "data.flag.no_speech",
    "low_asr_confidence": "data.flag.low_asr_confidence",
    "empty_text": "data.flag.empty_text",
    "unknown_language": "data.flag.unknown_language",
    "duplicate_name": "data.flag.duplicate_name",
    "qa": "data.filter.qa",
    "qa:text_too_long": "data.flag.qa_text_too_long",
    "qa:poor_fit": "data.flag.qa_poor_fit",
    "qa:durations": "data.flag.qa_durations",
    "qa:flagged": "data.flag.qa_flagged",
}
COLUMN_KEYS = ("data.col.row", "data.col.flags", "data.col.duration", "data.col.text")
COLUMN_KEYS += ("data.col.language", "data.col.speaker", "data.col.clip")
ASR_LANGUAGE_KEYS = {
    "auto": "data.lang.auto",
    "en": "data.lang.en",
    "zh": "data.lang.zh",
    "ja": "data.lang.ja",
    "ko": "data.lang.ko",
    "yue": "data.lang.yue",
}
SLICE_MODE_KEYS = {"vad": "data.mode.vad", "rms": "data.mode.rms"}
LIST_LANGUAGES = ["EN", "ZH", "JA", "KO", "YUE"]
# Slicer CLI option -> default shown in the settings accordion.
SLICE_SETTINGS = {
    "threshold": DEFAULT_OPTIONS.threshold_db,
    "min-length": DEFAULT_OPTIONS.min_length_ms,
    "max-length": DEFAULT_OPTIONS.max_length_ms,
    "min-interval": DEFAULT_OPTIONS.min_interval_ms,
    "max-sil-kept": DEFAULT_OPTIONS.max_sil_kept_ms,
}


# ---------------------------------------------------------------------------------------------- datasets
def dataset_folder(ctx: AppContext, name: str, create: bool = True) -> Path:
    """The dataset's folder; an unsafe name ("../x") raises a message naming the allowed characters."""
    safe = check_folder_name(name, "dataset name")
    if create:
        return ctx.dataset_dir(safe)
    return ctx.settings.logs_dir / UPLOADS_FOLDER / DATASETS_FOLDER / safe  # the summary line makes nothing


def dataset_summary(ctx: AppContext, t: I18n, name: str) -> str:
    """One line about the dataset: recordings, voice tracks, clips, list rows."""
    folder = dataset_folder(ctx, name, create=False)
    counts = {k: str(v) for k, v in dj.summary(folder).items()}
    return t("data.summary", name=folder.name, **counts)


def upload_recordings(ctx: AppContext, t: I18n, name: str, files: list | None) -> tuple[str, str, None]:
    """Copy uploaded recordings into ``raw/`` (never overwriting); returns (message, summary, cleared upload)."""
    if not files:
        raise ValueError(t("data.no_files"))
    folder = dataset_folder(ctx, name)
    added, refused = dj.add_recordings(folder, files if isinstance(files, list) else [files])
    message = t("data.added", n=str(len(added)), folder=str(folder / dj.RAW))
    if refused:
        message += " " + t("data.refused", names=", ".join(refused))
    return message, dataset_summary(ctx, t, name), None


def _start(ctx: AppContext, t: I18n, kind: str, dataset: Path, module: str, args: list[str]):
    job = ctx.start_module(dj.job_name(kind, dataset.name), module, *args)
    return job.id, progress_html(t, job.snapshot()), t("data.started", job=job.name)


def _folder_with_recordings(ctx: AppContext, t: I18n, name: str) -> Path:
    """The dataset's folder; refused readably while it holds no recordings."""
    folder = dataset_folder(ctx, name)
    if not dj.audio_files(folder / dj.RAW):
        raise ValueError(t("data.no_recordings"))
    return folder


def start_separation(ctx: AppContext, t: I18n, name: str) -> tuple[str, str, str]:
    """Start ``tools.separate`` on the recordings without a voice track; returns (job id, bar, message)."""
    folder = _folder_with_recordings(ctx, t, name)
    inputs = dj.separation_inputs(folder)
    if not inputs:
        raise ValueError(t("data.nothing_to_separate"))
    return _start(ctx, t, "separate", folder, "tools.separate", dj.separate_args(folder, inputs))


def start_slicing(
    ctx: AppContext, t: I18n, name: str, mode: str, *settings: float | None
) -> tuple[str, str, str]:
    """Start ``tools.slicer`` on the recordings (voice tracks where separated) not sliced yet."""
    folder = _folder_with_recordings(ctx, t, name)
    inputs = dj.slice_inputs(folder)
    if not inputs:
        raise ValueError(t("data.nothing_to_slice"))
    values = dict(zip(SLICE_SETTINGS, settings or SLICE_SETTINGS.values()))
    return _start(ctx, t, "slice", folder, "tools.slicer", dj.slice_args(folder, inputs, mode, values))


def start_asr(ctx: AppContext, t: I18n, name: str, language: str, model: str = "") -> tuple[str, str, str]:
    """Start ``tools.asr`` on the dataset's clips, writing ``<dataset>/<name>.list`` (speaker = dataset)."""
    folder = dataset_folder(ctx, name)
    source, clips = dj.write_asr_input(folder)
    if not clips:
        raise ValueError(t("data.no_clips"))
    return _start(ctx, t, "asr", folder, "tools.asr", dj.asr_args(folder, source, language, model))


def cancel_job(ctx: AppContext, t: I18n, job_id: str | None) -> str:
    """Stop the followed job; returns the progress bar."""
    if not job_id:
        return progress_html(t, None)
    return progress_html(t, ctx.jobs.get(job_id).cancel(timeout=10.0))


def newest_job(ctx: AppContext) -> str:
    """The id of the newest Data tab job ("" when there is none)."""
    return next((s.id for s in ctx.jobs.list() if dj.job_kind(s.name)), "")


def list_choices(ctx: AppContext) -> list[str]:
    """The dataset lists for the list dropdown, newest first."""
    return [str(p) for p in ctx.dataset_lists()]


# ---------------------------------------------------------------------------------------------- the table
def load_table(ctx: AppContext, t: I18n, list_text: str, filt: str) -> tuple[list[list], list[int], str]:
    """The table rows the filter keeps, their row numbers and a summary line."""
    dl = pr.open_list(list_text)
    checked = pr.load_checked(ctx.work_dir("checks"), Path(dl.path))
    # Relative paths in experiment files are relative to the folder the training jobs run in.
    rows = pr.table_rows(dl, checked, pr.qa_flags(ctx.settings.logs_dir, Path(dl.path), PROJECT_ROOT))
    shown = pr.filter_rows(rows, filt)
    flagged = str(sum(bool(r.flags) for r in rows))
    message = t("data.opened", rows=str(len(rows)), flagged=flagged, shown=str(len(shown)))
    return [r.cells() for r in shown], [r.number for r in shown], message


def filter_table(ctx: AppContext, t: I18n, list_text: str, filt: str) -> tuple:
    """The filter changed: reload the open list (nothing to do while none is chosen)."""
    if not (list_text or "").strip():
        return gr.skip(), gr.skip(), gr.skip()
    return load_table(ctx, t, list_text, filt)


def select_row(ctx: AppContext, t: I18n, list_text: str, shown: list[int], index: int) -> tuple:
    """Load table row ``index`` (as displayed) into the editor: (row, clip, text, lang, speaker, cut, note)."""
    if not shown or not 0 <= index < len(shown):
        return None, None, "", gr.update(value=None), "", None, ""
    dl = pr.open_list(list_text)
    number = shown[index]
    if not 1 <= number <= len(dl):
        raise ValueError(t("data.row_gone"))
    row, path = dl[number - 1], dl.resolve(number - 1)
    roots = [ctx.settings.logs_dir, ctx.settings.voices_dir]
    clip = pr.playable(path, roots, ctx.work_dir("preview"))
    duration = pr.clip_duration(path)
    cut = round(duration / 2, 2) if duration else None
    pairs = pr.qa_flags(ctx.settings.logs_dir, Path(dl.path), PROJECT_ROOT).get(str(path.resolve()), ())
    reasons = [reason for _, reason in pairs]
    note = t("data.qa_reasons", reasons="; ".join(reasons)) if reasons else ""
    choices = LIST_LANGUAGES if row.lang in LIST_LANGUAGES else [*LIST_LANGUAGES, row.lang]
    lang = gr.update(choices=choices, value=row.lang)
    return number, clip, row.text, lang, row.speaker, cut, note


def apply_edit(
    ctx: AppContext, t: I18n, action: str, list_text: str, filt: str, number, text, lang, speaker, cut_s
) -> tuple[list[list], list[int], str, float | None]:
    """Run one table edit (``save``, ``merge``, ``split``, ``delete``, ``undo``), then reload the table.

    Returns (table, shown row numbers, message, editor row): the editor keeps its row after a save; after
    the other edits the row numbers move, so the editor is emptied (a second click cannot hit another row).
    """
    row = str(int(number)) if isinstance(number, (int, float)) else "?"
    if action == "save":
        pr.edit_row(list_text, number, text, lang, speaker)
        message = t("data.saved", row=row)
    elif action == "merge":
        pr.merge_with_next(list_text, number)
        message = t("data.merged", row=row)
    elif action == "split":
        pr.split_at(list_text, number, cut_s, text)
        message = t("data.split_done", row=row)
    elif action == "delete":
        pr.delete_row(list_text, number)
        message = t("data.deleted", row=row)
    elif action == "undo":
        message = t("data.restored", n=str(len(pr.undo_delete(list_text))))
    else:
        raise ValueError(f"Unknown table action {action!r}.")
    cells, shown, summary = load_table(ctx, t, list_text, filt)
    return cells, shown, f"{message} {summary}", number if action == "save" else None


def check_rows(ctx: AppContext, t: I18n, list_text: str, filt: str, progress=None) -> tuple:
    """Run the audio checks (durations, silence, clipping, no speech...) over the list, then reload."""
    desc = t("data.checking")
    step = (lambda done, total: progress(done / max(total, 1), desc=desc)) if progress is not None else None
    flags = pr.run_check(list_text, ctx.work_dir("checks"), step)
    cells, shown, summary = load_table(ctx, t, list_text, filt)
    flagged = str(sum(bool(v) for v in flags.values()))
    return cells, shown, f"{t('data.checked', rows=str(len(flags)), flagged=flagged)} {summary}"


# ---------------------------------------------------------------------------------------------- following jobs
def tick(
    ctx: AppContext, t: I18n, job_id: str | None, handled: str, list_text: str, filt: str, name: str
) -> tuple:
    """Timer tick: (bar, log, job id, handled, list, table, shown, message, summary). The first tick attaches to
    the newest data job; when the followed job ends, the table reloads once (after ASR its list opens)."""
    skip = gr.skip()
    lists = skip
    if job_id is None:  # first tick of this page: follow a job started earlier (e.g. before a reload)
        job_id = newest_job(ctx)
        lists = gr.update(choices=list_choices(ctx))
    try:
        job = ctx.jobs.get(job_id) if job_id else None
    except JobError:  # its folder was removed: follow nothing rather than fail every second
        job = None
    if job is None:
        return progress_html(t, None), "", "", handled, lists, skip, skip, skip, skip
    status = job.snapshot()
    bar, log = progress_html(t, status), log_tail(status)
    if not status.finished or handled == job_id:
        return bar, log, job_id, handled, lists, skip, skip, skip, skip
    message = dj.finished_message(t, job, status)
    if dj.job_kind(status.name) == "asr" and status.status == "done" and "--out" in status.argv:
        list_text = status.argv[status.argv.index("--out") + 1]
    lists = gr.update(choices=list_choices(ctx), value=list_text or None)
    table, shown = skip, skip
    if list_text and Path(list_text).is_file():
        try:
            table, shown, summary = load_table(ctx, t, list_text, filt)
        except (GPTSoVITSError, OSError, ValueError) as exc:  # said once in the message, not every tick
            summary = str(exc)
        message = f"{message} {summary}"
    try:
        line = dataset_summary(ctx, t, name)
    except ValueError:
        line = skip
    return bar, log, job_id, job_id, lists, table, shown, message, line


# ---------------------------------------------------------------------------------------------- layout
def _choices(t: I18n, keys: dict[str, str]) -> list[tuple[str, str]]:
    return [(t(key), value) for value, key in keys.items()]


def _pipeline(ctx: AppContext, t: I18n) -> SimpleNamespace:
    """Dataset, upload, the three job buttons with their settings, the progress bar and the log."""
    c = SimpleNamespace()
    gr.Markdown(t("data.intro"))
    with gr.Row():
        c.name = gr.Textbox("my_voice", label=t("data.name"), elem_id="data-name", scale=1)
        c.summary = gr.Markdown(dataset_summary(ctx, t, "my_voice"), elem_id="data-summary")
    c.upload = gr.File(file_count="multiple", label=t("data.upload"), elem_id="data-upload")
    with gr.Row():
        c.separate = gr.Button(t("data.separate"), elem_id="data-separate")
        modes = _choices(t, SLICE_MODE_KEYS)
        c.mode = gr.Dropdown(
            modes, value="vad", label=t("data.slice_mode"), elem_id="data-slice-mode", scale=2
        )
        c.slice = gr.Button(t("data.slice"), elem_id="data-slice")
        langs = _choices(t, ASR_LANGUAGE_KEYS)
        c.lang = gr.Dropdown(langs, value="auto", label=t("data.asr_lang"), elem_id="data-asr-lang", scale=2)
        c.asr = gr.Button(t("data.asr"), elem_id="data-asr")
        c.cancel = gr.Button(t("data.cancel"), elem_id="data-cancel", variant="stop")
    with gr.Accordion(t("data.settings"), open=False):
        labels = (
            "data.threshold",
            "data.min_length",
            "data.max_length",
            "data.min_interval",
            "data.max_sil_kept",
        )
        with gr.Row():
            c.settings = [
                gr.Number(value, label=t(key), elem_id=f"data-slice-{option}")
                for (option, value), key in zip(SLICE_SETTINGS.items(), labels)
            ]
        c.model = gr.Textbox("", label=t("data.asr_model"), elem_id="data-asr-model")
    c.bar = gr.HTML(progress_html(t, None), elem_id="data-progress")
    c.log = gr.Textbox(label=t("data.log"), lines=6, max_lines=12, interactive=False, elem_id="data-log")
    c.message = gr.Markdown("", elem_id="data-message")
    return c


def _proofreading(ctx: AppContext, t: I18n, c: SimpleNamespace) -> None:
    """The list chooser, filter, table and row editor (added to ``c``)."""
    gr.Markdown(f"### {t('data.proofread')}")
    with gr.Row():
        lists = list_choices(ctx)
        c.list = gr.Dropdown(lists, allow_custom_value=True, label=t("data.list"), elem_id="data-list")
        c.open = gr.Button(t("data.open"), elem_id="data-open", scale=0)
        flags = _choices(t, FILTER_KEYS)
        c.filter = gr.Dropdown(flags, value="all", label=t("data.filter"), elem_id="data-filter")
        c.check = gr.Button(t("data.check"), elem_id="data-check", scale=0)
    look = {
        "wrap": True,
        "column_widths": ["4%", "13%", "6%", "44%", "7%", "10%", "16%"],
    }  # no side scrolling
    types = ["number", "str", "number", "str", "str", "str", "str"]
    headers = [t(k) for k in COLUMN_KEYS]
    c.table = gr.Dataframe(headers=headers, datatype=types, interactive=False, elem_id="data-table", **look)
    with gr.Row():
        c.row = gr.Number(None, label=t("data.row"), interactive=False, precision=0, elem_id="data-row")
        c.clip = gr.Audio(None, type="filepath", label=t("data.clip"), interactive=False, elem_id="data-clip")
    with gr.Row():
        c.text = gr.Textbox(label=t("data.text"), lines=2, elem_id="data-text", scale=3)
        langs = LIST_LANGUAGES
        c.row_lang = gr.Dropdown(langs, allow_custom_value=True, label=t("data.lang"), elem_id="data-lang")
        c.speaker = gr.Textbox(label=t("data.speaker"), elem_id="data-speaker")
    with gr.Row():
        c.save = gr.Button(t("data.save"), variant="primary", elem_id="data-save")
        c.merge = gr.Button(t("data.merge"), elem_id="data-merge")
        c.cut = gr.Number(None, label=t("data.split_at"), elem_id="data-split-at", minimum=0, step=0.01)
        c.split = gr.Button(t("data.split"), elem_id="data-split")
        c.delete = gr.Button(t("data.delete"), variant="stop", elem_id="data-delete")
        c.undo = gr.Button(t("data.undo"), elem_id="data-undo")
    c.note = gr.Markdown("", elem_id="data-row-note")


def build(ctx: AppContext, t: I18n, tab: gr.Tab) -> None:
    """Add the tab's components to the current Blocks context and wire their events."""
    job_id, handled, shown = gr.State(None), gr.State(""), gr.State([])
    c = _pipeline(ctx, t)
    _proofreading(ctx, t, c)
    wrap = readable(t)
    for event in (c.name.blur, c.name.submit):
        event(wrap(lambda n: dataset_summary(ctx, t, n)), c.name, c.summary)
    upload = wrap(lambda n, f: upload_recordings(ctx, t, n, f))
    c.upload.upload(upload, [c.name, c.upload], [c.message, c.summary, c.upload])
    started = [job_id, c.bar, c.message]
    c.separate.click(wrap(lambda n: start_separation(ctx, t, n)), c.name, started)
    slicing = wrap(lambda n, m, *s: start_slicing(ctx, t, n, m, *s))
    c.slice.click(slicing, [c.name, c.mode, *c.settings], started)
    c.asr.click(wrap(lambda n, la, mo: start_asr(ctx, t, n, la, mo)), [c.name, c.lang, c.model], started)
    c.cancel.click(wrap(lambda j: cancel_job(ctx, t, j)), job_id, c.bar)
    ticked = [c.bar, c.log, job_id, handled, c.list, c.table, shown, c.message, c.summary]
    timer_inputs = [job_id, handled, c.list, c.filter, c.name]
    gr.Timer(1.0).tick(wrap(lambda *a: tick(ctx, t, *a)), timer_inputs, ticked, show_progress="hidden")
    attach = wrap(lambda: (newest_job(ctx), gr.update(choices=list_choices(ctx))))
    tab.select(attach, None, [job_id, c.list])
    loaded = [c.table, shown, c.message]
    c.open.click(wrap(lambda li, f: load_table(ctx, t, li, f)), [c.list, c.filter], loaded)
    c.filter.change(wrap(lambda li, f: filter_table(ctx, t, li, f)), [c.list, c.filter], loaded)

    @wrap
    def on_select(list_text: str, rows: list[int], evt: gr.SelectData):
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return select_row(ctx, t, list_text, rows, int(index))

    editor = [c.row, c.clip, c.text, c.row_lang, c.speaker, c.cut, c.note]
    c.table.select(on_select, [c.list, shown], editor)
    fields = [c.list, c.filter, c.row, c.text, c.row_lang, c.speaker, c.cut]
    for action in ("save", "merge", "split", "delete", "undo"):
        edit = wrap(lambda *a, action=action: apply_edit(ctx, t, action, *a))
        getattr(c, action).click(edit, fields, [*loaded, c.row])

    @wrap
    def on_check(list_text: str, value: str, progress=gr.Progress()):  # noqa: B008 - Gradio injects it
        return check_rows(ctx, t, list_text, value, progress)

    c.check.click(on_check, [c.list, c.filter], loaded)
