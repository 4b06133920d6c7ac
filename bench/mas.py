"""Monotonic alignment search speed: the vectorised ``maximum_path`` against a plain Python double loop.

Run: ``python bench/mas.py [--batch 8] [--phones 60] [--frames 400] [--device cpu] [--threads 1]``.
Items get different lengths (the first item uses the full size). Prints the best time of each version,
the speed-up ratio and whether both found the same paths. The machine may be shared: timings are noisy.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from gpt_sovits.models.mas import maximum_path


def loop_maximum_path(ll: list[list[float]], n_phones: int, n_frames: int) -> list[int]:
    """VITS MAS on one item with nested Python loops over frames and phones; phone index of every frame."""
    value = [[-math.inf] * n_frames for _ in range(n_phones)]  # [P][T]
    value[0][0] = ll[0][0]
    for t in range(1, n_frames):
        for j in range(n_phones):
            stay = value[j][t - 1]
            advance = value[j - 1][t - 1] if j > 0 else -math.inf
            value[j][t] = ll[j][t] + (advance if advance > stay else stay)
    phone, frame_phone = n_phones - 1, [0] * n_frames
    for t in range(n_frames - 1, -1, -1):
        frame_phone[t] = phone
        # Move to the previous phone when forced (phone == t) or strictly better; ties keep the phone.
        if t > 0 and phone > 0 and (phone == t or value[phone - 1][t - 1] > value[phone][t - 1]):
            phone -= 1
    return frame_phone


def make_inputs(batch: int, n_phones: int, n_frames: int, dtype: torch.dtype, seed: int = 0):
    """Random log-likelihoods [B, P, T] and prefix masks; item lengths shrink down to ~half size."""
    gen = torch.Generator().manual_seed(seed)
    ll = torch.randn(batch, n_phones, n_frames, generator=gen, dtype=dtype)  # [B, P, T]
    shrink = torch.linspace(1.0, 0.5, batch, dtype=torch.float64)  # [B]
    phone_lengths = (shrink * n_phones).round().long().clamp(min=1)  # [B]
    frame_lengths = torch.maximum((shrink * n_frames).round().long(), phone_lengths)  # [B]
    phone_mask = torch.arange(n_phones) < phone_lengths[:, None]  # [B, P]
    frame_mask = torch.arange(n_frames) < frame_lengths[:, None]  # [B, T]
    return ll, phone_mask, frame_mask, phone_lengths.tolist(), frame_lengths.tolist()


def best_time(fn, repeat: int) -> float:
    """Smallest wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--phones", type=int, default=60)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--loop-repeat", type=int, default=2)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 = same as the single-threaded loop)"
    )
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    torch.set_num_threads(args.threads)

    ll, phone_mask, frame_mask, phone_lengths, frame_lengths = make_inputs(
        args.batch, args.phones, args.frames, getattr(torch, args.dtype)
    )
    device = torch.device(args.device)
    ll_dev, pm_dev, fm_dev = ll.to(device), phone_mask.to(device), frame_mask.to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def run_vectorised() -> torch.Tensor:
        out = maximum_path(ll_dev, pm_dev, fm_dev)
        sync()
        return out

    rows = ll.tolist()  # Python floats (double precision) for the loop version

    def run_loop() -> list[list[int]]:
        return [loop_maximum_path(rows[b], phone_lengths[b], frame_lengths[b]) for b in range(args.batch)]

    path = run_vectorised()  # warm-up (and CUDA start-up)
    t_vec = best_time(run_vectorised, args.repeat)
    t_loop = best_time(run_loop, args.loop_repeat)

    loop_paths = run_loop()
    path = path.cpu()
    agree = sum(
        path[b, :, : frame_lengths[b]].argmax(dim=0).tolist() == loop_paths[b] for b in range(args.batch)
    )
    print(
        f"MAS batch={args.batch} phones<={args.phones} frames<={args.frames} {args.dtype} on {device} "
        f"({torch.get_num_threads()} thread(s)): "
        f"vectorised {t_vec * 1e3:.1f} ms, python loop {t_loop * 1e3:.1f} ms, "
        f"speed-up x{t_loop / t_vec:.1f}; same path for {agree}/{args.batch} items"
    )


if __name__ == "__main__":
    main()
