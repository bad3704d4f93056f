"""User mistakes with multiruns and the sweep table (sim/cli.py's preflight, sim/research/sweep.py's table command).

Each is one line on stderr, ``error: ...`` naming the key and what is allowed, exit code 2, no traceback, and
nothing written or changed: the directory the command was pointed at lists the same files, with the same bytes,
before and after.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from _sim_helpers import run_sim

import sim.engine.output as output
from sim import cli
from sim.research import sweep


def snapshot(path: Path) -> dict[str, bytes | None]:
    """Every file and directory under ``path`` (relative), with a file's bytes."""
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else None) for p in sorted(path.rglob("*"))}


def one_error_line(proc_or_err, key: str, *fragments: str) -> str:
    """The one stderr line of a refused command: ``error:``, naming ``key``, what is allowed and ``fragments``."""
    err = proc_or_err if isinstance(proc_or_err, str) else proc_or_err.stderr
    out = "" if isinstance(proc_or_err, str) else proc_or_err.stdout
    assert "Traceback" not in err + out, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and out == "", f"expected one stderr line:\n{out}{err}"
    line = lines[0]
    assert line.startswith("error:") and key in line and "allowed" in line, line
    missing = [f for f in fragments if f not in line]
    assert not missing, f"message lacks {missing}: {line}"
    return line


# --------------------------------------------------------------------------
# python -m sim (the preflight, before Hydra writes anything)
# --------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("srun") is not None, reason="Slurm is installed here")
def test_slurm_launcher_without_slurm_is_refused_before_the_sweep_directory_is_written(tmp_path):
    """Was: RuntimeError 'Could not detect "srun"' from submitit, and <sweep dir>/multirun.yaml left behind."""
    cwd = tmp_path / "work"
    proc = run_sim("-m", "seed=1,2", "years=2", "hydra/launcher=submitit_slurm", f"hydra.sweep.dir={tmp_path}/slurm", cwd=cwd)
    assert proc.returncode == 2
    one_error_line(proc, "config error at 'hydra/launcher': ", "submitit_slurm", "srun", "allowed here: basic, joblib, submitit_local")
    assert snapshot(tmp_path) == {"work": None}


def test_a_combination_that_fails_is_refused_before_the_first_job_and_names_the_job(tmp_path):
    """Each value passes with the first values of the other keys; only baseline (an event dated 2024) with a start in 2026
    fails. Was: three runs written, then the fourth job stopped the sweep without naming it, and no sweep table."""
    cwd = tmp_path / "work"
    sweep_dir = tmp_path / "sw"
    args = ("-m", "years=2", "scenario=laissez_faire,baseline", "world.start_year=2015,2026", f"hydra.sweep.dir={sweep_dir}")
    proc = run_sim(*args, cwd=cwd)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: config error at 'scenario.events.") and "(job scenario=baseline world.start_year=2026): " in lines[0], lines[0]
    assert "2026" in lines[0].split("): ", 1)[1], lines[0]
    assert snapshot(tmp_path) == {"work": None}


def test_sweep_jobs_are_every_combination_with_the_single_value_checks_first():
    jobs, near = cli.sweep_jobs(["years=2", "scenario=a,b", "world.start_year=1,2", "seed=1,2"])
    assert len(jobs) == 8 and near == 6  # only b with start year 2 (both seeds) differs from the first job in two keys
    assert jobs[-2:] == [["years=2", "scenario=b", "world.start_year=2", f"seed={k}"] for k in (1, 2)]
    assert sorted(map(tuple, jobs)) == sorted(
        ("years=2", f"scenario={s}", f"world.start_year={y}", f"seed={k}") for s in "ab" for y in (1, 2) for k in (1, 2)
    )


def _recorded_sweep(sweep_dir: Path, task: list[str]) -> None:
    """A sweep directory as Hydra's basic sweeper leaves it: multirun.yaml recording the overrides, and a run."""
    sweep_dir.mkdir(parents=True)
    hydra_overrides = [f"hydra.sweep.dir={sweep_dir}", "hydra.mode=MULTIRUN"]
    (sweep_dir / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"hydra": hydra_overrides, "task": task}}, "seed": 1}))
    run = sweep_dir / "runs" / "laissez_faire-seed1-cd10ab7e2d"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"status": "complete", "overrides": task}))


def test_a_second_different_sweep_into_the_same_sweep_directory_is_refused(tmp_path):
    """Was: multirun.yaml overwritten with the new overrides, and the sweep table mixing the runs of two sweeps."""
    sweep_dir = tmp_path / "sw"
    task = ["years=2", "scenario=laissez_faire,baseline", "world.start_year=2015,2016"]
    _recorded_sweep(sweep_dir, task)
    before = snapshot(tmp_path)
    proc = run_sim("-m", "seed=1,2", "years=2", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path / "work")
    assert proc.returncode == 2
    one_error_line(
        proc,
        "config error at 'hydra.sweep.dir': ",
        f"'{sweep_dir}' holds another sweep",
        "years=2 scenario=laissez_faire,baseline world.start_year=2015,2016",
        f"python -m sim -m years=2 scenario=laissez_faire,baseline world.start_year=2015,2016 hydra.sweep.dir={sweep_dir}",
        "another hydra.sweep.dir",
    )
    assert snapshot(tmp_path) == {**before, "work": None}


def test_the_same_sweep_resumes_in_its_directory_whatever_the_order_spelling_progress_or_root(tmp_path):
    sweep_dir = tmp_path / "sw"
    _recorded_sweep(sweep_dir, ["years=2", "seed=range(1,3)", "scenario=laissez_faire,baseline"])
    cli.check_same_sweep(str(sweep_dir), ["scenario=baseline,laissez_faire", "seed=1,2", "years=2", "progress=false", "output.root=x", "hydra.x=1"])
    for other in (["years=3", "seed=1,2", "scenario=laissez_faire,baseline"], ["years=2", "seed=1,2,3", "scenario=laissez_faire,baseline"]):
        with pytest.raises(cli.ConfigError, match="holds another sweep"):
            cli.check_same_sweep(str(sweep_dir), other)


def test_hydra_run_dir_is_refused_with_output_dir_as_what_is_allowed(tmp_path):
    """Was: the run written under output.root/runs, and an empty hydra.run.dir directory left behind."""
    cwd = tmp_path / "work"
    proc = run_sim("years=2", f"hydra.run.dir={tmp_path}/hrd", f"output.root={tmp_path}/results", cwd=cwd)
    assert proc.returncode == 2
    one_error_line(proc, "config error at 'hydra.run.dir': ", f"allowed: output.dir={tmp_path}/hrd", f"'{tmp_path}/results/runs'")
    assert snapshot(tmp_path) == {"work": None}


# --------------------------------------------------------------------------
# python -m sim.sweep table
# --------------------------------------------------------------------------
def _sweep(tmp_path: Path) -> Path:
    """A sweep directory with one complete (synthetic) run."""
    sweep_dir = tmp_path / "sweep"
    run = sweep_dir / "runs" / "baseline-seed1-x"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"seed": 1, "scenario": {"name": "baseline"}}))
    (run / "summary.json").write_text(json.dumps({"firms_final": {"china": 10}}))
    (run / "manifest.json").write_text(json.dumps({"seed": 1, "overrides": ["seed=1"], "status": "complete", **output.file_record(run)}))
    return sweep_dir


@pytest.mark.parametrize("name", ["t.csv", "t.xlsx", "table", "t.parquet.bak"])
def test_table_out_a_path_not_ending_in_parquet_is_refused(name, tmp_path, capsys):
    """Was: Parquet written under the name given (``--out t.csv`` made a Parquet file called t.csv)."""
    sweep_dir = _sweep(tmp_path)
    before = snapshot(tmp_path)
    out = tmp_path / name
    assert sweep.main(["table", str(sweep_dir), "--out", str(out)]) == 2
    one_error_line(capsys.readouterr().err, "--out", f"'{out}' does not end in .parquet", "Parquet only", "a path ending in .parquet")
    assert snapshot(tmp_path) == before
    assert sweep.main(["table", str(sweep_dir), "--out", str(tmp_path / "T.PARQUET")]) == 0  # the suffix in any case
    assert len(sweep.read_table(tmp_path / "T.PARQUET")) == 1


@pytest.mark.parametrize("name", ["run1/summary.json", "notes.txt", "old.parquet"])
def test_table_out_an_existing_file_that_is_not_a_sweep_table_is_refused(name, tmp_path, capsys):
    """Was: the file replaced by the table (a run's summary.json, the user's notes, another Parquet file)."""
    sweep_dir = _sweep(tmp_path)
    out = tmp_path / name
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(b"PAR1 not a table PAR1" if name.endswith(".parquet") else b'{"mine": 1}\n')
    before = snapshot(tmp_path)
    assert sweep.main(["table", str(sweep_dir), "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err, "--out", f"'{out}' exists and is not a sweep table", "a .parquet file")
    assert "or an existing sweep table" in line
    assert snapshot(tmp_path) == before
    table = tmp_path / "t.parquet"
    for _ in range(2):  # what is allowed: a new path, then the sweep table written there, replaced
        assert sweep.main(["table", str(sweep_dir), "--out", str(table)]) == 0
        assert len(sweep.read_table(table)) == 1
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("where", ["runs", "run"])
def test_table_of_the_runs_directory_or_a_run_names_the_sweep_directory(where, tmp_path, capsys):
    """Was: ``no run directories in '.../runs/runs'`` and nothing more."""
    sweep_dir = _sweep(tmp_path)
    given = sweep_dir / "runs" if where == "runs" else sweep_dir / "runs" / "baseline-seed1-x"
    before = snapshot(tmp_path)
    assert sweep.main(["table", str(given)]) == 2
    one_error_line(capsys.readouterr().err, f"'{given / 'runs'}'", "allowed: the sweep directory (the parent of runs/)", f"'{sweep_dir}'")
    assert snapshot(tmp_path) == before
    assert os.path.exists(sweep_dir / "runs" / "baseline-seed1-x" / "manifest.json")
