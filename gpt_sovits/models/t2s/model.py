"""The text-to-semantic GPT: a prefix language model over [phones | semantic codes].

Text positions (phone embedding + projected BERT feature + sine positions) attend to all text;
audio positions (semantic-code embedding + their own sine positions) attend to all text and causally
to audio. The state-dict keys equal the official ``.ckpt`` keys without their ``model.`` prefix.

Training (:meth:`Text2SemanticModel.forward`) and inference are separate: inference lives in
:mod:`gpt_sovits.models.t2s.decode` and only uses :meth:`embed_text`, :meth:`embed_audio`,
:meth:`prefix_mask` and the weights.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from gpt_sovits.models.t2s.config import T2SConfig
from gpt_sovits.models.t2s.layers import EncoderLayer, SinePositions, TokenEmbedding, TransformerStack

ACCURACY_TOP_K = 3  # the official trainer logs top-3 accuracy


class T2SLoss(NamedTuple):
    """Training output: summed cross entropy, top-k accuracy over non-EOS targets, and the logits."""

    loss: torch.Tensor  # scalar, sum over every target position of the batch
    accuracy: torch.Tensor  # scalar in [0, 1], not differentiable
    logits: torch.Tensor  # [B, Ty + 1, V]
    targets: torch.Tensor  # [B, Ty + 1]: codes, then EOS (and EOS on padding)


def lengths_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """Bool ``[B, size]``: True at positions ``< lengths[b]``."""
    return torch.arange(size, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def prefix_mask(is_text: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Prefix-LM attention mask ``[B, 1, S, S]`` (True = may attend).

    is_text / valid: bool ``[B, S]``. Every sequence lays out padding, text, then audio, so "text key
    or not in the future" is exactly: text sees all text, audio sees all text and past audio.
    Padding keys are never visible; padding queries still see the text, so no softmax row is empty.
    """
    seq = is_text.shape[1]
    pos = torch.arange(seq, device=is_text.device)
    causal = pos.unsqueeze(1) >= pos.unsqueeze(0)  # [S(query), S(key)]
    keys = is_text.unsqueeze(1) | causal.unsqueeze(0)  # [B, S, S]
    return (keys & valid.unsqueeze(1)).unsqueeze(1)


def left_align(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Move right-padded rows of ``x`` ``[B, T, ...]`` to the right end (left padding, zero-filled)."""
    size = x.shape[1]
    shift = size - lengths  # [B]
    src = torch.arange(size, device=x.device).unsqueeze(0) - shift.unsqueeze(1)  # [B, T]
    keep = src >= 0
    index = src.clamp(min=0).view(*src.shape, *([1] * (x.dim() - 2))).expand_as(x)
    out = torch.gather(x, 1, index)
    return out * keep.view(*keep.shape, *([1] * (x.dim() - 2))).to(out.dtype)


class Text2SemanticModel(nn.Module):
    """GPT-SoVITS text-to-semantic GPT (weights compatible with official ``.ckpt`` files)."""

    def __init__(self, config: T2SConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.hidden_dim
        self.bert_proj = nn.Linear(config.bert_dim, config.embedding_dim)
        self.ar_text_embedding = TokenEmbedding(
            config.phoneme_vocab_size, config.embedding_dim, config.token_dropout
        )
        self.ar_text_position = SinePositions(config.embedding_dim, config.dropout)
        self.ar_audio_embedding = TokenEmbedding(
            config.vocab_size, config.embedding_dim, config.token_dropout
        )
        self.ar_audio_position = SinePositions(config.embedding_dim, config.dropout)
        self.h = TransformerStack(
            [
                EncoderLayer(dim, config.num_heads, config.ffn_dim, config.dropout, config.layer_norm_eps)
                for _ in range(config.num_layers)
            ]
        )
        self.ar_predict_layer = nn.Linear(dim, config.vocab_size, bias=False)

    # ----------------------------------------------------------------- embeddings
    def embed_text(self, phones: torch.Tensor, bert: torch.Tensor) -> torch.Tensor:
        """Phone ids ``[B, T]`` and BERT features ``[B, 1024, T]`` -> ``[B, T, E]`` with positions."""
        x = self.ar_text_embedding(phones) + self.bert_proj(bert.transpose(1, 2))
        return self.ar_text_position(x)

    def embed_audio(self, codes: torch.Tensor) -> torch.Tensor:
        """Semantic codes ``[B, T]`` -> ``[B, T, E]`` with positions 0..T-1."""
        return self.ar_audio_position(self.ar_audio_embedding(codes))

    def prefix_logits(self, phones: torch.Tensor, bert: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Full recompute of the prefix LM for equal-length rows.

        Returns ``[B, Ty + 1, V]``: row ``i`` holds the prediction for code ``i`` (``i = 0`` is
        predicted from the last phone, ``i = Ty`` is the next code after all of ``codes``).
        """
        x = self.embed_text(phones, bert)  # [B, Tx, E]
        y = self.embed_audio(codes)  # [B, Ty, E]
        bsz, tx, ty = x.shape[0], x.shape[1], y.shape[1]
        is_text = (torch.arange(tx + ty, device=x.device) < tx).unsqueeze(0).expand(bsz, -1)
        valid = torch.ones_like(is_text)
        hidden = self.h(torch.cat([x, y], dim=1), prefix_mask(is_text, valid))  # [B, Tx+Ty, E]
        return self.ar_predict_layer(hidden[:, tx - 1 :])

    def teacher_logits(self, phones: torch.Tensor, bert: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
        """Logits at the prompt positions ``[B, Ty, V]`` (the output of each prompt code's position)."""
        return self.prefix_logits(phones, bert, prompt)[:, 1:]

    # ------------------------------------------------------------------- training
    def forward(
        self,
        phones: torch.Tensor,
        phone_lens: torch.Tensor,
        codes: torch.Tensor,
        code_lens: torch.Tensor,
        bert: torch.Tensor,
    ) -> T2SLoss:
        """Training step: teacher-forced logits and the official loss.

        phones ``[B, Tx]`` and bert ``[B, 1024, Tx]`` right-padded (``phone_lens``); codes ``[B, Ty]``
        right-padded (``code_lens``). Targets are the codes followed by EOS; every padding position of
        a shorter row also targets EOS, and the loss is the cross entropy summed over all
        ``B * (Ty + 1)`` positions, as the official trainer does. Accuracy is top-3 over targets != EOS.

        Unlike the official code (whose text mask marks the wrong end of right-padded rows), text is
        left-aligned here so the first code of every row is predicted from its last real phone; for
        equal-length batches the two agree exactly.
        """
        eos = self.config.eos
        tx, ty = phones.shape[1], codes.shape[1]
        x = self.embed_text(phones, bert)  # [B, Tx, E], positions from 0 in every row
        x = left_align(x, phone_lens)
        code_valid = lengths_mask(code_lens, ty)  # [B, Ty]
        targets = F.pad(torch.where(code_valid, codes.long(), eos), (0, 1), value=eos)  # [B, Ty+1]
        y = self.embed_audio(targets[:, :-1])  # [B, Ty, E]
        text_valid = ~lengths_mask(tx - phone_lens, tx)  # left padding
        valid = torch.cat([text_valid, code_valid], dim=1)  # [B, Tx+Ty]
        is_text = (torch.arange(tx + ty, device=x.device) < tx).unsqueeze(0).expand_as(valid)
        hidden = self.h(torch.cat([x, y], dim=1), prefix_mask(is_text, valid))
        logits = self.ar_predict_layer(hidden[:, tx - 1 :])  # [B, Ty+1, V]
        loss = F.cross_entropy(logits.transpose(1, 2), targets, reduction="sum")
        return T2SLoss(loss, topk_accuracy(logits.detach(), targets, ACCURACY_TOP_K, eos), logits, targets)


def topk_accuracy(logits: torch.Tensor, targets: torch.Tensor, k: int, ignore: int) -> torch.Tensor:
    """Share of positions (targets != ``ignore``) whose target is among the ``k`` largest logits."""
    keep = targets != ignore  # [B, T]
    top = logits.topk(min(k, logits.shape[-1]), dim=-1).indices  # [B, T, k]
    hit = (top == targets.unsqueeze(-1)).any(-1) & keep
    return hit.sum().float() / keep.sum().clamp(min=1).float()
