"""HuBERT content features (chinese-hubert-base), the SSL input of SoVITS.

The encoder is a transformers ``HubertModel`` read from a local folder in the official layout
(``chinese-hubert-base/``: ``config.json`` + ``pytorch_model.bin`` or ``model.safetensors``; a
``preprocessor_config.json`` may be there and is ignored). It takes 16 kHz mono float audio as is
(no feature-extractor normalisation: GPT-SoVITS calls the model directly) and returns the last hidden
state channel-first, ``[B, 768, frames]``, at 50 frames per second
(``frames = (samples - 400) // 320 + 1``).

Conventions the callers must apply, as upstream GPT-SoVITS does (this module stays plain):

- Reference audio for the prompt codes (inference): load at 16 kHz, require 3-10 s
  (48000-160000 samples), then append ``reference_pad_samples(sovits_rate)`` zeros, i.e.
  ``int(sovits_rate * 0.3)`` samples -- 0.3 s counted at the SoVITS model's rate (9600 samples =
  0.6 s at 16 kHz for 32 kHz models). That length is an upstream quirk that the codes depend on;
  upstream's WebUI takes the 0.3 from its pause-between-sentences setting, its API uses 0.3.
- Training-set features: upstream scales each 32 kHz clip to ``x / peak * (0.95 * 0.5 * 1145.14) +
  0.5 * 1145.14 * x`` (a plain gain) before resampling to 16 kHz. The first conv layer has no bias
  and is group-normalised, so the gain only matters through the norm's epsilon. In fp16 a clip
  whose features contain NaN is recomputed in fp32.
- Batching: the first layer normalises over the whole clip, so zero padding in a batch changes the
  features of the shorter clips; batch only equal-length audio.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from gpt_sovits.errors import AudioError
from gpt_sovits.features.errors import (
    HUBERT_NAME,
    check_loading_info,
    import_transformers,
    quiet_transformers,
    require_folder,
    unreadable_model,
)

log = logging.getLogger(__name__)

HUBERT_SAMPLE_RATE = 16000
HUBERT_HOP = 320  # product of the conv feature-extractor strides: 16000 / 320 = 50 frames per second
HUBERT_RECEPTIVE_FIELD = 400  # samples the first output frame needs
WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)


def hubert_frames(num_samples: int) -> int:
    """Number of output frames for ``num_samples`` samples of 16 kHz audio (0 if too short)."""
    if num_samples < HUBERT_RECEPTIVE_FIELD:
        return 0
    return (num_samples - HUBERT_RECEPTIVE_FIELD) // HUBERT_HOP + 1


def reference_pad_samples(sovits_sample_rate: int, pause_s: float = 0.3) -> int:
    """Zeros upstream appends to the 16 kHz reference before extracting prompt codes.

    Upstream sizes this pad at the SoVITS model's sample rate, not at 16 kHz: ``int(rate * 0.3)``.
    """
    return int(sovits_sample_rate * pause_s)


@dataclass
class HubertEncoder:
    """A loaded HuBERT model on a fixed device and dtype."""

    model: torch.nn.Module
    device: torch.device
    dtype: torch.dtype

    @property
    def hidden_size(self) -> int:
        """Feature channels (768 for chinese-hubert-base)."""
        return int(self.model.config.hidden_size)

    def encode(self, wav16k: torch.Tensor) -> torch.Tensor:
        """Content features of 16 kHz mono audio ``[T]`` or ``[B, T]`` -> ``[B, hidden, frames]``.

        The audio is used as given (float, nominally in [-1, 1]); it is moved to the encoder's device
        and dtype. Raises :class:`~gpt_sovits.errors.AudioError` for audio shorter than 400 samples
        (25 ms).
        """
        if wav16k.dim() == 1:
            wav16k = wav16k.unsqueeze(0)
        if wav16k.dim() != 2:
            raise ValueError(f"expected audio of shape [T] or [B, T], got {tuple(wav16k.shape)}")
        if wav16k.shape[-1] < HUBERT_RECEPTIVE_FIELD:
            raise AudioError(
                f"The audio is too short for HuBERT ({wav16k.shape[-1]} samples at 16 kHz, at least 400 "
                "needed); use a clip of at least a second (references: 3 to 10 seconds)."
            )
        x = wav16k.to(device=self.device, dtype=self.dtype)  # [B, T]
        with torch.no_grad():
            hidden = self.model(x).last_hidden_state  # [B, frames, C]
        return hidden.transpose(1, 2)  # [B, C, frames]

    __call__ = encode


def load_hubert(folder: str | os.PathLike, device: torch.device | str, dtype: torch.dtype) -> HubertEncoder:
    """Load chinese-hubert-base from ``folder`` onto ``device`` in ``dtype`` (eval mode).

    Raises :class:`~gpt_sovits.features.errors.FeatureModelMissing` when the folder or its files are
    absent and :class:`~gpt_sovits.features.errors.FeatureModelInvalid` when the weights do not fit.
    """
    path = Path(folder)
    desc = "HuBERT content encoder"
    require_folder(path, HUBERT_NAME, desc, (("config.json",), WEIGHT_FILES))
    tf = import_transformers()
    try:
        with quiet_transformers():
            model, info = tf.HubertModel.from_pretrained(
                str(path), local_files_only=True, dtype=dtype, output_loading_info=True
            )
    except (OSError, ValueError, RuntimeError) as exc:
        raise unreadable_model(path, HUBERT_NAME, desc, exc) from exc
    # masked_spec_embed is only used for training-time masking; some conversions omit it.
    check_loading_info(info, path, HUBERT_NAME, desc, ignore=("masked_spec_embed",))
    model = model.to(device=torch.device(device), dtype=dtype).eval()
    log.info("loaded %s from %s (%s, %s)", desc, path, device, dtype)
    return HubertEncoder(model, torch.device(device), dtype)
