"""Slicer settings, result records and errors."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpt_sovits.errors import GPTSoVITSError

MODES = ("rms", "vad")


class SlicerError(GPTSoVITSError):
    """A slicing request that cannot be carried out (bad settings, output folder problems)."""


class OutputExistsError(SlicerError):
    """Clips for this source already exist in the output folder; nothing was overwritten."""


@dataclass(frozen=True)
class SliceOptions:
    """How to cut long recordings into training clips.

    The silence-detection settings and their defaults are those of the GPT-SoVITS WebUI slicer
    (threshold -34 dB, min_length 4000 ms, min_interval 300 ms, hop_size 10 ms, max_sil_kept
    500 ms, normalisation max 0.9 / alpha 0.25, 32 kHz output). ``max_length_ms`` and the VAD
    settings are additions of this project.

    Attributes:
        mode: ``"rms"`` cuts in stretches whose RMS level stays below ``threshold_db``;
            ``"vad"`` cuts where silero-vad hears no speech (robust to music and noise beds).
        threshold_db: RMS level (dBFS) below which a frame counts as silence (rms mode).
        min_length_ms: shortest clip wanted; shorter clips appear only where unavoidable
            (a file or trailing remainder shorter than this) and are flagged ``short``.
        min_interval_ms: shortest pause that is a preferred cut point.
        hop_size_ms: analysis frame step; cut positions are multiples of it.
        max_sil_kept_ms: most silence kept at either side of a clip; the middle of longer
            pauses is dropped.
        max_length_ms: longest clip; a stretch with no pause within it is cut at its quietest
            point (flagged ``forced``). Must be at least twice ``min_length_ms``.
        normalize_max: peak of the normalised share of each clip (upstream ``_max``).
        alpha: share of the peak-normalised signal in each clip (upstream ``alpha``).
        sample_rate: rate of the analysis and of the written clips, in Hz.
        vad_threshold: silero-vad speech probability threshold (vad mode).
        vad_min_silence_ms: silence silero-vad needs before it ends a speech segment.
        vad_speech_pad_ms: padding silero-vad adds around each speech segment.
        vad_min_speech_ms: silero-vad drops speech segments shorter than this.
    """

    mode: str = "rms"
    threshold_db: float = -34.0
    min_length_ms: int = 4000
    min_interval_ms: int = 300
    hop_size_ms: int = 10
    max_sil_kept_ms: int = 500
    max_length_ms: int = 20000
    normalize_max: float = 0.9
    alpha: float = 0.25
    sample_rate: int = 32000
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 100
    vad_speech_pad_ms: int = 30
    vad_min_speech_ms: int = 250

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.threshold_db >= 0:
            problems.append(f"threshold_db must be negative (dBFS), got {self.threshold_db}")
        if self.hop_size_ms <= 0:
            problems.append(f"hop_size_ms must be positive, got {self.hop_size_ms}")
        # The same order the upstream slicer insists on.
        if not self.min_length_ms >= self.min_interval_ms >= self.hop_size_ms:
            problems.append("the lengths must satisfy min_length_ms >= min_interval_ms >= hop_size_ms")
        if self.max_sil_kept_ms < self.hop_size_ms:
            problems.append("max_sil_kept_ms must be at least hop_size_ms")
        if self.max_length_ms < 2 * self.min_length_ms:
            # Needed so that an over-long stretch can always be split into pieces of allowed length.
            problems.append(
                f"max_length_ms ({self.max_length_ms}) must be at least twice min_length_ms "
                f"({self.min_length_ms})"
            )
        if not 0.0 < self.normalize_max <= 1.0:
            problems.append(f"normalize_max must be in (0, 1], got {self.normalize_max}")
        if not 0.0 <= self.alpha <= 1.0:
            problems.append(f"alpha must be in [0, 1], got {self.alpha}")
        if self.sample_rate < 8000:
            problems.append(f"sample_rate must be at least 8000 Hz, got {self.sample_rate}")
        if not 0.0 < self.vad_threshold < 1.0:
            problems.append(f"vad_threshold must be in (0, 1), got {self.vad_threshold}")
        if min(self.vad_min_silence_ms, self.vad_speech_pad_ms, self.vad_min_speech_ms) < 0:
            problems.append("the vad_*_ms settings must not be negative")
        if problems:
            raise SlicerError("Invalid slicer settings: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (stored with every manifest entry)."""
        return dataclasses.asdict(self)

    def samples(self, ms: float) -> int:
        """``ms`` milliseconds as a whole number of samples at :attr:`sample_rate`."""
        return int(round(self.sample_rate * ms / 1000.0))

    @property
    def hop(self) -> int:
        """Analysis hop in samples."""
        return max(1, self.samples(self.hop_size_ms))


DEFAULT_OPTIONS = SliceOptions()


@dataclass(frozen=True)
class Clip:
    """One written clip. ``start``/``end`` are sample indices at ``sample_rate`` in the source."""

    source: Path
    path: Path
    start: int
    end: int
    sample_rate: int
    peak: float  # absolute peak of the written (normalised) clip
    source_peak: float  # absolute peak of the same stretch before normalisation
    mode: str
    forced_start: bool = False  # the clip begins at a forced cut (no pause found)
    forced_end: bool = False  # the clip ends at a forced cut (no pause found)
    short: bool = False  # shorter than min_length_ms because nothing else was possible

    @property
    def start_s(self) -> float:
        """Start time in the source, seconds."""
        return self.start / self.sample_rate

    @property
    def end_s(self) -> float:
        """End time in the source, seconds."""
        return self.end / self.sample_rate

    @property
    def duration_s(self) -> float:
        """Clip length in seconds."""
        return (self.end - self.start) / self.sample_rate

    def manifest_entry(self, out_dir: Path, options: SliceOptions) -> dict[str, Any]:
        """The JSON object written to ``manifest.jsonl`` for this clip."""
        try:
            clip_name = str(self.path.relative_to(out_dir))
        except ValueError:
            clip_name = str(self.path)
        return {
            "source": str(self.source.resolve()),
            "clip": clip_name,
            "start": self.start,
            "end": self.end,
            "sample_rate": self.sample_rate,
            "start_s": round(self.start_s, 6),
            "end_s": round(self.end_s, 6),
            "duration_s": round(self.duration_s, 6),
            "peak": round(self.peak, 6),
            "source_peak": round(self.source_peak, 6),
            "mode": self.mode,
            "forced_start": self.forced_start,
            "forced_end": self.forced_end,
            "short": self.short,
            "options": options.to_dict(),
        }


@dataclass(frozen=True)
class SkippedInput:
    """An input that produced no clips, and why."""

    path: Path
    reason: str


@dataclass
class SliceResult:
    """Outcome of slicing several inputs: the clips written and the inputs skipped."""

    clips: list[Clip] = dataclasses.field(default_factory=list)
    skipped: list[SkippedInput] = dataclasses.field(default_factory=list)

    @property
    def total_duration_s(self) -> float:
        """Summed length of all clips, seconds."""
        return sum(c.duration_s for c in self.clips)

    @property
    def forced_cuts(self) -> int:
        """Number of cuts placed without a pause (each is counted once)."""
        return sum(int(c.forced_end) for c in self.clips)
