"""Mandarin tone sandhi, re-implementing the rules of upstream GPT-SoVITS ``tone_sandhi.py`` (PaddleSpeech).

Syllables are pypinyin TONE3 strings (``"hao3"``); only their last character (the tone) is changed.
Two stages, as upstream: :func:`pre_merge` regroups jieba's words so that the rules see the right units
(不 + next word, A一A, reduplications, runs of third tones, 儿), then :func:`modify_tones` applies the
不 / 一 / neutral-tone / third-tone rules to one word.
"""

from __future__ import annotations

from collections.abc import Callable

from gpt_sovits.text.zh.sandhi_words import MUST_NEUTRAL, MUST_NOT_NEUTRAL

# A word being regrouped: [text, jieba POS tag].
Word = list[str]
# Returns the pinyin (TONE3) of the characters text[start:end] of the run being converted.
PinyinLookup = Callable[[int, int], list[str]]

_PUNCT = "：，；。？！“”‘’':,;.?!"


def _retone(syllable: str, tone: str) -> str:
    return syllable[:-1] + tone


def _all_third(syllables: list[str]) -> bool:
    return all(s[-1] == "3" for s in syllables)


def _merge_bu(seg: list[Word]) -> list[Word]:
    # A lone 不 joins the following word so that 不 + tone-4 sandhi sees its neighbour.
    out: list[Word] = []
    pending = ""
    for word, pos in seg:
        word = pending + word
        pending = ""
        if word == "不":
            pending = word
        else:
            out.append([word, pos])
    if pending:
        out.append([pending, "d"])
    return out


def _merge_yi(seg: list[Word]) -> list[Word]:
    # 1) verb 一 verb -> one word (听一听); 2) a lone 一 joins the following word (一 + 天).
    out: list[Word] = []
    i = 0
    while i < len(seg):
        word, pos = seg[i]
        if 0 < i < len(seg) - 1 and word == "一":
            last = out[-1] if out else seg[i - 1]
            nxt = seg[i + 1]
            if last[0] == nxt[0] and last[1] == "v" and nxt[1] == "v":
                out[-1] = [last[0] + "一" + nxt[0], last[1]]
                i += 2
                continue
        out.append([word, pos])
        i += 1
    merged: list[Word] = []
    for word, pos in out:
        if merged and merged[-1][0] == "一":
            merged[-1][0] += word
        else:
            merged.append([word, pos])
    return merged


def _merge_reduplication(seg: list[Word]) -> list[Word]:
    out: list[Word] = []
    for word, pos in seg:
        if out and out[-1][0] == word:
            out[-1][0] += word
        else:
            out.append([word, pos])
    return out


def _merge_third_tones(seg: list[Word], lookup: PinyinLookup, whole_words: bool) -> list[Word]:
    """Join neighbours that form a third-tone chain (at most 3 characters, no reduplication).

    ``whole_words``: both words all third tone (first pass); otherwise the last syllable of the first
    and the first syllable of the second (second pass).
    """
    starts = [0]
    for word, _ in seg:
        starts.append(starts[-1] + len(word))
    finals = [lookup(starts[i], starts[i + 1]) for i in range(len(seg))]
    out: list[Word] = []
    merged_last = [False] * len(seg)
    for i, (word, pos) in enumerate(seg):
        if i > 0 and not merged_last[i - 1]:
            prev = seg[i - 1][0]
            if whole_words:
                chain = _all_third(finals[i - 1]) and _all_third(finals[i])
            else:
                chain = finals[i - 1][-1][-1] == "3" and finals[i][0][-1] == "3"
            is_redup = len(prev) == 2 and prev[0] == prev[1]
            if chain and not is_redup and len(prev) + len(word) <= 3:
                out[-1][0] += word
                merged_last[i] = True
                continue
        out.append([word, pos])
    return out


def _merge_er(seg: list[Word]) -> list[Word]:
    out: list[Word] = []
    for word, pos in seg:
        if out and word == "儿" and out[-1][0] != "#":
            out[-1][0] += word
        else:
            out.append([word, pos])
    return out


def pre_merge(seg: list[tuple[str, str]], lookup: PinyinLookup) -> list[tuple[str, str]]:
    """Regroup jieba (word, POS) pairs of one run of Chinese characters before sandhi, as upstream."""
    words: list[Word] = [[w, p] for w, p in seg]
    words = _merge_bu(words)
    words = _merge_yi(words)
    words = _merge_reduplication(words)
    words = _merge_third_tones(words, lookup, whole_words=True)
    words = _merge_third_tones(words, lookup, whole_words=False)
    words = _merge_er(words)
    return [(w, p) for w, p in words]


def split_word(word: str) -> list[str]:
    """Split a word in two around its shortest jieba search-mode sub-word (upstream ``_split_word``)."""
    from gpt_sovits.text.zh.g2p import jieba_module

    subwords = sorted(jieba_module().cut_for_search(word), key=len)
    first = subwords[0]
    if word.find(first) == 0:
        return [first, word[len(first) :]]
    return [word[: -len(first)], first]


def _bu_sandhi(word: str, finals: list[str]) -> list[str]:
    if len(word) == 3 and word[1] == "不":
        # 看不懂: 不 in the middle of a verb-complement is neutral.
        finals[1] = _retone(finals[1], "5")
        return finals
    for i, ch in enumerate(word[:-1]):
        if ch == "不" and finals[i + 1][-1] == "4":
            finals[i] = _retone(finals[i], "2")  # 不怕 bu2 pa4
    return finals


def _yi_sandhi(word: str, finals: list[str]) -> list[str]:
    if "一" in word and all(ch.isnumeric() for ch in word if ch != "一"):
        return finals  # numbers: 一零一, 十一 keep yi1
    if len(word) == 3 and word[1] == "一" and word[0] == word[-1]:
        finals[1] = _retone(finals[1], "5")  # 看一看
    elif word.startswith("第一"):
        finals[1] = _retone(finals[1], "1")  # ordinal
    else:
        for i, ch in enumerate(word[:-1]):
            if ch != "一":
                continue
            if finals[i + 1][-1] == "4":
                finals[i] = _retone(finals[i], "2")  # 一段 yi2
            elif word[i + 1] not in _PUNCT:
                finals[i] = _retone(finals[i], "4")  # 一天 yi4
    return finals


def _neutral_sandhi(word: str, pos: str, finals: list[str]) -> list[str]:
    for j in range(1, len(word)):
        # Reduplicated nouns/verbs/adjectives: 奶奶, 看看, 试试.
        if word[j] == word[j - 1] and pos[:1] in ("n", "v", "a") and word not in MUST_NOT_NEUTRAL:
            finals[j] = _retone(finals[j], "5")
    ge = word.find("个")
    last = word[-1]
    if last in "吧呢哈啊呐噻嘛吖嗨哦哒额滴哩哟喽啰耶喔诶" or last in "的地得":
        finals[-1] = _retone(finals[-1], "5")
    elif len(word) == 1 and word in "了着过" and pos in ("ul", "uz", "ug"):
        finals[-1] = _retone(finals[-1], "5")
    elif len(word) > 1 and last in "们子" and pos in ("r", "n") and word not in MUST_NOT_NEUTRAL:
        finals[-1] = _retone(finals[-1], "5")
    elif len(word) > 1 and last in "上下里" and pos in ("s", "l", "f"):
        finals[-1] = _retone(finals[-1], "5")  # 桌上, 家里
    elif len(word) > 1 and last in "来去" and word[-2] in "上下进出回过起开":
        finals[-1] = _retone(finals[-1], "5")  # 上来, 下去
    elif (ge >= 1 and (word[ge - 1].isnumeric() or word[ge - 1] in "几有两半多各整每做是")) or word == "个":
        finals[ge] = _retone(finals[ge], "5")  # measure word 个
    elif word in MUST_NEUTRAL or word[-2:] in MUST_NEUTRAL:
        finals[-1] = _retone(finals[-1], "5")
    parts = split_word(word)
    cut = len(parts[0])
    pieces = [finals[:cut], finals[cut:]]
    for part, piece in zip(parts, pieces):
        if piece and (part in MUST_NEUTRAL or part[-2:] in MUST_NEUTRAL):
            piece[-1] = _retone(piece[-1], "5")
    return pieces[0] + pieces[1]


def _three_sandhi(word: str, finals: list[str]) -> list[str]:
    if len(word) == 2 and _all_third(finals):
        finals[0] = _retone(finals[0], "2")  # 你好
    elif len(word) == 3:
        parts = split_word(word)
        cut = len(parts[0])
        if _all_third(finals):
            if cut == 2:  # 蒙古/包
                finals[0], finals[1] = _retone(finals[0], "2"), _retone(finals[1], "2")
            elif cut == 1:  # 纸/老虎
                finals[1] = _retone(finals[1], "2")
        else:
            first, second = finals[:cut], finals[cut:]
            if len(first) == 2 and _all_third(first):
                first[0] = _retone(first[0], "2")  # 所有/人
            if len(second) == 2 and _all_third(second):
                second[0] = _retone(second[0], "2")
            elif second and not _all_third(second) and second[0][-1] == "3" and first[-1][-1] == "3":
                first[-1] = _retone(first[-1], "2")  # 好/喜欢
            finals = first + second
    elif len(word) == 4:
        # Four-character idioms split into two pairs.
        pairs = [finals[:2], finals[2:]]
        for pair in pairs:
            if _all_third(pair):
                pair[0] = _retone(pair[0], "2")
        finals = pairs[0] + pairs[1]
    return finals


def modify_tones(word: str, pos: str, finals: list[str]) -> list[str]:
    """Apply 不, 一, neutral-tone and third-tone sandhi to one merged word's syllables."""
    finals = list(finals)
    finals = _bu_sandhi(word, finals)
    finals = _yi_sandhi(word, finals)
    finals = _neutral_sandhi(word, pos, finals)
    return _three_sandhi(word, finals)
