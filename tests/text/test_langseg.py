"""Language segmentation under the GPT-SoVITS language modes."""

from __future__ import annotations

import pytest

from gpt_sovits.text.langseg import LANG_MODES, segment


def runs(text: str, mode: str) -> list[tuple[str, str]]:
    out, _ = segment(text, mode)
    return [(r.lang, r.text) for r in out]


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    [
        ("我买了iPhone 15，很好用。", "auto", [("zh", "我买了"), ("en", "iPhone 15，"), ("zh", "很好用。")]),
        ("我买了iPhone 15，很好用。", "zh", [("zh", "我买了"), ("en", "iPhone 15，"), ("zh", "很好用。")]),
        ("今天是2024年3月5日", "zh", [("zh", "今天是2024年3月5日")]),
        ("I have 3 apples.", "en", [("en", "I have 3 apples.")]),
        ("こんにちは、東京タワーです。", "auto", [("ja", "こんにちは、東京タワーです。")]),
        ("안녕하세요 hello 你好", "auto", [("ko", "안녕하세요 "), ("en", "hello "), ("zh", "你好")]),
        (
            "我的GPU是RTX 4090",
            "auto_yue",
            [("yue", "我的"), ("en", "GPU"), ("yue", "是"), ("en", "RTX 4090")],
        ),
        ("约3.5km", "auto", [("zh", "约3.5km")]),
        ("价格是¥12.50元", "zh", [("zh", "价格是¥12.50元")]),
        ("Hello 世界", "all_zh", [("en", "Hello "), ("zh", "世界")]),
        ("Hello 世界", "en", [("en", "Hello ")]),
        ("東京でAIを学ぶ", "all_ja", [("ja", "東京でAIを学ぶ")]),
        ("東京でAIを学ぶ", "ja", [("ja", "東京で"), ("en", "AI"), ("ja", "を学ぶ")]),
        ("你好世界", "yue", [("yue", "你好世界")]),
        ("서울 Seoul", "all_ko", [("ko", "서울 Seoul")]),
    ],
)
def test_segments(text, mode, expected):
    assert runs(text, mode) == expected


def test_dropped_characters_reported():
    out, dropped = segment("😀你好🌍", "zh")
    assert [(r.lang, r.text) for r in out] == [("zh", "你好")]
    assert dropped == ["😀", "🌍"]
    out, dropped = segment("Привет мир", "auto")
    assert out == [] and dropped == ["Привет", "мир"]


def test_kana_dropped_in_chinese_mode():
    out, dropped = segment("你好こんにちは", "zh")
    assert [(r.lang, r.text) for r in out] == [("zh", "你好")]
    assert dropped == ["こんにちは"]


def test_every_mode_accepts_empty_text():
    for mode in LANG_MODES:
        assert segment("", mode) == ([], [])


def test_unknown_mode():
    with pytest.raises(ValueError, match="auto"):
        segment("x", "klingon")
