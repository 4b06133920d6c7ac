"""Read GPT-SoVITS model files without executing anything they might carry.

Official files are ``torch.save`` zip archives holding ``{"weight": {name: fp16 tensor}, "config": ...,
"info": str}``. Two quirks are handled here so the rest of the package never sees them:

* SoVITS configs are pickled instances of the class ``utils.HParams`` (an attribute bag). Unpickling a
  global class normally means importing and running code from the file's point of view, so we read the
  pickle with torch's allow-listing ``weights_only`` unpickler and allow exactly one extra name,
  ``utils.HParams``, mapped onto an inert stand-in that we turn into plain dicts. Any other global (``os.system``,
  ``builtins.eval``, ...) makes the read fail before anything is called.
* Newer upstream versions overwrite the zip's leading ``PK`` magic with two ASCII digits that name the model
  version (``05`` v2Pro, ``06`` v2ProPlus, ``03``/``04`` LoRA v3/v4 ...). We restore ``PK`` in memory.

Version and kind are decided from the content (keys and shapes, and the header digits), never from the file
size as upstream does.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gpt_sovits.errors import GPTSoVITSError

# The two leading bytes upstream writes in place of "PK" and the model version each one announces.
HEADER_VERSIONS: dict[bytes, str] = {
    b"00": "v1",
    b"01": "v2",
    b"02": "v3",
    b"03": "v3-lora",
    b"04": "v4-lora",
    b"05": "v2Pro",
    b"06": "v2ProPlus",
}
VERSION_HEADERS: dict[str, bytes] = {"v2Pro": b"05", "v2ProPlus": b"06"}
ZIP_MAGIC = b"PK"


class CheckpointError(GPTSoVITSError):
    """A file is missing, truncated, not a model file, of an unsupported kind, or unsafe to read."""


class _PickledHParams:
    """Inert stand-in for upstream's ``utils.HParams``: the unpickler fills ``__dict__`` and nothing runs."""


# (object, name in the pickle): the only global a GPT-SoVITS file may name beyond torch's tensor machinery.
_EXTRA_SAFE_GLOBALS = [(_PickledHParams, "utils.HParams")]


@dataclass(frozen=True)
class RawCheckpoint:
    """The decoded content of a model file, before any model is built.

    ``weight`` holds the tensors as stored (usually fp16), ``config`` is plain nested dicts (an ``HParams``
    object becomes a dict), ``header`` is the file's first two bytes as found on disk.
    """

    path: Path
    header: bytes
    weight: dict[str, torch.Tensor]
    config: dict[str, Any]
    info: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def header_version(self) -> str | None:
        """The version the header digits announce, or None for a plain ``PK`` zip."""
        return HEADER_VERSIONS.get(self.header)


def _plain(value: Any) -> Any:
    """Turn HParams stand-ins (recursively, also inside lists/dicts) into plain dicts."""
    if isinstance(value, _PickledHParams):
        return {k: _plain(v) for k, v in vars(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise CheckpointError(f"{path}: no such file. Check the path, or pick the model again.")
    if not path.is_file():
        raise CheckpointError(f"{path} is a folder, not a model file (.ckpt or .pth).")
    data = path.read_bytes()
    if len(data) < 4:
        raise CheckpointError(f"{path} is empty or truncated ({len(data)} bytes). Copy or download it again.")
    return data


def load_torch_safely(path: str | Path) -> tuple[Any, bytes]:
    """``torch.load`` a file with the allow-listing unpickler; return (object, original header).

    Restores the ``PK`` magic that upstream replaces with version digits. Raises :class:`CheckpointError`
    for a missing, truncated or non-zip file and for any pickle that names something other than tensors,
    plain containers and ``utils.HParams``.
    """
    path = Path(path)
    data = _read_bytes(path)
    header = data[:2]
    if header != ZIP_MAGIC:
        if header not in HEADER_VERSIONS:
            raise CheckpointError(
                f"{path} is not a GPT-SoVITS model file (it starts with {data[:8]!r}, not a PyTorch zip archive). "
                "Choose a .ckpt (GPT) or .pth (SoVITS) file saved by GPT-SoVITS or by this application."
            )
        data = ZIP_MAGIC + data[2:]
    buffer = io.BytesIO(data)
    if not zipfile.is_zipfile(buffer):
        raise CheckpointError(
            f"{path} is truncated or damaged (its zip directory is missing). Copy or download it again."
        )
    buffer.seek(0)
    try:
        with torch.serialization.safe_globals(_EXTRA_SAFE_GLOBALS):
            obj = torch.load(buffer, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"Refused to load {path}: it contains pickled code beyond tensors and plain settings "
            f"({_first_line(exc)}). Loading it could run arbitrary commands on this computer. Only use model "
            "files from sources you trust; a genuine GPT-SoVITS file never needs this."
        ) from None
    except (
        RuntimeError,
        zipfile.BadZipFile,
        EOFError,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
    ) as exc:
        raise CheckpointError(
            f"{path} could not be read as a PyTorch file ({_first_line(exc)}). It is probably truncated or "
            "damaged: copy or download it again."
        ) from None
    return _plain(obj), header


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def read_checkpoint(path: str | Path) -> RawCheckpoint:
    """Read an official-format GPT ``.ckpt`` or SoVITS ``.pth`` file (ours or upstream's) on the CPU.

    Accepts ``{"weight": {...}, "config": ..., "info": ...}`` files and bare state dicts (some pretrained
    files are saved that way); tensors come back exactly as stored.
    """
    path = Path(path)
    obj, header = load_torch_safely(path)
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"{path} holds a {type(obj).__name__}, not a model: expected a dict with a 'weight' entry."
        )
    if "weight" in obj:
        weight, rest = obj["weight"], {k: v for k, v in obj.items() if k != "weight"}
    elif "state_dict" in obj:  # Lightning-style files keep the weights under "state_dict".
        weight, rest = obj["state_dict"], {k: v for k, v in obj.items() if k != "state_dict"}
    elif obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        weight, rest = obj, {}
    else:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a GPT-SoVITS model (top-level keys: {sorted(map(str, obj))[:8]})."
        )
    if not isinstance(weight, dict) or not weight:
        raise CheckpointError(f"{path} has no weights in it.")
    bad = [k for k, v in weight.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"{path}: the weight table has non-tensor entries ({bad[:3]}); it is not a model."
        )
    config = rest.pop("config", None)
    info = rest.pop("info", None)
    return RawCheckpoint(
        path=path,
        header=header,
        weight=weight,
        config=config if isinstance(config, dict) else {},
        info=str(info) if info is not None else None,
        extra=rest,
    )
