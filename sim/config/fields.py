"""Dataclass fields with range metadata, shared by the config schemas."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from omegaconf import MISSING


def f(default: Any = MISSING, lo: float | None = None, hi: float | None = None, *, pair: bool = False):
    """A dataclass field with a range check (and a [low, high] check for pairs)."""
    meta = {"min": lo, "max": hi, "pair": pair}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)
