"""The WebUI shell: it starts on loopback with every planned tab, in every locale, without models."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")

from ui_helpers import free_port, served_config  # noqa: E402

from gpt_sovits.settings import load_settings  # noqa: E402
from gpt_sovits.text import FrontEnd  # noqa: E402
from gpt_sovits.ui.app import build_app  # noqa: E402
from gpt_sovits.ui.context import AppContext  # noqa: E402
from gpt_sovits.ui.i18n import LOCALES, I18n, resolve_language  # noqa: E402
from gpt_sovits.ui.server import create_server  # noqa: E402
from gpt_sovits.ui.synthesize_tab import preview_rows  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ctx(tmp_path):
    return AppContext.create(load_settings({"GPT_SOVITS_HOME": str(tmp_path)}), "cpu")


@pytest.mark.parametrize("language", LOCALES)
def test_app_serves_every_tab(tmp_path, ctx, language):
    t = I18n(language)
    app = build_app(ctx, language)
    config = served_config(app)
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    for key in ("tab.data", "tab.train", "tab.synthesize", "tab.voices", "tab.models"):
        assert t(key) in labels
    # Without pretrained models the Models tab names what is missing and where it goes.
    values = " ".join(str(c.get("props", {}).get("value", "")) for c in config["components"])
    assert "s2G2333k.pth" in values and str(tmp_path / "pretrained") in values


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _root_redirect(port: int, accept_language: str) -> str:
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/", headers={"Accept-Language": accept_language}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(request, timeout=30)
    assert info.value.code == 307
    return info.value.headers["Location"]


def _serve(app):
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return server, thread, port


def test_root_follows_the_browser_language_or_the_fixed_one(ctx):
    server, thread, port = _serve(create_server(ctx))
    try:
        assert _root_redirect(port, "zh-CN,zh;q=0.9,en;q=0.8") == "/zh_CN/"
        assert _root_redirect(port, "ja,en-US;q=0.7") == "/ja_JP/"
        assert _root_redirect(port, "fr-FR,fr;q=0.9") == "/en_US/"
        for code in LOCALES:  # every language's page is mounted and carries its own title
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/{code}/config", timeout=30) as resp:
                config = json.loads(resp.read())
            assert config["title"] == I18n(code)("app.title")
    finally:
        server.should_exit = True
        thread.join(30)
    server, thread, port = _serve(create_server(ctx, "ja_JP"))
    try:
        assert _root_redirect(port, "zh-CN") == "/ja_JP/"
    finally:
        server.should_exit = True
        thread.join(30)


def test_webui_help_names_every_option():
    run = subprocess.run(
        [sys.executable, str(ROOT / "webui.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for flag in ("--host", "--port", "--share", "--language"):
        assert flag in run.stdout
    assert "127.0.0.1" in run.stdout


def test_language_choice():
    assert resolve_language("ja_JP") == "ja_JP"
    assert resolve_language("auto", "zh-CN,zh;q=0.9,en;q=0.8") == "zh_CN"
    assert resolve_language("auto", "fr-FR,fr;q=0.9") == "en_US"


def test_preview_rows_and_readable_errors():
    rows = preview_rows("我在<银行|yin2 hang2>工作", "auto", "cut0", None, FrontEnd())
    assert rows[2] == [0, "银", "zh", "y in2", "inline"]
    with pytest.raises(gr.Error, match="xx"):
        preview_rows("{n i3 xx}", "auto", "cut0", None, FrontEnd())
