"""The text front end: text in, phones (per language segment, per sentence) out.

Pronunciation control is applied in this order: inline tags (:mod:`.inline`), replacement
dictionaries (:mod:`.dictionary`), then the default normaliser and G2P of each language. Every token
carries the rule that produced its phones, which :func:`FrontEnd.preview` shows.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType

from gpt_sovits.errors import TextError
from gpt_sovits.text.dictionary import Dictionary, DictionaryStack
from gpt_sovits.text.inline import parse_inline
from gpt_sovits.text.langseg import LANG_MODES, segment
from gpt_sovits.text.split import split_text
from gpt_sovits.text.symbols import symbol_to_id
from gpt_sovits.text.tokens import PUNCTUATION, Token
from gpt_sovits.text.units import Locked, Plain, Unit

log = logging.getLogger(__name__)

_LANG_MODULES = {
    "zh": "gpt_sovits.text.zh",
    "en": "gpt_sovits.text.en",
    "ja": "gpt_sovits.text.ja",
    "yue": "gpt_sovits.text.yue",
    "ko": "gpt_sovits.text.ko",
}
# v1 models were trained on Chinese, English and Japanese only.
_V1_LANGS = frozenset({"zh", "en", "ja", "phones"})


def language_module(lang: str) -> ModuleType:
    """The front-end module of ``lang`` (imported on first use)."""
    return importlib.import_module(_LANG_MODULES[lang])


@dataclass(frozen=True)
class TextOptions:
    """How to read a text: language mode, model version and long-text splitting."""

    lang_mode: str = "auto"
    version: str = "v2"
    split: str = "cut0"
    max_chars: int | None = None


@dataclass(frozen=True)
class Segment:
    """A run of one language inside a sentence, as the models consume it.

    ``word2ph`` has one entry per character of ``norm_text`` for Chinese and Cantonese (the BERT
    features are repeated by it) and is None for languages without BERT features.
    """

    lang: str
    norm_text: str
    phones: tuple[str, ...]
    ids: tuple[int, ...]
    word2ph: tuple[int, ...] | None
    tokens: tuple[Token, ...]
    sentence: int = 0

    def to_dict(self) -> dict:
        return {
            "sentence": self.sentence,
            "lang": self.lang,
            "norm_text": self.norm_text,
            "phones": list(self.phones),
            "ids": list(self.ids),
            "word2ph": None if self.word2ph is None else list(self.word2ph),
            "tokens": [
                {"surface": t.surface, "lang": t.lang, "phones": list(t.phones), "source": t.source}
                for t in self.tokens
            ],
        }


@dataclass(frozen=True)
class Sentence:
    """One piece of the split text and its language segments."""

    index: int
    text: str
    segments: tuple[Segment, ...]

    @property
    def phones(self) -> tuple[str, ...]:
        return tuple(p for s in self.segments for p in s.phones)

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(i for s in self.segments for i in s.ids)


@dataclass(frozen=True)
class PreviewRow:
    """One line of the pronunciation preview."""

    sentence: int
    surface: str
    lang: str
    phones: str
    rule: str


@dataclass(frozen=True)
class TextResult:
    """Everything the front end produced for one text."""

    sentences: tuple[Sentence, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(s for sent in self.sentences for s in sent.segments)

    def preview(self) -> list[PreviewRow]:
        """Per token: surface text, language, phones and the rule that produced them."""
        return [
            PreviewRow(seg.sentence, t.surface, t.lang, " ".join(t.phones), t.source)
            for seg in self.segments
            for t in seg.tokens
        ]


class FrontEnd:
    """Text to phones with stacked pronunciation dictionaries.

    ``dictionaries`` are the long-lived ones (global, then per voice); each call may add per-request
    dictionaries, which win over them.
    """

    def __init__(self, dictionaries: Sequence[Dictionary] = ()) -> None:
        self.dictionaries = tuple(dictionaries)

    def process(
        self, text: str, options: TextOptions = TextOptions(), request_dictionaries: Sequence[Dictionary] = ()
    ) -> TextResult:
        """Split, normalise and convert ``text``. Raises :class:`TextError` for text with nothing to speak."""
        if options.lang_mode not in LANG_MODES:
            raise TextError(
                f"Unknown language mode {options.lang_mode!r}; choose one of {', '.join(LANG_MODES)}."
            )
        if not text or not text.strip():
            raise TextError("The text is empty: type the words to speak.")
        stack = DictionaryStack((*self.dictionaries, *request_dictionaries))
        warnings = [f"dictionary line skipped: {issue}" for issue in stack.issues]
        sentences: list[Sentence] = []
        dropped: list[str] = []
        try:
            pieces = split_text(text, options.split, options.max_chars)
        except ValueError as exc:
            raise TextError(str(exc)) from None
        for piece in pieces:
            units = stack.apply(parse_inline(piece, options.version))
            segments = self._convert(units, options, len(sentences), dropped)
            if segments:
                sentences.append(Sentence(len(sentences), piece, tuple(segments)))
        if dropped:
            shown = "".join(dict.fromkeys("".join(dropped)))[:40]
            warnings.append(
                f"characters that no language of mode {options.lang_mode!r} reads were skipped: {shown}"
            )
        if not sentences:
            detail = f" (skipped characters: {shown})" if dropped else ""
            raise TextError(
                f"The text has nothing to speak: only punctuation or unsupported characters{detail}."
            )
        for w in warnings:
            log.warning("%s", w)
        return TextResult(tuple(sentences), tuple(warnings))

    def preview(
        self, text: str, options: TextOptions = TextOptions(), request_dictionaries: Sequence[Dictionary] = ()
    ) -> list[PreviewRow]:
        """The pronunciation preview of ``text`` (see :meth:`TextResult.preview`)."""
        return self.process(text, options, request_dictionaries).preview()

    def _convert(
        self, units: list[Unit], options: TextOptions, index: int, dropped: list[str]
    ) -> list[Segment]:
        groups: list[tuple[str, list[Unit]]] = []
        for lang, unit in _assign_languages(units, options.lang_mode, dropped):
            if groups and groups[-1][0] == lang and lang != "phones":
                groups[-1][1].append(unit)
            else:
                groups.append((lang, [unit]))
        segments = []
        for lang, group in groups:
            if options.version == "v1" and lang not in _V1_LANGS:
                raise TextError(f"v1 models cannot speak {lang!r}; use a v2 model or another language mode.")
            seg = _convert_group(lang, group, options.version, index)
            if seg is not None:
                segments.append(seg)
        return segments


def _assign_languages(units: list[Unit], mode: str, dropped: list[str]) -> list[tuple[str, Unit]]:
    out: list[tuple[str, Unit]] = []
    for u in units:
        if isinstance(u, Locked):
            out.append((u.lang, u))
            continue
        runs, lost = segment(u.text, mode)
        dropped.extend(lost)
        out.extend((r.lang, Plain(r.text, u.source)) for r in runs)
    return out


def _label(token: Token, source: str) -> Token:
    """A token from a dictionary substitution or a locked unit carries that rule's label (not punctuation)."""
    return token if source == "g2p" or token.source == "punct" else token.with_source(source)


def _convert_group(lang: str, units: list[Unit], version: str, index: int) -> Segment | None:
    if lang == "phones":
        (u,) = units
        assert isinstance(u, Locked) and u.phones is not None
        tokens = [Token("", u.phones, "phones", u.source)]
        return _segment(lang, "", tokens, None, version, index)
    if lang == "zh":
        return _convert_zh(units, version, index)
    mod = language_module(lang)
    tokens: list[Token] = []
    norm_parts: list[str] = []
    for u in units:
        if isinstance(u, Locked):
            assert u.phones is not None
            tokens.append(Token(u.surface, u.phones, lang, u.source))
            norm_parts.append(u.surface)
        else:
            norm = mod.normalize(u.text)
            norm_parts.append(norm)
            tokens.extend(_label(t, u.source) for t in mod.g2p(norm))
    sep = " " if lang in ("en", "ko") else ""
    norm_text = sep.join(p.strip() for p in norm_parts if p.strip())
    if lang == "en" and tokens and sum(len(t.phones) for t in tokens) < 4:
        # GPT-SoVITS pads very short English segments with a leading comma (the models expect it).
        tokens.insert(0, Token("", (",",), "en", "rule:short-en-pad"))
    word2ph = tuple(len(t.phones) for t in tokens) if lang == "yue" else None
    return _segment(lang, norm_text, tokens, word2ph, version, index)


def _convert_zh(units: list[Unit], version: str, index: int) -> Segment | None:
    zh = language_module("zh")
    chars: list[str] = []
    sources: list[str] = []
    forced: dict[int, str] = {}
    for u in units:
        if isinstance(u, Locked):
            assert u.pinyin is not None
            for ch, syl in zip(u.surface, u.pinyin):
                forced[len(chars)] = syl
                chars.append(ch)
                sources.append(u.source)
        else:
            norm = zh.normalize(u.text)
            chars.extend(norm)
            sources.extend([u.source] * len(norm))
    text = "".join(chars)
    tokens = zh.g2p(text, forced)
    if len(tokens) != len(text):
        raise AssertionError("Chinese G2P must return one token per character")
    tokens = [_label(t, src) for t, src in zip(tokens, sources)]
    return _segment("zh", text, tokens, tuple(len(t.phones) for t in tokens), version, index)


def _segment(
    lang: str, norm_text: str, tokens: list[Token], word2ph: tuple[int, ...] | None, version: str, index: int
) -> Segment | None:
    phones = [p for t in tokens for p in t.phones]
    if not phones or all(p in PUNCTUATION for p in phones) and lang != "phones":
        return None
    table = symbol_to_id(version)
    unknown = sorted({p for p in phones if p not in table})
    if unknown:
        # G2P output outside the inventory is a bug in a language module; upstream maps it to UNK.
        log.warning("phones not in the %s inventory were read as UNK: %s", version, unknown)
        phones = [p if p in table else "UNK" for p in phones]
    return Segment(
        lang, norm_text, tuple(phones), tuple(table[p] for p in phones), word2ph, tuple(tokens), index
    )
