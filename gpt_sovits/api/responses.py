"""Error bodies (api_v2's and OpenAI's shapes) and audio responses, whole or streamed."""

from __future__ import annotations

import asyncio
import logging

from fastapi.responses import JSONResponse, Response, StreamingResponse

from gpt_sovits.api.audio_formats import encode, media_type, stream_encoder
from gpt_sovits.api.runner import RequestTimeout, Runner
from gpt_sovits.api.security import PathNotAllowed
from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.inference.engine import Cancelled
from gpt_sovits.inference.options import SynthesisOptions

log = logging.getLogger(__name__)

CLIENT_CLOSED = 499  # nginx's code for "the client closed the request"; nobody is left to read it


class ApiError(Exception):
    """A request the API refuses before or after running it: ``status`` and a readable message."""

    def __init__(
        self, status: int, message: str, detail: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
        self.param = param


def classify(exc: BaseException, action: str) -> ApiError:
    """The HTTP status and message for an exception raised while doing ``action`` ("tts failed", ...)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RequestTimeout):
        return ApiError(504, str(exc))
    if isinstance(exc, PathNotAllowed):
        return ApiError(403, str(exc))
    if isinstance(exc, Cancelled):
        return ApiError(CLIENT_CLOSED, f"{action}: the request was cancelled")
    if isinstance(exc, (GPTSoVITSError, ValueError, FileNotFoundError)):
        return ApiError(400, f"{action}: {exc}", detail=str(exc))
    log.error("%s: unexpected error", action, exc_info=exc)
    return ApiError(500, f"{action}: internal error ({type(exc).__name__}); see the server log", str(exc))


def v2_error(err: ApiError) -> JSONResponse:
    """api_v2's error body: ``{"message": ..., "Exception": ...}``."""
    content = {"message": err.message}
    if err.detail is not None:
        content["Exception"] = err.detail
    return JSONResponse(status_code=err.status, content=content)


def openai_error(err: ApiError) -> JSONResponse:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
    kind = {401: "authentication_error", 403: "permission_error", 504: "timeout"}.get(err.status)
    if kind is None:
        kind = "invalid_request_error" if err.status < 500 else "server_error"
    body = {"error": {"message": err.message, "type": kind, "param": err.param, "code": None}}
    return JSONResponse(status_code=err.status, content=body)


async def whole_audio(runner: Runner, options: SynthesisOptions, request, fmt: str) -> Response:
    """Synthesize everything, encode it as ``fmt`` and answer in one body."""
    result = await runner.synthesize(options, request)
    data = await asyncio.to_thread(
        encode, result.audio, result.sample_rate, fmt
    )  # mp3 of minutes takes a while
    headers = {
        "X-Sample-Rate": str(result.sample_rate),
        "X-Seed": str(result.seed),
        "X-Audio-Duration": f"{result.duration:.3f}",
    }
    return Response(data, media_type=media_type(fmt), headers=headers)


async def streamed_audio(runner: Runner, options: SynthesisOptions, request, fmt: str) -> StreamingResponse:
    """Answer with chunked audio as the engine makes it.

    The first chunk is awaited before the response starts, so early errors still get a proper status.
    After that the status is sent: a timeout or an engine error ends the stream early (and is logged), and
    a client that disconnects cancels the engine work (Starlette cancels this generator).
    """
    first, stream = await runner.open_stream(options, request)
    rate = first.sample_rate if first is not None else 32_000

    async def body():
        encoder = stream_encoder(fmt, rate)
        chunk = first
        try:
            while chunk is not None:
                if len(chunk.audio):
                    data = encoder.feed(chunk.audio)
                    if data:
                        yield data
                chunk = await stream.next()
            tail = encoder.finish()
            if tail:
                yield tail
        except RequestTimeout as exc:
            log.warning("stream ended early: %s", exc)
        except Exception as exc:  # headers are out: the stream can only end
            log.error("stream ended early by an error: %s", exc, exc_info=not isinstance(exc, GPTSoVITSError))
        finally:
            stream.cancel()

    headers = {"X-Sample-Rate": str(rate), "X-Seed": str(options.seed), "Cache-Control": "no-store"}
    return StreamingResponse(body(), media_type=media_type(fmt), headers=headers)
