"""Builds the engine for the HTTP API and runs it under uvicorn (``python -m gpt_sovits serve``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from gpt_sovits.api.context import V2Defaults
from gpt_sovits.api.security import check_bind
from gpt_sovits.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9880


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``serve`` needs besides :class:`Settings`."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key: str | None = None
    device: str | None = None  # None: the settings' device
    precision: str = "auto"
    max_body_bytes: int = 1 << 20
    request_timeout_s: float = 300.0
    v2_defaults: V2Defaults = V2Defaults()


def build_engine(settings: Settings, device: str | None = None, precision: str = "auto"):
    """An Engine over a fresh ModelRegistry on the chosen device and the settings' voice library."""
    from gpt_sovits.inference.engine import Engine

    return Engine.from_settings(settings, device, precision)


def build_app(settings: Settings, config: ServeConfig):
    """The application for ``config`` (refuses a public address without a key before building anything)."""
    from gpt_sovits.api.app import create_app

    check_bind(config.host, config.api_key)
    engine = build_engine(settings, config.device, config.precision)
    return create_app(
        engine,
        settings,
        api_key=config.api_key,
        max_body_bytes=config.max_body_bytes,
        request_timeout_s=config.request_timeout_s,
        v2_defaults=config.v2_defaults,
    )


def preload(app, defaults: V2Defaults) -> None:
    """Load the start-up models and check the start-up reference so that mistakes show at once."""
    from gpt_sovits.inference.reference import load_reference

    registry = app.state.ctx.engine.registry
    if defaults.gpt_path is not None:
        registry.gpt(defaults.gpt_path)
    if defaults.sovits_path is not None:
        registry.sovits(defaults.sovits_path)
    if defaults.ref_audio is not None:
        load_reference(Path(defaults.ref_audio), 32_000)


def serve(settings: Settings, config: ServeConfig) -> None:
    """Run the API until interrupted."""
    import uvicorn

    app = build_app(settings, config)
    preload(app, config.v2_defaults)
    log.info(
        "GPT-SoVITS API on http://%s:%d (api key %s)",
        config.host,
        config.port,
        "required" if config.api_key else "not required",
    )
    uvicorn.run(app, host=config.host, port=config.port, workers=1, log_level="info")
