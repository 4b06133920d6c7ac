"""Spell out numbers, money, times and measurements in English text (part of :func:`normalize`).

The readings follow upstream GPT-SoVITS ``en_normalization/expend.py`` (built on ``inflect``): a bare
integer between 1001 and 2999 is read like a year ("1999" -> "nineteen ninety-nine", "2005" -> "two
thousand five"), other integers as cardinals without "and", decimals digit by digit after "point",
"$3.50" -> "3 dollars and 50 cents". Deliberate fixes of upstream slips are marked "Deviation".
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

_SCALES = "thousand|million|billion|trillion"
_GROUPED = r"\d{1,3}(?:,\d{3})+"

# Currency symbol -> (unit singular, unit plural, sub-unit singular, sub-unit plural).
_CURRENCIES: dict[str, tuple[str, str, str, str]] = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
}

# Upstream's unit suffixes (number directly followed by the unit, no space).
_MEASUREMENTS: dict[str, tuple[str, str]] = {
    "m": ("meter", "meters"),
    "km": ("kilometer", "kilometers"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "ft": ("feet", "feet"),
    "L": ("liter", "liters"),
    "tbsp": ("tablespoon", "tablespoons"),
    "tsp": ("teaspoon", "teaspoons"),
    "h": ("hour", "hours"),
    "min": ("minute", "minutes"),
    "s": ("second", "seconds"),
    "°C": ("degree celsius", "degrees celsius"),
    "°F": ("degree fahrenheit", "degrees fahrenheit"),
}

_TIME_RE = re.compile(
    r"\b([01]?\d|2[0-3]):([0-5]\d)\b(?:\s*([AaPp])\.?\s?[Mm]\b\.?)?",
)
_HOUR_AMPM_RE = re.compile(r"\b(1[0-2]|0?[1-9])\s*([AaPp])\.?\s?[Mm]\b\.?")
_MATH_RE = re.compile(
    r"(\d+(?:\.\d+)?|\b[A-Za-z]\b)\s+([+×÷=-])\s+(-?\d+(?:\.\d+)?|\b[A-Za-z]\b)",
)
_NEGATIVE_RE = re.compile(r"(^|\s)[-−](\d)")
_CURRENCY_PREFIX_RE = re.compile(
    rf"([$£€])\s?({_GROUPED}|\d+)(?:\.(\d+))?(?:\s+({_SCALES})\b)?",
)
_CURRENCY_SUFFIX_RE = re.compile(rf"\b({_GROUPED}|\d+)(?:\.(\d+))?\s?([$£€])")
_GROUPED_RE = re.compile(rf"\b({_GROUPED})(?:\.(\d+))?\b")
_DECADE_RE = re.compile(r"\b((?:1\d|20)\d0)s\b|'(\d0)s\b|\b(?<=[Tt]he )([2-9]0)s\b")
_MEASUREMENT_RE = re.compile(r"\b(\d+(?:\.\d+)?)(km/h|km|m|ft|L|tbsp|tsp|h|min|s|°C|°F)(?![\w°])")
_PERCENT_RE = re.compile(r"\s?%")
_DECIMAL_RE = re.compile(r"\b(\d+)\.(\d+)\b")
_LEADING_POINT_RE = re.compile(r"(^|\s)\.(\d+)\b")
_FRACTION_RE = re.compile(r"\b(\d+)/(\d+)\b")
_ORDINAL_RE = re.compile(r"\b\d+(?:st|nd|rd|th)\b")
_NUMBER_RE = re.compile(r"\d+")


@cache
def _inflect() -> Any:
    """The shared ``inflect`` engine, created on first use (its import is slow)."""
    import inflect

    return inflect.engine()


def cardinal(num: int) -> str:
    """``num`` as cardinal words without "and", as upstream reads numbers outside 1001..2999."""
    return _inflect().number_to_words(num, andword="")


def spell_number(num: int) -> str:
    """Upstream's reading of a bare integer: 1001..2999 like a year, everything else as a cardinal."""
    if 1000 < num < 3000:
        if num == 2000:
            return "two thousand"
        if 2000 < num < 2010:
            return "two thousand " + cardinal(num % 100)
        if num % 100 == 0:
            return cardinal(num // 100) + " hundred"
        return _inflect().number_to_words(num, andword="", zero="oh", group=2).replace(", ", " ")
    return cardinal(num)


def _digits(fraction: str) -> str:
    return " ".join(cardinal(int(d)) for d in fraction)


def expand_times(text: str) -> str:
    """Clock times: "3:30 pm" -> "three thirty P M", "15:00" -> "three o'clock P M".

    Deviation: upstream turned ":" into "," before its time rule could see it, so "3:30" became
    "three hundred thirty"; here a 24-hour time gets "P M" after noon and an explicit am/pm is kept.
    The period letters are written as capitals so the G2P spells them.
    """

    def time(m: re.Match[str]) -> str:
        hours, minutes, marker = int(m.group(1)), int(m.group(2)), m.group(3)
        period = f" {marker.upper()} M" if marker else ""
        if not marker and hours > 12:
            hours, period = hours - 12, " P M"
        elif not marker and hours == 0:
            hours, period = 12, " A M"
        if minutes == 0:
            spoken = "o'clock"
        elif minutes < 10:
            spoken = "oh " + cardinal(minutes)
        else:
            spoken = cardinal(minutes)
        return f"{cardinal(hours)} {spoken}{period}" + kept_period(m)

    def hour(m: re.Match[str]) -> str:
        return f"{cardinal(int(m.group(1)))} {m.group(2).upper()} M" + kept_period(m)

    return _HOUR_AMPM_RE.sub(hour, _TIME_RE.sub(time, text))


def kept_period(m: re.Match[str]) -> str:
    """Give back a sentence-final period that an abbreviation's own dot swallowed."""
    if not m.group(0).endswith("."):
        return ""
    rest = m.string[m.end() :]
    return "." if not rest.strip() or re.match(r"\s+[A-Z]", rest) else ""


def expand_math(text: str) -> str:
    """``1 + 2 = 3`` -> "1 plus 2 equals 3". Operators need spaces on both sides, as upstream.

    Deviation: "-" becomes "minus" only between numbers; upstream also matched single letters inside
    words, so "well - known" read "well minus known".
    """
    names = {"+": "plus", "×": "times", "÷": "divided by", "=": "equals", "-": "minus"}

    def op(m: re.Match[str]) -> str:
        left, sign, right = m.groups()
        if sign == "-" and not (left[0].isdigit() and right.lstrip("-")[0].isdigit()):
            return m.group(0)
        return f"{left} {names[sign]} {right}"

    for _ in range(16):  # chained operations such as 1 + 2 + 3 share operands, so repeat
        new = _MATH_RE.sub(op, text)
        if new == text:
            break
        text = new
    return text


def expand_negatives(text: str) -> str:
    """ "-5" -> "negative 5" (deviation: upstream also ate the space before the sign)."""
    return _NEGATIVE_RE.sub(r"\1negative \2", text)


def _money(amount: str, fraction: str | None, symbol: str, scale: str | None) -> str:
    unit, units, sub, subs = _CURRENCIES[symbol]
    whole = int(amount.replace(",", ""))
    # Grouped amounts are read as cardinals (see expand_grouped_numbers); bare ones stay digits.
    whole_text = cardinal(whole) if "," in amount else str(whole)
    if scale:  # "$1.5 million" -> "1.5 million dollars" (upstream read "1 dollar and 50 cents million")
        number = whole_text + (f" point {_digits(fraction)}" if fraction else "")
        return f"{number} {scale} {units}"
    if fraction and len(fraction) > 2:
        return f"{whole_text} point {_digits(fraction)} {units}"
    cents = int(fraction.ljust(2, "0")) if fraction else 0
    parts = []
    if whole:
        parts.append(f"{whole_text} {unit if whole == 1 else units}")
    if cents:
        parts.append(f"{cents} {sub if cents == 1 else subs}")
    return " and ".join(parts) if parts else f"zero {units}"


def expand_currency(text: str) -> str:
    """ "$5" -> "5 dollars", "£2.50" -> "2 pounds and 50 pence", "€10", "32.3$", "$1.5 million"."""
    text = _CURRENCY_PREFIX_RE.sub(lambda m: _money(m.group(2), m.group(3), m.group(1), m.group(4)), text)
    return _CURRENCY_SUFFIX_RE.sub(lambda m: _money(m.group(1), m.group(2), m.group(3), None), text)


def expand_grouped_numbers(text: str) -> str:
    """ "1,234,567" -> cardinal words.

    Deviation: upstream only dropped the commas, so "1,234" read like a year ("twelve thirty-four") and
    "1,2,3" collapsed into "123"; a properly grouped number is a cardinal.
    """

    def grouped(m: re.Match[str]) -> str:
        words = cardinal(int(m.group(1).replace(",", "")))
        return words + (f" point {_digits(m.group(2))}" if m.group(2) else "")

    return _GROUPED_RE.sub(grouped, text)


def expand_decades(text: str) -> str:
    """ "1990s" -> "nineteen nineties", "'80s"/"the 80s" -> "eighties".

    Deviation: upstream's unit rule read "1990s" as "1990 seconds".
    """

    def decade(m: re.Match[str]) -> str:
        digits = m.group(1) or m.group(2) or m.group(3)
        words = spell_number(int(digits)).split(" ")
        words[-1] = _inflect().plural(words[-1])
        return " ".join(words)

    return _DECADE_RE.sub(decade, text)


def expand_measurements(text: str) -> str:
    """ "5km" -> "5 kilometers", "1L" -> "1 liter", "23°C" -> "23 degrees celsius" (upstream's list)."""

    def unit(m: re.Match[str]) -> str:
        singular, plural = _MEASUREMENTS[m.group(2)]
        one = m.group(1) == "1"
        return f"{m.group(1)} {singular if one else plural}"

    return _MEASUREMENT_RE.sub(unit, text)


def expand_plain_numbers(text: str) -> str:
    """Percent signs, decimals, fractions, ordinals and the remaining integers, in upstream's order."""
    text = _PERCENT_RE.sub(" percent", text)
    text = _DECIMAL_RE.sub(lambda m: f"{m.group(1)} point {_digits(m.group(2))}", text)
    text = _LEADING_POINT_RE.sub(lambda m: f"{m.group(1)}point {_digits(m.group(2))}", text)
    text = _FRACTION_RE.sub(_fraction, text)
    text = _ORDINAL_RE.sub(lambda m: _inflect().number_to_words(m.group(0)), text)
    return _NUMBER_RE.sub(lambda m: spell_number(int(m.group(0))), text)


def _fraction(m: re.Match[str]) -> str:
    """Upstream: "1/2" -> "one half", "3/2" -> "three halves", "3/4" -> "three fourths"."""
    numerator, denominator = int(m.group(1)), int(m.group(2))
    top = cardinal(numerator)
    if denominator == 0:
        return f"{top} over zero"
    if denominator == 1:
        return top
    if denominator == 2:
        return f"{top} {'half' if numerator == 1 else 'halves'}"
    bottom = _inflect().ordinal(cardinal(denominator))
    return f"{top} {bottom}{'s' if numerator > 1 else ''}"


def ordinal_words(num: int) -> str:
    """``num`` as ordinal words ("first", "twenty-second")."""
    return _inflect().ordinal(cardinal(num))
