"""Models tab. In this version: which pretrained files are present and how to get the missing ones."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from gpt_sovits.registry.layout import how_to_get, missing_pretrained
from gpt_sovits.ui.i18n import I18n


def status_markdown(t: I18n, pretrained_dir: Path) -> str:
    """Markdown listing the missing pretrained files (or saying all are present)."""
    missing = missing_pretrained(pretrained_dir)
    if not missing:
        return t("models.all_present", folder=str(pretrained_dir))
    lines = [t("models.missing", folder=str(pretrained_dir)), ""]
    lines += [f"- `{m.path}`: {m.description} ({m.needed_for})" for m in missing]
    return "\n".join([*lines, "", how_to_get(pretrained_dir)])


def build(ctx, t: I18n, tab) -> None:
    """Add the tab's components to the current Blocks context."""
    gr.Markdown(f"### {t('models.status')}")
    gr.Markdown(status_markdown(t, ctx.settings.pretrained_dir), elem_id="models-status")
