"""Browser tests: the real ``webui.py`` on loopback, with tiny models in a temporary home, driven by
Playwright in Debian's Chromium (headless; the network is closed, so Chromium's background services are
off and every test gets a fresh ``--user-data-dir``).

Screenshots go to ``test-output/browser/`` in the repository (kept after the run, ignored by git), with the
server's log beside them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from browser_kit import WebUI, open_browser, running_webui


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
def webui(tmp_path_factory, chromium) -> Iterator[WebUI]:
    """The WebUI shared by most browser tests: its home holds a complete tiny pretrained set."""
    from tiny_models import make_tiny_home

    home = tmp_path_factory.mktemp("webui_home")
    make_tiny_home(home)
    with running_webui(home) as server:
        yield server


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
