"""Pronunciation tools of the Synthesize tab: phoneme mode, the preview table, and the dictionary editor that
saves one entry to a voice's dictionary or to the global one (gradio is imported only by the handlers at the
end).

The preview applies the same dictionaries synthesis does (global ones, then the chosen voice's), so a saved
entry shows up in the table as ``dict:<file>:<line>`` and synthesis reads it the same way: the engine reads
the global dictionaries again when their files change and a voice's dictionary on every request.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError, TextError
from gpt_sovits.text import Dictionary, FrontEnd, TextOptions
from gpt_sovits.voices.atomic import atomic_write_text
from gpt_sovits.voices.model import dictionary_version

log = logging.getLogger(__name__)

TARGET_VOICE = "voice"
TARGET_GLOBAL = "global"
# Characters that would break the inline ``{...}`` group phoneme mode wraps each line in.
_TAG_CHARS = set("{}<>|")
# One process-wide lock: two pages saving to the global dictionary at once must not lose a line.
_GLOBAL_LOCK = threading.Lock()


def phoneme_text(text: str) -> str:
    """The text of phoneme mode: each non-empty line of phones becomes one inline ``{...}`` group.

    Groups are joined with ``.`` (which adds no phone between groups), so the split method decides how
    lines form segments: ``cut0`` keeps all lines in one segment, ``cut4``/``cut5`` give one per line,
    ``cut1`` groups four lines. The front end checks every phone against the model's inventory and names
    an unknown one.
    """
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    for n, line in enumerate(lines, 1):
        bad = sorted(set(line) & _TAG_CHARS)
        if bad:
            raise TextError(
                f"Phoneme mode, line {n}: remove {' '.join(bad)}. Write only phones separated by spaces, "
                "e.g. 'n i3 h ao3' or 'HH AH0 L OW1'; or turn phoneme mode off to mix text with {phones} or "
                "<word|pronunciation> tags."
            )
    return ".".join("{" + line + "}" for line in lines)


def request_text(text: str, phoneme_mode: bool) -> str:
    """What the front end reads for the text box: the text itself, or its phoneme-mode form."""
    return phoneme_text(text) if phoneme_mode else text


def dictionaries_for(engine, voice_name: str | None) -> tuple[tuple[Dictionary, ...], str]:
    """The dictionaries synthesis applies for ``voice_name`` (global, then the voice's) and the phone-set
    version they were parsed for."""
    version = "v2"
    voice_dicts: list[Dictionary] = []
    if voice_name:
        voice = engine.voices.get(voice_name)
        version = dictionary_version(voice.version)
        if voice.dictionary_path is not None:
            voice_dicts.append(Dictionary.load(voice.dictionary_path, version))
    return (*engine.global_dictionaries(version), *voice_dicts), version


def preview_table(
    engine,
    text: str,
    lang_mode: str,
    split: str,
    phoneme_mode: bool = False,
    voice_name: str | None = None,
    request_dicts: tuple[Dictionary, ...] = (),
) -> tuple[list[list], tuple[str, ...]]:
    """Rows ``[sentence, token, language, phones, rule]`` of the preview, and the front end's warnings."""
    dicts, version = dictionaries_for(engine, voice_name)
    front = FrontEnd(dicts)
    result = front.process(
        request_text(text, phoneme_mode), TextOptions(lang_mode, version, split), request_dicts
    )
    rows = [[r.sentence, r.surface, r.lang, r.phones, r.rule] for r in result.preview()]
    return rows, result.warnings


@dataclass(frozen=True)
class SavedEntry:
    """Where a dictionary entry went: the JSON line, its file and 1-based line number, and how it reads."""

    line: str
    path: Path
    lineno: int
    kind: str  # "pinyin", "phones" or "text"


def entry_line(surface: str, phones: str, version: str = "v2") -> tuple[str, str]:
    """The JSONL line for ``surface`` read as ``phones`` and what kind of entry it is, after parsing it with
    :class:`Dictionary` (a bad pinyin syllable or unknown phone raises :class:`TextError` that names it)."""
    surface, phones = (surface or "").strip(), " ".join((phones or "").split())
    if not surface:
        raise TextError("Type the word whose pronunciation to set (e.g. 银行 or tomato).")
    if not phones:
        raise TextError(
            "Type its pronunciation: pinyin with tones ('yin2 hang2'), ARPAbet with stress "
            "('T AH0 M AA1 T OW2') or the text to read instead."
        )
    line = json.dumps({surface: phones}, ensure_ascii=False)
    parsed = Dictionary.from_lines([line], "entry", version)
    if parsed.issues:
        raise TextError(f"The entry was not saved: {parsed.issues[0].message}")
    entry = next(iter(parsed.entries.values()))
    kind = "pinyin" if entry.pinyin is not None else "phones" if entry.phones is not None else "text"
    return line, kind


def _append_global(path: Path, line: str) -> int:
    """Append ``line`` to the global dictionary file (atomically rewritten); its 1-based line number."""
    with _GLOBAL_LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.read_text(encoding="utf-8-sig") if path.is_file() else ""
        lines = old.splitlines()
        lines.append(line)
        atomic_write_text(path, "\n".join(lines) + "\n")
        return len(lines)


def save_entry(
    engine, settings, surface: str, phones: str, target: str, voice_name: str | None
) -> SavedEntry:
    """Validate and save one entry to the chosen voice's dictionary (created and recorded in its voice.json
    when it has none) or to ``settings.user_dictionary``."""
    if target == TARGET_VOICE:
        if not voice_name:
            raise ValueError(
                "Choose a library voice to save to its dictionary, or save to the global dictionary."
            )
        voice = engine.voices.get(voice_name)
        line, kind = entry_line(surface, phones, dictionary_version(voice.version))
        updated = engine.voices.update(voice.name, add_dictionary_entry=line)
        assert updated.dictionary_path is not None
        lineno = len(updated.dictionary_path.read_text(encoding="utf-8-sig").splitlines())
        log.info("Dictionary entry %s saved to voice %r", line, voice.name)
        return SavedEntry(line, updated.dictionary_path, lineno, kind)
    if target != TARGET_GLOBAL:
        raise ValueError(f"Unknown dictionary target {target!r}: use {TARGET_VOICE!r} or {TARGET_GLOBAL!r}.")
    line, kind = entry_line(surface, phones, "v2")
    path = Path(settings.user_dictionary)
    lineno = _append_global(path, line)
    log.info("Dictionary entry %s saved to %s:%d", line, path, lineno)
    return SavedEntry(line, path, lineno, kind)


# ---------------------------------------------------------------------------------------------- handlers
# Gradio handlers of the pronunciation part of the Synthesize tab (bound by synthesize_tab.build).
KIND_KEYS = {
    "pinyin": "synth.dict_kind.pinyin",
    "phones": "synth.dict_kind.phones",
    "text": "synth.dict_kind.text",
}


def preview_rows(text: str, lang_mode: str, split: str, dict_file: str | None, front: FrontEnd) -> list[list]:
    """Rows of the preview table for ``front`` plus an optional request dictionary file, or a readable
    gradio error (for callers that have a front end but no app context)."""
    import gradio as gr

    try:
        dicts = [Dictionary.load(Path(dict_file))] if dict_file else []
        result = front.process(text, TextOptions(lang_mode=lang_mode, split=split), dicts)
    except GPTSoVITSError as exc:
        raise gr.Error(str(exc)) from None
    for w in result.warnings:
        gr.Warning(w)
    return [[r.sentence, r.surface, r.lang, r.phones, r.rule] for r in result.preview()]


def preview(
    ctx, t, text: str, lang_mode: str, split: str, phoneme_mode: bool, voice: str | None
) -> list[list]:
    """``#synth-preview-table`` rows with the dictionaries synthesis uses (global, then the voice's)."""
    import gradio as gr

    rows, warnings = preview_table(ctx.engine, text, lang_mode, split, bool(phoneme_mode), voice or None)
    for w in warnings:
        gr.Warning(w)
    return rows


def save_dictionary(ctx, t, surface, phones, target, voice, text, lang_mode, split, phoneme_mode):
    """``#synth-dict-save``: validate and save one entry, then preview the text again (so the new rule shows).
    Returns (message, preview rows)."""
    import gradio as gr

    if target == TARGET_VOICE and not voice:
        raise gr.Error(t("synth.error.no_voice_dict"))
    saved = save_entry(ctx.engine, ctx.settings, surface, phones, target, voice or None)
    kind = t(KIND_KEYS[saved.kind])
    message = t("synth.dict_saved", entry=saved.line, file=str(saved.path), line=str(saved.lineno), kind=kind)
    has_text = bool((text or "").strip())
    rows = preview(ctx, t, text, lang_mode, split, phoneme_mode, voice) if has_text else gr.update()
    return message, rows
