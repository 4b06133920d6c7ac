"""Semantic codes to audio for one row, whole or piece by piece while the GPT is still generating.

Streaming decodes overlapping windows of codes: each window starts ``context`` codes before the last
emitted boundary (so the SoVITS text encoder and flow see what came before) and stops ``lookahead`` codes
short of the newest code (whose surroundings are not known yet). Joins are cross-faded over ``fade``
samples. Every piece of one row uses slices of one noise draw, the same one the whole-row decode uses,
so the joined stream matches the whole-row audio up to the window edges.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class RowVocoder:
    """Decodes the codes of one row with fixed phones, timbre, speed and noise."""

    model: torch.nn.Module  # a prepared SoVITSSynthesizer
    phones: torch.Tensor  # [1, P]
    timbre: torch.Tensor  # [1, gin, 1]
    speed: float
    noise_scale: float
    noise: torch.Tensor  # [1, inter_channels, max_frames] standard normal
    lock: threading.Lock

    def frames_before(self, code: int) -> int:
        """Latent frame index where code ``code`` starts (25 Hz codes, 2 frames each before speed)."""
        return int(round(2 * code / self.speed))

    def decode(self, codes: torch.Tensor, first: int = 0) -> np.ndarray:
        """Audio of ``codes`` [N] (which start at code index ``first`` of the row), float32 [samples]."""
        f0 = self.frames_before(first)
        with self.lock, torch.inference_mode():
            wav = self.model.decode(
                codes.view(1, 1, -1).to(self.phones.device),
                self.phones,
                None,
                speed=self.speed,
                noise_scale=self.noise_scale,
                timbre=self.timbre,
                noise=self.noise[..., f0:],
            )  # [1, 1, samples]
        return wav[0, 0].float().cpu().numpy()


class RowStreamer:
    """Feeds a growing code sequence, returns audio pieces that join into the row's audio."""

    def __init__(
        self,
        vocoder: RowVocoder,
        first: int = 24,
        context: int = 24,
        lookahead: int = 4,
        fade: int = 640,
        longest: int = 96,
    ) -> None:
        self.vocoder = vocoder
        self.first = first
        self.longest = longest
        self.pieces = 0
        self.context = context
        self.lookahead = lookahead
        self.fade = fade
        self.boundary = 0  # codes emitted so far
        self.held = np.zeros(0, dtype=np.float32)  # last `fade` samples, not emitted yet

    def wanted(self) -> int:
        """New codes needed before the next piece: ``first`` minus the lookahead for the first piece (low
        latency), then doubling up to ``longest`` (fewer overlapping windows, so less repeated work)."""
        if self.pieces == 0:
            return max(1, self.first - self.lookahead)
        return min(self.longest, self.first * 2**self.pieces)

    def feed(self, codes: torch.Tensor, final: bool) -> np.ndarray | None:
        """Audio for the codes up to ``len(codes) - lookahead`` (all of them when ``final``), or None
        when fewer than :meth:`wanted` new codes could be emitted."""
        n = int(codes.numel())
        end = n if final else n - self.lookahead
        if not final and end - self.boundary < self.wanted():
            return None
        self.pieces += 1
        first = max(0, self.boundary - self.context)
        out = self.vocoder.decode(codes[first:n], first)
        per_code = len(out) / max(n - first, 1)
        start = int(round((self.boundary - first) * per_code))
        stop = len(out) if final else int(round((end - first) * per_code))
        piece = out[start:stop]
        if len(self.held):
            f = min(len(self.held), start)  # rounding may leave slightly less overlap than was held
            keep, tail = self.held[: len(self.held) - f], self.held[len(self.held) - f :]
            ramp = np.linspace(0.0, 1.0, f, dtype=np.float32)
            piece = np.concatenate([keep, tail * (1 - ramp) + out[start - f : start] * ramp, piece])
        self.boundary = end
        if final:
            self.held = np.zeros(0, dtype=np.float32)
            return piece
        f = min(self.fade, len(piece), int(self.context * per_code))
        self.held = piece[len(piece) - f :].copy()
        return piece[: len(piece) - f]
