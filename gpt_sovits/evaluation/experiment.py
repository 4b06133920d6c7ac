"""Find what to evaluate in an experiment folder (``logs/NAME``, see ``gpt_sovits.training.experiment``).

Checkpoints: GPT ``gpt/checkpoints/*.ckpt`` and SoVITS ``sovits/checkpoints/*.pth``, ordered by the
epoch (and step) in their names (``{exp}-e{epoch}.ckpt``, ``{exp}_e{epoch}_s{step}.pth``).

Pairing (:func:`pair_checkpoints`): with at most :data:`MAX_ALL_PAIRS` combinations every GPT is paired
with every SoVITS. With more, each SoVITS checkpoint is paired with the last GPT checkpoint, and the last
SoVITS checkpoint with each GPT checkpoint: the two models are judged one at a time against the other's
final state, which needs len(GPT) + len(SoVITS) - 1 pairs instead of their product. When one model was not
trained, the base model of the manifest stands in for it.

Reference (:func:`choose_reference`): the prepared clip of 3-10 s with the longest transcript (more phones
for the prompt), read from its source file when that still exists, else from the 32 kHz audio stored with
its features.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from gpt_sovits.evaluation.evaluate import EvaluationError, Reference

logger = logging.getLogger(__name__)

MAX_ALL_PAIRS = 6
REF_MIN_S, REF_MAX_S = 3.0, 10.0
_EPOCH = re.compile(r"(?:^|[-_])e(\d+)(?:[-_]s(\d+))?$")
_PATTERNS = {"gpt": "*.ckpt", "sovits": "*.pth"}


def checkpoint_order(path: Path) -> tuple[int, int, str]:
    """(epoch, step, name) from a checkpoint's file name; names without an epoch sort first."""
    m = _EPOCH.search(path.stem)
    if m is None:
        return (-1, -1, path.name)
    return (int(m.group(1)), int(m.group(2) or 0), path.name)


def find_checkpoints(exp_dir: Path, kind: str) -> list[Path]:
    """The saved checkpoints of ``kind`` ("gpt" or "sovits"), in epoch order."""
    folder = Path(exp_dir) / kind / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.glob(_PATTERNS[kind]) if p.is_file()), key=checkpoint_order)


def pair_checkpoints(gpts: list[Path], sovits: list[Path]) -> list[tuple[Path, Path]]:
    """Which (GPT, SoVITS) pairs to evaluate (see the module docstring)."""
    if not gpts or not sovits:
        return []
    if len(gpts) * len(sovits) <= MAX_ALL_PAIRS:
        return [(g, s) for g in gpts for s in sovits]
    return [(gpts[-1], s) for s in sovits] + [(g, sovits[-1]) for g in gpts[:-1]]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def experiment_pairs(exp_dir: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """The pairs to evaluate in an experiment, and notes on any stand-in base model."""
    exp_dir = Path(exp_dir)
    manifest = _read_json(exp_dir / "manifest.json")
    found = {kind: find_checkpoints(exp_dir, kind) for kind in ("gpt", "sovits")}
    notes = []
    for kind, key in (("gpt", "base_gpt"), ("sovits", "base_sovits")):
        base = manifest.get(key)
        if not found[kind] and base and Path(base).is_file():
            found[kind] = [Path(base)]
            notes.append(f"No {kind.upper()} checkpoints: the base model {base} stands in for it.")
    if not found["gpt"] and not found["sovits"]:
        raise EvaluationError(
            f"Experiment {exp_dir.name!r} has no saved checkpoints in {exp_dir / 'gpt' / 'checkpoints'} or "
            f"{exp_dir / 'sovits' / 'checkpoints'}; train it first."
        )
    pairs = pair_checkpoints(found["gpt"], found["sovits"])
    if not pairs:
        missing = "GPT" if not found["gpt"] else "SoVITS"
        raise EvaluationError(
            f"Experiment {exp_dir.name!r} has no {missing} checkpoint and its base model is missing; train "
            f"the {missing} model too, or fix the base model paths in {exp_dir / 'manifest.json'}."
        )
    return pairs, notes


def _items(exp_dir: Path) -> list[dict]:
    path = exp_dir / "items.jsonl"
    items = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if isinstance(item, dict) and {"text", "seconds", "file", "lang"} <= item.keys():
                items.append(item)
    return items


def experiment_language(exp_dir: Path) -> str | None:
    """The most common language of the prepared clips (None when there are none)."""
    langs = [str(i["lang"]) for i in _items(Path(exp_dir))]
    return max(set(langs), key=langs.count) if langs else None


def _source_audio(exp_dir: Path, item: dict) -> Path | None:
    audio = Path(str(item.get("audio", "")))
    if not str(item.get("audio", "")):
        return None
    if audio.is_absolute():
        return audio if audio.is_file() else None
    source_list = _read_json(exp_dir / "manifest.json").get("source_list")
    candidate = Path(source_list).parent / audio if source_list else None
    return candidate if candidate is not None and candidate.is_file() else None


def choose_reference(exp_dir: Path, out_dir: Path) -> Reference:
    """The reference clip of an experiment (see the module docstring); may write ``out_dir/reference.wav``."""
    exp_dir = Path(exp_dir)
    items = [i for i in _items(exp_dir) if REF_MIN_S <= float(i["seconds"]) <= REF_MAX_S and i["text"]]
    if not items:
        raise EvaluationError(
            f"Experiment {exp_dir.name!r} has no prepared clip of {REF_MIN_S:.0f}-{REF_MAX_S:.0f} s to use as "
            "the reference; give one with --ref WAV --ref-text TEXT --ref-lang LANG."
        )
    item = max(items, key=lambda i: (len(i["text"]), -abs(float(i["seconds"]) - 6.0)))
    source = _source_audio(exp_dir, item)
    if source is not None:
        return Reference(source, item["text"], item["lang"])
    import torch

    from gpt_sovits.audio import save_audio

    try:
        wav = torch.load(exp_dir / item["file"], map_location="cpu", weights_only=True)["wav"]  # [S] 32 kHz
    except Exception as exc:  # noqa: BLE001 - any unreadable feature file means the same here
        raise EvaluationError(
            f"The reference clip's features ({exp_dir / item['file']}) are unreadable ({exc}); give a "
            "reference with --ref WAV --ref-text TEXT --ref-lang LANG."
        ) from None
    rate = int(_read_json(exp_dir / "manifest.json").get("sample_rate", 32000))
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    path = save_audio(Path(out_dir) / "reference.wav", wav.float().numpy(), rate, overwrite=True)
    logger.info("Reference: %s (%s s) from its stored features", item["id"], item["seconds"])
    return Reference(path, item["text"], item["lang"])
