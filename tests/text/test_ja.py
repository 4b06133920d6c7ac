"""Japanese front end: Open JTalk phones with the v2 prosody marks (needs the 'ja' extra)."""

from __future__ import annotations

import sys

import pytest

from gpt_sovits.errors import MissingExtraError
from gpt_sovits.text import ja
from gpt_sovits.text.symbols import symbols
from gpt_sovits.text.tokens import Token

needs_pyopenjtalk = pytest.mark.skipif(
    not ja.available(), reason='pyopenjtalk-plus is not installed (python -m pip install -e ".[ja]")'
)


def phones(text: str) -> list[str]:
    return [p for t in ja.g2p(text) for p in t.phones]


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    ja._pyopenjtalk.cache_clear()
    monkeypatch.setitem(sys.modules, "pyopenjtalk", None)
    assert not ja.available()
    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[ja\]"') as info:
        ja.g2p("こんにちは")
    assert info.value.extra == "ja"
    ja._pyopenjtalk.cache_clear()


def test_normalize_needs_no_package() -> None:
    assert ja.normalize("「こんにちは」、元気？！") == "こんにちは,元気?"
    assert ja.normalize("待って……") == "待って…"
    assert ja.normalize("1,000円") == "1000円"
    assert ja.normalize("50％") == "50パーセント"
    assert ja.normalize("") == ""


@needs_pyopenjtalk
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("こんにちは", "k o [ N n i ch i w a"),
        ("ありがとう", "a [ r i ] g a t o o"),
        ("東京", "t o [ o ky o o"),
        ("本当", "h o [ N t o o"),
        ("テスト", "t e ] s u t o"),
        ("ちょっと待って", "ch o ] cl t o UNK m a ] cl t e"),
        ("今日はいい天気ですね", "ky o ] o w a UNK i [ i UNK t e ] N k i d e s u n e"),
        ("東京タワーに行きましょう", "t o [ o ky o o t a ] w a a n i UNK i [ k i m a sh o ] o"),
        ("元気", "g e ] N k i"),
    ],
)
def test_hand_checked_phones(text: str, expected: str) -> None:
    # '#' (accent-phrase border) is read as UNK, exactly as upstream v2's clean_text did.
    assert phones(text) == expected.split()


@needs_pyopenjtalk
def test_tokens_per_accent_phrase() -> None:
    tokens = ja.g2p("今日はいい天気ですね。")
    assert [t.surface for t in tokens] == ["今日は", "いい", "天気ですね", "."]
    assert tokens[-1] == Token(".", (".",), "ja", "punct")
    assert all(t.lang == "ja" for t in tokens)


@needs_pyopenjtalk
def test_numbers_are_read() -> None:
    assert phones("2024年") == "n i [ s e ] N UNK n i ] j u u UNK y o [ n e N".split()
    assert phones("1,000円") == "s e [ N e N".split()
    # The decimal point stays inside the number: さんてんいちよん.
    assert phones("3.14")[:6] == ["s", "a", "[", "N", "t", "e"]


@needs_pyopenjtalk
def test_punctuation_tokens() -> None:
    tokens = ja.g2p("「こんにちは」、元気？！")
    assert [t.surface for t in tokens] == ["こんにちは", ",", "元気", "?"]
    assert [t.source for t in tokens] == ["g2p", "punct", "g2p", "punct"]


@needs_pyopenjtalk
def test_empty_and_mark_only_input() -> None:
    assert ja.g2p("") == []
    assert ja.g2p("   ") == []
    assert ja.g2p("。") == [Token(".", (".",), "ja", "punct")]


@needs_pyopenjtalk
def test_every_phone_is_in_the_v2_inventory() -> None:
    inventory = set(symbols("v2"))
    text = "吾輩は猫である。名前はまだ無い！hello世界、2024年3.5%、ぎゃぴゅびょりゃ？ヴァイオリン…"
    produced = phones(text)
    assert produced
    assert set(produced) <= inventory


@needs_pyopenjtalk
def test_normalize_is_idempotent_for_g2p() -> None:
    text = "「東京」へ、50%の確率で行く！！"
    assert ja.g2p(ja.normalize(text)) == ja.g2p(text)
