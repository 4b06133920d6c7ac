"""The SoVITS fine-tuning losses (the VITS / HiFi-GAN family, as upstream ``module/losses.py`` weights them).

Every function computes in float32 whatever dtype its inputs come in (under autocast the discriminator
outputs may be bf16/fp16; squared errors and exponentials of log-scales are not safe there).

- :func:`discriminator_loss`: least-squares GAN, real -> 1 and generated -> 0, summed over the sub-discriminators;
- :func:`generator_loss`: least-squares GAN for the generator, generated -> 1;
- :func:`feature_loss`: L1 between the discriminator's activations on real and generated audio, times 2;
- :func:`kl_loss`: KL between the posterior sample pushed through the flow and the text prior, per frame;
- :func:`mel_loss`: L1 between the log-mel of the target segment and of the generated audio, times 45.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from gpt_sovits.audio.spectrogram import MelConfig, mel_spectrogram, spec_to_mel

FEATURE_MATCHING_WEIGHT = 2.0  # upstream multiplies the summed feature-matching L1 by 2
MEL_WEIGHT = 45.0  # s2.json c_mel
KL_WEIGHT = 1.0  # s2.json c_kl


def discriminator_loss(
    real_scores: Sequence[torch.Tensor], fake_scores: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, list[float], list[float]]:
    """LSGAN loss of the discriminator: ``sum_d mean((1 - D(y))^2) + mean(D(y_hat)^2)``.

    ``real_scores`` / ``fake_scores``: one score tensor [B, N_d] per sub-discriminator. Returns the total and
    the per-discriminator real and fake parts (floats, for logging).
    """
    total = torch.zeros((), dtype=torch.float32, device=real_scores[0].device)
    real_parts: list[float] = []
    fake_parts: list[float] = []
    for real, fake in zip(real_scores, fake_scores, strict=True):
        r = torch.mean((1.0 - real.float()) ** 2)
        f = torch.mean(fake.float() ** 2)
        total = total + r + f
        real_parts.append(float(r.detach()))
        fake_parts.append(float(f.detach()))
    return total, real_parts, fake_parts


def generator_loss(fake_scores: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """LSGAN loss of the generator: ``sum_d mean((1 - D(y_hat))^2)``; also the per-discriminator terms."""
    parts = [torch.mean((1.0 - fake.float()) ** 2) for fake in fake_scores]
    return torch.stack(parts).sum(), parts


def feature_loss(
    real_maps: Sequence[Sequence[torch.Tensor]], fake_maps: Sequence[Sequence[torch.Tensor]]
) -> torch.Tensor:
    """Feature matching: ``2 * sum over discriminators and layers of mean |fmap(y) - fmap(y_hat)|``.

    The real activations are targets (detached): this loss trains the generator only.
    """
    terms = [
        torch.mean(torch.abs(real.detach().float() - fake.float()))
        for real_layers, fake_layers in zip(real_maps, fake_maps, strict=True)
        for real, fake in zip(real_layers, fake_layers, strict=True)
    ]
    return torch.stack(terms).sum() * FEATURE_MATCHING_WEIGHT


def kl_loss(
    z_p: torch.Tensor,
    logs_q: torch.Tensor,
    m_p: torch.Tensor,
    logs_p: torch.Tensor,
    z_mask: torch.Tensor,
) -> torch.Tensor:
    """KL(q || p) estimated at the posterior sample, averaged over valid frames (upstream's ``kl_loss``).

    ``z_p`` [B, C, T]: posterior sample after the flow; ``logs_q`` [B, C, T]: posterior log-std;
    ``m_p``, ``logs_p`` [B, C, T]: prior mean and log-std; ``z_mask`` [B, 1, T]. The sum runs over channels
    and frames and is divided by the number of valid frames (not frames x channels), as upstream does.
    """
    z_p, logs_q, m_p, logs_p = z_p.float(), logs_q.float(), m_p.float(), logs_p.float()
    mask = z_mask.float()
    kl = logs_p - logs_q - 0.5 + 0.5 * (z_p - m_p) ** 2 * torch.exp(-2.0 * logs_p)  # [B, C, T]
    return torch.sum(kl * mask) / torch.sum(mask)


def mel_config(raw_config: dict, *, sampling_rate: int, n_fft: int, hop: int, win: int) -> MelConfig:
    """The log-mel of the mel loss from a SoVITS file's ``data`` section (s2.json: 128 mels, 0 Hz to Nyquist)."""
    data = raw_config.get("data") or {}
    fmax = data.get("mel_fmax")
    return MelConfig(
        sampling_rate=sampling_rate,
        n_fft=n_fft,
        hop_length=hop,
        win_length=win,
        n_mels=int(data.get("n_mel_channels") or 128),
        fmin=float(data.get("mel_fmin") or 0.0),
        fmax=None if fmax is None else float(fmax),
    )


def mel_loss(generated_wav: torch.Tensor, target_spec: torch.Tensor, config: MelConfig) -> torch.Tensor:
    """``45 * L1(log-mel(generated), log-mel(target))`` in float32.

    ``generated_wav`` [B, 1, S * hop] decoded segment; ``target_spec`` [B, F, S] the linear spectrogram of
    the same segment of the real audio (upstream takes the target mel from the spectrogram, not from the
    sliced waveform, so the frames line up exactly).
    """
    target = spec_to_mel(target_spec.float(), config)  # [B, n_mels, S]
    generated = mel_spectrogram(generated_wav.squeeze(1).float(), config)  # [B, n_mels, S]
    return F.l1_loss(generated, target) * MEL_WEIGHT


__all__ = [
    "KL_WEIGHT",
    "MEL_WEIGHT",
    "mel_config",
    "mel_loss",
    "FEATURE_MATCHING_WEIGHT",
    "discriminator_loss",
    "feature_loss",
    "generator_loss",
    "kl_loss",
]
