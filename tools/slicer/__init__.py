"""Audio slicer: cut long recordings into training clips at pauses.

Two ways to find the pauses: ``mode="rms"`` (the GPT-SoVITS slicer's RMS silence detection, with its
defaults) and ``mode="vad"`` (silero-vad non-speech, robust to background music). Files are
processed in blocks, so memory stays bounded for hour-long recordings. Each clip is normalised
like upstream's slicer, written as ``{stem}_{start:010d}_{end:010d}.wav`` and listed in
``manifest.jsonl``; existing files are never overwritten.

Library use::

    from tools.slicer import SliceOptions, slice_folder
    result = slice_folder("raw/", "sliced/", SliceOptions(mode="vad"), progress=print)

CLI: ``python -m tools.slicer INPUT... --out DIR [--mode rms|vad] ...`` (``--help`` lists options).
"""

from tools.slicer.core import (
    MANIFEST_NAME,
    Analysis,
    analyze_file,
    clip_name,
    list_audio_files,
    plan_file,
    read_manifest,
    slice_file,
    slice_files,
    slice_folder,
)
from tools.slicer.options import (
    Clip,
    OutputExistsError,
    SkippedInput,
    SliceOptions,
    SlicerError,
    SliceResult,
)
from tools.slicer.plan import Span

__all__ = [
    "MANIFEST_NAME",
    "Analysis",
    "Clip",
    "OutputExistsError",
    "SkippedInput",
    "SliceOptions",
    "SliceResult",
    "SlicerError",
    "Span",
    "analyze_file",
    "clip_name",
    "list_audio_files",
    "plan_file",
    "read_manifest",
    "slice_file",
    "slice_files",
    "slice_folder",
]
