"""Korean front end: g2pk2 pronunciation, then Hangul compatibility jamo as phones (GPT-SoVITS v2).

Upstream GPT-SoVITS v2 (``GPT_SoVITS/text/korean.py``) spells Latin letters in Hangul, lets g2pk2 apply
the Korean pronunciation rules, decomposes the result into compatibility jamo, splits the compound
vowels (ㅘ -> ㅗㅏ, ㅑ -> ㅣㅏ, ...) and uses each jamo as a phone; a space is ``空``, a jamo outside the
inventory is ``停`` and a text ending in a jamo gets a final ``.``. We do the same.

One :class:`Token` per word (run of Hangul), one per punctuation mark, one ``空`` token per space.
g2pk2 needs python-mecab-ko (which bundles the mecab-ko dictionary); it is loaded on first use.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
import unicodedata
from functools import cache
from typing import Any

from gpt_sovits.errors import require_module
from gpt_sovits.text.tokens import CJK_PUNCT_MAP, PUNCTUATION, Token

log = logging.getLogger(__name__)

LANG = "ko"
_FEATURE = "Korean text (language 'ko')"
_EXTRA = "ko"
_PACKAGES = "g2pk2, jamo, python-mecab-ko"

SPACE_PHONE = "空"
UNKNOWN_PHONE = "停"
# The jamo of the v2 inventory.
_JAMO_PHONES = frozenset("ㄱㄴㄷㄹㅁㅂㅅㅇㅈㅊㅋㅌㅍㅎㄲㄸㅃㅆㅉㅏㅓㅗㅜㅡㅣㅐㅔ")
# Compound vowels as sequences of the inventory's vowels (upstream's table).
_VOWEL_SPLIT = str.maketrans(
    {
        "ㅘ": "ㅗㅏ", "ㅙ": "ㅗㅐ", "ㅚ": "ㅗㅣ", "ㅝ": "ㅜㅓ", "ㅞ": "ㅜㅔ", "ㅟ": "ㅜㅣ", "ㅢ": "ㅡㅣ",
        "ㅑ": "ㅣㅏ", "ㅒ": "ㅣㅐ", "ㅕ": "ㅣㅓ", "ㅖ": "ㅣㅔ", "ㅛ": "ㅣㅗ", "ㅠ": "ㅣㅜ",
    }
)  # fmt: skip
_LATIN = dict(
    zip(
        "abcdefghijklmnopqrstuvwxyz",
        "에이 비 시 디 이 에프 지 에이치 아이 제이 케이 엘 엠 엔 오 피 큐 아르 에스 티 유 브이 더블유 엑스 와이 제트".split(),
    )
)
_PUNCT_MAP = {**CJK_PUNCT_MAP, "～": "-", "~": "-", "—": "-"}
_PUNCT_SET = frozenset(PUNCTUATION)
_PUNCT_CLASS = re.escape("".join(PUNCTUATION))
_REPEATED_PUNCT_RE = re.compile(f"([{_PUNCT_CLASS}])[{_PUNCT_CLASS}]+")
_HANGUL = "\uac00-\ud7a3\u3131-\u3163"
_DROP_RE = re.compile(rf"[^{_HANGUL}{_PUNCT_CLASS} ]+")
_PIECE_RE = re.compile(rf"[{_HANGUL}]+|[{_PUNCT_CLASS}]| ")

# Counters read with native Korean numbers (g2pK's list plus a few common ones: 명 장 잔 곳 달).
_NATIVE_COUNTERS = (
    "군데 권 개 그루 닢 대 두 마리 모 모금 뭇 발 발짝 방 번 벌 보루 살 수 술 시 쌈 움큼 정 짝 채 척 첩 축 "
    "켤레 톨 통 명 장 잔 곳 달"
).split()
_SINO = dict(zip("123456789", "일이삼사오육칠팔구"))
_NATIVE_ONES = dict(zip("123456789", "한 두 세 네 다섯 여섯 일곱 여덟 아홉".split()))
_NATIVE_TENS = dict(zip("123456789", "열 스물 서른 마흔 쉰 예순 일흔 여든 아흔".split()))
_DIGIT_NAMES = dict(zip("0123456789", "영일이삼사오육칠팔구"))

_lock = threading.Lock()


def available() -> bool:
    """True when g2pk2, jamo and python-mecab-ko can be imported (nothing is loaded)."""
    return all(importlib.util.find_spec(m) is not None for m in ("g2pk2", "jamo", "mecab"))


def _sino_group(digits: str) -> str:
    """Sino-Korean reading of up to four digits; a leading 1 before 십/백/천 is not said."""
    out = []
    for place, digit in zip(range(len(digits) - 1, -1, -1), digits):
        if digit == "0":
            continue
        unit = ("", "십", "백", "천")[place]
        out.append(("" if digit == "1" and unit else _SINO[digit]) + unit)
    return "".join(out)


def sino_number(number: str) -> str:
    """Sino-Korean numerals: "2024" -> 이천이십사, "10000" -> 만, "100000000" -> 일억."""
    value = number.lstrip("0")
    if not value:
        return "영"
    if len(value) > 16:
        return "".join(_DIGIT_NAMES[d] for d in number)
    groups = []
    while value:
        groups.insert(0, value[-4:])
        value = value[:-4]
    out = []
    for index, group in enumerate(groups):
        unit = ("", "만", "억", "조")[len(groups) - 1 - index]
        reading = _sino_group(group)
        if reading:
            # 10000 is 만, not 일만 (but 일억, 일조 keep their 일).
            out.append(("" if reading == "일" and unit == "만" else reading) + unit)
    return "".join(out)


def native_number(number: str) -> str:
    """Native Korean counting forms (before a counter): "3" -> 세, "20" -> 스무, "123" -> 백스물세."""
    value = number.lstrip("0") or "0"
    if value == "0":
        return "영"
    head, tail = value[:-2], value[-2:].rjust(2, "0")
    if tail == "20":
        tens_ones = "스무"
    else:
        tens_ones = _NATIVE_TENS.get(tail[0], "") + _NATIVE_ONES.get(tail[1], "")
    return (sino_number(head + "00") if head else "") + tens_ones


def _spell_number(match: re.Match[str]) -> str:
    sign, integer, fraction, following = match.group(1), match.group(2), match.group(3), match.group(4)
    integer = integer.replace(",", "")
    if fraction is None and following.startswith("월") and integer in ("6", "10"):
        reading = {"6": "유", "10": "시"}[integer]  # month names 유월, 시월 drop a sound
    elif fraction is None and any(following.startswith(c) for c in _NATIVE_COUNTERS):
        reading = native_number(integer)
    elif integer.startswith("0") and len(integer) > 1:
        reading = "".join(_DIGIT_NAMES[d] for d in integer)  # codes, phone numbers: digit by digit
    else:
        reading = sino_number(integer)
    if fraction:
        reading += "점" + "".join(_DIGIT_NAMES[d] for d in fraction)
    return ("마이너스" if sign else "") + reading + following


def normalize(text: str) -> str:
    """Latin letters and numbers in Hangul, marks onto ``, . ! ? … -``, other symbols dropped."""
    text = unicodedata.normalize("NFKC", text).replace("...", "…")
    text = text.replace("%", "퍼센트")
    number = rf"(?:(?<![\w])(-))?(\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.(\d+))?([{_HANGUL}]*)"
    text = re.sub(number, _spell_number, text)
    text = "".join(_LATIN.get(ch, ch) for ch in text.lower())
    text = "".join(" " if ch.isspace() and ch != "\n" else _PUNCT_MAP.get(ch, ch) for ch in text)
    text = _DROP_RE.sub("", text)
    text = _REPEATED_PUNCT_RE.sub(r"\1", text)
    return re.sub(" {2,}", " ", text).strip()


@cache
def _converter() -> Any:
    """A g2pk2 converter built without its English dictionary.

    g2pk2 downloads NLTK's cmudict when imported and loads it in ``G2p()``, and ``G2p()`` pip-installs
    python-mecab-ko when it is missing. Latin is already spelled in Hangul by :func:`normalize`, so the
    English step never needs cmudict: we keep NLTK from going to the network and set the fields
    ourselves. Missing packages raise :class:`MissingExtraError` instead of being installed.
    """
    for module in ("jamo", "mecab"):
        require_module(module, _FEATURE, _EXTRA, _PACKAGES)
    nltk = require_module("nltk", _FEATURE, _EXTRA, _PACKAGES)
    original_download = nltk.download
    nltk.download = lambda *args, **kwargs: False
    try:
        g2pk2 = require_module("g2pk2.g2pk2", _FEATURE, _EXTRA, _PACKAGES)
    finally:
        nltk.download = original_download
    utils = require_module("g2pk2.utils", _FEATURE, _EXTRA, _PACKAGES)
    mecab = require_module("mecab", _FEATURE, _EXTRA, _PACKAGES)
    converter = g2pk2.G2p.__new__(g2pk2.G2p)
    converter.use_konlpy = False
    converter.mecab_path = None
    converter.mecab = mecab.MeCab()
    converter.table = utils.parse_table()
    converter.cmu = {}
    converter.rule2text = utils.get_rule_id2text()
    converter.idioms_path = os.path.join(os.path.dirname(g2pk2.__file__), "idioms.txt")
    return converter


def _pronounce(text: str) -> str:
    with _lock:
        return _converter()(text)


def _to_jamo(pronounced: str) -> str:
    from jamo import h2j, j2hcj  # imported by _converter() already, so it is present

    jamo = j2hcj(h2j(pronounced)).translate(_VOWEL_SPLIT)
    # g2pk2 sometimes keeps ㄹ after a word ending in 을/를 across a space; upstream reads it as ㄴ.
    return re.sub(r"([ㅇㄹ]ㅡㄹ) ㄹ", r"\1 ㄴ", jamo)


def _word_phones(pronounced_word: str) -> tuple[str, ...]:
    return tuple(ch if ch in _JAMO_PHONES else UNKNOWN_PHONE for ch in pronounced_word)


def g2p(text: str) -> list[Token]:
    """Tokens of Korean ``text`` (normalised first; normalising twice changes nothing)."""
    text = normalize(text)
    if not text:
        return []
    pieces = _PIECE_RE.findall(text)
    # The whole text goes through g2pk2 at once: its rules look across word boundaries.
    spoken = _PIECE_RE.findall(_to_jamo(_pronounce(text)).replace("\u3164", ""))
    if len(spoken) != len(pieces):
        log.debug("g2pk2 changed the word count of %r; converting word by word", text)
        spoken = [_to_jamo(_pronounce(p)) if p[0] not in _PUNCT_SET and p != " " else p for p in pieces]
    tokens: list[Token] = []
    for piece, said in zip(pieces, spoken):
        if piece in _PUNCT_SET:
            tokens.append(Token(piece, (piece,), LANG, "punct"))
        elif piece == " ":
            tokens.append(Token(piece, (SPACE_PHONE,), LANG))
        else:
            tokens.append(Token(piece, _word_phones(said), LANG))
    if tokens and tokens[-1].source != "punct":
        # Upstream ends a text that stops on a jamo with '.'; it has no surface in the text.
        tokens.append(Token("", (".",), LANG, "punct"))
    return tokens
