"""Inference guard and length prior from the SoVITS file's phone aligner (``aligner.*`` weights).

After the GPT generates a row's codes, :func:`check_codes` aligns the row's phones to the content frames
the codes decode to (the frames SoVITS itself reads) with the aligner of :mod:`gpt_sovits.models.sovits.
aligner`, and compares the aligned durations with the durations the aligner predicts from the phones:

- **skipped phones**: a run of consecutive phones that together got far fewer frames than predicted
  (``sum(aligned) <= skip_ratio * sum(predicted)`` over a run predicted to last at least
  ``skip_min_frames``): the GPT jumped over words (MAS gives every phone at least one frame, so a deleted
  word shows up as a squeezed run);
- **repeated span**: the row is much longer than predicted (``frames > long_ratio * predicted``), one phone
  is stretched far beyond its prediction (``aligned > stretch_ratio * predicted + stretch_min_frames``), or a
  run of frames fits no phone in order (the moving mean of the per-frame cost of the monotonic order,
  :attr:`Alignment.gap`, over ``misfit_window`` frames drops below ``misfit_gap``): repeated words fit phones
  said earlier, which MAS cannot revisit.

The engine regenerates a flagged row with a new seed (``SynthesisOptions.guard_retries`` times at most) and
keeps the attempt with the lowest :attr:`GuardVerdict.badness`. :func:`length_budget` is the length prior:
the GPT token budget from the predicted duration. Thresholds were measured on real (piper) speech with a
trained test aligner; see tests/test_guard.py for the margins.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from gpt_sovits.inference.textprep import prior_budget


@dataclass(frozen=True)
class GuardThresholds:
    """When a row's alignment counts as a skip or a repetition (see the module doc)."""

    skip_ratio: float = 0.3
    skip_min_frames: float = 10.0
    long_ratio: float = 1.5
    stretch_ratio: float = 3.0
    stretch_min_frames: float = 6.0
    misfit_window: int = 8
    misfit_gap: float = -1.0


@dataclass(frozen=True)
class GuardVerdict:
    """The guard's finding for one row: ``reasons`` is empty when the row looks fine."""

    reasons: tuple[str, ...]
    frames: int
    predicted_frames: float
    score: float
    badness: float  # 0 when fine; larger is worse (to keep the best of several attempts)

    @property
    def ok(self) -> bool:
        return not self.reasons


def _skipped_run(
    durations: torch.Tensor, predicted: torch.Tensor, th: GuardThresholds
) -> tuple[int, int, float]:
    """The worst run of phones (start, end, deficit in frames) squeezed below ``skip_ratio`` of its prediction.

    ``durations``, ``predicted`` [P]. Quadratic in P over contiguous runs via prefix sums (P is at most a few
    hundred phones per row).
    """
    d = torch.cat([durations.new_zeros(1), durations.float().cumsum(0)])  # [P + 1]
    p = torch.cat([predicted.new_zeros(1), predicted.float().cumsum(0)])  # [P + 1]
    got = d[None, :] - d[:, None]  # [P + 1, P + 1]: frames of phones i..j-1
    want = p[None, :] - p[:, None]
    bad = (want >= th.skip_min_frames) & (got <= th.skip_ratio * want)
    if not bool(bad.any()):
        return -1, -1, 0.0
    deficit = torch.where(bad, want - got, torch.zeros_like(want))
    flat = int(deficit.argmax())
    i, j = divmod(flat, deficit.shape[1])
    return i, j, float(deficit[i, j])


def verdict(
    alignment, index: int, phones: int, frames: int, th: GuardThresholds | None = None
) -> GuardVerdict:
    """Judge item ``index`` of an :class:`~gpt_sovits.models.sovits.aligner.Alignment` (its real lengths)."""
    th = th or GuardThresholds()
    durations = alignment.durations[index, :phones].cpu()
    predicted = alignment.predicted[index, :phones].float().cpu()
    gap = alignment.gap[index, :frames].float().cpu()
    total_pred = float(predicted.sum())
    reasons = []
    badness = 0.0
    start, end, deficit = _skipped_run(durations, predicted, th)
    if deficit > 0:
        reasons.append(
            f"phones {start}-{end - 1} got {deficit:.0f} fewer frames than predicted (skipped words)"
        )
        badness += deficit
    if frames > th.long_ratio * total_pred:
        reasons.append(f"{frames} frames for {total_pred:.0f} predicted (too long: repetition)")
        badness += frames - th.long_ratio * total_pred
    extra = durations.float() - (th.stretch_ratio * predicted + th.stretch_min_frames)
    if bool((extra > 0).any()):
        j = int(extra.argmax())
        reasons.append(
            f"phone {j} held {int(durations[j])} frames, predicted {float(predicted[j]):.1f} (repetition)"
        )
        badness += float(extra[j])
    window = min(th.misfit_window, frames)
    smooth = F.avg_pool1d(gap[None, None], window, stride=1)[0, 0]  # [frames - window + 1]
    worst = float(smooth.min()) if smooth.numel() else 0.0
    if worst < th.misfit_gap:
        t = int(smooth.argmin())
        reasons.append(f"frames {t}-{t + window - 1} fit no phone in order (repetition)")
        badness += window * (th.misfit_gap - worst) / abs(th.misfit_gap)
    score = float(alignment.score[index])
    return GuardVerdict(tuple(reasons), frames, total_pred, score, badness)


@dataclass(frozen=True)
class GuardOutcome:
    """What the guard did for one segment: ``attempts`` regenerations, ``reasons`` of the flagged attempts."""

    ok: bool
    attempts: int
    reasons: tuple[str, ...]

    def warning(self, segment: int, streaming: bool = False) -> str:
        """The result warning for a segment the guard flagged or regenerated."""
        first = self.reasons[0] if self.reasons else ""
        if streaming:
            return (
                f"segment {segment} may have skipped or repeated words ({first}); streaming cannot regenerate "
                "it: synthesize without streaming, or try another seed"
            )
        if self.ok:
            return (
                f"segment {segment} was regenerated {self.attempts} time(s) by the alignment guard ({first})"
            )
        return (
            f"segment {segment} still looks wrong after {self.attempts} regeneration(s) ({first}); kept the "
            "best attempt: try another seed or a lower temperature"
        )


@torch.no_grad()
def check_codes(
    model, phone_ids: torch.Tensor, codes: torch.Tensor, th: GuardThresholds | None = None
) -> GuardVerdict:
    """Align one row: ``model`` a SoVITSSynthesizer with an aligner, ``phone_ids`` [P], ``codes`` [N] -> verdict.

    Rows with fewer frames than phones cannot be aligned; they are reported as skipped speech.
    """
    n_phones, n_frames = int(phone_ids.numel()), 2 * int(codes.numel())
    if n_frames < n_phones:
        pred = float(predicted_frames(model, phone_ids))
        return GuardVerdict(
            (f"{n_frames} frames for {n_phones} phones (skipped words)",), n_frames, pred, float("-inf"), pred
        )
    device = next(model.aligner.parameters()).device
    ids = phone_ids.view(1, -1).to(device)
    p_len = torch.tensor([n_phones], device=device)
    states = model.phone_states(ids, p_len)  # [1, H, P]
    content = model.content_from_codes(codes.view(1, 1, -1).to(device))  # [1, 768, 2N]
    dtype = model.aligner.prior.conv_1.weight.dtype
    alignment = model.aligner.analyse(
        states.to(dtype), p_len, content.to(dtype), torch.tensor([content.shape[-1]], device=device)
    )
    return verdict(alignment, 0, n_phones, n_frames, th)


@torch.no_grad()
def predicted_frames(model, phone_ids: torch.Tensor) -> float:
    """Latent frames (50 Hz) the aligner expects for phones ``phone_ids`` [P]."""
    device = next(model.aligner.parameters()).device
    ids = phone_ids.view(1, -1).to(device)
    p_len = torch.tensor([ids.shape[1]], device=device)
    states = model.phone_states(ids, p_len).to(model.aligner.prior.conv_1.weight.dtype)
    return float(model.aligner.predict_durations(states, p_len).sum())


def length_budget(model, phone_ids: torch.Tensor, speed: float = 1.0) -> int:
    """GPT token budget of a row with the length prior (:func:`~gpt_sovits.inference.textprep.prior_budget`)."""
    return prior_budget(int(phone_ids.numel()), predicted_frames(model, phone_ids), speed)
