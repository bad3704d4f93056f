"""The bad-input table: a user's mistakes, one row each, through every command and the Python API.

Each row is a mistake a new user makes (tests/test_bad_inputs.py runs them). A command row gives the
command (``sim`` is ``python -m sim``, ``sim.validate`` is ``python -m sim.validate``, ...) and its
arguments; an API row gives the call. What every row must give:

* a command: exit code 2, exactly one non-empty line on stdout + stderr, no traceback, and the
  working directory (the default results root is relative to it) unchanged;
* an API call: one :class:`sim.checks.ConfigError` with a one-line message.

The line must contain every string of ``says``: the key, the bad value and what is allowed (the choices
of a config group, the range of a number). ``files`` are written into the working directory first
(study files, targets, a ``--config-dir``); they are part of the tree that must stay unchanged.

Most rows run in the test process (the command's ``main(argv)``, about 0.1-1 s each); rows with
``subprocess=True`` run the real ``python -m ...`` (1-2 s each): a few per command, and the mistakes
only Hydra's own machinery meets (a launcher's settings in a multirun).

tests/_config_cases.py keeps the configuration-override cases of ``python -m sim`` (BAD_CONFIGS, run by
test_config.py and test_cli.py); this table does not repeat them. Output paths, reused output
directories, disk space and size preflight are in tests/_io_cases.py.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

BLOCS = ("china", "west", "rest_of_world")
STAGES = ("mining", "separation", "metal", "magnet")
SCENARIOS = ("baseline", "china_without_tiers", "export_control_shock", "laissez_faire", "west_coordinated")
REGIMES = ("coordinated", "coordinated_west", "fragmented", "none")
CRITERIA = ("miit_2018", "miit_2022", "miit_2022_assumed_score", "miit_2022_simplified")


@dataclass(frozen=True)
class Bad:
    id: str
    cmd: str  # "sim", "sim.validate", "sim.experiment", "sim.sensitivity", "sim.calibrate", "sim.sweep", "sim.explore", or "api"
    argv: tuple[str, ...] = ()  # the command's arguments (commands)
    says: tuple[str, ...] = ()  # what the one line must contain: the key, the bad value, what is allowed
    call: Callable[[], Any] | None = None  # the API call (cmd "api")
    files: tuple[tuple[str, str], ...] = ()  # (relative path, text) written into the working directory first
    subprocess: bool = False  # run ``python -m <cmd>`` in a new process instead of ``main(argv)`` in this one
    code: int = 2


# --------------------------------------------------------------------------
# Files the rows read (written into the row's working directory)
# --------------------------------------------------------------------------
JOBLIB_SWEEP = ("-m", "seed=1,2", "years=2", "hydra/launcher=joblib")  # a two-job sweep on Hydra's joblib launcher
BROKEN_YAML = "name: x\nseeds: [1, 2\nscenario: baseline\n"  # an unclosed list: a parse error on line 3
TARGETS_NOT_A_LIST = "targets: {id: x}\n"
TARGETS_RARE_EARTH_ONLY = "targets:\n  - {id: lg_patents, scenario: baseline, measure: patents, accept: [15, 40], source: s}\n"
TARGETS_NO_ID = "targets:\n  - {scenario: baseline, accept: [1, 2]}\n"
TARGETS_UNKNOWN_ID = "targets:\n  - {id: moon_landings, scenario: baseline, accept: [1, 2]}\n"
EXPERIMENT = "name: t\nscenarios: [baseline, laissez_faire]\nreference: baseline\nseeds: 1\noverrides: ['years=1']\n"
STUDY = (
    "name: t\nscenario: baseline\noverrides: ['years=1']\n"
    "factors:\n  - {name: beta, key: world.markets.logit_beta, bounds: [2.0, 8.0]}\n"
    "outputs:\n  - {name: price, key: price_final_usd_per_kg.west.magnet}\n"
)
CALIBRATION = (
    "name: t\noverrides: ['years=11']\nseeds: 1\ntrials: 1\n"
    "parameters:\n  - {name: beta, key: world.markets.logit_beta, bounds: [2.0, 8.0], why: assumption}\n"
)
EXPLORATION = (
    "name: t\nscenario: baseline\noverrides: ['years=1']\nexperiments: 4\nseeds: 1\n"
    "factors:\n  - {name: beta, key: world.markets.logit_beta, bounds: [2.0, 8.0], kind: lever}\n"
    "  - {name: margin, key: world.markets.price_moves_margin, values: [true, false]}\n"
    "outcomes:\n  - {name: o, when: [{key: years_to_independence.west.magnet, rule: '<=', by_year: 2015}]}\n"
)
WORLD_WITH_UNKNOWN_KEY = "# @package _global_\nworld:\n  markets:\n    logit_bta: 5\n"


def _files(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(pairs)


# --------------------------------------------------------------------------
# API calls
# --------------------------------------------------------------------------
def _compose(*args: Any) -> Callable[[], Any]:
    def call():
        from sim.config import compose

        return compose(*args)

    return call


def _config():
    from _sim_helpers import make_config

    return make_config("years=1")


def _run_edited(edit: Callable[[Any], None]) -> Callable[[], Any]:
    """run() on a composed config that was edited afterwards."""

    def call():
        from sim.engine.run import run

        cfg = _config()
        edit(cfg)
        return run(cfg)

    return call


def _set(path: str, value: Any) -> Callable[[Any], None]:
    def edit(cfg):
        *parents, last = path.split(".")
        obj = cfg
        for p in parents:
            obj = obj[p] if isinstance(obj, dict) else getattr(obj, p)
        if isinstance(obj, dict):
            obj[last] = value
        else:
            setattr(obj, last, value)

    return edit


def _run(arg: Any) -> Callable[[], Any]:
    def call():
        from sim.engine.run import run

        return run(arg)

    return call


def _to_config(arg: Any) -> Callable[[], Any]:
    def call():
        from sim.config import to_config

        return to_config(arg)

    return call


def _api(module: str, func: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    def call():
        import importlib

        return getattr(importlib.import_module(module), func)(*args, **kwargs)

    return call


def _swap_cohort_capacity(cfg) -> None:
    c = copy.deepcopy(next(iter(cfg.world.firms.values())))
    cfg.world.firms["extra"] = dataclasses.replace(c, capacity_t="lots")


AN = "sim.research.analysis"
V, E, S, C, W = "sim.validate", "sim.experiment", "sim.sensitivity", "sim.calibrate", "sim.sweep"
X = "sim.explore"

BAD_INPUTS: list[Bad] = [
    # ======================================================================
    # python -m sim: config groups (the choices are listed), parsing, launchers, --config-dir
    # ======================================================================
    Bad("sim-policy-group-typo", "sim", ("policy@policy.west=fragmentd",), ("policy@policy.west", "fragmentd") + REGIMES),
    Bad("sim-policy-group-typo-china", "sim", ("policy@policy.china=coordinatd",), ("policy@policy.china", "coordinatd") + REGIMES, subprocess=True),
    Bad("sim-criteria-group-typo", "sim", ("criteria@policy.china.designation.criteria=miit_2030",), ("criteria", "miit_2030") + CRITERIA),
    Bad("sim-world-group-typo", "sim", ("world=rare_earth_2051",), ("world", "rare_earth_2051", "rare_earth_2010", "rare_earth_2015")),
    # a setting of the national world where none runs: OmegaConf asserted (a traceback) before
    Bad(
        "sim-national-setting-without-national-world",
        "sim",
        ("national.scale=0.1",),
        ("'national'", "is null", "national.scale", "scenario=national_programme"),
    ),
    Bad(
        "sim-national-setting-without-national-world-subprocess",
        "sim",
        ("national.firms.rd_intensity.median=0.02",),
        ("'national'", "national.firms.rd_intensity.median", "scenario=national_programme"),
        subprocess=True,
    ),
    Bad("sim-scenario-typo-in-multirun", "sim", ("-m", "scenario=baseline,west_coordinatd"), ("scenario", "west_coordinatd") + SCENARIOS),
    Bad("sim-policy-group-unknown-bloc", "sim", ("+policy@policy.mars=none",), ("policy", "mars") + BLOCS),
    Bad("sim-policy-group-without-package", "sim", ("policy=coordinated",), ("policy", "policy@policy.<bloc>")),
    Bad("sim-unknown-top-level-key", "sim", ("+regime=coordinated",), ("regime", "unknown key", "seed", "policy", "scenario", "world")),
    Bad("sim-two-values-without-m", "sim", ("seed=1,2",), ("seed", "-m")),
    Bad("sim-range-without-m", "sim", ("seed=range(1,3)",), ("seed", "-m")),
    Bad("sim-interval-basic-sweeper", "sim", ("-m", "seed=interval(1,3)"), ("seed", "interval", "range(start,stop,step)")),
    Bad("sim-unparsable-override", "sim", ("world.markets.logit_beta=[1,",), ("world.markets.logit_beta", "[1,")),
    Bad("sim-override-without-equals", "sim", ("years",), ("years", "key=value")),
    Bad("sim-unknown-option", "sim", ("--seeds", "3"), ("--seeds", "--help")),
    Bad("sim-config-name", "sim", ("--config-name", "mine"), ("--config-name", "conf/config.yaml", "--config-dir")),
    Bad("sim-config-path", "sim", ("--config-path=/nonexistent",), ("--config-path", "conf/config.yaml", "--config-dir"), subprocess=True),
    Bad("sim-print-config-unknown-key", "sim", ("--cfg", "job", "world.markets.foo=1"), ("world.markets.foo", "unknown key", "logit_beta")),
    Bad("sim-print-config-out-of-range", "sim", ("-c", "job", "--resolve", "years=0"), ("years", ">= 1", "0")),
    Bad("sim-unknown-interpolation", "sim", ("years=${nope}",), ("years", "nope")),
    Bad("sim-multirun-bad-second-value", "sim", ("-m", "world.markets.logit_beta=4,abc"), ("world.markets.logit_beta", "abc", "Float")),
    Bad("sim-multirun-range-empty", "sim", ("-m", "seed=range(3,1)"), ("seed", "range(3,1)", "no values")),
    Bad("sim-launcher-unknown", "sim", ("-m", "seed=1,2", "hydra/launcher=threads"), ("hydra/launcher", "threads", "basic", "joblib")),
    Bad("sim-launcher-key-of-other-launcher", "sim", ("hydra.launcher.n_jobs=2",), ("hydra.launcher.n_jobs", "basic", "hydra/launcher=")),
    Bad(
        "sim-joblib-n-jobs-zero",
        "sim",
        ("-m", "seed=1,2", "years=1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"),
        ("hydra.launcher.n_jobs", "0", "-1"),
        subprocess=True,
    ),
    Bad(
        "sim-joblib-n-jobs-zero-inprocess",
        "sim",
        ("-m", "seed=1,2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"),
        ("hydra.launcher.n_jobs", "0", "-1"),
    ),
    Bad("sim-joblib-n-jobs-text", "sim", ("-m", "seed=1,2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=all"), ("hydra.launcher.n_jobs", "all")),
    Bad(
        "sim-joblib-unknown-key",
        "sim",
        ("-m", "seed=1,2", "hydra/launcher=joblib", "hydra.launcher.workers=2"),
        ("hydra.launcher.workers", "joblib", "n_jobs"),
    ),
    Bad("sim-sweep-dir-and-output-dir", "sim", ("-m", "seed=1,2", "output.dir=x"), ("output.dir", "hydra.sweep.dir")),
    # joblib's own settings: refused by joblib.Parallel only once the sweep had started (a traceback, multirun.yaml
    # written), or ignored (Hydra's joblib launcher always runs loky processes), or running no job (pre_dispatch=0)
    Bad(
        "sim-joblib-prefer-unknown",
        "sim",
        (*JOBLIB_SWEEP, "hydra.launcher.prefer=nope"),
        ("hydra.launcher.prefer", "nope", "processes"),
        subprocess=True,
    ),
    Bad(
        "sim-joblib-prefer-threads-ignored",
        "sim",
        (*JOBLIB_SWEEP, "hydra.launcher.prefer=threads"),
        ("hydra.launcher.prefer", "threads", "processes", "loky"),
    ),
    Bad(
        "sim-joblib-require-unknown",
        "sim",
        (*JOBLIB_SWEEP, "hydra.launcher.require=foo"),
        ("hydra.launcher.require", "foo", "null"),
    ),
    Bad(
        "sim-joblib-require-sharedmem",
        "sim",
        (*JOBLIB_SWEEP, "hydra.launcher.require=sharedmem"),
        ("hydra.launcher.require", "sharedmem", "null", "loky"),
    ),
    Bad(
        "sim-joblib-batch-size-negative",
        "sim",
        (*JOBLIB_SWEEP, "hydra.launcher.batch_size=-3"),
        ("hydra.launcher.batch_size", "-3", "auto", ">= 1"),
    ),
    Bad(
        "sim-joblib-pre-dispatch-text",
        "sim",
        (*JOBLIB_SWEEP, "hydra.launcher.pre_dispatch=foo"),
        ("hydra.launcher.pre_dispatch", "foo", "2*n_jobs"),
    ),
    Bad(
        "sim-joblib-pre-dispatch-zero",
        "sim",
        (*JOBLIB_SWEEP, "hydra.launcher.pre_dispatch=0"),
        ("hydra.launcher.pre_dispatch", "got 0", ">= 1"),
    ),
    Bad(
        "sim-joblib-backend-not-loky",
        "sim",
        (*JOBLIB_SWEEP, "hydra.launcher.backend=threading"),
        ("hydra.launcher.backend", "threading", "loky"),
    ),
    # a sweep directory that changes on every run (it was silently replaced by a new unique one) or does not resolve
    Bad(
        "sim-sweep-dir-now",
        "sim",
        ("-m", "seed=1,2", "years=2", "hydra.sweep.dir=${output.root}/sweeps/${now:%H%M%S}"),
        ("hydra.sweep.dir", "${now:...}", "plain path"),
    ),
    Bad(
        "sim-sweep-dir-broken-interpolation",
        "sim",
        ("-m", "seed=1,2", "years=2", "hydra.sweep.dir=${oops}"),
        ("hydra.sweep.dir", "oops", "plain path"),
    ),
    Bad(
        "sim-config-dir-broken-yaml",
        "sim",
        ("--config-dir", "mine", "world=broken"),
        ("--config-dir", "broken.yaml", "line 3"),
        files=_files(("mine/world/broken.yaml", BROKEN_YAML)),
        subprocess=True,
    ),
    Bad(
        "sim-config-dir-broken-yaml-inprocess",
        "sim",
        ("--config-dir", "mine"),
        ("--config-dir", "mine/scenario/mine.yaml", "line 3"),
        files=_files(("mine/scenario/mine.yaml", BROKEN_YAML)),
    ),
    Bad("sim-config-dir-missing", "sim", ("--config-dir", "nowhere"), ("--config-dir", "nowhere", "is not a directory")),
    Bad(
        "sim-config-dir-unknown-key",
        "sim",
        ("--config-dir", "mine", "+extra=markets"),
        ("world.markets.logit_bta", "unknown key", "logit_beta"),
        files=_files(("mine/extra/markets.yaml", WORLD_WITH_UNKNOWN_KEY)),
    ),
    Bad(
        "sim-config-dir-choice-typo",
        "sim",
        ("--config-dir", "mine", "scenario=mone"),
        ("scenario", "mone", "baseline", "mine"),
        files=_files(("mine/scenario/mine.yaml", "name: mine\n")),
    ),
    # ---- values: types, ranges, shapes (beyond tests/_config_cases.py)
    Bad("sim-nan", "sim", ("world.markets.logit_beta=nan",), ("world.markets.logit_beta", "nan", "finite")),
    Bad("sim-inf", "sim", ("world.markets.price_adjustment=inf",), ("world.markets.price_adjustment", "inf", "finite")),
    Bad("sim-empty-value", "sim", ("world.markets.logit_beta=",), ("world.markets.logit_beta", "Value ''", "Float")),
    Bad("sim-list-for-number", "sim", ("world.markets.logit_beta=[1,2]",), ("world.markets.logit_beta", "[1, 2]", "Float")),
    Bad("sim-map-for-number", "sim", ("years={a:1}",), ("years", "a", "Integer")),
    Bad("sim-bool-text", "sim", ("output.firm_panel=maybe",), ("output.firm_panel", "maybe", "bool")),
    Bad("sim-years-too-long", "sim", ("years=500",), ("years", "<= 200", "500")),
    Bad("sim-start-year", "sim", ("world.start_year=1800",), ("world.start_year", ">= 1900", "1800")),
    Bad("sim-rationing-rounds-zero", "sim", ("world.markets.rationing_rounds=0",), ("world.markets.rationing_rounds", ">= 1", "0")),
    Bad("sim-patent-life", "sim", ("world.innovation.patent_life_years=50",), ("world.innovation.patent_life_years", "<= 40", "50")),
    Bad("sim-tax-rate", "sim", ("world.blocs.china.tax_rate=-0.1",), ("world.blocs.china.tax_rate", ">= 0", "-0.1")),
    Bad(
        "sim-capacity-one-value",
        "sim",
        ("world.firms.cn_mining_north.capacity_t=[1000]",),
        ("world.firms.cn_mining_north.capacity_t", "[low, high]", "[1000.0]"),
    ),
    Bad(
        "sim-capacity-three-values",
        "sim",
        ("world.firms.cn_mining_north.capacity_t=[1,2,3]",),
        ("world.firms.cn_mining_north.capacity_t", "[low, high]"),
    ),
    Bad("sim-capacity-words", "sim", ("world.firms.cn_mining_north.capacity_t=[a,b]",), ("world.firms.cn_mining_north.capacity_t", "a", "Float")),
    Bad(
        "sim-new-cohort-capacity-string",
        "sim",
        ("+world.firms.x={bloc:west,stage:mining,region:us,count:1,capacity_t:abc}",),
        ("world.firms.x.capacity_t", "abc", "[low, high]"),
    ),
    Bad("sim-new-cohort-not-a-map", "sim", ("+world.firms.x=5",), ("world.firms.x", "5", "bloc", "stage", "capacity_t")),
    Bad(
        "sim-new-cohort-missing-stage", "sim", ("+world.firms.x={bloc:west,region:us,count:1,capacity_t:[1,2]}",), ("world.firms.x.stage", "required")
    ),
    Bad(
        "sim-new-cohort-unknown-key",
        "sim",
        ("+world.firms.x={bloc:west,stage:mining,region:us,count:1,capacity_t:[1,2],colour:red}",),
        ("world.firms.x.colour", "unknown key", "capacity_t"),
    ),
    Bad(
        "sim-new-cohort-count-text",
        "sim",
        ("+world.firms.x={bloc:west,stage:mining,region:us,count:few,capacity_t:[1,2]}",),
        ("world.firms.x.count", "few", "Integer"),
    ),
    Bad(
        "sim-demand-negative",
        "sim",
        ("world.blocs.west.demand_t_per_year=[[2020,-5]]",),
        ("world.blocs.west.demand_t_per_year[0]", "-5", "t/yr >= 0"),
    ),
    Bad(
        "sim-demand-years-backwards",
        "sim",
        ("world.blocs.west.demand_t_per_year=[[2030,1],[2020,2]]",),
        ("world.blocs.west.demand_t_per_year", "increasing"),
    ),
    Bad(
        "sim-demand-not-pairs",
        "sim",
        ("world.blocs.west.demand_t_per_year=[5]",),
        ("world.blocs.west.demand_t_per_year[0]", "[year, t/yr >= 0]", "5"),
    ),
    Bad("sim-no-regions", "sim", ("world.blocs.west.regions=[]",), ("world.blocs.west.regions", "at least one region")),
    Bad("sim-buyer-shares", "sim", ("world.buyers.west_ev.share=0.9",), ("world.buyers", "west", "sum to 1")),
    Bad("sim-leverage", "sim", ("world.blocs.west.leverage_max=0.1",), ("world.blocs.west.leverage_max", "0.1", "equity_share_required")),
    Bad("sim-beta-one-value", "sim", ("world.innovation.cost_cut_beta=[2]",), ("world.innovation.cost_cut_beta", "[a, b]")),
    Bad("sim-delete-schema-key", "sim", ("~world.markets.logit_beta",), ("world.markets.logit_beta", "deletion")),
    Bad("sim-group-set-to-null", "sim", ("world.markets=null",), ("world.markets", "null")),
    Bad("sim-policy-unknown-key", "sim", ("policy.west.foo=1",), ("policy.west.foo", "unknown key", "designation", "agencies")),
    Bad("sim-policy-unknown-bloc", "sim", ("policy.mars.regime=none",), ("policy.mars", "unknown") + BLOCS),
    Bad(
        "sim-policy-change-year-alone",
        "sim",
        ("+policy_change.west.year=2030",),
        ("policy_change.west", "+policy@policy_change.west.policy=NAME") + REGIMES,
    ),
    Bad("sim-policy-change-without-plus", "sim", ("policy_change.china.year=2030",), ("policy_change.china", "+policy_change.china.year=YEAR")),
    Bad(
        "sim-policy-change-year-range",
        "sim",
        ("+policy@policy_change.west.policy=coordinated_west", "+policy_change.west.year=1066"),
        ("policy_change.west.year", ">= 1900", "1066"),
    ),
    Bad("sim-agency-unknown", "sim", ("policy.west.agencies.nasa.budget_musd_per_year=1",), ("policy.west.agencies.nasa", "unknown")),
    Bad("sim-event-not-a-map", "sim", ("+scenario.events.x=5",), ("scenario.events.x", "5", "kind")),
    Bad("sim-event-no-kind", "sim", ("+scenario.events.x={start_year:2020}",), ("scenario.events.x", "kind", "export_control")),
    Bad("sim-event-missing-parameter", "sim", ("+scenario.events.x={kind:export_control,start_year:2026}",), ("scenario.events.x", "exporter")),
    Bad(
        "sim-tariff-unknown-importer",
        "sim",
        ("+scenario.events.t={kind:tariff,start_year:2026,importer:mars,stages:[magnet],origins:[china],rate:0.25}",),
        ("scenario.events.t.importer", "mars") + BLOCS,
    ),
    Bad(
        "sim-tariff-negative-rate",
        "sim",
        ("+scenario.events.t={kind:tariff,start_year:2026,importer:west,stages:[magnet],origins:[china],rate:-1}",),
        ("scenario.events.t.rate", ">= 0", "-1"),
    ),
    Bad(
        "sim-event-kind-in-scenario-typo",
        "sim",
        ("scenario.events.licensing_2025.kind=licencing",),
        ("scenario.events.licensing_2025.kind", "licencing", "export_control"),
    ),
    Bad(
        "sim-bad-value-subprocess",
        "sim",
        ("world.blocs.west.investor_appetite=lots",),
        ("world.blocs.west.investor_appetite", "lots", "Float"),
        subprocess=True,
    ),
    Bad(
        "sim-multirun-bad-key-subprocess",
        "sim",
        ("-m", "seed=1,2", "years=1", "world.markets.fo=1"),
        ("world.markets.fo", "logit_beta"),
        subprocess=True,
    ),
    # ======================================================================
    # python -m sim.validate
    # ======================================================================
    Bad("validate-seeds-text", V, ("--seeds", "abc"), ("--seeds", "abc", "whole number")),
    Bad("validate-seeds-text-subprocess", V, ("--seeds", "abc"), ("--seeds", "abc", "whole number"), subprocess=True),
    Bad("validate-seeds-zero", V, ("--seeds", "0"), ("--seeds", ">= 1", "0")),
    Bad("validate-national-scale-zero", V, ("--national-scale", "0", "--seeds", "1"), ("national.scale", ">= 1e-06", "0")),
    Bad("validate-national-scale-text", V, ("--national-scale", "big"), ("--national-scale", "big")),
    Bad("validate-seeds-missing-value", V, ("--seeds",), ("--seeds", "expected one argument")),
    Bad("validate-workers-text", V, ("--workers", "two"), ("--workers", "two", "whole number")),
    Bad("validate-workers-zero", V, ("--workers", "0"), ("--workers", ">= 1", "0")),
    Bad("validate-unknown-option", V, ("--sedes", "3"), ("--sedes", "--seeds", "--targets", "--help")),
    Bad("validate-scenario-typo", V, ("scenario=nope",), ("scenario", "nope", "baseline", "west_coordinated")),
    Bad("validate-scenario-typo-subprocess", V, ("scenario=nope",), ("scenario", "nope", "laissez_faire"), subprocess=True),
    Bad("validate-seed-override", V, ("seed=3",), ("seed", "seed=3", "--seeds")),
    # an override after an option is an override (it was 'unrecognized arguments'), checked like any other
    Bad(
        "validate-seed-override-after-an-option",
        V,
        ("--seeds", "1", "years=11", "--out", "X", "seed=3"),
        ("'seed'", "seed=3", "seeds come from --seeds"),
    ),
    Bad("validate-unknown-key", V, ("world.markets.foo=1",), ("world.markets.foo", "unknown key", "logit_beta")),
    Bad("validate-bad-type", V, ("years=abc",), ("years", "abc", "Integer")),
    Bad("validate-policy-group-typo", V, ("policy@policy.west=fragmentd",), ("policy@policy.west", "fragmentd") + REGIMES),
    Bad("validate-targets-missing", V, ("--targets", "nope.yaml"), ("--targets", "nope.yaml", "not found")),
    Bad(
        "validate-national-setting-without-national-targets",
        V,
        ("--targets", "re.yaml", "national.scale=0.1"),
        ("national.scale", "no national run", "--targets"),
        files=(("re.yaml", TARGETS_RARE_EARTH_ONLY),),
    ),
    Bad("validate-targets-broken-yaml", V, ("--targets", "t.yaml"), ("--targets", "t.yaml", "line 3"), files=_files(("t.yaml", BROKEN_YAML))),
    Bad(
        "validate-targets-broken-yaml-subprocess",
        V,
        ("--targets", "t.yaml"),
        ("--targets", "t.yaml", "line 3"),
        files=_files(("t.yaml", BROKEN_YAML)),
        subprocess=True,
    ),
    Bad(
        "validate-targets-not-a-list",
        V,
        ("--targets", "t.yaml"),
        ("--targets", "t.yaml", "'targets:'", "'id'"),
        files=_files(("t.yaml", TARGETS_NOT_A_LIST)),
    ),
    Bad("validate-targets-no-id", V, ("--targets", "t.yaml"), ("--targets", "t.yaml", "'id'"), files=_files(("t.yaml", TARGETS_NO_ID))),
    Bad(
        "validate-targets-unknown-id",
        V,
        ("--targets", "t.yaml"),
        ("targets[0].id", "moon_landings", "west_timeline_coordinated", "lg_patents"),
        files=_files(("t.yaml", TARGETS_UNKNOWN_ID)),
    ),
    Bad(
        "validate-targets-accept-text",
        V,
        ("--targets", "t.yaml"),
        ("targets[0].accept", "lg_patents", "[low, high]", "'many'"),
        files=_files(("t.yaml", "targets:\n  - {id: lg_patents, accept: many}\n")),
    ),
    Bad(
        "validate-targets-accept-reversed",
        V,
        ("--targets", "t.yaml"),
        ("targets[0].accept", "[low, high]", "[40, 15]"),
        files=_files(("t.yaml", "targets:\n  - {id: lg_patents, accept: [40, 15]}\n")),
    ),
    Bad(
        "validate-targets-accept-unknown-stage",
        V,
        ("--targets", "t.yaml"),
        ("targets[0].accept.smelting", "smelting", "mining", "magnet"),
        files=_files(("t.yaml", "targets:\n  - {id: west_timeline_coordinated, accept: {smelting: [3, 7]}}\n")),
    ),
    Bad(
        "validate-targets-accept-subprocess",
        V,
        ("--targets", "t.yaml"),
        ("targets[0].accept", "rare_earth_little_giants_2025", "[low, high]"),
        files=_files(("t.yaml", "targets:\n  - {id: rare_earth_little_giants_2025, accept: 50}\n")),
        subprocess=True,
    ),
    Bad("validate-targets-empty-file", V, ("--targets", "t.yaml"), ("--targets", "t.yaml", "'targets:'"), files=_files(("t.yaml", ""))),
    Bad("validate-targets-a-directory", V, ("--targets", "d"), ("--targets", "d", "is a directory", "targets.yaml"), files=_files(("d/x.txt", "x"))),
    # ======================================================================
    # python -m sim.experiment
    # ======================================================================
    Bad("experiment-name-typo", E, ("--experiment", "mian"), ("--experiment", "mian", "main")),
    Bad("experiment-name-typo-subprocess", E, ("--experiment", "mian"), ("--experiment", "mian", "main"), subprocess=True),
    Bad("experiment-file-missing", E, ("--experiment", "e.yaml"), ("--experiment", "e.yaml", "not found")),
    Bad("experiment-file-a-directory", E, ("--experiment", "d.yaml"), ("--experiment", "d.yaml", "is a directory"), files=_files(("d.yaml/x", "x"))),
    Bad("experiment-file-broken-yaml", E, ("--experiment", "e.yaml"), ("--experiment", "e.yaml", "line 3"), files=_files(("e.yaml", BROKEN_YAML))),
    Bad("experiment-file-a-list", E, ("--experiment", "e.yaml"), ("experiment", "name", "scenarios"), files=_files(("e.yaml", "- baseline\n"))),
    Bad(
        "experiment-unknown-key", E, ("--experiment", "e.yaml"), ("seed", "unknown key", "seeds"), files=_files(("e.yaml", EXPERIMENT + "seed: 3\n"))
    ),
    Bad(
        "experiment-unknown-scenario",
        E,
        ("--experiment", "e.yaml"),
        ("scenarios[1]", "laissez_fare", "laissez_faire"),
        files=_files(("e.yaml", EXPERIMENT.replace("laissez_faire", "laissez_fare"))),
    ),
    Bad(
        "experiment-reference-not-listed",
        E,
        ("--experiment", "e.yaml"),
        ("reference", "west_coordinated", "baseline, laissez_faire"),
        files=_files(("e.yaml", EXPERIMENT.replace("reference: baseline", "reference: west_coordinated"))),
    ),
    Bad(
        "experiment-seeds-zero-in-file",
        E,
        ("--experiment", "e.yaml"),
        ("seeds", ">= 1", "0"),
        files=_files(("e.yaml", EXPERIMENT.replace("seeds: 1", "seeds: 0"))),
    ),
    Bad("experiment-level", E, ("--experiment", "e.yaml"), ("level", "[0.5, 1)", "1.5"), files=_files(("e.yaml", EXPERIMENT + "level: 1.5\n"))),
    Bad(
        "experiment-override-without-equals",
        E,
        ("--experiment", "e.yaml"),
        ("overrides", "years", "override strings"),
        files=_files(("e.yaml", EXPERIMENT.replace("'years=1'", "'years'"))),
    ),
    Bad(
        "experiment-row-two-sources",
        E,
        ("--experiment", "e.yaml"),
        ("differences[0]", "exactly one of key, timeline, series"),
        files=_files(("e.yaml", EXPERIMENT + "differences:\n  - {label: x, key: seed, series: output_t, bloc: west, year: 2015}\n")),
    ),
    Bad(
        "experiment-row-timeline-value",
        E,
        ("--experiment", "e.yaml"),
        ("differences[0].timeline", "first_year", "first_output_year", "independence_year"),
        files=_files(("e.yaml", EXPERIMENT + "differences:\n  - {label: x, timeline: first_year, bloc: west, stage: magnet}\n")),
    ),
    Bad("experiment-seeds-text", E, ("--seeds", "ten"), ("--seeds", "ten", "whole number")),
    Bad("experiment-seeds-zero", E, ("--seeds", "0"), ("--seeds", ">= 1", "0")),
    Bad("experiment-workers-zero", E, ("--workers", "0"), ("--workers", ">= 1", "0")),
    Bad("experiment-scenario-override-typo", E, ("scenario=nope",), ("scenario", "nope", "baseline")),
    Bad("experiment-seed-override", E, ("seed=2",), ("seed", "seed=2", "--seeds")),
    Bad(
        "experiment-seed-override-after-an-option",
        E,
        ("--seeds", "2", "years=2", "--out", "X", "seed=2"),
        ("'seed'", "seed=2", "seeds come from --seeds"),
    ),
    Bad("experiment-unknown-key-override", E, ("--seeds", "1", "world.markts.logit_beta=5"), ("world.markts", "unknown key", "markets")),
    Bad("experiment-policy-group-typo", E, ("policy@policy.west=fragmentd",), ("policy@policy.west", "fragmentd") + REGIMES),
    Bad("experiment-report-only-without-out", E, ("--report-only",), ("--report-only", "--out")),
    Bad("experiment-unknown-option", E, ("--scenario", "baseline"), ("--scenario", "--experiment", "--help")),
    # ======================================================================
    # python -m sim.sensitivity
    # ======================================================================
    Bad("sensitivity-no-method", S, (), ("method", "sobol", "morris")),
    Bad("sensitivity-method-typo", S, ("sobal",), ("sobal", "sobol", "morris")),
    Bad("sensitivity-method-typo-subprocess", S, ("sobal",), ("sobal", "sobol", "morris"), subprocess=True),
    Bad("sensitivity-study-typo", S, ("morris", "--study", "lever"), ("--study", "lever", "levers", "quick")),
    Bad("sensitivity-study-broken-yaml", S, ("morris", "--study", "s.yaml"), ("--study", "s.yaml", "line 3"), files=_files(("s.yaml", BROKEN_YAML))),
    Bad("sensitivity-sobol-n-not-power", S, ("sobol", "--study", "quick", "--n", "3"), ("--n", "power of 2", "3")),
    Bad("sensitivity-morris-n-one", S, ("morris", "--study", "quick", "--n", "1"), ("--n", ">= 2", "1")),
    Bad("sensitivity-n-text", S, ("morris", "--n", "many"), ("--n", "many", "whole number")),
    Bad("sensitivity-workers-text", S, ("morris", "--workers", "many"), ("--workers", "many", "whole number")),
    Bad("sensitivity-seeds-zero", S, ("morris", "--study", "quick", "--seeds", "0"), ("--seeds", ">= 1", "0")),
    Bad("sensitivity-seed-override", S, ("morris", "--study", "quick", "seed=4"), ("seed", "seed=4", "--seeds")),
    Bad("sensitivity-scenario-override-typo", S, ("morris", "--study", "quick", "scenario=nope"), ("scenario", "nope", "baseline")),
    Bad(
        "sensitivity-unknown-key-override",
        S,
        ("morris", "--study", "quick", "world.markets.foo=1"),
        ("world.markets.foo", "unknown key", "logit_beta"),
    ),
    Bad(
        "sensitivity-factor-unknown-key",
        S,
        ("morris", "--study", "s.yaml"),
        ("world.markets.logit_bta", "unknown key", "logit_beta"),
        files=_files(("s.yaml", STUDY.replace("logit_beta", "logit_bta"))),
    ),
    Bad(
        "sensitivity-factor-bounds-reversed",
        S,
        ("morris", "--study", "s.yaml"),
        ("factors.beta.bounds", "[8.0, 2.0]", "low must be below high"),
        files=_files(("s.yaml", STUDY.replace("[2.0, 8.0]", "[8.0, 2.0]"))),
    ),
    Bad(
        "sensitivity-factor-bounds-out-of-range",
        S,
        ("morris", "--study", "s.yaml"),
        ("world.markets.logit_beta", ">= 0", "-1"),
        files=_files(("s.yaml", STUDY.replace("[2.0, 8.0]", "[-1.0, 8.0]"))),
    ),
    Bad(
        "sensitivity-output-needs-censor",
        S,
        ("morris", "--study", "s.yaml"),
        ("outputs.price.censor", "censor: true"),
        files=_files(("s.yaml", STUDY.replace("price_final_usd_per_kg.west.magnet", "years_to_independence.west.magnet"))),
    ),
    Bad(
        "sensitivity-study-scenario-typo",
        S,
        ("morris", "--study", "s.yaml"),
        ("scenario", "basline", "baseline"),
        files=_files(("s.yaml", STUDY.replace("scenario: baseline", "scenario: basline"))),
    ),
    Bad(
        "sensitivity-no-factors",
        S,
        ("morris", "--study", "s.yaml"),
        ("factors", "non-empty list"),
        files=_files(("s.yaml", "name: t\noutputs:\n  - {name: price, key: price_final_usd_per_kg.west.magnet}\n")),
    ),
    Bad(
        "sensitivity-factor-kind",
        S,
        ("morris", "--study", "s.yaml"),
        ("factors.beta.kind", "knob", "lever", "uncertain"),
        files=_files(("s.yaml", STUDY.replace("bounds: [2.0, 8.0]", "bounds: [2.0, 8.0], kind: knob"))),
    ),
    # ======================================================================
    # python -m sim.calibrate
    # ======================================================================
    Bad("calibrate-study-typo", C, ("--study", "quik"), ("--study", "quik", "main", "quick")),
    Bad("calibrate-study-typo-subprocess", C, ("--study", "quik"), ("--study", "quik", "main", "quick"), subprocess=True),
    Bad("calibrate-trials-zero", C, ("--study", "quick", "--trials", "0"), ("--trials", ">= 1", "0")),
    Bad("calibrate-trials-text", C, ("--trials", "lots"), ("--trials", "lots", "whole number")),
    Bad("calibrate-seed-override", C, ("--study", "quick", "seed=2"), ("seed", "seed=2", "--seeds")),
    Bad("calibrate-unknown-key-override", C, ("--study", "quick", "world.markets.foo=1"), ("world.markets.foo", "unknown key", "logit_beta")),
    Bad("calibrate-study-broken-yaml", C, ("--study", "c.yaml"), ("--study", "c.yaml", "line 3"), files=_files(("c.yaml", BROKEN_YAML))),
    Bad(
        "calibrate-parameter-without-why",
        C,
        ("--study", "c.yaml"),
        ("parameters.beta.why", "source"),
        files=_files(("c.yaml", CALIBRATION.replace(", why: assumption", ""))),
    ),
    Bad(
        "calibrate-log-parameter-at-zero",
        C,
        ("--study", "c.yaml"),
        ("parameters.beta.bounds", "low > 0", "[0.0, 8.0]"),
        files=_files(("c.yaml", CALIBRATION.replace("[2.0, 8.0]", "[0.0, 8.0], log: true"))),
    ),
    Bad(
        "calibrate-negative-weight",
        C,
        ("--study", "c.yaml"),
        ("weights.lg_patents", ">= 0", "-1"),
        files=_files(("c.yaml", CALIBRATION + "weights: {lg_patents: -1}\n")),
    ),
    Bad(
        "calibrate-unknown-target",
        C,
        ("--study", "c.yaml"),
        ("targets", "moon_landings", "lg_patents"),
        files=_files(("c.yaml", CALIBRATION + "targets: [moon_landings]\n")),
    ),
    Bad(
        "calibrate-parameter-bounds-out-of-range",
        C,
        ("--study", "c.yaml"),
        ("world.markets.logit_beta", ">= 0", "-1"),
        files=_files(("c.yaml", CALIBRATION.replace("[2.0, 8.0]", "[-1.0, 8.0]"))),
    ),
    Bad("calibrate-workers-text", C, ("--study", "quick", "--workers", "all"), ("--workers", "all", "whole number")),
    Bad(
        "calibrate-parameter-unknown-key",
        C,
        ("--study", "c.yaml"),
        ("world.markets.logit_bta", "unknown key", "logit_beta"),
        files=_files(("c.yaml", CALIBRATION.replace("logit_beta", "logit_bta"))),
    ),
    # ======================================================================
    # python -m sim.sweep
    # ======================================================================
    Bad("sweep-no-subcommand", W, (), ("command", "table")),
    Bad("sweep-unknown-subcommand", W, ("tabel", "x"), ("tabel", "table")),
    Bad("sweep-unknown-subcommand-subprocess", W, ("tabel", "x"), ("tabel", "table"), subprocess=True),
    Bad("sweep-table-no-dir", W, ("table",), ("sweep_dir",)),
    Bad("sweep-table-missing-dir", W, ("table", "nowhere"), ("nowhere", "not")),
    Bad("sweep-table-empty-dir", W, ("table", "d"), ("d", "no run"), files=_files(("d/notes.txt", "x"))),
    Bad("sweep-table-a-file", W, ("table", "f.txt"), ("f.txt", "a file, not a directory"), files=_files(("f.txt", "x"))),
    Bad("sweep-table-unknown-option", W, ("table", "d", "--format", "csv"), ("--format", "--help"), files=_files(("d/notes.txt", "x"))),
    # ======================================================================
    # The Python API
    # ======================================================================
    Bad("api-compose-int-in-list", "api", call=_compose([5]), says=("overrides", "5", "override strings")),
    Bad("api-compose-string", "api", call=_compose("years=5"), says=("overrides", "years=5", "['years=5']")),
    Bad(
        "api-compose-national-setting-without-national-world",
        "api",
        call=_compose(["national.scale=0.1"]),
        says=("national", "is null", "scenario=national_programme"),
    ),
    Bad("api-compose-none-in-list", "api", call=_compose(["years=5", None]), says=("overrides", "None", "override strings")),
    Bad("api-compose-dict", "api", call=_compose({"years": 5}), says=("overrides", "years", "['years=5']")),
    Bad("api-compose-group-typo", "api", call=_compose(["policy@policy.west=fragmentd"]), says=("policy@policy.west", "fragmentd") + REGIMES),
    Bad("api-compose-scenario-typo-last-wins", "api", call=_compose(["scenario=baseline", "scenario=nope"]), says=("scenario", "nope", "baseline")),
    Bad("api-run-edited-years", "api", call=_run_edited(_set("years", 0)), says=("years", ">= 1", "0")),
    Bad(
        "api-run-edited-probability",
        "api",
        call=_run_edited(_set("world.blocs.west.investor_appetite", 1.5)),
        says=("world.blocs.west.investor_appetite", "<= 1", "1.5"),
    ),
    Bad("api-run-edited-type", "api", call=_run_edited(_set("world.markets.logit_beta", "abc")), says=("world.markets.logit_beta", "abc", "number")),
    Bad("api-run-edited-seed-type", "api", call=_run_edited(_set("seed", 1.5)), says=("seed", "1.5", "whole number")),
    Bad("api-run-edited-bool-type", "api", call=_run_edited(_set("output.firm_panel", "yes")), says=("output.firm_panel", "yes", "true or false")),
    Bad(
        "api-run-edited-cohort-bloc",
        "api",
        call=_run_edited(_set("world.firms.cn_mining_north.bloc", "mars")),
        says=("world.firms.cn_mining_north.bloc", "mars") + BLOCS,
    ),
    Bad(
        "api-run-edited-cohort-capacity", "api", call=_run_edited(_swap_cohort_capacity), says=("world.firms.extra.capacity_t", "lots", "[low, high]")
    ),
    Bad(
        "api-run-edited-scenario-event",
        "api",
        call=_run_edited(_set("scenario.events.x", {"kind": "embargo", "start_year": 2016})),
        says=("scenario.events.x.kind", "embargo", "export_control"),
    ),
    Bad("api-run-edited-policy-missing-bloc", "api", call=_run_edited(lambda c: c.policy.pop("west")), says=("policy", "west")),
    Bad("api-run-string", "api", call=_run("years=5"), says=("cfg", "years=5", "compose")),
    Bad("api-run-dict", "api", call=_run({"years": 5}), says=("cfg", "compose")),
    Bad("api-to-config-not-a-map", "api", call=_to_config(5), says=("5", "mapping")),
    Bad("api-to-config-unknown-key", "api", call=_to_config({"yeras": 5}), says=("yeras", "unknown key", "years")),
    Bad("api-load-run-missing", "api", call=_api(AN, "load_run", "nowhere"), says=("nowhere", "not found")),
    Bad("api-load-runs-missing", "api", call=_api(AN, "load_runs", "nowhere"), says=("nowhere", "no such directory")),
    Bad("api-load-runs-empty", "api", call=_api(AN, "load_runs", "d"), says=("d", "no run directories"), files=_files(("d/notes.txt", "x"))),
    Bad("api-load-runs-none-given", "api", call=_api(AN, "load_runs", []), says=("no run directories given",)),
    Bad("api-load-run-a-file", "api", call=_api(AN, "load_run", "f.txt"), says=("path", "f.txt", "a file"), files=_files(("f.txt", "x"))),
    Bad(
        "api-load-run-broken-manifest",
        "api",
        call=_api(AN, "load_run", "r"),
        says=("path", "manifest.json", "unreadable JSON", "line 2"),
        files=_files(("r/manifest.json", "{\n")),
    ),
    Bad(
        "api-load-run-broken-config",
        "api",
        call=lambda: _api(AN, "load_run", "r")().config,
        says=("path", "config.yaml", "unreadable YAML", "line 2"),
        files=_files(("r/config.yaml", "seed: [1,\n")),
    ),
    Bad("api-compose-config-dir-missing", "api", call=_compose(["years=5"], "nowhere"), says=("--config-dir", "nowhere", "is not a directory")),
    Bad("api-read-targets-missing", "api", call=_api("sim.research.validate", "read_targets", Path("nope.yaml")), says=("--targets", "nope.yaml")),
    Bad("api-load-experiment-typo", "api", call=_api("sim.research.experiment", "load_experiment", "mian"), says=("mian", "main")),
    Bad("api-load-study-typo", "api", call=_api("sim.research.sensitivity", "load_study", "lever"), says=("lever", "levers", "quick")),
    Bad("api-load-calibration-typo", "api", call=_api("sim.research.calibrate", "load_study", "quik"), says=("quik", "main", "quick")),
    Bad(
        "api-run-sweep-bad-override",
        "api",
        call=_api("sim.research.sweep", "run_sweep", [["world.markets.foo=1"]], "sw"),
        says=("world.markets.foo", "unknown key"),
    ),
    Bad("api-run-sweep-workers-zero", "api", call=_api("sim.research.sweep", "run_sweep", [["years=1"]], "sw", 0), says=("workers", ">= 1", "0")),
    Bad("api-sensitivity-sobol-n", "api", call=_api("sim.research.study", "check_sobol_n", 3), says=("sobol.n", "power of 2", "3")),
    # ======================================================================
    # python -m sim.explore
    # ======================================================================
    Bad("explore-no-command", X, (), ("command", "run", "analyse")),
    Bad("explore-command-typo", X, ("rn",), ("rn", "run", "analyse")),
    Bad("explore-command-typo-subprocess", X, ("rn",), ("rn", "run", "analyse"), subprocess=True),
    Bad("explore-study-typo", X, ("run", "--study", "lever"), ("--study", "lever", "levers", "quick")),
    Bad("explore-study-broken-yaml", X, ("run", "--study", "s.yaml"), ("--study", "s.yaml", "line 3"), files=_files(("s.yaml", BROKEN_YAML))),
    Bad("explore-experiments-text", X, ("run", "--experiments", "many"), ("--experiments", "many", "whole number")),
    Bad(
        "explore-experiments-one",
        X,
        ("run", "--study", "s.yaml", "--experiments", "1"),
        ("--experiments", ">= 2", "1"),
        files=_files(("s.yaml", EXPLORATION)),
    ),
    Bad("explore-seeds-zero", X, ("run", "--study", "quick", "--seeds", "0"), ("--seeds", ">= 1", "0")),
    Bad("explore-seed-override", X, ("run", "--study", "quick", "seed=4"), ("seed", "seed=4", "--seeds")),
    Bad(
        "explore-seed-override-after-an-option",
        X,
        ("run", "--out", "X", "--study", "quick", "years=15", "--workers", "1", "seed=4"),
        ("'seed'", "seed=4", "seeds come from --seeds"),
    ),
    Bad("explore-unknown-option-after-an-override", X, ("run", "--study", "quick", "years=1", "--bogus"), ("unrecognized arguments", "--bogus")),
    Bad("explore-launcher-typo", X, ("run", "--launcher", "slurm"), ("--launcher", "slurm", "local", "submitit_slurm")),
    Bad(
        "explore-launcher-opt-not-key-value", X, ("run", "--study", "quick", "--launcher-opt", "timeout"), ("--launcher-opt", "KEY=VALUE", "timeout")
    ),
    Bad(
        "explore-sobol-experiments-not-power",
        X,
        ("run", "--study", "s.yaml"),
        ("experiments", "power of 2", "6"),
        files=_files(("s.yaml", EXPLORATION.replace("experiments: 4", "experiments: 6\nsampler: sobol"))),
    ),
    Bad(
        "explore-sampler-typo",
        X,
        ("run", "--study", "s.yaml"),
        ("sampler", "latin", "lhs", "sobol"),
        files=_files(("s.yaml", EXPLORATION + "sampler: latin\n")),
    ),
    Bad(
        "explore-factor-unknown-key",
        X,
        ("run", "--study", "s.yaml"),
        ("world.markets.logit_bta", "unknown key", "logit_beta"),
        files=_files(("s.yaml", EXPLORATION.replace("logit_beta", "logit_bta"))),
    ),
    Bad(
        "explore-factor-bounds-and-values",
        X,
        ("run", "--study", "s.yaml"),
        ("factors.beta", "exactly one of bounds", "values"),
        files=_files(("s.yaml", EXPLORATION.replace("bounds: [2.0, 8.0],", "bounds: [2.0, 8.0], values: [2, 3],"))),
    ),
    Bad(
        "explore-category-not-allowed",
        X,
        ("run", "--study", "s.yaml"),
        ("factors.margin.values", "maybe", "price_moves_margin"),
        files=_files(("s.yaml", EXPLORATION.replace("values: [true, false]", "values: [true, maybe]"))),
    ),
    Bad(
        "explore-outcome-rule-typo",
        X,
        ("run", "--study", "s.yaml"),
        ("outcomes.o.when[0].rule", "=<", "<=", ">="),
        files=_files(("s.yaml", EXPLORATION.replace("rule: '<='", "rule: '=<'"))),
    ),
    Bad(
        "explore-outcome-year-after-the-runs",
        X,
        ("run", "--study", "s.yaml"),
        ("outcomes.o.when[0]", "2035", "2015", "years=1"),
        files=_files(("s.yaml", EXPLORATION.replace("by_year: 2015", "by_year: 2035"))),
    ),
    Bad(
        "explore-policy-names-no-lever",
        X,
        ("run", "--study", "s.yaml"),
        ("robustness.policies.p.levers.gamma", "not a lever", "beta"),
        files=_files(("s.yaml", EXPLORATION + "robustness: {scenarios: 2, policies: [{name: p, levers: {gamma: 1.0}}]}\n")),
    ),
    Bad(
        "explore-policy-lever-out-of-bounds",
        X,
        ("run", "--study", "s.yaml"),
        ("robustness.policies.p.levers.beta", "[2, 8]", "9"),
        files=_files(("s.yaml", EXPLORATION + "robustness: {scenarios: 2, policies: [{name: p, levers: {beta: 9.0}}]}\n")),
        subprocess=True,
    ),
    Bad(
        "explore-launcher-opt-unknown",
        X,
        ("run", "--study", "quick", "--launcher", "submitit_local", "--launcher-opt", "nonsense=1"),
        ("--launcher-opt", "nonsense", "timeout_min"),
    ),
    Bad("explore-launcher-opt-with-local", X, ("run", "--study", "quick", "--launcher-opt", "timeout_min=5"), ("--launcher-opt", "--launcher local")),
    Bad("explore-analyse-no-dir", X, ("analyse", "nowhere"), ("dir", "nowhere")),
    Bad("explore-analyse-not-an-exploration", X, ("analyse", "d"), ("dir", "not an exploration directory"), files=_files(("d/x.txt", "x"))),
    Bad(
        "explore-api-unknown-key",
        "api",
        call=_api("sim.research.explore", "parse_study", {"name": "t", "factors": [], "outcomes": [], "samplr": "lhs"}),
        says=("samplr", "unknown key", "sampler"),
    ),
]

assert len({c.id for c in BAD_INPUTS}) == len(BAD_INPUTS), "case ids must be unique"
assert all((c.cmd == "api") == (c.call is not None) for c in BAD_INPUTS)
