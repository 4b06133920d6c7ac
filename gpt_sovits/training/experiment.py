"""An experiment folder: the prepared dataset of one voice and the training runs made from it.

Layout under ``settings.logs_dir / NAME`` (the folder upstream GPT-SoVITS also calls ``logs/NAME``)::

    manifest.json        what was prepared from what (format, base model, source list, counts)
    items.jsonl          one line per prepared clip (text, phones, durations, feature file)
    failed.jsonl         one line per clip that could not be prepared, with the reason
    items/<id>.pt        the clip's features (phones, BERT, HuBERT, 32 kHz audio, codes, speaker vector)
    gpt/  sovits/        one run folder per model: config.json, train.log, progress.jsonl,
                         TensorBoard events, state.pt (resume), checkpoints in the official formats
    eval/                evaluation of saved checkpoints

The next stage reads only this folder: training never looks at the source list or audio again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.fileio import atomic_write_bytes

EXPERIMENT_FORMAT = "gpt-sovits-studio/experiment"
EXPERIMENT_VERSION = 1
RUN_KINDS = ("gpt", "sovits")
_NAME = re.compile(r"^[\w][\w .-]{0,79}$")
# Folders of logs/ that are not experiments: the job manager's records and the WebUI's files (gpt_sovits.ui).
RESERVED_NAMES = frozenset({"jobs", "webui"})


class ExperimentError(GPTSoVITSError):
    """An experiment folder is missing, unreadable or was asked for by an unsafe name."""


@dataclass(frozen=True)
class ItemRecord:
    """One prepared clip (a line of ``items.jsonl``)."""

    id: str
    audio: str  # the source file as the list named it
    speaker: str
    lang: str  # front-end language code of the clip ("en", "zh", ...)
    text: str
    phones: tuple[int, ...]  # symbol ids, as the GPT and SoVITS read them
    seconds: float  # duration of the 32 kHz audio
    frames: int  # SSL / spectrogram frames at 50 Hz
    n_codes: int  # semantic codes at 25 Hz
    file: str  # feature file, relative to the experiment folder

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "phones": list(self.phones)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> ItemRecord:
        data = json.loads(line)
        data["phones"] = tuple(data["phones"])
        return cls(**data)


@dataclass(frozen=True)
class ItemFeatures:
    """The tensors of one clip, as training reads them (all on the CPU).

    ``phones`` [P] long; ``bert`` [1024, P] float32 (zeros for languages without BERT features);
    ``ssl`` [768, T] HuBERT features at 50 Hz; ``wav`` [S] float32 at 32 kHz; ``codes`` [T // 2] long
    (semantic codes of the base SoVITS quantizer); ``sv`` [20480] speaker vector (v2Pro/v2ProPlus only).
    """

    phones: torch.Tensor
    bert: torch.Tensor
    ssl: torch.Tensor
    wav: torch.Tensor
    codes: torch.Tensor
    sv: torch.Tensor | None = None


@dataclass(frozen=True)
class Manifest:
    """What an experiment was prepared from."""

    name: str
    base_version: str  # "v2", "v2Pro", "v2ProPlus"
    base_gpt: str
    base_sovits: str
    source_list: str
    sample_rate: int = 32000
    items: int = 0
    failed: int = 0
    format: str = EXPERIMENT_FORMAT
    format_version: int = EXPERIMENT_VERSION
    extra: dict = field(default_factory=dict)


def item_id(audio: str, lang: str, text: str) -> str:
    """A stable id for a list row, so a rerun of ``prepare`` recognises what it already did."""
    digest = hashlib.sha1(f"{audio}|{lang}|{text}".encode()).hexdigest()[:10]
    stem = re.sub(r"[^\w.-]+", "_", Path(audio.replace("\\", "/")).stem)[:40] or "clip"
    return f"{stem}-{digest}"


_EPOCH_STEP = re.compile(r"(?:^|[-_])e(\d+)(?:[-_]s(\d+))?$")


def checkpoint_order(path: Path) -> tuple[int, int, str]:
    """(epoch, step, name) from a checkpoint's file name; names without an epoch sort first."""
    m = _EPOCH_STEP.search(path.stem)
    if m is None:
        return (-1, -1, path.name)
    return (int(m.group(1)), int(m.group(2) or 0), path.name)


def check_name(name: str) -> str:
    """Return ``name`` if it is a safe experiment folder name, else raise with what to use instead."""
    if not _NAME.match(name or "") or name in {".", ".."} or name.strip() != name:
        raise ExperimentError(
            f"{name!r} is not a usable experiment name: use letters, digits, spaces, '.', '-' or '_' "
            "(1-80 characters, no slashes), e.g. 'alice_v1'."
        )
    if name.lower() in RESERVED_NAMES:
        raise ExperimentError(
            f"{name!r} is the name of a folder the app keeps in logs/ for itself; choose another experiment name."
        )
    return name


class Experiment:
    """Access to one experiment folder (see the module docstring for the layout)."""

    def __init__(self, logs_dir: str | Path, name: str) -> None:
        self.name = check_name(name)
        self.root = Path(logs_dir) / name

    # ----------------------------------------------------------------- paths
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def items_path(self) -> Path:
        return self.root / "items.jsonl"

    @property
    def failed_path(self) -> Path:
        return self.root / "failed.jsonl"

    @property
    def items_dir(self) -> Path:
        return self.root / "items"

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    def run_dir(self, kind: str) -> Path:
        """The run folder of ``"gpt"`` or ``"sovits"`` training."""
        if kind not in RUN_KINDS:
            raise ValueError(f"kind must be one of {RUN_KINDS}, not {kind!r}")
        return self.root / kind

    def checkpoints(self, kind: str) -> list[Path]:
        """Saved official-format checkpoints of ``"gpt"`` or ``"sovits"`` training, oldest first (by the
        epoch and step in their names: ``NAME-e15.ckpt``, ``NAME_e8_s96.pth``)."""
        folder = self.run_dir(kind) / "checkpoints"
        suffix = ".ckpt" if kind == "gpt" else ".pth"
        files = [p for p in folder.glob(f"*{suffix}") if p.is_file()] if folder.is_dir() else []
        return sorted(files, key=checkpoint_order)

    # ----------------------------------------------------------------- manifest
    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def read_manifest(self) -> Manifest:
        """The manifest; a clear error when the experiment was never prepared."""
        if not self.exists():
            raise ExperimentError(
                f"Experiment {self.name!r} has no prepared data ({self.manifest_path} is missing); run "
                f"`python -m gpt_sovits.training prepare --list FILE --exp {self.name}` first."
            )
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ExperimentError(f"{self.manifest_path} is unreadable ({exc}); run prepare again.") from None
        if data.get("format") != EXPERIMENT_FORMAT:
            raise ExperimentError(f"{self.manifest_path} is not an experiment manifest of this program.")
        known = set(Manifest.__dataclass_fields__)
        return Manifest(**{k: v for k, v in data.items() if k in known})

    def write_manifest(self, manifest: Manifest) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        text = json.dumps(asdict(manifest), ensure_ascii=False, indent=2) + "\n"
        atomic_write_bytes(self.manifest_path, text.encode("utf-8"))

    # ----------------------------------------------------------------- items
    def items(self) -> list[ItemRecord]:
        """Prepared clips in the order they were prepared (a torn last line from a crash is ignored)."""
        return list(self._read_jsonl(self.items_path, ItemRecord.from_json))

    def failures(self) -> list[dict]:
        """``{"audio", "text", "reason"}`` of every clip that could not be prepared."""
        return list(self._read_jsonl(self.failed_path, json.loads))

    @staticmethod
    def _read_jsonl(path: Path, parse) -> Iterator:
        if not path.is_file():
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                yield parse(line)
            except (ValueError, TypeError, KeyError):
                continue  # a line cut short by a crash: that clip is prepared again

    def append_item(self, record: ItemRecord, features: ItemFeatures) -> None:
        """Save a clip's features, then record it (the feature file exists before its line does)."""
        path = self.root / record.file
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v for k, v in asdict_shallow(features).items() if v is not None}
        buffer = _torch_bytes(tensors)
        atomic_write_bytes(path, buffer)
        _append_line(self.items_path, record.to_json())

    def append_failure(self, audio: str, text: str, reason: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"audio": audio, "text": text, "reason": reason}, ensure_ascii=False)
        _append_line(self.failed_path, line)

    def load_features(self, record: ItemRecord) -> ItemFeatures:
        """Read a clip's tensors (safe loader: tensors only)."""
        path = self.root / record.file
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file means the same thing to the user
            raise ExperimentError(
                f"{path} is unreadable ({type(exc).__name__}); delete it and its line in items.jsonl, "
                "then run prepare again."
            ) from None
        return ItemFeatures(
            phones=data["phones"].long(),
            bert=data["bert"].float(),
            ssl=data["ssl"].float(),
            wav=data["wav"].float(),
            codes=data["codes"].long(),
            sv=data["sv"].float() if "sv" in data else None,
        )


def _append_line(path: Path, line: str) -> None:
    """Append one JSON line; a torn last line left by a crash is closed first so it cannot swallow this one."""
    with path.open("ab") as f:
        if f.tell() > 0:
            with path.open("rb") as r:
                r.seek(-1, 2)
                if r.read(1) != b"\n":
                    f.write(b"\n")
        f.write(line.encode("utf-8") + b"\n")


def asdict_shallow(features: ItemFeatures) -> dict[str, torch.Tensor | None]:
    """Field name -> tensor, without the deep copy :func:`dataclasses.asdict` makes."""
    return {name: getattr(features, name) for name in ItemFeatures.__dataclass_fields__}


def _torch_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    import io

    buffer = io.BytesIO()
    # Stored compactly: fp16 for features (the official pipeline also stores HuBERT features in half).
    packed = {
        k: (v.detach().cpu().half() if v.is_floating_point() and k in ("bert", "ssl") else v.detach().cpu())
        for k, v in tensors.items()
    }
    torch.save(packed, buffer)
    return buffer.getvalue()
