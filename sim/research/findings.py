"""What each figure of the experiment report shows in this run, in sentences made from the run's numbers.

    from sim.research.findings import figure_findings
    text = figure_findings(runs, frames)   # {figure name: sentence(s)}; frames: timeseries, policy, events, firms, timelines

Every number in a sentence is computed here from the runs (medians over seeds, as the figures draw them); nothing is
written in by hand. Three results that read as paradoxes carry their mechanism, measured in the same runs:

- designated firms hold fewer patents than their not-yet-designated peers before designation: the comparison group
  holds the large incumbents (never SMEs, so never designated) whose patent stocks are many times a small firm's;
- the not-designated tier can hold as many or more patents per firm than a title tier, for the same reason;
- the Western magnet price peaks years after the export control starts: the plants the price calls for are built,
  then ramp up and wait for buyer qualification, so output catches up with capacity years later.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sim.research import analysis as an
from sim.research import style


def _fmt(x: float, digits: int = 0, sign: bool = False) -> str:
    """A number (with its sign when ``sign``), or "n/a" where the runs have none (NaN: no firm of the tier, say)."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:{'+' if sign else ''},.{digits}f}"


def _pct(x: float, digits: int = 0) -> str:
    """A share in per cent: "4.5%", or "n/a" (no per cent sign) where there is none."""
    text = _fmt(x, digits)
    return text if text == "n/a" else text + "%"


def _year(x: float) -> str:
    """A time in decimal years as a year, or a year and quarter (2034.25 -> 2034 Q2)."""
    if x is None or not np.isfinite(x):
        return "n/a"
    whole = math.floor(x + 1e-9)
    return f"{whole}" if abs(x - whole) < 1e-9 else f"{whole} Q{int(round((x - whole) * 4)) + 1}"


def _list(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] if parts else ""


# --------------------------------------------------------------------------------------------------
# Per figure
# --------------------------------------------------------------------------------------------------
def timeline_finding(timelines: pd.DataFrame, bloc: str = "west", stages: tuple[str, ...] = ("separation", "magnet")) -> str:
    """Independence of ``bloc`` at ``stages`` per scenario, in calendar years, with the seeds that reached it."""
    t = timelines[(timelines["measure"] == "years_to_independence") & (timelines["bloc"].astype(str) == bloc)]
    out = []
    for stage in stages:
        parts = []
        for _, r in t[t["stage"].astype(str) == stage].iterrows():
            n, k = int(r["n_seeds"]), int(r["n_reached"])
            end = r["reference_year"] + r["horizon_years"]
            if r["median_status"] == an.NEVER:
                parts.append(f"`{r['scenario']}` not by {_year(end)} in {n - k} of {n} seeds")
            else:
                when = _year(r["reference_year"] + r["median"])
                parts.append(
                    f"`{r['scenario']}` {'after ' if r['median_status'] == an.LOWER_BOUND else 'in '}{when} (median; {k}/{n} seeds reached it)"
                )
        if parts:
            out.append(f"{bloc} {stage} independence: " + "; ".join(parts))
    return ". ".join(out) + "." if out else ""


def _at(ts: pd.DataFrame, bloc: str, stage: str, year: int, col: str, scale: float = 1.0) -> pd.Series:
    """Per scenario: the median over seeds of ``col`` for the bloc and stage in the last quarter of ``year``."""
    d = ts[(ts["bloc"].astype(str) == bloc) & (ts["stage"].astype(str) == stage) & (ts["year"] == year)]
    d = d[d["quarter"] == d["quarter"].max()]
    return d.groupby("scenario")[col].median() * scale


def capacity_finding(ts: pd.DataFrame, year: int | None = None) -> str:
    """West separation and magnet capacity and China's share of separation capacity in ``year`` (default the last full
    year), per scenario."""
    year = int(year if year is not None else ts["year"].max())
    parts = []
    for stage in ("separation", "magnet"):
        cap = _at(ts, "west", stage, year, "capacity_t", 1e-3)
        unit = style.stage_unit(stage, "kt/yr")
        parts.append(f"West {stage} capacity at the end of {year}: " + ", ".join(f"`{s}` {_fmt(v, 1)} {unit}" for s, v in cap.items()))
    share = _at(ts, "china", "separation", year, "capacity_share", 100.0)
    parts.append("China's share of world separation capacity: " + ", ".join(f"`{s}` {_pct(v)}" for s, v in share.items()))
    return ". ".join(parts) + "."


def pyramid_finding(policy: pd.DataFrame, bloc: str = "china") -> str:
    """The largest number of Little Giants held at once, when, and at the end, per scenario (medians over seeds)."""
    p = policy[(policy["bloc"].astype(str) == bloc) & (policy["measure"] == "firms") & (policy["key"] == "little_giant")]
    if p.empty:
        return ""
    med = p.groupby(["scenario", "time"])["value"].median()
    parts = []
    for scen, g in med.groupby(level="scenario"):
        g = g.droplevel("scenario")
        if g.max() <= 0:
            parts.append(f"`{scen}` designates none")
            continue
        parts.append(f"`{scen}` peaks at {_fmt(g.max())} Little Giants in {_year(float(g.idxmax()))} and holds {_fmt(g.iloc[-1])} at the end")
    return f"{bloc.capitalize()}: " + "; ".join(parts) + " (medians over seeds)."


def _incumbents(firms: pd.DataFrame, bloc: str = "china") -> pd.DataFrame:
    """Operating firm-years of ``bloc`` with patents (invention + utility), first designation year and whether the firm
    is ever designated in its run."""
    f = firms[(firms["bloc"].astype(str) == bloc) & (firms["phase"].astype(str) == "operating")].copy()
    f["patents"] = f["patents_invention"] + f["patents_utility"]
    first = f[f["designation_year"] >= 0].groupby(["run", "firm_id"])["designation_year"].min().rename("first")
    f = f.join(first, on=["run", "firm_id"])
    f["ever"] = f["first"].notna()
    return f


def event_study_finding(study: pd.DataFrame, firms: pd.DataFrame | None) -> str:
    """The patent gap of designated firms at the window's ends and at designation, with the composition of the
    comparison group that explains a negative gap before designation."""
    s = study[study["variable"] == "patents"]
    if s.empty:
        return ""
    by_k = s.groupby("rel_year")["difference"].median()
    ks = [int(k) for k in (by_k.index.min(), 0, by_k.index.max()) if k in by_k.index]
    gaps = ", ".join(
        f"{_fmt(v, 1, sign=True)} at {k:+d}" if k else f"{_fmt(v, 1, sign=True)} in the year of designation" for k, v in ((k, by_k[k]) for k in ks)
    )
    text = f"Patents in force, designated firms minus their comparison firms (median over runs): {gaps} years."
    rd = study[study["variable"] == "rd_intensity"].groupby("rel_year")["difference"].median() * 100
    if not rd.empty:
        text += (
            f" R&D intensity gap: {_fmt(rd.iloc[0], 1, sign=True)} percentage points at {int(rd.index[0]):+d} years, "
            f"{_fmt(rd.iloc[-1], 1, sign=True)} at {int(rd.index[-1]):+d}."
        )
    if firms is None or firms.empty or not (by_k < 0).any():
        return text
    f = _incumbents(firms)
    notyet = f[f["first"].isna() | (f["first"] > f["year"])]
    never, later = notyet[~notyet["ever"]], notyet[notyet["ever"]]
    big = never["employees"].median() / max(later["employees"].median(), 1e-9)
    share = never["patents"].sum() / max(notyet["patents"].sum(), 1e-9)
    text += (
        f" Why designated firms start below their peers: the comparison group is every firm of the year and stage not "
        f"designated yet, and {share * 100:.0f}% of its patents belong to firms never designated in the run: incumbents, "
        f"among them the large firms that are not SMEs and can hold no title. They hold {_fmt(never['patents'].mean(), 1)} patents "
        f"per firm-year with a median of {_fmt(never['employees'].median())} employees; the firms designated later hold "
        f"{_fmt(later['patents'].mean(), 1)} before their designation with {_fmt(later['employees'].median())} "
        f"({big:.1f} times fewer staff). Designation picks small firms that have just raised R&D and filed patents to "
        "cross the thresholds, so the gap closes in the years around designation: a selection of small firms, not a "
        "penalty of the title."
    )
    return text


def rd_by_tier_finding(policy: pd.DataFrame, firms: pd.DataFrame | None, bloc: str = "china") -> str:
    """R&D intensity and patents per firm by tier in the last year of the reference scenario, with why the
    not-designated tier can hold many patents per firm."""
    d = an._tier_year(policy, bloc)  # noqa: SLF001 - the figure's own numbers
    if d.empty:
        return ""
    scen = "baseline" if "baseline" in set(d["scenario"]) else str(d["scenario"].iloc[0])
    last = int(d["year"].max())
    g = d[(d["scenario"] == scen) & (d["year"] == last)].groupby("key")[["rd_intensity", "patents_per_firm"]].median()
    g = g.reindex([t for t in an.TIERS if t in g.index])
    parts = [f"{an.TIER_NAMES[t]} {_pct(v['rd_intensity'] * 100, 1)} and {_fmt(v['patents_per_firm'], 1)}" for t, v in g.iterrows()]
    text = f"In {last}, `{scen}`: R&D intensity and patents per firm by tier: " + "; ".join(parts) + " (medians over seeds)."
    titled = g.drop(index="none", errors="ignore")["patents_per_firm"]
    if "none" in g.index and firms is not None and not firms.empty and len(titled) and g.loc["none", "patents_per_firm"] >= titled.min():
        f = _incumbents(firms)
        f = f[
            (f["year"] == f["year"].max()) & (f["tier"].astype(str) == "none") & (f["run"].isin(set(policy.loc[policy["scenario"] == scen, "run"])))
        ]
        if len(f):
            top = f[f["employees"] >= f["employees"].quantile(0.9)]
            below = _list([an.TIER_NAMES[t] for t in titled[titled <= g.loc["none", "patents_per_firm"]].index])
            text += (
                f" The not-designated tier holds more patents per firm than {below}"
                f" because it holds the large incumbents: its tenth of firms with the most staff hold "
                f"{top['patents'].sum() / max(f['patents'].sum(), 1e-9) * 100:.0f}% of its patents ({_fmt(top['patents'].mean())} per firm, "
                f"against {_fmt(f.drop(top.index)['patents'].mean(), 1)} for the other nine tenths)."
            )
    return text


def prices_finding(ts: pd.DataFrame, bloc: str = "west", stage: str = "magnet", lag: int = 4) -> str:
    """When the ``bloc``'s ``stage`` price peaks after the export control at that stage starts, per scenario, and
    the capacity and output at the peak and ``lag`` years later: the mechanism of a late peak."""
    d = ts[(ts["bloc"].astype(str) == bloc) & (ts["stage"].astype(str) == stage)]
    ctl = ts[(ts["stage"].astype(str) == stage) & (ts.get("export_controlled", 0) > 0)]
    if d.empty or ctl.empty:
        return ""
    parts, unit = [], style.stage_unit(stage, "kt/yr")
    for scen, g in d.groupby("scenario"):
        c = ctl[ctl["scenario"] == scen]
        if c.empty:
            continue
        start = float(c["time"].min())
        med = g.groupby("time")[["price_usd_per_kg", "capacity_t", "output_t"]].median()
        after = med[med.index >= start]
        peak = float(after["price_usd_per_kg"].idxmax())
        later = after[after.index >= peak + lag]
        at = after.loc[peak]
        s = (
            f"`{scen}`: {_fmt(at['price_usd_per_kg'])} USD/kg in {_year(peak)}, {peak - start:.1f} years after the control began "
            f"({_year(start)}), when {bloc} capacity was {_fmt(at['capacity_t'] / 1e3, 1)} and output {_fmt(at['output_t'] * 4 / 1e3, 1)} {unit}"
        )
        if not later.empty:
            nx = later.iloc[0]
            s += f"; {lag} years later output is {_fmt(nx['output_t'] * 4 / 1e3, 1)} {unit} and the price {_fmt(nx['price_usd_per_kg'])} USD/kg"
        parts.append(s)
    if not parts:
        return ""
    return (
        f"The {bloc} {stage} price (median over seeds) peaks late: "
        + "; ".join(parts)
        + ". The control cuts the bloc off from most of its supply, and the price rises until the plants it calls for "
        "produce: they are financed and built over years, then ramp up and wait for buyers to qualify them, so "
        "capacity runs ahead of output until the new plants qualify; then output catches up and the price falls."
    )


def fiscal_finding(policy: pd.DataFrame) -> str:
    """Each scenario and bloc's total over the run (mean over seeds) and its largest instrument."""
    tot = an.fiscal_by_instrument(policy)
    if tot.empty:
        return "No public money spent."
    parts = []
    for (scen, bloc), row in tot.iterrows():
        if row.sum() <= 0:
            continue
        top = row.idxmax()
        parts.append(f"`{scen}` / {bloc} {_fmt(row.sum())} M USD ({top} {row[top] / row.sum() * 100:.0f}%)")
    return "Public money over the whole run, mean over seeds, with the largest instrument's share: " + "; ".join(parts) + "."


def figure_findings(frames: dict[str, Any], study: pd.DataFrame | None = None) -> dict[str, str]:
    """Per figure of the report: the sentence(s) stating what it shows in this run. ``frames``: ``timeseries``,
    ``policy``, ``events``, ``firms`` (tidy frames over the runs; firms may be empty) and ``timelines``
    (:func:`sim.research.analysis.timeline_table`); ``study``: the event study (or None)."""
    ts, pol, firms = frames["timeseries"], frames["policy"], frames.get("firms")
    out = {
        "timeline": timeline_finding(frames["timelines"]),
        "capacity": capacity_finding(ts, int(ts["year"].max())),
        "pyramid": pyramid_finding(pol),
        "rd_by_tier": rd_by_tier_finding(pol, firms),
        "prices": prices_finding(ts),
        "fiscal": fiscal_finding(pol),
    }
    if study is not None:
        out["event_study"] = event_study_finding(study, firms)
    return {k: v for k, v in out.items() if v and not (isinstance(v, float) and math.isnan(v))}
