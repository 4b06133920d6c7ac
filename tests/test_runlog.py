"""RunLog: the JSON-lines progress protocol, progress.jsonl, TensorBoard events and train.log."""

from __future__ import annotations

import io
import json
import logging
import math

import pytest

from gpt_sovits.training.runlog import RunLog

EVENT_KEYS = {
    "start": {"event", "kind", "epochs", "steps", "run_dir"},
    "progress": {"event", "kind", "epoch", "epochs", "step", "steps", "losses", "lr", "eta_s", "elapsed_s"},
    "checkpoint": {"event", "kind", "epoch", "step", "path"},
    "done": {"event", "kind", "checkpoints", "steps"},
    "cancelled": {"event", "kind", "epoch", "step"},
    "error": {"event", "kind", "message"},
}


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_events_are_json_lines_mirrored_to_progress_jsonl(tmp_path):
    out = io.StringIO()
    run = tmp_path / "gpt"
    with RunLog(run, "gpt", stream=out) as log:
        log.start(epochs=2, steps=4, config={"lr": 1e-4, "init": tmp_path / "a.ckpt"})
        for step in range(1, 5):
            log.progress(epoch=1 + (step - 1) // 2, step=step, losses={"loss": 10.0 / step}, lr=1e-4)
        log.checkpoint(epoch=2, step=4, path=run / "checkpoints" / "x-e2.ckpt")
        log.done(checkpoints=[run / "checkpoints" / "x-e2.ckpt"], steps=4)
    events = _lines(out.getvalue())
    assert [e["event"] for e in events] == ["start"] + ["progress"] * 4 + ["checkpoint", "done"]
    for e in events:
        assert set(e) == EVENT_KEYS[e["event"]], e
        assert e["kind"] == "gpt"
    assert (run / "progress.jsonl").read_text(encoding="utf-8") == out.getvalue()
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config == {"lr": 1e-4, "init": str(tmp_path / "a.ckpt")}
    progress = [e for e in events if e["event"] == "progress"]
    assert [p["step"] for p in progress] == [1, 2, 3, 4]
    assert all(p["steps"] == 4 and p["epochs"] == 2 for p in progress)
    assert progress[0]["eta_s"] is None  # no rate known after the first step
    assert all(p["eta_s"] >= 0 for p in progress[1:])
    assert progress[-1]["eta_s"] == 0.0  # nothing left to do
    assert progress[-1]["elapsed_s"] >= progress[0]["elapsed_s"] >= 0


def test_tensorboard_scalars_are_written(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with RunLog(tmp_path / "run", "sovits", stream=io.StringIO()) as log:
        log.start(epochs=1, steps=3, config={})
        for step in range(1, 4):
            log.progress(epoch=1, step=step, losses={"mel": float(step), "kl": 0.5}, lr=2e-4)
    files = list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))
    assert files
    acc = EventAccumulator(str(tmp_path / "run" / "tb"))
    acc.Reload()
    assert {"sovits/mel", "sovits/kl", "sovits/lr"} <= set(acc.Tags()["scalars"])
    mel = acc.Scalars("sovits/mel")
    assert [(s.step, s.value) for s in mel] == [(1, 1.0), (2, 2.0), (3, 3.0)]


def test_non_finite_values_become_null_and_cancel_error_events(tmp_path):
    out = io.StringIO()
    with RunLog(tmp_path / "r", "gpt", stream=out, tensorboard=False) as log:
        log.start(epochs=1, steps=2, config={"x": math.inf})
        log.progress(epoch=1, step=1, losses={"loss": math.nan}, lr=1e-3)
        log.cancelled(epoch=1, step=1)
        log.error("out of memory: lower --batch-size")
    text = out.getvalue()
    assert "NaN" not in text and "Infinity" not in text
    events = _lines(text)
    assert events[1]["losses"] == {"loss": None}
    assert events[2] == {"event": "cancelled", "kind": "gpt", "epoch": 1, "step": 1}
    assert events[3] == {"event": "error", "kind": "gpt", "message": "out of memory: lower --batch-size"}
    assert not (tmp_path / "r" / "tb").exists()


def test_train_log_handler_lives_until_close(tmp_path):
    pkg = logging.getLogger("gpt_sovits")
    before = list(pkg.handlers)
    log = RunLog(tmp_path / "r", "gpt", stream=io.StringIO(), tensorboard=False)
    logging.getLogger("gpt_sovits.training.something").info("hello from a trainer module")
    log.close()
    log.close()  # idempotent
    logging.getLogger("gpt_sovits.training.something").info("after close")
    text = (tmp_path / "r" / "train.log").read_text(encoding="utf-8")
    assert "hello from a trainer module" in text
    assert "after close" not in text
    assert pkg.handlers == before


def test_non_main_rank_does_nothing(tmp_path):
    out = io.StringIO()
    log = RunLog(tmp_path / "r", "gpt", main=False, stream=out)
    log.start(epochs=1, steps=1, config={})
    log.progress(epoch=1, step=1, losses={"loss": 1.0}, lr=1.0)
    log.checkpoint(epoch=1, step=1, path=tmp_path / "x")
    log.done(checkpoints=[], steps=1)
    log.error("x")
    log.close()
    assert out.getvalue() == ""
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("kind", ["gpt", "sovits"])
def test_kind_is_in_every_event(tmp_path, kind):
    out = io.StringIO()
    with RunLog(tmp_path / kind, kind, stream=out, tensorboard=False) as log:
        log.start(epochs=1, steps=1, config={})
        log.done(checkpoints=[], steps=1)
    assert {e["kind"] for e in _lines(out.getvalue())} == {kind}
