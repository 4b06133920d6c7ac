"""The WebUI shell: it starts on loopback with every planned tab, in every locale, without models."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")

from gpt_sovits.settings import load_settings  # noqa: E402
from gpt_sovits.text import FrontEnd  # noqa: E402
from gpt_sovits.ui.app import build_app  # noqa: E402
from gpt_sovits.ui.i18n import LOCALE_DIR, LOCALES, I18n, resolve_language  # noqa: E402
from gpt_sovits.ui.synthesize_tab import preview_rows  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("language", LOCALES)
def test_app_serves_every_tab(tmp_path, language):
    settings = load_settings({"GPT_SOVITS_HOME": str(tmp_path)})
    t = I18n(language)
    app = build_app(settings, language)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30) as resp:
            config = json.loads(resp.read())
    finally:
        app.close()
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    for key in ("tab.data", "tab.train", "tab.synthesize", "tab.voices", "tab.models"):
        assert t(key) in labels
    # Without pretrained models the Models tab names what is missing and where it goes.
    values = " ".join(str(c.get("props", {}).get("value", "")) for c in config["components"])
    assert "s2G2333k.pth" in values and str(tmp_path / "pretrained") in values


def test_every_locale_has_every_key():
    keys = {name: set(json.loads((LOCALE_DIR / f"{name}.json").read_text("utf-8"))) for name in LOCALES}
    for name in LOCALES:
        assert keys[name] == keys["en_US"], name


def test_language_choice():
    assert resolve_language("ja_JP") == "ja_JP"
    assert resolve_language("auto", "zh-CN,zh;q=0.9,en;q=0.8") == "zh_CN"
    assert resolve_language("auto", "fr-FR,fr;q=0.9") == "en_US"


def test_preview_rows_and_readable_errors():
    rows = preview_rows("我在<银行|yin2 hang2>工作", "auto", "cut0", None, FrontEnd())
    assert rows[2] == [0, "银", "zh", "y in2", "inline"]
    with pytest.raises(gr.Error, match="xx"):
        preview_rows("{n i3 xx}", "auto", "cut0", None, FrontEnd())
