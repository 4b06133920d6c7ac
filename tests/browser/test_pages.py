"""The page in a real browser: every tab opens in every language, and ``/`` follows the browser's language."""

from __future__ import annotations

import json

import pytest
from browser_kit import open_browser, screenshot

from gpt_sovits.ui.i18n import LOCALE_DIR

TABS = ("data", "train", "synthesize", "voices", "models")


def strings(locale: str) -> dict[str, str]:
    return json.loads((LOCALE_DIR / f"{locale}.json").read_text("utf-8"))


@pytest.mark.parametrize(
    ("browser_locale", "page_locale"), [("en-US", "en_US"), ("zh-CN", "zh_CN"), ("ja-JP", "ja_JP")]
)
def test_every_tab_opens_in_the_browser_language(
    webui, playwright_instance, chromium, tmp_path, browser_locale, page_locale
):
    context = open_browser(playwright_instance, chromium, tmp_path / "profile", locale=browser_locale)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{webui.url}/")
        assert page.url.rstrip("/").endswith(f"/{page_locale}")
        s = strings(page_locale)
        page.get_by_text(s["app.title"]).first.wait_for()
        for tab in TABS:
            page.get_by_role("tab", name=s[f"tab.{tab}"]).click()
            page.locator(f"#tab-{tab}").wait_for(state="visible")
            screenshot(page, f"{page_locale}-{tab}")
        assert not page.locator(".toast-body.error").count()
        assert not errors, errors
    finally:
        context.close()


def test_errors_are_readable_messages_in_the_page(webui, browser):
    """Asking for speech with neither a voice nor a reference gives a message that says what to do."""
    page = browser.new_page()
    page.goto(f"{webui.url}/en_US/")
    page.get_by_role("tab", name="Synthesize").click()
    page.locator("#synth-text textarea").fill("Hello.")
    page.locator("#synth-run").click()
    toast = page.locator(".toast-body").first
    toast.wait_for()
    text = toast.inner_text()
    screenshot(page, "error-message")
    assert "reference" in text.lower() and "Traceback" not in text and 'File "' not in text
