"""Inline pronunciation tags inside the text.

* ``<行|hang2>`` forces the pinyin of Chinese characters (one syllable per character).
* ``<read|R EH1 D>`` forces the ARPAbet of an English word.
* ``{n i3 h ao3}`` inserts raw phones of the model's inventory.

An unknown phone or a malformed tag raises :class:`TextError` naming it and its position in the text.
"""

from __future__ import annotations

import re

from gpt_sovits.errors import TextError
from gpt_sovits.text.symbols import symbol_to_id
from gpt_sovits.text.units import Locked, Plain, Unit

# <surface|spec>: surface has no <, >, |; spec has no <, >.
_TAG = re.compile(r"<([^<>|]+)\|([^<>]*)>|\{([^{}]*)\}")
_PINYIN = re.compile(r"^[a-zü]+[0-9]?$")  # a bad tone digit is reported by pinyin_to_phones
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def is_han(ch: str) -> bool:
    """True for a CJK ideograph (the characters Chinese G2P reads one syllable each)."""
    return bool(_HAN.match(ch))


def looks_like_pinyin(spec: str) -> bool:
    """True when every whitespace-separated piece of ``spec`` is a lower-case pinyin syllable."""
    pieces = spec.split()
    return bool(pieces) and all(_PINYIN.match(p) for p in pieces)


def check_pinyin(surface: str, syllables: list[str], where: str) -> tuple[str, ...]:
    """Validate that ``syllables`` are pinyin and that there is one per Chinese character of ``surface``."""
    from gpt_sovits.text.zh import pinyin_to_phones

    han = [c for c in surface if is_han(c)]
    if len(han) != len(surface):
        raise TextError(f"{where}: pinyin can only be given for Chinese characters, not for {surface!r}.")
    if len(syllables) != len(han):
        raise TextError(
            f"{where}: {surface!r} has {len(han)} character(s) but {len(syllables)} pinyin syllable(s) "
            f"were given ({' '.join(syllables)}); give one syllable per character."
        )
    for s in syllables:
        try:
            pinyin_to_phones(s)
        except TextError as exc:
            raise TextError(f"{where}: {exc}") from None
    return tuple(syllables)


def check_phones(phones: list[str], version: str, where: str) -> tuple[str, ...]:
    """Validate raw phones against the inventory; the error names the phone and its index."""
    table = symbol_to_id(version)
    for i, p in enumerate(phones):
        if p not in table:
            raise TextError(
                f"{where}: unknown phone {p!r} (phone {i + 1} of {len(phones)}); it is not in the "
                f"{version} inventory. Use pinyin finals with tones (e.g. 'ao3') or ARPAbet with stress "
                "(e.g. 'EH1')."
            )
    return tuple(phones)


def parse_inline(text: str, version: str = "v2") -> list[Unit]:
    """Split ``text`` into :class:`Plain` runs and :class:`Locked` units for every inline tag."""
    units: list[Unit] = []
    pos = 0
    for m in _TAG.finditer(text):
        if m.start() > pos:
            units.append(Plain(text[pos : m.start()]))
        where = f"inline tag {m.group(0)!r} at character {m.start()}"
        if m.group(3) is not None:
            raw = m.group(3).split()
            if not raw:
                raise TextError(f"{where}: the phone list is empty.")
            units.append(Locked("", "phones", "inline", phones=check_phones(raw, version, where)))
        else:
            surface, spec = m.group(1).strip(), m.group(2).strip()
            if not surface or not spec:
                raise TextError(f"{where}: write <text|pronunciation>, e.g. <行|hang2> or <read|R EH1 D>.")
            if looks_like_pinyin(spec):
                units.append(
                    Locked(surface, "zh", "inline", pinyin=check_pinyin(surface, spec.split(), where))
                )
            else:
                units.append(
                    Locked(surface, "en", "inline", phones=check_phones(spec.split(), version, where))
                )
        pos = m.end()
    if pos < len(text):
        units.append(Plain(text[pos:]))
    return units
