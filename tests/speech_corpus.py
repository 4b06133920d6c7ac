"""A realistic test recording: real piper speech with pauses, background chords and noise.

Shared by the slicer, ASR and separation tests. Import it as ``speech_corpus`` (pytest puts the
tests/ folder on ``sys.path``, with ``pytest`` and ``python -m pytest`` alike). Stable API::

    from speech_corpus import make_recording

    def test_something(speak):                 # the piper fixture from tests/conftest.py
        rec = make_recording(speak)            # seed=0: 18 sentences, about 75 s at 22050 Hz
        rec.mix                                # [samples] float32: speech + chords + noise
        rec.speech                             # [samples] float32: the same speech alone
        rec.background                         # [samples] float32: chords + noise alone (mix - speech)
        rec.sample_rate                        # 22050
        rec.texts, rec.times                   # sentence texts and (start_s, end_s) of each
        rec.write(tmp_path / "mix.wav")        # the mix (or "speech"/"background") as a float WAV

Sentence times mark the first and last voiced sample of each sentence (piper's own leading and
trailing silence is trimmed). Pauses between sentences take every value from 0.15 s to 1.5 s
(evenly spaced, order shuffled by ``seed``). The chords (a few sine triads with a soft second
harmonic, each several seconds long) sit at ``music_db`` dBFS RMS and the white noise at
``noise_db`` dBFS RMS, under speech peaking at -2 dBFS, so the speech stays clearly intelligible.

Results are cached per process (synthesis takes ~10-20 s); the arrays are read-only, copy them
before changing them. Piper's synthesis is randomised (VITS noise), so the exact samples, and the
sentence times, differ slightly from one process to the next: assert on behaviour, not on sample
values recorded in an earlier run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Speak = Callable[[str], tuple[np.ndarray, int]]

SENTENCES: tuple[str, ...] = (
    "Good morning, and welcome to the weekly planning meeting.",
    "The train to the coast leaves at half past nine every Saturday.",
    "Could you please close the window before the rain comes in?",
    "My grandmother grew tomatoes, beans and sunflowers behind her little cottage.",
    "Yes, that works for me.",
    "The museum will be closed for repairs until the end of October.",
    "Nobody expected the small team to win the national championship.",
    "Turn left at the bakery, then walk straight on for about two hundred meters.",
    "I have never seen so many stars in the night sky.",
    "Please remember to water the plants while we are away.",
    "The recipe needs three eggs, a cup of flour and a pinch of salt.",
    "Why did the old clock on the tower stop working last winter?",
    "After a long discussion, the committee finally agreed on a new budget.",
    "Thank you very much for your patience.",
    "The river was so clear that we could see the fish swimming near the bottom.",
    "She learned to play the violin when she was only six years old.",
    "Our flight was delayed by two hours because of heavy fog at the airport.",
    "Let's meet again next Thursday to review the results.",
)

LEAD_IN_S = 0.6
TAIL_S = 0.8
MIN_PAUSE_S = 0.15
MAX_PAUSE_S = 1.5
SPEECH_PEAK = 0.8
_TRIM_DB = -40.0  # relative to each sentence's peak: where a sentence's voice starts and ends
_CHORDS_HZ = (
    (261.63, 329.63, 392.00),  # C major
    (220.00, 261.63, 329.63),  # A minor
    (174.61, 220.00, 261.63),  # F major
    (196.00, 246.94, 293.66),  # G major
)


@dataclass(frozen=True)
class Recording:
    """A synthetic recording: ``mix = speech + background``, all [samples] float32 at ``sample_rate``."""

    mix: np.ndarray
    speech: np.ndarray
    background: np.ndarray
    sample_rate: int
    texts: tuple[str, ...]
    times: tuple[tuple[float, float], ...]  # (start_s, end_s) of each sentence's voice

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.mix.shape[0] / self.sample_rate

    def write(self, path: str | Path, which: str = "mix") -> Path:
        """Write ``mix``, ``speech`` or ``background`` as a 32-bit float WAV (exact samples)."""
        import soundfile as sf

        p = Path(path)
        sf.write(str(p), getattr(self, which), self.sample_rate, subtype="FLOAT")
        return p


_SPEECH_CACHE: dict[tuple[Speak, str], tuple[np.ndarray, int]] = {}
_RECORDING_CACHE: dict[tuple[Speak, int, float, float], Recording] = {}


def _sentence_audio(speak: Speak, text: str) -> tuple[np.ndarray, int]:
    """Piper audio of one sentence with its silent edges trimmed (cached)."""
    key = (speak, text)
    if key not in _SPEECH_CACHE:
        audio, sr = speak(text)
        audio = np.asarray(audio, dtype=np.float32)
        loud = np.flatnonzero(np.abs(audio) >= np.abs(audio).max() * 10 ** (_TRIM_DB / 20))
        _SPEECH_CACHE[key] = (audio[loud[0] : loud[-1] + 1], int(sr))
    return _SPEECH_CACHE[key]


def _chords(n: int, sr: int, rng: np.random.Generator, level_db: float) -> np.ndarray:
    """A few sustained sine chords at random places, ``level_db`` dBFS RMS while they sound."""
    out = np.zeros(n, dtype=np.float64)
    fade = int(0.05 * sr)
    for k, freqs in enumerate(_CHORDS_HZ):
        length = int(rng.uniform(4.0, 8.0) * sr)
        # Spread the chords over the recording, one per quarter, at a random place inside it.
        quarter = n // len(_CHORDS_HZ)
        start = k * quarter + int(rng.uniform(0, max(1, quarter - length)))
        length = min(length, n - start)
        t = np.arange(length) / sr
        tone = sum(np.sin(2 * np.pi * f * t) + 0.25 * np.sin(4 * np.pi * f * t) for f in freqs)
        tone *= 10 ** (level_db / 20) / np.sqrt(np.mean(tone**2))
        env = np.ones(length)
        env[:fade] = np.linspace(0, 1, fade)
        env[-fade:] = np.linspace(1, 0, fade)
        out[start : start + length] += tone * env
    return out


def make_recording(
    speak: Speak, seed: int = 0, *, music_db: float = -38.0, noise_db: float = -50.0
) -> Recording:
    """Build (or return the cached) recording for ``seed``.

    Args:
        speak: the ``speak(text) -> (float32 audio, rate)`` fixture of tests/conftest.py.
        seed: shuffles the sentence order and pause lengths, places the chords, draws the noise.
        music_db: RMS level of the chords, dBFS (while they sound).
        noise_db: RMS level of the white noise, dBFS.
    """
    key = (speak, seed, float(music_db), float(noise_db))
    if key in _RECORDING_CACHE:
        return _RECORDING_CACHE[key]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(SENTENCES))
    texts = tuple(SENTENCES[i] for i in order)
    pauses = rng.permutation(np.linspace(MIN_PAUSE_S, MAX_PAUSE_S, len(texts) - 1))
    pieces, times = [], []
    sr = 0
    cursor = 0
    lead = None
    for k, text in enumerate(texts):
        audio, sr = _sentence_audio(speak, text)
        if lead is None:
            lead = np.zeros(int(LEAD_IN_S * sr), np.float32)
            pieces.append(lead)
            cursor = lead.shape[0]
        pieces.append(audio)
        times.append((cursor / sr, (cursor + audio.shape[0]) / sr))
        cursor += audio.shape[0]
        gap = int((pauses[k] if k < len(pauses) else TAIL_S) * sr)
        pieces.append(np.zeros(gap, np.float32))
        cursor += gap
    speech = np.concatenate(pieces).astype(np.float64)
    speech *= SPEECH_PEAK / np.abs(speech).max()
    noise = rng.normal(0.0, 10 ** (noise_db / 20), speech.shape[0])
    background = _chords(speech.shape[0], sr, rng, music_db) + noise
    arrays = [a.astype(np.float32) for a in (speech + background, speech, background)]
    for a in arrays:
        a.flags.writeable = False
    rec = Recording(
        mix=arrays[0],
        speech=arrays[1],
        background=arrays[2],
        sample_rate=sr,
        texts=texts,
        times=tuple(times),
    )
    _RECORDING_CACHE[key] = rec
    return rec
