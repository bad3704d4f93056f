"""Mistakes an audit of every documented command and call found escaping as a traceback, an unclear line, or files
written where none should be: each is now one line (a ConfigError from Python) naming the key and what is allowed,
and nothing is written or half-written.

Command rows run as tests/test_bad_inputs.py runs its table (the command's ``main(argv)`` in this process, runs
stubbed out, or ``python -m ...`` in a new one), with files that may be bytes (a file that is not UTF-8). Rows that
need runs (an exploration analysed again, the dashboard benchmark) come after the table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from _sim_helpers import PROJECT_ROOT, sim_env
from test_bad_inputs import _write_files, check_command_row, snapshot

from sim.checks import ConfigError

NOT_UTF8 = b"name: caf\xe9\n"  # Latin-1 bytes: a file saved in another encoding
STUDY = "name: t\nscenario: baseline\noverrides: ['years=1']\nfactors:\n  - {name: beta, key: world.markets.logit_beta, bounds: [2.0, 8.0]}\n"
STUDY += "outputs:\n  - {name: price, key: price_final_usd_per_kg.west.magnet}\n"
EXPERIMENT = "name: t\nscenarios: [baseline, laissez_faire]\nreference: baseline\nseeds: 1\noverrides: ['years=1']\n"


@dataclass(frozen=True)
class Row:
    id: str
    cmd: str  # as tests/_bad_inputs.py: "sim", "sim.validate", ...
    argv: tuple[str, ...]
    says: tuple[str, ...]
    files: tuple[tuple[str, str | bytes], ...] = ()
    subprocess: bool = False
    code: int = 2


def _ut8(option: str, cmd: str, *argv: str) -> Row:
    return Row(
        f"{cmd}-{option}-not-utf8", cmd, (*argv, option, "f.yaml"), (option, "f.yaml", "not UTF-8", "byte 0xe9 on line 1"), (("f.yaml", NOT_UTF8),)
    )


ROWS = [
    # an override without a key: Hydra took '' for a config group ('Config group override must be a string or a list')
    Row("sim-override-without-key", "sim", ("=5",), ("'=5'", "needs a key before '='", "key=value")),
    Row("sim-append-without-key", "sim", ("+=5",), ("'+=5'", "needs a key", "+key=value"), subprocess=True),
    Row("sim-value-without-key", "sim", ("=a",), ("'=a'", "needs a key")),  # was 'config error: unknown key' (no key)
    # Hydra's modes together, and --resolve alone: ValueError tracebacks from Hydra
    Row("sim-multirun-and-cfg", "sim", ("-m", "seed=1,2", "--cfg", "job"), ("'--cfg'", "--multirun", "one mode", "without -m")),
    Row("sim-multirun-and-cfg-subprocess", "sim", ("-m", "seed=1,2", "--cfg", "job"), ("'--cfg'", "--multirun"), subprocess=True),
    Row("sim-run-and-multirun", "sim", ("-r", "-m", "years=1"), ("'--multirun'", "--run", "one mode")),
    Row("sim-resolve-without-cfg", "sim", ("--resolve", "years=1"), ("'--resolve'", "--cfg job --resolve")),
    # sweep values: a range of step 0 was called an interval; a glob over a value swept nothing and ended with exit 0
    Row("sim-range-step-zero", "sim", ("-m", "seed=range(1,3,0)", "years=1"), ("'seed'", "step must not be 0", "range(start,stop)")),
    Row("sim-glob-of-a-value", "sim", ("-m", "seed=glob(*)", "years=1"), ("'seed'", "glob(...)", "not a config group", "range(start,stop,step)")),
    # empty paths: the sweep or the run went into the working directory, or to the default as if none were given
    Row("sim-sweep-dir-empty", "sim", ("-m", "seed=1,2", "years=1", "hydra.sweep.dir="), ("'hydra.sweep.dir'", "empty path", "results/sweeps/NAME")),
    Row("sim-output-root-empty", "sim", ("years=1", "output.root="), ("'output.root'", "empty path", "results")),
    Row("sim-output-dir-empty", "sim", ("years=1", "output.dir="), ("'output.dir'", "empty path", "null")),
    Row("experiment-root-empty", "sim.experiment", ("--root", ""), ("--root", "empty path")),
    Row("experiment-out-empty", "sim.experiment", ("--out", ""), ("--out", "empty path")),
    Row("sensitivity-out-empty", "sim.sensitivity", ("morris", "--study", "quick", "--out", ""), ("--out", "empty path")),
    Row("calibrate-out-empty", "sim.calibrate", ("--study", "quick", "--out", ""), ("--out", "empty path")),
    Row("explore-out-empty", "sim.explore", ("run", "--study", "quick", "--out", ""), ("--out", "empty path")),
    Row("sweep-table-dir-empty", "sim.sweep", ("table", ""), ("sweep_dir", "empty path")),
    # a file that is not UTF-8: a UnicodeDecodeError traceback from every reader of study, targets and history files
    _ut8("--experiment", "sim.experiment"),
    _ut8("--study", "sim.sensitivity", "morris"),
    _ut8("--study", "sim.calibrate"),
    _ut8("--study", "sim.explore", "run"),
    _ut8("--targets", "sim.validate"),
    _ut8("--history", "sim.validate"),
    # a seed count mistyped by orders of magnitude: the job list (and every run's measures, held until the report) was a
    # hang; now refused at once against this machine's memory
    Row("sim-range-huge", "sim", ("-m", "seed=range(1,100000000)", "years=1"), ("'seed'", "99,999,999 runs", "allowed: fewer runs")),
    Row("validate-seeds-huge", "sim.validate", ("--seeds", "100000000"), ("'--seeds'", "100,000,000 seeds", "allowed: --seeds up to about")),
    Row("calibrate-seeds-huge", "sim.calibrate", ("--study", "quick", "--seeds", "100000000"), ("'--seeds'", "allowed: --seeds up to about")),
    Row("validate-targets-not-utf8-subprocess", "sim.validate", ("--targets", "f.yaml"), ("--targets", "not UTF-8"), (("f.yaml", NOT_UTF8),), True),
    # a Sobol' sample of 2**30 points: numpy's MemoryError while sampling (a traceback), before the disk was asked
    Row(
        "sensitivity-sample-too-large",
        "sim.sensitivity",
        ("sobol", "--study", "quick", "--n", str(2**30)),
        ("'--out'", "runs", "from --n 1073741824", "allowed: fewer runs"),
    ),
    # <out>/report a file: the runs were made, then os.replace raised NotADirectoryError
    Row(
        "experiment-report-a-file",
        "sim.experiment",
        ("--experiment", "e.yaml", "--out", "x"),
        ("'--out'", "report is a file", "move the file away"),
        (("e.yaml", EXPERIMENT), ("x/report", "my notes\n")),
    ),
    Row(
        "experiment-report-only-report-a-file",
        "sim.experiment",
        ("--experiment", "e.yaml", "--report-only", "--out", "x"),
        ("'--out'", "report is a file"),
        (("e.yaml", EXPERIMENT), ("x/report", "my notes\n")),
    ),
]


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id) for r in ROWS])
def test_a_mistake_is_one_line_exit_2_and_nothing_written(row: Row, tmp_path, monkeypatch):
    check_command_row(row, tmp_path, monkeypatch)


# --------------------------------------------------------------------------
# From Python: one ConfigError naming the argument, nothing written
# --------------------------------------------------------------------------
def _fig():
    from sim.research import style

    return style.figure()[0]


def _save(path_of: Callable[[Path], Any], **kw) -> Callable[[Path], Any]:
    def call(tmp: Path):
        from sim.research import style

        return style.save(_fig(), path_of(tmp), **kw)

    return call


def _sweep(func: str, *args: Any) -> Callable[[Path], Any]:
    def call(tmp: Path):
        from sim.research import sweep

        return getattr(sweep, func)(*(a(tmp) if callable(a) else a for a in args))

    return call


def _analysis(setup: Callable[[Path], None], read: Callable[[Any], Any]) -> Callable[[Path], Any]:
    def call(tmp: Path):
        from sim.research import analysis as an

        setup(tmp / "in" / "r")
        return read(an.load_run(tmp / "in" / "r"))

    return call


def _write(files: tuple[tuple[str, str | bytes], ...], cwd: Path) -> None:
    """``files`` (relative path, text or bytes) written under ``cwd``, as a command row's are."""
    _write_files(Row("files", "api", (), (), files), cwd)


def _files(*pairs: tuple[str, bytes]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        _write(pairs, d)

    return setup


def _compose(*args: Any) -> Callable[[Path], Any]:
    def call(tmp: Path):
        from sim.config import compose

        return compose(*args)

    return call


def _best(path_of: Callable[[Path], Any]) -> Callable[[Path], Any]:
    def call(tmp: Path):
        from sim.research.calibrate import best_overrides

        _write((("best.yaml", NOT_UTF8),), tmp / "in" / "c")
        return best_overrides(path_of(tmp))

    return call


API = [
    ("compose-override-without-key", _compose(["=5"]), ("'=5'", "needs a key")),
    ("compose-config-dir-a-number", _compose(["years=1"], 5), ("'--config-dir'", "got 5", "a str or Path")),
    ("best-overrides-none", _best(lambda t: None), ("'path'", "got None", "best.yaml")),
    ("best-overrides-not-utf8", _best(lambda t: t / "in" / "c"), ("'path'", "best.yaml", "not UTF-8")),  # was "not valid YAML: not text"
    ("grid-a-string", _sweep("grid", "seed=1"), ("'axes'", "a mapping of key -> values", "'seed=1'")),
    ("grid-none", _sweep("grid", None), ("'axes'", "got None")),
    ("grid-a-string-of-values", _sweep("grid", {"scenario": "baseline"}), ("axes['scenario']", "['baseline']")),  # was scenario=b, =a, ...
    ("grid-a-number-of-values", _sweep("grid", {"seed": 5}), ("axes['seed']", "range(1, 4)", "got 5")),
    ("run-job-a-string", _sweep("run_job", "years=1", lambda t: t / "s"), ("'overrides'", "list of override strings", "'years=1'")),  # at 'y'
    ("run-job-no-dir", _sweep("run_job", ["years=1"], None), ("'sweep_dir'", "got None")),
    ("run-sweep-no-dir", _sweep("run_sweep", [["years=1"]], None), ("'sweep_dir'", "got None")),
    ("run-sweep-empty-dir", _sweep("run_sweep", [["years=1"]], ""), ("'sweep_dir'", "got ''")),  # ran in the working directory
    ("run-sweep-workers-text", _sweep("run_sweep", [["years=1"]], lambda t: t / "s", "2"), ("'workers'", "whole number", "'2'")),
    ("sweep-table-none", _sweep("sweep_table", None), ("'sweep_dir'", "got None")),
    ("save-into-a-folder", _save(lambda t: t / "work"), ("'path'", "is a folder", "figure.png")),  # wrote work.png beside the folder
    ("save-empty-path", _save(lambda t: ""), ("'path'", "a file path", "got ''")),
    ("save-unknown-format", _save(lambda t: t / "f.png", formats=["png", "pgn"]), ("'formats'", "['png', 'pgn']", "pdf, pgf, png")),
    ("save-no-format", _save(lambda t: t / "f.png", formats=[]), ("'formats'", "non-empty")),
    ("save-not-a-figure", lambda t: __import__("sim.research.style").research.style.save(None, t / "f.png"), ("'fig'", "Figure", "NoneType")),
    ("save-no-folder", _save(lambda t: t / "nowhere" / "f.png"), ("'path'", "no directory", "create it first")),
    ("figure-no-rows", lambda t: __import__("sim.research.style").research.style.figure(0, 1), ("'nrows'", "whole number >= 1", "got 0")),
    ("figure-text-columns", lambda t: __import__("sim.research.style").research.style.figure(1, "2"), ("'ncols'", "got '2'")),
    # was: matplotlib built a million axes and the process ran out of memory
    (
        "figure-too-many-panels",
        lambda t: __import__("sim.research.style").research.style.figure(1000, 1000),
        ("'nrows'", "at most 1,000", "1000 x 1000"),
    ),
    ("run-config-not-utf8", _analysis(_files(("config.yaml", NOT_UTF8)), lambda r: r.config), ("'path'", "config.yaml", "not UTF-8")),
    (
        "run-table-not-parquet",
        _analysis(_files(("config.yaml", b"seed: 1\n"), ("timeseries.parquet", b"PAR1 cut short")), lambda r: r.timeseries),
        ("'path'", "timeseries.parquet", "unreadable Parquet"),
    ),
]


@pytest.mark.parametrize("call, says", [pytest.param(c, s, id=i) for i, c, s in API])
def test_a_mistake_from_python_is_one_config_error(call, says, tmp_path, monkeypatch):
    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as ei:
        call(tmp_path)
    msg = str(ei.value)
    assert "\n" not in msg, msg
    missing = [s for s in says if s not in msg]
    assert not missing, f"the message lacks {missing}: {msg}"
    after = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("in")}  # the call's own input files aside
    assert after == before, "written: " + str(sorted(set(after) ^ set(before)))


def test_a_missing_folder_is_still_a_file_not_found_error(tmp_path):
    from sim.research import style

    with pytest.raises(FileNotFoundError, match="no directory .*nowhere to save f.png in"):
        style.save(_fig(), tmp_path / "nowhere" / "f.png")


def test_check_run_count_refuses_a_count_the_disk_cannot_hold_before_listing_the_runs(tmp_path, monkeypatch):
    """The guard before a job list is built (experiment, sensitivity, exploration): counts below MANY_RUNS are left to the
    exact check; above, the least a run writes x the count against the free space."""
    import shutil
    from collections import namedtuple

    from sim.engine import output

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12, 0))  # a full disk
    output.check_run_count(tmp_path, "--out", output.MANY_RUNS - 1, "few")  # left to the exact check, which names the path first
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 0, 10**10))  # 10 GB free
    output.check_run_count(tmp_path, "--out", 20_000, "some")  # 4 GB at the least: room
    with pytest.raises(ConfigError, match=r"at '--out': .* has 10,000.0 MB free and 100,000,000 runs \(2 x 50000000\) need at least"):
        output.check_run_count(tmp_path, "--out", 100_000_000, "2 x 50000000")


# --------------------------------------------------------------------------
# An exploration analysed again; the dashboard benchmark's --out
# --------------------------------------------------------------------------
EXPLORATION = (
    "name: t\nscenario: baseline\noverrides: ['years=1', 'output.firm_panel=false']\nexperiments: 2\nseeds: 1\n"
    "factors:\n  - {name: beta, key: world.markets.logit_beta, bounds: [2.0, 8.0], kind: lever}\n"
    "outcomes:\n  - {name: o, when: [{key: years_to_independence.west.magnet, rule: '<=', by_year: 2015}]}\n"
)


@pytest.fixture(scope="module")
def exploration(tmp_path_factory) -> Path:
    """A complete exploration of two one-year runs."""
    import yaml

    from sim.research.explore import parse_study, run_exploration

    out = tmp_path_factory.mktemp("exploration") / "x"
    run_exploration(parse_study(yaml.safe_load(EXPLORATION)), out, workers=1, say=lambda s: None, quiet=True)
    return out


def _analyse(d: Path, capsys) -> tuple[int, list[str]]:
    from sim.research.explore import main

    code = main(["analyse", str(d)])
    cap = capsys.readouterr()
    return code, [ln for ln in (cap.out + cap.err).splitlines() if ln.strip()]


def test_a_damaged_sweep_table_is_built_again_from_the_runs(exploration, tmp_path, capsys):
    """analyse read sweep_table.parquet as it was: a table cut short was pyarrow's ArrowInvalid traceback."""
    import shutil

    d = tmp_path / "x"
    shutil.copytree(exploration, d)
    (d / "sweep_table.parquet").write_bytes(b"PAR1 cut short")
    code, lines = _analyse(d, capsys)
    assert code == 0, lines
    assert (d / "report.md").is_file()


def test_a_folder_where_a_result_file_goes_is_refused_before_any_file_moves(exploration, tmp_path, capsys):
    """A folder named report.md: the rename failed after the tables before it had moved (IsADirectoryError, the tables of
    one analysis beside the figures of another). Now one line, and every file as it was."""
    import shutil

    d = tmp_path / "x"
    shutil.copytree(exploration, d)
    (d / "report.md").unlink()
    (d / "report.md").mkdir()
    (d / "report.md" / "note.txt").write_text("mine\n")
    before = {k: v for k, v in snapshot(d).items() if not k.startswith("runs")}
    code, lines = _analyse(d, capsys)
    assert code == 2 and len(lines) == 1, lines
    assert "config error at 'DIR'" in lines[0] and "report.md' is a folder where the results' file report.md goes" in lines[0], lines
    assert "move it away" in lines[0]
    assert {k: v for k, v in snapshot(d).items() if not k.startswith("runs")} == before


QUICK_SCALE = ("--world", "rare_earth", "--scales", "1", "--years", "1", "--no-cli", "--no-default", "--no-mesa")


@pytest.mark.parametrize(
    "script, args, says",
    [
        # --out under a file: the benchmark ran, then Path.mkdir raised NotADirectoryError and the measurement was lost
        ("bench_app.py", ("--no-browser", "--out", "f.txt/b"), ("error: config error at '--out'", "cannot be created", "allowed:")),
        # --out '': Path('') is the working directory, where the tables went
        ("bench_app.py", ("--no-browser", "--out", ""), ("error: --out: an empty path", "allowed:")),
        ("bench_scale.py", (*QUICK_SCALE, "--out", ""), ("error: --out: an empty path", "allowed:")),
    ],
    ids=["app-out-under-a-file", "app-out-empty", "scale-out-empty"],
)
def test_a_benchmark_refuses_an_out_it_cannot_write_before_measuring(script, args, says, tmp_path):
    (tmp_path / "f.txt").write_text("x\n")
    before = snapshot(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / script), *args],
        cwd=tmp_path,
        env={**sim_env(), "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in text, text
    assert all(s in text for s in says), text
    assert snapshot(tmp_path) == before
