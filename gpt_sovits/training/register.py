"""Put a trained voice into the voice library: final (or chosen) checkpoints plus a reference clip."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.settings import Settings
from gpt_sovits.training.experiment import Experiment, ItemRecord

log = logging.getLogger(__name__)

REF_MIN_S, REF_MAX_S = 3.0, 10.0  # the reference window the engine uses


class RegisterError(GPTSoVITSError):
    """The experiment has no finished checkpoints or no usable reference clip."""


def latest_checkpoint(exp: Experiment, kind: str) -> Path:
    found = exp.checkpoints(kind)
    if not found:
        command = "train-gpt" if kind == "gpt" else "train-sovits"
        raise RegisterError(
            f"Experiment {exp.name!r} has no {kind.upper()} checkpoint yet; run "
            f"`python -m gpt_sovits.training {command} --exp {exp.name}` first."
        )
    return found[-1]


def evaluated_best(exp: Experiment) -> tuple[Path, Path] | None:
    """The (GPT, SoVITS) pair the last evaluation suggested, when its report exists and its files do."""
    path = exp.eval_dir / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        best = report["pairs"][int(report["best"])]
        pair = Path(best["gpt"]), Path(best["sovits"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    return pair if all(p.is_file() for p in pair) else None


def qa_flags(exp: Experiment) -> dict[str, bool]:
    """Item id -> flagged, from the last QA run (empty when QA never ran)."""
    path = exp.root / "qa.jsonl"
    if not path.is_file():
        return {}
    flags = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            flags[row["id"]] = bool(row["flagged"])
        except (ValueError, KeyError):
            continue
    return flags


def choose_reference(exp: Experiment, require_audio: bool = True) -> ItemRecord:
    """The clip to use as the voice's reference: 3-10 s, not flagged by QA, with the most words.

    ``require_audio``: only clips whose source file still exists (the library copies it); without it the
    caller can fall back to the 32 kHz audio stored with the clip's features.
    """
    flags = qa_flags(exp)
    items = [
        r
        for r in exp.items()
        if (Path(r.audio).is_file() or not require_audio) and r.text.strip() and not flags.get(r.id, False)
    ]
    fitting = [r for r in items if REF_MIN_S <= r.seconds <= REF_MAX_S]
    pool = fitting or items
    if not pool:
        raise RegisterError(
            f"Experiment {exp.name!r} has no clip whose audio still exists to serve as the reference; "
            "pass a reference when creating the voice with `python -m gpt_sovits voices create`."
        )
    # Most words first (a richer prompt), then closest to 6 s.
    return max(
        pool, key=lambda r: (len(r.text.split()) if r.lang != "zh" else len(r.text), -abs(r.seconds - 6))
    )


def register_voice(
    settings: Settings,
    exp: Experiment,
    name: str,
    *,
    consent: str,
    gpt: Path | None = None,
    sovits: Path | None = None,
    reference: ItemRecord | None = None,
):
    """Create library voice ``name`` from the experiment; returns the :class:`~gpt_sovits.voices.Voice`.

    Defaults: the pair the last evaluation suggested (``eval/report.json``), else the latest checkpoints;
    the reference from :func:`choose_reference`. The library copies every file and never overwrites an
    existing voice.
    """
    from gpt_sovits.voices import VoiceLibrary

    manifest = exp.read_manifest()
    best = evaluated_best(exp) if gpt is None and sovits is None else None
    if best is not None:
        gpt, sovits = best
        log.info("using the evaluated best checkpoints %s and %s", gpt.name, sovits.name)
    gpt = Path(gpt) if gpt else latest_checkpoint(exp, "gpt")
    sovits = Path(sovits) if sovits else latest_checkpoint(exp, "sovits")
    ref = reference or choose_reference(exp)
    voice = VoiceLibrary(settings.voices_dir).create(
        name,
        gpt=gpt,
        sovits=sovits,
        references=[(Path(ref.audio), ref.text, ref.lang)],
        language=ref.lang,
        consent=consent,
        version=manifest.base_version,
    )
    log.info("voice %r added to the library (%s, %s, reference %s)", name, gpt.name, sovits.name, ref.audio)
    return voice
