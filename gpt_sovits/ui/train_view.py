"""What the Train tab reads, without gradio: experiment folders, run logs, evaluation reports and jobs.

The WebUI may not import ``gpt_sovits.training`` or ``gpt_sovits.evaluation``: it starts them as CLI jobs
and reads the files they write (layout in :mod:`gpt_sovits.training.experiment`)::

    logs/NAME/manifest.json, items.jsonl, qa.jsonl
    logs/NAME/{sovits,gpt}/progress.jsonl, config.json, checkpoints/*.pth|*.ckpt
    logs/NAME/eval/report.json

Every reader tolerates missing files and torn last lines (a run may be writing them right now).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpt_sovits.jobs import JobStatus
from gpt_sovits.registry.layout import item_present, pretrained_item

TRAIN_MODULE = "gpt_sovits.training"
EVAL_MODULE = "gpt_sovits.evaluation"
BASES = ("v2", "v2Pro", "v2ProPlus")
# The pretrained GPT, SoVITS G and SoVITS D of each base (as training's prepare uses them) plus the encoders.
BASE_KEYS: dict[str, tuple[str, ...]] = {
    "v2": ("gpt_v2", "sovits_v2_g", "sovits_v2_d", "hubert"),
    "v2Pro": ("gpt_v2pro", "sovits_v2pro_g", "sovits_v2pro_d", "hubert", "sv"),
    "v2ProPlus": ("gpt_v2pro", "sovits_v2proplus_g", "sovits_v2proplus_d", "hubert", "sv"),
}
CKPT_SUFFIX = {"gpt": ".ckpt", "sovits": ".pth"}
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
REF_MIN_S, REF_MAX_S = 3.0, 10.0  # the reference window registration and the engine use
# The fixed sentence every checkpoint speaks, so that samples of different checkpoints compare.
SAMPLE_TEXT = {
    "en": "The quick brown fox jumps over the lazy dog, and then it takes a nap.",
    "zh": "今天天气很好，我们一起去公园散步吧。",
    "ja": "今日はとてもいい天気なので、公園を散歩しましょう。",
    "ko": "오늘은 날씨가 좋아서 공원에 산책하러 가요.",
    "yue": "今日天氣好好，我哋一齊去公園散步啦。",
}
SAMPLE_SEED = 1234
_EPOCH_STEP = re.compile(r"(?:^|[-_])e(\d+)(?:[-_]s(\d+))?$")  # NAME-e15.ckpt, NAME_e8_s96.pth


# ----------------------------------------------------------------------------- readers
def _parse(text: str) -> dict | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def read_json(path: Path) -> dict | None:
    """A JSON object from ``path``, or None when it is missing or unreadable."""
    try:
        return _parse(Path(path).read_text(encoding="utf-8"))
    except OSError:
        return None


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a ``.jsonl`` file (unreadable lines, e.g. a torn last one, are skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [row for row in map(_parse, lines) if row is not None]


# ----------------------------------------------------------------------------- the form
@dataclass(frozen=True)
class TrainForm:
    """The Train tab's form as plain values (numbers as the page sends them: floats or None)."""

    exp: str
    list_path: str | None
    base: str = "v2"
    sovits_epochs: float | None = 8
    gpt_epochs: float | None = 15
    batch: float | None = 0  # 0 or empty: from free memory
    precision: str = "auto"
    min_items: float | None = 100
    save_every: float | None = 0  # 0 or empty: the trainers' defaults (SoVITS 4, GPT 5)
    qa: bool = True
    voice: str | None = ""
    consent: str | None = ""

    def argv(self, exp: str, voice: str, device: str) -> list[str]:
        """The ``python -m gpt_sovits.training`` arguments of this form (checked names passed in)."""
        n = {k: int(getattr(self, k) or 0) for k in ("sovits_epochs", "gpt_epochs", "batch", "min_items")}
        args = ["run", "--list", str(Path(str(self.list_path).strip()).expanduser()), "--exp", exp]
        args += ["--base", self.base, "--device", device, "--precision", self.precision]
        args += ["--sovits-epochs", str(n["sovits_epochs"]), "--gpt-epochs", str(n["gpt_epochs"])]
        args += ["--min-epoch-items", str(n["min_items"])]
        args += ["--batch-size", str(n["batch"])] if n["batch"] > 0 else []
        args += ["--save-every", str(int(self.save_every))] if (self.save_every or 0) > 0 else []
        args += ["--voice", voice, "--consent", str(self.consent).strip()]
        return [*args, "--qa" if self.qa else "--no-qa"]


# ----------------------------------------------------------------------------- base models and devices
def base_installed(pretrained_dir: Path, base: str) -> bool:
    """Whether every pretrained file fine-tuning from ``base`` needs is in place."""
    return all(item_present(pretrained_dir, pretrained_item(k)) for k in BASE_KEYS[base])


def default_batch_size(device: str = "auto") -> int:
    """A starting batch size for the device: CUDA, half the GPU's memory in GiB (upstream's rule), 1-32;
    CPU, a quarter of the RAM in GiB, at most 4 (larger CPU batches make steps slower, not training faster).
    """
    import psutil

    from gpt_sovits.device import choose_device

    try:
        choice = choose_device(device)
    except (RuntimeError, ValueError):
        choice = choose_device("cpu")
    if choice.is_cuda:
        import torch

        gib = torch.cuda.get_device_properties(choice.device).total_memory / 2**30
        return max(1, min(32, int(gib // 2)))
    return max(1, min(4, int(psutil.virtual_memory().total / 2**30 // 4)))


# ----------------------------------------------------------------------------- jobs
def job_argument(status: JobStatus, flag: str) -> str | None:
    """The value after ``flag`` in a job's command line."""
    argv = list(status.argv)
    return argv[argv.index(flag) + 1] if flag in argv[:-1] else None


def job_kind(status: JobStatus) -> str | None:
    """ "run" (a whole fine-tune), "eval", "register" or None (not a job of this tab)."""
    argv = list(status.argv)
    if EVAL_MODULE in argv:
        return "eval"
    command = (
        argv[argv.index(TRAIN_MODULE) + 1 : argv.index(TRAIN_MODULE) + 2] if TRAIN_MODULE in argv else []
    )
    return command[0] if command and command[0] in ("run", "register") else None


def latest_job(statuses: Iterable[JobStatus], kind: str, exp: str | None = None) -> JobStatus | None:
    """The newest job of ``kind`` (of experiment ``exp`` when given); a running one comes first."""
    mine = [s for s in statuses if job_kind(s) == kind and (exp is None or job_argument(s, "--exp") == exp)]
    running = [s for s in mine if not s.finished]
    pool = running or mine
    return max(pool, key=lambda s: (s.created_at, s.id)) if pool else None


def stage_of(events: Sequence[dict]) -> tuple[int, int, str] | None:
    """(stage, stages, name) of the newest event that carries them."""
    for event in reversed(events):
        if isinstance(event.get("stage"), int) and isinstance(event.get("stages"), int):
            return event["stage"], event["stages"], str(event.get("stage_name") or "")
    return None


def voice_of(events: Sequence[dict]) -> tuple[str, str] | None:
    """(name, folder) of the voice a job added to the library."""
    for event in reversed(events):
        if event.get("event") == "voice" and event.get("name"):
            return str(event["name"]), str(event.get("folder") or "")
        if event.get("event") == "done" and event.get("kind") == "register" and event.get("voice"):
            return str(event["voice"]), str(event.get("folder") or "")
    return None


# ----------------------------------------------------------------------------- losses
def loss_points(exp_root: Path, kind: str) -> dict[str, list[tuple[int, float]]]:
    """Series name -> [(step, value)] from ``kind``'s progress.jsonl, one value per step (a resumed run
    repeats steps after a crash: the newest value wins), in step order. GPT: its loss (and DPO) only."""
    by_step: dict[int, dict[str, float]] = {}
    for event in read_jsonl(Path(exp_root) / kind / "progress.jsonl"):
        if event.get("event") != "progress" or not isinstance(event.get("losses"), dict):
            continue
        if isinstance(step := event.get("step"), int):
            losses = event["losses"].items()
            by_step[step] = {
                k: float(v) for k, v in losses if isinstance(v, (int, float)) and math.isfinite(v)
            }
    series: dict[str, list[tuple[int, float]]] = {}
    for step in sorted(by_step):
        for name, value in by_step[step].items():
            if kind == "gpt" and name not in ("loss", "dpo"):
                continue  # ce repeats loss; acc and grad_norm have other scales
            series.setdefault(name, []).append((step, value))
    return series


def thin(points: list[tuple[int, float]], max_points: int) -> list[tuple[int, float]]:
    """At most ``max_points`` points: means of consecutive buckets, each at its last step."""
    size = max(1, math.ceil(len(points) / max_points))
    chunks = [points[i : i + size] for i in range(0, len(points), size)]
    return [(c[-1][0], sum(v for _, v in c) / len(c)) for c in chunks]


def loss_frame(exp_root: Path, kind: str, max_points: int = 300):
    """A pandas DataFrame (step, value, series) for a line plot of ``kind``'s losses."""
    import pandas as pd

    rows = [
        (step, value, name)
        for name, points in loss_points(exp_root, kind).items()
        for step, value in thin(points, max_points)
    ]
    return pd.DataFrame(rows, columns=["step", "value", "series"])


# ----------------------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class Checkpoint:
    """One saved official-format checkpoint of a run."""

    kind: str  # "gpt" or "sovits"
    epoch: int | None
    step: int | None
    path: Path

    @property
    def label(self) -> str:
        return f"{'GPT' if self.kind == 'gpt' else 'SoVITS'} e{self.epoch} · {self.path.name}"

    def row(self) -> list[Any]:
        """(kind, epoch, step, file) for the checkpoint table."""
        return [
            self.kind,
            "" if self.epoch is None else self.epoch,
            "" if self.step is None else self.step,
            self.path.name,
        ]


def _order(path: Path) -> tuple[int, int, str]:
    m = _EPOCH_STEP.search(path.stem)
    return (-1, -1, path.name) if m is None else (int(m.group(1)), int(m.group(2) or 0), path.name)


def checkpoints(exp_root: Path, kind: str | None = None) -> list[Checkpoint]:
    """Saved checkpoints (SoVITS first, then GPT, each oldest first); a step missing from a file name is
    taken from the run's checkpoint events."""
    out = []
    for k in (kind,) if kind else ("sovits", "gpt"):
        folder = Path(exp_root) / k / "checkpoints"
        files = [p for p in folder.glob(f"*{CKPT_SUFFIX[k]}") if p.is_file()] if folder.is_dir() else []
        steps = {
            Path(str(e.get("path"))).name: e.get("step")
            for e in read_jsonl(Path(exp_root) / k / "progress.jsonl")
            if e.get("event") == "checkpoint"
        }
        for path in sorted(files, key=_order):
            m = _EPOCH_STEP.search(path.stem)
            epoch = int(m.group(1)) if m else None
            step = int(m.group(2)) if m and m.group(2) else steps.get(path.name)
            out.append(Checkpoint(k, epoch, step if isinstance(step, int) else None, path))
    return out


# ----------------------------------------------------------------------------- reference and samples
def experiment_language(exp_root: Path) -> str | None:
    """The most common language of the prepared clips."""
    langs = [str(r.get("lang")) for r in read_jsonl(Path(exp_root) / "items.jsonl") if r.get("lang")]
    return max(sorted(set(langs)), key=langs.count) if langs else None


def reference_clip(exp_root: Path) -> dict:
    """The clip registration would use as the reference (3-10 s, not flagged by QA, most words, closest to
    6 s; its source file must exist): the items.jsonl row. ValueError when there is none."""
    exp_root = Path(exp_root)
    flagged = {str(r.get("id")) for r in read_jsonl(exp_root / "qa.jsonl") if r.get("flagged")}
    items = [
        r
        for r in read_jsonl(exp_root / "items.jsonl")
        if str(r.get("text") or "").strip()
        and r.get("id") not in flagged
        and Path(str(r.get("audio") or "")).is_file()
    ]
    pool = [r for r in items if REF_MIN_S <= float(r.get("seconds") or 0) <= REF_MAX_S] or items
    if not pool:
        raise ValueError(
            f"Experiment {exp_root.name!r} has no prepared clip whose audio still exists to use as the "
            "reference; prepare the dataset again (start the training with its list)."
        )

    def richness(r: dict) -> tuple[int, float]:
        text = str(r["text"])
        words = len(text) if r.get("lang") == "zh" else len(text.split())
        return words, -abs(float(r.get("seconds") or 0) - 6.0)

    return max(pool, key=richness)


def sample_pair(exp_root: Path, chosen: Path) -> tuple[Path, Path]:
    """(GPT, SoVITS) for a sample of ``chosen``: it plus the newest checkpoint of the other kind (the
    experiment's base model when that kind has none yet)."""
    chosen = Path(chosen)
    kind = "gpt" if chosen.suffix == ".ckpt" else "sovits"
    if not chosen.is_file():
        raise FileNotFoundError(f"The checkpoint {chosen} no longer exists; pick another one.")
    other = "sovits" if kind == "gpt" else "gpt"
    found = checkpoints(exp_root, other)
    if found:
        partner = found[-1].path
    else:
        manifest = read_json(Path(exp_root) / "manifest.json") or {}
        partner = Path(str(manifest.get(f"base_{other}") or ""))
        if not partner.is_file():
            raise FileNotFoundError(
                f"There is no {other.upper()} checkpoint and the base model {partner} is missing."
            )
    return (chosen, partner) if kind == "gpt" else (partner, chosen)


def sample_text(lang: str | None) -> str:
    """The fixed sentence samples speak in ``lang`` (English for other languages)."""
    return SAMPLE_TEXT.get(lang or "en", SAMPLE_TEXT["en"])


# ----------------------------------------------------------------------------- evaluation report
def read_report(exp_root: Path) -> dict | None:
    """``eval/report.json`` when it exists and has pairs."""
    report = read_json(Path(exp_root) / "eval" / "report.json")
    return report if report and isinstance(report.get("pairs"), list) and report["pairs"] else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def eval_rows(report: dict | None) -> list[list[Any]]:
    """Rows (best mark, GPT file, SoVITS file, error rate, similarity) of the evaluation table."""
    if not report:
        return []
    rows = []
    for k, pair in enumerate(report["pairs"]):
        scores = [_number(pair.get("mean_error")), _number(pair.get("mean_similarity"))]
        names = [Path(str(pair.get(key))).name for key in ("gpt", "sovits")]
        mark = "★" if k == report.get("best") else ""
        rows.append([mark, *names, *(round(v, 3) if v is not None else "" for v in scores)])
    return rows


def best_pair(report: dict | None) -> dict | None:
    """The suggested pair of a report (its ``pairs`` entry), or None."""
    if not report or not isinstance(report.get("best"), int):
        return None
    pairs = report["pairs"]
    return pairs[report["best"]] if 0 <= report["best"] < len(pairs) else None


def best_audio(report: dict | None) -> Path | None:
    """The first sentence the suggested pair spoke in the evaluation, when the file exists."""
    pair = best_pair(report)
    sentences = (pair or {}).get("sentences") or []
    audio = Path(str(sentences[0].get("audio"))) if sentences and isinstance(sentences[0], dict) else None
    return audio if audio is not None and audio.is_file() else None


def pair_choices(report: dict | None, latest: str = "latest") -> list[tuple[str, str]]:
    """(label, value) choices for "add to voice library": each evaluated pair ("pair:N", the suggested one
    first), then the latest checkpoints ("latest", labelled ``latest``)."""
    choices = []
    for k, pair in enumerate((report or {}).get("pairs") or []):
        mark = "★ " if report.get("best") == k else ""
        names = f"{Path(str(pair.get('gpt'))).name} + {Path(str(pair.get('sovits'))).name}"
        choices.append((f"{mark}{names}", f"pair:{k}"))
    if report and isinstance(report.get("best"), int):
        choices.sort(key=lambda c: c[1] != f"pair:{report['best']}")
    return [*choices, (latest, "latest")]


def resolve_pair(exp_root: Path, choice: str | None) -> tuple[Path, Path]:
    """The (GPT, SoVITS) files of a :func:`pair_choices` value; FileNotFoundError when they are gone."""
    if choice and choice.startswith("pair:"):
        pairs = (read_report(exp_root) or {}).get("pairs") or []
        index = int(choice.split(":", 1)[1])
        if index >= len(pairs):
            raise FileNotFoundError("The evaluation report changed; pick the pair again.")
        gpt, sovits = Path(str(pairs[index]["gpt"])), Path(str(pairs[index]["sovits"]))
    else:
        gpts, sovits_found = checkpoints(exp_root, "gpt"), checkpoints(exp_root, "sovits")
        if not gpts or not sovits_found:
            raise FileNotFoundError(
                f"Experiment {Path(exp_root).name!r} needs a GPT and a SoVITS checkpoint; train it first."
            )
        gpt, sovits = gpts[-1].path, sovits_found[-1].path
    if missing := [p for p in (gpt, sovits) if not p.is_file()]:
        raise FileNotFoundError(
            f"The checkpoint {missing[0]} no longer exists; evaluate again or pick another."
        )
    return gpt, sovits
