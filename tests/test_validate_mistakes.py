"""A user's mistake in a targets, history, exploration or sensitivity study file, refused before the first run: one
line on stderr naming the key (or entry), the file and what is allowed, exit code 2, nothing written (the research
drivers sim.validate, sim.explore and sim.sensitivity, each through its ``main(argv)`` in this process)."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim.research.sweep
from sim.config import CONF_DIR
from sim.research import explore, history, sensitivity, validate

QUICK_EXPLORATION = CONF_DIR / "exploration" / "quick.yaml"
QUICK_SENSITIVITY = CONF_DIR / "sensitivity" / "quick.yaml"
BY_2016 = ("by_year: 2029", "by_year: 2016")  # outcomes the two-year runs (2015-2016) reach
FLOOR = "policy_change.west.policy.instruments.floor_per_plant"


@pytest.fixture
def no_runs(monkeypatch):
    """Any run started fails the test: the mistakes are refused before the first one."""

    def refuse(*args, **kwargs):
        raise AssertionError("a run started")

    monkeypatch.setattr(sim.research.sweep, "map_jobs", refuse)  # sim.validate
    monkeypatch.setattr(sensitivity, "run_jobs", refuse)  # sim.sensitivity and sim.explore


def edited(src: Path, dst: Path, *changes: tuple[str, str]) -> Path:
    text = src.read_text()
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    dst.write_text(text)
    return dst


def one_line(capsys, rc: int, *says: str) -> str:
    """Exit code 2 and exactly one line, on stderr, starting with ``error:`` and holding every one of ``says``."""
    cap = capsys.readouterr()
    err = cap.err.strip().splitlines()
    assert rc == 2, cap
    assert len(err) == 1 and err[0].startswith("error:") and not cap.out.strip(), cap
    assert "Traceback" not in cap.err
    for s in says:
        assert s in err[0], (s, err[0])
    return err[0]


# --------------------------------------------------------------------------
# python -m sim.explore run
# --------------------------------------------------------------------------
def explore_refuses(tmp_path, capsys, changes, *says) -> str:
    study = edited(QUICK_EXPLORATION, tmp_path / "r.yaml", *changes)
    out = tmp_path / "r"
    argv = ["run", "--study", str(study), "--out", str(out), "--experiments", "4", "--seeds", "1", "--workers", "1", "years=2"]
    line = one_line(capsys, explore.main(argv), str(study), *says)
    assert not out.exists()
    return line


@pytest.mark.parametrize(
    "values, shown",
    [
        ("[true, 0]", "0"),  # 0 == False in Python: was accepted, and two runs failed at run time (exit 1)
        ('[true, "no"]', "'no'"),  # was refused as "composes to another config than the value set directly"
    ],
)
def test_a_category_of_another_kind_than_its_true_false_setting(tmp_path, capsys, no_runs, values, shown):
    explore_refuses(
        tmp_path,
        capsys,
        [("values: [true, false]", f"values: {values}"), BY_2016],
        "'factors.west_floor_per_plant.values'",
        f"{shown} is not allowed for '{FLOOR}': must be true or false",
    )


def test_a_policy_sets_a_true_false_lever_to_zero(tmp_path, capsys, no_runs):
    """0 in [True, False] holds in Python; the runs refuse 0 for a true/false setting."""
    explore_refuses(
        tmp_path,
        capsys,
        [("west_budget: 60.0, west_incubation: 1.0", "west_budget: 60.0, west_floor_per_plant: 0"), BY_2016],
        "'robustness.policies.small_fund.levers.west_floor_per_plant'",
        "must be one of the lever's values [true, false], got 0",
    )


@pytest.mark.parametrize("year", [1990, 2015])
def test_an_outcome_year_before_the_timeline_reference_year(tmp_path, capsys, no_runs, year):
    """quick.yaml's timelines count from 2016: a by_year before it is never met (it ran and reported 0%, exit 0)."""
    explore_refuses(
        tmp_path,
        capsys,
        [("by_year: 2029", f"by_year: {year}")],
        "'outcomes.west_magnet_2029.when[0].by_year'",
        f"{year} is before the timeline reference year 2016",
        "allowed: years from 2016 to 2017",
    )


# --------------------------------------------------------------------------
# python -m sim.sensitivity morris
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key, bounds, says",
    [
        ("world.blocs.china.stages.mining.plant_size_t", "[1.0, 2.0]", "is a list setting"),  # null in the config: was blamed on bounds
        ("world.blocs.west", "[2.0, 8.0]", "is a mapping"),  # printed the whole mapping, 2.2 kB
    ],
)
def test_a_factor_key_that_is_not_a_real_valued_setting(tmp_path, capsys, no_runs, key, bounds, says):
    study = edited(QUICK_SENSITIVITY, tmp_path / "s.yaml", ("key: world.markets.logit_beta, bounds: [2.0, 8.0]", f"key: {key}, bounds: {bounds}"))
    out = tmp_path / "s"
    argv = ["morris", "--study", str(study), "--out", str(out), "--seeds", "1", "--workers", "1", "years=2"]
    line = one_line(
        capsys, sensitivity.main(argv), "'factors.logit_beta.key'", str(study), f"'{key}' {says}", "allowed: a real-valued (float) setting"
    )
    assert len(line) < 300 and not out.exists()


# --------------------------------------------------------------------------
# python -m sim.validate: the targets file and the history file
# --------------------------------------------------------------------------
def validate_refuses(tmp_path, capsys, targets: str, *says: str, history_file: str = "none") -> str:
    path = tmp_path / "t.yaml"
    path.write_text(targets)
    out = tmp_path / "v.json"
    argv = ["--targets", str(path), "--history", history_file, "--seeds", "1", "--workers", "1", "--out", str(out), "years=11"]
    line = one_line(capsys, validate.main(argv), *says)
    assert not out.exists()
    return line


LG = "  - {id: lg_patents, accept: [15, 40]}\n"


@pytest.mark.parametrize(
    "targets, says",
    [
        (
            "targets:\n" + LG + "  - {accept: [1, 2]}\n",
            ("'targets[1].id'", "missing in", "each target has 'id', scenario, measure, accept and source"),
        ),
        ("targets: []\n", ("'targets'", "holds no targets", "allowed: a non-empty list")),
        (
            "targets:\n  - {id: soe_group_pyramid_2025, accept: {giant: [1, 3]}}\n",
            ("'targets[0].accept.giant'", "unknown tier 'giant'", "allowed: innovation_type, srdi, little_giant"),
        ),
        ("targets:\n" + LG + LG, ("'targets[1].id'", "'lg_patents' is listed twice", "allowed: each target once")),
        (
            "targets:\n  - {id: lg_patents, accept: [15, 40], acceptance: [1, 2]}\n",
            ("'targets[0].acceptance'", "unknown key 'acceptance'", "allowed: id, scenario, measure, accept, source"),
        ),
    ],
    ids=["no-id", "empty", "unknown-tier", "twice", "unknown-key"],
)
def test_a_mistake_in_the_targets_file(tmp_path, capsys, no_runs, targets, says):
    validate_refuses(tmp_path, capsys, targets, str(tmp_path / "t.yaml"), *says)


@pytest.mark.parametrize("scenario", ["nope", "west_coordinated"])
def test_a_target_scenario_it_is_not_measured_in(tmp_path, capsys, no_runs, scenario):
    """lg_patents is measured in baseline whatever its scenario says: another one was silently ignored."""
    validate_refuses(
        tmp_path,
        capsys,
        f"targets:\n  - {{id: lg_patents, scenario: {scenario}, accept: [15, 40]}}\n",
        "'targets[0].scenario'",
        f"'{scenario}' in {tmp_path / 't.yaml'}",
        "lg_patents is measured in baseline; allowed: baseline",
    )


HISTORY = history.HISTORY_FILE.read_text()


@pytest.mark.parametrize(
    "change, says",
    [
        (
            ("years: [2024, 2024]", "years: [2030, 2030]"),
            ("'checks[0].years'", "[2030, 2030]", "outside the runs (2015-2025, years=11)", "allowed: years in 2015-2025"),
        ),
        (
            ("years: [2024, 2024]", "years: [2000, 2001]"),
            ("'checks[0].years'", "[2000, 2001]", "outside the runs (2015-2025, years=11)", "allowed: years in 2015-2025"),
        ),
        (
            ("  - id: china_separation_share_2023", "  - id: world_mine_output_2024"),
            ("'checks[2].id'", "'world_mine_output_2024' is listed twice", "allowed: each check once"),
        ),
        (
            ("    band: [330000, 450000]", "    bands: [330000, 450000]\n    band: [330000, 450000]"),
            ("'checks[0].bands'", "unknown key 'bands'", "allowed: id, kind, bloc, stage, years, published, band, source"),
        ),
    ],
    ids=["after-the-runs", "before-the-runs", "twice", "unknown-key"],
)
def test_a_mistake_in_the_history_file(tmp_path, capsys, no_runs, change, says):
    h = edited(history.HISTORY_FILE, tmp_path / "h.yaml", change)
    validate_refuses(tmp_path, capsys, "targets:\n" + LG, str(h), *says, history_file=str(h))


def test_the_shipped_files_pass_the_checks():
    """The project's own targets and history files hold none of these mistakes."""
    targets = validate.read_targets(validate.TARGETS_FILE)
    assert len({t["id"] for t in targets}) == len(targets)
    checks = history.read_checks(history.HISTORY_FILE, ["china", "west", "rest_of_world"], ["mining", "separation", "metal", "magnet"])
    history.check_years(checks, history.HISTORY_FILE, 2015, 11)
