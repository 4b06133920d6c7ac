"""Reference audio: choosing the part to imitate, and the features the models take from it.

Upstream GPT-SoVITS refuses references outside 3-10 s. Here a longer recording is cut automatically:
:func:`choose_window` picks the 3-10 s stretch, bounded by silences, that holds the most speech.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gpt_sovits.errors import AudioError

log = logging.getLogger(__name__)

MIN_SECONDS = 3.0
MAX_SECONDS = 10.0
SHORTEST_USABLE = 1.0  # below this there is too little voice to imitate
FRAME_S = 0.02
PAUSE_DB = -35.0  # a 20 ms frame this far below the loudest one is a pause


@dataclass(frozen=True)
class Window:
    """A stretch of a recording, in samples of the rate it was chosen at."""

    start: int
    end: int
    trimmed: bool


def _frame_db(wav: np.ndarray, rate: int) -> np.ndarray:
    """RMS level per 20 ms frame, in dB relative to the loudest frame. [frames]"""
    hop = int(rate * FRAME_S)
    n = len(wav) // hop
    frames = wav[: n * hop].reshape(n, hop).astype(np.float64)
    rms = np.sqrt((frames**2).mean(axis=1) + 1e-12)
    return 20 * np.log10(rms / max(rms.max(), 1e-9))


def choose_window(
    wav: np.ndarray, rate: int, *, max_s: float = MAX_SECONDS, min_s: float = MIN_SECONDS
) -> Window:
    """The best ``min_s``-``max_s`` window of ``wav``: most speech, cut in the middle of silences.

    Recordings that already fit are kept whole. Cuts go to the centres of pauses (frames 35 dB below the
    loudest); among windows of allowed length the one with the most voiced frames wins, ties going to the
    one nearer 7 s. Without pauses to cut at, the loudest-content 10 s stretch is cut at its quietest frames.
    """
    duration = len(wav) / rate
    if duration <= max_s:
        return Window(0, len(wav), False)
    hop = int(rate * FRAME_S)
    db = _frame_db(wav, rate)
    silent = db < PAUSE_DB
    voiced = ~silent
    cum = np.concatenate([[0], np.cumsum(voiced)])
    # Cut points: the start, the end, and the middle of every pause of at least 100 ms.
    cuts = [0]
    i = 0
    while i < len(silent):
        if silent[i]:
            j = i
            while j < len(silent) and silent[j]:
                j += 1
            if j - i >= 5:
                cuts.append((i + j) // 2)
            i = j
        else:
            i += 1
    cuts.append(len(silent))
    lo, hi = int(min_s / FRAME_S), int(max_s / FRAME_S)
    best: tuple[float, int, int] | None = None
    for a_i, a in enumerate(cuts):
        for b in cuts[a_i + 1 :]:
            if b - a > hi:
                break
            if b - a < lo:
                continue
            score = float(cum[b] - cum[a]) - 0.01 * abs((b - a) * FRAME_S - 7.0)
            if best is None or score > best[0]:
                best = (score, a, b)
    if best is None:
        # No usable pauses: take the max_s stretch with the most voiced frames.
        width = min(hi, len(voiced))
        sums = cum[width:] - cum[:-width]
        a = int(np.argmax(sums))
        best = (0.0, a, a + width)
    _, a, b = best
    return Window(a * hop, min(b * hop, len(wav)), True)


def speech_span(wav: np.ndarray, rate: int, keep_s: float = 0.3) -> tuple[int, int]:
    """``(start, end)`` in samples of ``wav`` [T] without the dead air at its edges.

    A recording made by pressing Record and Stop starts and ends with silence; an edge below ``PAUSE_DB``
    (the pause level of :func:`choose_window`) for more than ``2 * keep_s`` is cut to ``keep_s``. Shorter
    edge pauses are left alone, so a clean clip is returned whole.
    """
    db = _frame_db(wav, rate)
    loud = np.flatnonzero(db >= PAUSE_DB)
    if len(loud) == 0:
        return 0, len(wav)
    hop, keep = int(rate * FRAME_S), int(rate * keep_s)
    first, last = int(loud[0]) * hop, min(len(wav), (int(loud[-1]) + 1) * hop)
    start = first - keep if first > 2 * keep else 0
    end = last + keep if len(wav) - last > 2 * keep else len(wav)
    return start, end


@dataclass(frozen=True)
class ReferenceClip:
    """The part of one reference file that is used, at the two rates the models need."""

    path: Path
    wav16k: np.ndarray  # [T16] float32, for HuBERT (prompt codes) and the speaker encoder
    wav_model: np.ndarray  # [T] float32 at the SoVITS rate, for the timbre spectrogram
    start_s: float
    end_s: float
    duration_s: float
    trimmed: bool
    padded: bool


def load_reference(path: Path, model_rate: int, auto_trim: bool = True) -> ReferenceClip:
    """Read a reference file and cut it to 3-10 s (see :func:`choose_window`).

    Raises :class:`AudioError` for unreadable or silent audio, for clips under 1 s, and for clips over
    10 s when ``auto_trim`` is off. Clips of 1-3 s are padded with trailing silence to 3 s (a warning is
    the caller's to give: ``padded``).
    """
    from gpt_sovits.audio import load_audio

    path = Path(path)
    wav16 = load_audio(path, 16000)
    duration = len(wav16) / 16000
    if duration < SHORTEST_USABLE:
        raise AudioError(
            f"The reference {path.name} is only {duration:.2f} s long; use 3 to 10 seconds of clear speech."
        )
    if duration > MAX_SECONDS and not auto_trim:
        raise AudioError(
            f"The reference {path.name} is {duration:.1f} s long; use 3 to 10 seconds, or turn on automatic "
            "trimming to pick the best part."
        )
    window = choose_window(wav16, 16000)
    start_s, end_s = window.start / 16000, window.end / 16000
    wav_model = load_audio(path, model_rate)
    wav_model = wav_model[int(round(start_s * model_rate)) : int(round(end_s * model_rate))]
    wav16 = wav16[window.start : window.end]
    padded = False
    if len(wav16) < int(MIN_SECONDS * 16000):
        wav16 = np.pad(wav16, (0, int(MIN_SECONDS * 16000) - len(wav16)))
        wav_model = np.pad(wav_model, (0, int(MIN_SECONDS * model_rate) - len(wav_model)))
        padded = True
    return ReferenceClip(path, wav16, wav_model, start_s, end_s, duration, window.trimmed, padded)


@dataclass(frozen=True)
class ReferenceFeatures:
    """What the models take from the references, cacheable per voice.

    ``prompt_codes`` [T] semantic codes of the first reference (None: reference-free), ``prompt_phones``
    [P] ids and ``prompt_bert`` [1024, P] of the reference text, ``timbre`` [1, gin, 1] the SoVITS timbre
    vector averaged over all references.
    """

    prompt_codes: torch.Tensor | None
    prompt_phones: torch.Tensor | None
    prompt_bert: torch.Tensor | None
    timbre: torch.Tensor

    def to_tensors(self) -> dict[str, torch.Tensor]:
        out = {"timbre": self.timbre.detach().cpu().float().contiguous()}
        if self.prompt_codes is not None:
            out["prompt_codes"] = self.prompt_codes.detach().cpu().contiguous()
            out["prompt_phones"] = self.prompt_phones.detach().cpu().contiguous()
            out["prompt_bert"] = self.prompt_bert.detach().cpu().float().contiguous()
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> ReferenceFeatures:
        return cls(
            tensors.get("prompt_codes"),
            tensors.get("prompt_phones"),
            tensors.get("prompt_bert"),
            tensors["timbre"],
        )
