"""GPT-SoVITS api_v2 compatible endpoints: ``/tts`` (GET and POST), ``/set_gpt_weights``,
``/set_sovits_weights`` and ``/set_refer_audio``.

Parameter names and defaults are api_v2's. How they map onto :class:`SynthesisOptions`:

====================  ======================  ===========================================================
api_v2                here                    notes
====================  ======================  ===========================================================
text                  text                    required
text_lang             text_lang               lower-cased; a GPT-SoVITS language mode (zh, en, ja, yue, ko,
                                              all_zh, all_ja, all_yue, all_ko, auto, auto_yue). Optional
                                              here (default ``auto``); api_v2 requires it
ref_audio_path        ref_audio[0]            optional when ``/set_refer_audio`` set one
aux_ref_audio_paths   ref_audio[1:]           averaged into the timbre, like api_v2 (v2 models)
prompt_text           ref_text                "" selects reference-free mode, as in api_v2
prompt_lang           ref_lang                default: the ``/set_refer_audio`` language, else ``auto``
top_k, top_p,         same names
temperature,
repetition_penalty
text_split_method     split                   cut0..cut5 (and ``length``)
batch_size            batch_size              segments decoded together
speed_factor          speed
fragment_interval     pause                   seconds of silence between segments
seed                  seed                    -1: a random seed, reported in the ``X-Seed`` header
media_type            response format         wav, raw, ogg, aac (also mp3, flac, opus, pcm)
streaming_mode        engine.stream           0/false whole; 1, 2, 3, true: chunked stream
min_chunk_length      stream_chunk_tokens     semantic tokens per streamed chunk (at least 4)
batch_threshold,      accepted, ignored       batching internals of api_v2's pipeline
split_bucket,
parallel_infer
overlap_length        accepted, ignored       the streamer overlaps chunks on its own
sample_steps,         accepted, ignored       v3/v4 models only, which this project does not run
super_sampling
====================  ======================  ===========================================================

api_v2's ``/control`` (restart/exit the process) is deliberately not offered.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from gpt_sovits.api.audio_formats import FORMATS
from gpt_sovits.api.context import ApiContext
from gpt_sovits.api.responses import ApiError, classify, streamed_audio, v2_error, whole_audio
from gpt_sovits.inference.options import SynthesisOptions
from gpt_sovits.text.langseg import LANG_MODES

router = APIRouter()


class TTSRequest(BaseModel):
    """api_v2's ``TTS_Request`` fields and defaults (unknown fields are ignored, as there)."""

    model_config = ConfigDict(extra="ignore")

    text: str | None = None
    text_lang: str | None = None
    ref_audio_path: str | None = None
    aux_ref_audio_paths: list[str] | None = None
    prompt_lang: str | None = None
    prompt_text: str = ""
    top_k: int = 15
    top_p: float = 1
    temperature: float = 1
    text_split_method: str = "cut5"
    batch_size: int = 1
    batch_threshold: float = 0.75
    split_bucket: bool = True
    speed_factor: float = 1.0
    fragment_interval: float = 0.3
    seed: int = -1
    media_type: str = "wav"
    streaming_mode: bool | int | str = False
    parallel_infer: bool = True
    repetition_penalty: float = 1.35
    sample_steps: int = 32
    super_sampling: bool = False
    overlap_length: int = 2
    min_chunk_length: int = 16


def parse_streaming_mode(value: bool | int | str) -> bool:
    """api_v2's ``streaming_mode``: False/0 whole; True/1/2/3 streamed (every mode streams here)."""
    if isinstance(value, str):
        text = value.strip().lower()
        value = {"true": True, "false": False}.get(text, int(text) if text.isdigit() else -1)
    if isinstance(value, bool):
        return value
    if value in (0, 1, 2, 3):
        return value != 0
    raise ApiError(400, "the value of streaming_mode must be 0, 1, 2, 3(int) or true/false(bool)")


def check_lang(value: str | None, name: str, default: str) -> str:
    """A language mode, lower-cased, or a 400 naming the supported ones."""
    lang = (value or default).strip().lower()
    if lang not in LANG_MODES:
        raise ApiError(400, f"{name}: {value} is not supported; use one of {', '.join(LANG_MODES)}")
    return lang


def _text(ctx: ApiContext, text: str | None, name: str) -> str:
    if text is None or not text.strip():
        raise ApiError(400, f"{name} is required (the words to speak)", param=name)
    if len(text) > ctx.max_text_chars:
        raise ApiError(
            400,
            f"{name} has {len(text)} characters; this server takes at most {ctx.max_text_chars} per "
            "request. Split it into several requests.",
            param=name,
        )
    return text


def request_options(ctx: ApiContext, req: TTSRequest) -> tuple[SynthesisOptions, str, bool]:
    """Validate an api_v2 request and map it to (options, media type, streaming)."""
    text = _text(ctx, req.text, "text")
    state = ctx.v2.current
    fmt = (req.media_type or "wav").lower()
    if fmt not in FORMATS:
        raise ApiError(400, f"media_type: {req.media_type} is not supported; use one of {', '.join(FORMATS)}")
    streaming = parse_streaming_mode(req.streaming_mode)
    if req.ref_audio_path:
        refs = [ctx.policy.check(req.ref_audio_path, "ref_audio_path")]
        ref_text, default_lang = req.prompt_text, "auto"
    elif state.ref_audio is not None:
        refs = [state.ref_audio]
        ref_text, default_lang = (req.prompt_text or state.ref_text), state.ref_lang
    else:
        raise ApiError(400, "ref_audio_path is required (or set one first with /set_refer_audio)")
    refs += [ctx.policy.check(p, "aux_ref_audio_paths") for p in (req.aux_ref_audio_paths or []) if p]
    if streaming and req.min_chunk_length < 4:
        raise ApiError(
            400, f"min_chunk_length must be at least 4 semantic tokens, got {req.min_chunk_length}"
        )
    seed = req.seed if req.seed >= 0 else secrets.randbelow(2**31)  # known before streaming starts
    options = SynthesisOptions(
        text=text,
        text_lang=check_lang(req.text_lang, "text_lang", "auto"),
        gpt_path=state.gpt_path,
        sovits_path=state.sovits_path,
        ref_audio=tuple(refs),
        ref_text=ref_text or None,
        ref_lang=check_lang(req.prompt_lang, "prompt_lang", default_lang),
        split=req.text_split_method,
        top_k=req.top_k,
        top_p=req.top_p,
        temperature=req.temperature,
        repetition_penalty=req.repetition_penalty,
        speed=req.speed_factor,
        seed=seed,
        pause=req.fragment_interval,
        batch_size=req.batch_size,
        stream_chunk_tokens=req.min_chunk_length if streaming else SynthesisOptions.stream_chunk_tokens,
    )
    return options, fmt, streaming


async def _tts(request: Request, req: TTSRequest) -> Response:
    ctx: ApiContext = request.app.state.ctx
    try:
        options, fmt, streaming = request_options(ctx, req)
        if streaming:
            return await streamed_audio(ctx.runner, options, request, fmt)
        return await whole_audio(ctx.runner, options, request, fmt)
    except Exception as exc:
        return v2_error(classify(exc, "tts failed"))


@router.get("/tts")
async def tts_get(request: Request, params: Annotated[TTSRequest, Query()]) -> Response:
    """api_v2 ``GET /tts``: audio bytes (200) or ``{"message", "Exception"}`` (400)."""
    return await _tts(request, params)


@router.post("/tts")
async def tts_post(request: Request, body: TTSRequest) -> Response:
    """api_v2 ``POST /tts`` with a JSON body of the same fields."""
    return await _tts(request, body)


def _success() -> JSONResponse:
    return JSONResponse(status_code=200, content={"message": "success"})


async def _set_weights(request: Request, weights_path: str | None, kind: str) -> JSONResponse:
    ctx: ApiContext = request.app.state.ctx
    what = "gpt" if kind == "gpt" else "sovits"
    if not weights_path:
        return v2_error(ApiError(400, f"{what} weight path is required"))
    try:
        path = ctx.policy.check(weights_path, "weights_path")
        registry = ctx.engine.registry
        loader = registry.gpt if kind == "gpt" else registry.sovits
        await asyncio.to_thread(loader, path)  # loading now makes a bad file fail here, not at /tts
    except Exception as exc:
        return v2_error(classify(exc, f"change {what} weight failed"))
    ctx.v2.update(**{f"{kind}_path": Path(path)})
    return _success()


@router.get("/set_gpt_weights")
async def set_gpt_weights(request: Request, weights_path: str | None = None) -> JSONResponse:
    """Load a GPT (``.ckpt``) and use it for later ``/tts`` requests."""
    return await _set_weights(request, weights_path, "gpt")


@router.get("/set_sovits_weights")
async def set_sovits_weights(request: Request, weights_path: str | None = None) -> JSONResponse:
    """Load a SoVITS generator (``.pth``) and use it for later ``/tts`` requests."""
    return await _set_weights(request, weights_path, "sovits")


@router.get("/set_refer_audio")
async def set_refer_audio(
    request: Request,
    refer_audio_path: str | None = None,
    prompt_text: str | None = None,
    prompt_lang: str | None = None,
) -> JSONResponse:
    """Check a reference recording and use it when ``/tts`` names none. ``prompt_text`` and
    ``prompt_lang`` are additions to api_v2 (without a text, the reference is used reference-free)."""
    ctx: ApiContext = request.app.state.ctx
    if not refer_audio_path:
        return v2_error(ApiError(400, "refer_audio_path is required"))
    try:
        from gpt_sovits.inference.reference import load_reference

        path = ctx.policy.check(refer_audio_path, "refer_audio_path")
        lang = check_lang(prompt_lang, "prompt_lang", "auto")
        if not Path(path).is_file():
            raise ApiError(400, f"set refer audio failed: {refer_audio_path} does not exist")
        await asyncio.to_thread(load_reference, Path(path), 32_000)  # same checks as synthesis would do
    except Exception as exc:
        return v2_error(classify(exc, "set refer audio failed"))
    ctx.v2.update(ref_audio=Path(path), ref_text=prompt_text or None, ref_lang=lang)
    return _success()
