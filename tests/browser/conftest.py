"""Browser tests: the real ``webui.py`` on loopback, with tiny models in a temporary home, driven by
Playwright in Debian's Chromium (headless; the network is closed, so Chromium's background services are
off and every test gets a fresh ``--user-data-dir``).

Screenshots go to ``test-output/browser/`` in the repository (kept after the run, ignored by git), with the
server's log beside them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_kit import OUTPUT, ROOT, open_browser
from ui_helpers import free_port


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


@pytest.fixture(scope="session")
def playwright_instance(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser(playwright_instance, chromium, tmp_path):
    """A browser context (English) with a fresh user-data-dir, closed after the test."""
    context = open_browser(playwright_instance, chromium, tmp_path / "chromium-profile")
    yield context
    context.close()
