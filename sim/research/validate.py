"""Validation: report every target of conf/validation/targets.yaml as met or missed (MODEL.md 8).

    python -m sim.validate                 # 10 seeds, 2 worker processes, conf/validation/targets.yaml
    python -m sim.validate --seeds 3 --workers 2 --out results/validation.json

Runs baseline, west_coordinated and china_without_tiers for seeds 1..N (common
random numbers: seed k in every scenario), and national_programme when the targets
file has national targets (at ``--national-scale``, default 1: about a million firms,
two minutes and 3.5 GB a run), nothing written per run, and prints
one line per target: the simulated median and range across seeds, the accepted
range and MET / MISSED. Targets are checked, never forced. A target is met on the
median; where it has a range the line also says how many seeds lie in it ("6 of
10 seeds in range"), and how firmly the seeds decide the verdict: the share of
2,000 resamples of the seeds (with replacement) whose median lies in the range
("median in range in 55% of resamples": near a half, a coin flip
that more seeds would settle; ``support`` in --out). --out writes every
seed's value (``values``, in seed order; null where there is none or never).

Measures (what each target id reads):
- west_timeline_coordinated: west_coordinated, years from 2025 to independence
  per stage (summary years_to_independence; a seed that never gets there counts as later
  than any that does, so the median is never where half the seeds or more are); beside it, not deciding
  MET, the years from 2025 to the first output of a new Western plant per stage
  (years_to_first_output), the source's timelines read as development times;
- west_timeline_fragmented_is_slower: the calendar year of Western independence
  at separation and magnet in baseline is later than in west_coordinated (or
  never), per seed; met when it holds in the median;
- rare_earth_little_giants_2025: baseline, Chinese Little Giants at end of 2025;
- soe_group_pyramid_2025: the group with most subsidiaries at end of 2025, its
  designated subsidiaries by tier;
- lg_control_processing / lg_control_downstream: share of separation+metal and
  of magnet capacity held by Little Giants and their parent groups, 2025;
- lg_rd_intensity: R&D / revenue of Little Giants and of non-designated firms,
  2020-2030;
- lg_patents: patents in force per Little Giant, end of 2025 (both classes: met or
  missed on this), and beside it, against the same range, invention patents alone
  (``invention``: the programme's statistics count valid invention patents);
- lg_capital_constraint: share of the firms that held the Little Giant title
  at a year's end in 2020-2025 flagged finance-constrained in such a year
  (wanted to expand but could not finance it: met or missed on this; the rate
  per Little Giant-year beside it), and beside it, against the same range, the
  share of the same firms that met a difficulty of scaling for want of capital
  (``reported_difficulty``: wanted to build and needed outside money for it, or
  could not finance it; docs/ODD.md 7.12: the source is a survey of perceived
  difficulty);
- national_little_giants_2024 / _2025, national_srdi_2024: national_programme, title
  holders at the end of the year, divided by national.scale (counts at 1:1 scale);
  national_lg_rd_intensity, national_lg_patents, national_lg_capital_constraint: the same
  measures as the rare-earth ones, on the national world (docs/ODD.md 7.15), the
  capital constraint with its reported difficulty beside it; national_srdi_2024
  counts the SRDI tier and the Little Giants, as the published count does, and
  reports beside it the SRDI tier alone (``tier_alone``) and the same count against
  the range x the target's ``manufacturing_share`` (``manufacturers``);
- designation_criteria_hold: checked by tests/test_designation.py (property
  test), not here;
- designation_raises_rd: baseline against china_without_tiers on the same
  seeds: (a) difference-in-differences of R&D intensity of firms designated in
  baseline (two years after against two years before their first designation,
  less the same change of never-designated firms of the same stage) and (b)
  China's patents in force at end of 2030, baseline minus china_without_tiers;
  met when the 90% interval of the mean across seeds is above zero for both.

After the targets, the public history block (sim.research.history; ``--history FILE``, default
conf/validation/history.yaml, ``none`` to leave it out): published figures of 2015-2024 read from
the same baseline runs, WITHIN or OUTSIDE their bands, never calibrated to; ``--out`` writes their
rows after the targets' (``"history": true``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sim.config import CONF_DIR, ConfigError
from sim.research import history
from sim.research.driver import median_support

SCENARIOS = ("baseline", "west_coordinated", "china_without_tiers")
NATIONAL = "national_programme"  # the national world's scenario: run when the targets file has national targets
TARGETS_FILE = CONF_DIR / "validation" / "targets.yaml"  # in the project: a clone validates on its own


def _one(args: tuple[str, int, Any]) -> dict[str, Any]:
    """Run one scenario and seed (its composed config); return the summary plus the few panel measures validation needs."""
    scenario, seed, cfg = args
    from sim.engine.run import run
    from sim.research.sweep import release_run

    res = run(cfg)
    out = _measures(scenario, seed, cfg, res)
    release_run(res)  # a worker's next run (a national one: 2.4 GB at 1:1) does not start beside this one's model
    return out


def _measures(scenario: str, seed: int, cfg: Any, res: Any) -> dict[str, Any]:
    m = res.model
    out = {"scenario": scenario, "seed": seed, "summary": res.summary}
    if cfg.national is not None:  # the national world: its summary holds every national measure
        return out
    ts = m.recorder.timeseries()
    if scenario == "baseline":  # what the public history checks read (sim.research.history)
        out["history_table"] = history.yearly_table(ts)
    china = ts[(ts["bloc"] == "china") & (ts["year"] == 2030) & (ts["quarter"] == 4)]
    out["patents_2030"] = float((china["patents_invention"] + china["patents_utility"]).sum())
    out["did"] = _did(m.recorder.firm_panel()) if scenario == "baseline" else None
    return out


def _did(panel) -> float | None:
    """Mean over designated firms of (R&D intensity change around first designation) minus the same
    calendar-year change of never-designated firms of the same stage (coordinated bloc)."""
    if panel.empty:
        return None
    p = panel[(panel["bloc"] == "china") & (panel["phase"] == "operating")].copy()
    p["designated"] = p["tier"].astype(str) != "none"
    first = p[p["designated"]].groupby("firm_id")["year"].min()
    never = p[~p["firm_id"].isin(first.index)]
    ctrl = never.groupby(["stage", "year"], observed=True)["rd_intensity"].mean()
    diffs = []
    byfirm = p.set_index(["firm_id", "year"])["rd_intensity"]
    stage_of = p.groupby("firm_id")["stage"].first()
    for fid, d in first.items():
        pre = [byfirm.get((fid, y)) for y in (d - 2, d - 1)]
        post = [byfirm.get((fid, y)) for y in (d + 1, d + 2)]
        if any(v is None or not np.isfinite(v) for v in pre + post):
            continue
        s = stage_of[fid]
        cpre = [ctrl.get((s, y)) for y in (d - 2, d - 1)]
        cpost = [ctrl.get((s, y)) for y in (d + 1, d + 2)]
        if any(v is None or not np.isfinite(v) for v in cpre + cpost):
            continue
        diffs.append((np.mean(post) - np.mean(pre)) - (np.mean(cpost) - np.mean(cpre)))
    return float(np.mean(diffs)) if diffs else None


def _stats(values: list[float | None], accept: list | None = None) -> dict[str, Any]:
    """Median, range and counts over the seeds; ``values``: each seed's value (None where there is none, in seed
    order); with an ``accept`` range also ``met`` (the median lies in it: a target is met on the median) and
    ``in_range``, how many seeds' values lie in it (how many seeds agree, which shows a median near an edge)."""
    each = [float(x) if x is not None and np.isfinite(x) else None for x in values]
    v = [x for x in each if x is not None]
    if not v:
        out = {"median": None, "min": None, "max": None, "n": 0, "n_none": len(values)}
    else:
        out = {"median": float(np.median(v)), "min": float(np.min(v)), "max": float(np.max(v)), "n": len(v), "n_none": len(values) - len(v)}
    out["values"] = each
    if accept is not None:
        out["in_range"] = sum(_in(x, accept) for x in v)
        out["met"] = _in(out["median"], accept)
        out["support"] = median_support(each, accept)
    return out


#: bytes a run's measures take in the parent process until the report: about 23 kB pickled (a baseline run, December
#: 2026), several times that as Python objects; every run's are held together (:func:`check_results_memory`)
RESULT_MEMORY = 100e3


def check_results_memory(seeds: int, runs_per_seed: int, key: str = "--seeds") -> None:
    """Refuse, before any run or job list is made, a seed count whose runs' measures (``RESULT_MEMORY`` each, all held
    until the report) would not fit in this machine's memory: ``--seeds 100000000`` was a hang while the job list was
    built. ConfigError naming ``key`` with the largest count that fits."""
    from sim.config.sizes import machine_memory_bytes

    mem = machine_memory_bytes()
    need = seeds * runs_per_seed * RESULT_MEMORY
    if mem is None or runs_per_seed < 1 or need <= mem:
        return
    most = int(mem // (runs_per_seed * RESULT_MEMORY))
    raise ConfigError(
        key,
        f"{seeds:,} seeds make {seeds * runs_per_seed:,} runs whose measures (about {RESULT_MEMORY / 1e3:.0f} kB each) are held until the "
        f"report: {need / 1e9:,.0f} GB, and this machine has {mem / 1e9:,.1f} GB; allowed: --seeds up to about {most:,}",
    )


def _in(x, lo_hi) -> bool:
    return x is not None and lo_hi[0] <= x <= lo_hi[1]


def _mean_ci90(values: list[float]) -> tuple[float, float, float] | None:
    v = [x for x in values if x is not None and np.isfinite(x)]
    if len(v) < 2:
        return None
    from scipy import stats

    mean, sd = float(np.mean(v)), float(np.std(v, ddof=1))
    half = stats.t.ppf(0.95, len(v) - 1) * sd / math.sqrt(len(v))
    return mean, mean - half, mean + half


def _pol(by: dict, scenario: str, seed: int) -> dict[str, Any]:
    return by[(scenario, seed)]["summary"]["policy"]


def _west_timeline_coordinated(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    """The target's measure as written (years to independence; met or missed on it), and beside it the reading of its
    source as development times (``first_output``: years from 2025 to the first output of a new Western plant at the
    stage, with its own met against the same windows; docs/ODD.md 7.12)."""
    for key, out in (("years_to_independence", "stages"), ("years_to_first_output", "first_output")):
        parts = {}
        for stage, rng in t["accept"].items():
            vals = [by[("west_coordinated", s)]["summary"][key]["west"][stage] for s in seeds]
            st = _stats(vals, rng)
            if st["n_none"] and st["n"]:  # a seed that never gets there is later than any that does: the median counts it so
                from sim.research.analysis import REACHED, censored_quantile

                med, status = censored_quantile([np.nan if x is None else x for x in st["values"]], 0.5)
                st["median"] = med if status == REACHED else None  # later than the horizon, or than a seed's time: none to meet
                st["met"] = _in(st["median"], rng)
                st["support"] = median_support(st["values"], rng, never_later=True)
            parts[stage] = st
        row[out] = parts
    row["met"] = all(p["met"] for p in row["stages"].values())


def _west_timeline_fragmented_is_slower(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    parts = {}
    for stage in ("separation", "magnet"):
        later = []
        for s in seeds:
            yb = by[("baseline", s)]["summary"]["years_to_independence"]["west"][stage]
            yc = by[("west_coordinated", s)]["summary"]["years_to_independence"]["west"][stage]
            cb = None if yb is None else 2015 + yb
            cc = None if yc is None else 2025 + yc
            later.append(cb is None or (cc is not None and cb > cc))
        parts[stage] = {"share_of_seeds": float(np.mean(later))}
    row["stages"] = parts
    row["met"] = all(p["share_of_seeds"] >= 0.5 for p in parts.values())


def _little_giants_2025(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    st = _stats([(_pol(by, "baseline", s)["china"]["firms_by_tier"].get("2025") or {}).get("little_giant") for s in seeds], t["accept"])
    row.update(st)


def _soe_group_pyramid_2025(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    parts = {}
    for tier, rng in t["accept"].items():
        vals = []
        for s in seeds:
            pyr = _pol(by, "baseline", s)["pyramids"]
            if not pyr:
                vals.append(None)
                continue
            largest = max(pyr, key=lambda g: pyr[g].get("2025", {}).get("all", 0))
            vals.append(pyr[largest].get("2025", {}).get(tier))
        parts[tier] = _stats(vals, rng)
    row["tiers"] = parts
    row["met"] = all(p["met"] for p in parts.values())


def _lg_control(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    key = "processing" if t["id"].endswith("processing") else "magnet"
    st = _stats([(_pol(by, "baseline", s)["china"]["lg_control"].get("2025") or {}).get(key) for s in seeds], t["accept"])
    row.update(st)


def _lg_rd_intensity(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    lg = _stats([_pol(by, "baseline", s)["china"]["rd_intensity_2020_2030"]["little_giant"] for s in seeds])
    non = _stats([_pol(by, "baseline", s)["china"]["rd_intensity_2020_2030"]["none"] for s in seeds])
    row.update(little_giants=lg, non_designated=non)
    row["met"] = lg["median"] is not None and non["median"] is not None and lg["median"] >= 0.05 and lg["median"] >= 2 * non["median"]


def _lg_patents(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    """Patents in force per Little Giant, both classes, as the target is written (met or missed on it), and beside it,
    against the same range, invention (class I) patents alone (``invention``): the count the programme's statistics
    give, "valid invention patents" per Little Giant (docs/ODD.md 7.12, patents per Little Giant)."""
    china = lambda s: _pol(by, "baseline", s)["china"]  # noqa: E731
    st = _stats([china(s)["patents_per_little_giant"].get("2025") for s in seeds], t["accept"])
    row.update(st)
    inv = _stats([china(s).get("invention_patents_per_little_giant", {}).get("2025") for s in seeds], t["accept"])
    row["invention"] = inv


def _national_lg_patents(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    """As the rare-earth ``lg_patents``, on the national world: both classes as written, invention patents beside."""
    _national_share("patents_per_little_giant_2025")(row, t, by, seeds)
    inv = _stats(_national(by, seeds, "invention_patents_per_little_giant_2025", per_firm=True), t["accept"])
    row["invention"] = inv


def _lg_capital_constraint(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    """The target's measure as written, a share of Little Giants (firms that held the title at a year's end in
    2020-2025, flagged in such a year: met or missed on it), and beside it the reading of its source as a survey of
    perceived difficulty (``reported_difficulty``, with its own met against the same range; docs/ODD.md 7.12); each
    with its yearly rate, per Little Giant-year (``per_year``), which decides nothing."""
    china = lambda s: _pol(by, "baseline", s)["china"]  # noqa: E731
    st = _stats([china(s).get("capital_constraint_lg_firms_2020_2025") for s in seeds], t["accept"])
    row.update(st)
    row["per_year"] = _stats([china(s)["capital_constraint_lg_2020_2025"] for s in seeds])
    rep = _stats([china(s).get("scaling_finance_difficulty_lg_firms_2020_2025") for s in seeds], t["accept"])
    rep["per_year"] = _stats([china(s).get("scaling_finance_difficulty_lg_2020_2025") for s in seeds])
    row["reported_difficulty"] = rep


def _designation_criteria_hold(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    row.update(met=None, note="checked by the property test tests/test_designation.py, not by this command")


def _designation_raises_rd(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    did = _mean_ci90([by[("baseline", s)]["did"] for s in seeds])
    pat = _mean_ci90([by[("baseline", s)]["patents_2030"] - by[("china_without_tiers", s)]["patents_2030"] for s in seeds])
    row.update(did_rd_intensity=did, patents_2030_difference=pat)
    row["met"] = bool(did and pat and did[1] > 0 and pat[1] > 0)


def _national(by: dict, seeds: list[int], key: str, per_firm: bool = False) -> list[float | None]:
    """A national summary value per seed; counts (``per_firm`` false) at 1:1 scale (the run's count / national.scale)."""
    out = []
    for s in seeds:
        r = by.get((NATIONAL, s))
        v = None if r is None else r["summary"].get(key)
        out.append(v if v is None or per_firm else v / r["summary"]["scale"])
    return out


def _national_count(key: str):
    def measure(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
        st = _stats(_national(by, seeds, key), t["accept"])
        row.update(st)

    return measure


def _national_share(key: str):
    def measure(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
        st = _stats(_national(by, seeds, key, per_firm=True), t["accept"])
        row.update(st)

    return measure


def _national_lg_capital_constraint(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    """As the rare-earth ``lg_capital_constraint``: met or missed on the measure as written (a share of the firms that
    held the Little Giant title at a year's end in 2020-2025 and could not finance a wanted expansion in such a year),
    and beside it, against the same range, the source read as a survey of perceived difficulty (``reported_difficulty``:
    needed outside money to scale, or could not finance it; docs/ODD.md 7.12, 7.15)."""
    _national_share("capital_constraint_lg_firms_2020_2025")(row, t, by, seeds)
    rep = _stats(_national(by, seeds, "scaling_finance_difficulty_lg_firms_2020_2025", per_firm=True), t["accept"])
    row["reported_difficulty"] = rep


def _national_srdi(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    """SRDI SMEs at the end of 2024 as the published count counts them: holders of the SRDI tier and the Little Giants
    (the published 141,000 includes them), met or missed on it. Beside it (not deciding): the SRDI tier alone
    (``tier_alone``, the measure until December 2026) against the same range, and the same count against the range x
    the target's ``manufacturing_share`` (``manufacturers``: the model's candidates are manufacturers, the published
    count is of all sectors; docs/ODD.md 7.15)."""
    srdi, lg = _national(by, seeds, "srdi_2024"), _national(by, seeds, "little_giants_2024")
    both = [None if a is None or b is None else a + b for a, b in zip(srdi, lg)]
    row.update(_stats(both, t["accept"]))
    row["tier_alone"] = _stats(srdi, t["accept"])
    share = t.get("manufacturing_share")
    if share is not None:
        accept = [float(share) * x for x in t["accept"]]
        row["manufacturers"] = {**_stats(both, accept), "accept": accept}


def _national_rd_intensity(row: dict, t: dict, by: dict, seeds: list[int]) -> None:
    rd = [None if (r := by.get((NATIONAL, s))) is None else r["summary"]["rd_intensity_2020_2030"] for s in seeds]
    lg = _stats([None if x is None else x["little_giant"] for x in rd])
    non = _stats([None if x is None else x["none"] for x in rd])
    row.update(little_giants=lg, non_designated=non)
    row["met"] = lg["median"] is not None and non["median"] is not None and lg["median"] >= 0.05 and lg["median"] >= 2 * non["median"]


# the measure of each target id (see the module docstring): it fills the target's row
MEASURES = {
    "west_timeline_coordinated": _west_timeline_coordinated,
    "west_timeline_fragmented_is_slower": _west_timeline_fragmented_is_slower,
    "rare_earth_little_giants_2025": _little_giants_2025,
    "soe_group_pyramid_2025": _soe_group_pyramid_2025,
    "lg_control_processing": _lg_control,
    "lg_control_downstream": _lg_control,
    "lg_rd_intensity": _lg_rd_intensity,
    "lg_patents": _lg_patents,
    "lg_capital_constraint": _lg_capital_constraint,
    "designation_criteria_hold": _designation_criteria_hold,
    "designation_raises_rd": _designation_raises_rd,
    "national_little_giants_2024": _national_count("little_giants_2024"),
    "national_little_giants_2025": _national_count("little_giants_2025"),
    "national_srdi_2024": _national_srdi,
    "national_lg_rd_intensity": _national_rd_intensity,
    "national_lg_patents": _national_lg_patents,
    "national_lg_capital_constraint": _national_lg_capital_constraint,
}


def evaluate(results: list[dict[str, Any]], targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A row per target: its measure over the seeds (:data:`MEASURES`) and whether it is met."""
    by = {(r["scenario"], r["seed"]): r for r in results}
    seeds = sorted({r["seed"] for r in results})
    rows = []
    for t in targets:
        row: dict[str, Any] = {"id": t["id"], "accept": t.get("accept")}
        measure = MEASURES.get(t["id"])
        if measure is None:
            row.update(met=None, note="no measure implemented for this target")
        else:
            measure(row, t, by, seeds)
        rows.append(row)
    return rows


def _fmt(x) -> str:
    """Three significant figures; counts of thousands and more in full with separators (15,000, not 1.5e+04)."""
    if x is None:
        return "never/none"
    if isinstance(x, float) and abs(x) >= 1000:
        return f"{float(f'{x:.3g}'):,.0f}"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _span(v: dict[str, Any], unit: str = "") -> str:
    """ "median m [min, max]" (then ``unit``), and where the range was judged, how many seeds lie in it ("6 of 10 seeds
    in range")."""
    out = f"median {_fmt(v.get('median'))} [{_fmt(v.get('min'))}, {_fmt(v.get('max'))}]{unit}"
    if "in_range" in v:
        out += f", {v['in_range']} of {v['n'] + v['n_none']} seeds in range"
    if v.get("support") is not None:
        out += f" (median in range in {v['support']:.0%} of resamples)"
    return out


def report(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        status = "MET" if r["met"] else ("-" if r["met"] is None else "MISSED")
        if "stages" in r or "tiers" in r:
            parts = r.get("stages") or r.get("tiers")
            detail = "; ".join(
                f"{k}: "
                + (_span(v) + (f", {v['n_none']} never" if v.get("n_none") else "") if "median" in v else f"{v['share_of_seeds']:.0%} of seeds")
                for k, v in parts.items()
            )
            if "first_output" in r:  # west_timeline_coordinated: the source read as development times beside the measure
                detail += "; first output of a new plant (the source's development times): " + "; ".join(
                    f"{k}: {_span(v)}" + (f", {v['n_none']} never" if v.get("n_none") else "") + f" {'MET' if v['met'] else 'MISSED'}"
                    for k, v in r["first_output"].items()
                )
        elif "little_giants" in r:
            detail = (
                f"Little Giants median {_fmt(r['little_giants']['median'])} [{_fmt(r['little_giants']['min'])}, {_fmt(r['little_giants']['max'])}], "
                f"non-designated {_fmt(r['non_designated']['median'])}"
            )
        elif "did_rd_intensity" in r:
            f3 = lambda t: "n/a" if t is None else f"{_fmt(float(t[0]))} (90% CI {_fmt(float(t[1]))}..{_fmt(float(t[2]))})"  # noqa: E731
            detail = f"DiD R&D intensity {f3(r['did_rd_intensity'])}; patents 2030 difference {f3(r['patents_2030_difference'])}"
        elif "median" in r:
            per_year = lambda x: f" (per Little Giant-year {_fmt(x['per_year']['median'])})" if "per_year" in x else ""  # noqa: E731
            unit = f" of Little Giants{per_year(r)}" if "reported_difficulty" in r else ""
            detail = _span(r, unit) + (f", {r['n_none']} none" if r.get("n_none") else "")
            if "reported_difficulty" in r:  # lg_capital_constraint: the survey reading beside the measure as written
                d = r["reported_difficulty"]
                detail += (
                    f"; reported difficulty (needed outside money or could not finance): {_span(d, per_year(d))} {'MET' if d['met'] else 'MISSED'}"
                )
            if "invention" in r:  # lg_patents: the programme's statistics' count (invention patents) beside the measure as written
                d = r["invention"]
                detail += (
                    f" (both classes); invention patents alone (the programme's statistics' count): {_span(d)} {'MET' if d['met'] else 'MISSED'}"
                )
            if "tier_alone" in r:  # national_srdi_2024: the SRDI tier alone and the manufacturers' range beside the measure
                d = r["tier_alone"]
                detail += f" (SRDI tier and Little Giants); the SRDI tier alone: {_span(d)} {'MET' if d['met'] else 'MISSED'}"
                if "manufacturers" in r:
                    d = r["manufacturers"]
                    lo, hi = d["accept"]
                    detail += f"; against the manufacturers' share of the range [{_fmt(lo)}, {_fmt(hi)}]: {'MET' if d['met'] else 'MISSED'}"
        else:
            detail = r.get("note", "")
        lines.append(f"{status:<7}{r['id']:<36}{detail}   accept: {json.dumps(r['accept'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from sim.config import ConfigError, compose
    from sim.research.driver import batch_progress, check_counts, command_parser, refuse_seed
    from sim.research.sweep import map_jobs

    ap = command_parser(
        "python -m sim.validate",
        __doc__.split("\n\n")[0],
        overrides=(
            "config overrides applied to every run (e.g. policy.china.designation.niches_per_stage.magnet=60); "
            "national.* ones to the national runs only"
        ),
        seeds="replications (seeds 1..N; default 10)",
        seeds_default=10,
        workers="worker processes (default 2)",
        workers_default=2,
        out="write the results as JSON here",
    )
    ap.add_argument("--targets", default=str(TARGETS_FILE), help="targets.yaml (default: conf/validation/targets.yaml)")
    ap.add_argument(
        "--history",
        default=str(history.HISTORY_FILE),
        help=(
            "public figures compared with the baseline after the targets, never calibrated to "
            "(default: conf/validation/history.yaml; none: no such block)"
        ),
    )
    ap.add_argument(
        "--national-scale",
        type=float,
        default=1.0,
        help="national.scale of the national runs (default 1: the programme at 1:1 scale; their counts are compared at 1:1 scale)",
    )
    ap.add_argument(
        "--world",
        choices=WORLDS,
        default="both",
        help="the targets of the rare-earth chain only (its three scenarios), of the national world only, or both (default)",
    )
    a = ap.parse_intermixed_args(argv)  # overrides anywhere among the options
    try:
        check_counts(a)
        refuse_seed(a.overrides)
        targets = of_world(read_targets(Path(a.targets)), a.world, Path(a.targets))
        # one composition per scenario (checked before any run); a seed changes nothing else in a config. Overrides of
        # the national world's own settings (national.*) reach only its runs: the rare-earth scenarios have none
        national = any(t["id"].startswith("national_") for t in targets)
        chain = any(not t["id"].startswith("national_") for t in targets)  # the rare-earth scenarios run only when asked
        check_results_memory(a.seeds, (len(SCENARIOS) if chain else 0) + (1 if national else 0))
        only_national = [o for o in a.overrides if _national_key(o)]
        if only_national and not national:
            key = only_national[0].split("=", 1)[0]
            raise ConfigError(
                key,
                "sets the national world, and these targets have no national run: "
                "add the national targets to --targets (and --world both or national)",
            )
        common = [o for o in a.overrides if not _national_key(o)]
        base = {sc: compose([f"scenario={sc}", "progress=false", "output.write=false", *common]) for sc in (SCENARIOS if chain else ())}
        if national:
            national_overrides = [f"scenario={NATIONAL}", f"national.scale={a.national_scale}", "progress=false", "output.write=false"]
            base[NATIONAL] = compose([*national_overrides, *a.overrides])
        checks = []
        if a.history != "none" and chain:
            w = base["baseline"].world
            checks = history.read_checks(Path(a.history), blocs=list(w.blocs), stages=list(w.stages))
        elif a.history not in ("none", str(history.HISTORY_FILE)):
            why = "the history checks read baseline runs, which these targets do not ask for: add the rare-earth targets to --targets, or give none"
            raise ConfigError("--history", why)
        check_horizons(targets, base)  # a target the runs end before is refused, as sim.calibrate refuses it
        if checks:  # so is a history check outside the runs' years (it had no figure from any seed)
            history.check_years(checks, Path(a.history), base["baseline"].world.start_year, base["baseline"].years)
        if a.out:
            check_out_file(Path(a.out))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    scenarios = (*(SCENARIOS if chain else ()), *((NATIONAL,) if national else ()))
    jobs = [(sc, s, dataclasses.replace(base[sc], seed=s)) for s in range(1, a.seeds + 1) for sc in scenarios]
    if national:  # the long national runs first, so that the short ones fill the workers at the end
        jobs.sort(key=lambda j: j[0] != NATIONAL)
    from sim.progress import is_terminal

    bar = is_terminal(sys.stderr)  # on a terminal the bar counts; off it (a log, a pipe) a line a tenth of the way
    every = max(1, len(jobs) // 10)

    def done(_i, _record, n_done: int) -> None:
        quiet = bar or (n_done % every and n_done != len(jobs))
        display.advance(text=None if quiet else f"validation: {n_done}/{len(jobs)} runs done")

    with batch_progress(len(jobs), "validation", a.overrides, stream=sys.stderr) as display:
        results = map_jobs(_one, jobs, a.workers, on_done=done)  # a bar on a terminal, a line a tenth of the way elsewhere
    rows = evaluate(results, targets)
    print(report(rows))
    if checks:
        tables = [r.get("history_table") for r in sorted(results, key=lambda r: r["seed"]) if r["scenario"] == "baseline"]
        past = history.evaluate(checks, tables)
        print(history.report(past, _fmt))
        rows = rows + [{**r, "history": True, "met": None} for r in past]  # --out: the checks after the targets
    if a.out:
        from sim.engine import output

        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        output.write_text(Path(a.out), json.dumps(output.json_ready(rows), indent=1, default=float, allow_nan=False))  # whole, or not at all
    return 0


# target id -> (the last calendar year its measure reads, the scenarios it reads them from), as sim.calibrate's USABLE: the
# runs must reach that year, or the target cannot be measured (a count at the end of 2025 from runs that end in 2022 is
# "none", and MISSED). The Western timelines count years from the policy switch, west_coordinated's
# world.timeline_reference_year (2025): their year is worked out by :func:`last_year_read` (None here).
# designation_criteria_hold is not measured from runs.
READS: dict[str, tuple[int | None, tuple[str, ...]]] = {
    "west_timeline_coordinated": (None, ("west_coordinated",)),
    "west_timeline_fragmented_is_slower": (None, ("baseline", "west_coordinated")),
    "rare_earth_little_giants_2025": (2025, ("baseline",)),
    "soe_group_pyramid_2025": (2025, ("baseline",)),
    "lg_control_processing": (2025, ("baseline",)),
    "lg_control_downstream": (2025, ("baseline",)),
    "lg_rd_intensity": (2030, ("baseline",)),  # 2020-2030
    "lg_patents": (2025, ("baseline",)),
    "lg_capital_constraint": (2025, ("baseline",)),  # 2020-2025
    "designation_criteria_hold": (None, ()),
    "designation_raises_rd": (2030, ("baseline", "china_without_tiers")),  # patents at the end of 2030
    "national_little_giants_2024": (2024, (NATIONAL,)),
    "national_little_giants_2025": (2025, (NATIONAL,)),
    "national_srdi_2024": (2024, (NATIONAL,)),
    "national_lg_rd_intensity": (2025, (NATIONAL,)),  # 2020-2030 as far as the runs go: the national scenario ends in 2025
    "national_lg_patents": (2025, (NATIONAL,)),
    "national_lg_capital_constraint": (2025, (NATIONAL,)),  # 2020-2025
}


def last_year_read(target: dict[str, Any], base: dict[str, Any]) -> int | None:
    """The last calendar year ``target``'s measure reads (:data:`READS`; None: none is read from runs). ``base``: the
    composed config of each scenario run. west_timeline_coordinated reads up to the policy switch plus the highest end
    of its accepted ranges (2025 + 15 = 2040: a magnet median of 13 years is "never" in runs that end in 2035);
    west_timeline_fragmented_is_slower, whose accept counts "never within the horizon", needs the runs to go past the
    switch (2026), or every seed's "never" would meet it without a year of the Western effort run."""
    year, _ = READS[target["id"]]
    if target["id"] in ("west_timeline_coordinated", "west_timeline_fragmented_is_slower"):
        world = base["west_coordinated"].world
        switch = world.timeline_reference_year if world.timeline_reference_year is not None else world.start_year
        if target["id"] == "west_timeline_fragmented_is_slower":
            return math.floor(switch) + 1
        return math.floor(switch + max(hi for _lo, hi in target["accept"].values()))
    return year


def check_horizon(cfg: Any, last_year: int, which: str = "") -> None:
    """ConfigError at ``years`` when runs of ``cfg`` (a composed config) end before ``last_year``, the year the targets
    read up to (``which``: the target that does, named in the message). sim.calibrate's check, in its words:
    ``the runs end in 2019; the targets read up to 2025: set years >= 11``."""
    from sim.config import ConfigError

    start = cfg.world.start_year
    end = start + cfg.years - 1
    if end < last_year:
        named = f" ({which})" if which else ""
        raise ConfigError("years", f"the runs end in {end}; the targets read up to {last_year}{named}: set years >= {last_year - start + 1}")


def check_horizons(targets: list[dict[str, Any]], base: dict[str, Any]) -> None:
    """Every target's runs reach the last year it reads (:func:`last_year_read`), checked before any run: ConfigError at
    ``years`` (:func:`check_horizon`) naming the target that needs the most years, so that its advice is enough."""
    short = []
    for t in targets:
        last = last_year_read(t, base)
        if last is None:
            continue
        for sc in READS[t["id"]][1]:
            cfg = base[sc]
            if cfg.world.start_year + cfg.years - 1 < last:
                short.append((last - cfg.world.start_year + 1, cfg, last, t["id"]))
    if short:
        _need, cfg, last, which = max(short, key=lambda x: x[0])
        check_horizon(cfg, last, which)


def _national_key(override: str) -> bool:
    """An override of the national world's own settings (``national.firms.rd_intensity.median=0.025``)."""
    key = override.split("=", 1)[0].lstrip("+~")
    return key == "national" or key.startswith("national.")


def check_out_file(path: Path) -> None:
    """``--out FILE`` can be written, checked before the runs: not a directory, under a directory this user can write
    (created if missing), with room for the JSON. ConfigError at ``--out`` otherwise."""
    from sim.config import ConfigError
    from sim.engine import output

    if path.is_dir():
        raise ConfigError("--out", f"'{path}' is a directory; allowed: a file path for the JSON results")
    output.check_writable(path.parent, "--out", shown=path)
    output.check_free_space(path.parent, "--out", 1e6, "the JSON results")


WORLDS = ("rare_earth", "national", "both")  # --world


def of_world(targets: list[dict[str, Any]], world: str, path: Path) -> list[dict[str, Any]]:
    """The targets ``--world`` asks for: the national world's (ids ``national_*``), the rare-earth chain's (the others),
    or both; ConfigError when the file holds none of them (the command would run nothing)."""
    from sim.config import ConfigError

    if world == "both":
        return targets
    kept = [t for t in targets if t["id"].startswith("national_") == (world == "national")]
    if not kept:
        other = "rare_earth" if world == "national" else "national"
        raise ConfigError("--world", f"{path} holds no {world} targets; allowed for this file: {other} or both")
    return kept


def read_targets(path: Path) -> list[dict[str, Any]]:
    """The targets of a targets.yaml (a mapping with a ``targets`` list, each with an ``id``); ConfigError otherwise."""
    from sim.checks import read_yaml_list
    from sim.config import ConfigError

    each = "a list of mappings each with an 'id'"
    targets = read_yaml_list(path, "--targets", "targets", "conf/validation/targets.yaml", items=each)
    if not targets:  # nothing to measure: the command would print nothing and write [] (exit 0)
        raise ConfigError("targets", f"{path} holds no targets; allowed: a non-empty list of targets, each with {TARGET_KEYS_TEXT}")
    seen: dict[Any, int] = {}
    for i, t in enumerate(targets):  # checked now: a mistake would otherwise surface after every run
        if "id" not in t:
            raise ConfigError(f"targets[{i}].id", f"missing in {path} (--targets); each target has 'id', scenario, measure, accept and source")
        if not isinstance(t["id"], str) or t["id"] not in MEASURES:
            raise ConfigError(f"targets[{i}].id", f"unknown target {t['id']!r} in {path}; allowed: {', '.join(MEASURES)}")
        if t["id"] in seen:
            raise ConfigError(
                f"targets[{i}].id", f"'{t['id']}' is listed twice in {path} (targets[{seen[t['id']]}] and targets[{i}]); allowed: each target once"
            )
        seen[t["id"]] = i
        allowed = [*TARGET_KEYS, *(k for k, ids in TARGET_EXTRA_KEYS.items() if t["id"] in ids)]
        extra = [k for k in t if k not in allowed]
        if extra:  # a misspelt key (acceptance: for accept) would be silently ignored
            raise ConfigError(f"targets[{i}].{extra[0]}", f"unknown key '{extra[0]}' of target {t['id']} in {path}; allowed: {', '.join(allowed)}")
        _check_scenario(f"targets[{i}].scenario", t, path)
        _check_accept(f"targets[{i}].accept", t, path)
        share = t.get("manufacturing_share")
        if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1):
            raise ConfigError(f"targets[{i}].manufacturing_share", f"{share!r} in {path} is not a share; allowed: a number in (0, 1]")
    return targets


# The keys of a target (conf/validation/targets.yaml): the measure reads id and accept, the others are for the reader
TARGET_KEYS = ("id", "scenario", "measure", "accept", "source")
TARGET_KEYS_TEXT = "id, scenario, measure, accept and source"
TARGET_EXTRA_KEYS = {"manufacturing_share": ("national_srdi_2024",)}  # a key one target's measure reads, and the targets that read it


def _scenario_words(text: str) -> list[str]:
    """The scenario names a target's ``scenario`` text names (``baseline vs china_without_tiers (same seeds)``)."""
    from sim.config import CONF_DIR

    known = {*SCENARIOS, NATIONAL, *(p.stem for p in (CONF_DIR / "scenario").glob("*.yaml"))}
    return [w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text) if w in known]


def _check_scenario(key: str, t: dict[str, Any], path: Path) -> None:
    """A target's ``scenario`` (optional, for the reader) names the scenario(s) its measure reads (:data:`READS`): a
    target is always measured in those, so another one written there would be silently ignored."""
    from sim.config import ConfigError

    reads = READS[t["id"]][1]
    if "scenario" not in t or not reads:  # designation_criteria_hold is not measured from runs ("all")
        return
    sc = t["scenario"]
    named = _scenario_words(sc) if isinstance(sc, str) else []
    if named and all(n in reads for n in named):
        return
    where = " and ".join(reads)
    raise ConfigError(key, f"{sc!r} in {path}, but {t['id']} is measured in {where}; allowed: {', '.join(reads)} (or leave scenario out)")


# Targets whose measure compares a median with ``accept``: one [low, high] range, or a range per key (stage, tier).
ACCEPT_RANGE = (
    "rare_earth_little_giants_2025",
    "lg_control_processing",
    "lg_control_downstream",
    "lg_patents",
    "lg_capital_constraint",
    "national_little_giants_2024",
    "national_little_giants_2025",
    "national_srdi_2024",
    "national_lg_patents",
    "national_lg_capital_constraint",
)
ACCEPT_RANGES_BY = {
    "west_timeline_coordinated": ("stage", ("mining", "separation", "metal", "magnet")),
    "soe_group_pyramid_2025": ("tier", ("innovation_type", "srdi", "little_giant")),  # the designated tiers of a group's pyramid
}


def _is_range(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) and v[0] <= v[1]


def _check_accept(key: str, t: dict[str, Any], path: Path) -> None:
    """A target's ``accept`` has the shape its measure reads (the others are text for the reader)."""
    from sim.config import ConfigError

    accept = t.get("accept")
    if t["id"] in ACCEPT_RANGE and not _is_range(accept):
        raise ConfigError(key, f"target '{t['id']}' in {path} needs a range [low, high] of two numbers, got {accept!r}")
    if t["id"] in ACCEPT_RANGES_BY:
        what, names = ACCEPT_RANGES_BY[t["id"]]
        example = f"{{{names[0] if names else 'little_giant'}: [low, high], ...}}"
        if not isinstance(accept, dict) or not accept:
            raise ConfigError(key, f"target '{t['id']}' in {path} needs a range per {what}, e.g. {example}; got {accept!r}")
        for k, v in accept.items():
            if names and k not in names:
                raise ConfigError(f"{key}.{k}", f"unknown {what} '{k}' in {path}; allowed: {', '.join(names)}")
            if not _is_range(v):
                raise ConfigError(f"{key}.{k}", f"needs a range [low, high] of two numbers (in {path}), got {v!r}")


if __name__ == "__main__":
    sys.exit(main())
