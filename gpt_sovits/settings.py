"""Application settings. This is the only module that reads the process environment.

Everything else receives a :class:`Settings` object (or plain arguments) from its entry point.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one process."""

    home: Path = _PROJECT_ROOT
    pretrained_dir: Path = field(default=_PROJECT_ROOT / "pretrained")
    voices_dir: Path = field(default=_PROJECT_ROOT / "user_voices")
    logs_dir: Path = field(default=_PROJECT_ROOT / "logs")
    hf_endpoint: str = "https://huggingface.co"
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N"
    language: str = "auto"  # UI language: "auto" (browser), "en_US", "zh_CN", "ja_JP"
    dictionaries: tuple[Path, ...] = ()  # global pronunciation dictionaries (JSONL)
    # The global dictionary the WebUI's pronunciation editor writes to (read after ``dictionaries``).
    user_dictionary: Path = field(default=_PROJECT_ROOT / "user_voices" / "global_dictionary.jsonl")

    def global_dictionaries(self) -> tuple[Path, ...]:
        """Every global dictionary file to apply: ``dictionaries`` then ``user_dictionary`` if it exists."""
        extra = (self.user_dictionary,) if self.user_dictionary.is_file() else ()
        return (*self.dictionaries, *extra)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from the environment (``os.environ`` unless ``env`` is given).

    Variables: ``GPT_SOVITS_HOME`` (root for pretrained/, user_voices/ and logs/),
    ``GPT_SOVITS_PRETRAINED``, ``GPT_SOVITS_VOICES``, ``GPT_SOVITS_LOGS``, ``HF_ENDPOINT``
    (hub mirror), ``GPT_SOVITS_DEVICE``, ``GPT_SOVITS_LANGUAGE`` and ``GPT_SOVITS_DICTS``
    (global pronunciation dictionaries, separated by ``os.pathsep``); the WebUI's own global dictionary is
    ``global_dictionary.jsonl`` in the voices folder.
    """
    env = os.environ if env is None else env
    home = Path(env.get("GPT_SOVITS_HOME", str(_PROJECT_ROOT))).expanduser()
    dicts = tuple(Path(p).expanduser() for p in env.get("GPT_SOVITS_DICTS", "").split(os.pathsep) if p)
    voices = Path(env.get("GPT_SOVITS_VOICES", str(home / "user_voices"))).expanduser()
    return Settings(
        home=home,
        pretrained_dir=Path(env.get("GPT_SOVITS_PRETRAINED", str(home / "pretrained"))).expanduser(),
        voices_dir=voices,
        logs_dir=Path(env.get("GPT_SOVITS_LOGS", str(home / "logs"))).expanduser(),
        hf_endpoint=env.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/"),
        device=env.get("GPT_SOVITS_DEVICE", "auto"),
        language=env.get("GPT_SOVITS_LANGUAGE", "auto"),
        dictionaries=dicts,
        user_dictionary=voices / "global_dictionary.jsonl",
    )


def child_environment(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The complete environment for a child process (a CLI job) that must see the same ``settings``: the
    current environment (or ``base``) with every ``GPT_SOVITS_*`` variable set from ``settings``.

    A child reads its settings with :func:`load_settings` like any entry point, so this is the inverse of it.
    """
    env = dict(os.environ if base is None else base)
    env.update(
        GPT_SOVITS_HOME=str(settings.home),
        GPT_SOVITS_PRETRAINED=str(settings.pretrained_dir),
        GPT_SOVITS_VOICES=str(settings.voices_dir),
        GPT_SOVITS_LOGS=str(settings.logs_dir),
        HF_ENDPOINT=settings.hf_endpoint,
        GPT_SOVITS_DEVICE=settings.device,
        GPT_SOVITS_LANGUAGE=settings.language,
        GPT_SOVITS_DICTS=os.pathsep.join(str(p) for p in settings.dictionaries),
    )
    # Children print JSON progress lines that the parent reads as they come.
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass(frozen=True)
class DistributedEnv:
    """Where this process sits in a torchrun / DDP launch (a single process when not launched so)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files, logs and progress; the other ranks only compute."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def distributed_env(env: Mapping[str, str] | None = None) -> DistributedEnv:
    """Read torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (``MASTER_ADDR``/``PORT`` are read by
    torch.distributed itself when the process group starts)."""
    env = os.environ if env is None else env
    try:
        return DistributedEnv(
            rank=int(env.get("RANK", "0")),
            world_size=int(env.get("WORLD_SIZE", "1")),
            local_rank=int(env.get("LOCAL_RANK", "0")),
        )
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them).") from None
