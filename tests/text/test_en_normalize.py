"""English normalisation: hand-checked expansions (upstream GPT-SoVITS behaviour, fixes noted)."""

from __future__ import annotations

import pytest

from gpt_sovits.text.en import normalize

CASES = [
    # cardinals, comma groups, negatives, decimals
    ("I have 5 apples.", "I have five apples."),
    ("There are 42 of them", "There are forty-two of them"),
    ("105 people", "one hundred five people"),
    ("Just 0 left", "Just zero left"),
    ("1,234,567 people", "one million, two hundred thirty-four thousand, five hundred sixty-seven people"),
    ("about 1,234 votes", "about one thousand, two hundred thirty-four votes"),
    ("It is -5 outside", "It is negative five outside"),
    ("pi is 3.14", "pi is three point one four"),
    ("about .5 of it", "about point five of it"),
    ("3000 miles", "three thousand miles"),
    # years (upstream reads 1001..2999 like a year)
    ("In 1999 we met", "In nineteen ninety-nine we met"),
    ("back in 2005", "back in two thousand five"),
    ("in 2024", "in twenty twenty-four"),
    ("in 1905", "in nineteen oh five"),
    ("in 1900", "in nineteen hundred"),
    ("the year 2000", "the year two thousand"),
    ("the 1990s", "the nineteen nineties"),
    # ordinals
    ("the 1st day", "the first day"),
    ("her 22nd birthday", "her twenty-second birthday"),
    ("the 103rd time", "the one hundred and third time"),
    ("1. Buy milk", "first, Buy milk"),
    # money
    ("It costs $5", "It costs five dollars"),
    ("$1 only", "one dollar only"),
    ("It is $3.50", "It is three dollars and fifty cents"),
    ("just $0.99", "just ninety-nine cents"),
    ("a £2 coin", "a two pounds coin"),
    ("£7.01", "seven pounds and one penny"),
    ("€10 each", "ten euros each"),
    ("a $1.5 million deal", "a one point five million dollars deal"),
    ("$1,500", "one thousand, five hundred dollars"),
    # percentages, fractions, measurements
    ("50% off", "fifty percent off"),
    ("3.5%", "three point five percent"),
    ("3/4 cup", "three fourths cup"),
    ("1/2 and 3/2", "one half and three halves"),
    ("5km away", "five kilometers away"),
    ("1L of water", "one liter of water"),
    ("23°C today", "twenty-three degrees celsius today"),
    # times
    ("at 3:30 pm", "at three thirty P M"),
    ("at 7:05 a.m. sharp", "at seven oh five A M sharp"),
    ("by 15:00", "by three o'clock P M"),
    ("at 3pm.", "at three P M."),
    # abbreviations
    ("Mr. Smith and Mrs. Smith", "Mister Smith and Missus Smith"),
    ("Dr. Who", "Doctor Who"),
    ("St. Louis is on Main St.", "Saint Louis is on Main Street."),
    ("cats vs. dogs", "cats versus dogs"),
    ("apples, pears, etc.", "apples, pears, et cetera."),
    ("pets, e.g. cats", "pets, for example cats"),
    ("one, i.e. this", "one, that is this"),
    ("No. 5 wins", "number five wins"),
    ("the U.S.A. team", "the U S A team"),
    # symbols
    ("salt & pepper", "salt and pepper"),
    ("me @ home", "me at home"),
    ("C++ and 1 + 2 = 3", "C plus plus and one plus two equals three"),
    ("5 - 3", "five minus three"),
    ("#1 fan", "number one fan"),
    # capitals, accents, punctuation
    ("NASA and the FBI", "N A S A and the F B I"),
    ("McDonald's iPhone", "Mc Donald's i Phone"),
    ("café naïve", "cafe naive"),
    ("Wait... what?!", "Wait. what?"),
    ("Hi; there: you", "Hi, there, you"),
    ("Hello — world", "Hello, world"),
    ("I don’t know", "I don't know"),
    ("so… yes", "so. yes"),
    ("Hello , world", "Hello world"),
    ("well - known", "well known"),
    ("line one\nline two", "line one line two"),
    ("  lots   of\tspace  ", "lots of space"),
    ("(brackets) [and] {braces}", "brackets and braces"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_output_alphabet() -> None:
    out = normalize("Tom's 3 cats: 1/3 of $9.99 — 12% (approx.) @ 4:15 pm!?")
    assert set(out) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ '.,?!-")
