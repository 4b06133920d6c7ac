"""The pretrained-model layout under ``pretrained/`` (the official GPT-SoVITS file names).

The folder mirrors the Hugging Face repository :data:`HF_REPO` and upstream's ``GPT_SoVITS/pretrained_models/``
one to one, so an item's ``path`` is at once its repository path and its path under ``pretrained/``.
Only facts and file-system checks live here; nothing is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError

HF_REPO = "lj1995/GPT-SoVITS"
# Where a user's own imported .ckpt/.pth files go, under pretrained/.
USER_MODELS_DIR = "user"
DOWNLOAD_COMMAND = "python -m gpt_sovits models download"
IMPORT_COMMAND = "python -m gpt_sovits models import PATH"

# transformers accepts any one of these as the weights of a folder model.
_HF_WEIGHTS = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)


class PretrainedKeyError(GPTSoVITSError):
    """A pretrained item key or set name that does not exist."""


@dataclass(frozen=True)
class PretrainedItem:
    """One file or folder of the official pretrained set, relative to ``pretrained/``.

    ``kind``/``version`` (files only) are what :func:`gpt_sovits.models.identify.identify` must report for
    the file; ``required`` (folders only) lists groups of file names of which one per group must exist.
    """

    key: str
    path: str
    description: str
    needed_for: str
    is_dir: bool = False
    kind: str | None = None
    version: str | None = None
    required: tuple[tuple[str, ...], ...] = ()


PRETRAINED_V2: tuple[PretrainedItem, ...] = (
    PretrainedItem(
        "gpt_v2",
        "gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt",
        "GPT (text to semantic tokens), v2",
        "synthesis and GPT fine-tuning",
        kind="gpt",
        version="v2",
    ),
    PretrainedItem(
        "sovits_v2_g",
        "gsv-v2final-pretrained/s2G2333k.pth",
        "SoVITS generator, v2",
        "synthesis",
        kind="sovits",
        version="v2",
    ),
    PretrainedItem(
        "sovits_v2_d",
        "gsv-v2final-pretrained/s2D2333k.pth",
        "SoVITS discriminator, v2",
        "fine-tuning",
        kind="sovits_discriminator",
    ),
    PretrainedItem(
        "hubert",
        "chinese-hubert-base",
        "HuBERT content encoder",
        "synthesis and training",
        True,
        required=(("config.json",), _HF_WEIGHTS),
    ),
    PretrainedItem(
        "bert",
        "chinese-roberta-wwm-ext-large",
        "Chinese BERT",
        "Chinese synthesis and training",
        True,
        required=(("config.json",), _HF_WEIGHTS, ("tokenizer.json", "vocab.txt")),
    ),
    PretrainedItem(
        "sv",
        "sv/pretrained_eres2netv2w24s4ep4.ckpt",
        "ERes2NetV2 speaker encoder",
        "v2Pro and v2ProPlus models",
        kind="speaker_eres2netv2",
    ),
)

# The v2Pro/v2ProPlus base models (upstream README "V2Pro Release Notes" and config.py). Upstream trains and
# runs the GPT of both from s1v3.ckpt, a GPT with the v2 phone set.
PRETRAINED_V2PRO: tuple[PretrainedItem, ...] = (
    PretrainedItem(
        "gpt_v2pro",
        "s1v3.ckpt",
        "GPT used with v2Pro/v2ProPlus (upstream's s1v3)",
        "v2Pro/v2ProPlus GPT fine-tuning",
        kind="gpt",
    ),
    PretrainedItem(
        "sovits_v2pro_g",
        "v2Pro/s2Gv2Pro.pth",
        "SoVITS generator, v2Pro",
        "v2Pro synthesis and fine-tuning",
        kind="sovits",
        version="v2Pro",
    ),
    PretrainedItem(
        "sovits_v2pro_d",
        "v2Pro/s2Dv2Pro.pth",
        "SoVITS discriminator, v2Pro",
        "v2Pro fine-tuning",
        kind="sovits_discriminator",
    ),
    PretrainedItem(
        "sovits_v2proplus_g",
        "v2Pro/s2Gv2ProPlus.pth",
        "SoVITS generator, v2ProPlus",
        "v2ProPlus synthesis and fine-tuning",
        kind="sovits",
        version="v2ProPlus",
    ),
    PretrainedItem(
        "sovits_v2proplus_d",
        "v2Pro/s2Dv2ProPlus.pth",
        "SoVITS discriminator, v2ProPlus",
        "v2ProPlus fine-tuning",
        kind="sovits_discriminator",
    ),
)

ALL_PRETRAINED: tuple[PretrainedItem, ...] = PRETRAINED_V2 + PRETRAINED_V2PRO

# Named sets accepted wherever item keys are: "v2" is what synthesis needs; "v2pro" adds the v2Pro models
# together with the encoders they share with v2.
_SHARED = tuple(i for i in PRETRAINED_V2 if i.key in ("hubert", "bert", "sv"))
PRETRAINED_SETS: dict[str, tuple[PretrainedItem, ...]] = {
    "v2": PRETRAINED_V2,
    "v2pro": _SHARED + PRETRAINED_V2PRO,
    "all": ALL_PRETRAINED,
}


def pretrained_item(key: str) -> PretrainedItem:
    """The item with this key (from :data:`ALL_PRETRAINED`)."""
    for item in ALL_PRETRAINED:
        if item.key == key:
            return item
    raise PretrainedKeyError(
        f"Unknown pretrained model '{key}'. Known: {', '.join(i.key for i in ALL_PRETRAINED)}; "
        f"sets: {', '.join(PRETRAINED_SETS)}."
    )


def resolve_items(keys: Iterable[str | PretrainedItem] | None = None) -> tuple[PretrainedItem, ...]:
    """Items named by keys or set names (``v2``, ``v2pro``, ``all``), in order, without duplicates.

    ``None`` or an empty selection means the ``v2`` set (:data:`PRETRAINED_V2`).
    """
    chosen: list[PretrainedItem] = []
    for key in keys or ():
        if isinstance(key, PretrainedItem):
            found: tuple[PretrainedItem, ...] = (key,)
        elif key.lower() in PRETRAINED_SETS:
            found = PRETRAINED_SETS[key.lower()]
        else:
            found = (pretrained_item(key),)
        chosen += [i for i in found if i not in chosen]
    return tuple(chosen) if chosen else PRETRAINED_V2


def item_present(pretrained_dir: Path, item: PretrainedItem) -> bool:
    """Whether ``item`` is in place: a non-empty file, or a folder holding one file of each required group."""
    p = Path(pretrained_dir) / item.path
    if not item.is_dir:
        return p.is_file() and p.stat().st_size > 0
    if not p.is_dir():
        return False
    if not item.required:
        return any(p.iterdir())
    return all(any((p / name).is_file() for name in group) for group in item.required)


def missing_pretrained(
    pretrained_dir: Path, items: Iterable[PretrainedItem] = PRETRAINED_V2
) -> list[PretrainedItem]:
    """The items (by default :data:`PRETRAINED_V2`) that are not present under ``pretrained_dir``."""
    return [item for item in items if not item_present(pretrained_dir, item)]


def how_to_get(pretrained_dir: Path) -> str:
    """A short instruction for obtaining the pretrained files."""
    return (
        f"Download them with `{DOWNLOAD_COMMAND}` (from the Hugging Face repository {HF_REPO}; where "
        "huggingface.co is not reachable set HF_ENDPOINT=https://hf-mirror.com or pass --endpoint), or copy "
        f"them from an existing GPT-SoVITS installation with `{IMPORT_COMMAND}` (its folder or its "
        f"GPT_SoVITS/pretrained_models/). They go into {pretrained_dir}, keeping the folder names above."
    )
