"""Timelines over seeds (sim/research/analysis.py timeline_table, censored_quantile, first_held,
independence_years, timeline_differences; sim/research/experiment.py timeline_difference_table and
the text of the cells), on synthetic inputs whose answers are worked out by hand: every seed
reached, all never, half never, more than half never, ties, and pairs where one side or neither
reached. No simulation runs here: the run directories are written by hand.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.research import analysis as an
from sim.research import experiment as ex
from sim.research import style

N = math.nan


# --------------------------------------------------------------------------------------------
# censored_quantile
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "values, q, expected",
    [
        ([4, 1, 3, 2], 0.5, (2.5, "reached")),  # even count: the midpoint of the two middle seeds
        ([4, 1, 3, 2], 0.1, (1.0, "reached")),  # h = 0.4: the first seed
        ([4, 1, 3, 2], 0.9, (4.0, "reached")),  # h = 3.6: the fourth
        (list(range(1, 11)), 0.1, (1.5, "reached")),  # h = 1: the midpoint of the 1st and 2nd
        (list(range(1, 11)), 0.9, (9.5, "reached")),
        ([5, 3, 9], 0.5, (5.0, "reached")),  # odd count: the middle seed
        # half never (10 seeds, 5 reached): the median needs the 5th (reached at 5) and the 6th (never)
        ([3, 1, 2, 5, 4, N, N, N, N, N], 0.5, (5.0, "lower_bound")),
        ([3, 1, 2, 5, 4, N, N, N, N, N], 0.1, (1.5, "reached")),
        ([3, 1, 2, 5, 4, N, N, N, N, N], 0.9, (N, "never")),
        # more than half never: the median is never; one fewer never: a plain median again
        ([1, 2, 3, 4, N, N, N, N, N, N], 0.5, (N, "never")),
        ([1, 2, 3, 4, 5, 6, N, N, N, N], 0.5, (5.5, "reached")),
        ([2, 4, N, N, N], 0.5, (N, "never")),  # odd count, 3 of 5 never
        ([2, 4, 6, N, N], 0.5, (6.0, "reached")),  # odd count, 2 of 5 never
        ([N, N, N], 0.5, (N, "never")),  # all never
        ([N, N, N], 0.0, (N, "never")),
        # ties
        ([2, 2, 2, 3], 0.5, (2.0, "reached")),
        ([2, 2, N, N], 0.5, (2.0, "lower_bound")),
        ([2, 2, N, N], 0.1, (2.0, "reached")),
        ([7, 7, 7, 7], 0.9, (7.0, "reached")),
        # the ends
        ([1, N], 0.0, (1.0, "reached")),
        ([1, N], 1.0, (N, "never")),
        ([3, 1], 1.0, (3.0, "reached")),
    ],
)
def test_censored_quantile_by_hand(values, q, expected):
    value, status = an.censored_quantile(values, q)
    assert status == expected[1]
    assert (math.isnan(value) and math.isnan(expected[0])) or value == expected[0]


def test_censored_quantile_is_the_sample_quantile_when_every_seed_reached():
    """Without "never" the rule is numpy's averaged_inverted_cdf (the usual median for an even count)."""
    gen = np.random.default_rng(3)
    for n in (1, 2, 3, 7, 10, 20):
        v = gen.integers(0, 40, n) / 4.0  # quarterly years, with ties
        for q in (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
            assert an.censored_quantile(v, q) == (pytest.approx(float(np.quantile(v, q, method="averaged_inverted_cdf"))), "reached")


def test_censored_quantile_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        an.censored_quantile([], 0.5)
    with pytest.raises(ValueError, match="outside"):
        an.censored_quantile([1.0], 1.5)


# --------------------------------------------------------------------------------------------
# timeline_table
# --------------------------------------------------------------------------------------------
def _timeline(rows: dict[tuple[str, str, str], list[float]], ind: dict | None = None, ref=None, horizon=None) -> pd.DataFrame:
    """A timeline_frame-like frame: {(scenario, bloc, stage): first output years by seed}, independence alike."""
    out = []
    for (scen, bloc, stage), years in rows.items():
        for seed, fo in enumerate(years, start=1):
            yi = (ind or {}).get((scen, bloc, stage), [N] * len(years))[seed - 1]
            out.append(
                {
                    "run": f"{scen}-{seed}",
                    "scenario": scen,
                    "seed": seed,
                    "bloc": bloc,
                    "stage": stage,
                    "reference_year": (ref or {}).get(scen, 2015.0),
                    "horizon_years": (horizon or {}).get(scen, 30.0),
                    "years_to_first_output": fo,
                    "years_to_independence": yi,
                    "first_output_year": (ref or {}).get(scen, 2015.0) + fo,
                    "independence_year": (ref or {}).get(scen, 2015.0) + yi,
                }
            )
    return pd.DataFrame(out)


def test_timeline_table_counts_quantiles_and_statuses():
    tl = _timeline(
        {
            ("base", "west", "mining"): [N, N, N, N],
            ("base", "west", "magnet"): [8.0, 6.0, N, N],
            ("coord", "west", "mining"): [3.0, 5.0, 4.0, 4.0],
            ("coord", "west", "magnet"): [9.0, N, 7.0, 8.0],
        },
        ind={("coord", "west", "mining"): [6.0, 6.0, 6.0, 6.0]},
        ref={"coord": 2025.0},
        horizon={"coord": 20.0},
    )
    t = an.timeline_table(tl).set_index(["scenario", "bloc", "stage", "measure"])
    assert list(t.columns[-6:]) == ["median", "median_status", "q10", "q10_status", "q90", "q90_status"]
    r = t.loc[("base", "west", "mining", "years_to_first_output")]
    assert (r["n_seeds"], r["n_reached"], r["median_status"], r["q10_status"], r["q90_status"]) == (4, 0, "never", "never", "never")
    r = t.loc[("base", "west", "magnet", "years_to_first_output")]  # sorted 6, 8, never, never
    assert (r["median"], r["median_status"]) == (8.0, "lower_bound")
    assert (r["q10"], r["q10_status"], r["q90_status"]) == (6.0, "reached", "never")
    r = t.loc[("coord", "west", "mining", "years_to_first_output")]  # sorted 3, 4, 4, 5
    assert (r["median"], r["q10"], r["q90"], r["n_reached"]) == (4.0, 3.0, 5.0, 4)
    assert (r["reference_year"], r["horizon_years"]) == (2025.0, 20.0)
    r = t.loc[("coord", "west", "magnet", "years_to_first_output")]  # sorted 7, 8, 9, never: median 8.5
    assert (r["median"], r["median_status"], r["q90_status"]) == (8.5, "reached", "never")
    assert t.loc[("coord", "west", "mining", "years_to_independence"), "median"] == 6.0
    assert t.loc[("base", "west", "mining", "years_to_independence"), "median_status"] == "never"
    wide = an.timeline_table(tl, band=(0.25, 0.75)).set_index(["scenario", "bloc", "stage", "measure"])
    assert wide.loc[("coord", "west", "mining", "years_to_first_output"), ["q25", "q75"]].tolist() == [3.5, 4.5]


def _cell(reached: int, seeds: int, median, q10, q90) -> dict:
    """A timeline_table row: each quantile as (value, status)."""
    row = {"n_reached": reached, "n_seeds": seeds}
    for name, (value, status) in (("median", median), ("q10", q10), ("q90", q90)):
        row |= {name: value, f"{name}_status": status}
    return row


NEVER = (N, "never")


@pytest.mark.parametrize(
    "row, text",
    [
        (_cell(10, 10, (6.375, "reached"), (5.0, "reached"), (7.25, "reached")), "6.4 [5.0, 7.2] 10/10"),
        (_cell(5, 10, (11.5, "lower_bound"), (10.25, "reached"), NEVER), "> 11.5 [10.2, never] 5/10"),
        (_cell(0, 10, NEVER, NEVER, NEVER), "never (0/10)"),
        (_cell(2, 10, NEVER, (3.0, "reached"), NEVER), "never [3.0, never] 2/10"),
    ],
)
def test_timeline_cell_text(row, text):
    assert ex.timeline_cell(row) == text


# --------------------------------------------------------------------------------------------
# timeline_differences
# --------------------------------------------------------------------------------------------
def _pairs(ref: list[float], oth: list[float], bloc: str = "west") -> pd.DataFrame:
    rows = [{"scenario": "base", "seed": k, "bloc": bloc, "stage": "magnet", "v": v} for k, v in enumerate(ref, 1)]
    rows += [{"scenario": "coord", "seed": k, "bloc": bloc, "stage": "magnet", "v": v} for k, v in enumerate(oth, 1)]
    return pd.DataFrame(rows)


def test_timeline_differences_count_never_and_difference_only_where_both_reached():
    # seed:        1     2     3     4     5    6    7 (reference only: unpaired)
    ref = [10.0, 10.0, 12.0, N, 7.0, N, 3.0]
    oth = [8.0, 10.0, 13.0, 9.0, N, N]
    df = _pairs(ref, oth)
    r = an.timeline_differences(df, "v", reference="base", rng=4).iloc[0]
    assert (r["bloc"], r["stage"], r["scenario"], r["reference"]) == ("west", "magnet", "coord", "base")
    assert r["n_pairs"] == 6 and r["n_both"] == 3
    assert (r["n_scenario_only"], r["n_reference_only"], r["n_neither"]) == (1, 1, 1)
    assert (r["earlier"], r["same"], r["later"]) == (2, 1, 2)  # seeds 1 and 4; 2; 3 and 5
    assert r["mean"] == pytest.approx(-1.0 / 3.0) and r["median"] == 0.0  # differences -2, 0, +1
    assert r["ci_low"] <= r["mean"] <= r["ci_high"] and not r["excludes_zero"]
    # the interval is the one of paired_differences over the pairs where both reached
    both = an.paired_differences(df, "v", reference="base", by=["bloc", "stage"], rng=4).iloc[0]
    assert (r["ci_low"], r["ci_high"], r["n_both"]) == (both["ci_low"], both["ci_high"], both["n_pairs"])


def test_timeline_differences_all_never_same_and_one_sided():
    df = pd.concat(
        [
            _pairs([N, N, N], [N, N, N], bloc="never"),  # nothing reached: nothing to difference, nothing ordered
            _pairs([5.0, 5.0, 5.0], [5.0, 5.0, 5.0], bloc="tie"),  # reached together in every seed
            _pairs([N, N, N], [4.0, 6.0, 9.0], bloc="scenario"),  # only the scenario reached: earlier, no number
        ]
    )
    t = an.timeline_differences(df, "v", reference="base", rng=0).set_index("bloc")
    r = t.loc["never"]
    assert (r["n_pairs"], r["n_both"], r["n_neither"], r["earlier"], r["same"], r["later"]) == (3, 0, 3, 0, 0, 0)
    assert math.isnan(r["mean"]) and math.isnan(r["ci_low"]) and not r["excludes_zero"]
    r = t.loc["tie"]
    assert (r["n_both"], r["same"], r["mean"], r["ci_low"], r["ci_high"]) == (3, 3, 0.0, 0.0, 0.0)
    r = t.loc["scenario"]
    assert (r["n_both"], r["n_scenario_only"], r["earlier"], r["later"]) == (0, 3, 3, 0) and math.isnan(r["mean"])


def test_timeline_differences_effect_excludes_zero_and_order_does_not_matter():
    ref = [10.0, 11.0, 12.0, 10.5, 11.5, 12.5, 10.0, 11.0, N, N]
    oth = [7.0, 8.0, 9.5, 7.5, 8.0, 9.0, 7.25, 8.0, 6.0, N]
    df = _pairs(ref, oth)
    r = an.timeline_differences(df, "v", reference="base", rng=2)
    assert r.iloc[0]["excludes_zero"] and r.iloc[0]["ci_high"] < 0
    assert r.iloc[0]["mean"] == pytest.approx(np.mean(np.array(oth[:8]) - np.array(ref[:8])))
    shuffled = df.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(an.timeline_differences(shuffled, "v", reference="base", rng=2), r)


# --------------------------------------------------------------------------------------------
# first_held, independence_years and timeline_difference_table on hand-written runs
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "values, start, hold, expected",
    [
        ([0.6, 0.2, 0.6, 0.6, 0.6, 0.6, 0.1], 0, 4, 2),
        ([0.6, 0.2, 0.6, 0.6, 0.6, 0.6, 0.1], 3, 4, None),  # from 3 every window of 4 meets the 0.1
        ([0.6, 0.2, 0.6, 0.6, 0.6, 0.6, 0.1], 3, 1, 3),
        ([0.6, 0.2, 0.6, 0.6, 0.6, 0.6, 0.1], 9, 1, None),  # starts after the series
        ([N, 0.5], 0, 1, 1),  # NaN is below; the threshold itself counts
        ([0.2, 0.6, 0.6], 0, 4, None),  # the window must end within the series
    ],
)
def test_first_held_by_hand(values, start, hold, expected):
    assert an.first_held(np.array(values), start, 0.5, hold) == expected


def _write_run(root, scenario: str, seed: int, ref_year: float, ss: dict[str, list[float]], first_output: dict[str, float | None]):
    """A complete run directory by hand: 2015 start, quarterly self-sufficiency of one bloc ('west') per stage,
    independence = 0.5 held 2 quarters. The summary's timelines follow the same rule from ``ref_year``."""
    d = root / f"{scenario}-seed{seed}"
    d.mkdir(parents=True)
    n_q = len(next(iter(ss.values())))
    (d / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "world": {"independence_threshold": 0.5, "independence_hold_quarters": 2}}))
    rows = [
        {"quarter_index": q, "time": 2015 + q / 4, "bloc": "west", "stage": s, "self_sufficiency": v[q]} for s, v in ss.items() for q in range(n_q)
    ]
    pd.DataFrame(rows).to_parquet(d / "timeseries.parquet")
    ref_q = int((ref_year - 2015) * 4)
    ind = {s: (None if (q := an.first_held(np.array(v), ref_q, 0.5, 2)) is None else (q - ref_q) / 4) for s, v in ss.items()}
    summary = {
        "scenario": scenario,
        "seed": seed,
        "years": n_q / 4,
        "start_year": 2015,
        "timeline_reference_year": ref_year,
        "years_to_first_output": {"west": first_output},
        "years_to_independence": {"west": ind},
    }
    (d / "summary.json").write_text(json.dumps(summary))
    (d / "manifest.json").write_text(json.dumps({"status": "complete", "scenario": scenario, "seed": seed}))


HI, LO = 0.8, 0.1


@pytest.fixture
def hand_runs(tmp_path):
    """baseline counts from 2015, west_coordinated from 2016 (quarter 4); 3 years, two stages, two seeds.

    mining: independent from the start in every run (baseline 0 years; on the 2016 clock both 2016).
    magnet, seed 1: baseline from quarter 8 (2017.0), west_coordinated from quarter 5 (2016.25): -0.75 years.
    magnet, seed 2: baseline never, west_coordinated from quarter 6: only the scenario reached.
    """
    always = [HI] * 12
    magnet = {
        ("baseline", 1): [LO] * 8 + [HI] * 4,
        ("west_coordinated", 1): [LO] * 5 + [HI] * 7,
        ("baseline", 2): [LO] * 12,
        ("west_coordinated", 2): [LO] * 6 + [HI] * 6,
    }
    fo = {("baseline", 1): 1.0, ("baseline", 2): 1.5, ("west_coordinated", 1): 0.25, ("west_coordinated", 2): None}
    for (scen, seed), mag in magnet.items():
        _write_run(
            tmp_path,
            scen,
            seed,
            2015.0 if scen == "baseline" else 2016.0,
            {"mining": always, "magnet": mag},
            {"mining": None, "magnet": fo[(scen, seed)]},
        )
    return an.load_runs(tmp_path)


def test_independence_years_on_the_runs_own_clock_and_a_later_one(hand_runs):
    own = an.independence_years(hand_runs)
    both = own.merge(an.timeline_frame(hand_runs), on=["run", "bloc", "stage"], suffixes=("", "_summary"))
    assert len(both) == 8
    np.testing.assert_array_equal(both["years_to_independence"], both["years_to_independence_summary"])  # NaN == NaN here
    own = own.set_index(["scenario", "seed", "stage"])
    assert own.loc[("baseline", 1, "magnet"), "independence_year"] == 2017.0
    later = an.independence_years(hand_runs, from_year=2016.0).set_index(["scenario", "seed", "stage"])
    assert later.loc[("baseline", 1, "mining"), "independence_year"] == 2016.0  # independent since 2015: asked again from 2016
    assert later.loc[("baseline", 1, "mining"), "years_to_independence"] == 0.0
    assert later.loc[("west_coordinated", 1, "magnet"), "independence_year"] == 2016.25
    assert math.isnan(later.loc[("baseline", 2, "magnet"), "independence_year"]) and not later.loc[("baseline", 2, "magnet"), "independent"]
    assert set(later["end_year"]) == {2018.0}


def test_independence_years_needs_the_rule_in_the_config(hand_runs):
    cfg = hand_runs[0].path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"seed": 1, "world": {"independence_threshold": 0.5}}))
    with pytest.raises(ValueError, match="independence_hold_quarters"):
        an.independence_years(an.load_runs(hand_runs[0].path.parent))


def test_timeline_difference_table_compares_independence_on_the_later_clock(hand_runs):
    exp = ex.parse_experiment({"name": "t", "scenarios": ["baseline", "west_coordinated"], "reference": "baseline", "seeds": 2, "n_boot": 200})
    t = ex.timeline_difference_table(exp, hand_runs, an.timeline_frame(hand_runs))
    assert set(t["measure"]) == {"years_to_independence"}  # different reference years: first output is not compared
    t = t.set_index("stage")
    mining = t.loc["mining"]  # 0 years apart, not the one year between the reference years
    assert (mining["from_year"], mining["n_both"], mining["mean"], mining["same"]) == (2016.0, 2, 0.0, 2)
    magnet = t.loc["magnet"]
    assert (magnet["n_both"], magnet["mean"], magnet["n_scenario_only"], magnet["earlier"], magnet["later"]) == (1, -0.75, 1, 2, 0)
    assert math.isnan(magnet["ci_low"]) and not magnet["excludes_zero"]  # a single pair has no interval
    lines = {ln.split()[1]: ln for ln in ex.format_timeline_differences(t.reset_index()).splitlines()[2:]}
    assert lines["magnet"].split()[4:6] == ["1/2", "-0.75"] and "*" not in lines["magnet"]
    assert " ".join(lines["magnet"].split()[6:]) == "1 / 0 / 0 2 / 0 / 0"  # no interval; one seed only the scenario reached
    assert lines["mining"].split()[4:6] == ["2/2", "0.00"] and lines["mining"].endswith("0 / 2 / 0")


def test_timeline_difference_table_compares_first_output_on_a_shared_clock(hand_runs, tmp_path):
    exp = ex.parse_experiment({"name": "t", "scenarios": ["baseline", "west_coordinated"], "reference": "baseline", "seeds": 2, "n_boot": 200})
    tl = an.timeline_frame(hand_runs)
    same_clock = tl.assign(reference_year=2015.0)  # as if both counted from 2015
    t = ex.timeline_difference_table(exp, hand_runs, same_clock)
    fo = t[t["measure"] == "years_to_first_output"].set_index("stage").loc["magnet"]
    # seed 1: first output in 2016.25 against 2016.0 (the frame's calendar years); seed 2: only the reference reached
    assert (fo["n_both"], fo["n_reference_only"], fo["later"], fo["earlier"]) == (1, 1, 2, 0)
    assert fo["mean"] == pytest.approx(0.25)


# --------------------------------------------------------------------------------------------
# plot_timeline
# --------------------------------------------------------------------------------------------
def test_plot_timeline_draws_medians_intervals_open_ends_and_the_accepted_ranges():
    tl = _timeline(
        {
            ("base", "west", "mining"): [N, N, N, N],
            ("base", "west", "magnet"): [8.0, 6.0, N, N],  # median > 8 (a lower bound), interval 6 .. never
            ("coord", "west", "mining"): [3.0, 5.0, 4.0, 4.0],  # median 4, interval 3 .. 5
            ("coord", "west", "magnet"): [9.0, N, 7.0, 8.0],  # median 8.5, interval 7 .. never
            ("base", "china", "mining"): [1.0, 1.0, 1.0, 1.0],
            ("base", "china", "magnet"): [2.0, 2.0, 2.0, 2.0],
        },
        ind={("coord", "west", "mining"): [6.0, 6.0, 7.0, 7.0]},
        horizon={"base": 30.0, "coord": 20.0},
    )
    fig = an.plot_timeline(tl, ranges={"mining": (3.0, 7.0), "magnet": (7.0, 15.0)})
    west_fo, west_ind, china_fo, china_ind = fig.axes[:4]
    assert [ax.get_title() for ax in fig.axes[:4]] == [
        "west: first output of a new plant",
        "west: independence",
        "china: first output of a new plant",
        "china: independence",
    ]

    def marks(ax, gid):
        return [ln for ln in ax.get_lines() if ln.get_gid() == gid]

    def years(x):  # dates (or matplotlib's day numbers) back to years after the runs' reference year, 2015
        x = np.asarray(x)
        days = x.astype("datetime64[D]") if x.dtype.kind == "M" else np.rint(x.astype(float)).astype("int64").astype("datetime64[D]")
        return tuple(float(v) - 2015.0 for v in style.to_years(days))

    medians = sorted((years(ln.get_xdata())[0], ln.get_marker()) for ln in marks(west_fo, "median"))  # on the calendar axis
    assert medians == [(4.0, "o"), (8.0, ">"), (8.5, "o")]  # base mining never: no dot
    intervals = sorted(years(ln.get_xdata()) for ln in marks(west_fo, "interval"))
    assert intervals == [(3.0, 5.0), (6.0, 30.0), (7.0, 20.0)]  # "never" runs to the end of the scenario's runs
    assert sorted(years(ln.get_xdata())[0] for ln in marks(west_fo, "open_end")) == [20.0, 30.0]
    ends = sorted(years(ln.get_xdata())[0] for ln in west_fo.get_lines() if ln.get_gid() == "run_end")
    assert ends == [20.0, 30.0], "each scenario's end of run is marked"
    texts = sorted(t.get_text().strip() for t in west_fo.texts if t.get_gid() == "reached")
    assert texts == ["2/4", "3/4", "never 0/4"]
    assert [years(ln.get_xdata())[0] for ln in marks(west_ind, "median")] == [6.5]
    # the accepted ranges of west_timeline_coordinated: on the West's independence panel only, from the clock's start
    spans = sorted(years([p.get_x(), p.get_x() + p.get_width()]) for p in west_ind.patches if p.get_gid() == "accepted_range")
    assert spans == [(3.0, 7.0), (7.0, 15.0)]
    assert not west_fo.patches and not china_fo.patches and not china_ind.patches
    assert fig.legends and "10-90% of seeds" in fig.legends[0].get_title().get_text()
