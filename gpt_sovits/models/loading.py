"""Build ready-to-use models from files: one ``load_*`` function per artifact.

Each reads the file safely (:mod:`gpt_sovits.models.checkpoint`), checks it is the expected kind, builds
the module from the file's own config (the official full-size preset when a file has none), copies the
weights by name, and places the model on the device and precision the caller chose once at its entry
point. A weight that is missing or has the wrong shape is an error naming the file; keys the model does not
know are ignored with a log line, as upstream does (this keeps files with extra training-only weights
loadable everywhere).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gpt_sovits.models.checkpoint import CheckpointError, RawCheckpoint, read_checkpoint
from gpt_sovits.models.identify import ModelIdentity, identify

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A model built from a file, with what the file said about itself."""

    module: nn.Module
    config: Any
    identity: ModelIdentity
    path: Path
    info: str | None
    raw_config: dict[str, Any]

    @property
    def version(self) -> str:
        return self.identity.version

    def parameter_bytes(self) -> int:
        """Memory held by parameters and buffers, for the registry's budget."""
        tensors = list(self.module.parameters()) + list(self.module.buffers())
        return sum(t.numel() * t.element_size() for t in tensors)


def _read(path: str | Path, kind: str) -> tuple[RawCheckpoint, ModelIdentity]:
    raw = read_checkpoint(path)
    identity = identify(raw)
    if identity.kind != kind:
        wanted = {"gpt": "a GPT (.ckpt)", "sovits": "a SoVITS (.pth)"}.get(kind, kind)
        raise CheckpointError(f"{raw.path} is a {identity.describe()} file, but {wanted} model was expected.")
    return raw, identity


def _copy_weights(module: nn.Module, weight: dict[str, torch.Tensor], path: Path) -> None:
    """Copy by name (float32 from the stored fp16); missing or misshapen weights are errors."""
    own = module.state_dict()
    problems = [
        f"{k}: file {tuple(weight[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in weight and weight[k].shape != v.shape
    ]
    missing = [k for k in own if k not in weight]
    if problems or missing:
        detail = "; ".join(problems[:3] + [f"missing {k}" for k in missing[:3]])
        raise CheckpointError(
            f"{path} does not fit the model its config describes ({len(problems)} shape mismatches, "
            f"{len(missing)} missing weights: {detail}). The file is damaged or was edited."
        )
    unknown = sorted(set(weight) - set(own))
    if unknown:
        logger.info(
            "%s: ignoring %d weights this model does not use (e.g. %s)", path, len(unknown), unknown[0]
        )
    with torch.no_grad():
        module.load_state_dict({k: weight[k].to(v.dtype) for k, v in own.items()}, strict=True)


def _place(module: nn.Module, device: torch.device | str, dtype: torch.dtype) -> nn.Module:
    """Put ``module`` on ``device``; reduced precision only where it pays (CUDA; CPU bf16 is opt-in)."""
    device = torch.device(device)
    return module.to(device=device, dtype=dtype if dtype != torch.float32 else None).eval()


def load_sovits(
    path: str | Path,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    for_training: bool = False,
) -> LoadedModel:
    """Load a SoVITS generator (v1, v2, v2Pro, v2ProPlus) from an official or own ``.pth`` file.

    For inference the model is prepared in place (weight norm folded, posterior encoder dropped,
    fast decoder layout). On CPU, ``dtype=torch.bfloat16`` runs only the HiFi-GAN decoder in bf16 (the
    measured speed/accuracy trade-off in docs/benchmarks.md); on CUDA the whole model takes ``dtype``.
    ``for_training=True`` keeps weight norm and the posterior encoder (the file must contain it,
    as the pretrained ``s2G`` files do).
    A file with ``aligner.*`` weights (this project's fine-tunes) also gets the phone aligner
    (``module.has_aligner``), kept through inference preparation.
    """
    from gpt_sovits.models.sovits import SoVITSConfig, SoVITSSynthesizer

    raw, identity = _read(path, "sovits")
    if raw.config:
        config = SoVITSConfig.from_hparams(raw.config, version=identity.version)
    else:
        config = SoVITSConfig.preset(identity.version)
    if for_training and not identity.has_posterior_encoder:
        raise CheckpointError(
            f"{raw.path} is an inference file (its posterior encoder enc_q was removed), so training cannot "
            "start from it alone; start from the pretrained s2G file, which keeps it."
        )
    # this project's phone aligner travels under ``aligner.*`` (official files have none)
    with_aligner = any(k.startswith("aligner.") for k in raw.weight)
    module = SoVITSSynthesizer(
        config, with_posterior=identity.has_posterior_encoder, with_aligner=with_aligner
    )
    _copy_weights(module, raw.weight, raw.path)
    device = torch.device(device)
    if for_training:
        module = module.to(device).train()
    elif device.type == "cpu":
        module.prepare_for_inference(decoder_dtype=dtype if dtype != torch.float32 else None)
        module = module.to(device)
    else:
        module.prepare_for_inference()
        module = _place(module, device, dtype)
    return LoadedModel(module, config, identity, raw.path, raw.info, raw.config)


def load_gpt(
    path: str | Path,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> LoadedModel:
    """Load the text-to-semantic GPT from an official or own ``.ckpt`` file.

    The module stays float32 on the CPU (the fast decoder keeps its own bf16/fp16 copies of the
    projection weights when asked: ``T2SDecoder(model, weight_dtype=...)``); on CUDA it takes ``dtype``.
    """
    from gpt_sovits.models.t2s import T2SConfig, Text2SemanticModel

    raw, identity = _read(path, "gpt")
    if raw.config.get("model"):
        config = T2SConfig.from_official(raw.config)
    else:
        config = T2SConfig.v1() if identity.version == "v1" else T2SConfig.v2()
    module = Text2SemanticModel(config)
    _copy_weights(module, {k.removeprefix("model."): v for k, v in raw.weight.items()}, raw.path)
    device = torch.device(device)
    module = _place(module, device, dtype if device.type != "cpu" else torch.float32)
    return LoadedModel(module, config, identity, raw.path, raw.info, raw.config)
