"""``python -m gpt_sovits batch jobs.jsonl --out-dir DIR``: many syntheses, resumable.

One JSON object per line::

    {"text": "Hello.", "voice": "Ann", "out": "hello.wav", "seed": 1}
    {"text": "Hi.", "gpt": "a.ckpt", "sovits": "a.pth", "ref": "ref.wav", "ref_text": "...", "options": {"speed": 1.1}}

Keys: ``text`` (required), a voice (``voice``) or files (``gpt``, ``sovits``, ``ref`` (a path or a list),
``ref_text``, ``ref_lang``), ``out`` (file name inside DIR; default ``<line>.wav``), and any
:class:`~gpt_sovits.inference.SynthesisOptions` field, at the top level or under ``options``. Relative
paths are relative to the jobs file. A failing line is reported and the others go on; ``DIR/batch.jsonl``
records each finished job with a fingerprint of its line, so a second run skips what is done.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from dataclasses import fields
from pathlib import Path

from gpt_sovits.cli.common import add_engine_arguments, build_engine
from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.inference.options import SynthesisOptions
from gpt_sovits.settings import Settings

log = logging.getLogger(__name__)

RECORD = "batch.jsonl"
OPTION_FIELDS = {f.name for f in fields(SynthesisOptions)} - {
    "text",
    "voice",
    "gpt_path",
    "sovits_path",
    "ref_audio",
    "ref_text",
    "ref_lang",
}
FILE_KEYS = {"text", "voice", "gpt", "sovits", "ref", "ref_text", "ref_lang", "out", "options"}


class JobError(GPTSoVITSError):
    """One line of a jobs file that cannot run as written."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("jobs", type=Path, help="JSON Lines file, one job per line")
    parser.add_argument(
        "--out-dir", type=Path, required=True, help="folder for the audio files and batch.jsonl"
    )
    parser.add_argument(
        "--redo", action="store_true", help="run finished jobs again (new files get a suffix)"
    )
    add_engine_arguments(parser)


def fingerprint(line: str) -> str:
    return hashlib.sha256(line.strip().encode("utf-8")).hexdigest()[:16]


def parse_job(line: str, number: int, base: Path, out_dir: Path) -> tuple[SynthesisOptions, Path]:
    """Options and output path of one line (raises :class:`JobError` with what is wrong)."""
    try:
        job = json.loads(line)
    except json.JSONDecodeError as exc:
        raise JobError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(job, dict):
        raise JobError("a job must be a JSON object")
    opts = dict(job.get("options") or {})
    for key, value in job.items():
        if key in OPTION_FIELDS:
            opts[key] = value
        elif key not in FILE_KEYS:
            raise JobError(f"unknown key {key!r}; known: {', '.join(sorted(FILE_KEYS | OPTION_FIELDS))}")
    unknown = set(opts) - OPTION_FIELDS
    if unknown:
        raise JobError(f"unknown option(s) {', '.join(sorted(unknown))}")
    if isinstance(opts.get("dictionary"), list):
        opts["dictionary"] = tuple(opts["dictionary"])
    text = job.get("text")
    if not isinstance(text, str) or not text.strip():
        raise JobError("'text' is missing or empty")

    def path(key: str) -> Path | None:
        value = job.get(key)
        return None if value is None else (base / value if not Path(value).is_absolute() else Path(value))

    refs = job.get("ref") or []
    refs = [refs] if isinstance(refs, str) else list(refs)
    name = str(job.get("out") or f"{number:04d}.wav")
    out = (out_dir / name).resolve()
    if not out.is_relative_to(out_dir.resolve()) or out.suffix.lower() not in (".wav", ".flac"):
        raise JobError(f"'out' must be a .wav or .flac name inside the output folder, got {name!r}")
    if not job.get("voice") and not refs:
        raise JobError("give 'voice', or 'ref' (with 'gpt'/'sovits' or the pretrained models)")
    try:
        options = SynthesisOptions(
            text=text,
            voice=job.get("voice"),
            gpt_path=path("gpt"),
            sovits_path=path("sovits"),
            ref_audio=tuple(base / r if not Path(r).is_absolute() else Path(r) for r in refs),
            ref_text=job.get("ref_text"),
            ref_lang=job.get("ref_lang", "auto"),
            **opts,
        )
    except TypeError as exc:
        raise JobError(str(exc)) from None
    return options, out


def finished_jobs(out_dir: Path) -> dict[str, str]:
    """Fingerprint -> output file of the jobs recorded as done whose file still exists."""
    done: dict[str, str] = {}
    record = out_dir / RECORD
    if record.is_file():
        for line in record.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash: that job simply runs again
            if item.get("status") == "ok" and (out_dir / item.get("out", "")).is_file():
                done[item["fingerprint"]] = item["out"]
    return done


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gpt_sovits.audio import save_audio

    try:
        lines = args.jobs.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise JobError(f"Cannot read the jobs file {args.jobs}: {exc}") from None
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    done = {} if args.redo else finished_jobs(out_dir)
    engine = None
    counts = {"ok": 0, "skipped": 0, "failed": 0}
    with (out_dir / RECORD).open("a", encoding="utf-8") as record:
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fp = fingerprint(line)
            if fp in done:
                counts["skipped"] += 1
                log.info("line %d: done before (%s), skipped", number, done[fp])
                continue
            entry = {"line": number, "fingerprint": fp}
            try:
                options, out = parse_job(line, number, args.jobs.parent, out_dir)
                if out.exists():
                    raise JobError(f"{out.name} exists and was not made by this job; choose another 'out'")
                engine = engine or build_engine(settings, args.device, args.precision)
                result = engine.synthesize(options)
                save_audio(out, result.audio, result.sample_rate)
                entry.update(
                    status="ok",
                    out=str(out.relative_to(out_dir.resolve())),
                    seed=result.seed,
                    duration_s=round(result.duration, 3),
                    warnings=list(result.warnings),
                )
                counts["ok"] += 1
                log.info("line %d: %s (%.2f s)", number, out.name, result.duration)
            except GPTSoVITSError as exc:
                entry.update(status="failed", error=str(exc))
                counts["failed"] += 1
                log.error("line %d failed: %s", number, exc)
            record.write(json.dumps(entry, ensure_ascii=False) + "\n")
            record.flush()
    sys.stdout.write(f"{counts['ok']} done, {counts['skipped']} skipped, {counts['failed']} failed\n")
    return 1 if counts["failed"] else 0
