"""Real-speech data for the phone-aligner tests: piper sentences -> tiny HuBERT -> tiny SoVITS codes.

Import as ``aligner_data`` (tests/ is on ``sys.path``). Stable API::

    corpus = build_corpus(speak, root)          # tiny HuBERT + tiny SoVITS with a fitted codebook
    corpus.model                                # SoVITSSynthesizer (with_aligner=True, aligner untrained)
    corpus.clips                                # list[Clip]: text, phone ids [P], ssl [768, T], codes [T // 2]
    train_aligner(corpus.model, corpus.clips[:20], steps=150)   # trains model.aligner alone

Why the codebook is fitted: the tiny SoVITS file has a random codebook (``randn`` rows, far from the
projected HuBERT features), so nearest-code lookup collapses every clip onto ~20 codes and the content frames
carry little phone information. A trained model's codebook is a k-means of real content features; fitting
the tiny one by k-means on the test speech (:func:`fit_codebook`) is the same construction at test scale.
Everything is seeded, and the tests feed it deterministic piper speech (`speak_exact`: noise off), so the
thresholds measured on it hold in every run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

SENTENCES: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "Please call Stella and ask her to bring these things.",
    "A rainbow is a division of white light into many beautiful colors.",
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "Four hours of steady work faced us.",
    "Large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "Yes.",
    "Go now.",
    "We will meet again tomorrow morning at the old station near the river, after breakfast.",
    "Twenty seven children walked slowly across the wide green field toward the little school.",
)
CODEBOOK_CLUSTERS = 96
TRAIN_STEPS = 400
HELD_OUT = (1, 6, 11, 16, 21)  # clips the aligner never sees (held-out checks of the guard and length prior)
# QA gives clip 4 the transcript of clip 13 (a shifted line in a transcript list): the clip QA must flag
WRONG_LABEL = (4, 13)


@dataclass(frozen=True)
class Clip:
    """One sentence: ``phones`` [P] long ids, ``ssl`` [768, T] HuBERT frames, ``codes`` [T // 2] long."""

    text: str
    phones: torch.Tensor
    ssl: torch.Tensor
    codes: torch.Tensor


@dataclass
class Corpus:
    model: torch.nn.Module  # SoVITSSynthesizer with an (untrained) aligner, eval mode
    clips: list[Clip]


def phone_ids(text: str) -> torch.Tensor:
    """Phone ids (v2 table) of an English sentence, as the front end makes them."""
    from gpt_sovits.text.frontend import FrontEnd, TextOptions

    result = FrontEnd().process(text, TextOptions("en"))
    return torch.tensor([i for seg in result.segments for i in seg.ids])


def trim_silence(audio, rate: int, floor_db: float = -40.0, keep_s: float = 0.04):
    """Cut leading and trailing silence (below ``floor_db`` of the peak), keeping ``keep_s`` of it.

    Piper pads each sentence with ~0.2 s of silence; a prepared dataset is sliced at silences, and the
    transcript has no phone for an opening pause, so the first phone would otherwise have to absorb it.
    """
    import numpy as np

    level = np.abs(audio)
    loud = np.nonzero(level > level.max() * 10 ** (floor_db / 20))[0]
    keep = int(keep_s * rate)
    return np.ascontiguousarray(audio[max(0, loud[0] - keep) : loud[-1] + keep + 1])


def speech_ssl(speak, hubert, text: str) -> torch.Tensor:
    """HuBERT frames [768, T] of piper speech of ``text`` (resampled to 16 kHz)."""
    import soxr

    audio, rate = speak(text)
    wav16 = torch.from_numpy(trim_silence(soxr.resample(audio, rate, 16000), 16000))
    return hubert(wav16)[0]  # [768, T]


def kmeans(x: torch.Tensor, k: int, iters: int = 25, seed: int = 0) -> torch.Tensor:
    """Plain k-means of rows ``x`` [N, D] -> centroids [k, D] (k-means++ seeding, seeded)."""
    gen = torch.Generator().manual_seed(seed)
    centers = [x[torch.randint(len(x), (1,), generator=gen)].squeeze(0)]
    for _ in range(1, k):
        d = torch.cdist(x, torch.stack(centers)).amin(1).square()  # [N]
        centers.append(x[torch.multinomial(d / d.sum(), 1, generator=gen)].squeeze(0))
    c = torch.stack(centers)  # [k, D]
    for _ in range(iters):
        assign = torch.cdist(x, c).argmin(1)  # [N]
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(0)
    return c


@torch.no_grad()
def fit_codebook(model, ssl_list: list[torch.Tensor], k: int = CODEBOOK_CLUSTERS) -> None:
    """Replace the first quantizer stage's codebook by a k-means of ``ssl_proj`` outputs, in place.

    Rows past ``k`` repeat the centroids (nearest-code lookup returns the first of equal rows, so only the
    first ``k`` codes are ever assigned; GPT-generated codes past ``k`` still decode to real centroids).
    """
    feats = torch.cat([model.ssl_proj(s[None, :, : s.shape[-1] // 2 * 2])[0].T for s in ssl_list])  # [N, D]
    centers = kmeans(feats, k)
    book = model.quantizer.vq.layers[0]._codebook
    rows = book.embed.shape[0]
    book.embed.copy_(centers.repeat(rows // k + 1, 1)[:rows])


@torch.no_grad()
def reset_text_norms(model) -> None:
    """Give the text branch's layer norms their standard init (gain 1, bias 0), in place.

    ``tiny_models`` draws every 1-D parameter as ``0.1 * randn``; for these norms that shrinks the phone-
    dependent part of the phone states to ~0.5% of a shared random bias, so all phones look alike. A trained
    text encoder (or a freshly initialised one) keeps phones apart; this restores that property.
    """
    for name, p in model.enc_p.encoder_text.named_parameters():
        if "norm_layers" in name:
            p.fill_(1.0 if name.endswith("gamma") else 0.0)


def build_corpus(speak, root: Path, texts: tuple[str, ...] = SENTENCES, seed: int = 0) -> Corpus:
    """Tiny HuBERT + tiny SoVITS (saved under ``root``), codebook fitted to ``texts``' speech, clips coded."""
    from tiny_models import save_tiny_hubert, save_tiny_sovits

    from gpt_sovits.features.hubert import load_hubert
    from gpt_sovits.models.checkpoint import read_checkpoint
    from gpt_sovits.models.sovits import SoVITSConfig, SoVITSSynthesizer

    hubert = load_hubert(save_tiny_hubert(root / "hubert", seed), "cpu", torch.float32)
    raw = read_checkpoint(save_tiny_sovits(root / "sovits.pth", seed))
    model = SoVITSSynthesizer(SoVITSConfig.from_hparams(raw.config, version="v2"), False, with_aligner=True)
    own = model.state_dict()
    with torch.no_grad():
        model.load_state_dict({k: raw.weight[k].float() if k in raw.weight else v for k, v in own.items()})
    model.eval()
    reset_text_norms(model)
    ssl = [speech_ssl(speak, hubert, t) for t in texts]
    fit_codebook(model, ssl)
    clips = []
    for text, s in zip(texts, ssl):
        codes = model.extract_latent(s[None])[0, 0]  # [T // 2]
        clips.append(Clip(text, phone_ids(text), s, codes))
    return Corpus(model, clips)


def encode(
    model, clips: list[Clip], phones: list[torch.Tensor] | None = None
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per clip (phone states [H, P], content frames [768, T]) under ``model`` (optionally other phone ids)."""
    phones = phones if phones is not None else [c.phones for c in clips]
    out = []
    with torch.no_grad():
        for c, p in zip(clips, phones):
            states = model.phone_states(p[None], torch.tensor([len(p)]))[0]
            out.append((states, model.content_from_codes(c.codes.view(1, 1, -1))[0]))
    return out


def pad(items: list[tuple[torch.Tensor, torch.Tensor]]):
    """Padded aligner inputs: states [B, H, P], phone lengths [B], content [B, 768, T], frame lengths [B]."""
    p_len = torch.tensor([s.shape[-1] for s, _ in items])
    t_len = torch.tensor([c.shape[-1] for _, c in items])
    states = torch.zeros(len(items), items[0][0].shape[0], int(p_len.max()))
    content = torch.zeros(len(items), items[0][1].shape[0], int(t_len.max()))
    for i, (s, c) in enumerate(items):
        states[i, :, : s.shape[-1]] = s
        content[i, :, : c.shape[-1]] = c
    return states, p_len, content, t_len


def batch(model, clips: list[Clip], phones: list[torch.Tensor] | None = None):
    """Padded aligner inputs of ``clips`` (optionally with other phone ids), all detached; see :func:`pad`."""
    return pad(encode(model, clips, phones))


def train_aligner(
    model,
    clips: list[Clip],
    labels: list[torch.Tensor] | None = None,
    steps: int = TRAIN_STEPS,
    lr: float = 1e-2,
    batch_size: int = 8,
    seed: int = 0,
) -> list[tuple[float, float]]:
    """Train ``model.aligner`` alone (Adam) on ``clips`` (with ``labels``' phones instead of the clips' own
    when given); returns the (nll, duration_loss) of every step."""
    items = encode(model, clips, labels)  # the inputs are fixed: encode each clip once
    threads = torch.get_num_threads()
    # many tiny ops per step: one thread is faster, and much faster when other processes share the cores
    torch.set_num_threads(1)
    try:
        history = _train_steps(model.aligner, items, steps, lr, batch_size, seed)
    finally:
        torch.set_num_threads(threads)
    return history


def _train_steps(
    aligner, items, steps: int, lr: float, batch_size: int, seed: int
) -> list[tuple[float, float]]:
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    aligner.train()
    opt = torch.optim.Adam(aligner.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        pick = torch.randperm(len(items), generator=gen)[:batch_size].tolist()
        out = aligner(*pad([items[i] for i in pick]))
        loss = out.nll + out.duration_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append((float(out.nll.detach()), float(out.duration_loss.detach())))
    aligner.eval()
    return history


@dataclass
class Trained:
    """The shared trained corpus: ``labels[i]`` the phones clip ``i`` was trained with (its own transcript),
    ``train`` / ``held`` clip indices (held-out clips are never trained on)."""

    corpus: Corpus
    labels: list[torch.Tensor]
    train: list[int]
    held: list[int]
    history: list[tuple[float, float]]
    seconds: float


_CACHE: dict[str, Trained] = {}


def trained_corpus(speak, tmp_path_factory) -> Trained:
    """Build the corpus and train its aligner once per test process (both aligner test files share it)."""
    if "trained" not in _CACHE:
        start = time.perf_counter()
        corpus = build_corpus(speak, tmp_path_factory.mktemp("aligner_corpus"))
        labels = [c.phones for c in corpus.clips]
        train = [i for i in range(len(corpus.clips)) if i not in HELD_OUT]
        history = train_aligner(corpus.model, [corpus.clips[i] for i in train], [labels[i] for i in train])
        _CACHE["trained"] = Trained(
            corpus, labels, train, list(HELD_OUT), history, time.perf_counter() - start
        )
    return _CACHE["trained"]
