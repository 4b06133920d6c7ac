"""Reference features, computed once per (models, references, text) and reused.

A library voice keeps its features in its folder (``VoiceLibrary.save_features``), so reuse skips
HuBERT, BERT and the spectrogram entirely; references given as files are kept in a small in-memory LRU.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from gpt_sovits.inference.options import ReferenceReport
from gpt_sovits.inference.reference import ReferenceClip, ReferenceFeatures, load_reference
from gpt_sovits.inference.textprep import prompt_phones
from gpt_sovits.text.frontend import TextOptions

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


def _file_id(path: Path) -> str:
    st = Path(path).stat()
    return f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}"


class ReferenceCache:
    """Computes :class:`ReferenceFeatures` for a plan, with caching."""

    def __init__(self, engine, voices=None, size: int = 16) -> None:
        self.engine = engine
        self.voices = voices
        self.size = size
        self._memory: OrderedDict[str, tuple[ReferenceFeatures, tuple[ReferenceReport, ...], tuple[str, ...]]]
        self._memory = OrderedDict()
        self._lock = threading.Lock()

    def key(self, plan, version: str) -> str:
        """Everything the features depend on: model file, reference files, texts, trimming, dictionaries."""
        parts = [
            f"format={CACHE_FORMAT}",
            _file_id(plan.sovits_path),
            version,
            f"trim={plan.options.auto_trim}",
        ]
        for path, text, lang in plan.references:
            parts += [_file_id(path), text or "", lang]
        # The reference text's phones depend on every dictionary entry, not just on which files were read.
        parts += [
            f"dict={d.name}:{hashlib.sha256(repr(sorted(d.entries.items())).encode()).hexdigest()}"
            for d in plan.dictionaries
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def get(self, plan, sovits, version: str, frontend):
        """``(features, reference reports, warnings)`` of ``plan`` with the loaded SoVITS model ``sovits``."""
        key = self.key(plan, version)
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
                return hit
        cached = None
        if plan.voice and self.voices is not None and not plan.options.ref_audio:
            tensors = self.voices.load_features(plan.voice, key)
            if tensors is not None:
                cached = ReferenceFeatures.from_tensors(tensors)
        clips = [
            load_reference(p, sovits.config.sampling_rate, plan.options.auto_trim)
            for p, _, _ in plan.references
        ]
        warnings: list[str] = []
        first_text = plan.references[0][1]
        if clips[0].trimmed and first_text:
            warnings.append(
                f"the reference {clips[0].path.name} was trimmed to {clips[0].start_s:.1f}-{clips[0].end_s:.1f} s, "
                "so its text no longer matches: synthesized without reference text (reference-free); give a "
                "3-10 s reference with its exact text for the best result"
            )
            first_text = None
        for c in clips:
            if c.padded:
                warnings.append(
                    f"the reference {c.path.name} is shorter than 3 s and was padded with silence"
                )
        reports = tuple(
            ReferenceReport(
                c.path, c.start_s, c.end_s, c.duration_s, c.trimmed, first_text if i == 0 else None
            )
            for i, c in enumerate(clips)
        )
        if cached is None:
            cached = self._compute(plan, clips, first_text, sovits, version, frontend)
            if plan.voice and self.voices is not None and not plan.options.ref_audio:
                self.voices.save_features(plan.voice, key, cached.to_tensors())
        value = (cached, reports, tuple(warnings))
        with self._lock:
            self._memory[key] = value
            while len(self._memory) > self.size:
                self._memory.popitem(last=False)
        return value

    def _compute(self, plan, clips: list[ReferenceClip], text: str | None, sovits, version: str, frontend):
        from gpt_sovits.audio.spectrogram import SpectrogramConfig, linear_spectrogram
        from gpt_sovits.features import reference_pad_samples

        engine = self.engine
        cfg = sovits.config
        device = engine.registry.device.device
        dtype = next(sovits.module.parameters()).dtype
        spec_cfg = SpectrogramConfig(cfg.sampling_rate, cfg.filter_length, cfg.hop_length, cfg.win_length)
        specs, svs = [], []
        speaker = engine.registry.speaker(engine.feature_path("sv")) if cfg.spec.uses_sv else None
        for clip in clips:
            wav = torch.from_numpy(clip.wav_model).float()
            peak = float(wav.abs().max())
            if peak > 1:  # upstream: tame clipped references
                wav = wav / min(2.0, peak)
            specs.append(
                linear_spectrogram(wav.unsqueeze(0), spec_cfg).to(device=device, dtype=dtype)
            )  # [1, F, T]
            if speaker is not None:
                with engine.lock:
                    svs.append(
                        speaker.embed(torch.from_numpy(clip.wav16k).float()).view(1, -1).to(device, dtype)
                    )
        with engine.lock, torch.inference_mode():
            timbre = sovits.module.encode_timbre(specs, svs or None)  # [1, gin, 1]
        if not text:
            return ReferenceFeatures(None, None, None, timbre.float().cpu())
        lang = plan.references[0][2]
        result = frontend.process(text, TextOptions(lang, version, "cut0"))
        ids, bert = prompt_phones(result, version, engine.bert_features)
        hubert = engine.registry.hubert(engine.feature_path("hubert"))
        wav16 = np.concatenate(
            [clips[0].wav16k, np.zeros(reference_pad_samples(cfg.sampling_rate), np.float32)]
        )
        with engine.lock, torch.inference_mode():
            ssl = hubert.encode(torch.from_numpy(wav16).view(1, -1).to(device))  # [1, 768, frames]
            codes = sovits.module.extract_latent(ssl.to(dtype))  # [1, 1, frames // 2]
        return ReferenceFeatures(codes[0, 0].cpu(), ids, bert, timbre.float().cpu())
