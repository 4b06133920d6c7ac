"""Who may call the API and what it may read: API keys, loopback binding, file-path policy, body limits.

* The server binds to 127.0.0.1 by default. Bound to any other address it refuses to start without an API
  key (:func:`check_bind`).
* With a key configured, every endpoint except ``/health`` needs ``Authorization: Bearer KEY`` or
  ``X-API-Key: KEY``; keys are compared in constant time (:class:`ApiKeyMiddleware`).
* api_v2 clients send server-side file paths (``ref_audio_path``, ``weights_path``). Without a key they are
  used as given (api_v2's semantics: the caller is on this machine). With a key — remote callers — a path
  must lie inside the studio home, the pretrained folder or the voice library (:class:`PathPolicy`), so a
  client cannot make the server read arbitrary files.
* Request bodies over ``max_body_bytes`` get 413, whether announced by Content-Length or streamed chunked
  (:class:`BodyLimitMiddleware`).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Iterable
from pathlib import Path

from starlette.exceptions import HTTPException

from gpt_sovits.errors import GPTSoVITSError

OPEN_PATHS = frozenset({"/health"})


class InsecureBindError(GPTSoVITSError):
    """The server would listen on a network address without an API key."""


class PathNotAllowed(GPTSoVITSError):
    """A request named a file outside the folders a keyed (remote) server may read."""


def is_loopback(host: str | None) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host is None:  # uvicorn's None listens on every interface
        return False
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name could resolve to anything: treat it as public


def check_bind(host: str | None, api_key: str | None) -> None:
    """Refuse to listen on a non-loopback address without an API key."""
    if not is_loopback(host) and not api_key:
        raise InsecureBindError(
            f"Refusing to listen on {host or 'all interfaces'} without an API key: anyone on the network "
            "could use the server and make it read files. Pass --api-key KEY or --api-key-file FILE, "
            "or bind to 127.0.0.1."
        )


def key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented key with the configured one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The key in ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` (raw ASGI headers)."""
    for name, value in headers:
        lname = name.lower()
        if lname == b"x-api-key":
            return value.decode("latin-1").strip()
        if lname == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


async def _send_json(send, status: int, body: dict, extra_headers: list[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + list(extra_headers)})
    await send({"type": "http.response.body", "body": payload})


class ApiKeyMiddleware:
    """ASGI middleware: 401 for requests without the right key (``/health`` stays open)."""

    def __init__(self, app, api_key: str) -> None:
        if not api_key:
            raise ValueError("api_key must be a non-empty string")
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if not key_matches(presented_key(scope.get("headers", [])), self.api_key):
            await _send_json(
                send,
                401,
                {
                    "message": "A valid API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'."
                },
                [(b"www-authenticate", b"Bearer")],
            )
            return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit. An HTTPException, because FastAPI
    turns any other error raised while reading the body into a 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body is larger than the limit of {max_bytes} bytes.")


class BodyLimitMiddleware:
    """ASGI middleware: 413 for request bodies over ``max_bytes`` (announced or counted while read)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    announced = 0
                if announced > self.max_bytes:
                    await _send_json(send, 413, {"message": BodyTooLarge(self.max_bytes).detail})
                    return
        seen = 0
        started = False

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:  # raised outside the app's own exception handling
            if not started:
                await _send_json(send, 413, {"message": exc.detail})


class PathPolicy:
    """Decides which server-side files a request may name.

    ``roots`` None allows every path (loopback use, api_v2 semantics); otherwise a path must resolve
    (symbolic links followed) to a location inside one of the roots.
    """

    def __init__(self, roots: Iterable[Path] | None) -> None:
        self.roots = None if roots is None else tuple(Path(r).expanduser().resolve() for r in roots)

    @property
    def restricted(self) -> bool:
        return self.roots is not None

    def check(self, path: str | Path, what: str) -> Path:
        """``path`` as a Path, or :class:`PathNotAllowed` when it lies outside the allowed folders."""
        p = Path(path).expanduser()
        if self.roots is None:
            return p
        resolved = p.resolve()
        if not any(resolved.is_relative_to(root) for root in self.roots):
            raise PathNotAllowed(
                f"{what} {path} is outside the folders this server may read (the studio home, pretrained "
                "models and voice library). Put the file there, or use a library voice."
            )
        return resolved
