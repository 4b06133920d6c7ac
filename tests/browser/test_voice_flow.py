"""From a raw recording to a saved voice and synthesized speech, only through the page.

A real recording (piper speech with chords and noise, about 75 s) is uploaded in the Data tab, sliced and
labelled by Whisper there, one label is corrected in the proofreading table; the Train tab fine-tunes the tiny
models on that list, the progress bar is watched until the new voice joins the library; the Voices tab lists
it and the Synthesize tab speaks with it.
"""

from __future__ import annotations

from browser_kit import job_id, screenshot, wait_for_job
from speech_corpus import make_recording

from tools.lists.listfile import DatasetList

DATASET = "joe_raw"
VOICE = "Joe from the browser"


def _data_tab(page, webui, tmp_path, speak) -> str:
    """Upload, slice, label, fix one label; returns the .list path the page made."""
    recording = make_recording(speak).write(tmp_path / "raw recording.wav")
    page.get_by_role("tab", name="Data").click()
    page.locator("#data-name textarea").fill(DATASET)
    page.locator("#data-upload input[type=file]").set_input_files(str(recording))
    page.locator("#data-message", has_text="added").wait_for()

    previous = job_id(page, "data-progress")
    page.locator("#data-slice").click()
    assert wait_for_job(page, "data-progress", previous) == "done", page.locator(
        "#data-log textarea"
    ).input_value()
    previous = job_id(page, "data-progress")
    page.locator("#data-asr").click()
    assert wait_for_job(page, "data-progress", previous) == "done", page.locator(
        "#data-log textarea"
    ).input_value()
    page.locator("#data-message", has_text="ASR finished").wait_for()
    screenshot(page, "flow-data-labelled")

    # Proofreading: open row 2, correct its text, save; the .list on disk has the new label.
    page.locator('#data-table [data-testid="cell-1-3"]').click()
    page.wait_for_function("document.querySelector('#data-row input').value === '2'")
    page.locator("#data-text textarea").fill("A label corrected by hand in the browser.")
    page.locator("#data-save").click()
    page.locator("#data-message", has_text="Row 2 saved").wait_for()
    list_path = webui.home / "logs" / "webui" / "datasets" / DATASET / f"{DATASET}.list"
    rows = DatasetList.read(list_path).rows
    assert len(rows) >= 6 and rows[1].text == "A label corrected by hand in the browser."
    screenshot(page, "flow-data-edited")
    return str(list_path)


def _fill(page, elem_id: str, value: str) -> None:
    """Type into a Gradio Textbox/Number (a textarea or an input inside the component)."""
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(value)
    box.press("Tab")  # Gradio sends the value on change/blur


def _train_tab(page, list_path: str) -> None:
    """Fine-tune the tiny models on the list, watching the progress bar until the voice is in the library."""
    page.get_by_role("tab", name="Train").click()
    # Selecting the tab offers the newest list of the Data tab; wait for that before typing.
    page.wait_for_function("document.querySelector('#train-list input')?.value.endsWith('.list')")
    assert page.locator("#train-list input").input_value() == list_path
    # ... and names the experiment after the dataset until the user types another name.
    assert page.locator("#train-exp textarea").input_value() == DATASET
    _fill(page, "train-exp", "joe_browser")
    _fill(page, "train-sovits-epochs", "1")
    _fill(page, "train-gpt-epochs", "2")
    _fill(page, "train-batch", "4")
    page.get_by_text("Advanced").first.click()
    _fill(page, "train-min-epoch-items", "8")
    _fill(page, "train-voice", VOICE)
    _fill(page, "train-consent", "Synthetic piper voice, made for the browser test.")
    previous = job_id(page, "train-progress")
    page.locator("#train-start").click()
    page.locator("#train-progress [data-status=running]").wait_for(timeout=120_000)
    # The bar moves while the job runs (the page's timer reads the job's progress events).
    page.wait_for_function(
        "Number(document.querySelector('#train-progress progress').value) > 0", timeout=600_000
    )
    screenshot(page, "flow-train-running")
    status = wait_for_job(page, "train-progress", previous, timeout_s=900)
    screenshot(page, "flow-train-done")
    assert status == "done", page.locator("#train-log textarea").input_value()
    page.locator("#train-voice-status", has_text=VOICE).wait_for()
    assert page.locator("#train-exp textarea").input_value() == "joe_browser"


def _voices_tab(page) -> None:
    page.get_by_role("tab", name="Voices").click()
    page.locator("#voices-table", has_text=VOICE).wait_for(timeout=60_000)
    screenshot(page, "flow-voices")


def _speak_with_the_voice(page) -> None:
    page.get_by_role("tab", name="Synthesize").click()
    page.locator("#synth-voice input").click()
    page.get_by_role("option", name=VOICE).click()
    page.locator("#synth-ref-text textarea").wait_for()
    page.wait_for_function(
        "document.querySelector('#synth-ref-text textarea').value.trim().length > 0", timeout=60_000
    )
    _fill(page, "synth-text", "My new voice was trained in the browser.")
    page.locator("#synth-run").click()
    page.locator("#synth-download a").first.wait_for(timeout=300_000)
    assert (
        VOICE in page.locator("#synth-info").inner_text() or page.locator("#synth-segments tbody tr").count()
    )
    screenshot(page, "flow-synthesize-new-voice")


def test_raw_recording_to_voice_to_speech(webui, browser, tmp_path, speak):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{webui.url}/en_US/")
    list_path = _data_tab(page, webui, tmp_path, speak)
    _train_tab(page, list_path)
    voices = list((webui.home / "user_voices").glob("*/voice.json"))
    assert any(VOICE in v.read_text("utf-8") for v in voices)
    _voices_tab(page)
    _speak_with_the_voice(page)
    assert not errors, errors
