"""English text normalisation, after upstream GPT-SoVITS ``english.text_normalize``.

Upstream maps ``; :`` to ",", straight double quotes and "’" to "'", spells numbers out (``numbers``),
strips accents, reads "%" as "percent", "e.g." / "i.e." as "for example" / "that is", deletes every
character outside ``A-Z a-z ' . , ? ! -``, splits words at inner capitals (so "NASA" -> "N A S A" and the
G2P spells acronyms letter by letter) and drops a punctuation mark that follows a space or another mark
("wait..." -> "wait.", "Hi , you" -> "Hi  you"). Case is kept because the G2P needs it ("A" alone is
"EY1", title-case words may be names).

Additions to upstream, each marked in the code: common abbreviations (Mr., Dr., St., vs., etc., No. 5),
dotted acronyms ("U.S.A." -> "U S A"), "& @ + = #" as words, "…" and dashes as pauses, line breaks as
spaces (upstream glued the words on either side together).
"""

from __future__ import annotations

import re
import unicodedata

from gpt_sovits.text.en import numbers

_WS_RE = re.compile(r"\s+")
_LIST_MARKER_RE = re.compile(r"(?m)^[ \t]*(\d+)\.[ \t]+")

# (pattern, replacement). Case-sensitive titles first; the period of an abbreviation is part of it.
_ABBREVIATIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"\bMrs\.", "Missus"),
        (r"\bMr\.", "Mister"),
        (r"\bMs\.", "Miz"),
        (r"\bDr\.", "Doctor"),
        (r"\bProf\.", "Professor"),
        (r"\bJr\.", "Junior"),
        (r"\bSr\.", "Senior"),
        (r"\bMt\.(?=\s+[A-Z])", "Mount"),
        (r"\bSt\.(?=\s+[A-Z])", "Saint"),  # "St. Louis"; otherwise "Main St." is a street
        (r"\bSt\.", "Street"),
        (r"(?i)\bvs\.?(?=\s)", "versus"),
        (r"(?i)\bapprox\.", "approximately"),
        (r"\bNo\.(?=\s*\d)", "number"),
        (r"(?i)\bno\.(?=\s*\d)", "number"),
        (r"(?i)\be\.g\.", "for example"),
        (r"(?i)\bi\.e\.", "that is"),
    )
)
# "etc." often ends a sentence with its own dot; keep one when a new sentence follows.
_ETC_RE = re.compile(r"(?i)\betc\.")
_DOTTED_ACRONYM_RE = re.compile(r"\b(?:[A-Za-z]\.){2,}")

# English counterpart of upstream's rep_map, plus marks upstream deleted silently.
_PUNCTUATION_MAP: dict[str, str] = {
    ";": ",",
    ":": ",",
    "：": ",",
    "，": ",",
    "；": ",",
    "、": ",",
    "。": ".",
    "！": "!",
    "？": "?",
    '"': "'",
    "’": "'",
    "‘": "'",
    "…": ".",  # addition: "..." already collapses to "." upstream, so the single character does too
}
_DASH_RE = re.compile(r"\s*[—–―]+\s*")  # addition: upstream deleted dashes and glued the words
_NUMBER_SIGN_RE = re.compile(r"#\s?(?=\d)")  # "#1" -> "number 1", before digits become words
_SYMBOLS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"\s*&\s*", " and "),
        (r"\s*@\s*", " at "),
        (r"\s*\+\s*", " plus "),
        (r"\s*=\s*", " equals "),
        (r"/", " "),
    )
)
_NOT_KEPT_RE = re.compile(r"[^ A-Za-z'.,?!\-]")
_INNER_CAPITAL_RE = re.compile(r"(?<!^)(?<!\s)([A-Z])")
_REPEATED_PUNCT_RE = re.compile(r"([!?…,.\-\s])([!?…,.\-])+")


def normalize(text: str) -> str:
    """Normalise English ``text`` the way upstream GPT-SoVITS does before its G2P.

    Numbers, money, times, ordinals, years, measurements and abbreviations become words; punctuation is
    mapped onto ``, . ! ? -``; whitespace is collapsed. Returns "" for blank input.
    """
    text = _LIST_MARKER_RE.sub(lambda m: numbers.ordinal_words(int(m.group(1))) + ", ", text)
    text = _WS_RE.sub(" ", text).strip()
    text = numbers.expand_times(text)
    text = _expand_abbreviations(text)
    text = numbers.expand_math(text)
    text = numbers.expand_negatives(text)
    text = numbers.expand_currency(text)
    text = numbers.expand_grouped_numbers(text)
    text = numbers.expand_decades(text)
    text = numbers.expand_measurements(text)
    text = _NUMBER_SIGN_RE.sub(" number ", text)
    text = numbers.expand_plain_numbers(text)
    for pattern, replacement in _SYMBOLS:  # after numbers, so that "3/4" is still a fraction there
        text = pattern.sub(replacement, text)
    text = _strip_accents(text)
    text = _map_punctuation(text)
    text = _NOT_KEPT_RE.sub("", text)
    text = _INNER_CAPITAL_RE.sub(r" \1", text)
    text = _REPEATED_PUNCT_RE.sub(r"\1", text)
    return _WS_RE.sub(" ", text).strip()


def _expand_abbreviations(text: str) -> str:
    """Expand titles and Latin abbreviations, keeping a sentence-final period they swallowed."""
    for pattern, replacement in _ABBREVIATIONS:
        text = pattern.sub(lambda m, r=replacement: r + _kept_period(m), text)

    text = _ETC_RE.sub(lambda m: "et cetera" + numbers.kept_period(m), text)

    def acronym(m: re.Match[str]) -> str:
        return m.group(0).replace(".", "").upper() + _kept_period(m)

    return _DOTTED_ACRONYM_RE.sub(acronym, text)


def _kept_period(m: re.Match[str]) -> str:
    # "... and so on, etc." ends the sentence with the abbreviation's own dot; keep one.
    if not m.group(0).endswith("."):
        return ""
    rest = m.string[m.end() :]
    return "." if not rest.strip() else ""


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def _map_punctuation(text: str) -> str:
    text = _DASH_RE.sub(", ", text)
    return "".join(_PUNCTUATION_MAP.get(c, c) for c in text)
