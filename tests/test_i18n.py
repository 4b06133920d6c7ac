"""Every locale key the WebUI uses exists in every locale (en_US, zh_CN, ja_JP), found two ways: read from
the source (string literals handed to ``t(...)`` or shaped like a key) and recorded while the page of each
language is built."""

from __future__ import annotations

import ast
import json
import re
import string
from pathlib import Path

import pytest

pytest.importorskip("gradio")

from gpt_sovits.settings import load_settings  # noqa: E402
from gpt_sovits.ui.i18n import LOCALE_DIR, LOCALES, I18n  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "gpt_sovits" / "ui"
PREFIXES = ("app", "tab", "job", "error", "data", "train", "synth", "voices", "models")
KEY_SHAPE = re.compile(rf"^(?:{'|'.join(PREFIXES)})\.[a-z0-9_]+(?:\.[a-z0-9_]+)*$")


def locales() -> dict[str, dict[str, str]]:
    return {name: json.loads((LOCALE_DIR / f"{name}.json").read_text("utf-8")) for name in LOCALES}


def source_keys() -> dict[str, str]:
    """key -> where it is used, for every literal key in gpt_sovits/ui."""
    found: dict[str, str] = {}
    for path in sorted(UI.glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            where = f"{path.name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call) and _is_t(node.func) and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.setdefault(arg.value, where)
            elif (
                isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY_SHAPE.match(node.value)
            ):
                found.setdefault(node.value, where)
    return found


def _is_t(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "t") or (
        isinstance(func, ast.Attribute) and func.attr == "t"
    )


def test_locales_have_the_same_keys_and_no_empty_text():
    data = locales()
    for name, strings in data.items():
        assert set(strings) == set(data["en_US"]), f"{name}: {set(strings) ^ set(data['en_US'])}"
        assert all(isinstance(v, str) and v.strip() for v in strings.values()), name


def test_every_key_in_the_source_exists_in_every_locale():
    keys = source_keys()
    assert len(keys) > 100, "the scan found too few keys: is the UI source where the test looks?"
    data = locales()
    for name, strings in data.items():
        missing = {k: w for k, w in keys.items() if k not in strings}
        assert not missing, f"{name} lacks {missing}"


def test_no_locale_key_is_left_unused():
    """A key no code uses any more is dead text that translators would keep maintaining."""
    unused = set(locales()["en_US"]) - set(source_keys())
    assert not unused, f"remove these keys from i18n/locale/*.json: {sorted(unused)}"


def test_placeholders_agree_across_locales():
    """A translation must keep the ``{name}`` fields of the English text, or formatting fails in that language."""
    data = locales()

    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    for key, english in data["en_US"].items():
        for name in LOCALES:
            assert fields(data[name][key]) == fields(english), f"{name} {key}"


@pytest.mark.parametrize("language", LOCALES)
def test_keys_used_while_building_each_page_exist(tmp_path, monkeypatch, language):
    from gpt_sovits.ui.app import build_app
    from gpt_sovits.ui.context import AppContext

    used: set[str] = set()
    original = I18n.__call__

    def recording(self, key, **fmt):
        used.add(key)
        return original(self, key, **fmt)

    monkeypatch.setattr(I18n, "__call__", recording)
    ctx = AppContext.create(load_settings({"GPT_SOVITS_HOME": str(tmp_path)}), "cpu")
    build_app(ctx, language, links=True)
    assert {"tab.data", "tab.train", "tab.synthesize", "tab.voices", "tab.models"} <= used
    for name, strings in locales().items():
        assert used <= set(strings), f"{name} lacks {used - set(strings)}"
    # Keys built at run time must be literals somewhere in the source too, or the static scan misses them.
    assert used <= set(source_keys())
