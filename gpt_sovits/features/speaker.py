"""Speaker-verification embedding (ERes2NetV2 w24s4ep4) for SoVITS v2Pro and v2ProPlus.

``SpeakerEncoder.embed`` follows upstream GPT-SoVITS (``sv.py``, ``compute_embedding3``): 80-bin Kaldi
fbank of the 16 kHz waveform (dither 0, no mean subtraction), then the network's time-averaged fused
feature map, 20480 values per clip. This module computes the fbank in float32 even when the network
runs in half precision (upstream computes it in the network's dtype), which only changes rounding.

How upstream obtains the 16 kHz waveform at inference: the reference file is loaded, mixed to mono,
resampled to the SoVITS rate (32 kHz), divided by ``min(2, peak)`` when its peak exceeds 1, then
resampled to 16 kHz. For training it starts from the prepared 32 kHz clip and resamples to 16 kHz.

The checkpoint ``sv/pretrained_eres2netv2w24s4ep4.ckpt`` is a ``torch.save``'d plain state dict of the
network (no wrapper dict); it is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from gpt_sovits.errors import AudioError
from gpt_sovits.features.errors import (
    SV_NAME,
    FeatureModelInvalid,
    how_to_get,
    require_file,
    unreadable_model,
)
from gpt_sovits.features.fbank import kaldi_fbank
from gpt_sovits.models.speaker import ERes2NetV2, ERes2NetV2Config

log = logging.getLogger(__name__)

SV_SAMPLE_RATE = 16000
SV_MIN_SAMPLES = 400  # one 25 ms fbank frame
_DESC = "Speaker-verification model (ERes2NetV2)"


@dataclass
class SpeakerEncoder:
    """A loaded ERes2NetV2 on a fixed device and dtype."""

    model: ERes2NetV2
    device: torch.device
    dtype: torch.dtype

    @property
    def embedding_dim(self) -> int:
        """Values per embedding (20480 for the official network)."""
        return self.model.config.sv_embedding_dim

    def embed(self, wav16k: torch.Tensor) -> torch.Tensor:
        """Embedding of 16 kHz mono audio: ``[T]`` -> ``[D]``, ``[B, T]`` -> ``[B, D]`` (equal lengths).

        Raises :class:`~gpt_sovits.errors.AudioError` for audio shorter than 25 ms.
        """
        single = wav16k.dim() == 1
        x = wav16k.unsqueeze(0) if single else wav16k  # [B, T]
        if x.dim() != 2:
            raise ValueError(f"expected audio of shape [T] or [B, T], got {tuple(wav16k.shape)}")
        if x.shape[-1] < SV_MIN_SAMPLES:
            raise AudioError(
                f"The reference audio is too short for the speaker embedding ({x.shape[-1]} samples at "
                "16 kHz); use a reference clip of 3 to 10 seconds."
            )
        with torch.no_grad():
            feats = kaldi_fbank(x.to(self.device), num_mel_bins=self.model.config.feat_dim)  # [B, F, 80]
            emb = self.model.sv_embedding(feats.to(self.dtype))  # [B, D]
        return emb[0] if single else emb

    __call__ = embed


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure means the same thing to the user
        raise unreadable_model(path, SV_NAME, _DESC, exc) from exc
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise FeatureModelInvalid(
            f"{_DESC} file '{path}' is not a plain state dict of tensors. {how_to_get(SV_NAME, 'file')}"
        )
    return dict(obj)


def _check_keys(model: ERes2NetV2, state: Mapping[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    # BatchNorm's batch counters are bookkeeping; files saved without them load fine upstream too.
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        shown = ", ".join((missing + unexpected + wrong)[:5])
        raise FeatureModelInvalid(
            f"{_DESC} file '{path}' does not fit the network ({len(missing)} weights missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} with the wrong shape, e.g. {shown}). "
            f"{how_to_get(SV_NAME, 'file')}"
        )


def load_speaker_encoder(
    path: str | os.PathLike,
    device: torch.device | str,
    dtype: torch.dtype,
    config: ERes2NetV2Config | None = None,
) -> SpeakerEncoder:
    """Load ``pretrained_eres2netv2w24s4ep4.ckpt`` (or a state dict of ``config``'s size) for inference.

    Raises :class:`~gpt_sovits.features.errors.FeatureModelMissing` when the file is absent and
    :class:`~gpt_sovits.features.errors.FeatureModelInvalid` when it is not a fitting state dict.
    """
    file = Path(path)
    require_file(file, SV_NAME, _DESC)
    state = _read_state_dict(file)
    model = ERes2NetV2(config or ERes2NetV2Config())
    _check_keys(model, state, file)
    model.load_state_dict(state, strict=False)
    model = model.to(device=torch.device(device), dtype=dtype).eval()
    log.info("loaded %s from %s (%s, %s)", _DESC, file, device, dtype)
    return SpeakerEncoder(model, torch.device(device), dtype)
