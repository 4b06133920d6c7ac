"""load_* functions: file -> ready model, parity through the loader, save -> load round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpt_sovits.models.checkpoint import CheckpointError, read_checkpoint
from gpt_sovits.models.identify import identify
from gpt_sovits.models.loading import load_sovits
from gpt_sovits.models.saving import save_sovits_file


@pytest.fixture(scope="module")
def parity(compat_dir):
    return {k: torch.from_numpy(v) for k, v in np.load(compat_dir / "fixtures" / "parity_io.npz").items()}


def _decode(model, parity, version):
    sv = {"sv_emb": [parity["v2Pro_sv_emb"]]} if version == "v2Pro" else {}
    with torch.no_grad():
        codes = model.extract_latent(parity["ssl"])
        wav = model.decode(codes, parity["text_ids"], [parity["ref_spec"]], noise_scale=0.0, **sv)
    return codes, wav


@pytest.mark.parametrize("version", ["v2", "v2Pro"])
def test_load_sovits_reproduces_reference_and_survives_our_save(tmp_path, compat_dir, parity, version):
    path = compat_dir / "fixtures" / f"sovits_tiny_{version}.pth"
    loaded = load_sovits(path)
    assert loaded.version == version and loaded.info == "8epoch_96iteration"
    codes, wav = _decode(loaded.module, parity, version)
    assert torch.equal(codes, parity[f"{version}_codes"])
    assert (wav - parity[f"{version}_decode_wav"]).abs().max() < 1e-4

    # Save in the official layout (as fine-tuning will), load back, same numbers.
    raw = read_checkpoint(path)
    mine = save_sovits_file(
        tmp_path / "mine.pth", raw.weight, raw.config, version=version, info="1epoch_1iteration"
    )
    again = load_sovits(mine)
    codes2, wav2 = _decode(again.module, parity, version)
    assert torch.equal(codes2, codes) and torch.equal(wav2, wav)


def test_load_sovits_refuses_wrong_kind_and_damaged_weights(tmp_path, compat_dir):
    with pytest.raises(CheckpointError, match="SoVITS .* was expected"):
        load_sovits(compat_dir / "fixtures" / "gpt_tiny_v2.ckpt")
    raw = read_checkpoint(compat_dir / "fixtures" / "sovits_tiny_v2.pth")
    cut = dict(raw.weight)
    cut.pop("dec.conv_post.weight")
    cut["enc_p.proj.weight"] = cut["enc_p.proj.weight"][:, :5]
    broken = save_sovits_file(tmp_path / "broken.pth", cut, raw.config, version="v2", info="x")
    with pytest.raises(CheckpointError, match="1 shape mismatches, 1 missing"):
        load_sovits(broken)
    with pytest.raises(CheckpointError, match="posterior encoder"):
        load_sovits(compat_dir / "fixtures" / "sovits_tiny_v2.pth", for_training=True)


def test_unknown_extra_weights_are_ignored(tmp_path, compat_dir, parity):
    raw = read_checkpoint(compat_dir / "fixtures" / "sovits_tiny_v2.pth")
    extra = {**raw.weight, "mas_prior.proj.weight": torch.zeros(4, 4)}  # e.g. weights under our own prefix
    path = save_sovits_file(tmp_path / "extra.pth", extra, raw.config, version="v2", info="x")
    _, wav = _decode(load_sovits(path).module, parity, "v2")
    assert (wav - parity["v2_decode_wav"]).abs().max() < 1e-4


def test_cpu_bf16_decoder_stays_close(compat_dir, parity):
    loaded = load_sovits(compat_dir / "fixtures" / "sovits_tiny_v2.pth", dtype=torch.bfloat16)
    _, wav = _decode(loaded.module, parity, "v2")
    ref = parity["v2_decode_wav"]
    snr = 10 * torch.log10(ref.pow(2).sum() / (wav.float() - ref).pow(2).sum())
    assert snr > 20, snr


def _manifest(compat_dir, kind):
    import json

    return json.loads((compat_dir / "state_dict_manifests.json").read_text())[kind]


def test_load_gpt_parity_and_save_round_trip(tmp_path, compat_dir, parity):
    from gpt_sovits.models.loading import load_gpt
    from gpt_sovits.models.saving import save_gpt_file

    loaded = load_gpt(compat_dir / "fixtures" / "gpt_tiny_v2.ckpt")
    with torch.no_grad():
        logits = loaded.module.teacher_logits(parity["gpt_x"], parity["gpt_bert"], parity["gpt_prompt"])
    assert (logits - parity["gpt_teacher_logits"]).abs().max() < 1e-4

    out = save_gpt_file(
        tmp_path / "mine.ckpt", loaded.module.state_dict(), loaded.raw_config, version="v2", info="GPT-e1"
    )
    again = load_gpt(out)
    with torch.no_grad():
        logits2 = again.module.teacher_logits(parity["gpt_x"], parity["gpt_bert"], parity["gpt_prompt"])
    # The fixture weights are fp16 already, so saving them as fp16 changes nothing.
    assert torch.equal(logits2, logits)
    with pytest.raises(CheckpointError, match="GPT .* was expected"):
        load_gpt(compat_dir / "fixtures" / "sovits_tiny_v2.pth")


def _assert_layout(path, manifest, drop=""):
    raw = read_checkpoint(path)
    expected = {k: v["shape"] for k, v in manifest.items() if not (drop and drop in k)}
    assert {k: list(v.shape) for k, v in raw.weight.items()} == expected
    assert {v.dtype for v in raw.weight.values()} == {torch.float16}


def test_full_size_files_we_save_have_the_official_layout(tmp_path, compat_dir):
    """Our saver on full-size models gives exactly upstream's keys and shapes (enc_q dropped for SoVITS)."""
    from gpt_sovits.models.saving import save_gpt_file
    from gpt_sovits.models.sovits import SoVITSConfig, SoVITSSynthesizer
    from gpt_sovits.models.t2s import T2SConfig, Text2SemanticModel

    torch.manual_seed(0)
    gpt_model = {
        "embedding_dim": 512,
        "hidden_dim": 512,
        "head": 16,
        "n_layer": 24,
        "vocab_size": 1025,
        "phoneme_vocab_size": 732,
        "EOS": 1024,
        "dropout": 0,
        "linear_units": 2048,
    }
    gpt_config = {"model": gpt_model, "data": {"max_sec": 54}}
    gpt = Text2SemanticModel(T2SConfig.from_official(gpt_config))
    path = save_gpt_file(tmp_path / "full.ckpt", gpt.state_dict(), gpt_config, version="v2", info="GPT-e1")
    _assert_layout(path, _manifest(compat_dir, "gpt_v2"))
    del gpt

    for version in ("v2", "v2Pro"):
        config = SoVITSConfig.preset(version)
        model = SoVITSSynthesizer(config, with_posterior=True)
        hps = {
            "data": {
                "filter_length": 2048,
                "hop_length": 640,
                "win_length": 2048,
                "sampling_rate": 32000,
                "n_speakers": 300,
            },
            "train": {"segment_size": 20480},
            "model": {
                "inter_channels": 192,
                "hidden_channels": 192,
                "upsample_rates": [10, 8, 2, 2, 2],
                "gin_channels": config.gin_channels,
                "version": version,
            },
        }
        out = save_sovits_file(
            tmp_path / f"{version}.pth", model.state_dict(), hps, version=version, info="x"
        )
        _assert_layout(out, _manifest(compat_dir, f"sovits_{version}_generator"), drop="enc_q")
        assert identify(read_checkpoint(out)).version == version
