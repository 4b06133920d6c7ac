"""Job manager: real child processes speaking the progress protocol."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from gpt_sovits.jobs import JobError, JobManager, python_module_command

# A stand-in trainer: protocol lines on stdout, logs on stderr, SIGTERM -> save state, "cancelled", 130.
CHILD = textwrap.dedent(
    """
    import json, pathlib, signal, sys, time

    mode, state = sys.argv[1], pathlib.Path(sys.argv[2])
    stop = False

    def on_term(signum, frame):
        global stop
        stop = True

    signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "stubborn" else on_term)

    def emit(**event):
        print(json.dumps(event), flush=True)

    if mode == "argv":
        state.write_text(json.dumps(sys.argv[3:]))
        sys.exit(0)
    if mode == "fail":
        print("loading the dataset", file=sys.stderr, flush=True)
        emit(event="error", message="CUDA out of memory: lower the batch size")
        sys.exit(3)
    if mode == "crash":
        raise ValueError("a bug without a protocol message")
    steps = 4 if mode == "ok" else 400
    first = json.loads(state.read_text())["step"] if state.exists() else 0
    emit(event="start", kind="gpt", epochs=2, steps=steps, run_dir=str(state.parent))
    print("plain stdout text", flush=True)
    print("stderr log line", file=sys.stderr, flush=True)
    print("{not json", flush=True)
    for step in range(first + 1, steps + 1):
        time.sleep(0.05 if mode == "ok" else 0.1)
        emit(event="progress", kind="gpt", epoch=1 + step * 2 // (steps + 1), epochs=2, step=step,
             steps=steps, losses={"loss": 10.0 / step, "acc": step / steps}, lr=0.01,
             eta_s=(steps - step) * 0.1, elapsed_s=step * 0.1)
        if stop:
            state.write_text(json.dumps({"step": step, "signal": "SIGTERM"}))
            emit(event="cancelled", kind="gpt", step=step)
            sys.exit(130)
    emit(event="checkpoint", kind="gpt", epoch=2, step=steps, path="ckpt/exp-e2.ckpt")
    emit(event="done", kind="gpt", checkpoints=["ckpt/exp-e2.ckpt"], steps=steps)
    """
)


@pytest.fixture
def child(tmp_path):
    path = tmp_path / "child.py"
    path.write_text(CHILD, encoding="utf-8")
    return lambda mode, state="state.json", *extra: [
        sys.executable,
        str(path),
        mode,
        str(tmp_path / state),
        *extra,
    ]


def wait_for_progress(job, minimum_step: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (job.snapshot().step or 0) >= minimum_step:
            return
        job.events_since(job.snapshot().events, timeout=0.5)
    raise AssertionError(f"no progress to step {minimum_step}: {job.snapshot()}")


def test_progress_events_and_log(tmp_path, child):
    manager = JobManager(tmp_path / "jobs")
    seen = []
    job = manager.start("train gpt", child("ok"))
    job.subscribe(lambda j, e: seen.append(e["event"]))
    status = job.wait(20)
    assert status.status == "done" and status.return_code == 0
    assert status.progress == 1.0 and status.step == 4 and status.steps == 4 and status.kind == "gpt"
    assert status.losses == {"loss": 2.5, "acc": 1.0}
    assert status.checkpoints == ("ckpt/exp-e2.ckpt",)
    events = job.events_since(0)
    assert [e["event"] for e in events] == ["start"] + ["progress"] * 4 + ["checkpoint", "done"]
    assert job.events_since(5) == events[5:]
    assert seen[-1] == "exit" and "done" in seen  # subscribed after start: at least the later events
    log = (status.folder / "output.log").read_text(encoding="utf-8").splitlines()
    # Non-protocol stdout (also a line that only looks like JSON) and stderr go to the log; events do not.
    assert {"plain stdout text", "stderr log line", "{not json"} <= set(log)
    assert not any('"event"' in line for line in log)
    assert "stderr log line" in status.log_tail
    stored = [json.loads(x) for x in (status.folder / "events.jsonl").read_text().splitlines()]
    assert stored == events
    record = json.loads((status.folder / "job.json").read_text())
    assert record["status"] == "done" and record["return_code"] == 0 and record["argv"] == child("ok")


def test_progress_fraction_while_running(tmp_path, child):
    job = JobManager(tmp_path / "jobs").start("slow", child("slow"))
    try:
        wait_for_progress(job, 3)
        snap = job.snapshot()
        assert snap.status == "running" and snap.pid is not None
        assert snap.progress == pytest.approx(snap.step / 400)
        assert snap.losses["loss"] == pytest.approx(10.0 / snap.step)
        assert snap.eta_s == pytest.approx((400 - snap.step) * 0.1)
    finally:
        job.cancel(timeout=10)


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM semantics")
def test_cancel_lets_the_child_save_its_state(tmp_path, child):
    job = JobManager(tmp_path / "jobs").start("slow", child("slow"))
    wait_for_progress(job, 2)
    status = job.cancel(timeout=10)
    assert status.status == "cancelled" and status.return_code == 130
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["signal"] == "SIGTERM" and saved["step"] >= 2
    assert job.events_since(0)[-1]["event"] == "cancelled"
    assert status.resumable


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM/SIGKILL semantics")
def test_cancel_kills_a_child_that_ignores_sigterm(tmp_path, child):
    job = JobManager(tmp_path / "jobs").start("stubborn", child("stubborn"))
    wait_for_progress(job, 1)
    t0 = time.monotonic()
    status = job.cancel(timeout=1.0)
    assert status.status == "cancelled" and status.return_code == -signal.SIGKILL
    assert 0.9 < time.monotonic() - t0 < 8
    assert not (tmp_path / "state.json").exists()


def test_failure_has_a_readable_message(tmp_path, child):
    manager = JobManager(tmp_path / "jobs")
    status = manager.start("fails", child("fail")).wait(20)
    assert status.status == "failed" and status.return_code == 3
    assert status.message == "Exited with code 3: CUDA out of memory: lower the batch size"
    assert "loading the dataset" in status.log_tail
    crash = manager.start("crashes", child("crash")).wait(20)
    assert crash.status == "failed" and crash.return_code == 1
    # No protocol message: the last log line (the traceback's last line) explains it.
    assert crash.message == "Exited with code 1: ValueError: a bug without a protocol message"


def test_missing_program_fails_to_start(tmp_path):
    manager = JobManager(tmp_path / "jobs")
    with pytest.raises(JobError, match="Could not start"):
        manager.start("nothing", [str(tmp_path / "no-such-program")])
    [status] = manager.list()
    assert status.status == "failed" and "Could not start" in status.message
    with pytest.raises(JobError, match="empty"):
        manager.start("empty", [])


def test_argv_passes_through_without_a_shell(tmp_path, child):
    tricky = ["two words", 'it\'s "quoted"', "$HOME", "a;b|c", "`echo hi`", "*", "", "ünïcode"]
    status = JobManager(tmp_path / "jobs").start("argv", child("argv", "argv.json", *tricky)).wait(20)
    assert status.status == "done"
    assert json.loads((tmp_path / "argv.json").read_text()) == tricky


def test_python_module_command(tmp_path):
    argv = python_module_command("json.tool", "--help")
    assert argv == [sys.executable, "-m", "json.tool", "--help"]
    status = JobManager(tmp_path / "jobs").start("help", argv).wait(20)
    assert status.status == "done" and any("json" in line for line in status.log_tail)


def test_jobs_survive_a_new_manager(tmp_path, child):
    root = tmp_path / "jobs"
    done = JobManager(root).start("finished", child("ok")).wait(20)
    assert done.status == "done"
    # An earlier WebUI process started a job and went away: the child loses its stdout and dies.
    script = textwrap.dedent(
        f"""
        import json, os, sys
        sys.path.insert(0, {str(os.getcwd())!r})
        from gpt_sovits.jobs import JobManager
        job = JobManager({str(root)!r}).start("orphan", {child("slow", "orphan.json")!r})
        while not job.snapshot().step:
            job.events_since(0, timeout=1)
        print(job.id, flush=True)
        os._exit(0)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    orphan_id = out.stdout.strip()
    assert orphan_id, out.stderr
    manager = JobManager(root)
    listed = {s.id: s for s in manager.list()}
    assert listed[done.id].status == "done" and listed[done.id].progress == 1.0
    assert listed[done.id].losses == {"loss": 2.5, "acc": 1.0}
    orphan = manager.get(orphan_id)
    assert [e["event"] for e in orphan.events_since(0, timeout=1)][:2] == ["start", "progress"]
    status = orphan.wait(20)  # running until its next print hits the closed pipe
    assert status.status == "interrupted" and status.resumable and status.step >= 1
    assert {s.id: s.status for s in JobManager(root).list()}[orphan_id] == "interrupted"
    # Resume: the same command again; this stand-in trainer continues from its saved step (none here).
    again = manager.resume(orphan_id)
    try:
        wait_for_progress(again, 1)
        assert json.loads((again.folder / "job.json").read_text())["resumes"] == orphan_id
        assert again.snapshot().argv == status.argv
    finally:
        again.cancel(timeout=10)
    with pytest.raises(JobError):
        manager.get("../escape")


def test_written_events_read_back_and_percent_progress_only_grows(capsys):
    from gpt_sovits.jobs.status import PercentProgress, parse_event, write_event

    write_event("start", kind="slice", files=2, note="naïve")
    progress = PercentProgress("separate")
    for fraction in (0.0, 0.001, 0.5, 0.504, 0.49, 1.2):  # the same percent twice, a step back, past the end
        progress(fraction, "working")
    progress(1.0)
    events = [parse_event(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0] == {"event": "start", "kind": "slice", "files": 2, "note": "naïve"}
    assert [(e["step"], e["steps"], e.get("message")) for e in events[1:]] == [
        (0, 100, "working"),
        (50, 100, "working"),
        (100, 100, "working"),
    ]
    assert {e["event"] for e in events[1:]} == {"progress"} and {e["kind"] for e in events[1:]} == {
        "separate"
    }
