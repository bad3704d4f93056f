"""Analysis API for notebooks and reports: load runs into tidy frames, reduce replications to
median and quantile bands, paired scenario differences with bootstrap intervals, and figures.

    from sim.research.analysis import load_runs, tidy, timeline_frame, reduce, paired_differences, plot_timeline

    runs = load_runs("results/runs")                 # every complete run under a directory (or a list of dirs)
    ts = tidy(runs, "timeseries")                    # one table over runs: run, scenario, seed in front
    tl = timeline_frame(runs)                        # years to first output / independence per run, bloc, stage
    reduce(tl, ["scenario", "bloc", "stage"], "years_to_independence")     # n, n_missing, mean, q05, median, q95
    paired_differences(tl, "years_to_independence", by=["bloc", "stage"])  # other scenario minus baseline, per seed
    timeline_table(tl)                               # median and 10-90% over seeds, "never" right-censored
    timeline_differences(independence_years(runs, from_year=2025), "independence_year")  # paired, never counted
    plot_timeline(tl).savefig("timeline.png")

Everything here is a pure function of its inputs (a run is read, never written). Replications are
reduced across runs (seeds) of the same scenario: the line of a plot is the median across seeds
and the band the 5-95% quantiles. Figures are built with ``matplotlib.figure.Figure`` directly
(not pyplot), so nothing is ever shown, no display or interactive backend is needed, figures
are not kept alive by pyplot, and ``fig.savefig(path)`` renders with Agg. They also display in a
notebook cell without ``%matplotlib``.

"Never" (a bloc that does not reach first output or independence within the horizon) is NaN in
the frames, with boolean columns saying whether it was reached. ``reduce`` counts NaN rows as
``n_missing`` and takes quantiles over the rest; ``paired_differences`` drops pairs with a NaN
side and counts them, unless a censoring value (such as the horizon) is given. The timeline
functions treat it as right-censored at the end of the run: ``timeline_table`` takes quantiles over
all seeds with "never" after every reached time (a quantile is then a value, a lower bound or
never), ``timeline_differences`` counts the pairs in which one side or neither reached.

A user's mistake (an argument of the wrong kind, a column, bloc, stage or tier that is not there, a number out of
range, a path that is not a run, one table given in another's place, a filter that matched nothing) raises one
:class:`sim.checks.ConfigError` naming the argument and what is allowed (also a TypeError, KeyError or
FileNotFoundError where one was raised before), never an empty frame or figure.
"""

from __future__ import annotations

import math
import os
import warnings
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter
from matplotlib.transforms import blended_transform_factory

from agents.firms import Tier
from sim.checks import ConfigError, read_text, yaml_problem
from sim.engine import output
from sim.research import style

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TARGETS_FILE = PROJECT_ROOT / "conf" / "validation" / "targets.yaml"
NATIONAL_TABLES = ("national", "provinces", "sectors", "reviews")  # a national run's tables (docs/ODD.md 7.15)
TABLES = ("timeseries", "events", "policy", "firms", *NATIONAL_TABLES)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when libyaml is there: 5x faster
ID_COLUMNS = ("run", "scenario", "seed")
TIERS = tuple(t.name.lower() for t in Tier)  # none, innovation_type, srdi, little_giant (as sim/engine/policy_metrics.py TIER_NAMES)
DESIGNATED_TIERS = TIERS[1:]

# Reference timelines for a committed Western effort, years (MODEL.md 5.4, from the seed article's table
# "Timeline Estimates for Western Rare Earth Independence": mine development 3-7, processing 5-10,
# downstream manufacturing 7-15). Used when conf/validation/targets.yaml has no such target.
REFERENCE_RANGES = {"mining": (3.0, 7.0), "separation": (5.0, 10.0), "metal": (5.0, 10.0), "magnet": (7.0, 15.0)}


# ----------------------------------------------------------------------------------------------
# A user's mistake: one ConfigError naming the argument and what is allowed (never pandas', numpy's or
# matplotlib's error, nor an empty frame or figure). Where the API raised a TypeError, KeyError or
# FileNotFoundError before, the error is also one of those.
# ----------------------------------------------------------------------------------------------
class ArgumentTypeError(ConfigError, TypeError):
    """An argument of the wrong kind (a number for a list, a path for runs): a one-line ConfigError that is also a TypeError."""


class MissingColumn(ConfigError, KeyError):
    """A table without a column the call needs: a one-line ConfigError that is also a KeyError."""

    __str__ = BaseException.__str__  # the message as it is (KeyError's would quote it)


class NotFound(ConfigError, FileNotFoundError):
    """A file or directory the user names that does not exist: a one-line ConfigError that is also a FileNotFoundError."""


def _got(value: Any) -> str:
    """A short description of a value a user passed, for "got ..." (never a whole frame or a long list of runs)."""
    if isinstance(value, str):
        return f"the string '{value}'"
    if value is None or isinstance(value, (bool, int, float, np.integer, np.floating)):
        return str(value)
    if isinstance(value, pd.DataFrame):
        return "DataFrame"
    if isinstance(value, Run):
        return f"Run ({value.name})"
    if isinstance(value, os.PathLike):
        return f"the path {value}"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Run) for v in value):
        return f"{type(value).__name__} of {len(value)} Run(s)"
    text = repr(value)
    return type(value).__name__ + (f" {text}" if len(text) <= 60 else "")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _number(value: Any, arg: str, lo: float, hi: float, open_interval: bool = False) -> float:
    """``value`` as a float in [lo, hi] (``open_interval``: in (lo, hi))."""
    interval = f"({lo:g}, {hi:g})" if open_interval else f"[{lo:g}, {hi:g}]"
    if not _is_number(value) or math.isnan(float(value)):
        raise ArgumentTypeError(arg, f"must be a number in {interval}, got {_got(value)}")
    inside = lo < value < hi if open_interval else lo <= value <= hi
    if not inside:
        raise ConfigError(arg, f"must be a number in {interval}, got {value}: outside it")
    return float(value)


def _positive_int(value: Any, arg: str) -> int:
    """A whole number >= 1 (an int, or a float with no fraction)."""
    if not _is_number(value) or not float(value).is_integer() or value < 1:
        raise (ConfigError if _is_number(value) else ArgumentTypeError)(arg, f"must be a positive integer, got {_got(value)}")
    return int(value)


def _pair(value: Any, arg: str, form: str) -> tuple[float, float]:
    """Two numbers (a tuple, list or array of length 2), as ``form`` describes them."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)) or len(value) != 2:
        raise ArgumentTypeError(arg, f"must be {form}, got {_got(value)}")
    if not all(_is_number(v) and not math.isnan(float(v)) for v in value):
        raise ArgumentTypeError(arg, f"must be {form} (two numbers), got {_got(value)}")
    return value[0], value[1]


def _band(band: Any, arg: str = "band") -> tuple[float, float]:
    """A pair (lo, hi) of quantiles in [0, 1]."""
    lo, hi = _pair(band, arg, "a pair (lo, hi) of quantiles in [0, 1], e.g. (0.1, 0.9)")
    _number(lo, f"{arg}[0]", 0.0, 1.0)
    _number(hi, f"{arg}[1]", 0.0, 1.0)
    return lo, hi


def _fractions(values: Any, arg: str) -> list[float]:
    """A sequence of numbers in [0, 1] (quantiles)."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (Sequence, np.ndarray)):
        raise ArgumentTypeError(arg, f"must be a sequence of numbers in [0, 1], e.g. (0.05, 0.5, 0.95), got {_got(values)}")
    for i, q in enumerate(values):
        _number(q, f"{arg}[{i}]", 0.0, 1.0)
    return list(values)


def _one_name(value: Any, arg: str, what: str = "column name") -> str:
    """One name (a string), not a list of them."""
    if not isinstance(value, str):
        raise ArgumentTypeError(arg, f"must be one {what} (a string), got {_got(value)}")
    return value


def _names(value: Any, arg: str, what: str = "column name") -> list[str]:
    """None (none), one name, or a list or tuple of names."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple, pd.Index)) or not all(isinstance(v, str) for v in value):
        raise ArgumentTypeError(arg, f"must be a {what} or a list of them, got {_got(value)}")
    return list(value)


def _year_map(value: Any, arg: str, form: str, lo: float | None = None, hi: float | None = None) -> dict[Any, float]:
    """A mapping ``form`` of years to numbers (in [lo, hi] when given); None is none."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(arg, f"must be a mapping {form}, got {_got(value)}")
    for year, v in value.items():
        if not _is_number(year) or not _is_number(v):
            raise ArgumentTypeError(arg, f"must be a mapping {form} of numbers, got {year!r}: {_got(v)}")
        if lo is not None and hi is not None:
            _number(v, f"{arg}[{year!r}]", lo, hi)
    return dict(value)


def _path_arg(value: Any, arg: str, what: str, hint: str = "") -> Path:
    """A path the user gives (a non-empty str or a Path), expanded."""
    if isinstance(value, str) and not value.strip():
        raise ConfigError(arg, f"an empty path: give {what} ('.' for the current directory)")
    if not isinstance(value, (str, os.PathLike)):
        raise ArgumentTypeError(arg, f"must be {what} (a str or Path), got {_got(value)}{hint}")
    return Path(value).expanduser()


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------
@dataclass
class Run:
    """One run directory. ``manifest`` is None for an interrupted run (no manifest.json). The
    configuration (``config``, a dict from config.yaml) and the tables are read on first use;
    a table is an empty DataFrame when its file is absent (e.g. firms.parquet with
    ``output.firm_panel=false``)."""

    path: Path
    manifest: dict[str, Any] | None
    summary: dict[str, Any]

    @cached_property
    def config(self) -> dict[str, Any]:
        f = self.path / "config.yaml"
        if not f.is_file():
            return {}
        try:
            return yaml.load(read_text(f, "path"), Loader=_YAML_LOADER) or {}
        except yaml.YAMLError as err:
            raise ConfigError("path", f"{f}: unreadable YAML ({yaml_problem(err)})") from None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def complete(self) -> bool:
        """The manifest says ``complete`` and the directory holds the files it records (:attr:`mismatch` is None)."""
        return bool(self.manifest) and self.manifest.get("status") == "complete" and self.mismatch is None

    @cached_property
    def mismatch(self) -> str | None:
        """Why the directory is not the run its manifest describes (another run's config.yaml or files beside it,
        sim.engine.output.verify_run), or None."""
        return output.verify_run(self.path, self.manifest) if self.manifest else None

    @property
    def scenario(self) -> str | None:
        for src in (self.manifest or {}, self.summary):
            if src.get("scenario") is not None:
                return str(src["scenario"])
        scen = self.config.get("scenario")
        return str(scen.get("name")) if isinstance(scen, dict) and scen.get("name") is not None else None

    @property
    def seed(self) -> int | None:
        """The run's seed, from its manifest or summary; config.yaml (about 50 KB of YAML) is read only without them."""
        for src in (self.manifest or {}, self.summary):
            if src.get("seed") is not None:
                return int(src["seed"])
        seed = self.config.get("seed")
        return int(seed) if seed is not None else None

    def _table(self, name: str) -> pd.DataFrame:
        f = self.path / f"{name}.parquet"
        if not f.is_file():
            return pd.DataFrame()
        try:
            return pd.read_parquet(f)
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid (a file cut short, or not Parquet) is a ValueError
            raise ConfigError(
                "path", f"{f}: unreadable Parquet ({str(err).strip().splitlines()[0]}); allowed: the run's own file, or run it again"
            ) from None

    # one read-once attribute per table (``run.timeseries``, ``run.national``, ...), set below the class from TABLES

    def table(self, name: str) -> pd.DataFrame:
        """One of :data:`TABLES` by name (empty when the run did not write it: a national table of a rare-earth run)."""
        _check_table_name(name)
        return getattr(self, name)


def _table_attribute(name: str) -> cached_property:
    prop = cached_property(lambda self: self._table(name))
    prop.__doc__ = f"{name}.parquet of the run (read on first use; empty when absent)"
    prop.__set_name__(Run, name)
    return prop


for _name in TABLES:
    setattr(Run, _name, _table_attribute(_name))


class Runs(list):
    """A list of :class:`Run` that also remembers the directories ``load_runs`` skipped
    (``.skipped``: (path, reason) pairs)."""

    def __init__(self, runs: Iterable[Run] = (), skipped: Iterable[tuple[Path, str]] = ()):
        super().__init__(runs)
        self.skipped: list[tuple[Path, str]] = list(skipped)


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    obj, problem = output.read_json_object(path)
    if problem:  # "manifest.json: unreadable JSON (...)", named with its directory
        raise ConfigError("path", f"{path.parent / problem}")
    return obj


class RunsNotFound(NotFound):
    """A run directory or results root that does not exist: a one-line ConfigError that is also a FileNotFoundError."""


def _check_run_dir(p: Path, arg: str) -> None:
    """``p`` is a run directory (it holds manifest.json or config.yaml): else RunsNotFound or ConfigError naming it."""
    if not p.exists():
        raise RunsNotFound(arg, f"run directory not found: {p}")
    if not p.is_dir():
        raise ConfigError(arg, f"not a run directory (a file): {p}")
    if not (p / "manifest.json").is_file() and not (p / "config.yaml").is_file():
        below = _find_run_dirs(p)
        if below:  # a results root or sweep directory where one run was expected
            raise ConfigError(arg, f"not a run directory but a directory of {len(below)} run(s): {p}; load them with load_runs('{p}')")
        raise ConfigError(arg, f"not a run directory (no manifest.json or config.yaml): {p}")


def load_run(path: str | Path) -> Run:
    """Open one run directory (complete or not). Raises RunsNotFound (a ConfigError and FileNotFoundError) for a
    missing path and ConfigError (a ValueError) for a directory that holds no run (neither manifest.json nor config.yaml);
    ``path`` must be one directory (a str or Path; several runs: :func:`load_runs`)."""
    p = _path_arg(path, "path", "one run directory", "; for several runs: load_runs(DIR) or load_runs([DIR, ...])")
    _check_run_dir(p, "path")
    return Run(path=p, manifest=_read_json(p / "manifest.json"), summary=_read_json(p / "summary.json") or {})


def _find_run_dirs(root: Path) -> list[Path]:
    """Directories under ``root`` (itself included) that hold a run: a manifest.json, or a
    config.yaml (an interrupted run) in a directory that contains no other run. Hidden directories
    (a run still being written beside its place, or left there when killed) are not runs."""

    def visible(f: Path) -> bool:
        return not any(part.startswith(".") for part in f.relative_to(root).parts[:-1])

    with_manifest = {f.parent for f in root.rglob("manifest.json") if visible(f)}
    with_config = {f.parent for f in root.rglob("config.yaml") if visible(f)} - with_manifest
    found = with_manifest | with_config
    # a config.yaml above other runs belongs to a sweep, not to a run; Hydra's .hydra/ copies are not runs
    keep = {d for d in with_config if not any(o != d and d in o.parents for o in found) and d.name != ".hydra"}
    return sorted(with_manifest | keep)


def load_runs(paths_or_root: str | Path | Iterable[str | Path], complete_only: bool = True) -> Runs:
    """Open several runs: a list of run directories, or one directory searched recursively
    (a results root, a sweep directory, or a single run).

    With ``complete_only`` (default) a run whose manifest is missing or whose status is not
    ``complete`` (interrupted or failed) is skipped; a warning gives the number skipped and the
    result's ``.skipped`` lists them with the reason. Runs come back sorted by path.

    Every directory of a list must be a run directory (one that does not exist, a file, or a directory holding
    neither manifest.json nor config.yaml is a ConfigError naming it); only a run found in it to be incomplete,
    failed or unreadable is skipped.
    """
    if not isinstance(complete_only, (bool, np.bool_)):
        raise ArgumentTypeError("complete_only", f"must be True or False, got {_got(complete_only)}")
    form = "a directory or a list of run directories"
    if isinstance(paths_or_root, (str, os.PathLike)):
        root = _path_arg(paths_or_root, "paths_or_root", form)
        if not root.exists():
            raise RunsNotFound("paths_or_root", f"no such directory: {root}")
        if not root.is_dir():
            raise ConfigError("paths_or_root", f"not a directory: {root}")
        dirs = _find_run_dirs(root)
        if not dirs:
            raise ConfigError("paths_or_root", f"no run directories (manifest.json or config.yaml) under {root}")
    else:
        if isinstance(paths_or_root, (Run, Mapping, pd.DataFrame)) or not isinstance(paths_or_root, Iterable):
            raise ArgumentTypeError("paths_or_root", f"must be {form}, got {_got(paths_or_root)}")
        given = list(paths_or_root)
        dirs = []
        for i, d in enumerate(given):
            hint = ": these runs are loaded already" if isinstance(d, Run) else ""
            dirs.append(_path_arg(d, f"paths_or_root[{i}]", "a run directory", hint))
            _check_run_dir(dirs[-1], f"paths_or_root[{i}]")
        dirs.sort()
        if not dirs:
            raise ConfigError("paths_or_root", "no run directories given: pass a results root, a sweep directory or a list of run directories")
    runs, skipped = [], []
    for d in dirs:
        try:
            r = load_run(d)
        except ValueError as err:
            if not complete_only:
                raise
            skipped.append((d, str(err)))
            continue
        if complete_only and not r.complete:
            status = (r.manifest or {}).get("status")
            reason = "no manifest.json (interrupted)" if r.manifest is None else r.mismatch if status == "complete" else f"status '{status}'"
            err = (r.manifest or {}).get("error")
            skipped.append((d, reason + (f": {err}" if err else "")))
            continue
        runs.append(r)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} incomplete or failed run(s), e.g. {skipped[0][0]} ({skipped[0][1]})", stacklevel=2)
    return Runs(runs, skipped)


def _as_runs(runs: Run | Iterable[Run], arg: str = "runs", allow_empty: bool = False) -> list[Run]:
    """One run or a list of them (from load_run/load_runs): not a path, a table, a summary dict, nor an empty list."""
    load = "; load them first: load_runs(DIR) or load_run(DIR)"
    if isinstance(runs, Run):
        return [runs]
    if isinstance(runs, (str, os.PathLike)):
        raise ArgumentTypeError(arg, f"expected Run objects (from load_run/load_runs), got a path ({runs}){load}")
    if isinstance(runs, (pd.DataFrame, Mapping)) or not isinstance(runs, Iterable):
        what = "DataFrame (a table: this call reads the runs themselves)" if isinstance(runs, pd.DataFrame) else ""
        raise ArgumentTypeError(arg, f"expected Run objects (from load_run/load_runs), got {what or _got(runs)}{load}")
    out = list(runs)
    bad = [r for r in out if not isinstance(r, Run)]
    if bad:
        hint = load if isinstance(bad[0], (str, os.PathLike)) else ""
        raise ArgumentTypeError(arg, f"expected Run objects (from load_run/load_runs), got {_got(bad[0])} in the list{hint}")
    if not out and not allow_empty:
        raise ConfigError(arg, "no runs given (an empty list): load_runs(DIR) gives them")
    return out


def run_ids(runs: Run | Iterable[Run]) -> list[str]:
    """The ``run`` id of each run: its directory name, or its path relative to the runs' common
    parent when two runs share a directory name (e.g. sweeps laid out as .../seed=1/)."""
    runs = _as_runs(runs, allow_empty=True)
    names = [r.name for r in runs]
    if len(set(names)) == len(names):
        return names
    paths = [r.path.resolve() for r in runs]
    common = Path(*_common_parts([p.parts for p in paths]))
    return [str(p.relative_to(common)) if p != common else p.name for p in paths]


def _common_parts(parts: list[tuple[str, ...]]) -> tuple[str, ...]:
    out: list[str] = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        out.append(level[0])
    return tuple(out)


WORLD_TABLES = {"rare-earth": ("timeseries", "events", "policy", "firms"), "national": (*NATIONAL_TABLES, "events", "firms")}


def _world_of(run: Run) -> str:
    """ "national" for a run of the national world (it writes national.parquet), else "rare-earth"."""
    return "national" if (run.path / "national.parquet").is_file() else "rare-earth"


def _check_table_name(table: Any, runs: Any = None) -> None:
    """``table`` is one of :data:`TABLES` (``runs``: the other argument, to spot the two given the other way round)."""
    if not isinstance(table, str):
        swapped = "; arguments swapped? tidy(runs, 'timeseries')" if isinstance(runs, str) else ""
        raise ArgumentTypeError("table", f"must be a table name (str), one of {', '.join(TABLES)}; got {_got(table)}{swapped}")
    if table not in TABLES:
        raise ConfigError("table", f"unknown table '{table}'; allowed: {', '.join(TABLES)}")


# the tables a run of each world writes whatever its options (firms.parquet only with output.firm_panel / national.sample_firms)
ALWAYS_WRITTEN = {"rare-earth": ("timeseries", "events", "policy"), "national": NATIONAL_TABLES + ("events",)}


def tidy(runs: Run | Iterable[Run], table: str) -> pd.DataFrame:
    """One table (``timeseries``, ``events``, ``policy``, ``firms``; of national runs ``national``, ``provinces``,
    ``sectors``, ``reviews``) over runs, with the id columns ``run`` (directory name), ``scenario`` and ``seed`` in front.
    A run without ``firms.parquet`` (``output.firm_panel=false``) adds no rows; a run without a table every run of its
    world writes (an interrupted or damaged run) is an error naming it."""
    _check_table_name(table, runs)
    runs = _as_runs(runs)
    worlds = [_world_of(r) for r in runs]
    kinds = set(worlds)
    if kinds and not any(table in WORLD_TABLES[k] for k in kinds):
        worlds_text = " and ".join(sorted(kinds))
        have = sorted({t for k in kinds for t in WORLD_TABLES[k]}, key=TABLES.index)
        raise ConfigError("table", f"no {worlds_text} run writes the table '{table}'; these runs' tables: {', '.join(have)}")
    parts = []
    for rid, r, world in zip(run_ids(runs), runs, worlds):
        df = r.table(table)
        if df.empty:
            if table in ALWAYS_WRITTEN[world] and not (r.path / f"{table}.parquet").is_file():
                raise ConfigError("runs", f"run {rid} has no {table}.parquet ({r.path}): an interrupted or damaged run? load_runs skips those")
            continue
        df = df.copy()
        df.insert(0, "seed", r.seed)
        df.insert(0, "scenario", r.scenario)
        df.insert(0, "run", rid)
        parts.append(df)
    if not parts:
        return pd.DataFrame(columns=list(ID_COLUMNS))
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------------------------
# Scalars
# ----------------------------------------------------------------------------------------------
def _summary_of(run: Run | dict[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(run, Run):
        return run.summary
    if isinstance(run, dict):
        return run
    if not isinstance(run, (str, Path)):
        raise ArgumentTypeError(
            "run", f"expected one run (a Run, its summary dict or its directory), got {_got(run)}; for many runs: scalars_frame(runs)"
        )
    return load_run(run).summary


def summary_scalars(run: Run | dict[str, Any] | str | Path) -> dict[str, Any]:
    """The summary's scalar leaves as a flat dict with dotted keys (:func:`sim.engine.output.dotted`), e.g.
    ``years_to_first_output.west.magnet`` or ``policy.china.fiscal_cost_total_musd``.
    None (never / no value) becomes NaN; list items are keyed by position."""
    return _scalars(_summary_of(run))


def _scalars(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in output.dotted(obj).items():
        if isinstance(v, (list, tuple)):  # dotted keeps lists whole: key their items by position
            out.update(_scalars({k: {str(i): x for i, x in enumerate(v)}}))
        else:
            out[k] = math.nan if v is None else v
    return out


def scalars_frame(runs: Run | Iterable[Run]) -> pd.DataFrame:
    """A row per run: ``run``, ``scenario``, ``seed`` and every summary scalar (dotted columns)."""
    runs = _as_runs(runs)
    rows = []
    for rid, r in zip(run_ids(runs), runs):
        s = summary_scalars(r)
        s.pop("scenario", None)
        s.pop("seed", None)
        rows.append({"run": rid, "scenario": r.scenario, "seed": r.seed, **s})
    return pd.DataFrame(rows)


def timeline_frame(runs: Run | Iterable[Run]) -> pd.DataFrame:
    """One row per run, bloc and stage: years to first output and to independence (from the
    summary; NaN = never within the horizon), ``first_output_reached`` and ``independent``, the
    ``reference_year`` the years count from and ``horizon_years`` (years simulated after it),
    and the same moments as calendar years (``first_output_year``, ``independence_year``, with
    ``end_year`` the end of the run).

    Scenarios may count from different reference years (west_coordinated from its 2025 policy
    switch). The calendar-year columns put them on one clock (censor with ``end_year``), but each
    still measures from its own reference: first output of a plant of a firm born at or after it,
    independence first held at or after it (sim/engine/metrics.py)."""
    runs = _as_runs(runs)
    rows = []
    for rid, r in zip(run_ids(runs), runs):
        s = r.summary
        if "years_to_first_output" not in s:
            _check_chain_run(r)
            raise ConfigError("runs", f"{r.path}: summary.json has no years_to_first_output (incomplete run?)")
        start, ref = s.get("start_year"), s.get("timeline_reference_year", s.get("start_year"))
        known = None not in (s.get("years"), start, ref)
        horizon = float(s["years"]) - (float(ref) - float(start)) if known else math.nan
        end = float(start) + float(s["years"]) if known else math.nan
        ind = s.get("years_to_independence", {})
        for bloc, stages in s["years_to_first_output"].items():
            for stage, fo in stages.items():
                yi = ind.get(bloc, {}).get(stage)
                fo = math.nan if fo is None else float(fo)
                yi = math.nan if yi is None else float(yi)
                rows.append(
                    {
                        "run": rid,
                        "scenario": r.scenario,
                        "seed": r.seed,
                        "bloc": bloc,
                        "stage": stage,
                        "reference_year": ref,
                        "horizon_years": horizon,
                        "end_year": end,
                        "years_to_first_output": fo,
                        "years_to_independence": yi,
                        "first_output_reached": not math.isnan(fo),
                        "independent": not math.isnan(yi),
                        "first_output_year": float(ref) + fo if ref is not None else math.nan,
                        "independence_year": float(ref) + yi if ref is not None else math.nan,
                    }
                )
    df = pd.DataFrame(rows)
    for col in ("bloc", "stage"):  # keep the chain's order (mining .. magnet) when grouping and sorting
        if not df.empty:
            df[col] = pd.Categorical(df[col], categories=_order(df[col]))
    return df


def _check_chain_run(r: Run) -> None:
    """A run of the rare-earth chain: a national run has no chain, so no timeline or time series."""
    if _world_of(r) == "national":
        raise ConfigError(
            "runs", f"{r.path}: a run of the national world, which has no chain and so no timeline (its pyramid: tidy(runs, 'national'))"
        )


def _read_targets(path: str | Path | None) -> list:
    """The ``targets`` list of a targets file. The project's own (``path`` None) gives [] when it cannot be read (the
    defaults then apply); a file the user names must exist, parse and hold a ``targets:`` list."""
    if path is None:
        try:
            targets = yaml.safe_load(TARGETS_FILE.read_text()).get("targets", [])
        except (OSError, AttributeError, yaml.YAMLError):
            return []
        return targets if isinstance(targets, list) else []
    f = _path_arg(path, "path", "a targets file")
    if not f.is_file():
        raise NotFound("path", f"no targets file {path} (the project's: {TARGETS_FILE})")
    try:
        doc = yaml.safe_load(f.read_text())
    except yaml.YAMLError as err:
        raise ConfigError("path", f"{f}: unreadable YAML ({yaml_problem(err)})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError("path", f"{f}: unreadable ({err})") from None
    targets = doc.get("targets") if isinstance(doc, dict) else None
    if not isinstance(targets, list):
        raise ConfigError("path", f"{f} holds no targets list (a 'targets:' list of targets, as {TARGETS_FILE} has)")
    return targets


def reference_ranges(path: str | Path | None = None) -> dict[str, tuple[float, float]]:
    """Reference years to independence per stage for a committed Western effort, from the
    ``west_timeline_coordinated`` target of conf/validation/targets.yaml when present
    (metal takes the processing range of separation), else :data:`REFERENCE_RANGES` (``path``: another targets file,
    which must exist and hold a ``targets:`` list; without that target the defaults apply)."""
    out = dict(REFERENCE_RANGES)
    targets = _read_targets(path)
    for t in targets:
        if isinstance(t, dict) and t.get("id") == "west_timeline_coordinated" and isinstance(t.get("accept"), dict):
            for stage, rng in t["accept"].items():
                lo, hi = _pair(rng, f"{path or TARGETS_FILE}: west_timeline_coordinated.accept.{stage}", "a [low, high] pair of years")
                out[stage] = (float(lo), float(hi))
            if "separation" in t["accept"] and "metal" not in t["accept"]:
                out["metal"] = out["separation"]  # "processing facilities" = separation and metal (MODEL.md 5.4)
    return out


# ----------------------------------------------------------------------------------------------
# Reduction and paired differences
# ----------------------------------------------------------------------------------------------
# where each table an API call takes comes from (named when a call is given another table, or none)
TABLE_SOURCES = {
    **{t: f"tidy(runs, '{t}')" for t in TABLES},
    "timeline": "timeline_frame(runs)",
    "event study": "event_study(firms, events)",
}


def _listing(names: Iterable[Any], limit: int = 16) -> str:
    names = [str(n) for n in names]
    return ", ".join(names) if len(names) <= limit else ", ".join(names[:limit]) + f", ... ({len(names)} in all)"


def _check_columns(df: pd.DataFrame, cols: Iterable[str], what: str = "column", arg: str = "df", table: str | None = None, hint: str = "") -> None:
    """``df`` (the argument ``arg``) is a DataFrame holding ``cols``; ``table`` names the table the call takes (its
    source in :data:`TABLE_SOURCES`), so that another table given in its place is named as such."""
    cols = list(cols)
    if not isinstance(df, pd.DataFrame):  # a run or runs where a table is taken: say which table, not AttributeError
        if table is None:
            where = "a run's tables come from tidy(runs, NAME), e.g. tidy(load_runs(DIR), 'policy')"
        else:
            where = f"the {table} table comes from {TABLE_SOURCES[table].replace('(runs', '(load_runs(DIR)')}"
        raise ArgumentTypeError(arg, f"expected a table (a DataFrame) holding {', '.join(cols)}, got {_got(df)}; {where}{hint}")
    missing = [c for c in cols if c not in df.columns]
    if missing and table:
        raise MissingColumn(
            arg, f"must be the {table} table ({TABLE_SOURCES[table]}): it lacks column '{missing[0]}'; its columns: {_listing(df.columns)}"
        )
    if missing:
        raise MissingColumn(arg, f"no {what} '{missing[0]}' in the frame; columns: {_listing(df.columns)}")


def _check_optional(df: Any, cols: Iterable[str], arg: str, table: str, hint: str = "") -> bool:
    """An optional table (None: not given): a DataFrame, holding ``cols`` when it has rows. True when it has rows."""
    if df is None:
        return False
    if not isinstance(df, pd.DataFrame):
        _check_columns(df, cols, arg=arg, table=table, hint=hint)
    if df.empty:  # a table of runs that logged nothing (tidy gives only the id columns then)
        return False
    _check_columns(df, cols, arg=arg, table=table)
    return True


def _check_rows(df: pd.DataFrame, arg: str = "df", purpose: str = "to draw") -> None:
    """A figure or a statistic needs rows: an empty table (a filter that matched nothing) is one clear error, not
    matplotlib's, nor an empty result."""
    if df.empty:
        raise ConfigError(
            arg,
            f"the table has no rows{' ' + purpose if purpose else ''} (a filter that matched nothing? "
            "blocs, stages and scenarios are written in lower case)",
        )


def _check_bloc(df: pd.DataFrame, bloc: str, arg: str) -> None:
    """``bloc`` (the argument ``arg``) is one of the table's blocs."""
    blocs = _order(df["bloc"].astype(str))
    if bloc not in blocs:
        raise ConfigError(arg, f"{arg}='{bloc}' is not a bloc of the table; its blocs: {', '.join(blocs)}")


def _numeric(df: pd.DataFrame, col: str, arg: str, parse: bool = True) -> pd.Series:
    """Column ``col`` as floats (booleans as 0/1; ``parse``: through pd.to_numeric, else astype(float)); a column of
    text (a bloc, a run id) is a ConfigError naming it."""
    s = df[col]
    try:
        return pd.to_numeric(s.astype(float) if s.dtype == bool else s, errors="raise").astype(float) if parse else s.astype(float)
    except (ValueError, TypeError):
        raise _not_numeric(df, col, arg) from None


def _check_numeric(df: pd.DataFrame, cols: Iterable[str], arg: str) -> None:
    """Columns a figure computes with hold numbers (not text, even text of numbers)."""
    for col in cols:
        if not pd.api.types.is_numeric_dtype(df[col]):
            raise _not_numeric(df, col, arg)


def _not_numeric(df: pd.DataFrame, col: str, arg: str) -> ConfigError:
    return ConfigError(arg, f"'{col}' is not a numeric column (dtype {df[col].dtype}): a number per row is needed")


def _as_list(by: str | Sequence[str] | None, arg: str = "by") -> list[str]:
    return _names(by, arg)


def quantile_name(q: float) -> str:
    """Column name of a quantile: 0.5 -> ``median``, 0.05 -> ``q05``, 0.95 -> ``q95``, 0.025 -> ``q2.5``."""
    _number(q, "q", 0.0, 1.0)
    return "median" if q == 0.5 else "q" + format(round(q * 100, 6), "g").zfill(2)


def reduce(df: pd.DataFrame, by: str | Sequence[str] | None, value: str, quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
    """Reduce replications: per group of ``by`` (a column name, a list of them, or None), ``n`` (non-missing values),
    ``n_missing`` (NaN, e.g. "never"), ``mean`` and the quantiles of ``value`` (one numeric column) over the non-missing
    values (linear interpolation, numpy's default), named by :func:`quantile_name` (``q05``, ``median``, ``q95``).
    A group with no value left has NaN statistics. Booleans count as 0/1 (the mean is a share). A table with no rows
    is an error."""
    by = _as_list(by)
    value = _one_name(value, "value")
    quantiles = _fractions(quantiles, "quantiles")
    _check_columns(df, by + [value])
    _check_rows(df, "df", "")
    return _reduce(df, by, value, quantiles)


def _reduce(df: pd.DataFrame, by: list[str], value: str, quantiles: Sequence[float]) -> pd.DataFrame:
    """:func:`reduce` on checked arguments (an empty table gives no rows: the figures reduce subsets)."""
    names = [quantile_name(q) for q in quantiles]
    d = df[by].copy()
    d["_v"] = _numeric(df, value, "value")
    if not by:
        v = d["_v"].dropna().to_numpy()
        row = {"n": len(v), "n_missing": int(d["_v"].isna().sum()), "mean": float(v.mean()) if len(v) else math.nan}
        for q, name in zip(quantiles, names):
            row[name] = float(np.quantile(v, q)) if len(v) else math.nan
        return pd.DataFrame([row])
    g = d.groupby(by, observed=True, sort=True, dropna=False)["_v"]
    out = pd.DataFrame({"n": g.count(), "n_missing": g.size() - g.count(), "mean": g.mean()})
    for q, name in zip(quantiles, names):
        out[name] = g.quantile(q)
    return out.reset_index()


def _check_rng(rng: Any) -> None:
    """The bootstrap's ``rng``: a non-negative integer seed or a numpy Generator."""
    if isinstance(rng, np.random.Generator):
        return
    if not _is_number(rng) or not float(rng).is_integer() or rng < 0:
        raise (ConfigError if _is_number(rng) else ArgumentTypeError)(
            "rng", f"must be a non-negative integer seed or a numpy.random.Generator, got {_got(rng)}"
        )


def _comparison_rng(rng: int | np.random.Generator, scenario: Any, key: tuple) -> np.random.Generator:
    """The bootstrap generator of one comparison. From an integer seed each comparison gets its own
    stream (seed, CRC-32 of the scenario and group), so its interval does not depend on which
    other scenarios or groups are in the table or their order; a Generator is used as it is."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng([int(rng), zlib.crc32(repr((str(scenario), tuple(map(str, key)))).encode())])


def _bootstrap_mean_interval(diffs: np.ndarray, level: float, n_boot: int, gen: np.random.Generator) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``diffs`` at ``level`` (``scipy.stats.bootstrap``,
    ``n_boot`` resamples drawn by ``gen``). A single pair or equal differences have no spread: the interval
    is the value itself (scipy needs two distinct values to resample)."""
    from scipy.stats import bootstrap

    if len(diffs) < 2 or np.ptp(diffs) == 0:
        m = float(diffs.mean())
        return m, m
    res = bootstrap((diffs,), np.mean, n_resamples=n_boot, confidence_level=level, method="percentile", rng=gen)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_differences(
    df: pd.DataFrame,
    value: str,
    scenario_col: str = "scenario",
    pair_col: str = "seed",
    reference: str = "baseline",
    others: Sequence[str] | None = None,
    by: str | Sequence[str] | None = None,
    level: float = 0.9,
    n_boot: int = 2000,
    rng: int | np.random.Generator = 0,
    censor: float | str | None = None,
) -> pd.DataFrame:
    """Paired differences of ``value`` between scenarios: for each other scenario (and each group
    of ``by``, e.g. bloc and stage), rows are paired with the reference's row of the same
    ``pair_col`` (the seed: common random numbers) and the difference is other minus reference.

    Returns per comparison: ``mean`` and ``median`` of the differences, the bootstrap percentile
    interval of the mean at ``level`` (``ci_low``, ``ci_high``; ``n_boot`` resamples of the pairs,
    deterministic given ``rng``; from an integer ``rng`` a comparison's interval does not depend on
    the other comparisons in the table), ``excludes_zero``, ``n_pairs`` used, ``n_dropped`` (pairs with a
    NaN side) and ``n_unpaired`` (rows with no partner in the other scenario).

    NaN (e.g. "never reached") cannot be differenced: such pairs are dropped and counted. With
    ``censor`` (a number, or the name of a column of the frame: ``end_year`` with the calendar-year
    columns of :func:`timeline_frame`) NaN is replaced by that value first, so "never" counts as
    "at the end of the run" and a difference involving it is a bound, not an estimate. Censor
    only when both scenarios share the same clock (same reference year, or calendar years).

    ``others`` is a scenario name or a list of them (default: every scenario but the reference, of which there must be
    one; an explicit empty list gives an empty table); ``value`` one numeric
    column; ``level`` a number in (0, 1); ``n_boot`` a positive integer; ``rng`` a non-negative integer seed or a
    ``numpy.random.Generator``. A table with no rows, or none but the reference's, is an error.
    """
    by = _as_list(by)
    value, scenario_col, pair_col = _one_name(value, "value"), _one_name(scenario_col, "scenario_col"), _one_name(pair_col, "pair_col")
    level = _number(level, "level", 0.0, 1.0, open_interval=True)
    n_boot = _positive_int(n_boot, "n_boot")
    _check_rng(rng)
    if censor is not None and not isinstance(censor, str) and not _is_number(censor):
        raise ArgumentTypeError("censor", f"must be a number or the name of a column (e.g. 'end_year'), got {_got(censor)}")
    others = [others] if isinstance(others, str) else None if others is None else _names(others, "others", "scenario name")
    cols = [scenario_col, pair_col, *by, value] + ([censor] if isinstance(censor, str) else [])
    _check_columns(df, cols)
    _check_rows(df, "df", "to compare")
    keys = [pair_col, *by]
    d = _paired_values(df, value, scenario_col, keys, by, censor)
    others = _other_scenarios(d, scenario_col, reference, others)
    ref = d[d[scenario_col] == reference].set_index(keys)["_v"]
    rows = []
    for other in others:
        oth = d[d[scenario_col] == other].set_index(keys)["_v"]
        both = pd.concat({"ref": ref, "oth": oth}, axis=1, join="outer").sort_index()  # resample in key order: same
        # interval whatever the row order of the input
        groups = [((), both)] if not by else both.groupby(level=by, observed=True, sort=True)
        for gkey, g in groups:
            gkey = gkey if isinstance(gkey, tuple) else (gkey,)
            row: dict[str, Any] = dict(zip(by, gkey))
            row.update({"scenario": other, "reference": reference})
            row.update(_compare_pairs(g, ref.index, oth.index, level, int(n_boot), _comparison_rng(rng, other, gkey)))
            row["level"] = level
            rows.append(row)
    return pd.DataFrame(
        rows,
        columns=[*by, "scenario", "reference", "n_pairs", "n_dropped", "n_unpaired", "mean", "median", "ci_low", "ci_high", "excludes_zero", "level"],
    )


def _paired_values(df: pd.DataFrame, value: str, scenario_col: str, keys: list[str], by: list[str], censor: float | str | None) -> pd.DataFrame:
    """The scenario, the pairing keys and the value as ``_v`` (censored where asked); one row per scenario and key."""
    d = df[[scenario_col, *keys]].copy()
    d["_v"] = _numeric(df, value, "value", parse=False)
    if censor is not None:
        d["_v"] = d["_v"].fillna(_numeric(df, censor, "censor", parse=False) if isinstance(censor, str) else float(censor))
    dup = d.duplicated([scenario_col, *keys])
    if dup.any():
        row = d[dup].iloc[0]
        where = ", ".join(f"{k}={row[k]!r}" for k in keys)
        hint = ", ".join(c for c in ("bloc", "stage") if c in df.columns and c not in by) or "the extra key columns"
        raise ConfigError("by", f"several rows for {scenario_col}={row[scenario_col]!r}, {where}; pair on more columns with by= (e.g. {hint})")
    return d


def _other_scenarios(d: pd.DataFrame, scenario_col: str, reference: str, others: Sequence[str] | None) -> list[str]:
    """The scenarios compared with the reference (default: every other one, in order of appearance); all must be present."""
    scenarios = list(dict.fromkeys(d[scenario_col].tolist()))
    present = ", ".join(map(str, scenarios))
    if reference not in scenarios:
        raise ConfigError("reference", f"reference scenario '{reference}' not in column '{scenario_col}'; present: {present}")
    if others is None and not [s for s in scenarios if s != reference]:  # by default there must be something to compare
        raise ConfigError("others", f"no scenario other than '{reference}' to compare in column '{scenario_col}'; present: {present}")
    others = [s for s in scenarios if s != reference] if others is None else list(others)
    absent = [s for s in others if s not in scenarios]
    if absent:
        raise ConfigError("others", f"scenario '{absent[0]}' not in column '{scenario_col}'; present: {present}")
    return others


def _compare_pairs(g: pd.DataFrame, ref_index: pd.Index, oth_index: pd.Index, level: float, n_boot: int, rng: Any) -> dict[str, Any]:
    """One comparison (columns ref, oth): the counts of pairs, and the mean and median of the differences with the
    bootstrap interval of the mean (NaN when no pair is left)."""
    in_ref, in_oth = g.index.isin(ref_index), g.index.isin(oth_index)
    matched = g[in_ref & in_oth]
    diffs = (matched["oth"] - matched["ref"]).to_numpy()
    ok = np.isfinite(diffs)
    diffs = diffs[ok]
    row: dict[str, Any] = {"n_pairs": int(ok.sum()), "n_dropped": int((~ok).sum()), "n_unpaired": int((in_ref ^ in_oth).sum())}
    if not len(diffs):
        return row | {"mean": math.nan, "median": math.nan, "ci_low": math.nan, "ci_high": math.nan, "excludes_zero": False}
    lo, hi = _bootstrap_mean_interval(diffs, level, n_boot, rng)
    return row | {
        "mean": float(diffs.mean()),
        "median": float(np.median(diffs)),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "excludes_zero": bool(lo > 0 or hi < 0),
    }


# ----------------------------------------------------------------------------------------------
# Timelines over seeds: quantiles with "never" (right-censored) and paired differences in years
# ----------------------------------------------------------------------------------------------
TIMELINE_MEASURES = ("years_to_first_output", "years_to_independence")
# The interval of a timeline: the 10th-90th percentile over seeds (with 10 seeds, the middle 8 runs), the spread of
# the outcome across replications, not the precision of the median (choice of this report; the paired differences
# carry the bootstrap intervals). Quantiles as in censored_quantile.
TIMELINE_BAND = (0.1, 0.9)
REACHED, LOWER_BOUND, NEVER = "reached", "lower_bound", "never"  # the status of a quantile over seeds


def censored_quantile(values: Sequence[float] | np.ndarray, q: float) -> tuple[float, str]:
    """The ``q`` quantile over seeds of a time that some seeds never reach (NaN: not within the
    horizon). Every seed of a scenario shares the horizon, so "never" is right-censored at one point
    and the Kaplan-Meier curve is the empirical distribution of the seeds with "never" after every
    reached time.

    The rule is the sample quantile with the midpoint at a flat step (numpy's ``averaged_inverted_cdf``;
    R survival's ``quantile.survfit``; the usual median when every seed reached): with n seeds sorted,
    h = q n; a whole h = k gives the mean of the k-th and (k+1)-th values (q = 0: the first, q = 1:
    the last), any other h the ceil(h)-th value. Returns (value, status):

    - (x, ``"reached"``) when every seed the rule needs reached;
    - (x_k, ``"lower_bound"``) when the rule needs the k-th seed, which reached at x_k, and the
      (k+1)-th, which never did: the quantile is later than x_k (the median of 10 seeds of which
      exactly 5 reached);
    - (NaN, ``"never"``) when the rule needs only seeds that never reached (the median when more
      than half never did).
    """
    try:
        if isinstance(values, (str, bytes, Mapping, pd.DataFrame)):
            raise TypeError
        v = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ArgumentTypeError("values", f"must be numbers (one per seed; NaN for never), got {_got(values)}") from None
    if v.size == 0:
        raise ConfigError("values", "censored_quantile needs at least one value")
    _number(q, "q", 0.0, 1.0)
    x = np.sort(v[~np.isnan(v)])
    m, n = len(x), len(v)
    h = q * n
    k = int(round(h))
    if abs(h - k) > 1e-9:  # between two seeds: the next one
        i = math.ceil(h)
        return (float(x[i - 1]), REACHED) if i <= m else (math.nan, NEVER)
    if k == 0:
        return (float(x[0]), REACHED) if m else (math.nan, NEVER)
    if k == n:
        return (float(x[-1]), REACHED) if m == n else (math.nan, NEVER)
    if k < m:
        return float((x[k - 1] + x[k]) / 2.0), REACHED
    if k == m:
        return float(x[k - 1]), LOWER_BOUND
    return math.nan, NEVER


def timeline_table(timeline: pd.DataFrame, band: tuple[float, float] = TIMELINE_BAND, measures: Sequence[str] = TIMELINE_MEASURES) -> pd.DataFrame:
    """Per scenario, bloc, stage and measure (``years_to_first_output``, ``years_to_independence``
    of :func:`timeline_frame`): ``n_seeds``, ``n_reached`` and the median and the ``band`` quantiles
    over all the seeds, "never" counting as later than any reached time (:func:`censored_quantile`).
    Each quantile has a value column (``median``, ``q10``, ``q90``; NaN when never) and a status
    column (``median_status``: reached, lower_bound or never). ``reference_year`` and
    ``horizon_years`` say where the years count from and how far the run went past it.

    ``band`` is a pair (lo, hi) of quantiles; ``measures`` a column name or a list of them (numeric). A table with
    no rows is an error."""
    band = _band(band)
    measures = _names(measures, "measures")
    _check_columns(timeline, ["bloc", "stage", *measures], arg="timeline", table="timeline")
    _check_rows(timeline, "timeline", "")
    for m in measures:
        _numeric(timeline, m, "measures", parse=False)
    tl = _with_ids(timeline)
    names = [quantile_name(q) for q in (0.5, *band)]
    rows = []
    for scen in _order(tl["scenario"]):
        ts = tl[tl["scenario"] == scen]
        for measure in measures:
            for bloc in _order(tl["bloc"]):
                for stage in _order(tl["stage"]):
                    g = ts[(ts["bloc"] == bloc) & (ts["stage"] == stage)]
                    if g.empty:
                        continue
                    v = g[measure].astype(float).to_numpy()
                    row: dict[str, Any] = {"scenario": scen, "bloc": bloc, "stage": stage, "measure": measure}
                    for col in ("reference_year", "horizon_years"):
                        row[col] = float(g[col].max()) if col in g else math.nan
                    row.update({"n_seeds": len(v), "n_reached": int(np.isfinite(v).sum())})
                    for q, name in zip((0.5, *band), names):
                        row[name], row[f"{name}_status"] = censored_quantile(v, q)
                    rows.append(row)
    cols = ["scenario", "bloc", "stage", "measure", "reference_year", "horizon_years", "n_seeds", "n_reached"]
    return pd.DataFrame(rows, columns=cols + [c for name in names for c in (name, f"{name}_status")])


def first_held(values: np.ndarray, start: int, threshold: float, hold: int) -> int | None:
    """The first index q >= ``start`` from which ``values`` stays at or above ``threshold`` for
    ``hold`` entries (NaN counts as below); None when there is none (the window must end within the
    series). The independence rule of sim/engine/metrics.py ``milestones``, on one quarterly series."""
    above = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0) >= threshold
    if hold < 1 or len(above) < hold:
        return None
    held = np.lib.stride_tricks.sliding_window_view(above, hold).all(axis=1)  # held[q]: above over q .. q + hold - 1
    hits = np.flatnonzero(held[max(start, 0) :])
    return int(hits[0]) + max(start, 0) if hits.size else None


def independence_years(runs: Run | Iterable[Run], from_year: float | None = None) -> pd.DataFrame:
    """Independence on a chosen clock, recomputed from each run's time series: per run, bloc and
    stage, the calendar year (``independence_year``; NaN = never within the run) of the first
    quarter at or after ``from_year`` from which self-sufficiency stays at or above the run's
    ``world.independence_threshold`` for ``world.independence_hold_quarters`` quarters, and
    ``years_to_independence`` from ``from_year``. With ``from_year=None`` each run counts from its
    own timeline reference year, which gives the summary's ``years_to_independence``.

    Two scenarios that count from different reference years (west_coordinated from 2025) are
    compared on the later one: a run of the earlier scenario that was independent before it is
    asked again from there. ``from_year`` must lie within the runs' years (from the earliest start to the latest
    end) or be one of the runs' own reference years (as the experiment's report compares on)."""
    runs = _as_runs(runs)
    for r in runs:
        _check_chain_run(r)
        world, s = r.config.get("world") or {}, r.summary
        missing = [k for k in ("independence_threshold", "independence_hold_quarters") if k not in world]
        if missing or "start_year" not in s:
            raise ConfigError(
                "runs", f"{r.path}: no world.{missing[0] if missing else 'start_year'} in config.yaml/summary.json (not a complete run?)"
            )
        if r.timeseries.empty and not (r.path / "timeseries.parquet").is_file():
            raise ConfigError("runs", f"{r.path}: no timeseries.parquet (an interrupted or damaged run?)")
        _check_columns(r.timeseries, ["quarter_index", "bloc", "stage", "self_sufficiency"], f"column of {r.path / 'timeseries.parquet'}", "runs")
    if from_year is not None:
        _check_from_year(runs, from_year)
    rows = []
    for rid, r in zip(run_ids(runs), runs):
        world, s, ts = r.config.get("world") or {}, r.summary, r.timeseries
        start = float(s["start_year"])
        clock = float(s.get("timeline_reference_year", start) if from_year is None else from_year)
        ss = ts.pivot_table(index="quarter_index", columns=["bloc", "stage"], values="self_sufficiency", aggfunc="first", observed=True)
        ss = ss.reindex(range(int(ts["quarter_index"].max()) + 1))
        q0 = max(int(round((clock - start) * 4.0)), 0)
        for bloc, stage in ss.columns:
            q = first_held(ss[(bloc, stage)].to_numpy(), q0, float(world["independence_threshold"]), int(world["independence_hold_quarters"]))
            year = math.nan if q is None else start + q / 4.0
            rows.append(
                {
                    "run": rid,
                    "scenario": r.scenario,
                    "seed": r.seed,
                    "bloc": str(bloc),
                    "stage": str(stage),
                    "from_year": clock,
                    "end_year": start + len(ss) / 4.0,
                    "independence_year": year,
                    "years_to_independence": year - clock,
                    "independent": q is not None,
                }
            )
    df = pd.DataFrame(rows)
    for col in ("bloc", "stage"):
        if not df.empty:
            df[col] = pd.Categorical(df[col], categories=_order(df[col]))
    return df


def _check_from_year(runs: list[Run], from_year: Any) -> None:
    """``from_year`` of :func:`independence_years`: a calendar year within the runs (earliest start to latest end), or
    a run's own timeline reference year."""
    if not _is_number(from_year) or math.isnan(float(from_year)):
        raise ArgumentTypeError("from_year", f"must be a calendar year (a number) or None, got {_got(from_year)}")
    starts = [float(r.summary["start_year"]) for r in runs]
    ends = [start + (float(r.timeseries["quarter_index"].max()) + 1) / 4.0 for start, r in zip(starts, runs)]
    refs = {float(v) for r in runs if (v := r.summary.get("timeline_reference_year")) is not None}
    lo, hi = min(starts), max(ends)
    if not lo <= float(from_year) <= hi and float(from_year) not in refs:
        raise ConfigError("from_year", f"must lie within the runs' years ({lo:g}-{hi:g}), got {from_year:g}")


def timeline_differences(
    df: pd.DataFrame,
    value: str,
    reference: str = "baseline",
    others: Sequence[str] | None = None,
    by: str | Sequence[str] | None = ("bloc", "stage"),
    level: float = 0.9,
    n_boot: int = 2000,
    rng: int | np.random.Generator = 0,
    scenario_col: str = "scenario",
    pair_col: str = "seed",
) -> pd.DataFrame:
    """Paired differences of a time that some seeds never reach (``value``: years or a calendar
    year on one clock, NaN = never within the horizon), other scenario minus ``reference`` seed by
    seed, per group of ``by``.

    "Never" is not given a number. Of the ``n_pairs`` seeds present in both scenarios, ``n_both``
    reached in both: over those, :func:`paired_differences` (``mean``, ``median`` and the bootstrap
    interval of the mean, ``ci_low``, ``ci_high``, ``excludes_zero``; no interval from a single
    pair). The others are counted:
    ``n_scenario_only`` (the scenario reached, the reference never did), ``n_reference_only`` and
    ``n_neither``. A pair with one side reached is still ordered (the other side comes after the
    horizon both share), so ``earlier``, ``same`` and ``later`` count the seeds in which the scenario
    came first, together, or after, over every pair but those that never reached in either.
    """
    by = _as_list(by)
    base = paired_differences(
        df, value, scenario_col=scenario_col, pair_col=pair_col, reference=reference, others=others, by=by, level=level, n_boot=n_boot, rng=rng
    )
    keys = [pair_col, *by]
    d = _paired_values(df, value, scenario_col, keys, by, None)
    ref = d[d[scenario_col] == reference].drop(columns=scenario_col)
    counts = []
    for other in base["scenario"].drop_duplicates():
        oth = d[d[scenario_col] == other].drop(columns=scenario_col)
        p = ref.merge(oth, on=keys, suffixes=("_ref", "_oth"))
        r, s = p["_v_ref"].notna(), p["_v_oth"].notna()
        both = r & s
        c = p[by].assign(
            scenario=other,
            n_pairs=1,
            n_scenario_only=s & ~r,
            n_reference_only=r & ~s,
            n_neither=~r & ~s,
            earlier=(s & ~r) | (both & (p["_v_oth"] < p["_v_ref"])),
            same=both & (p["_v_oth"] == p["_v_ref"]),
            later=(r & ~s) | (both & (p["_v_oth"] > p["_v_ref"])),
        )
        counts.append(c.groupby([*by, "scenario"], observed=True, sort=False).sum().astype(int))
    cnt_cols = ["n_pairs", "n_scenario_only", "n_reference_only", "n_neither", "earlier", "same", "later"]
    out = base.rename(columns={"n_pairs": "n_both"}).drop(columns=["n_dropped", "n_unpaired"])
    single = out["n_both"] == 1  # one pair has no spread to resample: no interval, and not marked as excluding zero
    out.loc[single, ["ci_low", "ci_high"]] = math.nan
    out.loc[single, "excludes_zero"] = False
    if counts:
        out = out.join(pd.concat(counts), on=[*by, "scenario"])
    for c in cnt_cols:
        out[c] = out[c].fillna(0).astype(int) if c in out else 0
    front = [*by, "scenario", "reference", "n_pairs", "n_both", "n_scenario_only", "n_reference_only", "n_neither", "earlier", "same", "later"]
    return out[front + ["mean", "median", "ci_low", "ci_high", "excludes_zero", "level"]]


# ----------------------------------------------------------------------------------------------
# Event study around designation
# ----------------------------------------------------------------------------------------------
def _with_ids(df: pd.DataFrame) -> pd.DataFrame:
    """A frame of one run (no id columns) gets ``run`` = ``scenario`` = "run"."""
    if "run" in df.columns and "scenario" in df.columns:
        return df
    df = df.copy()
    if "run" not in df.columns:
        df.insert(0, "run", "run")
    if "scenario" not in df.columns:
        df.insert(1, "scenario", "run")
    return df


def _ids_like(events: pd.DataFrame, other: pd.DataFrame, name: str = "events") -> pd.DataFrame:
    """``events`` with the ``run`` and ``scenario`` of ``other`` (a frame of the same runs): kept
    when it has them, copied when ``other`` holds one run, an error when it holds several."""
    if "run" in events.columns:
        return _with_ids(events)
    other = _with_ids(other)
    if other["run"].nunique() > 1:
        raise ConfigError(name, f"{name} has no 'run' column but the other frame holds several runs; use tidy(runs, '{name}')")
    first = other.iloc[0] if len(other) else {"run": "run", "scenario": "run"}
    return _with_ids(events.assign(run=first["run"], scenario=first["scenario"]))


def event_study(
    firms: pd.DataFrame,
    events: pd.DataFrame | None = None,
    window: tuple[int, int] = (-3, 3),
    values: Sequence[str] = ("rd_intensity", "patents"),
    bloc: str | None = "china",
    match_stage: bool = True,
    balanced: bool = False,
) -> pd.DataFrame:
    """Firm outcomes by years relative to a firm's first designation (any tier), against firms
    not yet designated.

    ``firms`` is the annual firm panel (firms.parquet; one run, or several via ``tidy`` with a
    ``run`` column). The designation year of a firm is the year of its first ``designated``
    event when ``events`` is given, else the first panel year in which its tier is not ``none``.
    Only operating firms of ``bloc`` (None: all) count. ``patents`` is invention + utility
    patents in force.

    For each designated firm-year at relative year k in ``window`` (inclusive), the comparison
    value is the mean over firms of the same run, calendar year (and stage, with
    ``match_stage``) that are not designated yet (never, or later). Firms are not balanced
    across the window unless ``balanced`` (then only firms observed at every k count).

    Returns one row per scenario, run, variable and ``rel_year``: ``treated`` (mean over
    designated firms), ``control`` (mean of their comparison values), ``difference`` (mean of
    treated minus comparison over firm-years where both exist) and ``n_treated``. With no designated firm-year in the
    window (no firm of ``bloc`` designated, e.g. china_without_tiers) the study has no rows: :func:`plot_event_study`
    says so on its panels.

    ``window`` is a pair (start, end) of whole years; ``values`` a column name or a list of them; ``bloc`` a bloc of
    the panel (only the default china may be absent: a panel without Chinese firms gives the empty study). An empty
    panel (a filter that matched nothing) is an error.
    """
    lo, hi = _pair(window, "window", "a pair (start, end) of whole years relative to designation, e.g. (-3, 3)")
    if not float(lo).is_integer() or not float(hi).is_integer():
        raise ConfigError("window", f"must be a pair (start, end) of whole years relative to designation, got {window}")
    lo, hi = int(lo), int(hi)
    if lo > hi:
        raise ConfigError("window", f"window must be (start, end) with start <= end, got {window}")
    values = _names(values, "values")
    _check_columns(firms, ["firm_id", "year"], arg="firms", table="firms")
    _check_rows(firms, "firms", "")
    _check_optional(events, ["time", "kind", "firm_id"], "events", "events")
    if bloc is not None and "bloc" in firms.columns and bloc != "china":
        _check_bloc(firms, bloc, "bloc")
    cols_out = ["scenario", "run", "variable", "rel_year", "treated", "control", "difference", "n_treated"]
    f = _event_study_firms(firms, values, bloc)
    if f.empty:
        return _study_attrs(pd.DataFrame(columns=cols_out))
    f = f.join(_first_designation(f, events).rename("_first_designation"), on=["run", "firm_id"])
    f["rel_year"] = f["year"] - f["_first_designation"]  # NaN for never-designated firms
    cell = ["run", "year"] + (["stage"] if match_stage and "stage" in f.columns else [])
    not_yet = f["_first_designation"].isna() | (f["_first_designation"] > f["year"])
    treated = f[f["rel_year"].between(lo, hi)].copy()
    if balanced:
        span = treated.groupby(["run", "firm_id"])["rel_year"].nunique()
        full = span[span == hi - lo + 1].index
        treated = treated[pd.MultiIndex.from_frame(treated[["run", "firm_id"]]).isin(full)]
    rows = []
    for var in values:
        ctrl = f[not_yet].groupby(cell, observed=True)[var].mean().rename("_control")
        t = treated.join(ctrl, on=cell)
        t["_diff"] = t[var] - t["_control"]
        g = t.groupby(["scenario", "run", "rel_year"], observed=True, sort=True)
        r = pd.DataFrame(
            {"treated": g[var].mean(), "control": g["_control"].mean(), "difference": g["_diff"].mean(), "n_treated": g[var].count()}
        ).reset_index()
        r.insert(2, "variable", var)
        rows.append(r)
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols_out)
    out["rel_year"] = out["rel_year"].astype(int)
    return _study_attrs(out[cols_out])


def _study_attrs(study: pd.DataFrame) -> pd.DataFrame:
    """Mark an event study made with no designated firm-year (``attrs["no_designated_firms"]``): an empty study plots as
    such, while a study a filter emptied (which keeps the mark False) is an error."""
    study.attrs["no_designated_firms"] = study.empty
    return study


def _event_study_firms(firms: pd.DataFrame, values: Sequence[str], bloc: str | None) -> pd.DataFrame:
    """The operating firm-years of ``bloc`` (None: all) with the run ids and ``patents`` (invention + utility) when asked."""
    f = _with_ids(firms)
    if "patents" in values and "patents" not in f.columns:
        _check_columns(f, ["patents_invention", "patents_utility"], arg="firms", table="firms")
        f = f.assign(patents=f["patents_invention"] + f["patents_utility"])
    _check_columns(f, list(values), arg="values")
    if bloc is not None and "bloc" in f.columns:
        f = f[f["bloc"].astype(str) == bloc]
    if "phase" in f.columns:
        f = f[f["phase"].astype(str) == "operating"]
    return f


def _first_designation(f: pd.DataFrame, events: pd.DataFrame | None) -> pd.Series:
    """The year of each firm's first designation by run and firm_id: its first ``designated`` event, or
    without events the first panel year with a tier other than ``none``."""
    if events is not None and events.empty:  # an event log with no events: nobody designated
        return pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], []], names=["run", "firm_id"]))
    if events is not None:
        ev = _ids_like(events, f)
        ev = ev[ev["kind"] == "designated"]
        return ev.assign(year=np.floor(ev["time"].astype(float)).astype(int)).groupby(["run", "firm_id"])["year"].min()
    _check_columns(f, ["tier"])
    return f[f["tier"].astype(str) != "none"].groupby(["run", "firm_id"])["year"].min()


# ----------------------------------------------------------------------------------------------
# Figures (the project's style: sim/research/style.py)
# ----------------------------------------------------------------------------------------------
BAND = (0.05, 0.5, 0.95)
AnalysisFigure = style.StyledFigure  # the name notebooks and sensitivity.py use
scenario_colors = style.scenario_colors
BLOC_STYLES = style.BLOC_STYLES


def _figure(nrows: int, ncols: int, width: str | float, height: float, **kw) -> tuple[Figure, np.ndarray]:
    return style.figure(nrows, ncols, width=width, height=height, **kw)


def _order(values: Iterable[Any], first: Sequence[str] = ()) -> list[Any]:
    """Unique values in order of appearance, with ``first`` (when present) in front. A column is reduced to its unique
    values first (``pd.unique``, in order of appearance): a report's time series holds tens of thousands of rows."""
    if isinstance(values, (pd.Series, pd.Index, pd.Categorical, np.ndarray)):
        values = pd.unique(values).tolist()
    seen = list(dict.fromkeys(v for v in values if not (isinstance(v, float) and math.isnan(v))))
    return [v for v in first if v in seen] + [v for v in seen if v not in first]


def _median_band(
    ax, d: pd.DataFrame, x: str, value: str, color, ls: Any = "-", label: str | None = None, marker: str | None = None, dates: bool = True
) -> None:
    """Median across runs of ``value`` at each ``x``, with the 5-95% band when there are several runs; ``x`` in decimal
    years is drawn on a date axis (``dates``)."""
    r = _reduce(d, [x], value, BAND).sort_values(x)
    if r.empty:
        return
    xs = style.to_dates(r[x].to_numpy(float)) if dates else r[x].to_numpy(float)
    ax.plot(xs, r["median"].to_numpy(float), color=color, ls=ls, label=label, marker=marker, markersize=2.5 if marker else None)
    if (r["n"] > 1).any():
        ax.fill_between(xs, r["q05"].to_numpy(float), r["q95"].to_numpy(float), color=color, alpha=0.15, lw=0)


def _legend(
    fig: Figure,
    colors: dict[str, Any],
    styles: dict[str, Any] | None = None,
    style_title: str = "",
    extra: Sequence[Any] = (),
    title: str = "median across seeds, band 5-95% of seeds",
    labels: dict[str, str] | None = None,
    ncols: int = 4,
) -> None:
    """One legend under the figure: scenario colours, then line styles (bloc or tier), then extras."""
    labels = labels or {}
    handles = [Line2D([], [], color=c, lw=2, label=labels.get(s, s)) for s, c in colors.items()]
    if styles and len(styles) > 1:
        handles += [Line2D([], [], color="0.3", ls=ls, label=f"{style_title}{k}") for k, ls in styles.items()]
    handles += list(extra)
    if handles:
        with style.styled(fig):
            fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), ncols), frameon=False, title=title)


def _suptitle(fig: Figure, text: str) -> None:
    with style.styled(fig):
        fig.suptitle(text)


def _year_axis(ax, label: str | None = "time (calendar year)", maxticks: int = 7) -> None:
    style.date_axis(ax, label, maxticks=maxticks)


def _empty(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.5")


TARGET_BLOC = "west"  # the bloc whose independence the west_timeline_coordinated target ranges are about


def reference_target(path: str | Path | None = None) -> str | None:
    """The scenario the ``west_timeline_coordinated`` target of conf/validation/targets.yaml is about (None when absent)."""
    targets = _read_targets(path)
    return next(
        (str(t["scenario"]) for t in targets if isinstance(t, dict) and t.get("id") == "west_timeline_coordinated" and t.get("scenario")), None
    )


def _check_ranges(ranges: Any, stage_column: pd.Series) -> dict[str, tuple[float, float]]:
    """``ranges`` of :func:`plot_timeline`: a mapping {stage: (lo, hi)} whose stages are the chain's (the table's, its
    categories included, or those of :data:`REFERENCE_RANGES`)."""
    if not isinstance(ranges, Mapping):
        raise ArgumentTypeError("ranges", f"must be a mapping {{stage: (lo, hi)}} of years, e.g. {{'magnet': (7, 15)}}, got {_got(ranges)}")
    col = stage_column
    stages = _order([*(col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else col.astype(str)), *REFERENCE_RANGES])
    for stage, rng in ranges.items():
        if stage not in stages:
            raise ConfigError("ranges", f"'{stage}' is not a stage; stages: {', '.join(map(str, stages))}")
        _pair(rng, f"ranges['{stage}']", "a pair (lo, hi) of years, e.g. (7, 15)")
    return dict(ranges)


@style.in_style()
def plot_timeline(
    timeline: pd.DataFrame, ranges: dict[str, tuple[float, float]] | None = None, band: tuple[float, float] = TIMELINE_BAND, target: str | None = None
) -> Figure:
    """First output and independence per bloc and stage on one calendar axis (rows: blocs; columns: the two measures),
    one line per scenario from :func:`timeline_table`: a dot at the median over all seeds (a triangle when it is only
    a lower bound), a bar over the ``band`` quantiles (an arrow at its end when the upper quantile is later than drawn:
    a lower bound, or never within the run, then drawn to the end of the scenario's run), and the seeds that reached
    it when not all did. Each scenario's clock start (its reference year) is a tick of its colour at the top of every
    panel and the end of its run a vertical line: "never" means not by then. The West's independence panel carries the
    accepted ranges of the west_timeline_coordinated target (:func:`reference_ranges`) in grey, counted from the
    reference year of the target's scenario (``target``; default the target's, else the latest reference year)."""
    _check_columns(timeline, ["bloc", "stage", "years_to_first_output", "years_to_independence"], arg="timeline", table="timeline")
    _check_rows(timeline, "timeline")
    band = _band(band)
    tl = _with_ids(timeline)
    if target is not None and target not in set(tl["scenario"].astype(str)):
        raise ConfigError(
            "target", f"target='{target}' is not a scenario of the table; its scenarios: {', '.join(_order(tl['scenario'].astype(str)))}"
        )
    table = timeline_table(tl, band)
    ranges = reference_ranges() if ranges is None else _check_ranges(ranges, tl["stage"])
    blocs, stages = _order(tl["bloc"]), _order(tl["stage"])
    colors = scenario_colors(tl["scenario"])
    lo, hi = (quantile_name(q) for q in band)
    measures = (("years_to_first_output", "first output of a new plant"), ("years_to_independence", "independence"))
    fig, axes = _figure(len(blocs), 2, "double", 1.3 + 0.42 * len(stages) * len(blocs) * max(1.0, len(colors) / 3) ** 0.5, sharex=True, sharey=True)
    refs = table.groupby("scenario")["reference_year"].max()
    ends = (refs + table.groupby("scenario")["horizon_years"].max()).dropna()
    target = target or reference_target()
    range_from = refs.get(target, refs.max()) if len(refs) else 0.0
    height = 0.7 / max(len(colors), 1)
    for i, bloc in enumerate(blocs):
        for j, (col, title) in enumerate(measures):
            ax = axes[i, j]
            for k, stage in enumerate(stages):
                if bloc == TARGET_BLOC and col == "years_to_independence" and stage in ranges and pd.notna(range_from):
                    a, b = ranges[stage]
                    ax.barh(k, style.to_dates(range_from + b) - style.to_dates(range_from + a), left=style.to_dates(range_from + a), height=0.85,
                            color="0.88", zorder=0, gid="accepted_range")  # fmt: skip
                for n, (scen, color) in enumerate(colors.items()):
                    sel = table[(table["scenario"] == scen) & (table["bloc"] == bloc) & (table["stage"] == stage) & (table["measure"] == col)]
                    if not sel.empty and scen in refs:
                        y = k + (n - (len(colors) - 1) / 2) * height
                        _timeline_marks(ax, sel.iloc[0], y, color, lo, hi, float(refs[scen]), float(ends.get(scen, np.nan)))
            trans = blended_transform_factory(ax.transData, ax.transAxes)
            for scen, color in colors.items():
                if scen in refs:
                    ax.plot(style.to_dates([refs[scen]] * 2), [1.0, 0.96], color=color, lw=2.5, transform=trans, clip_on=False, gid="clock_start")
                if scen in ends:
                    ax.axvline(style.to_dates(ends[scen]), color=color, lw=0.8, ls=(0, (2, 2)), gid="run_end")
            ax.set_title(f"{bloc}: {title}")
            ax.set_yticks(range(len(stages)), stages)
            ax.set_ylabel("stage" if j == 0 else "")
            ax.grid(axis="y", visible=False)
            _year_axis(ax, "calendar year (year)" if i == len(blocs) - 1 else None)
    style.hide_inner_labels(axes, x=True, y=True)
    axes[0, 0].set_ylim(len(stages) - 0.5, -0.5)
    if len(refs) and len(ends):  # room on the right for the counts of seeds, past the latest end of a run
        axes[0, 0].set_xlim(
            style.to_dates(float(refs.min()) - 1.0), style.to_dates(float(ends.max()) + 0.2 * (float(ends.max()) - float(refs.min())) + 1.0)
        )
    ref_txt = "/".join(f"{a:g}-{b:g}" for st, (a, b) in ranges.items() if st in stages)
    extra = [
        Patch(color="0.88", label=f"{TARGET_BLOC} independence: target range, {ref_txt} years after {range_from:g}"),
        Line2D([], [], color="0.3", lw=2.5, label="tick at top: the scenario's clock starts"),
        Line2D([], [], color="0.3", lw=0.8, ls=(0, (2, 2)), label="dashed: its runs end ('never': not by then)"),
    ]
    labels = {sc: f"{sc} ({refs[sc]:g}-{ends[sc]:g})" for sc in colors if sc in refs and sc in ends}
    band_txt = "-".join(f"{q * 100:g}" for q in band)
    _legend(
        fig,
        colors,
        extra=extra,
        labels=labels,
        ncols=2,
        title=f"dot: median over seeds (triangle: later than drawn); bar: {band_txt}% of seeds (arrow: runs on);\nk/n: seeds that reached it",
    )
    _suptitle(fig, "Mine-to-magnet timeline by bloc and stage")
    return fig


def _timeline_marks(ax, row: pd.Series, y: float, color, lo: str, hi: str, ref: float, end: float) -> None:
    """One scenario's median, interval and count of seeds that reached, from a row of timeline_table, in calendar years
    (``ref``: the scenario's reference year; ``end``: the end of its runs)."""
    end = end if np.isfinite(end) else ref + float(row.get("horizon_years", 0.0))
    if row[f"{lo}_status"] != NEVER:
        open_end = row[f"{hi}_status"] != REACHED
        stop = ref + row[hi] if row[f"{hi}_status"] != NEVER else max(end, ref + row[lo])
        ax.plot(style.to_dates([ref + row[lo], stop]), [y, y], color=color, lw=2, solid_capstyle="butt", gid="interval")
        if open_end:
            ax.plot(style.to_dates([stop]), [y], marker=">", color=color, markersize=4, ls="none", gid="open_end")
    if row["median_status"] != NEVER:
        bound = row["median_status"] == LOWER_BOUND
        ax.plot(style.to_dates([ref + row["median"]]), [y], marker=">" if bound else "o", color=color, markersize=4.5, ls="none", gid="median")
    if row["n_reached"] < row["n_seeds"]:
        trans = blended_transform_factory(ax.transAxes, ax.transData)
        text = f"{'never ' if row['n_reached'] == 0 else ''}{int(row['n_reached'])}/{int(row['n_seeds'])} "
        ax.text(1.0, y, text, transform=trans, ha="right", va="center", fontsize="x-small", color=color, gid="reached")


@style.in_style()
def plot_capacity(ts: pd.DataFrame, coordinated_bloc: str = "china") -> Figure:
    """Operating capacity by stage (rows) and bloc (columns, each its own scale, so that the small blocs are not
    squashed under the large one; kt of the stage's product per year) and, in the last column, the coordinated bloc's
    share of world capacity by stage."""
    _check_columns(ts, ["time", "bloc", "stage", "capacity_t", "capacity_share"], arg="ts", table="timeseries")
    _check_rows(ts, "ts")
    _check_bloc(ts, coordinated_bloc, "coordinated_bloc")
    _check_numeric(ts, ["capacity_t", "capacity_share"], "ts")
    d = _with_ids(ts).assign(capacity_kt=lambda x: x["capacity_t"] / 1000.0)
    stages, colors = _order(d["stage"]), scenario_colors(d["scenario"])
    blocs = _order(d["bloc"].astype(str), (coordinated_bloc,))
    fig, axes = _figure(len(stages), len(blocs) + 1, "double", 1.4 + 1.55 * len(stages), sharex=True)
    for k, stage in enumerate(stages):
        for j, bloc in enumerate(blocs):
            ax = axes[k, j]
            for scen, color in colors.items():
                ds = d[(d["stage"] == stage) & (d["scenario"] == scen) & (d["bloc"].astype(str) == bloc)]
                _median_band(ax, ds, "time", "capacity_kt", color, style.bloc_styles([bloc])[bloc])
            ax.set_ylim(bottom=0)
            ax.set_ylabel(f"capacity ({style.stage_unit(stage, 'kt/yr')})")
            ax.set_title(f"{stage}: {bloc}")
        share = axes[k, len(blocs)]
        for scen, color in colors.items():
            ds = d[(d["stage"] == stage) & (d["scenario"] == scen) & (d["bloc"].astype(str) == coordinated_bloc)]
            _median_band(share, ds, "time", "capacity_share", color)
        share.set_ylim(0, 1.02)
        share.yaxis.set_major_formatter(PercentFormatter(1.0))
        share.set_ylabel(f"{coordinated_bloc} share (% of world)")
        share.set_title(f"{stage}: share")
        for ax in axes[k]:
            _year_axis(ax, maxticks=4)
    style.hide_inner_labels(axes, x=True)
    _legend(fig, colors, style.bloc_styles(blocs), "bloc: ")
    _suptitle(fig, "Operating capacity by stage and bloc (each panel its own scale)")
    return fig


def _designations_per_year(events: pd.DataFrame, years: pd.DataFrame, bloc: str) -> pd.DataFrame:
    """New designations per run, year and tier, zero where a run had none (``years``: run, scenario, year)."""
    ev = _ids_like(events, years)
    ev = ev[(ev["kind"] == "designated") & (ev["bloc"].astype(str) == bloc)]
    ev = ev.assign(year=np.floor(ev["time"].astype(float)).astype(int), tier=ev["detail"].astype(str))
    counts = ev.groupby(["run", "year", "tier"]).size().rename("designations")
    grid = years[["run", "scenario", "year"]].drop_duplicates()
    grid = grid.merge(pd.DataFrame({"tier": list(DESIGNATED_TIERS)}), how="cross")
    out = grid.join(counts, on=["run", "year", "tier"])
    out["designations"] = out["designations"].fillna(0.0)
    return out


@style.in_style()
def plot_pyramid(policy: pd.DataFrame, events: pd.DataFrame | None = None, bloc: str = "china") -> Figure:
    """The designation pyramid of ``bloc`` over time: operating firms holding each tier (key
    Little Giants dashed with the Little Giants) and new designations per year by tier (from
    the event log's ``designated`` events; drawn at mid-year)."""
    _check_columns(policy, ["time", "year", "bloc", "measure", "key", "value"], arg="policy", table="policy")
    _check_rows(policy, "policy")
    _check_bloc(policy, bloc, "bloc")
    hint = f"; did you mean bloc='{events}'?" if isinstance(events, str) else ""
    _check_optional(events, ["time", "kind", "bloc", "detail"], "events", "events", hint)
    p = _with_ids(policy)
    p = p[(p["bloc"].astype(str) == bloc) & (p["measure"] == "firms")]
    colors = scenario_colors(_with_ids(policy)["scenario"])
    fig, grid = _figure(2, 2, "double", 5.2, sharex=True)
    axes = grid.ravel()
    titles = {
        "innovation_type": "innovation-type SMEs",
        "srdi": "SRDI SMEs",
        "little_giant": "Little Giants (key Little Giants dashed)",
    }
    for k, tier in enumerate(DESIGNATED_TIERS):
        ax = axes[k]
        for scen, color in colors.items():
            ps = p[p["scenario"] == scen]
            _median_band(ax, ps[ps["key"] == tier], "time", "value", color)
            if tier == "little_giant":
                _median_band(ax, ps[ps["key"] == "key_little_giant"], "time", "value", color, "--")
        ax.set_title(titles[tier])
        ax.set_ylabel("title holders (operating firms)")
    ax = axes[3]
    if events is not None and not events.empty:
        per_year = _designations_per_year(events, _with_ids(policy), bloc).assign(mid=lambda x: x["year"] + 0.5)
        total = per_year.groupby(["scenario", "run", "mid"], as_index=False)["designations"].sum()
        for scen, color in colors.items():
            _median_band(ax, total[total["scenario"] == scen], "mid", "designations", color, marker="o")
            lg = per_year[(per_year["scenario"] == scen) & (per_year["tier"] == "little_giant")]
            _median_band(ax, lg, "mid", "designations", color, "--")
    else:
        _empty(ax, "no event log given")
    ax.set_title("new designations, all tiers (Little Giants dashed)")
    ax.set_ylabel("designations per year (firms/yr)")
    for ax in axes:
        ax.set_ylim(bottom=0)
        _year_axis(ax)
    style.hide_inner_labels(grid, x=True)
    _legend(fig, colors)
    _suptitle(fig, f"Designation pyramid ({bloc})")
    return fig


def _tier_year(policy: pd.DataFrame, bloc: str) -> pd.DataFrame:
    """Per run, year and tier: R&D intensity (R&D / revenue over the year) and patents in force
    per operating firm at the year's last recorded quarter."""
    p = _with_ids(policy)
    p = p[(p["bloc"].astype(str) == bloc) & p["key"].isin(TIERS)]
    flows = p[p["measure"].isin(["rd_spend_musd", "revenue_musd"])]
    flows = flows.pivot_table(index=["scenario", "run", "year", "key"], columns="measure", values="value", aggfunc="sum", observed=True)
    last_q = p.groupby(["run", "year"])["quarter_index"].transform("max")
    stock = p[(p["quarter_index"] == last_q) & p["measure"].isin(["firms", "patents_invention", "patents_utility"])]
    stock = stock.pivot_table(index=["scenario", "run", "year", "key"], columns="measure", values="value", aggfunc="sum", observed=True)
    out = flows.join(stock, how="outer").reset_index()
    rev = out.get("revenue_musd", pd.Series(np.nan, index=out.index))
    out["rd_intensity"] = np.where(rev > 0, out.get("rd_spend_musd", np.nan) / rev.where(rev > 0), np.nan)
    firms = out.get("firms", pd.Series(np.nan, index=out.index))
    pat = out.get("patents_invention", 0.0) + out.get("patents_utility", 0.0)
    out["patents_per_firm"] = np.where(firms > 0, pat / firms.where(firms > 0), np.nan)
    out["mid"] = out["year"] + 0.5
    return out


TIER_NAMES = {"none": "not designated", "innovation_type": "innovation-type", "srdi": "SRDI", "little_giant": "Little Giant"}


@style.in_style()
def plot_rd_by_tier(policy: pd.DataFrame, bloc: str = "china") -> Figure:
    """R&D intensity (R&D spend / revenue over each year, top row) and patents in force per
    operating firm (end of each year, bottom row) by tier of ``bloc``; drawn at mid-year."""
    _check_columns(policy, ["quarter_index", "year", "bloc", "measure", "key", "value"], arg="policy", table="policy")
    _check_rows(policy, "policy")
    _check_bloc(policy, bloc, "bloc")
    d = _tier_year(policy, bloc)
    colors = scenario_colors(_with_ids(policy)["scenario"])
    fig, axes = _figure(2, len(TIERS), "double", 4.6, sharex=True, sharey="row")
    for k, tier in enumerate(TIERS):
        for scen, color in colors.items():
            ds = d[(d["scenario"] == scen) & (d["key"] == tier)]
            _median_band(axes[0, k], ds, "mid", "rd_intensity", color, marker="o")
            _median_band(axes[1, k], ds, "mid", "patents_per_firm", color, marker="o")
        axes[0, k].set_title(TIER_NAMES[tier])
    axes[0, 0].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes[0, 0].set_ylabel("R&D (% of revenue)")
    axes[1, 0].set_ylabel("patents in force (per firm)")
    for ax in axes.flat:
        ax.set_ylim(bottom=0)
        _year_axis(ax, maxticks=4)
    style.hide_inner_labels(axes, x=True, y=True)
    _legend(fig, colors)
    _suptitle(fig, f"R&D and patents by designation tier ({bloc})")
    return fig


EVENT_STUDY_LABELS = {  # title, unit of the value, unit of the gap
    "rd_intensity": ("R&D intensity", "% of revenue", "pp"),
    "patents": ("patents in force", "per firm", "per firm"),
}


@style.in_style()
def plot_event_study(study: pd.DataFrame) -> Figure:
    """The output of :func:`event_study`: per variable, designated firms (solid) against their comparison firms
    (dashed) by years relative to designation (top), and their difference (bottom); median across runs with the
    5-95% band. A study with no designated firm-year (:func:`event_study` of runs that designate nobody) draws its
    panels empty, saying so; a study a filter emptied is an error."""
    _check_columns(study, ["scenario", "run", "variable", "rel_year", "treated", "control", "difference"], arg="study", table="event study")
    if not study.attrs.get("no_designated_firms"):
        _check_rows(study, "study")
    variables = _order(study["variable"]) or ["rd_intensity"]
    colors = scenario_colors(study["scenario"])
    fig, axes = _figure(2, len(variables), "double", 5.0, sharex=True)
    for k, var in enumerate(variables):
        top, bottom = axes[0, k], axes[1, k]
        name, unit, diff_unit = EVENT_STUDY_LABELS.get(var, (var, "value", "value"))
        for scen, color in colors.items():
            ds = study[(study["scenario"] == scen) & (study["variable"] == var)]
            _median_band(top, ds, "rel_year", "treated", color, "-", marker="o", dates=False)
            _median_band(top, ds, "rel_year", "control", color, "--", dates=False)
            _median_band(bottom, ds.assign(difference=ds["difference"] * (100.0 if var == "rd_intensity" else 1.0)), "rel_year", "difference", color,
                         marker="o", dates=False)  # fmt: skip
        if study.empty:
            _empty(top, "no designated firms")
        top.set_title(name)
        top.set_ylabel(f"{name.split(' ')[0]} ({unit})")
        bottom.set_title(f"{name}: designated minus comparison")
        bottom.set_ylabel(f"gap ({diff_unit})")
        bottom.axhline(0, color="0.4", lw=0.8)
        bottom.set_xlabel("years relative to first designation (years)")
        for ax in (top, bottom):
            ax.axvline(-0.5, color="0.4", lw=0.8, ls=":")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if var == "rd_intensity":
            top.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    style.hide_inner_labels(axes, x=True)
    extra = [
        Line2D([], [], color="0.3", ls="-", marker="o", label="designated firms"),
        Line2D(
            [],
            [],
            color="0.3",
            ls="--",
            label="comparison: not yet designated, same year and stage" + (", SME-sized" if study.attrs.get("sme_controls") else ""),
        ),
    ]
    _legend(fig, colors, extra=extra, ncols=3)
    _suptitle(fig, "Event study around first designation")
    return fig


def _shock_windows(events: pd.DataFrame, ts: pd.DataFrame) -> pd.DataFrame:
    """Scenario-event windows per scenario: start and end time of each ``shock_start`` (``end``
    = its ``shock_end`` or the end of the run), unique across the seeds of a scenario."""
    ev = _ids_like(events, ts)
    end_time = (ts.groupby("run")["time"].max() + 0.25).to_dict()
    ev = ev[ev["kind"].isin(["shock_start", "shock_end"])]
    rows = []
    for (scen, run, detail), g in ev.groupby(["scenario", "run", "detail"], sort=True):
        starts = sorted(g[g["kind"] == "shock_start"]["time"].astype(float))
        ends = sorted(g[g["kind"] == "shock_end"]["time"].astype(float))
        for s in starts:
            e = next((x for x in ends if x >= s), end_time.get(run, s + 0.25))
            rows.append({"scenario": scen, "detail": detail, "start": s, "end": e})
    return pd.DataFrame(rows, columns=["scenario", "detail", "start", "end"]).drop_duplicates()


def _runs_of_quarters(times: np.ndarray) -> list[tuple[float, float]]:
    """Contiguous spans [start, end) of sorted quarterly times."""
    spans: list[tuple[float, float]] = []
    for t in np.unique(times):
        if spans and abs(t - spans[-1][1]) < 1e-9:
            spans[-1] = (spans[-1][0], t + 0.25)
        else:
            spans.append((t, t + 0.25))
    return spans


@style.in_style()
def plot_prices(ts: pd.DataFrame, events: pd.DataFrame | None = None) -> Figure:
    """Bloc price index by stage over time (one panel per stage; colour: scenario; line style: bloc). Shaded: the
    quarters in which that stage is under export control in every scenario drawn (a bar along the top per scenario
    marks its own controlled quarters); dotted lines: the start of each scenario event of the event log
    (``shock_start``), named at the top, on every panel (an event's stages are not in the log)."""
    _check_columns(ts, ["time", "bloc", "stage", "price_usd_per_kg"], arg="ts", table="timeseries")
    _check_rows(ts, "ts")
    _check_optional(events, ["time", "kind", "detail"], "events", "events")
    d = _with_ids(ts)
    stages, colors, styles = _order(d["stage"]), scenario_colors(d["scenario"]), style.bloc_styles(_order(d["bloc"]))
    ncols = 2 if len(stages) > 2 else len(stages)
    nrows = math.ceil(len(stages) / ncols)
    fig, axes = _figure(nrows, ncols, "double", 2.3 * nrows + 1.3, sharex=True)
    windows = pd.DataFrame(columns=["scenario", "detail", "start", "end"])
    if events is not None and not events.empty:
        windows = _shock_windows(events, d)
    starts = windows.groupby("detail")["start"].min().sort_values() if not windows.empty else pd.Series(dtype=float)
    for k, stage in enumerate(stages):
        ax = axes.flat[k]
        trans = blended_transform_factory(ax.transData, ax.transAxes)
        for n, (detail, start) in enumerate(starts.items()):
            ax.axvline(style.to_dates(start), color="0.45", lw=0.8, ls=":", gid="event_start")
            if k < ncols:
                ax.text(style.to_dates(start), 1.0 - 0.07 * n, f" {str(detail).split(':')[-1]}", transform=trans, fontsize="x-small", color="0.35",
                        va="top", ha="left", gid="event_name")  # fmt: skip
        in_all = None
        for n, (scen, color) in enumerate(colors.items()):
            ds = d[(d["stage"] == stage) & (d["scenario"] == scen)]
            for bloc, ls in styles.items():
                _median_band(ax, ds[ds["bloc"] == bloc], "time", "price_usd_per_kg", color, ls)
            if "export_controlled" in ds.columns:
                ctl = ds.groupby("time")["export_controlled"].max()
                ctl = set(ctl[ctl > 0].index.astype(float))
                in_all = ctl if in_all is None else in_all & ctl
                for s, e in _runs_of_quarters(np.array(sorted(ctl))):
                    ax.plot(
                        style.to_dates([s, e]),
                        [0.985 - 0.025 * n] * 2,
                        color=color,
                        lw=3,
                        transform=trans,
                        solid_capstyle="butt",
                        gid="export_control",
                    )
        for s, e in _runs_of_quarters(np.array(sorted(in_all or []))):
            ax.axvspan(style.to_dates(s), style.to_dates(e), color=style.SHADE, alpha=0.12, lw=0, gid="event_window")
        ax.set_title(stage)
        ax.set_ylabel(f"price ({style.stage_unit(stage, 'USD/kg')})")
        ax.set_ylim(bottom=0)
        _year_axis(ax)
    for ax in axes.flat[len(stages) :]:
        ax.set_visible(False)
    style.hide_inner_labels(axes, x=True)
    extra = [
        Patch(color=style.SHADE, alpha=0.25, label="export control here, all scenarios"),
        Line2D([], [], color="0.5", lw=3, label="export control here (bar at top)"),
        Line2D([], [], color="0.45", lw=0.8, ls=":", label="an event starts (named at top)"),
    ]
    _legend(fig, colors, styles, "bloc: ", extra=extra, ncols=3)
    _suptitle(fig, "Prices by bloc and stage")
    return fig


def magnet_equivalents(ts: pd.DataFrame) -> dict[str, float]:
    """Tonnes of magnet per tonne of each stage's product, recovered from the time series
    (self_sufficiency = output_t x factor / final_demand_t); 1.0 where no output was recorded."""
    _check_columns(ts, ["output_t", "final_demand_t", "self_sufficiency", "stage"], arg="ts", table="timeseries")
    _check_rows(ts, "ts", "")
    d = ts[(ts["output_t"] > 0) & (ts["final_demand_t"] > 0) & ts["self_sufficiency"].notna()]
    fac = (d["self_sufficiency"] * d["final_demand_t"] / d["output_t"]).groupby(d["stage"].astype(str)).median()
    return {str(s): float(fac.get(str(s), 1.0)) for s in _order(ts["stage"].astype(str))}


FISCAL_TS_COLUMNS = ("quarter_index", "year", "bloc", "stage", "capacity_t")


def fiscal_per_tonne(policy: pd.DataFrame, ts: pd.DataFrame) -> pd.DataFrame:
    """Per run, bloc and year: cumulative public money (``fiscal_musd``, M USD) and the cost per
    tonne of domestic chain capacity added since the start, in USD per t/yr of magnet-equivalent
    capacity of the bloc's weakest stage (NaN while none was added)."""
    _check_columns(policy, ["year", "bloc", "measure", "key", "value"], arg="policy", table="policy")
    _check_rows(policy, "policy", "")
    _check_columns(ts, [*FISCAL_TS_COLUMNS, "output_t", "final_demand_t", "self_sufficiency"], arg="ts", table="timeseries")
    _check_rows(ts, "ts", "")
    p, t = _with_ids(policy), _with_ids(ts)
    fis = p[p["measure"] == "fiscal_musd"].groupby(["scenario", "run", "bloc", "year"], observed=True)["value"].sum()
    fis = fis.groupby(level=["scenario", "run", "bloc"], observed=True).cumsum().rename("fiscal_cum_musd")
    me = magnet_equivalents(t)
    t = t.assign(me_t=t["capacity_t"] * t["stage"].astype(str).map(me).astype(float))
    chain = t.groupby(["scenario", "run", "bloc", "quarter_index", "year"], observed=True)["me_t"].min().reset_index()
    start = chain.groupby(["run", "bloc"], observed=True)["me_t"].transform("first")
    chain["capacity_added_t"] = chain["me_t"] - start
    chain = chain.groupby(["scenario", "run", "bloc", "year"], observed=True)[["me_t", "capacity_added_t"]].last()
    out = chain.join(fis, how="left").reset_index()
    out["fiscal_cum_musd"] = out["fiscal_cum_musd"].fillna(0.0)
    added = out["capacity_added_t"]
    out["usd_per_t_added"] = np.where(added > 0, out["fiscal_cum_musd"] * 1e6 / added.where(added > 0), np.nan)
    out["bloc"] = out["bloc"].astype(str)
    return out


def fiscal_by_instrument(policy: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and bloc (rows) and instrument (columns): public money over the whole run, M USD, mean across seeds;
    instruments never used are left out."""
    _check_columns(policy, ["bloc", "measure", "key", "value"], arg="policy", table="policy")
    p = _with_ids(policy)
    p = p[p["measure"] == "fiscal_musd"].assign(bloc=lambda x: x["bloc"].astype(str))
    tot = p.groupby(["scenario", "run", "bloc", "key"], observed=True)["value"].sum()
    tot = tot.groupby(level=["scenario", "bloc", "key"], observed=True).mean().unstack("key", fill_value=0.0)
    return tot.loc[:, tot.sum(axis=0) > 0] if not tot.empty else tot


@style.in_style()
def plot_fiscal(policy: pd.DataFrame, ts: pd.DataFrame | None = None) -> Figure:
    """Public money: per year and bloc, each bloc its own panel and scale (M USD/yr; top row), each scenario and bloc's
    total over the run split by instrument (share of its total, with the total at the bar's end; instrument colours,
    never a scenario's), and, with the time series, cumulative cost per tonne of domestic chain capacity added (USD per
    t/yr, magnet-equivalent, weakest stage; log scale).

    A policy table whose blocs spent nothing says so on its panels; a table with no rows, or none of public money
    (``measure`` ``fiscal_musd``: a filter that removed them), and a time series with no rows are errors."""
    _check_columns(policy, ["year", "bloc", "measure", "key", "value"], arg="policy", table="policy")
    _check_rows(policy, "policy")
    if not (policy["measure"] == "fiscal_musd").any():
        measures = _listing(_order(policy["measure"].astype(str)))
        raise ConfigError(
            "policy", f"the table has no rows of public money (measure 'fiscal_musd'; its measures: {measures}): pass the whole policy table"
        )
    if ts is not None:
        _check_columns(ts, FISCAL_TS_COLUMNS, arg="ts", table="timeseries")
        _check_rows(ts, "ts")
    p = _with_ids(policy)
    p = p[p["measure"] == "fiscal_musd"].assign(bloc=lambda x: x["bloc"].astype(str))
    colors = scenario_colors(_with_ids(policy)["scenario"])
    spent = p.groupby("bloc")["value"].sum()
    blocs = [b for b in _order(p["bloc"], ("china", "west")) if spent.get(b, 0.0) > 0] or _order(p["bloc"])[:1]
    styles = style.bloc_styles(blocs)
    fig = style.blank("double", 6.8)
    top, bottom = fig.subfigures(2, 1, height_ratios=(1.0, 1.1))
    with style.styled(fig):
        row = top.subplots(1, len(blocs) + 1, squeeze=False)[0]
        bars = bottom.subplots(1, 1)
    for ax, bloc in zip(row, blocs):
        _fiscal_per_year(ax, p[p["bloc"] == bloc], colors, {bloc: styles[bloc]})
        ax.set_title(f"{bloc}: public money per year")
    _fiscal_per_tonne_panel(row[-1], policy, ts, colors, styles)
    _fiscal_by_instrument(bars, policy)
    _legend(fig, colors, styles, "bloc: ")
    _suptitle(fig, "Public money per bloc")
    return fig


def _fiscal_per_year(ax, p: pd.DataFrame, colors: dict, styles: dict) -> None:
    """Public money per year and bloc (median and band across seeds), one line per scenario; drawn at mid-year."""
    annual = p.groupby(["scenario", "run", "bloc", "year"], observed=True)["value"].sum().reset_index().assign(mid=lambda x: x["year"] + 0.5)
    for scen, color in colors.items():
        for bloc, ls in styles.items():
            _median_band(ax, annual[(annual["scenario"] == scen) & (annual["bloc"] == bloc)], "mid", "value", color, ls, marker="o")
    ax.set_ylabel("public money (M USD/yr)")
    ax.set_ylim(bottom=0)
    _year_axis(ax, maxticks=4)


def _fiscal_by_instrument(ax, policy: pd.DataFrame) -> None:
    """Each scenario and bloc's total over the run by instrument: stacked bars of the shares (mean across seeds), the
    total in M USD written at the bar's end."""
    tot = fiscal_by_instrument(policy)
    if tot.empty or tot.shape[1] == 0:
        _empty(ax, "no public money spent")
        ax.set_xlabel("share of the total (%)")
        return
    labels = [f"{s} / {b}" for s, b in tot.index]
    totals = tot.sum(axis=1).to_numpy()
    shares = tot.div(tot.sum(axis=1).where(tot.sum(axis=1) > 0), axis=0).fillna(0.0)
    left = np.zeros(len(tot))
    inst_colors = style.instrument_colors(tot.columns)
    for inst in inst_colors:
        ax.barh(labels, shares[inst].to_numpy(), left=left, color=inst_colors[inst], label=str(inst), edgecolor="white", lw=0.3)
        left += shares[inst].to_numpy()
    for y, total in enumerate(totals):
        ax.text(
            1.01,
            y,
            f"{total:,.0f} M USD",
            va="center",
            ha="left",
            fontsize="x-small",
            transform=blended_transform_factory(ax.transAxes, ax.transData),
        )
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.16, 1.0), title="instrument", frameon=False, fontsize="x-small")
    ax.set_title("total over the run by instrument (mean across seeds; total at the right)")
    ax.set_xlabel("share of the scenario's and bloc's total (%)")
    ax.set_ylabel("scenario / bloc")


def _fiscal_per_tonne_panel(ax, policy: pd.DataFrame, ts: pd.DataFrame | None, colors: dict, styles: dict) -> None:
    """Cumulative cost per tonne of domestic chain capacity added (needs the time series; log scale)."""
    if ts is not None and not ts.empty:
        per_t = fiscal_per_tonne(policy, ts).assign(mid=lambda x: x["year"] + 0.5)
        drawn = False
        for scen, color in colors.items():
            for bloc, ls in styles.items():
                dd = per_t[(per_t["scenario"] == scen) & (per_t["bloc"] == bloc)]
                drawn |= bool(dd["usd_per_t_added"].notna().any())
                _median_band(ax, dd, "mid", "usd_per_t_added", color, ls, marker="o")
        if drawn:
            ax.set_yscale("log")
        else:
            _empty(ax, "no domestic chain capacity added yet")
    else:
        _empty(ax, "needs the time series")
    ax.set_title("cumulative cost per t/yr added")
    ax.set_ylabel("cost (USD per t NdFeB magnet/yr)")
    _year_axis(ax, maxticks=4)


# ----------------------------------------------------------------------------------------------
# National runs (scenario national_programme; docs/ODD.md 7.15)
# ----------------------------------------------------------------------------------------------
NATIONAL_TIERS = tuple(
    (k, name, style.TIER_PALETTE[k]) for k, name in (("innovation_type", "innovation-type"), ("srdi", "SRDI"), ("little_giant", "Little Giant"))
)


def _per_scale(run: Run) -> float:
    """The factor that takes a national run's counts to 1:1 scale (1 / national.scale)."""
    return 1.0 / float(run.summary.get("scale") or (run.config.get("national") or {}).get("scale") or 1.0)


def _national_figure(runs: Run | Iterable[Run], table: str, height: float, empty: str = "no national runs"):
    """(figure, axes, the table over the national runs with each run's 1:1 factor ``per``, or None when no run has
    rows in it yet: the figure then says ``empty``). Runs of which none is of the national world are an error."""
    national = [r for r in _as_runs(runs) if _world_of(r) == "national"]
    if not national:
        raise ConfigError("runs", "these are rare-earth runs; national plots need runs of scenario=national_programme")
    fig, axes = _figure(1, 1, "double", height)
    frames = [r.table(table).assign(per=_per_scale(r)) for r in national if not r.table(table).empty]
    if not frames:
        _empty(axes[0, 0], empty)
        return fig, axes[0, 0], None
    return fig, axes[0, 0], pd.concat(frames, ignore_index=True)


def _check_published(published: Any) -> dict[str, dict[Any, float]]:
    """``published`` of :func:`plot_national_pyramid`: {tier: {year: count}} over the tiers of :data:`NATIONAL_TIERS`."""
    tiers = [k for k, _, _ in NATIONAL_TIERS]
    if published is None:
        return {}
    if not isinstance(published, Mapping):
        raise ArgumentTypeError("published", f"must be a mapping {{tier: {{year: count}}}} (tiers: {', '.join(tiers)}), got {_got(published)}")
    for tier, pts in published.items():
        if tier not in tiers:
            raise ConfigError("published", f"unknown tier '{tier}'; tiers: {', '.join(tiers)}")
        _year_map(pts, f"published['{tier}']", "{year: count}")
    return dict(published)


@style.in_style()
def plot_national_pyramid(runs: Run | Iterable[Run], published: dict[str, dict[int, float]] | None = None) -> Figure:
    """Title holders by tier at each year's end, at 1:1 scale (median across runs; stacked), with the published sizes
    as points (``published``: {tier: {year: count}}, tiers innovation_type, srdi, little_giant)."""
    published = _check_published(published)
    fig, ax, d = _national_figure(runs, "national", 4.5)
    if d is None:
        return fig
    bottom = None
    for key, label, colour in reversed(NATIONAL_TIERS):
        vals = (d[f"n_{key}"] * d["per"]).groupby(d["year"]).median()
        ax.bar(vals.index, vals.to_numpy(), bottom=None if bottom is None else bottom.to_numpy(), color=colour, alpha=0.8, label=f"{label} (model)")
        bottom = vals if bottom is None else bottom + vals
    marks = {"srdi": "o--", "little_giant": "s--", "innovation_type": "^--"}
    for key, label, colour in NATIONAL_TIERS:
        pts = (published or {}).get(key)
        if pts:
            ax.plot(list(pts), list(pts.values()), marks[key], color=colour, label=f"{label} (published)")
    ax.set_xlabel("end of year (calendar year)")
    ax.set_ylabel("title holders (firms, 1:1 scale)")
    ax.set_title("The pyramid by tier")
    ax.legend(fontsize="small", loc="upper left")
    return fig


@style.in_style()
def plot_national_batches(runs: Run | Iterable[Run], batches: dict[int, float] | None = None) -> Figure:
    """Titles granted each year by tier at 1:1 scale (median across runs), with the ministry's Little Giant batches
    (``batches``: {year: count})."""
    batches = _year_map(batches, "batches", "{year: count}")
    fig, ax, d = _national_figure(runs, "national", 4.0)
    if d is None:
        return fig
    width = 0.28
    for i, (key, label, colour) in enumerate(NATIONAL_TIERS):
        vals = (d[f"designated_{key}"] * d["per"]).groupby(d["year"]).median()
        ax.bar(vals.index + (i - 1) * width, vals.to_numpy(), width=width, color=colour, label=label)
    if batches:
        ax.plot(list(batches), list(batches.values()), "k_", markersize=18, markeredgewidth=2, label="Little Giant batch (MIIT)")
    ax.set_xlabel("year of the round (calendar year)")
    ax.set_ylabel("titles granted (firms/yr, 1:1 scale)")
    ax.set_title("Titles granted each year")
    ax.legend(fontsize="small")
    return fig


@style.in_style()
def plot_national_provinces(runs: Run | Iterable[Run], top: int = 12) -> Figure:
    """SRDI SMEs and Little Giants by province in the final year at 1:1 scale (median across runs), the ``top``
    provinces by title holders (``top``: a positive integer)."""
    top = _positive_int(top, "top")
    fig, ax, d = _national_figure(runs, "provinces", 4.0)
    if d is None:
        return fig
    d = d[d["year"] == d["year"].max()]
    med = d.assign(srdi=d["n_srdi"] * d["per"], lg=d["n_little_giant"] * d["per"]).groupby("province")[["srdi", "lg"]].median()
    med = med.loc[(med["srdi"] + med["lg"]).sort_values(ascending=False).index[:top]]
    ax.bar(med.index, med["srdi"], color=style.TIER_PALETTE["srdi"], label="SRDI")
    ax.bar(med.index, med["lg"], bottom=med["srdi"], color=style.TIER_PALETTE["little_giant"], label="Little Giant")
    ax.tick_params(axis="x", labelrotation=45)
    ax.set_xlabel("province")
    ax.set_ylabel("title holders, final year (firms, 1:1 scale)")
    ax.set_title("SRDI SMEs and Little Giants by province")
    ax.legend(fontsize="small")
    return fig


@style.in_style()
def plot_national_reviews(runs: Run | Iterable[Run], published: dict[int, float] | None = None) -> Figure:
    """Share of each tier's cohort (year of designation) that passed its three-year review, pooled over runs, with
    published pass rates of the Little Giant batches (``published``: {cohort year: share}). A run too short for its
    first review (three years after the first designations) draws the panel empty, saying "no reviews yet"."""
    published = _year_map(published, "published", "{cohort year: share}", 0.0, 1.0)
    fig, ax, d = _national_figure(runs, "reviews", 4.0, "no reviews yet")
    if d is None:
        return fig
    d = d.groupby(["tier", "cohort"], as_index=False)[["passed", "failed"]].sum()
    d["pass_rate"] = d["passed"] / (d["passed"] + d["failed"])
    for key, label, colour in NATIONAL_TIERS:
        r = d[d["tier"] == key]
        ax.plot(r["cohort"], r["pass_rate"], "o-", color=colour, label=label)
    if published:
        ax.plot(list(published), list(published.values()), "kx", markersize=9, label="Little Giant batches (published)")
    ax.set_xlabel("cohort: year of the designation (calendar year)")
    ax.set_ylabel("passing its review (share of the cohort)")
    ax.set_ylim(0, 1.05)
    ax.set_title("Reviews by cohort")
    ax.legend(fontsize="small")
    return fig
