"""Hand-checked cases for Chinese G2P (gpt_sovits.text.zh.g2p / pinyin_to_phones).

Expected phones are written as one "initial final" group per character, groups separated by "|".
"""

from __future__ import annotations

import random

import pytest

from gpt_sovits.errors import TextError
from gpt_sovits.text.symbols import symbols
from gpt_sovits.text.tokens import Token
from gpt_sovits.text.zh import g2p, normalize, phones_for_pinyin_sequence, pinyin_to_phones
from gpt_sovits.text.zh.polyphones import CORRECTIONS


def _phones(text: str) -> str:
    return "|".join(" ".join(t.phones) for t in g2p(text))


POLYPHONES = [
    ("银行", "y in2|h ang2"),
    ("行走", "x ing2|z ou3"),
    ("一行人", "y i4|x ing2|r en2"),
    ("行长", "h ang2|zh ang3"),
    ("不行", "b u4|x ing2"),
    ("一行字", "y i4|h ang2|z i04"),
    ("重要", "zh ong4|y ao4"),
    ("重新", "ch ong2|x in1"),
    ("重庆", "ch ong2|q ing4"),
    ("重来", "ch ong2|l ai2"),
    ("长大", "zh ang3|d a4"),
    ("长度", "ch ang2|d u4"),
    ("校长", "x iao4|zh ang3"),
    ("长得很高", "zh ang3|d e5|h en3|g ao1"),
    ("得到", "d e2|d ao4"),
    ("你得去", "n i2|d ei3|q v4"),
    ("我得走了", "w o2|d ei3|z ou3|l e5"),
    ("跑得快", "p ao3|d e5|k uai4"),
    ("看得见", "k an4|d e5|j ian4"),
    ("了解", "l iao2|j ie3"),
    ("好了", "h ao3|l e5"),
    ("了不起", "l iao3|b u5|q i3"),
    ("不得了", "b u4|d e2|l iao3"),
    ("血液", "x ve4|y E4"),
    ("流血", "l iu2|x ve4"),
    ("血淋淋", "x ie3|l in2|l in2"),
    ("还是", "h ai2|sh ir4"),
    ("还钱", "h uan2|q ian2"),
    ("还书", "h uan2|sh u1"),
    ("看着", "k an4|zh e5"),
    ("着火", "zh ao2|h uo3"),
    ("着急", "zh ao2|j i2"),
    ("着陆", "zh uo2|l u4"),
    ("睡不着", "sh ui4|b u5|zh ao2"),
    ("音乐", "y in1|y ve4"),
    ("快乐", "k uai4|l e4"),
    ("因为", "y in1|w ei4"),
    ("成为", "ch eng2|w ei2"),
    ("睡觉", "sh ui4|j iao4"),
    ("觉得", "j ve2|d e5"),
    ("都是", "d ou1|sh ir4"),
    ("首都", "sh ou3|d u1"),
    ("暖和", "n uan3|h uo5"),
    ("和面", "h uo2|m ian4"),
    ("和平", "h e2|p ing2"),
    ("便宜", "p ian2|y i5"),
    ("随便", "s ui2|b ian4"),
    ("大夫", "d ai4|f u5"),
    ("朝代", "ch ao2|d ai4"),
    ("朝气", "zh ao1|q i4"),
    ("处理", "ch u2|l i3"),
    ("到处", "d ao4|ch u4"),
    ("传说", "ch uan2|sh uo1"),
    ("自传", "z i04|zh uan4"),
    ("弹琴", "t an2|q in2"),
    ("子弹", "z i03|d an4"),
    ("调整", "t iao2|zh eng3"),
    ("声调", "sh eng1|d iao4"),
    ("西藏", "x i1|z ang4"),
    ("收藏", "sh ou1|c ang2"),
    ("出差", "ch u1|ch ai1"),
    ("差不多", "ch a4|b u5|d uo1"),
    ("当然", "d ang1|r an2"),
    ("上当", "sh ang4|d ang4"),
    ("头发", "t ou2|f a5"),
    ("发现", "f a1|x ian4"),
    ("干净", "g an1|j ing4"),
    ("干活", "g an4|h uo2"),
    ("种子", "zh ong3|z i05"),
    ("种树", "zh ong4|sh u4"),
    ("几乎", "j i1|h u1"),
    ("几个", "j i3|g e5"),
    ("曾经", "c eng2|j ing1"),
    ("数学", "sh u4|x ve2"),
    ("数一数", "sh u3|y i5|sh u3"),
    ("关系", "g uan1|x i5"),
    ("系上", "j i4|sh ang4"),
    ("相信", "x iang1|x in4"),
    ("照相", "zh ao4|x iang4"),
    ("省长", "sh eng2|zh ang3"),
    ("反省", "f an2|x ing3"),
    ("少年", "sh ao4|n ian2"),
    ("多少", "d uo1|sh ao5"),
    ("空气", "k ong1|q i4"),
    ("有空", "y ou3|k ong4"),
    ("数量", "sh u4|l iang4"),
    ("商量", "sh ang1|l iang5"),
]

SANDHI = [
    ("你好", "n i2|h ao3"),
    ("老虎", "l ao2|h u3"),
    ("水果", "sh ui2|g uo3"),
    ("纸老虎", "zh ir3|l ao2|h u3"),
    ("展览馆", "zh an2|l an2|g uan3"),
    ("不怕", "b u2|p a4"),
    ("不对", "b u2|d ui4"),
    ("不好", "b u4|h ao3"),
    ("看不懂", "k an4|b u5|d ong3"),
    ("一天", "y i4|t ian1"),
    ("一年", "y i4|n ian2"),
    ("一段", "y i2|d uan4"),
    ("第一", "d i4|y i1"),
    ("十一", "sh ir2|y i1"),
    ("看一看", "k an4|y i5|k an4"),
    ("奶奶", "n ai3|n ai5"),
    ("妈妈", "m a1|m a5"),
    ("看看", "k an4|k an5"),
    ("桌子", "zh uo1|z i05"),
    ("我们", "w o3|m en5"),
    ("东西", "d ong1|x i5"),
    ("一个", "y i2|g e5"),
    ("三个", "s an1|g e5"),
    ("上来", "sh ang4|l ai5"),
    ("走吧", "z ou3|b a5"),
]

ERHUA = [
    ("一会儿", "y i2|h ui4|EE er4"),
    ("哪儿", "n a3|EE er3"),
    ("这儿", "zh e4|EE er4"),
    ("女儿", "n v3|EE er2"),
    ("小孩儿", "x iao3|h ai2|EE er2"),
    ("好玩儿", "h ao3|w an2|EE er2"),
]

ZERO_INITIALS = [
    ("饿", "EE e4"),
    ("爱", "AA ai4"),
    ("欧", "OO ou1"),
    ("二", "EE er4"),
    ("有", "y ou3"),
    ("五", "w u3"),
    ("云", "y vn2"),
    ("鱼", "y v2"),
    ("烟", "y En1"),
    ("也", "y E3"),
    ("月", "y ve4"),
    ("王", "w ang2"),
    ("略", "l ve4"),
    ("女", "n v3"),
]


@pytest.mark.parametrize(("text", "expected"), POLYPHONES + SANDHI + ERHUA + ZERO_INITIALS)
def test_g2p_phones(text: str, expected: str) -> None:
    assert _phones(text) == expected


def test_g2p_punctuation_tokens() -> None:
    tokens = g2p("你好,世界!真的?嗯…好-走.")
    assert [t.surface for t in tokens] == list("你好,世界!真的?嗯…好-走.")
    punct = [t for t in tokens if t.source == "punct"]
    assert [t.phones for t in punct] == [(",",), ("!",), ("?",), ("…",), ("-",), (".",)]
    assert all(t.lang == "zh" for t in tokens)
    assert tokens[0].phones == ("n", "i2") and tokens[0].source == "g2p"


def test_g2p_sandhi_does_not_cross_punctuation() -> None:
    assert _phones("一,二") == "y i1|,|EE er4"


@pytest.mark.parametrize(
    ("text", "forced", "expected"),
    [
        ("行", {0: "hang2"}, "h ang2"),
        ("银行", {1: "xing2"}, "y in2|x ing2"),
        ("不怕", {0: "bu4"}, "b u4|p a4"),
        ("一天", {0: "yi1"}, "y i1|t ian1"),
        ("你好", {0: "ni3"}, "n i3|h ao3"),
        ("女", {0: "nü3"}, "n v3"),
        ("好", {0: "hǎo"}, "h ao3"),
    ],
)
def test_forced_pinyin_overrides_g2p_and_sandhi(text: str, forced: dict[int, str], expected: str) -> None:
    tokens = g2p(text, forced)
    assert "|".join(" ".join(t.phones) for t in tokens) == expected
    assert all(tokens[i].source == "inline" for i in forced)


@pytest.mark.parametrize(
    ("forced", "needle"), [({0: "hang9"}, "hang9"), ({1: "xx2"}, "xx2"), ({2: "a1"}, "2")]
)
def test_forced_pinyin_errors_name_syllable_and_index(forced: dict[int, str], needle: str) -> None:
    with pytest.raises(TextError) as err:
        g2p("银行,", forced)
    message = str(err.value)
    assert needle in message and f"index {next(iter(forced))}" in message


PINYIN = [
    ("ba1", ("b", "a1")),
    ("pa4", ("p", "a4")),
    ("ma5", ("m", "a5")),
    ("fo2", ("f", "o2")),
    ("de5", ("d", "e5")),
    ("ta1", ("t", "a1")),
    ("nü3", ("n", "v3")),
    ("nv3", ("n", "v3")),
    ("lv4", ("l", "v4")),
    ("lü4", ("l", "v4")),
    ("lue4", ("l", "ve4")),
    ("nüe4", ("n", "ve4")),
    ("gui4", ("g", "ui4")),
    ("kuang4", ("k", "uang4")),
    ("hang2", ("h", "ang2")),
    ("hang", ("h", "ang5")),
    ("Hang2", ("h", "ang2")),
    ("háng", ("h", "ang2")),
    ("lǚ", ("l", "v3")),
    ("ju4", ("j", "v4")),
    ("jiong3", ("j", "iong3")),
    ("quan2", ("q", "van2")),
    ("xue2", ("x", "ve2")),
    ("zhi1", ("zh", "ir1")),
    ("chi1", ("ch", "ir1")),
    ("shi4", ("sh", "ir4")),
    ("ri4", ("r", "ir4")),
    ("zi3", ("z", "i03")),
    ("ci2", ("c", "i02")),
    ("si1", ("s", "i01")),
    ("liu2", ("l", "iu2")),
    ("dun4", ("d", "un4")),
    ("yan3", ("y", "En3")),
    ("ye4", ("y", "E4")),
    ("yun2", ("y", "vn2")),
    ("yuan2", ("y", "van2")),
    ("wu3", ("w", "u3")),
    ("wo3", ("w", "o3")),
    ("er2", ("EE", "er2")),
    ("a1", ("AA", "a1")),
    ("ang2", ("AA", "ang2")),
    ("o2", ("OO", "o2")),
    ("ou1", ("OO", "ou1")),
    ("e4", ("EE", "e4")),
]


@pytest.mark.parametrize(("syllable", "expected"), PINYIN)
def test_pinyin_to_phones(syllable: str, expected: tuple[str, str]) -> None:
    assert pinyin_to_phones(syllable) == expected


@pytest.mark.parametrize("bad", ["hang6", "hang0", "xx1", "bv1", "gi1", "zhiu3", "", "ha ng2", "hang22", "2"])
def test_pinyin_to_phones_rejects_invalid(bad: str) -> None:
    with pytest.raises(TextError) as err:
        pinyin_to_phones(bad)
    assert repr(bad) in str(err.value)


def test_phones_for_pinyin_sequence() -> None:
    assert phones_for_pinyin_sequence(["ni3", "hao3"]) == [("n", "i3"), ("h", "ao3")]
    with pytest.raises(TextError, match="position 1"):
        phones_for_pinyin_sequence(["ni3", "hao9"])


def test_every_syllable_and_tone_is_in_the_v2_inventory() -> None:
    from gpt_sovits.text.zh.pinyin import syllable_table

    inventory = set(symbols("v2"))
    table = syllable_table()
    assert len(table) == 429  # the size of upstream opencpop-strict.txt
    for syllable in table:
        for tone in "12345":
            assert set(pinyin_to_phones(syllable + tone)) <= inventory, syllable


def test_corrections_are_valid_pinyin() -> None:
    for phrase, readings in CORRECTIONS.items():
        assert len(phrase) == len(readings), phrase
        phones_for_pinyin_sequence(list(readings))


COMMON = (
    "的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后"
    "小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长"
    "知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最"
    "重觉乐血便朝处传弹调藏差干曾数系相省少空量啊吧呢嗯哦"
)


def test_random_strings_keep_one_token_per_char_and_inventory() -> None:
    rng = random.Random(1234)
    inventory = set(symbols("v2"))
    alphabet = COMMON + ",.!?…-" + "，。！？、“”《》"
    for _ in range(300):
        text = normalize("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 25))))
        tokens = g2p(text)
        assert len(tokens) == len(text)
        assert [t.surface for t in tokens] == list(text)
        for token in tokens:
            assert token.phones, token
            assert set(token.phones) <= inventory, token


@pytest.mark.parametrize("text", ["😀", "abc", "\u3400", "你😀好", "\x00"])
def test_g2p_unknown_characters_do_not_crash(text: str) -> None:
    tokens = g2p(text)
    assert len(tokens) == len(text)
    assert [t.surface for t in tokens if t.phones] == list(normalize(text))


def test_forced_pinyin_on_rare_character() -> None:
    # U+3400 is outside the range normalize keeps, but an inline tag may still give it a reading.
    assert g2p("\u3400", {0: "qiu1"}) == [Token("\u3400", ("q", "iu1"), "zh", "inline")]


def test_g2p_empty() -> None:
    assert g2p("") == []
    assert g2p(normalize("")) == []
