"""Cantonese front end: jyutping split into the v2 Y-prefixed phones (needs the 'yue' extra)."""

from __future__ import annotations

import sys

import pytest

from gpt_sovits.errors import MissingExtraError
from gpt_sovits.text import yue
from gpt_sovits.text.symbols import symbols
from gpt_sovits.text.tokens import Token

needs_tojyutping = pytest.mark.skipif(
    not yue.available(), reason='ToJyutping is not installed (python -m pip install -e ".[yue]")'
)


def phones(text: str) -> list[str]:
    return [p for t in yue.g2p(text) for p in t.phones]


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    yue._tojyutping.cache_clear()
    monkeypatch.setitem(sys.modules, "ToJyutping", None)
    assert not yue.available()
    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[yue\]"') as info:
        yue.g2p("你好")
    assert info.value.extra == "yue"
    yue._tojyutping.cache_clear()


@pytest.mark.parametrize(
    ("syllable", "expected"),
    [
        ("nei5", ("Yn", "Yei5")),
        ("hou2", ("Yh", "You2")),
        ("ng5", ("Yng", "Yg5")),  # 五: no final left, the initial's last letter is used
        ("m4", ("Ym", "Ym4")),  # 唔
        ("aa3", ("Yaa", "Ya3")),  # 呀
        ("aai1", ("Yaa", "Yi1")),  # upstream matches "aa" before "aai"
        ("ngaa4", ("Yng", "Yaa4")),  # 牙
        ("gwong2", ("Ygw", "Yong2")),
        ("jyut6", ("Yj", "Yyut6")),
        ("ou3", ("You", "Yu3")),
    ],
)
def test_syllable_split_matches_upstream(syllable: str, expected: tuple[str, str]) -> None:
    assert yue.syllable_phones(syllable) == expected


@pytest.mark.parametrize(
    ("number", "reading"),
    [
        ("0", "零"),
        ("10", "十"),
        ("15", "十五"),
        ("101", "一百零一"),
        ("110", "一百一十"),
        ("10005", "一萬零五"),
    ],
)
def test_read_cardinal(number: str, reading: str) -> None:
    assert yue.read_cardinal(number) == reading


def test_normalize_needs_no_package() -> None:
    assert yue.normalize("你好，香港！") == "你好,香港!"
    assert yue.normalize("“你好”……") == "你好…"
    assert yue.normalize("123個人") == "一百二十三個人"
    assert yue.normalize("2024年") == "二零二四年"
    assert yue.normalize("3.5") == "三點五"
    assert yue.normalize("50%") == "百分之五十"
    assert yue.normalize("我哋去ABC") == "我哋去"
    assert yue.normalize("") == ""


@needs_tojyutping
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好", "Yn Yei5 Yh You2"),
        ("香港", "Yh Yoeng1 Yg Yong2"),
        ("唔係", "Ym Ym4 Yh Yai6"),
        ("我哋", "Yng Yo5 Yd Yei6"),
        ("廣東話", "Ygw Yong2 Yd Yung1 Yw Yaa2"),  # 話 takes the changed tone waa2 here
        ("多謝", "Yd Yo1 Yz Ye6"),
        ("呀", "Yaa Ya3"),
        ("五", "Yng Yg5"),
        ("了解", "Yl Yiu5 Yg Yaai2"),
    ],
)
def test_hand_checked_phones(text: str, expected: str) -> None:
    assert phones(text) == expected.split()


@needs_tojyutping
def test_one_token_per_normalised_character() -> None:
    text = "你好，香港！"
    tokens = yue.g2p(text)
    assert [t.surface for t in tokens] == list(yue.normalize(text))
    assert [len(t.phones) for t in tokens] == [2, 2, 1, 2, 2, 1]
    assert tokens[2] == Token(",", (",",), "yue", "punct")
    assert tokens[0] == Token("你", ("Yn", "Yei5"), "yue", "g2p")


@needs_tojyutping
def test_numbers() -> None:
    assert phones("3個") == "Ys Yaam1 Yg Yo3".split()
    assert phones("10") == "Ys Yap6".split()
    assert len(yue.g2p("2024年")) == 5


@needs_tojyutping
def test_empty_input() -> None:
    assert yue.g2p("") == []
    assert yue.g2p("ABC") == []


@needs_tojyutping
def test_readings_outside_inventory_become_unk() -> None:
    # 骯 is ong1: upstream splits it into Yong + Yg1, and Yong is not a v2 phone (upstream read UNK).
    assert phones("骯") == ["UNK", "Yg1"]


@needs_tojyutping
def test_every_phone_is_in_the_v2_inventory() -> None:
    inventory = set(symbols("v2"))
    text = "佢個鋤頭太短啦。我哋今日去咗飲茶，食咗好多嘢！你幾時返嚟？一千二百三十四蚊…"
    produced = phones(text)
    assert produced
    assert set(produced) <= inventory


@needs_tojyutping
def test_normalize_is_idempotent_for_g2p() -> None:
    text = "今日35度，好熱呀！！"
    assert yue.g2p(yue.normalize(text)) == yue.g2p(text)
