"""The validation command (sim/research/validate.py): one line per target, JSON out, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import sim.research.sweep
from sim.research import history, validate
from sim.research.driver import median_support

TARGETS = {
    "targets": [
        {"id": "rare_earth_little_giants_2025", "scenario": "baseline", "accept": [0, 100000]},
        {"id": "lg_patents", "scenario": "baseline", "accept": [-1, -0.5]},  # impossible: must be reported as missed
        {"id": "designation_criteria_hold", "scenario": "all", "accept": "100%"},
        {"id": "west_timeline_fragmented_is_slower", "scenario": "baseline", "accept": "later"},
    ]
}


@pytest.fixture(scope="module")
def targets_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("targets") / "targets.yaml"
    p.write_text(yaml.safe_dump(TARGETS))
    return p


def blocks(out: str) -> tuple[list[str], list[str]]:
    """The report's target lines, and the lines of the public history block after them (its header first)."""
    text = out.strip()
    targets, _, past = text.partition("\n\n")
    return targets.splitlines(), past.splitlines()


def test_reports_each_target_once_and_writes_json(targets_file, tmp_path, capsys):
    out = tmp_path / "val.json"
    rc = validate.main(["--seeds", "1", "--workers", "1", "--targets", str(targets_file), "--out", str(out), "years=12"])
    assert rc == 0
    lines, past = blocks(capsys.readouterr().out)
    assert len(lines) == len(TARGETS["targets"])
    status = {ln.split()[1]: ln.split()[0] for ln in lines}
    assert status["rare_earth_little_giants_2025"] == "MET"
    assert status["lg_patents"] == "MISSED"
    assert status["designation_criteria_hold"] == "-"
    rows = json.loads(out.read_text())
    assert [r["id"] for r in rows if not r.get("history")] == [t["id"] for t in TARGETS["targets"]]
    # the public history checks follow, in the report and in the JSON, read from the same baseline run
    checks = [c["id"] for c in yaml.safe_load(history.HISTORY_FILE.read_text())["checks"]]
    assert [ln.split()[1] for ln in past[1:]] == checks
    assert [r["id"] for r in rows if r.get("history")] == checks


@pytest.mark.parametrize("args", [["--seeds", "0"], ["--targets", "/no/such/targets.yaml"], ["world.markets.foo=1"]])
def test_user_mistakes_end_with_one_line(args, capsys):
    assert validate.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


@pytest.mark.parametrize("override", ["seed=3", "+seed=3", "++seed=3"])
def test_a_seed_override_is_refused_seeds_come_from_the_option(override, capsys):
    """seed=K would be silently ignored (the runs take seeds 1..N): refused before any run, one line."""
    assert validate.main(["--seeds", "1", "years=3", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--seeds" in err[0] and override in err[0], err


def test_the_default_targets_are_in_the_project_with_their_sources():
    """A clone validates on its own: the default targets file is conf/validation/targets.yaml, not ../shared."""
    project = Path(validate.__file__).resolve().parents[2]
    assert validate.TARGETS_FILE == project / "conf" / "validation" / "targets.yaml"
    targets = validate.read_targets(validate.TARGETS_FILE)
    assert len(targets) >= 10 and all(t.get("source") and t.get("accept") is not None for t in targets)


def test_one_seed_with_the_default_targets(capsys):
    """``--seeds 1`` and no --targets, at each scenario's own horizon (the targets read up to 2040: shorter runs are
    refused, test_runs_that_end_before_a_target_are_refused_before_any_run): every default target is reported once."""
    rc = validate.main(["--seeds", "1", "--workers", "1", "--national-scale", "0.002"])
    assert rc == 0
    lines, past = blocks(capsys.readouterr().out)
    ids = [t["id"] for t in validate.read_targets(validate.TARGETS_FILE)]
    assert [ln.split()[1] for ln in lines] == ids
    assert all(ln.split()[0] in ("MET", "MISSED", "-") for ln in lines)


def test_capital_constraint_is_reported_as_written_and_as_reported_difficulty():
    """lg_capital_constraint is met or missed on its measure as written, a share of Little Giants (firms); the reported
    difficulty (docs/ODD.md 7.12) is reported beside it on the same line, against the same range, with its own verdict;
    each with its rate per Little Giant-year, which decides nothing."""
    target = {"id": "lg_capital_constraint", "scenario": "baseline", "accept": [0.45, 0.75]}

    def china(c, d):
        return {
            "capital_constraint_lg_firms_2020_2025": c,
            "scaling_finance_difficulty_lg_firms_2020_2025": d,
            "capital_constraint_lg_2020_2025": c / 4,  # a yearly rate: a fraction of the firms' share over six years
            "scaling_finance_difficulty_lg_2020_2025": d / 4,
        }

    results = [
        {"scenario": "baseline", "seed": s, "summary": {"policy": {"china": china(c, d)}}}
        for s, c, d in ((1, 0.0, 0.5), (2, 0.2, 0.6), (3, 0.4, 0.7))
    ]
    (row,) = validate.evaluate(results, [target])
    assert row["met"] is False and row["median"] == 0.2 and row["per_year"]["median"] == 0.05
    assert row["reported_difficulty"]["median"] == 0.6 and row["reported_difficulty"]["met"] is True
    assert row["reported_difficulty"]["per_year"]["median"] == 0.15
    (line,) = validate.report([row]).splitlines()
    assert line.startswith("MISSED") and "reported difficulty" in line and line.count("MET") == 1
    assert "per Little Giant-year 0.05" in line and "per Little Giant-year 0.15" in line


def test_patents_are_reported_as_written_and_as_invention_patents():
    """lg_patents and national_lg_patents are met or missed on patents of both classes as written; invention patents
    alone (the programme's statistics' count, docs/ODD.md 7.12) are reported beside them against the same range."""
    target = {"id": "lg_patents", "scenario": "baseline", "accept": [15, 40]}
    china = lambda both, inv: {"patents_per_little_giant": {"2025": both}, "invention_patents_per_little_giant": {"2025": inv}}  # noqa: E731
    results = [{"scenario": "baseline", "seed": s, "summary": {"policy": {"china": china(b, i)}}} for s, b, i in ((1, 45.0, 12.0), (2, 41.0, 16.0))]
    (row,) = validate.evaluate(results, [target])
    assert row["met"] is False and row["median"] == 43.0
    assert row["invention"]["median"] == 14.0 and row["invention"]["met"] is False
    (line,) = validate.report([row]).splitlines()
    assert line.startswith("MISSED") and "invention patents alone" in line and "MET" not in line.replace("MISSED", "")
    national = {"id": "national_lg_patents", "scenario": "national_programme", "accept": [15, 100]}
    summary = {"scale": 0.01, "patents_per_little_giant_2025": 57.0, "invention_patents_per_little_giant_2025": 15.5}
    (row,) = validate.evaluate([{"scenario": validate.NATIONAL, "seed": 1, "summary": summary}], [national])
    assert row["met"] and row["invention"]["median"] == 15.5 and row["invention"]["met"]


def test_each_seed_and_the_seeds_in_range_are_reported():
    """A target is met on the median; the row keeps every seed's value (None where there is none) and counts the seeds
    whose value lies in the range, and the line says so: a median on the edge of its range shows."""
    target = {"id": "rare_earth_little_giants_2025", "scenario": "baseline", "accept": [30, 120]}
    tiers = lambda n: {"china": {"firms_by_tier": {"2025": {"little_giant": n}}}}  # noqa: E731
    results = [{"scenario": "baseline", "seed": s, "summary": {"policy": tiers(n)}} for s, n in ((1, 29), (2, 30), (3, 31), (4, None), (5, 200))]
    (row,) = validate.evaluate(results, [target])
    assert row["met"] and row["median"] == 30.5 and row["values"] == [29.0, 30.0, 31.0, None, 200.0]
    assert row["in_range"] == 2 and row["n"] == 4 and row["n_none"] == 1
    (line,) = validate.report([row]).splitlines()
    assert "median 30.5 [29, 200], 2 of 5 seeds in range (median in range in 80% of resamples), 1 none" in line
    pyr = {"id": "soe_group_pyramid_2025", "scenario": "baseline", "accept": {"little_giant": [1, 3]}}
    group = lambda n: {"china": {}, "pyramids": {"g": {"2025": {"all": 10, "little_giant": n}}}}  # noqa: E731
    results = [{"scenario": "baseline", "seed": s, "summary": {"policy": group(n)}} for s, n in ((1, 3), (2, 4), (3, 3))]
    (row,) = validate.evaluate(results, [pyr])
    assert row["met"] and row["tiers"]["little_giant"]["in_range"] == 2
    assert "little_giant: median 3 [3, 4], 2 of 3 seeds in range" in validate.report([row])


def test_the_support_of_a_verdict_is_the_share_of_seed_resamples_whose_median_lies_in_the_range():
    """How firmly the seeds decide a verdict: every seed inside gives 1, every seed outside 0, seeds on both sides of an
    edge about a half (a coin flip); None values are left out, or count as later than any with never_later; the
    generator is fixed, so the same values give the same share."""
    assert median_support([31.0, 40.0, 50.0], [30, 120]) == 1.0
    assert median_support([10.0, 20.0, None], [30, 120]) == 0.0
    flip = median_support([2.0, 3.0, 4.0, 4.0, 3.0, 4.0, 3.0, 4.0, 2.0, 4.0], [1, 3])
    assert 0.2 < flip < 0.8 and flip == median_support([2.0, 3.0, 4.0, 4.0, 3.0, 4.0, 3.0, 4.0, 2.0, 4.0], [1, 3])
    assert median_support([None, None], [1, 3]) is None
    # a timeline never reached is later than any: two seeds of three never, the median is never in any resample that
    # draws two of them
    later = median_support([9.0, None, None], [7, 15], never_later=True)
    assert later == pytest.approx(7 / 27, abs=0.05)
    assert median_support([9.0, None, None], [7, 15]) == 1.0  # left out, only 9 is left
    row = validate._stats([2, 3, 4, 4, 3, 4, 3, 4, 2, 4], [1, 3])
    assert row["support"] == flip and "(median in range in" in validate._span(row)


def test_west_timeline_is_reported_as_written_and_as_development_times():
    """west_timeline_coordinated is met or missed on years to independence; the first output of a new plant per stage
    (the source's timelines read as development times, docs/ODD.md 7.12) is reported beside it with its own verdicts."""
    target = {"id": "west_timeline_coordinated", "scenario": "west_coordinated", "accept": {"mining": [3, 7], "magnet": [7, 15]}}
    west = lambda ind, first: {"years_to_independence": {"west": ind}, "years_to_first_output": {"west": first}}  # noqa: E731
    results = [
        {"scenario": "west_coordinated", "seed": s, "summary": west({"mining": None, "magnet": m}, {"mining": f, "magnet": 8.0})}
        for s, m, f in ((1, 9.0, 5.0), (2, None, 6.0), (3, 10.0, 7.5))
    ]
    (row,) = validate.evaluate(results, [target])
    assert row["met"] is False  # mining never reached in any seed
    # a seed that never gets there is later than any that does: the median of 9, never and 10 is 10 (9.5 before
    # December 2026, when the median left such seeds out)
    assert row["stages"]["magnet"]["median"] == 10.0 and row["stages"]["magnet"]["met"] is True
    assert row["first_output"]["mining"]["median"] == 6.0 and row["first_output"]["mining"]["met"] is True
    (line,) = validate.report([row]).splitlines()
    assert line.startswith("MISSED") and "first output of a new plant" in line and line.count(" MET") == 2
    # two seeds of three never: the median is never, and the stage is missed
    results[0]["summary"]["years_to_independence"]["west"]["magnet"] = None
    (row,) = validate.evaluate(results, [target])
    assert row["stages"]["magnet"]["median"] is None and row["stages"]["magnet"]["met"] is False


def test_national_counts_are_compared_at_one_to_one_scale():
    """A national run at national.scale x reports x times the programme's counts: the measure divides by x; shares and
    per-firm figures are read as they are."""
    summary = {
        "scale": 0.01,
        "little_giants_2024": 140,
        "little_giants_2025": 160,
        "srdi_2024": 1500,
        "patents_per_little_giant_2025": 30.0,
        "capital_constraint_lg_firms_2020_2025": 0.5,
        "rd_intensity_2020_2030": {"little_giant": 0.06, "none": 0.01},
    }
    results = [{"scenario": validate.NATIONAL, "seed": 1, "summary": summary}]
    targets = [t for t in validate.read_targets(validate.TARGETS_FILE) if t["id"].startswith("national_")]
    rows = {r["id"]: r for r in validate.evaluate(results, targets)}
    assert rows["national_little_giants_2024"]["median"] == 14000 and rows["national_little_giants_2024"]["met"]
    srdi = rows["national_srdi_2024"]  # the SRDI tier and the Little Giants, as the published count: 150,000 + 14,000
    assert srdi["median"] == 164000 and srdi["met"] and srdi["tier_alone"]["median"] == 150000
    man = srdi["manufacturers"]  # the same count against the range x manufacturing share
    assert man["median"] == 164000 and man["accept"] == [88000.0, 158400.0] and not man["met"]
    assert rows["national_lg_patents"]["median"] == 30.0 and rows["national_lg_patents"]["met"]
    assert rows["national_lg_capital_constraint"]["met"] and rows["national_lg_rd_intensity"]["met"]
    assert rows["national_lg_capital_constraint"]["reported_difficulty"]["median"] is None  # not in this summary
    summary["little_giants_2024"] = 50  # 5,000 at 1:1 scale: too few
    rows = {r["id"]: r for r in validate.evaluate(results, targets)}
    assert not rows["national_little_giants_2024"]["met"]
    text = validate.report(list(rows.values()))
    assert "median 5,000 [5,000, 5,000]" in text and "e+0" not in text  # counts in full, not 5e+03


def test_national_readings_beside_the_measures_as_written():
    """national_srdi_2024 is met or missed on the SRDI tier and the Little Giants together (the published count includes
    them); beside it the SRDI tier alone (the measure until December 2026) and the manufacturers' reading (the same count
    against the range x manufacturing_share). national_lg_capital_constraint is met or missed as written; beside it the
    reported difficulty against the same range (docs/ODD.md 7.15)."""
    summary = {
        "scale": 0.1,
        "srdi_2024": 6000,  # 60,000 at 1:1 scale: the tier alone is below the range
        "little_giants_2024": 3000,  # with 30,000 Little Giants, 90,000: below [100,000, 180,000], inside 0.88 x it
        "capital_constraint_lg_firms_2020_2025": 0.06,
        "scaling_finance_difficulty_lg_firms_2020_2025": 0.5,
    }
    results = [{"scenario": validate.NATIONAL, "seed": 1, "summary": summary}]
    targets = {t["id"]: t for t in validate.read_targets(validate.TARGETS_FILE)}
    srdi, cap = validate.evaluate(results, [targets["national_srdi_2024"], targets["national_lg_capital_constraint"]])
    assert srdi["met"] is False and srdi["median"] == 90000
    assert srdi["tier_alone"]["median"] == 60000 and srdi["tier_alone"]["met"] is False
    assert srdi["manufacturers"]["median"] == 90000 and srdi["manufacturers"]["met"] is True
    assert cap["met"] is False and cap["reported_difficulty"]["median"] == 0.5 and cap["reported_difficulty"]["met"] is True
    lines = validate.report([srdi, cap]).splitlines()
    assert lines[0].startswith("MISSED") and "the SRDI tier alone" in lines[0] and lines[0].count("MET") == 1
    assert lines[1].startswith("MISSED") and "reported difficulty" in lines[1] and lines[1].count("MET") == 1
    summary["little_giants_2024"] = 5000  # 110,000 together: met, while the tier alone is still below the range
    (srdi,) = validate.evaluate(results, [targets["national_srdi_2024"]])
    assert srdi["met"] is True and srdi["tier_alone"]["met"] is False
    line = validate.report([srdi])
    assert line.startswith("MET") and "median 110,000" in line


NATIONAL_TARGET = {"id": "national_lg_patents", "scenario": "national_programme", "accept": [15, 100]}
CHAIN_TARGET = {"id": "lg_patents", "scenario": "baseline", "accept": [15, 40]}


def _jobs(tmp_path, monkeypatch, targets: list[dict], *args: str) -> list[tuple]:
    """The (scenario, seed, config) jobs ``python -m sim.validate --targets <targets> *args`` would run (the worker
    pool replaced by one that records them and stops)."""
    import sim.research.sweep

    seen = []

    def capture(fn, jobs, workers, on_done=None):
        seen.extend(jobs)
        raise SystemExit(0)

    monkeypatch.setattr(sim.research.sweep, "map_jobs", capture)
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"targets": targets}))
    with pytest.raises(SystemExit):
        validate.main(["--targets", str(path), *args])
    return seen


def test_national_settings_reach_only_the_national_runs(tmp_path, monkeypatch):
    """An override of the national world's own settings (national.*) is applied to the national runs; the rare-earth
    scenarios, which have no national world, run without it (composing them with it failed), and every other override
    reaches both."""
    overrides = ("national.firms.rd_intensity.median=0.02", "world.innovation.zeta=0.25")
    seen = _jobs(tmp_path, monkeypatch, [NATIONAL_TARGET, CHAIN_TARGET], "--seeds", "1", *overrides)
    by_scenario = {sc: cfg for sc, _seed, cfg in seen}
    national = by_scenario.pop(validate.NATIONAL)
    assert national.national.firms.rd_intensity.median == 0.02 and national.world.innovation.zeta == 0.25
    assert by_scenario and all(cfg.national is None and cfg.world.innovation.zeta == 0.25 for cfg in by_scenario.values())


@pytest.mark.parametrize("national_only", [True, False])
def test_only_the_worlds_the_targets_need_are_run(tmp_path, monkeypatch, national_only):
    """National targets alone run the national world alone; rare-earth targets alone run the three rare-earth
    scenarios alone (each seed once)."""
    seen = _jobs(tmp_path, monkeypatch, [NATIONAL_TARGET if national_only else CHAIN_TARGET], "--seeds", "2")
    scenarios = sorted({sc for sc, _seed, _cfg in seen})
    assert scenarios == ([validate.NATIONAL] if national_only else sorted(validate.SCENARIOS))
    assert len(seen) == 2 * len(scenarios)


def _target(target_id: str) -> dict:
    return next(t for t in validate.read_targets(validate.TARGETS_FILE) if t["id"] == target_id)


@pytest.mark.parametrize(
    "target_id, years, message",
    [
        ("rare_earth_little_giants_2025", 8, "the runs end in 2022; the targets read up to 2025 (rare_earth_little_giants_2025): set years >= 11"),
        ("national_little_giants_2025", 8, "the runs end in 2022; the targets read up to 2025 (national_little_giants_2025): set years >= 11"),
        ("national_srdi_2024", 9, "the runs end in 2023; the targets read up to 2024 (national_srdi_2024): set years >= 10"),
        ("designation_raises_rd", 15, "the runs end in 2029; the targets read up to 2030 (designation_raises_rd): set years >= 16"),
        ("west_timeline_coordinated", 20, "the runs end in 2034; the targets read up to 2040 (west_timeline_coordinated): set years >= 26"),
        (
            "west_timeline_fragmented_is_slower",
            11,
            "the runs end in 2025; the targets read up to 2026 (west_timeline_fragmented_is_slower): set years >= 12",
        ),
    ],
)
def test_runs_that_end_before_a_target_are_refused_before_any_run(tmp_path, monkeypatch, capsys, target_id, years, message):
    """A target the runs end before cannot be measured (it was reported "never/none" and MISSED, exit 0): refused in
    one line naming years, before any run, as sim.calibrate refuses it; the national targets against the national runs."""
    import sim.research.sweep

    def no_runs(*args, **kwargs):
        raise AssertionError("a run started")

    monkeypatch.setattr(sim.research.sweep, "map_jobs", no_runs)
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"targets": [_target(target_id)]}))
    assert validate.main(["--seeds", "1", "--workers", "1", "--history", "none", "--targets", str(path), f"years={years}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: config error at 'years': {message}"]


def test_every_target_says_what_it_reads_and_the_defaults_reach_it(tmp_path, monkeypatch):
    """Every measured target has its years in READS; the default horizons (rare-earth 2015-2044, national 2015-2025)
    reach every default target's, and runs that end in the year a target reads pass (the check is on the last year)."""
    from types import SimpleNamespace

    from sim.config import ConfigError

    assert set(validate.READS) == set(validate.MEASURES)
    seen = _jobs(tmp_path, monkeypatch, validate.read_targets(validate.TARGETS_FILE), "--seeds", "1", "--national-scale", "0.002")
    assert {sc for sc, _seed, _cfg in seen} == {*validate.SCENARIOS, validate.NATIONAL}
    assert _jobs(tmp_path, monkeypatch, [_target("rare_earth_little_giants_2025")], "--seeds", "1", "years=11")  # ends in 2025
    # the shared check in sim.calibrate's words (its runs of years=5 end in 2019)
    with pytest.raises(ConfigError) as ex:
        validate.check_horizon(SimpleNamespace(world=SimpleNamespace(start_year=2015), years=5), 2025)
    assert str(ex.value) == "config error at 'years': the runs end in 2019; the targets read up to 2025: set years >= 11"


class _Jobs(Exception):
    """Raised by a stand-in for the runs: carries the jobs the command would have run."""


@pytest.mark.parametrize(
    "world, scenarios, first",
    [
        ("rare_earth", {"baseline", "west_coordinated", "china_without_tiers"}, "west_timeline_coordinated"),
        ("national", {"national_programme"}, "national_little_giants_2024"),
        ("both", {"baseline", "west_coordinated", "china_without_tiers", "national_programme"}, "west_timeline_coordinated"),
    ],
)
def test_world_runs_only_that_worlds_scenarios(world, scenarios, first, monkeypatch):
    """``--world`` keeps the targets of one world (ids national_* or the others) and runs only their scenarios."""
    seen = {}

    def stand_in(fn, jobs, *args, **kwargs):
        seen["scenarios"] = {job[0] for job in jobs}
        raise _Jobs

    monkeypatch.setattr(sim.research.sweep, "map_jobs", stand_in)
    kept = validate.of_world(validate.read_targets(validate.TARGETS_FILE), world, validate.TARGETS_FILE)
    assert kept[0]["id"] == first and all(t["id"].startswith("national_") == (world == "national") for t in kept if world != "both")
    with pytest.raises(_Jobs):
        validate.main(["--seeds", "1", "--workers", "1", "--world", world, "--history", "none", "--national-scale", "0.002"])
    assert seen["scenarios"] == scenarios


def test_world_without_its_targets_in_the_file_is_refused(tmp_path, capsys, monkeypatch):
    """A --world whose targets the file does not hold would run nothing: one line naming --world, no run."""
    monkeypatch.setattr(sim.research.sweep, "map_jobs", lambda *a, **k: pytest.fail("a run started"))
    path = tmp_path / "t.yaml"
    national = [t for t in validate.read_targets(validate.TARGETS_FILE) if t["id"].startswith("national_")]
    path.write_text(yaml.safe_dump({"targets": national}))
    assert validate.main(["--seeds", "1", "--targets", str(path), "--world", "rare_earth"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "'--world'" in err[0] and str(path) in err[0], err
    assert "allowed for this file: national or both" in err[0], err
