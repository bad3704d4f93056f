"""Output safety (README "What a run directory holds"): a run never writes into a directory that holds another
run, is written beside its place and renamed in when complete, and the loaders check the manifest's records;
the size checks (sim/config/sizes.py) and the preflight of the commands (sim/cli.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
from _sim_helpers import RUN_FILES, make_config, tree

from sim import cli
from sim.config import ConfigError, compose
from sim.config import sizes as sizes_module
from sim.engine import output
from sim.engine.run import run
from sim.research import analysis, sweep


def _run_into(path: Path, *overrides: str, years: int = 2):
    cfg = make_config(f"years={years}", *overrides, root=path.parent / "unused-root")
    cfg.output.dir = str(path)
    return run(cfg)


def _snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --------------------------------------------------------------------------
# an explicit output.dir
# --------------------------------------------------------------------------
def test_a_directory_holding_a_run_is_refused_and_left_as_it_was(tmp_path):
    d = tmp_path / "ex"
    _run_into(d, "seed=1")
    before = _snapshot(d)
    with pytest.raises(ConfigError) as ei:
        _run_into(d, "seed=2", "output.firm_panel=false", years=3)
    assert ei.value.key == "output.dir"
    assert "holds a run already (baseline seed 1, complete)" in str(ei.value) and "output.overwrite=true" in str(ei.value)
    assert _snapshot(d) == before
    assert tree(tmp_path) == sorted(["ex", *(f"ex/{f}" for f in RUN_FILES)])  # no staging directory left either


def test_overwrite_replaces_the_old_run_whole(tmp_path):
    """The issue's sequence with output.overwrite=true: seed 1's firms.parquet does not survive beside seed 2."""
    d = tmp_path / "ex"
    _run_into(d, "seed=1")
    result = _run_into(d, "seed=2", "output.firm_panel=false", "output.overwrite=true", years=3)
    assert result.run_dir == d
    assert {p.name for p in d.iterdir()} == RUN_FILES - {"firms.parquet"}
    (r,) = analysis.load_runs([d])
    assert (r.seed, r.complete, r.mismatch) == (2, True, None)
    assert r.firms.empty and r.timeseries["year"].max() == 2017
    assert [p.name for p in tmp_path.iterdir()] == ["ex"]


def test_overwrite_never_removes_a_directory_that_holds_no_run(tmp_path):
    d = tmp_path / "notes"
    d.mkdir()
    (d / "config.yaml").write_text("mine: 1\n")
    (d / "README.txt").write_text("not a run")
    with pytest.raises(ConfigError, match="is not empty and holds no run"):
        _run_into(d, "output.overwrite=true")
    assert sorted(p.name for p in d.iterdir()) == ["README.txt", "config.yaml"]


def test_an_empty_directory_is_taken(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    assert _run_into(d).run_dir == d and sweep.is_complete(d)


def test_a_link_to_a_directory_takes_the_run_where_it_points_and_a_broken_one_is_refused(tmp_path):
    """output.dir as a symbolic link to an empty directory (or, with overwrite, to a run): the run is written where the
    link points and the link stays; a link to nothing is refused before the run, in one line naming output.dir."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert _run_into(tmp_path / "link").run_dir == real and sweep.is_complete(real)
    assert (tmp_path / "link").is_symlink() and sweep.is_complete(tmp_path / "link")
    assert _run_into(tmp_path / "link", "seed=2", "output.overwrite=true").run_dir == real
    assert json.loads((real / "manifest.json").read_text())["seed"] == 2
    (tmp_path / "broken").symlink_to(tmp_path / "nothing")
    with pytest.raises(ConfigError, match="is a symbolic link to no directory") as ei:
        _run_into(tmp_path / "broken")
    assert ei.value.key == "output.dir" and not (tmp_path / "nothing").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "link", "real"]  # no staging directory left


def test_an_empty_directory_keeps_its_permissions(tmp_path):
    """An empty directory made for the run (here group-shared: setgid, no access for others) keeps its mode: the run
    written beside it and renamed into place takes the directory's permissions."""
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(0o2750)
    _run_into(d)
    assert oct(d.stat().st_mode & 0o7777) == oct(0o2750) and sweep.is_complete(d)


def test_staging_left_by_a_killed_run_is_removed_by_the_next_run_and_ignored_by_the_loaders(tmp_path):
    d = tmp_path / "ex"
    host = output._HOST
    dead = tmp_path / f".ex{output.STAGING}{host}-{_dead_pid()}-abc123"
    alive = tmp_path / f".ex{output.STAGING}{host}-1-def456"  # pid 1 runs: not ours to remove
    for s in (dead, alive):
        s.mkdir()
        (s / "config.yaml").write_text("seed: 9\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "skipped incomplete run" warning: a staging directory is not a run
        with pytest.raises(ValueError, match="no run directories"):
            analysis.load_runs(tmp_path)
    _run_into(d)
    assert not dead.exists() and alive.exists()
    runs = analysis.load_runs(tmp_path)
    assert [r.path for r in runs] == [d] and not runs.skipped


def test_a_run_killed_between_the_two_renames_of_an_overwrite_gets_the_old_run_back(tmp_path):
    """commit() with overwrite moves the old run aside, then the new one in: killed in between, the directory is
    missing. The next run of that directory first puts the old run back (or, if the new one made it in, removes
    the old), so the directory again holds one complete run."""
    d = tmp_path / "ex"
    _run_into(d, "seed=1")
    old = _snapshot(d)
    host, dead = output._HOST, _dead_pid()
    d.rename(tmp_path / f".ex{output.OLD}{host}-{dead}-abc123")
    new = tmp_path / f".ex{output.STAGING}{host}-{dead}-def456"
    _run_into(tmp_path / "scratch", "seed=2").run_dir.rename(new)  # the new run, complete, not yet renamed in
    with pytest.raises(ConfigError, match=r"holds a run already \(baseline seed 1, complete\)"):
        _run_into(d, "seed=3")
    assert _snapshot(d) == old and sorted(p.name for p in tmp_path.iterdir()) == ["ex"]
    (tmp_path / f".ex{output.OLD}{host}-{dead}-ghi789").mkdir()  # the new run made it in before the kill
    _run_into(d, "seed=4", "output.overwrite=true")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ex"] and json.loads((d / "manifest.json").read_text())["seed"] == 4


# --------------------------------------------------------------------------
# the loaders check the manifest's records
# --------------------------------------------------------------------------
def test_loaders_refuse_another_runs_config_or_files_beside_a_manifest(tmp_path):
    """The mixes the issue found: a config.yaml of another run beside a complete manifest, and a firms.parquet the
    run did not write. load_runs skips them, sweep resume reruns them, the sweep table says why."""
    a, b = tmp_path / "runs" / "a", tmp_path / "runs" / "b"
    _run_into(a, "seed=1")
    _run_into(b, "seed=2", "output.firm_panel=false")
    other = tmp_path / "other"
    _run_into(other, "seed=3", years=3)
    shutil.copy(other / "config.yaml", a / "config.yaml")  # a killed later run's config beside a's manifest
    shutil.copy(other / "firms.parquet", b / "firms.parquet")  # an earlier run's panel beside b's files
    with pytest.warns(UserWarning, match="skipped 2"):
        runs = analysis.load_runs(tmp_path / "runs")
    assert list(runs) == []
    reasons = dict(runs.skipped)
    assert "config.yaml is not the one the manifest records" in reasons[a]
    assert "not listed: firms.parquet" in reasons[b]
    assert not sweep.is_complete(a) and not sweep.is_complete(b) and sweep.is_complete(other)
    table = sweep.sweep_table(tmp_path)
    assert list(table["status"]) == ["incomplete", "incomplete"]
    assert table["error"].str.contains("manifest").all()


def test_a_changed_file_is_caught_by_its_size(tmp_path):
    d = tmp_path / "ex"
    _run_into(d)
    ts = pd.read_parquet(d / "timeseries.parquet")
    ts.iloc[:10].to_parquet(d / "timeseries.parquet")
    m = json.loads((d / "manifest.json").read_text())
    assert output.verify_run(d, m) == "files changed since the manifest was written: timeseries.parquet"


# --------------------------------------------------------------------------
# sizes
# --------------------------------------------------------------------------
def test_a_world_too_small_for_a_bloc_or_stage_is_refused_at_the_lowest_scale_that_works():
    """The default world's smallest 'largest cohort' has 4 firms (mining; rest_of_world), so a scale above 0.5/4 keeps
    every bloc and stage; 0.125 rounds 4 x 0.125 = 0.5 down to 0."""
    with pytest.raises(ConfigError) as ei:
        compose(["world.scale=0.01"])
    assert ei.value.key == "world.scale"
    assert "2 firms in all" in ei.value.problem and "allowed: world.scale above 0.125" in ei.value.problem
    with pytest.raises(ConfigError, match="without firms"):
        compose(["world.scale=0.125"])
    cfg = compose(["world.scale=0.126"])
    firms = cfg.world.firms.values()
    for attr, names in (("bloc", cfg.world.blocs), ("stage", cfg.world.stages)):
        for name in names:
            assert sum(sizes_module.scaled_count(c.count, 0.126) for c in firms if getattr(c, attr) == name) >= 1, name


def test_memory_beyond_the_machine_is_refused_with_the_numbers(monkeypatch):
    monkeypatch.setattr(sizes_module, "machine_memory_bytes", lambda: 2e9)
    cfg = compose(["world.scale=20", "years=30"])  # ~6,500 firms: about 0.3 GB
    with pytest.raises(ConfigError) as ei:
        compose(["world.scale=400", "years=30"])
    assert ei.value.key == "world.scale"
    assert f"{sizes_module.initial_firms(cfg.world, 400):,} firms at the start" in ei.value.problem and "this machine has 2.0 GB" in ei.value.problem
    top = float(ei.value.problem.rsplit("up to about ", 1)[1].split()[0])
    compose([f"world.scale={top * 0.95:.4g}", "years=30"])
    with pytest.raises(ConfigError):
        compose([f"world.scale={top * 1.05:.4g}", "years=30"])


def test_the_disk_estimate_covers_a_real_run(tmp_path):
    cfg = make_config("years=6", root=tmp_path)
    result = run(cfg)
    written = sum(p.stat().st_size for p in result.run_dir.iterdir())
    assert written <= sizes_module.run_bytes(cfg) <= 4 * written


# --------------------------------------------------------------------------
# the preflight of python -m sim
# --------------------------------------------------------------------------
def test_two_multiruns_started_in_the_same_second_get_their_own_sweep_directories(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argvs = [cli.preflight(["-m", "seed=1,2", "years=2", "output.root=out"], multirun=True) for _ in range(2)]
    dirs = [a[-1].split("=", 1)[1] for a in argvs]
    assert all(a[-1].startswith("hydra.sweep.dir=") for a in argvs)
    assert dirs[0] != dirs[1] and all(Path(d).is_dir() and Path(d).parent == tmp_path / "out" / "sweeps" for d in dirs)
    assert time.strftime("%Y%m%d") in Path(dirs[0]).name
    named = cli.preflight(["-m", "seed=1,2", "hydra.sweep.dir=mine"], multirun=True)
    assert named == ["-m", "seed=1,2", "hydra.sweep.dir=mine"] and not (tmp_path / "mine").exists()


def test_the_config_dir_gets_the_same_checks_as_conf(tmp_path):
    extra = tmp_path / "cd" / "calibrated"
    extra.mkdir(parents=True)
    (extra / "best.yaml").write_text("# @package _global_\nworld:\n  scale: 0.01\n")
    with pytest.raises(ConfigError, match="world.scale"):
        cli.preflight(["--config-dir", str(tmp_path / "cd"), "+calibrated=best"], multirun=False)
    (extra / "best.yaml").write_text("# @package _global_\nyears: 0\n")
    with pytest.raises(ConfigError, match="years"):
        cli.preflight([f"--config-dir={tmp_path / 'cd'}", "+calibrated=best"], multirun=False)
    (extra / "best.yaml").write_text("# @package _global_\nyears: 3\n")
    out = os.fspath(tmp_path / "run")
    assert cli.preflight(["-cd", str(tmp_path / "cd"), "+calibrated=best", f"output.dir={out}"], multirun=False)[0] == "-cd"


@pytest.mark.parametrize("unnamed", [True, False])
def test_the_write_check_leaves_nothing_in_the_directory(tmp_path, monkeypatch, unnamed):
    """The output check tries a file where the run will go and leaves no trace: an unnamed file (O_TMPFILE) that a
    process killed mid-check cannot leave behind, or, where the file system has none, a named one removed at once."""
    from sim.engine import output

    if not unnamed:
        monkeypatch.delattr(output.os, "O_TMPFILE", raising=False)
    assert output.check_writable(tmp_path / "a" / "b", "output.dir") == tmp_path
    assert list(tmp_path.iterdir()) == []
