"""Pinyin syllable -> GPT-SoVITS v2 phones (initial, final+tone).

The mapping re-expresses upstream GPT-SoVITS ``opencpop-strict.txt`` (429 syllables) as data plus one
rule: a syllable splits into its initial and the rest, with these opencpop conventions:

* zero-initial syllables starting with a/o/e get the pseudo-initials ``AA``/``OO``/``EE``
  (``ai`` -> ``AA ai``, ``er`` -> ``EE er``);
* ``zhi chi shi ri`` use the final ``ir`` and ``zi ci si`` use ``i0``;
* after j/q/x/y a written ``u`` is ü and becomes ``v`` (``ju`` -> ``j v``, ``yuan`` -> ``y van``);
* ``yan`` -> ``y En`` and ``ye`` -> ``y E``; all other y/w syllables keep their letters
  (``you`` -> ``y ou``, ``wu`` -> ``w u``).
"""

from __future__ import annotations

import re
from functools import cache

from gpt_sovits.errors import TextError

# Valid syllables (opencpop-strict keys), grouped by initial: "" is the zero initial.
_SYLLABLES_BY_INITIAL: dict[str, str] = {
    "": "a ai an ang ao e ei en eng er o ou",
    "b": "a ai an ang ao ei en eng i ian iao ie in ing o u",
    "c": "a ai an ang ao e ei en eng i ong ou u uan ui un uo",
    "ch": "a ai an ang ao e en eng i ong ou u ua uai uan uang ui un uo",
    "d": "a ai an ang ao e ei en eng i ia ian iao ie ing iu ong ou u uan ui un uo",
    "f": "a an ang ei en eng o ou u",
    "g": "a ai an ang ao e ei en eng ong ou u ua uai uan uang ui un uo",
    "h": "a ai an ang ao e ei en eng ong ou u ua uai uan uang ui un uo",
    "j": "i ia ian iang iao ie in ing iong iu u v uan van ue ve un vn",
    "k": "a ai an ang ao e ei en eng ong ou u ua uai uan uang ui un uo",
    "l": "a ai an ang ao e ei eng i ia ian iang iao ie in ing iu o ong ou u uan un uo v ve",
    "m": "a ai an ang ao e ei en eng i ian iao ie in ing iu o ou u",
    "n": "a ai an ang ao e ei en eng i ian iang iao ie in ing iu ong ou u uan un uo v ve",
    "p": "a ai an ang ao ei en eng i ian iao ie in ing o ou u",
    "q": "i ia ian iang iao ie in ing iong iu u v uan van ue ve un vn",
    "r": "an ang ao e en eng i ong ou u ua uan ui un uo",
    "s": "a ai an ang ao e en eng i ong ou u uan ui un uo",
    "sh": "a ai an ang ao e ei en eng i ou u ua uai uan uang ui un uo",
    "t": "a ai an ang ao e ei eng i ian iao ie ing ong ou u uan ui un uo",
    "w": "a ai an ang ei en eng o u",
    "x": "i ia ian iang iao ie in ing iong iu u v uan van ue ve un vn",
    "y": "a an ang ao e i in ing o ong ou u v uan van ue ve un vn",
    "z": "a ai an ang ao e ei en eng i ong ou u uan ui un uo",
    "zh": "a ai an ang ao e ei en eng i ong ou u ua uai uan uang ui un uo",
}

_ZERO_INITIAL = {"a": "AA", "o": "OO", "e": "EE"}
# Spellings people type that the table writes differently (lüe is written "lue" in many inputs).
_ALIASES = {"lue": "lve", "nue": "nve", "lü": "lv", "nü": "nv"}
_TONED = re.compile(r"^([a-zü:]+)([0-5]?)$")


def _split(initial: str, rest: str) -> tuple[str, str]:
    """Apply the opencpop rule to a syllable already split into its written initial and rest."""
    if not initial:
        return _ZERO_INITIAL[rest[0]], rest
    if rest == "i" and initial in ("zh", "ch", "sh", "r"):
        return initial, "ir"
    if rest == "i" and initial in ("z", "c", "s"):
        return initial, "i0"
    if initial in ("j", "q", "x", "y") and rest.startswith("u"):
        rest = "v" + rest[1:]
    if initial == "y":
        rest = {"an": "En", "e": "E"}.get(rest, rest)
    return initial, rest


@cache
def syllable_table() -> dict[str, tuple[str, str]]:
    """Map every valid toneless syllable (``"hang"``, ``"lv"``, ``"jv"``) to (initial, toneless final)."""
    table: dict[str, tuple[str, str]] = {}
    for initial, rests in _SYLLABLES_BY_INITIAL.items():
        for rest in rests.split():
            table[initial + rest] = _split(initial, rest)
    return table


def split_tone(syllable: str) -> tuple[str, str]:
    """Split ``"hang2"`` / ``"hang"`` / ``"háng"`` into (toneless lower-case syllable, tone digit).

    No tone digit means the neutral tone 5. Raises :class:`TextError` for anything that is not
    letters followed by one tone digit 1-5.
    """
    text = syllable.strip().lower()
    if any(ch in text for ch in "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ"):
        # Tone marks: let pypinyin turn them into TONE3 form (its own routine, no dictionary load).
        from pypinyin.contrib.tone_convert import to_tone3

        text = to_tone3(text, neutral_tone_with_five=True)
    match = _TONED.match(text)
    if not match:
        raise TextError(f"Invalid pinyin {syllable!r}: expected letters followed by a tone digit 1-5.")
    base, tone = match.group(1), match.group(2) or "5"
    if tone == "0":
        raise TextError(f"Invalid tone in pinyin {syllable!r}: tones are 1-5 (5 = neutral).")
    base = base.replace("u:", "v").replace("ü", "v")
    return _ALIASES.get(base, base), tone


def pinyin_to_phones(syllable: str) -> tuple[str, ...]:
    """Convert one pinyin syllable with tone (``"hang2"``, ``"lv4"``, ``"lü4"``, ``"er2"``) to v2 phones.

    Tone 5 or no tone digit is the neutral tone. An unknown syllable or tone raises :class:`TextError`
    naming it.
    """
    base, tone = split_tone(syllable)
    phones = syllable_table().get(base)
    if phones is None:
        raise TextError(f"Unknown pinyin syllable {syllable!r} (no Mandarin syllable {base!r}).")
    return phones[0], phones[1] + tone


def phones_for_pinyin_sequence(pinyins: list[str]) -> list[tuple[str, ...]]:
    """Convert a list of pinyin syllables; the error for a bad one names its position."""
    result = []
    for pos, syllable in enumerate(pinyins):
        try:
            result.append(pinyin_to_phones(syllable))
        except TextError as exc:
            raise TextError(f"Pinyin at position {pos}: {exc}") from exc
    return result
