"""Polyphone corrections applied on top of pypinyin (we have no g2pW model; see :mod:`g2p`).

``CORRECTIONS`` maps a phrase to the pinyin of each of its characters. Each entry fixes a reading that
pypinyin 0.55 gets wrong with jieba's segmentation (checked by ``tests/text/test_zh_g2p.py``); readings
pypinyin already gets right are not listed. Phrases are matched on the text itself, not on jieba's
words, so an entry may span two jieba words (还钱 is segmented 还|钱).
"""

from __future__ import annotations

from functools import cache

CORRECTIONS: dict[str, tuple[str, ...]] = {
    # 血: xue4 in compounds; pypinyin says xie3 after 流.
    "流血": ("liu2", "xue4"),
    "出血": ("chu1", "xue4"),
    "吐血": ("tu4", "xue4"),
    # 还 huan2 "give back"; jieba splits 还|钱 and pypinyin reads the lone 还 as hai2.
    "还钱": ("huan2", "qian2"),
    "还书": ("huan2", "shu1"),
    "还款": ("huan2", "kuan3"),
    # 得: 不得了 is "terrible" (liao3); V得C complements are neutral (see g2p's context rules).
    "不得了": ("bu4", "de2", "liao3"),
    "了不得": ("liao3", "bu5", "de2"),
    # 和 huo2 "knead", hu2 "win at mahjong".
    "和面": ("huo2", "mian4"),
    "和牌": ("hu2", "pai2"),
    # 大夫 "doctor" (dai4 fu5), not the ancient official da4 fu1.
    "大夫": ("dai4", "fu5"),
    # 系 ji4 "tie (a knot)".
    "系上": ("ji4", "shang4"),
    "系好": ("ji4", "hao3"),
    # 数 shu3 "count" as a verb.
    "数一数": ("shu3", "yi1", "shu3"),
    "数数": ("shu3", "shu3"),
    # 长 zhang3 "grow" before a complement.
    "长得": ("zhang3", "de5"),
    # 行 hang2 for rows/lines and trades.
    "一行字": ("yi1", "hang2", "zi4"),
    # 着 zhao2 "fall asleep / catch fire" after verbs that pypinyin reads zhe5.
    "睡不着": ("shui4", "bu4", "zhao2"),
    # 重 chong2 "again".
    "重来": ("chong2", "lai2"),
    "重做": ("chong2", "zuo4"),
    # 差 chai1 "errand".
    "差事": ("chai1", "shi5"),
    # 量 liang2 "measure" as a verb.
    "量身高": ("liang2", "shen1", "gao1"),
    # 空 kong4 "free time".
    "空儿": ("kong4", "er5"),
}


@cache
def _by_first_char() -> dict[str, tuple[str, ...]]:
    """Index the table by first character so matching a run costs one dict lookup per position."""
    index: dict[str, list[str]] = {}
    for phrase in CORRECTIONS:
        index.setdefault(phrase[0], []).append(phrase)
    return {ch: tuple(sorted(v, key=len, reverse=True)) for ch, v in index.items()}


def correction_overlay(text: str, boundaries: set[int]) -> dict[int, str]:
    """Pinyin overrides {char index: syllable} for the table phrases found in ``text``.

    Where matches overlap, one that starts and ends on jieba word ``boundaries`` wins (it agrees with the
    segmentation), then the longer, then the leftmost, so 我得到 keeps 得到 rather than a phrase 我得.
    """
    index = _by_first_char()
    matches = []
    for start, ch in enumerate(text):
        for phrase in index.get(ch, ()):
            if text.startswith(phrase, start):
                end = start + len(phrase)
                aligned = start in boundaries and end in boundaries
                matches.append((not aligned, -len(phrase), start, phrase))
    overlay: dict[int, str] = {}
    taken: set[int] = set()
    for _, _, start, phrase in sorted(matches):
        span = range(start, start + len(phrase))
        if taken.intersection(span):
            continue
        taken.update(span)
        overlay.update(zip(span, CORRECTIONS[phrase]))
    return overlay
