"""Reading and writing audio files.

``load_audio`` turns any file FFmpeg or libsndfile can read into float32 mono at the requested
rate; ``save_audio`` writes WAV/FLAC atomically and never overwrites by accident. Every problem
with a file is reported as :class:`~gpt_sovits.errors.AudioError` naming the file and what to do.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from gpt_sovits.audio import _decode
from gpt_sovits.errors import AudioError

logger = logging.getLogger(__name__)

SILENCE_PEAK = 10.0 ** (-60.0 / 20.0)  # -60 dBFS
_MAX_CHANNELS = 64
_WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
_SUBTYPES = {"WAV": ("PCM_16", "PCM_24", "PCM_32", "FLOAT"), "FLAC": ("PCM_16", "PCM_24")}

PathLike = str | os.PathLike


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file holds, read from its header where the format allows."""

    sample_rate: int
    channels: int
    duration_s: float
    frames: int
    format: str  # short container name: "wav", "flac", "ogg", "mp3", "m4a", ...
    codec: str = ""  # sample encoding or codec: "pcm_16", "vorbis", "aac", ...


def _check_readable(path: Path) -> None:
    """Raise AudioError if ``path`` is missing, not a file, or empty."""
    if not path.exists():
        raise AudioError(
            f"Audio file not found: '{path}'. Check the path and that the file was copied completely."
        )
    if not path.is_file():
        raise AudioError(
            f"'{path}' is not a file (it is a folder or special file). Give the path of one audio file."
        )
    if path.stat().st_size == 0:
        raise AudioError(f"Audio file '{path}' is empty (0 bytes). Re-export or re-copy the recording.")


def _unreadable(path: Path, reasons: list[str]) -> AudioError:
    detail = "; ".join(reasons)
    return AudioError(
        f"Cannot decode audio file '{path}': it is corrupt or not an audio format FFmpeg/libsndfile "
        f"understands ({detail}). Open it in an audio player to check it, or convert it to WAV/FLAC."
    )


def audio_info(path: PathLike) -> AudioInfo:
    """Return the sample rate, channel count, duration, frame count and format of an audio file.

    Reads only the header where the format states its length (WAV, FLAC, OGG, MP3 with a header,
    MP4/M4A); otherwise decodes the file to count samples. Raises AudioError for a missing, empty
    or unreadable file.
    """
    p = Path(path)
    _check_readable(p)
    reasons: list[str] = []
    for name in _decode.backend_order(p):
        try:
            raw = _decode.INFO_BACKENDS[name](p)
        except _decode._BackendError as exc:
            reasons.append(str(exc))
            continue
        duration = raw.frames / raw.sample_rate if raw.sample_rate > 0 else 0.0
        return AudioInfo(
            sample_rate=raw.sample_rate,
            channels=raw.channels,
            duration_s=float(duration),
            frames=raw.frames,
            format=raw.format,
            codec=raw.codec,
        )
    raise _unreadable(p, reasons)


def _decode_file(path: Path, allow_truncated: bool) -> tuple[np.ndarray, int]:
    """Decode ``path`` with the first backend that can; returns ([channels, samples], rate)."""
    truncated = _decode.wav_truncation(path)
    if truncated is not None:
        declared, present = truncated
        msg = (
            f"WAV file '{path}' is truncated: its header announces {declared} bytes of audio but only "
            f"{present} are present."
        )
        if not allow_truncated:
            raise AudioError(
                msg + " Re-copy or re-export it, or pass allow_truncated=True to use what is there."
            )
        logger.warning("%s Using the %d bytes that are present.", msg, present)
    reasons: list[str] = []
    for name in _decode.backend_order(path):
        try:
            return _decode.BACKENDS[name](path)
        except _decode._BackendError as exc:
            reasons.append(str(exc))
    raise _unreadable(path, reasons)


def load_audio(
    path: PathLike,
    sample_rate: int,
    *,
    allow_silent: bool = False,
    allow_truncated: bool = False,
) -> np.ndarray:
    """Decode an audio file to float32 mono at ``sample_rate``.

    WAV/FLAC/OGG/AIFF... are read with libsndfile, MP3/M4A/AAC and anything else FFmpeg reads with
    PyAV. Channels are averaged; the rate is converted with soxr (high quality).

    Args:
        path: the audio file.
        sample_rate: the rate of the returned samples, in Hz.
        allow_silent: accept a file whose peak is below -60 dBFS instead of raising.
        allow_truncated: accept a WAV whose data chunk is shorter than its header says.

    Returns:
        ``np.ndarray`` of shape [samples], dtype float32.

    Raises:
        AudioError: the file is missing, empty, corrupt, truncated, has no samples, contains
            NaN/Inf, or is silent (unless ``allow_silent``). The message names the file.
    """
    if int(sample_rate) <= 0:
        raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}")
    p = Path(path)
    _check_readable(p)
    audio, sr = _decode_file(p, allow_truncated)  # [channels, samples]
    if audio.shape[-1] == 0 or sr <= 0:
        raise AudioError(f"Audio file '{p}' contains no audio samples. Re-export the recording.")
    if not np.isfinite(audio).all():
        raise AudioError(
            f"Audio file '{p}' contains NaN or infinite sample values. Re-export it as PCM WAV/FLAC."
        )
    mono = audio.mean(axis=0, dtype=np.float32) if audio.shape[0] > 1 else audio[0]  # [samples]
    peak = float(np.max(np.abs(mono)))
    if peak < SILENCE_PEAK and not allow_silent:
        peak_db = 20.0 * np.log10(peak) if peak > 0 else float("-inf")
        raise AudioError(
            f"Audio file '{p}' is silent (peak {peak_db:.1f} dBFS, below -60 dBFS). Check the recording "
            "level or the microphone, or pass allow_silent=True if silence is intended."
        )
    if sr != int(sample_rate):
        mono = soxr.resample(mono, sr, int(sample_rate), quality="HQ")  # [round(samples * out / in)]
        if mono.shape[0] == 0:
            raise AudioError(
                f"Audio file '{p}' is too short to resample to {sample_rate} Hz. Use a longer clip."
            )
    return np.ascontiguousarray(mono, dtype=np.float32)


def load_audio_channels(path: str | Path, sample_rate: int | None) -> tuple[np.ndarray, int]:
    """Decode a file to float32 [channels, samples] with 1 or 2 channels, resampled with soxr.

    More than two channels are averaged to one. ``sample_rate`` None keeps the file's rate.
    Raises AudioError for missing, empty, corrupt, NaN-containing or silent files.
    """
    p = Path(path)
    _check_readable(p)
    audio, sr = _decode_file(p, allow_truncated=False)  # [channels, samples]
    if audio.shape[-1] == 0 or sr <= 0:
        raise AudioError(f"Audio file '{p}' contains no audio samples. Re-export the recording.")
    if not np.isfinite(audio).all():
        raise AudioError(f"Audio file '{p}' contains NaN or infinite sample values. Re-export it.")
    if audio.shape[0] > 2:
        logger.info("'%s' has %d channels; separating their average.", p, audio.shape[0])
        audio = audio.mean(axis=0, keepdims=True)
    if float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise AudioError(f"Audio file '{p}' is silent (peak below -60 dBFS); there is nothing to separate.")
    if sample_rate is not None and sr != sample_rate:
        audio = soxr.resample(audio.T, sr, int(sample_rate), quality="HQ").T  # [channels, samples']
        sr = int(sample_rate)
        if audio.shape[-1] == 0:
            raise AudioError(f"Audio file '{p}' is too short to resample to {sample_rate} Hz.")
    return np.ascontiguousarray(audio, dtype=np.float32), int(sr)


def _as_frames(audio: np.ndarray | torch.Tensor, path: Path) -> np.ndarray:
    """Validate [samples] or [channels, samples] input; return [samples, channels] float32."""
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    arr = np.asarray(audio)
    if arr.ndim == 1:
        arr = arr[None, :]  # [1, samples]
    if arr.ndim != 2:
        raise AudioError(
            f"Cannot save '{path}': audio must be [samples] or [channels, samples], got {arr.shape}."
        )
    if arr.shape[0] > _MAX_CHANNELS:
        raise AudioError(
            f"Cannot save '{path}': audio shape {arr.shape} looks like [samples, channels]; "
            "pass [channels, samples] (transpose it)."
        )
    if arr.shape[1] == 0:
        raise AudioError(f"Cannot save '{path}': the audio has no samples.")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise AudioError(f"Cannot save '{path}': the audio contains NaN or infinite values.")
    return np.ascontiguousarray(arr.T)  # [samples, channels]


def save_audio(
    path: PathLike,
    audio: np.ndarray | torch.Tensor,
    sample_rate: int,
    format: str | None = None,
    *,
    subtype: str = "PCM_16",
    overwrite: bool = False,
) -> Path:
    """Write ``audio`` to a WAV or FLAC file atomically.

    Args:
        path: destination; its extension (.wav/.flac) picks the format unless ``format`` is given.
        audio: [samples] (mono) or [channels, samples], float in [-1, 1]; values outside are clipped
            for integer subtypes (with a warning).
        sample_rate: rate of ``audio`` in Hz.
        format: "wav" or "flac" to override the extension.
        subtype: "PCM_16" (default), "PCM_24", "PCM_32" or "FLOAT" (WAV only).
        overwrite: replace an existing file; otherwise an existing file raises AudioError.

    Returns:
        The path written. The data goes to a temporary file in the same folder first and is then
        moved into place, so a reader never sees a half-written file.
    """
    p = Path(path)
    if format is not None:
        fmt = _WRITE_FORMATS.get("." + format.lower().lstrip("."))
    else:
        fmt = _WRITE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise AudioError(
            f"Cannot save '{p}': only .wav and .flac can be written. Use one of those extensions."
        )
    subtype = subtype.upper()
    if subtype not in _SUBTYPES[fmt]:
        raise AudioError(
            f"Cannot save '{p}': {fmt} supports subtypes {', '.join(_SUBTYPES[fmt])}, not {subtype}."
        )
    if int(sample_rate) <= 0:
        raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}")
    if p.exists() and not overwrite:
        raise AudioError(f"'{p}' already exists. Choose another name or pass overwrite=True to replace it.")
    frames = _as_frames(audio, p)  # [samples, channels]
    if subtype != "FLOAT":
        peak = float(np.max(np.abs(frames)))
        if peak > 1.0:
            logger.warning("Clipping audio for '%s': peak %.3f exceeds 1.0 (normalise it first).", p, peak)
            frames = np.clip(frames, -1.0, 1.0)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex[:12]}.tmp")
    # O_EXCL: never clobber; mode 0o666 minus the umask, like a normally created file.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        sf.write(str(tmp), frames, int(sample_rate), format=fmt, subtype=subtype)
        if overwrite:
            os.replace(tmp, p)
        else:
            _move_no_clobber(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def _move_no_clobber(tmp: Path, dest: Path) -> None:
    """Move ``tmp`` to ``dest`` atomically, failing if ``dest`` appeared meanwhile."""
    try:
        os.link(tmp, dest)  # atomic and refuses to replace an existing name
    except FileExistsError as exc:
        raise AudioError(f"'{dest}' already exists. Choose another name or pass overwrite=True.") from exc
    except OSError:
        # Filesystem without hard links: best effort (the existence check above already passed).
        if dest.exists():
            raise AudioError(
                f"'{dest}' already exists. Choose another name or pass overwrite=True."
            ) from None
        os.replace(tmp, dest)
