"""Dataset lists: lossless .list reading/writing, audio edits with trash/restore, and quality flags."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from tools.lists import (
    CheckConfig,
    DatasetList,
    ListEditError,
    ListFormatError,
    check_list,
    delete_rows,
    merge_rows,
    restore_rows,
    split_row,
    trash_entries,
)
from tools.lists.__main__ import main as lists_main

SENTENCES = {
    "short": "Hello there, my friend.",
    "stella": "Please call Stella and ask her to bring these things with her from the store.",
    "museum": "The museum was closed, so we walked along the river instead.",
}

TRICKY = [
    # upper/lower/mixed language codes, Windows and relative paths, spaces kept, no final newline
    "C:\\data\\voice\\a.wav|spk|ZH|你好，世界。\nwavs/b.wav|spk|zh|再见\n/abs/c.wav|Spk 2|En|Hello there \nd.wav|s|JP|x",
    # CRLF with a blank line and a malformed line ('|' inside the text)
    "a.wav|s|EN|One.\r\n\r\nb.wav|s|EN|two | three\r\nc.wav|s|yue|嘅\r\n",
    # mixed terminators: lone CR, LF, CRLF; a trailing blank line
    "a.wav|s|ko|안녕\rb.wav|s|KO|하세요\nc.wav|s|ja|です\r\n\n",
    # fields with surrounding spaces and an empty text
    " a.wav |  s |EN|  padded  \nb.wav|s|EN|\n",
]


def upstream_rows(text: str) -> list[list[str]]:
    """How GPT-SoVITS's text preparation reads a list: universal newlines, split on '|', 4 fields only."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    return [f for f in (line.split("|") for line in lines) if len(f) == 4]


@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
@pytest.mark.parametrize("case", range(len(TRICKY)))
def test_round_trip_is_byte_identical(tmp_path, case, bom):
    data = ("\ufeff" if bom else "").encode() + TRICKY[case].encode("utf-8")
    src = tmp_path / "in.list"
    src.write_bytes(data)
    dl = DatasetList.read(src)
    assert dl.to_bytes() == data
    assert dl.save(tmp_path / "out.list").read_bytes() == data
    # Fields are exactly what GPT-SoVITS's own reading yields (independent reference above).
    assert [[r.wav_path, r.speaker, r.lang, r.text] for r in dl.rows] == upstream_rows(TRICKY[case])
    assert dl.bom == bom


def test_parse_details_and_problems():
    dl = DatasetList.from_bytes(TRICKY[1].encode())
    assert [r.lang for r in dl.rows] == ["EN", "yue"] and [r.language for r in dl.rows] == ["en", "yue"]
    ((line_no, problem),) = dl.problems  # the blank line is not a problem, the 5-field line is
    assert line_no == 3 and "5 fields" in problem
    win = DatasetList.from_bytes(TRICKY[0].encode())
    assert [r.basename for r in win.rows] == ["a.wav", "b.wav", "c.wav", "d.wav"]
    assert win.rows[2].language == "en" and win.rows[3].language == "ja"


def test_edit_changes_only_that_line_and_validates(tmp_path):
    src = tmp_path / "x.list"
    src.write_bytes(TRICKY[1].encode())
    dl = DatasetList.read(src)
    dl.edit(1, text="新文本", lang="ZH", speaker="Bob")
    dl.save()
    assert src.read_bytes() == TRICKY[1].replace("c.wav|s|yue|嘅", "c.wav|Bob|ZH|新文本").encode()
    with pytest.raises(ListFormatError, match=r"'\|'"):
        dl.edit(0, text="a | b")
    with pytest.raises(ListFormatError, match="line"):
        dl.edit(0, text="two\nlines")
    with pytest.raises(ListFormatError, match="Unknown language"):
        dl.edit(0, lang="english")
    with pytest.raises(ListFormatError, match="UTF-8"):
        DatasetList.from_bytes("a.wav|s|ZH|你好".encode("gbk"))
    # Appending to a file without final newline keeps that style and terminates the old last line.
    dl2 = DatasetList.from_bytes(b"a.wav|s|EN|A")
    dl2.append("b.wav", "s", "EN", "B")
    assert dl2.to_bytes() == b"a.wav|s|EN|A\nb.wav|s|EN|B"


def test_relative_paths_resolve_against_list_folder(tmp_path, monkeypatch):
    (tmp_path / "data" / "wavs").mkdir(parents=True)
    (tmp_path / "data" / "wavs" / "b.wav").write_bytes(b"x")
    (tmp_path / "data" / "a.wav").write_bytes(b"x")
    src = tmp_path / "data" / "l.list"
    src.write_text(
        "wavs/b.wav|s|EN|B\nwavs\\b.wav|s|EN|B\nC:\\old\\place\\a.wav|s|EN|A\nmissing.wav|s|EN|M\n"
    )
    monkeypatch.chdir(tmp_path)  # the current folder must not matter
    dl = DatasetList.read("data/l.list")
    folder = (tmp_path / "data").resolve()
    assert dl.resolve(0) == folder / "wavs" / "b.wav" == dl.resolve(1)
    assert dl.resolve(2) == folder / "a.wav"  # moved from Windows: found by name next to the list
    assert dl.resolve(3) == folder / "missing.wav"
    assert (
        DatasetList.read(src, audio_dir=tmp_path / "elsewhere").resolve(0) == tmp_path / "elsewhere" / "b.wav"
    )


@pytest.fixture(scope="module")
def voice(speak):
    return {name: speak(text) for name, text in SENTENCES.items()}


@pytest.fixture
def dataset(tmp_path, voice):
    """A list with relative paths to three real clips (16-bit WAV at 22050 Hz)."""
    (tmp_path / "wavs").mkdir()
    lines = []
    for name, (audio, sr) in voice.items():
        sf.write(tmp_path / "wavs" / f"{name}.wav", audio, sr, subtype="PCM_16")
        lines.append(f"wavs/{name}.wav|joe|EN|{SENTENCES[name]}")
    src = tmp_path / "voice.list"
    src.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return src


def pcm(path) -> np.ndarray:
    return sf.read(path, dtype="int16")[0]


def test_merge_concatenates_audio_and_joins_text(dataset):
    wavs = dataset.parent / "wavs"
    originals = {p.name: pcm(p) for p in wavs.glob("*.wav")}
    (wavs / "short_merged.wav").write_bytes(b"do not touch")  # an existing file must not be overwritten
    dl = DatasetList.read(dataset)
    with pytest.raises(ListEditError, match="adjacent"):
        merge_rows(dl, [0, 2])
    merged = merge_rows(dl, [0, 1], gap_s=0.25)
    assert merged.wav_path == "wavs/short_merged_2.wav" and merged.lang == "EN" and merged.eol == "\r\n"
    assert merged.text == SENTENCES["short"] + " " + SENTENCES["stella"]
    gap = np.zeros(round(0.25 * 22050), dtype=np.int16)
    expected = np.concatenate([originals["short.wav"], gap, originals["stella.wav"]])
    assert np.array_equal(pcm(wavs / "short_merged_2.wav"), expected)
    assert (wavs / "short_merged.wav").read_bytes() == b"do not touch"
    assert not (wavs / "short.wav").exists() and {e.reason for e in trash_entries(dl)} == {"merged"}
    assert (
        DatasetList.read(dataset).to_bytes()
        == (
            f"wavs/short_merged_2.wav|joe|EN|{merged.text}\r\nwavs/museum.wav|joe|EN|{SENTENCES['museum']}\r\n"
        ).encode()
    )
    with pytest.raises(ListEditError, match="at least two"):
        merge_rows(DatasetList.read(dataset), [0])


def test_split_cuts_at_time_point(dataset):
    wavs = dataset.parent / "wavs"
    original = pcm(wavs / "stella.wav")
    dl = DatasetList.read(dataset)
    first, second = split_row(dl, 1, 1.5, ("Please call Stella", "and ask her to bring these things."))
    cut = round(1.5 * 22050)
    assert np.array_equal(pcm(wavs / "stella_part1.wav"), original[:cut])
    assert np.array_equal(pcm(wavs / "stella_part2.wav"), original[cut:])
    rows = DatasetList.read(dataset).rows
    assert [r.wav_path for r in rows] == [
        "wavs/short.wav",
        "wavs/stella_part1.wav",
        "wavs/stella_part2.wav",
    ] + ["wavs/museum.wav"]
    assert rows[2].text == second.text and first.speaker == "joe"
    with pytest.raises(ListEditError, match="inside the clip"):
        split_row(dl, 0, 99.0, ("a", "b"))
    with pytest.raises(ListFormatError):
        split_row(dl, 0, 0.5, ("a|b", "c"))


def test_delete_and_restore_round_trip(dataset):
    before = dataset.read_bytes()
    clip = dataset.parent / "wavs" / "stella.wav"
    clip_bytes = clip.read_bytes()
    dl = DatasetList.read(dataset)
    (entry,) = delete_rows(dl, [1])
    assert not clip.exists() and (dataset.parent / "trash" / entry.file).read_bytes() == clip_bytes
    assert len(DatasetList.read(dataset)) == 2
    clip.write_bytes(b"in the way")
    with pytest.raises(ListEditError, match="already exists"):
        restore_rows(dl, [entry.id])
    clip.unlink()
    (row,) = restore_rows(DatasetList.read(dataset), [entry.id])
    assert row.text == SENTENCES["stella"]
    assert dataset.read_bytes() == before and clip.read_bytes() == clip_bytes
    assert trash_entries(DatasetList.read(dataset)) == []


def test_restore_after_moving_the_dataset(dataset, tmp_path_factory):
    dl = DatasetList.read(dataset)
    (entry,) = delete_rows(dl, [0])
    assert entry.original == "wavs/short.wav"  # recorded relative to the list's folder
    moved = tmp_path_factory.mktemp("moved") / "voice"
    shutil.copytree(dataset.parent, moved)
    restore_rows(DatasetList.read(moved / "voice.list"))
    assert (moved / "wavs" / "short.wav").is_file() and not (dataset.parent / "wavs" / "short.wav").exists()
    assert DatasetList.read(moved / "voice.list")[0].wav_path == "wavs/short.wav"


def _write(path, audio, sr):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, sr, subtype="PCM_16")
    return path


def test_check_flags_real_and_synthetic_clips(tmp_path, voice):
    rng = np.random.default_rng(0)
    stella, sr = voice["stella"]
    short, _ = voice["short"]
    clips = {
        "ok.wav": stella,
        "short.wav": short,
        "long.wav": np.tile(stella, 3),  # ~11 s of real speech
        "silence.wav": (rng.standard_normal(3 * sr) * 1e-4).astype(np.float32),
        "clipped.wav": np.clip(stella * 4.0, -1.0, 1.0),
        "tiny.wav": stella[sr : sr + sr // 2],  # half a second from mid-sentence
    }
    for name, audio in clips.items():
        _write(tmp_path / name, audio, sr)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF0000WAVEjunk" * 10)
    _write(tmp_path / "other" / "ok.wav", stella, sr)  # same basename as ok.wav
    names = [*clips, "corrupt.wav", "gone.wav", "other/ok.wav"]
    (tmp_path / "d.list").write_text(
        "".join(f"{n}|s|EN|{'' if n == 'tiny.wav' else 'text'}\n" for n in names) + "x.wav|s|XX|text\n"
    )
    manifest = tmp_path / "asr.jsonl"
    manifest.write_text(
        json.dumps({"path": str(tmp_path / "short.wav"), "confidence": 0.1})
        + "\n"
        + json.dumps({"path": str(tmp_path / "long.wav"), "confidence": 0.9})
        + "\n"
    )
    report = check_list(DatasetList.read(tmp_path / "d.list"), manifest=manifest)
    flags = {r.wav_path: set(r.flags) for r in report.rows}
    assert flags["ok.wav"] == {"duplicate_name"}
    assert flags["short.wav"] == {"too_short", "low_asr_confidence"}
    assert flags["long.wav"] == {"too_long"}
    assert {"silence", "no_speech"} <= flags["silence.wav"] and "clipping" not in flags["silence.wav"]
    assert "clipping" in flags["clipped.wav"] and "no_speech" not in flags["clipped.wav"]
    assert flags["tiny.wav"] == {"too_short", "unusable_length", "empty_text"}
    assert flags["corrupt.wav"] == {"unreadable"} and flags["gone.wav"] == {"missing"}
    assert flags["x.wav"] == {"unknown_language", "missing"}
    assert report.duplicates == {"ok.wav": [0, 8]}
    by_name = {r.wav_path: r for r in report.rows}
    assert by_name["ok.wav"].duration_s == pytest.approx(len(stella) / sr)
    ref_rms = 20 * np.log10(np.sqrt(np.mean(pcm(tmp_path / "ok.wav").astype(np.float64) ** 2)) / 32768)
    assert by_name["ok.wav"].rms_dbfs == pytest.approx(ref_rms, abs=1e-3)
    assert 0.5 * by_name["ok.wav"].duration_s < by_name["ok.wav"].speech_s <= by_name["ok.wav"].duration_s
    assert by_name["short.wav"].confidence == 0.1
    # Without VAD the no_speech flag cannot appear; thresholds are configurable.
    fast = check_list(DatasetList.read(tmp_path / "d.list"), CheckConfig(vad=False, min_s=1.0))
    assert not any("no_speech" in r.flags for r in fast.rows)
    assert "too_short" not in {f for r in fast.rows if r.wav_path == "short.wav" for f in r.flags}


def test_cli_check_delete_restore(dataset, capsys):
    before = dataset.read_bytes()
    assert lists_main(["check", str(dataset), "--json", "--no-vad"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["wav_path"] for r in out["rows"]] == ["wavs/short.wav", "wavs/stella.wav", "wavs/museum.wav"]
    assert out["rows"][0]["flags"] == ["too_short"]
    assert lists_main(["check", str(dataset), "--no-vad", "--strict"]) == 2
    assert lists_main(["delete", str(dataset), "2"]) == 0
    assert len(DatasetList.read(dataset)) == 2
    assert lists_main(["restore", str(dataset), "--show"]) == 0
    assert "(deleted, row 2): wavs/stella.wav|joe|EN|" in capsys.readouterr().out
    assert lists_main(["restore", str(dataset), "--all"]) == 0
    assert dataset.read_bytes() == before
    assert lists_main(["edit", str(dataset), "1", "--text", "Hi | there"]) == 1
    assert "cannot hold" in capsys.readouterr().err
    assert lists_main(["merge", str(dataset), "2", "3", "--joiner", " / "]) == 0
    assert DatasetList.read(dataset)[1].text == SENTENCES["stella"] + " / " + SENTENCES["museum"]


def test_clipped_samples_counts_flat_runs_only():
    from tools.lists.check import clipped_samples

    x = np.array([0.1, 1.0, 0.2, -1.0, -1.0, -1.0, 0.3, 0.9995, 0.9995, 1.0, 0.5], dtype=np.float32)
    # isolated peak at 1 is not clipping; the run of three -1.0 and the pair 0.9995 are
    assert clipped_samples(x) == 5
    tone = np.sin(2 * np.pi * 100 * np.arange(22050) / 22050).astype(np.float32)  # smooth peaks near 1
    assert clipped_samples(tone) == 0
