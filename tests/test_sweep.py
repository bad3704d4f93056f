"""Sweeps (sim/research/sweep.py and the multirun path of sim/cli.py): deterministic run directories, the
sweep table, resume after an interruption, failing runs that do not stop the sweep, and the joblib
and submitit-local launchers giving the same results as serial runs.

Every sweep is small (3 years, no firm panel). The in-process sweep ``serial`` is the reference:
the launcher tests run the same jobs through ``python -m sim -m ...`` and must land in the same
directory names with identical timeseries. No test pins a model number.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _sim_helpers import run_sim, sim_env, tree

import sim.engine.run
from sim.config import ConfigError
from sim.engine import output
from sim.research import sweep

SMALL = ("years=3", "progress=false", "output.firm_panel=false")
SCENARIOS = ("baseline", "laissez_faire")
SEEDS = (1, 2)
LAUNCHER_ARGS = ("scenario=laissez_faire", "seed=1,2", *SMALL)  # python -m sim -m: two of the serial sweep's jobs
RUN_FILES = {"config.yaml", "timeseries.parquet", "events.parquet", "policy.parquet", "summary.json", "manifest.json"}


def small_jobs(scenarios=SCENARIOS, seeds=SEEDS) -> list[list[str]]:
    return sweep.grid({"scenario": scenarios, "seed": seeds}, *SMALL)


def manifests(sweep_dir: Path) -> dict[str, bytes]:
    """Run directory name -> its manifest.json bytes (runs without one, and runs still being written beside their
    directory, are left out; {} before the sweep starts)."""
    if not sweep_dir.is_dir():
        return {}
    dirs = [d for d in sweep.run_dirs(sweep_dir) if not output.is_staging(d)]
    return {d.name: (d / "manifest.json").read_bytes() for d in dirs if (d / "manifest.json").exists()}


def timeseries(sweep_dir: Path) -> dict[str, pd.DataFrame]:
    return {d.name: pd.read_parquet(d / "timeseries.parquet") for d in sweep.run_dirs(sweep_dir)}


def fail_seed_2(original):
    """A run() that raises for seed 2: a run that passes validation but fails while running."""

    def run(cfg, *args, **kwargs):
        if cfg.seed == 2:
            raise RuntimeError("injected failure for seed 2\nsecond line")
        return original(cfg, *args, **kwargs)

    return run


def _assert_same_as_serial(sweep_dir: Path, serial_dir: Path) -> None:
    """Every run of sweep_dir has a run of the same name in the serial sweep, with an identical timeseries."""
    got, ref = timeseries(sweep_dir), timeseries(serial_dir)
    assert got and set(got) <= set(ref), "the same jobs get the same directory names whatever runs them"
    for name in got:
        pd.testing.assert_frame_equal(got[name], ref[name])
    assert all(json.loads(m)["status"] == "complete" for m in manifests(sweep_dir).values())


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The reference: a 2-scenario x 2-seed sweep run in this process, one job after another."""
    sweep_dir = tmp_path_factory.mktemp("serial") / "sweep"
    records = sweep.run_sweep(small_jobs(), sweep_dir)
    return sweep_dir, records


# --------------------------------------------------------------------------
# Job identity
# --------------------------------------------------------------------------
def test_job_hash_ignores_order_spelling_and_where_results_go():
    base = sweep.job_hash(["seed=1", "years=3", "output.firm_panel=false"])
    assert sweep.job_hash(["output.firm_panel=false", "years=3", "seed=1"]) == base
    assert sweep.job_hash(["seed=1", "years=3", "output.firm_panel=False"]) == base  # Hydra's sweeper spells False
    assert (
        sweep.job_hash(
            [
                "seed=1",
                "years=3",
                "output.firm_panel=false",
                "progress=true",
                "output.root=/elsewhere",
                "hydra.launcher.n_jobs=2",
                "hydra/launcher=joblib",
            ]
        )
        == base
    )
    assert sweep.job_hash(["seed=2", "years=3", "output.firm_panel=false"]) != base
    assert sweep.job_hash(["seed=1", "years=4", "output.firm_panel=false"]) != base
    assert sweep.job_hash(["world.markets.logit_beta=0.50"]) == sweep.job_hash(["world.markets.logit_beta=0.5"])
    assert sweep.job_hash(["world.markets.logit_beta=0.5"]) != sweep.job_hash(["world.markets.logit_beta=0.6"])


def test_grid_gives_every_combination_last_axis_fastest():
    jobs = sweep.grid({"scenario": ["a", "b"], "seed": range(1, 4)}, "years=3")
    assert len(jobs) == 6
    assert jobs[0] == ["years=3", "scenario=a", "seed=1"]
    assert jobs[1] == ["years=3", "scenario=a", "seed=2"]
    assert jobs[-1] == ["years=3", "scenario=b", "seed=3"]
    assert len({tuple(j) for j in jobs}) == 6


def test_serial_sweep_writes_one_complete_directory_per_job(serial):
    sweep_dir, records = serial
    assert [r["status"] for r in records] == ["complete"] * 4
    assert not any(r["skipped"] for r in records)
    assert [str(d) for d in sweep.run_dirs(sweep_dir)] == sorted(r["run_dir"] for r in records)
    for job, record in zip(small_jobs(), records):
        d = Path(record["run_dir"])
        assert {p.name for p in d.iterdir()} == RUN_FILES
        m = json.loads((d / "manifest.json").read_text())
        assert m["status"] == "complete" and m["overrides"] == job
        assert d.name == f"{m['scenario']}-seed{m['seed']}-{sweep.job_hash(job)}"
        assert d.parent == sweep_dir.absolute() / "runs"


def _cfg(job):
    from _sim_helpers import make_config

    return make_config(*job)


def test_bad_override_raises_before_anything_is_written(tmp_path):
    jobs = [["scenario=baseline", "seed=3", "world.markets.foo=1"]] + small_jobs()
    with pytest.raises(ConfigError, match="world.markets.foo"):
        sweep.run_sweep(jobs, tmp_path / "sweep")
    assert tree(tmp_path) == []


@pytest.mark.parametrize("jobs", ["years=2", ["years=2", "seed=1"]])
def test_jobs_given_as_strings_not_lists_are_refused_before_anything_is_written(tmp_path, jobs):
    """A job is a list of overrides: a string (read letter by letter before) is one error saying what a job is."""
    with pytest.raises(ConfigError, match=r"'jobs'.*a list of jobs, each a list of overrides"):
        sweep.run_sweep(jobs, tmp_path / "sweep")
    assert tree(tmp_path) == []


def test_the_same_job_twice_is_refused(tmp_path):
    jobs = [["seed=1", *SMALL], [*reversed(SMALL), "seed=1", "progress=true"]]
    with pytest.raises(sweep.SweepError, match="same job"):
        sweep.run_sweep(jobs, tmp_path / "sweep")
    assert tree(tmp_path) == []


# --------------------------------------------------------------------------
# Sweep table
# --------------------------------------------------------------------------
def _same(a, b) -> bool:
    """A table cell equals a value read from a run's files (None and NaN both mean null)."""
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None or (isinstance(a, float) and math.isnan(a))
    return a == b


def test_sweep_table_has_every_run_once_with_inputs_and_summary_scalars(serial):
    sweep_dir, records = serial
    df = sweep.sweep_table(sweep_dir)
    assert len(df) == 4 and df["run"].is_unique
    assert sorted(zip(df["scenario.name"], df["seed"])) == sorted((s, k) for s in SCENARIOS for k in SEEDS)
    assert set(df["status"]) == {"complete"} and df["error"].isna().all()
    assert (df["years"] == 3).all() and not df["output.firm_panel"].any()
    for _, row in df.iterrows():
        d = Path(row["run_dir"])
        assert d.name == row["run"] and d.parent == sweep_dir.absolute() / "runs"
        m = json.loads((d / "manifest.json").read_text())
        assert json.loads(row["overrides"]) == m["overrides"]
        assert row["peak_rss_mb"] == m["peak_rss_mb"] and row["peak_rss_mb"] > 0  # the job's memory, for a cluster budget
        # every input of config.yaml is a column holding its value (lists as JSON text)
        config = sweep.flatten(yaml.safe_load((d / "config.yaml").read_text()))
        assert len(config) > 100
        bad = [k for k, v in config.items() if not _same(row[k], v)]
        assert not bad, bad[:5]
        # every scalar of summary.json, under its dotted path (or summary.<path> where an input has that name)
        summary = sweep.flatten(json.loads((d / "summary.json").read_text()))
        for k, v in summary.items():
            col = f"summary.{k}" if k in config or k in sweep.META_COLUMNS else k
            assert _same(row[col], v), (col, row[col], v)
    assert "years_to_first_output.west.magnet" in df.columns and "summary.seed" in df.columns
    assert set(df.attrs["inputs"]).isdisjoint(df.attrs["outputs"])
    assert sweep.swept_keys(df) == ["scenario", "seed"]


def test_sweep_table_takes_the_configs_a_caller_has_read_and_reads_the_rest(serial, monkeypatch):
    """The experiment report hands over the config.yaml its runs have parsed: the table is the same, and only the
    directories it was not given are read."""
    sweep_dir, _ = serial
    plain = sweep.sweep_table(sweep_dir)
    dirs = sweep.run_dirs(sweep_dir)
    given = {d.resolve(): sweep._read_yaml(d / "config.yaml") for d in dirs[1:]}
    read = []
    real = sweep._read_yaml
    monkeypatch.setattr(sweep, "_read_yaml", lambda p: read.append(p.parent.name) or real(p))
    table = sweep.sweep_table(sweep_dir, configs=given)
    pd.testing.assert_frame_equal(table, plain)
    assert read == [dirs[0].name]


def test_sweep_table_parquet_round_trip_and_cli(serial, tmp_path, capsys):
    sweep_dir, _ = serial
    out = tmp_path / "table.parquet"
    assert sweep.main(["table", str(sweep_dir), "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"sweep table {out}: 4 runs (4 complete, 0 failed, 0 incomplete)") and line.endswith("swept: scenario, seed")
    back = pd.read_parquet(out)
    expected = sweep.sweep_table(sweep_dir)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"], "written atomically: no temporary file left"
    # the column groups are kept in the file, as lists; in memory they are copied into a column taken out as themselves
    # (pandas deep-copies attrs into every frame an operation returns: a list there made writing the table quadratic)
    assert back.attrs == {k: list(v) for k, v in expected.attrs.items()} and set(back.attrs) == {"inputs", "outputs"}
    column = expected[expected.columns[-1]]
    assert all(column.attrs[k] is expected.attrs[k] for k in ("inputs", "outputs"))
    again = sweep.read_table(out)  # as the analyses read it back
    pd.testing.assert_frame_equal(again, back)
    assert again.attrs == expected.attrs
    assert all(type(again.attrs[k]) is sweep.ColumnNames for k in ("inputs", "outputs"))


def test_sweep_table_on_synthetic_runs_nulls_mixed_types_and_incomplete(tmp_path):
    """Known inputs: a complete, a failed and an interrupted run with awkward values."""
    runs = tmp_path / "sweep" / "runs"
    specs = {
        "a-seed1-x": (
            {"seed": 1, "knob": 1, "pair": [1, 2], "nested": {"v": "s"}},
            {"status": "complete", "overrides": ["seed=1"]},
            {"t": {"west": None, "china": 2.5}, "n": 3},
        ),
        "a-seed2-y": (
            {"seed": 2, "knob": "high", "pair": [3, 4], "nested": {"v": "t"}},
            {"status": "failed", "overrides": ["seed=2"], "error": {"type": "ValueError", "message": "bad\nmore"}},
            None,
        ),
        "a-seed3-z": ({"seed": 3, "knob": 2.5, "pair": [5, 6], "nested": {"v": None}}, None, None),
    }
    for name, (config, manifest, summary) in specs.items():
        d = runs / name
        d.mkdir(parents=True)
        (d / "config.yaml").write_text(yaml.safe_dump(config))
        if manifest:
            (d / "manifest.json").write_text(json.dumps(manifest))
        if summary:
            (d / "summary.json").write_text(json.dumps(summary))
    path, df = sweep.write_table(tmp_path / "sweep")
    assert path == tmp_path / "sweep" / "sweep_table.parquet"
    df = pd.read_parquet(path).set_index("run")
    assert df["status"].to_dict() == {"a-seed1-x": "complete", "a-seed2-y": "failed", "a-seed3-z": "incomplete"}
    assert df.loc["a-seed2-y", "error"] == "ValueError: bad"
    assert df["error"].isna().sum() == 2 and pd.isna(df.loc["a-seed3-z", "overrides"])
    assert [json.loads(v) for v in df["pair"]] == [[1, 2], [3, 4], [5, 6]]
    assert df["seed"].tolist() == [1, 2, 3]
    assert [json.loads(v) for v in df["knob"]] == [1, "high", 2.5]  # mixed types: JSON text, so Parquet takes it
    assert df.loc["a-seed1-x", "t.china"] == 2.5 and math.isnan(df.loc["a-seed1-x", "t.west"])
    assert df["t.china"].isna().tolist() == [False, True, True] and df["n"].isna().tolist() == [False, True, True]
    assert df.loc["a-seed1-x", "n"] == 3
    assert df["nested.v"].tolist()[:2] == ["s", "t"] and pd.isna(df.loc["a-seed3-z", "nested.v"])


def test_table_command_errors_are_one_line_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    cases = [
        (["table", str(tmp_path / "missing")], "error: sweep directory"),
        (["table", str(tmp_path / "empty")], "error: no run directories in"),
        (["table"], "error: the following arguments are required: sweep_dir"),
        (["tabel", str(tmp_path)], "error: argument command: invalid choice"),
    ]
    for args, start in cases:
        proc = subprocess.run([sys.executable, "-m", "sim.research.sweep", *args], cwd=tmp_path, env=sim_env(), capture_output=True, text=True)
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(start), (args, proc.stdout, proc.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_table_out_into_a_missing_directory_is_refused(serial, tmp_path, capsys):
    sweep_dir, _ = serial
    assert sweep.main(["table", str(sweep_dir), "--out", str(tmp_path / "nope" / "t.parquet")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out: directory '{tmp_path / 'nope'}' does not exist"
    assert list(tmp_path.iterdir()) == []


def _synthetic_run(runs: Path, name: str, manifest: dict | None = None, summary: dict | None = None) -> Path:
    """A run directory written as a run writes it (config.yaml, summary.json, then a manifest recording their sizes), with
    no simulation; ``manifest``: fields of the manifest (None: no manifest, as a run killed before it)."""
    d = runs / name
    d.mkdir(parents=True)
    seed = int(name.split("seed")[1].split("-")[0])
    (d / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "scenario": {"name": name.split("-")[0]}}))
    (d / "summary.json").write_text(json.dumps(summary if summary is not None else {"seed": seed, "firms_final": {"china": 10 * seed}}))
    if manifest is not None:
        (d / "manifest.json").write_text(json.dumps({"seed": seed, "overrides": [f"seed={seed}"], **manifest, **output.file_record(d)}))
    return d


def test_table_out_a_directory_is_refused_in_one_line_and_left_as_it_was(tmp_path, capsys):
    """--out naming a directory (or a directory where the default table goes) is one line naming --out, before anything
    is written: the table was renamed onto it, an IsADirectoryError traceback."""
    sweep_dir = tmp_path / "sweep"
    _synthetic_run(sweep_dir / "runs", "a-seed1-x", {"status": "complete"})
    out = tmp_path / "outdir"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert sweep.main(["table", str(sweep_dir), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out: '{out}' is a directory; allowed: a file path for the Parquet table"
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outdir", "sweep"], "no temporary file left beside it"
    (sweep_dir / sweep.TABLE_NAME).mkdir()  # the default table's place, taken by a directory
    with pytest.raises(sweep.SweepError, match=f"'{sweep_dir / sweep.TABLE_NAME}' is a directory; move it away, or give --out FILE"):
        sweep.write_table(sweep_dir)
    assert list((sweep_dir / sweep.TABLE_NAME).iterdir()) == []
    path, df = sweep.write_table(sweep_dir, out / "t.parquet")  # a file in the directory is fine
    assert path == out / "t.parquet" and len(df) == 1


def test_a_run_whose_summary_or_manifest_cannot_be_read_is_incomplete_with_the_reason(tmp_path):
    """A complete run whose summary.json is unreadable (garbage of the same size passes the manifest's size record) or not
    a JSON object is not complete: the table says incomplete and which file, as load_runs, which skips it, and a restart
    runs it again (is_complete); a manifest that cannot be read gives its reason too. No manifest at all: incomplete, as
    before (README: no manifest yet)."""
    from sim.research import analysis

    runs = tmp_path / "sweep" / "runs"
    complete = {"status": "complete"}
    _synthetic_run(runs, "a-seed1-ok", complete)
    garbage = _synthetic_run(runs, "a-seed2-garbage", complete)
    size = (garbage / "summary.json").stat().st_size
    (garbage / "summary.json").write_bytes(bytes([0x99, 0xFF] * size)[:size])  # the same size: verify_run passes
    text = _synthetic_run(runs, "a-seed3-text", complete)
    (text / "summary.json").write_text("not json: " + (text / "summary.json").read_text()[10:])
    _synthetic_run(runs, "a-seed4-list", complete, summary=[1, 2])  # type: ignore[arg-type]
    bad_manifest = _synthetic_run(runs, "a-seed5-badmanifest", complete)
    (bad_manifest / "manifest.json").write_text("{half a manifest")
    list_manifest = _synthetic_run(runs, "a-seed6-listmanifest", complete)
    (list_manifest / "manifest.json").write_text("[1, 2]")
    _synthetic_run(runs, "a-seed7-nomanifest", None)
    path, df = sweep.write_table(tmp_path / "sweep")
    df = df.set_index("run")
    assert df["status"].to_dict() == {
        "a-seed1-ok": "complete",
        **{n: "incomplete" for n in df.index if n != "a-seed1-ok"},
    }
    error = df["error"].to_dict()
    assert pd.isna(error["a-seed1-ok"]) and pd.isna(error["a-seed7-nomanifest"])
    assert error["a-seed2-garbage"].startswith("summary.json: unreadable JSON (") and "codec" in error["a-seed2-garbage"]
    assert error["a-seed3-text"].startswith("summary.json: unreadable JSON (Expecting value")
    assert error["a-seed4-list"] == "summary.json: expected a JSON object, got list"
    assert error["a-seed5-badmanifest"].startswith("manifest.json: unreadable JSON (")
    assert error["a-seed6-listmanifest"] == "manifest.json: expected a JSON object, got list"
    assert df.loc["a-seed1-ok", "firms_final.china"] == 10 and pd.isna(df.loc["a-seed2-garbage", "firms_final.china"])
    assert sweep.table_line(path, df.reset_index()).startswith(f"sweep table {path}: 7 runs (1 complete, 0 failed, 6 incomplete)")
    # the same runs are complete for a restart (is_complete) and for the analyses (load_runs, which skips the others)
    assert [d.name for d in sweep.run_dirs(tmp_path / "sweep") if sweep.is_complete(d)] == ["a-seed1-ok"]
    with pytest.warns(UserWarning, match="skipped 6"):
        loaded = analysis.load_runs(tmp_path / "sweep")
    assert [r.name for r in loaded] == ["a-seed1-ok"]
    one = sweep.run_status(garbage)  # one run's status columns, as the table's
    assert one["status"] == "incomplete" and one["error"] == error["a-seed2-garbage"]


# --------------------------------------------------------------------------
# Resume and failures (in process)
# --------------------------------------------------------------------------
def test_restart_reruns_exactly_the_incomplete_run_and_skips_the_rest(serial, tmp_path, capsys):
    """Two worker processes, then a restart after one run lost its manifest: that run alone is rerun,
    and every run equals the serial sweep's (one seed fixes a run in any process and order)."""
    serial_dir, _ = serial
    sweep_dir = tmp_path / "sweep"
    records = sweep.run_sweep(small_jobs(), sweep_dir, workers=2)
    assert [r["status"] for r in records] == ["complete"] * 4
    before = manifests(sweep_dir)
    victim = sorted(before)[1]
    (sweep_dir / "runs" / victim / "manifest.json").unlink()  # as if killed before its manifest was written
    (sweep_dir / "runs" / victim / ".timeseries.parquet.tmp").write_text("half-written")
    capsys.readouterr()
    records = sweep.run_sweep(small_jobs(), sweep_dir)
    out = capsys.readouterr().out
    assert [Path(r["run_dir"]).name for r in records if not r["skipped"]] == [victim]
    assert out.count("skip (complete): ") == 3 and victim not in out
    after = manifests(sweep_dir)
    assert sorted(after) == sorted(before)
    assert {k: v for k, v in after.items() if k != victim} == {k: v for k, v in before.items() if k != victim}
    assert json.loads(after[victim])["status"] == "complete"
    assert {p.name for p in (sweep_dir / "runs" / victim).iterdir()} == RUN_FILES, "the stale partial file is cleared"
    df = sweep.sweep_table(sweep_dir)
    assert len(df) == 4 and df["run"].is_unique and set(df["status"]) == {"complete"}
    _assert_same_as_serial(sweep_dir, serial_dir)


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch, capsys):
    sweep_dir = tmp_path / "sweep"
    jobs = small_jobs(scenarios=("baseline",), seeds=(2, 3))
    monkeypatch.setattr(sim.engine.run, "run", fail_seed_2(sim.engine.run.run))
    records = sweep.run_sweep(jobs, sweep_dir)
    assert [r["status"] for r in records] == ["failed", "complete"], "seed 3 still ran after seed 2 failed"
    assert records[0]["error"] == "RuntimeError: injected failure for seed 2"
    err = capsys.readouterr().err
    assert f"failed: {records[0]['run_dir']}: RuntimeError: injected failure for seed 2" in err
    m = json.loads((Path(records[0]["run_dir"]) / "manifest.json").read_text())
    assert m["status"] == "failed" and m["seed"] == 2
    assert m["error"]["type"] == "RuntimeError" and m["error"]["message"].startswith("injected failure")
    assert "Traceback" in m["error"]["traceback"] and "fail_seed_2" not in m["error"]["message"]
    df = sweep.sweep_table(sweep_dir).set_index("seed")
    assert df["status"].to_dict() == {2: "failed", 3: "complete"}
    assert df.loc[2, "error"] == "RuntimeError: injected failure for seed 2"
    assert df.loc[2, "scenario.name"] == "baseline" and df.loc[2, "years"] == 3, "a failed run keeps its inputs"
    assert pd.isna(df.loc[2, "years_to_first_output.west.magnet"]) and pd.isna(df.loc[2, "firms_final.china"])
    assert df.loc[3, "firms_final.china"] > 0

    # a failed run is not complete: the restart reruns it (and only it)
    monkeypatch.undo()
    again = sweep.run_sweep(jobs, sweep_dir)
    assert [r["skipped"] for r in again] == [False, True]
    assert set(sweep.sweep_table(sweep_dir)["status"]) == {"complete"}


def test_run_job_leaves_the_callers_config_alone(tmp_path):
    cfg = _cfg(["seed=1", *SMALL])
    record = sweep.run_job(["seed=1", *SMALL], tmp_path / "sweep", cfg=cfg)
    assert record["status"] == "complete" and cfg.output.dir is None and cfg.output.write is False


def test_compose_jobs_gives_each_job_its_own_composition_with_one_compose_per_set_of_seeds(monkeypatch):
    """Jobs that differ only in a plain seed are composed once (and their last in full, to check); the configs equal
    composing every job: a job whose seed is not a plain number, or that reads the seed, is composed in full."""
    from sim.config import compose

    jobs = [["scenario=laissez_faire", f"seed={k}", "years=2"] for k in (1, 2, 3, 4)]
    jobs += [["seed=5", "scenario=baseline", "years=2"], ["scenario=baseline", "seed=6", "years=2"]]  # order of overrides
    jobs += [["scenario=baseline", "seed=007", "years=2"], ["scenario=baseline", "years=2"], ["scenario=baseline", "seed=2", "years=${seed}"]]
    calls = []
    monkeypatch.setattr(sweep, "compose", lambda j, **kw: calls.append(list(j)) or compose(j, **kw))
    got = sweep.compose_jobs(jobs)
    want = [compose(j) for j in jobs]
    assert got == want and [g.seed for g in got] == [1, 2, 3, 4, 5, 6, 7, 1, 2] and got[8].years == 2
    assert len({id(g.world) for g in got}) == len(got)  # copies: a run that changes its config changes no other
    laissez = [c for c in calls if "scenario=laissez_faire" in c]
    assert laissez == [jobs[0], jobs[3]], "the laissez_faire jobs were not composed once and checked on the last"
    assert len(calls) == 2 + 2 + 3  # two sets of plain seeds, 'seed=007', no seed and an interpolation each in full

    def seed_in_years(j, **kw):  # a config file that reads the seed: the check on the last job finds it
        cfg = compose(j, **kw)
        cfg.years = cfg.seed
        return cfg

    calls.clear()
    monkeypatch.setattr(sweep, "compose", lambda j, **kw: calls.append(list(j)) or seed_in_years(j, **kw))
    got = sweep.compose_jobs(jobs[:4])
    assert [g.years for g in got] == [1, 2, 3, 4] and len(calls) == 4
    with pytest.raises(ConfigError, match="years"):
        sweep.compose_jobs([["seed=1", "years=2"], ["seed=2", "years=abc"]])


def test_compose_jobs_reads_the_users_config_directory(tmp_path):
    from sim.config import CONF_DIR

    scenario = tmp_path / "scenario" / "mine.yaml"
    scenario.parent.mkdir()
    scenario.write_text((CONF_DIR / "scenario" / "baseline.yaml").read_text() + "\nyears: 7\n")
    got = sweep.compose_jobs([["scenario=mine", f"seed={k}"] for k in (1, 2, 3)], config_dir=tmp_path)
    assert [(c.years, c.seed) for c in got] == [(7, 1), (7, 2), (7, 3)]


def test_run_job_frees_its_model_before_the_next_job(tmp_path, monkeypatch):
    """A worker runs job after job: the finished run's firms and agents (a cycle with the model) are gone when run_job
    returns, without a full garbage collection, so the next job does not hold two worlds at its peak."""
    import gc
    import weakref

    real, seen = sim.engine.run.run, []

    def run_and_watch(cfg, **kw):
        result = real(cfg, **kw)
        seen.append([weakref.ref(result.model), weakref.ref(result.model.pop), weakref.ref(result.model.pop.capacity_t.base)])
        return result

    monkeypatch.setattr(sim.engine.run, "run", run_and_watch)
    collections = []
    monkeypatch.setattr(sweep.gc, "collect", lambda *a: collections.append(a) or 0)
    gc.disable()  # only run_job may free it: by the model's dispose, its collection counted
    try:
        record = sweep.run_job(["seed=1", *SMALL], tmp_path / "sweep")
        assert record["status"] == "complete" and len(seen) == 1
        model, firms, capacity = (ref() for ref in seen[0])
        # the model itself may outlive run_job, emptied, until a collection: the frames of a cycle of OmegaConf's (an
        # exception it raises and catches while compose reads the config) can still refer to it
        assert model is None or not vars(model), "the finished run's model still holds its state after run_job"
        assert firms is None and capacity is None, "the finished run's firm columns are still alive after run_job"
        assert collections == [], "run_job freed the model by a full garbage collection, not by reference counting"
    finally:
        gc.enable()


def test_release_run_collects_when_something_else_holds_the_firms(monkeypatch):
    """A run whose firm population something else still refers to (a cycle outside the model) gets the full collection."""
    result = sim.engine.run.run(_cfg(["seed=1", *SMALL]))
    collections = []
    monkeypatch.setattr(sweep.gc, "collect", lambda *a: collections.append(a) or 0)
    held = result.model.pop
    sweep.release_run(result)
    assert collections == [()] and not vars(result.model) and held is not None
    sweep.release_run(None)  # a skipped or failed job: nothing to free
    assert collections == [()]


# --------------------------------------------------------------------------
# python -m sim -m ...: launchers, resume, failures
# --------------------------------------------------------------------------
def test_joblib_sweep_equals_serial_and_restarts_only_the_incomplete_run(serial, tmp_path):
    serial_dir, _ = serial
    sweep_dir = tmp_path / "sweeps" / "joblib"
    args = ("-m", *LAUNCHER_ARGS, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep_dir}")
    proc = run_sim(*args, cwd=tmp_path / "work")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(manifests(sweep_dir)) == 2
    _assert_same_as_serial(sweep_dir, serial_dir)
    assert len(pd.read_parquet(sweep_dir / sweep.TABLE_NAME)) == 2, "the sweep table is written at the end"

    before = manifests(sweep_dir)
    victim = sorted(before)[0]
    (sweep_dir / "runs" / victim / "manifest.json").unlink()
    proc = run_sim(*args, cwd=tmp_path / "work")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("skip (complete): ") == 1 and proc.stdout.count("outputs: ") == 1
    after = manifests(sweep_dir)
    assert sorted(after) == sorted(before) and {k: v for k, v in after.items() if k != victim} == {k: v for k, v in before.items() if k != victim}
    table = pd.read_parquet(sweep_dir / sweep.TABLE_NAME)
    assert len(table) == 2 and table["run"].is_unique and set(table["status"]) == {"complete"}
    _assert_same_as_serial(sweep_dir, serial_dir)
    assert tree(tmp_path / "work") == []


def test_submitit_local_sweep_equals_serial(serial, tmp_path):
    serial_dir, _ = serial
    sweep_dir = tmp_path / "sweeps" / "submitit"
    proc = run_sim(
        "-m", *LAUNCHER_ARGS, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path / "work"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(manifests(sweep_dir)) == 2
    _assert_same_as_serial(sweep_dir, serial_dir)


@pytest.mark.slow  # ~10 s; test_a_failing_run_is_recorded_and_the_sweep_goes_on covers run_job in the default suite
def test_failing_job_in_a_multirun_is_recorded_and_the_sweep_goes_on(tmp_path):
    """The basic launcher, with run() replaced by one that fails for seed 2 (in the launching process):
    the sweep goes on, the table has the failed row, the command ends with exit code 1 and the list."""
    sweep_dir = tmp_path / "sweep"
    code = (
        "import sys, sim.engine.run; sys.path.insert(0, sys.argv[1]); import test_sweep; "
        "sim.engine.run.run = test_sweep.fail_seed_2(sim.engine.run.run); from sim.cli import main; main(sys.argv[2:])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), "-m", "scenario=baseline", "seed=2,3", *SMALL, f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path,
        env=sim_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    failed = [d.name for d in sweep.run_dirs(sweep_dir) if "-seed2-" in d.name]
    assert len(failed) == 1
    assert f"failed: {sweep_dir.absolute() / 'runs' / failed[0]}: RuntimeError: injected failure for seed 2" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"1 run(s) not complete (see their manifest.json): {failed[0]}"
    assert proc.stdout.count("outputs: ") == 1, "seed 3 ran after seed 2 failed"
    table = pd.read_parquet(sweep_dir / sweep.TABLE_NAME).set_index("seed")
    assert table["status"].to_dict() == {2: "failed", 3: "complete"}
    assert json.loads((sweep_dir / "runs" / failed[0] / "manifest.json").read_text())["error"]["type"] == "RuntimeError"


@pytest.mark.parametrize(
    "args, key, fragment",
    [
        (("hydra/launcher=nope",), "hydra/launcher", "allowed: basic, joblib, submitit_local, submitit_slurm"),
        (("hydra.launcher.n_jobs=2",), "hydra.launcher.n_jobs", "launcher in use ('basic')"),
        (("hydra/launcher=joblib", "hydra.launcher.n_jobs=many"), "hydra.launcher.n_jobs", "many"),
        (("output.dir=somewhere",), "output.dir", "hydra.sweep.dir"),
        (("output.write=false",), "output.write", "writes every run directory"),
    ],
)
def test_multirun_mistakes_are_one_line_before_any_job(args, key, fragment, tmp_path):
    cwd = tmp_path / "work"
    proc = run_sim("-m", "seed=1,2", "years=1", *args, cwd=cwd)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stdout + proc.stderr
    assert lines[0].startswith(f"error: config error at '{key}': ") and fragment in lines[0], lines[0]
    assert tree(cwd) == []


@pytest.mark.slow
def test_joblib_sweep_killed_midway_ends_complete_after_restart(tmp_path):
    """The issue's check: a 2-scenario x 4-seed joblib sweep, killed (SIGKILL, whole process group) once a
    run is complete, then started again, ends with every run complete exactly once."""
    sweep_dir = tmp_path / "sweep"
    args = [
        sys.executable,
        "-m",
        "sim",
        "-m",
        "scenario=baseline,west_coordinated",
        "seed=1,2,3,4",
        "years=12",
        "progress=false",
        "output.firm_panel=false",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    proc = subprocess.Popen(args, cwd=tmp_path, env=sim_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not manifests(sweep_dir) and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(manifests(sweep_dir))
    assert 1 <= done < 8, f"{done} runs complete when killed"
    rerun = subprocess.run(args, cwd=tmp_path, env=sim_env(), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert rerun.stdout.count("skip (complete): ") == done
    table = pd.read_parquet(sweep_dir / sweep.TABLE_NAME)
    assert len(table) == 8 and table["run"].is_unique and set(table["status"]) == {"complete"}
    assert sorted(zip(table["scenario.name"], table["seed"])) == [(s, k) for s in ("baseline", "west_coordinated") for k in (1, 2, 3, 4)]
