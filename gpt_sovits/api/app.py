"""The FastAPI application: api_v2 routes, OpenAI routes, ``/health``, limits and authentication.

:func:`create_app` only wires things together; the engine (models, voices) is built by the caller
(:mod:`gpt_sovits.api.server` for ``python -m gpt_sovits serve``, or a test).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gpt_sovits.api import openai, v2compat
from gpt_sovits.api.context import ApiContext, V2Defaults, V2State
from gpt_sovits.api.responses import ApiError, openai_error, v2_error
from gpt_sovits.api.runner import Runner
from gpt_sovits.api.security import ApiKeyMiddleware, BodyLimitMiddleware, PathPolicy
from gpt_sovits.inference.engine import MAX_TEXT_CHARS
from gpt_sovits.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1 << 20  # 1 MiB: far above the longest text a request may carry
DEFAULT_TIMEOUT_S = 300.0


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts)


def _health(ctx: ApiContext) -> dict:
    registry = ctx.engine.registry
    device = getattr(registry, "device", None)
    loaded = []
    for entry in registry.loaded():
        path = Path(entry.path)
        loaded.append(
            {
                "kind": entry.kind,
                # /health needs no key: remote callers see file names, not the server's folders
                "path": path.name if ctx.auth_required else str(path),
                "device": entry.device,
                "dtype": entry.dtype,
                "mb": round(entry.nbytes / 2**20, 1),
            }
        )
    return {
        "status": "ok",
        "device": str(device.device) if device is not None else None,
        "dtype": str(device.dtype).removeprefix("torch.") if device is not None else None,
        "loaded": loaded,
        "active_requests": ctx.runner.active,
    }


def create_app(
    engine,
    settings: Settings,
    *,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    request_timeout_s: float = DEFAULT_TIMEOUT_S,
    max_text_chars: int = MAX_TEXT_CHARS,
    restrict_paths: bool | None = None,
    v2_defaults: V2Defaults | None = None,
) -> FastAPI:
    """The HTTP API over ``engine`` (an :class:`~gpt_sovits.inference.engine.Engine`).

    ``api_key``: when set, every endpoint except ``/health`` requires it. ``restrict_paths`` (default:
    whether a key is set) limits file paths in requests to ``settings.home``, ``settings.pretrained_dir``
    and ``settings.voices_dir``. ``max_body_bytes``: larger request bodies get 413.
    ``request_timeout_s``: longer requests are cancelled (504). ``max_text_chars``: longer texts get 400.
    ``v2_defaults``: the initial api_v2 models and reference (``serve --gpt/--sovits/--ref``).
    """
    if max_body_bytes <= 0 or max_text_chars <= 0:
        raise ValueError("max_body_bytes and max_text_chars must be positive")
    restrict = bool(api_key) if restrict_paths is None else restrict_paths
    roots = (settings.home, settings.pretrained_dir, settings.voices_dir) if restrict else None
    ctx = ApiContext(
        engine=engine,
        settings=settings,
        runner=Runner(engine, request_timeout_s),
        policy=PathPolicy(roots),
        max_text_chars=int(max_text_chars),
        auth_required=bool(api_key),
        v2=V2State(v2_defaults),
    )
    app = FastAPI(title="GPT-SoVITS Studio API", version="1.0")
    app.state.ctx = ctx
    app.include_router(v2compat.router)
    app.include_router(openai.router)

    @app.get("/health")
    async def health() -> JSONResponse:
        """Liveness and what is loaded (no key needed)."""
        return JSONResponse(_health(ctx))

    def error(request: Request, err: ApiError) -> JSONResponse:
        return openai_error(err) if request.url.path.startswith("/v1/") else v2_error(err)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(request, ApiError(400, _validation_message(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(request, ApiError(exc.status_code, str(exc.detail)))

    # Outermost first: the key is checked before any body is read.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    if api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=api_key)
    return app
