"""Data-tool speed on this CPU: slicer (times real time, both modes) and ASR real-time factor.

Runs ``bench/slicer.py`` and ``bench/asr.py`` one after the other with their default settings, so one
command gives the figures recorded in docs/benchmarks.md::

    python bench/tools.py

The two scripts are run through ``runpy`` from the repository root: run directly, Python would put
``bench/`` first on the import path, where this file (``tools.py``) would shadow the ``tools`` package.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUN = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


def main() -> int:
    status = 0
    for script in ("slicer.py", "asr.py"):
        print(f"== {script}", flush=True)
        cmd = [sys.executable, "-c", RUN, str(HERE / script)]
        status |= subprocess.run(cmd, cwd=HERE.parent, check=False).returncode
    return status


if __name__ == "__main__":
    raise SystemExit(main())
