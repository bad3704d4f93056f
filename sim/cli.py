"""Command line: ``python -m sim [overrides]`` runs one simulation (a Hydra app).

Before Hydra runs, the overrides are composed and validated once, so that a
user mistake ends with one line naming the key and what is allowed, exit code
2, and nothing written under results/. A plain run (no ``-m``, no ``hydra.*``
override) then runs that composed config directly; Hydra's app composes it again
for everything else (a ``hydra.run.dir``, where no run is written, is refused). With ``-m`` (multirun) every job,
every combination of the swept values, is checked that way before the first job starts (as are a launcher that
cannot start here, submitit_slurm without srun, and a named sweep directory holding another sweep), and each job
runs through :func:`sim.research.sweep.run_job` in Hydra's sweep directory
(``hydra.sweep.dir``): complete runs are skipped, a failing run is recorded
and the sweep goes on; the sweep table is written at the end and the exit
code is 1 if any run failed.

The same preflight reads ``--config-dir DIR`` (the user's own config groups, searched before conf/; every
YAML file in it must parse), refuses arguments that are not overrides (``--seeds 3``, a bare ``years``), a
sweep with no values and launcher settings the launcher would refuse only once started, or ignore
(``hydra.launcher.n_jobs=0``, joblib's ``hydra.launcher.prefer=threads``). A ``hydra.sweep.dir`` built from the
config (``${output.root}/sweeps/NAME``) is resolved here and given to Hydra resolved, so the same command finds the
same directory again; one with ``${now:...}`` (a new directory on every run) is refused.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from sim.config import CONF_DIR, ConfigError, check_override, compose, register_configs, to_config

register_configs()

# Hydra flags after which there is nothing to validate or run here (help, config printing, ...).
_SKIP_PREFLIGHT = (
    "--help",
    "-h",
    "--hydra-help",
    "--info",
    "--shell-completion",
    "-sc",
    "--run",
    "-r",
    "--version",
)
# Hydra's flags that print the composed config instead of running it (with the value each takes, if any): the
# overrides are checked like a run's, the output directory is not (nothing is written)
_PRINT_CONFIG = {"--cfg": True, "-c": True, "--package": True, "-p": True, "--resolve": False}
# Hydra's flags that choose another primary config: python -m sim always composes conf/config.yaml
_OTHER_PRIMARY = ("--config-path", "-cp", "--config-name", "-cn")
_MULTIRUN = ("--multirun", "-m")
_CONFIG_DIR = ("--config-dir", "-cd")  # an extra config directory: checked, then composed like conf/


def fail(err: ConfigError) -> None:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(2)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_main(dcfg: DictConfig) -> None:
    from sim.engine.run import summary_table

    try:
        cfg = to_config(dcfg)
    except ConfigError as err:
        fail(err)
    try:
        hc = HydraConfig.get()
        overrides = list(hc.overrides.task)
    except ValueError:
        hc, overrides = None, []
    if hc is not None and hc.mode == RunMode.MULTIRUN:
        from sim.research.sweep import execute_job, release_run

        _, result = execute_job(overrides, str(hc.sweep.dir), cfg=cfg)  # skips, runs or records a failure
        if result is not None:
            print(summary_table(result))
        release_run(result)  # the launcher may run the next job in this process: not beside this one's model
        return
    run_single(cfg, overrides)


def run_single(cfg, overrides: list[str]) -> None:
    """One run of a composed, validated config: its directory written, its summary printed (exit 2 with one line
    for an output directory refused at the start, 1 if the disk fails during the run)."""
    from sim.engine.run import run, summary_table

    try:
        result = run(cfg, overrides=overrides)
    except ConfigError as err:  # the output directory, refused before anything is written
        fail(err)
    except OSError as err:  # the disk filled up or went away during the run: nothing of it is kept
        where = cfg.output.dir or f"{cfg.output.root}/runs"
        print(f"error: the run could not be written under '{where}': {err.strerror or err}; nothing of it was kept", file=sys.stderr)
        sys.exit(1)
    print(summary_table(result))


def sweep_values(overrides: list[str]) -> list[list[str]]:
    """Each override's values as overrides: one for a plain override, every value of an enumerable sweep, both
    ends of an interval sweep. Raises ConfigError for overrides that do not parse."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.extend(parser.parse_overrides([text]))
        except HydraException as ex:
            raise ConfigError(text.split("=", 1)[0], f"cannot parse '{text}': {str(ex).strip().splitlines()[0]}") from None
    custom_sweeper = any(t.startswith("hydra/sweeper=") for t in overrides)
    values: list[list[str]] = []
    for text, o in zip(overrides, parsed):
        prefix = text[: len(text) - len(text.lstrip("+~"))]
        key = f"{prefix}{o.key_or_group}" + (f"@{o.package}" if o.package else "")
        if not o.is_sweep_override():
            values.append([text])
            continue
        sweep = o.value()
        if hasattr(sweep, "step") and sweep.step == 0:  # range's step: Python's range() refused it, and it was named an interval
            raise ConfigError(
                o.key_or_group, f"'{text}': a range's step must not be 0; allowed: range(start,stop) or range(start,stop,step), step > 0"
            )
        if hasattr(sweep, "include") and not _is_group(o.key_or_group):  # glob(...) picks config files: on a value it swept nothing
            raise ConfigError(
                o.key_or_group,
                f"'{text}': glob(...) chooses config files of a group (e.g. scenario=glob(west_*)), and {o.key_or_group} is not a "
                "config group; allowed: a list a,b,c, range(start,stop,step) or choice(...)",
            )
        if hasattr(sweep, "step") and hasattr(sweep, "stop"):  # a range: counted before its values are listed
            _check_range_size(text, o.key_or_group, sweep, overrides)
        try:
            options = [str(v) for v in o.sweep_string_iterator()]
        except Exception:  # noqa: BLE001 - interval and glob sweeps are not enumerable
            if hasattr(sweep, "end") and not custom_sweeper:
                raise ConfigError(
                    o.key_or_group,
                    "interval(...) needs an optimisation sweeper (hydra/sweeper=...); "
                    "Hydra's basic sweeper takes lists (a,b,c), range(start,stop,step) and choice(...)",
                ) from None
            options = [str(getattr(sweep, "start", "")), str(getattr(sweep, "end", ""))] if hasattr(sweep, "start") else []
        else:
            if not options:  # range(3,1), an empty list: the sweep would launch nothing
                raise ConfigError(o.key_or_group, f"'{text}' gives no values to sweep; e.g. range(1,4) is 1, 2, 3")
        values.append([f"{key}={v}" for v in options] or [])
    return values


def _check_range_size(text: str, key: str, sweep: Any, overrides: list[str]) -> None:
    """A range sweep of more values than a sweep directory could hold runs of (sim.engine.output.check_run_count, from
    10,000 values) is one ConfigError naming ``key`` before its values are listed: ``seed=range(1,100000000)`` was a
    hang while Hydra listed them. The disk is that of the sweep's directory as the overrides name it (hydra.sweep.dir,
    else output.root), else of the default output root, results/."""
    from sim.engine import output

    count = max(0, math.ceil((sweep.stop - sweep.start) / sweep.step))
    if count < output.MANY_RUNS:
        return
    named = {o.split("=", 1)[0].lstrip("+~"): o.split("=", 1)[1] for o in overrides if "=" in o}
    where = named.get("hydra.sweep.dir") or named.get("output.root") or "results"
    output.check_run_count(Path(where), key, count, f"the {count:,} values of '{text}'")


def _is_group(key: str) -> bool:
    """Whether ``key`` of an override may name a config group (``scenario``, ``hydra/launcher``, a --config-dir's own
    group), not a value of the config (``seed``, ``world.markets.logit_beta``)."""
    from sim.config import Config, config_groups

    values = {f.name for f in dataclasses.fields(Config)} - set(config_groups())
    return "." not in key and key not in values


def job_count(overrides: list[str]) -> int:
    """How many jobs a multirun of these overrides has (Hydra's basic sweeper: every combination)."""
    return math.prod(max(len(v), 1) for v in sweep_values(overrides))


def sweep_variants(overrides: list[str]) -> list[list[str]]:
    """Override lists that together use every value of every enumerable sweep at least once.

    The first list takes the first value of each sweep; each further list changes one sweep
    to one of its other values. Interval sweeps (continuous) are checked at both ends.
    Raises ConfigError for overrides that do not parse.
    """
    values = sweep_values(overrides)
    first = [opts[0] if opts else None for opts in values]  # one slot per override (None: nothing to check)
    variants = [first]
    for i, opts in enumerate(values):
        for v in opts[1:]:
            variants.append(first[:i] + [v] + first[i + 1 :])
    return [[o for o in variant if o is not None] for variant in variants]


def sweep_jobs(overrides: list[str]) -> tuple[list[list[str]], int]:
    """Every job of a multirun (Hydra's basic sweeper: every combination of the swept values), the jobs that
    :func:`sweep_variants` gives first (each value with the first values of the other keys), and how many those are.
    With another sweeper (hydra/sweeper=...) the jobs are not known before it runs: the variants alone."""
    import itertools

    values = sweep_values(overrides)
    variants = sweep_variants(overrides)
    if any(t.lstrip("+~").startswith("hydra/sweeper=") for t in overrides):
        return variants, len(variants)
    slots = [opts or [None] for opts in values]
    first = [opts[0] for opts in slots]
    seed = {i for i, opts in enumerate(values) if opts and override_key(opts[0]) == "seed"}

    def apart(combo: tuple) -> int:  # how many keys but the seed take another value than in the first job
        return sum(1 for i, (v, f) in enumerate(zip(combo, first)) if v != f and i not in seed)

    combos = sorted(itertools.product(*slots), key=lambda c: apart(c) > 1)  # stable: Hydra's order within each part
    jobs = [[o for o in c if o is not None] for c in combos]
    return jobs, sum(1 for c in combos if apart(c) <= 1)


def override_key(text: str) -> str:
    return text.split("=", 1)[0].lstrip("+~")


class JobConfigError(ConfigError):
    """A config error of one job of a multirun, named by its swept values: ``config error at 'KEY' (job a=1 b=2): ...``."""

    def __init__(self, err: ConfigError, job: str):
        super().__init__(err.key, err.problem)
        self.job = job
        self.args = (f"config error at '{err.key}' (job {job}): {err.problem}",)


def compose_sweep(overrides: list[str], config_dir: str | None) -> list[Any]:
    """The config of every job of a multirun (:func:`sweep_jobs`: all combinations of the swept values, composed once
    per set of jobs that differ only in the seed), in no particular order. A value that fails with the first values
    of the other keys is the ConfigError composing gives (as it names the key); a combination that fails names the
    job by its swept values (:class:`JobConfigError`)."""
    from sim.research.sweep import compose_jobs

    jobs, near = sweep_jobs(overrides)
    try:
        return compose_jobs(jobs, config_dir)
    except ConfigError as err:
        job = getattr(err, "job", None)
        if job is None or any(job == j or job == [o for o in j if override_key(o) != "seed"] for j in jobs[:near]):
            raise
        swept = {v for opts in sweep_values(overrides) if len(opts) > 1 for v in opts}
        raise JobConfigError(err, " ".join(o for o in job if o in swept)) from None


def config_dir_argument(argv: list[str]) -> str | None:
    """The directory of ``--config-dir DIR`` / ``-cd DIR`` / ``--config-dir=DIR`` (None: not given)."""
    for i, a in enumerate(argv):
        if a in _CONFIG_DIR:
            if i + 1 >= len(argv):
                raise ConfigError(a, "needs a directory: --config-dir DIR (your own config groups, searched before conf/)")
            return argv[i + 1]
        if a.split("=", 1)[0] in _CONFIG_DIR:
            return a.split("=", 1)[1]
    return None


def check_arguments(args: list[str]) -> None:
    """Every argument left is an override ``key=value`` (or ``~key``): an unknown option or a bare word is one line."""
    for a in args:
        if a.startswith("-"):
            raise ConfigError(
                a.split("=", 1)[0],
                "unknown option; python -m sim takes overrides key=value, -m (multirun), --config-dir DIR and Hydra's flags "
                "(see python -m sim --help); --seeds and --workers belong to python -m sim.validate and sim.experiment",
            )
        check_override(a)


# Launcher settings that Hydra's schemas type but do not bound: (check, what is allowed).
LAUNCHER_RULES = {
    "n_jobs": (
        lambda v: v != 0 and v >= -(os.cpu_count() or 1),
        f"a whole number other than 0 (2: two processes; -1: every core, -2: all but one; at least -{os.cpu_count() or 1} here)",
    ),
    "timeout_min": (lambda v: v >= 1, "minutes >= 1"),
    "cpus_per_task": (lambda v: v >= 1, "a whole number >= 1"),
    "tasks_per_node": (lambda v: v >= 1, "a whole number >= 1"),
    "nodes": (lambda v: v >= 1, "a whole number >= 1"),
    "gpus_per_node": (lambda v: v >= 0, "a whole number >= 0"),
    "mem_gb": (lambda v: v >= 0, "a number of GB >= 0"),
    "array_parallelism": (lambda v: v >= 1, "a whole number >= 1"),
}

# Hydra's joblib launcher always runs the jobs in loky worker processes (hydra_joblib_launcher/_core.py sets
# backend='loky': threads are incompatible with Hydra); joblib's other backend choices would be ignored or fail.
_LOKY_ONLY = "Hydra's joblib launcher always runs the jobs in loky processes"


def joblib_problem(name: str, value: Any, n_jobs: int) -> str | None:
    """Why ``hydra.launcher.<name>=value`` of the joblib launcher (joblib.Parallel's parameters) is refused, and
    what is allowed (None: accepted, or not a key checked here). ``n_jobs``: the launcher's n_jobs setting."""
    got = "null" if value is None else repr(value)
    if name == "backend" and value not in (None, "loky"):
        return f"must be loky or null, got {got} ({_LOKY_ONLY} and would ignore it; remove hydra.launcher.backend)"
    if name == "prefer" and value != "processes":
        return f"must be processes, got {got} ({_LOKY_ONLY}: joblib's other hint, threads, would be ignored)"
    if name == "require" and value is not None:
        return f"must be null, got {got} ({_LOKY_ONLY}: joblib's only requirement, sharedmem, needs threads)"
    if name == "batch_size":  # joblib: 'auto' or a positive integer; Hydra passes '3' on as 3
        whole = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())
        if value != "auto" and not (whole and int(value) >= 1):
            return f"must be auto or a whole number >= 1 (the tasks sent to a worker at once), got {got}"
    if name == "pre_dispatch" and value != "all":
        from joblib import effective_n_jobs

        try:
            from joblib._utils import eval_expr  # what joblib.Parallel evaluates pre_dispatch with (private: may move)
        except ImportError:  # another joblib: it checks the value itself when the sweep starts
            return None

        problem = f"must be all, a whole number >= 1 or an arithmetic expression of n_jobs such as 2*n_jobs (the batches dispatched ahead), got {got}"
        workers = effective_n_jobs(n_jobs)
        try:
            ahead = int(eval_expr(str(value).replace("n_jobs", str(workers))))
        except (ValueError, TypeError):
            return problem
        if isinstance(value, bool) or ahead < 1:  # 0 would run no job at all
            return f"{problem} ({ahead} with n_jobs={workers})" if isinstance(value, str) and "n_jobs" in value else problem
    return None


def check_launcher(overrides: list[str]) -> None:
    """``hydra.launcher.<key>=VALUE``: values the launcher would only refuse once the sweep has started (or ignore)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    launcher = next((o.split("=", 1)[1] for o in reversed(overrides) if o.lstrip("+~").startswith("hydra/launcher=")), "basic")
    settings = [parser.parse_override(t) for t in overrides if t.lstrip("+~").startswith("hydra.launcher.") and not t.startswith("~")]
    values = {o.key_or_group: o.value() for o in settings if not o.is_sweep_override()}
    for key, value in values.items():
        name = key.rsplit(".", 1)[1]
        if name in LAUNCHER_RULES and isinstance(value, (int, float)) and not isinstance(value, bool):
            ok, allowed = LAUNCHER_RULES[name]
            if not ok(value):
                raise ConfigError(key, f"must be {allowed}, got {value}")
    n_jobs = values.get("hydra.launcher.n_jobs", -1)  # the launcher's default: every core
    if launcher != "joblib" or not isinstance(n_jobs, int) or isinstance(n_jobs, bool):
        return  # another launcher's keys, or an n_jobs that composing refuses
    for key, value in values.items():
        problem = joblib_problem(key.rsplit(".", 1)[1], value, n_jobs)
        if problem is not None:
            raise ConfigError(key, problem)


def check_hydra_options(overrides: list[str]) -> None:
    """``hydra/<group>=<option>`` (launcher, sweeper, ...) must name an installed option; ConfigError otherwise."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    chosen = [(o.split("=", 1)[0].lstrip("+~"), o.split("=", 1)[1]) for o in overrides if o.lstrip("+~").startswith("hydra/") and "=" in o]
    if not chosen:
        return
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        for group, option in chosen:
            allowed = sorted(loader.get_group_options(group))
            if option not in allowed:
                hint = " (the joblib and submitit launchers come with pip install -e '.[sweep]')" if group == "hydra/launcher" else ""
                raise ConfigError(group, f"no option '{option}'; allowed: {', '.join(allowed) or '(none)'}{hint}")


def launcher_key_error(err: ConfigError, overrides: list[str]) -> ConfigError:
    """An unknown ``hydra.launcher.*`` key: say which launcher is in use and how to choose another."""
    if not (err.key.startswith("hydra.launcher.") and err.problem.startswith("unknown key")):
        return err
    launcher = next((o.split("=", 1)[1] for o in overrides if o.lstrip("+~").startswith("hydra/launcher=")), "basic")
    return ConfigError(
        err.key,
        f"unknown key for the launcher in use ('{launcher}'); each launcher has its own keys "
        "(joblib: n_jobs, ...; submitit_*: timeout_min, cpus_per_task, ...): choose it with hydra/launcher=NAME",
    )


def check_multirun(cfg) -> None:
    """A multirun gives every job its own directory under the sweep directory, and writes it."""
    if cfg.output.dir is not None:
        raise ConfigError(
            "output.dir",
            "a multirun gives every job its own directory <sweep dir>/runs/<scenario>-seed<k>-<hash>; "
            "remove output.dir and choose the sweep directory with hydra.sweep.dir=...",
        )
    if not cfg.output.write:
        raise ConfigError("output.write", "a multirun writes every run directory; remove output.write=false")


def check_launcher_here(overrides: list[str]) -> None:
    """A launcher that cannot start on this machine is refused before the sweep directory is written: submitit_slurm
    submits with Slurm's commands (it fails only once the sweep has begun, leaving its multirun.yaml behind)."""
    import shutil

    launcher = next((o.split("=", 1)[1] for o in reversed(overrides) if o.lstrip("+~").startswith("hydra/launcher=")), "basic")
    if launcher != "submitit_slurm" or shutil.which("srun") is not None:
        return
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        options = sorted(GlobalHydra.instance().config_loader().get_group_options("hydra/launcher"))
    here = [o for o in options if o != "submitit_slurm"]
    raise ConfigError(
        "hydra/launcher",
        "submitit_slurm needs a Slurm cluster (srun not found on PATH): run the command on the cluster's login node; "
        f"allowed here: {', '.join(here)} (submitit_local tries the same submitit set-up on this machine)",
    )


def check_run_dir(overrides: list[str], cfg) -> None:
    """``hydra.run.dir`` is not where a run goes (conf/config.yaml keeps Hydra's own run directory at '.', and a run
    writes under output.root/runs or output.dir): refused, rather than leave an empty directory and write elsewhere."""
    text = next((o for o in reversed(overrides) if o.lstrip("+~").split("=", 1)[0] == "hydra.run.dir"), None)
    if text is None or text.startswith("~"):
        return
    value = text.split("=", 1)[1]
    if value.strip("'\"") in (".", "./"):
        return
    raise ConfigError(
        "hydra.run.dir",
        f"a run is not written to Hydra's run directory but to a new directory under '{cfg.output.root}/runs' (output.root); "
        f"allowed: output.dir={value} (the run's own directory), or output.root=DIR",
    )


def _sweep_spec(overrides: list[str]) -> dict[str, list[str]] | None:
    """What a multirun's task overrides sweep: each key's values (canonical, sorted), without the keys that change
    no job (sim.research.sweep.IDENTITY_FREE); None when they do not parse."""
    from sim.research.sweep import IDENTITY_FREE, canonical_override

    task = [o for o in overrides if not override_key(o).startswith("hydra")]
    try:
        values = sweep_values(task)
    except ConfigError:
        return None
    spec: dict[str, list[str]] = {}
    for text, opts in zip(task, values):
        key = text.split("=", 1)[0]
        if override_key(text) not in IDENTITY_FREE:
            spec[key] = sorted(canonical_override(v) for v in opts)
    return spec


def check_same_sweep(path: str, overrides: list[str]) -> None:
    """A named sweep directory that holds another sweep (its multirun.yaml records other task overrides) is refused:
    Hydra would replace that record and the sweep table would mix the runs of two sweeps. The same overrides (in any
    order or spelling, with any progress or output.root) resume it."""
    import shlex

    import yaml

    record = Path(path) / "multirun.yaml"
    if not record.is_file():
        return
    try:
        hydra_node = (yaml.safe_load(record.read_text()) or {})["hydra"]
        task = [str(o) for o in hydra_node["overrides"]["task"]]
        hydra_overrides = [str(o) for o in hydra_node["overrides"]["hydra"] if not str(o).startswith("hydra.mode=")]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as ex:
        raise ConfigError(
            "hydra.sweep.dir",
            f"'{path}' holds a multirun.yaml that cannot be read as a sweep's record ({type(ex).__name__}), so it is not replaced; "
            "allowed: another hydra.sweep.dir",
        ) from None
    if _sweep_spec(task) == _sweep_spec(overrides):
        return
    command = shlex.join(["python", "-m", "sim", "-m", *task, *hydra_overrides])
    raise ConfigError(
        "hydra.sweep.dir",
        f"'{path}' holds another sweep (its multirun.yaml records the overrides {' '.join(task) or '(none)'}); "
        f"allowed: that sweep's command to resume it ({command}), or another hydra.sweep.dir for this one",
    )


def named_sweep_dir(overrides: list[str], cfg) -> tuple[str, str] | None:
    """The sweep directory the user named: (the ``hydra.sweep.dir`` override, the path), its interpolations
    resolved against the composed config (``${output.root}/sweeps/NAME``); None when it is not named. ConfigError
    for a value that does not resolve, or that changes on every run (``${now:...}``): its runs could never be found
    again by the same command."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf, open_dict

    key = "hydra.sweep.dir"
    text = next((o for o in reversed(overrides) if o.lstrip("+~").split("=", 1)[0] == key), None)
    if text is None or text.startswith("~"):
        return None
    o = OverridesParser.create().parse_override(text)
    if o.is_sweep_override():
        raise ConfigError(key, f"'{text}': a multirun has one sweep directory (a plain path such as results/sweeps/NAME)")
    value = str(o.value())
    if not value.strip():  # an empty path: the sweep went into the working directory itself
        raise ConfigError(key, f"an empty path ('{text}'); allowed: a plain path such as results/sweeps/NAME, or leave {key} out for a new directory")
    if "${" not in value:
        return text, value
    plain = "give a plain path (e.g. results/sweeps/NAME or ${output.root}/sweeps/NAME)"
    if re.search(r"\$\{\s*now\s*:", value):
        raise ConfigError(
            key,
            f"'{value}' uses ${{now:...}}, which changes on every run, so the same command would never find this sweep's runs "
            f"again: {plain}, or leave {key} out for a new directory each time",
        )
    node = OmegaConf.structured(cfg)
    with open_dict(node):
        node["_sweep_dir"] = value
    try:
        path = node["_sweep_dir"]
    except Exception as ex:  # noqa: BLE001 - a resolver may raise anything
        raise ConfigError(key, f"cannot resolve '{value}' against the config: {str(ex).strip().splitlines()[0]}; {plain}") from None
    if not isinstance(path, (str, int, float)) or isinstance(path, bool) or not str(path).strip():
        raise ConfigError(key, f"'{value}' does not resolve to a directory path; {plain}")
    return text, str(path)


def _override(key: str, value: str) -> str:
    """``key=value`` written so that Hydra reads back ``value`` (quoted when it has to be)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    quoted = value.replace("\\", "\\\\").replace("'", "\\'")
    for text in (f"{key}={value}", f"{key}='{quoted}'"):
        try:
            if parser.parse_override(text).value() == value:
                return text
        except HydraException:
            continue
    raise ConfigError(key, f"the directory '{value}' cannot be given to Hydra as an override; give a plain path")


def printing_flags(argv: list[str]) -> tuple[bool, list[str]]:
    """Whether ``argv`` asks Hydra to print the config (``--cfg job`` ...), and ``argv`` without those flags and values."""
    rest, printing, skip = [], False, False
    for a in argv:
        if skip:
            skip = False
            continue
        name, eq, _ = a.partition("=")
        if name in _PRINT_CONFIG:
            printing = True
            skip = _PRINT_CONFIG[name] and not eq
            continue
        rest.append(a)
    return printing, rest


def preflight(argv: list[str], multirun: bool, outputs: bool = True) -> list[str]:
    """Check everything before Hydra runs: the arguments, every value of every swept key, the launcher, the
    ``--config-dir`` directory, the output directory (writable, room for the runs, not another run's); the argv Hydra
    then gets (a multirun without ``hydra.sweep.dir`` gets a new unique sweep directory). ConfigError on a mistake."""
    return checked(argv, multirun, outputs)[0]


def checked(argv: list[str], multirun: bool, outputs: bool = True) -> tuple[list[str], Any, list[str]]:
    """:func:`preflight`, with what it composed: (the argv for Hydra, the config of the first job, that job's
    overrides)."""
    config_dir = config_dir_argument(argv)
    skip = {i + 1 for i, a in enumerate(argv) if a in _CONFIG_DIR}
    overrides = [a for i, a in enumerate(argv) if a not in _MULTIRUN and i not in skip and a.split("=", 1)[0] not in _CONFIG_DIR]
    check_arguments(overrides)
    sweep_values(overrides)  # reports an override that does not parse, with its key
    check_hydra_options(overrides)
    if multirun:
        check_launcher(overrides)
    if multirun:
        # every job, before the first starts: one that fails would stop the sweep half-written (a seed sweep's jobs
        # differ in their seed only: composed twice, whatever the number of seeds)
        cfgs = compose_sweep(overrides, config_dir)
        for cfg in cfgs:
            check_multirun(cfg)
    else:
        cfgs = [compose(overrides, config_dir=config_dir)]
    if not outputs:
        return argv, cfgs[0], overrides
    from sim.engine import output

    cfg = cfgs[0]
    if not multirun:
        check_run_dir(overrides, cfg)
        if cfg.output.write:
            if cfg.output.dir:
                target = output.check_run_target(cfg.output.dir, cfg.output.overwrite)
                output.check_output(target, "output.dir", [cfg])
            else:
                output.check_output(Path(cfg.output.root) / "runs", "output.root", [cfg])
        return argv, cfg, overrides
    check_launcher_here(overrides)
    n = job_count(overrides)
    every = cfgs if len(cfgs) == n else [cfg] * n  # another sweeper's jobs are not known in advance
    named = named_sweep_dir(overrides, cfg)
    if named is not None:
        text, path = named
        check_same_sweep(path, overrides)
        output.check_output(path, "hydra.sweep.dir", every)
        if "${" in text:  # Hydra gets the directory checked here, resolved: the same one on every run of the command
            i = len(argv) - 1 - argv[::-1].index(text)
            argv = [*argv[:i], _override(f"{text[: len(text) - len(text.lstrip('+'))]}hydra.sweep.dir", path), *argv[i + 1 :]]
        return argv, cfg, overrides
    base = Path(cfg.output.root) / "sweeps"
    output.check_output(base, "output.root", every)
    sweep_dir = output.unique_dir(base, "sweep")  # two sweeps started in the same second never share a directory
    return [*argv, f"hydra.sweep.dir={sweep_dir}"], cfg, overrides


# Hydra's modes, one at a time (it raised 'Only one of --run, --multirun, --cfg, --info and --shell_completion can be
# specified' as a traceback): each mode's flag and its short form
_MODES = {"--multirun": "-m", "--cfg": "-c", "--run": "-r", "--info": "-i", "--shell-completion": "-sc"}


def check_modes(argv: list[str]) -> None:
    """At most one of Hydra's modes (multirun, printing the config, run, info, shell completion), and ``--resolve`` only
    with ``--cfg``: ConfigError naming the flag, where Hydra raised a ValueError."""
    names = [a.split("=", 1)[0] for a in argv]
    if any(n in ("--help", "-h", "--hydra-help", "--version") for n in names):
        return  # Hydra answers these first
    given = list(dict.fromkeys(long for n in names for long, short in _MODES.items() if n in (long, short)))
    if len(given) > 1:
        raise ConfigError(
            given[1],
            f"cannot go with {given[0]}: Hydra takes one mode at a time; allowed: one of --multirun (-m), --cfg (-c), --run (-r), "
            "--info (-i), --shell-completion (-sc) (--cfg job prints the config of one run: give it without -m and one value per key)",
        )
    if "--resolve" in names and given != ["--cfg"]:
        raise ConfigError("--resolve", "goes only with --cfg (it resolves the printed config's interpolations); allowed: --cfg job --resolve")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    try:
        check_modes(argv)
    except ConfigError as err:
        fail(err)
    multirun = any(a in _MULTIRUN for a in argv)
    other = next((a.split("=")[0] for a in argv if a.split("=")[0] in _OTHER_PRIMARY), None)
    if other is not None:
        fail(
            ConfigError(
                other,
                "python -m sim always composes conf/config.yaml; allowed: --config-dir DIR to add your own config groups "
                "(searched before conf/), and overrides key=value",
            )
        )
    if not any(a.split("=")[0] in _SKIP_PREFLIGHT for a in argv):
        printing, rest = printing_flags(argv)
        try:
            if printing:  # the config is printed, not run: the overrides are checked, the output directory is not
                preflight(rest, multirun, outputs=False)
            else:
                argv, cfg, overrides = checked(argv, multirun)
        except ConfigError as err:
            fail(launcher_key_error(err, [a for a in rest if a not in _MULTIRUN]))
        if not printing and not multirun and not any(o.lstrip("+~").startswith("hydra") for o in overrides):
            # A plain run: the config the preflight composed and validated is the one Hydra would compose again,
            # twice (for its mode, then for the job: about 1 s each). Without a hydra.* setting nothing of Hydra's
            # job setup applies (conf/config.yaml: run.dir '.', no chdir, no log files, no output subdir).
            run_single(cfg, overrides)
            return
    sys.argv = [sys.argv[0]] + argv
    from sim.research.sweep import LAST_MULTIRUN

    LAST_MULTIRUN.clear()
    hydra_main()
    failed = LAST_MULTIRUN.get("failed")
    if failed:  # filled by sim.research.sweep.SweepCallback at the end of a multirun
        print(f"{len(failed)} run(s) not complete (see their manifest.json): {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)
