"""What every endpoint shares: the engine, the runner, limits, the path policy and api_v2's server state."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from gpt_sovits.api.runner import Runner
from gpt_sovits.api.security import PathPolicy
from gpt_sovits.settings import Settings


@dataclass(frozen=True)
class V2Defaults:
    """api_v2's server-wide choices: the models ``/set_*_weights`` loaded and the ``/set_refer_audio``
    reference. None means "not set": the engine's pretrained models, and no reference."""

    gpt_path: Path | None = None
    sovits_path: Path | None = None
    ref_audio: Path | None = None
    ref_text: str | None = None
    ref_lang: str = "auto"


class V2State:
    """The current :class:`V2Defaults`, replaced atomically so that a request sees one consistent set."""

    def __init__(self, initial: V2Defaults | None = None) -> None:
        self._lock = threading.Lock()
        self._current = initial or V2Defaults()

    @property
    def current(self) -> V2Defaults:
        with self._lock:
            return self._current

    def update(self, **changes) -> V2Defaults:
        with self._lock:
            self._current = replace(self._current, **changes)
            return self._current


@dataclass
class ApiContext:
    """Shared by the routers through ``app.state.ctx``."""

    engine: object
    settings: Settings
    runner: Runner
    policy: PathPolicy
    max_text_chars: int
    auth_required: bool
    v2: V2State = field(default_factory=V2State)
