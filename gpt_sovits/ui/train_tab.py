"""Train tab (being written)."""

from __future__ import annotations

import gradio as gr

from gpt_sovits.ui.context import AppContext
from gpt_sovits.ui.i18n import I18n


def build(ctx: AppContext, t: I18n, tab: gr.Tab) -> None:
    """Add the tab's components to the current Blocks context."""
    gr.Markdown(t("train.planned"))
