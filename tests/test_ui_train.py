"""The Train tab and ``python -m gpt_sovits.training run``, driven the way the page drives them.

A four-clip dataset of real piper speech sits where the Data tab puts its lists; the tiny official-format
models of ``tiny_models`` train on it. The tab's start handler launches the one-job fine-tune, the stop
handler cancels it during SoVITS training, the resume handler continues it to the end (the voice lands in
the library); then the file readers, a sample clip, the evaluation and "add to voice library" run on what the
jobs really wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import soundfile as sf

gr = pytest.importorskip("gradio")

from tiny_models import make_tiny_home, write_speech  # noqa: E402
from ui_helpers import elem_ids, served_config  # noqa: E402

from gpt_sovits.settings import load_settings  # noqa: E402
from gpt_sovits.training.__main__ import build_parser  # noqa: E402
from gpt_sovits.training.__main__ import main as training_main  # noqa: E402
from gpt_sovits.training.pipeline import StagedStream  # noqa: E402
from gpt_sovits.ui import train_tab as tt  # noqa: E402
from gpt_sovits.ui import train_view as tv  # noqa: E402
from gpt_sovits.ui.common import readable  # noqa: E402
from gpt_sovits.ui.context import AppContext  # noqa: E402
from gpt_sovits.ui.i18n import I18n  # noqa: E402

EXP = "joe"
VOICE = "Joe (UI)"
CONSENT = "Synthetic piper voice made for the test suite."
TEXTS = (
    "The weather is lovely today, so we walked to the park.",
    "Please bring the red book from the kitchen table.",
    "My brother plays the violin every evening after dinner.",
    "A small boat drifted slowly across the quiet lake.",
)
t = I18n("en_US")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, speak) -> AppContext:
    """A tiny home with a labelled four-clip list in the Data tab's dataset folder."""
    root = tmp_path_factory.mktemp("train_ui")
    make_tiny_home(root)
    context = AppContext.create(load_settings({"GPT_SOVITS_HOME": str(root)}), "cpu")
    folder = context.dataset_dir(EXP)
    rows = [
        f"{write_speech(speak, folder / 'clips' / f'c{i}.wav', x)}|joe|EN|{x}" for i, x in enumerate(TEXTS)
    ]
    (folder / f"{EXP}.list").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return context


def _form(ctx: AppContext, **changes) -> tv.TrainForm:
    values = dict(
        sovits_epochs=2, gpt_epochs=1, batch=2, min_items=8, save_every=1, voice=VOICE, consent=CONSENT
    )
    values = {"exp": EXP, "list_path": tt.list_choices(ctx)[0], **values, **changes}
    return tv.TrainForm(**values)


@pytest.fixture(scope="module")
def trained(ctx):
    """Start from the tab, stop during SoVITS training, resume from the tab to the end."""
    first = ctx.jobs.get(tt.start_training(ctx, t, _form(ctx)))
    seen, stop_at = 0, None
    while stop_at is None:
        new = first.events_since(seen, timeout=300)
        assert new, first.snapshot().log_tail
        seen += len(new)
        stop_at = next((e for e in new if e.get("kind") == "sovits" and e.get("step", 0) >= 2), None)
    tt.stop_job(ctx, t, first.id)
    resumed = ctx.jobs.get(tt.resume_training(ctx, t, EXP))
    status = resumed.wait(600)
    assert status.status == "done", status.log_tail
    return SimpleNamespace(
        first=first.snapshot(),
        first_events=first.events_since(0),
        resumed=status,
        events=resumed.events_since(0),
        root=ctx.settings.logs_dir / EXP,
    )


def _of(events, name, kind=None):
    return [e for e in events if e.get("event") == name and (kind is None or e.get("kind") == kind)]


def test_stop_then_resume_continues_where_it_stopped(trained):
    assert trained.first.status == "cancelled" and trained.first.return_code == 130
    cancelled = _of(trained.first_events, "cancelled")
    assert len(cancelled) == 1 and cancelled[0]["kind"] == "sovits", cancelled
    stopped = cancelled[0]["step"]
    # The resumed job reused every prepared clip, then went on with the step after the saved one.
    prepared = _of(trained.events, "done", "prepare")[0]
    assert prepared["reused"] == len(TEXTS) and prepared["prepared"] == 0
    steps = [e["step"] for e in _of(trained.events, "progress", "sovits")]
    assert steps[0] == stopped + 1 and steps == list(range(stopped + 1, steps[-1] + 1))
    last = _of(trained.events, "progress", "sovits")[-1]
    assert last["step"] == last["steps"] == 8  # 2 epochs x (8 clips per epoch / batch 2)


def test_run_reports_stages_and_adds_the_voice(ctx, trained):
    stages = [(e["stage"], e["kind"]) for e in _of(trained.events, "stage")]
    assert stages == [(1, "prepare"), (2, "sovits"), (3, "gpt"), (4, "qa")]
    assert all(e.get("stages") == 4 for e in trained.events)  # every line says which stage it belongs to
    assert _of(trained.events, "done", "run") and _of(trained.events, "done", "qa")[0]["clips"] == len(TEXTS)
    voice = ctx.voices.get(VOICE)
    assert voice.gpt_path.read_bytes() == tv.checkpoints(trained.root, "gpt")[-1].path.read_bytes()
    assert voice.sovits_path.read_bytes() == tv.checkpoints(trained.root, "sovits")[-1].path.read_bytes()
    # What the page shows for the finished job: done, stage 4/4, where the voice is.
    html, _log, message = tt.run_progress(ctx, t, trained.resumed.id)
    assert 'data-status="done"' in html and 'data-stage="4" data-stages="4"' in html
    assert VOICE in message and str(voice.folder) in message
    # A reloaded page (no experiment typed) re-attaches to the newest training job and its experiment.
    assert tt.attach(ctx, "")[:2] == (EXP, trained.resumed.id)


def test_views_read_what_the_run_wrote(ctx, trained):
    # Losses: one value per step, equal to what the jobs streamed (cancelled part + resumed part).
    streamed = {}
    for e in _of(trained.first_events + trained.events, "progress", "sovits"):
        streamed[e["step"]] = e["losses"]
    points = tv.loss_points(trained.root, "sovits")
    assert [s for s, _ in points["mel"]] == list(range(1, 9)) == sorted(streamed)
    assert all(v == pytest.approx(streamed[s]["mel"]) for s, v in points["mel"])
    gpt = tv.loss_points(trained.root, "gpt")
    assert set(gpt) == {"loss"} and [s for s, _ in gpt["loss"]] == [1, 2, 3, 4]
    frame = tv.loss_frame(trained.root, "sovits", max_points=3)
    assert set(frame["series"]) == set(points) and len(frame) == 3 * len(points)
    # Checkpoints: the files on disk with the epoch and step their runs reported.
    reported = {Path(e["path"]).name: (e["epoch"], e["step"]) for e in _of(trained.events, "checkpoint")}
    found = tv.checkpoints(trained.root)
    assert [(c.kind, c.epoch, c.step) for c in found] == [("sovits", 1, 4), ("sovits", 2, 8), ("gpt", 1, 4)]
    assert all(reported.get(c.path.name, (c.epoch, c.step)) == (c.epoch, c.step) for c in found)
    plot, table, samples, *_ = tt.views(ctx, t, EXP, "sovits", None, None)
    assert len(plot) == 8 * len(points) and table.values.tolist()[2][3] == found[2].path.name
    assert samples["value"] == str(found[-1].path) and len(samples["choices"]) == 3
    # The reference is the clip registration picks: QA flags none of them here, so the most words.
    assert tv.reference_clip(trained.root)["text"] == max(TEXTS, key=lambda x: len(x.split()))


def test_timer_tick_follows_the_job_and_refreshes_views_only_on_change(ctx, trained):
    out = tt.tick(ctx, t, EXP, trained.resumed.id, None, "gpt", None, None, "")
    progress, _log, _eval, voice_message, key, timer, plot, table, *_ = out
    assert 'data-status="done"' in progress and VOICE in voice_message
    assert timer.active is False  # nothing runs: the timer stops
    assert list(plot["series"].unique()) == ["loss"] and len(table) == 3
    again = tt.tick(ctx, t, EXP, trained.resumed.id, None, "gpt", None, None, key)
    assert again[4] == key and all(v == gr.skip() for v in again[6:])  # unchanged files: views not re-sent


def test_sample_clip_per_checkpoint(ctx, trained):
    first_sovits = tv.checkpoints(trained.root, "sovits")[0].path
    gpt, sovits = tv.sample_pair(trained.root, first_sovits)
    assert sovits == first_sovits and gpt == tv.checkpoints(trained.root, "gpt")[-1].path
    path = Path(tt.make_sample(ctx, t, EXP, str(first_sovits)))
    assert path.parent == ctx.settings.logs_dir / "webui" / "samples" / EXP
    audio, rate = sf.read(path)
    assert rate == 32000 and len(audio) > 0.1 * rate and abs(audio).max() > 0


def test_evaluation_table_and_add_voice(ctx, trained):
    job = ctx.jobs.get(tt.start_evaluation(ctx, t, EXP))
    status = job.wait(600)
    assert status.status == "done", status.log_tail
    report = json.loads((trained.root / "eval" / "report.json").read_text(encoding="utf-8"))
    rows = tv.eval_rows(tv.read_report(trained.root))
    assert len(rows) == len(report["pairs"]) == 2  # one GPT x two SoVITS checkpoints
    for row, pair in zip(rows, report["pairs"], strict=True):
        assert row[1:3] == [Path(pair["gpt"]).name, Path(pair["sovits"]).name]
        assert row[4] == round(pair["mean_similarity"], 3)
    assert [r[0] for r in rows].index("★") == report["best"]
    *_, best_md, audio, pairs = tt.views(ctx, t, EXP, "sovits", None, None)
    best = report["pairs"][report["best"]]
    assert Path(best["sovits"]).name in best_md and audio == best["sentences"][0]["audio"]
    assert pairs["value"] == f"pair:{report['best']}"
    message = tt.add_voice(ctx, t, EXP, pairs["value"], "Joe best", CONSENT)
    voice = ctx.voices.get("Joe best")
    assert "Joe best" in message and str(voice.folder) in message
    assert voice.sovits_path.read_bytes() == Path(best["sovits"]).read_bytes()
    with pytest.raises(gr.Error, match="already in the library"):
        readable(t)(tt.add_voice)(ctx, t, EXP, "latest", "Joe best", CONSENT)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"consent": "  "}, "train.err.consent"),
        ({"exp": "../escape"}, "not a usable experiment name"),
        ({"list_path": "/nowhere/missing.list"}, "train.err.list"),
        ({"base": "v2Pro"}, "train.err.base"),
        ({"voice": VOICE}, "train.err.voice_exists"),
    ],
)
def test_start_refuses_with_a_readable_message(ctx, trained, changes, expected):
    form = _form(ctx, **changes)
    before = len(ctx.jobs.list())
    with pytest.raises(gr.Error) as err:
        readable(t)(tt.start_training)(ctx, t, form)
    text = (
        t(expected, path="/nowhere/missing.list", base="v2Pro", name=VOICE) if "." in expected else expected
    )
    assert text.split(":")[0] in str(err.value.message)
    assert len(ctx.jobs.list()) == before  # nothing was started


def test_form_arguments_parse_and_cli_refuses_early(ctx, tmp_path):
    form = _form(ctx, batch=0, save_every=3, qa=False, precision="fp32")
    args = build_parser().parse_args(form.argv(EXP, "V", "cpu"))
    assert (args.command, args.exp, args.sovits_epochs, args.gpt_epochs, args.batch_size) == (
        "run",
        EXP,
        2,
        1,
        None,
    )
    assert (args.save_every, args.qa, args.precision, args.min_epoch_items, args.voice) == (
        3,
        False,
        "fp32",
        8,
        "V",
    )
    assert training_main(["run", "--list", form.list_path, "--exp", "x", "--voice", "V"]) == 1  # no consent
    out = []
    stream = StagedStream(SimpleNamespace(write=out.append, flush=lambda: None), {"stage": 2, "stages": 4})
    stream.write('{"event": "progress", "step": 1}\nplain text\n{"event": "do')
    assert json.loads(out[0]) == {"event": "progress", "step": 1, "stage": 2, "stages": 4}
    assert out[1] == "plain text\n" and len(out) == 2  # the torn line waits for its end


def test_tab_launches_with_its_elements(ctx):
    with gr.Blocks() as app:
        with gr.Tab("x") as tab:
            tt.build(ctx, t, tab)
    config = served_config(app)
    ids = elem_ids(config)
    wanted = "exp list base sovits-epochs gpt-epochs batch precision min-epoch-items save-every voice consent"
    wanted += " start stop resume progress log plot checkpoints sample-ckpt sample-button sample evaluate"
    wanted += " eval-table best add-voice"
    assert {f"train-{w}" for w in wanted.split()} <= ids
    lists = next(c["props"] for c in config["components"] if c["props"].get("elem_id") == "train-list")
    assert lists["allow_custom_value"] and lists["value"] == tt.list_choices(ctx)[0]


def test_stop_during_prepare_keeps_the_clips_done(ctx, trained):
    job = ctx.jobs.get(tt.start_training(ctx, t, _form(ctx, exp="joe-early", voice="early")))
    seen, first = 0, None
    while first is None:
        new = job.events_since(seen, timeout=300)
        assert new, job.snapshot().log_tail
        seen += len(new)
        first = next((e for e in new if e.get("event") == "progress" and e.get("kind") == "prepare"), None)
    status = job.cancel(timeout=120)
    assert status.status == "cancelled" and status.return_code == 130, status.log_tail
    assert [e["kind"] for e in _of(job.events_since(0), "cancelled")] == ["prepare"]
    items = (ctx.settings.logs_dir / "joe-early" / "items.jsonl").read_text(encoding="utf-8").splitlines()
    assert 1 <= len(items) < len(TEXTS)  # saved clip by clip: a rerun reuses them
    assert not (ctx.settings.logs_dir / "joe-early" / "sovits").exists()
