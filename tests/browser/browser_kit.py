"""What the browser tests do with a page: open a fresh Chromium, take screenshots, wait for jobs, upload a
reference (fixtures are in conftest.py)."""

from __future__ import annotations

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def open_browser(playwright_instance, chromium: str, profile: Path, locale: str = "en-US"):
    """A fresh headless Chromium with its own empty profile folder."""
    profile.mkdir(parents=True, exist_ok=True)
    context = playwright_instance.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium,
        headless=True,
        args=CHROMIUM_FLAGS,
        locale=locale,
        accept_downloads=True,
        viewport={"width": 1400, "height": 1000},
    )
    context.set_default_timeout(60_000)
    return context


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as ``test-output/browser/<name>.png``."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


FINAL = ("done", "failed", "cancelled", "interrupted")


def job_id(page, elem_id: str) -> str | None:
    """The id of the job a progress box (``common.progress_html``) shows now, if any."""
    box = page.locator(f"#{elem_id} [data-status]")
    return box.first.get_attribute("data-job") if box.count() else None


def wait_for_job(page, elem_id: str, previous: str | None, timeout_s: float = 600) -> str:
    """Wait until the progress box shows a job other than ``previous`` in a final state; return that state.

    The box is refreshed by the page's own timer, exactly what a user watches."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        box = page.locator(f"#{elem_id} [data-status]")
        if box.count():
            status = box.first.get_attribute("data-status")
            current = box.first.get_attribute("data-job")
            if current and current != previous and status in FINAL:
                return status
        page.wait_for_timeout(500)
    raise AssertionError(f"#{elem_id} showed no finished new job within {timeout_s:.0f} s")


def open_synthesize_with_reference(browser, webui, reference: Path):
    """A new page on the Synthesize tab with ``reference`` uploaded and its text filled in by Whisper."""
    page = browser.new_page()
    page.goto(f"{webui.url}/en_US/")
    page.get_by_role("tab", name="Synthesize").click()
    page.locator("#synth-ref-upload input[type=file]").set_input_files(str(reference))
    page.wait_for_function(
        "document.querySelector('#synth-ref-text textarea').value.trim().length > 0", timeout=180_000
    )
    return page
