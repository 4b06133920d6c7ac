"""Pronunciation control: inline tags, replacement dictionaries, their order, and the preview."""

from __future__ import annotations

import json

import pytest

from gpt_sovits.errors import TextError
from gpt_sovits.text import Dictionary, FrontEnd, TextOptions
from gpt_sovits.text.symbols import symbols


def tokens(text: str, *dicts: Dictionary, mode: str = "auto", front: FrontEnd | None = None):
    result = (front or FrontEnd()).process(text, TextOptions(lang_mode=mode), dicts)
    return [(t.surface, " ".join(t.phones), t.source) for seg in result.segments for t in seg.tokens]


def token_of(text: str, surface: str, *dicts: Dictionary, mode: str = "auto"):
    found = [t for t in tokens(text, *dicts, mode=mode) if t[0] == surface]
    assert found, f"{surface!r} not in {tokens(text, *dicts, mode=mode)}"
    return found


def dict_of(tmp_path, *lines: str, name: str = "d.jsonl") -> Dictionary:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Dictionary.load(p)


# --- inline tags -------------------------------------------------------------------------------


def test_inline_pinyin_forces_character():
    assert token_of("我去银<行|xing2>", "行") == [("行", "x ing2", "inline")]


def test_inline_pinyin_is_not_changed_by_sandhi():
    # 你好 would become n i2 h ao3 by third-tone sandhi; forcing ni3 keeps the third tone.
    assert token_of("<你|ni3>好", "你") == [("你", "n i3", "inline")]


def test_inline_pinyin_several_characters():
    assert tokens("<行长|hang2 zhang3>") == [("行", "h ang2", "inline"), ("长", "zh ang3", "inline")]


def test_inline_arpabet_forces_word():
    assert token_of("I <read|R EH1 D> it yesterday.", "read") == [("read", "R EH1 D", "inline")]


def test_inline_raw_phones_inserted():
    result = FrontEnd().process("你好{n i3 h ao3}", TextOptions())
    raw = [s for s in result.segments if s.lang == "phones"]
    assert [s.phones for s in raw] == [("n", "i3", "h", "ao3")]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("你好{n i3 xx}", "'xx' (phone 3 of 3)"),
        ("<行|hang9>", "hang9"),
        ("<行长|hang2>", "2 character(s) but 1 pinyin"),
        ("<read|R EHX D>", "'EHX' (phone 2 of 3)"),
        ("<read|>", "<text|pronunciation>"),
        ("{}", "empty"),
    ],
)
def test_inline_errors_name_the_problem(text, fragment):
    with pytest.raises(TextError) as exc:
        FrontEnd().process(text)
    assert fragment in str(exc.value)
    assert "character 0" in str(exc.value) or text.startswith("你好")


def test_inline_error_gives_position():
    with pytest.raises(TextError, match="at character 2"):
        FrontEnd().process("你好{n i3 xx}")


# --- dictionaries ------------------------------------------------------------------------------


def test_glm_surface_to_pinyin(tmp_path):
    d = dict_of(tmp_path, '{"行长": "hang2 zhang3"}')
    assert token_of("他是行长", "行", d) == [("行", "h ang2", "dict:d.jsonl:1")]
    assert token_of("他是行长", "长", d) == [("长", "zh ang3", "dict:d.jsonl:1")]


def test_glm_phoneme_tokens(tmp_path):
    d = dict_of(tmp_path, '{"长大": "<|ZH|><|ANG3|><|D|><|A4|>"}', '{"鬓毛衰": "鬓毛<|C|><|UEI1|>"}')
    got = tokens("孩子长大了，鬓毛衰", d)
    assert ("长", "zh ang3", "dict:d.jsonl:1") in got
    assert ("大", "d a4", "dict:d.jsonl:1") in got
    assert ("衰", "c ui1", "dict:d.jsonl:2") in got
    assert ("鬓", "b in4", "dict:d.jsonl:2") in got  # literal characters keep the default reading


def test_context_entry_applies_only_in_context(tmp_path):
    d = dict_of(tmp_path, '{"word": "行", "context": "工行", "phoneme": "hang2"}')
    got = tokens("工行的人行走", d)
    assert got[1] == ("行", "h ang2", "dict:d.jsonl:1")
    assert ("行", "x ing2", "g2p") in got  # 行走 is untouched
    assert got[0] == ("工", "g ong1", "g2p")  # the rest of the context is read normally


def test_longest_match_wins(tmp_path):
    d = dict_of(tmp_path, '{"行": "xing2"}', '{"银行": "yin2 hang2"}')
    got = tokens("银行行", d)
    assert got[1] == ("行", "h ang2", "dict:d.jsonl:2")
    assert got[2] == ("行", "x ing2", "dict:d.jsonl:1")


def test_later_dictionary_wins(tmp_path):
    g = dict_of(tmp_path, '{"行": "hang2"}', name="global.jsonl")
    r = dict_of(tmp_path, '{"行": "xing2"}', name="request.jsonl")
    assert tokens("行", g, r) == [("行", "x ing2", "dict:request.jsonl:1")]
    assert tokens("行", r, g) == [("行", "h ang2", "dict:global.jsonl:1")]
    # The front end's own dictionaries (global, voice) come before the request's.
    assert tokens("行", r, front=FrontEnd([g])) == [("行", "x ing2", "dict:request.jsonl:1")]


def test_later_line_wins_within_a_file(tmp_path):
    d = dict_of(tmp_path, '{"行": "hang2"}', '{"行": "xing2"}')
    assert tokens("行", d) == [("行", "x ing2", "dict:d.jsonl:2")]


def test_inline_wins_over_dictionary(tmp_path):
    d = dict_of(tmp_path, '{"行": "xing2"}')
    assert tokens("<行|hang2>", d) == [("行", "h ang2", "inline")]


def test_text_replacement_and_word_boundaries(tmp_path):
    d = dict_of(tmp_path, '{"AI": "人工智能"}')
    got = tokens("AI很强", d)
    assert [t[0] for t in got[:4]] == list("人工智能")
    assert {t[2] for t in got[:4]} == {"dict:d.jsonl:1"}
    # "AI" inside a word is not replaced.
    assert all(t[2] == "g2p" for t in tokens("He SAID so", d) if t[0])


def test_arpabet_replacement(tmp_path):
    d = dict_of(tmp_path, '{"GIF": "JH IH1 F"}')
    assert token_of("a GIF file", "GIF", d) == [("GIF", "JH IH1 F", "dict:d.jsonl:1")]


def test_malformed_lines_are_reported_and_skipped(tmp_path):
    d = dict_of(
        tmp_path,
        '{"银行": "yin2 hang2"}',
        "{not json",
        '["a list"]',
        '{"行长": "hang2"}',
        '{"行": "hang9"}',
        '{"word": "行", "context": "银子", "phoneme": "hang2"}',
        '{"好": "hao3"}',
    )
    assert [(i.line, i.path.endswith("d.jsonl")) for i in d.issues] == [
        (2, True),
        (3, True),
        (4, True),
        (5, True),
        (6, True),
    ]
    assert "not valid JSON" in str(d.issues[0])
    assert "hang9" in str(d.issues[3])
    assert "does not occur" in str(d.issues[4])
    result = FrontEnd().process("银行好", TextOptions(), [d])
    assert [t.source for t in result.segments[0].tokens] == ["dict:d.jsonl:1"] * 2 + ["dict:d.jsonl:7"]
    assert any("d.jsonl:2" in w for w in result.warnings)


def test_missing_dictionary_file(tmp_path):
    with pytest.raises(TextError, match="nope.jsonl"):
        Dictionary.load(tmp_path / "nope.jsonl")


# --- segments, preview, bad input -------------------------------------------------------------


def test_mixed_segments_are_consistent():
    result = FrontEnd().process("我今天买了3个iPhone，花了$1,999。Read it!", TextOptions(split="cut5"))
    inventory = set(symbols("v2"))
    table = {s: i for i, s in enumerate(symbols("v2"))}
    for seg in result.segments:
        assert set(seg.phones) <= inventory
        assert list(seg.ids) == [table[p] for p in seg.phones]
        if seg.lang == "zh":
            assert len(seg.word2ph) == len(seg.norm_text)
            assert sum(seg.word2ph) == len(seg.phones)
    assert {s.lang for s in result.segments} == {"zh", "en"}


def test_preview_lists_rule_per_token(tmp_path):
    d = dict_of(tmp_path, '{"行长": "hang2 zhang3"}')
    rows = FrontEnd().preview("<你|ni3>是行长, OK", TextOptions(), [d])
    assert [(r.surface, r.rule) for r in rows if r.surface in ("你", "行", "是")] == [
        ("你", "inline"),
        ("是", "g2p"),
        ("行", "dict:d.jsonl:1"),
    ]
    assert any(r.lang == "en" for r in rows)


@pytest.mark.parametrize("text", ["", "   ", "。，！？", "😀🎉", "Привет мир"])
def test_nothing_to_speak_is_a_clear_error(text):
    with pytest.raises(TextError) as exc:
        FrontEnd().process(text)
    assert "empty" in str(exc.value) or "nothing to speak" in str(exc.value)


def test_unsupported_characters_are_named():
    with pytest.raises(TextError, match="Привет"):
        FrontEnd().process("Привет")
    result = FrontEnd().process("你好😀世界")
    assert any("😀" in w for w in result.warnings)
    assert "".join(result.segments[0].norm_text) == "你好世界"


def test_v1_cannot_speak_korean():
    with pytest.raises(TextError, match="v1"):
        FrontEnd().process("안녕하세요", TextOptions(version="v1"))


def test_unknown_mode_is_text_error():
    with pytest.raises(TextError, match="klingon"):
        FrontEnd().process("hi", TextOptions(lang_mode="klingon"))


def test_cli_json(tmp_path):
    import subprocess
    import sys

    d = tmp_path / "d.jsonl"
    d.write_text('{"行长": "hang2 zhang3"}\n', encoding="utf-8")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpt_sovits.text",
            "--lang",
            "auto",
            "--text",
            "行长说：Hello world。你好！",
            "--dict",
            str(d),
            "--split",
            "cut5",
            "--version",
            "v2",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    segs = json.loads(out.stdout)
    assert {"sentence", "lang", "norm_text", "phones", "ids", "word2ph", "tokens"} <= set(segs[0])
    assert segs[0]["tokens"][0]["source"] == "dict:d.jsonl:1"
    assert [s["lang"] for s in segs] == ["zh", "en", "zh"]
    assert sorted({s["sentence"] for s in segs}) == [0, 1, 2]


def test_cli_bad_input_is_a_message_not_a_traceback():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "gpt_sovits.text", "--text", "{n i3 xx}"], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "xx" in out.stderr and "Traceback" not in out.stderr


def test_huge_text_is_processed():
    base = "2024年3月5日，我在银行取了1,250.50元。The weather was great, so we walked 3.5 km. "
    text = (base * (100_000 // len(base) + 1))[:100_000]
    result = FrontEnd().process(text, TextOptions(split="cut5"))
    assert len(result.sentences) > 1000
    assert sum(len(s.phones) for s in result.sentences) > 100_000
