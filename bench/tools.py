"""Data-tool speed on this CPU: slicer (times real time, both modes) and ASR real-time factor.

Runs ``bench/slicer.py`` and ``bench/asr.py`` one after the other with their default settings, so one
command gives the figures recorded in docs/benchmarks.md::

    python bench/tools.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    status = 0
    for script in ("slicer.py", "asr.py"):
        print(f"== {script}", flush=True)
        status |= subprocess.run([sys.executable, str(HERE / script)], check=False).returncode
    return status


if __name__ == "__main__":
    raise SystemExit(main())
