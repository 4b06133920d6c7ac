"""Chinese (Mandarin) text front end: normalisation and G2P to GPT-SoVITS v2 phones.

Importing this package loads no dictionaries: jieba and pypinyin are initialised on first use.
"""

from gpt_sovits.text.zh.g2p import g2p
from gpt_sovits.text.zh.normalize import normalize
from gpt_sovits.text.zh.pinyin import phones_for_pinyin_sequence, pinyin_to_phones

__all__ = ["g2p", "normalize", "phones_for_pinyin_sequence", "pinyin_to_phones"]
