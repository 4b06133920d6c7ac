"""Word error rate with the text normalisation ASR comparisons need."""

from __future__ import annotations

import re
from collections.abc import Sequence

_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))


def int_to_words(n: int) -> str:
    """A non-negative integer as said in English ("1990" -> "one thousand nine hundred ninety")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, name in _SCALES:
        if n >= size:
            head, rest = divmod(n, size)
            return f"{int_to_words(head)} {name}" + ("" if rest == 0 else " " + int_to_words(rest))
    raise AssertionError("unreachable")


def _spell_numbers(text: str) -> str:
    """Digits -> words as said: "42" -> "forty two", "3.5" -> "three point five", "1,000" -> "one thousand"."""

    def spell(m: re.Match) -> str:
        whole, _, frac = m.group(0).replace(",", "").partition(".")
        words = int_to_words(int(whole))
        if frac:
            words += " point " + " ".join(_ONES[int(d)] for d in frac if d.isdigit())
        return f" {words} "

    return _NUMBER.sub(spell, text)


def normalize_words(text: str) -> list[str]:
    """Lower case, numbers spelt out, punctuation removed (apostrophes dropped inside words, hyphens split)."""
    text = _spell_numbers(text).lower()
    text = re.sub(r"[\u2019']", "", text)  # "don't" == "dont": both spellings of the same word
    text = re.sub(r"[^\w\s]|_", " ", text)
    return text.split()


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences (substitutions, insertions, deletions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: total word edits over total reference words, after :func:`normalize_words`."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    edits = words = 0
    for ref, hyp in zip(references, hypotheses):
        r, h = normalize_words(ref), normalize_words(hyp)
        edits += edit_distance(r, h)
        words += len(r)
    if words == 0:
        raise ValueError("the references contain no words")
    return edits / words
