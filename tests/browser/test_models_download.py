"""A first start without models: the page says what is missing, the Models tab downloads the pretrained set
from a hub mirror (a local server that answers like huggingface.co, serving tiny models in the official
layout) with progress, and synthesis works afterwards. All in the browser, on a WebUI with an empty home."""

from __future__ import annotations

from pathlib import Path

from browser_kit import open_synthesize_with_reference, running_webui, screenshot, wait_for_job
from fake_hub import SPEAKER_FILE, FakeHub, speaker_stand_in
from tiny_models import make_tiny_home, write_speech

from gpt_sovits.fileio import size_text


def hub_files(tmp_path: Path) -> dict[str, bytes]:
    """A hub repository in the official layout: every file of a runnable tiny pretrained set, and the v2
    set's speaker encoder (only v2Pro models run it) as a stand-in with its official key layout."""
    tiny = make_tiny_home(tmp_path / "tiny")
    files = {
        p.relative_to(tiny.pretrained).as_posix(): p.read_bytes()
        for p in tiny.pretrained.rglob("*")
        if p.is_file()
    }
    return {**files, SPEAKER_FILE: speaker_stand_in()}


def test_download_the_pretrained_models_from_the_page_then_synthesize(browser, chromium, tmp_path, speak):
    files = hub_files(tmp_path)
    home = tmp_path / "empty home"
    home.mkdir()
    reference = write_speech(speak, tmp_path / "reference.wav", "A short sentence to copy the voice from.")
    with FakeHub(files) as hub, running_webui(home, "webui-empty-home.log") as webui:
        # Synthesis without models: a readable message that points to the Models tab's download.
        page = open_synthesize_with_reference(browser, webui, reference)
        page.locator("#synth-text textarea").fill("Hello.")
        page.locator("#synth-run").click()
        toast = page.locator(".toast-body.error").first
        toast.wait_for()
        message = toast.inner_text()
        assert "download" in message.lower() and "Traceback" not in message, message
        screenshot(page, "models-missing-message")

        # The Models tab lists what is missing and downloads it from the mirror typed into the page.
        page.get_by_role("tab", name="Models").click()
        status = page.locator("#models-status")
        status.get_by_text("Missing from").wait_for()
        page.locator("#models-endpoint textarea, #models-endpoint input").first.fill(hub.url)
        page.locator("#models-download").click()
        page.locator("#models-progress progress").wait_for()
        screenshot(page, "models-downloading")
        assert wait_for_job(page, "models-progress", None, timeout_s=300) == "done"
        status.get_by_text("All pretrained files are present").wait_for()
        total = sum(len(data) for data in files.values())
        assert f"{size_text(total)} of {size_text(total)}" in page.locator("#models-progress").inner_text()
        screenshot(page, "models-downloaded")
        for path, data in files.items():
            assert (home / "pretrained" / path).read_bytes() == data, path
        assert any(r.kind == "cdn" for r in hub.requests)  # the large files came through the LFS redirect

        # Now the same request speaks.
        page.get_by_role("tab", name="Synthesize").click()
        page.locator("#synth-run").click()
        page.locator("#synth-download a").first.wait_for(timeout=300_000)
        assert "s in" in page.locator("#synth-info").inner_text()
        screenshot(page, "models-then-synthesized")
