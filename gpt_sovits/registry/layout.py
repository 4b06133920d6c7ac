"""The pretrained-model layout under ``pretrained/`` (the official GPT-SoVITS file names).

Only facts and file-system checks live here; nothing is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HF_REPO = "lj1995/GPT-SoVITS"


@dataclass(frozen=True)
class PretrainedItem:
    """One file or folder of the official pretrained set, relative to ``pretrained/``."""

    key: str
    path: str
    description: str
    needed_for: str
    is_dir: bool = False


PRETRAINED_V2: tuple[PretrainedItem, ...] = (
    PretrainedItem(
        "gpt_v2",
        "gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt",
        "GPT (text to semantic tokens), v2",
        "synthesis and GPT fine-tuning",
    ),
    PretrainedItem("sovits_v2_g", "gsv-v2final-pretrained/s2G2333k.pth", "SoVITS generator, v2", "synthesis"),
    PretrainedItem(
        "sovits_v2_d", "gsv-v2final-pretrained/s2D2333k.pth", "SoVITS discriminator, v2", "fine-tuning"
    ),
    PretrainedItem("hubert", "chinese-hubert-base", "HuBERT content encoder", "synthesis and training", True),
    PretrainedItem(
        "bert", "chinese-roberta-wwm-ext-large", "Chinese BERT", "Chinese synthesis and training", True
    ),
    PretrainedItem(
        "sv",
        "sv/pretrained_eres2netv2w24s4ep4.ckpt",
        "ERes2NetV2 speaker encoder",
        "v2Pro and v2ProPlus models",
    ),
)


def missing_pretrained(pretrained_dir: Path) -> list[PretrainedItem]:
    """The items of :data:`PRETRAINED_V2` that are not present under ``pretrained_dir``."""
    missing = []
    for item in PRETRAINED_V2:
        p = pretrained_dir / item.path
        ok = p.is_dir() and any(p.iterdir()) if item.is_dir else p.is_file() and p.stat().st_size > 0
        if not ok:
            missing.append(item)
    return missing


def how_to_get(pretrained_dir: Path) -> str:
    """A short instruction for obtaining the pretrained files."""
    return (
        f"Download the files from the Hugging Face repository {HF_REPO} into {pretrained_dir} "
        "(keeping the folder names above), or copy GPT_SoVITS/pretrained_models/ from an existing "
        "GPT-SoVITS installation into that folder."
    )
