"""Find what to evaluate in an experiment folder (``logs/NAME``, see ``gpt_sovits.training.experiment``).

Checkpoints: GPT ``gpt/checkpoints/*.ckpt`` and SoVITS ``sovits/checkpoints/*.pth``, ordered by the
epoch (and step) in their names (``{exp}-e{epoch}.ckpt``, ``{exp}_e{epoch}_s{step}.pth``).

Pairing (:func:`pair_checkpoints`): with at most :data:`MAX_ALL_PAIRS` combinations every GPT is paired
with every SoVITS. With more, each SoVITS checkpoint is paired with the last GPT checkpoint, and the last
SoVITS checkpoint with each GPT checkpoint: the two models are judged one at a time against the other's
final state, which needs len(GPT) + len(SoVITS) - 1 pairs instead of their product. When one model was not
trained, the base model of the manifest stands in for it.

Reference (:func:`choose_reference`): the clip voice registration uses (3-10 s, not flagged by QA, most
words; :func:`gpt_sovits.training.register.choose_reference`), read from its source file when that still
exists, else from the 32 kHz audio stored with its features.
"""

from __future__ import annotations

import logging
from pathlib import Path

from gpt_sovits.evaluation.evaluate import EvaluationError, Reference
from gpt_sovits.training.experiment import Experiment, ExperimentError, checkpoint_order

logger = logging.getLogger(__name__)

MAX_ALL_PAIRS = 6

__all__ = [
    "checkpoint_order",
    "choose_reference",
    "experiment_language",
    "experiment_pairs",
    "find_checkpoints",
    "pair_checkpoints",
]


def _experiment(exp_dir: Path) -> Experiment:
    exp_dir = Path(exp_dir)
    return Experiment(exp_dir.parent, exp_dir.name)


def find_checkpoints(exp_dir: Path, kind: str) -> list[Path]:
    """The saved checkpoints of ``kind`` ("gpt" or "sovits"), in epoch order."""
    return _experiment(exp_dir).checkpoints(kind)


def pair_checkpoints(gpts: list[Path], sovits: list[Path]) -> list[tuple[Path, Path]]:
    """Which (GPT, SoVITS) pairs to evaluate (see the module docstring)."""
    if not gpts or not sovits:
        return []
    if len(gpts) * len(sovits) <= MAX_ALL_PAIRS:
        return [(g, s) for g in gpts for s in sovits]
    return [(gpts[-1], s) for s in sovits] + [(g, sovits[-1]) for g in gpts[:-1]]


def _manifest_bases(exp: Experiment) -> dict[str, str]:
    try:
        manifest = exp.read_manifest()
    except ExperimentError:
        return {}
    return {"gpt": manifest.base_gpt, "sovits": manifest.base_sovits}


def experiment_pairs(exp_dir: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """The pairs to evaluate in an experiment, and notes on any stand-in base model."""
    exp = _experiment(exp_dir)
    found = {kind: exp.checkpoints(kind) for kind in ("gpt", "sovits")}
    bases = _manifest_bases(exp)
    notes = []
    for kind in ("gpt", "sovits"):
        base = bases.get(kind)
        if not found[kind] and base and Path(base).is_file():
            found[kind] = [Path(base)]
            notes.append(f"No {kind.upper()} checkpoints: the base model {base} stands in for it.")
    if not found["gpt"] and not found["sovits"]:
        raise EvaluationError(
            f"Experiment {exp.name!r} has no saved checkpoints in {exp.run_dir('gpt') / 'checkpoints'} or "
            f"{exp.run_dir('sovits') / 'checkpoints'}; train it first."
        )
    pairs = pair_checkpoints(found["gpt"], found["sovits"])
    if not pairs:
        missing = "GPT" if not found["gpt"] else "SoVITS"
        raise EvaluationError(
            f"Experiment {exp.name!r} has no {missing} checkpoint and its base model is missing; train "
            f"the {missing} model too, or fix the base model paths in {exp.manifest_path}."
        )
    return pairs, notes


def experiment_language(exp_dir: Path) -> str | None:
    """The most common language of the prepared clips (None when there are none)."""
    langs = [r.lang for r in _experiment(exp_dir).items()]
    return max(set(langs), key=langs.count) if langs else None


def choose_reference(exp_dir: Path, out_dir: Path) -> Reference:
    """The experiment's reference clip (the one voice registration uses); may write ``out_dir/reference.wav``
    from the clip's stored 32 kHz audio when its source file is gone."""
    from gpt_sovits.training.register import RegisterError
    from gpt_sovits.training.register import choose_reference as choose_clip

    exp = _experiment(exp_dir)
    try:
        item = choose_clip(exp, require_audio=False)
    except RegisterError:
        item = None
    if item is None or not item.text:
        raise EvaluationError(
            f"Experiment {exp.name!r} has no prepared clip to use as the reference; give one with "
            "--ref WAV --ref-text TEXT --ref-lang LANG."
        )
    if Path(item.audio).is_file():
        return Reference(Path(item.audio), item.text, item.lang)
    from gpt_sovits.audio import save_audio

    try:
        wav = exp.load_features(item).wav  # [S] 32 kHz
    except ExperimentError as exc:
        raise EvaluationError(
            f"{exc} Or give a reference with --ref WAV --ref-text TEXT --ref-lang LANG."
        ) from None
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    path = save_audio(Path(out_dir) / "reference.wav", wav.numpy(), 32000, overwrite=True)
    logger.info("Reference: %s (%s s) from its stored features", item.id, item.seconds)
    return Reference(path, item.text, item.lang)
