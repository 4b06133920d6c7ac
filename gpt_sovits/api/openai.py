"""OpenAI-compatible speech endpoints: ``POST /v1/audio/speech``, ``GET /v1/voices``, ``GET /v1/models``.

``voice`` names a voice of the library (its models, references and saved defaults). ``model`` is accepted
and not used (any value; ``GET /v1/models`` lists ``gpt-sovits``). ``response_format``: mp3 (default, as
OpenAI), opus (Ogg), aac (ADTS), flac, wav, pcm (raw 16-bit little-endian mono at the model's rate, given
in the ``X-Sample-Rate`` header; OpenAI's is always 24 kHz). ``speed``: 0.25-4. ``stream: true`` sends the
audio chunked as it is made. Extensions: ``seed`` and ``language`` (a GPT-SoVITS language mode for the
input text). ``instructions`` is accepted and ignored. Errors use OpenAI's ``{"error": {...}}`` body.
"""

from __future__ import annotations

import asyncio
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from gpt_sovits.api.context import ApiContext
from gpt_sovits.api.responses import ApiError, classify, openai_error, streamed_audio, whole_audio
from gpt_sovits.api.v2compat import check_lang
from gpt_sovits.inference.options import SynthesisOptions

router = APIRouter(prefix="/v1")

OPENAI_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
MODEL_ID = "gpt-sovits"


class SpeechRequest(BaseModel):
    """The body of ``POST /v1/audio/speech``."""

    model_config = ConfigDict(extra="ignore")

    model: str = MODEL_ID
    input: str
    voice: str
    response_format: str = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    stream: bool = False
    instructions: str | None = None
    seed: int = -1
    language: str = "auto"


def _voice_names(ctx: ApiContext) -> list[str]:
    library = getattr(ctx.engine, "voices", None)
    return [] if library is None else [v.name for v in library.list()]


def speech_options(ctx: ApiContext, req: SpeechRequest) -> tuple[SynthesisOptions, str]:
    """Validate the request, check the voice exists and map it to (options, format)."""
    if not req.input or not req.input.strip():
        raise ApiError(400, "input is empty: give the text to speak.", param="input")
    if len(req.input) > ctx.max_text_chars:
        raise ApiError(
            400,
            f"input has {len(req.input)} characters; this server takes at most {ctx.max_text_chars}.",
            param="input",
        )
    fmt = req.response_format.lower()
    if fmt not in OPENAI_FORMATS:
        raise ApiError(
            400,
            f"response_format {req.response_format!r} is not supported; use one of {', '.join(OPENAI_FORMATS)}",
            param="response_format",
        )
    names = _voice_names(ctx)
    match = [n for n in names if n.casefold() == req.voice.strip().casefold()]
    if not match:
        listing = (
            ", ".join(names) if names else "none yet (create one with: python -m gpt_sovits voices create)"
        )
        raise ApiError(400, f"No voice named {req.voice!r}. Voices: {listing}.", param="voice")
    lang = check_lang(req.language, "language", "auto")
    seed = req.seed if req.seed >= 0 else secrets.randbelow(2**31)
    options = SynthesisOptions(text=req.input, text_lang=lang, voice=match[0], speed=req.speed, seed=seed)
    return options, fmt


@router.post("/audio/speech")
async def speech(request: Request, body: SpeechRequest) -> Response:
    """Text to speech with a library voice."""
    ctx: ApiContext = request.app.state.ctx
    try:
        options, fmt = await asyncio.to_thread(speech_options, ctx, body)  # lists the library: disk reads
        if body.stream:
            return await streamed_audio(ctx.runner, options, request, fmt)
        return await whole_audio(ctx.runner, options, request, fmt)
    except Exception as exc:
        return openai_error(classify(exc, "speech failed"))


@router.get("/voices")
async def voices(request: Request) -> JSONResponse:
    """The library's voices (names to pass as ``voice``) with their language and model version."""
    ctx: ApiContext = request.app.state.ctx
    library = getattr(ctx.engine, "voices", None)
    found = [] if library is None else await asyncio.to_thread(library.list)
    items = [
        {
            "name": v.name,
            "id": v.name,
            "language": v.language,
            "version": v.version,
            "references": len(v.references),
            "defaults": dict(v.defaults),
        }
        for v in found
    ]
    return JSONResponse({"object": "list", "voices": items})


@router.get("/models")
async def models() -> JSONResponse:
    """One model id; the voice (and its models) is chosen with ``voice``."""
    return JSONResponse(
        {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "owned_by": "gpt-sovits"}]}
    )
