"""The main experiment: several scenarios x replications on the local cores, then a report.

    python -m sim.experiment                                 # conf/experiment/main.yaml
    python -m sim.experiment --seeds 3 --workers 2 years=20  # fewer seeds; overrides apply to every run
    python -m sim.experiment --out results/experiments/NAME  # an existing directory resumes

An experiment file (conf/experiment/NAME.yaml) names the scenarios, the reference scenario, the
number of replications and the rows of the paired-difference table. Replication k of every
scenario uses seed k (common random numbers), so scenario differences are paired seed by seed.

The runs go through the sweep machinery (sim/research/sweep.py): each streams to
``<out>/runs/<scenario>-seed<k>-<hash>``, a complete run is skipped when the experiment is started
again with the same ``--out``, and a failing run is recorded in its manifest while the others go
on. Then the report is built from the analysis API (sim/research/analysis.py) into ``<out>/report/``:
report.md with its figures (PNG, and PDF beside each), differences.csv, timelines.csv and timeline_differences.csv, and
``<out>/sweep_table.parquet``. The terminal ends with the paired-difference table, the timelines of
every bloc and stage per scenario (median and interval over seeds, "never" right-censored), the
paired differences of independence in years, and the report's path.
"""

from __future__ import annotations

import math
import re
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd

from sim.config import ConfigError
from sim.progress import Progress
from sim.research.driver import (
    FIRST_RUN,
    batch_progress,
    check_counts,
    command_parser,
    default_workers,
    error_line,
    no_key,
    path_text,
    refuse_seed,
    summary_keys,
    text_table,
)
from sim.research.study import DifferenceRow, Experiment, file_keys, from_file_overrides, in_study, parse, read_study

STUDY_KEYS = tuple(file_keys(Experiment))


# --------------------------------------------------------------------------
# The experiment file (schema and reader: sim/research/study.py)
# --------------------------------------------------------------------------
def parse_experiment(data: Any, source: str = "") -> Experiment:
    """Validate an experiment mapping (as read from YAML). Raises ConfigError naming the key."""
    return parse(Experiment, data, source)


def load_experiment(name_or_path: str) -> Experiment:
    """An experiment by name (conf/experiment/NAME.yaml) or by path. Raises ConfigError."""
    return read_study(Experiment, name_or_path, "experiment", "--experiment")


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------
def new_experiment_dir(root: str | Path, name: str) -> Path:
    from sim.engine.output import unique_dir

    return unique_dir(Path(root) / "experiments", name)


def job_names(exp: Experiment, scenario_names: dict[str, str] | None = None) -> list[str]:
    """The run directory name of every job (``<scenario>-seed<k>-<hash>``, as sim.research.sweep.job_dir names it);
    ``scenario_names`` maps a scenario file to the name its config carries (default: the same)."""
    from sim.research.sweep import job_hash

    names = scenario_names or {}
    return [f"{names.get(s, s)}-seed{k}-{job_hash(o)}" for s, k, o in exp.jobs()]


def check_out(exp: Experiment, out: Path, scenario_names: dict[str, str] | None = None) -> None:
    """``--out`` may hold only this experiment's runs, so that its report never mixes two designs: a new or empty
    directory, or one whose runs/ holds no run outside this experiment's jobs (the same experiment file,
    overrides and seeds; more seeds than before also resume). ConfigError at ``--out`` otherwise."""
    from sim.engine import output

    names = output.entries_of(out, "--out", "this experiment's")
    if not names:
        return
    if "runs" not in names:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise ConfigError(
            "--out", f"'{out}' is not empty and holds no experiment ({shown}); allowed: a new directory, or this experiment's to resume"
        )
    other = _other_runs(exp, out, scenario_names)
    if other:
        raise ConfigError(
            "--out",
            f"'{out}' holds {len(other)} run(s) of another design (e.g. {other[0]}: other scenarios, seeds or overrides); "
            f"allowed: another --out, or the same experiment, --seeds and overrides to resume",
        )


def _run_names(out: Path) -> list[str]:
    runs = out / "runs"
    return sorted(p.name for p in runs.iterdir() if not p.name.startswith(".")) if runs.is_dir() else []


def _other_runs(exp: Experiment, out: Path, scenario_names: dict[str, str] | None = None) -> list[str]:
    """The run directories under ``<out>/runs`` that are no job of this experiment (another file, seeds or overrides)."""
    expected = set(job_names(exp, scenario_names))
    return [n for n in _run_names(out) if n not in expected]


_RUN_NAME = re.compile(r"^(?P<scenario>.+)-seed(?P<seed>\d+)-[0-9a-f]+$")
_NOT_THE_DESIGN = ("scenario", "seed", "progress", "output.firm_panel")  # set per job or by the file's firm_panel


def _seed_text(seeds: Sequence[int]) -> str:
    seeds = sorted(set(seeds))
    if not seeds:
        return "none"
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1 else ", ".join(map(str, seeds))


def _runs_design(out: Path) -> str:
    """What the runs under ``<out>/runs`` were made with, in words: their scenarios and seeds (from the directory
    names) and the overrides of every run (from a manifest)."""
    from sim.research.sweep import override_key, read_manifest

    names = _run_names(out)
    parsed = [m for m in map(_RUN_NAME.match, names) if m]
    scenarios = ", ".join(dict.fromkeys(m["scenario"] for m in parsed)) or "?"
    text = f"scenarios {scenarios}; seeds {_seed_text([int(m['seed']) for m in parsed])}"
    for n in names:
        manifest = read_manifest(out / "runs" / n) or {}
        if isinstance(manifest.get("overrides"), list):
            extra = [str(o) for o in manifest["overrides"] if override_key(str(o)) not in _NOT_THE_DESIGN]
            return text + f"; overrides {' '.join(extra) if extra else 'none'}"
    return text


def _design(exp: Experiment) -> str:
    seeds = f"{exp.seeds} seed{'s' if exp.seeds != 1 else ''}"
    return f"experiment {exp.source or exp.name}; {seeds}; overrides {' '.join(exp.overrides) if exp.overrides else 'none'}"


def check_report_only(exp: Experiment, out: Path, scenario_names: dict[str, str] | None = None) -> None:
    """``--report-only`` reports on the runs of exactly the design it is given: ``<out>/runs`` must hold runs, none of
    another design (another experiment file, fewer seeds or other overrides: :func:`check_out`'s test), and runs up to
    the design's last seed (more seeds than the runs have are a design that was never run). ConfigError otherwise,
    before anything is written; that every scenario has a complete run is :func:`build_report`'s check."""
    names = _run_names(out)
    if not names:
        raise ConfigError("--out", f"no runs in {out / 'runs'}; run the experiment without --report-only first")
    other = _other_runs(exp, out, scenario_names)
    if other:
        raise ConfigError(
            "--report-only",
            f"the runs in '{out}' were made with another design than the one given ({_design(exp)}): {len(other)} of "
            f"{len(names)} are no run of it (e.g. {other[0]}); the runs hold {_runs_design(out)}; "
            "give the --experiment file, --seeds and overrides they were made with",
        )
    last = max((int(m["seed"]) for m in map(_RUN_NAME.match, names) if m), default=0)
    if last < exp.seeds:
        raise ConfigError(
            "--seeds",
            f"the runs in '{out}' go up to seed {last}, the design given has {exp.seeds} seeds; "
            f"give --seeds {last} to report on the runs made, or run without --report-only to complete the {exp.seeds}",
        )


def run_experiment(
    exp: Experiment,
    out_dir: Path,
    workers: int,
    say: Callable[[str], None] = print,
    display: Progress | None = None,
    cfgs: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """Run every job of the experiment in ``out_dir`` (complete runs are kept), ``workers`` at a time.

    A line per finished run goes to ``say``, or to ``display`` (the progress display, whose bar it
    advances) when given. Every job is composed and validated before the first run starts (ConfigError otherwise);
    ``cfgs``: the jobs' configs, in the order of ``exp.jobs()``, where the caller has composed them already."""
    from sim.engine import output
    from sim.research.sweep import compose_jobs, run_jobs

    jobs = exp.jobs()
    cfgs = compose_jobs([o for _, _, o in jobs]) if cfgs is None else list(cfgs)
    check_differences(exp, cfgs)
    check_out(exp, Path(out_dir), {s: c.scenario.name for (s, _, _), c in zip(jobs, cfgs)})
    output.check_output(out_dir, "--out", cfgs)
    n = len(jobs)
    width = len(str(n))
    checked = False

    def report(i: int, rec: dict[str, Any], done: int) -> None:
        nonlocal checked
        if not checked and rec["status"] == "complete":  # a misspelt key stops the runs after the first, not after all
            checked = True
            check_difference_keys(exp, rec["run_dir"])
        s, k, _ = jobs[i]
        what = (
            "kept (complete)"
            if rec["skipped"]
            else rec["status"] + (f" in {rec['wall_time_s']:.1f} s" if rec["status"] == "complete" else f": {rec['error']}")
        )
        line = f"[{done:>{width}}/{n}] {s} seed {k}: {what}"
        display.advance(text=line) if display is not None else say(line)

    return run_jobs([o for _, _, o in jobs], cfgs, out_dir, workers, on_done=report, quiet=True)


# --------------------------------------------------------------------------
# The numbers of the difference table
# --------------------------------------------------------------------------
def difference_values(exp: Experiment, runs) -> pd.DataFrame:
    """Long frame: scenario, seed, row (index into exp.differences), label, value (one per run and row)."""
    from sim.research import analysis as an

    runs = list(runs)
    tl = an.timeline_frame(runs) if any(r.timeline for r in exp.differences) else None
    scal = an.scalars_frame(runs) if any(r.key for r in exp.differences) else None
    out = []
    for i, row in enumerate(exp.differences):
        if row.key is not None:
            if row.key not in scal.columns and not _names_a_year(row.key, scal.columns):
                raise no_key(f"differences[{i}].key", row.key, scal.columns)
            # a year the runs do not reach (e.g. years=10) gives NaN, like a series row
            vals = pd.to_numeric(scal[row.key], errors="coerce") if row.key in scal.columns else pd.Series(np.nan, index=scal.index)
            d = pd.DataFrame({"scenario": scal["scenario"], "seed": scal["seed"], "value": vals})
        elif row.timeline is not None:
            sel = tl[(tl["bloc"].astype(str) == row.bloc) & (tl["stage"].astype(str) == row.stage)]
            if sel.empty:
                have = ", ".join(f"{b} {st}" for b, st in dict.fromkeys(zip(tl["bloc"].astype(str), tl["stage"].astype(str))))
                raise ConfigError(f"differences[{i}]", f"no bloc '{row.bloc}' with stage '{row.stage}' in these runs; allowed: {have}")
            v = sel[row.timeline].astype(float)
            never = v.isna().to_numpy()
            if row.censor:
                v = v.fillna(sel["end_year"].astype(float))
            d = pd.DataFrame({"scenario": sel["scenario"].to_numpy(), "seed": sel["seed"].to_numpy(), "value": v.to_numpy(), "never": never})
        else:
            d = pd.DataFrame([{"scenario": r.scenario, "seed": r.seed, "value": _series_value(r, row, i)} for r in runs])
        d["value"] = d["value"].astype(float) * float(row.scale)
        d["never"] = d["never"].astype(bool) if "never" in d else False
        d.insert(2, "row", i)
        d.insert(3, "label", row.label)
        out.append(d)
    cols = ["scenario", "seed", "row", "label", "value", "never"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def check_differences(exp: Experiment, cfgs: Sequence[Any]) -> list[str]:
    """Every difference row asks for what the runs will have, known from their composed configs ``cfgs`` before the first
    run: a bloc and a stage of their world (``world.blocs``, ``world.stages``), a year not before the runs start (a
    series row's ``year``, a calendar year in a row's key). A :class:`~sim.research.study.StudyError` naming the row's
    field and the file otherwise. A year after the runs end is no mistake (the main experiment's 2035 rows with
    ``years=20``): the row reads n/a, as a year only some scenarios reach reads as not reached in the others; the
    notes returned say so, one per such row."""
    notes: list[str] = []
    if not cfgs:
        return notes
    blocs = list(dict.fromkeys(b for c in cfgs for b in c.world.blocs))
    stages = list(dict.fromkeys(st for c in cfgs for st in c.world.stages))
    first = min(c.world.start_year for c in cfgs)
    last = max(c.world.start_year + c.years - 1 for c in cfgs)
    lengths = sorted({c.years for c in cfgs})
    span = f"{first}-{last}" if last > first else str(first)
    runs = f"the runs' years {span} (years={'/'.join(map(str, lengths))})"

    def bad(at: str, problem: str) -> ConfigError:
        return in_study(ConfigError(at, problem), exp.source)

    def check_year(at: str, label: str, year: int, what: str) -> None:
        if year < first:
            raise bad(at, f"{what} {year}, before {runs}; allowed: a year from {first}")
        if year > last:
            notes.append(f"{at} ({label}): {what} {year}, after {runs}: it reads n/a (years={year - first + 1} reaches it)")

    scenarios = ", ".join(dict.fromkeys(exp.scenarios))
    for i, row in enumerate(exp.differences):
        at = f"differences[{i}]"
        for name, value, known in (("bloc", row.bloc, blocs), ("stage", row.stage, stages)):
            if value is not None and value not in known:
                raise bad(
                    f"{at}.{name}", f"unknown {name} '{value}'; allowed: the {name}s of the runs' world (scenarios {scenarios}): {', '.join(known)}"
                )
        if row.series is not None:
            check_year(f"{at}.year", row.label, int(row.year), "the row reads the year")
        if row.key is not None:
            for part in row.key.split("."):
                if len(part) == 4 and part.isdigit():
                    check_year(f"{at}.key", row.label, int(part), f"'{row.key}' names the year")
    return notes


def check_difference_keys(exp: Experiment, run_dir: str | Path) -> None:
    """Every difference row's key names a value of the summary of the complete run in ``run_dir`` (the first to end;
    a key with a year the runs do not reach reads as not reached, as in :func:`difference_values`): ConfigError
    naming the row otherwise."""
    keys = summary_keys(run_dir)
    for i, row in enumerate(exp.differences if keys is not None else ()):
        if row.key is not None and row.key not in keys and not _names_a_year(row.key, keys):
            raise no_key(f"differences[{i}].key", row.key, keys, FIRST_RUN.format(Path(run_dir).name))


def _names_a_year(key: str, columns) -> bool:
    """Whether the key names a calendar year: summary keys such as shares.2035.... exist only for
    the years a run covers, so a missing one reads as NaN (not reached), not as a mistake."""
    return any(len(part) == 4 and part.isdigit() for part in key.split("."))


def _series_value(run, row: DifferenceRow, i: int) -> float:
    ts = run.timeseries
    if row.series not in ts.columns:
        raise ConfigError(
            f"differences[{i}].series",
            f"no column '{row.series}' in timeseries.parquet; columns: {', '.join(c for c in ts.columns if c not in ('quarter_index', 'time'))}",
        )
    sel = ts[(ts["bloc"].astype(str) == row.bloc) & (ts["year"] == row.year)]
    if row.stage is not None:
        sel = sel[sel["stage"].astype(str) == row.stage]
    if sel.empty:
        return math.nan  # the year is outside this run (or the bloc/stage is absent)
    if row.how == "end":
        sel = sel[sel["quarter"] == sel["quarter"].max()]
    return float(sel[row.series].sum())


def difference_table(exp: Experiment, values: pd.DataFrame) -> pd.DataFrame:
    """Per row and other scenario: the means of both over the seeds paired (so that their difference is the mean
    paired difference), the mean paired difference with its bootstrap interval, the median paired difference, and the
    medians of both over all their seeds (in the CSV only)."""
    from sim.research.analysis import paired_differences

    others = [s for s in exp.scenarios if s != exp.reference]
    rows = []
    for i, row in enumerate(exp.differences):
        v = values[values["row"] == i]
        pdiff = paired_differences(v, "value", reference=exp.reference, others=others, level=exp.level, n_boot=exp.n_boot, rng=exp.bootstrap_seed)
        ref = v[v["scenario"] == exp.reference]["value"]
        for _, d in pdiff.iterrows():
            oth = v[v["scenario"] == d["scenario"]]["value"]
            pair = v[v["scenario"].isin([exp.reference, d["scenario"]])].pivot_table(
                index="seed", columns="scenario", values="value", aggfunc="first"
            )
            pair = pair.dropna() if {exp.reference, d["scenario"]} <= set(pair.columns) else pair.iloc[0:0]
            rows.append(
                {
                    "label": row.label,
                    "unit": row.unit,
                    "scenario": d["scenario"],
                    "reference": exp.reference,
                    "reference_median": float(ref.median()) if ref.notna().any() else math.nan,
                    "scenario_median": float(oth.median()) if oth.notna().any() else math.nan,
                    "reference_mean": float(pair[exp.reference].mean()) if len(pair) else math.nan,
                    "scenario_mean": float(pair[d["scenario"]].mean()) if len(pair) else math.nan,
                    "mean_difference": d["mean"],
                    "median_difference": d["median"],
                    "ci_low": d["ci_low"],
                    "ci_high": d["ci_high"],
                    "excludes_zero": d["excludes_zero"],
                    "n_pairs": d["n_pairs"],
                    "n_dropped": d["n_dropped"],
                    "n_never_reference": int(v.loc[v["scenario"] == exp.reference, "never"].sum()) if "never" in v else 0,
                    "n_never_scenario": int(v.loc[v["scenario"] == d["scenario"], "never"].sum()) if "never" in v else 0,
                    "n_seeds": int((v["scenario"] == d["scenario"]).sum()),
                    "level": exp.level,
                }
            )
    return pd.DataFrame(rows)


def _num(x: float, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    ax = abs(x)
    if unit == "year" and ax >= 1000:  # a calendar year: no thousands separator
        return f"{x:.1f}"
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if ax >= 0.1 or x == 0 else f"{x:.3f}"


def format_table(table: pd.DataFrame, markdown: bool = False) -> str:
    """The paired-difference table as text (terminal) or Markdown (report)."""
    if table.empty:
        return "(no rows)"
    level = int(round(table["level"].iloc[0] * 100))
    head = [
        "quantity",
        "unit",
        "scenario",
        f"{table['reference'].iloc[0]} mean",
        "scenario mean",
        "mean paired difference",
        f"{level}% interval",
        "pairs",
    ]
    body = []
    for _, r in table.iterrows():
        star = " *" if r["excludes_zero"] else ""
        pairs = f"{r['n_pairs']}" + (f" ({r['n_dropped']} dropped)" if r["n_dropped"] else "")
        never_ref, never_scen = (int(r[c]) if c in r and pd.notna(r[c]) else 0 for c in ("n_never_reference", "n_never_scenario"))
        if never_ref or never_scen:  # "never within the horizon": counted, and a side that never reached is not a year
            pairs += f"; never within the run: {r['reference']} {never_ref}/{int(r['n_seeds'])}, scenario {never_scen}/{int(r['n_seeds'])}"
        u = r["unit"]
        body.append(
            [
                r["label"],
                u,
                r["scenario"],
                "never" if never_ref and never_ref == r["n_seeds"] else _num(r["reference_mean"], u) + (" (bound)" if never_ref else ""),
                "never" if never_scen and never_scen == r["n_seeds"] else _num(r["scenario_mean"], u) + (" (bound)" if never_scen else ""),
                _num(r["mean_difference"], u) + star,
                f"[{_num(r['ci_low'], u)}, {_num(r['ci_high'], u)}]",
                pairs,
            ]
        )
    return text_table(pd.DataFrame(body, columns=head), markdown, left=3)


# --------------------------------------------------------------------------
# Timelines: years per scenario with their interval, and paired differences in years
# --------------------------------------------------------------------------
TIMELINE_LABELS = {"years_to_first_output": "first output", "years_to_independence": "independence"}


def timeline_difference_table(exp: Experiment, runs, timeline: pd.DataFrame) -> pd.DataFrame:
    """Per other scenario, bloc and stage: the paired difference in years with the reference, seed by
    seed, of independence and, where both scenarios count from the same reference year, of first output
    (:func:`sim.research.analysis.timeline_differences`; "never" counted, not given a number).

    Independence is compared on one clock, the later of the two reference years (``from_year``),
    recomputed from the time series (analysis.independence_years). First output is not: it counts plants
    of firms born after each scenario's own reference year, so it is left out where those differ."""
    from sim.research import analysis as an

    refs = timeline.groupby("scenario")["reference_year"].max()
    if exp.reference not in refs:
        return pd.DataFrame()
    parts = []
    for other in [s for s in exp.scenarios if s != exp.reference and s in refs]:
        clock = max(float(refs[other]), float(refs[exp.reference]))
        opts = {"reference": exp.reference, "others": [other], "level": exp.level, "n_boot": exp.n_boot, "rng": exp.bootstrap_seed}
        pair = [r for r in runs if r.scenario in (other, exp.reference)]
        ind = an.timeline_differences(an.independence_years(pair, from_year=clock), "independence_year", **opts)
        parts.append(ind.assign(measure="years_to_independence", from_year=clock))
        if refs[other] == refs[exp.reference]:
            fo = an.timeline_differences(timeline, "first_output_year", **opts)
            parts.append(fo.assign(measure="years_to_first_output", from_year=clock))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    for col in ("bloc", "stage"):
        out[col] = out[col].astype(str)
    front = ["measure", "bloc", "stage", "scenario", "reference", "from_year"]
    return out[front + [c for c in out.columns if c not in front]]


def _west_first(values) -> list[str]:
    """Unique values in order of appearance, the West (the question's bloc) first."""
    seen = list(dict.fromkeys(map(str, values)))
    return [v for v in seen if v == "west"] + [v for v in seen if v != "west"]


def _years(x: float) -> str:
    return f"{x:.1f}"


def _quantile_text(value: float, status: str) -> str:
    from sim.research.analysis import LOWER_BOUND, NEVER

    return "never" if status == NEVER else f"> {_years(value)}" if status == LOWER_BOUND else _years(value)


def timeline_cell(row: pd.Series | dict, band: tuple[float, float] | None = None) -> str:
    """One row of analysis.timeline_table as text: 'median [low, high] reached/seeds', e.g.
    '6.4 [5.8, 7.2] 10/10', '> 11.5 [10.2, never] 5/10', 'never (0/10)'."""
    from sim.research.analysis import NEVER, TIMELINE_BAND, quantile_name

    lo, hi = (quantile_name(q) for q in (band or TIMELINE_BAND))
    count = f"{int(row['n_reached'])}/{int(row['n_seeds'])}"
    if row["n_reached"] == 0 or (row["median_status"] == NEVER and row[f"{lo}_status"] == NEVER):
        return f"never ({count})"
    med = _quantile_text(row["median"], row["median_status"])
    return f"{med} [{_quantile_text(row[lo], row[f'{lo}_status'])}, {_quantile_text(row[hi], row[f'{hi}_status'])}] {count}"


def format_timelines(table: pd.DataFrame, scenarios: Sequence[str], markdown: bool = False, measures: Sequence[str] | None = None) -> str:
    """analysis.timeline_table as a table: a row per bloc (the West first), measure and stage, a column per scenario."""
    if table.empty:
        return "(no rows)"
    refs = table.groupby("scenario")["reference_year"].max()
    scen = [s for s in scenarios if s in set(table["scenario"])]
    heads = [f"{s} (from {refs[s]:g})" if pd.notna(refs.get(s)) else s for s in scen]
    measures = [m for m in (measures or TIMELINE_LABELS) if m in set(table["measure"])]
    rows = []
    for bloc in _west_first(table["bloc"].astype(str)):
        for measure in measures:
            for stage in dict.fromkeys(table["stage"].astype(str)):
                sel = table[(table["bloc"].astype(str) == bloc) & (table["stage"].astype(str) == stage) & (table["measure"] == measure)]
                if sel.empty:
                    continue
                cells = {r["scenario"]: timeline_cell(r) for _, r in sel.iterrows()}
                rows.append([bloc, TIMELINE_LABELS.get(measure, measure), stage, *[cells.get(s, "") for s in scen]])
    return text_table(pd.DataFrame(rows, columns=["bloc", "measure", "stage", *heads]), markdown, left=3)


def format_timeline_differences(table: pd.DataFrame, markdown: bool = False, measures: Sequence[str] | None = None) -> str:
    """timeline_difference_table as a table: a row per measure, bloc (the West first), stage and scenario; the
    measure column only when there are several."""
    t = table[table["measure"].isin(measures)] if measures is not None and not table.empty else table
    if t.empty:
        return "(no rows)"
    level = int(round(t["level"].iloc[0] * 100))
    ref = t["reference"].iloc[0]
    several = t["measure"].nunique() > 1
    head = ["measure"] * several + ["bloc", "stage", "scenario", "from", "both reached", "mean difference", f"{level}% interval"]
    head += [f"only scenario / only {ref} / neither", "earlier / same / later"]
    body = []
    for measure in [m for m in TIMELINE_LABELS if m in set(t["measure"])]:
        for bloc in _west_first(t["bloc"]):
            for _, r in t[(t["measure"] == measure) & (t["bloc"] == bloc)].iterrows():
                body.append(
                    [TIMELINE_LABELS[measure]] * several
                    + [
                        bloc,
                        r["stage"],
                        r["scenario"],
                        f"{r['from_year']:g}",
                        f"{r['n_both']}/{r['n_pairs']}",
                        _num(r["mean"]) + (" *" if r["excludes_zero"] else ""),
                        "" if pd.isna(r["ci_low"]) else f"[{_num(r['ci_low'])}, {_num(r['ci_high'])}]",
                        f"{r['n_scenario_only']} / {r['n_reference_only']} / {r['n_neither']}",
                        f"{r['earlier']} / {r['same']} / {r['later']}",
                    ]
                )
    return text_table(pd.DataFrame(body, columns=head), markdown, left=3 + several)


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------
FIGURES = (
    (
        "timeline",
        "Mine-to-magnet timeline",
        "First output of a new plant and independence per bloc and stage on one calendar axis, as in the Timelines "
        "table: dot = median over all seeds, bar = the interval over seeds (an arrow where it runs on past what is "
        "drawn), and the seeds that reached it when not all did. A tick at the top marks where each scenario's clock "
        "starts and a dashed line where its runs end: 'never' means not by then. Grey bands on the West's independence "
        "are the accepted ranges of the west_timeline_coordinated target (conf/validation/targets.yaml), counted from "
        "its scenario's clock.",
    ),
    (
        "capacity",
        "Capacity and the coordinated bloc's share",
        "Operating capacity by stage (rows) and bloc (columns, each panel its own scale: the West and the rest of the "
        "world are not drawn on China's), in kt of the stage's product per year, and China's share of world capacity; "
        "median across seeds with the 5-95% band.",
    ),
    ("pyramid", "Designation pyramid", "Chinese firms holding each tier at the end of each quarter, and new designations per year."),
    ("rd_by_tier", "R&D and patents by tier", "R&D intensity (R&D / revenue) and patents in force per firm, by tier, China."),
    (
        "event_study",
        "Event study around designation",
        "Designated firms against firms of the same run, year and stage not designated yet, by years relative to the first designation.",
    ),
    (
        "prices",
        "Prices",
        "Bloc price by stage (USD per kg of the stage's product). Shaded: the quarters in which that stage is under "
        "China's export control in every scenario (a bar at the top per scenario marks its own); dotted: the start of "
        "each scenario event.",
    ),
    (
        "fiscal",
        "Fiscal cost",
        "Public money per year, each bloc its own panel and scale; each scenario and bloc's total split by instrument "
        "(instrument colours are never a scenario's); and cumulative cost per tonne of domestic chain capacity added "
        "(magnet-equivalent, weakest stage).",
    ),
)


STAGE_FIGURES = ("capacity", "prices", "fiscal")  # figures whose axes carry tonnes of a stage's product


class Report(NamedTuple):
    """What build_report wrote: the report's path and the tables the terminal shows."""

    path: Path
    differences: pd.DataFrame  # difference_table
    timelines: pd.DataFrame  # analysis.timeline_table
    timeline_differences: pd.DataFrame  # timeline_difference_table


class ReportFigure(NamedTuple):
    """One figure of the report: its file name, title, what it draws, what it shows in this run, and the figure."""

    name: str
    title: str
    caption: str
    finding: str
    figure: Any  # matplotlib Figure


def report_figures(exp: Experiment, runs, tl: pd.DataFrame | None = None, timelines: pd.DataFrame | None = None):
    """Yield every figure of the report (:data:`FIGURES`; the event study only with the firm panel), one at a time,
    with its caption and the sentence made from the runs' numbers (sim/research/findings.py)."""
    from sim.research import analysis as an
    from sim.research import findings, style

    tl = an.timeline_frame(runs) if tl is None else tl
    timelines = an.timeline_table(tl) if timelines is None else timelines
    ts, pol, ev = an.tidy(runs, "timeseries"), an.tidy(runs, "policy"), an.tidy(runs, "events")
    firms = an.tidy(runs, "firms") if exp.firm_panel else pd.DataFrame()
    study = an.event_study(firms, ev) if exp.firm_panel else None
    makers: dict[str, Callable[[], Any]] = {
        "timeline": lambda: an.plot_timeline(tl),
        "capacity": lambda: an.plot_capacity(ts),
        "pyramid": lambda: an.plot_pyramid(pol, ev),
        "rd_by_tier": lambda: an.plot_rd_by_tier(pol),
        "event_study": lambda: an.plot_event_study(study),
        "prices": lambda: an.plot_prices(ts, ev),
        "fiscal": lambda: an.plot_fiscal(pol, ts),
    }
    found = findings.figure_findings({"timeseries": ts, "policy": pol, "events": ev, "firms": firms, "timelines": timelines}, study)
    units = style.units_note(an._order(ts["stage"].astype(str)))  # noqa: SLF001
    for name, title, caption in FIGURES:
        if name == "event_study" and not exp.firm_panel:
            continue
        what = " ".join(x for x in (caption, units if name in STAGE_FIGURES else "") if x)
        yield ReportFigure(name, title, what, found.get(name, ""), makers[name]())


# what report/ holds, all written by build_report: a report replaces these and keeps anything else found there
REPORT_FILES = frozenset({"report.md", "differences.csv", "difference_values.csv", "timelines.csv", "timeline_differences.csv", "figures"})


def build_report(exp: Experiment, out_dir: Path, say: Callable[[str], None] = print) -> Report:
    """Read the experiment's runs and write report/ (report.md, figures/*.png and *.pdf, CSV tables), whole: the
    report before stays until the new one is complete (sim.engine.output.staged_dir)."""
    import matplotlib

    matplotlib.use("Agg")
    from sim.engine import output
    from sim.research import analysis as an
    from sim.research.sweep import write_table

    with warnings.catch_warnings(record=True) as skipped:  # the runs skipped: in the error below if it refuses
        warnings.simplefilter("always")
        runs = an.load_runs(out_dir / "runs")
    check_scenarios(exp, out_dir, runs)
    for w in skipped:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    # every number before the first file: a mistake found on the way (a difference row naming a key the runs lack)
    # leaves the directory as it was
    values = difference_values(exp, runs)
    table = difference_table(exp, values)
    tl = an.timeline_frame(runs)
    timelines = an.timeline_table(tl)
    tl_diff = timeline_difference_table(exp, runs, tl)
    rep = out_dir / "report"
    write_table(out_dir, configs={r.path.resolve(): r.config for r in runs})  # the configs the timelines' clocks read

    from sim.research import style

    with output.staged_dir(rep, own=lambda name: name in REPORT_FILES) as new:  # the old report stays until the new one is whole
        figdir = new / "figures"
        figdir.mkdir()
        output.write_text(new / "differences.csv", table.to_csv(index=False))
        output.write_text(new / "difference_values.csv", values.to_csv(index=False))
        output.write_text(new / "timelines.csv", timelines.to_csv(index=False))
        output.write_text(new / "timeline_differences.csv", tl_diff.to_csv(index=False))
        written = []
        for fig in report_figures(exp, runs, tl, timelines):
            style.save(fig.figure, figdir / f"{fig.name}.png")
            written.append((fig.name, fig.title, fig.caption, fig.finding))
        text = _report_text(exp, out_dir, runs, table, timelines, tl_diff, written)
        output.write_text(new / "report.md", text)
    return Report(rep / "report.md", table, timelines, tl_diff)


def check_scenarios(exp: Experiment, out_dir: Path, runs) -> None:
    """Every scenario of the experiment needs a complete run for the report (the reference for every difference, the
    others for their own): ConfigError at ``--out`` naming those without one, and why their runs were skipped."""
    have = {str(r.scenario) for r in runs}
    missing = [s for s in exp.scenarios if s not in have]
    if not missing:
        return
    skipped = [(Path(d).name, why) for d, why in getattr(runs, "skipped", [])]
    mine = [(n, why) for n, why in skipped if (m := _RUN_NAME.match(n)) and m["scenario"] in missing]
    why = f" ({len(mine)} of its runs failed or were interrupted, e.g. {mine[0][0]}: {mine[0][1]})" if mine else ""
    raise ConfigError(
        "--out",
        f"no complete run of scenario {', '.join(repr(s) for s in missing)} in {out_dir / 'runs'}{why}; the report needs "
        f"every scenario of the experiment: run it again with the same --out, --experiment, --seeds and overrides "
        "(without --report-only) to complete its runs",
    )


def _band_text() -> str:
    from sim.research.analysis import TIMELINE_BAND

    return ", ".join(f"{q * 100:g}%" for q in TIMELINE_BAND)


def _timelines_heading(timelines: pd.DataFrame) -> str:
    return (
        f"Timelines, years from each scenario's reference year: median [{_band_text()}] over all seeds, reached/seeds "
        "('never': not within the run; '> x': later than x, the seeds it needs did not all reach):"
    )


def _differences_heading(exp: Experiment, diff: pd.DataFrame, measure: str) -> str:
    what = TIMELINE_LABELS.get(measure, measure)
    return (
        f"Years to {what}, scenario minus {exp.reference} on the same seed, from the later reference year "
        f"(mean over the seeds where both reached, {int(exp.level * 100)}% bootstrap interval, * excludes 0; the other seeds counted):"
    )


def _independence_rule(runs) -> str:
    """The independence rule of the runs, in words (from the first run's configuration)."""
    world = (runs[0].config.get("world") or {}) if runs else {}
    thr, hold = world.get("independence_threshold"), world.get("independence_hold_quarters")
    return f"self-sufficiency >= {thr:g} held {hold} quarters" if thr is not None and hold is not None else "sustained self-sufficiency"


def _timeline_method(exp: Experiment, runs) -> list[str]:
    """The method paragraphs of the two timeline sections of the report."""
    refs = sorted({(str(r.scenario), r.summary.get("timeline_reference_year", r.summary.get("start_year"))) for r in runs})
    clocks = ", ".join(f"`{s}` from {y:g}" for s, y in refs if y is not None)
    table = (
        f"Years from each scenario's timeline reference year ({clocks}) to the first output of a plant of a firm born at or after "
        f"it, and to independence ({_independence_rule(runs)}), per bloc and stage. A cell is the median over all the seeds "
        f"[{_band_text()} quantiles over the seeds] and the seeds that reached it within the run. A seed that never reached it "
        "is right-censored at the end of the run (every seed of a scenario ends the same year): it counts as later than any "
        "reached time. The quantiles are the usual sample quantiles (the midpoint of the two middle seeds for the median of an "
        "even count) while the seeds they need reached; *never* when they need only seeds that never did (the median when more "
        "than half never reached); *> x* when they need the last seed that reached, at x, and the first that did not (the "
        "median when exactly half reached): later than x. The interval is the spread of the outcome across replications, not "
        "the uncertainty of the median."
    )
    diff = (
        f"Scenario minus `{exp.reference}` on the same seed, in years. Independence is compared on one clock, the later of "
        "the two scenarios' reference years (*from*), recomputed from each run's self-sufficiency series: a run independent "
        "before then is asked again from there (China, independent from the start, then differs by 0, not by the years "
        "between the two reference years). First output is compared only between scenarios that count from the same year "
        "(it counts plants of firms born after each scenario's own reference year). *Never* is not given a number: the mean "
        f"difference and its {int(exp.level * 100)}% bootstrap interval ({exp.n_boot} resamples of the seed pairs; `*`: "
        "excludes zero) are over the seeds in which both reached; the seeds in which only one side reached, and those in "
        "which neither did, are counted beside it. *earlier/same/later* counts the seeds in which the scenario came first, "
        "at the same quarter or after, over every pair in which at least one side reached (a seed that reached comes before "
        "one that never did: both runs end the same year)."
    )
    return [table, diff]


def _report_text(exp: Experiment, out_dir: Path, runs, table: pd.DataFrame, timelines: pd.DataFrame, tl_diff: pd.DataFrame, figures) -> str:
    from sim.engine.output import git_commit, versions

    git = git_commit()
    v = versions()
    seeds = sorted({r.seed for r in runs})
    n_by = pd.Series([r.scenario for r in runs]).value_counts().to_dict()
    tl_method, diff_method = _timeline_method(exp, runs)
    lines = [
        f"# Experiment `{exp.name}`",
        "",
        f"Built {datetime.now().strftime('%Y-%m-%d %H:%M')} from {len(runs)} complete runs in `{out_dir}`"
        f" (experiment file `{exp.source or '(given)'}`; git {str(git.get('commit', '?'))[:10]}"
        f"{' with local changes' if git.get('dirty') else ''}; little-giants {v.get('little-giants')}, mesa {v.get('mesa')}).",
        "",
        "Scenarios: "
        + ", ".join(f"`{s}` ({n_by.get(s, 0)} runs)" for s in exp.scenarios)
        + f". Replication k of every scenario uses seed k (seeds {seeds[0]}-{seeds[-1]}), so differences are paired seed by seed."
        + (f" Overrides for every run: `{' '.join(exp.overrides)}`." if exp.overrides else ""),
        "",
        f"## Timelines (years from the reference year; median [{_band_text()}] over seeds, reached/seeds)",
        "",
        tl_method,
        "",
        format_timelines(timelines, exp.scenarios, markdown=True),
        "",
        "## Timelines: paired differences in years",
        "",
        diff_method,
        "",
        format_timeline_differences(tl_diff, markdown=True),
        "",
        "## Paired differences",
        "",
        f"Scenario minus `{exp.reference}` on the same seed: the means of both over the seeds paired, and the mean of the "
        f"differences (their difference) with its {int(exp.level * 100)}% bootstrap interval ({exp.n_boot} resamples of the "
        "seed pairs); `*` marks an interval that excludes zero. differences.csv adds the median paired difference and "
        "each scenario's median. "
        '"Never" cannot be differenced: such pairs are dropped and counted, unless the row says never = end of run '
        "(then the difference is a bound).",
        "",
        format_table(table, markdown=True),
        "",
    ]
    for name, title, caption, finding in figures:
        lines += [f"## {title}", "", f"![{title}](figures/{name}.png)", "", f"*What it draws.* {caption}", ""]
        lines += [f"*In this run.* {finding}", ""] if finding else []
    lines += [
        "## Files",
        "",
        "- `timelines.csv` (a row per scenario, bloc, stage and measure: median and quantiles with their status: reached, "
        "lower_bound, never), `timeline_differences.csv`, `differences.csv`, `difference_values.csv` (one value per run and "
        "row) in this folder;",
        "- `../sweep_table.parquet`: a row per run, every input and summary scalar a column;",
        "- `../runs/*/`: each run's config, time series, firm panel, events, policy outputs, summary and manifest.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = command_parser(
        "python -m sim.experiment",
        __doc__.split("\n\n")[0],
        overrides="config overrides applied to every run (e.g. years=20; progress=false: no progress lines)",
        seeds="replications per scenario (default: the experiment file's)",
        workers="worker processes (default: the cores available)",
        out="experiment directory (default: a new results/experiments/<time>-<name>-<id>); an existing one resumes",
    )
    ap.add_argument("--experiment", default="main", help="conf/experiment/NAME.yaml or a path to a YAML file (default: main)")
    ap.add_argument("--root", type=path_text, default="results", help="results root for a new experiment directory (default: results)")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild the report from the runs already in --out (give the --experiment, --seeds and overrides they were made with)",
    )
    a = ap.parse_intermixed_args(argv)  # overrides anywhere among the options
    started = time.time()
    exp = None
    try:
        exp = load_experiment(a.experiment)
        check_counts(a)
        refuse_seed(a.overrides)
        if a.seeds is not None:
            exp.seeds = a.seeds
        own = exp.overrides  # the file's: a mistake in one of them names its entry (overrides[i]) and the file
        exp.overrides = [*exp.overrides, *a.overrides]
        if a.report_only and not a.out:
            raise ConfigError("--report-only", "needs --out DIR (the experiment directory to report on)")
        if a.out:
            out = Path(a.out)
            if out.exists() and not out.is_dir():
                raise ConfigError("--out", f"{out} exists and is not a directory")
            if (out / "report").exists() and not (out / "report").is_dir():  # found only once the runs were done (a traceback)
                raise ConfigError(
                    "--out", f"{out / 'report'} is a file, where the report's folder goes; allowed: move the file away, or another --out"
                )
            if a.report_only and not (out / "runs").is_dir():
                raise ConfigError("--out", f"no runs/ directory in {out}")
        from sim.engine import output
        from sim.research.sweep import compose_jobs

        if not a.report_only:  # before the jobs are listed: --seeds 100000000 took minutes to list and compose
            where = Path(a.out) if a.out else Path(a.root) / "experiments"
            output.check_run_count(
                where, "--out" if a.out else "--root", len(exp.scenarios) * exp.seeds, f"{len(exp.scenarios)} scenarios x {exp.seeds} seeds"
            )
        jobs = exp.jobs()  # checked before anything is written: every job, or one per scenario for the report alone
        try:
            cfgs = compose_jobs([o for _, _, o in (jobs[:: exp.seeds] if a.report_only else jobs)])
        except ConfigError as err:
            raise from_file_overrides(err, own, exp.source, a.overrides) from None
        for note in check_differences(exp, cfgs):  # the rows' blocs, stages and years, before the first run
            print(f"note: {note}")
        workers = a.workers or default_workers()
        if a.report_only:  # only the runs of this design, before the report is touched
            check_report_only(exp, out, {s: c.scenario.name for (s, _, _), c in zip(jobs[:: exp.seeds], cfgs)})
        if not a.report_only:
            if a.out:
                check_out(exp, Path(a.out), {s: c.scenario.name for (s, _, _), c in zip(jobs, cfgs)})
                output.check_output(a.out, "--out", cfgs)
            else:
                output.check_output(Path(a.root) / "experiments", "--root", cfgs)
            out = Path(a.out) if a.out else new_experiment_dir(a.root, exp.name)
            out.mkdir(parents=True, exist_ok=True)
            print(
                f"experiment {exp.name}: {len(exp.scenarios)} scenarios x {exp.seeds} seeds = {len(exp.jobs())} runs "
                f"on {min(workers, len(exp.jobs()))} worker(s), into {out}",
                flush=True,
            )
            with batch_progress(len(exp.jobs()), exp.name, a.overrides) as display:
                records = run_experiment(exp, out, workers, display=display, cfgs=cfgs)
            failed = [r for r in records if r["status"] != "complete"]
            if failed:
                print(f"{len(failed)} run(s) failed; their manifests hold the errors. The report uses the complete runs.", file=sys.stderr)
        print("building the report ...", flush=True)
        report = build_report(exp, out)
    except ConfigError as err:
        print(error_line(err, exp, STUDY_KEYS), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: complete runs are kept; run the same command with --out DIR to resume", file=sys.stderr)
        return 130
    print()
    print(
        f"Paired differences, scenario minus {exp.reference} on the same seed (means over the pairs and the mean difference, "
        f"{int(exp.level * 100)}% bootstrap interval; * excludes 0):"
    )
    print(format_table(report.differences))
    print()
    print(_timelines_heading(report.timelines))
    print(format_timelines(report.timelines, exp.scenarios))
    print()
    print(_differences_heading(exp, report.timeline_differences, "years_to_independence"))
    print(format_timeline_differences(report.timeline_differences, measures=["years_to_independence"]))
    print()
    print(f"report: {report.path}  ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
