"""Serve the WebUI: one page per language under ``/<locale>/``; ``/`` sends the browser to its language.

Gradio builds a page's labels on the server, so each language is its own Blocks; all of them share one
:class:`~gpt_sovits.ui.context.AppContext` (one model registry, one job manager). With ``--language`` the
choice is fixed and ``/`` always goes to that page.
"""

from __future__ import annotations

import logging

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from gpt_sovits.ui.app import build_app
from gpt_sovits.ui.context import AppContext
from gpt_sovits.ui.i18n import LOCALES, resolve_language
from gpt_sovits.ui.streaming import add_stream_route

logger = logging.getLogger(__name__)


def allowed_paths(ctx: AppContext) -> list[str]:
    """Folders whose files the page may serve (results, clips, voice samples): the app's own data only."""
    return [str(ctx.settings.logs_dir), str(ctx.settings.voices_dir)]


def create_server(ctx: AppContext, language: str | None = None) -> FastAPI:
    """A FastAPI app with every language's page mounted (``language`` None: follow the browser)."""
    server = FastAPI(title="GPT-SoVITS Studio")

    @server.get("/")
    def to_language(request: Request) -> RedirectResponse:
        chosen = language or resolve_language("auto", request.headers.get("accept-language", ""))
        return RedirectResponse(f"/{chosen}/", status_code=307)

    # Before the pages: the Synthesize tab's streaming playback fetches /stream/<id>.wav (no FFmpeg needed).
    add_stream_route(server, ctx.streams)
    for code in LOCALES:
        blocks = build_app(ctx, code, links=True)
        server = gr.mount_gradio_app(server, blocks, path=f"/{code}", allowed_paths=allowed_paths(ctx))
    return server


def serve(
    ctx: AppContext,
    host: str = "127.0.0.1",
    port: int = 9874,
    share: bool = False,
    language: str | None = None,
) -> None:
    """Run the WebUI until interrupted. ``share`` makes a public Gradio link (one page, in ``language``)."""
    if share:
        blocks = build_app(ctx, language or "en_US")
        blocks.launch(server_name=host, server_port=port, share=True, allowed_paths=allowed_paths(ctx))
        return
    import uvicorn

    logger.info("WebUI on http://%s:%d/", host, port)
    uvicorn.run(create_server(ctx, language), host=host, port=port, log_level="warning")
