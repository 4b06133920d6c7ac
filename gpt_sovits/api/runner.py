"""Runs engine work off the event loop, with a deadline and cancellation when the client goes away.

The engine is synchronous and thread-safe, so every request runs in its own worker thread; the event loop
only waits. A request that runs past ``timeout_s`` is cancelled through its
:class:`~gpt_sovits.inference.engine.CancelToken` (the engine stops at its next step) and the caller gets
:class:`RequestTimeout`. While the loop waits it polls for a client disconnect and cancels the same way.
A streamed request's thread owns the engine's generator from start to end (a generator must not be
resumed from several threads) and hands chunks to the loop through a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable

from gpt_sovits.inference.engine import CancelToken
from gpt_sovits.inference.options import AudioChunk, SynthesisOptions, SynthesisResult

log = logging.getLogger(__name__)

DISCONNECT_POLL_S = 0.25
BACKSTOP_GRACE_S = 1.0


class RequestTimeout(Exception):
    """The request ran longer than the server's time limit and was cancelled."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"The request took longer than the server's limit of {timeout_s:g} s and was cancelled. "
            "Send a shorter text (or several requests), or raise the limit with --timeout."
        )
        self.timeout_s = timeout_s


def _deliver(loop: asyncio.AbstractEventLoop, callback: Callable, *args) -> None:
    """Hand a result from a worker thread to the loop (which may be gone if the server stopped)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


def _settle(future: asyncio.Future, value, error: BaseException | None) -> None:
    if future.done():
        return
    # The waiter may have given up (timeout, disconnect): mark a late error as seen so asyncio does not
    # log "exception was never retrieved" for a request that was answered already.
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


@contextlib.asynccontextmanager
async def watch_disconnect(request, token: CancelToken) -> AsyncIterator[None]:
    """While the body runs, cancel ``token`` if the HTTP client disconnects (``request`` None: no watch)."""
    if request is None:
        yield
        return

    async def poll() -> None:
        while not token.cancelled:
            if await request.is_disconnected():
                log.info("client disconnected from %s; cancelling its synthesis", request.url.path)
                token.cancel()
                return
            await asyncio.sleep(DISCONNECT_POLL_S)

    task = asyncio.create_task(poll())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class AudioStream:
    """The chunks of one streamed request, read with :meth:`next` on the event loop."""

    def __init__(self, queue: asyncio.Queue, token: CancelToken, deadline: float, timeout_s: float) -> None:
        self._queue = queue
        self.token = token
        self._deadline = deadline
        self._timeout_s = timeout_s
        self.done = False

    async def next(self) -> AudioChunk | None:
        """The next chunk, None at the end; raises the engine's error or :class:`RequestTimeout`."""
        if self.done:
            return None
        remaining = self._deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise asyncio.TimeoutError
            kind, payload = await asyncio.wait_for(self._queue.get(), remaining)
        except asyncio.TimeoutError:
            self.cancel()
            raise RequestTimeout(self._timeout_s) from None
        if kind == "chunk":
            return payload
        self.done = True
        if kind == "error":
            raise payload
        return None

    def cancel(self) -> None:
        """Stop the engine work (its thread ends at the engine's next step)."""
        self.done = True
        self.token.cancel()


class Runner:
    """Starts engine requests in worker threads and counts how many are running."""

    def __init__(self, engine, timeout_s: float) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.engine = engine
        self.timeout_s = float(timeout_s)
        self._active = 0
        self._lock = threading.Lock()

    @property
    def active(self) -> int:
        """Engine requests whose threads are still running (cancelled ones until they stop)."""
        with self._lock:
            return self._active

    def _spawn(self, work: Callable[[], None], token: CancelToken, name: str) -> None:
        # A backstop: the waiting request enforces the deadline, but a stream whose response never started
        # has nobody reading it, so the thread also cancels itself a little after the deadline.
        backstop = threading.Timer(self.timeout_s + BACKSTOP_GRACE_S, token.cancel)
        backstop.daemon = True

        def target() -> None:
            try:
                work()
            finally:
                backstop.cancel()
                with self._lock:
                    self._active -= 1

        with self._lock:
            self._active += 1
        backstop.start()
        threading.Thread(target=target, name=name, daemon=True).start()

    async def synthesize(self, options: SynthesisOptions, request=None) -> SynthesisResult:
        """The whole result; raises the engine's error, :class:`RequestTimeout`, or ``Cancelled``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        token = CancelToken()

        def work() -> None:
            try:
                result = self.engine.synthesize(options, token)
            except BaseException as exc:  # handed to the waiting request, whatever it is
                _deliver(loop, _settle, future, None, exc)
            else:
                _deliver(loop, _settle, future, result, None)

        self._spawn(work, token, "api-synthesize")
        try:
            async with watch_disconnect(request, token):
                return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except asyncio.TimeoutError:
            token.cancel()
            raise RequestTimeout(self.timeout_s) from None
        except asyncio.CancelledError:
            token.cancel()
            raise

    async def open_stream(
        self, options: SynthesisOptions, request=None
    ) -> tuple[AudioChunk | None, AudioStream]:
        """Start a streamed request and wait for its first chunk, so that errors (bad reference, missing
        model) and timeouts surface before any response header is sent."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        token = CancelToken()

        def work() -> None:
            try:
                for chunk in self.engine.stream(options, token):
                    _deliver(loop, queue.put_nowait, ("chunk", chunk))
                    if token.cancelled:
                        break
            except BaseException as exc:
                _deliver(loop, queue.put_nowait, ("error", exc))
            else:
                _deliver(loop, queue.put_nowait, ("end", None))

        stream = AudioStream(queue, token, loop.time() + self.timeout_s, self.timeout_s)
        self._spawn(work, token, "api-stream")
        try:
            async with watch_disconnect(request, token):
                first = await stream.next()
        except BaseException:
            stream.cancel()
            raise
        return first, stream
