"""SoVITS decode speed: full-size v2 generator, random weights, CPU, 10 s of audio from 250 codes.

Run: ``python bench/sovits_decode.py [--threads 2] [--codes 250] [--ref-seconds 5] [--repeat 5]``.

Compares three ways to run the same weights, interleaved so that load from other processes hits all of
them alike, and prints the best wall time, the real-time factor (RTF = seconds of compute per second of
audio) and the largest waveform difference from the reference path:

* ``reference``: weight norm recomputed on every call, ``[B, C, T]`` convolutions (upstream's structure);
* ``fast fp32``: ``prepare_for_inference()`` (weight norm folded, channels-last decoder);
* ``fast bf16``: the same with the HiFi-GAN decoder in bfloat16.
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import torch

from gpt_sovits.models.sovits import SoVITSConfig, SoVITSSynthesizer

# The original GPT-SoVITS implementation measured on the development machine (issue 3).
ORIGINAL_RTF = 0.27


def build_inputs(n_codes: int, ref_seconds: float, config: SoVITSConfig, seed: int = 0):
    """Random codes, phones (~12 per second) and a reference magnitude spectrogram."""
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, config.codebook_size, (1, 1, n_codes), generator=gen)
    seconds = n_codes * config.code_stride * config.hop_length / config.sampling_rate
    phones = torch.randint(0, config.spec.n_symbols, (1, max(1, int(12 * seconds))), generator=gen)
    ref_frames = int(ref_seconds * config.sampling_rate / config.hop_length)
    ref = torch.rand(1, config.spec_channels, ref_frames, generator=gen).pow(4) * 20
    return codes, phones, ref, seconds


def tune_glibc_malloc() -> None:
    """Serve big blocks from the heap and never trim it: reused activations stop costing page faults."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # glibc's mallopt parameter ids
    # 32 MB is glibc's ceiling for the mmap threshold on 64-bit; the decoder's largest activations are ~20 MB
    ok = [libc.mallopt(m_mmap_threshold, 32 << 20), libc.mallopt(m_trim_threshold, 1 << 30)]
    ok.append(libc.mallopt(m_top_pad, 64 << 20))
    if not all(ok):
        print("warning: mallopt refused a setting", ok)


def snr_db(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Signal-to-error ratio of ``other`` against ``reference`` in dB."""
    err = (other.float() - reference.float()).pow(2).mean().item()
    sig = reference.float().pow(2).mean().item()
    return math.inf if err == 0 else 10 * math.log10(sig / err)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--codes", type=int, default=250, help="semantic codes (25 Hz): 250 = 10 s")
    parser.add_argument("--ref-seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--version", default="v2")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: process CPU time, steadier than wall time on a busy machine (use with --threads 1)",
    )
    parser.add_argument(
        "--tune-malloc",
        action="store_true",
        help="keep freed memory in glibc's heap (mallopt) so large activations do not page-fault on every call",
    )
    args = parser.parse_args()
    if args.tune_malloc:
        tune_glibc_malloc()
    clock = time.perf_counter if args.clock == "wall" else time.process_time

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = SoVITSConfig.preset(args.version)
    reference = SoVITSSynthesizer(config, with_posterior=False).eval()
    fast = copy.deepcopy(reference).prepare_for_inference()
    fast_bf16 = copy.deepcopy(reference).prepare_for_inference(decoder_dtype=torch.bfloat16)
    models = {"reference": reference, "fast fp32": fast, "fast bf16": fast_bf16}
    codes, phones, ref, seconds = build_inputs(args.codes, args.ref_seconds, config)
    sv = [torch.randn(1, config.spec.sv_dim)] if config.spec.uses_sv else None

    def run(model: SoVITSSynthesizer) -> torch.Tensor:
        return model.decode(codes, phones, [ref], noise_scale=0.0, sv_emb=sv)

    outputs = {name: run(model) for name, model in models.items()}  # warm-up (and outputs to compare)
    best = dict.fromkeys(models, math.inf)
    for _ in range(args.repeat):
        for name, model in models.items():
            start = clock()
            run(model)
            best[name] = min(best[name], clock() - start)

    ref_out = outputs["reference"]
    print(
        f"SoVITS {args.version} decode, {seconds:.1f} s audio, ref {args.ref_seconds:.1f} s, "
        f"{args.threads} threads, {args.clock} clock, best of {args.repeat} (output peak {ref_out.abs().max().item():.4f})"
    )
    for name in models:
        diff = (outputs[name].float() - ref_out).abs().max().item()
        print(
            f"  {name:10s} {best[name]:7.3f} s  RTF {best[name] / seconds:.3f}  "
            f"speed-up {best['reference'] / best[name]:.2f}x  vs original RTF {ORIGINAL_RTF}: "
            f"{ORIGINAL_RTF / (best[name] / seconds):.2f}x  max|diff| {diff:.2e}  SNR {snr_db(ref_out, outputs[name]):.1f} dB"
        )


if __name__ == "__main__":
    main()
