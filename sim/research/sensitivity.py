"""Global sensitivity analysis with SALib: Sobol indices and a Morris screening, run through the sweep machinery.

    python -m sim.sensitivity morris                       # conf/sensitivity/levers.yaml, a cheap first look
    python -m sim.sensitivity sobol --n 32 --workers 2     # first-order and total Sobol indices
    python -m sim.sensitivity sobol --study levers --seeds 2 years=25   # extra arguments: overrides for every run
    python -m sim.sensitivity sobol --out results/sensitivity/NAME      # the same command again resumes

A study file (conf/sensitivity/NAME.yaml) names the scenario, the factors (each an existing numeric config
key with [low, high] bounds: policy levers and uncertain parameters), the outputs (summary.json scalars)
and the method settings. The samples come from SALib (Saltelli/Sobol' sequence for Sobol with
``calc_second_order=False``: N x (factors + 2) points; Morris trajectories: r x (factors + 1) points).
Each point runs with seeds 1..K (``seeds``, the same K seeds at every point: common random numbers) and
its output is the mean over those seeds. With one seed, the indices describe the model under one fixed
stream of draws: seed noise that a factor's change sets off then counts as that factor's effect (it
inflates total indices); more seeds average it out, and ``noise_share`` in the table says how much of
an output's variance across points is still seed noise.

Each run streams to ``<out>/runs/<scenario>-seed<k>-<hash>`` through :func:`sim.research.sweep.run_job`, so a
study that is interrupted and started again with the same ``--out`` (or the same arguments: the default
directory is named by the design) skips the complete runs, and a failing run is recorded in its
manifest. The configs of the points are built from one composed config by setting the factor values
(Hydra takes ~0.5 s per composition, the model runs in ~1 s); before anything is written, every factor is
composed with Hydra at both bounds and the result checked equal to this shortcut, and every point is
validated. Then ``<out>`` receives: design.json (what fixes the runs), sweep_table.parquet (a row per
run), samples.parquet (a row per run: point, seed, factor values, outputs), indices.csv and
indices.parquet (a row per output and factor: S1, S1_conf, ST, ST_conf, or mu, mu_star, mu_star_conf,
sigma) and indices.png with indices.pdf (Sobol: first-order and total indices with confidence whiskers; Morris: mu* against
sigma), and the terminal ends with a compact table of the indices.

Outputs must be defined in every run: ``years_to_*`` keys are null ("never") when a milestone is not
reached, so they need ``censor: true`` (never = the end of the run, in years from the timeline's
reference year; the index then describes the censored quantity), and keys with a year need runs that
reach it. The analytic core (:func:`sample_points`, :func:`compute_indices`, :func:`analyse_function`)
works on any function, which is how the tests check it against the Ishigami function.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from sim.checks import whole_number
from sim.config import CONF_DIR, Config, ConfigError, compose, validate
from sim.progress import Progress
from sim.research import style
from sim.research.driver import (
    FIRST_RUN,
    check_counts,
    command_parser,
    default_workers,
    error_line,
    no_key,
    progress_wanted,
    refuse_seed,
    summary_keys,
    text_table,
)
from sim.research.study import (  # noqa: F401 - the study's names, as before
    KINDS,
    Factor,
    Output,
    Study,
    check_sobol_n,
    check_trajectories,
    file_keys,
    from_file_overrides,
    is_power_of_two,
    parse,
    problem,
    read_study,
)

STUDY_DIR = CONF_DIR / "sensitivity"
METHODS = ("sobol", "morris")
INDEX_COLUMNS = {
    "sobol": ("S1", "S1_conf", "ST", "ST_conf"),
    "morris": ("mu", "mu_star", "mu_star_conf", "sigma"),
}
FILES = ("design.json", "sweep_table.parquet", "samples.parquet", "indices.csv", "indices.parquet", "indices.png", "indices.pdf")


# --------------------------------------------------------------------------
# The study file (schema and reader: sim/research/study.py)
# --------------------------------------------------------------------------
STUDY_KEYS = tuple(file_keys(Study))


def parse_study(data: Any, source: str = "") -> Study:
    """Validate a study mapping (as read from YAML). Raises ConfigError naming the key."""
    return parse(Study, data, source)


def load_study(name_or_path: str | Path) -> Study:
    """A study by name (conf/sensitivity/NAME.yaml) or by path to a YAML file. Raises ConfigError."""
    return read_study(Study, name_or_path, "sensitivity", "--study")


# --------------------------------------------------------------------------
# Sampling and indices (SALib), for any function
# --------------------------------------------------------------------------
def sample_points(factors: Sequence[Factor], method: str, n: int, levels: int = 4, seed: int = 1) -> np.ndarray:
    """The method's sample, one row per point, in the factors' own units.

    sobol: ``n`` base samples (a power of 2) of a scrambled Sobol' sequence in Saltelli's scheme without
    second-order terms: n x (D + 2) rows. morris: ``n`` trajectories on a grid of ``levels`` levels:
    n x (D + 1) rows. ``seed`` fixes the sample.
    """
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    prob = problem(factors)
    if method == "sobol":
        check_sobol_n(n, "n")
        return sobol_sample.sample(prob, n, calc_second_order=False, scramble=True, seed=seed)
    if method == "morris":
        check_trajectories(n, "n")
        return morris_sample.sample(prob, n, num_levels=levels, seed=seed)
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def compute_indices(
    factors: Sequence[Factor],
    method: str,
    X: np.ndarray,
    Y: np.ndarray,
    levels: int = 4,
    conf_level: float = 0.95,
    num_resamples: int = 1000,
    seed: int = 1,
) -> pd.DataFrame:
    """Indices of one output Y (a value per row of X) as a frame with a row per factor.

    sobol: S1, S1_conf, ST, ST_conf (conf: half-width of the bootstrap interval at ``conf_level``).
    morris: mu, mu_star, mu_star_conf, sigma of the elementary effects, in units of Y per whole range
    of the factor. ``seed`` fixes the bootstrap. A Y that is constant gives zeros (it depends on no factor).
    """
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze

    Y = np.asarray(Y, dtype=float)
    names = [f.name for f in factors]
    cols = INDEX_COLUMNS[method]
    if not np.all(np.isfinite(Y)):
        raise ValueError("Y holds NaN or infinite values")
    if np.ptp(Y) == 0:  # nothing to apportion: every index is zero
        return pd.DataFrame({"factor": names, **{c: 0.0 for c in cols}})
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "sobol":
            si = sobol_analyze.analyze(problem(factors), Y, calc_second_order=False, num_resamples=num_resamples, conf_level=conf_level, seed=rng)
        else:
            si = morris_analyze.analyze(
                problem(factors), np.asarray(X, dtype=float), Y, num_resamples=num_resamples, conf_level=conf_level, num_levels=levels, seed=rng
            )
    return pd.DataFrame({"factor": names, **{c: np.asarray(si[c], dtype=float) for c in cols}})


def analyse_function(
    func: Callable[[np.ndarray], np.ndarray],
    factors: Sequence[Factor],
    method: str,
    n: int,
    levels: int = 4,
    seed: int = 1,
    conf_level: float = 0.95,
    num_resamples: int = 1000,
) -> pd.DataFrame:
    """Sample, evaluate ``func`` (rows of X -> a value per row) and return :func:`compute_indices`."""
    X = sample_points(factors, method, n, levels, seed)
    Y = np.asarray(func(X), dtype=float).reshape(-1)
    return compute_indices(factors, method, X, Y, levels, conf_level, num_resamples, seed)


# --------------------------------------------------------------------------
# Configs of the sample points
# --------------------------------------------------------------------------
def get_value(cfg: Any, key: str) -> Any:
    """The value at a dotted key of a Config (or of its DictConfig, faster when asked often): ``OmegaConf.select``;
    KeyError if there is none."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    node = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dataclasses.asdict(cfg))
    missing = object()
    value = OmegaConf.select(node, key, default=missing)
    if value is missing:
        raise KeyError(key)
    return OmegaConf.to_container(value) if isinstance(value, (DictConfig, ListConfig)) else value


def set_value(cfg: Any, key: str, value: float) -> None:
    """Set the value at a dotted key of a Config (in place; dataclasses and dicts, as the Config holds them).

    Kept by hand on purpose: ``OmegaConf.update`` on the composed DictConfig gives the same config but needs it
    converted to dataclasses again for every sample point, measured at ~640 ms a point against ~13 ms here
    (conf/sensitivity/quick.yaml): +200 s before the first run of a 320-point Sobol study."""
    *path, last = key.split(".")
    parent = functools.reduce(lambda node, part: node[part] if isinstance(node, dict) else getattr(node, part), path, cfg)
    if isinstance(parent, dict):
        parent[last] = value
    else:
        setattr(parent, last, value)


def override(key: str, value: float) -> str:
    """``key=value`` with the float's full precision, so that Hydra composes exactly this number."""
    return f"{key}={float(value)!r}"


@functools.lru_cache(maxsize=32)
def _composed(overrides: tuple[str, ...]) -> Config:
    return compose(list(overrides))


def compose_cached(overrides: Sequence[str]) -> Config:
    """:func:`sim.config.compose`, remembered in this process (a study started again, a notebook cell run
    twice); callers must not modify the result (:func:`point_config` works on a copy)."""
    return _composed(tuple(overrides))


def base_overrides(study: Study, extra: Sequence[str] = ()) -> list[str]:
    """Overrides every run of the study shares (the scenario, the study's and the command line's)."""
    return [f"scenario={study.scenario}", *study.overrides, *extra, f"output.firm_panel={str(study.firm_panel).lower()}", "progress=false"]


def point_config(base: Config, factors: Sequence[Factor], values: Sequence[float], seed: int) -> Config:
    """The config of one point and seed: a copy of ``base`` with the factor values set, validated."""
    cfg = copy.deepcopy(base)
    cfg.seed = int(seed)
    for f, v in zip(factors, values):
        set_value(cfg, f.key, float(v))
    return validate(cfg)


def point_overrides(base_ov: Sequence[str], factors: Sequence[Factor], values: Sequence[float], seed: int) -> list[str]:
    """The override list of one point and seed (what its manifest records and its directory is named by)."""
    return [*base_ov, f"seed={int(seed)}", *(override(f.key, v) for f, v in zip(factors, values))]


def check_factors(factors: Sequence[Factor], base: Config, base_ov: Sequence[str], seeds: int = 1, section: str = "factors") -> None:
    """Every factor names an existing real-valued setting that Hydra composes at both bounds, to the same
    config as :func:`point_config` builds. Raises ConfigError naming the factor's key in the study file
    (``<section>.<name>.key``: ``factors`` in a sensitivity study, ``parameters`` in a calibration)."""
    from omegaconf import OmegaConf

    tree = OmegaConf.create(dataclasses.asdict(base))  # once: every factor's key is looked up in it
    for f in factors:
        where = f"{section}.{f.name}.key"
        try:
            current = get_value(tree, f.key)
        except KeyError:
            try:  # Hydra's own message names the key and what is allowed beside it
                compose([*base_ov, override(f.key, f.bounds[0])])
            except ConfigError as ex:
                hint = " (add the entry in the study's overrides: '+KEY=VALUE')" if "+" in ex.problem else ""
                raise ConfigError(where, f"'{f.key}': {ex.problem}{hint}") from None
            raise ConfigError(where, f"no setting '{f.key}' in the composed config") from None
        kind = setting_kind(base, f.key) if current is None else None  # null now: what the schema declares it holds
        if isinstance(current, (dict, list)) or kind in ("list", "mapping"):
            raise ConfigError(where, _not_real(f.key, current, kind))
        if isinstance(current, bool) or not (current is None or isinstance(current, float)):
            what = "a whole number" if isinstance(current, int) and not isinstance(current, bool) else type(current).__name__
            raise ConfigError(where, f"'{f.key}' holds {what} ({_abbreviated(current)}); allowed: a real-valued (float) setting")
    for i, bound in enumerate(("low", "high")):
        values = [f.bounds[i] for f in factors]
        seed = 1 if i == 0 else seeds
        try:
            hydra_cfg = compose_cached(point_overrides(base_ov, factors, values, seed))
        except ConfigError as ex:
            raise _bound_error(ex, factors, bound, section) from None
        try:
            ours = point_config(base, factors, values, seed)
        except ConfigError as ex:
            raise _bound_error(ex, factors, bound, section) from None
        if ours != hydra_cfg:
            for f, v in zip(factors, values):  # find the factor whose shortcut differs from Hydra's composition
                one = compose([*base_ov, override(f.key, v)])
                if point_config(base, [f], [v], 1) != one:
                    raise ConfigError(
                        f"{section}.{f.name}.key",
                        f"'{f.key}' at {v:g} does not compose to a plain number (another setting depends on it); choose the setting it feeds",
                    )
            raise ConfigError(section, f"the {section} at their {bound} bounds compose differently from the study's shortcut")


def _abbreviated(value: Any, width: int = 60) -> str:
    """``repr(value)``, cut to about ``width`` characters: a message stays one short line whatever the value."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _not_real(key: str, current: Any, kind: str | None) -> str:
    """Why a factor's ``key`` that holds a list or a mapping (or is declared so, null now) cannot be varied, and a
    setting under it that can (a mapping's first real-valued entry)."""
    if isinstance(current, dict) or kind == "mapping":
        names = list(current) if isinstance(current, dict) else []
        shown = ", ".join(names[:3]) + (f", ... {len(names)} keys" if len(names) > 3 else "")
        real = next((k for k, v in (current or {}).items() if isinstance(v, float)), None)
        such = f", such as {key}.{real}" if real else ""
        return f"'{key}' is a mapping{f' ({shown})' if shown else ''}; allowed: a real-valued (float) setting{such}"
    held = "null here" if current is None else _abbreviated(current)
    return f"'{key}' is a list setting ({held}); allowed: a real-valued (float) setting"


def _unwrap_optional(hint: Any) -> Any:
    import types
    import typing

    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else None
    return hint


def setting_kind(cfg: Any, key: str) -> str | None:
    """The kind of setting at a dotted ``key`` of a Config as its schema declares it (so also where it is null now):
    ``bool``, ``number``, ``text``, ``list`` or ``mapping``; None where the schema does not say (a free-form dict)."""
    import typing

    node, hint = cfg, None
    for part in key.split("."):
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            try:
                hints = typing.get_type_hints(type(node))
            except Exception:  # an annotation that does not resolve: the schema does not say
                return None
            if part not in hints:
                return None
            hint, node = hints[part], getattr(node, part, None)
        elif isinstance(node, dict):
            args = typing.get_args(_unwrap_optional(hint))
            hint, node = (args[1] if len(args) == 2 else None), node.get(part)
        else:
            return None
    hint = _unwrap_optional(hint)
    origin = typing.get_origin(hint) or hint
    if origin is bool:
        return "bool"
    if origin in (int, float):
        return "number"
    if origin is str:
        return "text"
    if origin in (list, tuple):
        return "list"
    if origin is dict or (isinstance(origin, type) and dataclasses.is_dataclass(origin)):
        return "mapping"
    return None


def _bound_error(ex: ConfigError, factors: Sequence[Factor], bound: str, section: str = "factors") -> ConfigError:
    f = next((f for f in factors if ex.key == f.key or ex.key.startswith(f.key + "[")), None)
    if f is not None:
        return ConfigError(
            f"{section}.{f.name}.bounds", f"{bound} bound {f.bounds[0 if bound == 'low' else 1]:g} is not allowed for '{f.key}': {ex.problem}"
        )
    return ConfigError(ex.key, f"{ex.problem} (with every factor at its {bound} bound)")


def check_outputs(outputs: Sequence[Output], base: Config) -> None:
    """Outputs that name a calendar year need runs that reach it."""
    end = base.world.start_year + base.years - 1
    for o in outputs:
        for part in o.key.split("."):
            if len(part) == 4 and part.isdigit() and int(part) > end:
                raise ConfigError(
                    f"outputs.{o.name}.key",
                    f"'{o.key}' names {part} but the runs end in {end} (years={base.years}); choose a year up to {end} or more years",
                )


# --------------------------------------------------------------------------
# Running a study
# --------------------------------------------------------------------------
@dataclass
class Design:
    """What fixes the runs of a study: the sample, its points and their jobs."""

    method: str
    n: int
    X: np.ndarray  # the sample, a row per SALib point
    point_of_row: np.ndarray  # index into points for every row of X (duplicate rows share a point)
    points: np.ndarray  # unique points, a row each
    jobs: list[list[str]]  # point-major, seeds 1..K within a point
    job_point: list[int]
    job_seed: list[int]
    identity: dict[str, Any]

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()[:8]


def make_design(study: Study, method: str, base_ov: Sequence[str], n: int | None = None) -> Design:
    n = n if n is not None else (study.sobol_n if method == "sobol" else study.morris_trajectories)
    X = sample_points(study.factors, method, n, study.morris_levels, study.sample_seed)
    index: dict[tuple[float, ...], int] = {}
    point_of_row = np.empty(len(X), dtype=int)
    for i, row in enumerate(X):
        point_of_row[i] = index.setdefault(tuple(float(v) for v in row), len(index))
    points = np.array(list(index), dtype=float).reshape(len(index), len(study.factors))
    jobs, job_point, job_seed = [], [], []
    for p, values in enumerate(points):
        for k in range(1, study.seeds + 1):
            jobs.append(point_overrides(base_ov, study.factors, values, k))
            job_point.append(p)
            job_seed.append(k)
    identity = {
        "method": method,
        "n": n,
        "levels": study.morris_levels if method == "morris" else None,
        "sample_seed": study.sample_seed,
        "seeds": study.seeds,
        "base_overrides": list(base_ov),
        "factors": [[f.name, f.key, *f.bounds] for f in study.factors],
    }
    return Design(method, n, X, point_of_row, points, jobs, job_point, job_seed, identity)


def default_out(study: Study, design: Design, root: str | Path = "results") -> Path:
    """``<root>/sensitivity/<study>-<method>-n<N>x<seeds>-<digest of the design>``: the same arguments, the same directory."""
    return Path(root) / "sensitivity" / f"{study.name}-{design.method}-n{design.n}x{study.seeds}-{design.digest}"


def _check_out(out: Path, design: Design) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", f"{out} exists and is not a directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    f = out / "design.json"
    if not f.is_file():
        raise ConfigError("--out", f"{out} exists and is not a sensitivity study directory (no design.json); choose another --out")
    try:
        old = json.loads(f.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError("--out", f"{f} is unreadable ({err}); choose another --out, or move the file away to start the study again") from None
    if not isinstance(old, dict) or not isinstance(old.get("identity"), dict):
        raise ConfigError("--out", f"{f} is not a study's design (no identity in it); choose another --out, or move the file away")
    if old.get("identity") != design.identity:
        changed = [k for k in design.identity if old.get("identity", {}).get(k) != design.identity[k]]
        raise ConfigError(
            "--out",
            f"{out} holds a study with another design (differs in: {', '.join(changed)}); "
            "choose another --out (a study resumes only with the same design)",
        )


def run_jobs(
    jobs: Sequence[Sequence[str]],
    cfgs: Sequence[Config],
    out: Path,
    workers: int,
    say: Callable[[str], None] = print,
    quiet: bool = False,
    check_first: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every job through :func:`sim.research.sweep.run_jobs` in ``out`` (complete runs are skipped), ``workers``
    at a time. ``say`` gets a count line, then a line every tenth of the runs, with a bar of the runs done on a
    terminal (sim/progress.py); ``quiet`` (progress=false among the overrides) leaves out the bar and those lines.
    ``check_first(run_dir)`` is called once, on the first complete run (one found complete, or the first to end); what
    it raises stops the runs (those running are abandoned, as on an interrupt)."""
    from sim.research import sweep

    n = len(jobs)
    records: list[dict[str, Any] | None] = [None] * n
    todo = []
    for i, (j, c) in enumerate(zip(jobs, cfgs)):
        d = sweep.job_dir(out, j, c)
        if sweep.is_complete(d):
            records[i] = {"run_dir": str(d), "status": "complete", "skipped": True, "wall_time_s": 0.0, "error": None}
        else:
            todo.append(i)
    first = next((r["run_dir"] for r in records if r is not None), None)
    if check_first is not None and first is not None:
        check_first(first)
        check_first = None
    say(f"{n} runs: {n - len(todo)} complete already, {len(todo)} to run on {max(1, min(workers, len(todo)))} worker(s)")
    if not todo:
        return records  # type: ignore[return-value]
    started = time.time()
    every = max(1, math.ceil(len(todo) / 10))
    failed = 0
    display = Progress(total=len(todo), unit="run", enabled=not quiet, stream=sys.stdout)

    def progress(done: int, rec: dict[str, Any]) -> None:
        nonlocal failed, check_first
        failed += rec["status"] != "complete"
        if check_first is not None and rec["status"] == "complete":
            check, check_first = check_first, None
            check(rec["run_dir"])
        line = None
        if done % every == 0 or done == len(todo):
            line = (
                f"  [{done:>{len(str(len(todo)))}}/{len(todo)}] runs done"
                + (f", {failed} failed" if failed else "")
                + f" ({time.time() - started:.0f} s)"
            )
        display.advance()
        if line is not None and not quiet:
            with display.above():  # the caller's say writes above the bar
                say(line)

    with display:
        run = sweep.run_jobs(
            [jobs[i] for i in todo], [cfgs[i] for i in todo], out, workers, on_done=lambda _k, rec, done: progress(done, rec), quiet=True
        )
    for i, rec in zip(todo, run):
        records[i] = rec
    return records  # type: ignore[return-value]


@dataclass
class StudyResult:
    study: Study
    design: Design
    out: Path
    records: list[dict[str, Any]]
    samples: pd.DataFrame  # a row per run: point, seed, factor values, outputs
    indices: pd.DataFrame  # a row per output and factor
    files: dict[str, Path]


class StudyFailed(RuntimeError):
    """Some runs of the study failed; their manifests hold the errors."""


def _column(df: pd.DataFrame, key: str) -> str | None:
    """The sweep-table column of a summary key (``summary.KEY`` where an input has the same name)."""
    outputs = df.attrs.get("outputs", [])
    for c in (key, f"summary.{key}"):
        if c in outputs or (not outputs and c in df.columns):
            return c
    return None


def check_output_keys(outputs: Sequence[Output], run_dir: str | Path) -> None:
    """Every output names a scalar of the summary of the complete run in ``run_dir`` (the study's first: every run of
    a study writes the same keys): ConfigError naming the output otherwise, so that a misspelt key stops a study after
    its first run instead of after all of them (the complete runs are kept: the same command resumes once it is fixed)."""
    keys = summary_keys(run_dir)
    for o in outputs if keys is not None else ():
        if o.key not in keys:
            raise no_key(f"outputs.{o.name}.key", o.key, keys, FIRST_RUN.format(Path(run_dir).name))


def output_values(study: Study, table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """A column per output (rows as in ``table``), censored where asked; and the count censored per output."""
    values, censored = {}, {}
    for i, o in enumerate(study.outputs):
        col = _column(table, o.key)
        if col is None:
            raise no_key(f"outputs.{o.name}.key", o.key, table.attrs.get("outputs", table.columns))
        v = pd.to_numeric(table[col], errors="coerce").astype(float)
        censored[o.name] = 0
        if o.censor:
            end = (
                pd.to_numeric(table[_column(table, "start_year") or "start_year"], errors="coerce")
                + pd.to_numeric(table[_column(table, "years") or "summary.years"], errors="coerce")
                - pd.to_numeric(table[_column(table, "timeline_reference_year") or "timeline_reference_year"], errors="coerce")
            )
            censored[o.name] = int(v.isna().sum())
            v = v.fillna(end)
        values[o.name] = v.to_numpy()
    return pd.DataFrame(values, index=table.index), censored


def analyse(study: Study, design: Design, samples: pd.DataFrame, censored: dict[str, int]) -> pd.DataFrame:
    """The index table: a row per output and factor, from the per-run samples (mean over seeds per point)."""
    cols = INDEX_COLUMNS[design.method]
    rows = []
    for o in study.outputs:
        by_point = samples.groupby("point")[o.name]
        mean = by_point.mean().reindex(range(len(design.points)))
        Y = mean.to_numpy()[design.point_of_row]  # back to SALib's rows (a duplicate point counts every time)
        noise = math.nan
        if study.seeds > 1 and np.nanvar(Y) > 0:
            noise = float(by_point.var(ddof=1).mean() / study.seeds / np.var(mean.to_numpy()))
        n_undefined = int(samples[o.name].isna().sum())
        base = {
            "study": study.name,
            "method": design.method,
            "output": o.name,
            "output_key": o.key,
            "label": o.label,
            "unit": o.unit,
            "n_points": len(design.points),
            "n_runs": len(samples),
            "seeds": study.seeds,
            "n_censored": censored.get(o.name, 0),
            "noise_share": noise,
            "output_mean": float(np.nanmean(Y)),
            "output_sd": float(np.nanstd(Y)),
        }
        if n_undefined:
            note = f"undefined (null) in {n_undefined} of {len(samples)} runs; no indices"
            idx = pd.DataFrame({"factor": [f.name for f in study.factors], **{c: math.nan for c in cols}})
        else:
            note = "constant across the sample" if np.ptp(Y) == 0 else ""
            idx = compute_indices(
                study.factors, design.method, design.X, Y, study.morris_levels, study.conf_level, study.num_resamples, study.sample_seed
            )
        for f, (_, r) in zip(study.factors, idx.iterrows()):
            rows.append(
                {
                    **base,
                    "factor": f.name,
                    "factor_key": f.key,
                    "kind": f.kind,
                    "low": f.bounds[0],
                    "high": f.bounds[1],
                    **{c: float(r[c]) for c in cols},
                    "note": note,
                }
            )
    return pd.DataFrame(rows)


def run_study(
    study: Study,
    method: str,
    out: Path | None = None,
    workers: int = 1,
    n: int | None = None,
    extra: Sequence[str] = (),
    root: str | Path = "results",
    say: Callable[[str], None] = print,
    quiet: bool = False,
) -> StudyResult:
    """Check, sample, run (resuming), analyse and write a study; see the module docstring.

    ``n``: Sobol base samples or Morris trajectories (default: the study's). ``extra``: overrides for every
    run. ``quiet``: no progress of the runs (see :func:`run_jobs`). Raises ConfigError (before anything is
    written) for a user mistake, StudyFailed if runs failed.
    """
    from sim.engine import output as out_io
    from sim.research.sweep import write_table

    if method not in METHODS:
        raise ConfigError("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    if workers < 1:
        raise ConfigError("--workers", f"must be >= 1, got {workers}")
    if n is not None:
        (check_sobol_n if method == "sobol" else check_trajectories)(n, "--n")
    base_ov = base_overrides(study, extra)
    try:
        base = compose_cached(base_ov)
    except ConfigError as err:  # an entry of the file's overrides is named as such
        raise from_file_overrides(err, study.overrides, study.source, extra) from None
    check_factors(study.factors, base, base_ov, study.seeds)
    check_outputs(study.outputs, base)
    n_sample = n if n is not None else (study.sobol_n if method == "sobol" else study.morris_trajectories)
    rows = n_sample * (len(study.factors) + (2 if method == "sobol" else 1))  # the sample's rows: at most as many points
    where = out if out is not None else Path(root) / "sensitivity"  # before the sample is drawn (--n 2**30: out of memory)
    out_io.check_run_count(where, "--out", rows * study.seeds, f"{rows:,} sample points x {study.seeds} seed(s), from --n {n_sample}")
    design = make_design(study, method, base_ov, n)
    out = Path(out) if out is not None else default_out(study, design, root)
    _check_out(out, design)
    cfgs = _job_configs(study, design, base)
    out_io.check_output(out, "--out", cfgs)  # writable, room for every run: before the first
    say(
        f"study {study.name} ({method}): {len(study.factors)} factors, {len(study.outputs)} outputs, "
        f"{len(design.X)} sample points ({len(design.points)} distinct) x {study.seeds} seed(s), into {out}"
    )
    out.mkdir(parents=True, exist_ok=True)
    out_io.write_json(out / "design.json", {"identity": design.identity, "study": dataclasses.asdict(study), "digest": design.digest})
    records = run_jobs(design.jobs, cfgs, out, workers, say, quiet, check_first=lambda d: check_output_keys(study.outputs, d))
    failed = [r for r in records if r["status"] != "complete"]
    table_path, table = write_table(out)
    if failed:
        raise StudyFailed(
            f"{len(failed)} of {len(records)} runs failed (first: {failed[0]['run_dir']}: {failed[0]['error']}); "
            "their manifest.json holds the traceback; fix the cause and run the same command to finish"
        )
    samples, censored = _samples(study, design, records, table)
    indices = analyse(study, design, samples, censored)
    files = _write_results(out, table_path, samples, indices)
    return StudyResult(study, design, out, records, samples, indices, files)


def _job_configs(study: Study, design: Design, base: Config) -> list[Config]:
    """The validated config of every job; a combination of values the model refuses names its sample point."""
    cfgs = []
    for p, k in zip(design.job_point, design.job_seed):
        try:
            cfgs.append(point_config(base, study.factors, design.points[p], k))
        except ConfigError as ex:  # bounds are checked one by one, combinations here
            values = ", ".join(f"{f.name}={v:g}" for f, v in zip(study.factors, design.points[p]))
            raise ConfigError(ex.key, f"{ex.problem} (at sample point {p}: {values})") from None
    return cfgs


def _samples(study: Study, design: Design, records: list[dict[str, Any]], table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """A row per run (point, seed, factor values, run_dir, outputs) and the count censored per output."""
    rows = table.set_index("run").loc[[Path(r["run_dir"]).name for r in records]]
    rows.attrs = dict(table.attrs)
    values, censored = output_values(study, rows)
    samples = pd.DataFrame(
        {
            "point": design.job_point,
            "seed": design.job_seed,
            **{f.name: design.points[design.job_point, i] for i, f in enumerate(study.factors)},
            "run_dir": [r["run_dir"] for r in records],
        }
    )
    return pd.concat([samples, values.reset_index(drop=True)], axis=1), censored


def _write_results(out: Path, table_path: Path, samples: pd.DataFrame, indices: pd.DataFrame) -> dict[str, Path]:
    """samples.parquet, indices.parquet, indices.csv and indices.png into ``out``; the files of the study by role."""
    from sim.engine import output as out_io

    files = {
        "design": out / "design.json",
        "sweep_table": table_path,
        "samples": out / "samples.parquet",
        "indices_csv": out / "indices.csv",
        "indices": out / "indices.parquet",
        "plot": out / "indices.png",
    }
    fig = plot_indices(indices)
    with out_io.staged_files(out) as new:  # together: a plot that fails leaves the results before, not half of them
        out_io.write_parquet(new / files["samples"].name, samples)
        out_io.write_parquet(new / files["indices"].name, indices)
        out_io.write_text(new / files["indices_csv"].name, indices.to_csv(index=False))
        style.save(fig, new / files["plot"].name)
    return files


# --------------------------------------------------------------------------
# Table and plot
# --------------------------------------------------------------------------
def _g(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def format_indices(indices: pd.DataFrame) -> str:
    """A compact text table: a row per factor, a column per output (Sobol: ST (S1); Morris: mu* (sigma))."""
    if indices.empty:
        return "(no indices)"
    method = indices["method"].iloc[0]
    outputs = list(dict.fromkeys(indices["output"]))
    factors = list(dict.fromkeys(indices["factor"]))
    a, b = ("ST", "S1") if method == "sobol" else ("mu_star", "sigma")
    cell = {(r["factor"], r["output"]): f"{_g(r[a])} ({_g(r[b])})" for _, r in indices.iterrows()}
    kind = dict(zip(indices["factor"], indices["kind"]))
    head = ["factor", "kind", *outputs]
    body = [[f, kind[f], *(cell[(f, o)] for o in outputs)] for f in factors]
    first = indices.drop_duplicates("output").set_index("output")
    what = "total-order index ST (first-order S1)" if method == "sobol" else "Morris mu* (sigma), in output units per whole factor range"
    legend = []
    for o in outputs:
        r = first.loc[o]
        extra = []
        if r["n_censored"]:
            extra.append(f"{int(r['n_censored'])} runs censored at the end of the run")
        if not math.isnan(r["noise_share"]):
            extra.append(f"seed noise {r['noise_share']:.0%} of the variance")
        if method == "sobol" and not r["note"]:
            sums = indices[indices["output"] == o][["S1", "ST"]].sum()
            extra.append(f"sum S1 {sums['S1']:.2f}, sum ST {sums['ST']:.2f}")  # ST summing far above 1: interactions or seed noise
        if r["note"]:
            extra.append(r["note"])
        legend.append(f"  {o}: {r['label']} [{r['unit'] or '-'}] = {r['output_key']}" + (f" ({'; '.join(extra)})" if extra else ""))
    conf = "" if method == "morris" else " (confidence half-widths in indices.csv)"
    table = text_table(pd.DataFrame(body, columns=head), left=2)
    return "\n".join([f"{what}{conf}:", table, "outputs:", *legend])


@style.in_style()
def plot_indices(indices: pd.DataFrame):
    """A matplotlib Figure in the project's style (sim/research/style.py), a panel per output. Sobol: bars of S1 and
    ST per factor with confidence whiskers. Morris: mu* against sigma per factor, with mu* whiskers and the line
    sigma = mu*."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    method = indices["method"].iloc[0]
    outputs = list(dict.fromkeys(indices["output"]))
    factors = list(dict.fromkeys(indices["factor"]))
    ncols = min(3, len(outputs))
    nrows = math.ceil(len(outputs) / ncols)
    height = (0.2 * len(factors) + 1.2 if method == "sobol" else 2.6) * nrows + 0.8
    fig, grid = style.figure(nrows, ncols, width="double" if ncols > 1 else "column", height=height)
    axes = grid.ravel()
    colors = style.FACTOR_PALETTE
    for ax, o in zip(axes, outputs):
        d = indices[indices["output"] == o].set_index("factor").loc[factors]
        r0 = d.iloc[0]
        ax.set_title(f"{r0['label']}" + (f" [{r0['unit']}]" if r0["unit"] else ""), wrap=True)
        if d[INDEX_COLUMNS[method][0]].isna().all():
            ax.text(0.5, 0.5, r0["note"] or "no indices", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        if method == "sobol":
            y = np.arange(len(factors))
            ax.barh(y - 0.2, d["S1"], height=0.38, xerr=d["S1_conf"], color=colors["first_order"], label="first order S1", capsize=2)
            ax.barh(y + 0.2, d["ST"], height=0.38, xerr=d["ST_conf"], color=[colors[k] for k in d["kind"]], label="total ST", capsize=2)
            ax.set_yticks(y, factors)
            ax.set_ylabel("factor")
            ax.invert_yaxis()
            ax.axvline(0, color="black", lw=0.6)
            ax.set_xlabel("index (share of output variance)")
        else:
            ax.errorbar(d["mu_star"], d["sigma"], xerr=d["mu_star_conf"], fmt="none", ecolor="lightgray", zorder=1)
            ax.scatter(d["mu_star"], d["sigma"], c=[colors[k] for k in d["kind"]], zorder=2)
            for name, r in d.iterrows():
                ax.annotate(name, (r["mu_star"], r["sigma"]), fontsize="x-small", xytext=(3, 3), textcoords="offset points")
            top = float(np.nanmax([d["mu_star"].max(), d["sigma"].max()])) * 1.1 or 1.0
            ax.plot([0, top], [0, top], ls="--", color="gray", lw=0.7)
            ax.set_xlim(left=0)
            ax.set_ylim(bottom=0)
            unit = f"{r0['unit']}" if r0["unit"] else "output units"
            ax.set_xlabel(f"mu*, mean |elementary effect| ({unit})")
            ax.set_ylabel(f"sigma, interaction ({unit})")
    for ax in axes[len(outputs) :]:
        ax.set_axis_off()
    kinds = {k: c for k, c in colors.items() if k != "first_order"}
    handles = [Patch(color=c, label=f"{k}") for k, c in kinds.items()] + [Line2D([], [], ls="--", color="gray", lw=0.7, label="sigma = mu*")]
    if method == "sobol":
        handles = [Patch(color=colors["first_order"], label="first order S1"), *[Patch(color=c, label=f"total ST ({k})") for k, c in kinds.items()]]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    study = indices["study"].iloc[0]
    r0 = indices.iloc[0]
    fig.suptitle(
        f"{'Sobol indices' if method == 'sobol' else 'Morris screening'}: study {study}, {int(r0['n_points'])} points x {int(r0['seeds'])} seed(s)"
    )
    return fig


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = command_parser(
        "python -m sim.sensitivity",
        __doc__.split("\n\n")[0],
        seeds="seeds per sample point, averaged (default: the study's)",
        workers="worker processes (default: the cores available)",
        out="study directory (default: results/sensitivity/<study>-<method>-n<N>x<seeds>-<design id>); the same directory resumes",
    )
    ap.add_argument("method", choices=METHODS, help="sobol (indices) or morris (screening)")
    ap.add_overrides("config overrides applied to every run (e.g. years=20; progress=false: no progress lines)")
    ap.add_argument("--study", default="levers", help="conf/sensitivity/NAME.yaml or a path to a YAML file (default: levers)")
    ap.add_argument("--n", type=whole_number, help="Sobol base samples N (a power of 2) or Morris trajectories (default: the study's)")
    a = ap.parse_intermixed_args(argv)
    started = time.time()
    study = None
    try:
        study = load_study(a.study)
        check_counts(a)
        refuse_seed(a.overrides)
        if a.seeds is not None:
            study.seeds = a.seeds
        res = run_study(
            study,
            a.method,
            Path(a.out) if a.out else None,
            a.workers or default_workers(),
            a.n,
            a.overrides,
            say=lambda s: print(s, flush=True),
            quiet=not progress_wanted(a.overrides),
        )
    except ConfigError as err:
        print(error_line(err, study, STUDY_KEYS), file=sys.stderr)
        return 2
    except StudyFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: complete runs are kept; run the same command to resume", file=sys.stderr)
        return 130
    print()
    print(format_indices(res.indices))
    print()
    print(f"indices: {res.files['indices_csv']}, plot: {res.files['plot']}  ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
