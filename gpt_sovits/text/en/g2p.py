"""English grapheme-to-phoneme conversion, after upstream GPT-SoVITS ``english.en_G2p``.

For each word of the normalised text (tokenised like NLTK's TweetTokenizer: letters with inner
apostrophes/hyphens stay one word, every mark is its own token), in upstream's order:

1. a single letter: "A" -> EY1, anything else its lexicon entry (so lower-case "a" -> AH0);
2. a homograph: resolved from context (:mod:`homographs`);
3. the CMU lexicon (lower-cased);
4. a word of at most three letters is spelled letter by letter ("a" -> EY1);
5. a possessive "x's" is x plus S after a voiceless consonant, AH0 Z after a sibilant, Z otherwise;
6. a compound is split (wordsegment) and each part looked up;
7. the g2p-en neural model.

Phones outside the v2 inventory are dropped (the neural model's stressless "UW" among them) and "'"
becomes "-", as upstream does. Deviations: a hyphenated word is split at its hyphens before step 6, and a
compound split is accepted only when every part is a
lexicon word of two letters or more (upstream also accepted fragments such as "bl" + "or" + "p" for
"blorp", spelling them out); otherwise the neural model reads the whole word.
"""

from __future__ import annotations

import logging
import re
from functools import cache, lru_cache

from gpt_sovits.errors import TextError
from gpt_sovits.text.en import homographs, lexicon, neural
from gpt_sovits.text.symbols import symbols
from gpt_sovits.text.tokens import PUNCTUATION, Token

logger = logging.getLogger(__name__)

Pron = tuple[str, ...]

_TOKEN_RE = re.compile(r"[A-Za-z](?:[A-Za-z'\-]*[A-Za-z])?|\.(?:\s*\.)+|\S")
_WORD_RE = re.compile(r"[A-Za-z](?:[A-Za-z'\-]*[A-Za-z])?")
_POSSESSIVE_RE = re.compile(r"^([a-z]+)'s$")
_VOICELESS = frozenset(("P", "T", "K", "F", "TH", "HH"))
_SIBILANTS = frozenset(("S", "Z", "SH", "ZH", "CH", "JH"))
# Upstream's English phone set (ARPAbet with stress digits, plus the stressless ER and IH it lets through).
_ARPABET = frozenset(
    "AA0 AA1 AA2 AE0 AE1 AE2 AH0 AH1 AH2 AO0 AO1 AO2 AW0 AW1 AW2 AY0 AY1 AY2 B CH D DH EH0 EH1 EH2 ER "
    "ER0 ER1 ER2 EY0 EY1 EY2 F G HH IH IH0 IH1 IH2 IY0 IY1 IY2 JH K L M N NG OW0 OW1 OW2 OY0 OY1 OY2 P "
    "R S SH T TH UH0 UH1 UH2 UW0 UW1 UW2 V W Y Z ZH".split()
)


@cache
def _inventory() -> frozenset[str]:
    return frozenset(symbols("v2"))


def _clean(phones: Pron) -> Pron:
    """Keep inventory phones; "'" -> "-" and "<unk>" -> "UNK" as upstream; drop the rest."""
    inventory = _inventory()
    out = []
    for phone in phones:
        phone = {"'": "-", "<unk>": "UNK"}.get(phone, phone)
        if phone in inventory:
            out.append(phone)
        else:
            logger.debug("Dropping phone %r, which is not in the v2 inventory", phone)
    return tuple(out)


def _spell(word: str) -> Pron:
    """Letter by letter, with "a" as EY1; a mark inside the word stands for itself."""
    cmu = lexicon.cmu()
    out: list[str] = []
    for char in word:
        if char == "a":
            out.append("EY1")
        elif char.isalpha():
            out.extend(cmu[char])
        else:
            out.append(char)
    return tuple(out)


def _segments(word: str) -> list[str] | None:
    """A split of ``word`` into two or more lexicon words, or None."""
    segment = lexicon.segmenter()
    if segment is None:
        return None
    parts = segment(word)
    cmu = lexicon.cmu()
    if len(parts) > 1 and all(len(p) > 1 and p in cmu for p in parts):
        return parts
    return None


@lru_cache(maxsize=65536)
def _query(o_word: str) -> tuple[Pron, bool]:
    """Upstream's ``qryword``: (phones, whether the neural model was needed) for one word."""
    word = o_word.lower()
    cmu = lexicon.cmu()
    if len(word) > 1 and word in cmu:
        return cmu[word], False
    if len(word) <= 3:
        return _spell(word), False
    if m := _POSSESSIVE_RE.match(word):
        stem, used_neural = _query(m.group(1))
        last = stem[-1] if stem else ""
        suffix = ("S",) if last in _VOICELESS else ("AH0", "Z") if last in _SIBILANTS else ("Z",)
        return stem + suffix, used_neural
    parts = [p for p in word.split("-") if p] if "-" in word else _segments(word)
    if parts:
        results = [_query(p) for p in parts]
        return tuple(ph for phones, _ in results for ph in phones), any(n for _, n in results)
    return neural.predict(word), True


def _pronounce(o_word: str, words: list[str | None], i: int) -> tuple[Pron, str]:
    """(phones, source) for the word at ``words[i]`` (``o_word`` is its original spelling)."""
    word = o_word.lower()
    if len(word) == 1:
        return (("EY1",) if o_word == "A" else lexicon.cmu()[word]), "g2p"
    if word in homographs.table():
        return homographs.pronounce(words, i), "g2p:homograph"
    phones, used_neural = _query(o_word)
    return phones, "g2p:neural" if used_neural else "g2p"


def g2p(text: str) -> list[Token]:
    """Convert normalised English ``text`` into one :class:`Token` per word or punctuation mark.

    Words get ARPAbet phones (source "g2p", "g2p:homograph" or "g2p:neural"); the marks
    ``, . ! ? … -`` become punctuation tokens and a stray apostrophe becomes "-" as upstream. Characters
    that are neither (digits, symbols: call :func:`normalize` first) are dropped with a warning.
    """
    pieces = _TOKEN_RE.findall(text)
    # Context for the homograph rules: lower-case words, None at every punctuation boundary.
    words: list[str | None] = [p.lower() if _WORD_RE.fullmatch(p) else None for p in pieces]
    tokens: list[Token] = []
    dropped: list[str] = []
    for i, piece in enumerate(pieces):
        if words[i] is not None:
            phones, source = _pronounce(piece, words, i)
            tokens.append(Token(piece, _clean(phones), "en", source))
        elif piece.startswith(".") and len(piece) > 1:  # "..." reads as one full stop
            tokens.append(Token(piece, (".",), "en", "punct"))
        elif piece in PUNCTUATION:
            tokens.append(Token(piece, (piece,), "en", "punct"))
        elif piece == "'":
            tokens.append(Token(piece, ("-",), "en", "punct"))
        else:
            dropped.append(piece)
    if dropped:
        logger.warning(
            "English G2P dropped characters it cannot read: %r (normalise first)", "".join(dropped)
        )
    return tokens


def word_phones(word: str) -> Pron:
    """The phones of one English word without context (lexicon, names, compounds, neural model).

    Homographs get their lexicon reading (e.g. "read" -> R EH1 D). Raises :class:`TextError` for an
    empty string or anything that is not a single word.
    """
    word = word.strip()
    if not _WORD_RE.fullmatch(word):
        raise TextError(f"Expected a single English word (letters, ' or -), got {word!r}.")
    if len(word) == 1:
        return _clean(("EY1",) if word == "A" else lexicon.cmu()[word.lower()])
    return _clean(_query(word)[0])


def parse_arpabet(spec: str) -> Pron:
    """Parse space-separated ARPAbet such as ``"R EH1 D"`` into phones of the v2 inventory.

    English phones are matched case-insensitively; any other v2 symbol (punctuation, SP) must match
    exactly. An unknown phone raises :class:`TextError` naming it and its 0-based position.
    """
    parts = spec.split()
    if not parts:
        raise TextError("Empty ARPAbet pronunciation; write phones such as 'R EH1 D'.")
    inventory = _inventory()
    out = []
    for pos, part in enumerate(parts):
        if part.upper() in _ARPABET:
            out.append(part.upper())
        elif part in inventory:
            out.append(part)
        else:
            hint = " (vowels need a stress digit 0, 1 or 2)" if f"{part.upper()}1" in _ARPABET else ""
            raise TextError(f"Unknown phone {part!r} at position {pos} in ARPAbet {spec!r}{hint}.")
    return tuple(out)
