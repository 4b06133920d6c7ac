"""Cantonese front end: ToJyutping readings split into the Y-prefixed initials and finals of the v2 inventory.

Upstream GPT-SoVITS v2 (``GPT_SoVITS/text/cantonese.py``) splits each jyutping syllable by matching the
*first* entry of an ordered list of "initials" (which, oddly, includes vowel-initial chunks such as
``aa`` and ``ou``); the rest of the syllable, or the chunk's last letter when nothing is left, is the
final and carries the tone. Both get a ``Y`` prefix so that they never collide with Mandarin phones:
你 nei5 -> ``Yn Yei5``, 好 hou2 -> ``Yh You2``, 五 ng5 -> ``Yng Yg5``, 呀 aa3 -> ``Yaa Ya3``.
The pretrained v2 models were trained on exactly that output, so the order below matters.

One :class:`Token` per character of the normalised text (``word2ph`` has one entry per character).
"""

from __future__ import annotations

import importlib.util
import logging
import re
import unicodedata
from functools import cache
from types import ModuleType

from gpt_sovits.errors import TextError, require_module
from gpt_sovits.text.symbols import symbol_to_id
from gpt_sovits.text.tokens import CJK_PUNCT_MAP, PUNCTUATION, Token

log = logging.getLogger(__name__)

LANG = "yue"
_FEATURE = "Cantonese text (language 'yue')"
_EXTRA = "yue"
_PACKAGES = "ToJyutping"

# Matched in this order, first match wins (upstream's list; "aa" before "aai" is deliberate there).
_INITIALS = (
    "aa", "aai", "aak", "aap", "aat", "aau", "ai", "au", "ap", "at", "ak", "a",
    "p", "b", "e", "ts", "t", "dz", "d", "kw", "k", "gw", "g", "f", "h", "l", "m", "ng", "n", "s",
    "y", "w", "c", "z", "j", "ong", "on", "ou", "oi", "ok", "o", "uk", "ung",
    "sp", "spl", "spn", "sil",
)  # fmt: skip

# Upstream rep_map: marks onto the inventory's punctuation; quotes and brackets are dropped.
_PUNCT_MAP = {**CJK_PUNCT_MAP, "$": ".", "—": "-", "～": "-", "~": "-"}
_PUNCT_SET = frozenset(PUNCTUATION)
_PUNCT_CLASS = re.escape("".join(PUNCTUATION))
_REPEATED_PUNCT_RE = re.compile(f"([{_PUNCT_CLASS}])[{_PUNCT_CLASS}]+")
# Upstream keeps only these CJK characters and the punctuation; everything else is removed.
_KEEP_RE = re.compile(rf"[^\u4e00-\u9fa5{_PUNCT_CLASS}]+")
_SYLLABLE_RE = re.compile(r"^([a-z]+)([1-6])$")

_DIGITS = "零一二三四五六七八九"
_SMALL_UNITS = ((3, "千"), (2, "百"), (1, "十"))


def available() -> bool:
    """True when ToJyutping can be imported (its dictionary is only read on first use)."""
    return importlib.util.find_spec("ToJyutping") is not None


@cache
def _tojyutping() -> ModuleType:
    return require_module("ToJyutping", _FEATURE, _EXTRA, _PACKAGES)


def _read_group(digits: str) -> str:
    """Read 1-4 digits (no leading-zero handling beyond a single 零 for gaps)."""
    out: list[str] = []
    value = digits.lstrip("0")
    pending_zero = False
    for place, unit in (*_SMALL_UNITS, (0, "")):
        if len(value) <= place:
            continue
        digit = value[len(value) - place - 1]
        if digit == "0":
            pending_zero = bool(out)
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(_DIGITS[int(digit)] + unit)
    return "".join(out)


def read_cardinal(number: str) -> str:
    """Chinese numerals for a string of digits: "123" -> 一百二十三, "10000" -> 一萬, "15" -> 十五."""
    value = number.lstrip("0")
    if not value:
        return "零"
    groups: list[str] = []
    while value:
        groups.insert(0, value[-4:])
        value = value[:-4]
    big_units = ["", "萬", "億", "萬億"]
    parts: list[str] = []
    for i, group in enumerate(groups):
        unit = big_units[len(groups) - 1 - i] if len(groups) - 1 - i < len(big_units) else ""
        reading = _read_group(group)
        if not reading:
            continue
        # A gap (e.g. 10005 -> 一萬零五) is read with 零, as in Chinese.
        if parts and (group.startswith("0") or not parts[-1]):
            reading = "零" + reading
        parts.append(reading + unit)
    text = "".join(parts)
    # 一十五 is said 十五 at the start of a number (upstream's rule too).
    return text[1:] if text.startswith("一十") else text


def _spell(sign: str | None, integer: str, fraction: str | None) -> str:
    text = ("負" if sign else "") + read_cardinal(integer)
    if fraction:
        text += "點" + "".join(_DIGITS[int(d)] for d in fraction)
    return text


def _normalize_numbers(text: str) -> str:
    """A small subset of upstream's (Mandarin) number normaliser, in Cantonese-friendly characters."""
    text = re.sub(r"(?<=\d)[,，](?=\d{3})", "", text)
    # Years are read digit by digit: 2024年 -> 二零二四年.
    text = re.sub(r"(\d{4})年", lambda m: "".join(_DIGITS[int(d)] for d in m.group(1)) + "年", text)
    # A minus sign counts only when it does not follow a word character (so 3-4 stays a range/dash).
    number = r"(?:(?<!\w)(-))?(\d+)(?:\.(\d+))?"
    text = re.sub(number + "%", lambda m: ("負" if m[1] else "") + "百分之" + _spell(None, m[2], m[3]), text)
    return re.sub(number, lambda m: _spell(m[1], m[2], m[3]), text)


def normalize(text: str) -> str:
    """Numbers to Chinese numerals, marks onto ``, . ! ? … -``, drop what has no Cantonese reading."""
    text = unicodedata.normalize("NFKC", text).replace("...", "…")
    text = _normalize_numbers(text)
    text = "".join(_PUNCT_MAP.get(ch, ch) for ch in text)
    text = _KEEP_RE.sub("", text)
    return _REPEATED_PUNCT_RE.sub(r"\1", text)


def syllable_phones(syllable: str) -> tuple[str, str]:
    """The two v2 phones of one jyutping syllable: ``nei5`` -> (``Yn``, ``Yei5``)."""
    match = _SYLLABLE_RE.match(syllable)
    if match is None:
        raise TextError(f"Not a jyutping syllable: {syllable!r}")
    body, tone = match.groups()
    for initial in _INITIALS:
        if body.startswith(initial):
            if body.startswith("nga"):
                # ng + a...: upstream splits these after two letters whatever the list says.
                return "Yng", f"Y{body[2:]}{tone}"
            return f"Y{initial}", f"Y{body[len(initial) :] or initial[-1]}{tone}"
    raise TextError(f"Jyutping syllable {syllable!r} has no initial GPT-SoVITS v2 knows.")


def g2p(text: str) -> list[Token]:
    """One token per character of ``normalize(text)``; CJK characters get their jyutping phones."""
    text = normalize(text)
    if not text:
        return []
    readings = _tojyutping().get_jyutping_list(text)
    tokens: list[Token] = []
    for char, jyutping in readings:
        if char in _PUNCT_SET:
            tokens.append(Token(char, (char,), LANG, "punct"))
            continue
        if not jyutping:
            raise TextError(
                f"No Cantonese reading for {char!r}; replace it, or give its jyutping with an inline tag."
            )
        phones = tuple(p for syllable in jyutping.split() for p in syllable_phones(syllable))
        tokens.append(Token(char, _in_inventory(char, phones), LANG))
    if len(tokens) != len(text):
        # ToJyutping is documented to return one entry per character; word2ph depends on it.
        raise TextError(f"Cantonese G2P returned {len(tokens)} entries for {len(text)} characters.")
    return tokens


def _in_inventory(char: str, phones: tuple[str, ...]) -> tuple[str, ...]:
    # A few rare readings (ong1, ung3, ang1, ap1: 骯 甕 鶯 ...) split into phones the v2 inventory lacks;
    # upstream's clean_text read them as UNK and the pretrained models were trained on that.
    table = symbol_to_id("v2")
    if all(p in table for p in phones):
        return phones
    log.debug("Cantonese reading of %r has phones outside the v2 inventory: %s", char, phones)
    return tuple(p if p in table else "UNK" for p in phones)
