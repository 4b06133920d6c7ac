"""The synthesis engine: options in, audio out, whole or streamed.

One :class:`Engine` per process serves every caller (CLI, batch, HTTP API, WebUI). Models come from the
shared :class:`~gpt_sovits.registry.ModelRegistry`; model computation is serialised by one lock so that
concurrent requests never share buffers, while text processing and I/O run in parallel.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.inference.guard import GuardOutcome, check_codes, length_budget
from gpt_sovits.inference.options import (
    SPLIT_METHODS,
    AudioChunk,
    SegmentReport,
    SynthesisOptions,
    SynthesisResult,
    Timings,
)
from gpt_sovits.inference.refcache import ReferenceCache
from gpt_sovits.inference.sampling import make_sampler
from gpt_sovits.inference.textprep import Row, build_rows, token_budget
from gpt_sovits.inference.vocode import RowStreamer, RowVocoder
from gpt_sovits.models.t2s.decode import join_stream
from gpt_sovits.settings import Settings
from gpt_sovits.text.dictionary import Dictionary
from gpt_sovits.text.frontend import FrontEnd, TextOptions

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 20_000
GENERATE_PIECE = 32  # tokens per row between two takes of the compute lock


class SynthesisError(GPTSoVITSError):
    """A request that cannot be synthesized as asked (missing model or reference, bad option)."""


class Cancelled(GPTSoVITSError):
    """The caller cancelled the request."""


class CancelToken:
    """Set from any thread to stop a running request at its next step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("Synthesis was cancelled.")


@dataclass(frozen=True)
class Plan:
    """A request with its voice resolved to files."""

    options: SynthesisOptions
    gpt_path: Path
    sovits_path: Path
    references: tuple[tuple[Path, str | None, str], ...]  # (audio, text, language); the first is the prompt
    voice: str | None = None
    dictionaries: tuple[Dictionary, ...] = field(default=())


def _check_options(o: SynthesisOptions) -> None:
    if not o.text or not o.text.strip():
        raise SynthesisError("The text is empty: give the words to speak.")
    if len(o.text) > MAX_TEXT_CHARS:
        raise SynthesisError(
            f"The text has {len(o.text)} characters; one request takes at most {MAX_TEXT_CHARS}. "
            "Split it into several requests (the batch command does this for a file of texts)."
        )
    if o.split not in SPLIT_METHODS:
        raise SynthesisError(f"Unknown split method {o.split!r}; use one of {', '.join(SPLIT_METHODS)}.")
    checks = [
        (0.25 <= o.speed <= 4.0, f"speed must be between 0.25 and 4, got {o.speed}"),
        (o.top_k >= 1, f"top_k must be at least 1, got {o.top_k}"),
        (0.0 < o.top_p <= 1.0, f"top_p must be in (0, 1], got {o.top_p}"),
        (0.0 < o.temperature <= 5.0, f"temperature must be in (0, 5], got {o.temperature}"),
        (o.repetition_penalty >= 1.0, f"repetition_penalty must be at least 1, got {o.repetition_penalty}"),
        (0.0 <= o.pause <= 10.0, f"pause must be between 0 and 10 seconds, got {o.pause}"),
        (o.batch_size >= 1, f"batch_size must be at least 1, got {o.batch_size}"),
        (o.stream_chunk_tokens >= 4, f"stream_chunk_tokens must be at least 4, got {o.stream_chunk_tokens}"),
        (0.0 <= o.noise_scale <= 2.0, f"noise_scale must be between 0 and 2, got {o.noise_scale}"),
        (0 <= o.guard_retries <= 10, f"guard_retries must be between 0 and 10, got {o.guard_retries}"),
    ]
    for ok, message in checks:
        if not ok:
            raise SynthesisError(message)


def _segment_report(
    row: Row, codes: torch.Tensor, budget: int, start_s: float, length_s: float, guard: GuardOutcome | None
) -> SegmentReport:
    tokens = int(codes.numel())
    checked = (
        {}
        if guard is None
        else dict(guard_ok=guard.ok, guard_attempts=guard.attempts, guard_reasons=guard.reasons)
    )
    return SegmentReport(
        row.index,
        row.text,
        row.langs,
        row.phones,
        tokens,
        budget,
        start_s,
        start_s + length_s,
        stopped_by_budget=tokens >= budget,
        padded=row.padded,
        **checked,
    )


def _row_warnings(report: SegmentReport, guard: GuardOutcome | None, streaming: bool) -> list[str]:
    out = []
    if guard is not None and (guard.attempts or not guard.ok):
        out.append(guard.warning(report.index, streaming))
    if report.stopped_by_budget:
        out.append(
            f"segment {report.index} reached its token budget ({report.token_budget}) and was cut: the model "
            "may have been repeating itself; try another seed or a lower temperature"
        )
    return out


def _file_stamp(path: Path) -> tuple[int, int]:
    """(mtime_ns, size) of a file, (0, -1) when it is missing: tells a changed dictionary file."""
    try:
        st = path.stat()
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


class Engine:
    """Text to speech with GPT-SoVITS models (see :mod:`gpt_sovits.inference`)."""

    def __init__(self, registry, settings: Settings, voices=None) -> None:
        self.registry = registry
        self.settings = settings
        self.voices = voices
        self.lock = threading.Lock()
        self.references = ReferenceCache(self, voices)
        self._global_dicts: dict[str, tuple[tuple, tuple[Dictionary, ...]]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, device: str | None = None, precision: str = "auto") -> Engine:
        """The usual engine of an entry point: a fresh registry on the chosen device (``device`` None: the
        settings' choice) and the settings' voice library."""
        from gpt_sovits.device import choose_device
        from gpt_sovits.registry.registry import ModelRegistry
        from gpt_sovits.voices import VoiceLibrary

        registry = ModelRegistry(choose_device(device or settings.device, precision))
        return cls(registry, settings, VoiceLibrary(settings.voices_dir))

    # ------------------------------------------------------------------ planning
    def global_dictionaries(self, version: str = "v2") -> tuple[Dictionary, ...]:
        """The global dictionaries of the settings, parsed for the phone set of ``version``; read again only
        when a file changes (the WebUI's pronunciation editor adds entries while the app runs)."""
        paths = self.settings.global_dictionaries()
        stamp = tuple((str(p), *_file_stamp(p)) for p in paths)
        cached = self._global_dicts.get(version)
        if cached is None or cached[0] != stamp:
            cached = (stamp, tuple(Dictionary.load(p, version) for p in paths))
            self._global_dicts[version] = cached
        return cached[1]

    def plan(self, options: SynthesisOptions) -> Plan:
        """Resolve the voice (or the given files, or the pretrained defaults) of a request."""
        _check_options(options)
        dicts: list[Dictionary] = []
        version = "v2"
        if options.voice:
            if self.voices is None:
                raise SynthesisError(
                    "No voice library is configured; give --gpt, --sovits and --ref instead."
                )
            voice = self.voices.get(options.voice)
            version = self.text_version(voice.version)
            defaults = {f.name: f.default for f in fields(SynthesisOptions)}
            known = {k: v for k, v in dict(voice.defaults).items() if k in defaults}
            merged = {k: v for k, v in known.items() if getattr(options, k) == defaults[k]}
            options = replace(options, **merged)
            refs = [(r.path, r.text or None, r.lang or voice.language) for r in voice.references]
            if options.ref_audio:  # a request may bring its own reference audio
                refs = [(Path(p), options.ref_text, options.ref_lang) for p in options.ref_audio]
            if voice.dictionary_path is not None:
                dicts.append(Dictionary.load(voice.dictionary_path, version))
            gpt = Path(options.gpt_path) if options.gpt_path else voice.gpt_path
            sovits = Path(options.sovits_path) if options.sovits_path else voice.sovits_path
            name = voice.name
        else:
            gpt = Path(options.gpt_path) if options.gpt_path else self._pretrained("gpt_v2", "GPT")
            sovits = (
                Path(options.sovits_path)
                if options.sovits_path
                else self._pretrained("sovits_v2_g", "SoVITS")
            )
            refs = [(Path(p), options.ref_text, options.ref_lang) for p in options.ref_audio]
            name = None
        if not refs:
            raise SynthesisError(
                "A reference audio is needed: the voice to imitate (3-10 s of speech; longer files are trimmed)."
            )
        for p, _, _ in refs:
            if not p.is_file():
                raise SynthesisError(f"Reference audio {p} does not exist.")
        if options.dictionary:
            dicts.append(Dictionary.from_lines(options.dictionary, "<request>", version))
        # Global first, then the voice's, then the request's: later dictionaries win.
        return Plan(options, gpt, sovits, tuple(refs), name, (*self.global_dictionaries(version), *dicts))

    def _pretrained(self, key: str, what: str) -> Path:
        from gpt_sovits.registry.layout import how_to_get, pretrained_item

        path = self.settings.pretrained_dir / pretrained_item(key).path
        if not path.is_file():
            raise SynthesisError(
                f"No {what} model was given and the pretrained one is missing ({path}). Give a model file "
                f"or a library voice, or get the pretrained models. {how_to_get(self.settings.pretrained_dir)}"
            )
        return path

    def feature_path(self, key: str) -> Path:
        """Folder or file of a pretrained feature model (``hubert``, ``bert``, ``sv``)."""
        from gpt_sovits.registry.layout import pretrained_item

        return self.settings.pretrained_dir / pretrained_item(key).path

    def bert_features(self, segment) -> torch.Tensor:
        """``[1024, n_phones]`` BERT features of a front-end segment (zeros except for Chinese)."""
        from gpt_sovits.features import segment_bert_features
        from gpt_sovits.features.bert import BERT_LANGS

        encoder = self.registry.bert(self.feature_path("bert")) if segment.lang in BERT_LANGS else None
        with self.lock:
            feats = segment_bert_features(
                segment.lang, segment.norm_text, segment.word2ph, len(segment.phones), encoder
            )
        return feats.float().cpu()

    # ------------------------------------------------------------------ public
    def synthesize(self, options: SynthesisOptions, cancel: CancelToken | None = None) -> SynthesisResult:
        """Synthesize the whole request and return the audio with its report."""
        for chunk in self._run(options, cancel, streaming=False):
            if chunk.final:
                assert chunk.result is not None
                return chunk.result
        raise AssertionError("unreachable")

    def stream(self, options: SynthesisOptions, cancel: CancelToken | None = None) -> Iterator[AudioChunk]:
        """Yield audio as it is made: pieces of about ``stream_chunk_tokens`` codes inside each segment,
        the pauses between segments, and a last empty chunk with ``final=True`` carrying the result."""
        yield from self._run(options, cancel, streaming=True)

    def text_version(self, sovits_version: str) -> str:
        return "v1" if sovits_version == "v1" else "v2"

    # ------------------------------------------------------------------ the pipeline
    def _run(
        self, options: SynthesisOptions, cancel: CancelToken | None, streaming: bool
    ) -> Iterator[AudioChunk]:
        cancel = cancel or CancelToken()
        t0 = time.perf_counter()
        plan = self.plan(options)
        o = plan.options
        seed = o.seed if o.seed >= 0 else secrets.randbelow(2**31)
        gpt = self.registry.gpt(plan.gpt_path)
        sovits = self.registry.sovits(plan.sovits_path)
        version = self.text_version(sovits.version)
        warnings: list[str] = []

        frontend = FrontEnd(plan.dictionaries)
        text = frontend.process(o.text, TextOptions(o.text_lang, version, o.split, o.max_chars))
        warnings += text.warnings
        rows = build_rows(text, version, self.bert_features)
        t_text = time.perf_counter()
        cancel.check()

        feats, refs, ref_warnings = self.references.get(plan, sovits, version, frontend)
        warnings += ref_warnings
        t_ref = time.perf_counter()
        cancel.check()

        rate = sovits.config.sampling_rate
        pause = np.zeros(int(round(o.pause * rate)), dtype=np.float32)
        device = self.registry.device.device
        timbre = feats.timbre.to(device=device, dtype=next(sovits.module.parameters()).dtype)
        # SoVITS files with a phone aligner: length prior on the budgets, guard on the generated codes
        aligner = sovits.module if getattr(sovits.module, "has_aligner", False) else None
        pieces: list[np.ndarray] = []
        reports: list[SegmentReport] = []
        gpt_s = sovits_s = 0.0
        first_chunk: float | None = None
        position = 0
        for start in range(0, len(rows), o.batch_size):
            batch = rows[start : start + o.batch_size]
            budgets = [o.max_new_tokens or self._row_budget(aligner, r, o) for r in batch]
            vocoders = [self._vocoder(sovits, r, timbre, o, seed, b) for r, b in zip(batch, budgets)]
            guard = aligner if o.guard_retries > 0 and not streaming else None
            decoded = self._decode_batch(
                gpt, batch, budgets, feats, o, seed + start, cancel, streaming, vocoders, guard
            )
            for item in decoded:
                kind, i, payload, dt_gpt, dt_sovits = item
                gpt_s += dt_gpt
                sovits_s += dt_sovits
                if kind == "audio":
                    if first_chunk is None:
                        first_chunk = time.perf_counter() - t0
                    pieces.append(payload)
                    if streaming and len(payload):
                        # Pieces may be queued behind an earlier row: a cancel stops the next one.
                        cancel.check()
                        yield AudioChunk(payload, rate, batch[i].index)
                    continue
                codes, audio_len, outcome = payload
                row = batch[i]
                if streaming and aligner is not None and o.guard_retries > 0:
                    outcome = self._check_streamed(aligner, row, codes)
                reports.append(
                    _segment_report(row, codes, budgets[i], position / rate, audio_len / rate, outcome)
                )
                warnings += _row_warnings(reports[-1], outcome, streaming)
                position += audio_len
                if row.index != rows[-1].index and len(pause):
                    pieces.append(pause)
                    position += len(pause)
                    if streaming:
                        cancel.check()
                        yield AudioChunk(pause, rate, row.index)
                cancel.check()
        audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        total = time.perf_counter() - t0
        timings = Timings(
            t_text - t0, t_ref - t_text, gpt_s, sovits_s, total, first_chunk if streaming else None
        )
        result = SynthesisResult(audio, rate, tuple(reports), refs, seed, timings, tuple(warnings))
        yield AudioChunk(np.zeros(0, dtype=np.float32), rate, len(rows) - 1, True, result)

    def _row_budget(self, aligner, row: Row, o: SynthesisOptions) -> int:
        """Token budget of a row: from its phone count, tightened by the aligner's length prior if any."""
        if aligner is None:
            return token_budget(len(row.phones), o.speed)
        with self.lock:
            return length_budget(aligner, row.ids, o.speed)

    def _check_streamed(self, aligner, row: Row, codes: torch.Tensor) -> GuardOutcome:
        """Streaming: the audio is already out, so the guard only checks and reports (no regeneration)."""
        if not codes.numel():
            return GuardOutcome(False, 0, ("attempt 0: no tokens generated",))
        with self.lock:
            verdict = check_codes(aligner, row.ids, codes.view(-1))
        return GuardOutcome(verdict.ok, 0, tuple(f"attempt 0: {r}" for r in verdict.reasons))

    def _guarded(self, gpt, aligner, row, codes, inputs, budget, o, seed, cancel):
        """Check one row's codes with the aligner; regenerate (new seeds) up to ``o.guard_retries`` times
        while the guard flags them, keeping the least bad attempt. Returns (codes, GuardOutcome)."""
        device = self.registry.device.device
        best, best_badness, reasons = codes, float("inf"), []
        for attempt in range(o.guard_retries + 1):
            if attempt:
                cancel.check()
                gen = torch.Generator(device=device).manual_seed(
                    (seed * 1_000_003 + row.index * 7919 + attempt) % 2**63
                )
                sampler = make_sampler(o, [budget], eos=gpt.loaded.config.eos, device=device)
                codes = self._generate(gpt, *[[x] for x in inputs], sampler, gen, cancel)[0]
            if not codes.numel():
                verdict_reasons, badness = ("no tokens generated",), float("inf")
            else:
                with self.lock:
                    verdict = check_codes(aligner, row.ids, codes.view(-1))
                verdict_reasons, badness = verdict.reasons, verdict.badness
            if badness < best_badness or attempt == 0:
                best, best_badness = codes, badness
            if not verdict_reasons:
                return best, GuardOutcome(True, attempt, tuple(reasons))
            reasons += [f"attempt {attempt}: {r}" for r in verdict_reasons]
        return best, GuardOutcome(False, o.guard_retries, tuple(reasons))  # every attempt was flagged

    def _vocoder(self, sovits, row: Row, timbre, o: SynthesisOptions, seed: int, budget: int) -> RowVocoder:
        model = sovits.module
        frames = int(2 * budget / o.speed) + 4
        gen = torch.Generator().manual_seed((seed * 1_000_003 + row.index) % (2**63))
        noise = torch.randn(1, sovits.config.inter_channels, frames, generator=gen)
        device = timbre.device
        return RowVocoder(
            model,
            row.ids.view(1, -1).to(device),
            timbre,
            o.speed,
            o.noise_scale,
            noise.to(device=device, dtype=timbre.dtype),
            self.lock,
        )

    def _decode_batch(self, gpt, batch, budgets, feats, o, seed, cancel, streaming, vocoders, guard=None):
        """Yield ("audio", row, samples, gpt_s, sovits_s) pieces in row order and ("done", row, (codes,
        length, GuardOutcome | None), gpt_s, sovits_s) when a row is complete. ``guard``: a SoVITS model with
        an aligner to check (and, whole-utterance only, regenerate) each row's codes."""
        device = self.registry.device.device
        phones, bert, prompts = [], [], []
        for row in batch:
            if feats.prompt_codes is not None:
                phones.append(torch.cat([feats.prompt_phones, row.ids]).to(device))
                bert.append(torch.cat([feats.prompt_bert, row.bert], dim=1).to(device))
                prompts.append(feats.prompt_codes.to(device))
            else:
                phones.append(row.ids.to(device))
                bert.append(row.bert.to(device))
                prompts.append(None)
        sampler = make_sampler(o, budgets, eos=gpt.loaded.config.eos, device=device)
        gen = torch.Generator(device=device).manual_seed(seed)
        if not streaming:
            t = time.perf_counter()
            codes = self._generate(gpt, phones, bert, prompts, sampler, gen, cancel)
            dt = time.perf_counter() - t
            for i, (c, voc) in enumerate(zip(codes, vocoders)):
                cancel.check()
                outcome, dt_guard = None, 0.0
                if guard is not None:
                    t = time.perf_counter()
                    inputs = (phones[i], bert[i], prompts[i])
                    c, outcome = self._guarded(gpt, guard, batch[i], c, inputs, budgets[i], o, seed, cancel)
                    dt_guard = time.perf_counter() - t  # counted as GPT time: mostly regeneration
                t = time.perf_counter()
                audio = voc.decode(c) if c.numel() else np.zeros(0, dtype=np.float32)
                peak = float(np.abs(audio).max()) if len(audio) else 0.0
                if peak > 1.0:  # upstream's guard against 16-bit clipping
                    audio = audio / peak
                ds = time.perf_counter() - t
                yield ("audio", i, audio, (dt if i == 0 else 0.0) + dt_guard, ds)
                yield ("done", i, (c, len(audio), outcome), 0.0, 0.0)
            return
        yield from self._stream_batch(gpt, phones, bert, prompts, sampler, gen, o, cancel, vocoders)

    def _generate(self, gpt, phones, bert, prompts, sampler, gen, cancel: CancelToken) -> list[torch.Tensor]:
        """All rows' codes, as ``T2SDecoder.generate`` gives them, but taken in pieces: the compute lock is
        held per piece (so concurrent requests interleave instead of waiting for a whole batch) and a
        cancel takes effect within one piece."""
        it = gpt.decoder.stream(phones, bert, prompts, sampler, gen, chunk_size=GENERATE_PIECE)
        return join_stream(self._locked(it, cancel), len(phones))

    def _locked(self, chunks: Iterator, cancel: CancelToken) -> Iterator:
        """Take ``chunks`` one at a time under the compute lock, checking ``cancel`` before each."""
        while True:
            cancel.check()
            with self.lock:
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk

    def _stream_batch(self, gpt, phones, bert, prompts, sampler, gen, o, cancel, vocoders):
        streamers = [RowStreamer(v, first=o.stream_chunk_tokens) for v in vocoders]
        codes: list[list[torch.Tensor]] = [[] for _ in vocoders]
        lengths = [0] * len(vocoders)
        done = [False] * len(vocoders)
        waiting: list[list[np.ndarray]] = [[] for _ in vocoders]
        current = 0  # rows before `current` are complete and emitted
        # Tokens arrive in small steps so each row's pieces go out as soon as they are due.
        step = max(4, o.stream_chunk_tokens // 2)
        chunks = self._locked(
            gpt.decoder.stream(phones, bert, prompts, sampler, gen, chunk_size=step), cancel
        )
        while current < len(vocoders):
            t = time.perf_counter()
            chunk = next(chunks, None)
            dt_gpt = time.perf_counter() - t
            if chunk is None:
                break
            r = chunk.row
            codes[r].append(chunk.tokens)
            all_codes = torch.cat(codes[r])
            t = time.perf_counter()
            piece = None
            if all_codes.numel():
                piece = streamers[r].feed(all_codes, chunk.final)
            dt_sovits = time.perf_counter() - t
            if piece is not None:
                piece = np.clip(piece, -1.0, 1.0)
                lengths[r] += len(piece)
                waiting[r].append(piece)
            done[r] = chunk.final
            # Emit in row order: the current row as it grows, later rows once it is complete.
            while current < len(vocoders):
                for p in waiting[current]:
                    yield ("audio", current, p, dt_gpt, dt_sovits)
                    dt_gpt = dt_sovits = 0.0
                waiting[current] = []
                if not done[current]:
                    break
                yield (
                    "done",
                    current,
                    (torch.cat(codes[current]) if codes[current] else torch.zeros(0), lengths[current], None),
                    dt_gpt,
                    dt_sovits,
                )
                dt_gpt = dt_sovits = 0.0
                current += 1
