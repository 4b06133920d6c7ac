"""Vocal / accompaniment separation with UVR5 MDX-Net ONNX models, with a noise-reduction fallback.

Library use (the WebUI calls these)::

    from tools.separate import SeparationOptions, separate_file, separate_folder

    result = separate_file("song.mp3", "out/", model="UVR-MDX-NET-Voc_FT", models_dir="pretrained/uvr5")
    result.vocals, result.instrumental  # paths of the written stems

Command line: ``python -m tools.separate --help``.
"""

from tools.separate.api import (
    FolderResult,
    SeparationOptions,
    SeparationResult,
    Separator,
    load_audio_channels,
    load_separator,
    separate_file,
    separate_folder,
)
from tools.separate.mdx import OnnxModel, demix
from tools.separate.models import (
    DEFAULT_MODELS_DIR,
    KNOWN_MODELS,
    MODEL_SAMPLE_RATE,
    UVR_MDX_PARAMS,
    MDXParams,
    ModelError,
    ModelInfo,
    default_model,
    find_model,
    identify_model,
    list_models,
    uvr_model_hash,
)
from tools.separate.noise import FALLBACK_MESSAGE, reduce_noise

__all__ = [
    "DEFAULT_MODELS_DIR",
    "FALLBACK_MESSAGE",
    "KNOWN_MODELS",
    "MODEL_SAMPLE_RATE",
    "UVR_MDX_PARAMS",
    "FolderResult",
    "MDXParams",
    "ModelError",
    "ModelInfo",
    "OnnxModel",
    "SeparationOptions",
    "SeparationResult",
    "Separator",
    "default_model",
    "demix",
    "find_model",
    "identify_model",
    "list_models",
    "load_audio_channels",
    "load_separator",
    "reduce_noise",
    "separate_file",
    "separate_folder",
    "uvr_model_hash",
]
