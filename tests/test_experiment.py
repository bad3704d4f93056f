"""The main experiment (sim/research/experiment.py): experiment files, the run set, resume, the difference
table and the report with every figure, on a tiny experiment."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sim.config import ConfigError
from sim.research import experiment as ex

TINY = {
    "name": "tiny",
    "scenarios": ["baseline", "china_without_tiers"],
    "reference": "baseline",
    "seeds": 2,
    "overrides": ["years=6"],
    "differences": [
        {"label": "China Little Giants 2020", "key": "policy.china.firms_by_tier.2020.little_giant", "unit": "firms"},
        {"label": "China public money", "key": "policy.china.fiscal_cost_total_musd", "unit": "M USD"},
        {
            "label": "West first separation output",
            "timeline": "first_output_year",
            "bloc": "west",
            "stage": "separation",
            "censor": True,
            "unit": "year",
        },
        {
            "label": "China magnet capacity 2018",
            "series": "capacity_t",
            "bloc": "china",
            "stage": "magnet",
            "year": 2018,
            "scale": 0.001,
            "unit": "kt/yr",
        },
        {"label": "China R&D 2017", "series": "rd_spend_musd", "bloc": "china", "year": 2017, "how": "sum", "unit": "M USD"},
    ],
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    out = root / "out"
    from sim.research import sweep

    real = sweep.compose
    with pytest.MonkeyPatch.context() as mp:  # the composes of the command, for the test below
        mp.setattr(sweep, "compose", lambda j, **kw: TINY_COMPOSED.append(list(j)) or real(j, **kw))
        rc = ex.main(["--experiment", str(path), "--out", str(out), "--workers", "1"])
    return rc, path, out


TINY_COMPOSED: list[list[str]] = []


def test_the_command_composes_each_job_at_most_once(tiny):
    """The jobs are composed once, before anything is written, and run from those configs: with two seeds per
    scenario, each scenario's two jobs once each (the set's first and last), none of them again to run."""
    exp = ex.load_experiment(str(tiny[1]))
    assert sorted(TINY_COMPOSED) == sorted(o for _, _, o in exp.jobs())


def test_tiny_experiment_writes_every_run_figure_and_table(tiny, capsys):
    rc, _, out = tiny
    assert rc == 0
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(runs) == 4 and sum(r.startswith("baseline-seed") for r in runs) == 2
    for r in (out / "runs").iterdir():
        assert json.loads((r / "manifest.json").read_text())["status"] == "complete"
    rep = out / "report"
    for name, _, _ in ex.FIGURES:
        png = rep / "figures" / f"{name}.png"
        assert png.exists() and png.stat().st_size > 5000, name
        assert f"figures/{name}.png" in (rep / "report.md").read_text()
    table = pd.read_csv(rep / "differences.csv")
    assert len(table) == len(TINY["differences"])  # one other scenario
    assert set(table["scenario"]) == {"china_without_tiers"}
    sweep = pd.read_parquet(out / "sweep_table.parquet")
    assert len(sweep) == 4 and set(sweep["status"]) == {"complete"}
    text = (rep / "report.md").read_text()
    assert "## Timelines (years from the reference year; median [10%, 90%] over seeds" in text
    assert "## Timelines: paired differences in years" in text and "right-censored" in text
    for name, _, _ in ex.FIGURES:  # the vector copy beside each PNG
        assert (rep / "figures" / f"{name}.pdf").stat().st_size > 5000, name
    assert text.count("*In this run.*") >= 5, "a sentence from the run's numbers under the figures"


def test_every_report_figure_has_readable_ticks_and_labelled_axes_with_units(tiny):
    """Renders every figure of the tiny experiment and checks, from the figure objects: no two tick labels of an axis
    overlap, every axis that shows tick labels has a label, and a quantity's label ends with its unit in parentheses
    (sim/research/style.py axis_problems); scenario colours are the same in every figure and none is an instrument's."""
    from matplotlib.colors import to_hex

    from sim.research import analysis as an
    from sim.research import style

    _, path, out = tiny
    exp = ex.load_experiment(str(path))
    runs = an.load_runs(out / "runs")
    names, seen = [], {}
    for f in ex.report_figures(exp, runs):
        names.append(f.name)
        assert style.axis_problems(f.figure) == [], f.name
        assert f.figure.get_figwidth() <= style.WIDTHS["double"] + 1e-9, f.name  # a journal's double column
        for leg in f.figure.legends:  # the legend's scenario entries: one colour per scenario in every figure
            for h, t in zip(leg.legend_handles, leg.get_texts()):
                scen = t.get_text().split(" (")[0]
                if scen in exp.scenarios:
                    assert seen.setdefault(scen, to_hex(h.get_color())) == to_hex(h.get_color()), (f.name, scen)
        if f.name == "fiscal":
            bars = {to_hex(p.get_facecolor()) for ax in f.figure.axes for p in ax.patches}
            assert bars and not bars & {to_hex(c) for c in style.scenario_colors(exp.scenarios).values()}
    assert names == [n for n, _, _ in ex.FIGURES]
    assert seen == {s: to_hex(c) for s, c in style.scenario_colors(exp.scenarios).items()}


def test_palettes_never_share_a_colour():
    from matplotlib.colors import to_hex

    from sim.research import style

    scen = {to_hex(c) for c in [*style.SCENARIO_PALETTE.values(), *style.SCENARIO_SPARE]}
    inst = {to_hex(c) for c in style.INSTRUMENT_SPARE}
    tiers = {to_hex(c) for c in style.TIER_PALETTE.values()}
    assert not scen & inst and not scen & tiers and not inst & tiers
    many = style.instrument_colors([*style.INSTRUMENT_ORDER, "agency:a", "agency:b", "agency:c"])
    assert len(set(many.values())) == len(many)


def test_axis_problems_catch_overlapping_years_and_labels_without_units():
    """The checker itself: years on a narrow axis with a plain locator run together; the style's date axis does not."""
    from matplotlib.ticker import FixedLocator

    from sim.research import style

    fig, axes = style.figure(1, 2, width="column", height=2.0)
    years = list(range(2015, 2046))
    bad, good = axes[0]
    bad.plot(years, years)
    bad.xaxis.set_major_locator(FixedLocator(years))
    bad.set_xlabel("year")
    good.plot(style.to_dates(years), years)
    style.date_axis(good)
    good.set_ylabel("capacity (kt REO/yr)")
    problems = style.axis_problems(fig)
    assert any("x tick labels overlap" in p for p in problems)
    assert any("'year' has no unit" in p for p in problems)
    assert any("y axis shows tick labels without a label" in p for p in problems)
    assert not [p for p in problems if p.startswith("axes 1")]


@pytest.mark.parametrize("span", [1.0, 2.0, 2.4, 2.75, 30.0])
def test_a_short_run_gets_a_date_axis_without_a_warning_and_the_long_ones_keep_their_ticks(span):
    """A 2-year run's panels (maxticks 4) once warned that no monthly step fits and fell back to 6 months; now they get a
    tick each January. Spans whose steps fitted before keep their ticks."""
    import warnings

    import numpy as np
    from matplotlib import dates as mdates

    from sim.research import style

    fig, axes = style.figure(1, 1, width="column", height=2.0)
    ax = axes[0, 0]
    ax.plot(style.to_dates([2015.0, 2015.0 + span]), [0.0, 1.0])
    style.date_axis(ax, maxticks=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.canvas.draw()
    ax.set_ylabel("share (1)")

    def years(values):
        return [d.year + (d.month - 1) / 12 + (d.day - 1) / 365 for d in mdates.num2date(values)]

    ticks = years(ax.get_xticks())
    plain = mdates.AutoDateLocator(minticks=3, maxticks=4)  # matplotlib's own steps
    plain.axis = ax.xaxis
    if span in (2.0, 2.4):
        assert 2 <= len(ticks) <= 4 and all(t == int(t) for t in ticks), ticks
    else:
        np.testing.assert_array_equal(ticks, years(plain()))
    assert not style.axis_problems(fig)


def test_save_into_a_directory_that_is_not_there_names_it(tmp_path):
    """style.save into a folder not yet made: one error naming the user's path (not the temporary file beside it)."""
    from sim.research import style

    fig, _ = style.figure(1, 1, width="column", height=2.0)
    with pytest.raises(FileNotFoundError, match=f"no directory {tmp_path / 'out'} to save capacity.png in"):
        style.save(fig, tmp_path / "out" / "capacity.png")
    assert list(tmp_path.iterdir()) == []


def test_save_lays_a_figure_out_once_for_its_png_and_pdf_and_keeps_its_layout_engine(tmp_path, monkeypatch):
    """style.save works the constrained layout out for the PNG and keeps it for the PDF (as many layout passes as a PNG
    alone), writes the PNG it writes alone, and leaves the figure's layout engine as it was."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    from sim.research import style

    passes = []
    real = ConstrainedLayoutEngine.execute
    monkeypatch.setattr(ConstrainedLayoutEngine, "execute", lambda self, fig: passes.append(1) or real(self, fig))

    def fig_():
        fig, axes = style.figure(1, 2, width="column", height=2.0)
        for ax in axes.flat:
            ax.plot([2015, 2020], [0.0, 1.0])
            ax.set_xlabel("year (calendar year)")
            ax.set_ylabel("capacity (kt REO/yr)")
        return fig

    alone = fig_()
    style.save(alone, tmp_path / "alone.png", formats=("png",))
    png_passes = len(passes)
    passes.clear()
    both = fig_()
    engine = both.get_layout_engine()
    paths = style.save(both, tmp_path / "both.png")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 0 for p in paths)
    assert len(passes) == png_passes > 0  # the PDF drew on the PNG's layout
    assert (tmp_path / "both.png").read_bytes() == (tmp_path / "alone.png").read_bytes()
    assert both.get_layout_engine() is engine
    both.draw_without_rendering()
    assert len(passes) > png_passes  # laid out again on the next drawing


def test_the_date_axis_works_its_ticks_out_once_per_view_and_draws_what_matplotlibs_own_classes_draw(monkeypatch):
    """The style's date locator and formatter remember the ticks and labels of a view: a drawing asks for them many times
    (constrained layout), matplotlib's rrule walk runs once per view and again when the view moves, and the figure's
    PNG is byte for byte the one drawn with matplotlib's own AutoDateLocator and ConciseDateFormatter."""
    import io

    from matplotlib import dates as mdates

    from sim.research import style

    def draw(steady: bool) -> tuple[bytes, object]:
        fig, axes = style.figure(2, 3, width="double", height=3.0)
        for k, ax in enumerate(axes.flat):
            ax.plot(style.to_dates([2015.0, 2016.0 + 3 * k]), [0.0, 1.0])
            if steady:
                style.date_axis(ax, maxticks=4)
            else:
                locator = mdates.AutoDateLocator(minticks=3, maxticks=4)
                locator.intervald[mdates.MONTHLY] = [*locator.intervald[mdates.MONTHLY], 12]
                ax.xaxis.set_major_locator(locator)
                ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))
                ax.set_xlabel("time (calendar year)")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
        return buf.getvalue(), axes

    walks = []
    real = mdates.AutoDateLocator.get_locator
    monkeypatch.setattr(mdates.AutoDateLocator, "get_locator", lambda self, a, b: walks.append(id(self)) or real(self, a, b))
    plain_png, _ = draw(False)
    plain_walks = len(walks)
    walks.clear()
    steady_png, axes = draw(True)
    assert steady_png == plain_png
    assert len(walks) == 6 < plain_walks  # once per panel, where matplotlib's own walks at every layout pass
    ax = axes[0, 0]
    before = list(ax.get_xticks())
    ax.set_xlim(style.to_dates([2015.0, 2030.0]))
    assert list(ax.get_xticks()) != before and len(walks) == 7  # a new view: worked out afresh
    fmt = ax.xaxis.get_major_formatter()
    assert fmt.format_ticks(ax.get_xticks()) == mdates.ConciseDateFormatter(ax.xaxis.get_major_locator(), show_offset=False).format_ticks(
        ax.get_xticks()
    )


def test_timelines_csv_holds_every_scenario_bloc_stage_and_measure(tiny):
    _, _, out = tiny
    from sim.research.analysis import censored_quantile, load_runs, timeline_frame

    tl = timeline_frame(load_runs(out / "runs"))
    table = pd.read_csv(out / "report" / "timelines.csv", keep_default_na=False, na_values=[""])
    blocs = tl["bloc"].nunique()
    assert len(table) == 2 * blocs * 4 * 2  # scenarios x blocs x stages x measures
    for _, r in table.iterrows():
        v = tl[(tl["scenario"] == r["scenario"]) & (tl["bloc"] == r["bloc"]) & (tl["stage"] == r["stage"])][r["measure"]]
        assert (r["n_seeds"], r["n_reached"]) == (2, int(v.notna().sum()))
        value, status = censored_quantile(v.to_numpy(), 0.5)
        assert r["median_status"] == status and (math.isnan(value) and math.isnan(r["median"]) or r["median"] == value)
    diff = pd.read_csv(out / "report" / "timeline_differences.csv")
    # china_without_tiers counts from the same year as baseline: independence and first output, every bloc and stage
    assert len(diff) == 2 * blocs * 4 and set(diff["measure"]) == {"years_to_independence", "years_to_first_output"}
    assert (diff["n_pairs"] == 2).all()
    assert (diff["n_both"] + diff["n_scenario_only"] + diff["n_reference_only"] + diff["n_neither"] == diff["n_pairs"]).all()
    assert (diff["earlier"] + diff["same"] + diff["later"] + diff["n_neither"] == diff["n_pairs"]).all()


def test_report_only_prints_the_timelines_and_their_differences(tiny, capsys):
    _, path, out = tiny
    assert ex.main(["--experiment", str(path), "--out", str(out), "--report-only"]) == 0
    text = capsys.readouterr().out
    assert "Timelines, years from each scenario's reference year: median [10%, 90%]" in text
    assert "baseline (from 2015)" in text and "china_without_tiers (from 2015)" in text
    assert "Years to independence, scenario minus baseline on the same seed" in text
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Timelines, years"))
    rows = lines[start + 3 : lines.index("", start)]
    blocs = [ln.split()[0] for ln in rows]
    assert blocs[:8] == ["west"] * 8 and "china" in blocs and len(rows) % 8 == 0  # the West first: 2 measures x 4 stages a bloc
    assert all(ln.rstrip().endswith(("/2", "/2)")) for ln in rows)  # reached/seeds in every cell


def _copy_runs(out, dest, report: bool = False):
    """A copy of the experiment directory ``out`` (its runs, and its report when ``report``) to change in a test."""
    shutil.copytree(out, dest, ignore=None if report else shutil.ignore_patterns("report", "sweep_table.parquet"))
    return dest


def _files(d):
    """Every file under ``d`` with its size and modification time: what a refused command must leave as it was."""
    return {p.relative_to(d): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(d.rglob("*"))}


def _refused(argv, capsys):
    rc = ex.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:"), (argv, rc, err)
    return err[0]


def test_report_only_refuses_another_design_than_the_runs_and_writes_nothing(tiny, tmp_path, capsys):
    """--report-only reports on the runs of the design it is given only: without the experiment file the runs were made
    with (the default is main's four scenarios), with other overrides or fewer or more seeds it is one line naming
    the flag and what the runs were made with, and the directory (its report too) is left as it was."""
    _, path, out = tiny
    bare = _copy_runs(out, tmp_path / "bare")  # runs only: a refusal must not leave an empty report/figures/
    kept = _copy_runs(out, tmp_path / "kept", report=True)  # a good report: a refusal must not replace it
    before = _files(bare), _files(kept)
    err = _refused(["--report-only", "--out", str(bare)], capsys)  # main's design, not the runs'
    assert "'--report-only'" in err and "another design" in err and "--experiment" in err
    assert "scenarios baseline, china_without_tiers; seeds 1-2; overrides years=6" in err  # what the runs were made with
    err = _refused(["--report-only", "--out", str(bare), "--experiment", str(path), "--seeds", "1"], capsys)  # fewer seeds
    assert "'--report-only'" in err and "2 of 4" in err and "seed2" in err
    err = _refused(["--report-only", "--out", str(kept), "--experiment", str(path), "--seeds", "5", "years=7"], capsys)
    assert "'--report-only'" in err and "overrides years=6 years=7" in err
    err = _refused(["--report-only", "--out", str(kept), "--experiment", str(path), "--seeds", "3"], capsys)  # more seeds
    assert "'--seeds'" in err and "go up to seed 2" in err and "--seeds 2" in err
    assert (_files(bare), _files(kept)) == before
    assert not (bare / "report").exists()


def test_report_only_refuses_a_scenario_without_a_complete_run(tiny, tmp_path, capsys):
    """A scenario of the design with no complete run (its runs deleted, or interrupted) cannot be reported on: one
    line at --out naming it and what to do, without the warning about skipped runs, and nothing written."""
    _, path, out = tiny
    gone = _copy_runs(out, tmp_path / "gone")
    for r in (gone / "runs").glob("baseline-seed*"):
        shutil.rmtree(r)
    cut = _copy_runs(out, tmp_path / "cut", report=True)
    for r in (cut / "runs").glob("china_without_tiers-seed*"):
        (r / "manifest.json").unlink()  # as if interrupted
    for d, scen, words in ((gone, "baseline", []), (cut, "china_without_tiers", ["2 of its runs", "interrupted"])):
        before = _files(d)
        err = _refused(["--report-only", "--out", str(d), "--experiment", str(path)], capsys)
        assert "'--out'" in err and f"no complete run of scenario '{scen}'" in err and "without --report-only" in err
        assert all(w in err for w in words), err
        assert _files(d) == before
    assert not (gone / "report").exists()


def _contents(d):
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_a_report_that_fails_halfway_leaves_the_report_before(tiny, tmp_path, monkeypatch):
    """The report is written whole: a figure that fails (or Ctrl-C) after others were drawn leaves report/ as it was,
    byte for byte, and no staging directory; a rebuild that completes replaces the report's own files (a figure no
    longer drawn goes) and keeps a file the user put there."""
    _, path, out = tiny
    d = _copy_runs(out, tmp_path / "d", report=True)
    (d / "report" / "figures" / "retired.png").write_bytes(b"a figure of an older report")
    (d / "report" / "my_notes.txt").write_text("mine")
    for name in ("report.md", "differences.csv", "figures/capacity.png"):  # an older report's: the rebuild differs
        (d / "report" / name).write_bytes(b"older")
    before = _contents(d / "report")
    from sim.research import style

    real, saved = style.save, []

    def save(fig, p, *a, **kw):
        if len(saved) == 2:
            raise KeyboardInterrupt
        saved.append(p)
        return real(fig, p, *a, **kw)

    monkeypatch.setattr(style, "save", save)
    assert ex.main(["--experiment", str(path), "--out", str(d), "--report-only"]) == 130  # "interrupted"
    assert len(saved) == 2 and _contents(d / "report") == before
    assert sorted(p.name for p in d.iterdir() if p.name.startswith(".")) == []
    monkeypatch.setattr(style, "save", real)
    assert ex.main(["--experiment", str(path), "--out", str(d), "--report-only"]) == 0
    after = _contents(d / "report")
    assert after[Path("my_notes.txt")] == b"mine" and Path("figures/retired.png") not in after
    assert set(after) - {Path("my_notes.txt")} == set(_contents(out / "report"))
    assert sorted(p.name for p in d.iterdir() if p.name.startswith(".")) == []


def test_a_tier_or_share_without_a_value_reads_n_a_in_the_findings(tiny):
    """A short run has no Little Giant yet: its R&D intensity is no number, and the sentence says n/a as it does for
    its patents (not "nan%"); a share without a value likewise (not "n/a%")."""
    from sim.research import analysis as an
    from sim.research import findings

    runs = an.load_runs(tiny[2] / "runs")
    pol = an.tidy(runs, "policy")
    lg = (pol["key"].astype(str) == "little_giant") & pol["measure"].isin(["revenue_musd", "firms"])
    text = findings.rd_by_tier_finding(pol.assign(value=pol["value"].where(~lg, 0.0)), None)
    assert "Little Giant n/a and n/a" in text and "nan" not in text
    assert "SRDI " in text and "%" in text.split("SRDI ")[1].split(";")[0]  # the tiers with a value keep their per cent
    ts = an.tidy(runs, "timeseries")
    text = findings.capacity_finding(ts.assign(capacity_share=math.nan))
    assert "separation capacity: `baseline` n/a, `china_without_tiers` n/a." in text and "n/a%" not in text


def test_difference_values_are_read_from_the_runs(tiny):
    _, _, out = tiny
    from sim.research.analysis import load_runs

    runs = load_runs(out / "runs")
    exp = ex.parse_experiment(TINY)
    values = ex.difference_values(exp, runs)
    assert len(values) == 4 * len(TINY["differences"])
    for r in runs:
        v = values[(values["scenario"] == r.scenario) & (values["seed"] == r.seed)].set_index("row")["value"]
        assert v[0] == r.summary["policy"]["china"]["firms_by_tier"]["2020"]["little_giant"]
        ts = r.timeseries
        cap = ts[(ts.bloc == "china") & (ts.stage == "magnet") & (ts.year == 2018) & (ts.quarter == 4)]["capacity_t"].sum()
        assert v[3] == pytest.approx(cap / 1000.0)
        rd = ts[(ts.bloc == "china") & (ts.year == 2017)]["rd_spend_musd"].sum()
        assert v[4] == pytest.approx(rd)
        fo = r.summary["years_to_first_output"]["west"]["separation"]
        assert v[2] == (2015 + 6 if fo is None else 2015 + fo)  # never -> end of the run (censored)
    # without tiers China has no Little Giants: the paired difference is minus the baseline count, seed by seed
    table = ex.difference_table(exp, values)
    lg = table[table["label"] == "China Little Giants 2020"].iloc[0]
    base = values[(values["row"] == 0) & (values["scenario"] == "baseline")]["value"]
    assert lg["mean_difference"] == pytest.approx(-base.mean())
    assert lg["n_pairs"] == 2


def test_restart_keeps_complete_runs_and_reruns_an_interrupted_one(tiny, tmp_path):
    _, path, out = tiny
    victim = next((out / "runs").iterdir())
    (victim / "manifest.json").unlink()  # as if interrupted before the end
    before = {p.name: json.loads((p / "manifest.json").read_text())["finished_at"] for p in (out / "runs").iterdir() if p != victim}
    assert ex.main(["--experiment", str(path), "--out", str(out), "--workers", "1"]) == 0
    after = {p.name: json.loads((p / "manifest.json").read_text())["finished_at"] for p in (out / "runs").iterdir()}
    assert len(after) == 4
    assert all(after[k] == v for k, v in before.items())  # kept, not rerun
    assert victim.name in after


def test_same_seed_same_numbers_in_parallel_workers(tiny, tmp_path):
    """Two worker processes give the runs the serial experiment gave (one seed fixes a run)."""
    _, path, out = tiny
    spec = dict(TINY, scenarios=["baseline"], seeds=2)
    p2 = tmp_path / "par.yaml"
    p2.write_text(yaml.safe_dump(spec))
    out2 = tmp_path / "par"
    assert ex.main(["--experiment", str(p2), "--out", str(out2), "--workers", "2"]) == 0
    for d in (out2 / "runs").iterdir():
        a = pd.read_parquet(d / "timeseries.parquet")
        b = pd.read_parquet(out / "runs" / d.name / "timeseries.parquet")
        pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(
    "change, key, words",
    [
        ({"scenarios": ["baseline", "nope"]}, "scenarios[1]", ["no config file 'nope'", "west_coordinated"]),
        ({"reference": "west_coordinated"}, "reference", ["must be one of"]),
        ({"seeds": 0}, "seeds", [">= 1"]),
        ({"seeds": "ten"}, "seeds", ["whole number"]),
        ({"level": 1.5}, "level", ["[0.5, 1)"]),
        ({"colour": "red"}, "colour", ["unknown key", "scenarios"]),
        ({"differences": [{"label": "x"}]}, "differences[0]", ["exactly one of key, timeline, series"]),
        ({"differences": [{"label": "x", "timeline": "first_output"}]}, "differences[0].timeline", ["first_output_year"]),
        ({"differences": [{"label": "x", "series": "capacity_t", "bloc": "west"}]}, "differences[0]", ["bloc and year"]),
        ({"differences": [{"label": "x", "key": "a.b", "size": 3}]}, "differences[0].size", ["unknown key", "label"]),
    ],
)
def test_bad_experiment_files_name_the_key(change, key, words):
    with pytest.raises(ConfigError) as e:
        ex.parse_experiment({**TINY, **change})
    assert e.value.key == key
    for w in words:
        assert w in str(e.value)


def test_cli_mistakes_are_one_line_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    cases = [
        (["--experiment", "nope", "--out", str(out)], "conf/experiment/"),
        (["--experiment", str(tmp_path / "missing.yaml"), "--out", str(out)], "file not found"),
        (["--seeds", "0", "--out", str(out)], "--seeds"),
        (["--workers", "0", "--out", str(out)], "--workers"),
        (["years=-3", "--out", str(out)], "years"),
        (["--report-only"], "--out"),
        (["--seeds", "two"], "must be a whole number, got 'two'"),
        (["seed=4", "--out", str(out)], "seeds come from --seeds"),
    ]
    for argv, word in cases:
        with pytest.raises(SystemExit) if "two" in argv else _nothing():
            rc = ex.main(argv)
            assert rc == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and word in err[0], (argv, err)
        assert not out.exists()


def test_unknown_summary_key_is_an_error_but_an_unreached_year_is_nan(tiny):
    _, _, out = tiny
    from sim.research.analysis import load_runs

    runs = load_runs(out / "runs")
    bad = ex.parse_experiment({**TINY, "differences": [{"label": "x", "key": "policy.china.no_such_thing"}]})
    with pytest.raises(ConfigError, match="no summary key"):
        ex.difference_values(bad, runs)
    late = ex.parse_experiment({**TINY, "differences": [{"label": "x", "key": "policy.china.firms_by_tier.2040.little_giant"}]})
    assert ex.difference_values(late, runs)["value"].isna().all()


def test_a_misspelt_difference_key_stops_the_experiment_after_its_first_run(tmp_path, capsys):
    """A difference row whose key no summary holds is known once the first run ends: one line naming the row and the
    key it is like, after one run instead of four; a key with a year the runs do not reach is not a mistake."""
    data = {**TINY, "seeds": 2, "differences": [*TINY["differences"][:1], {"label": "x", "key": "policy.china.fiscal_cost_totl_musd"}]}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    err = _refused(["--experiment", str(path), "--out", str(out), "--workers", "1"], capsys)
    assert "'differences[1].key'" in err and "'policy.china.fiscal_cost_totl_musd'" in err
    assert "keys like it: policy.china.fiscal_cost_total_musd" in err and "the runs done so far are kept" in err
    assert len([d for d in (out / "runs").iterdir() if not d.name.startswith(".")]) == 1
    late = ex.parse_experiment({**TINY, "differences": [{"label": "x", "key": "policy.china.firms_by_tier.2040.little_giant"}]})
    ex.check_difference_keys(late, next((out / "runs").iterdir()))  # not reached, not misspelt


def test_format_table_marks_intervals_that_exclude_zero():
    t = pd.DataFrame(
        [
            {
                "label": "a",
                "unit": "year",
                "scenario": "s",
                "reference": "r",
                "reference_mean": 2031.0,
                "scenario_mean": 2029.5,
                "mean_difference": -1.5,
                "ci_low": -2.0,
                "ci_high": -1.0,
                "excludes_zero": True,
                "n_pairs": 10,
                "n_dropped": 0,
                "level": 0.9,
            },
            {
                "label": "b",
                "unit": "M USD",
                "scenario": "s",
                "reference": "r",
                "reference_mean": 1234.0,
                "scenario_mean": math.nan,
                "mean_difference": math.nan,
                "ci_low": math.nan,
                "ci_high": math.nan,
                "excludes_zero": False,
                "n_pairs": 0,
                "n_dropped": 10,
                "level": 0.9,
            },
            {
                "label": "c",
                "unit": "year",
                "scenario": "s",
                "reference": "r",
                "reference_mean": 2045.0,  # censored at the end of the run: every reference seed never reached it
                "scenario_mean": 2040.0,
                "mean_difference": -5.0,
                "ci_low": -6.0,
                "ci_high": -4.0,
                "excludes_zero": True,
                "n_pairs": 10,
                "n_dropped": 0,
                "n_never_reference": 10,
                "n_never_scenario": 3,
                "n_seeds": 10,
                "level": 0.9,
            },
        ]
    )
    text = ex.format_table(t)
    lines = text.splitlines()
    assert "90% interval" in lines[0]
    assert "2031.0" in lines[2] and "-1.50 *" in lines[2]
    assert "1,234" in lines[3] and "n/a" in lines[3] and "0 (10 dropped)" in lines[3]
    # "never within the run" is printed as such and counted, never as the year the run ends
    assert "2045" not in lines[4] and " never " in lines[4] and "2040.0 (bound)" in lines[4]
    assert "never within the run: r 10/10, scenario 3/10" in lines[4]
    assert "r mean" in lines[0] and "mean paired difference" in lines[0]
    md = ex.format_table(t, markdown=True)
    assert md.splitlines()[1].startswith("|---")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_main_experiment_file_is_valid_and_has_the_four_scenarios():
    exp = ex.load_experiment("main")
    assert exp.scenarios == ["baseline", "west_enacted", "west_coordinated", "china_without_tiers"]
    assert exp.seeds == 10 and exp.reference == "baseline"
    jobs = exp.jobs()
    assert len(jobs) == 40
    assert {(s, k) for s, k, _ in jobs} == {(s, k) for s in exp.scenarios for k in range(1, 11)}
