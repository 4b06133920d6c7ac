"""Phone-to-frame aligner trained beside SoVITS with monotonic alignment search (VITS MAS).

Nothing here is part of official GPT-SoVITS: the weights live under the ``aligner.`` key prefix of a SoVITS
file, which official GPT-SoVITS ignores (it loads with ``strict=False``), while this project uses them for
dataset QA, the inference guard and the GPT length prior.

What is aligned: the content frames SoVITS decodes from, ``quantizer.decode(codes)`` upsampled to the 50 Hz
latent rate ([B, 768, T]), against the phone states of the prior encoder's text branch ([B, H, P]). Both are
detached inputs: the aligner never changes the official weights and cannot move its own targets.

- prior: a small conv stack maps each phone state to a diagonal Gaussian (mean, log-std) over the content
  space; the log-likelihood of every frame under every phone is [B, P, T] (computed in float32);
- MAS picks the monotonic path with the highest total log-likelihood; the negative log-likelihood of the frames
  under their aligned phones (nats per frame and channel) is the auxiliary loss;
- a duration predictor (another small conv stack) learns log(MAS durations) with a masked MSE.

:meth:`PhoneAligner.analyse` returns an :class:`Alignment` that both dataset QA and the inference guard read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from gpt_sovits.models.mas import maximum_path, path_to_durations
from gpt_sovits.models.sovits.config import SoVITSConfig
from gpt_sovits.models.sovits.layers import length_mask

LOG_2PI = math.log(2 * math.pi)
MIN_LOG_STD = -4.0  # keeps exp(-2 logs) finite: codebook vectors repeat exactly, variances could collapse


@dataclass(frozen=True)
class AlignerConfig:
    """Shapes of a :class:`PhoneAligner`. Derived from the SoVITS config (:meth:`for_sovits`), never stored."""

    phone_channels: int
    content_dim: int = 768
    hidden: int = 192
    kernel_size: int = 3
    dropout: float = 0.1

    @classmethod
    def for_sovits(cls, config: SoVITSConfig) -> AlignerConfig:
        """The aligner of a SoVITS model: phone states are ``hidden_channels`` wide, content ``ssl_dim``."""
        return cls(phone_channels=config.hidden_channels, content_dim=config.ssl_dim)


class AlignerOutput(NamedTuple):
    """One training pass: ``path`` [B, P, T] (0/1), ``durations`` [B, P] (long, MAS frames per phone),
    ``nll`` (mean negative log-likelihood per frame and content channel), ``duration_loss`` (masked MSE of
    log durations) and ``log_duration_pred`` [B, P]."""

    path: torch.Tensor
    durations: torch.Tensor
    nll: torch.Tensor
    duration_loss: torch.Tensor
    log_duration_pred: torch.Tensor


class Alignment(NamedTuple):
    """What QA and the inference guard read (all float32 on the input device, padding zeroed).

    - ``durations`` [B, P] long: MAS frames per phone (each real phone >= 1; they sum to the frame count);
    - ``predicted`` [B, P]: frames per phone the duration predictor expects from the phones alone;
    - ``frame_ll`` [B, T]: log-likelihood of each frame under its aligned phone, nats per content channel;
    - ``best_ll`` [B, T]: the same under the best phone of the item chosen freely (no monotonic order);
    - ``gap`` [B, T]: ``frame_ll - best_ll`` (<= 0): how much the monotonic order costs each frame;
    - ``score`` [B]: mean ``gap`` over the item's frames (<= 0; see :meth:`PhoneAligner.analyse`);
    - ``duration_error`` [B]: mean absolute log ratio of MAS to predicted durations over the phones.
    """

    durations: torch.Tensor
    predicted: torch.Tensor
    frame_ll: torch.Tensor
    best_ll: torch.Tensor
    gap: torch.Tensor
    score: torch.Tensor
    duration_error: torch.Tensor


class _ConvStack(nn.Module):
    """Two masked conv + ReLU + LayerNorm + dropout blocks, then a 1x1 output projection."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, kernel_size: int, dropout: float):
        super().__init__()
        pad = kernel_size // 2
        self.conv_1 = nn.Conv1d(in_channels, hidden, kernel_size, padding=pad)
        self.norm_1 = nn.LayerNorm(hidden)
        self.conv_2 = nn.Conv1d(hidden, hidden, kernel_size, padding=pad)
        self.norm_2 = nn.LayerNorm(hidden)
        self.proj = nn.Conv1d(hidden, out_channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, P], ``mask`` [B, 1, P] -> [B, out, P] (zero on padding)."""
        for conv, norm in ((self.conv_1, self.norm_1), (self.conv_2, self.norm_2)):
            x = torch.relu(conv(x * mask))
            x = self.dropout(norm(x.transpose(1, 2)).transpose(1, 2))
        return self.proj(x * mask) * mask


def gaussian_log_likelihood(mean: torch.Tensor, log_std: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Log-density of every frame under every phone's diagonal Gaussian, float32.

    ``mean``, ``log_std`` [B, D, P], ``frames`` [B, D, T] -> [B, P, T] (summed over the D channels).
    Expands the square so that the work is two matrix products instead of a [B, P, D, T] tensor.
    """
    mean, log_std, frames = mean.float(), log_std.float(), frames.float()
    inv_var = torch.exp(-2 * log_std)  # [B, D, P]
    const = (-0.5 * LOG_2PI - log_std).sum(1).unsqueeze(-1)  # [B, P, 1]
    quad = torch.matmul(inv_var.transpose(1, 2), frames.square())  # [B, P, T]
    cross = torch.matmul((mean * inv_var).transpose(1, 2), frames)  # [B, P, T]
    mean_term = (mean.square() * inv_var).sum(1).unsqueeze(-1)  # [B, P, 1]
    return const - 0.5 * (quad - 2 * cross + mean_term)


class PhoneAligner(nn.Module):
    """Gaussian phone prior + duration predictor, aligned to content frames with MAS (see module doc)."""

    def __init__(self, config: AlignerConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.prior = _ConvStack(c.phone_channels, c.hidden, 2 * c.content_dim, c.kernel_size, c.dropout)
        self.duration = _ConvStack(c.phone_channels, c.hidden, 1, c.kernel_size, c.dropout)

    def _prior(
        self, phone_states: torch.Tensor, phone_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        stats = self.prior(phone_states, phone_mask)  # [B, 2D, P]
        d = self.config.content_dim
        return stats[:, :d], stats[:, d:].clamp_min(MIN_LOG_STD)

    def _log_likelihood(
        self, phone_states: torch.Tensor, phone_mask: torch.Tensor, content: torch.Tensor
    ) -> torch.Tensor:
        """[B, P, T] frame log-likelihoods in nats per content channel (float32)."""
        mean, log_std = self._prior(phone_states, phone_mask)
        with torch.autocast(device_type=content.device.type, enabled=False):
            return gaussian_log_likelihood(mean, log_std, content) / self.config.content_dim

    def predict_durations(self, phone_states: torch.Tensor, phone_lengths: torch.Tensor) -> torch.Tensor:
        """Expected latent frames (50 Hz) per phone from the phones alone: [B, P] float, 0 on padding."""
        mask = length_mask(phone_lengths, phone_states.shape[-1], phone_states.dtype)  # [B, 1, P]
        log_d = self.duration(phone_states, mask)[:, 0].float()  # [B, P]
        return torch.exp(log_d) * mask[:, 0]

    def forward(
        self,
        phone_states: torch.Tensor,
        phone_lengths: torch.Tensor,
        content: torch.Tensor,
        frame_lengths: torch.Tensor,
    ) -> AlignerOutput:
        """Align and compute both losses.

        ``phone_states`` [B, H, P] (detach them: the official weights must not learn from this loss),
        ``content`` [B, content_dim, T] content frames (detached), lengths [B]. Every item needs at least as
        many frames as phones (:class:`~gpt_sovits.models.mas.AlignmentError` otherwise).
        """
        phone_mask = length_mask(phone_lengths, phone_states.shape[-1], phone_states.dtype)  # [B, 1, P]
        frame_mask = length_mask(frame_lengths, content.shape[-1], torch.float32)  # [B, 1, T]
        ll = self._log_likelihood(phone_states, phone_mask, content)  # [B, P, T]
        path = maximum_path(ll.detach(), phone_mask[:, 0], frame_mask[:, 0])  # [B, P, T]
        n_frames = frame_mask.sum().clamp_min(1)
        nll = -(ll * path).sum() / n_frames
        durations = path_to_durations(path)  # [B, P]
        log_pred = self.duration(phone_states, phone_mask)[:, 0].float()  # [B, P]
        target = torch.log(durations.float().clamp_min(1))
        pm = phone_mask[:, 0].float()
        duration_loss = ((log_pred - target).square() * pm).sum() / pm.sum().clamp_min(1)
        return AlignerOutput(path, durations, nll, duration_loss, log_pred * pm)

    @torch.no_grad()
    def analyse(
        self,
        phone_states: torch.Tensor,
        phone_lengths: torch.Tensor,
        content: torch.Tensor,
        frame_lengths: torch.Tensor,
    ) -> Alignment:
        """Align without gradients and summarise how well the transcript fits the frames.

        Thresholding (dataset QA): ``score`` is the mean per-frame cost, in nats per content channel, of
        forcing the transcript's phone order on the frames instead of letting each frame pick its best phone
        of the same transcript. A matching transcript costs little (its best phones already come in order);
        a clip whose label is another sentence must bend frames onto phones that do not fit them, so its
        score is clearly more negative. ``duration_error`` (mean |log(MAS / predicted)|) grows in the same
        case. Scores depend on the model and the speaker, so compare a clip with the other clips of its own
        dataset rather than with a fixed number: :func:`flag_mislabelled` flags a clip whose score is below
        :data:`QA_SCORE_RATIO` (2.5) times the dataset median, or whose duration error exceeds
        :data:`QA_DURATION_ERROR` (0.5). Measured on real (piper) speech with a small aligner trained on
        the clips' correct transcripts (tests/test_aligner.py, three runs): correct labels scored at most
        1.7x the median with duration errors <= 0.37; labels swapped for another sentence of the dataset
        had duration errors >= 0.68 and scores from 1.4x to 5x the median, so the duration error is the
        steadier signal and the score a second one.
        Caveat: score clips with an aligner trained on their correct transcripts, or expect a mislabelled
        clip the aligner trained on for long to be partly memorised (its score then moves toward the
        others'); the aligner's durations also generalise poorly to sentences unlike its training set.
        """
        was_training = self.training
        self.eval()
        try:
            phone_mask = length_mask(phone_lengths, phone_states.shape[-1], phone_states.dtype)  # [B, 1, P]
            frame_mask = length_mask(frame_lengths, content.shape[-1], torch.float32)[:, 0]  # [B, T]
            ll = self._log_likelihood(phone_states, phone_mask, content)  # [B, P, T]
            path = maximum_path(ll, phone_mask[:, 0], frame_mask)
            durations = path_to_durations(path)  # [B, P]
            frame_ll = (ll * path).sum(1) * frame_mask  # [B, T]
            pm = phone_mask[:, 0].float()  # [B, P]
            best = ll.masked_fill(pm[:, :, None] == 0, float("-inf")).amax(1) * frame_mask  # [B, T]
            gap = frame_ll - best  # [B, T]
            n_frames = frame_mask.sum(1).clamp_min(1)
            score = gap.sum(1) / n_frames
            predicted = self.predict_durations(phone_states, phone_lengths)  # [B, P]
            ratio = torch.log(durations.float().clamp_min(1) / predicted.clamp_min(1e-3)).abs() * pm
            duration_error = ratio.sum(1) / pm.sum(1).clamp_min(1)
        finally:
            self.train(was_training)
        return Alignment(durations, predicted, frame_ll, best, gap, score, duration_error)


QA_SCORE_RATIO = 2.5
"""A clip whose :attr:`Alignment.score` is below ``QA_SCORE_RATIO`` times its dataset's median score
(scores are negative) fits its transcript much worse than its peers."""

QA_DURATION_ERROR = 0.5
"""A clip whose :attr:`Alignment.duration_error` exceeds this (aligned durations off by a factor of about
e^0.5 = 1.65 from the predicted ones, on average over its phones) does not speak its transcript's phones."""


def flag_mislabelled(score: torch.Tensor, duration_error: torch.Tensor) -> torch.Tensor:
    """QA decision over one dataset's clips: [N] scores and duration errors -> [N] bool (True: check the
    transcript). Either signal flags a clip; see :meth:`PhoneAligner.analyse` for what they measure."""
    median = score.median()
    return (score < QA_SCORE_RATIO * median) | (duration_error > QA_DURATION_ERROR)
