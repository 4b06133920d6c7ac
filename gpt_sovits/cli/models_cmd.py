"""``python -m gpt_sovits models list|download|import|inspect``: the pretrained set and the user's model files.

Heavy modules (torch, the downloader) are imported inside the handlers so that building the parser stays
cheap.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.fileio import size_text
from gpt_sovits.jobs.status import write_event
from gpt_sovits.registry.layout import (
    ALL_PRETRAINED,
    PRETRAINED_SETS,
    PRETRAINED_V2,
    how_to_get,
    item_present,
)
from gpt_sovits.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``list``, ``download``, ``import`` and ``inspect`` actions."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = sub.add_parser("list", help="pretrained files (present/missing) and your own model files")
    p.add_argument("--identify", action="store_true", help="read each user model file and show kind/version")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    keys = ", ".join([*PRETRAINED_SETS, *(i.key for i in ALL_PRETRAINED)])
    p = sub.add_parser("download", help="download pretrained files from Hugging Face (or a mirror)")
    p.add_argument(
        "keys", nargs="*", metavar="KEY", help=f"items or sets to download (default: v2). One of: {keys}"
    )
    p.add_argument("--endpoint", help="hub URL (default: HF_ENDPOINT or https://huggingface.co)")
    p.add_argument(
        "--revision", default="main", help="branch, tag or commit of the repository (default: main)"
    )
    p.add_argument("--token", help="Hugging Face access token (only for mirrors that need one)")
    p.add_argument("--retries", type=int, default=4, help="retries per request after a network error")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (same as --progress none)")
    _add_progress(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser(
        "import", help="copy pretrained files from a folder / GPT-SoVITS installation, or a model"
    )
    p.add_argument("path", type=Path, help="folder, GPT-SoVITS installation, or one .ckpt/.pth model file")
    _add_progress(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("inspect", help="kind, version, config summary and parameter count of model files")
    p.add_argument("files", nargs="+", help=".ckpt / .pth model files")
    p.add_argument("--json", action="store_true", help="one JSON object per file")


def _add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=("bars", "json", "none"),
        default="bars",
        help="bars: progress bars on stderr; json: job protocol events on stdout (one JSON object per line, "
        "as the WebUI's job manager reads them); none: quiet (default: bars)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the chosen action; returns the exit status."""
    handlers = {"list": _list, "download": _download, "import": _import, "inspect": _inspect}
    if getattr(args, "progress", None) != "json":
        return handlers[args.action](args, settings)
    try:
        return handlers[args.action](args, settings)
    except GPTSoVITSError as exc:
        # The job manager shows the message of an error event as the job's message.
        write_event("error", kind=args.action, message=str(exc))
        raise


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")


def _disk_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


# -- list -------------------------------------------------------------------------------------------------
def _list(args: argparse.Namespace, settings: Settings) -> int:
    root = settings.pretrained_dir
    core = {i.key for i in PRETRAINED_V2}
    items = []
    for item in ALL_PRETRAINED:
        present = item_present(root, item)
        items.append(
            {
                "key": item.key,
                "path": item.path,
                "set": "v2" if item.key in core else "v2pro",
                "present": present,
                "size": _disk_size(root / item.path) if present else 0,
                "description": item.description,
                "needed_for": item.needed_for,
            }
        )
    from gpt_sovits.registry.catalog import scan_models

    users = [
        {
            "file": str(f.path),
            "size": f.size,
            **({"kind": f.kind, "version": f.version} if args.identify else {}),
        }
        for f in scan_models(settings, identify=args.identify)
        if f.source != "pretrained"
    ]
    missing = [e for e in items if e["set"] == "v2" and not e["present"]]
    if args.json:
        out = {
            "pretrained_dir": str(root),
            "pretrained": items,
            "missing": [e["key"] for e in missing],
            "user_models": users,
        }
        if missing:
            out["how_to_get"] = how_to_get(root)
        _write(json.dumps(out, ensure_ascii=False))
        return 0
    _write(f"Pretrained models in {root}:")
    for e in items:
        state = size_text(e["size"]) if e["present"] else "missing"
        _write(
            f"  {'ok' if e['present'] else '--'} {e['key']:<19} {e['path']}  [{state}]  {e['description']}"
        )
    _write(f"Your model files ({len(users)}):")
    for u in users:
        what = f"  {u['kind']} {u['version'] or ''}".rstrip() if "kind" in u else ""
        _write(f"  {u['file']}  [{size_text(u['size'])}]{what}")
    if missing:
        _write(f"Missing from the v2 set ({len(missing)}):")
        for e in missing:
            _write(f"  {e['path']}: {e['description']} (needed for {e['needed_for']})")
        _write(how_to_get(root))
    else:
        _write("All files needed for v2 synthesis are present.")
    return 0


# -- download ---------------------------------------------------------------------------------------------
class _Bars:
    """A tqdm bar per file, driven by the downloader's progress callback."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.file: str | None = None
        self.last = 0

    def __call__(self, file: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if file != self.file:
            from tqdm import tqdm

            self.close()
            self.file, self.last = file, done
            self.bar = tqdm(
                total=total,
                initial=done,
                desc=file.rsplit("/", 1)[-1][:40],
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                leave=False,
            )
            return
        if done < self.last:  # the server ignored the range: the file starts over
            self.bar.reset(total=total)
            self.last = 0
        self.bar.update(done - self.last)
        self.last = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _JsonProgress:
    """Download progress as job protocol events: ``step``/``steps`` are bytes over every file still to fetch,
    with the current file's own bytes in ``file_step``/``file_steps``. Events are thinned to a few a second
    (the downloader reports every chunk), but the first and the last of each file always go out."""

    def __init__(self, total: int, files: int, interval_s: float = 0.25) -> None:
        self.total, self.files, self.interval_s = total, files, interval_s
        self.done: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        self.first: int | None = None  # bytes already there (resumed .part files) when this run began
        self.started = time.monotonic()
        self.last_sent = 0.0

    def __call__(self, file: str, done: int, total: int) -> None:
        new = file not in self.done
        self.done[file], self.sizes[file] = done, total
        now = time.monotonic()
        if not new and done < total and now - self.last_sent < self.interval_s:
            return
        self.last_sent = now
        step = sum(self.done.values())
        if self.first is None:
            self.first = step
        steps = max(self.total, step)
        elapsed = now - self.started
        rate = (step - self.first) / elapsed if elapsed > 0 else 0.0
        write_event(
            "progress",
            kind="download",
            step=step,
            steps=steps,
            file=file,
            file_step=done,
            file_steps=total,
            files_done=sum(1 for f, d in self.done.items() if d >= self.sizes[f]),
            files=self.files,
            elapsed_s=round(elapsed, 2),
            eta_s=round((steps - step) / rate, 1) if rate > 0 else None,
        )


def _download_plan(args: argparse.Namespace, settings: Settings) -> tuple[int, int]:
    """(bytes, files) still to download: every listed file not yet in place (those are skipped or kept)."""
    from gpt_sovits.registry.download import HubClient
    from gpt_sovits.registry.layout import resolve_items

    client = HubClient(
        args.endpoint or settings.hf_endpoint,
        revision=args.revision,
        token=args.token,
        retries=max(0, args.retries),
    )
    remotes = [r for item in resolve_items(args.keys or None) for r in client.remote_files(item)]
    todo = [r for r in remotes if not (settings.pretrained_dir / r.path).exists()]
    return sum(r.size for r in todo), len(todo)


def _download(args: argparse.Namespace, settings: Settings) -> int:
    from gpt_sovits.registry.download import download_with_settings

    mode = "none" if args.no_progress else args.progress
    progress: Callable[[str, int, int], None]
    if mode == "json":
        total, count = _download_plan(args, settings)  # also fails fast on a wrong endpoint or revision
        write_event("start", kind="download", steps=total, files=count, run_dir=str(settings.pretrained_dir))
        progress = _JsonProgress(total, count)
    else:
        progress = _Bars(mode == "bars" and not args.json)
    try:
        report = download_with_settings(
            settings,
            args.keys or None,
            endpoint=args.endpoint,
            revision=args.revision,
            token=args.token,
            progress=progress,
            retries=max(0, args.retries),
        )
    finally:
        if isinstance(progress, _Bars):
            progress.close()
    if args.json:
        files = [
            {"path": f.path, "local": str(f.local), "size": f.size, "status": f.status, "note": f.note}
            for f in report.files
        ]
        _write(json.dumps({"endpoint": report.endpoint, "ok": report.ok, "files": files}, ensure_ascii=False))
    else:
        for f in report.files:
            _write(
                f"  {f.status:<10} {f.path}  [{size_text(f.size)}]" + (f"\n    {f.note}" if f.note else "")
            )
        _write(
            f"{len(report.with_status('downloaded'))} downloaded ({size_text(report.transferred)}), "
            f"{len(report.with_status('present'))} already present, {len(report.with_status('kept'))} kept "
            f"(different file in place) in {report.dest_dir}"
        )
    if mode == "json":
        counts = {s: len(report.with_status(s)) for s in ("downloaded", "present", "kept")}
        if report.ok:
            write_event("done", kind="download", transferred=report.transferred, **counts)
        else:
            write_event(
                "error", kind="download", message=" ".join(f.note for f in report.with_status("kept"))
            )
    return 0 if report.ok else 1


# -- import -----------------------------------------------------------------------------------------------
def _import_items(path: Path, settings: Settings, emit: bool):
    """Import every known pretrained item from ``path`` one by one (an ``ImportReport`` as
    :func:`~gpt_sovits.registry.importer.import_pretrained` makes it), with byte progress events if ``emit``."""
    from gpt_sovits.registry.importer import ImportReport, find_pretrained_source, import_pretrained
    from gpt_sovits.registry.layout import missing_pretrained

    root = find_pretrained_source(path)
    sizes = [_disk_size(root / item.path) for item in ALL_PRETRAINED]
    total = sum(sizes)
    if emit:
        write_event("start", kind="import", steps=total, items=len(ALL_PRETRAINED), run_dir=str(root))
    results, step, started = [], 0, time.monotonic()
    for i, (item, size) in enumerate(zip(ALL_PRETRAINED, sizes, strict=True)):
        results.append(import_pretrained(root, settings.pretrained_dir, [item]).items[0])
        step += size
        if emit:
            elapsed = time.monotonic() - started
            eta = (total - step) * elapsed / step if step else None
            write_event(
                "progress",
                kind="import",
                step=step,
                steps=total,
                file=item.path,
                status=results[-1].status,
                items_done=i + 1,
                items=len(ALL_PRETRAINED),
                elapsed_s=round(elapsed, 2),
                eta_s=round(eta, 1) if eta is not None else None,
            )
    missing = tuple(missing_pretrained(settings.pretrained_dir))
    return ImportReport(root, settings.pretrained_dir, tuple(results), missing)


def _import_one_file(path: Path, args: argparse.Namespace, settings: Settings, emit: bool) -> int:
    from gpt_sovits.registry.importer import import_model_file

    if emit:
        write_event("start", kind="import", steps=1, items=1)
    done = import_model_file(path, settings.pretrained_dir)
    if args.json:
        _write(
            json.dumps(
                {
                    "source": str(done.source),
                    "dest": str(done.dest),
                    "status": done.status,
                    "kind": done.identity.kind,
                    "version": done.identity.version,
                }
            )
        )
    else:
        _write(f"{done.status}: {done.source} -> {done.dest} ({done.identity.describe()})")
    if emit:
        write_event("done", kind="import", steps=1, dest=str(done.dest), status=done.status)
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    path = args.path.expanduser()
    emit = args.progress == "json"
    if path.is_file():
        return _import_one_file(path, args, settings, emit)
    report = _import_items(path, settings, emit)
    if args.json:
        items = [
            {"key": i.item.key, "path": i.item.path, "status": i.status, "note": i.note} for i in report.items
        ]
        out = {
            "source": str(report.source),
            "items": items,
            "still_missing": [i.key for i in report.still_missing],
        }
        _write(json.dumps(out, ensure_ascii=False))
    else:
        _write(f"Importing from {report.source} into {report.dest_dir}:")
        for i in report.items:
            _write(f"  {i.status:<10} {i.item.path}" + (f"\n    {i.note}" if i.note else ""))
        if report.still_missing:
            _write("Still missing: " + ", ".join(i.path for i in report.still_missing))
            _write(how_to_get(settings.pretrained_dir))
    if not any(i.status in ("imported", "present", "kept") for i in report.items):
        raise GPTSoVITSError(f"Nothing usable was imported from {report.source}; see the reasons above.")
    failed = report.with_status("invalid") or report.with_status("kept")
    if emit:
        if failed:
            write_event("error", kind="import", message="; ".join(f"{i.item.path}: {i.note}" for i in failed))
        else:
            counts = {s: len(report.with_status(s)) for s in ("imported", "present", "not_found")}
            write_event("done", kind="import", **counts, missing=[i.key for i in report.still_missing])
    return 1 if failed else 0


# -- inspect ----------------------------------------------------------------------------------------------
def _inspect(args: argparse.Namespace, settings: Settings) -> int:
    from gpt_sovits.models.__main__ import main as inspect_main

    return inspect_main(["inspect", *args.files, *(["--json"] if args.json else [])])
