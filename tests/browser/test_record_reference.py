"""Record a reference with the microphone in the browser (Chromium's fake microphone plays real speech),
then synthesize with it.

Chromium records with MediaRecorder (WebM/Opus, not WAV), so this also checks that the server decodes what a
browser really sends, without a system ffmpeg.
"""

from __future__ import annotations

import re

import numpy as np
import soundfile as sf
from browser_kit import open_browser, screenshot
from scipy.signal import resample_poly

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


def microphone_file(speak, path):
    """Speech with a second of room silence before and after, at 48 kHz (a microphone's rate)."""
    audio, rate = speak(SENTENCE)
    audio = resample_poly(audio, 48000, rate).astype(np.float32)
    silence = np.zeros(48000, np.float32)
    sf.write(path, np.concatenate([silence, audio, silence]), 48000, subtype="PCM_16")
    return len(audio) / 48000 + 2.0


def test_record_a_reference_with_the_microphone_and_synthesize(
    webui, playwright_instance, chromium, tmp_path, speak
):
    seconds = microphone_file(speak, tmp_path / "microphone.wav")
    context = open_browser(
        playwright_instance, chromium, tmp_path / "profile", microphone=tmp_path / "microphone.wav"
    )
    try:
        page = context.new_page()
        page.goto(f"{webui.url}/en_US/")
        page.get_by_role("tab", name="Synthesize").click()
        recorder = page.locator("#synth-ref-upload")
        recorder.locator("button[aria-label='Record audio']").click()
        recorder.get_by_role("button", name="Record", exact=True).click()
        page.wait_for_timeout(int(seconds * 1000) + 500)  # the whole file plays into the recording
        screenshot(page, "record-recording")
        recorder.get_by_role("button", name="Stop", exact=True).first.click()

        # The recording is decoded on the server, Whisper fills in its text, the preview shows what is used.
        page.wait_for_function(
            "document.querySelector('#synth-ref-text textarea').value.trim().length > 0", timeout=180_000
        )
        heard = page.locator("#synth-ref-text textarea").input_value().lower()
        assert "fox" in heard and "river" in heard, heard
        # The silence before and after the speech is cut to 0.3 s in the preview (what synthesis uses).
        note = page.locator("#synth-ref-info").inner_text()
        start, end, recorded = map(
            float, re.search(r"([0-9.]+)-([0-9.]+) s of the ([0-9.]+) s", note).groups()
        )
        assert seconds - 0.5 < recorded < seconds + 3.0 and 0.4 < start < recorded - seconds + 1.0, note
        assert end - start < seconds - 1.0 and "Silence at its start and end was cut" in note, note
        screenshot(page, "record-recorded")

        page.locator("#synth-text textarea").fill("A recorded voice says this.")
        page.locator("#synth-run").click()
        page.locator("#synth-download a").first.wait_for(timeout=300_000)
        assert "s in" in page.locator("#synth-info").inner_text()
        assert not page.locator(".toast-body.error").count()
        screenshot(page, "record-synthesized")
    finally:
        context.close()
