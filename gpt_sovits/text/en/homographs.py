"""Homographs (read, record, present, live, lead, ...) resolved from the neighbouring words.

Upstream GPT-SoVITS reads g2p-en's ``homographs.en`` table (word | pron1 | pron2 | POS: pron1 when the
NLTK perceptron tagger gives that POS, else pron2) with two overrides ("read": present tense R IY1 D,
"complex": adjective K AH0 M P L EH1 K S). The tagger's data cannot be downloaded offline, so this module
guesses a coarse tag from the words around the homograph instead:

* after "to", a modal or do-support ("will", "can't", "please", "let's") -> base verb;
* after have/has/had -> past participle; after be/is/was -> participle for "read", adjective otherwise;
* after a determiner, possessive or preposition ("the", "my", "John's", "of") -> noun;
* after a subject pronoun ("I", "they", "she") -> verb;
* followed by an object ("the", "it", "them", ...) or "to" -> verb, also at the start of a sentence;
* otherwise noun.

"read" is past (R EH1 D) after have/be, after he/she/it, or with a past-time word later in the sentence
("yesterday", "ago", "last"), present otherwise. Additions to upstream's table: "lead" (L EH1 D only in
metal contexts such as "made of lead", "lead pipes"; otherwise L IY1 D), "live" (L AY1 V as adjective),
"wind" (W AY1 N D as verb), "tear"/"tears" (T IH1 R as noun), "used to" (Y UW1 S T), and corrections of
entries whose two readings are swapped in ``homographs.en`` (object, objects, rebel).
"""

from __future__ import annotations

from functools import cache

from gpt_sovits.text.en import neural

Pron = tuple[str, ...]

_TO_MODAL = frozenset(
    "to will would shall should can could may might must do does did don't doesn't didn't won't "
    "wouldn't can't cannot couldn't shouldn't mustn't please let's let i'll you'll we'll they'll "
    "he'll she'll it'll i'd you'd we'd they'd".split()
)
_HAVE = frozenset("have has had having i've you've we've they've".split())
_BE = frozenset("am is are was were be been being i'm you're we're they're he's she's it's that's".split())
_DETERMINERS = frozenset(
    "a an the this that these those my your his her its our their some any no every each another "
    "of in on at for with from by about into onto over under without per".split()
)
_SUBJECTS = frozenset("i you we they he she it who people".split())
_OBJECT_STARTS = frozenset(
    "the a an my your his her its our their this that these those it them him me us".split()
)
_ADVERBS = frozenset("not never also just always often really already then still even only usually".split())
_PAST_CUES = frozenset("yesterday ago last earlier previously once".split())
_ADJECTIVE_BEFORE_TO = frozenset(
    "close closer content present separate absent perfect appropriate live".split()
)
_METAL_NEXT = frozenset(
    "poisoning pipe pipes paint pencil pencils bullet bullets weight weights balloon shot ore mine "
    "mines sheet sheets oxide acetate exposure contamination levels crystal".split()
)

# Additions and corrections: word -> (pron1, pron2, POS of pron1).
_EXTRA: dict[str, tuple[str, str, str]] = {
    "read": ("R IY1 D", "R EH1 D", "VBP"),
    "complex": ("K AH0 M P L EH1 K S", "K AA1 M P L EH0 K S", "JJ"),
    "object": ("AH0 B JH EH1 K T", "AA1 B JH EH0 K T", "V"),
    "objects": ("AH0 B JH EH1 K T S", "AA1 B JH EH0 K T S", "V"),
    "rebel": ("R IH0 B EH1 L", "R EH1 B AH0 L", "V"),
    "lead": ("L IY1 D", "L EH1 D", "V"),
    "live": ("L IH1 V", "L AY1 V", "V"),
    "wind": ("W AY1 N D", "W IH1 N D", "V"),
    "tear": ("T EH1 R", "T IH1 R", "V"),
    "tears": ("T EH1 R Z", "T IH1 R Z", "V"),
}


@cache
def table() -> dict[str, tuple[Pron, Pron, str]]:
    """Lower-case homograph -> (pron1, pron2, POS of pron1), from g2p-en plus the additions above."""
    entries: dict[str, tuple[Pron, Pron, str]] = {}
    text = (neural.package_dir() / "homographs.en").read_text("utf-8")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        head, pron1, pron2, pos = line.strip().split("|")
        entries[head.lower()] = (tuple(pron1.split()), tuple(pron2.split()), pos)
    for head, (pron1, pron2, pos) in _EXTRA.items():
        entries[head] = (tuple(pron1.split()), tuple(pron2.split()), pos)
    return entries


def _context(words: list[str | None], i: int) -> tuple[str | None, str | None, str | None]:
    """Previous word (skipping adverbs), the one before it, and the next word; None at a boundary."""
    j = i - 1
    while j >= 0 and words[j] in _ADVERBS:
        j -= 1
    prev = words[j] if j >= 0 else None
    prev2 = words[j - 1] if j >= 1 and prev is not None else None
    nxt = words[i + 1] if i + 1 < len(words) else None
    return prev, prev2, nxt


def guess_tag(words: list[str | None], i: int) -> str:
    """A coarse Penn-style tag for ``words[i]``: "VB", "VBN", "JJ" or "NN".

    ``words`` are lower-case words of one clause run, with None for punctuation (a boundary).
    """
    prev, _, nxt = _context(words, i)
    word = words[i]
    if prev in _TO_MODAL:
        return "VB"
    if prev in _HAVE:
        return "VBN"
    if prev in _BE:
        return "JJ"
    if prev in _DETERMINERS or (prev is not None and prev.endswith("'s")):
        return "NN"
    if prev in _SUBJECTS:
        return "VB"
    if nxt == "to":
        return "JJ" if word in _ADJECTIVE_BEFORE_TO else "VB"
    if nxt in _OBJECT_STARTS:
        return "VB"
    return "NN"


def _read(words: list[str | None], i: int) -> Pron:
    prev, prev2, _ = _context(words, i)
    present, past = ("R", "IY1", "D"), ("R", "EH1", "D")
    if prev in _HAVE or prev in _BE or (prev in _SUBJECTS and prev2 in _HAVE):
        return past
    if prev in _TO_MODAL or (prev in _SUBJECTS and prev2 in _TO_MODAL):
        return present
    later = words[i + 1 :]
    end = later.index(None) if None in later else len(later)
    if any(w in _PAST_CUES for w in later[:end]) or prev in ("he", "she", "it"):
        return past
    return present


def _special(words: list[str | None], i: int) -> Pron | None:
    """Words whose reading depends on a fixed phrase rather than on the tag alone."""
    word = words[i]
    prev, prev2, nxt = _context(words, i)
    if word == "read":
        return _read(words, i)
    if word == "used":
        return ("Y", "UW1", "S", "T") if nxt == "to" else ("Y", "UW1", "Z", "D")
    if word == "lead":
        metal = nxt in _METAL_NEXT or (prev in ("of", "with", "as") and nxt is None)
        return ("L", "EH1", "D") if metal else ("L", "IY1", "D")
    if word in ("tear", "tears") and prev == "and" and prev2 == "wear":
        return table()[word][0]
    if word in ("tear", "tears", "wind") and nxt in ("up", "down", "apart", "off", "open", "into"):
        return table()[word][0]
    if word == "close" and prev in _DETERMINERS and nxt == "of":  # "the close of trading"
        return table()[word][0]
    return None


def pronounce(words: list[str | None], i: int) -> Pron:
    """The pronunciation of the homograph ``words[i]`` in context (see the module docstring)."""
    special = _special(words, i)
    if special is not None:
        return special
    pron1, pron2, pos = table()[words[i] or ""]
    tag = guess_tag(words, i)
    if pos == "JJ":  # "complex": an adjective before a word or after "is"
        _, _, nxt = _context(words, i)
        adjective = tag == "JJ" or (nxt is not None and nxt not in ("of", "is", "was"))
        return pron1 if adjective else pron2
    if pos == "N":
        return pron1 if tag == "NN" else pron2
    if pos == "ADJ":  # upstream compared NLTK tags against "ADJ", which never matches
        return pron2
    return pron1 if tag.startswith("V") else pron2
