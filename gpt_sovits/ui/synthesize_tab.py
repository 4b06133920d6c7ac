"""Synthesize tab: a library voice or an uploaded/recorded reference (auto-trimmed, transcribed), the text and
its options, whole or streamed synthesis, regenerating one segment, download, and the pronunciation preview
with a dictionary editor.

Streaming playback needs no FFmpeg: the audio goes through the app's stream hub
(:mod:`gpt_sovits.ui.streaming`) as a progressive WAV that the browser's own ``<audio>`` element plays
(``#synth-stream-audio`` inside ``#synth-stream-player``). With ``--share`` (no route for it) the whole
result plays when it is ready.

Handlers are module-level functions ``(ctx, t, values...)`` so tests call them directly; ``build`` binds
them. The logic lives in :mod:`gpt_sovits.ui.synth_logic`, :mod:`gpt_sovits.ui.reference_window` and
:mod:`gpt_sovits.ui.pronounce` (which also holds the pronunciation handlers and :func:`preview_rows`).
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
from collections.abc import Callable

import gradio as gr

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.inference import Cancelled, SynthesisOptions
from gpt_sovits.text import LANG_MODES, SPLIT_METHODS
from gpt_sovits.ui import pronounce, reference_window, synth_logic
from gpt_sovits.ui.common import readable
from gpt_sovits.ui.context import AppContext
from gpt_sovits.ui.i18n import I18n
from gpt_sovits.ui.pronounce import preview_rows
from gpt_sovits.ui.synth_logic import KeptResult

__all__ = ["build", "preview_rows"]

log = logging.getLogger(__name__)

DEFAULTS = SynthesisOptions(text="-")
# (minimum, maximum, step) of the sampling sliders; voice defaults are clamped into these ranges.
SLIDERS = {
    "speed": (0.25, 4.0, 0.05),
    "top_k": (1, 100, 1),
    "top_p": (0.05, 1.0, 0.05),
    "temperature": (0.05, 2.0, 0.05),
}


# ------------------------------------------------------------------------------------------ voice
def voice_choices(ctx: AppContext, t: I18n) -> list[tuple[str, str]]:
    """Dropdown choices: "no library voice" (value "") and every voice of the library."""
    return [(t("synth.no_voice"), "")] + [(v.name, v.name) for v in ctx.voices.list()]


def refresh_voices(ctx: AppContext, t: I18n, current: str | None):
    """The voice list again (other tabs add, rename and delete voices); keeps the choice if it still is."""
    choices = voice_choices(ctx, t)
    return gr.update(choices=choices, value=current if current in {v for _, v in choices} else "")


def choose_voice(ctx: AppContext, t: I18n, name: str | None):
    """Fill the fields from a library voice: its reference text and language, language mode, split and
    sampling defaults; the dictionary target becomes the voice's. Choosing a voice clears an uploaded
    reference (the voice's own references are used); "no library voice" changes only the target."""
    if not name:
        return (*[gr.update()] * 12, pronounce.TARGET_GLOBAL)
    voice = ctx.voices.get(name)
    d = {**{k: getattr(DEFAULTS, k) for k in ("split", *SLIDERS)}, **dict(voice.defaults)}
    split = d["split"] if d["split"] in SPLIT_METHODS else DEFAULTS.split
    lang = d.get("text_lang") if d.get("text_lang") in LANG_MODES else voice.language
    sliders = [min(max(float(d[k]), low), high) for k, (low, high, _) in SLIDERS.items()]
    ref = voice.prompt
    return (None, None, None, "", ref.text, ref.lang, lang, split, *sliders, pronounce.TARGET_VOICE)


def upload_reference(ctx: AppContext, t: I18n, path: str | None, progress=gr.Progress()):  # noqa: B008
    """A new upload, recording or trim: save the window synthesis will use (``#synth-ref-preview``) and fill
    the reference text by speech recognition; None (cleared) clears the window. Returns (preview, text,
    language, note, window path)."""
    if not path:
        return None, gr.update(), gr.update(), "", None
    progress(0.1, desc=t("synth.progress.trim"))
    folder = ctx.work_dir(synth_logic.SYNTH_FOLDER, reference_window.REFS_FOLDER)
    window = reference_window.prepare_reference(folder, path)
    note = reference_window.reference_note(t, window)
    progress(0.5, desc=t("synth.progress.asr"))
    text, lang = "", gr.update()
    try:
        text = reference_window.reference_asr(ctx.shared).transcribe(window.wav16k)
        note += " " + (t("synth.asr_note") if text else t("synth.asr_empty"))
        lang = "en"  # the bundled Whisper model is English-only
    except (GPTSoVITSError, ImportError, RuntimeError, OSError, ValueError) as exc:
        log.warning("Speech recognition of the reference failed: %s", exc)
        note += " " + t("synth.asr_failed", message=str(exc))
    return str(window.path), text, lang, note, str(window.path)


# ------------------------------------------------------------------------------------------ running
def cancel_synthesis(ctx: AppContext, t: I18n, request: gr.Request = None) -> None:
    """``#synth-cancel``: stop this browser session's running synthesis at its next step."""
    synth_logic.cancel_registry(ctx.shared).cancel(getattr(request, "session_hash", None))


def stream_available(ctx: AppContext) -> bool:
    """Whether this server serves live streams (``create_server`` adds the route; ``--share`` does not)."""
    return ctx.streams.route is not None


def player_html(t: I18n, url: str) -> str:
    """``#synth-stream-player`` while streaming: the browser's own player on the live WAV. It starts by
    itself (the click on Synthesize allows that) and keeps its controls for pausing and replaying."""
    caption = html.escape(t("synth.stream_audio"))
    return (
        f'<div class="synth-stream"><div>{caption}</div><audio id="synth-stream-audio" controls autoplay '
        f'preload="auto" src="{html.escape(url)}" style="width:100%"></audio></div>'
    )


def show_player(ctx: AppContext, t: I18n, on: bool):
    """``#synth-stream`` ticked: show the player area with what will happen (or why it cannot stream)."""
    if not on:
        return gr.update(visible=False)
    note = t("synth.stream_waiting") if stream_available(ctx) else t("synth.stream_unavailable")
    return gr.update(visible=True, value=f'<div class="synth-stream-note">{html.escape(note)}</div>')


def run_synthesis(
    ctx: AppContext,
    t: I18n,
    voice: str | None,
    ref_window: str | None,
    ref_text: str,
    ref_lang: str,
    text: str,
    lang_mode: str,
    phoneme_mode: bool,
    split: str,
    speed: float,
    seed: float | None,
    top_k: float,
    top_p: float,
    temperature: float,
    stream: bool,
    request: gr.Request = None,
    progress=gr.Progress(),  # noqa: B008 - gradio's way to ask for a progress bar
):
    """``#synth-run``. Yields (stream player, result wav, download, info, segment rows, kept result): when
    streaming, first the player on the live stream (as soon as its first audio is in), then the saved
    result, which holds exactly the streamed samples."""
    if not (text or "").strip():
        raise gr.Error(t("synth.error.empty_text"))
    if not voice and not ref_window:
        raise gr.Error(t("synth.error.no_reference"))
    fields = (ref_text, ref_lang or "auto", text, lang_mode, bool(phoneme_mode), split, speed, seed)
    options = synth_logic.build_options(
        ctx.voices, voice or None, ref_window, *fields, top_k, top_p, temperature
    )
    if stream and not stream_available(ctx):
        gr.Warning(t("synth.stream_unavailable"))
        stream = False
    work = ctx.work_dir(synth_logic.SYNTH_FOLDER)
    session, cancels = getattr(request, "session_hash", None), synth_logic.cancel_registry(ctx.shared)
    token = cancels.start(session)
    skip = gr.update()
    try:
        progress(0.05, desc=t("synth.progress.running"))
        if stream:
            for item in synth_logic.stream(ctx.engine, work, options, ctx.streams, token):
                if isinstance(item, str):  # the stream's id: its first audio is in
                    yield player_html(t, ctx.streams.url(item)), skip, skip, skip, skip, skip
                else:
                    kept, result = item.kept, item.result
        else:
            kept, result = synth_logic.synthesize(ctx.engine, work, options, token)
    except Cancelled:
        gr.Info(t("synth.cancelled"))
        yield skip, skip, skip, skip, skip, skip  # the earlier result stays on the page
        return
    finally:
        cancels.finish(session, token)
    info, rows = synth_logic.info_markdown(t, kept, result), synth_logic.segment_rows(t, kept)
    yield skip, str(kept.path), str(kept.path), info, rows, kept


def regenerate(
    ctx: AppContext,
    t: I18n,
    kept: KeptResult | None,
    index: float | None,
    request: gr.Request = None,
    progress=gr.Progress(),  # noqa: B008
):
    """``#synth-regen``: re-synthesize one segment with a new seed into a new wav. Returns (result wav,
    download, info, segment rows, kept result)."""
    if kept is None:
        raise gr.Error(t("synth.error.no_result"))
    indices = [s.index for s in kept.segments]
    if index is None or int(index) not in indices:
        raise gr.Error(t("synth.error.bad_index", index=str(index), last=str(max(indices, default=0))))
    session, cancels = getattr(request, "session_hash", None), synth_logic.cancel_registry(ctx.shared)
    token = cancels.start(session)
    try:
        progress(0.1, desc=t("synth.progress.regen"))
        work = ctx.work_dir(synth_logic.SYNTH_FOLDER)
        new, result = synth_logic.regenerate_segment(ctx.engine, work, kept, int(index), token)
    except Cancelled:
        gr.Info(t("synth.cancelled"))
        return gr.update(), gr.update(), gr.update(), gr.update(), kept
    finally:
        cancels.finish(session, token)
    info, rows = synth_logic.info_markdown(t, new, result, int(index)), synth_logic.segment_rows(t, new)
    return str(new.path), str(new.path), info, rows, new


def pick_segment(evt: gr.SelectData):
    """Clicking a row of ``#synth-segments`` puts its index into ``#synth-regen-index``."""
    row = evt.row_value if isinstance(evt.row_value, list) else None
    return int(row[0]) if row else gr.update()


# ------------------------------------------------------------------------------------------ layout
def _bind(t: I18n, fn: Callable, ctx: AppContext) -> Callable:
    """``fn`` with ``ctx`` and ``t`` filled in and errors made readable; the signature gradio reads (for
    ``gr.Request`` and ``gr.Progress``) is ``fn``'s without those two."""
    if inspect.isgeneratorfunction(fn):

        def bound(*args, **kwargs):
            yield from fn(ctx, t, *args, **kwargs)
    else:

        def bound(*args, **kwargs):
            return fn(ctx, t, *args, **kwargs)

    functools.update_wrapper(bound, fn)
    sig = inspect.signature(fn)
    bound.__signature__ = sig.replace(parameters=list(sig.parameters.values())[2:])
    return readable(t)(bound)


def _reference(c: dict, ctx: AppContext, t: I18n) -> None:
    c["voice"] = gr.Dropdown(voice_choices(ctx, t), value="", label=t("synth.voice"), elem_id="synth-voice")
    c["ref_upload"] = gr.Audio(
        sources=["upload", "microphone"],
        type="filepath",
        label=t("synth.ref_upload"),
        elem_id="synth-ref-upload",
    )
    c["ref_preview"] = gr.Audio(
        type="filepath", interactive=False, label=t("synth.ref_preview"), elem_id="synth-ref-preview"
    )
    c["ref_note"] = gr.Markdown(elem_id="synth-ref-info")
    c["ref_text"] = gr.Textbox(label=t("synth.ref_text"), lines=2, elem_id="synth-ref-text")
    c["ref_lang"] = gr.Dropdown(
        list(LANG_MODES), value="auto", label=t("synth.ref_lang"), elem_id="synth-ref-lang"
    )


def _request(c: dict, t: I18n) -> None:
    c["text"] = gr.Textbox(label=t("synth.text"), lines=5, elem_id="synth-text")
    with gr.Row():
        langs, splits = list(LANG_MODES), list(SPLIT_METHODS)
        c["lang_mode"] = gr.Dropdown(
            langs, value="auto", label=t("synth.lang_mode"), elem_id="synth-lang-mode"
        )
        c["split"] = gr.Dropdown(splits, value=DEFAULTS.split, label=t("synth.split"), elem_id="synth-split")
        help_text = t("synth.phoneme_help")
        c["phoneme_mode"] = gr.Checkbox(
            label=t("synth.phoneme_mode"), info=help_text, elem_id="synth-phoneme-mode"
        )
    labels = {"speed": t("synth.speed"), "top_k": t("synth.top_k"), "top_p": t("synth.top_p")}
    labels["temperature"] = t("synth.temperature")
    with gr.Row():
        for name, (low, high, step) in SLIDERS.items():
            value, elem_id = getattr(DEFAULTS, name), "synth-" + name.replace("_", "-")
            c[name] = gr.Slider(low, high, value, step=step, label=labels[name], elem_id=elem_id)
        c["seed"] = gr.Number(-1, precision=0, label=t("synth.seed"), elem_id="synth-seed")
    with gr.Row():
        c["stream"] = gr.Checkbox(label=t("synth.stream"), elem_id="synth-stream")
        c["run"] = gr.Button(t("synth.run"), variant="primary", elem_id="synth-run")
        c["cancel"] = gr.Button(t("synth.cancel"), variant="stop", elem_id="synth-cancel")


def _results(c: dict, t: I18n) -> None:
    # Filled by the run handler with an <audio> on the live WAV (see player_html); no click handler.
    c["stream_player"] = gr.HTML("", js_on_load=None, visible=False, elem_id="synth-stream-player")
    c["audio"] = gr.Audio(type="filepath", interactive=False, label=t("synth.audio"), elem_id="synth-audio")
    c["download"] = gr.File(label=t("synth.download"), interactive=False, elem_id="synth-download")
    c["info"] = gr.Markdown(elem_id="synth-info")
    head = [t("synth.col.index"), t("synth.col.segment_text"), t("synth.col.start"), t("synth.col.end")]
    head += [t("synth.col.tokens"), t("synth.col.flags")]
    c["segments"] = gr.Dataframe(
        headers=head, interactive=False, label=t("synth.segments"), elem_id="synth-segments"
    )
    with gr.Row():
        label = t("synth.regen_index")
        c["regen_index"] = gr.Number(0, precision=0, minimum=0, label=label, elem_id="synth-regen-index")
        c["regen"] = gr.Button(t("synth.regen"), elem_id="synth-regen")


def _pronunciation(c: dict, t: I18n) -> None:
    gr.Markdown(f"### {t('synth.pronunciation')}")
    c["preview"] = gr.Button(t("synth.preview_button"), elem_id="synth-preview-button")
    head = [t("synth.col.sentence"), t("synth.col.surface"), t("synth.col.lang"), t("synth.col.phones")]
    label = t("synth.preview_table")
    head.append(t("synth.col.rule"))
    c["table"] = gr.Dataframe(headers=head, interactive=False, label=label, elem_id="synth-preview-table")
    with gr.Row():
        c["surface"] = gr.Textbox(label=t("synth.dict_surface"), elem_id="synth-dict-surface")
        c["phones"] = gr.Textbox(label=t("synth.dict_phones"), elem_id="synth-dict-phones")
        targets = [(t("synth.dict_target.voice"), pronounce.TARGET_VOICE)]
        targets.append((t("synth.dict_target.global"), pronounce.TARGET_GLOBAL))
        label = t("synth.dict_target")
        c["target"] = gr.Radio(
            targets, value=pronounce.TARGET_GLOBAL, label=label, elem_id="synth-dict-target"
        )
        c["save"] = gr.Button(t("synth.dict_save"), elem_id="synth-dict-save")
    c["dict_note"] = gr.Markdown(t("synth.dict_help"), elem_id="synth-dict-info")


def _wire(c: dict, ctx: AppContext, t: I18n, tab) -> None:
    def on(name: str) -> list:
        return [c[n] for n in name.split()]

    tab.select(_bind(t, refresh_voices, ctx), c["voice"], c["voice"])
    voice_out = on("ref_upload ref_preview window ref_note ref_text ref_lang lang_mode split")
    voice_out += on("speed top_k top_p temperature target")
    c["voice"].change(_bind(t, choose_voice, ctx), c["voice"], voice_out)
    ref_out = on("ref_preview ref_text ref_lang ref_note window")
    # "input" is the user's own change: an upload, a finished recording, a trim, or clearing (None)
    c["ref_upload"].input(_bind(t, upload_reference, ctx), c["ref_upload"], ref_out)
    c["stream"].change(_bind(t, show_player, ctx), c["stream"], c["stream_player"])
    inputs = on("voice window ref_text ref_lang text lang_mode phoneme_mode split speed seed top_k top_p")
    outputs = on("stream_player audio download info segments kept")
    run = c["run"].click(
        _bind(t, run_synthesis, ctx), [*inputs, c["temperature"], c["stream"]], outputs, concurrency_limit=2
    )
    regen_out = on("audio download info segments kept")
    regen = c["regen"].click(
        _bind(t, regenerate, ctx), on("kept regen_index"), regen_out, concurrency_limit=2
    )
    c["cancel"].click(_bind(t, cancel_synthesis, ctx), None, None, cancels=[run, regen])
    c["segments"].select(pick_segment, None, c["regen_index"])
    text_in = on("text lang_mode split phoneme_mode voice")
    c["preview"].click(_bind(t, pronounce.preview, ctx), text_in, c["table"])
    save_in = on("surface phones target voice text lang_mode split phoneme_mode")
    c["save"].click(_bind(t, pronounce.save_dictionary, ctx), save_in, on("dict_note table"))


def build(ctx: AppContext, t: I18n, tab) -> None:
    """Add the tab's components to the current Blocks context."""
    c: dict = {}
    with gr.Row():
        with gr.Column(scale=1):
            _reference(c, ctx, t)
        with gr.Column(scale=2):
            _request(c, t)
            _results(c, t)
    _pronunciation(c, t)
    c["kept"] = gr.State(None)  # the KeptResult of the last synthesis (for regeneration)
    c["window"] = gr.State(None)  # path of the reference window wav synthesis uses
    _wire(c, ctx, t, tab)
