"""``python -m gpt_sovits.models inspect FILE...``: what a model file is, without building or trusting it."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from gpt_sovits.models.checkpoint import CheckpointError, RawCheckpoint, read_checkpoint
from gpt_sovits.models.identify import identify

# Config entries worth showing per kind: (section, key).
SUMMARY_KEYS = {
    "gpt": [
        ("model", "n_layer"),
        ("model", "hidden_dim"),
        ("model", "head"),
        ("model", "linear_units"),
        ("model", "phoneme_vocab_size"),
        ("model", "vocab_size"),
        ("data", "max_sec"),
    ],
    "sovits": [
        ("model", "hidden_channels"),
        ("model", "inter_channels"),
        ("model", "gin_channels"),
        ("model", "upsample_initial_channel"),
        ("model", "upsample_kernel_sizes"),
        ("data", "sampling_rate"),
        ("data", "hop_length"),
    ],
}


def describe_file(raw: RawCheckpoint) -> dict[str, Any]:
    """A JSON-ready summary: kind, version, config summary, parameter count, stored dtypes."""
    identity = identify(raw)
    summary = {
        f"{section}.{key}": raw.config[section][key]
        for section, key in SUMMARY_KEYS.get(identity.kind, [])
        if key in raw.config.get(section, {})
    }
    dtypes = Counter(str(t.dtype).removeprefix("torch.") for t in raw.weight.values())
    own = raw.extra.get("gpt_sovits")
    return {
        "file": str(raw.path),
        "kind": identity.kind,
        "version": identity.version,
        "decided_by": identity.evidence,
        "parameters": sum(t.numel() for t in raw.weight.values()),
        "tensors": len(raw.weight),
        "dtypes": dict(dtypes),
        "header": raw.header.decode("latin-1"),
        "info": raw.info,
        "posterior_encoder": identity.has_posterior_encoder,
        "config": summary,
        "saved_by": "this application" if isinstance(own, dict) else "GPT-SoVITS (or unknown)",
        **({"metadata": own} if isinstance(own, dict) else {}),
    }


def _format(desc: dict[str, Any]) -> str:
    lines = [f"{desc['file']}", f"  kind:       {desc['kind']} {desc['version']}  ({desc['decided_by']})"]
    lines.append(f"  parameters: {desc['parameters']:,} in {desc['tensors']} tensors {desc['dtypes']}")
    if desc["config"]:
        lines.append("  config:     " + ", ".join(f"{k}={v}" for k, v in desc["config"].items()))
    lines.append(f"  info:       {desc['info']}   saved by: {desc['saved_by']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpt_sovits.models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    inspect = sub.add_parser("inspect", help="print kind, version, config summary and parameter count")
    inspect.add_argument("files", nargs="+", help=".ckpt / .pth model files")
    inspect.add_argument("--json", action="store_true", help="one JSON object per file")
    args = parser.parse_args(argv)

    status = 0
    for name in args.files:
        try:
            desc = describe_file(read_checkpoint(name))
        except CheckpointError as exc:
            sys.stderr.write(f"error: {exc}\n")
            status = 2
            continue
        sys.stdout.write((json.dumps(desc, ensure_ascii=False) if args.json else _format(desc)) + "\n")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
