"""Name checks shared by the event kinds: one-line ConfigErrors that list the allowed values."""

from __future__ import annotations

from typing import Any, Iterable

from sim.checks import ConfigError, require_name


def check_bloc(key: str, name: Any, cfg) -> None:
    require_name(key, name, list(cfg.world.blocs), "bloc")


def check_blocs(key: str, names: Iterable[Any], cfg) -> None:
    """Every name must be a bloc (an empty list is allowed: it means every bloc)."""
    for b in names:
        check_bloc(key, b, cfg)


def check_stages(key: str, names: Iterable[Any], cfg, required: bool = True) -> None:
    """Every name must be a stage; ``required``: at least one."""
    stages = list(cfg.world.stages)
    names = list(names)
    if required and not names:
        raise ConfigError(key, f"at least one stage is required; allowed: {', '.join(stages)}")
    for s in names:
        require_name(key, s, stages, "stage")


def check_stage_values(key: str, values: dict, cfg, positive: bool = False) -> None:
    """A mapping stage -> number: names must be stages, values >= 0 (or > 0 with ``positive``)."""
    check_stages(key, list(values), cfg, required=False)
    for s, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
            raise ConfigError(f"{key}.{s}", f"must be a finite number, got {v!r}")
        if v < 0 or (positive and v == 0):
            raise ConfigError(f"{key}.{s}", f"must be {'> 0' if positive else '>= 0'}, got {v}")
