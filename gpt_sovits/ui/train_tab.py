"""Train tab: one-click fine-tuning of a labelled list, its progress and losses, a sample per checkpoint,
the evaluation table with the suggested best pair, and "add to voice library".

Training is ``python -m gpt_sovits.training run`` as one job (prepare, SoVITS, GPT, QA, add the voice),
evaluation ``python -m gpt_sovits.evaluation --progress json``, registration ``... training register``: this
tab starts them and reads the files they write (:mod:`gpt_sovits.ui.train_view`). A 1 s timer follows the
jobs while one runs; opening the tab or reloading the page re-attaches to the newest of them.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

import gradio as gr
import pandas as pd
from gradio.context import Context

from gpt_sovits.inference import SynthesisOptions
from gpt_sovits.jobs import JobError, JobStatus
from gpt_sovits.text import LANG_MODES
from gpt_sovits.ui import train_view as tv
from gpt_sovits.ui.common import bind_handler, log_tail, progress_html, readable, save_audio
from gpt_sovits.ui.context import AppContext, check_folder_name
from gpt_sovits.ui.i18n import I18n
from gpt_sovits.voices import VoiceNotFound

# Literal keys (the i18n coverage test reads keys from the source).
STAGE_KEYS = {
    "prepare": "train.stage.prepare",
    "sovits": "train.stage.sovits",
    "gpt": "train.stage.gpt",
    "qa": "train.stage.qa",
}
CKPT_KEYS = ("train.col.kind", "train.col.epoch", "train.col.step", "train.col.file")
EVAL_KEYS = ("train.col.best", "train.col.gpt", "train.col.sovits", "train.col.error", "train.col.similarity")


# ---------------------------------------------------------------------------------------------- helpers
def experiment_name(t: I18n, name: str | None) -> str:
    """A safe experiment name (a folder under logs/) or a readable error."""
    name = check_folder_name(name or "", "experiment name")
    if not name[0].isalnum():
        raise ValueError(t("train.err.name", name=name))
    return name


def exp_root(ctx: AppContext, name: str) -> Path:
    return ctx.settings.logs_dir / name


def _snapshot(ctx: AppContext, job_id: str | None) -> JobStatus | None:
    try:
        return ctx.jobs.get(job_id).snapshot() if job_id else None
    except JobError:
        return None


def _events(ctx: AppContext, status: JobStatus | None, last: int = 40) -> list[dict]:
    if status is None:
        return []
    return ctx.jobs.get(status.id).events_since(max(0, status.events - last))


def list_choices(ctx: AppContext) -> list[str]:
    """The Data tab's lists, newest first."""
    return [str(p) for p in ctx.dataset_lists()]


def base_choices(ctx: AppContext, t: I18n) -> list[tuple[str, str]]:
    """(label saying whether it is installed, base) for the base-model dropdown."""
    pre = ctx.settings.pretrained_dir
    states = {b: t("train.installed") if tv.base_installed(pre, b) else t("train.missing") for b in tv.BASES}
    return [(t("train.base_label", base=b, state=states[b]), b) for b in tv.BASES]


def _free_voice_name(ctx: AppContext, t: I18n, voice: str | None, exp: str) -> str:
    """The voice name to use (default: the experiment's), refused when the library has it already."""
    name = (voice or "").strip() or exp
    try:
        found = ctx.voices.get(name)
    except VoiceNotFound:
        return name
    raise ValueError(t("train.err.voice_exists", name=found.name))


def _running_run(ctx: AppContext, exp: str) -> JobStatus | None:
    job = tv.latest_job(ctx.jobs.list(), "run", exp)
    return job if job is not None and not job.finished else None


# ---------------------------------------------------------------------------------------------- training
def start_training(ctx: AppContext, t: I18n, form: tv.TrainForm) -> str:
    """Check the form and start ``training run`` as a job; returns its id."""
    exp = experiment_name(t, form.exp)
    path = Path((form.list_path or "").strip()).expanduser()
    if not (form.list_path or "").strip() or not path.is_file():
        raise ValueError(t("train.err.list", path=str(form.list_path or "").strip()))
    if not any(line.count("|") >= 3 for line in path.read_text("utf-8", errors="replace").splitlines()):
        raise ValueError(t("train.err.list_empty", path=str(path)))
    if not (form.consent or "").strip():
        raise ValueError(t("train.err.consent"))
    if form.base not in tv.BASES or not tv.base_installed(ctx.settings.pretrained_dir, form.base):
        raise ValueError(t("train.err.base", base=str(form.base)))
    if min(int(v or 0) for v in (form.sovits_epochs, form.gpt_epochs, form.min_items)) < 1:
        raise ValueError(t("train.err.numbers"))
    if form.precision not in tv.PRECISIONS:
        raise ValueError(t("train.err.numbers"))
    name = _free_voice_name(ctx, t, form.voice, exp)
    if (running := _running_run(ctx, exp)) is not None:
        raise ValueError(t("train.err.running", job=running.id))
    return ctx.start_module(f"train:{exp}", tv.TRAIN_MODULE, *form.argv(exp, name, ctx.device)).id


def stop_job(ctx: AppContext, t: I18n, job_id: str | None) -> str:
    """Cancel the followed training job (it saves its state: resume continues from there)."""
    if not job_id:
        raise ValueError(t("train.err.no_job"))
    return progress_html(t, ctx.jobs.get(job_id).cancel())


def resume_training(ctx: AppContext, t: I18n, exp: str) -> str:
    """Start the newest stopped, interrupted or failed ``run`` job of ``exp`` again; returns the new id."""
    exp = experiment_name(t, exp)
    if (running := _running_run(ctx, exp)) is not None:
        raise ValueError(t("train.err.running", job=running.id))
    old = tv.latest_job(ctx.jobs.list(), "run", exp)
    if old is None or old.status not in ("cancelled", "interrupted", "failed"):
        raise ValueError(t("train.err.nothing_to_resume", exp=exp))
    return ctx.jobs.resume(old.id, env=ctx.child_env()).id


def attach(ctx: AppContext, exp: str | None) -> tuple[str, str | None, str | None]:
    """(experiment, run job id, evaluation job id) to follow: the newest jobs of ``exp``, or, with no
    experiment typed (a reloaded page), of the newest training job's experiment."""
    statuses = ctx.jobs.list()
    exp = (exp or "").strip()
    run = tv.latest_job(statuses, "run", exp or None)
    if not exp and run is not None:
        exp = tv.job_argument(run, "--exp") or ""
    evaluation = tv.latest_job(statuses, "eval", exp) if exp else None
    return exp, run.id if run else None, evaluation.id if evaluation else None


def stage_html(t: I18n, events: list[dict]) -> str:
    """ "Stage 2/4: SoVITS training" for the newest stage a run job reported."""
    stage = tv.stage_of(events)
    if stage is None:
        return ""
    number, total, name = stage
    label = t(STAGE_KEYS[name]) if name in STAGE_KEYS else name
    text = t("train.stage", stage=str(number), stages=str(total), name=label)
    return f'<div class="train-stage" data-stage="{number}" data-stages="{total}">{html.escape(text)}</div>'


def run_progress(ctx: AppContext, t: I18n, job_id: str | None) -> tuple[str, str, str | None]:
    """(progress HTML with the stage, log tail, voice message) of the followed run job."""
    status = _snapshot(ctx, job_id)
    events = _events(ctx, status)
    voice = tv.voice_of(events) if status is not None and status.status == "done" else None
    message = t("train.voice_added", name=voice[0], folder=voice[1]) if voice else None
    return stage_html(t, events) + progress_html(t, status), log_tail(status), message


# ---------------------------------------------------------------------------------------------- results
def views(ctx: AppContext, t: I18n, exp: str | None, plot_kind: str, sample: str | None, pair: str | None):
    """(loss plot, checkpoint table, sample dropdown, evaluation table, best pair, best audio, pair dropdown)
    of experiment ``exp`` as its files are now."""
    name = (exp or "").strip()
    root = exp_root(ctx, name) if name else None
    found = tv.checkpoints(root) if root else []
    report = tv.read_report(root) if root else None
    frame = tv.loss_frame(root, plot_kind) if root else pd.DataFrame(columns=["step", "value", "series"])
    table = pd.DataFrame([c.row() for c in found], columns=[t(k) for k in CKPT_KEYS])
    ckpts = [(c.label, str(c.path)) for c in found]
    values = [v for _, v in ckpts]
    sample = sample if sample in values else (values[-1] if values else None)
    latest = t("train.pair_latest")
    pairs = tv.pair_choices(report, latest) if root else [(latest, "latest")]
    pair = pair if pair in [v for _, v in pairs] else pairs[0][1]
    evaluation = pd.DataFrame(tv.eval_rows(report), columns=[t(k) for k in EVAL_KEYS])
    best_md, audio = t("train.no_eval"), tv.best_audio(report)
    if best := tv.best_pair(report):
        files = {k: Path(str(best[k])).name for k in ("gpt", "sovits")}
        best_md = t("train.best", **files, reason=str(report.get("best_reason") or ""))
    samples, pairs = gr.update(choices=ckpts, value=sample), gr.update(choices=pairs, value=pair)
    return frame, table, samples, evaluation, best_md, str(audio) if audio else None, pairs


def make_sample(ctx: AppContext, t: I18n, exp: str, checkpoint: str | None) -> str:
    """Synthesize the fixed sentence with ``checkpoint`` (plus the newest model of the other kind) and the
    experiment's reference clip; returns the saved wav under ``logs/webui/samples/<exp>/``."""
    exp = experiment_name(t, exp)
    if not checkpoint:
        raise ValueError(t("train.err.no_checkpoint"))
    root = exp_root(ctx, exp)
    gpt, sovits = tv.sample_pair(root, Path(checkpoint))
    ref = tv.reference_clip(root)
    lang = tv.experiment_language(root) or "en"
    options = SynthesisOptions(
        text=tv.sample_text(lang),
        text_lang=lang if lang in LANG_MODES else "auto",
        gpt_path=gpt,
        sovits_path=sovits,
        ref_audio=(Path(ref["audio"]),),
        ref_text=str(ref["text"]),
        ref_lang=str(ref.get("lang") or "auto"),
        seed=tv.SAMPLE_SEED,
    )
    result = ctx.engine.synthesize(options)
    stem = Path(checkpoint).stem
    return str(save_audio(ctx.work_dir("samples", exp), stem, result.audio, result.sample_rate))


def start_evaluation(ctx: AppContext, t: I18n, exp: str) -> str:
    """Start the evaluation of every saved pair of ``exp`` as a job; returns its id."""
    exp = experiment_name(t, exp)
    root = exp_root(ctx, exp)
    if not tv.checkpoints(root, "gpt") or not tv.checkpoints(root, "sovits"):
        raise ValueError(t("train.err.no_pairs", exp=exp))
    if (running := _running_run(ctx, exp)) is not None:
        raise ValueError(t("train.err.running", job=running.id))
    busy = tv.latest_job(ctx.jobs.list(), "eval", exp)
    if busy is not None and not busy.finished:
        raise ValueError(t("train.err.eval_running", job=busy.id))
    args = ["--exp", exp, "--progress", "json", "--device", ctx.device]
    return ctx.start_module(f"evaluate:{exp}", tv.EVAL_MODULE, *args).id


def add_voice(
    ctx: AppContext, t: I18n, exp: str, pair: str | None, voice: str | None, consent: str | None
) -> str:
    """Register the chosen pair as a library voice (a short job, waited for); a message saying where it is."""
    exp = experiment_name(t, exp)
    if not (consent or "").strip():
        raise ValueError(t("train.err.consent"))
    name = _free_voice_name(ctx, t, voice, exp)
    gpt, sovits = tv.resolve_pair(exp_root(ctx, exp), pair)
    args = ["register", "--exp", exp, "--name", name, "--consent", consent.strip()]
    job = ctx.start_module(f"register:{exp}", tv.TRAIN_MODULE, *args, "--gpt", gpt, "--sovits", sovits)
    status = job.wait(300)
    if status.status != "done":
        raise ValueError(t("train.err.register", message=status.message or status.status))
    added = tv.voice_of(job.events_since(0))
    return t("train.voice_added", name=added[0] if added else name, folder=added[1] if added else "")


# ---------------------------------------------------------------------------------------------- timer
def tick(ctx, t, exp, job_id, eval_id, plot_kind, sample, pair, seen):
    """One timer tick: progress of both jobs always; the file views only when something changed."""
    progress, log, voice_message = run_progress(ctx, t, job_id)
    run, evaluation = _snapshot(ctx, job_id), _snapshot(ctx, eval_id)
    root = exp_root(ctx, exp.strip()) if (exp or "").strip() else None
    stamp = [exp, plot_kind, run.status if run else "", evaluation.status if evaluation else ""]
    for part in ("sovits/progress.jsonl", "gpt/progress.jsonl", "eval/report.json") if root else ():
        stamp.append((root / part).stat().st_mtime_ns if (root / part).is_file() else "-")
    key = "|".join(str(s) for s in stamp)
    busy = any(s is not None and not s.finished for s in (run, evaluation))
    if key != seen:  # a new evaluation report (last part of the key) selects its best pair
        new_report = key.rsplit("|", 1)[-1] != (seen or "").rsplit("|", 1)[-1]
        fresh = views(ctx, t, exp, plot_kind, sample, None if new_report else pair)
    else:
        fresh = (gr.skip(),) * 7
    voice = voice_message if voice_message else gr.skip()
    return progress, log, progress_html(t, evaluation), voice, key, gr.Timer(active=busy), *fresh


# ---------------------------------------------------------------------------------------------- layout
def _number(value: int, label: str, elem_id: str, minimum: int = 1, info: str | None = None) -> gr.Number:
    return gr.Number(value, precision=0, minimum=minimum, label=label, info=info, elem_id=elem_id)


def _follow() -> tuple[str, gr.Timer]:
    """After a start: forget what the views showed and follow the jobs."""
    return "", gr.Timer(active=True)


def _form(ctx: AppContext, t: I18n) -> list:
    """The training form: experiment, list, base, epochs, batch, advanced options, voice and consent."""
    lists = list_choices(ctx)
    with gr.Row():
        exp = gr.Textbox(label=t("train.exp"), placeholder="alice_v1", elem_id="train-exp")
        first = lists[0] if lists else None
        lst = gr.Dropdown(
            lists, value=first, allow_custom_value=True, label=t("train.list"), info=t("train.list_info"),
            elem_id="train-list",
        )  # fmt: skip
        base = gr.Dropdown(base_choices(ctx, t), value="v2", label=t("train.base"), elem_id="train-base")
    with gr.Row():
        sovits_epochs = _number(8, t("train.sovits_epochs"), "train-sovits-epochs")
        gpt_epochs = _number(15, t("train.gpt_epochs"), "train-gpt-epochs")
        default_batch = tv.default_batch_size(ctx.device)
        batch = _number(default_batch, t("train.batch"), "train-batch", 0, t("train.batch_info"))
    with gr.Accordion(t("train.advanced"), open=False), gr.Row():
        precision = gr.Dropdown(
            list(tv.PRECISIONS), value="auto", label=t("train.precision"), elem_id="train-precision"
        )
        info = t("train.min_epoch_items_info")
        min_items = _number(100, t("train.min_epoch_items"), "train-min-epoch-items", 1, info)
        save_every = _number(0, t("train.save_every"), "train-save-every", 0, t("train.save_every_info"))
        qa = gr.Checkbox(True, label=t("train.qa"), elem_id="train-qa")
    with gr.Row():
        voice = gr.Textbox(
            label=t("train.voice"), placeholder=t("train.voice_placeholder"), elem_id="train-voice"
        )
        consent = gr.Textbox(
            label=t("train.consent"), placeholder=t("train.consent_placeholder"), elem_id="train-consent"
        )
    first = [exp, lst, base, sovits_epochs, gpt_epochs, batch]
    return [*first, precision, min_items, save_every, qa, voice, consent]


def build(ctx: AppContext, t: I18n, tab: gr.Tab) -> None:
    """Add the tab's components to the current Blocks context."""
    form = _form(ctx, t)
    exp, lst, base, voice, consent = form[0], form[1], form[2], form[10], form[11]
    with gr.Row():
        start = gr.Button(t("train.start"), variant="primary", elem_id="train-start")
        stop = gr.Button(t("train.stop"), variant="stop", elem_id="train-stop")
        resume = gr.Button(t("train.resume"), elem_id="train-resume")
    progress = gr.HTML(progress_html(t, None), elem_id="train-progress")
    voice_md = gr.Markdown(elem_id="train-voice-status")
    log = gr.Textbox(label=t("train.log"), lines=8, max_lines=8, interactive=False, elem_id="train-log")
    kinds = [("SoVITS", "sovits"), ("GPT", "gpt")]
    plot_kind = gr.Radio(kinds, value="sovits", label=t("train.plot_kind"), elem_id="train-plot-kind")
    plot = gr.LinePlot(x="step", y="value", color="series", label=t("train.plot"), elem_id="train-plot")
    headers = [t(k) for k in CKPT_KEYS]
    label = t("train.checkpoints")
    table = gr.Dataframe(headers=headers, label=label, interactive=False, elem_id="train-checkpoints")
    with gr.Row():
        sample_ckpt = gr.Dropdown([], value=None, label=t("train.sample_ckpt"), elem_id="train-sample-ckpt")
        sample_button = gr.Button(t("train.sample_button"), elem_id="train-sample-button")
    sample = gr.Audio(type="filepath", label=t("train.sample"), interactive=False, elem_id="train-sample")
    gr.Markdown(f"### {t('train.evaluation')}")
    evaluate = gr.Button(t("train.evaluate"), elem_id="train-evaluate")
    eval_progress = gr.HTML(progress_html(t, None), elem_id="train-eval-progress")
    headers = [t(k) for k in EVAL_KEYS]
    label = t("train.eval_table")
    eval_table = gr.Dataframe(headers=headers, label=label, interactive=False, elem_id="train-eval-table")
    best = gr.Markdown(t("train.no_eval"), elem_id="train-best")
    label = t("train.best_audio")
    best_audio = gr.Audio(type="filepath", label=label, interactive=False, elem_id="train-eval-audio")
    with gr.Row():
        latest = [(t("train.pair_latest"), "latest")]
        pair = gr.Dropdown(latest, value="latest", label=t("train.pair"), elem_id="train-add-pair")
        add = gr.Button(t("train.add_voice"), variant="primary", elem_id="train-add-voice")
    job_id, eval_id, seen = gr.State(None), gr.State(None), gr.State("")
    timer = gr.Timer(1.0, active=False)

    bind = functools.partial(bind_handler, ctx, t)  # handlers are fn(ctx, t, *values)

    def name_from_list(name: str, value: str | None) -> str:
        return name or (Path(value).parent.name if value else "")

    def on_open(name, list_value):
        name, run, evaluation = attach(ctx, name)
        choices = list_choices(ctx)
        value = list_value if list_value else (choices[0] if choices else None)
        name = name_from_list(name, value)  # in this same update, so it cannot land after the user typed
        lists, bases = gr.update(choices=choices, value=value), gr.update(choices=base_choices(ctx, t))
        return name, run, evaluation, lists, bases, "", gr.Timer(active=True)

    opened = [exp, job_id, eval_id, lst, base, seen, timer]
    events = [tab.select, exp.submit, exp.blur]
    if Context.root_block is not None:  # a reloaded page re-attaches without the tab being clicked
        events.append(Context.root_block.load)
    for event in events:
        event(readable(t)(on_open), [exp, lst], opened)
    # Only a list the user picks names the experiment; the page's own updates of the list do not.
    lst.input(readable(t)(name_from_list), [exp, lst], [exp])
    start.click(readable(t)(lambda *v: start_training(ctx, t, tv.TrainForm(*v))), form, [job_id]).success(
        _follow, None, [seen, timer]
    )
    resume.click(bind(resume_training), [exp], [job_id]).success(_follow, None, [seen, timer])
    stop.click(bind(stop_job), [job_id], [progress])
    evaluate.click(bind(start_evaluation), [exp], [eval_id]).success(_follow, None, [seen, timer])
    sample_button.click(bind(make_sample), [exp, sample_ckpt], [sample])
    add.click(bind(add_voice), [exp, pair, voice, consent], [voice_md])
    view_in, view_out = (
        [exp, plot_kind, sample_ckpt, pair],
        [plot, table, sample_ckpt, eval_table, best, best_audio, pair],
    )
    plot_kind.change(bind(views), view_in, view_out)
    tick_out = [progress, log, eval_progress, voice_md, seen, timer, *view_out]
    tick_in = [exp, job_id, eval_id, plot_kind, sample_ckpt, pair, seen]
    timer.tick(bind(tick), tick_in, tick_out, show_progress="hidden")
