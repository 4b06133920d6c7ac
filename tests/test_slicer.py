"""Slicer tests on real piper speech mixed with chords and noise (tests/speech_corpus.py).

The reference for "where is speech" is silero-vad's standard ``get_speech_timestamps`` run on the
CLEAN speech track, never on the mix the slicer sees.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from speech_corpus import make_recording  # tests/ is on sys.path under pytest

from gpt_sovits.audio import load_audio, normalize_max_alpha
from gpt_sovits.errors import AudioError
from tools.slicer import (
    MANIFEST_NAME,
    OutputExistsError,
    SliceOptions,
    SlicerError,
    analyze_file,
    plan_file,
    read_manifest,
    slice_file,
    slice_files,
    slice_folder,
)
from tools.slicer.plan import Boundary, choose_cuts, plan_cost
from tools.slicer.stream import StreamingRMS, iter_blocks, rms_frames
from tools.slicer.vad import StreamingVAD

pytest.importorskip("silero_vad", reason="silero-vad is needed for vad mode and as the speech reference")

ROOT = Path(__file__).resolve().parents[1]
OPTS = SliceOptions()
TOL_S = 0.06  # silero pads segments by 30 ms and works in 32 ms frames
MODES = ["rms", "vad"]


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def rec(speak):
    return make_recording(speak)


def _clean_speech_segments(speech: np.ndarray, sr: int) -> list[tuple[float, float]]:
    """silero-vad speech segments (seconds) of a clean track, with silero's standard API."""
    import torch
    from silero_vad import get_speech_timestamps, load_silero_vad

    audio16 = soxr.resample(np.asarray(speech, np.float32), sr, 16000)
    stamps = get_speech_timestamps(torch.from_numpy(audio16), load_silero_vad(onnx=True), sampling_rate=16000)
    return [(s["start"] / 16000, s["end"] / 16000) for s in stamps]


@pytest.fixture(scope="module")
def clean_segments(rec):
    segs = _clean_speech_segments(rec.speech, rec.sample_rate)
    assert len(segs) >= len(rec.texts) // 2
    return segs


@pytest.fixture(scope="module")
def corpus_wav(rec, tmp_path_factory):
    return rec.write(tmp_path_factory.mktemp("corpus") / "talk.wav")


@pytest.fixture(scope="module")
def sliced(corpus_wav, tmp_path_factory):
    """Both modes run once on the corpus: {mode: (out_dir, clips, progress values)}."""
    runs = {}
    for mode in MODES:
        out = tmp_path_factory.mktemp(f"out_{mode}")
        seen: list[float] = []
        clips = slice_file(corpus_wav, out, SliceOptions(mode=mode), progress=seen.append)
        runs[mode] = (out, clips, seen)
    return runs


def _assert_cuts_outside_speech(clips, segments, tol=TOL_S):
    inside = [
        (round(b, 3), (round(s, 3), round(e, 3)))
        for c in clips
        for b in (c.start_s, c.end_s)
        for s, e in segments
        if s + tol < b < e - tol
    ]
    assert not inside, f"clip boundaries inside speech (boundary, segment): {inside}"


def _assert_speech_covered(clips, segments, tol=TOL_S):
    missing = [
        (round(s, 3), round(e, 3))
        for s, e in segments
        if not any(c.start_s <= s + tol and e - tol <= c.end_s for c in clips)
    ]
    assert not missing, f"speech segments not inside one clip: {missing}"


def _assert_bounds(clips, opts=OPTS):
    lengths = [round(c.duration_s, 3) for c in clips]
    assert all(opts.min_length_ms / 1000 <= d <= opts.max_length_ms / 1000 for d in lengths), lengths
    assert not any(c.short or c.forced_start or c.forced_end for c in clips)
    assert all(a.end <= b.start for a, b in itertools.pairwise(clips)), "clips overlap or are out of order"


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _write_tone_file(path: Path, seconds: float, sr: int = 16000, seed: int = 0) -> Path:
    """Tone bursts 1-6 s long with 0.2-1.5 s noise pauses, written block by block (never whole)."""
    rng = np.random.default_rng(seed)
    total, done = int(seconds * sr), 0
    with sf.SoundFile(str(path), "w", sr, 1, subtype="PCM_16") as f:
        while done < total:
            n = int(rng.uniform(1.0, 6.0) * sr)
            t = np.arange(n) / sr
            f0 = rng.uniform(120, 300)
            burst = 0.3 * (np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(4 * np.pi * f0 * t))
            burst *= 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(3, 6) * t)
            block = np.concatenate([burst, np.zeros(int(rng.uniform(0.2, 1.5) * sr))])
            block += rng.normal(0, 0.002, block.size)
            block = block[: total - done]
            f.write(block.astype(np.float32))
            done += block.size
    return path


# ---------------------------------------------------------------- behaviour on real speech


@pytest.mark.parametrize("mode", MODES)
def test_clips_within_length_bounds(sliced, mode):
    _, clips, _ = sliced[mode]
    assert len(clips) >= 6
    _assert_bounds(clips)


@pytest.mark.parametrize("mode", MODES)
def test_cuts_only_outside_clean_speech(sliced, clean_segments, mode):
    _assert_cuts_outside_speech(sliced[mode][1], clean_segments)


@pytest.mark.parametrize("mode", MODES)
def test_all_speech_is_covered(sliced, clean_segments, rec, mode):
    clips = sliced[mode][1]
    _assert_speech_covered(clips, clean_segments)
    for start, end in rec.times:  # every voiced 10 ms of every sentence lies in some clip
        for t in np.arange(start + TOL_S, end - TOL_S, 0.01):
            assert any(c.start_s <= t <= c.end_s for c in clips), (round(t, 2), start, end)


@pytest.mark.parametrize("mode", MODES)
def test_progress_is_monotonic_and_complete(sliced, mode):
    seen = sliced[mode][2]
    assert len(seen) >= 3 and seen == sorted(seen)
    assert 0.0 <= seen[0] and seen[-1] == pytest.approx(1.0)


def test_vad_mode_handles_loud_music(rec, speak, clean_segments, tmp_path):
    loud = make_recording(speak, music_db=-24.0)  # chords about as loud as the speech
    np.testing.assert_array_equal(loud.speech, rec.speech)
    wav = loud.write(tmp_path / "loud.wav")
    clips = slice_file(wav, tmp_path / "out", SliceOptions(mode="vad"))
    _assert_bounds(clips)
    _assert_cuts_outside_speech(clips, clean_segments)
    _assert_speech_covered(clips, clean_segments)


# ---------------------------------------------------------------- files and manifest


def test_clip_files_match_manifest_and_source(sliced, corpus_wav):
    out, clips, _ = sliced["rms"]
    entries = read_manifest(out)
    assert [e["clip"] for e in entries] == [c.path.name for c in clips]
    wavs = sorted(p.name for p in out.glob("*.wav"))
    assert wavs == sorted(e["clip"] for e in entries)
    source = load_audio(corpus_wav, OPTS.sample_rate)  # whole-file reference path
    for e in entries:
        assert re.fullmatch(rf"talk_{e['start']:010d}_{e['end']:010d}\.wav", e["clip"])
        assert e["source"] == str(corpus_wav.resolve()) and e["mode"] == "rms"
        assert e["options"] == OPTS.to_dict()
        info = sf.info(str(out / e["clip"]))
        assert (info.samplerate, info.channels, info.subtype) == (OPTS.sample_rate, 1, "PCM_16")
        assert info.frames == e["end"] - e["start"]
        assert e["duration_s"] == pytest.approx(info.frames / OPTS.sample_rate, abs=1e-6)
        written, _ = sf.read(str(out / e["clip"]), dtype="float32")
        expected = normalize_max_alpha(source[e["start"] : e["end"]], max=0.9, alpha=0.25)
        np.testing.assert_allclose(written, expected, atol=1.0 / 32767 + 1e-6)
        assert e["peak"] == pytest.approx(np.abs(expected).max(), abs=1e-5)
        assert e["source_peak"] == pytest.approx(np.abs(source[e["start"] : e["end"]]).max(), abs=1e-5)


def test_rerun_refuses_and_overwrites_nothing(sliced, corpus_wav):
    out, clips, _ = sliced["rms"]
    before, source_hash = _digest(out), hashlib.sha256(corpus_wav.read_bytes()).hexdigest()
    with pytest.raises(OutputExistsError, match="Nothing was overwritten"):
        slice_file(corpus_wav, out, OPTS)
    result = slice_files([corpus_wav], out, OPTS)
    assert result.clips == [] and len(result.skipped) == 1
    assert "already holds" in result.skipped[0].reason
    assert _digest(out) == before
    assert hashlib.sha256(corpus_wav.read_bytes()).hexdigest() == source_hash
    assert len(read_manifest(out)) == len(clips)


def test_unreadable_inputs_are_skipped_and_reported(rec, tmp_path, caplog):
    good = tmp_path / "in" / "good.wav"
    good.parent.mkdir()
    sf.write(str(good), rec.mix[: 20 * rec.sample_rate], rec.sample_rate)
    garbage = tmp_path / "in" / "garbage.wav"
    garbage.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 10)
    empty = tmp_path / "in" / "empty.flac"
    empty.write_bytes(b"")
    missing = tmp_path / "in" / "missing.wav"
    with caplog.at_level(logging.ERROR):
        result = slice_files([garbage, empty, missing, good], tmp_path / "out", OPTS)
    assert {s.path for s in result.skipped} == {garbage, empty, missing}
    assert all(s.reason for s in result.skipped)
    assert result.clips and {c.source for c in result.clips} == {good}
    assert "garbage.wav" in caplog.text
    with pytest.raises(AudioError):
        slice_file(garbage, tmp_path / "out2", OPTS)


def test_silent_file_gives_no_clips(tmp_path):
    quiet = tmp_path / "quiet.wav"
    sf.write(str(quiet), np.random.default_rng(0).normal(0, 1e-4, 16000 * 8).astype(np.float32), 16000)
    result = slice_files([quiet], tmp_path / "out", OPTS)
    assert result.clips == [] and "no sound" in result.skipped[0].reason
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()


def test_slice_folder_lists_audio_and_refuses_its_own_folder(rec, tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    sf.write(str(folder / "a.flac"), rec.mix[: 15 * rec.sample_rate], rec.sample_rate)
    (folder / "notes.txt").write_text("not audio")
    with pytest.raises(SlicerError, match="output folder is the input folder"):
        slice_folder(folder, folder, OPTS)
    result = slice_folder(folder, folder / "sliced", OPTS)
    assert not result.skipped and result.clips
    assert all(c.source == folder / "a.flac" for c in result.clips)


def test_invalid_options_are_refused():
    with pytest.raises(SlicerError, match="twice min_length_ms"):
        SliceOptions(max_length_ms=6000)
    with pytest.raises(SlicerError, match="mode"):
        SliceOptions(mode="energy")
    with pytest.raises(SlicerError, match="min_length_ms >= min_interval_ms"):
        SliceOptions(min_interval_ms=5000)


# ---------------------------------------------------------------- streaming == whole file


def test_streamed_decoding_equals_load_audio(rec, tmp_path):
    import av

    mono = np.asarray(rec.mix[: 12 * rec.sample_rate])
    stereo = tmp_path / "stereo.wav"
    sf.write(str(stereo), np.stack([mono, 0.5 * mono], axis=1), rec.sample_rate, subtype="FLOAT")
    files = [stereo]
    if "libmp3lame" in av.codecs_available:  # the FFmpeg (PyAV) reading path
        mp3 = tmp_path / "talk.mp3"
        with av.open(str(mp3), "w", format="mp3") as container:
            stream = container.add_stream("libmp3lame", rate=rec.sample_rate)
            stream.layout = "mono"
            for start in range(0, mono.size, 1152):
                frame = av.AudioFrame.from_ndarray(
                    mono[None, start : start + 1152], format="flt", layout="mono"
                )
                frame.sample_rate = rec.sample_rate
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        files.append(mp3)
    for path in files:
        for block_s in (0.37, 5.0):
            streamed = np.concatenate(list(iter_blocks(path, 32000, block_s)))
            np.testing.assert_array_equal(streamed, load_audio(path, 32000))


def test_block_processing_gives_same_cuts_as_whole_file(rec, corpus_wav):
    audio = load_audio(corpus_wav, OPTS.sample_rate)[: 30 * OPTS.sample_rate]  # [samples]
    # RMS curve: odd-sized blocks against the straightforward whole-array computation.
    stream = StreamingRMS(OPTS.hop, 4 * OPTS.hop)
    for start in range(0, audio.size, 7919):
        stream.push(audio[start : start + 7919])
    np.testing.assert_array_equal(stream.finish(), rms_frames(audio, OPTS.hop, 4 * OPTS.hop))
    # VAD probabilities: streamed blocks against silero's own one-call sequence model.
    from silero_vad import load_silero_vad

    vad = StreamingVAD(OPTS.sample_rate)
    for start in range(0, audio.size, 12345):
        vad.push(audio[start : start + 12345])
    probs = vad.finish()
    reference = load_silero_vad(sequence=True).audio_forward(soxr.resample(audio, OPTS.sample_rate, 16000))
    np.testing.assert_allclose(probs, reference, atol=1e-6)
    # The whole pipeline: tiny blocks vs the whole file as one block.
    for mode in MODES:
        opts = SliceOptions(mode=mode)
        small = plan_file(analyze_file(corpus_wav, opts, block_seconds=0.7), opts)
        whole = plan_file(analyze_file(corpus_wav, opts, block_seconds=1e4), opts)
        assert small == whole and len(whole) >= 6


def test_memory_stays_bounded_by_block_and_clip_size(tmp_path):
    wav = _write_tone_file(tmp_path / "tones.wav", 360.0)
    decoded_bytes = 360 * OPTS.sample_rate * 4  # what holding the file at 32 kHz would take
    tracemalloc.start()
    try:
        clips = slice_file(wav, tmp_path / "out", OPTS, block_seconds=5.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(clips) > 20
    assert peak < decoded_bytes / 3, (peak, decoded_bytes)


@pytest.mark.slow
def test_half_hour_file_keeps_memory_flat(tmp_path):
    analysis_peaks = {}
    for minutes in (2, 25):
        wav = _write_tone_file(tmp_path / f"tones_{minutes}.wav", minutes * 60.0, seed=minutes)
        tracemalloc.start()
        try:
            analyze_file(wav, OPTS)
            analysis_peaks[minutes] = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            clips = slice_file(wav, tmp_path / f"out_{minutes}", OPTS)
            slice_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert sum(c.duration_s for c in clips) > 0.6 * minutes * 60
        _assert_bounds([c for c in clips if not c.short])
    full = 25 * 60 * OPTS.sample_rate * 4  # 192 MB: the file decoded at 32 kHz float32
    assert slice_peak < 40e6 < full, slice_peak
    # Only the per-frame curves grow with the length (about 12 bytes per 10 ms), not the audio buffers.
    assert analysis_peaks[25] - analysis_peaks[2] < 4e6, analysis_peaks


# ---------------------------------------------------------------- planning


def test_planner_finds_the_optimum_of_its_cost():
    rng = np.random.default_rng(0)
    min_len, max_len = 4000, 9000
    for _ in range(40):
        n = int(rng.integers(1, 10))
        positions = np.cumsum(rng.integers(800, 3500, n))
        bounds = []
        for p in positions:
            kind = rng.choice(["pause", "short_pause", "long"])
            if kind == "long":
                bounds.append(
                    Boundary(int(p), int(p) + 400, -1.2, "pause", inside_cost=float(rng.uniform(0, 150)))
                )
            else:
                bounds.append(Boundary(int(p), int(p), -1.0 if kind == "pause" else 7.0, kind))
        tail = int(positions[-1] + 400 + rng.integers(800, 3500))
        chosen = choose_cuts(0, tail, bounds, min_len, max_len)
        brute = min(
            plan_cost(0, tail, bounds, list(subset), min_len, max_len)
            for r in range(n + 1)
            for subset in itertools.combinations(range(n), r)
        )
        assert plan_cost(0, tail, bounds, chosen, min_len, max_len) == pytest.approx(brute)


def test_stretch_without_pause_is_cut_at_quietest_point(tmp_path, caplog):
    sr = 16000
    t = np.arange(48 * sr) / sr
    dips = (12.0, 28.0, 40.0)
    env = np.ones_like(t)
    for d in dips:  # -14 dB dips that stay above the -34 dB silence threshold
        env -= 0.8 * np.exp(-(((t - d) / 0.15) ** 2))
    noise = np.random.default_rng(1).normal(0, 0.16, t.size) * env  # about -16 dBFS RMS
    wav = tmp_path / "drone.wav"
    sf.write(str(wav), noise.astype(np.float32), sr)
    with caplog.at_level(logging.WARNING):
        clips = slice_file(wav, tmp_path / "out", OPTS)
    cuts = [c.end_s for c in clips if c.forced_end]
    assert cuts and all(min(abs(c - d) for d in dips) < 0.1 for c in cuts), cuts
    assert all(OPTS.min_length_ms <= c.duration_s * 1000 <= OPTS.max_length_ms for c in clips)
    assert caplog.text.count("cut at the quietest point") == len(cuts)
    entries = read_manifest(tmp_path / "out")
    assert [e["forced_end"] for e in entries] == [c.forced_end for c in clips]


# ---------------------------------------------------------------- CLI


def test_cli_slices_a_real_file(corpus_wav, tmp_path, capsys):
    from tools.slicer.__main__ import main

    out = tmp_path / "cli_out"
    args = [str(corpus_wav), "--out", str(out), "--mode", "vad"]
    first = subprocess.run(
        [sys.executable, "-m", "tools.slicer", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    entries = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert len(entries) >= 6 and all((out / e["clip"]).is_file() for e in entries)
    assert f"{len(entries)} clips" in first.stdout and "100%" in first.stderr
    # The same command again (in-process, to save a second interpreter start): refused, exit 1.
    assert main([*args, "--quiet"]) == 1
    assert "SKIPPED" in capsys.readouterr().out
    assert len((out / MANIFEST_NAME).read_text().splitlines()) == len(entries)
    with pytest.raises(SystemExit) as exc:
        main([*args, "--max-length", "5000"])
    assert exc.value.code == 2 and "twice min_length_ms" in capsys.readouterr().err
