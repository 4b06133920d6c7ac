"""Locale strings for the WebUI, keyed by stable identifiers (never by translated text)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LOCALES = ("en_US", "zh_CN", "ja_JP")
# Each language named in itself, for the language links at the top of the page.
LOCALE_NAMES = {"en_US": "English", "zh_CN": "中文", "ja_JP": "日本語"}
DEFAULT_LOCALE = "en_US"
LOCALE_DIR = Path(__file__).resolve().parents[2] / "i18n" / "locale"


@cache
def load_locale(name: str, locale_dir: Path = LOCALE_DIR) -> dict[str, str]:
    """The strings of one locale file."""
    return json.loads((locale_dir / f"{name}.json").read_text(encoding="utf-8"))


class I18n:
    """Look up UI strings in one language, falling back to English for a missing key."""

    def __init__(self, language: str = DEFAULT_LOCALE) -> None:
        if language not in LOCALES:
            raise ValueError(f"Unknown UI language {language!r}; choose one of {', '.join(LOCALES)}.")
        self.language = language
        self._strings = load_locale(language)
        self._fallback = load_locale(DEFAULT_LOCALE)

    def __call__(self, key: str, **fmt: str) -> str:
        text = self._strings.get(key) or self._fallback[key]
        return text.format(**fmt) if fmt else text


def resolve_language(requested: str, accept_language: str = "") -> str:
    """Pick the UI language: an explicit choice, else the browser's Accept-Language, else English."""
    if requested in LOCALES:
        return requested
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("ja"):
            return "ja_JP"
        if tag.startswith("en"):
            return "en_US"
    return DEFAULT_LOCALE
