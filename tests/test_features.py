"""Feature encoders: HuBERT, BERT, Kaldi fbank and the ERes2NetV2 speaker embedding.

Every model here is a tiny random-weight one saved inside the test in the official on-disk format
and read back through the package's loaders; results are compared with direct calls of the
underlying model or with independent reference computations.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gpt_sovits.errors import AudioError, GPTSoVITSError
from gpt_sovits.features import (
    FeatureModelInvalid,
    FeatureModelMissing,
    fbank_frames,
    hubert_frames,
    kaldi_fbank,
    load_bert,
    load_hubert,
    load_speaker_encoder,
    reference_pad_samples,
    segment_bert_features,
)
from gpt_sovits.models.speaker import ERes2NetV2, ERes2NetV2Config

transformers = pytest.importorskip("transformers")

CPU = torch.device("cpu")
F32 = torch.float32


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def speech16k(speak) -> torch.Tensor:
    """Real speech at 16 kHz (piper's 22.05 kHz output resampled with soxr)."""
    import soxr

    audio, rate = speak("The quick brown fox jumps over the lazy dog near the river bank.")
    return torch.from_numpy(soxr.resample(audio, rate, 16000).astype(np.float32))


@pytest.fixture(scope="module")
def hubert_dir(tmp_path_factory):
    """A tiny HuBERT saved with save_pretrained (config.json + model.safetensors), and the model."""
    torch.manual_seed(0)
    cfg = transformers.HubertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    model = transformers.HubertModel(cfg).eval()
    folder = tmp_path_factory.mktemp("hub") / "chinese-hubert-base"
    model.save_pretrained(folder)
    return folder, model


CHARS = "你好世界我们是中国人今天天气很不错的朋友一二三四五六七八九十,.!?，。！？"


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """A tiny BERT masked LM + BERT tokenizer over a small Chinese vocabulary, and the model."""
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("bert") / "chinese-roberta-wwm-ext-large"
    folder.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(CHARS)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    transformers.BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    cfg = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=24,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=24,  # 22 characters per window: long-text windowing is reachable
    )
    model = transformers.BertForMaskedLM(cfg).eval()
    model.save_pretrained(folder)
    return folder, model


def _direct_bert(model, tokenizer, ids: list[int]) -> tuple[torch.Tensor, ...]:
    """All hidden states of the saved masked LM for one id sequence (as upstream calls it)."""
    x = torch.tensor([ids])
    with torch.no_grad():
        out = model(
            input_ids=x,
            attention_mask=torch.ones_like(x),
            token_type_ids=torch.zeros_like(x),
            output_hidden_states=True,
        )
    return out.hidden_states


def _repeat_loop(chars: torch.Tensor, word2ph: list[int]) -> torch.Tensor:
    """Phone-level features built one character at a time: ``[H, n_phones]``."""
    cols = []
    for i, n in enumerate(word2ph):
        cols.extend([chars[i]] * n)
    return torch.stack(cols, dim=1)


# -------------------------------------------------------------------------------------------- HuBERT


def test_hubert_matches_direct_call_without_normalisation(hubert_dir):
    folder, model = hubert_dir
    enc = load_hubert(folder, CPU, F32)
    gen = torch.Generator().manual_seed(2)
    # A DC offset and a small scale: any input normalisation would change the result.
    wav = 0.05 * torch.randn(2, 16000, generator=gen) + 0.02
    feats = enc.encode(wav)
    with torch.no_grad():
        expected = model(wav).last_hidden_state.transpose(1, 2)
    assert feats.shape == (2, 32, hubert_frames(16000))
    torch.testing.assert_close(feats, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(enc(wav[1]), expected[1:], atol=2e-5, rtol=0)  # batch-size rounding


def test_hubert_frame_count_is_50_hz(hubert_dir):
    folder, model = hubert_dir
    enc = load_hubert(folder, CPU, F32)
    for n in (400, 719, 720, 16000, 32123):
        # Independent count: run the conv stack's length formula layer by layer.
        length = n
        for k, s in zip(model.config.conv_kernel, model.config.conv_stride):
            length = (length - k) // s + 1
        assert hubert_frames(n) == length
        assert enc.encode(torch.zeros(n) + 0.01).shape[-1] == length
    assert math.prod(model.config.conv_stride) == 320  # 16000 / 320 = 50 frames per second
    assert hubert_frames(10 * 16000) in (499, 500)
    assert reference_pad_samples(32000) == 9600  # upstream: int(sovits rate * 0.3) zeros at 16 kHz
    with pytest.raises(AudioError, match="too short"):
        enc.encode(torch.zeros(399))


def test_hubert_reads_legacy_bin_with_weight_norm_names(hubert_dir, tmp_path):
    folder, model = hubert_dir
    legacy = tmp_path / "chinese-hubert-base"
    legacy.mkdir()
    (legacy / "config.json").write_text((folder / "config.json").read_text())
    # The official folder also has a preprocessor config asking for normalisation; it must be ignored.
    (legacy / "preprocessor_config.json").write_text(
        json.dumps({"do_normalize": True, "sampling_rate": 16000})
    )
    old = {}
    for k, v in model.state_dict().items():
        k = k.replace("parametrizations.weight.original0", "weight_g")
        old[k.replace("parametrizations.weight.original1", "weight_v")] = v.clone()
    assert any(k.endswith("weight_g") for k in old)
    torch.save(old, legacy / "pytorch_model.bin")
    wav = 0.1 * torch.randn(1, 8000, generator=torch.Generator().manual_seed(3)) + 0.05
    with torch.no_grad():
        expected = model(wav).last_hidden_state.transpose(1, 2)
    torch.testing.assert_close(load_hubert(legacy, CPU, F32).encode(wav), expected, atol=1e-6, rtol=0)


def test_hubert_incomplete_weights_are_refused(hubert_dir, tmp_path):
    folder, model = hubert_dir
    broken = tmp_path / "chinese-hubert-base"
    broken.mkdir()
    (broken / "config.json").write_text((folder / "config.json").read_text())
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("encoder.layers.1.")}
    torch.save(state, broken / "pytorch_model.bin")
    with pytest.raises(FeatureModelInvalid, match="encoder.layers.1"):
        load_hubert(broken, CPU, F32)


# ---------------------------------------------------------------------------------------------- BERT


def test_bert_uses_third_layer_from_top_repeated_by_word2ph(bert_dir):
    folder, model = bert_dir
    enc = load_bert(folder, CPU, F32)
    text, word2ph = "你好世界我们", [2, 2, 1, 2, 3, 1]
    feats = enc.phone_features(text, word2ph)
    assert feats.shape == (24, sum(word2ph))

    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    hidden = _direct_bert(model, tok, tok(text)["input_ids"])
    expected = _repeat_loop(hidden[-3][0, 1:-1], word2ph)
    torch.testing.assert_close(feats, expected, atol=1e-5, rtol=0)
    # The test can tell the layers apart.
    for other in (hidden[-1], hidden[-2], hidden[-4]):
        assert (_repeat_loop(other[0, 1:-1], word2ph) - feats).abs().max() > 1e-2
    # Columns of one character are identical, neighbours differ.
    assert torch.equal(feats[:, 7], feats[:, 8]) and torch.equal(feats[:, 8], feats[:, 9])  # 我 x3
    assert not torch.equal(feats[:, 4], feats[:, 5])  # 世 | 界
    with pytest.raises(ValueError, match="word2ph"):
        enc.phone_features(text, word2ph[:-1])


def test_bert_on_front_end_segments(bert_dir):
    from gpt_sovits.text.frontend import FrontEnd

    folder, model = bert_dir
    enc = load_bert(folder, CPU, F32)
    result = FrontEnd().process("你好，世界。今天天气很不错！Hello world.")
    segs = result.segments
    assert [s.lang for s in segs] == ["zh", "en"]
    zh, en = segs
    assert len(zh.word2ph) == len(zh.norm_text) and set(zh.norm_text) <= set(CHARS)
    feats = segment_bert_features(zh.lang, zh.norm_text, zh.word2ph, len(zh.phones), enc)
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    hidden = _direct_bert(model, tok, tok(zh.norm_text)["input_ids"])
    torch.testing.assert_close(feats, _repeat_loop(hidden[-3][0, 1:-1], list(zh.word2ph)), atol=1e-5, rtol=0)

    zeros = segment_bert_features(en.lang, en.norm_text, en.word2ph, len(en.phones), enc)
    assert zeros.shape == (24, len(en.phones)) and not zeros.any()
    # Without an encoder (English-only text needs no BERT): the official 1024 channels.
    alone = segment_bert_features("en", "hello", None, 7, dtype=torch.float16)
    assert alone.shape == (1024, 7) and alone.dtype == torch.float16 and not alone.any()
    assert not segment_bert_features("yue", "你好", [2, 2], 4, enc).any()  # upstream: zh only
    with pytest.raises(ValueError):
        segment_bert_features("zh", "你好", [2, 2], 4)


def test_bert_per_character_fallback_and_long_text(bert_dir):
    folder, model = bert_dir
    enc = load_bert(folder, CPU, F32)
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    vocab = tok.get_vocab()

    # A space yields no token, so the text is mapped one character at a time ([UNK] for the space).
    text = "你好 世界"
    ids = [
        tok.cls_token_id,
        vocab["你"],
        vocab["好"],
        tok.unk_token_id,
        vocab["世"],
        vocab["界"],
        tok.sep_token_id,
    ]
    expected = _direct_bert(model, tok, ids)[-3][0, 1:-1]
    torch.testing.assert_close(enc.char_features(text), expected, atol=1e-5, rtol=0)

    # Longer than one window (22 characters here, 510 for the real model): consecutive windows.
    long_text = "一二三四五六七八九十" * 3
    assert enc.max_chars == 22
    parts = [long_text[:22], long_text[22:]]
    expected = torch.cat([_direct_bert(model, tok, tok(p)["input_ids"])[-3][0, 1:-1] for p in parts])
    torch.testing.assert_close(enc.char_features(long_text), expected, atol=1e-5, rtol=0)


def test_bert_official_folder_layout(bert_dir, tmp_path):
    """config.json + pytorch_model.bin (masked-LM keys, 'bert.' prefix) + tokenizer.json only."""
    folder, model = bert_dir
    official = tmp_path / "chinese-roberta-wwm-ext-large"
    official.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (official / name).write_bytes((folder / name).read_bytes())
    state = model.state_dict()
    assert any(k.startswith("bert.") for k in state) and any(k.startswith("cls.") for k in state)
    torch.save(state, official / "pytorch_model.bin")
    text, word2ph = "我们是中国人", [2, 2, 2, 2, 2, 3]
    got = load_bert(official, CPU, F32).phone_features(text, word2ph)
    torch.testing.assert_close(got, load_bert(folder, CPU, F32).phone_features(text, word2ph))


# ---------------------------------------------------------------------------------------------- fbank


def test_fbank_matches_kaldi_native_fbank_on_speech(speech16k):
    knf = pytest.importorskip("kaldi_native_fbank")
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = 16000
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = 80
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = 0.0
    opts.use_energy = False
    online = knf.OnlineFbank(opts)
    online.accept_waveform(16000, speech16k.tolist())
    online.input_finished()
    ref = np.stack([online.get_frame(i) for i in range(online.num_frames_ready)])

    ours = kaldi_fbank(speech16k).numpy()
    assert ours.shape == ref.shape == (fbank_frames(len(speech16k)), 80)
    diff = np.abs(ours - ref)
    # float32 rounding in near-empty low bins gives the largest differences (about 1e-3 in log).
    assert diff.max() < 1e-2 and diff.mean() < 1e-4, (diff.max(), diff.mean())


def test_fbank_batches_and_options(speech16k):
    wav = speech16k[:16000]
    batch = kaldi_fbank(torch.stack([wav, 0.5 * wav]))
    torch.testing.assert_close(batch[0], kaldi_fbank(wav))
    # Halving the amplitude quarters the power: every unfloored log value drops by ln(4).
    unfloored = batch[0] > math.log(torch.finfo(torch.float32).eps) + 3.0
    assert unfloored.float().mean() > 0.5  # piper leaves some digital silence at the start
    torch.testing.assert_close(batch[1][unfloored], batch[0][unfloored] - math.log(4.0), atol=1e-3, rtol=0)
    cms = kaldi_fbank(wav, subtract_mean=True)
    torch.testing.assert_close(cms, batch[0] - batch[0].mean(0), atol=1e-5, rtol=0)
    assert kaldi_fbank(torch.zeros(399)).shape == (0, 80)
    assert fbank_frames(400) == 1 and fbank_frames(559) == 1 and fbank_frames(560) == 2


# -------------------------------------------------------------------------------------- ERes2NetV2


def expected_eres2netv2_layout(cfg: ERes2NetV2Config) -> dict[str, tuple[int, ...]]:
    """State-dict keys and shapes worked out from upstream's module definitions, by formula.

    ERes2NetV2.py: stem conv1/bn1; layer1..4 of BasicBlockERes2NetV2 (stages 1-2) and
    BasicBlockERes2NetV2AFF (stages 3-4) with planes m, 2m, 4m, 8m and strides 1, 2, 2, 2; block width
    floor(planes * baseWidth / 64); a conv+BN shortcut when the stride or channel count changes;
    layer3_ds 3x3 conv; fuse34 AFF; seg_1 linear over TSTP statistics of size
    2 * (feat_dim // 8) * m * 8 * expansion. fusion.py: AFF.local_att = conv(2C->C/4, bias), BN, SiLU,
    conv(C/4->C, bias), BN. BatchNorm carries weight, bias, running stats and a batch counter.
    """
    keys: dict[str, tuple[int, ...]] = {}

    def conv(name: str, cout: int, cin: int, k: int, bias: bool = False) -> None:
        keys[f"{name}.weight"] = (cout, cin, k, k)
        if bias:
            keys[f"{name}.bias"] = (cout,)

    def bn(name: str, c: int) -> None:
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{name}.{leaf}"] = (c,)
        keys[f"{name}.num_batches_tracked"] = ()

    def aff(name: str, c: int) -> None:
        conv(f"{name}.local_att.0", c // 4, 2 * c, 1, bias=True)
        bn(f"{name}.local_att.1", c // 4)
        conv(f"{name}.local_att.3", c, c // 4, 1, bias=True)
        bn(f"{name}.local_att.4", c)

    m, e, s = cfg.m_channels, cfg.expansion, cfg.scale
    conv("conv1", m, 1, 3)
    bn("bn1", m)
    in_planes = m
    for stage, (planes, stride) in enumerate(((m, 1), (2 * m, 2), (4 * m, 2), (8 * m, 2))):
        width = planes * cfg.base_width // 64
        for b in range(cfg.num_blocks[stage]):
            p = f"layer{stage + 1}.{b}"
            conv(f"{p}.conv1", width * s, in_planes, 1)
            bn(f"{p}.bn1", width * s)
            for i in range(s):
                conv(f"{p}.convs.{i}", width, width, 3)
                bn(f"{p}.bns.{i}", width)
            if stage >= 2:
                for j in range(s - 1):
                    aff(f"{p}.fuse_models.{j}", width)
            conv(f"{p}.conv3", planes * e, width * s, 1)
            bn(f"{p}.bn3", planes * e)
            if (stride if b == 0 else 1) != 1 or in_planes != planes * e:
                conv(f"{p}.shortcut.0", planes * e, in_planes, 1)
                bn(f"{p}.shortcut.1", planes * e)
            in_planes = planes * e
    conv("layer3_ds", 8 * m * e, 4 * m * e, 3)
    aff("fuse34", 8 * m * e)
    keys["seg_1.weight"] = (cfg.embedding_size, 2 * (cfg.feat_dim // 8) * m * 8 * e)
    keys["seg_1.bias"] = (cfg.embedding_size,)
    return keys


def test_eres2netv2_full_size_layout(compat_dir):
    with torch.device("meta"):
        model = ERes2NetV2()
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == expected_eres2netv2_layout(ERes2NetV2Config())
    # Spot values worked out by hand for w24s4ep4 (width = floor(planes * 24 / 64)).
    assert got["layer1.0.conv1.weight"] == (96, 64, 1, 1)  # width 24, 4 sub-bands
    assert got["layer4.2.fuse_models.2.local_att.0.weight"] == (48, 384, 1, 1)  # width 192
    assert got["fuse34.local_att.0.weight"] == (512, 4096, 1, 1)
    assert got["seg_1.weight"] == (192, 40960)
    assert "layer1.1.shortcut.0.weight" not in got and "layer2.0.shortcut.0.weight" in got
    # The embedding size is what the v2Pro SoVITS generator's sv_emb layer takes.
    manifest = json.loads((compat_dir / "state_dict_manifests.json").read_text())
    sv_in = manifest["sovits_v2Pro_generator"]["sv_emb.weight"]["shape"][1]
    emb = model.sv_embedding(torch.empty(2, 300, 80, device="meta"))
    assert tuple(emb.shape) == (2, sv_in) == (2, 20480) == (2, ERes2NetV2Config().sv_embedding_dim)


TINY_SV = ERes2NetV2Config(
    num_blocks=(2, 1, 2, 1), m_channels=8, base_width=24, scale=3, expansion=2, embedding_size=16
)


def _randomise(model: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            elif name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif t.is_floating_point():
                t.copy_(0.2 * torch.randn(t.shape, generator=gen))


def _ref_sv(sd: dict[str, torch.Tensor], feats: torch.Tensor, cfg: ERes2NetV2Config) -> tuple:
    """Straightforward functional ERes2NetV2 over the state dict: (sv embedding, x-vector)."""

    def bn(p, x):
        w, b, rm, rv = (sd[f"{p}.{k}"] for k in ("weight", "bias", "running_mean", "running_var"))
        return F.batch_norm(x, rm, rv, w, b, False, 0.0, 1e-5)

    def conv(p, x, stride=1, padding=0):
        return F.conv2d(x, sd[f"{p}.weight"], sd.get(f"{p}.bias"), stride, padding)

    def aff(p, x, y):
        a = conv(
            f"{p}.local_att.3", F.silu(bn(f"{p}.local_att.1", conv(f"{p}.local_att.0", torch.cat([x, y], 1))))
        )
        g = 1 + torch.tanh(bn(f"{p}.local_att.4", a))
        return x * g + y * (2 - g)

    def block(p, x, stride, fuse):
        h = F.hardtanh(bn(f"{p}.bn1", conv(f"{p}.conv1", x, stride)), 0, 20)
        chunks = h.split(h.shape[1] // cfg.scale, 1)
        outs = []
        for i, c in enumerate(chunks):
            sp = c if i == 0 else (aff(f"{p}.fuse_models.{i - 1}", outs[-1], c) if fuse else outs[-1] + c)
            outs.append(F.hardtanh(bn(f"{p}.bns.{i}", conv(f"{p}.convs.{i}", sp, padding=1)), 0, 20))
        out = bn(f"{p}.bn3", conv(f"{p}.conv3", torch.cat(outs, 1)))
        short = (
            bn(f"{p}.shortcut.1", conv(f"{p}.shortcut.0", x, stride)) if f"{p}.shortcut.0.weight" in sd else x
        )
        return F.hardtanh(out + short, 0, 20)

    x = F.relu(bn("bn1", conv("conv1", feats.transpose(1, 2)[:, None], padding=1)))
    outs = []
    for stage, stride in enumerate((1, 2, 2, 2)):
        for b in range(cfg.num_blocks[stage]):
            x = block(f"layer{stage + 1}.{b}", x, stride if b == 0 else 1, stage >= 2)
        outs.append(x)
    fused = aff("fuse34", outs[3], conv("layer3_ds", outs[2], 2, 1)).flatten(1, 2)  # [B, C*F', T']
    stats = torch.cat([fused.mean(-1), torch.sqrt(fused.var(-1) + 1e-8)], 1)
    return fused.mean(-1), F.linear(stats, sd["seg_1.weight"], sd["seg_1.bias"])


def test_eres2netv2_tiny_matches_functional_reference(speech16k):
    torch.manual_seed(4)
    model = ERes2NetV2(TINY_SV).eval()
    _randomise(model, 5)
    feats = kaldi_fbank(torch.stack([speech16k[:24000], speech16k[8000:32000]]))  # [2, 148, 80]
    ref_emb, ref_xvec = _ref_sv(model.state_dict(), feats, TINY_SV)
    with torch.no_grad():
        emb = model.sv_embedding(feats)
        xvec = model(feats)
    assert emb.shape == (2, TINY_SV.sv_embedding_dim) == (2, 8 * 8 * 2 * 10)
    torch.testing.assert_close(emb, ref_emb, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(xvec, ref_xvec, atol=1e-5, rtol=1e-5)


def test_speaker_encoder_loads_state_dict_checkpoint(speech16k, tmp_path):
    torch.manual_seed(6)
    model = ERes2NetV2(TINY_SV).eval()
    _randomise(model, 7)
    ckpt = tmp_path / "pretrained_eres2netv2w24s4ep4.ckpt"
    torch.save(model.state_dict(), ckpt)
    enc = load_speaker_encoder(ckpt, CPU, F32, config=TINY_SV)
    wav = speech16k[8000:32000]
    emb = enc.embed(wav)
    with torch.no_grad():
        expected = model.sv_embedding(kaldi_fbank(wav)[None])[0]
    assert emb.shape == (enc.embedding_dim,) == (TINY_SV.sv_embedding_dim,)
    torch.testing.assert_close(emb, expected, atol=1e-6, rtol=0)
    pair = enc.embed(torch.stack([wav, speech16k[:24000]]))
    torch.testing.assert_close(pair[0], emb, atol=1e-5, rtol=1e-5)

    # Files saved without BatchNorm batch counters load the same.
    lean = tmp_path / "lean.ckpt"
    torch.save({k: v for k, v in model.state_dict().items() if "num_batches" not in k}, lean)
    torch.testing.assert_close(load_speaker_encoder(lean, CPU, F32, config=TINY_SV).embed(wav), emb)
    with pytest.raises(AudioError, match="too short"):
        enc.embed(torch.zeros(100))


def test_speaker_checkpoint_refusals(tmp_path):
    model = ERes2NetV2(TINY_SV)
    partial = tmp_path / "partial.ckpt"
    torch.save({k: v for k, v in model.state_dict().items() if not k.startswith("fuse34")}, partial)
    with pytest.raises(FeatureModelInvalid, match="fuse34"):
        load_speaker_encoder(partial, CPU, F32, config=TINY_SV)
    with pytest.raises(FeatureModelInvalid, match=r"[1-9]\d* with the wrong shape"):
        load_speaker_encoder(partial, CPU, F32)  # the full-size network does not fit a tiny file
    pickled = tmp_path / "pickled.ckpt"
    torch.save({"config": ERes2NetV2Config()}, pickled)  # needs arbitrary unpickling: refused
    with pytest.raises(FeatureModelInvalid, match="cannot be read"):
        load_speaker_encoder(pickled, CPU, F32, config=TINY_SV)


# ------------------------------------------------------------------------------------ missing models


def test_missing_models_name_the_folder_and_the_source(tmp_path, hubert_dir):
    cases = [
        (load_hubert, tmp_path / "nope", "chinese-hubert-base/"),
        (load_bert, tmp_path / "nope", "chinese-roberta-wwm-ext-large/"),
        (load_speaker_encoder, tmp_path / "sv.ckpt", "sv/pretrained_eres2netv2w24s4ep4.ckpt"),
    ]
    for load, path, official in cases:
        with pytest.raises(FeatureModelMissing) as info:
            load(path, CPU, F32)
        msg = str(info.value)
        assert isinstance(info.value, GPTSoVITSError)
        assert official in msg and str(path) in msg
        assert "lj1995/GPT-SoVITS" in msg and "python -m gpt_sovits models download" in msg
    # A folder with a config but no weights is incomplete, and says what it lacks.
    folder, _ = hubert_dir
    partial = tmp_path / "hub"
    partial.mkdir()
    (partial / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(FeatureModelMissing, match="pytorch_model.bin"):
        load_hubert(partial, CPU, F32)
    bert_no_tok = tmp_path / "bert"
    bert_no_tok.mkdir()
    (bert_no_tok / "config.json").write_text("{}")
    (bert_no_tok / "model.safetensors").write_bytes(b"x")
    with pytest.raises(FeatureModelMissing, match="tokenizer.json or vocab.txt"):
        load_bert(bert_no_tok, CPU, F32)
