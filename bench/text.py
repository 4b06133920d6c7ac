"""Text front-end speed: characters per second for a 10,000-character mixed Chinese/English text.

Run: ``python bench/text.py [--chars 10000] [--repeat 3]``. Prints the cold figure (first call, which
loads jieba's dictionary, pypinyin and the CMU dictionary) and the best figure on new texts of the
same kind once those are loaded.
"""

from __future__ import annotations

import argparse
import logging
import random
import time

from gpt_sovits.text import FrontEnd, TextOptions

TEMPLATES = (
    "{y}年{m}月{d}日，我在银行取了{money}元，然后去买了一部iPhone {n}。",
    "The weather was great, so we walked {dec} km to the park and read books until {h}:{mm} pm. ",
    "他说：“这个行长的长相很重要吗？”我觉得还行，重新开始吧！",
    "Dr. Smith's {ord} lecture on GPT models cost ${money}, and {pct}% of students liked it. ",
    "温度是-{n}℃，电话是138{phone}，体积约为{n}/{d}立方米。",
    "我们一起学习了{n}个小时，大家都觉得得到了很多东西。",
    "She will lead the team to the live show on {m}/{d}/{y}, then record {n} new songs. ",
)


def make_text(n_chars: int, seed: int = 0) -> str:
    """A mixed Chinese/English text of ``n_chars`` characters with varied numbers (seeded)."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < n_chars:
        t = rng.choice(TEMPLATES).format(
            y=rng.randint(1950, 2030),
            m=rng.randint(1, 12),
            d=rng.randint(1, 28),
            n=rng.randint(2, 999),
            money=f"{rng.randint(1, 99999):,}.{rng.randint(0, 99):02d}",
            dec=f"{rng.uniform(0, 50):.1f}",
            h=rng.randint(1, 11),
            mm=f"{rng.randint(0, 59):02d}",
            pct=rng.randint(1, 99),
            ord=rng.choice(["1st", "2nd", "3rd", "4th", "21st", "102nd"]),
            phone=rng.randint(10**7, 10**8 - 1),
        )
        parts.append(t)
        total += len(t)
    return "".join(parts)[:n_chars]


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
    for i in range(args.repeat):
        other = make_text(args.chars, seed=i + 1)  # a new text: per-word caches do not help
        t0 = time.perf_counter()
        front.process(other, options)
        warm.append(time.perf_counter() - t0)
    best = min(warm)
    n_phones = sum(len(s.phones) for s in result.sentences)
    print(
        f"text: {len(text)} characters, {len(result.sentences)} sentences, {n_phones} phones (split {args.split})"
    )
    print(f"cold: {cold:.2f} s  -> {len(text) / cold:,.0f} characters/s (includes loading dictionaries)")
    print(
        f"warm: {best:.2f} s  -> {len(text) / best:,.0f} characters/s (best of {args.repeat} new texts, dictionaries loaded)"
    )


if __name__ == "__main__":
    main()
