"""The SoVITS generator (upstream ``SynthesizerTrn``), v1 / v2 / v2Pro / v2ProPlus.

Submodule names match official state-dict keys: ``enc_p`` (prior/text encoder), ``dec`` (HiFi-GAN),
``enc_q`` (posterior encoder, training only), ``flow``, ``ref_enc`` (timbre encoder), ``ssl_proj`` +
``quantizer`` (frozen content tokenizer) and, for v2Pro/v2ProPlus, ``sv_emb`` / ``prelu`` / ``ge_to512``.
``with_aligner=True`` adds this project's phone aligner under ``aligner.`` (see
:mod:`gpt_sovits.models.sovits.aligner`); official GPT-SoVITS ignores those keys.

Inference::

    model = SoVITSSynthesizer(config)
    model.load_state_dict(weights, strict=False)   # files saved for inference lack enc_q.*
    model.prepare_for_inference()                  # eval, fold weight norm, drop enc_q
    wav = model.decode(codes, phones, [ref_spec])  # [1, 1, samples] at config.sampling_rate
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from gpt_sovits.models.sovits.aligner import AlignerConfig, PhoneAligner
from gpt_sovits.models.sovits.config import SoVITSConfig, SoVITSError
from gpt_sovits.models.sovits.generator import HiFiGANGenerator
from gpt_sovits.models.sovits.layers import fold_weight_norm, length_mask
from gpt_sovits.models.sovits.modules import PosteriorEncoder, ResidualCouplingBlock
from gpt_sovits.models.sovits.quantize import ResidualVectorQuantizer
from gpt_sovits.models.sovits.style import MelStyleEncoder
from gpt_sovits.models.sovits.text_encoder import TextEncoder


class SoVITSTrainOutput(NamedTuple):
    """What the fine-tuning losses need from one training forward (``T`` latent frames, ``S`` segment frames).

    ``wav`` [B, 1, S * hop]: decoded random segments; ``ids_slice`` [B]: their first frames (slice the
    target audio/mel at ``ids_slice * hop``); ``z_mask`` [B, 1, T]; ``z``, ``z_p``, ``m_p``, ``logs_p``,
    ``m_q``, ``logs_q`` [B, inter, T] for the KL term; ``commit_loss``: 0 (frozen quantizer, kept for the
    upstream loss sum); ``quantized`` [B, ssl_dim, T]: the content features (for logging).
    """

    wav: torch.Tensor
    ids_slice: torch.Tensor
    z_mask: torch.Tensor
    z: torch.Tensor
    z_p: torch.Tensor
    m_p: torch.Tensor
    logs_p: torch.Tensor
    m_q: torch.Tensor
    logs_q: torch.Tensor
    commit_loss: torch.Tensor
    quantized: torch.Tensor


def slice_segments(x: torch.Tensor, starts: torch.Tensor, size: int) -> torch.Tensor:
    """Cut ``x[b, :, starts[b] : starts[b] + size]`` for every batch item. [B, C, T] -> [B, C, size]."""
    return torch.stack([x[i, :, int(s) : int(s) + size] for i, s in enumerate(starts)])


class SoVITSSynthesizer(nn.Module):
    """SoVITS generator; build with a :class:`SoVITSConfig` (``SoVITSConfig.from_hparams(ckpt.config)``)."""

    def __init__(self, config: SoVITSConfig, with_posterior: bool = True, with_aligner: bool = False) -> None:
        super().__init__()
        self.config = config
        spec = config.spec
        c = config
        self.enc_p = TextEncoder(
            c.inter_channels,
            c.hidden_channels,
            c.filter_channels,
            c.n_heads,
            c.n_layers,
            c.kernel_size,
            c.p_dropout,
            n_symbols=spec.n_symbols,
            ssl_dim=c.ssl_dim,
            mrte_channels=spec.mrte_channels,
        )
        self.dec = HiFiGANGenerator(
            c.inter_channels,
            c.resblock,
            c.resblock_kernel_sizes,
            c.resblock_dilation_sizes,
            c.upsample_rates,
            c.upsample_initial_channel,
            c.upsample_kernel_sizes,
            gin_channels=c.gin_channels,
        )
        if with_posterior:
            self.enc_q = PosteriorEncoder(
                c.spec_channels, c.inter_channels, c.hidden_channels, 5, 1, c.posterior_layers, c.gin_channels
            )
        self.flow = ResidualCouplingBlock(
            c.inter_channels, c.hidden_channels, 5, 1, c.flow_layers, 4, c.gin_channels
        )
        self.ref_enc = MelStyleEncoder(c.ref_channels, style_vector_dim=c.gin_channels)
        stride = c.code_stride  # 25 Hz codes: the projection halves the 50 Hz SSL frame rate
        self.ssl_proj = nn.Conv1d(c.ssl_dim, c.ssl_dim, stride, stride=stride)
        self.quantizer = ResidualVectorQuantizer(c.ssl_dim, c.n_codebooks, c.codebook_size)
        if spec.uses_sv:
            self.sv_emb = nn.Linear(spec.sv_dim, c.gin_channels)
            self.ge_to512 = nn.Linear(c.gin_channels, spec.mrte_channels)
            self.prelu = nn.PReLU(num_parameters=c.gin_channels)
        if c.freeze_quantizer:
            self.ssl_proj.requires_grad_(False)
        if with_aligner:
            # this project's phone aligner (keys ``aligner.*``), ignored by official GPT-SoVITS
            self.aligner = PhoneAligner(AlignerConfig.for_sovits(c))

    @property
    def has_aligner(self) -> bool:
        """True when the model carries the phone aligner (QA, inference guard, length prior)."""
        return hasattr(self, "aligner")

    # ------------------------------------------------------------------ timbre
    def _timbre_one(
        self, spec: torch.Tensor, mask: torch.Tensor, sv_emb: torch.Tensor | None
    ) -> torch.Tensor:
        """One reference: spectrogram [B, F, T] (+ sv embedding [B, sv_dim]) -> ge [B, gin, 1]."""
        bins = self.config.spec.ref_bins
        if bins is not None:
            spec = spec[:, :bins]
        ge = self.ref_enc(spec * mask, mask)
        if self.config.spec.uses_sv:
            if sv_emb is None:
                raise SoVITSError(
                    f"A {self.config.version} model needs a speaker-verification embedding (sv_emb) for each "
                    "reference; compute it with the speaker encoder from the reference audio."
                )
            ge = self.prelu(ge + self.sv_emb(sv_emb.to(ge.dtype)).unsqueeze(-1))
        return ge

    @torch.no_grad()
    def encode_timbre(
        self,
        refs: torch.Tensor | Sequence[torch.Tensor],
        sv_emb: torch.Tensor | Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Timbre vector ``ge`` [B, gin, 1]: the mean over references of each one's vector.

        ``refs``: one linear spectrogram [B, spec_bins, T] or a list of them (lengths may differ);
        ``sv_emb`` (v2Pro/v2ProPlus): one [B, 20480] embedding per reference (a list, or a tensor when there
        is a single reference). Cache the result to decode many sentences with the same voice.
        """
        refs = [refs] if isinstance(refs, torch.Tensor) else list(refs)
        if not refs:
            raise SoVITSError("decode needs at least one reference spectrogram.")
        if sv_emb is None:
            svs: list[torch.Tensor | None] = [None] * len(refs)
        else:
            svs = [sv_emb] if isinstance(sv_emb, torch.Tensor) else list(sv_emb)
            if len(svs) != len(refs):
                raise SoVITSError(
                    f"Got {len(svs)} sv embeddings for {len(refs)} references; give one per reference."
                )
        ges = []
        for spec, sv in zip(refs, svs):
            mask = torch.ones(spec.shape[0], 1, spec.shape[2], dtype=spec.dtype, device=spec.device)
            ges.append(self._timbre_one(spec, mask, sv))
        return torch.stack(ges, 0).mean(0)

    def _mrte_condition(self, ge: torch.Tensor) -> torch.Tensor:
        """The timbre as MRTE sees it: projected to 512 channels for v2Pro/v2ProPlus. [B, *, 1]."""
        if self.config.spec.uses_sv:
            return self.ge_to512(ge.transpose(1, 2)).transpose(1, 2)
        return ge

    # ------------------------------------------------------------------ content codes
    def _upsample_codes(self, quantized: torch.Tensor) -> torch.Tensor:
        """Content vectors at code rate -> latent frame rate (nearest, x2 at 25 Hz). [B, D, T]."""
        stride = self.config.code_stride
        if stride == 1:
            return quantized
        return F.interpolate(quantized, size=quantized.shape[-1] * stride, mode="nearest")

    @torch.no_grad()
    def content_from_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Semantic codes [B, n_q, T_codes] -> content frames [B, ssl_dim, stride * T_codes] at the latent rate
        (what the prior encoder and the phone aligner read; the same frames training sees)."""
        return self._upsample_codes(self.quantizer.decode(codes))

    def phone_states(self, text: torch.Tensor, text_lengths: torch.Tensor) -> torch.Tensor:
        """Phone ids [B, T_text] -> the prior encoder's phone states [B, hidden, T_text] (aligner input)."""
        return self.enc_p.encode_phones(text, text_lengths)

    @torch.no_grad()
    def extract_latent(self, ssl: torch.Tensor) -> torch.Tensor:
        """SSL features [B, 768, T_ssl] at 50 Hz -> semantic codes [B, n_q, T_codes] (25 Hz: T_ssl // 2)."""
        codes, _ = self.quantizer.encode(self.ssl_proj(ssl))
        return codes

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def decode(
        self,
        codes: torch.Tensor,
        phones: torch.Tensor,
        refs: torch.Tensor | Sequence[torch.Tensor] | None,
        speed: float = 1.0,
        noise_scale: float = 0.5,
        sv_emb: torch.Tensor | Sequence[torch.Tensor] | None = None,
        *,
        timbre: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Synthesize a waveform [B, 1, samples] in [-1, 1] at ``config.sampling_rate``.

        ``codes`` [B, n_q, T_codes] semantic tokens (upstream's ``[1, 1, T]``), ``phones`` [B, T_text] phone
        ids, ``refs`` reference spectrograms (see :meth:`encode_timbre`) or ``None`` when ``timbre`` (a cached
        :meth:`encode_timbre` result) is given. ``speed`` > 1 speaks faster; ``noise_scale`` scales the prior
        sample (0: deterministic); ``noise`` [B, inter_channels, >= T_frames] is a standard-normal draw to use
        instead of drawing from ``generator`` (its first T_frames columns are used), so that decoding pieces of
        one utterance can share one draw. Samples = ``(int(2 * T_codes / speed) + 1) * hop`` when ``speed != 1``,
        else ``2 * T_codes * hop`` (25 Hz codes).
        """
        ge = timbre if timbre is not None else self.encode_timbre(refs, sv_emb)
        dtype = ge.dtype
        quantized = self._upsample_codes(self.quantizer.decode(codes).to(dtype))  # [B, D, T]
        b, _, t = quantized.shape
        y_lengths = torch.full((b,), t, dtype=torch.long, device=codes.device)
        text_lengths = torch.full((b,), phones.shape[-1], dtype=torch.long, device=phones.device)
        _, m_p, logs_p, y_mask = self.enc_p(
            quantized, y_lengths, phones, text_lengths, self._mrte_condition(ge), speed
        )
        z_p = m_p
        if noise_scale:
            if noise is None:
                noise = torch.randn(m_p.shape, generator=generator, dtype=m_p.dtype, device=m_p.device)
            else:
                noise = noise[..., : m_p.shape[-1]].to(device=m_p.device, dtype=m_p.dtype)
            z_p = m_p + noise * torch.exp(logs_p) * noise_scale
        z = self.flow(z_p, y_mask, g=ge, reverse=True)
        dec_dtype = self.dec.conv_pre.weight.dtype  # the decoder may run in bf16 (prepare_for_inference)
        wav = self.dec((z * y_mask).to(dec_dtype), g=ge.to(dec_dtype))
        return wav.to(dtype)

    def prepare_for_inference(
        self,
        *,
        channels_last: bool = True,
        tile_frames: int | None = 80,
        decoder_dtype: torch.dtype | None = None,
    ) -> SoVITSSynthesizer:
        """Make :meth:`decode` fast, in place: eval mode, weight norm folded, posterior encoder dropped.

        Load weights first (a prepared model no longer has ``weight_g``/``weight_v`` or ``enc_q`` keys).
        ``channels_last`` and ``tile_frames`` (decode the late HiFi-GAN stages in tiles of that many latent
        frames, ~1.6 s at 80; ``None``: whole utterance at once) change speed and peak memory, not the
        result. ``decoder_dtype=torch.bfloat16`` also runs the decoder, ~95% of the decode time, in
        bfloat16: about 1.8x faster on CPUs with AVX512-BF16 (more with AMX), at a signal-to-error ratio of
        about 35-43 dB against float32 (measured on random and fixture weights); the rest of the model
        keeps its dtype.
        """
        self.eval()
        if hasattr(self, "enc_q"):
            del self.enc_q
        fold_weight_norm(self)
        self.dec.channels_last = channels_last
        self.dec.reuse_buffers = True
        self.dec.tile_frames = tile_frames
        if decoder_dtype is not None:
            self.dec.to(decoder_dtype)
        return self

    # ------------------------------------------------------------------ training
    def forward(
        self,
        ssl: torch.Tensor,
        spec: torch.Tensor,
        spec_lengths: torch.Tensor,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        sv_emb: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> SoVITSTrainOutput:
        """Training pass (upstream ``SynthesizerTrn.forward``).

        ``ssl`` [B, 768, T] content features at 50 Hz and ``spec`` [B, spec_bins, T] linear spectrogram share
        the (even) frame count ``T``; ``text`` [B, T_text] phone ids; ``sv_emb`` [B, 20480] for v2Pro*.
        The reference for the timbre is the target spectrogram itself, as upstream does.
        """
        if not hasattr(self, "enc_q"):
            raise SoVITSError(
                "This model was prepared for inference (no posterior encoder); rebuild it to train."
            )
        y_mask = length_mask(spec_lengths, spec.size(2), spec.dtype)  # [B, 1, T]
        ge = self._timbre_one(spec, y_mask, sv_emb)  # [B, gin, 1]
        # the content tokenizer is frozen and, as upstream, runs outside mixed precision so codes stay exact
        with torch.no_grad(), torch.autocast(device_type=ssl.device.type, enabled=False):
            _, quantized = self.quantizer.encode(self.ssl_proj(ssl))
        quantized = self._upsample_codes(quantized)
        _, m_p, logs_p, _ = self.enc_p(quantized, spec_lengths, text, text_lengths, self._mrte_condition(ge))
        z, m_q, logs_q = self.enc_q(spec, y_mask, g=ge, generator=generator)
        z_p = self.flow(z, y_mask, g=ge)
        seg = self.config.segment_size
        max_start = (spec_lengths - seg + 1).clamp_min(1)
        rand = torch.rand(spec_lengths.shape, generator=generator, device=spec_lengths.device)
        ids_slice = (rand * max_start).long()
        wav = self.dec(slice_segments(z, ids_slice, seg), g=ge)
        zero = torch.zeros((), dtype=spec.dtype, device=spec.device)
        return SoVITSTrainOutput(wav, ids_slice, y_mask, z, z_p, m_p, logs_p, m_q, logs_q, zero, quantized)
