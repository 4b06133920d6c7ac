"""Language segmentation: split text into runs of one language, following the GPT-SoVITS language modes.

Modes: ``all_zh``, ``en``, ``all_ja``, ``all_yue``, ``all_ko`` (one language; Latin letters inside
``all_zh``/``all_yue`` are still read as English, as GPT-SoVITS does), ``zh``, ``ja``, ``yue``, ``ko``
(that language mixed with English), ``auto`` (detected per run) and ``auto_yue`` (auto, with Chinese
read as Cantonese). Detection is by script, so it needs no model: Han characters are Chinese unless
they stand next to kana (then Japanese), kana is Japanese, Hangul Korean, Latin English. Digits and
punctuation join the run they belong to. Characters no mode can read (emoji, other scripts) are
dropped and reported.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

LANG_MODES = ("all_zh", "en", "all_ja", "all_yue", "all_ko", "zh", "ja", "yue", "ko", "auto", "auto_yue")

HAN, KANA, HANGUL, LATIN, DIGIT, PUNCT, SPACE, OTHER = (
    "han",
    "kana",
    "hangul",
    "latin",
    "digit",
    "punct",
    "space",
    "other",
)
_LETTER_CLASSES = (HAN, KANA, HANGUL, LATIN)
# Measurement units that Chinese normalisation reads when they follow a number (3.5km -> 三点五千米).
_UNITS = frozenset(
    "km m cm mm nm kg g mg t ml l kb mb gb tb kw w kwh v a h min s ms hz khz mhz ghz mph kph db".split()
)


def char_class(ch: str) -> str:
    """The script class of one character."""
    o = ord(ch)
    if (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x2FA1F
        or ch == "〇"
    ):
        return HAN
    if 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9F:
        return KANA
    if 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return HANGUL
    if ch.isspace():
        return SPACE
    if ("a" <= ch.lower() <= "z") or 0xFF21 <= o <= 0xFF3A or 0xFF41 <= o <= 0xFF5A:
        return LATIN
    if ch.isdigit() and unicodedata.digit(ch, -1) >= 0 and (ch.isascii() or 0xFF10 <= o <= 0xFF19):
        return DIGIT
    cat = unicodedata.category(ch)
    if cat[0] in "PS" and cat != "So":  # punctuation, math and currency symbols; not emoji/pictographs
        return PUNCT
    if ch in "\u00b0\u2103\u2109":  # ° ℃ ℉ are "So" but normalisers read them
        return PUNCT
    return OTHER


@dataclass(frozen=True)
class LangRun:
    """A run of text in one language."""

    lang: str
    text: str


def _letter_lang(cls: str, mode: str, han_as_ja: bool) -> str | None:
    """Language of a letter class under ``mode``; None when the mode cannot read that script."""
    if mode == "en":
        return "en" if cls == LATIN else None
    if mode == "all_ja":
        return "ja" if cls in (HAN, KANA, LATIN) else None
    if mode == "all_ko":
        return "ko" if cls in (HANGUL, LATIN) else None
    if cls == LATIN:
        return "en"
    if mode in ("zh", "all_zh"):
        return "zh" if cls == HAN else None
    if mode in ("yue", "all_yue"):
        return "yue" if cls == HAN else None
    if mode == "ja":
        return "ja" if cls in (HAN, KANA) else None
    if mode == "ko":
        return "ko" if cls == HANGUL else None
    # auto / auto_yue
    if cls == HAN:
        if han_as_ja:
            return "ja"
        return "yue" if mode == "auto_yue" else "zh"
    return {KANA: "ja", HANGUL: "ko"}[cls]


def _default_lang(mode: str) -> str:
    return {
        "all_zh": "zh",
        "all_yue": "yue",
        "all_ja": "ja",
        "all_ko": "ko",
        "auto": "zh",
        "auto_yue": "yue",
    }.get(mode, mode)


def _class_runs(text: str) -> list[tuple[str, str]]:
    runs: list[tuple[str, str]] = []
    for ch in text:
        cls = char_class(ch)
        if runs and runs[-1][0] == cls:
            runs[-1] = (cls, runs[-1][1] + ch)
        else:
            runs.append((cls, ch))
    return runs


def segment(text: str, mode: str = "auto") -> tuple[list[LangRun], list[str]]:
    """Split ``text`` into language runs under ``mode``.

    Returns the runs (adjacent runs of one language merged) and the characters that were dropped
    because no language of the mode reads them.
    """
    if mode not in LANG_MODES:
        raise ValueError(f"Unknown language mode {mode!r}; choose one of {', '.join(LANG_MODES)}.")
    runs = _class_runs(text)
    letters = [i for i, (c, _) in enumerate(runs) if c in _LETTER_CLASSES]
    langs: list[str | None] = [None] * len(runs)
    dropped: list[str] = []
    for i in letters:
        cls = runs[i][0]
        han_as_ja = cls == HAN and _next_to_kana(runs, i)
        langs[i] = _letter_lang(cls, mode, han_as_ja)
        if langs[i] is None:
            dropped.append(runs[i][1])
    for i, (cls, chunk) in enumerate(runs):
        if cls == OTHER:
            dropped.append(chunk)
        elif cls == DIGIT:
            langs[i] = _digit_lang(runs, langs, i, mode)
    for i, (cls, chunk) in enumerate(runs):
        # "3.5km" inside Chinese: a unit glued to a number is read in the number's language.
        if (
            cls == LATIN
            and i > 0
            and runs[i - 1][0] == DIGIT
            and chunk.lower() in _UNITS
            and langs[i - 1] != "en"
        ):
            langs[i] = langs[i - 1]
    out: list[LangRun] = []
    for i, (cls, chunk) in enumerate(runs):
        lang = langs[i]
        if cls in (PUNCT, SPACE):
            lang = out[-1].lang if out else _next_lang(langs, i) or _default_lang(mode)
        if lang is None or (not out and not chunk.strip()):
            continue
        if out and out[-1].lang == lang:
            out[-1] = LangRun(lang, out[-1].text + chunk)
        else:
            out.append(LangRun(lang, chunk))
    return out, dropped


def _next_to_kana(runs: list[tuple[str, str]], i: int) -> bool:
    """True when the nearest letter run on either side (through digits, not spaces) is kana."""
    for step in (-1, 1):
        j = i + step
        while 0 <= j < len(runs) and runs[j][0] in (DIGIT, PUNCT):
            j += step
        if 0 <= j < len(runs) and runs[j][0] == KANA:
            return True
    return False


def _next_lang(langs: list[str | None], i: int) -> str | None:
    return next((lang for lang in langs[i + 1 :] if lang), None)


def _digit_lang(runs: list[tuple[str, str]], langs: list[str | None], i: int, mode: str) -> str:
    """Digits read in the language they belong to: 3月 -> following; version 2 -> preceding."""
    if mode in ("en", "all_ja", "all_ko"):
        return _default_lang(mode) if mode != "en" else "en"
    nxt = langs[i + 1] if i + 1 < len(langs) and runs[i + 1][0] in _LETTER_CLASSES else None
    if nxt and nxt != "en":
        return nxt  # digits glued to a following CJK word: 2024年, 3个
    j = i - 1
    while j >= 0 and runs[j][0] in (SPACE, PUNCT) and len(runs[j][1]) <= 2:
        j -= 1
    if j >= 0 and langs[j]:
        return langs[j]  # type: ignore[return-value]
    return _next_lang(langs, i) or _default_lang(mode)
