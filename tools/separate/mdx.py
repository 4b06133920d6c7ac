"""MDX-Net inference: STFT chunks in, overlap-added waveform out.

The network sees a stereo complex spectrogram as four real planes ``[B, 4, dim_f, dim_t]`` in the
order (left real, left imag, right real, right imag), with the bins at and above ``dim_f`` dropped
and the lowest ``zero_low_bins`` silenced, as UVR feeds it. Each chunk spans ``hop * (dim_t - 1)``
samples so that a centred STFT gives exactly ``dim_t`` frames. The audio is padded by ``n_fft // 2``
samples at the front; chunks advance by ``chunk - n_fft`` samples (UVR's default overlap) or by
``(1 - overlap) * chunk`` and are blended with a Hann-shaped weight, so every sample's estimate comes
mostly from a chunk where it lies away from the edges the STFT spoils.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gpt_sovits.errors import require_module
from tools.separate.models import MDXParams, ModelError

logger = logging.getLogger(__name__)

ModelFn = Callable[[np.ndarray], np.ndarray]  # float32 [B, 4, dim_f, dim_t] -> same shape


def wave_to_spec(waves: torch.Tensor, params: MDXParams, window: torch.Tensor) -> torch.Tensor:
    """[B, 2, chunk] stereo waveforms -> [B, 4, dim_f, dim_t] model input (low bins zeroed)."""
    batch, channels, length = waves.shape
    spec = torch.stft(
        waves.reshape(batch * channels, length),
        n_fft=params.n_fft,
        hop_length=params.hop,
        window=window,
        center=True,
        return_complex=True,
    )  # [B*2, n_bins, dim_t] complex
    planes = torch.view_as_real(spec).permute(0, 3, 1, 2)  # [B*2, 2 (re/im), n_bins, dim_t]
    planes = planes.reshape(batch, channels * 2, params.n_bins, -1)[:, :, : params.dim_f].contiguous()
    planes[:, :, : params.zero_low_bins] = 0.0
    return planes  # [B, 4, dim_f, dim_t]


def spec_to_wave(spec: torch.Tensor, params: MDXParams, window: torch.Tensor) -> torch.Tensor:
    """[B, 4, dim_f, dim_t] model output -> [B, 2, chunk] waveforms; bins above dim_f are zero."""
    batch, planes, dim_f, frames = spec.shape
    full = torch.nn.functional.pad(spec, (0, 0, 0, params.n_bins - dim_f))  # [B, 4, n_bins, dim_t]
    full = full.reshape(batch * planes // 2, 2, params.n_bins, frames).permute(0, 2, 3, 1)
    complex_spec = torch.view_as_complex(full.contiguous())  # [B*2, n_bins, dim_t]
    wave = torch.istft(
        complex_spec,
        n_fft=params.n_fft,
        hop_length=params.hop,
        window=window,
        center=True,
        length=params.chunk_size,
    )  # [B*2, chunk]
    return wave.reshape(batch, planes // 2, params.chunk_size)


@dataclass(frozen=True)
class ChunkPlan:
    """Where the chunks of one signal start, in the front-padded signal of length ``total``."""

    starts: tuple[int, ...]
    total: int
    step: int


def plan_chunks(n_samples: int, params: MDXParams, overlap: float | None = None) -> ChunkPlan:
    """Lay chunks over ``n_samples`` so that every sample lies >= n_fft/2 inside some chunk.

    ``overlap`` None is UVR's "Default" (step = chunk - n_fft); a fraction in (0, 1) gives
    step = (1 - overlap) * chunk, capped at chunk - n_fft to keep that guarantee.
    """
    chunk, trim = params.chunk_size, params.trim
    inner = chunk - 2 * trim  # samples per chunk far enough from both edges
    if overlap is None:
        step = inner
    elif 0.0 < overlap < 1.0:
        step = max(1, min(int((1.0 - overlap) * chunk), inner))
    else:
        raise ValueError(f"overlap must be None (UVR default) or a fraction in (0, 1), got {overlap!r}")
    # The last chunk's inner part must reach the last sample: start + chunk - trim >= trim + n.
    extra = max(0, math.ceil((n_samples - inner) / step))
    starts = tuple(k * step for k in range(extra + 1))
    return ChunkPlan(starts=starts, total=starts[-1] + chunk, step=step)


def chunk_weight(size: int) -> np.ndarray:
    """Symmetric Hann taper (zero at both ends) used to blend overlapping chunks."""
    j = np.arange(size, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * j / (size - 1))).astype(np.float32)


@dataclass
class DemixOutput:
    """Result of :func:`demix`: the compensated primary stem and, if asked, the band-limited mix."""

    primary: np.ndarray  # [2, n] float32, network output times compensate
    band_limited_mix: np.ndarray | None  # [2, n] the mix through the same STFT cut, no network


def _run_model(model: ModelFn, spec: torch.Tensor, denoise: bool) -> torch.Tensor:
    x = spec.numpy()
    out = model(x)
    if denoise:
        # UVR's "denoise": keep the part of the output that is odd in the input, 0.5*(f(x) - f(-x)),
        # which cancels artefacts the network adds regardless of the input's sign.
        out = 0.5 * (out - model(-x))
    out = np.asarray(out, dtype=np.float32)
    if out.shape != x.shape:
        raise ModelError(f"The separation model returned shape {out.shape} for input {x.shape}.")
    return torch.from_numpy(out)


def demix(
    mix: np.ndarray,
    params: MDXParams,
    model: ModelFn,
    *,
    overlap: float | None = None,
    batch_size: int = 1,
    denoise: bool = False,
    band_limited_mix: bool = False,
    progress: Callable[[float], None] | None = None,
) -> DemixOutput:
    """Run an MDX-Net model over a whole stereo signal.

    Args:
        mix: [2, n] float32 at the model's rate.
        params: the model's STFT geometry and compensation.
        model: maps [B, 4, dim_f, dim_t] float32 arrays to the same shape (an ONNX session wrapper).
        overlap: None for UVR's default chunk step, or a fraction in (0, 1).
        batch_size: chunks per model call.
        denoise: average f(x) and -f(-x) (two model calls per chunk).
        band_limited_mix: also return the mix passed through the same STFT band cut.
        progress: called with the fraction of chunks done.
    """
    if mix.ndim != 2 or mix.shape[0] != 2:
        raise ValueError(f"mix must be [2, samples], got {mix.shape}")
    n = mix.shape[1]
    plan = plan_chunks(n, params, overlap)
    chunk, trim = params.chunk_size, params.trim
    padded = np.zeros((2, plan.total), dtype=np.float32)
    padded[:, trim : trim + n] = mix
    weight = chunk_weight(chunk)  # [chunk]
    acc = np.zeros((2, plan.total), dtype=np.float32)
    acc_cut = np.zeros((2, plan.total), dtype=np.float32) if band_limited_mix else None
    norm = np.zeros(plan.total, dtype=np.float32)
    window = torch.hann_window(params.n_fft, periodic=True)
    batch_size = max(1, int(batch_size))
    with torch.inference_mode():
        for first in range(0, len(plan.starts), batch_size):
            starts = plan.starts[first : first + batch_size]
            waves = np.stack([padded[:, s : s + chunk] for s in starts])  # [b, 2, chunk]
            spec = wave_to_spec(torch.from_numpy(waves), params, window)  # [b, 4, dim_f, dim_t]
            out = spec_to_wave(_run_model(model, spec, denoise), params, window).numpy()  # [b, 2, chunk]
            cut = spec_to_wave(spec, params, window).numpy() if acc_cut is not None else None
            for i, s in enumerate(starts):
                acc[:, s : s + chunk] += out[i] * weight
                if acc_cut is not None:
                    acc_cut[:, s : s + chunk] += cut[i] * weight
                norm[s : s + chunk] += weight
            if progress is not None:
                progress((first + len(starts)) / len(plan.starts))
    norm = norm[trim : trim + n]
    if not np.all(norm > 0):  # cannot happen with plan_chunks; guards against a future change
        raise RuntimeError("chunk plan left samples without weight")
    primary = acc[:, trim : trim + n] / norm * np.float32(params.compensate)
    limited = acc_cut[:, trim : trim + n] / norm if acc_cut is not None else None
    return DemixOutput(primary=primary.astype(np.float32), band_limited_mix=limited)


class OnnxModel:
    """An MDX-Net ``.onnx`` file run by onnxruntime: CUDA when available and allowed, else CPU."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0) -> None:
        ort = require_module("onnxruntime", "Vocal separation", "webui", "onnxruntime")
        available = ort.get_available_providers()
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
        if device == "cuda" and "CUDAExecutionProvider" not in available:
            raise ModelError(
                "CUDA was requested for separation but this onnxruntime has no CUDA provider "
                f"(it has {', '.join(available)}). Install onnxruntime-gpu, or use device 'cpu'."
            )
        use_cuda = device != "cpu" and "CUDAExecutionProvider" in available
        providers = (
            ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
        )
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads > 0:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelError(
                f"Cannot load separation model '{path}': {exc}. Re-download the .onnx file."
            ) from exc
        self.path = Path(path)
        self.providers: list[str] = list(self.session.get_providers())
        inp = self.session.get_inputs()[0]
        self.input_name: str = inp.name
        self.input_shape: list = list(inp.shape)  # e.g. ['batch_size', 4, 3072, 256]
        logger.info("Loaded %s with %s", self.path.name, ", ".join(self.providers))

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the graph is fixed to, or None if it accepts any."""
        first = self.input_shape[0] if self.input_shape else None
        return first if isinstance(first, int) and first > 0 else None

    def check_params(self, params: MDXParams) -> None:
        """Raise ModelError if the network's input shape disagrees with ``params``."""
        shape = self.input_shape
        expected = [4, params.dim_f, params.dim_t]
        if len(shape) != 4 or any(isinstance(a, int) and a != b for a, b in zip(shape[1:], expected)):
            raise ModelError(
                f"'{self.path.name}' takes input {shape}, but its parameters give [batch, 4, "
                f"{params.dim_f}, {params.dim_t}]. Check dim_f and dim_t (frames, not UVR's exponent)."
            )

    def __call__(self, spec: np.ndarray) -> np.ndarray:
        """Run the network on float32 [B, 4, dim_f, dim_t]."""
        x = np.ascontiguousarray(spec, dtype=np.float32)
        return self.session.run(None, {self.input_name: x})[0]
