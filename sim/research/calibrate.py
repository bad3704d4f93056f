"""Calibration: search declared parameters within declared bounds to minimise a loss over the public targets (Optuna).

    python -m sim.calibrate --study quick --trials 3 --seeds 1      # conf/calibration/quick.yaml
    python -m sim.calibrate --study main --workers 2                # the same command again resumes
    python -m sim.calibrate --trials 60                             # brings the study to 60 trials in all

A study file (conf/calibration/NAME.yaml, schema :class:`sim.research.study.Calibration`) names the
parameters (existing real-valued config keys with bounds, optionally log scale, and where the bounds come
from), the targets, the seeds per trial, the number of trials and the sampler's seed.

**Targets.** Only targets whose measure reads years up to 2025 and that :mod:`sim.research.validate` can
measure from runs (:data:`USABLE`); the others are excluded with the reason in :data:`EXCLUDED`. The
measures are validate's own (:data:`sim.research.validate.MEASURES` through ``validate.evaluate``).

**Loss.** For each target the distance of the measured median (across seeds) to its accepted range:
0 inside, (low - median) / (high - low) below it, (median - high) / (high - low) above; a target with
several ranges (the group pyramid's tiers) takes the mean of its parts; a rule target is 0 when met and 1
when not; a median the runs leave unmeasured (no Little Giant, no group) counts as ``missing_distance``.
The loss is the weighted sum of the distances, equal weights unless the study file's ``weights`` says
otherwise.

**Search.** Optuna's TPE sampler seeded from the study file, with the study in an SQLite file in the output
directory (``optuna.db``), so the same command with the same ``--out`` resumes: ``--trials N`` is the number
of complete trials in all. ``--out`` holds one study: a directory holding another study or design, another
tool's outputs (an experiment's, sensitivity study's or exploration's, runs of ``python -m sim``) or files that
are not a calibration's is refused before anything is written (:func:`check_out`), and so is an ``optuna.db``
that cannot be read (cut short or damaged: move it out of the directory to start over). Every trial runs its
scenarios x seeds through the shared worker pool (:func:`sim.research.sweep.map_jobs`), with the common random
numbers of seeds 1..K.

**Outputs** (in ``--out``, default ``results/calibration/<study>``): ``best.yaml`` (the best values as a
config file: ``python -m sim --config-dir <out> +calibrated=best``, the same file is written as
``calibrated/best.yaml``; :func:`best_overrides` reads it as overrides), ``trials.parquet`` (a row per
trial: values, loss, per-target distances), ``loss.png`` (loss against trial and the best so far; ``loss.pdf`` beside it) and
``report.md`` with the stability check: the best values re-evaluated on the disjoint seeds K+1..2K (loss
and per-target medians on both sets).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import yaml

from sim.checks import path_argument, read_text, whole_number, yaml_problem
from sim.config import ConfigError, compose
from sim.research import style, validate
from sim.research.driver import check_counts, command_parser, default_workers, error_line, refuse_seed, text_table
from sim.research.sensitivity import check_factors, point_config
from sim.research.study import Calibration, file_keys, from_file_overrides, in_study, read_study
from sim.research.sweep import map_jobs

STUDY_KEYS = tuple(file_keys(Calibration))
LAST_YEAR = 2025  # only targets whose measure reads years up to this one
# target id -> (last calendar year its measure reads, the scenarios it needs)
USABLE = {  # validate's own record of what each target reads (validate.READS)
    t: validate.READS[t]
    for t in (
        "rare_earth_little_giants_2025",
        "soe_group_pyramid_2025",
        "lg_control_processing",
        "lg_control_downstream",
        "lg_patents",
        "lg_capital_constraint",
    )
}
EXCLUDED = {
    "west_timeline_coordinated": "reads years after 2025 (independence 3-15 years after 2025)",
    "west_timeline_fragmented_is_slower": "reads years after 2025 (the timelines after 2025)",
    "lg_rd_intensity": "reads 2020-2030",
    "designation_raises_rd": "reads patents in 2030",
    "designation_criteria_hold": "not measured from runs (the property test tests/test_designation.py)",
    **{
        t: "a national-world target (scenario national_programme): the calibration runs the rare-earth chain"
        for t in (
            "national_little_giants_2024",
            "national_little_giants_2025",
            "national_srdi_2024",
            "national_lg_rd_intensity",
            "national_lg_patents",
            "national_lg_capital_constraint",
        )
    },
}
FILES = ("best.yaml", "trials.parquet", "loss.png", "loss.pdf", "report.md")
DB = "optuna.db"
# what a calibration writes in --out: its files, best.yaml again under calibrated/, and the study database (with the
# journal SQLite keeps beside it while a write is under way)
OWN = {*FILES, "calibrated", DB, f"{DB}-journal", f"{DB}-wal", f"{DB}-shm"}
CALIBRATION_BYTES = 2e6  # what the files above take, generously (loss.png is the largest, ~0.1 MB)
TRIAL_BYTES = 1e5  # optuna.db per trial, generously (a trial's parameters, values and attributes: a few kB)


# --------------------------------------------------------------------------
# Study file and targets
# --------------------------------------------------------------------------
def load_study(name_or_path: str | Path) -> Calibration:
    """A calibration study by name (conf/calibration/NAME.yaml) or path; its targets checked. Raises ConfigError."""
    study = read_study(Calibration, name_or_path, "calibration", "--study")
    try:
        check_targets(study)
    except ConfigError as err:
        raise in_study(err, study.source) from None
    return study


def check_targets(study: Calibration) -> None:
    """The study's targets are usable ones, and its weights weigh some of them: a weight names one of the targets the
    study uses (its list, or every usable target when the list is empty), and at least one of those weighs > 0 (with
    every weight 0 every loss is 0). ConfigError naming the entry otherwise."""
    for i, t in enumerate(study.targets):
        if t in EXCLUDED:
            raise ConfigError(f"targets[{i}]", f"'{t}' cannot be calibrated: {EXCLUDED[t]}; allowed: {', '.join(USABLE)}")
        if t not in USABLE:
            raise ConfigError(f"targets[{i}]", f"unknown target '{t}'; allowed: {', '.join(USABLE)}")
    used = study.targets or list(USABLE)
    whose = "the study's targets" if study.targets else "the targets the calibration uses (targets: [] uses all)"
    for t in study.weights:
        if t not in used:
            why = "not a target the calibration uses" if t not in USABLE else "not one of the study's targets (a weight for it would be ignored)"
            raise ConfigError(f"weights.{t}", f"{why}; allowed: a weight for one of {whose}: {', '.join(used)}")
    if not any(study.weights.get(t, 1.0) > 0 for t in used):
        raise ConfigError(
            "weights",
            f"every target the study uses weighs 0, so every trial's loss would be 0; allowed: a weight > 0 (missing: 1) for at least one of "
            f"{', '.join(used)}",
        )


def study_targets(study: Calibration, path: Path = validate.TARGETS_FILE) -> list[dict[str, Any]]:
    """The targets the study uses (its list, or every usable one), as in the targets file."""
    ids = study.targets or list(USABLE)
    by_id = {t["id"]: t for t in validate.read_targets(path)}
    return [by_id[i] for i in ids if i in by_id]


# --------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------
def range_distance(median: float | None, accept: Sequence[float], missing: float = 2.0) -> float:
    """0 inside [low, high]; outside, the gap to the nearer end in units of the range's width."""
    if median is None or not math.isfinite(median):
        return missing
    lo, hi = float(accept[0]), float(accept[1])
    gap = max(lo - median, median - hi, 0.0)
    return gap / (hi - lo) if hi > lo else float(gap > 0)


def distance(row: dict[str, Any], missing: float = 2.0) -> float:
    """A target's distance from its row of ``validate.evaluate``: ranges by median, parts averaged, rules 0/1."""
    parts = row.get("stages") or row.get("tiers")
    if parts and all("median" in p for p in parts.values()):
        return float(np.mean([range_distance(p["median"], row["accept"][k], missing) for k, p in parts.items()]))
    if "median" in row and isinstance(row.get("accept"), (list, tuple)):
        return range_distance(row["median"], row["accept"], missing)
    return 0.0 if row.get("met") else 1.0


def medians(row: dict[str, Any]) -> Any:
    """What a target measured (its median, or a median per part), for the history and the report."""
    parts = row.get("stages") or row.get("tiers")
    if parts:
        return {k: p.get("median") for k, p in parts.items()}
    return row.get("median", row.get("met"))


def loss(rows: list[dict[str, Any]], weights: dict[str, float] | None = None, missing: float = 2.0) -> tuple[float, dict[str, float]]:
    """The weighted sum of the targets' distances (weight 1 unless given) and the distance per target."""
    d = {r["id"]: distance(r, missing) for r in rows}
    w = weights or {}
    return float(sum(w.get(k, 1.0) * v for k, v in d.items())), d


# --------------------------------------------------------------------------
# Evaluating a point
# --------------------------------------------------------------------------
@dataclasses.dataclass
class Problem:
    """What every trial shares: the study, its targets, one composed config per scenario and the worker count."""

    study: Calibration
    targets: list[dict[str, Any]]
    base: dict[str, Any]
    workers: int = 1

    @classmethod
    def build(cls, study: Calibration, overrides: Sequence[str] = (), workers: int = 1) -> Problem:
        targets = study_targets(study)
        scenarios = sorted({sc for t in targets for sc in USABLE[t["id"]][1]})
        shared = [*study.overrides, *overrides, "progress=false", "output.write=false", f"output.firm_panel={str(study.firm_panel).lower()}"]
        base = {}
        for sc in scenarios:
            ov = [f"scenario={sc}", *shared]
            try:
                base[sc] = compose(ov)
            except ConfigError as err:  # one of the file's overrides: its entry (overrides[i]) and the file named
                raise from_file_overrides(err, study.overrides, study.source, overrides) from None
            validate.check_horizon(base[sc], LAST_YEAR)  # ConfigError at years: the runs end before 2025
            try:
                check_factors(study.parameters, base[sc], ov, study.seeds, section="parameters")
            except ConfigError as err:  # a parameter's key or bounds: a mistake in the file
                raise in_study(err, study.source) if err.key.split(".")[0] == "parameters" else err from None
        return cls(study, targets, base, workers)

    def evaluate(self, values: Sequence[float], seeds: Sequence[int]) -> dict[str, Any]:
        """Run the point on ``seeds``: the loss, the distance and the median of every target."""
        params = self.study.parameters
        jobs = [(sc, s, point_config(cfg, params, values, s)) for sc, cfg in self.base.items() for s in seeds]
        results = map_jobs(validate._one, jobs, self.workers)  # validate's run and measures, not a copy
        rows = validate.evaluate(results, self.targets)
        total, dist = loss(rows, self.study.weights, self.study.missing_distance)
        return {"loss": total, "distances": dist, "medians": {r["id"]: medians(r) for r in rows}}


# --------------------------------------------------------------------------
# The search (Optuna)
# --------------------------------------------------------------------------
def signature(study: Calibration, overrides: Sequence[str]) -> str:
    """What fixes a trial's result: a study directory holding another one is refused."""
    keep = {k: v for k, v in dataclasses.asdict(study).items() if k not in ("trials", "description", "source")}
    return json.dumps({**keep, "extra_overrides": list(overrides)}, sort_keys=True, default=str)


def _other_tool(out: Path, names: Sequence[str]) -> str | None:
    """What another command wrote in ``out``, recognised by the files it writes (None: nothing of theirs)."""
    from sim.engine import output

    if "design.json" in names:  # sim.sensitivity and sim.explore: design.json, sweep_table.parquet, runs/, ...
        try:
            identity = json.loads((out / "design.json").read_text()).get("identity") or {}
        except (OSError, ValueError, AttributeError):
            identity = {}
        if "method" in identity:
            return "a sensitivity study (design.json)"
        if "sampler" in identity:
            return "an exploration (design.json)"
        return "a sensitivity study or an exploration (design.json)"
    if "runs" in names:  # sim.experiment (runs/, report/, sweep_table.parquet), sweeps and python -m sim (results/runs/)
        return "an experiment (runs/, report/)" if "report" in names else "run directories (runs/, as an experiment, a sweep or python -m sim writes)"
    if "sweep_table.parquet" in names:
        return "a sweep table (sweep_table.parquet)"
    if {"manifest.json", "summary.json", "timeseries.parquet"} & set(names):  # a run directory of python -m sim
        return "a run of python -m sim (manifest.json, summary.json, ...)"
    runs = [n for n in names if (out / n).is_dir() and output.holds_run(out / n)]
    if runs:  # a results directory: run directories of python -m sim
        return f"{len(runs)} run directory(ies) of python -m sim (e.g. {runs[0]}/)"
    return None


def _read_studies(db: Path, read_only: bool = True) -> dict[str, str | None]:
    """The studies in an Optuna SQLite file by name, with the signature each holds; sqlite3.Error if unreadable."""
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) if read_only else sqlite3.connect(db)
    try:
        check = con.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            raise sqlite3.DatabaseError(f"integrity check: {check[0] if check else 'no answer'}")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return {}  # an empty database: Optuna creates its tables
        if not {"studies", "study_user_attributes"} <= tables:
            raise sqlite3.DatabaseError("not an Optuna study database")
        rows = con.execute(
            "SELECT s.study_name, a.value_json FROM studies s LEFT JOIN study_user_attributes a ON a.study_id = s.study_id AND a.key = 'signature'"
        ).fetchall()
    finally:
        con.close()
    held = {}
    for name, value in rows:
        try:
            held[name] = json.loads(value) if value is not None else None
        except ValueError:
            held[name] = value
    return held


def held_studies(out: Path) -> dict[str, str | None]:
    """The calibration studies in ``out/optuna.db`` with their signatures, read without changing the file: a write
    cut off (a journal beside it) is rolled back in a copy. ConfigError at ``--out`` if the file cannot be read."""
    db = out / DB
    try:
        return _read_studies(db)
    except sqlite3.Error as ex:
        why = str(ex)
        journal = out / f"{DB}-journal"
        if journal.is_file():
            try:
                with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:
                    for f in (db, journal):
                        shutil.copyfile(f, Path(tmp) / f.name)
                    return _read_studies(Path(tmp) / DB, read_only=False)
            except (sqlite3.Error, OSError) as ex2:
                why = str(ex2)
        raise ConfigError("--out", _unreadable(db, why)) from None


def _unreadable(db: Path, why: str) -> str:
    return (
        f"'{db}' is unreadable ({why}): the study database is cut short or damaged; "
        f"allowed: another --out, or move {db.name} out of '{db.parent}' to start the study over there"
    )


def check_out(out: Path, study: Calibration, overrides: Sequence[str] = ()) -> None:
    """``--out`` may hold only this calibration, so that its files never mix two studies: a new or empty directory,
    one with only a calibration's files (best.yaml, report.md, ...) and no optuna.db (the study starts over), or one
    whose optuna.db holds this study with the same design (study file, seeds and overrides; more trials resume).
    Another study, another design, another tool's outputs, other files or an unreadable optuna.db: ConfigError at
    ``--out``. Reads only: nothing in ``out`` is changed."""
    from sim.engine import output

    names = output.entries_of(out, "--out", "this calibration's")
    if not names:
        return
    tool = _other_tool(out, names)
    if tool:
        raise ConfigError("--out", f"'{out}' holds {tool}, not a calibration; allowed: another --out (a new or empty directory)")
    if DB not in names:
        other = [n for n in names if n not in OWN]
        if other:
            shown = ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
            raise ConfigError("--out", f"'{out}' is not empty and holds no calibration ({shown}); allowed: another --out (a new or empty directory)")
        return
    held = held_studies(out)
    others = sorted(n for n in held if n != study.name)
    if others:
        shown = ", ".join(f"'{n}'" for n in others)
        raise ConfigError(
            "--out",
            f"'{out}' holds the calibration study {shown} (optuna.db), not '{study.name}'; "
            f"allowed: another --out, or that study (--study {others[0]}) to resume it",
        )
    _check_signature(out, study, held.get(study.name), signature(study, overrides))


def _check_signature(out: Path, study: Calibration, held: str | None, sig: str) -> None:
    if held is None or held == sig:
        return
    try:
        old, new = json.loads(held), json.loads(sig)
        changed = [k for k in sorted({*old, *new}) if old.get(k) != new.get(k)]
    except (ValueError, AttributeError):
        changed = ["the signature"]
    shown = ", ".join({"extra_overrides": "overrides", "seeds": "--seeds"}.get(k, k) for k in changed)
    raise ConfigError(
        "--out",
        f"'{out}' holds the calibration study '{study.name}' with another design (differs in: {shown}); "
        f"allowed: another --out, or the same study file, --seeds and overrides to resume",
    )


def open_study(out: Path, study: Calibration, overrides: Sequence[str]):
    """The Optuna study in ``out/optuna.db`` (created, or loaded to resume); ConfigError if ``out`` holds anything
    else (:func:`check_out`) or the database cannot be read, before anything in ``out`` is changed."""
    import optuna
    import sqlalchemy.exc

    from sim.engine import output

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    check_out(out, study, overrides)  # another study, design or tool, or an unreadable optuna.db: refused untouched
    output.check_writable(out, "--out")  # before the study database is created
    # room for what the study writes (trials run without run directories): the database, a few kB a trial, and the
    # tables, plot and report, under a MB; generous so that a nearly full disk is refused before the first trial
    output.check_free_space(out, "--out", CALIBRATION_BYTES + TRIAL_BYTES * study.trials, "the calibration's files")
    out.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{(out / DB).resolve()}"
    sampler = optuna.samplers.TPESampler(seed=study.sampler_seed)
    try:
        ostudy = optuna.create_study(study_name=study.name, storage=storage, sampler=sampler, direction="minimize", load_if_exists=True)
    except (sqlalchemy.exc.SQLAlchemyError, RuntimeError) as ex:  # RuntimeError: a schema of another Optuna version
        raise ConfigError("--out", _unreadable(out / DB, str(ex).splitlines()[0])) from None
    sig = signature(study, overrides)
    held = ostudy.user_attrs.get("signature")
    if held is None:
        ostudy.set_user_attr("signature", sig)
    else:
        _check_signature(out, study, held, sig)
    for t in ostudy.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        ostudy.tell(t.number, state=optuna.trial.TrialState.FAIL)  # cut off by an interrupted run: resuming runs it again
    return ostudy


def complete_trials(ostudy) -> list:
    import optuna

    return [t for t in ostudy.trials if t.state == optuna.trial.TrialState.COMPLETE]


def search(problem: Problem, ostudy, say=print) -> None:
    """Run trials until the study holds ``problem.study.trials`` complete ones."""
    import optuna

    params = problem.study.parameters
    seeds = list(range(1, problem.study.seeds + 1))
    dists = {p.name: optuna.distributions.FloatDistribution(p.bounds[0], p.bounds[1], log=p.log) for p in params}
    while (done := len(complete_trials(ostudy))) < problem.study.trials:
        trial = ostudy.ask(dists)
        started = time.time()
        res = problem.evaluate([trial.params[p.name] for p in params], seeds)
        trial.set_user_attr("distances", res["distances"])
        trial.set_user_attr("medians", res["medians"])
        ostudy.tell(trial, res["loss"])
        best = ostudy.best_value
        say(f"trial {done + 1}/{problem.study.trials}: loss {res['loss']:.3f} (best {best:.3f})  {time.time() - started:.0f} s")


# --------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------
def history(ostudy, study: Calibration) -> pd.DataFrame:
    """A row per complete trial: number, parameter values, loss, best so far, distance per target."""
    rows = []
    for t in complete_trials(ostudy):
        row = {"trial": t.number, **{p.name: t.params[p.name] for p in study.parameters}, "loss": t.value}
        row.update({f"d_{k}": v for k, v in t.user_attrs.get("distances", {}).items()})
        row["medians"] = json.dumps(t.user_attrs.get("medians", {}), default=float)
        rows.append(row)
    df = pd.DataFrame(rows)
    if not df.empty:
        df["best_so_far"] = df["loss"].cummin()
    return df


def best_config(study: Calibration, values: dict[str, float], loss_value: float) -> str:
    """The best values as a Hydra config file (global package: composes with any other config)."""
    tree: dict[str, Any] = {}
    for p in study.parameters:
        *path, last = p.key.split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[last] = float(values[p.name])
    head = (
        "# @package _global_\n"
        f"# Calibrated by python -m sim.calibrate (study {study.name}, {study.seeds} seed(s) per trial): loss {loss_value:.4g}.\n"
        "# Use it: python -m sim --config-dir <this directory> +calibrated=best   (or copy calibrated/best.yaml into conf/)\n"
    )
    return head + yaml.safe_dump(tree, sort_keys=False)


def best_overrides(path: str | Path) -> list[str]:
    """The values of a best.yaml as override strings (``key=value``), e.g. for :func:`sim.config.compose`. ``path`` is
    the file or a calibration's output folder (``--out``), whose best.yaml is read. A missing file, a folder without
    one, invalid YAML or a value that is not a number is one ConfigError naming ``path``."""
    given = path_argument(path, "path", "a calibration's best.yaml or its output folder (--out)")
    file = given / "best.yaml" if given.is_dir() else given
    if given.is_dir() and not file.is_file():
        raise ConfigError("path", f"{given} is a folder without best.yaml; give a calibration's output folder (--out) or its best.yaml")
    if not file.is_file():
        raise ConfigError("path", f"file not found: {file}; give a calibration's best.yaml or its output folder (--out)")
    try:
        data = yaml.safe_load(read_text(file, "path"))
    except yaml.YAMLError as ex:
        raise ConfigError("path", f"{file} is not valid YAML: {yaml_problem(ex)}") from None
    if data is None:  # was: [] (the defaults composed as if calibrated); a best.yaml the command writes is never empty
        raise ConfigError("path", f"{file} is empty; a calibration's best.yaml maps each parameter it searched to the value found")
    if not isinstance(data, dict):
        raise ConfigError("path", f"{file} must hold a mapping of parameters to numbers, as python -m sim.calibrate writes it")
    out: list[str] = []

    def walk(node: dict, prefix: str) -> None:
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(v, key)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append(f"{key}={float(v)!r}")
            else:
                raise ConfigError("path", f"{file}: '{key}' must be a number, got {v!r}")

    walk(data, "")
    return out


@style.in_style("column")
def plot_loss(df: pd.DataFrame, path: Path) -> None:
    """The loss of every trial and the best so far, in the project's figure style (PNG, and PDF beside it)."""
    fig, axes = style.figure(1, 1, width="column", height=2.4)
    ax = axes[0, 0]
    ax.plot(df["trial"], df["loss"], "o", ms=3, color=style.SHADE, label="trial")
    ax.step(df["trial"], df["best_so_far"], where="post", color=style.TIER_PALETTE["little_giant"], label="best so far")
    ax.set_xlabel("trial (number)")
    ax.set_ylabel("loss (sum of target distances)")
    ax.legend()
    style.save(fig, path)


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return " / ".join(_fmt(x) for x in v.values())
    if isinstance(v, bool) or v is None:
        return {True: "met", False: "not met", None: "none"}[v]
    return f"{v:.3g}"


def write_report(out: Path, problem: Problem, df: pd.DataFrame, best, check: dict[str, Any], elapsed: float) -> str:
    """report.md: the study, the best values, and the stability check on a disjoint seed set."""
    s = problem.study
    k = s.seeds
    first = {"loss": best.value, "distances": best.user_attrs["distances"], "medians": best.user_attrs["medians"]}
    rows = []
    for t in problem.targets:
        i = t["id"]
        met = lambda r: "yes" if r["distances"][i] == 0 else "no"  # noqa: E731
        rows.append([i, json.dumps(t["accept"]), _fmt(first["medians"][i]), met(first), _fmt(check["medians"][i]), met(check)])
    table = text_table(pd.DataFrame(rows, columns=["target", "accept", f"seeds 1-{k}", "met", f"seeds {k + 1}-{2 * k}", "met "]), markdown=True)
    params = text_table(
        pd.DataFrame(
            [[p.name, p.key, f"{best.params[p.name]:.4g}", f"[{p.bounds[0]:g}, {p.bounds[1]:g}]" + (" log" if p.log else "")] for p in s.parameters],
            columns=["parameter", "key", "best", "bounds"],
        ),
        markdown=True,
    )
    weights = "equal weights" if not s.weights else f"weights {json.dumps(s.weights)} (others 1)"
    excluded = "; ".join(f"{t}: {why}" for t, why in EXCLUDED.items())
    text = f"""# Calibration: study {s.name}

{len(df)} trials (TPE, sampler seed {s.sampler_seed}), {k} seed(s) per trial; this session {elapsed:.0f} s.
Loss: the sum of the targets' distances to their accepted ranges ({weights}; 0 inside a range, the gap in
range widths outside, rules 0/1, unmeasured {s.missing_distance:g}). Targets excluded (years after {LAST_YEAR}
or not measured from runs): {excluded}.

## Best values (trial {best.number})

{params}

## Stability across seed sets

Loss on seeds 1-{k}: {first["loss"]:.3f}; on the disjoint seeds {k + 1}-{2 * k}: {check["loss"]:.3f}.

{table}
"""
    from sim.engine import output

    output.write_text(out / "report.md", text)
    return text


def calibrate(study: Calibration, out: Path, workers: int = 1, overrides: Sequence[str] = (), say=print) -> dict[str, Any]:
    """Run (or resume) the study into ``out`` and write its files; returns the history, the best values and the check."""
    from sim.engine import output

    started = time.time()
    check_out(out, study, overrides)  # first: a directory holding anything else is refused before the composition
    problem = Problem.build(study, overrides, workers)
    ostudy = open_study(out, study, overrides)
    search(problem, ostudy, say)
    best = ostudy.best_trial
    values = [best.params[p.name] for p in study.parameters]
    check = problem.evaluate(values, list(range(study.seeds + 1, 2 * study.seeds + 1)))
    df = history(ostudy, study)
    cfg_text = best_config(study, best.params, best.value)
    with output.staged_files(out) as new:  # the files together: an interrupted write leaves those before, not a mix
        output.write_parquet(new / "trials.parquet", df)
        output.write_text(new / "best.yaml", cfg_text)
        (new / "calibrated").mkdir()
        output.write_text(new / "calibrated" / "best.yaml", cfg_text)
        plot_loss(df, new / "loss.png")
        write_report(new, problem, df, best, check, time.time() - started)
    return {"history": df, "best": dict(best.params), "best_loss": best.value, "check": check, "files": {f: out / f for f in FILES}}


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = command_parser(
        "python -m sim.calibrate",
        __doc__.split("\n\n")[0],
        overrides="config overrides applied to every run (e.g. years=12)",
        seeds="seeds per trial (default: the study's)",
        workers="worker processes (default: the cores available)",
        out="study directory (default: results/calibration/<study>); the same directory resumes",
    )
    ap.add_argument("--study", default="main", help="conf/calibration/NAME.yaml or a path to a YAML file (default: main)")
    ap.add_argument("--trials", type=whole_number, help="complete trials in all (default: the study's)")
    a = ap.parse_intermixed_args(argv)
    study = None
    try:
        study = load_study(a.study)
        check_counts(a)
        refuse_seed(a.overrides)
        study.seeds = a.seeds or study.seeds
        study.trials = a.trials or study.trials
        # a trial's runs (the scenarios its targets read x its seeds) are held together until its loss
        validate.check_results_memory(study.seeds, len({sc for t in study_targets(study) for sc in USABLE[t["id"]][1]}))
        out = Path(a.out) if a.out else Path("results") / "calibration" / study.name
        res = calibrate(study, out, a.workers or default_workers(), a.overrides, say=lambda s: print(s, flush=True))
    except ConfigError as err:  # a mistake in the study file is a StudyError naming it (not every key named "targets" is the file's)
        print(error_line(err), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: complete trials are kept; run the same command to resume", file=sys.stderr)
        return 130
    print(f"best loss {res['best_loss']:.3f} (seeds 1-{study.seeds}); on seeds {study.seeds + 1}-{2 * study.seeds}: {res['check']['loss']:.3f}")
    print(f"files: {', '.join(str(p) for p in res['files'].values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
