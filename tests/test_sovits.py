"""Tests for gpt_sovits.models.sovits: fixture parity, official key layout, training pass, fast paths."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from gpt_sovits.models.checkpoint import read_checkpoint
from gpt_sovits.models.sovits import (
    MultiPeriodDiscriminator,
    SoVITSConfig,
    SoVITSError,
    SoVITSSynthesizer,
    fold_weight_norm,
)
from gpt_sovits.models.sovits.attentions import MultiHeadAttention
from gpt_sovits.models.sovits.layers import WNConv1d, WNConvTranspose1d

VERSIONS = ("v1", "v2", "v2Pro", "v2ProPlus")


def tiny_config(version: str = "v2", **overrides) -> SoVITSConfig:
    """A few-thousand-parameter SoVITS (hop 16) that keeps the official spectrogram size (1025 bins)."""
    values = dict(
        version=version,
        inter_channels=8,
        hidden_channels=16,
        filter_channels=32,
        n_heads=2,
        n_layers=2,
        resblock_kernel_sizes=(3, 5),
        resblock_dilation_sizes=((1, 3), (1, 3)),
        upsample_rates=(4, 4),
        upsample_initial_channel=16,
        upsample_kernel_sizes=(8, 8),
        gin_channels=12 if version in ("v2Pro", "v2ProPlus") else 512,  # v1/v2 feed ge to MRTE's 512 channels
        hop_length=16,
        segment_size=8,
        posterior_layers=2,
        flow_layers=2,
    )
    values.update(overrides)
    return SoVITSConfig(**values)


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Perturb the default initialisation: random weight-norm magnitudes (so folding changes the numbers),
    random biases/norm parameters and a random content codebook."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):
                p.mul_(1 + 0.3 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith(("post.weight", "emb_rel_k", "emb_rel_v")) or p.abs().max() == 0:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))  # upstream zero-inits the coupling outputs
        for name, b in model.named_buffers():
            if name.endswith("embed"):
                b.copy_(torch.randn(b.shape, generator=gen))
    return model


def tiny_model(version: str = "v2", seed: int = 0, **overrides) -> SoVITSSynthesizer:
    torch.manual_seed(seed)
    return randomize(SoVITSSynthesizer(tiny_config(version, **overrides)), seed).eval()


def inputs(cfg: SoVITSConfig, n_codes: int = 6, n_phones: int = 7, ref_frames: int = 11, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, cfg.codebook_size, (1, 1, n_codes), generator=gen)
    phones = torch.randint(0, cfg.spec.n_symbols, (1, n_phones), generator=gen)
    ref = torch.rand(1, cfg.spec_channels, ref_frames, generator=gen) * 3
    sv = torch.randn(1, 20480, generator=gen) if cfg.spec.uses_sv else None
    return codes, phones, ref, sv


# ----------------------------------------------------------------------------------------------- parity
@pytest.fixture(scope="module")
def parity(compat_dir):
    data = np.load(compat_dir / "fixtures" / "parity_io.npz")
    return {k: torch.from_numpy(data[k]) for k in data.files}


def load_fixture_model(compat_dir, version: str) -> SoVITSSynthesizer:
    raw = read_checkpoint(compat_dir / "fixtures" / f"sovits_tiny_{version}.pth")
    config = SoVITSConfig.from_hparams(raw.config)
    assert config.version == version
    model = SoVITSSynthesizer(config, with_posterior=False)
    model.load_state_dict({k: v.float() for k, v in raw.weight.items()}, strict=True)
    return model.eval()


@pytest.mark.parametrize("version", ["v2", "v2Pro"])
@pytest.mark.parametrize("prepared", [False, True], ids=["weight-norm", "prepared"])
def test_fixture_parity(compat_dir, parity, version, prepared):
    model = load_fixture_model(compat_dir, version)
    if prepared:
        model.prepare_for_inference()
    codes = model.extract_latent(parity["ssl"])
    assert torch.equal(codes, parity[f"{version}_codes"])
    ref = parity["ref_spec"]
    sv = parity["v2Pro_sv_emb"] if version == "v2Pro" else None
    cases = {
        "": ([ref], 1.0),
        "_speed1.25": ([ref], 1.25),
        "_2refs": ([ref, ref[..., :60]], 1.0),
    }
    for suffix, (refs, speed) in cases.items():
        svs = [sv] * len(refs) if sv is not None else None
        wav = model.decode(codes, parity["text_ids"], refs, speed=speed, noise_scale=0.0, sv_emb=svs)
        expected = parity[f"{version}_decode_wav{suffix}"]
        assert wav.shape == expected.shape, suffix
        assert (wav - expected).abs().max().item() < 1e-4, suffix


def test_fixture_config(compat_dir):
    raw = read_checkpoint(compat_dir / "fixtures" / "sovits_tiny_v2.pth")
    cfg = SoVITSConfig.from_hparams(raw.config)
    assert (cfg.version, cfg.inter_channels, cfg.hidden_channels, cfg.filter_channels) == ("v2", 32, 192, 256)
    assert cfg.resblock_kernel_sizes == (3,) and cfg.resblock_dilation_sizes == ((1, 3, 5),)
    assert cfg.segment_size == 20480 // 640 and cfg.spec_channels == 1025 and cfg.ref_channels == 704
    assert cfg.upsample_factor == cfg.hop_length == 640
    assert SoVITSConfig.from_hparams(raw.config, version="v1").ref_channels == 1025


# ----------------------------------------------------------------------------------------------- layout
@pytest.fixture(scope="module")
def manifests(compat_dir):
    return json.loads((compat_dir / "state_dict_manifests.json").read_text())


def _layout(module: torch.nn.Module) -> dict[str, tuple[list[int], str]]:
    return {k: (list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("version", VERSIONS)
def test_full_size_generator_matches_manifest(manifests, version):
    with torch.device("meta"):
        model = SoVITSSynthesizer(SoVITSConfig.preset(version))
    expected = {k: (v["shape"], v["dtype"]) for k, v in manifests[f"sovits_{version}_generator"].items()}
    assert _layout(model) == expected


def test_discriminators_match_manifest(manifests):
    with torch.device("meta"):
        disc = MultiPeriodDiscriminator.for_config(SoVITSConfig.preset("v2"))
        pro = MultiPeriodDiscriminator.for_config(SoVITSConfig.preset("v2ProPlus"))
    expected = {k: (v["shape"], v["dtype"]) for k, v in manifests["sovits_v2_discriminator"].items()}
    assert _layout(disc) == expected
    # v2Pro/v2ProPlus: the same six discriminators plus periods 17 and 23
    assert [d.period for d in pro.discriminators[1:]] == [2, 3, 5, 7, 11, 17, 23]
    pro_layout = _layout(pro)
    assert {k: v for k, v in pro_layout.items() if int(k.split(".")[1]) < 6} == expected
    assert len(pro_layout) == len(expected) + 2 * 18


def test_presets_follow_official_configs():
    assert SoVITSConfig.preset("v2").gin_channels == 512
    pro, plus = SoVITSConfig.preset("v2Pro"), SoVITSConfig.preset("v2ProPlus")
    assert pro.gin_channels == plus.gin_channels == 1024
    assert (plus.upsample_initial_channel, plus.upsample_kernel_sizes[0]) == (768, 20)
    with pytest.raises(SoVITSError, match="Unsupported SoVITS version"):
        SoVITSConfig.preset("v4")


# ----------------------------------------------------------------------------------------------- pieces
def _naive_relative_attention(attn: MultiHeadAttention, x: torch.Tensor) -> torch.Tensor:
    """Loop-by-loop relative-position self-attention (no masks), to check the vectorised band logic."""
    b, c, length = x.shape
    h, d, w = attn.n_heads, attn.k_channels, attn.window_size
    q = attn.conv_q(x).view(b, h, d, length) / math.sqrt(d)
    k = attn.conv_k(x).view(b, h, d, length)
    v = attn.conv_v(x).view(b, h, d, length)
    out = torch.zeros(b, h, d, length)
    for bi in range(b):
        for hi in range(h):
            scores = torch.zeros(length, length)
            for i in range(length):
                for j in range(length):
                    s = q[bi, hi, :, i] @ k[bi, hi, :, j]
                    if abs(j - i) <= w:
                        s = s + q[bi, hi, :, i] @ attn.emb_rel_k[0, j - i + w]
                    scores[i, j] = s
            p = torch.softmax(scores, dim=-1)
            for i in range(length):
                acc = torch.zeros(d)
                for j in range(length):
                    acc = acc + p[i, j] * v[bi, hi, :, j]
                    if abs(j - i) <= w:
                        acc = acc + p[i, j] * attn.emb_rel_v[0, j - i + w]
                out[bi, hi, :, i] = acc
    return attn.conv_o(out.reshape(b, c, length))


@pytest.mark.parametrize("length", [3, 12])  # shorter and longer than the window (4)
def test_relative_attention_matches_loops(length):
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 8, 2, window_size=4).eval()
    x = torch.randn(2, 8, length)
    with torch.no_grad():
        fast = attn(x, x, torch.ones(2, 1, length, length))
        slow = _naive_relative_attention(attn, x)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_weight_norm_layout_and_fold():
    torch.manual_seed(0)
    conv = randomize(WNConv1d(4, 6, 3, padding=1))
    assert list(conv.state_dict()) == ["bias", "weight_g", "weight_v"]
    v, g = conv.weight_v.detach(), conv.weight_g.detach()
    expected = g * v / v.flatten(1).norm(dim=1).view(-1, 1, 1)
    torch.testing.assert_close(conv.effective_weight(), expected)
    x = torch.randn(2, 4, 9)
    before = conv(x)
    fold_weight_norm(conv)
    assert list(conv.state_dict()) == ["bias", "weight"]
    torch.testing.assert_close(conv(x), before, atol=1e-6, rtol=1e-6)
    up = WNConvTranspose1d(6, 3, 4, 2, padding=1)
    assert up.weight_g.shape == (6, 1, 1)  # upstream normalises transposed kernels per input channel


# ----------------------------------------------------------------------------------------------- inference
@pytest.mark.parametrize("version", VERSIONS)
def test_prepared_decode_equals_weight_norm_decode(version):
    model = tiny_model(version)
    codes, phones, ref, sv = inputs(model.config)
    refs = [ref, ref[..., :5]]
    svs = [sv, sv * 0.5] if sv is not None else None
    gen = torch.Generator()
    plain = model.decode(codes, phones, refs, noise_scale=0.7, sv_emb=svs, generator=gen.manual_seed(3))
    folded = copy.deepcopy(model).prepare_for_inference(channels_last=False, tile_frames=None)
    fast = copy.deepcopy(model).prepare_for_inference()
    tiled = copy.deepcopy(model).prepare_for_inference(tile_frames=2)  # 12 frames -> 6 tiles
    assert not hasattr(fast, "enc_q") and not any(k.endswith("weight_g") for k in fast.state_dict())
    for other in (folded, fast, tiled):
        out = other.decode(codes, phones, refs, noise_scale=0.7, sv_emb=svs, generator=gen.manual_seed(3))
        torch.testing.assert_close(out, plain, atol=1e-5, rtol=0)
    # the bf16 decoder is an approximation: same shape and dtype, close in signal-to-error terms
    bf16 = copy.deepcopy(model).prepare_for_inference(decoder_dtype=torch.bfloat16)
    out = bf16.decode(codes, phones, refs, noise_scale=0.7, sv_emb=svs, generator=gen.manual_seed(3))
    assert out.dtype == torch.float32
    snr = 10 * torch.log10(plain.pow(2).mean() / (out - plain).pow(2).mean())
    assert snr > 20


def test_tiled_decoder_needs_its_halo():
    """Tiles are exact only because each one sees the receptive field around it: without the halo they differ."""
    model = tiny_model("v2").prepare_for_inference(tile_frames=3)
    dec = model.dec
    assert dec.tile_halo == 7  # (4, 4) upsampling, kernels 8, resblocks (3, 5) x dilations (1, 3)
    z = torch.randn(1, model.config.inter_channels, 13)
    g = torch.randn(1, model.config.gin_channels, 1)
    with torch.no_grad():
        tiled = dec(z, g)
        dec.tile_frames = None
        whole = dec(z, g)
        dec.tile_frames, dec.tile_halo = 3, 0
        seams = dec(z, g)
    assert tiled.shape == whole.shape == (1, 1, 13 * 16)
    torch.testing.assert_close(tiled, whole, atol=1e-6, rtol=0)
    assert (seams - whole).abs().max() > 1e-4


def test_timbre_is_mean_over_references_and_can_be_cached():
    model = tiny_model("v2Pro")
    codes, phones, ref, sv = inputs(model.config)
    refs, svs = [ref, ref[..., :4] * 2], [sv, -sv]
    ge = model.encode_timbre(refs, svs)
    each = [model.encode_timbre([r], [s]) for r, s in zip(refs, svs)]
    torch.testing.assert_close(ge, (each[0] + each[1]) / 2)
    assert ge.shape == (1, model.config.gin_channels, 1)
    direct = model.decode(codes, phones, refs, noise_scale=0.0, sv_emb=svs)
    cached = model.decode(codes, phones, None, noise_scale=0.0, timbre=ge)
    torch.testing.assert_close(cached, direct)
    with pytest.raises(SoVITSError, match="speaker-verification"):
        model.decode(codes, phones, [ref])
    with pytest.raises(SoVITSError, match="one per reference"):
        model.decode(codes, phones, refs, sv_emb=[sv])


def test_v1_timbre_reads_all_bins_and_v2_only_704():
    for version, bins in (("v1", 1025), ("v2", 704)):
        model = tiny_model(version)
        assert model.ref_enc.spectral[0].fc.in_features == bins
        _, _, ref, _ = inputs(model.config)
        changed = ref.clone()
        changed[:, 704:] += 5.0  # only bins v2 ignores
        same = torch.allclose(model.encode_timbre(ref), model.encode_timbre(changed))
        assert same == (version == "v2")


def test_extract_latent_decode_round_trip_shapes():
    model = tiny_model("v2")
    cfg = model.config
    ssl = torch.randn(2, cfg.ssl_dim, 20)
    codes = model.extract_latent(ssl)
    assert codes.shape == (2, 1, 10) and codes.dtype == torch.long
    assert int(codes.min()) >= 0 and int(codes.max()) < cfg.codebook_size
    _, phones, ref, _ = inputs(cfg)
    wav = model.decode(codes, phones.expand(2, -1), ref.expand(2, -1, -1), noise_scale=0.0)
    assert wav.shape == (2, 1, 20 * cfg.hop_length)
    assert torch.isfinite(wav).all() and wav.abs().max() <= 1
    slow = model.decode(codes[:1], phones, ref, speed=0.8, noise_scale=0.0)
    assert slow.shape == (1, 1, (int(20 / 0.8) + 1) * cfg.hop_length)


def test_extract_latent_picks_nearest_codebook_entry():
    model = tiny_model("v2")
    ssl = torch.randn(1, model.config.ssl_dim, 8)
    feats = model.ssl_proj(ssl).transpose(1, 2)[0]  # [T, D]
    embed = model.quantizer.vq.layers[0]._codebook.embed
    expected = torch.cdist(feats, embed).argmin(dim=1)
    assert torch.equal(model.extract_latent(ssl)[0, 0], expected)


# ----------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("version", ["v2", "v2Pro"])
def test_training_forward_shapes_and_gradients(version):
    model = tiny_model(version).train()
    cfg = model.config
    b, t = 2, 24
    gen = torch.Generator().manual_seed(0)
    ssl = torch.randn(b, cfg.ssl_dim, t, generator=gen)
    spec = torch.rand(b, cfg.spec_channels, t, generator=gen)
    spec_lengths = torch.tensor([t, 18])
    text = torch.randint(0, cfg.spec.n_symbols, (b, 9), generator=gen)
    text_lengths = torch.tensor([9, 6])
    sv = torch.randn(b, 20480, generator=gen) if cfg.spec.uses_sv else None
    out = model(ssl, spec, spec_lengths, text, text_lengths, sv_emb=sv, generator=gen)
    seg = cfg.segment_size
    assert out.wav.shape == (b, 1, seg * cfg.hop_length)
    assert out.ids_slice.shape == (b,)
    assert bool(((out.ids_slice >= 0) & (out.ids_slice + seg <= spec_lengths)).all())
    assert out.z_mask.shape == (b, 1, t) and out.z_mask[1, 0, 18:].sum() == 0
    for name in ("z", "z_p", "m_p", "logs_p", "m_q", "logs_q"):
        assert getattr(out, name).shape == (b, cfg.inter_channels, t), name
    assert out.quantized.shape == (b, cfg.ssl_dim, t) and float(out.commit_loss) == 0.0
    # a KL-like term plus the waveform reach every trainable part, never the frozen content tokenizer
    loss = (
        out.wav.abs().mean()
        + ((out.z_p - out.m_p) ** 2 * torch.exp(-2 * out.logs_p)).mean()
        + out.logs_q.mean()
    )
    loss.backward()
    for prefix in ("enc_p.", "dec.", "flow.", "enc_q.", "ref_enc."):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(prefix)]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), prefix
    assert model.ssl_proj.weight.grad is None
    if cfg.spec.uses_sv:
        assert model.sv_emb.weight.grad is not None


def test_flow_is_invertible():
    model = tiny_model("v2")
    cfg = model.config
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(2, cfg.inter_channels, 15, generator=gen)
    mask = torch.ones(2, 1, 15)
    mask[1, :, 11:] = 0
    g = torch.randn(2, cfg.gin_channels, 1, generator=gen)
    with torch.no_grad():
        z_p = model.flow(z, mask, g=g)
        back = model.flow(z_p, mask, g=g, reverse=True)
    assert not torch.allclose(z_p, z)
    torch.testing.assert_close(back * mask, z * mask, atol=1e-5, rtol=1e-5)


def test_discriminator_forward_shapes():
    torch.manual_seed(0)
    disc = MultiPeriodDiscriminator(periods=(2, 3))
    y, y_hat = torch.randn(2, 1, 301), torch.randn(2, 1, 301)
    real, fake, fmap_r, fmap_g = disc(y, y_hat)
    assert len(real) == len(fake) == len(fmap_r) == len(fmap_g) == 3
    assert [len(f) for f in fmap_r] == [7, 6, 6]
    assert all(r.shape[0] == 2 and r.dim() == 2 for r in real)
    assert fmap_r[1][0].shape[-1] == 2  # period 2: waveform folded into [T / 2, 2]
