"""Tests for gpt_sovits.models.mas: brute force, a plain double-loop reference, path properties, errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from gpt_sovits.models.mas import AlignmentError, maximum_path, path_to_durations


def _masks(phone_lengths: list[int], frame_lengths: list[int], n_phones: int, n_frames: int):
    """Prefix masks [B, P] and [B, T] (bool) from per-item lengths."""
    p = torch.tensor(phone_lengths)
    t = torch.tensor(frame_lengths)
    return torch.arange(n_phones) < p[:, None], torch.arange(n_frames) < t[:, None]


def _random_batch(gen: torch.Generator, lengths: list[tuple[int, int]], dtype=torch.float64):
    """Random [B, P, T] log-likelihoods padded with garbage, plus masks, for the given (phones, frames)."""
    n_phones = max(p for p, _ in lengths)
    n_frames = max(t for _, t in lengths)
    shape = (len(lengths), n_phones, n_frames)
    ll = torch.randn(shape, generator=gen, dtype=torch.float64)  # [B, P, T]
    # Padding holds large values: a correct implementation must not let them leak into real cells.
    padding = 50.0 * torch.randn(shape, generator=gen, dtype=torch.float64)
    phone_mask, frame_mask = _masks([p for p, _ in lengths], [t for _, t in lengths], n_phones, n_frames)
    real = phone_mask[:, :, None] & frame_mask[:, None, :]
    return torch.where(real, ll, padding).to(dtype), phone_mask, frame_mask


def _brute_force(ll: np.ndarray) -> tuple[float, list[list[int]]]:
    """Best score and every best duration vector of a [P, T] matrix, by enumerating all monotonic paths."""
    n_phones, n_frames = ll.shape
    best, winners = -math.inf, []
    for cuts in itertools.combinations(range(1, n_frames), n_phones - 1):
        bounds = (0, *cuts, n_frames)
        score = sum(float(ll[j, bounds[j] : bounds[j + 1]].sum()) for j in range(n_phones))
        durations = [bounds[j + 1] - bounds[j] for j in range(n_phones)]
        if score > best + 1e-12:
            best, winners = score, [durations]
        elif abs(score - best) <= 1e-12:
            winners.append(durations)
    return best, winners


def _loop_reference(ll: np.ndarray) -> list[int]:
    """VITS MAS on one [P, T] matrix with plain Python loops; returns the phone of every frame.

    Scalars keep ``ll``'s numpy dtype, so float32 inputs are summed in float32 like the tensor version.
    """
    n_phones, n_frames = ll.shape
    neg_inf = ll.dtype.type(-np.inf)
    value = [[neg_inf] * n_frames for _ in range(n_phones)]
    value[0][0] = ll[0, 0]
    for t in range(1, n_frames):
        for j in range(n_phones):
            stay = value[j][t - 1]
            advance = value[j - 1][t - 1] if j > 0 else neg_inf
            value[j][t] = ll[j, t] + max(stay, advance)
    phone, frame_phone = n_phones - 1, [0] * n_frames
    for t in range(n_frames - 1, -1, -1):
        frame_phone[t] = phone
        if t > 0 and phone > 0 and (phone == t or value[phone - 1][t - 1] > value[phone][t - 1]):
            phone -= 1
    return frame_phone


def _frame_phones(path: torch.Tensor, n_phones: int, n_frames: int) -> list[int]:
    """Phone index of each real frame of one [P, T] path (asserts exactly one phone per frame)."""
    real = path[:n_phones, :n_frames]
    assert torch.all(real.sum(dim=0) == 1), "every frame must belong to exactly one phone"
    return real.argmax(dim=0).tolist()


def test_matches_brute_force_on_small_random_batches():
    gen = torch.Generator().manual_seed(0)
    checked = 0
    for _ in range(40):
        lengths = []
        for _ in range(6):
            n_frames = int(torch.randint(1, 9, (1,), generator=gen))
            n_phones = int(torch.randint(1, min(n_frames, 5) + 1, (1,), generator=gen))
            lengths.append((n_phones, n_frames))
        ll, phone_mask, frame_mask = _random_batch(gen, lengths)
        path = maximum_path(ll, phone_mask, frame_mask)
        durations = path_to_durations(path)
        for b, (n_phones, n_frames) in enumerate(lengths):
            best, winners = _brute_force(ll[b, :n_phones, :n_frames].numpy())
            assert len(winners) == 1, "random continuous scores should have a unique best path"
            assert durations[b, :n_phones].tolist() == winners[0]
            assert float((ll[b] * path[b]).sum()) == pytest.approx(best, abs=1e-9)
            checked += 1
    assert checked == 240


def test_ties_reach_the_optimum_and_follow_the_vits_rule():
    """Integer scores make many paths tie: MAS must still be optimal and pick the same one as VITS."""
    gen = torch.Generator().manual_seed(1)
    for _ in range(60):
        n_frames = int(torch.randint(2, 9, (1,), generator=gen))
        n_phones = int(torch.randint(1, min(n_frames, 5) + 1, (1,), generator=gen))
        ll = torch.randint(-2, 1, (1, n_phones, n_frames), generator=gen).double()
        phone_mask, frame_mask = _masks([n_phones], [n_frames], n_phones, n_frames)
        path = maximum_path(ll, phone_mask, frame_mask)
        best, winners = _brute_force(ll[0].numpy())
        assert float((ll * path).sum()) == best
        assert path_to_durations(path)[0].tolist() in winners
        assert _frame_phones(path[0], n_phones, n_frames) == _loop_reference(ll[0].numpy())


def test_all_equal_scores_keep_the_current_phone_as_long_as_possible():
    # Every path ties; the rule "move only when forced or strictly better" backtracks along the last phone
    # until the remaining phones need one frame each: durations 1, ..., 1, T - P + 1.
    n_phones, n_frames = 4, 9
    phone_mask, frame_mask = _masks([n_phones], [n_frames], n_phones, n_frames)
    path = maximum_path(torch.zeros(1, n_phones, n_frames), phone_mask, frame_mask)
    assert path_to_durations(path)[0].tolist() == [1, 1, 1, n_frames - n_phones + 1]


def _assert_valid_path(path: torch.Tensor, lengths: list[tuple[int, int]]) -> None:
    """Structural checks of a [B, P, T] path against each item's (phones, frames)."""
    assert set(path.unique().tolist()) <= {0.0, 1.0}
    durations = path_to_durations(path)
    assert durations.dtype == torch.long
    for b, (n_phones, n_frames) in enumerate(lengths):
        assert path[b].sum() == n_frames, "padding cells must stay 0"
        phones = _frame_phones(path[b], n_phones, n_frames)
        assert phones[0] == 0 and phones[-1] == n_phones - 1
        assert all(step in (0, 1) for step in np.diff(phones)), "monotonic, one phone at a time"
        assert torch.all(durations[b, :n_phones] >= 1)
        assert torch.all(durations[b, n_phones:] == 0)
        assert int(durations[b].sum()) == n_frames


def test_path_properties_with_masks():
    gen = torch.Generator().manual_seed(2)
    lengths = [(1, 1), (1, 17), (5, 5), (12, 40), (30, 31), (7, 64), (20, 64), (3, 9)]
    ll, phone_mask, frame_mask = _random_batch(gen, lengths, dtype=torch.float32)
    path = maximum_path(ll, phone_mask, frame_mask)
    assert path.shape == ll.shape and path.dtype == torch.float32
    _assert_valid_path(path, lengths)


def test_minus_infinity_scores_still_give_a_valid_path():
    # -inf everywhere makes every comparison a tie; only the forced moves keep the path complete.
    lengths = [(4, 9), (7, 7), (2, 5)]
    phone_mask, frame_mask = _masks([p for p, _ in lengths], [t for _, t in lengths], 7, 9)
    path = maximum_path(torch.full((3, 7, 9), float("-inf")), phone_mask, frame_mask)
    _assert_valid_path(path, lengths)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_python_double_loop_on_larger_matrices(dtype):
    gen = torch.Generator().manual_seed(3)
    lengths = [(30, 200), (17, 120), (30, 31), (1, 50), (25, 200)]
    ll, phone_mask, frame_mask = _random_batch(gen, lengths, dtype=dtype)
    path = maximum_path(ll, phone_mask, frame_mask)
    assert path.dtype == dtype
    for b, (n_phones, n_frames) in enumerate(lengths):
        expected = _loop_reference(ll[b, :n_phones, :n_frames].numpy())
        assert _frame_phones(path[b], n_phones, n_frames) == expected


def test_padding_content_is_ignored():
    gen = torch.Generator().manual_seed(4)
    lengths = [(6, 20), (10, 15), (3, 30)]
    ll, phone_mask, frame_mask = _random_batch(gen, lengths)
    real = phone_mask[:, :, None] & frame_mask[:, None, :]
    clean = maximum_path(torch.where(real, ll, 0.0), phone_mask, frame_mask)
    for junk in (float("nan"), float("inf"), float("-inf"), 1e30):
        assert torch.equal(maximum_path(torch.where(real, ll, junk), phone_mask, frame_mask), clean)


def test_accepts_vits_mask_layout_and_numeric_masks():
    gen = torch.Generator().manual_seed(5)
    ll, phone_mask, frame_mask = _random_batch(gen, [(4, 10), (6, 8)])
    expected = maximum_path(ll, phone_mask, frame_mask)
    same = maximum_path(ll, phone_mask[:, None].float(), frame_mask[:, None].to(torch.int64))
    assert torch.equal(same, expected)


def test_equal_phones_and_frames_gives_the_diagonal():
    ll = torch.randn(1, 6, 6, generator=torch.Generator().manual_seed(6))
    phone_mask, frame_mask = _masks([6], [6], 6, 6)
    assert torch.equal(maximum_path(ll, phone_mask, frame_mask)[0], torch.eye(6))


def test_empty_batch():
    path = maximum_path(torch.zeros(0, 3, 4), torch.zeros(0, 3), torch.zeros(0, 4))
    assert path.shape == (0, 3, 4)
    path = maximum_path(torch.zeros(0, 0, 0), torch.zeros(0, 0), torch.zeros(0, 0))
    assert path.shape == (0, 0, 0)


def test_no_autograd_graph_and_works_inside_no_grad():
    gen = torch.Generator().manual_seed(7)
    ll, phone_mask, frame_mask = _random_batch(gen, [(5, 12), (3, 7)], dtype=torch.float32)
    ll.requires_grad_(True)
    path = maximum_path(ll, phone_mask, frame_mask)
    assert not path.requires_grad
    with torch.no_grad():
        assert torch.equal(maximum_path(ll, phone_mask, frame_mask), path)


@pytest.mark.parametrize(
    ("phone_lengths", "frame_lengths", "culprit", "innocent"),
    [
        ([3, 5], [8, 4], "item 1: 5 phones / 4 frames", "item 0"),
        ([0, 2], [5, 5], "item 0: 0 phones / 5 frames", "item 1"),
    ],
)
def test_infeasible_items_raise(phone_lengths, frame_lengths, culprit, innocent):
    phone_mask, frame_mask = _masks(phone_lengths, frame_lengths, 5, 8)
    with pytest.raises(AlignmentError, match="more phones than frames") as info:
        maximum_path(torch.randn(2, 5, 8), phone_mask, frame_mask)
    assert culprit in str(info.value)
    assert innocent not in str(info.value)


def test_malformed_inputs_raise():
    phone_mask, frame_mask = _masks([2], [4], 3, 4)
    with pytest.raises(AlignmentError, match="prefix"):
        maximum_path(torch.randn(1, 3, 4), torch.tensor([[True, False, True]]), frame_mask)
    with pytest.raises(AlignmentError, match="shape"):
        maximum_path(torch.randn(1, 3, 4), phone_mask, frame_mask[:, :3])
    with pytest.raises(AlignmentError, match="floating"):
        maximum_path(torch.zeros(1, 3, 4, dtype=torch.long), phone_mask, frame_mask)
    with pytest.raises(AlignmentError, match="floating"):
        maximum_path(torch.randn(3, 4), phone_mask, frame_mask)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype):
    gen = torch.Generator().manual_seed(8)
    lengths = [(30, 200), (60, 400), (1, 3), (45, 46), (12, 399)] * 3
    ll, phone_mask, frame_mask = _random_batch(gen, lengths, dtype=dtype)
    cpu = maximum_path(ll, phone_mask, frame_mask)
    cuda = maximum_path(ll.cuda(), phone_mask.cuda(), frame_mask.cuda())
    assert cuda.device.type == "cuda" and cuda.dtype == dtype
    assert torch.equal(cuda.cpu(), cpu)
