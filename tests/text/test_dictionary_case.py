"""Latin dictionary entries match other capitalisations; an exact-case entry wins."""

from gpt_sovits.text.dictionary import Dictionary
from gpt_sovits.text.frontend import FrontEnd, TextOptions


def phones(text: str, *lines: str) -> tuple[str, ...]:
    return FrontEnd([Dictionary.from_lines(lines)]).process(text, TextOptions("en")).sentences[0].phones


def test_sentence_initial_capital_matches_lowercase_entry():
    entry = '{"tomato": "T AH0 M AA1 T OW2"}'
    assert phones("Tomato soup.", entry)[:6] == ("T", "AH0", "M", "AA1", "T", "OW2")
    assert phones("TOMATO soup.", entry)[:6] == ("T", "AH0", "M", "AA1", "T", "OW2")
    assert phones("Tomato soup.")[3] == "EY1"  # without the entry: the default reading


def test_exact_case_entry_wins_and_words_stay_whole():
    lower, upper = '{"us": "AH1 S"}', '{"US": "Y UW1 EH1 S"}'
    assert phones("the US army", lower, upper)[2:6] == ("Y", "UW1", "EH1", "S")
    assert phones("tell us now", lower, upper)[3:5] == ("AH1", "S")
    assert phones("a bus stop", '{"us": "Z IY1"}') == phones("a bus stop")  # not inside "bus"
