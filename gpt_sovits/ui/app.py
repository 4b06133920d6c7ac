"""Assemble the WebUI page from its tabs; every tab shares one :class:`~gpt_sovits.ui.context.AppContext`."""

from __future__ import annotations

import gradio as gr

from gpt_sovits.ui import data_tab, models_tab, synthesize_tab, train_tab, voices_tab
from gpt_sovits.ui.context import AppContext
from gpt_sovits.ui.i18n import LOCALE_NAMES, I18n

# Tab id, locale key of its label, builder. Literal keys: the i18n coverage test reads them from the source.
TABS = (
    ("data", "tab.data", data_tab.build),
    ("train", "tab.train", train_tab.build),
    ("synthesize", "tab.synthesize", synthesize_tab.build),
    ("voices", "tab.voices", voices_tab.build),
    ("models", "tab.models", models_tab.build),
)


def language_links(current: str) -> str:
    """Markdown links to the other language versions of the page (served under ``/<locale>/``)."""
    return " · ".join(
        f"**{label}**" if code == current else f"[{label}](/{code}/)" for code, label in LOCALE_NAMES.items()
    )


def build_app(ctx: AppContext, language: str = "en_US", links: bool = False) -> gr.Blocks:
    """The Gradio Blocks of the whole page in ``language``; nothing is loaded until a user acts.

    ``links``: show links to the other languages (when the page is served with all of them mounted).
    """
    t = I18n(language)
    # analytics off: a local desktop app sends nothing anywhere.
    with gr.Blocks(title=t("app.title"), analytics_enabled=False) as app:
        with gr.Row():
            gr.Markdown(f"# {t('app.title')}\n{t('app.subtitle')}")
            if links:
                gr.Markdown(language_links(language), elem_id="language-links")
        with gr.Tabs(elem_id="main-tabs"):
            for tab_id, key, build in TABS:
                with gr.Tab(t(key), id=tab_id, elem_id=f"tab-{tab_id}") as tab:
                    build(ctx, t, tab)
    return app
