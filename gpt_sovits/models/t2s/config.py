"""Configuration of the text-to-semantic GPT (the prefix language model of GPT-SoVITS).

The official ``.ckpt`` files carry a plain nested ``config`` dict whose ``model`` section names the
sizes (``embedding_dim``, ``hidden_dim``, ``head``, ``n_layer``, ``vocab_size``, ``phoneme_vocab_size``,
``EOS``, ``dropout``). :meth:`T2SConfig.from_official` reads that section.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpt_sovits.errors import GPTSoVITSError


class T2SConfigError(GPTSoVITSError):
    """A GPT checkpoint's ``config`` section is missing values or describes an impossible model."""


@dataclass(frozen=True)
class T2SConfig:
    """Sizes of the text-to-semantic GPT.

    The feed-forward width is always ``4 * hidden_dim``: the official model builds it that way and
    ignores the ``linear_units`` entry of its config (which is 2048 = 4 * 512 in every official file).
    """

    embedding_dim: int = 512
    hidden_dim: int = 512
    num_heads: int = 16
    num_layers: int = 24
    vocab_size: int = 1025  # semantic codes 0..1023 plus EOS
    phoneme_vocab_size: int = 732
    eos: int = 1024
    bert_dim: int = 1024
    token_dropout: float = 0.0  # ``model.dropout`` of the official config (token embeddings only)
    dropout: float = 0.1  # fixed in the official model: attention, feed-forward and positions
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.embedding_dim != self.hidden_dim:
            # Text/audio embeddings feed the transformer directly, so the two widths must agree.
            raise T2SConfigError(
                f"GPT config has embedding_dim {self.embedding_dim} != hidden_dim {self.hidden_dim}; "
                "this model family needs them equal. Check that the file is a GPT-SoVITS GPT (.ckpt)."
            )
        if self.hidden_dim % self.num_heads != 0:
            raise T2SConfigError(
                f"GPT config: hidden_dim {self.hidden_dim} is not divisible by head {self.num_heads}. "
                "The checkpoint's config section is damaged."
            )
        if self.eos != self.vocab_size - 1:
            raise T2SConfigError(
                f"GPT config: EOS {self.eos} must be the last code (vocab_size - 1 = {self.vocab_size - 1})."
            )

    @property
    def ffn_dim(self) -> int:
        """Feed-forward inner width (``4 * hidden_dim``, as the official model builds it)."""
        return 4 * self.hidden_dim

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden_dim // self.num_heads

    @classmethod
    def from_official(cls, config: Mapping[str, Any]) -> T2SConfig:
        """Build from the ``config`` dict stored in an official GPT ``.ckpt`` (reads ``config["model"]``)."""
        model = config.get("model") if isinstance(config, Mapping) else None
        if not isinstance(model, Mapping):
            raise T2SConfigError(
                "GPT checkpoint has no config['model'] section; it is not a GPT-SoVITS GPT (.ckpt) file."
            )
        required = ("embedding_dim", "hidden_dim", "head", "n_layer", "vocab_size", "phoneme_vocab_size")
        missing = [k for k in required if k not in model]
        if missing:
            raise T2SConfigError(
                f"GPT checkpoint config['model'] lacks {', '.join(missing)}; the file is damaged or not a "
                "GPT-SoVITS GPT (.ckpt)."
            )
        vocab = int(model["vocab_size"])
        return cls(
            embedding_dim=int(model["embedding_dim"]),
            hidden_dim=int(model["hidden_dim"]),
            num_heads=int(model["head"]),
            num_layers=int(model["n_layer"]),
            vocab_size=vocab,
            phoneme_vocab_size=int(model["phoneme_vocab_size"]),
            eos=int(model.get("EOS", vocab - 1)),
            token_dropout=float(model.get("dropout", 0.0) or 0.0),
        )

    @classmethod
    def v1(cls) -> T2SConfig:
        """Full-size v1 GPT (s1longer: 512 wide, 24 layers, 16 heads, 512 phones)."""
        return cls(phoneme_vocab_size=512)

    @classmethod
    def v2(cls) -> T2SConfig:
        """Full-size v2 GPT (s1longer-v2: 512 wide, 24 layers, 16 heads, 732 phones); also v2Pro/v3/v4."""
        return cls(phoneme_vocab_size=732)
