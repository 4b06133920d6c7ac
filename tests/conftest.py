"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# CI clones the repository with the steering repo's shared/ beside it.
COMPAT_DIR = REPO_ROOT.parent / "shared" / "compat"


@pytest.fixture(scope="session")
def compat_dir() -> Path:
    """../shared/compat: symbol tables, manifests and parity fixtures."""
    if not COMPAT_DIR.is_dir():
        pytest.skip(f"{COMPAT_DIR} is absent (clone the project with shared/ beside it)")
    return COMPAT_DIR
