"""Reading, identifying and writing GPT-SoVITS model files, and refusing unsafe or broken ones."""

from __future__ import annotations

import io
import os
import pickle

import pytest
import torch

from gpt_sovits.models.checkpoint import CheckpointError, RawCheckpoint, read_checkpoint
from gpt_sovits.models.identify import identify
from gpt_sovits.models.saving import save_gpt_file, save_sovits_file


@pytest.fixture(scope="module")
def fixtures(compat_dir):
    return compat_dir / "fixtures"


def test_reads_official_files(fixtures):
    gpt = read_checkpoint(fixtures / "gpt_tiny_v2.ckpt")
    assert gpt.header == b"PK" and gpt.info == "GPT-e15"
    assert gpt.config["model"]["phoneme_vocab_size"] == 732
    assert all(k.startswith("model.") for k in gpt.weight)
    assert {v.dtype for v in gpt.weight.values()} == {torch.float16}

    sovits = read_checkpoint(fixtures / "sovits_tiny_v2.pth")
    # The pickled utils.HParams object arrives as plain nested dicts.
    assert type(sovits.config) is dict and type(sovits.config["model"]) is dict
    assert sovits.config["model"]["inter_channels"] == 32
    assert sovits.config["data"]["hop_length"] == 640
    assert not any("enc_q" in k for k in sovits.weight)

    pro = read_checkpoint(fixtures / "sovits_tiny_v2Pro.pth")
    assert pro.header == b"05" and pro.header_version == "v2Pro"
    assert pro.config["model"]["gin_channels"] == 64


def test_identifies_versions_from_content(fixtures):
    assert identify(read_checkpoint(fixtures / "gpt_tiny_v2.ckpt")).version == "v2"
    v2 = identify(read_checkpoint(fixtures / "sovits_tiny_v2.pth"))
    assert (v2.kind, v2.version, v2.has_posterior_encoder) == ("sovits", "v2", False)
    assert identify(read_checkpoint(fixtures / "sovits_tiny_v2Pro.pth")).version == "v2Pro"


def _raw(weight, header=b"PK", extra=None):
    return RawCheckpoint(path="x.pth", header=header, weight=weight, config={}, info=None, extra=extra or {})


def test_identify_v1_and_proplus_without_header():
    emb = {"enc_p.text_embedding.weight": torch.zeros(322, 4), "dec.conv_pre.weight": torch.zeros(8, 4, 7)}
    assert identify(_raw(emb)).version == "v1"
    gpt_v1 = {
        "model.ar_audio_embedding.word_embeddings.weight": torch.zeros(1025, 4),
        "model.ar_text_embedding.word_embeddings.weight": torch.zeros(512, 4),
    }
    assert identify(_raw(gpt_v1)).version == "v1"
    pro = {
        "enc_p.text_embedding.weight": torch.zeros(732, 4),
        "sv_emb.weight": torch.zeros(8, 20480),
        "dec.ups.0.weight_v": torch.zeros(8, 4, 20),
    }
    assert identify(_raw(pro)).version == "v2ProPlus"
    assert identify(_raw({**pro, "dec.ups.0.weight_v": torch.zeros(8, 4, 16)})).version == "v2Pro"
    # The header wins for Pro files: upstream decides them that way too.
    assert identify(_raw(pro, header=b"05")).version == "v2Pro"


def test_unsupported_and_unknown_weights_are_refused():
    with pytest.raises(CheckpointError, match="v2Pro/v2ProPlus"):
        identify(_raw({"cfm.x": torch.zeros(1), "enc_p.text_embedding.weight": torch.zeros(732, 4)}))
    with pytest.raises(CheckpointError, match="v3"):
        identify(_raw({"enc_p.text_embedding.weight": torch.zeros(732, 4)}, header=b"03"))
    with pytest.raises(CheckpointError, match="does not|knows"):
        identify(_raw({"encoder.layer.0.weight": torch.zeros(2)}))
    with pytest.raises(CheckpointError, match="322"):
        identify(_raw({"enc_p.text_embedding.weight": torch.zeros(500, 4)}))
    lying = {"enc_p.text_embedding.weight": torch.zeros(732, 4)}
    with pytest.raises(CheckpointError, match="edited or damaged"):
        identify(_raw(lying, extra={"gpt_sovits": {"kind": "sovits", "version": "v1"}}))


class _RunsOpen:
    """Unpickling this would call open(marker, "w") and create the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _RunsShell:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize("payload", [_RunsOpen, _RunsShell])
@pytest.mark.parametrize("header", [b"PK", b"05"])
def test_malicious_pickle_is_refused_and_never_executed(tmp_path, payload, header):
    marker = tmp_path / "pwned.txt"
    buffer = io.BytesIO()
    # The payload hides where a real file keeps its HParams config.
    torch.save(
        {"weight": {"enc_p.text_embedding.weight": torch.zeros(732, 2)}, "config": payload(marker)}, buffer
    )
    path = tmp_path / "voice.pth"
    path.write_bytes(header + buffer.getvalue()[2:])
    # Sanity check of the test itself: the file really would create the marker if executed.
    probe = tmp_path / "probe.txt"
    pickle.loads(pickle.dumps(payload(probe)))
    assert probe.exists()
    probe.unlink()

    with pytest.raises(CheckpointError, match="Refused to load .*arbitrary commands"):
        read_checkpoint(path)
    assert not marker.exists()


def test_hparams_class_with_foreign_global_nested_is_refused(tmp_path, fixtures):
    marker = tmp_path / "nested.txt"
    buffer = io.BytesIO()
    torch.save({"weight": {"a": torch.zeros(1)}, "config": {"model": {"x": [1, _RunsOpen(marker)]}}}, buffer)
    path = tmp_path / "nested.pth"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match="Refused"):
        read_checkpoint(path)
    assert not marker.exists()


def test_broken_files_get_clear_errors(tmp_path, fixtures):
    data = (fixtures / "sovits_tiny_v2.pth").read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        read_checkpoint(truncated)
    wav = tmp_path / "audio.pth"
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64))
    with pytest.raises(CheckpointError, match="not a GPT-SoVITS model file"):
        read_checkpoint(wav)
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty or truncated"):
        read_checkpoint(empty)
    with pytest.raises(CheckpointError, match="no such file"):
        read_checkpoint(tmp_path / "missing.ckpt")
    with pytest.raises(CheckpointError, match="folder"):
        read_checkpoint(tmp_path)
    not_model = tmp_path / "list.pth"
    torch.save([1, 2, 3], not_model)
    with pytest.raises(CheckpointError, match="not a model"):
        read_checkpoint(not_model)
    optimizer_only = tmp_path / "opt.pth"
    torch.save({"optimizer": {"lr": 1.0}, "iteration": 3}, optimizer_only)
    with pytest.raises(CheckpointError, match="not a GPT-SoVITS model"):
        read_checkpoint(optimizer_only)


def _load_like_upstream(path):
    """What upstream's load_sovits_new does: restore PK if the header is digits, then a plain torch.load."""
    data = path.read_bytes()
    if data[:2] != b"PK":
        data = b"PK" + data[2:]
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


def test_sovits_save_round_trip_and_upstream_layout(tmp_path, fixtures):
    for name, version, header in [
        ("sovits_tiny_v2.pth", "v2", b"PK"),
        ("sovits_tiny_v2Pro.pth", "v2Pro", b"05"),
    ]:
        raw = read_checkpoint(fixtures / name)
        state = {k: v.float() for k, v in raw.weight.items()}
        state["enc_q.pre.weight"] = torch.ones(3, 3)  # training-only weights are dropped on save
        out = save_sovits_file(
            tmp_path / f"mine_{version}.pth", state, raw.config, version=version, info="2epoch_8iteration"
        )
        assert out.read_bytes()[:2] == header
        back = read_checkpoint(out)
        assert back.weight.keys() == raw.weight.keys()
        assert all(torch.equal(back.weight[k], raw.weight[k]) for k in raw.weight)
        assert back.config == raw.config and back.info == "2epoch_8iteration"
        assert back.extra["gpt_sovits"]["kind"] == "sovits" and back.extra["gpt_sovits"]["version"] == version
        assert identify(back).version == version

        upstream = _load_like_upstream(out)
        hps = upstream["config"]
        hps["model"]["semantic_frame_rate"] = "25hz"  # upstream assigns into the config like this
        assert upstream["weight"]["enc_p.text_embedding.weight"].dtype == torch.float16
        assert hps["data"]["filter_length"] // 2 + 1 == 1025
        with pytest.raises(CheckpointError, match="already exists"):
            save_sovits_file(out, state, raw.config, version=version, info="x")
        assert read_checkpoint(out).info == "2epoch_8iteration"


def test_gpt_save_round_trip(tmp_path, fixtures):
    raw = read_checkpoint(fixtures / "gpt_tiny_v2.ckpt")
    state = {k.removeprefix("model."): v.float() for k, v in raw.weight.items()}
    out = save_gpt_file(tmp_path / "mine.ckpt", state, raw.config, version="v2", info="GPT-e3")
    back = read_checkpoint(out)
    assert back.weight.keys() == raw.weight.keys()
    assert all(torch.equal(back.weight[k], raw.weight[k]) for k in raw.weight)
    assert identify(back).kind == "gpt"
    upstream = torch.load(out, map_location="cpu", weights_only=True)  # upstream: torch.load(...)["config"]
    assert upstream["config"]["data"]["max_sec"] == 54
    bad = {k: v for k, v in raw.config.items() if k != "data"}
    with pytest.raises(CheckpointError, match="data.max_sec"):
        save_gpt_file(tmp_path / "bad.ckpt", state, bad, version="v2", info="x")
    assert not (tmp_path / "bad.ckpt").exists()


def test_inspect_cli(tmp_path, fixtures):
    import json
    import subprocess
    import sys

    mine = save_gpt_file(
        tmp_path / "mine.ckpt",
        {
            k.removeprefix("model."): v
            for k, v in read_checkpoint(fixtures / "gpt_tiny_v2.ckpt").weight.items()
        },
        read_checkpoint(fixtures / "gpt_tiny_v2.ckpt").config,
        version="v2",
        info="GPT-e1",
    )
    marker = tmp_path / "cli_pwned.txt"
    evil = tmp_path / "evil.pth"
    torch.save({"weight": {"a": torch.zeros(1)}, "config": _RunsShell(marker)}, evil)
    cmd = [sys.executable, "-m", "gpt_sovits.models", "inspect", "--json"]
    files = [fixtures / "sovits_tiny_v2Pro.pth", fixtures / "gpt_tiny_v2.ckpt", mine, evil]
    proc = subprocess.run(cmd + [str(f) for f in files], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2  # one file refused; the others still reported
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["kind"], r["version"]) for r in rows] == [("sovits", "v2Pro"), ("gpt", "v2"), ("gpt", "v2")]
    assert rows[0]["parameters"] == sum(t.numel() for t in read_checkpoint(files[0]).weight.values())
    assert rows[0]["config"]["model.gin_channels"] == 64
    assert rows[2]["saved_by"] == "this application" and rows[2]["metadata"]["kind"] == "gpt"
    assert "Refused to load" in proc.stderr and str(evil) in proc.stderr
    assert not marker.exists()
    text = subprocess.run(
        [*cmd[:-1], str(fixtures / "sovits_tiny_v2.pth")], capture_output=True, text=True, timeout=120
    )
    assert text.returncode == 0 and "sovits v2" in text.stdout
    count = sum(t.numel() for t in read_checkpoint(fixtures / "sovits_tiny_v2.pth").weight.values())
    assert f"{count:,}" in text.stdout


def test_identifies_speaker_encoder_and_discriminator_files(tmp_path):
    from gpt_sovits.models.sovits import MultiPeriodDiscriminator
    from gpt_sovits.models.speaker import ERes2NetV2, ERes2NetV2Config

    speaker = tmp_path / "sv.ckpt"
    torch.save(ERes2NetV2(ERes2NetV2Config(num_blocks=(1, 1, 1, 1), m_channels=8)).state_dict(), speaker)
    assert identify(read_checkpoint(speaker)).kind == "speaker_eres2netv2"
    disc = tmp_path / "D.pth"
    torch.save({"weight": MultiPeriodDiscriminator(periods=(2,)).state_dict()}, disc)
    assert identify(read_checkpoint(disc)).kind == "sovits_discriminator"
