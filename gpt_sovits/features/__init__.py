"""Feature encoders GPT-SoVITS uses, loaded from local folders in the official layouts.

- :mod:`~gpt_sovits.features.hubert`: HuBERT content features (chinese-hubert-base), ``[B, 768, frames]``.
- :mod:`~gpt_sovits.features.bert`: BERT phone features (chinese-roberta-wwm-ext-large), ``[1024, n_phones]``.
- :mod:`~gpt_sovits.features.fbank`: Kaldi-compatible log-mel filterbank in torch.
- :mod:`~gpt_sovits.features.speaker`: ERes2NetV2 speaker embedding (v2Pro/v2ProPlus), ``[20480]``.

Every loader takes the path and the caller's device and dtype; nothing is loaded at import time and
``transformers`` is imported only when HuBERT or BERT is loaded.
"""

from gpt_sovits.features.bert import (
    BERT_HIDDEN_SIZE,
    BertEncoder,
    load_bert,
    segment_bert_features,
    zero_bert_features,
)
from gpt_sovits.features.errors import (
    BERT_NAME,
    DOWNLOAD_COMMAND,
    HF_REPO,
    HUBERT_NAME,
    SV_NAME,
    FeatureError,
    FeatureModelInvalid,
    FeatureModelMissing,
)
from gpt_sovits.features.fbank import fbank_frames, kaldi_fbank
from gpt_sovits.features.hubert import (
    HUBERT_HOP,
    HUBERT_SAMPLE_RATE,
    HubertEncoder,
    hubert_frames,
    load_hubert,
    reference_pad_samples,
)
from gpt_sovits.features.speaker import SV_SAMPLE_RATE, SpeakerEncoder, load_speaker_encoder

__all__ = [
    "BERT_HIDDEN_SIZE",
    "BERT_NAME",
    "DOWNLOAD_COMMAND",
    "HF_REPO",
    "HUBERT_HOP",
    "HUBERT_NAME",
    "HUBERT_SAMPLE_RATE",
    "SV_NAME",
    "SV_SAMPLE_RATE",
    "BertEncoder",
    "FeatureError",
    "FeatureModelInvalid",
    "FeatureModelMissing",
    "HubertEncoder",
    "SpeakerEncoder",
    "fbank_frames",
    "hubert_frames",
    "kaldi_fbank",
    "load_bert",
    "load_hubert",
    "load_speaker_encoder",
    "reference_pad_samples",
    "segment_bert_features",
    "zero_bert_features",
]
