"""The GPT-SoVITS phone inventories (v1: 322 symbols, v2: 732), loaded as data. Phone id = index."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from gpt_sovits.errors import TextError

VERSIONS = ("v1", "v2")


def _inventory_name(version: str) -> str:
    # v2Pro and v2ProPlus models use the v2 text inventory.
    if version == "v1":
        return "symbols_v1.json"
    if version in ("v2", "v2Pro", "v2ProPlus", "v3", "v4"):
        return "symbols_v2.json"
    raise ValueError(f"Unknown model version {version!r}; expected one of v1, v2, v2Pro, v2ProPlus.")


@cache
def symbols(version: str = "v2") -> tuple[str, ...]:
    """The phone inventory of ``version`` in id order."""
    data = (resources.files("gpt_sovits.text") / "data" / _inventory_name(version)).read_text("utf-8")
    return tuple(json.loads(data))


@cache
def symbol_to_id(version: str = "v2") -> dict[str, int]:
    """Map phone -> id for ``version``."""
    return {s: i for i, s in enumerate(symbols(version))}


def phones_to_ids(phones: list[str] | tuple[str, ...], version: str = "v2") -> list[int]:
    """Convert phones to ids; an unknown phone raises :class:`TextError` naming it and its position."""
    table = symbol_to_id(version)
    ids = []
    for pos, p in enumerate(phones):
        if p not in table:
            raise TextError(f"Phone {p!r} at position {pos} is not in the {version} inventory.")
        ids.append(table[p])
    return ids
