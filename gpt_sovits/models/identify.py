"""Tell what a model file is (GPT, SoVITS generator, discriminator, speaker encoder) and its version.

Decided from the content: key names, embedding rows, kernel shapes and the header digits newer upstream
versions write. Upstream GPT-SoVITS falls back on file size; we never do, because fine-tuned files with extra
weights, other precisions or trimmed keys would be misread.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gpt_sovits.models.checkpoint import CheckpointError, RawCheckpoint

# Phone inventory sizes: v1 has 322 symbols, v2 and later 732. The GPT's v1 text embedding is 512 rows
# (upstream's v1 phoneme_vocab_size), v2's is 732.
SOVITS_SYMBOLS = {322: "v1", 732: "v2"}
GPT_TEXT_ROWS = {512: "v1", 732: "v2"}

KINDS = ("gpt", "sovits", "sovits_discriminator", "speaker_eres2netv2")


@dataclass(frozen=True)
class ModelIdentity:
    """What a file holds: ``kind`` (one of :data:`KINDS`), ``version`` and how the version was decided."""

    kind: str
    version: str
    evidence: str
    has_posterior_encoder: bool = False

    def describe(self) -> str:
        return f"{self.kind} {self.version} ({self.evidence})"


def _unsupported(raw: RawCheckpoint, what: str) -> CheckpointError:
    return CheckpointError(
        f"{raw.path} is a GPT-SoVITS {what} model. This application supports v1, v2, v2Pro and v2ProPlus "
        "models; use a v2Pro/v2ProPlus voice instead, or run this file in GPT-SoVITS itself."
    )


def _rows(weight: dict[str, torch.Tensor], key: str) -> int | None:
    tensor = weight.get(key)
    return int(tensor.shape[0]) if tensor is not None else None


def _identify_sovits(raw: RawCheckpoint) -> ModelIdentity:
    weight = raw.weight
    header = raw.header_version
    has_q = any(k.startswith("enc_q.") for k in weight)
    if header in ("v3", "v4", "v3-lora", "v4-lora") or any(k.startswith(("cfm.", "bridge.")) for k in weight):
        raise _unsupported(raw, header or "v3/v4")
    if "sv_emb.weight" in weight:
        # v2Pro and v2ProPlus share the module layout; ProPlus has a wider decoder whose first upsampling
        # kernel is 20 taps instead of 16 (s2v2ProPlus.json: upsample_kernel_sizes [20, 16, 8, 2, 2]).
        if header in ("v2Pro", "v2ProPlus"):
            return ModelIdentity("sovits", header, f"header {raw.header.decode()}", has_q)
        first_kernel = weight.get("dec.ups.0.weight_v", weight.get("dec.ups.0.weight"))
        taps = int(first_kernel.shape[-1]) if first_kernel is not None else 16
        version = "v2ProPlus" if taps == 20 else "v2Pro"
        return ModelIdentity(
            "sovits", version, f"speaker projection present, first upsampling kernel {taps}", has_q
        )
    rows = _rows(weight, "enc_p.text_embedding.weight")
    if rows not in SOVITS_SYMBOLS:
        raise CheckpointError(
            f"{raw.path}: SoVITS text embedding has {rows} rows; expected 322 (v1) or 732 (v2). "
            "The file is damaged or from an unknown variant."
        )
    return ModelIdentity("sovits", SOVITS_SYMBOLS[rows], f"{rows} phone symbols", has_q)


def identify(raw: RawCheckpoint) -> ModelIdentity:
    """Decide kind and version of a read file; raise :class:`CheckpointError` for anything unsupported."""
    own = raw.extra.get("gpt_sovits")
    weight = raw.weight
    keys = weight.keys()
    if any(k.startswith("model.ar_audio_embedding.") for k in keys):
        rows = _rows(weight, "model.ar_text_embedding.word_embeddings.weight")
        if rows not in GPT_TEXT_ROWS:
            raise CheckpointError(
                f"{raw.path}: GPT text embedding has {rows} rows; expected 512 (v1) or 732 (v2 and later)."
            )
        return ModelIdentity("gpt", GPT_TEXT_ROWS[rows], f"{rows} text embedding rows")
    if "enc_p.text_embedding.weight" in keys or "dec.conv_pre.weight" in keys:
        identity = _identify_sovits(raw)
    elif any(k.startswith("discriminators.") for k in keys):
        identity = ModelIdentity("sovits_discriminator", "v2", "multi-period discriminator keys")
    elif "conv1.weight" in keys and any(k.startswith("layer4.") for k in keys) and "seg_1.weight" in keys:
        identity = ModelIdentity("speaker_eres2netv2", "v2Pro", "ERes2NetV2 layer layout")
    else:
        sample = sorted(keys)[:4]
        raise CheckpointError(
            f"{raw.path} holds weights, but not of a GPT-SoVITS model this application knows (keys like {sample})."
        )
    if isinstance(own, dict) and own.get("version") and own.get("kind") == identity.kind:
        if own["version"] != identity.version:
            raise CheckpointError(
                f"{raw.path} says it is {own['kind']} {own['version']} but its weights are {identity.version}; "
                "the file was edited or damaged."
            )
    return identity
