"""Fault tests: a command killed (SIGKILL, its whole process group) at a random point, then the same command again,
ends with no lost, duplicated or mixed runs and the tables of an uninterrupted run; a full disk leaves nothing
half-written. The kill points are drawn from a seeded generator over the uninterrupted command's wall time, so
a failure reproduces; the default suite tries one point of a single run, an overwrite and a sweep, ``-m slow`` three
more of each and four of an experiment and of a sensitivity study (their report and analysis make them long)."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _sim_helpers import RUN_FILES, make_config, sim_env

from sim import cli
from sim.config import sizes as sizes_module
from sim.engine import output
from sim.engine.run import run
from sim.research import analysis, sweep

SEED = 20261130


def kill_points(name: str, n: int) -> list[float]:
    """``n`` fractions of the uninterrupted wall time at which to kill, fixed by the test's name."""
    rng = random.Random(f"{SEED}-{name}")
    return [rng.uniform(0.4, 1.0) for _ in range(n)]  # before 0.4 the interpreter is mostly still importing


def points(name: str) -> list:
    """One kill point in the default suite (every command's: the issue's done-when), three more under ``-m slow``."""
    fr = kill_points(name, 4)
    return [pytest.param(fr[0], id="p0")] + [pytest.param(f, id=f"p{i}", marks=pytest.mark.slow) for i, f in enumerate(fr[1:], start=1)]


def command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def timed(argv: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.time()
    proc = subprocess.run(argv, cwd=cwd, env=sim_env(), capture_output=True, text=True, timeout=600)
    return proc, time.time() - t0


def kill_after(argv: list[str], cwd: Path, delay: float) -> bool:
    """Start the command, SIGKILL its process group (workers too) after ``delay`` seconds; True if it had ended."""
    proc = subprocess.Popen(argv, cwd=cwd, env=sim_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=delay)
        return True
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return False


def assert_whole_or_absent(d: Path) -> None:
    """A run directory is absent, or a complete run whose files are the ones its manifest records."""
    if d.exists():
        m = json.loads((d / "manifest.json").read_text())
        assert m["status"] == "complete" and output.verify_run(d, m) is None
        assert {p.name for p in d.iterdir()} <= RUN_FILES


def results(d: Path) -> tuple[pd.DataFrame, dict]:
    summary = json.loads((d / "summary.json").read_text())
    summary.pop("wall_time_s")
    return pd.read_parquet(d / "timeseries.parquet"), summary


def same_run(a: Path, b: Path) -> None:
    ta, sa = results(a)
    tb, sb = results(b)
    pd.testing.assert_frame_equal(ta, tb)
    assert sa == sb


VOLATILE = ("run_dir", "started_at", "finished_at", "wall_time_s", "peak_rss_mb", "host", "summary.wall_time_s", "git_commit")


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    """A sweep table without what differs between two executions of the same runs (times, paths)."""
    drop = [c for c in table.columns if c in VOLATILE or c.startswith("output.")]
    return table.drop(columns=drop).sort_values("run").reset_index(drop=True)


# --------------------------------------------------------------------------
# one run
# --------------------------------------------------------------------------
RUN = ("seed=1", "years=3", "progress=false")


def _reference(tmp_path_factory, name: str, args: tuple[str, ...], key: str, sub: str) -> tuple[Path, float]:
    """An uninterrupted ``python -m sim`` run of ``args`` writing to ``key=<tmp>/sub``: its path and wall time."""
    base = tmp_path_factory.mktemp(name)
    proc, wall = timed(command("sim", *args, f"{key}={base / sub}"), base)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return base / sub, wall


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    return _reference(tmp_path_factory, "ref_run", RUN, "output.dir", "ref")


@pytest.mark.parametrize("fraction", points("run"))
def test_single_run_killed_then_run_again(reference_run, tmp_path, fraction):
    ref, wall = reference_run
    d = tmp_path / "ex"
    argv = command("sim", *RUN, f"output.dir={d}")
    ended = kill_after(argv, tmp_path, fraction * wall)
    assert_whole_or_absent(d)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] in ([], ["ex"])
    again = subprocess.run(argv, cwd=tmp_path, env=sim_env(), capture_output=True, text=True, timeout=300)
    if d.exists() and (ended or again.returncode == 2):  # it had finished: the same command is refused, the run kept
        assert again.returncode in (0, 2) and (again.returncode == 0 or "holds a run already" in again.stderr), again.stderr
    else:
        assert again.returncode == 0, again.stderr[-2000:]
    same_run(d, ref)
    (r,) = analysis.load_runs([d])
    assert r.complete and sweep.is_complete(d)
    assert [p.name for p in tmp_path.iterdir()] == ["ex"]  # the killed attempt's staging directory was cleared


@pytest.mark.parametrize("fraction", points("overwrite"))
def test_overwrite_killed_leaves_the_old_run_or_the_new_one(reference_run, tmp_path, fraction):
    """The issue's sequence: seed 1 in ex, then seed 2 with output.overwrite=true killed midway. ex holds seed 1 or
    seed 2, complete, never a mix; load_runs and the sweep machinery agree; the same command again ends with seed 2."""
    _, wall = reference_run  # the same length of run: the time scale of the kill points
    d = tmp_path / "ex"
    first = subprocess.run(command("sim", "seed=1", "years=2", "progress=false", f"output.dir={d}"), cwd=tmp_path, env=sim_env(), timeout=300)
    assert first.returncode == 0
    old = {p.name: p.read_bytes() for p in d.iterdir()}
    argv = command("sim", "seed=2", "years=3", "output.firm_panel=false", "output.overwrite=true", "progress=false", f"output.dir={d}")
    kill_after(argv, tmp_path, fraction * wall)
    assert_whole_or_absent(d)
    (r,) = analysis.load_runs([d])
    assert r.complete and sweep.is_complete(d)
    if r.seed == 1:
        assert {p.name: p.read_bytes() for p in d.iterdir()} == old
    else:
        assert r.seed == 2 and not (d / "firms.parquet").exists()
    again = subprocess.run(argv, cwd=tmp_path, env=sim_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    (r,) = analysis.load_runs([d])
    assert (r.seed, r.complete) == (2, True) and r.firms.empty
    assert [p.name for p in tmp_path.iterdir()] == ["ex"]


# --------------------------------------------------------------------------
# a sweep (python -m sim -m), an experiment and a sensitivity study
# --------------------------------------------------------------------------
SWEEP = ("-m", "seed=1,2", "years=2", "progress=false", "output.firm_panel=false")


@pytest.fixture(scope="module")
def reference_sweep(tmp_path_factory):
    return _reference(tmp_path_factory, "ref_sweep", SWEEP, "hydra.sweep.dir", "s")


@pytest.mark.parametrize("fraction", points("sweep"))
def test_sweep_killed_then_run_again(reference_sweep, tmp_path, fraction):
    ref, wall = reference_sweep
    s = tmp_path / "s"
    argv = command("sim", *SWEEP, f"hydra.sweep.dir={s}")
    kill_after(argv, tmp_path, fraction * wall)
    for d in sweep.run_dirs(s) if s.exists() else []:
        if not output.is_staging(d):
            assert_whole_or_absent(d)  # a job's directory is there only once it is whole
    again = subprocess.run(argv, cwd=tmp_path, env=sim_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    got, want = pd.read_parquet(s / sweep.TABLE_NAME), pd.read_parquet(ref / sweep.TABLE_NAME)
    assert len(got) == 2 and got["run"].is_unique and set(got["status"]) == {"complete"}
    pd.testing.assert_frame_equal(comparable(got), comparable(want))
    assert not [p for p in (s / sweep.RUNS).iterdir() if p.name.startswith(".")]


TINY_EXPERIMENT = {
    "name": "tiny_faults",
    "scenarios": ["baseline", "china_without_tiers"],
    "reference": "baseline",
    "seeds": 1,
    "overrides": ["years=2", "output.firm_panel=false"],
    "differences": [{"label": "China public money", "key": "policy.china.fiscal_cost_total_musd", "unit": "M USD"}],
}


@pytest.fixture(scope="module")
def reference_experiment(tmp_path_factory):
    base = tmp_path_factory.mktemp("ref_exp")
    path = base / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_EXPERIMENT))
    proc, wall = timed(command("sim.experiment", "--experiment", str(path), "--workers", "1", "--out", str(base / "e"), "progress=false"), base)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return path, base / "e", wall


@pytest.mark.parametrize("fraction", points("experiment"))
def test_experiment_killed_then_run_again(reference_experiment, tmp_path, fraction):
    path, ref, wall = reference_experiment
    e = tmp_path / "e"
    argv = command("sim.experiment", "--experiment", str(path), "--workers", "2", "--out", str(e), "progress=false")
    kill_after(argv, tmp_path, fraction * wall)
    again = subprocess.run(argv, cwd=tmp_path, env=sim_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    for name in ("differences.csv", "difference_values.csv", "timelines.csv", "timeline_differences.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(e / "report" / name), pd.read_csv(ref / "report" / name), obj=name)
    got, want = pd.read_parquet(e / sweep.TABLE_NAME), pd.read_parquet(ref / sweep.TABLE_NAME)
    assert len(got) == 2 and set(got["status"]) == {"complete"}
    pd.testing.assert_frame_equal(comparable(got), comparable(want))


TINY_STUDY = {
    "name": "tiny_faults",
    "scenario": "baseline",
    "overrides": ["years=2"],
    "seeds": 1,
    "firm_panel": False,
    "sample_seed": 1,
    "conf_level": 0.95,
    "num_resamples": 50,
    "morris": {"trajectories": 2, "levels": 4},
    "factors": [
        {"name": "appetite", "key": "world.blocs.west.investor_appetite", "bounds": [0.15, 0.7], "kind": "uncertain", "unit": "p", "why": "test"},
        {"name": "beta", "key": "world.markets.logit_beta", "bounds": [2.0, 8.0], "kind": "uncertain", "unit": "1", "why": "test"},
    ],
    "outputs": [{"name": "price", "key": "price_final_usd_per_kg.west.magnet", "label": "West magnet price", "unit": "USD/kg"}],
}


@pytest.fixture(scope="module")
def reference_study(tmp_path_factory):
    base = tmp_path_factory.mktemp("ref_study")
    path = base / "study.yaml"
    path.write_text(yaml.safe_dump(TINY_STUDY))
    proc, wall = timed(command("sim.sensitivity", "morris", "--study", str(path), "--workers", "1", "--out", str(base / "o"), "progress=false"), base)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return path, base / "o", wall


@pytest.mark.parametrize("fraction", points("sensitivity"))
def test_sensitivity_study_killed_then_run_again(reference_study, tmp_path, fraction):
    path, ref, wall = reference_study
    o = tmp_path / "o"
    argv = command("sim.sensitivity", "morris", "--study", str(path), "--workers", "1", "--out", str(o), "progress=false")
    kill_after(argv, tmp_path, fraction * wall)
    again = subprocess.run(argv, cwd=tmp_path, env=sim_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    pd.testing.assert_frame_equal(pd.read_csv(o / "indices.csv"), pd.read_csv(ref / "indices.csv"))
    samples = [pd.read_parquet(d / "samples.parquet").drop(columns="run_dir") for d in (o, ref)]
    pd.testing.assert_frame_equal(*samples)
    got = pd.read_parquet(o / sweep.TABLE_NAME)
    assert len(got) == 6 and got["run"].is_unique and set(got["status"]) == {"complete"}


# --------------------------------------------------------------------------
# a full disk
# --------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 512 kB tmpfs mounted for the test (root with CAP_SYS_ADMIN only)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill_to(path: Path, leave: int) -> None:
    """Fill the disk of ``path`` until about ``leave`` bytes are free."""
    free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
    with open(path / "filler", "wb") as f:
        try:
            f.write(b"\0" * max(free - leave, 0))
        except OSError as ex:
            assert ex.errno == errno.ENOSPC


def test_a_full_disk_during_a_run_leaves_nothing_and_keeps_the_old_run(small_disk, monkeypatch, capsys):
    """A run that fills the disk (the free-space estimate fooled) fails with one line, exit 1; the run it was to
    replace stays whole, and no temporary file or directory is left (a full disk used to leave .firms.parquet.tmp)."""
    old = small_disk / "old"
    cfg = make_config("years=2", root=small_disk / "unused")
    cfg.output.dir = str(old)
    run(cfg)
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    _fill_to(small_disk, 60_000)
    free = os.statvfs(small_disk).f_bavail
    monkeypatch.setattr(sizes_module, "run_bytes", lambda cfg: 0.0)  # let the run start on a disk that cannot hold it
    monkeypatch.setattr("sim.engine.run.run_bytes", lambda cfg: 0.0)
    with pytest.raises(SystemExit) as ei:
        cli.main(["seed=2", "years=4", "progress=false", f"output.dir={old}", "output.overwrite=true"])
    assert ei.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: the run could not be written under '{old}': ") and "No space left on device" in err[0], err
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "old"]
    assert os.statvfs(small_disk).f_bavail == free


def test_a_full_disk_is_refused_before_the_run(small_disk, capsys):
    _fill_to(small_disk, 20_000)
    with pytest.raises(SystemExit) as ei:
        cli.main(["years=2", "progress=false", f"output.dir={small_disk / 'new'}"])
    assert ei.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "MB free and the run need(s) about" in err[0] and err[0].startswith("error: config error at 'output.dir'"), err
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]
