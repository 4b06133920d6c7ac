"""Dataset formatting (`prepare`) on a real one-minute dataset made with the data tools."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from gpt_sovits.training.experiment import Experiment, ExperimentError
from gpt_sovits.training.prepare import PrepareError, PrepareOptions, prepare


@pytest.fixture(scope="module")
def tiny_exp(tiny_experiment):
    return tiny_experiment


def test_prepares_a_one_minute_dataset(tiny_exp):
    exp = Experiment(tiny_exp.settings.logs_dir, tiny_exp.exp_name)
    manifest = exp.read_manifest()
    items = exp.items()
    assert manifest.items == len(items) >= 6 and manifest.failed == 0
    assert manifest.base_version == "v2" and manifest.base_sovits == str(tiny_exp.home.sovits)
    assert 45 <= tiny_exp.seconds <= 80, tiny_exp.seconds
    for rec in items:
        feats = exp.load_features(rec)
        # 50 Hz content frames, 25 Hz codes, 32 kHz audio: the three clocks agree with the clip length.
        assert abs(feats.ssl.shape[-1] - rec.seconds * 50) <= 2
        assert feats.codes.shape[-1] == feats.ssl.shape[-1] // 2 == rec.n_codes
        assert len(feats.wav) == round(rec.seconds * 32000)
        assert feats.bert.shape == (1024, len(rec.phones)) and feats.phones.tolist() == list(rec.phones)
        assert 0.3 < float(feats.wav.abs().max()) <= 1.0
        assert feats.sv is None  # v2 has no speaker-verification vector
    # More words -> more phones: the phones follow the (ASR) transcripts.
    words = np.array([len(r.text.split()) for r in items])
    phones = np.array([len(r.phones) for r in items])
    assert np.corrcoef(words, phones)[0, 1] > 0.9


def test_rerun_reuses_and_bad_rows_are_reported(tiny_exp, tmp_path):
    settings = tiny_exp.settings
    rows = tiny_exp.list_path.read_text(encoding="utf-8").splitlines()
    clip = rows[0].split("|")[0]
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(32000, np.float32), 32000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00not audio at all")
    extra = [
        f"{silent}|joe|EN|This clip is silent.",
        f"{corrupt}|joe|EN|This file is not audio.",
        f"{tmp_path / 'missing.wav'}|joe|EN|This file does not exist.",
        f"{clip}|joe|XX|An unknown language code.",
        f"{clip}|joe|EN|",
    ]
    listing = tmp_path / "more.list"
    listing.write_text("\n".join(rows + extra) + "\n", encoding="utf-8")
    exp_dir = settings.logs_dir / tiny_exp.exp_name
    copy = settings.logs_dir / "joe-copy"
    shutil.copytree(exp_dir, copy)
    before = {p.name: p.stat().st_mtime_ns for p in (copy / "items").iterdir()}
    result = prepare(settings, PrepareOptions(listing, "joe-copy", device="cpu"))
    assert result.reused == len(rows) and result.prepared == 0
    reasons = {f["audio"]: f["reason"] for f in result.failed}
    assert len(reasons) == 4 + 1 or len(result.failed) == 5
    assert "silent" in reasons[str(silent)]
    assert str(corrupt) in reasons and str(tmp_path / "missing.wav") in reasons
    assert any("unknown language" in f["reason"] for f in result.failed)
    assert any("empty text" in f["reason"] for f in result.failed)
    # Nothing already prepared was written again.
    after = {p.name: p.stat().st_mtime_ns for p in (copy / "items").iterdir()}
    assert after == before
    lines = (copy / "failed.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and all(json.loads(x)["reason"] for x in lines)


def test_interrupted_run_resumes(tiny_exp, tmp_path):
    settings = tiny_exp.settings
    calls = []

    def stop_after_two(done, total, clip):
        calls.append(done)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare(settings, PrepareOptions(tiny_exp.list_path, "resumed", device="cpu"), stop_after_two)
    exp = Experiment(settings.logs_dir, "resumed")
    assert len(exp.items()) == 2
    # A torn last line (a crash while writing) is ignored and that clip is prepared again.
    with exp.items_path.open("a", encoding="utf-8") as f:
        f.write('{"id": "half a line')
    result = prepare(settings, PrepareOptions(tiny_exp.list_path, "resumed", device="cpu"))
    assert result.reused == 2 and result.prepared == len(exp.items()) - 2
    full = Experiment(settings.logs_dir, tiny_exp.exp_name)
    assert [r.id for r in exp.items()] == [r.id for r in full.items()]
    a, b = exp.load_features(exp.items()[3]), full.load_features(full.items()[3])
    assert torch.equal(a.codes, b.codes) and torch.equal(a.phones, b.phones)


def test_refuses_unsafe_names_missing_models_and_another_base(tiny_exp, tmp_path):
    settings = tiny_exp.settings
    for name in ("../escape", "a/b", "", ".."):
        with pytest.raises(ExperimentError, match="not a usable experiment name"):
            prepare(settings, PrepareOptions(tiny_exp.list_path, name, device="cpu"))
    for name in ("jobs", "WebUI"):  # logs/ folders of the job manager and the WebUI
        with pytest.raises(ExperimentError, match="folder the app keeps"):
            prepare(settings, PrepareOptions(tiny_exp.list_path, name, device="cpu"))
    with pytest.raises(PrepareError, match="models download"):
        prepare(settings, PrepareOptions(tiny_exp.list_path, "x", gpt=tmp_path / "none.ckpt", device="cpu"))
    other = tmp_path / "other_s2G.pth"
    shutil.copy(tiny_exp.home.sovits, other)
    with pytest.raises(PrepareError, match="new --exp name"):
        prepare(settings, PrepareOptions(tiny_exp.list_path, tiny_exp.exp_name, sovits=other, device="cpu"))
    with pytest.raises(ExperimentError, match="run `python -m gpt_sovits.training prepare"):
        Experiment(settings.logs_dir, "never-prepared").read_manifest()
