"""Calibration (sim/research/calibrate.py): the loss, a tiny study end to end through Optuna (files, resume,
best.yaml composing and running), and one-line errors for bad study files. No model numbers are pinned."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml
from _sim_helpers import PROJECT_ROOT, sim_env

from sim.config import ConfigError, compose
from sim.research import calibrate as cal
from sim.research.sensitivity import get_value


# --------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------
def test_range_distance_is_zero_inside_and_grows_outside():
    assert cal.range_distance(30, [30, 120]) == cal.range_distance(75, [30, 120]) == cal.range_distance(120, [30, 120]) == 0
    below = [cal.range_distance(x, [30, 120]) for x in (20, 10, 0)]
    above = [cal.range_distance(x, [30, 120]) for x in (130, 150, 300)]
    assert below == sorted(below) and below[0] > 0 and above == sorted(above) and above[0] > 0
    assert cal.range_distance(21, [30, 120]) == pytest.approx(0.1)  # in units of the range's width
    assert cal.range_distance(None, [30, 120], missing=2.0) == 2.0


def test_loss_over_rows_of_every_kind():
    rows = [
        {"id": "a", "accept": [0.5, 0.9], "median": 0.7},
        {"id": "b", "accept": {"x": [1, 3], "y": [5, 15]}, "tiers": {"x": {"median": 2}, "y": {"median": 10}}},
        {"id": "c", "accept": "a rule", "met": True},
    ]
    total, d = cal.loss(rows)
    assert total == 0 and d == {"a": 0, "b": 0, "c": 0}
    rows[0]["median"], rows[1]["tiers"]["y"]["median"], rows[2]["met"] = 1.3, 25, False
    total, d = cal.loss(rows, weights={"c": 0.5})
    assert d == {"a": pytest.approx(1.0), "b": pytest.approx(0.5), "c": 1.0}  # parts averaged, rules 0/1
    assert total == pytest.approx(1.0 + 0.5 + 0.5)


def test_targets_up_to_2025_only():
    assert set(cal.USABLE) | set(cal.EXCLUDED) >= {t["id"] for t in cal.validate.read_targets(cal.validate.TARGETS_FILE)}
    assert all(year <= cal.LAST_YEAR for year, _ in cal.USABLE.values())
    assert all(t in cal.validate.MEASURES for t in cal.USABLE)


# --------------------------------------------------------------------------
# A tiny study end to end
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("cal")
    study = cal.load_study("quick")
    study.trials = 2
    res = cal.calibrate(study, out, workers=1, say=lambda s: None)
    return out, res


def test_tiny_study_writes_every_file(tiny):
    out, res = tiny
    for f in cal.FILES:
        assert (out / f).is_file(), f
    df = pd.read_parquet(out / "trials.parquet")
    assert len(df) == 2 and {"magnet_niches", "group_rd_fund", "loss", "best_so_far"} <= set(df.columns)
    assert {f"d_{t}" for t in cal.USABLE} <= set(df.columns)
    assert "seeds 2-2" in (out / "report.md").read_text()
    assert res["best_loss"] == df["loss"].min()


def test_resuming_adds_trials(tiny):
    out, _ = tiny
    before = pd.read_parquet(out / "trials.parquet")
    study = cal.load_study("quick")
    study.trials = 3
    cal.calibrate(study, out, workers=1, say=lambda s: None)
    after = pd.read_parquet(out / "trials.parquet")
    assert len(after) == 3
    pd.testing.assert_frame_equal(after.iloc[:2][before.columns.drop("best_so_far")], before[before.columns.drop("best_so_far")])


def test_a_trial_cut_off_midway_is_marked_failed_when_the_study_resumes(tmp_path):
    import optuna

    study = cal.load_study("quick")
    first = cal.open_study(tmp_path, study, [])
    first.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})  # a trial whose run was killed: RUNNING
    states = [t.state for t in cal.open_study(tmp_path, study, []).trials]
    assert states == [optuna.trial.TrialState.FAIL]


def test_best_yaml_composes_and_runs(tiny):
    out, _ = tiny
    df = pd.read_parquet(out / "trials.parquet")  # the best so far (another test may have resumed the study)
    ov = cal.best_overrides(out / "best.yaml")
    cfg = compose([*ov, "years=2"])
    assert get_value(cfg, "policy.china.groups.rd_fund_myuan_per_year") == pytest.approx(df.loc[df["loss"].idxmin(), "group_rd_fund"])
    r = subprocess.run(
        [sys.executable, "-m", "sim", "--config-dir", str(out), "+calibrated=best", "years=1", "output.write=false", "progress=false"],
        cwd=PROJECT_ROOT,
        env=sim_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]


# --------------------------------------------------------------------------
# One-line errors
# --------------------------------------------------------------------------
def _quick(**change):
    data = yaml.safe_load((cal.validate.CONF_DIR / "calibration" / "quick.yaml").read_text())
    data.update(change)
    return data


@pytest.mark.parametrize(
    "change, key",
    [
        ({"trials": 0}, "trials"),
        ({"nope": 1}, "nope"),
        ({"targets": ["lg_rd_intensity"]}, "targets[0]"),
        ({"targets": ["no_such"]}, "targets[0]"),
        ({"parameters": []}, "parameters"),
        ({"parameters": [{"name": "a", "key": "world.markets.logit_beta", "bounds": [0.0, 8.0], "log": True, "why": "x"}]}, "parameters.a.bounds"),
        ({"parameters": [{"name": "a", "key": "world.markets.logit_beta", "bounds": [2.0, 8.0]}]}, "parameters.a.why"),
        ({"weights": {"lg_patents": -1}}, "weights.lg_patents"),
    ],
)
def test_bad_study_names_the_key(tmp_path, change, key):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(_quick(**change)))
    with pytest.raises(ConfigError) as ex:
        cal.load_study(p)
    assert ex.value.key == key


def test_a_parameter_the_config_lacks_is_named_as_a_parameter(tmp_path):
    """Settings are checked against the composed config when the problem is built: the error names the
    study file's own key (parameters.NAME.key), not the sensitivity studies' ``factors``."""
    p = tmp_path / "bad.yaml"
    bad = {"name": "nope", "key": "world.markets.no_such_setting", "bounds": [1.0, 2.0], "why": "test"}
    p.write_text(yaml.safe_dump(_quick(parameters=[bad])))
    with pytest.raises(ConfigError) as ex:
        cal.Problem.build(cal.load_study(p))
    assert ex.value.key == "parameters.nope.key" and "no_such_setting" in str(ex.value)


def test_command_error_is_one_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(_quick(trials=0)))
    r = subprocess.run(
        [sys.executable, "-m", "sim.calibrate", "--study", str(p), "--out", str(tmp_path / "o")],
        cwd=PROJECT_ROOT,
        env=sim_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "trials" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------
# The study directory: one study, never another's or another tool's, never an unreadable optuna.db
# --------------------------------------------------------------------------
def _snapshot(root):
    """Every file (its bytes) and directory (None) under ``root``."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _calibration_dir(out):
    """A directory as a quick calibration leaves it: its optuna.db (the study, no trials) and result files."""
    cal.open_study(out, cal.load_study("quick"), [])
    for f in ("best.yaml", "report.md", "trials.parquet"):
        (out / f).write_text(f"the quick study's {f}\n")
    return _snapshot(out)


def test_another_study_in_the_same_directory_is_refused_untouched(tmp_path):
    """The auditor's case: a main calibration into a quick one's directory opened a second study in its optuna.db
    and overwrote the quick study's best.yaml, report.md and trials.parquet."""
    before = _calibration_dir(tmp_path)
    main = cal.load_study("main")
    main.trials, main.seeds = 1, 1
    for call in (lambda: cal.open_study(tmp_path, main, []), lambda: cal.calibrate(main, tmp_path, say=lambda s: None)):
        with pytest.raises(ConfigError) as ex:
            call()
        assert ex.value.key == "--out" and "'quick'" in str(ex.value) and "another --out" in str(ex.value) and "--study quick" in str(ex.value)
        assert _snapshot(tmp_path) == before
    assert cal.held_studies(tmp_path).keys() == {"quick"}


@pytest.mark.parametrize("seeds, overrides, differs", [(2, [], "--seeds"), (1, ["years=12"], "overrides")])
def test_the_same_study_with_another_design_is_refused_untouched(tmp_path, seeds, overrides, differs):
    before = _calibration_dir(tmp_path)
    study = cal.load_study("quick")
    study.seeds = seeds
    for name in ("open_study", "check_out"):
        with pytest.raises(ConfigError) as ex:
            getattr(cal, name)(tmp_path, study, overrides)
        assert ex.value.key == "--out" and f"differs in: {differs}" in str(ex.value) and "to resume" in str(ex.value)
    assert _snapshot(tmp_path) == before
    study.seeds, study.trials = 1, 7  # the same design with more trials resumes
    cal.check_out(tmp_path, study, [])
    assert cal.open_study(tmp_path, study, []).study_name == "quick"


def _run_dir(d):
    for f in ("config.yaml", "manifest.json", "summary.json", "timeseries.parquet"):
        (d / f).write_text("{}")


@pytest.mark.parametrize(
    "tool, says",
    [
        ("sensitivity", "a sensitivity study (design.json)"),
        ("exploration", "an exploration (design.json)"),
        ("experiment", "an experiment (runs/, report/)"),
        ("run", "a run of python -m sim"),
        ("results", "run directory(ies) of python -m sim"),
        ("other", "is not empty and holds no calibration (notes.txt)"),
    ],
)
def test_another_tools_directory_is_refused_untouched(tmp_path, tool, says):
    out = tmp_path / tool
    (out / "runs").mkdir(parents=True)
    if tool == "sensitivity":  # as sim.sensitivity and sim.explore write design.json
        (out / "design.json").write_text('{"identity": {"method": "morris", "n": 4}, "study": {}, "digest": "abc"}')
    elif tool == "exploration":
        (out / "design.json").write_text('{"identity": {"sampler": "lhs", "experiments": 8}, "study": {}}')
    elif tool == "experiment":
        (out / "report").mkdir()
        (out / "report" / "report.md").write_text("the experiment's report\n")
    elif tool == "run":
        (out / "runs").rmdir()
        _run_dir(out)
    elif tool == "results":
        (out / "runs").rmdir()
        (out / "baseline-seed1").mkdir()
        _run_dir(out / "baseline-seed1")
    else:
        (out / "runs").rmdir()
        (out / "notes.txt").write_text("mine\n")
        (out / "report.md").write_text("mine too\n")
    before = _snapshot(out)
    with pytest.raises(ConfigError) as ex:
        cal.open_study(out, cal.load_study("quick"), [])
    assert ex.value.key == "--out" and says in str(ex.value) and "another --out" in str(ex.value)
    assert _snapshot(out) == before  # no optuna.db created, nothing changed


def test_a_calibrations_files_without_optuna_db_start_over(tmp_path):
    """Moving an unreadable optuna.db away (as its error says) starts the study over in the same directory."""
    (tmp_path / "best.yaml").write_text("x: 1\n")
    (tmp_path / "calibrated").mkdir()
    cal.check_out(tmp_path, cal.load_study("quick"), [])
    assert cal.open_study(tmp_path, cal.load_study("quick"), []).trials == []


def test_an_optuna_db_cut_short_is_one_error_naming_the_file(tmp_path):
    before = _calibration_dir(tmp_path)
    db = tmp_path / "optuna.db"
    db.write_bytes(before["optuna.db"][:1000])
    before = _snapshot(tmp_path)
    for name in ("open_study", "check_out"):  # the command's way first (it gave a traceback)
        with pytest.raises(ConfigError) as ex:
            getattr(cal, name)(tmp_path, cal.load_study("quick"), [])
        msg = str(ex.value)
        assert ex.value.key == "--out" and str(db) in msg and "unreadable" in msg and "move optuna.db out of" in msg
        assert _snapshot(tmp_path) == before
    db.write_text("not a database\n")
    with pytest.raises(ConfigError, match="unreadable"):
        cal.open_study(tmp_path, cal.load_study("quick"), [])


def test_a_write_cut_off_is_read_from_a_copy_and_the_study_resumes(tmp_path):
    """A journal beside optuna.db (a write killed midway) is rolled back in a copy: the check changes nothing."""
    import shutil
    import sqlite3

    _calibration_dir(tmp_path / "live")
    con = sqlite3.connect(tmp_path / "live" / "optuna.db", isolation_level=None)
    con.execute("PRAGMA cache_size=1")  # pages spill into the file: the journal is needed to undo them
    con.execute("BEGIN")
    con.execute("CREATE TABLE filler (x)")
    con.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 500)
    con.execute("UPDATE studies SET study_name = 'half_written'")
    out = tmp_path / "cut"
    out.mkdir()
    for f in ("optuna.db", "optuna.db-journal"):  # the files as a kill at this moment leaves them
        shutil.copyfile(tmp_path / "live" / f, out / f)
    con.close()
    before = _snapshot(out)
    assert cal.held_studies(out).keys() == {"quick"}
    assert _snapshot(out) == before
    assert cal.open_study(out, cal.load_study("quick"), []).study_name == "quick"


def test_command_refusing_another_study_is_one_line(tmp_path):
    before = _calibration_dir(tmp_path)
    r = subprocess.run(
        [sys.executable, "-m", "sim.calibrate", "--study", "main", "--trials", "1", "--seeds", "1", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT,
        env=sim_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "'--out'" in r.stderr and "'quick'" in r.stderr and "Traceback" not in r.stderr
    assert _snapshot(tmp_path) == before


def test_best_overrides_reads_an_output_folder_as_its_best_yaml(tiny):
    out, _ = tiny
    assert cal.best_overrides(out) == cal.best_overrides(out / "best.yaml") != []


@pytest.mark.parametrize(
    "text, says",
    [
        (None, "folder without best.yaml"),
        ("a: [1, 2", "is not valid YAML: line"),
        ("- 1\n- 2\n", "must hold a mapping"),
        ("", "is empty"),  # was [] : the defaults, composed as if calibrated
        ("# best parameters\n", "is empty"),
        ("world:\n  scale: big\n", "'world.scale' must be a number, got 'big'"),
        ("world:\n  scale: true\n", "'world.scale' must be a number, got True"),
    ],
)
def test_best_overrides_names_the_path_for_each_mistake(tmp_path, text, says):
    if text is not None:
        (tmp_path / "best.yaml").write_text(text)
    with pytest.raises(ConfigError, match="config error at 'path'") as ex:
        cal.best_overrides(tmp_path if text is None else tmp_path / "best.yaml")
    assert says in str(ex.value)


def test_best_overrides_names_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found: .*nope.yaml"):
        cal.best_overrides(tmp_path / "nope.yaml")
