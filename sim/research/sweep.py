"""Sweeps: many runs that stream to their own directories, resume after an interruption and
survive a failing run; and the sweep table (a row per run, every input and summary scalar a column).

    python -m sim -m scenario=baseline,west_coordinated seed=range(1,5) hydra.sweep.dir=results/sweeps/NAME
    python -m sim.sweep table results/sweeps/NAME          # -> results/sweeps/NAME/sweep_table.parquet

A job is a list of overrides. Its run directory inside a sweep directory is fixed by the job,
``<sweep_dir>/runs/<scenario>-seed<k>-<hash of the sorted overrides>``, so a sweep started again
with the same sweep directory finds its earlier runs: :func:`run_job` skips a run whose
manifest.json says ``complete``, clears and reruns one that is incomplete (interrupted) or
failed, and records a run that raises as ``"status": "failed"`` with the error and traceback in
its manifest instead of stopping the sweep. The Hydra app (sim/cli.py) runs every multirun job
through :func:`run_job` with Hydra's sweep directory; Python drivers call :func:`run_sweep`.

Following the EMA Workbench's experiments table, :func:`sweep_table` reads every run directory
back into one DataFrame: the run's status and error, its overrides, every input of its
config.yaml as a dotted column (lists as JSON text) and every scalar of its summary.json as a
dotted column (``years_to_first_output.west.magnet``; null -> NaN).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import gc
import hashlib
import itertools
import json
import math
import re
import shutil
import sys
import time
import traceback
import weakref
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
import yaml

from sim.checks import path_argument, shown
from sim.config import Config, ConfigError, check_count, compose, validate
from sim.engine import output

if TYPE_CHECKING:
    from sim.engine.run import RunResult

TABLE_NAME = "sweep_table.parquet"
RUNS = "runs"  # run directories live in <sweep_dir>/runs/
# Overrides that change neither a run's results nor its identity: where results go and terminal output.
# They are left out of the job hash, so a sweep restarted with another output.root or progress finds its runs.
IDENTITY_FREE = ("progress", "output.root", "output.dir")
HASH_CHARS = 10  # 40 bits: a collision is unlikely below ~10^5 jobs in one sweep
META_COLUMNS = ("run", "run_dir", "status", "error", "overrides", "started_at", "finished_at", "wall_time_s", "peak_rss_mb", "git_commit", "host")


class SweepError(ValueError):
    """A user mistake with a sweep directory or job list; the message is one line."""


# --------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------
def override_key(text: str) -> str:
    """The key an override sets: ``+world.x=1`` -> ``world.x``, ``policy@policy.west=c`` -> ``policy@policy.west``."""
    return text.split("=", 1)[0].lstrip("+~")


@functools.lru_cache(maxsize=1)
def _override_parser():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


@functools.lru_cache(maxsize=4096)
def canonical_override(text: str) -> str:
    """One spelling per override, as Hydra's sweeper passes it to a job: ``progress=false`` -> ``progress=False``,
    ``x=0.50`` -> ``x=0.5``, ``a=[1, 2]`` -> ``a=[1,2]`` (an override that does not parse is kept as it is)."""
    try:
        o = _override_parser().parse_override(text)
        return f"{o.get_key_element()}={o.get_value_element_as_str()}"
    except Exception:  # noqa: BLE001 - compose() reports bad overrides; this only names directories
        return text


def job_identity(overrides: Iterable[str]) -> list[str]:
    """The overrides that identify a job: canonical, sorted, without Hydra's own and the IDENTITY_FREE keys."""
    return sorted(canonical_override(o) for o in overrides if not override_key(o).startswith("hydra") and override_key(o) not in IDENTITY_FREE)


def job_hash(overrides: Iterable[str]) -> str:
    """Short hash of :func:`job_identity` (order of the overrides does not matter)."""
    text = "\n".join(job_identity(overrides))
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def job_dir(sweep_dir: str | Path, overrides: Sequence[str], cfg: Config) -> Path:
    """``<sweep_dir>/runs/<scenario>-seed<k>-<hash>``: the same job always gets the same directory."""
    return Path(sweep_dir).absolute() / RUNS / f"{cfg.scenario.name}-seed{cfg.seed}-{job_hash(overrides)}"


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The run's manifest, or None if it has none yet (never written, or interrupted before the end) or it cannot be
    read as a JSON object (:func:`run_status` gives the reason)."""
    return _read_json(Path(run_dir) / "manifest.json")


def is_complete(run_dir: Path) -> bool:
    """The run's manifest says ``complete``, its files are those the manifest records (sim.engine.output.verify_run)
    and its summary.json reads as a JSON object: what the sweep table counts as complete (:func:`run_status`)."""
    m = read_manifest(run_dir)
    return (
        m is not None
        and m.get("status") == "complete"
        and output.verify_run(Path(run_dir), m) is None
        and output.read_json_object(Path(run_dir) / "summary.json")[1] is None
    )


def _say(line: str, err: bool = False) -> None:
    print(line, file=sys.stderr if err else sys.stdout, flush=True)


def execute_job(overrides: Sequence[str], sweep_dir: str | Path, cfg: Config | None = None, log: Callable[[str, bool], None] = _say):
    """Like :func:`run_job`, but also returns the :class:`sim.engine.run.RunResult` (None if skipped or failed)."""
    from sim.engine import run as run_module  # the module, so that tests can replace run_module.run

    overrides = list(overrides)
    if cfg is None:
        cfg = compose(overrides)  # ConfigError: a user mistake, raised before anything is written
    run_dir = job_dir(sweep_dir, overrides, cfg)
    record = {"run_dir": str(run_dir), "status": "complete", "skipped": False, "wall_time_s": 0.0, "error": None}
    if is_complete(run_dir):
        log(f"skip (complete): {run_dir}", False)
        record["skipped"] = True
        return record, None
    if run_dir.exists():  # a failed (or, from before staging, an interrupted) earlier attempt of this same job: start afresh
        shutil.rmtree(run_dir)
    cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, dir=str(run_dir), write=True))  # caller's cfg untouched
    started = time.time()
    try:
        result = run_module.run(cfg, overrides=overrides)  # written beside run_dir, renamed into place when complete
    except Exception as ex:  # noqa: BLE001 - any failure of one run is recorded and the sweep goes on
        error = {"type": type(ex).__name__, "message": str(ex), "traceback": traceback.format_exc()}
        _record_failure(run_dir, cfg, overrides, started, error)
        first_line = (error["message"].strip().splitlines() or [""])[0]
        record.update(status="failed", wall_time_s=round(time.time() - started, 3), error=f"{error['type']}: {first_line}")
        log(f"failed: {run_dir}: {record['error']} (traceback in manifest.json)", True)
        return record, None
    record["wall_time_s"] = round(result.wall_time_s, 3)
    return record, result


def _record_failure(run_dir: Path, cfg: Config, overrides: Sequence[str], started: float, error: dict[str, Any]) -> None:
    """A failed run's directory: its config.yaml (the inputs, for the table) and a manifest with ``"status": "failed"``,
    written beside and renamed into place like a run. If another process completed the job meanwhile, that run stays."""
    try:
        writer = output.RunWriter(run_dir, key="sweep job")
    except ConfigError:
        return  # the job's directory holds a run again (another process): keep it
    try:
        output.write_text(writer.path / "config.yaml", output.config_yaml(cfg))
        output.write_json(
            writer.path / "manifest.json",
            output.manifest(cfg.seed, cfg.scenario.name, list(overrides), started, "failed", {"error": error, **output.file_record(writer.path)}),
        )
        writer.commit()
    except ConfigError:
        pass
    except BaseException:
        writer.discard()
        raise


def run_job(overrides: Sequence[str], sweep_dir: str | Path, cfg: Config | None = None, log: Callable[[str, bool], None] = _say) -> dict[str, Any]:
    """Run one sweep job in ``<sweep_dir>/runs/...`` unless it is already complete.

    ``overrides`` are config overrides (``["scenario=baseline", "seed=3"]``); ``cfg`` the config they
    compose to, if the caller has it already. Returns ``{"run_dir", "status": "complete" | "failed",
    "skipped", "wall_time_s", "error"}``. A run that raises is recorded (manifest.json with
    ``"status": "failed"`` and ``"error": {type, message, traceback}``) and returned, not raised; a
    bad override raises :class:`ConfigError` before anything is written. ``log(line, is_error)``
    receives the skip and failure lines (default: print).
    """
    record, result = execute_job(_jobs_arg(overrides), _dir_arg(sweep_dir), cfg, log)
    release_run(result)
    return record


def release_run(result: RunResult | None) -> None:
    """Free a finished run's model now, so that a worker's next job does not start beside it (a national run at 1:1
    scale: 2.4 GB alone, 3.9 GB with the one before, in a sequential 10-seed sweep, November 2026). A model and its
    agents refer to each other, so reference counting alone never frees them; the model drops its state (``dispose``)
    and its firms, agents and records are freed at once. A full garbage collection, which it replaces, took 70-200 ms
    a run in a worker holding the research tools' imports, whatever the run's size; it still runs if something else
    holds the firm population. The result's model is unusable afterwards."""
    if result is None:
        return
    firms = weakref.ref(result.model.pop)
    result.model.dispose()
    if firms() is not None:
        gc.collect()


def _print_failures(line: str, err: bool = False) -> None:
    """Worker log: only failures are printed where they happen (callers report progress from the records)."""
    if err:
        print(line, file=sys.stderr, flush=True)


def _run_job_args(args: tuple[list[str], str, Config, bool]) -> dict[str, Any]:
    overrides, sweep_dir, cfg, quiet = args
    return run_job(overrides, sweep_dir, cfg, log=_print_failures) if quiet else run_job(overrides, sweep_dir, cfg)


def map_jobs(func: Callable[[Any], Any], args: Sequence[Any], workers: int = 1, on_done: Callable[[int, Any, int], None] | None = None) -> list[Any]:
    """The project's one worker pool: ``func(a)`` for every ``a`` of ``args``, ``workers`` spawned processes at a time.

    ``func`` must be a module-level function (it is pickled into the workers). ``on_done(index, result,
    n_done)`` is called in this process as each call ends (in completion order). Returns the results in
    the order of ``args``. One worker (or one job) runs in this process. Spawned workers start clean
    whatever threads the caller runs (forking a threaded process can deadlock); one seed fixes a run in
    any process. On an interrupt no new job starts and the running ones are abandoned."""
    results: list[Any] = [None] * len(args)
    if workers <= 1 or len(args) <= 1:
        for i, a in enumerate(args):
            results[i] = func(a)
            if on_done:
                on_done(i, results[i], i + 1)
        return results
    pool = ProcessPoolExecutor(max_workers=min(workers, len(args)), mp_context=get_context("spawn"))
    try:
        futures = {pool.submit(func, a): i for i, a in enumerate(args)}
        for done, fut in enumerate(as_completed(futures), start=1):
            i = futures[fut]
            results[i] = fut.result()
            if on_done:
                on_done(i, results[i], done)
    except BaseException:  # an interrupt: no new runs start; complete ones are kept for a restart
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results


def run_jobs(
    jobs: Sequence[Sequence[str]],
    cfgs: Sequence[Config],
    sweep_dir: str | Path,
    workers: int = 1,
    on_done: Callable[[int, dict[str, Any], int], None] | None = None,
    quiet: bool = False,
) -> list[dict[str, Any]]:
    """Run composed jobs with :func:`run_job` in ``sweep_dir`` through :func:`map_jobs`, ``workers`` at a time.

    ``on_done(index, record, n_done)`` is called in this process as each job ends (in completion
    order); ``quiet`` keeps the workers to failure lines. Returns the records in job order."""
    args = [(list(j), str(Path(sweep_dir).absolute()), c, quiet) for j, c in zip(jobs, cfgs)]
    return map_jobs(_run_job_args, args, workers, on_done)


def grid(axes: Mapping[str, Iterable[Any]], *fixed: str) -> list[list[str]]:
    """Every combination of the axes' values as override lists, the fixed overrides first.

    ``grid({"scenario": ["baseline", "laissez_faire"], "seed": range(1, 4)}, "years=10")`` gives 6 jobs,
    the last axis varying fastest (like Hydra's basic sweeper).
    """
    if not isinstance(axes, Mapping):  # grid("seed=1") or grid(None): a TypeError from inside before
        raise ConfigError("axes", f"must be a mapping of key -> values such as {{'seed': range(1, 4)}}, got {shown(axes)}")
    for k, v in axes.items():
        if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):  # a string's letters would be its values
            raise ConfigError(f"axes[{k!r}]", f"must be a list of values such as [{v!r}] or range(1, 4), got {shown(v)}")
    for i, o in enumerate(fixed):
        if not isinstance(o, str):
            raise ConfigError(f"fixed[{i}]", f"the fixed overrides are strings such as 'years=10', got {shown(o)}")
    keys = list(axes)
    values = [list(axes[k]) for k in keys]
    return [list(fixed) + [f"{k}={v}" for k, v in zip(keys, combo)] for combo in itertools.product(*values)]


def _jobs_arg(overrides: Any, key: str = "overrides") -> list[str]:
    """One job's overrides: a list of strings (a string alone is its letters, not overrides)."""
    if isinstance(overrides, (str, bytes)) or not isinstance(overrides, Iterable) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(key, f"must be a list of override strings such as ['scenario=baseline', 'seed=3'], got {shown(overrides)}")
    return list(overrides)


def _dir_arg(path: Any, key: str = "sweep_dir") -> Path:
    """A sweep directory the caller names: a non-empty str or Path (None, a number or '' was a TypeError, or the
    working directory)."""
    return path_argument(path, key, "a sweep directory such as 'results/sweeps/NAME'")


def compose_jobs(jobs: Sequence[Sequence[str]], config_dir: str | Path | None = None) -> list[Config]:
    """``compose(job)`` for every job, Hydra composing once per set of jobs that differ only in their seed.

    A job whose one seed override is a plain number (``seed=7``) gets a copy of its set's config with that seed;
    the set's first and last jobs are composed in full, and if the last differs from its copy (a config file or an
    override that reads the seed) every job of the set is. A compose takes 0.4-0.7 s, so the main experiment's 40 jobs
    compose in about 5 s instead of about 25. The first bad override raises ConfigError, as composing each job would,
    with the job that failed as its ``job`` attribute (for the first job of a set, its overrides without the seed).
    ``config_dir``: the user's config directory (``python -m sim --config-dir DIR``), as for :func:`compose`."""
    jobs = [list(j) for j in jobs]
    sets: dict[tuple[str, ...], list[tuple[int, int | None]]] = {}  # the jobs of each set: (index, seed)
    for i, j in enumerate(jobs):
        seeds = [o for o in j if o.split("=", 1)[0] == "seed"]
        shared = tuple(o for o in j if o not in seeds)
        plain = len(seeds) == 1 and re.fullmatch(r"seed=[1-9][0-9]*|seed=0", seeds[0]) and not any("${" in o for o in shared)
        seed = int(seeds[0].split("=", 1)[1]) if plain else None  # a job of its own unless its seed is plain
        sets.setdefault(shared if plain else ("", str(i)), []).append((i, seed))
    cfgs: list[Config | None] = [None] * len(jobs)

    def composed(i: int, job: list[str]) -> Config:
        try:
            return compose(jobs[i], config_dir=config_dir)
        except ConfigError as err:
            err.job = job  # the job that failed (for a set's first: its overrides but the seed, which every seed shares)
            raise

    for shared, members in sets.items():
        (first, first_seed), (last, last_seed) = members[0], members[-1]
        cfgs[first] = composed(first, list(shared) if first_seed is not None else jobs[first])
        if last == first:
            continue
        cfgs[last] = composed(last, jobs[last])
        same = cfgs[last] == _with_seed(cfgs[first], last_seed)
        for i, seed in members[1:-1]:
            cfgs[i] = _with_seed(cfgs[first], seed) if same else composed(i, jobs[i])
    return cfgs


def _with_seed(cfg: Config, seed: int) -> Config:
    out = copy.deepcopy(cfg)
    out.seed = seed
    return validate(out)


def run_sweep(jobs: Sequence[Sequence[str]], sweep_dir: str | Path, workers: int = 1) -> list[dict[str, Any]]:
    """Run every job (a list of overrides) with :func:`run_job` in ``sweep_dir``, ``workers`` processes at a time.

    Every job is composed and validated first, so a bad override raises :class:`ConfigError` before
    any run starts; two jobs that are the same job raise :class:`SweepError`. Returns the records in
    job order. Restarting with the same jobs and sweep_dir skips the complete runs.
    """
    if isinstance(jobs, str) or any(isinstance(j, str) for j in jobs):  # a string is a sequence of letters, not of overrides
        raise ConfigError("jobs", "a list of jobs, each a list of overrides, e.g. [['seed=1', 'years=2'], ['seed=2', 'years=2']]")
    jobs = [list(j) for j in jobs]
    _dir_arg(sweep_dir)
    check_count("workers", workers)
    cfgs = compose_jobs(jobs)
    seen: dict[Path, list[str]] = {}
    for j, c in zip(jobs, cfgs):
        d = job_dir(sweep_dir, j, c)
        if d in seen:
            raise SweepError(f"jobs {seen[d]} and {j} are the same job (same overrides apart from order and {', '.join(IDENTITY_FREE)})")
        seen[d] = j
    output.check_output(sweep_dir, "sweep_dir", cfgs)  # writable, room for every run: ConfigError before the first
    return run_jobs(jobs, cfgs, sweep_dir, workers)


# --------------------------------------------------------------------------
# Sweep table
# --------------------------------------------------------------------------
def flatten(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Nested dicts -> ``{"a.b.c": scalar}`` (:func:`sim.engine.output.dotted`); lists become JSON text (so that Parquet
    takes them); None stays None; an empty mapping has no keys."""
    return {k: json.dumps(v, default=str) if isinstance(v, (list, tuple)) else v for k, v in output.dotted(obj).items()}


def _read_yaml(path: Path) -> dict[str, Any] | None:
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(path.read_text(), Loader=loader)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _read_json(path: Path) -> dict[str, Any] | None:
    return output.read_json_object(path)[0]


def run_status(run_dir: Path) -> dict[str, Any]:
    """The status columns of one run directory (from its manifest.json). No manifest (a run still being written, or
    killed): ``incomplete``. A manifest or summary.json that cannot be read as a JSON object, or files that are not the
    ones the manifest records: ``incomplete``, with the reason as ``error`` (as :func:`is_complete` and
    sim.research.analysis.load_runs, which skip such a run)."""
    run_dir = Path(run_dir)
    return _run_status(run_dir, output.read_json_object(run_dir / "summary.json")[1])


def _run_status(run_dir: Path, summary_problem: str | None) -> dict[str, Any]:
    """:func:`run_status`, given why the run's summary.json cannot be read (None: it can, or there is none)."""
    m, problem = output.read_json_object(run_dir / "manifest.json")
    m = m or {}
    err = m.get("error")
    status = m.get("status", "incomplete")
    error = f"{err.get('type')}: {(str(err.get('message')).strip().splitlines() or [''])[0]}" if isinstance(err, dict) else err
    if problem:
        status, error = "incomplete", problem
    if m:
        mismatch = output.verify_run(run_dir, m)
        if mismatch:
            status, error = "incomplete", mismatch
        elif status == "complete" and summary_problem:
            status, error = "incomplete", summary_problem
    name = output.staging_target(run_dir).name if output.is_staging(run_dir) else run_dir.name
    return {
        "run": name,
        "run_dir": str(run_dir),
        "status": status,
        "error": error,
        "overrides": json.dumps(m["overrides"]) if "overrides" in m else None,
        "started_at": m.get("started_at"),
        "finished_at": m.get("finished_at"),
        "wall_time_s": m.get("wall_time_s"),
        "peak_rss_mb": m.get("peak_rss_mb"),
        "git_commit": (m.get("git") or {}).get("commit"),
        "host": m.get("host"),
    }


def _parquet_ready(df: pd.DataFrame) -> pd.DataFrame:
    """Columns of one type each: null -> NaN/None, mixed int/float -> float, other mixtures -> JSON text."""
    for col in df.columns:
        s = df[col]
        if s.dtype != object:
            continue
        present = s[s.notna()]
        types = {type(v) for v in present}
        if not types or types <= {str}:
            continue
        if types <= {bool}:
            df[col] = s.astype("boolean")  # True/False/<NA>, the same after a Parquet round trip
            continue
        if types <= {int, float}:
            df[col] = pd.to_numeric(s, errors="coerce").astype(float)
        else:
            df[col] = s.map(lambda v: v if v is None or (isinstance(v, float) and math.isnan(v)) else json.dumps(v, default=str))
    return df


def run_dirs(sweep_dir: str | Path) -> list[Path]:
    """The run directories of a sweep (sorted), and for a job that has none yet the hidden directory it is being
    written in (or was, when killed: it counts as incomplete); SweepError if the sweep directory does not exist."""
    sweep_dir = _dir_arg(sweep_dir)
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise SweepError(f"sweep directory '{sweep_dir}' is a file, not a directory")
    if not sweep_dir.is_dir():
        raise SweepError(f"sweep directory '{sweep_dir}' does not exist")
    base = sweep_dir / RUNS
    if not base.is_dir():
        return []
    dirs = [p for p in base.iterdir() if p.is_dir()]
    runs = {p for p in dirs if not p.name.startswith(".")}
    staging: dict[Path, Path] = {}
    for p in sorted((p for p in dirs if output.is_staging(p)), key=lambda p: p.stat().st_mtime):
        target = output.staging_target(p)
        if target not in runs:
            staging[target] = p  # the newest attempt of the job
    return sorted([*runs, *staging.values()], key=lambda p: output.staging_target(p).name if output.is_staging(p) else p.name)


def _not_a_sweep_dir(path: Path) -> str:
    """What to give instead when ``path`` is a sweep's runs/ directory or one of its run directories ('' otherwise)."""
    path = path.absolute()
    if path.name == RUNS:
        what, sweep = "a sweep's runs/ directory", path.parent
    elif path.parent.name == RUNS or (path / "manifest.json").is_file():
        what, sweep = "a run directory", path.parent.parent if path.parent.name == RUNS else None
    else:
        return ""
    where = f", here '{sweep}'" if sweep is not None else ""
    return f": '{path}' is {what}; allowed: the sweep directory (the parent of runs/){where}"


def is_sweep_table(path: Path) -> bool:
    """Whether ``path`` is a Parquet file :func:`write_table` wrote (its schema has the table's status columns)."""
    try:
        import pyarrow.parquet as pq

        names = set(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001 - not Parquet, unreadable, ...: not a sweep table
        return False
    return {"run", "run_dir", "status", "overrides"} <= names


def sweep_table(sweep_dir: str | Path, configs: Mapping[Path, dict[str, Any]] | None = None) -> pd.DataFrame:
    """A row per run directory of the sweep (complete, failed and incomplete), sorted by scenario, seed, run.

    Columns: ``run`` (directory name), ``run_dir``, ``status`` (complete | failed | incomplete: no
    manifest yet, or one of :func:`run_status`'s reasons), ``error`` ("Type: message" of a failed run; why a run with a
    manifest is incomplete, such as ``summary.json: unreadable JSON (...)``), ``overrides`` (JSON list),
    ``started_at``, ``finished_at``, ``wall_time_s``, ``peak_rss_mb`` (the peak resident memory of the process that
    ran it, from manifest.json), ``git_commit``, ``host``; then every input of the
    run's config.yaml under its dotted key (``seed``, ``scenario.name``, ``world.markets.logit_beta``,
    ...; lists as JSON text); then every scalar of its summary.json under its dotted path
    (``years_to_first_output.west.magnet``, ``scenario``, ...; null and absent -> NaN), prefixed
    ``summary.`` where the path is also an input's name (``summary.seed``, ``summary.policy.west.regime``).
    ``df.attrs["inputs"]`` and ``df.attrs["outputs"]`` name the two groups of columns (:class:`ColumnNames`).
    Raises SweepError if the directory is missing or holds no runs. ``configs``: the config.yaml of run directories
    the caller has read already (by resolved path: the experiment report's runs), so that it is not parsed again;
    any other directory's is read here.
    """
    dirs = run_dirs(sweep_dir)
    if not dirs:
        raise SweepError(f"no run directories in '{Path(sweep_dir) / RUNS}'{_not_a_sweep_dir(Path(sweep_dir))}")
    summaries = [output.read_json_object(d / "summary.json") for d in dirs]  # read once: the status and the output columns
    status = [_run_status(d, problem) for d, (_, problem) in zip(dirs, summaries)]
    known = configs or {}
    read = [
        known[k] if known and (k := d.resolve()) in known else _read_yaml(d / "config.yaml") for d in dirs
    ]  # a path resolved only where configs were given
    inputs = [flatten(c or {}) for c in read]
    outputs = [flatten(summary or {}) for summary, _ in summaries]
    input_cols = list(dict.fromkeys(k for row in inputs for k in row))
    taken = set(input_cols) | set(META_COLUMNS)
    outputs = [{(f"summary.{k}" if k in taken else k): v for k, v in row.items()} for row in outputs]
    output_cols = list(dict.fromkeys(k for row in outputs for k in row))
    df = pd.DataFrame([{**s, **i, **o} for s, i, o in zip(status, inputs, outputs)], columns=list(META_COLUMNS) + input_cols + output_cols)
    order = [c for c in ("scenario.name", "seed", "run") if c in df.columns]
    df = df.sort_values(order, kind="stable", key=lambda s: s.astype(str) if s.dtype == object else s).reset_index(drop=True)
    df = _parquet_ready(df)
    df.attrs["inputs"], df.attrs["outputs"] = ColumnNames(input_cols), ColumnNames(output_cols)
    return df


class ColumnNames(tuple):
    """The names of a group of a table's columns, kept in ``DataFrame.attrs``. pandas deep-copies a frame's attrs
    into every frame an operation returns, a column taken out included, so a list of a thousand names there made
    writing a table of a thousand columns quadratic (1.3 s against 0.19 s for four runs of the default world);
    a tuple of strings cannot change, so its copy is itself. Written to Parquet as a list, as a list was."""

    __slots__ = ()

    def __deepcopy__(self, memo) -> ColumnNames:
        return self


def read_table(path: str | Path) -> pd.DataFrame:
    """A sweep table written by :func:`write_table`, its column groups back in attrs as :class:`ColumnNames`."""
    df = pd.read_parquet(path)
    df.attrs = {k: ColumnNames(v) if k in ("inputs", "outputs") else v for k, v in df.attrs.items()}
    return df


def varying_inputs(df: pd.DataFrame) -> list[str]:
    """Input columns whose value differs between runs of the table (what the sweep swept)."""
    roots = {f.name for f in dataclasses.fields(Config)}
    cols = df.attrs.get("inputs") or [c for c in df.columns if c not in META_COLUMNS and c.split(".")[0] in roots]
    return [c for c in cols if c in df.columns and c not in IDENTITY_FREE and df[c].astype(str).nunique(dropna=False) > 1]


def write_table(
    sweep_dir: str | Path, out: str | Path | None = None, configs: Mapping[Path, dict[str, Any]] | None = None
) -> tuple[Path, pd.DataFrame]:
    """Build the sweep table and write it as Parquet (atomically); default ``<sweep_dir>/sweep_table.parquet``.
    ``configs``: as :func:`sweep_table`'s."""
    df = sweep_table(sweep_dir, configs)
    path = Path(out) if out is not None else Path(sweep_dir) / TABLE_NAME
    if not path.parent.is_dir():
        raise SweepError(f"--out: directory '{path.parent}' does not exist")
    try:
        if path.is_dir():  # os.replace cannot put the table in its place
            allowed = "allowed: a file path for the Parquet table" if out is not None else "move it away, or give --out FILE"
            raise ConfigError("--out", f"'{path}' is a directory; {allowed}")
        if out is not None and (path.exists() or path.is_symlink()) and not is_sweep_table(path):  # never overwrite another file
            example = f", e.g. '{path.with_suffix('.parquet')}'" if path.suffix != ".parquet" else ""
            raise ConfigError(
                "--out",
                f"'{path}' exists and is not a sweep table (a Parquet file this command wrote), so it is not replaced; "
                f"allowed: a new path for the table (a .parquet file{example}) or an existing sweep table",
            )
        if out is not None and path.suffix.lower() != ".parquet":  # was: Parquet written under the name the user gave, e.g. t.csv
            raise ConfigError(
                "--out",
                f"'{path}' does not end in .parquet, and the table is written as Parquet only (its column groups live in the "
                f"file's metadata; for CSV, read it with pandas.read_parquet and save that); allowed: a path ending in .parquet, "
                f"e.g. '{path.with_suffix('.parquet')}'",
            )
        output.check_writable(path.parent, "--out", shown=path)
    except ConfigError as err:
        raise SweepError(err.problem if out is None else f"--out: {err.problem}") from None
    output.write_parquet(path, df)
    return path, df


def swept_keys(df: pd.DataFrame) -> list[str]:
    """Override keys whose value differs between the runs of a table (what the sweep swept), in first-seen order."""
    values: dict[str, set[str]] = {}
    rows = [json.loads(v) if isinstance(v, str) else [] for v in df["overrides"]]
    for ovs in rows:
        for o in ovs:
            if override_key(o) not in IDENTITY_FREE:
                values.setdefault(override_key(o), set())
    for key in values:
        for ovs in rows:
            values[key].add(next((canonical_override(o) for o in ovs if override_key(o) == key), ""))
    return [k for k, v in values.items() if len(v) > 1]


def table_line(path: Path, df: pd.DataFrame) -> str:
    counts = df["status"].value_counts()
    parts = ", ".join(f"{int(counts.get(s, 0))} {s}" for s in ("complete", "failed", "incomplete"))
    return f"sweep table {path}: {len(df)} runs ({parts}), {df.shape[1]} columns; swept: {', '.join(swept_keys(df)) or 'nothing'}"


# --------------------------------------------------------------------------
# Hydra callback: after a multirun, write the sweep table and say what failed
# --------------------------------------------------------------------------
LAST_MULTIRUN: dict[str, Any] = {}  # filled in the launching process by SweepCallback (read by sim.cli.main)

try:
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover - hydra-core is a dependency
    _HydraCallback = object  # type: ignore[misc,assignment]


class SweepCallback(_HydraCallback):
    """Configured in conf/config.yaml (hydra.callbacks.sweep_table); runs in the launching process."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
        LAST_MULTIRUN.clear()
        LAST_MULTIRUN["sweep_dir"] = sweep_dir
        try:
            path, df = write_table(sweep_dir)
        except SweepError as ex:
            _say(f"sweep table not written: {ex}", True)
            return
        LAST_MULTIRUN["failed"] = df.loc[df["status"] != "complete", "run"].tolist()
        _say(table_line(path, df))


# --------------------------------------------------------------------------
# python -m sim.sweep table SWEEP_DIR [--out FILE]
# --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    from sim.research.driver import CommandParser, command_parser, path_text

    ap = command_parser("python -m sim.sweep", "Sweep tools. table: one row per run directory of a sweep, as Parquet.")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    tab = sub.add_parser("table", help="write the sweep table (a row per run: status, every input, summary scalars)")
    tab.add_argument("sweep_dir", type=path_text, help="the sweep directory (hydra.sweep.dir of the multirun); its runs are in SWEEP_DIR/runs/")
    tab.add_argument("--out", type=path_text, default=None, help=f"output Parquet file, a path ending in .parquet (default SWEEP_DIR/{TABLE_NAME})")
    args = ap.parse_args(argv)
    try:
        path, df = write_table(args.sweep_dir, args.out)
    except SweepError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 2
    print(table_line(path, df))
    return 0


if __name__ == "__main__":
    sys.exit(main())
