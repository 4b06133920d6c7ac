"""A one-minute fine-tune end to end, the way the app runs it: CLI commands as child jobs.

The dataset is real piper speech cut by the slicer and labelled by Whisper (the session fixture
``tiny_experiment``); the models are the tiny official-format ones. SoVITS trains first, then the GPT (cancelled
midway and resumed), the voice joins the library, QA scores every clip, the evaluation suggests the best pair,
and the new voice synthesizes through the normal synthesis CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import soundfile as sf

from gpt_sovits.jobs import JobManager, python_module_command
from gpt_sovits.training.experiment import Experiment
from gpt_sovits.voices import VoiceLibrary

EXP = "e2e"
VOICE = "Joe (fine-tuned)"
CONSENT = "Synthetic piper voice made for the test suite."


def _train(exp_args: list[str], *extra: str) -> list[str]:
    return python_module_command("gpt_sovits.training", *exp_args, "--exp", EXP, "--device", "cpu", *extra)


def _run(cmd: list[str], env: dict) -> None:
    """Run a CLI command to completion; fail with its stderr."""
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]


def _progress(events: list[dict]) -> list[dict]:
    return [e for e in events if e.get("event") == "progress"]


def test_fine_tune_register_evaluate_and_synthesize(tiny_experiment, tmp_path):
    settings = tiny_experiment.settings
    shutil.copytree(settings.logs_dir / tiny_experiment.exp_name, settings.logs_dir / EXP)
    env = {**os.environ, "GPT_SOVITS_HOME": str(settings.home)}
    jobs = JobManager(tmp_path / "jobs")
    exp = Experiment(settings.logs_dir, EXP)

    # SoVITS: 2 epochs, a checkpoint each, progress streamed to the job manager.
    job = jobs.start(
        "train-sovits",
        _train(["train-sovits"], "--epochs", "2", "--batch-size", "4", "--save-every", "1"),
        env=env,
    )
    status = job.wait(900)
    assert status.status == "done", status.log_tail
    events = job.events_since(0)
    steps = _progress(events)
    assert steps and steps[-1]["step"] == steps[-1]["steps"] and steps[-1]["epoch"] == 2
    assert {"mel", "kl"} <= set(steps[-1]["losses"]) and steps[-1]["eta_s"] is not None
    sovits_ckpts = sorted((exp.run_dir("sovits") / "checkpoints").glob("*.pth"))
    assert len(sovits_ckpts) == 2
    assert (exp.run_dir("sovits") / "config.json").is_file()
    assert list((exp.run_dir("sovits") / "tb").glob("events.out.tfevents.*"))

    # GPT: cancelled after a few steps, resumed from its saved state; the voice joins the library at the end.
    gpt_cmd = _train(
        ["train-gpt"],
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--save-every",
        "1",
        "--voice",
        VOICE,
        "--consent",
        CONSENT,
    )
    job = jobs.start("train-gpt", gpt_cmd, env=env)
    seen = 0
    cancelled_at = None
    while cancelled_at is None:
        new = job.events_since(seen, timeout=600)
        assert new, job.snapshot().log_tail
        seen += len(new)
        for event in _progress(new):
            if event["step"] >= 3:
                cancelled_at = event["step"]
                break
    status = job.cancel(timeout=120)
    assert status.status == "cancelled", status.log_tail
    assert (exp.run_dir("gpt") / "state.pt").is_file()
    resumed = jobs.resume(job.id, env=env)
    status = resumed.wait(900)
    assert status.status == "done", status.log_tail
    steps = _progress(resumed.events_since(0))
    assert steps[0]["step"] > cancelled_at, (steps[0], cancelled_at)  # continued, not restarted
    assert steps[-1]["step"] == steps[-1]["steps"]
    voice_events = [e for e in resumed.events_since(0) if e.get("event") == "voice"]
    assert voice_events and voice_events[0]["name"] == VOICE
    library = VoiceLibrary(settings.voices_dir)
    voice = library.get(VOICE)
    assert voice.gpt_path.is_file() and voice.sovits_path.is_file() and voice.references

    # QA: every clip scored by the trained aligner.
    _run(python_module_command("gpt_sovits.training", "qa", "--exp", EXP), env)
    rows = [json.loads(x) for x in (exp.root / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(exp.items()) and all(sum(r["durations"]) > 0 for r in rows)
    kinds = {"text_too_long", "poor_fit", "durations"}
    assert all(len(r["kinds"]) == len(r["reasons"]) and set(r["kinds"]) <= kinds for r in rows)
    assert all(r["flagged"] == bool(r["kinds"]) for r in rows)

    # Evaluation of every saved pair, then a second voice registered from the suggested best pair.
    sentences = tmp_path / "heldout.txt"
    sentences.write_text(
        "Where is the nearest train station?\nShe paints the fence every summer.\n", encoding="utf-8"
    )
    evaluate = python_module_command(
        "gpt_sovits.evaluation", "--exp", EXP, "--sentences", str(sentences), "--progress", "json"
    )
    job = jobs.start("evaluate", evaluate, env=env)
    status = job.wait(900)
    assert status.status == "done", status.log_tail
    report = json.loads((exp.eval_dir / "report.json").read_text(encoding="utf-8"))
    best = report["pairs"][report["best"]]
    _run(
        python_module_command(
            "gpt_sovits.training", "register", "--exp", EXP, "--name", "Joe best", "--consent", CONSENT
        ),
        env,
    )
    best_voice = library.get("Joe best")
    assert best_voice.gpt_path.read_bytes() == open(best["gpt"], "rb").read()
    assert best_voice.sovits_path.read_bytes() == open(best["sovits"], "rb").read()

    # The new voice synthesizes with the ordinary synthesis command.
    out = tmp_path / "hello.wav"
    _run(
        [
            sys.executable,
            "-m",
            "gpt_sovits",
            "synth",
            "--voice",
            VOICE,
            "--text",
            "Hello from the new voice.",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--seed",
            "1",
        ],
        env,
    )
    audio, rate = sf.read(out)
    assert rate == 32000 and len(audio) > 0.2 * rate and abs(audio).max() > 0
