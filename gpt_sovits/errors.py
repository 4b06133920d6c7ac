"""Exceptions shared by every layer. Each message says what went wrong and what to do."""

from __future__ import annotations


class GPTSoVITSError(Exception):
    """Base class for errors this package raises on purpose (bad input, missing pieces)."""


class AudioError(GPTSoVITSError):
    """An audio file is missing, unreadable, corrupt, empty or silent."""


class TextError(GPTSoVITSError):
    """Text input that cannot be turned into phones (bad inline tag, unknown phone, ...)."""


class MissingExtraError(GPTSoVITSError):
    """An optional dependency is needed for the requested feature but is not installed."""

    def __init__(self, feature: str, extra: str, packages: str) -> None:
        self.feature = feature
        self.extra = extra
        self.packages = packages
        super().__init__(
            f"{feature} needs the optional package(s) {packages}, which are not installed. "
            f'Install them with: python -m pip install -e ".[{extra}]"'
        )


def require_module(module: str, feature: str, extra: str, packages: str | None = None):
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(feature, extra, packages or module) from exc
