"""From the front end's sentences to GPT rows: phone ids, BERT features and a token budget per row.

Two guards against well-known GPT-SoVITS failures live here:

- Very short pieces ("Hi.", "好") are merged into a neighbour, and a piece that is still short gets a
  leading pause mark, as upstream does with a leading "。": a lone word otherwise often decodes to
  silence or noise.
- Every row ends with a punctuation phone (upstream appends "。"/"."), so the GPT has a place to stop;
  and every row gets a token budget from its phone count (:func:`token_budget`), so a row that starts
  repeating itself is cut off after a bounded time instead of running for 54 s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from gpt_sovits.text.frontend import Sentence, TextResult
from gpt_sovits.text.symbols import symbol_to_id
from gpt_sovits.text.tokens import PUNCTUATION

SHORT_PHONES = 6  # pieces with fewer spoken phones are merged / padded
TOKENS_PER_PHONE = 6  # ~2.5 tokens per phone is normal speech; 6 leaves room for slow speakers
TOKENS_BASE = 25  # one second on top, for pauses and very short rows
MAX_TOKENS = 1500  # 60 s at 25 tokens per second, the hard cap of one row
# Length prior (SoVITS files with a phone aligner): the aligner predicts the row's duration from its phones.
LENGTH_FACTOR = 2.0  # up to twice the predicted length: slow or pausing speech stays well inside
LENGTH_MARGIN = 12  # tokens (~0.5 s) on top, for short rows and trailing pauses


def spoken(phones: Sequence[str]) -> int:
    """Number of phones that are not punctuation."""
    return sum(1 for p in phones if p not in PUNCTUATION)


def token_budget(n_phones: int, speed: float = 1.0) -> int:
    """Most semantic tokens a row of ``n_phones`` phones may take (the runaway-repetition guard).

    Tokens are 25 per second of speech at any speed (speed is applied by SoVITS afterwards).
    """
    del speed
    return int(min(MAX_TOKENS, TOKENS_BASE + TOKENS_PER_PHONE * n_phones))


def prior_budget(n_phones: int, predicted_frames: float, speed: float = 1.0) -> int:
    """Token budget with the length prior: the smaller of :func:`token_budget` and
    ``ceil(LENGTH_FACTOR * predicted_frames / 2) + LENGTH_MARGIN`` (two 50 Hz frames per 25 Hz token).

    A row that starts repeating itself is then cut near twice its expected length instead of at six tokens
    per phone; the phone-count budget still bounds a prediction that is too long.
    """
    prior = math.ceil(LENGTH_FACTOR * max(predicted_frames, 0.0) / 2) + LENGTH_MARGIN
    return int(min(token_budget(n_phones, speed), prior))


@dataclass(frozen=True)
class Row:
    """One GPT row: a piece of the text (one or more merged sentences)."""

    index: int
    text: str
    langs: tuple[str, ...]
    phones: tuple[str, ...]
    ids: torch.Tensor  # [P] int64
    bert: torch.Tensor  # [1024, P] float32
    padded: bool


def merge_short(sentences: Sequence[Sentence]) -> list[list[Sentence]]:
    """Group sentences so that no group has fewer than :data:`SHORT_PHONES` spoken phones when avoidable."""
    groups: list[list[Sentence]] = []
    pending: list[Sentence] = []
    for sent in sentences:
        pending.append(sent)
        if sum(spoken(s.phones) for s in pending) >= SHORT_PHONES:
            groups.append(pending)
            pending = []
    if pending:
        if groups:
            groups[-1].extend(pending)
        else:
            groups.append(pending)
    return groups


def build_rows(
    result: TextResult,
    version: str,
    bert_of: Callable[[object], torch.Tensor],
) -> list[Row]:
    """Rows from a front-end result. ``bert_of(segment)`` gives a segment's ``[1024, n_phones]`` features."""
    table = symbol_to_id(version)
    rows = []
    for group in merge_short(result.sentences):
        phones: list[str] = []
        ids: list[int] = []
        feats: list[torch.Tensor] = []
        langs: list[str] = []
        for sent in group:
            for seg in sent.segments:
                phones += seg.phones
                ids += seg.ids
                feats.append(bert_of(seg))
                if seg.lang not in langs:
                    langs.append(seg.lang)
        bert = torch.cat(feats, dim=1)  # [1024, P]
        padded = False
        if phones[-1] not in PUNCTUATION:
            phones.append(".")
            ids.append(table["."])
            bert = torch.cat([bert, bert.new_zeros(bert.shape[0], 1)], dim=1)
        if spoken(phones) < SHORT_PHONES and phones[0] not in PUNCTUATION:
            phones.insert(0, ".")
            ids.insert(0, table["."])
            bert = torch.cat([bert.new_zeros(bert.shape[0], 1), bert], dim=1)
            padded = True
        text = " ".join(s.text for s in group)
        rows.append(Row(len(rows), text, tuple(langs), tuple(phones), torch.tensor(ids), bert, padded))
    return rows


def prompt_phones(result: TextResult, version: str, bert_of: Callable[[object], torch.Tensor]):
    """Phone ids ``[P]`` and BERT ``[1024, P]`` of a reference text, ending in a punctuation phone.

    The closing mark keeps the end of the reference text from running into the new text (upstream
    appends "。" for the same reason): without it the first generated words often repeat the
    reference's last ones.
    """
    ids: list[int] = []
    feats: list[torch.Tensor] = []
    last = ""
    for seg in result.segments:
        ids += seg.ids
        feats.append(bert_of(seg))
        last = seg.phones[-1]
    bert = torch.cat(feats, dim=1)
    if last not in PUNCTUATION:
        ids.append(symbol_to_id(version)["."])
        bert = torch.cat([bert, bert.new_zeros(bert.shape[0], 1)], dim=1)
    return torch.tensor(ids), bert
