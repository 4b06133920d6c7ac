"""``python -m gpt_sovits synth`` and ``batch`` end to end with tiny official-format models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from tiny_models import make_tiny_home, write_speech

from gpt_sovits.cli import main

ROOT = Path(__file__).resolve().parents[1]
REF_TEXT = "The quick brown fox jumps over the lazy dog near the quiet river bank."


@pytest.fixture(scope="module")
def home(tmp_path_factory, speak):
    root = tmp_path_factory.mktemp("clihome")
    tiny = make_tiny_home(root)
    ref = write_speech(speak, root / "ref.wav", REF_TEXT)
    return tiny, ref


@pytest.fixture
def env(home, monkeypatch):
    tiny, _ = home
    monkeypatch.setenv("GPT_SOVITS_HOME", str(tiny.root))
    return tiny.root


def audio_len(path: Path) -> tuple[int, int]:
    info = sf.info(path)
    return info.frames, info.samplerate


def test_synth_with_files_writes_the_reported_audio(home, env, tmp_path):
    tiny, ref = home
    out, report = tmp_path / "out.wav", tmp_path / "report.json"
    args = [
        "synth",
        "--gpt",
        str(tiny.gpt),
        "--sovits",
        str(tiny.sovits),
        "--ref",
        str(ref),
        "--ref-text",
        REF_TEXT,
    ]
    args += ["--ref-lang", "en", "--lang", "en", "--text", "Hello there. How are you?", "--seed", "4"]
    assert main([*args, "--out", str(out), "--report", str(report)]) == 0
    frames, rate = audio_len(out)
    rep = json.loads(report.read_text())
    assert rate == 32000 == rep["sample_rate"] and rep["seed"] == 4
    tokens = sum(s["tokens"] for s in rep["segments"])
    pauses = (len(rep["segments"]) - 1) * int(0.3 * 32000)
    assert frames == tokens * 1280 + pauses
    # Never overwrites; the same seed gives the same file.
    assert main([*args, "--out", str(out)]) == 2
    again = tmp_path / "again.wav"
    assert main([*args, "--out", str(again)]) == 0
    assert again.read_bytes()[44:] == out.read_bytes()[44:]


def test_synth_uses_pretrained_defaults_and_streams(home, env, tmp_path, capsys):
    _, ref = home
    out = tmp_path / "s.wav"
    assert (
        main(["synth", "--ref", str(ref), "--text", "Streaming works.", "--stream", "--out", str(out)]) == 0
    )
    assert audio_len(out)[1] == 32000
    assert "s.wav" in capsys.readouterr().out


def test_synth_with_a_library_voice(home, env, tmp_path):
    tiny, ref = home
    name = "Zoë 小明"
    assert (
        main(
            [
                "voices",
                "create",
                name,
                "--gpt",
                str(tiny.gpt),
                "--sovits",
                str(tiny.sovits),
                "--ref",
                str(ref),
                "--ref-text",
                REF_TEXT,
                "--language",
                "en",
                "--consent",
                "test voice",
                "--default",
                "seed=9",
            ]
        )
        == 0
    )
    out = tmp_path / "v.wav"
    report = tmp_path / "v.json"
    assert (
        main(
            [
                "synth",
                "--voice",
                name,
                "--text",
                "A voice from the library.",
                "--out",
                str(out),
                "--report",
                str(report),
            ]
        )
        == 0
    )
    assert json.loads(report.read_text())["seed"] == 9  # the voice's default
    assert main(["voices", "delete", name]) == 0


def test_synth_errors_say_what_to_do(home, tmp_path, monkeypatch, capsys):
    _, ref = home
    monkeypatch.setenv("GPT_SOVITS_HOME", str(tmp_path))  # no pretrained models here
    assert main(["synth", "--ref", str(ref), "--text", "Hi.", "--out", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err
    assert "models download" in err and "pretrained" in err
    assert main(["synth", "--text", "Hi.", "--out", str(tmp_path / "x.wav")]) == 2
    assert "--voice" in capsys.readouterr().err
    assert main(["synth", "--voice", "nobody", "--text", "Hi.", "--out", str(tmp_path / "x.wav")]) == 2
    assert "nobody" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


def test_batch_reports_failures_and_resumes(home, env, tmp_path):
    tiny, ref = home
    jobs = tmp_path / "jobs.jsonl"
    good = {
        "text": "First job.",
        "gpt": str(tiny.gpt),
        "sovits": str(tiny.sovits),
        "ref": str(ref),
        "ref_text": REF_TEXT,
        "ref_lang": "en",
        "out": "one.wav",
        "seed": 1,
    }
    lines = [
        json.dumps(good),
        json.dumps({**good, "text": "Second job, faster.", "out": "two.wav", "options": {"speed": 1.25}}),
        "{not json",
        json.dumps({**good, "text": "Escapes.", "out": "../evil.wav"}),
        json.dumps({**good, "text": "Bad option.", "out": "bad.wav", "volume": 11}),
        json.dumps({**good, "text": "Missing ref.", "ref": "nope.wav", "out": "three.wav"}),
        json.dumps({**good, "text": "Last job.", "out": "four.wav"}),
    ]
    jobs.write_text("\n".join(lines) + "\n")
    out_dir = tmp_path / "out"
    assert main(["batch", str(jobs), "--out-dir", str(out_dir)]) == 1
    assert sorted(p.name for p in out_dir.glob("*.wav")) == ["four.wav", "one.wav", "two.wav"]
    assert not (tmp_path / "evil.wav").exists()
    records = [json.loads(x) for x in (out_dir / "batch.jsonl").read_text().splitlines()]
    failed = {r["line"]: r["error"] for r in records if r["status"] == "failed"}
    assert set(failed) == {3, 4, 5, 6}
    assert "JSON" in failed[3] and "inside the output folder" in failed[4] and "volume" in failed[5]
    assert "does not exist" in failed[6]
    before = {p.name: p.stat().st_mtime_ns for p in out_dir.glob("*.wav")}
    assert main(["batch", str(jobs), "--out-dir", str(out_dir)]) == 1  # failures stay failures
    after = {p.name: p.stat().st_mtime_ns for p in out_dir.glob("*.wav")}
    assert before == after  # finished jobs were skipped, not redone


def test_python_dash_m_entry_point(home, tmp_path):
    tiny, ref = home
    env = {**os.environ, "GPT_SOVITS_HOME": str(tiny.root)}
    out = tmp_path / "p.wav"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpt_sovits",
            "synth",
            "--ref",
            str(ref),
            "--ref-text",
            REF_TEXT,
            "--text",
            "From a child process.",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert audio_len(out)[1] == 32000
