"""Intermediate units of the front end: plain text still to be converted, or text whose phones are fixed.

The pipeline is: inline tags -> replacement dictionaries -> language segmentation -> G2P. The first two
steps turn the input into a sequence of units; later steps never change a :class:`Locked` unit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plain:
    """Text that the default normaliser and G2P will convert. ``source`` labels the tokens it yields."""

    text: str
    source: str = "g2p"


@dataclass(frozen=True)
class Locked:
    """Text whose pronunciation is fixed by an inline tag or a dictionary entry.

    Exactly one of ``pinyin`` (Chinese: one syllable per character of ``surface``, e.g. ``("hang2",)``)
    or ``phones`` (English ARPAbet or raw inventory phones) is set.
    ``lang`` is "zh", "en" or "phones" (a raw ``{...}`` insertion, which has no text of its own).
    """

    surface: str
    lang: str
    source: str
    pinyin: tuple[str, ...] | None = None
    phones: tuple[str, ...] | None = None


Unit = Plain | Locked
