"""Enforce the import rules of DEVELOPERS.md and that importing any module does no work."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gpt_sovits"
STDLIB = sys.stdlib_module_names

# Which gpt_sovits subpackages each subpackage may import (imports flow one way; nothing imports ui).
COMMON = {"errors", "settings", "device", "fileio"}
ALLOWED: dict[str, set[str]] = {
    "models": {"models", "errors", "fileio"},
    "audio": {"audio", "errors", "fileio"},
    "text": {"text", "errors", "fileio"},
    "features": {"features", "models", "audio", "errors", "device"},
    "registry": {"registry", "models", "features"} | COMMON,
    "voices": {"voices", "audio", "text", "registry"} | COMMON,
    "jobs": {"jobs"} | COMMON,
    "inference": {"inference", "models", "features", "text", "audio", "registry", "voices"} | COMMON,
    "training": {"training", "models", "features", "text", "audio", "registry", "voices", "jobs"} | COMMON,
    # Evaluation synthesizes with trained checkpoints (found through training's experiment folder) and
    # measures them with the ASR of tools/asr.
    "evaluation": {
        "evaluation",
        "inference",
        "training",
        "voices",
        "registry",
        "text",
        "audio",
        "features",
        "models",
    }
    | COMMON,
    "api": {"api", "inference", "voices", "registry", "jobs", "text", "audio"} | COMMON,
    "ui": {"ui", "inference", "voices", "registry", "jobs", "text", "audio"} | COMMON,
    # The command line is an entry point like webui.py: it may use every layer except the UI.
    "cli": {"cli", "inference", "voices", "registry", "jobs", "text", "audio", "models", "features", "api"}
    | COMMON,
}


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(path: Path) -> list[str]:
    """Every module named by an import statement anywhere in the file (also inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.append("<relative>")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.append(arg.value)
    return names


def subpackage(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 else None


def test_rules_cover_every_subpackage():
    subs = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert subs <= set(ALLOWED), f"add import rules for {subs - set(ALLOWED)}"


def test_layering():
    problems = []
    for path in python_files(PACKAGE):
        sub = subpackage(path)
        for mod in imported_modules(path):
            if mod == "<relative>":
                problems.append(f"{path}: use absolute imports")
                continue
            parts = mod.split(".")
            if parts[0] != "gpt_sovits" or len(parts) < 2:
                continue
            target = parts[1]
            if sub is None:
                if target == "ui":
                    problems.append(f"{path} imports {mod}")
                continue
            if target not in ALLOWED[sub]:
                problems.append(f"{path} ({sub}) imports {mod}")
    assert not problems, "\n".join(problems)


def test_nothing_imports_ui_or_webui():
    offenders = []
    for path in python_files(ROOT):
        if (
            path.is_relative_to(PACKAGE / "ui")
            or path.name == "webui.py"
            or path.is_relative_to(ROOT / "tests")
        ):
            continue
        for mod in imported_modules(path):
            if mod == "webui" or mod.startswith("gpt_sovits.ui"):
                offenders.append(f"{path} imports {mod}")
    assert not offenders, "\n".join(offenders)


def test_gradio_only_in_ui():
    offenders = [
        f"{p} imports {m}"
        for p in python_files(ROOT)
        if not p.is_relative_to(PACKAGE / "ui") and not p.is_relative_to(ROOT / "tests")
        for m in imported_modules(p)
        if m.split(".")[0] == "gradio"
    ]
    assert not offenders, "\n".join(offenders)


def test_models_import_only_torch_and_siblings():
    offenders = []
    for path in python_files(PACKAGE / "models"):
        for mod in imported_modules(path):
            top = mod.split(".")[0]
            # gpt_sovits.errors and gpt_sovits.fileio are stdlib-only leaves: checkpoint refusals share the
            # package's error base, and saving shares its crash-safe writer.
            leaves = ("gpt_sovits.models", "gpt_sovits.errors", "gpt_sovits.fileio")
            if top in STDLIB or top == "torch" or mod.startswith(leaves):
                continue
            offenders.append(f"{path} imports {mod}")
    assert not offenders, "\n".join(offenders)


def test_environment_read_only_in_settings():
    offenders = []
    for path in python_files(ROOT):
        if path == PACKAGE / "settings.py" or path.is_relative_to(ROOT / "tests"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb", "putenv"):
                offenders.append(f"{path}:{node.lineno} uses os.{node.attr}")
            elif isinstance(node, ast.ImportFrom) and node.module == "os":
                if any(a.name in ("environ", "getenv") for a in node.names):
                    offenders.append(f"{path}:{node.lineno} imports from os")
    assert not offenders, "\n".join(offenders)


def all_module_names() -> list[str]:
    names = []
    for base in (PACKAGE, ROOT / "tools"):
        for path in python_files(base):
            if path.name == "__main__.py":
                continue
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join(parts))
    return names


_PROBE = textwrap.dedent(
    """
    import importlib, json, sys
    writes, loads = [], []

    def hook(event, args):
        if event == "open" and len(args) > 1 and isinstance(args[1], str) and any(c in args[1] for c in "wax+"):
            writes.append(str(args[0]))
        elif event == "open" and len(args) > 2 and isinstance(args[2], int) and args[2] & 0o3:
            writes.append(str(args[0]))
        elif event in ("os.mkdir", "os.rename", "os.remove", "shutil.copyfile"):
            writes.append(f"{event}:{args[0]}")

    import torch  # imported before the probe so that its own start-up is not counted
    def no_load(*a, **k):
        loads.append(repr(a[:1]))
        raise RuntimeError("model loaded at import time")
    torch.load = no_load
    sys.addaudithook(hook)
    failed = {}
    for name in json.loads(sys.argv[1]):
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional extra that is not installed
            failed[name] = repr(exc)
    print(json.dumps({"writes": writes, "loads": loads, "failed": failed}))
    """
)


@pytest.mark.parametrize("include_ui", [False, True], ids=["engine", "ui"])
def test_importing_every_module_does_no_work(tmp_path, include_ui):
    names = [n for n in all_module_names() if n.startswith("gpt_sovits.ui") == include_ui]
    if include_ui:
        pytest.importorskip("gradio")
        names = ["gradio", *names]  # gradio's own start-up is not ours to judge
    env = dict(
        os.environ,
        PYTHONDONTWRITEBYTECODE="1",
        HOME=str(tmp_path),
        TMPDIR=str(tmp_path),
        PYTHONPATH=str(ROOT),
    )
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(names)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert not report["loads"], report["loads"]
    assert not report["failed"], report["failed"]
    if include_ui:
        return  # gradio writes its own caches when imported; our ui modules are checked by the AST rules
    assert not report["writes"], report["writes"]
