"""The unit every language front end returns: one token with its phones and where they came from."""

from __future__ import annotations

from dataclasses import dataclass

# Punctuation marks the GPT-SoVITS inventories know; every other mark is mapped onto these.
PUNCTUATION: tuple[str, ...] = ("!", "?", "…", ",", ".", "-")

# The marks every CJK front end maps the same way onto :data:`PUNCTUATION` (GPT-SoVITS's rep_map core);
# each language adds its own marks to this.
CJK_PUNCT_MAP: dict[str, str] = {
    "：": ",", ":": ",", "；": ",", ";": ",", "，": ",", "、": ",", "·": ",",
    "。": ".", "！": "!", "？": "?", "\n": ".",
}  # fmt: skip


@dataclass(frozen=True)
class Token:
    """One unit of front-end output.

    ``surface`` is the token as it stands in the normalised text: one character for Chinese (so that
    ``word2ph`` has one entry per character), a word for English, Japanese, Korean, a punctuation mark.
    ``phones`` are symbols of the GPT-SoVITS inventory. ``source`` says which rule produced them:
    ``"g2p"`` (the default converter), ``"inline"`` (an inline tag in the text), ``"dict:<file>:<line>"``
    (a replacement dictionary entry) or ``"punct"``.
    """

    surface: str
    phones: tuple[str, ...]
    lang: str
    source: str = "g2p"

    def with_source(self, source: str) -> Token:
        return Token(self.surface, self.phones, self.lang, source)
