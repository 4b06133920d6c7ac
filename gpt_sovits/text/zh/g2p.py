"""Chinese grapheme-to-phoneme conversion producing GPT-SoVITS v2 phones, one token per character.

Follows upstream GPT-SoVITS v2 ``chinese2.py``: jieba POS segmentation, tone-sandhi word merging, pypinyin
``TONE3`` readings (neutral tone = 5), 不/一/neutral/third-tone sandhi, erhua (儿 keeps its own
syllable, ``er`` + the previous syllable's tone), then the opencpop-strict syllable -> (initial, final)
mapping. Upstream v2 reads polyphones with the g2pW ONNX model, which we do not ship: we use pypinyin's
phrase dictionary plus the correction table in :mod:`polyphones` and two context rules for 得 (dei3 after
a pronoun before a verb, de5 in verb-得-complement words). jieba is loaded lazily on first use.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import cache, lru_cache
from types import ModuleType

from gpt_sovits.errors import TextError
from gpt_sovits.text.tokens import PUNCTUATION, Token
from gpt_sovits.text.zh.pinyin import pinyin_to_phones, split_tone, syllable_table
from gpt_sovits.text.zh.polyphones import correction_overlay
from gpt_sovits.text.zh.sandhi import modify_tones, pre_merge
from gpt_sovits.text.zh.sandhi_words import MUST_ERHUA, NOT_ERHUA

logger = logging.getLogger(__name__)

_RE_HAN_RUN = re.compile("[\u4e00-\u9fa5]+")
# Placeholder syllable for a character pypinyin cannot read; its base "?" is no syllable, so it gets no phones.
_NO_READING = "?0"
# pypinyin readings outside the opencpop table, mapped as upstream's text replacements would read them
# (嗯 -> 恩, 呣 -> 母) or to the nearest table syllable.
_FALLBACK = {"n": "en", "ng": "en", "m": "mu", "hm": "hen", "hng": "heng", "fiao": "diao"}
# Words where 得 is the full verb de2 even though it sits in the middle of a three-character word.
_DE2_PREFIXES = frozenset("获得 取得 赢得 博得 求得 习得 心得 所得 难得 不得".split())
# Words before 得 that make it the modal dei3 ("must"): pronouns (POS r) and these adverbs.
_DEI3_BEFORE = frozenset("还 就 也 都 总 又 可 真 更 只".split())


@cache
def jieba_module() -> ModuleType:
    """Import jieba and quieten its start-up logging; its dictionary loads on the first cut."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


@cache
def _posseg() -> ModuleType:
    jieba_module()
    import jieba.posseg

    return jieba.posseg


@lru_cache(maxsize=65536)
def _word_pinyin(word: str) -> tuple[str, ...]:
    """pypinyin TONE3 readings of one word, exactly one per character."""
    from pypinyin import Style, lazy_pinyin

    result = lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)
    if len(result) != len(word):
        # Unreadable characters can come back grouped; fall back to one call per character.
        result = [lazy_pinyin(ch, style=Style.TONE3, neutral_tone_with_five=True)[0] for ch in word]
    return tuple(s if s[-1:].isdigit() and s[:-1].isascii() else _NO_READING for s in result)


def _erhua(word: str, pos: str, finals: list[str]) -> list[str]:
    """Upstream ``_merge_erhua``: a final 儿 suffix takes the tone of the syllable before it."""
    if word[-1] == "儿" and finals[-1] == "er1":
        finals[-1] = "er2"
    if word not in MUST_ERHUA and (word in NOT_ERHUA or pos in ("a", "j", "nr")):
        return finals
    if len(word) > 1 and word[-1] == "儿" and finals[-1] in ("er2", "er5") and word[-2:] not in NOT_ERHUA:
        finals[-1] = "er" + finals[-2][-1]
    return finals


def _context_fixes(seg: list[tuple[str, str]], syllables: list[str]) -> None:
    """Readings of 得 that depend on the neighbouring words (upstream gets these from g2pW)."""
    start = 0
    for i, (word, pos) in enumerate(seg):
        prev = seg[i - 1] if i else None
        nxt = seg[i + 1] if i + 1 < len(seg) else None
        modal = prev is not None and (prev[1] == "r" or prev[0] in _DEI3_BEFORE)
        if modal and (word == "得去" or (word == "得" and nxt and nxt[1][:1] in ("v", "d"))):
            syllables[start] = "dei3"  # 我得走了, 你得去: "must"
            if start and syllables[start - 1][-1] == "3":
                syllables[start - 1] = syllables[start - 1][:-1] + "2"  # 3-3 sandhi with the new dei3
        elif len(word) == 3 and word[1] == "得" and word[:2] not in _DE2_PREFIXES and pos[:1] != "n":
            if syllables[start + 1] == "de2":
                syllables[start + 1] = "de5"  # 跑得快, 看得见: structural particle
        start += len(word)


def _convert_run(run: str, forced: Mapping[int, str]) -> list[str]:
    """TONE3 syllables for a run of Chinese characters; ``forced`` maps run index -> TONE3 syllable."""
    seg = [(pair.word, pair.flag) for pair in _posseg().lcut(run)]
    boundaries, end = {0}, 0
    for word, _ in seg:
        end += len(word)
        boundaries.add(end)
    overlay = correction_overlay(run, boundaries)
    overlay.update(forced)

    def lookup(start: int, end: int) -> list[str]:
        base = _word_pinyin(run[start:end])
        return [overlay.get(start + k, s) for k, s in enumerate(base)]

    merged = pre_merge(seg, lookup)
    syllables: list[str] = []
    for word, pos in merged:
        finals = lookup(len(syllables), len(syllables) + len(word))
        finals = modify_tones(word, pos, finals)
        syllables.extend(_erhua(word, pos, finals))
    _context_fixes(merged, syllables)
    for index, syllable in forced.items():
        syllables[index] = syllable  # inline pinyin is exempt from every rule above
    return syllables


def _syllable_phones(syllable: str, char: str) -> tuple[str, ...]:
    base, tone = syllable[:-1], syllable[-1]
    table = syllable_table()
    base = _FALLBACK.get(base, base)
    if base not in table or tone not in "12345":
        logger.warning("No Mandarin reading for %r (%r); it gets no phones.", char, syllable)
        return ()
    initial, final = table[base]
    return initial, final + tone


def _check_forced(text: str, forced: Mapping[int, str]) -> dict[int, str]:
    """Validate inline pinyin and return it as {text index: canonical TONE3 syllable}."""
    result = {}
    for index, syllable in forced.items():
        if not 0 <= index < len(text) or text[index] in PUNCTUATION or text[index].isspace():
            raise TextError(
                f"Inline pinyin {syllable!r} at index {index} does not sit on a Chinese character."
            )
        try:
            pinyin_to_phones(syllable)
        except TextError as exc:
            raise TextError(f"Inline pinyin at index {index} ({text[index]!r}): {exc}") from exc
        base, tone = split_tone(syllable)
        result[index] = base + tone
    return result


def g2p(text: str, forced: Mapping[int, str] | None = None) -> list[Token]:
    """Convert normalised Chinese text to tokens, exactly one per character of ``text``.

    Chinese characters get (initial, final+tone) v2 phones (``source="g2p"``); the marks ``, . ! ? … -``
    become one-phone punctuation tokens (``source="punct"``). ``forced`` maps character indices to pinyin
    with tone (``{0: "hang2"}``), which overrides G2P and tone sandhi for that character
    (``source="inline"``); invalid pinyin raises :class:`TextError` naming it and its index. Other
    characters (which :func:`normalize` removes) get a token without phones and a logged warning.
    """
    checked = _check_forced(text, forced or {})
    syllables: dict[int, str] = {}
    for match in _RE_HAN_RUN.finditer(text):
        start = match.start()
        local = {i - start: s for i, s in checked.items() if start <= i < match.end()}
        for offset, syllable in enumerate(_convert_run(match.group(0), local)):
            syllables[start + offset] = syllable
    for index, syllable in checked.items():
        syllables.setdefault(index, syllable)  # forced pinyin on a character outside U+4E00-U+9FA5
    tokens = []
    for index, char in enumerate(text):
        if index in syllables:
            source = "inline" if index in checked else "g2p"
            tokens.append(Token(char, _syllable_phones(syllables[index], char), "zh", source))
        elif char in PUNCTUATION:
            tokens.append(Token(char, (char,), "zh", "punct"))
        else:
            logger.warning(
                "Character %r at index %d is not Chinese or punctuation; it gets no phones.", char, index
            )
            tokens.append(Token(char, (), "zh", "g2p"))
    return tokens
