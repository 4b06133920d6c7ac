"""Monotonic alignment search (MAS), the hard phone-to-frame aligner of VITS / GPT-SoVITS training.

Given a batched log-likelihood ``log_likelihood[b, j, t]`` of frame ``t`` being produced by phone ``j``,
:func:`maximum_path` finds, for every batch item, the monotonic alignment with the largest summed
log-likelihood:

* every frame belongs to exactly one phone;
* every phone gets at least one frame;
* phones advance by at most one per frame (never backwards, never skipping a phone);
* the path starts at (phone 0, frame 0) and ends at (last phone, last frame) of the item's own lengths.

The recurrence is the one of VITS' ``monotonic_align``::

    value[j, t] = ll[j, t] + max(value[j, t - 1], value[j - 1, t - 1])

and the backtrack starts at the item's last phone and last frame and steps from frame ``t`` to
``t - 1``, moving to phone ``j - 1`` when ``j == t`` (the remaining phones need those frames) or when
``value[j - 1, t - 1] > value[j, t - 1]``. A tie (``==``) keeps the current phone, exactly like VITS' strict
``value[j, t-1] < value[j-1, t-1]`` test, so paths agree with the VITS Cython kernel cell for cell.

Everything is a tensor op over ``[B, phones]`` per frame: the loop over frames is the only Python loop
(the recurrence is sequential in time); there is no loop over batch items or phones. Works on any device
and any floating dtype (float32 and float64 are tested) and never builds an autograd graph.

Memory: besides the [B, P, T] output, the search keeps a value table in the input dtype, one bool and
one int64 entry per cell (about 13 bytes per cell for float32), freed when it returns.
"""

from __future__ import annotations

import torch

from gpt_sovits.errors import GPTSoVITSError

__all__ = ["AlignmentError", "maximum_path", "path_to_durations"]


class AlignmentError(GPTSoVITSError):
    """The inputs admit no monotonic alignment (e.g. more phones than frames) or are malformed."""


def _lengths_from_mask(mask: torch.Tensor, name: str, batch: int, size: int) -> torch.Tensor:
    """Validate a prefix mask of shape [B, L] (or VITS-style [B, 1, L]) and return its lengths [B] (long)."""
    if mask.dim() == 3 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if mask.shape != (batch, size):
        raise AlignmentError(
            f"{name} has shape {tuple(mask.shape)} but the log-likelihood needs [{batch}, {size}] "
            f"(or [{batch}, 1, {size}]); pass one row of 0/1 (or True/False) per batch item."
        )
    keep = mask != 0  # [B, L]
    lengths = keep.sum(dim=1)  # [B]
    # Padding must be at the end: MAS aligns the first ``length`` entries, holes in the middle make no sense.
    prefix = torch.arange(size, device=mask.device) < lengths[:, None]  # [B, L]
    if not torch.equal(keep, prefix):
        raise AlignmentError(
            f"{name} must mark a prefix of each row (ones first, then zeros); "
            "build it from lengths, e.g. torch.arange(L) < lengths[:, None]."
        )
    return lengths


def _check_feasible(phone_lengths: torch.Tensor, frame_lengths: torch.Tensor) -> None:
    """Raise :class:`AlignmentError` naming the items that have no phones or more phones than frames."""
    bad = (phone_lengths < 1) | (phone_lengths > frame_lengths)  # [B]
    if bool(bad.any()):
        items = bad.nonzero().flatten().tolist()
        details = ", ".join(
            f"item {i}: {int(phone_lengths[i])} phones / {int(frame_lengths[i])} frames" for i in items[:5]
        )
        more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
        raise AlignmentError(
            "No monotonic alignment exists when an item has no phones or more phones than frames "
            f"({details}{more}). Drop those utterances, or check that the text and audio belong together "
            "and that the spectrogram hop length is right."
        )


def _forward(ll_tbp: torch.Tensor) -> torch.Tensor:
    """Run the DP over frames; return the backtrack decisions ``move[t, b, j]`` [T, B, P] (bool).

    ``move[t, b, j]`` is ``value[j-1, t-1] > value[j, t-1]``: stepping back from frame t, phone j should
    come from phone j-1 (row 0 is unused and False).
    """
    n_frames, batch, n_phones = ll_tbp.shape
    # Column 0 is a fixed -inf "phone -1": the prev-phone view is then a plain slice of the same table,
    # so no shifted copy is built per frame. Frame 0 can only be phone 0; later phones start unreachable.
    value = torch.full(
        (n_frames, batch, n_phones + 1), float("-inf"), dtype=ll_tbp.dtype, device=ll_tbp.device
    )  # [T, B, 1 + P]
    value[0, :, 1] = ll_tbp[0, :, 0]
    same_phone = value[:, :, 1:].unbind(0)  # T views [B, P]: value[j, t]
    prev_phone = value[:, :, :-1].unbind(0)  # T views [B, P]: value[j-1, t]
    steps = ll_tbp.unbind(0)  # T views [B, P]
    # Two kernels per frame writing into preallocated rows: at these sizes the per-call overhead dominates.
    for t in range(1, n_frames):
        torch.maximum(same_phone[t - 1], prev_phone[t - 1], out=same_phone[t])
        same_phone[t].add_(steps[t])
    move = torch.zeros((n_frames, batch, n_phones), dtype=torch.bool, device=ll_tbp.device)  # [T, B, P]
    torch.gt(value[:-1, :, :-1], value[:-1, :, 1:], out=move[1:])  # all decisions in one pass
    return move


def _backtrack(move: torch.Tensor, phone_lengths: torch.Tensor, frame_lengths: torch.Tensor) -> torch.Tensor:
    """Walk back from each item's (last phone, last frame); return the phone of every frame [B, T] (long).

    Frames past an item's length keep its last phone; the caller masks them out. ``move`` is modified.
    Uses a temporary int64 table of B * P * T entries (8 bytes per cell).
    """
    n_frames, batch, n_phones = move.shape
    device = move.device
    # Fold every rule into the table once so that each frame costs a single lookup:
    # at phone j == t the remaining phones need all remaining frames (forced move); phone 0 never moves;
    # frames past an item's end do not move (the walk starts there at the item's last phone).
    diag = torch.arange(min(n_frames, n_phones), device=device)
    move[diag, :, diag] = True
    move[:, :, 0] = False  # a guard only: the comparison with the -inf "phone -1" is already False
    active = torch.arange(n_frames, device=device)[:, None] < frame_lengths[None, :]  # [T, B]
    move &= active[:, :, None]
    # Cells are numbered flat (b * P + j); ``previous[t, cell]`` is the cell the walk visits at frame t-1
    # when it is at ``cell`` at frame t, so one ``take`` per frame advances every item at once.
    cells = torch.arange(batch * n_phones, device=device)  # [B * P]
    previous = (cells - move.reshape(n_frames, batch * n_phones).long()).unbind(0)  # T views [B * P]
    visited = torch.empty((n_frames, batch), dtype=torch.long, device=device)  # [T, B] flat cell per frame
    rows = visited.unbind(0)
    torch.add(torch.arange(batch, device=device) * n_phones, phone_lengths - 1, out=rows[-1])
    for t in range(n_frames - 1, 0, -1):
        torch.take(previous[t], rows[t], out=rows[t - 1])
    return (visited % n_phones).T  # [B, T] phone index


@torch.no_grad()
def maximum_path(
    log_likelihood: torch.Tensor, phone_mask: torch.Tensor, frame_mask: torch.Tensor
) -> torch.Tensor:
    """Most likely monotonic phone-to-frame alignment of every batch item (VITS MAS).

    Args:
        log_likelihood: [B, P, T] floating tensor; ``log_likelihood[b, j, t]`` scores frame ``t`` as
            belonging to phone ``j``. Entries outside an item's lengths are ignored (they may hold any
            value, even NaN or inf).
        phone_mask: [B, P] (or [B, 1, P], the VITS ``x_mask`` layout), bool or 0/1 numbers; ones mark each
            item's real phones and must come first (a prefix per row).
        frame_mask: [B, T] (or [B, 1, T], the VITS ``y_mask`` layout), likewise for frames.

    Returns:
        [B, P, T] tensor with the dtype and device of ``log_likelihood``, 1.0 where frame ``t`` is assigned
        to phone ``j`` and 0.0 elsewhere (all padding cells are 0). It can be used directly as the hard
        attention of VITS (``attn``); :func:`path_to_durations` turns it into per-phone frame counts.

    Raises:
        AlignmentError: a mask has the wrong shape or is not a prefix, ``log_likelihood`` is not a
            floating 3-D tensor, or an item has no phones or more phones than frames (no alignment
            exists; checked before any work is done).

    Ties between equally good predecessors keep the current phone (same rule as VITS), so the result is
    deterministic. Runs under ``torch.no_grad`` by itself; the path carries no gradient.
    """
    if log_likelihood.dim() != 3 or not log_likelihood.is_floating_point():
        raise AlignmentError(
            f"log_likelihood must be a floating [B, phones, frames] tensor, got {log_likelihood.dtype} "
            f"with shape {tuple(log_likelihood.shape)}."
        )
    batch, n_phones, n_frames = log_likelihood.shape
    phone_lengths = _lengths_from_mask(phone_mask.to(log_likelihood.device), "phone_mask", batch, n_phones)
    frame_lengths = _lengths_from_mask(frame_mask.to(log_likelihood.device), "frame_mask", batch, n_frames)
    _check_feasible(phone_lengths, frame_lengths)
    if batch == 0:  # nothing to align (and the DP below needs at least one phone and frame)
        return torch.zeros_like(log_likelihood, memory_format=torch.contiguous_format)

    # Frame-major, contiguous copy: each DP step then reads one contiguous [B, P] slab.
    ll_tbp = log_likelihood.detach().permute(2, 0, 1).contiguous()  # [T, B, P]
    move = _forward(ll_tbp)  # [T, B, P]
    frame_phone = _backtrack(move, phone_lengths, frame_lengths)  # [B, T]
    phones = torch.arange(n_phones, device=log_likelihood.device)  # [P]
    path = phones[None, :, None] == frame_phone[:, None, :]  # [B, P, T]
    frame_keep = torch.arange(n_frames, device=log_likelihood.device) < frame_lengths[:, None]  # [B, T]
    return (path & frame_keep[:, None, :]).to(log_likelihood.dtype)


def path_to_durations(path: torch.Tensor) -> torch.Tensor:
    """Frames per phone of a [B, P, T] 0/1 path (as returned by :func:`maximum_path`): [B, P] long.

    Padded phones get 0; each item's durations sum to its number of frames.
    """
    return (path != 0).sum(dim=-1)  # [B, P]
