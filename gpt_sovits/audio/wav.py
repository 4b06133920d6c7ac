"""The WAV header of streamed 16-bit audio (the HTTP API and the WebUI's streaming player share it)."""

from __future__ import annotations

import struct

# RIFF and data sizes of a stream whose length is not known yet: the largest value, which players read as
# "until the connection ends".
UNKNOWN_SIZE = 0xFFFFFFFF


def wav_header(sample_rate: int, data_bytes: int | None) -> bytes:
    """A 44-byte PCM16 mono WAV header; ``data_bytes`` None announces the largest size (streaming)."""
    if data_bytes is None:
        riff, data = UNKNOWN_SIZE, UNKNOWN_SIZE
    else:
        riff, data = 36 + data_bytes, data_bytes
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data)
    )
