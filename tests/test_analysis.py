"""The analysis API (sim/research/analysis.py): loading runs into tidy frames, reducing replications,
paired scenario differences with bootstrap intervals, the event study and the figures.

Reduction, paired differences and the event study are checked on synthetic inputs whose answers
are known; loading and plotting on a handful of tiny real runs written once per session (4 years:
baseline and china_without_tiers for seeds 1-2, an export-control shock moved into the run's
window, an interrupted run and a failed one). No model number is pinned: run outputs are compared
with their own summaries and files.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from pandas.testing import assert_frame_equal

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: every worker writes its own runs
    fcntl = None

from _sim_helpers import make_config

from sim.engine.run import run
from sim.research import analysis as an
from sim.research import style

YEARS = 4
STAGES = ["mining", "separation", "metal", "magnet"]
BLOCS = ["china", "west", "rest_of_world"]
SHOCK = ("scenario=export_control_shock", "scenario.events.licensing_2025.start_year=2016.0", "scenario.events.licensing_2025.end_year=2017.0")


# --------------------------------------------------------------------------------------------
# Real tiny runs, written once per session
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> Path:
    """The runs, written once per test session: under pytest-xdist the workers share them (the
    first worker writes them under a lock in the session's temporary directory)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None or fcntl is None:
        return _write_runs(tmp_path_factory.mktemp("analysis"))
    shared = tmp_path_factory.getbasetemp().parent  # this session's directory, common to its workers
    root = shared / "analysis-runs"
    with open(shared / "analysis-runs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "analysis-runs.done").exists():
            shutil.rmtree(root, ignore_errors=True)
            _write_runs(root)
            (shared / "analysis-runs.done").touch()
    return root


def _write_runs(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)

    def seeded(cfg, seed):  # one composition per scenario (the slow part), the seed set on the copy
        cfg.seed = seed
        return cfg

    for scenario in ("baseline", "china_without_tiers"):
        for seed in (1, 2):
            run(seeded(make_config(f"years={YEARS}", f"scenario={scenario}", root=root), seed))
    run(make_config(f"years={YEARS}", "seed=1", *SHOCK, root=root))
    interrupted = run(seeded(make_config(f"years={YEARS}", "scenario=baseline", root=root), 3)).run_dir
    (interrupted / "manifest.json").unlink()
    failed = root / "runs" / "zz-failed-run"
    shutil.copytree(interrupted, failed)
    (failed / "manifest.json").write_text(json.dumps({"status": "failed", "seed": 3, "scenario": "baseline", "error": "boom"}))
    return root


@pytest.fixture(scope="session")
def runs(runs_root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return an.load_runs(runs_root)


@pytest.fixture(scope="session")
def frames(runs):
    return {t: an.tidy(runs, t) for t in an.WORLD_TABLES["rare-earth"]} | {"timeline": an.timeline_frame(runs)}


# --------------------------------------------------------------------------------------------
# reduce
# --------------------------------------------------------------------------------------------
def test_reduce_known_quantiles_and_missing_values():
    df = pd.DataFrame({"g": ["a"] * 5 + ["b"] * 3 + ["c"] * 2, "v": [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, np.nan, 30.0, np.nan, np.nan]})
    r = an.reduce(df, "g", "v").set_index("g")
    assert list(r.columns) == ["n", "n_missing", "mean", "q05", "median", "q95"]
    # a: 1..5, linear interpolation: q05 = 1 + 0.05 * 4, q95 = 1 + 0.95 * 4
    assert r.loc["a", ["n", "n_missing"]].tolist() == [5, 0]
    assert r.loc["a", ["q05", "median", "q95", "mean"]].tolist() == pytest.approx([1.2, 3.0, 4.8, 3.0])
    # b: NaN left out of the quantiles and counted as missing
    assert r.loc["b", ["n", "n_missing"]].tolist() == [2, 1]
    assert r.loc["b", ["q05", "median", "q95"]].tolist() == pytest.approx([11.0, 20.0, 29.0])
    # c: nothing left
    assert r.loc["c", ["n", "n_missing"]].tolist() == [0, 2]
    assert r.loc["c", ["q05", "median", "q95", "mean"]].isna().all()


def test_reduce_several_keys_no_keys_custom_quantiles_and_booleans():
    df = pd.DataFrame({"s": ["x", "x", "y", "y"], "b": ["p", "p", "p", "q"], "v": [1.0, 3.0, 7.0, 8.0], "ok": [True, False, True, True]})
    r = an.reduce(df, ["s", "b"], "v", quantiles=(0.25, 0.75))
    assert list(r.columns) == ["s", "b", "n", "n_missing", "mean", "q25", "q75"]
    assert r[["s", "b"]].values.tolist() == [["x", "p"], ["y", "p"], ["y", "q"]]
    assert r["q25"].tolist() == pytest.approx([1.5, 7.0, 8.0])
    whole = an.reduce(df, None, "v")
    assert len(whole) == 1 and whole["median"].iloc[0] == pytest.approx(5.0) and whole["n"].iloc[0] == 4
    share = an.reduce(df, "s", "ok").set_index("s")["mean"]
    assert share.tolist() == pytest.approx([0.5, 1.0])


def test_reduce_and_quantile_names_reject_bad_input():
    df = pd.DataFrame({"g": ["a"], "v": [1.0]})
    with pytest.raises(KeyError, match="no column 'nope'"):
        an.reduce(df, "g", "nope")
    with pytest.raises(ValueError, match="outside"):
        an.quantile_name(1.5)
    assert [an.quantile_name(q) for q in (0.05, 0.5, 0.95, 0.025)] == ["q05", "median", "q95", "q2.5"]


def test_figures_refuse_an_empty_table_an_unknown_bloc_or_target_and_a_missing_targets_file(frames, tmp_path):
    """What a filter typo gives (no rows, a bloc spelt otherwise) is one clear error naming the argument, not
    matplotlib's or an empty figure; a targets file the user names must exist."""
    ts, policy, tl = frames["timeseries"], frames["policy"], frames["timeline"]
    for call in (lambda: an.plot_prices(ts.iloc[0:0]), lambda: an.plot_capacity(ts[ts["bloc"] == "West"]), lambda: an.plot_timeline(tl.iloc[0:0])):
        with pytest.raises(ValueError, match="the table has no rows to draw"):
            call()
    with pytest.raises(ValueError, match="coordinated_bloc='chna' is not a bloc of the table; its blocs: china, west"):
        an.plot_capacity(ts, coordinated_bloc="chna")
    for plot in (an.plot_pyramid, an.plot_rd_by_tier):
        with pytest.raises(ValueError, match="bloc='chna' is not a bloc of the table"):
            plot(policy, bloc="chna")
    with pytest.raises(ValueError, match="target='west_coordinatd' is not a scenario of the table"):
        an.plot_timeline(tl, target="west_coordinatd")
    for f in (an.reference_ranges, an.reference_target):
        with pytest.raises(FileNotFoundError, match="no targets file"):
            f(tmp_path / "nope.yaml")
    assert an.reference_ranges() == an.reference_ranges(an.TARGETS_FILE)  # the project's own file, named or not


def test_a_run_where_a_table_is_taken_is_one_clear_error():
    """A plot or reduction given runs (or anything but a table) says which table it takes and where tables come from;
    summary_scalars given many runs names the call for many."""
    run = an.Run(path=Path("r"), manifest={}, summary={"seed": 1})
    for call in (lambda: an.reduce(run, "g", "v"), lambda: an.plot_rd_by_tier(run), lambda: an.fiscal_by_instrument([run])):
        with pytest.raises(TypeError, match=r"expected a table \(a DataFrame\).*got (Run|list).*tidy\(load_runs\(DIR\), 'policy'\)"):
            call()
    with pytest.raises(TypeError, match="expected one run.*got list.*scalars_frame"):
        an.summary_scalars([run, run])
    assert an.summary_scalars(run) == {"seed": 1}


# --------------------------------------------------------------------------------------------
# paired_differences
# --------------------------------------------------------------------------------------------
def _paired_frame(n: int = 31, effect: float = 2.0) -> pd.DataFrame:
    """Each seed's reference value carries a large shared noise (sd 10) that pairing removes; the
    other scenario adds ``effect`` plus a small zero-mean noise, so the true mean difference is
    exactly ``effect``."""
    gen = np.random.default_rng(7)
    seeds = np.arange(1, n + 1)
    base = gen.normal(50.0, 10.0, n)
    noise = gen.permutation(np.linspace(-0.3, 0.3, n))  # mean exactly 0
    return pd.DataFrame(
        {"scenario": ["baseline"] * n + ["policy"] * n, "seed": np.concatenate([seeds, seeds]), "v": np.concatenate([base, base + effect + noise])}
    )


def test_paired_difference_recovers_a_known_effect():
    df = _paired_frame()
    r = an.paired_differences(df, "v", rng=1)
    assert len(r) == 1
    row = r.iloc[0]
    assert row["scenario"] == "policy" and row["reference"] == "baseline"
    assert row["n_pairs"] == 31 and row["n_dropped"] == 0 and row["n_unpaired"] == 0
    assert row["mean"] == pytest.approx(2.0)
    assert row["ci_low"] < 2.0 < row["ci_high"]
    assert row["ci_low"] > 0 and row["excludes_zero"]
    assert row["ci_high"] - row["ci_low"] < 0.5  # pairing removes the shared noise (sd 10)
    # pairing is by seed, not by row order
    shuffled = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert_frame_equal(an.paired_differences(shuffled, "v", rng=1), r)


def test_paired_difference_of_no_effect_includes_zero():
    df = _paired_frame(effect=0.0)
    row = an.paired_differences(df, "v", rng=1, level=0.9).iloc[0]
    assert row["ci_low"] < 0 < row["ci_high"] and not row["excludes_zero"]
    wide = an.paired_differences(df, "v", rng=1, level=0.99).iloc[0]
    assert wide["ci_low"] <= row["ci_low"] and wide["ci_high"] >= row["ci_high"]


def test_paired_difference_is_deterministic_given_rng():
    df = _paired_frame()
    a = an.paired_differences(df, "v", rng=11)
    assert_frame_equal(a, an.paired_differences(df, "v", rng=11))
    g1 = an.paired_differences(df, "v", rng=np.random.default_rng(11))
    assert_frame_equal(g1, an.paired_differences(df, "v", rng=np.random.default_rng(11)))
    b = an.paired_differences(df, "v", rng=12)
    assert (a["ci_low"].iloc[0], a["ci_high"].iloc[0]) != (b["ci_low"].iloc[0], b["ci_high"].iloc[0])


def test_paired_difference_nan_pairs_are_dropped_and_counted_or_censored():
    df = pd.DataFrame(
        {"scenario": ["baseline"] * 4 + ["other"] * 5, "seed": [1, 2, 3, 4, 1, 2, 3, 4, 5], "v": [1.0, 2.0, np.nan, 4.0, 2.0, np.nan, 5.0, 7.0, 9.0]}
    )
    row = an.paired_differences(df, "v", rng=0).iloc[0]
    # seed 1: +1, seed 4: +3; seeds 2 and 3 have a NaN side; seed 5 has no partner
    assert (row["n_pairs"], row["n_dropped"], row["n_unpaired"]) == (2, 2, 1)
    assert row["mean"] == pytest.approx(2.0) and row["median"] == pytest.approx(2.0)
    cens = an.paired_differences(df, "v", rng=0, censor=10.0).iloc[0]
    # seed 2: 10 - 2 = 8, seed 3: 5 - 10 = -5
    assert (cens["n_pairs"], cens["n_dropped"]) == (4, 0)
    assert cens["mean"] == pytest.approx((1 + 8 - 5 + 3) / 4)
    df["end"] = 20.0
    by_col = an.paired_differences(df, "v", rng=0, censor="end").iloc[0]
    assert by_col["mean"] == pytest.approx((1 + 18 - 15 + 3) / 4)


def test_paired_difference_by_groups_and_several_scenarios():
    rows = []
    for seed in range(1, 6):
        for bloc, shift in (("china", 1.0), ("west", -3.0)):
            rows.append(("baseline", seed, bloc, float(seed)))
            rows.append(("a", seed, bloc, seed + shift))
            rows.append(("b", seed, bloc, seed + 2 * shift))
    df = pd.DataFrame(rows, columns=["scenario", "seed", "bloc", "v"])
    r = an.paired_differences(df, "v", by="bloc", rng=0)
    assert r[["scenario", "bloc"]].values.tolist() == [["a", "china"], ["a", "west"], ["b", "china"], ["b", "west"]]
    assert r["mean"].tolist() == pytest.approx([1.0, -3.0, 2.0, -6.0])
    assert (r["ci_low"] == r["mean"]).all() and (r["ci_high"] == r["mean"]).all()  # constant differences
    only_b = an.paired_differences(df, "v", by=["bloc"], others=["b"], reference="a", rng=0)
    assert only_b["mean"].tolist() == pytest.approx([1.0, -3.0])


def test_paired_difference_interval_does_not_depend_on_the_other_comparisons():
    a, b = _paired_frame(effect=2.0), _paired_frame(effect=-1.0)
    df = pd.concat([a, b[b["scenario"] == "policy"].assign(scenario="other")], ignore_index=True)
    both = an.paired_differences(df, "v", rng=5).set_index("scenario")
    alone = an.paired_differences(df, "v", others=["other"], rng=5).set_index("scenario")
    assert both.loc["other", ["ci_low", "ci_high"]].tolist() == alone.loc["other", ["ci_low", "ci_high"]].tolist()
    assert both.loc["policy", "ci_low"] > 0 > both.loc["other", "ci_high"]


def test_paired_difference_rejects_ambiguous_or_unknown_input():
    df = _paired_frame()
    with pytest.raises(ValueError, match="reference scenario 'nope'.*baseline, policy"):
        an.paired_differences(df, "v", reference="nope")
    with pytest.raises(ValueError, match="scenario 'ghost'"):
        an.paired_differences(df, "v", others=["ghost"])
    with pytest.raises(ValueError, match="several rows"):
        an.paired_differences(pd.concat([df, df]), "v")
    with pytest.raises(ValueError, match="level"):
        an.paired_differences(df, "v", level=1.5)
    with pytest.raises(KeyError, match="no column 'bloc'"):
        an.paired_differences(df, "v", by="bloc")


# --------------------------------------------------------------------------------------------
# Loading real runs
# --------------------------------------------------------------------------------------------
def test_load_runs_skips_interrupted_and_failed_runs(runs_root):
    with pytest.warns(UserWarning, match="skipped 2 incomplete or failed"):
        runs = an.load_runs(runs_root)
    assert len(runs) == 5 and all(r.complete for r in runs)
    reasons = sorted(reason for _, reason in runs.skipped)
    assert reasons[0].startswith("no manifest.json") and reasons[1] == "status 'failed': boom"
    assert sorted((r.scenario, r.seed) for r in runs) == [
        ("baseline", 1),
        ("baseline", 2),
        ("china_without_tiers", 1),
        ("china_without_tiers", 2),
        ("export_control_shock", 1),
    ]
    everything = an.load_runs(runs_root, complete_only=False)
    assert len(everything) == 7 and not everything.skipped
    # an explicit list works the same; a single run directory as root finds itself
    assert [r.path for r in an.load_runs([r.path for r in runs])] == [r.path for r in runs]
    assert len(an.load_runs(runs[0].path)) == 1


def test_load_run_reads_every_part(runs):
    r = runs[0]
    again = an.load_run(r.path)
    assert again.manifest["status"] == "complete"
    assert again.summary["seed"] == r.seed == again.config["seed"]
    assert again.config["years"] == YEARS
    assert {"quarter_index", "bloc", "stage", "capacity_t"} <= set(again.timeseries.columns)
    assert len(again.timeseries) == YEARS * 4 * len(BLOCS) * len(STAGES)
    assert {"kind", "time"} <= set(again.events.columns)
    assert {"measure", "key", "value"} <= set(again.policy.columns)
    assert {"firm_id", "year", "tier", "rd_intensity"} <= set(again.firms.columns)


def test_seed_and_scenario_are_read_without_parsing_the_config(runs, tmp_path):
    """A run's seed and scenario come from its manifest (or summary): a report reads them for every run, and its
    config.yaml (about 50 KB of YAML) is parsed only when asked for. Without them, the config answers."""
    r = an.load_run(runs[0].path)
    assert (r.seed, r.scenario) == (runs[0].seed, runs[0].scenario) and r.seed is not None
    assert "config" not in r.__dict__  # never parsed
    bare = an.Run(r.path, None, {})  # neither a manifest nor a summary: the config answers
    assert bare.seed == r.config["seed"] and bare.scenario == r.config["scenario"]["name"]
    empty = an.Run(tmp_path, None, {})  # no config either
    assert empty.seed is None and empty.scenario is None


def test_absent_firm_panel_is_an_empty_frame(runs, tmp_path):
    copy = tmp_path / "no-panel"
    shutil.copytree(runs[0].path, copy)
    (copy / "firms.parquet").unlink()
    r = an.load_run(copy)
    assert r.firms.empty and not r.timeseries.empty
    assert an.tidy([r], "firms").columns.tolist() == list(an.ID_COLUMNS)


def test_loading_errors_name_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        an.load_run(missing)
    with pytest.raises(FileNotFoundError, match=str(missing)):
        an.load_runs(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"not a run directory.*{empty}"):
        an.load_run(empty)
    with pytest.raises(ValueError, match=f"no run directories.*{empty}"):
        an.load_runs(empty)
    with pytest.raises(ValueError, match="no run directories given"):
        an.load_runs([])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text("{half")
    with pytest.raises(ValueError, match="manifest.json: unreadable JSON"):
        an.load_run(bad)
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(an.load_runs([bad])) == 0
    (bad / "manifest.json").write_bytes(b'{"a": "\xff\xfe"}')  # not text: named as the JSON cut short is
    with pytest.raises(ValueError, match=f"{bad / 'manifest.json'}: unreadable JSON"):
        an.load_run(bad)


def test_tidy_puts_ids_in_front_and_keeps_every_row(runs, frames):
    for table in an.TABLES:
        if table in an.NATIONAL_TABLES:  # rare-earth runs have none of a national run's tables: asking is a mistake
            with pytest.raises(
                ValueError, match=f"no rare-earth run writes the table '{table}'; these runs' tables: timeseries, events, policy, firms"
            ):
                an.tidy(runs, table)
            continue
        df = frames[table]
        assert df.columns[:3].tolist() == ["run", "scenario", "seed"]
        assert len(df) == sum(len(r.table(table)) for r in runs)
        assert set(df["run"]) == {r.path.name for r in runs}
    ts = frames["timeseries"]
    for r in runs:
        mine = ts[ts["run"] == r.path.name]
        assert set(mine["scenario"]) == {r.manifest["scenario"]} and set(mine["seed"]) == {r.manifest["seed"]}
        assert mine["capacity_t"].tolist() == r.timeseries["capacity_t"].tolist()
    with pytest.raises(ValueError, match="unknown table 'foo'; allowed: timeseries, events, policy, firms, national"):
        an.tidy(runs, "foo")


def test_run_ids_stay_unique_when_directory_names_repeat(tmp_path):
    runs = [an.Run(path=tmp_path / "sweep" / s / "job", manifest=None, summary={}) for s in ("a", "b")]
    assert an.run_ids(runs) == ["a/job", "b/job"]


def test_timeline_frame_matches_the_summaries(runs, frames):
    tl = frames["timeline"]
    assert len(tl) == len(runs) * len(BLOCS) * len(STAGES)
    for r in runs:
        for bloc in BLOCS:
            for stage in STAGES:
                row = tl[(tl["run"] == r.path.name) & (tl["bloc"] == bloc) & (tl["stage"] == stage)].iloc[0]
                fo = r.summary["years_to_first_output"][bloc][stage]
                ind = r.summary["years_to_independence"][bloc][stage]
                assert row["first_output_reached"] == (fo is not None)
                assert row["independent"] == (ind is not None)
                assert math.isnan(row["years_to_first_output"]) if fo is None else row["years_to_first_output"] == fo
                assert math.isnan(row["independence_year"]) if ind is None else row["independence_year"] == r.summary["timeline_reference_year"] + ind
                assert row["end_year"] == r.summary["start_year"] + YEARS


def test_summary_scalars_flatten_with_dotted_keys(runs):
    s = an.summary_scalars({"a": {"b": 1.5, "c": None, "d": {"e": "x"}}, "f": [3, 4], "g": True})
    assert s.keys() == {"a.b", "a.c", "a.d.e", "f.0", "f.1", "g"}
    assert s["a.b"] == 1.5 and math.isnan(s["a.c"]) and s["a.d.e"] == "x" and s["f.1"] == 4 and s["g"] is True
    r = runs[0]
    flat = an.summary_scalars(r)
    assert flat["seed"] == r.seed
    v = r.summary["years_to_first_output"]["west"]["magnet"]
    got = flat["years_to_first_output.west.magnet"]
    assert math.isnan(got) if v is None else got == v
    assert flat["policy.china.fiscal_cost_total_musd"] == r.summary["policy"]["china"]["fiscal_cost_total_musd"]
    assert not any(isinstance(x, (dict, list)) for x in flat.values())
    table = an.scalars_frame(runs)
    assert len(table) == len(runs) and table.columns[:3].tolist() == ["run", "scenario", "seed"]
    assert "years_to_first_output.china.mining" in table.columns


def test_reference_ranges_from_targets_or_constants(tmp_path):
    f = tmp_path / "targets.yaml"
    f.write_text("targets:\n  - id: west_timeline_coordinated\n    accept:\n      mining: [2, 6]\n      separation: [4, 9]\n")
    got = an.reference_ranges(f)
    assert got["mining"] == (2.0, 6.0) and got["separation"] == (4.0, 9.0) and got["metal"] == (4.0, 9.0)
    assert got["magnet"] == an.REFERENCE_RANGES["magnet"]
    with pytest.raises(FileNotFoundError, match="no targets file .*absent.yaml"):  # a file the user names must be there
        an.reference_ranges(tmp_path / "absent.yaml")
    (tmp_path / "other.yaml").write_text("targets:\n  - id: lg_patents\n    accept: [15, 40]\n")
    assert an.reference_ranges(tmp_path / "other.yaml") == an.REFERENCE_RANGES  # a file without the target: the defaults


# --------------------------------------------------------------------------------------------
# Event study
# --------------------------------------------------------------------------------------------
def _panel(jump: float = 0.03, run: str | None = None) -> pd.DataFrame:
    """Ten magnet firms over 2008-2022; firms 0-2 designated in 2012, 3-4 in 2016, 5-9 never.
    R&D intensity is 2% and rises by ``jump`` from the designation year on; patents rise by 10."""
    first = {0: 2012, 1: 2012, 2: 2012, 3: 2016, 4: 2016}
    rows = []
    for fid in range(10):
        for year in range(2008, 2023):
            d = first.get(fid)
            on = d is not None and year >= d
            rows.append(
                {
                    "firm_id": fid,
                    "year": year,
                    "bloc": "china",
                    "stage": "magnet",
                    "phase": "operating",
                    "tier": "srdi" if on else "none",
                    "rd_intensity": 0.02 + (jump if on else 0.0),
                    "patents_invention": 5.0 + (10.0 if on else 0.0),
                    "patents_utility": 1.0,
                }
            )
    df = pd.DataFrame(rows)
    if run is not None:
        df.insert(0, "run", run)
        df.insert(1, "scenario", "s")
    return df


def test_event_study_recovers_a_known_jump():
    es = an.event_study(_panel(0.03), window=(-3, 3))
    rd = es[es["variable"] == "rd_intensity"].set_index("rel_year")
    assert rd.index.tolist() == [-3, -2, -1, 0, 1, 2, 3]
    assert rd["n_treated"].tolist() == [5] * 7
    assert rd.loc[[-3, -2, -1], "difference"].tolist() == pytest.approx([0.0] * 3, abs=1e-12)
    assert rd.loc[[0, 1, 2, 3], "difference"].tolist() == pytest.approx([0.03] * 4)
    # the comparison group holds only firms not designated yet: always at 2%
    assert rd["control"].tolist() == pytest.approx([0.02] * 7)
    pat = es[es["variable"] == "patents"].set_index("rel_year")
    assert pat.loc[-1, "treated"] == pytest.approx(6.0) and pat.loc[0, "difference"] == pytest.approx(10.0)


def test_event_study_uses_designation_events_when_given_and_keeps_runs_apart():
    panel = _panel(0.03)
    # the event log says firm 0 was designated in 2011 (the panel's tier says 2012)
    events = pd.DataFrame({"kind": ["designated", "designated"], "firm_id": [0, 0], "time": [2011.25, 2014.5]})
    es = an.event_study(panel, events, window=(0, 0), values=("rd_intensity",))
    assert es["n_treated"].tolist() == [1]  # only firm 0 has an event
    assert es["treated"].iloc[0] == pytest.approx(0.02)  # in 2011 its R&D had not risen yet
    two = pd.concat([_panel(0.03, "r1"), _panel(0.05, "r2")], ignore_index=True)
    es2 = an.event_study(two, window=(0, 0), values=("rd_intensity",)).set_index("run")
    assert es2.loc["r1", "difference"] == pytest.approx(0.03) and es2.loc["r2", "difference"] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="no 'run' column"):
        an.event_study(two, events)


def test_event_study_window_balance_and_filters():
    panel = _panel(0.03)
    panel = panel[~((panel["firm_id"] == 3) & (panel["year"] == 2013))]  # firm 3 unobserved at k = -3
    es = an.event_study(panel, window=(-3, 3), values=("rd_intensity",), balanced=True)
    assert es["n_treated"].tolist() == [4] * 7
    west = an.event_study(panel.assign(bloc="west"), values=("rd_intensity",))
    assert west.empty
    assert not an.event_study(panel.assign(bloc="west"), bloc=None, values=("rd_intensity",)).empty
    with pytest.raises(ValueError, match="window"):
        an.event_study(panel, window=(2, -2))


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def _lines_with_data(ax) -> list:
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 0]


def _check_figure(fig, n_axes: int, min_axes_with_lines: int | None = None) -> list:
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == n_axes
    with_lines = [ax for ax in axes if _lines_with_data(ax)]
    assert len(with_lines) >= (n_axes if min_axes_with_lines is None else min_axes_with_lines)
    assert fig.get_suptitle(), "the figure has a title"
    for ax in axes:
        assert ax.get_title() or ax.get_xlabel(), "every panel is titled or labelled"
    assert fig.legends, "a figure legend names the scenarios"
    return axes


def test_plot_timeline_marks_every_scenario_bloc_and_stage(frames):
    tl = frames["timeline"]
    fig = an.plot_timeline(tl)
    blocs = list(pd.unique(tl["bloc"].astype(str)))  # rows of panels in the order of the runs' blocs
    axes = _check_figure(fig, len(blocs) * 2, min_axes_with_lines=1)
    table = an.timeline_table(tl)
    for ax, (bloc, col) in zip(axes, [(b, c) for b in blocs for c in ("years_to_first_output", "years_to_independence")]):
        assert ax.get_title().startswith(f"{bloc}: ")
        cells = table[(table["bloc"] == bloc) & (table["measure"] == col)]
        medians = sorted(float(_xdata(ln)[0]) for ln in ax.get_lines() if ln.get_gid() == "median")  # calendar years, by month
        want = cells[cells["median_status"] != "never"]
        assert medians == pytest.approx(sorted((want["reference_year"] + want["median"]).tolist()), abs=1 / 12)
        counts = [t for t in ax.texts if t.get_gid() == "reached"]
        assert len(counts) == int((cells["n_reached"] < cells["n_seeds"]).sum())
        ranges = bloc == "west" and col == "years_to_independence"
        assert len(ax.patches) == (len(STAGES) if ranges else 0)  # the accepted ranges, on the West's independence only
        assert "year" in ax.get_xlabel() or ax.get_xlabel() == ""


def test_independence_years_recomputed_from_the_time_series_match_the_summaries(runs):
    ind = an.independence_years(runs)
    tl = an.timeline_frame(runs)
    both = ind.merge(tl, on=["run", "bloc", "stage"], suffixes=("", "_summary"))
    assert len(both) == len(tl) == len(runs) * tl["bloc"].nunique() * len(STAGES)
    np.testing.assert_array_equal(both["years_to_independence"], both["years_to_independence_summary"])
    later = an.independence_years(runs, from_year=2017.0).merge(tl, on=["run", "bloc", "stage"], suffixes=("", "_summary"))
    reached = later["independence_year"].notna()
    assert (later.loc[reached, "independence_year"] >= 2017.0).all()
    kept = later["independence_year_summary"] >= 2017.0  # first held after the later clock already: the same quarter
    assert (later.loc[kept, "independence_year"] == later.loc[kept, "independence_year_summary"]).all()


def _xdata(ln) -> np.ndarray:
    """A line's x in decimal years (date axes give dates back)."""
    x = np.asarray(ln.get_xdata())
    return style.to_years(x) if x.dtype.kind in "Mm" or x.dtype == object else x.astype(float)


def _plots_series(ax, series: pd.Series) -> bool:
    """Whether a line of the panel draws exactly this series (x = its index in decimal years, y = its values)."""
    x, y = series.index.to_numpy(float), series.to_numpy(float)
    return any(
        len(ln.get_xdata()) == len(x) and np.allclose(_xdata(ln), x) and np.allclose(np.asarray(ln.get_ydata(), float), y, equal_nan=True)
        for ln in ax.get_lines()
    )


def test_plot_capacity(frames):
    ts = frames["timeseries"]
    blocs = ["china", *[b for b in pd.unique(ts["bloc"].astype(str)) if b != "china"]]
    axes = _check_figure(an.plot_capacity(ts), len(STAGES) * (len(blocs) + 1))
    ncol = len(blocs) + 1
    assert [ax.get_title() for ax in axes[:ncol]] == [*(f"mining: {b}" for b in blocs), "mining: share"]
    assert "kt REO/yr" in axes[0].get_ylabel() and "kt NdFeB magnet/yr" in axes[3 * ncol].get_ylabel() and "%" in axes[ncol - 1].get_ylabel()
    for k, stage in enumerate(STAGES):  # every scenario's median across seeds, in each bloc's own panel, as it is in the data
        d = ts[ts["stage"].astype(str) == stage]
        for (scen, bloc), g in d.groupby([d["scenario"], d["bloc"].astype(str)]):
            assert _plots_series(axes[k * ncol + blocs.index(bloc)], g.groupby("time")["capacity_t"].median() / 1000.0), (stage, scen, bloc)
            if bloc == "china":
                assert _plots_series(axes[k * ncol + ncol - 1], g.groupby("time")["capacity_share"].median()), (stage, scen)


def test_plot_pyramid(frames):
    pol, ev = frames["policy"], frames["events"]
    axes = _check_figure(an.plot_pyramid(pol, ev), 4)
    assert "designations per year" in axes[3].get_ylabel()
    china = pol[(pol["bloc"].astype(str) == "china") & (pol["measure"] == "firms")]
    designated = ev[(ev["kind"] == "designated") & (ev["bloc"].astype(str) == "china")]
    for scen in ("baseline", "export_control_shock"):
        lg = china[(china["scenario"] == scen) & (china["key"] == "little_giant")]
        assert _plots_series(axes[2], lg.groupby("time")["value"].median()), scen
        # designations per year: counted from the event log here, zero in a year without any, median over seeds
        years = sorted(pol.loc[pol["scenario"] == scen, "year"].unique())
        d = designated[designated["scenario"] == scen]
        counts = d.assign(year=np.floor(d["time"].astype(float)).astype(int)).groupby(["run", "year"]).size()
        runs = pol.loc[pol["scenario"] == scen, "run"].unique()
        per_run = counts.reindex(pd.MultiIndex.from_product([runs, years], names=["run", "year"]), fill_value=0)
        assert per_run.sum() > 0 or scen != "baseline", "the baseline test runs designate firms"
        per_year = per_run.astype(float).groupby("year").median()
        assert _plots_series(axes[3], per_year.set_axis(per_year.index + 0.5)), scen  # a year's count at mid-year
    _check_figure(an.plot_pyramid(frames["policy"]), 4, min_axes_with_lines=3)  # no event log: text instead
    one_run_events = frames["events"].drop(columns=["run", "scenario", "seed"])
    with pytest.raises(ValueError, match="no 'run' column"):
        an.plot_pyramid(frames["policy"], one_run_events)


def test_plot_rd_by_tier(frames):
    pol = frames["policy"]
    axes = _check_figure(an.plot_rd_by_tier(pol), 2 * len(an.TIERS))
    assert "R&D" in axes[0].get_ylabel() and "patents" in axes[len(an.TIERS)].get_ylabel()
    # non-designated firms' R&D intensity: R&D over revenue summed over each year, median over seeds
    p = pol[(pol["bloc"].astype(str) == "china") & (pol["key"] == "none") & (pol["scenario"] == "baseline")]
    flows = p.pivot_table(index=["run", "year"], columns="measure", values="value", aggfunc="sum")
    intensity = (flows["rd_spend_musd"] / flows["revenue_musd"]).groupby("year").median()
    assert intensity.notna().all() and (intensity > 0).any()
    assert _plots_series(axes[0], intensity.set_axis(intensity.index + 0.5))  # a year's flows at mid-year


def test_event_study_and_its_plot_on_real_runs(frames):
    es = an.event_study(frames["firms"], frames["events"])
    assert set(es["variable"]) == {"rd_intensity", "patents"}
    assert es["rel_year"].between(-3, 3).all()
    assert set(es["scenario"]) <= {"baseline", "export_control_shock"}  # china_without_tiers designates nobody
    _check_figure(an.plot_event_study(es), 4)


def test_plot_prices_shades_only_where_an_export_control_is_in_force(frames):
    ts, ev = frames["timeseries"], frames["events"]
    axes = _check_figure(an.plot_prices(ts, ev), len(STAGES))
    controlled = set(ts[ts["export_controlled"] > 0]["stage"].astype(str))
    assert controlled == {"separation", "metal", "magnet"}  # the moved shock (test setup), not a model number
    for ax, stage in zip(axes, STAGES):
        assert any(ln.get_gid() == "event_start" for ln in ax.get_lines()), "the shock's start on every panel"
        bars = [ln for ln in ax.get_lines() if ln.get_gid() == "export_control"]
        assert bool(bars) == (stage in controlled)
        assert not any(p.get_gid() == "event_window" for p in ax.patches), "the other scenarios are not under control: no shading"
        assert "USD/kg" in ax.get_ylabel()
    shock = ts[ts["scenario"] == "export_control_shock"]
    for ax, stage in zip(an.plot_prices(shock, ev[ev["scenario"] == "export_control_shock"]).axes, STAGES):
        shaded = [p for p in ax.patches if p.get_gid() == "event_window"]
        assert bool(shaded) == (stage in controlled), stage  # shaded only at the stages under control
        if shaded:
            years = shock[(shock["stage"].astype(str) == stage) & (shock["export_controlled"] > 0)]["time"]
            x = np.rint([shaded[0].get_x(), shaded[0].get_x() + shaded[0].get_width()]).astype("int64").astype("datetime64[D]")
            x0, x1 = (float(v) for v in style.to_years(x))
            assert (x0, x1) == pytest.approx((years.min(), years.max() + 0.25), abs=1 / 12)
    quiet = ts[ts["scenario"] != "export_control_shock"]
    for ax in an.plot_prices(quiet, ev[ev["scenario"] != "export_control_shock"]).axes:
        assert not any(p.get_gid() == "event_window" for p in ax.patches)  # no event fires in 4 years of baseline


def _fiscal_totals(policy: pd.DataFrame) -> dict[tuple[str, str], dict[str, float]]:
    """Per "scenario / bloc": M USD over the whole run by instrument, mean over the runs that spent on it."""
    p = policy[policy["measure"] == "fiscal_musd"]
    out: dict[tuple[str, str], dict[str, float]] = {}
    for (scen, bloc, key), g in p.groupby(["scenario", "bloc", "key"], observed=True):
        total = float(g.groupby("run", observed=True)["value"].sum().mean())
        if total:
            out.setdefault((str(scen), str(bloc)), {})[str(key)] = total
    return out


def test_plot_fiscal(frames):
    fig = an.plot_fiscal(frames["policy"], frames["timeseries"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert fig.get_suptitle() and fig.legends
    per_year = [ax for ax in axes if ax.get_title().endswith("public money per year")]
    assert per_year and all("M USD/yr" in ax.get_ylabel() for ax in per_year), "a panel and scale per bloc that spends"
    bars_ax = next(ax for ax in axes if ax.containers)
    # the stacked bars: one per scenario / bloc and instrument, as long as its share of the mean total, stacked in order
    want = _fiscal_totals(frames["policy"])
    assert want, "the runs spend public money"
    fiscal = frames["policy"][frames["policy"]["measure"] == "fiscal_musd"]
    labels = {f"{s} / {b}" for s, b in zip(fiscal["scenario"].astype(str), fiscal["bloc"].astype(str))}
    seen: dict[tuple[str, str], dict[str, float]] = {}
    ends: dict[tuple[str, str], float] = {}
    for bars in bars_ax.containers:
        inst = bars.get_label()
        for rect in bars.patches:
            y = rect.get_y() + rect.get_height() / 2
            label = next(lb for lb in labels if abs(bars_ax.yaxis.convert_units(lb) - y) < 1e-9)
            scen, bloc = label.split(" / ")
            if rect.get_width():
                seen.setdefault((scen, bloc), {})[inst] = rect.get_width()
            assert rect.get_x() == pytest.approx(ends.get((scen, bloc), 0.0)), "stacked on the instruments before it"
            ends[(scen, bloc)] = rect.get_x() + rect.get_width()
    assert seen.keys() == want.keys()
    totals = [t.get_text() for t in bars_ax.texts]
    for k, by_inst in want.items():
        total = sum(by_inst.values())
        assert seen[k] == pytest.approx({i: v / total for i, v in by_inst.items()}), k
        assert ends[k] == pytest.approx(1.0), k
        assert f"{total:,.0f} M USD" in totals, k
    per_t = an.fiscal_per_tonne(frames["policy"], frames["timeseries"])
    assert set(per_t["bloc"]) == set(BLOCS)
    assert (per_t.groupby(["run", "bloc"])["fiscal_cum_musd"].diff().dropna() >= -1e-9).all()  # cumulative


def test_plots_accept_one_run_without_id_columns(runs):
    r = runs[0]
    _check_figure(an.plot_capacity(r.timeseries), len(STAGES) * (len(BLOCS) + 1))
    _check_figure(an.plot_prices(r.timeseries, r.events), len(STAGES))
    fig = an.plot_event_study(an.event_study(r.firms, r.events))
    png = fig._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"  # renders without pyplot or a display
