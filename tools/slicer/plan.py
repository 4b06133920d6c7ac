"""Where to cut: from pauses (silence runs or VAD non-speech gaps) to a list of clip spans.

Everything here works on the analysis results only (RMS curve, gap list), never on audio, so it
runs the same for a 10-second and a 10-hour file and is easy to test.

Model. A *gap* is a run of analysis frames in which a cut is acceptable (silence in rms mode,
non-speech in vad mode). Each interior gap offers one *boundary*: where the clip before it ends and
the clip after it starts. Up to ``max_sil_kept`` of silence stays on each side; the middle of a
longer gap is dropped, and a gap of at most ``2 * max_sil_kept`` is cut at one point, the quietest
frame of its middle half. Silence before the first and after the last sound is trimmed the same
way. Gaps at least ``min_interval`` long are the preferred cut points ("pauses"); shorter ones
("short pauses") are used only when that avoids something worse; a stretch longer than
``max_length`` with no gap at all gets a *forced* boundary at its quietest point.

Which boundaries to use is chosen by dynamic programming over a cost: every clip must be at most
``max_length`` (hard); clips shorter than ``min_length``, long silences left inside a clip, cuts at
short pauses and (far more) forced cuts are penalised; each cut at a real pause is rewarded, longer
pauses a little more, so clips are cut at real pauses as often as the length limits allow (the
upstream GPT-SoVITS slicer likewise cuts at the first pause once ``min_length`` is reached).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tools.slicer.options import SliceOptions

# Costs of the plan objective (see the module docstring); only their order of magnitude matters.
PAUSE_REWARD = 1.0  # each cut at a pause >= min_interval (minus up to 0.5 for long pauses)
SHORT_PAUSE_COST = 5.0  # plus up to 5 more the shorter the pause
SHORT_CLIP_COST = 100.0
LONG_SILENCE_COST_PER_S = 50.0  # per second of a pause left inside a clip beyond 2 * max_sil_kept
FORCED_COST = 1000.0
_SHORT_PAUSE_MIN_MS = 100  # shorter silence runs are not trusted as cut points in rms mode
_QUIET_SMOOTH_FRAMES = 5  # moving average used to find the quietest point for a forced cut


@dataclass(frozen=True)
class Boundary:
    """A place where one clip may end (``end``) and the next begin (``start``), in samples."""

    end: int
    start: int
    cost: float
    kind: str  # "pause", "short_pause" or "forced"
    inside_cost: float = 0.0  # cost of NOT cutting here (the whole pause stays inside a clip)


@dataclass(frozen=True)
class Span:
    """A planned clip: samples [start, end) at the analysis rate."""

    start: int
    end: int
    forced_start: bool = False
    forced_end: bool = False
    short: bool = False


def silence_gaps(rms: np.ndarray, threshold_db: float) -> list[tuple[int, int]]:
    """Runs of frames whose RMS is below ``threshold_db`` dBFS: [(first, stop)] with stop exclusive."""
    silent = rms < 10.0 ** (threshold_db / 20.0)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], silent.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def nonspeech_gaps(speech: list[tuple[int, int]], n_samples: int, hop: int) -> list[tuple[int, int]]:
    """Frame runs outside the speech segments: frame ``j`` (sample ``j * hop``) must lie in a gap."""
    n_frames = n_samples // hop + 1
    gaps = []
    cursor = 0  # first sample not covered by speech
    for s, e in [*speech, (n_samples + hop, n_samples + hop)]:
        a = -(-cursor // hop)  # first frame at or after the gap's start
        b = min(n_frames, s // hop + 1) if s <= n_samples else n_frames
        if b > a:
            gaps.append((a, b))
        cursor = max(cursor, e)
    return gaps


def _argmin(rms: np.ndarray, a: int, b: int) -> int:
    """Frame of lowest RMS in [a, b) (the first one on ties)."""
    b = max(b, a + 1)
    return a + int(np.argmin(rms[a:b]))


def _pos(frame: int, hop: int, n_samples: int) -> int:
    return min(frame * hop, n_samples)


def _boundaries(
    gaps: list[tuple[int, int]], rms: np.ndarray, n_samples: int, opts: SliceOptions, vad: bool
) -> tuple[int, int, list[Boundary]] | None:
    """(head, tail, interior boundaries) from the gaps; None when the file has no sound at all.

    Cut points keep their distance from the sound: a clip ends at the quietest frame between
    ``max_sil_kept / 2`` and ``max_sil_kept`` after it (quiet word endings such as a final /s/
    often fall below the silence threshold), and a short gap is cut in its middle half.
    """
    hop, n_frames = opts.hop, rms.shape[0]
    keep = max(1, int(round(opts.max_sil_kept_ms / opts.hop_size_ms)))
    min_interval = int(round(opts.min_interval_ms / opts.hop_size_ms))
    min_short = 1 if vad else max(1, min(min_interval, int(round(_SHORT_PAUSE_MIN_MS / opts.hop_size_ms))))
    head, tail = 0, n_samples
    out: list[Boundary] = []
    for a, b in gaps:
        g = b - a
        if a == 0 and b >= n_frames:
            return None  # one gap covering everything: nothing to keep
        if a == 0:
            head = _pos(_argmin(rms, max(0, b - keep), b - min(keep, g) // 2), hop, n_samples)
        elif b >= n_frames:
            tail = _pos(_argmin(rms, a + min(keep, g) // 2, min(b, a + keep)), hop, n_samples)
        elif g >= min_short:
            if g >= min_interval:
                cost = -PAUSE_REWARD - 0.5 * min(g * opts.hop_size_ms, 2000) / 2000
                kind = "pause"
            else:
                cost = SHORT_PAUSE_COST * (2.0 - g / min_interval)
                kind = "short_pause"
            if g <= 2 * keep:
                p = _pos(_argmin(rms, a + g // 4, b - g // 4), hop, n_samples)
                out.append(Boundary(end=p, start=p, cost=cost, kind=kind))
            else:
                end = _pos(_argmin(rms, a + keep // 2, a + keep), hop, n_samples)
                start = _pos(_argmin(rms, b - keep, b - keep // 2), hop, n_samples)
                inside = LONG_SILENCE_COST_PER_S * (g - 2 * keep) * opts.hop_size_ms / 1000
                out.append(Boundary(end=end, start=start, cost=cost, kind=kind, inside_cost=inside))
    return head, tail, out


def _quietest(rms: np.ndarray, lo: int, hi: int) -> int:
    """Frame in [lo, hi] with the lowest short-term average RMS, refined to the lowest single frame."""
    w = _QUIET_SMOOTH_FRAMES
    a, b = max(0, lo - w), min(rms.shape[0], hi + w + 1)
    smooth = np.convolve(rms[a:b], np.ones(2 * w + 1) / (2 * w + 1), mode="same")
    centre = lo + int(np.argmin(smooth[lo - a : hi - a + 1]))
    return _argmin(rms, max(lo, centre - w), min(hi, centre + w) + 1)


def _add_forced(
    head: int, tail: int, bounds: list[Boundary], rms: np.ndarray, min_len: int, max_len: int, hop: int
) -> list[Boundary]:
    """Insert forced boundaries so that no stretch between neighbouring cut options exceeds ``max_len``."""
    out: list[Boundary] = []
    starts = [head] + [b.start for b in bounds]
    ends = [b.end for b in bounds] + [tail]
    for k, (s, e) in enumerate(zip(starts, ends)):
        while e - s > max_len:
            lo = -(-(s + min_len) // hop)
            hi = max(lo, min(e - min_len, s + max_len) // hop)
            p = _quietest(rms, lo, min(hi, rms.shape[0] - 1)) * hop
            out.append(Boundary(end=p, start=p, cost=FORCED_COST, kind="forced"))
            s = p
        if k < len(bounds):
            out.append(bounds[k])
    return out


def plan_cost(
    head: int, tail: int, bounds: list[Boundary], chosen: list[int], min_len: int, max_len: int
) -> float:
    """Objective value of cutting at the boundaries with indices ``chosen`` (sorted); inf if infeasible."""
    total = sum(bounds[i].cost for i in chosen)
    starts = [head] + [bounds[i].start for i in chosen]
    ends = [bounds[i].end for i in chosen] + [tail]
    edges = [-1, *chosen, len(bounds)]
    for k, (s, e) in enumerate(zip(starts, ends)):
        if e - s > max_len:
            return math.inf
        total += SHORT_CLIP_COST if e - s < min_len else 0.0
        inside = range(edges[k] + 1, edges[k + 1])
        total += sum(bounds[i].inside_cost for i in inside)
    return total


def choose_cuts(head: int, tail: int, bounds: list[Boundary], min_len: int, max_len: int) -> list[int]:
    """Indices of the boundaries minimising :func:`plan_cost` (dynamic programming, O(n * window))."""
    n = len(bounds)
    # Node 0 is the file start, nodes 1..n the boundaries, node n + 1 the file end.
    starts = [head] + [b.start for b in bounds]
    ends = [b.end for b in bounds] + [tail]
    # inside[k]: summed cost of leaving bounds[:k] uncut, so a piece's share is a difference.
    inside = np.concatenate([[0.0], np.cumsum([b.inside_cost for b in bounds])])
    best = [math.inf] * (n + 2)
    back = [-1] * (n + 2)
    best[0] = 0.0
    for j in range(1, n + 2):
        end = ends[j - 1]
        for i in range(j - 1, -1, -1):
            length = end - starts[i]
            if length > max_len:
                break  # earlier starts only make the clip longer
            if best[i] == math.inf:
                continue
            cost = best[i] + (bounds[i - 1].cost if i else 0.0)
            cost += SHORT_CLIP_COST if length < min_len else 0.0
            cost += float(inside[j - 1] - inside[i])
            if cost < best[j]:
                best[j], back[j] = cost, i
    chosen = []
    node = back[n + 1]
    while node > 0:
        chosen.append(node - 1)
        node = back[node]
    return chosen[::-1]


def plan_spans(
    rms: np.ndarray,
    gaps: list[tuple[int, int]],
    n_samples: int,
    opts: SliceOptions,
) -> list[Span]:
    """Clip spans for a file of ``n_samples`` samples, given its RMS curve and its cut-acceptable gaps."""
    found = _boundaries(gaps, rms, n_samples, opts, vad=opts.mode == "vad")
    if found is None:
        return []
    head, tail, bounds = found
    if tail <= head:
        return []
    min_len, max_len = opts.samples(opts.min_length_ms), opts.samples(opts.max_length_ms)
    bounds = _add_forced(head, tail, bounds, rms, min_len, max_len, opts.hop)
    chosen = [bounds[i] for i in choose_cuts(head, tail, bounds, min_len, max_len)]
    starts = [(head, False)] + [(b.start, b.kind == "forced") for b in chosen]
    ends = [(b.end, b.kind == "forced") for b in chosen] + [(tail, False)]
    return [
        Span(start=s, end=e, forced_start=fs, forced_end=fe, short=e - s < min_len)
        for (s, fs), (e, fe) in zip(starts, ends)
    ]
