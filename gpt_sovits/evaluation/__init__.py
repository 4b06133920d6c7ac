"""Evaluation of trained checkpoints on held-out sentences.

Every (GPT, SoVITS) pair speaks the same held-out sentences with the same reference and seed; each result
is scored for intelligibility (word error rate by the offline Whisper for English, character error rate by
FunASR for Chinese where its models are present) and for speaker similarity to the reference
(resemblyzer), and a best pair is suggested (:data:`BEST_RULE`). CLI: ``python -m gpt_sovits.evaluation
--exp NAME``.
"""

from gpt_sovits.evaluation.evaluate import (
    BEST_RULE,
    NEAR_TIE,
    EvalReport,
    EvaluationError,
    PairScore,
    Reference,
    SentenceScore,
    choose_best,
    evaluate_checkpoints,
)
from gpt_sovits.evaluation.experiment import (
    choose_reference,
    experiment_pairs,
    find_checkpoints,
    pair_checkpoints,
)
from gpt_sovits.evaluation.metrics import default_asr, error_rate, speaker_embedding, speaker_similarity
from gpt_sovits.evaluation.sentences import DEFAULT_SENTENCES, default_sentences, read_sentences

__all__ = [
    "BEST_RULE",
    "DEFAULT_SENTENCES",
    "NEAR_TIE",
    "EvalReport",
    "EvaluationError",
    "PairScore",
    "Reference",
    "SentenceScore",
    "choose_best",
    "choose_reference",
    "default_asr",
    "default_sentences",
    "error_rate",
    "evaluate_checkpoints",
    "experiment_pairs",
    "find_checkpoints",
    "pair_checkpoints",
    "read_sentences",
    "speaker_embedding",
    "speaker_similarity",
]
