"""Reading Arabic numerals in Chinese, with the conventions of upstream GPT-SoVITS's zh_normalization.

* cardinals: 10 -> 十, 110 -> 一百一十, 1001 -> 一千零一, 20000 -> 二万 (upstream does not use 两 inside
  numbers; 两 is only used for a bare 2 before a measure word, see :mod:`normalize`);
* decimals are read digit by digit; trailing zeros collapse to one zero as upstream does
  (3.20 -> 三点二零, 3.0 -> 三点零);
* digit strings (years, phone numbers) are read digit by digit, optionally with 一 as 幺.
"""

from __future__ import annotations

DIGITS = "零一二三四五六七八九"
# Place values used when grouping digits: the largest unit smaller than the number's length is chosen.
_UNITS = ((8, "亿"), (4, "万"), (3, "千"), (2, "百"), (1, "十"))


def verbalize_digits(digits: str, alt_one: bool = False) -> str:
    """Read a digit string one digit at a time; ``alt_one`` reads 1 as 幺 (phone numbers)."""
    text = "".join(DIGITS[int(d)] for d in digits)
    return text.replace("一", "幺") if alt_one else text


def _cardinal_parts(digits: str, use_zero: bool = True) -> list[str]:
    """Recursive grouping: split off the largest unit and read both halves (零 fills gaps)."""
    stripped = digits.lstrip("0")
    if not stripped:
        return []
    if len(stripped) == 1:
        if use_zero and len(stripped) < len(digits):
            return ["零", DIGITS[int(stripped)]]
        return [DIGITS[int(stripped)]]
    power, unit = next((p, u) for p, u in _UNITS if p < len(stripped))
    head, tail = digits[:-power], digits[-power:]
    return _cardinal_parts(head) + [unit] + _cardinal_parts(tail)


def verbalize_cardinal(digits: str) -> str:
    """Read an integer digit string as a cardinal: ``"1024"`` -> 一千零二十四, ``"0"`` -> 零."""
    if not digits:
        return ""
    digits = digits.lstrip("0")
    if not digits:
        return "零"
    parts = _cardinal_parts(digits)
    # 一十二 is said 十二 at the start of a number.
    if len(parts) >= 2 and parts[0] == "一" and parts[1] == "十":
        parts = parts[1:]
    return "".join(parts)


def num2str(number: str) -> str:
    """Read ``"12"``, ``"3.14"`` or ``".5"`` (no sign) in Chinese."""
    integer, _, decimal = number.partition(".")
    result = verbalize_cardinal(integer)
    # Upstream keeps exactly one trailing zero when the decimal part ends in zeros.
    decimal = decimal.rstrip("0") + "0" if decimal.endswith("0") else decimal
    if decimal:
        result = (result or "零") + "点" + verbalize_digits(decimal)
    return result


def signed_num2str(sign: str, number: str) -> str:
    """Read a number with an optional leading ``-`` (负)."""
    return ("负" if sign else "") + num2str(number)
