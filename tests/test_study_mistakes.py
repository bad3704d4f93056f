"""A user's mistake in a study file (experiment, calibration, sensitivity, exploration): one line on stderr naming the
key, the file and what is allowed, exit code 2, refused before the first run (sim/research/study.py, the drivers).

Each case runs the command's ``main(argv)`` in this process on a file written into ``tmp_path``; ``--out`` must not
exist afterwards (nothing was run or written)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from sim.research import calibrate, experiment, explore, sensitivity

CONF = Path(__file__).resolve().parents[1] / "conf"
EXPERIMENT = "name: t\nscenarios: [baseline, west_enacted]\nreference: baseline\n"
BLOCS = ("china", "west", "rest_of_world")
STAGES = ("mining", "separation", "metal", "magnet")


def _refused(main, argv: list[str], out: Path, *words: str) -> str:
    """``main(argv)``: exit code 2, exactly one stderr line beginning ``error:`` holding every word, and no ``out``."""
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        rc = main(argv)
    lines = se.getvalue().strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error:"), (rc, lines)
    line = lines[0]
    for w in words:
        assert w in line, (w, line)
    assert "got None" not in line and not re.search(r"at '[^']*\.'", line), line  # a key, never a key with a trailing dot
    assert not out.exists(), f"{out} was written"
    return line


def _experiment(tmp_path: Path, extra: str, *words: str) -> str:
    path = tmp_path / "r.yaml"
    path.write_text(EXPERIMENT + extra + "\n")
    out = tmp_path / "out"
    argv = ["--experiment", str(path), "--out", str(out), "--seeds", "1", "--workers", "1", "years=2", "progress=false"]
    return _refused(experiment.main, argv, out, f"study {path})", *words)  # (study FILE) or (overrides[i] of study FILE)


def _calibration(tmp_path: Path, edit, *words: str) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(edit((CONF / "calibration" / "quick.yaml").read_text()))
    out = tmp_path / "out"
    argv = ["--study", str(path), "--out", str(out), "--trials", "1", "--seeds", "1", "--workers", "1"]
    return _refused(calibrate.main, argv, out, *words)


def _targets(text: str) -> callable:
    return lambda t: t.replace("targets: []", text)


# --------------------------------------------------------------------------
# 1. a value of the wrong shape: the key, its own allowed text and what was given, in every kind of study file
# --------------------------------------------------------------------------
def test_experiment_overrides_as_a_mapping(tmp_path):
    _experiment(tmp_path, "overrides: {years: 2}", "at 'overrides'", "a list of override strings such as 'years=20'", "a mapping {'years': 2}")


def test_calibration_weights_as_a_list(tmp_path):
    path = tmp_path / "c.yaml"
    _calibration(
        tmp_path,
        lambda t: t + "weights: [lg_patents]\n",
        "at 'weights'",
        f"(study {path})",
        "a mapping of target id to a weight >= 0",
        "a list ['lg_patents']",
    )


def test_sensitivity_bounds_as_a_mapping(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text((CONF / "sensitivity" / "quick.yaml").read_text().replace("bounds: [0.0, 5.0]", "bounds: {low: 0.0, high: 5.0}"))
    out = tmp_path / "out"
    argv = ["morris", "--study", str(path), "--out", str(out), "--workers", "1", "--seeds", "1", "years=2"]
    _refused(sensitivity.main, argv, out, "at 'factors.cn_lg_grant.bounds'", f"(study {path})", "[low, high] (two finite numbers)", "a mapping")


def test_exploration_policy_levers_as_a_list(tmp_path):
    path = tmp_path / "x.yaml"
    text = (CONF / "exploration" / "quick.yaml").read_text()
    path.write_text(text.replace("levers: {west_budget: 60.0, west_incubation: 1.0}", "levers: [west_budget, 60.0]"))
    out = tmp_path / "out"
    argv = ["run", "--study", str(path), "--out", str(out), "--workers", "1", "--seeds", "1", "years=2"]
    _refused(explore.main, argv, out, "at 'robustness.policies.small_fund.levers'", f"(study {path})", "a mapping of lever name", "a list")


# --------------------------------------------------------------------------
# 2-6. the rows of the paired-difference table, refused before the first run
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "row, key, words",
    [
        # 2: a bloc or a stage the runs' world lacks (from the scenarios' composed configs)
        ("{label: x, series: self_sufficiency, bloc: wset, stage: magnet, year: 2016}", "differences[0].bloc", ("'wset'", *BLOCS)),
        ("{label: x, series: self_sufficiency, bloc: west, stage: smelting, year: 2016}", "differences[0].stage", ("'smelting'", *STAGES)),
        # 3: a year before the runs start (years=2: 2015-2016); one after they end is a note, below
        ("{label: x, series: self_sufficiency, bloc: west, year: 1800}", "differences[0].year", ("1800", "2015-2016", "a year from 2015")),
        ("{label: x, key: shares.2012.china.magnet.capacity}", "differences[0].key", ("2012", "2015-2016", "a year from 2015")),
        # 4: a misspelt series, with the closest name
        (
            "{label: x, series: self_sufficency, bloc: west, year: 2016}",
            "differences[0].series",
            ("'self_sufficency'", "closest: self_sufficiency", "capacity_t"),
        ),
        # 5: a timeline row's stage
        ("{label: x, timeline: first_output_year, bloc: west, stage: smelting}", "differences[0].stage", ("'smelting'", *STAGES)),
        # 6: fields the row's kind does not take
        (
            "{label: x, key: policy.west.fiscal_cost_total_musd, bloc: china, year: 2016}",
            "differences[0].bloc",
            ("a key row does not take bloc", "a timeline row takes timeline, bloc, stage", "a series row takes series, bloc, stage, year"),
        ),
        (
            "{label: x, timeline: first_output_year, bloc: west, stage: magnet, year: 2016}",
            "differences[0].year",
            ("a timeline row does not take year", "only series rows take year", "a series row takes series, bloc, stage, year"),
        ),
    ],
)
def test_a_bad_difference_row_is_refused_before_any_run(tmp_path, row, key, words):
    _experiment(tmp_path, f"differences: [{row}]", f"at '{key}'", "allowed:", *words)


def test_a_year_after_the_runs_end_reads_n_a_with_a_note():
    """The main experiment's 2035 rows with a short horizon (the README's `make run ARGS="--seeds 3 years=20"`): no
    mistake, the rows read n/a, and a note before the runs says which rows and how many years reach them."""
    from sim.research.sweep import compose_jobs

    exp = experiment.load_experiment("main")
    notes = experiment.check_differences(exp, compose_jobs([["scenario=baseline", "years=20"]]))
    assert len(notes) == 5 and all("2015-2034 (years=20): it reads n/a" in n for n in notes), notes
    assert any(n.startswith("differences[9].key (China magnet capacity share 2035): 'shares.2035") for n in notes)
    assert experiment.check_differences(exp, compose_jobs([["scenario=baseline", "years=21"]])) == []


# --------------------------------------------------------------------------
# 11-12. a calibration's targets and weights
# --------------------------------------------------------------------------
def test_a_target_listed_twice(tmp_path):
    path = tmp_path / "c.yaml"
    _calibration(
        tmp_path, _targets("targets: [lg_patents, lg_patents]"), "at 'targets[1]'", f"(study {path})", "'lg_patents' is listed twice", "allowed:"
    )


def test_a_weight_for_a_target_the_study_does_not_use(tmp_path):
    path = tmp_path / "c.yaml"
    edit = _targets("targets: [lg_patents]\nweights: {soe_group_pyramid_2025: 5.0}")
    _calibration(tmp_path, edit, "at 'weights.soe_group_pyramid_2025'", f"(study {path})", "not one of the study's targets", "allowed:", "lg_patents")


def test_every_weight_zero(tmp_path):
    path = tmp_path / "c.yaml"
    edit = _targets("targets: [lg_patents]\nweights: {lg_patents: 0.0}")
    _calibration(tmp_path, edit, "at 'weights'", f"(study {path})", "every trial's loss would be 0", "allowed: a weight > 0", "lg_patents")


# --------------------------------------------------------------------------
# 20. every study-file mistake names the file; a bad entry of the file's overrides names the entry too
# --------------------------------------------------------------------------
def test_a_mistake_found_reading_the_file_names_it(tmp_path):
    _experiment(tmp_path, "level: 1.5", "at 'level'", "[0.5, 1)", "1.5")


def test_a_bad_override_of_the_experiment_file_names_its_entry(tmp_path):
    path = tmp_path / "r.yaml"
    _experiment(
        tmp_path, 'overrides: ["years=2", "no_such.key=1"]', "at 'no_such'", f"(overrides[1] of study {path})", "unknown key", "allowed here:"
    )


def test_a_bad_override_of_the_calibration_file_names_its_entry(tmp_path):
    path = tmp_path / "c.yaml"
    edit = lambda t: t.replace('["years=11"]', '["years=11", "no_such.key=1"]')  # noqa: E731
    _calibration(tmp_path, edit, "at 'no_such'", f"(overrides[1] of study {path})", "unknown key", "allowed here:")


def test_a_calibration_mistake_found_reading_the_file_names_it(tmp_path):
    path = tmp_path / "c.yaml"
    _calibration(tmp_path, lambda t: t.replace("trials: 3", "trials: 0"), "at 'trials'", f"(study {path})", ">= 1")


def test_a_bad_override_of_a_sensitivity_or_exploration_file_names_its_entry(tmp_path):
    """As in experiment and calibration files: an entry of the file's own overrides that the config refuses is named
    as that entry of that file, before anything is written."""
    path = tmp_path / "s.yaml"
    text = (CONF / "sensitivity" / "quick.yaml").read_text()
    path.write_text(text.replace('overrides: ["years=10"]', 'overrides: ["years=10", "no_such.key=1"]'))
    out = tmp_path / "out"
    argv = ["morris", "--study", str(path), "--out", str(out), "--workers", "1", "--seeds", "1"]
    _refused(sensitivity.main, argv, out, "at 'no_such'", f"(overrides[1] of study {path})", "allowed here:")
    path = tmp_path / "x.yaml"
    text = (CONF / "exploration" / "quick.yaml").read_text()
    path.write_text(text.replace('overrides: ["years=15",', 'overrides: ["years=15", "no_such.key=1",'))
    argv = ["run", "--study", str(path), "--out", str(out), "--workers", "1", "--seeds", "1", "--experiments", "4"]
    _refused(explore.main, argv, out, "at 'no_such'", f"(overrides[1] of study {path})", "allowed here:")


def test_a_robustness_policy_cannot_give_a_number_for_a_true_or_false_lever():
    """0 == False in Python: the study's own check compares kinds, so a policy setting a true/false lever to 0 is refused
    when the file is read, not when its runs fail."""
    import yaml

    from sim.config import ConfigError

    data = yaml.safe_load((CONF / "exploration" / "quick.yaml").read_text())
    data["robustness"]["policies"][0]["levers"]["west_floor_per_plant"] = 0
    with pytest.raises(ConfigError, match="must be one of the lever's values") as ei:
        explore.parse_study(data)
    assert ei.value.key == "robustness.policies.small_fund.levers.west_floor_per_plant"
    data["robustness"]["policies"][0]["levers"]["west_floor_per_plant"] = False
    explore.parse_study(data)
