"""Write model files that GPT-SoVITS loads unchanged and that also describe themselves to us.

One file serves both purposes: the official layout (``weight`` as fp16 tensors, ``config`` as plain dicts,
``info``) plus one extra top-level entry ``gpt_sovits`` with format, kind, version and provenance. Upstream
reads only the keys it knows, so the extra entry is invisible to it; plain dicts (rather than a pickled
``utils.HParams``) load in upstream through both ``torch.load`` and its ``DictToAttrRecursive`` wrapper, and
in any safe reader. v2Pro/v2ProPlus SoVITS files get upstream's version digits in place of ``PK`` because
upstream decides those versions from the header alone.
"""

from __future__ import annotations

import functools
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from gpt_sovits.fileio import atomic_write_bytes
from gpt_sovits.models.checkpoint import VERSION_HEADERS, ZIP_MAGIC, CheckpointError

FORMAT_NAME = "gpt-sovits-studio"
FORMAT_VERSION = 1

# The config entries upstream's loaders read; a file without them would load here but fail there.
GPT_REQUIRED = {
    "model": (
        "embedding_dim",
        "hidden_dim",
        "head",
        "n_layer",
        "vocab_size",
        "phoneme_vocab_size",
        "EOS",
        "dropout",
    ),
    "data": ("max_sec",),
}
SOVITS_REQUIRED = {
    "data": ("filter_length", "hop_length", "win_length", "sampling_rate", "n_speakers"),
    "train": ("segment_size",),
    "model": ("inter_channels", "hidden_channels", "upsample_rates", "gin_channels", "version"),
}


def _check_config(config: dict[str, Any], required: dict[str, tuple[str, ...]], what: str) -> None:
    missing = [
        f"{section}.{key}"
        for section, keys in required.items()
        for key in keys
        if key not in config.get(section, {})
    ]
    if missing:
        raise CheckpointError(
            f"Cannot save a {what} file that GPT-SoVITS could load: config lacks {missing}."
        )


def _describe(kind: str, version: str, app_version: str, note: str | None) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "version": version,
        "app_version": app_version,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "note": note or "",
    }


def _write_atomic(path: Path, data: bytes, overwrite: bool) -> None:
    """Write via a temporary file in the same folder and rename, so a crash never leaves half a model."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise CheckpointError(f"{path} already exists; choose another name (nothing was overwritten).")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)


def _serialise(obj: dict[str, Any], header: bytes = ZIP_MAGIC) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    return header + data[2:]


def _half(weight: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        k: (v.detach().to("cpu").half() if v.is_floating_point() else v.detach().to("cpu"))
        for k, v in weight.items()
    }


def save_model_file(
    kind: str,
    path: str | Path,
    state_dict: dict[str, torch.Tensor],
    config: dict[str, Any],
    *,
    version: str,
    info: str,
    app_version: str = "0",
    note: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Save a ``"gpt"`` or ``"sovits"`` model in upstream's layout, fp16, atomically, never overwriting.

    GPT (``.ckpt``): keys get the ``model.`` prefix. SoVITS (``.pth``): the posterior encoder ``enc_q``
    is dropped (upstream keeps it only for training) and v2Pro/v2ProPlus get their header digits.
    ``info`` is upstream's free text (``"GPT-e15"``, ``"8epoch_96iteration"``).
    """
    weight = _half(state_dict)
    header = ZIP_MAGIC
    if kind == "gpt":
        _check_config(config, GPT_REQUIRED, "GPT")
        weight = {f"model.{k}": v for k, v in weight.items()}
    elif kind == "sovits":
        _check_config(config, SOVITS_REQUIRED, "SoVITS")
        if config["model"]["version"] != version:
            raise CheckpointError(
                f"config says version {config['model']['version']} but the file is saved as {version}"
            )
        weight = {k: v for k, v in weight.items() if "enc_q" not in k}
        header = VERSION_HEADERS.get(version, ZIP_MAGIC)
    else:
        raise ValueError(f"kind must be 'gpt' or 'sovits', not {kind!r}")
    obj = {
        "weight": weight,
        "config": config,
        "info": info,
        "gpt_sovits": _describe(kind, version, app_version, note),
    }
    path = Path(path)
    _write_atomic(path, _serialise(obj, header), overwrite)
    return path


save_gpt_file = functools.partial(save_model_file, "gpt")
save_sovits_file = functools.partial(save_model_file, "sovits")
