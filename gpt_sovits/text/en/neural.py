"""The g2p-en neural G2P for words missing from every lexicon, ported to numpy.

g2p-en 2.1.0 ships a GRU encoder-decoder (``checkpoint20.npz``): a 1-layer GRU reads the letters plus
``</s>``, its last state starts a 1-layer GRU decoder that greedily emits phonemes from ``<s>`` until
``</s>`` (at most 20). This module reads the weights straight from the g2p_en package folder instead of
importing ``g2p_en``, whose import tries to download NLTK data. The vocabularies below are g2p-en's.
"""

from __future__ import annotations

import importlib.util
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from gpt_sovits.errors import MissingExtraError

GRAPHEMES: tuple[str, ...] = ("<pad>", "<unk>", "</s>", *"abcdefghijklmnopqrstuvwxyz")
# fmt: off
PHONEMES: tuple[str, ...] = (
    "<pad>", "<unk>", "<s>", "</s>",
    "AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2", "AO0", "AO1", "AO2", "AW0", "AW1",
    "AW2", "AY0", "AY1", "AY2", "B", "CH", "D", "DH", "EH0", "EH1", "EH2", "ER0", "ER1", "ER2", "EY0",
    "EY1", "EY2", "F", "G", "HH", "IH0", "IH1", "IH2", "IY0", "IY1", "IY2", "JH", "K", "L", "M", "N",
    "NG", "OW0", "OW1", "OW2", "OY0", "OY1", "OY2", "P", "R", "S", "SH", "T", "TH", "UH0", "UH1", "UH2",
    "UW", "UW0", "UW1", "UW2", "V", "W", "Y", "Z", "ZH",
)
# fmt: on
_START, _END, _MAX_STEPS = 2, 3, 20
_G2IDX = {g: i for i, g in enumerate(GRAPHEMES)}


def package_dir() -> Path:
    """The g2p_en package folder, found without importing (and so without running) the package."""
    spec = importlib.util.find_spec("g2p_en")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("English G2P for unknown words", "en", "g2p-en")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def _weights() -> dict[str, np.ndarray]:
    with np.load(package_dir() / "checkpoint20.npz") as npz:
        return {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _gru_cell(x: np.ndarray, h: np.ndarray, prefix: str) -> np.ndarray:
    """One step of a PyTorch-layout GRU cell (gates r, z, n stacked along the first weight axis)."""
    w = _weights()
    gi = x @ w[f"{prefix}_w_ih"].T + w[f"{prefix}_b_ih"]
    gh = h @ w[f"{prefix}_w_hh"].T + w[f"{prefix}_b_hh"]
    size = h.shape[-1]
    r = _sigmoid(gi[:size] + gh[:size])
    z = _sigmoid(gi[size : 2 * size] + gh[size : 2 * size])
    n = np.tanh(gi[2 * size :] + r * gh[2 * size :])
    return (1.0 - z) * n + z * h


@lru_cache(maxsize=4096)
def predict(word: str) -> tuple[str, ...]:
    """Greedy-decode the phonemes of lower-case ``word`` (other characters count as ``<unk>``).

    The result may hold "UW" (no stress digit), which is not in the GPT-SoVITS inventory; callers drop
    it as upstream does.
    """
    w = _weights()
    h = np.zeros(w["enc_w_hh"].shape[1], dtype=np.float32)
    for char in [*word, "</s>"]:
        h = _gru_cell(w["enc_emb"][_G2IDX.get(char, 1)], h, "enc")
    token, out = _START, []
    for _ in range(_MAX_STEPS):
        h = _gru_cell(w["dec_emb"][token], h, "dec")
        token = int(np.argmax(w["fc_w"] @ h + w["fc_b"]))
        if token == _END:
            break
        out.append(PHONEMES[token])
    return tuple(out)
