"""What SoVITS fine-tuning starts from: the clips of an experiment and the starting weights.

Starting weights (:func:`build_models`): the generator from a pretrained ``s2G`` file (its posterior encoder
included) or from random weights, the discriminator from the ``s2D`` file beside it, the content tokenizer
(``ssl_proj`` + ``quantizer``) always from the file and frozen, and the phone aligner attached.

Clips: content, spectrogram, audio and phones of each prepared clip.

What a clip becomes (upstream ``TextAudioSpeakerLoader``, reading this project's experiment folder):

- the linear spectrogram of its 32 kHz audio (:func:`gpt_sovits.audio.spectrogram.linear_spectrogram`, one
  frame per 640 samples);
- its HuBERT features at 50 Hz, the same frame rate. HuBERT's convolutions usually give one frame fewer
  than the STFT: the last frame is repeated (upstream pads by one the same way);
- both cut to the largest *even* frame count they share (the content goes through a stride-2 projection to
  25 Hz codes and is upsampled back, so an odd count would lose a frame) and the audio to that many hops.

Batches group clips of similar length (buckets as upstream's ``DistributedBucketSampler``) so padding stays
small. Small datasets are repeated to at least ``min_epoch_items`` clips per epoch, as upstream does with
100, so that an "epoch" of a one-minute dataset is still a meaningful amount of training.
"""

from __future__ import annotations

import bisect
import copy
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from gpt_sovits.audio.spectrogram import SpectrogramConfig, linear_spectrogram
from gpt_sovits.errors import AudioError
from gpt_sovits.models.checkpoint import CheckpointError, read_checkpoint
from gpt_sovits.models.identify import identify
from gpt_sovits.models.sovits import MultiPeriodDiscriminator, SoVITSConfig, SoVITSSynthesizer
from gpt_sovits.training.experiment import Experiment, ExperimentError, ItemRecord

logger = logging.getLogger(__name__)

# Upstream's bucket boundaries in spectrogram frames (50 Hz): 0.64 s, 6 s, 8 s, ... 38 s.
BUCKET_BOUNDARIES = (
    32,
    300,
    400,
    500,
    600,
    700,
    800,
    900,
    1000,
    1100,
    1200,
    1300,
    1400,
    1500,
    1600,
    1700,
    1800,
)
MIN_EPOCH_ITEMS = 100  # upstream repeats a dataset of fewer clips to about this many per epoch
CACHE_SECONDS = 1200.0  # keep decoded clips in memory when the dataset is at most this long (~1 GB)


@dataclass(frozen=True)
class SoVITSItem:
    """One clip ready for training. ``T`` (even) frames at 50 Hz; ``hop`` samples per frame.

    ``ssl`` [768, T]; ``spec`` [F, T] linear magnitude; ``wav`` [T * hop] float32 at 32 kHz;
    ``phones`` [P] long; ``sv`` [20480] speaker vector (v2Pro/v2ProPlus) or None.
    """

    ssl: torch.Tensor
    spec: torch.Tensor
    wav: torch.Tensor
    phones: torch.Tensor
    sv: torch.Tensor | None = None

    @property
    def frames(self) -> int:
        return int(self.spec.shape[-1])


@dataclass(frozen=True)
class SoVITSBatch:
    """A padded batch (zeros beyond each clip's length).

    ``ssl`` [B, 768, T]; ``spec`` [B, F, T]; ``spec_lengths`` [B]; ``wav`` [B, 1, T * hop];
    ``wav_lengths`` [B]; ``text`` [B, P]; ``text_lengths`` [B]; ``sv`` [B, 20480] or None. ``T`` is even and
    at least the training segment, so a random segment always fits.
    """

    ssl: torch.Tensor
    spec: torch.Tensor
    spec_lengths: torch.Tensor
    wav: torch.Tensor
    wav_lengths: torch.Tensor
    text: torch.Tensor
    text_lengths: torch.Tensor
    sv: torch.Tensor | None = None

    def to(self, device: torch.device) -> SoVITSBatch:
        """The same batch on ``device``."""
        moved = {
            f.name: (None if getattr(self, f.name) is None else getattr(self, f.name).to(device))
            for f in fields(self)
        }
        return SoVITSBatch(**moved)


def match_lengths(ssl: torch.Tensor, spec: torch.Tensor, wav: torch.Tensor, hop: int):
    """Cut HuBERT features [768, T1], spectrogram [F, T2] and audio [S] to one even frame count.

    A content sequence at most two frames short of the spectrogram is extended by repeating its last
    frame; a larger mismatch means the features do not belong to this audio and raises ``ValueError``.
    """
    short = spec.shape[-1] - ssl.shape[-1]
    if abs(short) > 2:
        raise ValueError(f"content has {ssl.shape[-1]} frames but the audio {spec.shape[-1]}")
    if short > 0:
        ssl = F.pad(ssl.unsqueeze(0), (0, short), mode="replicate").squeeze(0)
    frames = min(ssl.shape[-1], spec.shape[-1]) // 2 * 2
    if frames < 2:
        raise ValueError("the clip is shorter than two frames")
    wav = wav[: frames * hop]
    if wav.shape[-1] < frames * hop:
        wav = F.pad(wav, (0, frames * hop - wav.shape[-1]))
    return ssl[:, :frames], spec[:, :frames], wav


class SoVITSDataset(torch.utils.data.Dataset):
    """The prepared clips of an experiment as :class:`SoVITSItem` (decoded on first use, cached if small)."""

    def __init__(
        self,
        experiment: Experiment,
        spectrogram: SpectrogramConfig,
        *,
        uses_sv: bool = False,
        records: list[ItemRecord] | None = None,
    ) -> None:
        self.experiment = experiment
        self.records = list(experiment.items() if records is None else records)
        self.spectrogram = spectrogram
        self.uses_sv = uses_sv
        # frames recorded at prepare time: enough to bucket without reading every file
        self.lengths = [max(int(r.frames), 2) for r in self.records]
        self._cache: dict[int, SoVITSItem] | None = (
            {} if sum(r.seconds for r in self.records) <= CACHE_SECONDS else None
        )

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> SoVITSItem:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        record = self.records[index]
        feats = self.experiment.load_features(record)
        if self.uses_sv and feats.sv is None:
            raise ExperimentError(
                f"Clip {record.id} has no speaker vector, which a v2Pro/v2ProPlus model needs; run prepare "
                "again into a new experiment with that base."
            )
        try:
            spec = linear_spectrogram(feats.wav.float(), self.spectrogram)  # [F, T]
            ssl, spec, wav = match_lengths(
                feats.ssl.float(), spec, feats.wav.float(), self.spectrogram.hop_length
            )
        except (ValueError, AudioError) as exc:
            raise ExperimentError(
                f"Clip {record.id} ({record.audio}) cannot be used ({exc}); delete its line in items.jsonl "
                "and its feature file, then run prepare again."
            ) from None
        sv = feats.sv.float().view(-1) if self.uses_sv else None
        item = SoVITSItem(ssl, spec, wav, feats.phones.long(), sv)
        if self._cache is not None:
            self._cache[index] = item
        return item


def collate(items: list[SoVITSItem], *, min_frames: int, hop: int) -> SoVITSBatch:
    """Zero-pad clips into a :class:`SoVITSBatch` of at least ``min_frames`` (rounded up to even) frames."""
    frames = max(max(it.frames for it in items), min_frames)
    frames += frames % 2
    n_phones = max(int(it.phones.numel()) for it in items)
    b = len(items)
    first = items[0]
    ssl = torch.zeros(b, first.ssl.shape[0], frames)
    spec = torch.zeros(b, first.spec.shape[0], frames)
    wav = torch.zeros(b, 1, frames * hop)
    text = torch.zeros(b, n_phones, dtype=torch.long)
    for i, it in enumerate(items):
        t = it.frames
        ssl[i, :, :t] = it.ssl
        spec[i, :, :t] = it.spec
        wav[i, 0, : it.wav.shape[-1]] = it.wav
        text[i, : it.phones.numel()] = it.phones
    sv = torch.stack([it.sv for it in items]) if first.sv is not None else None
    return SoVITSBatch(
        ssl=ssl,
        spec=spec,
        spec_lengths=torch.tensor([it.frames for it in items], dtype=torch.long),
        wav=wav,
        wav_lengths=torch.tensor([it.wav.shape[-1] for it in items], dtype=torch.long),
        text=text,
        text_lengths=torch.tensor([it.phones.numel() for it in items], dtype=torch.long),
        sv=sv,
    )


class BucketBatches:
    """Length-bucketed batches, the same on every rank for a given (seed, epoch); each rank gets its share.

    Every epoch: repeat a small dataset up to ``min_epoch_items`` clips, put each clip in its length bucket,
    shuffle inside buckets, fill each bucket up to a multiple of ``batch_size * world_size`` by repeating its
    first clips, cut it into global batches, shuffle the batches; rank ``r`` takes the ``r``-th slice of
    ``batch_size`` clips of every global batch, so all ranks run the same number of steps.
    """

    def __init__(
        self,
        lengths: list[int],
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        min_epoch_items: int = MIN_EPOCH_ITEMS,
    ) -> None:
        if not lengths:
            raise ValueError("no clips to train on")
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        n = len(lengths)
        self.repeats = max(2, min_epoch_items // n) if n < min_epoch_items else 1
        self.buckets: list[list[int]] = [[] for _ in range(len(BUCKET_BOUNDARIES) + 1)]
        for index, length in enumerate(lengths):
            self.buckets[bisect.bisect_left(BUCKET_BOUNDARIES, length)].extend([index] * self.repeats)
        self.buckets = [b for b in self.buckets if b]

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        """Steps per epoch (the same for every rank and every epoch)."""
        return sum(math.ceil(len(b) / self.global_batch) for b in self.buckets)

    def epoch(self, epoch: int) -> list[list[int]]:
        """This rank's batches (dataset indices) of ``epoch``, in training order."""
        g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        batches: list[list[int]] = []
        for bucket in self.buckets:
            order = [bucket[i] for i in torch.randperm(len(bucket), generator=g).tolist()]
            size = math.ceil(len(order) / self.global_batch) * self.global_batch
            order = [order[i % len(order)] for i in range(size)]
            batches += [order[i : i + self.global_batch] for i in range(0, size, self.global_batch)]
        batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        lo = self.rank * self.batch_size
        return [b[lo : lo + self.batch_size] for b in batches]


# --------------------------------------------------------------------------- starting weights
FROZEN_MODULES = ("ssl_proj", "quantizer")  # the content tokenizer: frozen, and never re-initialised


def default_discriminator_path(generator_path: str | Path) -> Path | None:
    """The pretrained D that belongs to a pretrained G (``s2G2333k.pth`` -> ``s2D2333k.pth``, ``s2Gv2Pro.pth``
    -> ``s2Dv2Pro.pth``, in the same folder); None when the name is not a pretrained ``s2G`` one."""
    path = Path(generator_path)
    if "s2G" not in path.name:
        return None
    return path.with_name(path.name.replace("s2G", "s2D", 1))


def load_discriminator(path: str | Path, config: SoVITSConfig) -> MultiPeriodDiscriminator:
    """Build the discriminator of ``config``'s version and copy a pretrained ``s2D`` file's weights into it.

    Upstream D files hold ``{"weight": state_dict}``. Read with the safe loader; weights the file lacks keep
    their random start (logged, as upstream's non-strict load allows); a wrong shape is an error.
    """
    raw = read_checkpoint(path)
    kind = identify(raw).kind
    if kind != "sovits_discriminator":
        raise CheckpointError(f"{raw.path} is a {kind} file, not a SoVITS discriminator (s2D...pth).")
    disc = MultiPeriodDiscriminator.for_config(config, MultiPeriodDiscriminator.width_div_of(raw.weight))
    own = disc.state_dict()
    bad = [k for k, v in own.items() if k in raw.weight and raw.weight[k].shape != v.shape]
    if bad:
        raise CheckpointError(
            f"{raw.path} does not fit a {config.version} discriminator ({len(bad)} shape mismatches, e.g. "
            f"{bad[0]}); use the s2D file of the same version as the generator."
        )
    found = {k: raw.weight[k].to(v.dtype) for k, v in own.items() if k in raw.weight}
    if not found:
        raise CheckpointError(f"{raw.path} has no weight of a SoVITS discriminator.")
    missing = len(own) - len(found)
    if missing:
        logger.warning("%s lacks %d discriminator weights; they start from random values", raw.path, missing)
    disc.load_state_dict(found, strict=False)
    return disc


def official_config(raw: dict, config: SoVITSConfig) -> dict:
    """The ``config`` dict saved into checkpoints: the base file's own, with every entry upstream reads present
    (filled from :meth:`SoVITSConfig.to_hparams`); the version is the one decided from the weights (old files
    lack or misstate it)."""
    out = copy.deepcopy(raw) if raw else {}
    full = config.to_hparams()
    for section in ("data", "train", "model"):
        target = out.setdefault(section, {})
        for key, value in full[section].items():
            target.setdefault(key, value)
    out["model"]["version"] = config.version
    return out


def attach_aligner(model: SoVITSSynthesizer) -> None:
    """Give ``model`` a freshly initialised phone aligner when its file had none."""
    from gpt_sovits.models.sovits.aligner import AlignerConfig, PhoneAligner

    if not hasattr(model, "aligner"):
        model.aligner = PhoneAligner(AlignerConfig.for_sovits(model.config))


@dataclass
class StartingModels:
    """What :func:`build_models` returns; ``init_d`` is None when D starts from random weights."""

    generator: SoVITSSynthesizer
    discriminator: nn.Module
    config: SoVITSConfig
    raw_config: dict
    init_g: Path
    init_d: Path | None


def _build_generator(path: Path, from_scratch: bool) -> tuple[SoVITSSynthesizer, dict]:
    if not from_scratch:
        from gpt_sovits.models.loading import load_sovits

        loaded = load_sovits(path, for_training=True)
        return loaded.module, loaded.raw_config
    raw = read_checkpoint(path)
    identity = identify(raw)
    if identity.kind != "sovits":
        raise CheckpointError(f"{raw.path} is a {identity.describe()} file, not a SoVITS generator.")
    config = SoVITSConfig.from_hparams(raw.config, version=identity.version) if raw.config else None
    model = SoVITSSynthesizer(config or SoVITSConfig.preset(identity.version), with_posterior=True)
    # the codes of the experiment were made by this tokenizer: it must stay, even when all else is new
    tokenizer = {k: v for k, v in raw.weight.items() if k.startswith(tuple(f"{m}." for m in FROZEN_MODULES))}
    result = model.load_state_dict({k: v.float() for k, v in tokenizer.items()}, strict=False)
    if result.unexpected_keys or any(k.startswith(FROZEN_MODULES) for k in result.missing_keys):
        raise CheckpointError(f"{raw.path} lacks the content tokenizer (ssl_proj/quantizer) weights.")
    return model.train(), raw.config


def build_models(
    init_g: Path,
    *,
    init_d: Path | None = None,
    from_scratch: bool = False,
    aligner: bool = True,
    discriminator_factory: Callable[[SoVITSConfig], nn.Module] | None = None,
) -> StartingModels:
    """Generator and discriminator at their starting weights (on the CPU), the content tokenizer frozen.

    ``init_g``: the generator file (with ``enc_q`` unless ``from_scratch``, where only its tokenizer and
    config are used). ``init_d``: the discriminator file; None looks for the ``s2D`` beside ``init_g`` and
    starts D from random weights (with a warning) when there is none. ``aligner``: attach a new phone
    aligner when the file has none (False drops one the file has). ``discriminator_factory``: build D from
    the config instead (tests), loading nothing.
    """
    init_g = Path(init_g)
    generator, raw = _build_generator(init_g, from_scratch)
    config = generator.config
    for name in FROZEN_MODULES:
        getattr(generator, name).requires_grad_(False)
    if aligner:
        attach_aligner(generator)
    elif hasattr(generator, "aligner"):
        del generator.aligner  # a stale aligner would no longer match the fine-tuned text encoder
    explicit_d = init_d is not None
    if discriminator_factory is not None:
        discriminator, init_d = discriminator_factory(config), None
    elif from_scratch:
        discriminator, init_d = MultiPeriodDiscriminator.for_config(config), None
    else:
        init_d = Path(init_d) if explicit_d else default_discriminator_path(init_g)
        if init_d is not None and (explicit_d or init_d.is_file()):
            discriminator = load_discriminator(init_d, config)
        else:
            logger.warning(
                "no pretrained discriminator (%s): the discriminator starts from random weights",
                init_d or f"none known for {init_g.name}",
            )
            discriminator, init_d = MultiPeriodDiscriminator.for_config(config), None
    return StartingModels(generator, discriminator.train(), config, raw, init_g, init_d)


__all__ = [
    "BUCKET_BOUNDARIES",
    "FROZEN_MODULES",
    "MIN_EPOCH_ITEMS",
    "BucketBatches",
    "SoVITSBatch",
    "SoVITSDataset",
    "SoVITSItem",
    "StartingModels",
    "attach_aligner",
    "build_models",
    "collate",
    "default_discriminator_path",
    "load_discriminator",
    "match_lengths",
    "official_config",
]
