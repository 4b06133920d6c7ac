"""Dataset QA with the trained phone aligner: does each clip's transcript match its audio?

Every prepared clip's phones are aligned (MAS) to its content frames by the aligner that SoVITS fine-tuning
trains. Each clip gets an alignment score (how much forcing the transcript's phone order costs the frames,
see :meth:`gpt_sovits.models.sovits.aligner.PhoneAligner.analyse`), the error of its durations against the
duration predictor, and its per-phone durations. Clips that fit far worse than the rest of their dataset are
flagged for proofreading: usually a wrong or swapped label, sometimes a clip with music or another voice.
The report is ``logs/NAME/qa.jsonl``, one line per clip, read by the proofreading table.
"""

from __future__ import annotations

import json
import logging
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.fileio import atomic_write_bytes
from gpt_sovits.training.experiment import Experiment

log = logging.getLogger(__name__)

# A clip is flagged when its score is this many times the dataset median (scores are <= 0) ...
SCORE_RATIO = 3.0
# ... or its durations are this many times further from the predictor than the median clip's.
DURATION_RATIO = 2.5


class QAError(GPTSoVITSError):
    """QA needs a SoVITS file with a trained aligner."""


@dataclass(frozen=True)
class ClipQA:
    id: str
    audio: str
    text: str
    score: float
    duration_error: float
    durations: tuple[int, ...]  # 50 Hz frames per phone
    flagged: bool
    reasons: tuple[str, ...]
    # One short machine-readable kind per reason: "text_too_long", "poor_fit" or "durations".
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class QAReport:
    clips: tuple[ClipQA, ...]
    path: Path
    median_score: float
    median_duration_error: float


def _aligner_model(exp: Experiment, sovits: Path | None):
    from gpt_sovits.models.loading import load_sovits
    from gpt_sovits.training.register import latest_checkpoint

    path = Path(sovits) if sovits else latest_checkpoint(exp, "sovits")
    model = load_sovits(path).module
    if getattr(model, "aligner", None) is None:
        raise QAError(
            f"{path} has no phone aligner (official files and files from other tools have none); QA needs a "
            f"SoVITS fine-tuned here: run `python -m gpt_sovits.training train-sovits --exp {exp.name}`."
        )
    return model


@torch.no_grad()
def score_clips(exp: Experiment, model) -> list[tuple]:
    """(record, score, duration_error, durations) of every prepared clip."""
    rows = []
    for rec in exp.items():
        feats = exp.load_features(rec)
        phones = feats.phones.view(1, -1)  # [1, P]
        codes = feats.codes.view(1, 1, -1)  # [1, 1, Tc]
        content = model.content_from_codes(codes)  # [1, 768, T]
        p_len = torch.tensor([phones.shape[1]])
        f_len = torch.tensor([content.shape[-1]])
        if phones.shape[1] > content.shape[-1]:
            rows.append((rec, float("-inf"), float("inf"), ()))
            continue
        states = model.phone_states(phones, p_len)  # [1, H, P]
        a = model.aligner.analyse(states, p_len, content, f_len)
        rows.append((rec, float(a.score[0]), float(a.duration_error[0]), tuple(a.durations[0].tolist())))
    return rows


def run_qa(exp: Experiment, sovits: Path | None = None) -> QAReport:
    """Score every clip of ``exp`` and write ``qa.jsonl``; flagged clips need their label checked."""
    model = _aligner_model(exp, sovits)
    rows = score_clips(exp, model)
    if not rows:
        raise QAError(f"Experiment {exp.name!r} has no prepared clips.")
    finite = [s for _, s, _, _ in rows if s != float("-inf")]
    med_score = statistics.median(finite) if finite else 0.0
    med_dur = statistics.median([d for _, _, d, _ in rows if d != float("inf")] or [0.0])
    clips = []
    for rec, score, dur_err, durations in rows:
        found: list[tuple[str, str]] = []  # (kind, reason)
        if score == float("-inf"):
            found.append(("text_too_long", "more phones than frames: the text is far too long for the audio"))
        elif score < SCORE_RATIO * med_score:
            why = f"the audio fits the transcript poorly (score {score:.3f}, dataset median {med_score:.3f})"
            found.append(("poor_fit", why))
        if dur_err != float("inf") and med_dur > 0 and dur_err > DURATION_RATIO * med_dur:
            found.append(
                ("durations", f"unusual phone durations (error {dur_err:.2f}, median {med_dur:.2f})")
            )
        kinds, reasons = tuple(k for k, _ in found), tuple(r for _, r in found)
        clips.append(
            ClipQA(rec.id, rec.audio, rec.text, score, dur_err, durations, bool(found), reasons, kinds)
        )
    lines = [
        json.dumps(
            {
                "id": c.id,
                "audio": c.audio,
                "text": c.text,
                "score": round(c.score, 5) if c.score != float("-inf") else None,
                "duration_error": round(c.duration_error, 4) if c.duration_error != float("inf") else None,
                "durations": list(c.durations),
                "flagged": c.flagged,
                "reasons": list(c.reasons),
                "kinds": list(c.kinds),
            },
            ensure_ascii=False,
        )
        for c in clips
    ]
    path = exp.root / "qa.jsonl"
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
    log.info("QA: %d clips, %d flagged, written to %s", len(clips), sum(c.flagged for c in clips), path)
    return QAReport(tuple(clips), path, med_score, med_dur)
