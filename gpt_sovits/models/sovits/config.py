"""SoVITS hyper-parameters: one frozen dataclass plus a data table of what differs between versions.

Official ``.pth`` files carry their training hparams (``s2.json`` / ``s2v2Pro.json`` / ``s2v2ProPlus.json``
layout) as ``config``; :meth:`SoVITSConfig.from_hparams` reads that nested dict. What a *version* changes
(phone inventory, which spectrogram bins the timbre encoder sees, the speaker-verification projection, the
discriminator periods) lives in :data:`VERSION_SPECS`, so model code asks ``config.spec`` instead of
comparing version strings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from gpt_sovits.errors import GPTSoVITSError


class SoVITSError(GPTSoVITSError):
    """A SoVITS model was given settings or inputs it cannot work with (unknown version, missing sv_emb...)."""


@dataclass(frozen=True)
class VersionSpec:
    """Everything that differs between SoVITS versions, as data.

    ``ref_bins`` is how many low spectrogram bins the timbre encoder reads (``None``: all of them).
    ``sv_dim`` is the speaker-verification embedding size fed through ``sv_emb`` (0: not used).
    """

    name: str
    n_symbols: int
    ref_bins: int | None
    sv_dim: int
    disc_periods: tuple[int, ...]
    mrte_channels: int = 512  # MRTE works at 512 channels in every version; ge is projected to it.

    @property
    def uses_sv(self) -> bool:
        """True for v2Pro/v2ProPlus: the timbre vector also takes a speaker-verification embedding."""
        return self.sv_dim > 0


_PERIODS = (2, 3, 5, 7, 11)
_PERIODS_PRO = (2, 3, 5, 7, 11, 17, 23)

VERSION_SPECS: dict[str, VersionSpec] = {
    "v1": VersionSpec("v1", n_symbols=322, ref_bins=None, sv_dim=0, disc_periods=_PERIODS),
    "v2": VersionSpec("v2", n_symbols=732, ref_bins=704, sv_dim=0, disc_periods=_PERIODS),
    "v2Pro": VersionSpec("v2Pro", n_symbols=732, ref_bins=704, sv_dim=20480, disc_periods=_PERIODS_PRO),
    "v2ProPlus": VersionSpec(
        "v2ProPlus", n_symbols=732, ref_bins=704, sv_dim=20480, disc_periods=_PERIODS_PRO
    ),
}


# Where the official full-size configs differ from the dataclass defaults (which are s2.json: v1 and v2).
PRESET_OVERRIDES: dict[str, dict[str, Any]] = {
    "v2Pro": {"gin_channels": 1024, "p_dropout": 0.0},  # s2v2Pro.json
    "v2ProPlus": {  # s2v2ProPlus.json: a wider decoder with a longer first upsampling kernel
        "gin_channels": 1024,
        "p_dropout": 0.0,
        "upsample_initial_channel": 768,
        "upsample_kernel_sizes": (20, 16, 8, 2, 2),
    },
}


def version_spec(version: str) -> VersionSpec:
    """The :class:`VersionSpec` of ``version``; raises :class:`SoVITSError` for versions we do not support."""
    try:
        return VERSION_SPECS[version]
    except KeyError:
        raise SoVITSError(
            f"Unsupported SoVITS version {version!r}. Supported: {', '.join(VERSION_SPECS)}. "
            "v3/v4 models need GPT-SoVITS itself."
        ) from None


@dataclass(frozen=True)
class SoVITSConfig:
    """Sizes of a SoVITS generator (and the audio framing it was trained for).

    Field names follow upstream's ``model`` / ``data`` sections so that :meth:`from_hparams` is a plain
    copy. ``segment_size`` is in spectrogram frames (upstream stores it in samples under ``train``).
    """

    version: str = "v2"
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    p_dropout: float = 0.1
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (10, 8, 2, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8, 2, 2)
    gin_channels: int = 512
    semantic_frame_rate: str = "25hz"
    freeze_quantizer: bool = True
    use_spectral_norm: bool = False
    # audio framing (``data`` section)
    sampling_rate: int = 32000
    filter_length: int = 2048
    hop_length: int = 640
    win_length: int = 2048
    segment_size: int = 32  # frames: 20480 samples / 640
    # fixed by the architecture, kept here so tiny test models can shrink them
    ssl_dim: int = 768
    codebook_size: int = 1024
    n_codebooks: int = 1
    posterior_layers: int = 16
    flow_layers: int = 4

    def __post_init__(self) -> None:
        version_spec(self.version)  # fail early on unknown versions
        if self.semantic_frame_rate not in ("25hz", "50hz"):
            raise SoVITSError(
                f"semantic_frame_rate must be '25hz' or '50hz', not {self.semantic_frame_rate!r}."
            )
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise SoVITSError("upsample_rates and upsample_kernel_sizes must have the same length.")
        spec = VERSION_SPECS[self.version]
        if not spec.uses_sv and self.gin_channels != spec.mrte_channels:
            # v1/v2 add the timbre vector straight into MRTE's 512 channels (v2Pro* project it first)
            raise SoVITSError(
                f"SoVITS {self.version} needs gin_channels == {spec.mrte_channels}, got {self.gin_channels}."
            )

    @property
    def spec(self) -> VersionSpec:
        """The per-version facts (see :data:`VERSION_SPECS`)."""
        return VERSION_SPECS[self.version]

    @property
    def spec_channels(self) -> int:
        """Linear-spectrogram bins: ``filter_length // 2 + 1`` (1025 for the official n_fft 2048)."""
        return self.filter_length // 2 + 1

    @property
    def ref_channels(self) -> int:
        """Spectrogram bins the timbre encoder reads (704 from v2 on, all bins for v1)."""
        bins = self.spec.ref_bins
        return self.spec_channels if bins is None else bins

    @property
    def upsample_factor(self) -> int:
        """Waveform samples per latent frame (product of the upsample rates; equals ``hop_length``)."""
        return math.prod(self.upsample_rates)

    @property
    def code_stride(self) -> int:
        """Latent (spectrogram) frames per semantic code: 2 at 25 Hz, 1 at 50 Hz."""
        return 2 if self.semantic_frame_rate == "25hz" else 1

    @classmethod
    def preset(cls, version: str) -> SoVITSConfig:
        """Full-size official configuration of ``version`` (``s2.json``, ``s2v2Pro.json``, ``s2v2ProPlus.json``)."""
        version_spec(version)
        return cls(version=version, **PRESET_OVERRIDES.get(version, {}))

    @classmethod
    def from_hparams(cls, config: dict[str, Any], version: str | None = None) -> SoVITSConfig:
        """Build from the ``config`` dict stored in a ``.pth`` file (upstream ``hps``, as plain nested dicts).

        ``version`` overrides ``config["model"]["version"]`` (files identify their version more reliably
        from their weights and header than from this field, which v1 files lack). Missing entries take the
        official defaults of that version.
        """
        model = dict(config.get("model") or {})
        data = dict(config.get("data") or {})
        train = dict(config.get("train") or {})
        version = version or model.get("version") or "v2"
        base = cls.preset(version)
        values: dict[str, Any] = {}
        nested = (
            "resblock_kernel_sizes",
            "upsample_rates",
            "upsample_kernel_sizes",
            "resblock_dilation_sizes",
        )
        for name in _HPARAM_MODEL_KEYS:
            if name not in nested and model.get(name) is not None:
                values[name] = model[name]
        for name in nested[:3]:
            if model.get(name) is not None:
                values[name] = tuple(int(v) for v in model[name])
        if model.get("resblock_dilation_sizes") is not None:
            values["resblock_dilation_sizes"] = tuple(
                tuple(int(d) for d in ds) for ds in model["resblock_dilation_sizes"]
            )
        for name in ("sampling_rate", "filter_length", "hop_length", "win_length"):
            if data.get(name) is not None:
                values[name] = int(data[name])
        hop = values.get("hop_length", base.hop_length)
        if train.get("segment_size") is not None:
            values["segment_size"] = int(train["segment_size"]) // hop
        values["resblock"] = str(values.get("resblock", base.resblock))
        return replace(base, version=version, **values)

    def to_hparams(self) -> dict[str, Any]:
        """The inverse of :meth:`from_hparams`: an ``s2.json``-shaped dict with every entry upstream reads.

        Upstream builds ``SynthesizerTrn(**hps.model)``, so every constructor argument is present; lists, not
        tuples, as in the JSON files. ``from_hparams(config.to_hparams()) == config``.
        """

        def plain(value: Any) -> Any:
            return [plain(v) for v in value] if isinstance(value, tuple) else value

        model = {name: plain(getattr(self, name)) for name in _HPARAM_MODEL_KEYS}
        return {
            "data": {
                "sampling_rate": self.sampling_rate,
                "filter_length": self.filter_length,
                "hop_length": self.hop_length,
                "win_length": self.win_length,
                "n_mel_channels": 128,
                "mel_fmin": 0.0,
                "mel_fmax": None,
                "n_speakers": 300,
            },
            "train": {"segment_size": self.segment_size * self.hop_length},
            "model": {**model, "n_layers_q": 3, "version": self.version},
        }


# The ``model`` entries of s2.json that map one to one onto SoVITSConfig fields.
_HPARAM_MODEL_KEYS = (
    "inter_channels",
    "hidden_channels",
    "filter_channels",
    "n_heads",
    "n_layers",
    "kernel_size",
    "p_dropout",
    "resblock",
    "resblock_kernel_sizes",
    "resblock_dilation_sizes",
    "upsample_rates",
    "upsample_initial_channel",
    "upsample_kernel_sizes",
    "gin_channels",
    "semantic_frame_rate",
    "freeze_quantizer",
    "use_spectral_norm",
)
