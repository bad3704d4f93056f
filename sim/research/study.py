"""The study files of the drivers of many runs: one schema, one reader.

conf/experiment/NAME.yaml (``python -m sim.experiment``) and conf/sensitivity/NAME.yaml
(``python -m sim.sensitivity``) are structured configs: :class:`StudyFile` holds what every study
file has (name, description, seeds, overrides, firm_panel), :class:`Experiment` and
:class:`Study` add their own parts (the experiment's scenarios and rows of the paired-difference
table; the sensitivity study's scenario, factors, outputs and method settings), and :class:`Calibration`
(conf/calibration/NAME.yaml, ``python -m sim.calibrate``: parameters with bounds, targets, seeds, trials) and
:class:`Exploration` (conf/exploration/NAME.yaml, ``python -m sim.explore``: levers and uncertainties with bounds
or categories, outcomes as rules on summary scalars, a sampler, candidate policies).

:func:`read_study` reads one: OmegaConf merges the YAML into the schema (unknown keys, wrong types,
missing values), then every field's range or choices (its ``allowed`` text, :func:`spec`) and each
class's ``check`` (rules across fields, names that must exist) are applied. Every mistake is one
:class:`~sim.config.ConfigError` naming the key and what is allowed; in a list of named items
(factors, outputs) the key names the item (``factors.beta.bounds``). A file read names itself in every mistake
(:class:`StudyError`: ``config error at 'KEY' (study FILE): ...``), and a mistake of one of its own overrides, found
when a driver composes its runs, names that entry beside the key (:func:`from_file_overrides`: ``(overrides[1] of study FILE)``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from omegaconf import MISSING

from sim.checks import read_text, yaml_problem
from sim.config import CONF_DIR, ConfigError, chain_scenarios, config_options

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TIMELINE_VALUES = ("first_output_year", "independence_year")
SERIES_HOW = ("end", "sum")
KINDS = ("lever", "uncertain")
SAMPLERS = ("lhs", "sobol")  # scipy.stats.qmc: Latin hypercube, scrambled Sobol' sequence
RULES = ("<=", "<", ">=", ">")
PREFER = ("reach", "avoid")


def spec(default: Any = MISSING, allowed: str = "", *, lo: float | None = None, hi: float | None = None, below: float | None = None, **extra: Any):
    """A schema field with what is allowed (the text of its error message) and its range: ``lo`` <= value,
    value <= ``hi``, value < ``below``; ``choices``, ``pattern`` (a regex) and ``pair`` ([low, high]) in ``extra``."""
    meta = {"allowed": allowed, "lo": lo, "hi": hi, "below": below, **extra}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


def _whole(lo: int, default: Any = MISSING, what: str = "") -> Any:
    return spec(default, f"a whole number >= {lo}{what}", lo=lo)


def _bad(key: str, allowed: str, value: Any) -> ConfigError:
    return ConfigError(key, f"must be {allowed}, got {value!r}")


def _shown(value: Any) -> str:
    """A value as a mistake's message shows it, with its shape where the schema wanted another (a mapping, a list)."""
    if isinstance(value, dict):
        return f"a mapping {value!r}"
    if isinstance(value, (list, tuple)):
        return f"a list {list(value)!r}"
    return repr(value)


class StudyError(ConfigError):
    """A mistake in a study file: a :class:`~sim.config.ConfigError` that names the file (``source``) and, for a mistake of
    one of the file's own overrides, that entry (``entry``: ``overrides[1]``) beside the config key it names. Its line:
    ``config error at 'KEY' (study FILE): PROBLEM`` or ``config error at 'KEY' (overrides[1] of study FILE): PROBLEM``."""

    def __init__(self, key: str, problem: str, source: str, entry: str = ""):
        super().__init__(key, problem)
        self.source, self.entry = str(source), entry
        where = f"{entry} of study {self.source}" if entry else f"study {self.source}"
        ValueError.__init__(self, f"config error at '{key}' ({where}): {problem}" if key else f"config error ({where}): {problem}")

    def __reduce__(self):
        return type(self), (self.key, self.problem, self.source, self.entry)


def in_study(err: ConfigError, source: Any) -> ConfigError:
    """``err`` (a mistake in the study file read from ``source``) as a :class:`StudyError` naming the file."""
    if isinstance(err, StudyError) or not source:
        return err
    return StudyError(err.key, err.problem, source)


def _override_key(text: str) -> str:
    return str(text).split("=", 1)[0].lstrip("+~")


def _sets(override: str, key: str) -> bool:
    """Whether a config error at ``key`` is about what ``override`` sets (the key itself, a part above it or below it)."""
    k = _override_key(override)
    return bool(key) and (k == key or k.startswith((key + ".", key + "@")) or key.startswith((k + ".", k + "[")))


def from_file_overrides(err: ConfigError, own: Sequence[str], source: Any, given: Sequence[str] = ()) -> ConfigError:
    """A config error met composing a study's runs (the file's overrides ``own``, read from ``source``, and the command
    line's ``given``) as the mistake of the file's entry ``overrides[i]`` when that entry sets the key the error names
    and no override of the command line does (a :class:`StudyError`); else ``err`` as it is."""
    if isinstance(err, StudyError) or not source:
        return err
    mine = [i for i, o in enumerate(own) if _sets(o, str(err.key))]
    if not mine or any(_sets(o, str(err.key)) for o in given):
        return err
    return StudyError(err.key, err.problem, source, f"overrides[{mine[0]}]")


def value_kind(v: Any) -> str | None:
    """The kind of a study file's value: 'bool', 'number' (whole or not) or 'text' (None: another). Values of a
    categorical factor compare within a kind: Python's ``0 == False`` would let a number stand for a boolean."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return "text" if isinstance(v, str) else None


def as_written(v: Any) -> str:
    """A value as a study file writes it (true, 0, 'no')."""
    return ("true" if v else "false") if isinstance(v, bool) else repr(v)


# --------------------------------------------------------------------------
# The schema
# --------------------------------------------------------------------------
@dataclass
class StudyFile:
    """What every study file has."""

    name: str = spec(allowed="a non-empty name", pattern=r".+")
    description: str = spec("", "text")
    seeds: int = _whole(1, 1, " (replications: seeds 1..N, the same in every scenario and point)")
    overrides: list[str] = spec([], "a list of override strings such as 'years=20'")
    firm_panel: bool = spec(False, "true or false")
    source: str = ""  # the file it was read from (set by the reader, not a key of the file)

    def check(self, key: str) -> None:
        for o in self.overrides:
            if "=" not in o:
                raise _bad("overrides", "a list of override strings such as 'years=20'", self.overrides)
            if o.split("=", 1)[0].lstrip("+~") == "seed":
                raise ConfigError("overrides", "seed is set per run (seeds 1..N, see 'seeds'); remove it from overrides")


def _scenario_names() -> list[str]:
    """The scenarios a study can name: the rare-earth chain's (a national scenario's outputs are not the study's tables)."""
    return chain_scenarios()


# the fields a difference row of each kind takes besides label, unit and scale (every kind's)
ROW_FIELDS = {"key": ("key",), "timeline": ("timeline", "bloc", "stage", "censor"), "series": ("series", "bloc", "stage", "year", "how")}


def _takers(name: str) -> str:
    kinds = [k for k, f in ROW_FIELDS.items() if name in f]
    return " and ".join(f"{k} rows" for k in kinds) + f" take {name}"


@dataclass
class DifferenceRow:
    """One row of the paired-difference table: how to read one number from a run."""

    label: str = spec(allowed="a label (text)", pattern=r".+")
    unit: str = spec("", "text")
    key: Optional[str] = spec(None, "a dotted summary.json key")
    timeline: Optional[str] = spec(None, f"one of {', '.join(TIMELINE_VALUES)}", choices=TIMELINE_VALUES)
    series: Optional[str] = spec(None, "a timeseries.parquet column")
    bloc: Optional[str] = spec(None, "a bloc name")
    stage: Optional[str] = spec(None, "a stage name")  # timeline: required; series: None sums over stages
    year: Optional[int] = spec(None, "a calendar year (whole number)")  # series: the calendar year
    how: str = spec("end", f"one of {', '.join(SERIES_HOW)}", choices=SERIES_HOW)  # series: end (last quarter) | sum (its quarters)
    censor: bool = spec(False, "true or false")  # timeline: "never" counts as the end of the run
    scale: float = spec(1.0, "a number")  # multiplies the value (e.g. 0.001 for t -> kt)

    def check(self, key: str) -> None:
        sources = [k for k in ("key", "timeline", "series") if getattr(self, k) is not None]
        if len(sources) != 1:
            raise ConfigError(key, f"needs exactly one of key, timeline, series; got {', '.join(sources) or 'none'}")
        kind = sources[0]
        if self.timeline is not None and (self.bloc is None or self.stage is None):
            raise ConfigError(key, "a timeline row needs bloc and stage")
        if self.series is not None and (self.bloc is None or self.year is None):
            raise ConfigError(key, "a series row needs bloc and year")
        given = {"bloc": self.bloc is not None, "stage": self.stage is not None, "year": self.year is not None}
        given.update({"how": self.how != "end", "censor": bool(self.censor)})  # their defaults are every kind's
        for name, is_given in given.items():
            if is_given and name not in ROW_FIELDS[kind]:
                takes = "; ".join(f"a {k} row takes {', '.join(f)}" for k, f in ROW_FIELDS.items())
                raise ConfigError(
                    f"{key}.{name}", f"a {kind} row does not take {name} (only {_takers(name)}); allowed: {takes} (and every row label, unit, scale)"
                )
        if self.series is not None:
            from sim.engine.metrics import SERIES

            if self.series not in SERIES:
                import difflib

                near = difflib.get_close_matches(self.series, SERIES, n=3, cutoff=0.6)
                like = f" (closest: {', '.join(near)})" if near else ""
                raise ConfigError(
                    f"{key}.series", f"unknown series '{self.series}'{like}; allowed: a column of timeseries.parquet: {', '.join(SERIES)}"
                )


@dataclass
class Experiment(StudyFile):
    """conf/experiment/NAME.yaml: scenarios x seeds, and the rows of the paired-difference table."""

    scenarios: list[str] = spec(MISSING, "a non-empty list of scenario names (conf/scenario/)")
    reference: str = spec(allowed="one of the experiment's scenarios")
    seeds: int = _whole(1, 10, " (replications: replication k of every scenario uses seed k)")
    firm_panel: bool = spec(True, "true or false")
    level: float = spec(0.9, "a number in [0.5, 1)", lo=0.5, below=1.0)
    n_boot: int = _whole(100, 2000)
    bootstrap_seed: int = _whole(0, 0)
    differences: list[DifferenceRow] = field(default_factory=list)

    def check(self, key: str) -> None:
        super().check(key)
        known = _scenario_names()
        if not self.scenarios:
            raise _bad("scenarios", f"a non-empty list of scenario names ({', '.join(known)})", self.scenarios)
        for i, s in enumerate(self.scenarios):
            if s not in known:
                raise ConfigError(f"scenarios[{i}]", f"no config file '{s}' in conf/scenario/; allowed: {', '.join(known)}")
        if len(set(self.scenarios)) != len(self.scenarios):
            raise ConfigError("scenarios", f"a scenario is listed twice: {self.scenarios}")
        if self.reference not in self.scenarios:
            raise _bad("reference", f"one of the experiment's scenarios ({', '.join(self.scenarios)})", self.reference)

    def jobs(self) -> list[tuple[str, int, list[str]]]:
        """(scenario, seed, overrides) per run: every scenario with seeds 1..N."""
        extra = [*self.overrides, f"output.firm_panel={str(self.firm_panel).lower()}", "progress=false"]
        return [(s, k, [f"scenario={s}", f"seed={k}", *extra]) for s in self.scenarios for k in range(1, self.seeds + 1)]


def is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def check_sobol_n(n: Any, key: str = "sobol.n") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 2 or not is_power_of_two(n):
        raise ConfigError(key, f"must be a power of 2 >= 2 (Sobol' sequences balance only there), got {n!r}")
    return n


def check_trajectories(n: Any, key: str = "morris.trajectories") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConfigError(key, f"must be a whole number >= 2, got {n!r}")
    return n


@dataclass(frozen=True)
class Factor:
    """One input of the study: an existing numeric config key varied over [low, high]."""

    name: str = spec(allowed="an identifier (letters, digits, _)", pattern=IDENTIFIER.pattern)  # used in tables and plots
    key: str = spec(allowed="a dotted config key such as policy.china.coordination.permit_factor", pattern=r".+")  # as in an override
    bounds: tuple[float, float] = spec(MISSING, "[low, high] (two finite numbers)", pair=True)  # in the key's own unit
    kind: str = spec("uncertain", f"one of {', '.join(KINDS)}", choices=KINDS)  # lever (a policy choice) | uncertain
    unit: str = spec("", "text")
    why: str = spec("", "text")

    def check(self, key: str) -> None:
        k = self.key
        if "=" in k or k.startswith(("+", "~")) or k.split(".")[0] in ("seed", "output", "progress", "hydra"):
            raise _bad(f"{key}.key", "a dotted config key such as policy.china.coordination.permit_factor", k)
        if not self.bounds[0] < self.bounds[1]:
            raise ConfigError(f"{key}.bounds", f"low must be below high, got {list(self.bounds)!r}")


@dataclass(frozen=True)
class Output:
    """One output: a dotted summary.json scalar (see ``python -m sim.sweep table`` for the keys)."""

    name: str = spec(allowed="an identifier (letters, digits, _)", pattern=IDENTIFIER.pattern)
    key: str = spec(allowed="a dotted summary.json key", pattern=r".+")
    label: str = spec("", "text")  # empty: the name
    unit: str = spec("", "text")
    censor: bool = spec(False, "true or false")  # years_to_* keys: "never" (null) counts as the end of the run

    def __post_init__(self) -> None:
        if not self.label:  # tables and plots label an output by its name then
            object.__setattr__(self, "label", self.name)

    def check(self, key: str) -> None:
        if self.censor and not self.key.startswith("years_to_"):
            raise ConfigError(f"{key}.censor", "only years_to_* keys can be censored (null there means 'never')")
        if self.key.startswith("years_to_") and not self.censor:
            raise ConfigError(
                f"{key}.censor",
                f"'{self.key}' is null when the milestone is never reached; "
                "set censor: true (never = the end of the run) or choose an output defined in every run",
            )


@dataclass
class SobolSettings:
    n: int = spec(32, "a power of 2 >= 2 (Sobol' sequences balance only there)")  # base samples N

    def check(self, key: str) -> None:
        check_sobol_n(self.n, f"{key}.n")


@dataclass
class MorrisSettings:
    trajectories: int = _whole(2, 10)  # r
    levels: int = spec(4, "an even whole number >= 2 (grid levels per factor)", lo=2, even=True)


@dataclass
class Study(StudyFile):
    """conf/sensitivity/NAME.yaml: factors of one scenario's config, outputs and the method settings."""

    name: str = spec(allowed="an identifier (letters, digits, _)", pattern=IDENTIFIER.pattern)
    scenario: str = spec("baseline", "a scenario name (conf/scenario/)")
    sample_seed: int = _whole(0, 1)
    conf_level: float = spec(0.95, "a number in [0.5, 1)", lo=0.5, below=1.0)
    num_resamples: int = _whole(10, 1000)
    sobol: SobolSettings = field(default_factory=SobolSettings)
    morris: MorrisSettings = field(default_factory=MorrisSettings)
    factors: list[Factor] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)

    def check(self, key: str) -> None:
        super().check(key)
        known = _scenario_names()
        if self.scenario not in known:
            raise ConfigError("scenario", f"no config file '{self.scenario}' in conf/scenario/; allowed: {', '.join(known)}")
        if not self.factors:
            raise ConfigError("factors", "must be a non-empty list of factors (name, key, bounds, kind, unit, why)")
        if not self.outputs:
            raise ConfigError("outputs", "must be a non-empty list of outputs (name, key, label, unit, censor)")
        for what, items, attr in (("factors", self.factors, "name"), ("factors", self.factors, "key"), ("outputs", self.outputs, "name")):
            seen: set[str] = set()
            for it in items:
                v = getattr(it, attr)
                if v in seen:
                    raise ConfigError(f"{what}.{it.name}.{attr}", f"'{v}' is used twice; every {attr} must be unique")
                seen.add(v)
        for o in self.overrides:
            k = o.split("=", 1)[0].lstrip("+~")
            if k in {f.key for f in self.factors}:
                raise ConfigError("overrides", f"'{k}' is a factor; it cannot also be overridden")

    @property
    def sobol_n(self) -> int:
        return self.sobol.n

    @property
    def morris_trajectories(self) -> int:
        return self.morris.trajectories

    @property
    def morris_levels(self) -> int:
        return self.morris.levels

    def problem(self) -> dict[str, Any]:
        return problem(self.factors)

    def size(self, method: str) -> int:
        """Sample points of the method (before duplicates are merged)."""
        d = len(self.factors)
        return self.sobol_n * (d + 2) if method == "sobol" else self.morris_trajectories * (d + 1)


@dataclass(frozen=True)
class Parameter(Factor):
    """One calibrated parameter: a factor searched within its bounds, optionally on a log scale; ``why`` says where
    the bounds come from."""

    log: bool = spec(False, "true or false")  # search log(value): for bounds spanning orders of magnitude (low > 0)

    def check(self, key: str) -> None:
        super().check(key)
        if self.log and self.bounds[0] <= 0:
            raise ConfigError(f"{key}.bounds", f"a log-scale parameter needs low > 0, got {list(self.bounds)!r}")
        if not self.why:
            raise ConfigError(f"{key}.why", "must say where the bounds come from (a source or 'assumption')")


@dataclass
class Calibration(StudyFile):
    """conf/calibration/NAME.yaml (``python -m sim.calibrate``): parameters searched within their bounds to minimise
    the loss over the public targets (sim/research/calibrate.py says which targets qualify)."""

    name: str = spec(allowed="an identifier (letters, digits, _)", pattern=IDENTIFIER.pattern)
    seeds: int = _whole(1, 3, " (seeds 1..N per trial; the stability check uses the next N)")
    trials: int = _whole(1, 30, " (trials in all; the same command again adds the missing ones)")
    sampler_seed: int = _whole(0, 1)
    targets: list[str] = spec([], "a list of target ids (empty: every target the calibration can use)")
    weights: dict[str, float] = spec({}, "a mapping of target id to a weight >= 0 (missing: 1)")
    missing_distance: float = spec(2.0, "a number >= 0 (the distance of a target the runs leave unmeasured)", lo=0.0)
    parameters: list[Parameter] = field(default_factory=list)

    def check(self, key: str) -> None:
        super().check(key)
        if not self.parameters:
            raise ConfigError("parameters", "must be a non-empty list of parameters (name, key, bounds, log, unit, why)")
        for attr in ("name", "key"):
            seen: set[str] = set()
            for p in self.parameters:
                if getattr(p, attr) in seen:
                    raise ConfigError(f"parameters.{p.name}.{attr}", f"'{getattr(p, attr)}' is used twice; every {attr} must be unique")
                seen.add(getattr(p, attr))
        for o in self.overrides:
            if o.split("=", 1)[0].lstrip("+~") in {p.key for p in self.parameters}:
                raise ConfigError("overrides", f"'{o.split('=', 1)[0]}' is a parameter; it cannot also be overridden")
        for i, t in enumerate(self.targets):
            if t in self.targets[:i]:
                raise ConfigError(
                    f"targets[{i}]", f"'{t}' is listed twice (targets[{self.targets.index(t)}] and targets[{i}]); allowed: each target once"
                )
        for t, w in self.weights.items():
            if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0):
                raise _bad(f"weights.{t}", "a number >= 0", w)


@dataclass(frozen=True)
class ExploreFactor:
    """One lever or uncertainty of an exploration: an existing config key varied uniformly over [low, high]
    (``bounds``, a real-valued setting) or drawn from a list of its allowed values (``values``, categories)."""

    name: str = spec(allowed="an identifier (letters, digits, _)", pattern=IDENTIFIER.pattern)
    key: str = spec(allowed="a dotted config key such as policy.china.coordination.permit_factor", pattern=r".+")
    bounds: Optional[tuple[float, float]] = spec(None, "[low, high] (two finite numbers)", pair=True)
    values: list[Any] = spec([], "a list of two or more values of the key (categories)")
    kind: str = spec("uncertain", f"one of {', '.join(KINDS)}", choices=KINDS)
    unit: str = spec("", "text")
    why: str = spec("", "text")

    @property
    def categorical(self) -> bool:
        return self.bounds is None

    def check(self, key: str) -> None:
        Factor(name=self.name, key=self.key, bounds=(0.0, 1.0)).check(key)  # the rule of a factor key
        if (self.bounds is None) == (not self.values):
            raise ConfigError(key, "needs exactly one of bounds ([low, high]) and values (a list of categories)")
        if self.bounds is not None and not self.bounds[0] < self.bounds[1]:
            raise ConfigError(f"{key}.bounds", f"low must be below high, got {list(self.bounds)!r}")
        if self.values:
            if len(self.values) < 2 or len(set(map(repr, self.values))) != len(self.values):
                raise _bad(f"{key}.values", "a list of two or more different values of the key (categories)", list(self.values))
            for v in self.values:
                if isinstance(v, (list, dict)) or v is None:
                    raise _bad(f"{key}.values", "a list of plain values (text, numbers, true/false)", list(self.values))


@dataclass(frozen=True)
class Condition:
    """One comparison of a run's number with a threshold: ``key`` ``rule`` ``value`` (or ``by_year``)."""

    key: str = spec(allowed="a dotted summary.json key (or a config input) such as years_to_independence.west.magnet", pattern=r".+")
    rule: str = spec("<=", f"one of {', '.join(RULES)}", choices=RULES)
    value: Optional[float] = spec(None, "a number, in the key's unit")
    by_year: Optional[int] = spec(None, "a calendar year (whole number)", lo=1900, hi=2200)

    def check(self, key: str) -> None:
        if (self.value is None) == (self.by_year is None):
            raise ConfigError(key, "needs exactly one of value (a threshold in the key's unit) and by_year (a calendar year)")
        if self.by_year is not None and not self.key.startswith("years_to_"):
            raise ConfigError(f"{key}.by_year", f"only years_to_* keys count years to a calendar year; use value for '{self.key}'")
        if self.by_year is not None and self.rule not in ("<=", "<"):
            raise _bad(f"{key}.rule", "<= or < with by_year (reached by that year)", self.rule)


@dataclass(frozen=True)
class Outcome:
    """An outcome of interest: a run reaches it when every condition holds. A ``years_to_*`` key is null when the
    milestone is never reached: never counts as infinitely late (it fails ``<=``/``<`` and meets ``>=``/``>``)."""

    name: str = spec(allowed="an identifier (letters, digits, _)", pattern=IDENTIFIER.pattern)
    label: str = spec("", "text")
    when: list[Condition] = field(default_factory=list)
    prefer: str = spec("reach", f"one of {', '.join(PREFER)}", choices=PREFER)  # the robustness table's direction: a policy's regret
    # is the best policy's share of seeds reaching it minus its own (reach), or its own minus the lowest (avoid)

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)

    def check(self, key: str) -> None:
        if not self.when:
            raise ConfigError(f"{key}.when", "must be a non-empty list of conditions (key, rule, value or by_year)")


@dataclass
class PrimSettings:
    """PRIM (ema_workbench.analysis.prim) and the choice of one box on its peeling trajectory."""

    peel_alpha: float = spec(0.05, "a number in (0, 0.5)", lo=1e-9, below=0.5)  # share of the box peeled per step
    paste_alpha: float = spec(0.05, "a number in (0, 0.5)", lo=1e-9, below=0.5)
    mass_min: float = spec(0.05, "a number in (0, 1)", lo=1e-9, below=1.0)  # the smallest box, as a share of the runs
    min_density: float = spec(0.8, "a number in (0, 1]", lo=1e-9, hi=1.0)  # the chosen box: the highest coverage among boxes this dense
    max_dims: int = _whole(1, 3, " (the chosen box restricts at most this many factors)")  # no box dense enough: the densest of these


@dataclass
class StackingSettings:
    levels: int = _whole(1, 2, " (factor pairs stacked on each axis of the dimensional-stacking plot)")
    bins: int = _whole(2, 3, " (bins of a continuous factor)")


@dataclass(frozen=True)
class Policy:
    """A candidate policy: values of some levers (the others keep the scenario's values)."""

    name: str = spec(allowed="an identifier (letters, digits, _)", pattern=IDENTIFIER.pattern)
    levers: dict[str, Any] = spec({}, "a mapping of lever name to its value")
    why: str = spec("", "text")


@dataclass
class Robustness:
    """Candidate policies, each run against the same uncertainty samples (a Latin hypercube over the uncertainties)."""

    scenarios: int = _whole(0, 0, " (uncertainty samples per policy; 0: no robustness table)")
    policies: list[Policy] = field(default_factory=list)


@dataclass
class Exploration(StudyFile):
    """conf/exploration/NAME.yaml (``python -m sim.explore``): scenario discovery over levers and uncertainties."""

    name: str = spec(allowed="an identifier (letters, digits, _)", pattern=IDENTIFIER.pattern)
    scenario: str = spec("baseline", "a scenario name (conf/scenario/)")
    seeds: int = _whole(1, 2, " (replications per experiment: seeds 1..N)")
    sampler: str = spec("lhs", f"one of {', '.join(SAMPLERS)}", choices=SAMPLERS)
    experiments: int = _whole(2, 64, " (points of the sample; sobol: a power of 2)")
    sample_seed: int = _whole(0, 1)
    factors: list[ExploreFactor] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    prim: PrimSettings = field(default_factory=PrimSettings)
    stacking: StackingSettings = field(default_factory=StackingSettings)
    robustness: Robustness = field(default_factory=Robustness)

    def check(self, key: str) -> None:
        super().check(key)
        known = _scenario_names()
        if self.scenario not in known:
            raise ConfigError("scenario", f"no config file '{self.scenario}' in conf/scenario/; allowed: {', '.join(known)}")
        if self.sampler == "sobol":
            check_sobol_n(self.experiments, "experiments")
        if not self.factors:
            raise ConfigError("factors", "must be a non-empty list of factors (name, key, bounds or values, kind, unit, why)")
        if not self.outcomes:
            raise ConfigError("outcomes", "must be a non-empty list of outcomes (name, label, when)")
        for what, items, attr in (("factors", self.factors, "name"), ("factors", self.factors, "key"), ("outcomes", self.outcomes, "name")):
            seen: set[str] = set()
            for it in items:
                if getattr(it, attr) in seen:
                    raise ConfigError(f"{what}.{it.name}.{attr}", f"'{getattr(it, attr)}' is used twice; every {attr} must be unique")
                seen.add(getattr(it, attr))
        for o in self.overrides:
            if o.split("=", 1)[0].lstrip("+~") in {f.key for f in self.factors}:
                raise ConfigError("overrides", f"'{o.split('=', 1)[0]}' is a factor; it cannot also be overridden")
        levers = {f.name: f for f in self.factors if f.kind == "lever"}
        names = set()
        for p in self.robustness.policies:
            if p.name in names:
                raise ConfigError(f"robustness.policies.{p.name}.name", f"'{p.name}' is used twice; every name must be unique")
            names.add(p.name)
            for lever, v in p.levers.items():
                where = f"robustness.policies.{p.name}.levers.{lever}"
                f = levers.get(lever)
                if f is None:
                    raise ConfigError(where, f"not a lever of the study; allowed: {', '.join(levers) or '(none: no factor has kind lever)'}")
                if f.categorical and not any(value_kind(v) == value_kind(x) and v == x for x in f.values):  # 0 is not false
                    allowed = "[" + ", ".join(as_written(x) for x in f.values) + "]"
                    raise ConfigError(where, f"must be one of the lever's values {allowed}, got {as_written(v)}")
                if not f.categorical and (isinstance(v, bool) or not isinstance(v, (int, float)) or not f.bounds[0] <= v <= f.bounds[1]):
                    raise _bad(where, f"a number in the lever's bounds [{f.bounds[0]:g}, {f.bounds[1]:g}]", v)
        if self.robustness.policies and self.robustness.scenarios < 1:
            raise _bad("robustness.scenarios", "a whole number >= 1 when policies are listed", self.robustness.scenarios)
        if self.robustness.scenarios and not any(f.kind == "uncertain" for f in self.factors):
            raise ConfigError("robustness.scenarios", "needs uncertain factors to sample (kind: uncertain)")

    @property
    def levers(self) -> list[ExploreFactor]:
        return [f for f in self.factors if f.kind == "lever"]

    @property
    def uncertainties(self) -> list[ExploreFactor]:
        return [f for f in self.factors if f.kind == "uncertain"]


def problem(factors: typing.Sequence[Factor]) -> dict[str, Any]:
    """SALib's problem dictionary."""
    return {"num_vars": len(factors), "names": [f.name for f in factors], "bounds": [list(f.bounds) for f in factors]}


def file_keys(schema: type) -> list[str]:
    """The keys a study file of this schema may hold."""
    return [fl.name for fl in dataclasses.fields(schema) if fl.name != "source"]


# --------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------
T = typing.TypeVar("T")


def read_study(schema: type[T], name_or_path: str | Path, folder: str, key: str) -> T:
    """A study file by name (conf/<folder>/NAME.yaml) or by path, read into ``schema``. Raises ConfigError at
    ``key`` (the option that named it) for a missing file or bad YAML, else naming the key of the mistake."""
    data, p = read_study_file(folder, name_or_path, key)
    return parse(schema, data, source=str(p))


def parse(schema: type[T], data: Any, source: str = "") -> T:
    """A study mapping (as read from YAML) as ``schema``; every mistake is one ConfigError naming the key (and, with a
    ``source``, the file: a :class:`StudyError`)."""
    try:
        if not isinstance(data, dict):
            raise ConfigError(folder_key(schema), f"must be a mapping of {', '.join(file_keys(schema))}; got {_shown(data)}")
        obj = _build(schema, data, "", "")
    except ConfigError as err:  # a file read names itself in every mistake (StudyError)
        raise in_study(err, source) from None
    obj.source = source
    return obj


def folder_key(schema: type) -> str:
    return "experiment" if issubclass(schema, Experiment) else "study"  # a calibration is a study too


def _hints(schema: type) -> dict[str, Any]:
    return typing.get_type_hints(schema)


def _item_type(tp: Any) -> Any:
    """The dataclass of a ``list[Dataclass]`` field, else None."""
    if typing.get_origin(tp) is list:
        (arg,) = typing.get_args(tp)
        return arg if dataclasses.is_dataclass(arg) else None
    return None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _build(schema: type, data: Any, where: str, named: str) -> Any:
    """One mapping as ``schema``: ``where`` is its key by position (unknown keys, its name), ``named`` its key by
    name (the other mistakes); nested dataclasses and lists of them are built one by one below it."""
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    allowed = file_keys(schema)
    if not isinstance(data, dict):
        raise ConfigError(where, f"must be a mapping of {', '.join(allowed)}; got {data!r}")
    for k in data:
        if k not in allowed:
            raise ConfigError(_join(where, str(k)), f"unknown key; allowed here: {', '.join(allowed)}")
    hints = _hints(schema)
    nested = {k: v for k, v in data.items() if dataclasses.is_dataclass(hints[k]) or _item_type(hints[k])}
    plain = {k: v for k, v in data.items() if k not in nested}
    try:
        obj = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), plain))
    except MissingMandatoryValue as ex:
        raise ConfigError(_field_key(schema, ex.full_key, where, named), "a value is required and none was given") from None
    except OmegaConfBaseException as ex:
        name = _failing_field(schema, plain, ex)
        key, allowed = _field_key(schema, name, where, named), _allowed_text(schema, name)
        raise ConfigError(key, f"must be {allowed}, got {_shown(data.get(name))}") from None
    _check_values(obj, where, named)
    changes = {}
    for k, v in nested.items():
        item = _item_type(hints[k])
        if item is None:
            changes[k] = _build(hints[k], v, _join(named, k), _join(named, k))
        elif not isinstance(v, list):
            raise _bad(_join(named, k), f"a list of mappings of {', '.join(file_keys(item))}", v)
        else:
            changes[k] = [_build(item, r, f"{_join(named, k)}[{i}]", _item_key(_join(named, k), i, r)) for i, r in enumerate(v)]
    obj = dataclasses.replace(obj, **changes) if changes else obj
    if hasattr(obj, "check"):
        obj.check(named)
    return obj


def _failing_field(schema: type, plain: dict, ex: Any) -> str:
    """The field of ``schema`` whose value OmegaConf refused: the first part of the error's key, or where OmegaConf names
    none (a mapping given for a list, or a list for a mapping, fails the merge as a whole), the field that fails alone."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    name = str(ex.full_key or "").split("[")[0].split(".")[0]
    if name in plain:
        return name
    base = OmegaConf.structured(schema)
    for k, v in plain.items():
        try:
            OmegaConf.merge(base, {k: v})
        except OmegaConfBaseException:
            return str(k)
    return name


def _item_key(prefix: str, i: int, data: Any) -> str:
    """An item of a list by its name where it has a valid one (factors.beta), else by position (factors[0])."""
    name = data.get("name") if isinstance(data, dict) else None
    return f"{prefix}.{name}" if isinstance(name, str) and IDENTIFIER.match(name) else f"{prefix}[{i}]"


def _field_key(schema: type, name: str, where: str, named: str) -> str:
    return _join(where if name == "name" else named, name)


def _allowed_text(schema: type, name: str) -> str:
    fl = {f.name: f for f in dataclasses.fields(schema)}.get(name)
    return (fl.metadata.get("allowed") if fl is not None else "") or "a value of the schema's type"


def _check_values(obj: Any, where: str, named: str) -> None:
    """Each field's own rule (its ``spec``): range, choices, pattern, a [low, high] pair; a pair becomes a tuple."""
    for fl in dataclasses.fields(obj):
        meta, v = fl.metadata, getattr(obj, fl.name)
        if not meta.get("allowed") or v is None:
            continue
        key = _field_key(type(obj), fl.name, where, named)
        if meta.get("pair"):
            if len(v) != 2 or not all(math.isfinite(x) for x in v):
                raise _bad(key, meta["allowed"], list(v))
            object.__setattr__(obj, fl.name, (float(v[0]), float(v[1])))
            continue
        lo, hi, below = meta.get("lo"), meta.get("hi"), meta.get("below")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isfinite(v):
            raise _bad(key, meta["allowed"], v)
        out_of_range = (lo is not None and v < lo) or (hi is not None and v > hi) or (below is not None and v >= below)
        if out_of_range or (meta.get("even") and v % 2):
            raise _bad(key, meta["allowed"], v)
        if meta.get("choices") and v not in meta["choices"]:
            raise _bad(key, meta["allowed"], v)
        if meta.get("pattern") and not re.fullmatch(meta["pattern"], v):
            raise _bad(key, meta["allowed"], v)


def read_study_file(folder: str, name_or_path: str | Path, key: str) -> tuple[Any, Path]:
    """A study file's YAML content and path: NAME means conf/<folder>/NAME.yaml, a path ending in .yaml/.yml is
    read as given. A missing file or bad YAML raises ConfigError at ``key`` (the option that named it)."""
    import yaml

    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        p = CONF_DIR / folder / f"{name_or_path}.yaml"
        if not p.exists():
            raise ConfigError(key, f"no file '{name_or_path}.yaml' in conf/{folder}/; allowed: {', '.join(config_options(folder))}")
    elif p.is_dir():
        raise ConfigError(key, f"{p} is a directory, not a YAML file")
    elif not p.is_file():
        raise ConfigError(key, f"file not found: {p}")
    try:
        return yaml.safe_load(read_text(p, key)), p
    except yaml.YAMLError as ex:
        raise ConfigError(key, f"{p} is not valid YAML: {yaml_problem(ex)}") from None
