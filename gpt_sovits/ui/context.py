"""What every tab of the WebUI shares: one model registry, one voice library, one job manager.

The context is built once by the entry point and handed to each tab's ``build``; the three language
versions of the page share it too, so a model loaded from the Synthesize tab is the one the Models tab
lists and unloads, and a training job started in one browser tab is followed from any other.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from gpt_sovits.inference import Engine
from gpt_sovits.jobs import Job, JobManager, python_module_command
from gpt_sovits.settings import Settings, child_environment
from gpt_sovits.text import Dictionary, FrontEnd
from gpt_sovits.ui.streaming import StreamHub

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
JOBS_FOLDER = "jobs"  # under logs_dir: one folder per job (see gpt_sovits.jobs)
UPLOADS_FOLDER = "webui"  # under logs_dir: files the WebUI makes (synthesized audio, recordings, exports)
DATASETS_FOLDER = "datasets"  # under logs_dir/webui: one folder per dataset the Data tab builds
# Dataset names become folder names: the same rule as experiment names.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9 ._-]{1,80}$")


def check_folder_name(name: str, what: str = "name") -> str:
    """``name`` stripped, if it is safe as one folder name; else a :class:`ValueError` that says what to type."""
    name = (name or "").strip()
    if not _SAFE_NAME.match(name) or name in {".", ".."}:
        raise ValueError(
            f"{name!r} is not a usable {what}: use letters, digits, spaces, '.', '-' or '_' (1-80 characters), "
            "e.g. 'alice_v1'."
        )
    return name


@dataclass
class AppContext:
    """The shared state of one WebUI process (see the module docstring)."""

    settings: Settings
    engine: Engine
    jobs: JobManager
    front: FrontEnd
    device: str = "auto"
    precision: str = "auto"
    # Per-process notes the tabs leave for each other (e.g. the list the Data tab produced last).
    shared: dict[str, object] = field(default_factory=dict)
    # Live audio of streamed syntheses, served by the route create_server adds (none with --share).
    streams: StreamHub = field(default_factory=StreamHub)

    @classmethod
    def create(cls, settings: Settings, device: str | None = None, precision: str = "auto") -> AppContext:
        """Everything the tabs need, built without loading any model (models load on first use)."""
        engine = Engine.from_settings(settings, device, precision)
        front = FrontEnd([Dictionary.load(p) for p in settings.dictionaries])  # per-request dicts are added
        jobs = JobManager(settings.logs_dir / JOBS_FOLDER)
        return cls(settings, engine, jobs, front, device or settings.device, precision, streams=StreamHub())

    @property
    def registry(self):
        """The process-wide :class:`~gpt_sovits.registry.registry.ModelRegistry`."""
        return self.engine.registry

    @property
    def voices(self):
        """The :class:`~gpt_sovits.voices.VoiceLibrary` of ``settings.voices_dir``."""
        return self.engine.voices

    def work_dir(self, *parts: str) -> Path:
        """A folder under ``logs/webui/`` for files the page makes (created on demand)."""
        folder = self.settings.logs_dir / UPLOADS_FOLDER
        for part in parts:
            folder = folder / part
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def dataset_dir(self, name: str) -> Path:
        """The folder of dataset ``name`` (``logs/webui/datasets/<name>/``), created on demand. The Data tab
        writes ``raw/``, ``vocals/``, ``clips/`` (slicer manifest) and ``<name>.list`` (ASR) there."""
        return self.work_dir(DATASETS_FOLDER, check_folder_name(name, "dataset name"))

    def dataset_lists(self) -> list[Path]:
        """Every ``.list`` the Data tab made, newest first (the Train tab offers them)."""
        root = self.settings.logs_dir / UPLOADS_FOLDER / DATASETS_FOLDER
        lists = [p for p in root.glob("*/*.list") if p.is_file()] if root.is_dir() else []
        return sorted(lists, key=lambda p: p.stat().st_mtime, reverse=True)

    def child_env(self) -> dict[str, str]:
        """The environment of a CLI child: this process's, with the settings of this app."""
        return child_environment(self.settings)

    def start_module(self, name: str, module: str, *args: str | Path) -> Job:
        """Start ``python -m module args`` as a job (argument list, never a shell) with this app's settings."""
        argv = python_module_command(module, *(str(a) for a in args))
        return self.jobs.start(name, argv, cwd=PROJECT_ROOT, env=self.child_env())
