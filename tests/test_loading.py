"""load_* functions: file -> ready model, parity through the loader, save -> load round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpt_sovits.models.checkpoint import CheckpointError, read_checkpoint
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
