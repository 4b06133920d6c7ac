"""BERT phone features (chinese-roberta-wwm-ext-large), the text-side input of the GPT stage.

GPT-SoVITS runs the Chinese text of each segment through BERT, takes the hidden state of the third
layer from the top (``hidden_states[-3]``), drops the [CLS]/[SEP] positions to get one vector per
character, and repeats each character's vector once per phone of that character (``word2ph``). The
result is ``[1024, n_phones]``. Segments in any other language (English, Japanese, Korean,
Cantonese, raw phones) get zeros of the same shape.

The folder is the official ``chinese-roberta-wwm-ext-large/`` layout: ``config.json``, the weights
(``pytorch_model.bin`` or ``model.safetensors``, saved from ``BertForMaskedLM``; the masked-LM head is
not loaded) and the tokenizer (``tokenizer.json`` and/or ``vocab.txt``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from gpt_sovits.features.errors import (
    BERT_NAME,
    check_loading_info,
    import_transformers,
    quiet_transformers,
    require_folder,
    unreadable_model,
)
from gpt_sovits.features.hubert import WEIGHT_FILES

log = logging.getLogger(__name__)

BERT_HIDDEN_SIZE = 1024  # chinese-roberta-wwm-ext-large; the GPT's bert_proj expects it
BERT_LANGS = frozenset({"zh"})  # only Chinese segments get real BERT features, as upstream
LAYERS_FROM_TOP = 2  # hidden_states[-3] is the output of the layer two below the top


@dataclass
class BertEncoder:
    """A loaded BERT (cut after the layer whose output is used) with its tokenizer."""

    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    dtype: torch.dtype

    @property
    def hidden_size(self) -> int:
        """Feature size (1024 for chinese-roberta-wwm-ext-large)."""
        return int(self.model.config.hidden_size)

    @property
    def max_chars(self) -> int:
        """Characters one forward pass takes; longer texts are encoded in consecutive windows."""
        return int(self.model.config.max_position_embeddings) - 2

    def _token_ids(self, text: str) -> list[int]:
        """[CLS] + one id per character + [SEP]."""
        tok = self.tokenizer
        ids = tok(text, add_special_tokens=True)["input_ids"]
        if len(ids) == len(text) + 2:
            return list(ids)
        # Whitespace or characters that split into several word pieces break the one-token-per-
        # character assumption (upstream would misalign or fail); map each character on its own.
        log.warning("BERT tokens do not line up with the characters of %r; tokenizing per character", text)
        per_char = []
        for ch in text:
            pieces = tok.tokenize(ch)
            per_char.append(tok.convert_tokens_to_ids(pieces[0]) if pieces else tok.unk_token_id)
        return [tok.cls_token_id, *per_char, tok.sep_token_id]

    def char_features(self, text: str) -> torch.Tensor:
        """One feature vector per character of ``text``: ``[len(text), hidden]``."""
        parts = []
        with torch.no_grad():
            for start in range(0, len(text), self.max_chars):
                ids = torch.tensor(
                    [self._token_ids(text[start : start + self.max_chars])], device=self.device
                )
                out = self.model(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    token_type_ids=torch.zeros_like(ids),
                ).last_hidden_state  # [1, n + 2, H]
                parts.append(out[0, 1:-1])
        if not parts:
            return torch.zeros(0, self.hidden_size, device=self.device, dtype=self.dtype)
        return torch.cat(parts, dim=0)  # [len(text), H]

    def phone_features(self, text: str, word2ph: Sequence[int]) -> torch.Tensor:
        """Character features repeated by ``word2ph``: ``[hidden, sum(word2ph)]``."""
        if len(word2ph) != len(text):
            raise ValueError(f"word2ph has {len(word2ph)} entries but the text has {len(text)} characters")
        chars = self.char_features(text)  # [n_chars, H]
        counts = torch.tensor(list(word2ph), dtype=torch.long, device=chars.device)
        return chars.repeat_interleave(counts, dim=0).T  # [H, n_phones]


def zero_bert_features(
    n_phones: int,
    hidden_size: int = BERT_HIDDEN_SIZE,
    device: torch.device | str = "cpu",
    dtype=torch.float32,
) -> torch.Tensor:
    """The BERT input of a non-Chinese segment: zeros ``[hidden_size, n_phones]``."""
    return torch.zeros(hidden_size, n_phones, device=device, dtype=dtype)


def segment_bert_features(
    lang: str,
    norm_text: str,
    word2ph: Sequence[int] | None,
    n_phones: int,
    encoder: BertEncoder | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """BERT features of one text segment, ``[hidden, n_phones]``.

    ``lang``/``norm_text``/``word2ph``/``n_phones`` are a front-end segment's ``lang``, ``norm_text``,
    ``word2ph`` and ``len(phones)``. Chinese (``"zh"``) needs ``encoder``; other languages give zeros
    (of the encoder's size, device and dtype when one is given, else 1024 / ``device`` / ``dtype``,
    defaulting to CPU float32).
    """
    if lang in BERT_LANGS:
        if encoder is None:
            raise ValueError("Chinese segments need the BERT encoder (load_bert)")
        if word2ph is None or sum(word2ph) != n_phones:
            raise ValueError(f"word2ph {word2ph} does not account for the segment's {n_phones} phones")
        feats = encoder.phone_features(norm_text, word2ph)
        return feats if dtype is None else feats.to(dtype)
    hidden = encoder.hidden_size if encoder is not None else BERT_HIDDEN_SIZE
    dev = device if device is not None else (encoder.device if encoder is not None else "cpu")
    dt = dtype if dtype is not None else (encoder.dtype if encoder is not None else torch.float32)
    return zero_bert_features(n_phones, hidden, dev, dt)


def load_bert(folder: str | os.PathLike, device: torch.device | str, dtype: torch.dtype) -> BertEncoder:
    """Load chinese-roberta-wwm-ext-large and its tokenizer from ``folder`` onto ``device`` in ``dtype``.

    The layers above the one whose output is used are dropped (they would not change the result).
    Raises :class:`~gpt_sovits.features.errors.FeatureModelMissing` when the folder or its files are
    absent and :class:`~gpt_sovits.features.errors.FeatureModelInvalid` when they cannot be used.
    """
    path = Path(folder)
    desc = "BERT text encoder"
    require_folder(path, BERT_NAME, desc, (("config.json",), WEIGHT_FILES, ("tokenizer.json", "vocab.txt")))
    tf = import_transformers()
    try:
        with quiet_transformers():
            tokenizer = tf.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            model, info = tf.BertModel.from_pretrained(
                str(path),
                local_files_only=True,
                dtype=dtype,
                add_pooling_layer=False,
                output_loading_info=True,
            )
    except (OSError, ValueError, RuntimeError) as exc:
        raise unreadable_model(path, BERT_NAME, desc, exc) from exc
    check_loading_info(info, path, BERT_NAME, desc, ignore=())
    n_layers = len(model.encoder.layer)
    if n_layers < LAYERS_FROM_TOP:
        raise unreadable_model(path, BERT_NAME, desc, ValueError(f"only {n_layers} layers"))
    keep = n_layers - LAYERS_FROM_TOP
    model.encoder.layer = model.encoder.layer[:keep]
    model.config.num_hidden_layers = keep
    model = model.to(device=torch.device(device), dtype=dtype).eval()
    log.info("loaded %s from %s (%s, %s; %d of %d layers)", desc, path, device, dtype, keep, n_layers)
    return BertEncoder(model, tokenizer, torch.device(device), dtype)
