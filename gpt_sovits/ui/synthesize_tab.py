"""Synthesize tab. In this version: the pronunciation preview of the text front end."""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.text import LANG_MODES, SPLIT_METHODS, Dictionary, FrontEnd, TextOptions
from gpt_sovits.ui.i18n import I18n

log = logging.getLogger(__name__)


def preview_rows(text: str, lang_mode: str, split: str, dict_file: str | None, front: FrontEnd):
    """Rows of the preview table, or raise a readable gradio error."""
    try:
        dicts = [Dictionary.load(Path(dict_file))] if dict_file else []
        result = front.process(text, TextOptions(lang_mode=lang_mode, split=split), dicts)
    except GPTSoVITSError as exc:
        raise gr.Error(str(exc)) from None
    for w in result.warnings:
        gr.Warning(w)
    return [[r.sentence, r.surface, r.lang, r.phones, r.rule] for r in result.preview()]


def build(ctx, t: I18n, tab) -> None:
    """Add the tab's components to the current Blocks context."""
    gr.Markdown(t("synth.not_ready"))
    text = gr.Textbox(label=t("synth.text"), lines=4, elem_id="synth-text")
    with gr.Row():
        lang_mode = gr.Dropdown(list(LANG_MODES), value="auto", label=t("synth.lang_mode"))
        split = gr.Dropdown(list(SPLIT_METHODS), value="cut5", label=t("synth.split"))
        dict_file = gr.File(label=t("synth.dict"), file_types=[".jsonl"], type="filepath")
    button = gr.Button(t("synth.preview_button"), variant="primary", elem_id="synth-preview")
    headers = [
        t(k)
        for k in (
            "synth.col.sentence",
            "synth.col.surface",
            "synth.col.lang",
            "synth.col.phones",
            "synth.col.rule",
        )
    ]
    table = gr.Dataframe(headers=headers, label=t("synth.preview_table"), interactive=False)
    button.click(lambda *a: preview_rows(*a, ctx.front), [text, lang_mode, split, dict_file], table)
