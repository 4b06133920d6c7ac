"""Dataset formatting: a labelled ``.list`` file -> an experiment folder of training features.

For every ``wav|speaker|lang|text`` row: phones (and Chinese BERT features) from the text front end,
32 kHz audio with upstream's level mix, HuBERT content features of its 16 kHz version, semantic codes from
the base SoVITS quantizer and, for v2Pro/v2ProPlus, the speaker-verification vector. Each clip is saved as
soon as it is done, so an interrupted run resumes where it stopped; a clip that cannot be used is reported
in ``failed.jsonl`` with the reason and skipped (and tried again on the next run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.settings import Settings
from gpt_sovits.training.experiment import (
    Experiment,
    ExperimentError,
    ItemFeatures,
    ItemRecord,
    Manifest,
    item_id,
)

log = logging.getLogger(__name__)

SAMPLE_RATE = 32000
HUBERT_RATE = 16000
MIN_SECONDS = 0.6
MAX_SECONDS = 30.0  # the GPT was trained on at most 54 s, but long clips blow up memory and MAS
CLIPPED_PEAK = 2.2  # upstream's filter for broken (hugely clipped) decodes
# Upstream's level mix: half peak-normalised to 0.95, half as recorded.
MIX_PEAK, MIX_ALPHA = 0.95, 0.5

# Pretrained keys (gpt_sovits.registry.layout) of each base version: GPT, SoVITS G, SoVITS D.
BASE_KEYS: dict[str, tuple[str, str, str]] = {
    "v2": ("gpt_v2", "sovits_v2_g", "sovits_v2_d"),
    "v2Pro": ("gpt_v2pro", "sovits_v2pro_g", "sovits_v2pro_d"),
    "v2ProPlus": ("gpt_v2pro", "sovits_v2proplus_g", "sovits_v2proplus_d"),
}


class PrepareError(GPTSoVITSError):
    """The dataset cannot be prepared at all (no list, no base models, no usable clip)."""


class ClipError(GPTSoVITSError):
    """One clip cannot be used; the run goes on without it."""


@dataclass(frozen=True)
class PrepareOptions:
    list_path: Path
    exp: str
    base: str = "v2"
    gpt: Path | None = None  # base GPT (default: the pretrained one of ``base``)
    sovits: Path | None = None  # base SoVITS G (default: the pretrained one of ``base``)
    device: str = "auto"


@dataclass(frozen=True)
class PrepareResult:
    experiment: Experiment
    prepared: int  # clips done in this run
    reused: int  # clips already prepared by an earlier run
    failed: tuple[dict, ...]  # {"audio", "text", "reason"}
    seconds: float  # audio prepared in total


def base_files(settings: Settings, base: str) -> tuple[Path, Path, Path]:
    """The pretrained GPT, SoVITS G and SoVITS D files of a base version."""
    from gpt_sovits.registry.layout import pretrained_item

    if base not in BASE_KEYS:
        raise PrepareError(f"Unknown base {base!r}; choose one of {', '.join(BASE_KEYS)}.")
    gpt, g, d = (settings.pretrained_dir / pretrained_item(k).path for k in BASE_KEYS[base])
    return gpt, g, d


class _Models:
    """The feature models prepare needs, loaded once."""

    def __init__(self, settings: Settings, sovits, version: str, device: torch.device) -> None:
        from gpt_sovits.features import load_hubert
        from gpt_sovits.registry.layout import pretrained_item

        pre = settings.pretrained_dir
        self.device = device
        self.sovits = sovits.to(device)
        self.hubert = load_hubert(pre / pretrained_item("hubert").path, device, torch.float32)
        self._bert = None
        self._bert_path = pre / pretrained_item("bert").path
        self.speaker = None
        if version in ("v2Pro", "v2ProPlus"):
            from gpt_sovits.features import load_speaker_encoder

            self.speaker = load_speaker_encoder(pre / pretrained_item("sv").path, device, torch.float32)

    def bert(self):
        """The BERT encoder, loaded on first use (only Chinese text needs it)."""
        from gpt_sovits.features import load_bert

        if self._bert is None:
            self._bert = load_bert(self._bert_path, self.device, torch.float32)
        return self._bert


def _text_features(text: str, lang: str, models: _Models) -> tuple[torch.Tensor, torch.Tensor]:
    """Phone ids [P] and BERT features [1024, P] of a transcript, read in its list language."""
    from gpt_sovits.errors import TextError
    from gpt_sovits.features import segment_bert_features
    from gpt_sovits.features.bert import BERT_LANGS
    from gpt_sovits.text.frontend import FrontEnd, TextOptions

    try:
        result = FrontEnd().process(text, TextOptions(lang, "v2", "cut0"))
    except TextError as exc:
        raise ClipError(f"text cannot be read: {exc}") from None
    ids: list[int] = []
    feats: list[torch.Tensor] = []
    for seg in result.segments:
        ids += seg.ids
        encoder = models.bert() if seg.lang in BERT_LANGS else None
        feats.append(
            segment_bert_features(seg.lang, seg.norm_text, seg.word2ph, len(seg.phones), encoder)
            .float()
            .cpu()
        )
    if not ids:
        raise ClipError("the text has no phones")
    return torch.tensor(ids, dtype=torch.long), torch.cat(feats, dim=1)


def _audio(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """32 kHz audio with upstream's level mix, and its 16 kHz version for HuBERT."""
    import soxr

    from gpt_sovits.audio import load_audio
    from gpt_sovits.errors import AudioError

    try:
        wav = load_audio(path, SAMPLE_RATE)
    except AudioError as exc:
        raise ClipError(str(exc)) from None
    seconds = len(wav) / SAMPLE_RATE
    if seconds < MIN_SECONDS:
        raise ClipError(f"too short ({seconds:.2f} s; clips need at least {MIN_SECONDS} s)")
    if seconds > MAX_SECONDS:
        raise ClipError(f"too long ({seconds:.1f} s); cut it into 3-10 s clips with the slicer")
    peak = float(np.abs(wav).max())
    if peak < 1e-4:
        raise ClipError("silent")
    if peak > CLIPPED_PEAK:
        raise ClipError(f"broken level (peak {peak:.1f}); re-export the clip")
    wav = (wav / peak * (MIX_PEAK * MIX_ALPHA) + (1 - MIX_ALPHA) * wav).astype(np.float32)
    wav16 = soxr.resample(wav, SAMPLE_RATE, HUBERT_RATE).astype(np.float32)
    return wav, wav16


@torch.no_grad()
def prepare_clip(path: Path, text: str, lang: str, models: _Models) -> ItemFeatures:
    """All training features of one clip (raises :class:`ClipError` when the clip is unusable)."""
    phones, bert = _text_features(text, lang, models)
    wav, wav16 = _audio(path)
    x16 = torch.from_numpy(wav16).to(models.device).view(1, -1)  # [1, S16]
    ssl = models.hubert.encode(x16)  # [1, 768, T] at 50 Hz
    if not torch.isfinite(ssl).all():
        raise ClipError("HuBERT features are not finite (NaN); the audio is probably corrupt")
    codes = models.sovits.extract_latent(ssl)  # [1, 1, T // 2]
    sv = models.speaker.embed(x16[0]).view(-1).cpu() if models.speaker is not None else None
    if len(phones) > codes.shape[-1] * 2:
        raise ClipError(
            f"{len(phones)} phones for {len(wav) / SAMPLE_RATE:.1f} s of audio: the text is far too long "
            "for the clip (wrong label?)"
        )
    return ItemFeatures(phones, bert, ssl[0].cpu(), torch.from_numpy(wav), codes[0, 0].cpu(), sv)


def _check_base(exp: Experiment, manifest: Manifest) -> None:
    if not exp.exists():
        return
    old = exp.read_manifest()
    if (old.base_version, old.base_sovits) != (manifest.base_version, manifest.base_sovits):
        raise PrepareError(
            f"Experiment {exp.name!r} was prepared with base {old.base_version} ({old.base_sovits}); its codes "
            "would not match a different base. Use a new --exp name (nothing was changed)."
        )


def prepare(
    settings: Settings,
    options: PrepareOptions,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> PrepareResult:
    """Prepare every row of ``options.list_path`` into ``settings.logs_dir / options.exp``.

    ``on_progress(done, total, clip)`` is called after each row. Rows already prepared are reused.
    """
    from gpt_sovits.device import choose_device
    from gpt_sovits.models.loading import load_sovits
    from tools.lists import DatasetList, ListFormatError

    t0 = time.perf_counter()
    exp = Experiment(settings.logs_dir, options.exp)
    try:
        dataset = DatasetList.read(options.list_path)
    except (OSError, ListFormatError) as exc:
        raise PrepareError(f"Cannot read the list {options.list_path}: {exc}") from None
    if not dataset.rows:
        raise PrepareError(f"{options.list_path} has no wav|speaker|lang|text rows.")
    gpt_default, sovits_default, _ = base_files(settings, options.base)
    gpt = options.gpt or gpt_default
    sovits = options.sovits or sovits_default
    for path, what in ((gpt, "GPT"), (sovits, "SoVITS")):
        if not Path(path).is_file():
            raise PrepareError(
                f"The base {what} model {path} is missing; download the pretrained models with "
                "`python -m gpt_sovits models download` (or pass --gpt/--sovits)."
            )
    device = choose_device(options.device).device
    base = load_sovits(sovits, device=device)  # the quantizer that makes the codes
    version = base.version
    manifest = Manifest(exp.name, version, str(gpt), str(sovits), str(options.list_path))
    _check_base(exp, manifest)
    exp.write_manifest(manifest)
    done = {rec.id for rec in exp.items()}
    if exp.failed_path.exists():
        exp.failed_path.unlink()  # failed clips are tried again; the new run writes its own reasons
    models = _Models(settings, base.module, version, device)
    prepared = reused = 0
    for index, row in enumerate(dataset.rows):
        audio = dataset.resolve(row)
        rid = item_id(row.wav_path, row.lang, row.text)
        if rid in done:
            reused += 1
        else:
            try:
                lang = row.language
                if lang is None:
                    raise ClipError(f"unknown language {row.lang!r}")
                if not row.text.strip():
                    raise ClipError("empty text")
                feats = prepare_clip(audio, row.text, lang, models)
            except ClipError as exc:
                log.warning("skipping %s: %s", row.wav_path, exc)
                exp.append_failure(row.wav_path, row.text, str(exc))
            else:
                n = len(feats.wav)
                record = ItemRecord(
                    rid,
                    str(audio),
                    row.speaker,
                    lang,
                    row.text,
                    tuple(int(i) for i in feats.phones),
                    round(n / SAMPLE_RATE, 3),
                    int(feats.ssl.shape[-1]),
                    int(feats.codes.shape[-1]),
                    f"items/{rid}.pt",
                )
                exp.append_item(record, feats)
                done.add(rid)
                prepared += 1
        if on_progress is not None:
            on_progress(index + 1, len(dataset.rows), row.wav_path)
    items = exp.items()
    failed = tuple(exp.failures())
    if not items:
        raise PrepareError(
            f"No clip of {options.list_path} could be prepared; reasons are in {exp.failed_path}."
        )
    exp.write_manifest(
        Manifest(
            exp.name,
            version,
            str(gpt),
            str(sovits),
            str(options.list_path),
            items=len(items),
            failed=len(failed),
        )
    )
    seconds = sum(r.seconds for r in items)
    log.info(
        "prepared %d clips (%d reused, %d failed), %.1f s of audio in %.1f s",
        prepared,
        reused,
        len(failed),
        seconds,
        time.perf_counter() - t0,
    )
    return PrepareResult(exp, prepared, reused, failed, seconds)


__all__ = [
    "ClipError",
    "ExperimentError",
    "PrepareError",
    "PrepareOptions",
    "PrepareResult",
    "base_files",
    "prepare",
    "prepare_clip",
]
