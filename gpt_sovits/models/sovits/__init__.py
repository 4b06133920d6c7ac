"""SoVITS generator (v1, v2, v2Pro, v2ProPlus) and its fine-tuning discriminator, weight-compatible with
official ``.pth`` files."""

from gpt_sovits.models.sovits.config import (
    VERSION_SPECS,
    SoVITSConfig,
    SoVITSError,
    VersionSpec,
    version_spec,
)
from gpt_sovits.models.sovits.discriminator import MultiPeriodDiscriminator
from gpt_sovits.models.sovits.layers import fold_weight_norm
from gpt_sovits.models.sovits.synthesizer import SoVITSSynthesizer, SoVITSTrainOutput

__all__ = [
    "VERSION_SPECS",
    "MultiPeriodDiscriminator",
    "SoVITSConfig",
    "SoVITSError",
    "SoVITSSynthesizer",
    "SoVITSTrainOutput",
    "VersionSpec",
    "fold_weight_norm",
    "version_spec",
]
