"""A user's mistakes through the analysis API (sim/research/analysis.py), one row each: the audit's cases.

Every mistake (an argument of the wrong kind, a name that is not there, a number out of range, a path that is not a
run, a table given in another's place, a filter that matched nothing) raises one :class:`sim.checks.ConfigError`
whose message names the argument and what is allowed; never pandas', numpy's, pathlib's or matplotlib's error, and
never a silently empty frame or a placeholder figure. Each group is a table of (call, fragment of the message) rows.

The runs are written once per module by ``python -m sim`` (three processes side by side, a few seconds): baseline
(5 years), west_coordinated (8 years) and a small national run (5 years), each seed 1.
"""

from __future__ import annotations

import shutil
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from _sim_helpers import start_sim

from sim.checks import ConfigError
from sim.research import analysis as an

RUNS = {
    "b1": ("years=5", "seed=1"),
    "wc": ("scenario=west_coordinated", "years=8", "seed=1"),
    "nat": ("scenario=national_programme", "national.scale=0.002", "years=5", "seed=1"),
}


@pytest.fixture(scope="module")
def c(tmp_path_factory) -> SimpleNamespace:
    """The runs and their tables, and a few broken copies and stray files beside them."""
    root = tmp_path_factory.mktemp("mistakes")
    procs = {k: start_sim(*args, "progress=false", f"output.dir={root / 'runs' / k}", cwd=root / "cwd") for k, args in RUNS.items()}
    for k, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (k, err[-2000:])
    b1, wc, nat = (an.load_run(root / "runs" / k) for k in ("b1", "wc", "nat"))
    no_ts = root / "no_ts"  # a run whose timeseries.parquet is gone
    shutil.copytree(b1.path, no_ts)
    (no_ts / "timeseries.parquet").unlink()
    (root / "notes.txt").write_text("not a run\n")
    targets = root / "targets.txt"
    targets.write_text("just some text\n")
    runs = [b1, wc]
    ts, pol, ev, firms = (an.tidy(runs, t) for t in ("timeseries", "policy", "events", "firms"))
    tl = an.timeline_frame(runs)
    return SimpleNamespace(
        root=root,
        b1=b1,
        wc=wc,
        nat=nat,
        runs=runs,
        no_ts=an.load_run(no_ts),
        notes=root / "notes.txt",
        targets=targets,
        ts=ts,
        pol=pol,
        ev=ev,
        firms=firms,
        tl=tl,
        study=an.event_study(firms, ev),
    )


def _raises(call, c, match: str) -> ConfigError:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # load_runs' "skipped" warning is not the error
        with pytest.raises(ConfigError, match=match) as ei:
            call(c)
    assert "\n" not in str(ei.value), "one line"
    return ei.value


def _rows(*rows):
    return [pytest.param(call, match, id=name) for name, call, match in rows]


# --------------------------------------------------------------------------
# Loading runs
# --------------------------------------------------------------------------
LOADING = _rows(
    ("load_run-none", lambda c: an.load_run(None), r"'path'.*one run directory \(a str or Path\), got None; for several runs: load_runs"),
    ("load_run-int", lambda c: an.load_run(1), r"'path'.*one run directory \(a str or Path\), got 1"),
    ("load_run-list", lambda c: an.load_run([c.b1.path]), r"'path'.*one run directory.*got list.*load_runs"),
    ("load_run-parent", lambda c: an.load_run(c.root / "runs"), r"'path'.*not a run directory but a directory of 3 run\(s\)"),
    ("load_runs-none", lambda c: an.load_runs(None), r"'paths_or_root'.*a directory or a list of run directories, got None"),
    ("load_runs-int", lambda c: an.load_runs(5), r"'paths_or_root'.*a directory or a list of run directories, got 5"),
    ("load_runs-run", lambda c: an.load_runs(c.b1), r"'paths_or_root'.*a directory or a list of run directories, got Run \(b1\)"),
    ("load_runs-list-of-runs", lambda c: an.load_runs([c.b1]), r"'paths_or_root\[0\]'.*a run directory \(a str or Path\), got Run.*loaded already"),
    ("load_runs-list-parent", lambda c: an.load_runs([c.root / "runs"]), r"'paths_or_root\[0\]'.*not a run directory but a directory of 3 run"),
    ("load_runs-list-missing", lambda c: an.load_runs([c.b1.path, c.root / "missing"]), r"'paths_or_root\[1\]'.*run directory not found: .*missing"),
    ("load_runs-list-file", lambda c: an.load_runs([c.b1.path, c.notes]), r"'paths_or_root\[1\]'.*not a run directory \(a file\): .*notes.txt"),
    ("load_runs-empty-path", lambda c: an.load_runs(""), r"'paths_or_root'.*an empty path"),
    ("load_runs-complete_only", lambda c: an.load_runs(c.root / "runs", complete_only="no"), r"'complete_only'.*True or False, got the string 'no'"),
)


@pytest.mark.parametrize("call, match", LOADING)
def test_loading_mistakes(c, call, match):
    err = _raises(call, c, match)
    if "not found" in match:
        assert isinstance(err, FileNotFoundError)


# --------------------------------------------------------------------------
# Runs where tables are taken and tables where runs are: tidy, timeline_frame, the national plots
# --------------------------------------------------------------------------
RUNS_ARGS = _rows(
    ("tidy-path", lambda c: an.tidy(c.b1.path, "timeseries"), r"'runs'.*expected Run objects.*got a path.*load them first"),
    ("tidy-frame", lambda c: an.tidy(c.ts, "timeseries"), r"'runs'.*expected Run objects.*got DataFrame"),
    ("tidy-dict", lambda c: an.tidy(c.b1.summary, "timeseries"), r"'runs'.*expected Run objects.*got dict"),
    ("tidy-swapped", lambda c: an.tidy("timeseries", c.runs), r"'table'.*must be a table name \(str\).*got list of 2 Run\(s\); arguments swapped\?"),
    ("tidy-no-runs", lambda c: an.tidy([], "timeseries"), r"'runs'.*no runs given"),
    ("tidy-no-file", lambda c: an.tidy([c.no_ts], "timeseries"), r"'runs'.*run no_ts has no timeseries.parquet"),
    ("tidy-path-in-list", lambda c: an.tidy([c.b1, str(c.b1.path)], "events"), r"'runs'.*got the string .*load them first"),
    ("timeline_frame-frame", lambda c: an.timeline_frame(c.tl), r"'runs'.*expected Run objects.*got DataFrame"),
    ("timeline_frame-no-runs", lambda c: an.timeline_frame([]), r"'runs'.*no runs given"),
    ("scalars_frame-no-runs", lambda c: an.scalars_frame([]), r"'runs'.*no runs given"),
    ("plot_national_pyramid-frame", lambda c: an.plot_national_pyramid(c.ts), r"'runs'.*expected Run objects.*got DataFrame"),
)


@pytest.mark.parametrize("call, match", RUNS_ARGS)
def test_runs_and_tables_mistakes(c, call, match):
    _raises(call, c, match)


# --------------------------------------------------------------------------
# reduce
# --------------------------------------------------------------------------
REDUCE = _rows(
    ("value-list", lambda c: an.reduce(c.tl, "scenario", ["years_to_independence"]), r"'value'.*must be one column name.*got list"),
    ("value-text", lambda c: an.reduce(c.tl, "scenario", "bloc"), r"'value'.*'bloc' is not a numeric column"),
    ("value-run", lambda c: an.reduce(c.tl, "scenario", "run"), r"'value'.*'run' is not a numeric column"),
    (
        "quantiles-number",
        lambda c: an.reduce(c.tl, "scenario", "years_to_independence", quantiles=0.5),
        r"'quantiles'.*a sequence of numbers in \[0, 1\]",
    ),
    ("quantiles-outside", lambda c: an.reduce(c.tl, "scenario", "years_to_independence", quantiles=(0.5, 5)), r"'quantiles\[1\]'.*\[0, 1\], got 5"),
    ("by-int", lambda c: an.reduce(c.tl, 1, "years_to_independence"), r"'by'.*a column name or a list of them, got 1"),
    ("filtered-empty", lambda c: an.reduce(c.tl[c.tl["scenario"] == "Baseline"], "bloc", "years_to_independence"), r"'df'.*has no rows.*filter"),
)


@pytest.mark.parametrize("call, match", REDUCE)
def test_reduce_mistakes(c, call, match):
    _raises(call, c, match)


# --------------------------------------------------------------------------
# paired_differences (and timeline_differences through it)
# --------------------------------------------------------------------------
def _pd(c, df=None, **kw):
    kw = {"by": ["bloc", "stage"], "n_boot": 50, **kw}
    return an.paired_differences(c.tl if df is None else df, kw.pop("value", "first_output_year"), **kw)


PAIRED = _rows(
    ("others-typo-string", lambda c: _pd(c, others="west_coordinatd"), r"'others'.*scenario 'west_coordinatd' not in column"),
    ("others-int", lambda c: _pd(c, others=5), r"'others'.*a scenario name or a list of them, got 5"),
    ("level-string", lambda c: _pd(c, level="0.9"), r"'level'.*a number in \(0, 1\), got the string '0.9'"),
    ("level-outside", lambda c: _pd(c, level=90), r"'level'.*a number in \(0, 1\), got 90"),
    ("rng-string", lambda c: _pd(c, rng="a"), r"'rng'.*non-negative integer seed or a numpy.random.Generator, got the string 'a'"),
    ("rng-none", lambda c: _pd(c, rng=None), r"'rng'.*integer seed or a numpy.random.Generator, got None"),
    ("value-text", lambda c: _pd(c, value="run"), r"'value'.*'run' is not a numeric column"),
    ("n_boot-string", lambda c: _pd(c, n_boot="1000"), r"'n_boot'.*must be a positive integer, got the string '1000'"),
    ("n_boot-zero", lambda c: _pd(c, n_boot=0), r"'n_boot'.*must be a positive integer, got 0"),
    ("filtered-empty", lambda c: _pd(c, c.tl[c.tl["scenario"] == "Baseline"]), r"'df'.*has no rows to compare"),
    ("reference-only", lambda c: _pd(c, c.tl[c.tl["scenario"] == "baseline"]), r"'others'.*no scenario other than 'baseline' to compare"),
    ("censor-list", lambda c: _pd(c, censor=[2030]), r"'censor'.*a number or the name of a column"),
    ("timeline_differences-level", lambda c: an.timeline_differences(c.tl, "first_output_year", level=2), r"'level'.*\(0, 1\)"),
)


@pytest.mark.parametrize("call, match", PAIRED)
def test_paired_differences_mistakes(c, call, match):
    _raises(call, c, match)


# --------------------------------------------------------------------------
# Timelines: timeline_table, independence_years, censored_quantile, quantile_name, reference_ranges
# --------------------------------------------------------------------------
TIMELINES = _rows(
    ("timeline_table-band-number", lambda c: an.timeline_table(c.tl, band=0.9), r"'band'.*a pair \(lo, hi\) of quantiles"),
    ("timeline_table-band-outside", lambda c: an.timeline_table(c.tl, band=(10, 90)), r"'band\[0\]'.*\[0, 1\], got 10"),
    ("timeline_table-measures-int", lambda c: an.timeline_table(c.tl, measures=3), r"'measures'.*a column name or a list of them"),
    (
        "timeline_table-measures-typo",
        lambda c: an.timeline_table(c.tl, measures="years_to_independenc"),
        r"'timeline'.*lacks column 'years_to_independenc'",
    ),
    ("timeline_table-empty", lambda c: an.timeline_table(c.tl.iloc[:0]), r"'timeline'.*has no rows"),
    ("timeline_table-runs", lambda c: an.timeline_table(c.runs), r"'timeline'.*expected a table.*timeline_frame\(load_runs\(DIR\)\)"),
    ("independence_years-national", lambda c: an.independence_years([c.nat]), r"'runs'.*a run of the national world, which has no chain"),
    (
        "independence_years-late",
        lambda c: an.independence_years(c.runs, from_year=2100),
        r"'from_year'.*within the runs' years \(2015-2023\), got 2100",
    ),
    (
        "independence_years-early",
        lambda c: an.independence_years(c.runs, from_year=1900),
        r"'from_year'.*within the runs' years \(2015-2023\), got 1900",
    ),
    ("independence_years-string", lambda c: an.independence_years(c.runs, from_year="2020"), r"'from_year'.*a calendar year \(a number\)"),
    ("independence_years-no-runs", lambda c: an.independence_years([]), r"'runs'.*no runs given"),
    ("reference_ranges-no-list", lambda c: an.reference_ranges(c.targets), r"'path'.*targets.txt holds no targets list"),
    ("reference_target-no-list", lambda c: an.reference_target(c.targets), r"'path'.*targets.txt holds no targets list"),
    ("reference_ranges-int", lambda c: an.reference_ranges(3), r"'path'.*a targets file \(a str or Path\), got 3"),
    ("censored_quantile-text", lambda c: an.censored_quantile(["a"], 0.5), r"'values'.*must be numbers"),
    ("censored_quantile-string", lambda c: an.censored_quantile("12", 0.5), r"'values'.*must be numbers"),
    ("censored_quantile-q", lambda c: an.censored_quantile([1.0, 2.0], "0.5"), r"'q'.*a number in \[0, 1\], got the string '0.5'"),
    ("quantile_name-string", lambda c: an.quantile_name("0.5"), r"'q'.*a number in \[0, 1\], got the string '0.5'"),
)


@pytest.mark.parametrize("call, match", TIMELINES)
def test_timeline_mistakes(c, call, match):
    _raises(call, c, match)


# --------------------------------------------------------------------------
# Figures and the fiscal tables: the first and the optional second table, blocs, filters
# --------------------------------------------------------------------------
def _ts_text(c):
    return c.ts.assign(capacity_t=c.ts["capacity_t"].astype(str))


FIGURES = _rows(
    ("plot_capacity-text", lambda c: an.plot_capacity(_ts_text(c)), r"'ts'.*'capacity_t' is not a numeric column \(dtype str\)"),
    (
        "plot_prices-policy",
        lambda c: an.plot_prices(c.ts, c.pol),
        r"'events'.*must be the events table \(tidy\(runs, 'events'\)\): it lacks column 'kind'",
    ),
    ("plot_prices-ts", lambda c: an.plot_prices(c.ts, c.ts), r"'events'.*must be the events table.*lacks column 'kind'"),
    ("plot_prices-runs", lambda c: an.plot_prices(c.ts, c.runs), r"'events'.*expected a table \(a DataFrame\).*got list of 2 Run\(s\).*'events'"),
    ("plot_pyramid-ts", lambda c: an.plot_pyramid(c.pol, c.ts), r"'events'.*must be the events table.*lacks column 'kind'"),
    ("plot_pyramid-firms", lambda c: an.plot_pyramid(c.pol, c.firms), r"'events'.*must be the events table.*lacks column"),
    ("plot_pyramid-bloc", lambda c: an.plot_pyramid(c.pol, "west"), r"'events'.*got the string 'west'.*did you mean bloc='west'\?"),
    ("plot_pyramid-swapped", lambda c: an.plot_pyramid(c.ev, c.pol), r"'policy'.*must be the policy table.*lacks column"),
    ("plot_fiscal-events", lambda c: an.plot_fiscal(c.pol, c.ev), r"'ts'.*must be the timeseries table.*lacks column 'year'"),
    ("plot_fiscal-West", lambda c: an.plot_fiscal(c.pol[c.pol["bloc"] == "West"]), r"'policy'.*has no rows to draw.*lower case"),
    ("plot_fiscal-empty", lambda c: an.plot_fiscal(c.pol.iloc[:0]), r"'policy'.*has no rows to draw"),
    ("plot_fiscal-no-money", lambda c: an.plot_fiscal(c.pol[c.pol["measure"] == "fiscal"]), r"'policy'.*has no rows"),
    ("plot_fiscal-no-fiscal-rows", lambda c: an.plot_fiscal(c.pol[c.pol["measure"] == "firms"]), r"'policy'.*no rows of public money.*fiscal_musd"),
    ("plot_fiscal-ts-West", lambda c: an.plot_fiscal(c.pol, c.ts[c.ts["bloc"] == "West"]), r"'ts'.*has no rows to draw"),
    ("fiscal_per_tonne-swapped", lambda c: an.fiscal_per_tonne(c.ts, c.pol), r"'policy'.*must be the policy table.*lacks column 'measure'"),
    ("fiscal_per_tonne-events", lambda c: an.fiscal_per_tonne(c.pol, c.ev), r"'ts'.*must be the timeseries table.*lacks column"),
    ("magnet_equivalents-policy", lambda c: an.magnet_equivalents(c.pol), r"'ts'.*must be the timeseries table.*lacks column 'output_t'"),
    ("plot_timeline-range-number", lambda c: an.plot_timeline(c.tl, ranges={"magnet": 7}), r"'ranges\['magnet'\]'.*a pair \(lo, hi\) of years"),
    ("plot_timeline-ranges-list", lambda c: an.plot_timeline(c.tl, ranges=[(3, 7)]), r"'ranges'.*a mapping \{stage: \(lo, hi\)\}"),
    (
        "plot_timeline-ranges-typo",
        lambda c: an.plot_timeline(c.tl, ranges={"magnets": (7, 15)}),
        r"'ranges'.*'magnets' is not a stage; stages: mining",
    ),
    ("plot_timeline-band", lambda c: an.plot_timeline(c.tl, band=0.9), r"'band'.*a pair \(lo, hi\)"),
)


@pytest.mark.parametrize("call, match", FIGURES)
def test_figure_mistakes(c, call, match):
    _raises(call, c, match)


# --------------------------------------------------------------------------
# The event study
# --------------------------------------------------------------------------
EVENT_STUDY = _rows(
    ("bloc-case", lambda c: an.event_study(c.firms, c.ev, bloc="China"), r"'bloc'.*bloc='China' is not a bloc of the table; its blocs: china"),
    ("bloc-absent", lambda c: an.event_study(c.firms, c.ev, bloc="atlantis"), r"'bloc'.*bloc='atlantis' is not a bloc"),
    ("filtered-empty", lambda c: an.event_study(c.firms[c.firms["bloc"] == "West"], c.ev), r"'firms'.*has no rows"),
    ("values-typo", lambda c: an.event_study(c.firms, c.ev, values="rd_intensty"), r"'values'.*no column 'rd_intensty'"),
    ("values-int", lambda c: an.event_study(c.firms, c.ev, values=3), r"'values'.*a column name or a list of them"),
    ("window-int", lambda c: an.event_study(c.firms, c.ev, window=3), r"'window'.*a pair \(start, end\) of whole years"),
    ("window-fraction", lambda c: an.event_study(c.firms, c.ev, window=(-1.5, 2)), r"'window'.*whole years"),
    ("events-ts", lambda c: an.event_study(c.firms, c.ts), r"'events'.*must be the events table.*lacks column 'kind'"),
    ("firms-policy", lambda c: an.event_study(c.pol, c.ev), r"'firms'.*must be the firms table.*lacks column 'firm_id'"),
    ("plot-filtered-empty", lambda c: an.plot_event_study(c.study[c.study["scenario"] == "Baseline"]), r"'study'.*has no rows to draw"),
    ("plot-frame", lambda c: an.plot_event_study(c.firms), r"'study'.*must be the event study table \(event_study\(firms, events\)\)"),
)


@pytest.mark.parametrize("call, match", EVENT_STUDY)
def test_event_study_mistakes(c, call, match):
    _raises(call, c, match)


# --------------------------------------------------------------------------
# The national plots
# --------------------------------------------------------------------------
NATIONAL = _rows(
    (
        "pyramid-chain-runs",
        lambda c: an.plot_national_pyramid(c.runs),
        r"'runs'.*these are rare-earth runs; national plots need runs of scenario=national",
    ),
    ("batches-chain-runs", lambda c: an.plot_national_batches(c.b1), r"'runs'.*these are rare-earth runs"),
    ("reviews-chain-runs", lambda c: an.plot_national_reviews(c.runs), r"'runs'.*these are rare-earth runs"),
    ("provinces-chain-runs", lambda c: an.plot_national_provinces(c.runs), r"'runs'.*these are rare-earth runs"),
    ("pyramid-no-runs", lambda c: an.plot_national_pyramid([]), r"'runs'.*no runs given"),
    (
        "published-number",
        lambda c: an.plot_national_pyramid(c.nat, published={"srdi": 5}),
        r"'published\['srdi'\]'.*a mapping \{year: count\}, got 5",
    ),
    ("published-list", lambda c: an.plot_national_pyramid(c.nat, published=[1, 2]), r"'published'.*a mapping \{tier: \{year: count\}\}"),
    (
        "published-tier-case",
        lambda c: an.plot_national_pyramid(c.nat, published={"SRDI": {2020: 5}}),
        r"'published'.*unknown tier 'SRDI'; tiers: innovation_type",
    ),
    ("batches-list", lambda c: an.plot_national_batches(c.nat, batches=[2019, 2020]), r"'batches'.*a mapping \{year: count\}, got list"),
    ("reviews-list", lambda c: an.plot_national_reviews(c.nat, published=[0.9]), r"'published'.*a mapping \{cohort year: share\}"),
    ("reviews-share", lambda c: an.plot_national_reviews(c.nat, published={2019: 90}), r"'published\[2019\]'.*\[0, 1\], got 90"),
    ("provinces-top-string", lambda c: an.plot_national_provinces(c.nat, top="5"), r"'top'.*a positive integer, got the string '5'"),
    ("provinces-top-zero", lambda c: an.plot_national_provinces(c.nat, top=0), r"'top'.*a positive integer, got 0"),
)


@pytest.mark.parametrize("call, match", NATIONAL)
def test_national_plot_mistakes(c, call, match):
    _raises(call, c, match)


# --------------------------------------------------------------------------
# What stays allowed: the forms the docstrings name, and the documented empty cases
# --------------------------------------------------------------------------
def test_the_documented_forms_and_empty_cases_still_work(c, tmp_path):
    one = an.paired_differences(c.tl, "first_output_year", others="west_coordinated", by=["bloc", "stage"], n_boot=50)
    pd.testing.assert_frame_equal(one, an.paired_differences(c.tl, "first_output_year", others=["west_coordinated"], by=["bloc", "stage"], n_boot=50))
    pd.testing.assert_frame_equal(
        an.timeline_table(c.tl, measures="years_to_independence"), an.timeline_table(c.tl, measures=["years_to_independence"])
    )
    pd.testing.assert_frame_equal(an.event_study(c.firms, c.ev, values="patents"), an.event_study(c.firms, c.ev, values=["patents"]))
    gen = an.paired_differences(c.tl, "first_output_year", by=["bloc", "stage"], n_boot=50, rng=np.random.default_rng(1))
    assert len(gen) == len(one)
    # from_year: any year within the runs, or a run's own reference year (west_coordinated's 2025, after this short run)
    assert not an.independence_years(c.runs, from_year=2016).empty and not an.independence_years(c.runs, from_year=2025).empty
    # the default bloc china on a panel without Chinese firms: the empty study, drawn as such (no designated firms)
    west = an.event_study(c.firms[c.firms["bloc"] == "west"], c.ev)
    assert west.empty
    assert any("no designated firms" in t.get_text() for ax in an.plot_event_study(west).axes for t in ax.texts)
    # a run without firms.parquet (output.firm_panel=false) adds no rows: documented on Run
    copy = tmp_path / "no-panel"
    shutil.copytree(c.b1.path, copy)
    (copy / "firms.parquet").unlink()
    assert an.tidy([an.load_run(copy)], "firms").columns.tolist() == list(an.ID_COLUMNS)
    assert an.load_run(c.b1.path).table("national").empty  # a national table of a rare-earth run: empty (Run.table)
    # a results root still skips the incomplete runs under it, with the warning (README "Analysis API")
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(an.load_runs(c.root)) == 3
    # a national run still draws every national figure
    for plot in (an.plot_national_pyramid, an.plot_national_batches, an.plot_national_provinces, an.plot_national_reviews):
        assert plot([c.nat, c.b1]).axes
