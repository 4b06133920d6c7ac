"""Text front end: normalisation, language segmentation, G2P and pronunciation control.

Typical use::

    from gpt_sovits.text import FrontEnd, TextOptions
    result = FrontEnd().process("你好, world!", TextOptions(lang_mode="auto"))
    result.segments[0].phones

Language modules (``zh``, ``en``, ``ja``, ``yue``, ``ko``) are imported on first use.
"""

from gpt_sovits.text.dictionary import Dictionary, DictionaryIssue, DictionaryStack
from gpt_sovits.text.frontend import FrontEnd, PreviewRow, Segment, Sentence, TextOptions, TextResult
from gpt_sovits.text.langseg import LANG_MODES
from gpt_sovits.text.split import SPLIT_METHODS, split_text
from gpt_sovits.text.symbols import phones_to_ids, symbols
from gpt_sovits.text.tokens import Token

__all__ = [
    "LANG_MODES",
    "SPLIT_METHODS",
    "Dictionary",
    "DictionaryIssue",
    "DictionaryStack",
    "FrontEnd",
    "PreviewRow",
    "Segment",
    "Sentence",
    "TextOptions",
    "TextResult",
    "Token",
    "phones_to_ids",
    "split_text",
    "symbols",
]
