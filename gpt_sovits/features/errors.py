"""Errors for the feature encoders and the shared "where to get the model" wording."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError

HF_REPO = "lj1995/GPT-SoVITS"
DOWNLOAD_COMMAND = "python -m gpt_sovits models download"

# Official names inside the Hugging Face repository (and under GPT_SoVITS/pretrained_models upstream).
HUBERT_NAME = "chinese-hubert-base"
BERT_NAME = "chinese-roberta-wwm-ext-large"
SV_NAME = "sv/pretrained_eres2netv2w24s4ep4.ckpt"


class FeatureError(GPTSoVITSError):
    """A feature encoder cannot be used."""


class FeatureModelMissing(FeatureError):
    """A pretrained encoder folder or file is absent or incomplete."""


class FeatureModelInvalid(FeatureError):
    """A pretrained encoder file exists but does not hold the expected model."""


def how_to_get(official: str, what: str) -> str:
    """The sentence telling the user where ``official`` (a repo-relative name) comes from."""
    return (
        f"It is the {what} '{official}' from the Hugging Face repository {HF_REPO} "
        f"(https://huggingface.co/{HF_REPO}/tree/main). Download it with `{DOWNLOAD_COMMAND}`, "
        "or fetch it by hand and give its path."
    )


def require_folder(folder: Path, official: str, description: str, needs: tuple[tuple[str, ...], ...]) -> None:
    """Raise :class:`FeatureModelMissing` unless ``folder`` exists and holds one file of each group in ``needs``."""
    where = f"expected the folder '{folder}' (official name '{official}/')"
    if not folder.is_dir():
        raise FeatureModelMissing(f"{description} not found: {where}. {how_to_get(official + '/', 'folder')}")
    for group in needs:
        if not any((folder / name).is_file() for name in group):
            raise FeatureModelMissing(
                f"{description} is incomplete: {where} lacks {' or '.join(group)}. "
                f"{how_to_get(official + '/', 'folder')}"
            )


def require_file(path: Path, official: str, description: str) -> None:
    """Raise :class:`FeatureModelMissing` unless ``path`` is a non-empty file."""
    if not path.is_file() or path.stat().st_size == 0:
        raise FeatureModelMissing(
            f"{description} not found: expected the file '{path}' (official name '{official}'). "
            f"{how_to_get(official, 'file')}"
        )


def import_transformers():
    """Import ``transformers`` (HuBERT and BERT need it) or raise a :class:`FeatureError` saying how to install it."""
    try:
        import transformers
    except ImportError as exc:
        raise FeatureError(
            "The HuBERT and BERT feature encoders need the package 'transformers', which is not installed. "
            "Install it with: python -m pip install transformers"
        ) from exc
    return transformers


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' per-load reports while loading; the loaders check the keys themselves."""
    tf = import_transformers()
    before = tf.logging.get_verbosity()
    tf.logging.set_verbosity_error()
    try:
        yield
    finally:
        tf.logging.set_verbosity(before)


def check_loading_info(
    info: dict, folder: Path, official: str, description: str, ignore: tuple[str, ...]
) -> None:
    """Raise :class:`FeatureModelInvalid` when weights were missing or had the wrong shape."""
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(ignore))
    mismatched = sorted(str(k) for k in info.get("mismatched_keys", ()))
    if missing or mismatched:
        shown = ", ".join((missing + mismatched)[:5])
        raise FeatureModelInvalid(
            f"{description} in '{folder}' does not match its config ({len(missing)} weights missing, "
            f"{len(mismatched)} with the wrong shape, e.g. {shown}). The folder is damaged or holds another "
            f"model; replace it with the official '{official}/'. {how_to_get(official + '/', 'folder')}"
        )


def unreadable_model(path: Path, official: str, description: str, exc: Exception) -> FeatureModelInvalid:
    """The error for a model file or folder that exists but cannot be loaded."""
    kind = "folder" if path.is_dir() else "file"
    name = official + "/" if kind == "folder" else official
    return FeatureModelInvalid(
        f"{description} in '{path}' cannot be read ({type(exc).__name__}: {exc}). It is damaged or holds "
        f"another model; replace it with the official '{name}'. {how_to_get(name, kind)}"
    )
