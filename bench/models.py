"""Model speed on this CPU against the original GPT-SoVITS figures (issue 3), in one command.

    python bench/models.py [--threads 2]

1. GPT decode (``bench/gpt_decode.py``): full v2 size, random weights, 50 phones, 75-code prompt, 250 new
   codes with EOS suppressed; tokens/s for float32 and bf16/fp16 weight tables, the ratio to the 39
   tokens/s the original implementation measured here, and a naive loop in the same process.
2. SoVITS decode (``bench/sovits_decode.py``): full v2 size, 10 s of audio; RTF of the upstream-structured
   reference path, the fast float32 path and the bf16 decoder, the ratio to the original RTF 0.27 and the
   waveform difference.
3. The machine's memory read bandwidth (a 1 GiB ``sum()``), to put the GPT figure against its limit:
   every token reads all 77.6 M float32 weights (310 MB).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
GPT_WEIGHTS = 77.6e6  # float32 weights read per decoded token (full v2 GPT)


def read_bandwidth(threads: int) -> float:
    """Best-of-5 bytes/s of summing a 1 GiB float32 tensor."""
    torch.set_num_threads(threads)
    x = torch.ones(256 * 1024 * 1024)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - start)
    return x.numel() * 4 / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    status = 0
    for script, extra in (("gpt_decode.py", ["--baseline"]), ("sovits_decode.py", [])):
        print(f"== {script}", flush=True)
        cmd = [sys.executable, str(HERE / script), "--threads", str(args.threads), *extra]
        status |= subprocess.run(cmd, check=False).returncode
    bandwidth = read_bandwidth(args.threads)
    limit = bandwidth / (GPT_WEIGHTS * 4)
    print(
        f"== memory read bandwidth {bandwidth / 1e9:.1f} GB/s with {args.threads} threads: the float32 GPT "
        f"cannot exceed {limit:.0f} tokens/s here (bf16/fp16 tables: {2 * limit:.0f})"
    )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
