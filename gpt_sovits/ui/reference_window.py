"""The Synthesize tab's reference, without gradio: the 3-10 s window of an uploaded or recorded file that
synthesis uses (saved as its own wav, so what the page plays is what the model hears) and its transcript by
the bundled Whisper."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpt_sovits.inference.reference import MIN_SECONDS, SHORTEST_USABLE, load_reference, speech_span
from gpt_sovits.ui.common import save_audio

log = logging.getLogger(__name__)

REFS_FOLDER = "refs"  # under logs/webui/synth: the reference windows the page uses
PREVIEW_RATE = 32000  # reference preview rate when a file's own rate is unusual (the SoVITS rate)


@dataclass(frozen=True, eq=False)  # holds arrays: compared and hashed by identity
class ReferenceWindow:
    """The part of an uploaded reference that synthesis uses, saved as its own wav (``path``)."""

    path: Path
    start_s: float
    end_s: float
    duration_s: float  # of the whole upload
    trimmed: bool
    padded: bool  # under 3 s: the engine pads it with silence
    wav16k: np.ndarray  # [T16] the window at 16 kHz, for speech recognition
    edges_cut: bool = False  # silence at its start or end was cut to 0.3 s


def prepare_reference(work_dir: Path, upload: str | Path) -> ReferenceWindow:
    """Choose the 3-10 s window of ``upload`` with the engine's own logic
    (:func:`gpt_sovits.inference.reference.load_reference`), cut silence at its edges to 0.3 s
    (:func:`~gpt_sovits.inference.reference.speech_span`) and save it, at the file's rate, as a new wav.

    Synthesis then uses that wav, which is 10 s or shorter, so the engine keeps it whole: what the page
    plays is what the model hears, and the transcript of the window matches it. Silent, corrupt and
    too-short audio raise :class:`~gpt_sovits.errors.AudioError` with a readable message.
    """
    from gpt_sovits.audio import audio_info

    upload = Path(upload)
    rate = audio_info(upload).sample_rate
    if not 8000 <= rate <= 48000:
        rate = PREVIEW_RATE
    clip = load_reference(upload, rate, auto_trim=True)
    # load_reference pads clips under 3 s; the saved window is the real audio (the engine pads it alike)
    wav = clip.wav_model[: int(round((clip.end_s - clip.start_s) * rate))]  # [T] at rate
    wav16k = clip.wav16k[: int(round((clip.end_s - clip.start_s) * 16000))]  # [T16]
    start_s, end_s, edges_cut = clip.start_s, clip.end_s, False
    # Dead air at the edges (Record pressed, then a pause before speaking) is cut to 0.3 s here, where the
    # page shows it; the engine itself keeps a short file whole, as upstream does.
    a, b = speech_span(wav16k, 16000)
    if (a, b) != (0, len(wav16k)) and b - a >= SHORTEST_USABLE * 16000:
        wav = wav[int(round(a * rate / 16000)) : int(round(b * rate / 16000))]
        wav16k = wav16k[a:b]
        start_s, end_s, edges_cut = clip.start_s + a / 16000, clip.start_s + b / 16000, True
    path = save_audio(work_dir, "ref", wav, rate)
    log.info("Reference %s: using %.2f-%.2f s of %.2f s", upload.name, start_s, end_s, clip.duration_s)
    padded = end_s - start_s < MIN_SECONDS
    return ReferenceWindow(path, start_s, end_s, clip.duration_s, clip.trimmed, padded, wav16k, edges_cut)


def reference_note(t, window: ReferenceWindow) -> str:
    """What part of the upload is used (``t``: the page's I18n)."""
    s, e, d = (f"{x:.2f}" for x in (window.start_s, window.end_s, window.duration_s))
    notes = [t("synth.ref_window", start=s, end=e, duration=d)]
    notes += [t("synth.ref_trimmed")] if window.trimmed else []
    notes += [t("synth.ref_edges")] if window.edges_cut else []
    notes += [t("synth.ref_padded")] if window.padded else []
    return " ".join(notes)


class ReferenceAsr:
    """The bundled Whisper tiny.en (``tools.asr``), loaded on first use and shared by every page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine = None

    def transcribe(self, wav16k: np.ndarray) -> str:
        """The text of 16 kHz speech ([samples]); English only (tiny.en)."""
        from tools.asr import FasterWhisperEngine

        with self._lock:  # one decode at a time; the model loads once
            if self._engine is None:
                self._engine = FasterWhisperEngine(None, language="en", device="cpu")
            return self._engine.transcribe(wav16k).text.strip()


def reference_asr(shared: dict) -> ReferenceAsr:
    """The process-wide :class:`ReferenceAsr` kept in ``ctx.shared``."""
    return shared.setdefault("synth:asr", ReferenceAsr())
