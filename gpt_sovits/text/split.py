"""Long-text splitting: the six GPT-SoVITS methods and a length-bounded splitter.

Method names are the ones GPT-SoVITS users know: ``cut0`` (no split), ``cut1`` (every 4 sentences),
``cut2`` (about 50 characters), ``cut3`` (on 。), ``cut4`` (on ``.``), ``cut5`` (on every punctuation
mark), plus ``length`` (pieces of at most ``max_chars`` characters). No method splits inside a number
(3.14, 1,000, 12:30), a decimal or an inline phoneme tag (``<行|hang2>``, ``{n i3}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

SPLIT_METHODS = ("cut0", "cut1", "cut2", "cut3", "cut4", "cut5", "length")

# Marks that end a sentence for cut1/cut2 (the GPT-SoVITS set).
_SENTENCE_MARKS = frozenset("，。？！,.?!~:：—…")
_CUT5_MARKS = frozenset(",.;?!、，。？！;：…")
# Spans that must never be cut: inline tags and numbers with separators.
_PROTECTED = re.compile(r"<[^<>|]+\|[^<>]*>|\{[^{}]*\}|\d+(?:[.,:：]\d+)+")
_SILENT = frozenset("!?…,.-;:、，。？！；：…— \t\r\n\"'“”‘’()（）[]【】《》")


def _is_silent(piece: str) -> bool:
    """True for pieces with nothing to speak (only punctuation and space)."""
    return all(c in _SILENT for c in piece)


def _cut_after(text: str, marks: frozenset[str]) -> list[str]:
    """Split after every run of ``marks`` that lies outside protected spans."""
    protected = [m.span() for m in _PROTECTED.finditer(text)]
    pieces, start, i, k = [], 0, 0, 0
    while i < len(text):
        while k < len(protected) and protected[k][1] <= i:
            k += 1
        if k < len(protected) and protected[k][0] <= i < protected[k][1]:
            i = protected[k][1]
            continue
        if text[i] in marks:
            while i + 1 < len(text) and text[i + 1] in marks:
                i += 1
            pieces.append(text[start : i + 1])
            start = i + 1
        i += 1
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _clean(pieces: list[str]) -> list[str]:
    return [p.strip() for p in pieces if p.strip() and not _is_silent(p)]


def cut0(text: str) -> list[str]:
    """No split."""
    return _clean([text])


def cut1(text: str) -> list[str]:
    """Group every four sentences."""
    s = _cut_after(text.strip("\n"), _SENTENCE_MARKS)
    return _clean(["".join(s[i : i + 4]) for i in range(0, len(s), 4)])


def cut2(text: str, target: int = 50) -> list[str]:
    """Pieces of a little over ``target`` characters; a short tail joins the piece before it."""
    sentences = _cut_after(text.strip("\n"), _SENTENCE_MARKS)
    out, cur = [], ""
    for s in sentences:
        cur += s
        if len(cur) > target:
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    if len(out) > 1 and len(out[-1]) < target:
        out[-2:] = [out[-2] + out[-1]]
    return _clean(out)


def cut3(text: str) -> list[str]:
    """Split on the Chinese full stop 。."""
    return _clean(_cut_after(text.strip("\n"), frozenset("。")))


def cut4(text: str) -> list[str]:
    """Split on the full stop ``.`` (never between digits)."""
    return _clean(_cut_after(text.strip("\n"), frozenset(".")))


def cut5(text: str) -> list[str]:
    """Split on every punctuation mark."""
    return _clean(_cut_after(text.strip("\n"), _CUT5_MARKS))


def split_by_length(text: str, max_chars: int = 100) -> list[str]:
    """Pieces of at most ``max_chars`` characters, cut at sentence ends, then commas, then spaces.

    A single protected span longer than ``max_chars`` stays whole.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    out: list[str] = []
    for sentence in _cut_after(text, _SENTENCE_MARKS):
        parts = [sentence] if len(sentence) <= max_chars else _hard_split(sentence, max_chars)
        for part in parts:
            if out and len(out[-1]) + len(part) <= max_chars:
                out[-1] += part
            else:
                out.append(part)
    return _clean(out)


def _hard_split(text: str, max_chars: int) -> list[str]:
    """Cut an over-long sentence at spaces (or anywhere) outside protected spans."""
    protected = [m.span() for m in _PROTECTED.finditer(text)]

    def inside(i: int) -> bool:
        return any(a < i < b for a, b in protected)

    out, start = [], 0
    while len(text) - start > max_chars:
        limit = start + max_chars
        cut = next((i for i in range(limit, start, -1) if text[i - 1] == " " and not inside(i)), None)
        if cut is None:
            cut = next((i for i in range(limit, start, -1) if not inside(i)), None)
        if cut is None:  # a protected span longer than max_chars: keep it whole
            cut = next(b for a, b in protected if a < limit < b)
        out.append(text[start:cut])
        start = cut
    out.append(text[start:])
    return out


_METHODS: dict[str, Callable[[str], list[str]]] = {
    "cut0": cut0,
    "cut1": cut1,
    "cut2": cut2,
    "cut3": cut3,
    "cut4": cut4,
    "cut5": cut5,
    "length": split_by_length,
}


def split_text(text: str, method: str = "cut0", max_chars: int | None = None) -> list[str]:
    """Split ``text`` with one of :data:`SPLIT_METHODS`. Empty or silent pieces are dropped."""
    if method not in _METHODS:
        raise ValueError(f"Unknown split method {method!r}; choose one of {', '.join(SPLIT_METHODS)}.")
    if method == "length":
        return split_by_length(text, max_chars or 100)
    pieces = _METHODS[method](text)
    if max_chars:
        pieces = [q for p in pieces for q in split_by_length(p, max_chars)]
    return pieces
