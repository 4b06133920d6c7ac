"""Training data of the text-to-semantic GPT: filtered clips, length-bucketed seeded batches, padding.

The filters and the small-dataset repetition follow the official GPT trainer (facts from upstream's
``AR/data/dataset.py``): clips longer than ``max_sec`` (54 s at 25 codes/s) or with more than
``max_sec * 25 / 2.5`` phones are dropped, as are clips outside 3..25 phones per second (usually a wrong
transcript); a dataset under 100 clips is repeated so one epoch still sees about 100 clips.

Batching is ours: every epoch draws a permutation from a generator seeded with ``seed + epoch`` (so a
resumed run rebuilds the exact same batches), sorts pools of a few batches by length so that a batch holds
clips of similar length (little padding), and shuffles the batch order. In a DDP launch every rank builds
the same global list and takes every ``world_size``-th batch.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch

from gpt_sovits.training.experiment import Experiment

log = logging.getLogger(__name__)

CODES_PER_SECOND = 25
MIN_PHONES_PER_SECOND = 3.0
MAX_PHONES_PER_SECOND = 25.0
POOL_BATCHES = 8  # batches per length-sorted pool: long enough to group lengths, short enough to mix


@dataclass(frozen=True)
class GPTSample:
    """One clip as the GPT trains on it (CPU tensors)."""

    id: str
    phones: torch.Tensor  # [P] long
    bert: torch.Tensor  # [1024, P] (fp16 as stored; cast when batched)
    codes: torch.Tensor  # [T] long

    @property
    def seconds(self) -> float:
        return self.codes.numel() / CODES_PER_SECOND


@dataclass(frozen=True)
class GPTBatch:
    """Right-padded tensors for :meth:`Text2SemanticModel.forward`."""

    phones: torch.Tensor  # [B, P] long
    phone_lens: torch.Tensor  # [B] long
    bert: torch.Tensor  # [B, 1024, P] float32
    codes: torch.Tensor  # [B, T] long (padding value irrelevant: the model masks it)
    code_lens: torch.Tensor  # [B] long
    ids: tuple[str, ...]

    def to(self, device: torch.device) -> GPTBatch:
        return GPTBatch(
            phones=self.phones.to(device),
            phone_lens=self.phone_lens.to(device),
            bert=self.bert.to(device),
            codes=self.codes.to(device),
            code_lens=self.code_lens.to(device),
            ids=self.ids,
        )


def keep_reason(n_phones: int, n_codes: int, max_sec: float) -> str | None:
    """Why the official trainer would skip a clip, or ``None`` when it is kept."""
    if n_codes == 0 or n_phones == 0:
        return "empty"
    if n_codes > max_sec * CODES_PER_SECOND:
        return f"longer than {max_sec:g} s"
    if n_phones > max_sec * CODES_PER_SECOND / 2.5:
        return "too many phones"
    rate = n_phones / (n_codes / CODES_PER_SECOND)
    if not MIN_PHONES_PER_SECOND <= rate <= MAX_PHONES_PER_SECOND:
        return f"{rate:.1f} phones per second (outside {MIN_PHONES_PER_SECOND:g}..{MAX_PHONES_PER_SECOND:g})"
    return None


def load_gpt_samples(experiment: Experiment, max_sec: float = 54.0) -> list[GPTSample]:
    """Every usable clip of the experiment, in item order (skipped clips are logged with the reason)."""
    samples: list[GPTSample] = []
    for rec in experiment.items():
        reason = keep_reason(len(rec.phones), rec.n_codes, max_sec)
        if reason is not None:
            log.info("GPT training skips %s: %s", rec.id, reason)
            continue
        feats = experiment.load_features(rec)
        if feats.bert.shape[-1] != feats.phones.numel():
            log.warning("GPT training skips %s: BERT features do not match its phones", rec.id)
            continue
        samples.append(GPTSample(rec.id, feats.phones.long(), feats.bert.half(), feats.codes.long()))
    return samples


def repeat_factor(n_samples: int, min_epoch_items: int) -> int:
    """How often a small dataset is repeated per epoch (upstream: at least twice when under the minimum)."""
    if n_samples == 0 or n_samples >= min_epoch_items:
        return 1
    return max(2, min_epoch_items // n_samples)


def plan_epoch(
    lengths: list[int], batch_size: int, *, seed: int, epoch: int, repeat: int = 1, world_size: int = 1
) -> list[list[int]]:
    """The global batch list of one epoch (indices into ``lengths``), identical on every rank.

    The number of batches does not depend on ``epoch``; it is a multiple of ``world_size`` (the first
    batches are reused to fill up, as torch's DistributedSampler does with items).
    """
    g = torch.Generator().manual_seed(seed * 1009 + epoch)
    pool_all = torch.arange(len(lengths)).repeat(repeat)
    order = pool_all[torch.randperm(pool_all.numel(), generator=g)].tolist()
    batches: list[list[int]] = []
    pool = batch_size * POOL_BATCHES
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
    total = math.ceil(len(batches) / world_size) * world_size
    return batches + batches[: total - len(batches)]


def batches_per_epoch(n_samples: int, batch_size: int, repeat: int, world_size: int) -> int:
    """Batches one rank runs per epoch (what :func:`plan_epoch` gives, without drawing it)."""
    n = n_samples * repeat
    pool = batch_size * POOL_BATCHES
    full, rest = divmod(n, pool)
    count = full * POOL_BATCHES + math.ceil(rest / batch_size)
    return math.ceil(count / world_size)


def rank_batches(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """This rank's share of an epoch's global batch list."""
    return batches[rank::world_size]


def collate(samples: list[GPTSample]) -> GPTBatch:
    """Pad a list of clips to one batch (phones and codes right-padded with 0, BERT with zeros)."""
    n = len(samples)
    p_max = max(s.phones.numel() for s in samples)
    t_max = max(s.codes.numel() for s in samples)
    phones = torch.zeros(n, p_max, dtype=torch.long)
    bert = torch.zeros(n, samples[0].bert.shape[0], p_max, dtype=torch.float32)
    codes = torch.zeros(n, t_max, dtype=torch.long)
    for b, s in enumerate(samples):
        phones[b, : s.phones.numel()] = s.phones
        bert[b, :, : s.phones.numel()] = s.bert.float()
        codes[b, : s.codes.numel()] = s.codes
    return GPTBatch(
        phones=phones,
        phone_lens=torch.tensor([s.phones.numel() for s in samples]),
        bert=bert,
        codes=codes,
        code_lens=torch.tensor([s.codes.numel() for s in samples]),
        ids=tuple(s.id for s in samples),
    )


# --------------------------------------------------------------------------- DPO rejected sequences
def corrupt_codes(codes: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, str]:
    """A rejected version of one code sequence ``[T]``: a random span repeated or deleted.

    The idea is upstream's ``make_reject_y`` (repetition and skipped words are the GPT's typical
    failures); unlike it, the span is never empty, so every rejected sequence really differs, and a
    deletion keeps at least one code.
    """
    n = codes.numel()
    kind = "repeat" if n < 2 or torch.randint(0, 2, (1,), generator=generator).item() == 0 else "delete"
    longest = n if kind == "repeat" else n - 1
    span = int(torch.randint(1, max(longest, 1) + 1, (1,), generator=generator).item())
    start = int(torch.randint(0, n - span + 1, (1,), generator=generator).item())
    head, piece, tail = codes[:start], codes[start : start + span], codes[start + span :]
    if kind == "repeat":
        return torch.cat([head, piece, piece, tail]), kind
    return torch.cat([head, tail]), kind


def make_rejected(
    codes: torch.Tensor, code_lens: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Rejected rows for a right-padded batch ``codes [B, T]`` -> (``[B, T']``, lengths ``[B]``, kinds)."""
    rows, kinds = [], []
    for b in range(codes.shape[0]):
        row, kind = corrupt_codes(codes[b, : int(code_lens[b])].cpu(), generator)
        rows.append(row)
        kinds.append(kind)
    lens = torch.tensor([r.numel() for r in rows])
    out = torch.zeros(len(rows), int(lens.max()), dtype=torch.long)
    for b, row in enumerate(rows):
        out[b, : row.numel()] = row
    return out.to(codes.device), lens.to(codes.device), kinds
