"""Data tab: recording -> separation -> slicing -> ASR as jobs, the proofreading table and its edits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

gr = pytest.importorskip("gradio")

from ui_helpers import elem_ids, served_config  # noqa: E402

from gpt_sovits.jobs import parse_event  # noqa: E402
from gpt_sovits.settings import load_settings  # noqa: E402
from gpt_sovits.ui import data_jobs as dj  # noqa: E402
from gpt_sovits.ui import data_tab as dt  # noqa: E402
from gpt_sovits.ui import proofread as pr  # noqa: E402
from gpt_sovits.ui.common import readable  # noqa: E402
from gpt_sovits.ui.context import AppContext  # noqa: E402
from gpt_sovits.ui.i18n import I18n  # noqa: E402
from tools.asr.wer import word_error_rate  # noqa: E402
from tools.lists import DatasetList, trash_entries  # noqa: E402

SENTENCES = (
    "Good morning, and welcome to the weekly planning meeting.",
    "The train to the coast leaves at half past nine every Saturday.",
    "Could you please close the window before the rain comes in?",
    "Please remember to water the plants while we are away.",
    "Thank you very much for your patience.",
)
PAUSE_S = 0.8
# Shorter clips than the 4 s default, so the five sentences give several rows to edit.
SLICE_SETTINGS = (-34.0, 2000, 20000, 300, 500)
T = I18n("en_US")


def _recording(speak, path: Path) -> Path:
    """About 20 s: the sentences with 0.8 s of silence after each (and a little before the first)."""
    parts = []
    for text in SENTENCES:
        audio, rate = speak(text)
        parts += [audio, np.zeros(int(PAUSE_S * rate), np.float32)]
    sf.write(path, np.concatenate([np.zeros(int(0.4 * rate), np.float32), *parts]), rate, subtype="PCM_16")
    return path


def _run(ctx: AppContext, started: tuple[str, str, str], timeout: float = 240.0):
    job_id, bar, message = started
    assert 'class="job-progress"' in bar and "started" in message
    job = ctx.jobs.get(job_id)
    status = job.wait(timeout)
    assert status.status == "done", (status.message, status.log_tail[-10:])
    return job, status


@pytest.fixture(scope="module")
def data(tmp_path_factory, speak):
    """A context with the dataset "my_voice" uploaded, separated, sliced and transcribed by the tab's jobs."""
    home = tmp_path_factory.mktemp("home")
    ctx = AppContext.create(load_settings({"GPT_SOVITS_HOME": str(home)}), "cpu")
    rec = _recording(speak, home / "meeting.wav")
    message, summary, cleared = dt.upload_recordings(ctx, T, "my_voice", [str(rec)])
    dataset = ctx.dataset_dir("my_voice")
    assert cleared is None and (dataset / "raw" / "meeting.wav").is_file() and "1 recordings" in summary
    jobs = {}
    jobs["separate"] = _run(ctx, dt.start_separation(ctx, T, "my_voice"))
    jobs["slice"] = _run(ctx, dt.start_slicing(ctx, T, "my_voice", "vad", *SLICE_SETTINGS))
    ticked = dt.tick(ctx, T, jobs["slice"][0].id, "", "", "all", "my_voice")
    assert "Slicing finished" in ticked[7] and ticked[3] == jobs["slice"][0].id
    jobs["asr"] = _run(ctx, dt.start_asr(ctx, T, "my_voice", "auto"))
    return ctx, dataset, jobs


def _events(job) -> list[dict]:
    lines = (job.folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [parse_event(line) for line in lines]


def test_jobs_report_progress_and_make_a_list(data):
    ctx, dataset, jobs = data
    for kind, (job, status) in jobs.items():
        events = _events(job)
        assert all(e is not None and e["kind"] == dj.job_kind(status.name) == kind for e in events), kind
        assert events[0]["event"] == "start" and events[-1]["event"] == "done", kind
        steps = [e["step"] for e in events if e["event"] == "progress"]
        assert steps and steps == sorted(steps) and status.progress == 1.0, kind
    # No UVR5 model in this home: separation fell back to noise reduction and the tab says so.
    assert "noise reduction" in _events(jobs["separate"][0])[0]["message"]
    sep_msg = dj.finished_message(T, *jobs["separate"])
    assert "Note:" in sep_msg and "NOT removed" in sep_msg
    assert dj.voice_track(dataset, dataset / "raw" / "meeting.wav").name == "meeting_denoised.wav"
    # Slicing took the voice track, not the raw recording.
    manifest = [json.loads(x) for x in (dataset / "clips" / "manifest.jsonl").read_text().splitlines()]
    assert {Path(e["source"]).name for e in manifest} == {"meeting_denoised.wav"}
    assert len(manifest) >= 3
    # The timer tick after ASR opens the new list and fills the table with Whisper's text.
    bar, log, job_id, handled, lists, table, shown, message, _ = dt.tick(
        ctx, T, jobs["asr"][0].id, "", "", "all", "my_voice"
    )
    list_path = dataset / "my_voice.list"
    assert 'data-status="done"' in bar and handled == job_id == jobs["asr"][0].id
    assert lists["value"] == str(list_path) and str(list_path) in lists["choices"]
    assert shown == list(range(1, len(manifest) + 1)) and "ASR finished" in message
    assert all(r[5] == "my_voice" and r[4] == "EN" and r[6].startswith("meeting_denoised_") for r in table)
    assert word_error_rate([" ".join(SENTENCES)], [" ".join(r[3] for r in table)]) < 0.15
    # A page's first tick (job id None) follows the newest data job: a reloaded page shows the last job.
    assert dt.tick(ctx, T, None, "", "", "all", "my_voice")[2] == jobs["asr"][0].id
    # A second tick of the same finished job changes nothing.
    assert dt.tick(ctx, T, job_id, handled, str(list_path), "all", "my_voice")[5] == gr.skip()
    # Nothing is left to do twice: separation and slicing refuse with a readable message.
    with pytest.raises(gr.Error, match="already sliced"):
        readable(T)(dt.start_slicing)(ctx, T, "my_voice", "vad")
    with pytest.raises(gr.Error, match="already has a voice track"):
        readable(T)(dt.start_separation)(ctx, T, "my_voice")


def test_table_edits_keep_the_list_lossless(data):
    ctx, dataset, _ = data
    path = str(dataset / "my_voice.list")
    original = DatasetList.read(path)
    n = len(original)
    cells, shown, _ = dt.load_table(ctx, T, path, "all")
    # Selecting the second displayed row loads it into the editor.
    number, clip, text, lang, speaker, cut, note = dt.select_row(ctx, T, path, shown, 1)
    assert number == 2 and Path(clip) == original.resolve(1).resolve() and text == original[1].text
    assert lang["value"] == "EN" and speaker == "my_voice" and note == ""
    assert cut == pytest.approx(cells[1][2] / 2, abs=0.01)
    # Save: only that line changes, byte for byte.
    dt.apply_edit(ctx, T, "save", path, "all", 2, "An edited sentence.", "EN", "my_voice", None)
    after = DatasetList.read(path)
    assert after[1].text == "An edited sentence."
    assert [r.line for i, r in enumerate(after.rows) if i != 1] == [
        r.line for i, r in enumerate(original.rows) if i != 1
    ]
    # Merge rows 1 and 2: one clip, both texts, the originals in trash/.
    first_clip = original.resolve(0)
    _, shown, message, row = dt.apply_edit(ctx, T, "merge", path, "all", 1, "", "EN", "", None)
    merged = DatasetList.read(path)
    assert len(merged) == n - 1 and row is None and "merged" in message
    assert merged[0].text == f"{original[0].text} An edited sentence."
    assert not first_clip.exists() and merged.resolve(0).name.endswith("_merged.wav")
    assert {e.reason for e in trash_entries(merged)} == {"merged"}
    # Split it again at the first clip's length: the editor text's line break says where the text goes.
    at = sf.info(str(dataset / "trash" / first_clip.name)).duration
    dt.apply_edit(ctx, T, "split", path, "all", 1, f"{original[0].text}\nAn edited sentence.", "EN", "", at)
    split = DatasetList.read(path)
    assert len(split) == n and [split[0].text, split[1].text] == [original[0].text, "An edited sentence."]
    assert sf.info(str(split.resolve(0))).duration == pytest.approx(at, abs=1e-3)
    # Delete row 3, then undo: the same line at the same place, its clip back where it was.
    before = split.to_bytes()
    third = split.resolve(2)
    dt.apply_edit(ctx, T, "delete", path, "all", 3, "", "", "", None)
    assert len(DatasetList.read(path)) == n - 1 and not third.exists()
    assert (dataset / "trash" / third.name).is_file()
    _, _, message, _ = dt.apply_edit(ctx, T, "undo", path, "all", None, "", "", "", None)
    assert "1 row(s) restored" in message
    assert DatasetList.read(path).to_bytes() == before and third.is_file()
    # Nothing left to undo, and rows outside the list are refused readably.
    with pytest.raises(gr.Error, match="Nothing to undo"):
        readable(T)(dt.apply_edit)(ctx, T, "undo", path, "all", None, "", "", "", None)
    with pytest.raises(gr.Error, match="no next row"):
        readable(T)(dt.apply_edit)(ctx, T, "merge", path, "all", n, "", "EN", "", None)
    with pytest.raises(gr.Error, match="inside the clip"):
        readable(T)(dt.apply_edit)(ctx, T, "split", path, "all", 1, "a b", "EN", "", 99.0)


def test_split_text_rule():
    assert pr.split_text("one two three four", 0.5) == ("one two", "three four")
    assert pr.split_text("one two three four", 0.9) == ("one two three", "four")
    assert pr.split_text("first part\nsecond part", 0.9) == ("first part", "second part")
    assert pr.split_text("今日はいい天気", 3 / 7) == ("今日は", "いい天気")
    with pytest.raises(ValueError, match="line break"):
        pr.split_text("x", 0.5)


def test_check_and_qa_flags_show_and_filter(data, tmp_path):
    ctx, dataset, _ = data
    path = dataset / "my_voice.list"
    dl = DatasetList.read(path)
    # A silent clip added by hand: the Check button flags silence and no speech, the header its length.
    sf.write(dataset / "clips" / "silent.wav", np.zeros(16000, np.float32), 16000)
    dl.append("clips/silent.wav", "my_voice", "EN", "nothing here")
    dl.save()
    calls = []
    cells, shown, message = dt.check_rows(ctx, T, str(path), "all", lambda f, desc: calls.append(f))
    assert calls[-1] == 1.0 and "Checked" in message
    silent = cells[shown.index(len(dl))]
    assert silent[1] == "too_short, silence, no_speech" and silent[2] == 1.0
    signal_flags = {"silence", "no_speech", "clipping", "unreadable"}  # piper speech has none of these
    assert not any(signal_flags & set(c[1].split(", ")) for c in cells[:-1]), cells
    # Alignment QA of an experiment prepared from this list flags row 2; another list's experiment is ignored.
    target = dl.resolve(1)
    for exp, source in (("alice", str(path)), ("other", str(tmp_path / "x.list"))):
        folder = ctx.settings.logs_dir / exp
        folder.mkdir()
        (folder / "manifest.json").write_text(json.dumps({"name": exp, "source_list": source}))
        rows = [
            {"id": "a", "audio": str(target), "text": "t", "score": -9.0, "duration_error": 0.1, "flagged": True,
             "durations": [1, 2], "reasons": ["the audio fits the transcript poorly (score -9.000, median -1.0)"]},
            {"id": "b", "audio": str(dl.resolve(0)), "text": "t", "score": -1.0, "duration_error": 0.1,
             "flagged": exp == "other", "durations": [1], "reasons": ["unusual phone durations (error 9)"]},
            # A reason in words the table does not know: its recorded kind decides the flag.
            {"id": "c", "audio": str(dl.resolve(2)), "text": "t", "score": -1.0, "duration_error": 0.1,
             "flagged": exp == "alice", "durations": [1], "reasons": ["Dauer ungewöhnlich"], "kinds": ["durations"]},
        ]  # fmt: skip
        (folder / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cells, shown, _ = dt.load_table(ctx, T, str(path), "all")
    qa = [[f for f in c[1].split(", ") if f.startswith("qa:")] for c in cells]
    assert qa[1] == ["qa:poor_fit"] and qa[2] == ["qa:durations"] and not any(qa[:1] + qa[3:])
    assert dt.load_table(ctx, T, str(path), "qa")[1] == [2, 3]
    assert dt.load_table(ctx, T, str(path), "qa:poor_fit")[1] == [2]
    assert dt.load_table(ctx, T, str(path), "qa:durations")[1] == [3]
    assert dt.load_table(ctx, T, str(path), "no_speech")[1] == [len(dl)]
    assert dt.load_table(ctx, T, str(path), "flagged")[1] == [c[0] for c in cells if c[1]]
    note = dt.select_row(ctx, T, str(path), [2], 0)[-1]
    assert note.startswith("Alignment QA:") and "fits the transcript poorly" in note
    # Every filter value has a label in the dropdown.
    assert set(pr.filter_values()) == set(dt.FILTER_KEYS)


def test_tool_clis_speak_the_job_protocol(data, tmp_path, capsys):
    from tools.asr.__main__ import main as asr_main
    from tools.separate.__main__ import main as separate_main
    from tools.slicer.__main__ import main as slicer_main

    _, dataset, _ = data
    raw = dataset / "raw" / "meeting.wav"
    assert slicer_main([str(raw), "--out", str(tmp_path / "clips"), "--progress", "json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    events = [e for e in map(parse_event, lines) if e is not None]
    assert [e["event"] for e in events][0] == "start" and events[-1]["event"] == "done"
    assert events[-1]["clips"] >= 2 and {e["kind"] for e in events} == {"slice"}
    assert any("clips," in line for line in lines if parse_event(line) is None)  # the human summary stays
    # Errors: an event with a readable message, then a non-zero exit.
    assert asr_main([str(tmp_path / "clips"), "--out", str(tmp_path / "a.list"), "--model", str(tmp_path),
                     "--progress", "json"]) == 1  # fmt: skip
    (error,) = [
        e for e in map(parse_event, capsys.readouterr().out.splitlines()) if e and e["event"] == "error"
    ]
    assert error["kind"] == "asr" and "CTranslate2" in error["message"]
    separate = [str(tmp_path / "none.wav"), "-o", str(tmp_path / "v"), "--models-dir", str(tmp_path)]
    assert separate_main([*separate, "--progress", "json"]) == 2
    events = [e for e in map(parse_event, capsys.readouterr().out.splitlines()) if e]
    assert (
        events[0]["event"] == "start"
        and events[-1]["event"] == "error"
        and "none.wav" in events[-1]["message"]
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        slicer_main([str(tmp_path / "empty"), "--out", str(tmp_path / "c2"), "--progress", "json"])
    events = [e for e in map(parse_event, capsys.readouterr().out.splitlines()) if e]
    assert events == [{"event": "error", "kind": "slice", "message": events[0]["message"]}]


def test_uploads_never_overwrite_and_bad_inputs_are_readable(data, tmp_path):
    ctx, _, _ = data
    one = tmp_path / "take.wav"
    sf.write(one, np.zeros(1600, np.float32), 16000)
    (tmp_path / "notes.txt").write_text("x")
    message, _, _ = dt.upload_recordings(ctx, T, "second", [str(one), str(one), str(tmp_path / "notes.txt")])
    raw = ctx.dataset_dir("second") / "raw"
    assert sorted(p.name for p in raw.iterdir()) == ["take.wav", "take_2.wav"] and "notes.txt" in message
    wrapped = readable(T)
    with pytest.raises(gr.Error, match="not a usable dataset name"):
        wrapped(dt.upload_recordings)(ctx, T, "../x", [str(one)])
    with pytest.raises(gr.Error, match="not a usable dataset name"):
        wrapped(dt.start_slicing)(ctx, T, "../x", "vad")
    assert not (ctx.settings.logs_dir / "webui" / "x").exists()
    with pytest.raises(gr.Error, match="There is no list"):
        wrapped(dt.load_table)(ctx, T, str(tmp_path / "missing.list"), "all")
    with pytest.raises(gr.Error, match="Choose a .list"):
        wrapped(dt.load_table)(ctx, T, "", "all")
    with pytest.raises(gr.Error, match="no clips to transcribe"):
        wrapped(dt.start_asr)(ctx, T, "second", "auto")
    with pytest.raises(gr.Error, match="Select a row"):
        wrapped(dt.apply_edit)(ctx, T, "delete", str(ctx.dataset_lists()[0]), "all", None, "", "", "", None)


def test_tab_launches_with_its_elem_ids(data):
    ctx, _, _ = data
    with gr.Blocks() as app:
        with gr.Tab("x") as tab:
            dt.build(ctx, T, tab)
    config = served_config(app)
    ids = elem_ids(config)
    wanted = (
        "name upload separate slice slice-mode asr asr-lang progress log table list open row clip text lang"
    )
    wanted += " speaker save merge split-at split delete undo check filter"
    assert {f"data-{w}" for w in wanted.split()} <= ids
    lists = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "data-list")
    assert [str(p) for p in ctx.dataset_lists()] == [c[1] for c in lists["props"]["choices"]]
