"""SoVITS fine-tuning: data, losses, optimizer groups, training progress, resume, official checkpoints.

The experiment is prepared from real piper speech with ``prepare`` (a hand-written list, no ASR) and tiny
models. The base generator is saved the way the pretrained ``s2G`` files are (``torch.save`` with the
posterior encoder ``enc_q``). Training runs use a small stand-in discriminator: upstream's full-size one
(47 M parameters) costs seconds per step on two CPU cores; it is exercised by the load test and the slow test.
"""

from __future__ import annotations

import bisect
import io
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from tiny_models import _perturb, make_tiny_home, sovits_config, write_speech
from torch import nn

from gpt_sovits.models.checkpoint import read_checkpoint
from gpt_sovits.models.loading import load_sovits
from gpt_sovits.models.sovits import MultiPeriodDiscriminator, SoVITSConfig, SoVITSSynthesizer
from gpt_sovits.settings import DistributedEnv
from gpt_sovits.training import losses as L
from gpt_sovits.training.experiment import Experiment
from gpt_sovits.training.loop import StopFlag, TrainContext, load_state
from gpt_sovits.training.runlog import RunLog
from gpt_sovits.training.sovits_data import (
    BUCKET_BOUNDARIES,
    BucketBatches,
    SoVITSDataset,
    build_models,
    collate,
    default_discriminator_path,
    load_discriminator,
    match_lengths,
    official_config,
)
from gpt_sovits.training.sovits_train import SoVITSTrainOptions, param_groups, train_sovits

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "Please call me back when you get this message.",
    "It was a bright cold day in April.",
)
SEGMENT_FRAMES = 8  # a short training segment keeps the decoder cheap on the CPU
CPU = TrainContext(torch.device("cpu"), "fp32", DistributedEnv())


def save_training_generator(path: Path, seed: int = 0, version: str = "v2") -> Path:
    """A tiny generator saved like upstream's pretrained s2G: plain torch.save, fp16, with enc_q."""
    torch.manual_seed(seed)
    cfg = sovits_config(version)
    cfg["train"]["segment_size"] = SEGMENT_FRAMES * 640
    model = SoVITSSynthesizer(SoVITSConfig.from_hparams(cfg, version=version))
    _perturb(model, seed)
    weight = {k: v.half() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": weight, "config": cfg, "info": "pretrained"}, path)
    return path


class SmallDiscriminator(nn.Module):
    """Two tiny waveform discriminators (full rate and half rate) with upstream's output structure."""

    def __init__(self, config: SoVITSConfig | None = None) -> None:
        super().__init__()
        self.stacks = nn.ModuleList(
            nn.ModuleList([nn.Conv1d(1, 8, 15, 4, 7), nn.Conv1d(8, 8, 15, 4, 7), nn.Conv1d(8, 1, 3, 1, 1)])
            for _ in range(2)
        )

    @staticmethod
    def _score(stack: nn.ModuleList, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        fmap = []
        for conv in stack[:-1]:
            x = nn.functional.leaky_relu(conv(x), 0.1)
            fmap.append(x)
        x = stack[-1](x)
        fmap.append(x)
        return x.flatten(1), fmap

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor):
        out: tuple[list, list, list, list] = ([], [], [], [])
        for i, stack in enumerate(self.stacks):
            step = 1 + i
            r, fr = self._score(stack, y[..., ::step])
            g, fg = self._score(stack, y_hat[..., ::step])
            for lst, v in zip(out, (r, g, fr, fg)):
                lst.append(v)
        return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, speak):
    """(logs_dir, experiment name, base generator path): four piper sentences prepared with tiny models."""
    from train_data import settings_for

    from gpt_sovits.training.prepare import PrepareOptions, prepare

    root = tmp_path_factory.mktemp("sovits_train")
    home = make_tiny_home(root)
    save_training_generator(home.sovits)  # same seed as make_tiny_home: same quantizer, same codes
    rows = [
        f"{write_speech(speak, root / 'wavs' / f'c{i}.wav', t)}|joe|en|{t}" for i, t in enumerate(SENTENCES)
    ]
    (root / "data.list").write_text("\n".join(rows) + "\n", encoding="utf-8")
    settings = settings_for(root)
    result = prepare(settings, PrepareOptions(root / "data.list", "joe", device="cpu"))
    assert len(result.experiment.items()) == len(SENTENCES)
    return settings.logs_dir, home.sovits


def fresh_experiment(prepared, tmp_path: Path, name: str = "joe") -> Experiment:
    """A copy of the prepared experiment, so that runs do not see each other's state.pt."""
    import shutil

    logs_dir, _ = prepared
    shutil.copytree(logs_dir / "joe", tmp_path / "logs" / name, ignore=shutil.ignore_patterns("sovits"))
    return Experiment(tmp_path / "logs", name)


def quiet_log(exp: Experiment) -> RunLog:
    return RunLog(exp.run_dir("sovits"), "sovits", stream=io.StringIO(), tensorboard=False)


def options(**kw) -> SoVITSTrainOptions:
    base = dict(exp="joe", batch_size=2, device="cpu", precision="fp32", min_epoch_items=1, seed=7)
    return SoVITSTrainOptions(**{**base, **kw})


def run(exp: Experiment, opts: SoVITSTrainOptions, stop: StopFlag | None = None):
    log = quiet_log(exp)
    try:
        return train_sovits(exp, opts, CPU, log, stop or StopFlag(), discriminator_factory=SmallDiscriminator)
    finally:
        log.close()


# ----------------------------------------------------------------------------- losses
def test_losses_match_their_definitions():
    g = torch.Generator().manual_seed(0)
    real = [torch.randn(2, 5, generator=g), torch.randn(2, 7, generator=g)]
    fake = [torch.randn(2, 5, generator=g), torch.randn(2, 7, generator=g)]
    d_total, _, _ = L.discriminator_loss(real, fake)
    expected = sum(((1 - r) ** 2).mean() + (f**2).mean() for r, f in zip(real, fake))
    assert torch.allclose(d_total, expected)
    g_total, parts = L.generator_loss(fake)
    assert torch.allclose(g_total, sum(((1 - f) ** 2).mean() for f in fake)) and len(parts) == 2
    fm_r = [[torch.randn(2, 3, 4, generator=g) for _ in range(3)] for _ in range(2)]
    fm_g = [[torch.randn(2, 3, 4, generator=g, requires_grad=True) for _ in range(3)] for _ in range(2)]
    fm = L.feature_loss(fm_r, fm_g)
    flat = [(a - b).abs().mean() for ra, ga in zip(fm_r, fm_g) for a, b in zip(ra, ga)]
    assert torch.allclose(fm, 2 * sum(flat))
    fm.backward()  # flows into the generated maps only
    # KL against the closed form, per element, with a mask that hides the last 3 frames of item 1
    z_p, logs_q, m_p, logs_p = (torch.randn(2, 4, 10, generator=g) * 0.5 for _ in range(4))
    mask = torch.ones(2, 1, 10)
    mask[1, :, 7:] = 0
    kl = L.kl_loss(z_p, logs_q, m_p, logs_p, mask)
    total = 0.0
    for b in range(2):
        for c in range(4):
            for t in range(10 if b == 0 else 7):
                sp, sq = math.exp(logs_p[b, c, t]), math.exp(logs_q[b, c, t])
                total += math.log(sp / sq) - 0.5 + (z_p[b, c, t] - m_p[b, c, t]) ** 2 / (2 * sp**2)
    assert abs(kl.item() - total / 17) < 1e-4
    # bf16 inputs are computed in float32
    assert L.kl_loss(z_p.bfloat16(), logs_q, m_p, logs_p, mask).dtype == torch.float32


# ----------------------------------------------------------------------------- data
def test_dataset_matches_lengths_and_batches_cover_every_clip(prepared, tmp_path):
    exp = fresh_experiment(prepared, tmp_path)
    from gpt_sovits.audio.spectrogram import SpectrogramConfig, linear_spectrogram

    ds = SoVITSDataset(exp, SpectrogramConfig())
    for i, rec in enumerate(ds.records):
        item = ds[i]
        feats = exp.load_features(rec)
        t = item.frames
        assert t % 2 == 0 and item.ssl.shape == (768, t) and item.wav.shape == (t * 640,)
        assert abs(t - feats.ssl.shape[-1]) <= 2
        # the spectrogram is the one of the clip's own audio, frame for frame
        assert torch.allclose(item.spec, linear_spectrogram(feats.wav)[:, :t])
        assert torch.equal(
            item.ssl[:, : min(t, feats.ssl.shape[-1])], feats.ssl[:, : min(t, feats.ssl.shape[-1])]
        )
    ssl, spec, wav = match_lengths(torch.randn(768, 9), torch.rand(1025, 10), torch.randn(6400), 640)
    assert ssl.shape[-1] == spec.shape[-1] == 10 and torch.equal(ssl[:, 9], ssl[:, 8]) and len(wav) == 6400
    with pytest.raises(ValueError):
        match_lengths(torch.randn(768, 5), torch.rand(1025, 10), torch.randn(6400), 640)
    batch = collate([ds[0], ds[1]], min_frames=400, hop=640)
    assert batch.spec.shape[-1] == 400 and batch.wav.shape[-1] == 400 * 640
    assert batch.spec_lengths.tolist() == [ds[0].frames, ds[1].frames]
    assert float(batch.spec[0, :, ds[0].frames :].abs().sum()) == 0
    # buckets: every clip repeated the same number of times; ranks split each global batch
    lengths = [100, 120, 350, 90, 600, 110, 105]
    one = BucketBatches(lengths, 2, seed=1, min_epoch_items=20)
    plan = one.epoch(3)
    assert plan == one.epoch(3) and plan != one.epoch(4) and len(plan) == len(one)
    counts = torch.bincount(torch.tensor([i for b in plan for i in b]), minlength=7)
    assert one.repeats == 2 and bool((counts >= 2).all())
    for b in plan:  # no batch mixes length buckets
        assert len({bisect.bisect_left(BUCKET_BOUNDARIES, lengths[i]) for i in b}) == 1
    ranks = [
        BucketBatches(lengths, 2, seed=1, rank=r, world_size=2, min_epoch_items=20).epoch(3) for r in (0, 1)
    ]
    assert len(ranks[0]) == len(ranks[1])


# ----------------------------------------------------------------------------- models and optimizer
def test_pretrained_discriminator_loads(tmp_path):
    cfg = SoVITSConfig.preset("v2")
    torch.manual_seed(3)
    d = MultiPeriodDiscriminator.for_config(cfg)
    path = tmp_path / "s2D2333k.pth"
    torch.save({"weight": {k: v.half() for k, v in d.state_dict().items()}, "info": "pretrained"}, path)
    loaded = load_discriminator(path, cfg)
    for k, v in d.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v.half().float()), k
    with pytest.raises(Exception, match="not a SoVITS discriminator"):
        load_discriminator(save_training_generator(tmp_path / "g.pth"), cfg)
    assert default_discriminator_path("/p/v2Pro/s2Gv2Pro.pth") == Path("/p/v2Pro/s2Dv2Pro.pth")
    assert default_discriminator_path("/voices/alice_e8_s96.pth") is None  # a fine-tune has no s2D twin


def test_saved_config_describes_the_trained_model():
    tiny = SoVITSConfig.from_hparams(sovits_config("v2"))
    for raw in ({}, sovits_config("v2")):  # a file without a config, and one with its own
        saved = official_config(raw, tiny)
        assert SoVITSConfig.from_hparams(saved) == tiny
        assert saved["model"]["version"] == "v2" and saved["data"]["n_mel_channels"] == 128


def test_one_step_trains_everything_but_the_frozen_tokenizer(prepared, tmp_path):
    exp = fresh_experiment(prepared, tmp_path)
    _, base = prepared
    models = build_models(base, discriminator_factory=SmallDiscriminator)
    g = models.generator
    assert hasattr(g, "aligner") and hasattr(g, "enc_q")
    groups = param_groups(g, 1e-4, 0.4)
    assert [gr["lr"] for gr in groups] == [1e-4, pytest.approx(0.4e-4)]
    text_ids = {
        id(p) for m in (g.enc_p.text_embedding, g.enc_p.encoder_text, g.enc_p.mrte) for p in m.parameters()
    }
    assert {id(p) for p in groups[1]["params"]} == text_ids
    frozen = {n for n, p in g.named_parameters() if n.startswith(("ssl_proj.", "quantizer."))}
    in_groups = {id(p) for gr in groups for p in gr["params"]}
    named = dict(g.named_parameters())
    assert frozen and all(id(named[n]) not in in_groups and not named[n].requires_grad for n in frozen)
    assert in_groups == {id(p) for n, p in named.items() if n not in frozen}

    before = {k: v.clone() for k, v in g.state_dict().items()}
    result = run(exp, options(max_steps=1))
    assert result.steps == 1
    state = load_state(exp.run_dir("sovits") / "state.pt")
    after = state["generator"]
    # the optimizer's groups as trained: the text side at 0.4 x lr (after the first-epoch decay)
    lrs = [gr["lr"] for gr in state["optim_g"]["param_groups"]]
    assert lrs[1] == pytest.approx(0.4 * lrs[0]) and lrs[0] == pytest.approx(1e-4 * 0.999875)
    name_of = {id(p): n for n, p in named.items()}
    order = [name_of[id(p)] for gr in groups for p in gr["params"]]  # the optimizer's state indices
    for index, name in enumerate(order):
        grad_seen = state["optim_g"]["state"][index]["exp_avg"]  # (1 - beta1) * grad after one step
        assert float(grad_seen.abs().sum()) > 0, f"{name} got no gradient"
        assert not torch.equal(after[name], before[name]), f"{name} did not change"
    for key in before:
        if key.startswith(("ssl_proj.", "quantizer.")):
            assert torch.equal(after[key], before[key]), f"frozen {key} changed"


def test_from_scratch_keeps_only_the_content_tokenizer(prepared):
    _, base = prepared
    weights = read_checkpoint(base).weight
    g = build_models(base, from_scratch=True, discriminator_factory=SmallDiscriminator).generator
    for key, value in g.state_dict().items():
        if key.startswith(("ssl_proj.", "quantizer.")):
            assert torch.equal(value, weights[key].float()), key
        elif key.endswith(("weight", "weight_v")) and key in weights and value.numel() > 1:
            assert not torch.equal(value, weights[key].float()), key


def test_mel_loss_goes_down(prepared, tmp_path):
    exp = fresh_experiment(prepared, tmp_path)
    result = run(exp, options(max_steps=36, lr=4e-4, epochs=100))
    assert result.steps == 36
    mel = [s["mel"] for s in result.losses]
    first, last = sum(mel[:6]) / 6, sum(mel[-6:]) / 6
    assert all(math.isfinite(v) for s in result.losses for v in s.values())
    assert last < 0.85 * first, (first, last)
    aligner = [s["aligner"] for s in result.losses]
    assert sum(aligner[-6:]) < sum(aligner[:6])


# ----------------------------------------------------------------------------- resume and checkpoints
class _CancelAt(RunLog):
    def __init__(self, exp: Experiment, stop: StopFlag, at: int) -> None:
        super().__init__(exp.run_dir("sovits"), "sovits", stream=io.StringIO(), tensorboard=False)
        self.stop, self.at = stop, at

    def progress(self, *, epoch, step, losses, lr) -> None:
        super().progress(epoch=epoch, step=step, losses=losses, lr=lr)
        if step == self.at:
            self.stop.request()


def test_resume_matches_an_uninterrupted_run_and_checkpoints_load(prepared, tmp_path):
    straight = fresh_experiment(prepared, tmp_path / "a")
    opts = options(epochs=2, save_every=1)  # 4 clips, batch 2: 2 steps per epoch, 4 in all
    full = run(straight, opts)
    assert full.steps == 4 and len(full.checkpoints) == 2

    resumed = fresh_experiment(prepared, tmp_path / "b")
    stop = StopFlag()
    log = _CancelAt(resumed, stop, at=1)
    try:
        part = train_sovits(resumed, opts, CPU, log, stop, discriminator_factory=SmallDiscriminator)
    finally:
        log.close()
    assert part.cancelled and part.steps == 1 and not part.checkpoints
    rest = run(resumed, opts)
    assert rest.steps == 4 and len(rest.losses) == 3
    assert [s["g_total"] for s in rest.losses] == [s["g_total"] for s in full.losses[1:]]
    a = load_state(straight.run_dir("sovits") / "state.pt")
    b = load_state(resumed.run_dir("sovits") / "state.pt")
    for part_name in ("generator", "discriminator"):
        for key, value in a[part_name].items():
            assert torch.equal(value, b[part_name][key]), key
    names = sorted(Path(p).name for p in rest.checkpoints)
    assert names == ["joe_e1_s2.pth", "joe_e2_s4.pth"]
    check_checkpoint(Path(rest.checkpoints[-1]), a["generator"], resumed)


def check_checkpoint(path: Path, trained: dict[str, torch.Tensor], exp: Experiment) -> None:
    """The official layout; loads here and by plain key copy; decodes like the trained weights."""
    raw = read_checkpoint(path)
    assert raw.info == "2epoch_4iteration" and raw.config["model"]["version"] == "v2"
    assert not any("enc_q" in k for k in raw.weight) and any(k.startswith("aligner.") for k in raw.weight)
    assert all(v.dtype == torch.float16 for v in raw.weight.values() if v.is_floating_point())
    obj = torch.load(path, map_location="cpu", weights_only=True)
    assert set(obj) >= {"weight", "config", "info"}
    # upstream: SynthesizerTrn(**hps.model) then load_state_dict(weight, strict=False)
    config = SoVITSConfig.from_hparams(obj["config"])
    plain = SoVITSSynthesizer(config)
    result = plain.load_state_dict(obj["weight"], strict=False)
    assert all(k.startswith("enc_q.") for k in result.missing_keys)
    assert all(k.startswith("aligner.") for k in result.unexpected_keys)

    loaded = load_sovits(path).module
    assert loaded.has_aligner
    reference = SoVITSSynthesizer(config, with_aligner=True)
    reference.load_state_dict({k: v.half().float() for k, v in trained.items()})
    reference.prepare_for_inference(tile_frames=None)
    rec = exp.items()[0]
    feats = exp.load_features(rec)
    from gpt_sovits.audio.spectrogram import linear_spectrogram

    codes, phones = feats.codes.view(1, 1, -1), feats.phones.view(1, -1)
    ref = linear_spectrogram(feats.wav[: 32000 * 2]).unsqueeze(0)
    wav = loaded.decode(codes, phones, ref, noise_scale=0.0)
    expected = reference.decode(codes, phones, ref, noise_scale=0.0)
    assert wav.shape == (1, 1, codes.shape[-1] * 2 * 640) and torch.isfinite(wav).all()
    assert (wav - expected).abs().max() < 1e-3
    assert float(wav.abs().max()) > 0


def test_v2pro_trains_with_speaker_vectors(prepared, tmp_path):
    """v2Pro: the clip's speaker vector reaches the timbre branch; the checkpoint keeps upstream's header."""
    import json

    exp = fresh_experiment(prepared, tmp_path)
    base = save_training_generator(tmp_path / "v2Pro" / "s2Gv2Pro.pth", version="v2Pro")
    base.write_bytes(
        b"05" + base.read_bytes()[2:]
    )  # upstream's v2Pro header (the tiny decoder looks ProPlus)
    manifest = json.loads(exp.manifest_path.read_text())
    exp.manifest_path.write_text(json.dumps({**manifest, "base_version": "v2Pro", "base_sovits": str(base)}))
    records = exp.items()
    g = torch.Generator().manual_seed(5)
    feats = [exp.load_features(r) for r in records]
    exp.items_path.unlink()
    for rec, f in zip(records, feats):
        exp.append_item(rec, replace(f, sv=torch.randn(20480, generator=g)))
    before = read_checkpoint(base).weight
    result = run(exp, options(max_steps=1))
    after = load_state(exp.run_dir("sovits") / "state.pt")["generator"]
    assert not torch.equal(after["sv_emb.weight"], before["sv_emb.weight"].float())  # trained through sv
    path = Path(result.checkpoints[0])
    assert path.read_bytes()[:2] == b"05"
    assert load_sovits(path).version == "v2Pro"


def test_cli_arguments_round_trip():
    import argparse

    from gpt_sovits.training.sovits_train import add_sovits_arguments, sovits_options_from_args

    parser = argparse.ArgumentParser()
    add_sovits_arguments(parser)
    args = parser.parse_args(["--exp", "x", "--epochs", "3", "--no-aligner", "--text-lr-ratio", "0.5"])
    opts = sovits_options_from_args(args)
    assert opts == replace(SoVITSTrainOptions(exp="x"), epochs=3, aligner=False, text_lr_ratio=0.5)


@pytest.mark.slow
def test_full_size_v2_checkpoint_layout(tmp_path, compat_dir):
    """The official v2 preset (random weights): G + D build from pretrained-style files and save upstream's keys."""
    import json

    cfg = SoVITSConfig.preset("v2")
    torch.manual_seed(0)
    g = SoVITSSynthesizer(cfg)
    hp = sovits_config("v2")
    hp["model"] = {k: v for k, v in hp["model"].items() if k == "version"}  # the preset fills the rest
    g_path = tmp_path / "s2G2333k.pth"
    torch.save(
        {"weight": {k: v.half() for k, v in g.state_dict().items()}, "config": hp, "info": "x"}, g_path
    )
    d = MultiPeriodDiscriminator.for_config(cfg)
    torch.save({"weight": {k: v.half() for k, v in d.state_dict().items()}}, tmp_path / "s2D2333k.pth")
    models = build_models(g_path)
    assert models.init_d == tmp_path / "s2D2333k.pth"
    # the config written into checkpoints describes the same model (upstream builds from hps.model)
    assert SoVITSConfig.from_hparams(official_config(hp, cfg)) == cfg
    manifest = json.loads((compat_dir / "state_dict_manifests.json").read_text())
    assert set(models.discriminator.state_dict()) == set(manifest["sovits_v2_discriminator"])
    from gpt_sovits.models.saving import save_sovits_file

    out = save_sovits_file(
        tmp_path / "x.pth",
        models.generator.state_dict(),
        official_config(hp, cfg),
        version="v2",
        info="1epoch",
    )
    raw = read_checkpoint(out)
    official = {k for k in manifest["sovits_v2_generator"] if "enc_q" not in k}
    assert {k for k in raw.weight if not k.startswith("aligner.")} == official
    for k in official:
        assert list(raw.weight[k].shape) == manifest["sovits_v2_generator"][k]["shape"], k
    assert load_sovits(out).module.has_aligner


def test_discriminator_batches_real_and_fake_together_exactly():
    """The fast path (real and generated audio through each discriminator as one batch) equals two calls."""
    from gpt_sovits.models.sovits.discriminator import MultiPeriodDiscriminator

    torch.manual_seed(0)
    disc = MultiPeriodDiscriminator(width_div=8)
    real, fake = torch.randn(2, 1, 6000), torch.randn(2, 1, 6000)
    got = disc(real, fake)
    for k, d in enumerate(disc.discriminators):
        (score_r, fmap_r), (score_g, fmap_g) = d(real), d(fake)
        assert torch.equal(got[0][k], score_r) and torch.equal(got[1][k], score_g)
        assert all(torch.equal(a, b) for a, b in zip(got[2][k], fmap_r))
        assert all(torch.equal(a, b) for a, b in zip(got[3][k], fmap_g))
