"""Text front-end speed: characters per second for a 10,000-character mixed Chinese/English text.

Run: ``python bench/text.py [--chars 10000] [--repeat 3]``. Prints the cold figure (first call, which
loads jieba's dictionary, pypinyin and the CMU dictionary) and the best warm figure.
"""

from __future__ import annotations

import argparse
import logging
import time

from gpt_sovits.text import FrontEnd, TextOptions

PARAGRAPH = (
    "2024年3月5日，我在银行取了1,250.50元，然后去买了一部iPhone 15。"
    "The weather was great, so we walked 3.5 km to the park and read books until 6:30 pm. "
    "他说：“这个行长的长相很重要吗？”我觉得还行，重新开始吧！"
    "Dr. Smith's 2nd lecture on GPT models cost $49.99, and 85% of students liked it. "
    "温度是-3℃，电话是13812345678，体积约为2/3立方米。"
)


def make_text(n_chars: int) -> str:
    reps = n_chars // len(PARAGRAPH) + 1
    return (PARAGRAPH * reps)[:n_chars]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chars", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--split", default="cut5")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    text = make_text(args.chars)
    front = FrontEnd()
    options = TextOptions(lang_mode="auto", split=args.split)

    t0 = time.perf_counter()
    result = front.process(text, options)
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        front.process(text, options)
        warm.append(time.perf_counter() - t0)
    best = min(warm)
    n_phones = sum(len(s.phones) for s in result.sentences)
    print(
        f"text: {len(text)} characters, {len(result.sentences)} sentences, {n_phones} phones (split {args.split})"
    )
    print(f"cold: {cold:.2f} s  -> {len(text) / cold:,.0f} characters/s (includes loading dictionaries)")
    print(f"warm: {best:.2f} s  -> {len(text) / best:,.0f} characters/s (best of {args.repeat})")


if __name__ == "__main__":
    main()
