"""Upload a reference recording in the browser, synthesize, play the result and download it."""

from __future__ import annotations

import re

import soundfile as sf
from browser_kit import open_synthesize_with_reference, screenshot
from tiny_models import write_speech

REFERENCE = "The quick brown fox jumps over the lazy dog near the river bank."


def test_upload_reference_synthesize_play_and_download(webui, browser, tmp_path, speak):
    reference = write_speech(speak, tmp_path / "my reference.wav", REFERENCE)
    # Whisper (bundled tiny.en) fills the reference text; the user may still edit it.
    page = open_synthesize_with_reference(browser, webui, reference)
    assert "fox" in page.locator("#synth-ref-text textarea").input_value().lower()
    page.locator(
        "#synth-ref-preview audio, #synth-ref-preview wave, #synth-ref-preview .waveform-container"
    ).first.wait_for(state="attached")

    page.locator("#synth-text textarea").fill("Hello there. This sentence was typed in the browser.")
    page.locator("#synth-seed input").fill("7")
    page.locator("#synth-run").click()
    download_link = page.locator("#synth-download a").first
    download_link.wait_for(timeout=300_000)
    screenshot(page, "flow-synthesize-result")

    # Play: press the result player's Play button; the player's clock moves and it offers Pause.
    player = page.locator("#synth-audio")
    player.locator("button[aria-label='Play']").click()
    player.locator("button[aria-label='Pause']").wait_for(timeout=30_000)
    page.wait_for_function(
        "document.querySelector('#synth-audio time#time').textContent.trim() !== '0:00'", timeout=30_000
    )
    screenshot(page, "flow-synthesize-playing")
    length = float(re.search(r"([0-9.]+) s in", page.locator("#synth-info").inner_text()).group(1))

    # Download: a real browser download of a wav file with the same length.
    with page.expect_download() as info:
        download_link.click()
    saved = tmp_path / "downloaded.wav"
    info.value.save_as(saved)
    data, rate = sf.read(saved)
    assert rate == 32000 and abs(len(data) / rate - length) < 0.02
    # The segments table and the seed used are shown.
    assert "7" in page.locator("#synth-info").inner_text()
    assert page.locator("#synth-segments tbody tr").count() >= 1
