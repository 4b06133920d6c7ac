"""Device and precision choice, made once at an entry point and passed down."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DeviceChoice:
    """Where models run and in which floating-point precision."""

    device: torch.device
    dtype: torch.dtype

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"


def choose_device(requested: str = "auto", precision: str = "auto") -> DeviceChoice:
    """Resolve a device request ("auto", "cpu", "cuda", "cuda:1") and a precision.

    ``precision`` is "auto", "fp32", "fp16" or "bf16". "auto" gives fp16 on CUDA (bf16 where the GPU
    supports it well, i.e. compute capability 8.0 or newer) and fp32 on CPU.
    """
    if requested == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Device {requested!r} was requested but CUDA is not available in this PyTorch build "
                "or on this machine. Use --device cpu, or install a CUDA build of torch 2.13.0."
            )
    table = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if precision == "auto":
        if device.type == "cuda":
            major, _ = torch.cuda.get_device_capability(device)
            dtype = torch.bfloat16 if major >= 8 else torch.float16
        else:
            dtype = torch.float32
    elif precision in table:
        dtype = table[precision]
    else:
        raise ValueError(f"Unknown precision {precision!r}; use one of auto, fp32, fp16, bf16.")
    return DeviceChoice(device=device, dtype=dtype)
