"""English G2P: hand-checked phones (CMU lexicon as upstream GPT-SoVITS uses it), homographs, OOV."""

from __future__ import annotations

import importlib.util
import random

import pytest

from gpt_sovits.errors import TextError
from gpt_sovits.text.en import g2p, normalize, parse_arpabet, word_phones
from gpt_sovits.text.symbols import symbols
from gpt_sovits.text.tokens import Token

INVENTORY = frozenset(symbols("v2"))


def phones(text: str) -> list[str]:
    return [" ".join(t.phones) for t in g2p(text)]


def word_in_context(text: str, word: str, nth: int = 0) -> str:
    """The phones of the ``nth`` occurrence of ``word`` (case-insensitive) in ``text``."""
    hits = [t for t in g2p(text) if t.surface.lower() == word]
    return " ".join(hits[nth].phones)


# Common words: CMU first pronunciation with its stress digits.
WORDS = [
    ("hello", "HH AH0 L OW1"),
    ("world", "W ER1 L D"),
    ("water", "W AO1 T ER0"),
    ("computer", "K AH0 M P Y UW1 T ER0"),
    ("beautiful", "B Y UW1 T AH0 F AH0 L"),
    ("yesterday", "Y EH1 S T ER0 D EY2"),
    ("because", "B IH0 K AO1 Z"),
    ("the", "DH AH0"),
    ("an", "AE1 N"),
    # upstream's lexicon (cmudict.rep) differs from newer CMU here: AE1 D IH0 D, not AE1 D AH0 D
    ("added", "AE1 D AH0 D"),
    # upstream's hot dictionary
    ("ChatGPT", "CH AE1 T JH IY1 P IY1 T IY1"),
    ("JSON", "JH EY1 S AH0 N"),
    # contractions and possessives in the lexicon
    ("don't", "D OW1 N T"),
    ("I'm", "AY1 M"),
    ("can't", "K AE1 N T"),
    ("it's", "IH1 T S"),
    ("john's", "JH AA1 N Z"),
    # hyphenated words in the lexicon
    ("well-known", "W EH1 L N OW1 N"),
    ("x-ray", "EH1 K S R EY2"),
    # possessive rule for words missing from the lexicon: Z after a vowel/voiced, AH0 Z after a sibilant
    ("rex's", "R EH1 K S AH0 Z"),
    # short unknown words are spelled; upstream removed "ai" and "os" from its lexicon
    ("gpu", "JH IY1 P IY1 Y UW1"),
    ("ai", "EY1 AY1"),
    ("os", "OW1 EH1 S"),
    # single letters: capital "A" is the letter, lower-case "a" the article
    ("A", "EY1"),
    ("a", "AH0"),
    ("I", "AY1"),
]


@pytest.mark.parametrize(("word", "expected"), WORDS)
def test_word_phones(word: str, expected: str) -> None:
    assert " ".join(word_phones(word)) == expected
    assert phones(word) == [expected]


def test_sentence_tokens() -> None:
    tokens = g2p("Hello, world!")
    assert tokens == [
        Token("Hello", ("HH", "AH0", "L", "OW1"), "en", "g2p"),
        Token(",", (",",), "en", "punct"),
        Token("world", ("W", "ER1", "L", "D"), "en", "g2p"),
        Token("!", ("!",), "en", "punct"),
    ]


def test_acronyms_are_spelled_after_normalize() -> None:
    # upstream splits at inner capitals, so NASA and FBI are both read letter by letter
    assert phones(normalize("NASA")) == ["EH1 N", "EY1", "EH1 S", "EY1"]
    assert phones(normalize("FBI")) == ["EH1 F", "B IY1", "AY1"]
    # without normalisation the lexicon has the word "nasa"
    assert word_phones("NASA") == ("N", "AE1", "S", "AH0")


def test_hyphenated_compound_outside_lexicon() -> None:
    # "GAN-based" -> "G A N-based"; "N-based" splits at the hyphen: letter N + "based"
    assert phones(normalize("GAN-based")) == ["JH IY1", "EY1", "EH1 N B EY1 S T"]


def test_compound_split_by_wordsegment() -> None:
    pytest.importorskip("wordsegment")
    assert word_phones("smartwatch") == tuple("S M AA1 R T W AA1 CH".split())


def test_apostrophe_token_becomes_dash() -> None:
    assert phones("rock 'n' roll") == ["R AA1 K", "-", "EH1 N", "-", "R OW1 L"]


def test_ellipsis_and_dash_punctuation() -> None:
    assert phones("so... well-") == ["S OW1", ".", "W EH1 L", "-"]


HOMOGRAPHS = [
    # read: past after have / he / with "yesterday", present after will / did / to
    ("She read the book yesterday.", "read", "R EH1 D"),
    ("I will read it tomorrow.", "read", "R IY1 D"),
    ("Have you read it?", "read", "R EH1 D"),
    ("I've already read it.", "read", "R EH1 D"),
    ("Did you read it?", "read", "R IY1 D"),
    ("I like to read.", "read", "R IY1 D"),
    ("The book was read aloud.", "read", "R EH1 D"),
    # lead: the verb and the "front position" are L IY1 D, the metal L EH1 D
    ("They lead the team.", "lead", "L IY1 D"),
    ("She took the lead.", "lead", "L IY1 D"),
    ("The pipes were made of lead.", "lead", "L EH1 D"),
    ("Lead poisoning is dangerous.", "lead", "L EH1 D"),
    # live: verb L IH1 V, adjective L AY1 V
    ("We live in London.", "live", "L IH1 V"),
    ("The band played live music.", "live", "L AY1 V"),
    ("The show is live.", "live", "L AY1 V"),
    # record / present / object: verb stressed on the second syllable
    ("Record the song.", "record", "R IH0 K AO1 R D"),
    ("We broke a record.", "record", "R EH1 K ER0 D"),
    ("I record podcasts.", "record", "R IH0 K AO1 R D"),
    ("Present the award.", "present", "P R IY0 Z EH1 N T"),
    ("The present is here.", "present", "P R EH1 Z AH0 N T"),
    ("I object to that.", "object", "AH0 B JH EH1 K T"),
    ("This object is heavy.", "object", "AA1 B JH EH0 K T"),
    # wind: noun W IH1 N D, verb W AY1 N D
    ("The wind is strong.", "wind", "W IH1 N D"),
    ("Wind the clock.", "wind", "W AY1 N D"),
    # tear: teardrop T IH1 R, rip T EH1 R
    ("A tear rolled down.", "tear", "T IH1 R"),
    ("Don't tear the page.", "tear", "T EH1 R"),
    ("It is just wear and tear.", "tear", "T EH1 R"),
    # close: verb K L OW1 Z, adjective K L OW1 S
    ("Please close the door.", "close", "K L OW1 Z"),
    ("We are close to the station.", "close", "K L OW1 S"),
    ("The store will close soon.", "close", "K L OW1 Z"),
    # use / used
    ("The use of force.", "use", "Y UW1 S"),
    ("I use it daily.", "use", "Y UW1 Z"),
    ("I used to swim.", "used", "Y UW1 S T"),
    ("We used a map.", "used", "Y UW1 Z D"),
    # complex: adjective K AH0 M P L EH1 K S, noun K AA1 M P L EH0 K S (upstream override)
    ("A complex problem.", "complex", "K AH0 M P L EH1 K S"),
    ("A housing complex.", "complex", "K AA1 M P L EH0 K S"),
    # refuse: g2p-en's own example sentence
    ("I refuse to collect the refuse.", "refuse", "R IH0 F Y UW1 Z"),
]


@pytest.mark.parametrize(("text", "word", "expected"), HOMOGRAPHS)
def test_homographs(text: str, word: str, expected: str) -> None:
    assert word_in_context(text, word) == expected
    assert next(t for t in g2p(text) if t.surface.lower() == word).source == "g2p:homograph"


def test_refuse_noun_in_same_sentence() -> None:
    assert word_in_context("I refuse to collect the refuse.", "refuse", 1) == "R EH1 F Y UW2 Z"


@pytest.mark.parametrize("word", ["blorptastic", "zorbify", "flibbertigibbetish", "quizzaciously"])
def test_neural_for_unknown_words(word: str) -> None:
    (token,) = g2p(word)
    assert token.source == "g2p:neural"
    assert token.phones and all(p in INVENTORY for p in token.phones)
    # the first letter is a plain consonant, so it is the first phone
    assert token.phones[0] == {"b": "B", "z": "Z", "f": "F", "q": "K"}[word[0]]
    assert any(p[-1] in "012" for p in token.phones)  # at least one vowel


def test_neural_known_example() -> None:
    # g2p-en's README example for a coined word
    assert word_phones("activationist") == tuple("AE2 K T IH0 V EY1 SH AH0 N IH0 S T".split())


def test_parse_arpabet_valid() -> None:
    assert parse_arpabet("R EH1 D") == ("R", "EH1", "D")
    assert parse_arpabet("  hh ah0 l ow1 ") == ("HH", "AH0", "L", "OW1")
    assert parse_arpabet("Y EH1 S , N OW1") == ("Y", "EH1", "S", ",", "N", "OW1")


@pytest.mark.parametrize(
    ("spec", "bad", "position"),
    [("R EH D", "EH", 1), ("R EH1 D XX", "XX", 3), ("QQ", "QQ", 0), ("R EH4 D", "EH4", 1)],
)
def test_parse_arpabet_invalid(spec: str, bad: str, position: int) -> None:
    with pytest.raises(TextError) as info:
        parse_arpabet(spec)
    assert repr(bad) in str(info.value)
    assert f"position {position}" in str(info.value)


def test_parse_arpabet_empty() -> None:
    with pytest.raises(TextError):
        parse_arpabet("   ")


def test_word_phones_rejects_non_words() -> None:
    for bad in ("", "two words", "123"):
        with pytest.raises(TextError):
            word_phones(bad)


def test_empty_text() -> None:
    assert g2p("") == []
    assert g2p("   ") == []


def test_random_mixes_stay_in_inventory() -> None:
    rng = random.Random(1234)
    vocabulary = [
        "the", "read", "lead", "NASA", "don't", "John's", "well-known", "zorbify", "A", "a", "I", "x-ray",
        "close", "live", "Hello", "blorp", "qwz", "Mary's", "rex's", "ai", "McDonald",
    ]  # fmt: skip
    marks = [",", ".", "!", "?", "…", "-", "'", "...", ";"]
    for _ in range(60):
        parts = [rng.choice(vocabulary + marks) for _ in range(rng.randint(1, 12))]
        text = normalize(" ".join(parts))
        tokens = g2p(text)
        assert all(t.lang == "en" for t in tokens)
        assert all(p in INVENTORY for t in tokens for p in t.phones)
        words = [t for t in tokens if t.source != "punct"]
        assert all(t.phones for t in words)


def test_neural_module_is_not_g2p_en_import() -> None:
    # the g2p_en package must never be imported (its import downloads NLTK data)
    import sys

    g2p("zorbify")
    assert importlib.util.find_spec("g2p_en") is not None
    assert "g2p_en" not in sys.modules
