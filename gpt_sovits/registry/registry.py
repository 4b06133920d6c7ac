"""The process-wide model registry: every model file is loaded once and shared, within a memory budget.

Entries are keyed by ``(kind, resolved absolute path)``. A file that changes on disk (modification time
or size) is loaded again on the next request. Concurrent requests for the same key wait for a single load;
different keys load in parallel (no lock is held while a loader runs). Least-recently-used entries are
dropped when the total goes over the budget; dropping only releases the registry's reference, so callers
that still hold a model keep using it.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from gpt_sovits.device import DeviceChoice
from gpt_sovits.features import (
    BertEncoder,
    HubertEncoder,
    SpeakerEncoder,
    load_bert,
    load_hubert,
    load_speaker_encoder,
)
from gpt_sovits.models.loading import LoadedModel, load_gpt, load_sovits
from gpt_sovits.models.t2s import T2SDecoder

logger = logging.getLogger(__name__)

T = TypeVar("T")
Key = tuple[str, Path]
Signature = tuple[int, int] | None  # (mtime_ns, size) of a file, or of a folder's newest file and total

CUDA_BUDGET_FRACTION = 0.8
CPU_BUDGET_FRACTION = 0.5


@dataclass(frozen=True)
class GPTHandle:
    """A loaded GPT together with the fast decoder built over it (the decoder's tables count too)."""

    loaded: LoadedModel
    decoder: T2SDecoder


@dataclass(frozen=True)
class LoadedEntry:
    """A snapshot of one registry entry (times are ``time.time()`` seconds)."""

    kind: str
    path: Path
    device: str
    dtype: str
    nbytes: int
    load_seconds: float
    loaded_at: float
    last_used: float
    uses: int


@dataclass
class _Entry:
    value: Any
    signature: Signature
    nbytes: int
    device: str
    dtype: str
    load_seconds: float
    loaded_at: float
    last_used: float
    uses: int = 1


class _Pending:
    """One load in progress: waiters block on ``done`` and then read ``value`` or ``error``."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.owner = threading.get_ident()
        self.value: Any = None
        self.error: BaseException | None = None


# ---------------------------------------------------------------------------------------- memory accounting
def _add_tensor(t: torch.Tensor, found: dict[tuple[str, int], tuple[int, torch.dtype, str]]) -> None:
    """Record the storage behind ``t`` once (views and shared weights have the same storage)."""
    try:
        storage = t.untyped_storage()
        ptr, size = storage.data_ptr(), storage.nbytes()
    except (RuntimeError, NotImplementedError):  # sparse or other storage-less layouts
        ptr, size = id(t), t.numel() * t.element_size()
    if size == 0 or t.device.type == "meta":
        return
    found[(str(t.device), ptr)] = (size, t.dtype, str(t.device))


def _collect(obj: Any, found: dict, seen: set[int], depth: int = 0) -> None:
    """Walk ``obj`` for tensors: modules (parameters, buffers, plain tensor attributes), containers,
    dataclasses and this package's own objects. Third-party objects (tokenizers, configs) are not
    entered: they hold no tensors and can be large."""
    if isinstance(obj, torch.Tensor):
        _add_tensor(obj, found)
        return
    if depth > 8 or id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool, Path)):
        return
    seen.add(id(obj))
    if isinstance(obj, nn.Module):
        for t in list(obj.parameters()) + list(obj.buffers()):
            _add_tensor(t, found)
        for module in obj.modules():  # tensors cached as plain attributes hold memory too
            for value in vars(module).values():
                if isinstance(value, torch.Tensor):
                    _add_tensor(value, found)
        return
    children: Iterable[Any] = ()
    if isinstance(obj, dict):
        children = obj.values()
    elif isinstance(obj, (list, tuple, set, frozenset)):
        children = obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        children = [getattr(obj, f.name, None) for f in dataclasses.fields(obj)]
    elif type(obj).__module__.startswith("gpt_sovits") and hasattr(obj, "__dict__"):
        children = vars(obj).values()
    for child in children:
        _collect(child, found, seen, depth + 1)


def _storages(obj: Any) -> list[tuple[int, torch.dtype, str]]:
    found: dict[tuple[str, int], tuple[int, torch.dtype, str]] = {}
    _collect(obj, found, set())
    return list(found.values())


def tensor_bytes(obj: Any) -> int:
    """Bytes of the unique tensor storages reachable from ``obj`` (shared weights count once)."""
    return sum(size for size, _, _ in _storages(obj))


def _describe(storages: list[tuple[int, torch.dtype, str]], fallback: DeviceChoice) -> tuple[str, str]:
    """Device and dtype names of the storages, largest first (``"float32+bfloat16"`` when mixed)."""
    by_dtype: dict[torch.dtype, int] = {}
    by_device: dict[str, int] = {}
    for size, dtype, device in storages:
        by_dtype[dtype] = by_dtype.get(dtype, 0) + size
        by_device[device] = by_device.get(device, 0) + size
    if not by_dtype:
        return str(fallback.device), str(fallback.dtype).removeprefix("torch.")
    floats = {d: n for d, n in by_dtype.items() if d.is_floating_point} or by_dtype
    dtypes = sorted(floats, key=floats.get, reverse=True)
    devices = sorted(by_device, key=by_device.get, reverse=True)
    return "+".join(devices), "+".join(str(d).removeprefix("torch.") for d in dtypes)


def _signature(path: Path) -> Signature:
    """(mtime_ns, size) of a file; for a folder the newest mtime and total size of everything in it."""
    try:
        st = path.stat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return (st.st_mtime_ns, st.st_size)
    newest, total = st.st_mtime_ns, 0
    for child in path.rglob("*"):
        try:
            cst = child.stat()
        except OSError:
            continue
        newest = max(newest, cst.st_mtime_ns)
        total += cst.st_size if stat.S_ISREG(cst.st_mode) else 0
    return (newest, total)


def _resolve(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def _default_budget(device: DeviceChoice) -> int:
    if device.is_cuda:
        index = device.device.index if device.device.index is not None else torch.cuda.current_device()
        return int(torch.cuda.get_device_properties(index).total_memory * CUDA_BUDGET_FRACTION)
    import psutil

    return int(psutil.virtual_memory().total * CPU_BUDGET_FRACTION)


def _cpu_table_dtype(precision: torch.dtype) -> torch.dtype:
    """GPT weight-table dtype on the CPU for a chosen precision: any half precision gives fp16 tables.

    fp16 and bf16 tables read the same bytes per token (same speed, bench/gpt_decode.py), but fp16 keeps
    three more mantissa bits: logits within 0.0015 of float32 and greedy codes identical, against 0.013
    for bf16. The official checkpoints store fp16, so fp16 tables lose nothing from the file.
    """
    return torch.float16 if precision in (torch.float16, torch.bfloat16) else torch.float32


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


class ModelRegistry:
    """Loads each model file once per process and keeps it while it fits the memory budget.

    ``device`` is the device/precision choice every typed helper loads with. ``budget_bytes`` None means
    80% of the GPU's memory on CUDA and 50% of the RAM on the CPU. ``cpu_gpt_weight_dtype`` is the dtype
    of the GPT decoder's CPU weight tables (None: float32 for float32, fp16 for a half precision, so
    ``choose_device("cpu", "bf16")`` is the fast CPU mode; float32 reproduces the reference exactly; bf16/fp16 halve the
    bytes read per token). Nothing is loaded until a model is requested. All methods are thread-safe.
    """

    def __init__(
        self,
        device: DeviceChoice,
        budget_bytes: int | None = None,
        *,
        cpu_gpt_weight_dtype: torch.dtype | None = None,
    ) -> None:
        if budget_bytes is not None and budget_bytes <= 0:
            raise ValueError(f"budget_bytes must be positive, got {budget_bytes}")
        self.device = device
        self.cpu_gpt_weight_dtype = cpu_gpt_weight_dtype
        self._budget = int(budget_bytes) if budget_bytes is not None else _default_budget(device)
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()  # least recently used first
        self._pending: dict[Key, _Pending] = {}

    # ------------------------------------------------------------------------------------------ core
    @property
    def budget_bytes(self) -> int:
        """The memory budget in bytes."""
        return self._budget

    def get(
        self,
        kind: str,
        path: str | Path,
        loader: Callable[[], T],
        nbytes: Callable[[T], int] | None = None,
    ) -> T:
        """The object for ``(kind, path)``, calling ``loader()`` only if it is not loaded (or the file
        changed). Concurrent callers for the same key share one load; a failing load raises in every
        waiter and is not remembered. ``nbytes`` measures the object (default: :func:`tensor_bytes`)."""
        if not kind:
            raise ValueError("kind must be a non-empty string")
        key = (kind, _resolve(path))
        signature = _signature(key[1])  # stat outside the lock: it touches the disk
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.signature == signature:
                self._touch(key, entry)
                return entry.value
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = _Pending()
                if entry is not None:
                    logger.info("%s %s changed on disk; loading it again", kind, key[1])
                    del self._entries[key]
                owner = True
            else:
                owner = False
        if owner:
            return self._load(key, signature, pending, loader, nbytes)
        return self._wait(key, pending)

    def _touch(self, key: Key, entry: _Entry) -> None:
        entry.uses += 1
        entry.last_used = time.time()
        self._entries.move_to_end(key)

    def _wait(self, key: Key, pending: _Pending) -> Any:
        if pending.owner == threading.get_ident():
            raise RuntimeError(f"the loader of {key[0]} {key[1]} requested the same model again (recursion)")
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.value is pending.value:
                self._touch(key, entry)
        return pending.value

    def _load(
        self,
        key: Key,
        signature: Signature,
        pending: _Pending,
        loader: Callable[[], T],
        nbytes: Callable[[T], int] | None,
    ) -> T:
        kind, path = key
        start = time.perf_counter()
        try:
            value = loader()
            storages = _storages(value)
            size = int(nbytes(value)) if nbytes is not None else sum(n for n, _, _ in storages)
            device, dtype = _describe(storages, self.device)
        except BaseException as exc:  # every waiter must wake up, whatever went wrong
            with self._lock:
                del self._pending[key]
            pending.error = exc
            pending.done.set()
            logger.warning("loading %s %s failed: %s", kind, path, exc)
            raise
        seconds = time.perf_counter() - start
        now = time.time()
        with self._lock:
            self._entries[key] = _Entry(value, signature, size, device, dtype, seconds, now, now)
            del self._pending[key]
            evicted = self._evict_over_budget(keep=key)
            total, count = self._total(), len(self._entries)
            pending.value = value
            pending.done.set()
        logger.info(
            "loaded %s %s in %.2f s (%s, %s, %s; %d models, %s of %s budget)",
            kind,
            path,
            seconds,
            _mb(size),
            device,
            dtype,
            count,
            _mb(total),
            _mb(self._budget),
        )
        if size > self._budget:
            logger.warning(
                "%s %s alone needs %s, more than the whole model budget (%s); it is kept loaded anyway. "
                "Raise the budget or use a smaller precision.",
                kind,
                path,
                _mb(size),
                _mb(self._budget),
            )
        self._released(evicted)
        return value

    def _total(self) -> int:
        return sum(e.nbytes for e in self._entries.values())

    def _evict_over_budget(self, keep: Key) -> list[tuple[Key, _Entry]]:
        """Drop least-recently-used entries (never ``keep``) until the total fits. Lock held."""
        evicted = []
        total = self._total()
        for key in list(self._entries):
            if total <= self._budget:
                break
            if key == keep:
                continue
            entry = self._entries.pop(key)
            total -= entry.nbytes
            evicted.append((key, entry))
            logger.info(
                "evicted %s %s (%s) to stay within the model budget", key[0], key[1], _mb(entry.nbytes)
            )
        return evicted

    def _released(self, dropped: list[tuple[Key, _Entry]]) -> None:
        """After entries were dropped (lock released): give freed GPU memory back to the driver."""
        if dropped and self.device.is_cuda:
            dropped.clear()  # our last references; cycles inside modules need the collector
            gc.collect()
            torch.cuda.empty_cache()

    # -------------------------------------------------------------------------------- typed helpers
    def gpt(self, path: str | Path) -> GPTHandle:
        """The GPT in ``path`` with its fast decoder (module float32 on the CPU, the registry's dtype
        on CUDA; CPU decoder tables in ``cpu_gpt_weight_dtype``)."""
        choice = self.device

        def load() -> GPTHandle:
            loaded = load_gpt(path, device=choice.device, dtype=choice.dtype)
            # On the CPU the module stays float32; the decoder's weight tables follow the chosen precision
            # (see _cpu_table_dtype) unless cpu_gpt_weight_dtype says otherwise.
            weight_dtype = choice.dtype
            if choice.device.type == "cpu":
                weight_dtype = self.cpu_gpt_weight_dtype or _cpu_table_dtype(choice.dtype)
            return GPTHandle(loaded, T2SDecoder(loaded.module, weight_dtype=weight_dtype))

        return self.get("gpt", path, load)

    def sovits(self, path: str | Path) -> LoadedModel:
        """The SoVITS generator in ``path``, prepared for inference on the registry's device."""
        return self.get(
            "sovits", path, lambda: load_sovits(path, device=self.device.device, dtype=self.device.dtype)
        )

    def _feature_dtype(self) -> torch.dtype:
        """Feature encoders run once per reference or sentence: on the CPU they stay float32 (half
        precision there is slower without AMX and moves the prompt codes away from upstream's)."""
        return self.device.dtype if self.device.device.type != "cpu" else torch.float32

    def hubert(self, folder: str | Path) -> HubertEncoder:
        """The HuBERT content encoder in ``folder`` (chinese-hubert-base layout)."""
        return self.get(
            "hubert", folder, lambda: load_hubert(folder, self.device.device, self._feature_dtype())
        )

    def bert(self, folder: str | Path) -> BertEncoder:
        """The BERT text encoder in ``folder`` (chinese-roberta-wwm-ext-large layout)."""
        return self.get("bert", folder, lambda: load_bert(folder, self.device.device, self._feature_dtype()))

    def speaker(self, path: str | Path) -> SpeakerEncoder:
        """The ERes2NetV2 speaker encoder in ``path`` (needed by v2Pro/v2ProPlus voices)."""
        return self.get(
            "speaker", path, lambda: load_speaker_encoder(path, self.device.device, self._feature_dtype())
        )

    # ---------------------------------------------------------------------------------- management
    def unload(self, kind: str | None = None, path: str | Path | None = None) -> int:
        """Drop the entries matching ``kind`` and/or ``path`` (all when both are None); returns how many.

        Loads still in progress are not affected.
        """
        target = _resolve(path) if path is not None else None
        with self._lock:
            keys = [
                k
                for k in self._entries
                if (kind is None or k[0] == kind) and (target is None or k[1] == target)
            ]
            dropped = [(k, self._entries.pop(k)) for k in keys]
        for key, size in [(k, e.nbytes) for k, e in dropped]:  # no loop variable keeps a model alive
            logger.info("unloaded %s %s (%s)", key[0], key[1], _mb(size))
        count = len(dropped)
        self._released(dropped)
        return count

    def clear(self) -> None:
        """Drop every entry."""
        self.unload()

    def loaded(self) -> list[LoadedEntry]:
        """The loaded models, least recently used first."""
        with self._lock:
            return [
                LoadedEntry(
                    k[0], k[1], e.device, e.dtype, e.nbytes, e.load_seconds, e.loaded_at, e.last_used, e.uses
                )
                for k, e in self._entries.items()
            ]

    def memory_used(self) -> int:
        """Total bytes of the loaded models."""
        with self._lock:
            return self._total()

    def __contains__(self, item: object) -> bool:
        """``(kind, path) in registry`` for one entry, or ``path in registry`` for any kind."""
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], (str, Path)):
            key = (item[0], _resolve(item[1]))
            with self._lock:
                return key in self._entries
        if isinstance(item, (str, Path)):
            target = _resolve(item)
            with self._lock:
                return any(k[1] == target for k in self._entries)
        return False

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return (
            f"ModelRegistry({self.device.device}, {len(self)} models, "
            f"{_mb(self.memory_used())} of {_mb(self._budget)})"
        )
