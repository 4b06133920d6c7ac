"""Chinese text normalisation: numbers, dates, units, symbols and punctuation -> speakable text.

Follows upstream GPT-SoVITS ``chinese2.text_normalize`` (PaddleSpeech zh_normalization +
``replace_punctuation`` + ``replace_consecutive_punctuation``). Deliberate differences, chosen because the
upstream behaviour reads common text wrongly and the model does not depend on them:

* ``3-5`` is a range (三到五) unless it is part of an equation (``5-3=2`` -> 五减三等于二);
* bare integers are read as cardinals (upstream reads any bare number of 3+ digits digit by digit);
  digit strings with a leading zero or longer than 12 digits are still read digit by digit;
* a bare 7-8 digit number is not taken for a landline number unless it has an area code;
* ``2024/3/5`` and non-padded ``2024-3-5`` are dates; ``2月`` is 二月 (upstream says 两月);
* ``°C``/``℃`` are read 摄氏度 (upstream: 度); currency signs are read (¥ 元, $ 美元, € 欧元, £ 英镑);
* traditional characters are not converted to simplified (pypinyin reads them anyway).
"""

from __future__ import annotations

import re

from gpt_sovits.text.tokens import PUNCTUATION
from gpt_sovits.text.zh.numbers import num2str, signed_num2str, verbalize_cardinal, verbalize_digits
from gpt_sovits.text.zh.tables import (
    CIRCLED,
    CURRENCIES,
    DELETED,
    FULL_TO_HALF,
    GREEK,
    MEASURE_WORDS,
    PUNCT_MAP,
    UNITS,
)

_NUM = r"\d+(?:\.\d+)?"
_RE_DATE = re.compile(r"(\d{4}|\d{2})年(?:(0?[1-9]|1[0-2])月)?(?:(0?[1-9]|[12]\d|3[01])([日号]))?")
_RE_MONTH_DAY = re.compile(r"(?<![\d.])(0?[1-9]|1[0-2])月(?:(0?[1-9]|[12]\d|3[01])([日号]))?")
_RE_DATE2 = re.compile(r"(?<![\d.])(\d{4})([-/.])(0?[1-9]|1[0-2])\2(0?[1-9]|[12]\d|3[01])(?!\d)")
_TIME = r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?"
_RE_TIME_RANGE = re.compile(rf"(?<!\d){_TIME}\s*[-~～]\s*{_TIME}(?!\d)")
_RE_TIME = re.compile(rf"(?<!\d){_TIME}(?!\d)")
_RE_MOBILE = re.compile(r"(?<![\d+])(?:\+?(86)[ -]?)?(1[3-9]\d{9})(?!\d)")
_RE_LANDLINE = re.compile(r"(?<!\d)(0(?:10|2\d|[3-9]\d{2}))-?([1-9]\d{6,7})(?!\d)")
_RE_SERVICE = re.compile(r"(?<!\d)(400)-?(\d{3})-?(\d{4})(?!\d)")
_RE_RANGE = re.compile(rf"(?<![\d.])({_NUM})([%°℃a-zA-Z²³]*)\s*[-~～]\s*(?=-?\d)")
_RE_MATH = re.compile(rf"(-?{_NUM})\s*([+\-×÷*=])\s*(-?{_NUM})")
_RE_TEMPERATURE = re.compile(rf"(?<![\d.])(-?)({_NUM})\s*(°C|℃|°F|℉|摄氏度|华氏度|度|°)")
_RE_PERCENT = re.compile(rf"(?<![\d.])(-?)({_NUM})\s*%")
_RE_FRACTION = re.compile(r"(?<![\d.])(-?)(\d+)/(\d+)(?!\d)")
_RE_CURRENCY = re.compile(rf"([{''.join(CURRENCIES)}])\s*(-?)({_NUM})")
_RE_UNIT = re.compile(
    rf"({_NUM})\s*({'|'.join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))})(?![A-Za-z])"
)
_RE_VERSION = re.compile(r"(?<![\d.])\d+(?:\.\d+){2,}")
_RE_QUANTIFIER = re.compile(rf"(?<![\d.第])(\d+)([多余几+])?(?={'|'.join(MEASURE_WORDS)})")
_RE_NEGATIVE = re.compile(rf"(?<![\d.])-({_NUM})")
_RE_NUMBER = re.compile(rf"{_NUM}|\.\d+")
_MATH_WORDS = {"+": "加", "-": "减", "×": "乘", "*": "乘", "÷": "除", "=": "等于"}
_RE_PUNCT_MAP = re.compile("|".join(re.escape(p) for p in sorted(PUNCT_MAP, key=len, reverse=True)))
_RE_NOT_KEPT = re.compile("[^\u4e00-\u9fa5" + re.escape("".join(PUNCTUATION)) + "]+")
_RE_REPEATED_PUNCT = re.compile(
    "([" + re.escape("".join(PUNCTUATION)) + "])[" + re.escape("".join(PUNCTUATION)) + "]+"
)


def _date(m: re.Match[str]) -> str:
    # Years are read digit by digit (二零二四年), months and days as cardinals.
    year, month, day, day_word = m.groups()
    text = verbalize_digits(year) + "年"
    if month:
        text += verbalize_cardinal(month) + "月"
    if day:
        text += verbalize_cardinal(day) + day_word
    return text


def _month_day(m: re.Match[str]) -> str:
    month, day, day_word = m.groups()
    return verbalize_cardinal(month) + "月" + (verbalize_cardinal(day) + day_word if day else "")


def _date2(m: re.Match[str]) -> str:
    year, _, month, day = m.groups()
    return f"{verbalize_digits(year)}年{verbalize_cardinal(month)}月{verbalize_cardinal(day)}日"


def _clock(hour: str, minute: str, second: str | None) -> str:
    # 12:30 -> 十二点半; minutes/seconds below ten keep their zero (08:05 -> 八点零五分).
    text = num2str(hour) + "点"
    if int(minute) == 30 and not (second and int(second)):
        return text + "半"
    if int(minute):
        text += ("零" if minute.startswith("0") else "") + num2str(minute.lstrip("0")) + "分"
    if second and int(second):
        text += ("零" if second.startswith("0") else "") + num2str(second.lstrip("0")) + "秒"
    return text


def _time_range(m: re.Match[str]) -> str:
    g = m.groups()
    return _clock(*g[:3]) + "至" + _clock(*g[3:])


def _mobile(m: re.Match[str]) -> str:
    country, number = m.groups()
    prefix = verbalize_digits(country) + "," if country else ""
    return prefix + verbalize_digits(number, alt_one=True)


def _digit_groups(m: re.Match[str]) -> str:
    # Landline / service numbers: digit by digit with 幺, a pause between groups (as upstream).
    return ",".join(verbalize_digits(g, alt_one=True) for g in m.groups())


def _range(m: re.Match[str]) -> str:
    text, start = m.string, m.start()
    # An operator or "=" around the pair means arithmetic (5-3=2), which the math rule reads.
    before = text[:start].rstrip()
    after_num = re.match(rf"\s*-?{_NUM}\s*([=+×÷*])?", text[m.end() :])
    if (before and before[-1] in "=+×÷*-") or (after_num and after_num.group(1)):
        return m.group(0)
    return m.group(1) + m.group(2) + "到"


def _math(m: re.Match[str]) -> str:
    left, op, right = m.groups()
    return f"{left}{_MATH_WORDS[op]}{right}"


def _temperature(m: re.Match[str]) -> str:
    sign, number, unit = m.groups()
    word = {"°C": "摄氏度", "℃": "摄氏度", "摄氏度": "摄氏度", "°F": "华氏度", "℉": "华氏度"}.get(unit, unit)
    word = "度" if word == "°" else word
    return ("零下" if sign else "") + num2str(number) + word


def _currency(m: re.Match[str]) -> str:
    sign, number, amount = CURRENCIES[m.group(1)], m.group(2), m.group(3)
    if "." in amount:
        # Prices drop trailing zeros: ¥12.50 -> 十二点五元, ¥3.00 -> 三元.
        amount = amount.rstrip("0").rstrip(".")
    return f"{number}{amount}{sign}"


def _integer(digits: str) -> str:
    # Codes with a leading zero and very long digit strings are not quantities: read them digit by digit.
    if (len(digits) > 1 and digits.startswith("0")) or len(digits) > 12:
        return verbalize_digits(digits)
    return verbalize_cardinal(digits)


def _number(m: re.Match[str]) -> str:
    text = m.group(0)
    if text.startswith("."):
        return num2str("0" + text)
    integer, _, decimal = text.partition(".")
    return _integer(integer) + ("点" + num2str("0." + decimal)[2:] if decimal else "")


def _quantifier(m: re.Match[str]) -> str:
    digits, approx = m.groups()
    number = "两" if digits == "2" else _integer(digits)
    return number + ("多" if approx == "+" else approx or "")


def _verbalize_numbers(text: str) -> str:
    text = re.sub(r"(?<=\d)：(?=\d)", ":", text)
    # Thousands separators: 1,234,567 -> 1234567.
    text = re.sub(r"(?<![\d,.])\d{1,3}(?:,\d{3})+(?![\d,])", lambda m: m.group(0).replace(",", ""), text)
    text = _RE_DATE.sub(_date, text)
    text = _RE_DATE2.sub(_date2, text)
    text = _RE_MONTH_DAY.sub(_month_day, text)
    text = _RE_TIME_RANGE.sub(_time_range, text)
    text = _RE_TIME.sub(lambda m: _clock(*m.groups()), text)
    text = _RE_MOBILE.sub(_mobile, text)
    text = _RE_LANDLINE.sub(_digit_groups, text)
    text = _RE_SERVICE.sub(_digit_groups, text)
    text = _RE_RANGE.sub(_range, text)
    text = _RE_TEMPERATURE.sub(_temperature, text)
    text = _RE_CURRENCY.sub(_currency, text)
    text = _RE_UNIT.sub(lambda m: m.group(1) + UNITS[m.group(2)], text)
    while _RE_MATH.search(text):
        text = _RE_MATH.sub(_math, text)
    text = _RE_FRACTION.sub(
        lambda m: ("负" if m.group(1) else "") + f"{_integer(m.group(3))}分之{_integer(m.group(2))}", text
    )
    text = _RE_PERCENT.sub(lambda m: ("负" if m.group(1) else "") + "百分之" + num2str(m.group(2)), text)
    text = _RE_VERSION.sub(lambda m: "点".join(verbalize_digits(p) for p in m.group(0).split(".")), text)
    text = _RE_NEGATIVE.sub(
        lambda m: signed_num2str("-", m.group(1)) if "." in m.group(1) else "负" + _integer(m.group(1)), text
    )
    text = _RE_QUANTIFIER.sub(_quantifier, text)
    return _RE_NUMBER.sub(_number, text)


def _symbols(text: str) -> str:
    text = text.translate(FULL_TO_HALF)
    for table in (CIRCLED, GREEK):
        for key, value in table.items():
            text = text.replace(key, value)
    # Upstream maps these interjections to characters its lexicon reads well.
    return text.replace("嗯", "恩").replace("呣", "母")


def normalize(text: str) -> str:
    """Normalise Chinese text for G2P.

    The result holds only Chinese characters (U+4E00-U+9FA5) and the marks ``, . ! ? … -``: numbers,
    dates, times, ranges, percentages, fractions, money, temperatures, phone numbers and units are
    spelt out, Chinese and full-width punctuation is mapped onto those marks, brackets and quotes are
    deleted, everything else (Latin letters, emoji, symbols) is dropped and runs of punctuation collapse
    to their first mark, as upstream GPT-SoVITS does.
    """
    text = _symbols(text)
    text = _verbalize_numbers(text)
    text = "".join(ch for ch in text if ch not in DELETED)
    text = text.replace("+", "加").replace("×", "乘").replace("÷", "除").replace("=", "等于")
    text = _RE_PUNCT_MAP.sub(lambda m: PUNCT_MAP[m.group(0)], text)
    text = _RE_NOT_KEPT.sub("", text)
    return _RE_REPEATED_PUNCT.sub(r"\1", text)
