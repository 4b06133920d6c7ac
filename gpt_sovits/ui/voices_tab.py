"""Voices tab: the voice library. Play a voice's reference, see its files and their check, rename, duplicate,
delete (to the trash) and restore, export to a .zip and import one.

The table and lists are read again whenever the tab is opened, since training and synthesis add voices from
other tabs. Handlers are module-level functions of ``(ctx, t, plain values)``; the Dropdown ``#voices-name``
is the selection: changing it (by hand, by clicking a table row, or after an action) shows that voice.
"""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr
import pandas as pd

from gpt_sovits.ui.common import bind_handler, readable
from gpt_sovits.ui.context import AppContext
from gpt_sovits.ui.i18n import I18n
from gpt_sovits.ui.library_logic import export_path, local_time, voice_info, voice_rows
from gpt_sovits.voices import Voice, VoiceExists

EXPORTS_FOLDER = "exports"  # under logs/webui/: the zips the Export button makes
# Column titles of #voices-table, in voice_rows order (literal keys for the i18n check).
COLUMN_KEYS = (
    "voices.col.name",
    "voices.col.version",
    "voices.col.language",
    "voices.col.ref_text",
    "voices.col.created",
    "voices.col.updated",
    "voices.col.dictionary",
)


def _table(t: I18n, voices: list[Voice]) -> pd.DataFrame:
    return pd.DataFrame(voice_rows(t, voices), columns=[t(k) for k in COLUMN_KEYS])


def library_view(ctx: AppContext, t: I18n, selected: str | None) -> tuple:
    """(table, voice dropdown update, trash dropdown update) of the library as it is now.

    ``selected`` stays selected while it exists; otherwise the first voice is (None when there is none).
    """
    voices = ctx.voices.list()
    names = [v.name for v in voices]
    if selected not in names:
        selected = names[0] if names else None
    trash = [(f"{e.name} · {local_time(e.deleted)}", e.id) for e in ctx.voices.trash()]
    return (
        _table(t, voices),
        gr.update(choices=names, value=selected),
        gr.update(choices=trash, value=trash[0][1] if trash else None),
    )


def voice_detail(ctx: AppContext, t: I18n, name: str | None) -> tuple[str | None, str]:
    """(reference clip to play, Markdown about the voice incl. its file check) of the selected voice."""
    if not name:
        return None, t("voices.none_selected")
    voice = ctx.voices.get(name)
    sample = voice.prompt.path if voice.prompt.path.is_file() else None
    return (str(sample) if sample else None), voice_info(t, ctx.voices, voice)


def _selected(t: I18n, name: str | None) -> str:
    if not name:
        raise ValueError(t("voices.err.select"))
    return name


def _new_name(t: I18n, new_name: str | None) -> str:
    name = (new_name or "").strip()
    if not name:
        raise ValueError(t("voices.err.new_name"))
    return name


def _copy_name(ctx: AppContext, t: I18n, name: str) -> str:
    """A free name for a copy of ``name`` ("Alice (copy)", "Alice (copy 2)", ...)."""
    taken = {v.name.casefold() for v in ctx.voices.list()}
    candidate, n = t("voices.copy_name", name=name), 1
    while candidate.casefold() in taken:
        n += 1
        candidate = t("voices.copy_name_n", name=name, n=str(n))
    return candidate


def rename_voice(ctx: AppContext, t: I18n, name: str | None, new_name: str | None) -> tuple:
    """Rename the selected voice; returns the library view (with the renamed voice selected) and "" for
    the new-name box."""
    voice = ctx.voices.rename(_selected(t, name), _new_name(t, new_name))
    gr.Info(t("voices.done.renamed", name=voice.name))
    return (*library_view(ctx, t, voice.name), "")


def duplicate_voice(ctx: AppContext, t: I18n, name: str | None, new_name: str | None) -> tuple:
    """Copy the selected voice under the typed name (or "<name> (copy)"); the copy becomes selected."""
    name = _selected(t, name)
    target = (new_name or "").strip() or _copy_name(ctx, t, name)
    voice = ctx.voices.duplicate(name, target)
    gr.Info(t("voices.done.duplicated", name=voice.name))
    return (*library_view(ctx, t, voice.name), "")


def delete_voice(ctx: AppContext, t: I18n, name: str | None) -> tuple:
    """Move the selected voice to the trash (nothing is lost: Restore brings it back)."""
    entry = ctx.voices.delete(_selected(t, name))
    gr.Info(t("voices.done.deleted", name=entry.name))
    return library_view(ctx, t, None)


def restore_voice(ctx: AppContext, t: I18n, trash_id: str | None, new_name: str | None) -> tuple:
    """Bring a deleted voice back under its own name; if that name is taken now, under the typed new name."""
    if not trash_id:
        raise ValueError(t("voices.err.trash_empty"))
    try:
        voice = ctx.voices.restore(trash_id)
    except VoiceExists:
        if not (new_name or "").strip():
            raise ValueError(t("voices.err.restore_taken")) from None
        voice = ctx.voices.restore(trash_id, new_name.strip())
    gr.Info(t("voices.done.restored", name=voice.name))
    return (*library_view(ctx, t, voice.name), "")


def export_voice(ctx: AppContext, t: I18n, name: str | None) -> str:
    """Write the selected voice to a new .zip under ``logs/webui/exports/``; returns its path (to download)."""
    voice = ctx.voices.get(_selected(t, name))
    path = ctx.voices.export(voice.name, export_path(ctx.work_dir(EXPORTS_FOLDER), voice))
    return str(path)


def import_voice(ctx: AppContext, t: I18n, zip_file: str | None, new_name: str | None) -> tuple:
    """Add the voice in an uploaded .zip (checked: unsafe or damaged archives are refused with the reason).
    If its name is taken, it is imported under the typed new name. The imported voice becomes selected."""
    if not zip_file:
        raise ValueError(t("voices.err.no_zip"))
    path = Path(zip_file)
    try:
        voice = ctx.voices.import_zip(path)
    except VoiceExists:
        if not (new_name or "").strip():
            raise ValueError(t("voices.err.import_taken")) from None
        voice = ctx.voices.import_zip(path, name=new_name.strip())
    gr.Info(t("voices.done.imported", name=voice.name))
    return (*library_view(ctx, t, voice.name), "")


def row_name(row_value: list | None) -> str | dict:
    """The voice name in a clicked table row (its first cell); no change when the row is empty."""
    if not row_value or not str(row_value[0]).strip():
        return gr.update()
    return str(row_value[0])


def build(ctx: AppContext, t: I18n, tab: gr.Tab) -> None:
    """Add the tab's components to the current Blocks context."""
    headers = [t(k) for k in COLUMN_KEYS]
    refresh = gr.Button(t("voices.refresh"), size="sm", elem_id="voices-refresh")
    table = gr.Dataframe(
        headers=headers, label=t("voices.table"), interactive=False, wrap=True, elem_id="voices-table"
    )
    with gr.Row():
        with gr.Column(scale=1):
            name = gr.Dropdown([], value=None, label=t("voices.name"), elem_id="voices-name")
            sample = gr.Audio(
                label=t("voices.sample"), type="filepath", interactive=False, elem_id="voices-sample"
            )
            with gr.Row():
                new_name = gr.Textbox(
                    label=t("voices.new_name"), info=t("voices.new_name_info"), elem_id="voices-new-name"
                )
            with gr.Row():
                rename = gr.Button(t("voices.rename"), elem_id="voices-rename")
                duplicate = gr.Button(t("voices.duplicate"), elem_id="voices-duplicate")
                delete = gr.Button(t("voices.delete"), variant="stop", elem_id="voices-delete")
            with gr.Row():
                trash = gr.Dropdown([], value=None, label=t("voices.trash"), elem_id="voices-trash")
                restore = gr.Button(t("voices.restore"), elem_id="voices-restore")
        with gr.Column(scale=1):
            info = gr.Markdown(t("voices.none_selected"), elem_id="voices-info")
    with gr.Row():
        with gr.Column():
            export = gr.Button(t("voices.export"), elem_id="voices-export")
            export_file = gr.File(
                label=t("voices.export_file"), interactive=False, elem_id="voices-export-file"
            )
        with gr.Column():
            import_file = gr.File(
                label=t("voices.import_file"),
                file_types=[".zip"],
                type="filepath",
                elem_id="voices-import-file",
            )
            import_button = gr.Button(t("voices.import"), elem_id="voices-import")

    bind = functools.partial(bind_handler, ctx, t)  # handlers are fn(ctx, t, *values)

    view = [table, name, trash]
    tab.select(bind(library_view), [name], view)
    refresh.click(bind(library_view), [name], view)
    name.change(bind(voice_detail), [name], [sample, info])

    def on_row(evt: gr.SelectData):
        return row_name(evt.row_value)

    table.select(readable(t)(on_row), None, [name])
    rename.click(bind(rename_voice), [name, new_name], [*view, new_name])
    duplicate.click(bind(duplicate_voice), [name, new_name], [*view, new_name])
    delete.click(bind(delete_voice), [name], view)
    restore.click(bind(restore_voice), [trash, new_name], [*view, new_name])
    export.click(bind(export_voice), [name], [export_file])
    import_button.click(bind(import_voice), [import_file, new_name], [*view, new_name])
