"""The per-voice cache of reference features (written and read by the inference engine).

One cache slot per voice. The engine passes a ``key`` that encodes what the features were computed from
(model and reference hashes, engine version); a cache stored under another key is stale and ignored. The
cache is derived data: it is not listed in voice.json's hashes, any damage to it just means a cache miss,
and it travels with exported voices because it stays valid for the same files.

Stored as safetensors (key in the header metadata) when the package is installed, otherwise with
``torch.save`` and read back with ``weights_only=True`` so that a planted file cannot run code.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import torch

from gpt_sovits.voices.atomic import atomic_write_bytes
from gpt_sovits.voices.model import FEATURE_FILES, VoiceError

log = logging.getLogger(__name__)

SAFETENSORS_FILE, TORCH_FILE = FEATURE_FILES
_KEY = "gpt_sovits_cache_key"


def _safetensors():
    try:
        import safetensors.torch
    except ImportError:
        return None
    return safetensors.torch


def _plain_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if not isinstance(tensors, dict) or not tensors:
        raise VoiceError("Reference features to cache must be a non-empty dict of name -> tensor.")
    out = {}
    for name, t in tensors.items():
        if not isinstance(name, str) or not isinstance(t, torch.Tensor):
            raise VoiceError(f"Cached feature {name!r} must be a tensor under a text name.")
        # safetensors refuses views that share storage; a contiguous CPU copy is always storable.
        out[name] = t.detach().to("cpu").contiguous().clone()
    return out


def save_features(folder: Path, key: str, tensors: dict[str, torch.Tensor]) -> Path:
    """Store ``tensors`` under ``key`` in ``folder`` atomically, replacing any older cache."""
    if not isinstance(key, str) or not key:
        raise VoiceError("The feature cache key must be non-empty text.")
    plain = _plain_tensors(tensors)
    st = _safetensors()
    if st is not None:
        path, other = folder / SAFETENSORS_FILE, folder / TORCH_FILE
        data = st.save(plain, metadata={_KEY: key})
    else:
        path, other = folder / TORCH_FILE, folder / SAFETENSORS_FILE
        buffer = io.BytesIO()
        torch.save({"key": key, "tensors": plain}, buffer)
        data = buffer.getvalue()
    atomic_write_bytes(path, data)
    # Only one slot: a cache in the other format would be stale now.
    with contextlib.suppress(FileNotFoundError):
        other.unlink()
    return path


def _load_safetensors(path: Path) -> tuple[str | None, dict[str, torch.Tensor]]:
    st = _safetensors()
    if st is None:
        raise RuntimeError("safetensors is not installed")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as fh:
        key = (fh.metadata() or {}).get(_KEY)
        return key, {name: fh.get_tensor(name) for name in fh.keys()}


def _load_torch(path: Path) -> tuple[str | None, dict[str, torch.Tensor]]:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or not isinstance(obj.get("tensors"), dict):
        raise ValueError("not a feature cache")
    tensors = obj["tensors"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()):
        raise ValueError("the cache holds something other than named tensors")
    return obj.get("key"), tensors


def load_features(folder: Path, key: str) -> dict[str, torch.Tensor] | None:
    """The cached tensors if a cache stored under exactly ``key`` exists; None when absent, stale or damaged."""
    for name, loader in ((SAFETENSORS_FILE, _load_safetensors), (TORCH_FILE, _load_torch)):
        path = folder / name
        if not path.is_file():
            continue
        try:
            stored_key, tensors = loader(path)
        except Exception as exc:  # noqa: BLE001 - any damage to derived data is a cache miss, never a crash
            log.warning("Ignoring the damaged feature cache %s (%s); it will be rebuilt.", path, exc)
            return None
        if stored_key != key:
            log.debug("Feature cache %s is stale (key differs); ignoring it.", path)
            return None
        return tensors
    return None


def drop_features(folder: Path) -> None:
    """Remove the cache (used when a voice's files change, so that nothing stale lingers)."""
    for name in FEATURE_FILES:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
