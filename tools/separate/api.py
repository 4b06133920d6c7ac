"""Library entry points used by the WebUI and the CLI: separate one file or a whole folder.

A :class:`Separator` is loaded once (the ONNX session, or the noise-reduction fallback when no model
is installed) and reused for every file. Outputs are ``<input stem>_<stem>.<wav|flac>`` in the output
folder, written with :func:`gpt_sovits.audio.save_audio`, which never replaces an existing file
unless asked to, and an input file is never replaced even then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpt_sovits.audio import load_audio_channels, save_audio
from gpt_sovits.errors import AudioError, GPTSoVITSError
from tools.separate.mdx import OnnxModel, demix
from tools.separate.models import (
    DEFAULT_MODELS_DIR,
    MODEL_SAMPLE_RATE,
    MDXParams,
    ModelError,
    ModelInfo,
    default_model,
    find_model,
    identify_model,
    resolve_params,
)
from tools.separate.noise import FALLBACK_MESSAGE, reduce_noise

logger = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]  # (fraction 0..1, message)
MODES = ("auto", "mdx", "noise_reduction")
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac", ".wma", ".aif", ".aiff", ".webm", ".mp4"}
    | {".mkv", ".mov"}
)
_FREQ_CUT_STEMS = ("Vocals", "Instrumental")  # UVR's MDX_NET_FREQ_CUT


@dataclass(frozen=True)
class SeparationOptions:
    """How to separate. Defaults follow UVR's defaults for MDX-Net.

    Attributes:
        mode: "auto" (the model, or noise reduction when none is installed), "mdx" (a model is
            required) or "noise_reduction" (fallback only).
        denoise: UVR's denoise pass, 0.5 * (f(x) - f(-x)); doubles the model time.
        overlap: None for UVR's default chunk step, or a fraction in (0, 1) (UVR offers .25-.99).
        batch_size: chunks per model call (more uses more memory).
        device: "auto" (CUDA if onnxruntime has it), "cpu" or "cuda".
        threads: onnxruntime intra-op threads, 0 for its default.
        match_frequency_cut: as UVR, form the other stem from the mix band-limited like the model
            input (Vocals/Instrumental models), so no out-of-band content leaks into it.
        params: parameters for a model this program does not know (overrides the table).
        compensate: force the output gain instead of the model's value.
        format: "wav" or "flac".
        subtype: sample format for :func:`save_audio` ("PCM_16", "PCM_24", "FLOAT" ...).
        overwrite: replace existing outputs (inputs are never replaced).
        noise_stationary: fallback only: one noise profile for the whole file.
        noise_strength: fallback only: fraction of the estimated noise removed, 0..1.
    """

    mode: str = "auto"
    denoise: bool = False
    overlap: float | None = None
    batch_size: int = 1
    device: str = "auto"
    threads: int = 0
    match_frequency_cut: bool = True
    params: MDXParams | None = None
    compensate: float | None = None
    format: str = "wav"
    subtype: str = "PCM_16"
    overwrite: bool = False
    noise_stationary: bool = False
    # Measured on piper speech + white noise (0-20 dB SNR): 0.8 keeps 1-2 dB more SNR than 1.0.
    noise_strength: float = 0.8


@dataclass
class SeparationResult:
    """What :func:`separate_file` wrote.

    ``vocals`` is the voice track for the next step (the denoised file in the fallback mode, the
    dry "no_reverb" file for a de-reverb model);
    ``instrumental`` is the accompaniment (None in the fallback mode). ``stems`` maps every
    written label ("vocals", "instrumental", "reverb", "no_reverb", "denoised", "noise") to its file.
    """

    input: Path
    mode: str  # "mdx" or "noise_reduction"
    stems: dict[str, Path]
    vocals: Path | None
    instrumental: Path | None
    sample_rate: int
    duration_s: float
    elapsed_s: float
    model: str | None = None
    params: MDXParams | None = None
    providers: list[str] = field(default_factory=list)
    message: str = ""


@dataclass
class FolderResult:
    """What :func:`separate_folder` did: one result per separated file, and the files it skipped."""

    results: list[SeparationResult]
    skipped: list[tuple[Path, str]]  # (file, why)
    mode: str
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when no file was skipped."""
        return not self.skipped


def _stem_label(stem: str) -> str:
    return stem.strip().lower().replace(" ", "_").replace("-", "_")


class Separator:
    """A loaded separation model (or the noise-reduction fallback), reusable across files."""

    def __init__(
        self,
        options: SeparationOptions,
        info: ModelInfo | None = None,
        params: MDXParams | None = None,
        model: OnnxModel | None = None,
    ) -> None:
        self.options = options
        self.info = info
        self.params = params
        self.model = model
        self.mode = "mdx" if model is not None else "noise_reduction"
        self.message = "" if self.mode == "mdx" else FALLBACK_MESSAGE

    @property
    def model_name(self) -> str | None:
        """The model's file stem, None in the fallback mode."""
        return self.info.name if self.info else None

    @property
    def labels(self) -> tuple[str, str]:
        """Output labels: (primary, secondary) for a model, (denoised, noise) for the fallback."""
        if self.params is None:
            return "denoised", "noise"
        return _stem_label(self.params.primary_stem), _stem_label(self.params.secondary_stem)

    @property
    def sample_rate(self) -> int | None:
        """Rate the audio is processed at (None: the file's own rate, fallback mode)."""
        return MODEL_SAMPLE_RATE if self.mode == "mdx" else None

    def process(
        self, audio: np.ndarray, sample_rate: int, progress: Callable[[float], None] | None = None
    ) -> dict[str, np.ndarray]:
        """Split [channels, samples] audio into ``{label: [channels, samples]}`` (primary first)."""
        primary_label, secondary_label = self.labels
        if self.mode == "noise_reduction":
            clean = reduce_noise(
                audio,
                sample_rate,
                stationary=self.options.noise_stationary,
                prop_decrease=self.options.noise_strength,
            )
            if progress is not None:
                progress(1.0)
            return {primary_label: clean, secondary_label: audio - clean}
        if sample_rate != MODEL_SAMPLE_RATE:
            raise ValueError(f"MDX-Net models take {MODEL_SAMPLE_RATE} Hz audio, got {sample_rate}")
        mix = np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio  # [2, n]
        assert self.params is not None and self.model is not None
        cut = self.options.match_frequency_cut and self.params.primary_stem in _FREQ_CUT_STEMS
        batch = self.model.fixed_batch or self.options.batch_size
        out = demix(
            mix,
            self.params,
            self.model,
            overlap=self.options.overlap,
            batch_size=batch,
            denoise=self.options.denoise,
            band_limited_mix=cut,
            progress=progress,
        )
        reference = out.band_limited_mix if out.band_limited_mix is not None else mix
        # UVR: the other stem is the (band-limited) mix minus the compensated primary.
        return {primary_label: out.primary, secondary_label: reference - out.primary}


def load_separator(
    model: str | Path | None = None,
    options: SeparationOptions | None = None,
    models_dir: str | Path = DEFAULT_MODELS_DIR,
) -> Separator:
    """Load a model by name/path (None: the best installed one) or fall back to noise reduction.

    Raises:
        ModelError: a named model is missing or unknown without ``options.params``, or mode "mdx"
            and no model is installed.
    """
    opts = options or SeparationOptions()
    if opts.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {opts.mode!r}")
    if opts.mode == "noise_reduction":
        return Separator(opts)
    if model is not None:
        info = identify_model(find_model(model, models_dir))
    else:
        info = default_model(models_dir)
        if info is None:
            if opts.mode == "mdx":
                raise ModelError(
                    f"No usable UVR5 MDX-Net model in '{models_dir}'. Download one (e.g. "
                    "UVR-MDX-NET-Voc_FT.onnx from the TRvlvr/model_repo releases) into that folder."
                )
            logger.warning("%s (looked in '%s')", FALLBACK_MESSAGE, models_dir)
            return Separator(opts)
    params = resolve_params(info, opts.params, opts.compensate)
    session = OnnxModel(info.path, device=opts.device, threads=opts.threads)
    session.check_params(params)
    logger.info("Separation model %s (%s): %s", info.name, info.source, params)
    return Separator(opts, info, params, session)


def _output_paths(sep: Separator, out_dir: Path, base: str, opts: SeparationOptions) -> dict[str, Path]:
    fmt = opts.format.lower().lstrip(".")
    if fmt not in ("wav", "flac"):
        raise AudioError(f"Output format must be 'wav' or 'flac', got {opts.format!r}.")
    return {label: out_dir / f"{base}_{label}.{fmt}" for label in sep.labels}


def _check_outputs(paths: Iterable[Path], protected: set[Path], overwrite: bool) -> None:
    for p in paths:
        if p.resolve() in protected:
            raise AudioError(f"Output '{p}' would replace an input file. Choose another output folder.")
        if p.exists() and not overwrite:
            raise AudioError(f"Output '{p}' already exists. Remove it, choose another folder or overwrite.")


def _separate_one(
    path: Path,
    out_dir: Path,
    sep: Separator,
    base: str,
    protected: set[Path],
    progress: ProgressFn | None,
) -> SeparationResult:
    opts = sep.options
    started = time.perf_counter()
    outputs = _output_paths(sep, out_dir, base, opts)
    _check_outputs(outputs.values(), protected | {path.resolve()}, opts.overwrite)
    if progress is not None:
        progress(0.0, f"Loading {path.name}")
    audio, sr = load_audio_channels(path, sep.sample_rate)
    step = "Reducing noise in" if sep.mode == "noise_reduction" else "Separating"

    def inner(fraction: float) -> None:
        if progress is not None:
            progress(0.05 + 0.9 * fraction, f"{step} {path.name}")

    stems = sep.process(audio, sr, inner)
    written: dict[str, Path] = {}
    for label, data in stems.items():
        written[label] = save_audio(outputs[label], data, sr, subtype=opts.subtype, overwrite=opts.overwrite)
    if progress is not None:
        progress(1.0, f"Done {path.name}")
    # The voice track for the next step: the vocals, the denoised file (fallback) or the dry signal.
    vocals = written.get("vocals") or written.get("denoised") or written.get("no_reverb")
    result = SeparationResult(
        input=path,
        mode=sep.mode,
        stems=written,
        vocals=vocals,
        instrumental=written.get("instrumental"),
        sample_rate=sr,
        duration_s=audio.shape[-1] / sr,
        elapsed_s=time.perf_counter() - started,
        model=sep.model_name,
        params=sep.params,
        providers=list(sep.model.providers) if sep.model else [],
        message=sep.message,
    )
    logger.info(
        "%s -> %s in %.1f s", path.name, ", ".join(p.name for p in written.values()), result.elapsed_s
    )
    return result


def separate_file(
    path: str | Path,
    out_dir: str | Path,
    model: str | Path | Separator | None = None,
    options: SeparationOptions | None = None,
    progress: ProgressFn | None = None,
    *,
    models_dir: str | Path = DEFAULT_MODELS_DIR,
) -> SeparationResult:
    """Separate one file into vocals and accompaniment (or denoise it when no model is installed).

    Args:
        path: the audio file (anything FFmpeg/libsndfile reads).
        out_dir: folder for ``<stem>_vocals.wav`` and ``<stem>_instrumental.wav`` (created).
        model: model file name/stem/path, UVR display name, a loaded :class:`Separator`, or None
            for the best model in ``models_dir`` (noise reduction if there is none and mode "auto").
        options: see :class:`SeparationOptions`.
        progress: ``progress(fraction, message)``.
        models_dir: where model files are looked up.

    Raises:
        AudioError: unreadable input, or an output exists / would replace the input.
        ModelError: the model is missing or unknown.
    """
    sep = model if isinstance(model, Separator) else load_separator(model, options, models_dir)
    p = Path(path)
    return _separate_one(p, Path(out_dir), sep, p.stem, set(), progress)


def _collect_inputs(inputs: str | Path | Iterable[str | Path], recursive: bool, out_dir: Path) -> list[Path]:
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = p.rglob("*") if recursive else p.iterdir()
            out = out_dir.resolve()
            files += sorted(
                f
                for f in found
                if f.is_file()
                and f.suffix.lower() in AUDIO_EXTENSIONS
                and not f.name.startswith(".")
                and out not in f.resolve().parents  # earlier outputs inside the input tree
            )
        else:
            files.append(p)  # named explicitly: tried whatever its extension, reported if unreadable
    return files


def _base_names(files: list[Path]) -> list[str]:
    """Output base names; inputs sharing a stem (a.wav, a.mp3) get their extension appended."""
    stems = [f.stem for f in files]
    return [f"{f.stem}_{f.suffix.lstrip('.')}" if stems.count(f.stem) > 1 else f.stem for f in files]


def separate_folder(
    inputs: str | Path | Iterable[str | Path],
    out_dir: str | Path,
    model: str | Path | Separator | None = None,
    options: SeparationOptions | None = None,
    progress: ProgressFn | None = None,
    *,
    models_dir: str | Path = DEFAULT_MODELS_DIR,
    recursive: bool = False,
) -> FolderResult:
    """Separate every audio file in a folder (or a list of files/folders), loading the model once.

    A file that cannot be read or written is skipped and listed in ``FolderResult.skipped`` with
    the reason; the others are still processed. Model problems raise before any file is touched.
    """
    sep = model if isinstance(model, Separator) else load_separator(model, options, models_dir)
    out = Path(out_dir)
    files = _collect_inputs(inputs, recursive, out)
    protected = {f.resolve() for f in files}
    results: list[SeparationResult] = []
    skipped: list[tuple[Path, str]] = []
    total = max(len(files), 1)
    for i, (f, base) in enumerate(zip(files, _base_names(files))):

        def file_progress(fraction: float, message: str, i: int = i) -> None:
            if progress is not None:
                progress((i + fraction) / total, f"[{i + 1}/{len(files)}] {message}")

        try:
            results.append(_separate_one(f, out, sep, base, protected, file_progress))
        except (GPTSoVITSError, OSError) as exc:
            logger.warning("Skipped '%s': %s", f, exc)
            skipped.append((f, str(exc)))
    if progress is not None:
        progress(1.0, f"Finished: {len(results)} done, {len(skipped)} skipped")
    return FolderResult(results=results, skipped=skipped, mode=sep.mode, message=sep.message)
