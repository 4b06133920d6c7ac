"""The data tools chained as a user runs them: a long recording -> slicer clips -> ASR .list -> checks."""

from __future__ import annotations

import pytest
from speech_corpus import make_recording

from tools.asr import transcribe_clips, word_error_rate
from tools.lists import DatasetList, check_list
from tools.slicer import SliceOptions, slice_file


@pytest.mark.parametrize("mode", ["rms", "vad"])
def test_recording_to_labelled_list(tmp_path, speak, mode):
    rec = make_recording(speak)
    source = rec.write(tmp_path / "interview.wav")
    clips = slice_file(source, tmp_path / "clips", SliceOptions(mode=mode))
    assert len(clips) >= 4

    result = transcribe_clips(
        tmp_path / "clips" / "manifest.jsonl", tmp_path / "interview.list", speaker="joe"
    )
    assert not result.failed and len(result.transcribed) == len(clips)

    dataset = DatasetList.read(tmp_path / "interview.list")
    assert len(dataset.rows) == len(clips)
    by_path = {str(dataset.resolve(row)): row.text for row in dataset.rows}
    # Clips in time order, their transcripts joined, against the sentences that generated the speech.
    hypothesis = " ".join(by_path[str(c.path)] for c in sorted(clips, key=lambda c: c.start))
    wer = word_error_rate([" ".join(rec.texts)], [hypothesis])
    assert wer <= 0.15, (wer, hypothesis)
    assert {row.speaker for row in dataset.rows} == {"joe"} and {row.lang for row in dataset.rows} == {"EN"}

    report = check_list(dataset)
    assert not report.duplicates
    flagged = {flag for row in report.rows for flag in row.flags}
    assert not flagged & {"missing", "unreadable", "silence", "no_speech", "empty_text"}, flagged
