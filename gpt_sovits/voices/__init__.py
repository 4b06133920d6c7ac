"""The voice library (``user_voices/``): saved voices with their models, references and settings.

Typical use::

    from gpt_sovits.voices import VoiceLibrary
    lib = VoiceLibrary(settings.voices_dir)
    voice = lib.get("Alice")
    voice.gpt_path, voice.sovits_path, voice.prompt.path, voice.prompt.text, dict(voice.defaults)

See :mod:`gpt_sovits.voices.model` for the ``voice.json`` schema and :mod:`gpt_sovits.voices.library`
for the crash-safety rules.
"""

from gpt_sovits.voices.library import ModelInspector, VoiceLibrary
from gpt_sovits.voices.model import (
    FORMAT_VERSION,
    MODEL_VERSIONS,
    TrashEntry,
    UnsafeArchive,
    Voice,
    VoiceCorrupt,
    VoiceError,
    VoiceExists,
    VoiceNotFound,
    VoiceReference,
)

__all__ = [
    "FORMAT_VERSION",
    "MODEL_VERSIONS",
    "ModelInspector",
    "TrashEntry",
    "UnsafeArchive",
    "Voice",
    "VoiceCorrupt",
    "VoiceError",
    "VoiceExists",
    "VoiceLibrary",
    "VoiceNotFound",
    "VoiceReference",
]
