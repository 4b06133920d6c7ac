"""What the browser tests do: start ``webui.py``, open a fresh Chromium, take screenshots, wait for jobs,
upload a reference (the fixtures are in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ui_helpers import free_port

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


def open_browser(
    playwright_instance, chromium: str, profile: Path, locale: str = "en-US", microphone: Path | None = None
):
    """A fresh headless Chromium with its own empty profile folder.

    ``microphone``: a WAV file Chromium plays as its (fake) microphone, once; the page may use it without
    asking."""
    profile.mkdir(parents=True, exist_ok=True)
    args, permissions = list(CHROMIUM_FLAGS), []
    if microphone is not None:
        args += [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}%noloop",
        ]
        permissions.append("microphone")
    context = playwright_instance.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium,
        headless=True,
        args=args,
        permissions=permissions,
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


@dataclass(frozen=True)
class WebUI:
    url: str  # http://127.0.0.1:PORT
    home: Path  # GPT_SOVITS_HOME of the server: pretrained/, user_voices/, logs/
    log: Path


def _wait_until_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"webui.py exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise AssertionError(
        f"webui.py did not answer on {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}"
    )


@contextlib.contextmanager
def running_webui(home: Path, log_name: str = "webui.log") -> Iterator[WebUI]:
    """``python webui.py`` as a user starts it, on a free loopback port, with ``home`` as its home."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    log = OUTPUT / log_name
    port = free_port()
    env = {**os.environ, "GPT_SOVITS_HOME": str(home), "GPT_SOVITS_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"}
    env.pop("GPT_SOVITS_LANGUAGE", None)  # the language follows the browser
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "webui.py"), "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{url}/en_US/", proc, log)
        yield WebUI(url, home, log)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
