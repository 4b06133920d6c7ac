"""Korean front end: g2pk2 pronunciation as v2 jamo phones (needs the 'ko' extra)."""

from __future__ import annotations

import sys

import pytest

from gpt_sovits.errors import MissingExtraError
from gpt_sovits.text import ko
from gpt_sovits.text.symbols import symbols
from gpt_sovits.text.tokens import Token

needs_g2pk2 = pytest.mark.skipif(
    not ko.available(),
    reason='g2pk2, jamo or python-mecab-ko is not installed (python -m pip install -e ".[ko]")',
)


def phones(text: str) -> str:
    return "".join(p for t in ko.g2p(text) for p in t.phones)


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    ko._converter.cache_clear()
    for name in ("g2pk2", "g2pk2.g2pk2", "mecab"):
        monkeypatch.setitem(sys.modules, name, None)
    assert not ko.available()
    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[ko\]"') as info:
        ko.g2p("안녕하세요")
    assert info.value.extra == "ko"
    ko._converter.cache_clear()


@pytest.mark.parametrize(
    ("number", "sino", "native"),
    [
        ("0", "영", "영"),
        ("10", "십", "열"),
        ("20", "이십", "스무"),
        ("11", "십일", "열한"),
        ("10000", "만", "만"),
    ],
)
def test_number_readings(number: str, sino: str, native: str) -> None:
    assert ko.sino_number(number) == sino
    assert ko.native_number(number) == native


def test_normalize_needs_no_package() -> None:
    assert ko.normalize("나는 1,000원이 있어요") == "나는 천원이 있어요"
    assert ko.normalize("3개를 샀다") == "세개를 샀다"
    assert ko.normalize("2024년 10월 6일") == "이천이십사년 시월 육일"
    assert ko.normalize("3.14") == "삼점일사"
    assert ko.normalize("50%") == "오십퍼센트"
    assert ko.normalize("ABC 방송") == "에이비시 방송"
    assert ko.normalize("“한국”！！") == "한국!"
    assert ko.normalize("") == ""


@needs_g2pk2
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("안녕하세요", "ㅇㅏㄴㄴㅣㅓㅇㅎㅏㅅㅔㅇㅣㅗ."),
        ("감사합니다", "ㄱㅏㅁㅅㅏㅎㅏㅁㄴㅣㄷㅏ."),
        ("한국어", "ㅎㅏㄴㄱㅜㄱㅓ."),
        ("읽다", "ㅇㅣㄱㄸㅏ."),
        ("같이", "ㄱㅏㅊㅣ."),  # palatalisation
        ("신라", "ㅅㅣㄹㄹㅏ."),  # liquidisation
        ("국물", "ㄱㅜㅇㅁㅜㄹ."),  # nasalisation
        ("의사", "ㅇㅡㅣㅅㅏ."),  # compound vowel split
        ("좋아요", "ㅈㅗㅇㅏㅇㅣㅗ."),
    ],
)
def test_hand_checked_phones(text: str, expected: str) -> None:
    assert phones(text) == expected


@needs_g2pk2
def test_tokens_words_spaces_and_punctuation() -> None:
    tokens = ko.g2p("안녕하세요! 반갑습니다.")
    assert [t.surface for t in tokens] == ["안녕하세요", "!", " ", "반갑습니다", "."]
    assert tokens[1] == Token("!", ("!",), "ko", "punct")
    assert tokens[2].phones == ("空",)
    assert "".join(tokens[3].phones) == "ㅂㅏㄴㄱㅏㅂㅆㅡㅁㄴㅣㄷㅏ"


@needs_g2pk2
def test_text_ending_in_a_word_gets_a_final_period() -> None:
    tokens = ko.g2p("사랑해")
    assert tokens[-1] == Token("", (".",), "ko", "punct")


@needs_g2pk2
def test_numbers_and_latin() -> None:
    assert phones("3개") == "ㅅㅔㄱㅐ."
    assert phones("1,000원") == "ㅊㅓㄴㅜㅓㄴ."
    assert phones("ABC") == "ㅇㅔㅇㅣㅂㅣㅅㅣ."


@needs_g2pk2
def test_empty_input() -> None:
    assert ko.g2p("") == []
    assert ko.g2p("   ") == []


@needs_g2pk2
def test_every_phone_is_in_the_v2_inventory() -> None:
    inventory = set(symbols("v2"))
    text = "오늘 날씨가 좋네요! 꽃잎이 떨어졌다, 값이 얼마예요? 의사 선생님… 3마리, 25살, ABC."
    tokens = ko.g2p(text)
    produced = [p for t in tokens for p in t.phones]
    assert set(produced) <= inventory
    assert "停" not in produced


@needs_g2pk2
def test_normalize_is_idempotent_for_g2p() -> None:
    text = "오늘은 2024년 3월, 날씨가 좋네요!!"
    assert ko.g2p(ko.normalize(text)) == ko.g2p(text)
