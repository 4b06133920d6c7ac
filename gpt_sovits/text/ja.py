"""Japanese front end: Open JTalk (via pyopenjtalk-plus) phones with the GPT-SoVITS v2 prosody marks.

Upstream GPT-SoVITS v2 (``GPT_SoVITS/text/japanese.py``) splits the text at every character that is
not kana, kanji, a Latin letter or a digit, runs each chunk through Open JTalk and turns the full-context
labels into phones plus prosody marks (espnet's ``pyopenjtalk_g2p_prosody``): ``[`` pitch rise,
``]`` pitch fall, ``#`` accent-phrase border, ``_`` pause. ``#`` is not in the v2 inventory, so upstream's
``clean_text`` turned it into ``UNK``; the pretrained models were trained on that, so we emit ``UNK`` too.

One :class:`Token` per accent phrase (a mora group Open JTalk decides) when its words can be lined up
with the text, otherwise one per chunk; one per punctuation mark.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import re
import threading
import unicodedata
from functools import cache
from types import ModuleType
from typing import Any

from gpt_sovits.errors import require_module
from gpt_sovits.text.tokens import CJK_PUNCT_MAP, PUNCTUATION, Token

log = logging.getLogger(__name__)

LANG = "ja"
_FEATURE = "Japanese text (language 'ja')"
_EXTRA = "ja"
_PACKAGES = "pyopenjtalk-plus"

# Characters Open JTalk reads (kana, kanji, iteration mark, Latin, digits, full-width forms); as upstream.
_JA_CHARS = r"A-Za-z\d\u3005\u3040-\u30ff\u4e00-\u9fff\uff11-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9d"
# A chunk is a run of such characters; a decimal point between digits stays inside it so that "3.14"
# is read as a number (upstream split it into "3", ".", "14").
_JA_CHAR_RE = re.compile(rf"[{_JA_CHARS}]")
_CHUNK_RE = re.compile(rf"(?:[{_JA_CHARS}]|(?<=\d)\.(?=\d))+")

# Marks mapped onto the inventory's punctuation (upstream post_replace_ph plus common Japanese marks).
_PUNCT_MAP = {
    **CJK_PUNCT_MAP,
    "・": ",",
    "．": ".",
    "…": "…",
    "〜": "-",
    "～": "-",
    "~": "-",
    "—": "-",
    "―": "-",
}
_PUNCT_SET = frozenset(PUNCTUATION)
_REPEATED_PUNCT_RE = re.compile(
    "([" + re.escape("".join(PUNCTUATION)) + "])[" + re.escape("".join(PUNCTUATION)) + "]+"
)

_LABEL_PHONE_RE = re.compile(r"\-(.*?)\+")
# Open JTalk writes devoiced vowels in upper case; upstream reads them as plain vowels.
_DEVOICED = frozenset("AEIOU")

_lock = threading.Lock()


def available() -> bool:
    """True when pyopenjtalk (from pyopenjtalk-plus, which bundles its dictionary) can be imported."""
    return importlib.util.find_spec("pyopenjtalk") is not None


@cache
def _pyopenjtalk() -> ModuleType:
    # pyopenjtalk-plus prints a notice about the optional ONNX runtime when imported; route it to the log.
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        module = require_module("pyopenjtalk", _FEATURE, _EXTRA, _PACKAGES)
    if captured.getvalue().strip():
        log.debug("pyopenjtalk: %s", captured.getvalue().strip())
    return module


def normalize(text: str) -> str:
    """Map punctuation onto ``, . ! ? … -``, spell ``%``, drop marks Open JTalk cannot read.

    Numbers are left to Open JTalk (it reads them with counters); thousands separators are removed.
    """
    text = unicodedata.normalize("NFC", text)
    text = text.replace("...", "…").replace("％", "パーセント").replace("%", "パーセント")
    text = re.sub(r"(?<=\d)[,，](?=\d{3})", "", text)
    out: list[str] = []
    for ch in text:
        mapped = _PUNCT_MAP.get(ch, ch)
        if mapped in _PUNCT_SET or _JA_CHAR_RE.match(mapped):
            out.append(mapped)
        elif mapped.isspace():
            out.append(" ")
        # Anything else (quotes, brackets, symbols) has no reading; upstream turned it into UNK.
    joined = re.sub(r" {2,}", " ", "".join(out)).strip()
    # Runs of marks read as one (upstream: avoid leaking the reference's punctuation).
    return _REPEATED_PUNCT_RE.sub(r"\1", joined)


def g2p(text: str) -> list[Token]:
    """Phones of Japanese ``text`` (normalised first; normalising twice changes nothing)."""
    text = normalize(text)
    tokens: list[Token] = []
    pos = 0
    for match in _CHUNK_RE.finditer(text):
        tokens.extend(_marks(text[pos : match.start()]))
        tokens.extend(_chunk_tokens(match.group()))
        pos = match.end()
    tokens.extend(_marks(text[pos:]))
    return tokens


def _marks(between: str) -> list[Token]:
    # Spaces separate chunks and carry no phone (upstream skipped them).
    return [Token(ch, (ch,), LANG, "punct") for ch in between if ch in _PUNCT_SET]


def _chunk_tokens(chunk: str) -> list[Token]:
    """Tokens of one run of readable characters: per accent phrase when it lines up, else one."""
    pyopenjtalk = _pyopenjtalk()
    # Open JTalk reads Latin letters; upstream lower-cased them first, which changes how they are read.
    with _lock:
        features = pyopenjtalk.run_frontend(chunk.lower())
        labels = pyopenjtalk.make_label(features)
    groups = _prosody_groups(labels)
    if not groups:
        return []
    surfaces = _phrase_surfaces(chunk, features)
    if surfaces is None or len(surfaces) != len(groups):
        return [Token(chunk, tuple(p for g in groups for p in g), LANG)]
    return [Token(s, tuple(g), LANG) for s, g in zip(surfaces, groups)]


def _numeric(regex: str, label: str) -> int:
    match = re.search(regex, label)
    return -50 if match is None else int(match.group(1))


def _prosody_groups(labels: list[str]) -> list[list[str]]:
    """Phones and prosody marks from full-context labels, one list per accent phrase.

    Follows espnet's ``pyopenjtalk_g2p_prosody`` as upstream uses it: the leading ``^`` and the final
    ``$``/``?`` are dropped, ``#`` becomes ``UNK`` (see the module docstring).
    """
    groups: list[list[str]] = []
    key: tuple[int, int] | None = None
    for n, label in enumerate(labels):
        phone = _LABEL_PHONE_RE.search(label).group(1)
        if phone in _DEVOICED:
            phone = phone.lower()
        if phone == "sil":
            continue
        if phone == "pau":
            # A pause belongs to the phrase before it (or starts the first one).
            (groups[-1] if groups else _new_group(groups)).append("_")
            continue
        # Accent phrase = (breath group index, accent phrase index within it).
        phrase = (_numeric(r"/I:\d+-\d+@(\d+)\+", label), _numeric(r"/F:\d+_\d+#\d+_\d+@(\d+)_", label))
        if phrase != key or not groups:
            key = phrase
            _new_group(groups)
        groups[-1].append(phone)
        groups[-1].extend(_mark_after(label, labels[n + 1], phone))
    return [g for g in groups if g]


def _new_group(groups: list[list[str]]) -> list[str]:
    groups.append([])
    return groups[-1]


def _mark_after(label: str, next_label: str, phone: str) -> list[str]:
    a1 = _numeric(r"/A:([0-9\-]+)\+", label)
    a2 = _numeric(r"\+(\d+)\+", label)
    a3 = _numeric(r"\+(\d+)/", label)
    f1 = _numeric(r"/F:(\d+)_", label)
    a2_next = _numeric(r"\+(\d+)\+", next_label)
    if a3 == 1 and a2_next == 1 and phone in "aeiouAEIOUNcl":
        return ["UNK"]  # accent-phrase border '#', read as UNK by the v2 models
    if a1 == 0 and a2_next == a2 + 1 and a2 != f1:
        return ["]"]
    if a2 == 1 and a2_next == 2:
        return ["["]
    return []


def _phrase_surfaces(chunk: str, features: list[dict[str, Any]]) -> list[str] | None:
    """Slices of ``chunk`` per accent phrase, or None when Open JTalk's words do not match the text.

    Open JTalk rewrites digits as kanji and Latin as full-width letters, so the words are compared
    after NFKC; a number spelled out in kanji cannot be lined up and the chunk stays one token.
    """
    surfaces: list[str] = []
    pos = 0
    folded = unicodedata.normalize("NFKC", chunk).lower()
    if len(folded) != len(chunk):
        return None
    for feature in features:
        word = unicodedata.normalize("NFKC", feature["string"]).lower()
        if not folded.startswith(word, pos):
            return None
        if feature["pos"] == "記号" or feature["mora_size"] == 0:
            # Marks inside a chunk have no phones: keep them with the phrase they follow.
            if surfaces:
                surfaces[-1] += chunk[pos : pos + len(word)]
            else:
                surfaces.append(chunk[pos : pos + len(word)])
        elif feature["chain_flag"] == 1 and surfaces:
            surfaces[-1] += chunk[pos : pos + len(word)]
        else:
            surfaces.append(chunk[pos : pos + len(word)])
        pos += len(word)
    return surfaces if pos == len(chunk) else None
