"""A one-minute training dataset made the way a user makes one, for the training tests.

Real piper speech (the 75 s recording of ``speech_corpus``, music and noise included) goes through the data
tools: the slicer cuts it at silences, the offline Whisper labels the clips into a ``.list``; then
``prepare`` turns the list into an experiment with the tiny models of ``tiny_models``. Import it as
``train_data`` (pytest puts tests/ on ``sys.path``)::

    from train_data import build_dataset_list, prepare_tiny_experiment

Building takes ~30-60 s on two cores (ASR dominates), so callers cache it in a session-scoped fixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from speech_corpus import make_recording
from tiny_models import TinyHome, make_tiny_home, save_tiny_gpt

from gpt_sovits.settings import Settings


@dataclass(frozen=True)
class TinyExperiment:
    settings: Settings
    home: TinyHome
    list_path: Path
    exp_name: str
    seconds: float  # prepared audio
    texts: tuple[str, ...]  # the sentences piper spoke, in order


def settings_for(root: Path) -> Settings:
    return Settings(
        home=root,
        pretrained_dir=root / "pretrained",
        voices_dir=root / "user_voices",
        logs_dir=root / "logs",
    )


def build_dataset_list(root: Path, speak) -> tuple[Path, tuple[str, ...]]:
    """Record -> slice -> ASR: a ``.list`` of labelled clips under ``root`` (about 60 s of speech)."""
    from tools.asr import transcribe_clips
    from tools.slicer import SliceOptions, slice_file

    rec = make_recording(speak)
    source = rec.write(root / "recording.wav")
    clips = slice_file(source, root / "clips", SliceOptions(mode="vad"))
    if len(clips) < 6:
        raise AssertionError(f"the slicer made only {len(clips)} clips of the test recording")
    result = transcribe_clips(root / "clips" / "manifest.jsonl", root / "dataset.list", speaker="joe")
    if result.failed:
        raise AssertionError(f"ASR failed on {result.failed}")
    return root / "dataset.list", tuple(rec.texts)


def prepare_tiny_experiment(root: Path, speak, exp_name: str = "joe") -> TinyExperiment:
    """A tiny ``pretrained/`` plus an experiment prepared from the piper dataset."""
    from gpt_sovits.training.prepare import PrepareOptions, prepare

    home = make_tiny_home(root)
    list_path, texts = build_dataset_list(root, speak)
    settings = settings_for(root)
    result = prepare(settings, PrepareOptions(list_path, exp_name, device="cpu"))
    return TinyExperiment(settings, home, list_path, exp_name, result.seconds, texts)


def synthetic_gpt_experiment(
    root: Path, name: str = "demo", seed: int = 0, items: int = 8, phone_range: tuple[int, int] = (8, 16)
):
    """A small GPT-only experiment whose codes follow from its phones (phone p -> codes 7p mod 97,
    13p+5 mod 97), so a GPT can learn it in a few steps; the tiny base GPT is shared by experiments
    under the same ``root``."""
    from gpt_sovits.training.experiment import Experiment, ItemFeatures, ItemRecord, Manifest

    gpt = root / "base.ckpt"
    if not gpt.exists():
        save_tiny_gpt(gpt)
    exp = Experiment(root / "logs", name)
    exp.write_manifest(
        Manifest(name=name, base_version="v2", base_gpt=str(gpt), base_sovits="", source_list="")
    )
    g = torch.Generator().manual_seed(seed)
    for k in range(items):
        p = int(torch.randint(*phone_range, (1,), generator=g))
        phones = torch.randint(1, 60, (p,), generator=g)  # [P]
        codes = torch.stack([(phones * 7) % 97, (phones * 13 + 5) % 97], 1).flatten()  # [2P]
        feats = ItemFeatures(
            phones=phones,
            bert=torch.randn(1024, p, generator=g) * 0.1,
            ssl=torch.zeros(768, 2),
            wav=torch.zeros(4),
            codes=codes,
        )
        rec = ItemRecord(
            id=f"c{k}", audio=f"c{k}.wav", speaker="s", lang="en", text="x", phones=tuple(phones.tolist()),
            seconds=codes.numel() / 25, frames=2 * codes.numel(), n_codes=codes.numel(), file=f"items/c{k}.pt",
        )  # fmt: skip
        exp.append_item(rec, feats)
    return exp
