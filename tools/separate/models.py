"""MDX-Net model parameters and model-file lookup.

UVR5 MDX-Net ``.onnx`` files carry no STFT settings of their own; Ultimate Vocal Remover (UVR) keeps a
table of them keyed by a hash of the file: the md5 of its last 10000 KiB (of the whole file when it
is smaller). :data:`UVR_MDX_PARAMS` holds that table for every MDX-Net ONNX model in UVR's
``models/MDX_Net_Models/model_data/model_data.json``; :data:`KNOWN_MODELS` names the public files whose
hash could be confirmed. A file with an unknown hash needs its parameters from the user
(:class:`MDXParams`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError

logger = logging.getLogger(__name__)

MODEL_SAMPLE_RATE = 44100  # every UVR MDX-Net model was trained on 44.1 kHz stereo
UVR_HOP = 1024  # UVR uses the same STFT hop for every MDX-Net model
UVR_HASH_TAIL_BYTES = 10000 * 1024
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "pretrained" / "uvr5"

# Primary stems whose complement UVR names specially; any other X pairs with "No X".
_STEM_PAIRS = {"Vocals": "Instrumental", "Instrumental": "Vocals"}


class ModelError(GPTSoVITSError):
    """A separation model is missing, unidentified or does not match its parameters."""


@dataclass(frozen=True)
class MDXParams:
    """STFT geometry and output scaling of one MDX-Net model.

    Attributes:
        n_fft: STFT size (UVR's ``mdx_n_fft_scale_set``).
        dim_f: frequency bins the network sees (``mdx_dim_f_set``); bins above are zeroed.
        dim_t: STFT frames per chunk, already as a count (UVR stores the exponent: 8 -> 256).
        compensate: gain applied to the network output before the other stem is formed.
        primary_stem: what the network outputs ("Vocals", "Instrumental", "Reverb", ...).
        hop: STFT hop in samples.
        is_karaoke: the model keeps backing vocals with the instrumental (its "vocals" are the lead).
        zero_low_bins: lowest STFT bins UVR silences before the network (3).
    """

    n_fft: int
    dim_f: int
    dim_t: int
    compensate: float = 1.0
    primary_stem: str = "Vocals"
    hop: int = UVR_HOP
    is_karaoke: bool = False
    zero_low_bins: int = 3

    @property
    def n_bins(self) -> int:
        """Bins of a one-sided STFT of size ``n_fft``."""
        return self.n_fft // 2 + 1

    @property
    def chunk_size(self) -> int:
        """Samples per model chunk: exactly ``dim_t`` centred STFT frames."""
        return self.hop * (self.dim_t - 1)

    @property
    def trim(self) -> int:
        """Samples at each chunk edge spoiled by the STFT's edge padding."""
        return self.n_fft // 2

    @property
    def secondary_stem(self) -> str:
        """The complementary stem (mix minus primary), named as UVR names it."""
        stem = self.primary_stem
        if stem in _STEM_PAIRS:
            return _STEM_PAIRS[stem]
        return stem[3:] if stem.startswith("No ") else f"No {stem}"

    def validate(self) -> MDXParams:
        """Return self, or raise ModelError naming the inconsistent setting."""
        problems = []
        if self.n_fft < 16 or self.hop < 1 or self.dim_t < 2:
            problems.append("n_fft must be >= 16, hop >= 1 and dim_t >= 2")
        elif not 0 < self.dim_f <= self.n_bins:
            problems.append(f"dim_f must be in 1..{self.n_bins} (n_fft // 2 + 1)")
        elif self.hop > self.n_fft // 2:
            problems.append("hop must be at most n_fft / 2 for the inverse STFT to be exact")
        elif self.chunk_size <= self.n_fft:
            problems.append(f"a chunk of hop * (dim_t - 1) = {self.chunk_size} samples must exceed n_fft")
        if not self.compensate > 0:
            problems.append("compensate must be positive")
        if not 0 <= self.zero_low_bins < self.dim_f:
            problems.append("zero_low_bins must be in 0..dim_f-1")
        if problems:
            raise ModelError(f"Invalid MDX-Net parameters {self}: {'; '.join(problems)}.")
        return self


# UVR hash -> (n_fft, dim_f, dim_t frames, compensate, primary stem[, is_karaoke]).
# Facts from UVR's models/MDX_Net_Models/model_data/model_data.json (MDX-Net ONNX entries only;
# dim_t converted from UVR's exponent to a frame count). Hop is 1024 for all of them.
UVR_MDX_PARAMS: dict[str, tuple] = {
    "0ddfc0eb5792638ad5dc27850236c246": (6144, 2048, 256, 1.035, "Vocals"),
    "1c56ec0224f1d559c42fd6fd2a67b154": (5120, 2048, 256, 1.025, "Instrumental"),
    "1d64a6d2c30f709b8c9b4ce1366d96ee": (5120, 2048, 256, 1.065, "Instrumental", True),
    "203f2a3955221b64df85a41af87cf8f0": (6144, 3072, 256, 1.035, "Instrumental"),
    "26d308f91f3423a67dc69a6d12a8793d": (8192, 2048, 512, 1.035, "Other"),
    "291c2049608edb52648b96e27eb80e95": (6144, 3072, 256, 1.035, "Instrumental"),
    "2cdd429caac38f0194b133884160f2c6": (7680, 3072, 256, 1.045, "Instrumental"),
    "2f5501189a2f6db6349916fabe8c90de": (6144, 2048, 256, 1.035, "Vocals", True),
    "398580b6d5d973af3120df54cee6759d": (7680, 3072, 256, 1.75, "Vocals"),
    "488b3e6f8bd3717d9d7c428476be2d75": (7680, 3072, 256, 1.035, "Instrumental"),
    "4910e7827f335048bdac11fa967772f9": (4096, 2048, 128, 1.035, "Drums"),
    "53c4baf4d12c3e6c3831bb8f5b532b93": (7680, 3072, 256, 1.043, "Vocals"),
    "55657dd70583b0fedfba5f67df11d711": (6144, 3072, 256, 1.022, "Instrumental"),
    "5d343409ef0df48c7d78cce9f0106781": (7680, 3072, 256, 1.075, "Vocals"),
    "5f6483271e1efb9bfb59e4a3e6d4d098": (6144, 2048, 512, 1.035, "Vocals"),
    "65ab5919372a128e4167f5e01a8fda85": (8192, 2048, 256, 1.035, "Other"),
    "6703e39f36f18aa7855ee1047765621d": (16384, 2048, 512, 1.035, "Bass"),
    "6b31de20e84392859a3d09d43f089515": (6144, 2048, 256, 1.035, "Vocals"),
    "73492b58195c3b52d34590d5474452f6": (7680, 3072, 256, 1.043, "Vocals"),
    "77d07b2667ddf05b9e3175941b4454a0": (7680, 3072, 256, 1.021, "Vocals"),
    "867595e9de46f6ab699008295df62798": (7680, 3072, 256, 1.03, "Vocals"),
    "8a88db95c7fb5dbe6a095ff2ffb428b1": (5120, 2048, 256, 1.026, "Instrumental"),
    "94ff780b977d3ca07c7a343dab2e25dd": (6144, 3072, 256, 1.039, "Instrumental"),
    "970b3f9492014d18fefeedfe4773cb42": (7680, 3072, 256, 1.009, "Vocals"),
    "a3cd63058945e777505c01d2507daf37": (6144, 2048, 256, 1.03, "Vocals"),
    "b06327a00d5e5fbc7d96e1781bbdb596": (6144, 3072, 256, 1.035, "Instrumental"),
    "b33d9b3950b6cbf5fe90a32608924700": (7680, 3072, 256, 1.03, "Vocals"),
    "b6bccda408a436db8500083ef3491e8b": (7680, 3072, 256, 1.02, "Instrumental"),
    "b78da4afc6512f98e4756f5977f5c6b9": (7680, 3072, 256, 1.021, "Instrumental"),
    "c3b29bdce8c4fa17ec609e16220330ab": (16384, 2048, 256, 1.035, "Bass"),
    "cc63408db3d80b4d85b0287d1d7c9632": (6144, 3072, 256, 1.033, "Instrumental"),
    "cd5b2989ad863f116c855db1dfe24e39": (6144, 3072, 512, 1.035, "Reverb"),
    "ceed671467c1f64ebdfac8a2490d0d52": (7680, 3072, 256, 1.035, "Instrumental"),
    "d2a1376f310e4f7fa37fb9b5774eb701": (7680, 3072, 256, 1.035, "Instrumental"),
    "d7bff498db9324db933d913388cba6be": (6144, 2048, 256, 1.035, "Vocals"),
    "d94058f8c7f1fae4164868ae8ae66b20": (6144, 2048, 256, 1.035, "Vocals"),
    "dc41ede5961d50f277eb846db17f5319": (4096, 2048, 512, 1.035, "Drums"),
    "e5572e58abf111f80d8241d2e44e7fa4": (7680, 3072, 256, 1.028, "Instrumental"),
    "e7324c873b1f615c35c1967f912db92a": (7680, 3072, 256, 1.03, "Vocals"),
    "ead8d05dab12ec571d67549b3aab03fc": (6144, 3072, 256, 1.035, "Instrumental"),
    "f2df6d6863d8f435436d8b561594ff49": (7680, 3072, 256, 1.035, "Instrumental"),
}


@dataclass(frozen=True)
class KnownModel:
    """A public UVR MDX-Net file: its file stem, UVR's display name and its UVR hash."""

    file_stem: str
    display_name: str
    uvr_hash: str

    @property
    def params(self) -> MDXParams:
        """The model's parameters from :data:`UVR_MDX_PARAMS`."""
        return params_for_hash(self.uvr_hash)  # type: ignore[return-value]


# Listed in the order the automatic choice prefers them for voice work (vocal specialists first).
# File names as published in the TRvlvr/model_repo "all_public_uvr_models" release; display names
# from UVR's model_name_mapper.json; file -> hash pairs as reported by independent UVR-based tools.
KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel("UVR-MDX-NET-Voc_FT", "UVR-MDX-NET Voc FT", "77d07b2667ddf05b9e3175941b4454a0"),
    KnownModel("Kim_Vocal_2", "Kim Vocal 2", "970b3f9492014d18fefeedfe4773cb42"),
    KnownModel("UVR-MDX-NET-Inst_HQ_3", "UVR-MDX-NET Inst HQ 3", "55657dd70583b0fedfba5f67df11d711"),
    KnownModel("Kim_Vocal_1", "Kim Vocal 1", "73492b58195c3b52d34590d5474452f6"),
    KnownModel("UVR-MDX-NET-Inst_Main", "UVR-MDX-NET Inst Main", "1c56ec0224f1d559c42fd6fd2a67b154"),
    KnownModel("Kim_Inst", "Kim Inst", "b6bccda408a436db8500083ef3491e8b"),
    KnownModel("UVR_MDXNET_KARA_2", "UVR-MDX-NET Karaoke 2", "1d64a6d2c30f709b8c9b4ce1366d96ee"),
    KnownModel("UVR_MDXNET_KARA", "UVR-MDX-NET Karaoke", "2f5501189a2f6db6349916fabe8c90de"),
    KnownModel("UVR_MDXNET_1_9703", "UVR-MDX-NET 1", "a3cd63058945e777505c01d2507daf37"),
    KnownModel("UVR_MDXNET_2_9682", "UVR-MDX-NET 2", "d94058f8c7f1fae4164868ae8ae66b20"),
    KnownModel("UVR_MDXNET_3_9662", "UVR-MDX-NET 3", "d7bff498db9324db933d913388cba6be"),
    KnownModel("UVR_MDXNET_9482", "UVR-MDX-NET 9482", "0ddfc0eb5792638ad5dc27850236c246"),
    KnownModel("Reverb_HQ_By_FoxJoy", "Reverb HQ", "cd5b2989ad863f116c855db1dfe24e39"),
)


def params_for_hash(uvr_hash: str) -> MDXParams | None:
    """MDX-Net parameters UVR records for ``uvr_hash``, or None for an unknown hash."""
    row = UVR_MDX_PARAMS.get(uvr_hash.lower())
    if row is None:
        return None
    n_fft, dim_f, dim_t, compensate, primary, *rest = row
    return MDXParams(n_fft, dim_f, dim_t, compensate, primary, is_karaoke=bool(rest and rest[0]))


def uvr_model_hash(path: str | Path) -> str:
    """UVR's model key: md5 of the file's last 10000 KiB, or of the whole file if it is smaller."""
    p = Path(path)
    size = p.stat().st_size
    with p.open("rb") as fh:
        fh.seek(max(0, size - UVR_HASH_TAIL_BYTES))
        return hashlib.md5(fh.read()).hexdigest()


def known_model_by_name(name: str) -> KnownModel | None:
    """Match a file name, file stem or UVR display name (case-insensitive) to a known model."""
    key = Path(name).name.lower()
    key = key[: -len(".onnx")] if key.endswith(".onnx") else key
    for known in KNOWN_MODELS:
        if key in (known.file_stem.lower(), known.display_name.lower()):
            return known
    return None


@dataclass(frozen=True)
class ModelInfo:
    """An ``.onnx`` file and what is known about it."""

    path: Path
    uvr_hash: str
    params: MDXParams | None  # None: unknown model, parameters must come from the user
    known: KnownModel | None
    source: str  # "uvr-hash", "file-name" or "unknown"

    @property
    def name(self) -> str:
        """File stem, the name used on the command line and in the UI."""
        return self.path.stem


def identify_model(path: str | Path) -> ModelInfo:
    """Hash ``path`` and look its parameters up as UVR does (by hash, then by known file name)."""
    p = Path(path)
    digest = uvr_model_hash(p)
    by_name = known_model_by_name(p.name)
    params = params_for_hash(digest)
    if params is not None:
        known = next((k for k in KNOWN_MODELS if k.uvr_hash == digest), by_name)
        return ModelInfo(p, digest, params, known, "uvr-hash")
    if by_name is not None:
        # A re-saved copy (added metadata, fp16) changes the hash but not the STFT geometry; the
        # network's input shape is checked against these numbers when the model is loaded.
        logger.warning(
            "'%s' does not have UVR's hash for %s (%s); using that model's parameters by file name.",
            p,
            by_name.display_name,
            digest,
        )
        return ModelInfo(p, digest, by_name.params, by_name, "file-name")
    return ModelInfo(p, digest, None, None, "unknown")


def list_models(models_dir: str | Path = DEFAULT_MODELS_DIR) -> list[ModelInfo]:
    """Every ``.onnx`` file directly in ``models_dir``, identified; empty if the folder is absent."""
    folder = Path(models_dir)
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".onnx" and p.is_file())
    return [identify_model(p) for p in files]


def _preference(info: ModelInfo) -> tuple[int, str]:
    order = {k.file_stem: i for i, k in enumerate(KNOWN_MODELS)}
    rank = order.get(info.known.file_stem, len(order)) if info.known else len(order)
    return rank, info.name.lower()


def default_model(models_dir: str | Path = DEFAULT_MODELS_DIR) -> ModelInfo | None:
    """The installed model best suited to vocal separation, or None if no usable one is installed.

    Only identified models whose primary stem is Vocals or Instrumental qualify; known vocal
    specialists come first, karaoke models (lead vocals only) after them.
    """
    usable = [
        m for m in list_models(models_dir) if m.params is not None and m.params.primary_stem in _STEM_PAIRS
    ]
    return min(usable, key=_preference) if usable else None


def find_model(model: str | Path, models_dir: str | Path = DEFAULT_MODELS_DIR) -> Path:
    """Resolve a model path, file name, file stem or UVR display name to an existing ``.onnx`` file."""
    direct = Path(model)
    if direct.is_file():
        return direct
    folder = Path(models_dir)
    candidates = [folder / direct.name, folder / f"{direct.name}.onnx"]
    known = known_model_by_name(str(model))
    if known is not None:
        candidates.append(folder / f"{known.file_stem}.onnx")
    for cand in candidates:
        if cand.is_file():
            return cand
    if folder.is_dir():
        wanted = {c.name.lower() for c in candidates}
        for p in folder.iterdir():
            if p.name.lower() in wanted and p.is_file():
                return p
    raise ModelError(
        f"Separation model '{model}' was not found (looked in '{folder}'). Put the UVR5 MDX-Net .onnx "
        f"file there (e.g. UVR-MDX-NET-Voc_FT.onnx from the TRvlvr/model_repo releases), or give "
        "its full path."
    )


def resolve_params(info: ModelInfo, override: MDXParams | None, compensate: float | None) -> MDXParams:
    """Parameters to run ``info`` with: the user's override, else the table; compensate may be forced."""
    params = override if override is not None else info.params
    if params is None:
        raise ModelError(
            f"'{info.path.name}' is not a UVR MDX-Net model this program knows (UVR hash {info.uvr_hash}). "
            "Give its parameters: n_fft, dim_f, dim_t (frames), compensate and primary stem "
            "(CLI: --n-fft --dim-f --dim-t --compensate --primary-stem)."
        )
    if compensate is not None:
        params = replace(params, compensate=float(compensate))
    return params.validate()
