"""Assemble the WebUI from its tabs."""

from __future__ import annotations

import gradio as gr

from gpt_sovits.settings import Settings
from gpt_sovits.text import Dictionary, FrontEnd
from gpt_sovits.ui import models_tab, synthesize_tab
from gpt_sovits.ui.i18n import I18n


def build_app(settings: Settings, language: str = "en_US") -> gr.Blocks:
    """Build the Gradio Blocks app (nothing is loaded until a user acts)."""
    t = I18n(language)
    front = FrontEnd([Dictionary.load(p) for p in settings.dictionaries])
    # analytics off: a local desktop app sends nothing anywhere.
    with gr.Blocks(title=t("app.title"), analytics_enabled=False) as app:
        gr.Markdown(f"# {t('app.title')}\n{t('app.subtitle')}")
        with gr.Tabs():
            with gr.Tab(t("tab.data"), id="data"):
                gr.Markdown(t("data.planned"))
            with gr.Tab(t("tab.train"), id="train"):
                gr.Markdown(t("train.planned"))
            with gr.Tab(t("tab.synthesize"), id="synthesize"):
                synthesize_tab.build(t, front)
            with gr.Tab(t("tab.voices"), id="voices"):
                gr.Markdown(t("voices.planned"))
            with gr.Tab(t("tab.models"), id="models"):
                models_tab.build(t, settings.pretrained_dir)
    return app
