"""The two measures of a synthesized sentence: intelligibility (ASR error rate) and speaker similarity.

* Intelligibility: the sentence is transcribed by an offline recogniser from :mod:`tools.asr` and compared
  with the text asked for. English uses the word error rate (Whisper tiny.en, bundled); Chinese, Japanese
  and Cantonese the character error rate (FunASR Paraformer for Chinese when it is installed and its
  models are present). Both are edits over the length of the reference, so they can exceed 1.
* Speaker similarity: cosine similarity of resemblyzer (GE2E) embeddings of the synthesized sentence and
  the reference clip, in [-1, 1] (same speaker: about 0.75-0.95; unrelated voices lower).

Models are loaded on first use and kept for the life of the process.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
import warnings
from pathlib import Path

import numpy as np

from tools.asr.engines import SAMPLE_RATE, AsrEngine, AsrModelError, check_funasr_models
from tools.asr.wer import edit_distance, normalize_words

logger = logging.getLogger(__name__)

SPEAKER_RATE = 16000  # resemblyzer's input rate
# Languages scored by characters: no spaces between words, so words are not a stable unit.
_CHAR_LANGS = frozenset({"zh", "yue", "ja"})
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_lock = threading.Lock()


def base_language(lang: str) -> str:
    """``"all_zh"`` -> ``"zh"``; codes are lower-cased."""
    return lang.strip().lower().removeprefix("all_")


def metric_for(lang: str) -> str:
    """``"cer"`` for languages written without spaces, else ``"wer"``."""
    return "cer" if base_language(lang) in _CHAR_LANGS else "wer"


def normalize_chars(text: str) -> list[str]:
    """Characters to compare for CER: NFKC (full-width -> half-width), lower case, no punctuation or
    spaces; Latin words inside are kept letter by letter."""
    return list(_PUNCT.sub("", unicodedata.normalize("NFKC", text).lower()))


def error_rate(reference: str, hypothesis: str, metric: str) -> float:
    """Edits over reference length, by words (``"wer"``, numbers spelt out) or characters (``"cer"``)."""
    split = normalize_words if metric == "wer" else normalize_chars
    ref, hyp = split(reference), split(hypothesis)
    if not ref:
        raise ValueError(f"the reference {reference!r} has no {'words' if metric == 'wer' else 'characters'}")
    return edit_distance(ref, hyp) / len(ref)


@functools.lru_cache(maxsize=4)
def _whisper(model: str | None, language: str) -> AsrEngine:
    from tools.asr.engines import FasterWhisperEngine

    # No VAD: the whole synthesized sentence is judged; noise or babble a VAD would drop counts as errors.
    return FasterWhisperEngine(model, language=language, device="cpu", vad_filter=False)


@functools.lru_cache(maxsize=2)
def _funasr(model_dir: str) -> AsrEngine:
    from tools.asr.engines import FunAsrEngine

    return FunAsrEngine(model_dir, device="cpu")


def default_asr(
    lang: str, *, whisper_model: str | Path | None = None, funasr_dir: str | Path | None = None
) -> tuple[AsrEngine | None, str | None]:
    """The recogniser used for ``lang`` and, when there is none, a note saying why (cached per process).

    English: ``whisper_model`` or the bundled Whisper tiny.en. Chinese: FunASR from ``funasr_dir`` when the
    ``funasr`` package and its three models are there, else ``whisper_model`` if given (a multilingual
    Whisper), else none. Other languages: ``whisper_model`` if given (it must be multilingual), else none.
    """
    base = base_language(lang)
    if base == "en":
        return _whisper(str(whisper_model) if whisper_model else None, "en"), None
    if base == "zh" and funasr_dir is not None:
        try:
            check_funasr_models(Path(funasr_dir))
            import funasr  # noqa: F401  (only to know whether it is installed)

            return _funasr(str(funasr_dir)), None
        except (AsrModelError, ImportError) as exc:
            reason = f"FunASR is not usable ({exc})"
    else:
        reason = "no offline recogniser is bundled for this language"
    if whisper_model is not None:
        return _whisper(str(whisper_model), base), None
    return None, (
        f"Intelligibility ({metric_for(lang).upper()}) skipped for {lang!r}: {reason}. Install funasr and its "
        "models (Chinese) or pass a multilingual CTranslate2 Whisper folder (--asr-model)."
    )


def transcribe(engine: AsrEngine, audio: np.ndarray, rate: int) -> str:
    """Text recognised in ``audio`` ([samples] float32 at ``rate`` Hz)."""
    with _lock:  # the cached engines are shared by threads; CTranslate2 models are not re-entrant here
        return engine.transcribe(resample(audio, rate, SAMPLE_RATE)).text


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """[samples] float32 at ``target`` Hz (soxr, high quality)."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if rate == target:
        return audio
    import soxr

    return soxr.resample(audio, rate, target, quality="HQ").astype(np.float32)


@functools.lru_cache(maxsize=1)
def speaker_encoder():
    """resemblyzer's ``VoiceEncoder`` on the CPU (its weights ship with the package)."""
    with warnings.catch_warnings():
        # webrtcvad (a resemblyzer dependency) imports pkg_resources, which warns on import.
        warnings.simplefilter("ignore")
        from resemblyzer import VoiceEncoder

    return VoiceEncoder("cpu", verbose=False)


def speaker_embedding(audio: np.ndarray, rate: int) -> np.ndarray:
    """The unit-norm 256-d GE2E embedding of a clip ([samples] float32 at ``rate`` Hz)."""
    encoder = speaker_encoder()
    from resemblyzer import preprocess_wav

    wav = resample(audio, rate, SPEAKER_RATE)
    # Volume normalisation and removal of long silences, as resemblyzer expects; a clip the VAD empties
    # (noise, very short output) is embedded as it is rather than refused.
    trimmed = preprocess_wav(wav)
    if len(trimmed) >= SPEAKER_RATE // 4:
        wav = trimmed
    with _lock:
        embedding = encoder.embed_utterance(wav.astype(np.float32))
    return np.asarray(embedding, dtype=np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / denom) if denom > 0 else 0.0


def speaker_similarity(a: np.ndarray, rate_a: int, b: np.ndarray, rate_b: int) -> float:
    """Cosine similarity of the speaker embeddings of two clips."""
    return cosine(speaker_embedding(a, rate_a), speaker_embedding(b, rate_b))
