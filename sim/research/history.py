"""Public history outside the targets: conf/validation/history.yaml, read against the baseline (docs/ODD.md 7.12).

``python -m sim.validate`` reports each check after the targets, from the same baseline runs: the model's figure per
seed (:func:`yearly_table` keeps what the checks read from a run: t made and the mean price index by year, bloc and
stage), the median and range over the seeds, and whether the median lies in the check's ``band``. The calibration
command reads the targets alone (sim.research.calibrate), so these figures are compared with and never tuned to.

Kinds of check (each with ``bloc``, ``stage`` and ``years`` [first, last], inclusive):
- ``output``: t/yr made at the stage by the bloc (``world``: every bloc together), the mean over the years;
- ``share``: the bloc's share of the world's output at the stage, the mean of the yearly shares;
- ``price``: the bloc's price index at the stage (USD/kg), the mean of the years' quarters.
A year the run does not reach gives no figure for that seed ("no figure": a run shorter than the check's years).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sim.config import CONF_DIR
from sim.research.driver import median_support

HISTORY_FILE = CONF_DIR / "validation" / "history.yaml"
KINDS = ("output", "share", "price")
CHECK_KEYS = ("id", "kind", "bloc", "stage", "years", "published", "band", "source")  # a check's keys, each required
WORLD = "world"


def yearly_table(ts) -> dict[str, Any]:
    """What the checks read from a run's time series (sim.engine.metrics), small enough to send from a worker: per
    (year, bloc, stage) the t made in the year and the mean of its quarters' price index."""
    g = ts.groupby(["year", "bloc", "stage"], observed=True)
    out = g["output_t"].sum()
    price = g["price_usd_per_kg"].mean()
    return {
        "key": [(int(y), str(b), str(s)) for y, b, s in out.index],
        "output_t": [float(v) for v in out.to_numpy()],
        "price": [float(v) for v in price.reindex(out.index).to_numpy()],
    }


def figure(check: dict[str, Any], table: dict[str, Any]) -> float | None:
    """The model's figure for one check from one run's :func:`yearly_table` (None: the run misses one of its years)."""
    rows = {k: (o, p) for k, o, p in zip(map(tuple, table["key"]), table["output_t"], table["price"])}
    first, last = check["years"]
    blocs = sorted({b for _, b, _ in rows})
    vals = []
    for y in range(int(first), int(last) + 1):
        at = {b: rows.get((y, b, check["stage"])) for b in blocs}
        if any(v is None for v in at.values()):
            return None
        if check["kind"] == "price":
            vals.append(at[check["bloc"]][1])
            continue
        world = sum(v[0] for v in at.values())
        own = world if check["bloc"] == WORLD else at[check["bloc"]][0]
        if check["kind"] == "output":
            vals.append(own)
        else:
            vals.append(own / world if world > 0 else float("nan"))
    v = float(np.mean(vals))
    return v if np.isfinite(v) else None


def evaluate(checks: list[dict[str, Any]], tables: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """A row per check: each seed's figure (``values``, in the order of ``tables``), their median and range, and
    ``within`` (the median lies in the band; None without a figure), ``in_band`` (seeds in it) and ``support`` (the share
    of resamples of the seeds whose median lies in it, sim.research.driver.median_support)."""
    rows = []
    for c in checks:
        each = [None if t is None else figure(c, t) for t in tables]
        v = [x for x in each if x is not None]
        row = {k: c.get(k) for k in ("id", "kind", "bloc", "stage", "years", "published", "band", "source")}
        row["values"] = each
        if v:
            med = float(np.median(v))
            row.update(median=med, min=float(np.min(v)), max=float(np.max(v)), within=bool(c["band"][0] <= med <= c["band"][1]))
            row["in_band"] = sum(c["band"][0] <= x <= c["band"][1] for x in v)
            row["support"] = median_support(v, c["band"])
        else:
            row.update(median=None, min=None, max=None, within=None, in_band=0, support=None)
        rows.append(row)
    return rows


def report(rows: list[dict[str, Any]], fmt) -> str:
    """The history block of the validation report: a header, then a line per check (``fmt``: the number format of the
    targets' lines)."""
    lines = ["", "Public history outside the targets (conf/validation/history.yaml: compared with the baseline, never calibrated to):"]
    for r in rows:
        status = "-" if r["within"] is None else ("WITHIN" if r["within"] else "OUTSIDE")
        pub = r["published"]
        pub = f"[{_exact(pub[0])}, {_exact(pub[1])}]" if isinstance(pub, list) else _exact(pub)
        if r["median"] is None:
            detail = "no figure (the runs end before its years)"
        else:
            n = len(r["values"])
            detail = f"median {fmt(r['median'])} [{fmt(r['min'])}, {fmt(r['max'])}], {r['in_band']} of {n} seeds in band"
            if r.get("support") is not None:
                detail += f" (median in band in {r['support']:.0%} of resamples)"
        band = f"[{_exact(r['band'][0])}, {_exact(r['band'][1])}]"
        lines.append(f"{status:<8}{r['id']:<36}{detail}   published: {pub}, band {band} ({r['source']})")
    return "\n".join(lines)


def _exact(x: float) -> str:
    """A figure of the history file as written there (whole numbers with separators: 5,655, 390,000)."""
    x = float(x)
    return f"{int(x):,}" if x.is_integer() else f"{x:g}"


def read_checks(path: Path, blocs: list[str], stages: list[str]) -> list[dict[str, Any]]:
    """The checks of a history file, each checked now against the world's ``blocs`` and ``stages`` (ConfigError naming
    the key and what is allowed): a mistake would otherwise surface after every run."""
    from sim.checks import ConfigError, read_yaml_list

    checks = read_yaml_list(path, "--history", "checks", "conf/validation/history.yaml, or none", " (none: no history block)")
    seen: dict[str, int] = {}
    for i, c in enumerate(checks):
        _check_one(f"checks[{i}]", c, path, blocs, stages)
        if repr(c["id"]) in seen:
            first = seen[repr(c["id"])]
            raise ConfigError(f"checks[{i}].id", f"'{c['id']}' is listed twice in {path} (checks[{first}] and checks[{i}]); allowed: each check once")
        seen[repr(c["id"])] = i
    return checks


def check_years(checks: list[dict[str, Any]], path: Path, start: int, years: int) -> None:
    """Every check's years lie in the runs (``start``, the first calendar year, and ``years``, their number), checked
    before any run: a check outside them has no figure from any seed ("no figure"), which reads as if the runs had
    ended early even for years before they start. ConfigError at ``checks[i].years`` naming the runs' years, and how
    many years would reach the check (sim.research.validate.check_horizon's advice)."""
    from sim.config import ConfigError

    end = start + years - 1
    for i, c in enumerate(checks):
        first, last = (int(y) for y in c["years"])
        if first >= start and last <= end:
            continue
        more = f", or set years >= {last - start + 1}" if first >= start else ""
        raise ConfigError(
            f"checks[{i}].years",
            f"[{first}, {last}] in {path} is outside the runs ({start}-{end}, years={years}); allowed: years in {start}-{end}{more}"
            " (or --history none)",
        )


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _pair(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v) and v[0] <= v[1]


def _check_one(key: str, c: dict[str, Any], path: Path, blocs: list[str], stages: list[str]) -> None:
    from sim.config import ConfigError

    for k in CHECK_KEYS:
        if k not in c:
            raise ConfigError(f"{key}.{k}", f"missing in {path}; each check has id, kind, bloc, stage, years, published, band and source")
    extra = [k for k in c if k not in CHECK_KEYS]
    if extra:  # a misspelt key (bands: for band) would be silently ignored
        raise ConfigError(f"{key}.{extra[0]}", f"unknown key '{extra[0]}' in {path}; allowed: {', '.join(CHECK_KEYS)}")
    if c["kind"] not in KINDS:
        raise ConfigError(f"{key}.kind", f"unknown kind '{c['kind']}' in {path}; allowed: {', '.join(KINDS)}")
    if c["stage"] not in stages:
        raise ConfigError(f"{key}.stage", f"unknown stage '{c['stage']}' in {path}; allowed: {', '.join(stages)}")
    allowed = [*blocs, WORLD] if c["kind"] == "output" else blocs
    if c["bloc"] not in allowed:
        raise ConfigError(f"{key}.bloc", f"unknown bloc '{c['bloc']}' for kind {c['kind']} in {path}; allowed: {', '.join(allowed)}")
    if not _pair(c["years"]) or any(int(y) != y for y in c["years"]):
        raise ConfigError(f"{key}.years", f"needs [first, last], two whole years in order (in {path}), got {c['years']!r}")
    if not (_number(c["published"]) or _pair(c["published"])):
        raise ConfigError(f"{key}.published", f"needs a number or [low, high] (in {path}), got {c['published']!r}")
    if not _pair(c["band"]):
        raise ConfigError(f"{key}.band", f"needs [low, high], two numbers in order (in {path}), got {c['band']!r}")
