"""ASR labelling: transcribe clips into a GPT-SoVITS ``.list`` file and a JSONL manifest.

CLI: ``python -m tools.asr INPUT --out OUT.list [--engine faster-whisper|funasr] [--model PATH_OR_NAME]
[--language en] [--speaker NAME]``.
"""

from tools.asr.engines import (
    FUNASR_MODELS,
    AsrEngine,
    AsrModelError,
    FasterWhisperEngine,
    FunAsrEngine,
    Segment,
    Transcript,
    bundled_whisper_path,
    check_funasr_models,
    make_engine,
)
from tools.asr.manifest import append_entry, read_manifest
from tools.asr.transcribe import AUDIO_EXTENSIONS, AsrInputError, AsrResult, find_clips, transcribe_clips
from tools.asr.wer import normalize_words, word_error_rate

__all__ = [
    "AUDIO_EXTENSIONS",
    "FUNASR_MODELS",
    "AsrEngine",
    "AsrInputError",
    "AsrModelError",
    "AsrResult",
    "FasterWhisperEngine",
    "FunAsrEngine",
    "Segment",
    "Transcript",
    "append_entry",
    "bundled_whisper_path",
    "check_funasr_models",
    "find_clips",
    "make_engine",
    "normalize_words",
    "read_manifest",
    "transcribe_clips",
    "word_error_rate",
]
