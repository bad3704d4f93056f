"""Scenario discovery: under which lever settings and uncertainties does an outcome of interest happen?

    python -m sim.explore run --study quick                  # conf/exploration/quick.yaml: sample, run (resuming), analyse
    python -m sim.explore run --study levers --workers 2     # the full exploration on the default world
    python -m sim.explore analyse results/exploration/DIR    # the analysis again (e.g. with other outcomes: --study FILE)

A study file (conf/exploration/NAME.yaml, :class:`sim.research.study.Exploration`) names the scenario, the
factors (existing config keys: ``kind: lever`` for a policy instrument, ``uncertain`` for what nobody
chooses; real-valued settings with ``bounds``, or ``values``, a list of categories), the outcomes (a run
reaches an outcome when each of its conditions holds, a comparison of a summary scalar with a threshold:
``years_to_independence.west.magnet <= by_year 2035``; a ``years_to_*`` key is null when the milestone is
never reached, and never counts as infinitely late), the sampler (``lhs``, a Latin hypercube, or ``sobol``,
a scrambled Sobol' sequence: scipy.stats.qmc, fixed by ``sample_seed``), the number of experiments, the seeds
per experiment, and candidate policies for the robustness table.

Every experiment runs with seeds 1..K through the sweep jobs (:func:`sim.research.sweep.run_job`: one run
directory per experiment and seed in ``<out>/runs/``), on local worker processes or, with ``--launcher
submitit_slurm``, as a SLURM job array through submitit (``submitit_local`` tries the same on this machine).
The same command again skips the complete runs, so an exploration that is killed resumes. The configs of
the experiments are built from one composed config by setting the factor values, checked first against
Hydra's composition at every bound and category (:func:`sim.research.sensitivity.check_factors`).

The analysis uses the EMA Workbench (ema_workbench.analysis), with a row per run (an experiment's seeds are
rows of their own, so a box's density is the chance of the outcome in it):

- PRIM (``prim.Prim``): the peeling trajectory (coverage, density, mass, restricted dimensions of every box:
  the trade-off curve) and one chosen box, the one with the highest coverage among the boxes at least
  ``prim.min_density`` dense (ties: the denser), its limits and quasi-p-values;
- feature scores (``feature_scoring.get_ex_feature_scores``, extra trees seeded by ``sample_seed``);
- a dimensional-stacking plot (``dimensional_stacking.discretize`` and ``plot_pivot_table``: the share of runs
  reaching the outcome in each cell of the top-scoring factors, binned);
- the robustness table: each candidate policy (and the status quo: the scenario's own lever values) against
  the same ``robustness.scenarios`` uncertainty samples: the share of runs reaching the outcome, and the regret
  in each sample (the best policy's share there minus the policy's own), its mean and its maximum (minimax regret).

``<out>`` then holds design.json, sweep_table.parquet, experiments.parquet (a row per run: experiment, seed,
factor values, run_dir), outcomes.parquet (a row per run: every condition's value and every outcome), and the
analysis: prim_trajectory.parquet, prim_boxes.parquet, feature_scores.parquet, robustness.parquet,
robustness_samples.parquet, tradeoff.png, stacking_<outcome>.png (each with a PDF beside it) and report.md (the boxes in words).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import sys
import textwrap
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from sim.config import Config, ConfigError, validate
from sim.research import sensitivity as sa
from sim.research.driver import (
    FIRST_RUN,
    check_counts,
    command_parser,
    default_workers,
    error_line,
    no_key,
    path_text,
    progress_wanted,
    refuse_seed,
    summary_keys,
    text_table,
)
from sim.research.study import Exploration, ExploreFactor, Factor, file_keys, from_file_overrides, parse, read_study, value_kind

STUDY_KEYS = tuple(file_keys(Exploration))
LAUNCHERS = ("local", "submitit_local", "submitit_slurm")
DESIGN = "design.json"
FILES = (
    "design.json",
    "sweep_table.parquet",
    "experiments.parquet",
    "outcomes.parquet",
    "prim_trajectory.parquet",
    "prim_boxes.parquet",
    "feature_scores.parquet",
    "robustness.parquet",
    "robustness_samples.parquet",
    "tradeoff.png",
    "report.md",
)
STATUS_QUO = "status_quo"
WEAK_QP = 0.05  # a box restriction with quasi-p-values above this is flagged as weak in the report (Bryant and Lempert 2010)


def load_study(name_or_path: str | Path) -> Exploration:
    """An exploration by name (conf/exploration/NAME.yaml) or by path to a YAML file. Raises ConfigError."""
    return read_study(Exploration, name_or_path, "exploration", "--study")


def parse_study(data: Any, source: str = "") -> Exploration:
    return parse(Exploration, data, source)


# --------------------------------------------------------------------------
# The sample
# --------------------------------------------------------------------------
def unit_sample(sampler: str, d: int, n: int, seed: Any) -> np.ndarray:
    """``n`` points in the unit cube [0, 1)^d: a Latin hypercube (``lhs``) or a scrambled Sobol' sequence (``sobol``)."""
    from scipy.stats import qmc

    rng = np.random.default_rng(seed)
    engine = qmc.LatinHypercube(d=d, rng=rng) if sampler == "lhs" else qmc.Sobol(d=d, scramble=True, rng=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Sobol' balance warning for n not a power of 2 (refused before)
        return engine.random(n)


def scale(factors: Sequence[ExploreFactor], unit: np.ndarray) -> pd.DataFrame:
    """Unit-cube points in the factors' own units: [low, high] uniformly, or one of the categories with equal chance."""
    cols = {}
    for i, f in enumerate(factors):
        u = unit[:, i]
        if f.categorical:
            k = len(f.values)
            cols[f.name] = [f.values[j] for j in np.minimum((u * k).astype(int), k - 1)]
        else:
            cols[f.name] = f.bounds[0] + u * (f.bounds[1] - f.bounds[0])
    return pd.DataFrame(cols)


def value_text(v: Any) -> str:
    """A value as Hydra reads it back exactly: floats at full precision, booleans as true/false, text quoted."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"


def factor_override(f: ExploreFactor, v: Any) -> str:
    return f"{f.key}={value_text(float(v) if not f.categorical else v)}"


def set_point(base: Config, factors: Sequence[ExploreFactor], values: Sequence[Any], seed: int) -> Config:
    """The config of one experiment and seed: a copy of ``base`` with the factor values set, validated."""
    cfg = copy.deepcopy(base)
    cfg.seed = int(seed)
    for f, v in zip(factors, values):
        sa.set_value(cfg, f.key, v if f.categorical else float(v))
    return validate(cfg)


@dataclass
class Design:
    """What fixes the runs: the experiments, the robustness cases, their jobs."""

    experiments: pd.DataFrame  # a row per experiment, a column per factor
    cases: pd.DataFrame  # robustness: a row per (policy, sample), the policy, the sample and every factor (None: scenario's value)
    jobs: list[list[str]]
    job_factors: list[tuple[list[ExploreFactor], list[Any]]]  # the factors each job sets and their values
    job_part: list[str]  # "experiment" | "robustness"
    job_row: list[int]  # its row in experiments or cases
    job_seed: list[int]
    identity: dict[str, Any]

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.identity, sort_keys=True, default=str).encode()).hexdigest()[:8]


def base_overrides(study: Exploration, extra: Sequence[str] = ()) -> list[str]:
    return [f"scenario={study.scenario}", *study.overrides, *extra, f"output.firm_panel={str(study.firm_panel).lower()}", "progress=false"]


def policies(study: Exploration) -> list[tuple[str, dict[str, Any]]]:
    """The candidate policies of the robustness table, the status quo (no lever changed) first unless the file names it."""
    listed = [(p.name, dict(p.levers)) for p in study.robustness.policies]
    return listed if any(n == STATUS_QUO for n, _ in listed) else [(STATUS_QUO, {}), *listed]


def make_design(study: Exploration, base_ov: Sequence[str], n: int | None = None) -> Design:
    n = n if n is not None else study.experiments
    experiments = scale(study.factors, unit_sample(study.sampler, len(study.factors), n, study.sample_seed))
    jobs, job_factors, part, row, seeds = [], [], [], [], []

    def add(which: str, i: int, factors: list[ExploreFactor], values: list[Any]) -> None:
        for k in range(1, study.seeds + 1):
            jobs.append([*base_ov, f"seed={k}", *(factor_override(f, v) for f, v in zip(factors, values))])
            job_factors.append((factors, values))
            part.append(which)
            row.append(i)
            seeds.append(k)

    for i, r in experiments.iterrows():
        add("experiment", int(i), list(study.factors), [r[f.name] for f in study.factors])
    unc = study.uncertainties
    cases = pd.DataFrame()
    if study.robustness.scenarios:
        samples = scale(unc, unit_sample("lhs", len(unc), study.robustness.scenarios, [study.sample_seed, 1]))
        rows = []
        for name, levers in policies(study):
            for s, srow in samples.iterrows():
                rows.append({"policy": name, "sample": int(s), **{f.name: levers.get(f.name) for f in study.levers}, **srow.to_dict()})
        cases = pd.DataFrame(rows)
        for i, c in cases.iterrows():
            fs = [f for f in study.factors if f.kind == "uncertain" or c[f.name] is not None and not _missing(c[f.name])]
            add("robustness", int(i), fs, [c[f.name] for f in fs])
    identity = {
        "sampler": study.sampler,
        "experiments": n,
        "sample_seed": study.sample_seed,
        "seeds": study.seeds,
        "base_overrides": list(base_ov),
        "factors": [[f.name, f.key, f.kind, list(f.bounds) if f.bounds else None, list(f.values)] for f in study.factors],
        "robustness": {"scenarios": study.robustness.scenarios, "policies": policies(study)},
    }
    return Design(experiments, cases, jobs, job_factors, part, row, seeds, identity)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def default_out(study: Exploration, design: Design, root: str | Path = "results") -> Path:
    """``<root>/exploration/<study>-<sampler>-n<N>x<seeds>-<digest of the design>``: the same arguments, the same directory."""
    return Path(root) / "exploration" / f"{study.name}-{study.sampler}-n{design.identity['experiments']}x{study.seeds}-{design.digest}"


# --------------------------------------------------------------------------
# Checks before anything is written
# --------------------------------------------------------------------------
def check_factors(study: Exploration, base: Config, base_ov: Sequence[str]) -> None:
    """Real-valued factors as a sensitivity study checks them (Hydra at both bounds); every category of a categorical
    factor composed with Hydra and compared with the shortcut. ConfigError naming ``factors.<name>``."""
    real = [f for f in study.factors if not f.categorical]
    if real:
        sa.check_factors([Factor(name=f.name, key=f.key, bounds=f.bounds, kind=f.kind) for f in real], base, base_ov, study.seeds)
    for f in (f for f in study.factors if f.categorical):
        try:
            current = sa.get_value(base, f.key)
        except KeyError:
            raise ConfigError(f"factors.{f.name}.key", f"no setting '{f.key}' in the composed config of scenario {study.scenario}") from None
        if isinstance(current, (dict, list)):
            raise ConfigError(f"factors.{f.name}.key", f"'{f.key}' holds a {type(current).__name__}; categories set one plain value")
        kind = value_kind(current) if current is not None else sa.setting_kind(base, f.key)
        for v in f.values:  # a value of another kind: 0 for a true/false setting equals False in Python, but not in a run
            if kind is not None and value_kind(v) != kind:
                raise ConfigError(f"factors.{f.name}.values", f"{v!r} is not allowed for '{f.key}': must be {KIND_TEXT[kind]}")
            try:
                hydra_cfg = sa.compose_cached([*base_ov, "seed=1", factor_override(f, v)])
                ours = set_point(base, [f], [v], 1)
            except ConfigError as ex:
                raise ConfigError(f"factors.{f.name}.values", f"{v!r} is not allowed for '{f.key}': {ex.problem}") from None
            if ours != hydra_cfg:
                raise ConfigError(f"factors.{f.name}.values", f"{v!r} for '{f.key}' composes to another config than the value set directly")


# The kinds of a category's value: what a setting of that kind takes (a bool is not a number here, as in a run)
KIND_TEXT = {"bool": "true or false", "number": "a number", "text": "text"}


def reference_year(study: Exploration, base: Config) -> float:
    """The earliest year the runs' timelines count from (world.timeline_reference_year, or the start year; a factor
    varying it: its lowest value)."""
    w = base.world
    ref = float(w.timeline_reference_year if w.timeline_reference_year is not None else w.start_year)
    for f in study.factors:
        if f.key == "world.timeline_reference_year":
            ref = min([ref, *(f.bounds or ()), *(x for x in f.values if value_kind(x) == "number")])
    return ref


def check_outcomes(study: Exploration, base: Config) -> None:
    """A condition that names a calendar year needs runs that reach it; a ``by_year`` before the year the runs'
    timelines count from can never be met (a ``years_to_*`` value is never negative)."""
    end = base.world.start_year + base.years - 1
    ref = reference_year(study, base)
    for o in study.outcomes:
        for i, c in enumerate(o.when):
            if c.by_year is not None and c.by_year < ref:
                raise ConfigError(
                    f"outcomes.{o.name}.when[{i}].by_year",
                    f"{c.by_year} is before the timeline reference year {ref:g} of the runs ('{c.key}' counts years from it); "
                    f"allowed: years from {math.ceil(ref)} to {end + 1} (the runs end in {end}, years={base.years})",
                )
            years = [int(p) for p in c.key.split(".") if len(p) == 4 and p.isdigit()] + ([c.by_year] if c.by_year else [])
            for y in years:
                if y > end + (1 if c.by_year else 0):
                    raise ConfigError(
                        f"outcomes.{o.name}.when[{i}]",
                        f"'{c.key}' asks about {y} but the runs end in {end} (years={base.years}); choose a year up to {end} or more years",
                    )


def _job_configs(design: Design, base: Config) -> list[Config]:
    cfgs = []
    for (factors, values), k, part, i in zip(design.job_factors, design.job_seed, design.job_part, design.job_row):
        try:
            cfgs.append(set_point(base, factors, values, k))
        except ConfigError as ex:
            shown = ", ".join(f"{f.name}={v}" for f, v in zip(factors, values))
            raise ConfigError(ex.key, f"{ex.problem} (at {part} {i}: {shown})") from None
    return cfgs


def _check_out(out: Path, design: Design) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", f"{out} exists and is not a directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    old = _read_design(out)
    if old.get("identity") != json.loads(json.dumps(design.identity, default=str)):
        changed = [k for k in design.identity if old.get("identity", {}).get(k) != json.loads(json.dumps(design.identity[k], default=str))]
        raise ConfigError(
            "--out",
            f"{out} holds an exploration with another design (differs in: {', '.join(changed)}); "
            "choose another --out (an exploration resumes only with the same design)",
        )


def _read_design(out: Path, key: str = "--out") -> dict[str, Any]:
    try:
        data = json.loads((out / DESIGN).read_text())
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not {"identity", "study"} <= set(data):
        raise ConfigError(key, f"{out} is not an exploration directory (no {DESIGN} of an exploration); choose another directory")
    return data


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------
class ExplorationFailed(RuntimeError):
    """Some runs failed; their manifests hold the errors."""


def launcher_options(opts: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` texts as submitit parameters (numbers as numbers). ConfigError at ``--launcher-opt``."""
    params: dict[str, Any] = {}
    for text in opts:
        if "=" not in text or not text.split("=", 1)[0]:
            raise ConfigError("--launcher-opt", f"must be KEY=VALUE (e.g. timeout_min=30, slurm_partition=short), got {text!r}")
        k, v = text.split("=", 1)
        for cast in (int, float):
            try:
                params[k] = cast(v)
                break
            except ValueError:
                continue
        else:
            params[k] = v
    return params


def submitit_executor(cluster: str, params: dict[str, Any], folder: Path):
    """A submitit executor for ``cluster`` (``local`` or ``slurm``) with ``params``; ConfigError (``--launcher`` or
    ``--launcher-opt``) if submitit is missing, the cluster is not there, or a parameter is refused."""
    try:
        import submitit
    except ImportError:
        raise ConfigError("--launcher", "submitit is not installed; it comes with the sweep extra: pip install -e '.[sweep]'") from None
    try:
        executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    except RuntimeError as ex:  # e.g. no srun: not on a SLURM cluster
        raise ConfigError("--launcher", f"submitit_{cluster}: {str(ex).splitlines()[0]}") from None
    try:
        executor.update_parameters(**params)
    except (NameError, ValueError, TypeError) as ex:
        raise ConfigError("--launcher-opt", f"submitit refused it: {' '.join(str(ex).split())[:300]}") from None
    return executor


def check_launcher(launcher: str, params: dict[str, Any]) -> None:
    """The launcher and its options, tried on a throw-away executor before anything is written."""
    import tempfile

    if launcher not in LAUNCHERS:
        raise ConfigError("--launcher", f"must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
    if launcher == "local":
        if params:
            raise ConfigError("--launcher-opt", f"options are for the submitit launchers; got {', '.join(params)} with --launcher local")
        return
    with tempfile.TemporaryDirectory() as tmp:
        submitit_executor(launcher.split("_", 1)[1], params, Path(tmp) / "submitit")


def run_submitit(jobs: Sequence[Sequence[str]], cfgs: Sequence[Config], out: Path, cluster: str, params: dict[str, Any], say: Callable[[str], None]):
    """The jobs that are not complete as one submitit job array (``cluster``: ``local`` or ``slurm``); each runs
    :func:`sim.research.sweep.run_job` in ``out``, so resume and failures work as with the local workers."""
    from sim.research import sweep

    records: list[dict[str, Any] | None] = [None] * len(jobs)
    todo = []
    for i, (j, c) in enumerate(zip(jobs, cfgs)):
        d = sweep.job_dir(out, j, c)
        if sweep.is_complete(d):
            records[i] = {"run_dir": str(d), "status": "complete", "skipped": True, "wall_time_s": 0.0, "error": None}
        else:
            todo.append(i)
    say(f"{len(jobs)} runs: {len(jobs) - len(todo)} complete already, {len(todo)} to submit ({cluster} job array)")
    if todo:
        executor = submitit_executor(cluster, params, out.absolute() / ".submitit")
        args = [(list(jobs[i]), str(out.absolute()), cfgs[i], True) for i in todo]
        futures = executor.map_array(sweep._run_job_args, args)
        for i, fut in zip(todo, futures):
            try:
                records[i] = fut.result()
            except Exception as ex:  # noqa: BLE001 - a job killed by the cluster (timeout, memory): incomplete, rerun later
                d = sweep.job_dir(out, jobs[i], cfgs[i])
                records[i] = {"run_dir": str(d), "status": "incomplete", "skipped": False, "wall_time_s": 0.0, "error": str(ex).splitlines()[0]}
    return records


@dataclass
class ExplorationResult:
    study: Exploration
    design: Design
    out: Path
    records: list[dict[str, Any]]
    experiments: pd.DataFrame  # a row per run of the experiments: experiment, seed, factor values, run_dir
    outcomes: pd.DataFrame  # a row per run (experiments, then robustness cases): condition values and outcomes
    analysis: "Analysis"
    files: dict[str, Path]


def run_exploration(
    study: Exploration,
    out: Path | None = None,
    workers: int = 1,
    n: int | None = None,
    extra: Sequence[str] = (),
    root: str | Path = "results",
    launcher: str = "local",
    launcher_opts: Sequence[str] = (),
    say: Callable[[str], None] = print,
    quiet: bool = False,
) -> ExplorationResult:
    """Check, sample, run (resuming), analyse and write an exploration; see the module docstring. ``n``: experiments
    (default: the study's). Raises ConfigError before anything is written, ExplorationFailed if runs failed."""
    from sim.engine import output as out_io
    from sim.research.sweep import write_table

    params = launcher_options(launcher_opts)
    check_launcher(launcher, params)
    if n is not None:
        if n < 2:
            raise ConfigError("--experiments", f"must be a whole number >= 2, got {n}")
        study = dataclasses.replace(study, experiments=n)
        study.check("")  # a Sobol' sample still needs a power of 2
    base_ov = base_overrides(study, extra)
    cases = study.robustness.scenarios * len(policies(study)) if study.robustness.scenarios else 0
    where = out if out is not None else Path(root) / "exploration"  # before the sample is drawn and every job listed
    what = f"{study.experiments:,} experiments and {cases:,} robustness cases x {study.seeds} seed(s)"
    out_io.check_run_count(where, "--out", (study.experiments + cases) * study.seeds, what)
    design = make_design(study, base_ov)
    out = Path(out) if out is not None else default_out(study, design, root)
    _check_out(out, design)  # first: a directory holding another design is refused before any composition
    try:
        base = sa.compose_cached(base_ov)
    except ConfigError as err:  # an entry of the file's overrides is named as such
        raise from_file_overrides(err, study.overrides, study.source, extra) from None
    check_factors(study, base, base_ov)
    check_outcomes(study, base)
    cfgs = _job_configs(design, base)
    out_io.check_output(out, "--out", cfgs)
    n_exp = len(design.experiments)
    n_rob = len(design.cases)
    say(
        f"exploration {study.name}: {len(study.levers)} levers, {len(study.uncertainties)} uncertainties, {n_exp} experiments ({study.sampler})"
        + (f" and {n_rob} robustness cases" if n_rob else "")
        + f" x {study.seeds} seed(s) = {len(design.jobs)} runs, into {out}"
    )
    out.mkdir(parents=True, exist_ok=True)
    out_io.write_json(out / DESIGN, {"identity": json.loads(json.dumps(design.identity, default=str)), "study": dataclasses.asdict(study)})
    if launcher == "local":
        records = sa.run_jobs(design.jobs, cfgs, out, workers, say, quiet, check_first=lambda d: check_outcome_keys(study, base, d))
    else:
        records = run_submitit(design.jobs, cfgs, out, launcher.split("_", 1)[1], params, say)
    failed = [r for r in records if r["status"] != "complete"]
    write_table(out)
    if failed:
        raise ExplorationFailed(
            f"{len(failed)} of {len(records)} runs are not complete (first: {failed[0]['run_dir']}: {failed[0]['error']}); "
            "a failed run's manifest.json holds the traceback; fix the cause and run the same command to finish"
        )
    return analyse_dir(out, study, design, records)


def analyse_dir(out: Path, study: Exploration | None = None, design: Design | None = None, records: list[dict[str, Any]] | None = None):
    """The analysis of a complete exploration directory; ``study`` may change the outcomes and the analysis settings
    but not the design. Raises ConfigError (a directory that is not an exploration, another design, runs missing)."""
    from sim.engine import output as out_io
    from sim.research import sweep

    out = Path(out)
    saved = _read_design(out, "dir")
    if study is None:
        data = {k: v for k, v in saved["study"].items() if k != "source"}
        study = parse_study(data, source=saved["study"].get("source", ""))
    base_ov = saved["identity"]["base_overrides"]
    if design is None:
        design = make_design(study, base_ov)
        if json.loads(json.dumps(design.identity, default=str)) != saved["identity"]:
            raise ConfigError("--study", f"its design differs from the one in {out / DESIGN}; only outcomes and analysis settings may change")
    check_outcomes(study, sa.compose_cached(base_ov))  # an outcome's year within the runs, as before a run (nothing written yet)
    table_path = out / sweep.TABLE_NAME
    # the table is built from the runs: one that cannot be read (cut short, damaged) is built again (it was an ArrowInvalid traceback)
    table = sweep.read_table(table_path) if sweep.is_sweep_table(table_path) else sweep.sweep_table(out)
    records_given = records is not None
    if records is None:
        base = sa.compose_cached(base_ov)  # a job's directory needs its scenario's name (not a factor) and its seed
        dirs = [sweep.job_dir(out, j, dataclasses.replace(base, seed=k)) for j, k in zip(design.jobs, design.job_seed)]
        records = [{"run_dir": str(d), "status": "complete" if sweep.is_complete(d) else "incomplete"} for d in dirs]
        missing = [r for r in records if r["status"] != "complete"]
        if missing:
            raise ConfigError("DIR", f"{len(missing)} of {len(records)} runs are not complete in {out}; run the exploration again to finish them")
    rows = table.set_index("run").loc[[Path(r["run_dir"]).name for r in records]]
    rows.attrs = dict(table.attrs)
    outcome_rows = outcome_values(study, rows)
    outcome_rows.insert(0, "part", design.job_part)
    outcome_rows.insert(1, "row", design.job_row)
    outcome_rows.insert(2, "seed", design.job_seed)
    outcome_rows.insert(3, "run_dir", [r["run_dir"] for r in records])
    is_exp = np.array(design.job_part) == "experiment"
    experiments = design.experiments.iloc[np.array(design.job_row)[is_exp]].reset_index(drop=True)
    experiments.insert(0, "experiment", np.array(design.job_row)[is_exp])
    experiments.insert(1, "seed", np.array(design.job_seed)[is_exp])
    experiments["run_dir"] = outcome_rows["run_dir"].to_numpy()[is_exp]
    result = analyse(study, experiments, outcome_rows[is_exp].reset_index(drop=True), design.cases, outcome_rows[~is_exp].reset_index(drop=True))
    key = "--out" if records_given else "DIR"
    with out_io.staged_files(out, stale=_stacking_figure, key=key) as new:  # together: never one analysis's tables beside another's figures
        files = write_results(new, study, design, experiments, outcome_rows, result)
        out_io.write_text(files["report"], report(study, design, result, out))
    files = {k: out / p.name for k, p in files.items()}
    return ExplorationResult(study, design, out, records, experiments, outcome_rows, result, files)


# --------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------
def _number(table: pd.DataFrame, key: str) -> pd.Series | None:
    col = sa._column(table, key)
    if col is None and key in table.columns:
        col = key
    return None if col is None else pd.to_numeric(table[col], errors="coerce").astype(float)


def check_outcome_keys(study: Exploration, base: Config, run_dir: str | Path) -> None:
    """Every outcome condition names a value of the summary of the complete run in ``run_dir`` (the first to end) or
    a setting of the runs' config: ConfigError naming the condition otherwise, so that a misspelt key stops an
    exploration after its first run, not after all of them."""
    keys = summary_keys(run_dir)
    for o in study.outcomes if keys is not None else ():
        for i, c in enumerate(o.when):
            if c.key in keys:
                continue
            try:
                sa.get_value(base, c.key)
            except (ConfigError, KeyError, AttributeError):
                raise no_key(f"outcomes.{o.name}.when[{i}].key", c.key, keys, FIRST_RUN.format(Path(run_dir).name), "summary key or input") from None


def outcome_values(study: Exploration, table: pd.DataFrame) -> pd.DataFrame:
    """A row per run of ``table`` (a sweep table): each condition's number (``<outcome>.<i>.value``: a ``years_to_*``
    key's null, never, as +inf), its threshold and each outcome (True when every condition holds)."""
    cols: dict[str, Any] = {}
    ref = _number(table, "timeline_reference_year")
    for o in study.outcomes:
        ok = np.ones(len(table), dtype=bool)
        for i, c in enumerate(o.when):
            v = _number(table, c.key)
            if v is None:
                raise no_key(f"outcomes.{o.name}.when[{i}].key", c.key, table.attrs.get("outputs", table.columns), what="summary key or input")
            v = v.to_numpy(dtype=float)
            if c.key.startswith("years_to_"):
                v = np.where(np.isnan(v), np.inf, v)  # never reached: infinitely late
            threshold = (c.by_year - ref.to_numpy(dtype=float)) if c.by_year is not None else np.full(len(table), float(c.value))
            holds = {"<=": v <= threshold, "<": v < threshold, ">=": v >= threshold, ">": v > threshold}[c.rule]
            ok &= holds & ~np.isnan(v)  # an undefined number meets no condition
            cols[f"{o.name}.{i}.value"] = v
            cols[f"{o.name}.{i}.threshold"] = threshold
        cols[o.name] = ok
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------
# Analysis (ema_workbench)
# --------------------------------------------------------------------------
@dataclass
class Analysis:
    trajectory: pd.DataFrame  # a row per outcome and box of the peeling trajectory
    boxes: pd.DataFrame  # a row per outcome and factor: the chosen box's limits
    scores: pd.DataFrame  # a row per factor, a column per outcome
    robustness: pd.DataFrame  # a row per outcome and policy
    regret: pd.DataFrame  # a row per outcome, policy and uncertainty sample
    shares: dict[str, float]  # share of the runs reaching each outcome
    figures: dict[str, Any]


def _ema():
    """The workbench's analysis modules, imported quietly (it warns about optional parallel back-ends)."""
    import logging

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import dimensional_stacking, feature_scoring, prim
    logging.getLogger("EMA").setLevel(logging.WARNING)
    return prim, feature_scoring, dimensional_stacking


def x_frame(study: Exploration, experiments: pd.DataFrame) -> pd.DataFrame:
    """The factors as PRIM wants them: floats, and categories as a pandas categorical of text."""
    x = pd.DataFrame(index=experiments.index)
    for f in study.factors:
        if f.categorical:
            x[f.name] = pd.Categorical([str(v) for v in experiments[f.name]], categories=[str(v) for v in f.values])
        else:
            x[f.name] = experiments[f.name].astype(float)
    return x


# the columns of a box table (prim_box's limits; Analysis.boxes adds "outcome"), present when no box was found too
BOX_COLUMNS = ["factor", "kind", "restricted", "low", "high", "categories", "qp_lower", "qp_upper", "range_low", "range_high"]


def prim_box(x: pd.DataFrame, y: np.ndarray, settings: Any, kinds: dict[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, int | None]:
    """PRIM on ``x`` (a row per run) and the boolean ``y``: the peeling trajectory, the chosen box's limits (a row per
    factor: restricted, low, high or categories, quasi-p-values) and the chosen box's index. The chosen box restricts
    at most ``settings.max_dims`` factors and has the highest coverage among those at least ``settings.min_density``
    dense (ties: the denser); if none is, it is the densest of them."""
    prim, _, _ = _ema()
    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        return pd.DataFrame(), pd.DataFrame(columns=BOX_COLUMNS), None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alg = prim.Prim(x, y.astype(int), peel_alpha=settings.peel_alpha, paste_alpha=settings.paste_alpha, mass_min=settings.mass_min)
        box = alg.find_box()
    traj = box.peeling_trajectory.reset_index(drop=True).copy()
    simple = traj[traj["res_dim"] <= settings.max_dims]  # never empty: the first box restricts nothing
    dense = simple[simple["density"] >= settings.min_density - 1e-12]
    if len(dense):
        chosen = int(dense.sort_values(["coverage", "density"], ascending=[False, False], kind="stable").index[0])
    else:
        chosen = int(simple.sort_values(["density", "coverage"], ascending=[False, False], kind="stable").index[0])
    traj["chosen"] = traj.index == chosen
    lims = box.box_lims[chosen]
    first = box.box_lims[0]
    qp = box.p_values[chosen] if chosen < len(box.p_values) else {}
    rows = []
    for name in x.columns:
        lo, hi = lims[name].iloc[0], lims[name].iloc[1]
        row: dict[str, Any] = {"factor": name, "kind": (kinds or {}).get(name, "")}
        if isinstance(lo, (set, frozenset)):
            restricted = set(lo) != set(first[name].iloc[0])
            row.update(restricted=restricted, low=math.nan, high=math.nan, categories=json.dumps(sorted(lo)))
        else:
            restricted = lo != first[name].iloc[0] or hi != first[name].iloc[1]
            row.update(restricted=restricted, low=float(lo), high=float(hi), categories="")
        q = [math.nan if v is None or v < 0 else float(v) for v in qp.get(name, [None, None])]  # -1: that side is not restricted
        row.update(qp_lower=q[0], qp_upper=q[1])
        row.update(range_low=float(first[name].iloc[0]) if not row["categories"] else math.nan)
        row.update(range_high=float(first[name].iloc[1]) if not row["categories"] else math.nan)
        rows.append(row)
    return traj, pd.DataFrame(rows, columns=BOX_COLUMNS), chosen


def feature_scores(x: pd.DataFrame, y: np.ndarray, seed: int) -> pd.Series:
    """Extra-trees feature scores of the boolean ``y`` (ema_workbench.analysis.feature_scoring), seeded."""
    _, fs, _ = _ema()
    y = np.asarray(y, dtype=int)
    if y.min() == y.max():
        return pd.Series(np.nan, index=x.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores, _ = fs.get_ex_feature_scores(x, y, mode=fs.RuleInductionType.CLASSIFICATION, random_state=seed)
    return scores.iloc[:, 0].reindex(x.columns)


def stacking_plot(x: pd.DataFrame, y: np.ndarray, scores: pd.Series, levels: int, bins: int, title: str):
    """Dimensional stacking: the share of runs reaching the outcome in each cell of the top-scoring factors
    (``2 x levels`` of them, fewer if the study has fewer), continuous factors in ``bins`` bins."""
    _, _, ds = _ema()
    import matplotlib
    import matplotlib.pyplot as plt

    from sim.research import style

    order = list(scores.fillna(0).sort_values(ascending=False, kind="stable").index)
    n = min(2 * levels, len(order) - len(order) % 2) or 1
    top = order[:n]
    rows, columns = top[0::2], top[1::2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        binned = ds.discretize(x[top], nbins=bins, with_labels=True)
        data = pd.concat([binned.reset_index(drop=True), pd.DataFrame({"y": np.asarray(y, dtype=float)})], axis=1)
        pvt = pd.pivot_table(data, values="y", index=rows, columns=columns or None, dropna=False, observed=False)
        if not columns:
            pvt = pvt.to_frame() if isinstance(pvt, pd.Series) else pvt
        with matplotlib.rc_context(style.rc("double")):  # the library draws it; the project's fonts
            fig = ds.plot_pivot_table(pvt, plot_labels=True, plot_cats=True)
            fig.suptitle(title)
    plt.close(fig)  # saved by the caller; not left open in pyplot
    return fig


def robustness(study: Exploration, cases: pd.DataFrame, outcomes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per outcome and policy: the share of its runs reaching the outcome, and its regret in each uncertainty sample
    (the best policy's share of seeds reaching it there minus its own; for an outcome to avoid, its own share minus
    the lowest): mean and maximum; ranked by maximum regret."""
    if cases.empty:
        return pd.DataFrame(), pd.DataFrame()
    runs = pd.concat([cases.iloc[outcomes["row"].to_numpy()][["policy", "sample"]].reset_index(drop=True), outcomes.reset_index(drop=True)], axis=1)
    order = list(dict.fromkeys(cases["policy"]))
    summary, per_sample = [], []
    for o in study.outcomes:
        share = runs.groupby(["policy", "sample"])[o.name].mean().unstack("sample").reindex(order)  # policy x sample
        regret = share.max(axis=0) - share if o.prefer == "reach" else share - share.min(axis=0)
        for p in order:
            levers = {k: v for k, v in dict(policies(study))[p].items()}
            summary.append(
                {
                    "outcome": o.name,
                    "prefer": o.prefer,
                    "policy": p,
                    "levers": json.dumps(levers, default=str),
                    "reach_share": float(share.loc[p].mean()),
                    "samples_reached": float((share.loc[p] >= 0.5).mean()),
                    "mean_regret": float(regret.loc[p].mean()),
                    "max_regret": float(regret.loc[p].max()),
                }
            )
            for s in share.columns:
                per_sample.append(
                    {"outcome": o.name, "policy": p, "sample": int(s), "share": float(share.loc[p, s]), "regret": float(regret.loc[p, s])}
                )
    table = pd.DataFrame(summary)
    table["rank"] = table.groupby("outcome")["max_regret"].rank(method="min").astype(int)
    table = table.sort_values(["outcome", "max_regret", "reach_share"], ascending=[True, True, False], kind="stable").reset_index(drop=True)
    return table, pd.DataFrame(per_sample)


def analyse(study: Exploration, experiments: pd.DataFrame, outcomes: pd.DataFrame, cases: pd.DataFrame, case_outcomes: pd.DataFrame) -> Analysis:
    """PRIM, feature scores, dimensional stacking and the robustness table from the run rows."""
    x = x_frame(study, experiments)
    kinds = {f.name: f.kind for f in study.factors}
    trajs, boxes, scores, figures, shares = [], [], {}, {}, {}
    for o in study.outcomes:
        y = outcomes[o.name].to_numpy(dtype=bool)
        shares[o.name] = float(y.mean())
        traj, lims, _ = prim_box(x, y, study.prim, kinds)
        if len(traj):
            trajs.append(traj.assign(outcome=o.name))
            boxes.append(lims.assign(outcome=o.name))
        scores[o.name] = feature_scores(x, y, study.sample_seed)
        if y.min() != y.max() and len(x.columns) >= 2:
            figures[f"stacking_{o.name}"] = stacking_plot(
                x, y, scores[o.name], study.stacking.levels, study.stacking.bins, f"{o.label}: share of runs reaching it"
            )
    trajectory = pd.concat(trajs, ignore_index=True) if trajs else pd.DataFrame()
    box_table = pd.concat(boxes, ignore_index=True) if boxes else pd.DataFrame(columns=[*BOX_COLUMNS, "outcome"])
    score_table = pd.DataFrame(scores).rename_axis("factor").reset_index()
    score_table.insert(1, "kind", [kinds[f] for f in score_table["factor"]])
    rob, regret = robustness(study, cases, case_outcomes)
    figures["tradeoff"] = plot_tradeoff(study, trajectory, shares)
    return Analysis(trajectory, box_table, score_table, rob, regret, shares, figures)


def plot_tradeoff(study: Exploration, trajectory: pd.DataFrame, shares: dict[str, float]):
    """The PRIM trade-off curves, a panel per outcome: density against coverage of every box of the peeling
    trajectory, coloured by the number of restricted dimensions, the chosen box circled (the project's figure style,
    sim.research.style)."""
    from matplotlib.ticker import MaxNLocator

    from sim.research import style

    outs = study.outcomes
    width = "column" if len(outs) == 1 else "double"
    fig, axes = style.figure(1, len(outs), width=width, height=3.2)
    with style.styled(fig):
        for ax, o in zip(axes.ravel(), outs):
            ax.set_title(textwrap.fill(o.label, 30) + f"\n({shares.get(o.name, math.nan):.0%} of runs)")
            t = trajectory[trajectory["outcome"] == o.name] if len(trajectory) else trajectory
            if not len(t):
                ax.text(0.5, 0.5, "every run or none reaches it: no box", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
                continue
            sc = ax.scatter(t["coverage"], t["density"], c=t["res_dim"], cmap="viridis", s=18)
            c = t[t["chosen"]]
            ax.scatter(c["coverage"], c["density"], s=120, facecolors="none", edgecolors="red", label="chosen box")
            ax.axhline(study.prim.min_density, ls="--", lw=0.7, color="gray", label="minimum density")
            ax.set_xlabel("coverage (share of the runs reaching it)")
            ax.set_ylabel("density (share of the box's runs)")
            ax.set_xlim(0, 1.02)
            ax.set_ylim(0, 1.02)
            ax.legend(loc="lower left")
            bar = fig.colorbar(sc, ax=ax, label="restricted dimensions (count)")
            bar.locator = MaxNLocator(integer=True)
            bar.update_ticks()
        fig.suptitle(f"PRIM trade-off: exploration {study.name}")
    return fig


def _save_figure(fig: Any, path: Path) -> None:
    """The PNG at ``path`` and a PDF beside it, each written atomically (sim.research.style.save)."""
    from sim.research import style

    style.save(fig, path)


def _stacking_figure(name: str) -> bool:
    """A stacking figure of an outcome (removed when a new analysis no longer draws it)."""
    return name.startswith("stacking_") and name.endswith((".png", ".pdf"))


def write_results(out: Path, study: Exploration, design: Design, experiments: pd.DataFrame, outcomes: pd.DataFrame, a: Analysis) -> dict[str, Path]:
    from sim.engine import output as out_io

    files = {name.split(".")[0]: out / name for name in FILES}
    exp = experiments.copy()
    for f in study.factors:
        if f.categorical:  # Parquet wants one type a column
            exp[f.name] = [str(v) for v in exp[f.name]]
    out_io.write_parquet(files["experiments"], exp)
    out_io.write_parquet(files["outcomes"], outcomes)
    out_io.write_parquet(files["prim_trajectory"], a.trajectory)
    out_io.write_parquet(files["prim_boxes"], a.boxes)
    out_io.write_parquet(files["feature_scores"], a.scores)
    out_io.write_parquet(files["robustness"], a.robustness)
    out_io.write_parquet(files["robustness_samples"], a.regret)
    for name, fig in a.figures.items():
        files[name] = out / f"{name}.png"
        _save_figure(fig, files[name])
    return files


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------
def _fmt(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"


def box_words(study: Exploration, boxes: pd.DataFrame) -> list[str]:
    """The chosen box's restrictions in words, levers first; a restriction whose quasi-p-values are all above
    ``WEAK_QP`` (it could be chance) says so."""
    units = {f.name: f.unit for f in study.factors}
    words = []
    for kind in ("lever", "uncertain"):
        for _, r in boxes[(boxes["restricted"]) & (boxes["kind"] == kind)].iterrows():
            unit = f" {units[r['factor']]}" if units.get(r["factor"]) else ""
            qps = [q for q in (r["qp_lower"], r["qp_upper"]) if not math.isnan(q)]
            weak = f" (weak: quasi-p {min(qps):.2g})" if qps and min(qps) > WEAK_QP else ""
            if r["categories"]:
                words.append(f"{r['factor']} ({kind}) in {', '.join(json.loads(r['categories']))}{weak}")
                continue
            lo_cut, hi_cut = r["low"] > r["range_low"], r["high"] < r["range_high"]
            if lo_cut and hi_cut:
                words.append(f"{r['factor']} ({kind}) between {_fmt(r['low'])} and {_fmt(r['high'])}{unit}{weak}")
            elif lo_cut:
                words.append(f"{r['factor']} ({kind}) >= {_fmt(r['low'])}{unit}{weak}")
            else:
                words.append(f"{r['factor']} ({kind}) <= {_fmt(r['high'])}{unit}{weak}")
    return words


def report(study: Exploration, design: Design, a: Analysis, out: Path) -> str:
    n_runs = len(design.experiments) * study.seeds
    lines = [
        f"# Exploration {study.name}",
        "",
        study.description.strip() or "",
        "",
        f"{len(design.experiments)} experiments ({study.sampler}, sample seed {study.sample_seed}) x {study.seeds} seed(s) = {n_runs} runs "
        f"of scenario `{study.scenario}`" + (f" with {', '.join(study.overrides)}" if study.overrides else "") + f"; directory `{out.name}`.",
        "",
    ]
    for o in study.outcomes:
        conds = " and ".join(
            f"`{c.key}` {c.rule} " + (f"{c.by_year} - timeline reference year" if c.by_year is not None else _fmt(c.value)) for c in o.when
        )
        never = " (never counts as infinitely late)" if any(c.key.startswith("years_to_") for c in o.when) else ""
        lines += [f"## {o.label}", "", f"Reached when {conds}{never}. {a.shares[o.name]:.0%} of the runs reach it.", ""]
        t = a.trajectory[a.trajectory["outcome"] == o.name] if len(a.trajectory) else pd.DataFrame()
        if not len(t):
            lines += ["Every run or none reaches it: PRIM has no box to find.", ""]
        else:
            c = t[t["chosen"]].iloc[0]
            b = a.boxes[a.boxes["outcome"] == o.name]
            words = box_words(study, b)
            if c["density"] < study.prim.min_density:
                lines += [
                    f"No box on the peeling trajectory that restricts at most {study.prim.max_dims} factors is "
                    f"{study.prim.min_density:.0%} dense; the densest of them is shown.",
                    "",
                ]
            lines += [
                f"**PRIM box** (box {int(c['id'])} of {len(t)} on the peeling trajectory): "
                + (" and ".join(words) if words else "no restriction")
                + f". In it {c['density']:.0%} of the runs reach the outcome (density; {a.shares[o.name]:.0%} overall); it holds "
                f"{c['coverage']:.0%} of the runs that reach it (coverage) and {c['mass']:.0%} of all runs (mass).",
                "",
            ]
            levers_in = [w for w in words if "(lever)" in w and "(weak:" not in w]
            unc_in = [w for w in words if "(uncertain)" in w and "(weak:" not in w]
            strong = " (leaving out the weak restrictions)" if len(levers_in) + len(unc_in) < len(words) else ""
            if levers_in and unc_in:
                lines += [f"The outcome is likely when the levers are set so and the uncertainties fall so{strong}: both matter.", ""]
            elif levers_in:
                lines += [f"The box restricts only levers{strong}: the outcome is in the policy's hands across the uncertainties sampled.", ""]
            elif unc_in:
                lines += [f"The box restricts only uncertainties{strong}: no lever range makes the outcome likely on its own.", ""]
            rows = b[b["restricted"]]
            if len(rows):
                show = pd.DataFrame(
                    {
                        "factor": rows["factor"],
                        "kind": rows["kind"],
                        "box": [r["categories"] or f"[{_fmt(r['low'])}, {_fmt(r['high'])}]" for _, r in rows.iterrows()],
                        "range": ["" if r["categories"] else f"[{_fmt(r['range_low'])}, {_fmt(r['range_high'])}]" for _, r in rows.iterrows()],
                        "qp (low, high)": [f"{_fmt(r['qp_lower'])}, {_fmt(r['qp_upper'])}" for _, r in rows.iterrows()],
                    }
                )
                lines += [text_table(show, markdown=True, left=2), ""]
        s = a.scores[["factor", "kind", o.name]].dropna().sort_values(o.name, ascending=False)
        if len(s):
            lines += [
                "Feature scores (extra trees; shares summing to 1): "
                + ", ".join(f"{r['factor']} {r[o.name]:.2f}" for _, r in s.iterrows())
                + f". Plot: `stacking_{o.name}.png`.",
                "",
            ]
        if len(a.robustness):
            r = a.robustness[a.robustness["outcome"] == o.name]
            show = pd.DataFrame(
                {
                    "policy": r["policy"],
                    "levers": r["levers"],
                    "reach share": [f"{v:.0%}" for v in r["reach_share"]],
                    "samples reached (>= half the seeds)": [f"{v:.0%}" for v in r["samples_reached"]],
                    "mean regret": [f"{v:.2f}" for v in r["mean_regret"]],
                    "max regret": [f"{v:.2f}" for v in r["max_regret"]],
                }
            )
            regret_text = (
                "the best policy's share of seeds reaching the outcome in a sample minus the policy's"
                if o.prefer == "reach"
                else "an outcome to avoid: the policy's share of seeds reaching it in a sample minus the lowest share"
            )
            lines += [
                f"**Robustness** ({study.robustness.scenarios} uncertainty samples x {study.seeds} seed(s) per policy; regret: "
                f"{regret_text}; ranked by maximum regret):",
                "",
                text_table(show, markdown=True, left=2),
                "",
            ]
    return "\n".join(lines).replace("\n\n\n", "\n\n")


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = command_parser("python -m sim.explore", __doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True, parser_class=type(ap))
    run_ap = sub.add_parser("run", help="sample, run (resuming) and analyse an exploration")
    run_ap.add_argument("--study", default="quick", help="conf/exploration/NAME.yaml or a path to a YAML file (default: quick)")
    from sim.checks import whole_number

    run_ap.add_argument("--experiments", type=whole_number, help="points of the sample (default: the study's)")
    run_ap.add_argument("--seeds", type=whole_number, help="seeds per experiment (default: the study's)")
    run_ap.add_argument("--workers", type=whole_number, help="local worker processes (default: the cores available)")
    run_ap.add_argument(
        "--out", type=path_text, help="directory (default: results/exploration/<study>-<sampler>-n<N>x<seeds>-<design id>); the same one resumes"
    )
    run_ap.add_argument("--launcher", default="local", choices=LAUNCHERS, help="local worker processes, or a submitit job array")
    run_ap.add_argument("--launcher-opt", action="append", default=[], help="KEY=VALUE for submitit (e.g. timeout_min=30, slurm_partition=short)")
    run_ap.add_overrides("config overrides applied to every run (e.g. years=20; progress=false: no progress lines)")
    an_ap = sub.add_parser("analyse", help="analyse an exploration directory again")
    an_ap.add_argument("dir", type=path_text, help="the exploration directory")
    an_ap.add_argument("--study", help="a study file with the same design and other outcomes or analysis settings (default: the one run)")
    a = ap.parse_intermixed_args(argv)  # overrides anywhere among the options
    started = time.time()
    study = None
    try:
        if a.command == "run":
            study = load_study(a.study)
            check_counts(a)
            refuse_seed(a.overrides)
            if a.seeds is not None:
                study.seeds = a.seeds
            res = run_exploration(
                study,
                Path(a.out) if a.out else None,
                a.workers or default_workers(),
                a.experiments,
                a.overrides,
                launcher=a.launcher,
                launcher_opts=a.launcher_opt,
                say=lambda s: print(s, flush=True),
                quiet=not progress_wanted(a.overrides),
            )
        else:
            d = Path(a.dir)
            if not d.is_dir():
                raise ConfigError("dir", f"no directory {d}")
            study = load_study(a.study) if a.study else None
            res = analyse_dir(d, study)
    except ConfigError as err:
        print(error_line(err, study, STUDY_KEYS), file=sys.stderr)
        return 2
    except ExplorationFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: complete runs are kept; run the same command to resume", file=sys.stderr)
        return 130
    print()
    print(res.files["report"].read_text())
    print(f"report: {res.files['report']}  ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
