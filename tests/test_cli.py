"""``python -m sim`` in a fresh process (sim/cli.py, sim/engine/run.py, sim/engine/output.py).

A bad configuration ends with exactly one line naming the key and what is allowed, exit code 2,
no traceback and nothing written; a good run prints progress and a summary table and leaves one
complete run directory. Every process runs in a temporary working directory (the default
``output.root`` is relative), so nothing is written under the repository's results/.
"""

from __future__ import annotations

import io
import json
import re
import time
from datetime import datetime
from pathlib import Path

import pytest
from _config_cases import ACCEPTED_AT_BOUNDS, BAD_CONFIGS, CLI_DEFAULT, BadConfig
from _sim_helpers import RUN_FILES, run_dirs, run_sim, start_sim, tree
from omegaconf import OmegaConf

import sim.engine.output as output
from sim.config import compose, to_config

STAGES = ("mining", "separation", "metal", "magnet")
BLOCS = ("china", "west", "rest_of_world")


def _one_line(proc) -> str:
    """The whole terminal output (stdout + stderr), which must be one non-empty line."""
    text = (proc.stdout + proc.stderr).strip()
    lines = text.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"expected one line, got {len(lines)}:\n{text}"
    return lines[0]


def _assert_clean_config_error(proc, key: str, fragments=(), cwd: Path | None = None, root: Path | None = None):
    line = _one_line(proc)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 2, f"exit code {proc.returncode}: {line}"
    assert line.startswith(f"error: config error at '{key}': "), line
    missing = [f for f in fragments if f not in line]
    assert not missing, f"message lacks {missing}: {line}"
    if cwd is not None:
        assert tree(cwd) == [], f"written in the working directory: {tree(cwd)}"
    if root is not None:
        assert tree(root) == [], f"written under the results root: {tree(root)}"


# --------------------------------------------------------------------------
# Bad configurations
# --------------------------------------------------------------------------
EXPLICIT_ROOT = {"unknown-top-level", "missing-scenario-file", "negative-capacity", "cohort-unknown-bloc", "type-seed-str"}


@pytest.mark.parametrize("case", [c.param(slow=c.id not in CLI_DEFAULT) for c in BAD_CONFIGS])
def test_bad_config_one_line_exit_2_nothing_written(case: BadConfig, tmp_path):
    cwd, root = tmp_path / "work", tmp_path / "results"
    # the default results root is relative ("results"): it resolves inside cwd, which must stay empty; a few
    # cases also name an explicit root outside cwd, which must not be created
    explicit = case.id in EXPLICIT_ROOT
    proc = run_sim(*case.overrides, *([f"output.root={root}"] if explicit else []), cwd=cwd)
    _assert_clean_config_error(proc, case.key, case.fragments, cwd=cwd, root=root)
    assert proc.stdout == "", "the error goes to stderr"


def test_bad_config_in_multirun_is_one_line_too(tmp_path):
    cwd, root = tmp_path / "work", tmp_path / "results"
    proc = run_sim("-m", "seed=1,2", "years=1", "world.markets.foo=1", f"output.root={root}", cwd=cwd)
    _assert_clean_config_error(proc, "world.markets.foo", ("unknown key", "logit_beta"), cwd=cwd, root=root)


# Values that validate() accepts but that the model cannot run with (tests/_config_cases.py; test_config.py runs
# them in-process). Either outcome is fine - the run completes, or validation rejects the value cleanly - but never
# a traceback and a half-written run directory. Slow: about 3 s each.
@pytest.mark.slow
@pytest.mark.parametrize("case", [c.param() for c in ACCEPTED_AT_BOUNDS])
def test_config_accepted_by_validation_runs_or_is_rejected_cleanly(case: BadConfig, tmp_path):
    cwd, root = tmp_path / "work", tmp_path / "results"
    proc = run_sim(*case.overrides, "years=2", "progress=false", f"output.root={root}", cwd=cwd)
    assert "Traceback" not in proc.stdout + proc.stderr
    if proc.returncode == 2:
        _assert_clean_config_error(proc, case.key, cwd=cwd, root=root)
    else:
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
        (d,) = run_dirs(root)
        assert json.loads((d / "manifest.json").read_text())["status"] == "complete"


# --------------------------------------------------------------------------
# A good run
# --------------------------------------------------------------------------
GOOD_ARGS = ("years=3", "seed=5", "world.markets.logit_beta=5")


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("good")
    cwd, root = base / "work", base / "results"
    args = GOOD_ARGS + (f"output.root={root}",)
    proc = run_sim(*args, cwd=cwd)
    return proc, cwd, root, args


def test_good_run_exits_0_with_progress_and_summary_table(good_run):
    proc, _, root, _ = good_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    (d,) = run_dirs(root)
    # progress lines (stderr): the run directory, then dated lines per bloc
    assert f"run directory: {d}" in proc.stderr
    progress = [ln for ln in proc.stderr.splitlines() if re.match(r"^\d{4}Q[1-4]  china: \d+ firms", ln)]
    assert progress and progress[-1].startswith("2017Q4"), proc.stderr
    assert all(f"{b}: " in progress[-1] for b in BLOCS)
    # the summary table (stdout): header, one row per bloc and stage, the outputs line
    out = proc.stdout.splitlines()
    assert out[0].startswith("scenario baseline, seed 5, 3 years from 2015")
    assert re.match(r"^bloc\s+stage\s+capacity kt/yr", out[1])
    rows = [ln.split() for ln in out if ln.split() and ln.split()[0] in BLOCS]
    assert [(r[0], r[1]) for r in rows] == [(b, s) for b in BLOCS for s in STAGES]
    assert out[-1] == f"outputs: {d}"


def test_good_run_leaves_one_complete_run_directory(good_run):
    proc, cwd, root, args = good_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    (d,) = run_dirs(root)
    assert re.fullmatch(r"\d{8}-\d{6}-baseline-seed5-[a-z0-9_]{8}", d.name), d.name  # tempfile.mkdtemp's suffix
    assert {p.name for p in d.iterdir()} == RUN_FILES  # and no temporary files left
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["seed"] == 5 and manifest["scenario"] == "baseline"
    assert manifest["overrides"] == list(args)
    assert manifest["n_quarters"] == 12
    summary = json.loads((d / "summary.json").read_text())
    assert (summary["seed"], summary["years"], summary["scenario"]) == (5, 3, "baseline")
    # Hydra writes nothing of its own: no outputs/, .hydra/, multirun/ or logs in the working directory
    assert tree(cwd) == []


def test_resolved_config_of_a_cli_run_equals_compose(good_run):
    """The run's config.yaml is the config the preflight composed and the run resolved; compose() gives the same."""
    proc, _, root, args = good_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    (d,) = run_dirs(root)
    written = to_config(OmegaConf.load(d / "config.yaml"))
    assert written == compose(list(args))
    assert written.world.markets.logit_beta == 5.0


def test_a_plain_run_and_the_hydra_app_write_the_same_run(good_run, tmp_path):
    """A plain run runs the config the preflight composed (sim/cli.py); with a ``hydra.*`` override the same run goes
    through Hydra's app, which composes it again: the same data files byte for byte, the same summary and config but
    for the wall time and the output root, the same overrides in the manifest (Hydra's own are not the task's)."""
    proc, _, root, args = good_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    root2 = tmp_path / "results"
    args2 = GOOD_ARGS + (f"output.root={root2}",)
    proc2 = run_sim(*args2, "hydra.job.chdir=false", cwd=tmp_path / "work")
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    (d1,), (d2,) = run_dirs(root), run_dirs(root2)
    for name in sorted(RUN_FILES - {"summary.json", "manifest.json", "config.yaml"}):
        assert (d1 / name).read_bytes() == (d2 / name).read_bytes(), name
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (d1, d2))
    assert {k: v for k, v in s1.items() if k != "wall_time_s"} == {k: v for k, v in s2.items() if k != "wall_time_s"}
    c1, c2 = (OmegaConf.load(d / "config.yaml") for d in (d1, d2))
    c2.output.root = c1.output.root
    assert c1 == c2
    assert json.loads((d2 / "manifest.json").read_text())["overrides"] == list(args2)
    # the summary table (its first line gives the wall time, the last the directory)
    assert proc.stdout.splitlines()[1:-1] == proc2.stdout.splitlines()[1:-1]


def test_runs_started_in_the_same_second_get_different_directories(tmp_path):
    cwd, root = tmp_path / "work", tmp_path / "results"
    args = ("years=1", "seed=9", "progress=false", f"output.root={root}")
    procs = [start_sim(*args, cwd=cwd) for _ in range(2)]
    results = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err[-3000:]
    dirs = run_dirs(root)
    assert len(dirs) == 2, dirs
    for d in dirs:
        assert {p.name for p in d.iterdir()} == RUN_FILES
        assert json.loads((d / "manifest.json").read_text())["status"] == "complete"
    outputs = sorted(ln for out, _ in results for ln in out.splitlines() if ln.startswith("outputs: "))
    assert outputs == sorted(f"outputs: {d}" for d in dirs)  # each process reports its own directory


def test_new_run_dir_is_unique_within_one_second(tmp_path, monkeypatch):
    """Same timestamp, scenario and seed: still distinct, empty directories (tempfile.mkdtemp's random suffix)."""

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2030, 1, 2, 3, 4, 5, tzinfo=tz)

    monkeypatch.setattr(output, "datetime", FrozenDatetime)
    dirs = [output.new_run_dir(tmp_path, "laissez_faire", 1) for _ in range(20)]
    assert len(set(dirs)) == 20 and all(d.is_dir() and d.parent == tmp_path / "runs" for d in dirs)
    assert all(re.fullmatch(r"20300102-030405-laissez_faire-seed1-[a-z0-9_]{8}", d.name) for d in dirs)
    b = dirs[-1]
    assert list(b.iterdir()) == []


# --------------------------------------------------------------------------
# Hydra multirun
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def multirun(tmp_path_factory):
    base = tmp_path_factory.mktemp("multirun")
    cwd, root = base / "work", base / "results"
    started = time.time()
    proc = run_sim("-m", "seed=1,2", "years=2", "progress=false", f"output.root={root}", cwd=cwd)
    return proc, cwd, root, started


def test_multirun_gives_one_complete_directory_per_job(multirun):
    proc, _, root, _ = multirun
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweeps = list((root / "sweeps").iterdir())  # a multirun's runs are in <sweep dir>/runs/ (sim/research/sweep.py)
    assert len(sweeps) == 1, sweeps
    dirs = run_dirs(sweeps[0])
    assert len(dirs) == 2, dirs
    seeds = []
    for d in dirs:
        assert {p.name for p in d.iterdir()} == RUN_FILES
        m = json.loads((d / "manifest.json").read_text())
        assert m["status"] == "complete" and m["n_quarters"] == 8
        seeds.append(m["seed"])
        assert json.loads((d / "summary.json").read_text())["seed"] == m["seed"]
    assert sorted(seeds) == [1, 2]
    assert proc.stdout.count("outputs: ") == 2


def test_multirun_writes_nothing_in_the_working_directory(multirun):
    proc, cwd, _, _ = multirun
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert tree(cwd) == []


def test_a_sweep_directory_built_from_the_config_is_the_one_used_and_found_again(tmp_path):
    """hydra.sweep.dir=${output.root}/sweeps/NAME is resolved before the sweep (it used to be replaced by a new
    unique directory, so the same command never resumed). ${now:...} and a broken interpolation: tests/_bad_inputs.py."""
    from sim import cli

    cwd, root = tmp_path / "work", tmp_path / "results"
    named = ("-m", "seed=1,2", "years=2", "progress=false", "hydra.sweep.dir=${output.root}/sweeps/named", f"output.root={root}")
    proc = run_sim(*named, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in (root / "sweeps").iterdir()] == ["named"]
    assert len(run_dirs(root / "sweeps" / "named")) == 2 and tree(cwd) == []
    # the same command again: the same directory (the runs are skipped as complete, tests/test_sweep.py)
    assert cli.preflight(list(named), multirun=True)[-2] == f"hydra.sweep.dir={root}/sweeps/named"
    assert [p.name for p in (root / "sweeps").iterdir()] == ["named"]


@pytest.mark.parametrize(
    "module, argv, parsed",
    [
        ("experiment", ["--seeds", "2", "years=2", "--out", "X", "progress=false"], {"seeds": 2, "out": "X"}),
        ("validate", ["--seeds", "1", "years=11", "--out", "X", "progress=false"], {"seeds": 1, "out": "X"}),
        ("explore", ["run", "--out", "X", "--study", "quick", "years=15", "--workers", "1", "progress=false"], {"workers": 1, "study": "quick"}),
    ],
)
def test_the_drivers_take_overrides_after_their_options(module, argv, parsed, monkeypatch):
    """sim.experiment, sim.validate and sim.explore run take overrides anywhere among the options, as sim.calibrate
    and sim.sensitivity do (they said 'unrecognized arguments: progress=false'). Stopped at the first check after
    parsing: nothing runs."""
    import importlib

    import sim.research.driver

    class Parsed(Exception):
        pass

    def stop(args):
        raise Parsed(args)

    mod = importlib.import_module(f"sim.research.{module}")
    monkeypatch.setattr(mod if hasattr(mod, "check_counts") else sim.research.driver, "check_counts", stop)
    with pytest.raises(Parsed) as got:
        mod.main(argv)
    args = vars(got.value.args[0])
    assert args["overrides"] == [a for a in argv if "=" in a and not a.startswith("-")]
    assert {k: args[k] for k in parsed} == parsed


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_display_prints_plain_lines_off_a_terminal_and_a_bar_on_one():
    """sim/progress.py (a single run and every driver): a pipe gets the lines exactly, a terminal also a bar,
    and a disabled display (progress=false) prints nothing."""
    from sim.progress import Progress

    pipe, term, off = io.StringIO(), _Terminal(), io.StringIO()
    for stream, enabled in ((pipe, True), (term, True), (off, False)):
        with Progress(total=3, enabled=enabled, stream=stream) as p:
            p.advance(text="first")
            p.advance(2)
            p.line("last")
    assert pipe.getvalue() == "first\nlast\n"
    assert off.getvalue() == ""
    assert "first" in term.getvalue() and "\r" in term.getvalue() and "3/3" in term.getvalue()
