"""Serving a Gradio app on loopback for a test and reading what the page is built from."""

from __future__ import annotations

import io
import json
import socket
import threading
import urllib.request

import numpy as np


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_config(app) -> dict:
    """Launch ``app`` (a ``gr.Blocks``) on a free loopback port, read its ``/config`` over HTTP, close it."""
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30) as resp:
            return json.loads(resp.read())
    finally:
        app.close()


def elem_ids(config: dict) -> set[str]:
    """Every ``elem_id`` of the served page's components."""
    return {c.get("props", {}).get("elem_id") for c in config["components"]} - {None}


def read_in_thread(hub, stream_id: str) -> tuple[threading.Thread, list[bytes]]:
    """Read a stream of a ``StreamHub`` as its HTTP route does, in a thread; the pieces go into the list."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(hub.wav_bytes(stream_id)), daemon=True)
    reader.start()
    return reader, got


def int16_wav(data: bytes | str) -> tuple[np.ndarray, int]:
    """The 16-bit samples and rate of a WAV given as bytes or a path."""
    import soundfile as sf

    return sf.read(io.BytesIO(data) if isinstance(data, bytes) else data, dtype="int16")
