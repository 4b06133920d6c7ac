"""Long-text splitting: the six GPT-SoVITS methods and the length-bounded splitter."""

from __future__ import annotations

import pytest

from gpt_sovits.text.split import SPLIT_METHODS, split_text

ZH = "你好，我是小明。你好，我是小红。你好，我是小刚。你好，我是小张。你好，我是小李。"


def test_cut0_keeps_text_whole():
    assert split_text(ZH, "cut0") == [ZH]


def test_cut1_groups_four_sentences():
    # GPT-SoVITS counts every , and 。 as a sentence end: 10 pieces -> groups of 4, 4, 2.
    assert split_text(ZH, "cut1") == [
        "你好，我是小明。你好，我是小红。",
        "你好，我是小刚。你好，我是小张。",
        "你好，我是小李。",
    ]


def test_cut2_about_fifty_characters():
    text = "今天天气很好，我们去公园散步吧。" * 8  # 16 characters per sentence pair
    pieces = split_text(text, "cut2")
    assert "".join(pieces) == text
    assert all(len(p) > 50 for p in pieces[:-1])
    assert len(pieces) == 2  # the short tail (< 50) joins the piece before it


def test_cut3_on_chinese_full_stop():
    assert split_text(ZH, "cut3") == [f"你好，我是小{n}。" for n in "明红刚张李"]


def test_cut4_on_full_stop_not_between_digits():
    text = "Pi is 3.14. It is cold. Version 2.0.1 is out."
    assert split_text(text, "cut4") == ["Pi is 3.14.", "It is cold.", "Version 2.0.1 is out."]


def test_cut5_every_mark_but_not_numbers():
    text = "价格是1,000.50元，温度是3.5度。时间12:30！好吗？"
    assert split_text(text, "cut5") == ["价格是1,000.50元，", "温度是3.5度。", "时间12:30！", "好吗？"]


def test_no_method_splits_inline_tags():
    text = "我在<银行|yin2 hang2>。工作{n i3 , h ao3}好。Read <read|R EH1 D>. Done."
    for method in SPLIT_METHODS:
        for piece in split_text(text, method, max_chars=10 if method == "length" else None):
            assert piece.count("<") == piece.count(">"), (method, piece)
            assert piece.count("{") == piece.count("}"), (method, piece)


def test_length_bound_respected_and_lossless():
    text = "This is a rather long sentence without many commas that goes on and on and on. Short one. " * 3
    pieces = split_text(text, "length", max_chars=40)
    assert all(len(p) <= 40 for p in pieces)
    assert "".join(text.split()) == "".join("".join(pieces).split())


def test_length_never_cuts_a_number():
    text = "The total was 1,234,567.89 dollars and 3.14159265 more."
    for n in range(8, 30):
        pieces = split_text(text, "length", max_chars=n)
        joined = " ".join(pieces)
        assert "1,234,567.89" in joined and "3.14159265" in joined, (n, pieces)


@pytest.mark.parametrize("method", SPLIT_METHODS)
def test_silent_pieces_dropped(method):
    assert split_text("。。。，，！", method) == []
    assert split_text("", method) == []


def test_unknown_method():
    with pytest.raises(ValueError, match="cut9"):
        split_text("abc", "cut9")
