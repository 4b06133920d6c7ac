"""Browser tests: the real ``webui.py`` on loopback, with tiny models in a temporary home, driven by
Playwright in Debian's Chromium (headless; the network is closed, so Chromium's background services are
off and every test gets a fresh ``--user-data-dir``).

Screenshots go to ``test-output/browser/`` in the repository (kept after the run, ignored by git), with the
server's log beside them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@dataclass(frozen=True)
class WebUI:
    url: str  # http://127.0.0.1:PORT
    home: Path  # GPT_SOVITS_HOME of the server: pretrained/, user_voices/, logs/
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's Chromium (``bash tests/browser/install_chromium.sh`` installs it)."""
    pytest.importorskip("playwright", reason='playwright is a test dependency: pip install -e ".[test]"')
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = (
            "Chromium is not installed: run `bash tests/browser/install_chromium.sh` (Debian's package)."
        )
        if os.environ.get("GPT_SOVITS_REQUIRE_BROWSER"):  # set by the README test command
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def webui(tmp_path_factory, chromium) -> WebUI:
    """``python webui.py`` as a user starts it, on a free loopback port, home = a tiny pretrained set."""
    from tiny_models import make_tiny_home

    home = tmp_path_factory.mktemp("webui_home")
    make_tiny_home(home)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    log = OUTPUT / "webui.log"
    port = _free_port()
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


@pytest.fixture(scope="session")
def playwright_instance(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


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


@pytest.fixture
def browser(playwright_instance, chromium, tmp_path):
    """A browser context (English) with a fresh user-data-dir, closed after the test."""
    context = open_browser(playwright_instance, chromium, tmp_path / "chromium-profile")
    yield context
    context.close()


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
