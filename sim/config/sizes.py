"""How big a run is, before it starts: firms at the start, memory and disk, and the size checks.

A world is scaled by ``world.scale`` (firm counts, demand, entry rates). A run needs at least one firm in
every bloc and at every stage that has firms in the unscaled world, and memory within the machine's;
:func:`check_sizes` (called by :func:`sim.config.validate`) refuses other sizes with one line at
``world.scale`` that gives the number. :func:`run_bytes` estimates what a run writes, for the free-space
check every command makes before its first run (:func:`sim.engine.output.check_output`).

The estimates are deliberately generous (measured on the default world, benchmarks/results/bench_scale.md:
about 150 MB of interpreter and imports, 7 kB per firm over 30 years without the firm panel; a run
directory of 1.3 MB for 309 firms over 30 years).
"""

from __future__ import annotations

import os
from typing import Any

from sim.checks import ConfigError

BASE_MEMORY = 200e6  # bytes: interpreter, numpy, pandas, mesa, hydra
FIRM_MEMORY = 10e3  # bytes per firm: its columns, projects and events over a run
PANEL_ROW_MEMORY = 400.0  # bytes per firm-year of the firm panel while it is built and written
BASE_DISK = 100e3  # bytes: config.yaml, summary.json, manifest.json
SERIES_ROW_DISK = 250.0  # bytes per quarter, bloc and stage (timeseries.parquet, policy.parquet)
EVENT_DISK = 60.0  # bytes per firm-year (events.parquet)
PANEL_ROW_DISK = 100.0  # bytes per firm-year (firms.parquet)
NATIONAL_FIRM_MEMORY = 3.5e3  # bytes per firm of a national run (generous: 2.6 GB peak measured for 1.0 M firms at the start, 2015-2025)
NATIONAL_EVENT_DISK = 5.0  # bytes per firm-year of a national run (events.parquet holds the programme's events only)


def scaled_count(count: int, scale: float) -> int:
    """A cohort's firms at a scale, as sim.engine.world.build_population draws them."""
    return max(int(round(count * scale)), 0)


def initial_firms(world: Any, scale: float | None = None) -> int:
    """Firms at the start of a run (every cohort's count x world.scale, rounded as the model does)."""
    s = world.scale if scale is None else scale
    return sum(scaled_count(c.count, s) for c in world.firms.values())


def national_firms(national: Any, scale: float | None = None) -> int:
    """Firms at the start of a national run (the candidate count x national.scale)."""
    s = national.scale if scale is None else scale
    return max(int(round(national.firms.count * s)), 0)


def memory_bytes(cfg: Any, scale: float | None = None) -> float:
    """Estimated peak memory of one run, bytes."""
    if getattr(cfg, "national", None) is not None:
        return BASE_MEMORY + national_firms(cfg.national, scale) * NATIONAL_FIRM_MEMORY
    firms = initial_firms(cfg.world, scale)
    panel = PANEL_ROW_MEMORY * cfg.years if cfg.output.write and cfg.output.firm_panel else 0.0
    return BASE_MEMORY + firms * (FIRM_MEMORY + panel)


def run_bytes(cfg: Any) -> float:
    """Estimated size of one run directory, bytes (0 if the run writes nothing)."""
    if not cfg.output.write:
        return 0.0
    if getattr(cfg, "national", None) is not None:
        n = cfg.national
        panel = min(n.sample_firms, national_firms(n)) * cfg.years * PANEL_ROW_DISK
        return (
            BASE_DISK
            + national_firms(n) * cfg.years * NATIONAL_EVENT_DISK
            + panel
            + SERIES_ROW_DISK * cfg.years * (len(n.provinces) + len(n.sectors))
        )
    w = cfg.world
    firms = initial_firms(w)
    per_firm_year = EVENT_DISK + (PANEL_ROW_DISK if cfg.output.firm_panel else 0.0)
    return BASE_DISK + SERIES_ROW_DISK * cfg.years * 4 * len(w.blocs) * len(w.stages) + firms * cfg.years * per_firm_year


def machine_memory_bytes() -> float | None:
    """Physical memory of this machine, bytes (None where the system does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def _gb(x: float) -> str:
    return f"{x / 1e9:,.1f} GB" if x < 100e9 else f"{x / 1e9:,.0f} GB"


def check_sizes(cfg: Any) -> None:
    """Refuse a world too small to hold every bloc and stage it has, or too large for this machine's memory.

    Every bloc and every stage with firms at scale 1 keeps at least one firm (a cohort of ``count`` firms keeps
    one above a scale of 0.5 / count). ConfigError at ``world.scale`` with the numbers. A national run: its firms'
    memory within the machine's (ConfigError at ``national.scale``)."""
    if getattr(cfg, "national", None) is not None:
        total, need = machine_memory_bytes(), memory_bytes(cfg)
        if total is not None and need > total:
            top = (total - BASE_MEMORY) / max(memory_bytes(cfg, 1.0) - BASE_MEMORY, 1.0)
            raise ConfigError(
                "national.scale",
                f"{cfg.national.scale:g} means {national_firms(cfg.national):,} firms, which need about {_gb(need)} of memory; "
                f"this machine has {_gb(total)}; allowed: national.scale up to about {top:.3g} here",
            )
        return
    w = cfg.world
    scale = w.scale
    largest: dict[tuple[str, str], int] = {}  # (bloc | stage, name) -> its largest cohort
    for c in w.firms.values():
        for kind in ("bloc", "stage"):
            key = (kind, getattr(c, kind))
            largest[key] = max(largest.get(key, 0), c.count)
    needed = {k: n for k, n in largest.items() if n > 0}  # no firms at scale 1 either: nothing to keep
    for (kind, name), count in needed.items():
        kept = sum(scaled_count(c.count, scale) for c in w.firms.values() if getattr(c, kind) == name)
        if kept == 0:
            lowest = max(0.5 / n for n in needed.values())
            raise ConfigError(
                "world.scale",
                f"{scale:g} leaves {kind} '{name}' without firms (its largest cohort has {count}, and {count} x {scale:g} rounds to 0; "
                f"{initial_firms(w)} firms in all); allowed: world.scale above {lowest:g} for this world",
            )
    total = machine_memory_bytes()
    need = memory_bytes(cfg)
    if total is not None and need > total:
        per_scale = memory_bytes(cfg, 1.0) - BASE_MEMORY
        top = (total - BASE_MEMORY) / per_scale if per_scale > 0 else float("inf")
        raise ConfigError(
            "world.scale",
            f"{scale:g} means {initial_firms(w):,} firms at the start, which need about {_gb(need)} of memory over {cfg.years} years; "
            f"this machine has {_gb(total)}; allowed: world.scale up to about {top:.3g} here",
        )
