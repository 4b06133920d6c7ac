"""Held-out sentences for checkpoint evaluation: short, everyday, and unlikely to be in a training clip."""

from __future__ import annotations

from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError

# Short (5-9 words), common words the offline recognisers know, varied sounds, no digits or names:
# errors then come from the voice, not from the recogniser or from text normalisation.
DEFAULT_SENTENCES: dict[str, tuple[str, ...]] = {
    "en": (
        "Please close the window before you leave the house.",
        "The little boat drifted slowly across the quiet lake.",
        "We should buy fresh bread and milk on the way home.",
        "My brother found an old map hidden in the attic.",
        "The weather will be warm and sunny tomorrow afternoon.",
    ),
    "zh": (
        "请在出门之前把窗户关好。",
        "小船慢慢地漂过了安静的湖面。",
        "我们回家的路上买点面包和牛奶吧。",
        "我哥哥在阁楼里找到了一张旧地图。",
        "明天下午的天气会很暖和。",
    ),
}


class SentencesError(GPTSoVITSError):
    """No usable held-out sentences."""


def default_sentences(lang: str) -> tuple[str, ...]:
    """The built-in held-out sentences of ``lang`` ("en", "zh"; "all_zh" reads as "zh")."""
    base = lang.removeprefix("all_")
    if base not in DEFAULT_SENTENCES:
        raise SentencesError(
            f"There are no built-in evaluation sentences for language {lang!r} (only "
            f"{', '.join(DEFAULT_SENTENCES)}); give your own with --sentences FILE (one sentence a line)."
        )
    return DEFAULT_SENTENCES[base]


def read_sentences(path: str | Path) -> tuple[str, ...]:
    """One sentence a line; blank lines and lines starting with ``#`` are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise SentencesError(f"Cannot read the sentences file {path}: {exc}") from None
    sentences = tuple(s.strip() for s in lines if s.strip() and not s.strip().startswith("#"))
    if not sentences:
        raise SentencesError(f"{path} holds no sentences: write one sentence a line.")
    return sentences
