"""English text front end: normalisation and ARPAbet G2P compatible with upstream GPT-SoVITS.

Nothing is loaded at import; the lexicons, the neural model and the homograph table load on first use.
"""

from __future__ import annotations

from gpt_sovits.text.en.g2p import g2p, parse_arpabet, word_phones
from gpt_sovits.text.en.normalize import normalize

__all__ = ["g2p", "normalize", "parse_arpabet", "word_phones"]
